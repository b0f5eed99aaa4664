/* Linear Kramers-Kronig test: the least squares solver on known systems,
 * KK-consistent circuit data pass with tiny residuals, data from a drifting
 * system fail where they drift, and impedance.py's linKK numbers on its
 * exampleData.csv are reproduced (fixtures from tests/make_reader_fixtures.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eisnet/error.h"
#include "eisnet/kk.h"
#include "eisnet/readers.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

static void test_lstsq(void **state)
{
    (void)state;
    /* y = 1 + 2 t - 3 t^2 sampled exactly: recovered to rounding */
    enum { m = 9 };
    double A[3 * m], b[m], x[3];
    for (int i = 0; i < m; i++) {
        double t = i * 0.25 - 1;
        A[i] = 1;
        A[m + i] = t;
        A[2 * m + i] = t * t;
        b[i] = 1 + 2 * t - 3 * t * t;
    }
    assert_int_equal(eisnet_lstsq(A, b, m, 3, x), 0);
    assert_true(fabs(x[0] - 1) < 1e-12 && fabs(x[1] - 2) < 1e-12 && fabs(x[2] + 3) < 1e-12);
    /* overdetermined, inconsistent: the mean is the least squares constant */
    double A2[4] = {1, 1, 1, 1}, b2[4] = {1, 2, 3, 6}, x2[1];
    assert_int_equal(eisnet_lstsq(A2, b2, 4, 1, x2), 0);
    assert_true(fabs(x2[0] - 3) < 1e-12);
    /* two equal columns: rank 1, one coefficient carries it all, the fit is exact */
    double A3[6] = {1, 2, 3, 1, 2, 3}, b3[3] = {2, 4, 6}, x3[2];
    assert_int_equal(eisnet_lstsq(A3, b3, 3, 2, x3), 0);
    assert_true(fabs(x3[0] + x3[1] - 2) < 1e-12 && (x3[0] == 0 || x3[1] == 0));
    assert_int_equal(eisnet_lstsq(A3, b3, 1, 2, x3), -1);
}

static double complex circuit(double f)
{
    const double w = 2 * PI * f;
    return 12 + 80 / (1 + I * w * 80 * 2e-5) + 150 / (1 + cpow(I * w * 150 * 1e-3, 0.8)) + I * w * 1e-6;
}

static void test_consistent_data_pass(void **state)
{
    (void)state;
    enum { n = 60 };
    double f[n];
    double complex z[n];
    for (int i = 0; i < n; i++) {
        f[i] = pow(10, -2 + 7.0 * i / (n - 1));
        /* 0.1 % deterministic relative noise, as a good measurement has */
        z[i] = circuit(f[i]) * (1 + 1e-3 * (sin(12.9898 * i) + I * cos(78.233 * i)));
    }
    for (int fit = 0; fit < 3; fit++) {
        eisnet_kk_options o;
        eisnet_kk_options_default(&o);
        o.fit = (eisnet_kk_fit)fit;
        eisnet_kk_result r;
        if (eisnet_kk_test(f, z, n, &o, &r) != 0) fail_msg("%s", eisnet_last_error());
        /* impedance.py's linKK on the same data: M = 45, 44, 37 and largest
         * residuals 0.0020, 0.0015, 0.0189 for real, complex, imag (the
         * imaginary fit leaves the real part at the band's top end loose) */
        static const int want_M[3] = {45, 44, 37};
        static const double want_max[3] = {0.00199076, 0.00147743, 0.01890163};
        if (r.M != want_M[fit] || fabs(r.max_res - want_max[fit]) > 2e-4)
            fail_msg("fit %d: M=%d max residual %g", fit, r.M, r.max_res);
        assert_true(r.mu <= 0.5);
        char v[512];
        eisnet_kk_verdict(&r, &o, f, v, sizeof v);
        assert_non_null(strstr(v, fit < 2 ? "pass" : "fail"));
        eisnet_kk_result_free(&r);
    }
}

static void test_drift_fails(void **state)
{
    (void)state;
    enum { n = 60 };
    double f[n];
    double complex z[n];
    /* the sweep runs from high to low frequency; the cell's resistance grows by
     * 30 % over the last (lowest) decade: not a stationary system */
    for (int i = 0; i < n; i++) {
        f[i] = pow(10, -2 + 7.0 * i / (n - 1));
        double grow = f[i] < 0.1 ? 1 + 0.3 * (log10(0.1) - log10(f[i])) : 1;
        z[i] = circuit(f[i]) * (f[i] < 0.1 ? grow : 1);
        z[i] = creal(z[i]) * grow + I * cimag(circuit(f[i]));
    }
    eisnet_kk_options o;
    eisnet_kk_options_default(&o);
    eisnet_kk_result r;
    assert_int_equal(eisnet_kk_test(f, z, n, &o, &r), 0);
    assert_int_equal(r.pass, 0);
    assert_true(r.max_res > 0.01);
    assert_true(r.fail_f_lo < 0.1);
    char v[512];
    eisnet_kk_verdict(&r, &o, f, v, sizeof v);
    assert_non_null(strstr(v, "fail"));
    assert_non_null(strstr(v, "lowest frequencies"));
    eisnet_kk_result_free(&r);
}

