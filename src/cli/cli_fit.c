/* eisnet fit: least-squares fit of a circuit to measured spectra, with no
 * initial guess. One spectrum: a table (or JSON with --json) and optional
 * SVG plots. Several spectra (or a directory of spectrum files): one JSON line each,
 * fitted in parallel. */
#include "cli.h"

#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/fit.h"
#include "eisnet/infer.h"
#include "eisnet/plot.h"
#include "eisnet/progress.h"
#include "eisnet/spectrum.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static void free_list(char **list, int n)
{
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

/* ---- JSON ------------------------------------------------------------------ */

static cJSON *values_object(const eisnet_fit_result *r, const double *v)
{
    cJSON *o = cJSON_CreateObject();
    for (int j = 0; j < r->n_params; j++) cJSON_AddNumberToObject(o, r->names[j], v[j]);
    return o;
}

static cJSON *result_json(const eisnet_fit_result *r, const char *source, const char *weighting)
{
    cJSON *root = cJSON_CreateObject();
    if (source) cJSON_AddStringToObject(root, "spectrum", source);
    cJSON_AddStringToObject(root, "circuit", r->circuit);
    cJSON_AddStringToObject(root, "weighting", weighting);
    cJSON *params = cJSON_AddObjectToObject(root, "parameters");
    for (int j = 0; j < r->n_params; j++) {
        cJSON *p = cJSON_AddObjectToObject(params, r->names[j]);
        cJSON_AddNumberToObject(p, "value", r->value[j]);
        cJSON_AddNumberToObject(p, "stderr", r->stderr_[j]);
        double ci[2] = {r->ci_lo[j], r->ci_hi[j]}, box[2] = {r->lo[j], r->hi[j]};
        cJSON_AddItemToObject(p, "ci95", cJSON_CreateDoubleArray(ci, 2));
        cJSON_AddStringToObject(p, "unit", r->units[j]);
        cJSON_AddBoolToObject(p, "known", r->known[j]);
        cJSON_AddItemToObject(p, "box", cJSON_CreateDoubleArray(box, 2));
        cJSON_AddBoolToObject(p, "at_bound", r->at_bound[j]);
    }
    cJSON_AddNumberToObject(root, "chi2", r->chi2);
    cJSON_AddNumberToObject(root, "chi2_reduced", r->chi2_reduced);
    cJSON_AddNumberToObject(root, "aic", r->aic);
    cJSON_AddNumberToObject(root, "bic", r->bic);
    cJSON_AddNumberToObject(root, "ssr", r->ssr);
    cJSON_AddNumberToObject(root, "n_data", r->n_data);
    cJSON_AddNumberToObject(root, "n_free", r->n_free);
    cJSON_AddNumberToObject(root, "best_from_model_start", r->best_from_start_point);
    cJSON *corr = cJSON_AddObjectToObject(root, "correlation");
    cJSON *names = cJSON_AddArrayToObject(corr, "names");
    cJSON *mat = cJSON_AddArrayToObject(corr, "matrix");
    for (int j = 0; j < r->n_params; j++) {
        if (r->known[j]) continue;
        cJSON_AddItemToArray(names, cJSON_CreateString(r->names[j]));
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < r->n_params; i++)
            if (!r->known[i]) cJSON_AddItemToArray(row, cJSON_CreateNumber(r->corr[j * r->n_params + i]));
        cJSON_AddItemToArray(mat, row);
    }
    cJSON *sols = cJSON_AddArrayToObject(root, "solutions");
    for (int s = 0; s < r->n_solutions; s++) {
        const eisnet_fit_solution *so = &r->solutions[s];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "parameters", values_object(r, so->values));
        cJSON_AddNumberToObject(o, "chi2", so->chi2);
        if (s == 0) cJSON_AddStringToObject(o, "kind", "best");
        else if (so->equivalent_to >= 0) {
            cJSON_AddStringToObject(o, "kind", "equivalent");
            cJSON_AddNumberToObject(o, "equivalent_to", so->equivalent_to);
            cJSON_AddStringToObject(o, "symmetry", so->symmetry);
        } else cJSON_AddStringToObject(o, "kind", "local_minimum");
        cJSON_AddItemToArray(sols, o);
    }
    cJSON *res = cJSON_AddObjectToObject(root, "residuals");
    cJSON_AddItemToObject(res, "freq", cJSON_CreateDoubleArray(r->freq, r->n_freq));
    cJSON_AddItemToObject(res, "relative_re", cJSON_CreateDoubleArray(r->rel_re, r->n_freq));
    cJSON_AddItemToObject(res, "relative_im", cJSON_CreateDoubleArray(r->rel_im, r->n_freq));
    return root;
}

