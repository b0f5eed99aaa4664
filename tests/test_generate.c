/* Grids, ground truths and resnorm against SPEC Part 3.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/groundtruth.h"
#include "eisnet/resnorm.h"

static void assert_rel(double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fabs(want))) {
        print_error("got %.17g want %.17g (rel %.3g)\n", got, want, fabs(got - want) / fabs(want));
        fail();
    }
}

static void preset(eisnet_grid *g, const char *name)
{
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    o.circuit = name;
    assert_int_equal(eisnet_grid_init(g, &o), 0);
}

static void test_grid_values(void **state)
{
    (void)state;
    eisnet_grid g;
    preset(&g, "series");
    static const double R[12] = {10, 18.7381742, 35.1119173, 65.7933225, 123.284674, 231.012970,
                                 432.876128, 811.130831, 1519.91108, 2848.03587, 5336.69923, 10000};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < 12; i++) assert_rel(g.values[p * 12 + i], R[i], 1e-8);
    assert_rel(g.values[3 * 12], 1e-7, 1e-15);
    assert_rel(g.values[3 * 12 + 11], 5e-5, 1e-12);
    assert_int_equal(g.n_models, 248832);
    assert_rel(g.freq[0], 1.0, 1e-15);
    assert_rel(g.freq[49], 1e6, 1e-15);
    assert_rel(g.freq[7], pow(10, 6.0 * 7 / 49), 1e-14);
    assert_string_equal(g.names[0], "Rsh");
    assert_string_equal(g.names[3], "Ca");
    assert_int_equal(g.circuit_index[2], 3); /* Rb is the circuit's R2 */
    eisnet_grid_free(&g);
}

static void test_grid_errors(void **state)
{
    (void)state;
    eisnet_grid g;
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    o.circuit = "R0-p(R1,CPE1)";
    assert_int_equal(eisnet_grid_init(&g, &o), -1);
    assert_non_null(strstr(eisnet_last_error(), "no range for parameter 'R0'"));
    const char *bad[] = {"R0=10", "R0=a:b", "R0=10:5", "X9=1:2", "R0=-1:5", "=1:2"};
    for (int i = 0; i < 6; i++) {
        o.ranges = &bad[i];
        o.n_ranges = 1;
        assert_int_equal(eisnet_grid_init(&g, &o), -1);
        assert_non_null(strstr(eisnet_last_error(), "bad range"));
    }
    const char *good[] = {"R0=1:1e3", "R1=10:1e4", "CPE1_0=1e-6:1e-4", "CPE1_1=0.5:1"};
    o.ranges = good;
    o.n_ranges = 4;
    o.n_grid = 4;
    assert_int_equal(eisnet_grid_init(&g, &o), 0);
    assert_int_equal(g.n_models, 256);
    assert_string_equal(g.units[0], "\xce\xa9");
    assert_string_equal(g.units[2], "S\xc2\xb7s^\xce\xb1"); /* CPE Q: siemens second^alpha */
    assert_string_equal(g.units[3], "");                       /* CPE alpha */
    eisnet_grid_free(&g);
    eisnet_grid_options_default(&o);
    o.n_grid = 0;
    assert_int_equal(eisnet_grid_init(&g, &o), -1);
    eisnet_grid_options_default(&o);
    o.f_min = 10;
    o.f_max = 1;
    assert_int_equal(eisnet_grid_init(&g, &o), -1);
}

static const double lhs0[5] = {21.83061281745708, 69.45161360410064, 16.296829433162667, 5.7264082684236485e-06,
                               3.7314625374562515e-05};

