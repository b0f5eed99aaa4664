/* Ground truths: the drawing scheme, Latin hypercube and Sobol draws, reference ids, loading from JSON. */
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

static void preset(eisnet_grid *g, const char *name)
{
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    o.circuit = name;
    assert_int_equal(eisnet_grid_init(g, &o), 0);
}

static const double lhs0[5] = {21.83061281745708, 69.45161360410064, 16.296829433162667, 5.7264082684236485e-06,
                               3.7314625374562515e-05};

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
        cmocka_unit_test(test_ground_truth_scheme),
        cmocka_unit_test(test_lhs_sobol),
        cmocka_unit_test(test_reference_id),
        cmocka_unit_test(test_load_ground_truths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
