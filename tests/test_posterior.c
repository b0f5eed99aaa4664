/* The exact cell posterior: reference vectors, direct numerical integration,
 * normalisation, the misfit, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/error.h"
#include "eisnet/posterior.h"
#include "eisnet/rng.h"
#include "eisnet/simulate.h"

static eisnet_grid grid;

static int setup(void **state)
{
    (void)state;
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    return eisnet_grid_init(&grid, &o);
}

static int teardown(void **state)
{
    (void)state;
    eisnet_grid_free(&grid);
    return 0;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* Every case of the reference vectors (64x64 midpoint rule, both masks,
 * noiseless and noisy): marginals and joint within 1e-2. */
static void test_reference_vectors(void **state)
{
    (void)state;
    char *text = read_all("tests/data/posterior_vectors.json");
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    cJSON *cases = cJSON_GetObjectItem(root, "cases");
    int n_cases = 0;
    double worst = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        int G = grid.n_grid, F = grid.n_freq;
        double complex z[64];
        double values[EISNET_MAX_PARAMS];
        uint8_t known[EISNET_MAX_PARAMS] = {0};
        cJSON *re = cJSON_GetObjectItem(c, "re"), *im = cJSON_GetObjectItem(c, "im");
        assert_int_equal(cJSON_GetArraySize(re), F);
        for (int f = 0; f < F; f++)
            z[f] = cJSON_GetArrayItem(re, f)->valuedouble + I * cJSON_GetArrayItem(im, f)->valuedouble;
        cJSON *truth = cJSON_GetObjectItem(c, "truth"), *k;
        for (int p = 0; p < grid.n_params; p++) values[p] = cJSON_GetObjectItem(truth, grid.names[p])->valuedouble;
        cJSON_ArrayForEach(k, cJSON_GetObjectItem(c, "known")) known[eisnet_grid_find_param(&grid, k->valuestring)] = 1;
        eisnet_posterior r;
        assert_int_equal(eisnet_posterior_compute(&grid, z, values, known, NULL, &r), 0);
        assert_int_equal(r.n_missing, 2);
        cJSON *marg = cJSON_GetObjectItem(c, "marginals");
        for (int i = 0; i < 2; i++) {
            int p = r.missing[i];
            cJSON *row = cJSON_GetObjectItem(marg, grid.names[p]);
            assert_non_null(row);
            for (int j = 0; j < G; j++) {
                double d = fabs(r.marginal[p * G + j] - cJSON_GetArrayItem(row, j)->valuedouble);
                worst = fmax(worst, d);
                assert_true(d < 1e-2);
            }
        }
        cJSON *joint = cJSON_GetObjectItem(c, "joint");
        for (int a = 0; a < G; a++)
            for (int b = 0; b < G; b++) {
                double ref = cJSON_GetArrayItem(cJSON_GetArrayItem(joint, a), b)->valuedouble;
                assert_true(fabs(r.joint[a * G + b] - ref) < 1e-2);
            }
        eisnet_posterior_free(&r);
        n_cases++;
    }
    assert_int_equal(n_cases, 12);
    printf("reference vectors: largest marginal difference %.2e\n", worst);
    cJSON_Delete(root);
    free(text);
}

/* log-likelihood of one parameter vector, the density's own formula */
static double loglik(const eisnet_grid *g, const double complex *zm, const double *v, double sigma)
{
    double complex zt[256];
    eisnet_grid_spectrum(g, v, zt);
    double s = 0;
    for (int f = 0; f < g->n_freq; f++) {
        double m2 = creal(zt[f] * conj(zt[f]));
        double complex d = zm[f] - zt[f];
        s += -creal(d * conj(d)) / (2 * sigma * sigma * m2) - log(m2);
    }
    return s;
}

/* Cell probabilities of parameter p by composite Simpson over each cell in
 * log10 with n intervals (uniform prior there), the others fixed. */
