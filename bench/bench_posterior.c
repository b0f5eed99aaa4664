/* Cost and convergence of the exact cell posterior (series circuit, default
 * grid, sigma 1 %, one thread).
 *
 * Usage: bench_posterior [n]   (default 100 simulated spectra per mask)
 *
 * Part 1: per mask (1, 2, 3 missing), mean wall time per spectrum, spectra
 * evaluated, share converged (in all; by the box rule alone), share that
 * ran the sampling stage, the largest standard error of a sampled answer. Part 2: on the n spectra of the mask knowing
 * Rsh, Ra, Rb (Ca, Cb missing: the sharp case), the box rule alone capped at 8, 16,
 * 32, 64 sub-points per cell and dimension against the uncapped rule: the
 * largest and mean |marginal difference| and the mean KL(uncapped || capped). */
#include "eisnet/evaluate.h"
#include "eisnet/posterior.h"
#include "eisnet/simulate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (n < 1) n = 1;
    eisnet_grid g;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    if (eisnet_grid_init(&g, &go) != 0) return 1;
    int F = g.n_freq, P = g.n_params, G = g.n_grid;
    double *v = malloc(sizeof(double) * (size_t)n * P);
    double complex *z = malloc(sizeof(double complex) * (size_t)n * F);
    eisnet_rng r;
    eisnet_rng_seed(&r, 7, 99);
    for (int i = 0; i < n; i++) eisnet_simulate(&g, &r, 0.01, v + (size_t)i * P, NULL, z + (size_t)i * F);
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    o.threads = 1;
    static const struct {
        const char *name;
        uint8_t known[5];
    } masks[] = {{"Rsh,Ra,Rb,Ca", {1, 1, 1, 1, 0}}, {"Rsh,Ra,Rb", {1, 1, 1, 0, 0}}, {"Rsh,Ca,Cb", {1, 0, 0, 1, 1}},
                 {"Ra,Rb,Cb", {0, 1, 1, 0, 1}},     {"Rsh,Ra", {1, 1, 0, 0, 0}},     {"Ca,Cb", {0, 0, 0, 1, 1}},
                 {"Ra,Rb", {0, 1, 1, 0, 0}}};
    printf("part 1: cost per spectrum (%d spectra per mask, sigma 0.01, one thread, tol %g)\n", n, o.tol);
    printf("%-14s %7s %10s %12s %10s %10s %10s %9s\n", "known", "missing", "ms", "evaluations", "converged",
           "by boxes", "sampled", "max SE");
    for (size_t k = 0; k < sizeof masks / sizeof masks[0]; k++) {
        double t = 0, ev = 0, conv = 0, boxes = 0, sampled = 0, se = 0;
        int miss = 0;
        for (int p = 0; p < P; p++) miss += !masks[k].known[p];
        for (int i = 0; i < n; i++) {
            eisnet_posterior pr;
            double t0 = now();
            if (eisnet_posterior_compute(&g, z + (size_t)i * F, v + (size_t)i * P, masks[k].known, &o, &pr) != 0)
                return 1;
            t += now() - t0;
            ev += pr.n_evals;
            conv += pr.converged;
            boxes += !pr.is_ran && pr.converged;
            sampled += pr.is_ran;
            if (pr.method == 1) se = fmax(se, pr.is_max_se);
            eisnet_posterior_free(&pr);
        }
        printf("%-14s %7d %10.2f %12.0f %9.0f%% %9.0f%% %9.0f%% %9.2g\n", masks[k].name, miss, 1e3 * t / n, ev / n,
               100 * conv / n, 100 * boxes / n, 100 * sampled / n, se);
    }
    printf("\npart 2: capped sub-points against the uncapped rule, known Rsh,Ra,Rb (Ca, Cb missing)\n");
    printf("%6s %14s %14s %16s %10s\n", "cap", "max |diff|", "mean |diff|", "mean KL (nats)", "ms");
    double *ref = malloc(sizeof(double) * (size_t)n * P * G);
    for (int i = 0; i < n; i++) {
        eisnet_posterior pr;
        if (eisnet_posterior_compute(&g, z + (size_t)i * F, v + (size_t)i * P, masks[1].known, &o, &pr) != 0) return 1;
        memcpy(ref + (size_t)i * P * G, pr.marginal, sizeof(double) * (size_t)P * G);
        eisnet_posterior_free(&pr);
    }
    for (int cap = 8; cap <= 64; cap *= 2) {
        eisnet_posterior_options oc = o;
        oc.max_sub = cap;
        oc.sampling = -1; /* the capped box rule alone */
        double mx = 0, mean = 0, kl = 0, t = 0;
        for (int i = 0; i < n; i++) {
            eisnet_posterior pr;
            double t0 = now();
            if (eisnet_posterior_compute(&g, z + (size_t)i * F, v + (size_t)i * P, masks[1].known, &oc, &pr) != 0)
                return 1;
            t += now() - t0;
            for (int p = 3; p < 5; p++) {
                const double *a = ref + (size_t)i * P * G + p * G, *b = pr.marginal + p * G;
                for (int c = 0; c < G; c++) {
                    mx = fmax(mx, fabs(a[c] - b[c]));
                    mean += fabs(a[c] - b[c]) / (2.0 * G * n);
                }
                kl += eisnet_kl(a, b, G) / (2.0 * n);
            }
            eisnet_posterior_free(&pr);
        }
        printf("%6d %14.3g %14.3g %16.3g %10.2f\n", cap, mx, mean, kl, 1e3 * t / n);
    }
    free(ref);
    free(v);
    free(z);
    eisnet_grid_free(&g);
    return 0;
}
