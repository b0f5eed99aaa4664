/* eisnet_fit: the compiled circuit and its derivatives, recovery of known
 * parameters on synthetic spectra (with and without noise), interval
 * coverage on a small simulation, the symmetry report, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/circuit.h"
#include "eisnet/error.h"
#include "eisnet/fit.h"
#include "eisnet/rng.h"
#include "eisnet/simulate.h"

#define NF 50

static void logspace_f(double *f, int n, double lo, double hi)
{
    for (int k = 0; k < n; k++) f[k] = pow(10.0, log10(lo) + (log10(hi) - log10(lo)) * k / (n - 1));
}

/* Z of a circuit on n frequencies, with relative complex noise sigma. */
static void synth(const char *circuit, const double *p, const double *f, int n, double sigma, uint64_t seed,
                  double complex *z)
{
    eisnet_circuit *c = eisnet_circuit_parse(circuit);
    assert_non_null(c);
    double w[256];
    for (int k = 0; k < n; k++) w[k] = 2 * M_PI * f[k];
    eisnet_circuit_eval(c, p, w, (size_t)n, z);
    eisnet_circuit_free(c);
    if (sigma > 0) {
        eisnet_rng r;
        eisnet_rng_seed(&r, seed, 7);
        eisnet_sim_add_noise(&r, sigma, z, n, z);
    }
}

static void test_model_matches_circuit_and_derivatives(void **state)
{
    (void)state;
    const char *text = "R0-p(R1,C1)-L0-W0-p(Wo0,CPE0)-Ws0-La0-G0-K0-p(Zarc0,R2)";
    eisnet_circuit *c = eisnet_circuit_parse(text);
    assert_non_null(c);
    eisnet_fit_model *m = eisnet_fit_model_new(c);
    assert_non_null(m);
    int P = eisnet_circuit_n_params(c);
    double p[EISNET_MAX_PARAMS];
    double ref[] = {12, 340, 2e-6, 1e-5, 30, 45, 0.8, 3e-4, 0.85, 20, 0.05, 1e-4, 0.7, 80, 1e-3, 60, 2e-5, 150, 1e-4, 0.8, 500};
    assert_int_equal(P, (int)(sizeof ref / sizeof ref[0]));
    memcpy(p, ref, sizeof ref);
    double f[7], w[7];
    logspace_f(f, 7, 1e-2, 1e5);
    for (int k = 0; k < 7; k++) w[k] = 2 * M_PI * f[k];
    double complex z[7], zc[7], dz[7 * EISNET_MAX_PARAMS];
    eisnet_fit_model_eval(m, p, w, 7, z, dz);
    eisnet_circuit_eval(c, p, w, 7, zc);
    for (int k = 0; k < 7; k++) assert_true(cabs(z[k] - zc[k]) <= 1e-12 * cabs(zc[k]));
    /* derivatives in ln p against central differences */
    for (int j = 0; j < P; j++) {
        double h = 1e-6, save = p[j];
        double complex zp[7], zm[7];
        p[j] = save * exp(h);
        eisnet_fit_model_eval(m, p, w, 7, zp, NULL);
        p[j] = save * exp(-h);
        eisnet_fit_model_eval(m, p, w, 7, zm, NULL);
        p[j] = save;
        for (int k = 0; k < 7; k++) {
            double complex num = (zp[k] - zm[k]) / (2 * h);
            double complex an = dz[k * P + j];
            if (cabs(num - an) > 1e-5 * cabs(z[k]) + 1e-6 * cabs(an)) {
                print_error("param %d (%s) at f=%g: analytic %g%+gj numeric %g%+gj\n", j,
                            eisnet_circuit_param_name(c, j), f[k], creal(an), cimag(an), creal(num), cimag(num));
                fail();
            }
        }
    }
    /* the series preset has one symmetry: the two R||C branches */
    eisnet_fit_model_free(m);
    eisnet_circuit_free(c);
    c = eisnet_circuit_parse("R0-p(R1,C1)-p(R2,C2)");
    m = eisnet_fit_model_new(c);
    int perm[4][EISNET_MAX_PARAMS];
    char txt[4][128];
    assert_int_equal(eisnet_fit_model_symmetries(m, 4, perm, txt), 1);
    assert_string_equal(txt[0], "(R1,C1)<->(R2,C2)");
    assert_int_equal(perm[0][1], 3);
    assert_int_equal(perm[0][4], 2);
    assert_int_equal(perm[0][0], 0);
    eisnet_fit_model_free(m);
    eisnet_circuit_free(c);
}