static void direct_1d(const eisnet_grid *g, const double complex *zm, const double *values, int p, double sigma,
                      int n, double *out)
{
    int G = g->n_grid;
    double *ll = malloc(sizeof(double) * (size_t)G * (n + 1)), mx = -INFINITY;
    double v[EISNET_MAX_PARAMS];
    memcpy(v, values, sizeof(double) * g->n_params);
    for (int c = 0; c < G; c++) {
        double lo, hi;
        eisnet_grid_cell_bounds(g, p, c, &lo, &hi);
        double a = log10(lo), b = log10(hi);
        for (int i = 0; i <= n; i++) {
            v[p] = pow(10, a + (b - a) * i / n);
            ll[c * (n + 1) + i] = loglik(g, zm, v, sigma);
            mx = fmax(mx, ll[c * (n + 1) + i]);
        }
    }
    double tot = 0;
    for (int c = 0; c < G; c++) {
        double lo, hi;
        eisnet_grid_cell_bounds(g, p, c, &lo, &hi);
        double h = (log10(hi) - log10(lo)) / n, s = 0;
        for (int i = 0; i <= n; i++) {
            double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
            s += w * exp(ll[c * (n + 1) + i] - mx);
        }
        out[c] = s * h / 3;
        tot += out[c];
    }
    for (int c = 0; c < G; c++) out[c] /= tot;
    free(ll);
}

/* One missing parameter whose truth sits on a cell edge (so two cells share
 * the mass) against direct integration, for the series fast path and for a
 * circuit on the generic evaluator. */
static void check_one_missing(const eisnet_grid *g, int p, double *truth, uint64_t seed)
{
    double lo, hi;
    eisnet_grid_cell_bounds(g, p, 5, &lo, &hi);
    truth[p] = hi * 1.0005; /* just above the edge between cells 5 and 6 */
    double complex z[256];
    eisnet_grid_spectrum(g, truth, z);
    eisnet_rng rng;
    eisnet_rng_seed(&rng, seed, 0);
    eisnet_sim_add_noise(&rng, 0.01, z, g->n_freq, z);
    uint8_t known[EISNET_MAX_PARAMS];
    for (int i = 0; i < g->n_params; i++) known[i] = i != p;
    eisnet_posterior r;
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    o.tol = 3e-4;
    o.max_sub = 4096;
    assert_int_equal(eisnet_posterior_compute(g, z, truth, known, &o, &r), 0);
    assert_int_equal(r.n_missing, 1);
    assert_int_equal(r.missing[0], p);
    assert_null(r.joint);
    assert_true(r.converged);
    double direct[64];
    direct_1d(g, z, truth, p, 0.01, 20000, direct);
    double worst = 0, sum = 0;
    for (int c = 0; c < g->n_grid; c++) {
        worst = fmax(worst, fabs(direct[c] - r.marginal[p * g->n_grid + c]));
        sum += r.marginal[p * g->n_grid + c];
    }
    printf("%s, %s missing: cells 5/6 %.4f/%.4f (direct %.4f/%.4f), %d sub-points, largest difference %.2e\n",
           eisnet_circuit_text(g->circuit), g->names[p], r.marginal[p * g->n_grid + 5], r.marginal[p * g->n_grid + 6],
           direct[5], direct[6], r.sub_used, worst);
    assert_true(direct[5] + direct[6] > 0.9); /* the case is the intended one */
    assert_true(worst < 2e-3);
    assert_true(fabs(sum - 1) < 1e-12);
    eisnet_posterior_free(&r);
}

static void test_one_missing_direct(void **state)
{
    (void)state;
    double truth[5] = {120, 900, 3000, 2e-6, 8e-6};
    check_one_missing(&grid, 3, truth, 7);
    double truth2[5] = {120, 900, 3000, 2e-6, 8e-6};
    check_one_missing(&grid, 0, truth2, 8);

    /* the parallel preset's fast path */
    eisnet_grid gp;
    eisnet_grid_options op;
    eisnet_grid_options_default(&op);
    op.circuit = "parallel";
    assert_int_equal(eisnet_grid_init(&gp, &op), 0);
    assert_int_equal(gp.kernel, EISNET_KERNEL_PARALLEL_RC2);
    double tp[5] = {3000, 900, 300, 2e-6, 8e-6};
    check_one_missing(&gp, 3, tp, 10);
    eisnet_grid_free(&gp);

    eisnet_grid g2;
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    const char *ranges[] = {"R0=10:1000", "R1=100:10000", "C1=1e-7:1e-4"};
    o.circuit = "R0-p(R1,C1)";
    o.ranges = ranges;
    o.n_ranges = 3;
    assert_int_equal(eisnet_grid_init(&g2, &o), 0);
    assert_int_equal(g2.kernel, EISNET_KERNEL_GENERIC);
    double t3[3] = {50, 2000, 3e-6};
    check_one_missing(&g2, 2, t3, 9);
    eisnet_grid_free(&g2);
}

