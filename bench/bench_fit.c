/* bench_fit: eisnet's fit on spectra written by bench/fit_scipy.py, timed
 * on one core, plus a reference minimum from many refined starts.
 *
 *   bench_fit SPECTRA.txt [RESTARTS] > fits.jsonl
 *
 * Input: first line "circuit n_freq f_min f_max n_box", then n_box lines
 * "NAME=MIN:MAX" (the box), then one spectrum per line:
 * "sigma truth_1..truth_P re_1 im_1 ... re_n im_n" (truths in circuit order).
 * Output: one JSON line per spectrum with eisnet's values, 95 % intervals,
 * weighted sum of squares and milliseconds (CPU time of the thread, and
 * wall time), in the given box ("box") and in
 * the box derived from the data ("derived"), and "ref_ssr": the best of
 * RESTARTS (100) refinements from random-shifted quasi-random points of the
 * given box, every one of them refined. */
#include "eisnet/error.h"
#include "eisnet/fit.h"
#include "eisnet/progress.h"

#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

/* CPU seconds of the calling thread: on a shared machine the time the fit
 * itself took, which wall time under load overstates. */
static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* JSON number; Python's json reads NaN and Infinity. */
static void num(const char *sep, double v)
{
    if (isnan(v)) printf("%sNaN", sep);
    else if (isinf(v)) printf("%s%sInfinity", sep, v < 0 ? "-" : "");
    else printf("%s%.17g", sep, v);
}

static void print_fit(const char *key, const eisnet_fit_result *r, double ms, double wall_ms)
{
    printf("\"%s\":{\"ssr\":%.17g,\"ms\":%.6g,\"wall_ms\":%.6g,\"values\":[", key, r->ssr, ms, wall_ms);
    for (int j = 0; j < r->n_params; j++) num(j ? "," : "", r->value[j]);
    printf("],\"ci_lo\":[");
    for (int j = 0; j < r->n_params; j++) num(j ? "," : "", r->ci_lo[j]);
    printf("],\"ci_hi\":[");
    for (int j = 0; j < r->n_params; j++) num(j ? "," : "", r->ci_hi[j]);
    printf("]}");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_fit SPECTRA.txt [RESTARTS]\n");
        return 2;
    }
    int restarts = argc > 2 ? atoi(argv[2]) : 100;
    if (restarts < 1 || restarts > EISNET_FIT_MAX_STARTS) {
        fprintf(stderr, "bench_fit: RESTARTS must be 1 to %d\n", EISNET_FIT_MAX_STARTS);
        return 2;
    }
    FILE *fp = fopen(argv[1], "r");
    if (!fp) {
        fprintf(stderr, "bench_fit: cannot open %s\n", argv[1]);
        return 1;
    }
    char circuit[256];
    int n, nbox;
    double f0, f1;
    if (fscanf(fp, "%255s %d %lg %lg %d", circuit, &n, &f0, &f1, &nbox) != 5 || n < 2 || n > 10000 || nbox < 0 ||
        nbox > EISNET_MAX_PARAMS) {
        fprintf(stderr, "bench_fit: bad header in %s\n", argv[1]);
        return 1;
    }
    char boxtext[EISNET_MAX_PARAMS][96];
    const char *box[EISNET_MAX_PARAMS];
    for (int i = 0; i < nbox; i++) {
        if (fscanf(fp, "%95s", boxtext[i]) != 1) return 1;
        box[i] = boxtext[i];
    }
    eisnet_circuit *c = eisnet_circuit_parse(circuit);
    if (!c) {
        fprintf(stderr, "bench_fit: %s\n", eisnet_last_error());
        return 1;
    }
    int P = eisnet_circuit_n_params(c);
    eisnet_circuit_free(c);
    double *f = malloc(sizeof(double) * (size_t)n);
    double complex *z = malloc(sizeof(double complex) * (size_t)n);
    if (!f || !z) return 1;
    for (int k = 0; k < n; k++) f[k] = pow(10.0, log10(f0) + (log10(f1) - log10(f0)) * k / (n - 1));
    double sigma, truth[EISNET_MAX_PARAMS];
    int id = 0;
    while (fscanf(fp, "%lg", &sigma) == 1) {
        for (int j = 0; j < P; j++)
            if (fscanf(fp, "%lg", &truth[j]) != 1) return 1;
        for (int k = 0; k < n; k++) {
            double re, im;
            if (fscanf(fp, "%lg %lg", &re, &im) != 2) return 1;
            z[k] = re + I * im;
        }
        eisnet_fit_options o;
        eisnet_fit_options_default(&o);
        o.circuit = circuit;
        o.seed = (uint64_t)id;
        eisnet_fit_result rb, rd, rr;
        o.ranges = box;
        o.n_ranges = nbox;
        double t0 = eisnet_now(), c0 = thread_cpu();
        int e1 = eisnet_fit(f, z, n, &o, &rb);
        double ms_box = 1e3 * (thread_cpu() - c0), wall_box = 1e3 * (eisnet_now() - t0);
        o.n_ranges = 0;
        t0 = eisnet_now();
        c0 = thread_cpu();
        int e2 = eisnet_fit(f, z, n, &o, &rd);
        double ms_derived = 1e3 * (thread_cpu() - c0), wall_derived = 1e3 * (eisnet_now() - t0);
        /* the reference: every one of `restarts` scan points refined, another seed */
        o.n_ranges = nbox;
        o.scan = restarts;
        o.starts = restarts;
        o.start_separation = 0;
        o.seed = 1000003u + (uint64_t)id;
        int e3 = eisnet_fit(f, z, n, &o, &rr);
        if (e1 || e2 || e3) {
            fprintf(stderr, "bench_fit: spectrum %d: %s\n", id, eisnet_last_error());
            return 1;
        }
        printf("{\"id\":%d,\"sigma\":%g,", id, sigma);
        print_fit("box", &rb, ms_box, wall_box);
        printf(",");
        print_fit("derived", &rd, ms_derived, wall_derived);
        printf(",\"ref_ssr\":%.17g}\n", rr.ssr);
        fflush(stdout);
        eisnet_fit_result_free(&rb);
        eisnet_fit_result_free(&rd);
        eisnet_fit_result_free(&rr);
        id++;
    }
    fclose(fp);
    free(f);
    free(z);
    return 0;
}
