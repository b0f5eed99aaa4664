/* Resnorm: known vectors, the generic circuit kernel, pairwise sums. */
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
    /* the reference implementation's resnorm of the first models against lhs_0000 */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnorm_vectors),
        cmocka_unit_test(test_generic_kernel),
        cmocka_unit_test(test_pairwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