/* Marginals sum to 1, the joint sums to the marginals of the first two
 * missing parameters, the truth's cell has mass, the misfit is about sigma
 * for a spectrum the model explains; three missing parameters. */
static void test_normalisation(void **state)
{
    (void)state;
    eisnet_rng rng;
    eisnet_rng_seed(&rng, 3, 0);
    int G = grid.n_grid;
    for (int trial = 0; trial < 4; trial++) {
        double v[EISNET_MAX_PARAMS];
        int cells[EISNET_MAX_PARAMS];
        double complex z[64];
        eisnet_simulate(&grid, &rng, 0.01, v, cells, z);
        /* three missing (Rb, Ca, Cb), then two (Ra, Rb) */
        uint8_t known[5] = {1, 1, 0, 0, 0};
        if (trial % 2) known[1] = 0, known[3] = 1, known[4] = 1;
        eisnet_posterior_options o;
        eisnet_posterior_options_default(&o);
        o.max_evals = 1e6;
        eisnet_posterior r;
        assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &r), 0);
        assert_int_equal(r.n_missing, trial % 2 ? 2 : 3);
        assert_true(r.joint != NULL);
        for (int i = 0; i < r.n_missing; i++) {
            double s = 0;
            for (int c = 0; c < G; c++) s += r.marginal[r.missing[i] * G + c];
            assert_true(fabs(s - 1) < 1e-12);
        }
        for (int p = 0; p < 5; p++)
            if (known[p])
                for (int c = 0; c < G; c++) assert_true(r.marginal[p * G + c] == 0);
        for (int a = 0; a < G; a++) {
            double row = 0, col = 0;
            for (int b = 0; b < G; b++) {
                row += r.joint[a * G + b];
                col += r.joint[b * G + a];
            }
            assert_true(fabs(row - r.marginal[r.missing[0] * G + a]) < 1e-12);
            assert_true(fabs(col - r.marginal[r.missing[1] * G + a]) < 1e-12);
        }
        /* the misfit of the best point: about sigma (per component) */
        assert_true(r.best_rel_rms > 0.006 && r.best_rel_rms < 0.013);
        assert_true(r.argmin_rel_rms >= r.best_rel_rms);
        assert_true(r.log_evidence > -1e6 && isfinite(r.log_evidence));
        eisnet_posterior_free(&r);
    }
}

/* The grid brute force finds the grid completion itself on a noiseless grid
 * spectrum, and its misfit equals the generic evaluator's. */
static void test_argmin(void **state)
{
    (void)state;
    int G = grid.n_grid, idx[5] = {4, 9, 2, 7, 3};
    double v[5];
    for (int p = 0; p < 5; p++) v[p] = grid.values[p * G + idx[p]];
    double complex z[64];
    eisnet_grid_spectrum(&grid, v, z);
    for (int f = 0; f < grid.n_freq; f++) z[f] *= 1.0 + 0.002 * sin(f); /* a small known misfit */
    uint8_t known[5] = {1, 0, 1, 0, 1};
    eisnet_posterior r;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, NULL, &r), 0);
    assert_int_equal(r.argmin[1], 9);
    assert_int_equal(r.argmin[3], 7);
    assert_int_equal(r.argmin[0], -1);
    double direct = eisnet_posterior_rel_rms(&grid, z, v);
    assert_true(fabs(r.argmin_rel_rms - direct) < 1e-12 + 1e-9 * direct);
    /* the parallel preset's fast path against the generic evaluator too */
    {
        eisnet_grid gp;
        eisnet_grid_options op;
        eisnet_grid_options_default(&op);
        op.circuit = "parallel";
        assert_int_equal(eisnet_grid_init(&gp, &op), 0);
        double vp[5];
        for (int p = 0; p < 5; p++) vp[p] = gp.values[p * G + idx[p]];
        double complex zp[64];
        eisnet_grid_spectrum(&gp, vp, zp);
        for (int f = 0; f < gp.n_freq; f++) zp[f] *= 1.0 + 0.002 * cos(f);
        eisnet_posterior rp;
        assert_int_equal(eisnet_posterior_compute(&gp, zp, vp, known, NULL, &rp), 0);
        assert_int_equal(rp.argmin[1], 9);
        double dp = eisnet_posterior_rel_rms(&gp, zp, vp);
        assert_true(fabs(rp.argmin_rel_rms - dp) < 1e-12 + 1e-9 * dp);
        eisnet_posterior_free(&rp);
        eisnet_grid_free(&gp);
    }
    assert_true(r.best_rel_rms <= r.argmin_rel_rms);
    assert_true(r.marginal[1 * G + 9] > 0.5 && r.marginal[3 * G + 7] > 0.5);
    eisnet_posterior_free(&r);
}

