/* eisnet_fmt_double: Python repr() of floats, exact and shortest.
 * Checked against fixed examples, against the snprintf/strtod oracle on
 * millions of doubles (random bit patterns, uniform and log-uniform in
 * [1e-8, 1e5], powers of two and ten, subnormals, neighbours), with an
 * independent shortness check, and against /usr/bin/python3's repr. Set
 * EISNET_FMT_COUNT to change the number of random values per set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eisnet/fmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rs = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static double unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static void test_examples(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *s;
    } ex[] = {
        {10.0, "10.0"}, {0.0, "0.0"}, {-0.0, "-0.0"}, {1e-07, "1e-07"}, {40.5927446412749, "40.5927446412749"},
        {4.9999999999999996e-05, "4.9999999999999996e-05"}, {1e16, "1e+16"}, {123456789012345.0, "123456789012345.0"},
        {1.0, "1.0"}, {-1.5, "-1.5"}, {0.1, "0.1"}, {0.3, "0.3"}, {0.1 + 0.2, "0.30000000000000004"},
        {2.0 / 3.0, "0.6666666666666666"}, {1e-4, "0.0001"}, {1.5e-4, "0.00015"}, {1e-5, "1e-05"},
        {1e15, "1000000000000000.0"}, {9999999999999998.0, "9999999999999998.0"}, {1.2345e16, "1.2345e+16"},
        {1e22, "1e+22"}, {1e23, "1e+23"}, {5e-324, "5e-324"}, {1e-323, "1e-323"}, {1e-322, "1e-322"},
        {1.7976931348623157e308, "1.7976931348623157e+308"}, {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {9007199254740993.0, "9007199254740992.0"}, {123.456, "123.456"}, {1e100, "1e+100"}, {-2.5e-100, "-2.5e-100"},
        {3.0e-07, "3e-07"}, {100.0, "100.0"}, {0.5, "0.5"}, {4.35, "4.35"}, {1234567.0, "1234567.0"},
    };
    char a[EISNET_FMT_BUFSIZE], b[EISNET_FMT_BUFSIZE];
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        int n = eisnet_fmt_double(a, ex[i].v);
        assert_string_equal(a, ex[i].s);
        assert_int_equal(n, (int)strlen(ex[i].s));
        assert_int_equal(eisnet_fmt_double_slow(b, ex[i].v), n);
        assert_string_equal(b, ex[i].s);
    }
    eisnet_fmt_double(a, INFINITY);
    assert_string_equal(a, "inf");
    eisnet_fmt_double(a, -INFINITY);
    assert_string_equal(a, "-inf");
    eisnet_fmt_double(a, NAN);
    assert_string_equal(a, "nan");
    eisnet_fmt_double(a, -NAN);
    assert_string_equal(a, "nan");
    eisnet_fmt_double_slow(a, -INFINITY);
    assert_string_equal(a, "-inf");
}

/* Significant digits of a formatted value (without leading/trailing zeros). */
static int sig_digits(const char *s)
{
    char d[40];
    int n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') {
            if (n == 0 && *s == '0') continue;
            d[n++] = *s;
        }
    while (n > 0 && d[n - 1] == '0') n--;
    return n;
}

static long checked, oracle_longer;

/* The full check of one value. */
static void check(double v)
{
    char a[EISNET_FMT_BUFSIZE], b[EISNET_FMT_BUFSIZE];
    int na = eisnet_fmt_double(a, v);
    assert_int_equal(na, (int)strlen(a));
    assert_true(na < EISNET_FMT_BUFSIZE);
    if (isnan(v)) {
        assert_string_equal(a, "nan");
        return;
    }
    double back = strtod(a, NULL);
    if (memcmp(&back, &v, sizeof v) != 0) {
        print_error("%a formatted as %s does not round-trip\n", v, a);
        fail();
    }
    eisnet_fmt_double_slow(b, v);
    int da = sig_digits(a), db = sig_digits(b);
    if (da > db || (da == db && strcmp(a, b) != 0)) {
        print_error("%a: fast %s, oracle %s\n", v, a, b);
        fail();
    }
    if (da < db) oracle_longer++; /* only where the rounding interval is lopsided */
    /* shortness: no decimal with da-1 significant digits reads back as v */
    if (da > 1 && isfinite(v) && v != 0) {
        char t[64];
        snprintf(t, sizeof t, "%.*e", da - 2, fabs(v));
        unsigned long long m = 0;
        const char *p = t;
        for (; *p && *p != 'e'; p++)
            if (*p >= '0' && *p <= '9') m = m * 10 + (unsigned long long)(*p - '0');
        int x = atoi(p + 1) - (da - 2);
        for (int dlt = -1; dlt <= 1; dlt++) {
            if (m + (unsigned long long)dlt == 0) continue;
            char c[64];
            snprintf(c, sizeof c, "%llue%d", m + (unsigned long long)(long long)dlt, x);
            if (strtod(c, NULL) == fabs(v)) {
                print_error("%a: %s is not shortest, %s also reads back\n", v, a, c);
                fail();
            }
        }
    }
    checked++;
}

static long count_per_set(void)
{
    const char *e = getenv("EISNET_FMT_COUNT");
    return e ? atol(e) : 600000;
}