/* ---- table ------------------------------------------------------------------ */

static void print_table(const eisnet_fit_result *r, const char *source, const char *weighting)
{
    printf("spectrum %s: %d frequencies, %.4g to %.4g Hz\n", source, r->n_freq, r->freq[0], r->freq[r->n_freq - 1]);
    printf("circuit %s, %d free of %d parameters, %s weighting\n\n", r->circuit, r->n_free, r->n_params, weighting);
    printf("%-10s %13s %12s %9s   %-29s %s\n", "parameter", "value", "std. error", "rel.", "95 % interval", "box");
    for (int j = 0; j < r->n_params; j++) {
        char ci[64], box[64];
        snprintf(box, sizeof box, "[%.3g, %.3g]", r->lo[j], r->hi[j]);
        if (r->known[j]) {
            printf("%-10s %13.6g %12s %9s   %-29s %s %s\n", r->names[j], r->value[j], "known", "", "", "", r->units[j]);
            continue;
        }
        snprintf(ci, sizeof ci, "[%.6g, %.6g]", r->ci_lo[j], r->ci_hi[j]);
        /* an interval wider than a decade: the data hardly fix this parameter */
        int loose = !(r->ci_hi[j] < 10 * r->ci_lo[j]);
        printf("%-10s %13.6g %12.4g %8.2f%%   %-29s %-22s %s%s%s\n", r->names[j], r->value[j], r->stderr_[j],
               100 * r->stderr_[j] / r->value[j], ci, box, r->units[j], r->at_bound[j] ? "  (at the box edge)" : "",
               loose ? "  (poorly determined)" : "");
    }
    if (r->best_from_start_point >= 0)
        printf("\nthe best minimum was reached from the network's completion %d\n", r->best_from_start_point + 1);
    printf("\nchi2 %.6g, reduced chi2 %.6g (%d data, %d free), AIC %.6g, BIC %.6g\n", r->chi2, r->chi2_reduced,
           r->n_data, r->n_free, r->aic, r->bic);
    if (r->n_free > 1) {
        printf("\ncorrelation\n%-10s", "");
        for (int i = 0; i < r->n_params; i++)
            if (!r->known[i]) printf(" %8s", r->names[i]);
        printf("\n");
        for (int j = 0; j < r->n_params; j++) {
            if (r->known[j]) continue;
            printf("%-10s", r->names[j]);
            for (int i = 0; i < r->n_params; i++)
                if (!r->known[i]) printf(" %8.3f", r->corr[j * r->n_params + i]);
            printf("\n");
        }
    }
    printf("\nsolutions (chi2)\n");
    for (int s = 0; s < r->n_solutions; s++) {
        const eisnet_fit_solution *so = &r->solutions[s];
        printf("  %2d  %-12.6g ", s + 1, so->chi2);
        if (s == 0) printf("best");
        else if (so->equivalent_to >= 0) printf("equivalent to %d (%s)", so->equivalent_to + 1, so->symmetry);
        else {
            printf("local minimum:");
            for (int j = 0; j < r->n_params; j++)
                if (!r->known[j]) printf(" %s=%.4g", r->names[j], so->values[j]);
        }
        printf("\n");
    }
    printf("\nresiduals (Zfit - Z) / |Z| in %%\n%12s %9s %9s\n", "f (Hz)", "Re", "Im");
    for (int k = 0; k < r->n_freq; k++)
        printf("%12.5g %9.4f %9.4f\n", r->freq[k], 100 * r->rel_re[k], 100 * r->rel_im[k]);
}