/* Known values that contradict the spectrum show as a misfit far beyond
 * sigma. */
static void test_inconsistent_known(void **state)
{
    (void)state;
    double v[5] = {460, 4820, 2210, 3.7e-6, 3.4e-6};
    double complex z[64];
    eisnet_grid_spectrum(&grid, v, z);
    uint8_t known[5] = {1, 1, 1, 0, 0};
    eisnet_posterior r;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, NULL, &r), 0);
    assert_true(r.best_rel_rms < 0.003);
    eisnet_posterior_free(&r);
    v[0] = 3 * 460;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, NULL, &r), 0);
    assert_true(r.best_rel_rms > 0.1);
    eisnet_posterior_free(&r);
}

/* Four missing parameters under a small budget: the cost is reported and
 * bounded, the result normalised and flagged as not converged. */
static void test_four_missing(void **state)
{
    (void)state;
    double v[5] = {460, 4820, 2210, 3.7e-6, 3.4e-6};
    double complex z[64];
    eisnet_grid_spectrum(&grid, v, z);
    uint8_t known[5] = {1, 0, 0, 0, 0};
    eisnet_posterior r;
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    o.max_evals = 3e5;
    o.is_max_evals = 1; /* one round of the sampling stage */
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &r), 0);
    assert_int_equal(r.n_missing, 4);
    printf("4 missing: %.0f evaluations, %d sub-points, converged %d\n", r.n_evals, r.sub_used, r.converged);
    /* the first level (20,736 boxes of 2^4 points) is always computed */
    /* plus one round of 65,536 samples and the Newton steps of the sampling stage */
    assert_true(r.is_ran && r.is_samples == 65536);
    assert_true(r.n_evals >= 331776 && r.n_evals <= 331776 + 3e5 + 20736 + 65536 + 1000);
    assert_false(r.converged); /* the budget stops it first */
    assert_true(r.n_evals > 20736);
    double s = 0;
    for (int c = 0; c < grid.n_grid; c++) s += r.marginal[1 * grid.n_grid + c];
    assert_true(fabs(s - 1) < 1e-12);
    eisnet_posterior_free(&r);
}

/* Marginals of each missing parameter sum to 1; the joint's rows and
 * columns sum to the first two missing parameters' marginals. */
static void check_normalised(const eisnet_posterior *r)
{
    int G = grid.n_grid;
    for (int d = 0; d < r->n_missing; d++) {
        double s = 0;
        for (int c = 0; c < G; c++) s += r->marginal[(size_t)r->missing[d] * G + c];
        assert_true(fabs(s - 1) < 1e-9);
    }
    if (r->n_missing < 2) return;
    for (int i = 0; i < G; i++) {
        double row = 0, col = 0;
        for (int j = 0; j < G; j++) {
            row += r->joint[i * G + j];
            col += r->joint[j * G + i];
        }
        assert_true(fabs(row - r->marginal[(size_t)r->missing[0] * G + i]) < 1e-9);
        assert_true(fabs(col - r->marginal[(size_t)r->missing[1] * G + i]) < 1e-9);
    }
}

/* Where the box rule converges (1, 2, 3 missing), the sampling stage forced
 * on the same spectra agrees with it within max(4 SE, 2e-3). */
