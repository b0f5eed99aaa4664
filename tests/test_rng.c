/* eisnet/rng.h: the generator against the published xoshiro256** test
 * vector, reproducibility from (seed, stream), independence of streams, and
 * the distributions of uniform, below, normal and shuffle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/rng.h"

/* xoshiro256** from the state {1, 2, 3, 4}: its first outputs, as listed
 * with the algorithm's reference implementations. */
static void test_xoshiro_vector(void **state)
{
    (void)state;
    static const uint64_t want[] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL};
    eisnet_rng r = {{1, 2, 3, 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) assert_true(eisnet_rng_next(&r) == want[i]);
}

static void test_seed_and_stream(void **state)
{
    (void)state;
    eisnet_rng a, b, c, d;
    eisnet_rng_seed(&a, 42, 7);
    eisnet_rng_seed(&b, 42, 7);
    eisnet_rng_seed(&c, 42, 8);
    eisnet_rng_seed(&d, 43, 7);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = eisnet_rng_next(&a);
        assert_true(x == eisnet_rng_next(&b));
        same_c += x == eisnet_rng_next(&c);
        same_d += x == eisnet_rng_next(&d);
    }
    assert_int_equal(same_c, 0);
    assert_int_equal(same_d, 0);
    /* a seeded state is never all zero (xoshiro's one fixed point) */
    for (uint64_t s = 0; s < 64; s++) {
        eisnet_rng_seed(&a, s, s * 3);
        assert_true(a.s[0] | a.s[1] | a.s[2] | a.s[3]);
    }
}

static void test_uniform(void **state)
{
    (void)state;
    eisnet_rng r;
    eisnet_rng_seed(&r, 1, 2);
    const int n = 200000;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        double u = eisnet_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        sum += u;
        sq += u * u;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    /* mean 1/2 with standard error sqrt(1/12/n) ~ 6.5e-4; variance 1/12 */
    assert_true(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / n));
    assert_true(fabs(var - 1.0 / 12) < 0.002);
}

static void test_below(void **state)
{
    (void)state;
    eisnet_rng r;
    eisnet_rng_seed(&r, 3, 4);
    assert_true(eisnet_rng_below(&r, 0) == 0);
    assert_true(eisnet_rng_below(&r, 1) == 0);
    enum { K = 7, N = 70000 };
    long count[K] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t x = eisnet_rng_below(&r, K);
        assert_true(x < K);
        count[x]++;
    }
    /* chi-square with 6 degrees of freedom: 22.5 is its 0.999 quantile */
    double chi2 = 0, e = (double)N / K;
    for (int k = 0; k < K; k++) chi2 += (count[k] - e) * (count[k] - e) / e;
    assert_true(chi2 < 22.5);
    /* the whole range for a bound near 2^64 */
    uint64_t big = UINT64_MAX - 5;
    for (int i = 0; i < 100; i++) assert_true(eisnet_rng_below(&r, big) < big);
}

static void test_normal(void **state)
{
    (void)state;
    eisnet_rng r;
    eisnet_rng_seed(&r, 5, 6);
    const int n = 200000;
    double sum = 0, sq = 0;
    int beyond2 = 0;
    for (int i = 0; i < n; i++) {
        double z = eisnet_rng_normal(&r);
        assert_true(isfinite(z));
        sum += z;
        sq += z * z;
        beyond2 += fabs(z) > 2;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    assert_true(fabs(mean) < 5 / sqrt(n));
    assert_true(fabs(var - 1) < 0.02);
    /* P(|Z| > 2) = 0.0455 */
    assert_true(fabs((double)beyond2 / n - 0.0455) < 0.003);
}

static void test_shuffle(void **state)
{
    (void)state;
    enum { N = 1000 };
    uint32_t a[N], b[N];
    for (uint32_t i = 0; i < N; i++) a[i] = b[i] = i;
    eisnet_rng r1, r2;
    eisnet_rng_seed(&r1, 9, 1);
    eisnet_rng_seed(&r2, 9, 1);
    eisnet_rng_shuffle_u32(&r1, a, N);
    eisnet_rng_shuffle_u32(&r2, b, N);
    assert_memory_equal(a, b, sizeof a);
    /* a permutation, and not the identity */
    int seen[N] = {0}, fixed = 0;
    for (uint32_t i = 0; i < N; i++) {
        assert_true(a[i] < N);
        seen[a[i]]++;
        fixed += a[i] == i;
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    /* a uniform permutation fixes one point on average */
    assert_true(fixed < 10);
    /* every position of 3 elements equally likely for the first */
    long first[3] = {0};
    for (int t = 0; t < 30000; t++) {
        uint32_t c[3] = {0, 1, 2};
        eisnet_rng_shuffle_u32(&r1, c, 3);
        first[c[0]]++;
    }
    for (int k = 0; k < 3; k++) assert_true(labs(first[k] - 10000) < 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xoshiro_vector), cmocka_unit_test(test_seed_and_stream), cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_below),          cmocka_unit_test(test_normal),          cmocka_unit_test(test_shuffle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