/* max over parameters of |log10(got / want)|, the best of the identity and
 * the given swap (perm NULL: identity only). */
static double dex_error(const double *got, const double *want, int P, const int *perm)
{
    double d0 = 0, d1 = 0;
    for (int j = 0; j < P; j++) {
        d0 = fmax(d0, fabs(log10(got[j] / want[j])));
        if (perm) d1 = fmax(d1, fabs(log10(got[perm[j]] / want[j])));
    }
    return perm ? fmin(d0, d1) : d0;
}

static const int series_swap[5] = {0, 3, 4, 1, 2};

static void fit_and_check(const char *circuit, const double *truth, double sigma, double f_lo, double f_hi,
                          const int *perm, double tol_dex, eisnet_fit_result *out)
{
    double f[NF];
    double complex z[NF];
    logspace_f(f, NF, f_lo, f_hi);
    synth(strcmp(circuit, "series") == 0 ? "R0-p(R1,C1)-p(R2,C2)" : circuit, truth, f, NF, sigma, 11, z);
    eisnet_fit_options o;
    eisnet_fit_options_default(&o);
    o.circuit = circuit;
    eisnet_fit_result r;
    if (eisnet_fit(f, z, NF, &o, &r) != 0) {
        print_error("fit of %s failed: %s\n", circuit, eisnet_last_error());
        fail();
    }
    double d = dex_error(r.value, truth, r.n_params, perm);
    if (!(d < tol_dex)) {
        print_error("%s sigma %g: error %g dex (chi2 %g)\n", circuit, sigma, d, r.chi2);
        for (int j = 0; j < r.n_params; j++) print_error("  %s %g (truth %g)\n", r.names[j], r.value[j], truth[j]);
        fail();
    }
    if (out) *out = r;
    else eisnet_fit_result_free(&r);
}

static void test_recovery_series(void **state)
{
    (void)state;
    const double t[5] = {460, 4820, 3.7e-6, 2210, 3.4e-6};
    eisnet_fit_result r;
    fit_and_check("R0-p(R1,C1)-p(R2,C2)", t, 0, 1, 1e6, series_swap, 1e-4, &r);
    assert_true(r.chi2 < 1e-12);
    assert_int_equal(r.n_params, 5);
    assert_int_equal(r.n_free, 5);
    /* the swapped branches are named as an equivalent solution */
    int found = 0;
    for (int s = 1; s < r.n_solutions; s++)
        if (r.solutions[s].equivalent_to == 0 && strstr(r.solutions[s].symmetry, "R1<->R2") &&
            strstr(r.solutions[s].symmetry, "C1<->C2")) {
            found = 1;
            assert_true(dex_error(r.solutions[s].values, r.value, 5, series_swap) < 1e-6);
            assert_true(fabs(r.solutions[s].chi2 - r.solutions[0].chi2) <= 1e-9 + 1e-6 * r.solutions[0].chi2);
        }
    assert_true(found);
    eisnet_fit_result_free(&r);
    /* the preset's display names, at 1 % noise: close, and the truth inside the intervals */
    fit_and_check("series", t, 0.01, 1, 1e6, series_swap, 0.1, &r);
    assert_string_equal(r.names[0], "Rsh");
    assert_string_equal(r.names[2], "Ca");
    assert_true(r.chi2_reduced > 0 && r.chi2_reduced < 1e-3);
    for (int j = 0; j < 5; j++) {
        assert_true(r.stderr_[j] > 0);
        assert_true(r.ci_lo[j] < r.value[j] && r.value[j] < r.ci_hi[j]);
        assert_true(fabs(r.corr[j * 5 + j] - 1) < 1e-9);
    }
    eisnet_fit_result_free(&r);
    /* the other weightings reach the same noiseless minimum */
    double f[NF];
    double complex z[NF];
    logspace_f(f, NF, 1, 1e6);
    synth("R0-p(R1,C1)-p(R2,C2)", t, f, NF, 0, 0, z);
    for (int w = EISNET_FIT_UNIT; w <= EISNET_FIT_PROPORTIONAL; w++) {
        eisnet_fit_options o;
        eisnet_fit_options_default(&o);
        o.weighting = (eisnet_fit_weighting)w;
        assert_int_equal(eisnet_fit(f, z, NF, &o, &r), 0);
        assert_true(dex_error(r.value, t, 5, series_swap) < 1e-4);
        eisnet_fit_result_free(&r);
    }
}