static void test_sampling_agrees(void **state)
{
    (void)state;
    static const uint8_t masks[3][5] = {{1, 1, 1, 1, 0}, {1, 1, 1, 0, 0}, {1, 1, 0, 0, 0}};
    int G = grid.n_grid, compared = 0;
    eisnet_rng rng;
    eisnet_rng_seed(&rng, 11, 3);
    for (int i = 0; i < 4; i++) {
        double v[5];
        double complex z[64];
        eisnet_simulate(&grid, &rng, 0.01, v, NULL, z);
        for (int k = 0; k < 3; k++) {
            eisnet_posterior a, b;
            eisnet_posterior_options o;
            eisnet_posterior_options_default(&o);
            assert_int_equal(eisnet_posterior_compute(&grid, z, v, masks[k], &o, &a), 0);
            if (!a.converged) {
                eisnet_posterior_free(&a);
                continue;
            }
            assert_int_equal(a.method, 0);
            assert_false(a.is_ran);
            o.sampling = 1;
            o.is_max_evals = 1e6; /* keeps the test short; the bound below scales with the SE */
            assert_int_equal(eisnet_posterior_compute(&grid, z, v, masks[k], &o, &b), 0);
            assert_true(b.is_ran);
            if (b.method == 1) {
                double tol = fmax(4 * b.is_max_se, 2e-3), worst = 0;
                for (int c = 0; c < grid.n_params * G; c++) worst = fmax(worst, fabs(a.marginal[c] - b.marginal[c]));
                printf("spectrum %d, %d missing: max |boxes - sampling| %.2g (SE %.2g, ESS %.0f)\n", i, a.n_missing,
                       worst, b.is_max_se, b.is_ess);
                assert_true(worst <= tol);
                assert_true(fabs(a.log_evidence - b.log_evidence) < 0.05);
                check_normalised(&b);
                compared++;
            }
            eisnet_posterior_free(&a);
            eisnet_posterior_free(&b);
        }
    }
    assert_true(compared >= 6);
}

/* A thin ridge (Ra, Rb known; Rsh, Ca, Cb missing) where the box rule
 * stops unconverged: the sampling stage converges, normalised, the same for
 * one or two threads, and within 4 SE under another seed. */
static void test_sampling_ridge(void **state)
{
    (void)state;
    const uint8_t known[5] = {0, 1, 1, 0, 0};
    int G = grid.n_grid, found = 0;
    eisnet_rng rng;
    eisnet_rng_seed(&rng, 7, 99);
    for (int i = 0; i < 40 && !found; i++) {
        double v[5];
        double complex z[64];
        eisnet_simulate(&grid, &rng, 0.01, v, NULL, z);
        eisnet_posterior a, b, c;
        eisnet_posterior_options o;
        eisnet_posterior_options_default(&o);
        assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &a), 0);
        if (!a.is_ran) { /* the boxes converged */
            eisnet_posterior_free(&a);
            continue;
        }
        found = 1;
        printf("ridge spectrum %d: sampling converged %d, ESS %.0f, SE %.2g, %.0f samples\n", i, a.converged,
               a.is_ess, a.is_max_se, a.is_samples);
        assert_int_equal(a.method, 1);
        assert_true(a.converged);
        assert_true(a.is_max_se < 5e-4 && a.is_ess >= 2000);
        check_normalised(&a);
        o.seed = 12345;
        assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &c), 0);
        assert_true(c.converged && c.method == 1);
        double lim = 4 * sqrt(a.is_max_se * a.is_max_se + c.is_max_se * c.is_max_se), worst = 0;
        for (int k = 0; k < grid.n_params * G; k++) worst = fmax(worst, fabs(a.marginal[k] - c.marginal[k]));
        printf("other seed: max |diff| %.2g (limit %.2g)\n", worst, lim);
        assert_true(worst <= lim);
        /* one round on one thread and on two: bit for bit the same */
        eisnet_posterior d;
        o.is_max_evals = 1;
        o.threads = 1;
        assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &b), 0);
        o.threads = 2;
        assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &d), 0);
        assert_true(b.is_ran && b.is_samples == 65536);
        assert_memory_equal(b.marginal, d.marginal, sizeof(double) * (size_t)grid.n_params * G);
        eisnet_posterior_free(&d);
        eisnet_posterior_free(&a);
        eisnet_posterior_free(&b);
        eisnet_posterior_free(&c);
    }
    assert_true(found);
}

/* Spectrum k (from 0) of the simulations of rng stream (seed, stream). */
static void nth_simulation(uint64_t seed, uint64_t stream, int k, double *v, double complex *z)
{
    eisnet_rng rng;
    eisnet_rng_seed(&rng, seed, stream);
    for (int i = 0; i <= k; i++) eisnet_simulate(&grid, &rng, 0.01, v, NULL, z);
}

/* A spectrum whose box rule settles on the wrong peak: Ra and Rb are known
 * and nearly equal, so the two RC elements with their capacitances swapped
 * fit almost as well; the coarse sub-points catch that swapped peak and
 * never come near the true, far higher one. The independent multi-start
 * search must flag it (without sampling: not converged), and the sampling
 * stage must then find the true peak: the truth's cells on top, and an
 * evidence e^200 larger than the boxes' (the two peaks differ by ~276 nats). */