/* ---- plots ------------------------------------------------------------------ */

static int write_plots(const char *dir, const eisnet_fit_result *r)
{
    if (eisnet_ensure_dir(dir) != 0) return -1;
    enum { M = 240 };
    double f[M], w[M];
    double complex zf[M];
    double l0 = log10(r->freq[0]), l1 = log10(r->freq[r->n_freq - 1]);
    for (int k = 0; k < M; k++) {
        f[k] = pow(10.0, l0 + (l1 - l0) * k / (M - 1));
        w[k] = 2 * M_PI * f[k];
    }
    eisnet_circuit *c = eisnet_circuit_parse(r->circuit);
    if (!c) return -1;
    eisnet_circuit_eval(c, r->value, w, M, zf);
    eisnet_circuit_free(c);
    eisnet_plot_spectrum s[2] = {{"data", r->freq, r->z, r->n_freq, EISNET_PLOT_MARKERS},
                                 {"fit", f, zf, M, EISNET_PLOT_LINE}};
    char title[320];
    snprintf(title, sizeof title, "fit of %s", r->circuit);
    int rc = 0;
    char *p = eisnet_path_join(dir, "nyquist.svg");
    rc |= p ? eisnet_plot_nyquist(p, title, s, 2) : -1;
    free(p);
    p = eisnet_path_join(dir, "bode.svg");
    rc |= p ? eisnet_plot_bode(p, title, s, 2) : -1;
    free(p);
    /* |Z| of data and fit over the relative residuals in percent */
    double *md = malloc(sizeof(double) * (size_t)r->n_freq * 3), mf[M];
    if (!md) return eisnet_set_error("out of memory");
    double *re = md + r->n_freq, *im = re + r->n_freq;
    for (int k = 0; k < r->n_freq; k++) {
        md[k] = cabs(r->z[k]);
        re[k] = 100 * r->rel_re[k];
        im[k] = 100 * r->rel_im[k];
    }
    for (int k = 0; k < M; k++) mf[k] = cabs(zf[k]);
    eisnet_plot_series top[2] = {{"data", r->freq, md, r->n_freq, EISNET_PLOT_MARKERS},
                                 {"fit", f, mf, M, EISNET_PLOT_LINE}};
    eisnet_plot_series bot[2] = {{"Re", r->freq, re, r->n_freq, EISNET_PLOT_LINE_MARKERS},
                                 {"Im", r->freq, im, r->n_freq, EISNET_PLOT_LINE_MARKERS}};
    eisnet_plot_axes at = {NULL, NULL, "|Z| (Ω)", 1, 1, 0}, ab = {NULL, "Frequency (Hz)", "(Zfit − Z)/|Z| (%)", 1, 0, 0};
    p = eisnet_path_join(dir, "residuals.svg");
    rc |= p ? eisnet_plot_lines2(p, title, &at, top, 2, &ab, bot, 2) : -1;
    free(p);
    free(md);
    return rc ? -1 : 0;
}

/* ---- driver ------------------------------------------------------------------ */

/* Starts from a network: its `k` most probable completions of the missing
 * parameters given --known, in circuit order, into pts (k x n_params).
 * Returns how many, or -1 with the error set. */
static int model_starts(const eisnet_predictor *pr, const eisnet_spectrum *s, const char *known_text, int k,
                        double *pts)
{
    const eisnet_grid *g = &pr->grid;
    double values[EISNET_MAX_PARAMS], v[EISNET_MAX_PARAMS];
    uint8_t known[EISNET_MAX_PARAMS];
    if (eisnet_parse_known(g, known_text, values, known) != 0) return -1;
    double complex *z = malloc(sizeof(double complex) * (size_t)g->n_freq);
    if (!z) return eisnet_set_error("out of memory");
    eisnet_inference inf;
    int n = -1;
    if (eisnet_spectrum_interpolate(s, g->freq, g->n_freq, 0, z) == 0 &&
        eisnet_infer(pr, z, values, known, k, 0, 0, &inf) == 0) {
        n = inf.k;
        for (int r = 0; r < n; r++) {
            eisnet_inference_completion(pr, &inf, r, v);
            for (int i = 0; i < g->n_params; i++) pts[(size_t)r * (size_t)g->n_params + (size_t)g->circuit_index[i]] = v[i];
        }
        eisnet_inference_free(&inf);
    }
    free(z);
    return n;
}