static void test_resnorm_vectors(void **state)
{
    (void)state;
    eisnet_grid g;
    preset(&g, "series");
    double complex z[50];
    eisnet_grid_spectrum(&g, lhs0, z);
    double *out = malloc(sizeof(double) * g.n_models);
    eisnet_resnorm_plan *p = eisnet_resnorm_plan_new(&g);
    eisnet_resnorm_all(p, z, out);
    /* SPEC 3.1 */
    assert_rel(out[0], 40.61655424746337, 1e-12);
    assert_rel(out[1], 40.5927446412749, 1e-12);
    double v[5];
    eisnet_grid_model_values(&g, 0, v);
    assert_rel(eisnet_resnorm_one(&g, v, z), 40.61655424746337, 1e-12);
    /* fast kernel = reference path on a spread of models */
    for (uint64_t m = 0; m < g.n_models; m += 4999) {
        eisnet_grid_model_values(&g, m, v);
        assert_rel(out[m], eisnet_resnorm_one(&g, v, z), 1e-13);
    }
    eisnet_resnorm_plan_free(p);
    eisnet_grid_free(&g);

    /* parallel preset: same check of its kernel; the model equal to a grid
     * ground truth has resnorm ~0 */
    preset(&g, "parallel");
    eisnet_grid_model_values(&g, 123456, v);
    eisnet_grid_spectrum(&g, v, z);
    p = eisnet_resnorm_plan_new(&g);
    eisnet_resnorm_all(p, z, out);
    assert_true(out[123456] < 1e-9);
    for (uint64_t m = 7; m < g.n_models; m += 4999) {
        double w[5];
        eisnet_grid_model_values(&g, m, w);
        double want = eisnet_resnorm_one(&g, w, z);
        if (fabs(out[m] - want) > 1e-12 * want + 1e-9) {
            print_error("model %llu: %.17g vs %.17g\n", (unsigned long long)m, out[m], want);
            fail();
        }
    }
    eisnet_resnorm_plan_free(p);
    eisnet_grid_free(&g);
    free(out);
}

static void test_generic_kernel(void **state)
{
    (void)state;
    eisnet_grid g;
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    o.circuit = "R0-p(R1,CPE1)";
    const char *r[] = {"R0=1:100", "R1=10:1e4", "CPE1_0=1e-6:1e-4", "CPE1_1=0.6:1"};
    o.ranges = r;
    o.n_ranges = 4;
    o.n_grid = 5;
    o.n_freq = 20;
    assert_int_equal(eisnet_grid_init(&g, &o), 0);
    double truth[4] = {10, 1000, 1e-5, 0.8}, v[4];
    double complex z[20];
    eisnet_grid_spectrum(&g, truth, z);
    double *out = malloc(sizeof(double) * g.n_models);
    eisnet_resnorm_plan *p = eisnet_resnorm_plan_new(&g);
    eisnet_resnorm_all(p, z, out);
    for (uint64_t m = 0; m < g.n_models; m++) {
        eisnet_grid_model_values(&g, m, v);
        assert_rel(out[m], eisnet_resnorm_one(&g, v, z), 1e-15);
        assert_true(out[m] > 0);
    }
    eisnet_resnorm_plan_free(p);
    free(out);
    eisnet_grid_free(&g);
}

static void test_pairwise(void **state)
{
    (void)state;
    /* numpy's blocked order is visible with values whose sum is order-dependent */
    double a[50];
    for (int i = 0; i < 50; i++) a[i] = (i % 3 == 0) ? 1e16 : 1.0;
    double r[8];
    for (int j = 0; j < 8; j++) r[j] = a[j];
    for (int i = 8; i < 48; i += 8)
        for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double want = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + a[48] + a[49];
    assert_true(eisnet_pairwise_sum(a, 50) == want);
    double seq = 0;
    for (int i = 0; i < 5; i++) seq += a[i];
    assert_true(eisnet_pairwise_sum(a, 5) == seq);
}