static void test_recovery_cpe_and_wo(void **state)
{
    (void)state;
    /* R0-p(R1,CPE1): a depressed arc (mohm level, battery-like band) */
    const double t1[4] = {0.012, 0.03, 4.0, 0.82};
    fit_and_check("R0-p(R1,CPE1)", t1, 0, 1e-2, 1e4, NULL, 1e-4, NULL);
    fit_and_check("R0-p(R1,CPE1)", t1, 0.005, 1e-2, 1e4, NULL, 0.1, NULL);
    /* impedance.py's tutorial circuit with a finite-length Warburg */
    const double t2[7] = {0.0165, 0.0087, 3.3, 0.0053, 0.23, 230, 0.2};
    const char *c2 = "R0-p(R1,C1)-p(R2-Wo1,C2)";
    fit_and_check(c2, t2, 0, 1e-3, 1e4, NULL, 1e-3, NULL);
    fit_and_check(c2, t2, 0.002, 1e-3, 1e4, NULL, 0.15, NULL);
    /* at MOhm level (a coating) */
    const double t3[5] = {2e3, 3e6, 2e-10, 8e5, 3e-8};
    fit_and_check("R0-p(R1,C1)-p(R2,C2)", t3, 0, 1e-2, 1e5, series_swap, 1e-3, NULL);
}

static void test_known_held_fixed(void **state)
{
    (void)state;
    const double t[5] = {460, 4820, 3.7e-6, 2210, 3.4e-6};
    double f[NF];
    double complex z[NF];
    logspace_f(f, NF, 1, 1e6);
    synth("R0-p(R1,C1)-p(R2,C2)", t, f, NF, 0.01, 3, z);
    eisnet_fit_options o;
    eisnet_fit_options_default(&o);
    o.known = "Rsh=460,Ra=4820,Rb=2210";
    eisnet_fit_result r;
    assert_int_equal(eisnet_fit(f, z, NF, &o, &r), 0);
    assert_int_equal(r.n_free, 2);
    assert_true(r.known[0] && r.known[1] && r.known[3] && !r.known[2] && !r.known[4]);
    assert_true(r.value[0] == 460 && r.value[1] == 4820 && r.value[3] == 2210);
    assert_true(r.stderr_[0] == 0);
    assert_int_equal(r.best_from_start_point, -1);
    eisnet_fit_result_free(&r);
    /* given start points are refined too, and the one that led to the best is named */
    double starts[2][5] = {{460, 4820, 1e-7, 2210, 4e-5}, {460, 4820, 3e-6, 2210, 3e-6}};
    o.start_points = &starts[0][0];
    o.n_start_points = 2;
    o.starts = 1;
    assert_int_equal(eisnet_fit(f, z, NF, &o, &r), 0);
    assert_true(r.best_from_start_point == 0 || r.best_from_start_point == 1);
    assert_true(fabs(log10(r.value[2] / t[2])) < 0.02 && fabs(log10(r.value[4] / t[4])) < 0.02);
    assert_true(fabs(log10(r.value[2] / t[2])) < 0.02 && fabs(log10(r.value[4] / t[4])) < 0.02);
    /* with Ra != Rb known, the branch swap is not a symmetry of this fit */
    for (int s = 1; s < r.n_solutions; s++) assert_int_not_equal(r.solutions[s].equivalent_to, 0);
    eisnet_fit_result_free(&r);
}

/* Coverage of the 95 % intervals over a small simulation (loose bounds: 30
 * spectra x 5 parameters). */