static void test_bad_input(void **state)
{
    (void)state;
    double f[3] = {1, 2, 3};
    double complex z[3] = {1, 0, 1};
    eisnet_kk_result r;
    assert_int_equal(eisnet_kk_test(f, z, 3, NULL, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "point 2"));
    assert_int_equal(eisnet_kk_test(f, z, 2, NULL, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "at least 3"));
}

typedef struct {
    int M, n;
    double mu, f[128], res_re[128], res_im[128];
} fixture;

static void load_fixture(const char *path, fixture *fx)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[512];
    fx->n = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        if (sscanf(line, "M %d", &fx->M) == 1) continue;
        if (sscanf(line, "mu %lf", &fx->mu) == 1) continue;
        double zr, zi;
        assert_true(fx->n < 128);
        assert_int_equal(sscanf(line, "%lf,%lf,%lf,%lf,%lf", &fx->f[fx->n], &zr, &zi, &fx->res_re[fx->n],
                                &fx->res_im[fx->n]),
                         5);
        fx->n++;
    }
    fclose(fp);
}

static void check_example(eisnet_kk_fit fit, const char *fixture_path)
{
    fixture fx;
    load_fixture(fixture_path, &fx);
    eisnet_read_options ro;
    eisnet_read_options_default(&ro);
    ro.drop_inductive = 1;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read("tests/data/impedance_py/exampleData.csv", &ro, &s, NULL), 0);
    assert_int_equal(s.n, fx.n);
    eisnet_kk_options o;
    eisnet_kk_options_default(&o); /* c = 0.5, max_M = 100, as the fixture */
    o.fit = fit;
    eisnet_kk_result r;
    assert_int_equal(eisnet_kk_test(s.freq, s.z, s.n, &o, &r), 0);
    print_message("fit %d: eisnet M=%d mu=%.4f, impedance.py M=%d mu=%.4f\n", (int)fit, r.M, r.mu, fx.M, fx.mu);
    assert_true(abs(r.M - fx.M) <= 2);
    assert_true(fabs(r.mu - fx.mu) <= 0.05);
    if (r.M == fx.M) {
        /* the same fit: the residuals agree point by point (the fixture is in
         * the file's order, which is ascending) */
        for (int i = 0; i < s.n; i++) {
            int j = i;
            assert_true(fabs(s.freq[i] - fx.f[j]) <= 1e-12 * fx.f[j]);
            if (fabs(r.res_re[i] - fx.res_re[j]) > 1e-6 || fabs(r.res_im[i] - fx.res_im[j]) > 1e-6)
                fail_msg("%g Hz: residuals %g %g vs %g %g", s.freq[i], r.res_re[i], r.res_im[i], fx.res_re[j],
                         fx.res_im[j]);
        }
    }
    eisnet_kk_result_free(&r);
    eisnet_spectrum_free(&s);
}

static void test_impedance_py_example(void **state)
{
    (void)state;
    check_example(EISNET_KK_REAL, "tests/data/impedance_py/linkk_exampleData_real.txt");
    check_example(EISNET_KK_COMPLEX, "tests/data/impedance_py/linkk_exampleData_complex.txt");
}

static void test_add_cap(void **state)
{
    (void)state;
    /* exampleData has no low-frequency intercept: without a series capacitor
     * the lowest frequencies fail, with one every residual is below 1 % */
    eisnet_read_options ro;
    eisnet_read_options_default(&ro);
    ro.drop_inductive = 1;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read("tests/data/impedance_py/exampleData.csv", &ro, &s, NULL), 0);
    eisnet_kk_options o;
    eisnet_kk_options_default(&o);
    eisnet_kk_result r;
    assert_int_equal(eisnet_kk_test(s.freq, s.z, s.n, &o, &r), 0);
    assert_int_equal(r.pass, 0);
    assert_true(r.fail_f_lo == s.freq[0]);
    char v[600];
    eisnet_kk_verdict(&r, &o, s.freq, v, sizeof v);
    assert_non_null(strstr(v, "--add_cap"));
    eisnet_kk_result_free(&r);
    o.add_cap = 1;
    assert_int_equal(eisnet_kk_test(s.freq, s.z, s.n, &o, &r), 0);
    assert_int_equal(r.pass, 1);
    assert_true(r.max_res < 0.01);
    assert_true(r.C > 0);
    eisnet_kk_result_free(&r);
    eisnet_spectrum_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstsq),        cmocka_unit_test(test_consistent_data_pass),
        cmocka_unit_test(test_drift_fails),  cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_impedance_py_example), cmocka_unit_test(test_add_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