static int fit_file(const cli_options *cli, const char *path, const eisnet_fit_options *fo, const eisnet_predictor *pr,
                    eisnet_fit_result *r)
{
    eisnet_spectrum s = {0};
    if (cli_read_spectrum(cli, path, &s, NULL) != 0) return -1;
    if (!cli->quiet) cli_kk_warning("fit", &s, path);
    eisnet_fit_options o = *fo;
    double pts[64 * EISNET_MAX_PARAMS];
    int rc = 0;
    if (pr) {
        /* the network's scratch memory is shared: one spectrum at a time */
        int n;
#ifdef EISNET_HAVE_OPENMP
#pragma omp critical(fit_model_starts)
#endif
        n = model_starts(pr, &s, fo->known, fo->starts, pts);
        if (n < 0) rc = -1;
        o.start_points = pts;
        o.n_start_points = n > 0 ? n : 0;
    }
    if (rc == 0) rc = eisnet_fit(s.freq, s.z, s.n, &o, r);
    if (rc != 0) eisnet_prefix_error("%s: ", path);
    eisnet_spectrum_free(&s);
    return rc;
}

static char *error_line(const char *path, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "spectrum", path);
    cJSON_AddStringToObject(o, "error", msg);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

static int cli_fit_run(const cli_options *o, const eisnet_fit_options *fop, const eisnet_predictor *pr);

int cli_fit(cli_options *o)
{
    if (!eisnet_fit_available()) {
        fprintf(stderr, "eisnet fit: this eisnet was built without GSL, which the fit needs "
                        "(install libgsl-dev and rebuild)\n");
        return 1;
    }
    if (o->n_spectra == 0) {
        fprintf(stderr, "eisnet fit: --spectrum is required (a CSV file freq,Re,Im or a directory of them)\n");
        return 2;
    }
    eisnet_fit_options fo;
    eisnet_fit_options_default(&fo);
    int wt = eisnet_fit_weighting_parse(o->fit_weighting);
    if (wt < 0) {
        fprintf(stderr, "eisnet fit: --weighting must be modulus, unit or proportional (got '%s')\n", o->fit_weighting);
        return 2;
    }
    if (o->fit_starts < 1 || o->fit_starts > 64) {
        fprintf(stderr, "eisnet fit: --starts must be between 1 and 64 (got %d)\n", o->fit_starts);
        return 2;
    }
    if (!(o->fit_sigma >= 0) || !isfinite(o->fit_sigma)) {
        fprintf(stderr, "eisnet fit: --sigma must be a non-negative number (got %g)\n", o->fit_sigma);
        return 2;
    }
    if (o->threads < 0) {
        fprintf(stderr, "eisnet fit: --threads must be at least 1 (got %d)\n", o->threads);
        return 2;
    }
    fo.circuit = o->circuit;
    fo.known = o->known;
    fo.ranges = o->ranges;
    fo.n_ranges = o->n_ranges;
    fo.sigma = o->fit_sigma;
    fo.weighting = (eisnet_fit_weighting)wt;
    fo.starts = o->fit_starts;
    fo.seed = o->seed;
    eisnet_predictor pred, *pr = NULL;
    if (o->model_path) {
        if (!o->known) {
            fprintf(stderr, "eisnet fit: --model needs --known (the network completes the parameters not measured)\n");
            return 2;
        }
        if (eisnet_predictor_load(&pred, o->model_path) != 0) {
            fprintf(stderr, "eisnet fit: --model %s: %s\n", o->model_path, eisnet_last_error());
            return 2;
        }
        pr = &pred;
        const char *mine = strcmp(o->circuit, "series") == 0     ? "R0-p(R1,C1)-p(R2,C2)"
                           : strcmp(o->circuit, "parallel") == 0 ? "p(R0,p(R1,C1)-p(R2,C2))"
                                                                 : o->circuit;
        if (strcmp(mine, eisnet_circuit_text(pred.grid.circuit)) != 0) {
            fprintf(stderr, "eisnet fit: --model %s is for circuit %s, not %s\n", o->model_path,
                    eisnet_circuit_text(pred.grid.circuit), mine);
            eisnet_predictor_free(&pred);
            return 2;
        }
    }
    int rc_all = cli_fit_run(o, &fo, pr);
    if (pr) eisnet_predictor_free(pr);
    return rc_all;
}