static void test_interval_coverage(void **state)
{
    (void)state;
    const char *ranges[] = {"R0=10:10000", "R1=10:10000", "R2=10:10000", "C1=1e-7:5e-5", "C2=1e-7:5e-5"};
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    eisnet_grid g;
    assert_int_equal(eisnet_grid_init(&g, &go), 0);
    eisnet_rng rng;
    eisnet_rng_seed(&rng, 2024, 1);
    int covered = 0, total = 0;
    for (int s = 0; s < 30; s++) {
        double v[5], t[5];
        double complex z[50];
        eisnet_simulate(&g, &rng, 0.01, v, NULL, z);
        for (int i = 0; i < 5; i++) t[g.circuit_index[i]] = v[i];   /* file order -> circuit order */
        eisnet_fit_options o;
        eisnet_fit_options_default(&o);
        o.ranges = ranges;
        o.n_ranges = 5;
        o.seed = (uint64_t)s;
        eisnet_fit_result r;
        assert_int_equal(eisnet_fit(g.freq, z, g.n_freq, &o, &r), 0);
        /* compare with the truth in the labelling that fits it best */
        int swap = dex_error(r.value, t, 5, NULL) > dex_error(r.value, t, 5, series_swap);
        for (int j = 0; j < 5; j++) {
            int jj = swap ? series_swap[j] : j;
            covered += r.ci_lo[jj] <= t[j] && t[j] <= r.ci_hi[jj];
            total++;
        }
        eisnet_fit_result_free(&r);
    }
    eisnet_grid_free(&g);
    double cov = (double)covered / total;
    print_message("95 %% interval coverage: %.3f of %d\n", cov, total);
    assert_true(cov >= 0.85 && cov <= 1.0);
}

static void expect_fail(const double *f, const double complex *z, int n, const eisnet_fit_options *o, const char *want)
{
    eisnet_fit_result r;
    assert_int_equal(eisnet_fit(f, z, n, o, &r), -1);
    if (!strstr(eisnet_last_error(), want)) {
        print_error("error '%s' lacks '%s'\n", eisnet_last_error(), want);
        fail();
    }
    assert_null(r.freq);
}

static void test_bad_input(void **state)
{
    (void)state;
    const double t[5] = {460, 4820, 3.7e-6, 2210, 3.4e-6};
    double f[NF];
    double complex z[NF];
    logspace_f(f, NF, 1, 1e6);
    synth("R0-p(R1,C1)-p(R2,C2)", t, f, NF, 0, 0, z);
    eisnet_fit_options o;
    eisnet_fit_options_default(&o);
    /* more parameters than data: 2 frequencies give 4 numbers for 5 parameters */
    expect_fail(f, z, 2, &o, "5 free parameters but the spectrum gives only 4 real data");
    /* NaN in the spectrum */
    double complex zn[NF];
    memcpy(zn, z, sizeof zn);
    zn[7] = NAN;
    expect_fail(f, zn, NF, &o, "spectrum point 8");
    /* an empty box */
    const char *empty[] = {"Ra=5000:100"};
    o.ranges = empty;
    o.n_ranges = 1;
    expect_fail(f, z, NF, &o, "empty box");
    const char *bad[] = {"Rq=1:2"};
    o.ranges = bad;
    expect_fail(f, z, NF, &o, "unknown parameter 'Rq'");
    o.n_ranges = 0;
    o.known = "Rz=4";
    expect_fail(f, z, NF, &o, "--known: unknown parameter 'Rz'");
    o.known = "Rsh=460,Ra=1,Rb=2,Ca=1e-6,Cb=1e-6";
    expect_fail(f, z, NF, &o, "nothing to fit");
    o.known = NULL;
    o.circuit = "R0-p(R1,Q1)";
    expect_fail(f, z, NF, &o, "unknown element");
    o.circuit = "series";
    double fd[NF];
    memcpy(fd, f, sizeof fd);
    fd[3] = fd[4];
    expect_fail(fd, z, NF, &o, "given twice");
    assert_int_equal(eisnet_fit_weighting_parse("unit"), EISNET_FIT_UNIT);
    assert_int_equal(eisnet_fit_weighting_parse("loud"), -1);
}

int main(void)
{
    if (!eisnet_fit_available()) {
        printf("test_fit: skipped, this eisnet was built without GSL\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_matches_circuit_and_derivatives),
        cmocka_unit_test(test_recovery_series),
        cmocka_unit_test(test_recovery_cpe_and_wo),
        cmocka_unit_test(test_known_held_fixed),
        cmocka_unit_test(test_interval_coverage),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