static void test_ground_truth_scheme(void **state)
{
    (void)state;
    eisnet_grid g;
    preset(&g, "series");
    eisnet_ground_truth gt[100], gt2[100];
    assert_int_equal(eisnet_ground_truths_make(&g, 100, 42, gt), 0);
    assert_string_equal(gt[0].id, "lhs_0000");
    assert_string_equal(gt[39].id, "lhs_0039");
    assert_string_equal(gt[40].id, "sobol_0000");
    assert_string_equal(gt[70].id, "bio_0000");
    assert_string_equal(gt[85].id, "grid_0000");
    assert_string_equal(gt[99].id, "grid_0014");
    /* corners: Cb fastest, min before max */
    assert_true(gt[85].values[4] == g.values[4 * 12]);
    assert_true(gt[86].values[4] == g.values[4 * 12 + 11]);
    assert_true(gt[87].values[3] == g.values[3 * 12 + 11]);
    for (int i = 0; i < 100; i++)
        for (int p = 0; p < 5; p++) {
            assert_true(gt[i].values[p] >= g.values[p * 12] * (1 - 1e-12));
            assert_true(gt[i].values[p] <= g.values[p * 12 + 11] * (1 + 1e-12));
        }
    /* seeded: same seed same points, another seed other points */
    assert_int_equal(eisnet_ground_truths_make(&g, 100, 42, gt2), 0);
    assert_memory_equal(gt, gt2, sizeof gt);
    assert_int_equal(eisnet_ground_truths_make(&g, 100, 43, gt2), 0);
    assert_true(gt[0].values[0] != gt2[0].values[0]);
    /* n = 5 gives the reference's ids */
    assert_int_equal(eisnet_ground_truths_make(&g, 5, 42, gt2), 0);
    const char *ids[5] = {"lhs_0000", "lhs_0001", "sobol_0000", "grid_0000", "grid_0001"};
    for (int i = 0; i < 5; i++) assert_string_equal(gt2[i].id, ids[i]);
    /* more than the scheme holds: exactly n, the rest continue Sobol */
    eisnet_ground_truth *big = malloc(sizeof *big * 1000);
    assert_int_equal(eisnet_ground_truths_make(&g, 1000, 1, big), 0);
    assert_string_equal(big[999].id, "sobol_0385");
    free(big);
    eisnet_grid_free(&g);
}

static void test_lhs_sobol(void **state)
{
    (void)state;
    enum { N = 64, D = 5 };
    double u[N * D];
    eisnet_lhs(N, D, 7, u);
    for (int j = 0; j < D; j++) {
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            assert_true(u[i * D + j] >= 0 && u[i * D + j] < 1);
            seen[(int)(u[i * D + j] * N)]++;
        }
        for (int s = 0; s < N; s++) assert_int_equal(seen[s], 1); /* one point per stratum */
    }
    assert_int_equal(eisnet_sobol(N, D, 7, u), 0);
    for (int j = 0; j < D; j++) {
        /* a (scrambled) Sobol net: the first 2^m points fill every 1/2^m interval once */
        int seen[N] = {0};
        for (int i = 0; i < N; i++) seen[(int)(u[i * D + j] * N)]++;
        for (int s = 0; s < N; s++) assert_int_equal(seen[s], 1);
    }
    /* two-dimensional projections: 64 points, 8 x 8 boxes, one each (t = 0 for dims 1-2) */
    int box[64] = {0};
    for (int i = 0; i < N; i++) box[(int)(u[i * D] * 8) * 8 + (int)(u[i * D + 1] * 8)]++;
    for (int b = 0; b < 64; b++) assert_int_equal(box[b], 1);
    assert_int_equal(eisnet_sobol(4, 22, 1, u), -1);
}

static void test_reference_id(void **state)
{
    (void)state;
    char id[20];
    eisnet_reference_id(lhs0, 5, id);
    assert_string_equal(id, "reference_97dc8d1f");
}

static void test_load_ground_truths(void **state)
{
    (void)state;
    eisnet_grid g;
    preset(&g, "series");
    eisnet_ground_truth *gt;
    int n;
    assert_int_equal(eisnet_ground_truths_load(&g, "tests/data/ground_truths_5gt.json", &gt, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(gt[2].id, "sobol_0000");
    assert_true(gt[0].values[2] == lhs0[2]);
    free(gt);
    assert_int_equal(eisnet_ground_truths_load(&g, "tests/data/dataset_summary_5gt.txt", &gt, &n), -1);
    assert_non_null(strstr(eisnet_last_error(), "not valid JSON"));
    assert_int_equal(eisnet_ground_truths_load(&g, "tests/data/no_such_file.json", &gt, &n), -1);
    eisnet_grid_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_values),      cmocka_unit_test(test_grid_errors),
        cmocka_unit_test(test_resnorm_vectors),  cmocka_unit_test(test_generic_kernel),
        cmocka_unit_test(test_pairwise),         cmocka_unit_test(test_ground_truth_scheme),
        cmocka_unit_test(test_lhs_sobol),        cmocka_unit_test(test_reference_id),
        cmocka_unit_test(test_load_ground_truths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