static int cli_fit_run(const cli_options *o, const eisnet_fit_options *fop, const eisnet_predictor *pr)
{
    eisnet_fit_options fo = *fop;
    char **files;
    int nfiles;
    if (cli_collect_spectra(o, &files, &nfiles) != 0) {
        fprintf(stderr, "eisnet fit: %s\n", eisnet_last_error());
        return 2;
    }
    const char *wname = eisnet_fit_weighting_name(fo.weighting);
    int many = nfiles > 1 || o->n_spectra > 1;
    if (!many) {
        eisnet_fit_result r;
        int rc = fit_file(o, files[0], &fo, pr, &r);
        if (rc != 0) {
            fprintf(stderr, "eisnet fit: %s\n", eisnet_last_error());
            free_list(files, nfiles);
            return 1;
        }
        if (o->plots && write_plots(o->plots, &r) != 0) {
            fprintf(stderr, "eisnet fit: plots: %s\n", eisnet_last_error());
            rc = 1;
        }
        if (rc == 0) {
            if (o->json) {
                cJSON *j = result_json(&r, files[0], wname);
                char *t = cJSON_PrintUnformatted(j);
                if (t) printf("%s\n", t);
                free(t);
                cJSON_Delete(j);
            } else print_table(&r, files[0], wname);
            if (o->plots && !o->quiet) fprintf(stderr, "plots: %s/{nyquist,bode,residuals}.svg\n", o->plots);
        }
        eisnet_fit_result_free(&r);
        free_list(files, nfiles);
        return rc;
    }
    /* many spectra: one JSON line each, in input order, fitted in parallel */
    if (o->plots) {
        fprintf(stderr, "eisnet fit: --plots takes a single spectrum (got %d)\n", nfiles);
        free_list(files, nfiles);
        return 2;
    }
    char **lines = calloc((size_t)nfiles, sizeof *lines);
    int *failed = calloc((size_t)nfiles, sizeof *failed);
    if (!lines || !failed) {
        free(lines);
        free(failed);
        free_list(files, nfiles);
        fprintf(stderr, "eisnet fit: out of memory\n");
        return 1;
    }
    eisnet_progress prog;
    eisnet_progress_begin(&prog, "fit", "spectra", (uint64_t)nfiles, o->quiet);
    int done = 0;
#ifdef EISNET_HAVE_OPENMP
    if (o->threads > 0) omp_set_num_threads(o->threads);
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (int i = 0; i < nfiles; i++) {
        eisnet_fit_result r;
        if (fit_file(o, files[i], &fo, pr, &r) != 0) {
            lines[i] = error_line(files[i], eisnet_last_error());
            failed[i] = 1;
        } else {
            cJSON *j = result_json(&r, files[i], wname);
            lines[i] = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            eisnet_fit_result_free(&r);
        }
#ifdef EISNET_HAVE_OPENMP
#pragma omp critical(fit_progress)
#endif
        eisnet_progress_update(&prog, (uint64_t)++done);
    }
    eisnet_progress_end(&prog);
    int n_failed = 0;
    for (int i = 0; i < nfiles; i++) {
        if (lines[i]) printf("%s\n", lines[i]);
        n_failed += failed[i];
        free(lines[i]);
    }
    if (n_failed && !o->quiet) fprintf(stderr, "eisnet fit: %d of %d spectra failed (see their \"error\")\n", n_failed, nfiles);
    free(lines);
    free(failed);
    free_list(files, nfiles);
    return n_failed ? 1 : 0;
}
