/* Impedance scale of a model's box: the factor chosen for data at other
 * levels, the per-parameter factors, the scaled grid, the reports; and the
 * interpolation's tolerance for end frequencies rebuilt from decimal text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eisnet/grid.h"
#include "eisnet/scale.h"
#include "eisnet/spectrum.h"

#include <complex.h>
#include <math.h>
#include <string.h>

static void spectrum_at(const eisnet_grid *g, const double *v, double k, double complex *z)
{
    eisnet_grid_spectrum(g, v, z);
    for (int i = 0; i < g->n_freq; i++) z[i] *= k;
}

static void test_choose(void **state)
{
    (void)state;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go); /* series: Rsh, Ra, Rb, Ca, Cb */
    eisnet_grid g;
    assert_int_equal(eisnet_grid_init(&g, &go), 0);
    double v[EISNET_MAX_PARAMS];
    for (int p = 0; p < g.n_params; p++) v[p] = sqrt(g.lo[p] * g.hi[p]);
    double complex z[64];
    eisnet_scale s;
    char msg[1024];
    /* inside the box: no scaling, nothing to say */
    spectrum_at(&g, v, 1, z);
    assert_int_equal(eisnet_scale_choose(&g, z, NULL, NULL, 0, &s), 0);
    assert_true(s.k == 1);
    assert_true(s.level >= s.level_lo && s.level <= s.level_hi);
    eisnet_scale_describe(&s, msg, sizeof msg);
    assert_string_equal(msg, "");
    /* the box centre at 1/10^5 of the impedance: k = 1e-5 exactly (the
     * centre's level times k), R factors k, C factors 1/k */
    spectrum_at(&g, v, 1e-5, z);
    assert_int_equal(eisnet_scale_choose(&g, z, NULL, NULL, 0, &s), 0);
    assert_true(fabs(s.k / 1e-5 - 1) < 1e-12);
    for (int p = 0; p < g.n_params; p++) {
        const int is_c = strcmp(g.units[p], "F") == 0;
        assert_true(fabs(s.factor[p] / (is_c ? 1e5 : 1e-5) - 1) < 1e-12);
    }
    eisnet_scale_describe(&s, msg, sizeof msg);
    assert_non_null(strstr(msg, "exact circuit scaling"));
    eisnet_grid sg;
    assert_int_equal(eisnet_scale_grid(&g, &s, &sg), 0);
    assert_true(fabs(sg.values[0] / (g.values[0] * s.factor[0]) - 1) < 1e-15);
    assert_true(fabs(sg.hi[3] / (g.hi[3] * s.factor[3]) - 1) < 1e-15);
    eisnet_scale_grid_free(&sg);
    /* known values fix the units: Rsh = 460 (inside the box) keeps k = 1 for
     * data at the box's level, and is reported against data 10^5 lower */
    double known_v[EISNET_MAX_PARAMS] = {460};
    unsigned char known[EISNET_MAX_PARAMS] = {1};
    assert_int_equal(eisnet_scale_choose(&g, z, known_v, known, 0, &s), 0);
    assert_int_equal(s.level_mismatch, 1);
    assert_true(460 / s.factor[0] >= g.lo[0] * (1 - 1e-9) && 460 / s.factor[0] <= g.hi[0] * (1 + 1e-9));
    eisnet_scale_describe(&s, msg, sizeof msg);
    assert_non_null(strstr(msg, "does not match the known values"));
    /* a forced factor is used as given */
    assert_int_equal(eisnet_scale_choose(&g, z, NULL, NULL, 2.5, &s), 0);
    assert_true(s.k == 2.5);
    /* time constants out of reach: an arc far above the band */
    for (int i = 0; i < g.n_freq; i++) z[i] = 10 + 100 / (1 + I * 6.283185307179586 * g.freq[i] * 1e-12);
    assert_int_equal(eisnet_scale_choose(&g, z, NULL, NULL, 0, &s), 0);
    eisnet_scale_describe(&s, msg, sizeof msg);
    assert_non_null(strstr(msg, "time constants lie outside"));
    assert_int_equal(eisnet_scale_choose(&g, z, NULL, NULL, -1, &s), -1);
    eisnet_grid_free(&g);
}

static void test_interpolation_ends(void **state)
{
    (void)state;
    /* a band rebuilt by logspace from 0.0031623 ends a few ulps below it */
    double f[3] = {0.0031623, 1, 10};
    double complex zz[3] = {1 - 2 * I, 2 - 1 * I, 3 - 0.5 * I};
    eisnet_spectrum s = {3, f, zz};
    double t[2] = {0.0031622999999999994, 10.000000000000002};
    double complex out[2];
    assert_int_equal(eisnet_spectrum_interpolate(&s, t, 2, 0, out), 0);
    assert_true(out[0] == zz[0] && out[1] == zz[2]);
    double t2[1] = {0.00316};
    assert_int_equal(eisnet_spectrum_interpolate(&s, t2, 1, 0, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_choose), cmocka_unit_test(test_interpolation_ends)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