static void test_missed_peak(void **state)
{
    (void)state;
    const uint8_t known[5] = {0, 1, 1, 0, 0};
    int G = grid.n_grid;
    double v[5];
    double complex z[64];
    nth_simulation(5, 77, 93, v, z);
    assert_true(fabs(v[1] / v[2] - 1.18) < 0.01);                                  /* Ra ~ Rb: the swap nearly fits */
    int ca = eisnet_grid_cell(&grid, 3, v[3]), cb = eisnet_grid_cell(&grid, 4, v[4]);
    eisnet_posterior boxes, full;
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    o.sampling = -1;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &boxes), 0);
    assert_true(boxes.peak_missed);
    assert_false(boxes.converged);
    assert_true(boxes.marginal[3 * G + ca] < 1e-6 && boxes.marginal[4 * G + cb] < 1e-6); /* the failure itself */
    o.sampling = 0;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &full), 0);
    assert_true(full.peak_missed && full.is_ran && full.method == 1 && full.converged);
    assert_true(full.marginal[3 * G + ca] > 0.99 && full.marginal[4 * G + cb] > 0.99);
    assert_true(full.log_evidence > boxes.log_evidence + 200);
    /* the best fit is at least as good as the truth's */
    assert_true(full.best_rel_rms <= eisnet_posterior_rel_rms(&grid, z, v) + 1e-9);
    check_normalised(&full);
    eisnet_posterior_free(&boxes);
    eisnet_posterior_free(&full);
}

/* A peak that neither the boxes nor the searches from the best grid
 * completions find (Rsh and Cb known): without starts the boxes converge on
 * a worse fit (misfit 0.0123 against the truth's 0.0106, evidence 20 nats
 * lower) and nothing flags it; with the truth as a start (what evaluate
 * passes) the peak is found, sampled and converged. */
static void test_missed_peak_truth_start(void **state)
{
    (void)state;
    const uint8_t known[5] = {1, 0, 0, 0, 1};
    int G = grid.n_grid;
    double v[5];
    double complex z[64];
    nth_simulation(5, 78, 159, v, z);
    int ra = eisnet_grid_cell(&grid, 1, v[1]);
    eisnet_posterior plain, started;
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &plain), 0);
    assert_false(plain.peak_missed);
    assert_true(plain.marginal[1 * G + ra] < 1e-3);
    assert_true(plain.best_rel_rms > eisnet_posterior_rel_rms(&grid, z, v)); /* worse than the truth fits */
    o.starts = v;
    o.n_starts = 1;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &started), 0);
    assert_true(started.peak_missed && started.method == 1 && started.converged);
    assert_true(started.marginal[1 * G + ra] > 0.3);
    assert_true(started.log_evidence > plain.log_evidence + 15);
    assert_true(started.best_rel_rms <= eisnet_posterior_rel_rms(&grid, z, v) + 1e-9);
    check_normalised(&started);
    eisnet_posterior_free(&plain);
    eisnet_posterior_free(&started);
}

static void test_bad_input(void **state)
{
    (void)state;
    double v[5] = {460, 4820, 2210, 3.7e-6, 3.4e-6};
    double complex z[64];
    eisnet_grid_spectrum(&grid, v, z);
    uint8_t known[5] = {1, 1, 1, 0, 0}, all[5] = {1, 1, 1, 1, 1};
    eisnet_posterior r;
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    o.sigma = 0;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "sigma"));
    assert_null(r.marginal);
    eisnet_posterior_options_default(&o);
    o.max_sub = 12;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &r), -1);
    eisnet_posterior_options_default(&o);
    o.is_max_evals = 0;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, &o, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "sampling budget"));
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, all, NULL, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "known"));
    v[0] = -1;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, NULL, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "Rsh"));
    v[0] = 460;
    z[3] = NAN;
    assert_int_equal(eisnet_posterior_compute(&grid, z, v, known, NULL, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "NaN"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vectors), cmocka_unit_test(test_one_missing_direct),
        cmocka_unit_test(test_normalisation),     cmocka_unit_test(test_argmin),
        cmocka_unit_test(test_inconsistent_known), cmocka_unit_test(test_four_missing),
        cmocka_unit_test(test_sampling_agrees),   cmocka_unit_test(test_sampling_ridge),
        cmocka_unit_test(test_missed_peak),       cmocka_unit_test(test_missed_peak_truth_start),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