static void test_oracle_random_bits(void **state)
{
    (void)state;
    long n = count_per_set();
    for (long i = 0; i < n; i++) {
        uint64_t u = rnd();
        double v;
        memcpy(&v, &u, sizeof v);
        check(v);
    }
}

static void test_oracle_ranges(void **state)
{
    (void)state;
    long n = count_per_set();
    for (long i = 0; i < n; i++) {
        check(pow(10.0, -8.0 + 13.0 * unit()));   /* log-uniform in [1e-8, 1e5] */
        check(1e-8 + (1e5 - 1e-8) * unit());     /* uniform in [1e-8, 1e5] */
        check(floor(unit() * 1e6) / 1000.0);     /* short decimals */
        check(-(double)(rnd() >> (rnd() % 64))); /* integers of every size */
    }
}

static void test_oracle_special(void **state)
{
    (void)state;
    oracle_longer = 0;
    for (int e = -1074; e <= 1023; e++) { /* powers of two and their neighbours */
        double p = ldexp(1.0, e);
        check(p);
        check(-p);
        check(nextafter(p, 0));
        check(nextafter(p, INFINITY));
    }
    print_message("powers of two where the oracle was one digit longer: %ld\n", oracle_longer);
    for (int k = -325; k <= 308; k++) { /* powers of ten and their neighbours */
        char s[32];
        snprintf(s, sizeof s, "1e%d", k);
        double p = strtod(s, NULL);
        check(p);
        check(nextafter(p, 0));
        check(nextafter(p, INFINITY));
    }
    for (uint64_t c = 1; c < 20000; c++) { /* smallest subnormals */
        double v;
        memcpy(&v, &c, sizeof v);
        check(v);
    }
    uint64_t top = 0x000FFFFFFFFFFFFFull; /* largest subnormal, smallest normal */
    for (uint64_t c = top - 100; c < top + 100; c++) {
        double v;
        memcpy(&v, &c, sizeof v);
        check(v);
    }
    for (double x = 9007199254740992.0 - 100; x < 9007199254740992.0 + 400; x = nextafter(x, INFINITY)) check(x);
    check(DBL_MAX);
    check(-DBL_MAX);
    check(DBL_MIN);
    check(INFINITY);
    check(NAN);
}

static void test_python_repr(void **state)
{
    (void)state;
    if (system("/usr/bin/python3 -c 'pass' >/dev/null 2>&1") != 0) {
        print_message("SKIP: /usr/bin/python3 not available\n");
        skip();
    }
    char in[] = "/tmp/eisnet_fmt_XXXXXX";
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    enum { N = 40000 };
    double *vals = malloc(N * sizeof *vals);
    char (*mine)[EISNET_FMT_BUFSIZE] = malloc(N * sizeof *mine);
    for (int i = 0; i < N; i++) {
        double v;
        if (i < 2098) {
            v = ldexp(1.0, i - 1074);
        } else if (i % 3 == 0) {
            uint64_t u = rnd();
            memcpy(&v, &u, sizeof v);
            if (isnan(v)) v = 1.0;
        } else if (i % 3 == 1) {
            v = pow(10.0, -8.0 + 13.0 * unit());
        } else {
            v = floor(unit() * 1e7) / 10000.0;
        }
        vals[i] = v;
        uint64_t u;
        memcpy(&u, &v, sizeof u);
        fprintf(fp, "%016llx\n", (unsigned long long)u);
        eisnet_fmt_double(mine[i], v);
    }
    fclose(fp);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import struct,sys\n"
             "for l in open('%s'): print(repr(struct.unpack('<d', bytes.fromhex(l.strip())[::-1])[0]))\"",
             in);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    char line[128];
    int i = 0, bad = 0;
    while (fgets(line, sizeof line, pp) && i < N) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, mine[i]) != 0 && bad++ < 10) print_error("%a: python %s, eisnet %s\n", vals[i], line, mine[i]);
        i++;
    }
    assert_int_equal(pclose(pp), 0);
    unlink(in);
    assert_int_equal(i, N);
    assert_int_equal(bad, 0);
    free(vals);
    free(mine);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_speed(void **state)
{
    (void)state;
    enum { N = 1000000 };
    double *v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) v[i] = pow(10.0, -8.0 + 13.0 * unit());
    char buf[EISNET_FMT_BUFSIZE];
    size_t sink = 0;
    double t0 = now();
    for (int i = 0; i < N; i++) sink += (size_t)eisnet_fmt_double(buf, v[i]);
    double fast = (now() - t0) * 1e9 / N;
    t0 = now();
    for (int i = 0; i < N / 20; i++) sink += (size_t)eisnet_fmt_double_slow(buf, v[i]);
    double slow = (now() - t0) * 1e9 / (N / 20);
    print_message("eisnet_fmt_double: %.1f ns/call, slow path: %.1f ns/call (checksum %zu)\n", fast, slow, sink);
    assert_true(fast < slow);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),     cmocka_unit_test(test_oracle_special),
        cmocka_unit_test(test_oracle_random_bits), cmocka_unit_test(test_oracle_ranges),
        cmocka_unit_test(test_python_repr),  cmocka_unit_test(test_speed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    print_message("values checked against the oracle: %ld\n", checked);
    return rc;
}
