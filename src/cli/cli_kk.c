/* eisnet kk: the linear Kramers-Kronig test of measured spectra. */
#include "cli.h"

#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/kk.h"
#include "eisnet/plot.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fit_name(eisnet_kk_fit f) { return f == EISNET_KK_COMPLEX ? "complex" : f == EISNET_KK_IMAG ? "imag" : "real"; }

static cJSON *array_of(const double *v, int n, int stride, int offset)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[(size_t)i * stride + offset]));
    return a;
}

static int print_json(const char *path, const eisnet_spectrum *s, const eisnet_read_info *info,
                      const eisnet_kk_options *ko, const eisnet_kk_result *r, const char *verdict)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return eisnet_set_error("out of memory");
    const double *zd = (const double *)s->z; /* re, im interleaved */
    cJSON_AddStringToObject(j, "source", path);
    cJSON_AddStringToObject(j, "format", eisnet_format_name(info->format));
    cJSON_AddNumberToObject(j, "n_points", s->n);
    cJSON_AddNumberToObject(j, "n_read", info->n_read);
    cJSON_AddNumberToObject(j, "n_range_dropped", info->n_range_dropped);
    cJSON_AddNumberToObject(j, "n_inductive_dropped", info->n_inductive_dropped);
    cJSON_AddBoolToObject(j, "im_negated", info->im_negated);
    cJSON_AddItemToObject(j, "freq", array_of(s->freq, s->n, 1, 0));
    cJSON_AddItemToObject(j, "z_re", array_of(zd, s->n, 2, 0));
    cJSON_AddItemToObject(j, "z_im", array_of(zd, s->n, 2, 1));
    cJSON_AddStringToObject(j, "fit", fit_name(ko->fit));
    cJSON_AddBoolToObject(j, "add_cap", ko->add_cap);
    cJSON_AddNumberToObject(j, "c", ko->c);
    cJSON_AddNumberToObject(j, "max_M", ko->max_M);
    cJSON_AddNumberToObject(j, "M", r->M);
    cJSON_AddNumberToObject(j, "mu", r->mu);
    cJSON_AddBoolToObject(j, "mu_reached", r->mu_reached);
    cJSON_AddNumberToObject(j, "R_ohm", r->r_ohm);
    cJSON_AddNumberToObject(j, "L", r->L);
    if (ko->add_cap) cJSON_AddNumberToObject(j, "C", r->C);
    cJSON_AddItemToObject(j, "residuals_re", array_of(r->res_re, s->n, 1, 0));
    cJSON_AddItemToObject(j, "residuals_im", array_of(r->res_im, s->n, 1, 0));
    cJSON_AddNumberToObject(j, "max_residual", r->max_res);
    cJSON_AddNumberToObject(j, "rms_residual", r->rms_res);
    cJSON_AddNumberToObject(j, "threshold", ko->threshold);
    cJSON_AddBoolToObject(j, "pass", r->pass);
    cJSON_AddStringToObject(j, "verdict", verdict);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return eisnet_set_error("out of memory");
    puts(text);
    free(text);
    return 0;
}

static void print_text(const char *path, const eisnet_spectrum *s, const eisnet_read_info *info,
                       const eisnet_kk_options *ko, const eisnet_kk_result *r, const char *verdict)
{
    printf("%s: %s, %d points, %.4g..%.4g Hz\n", path, eisnet_format_name(info->format), s->n, s->freq[0],
           s->freq[s->n - 1]);
    printf("linear Kramers-Kronig test (%s fit%s, c = %g): M = %d RC elements, mu = %.4f%s\n", fit_name(ko->fit),
           ko->add_cap ? " with a series capacitor" : "", ko->c, r->M, r->mu,
           r->mu_reached ? "" : " (max_M reached before mu <= c)");
    printf("series R = %.6g Ohm, L = %.6g H", r->r_ohm, r->L);
    if (ko->add_cap) printf(", C = %.6g F", r->C);
    printf("\nresiduals (Z - Z_fit)/|Z|: rms %.3f%%, largest %.3f%%\n", 100 * r->rms_res, 100 * r->max_res);
    printf("%12s %10s %10s\n", "f (Hz)", "re (%)", "im (%)");
    for (int i = s->n - 1; i >= 0; i--)
        printf("%12.5g %10.4f %10.4f%s\n", s->freq[i], 100 * r->res_re[i], 100 * r->res_im[i],
               fmax(fabs(r->res_re[i]), fabs(r->res_im[i])) > ko->threshold ? "  *" : "");
    printf("verdict: %s\n", verdict);
}

static int write_plots(const char *dir, const char *name, const eisnet_spectrum *s, const eisnet_kk_result *r,
                       const eisnet_kk_options *ko)
{
    if (eisnet_ensure_dir(dir) != 0) return -1;
    const int n = s->n, nc = 400;
    double *pct = malloc(sizeof(double) * (size_t)(4 * n + nc + 4));
    double complex *zc = malloc(sizeof(double complex) * (size_t)nc);
    if (!pct || !zc) {
        free(pct);
        free(zc);
        return eisnet_set_error("out of memory");
    }
    double *re = pct, *im = pct + n, *band_f = pct + 2 * n, *fc = pct + 2 * n + 2;
    double *band_hi = pct + 2 * n + 2 + nc, *band_lo = band_hi + 2;
    for (int i = 0; i < n; i++) {
        re[i] = 100 * r->res_re[i];
        im[i] = 100 * r->res_im[i];
    }
    band_f[0] = s->freq[0];
    band_f[1] = s->freq[n - 1];
    band_hi[0] = band_hi[1] = 100 * ko->threshold;
    band_lo[0] = band_lo[1] = -100 * ko->threshold;
    const double l0 = log10(s->freq[0]), l1 = log10(s->freq[n - 1]);
    for (int i = 0; i < nc; i++) fc[i] = pow(10, l0 + (l1 - l0) * i / (nc - 1));
    eisnet_kk_eval(r, fc, nc, zc);
    char title[512], thr[64];
    snprintf(thr, sizeof thr, "±%g %% threshold", 100 * ko->threshold);
    eisnet_plot_series rs[4] = {{"Re residual", s->freq, re, n, EISNET_PLOT_LINE_MARKERS},
                                {"Im residual", s->freq, im, n, EISNET_PLOT_LINE_MARKERS},
                                {thr, band_f, band_hi, 2, EISNET_PLOT_DASHED},
                                {NULL, band_f, band_lo, 2, EISNET_PLOT_DASHED}};
    snprintf(title, sizeof title, "Kramers-Kronig residuals (%s): M = %d, mu = %.3f, %s", name, r->M, r->mu,
             r->pass ? "pass" : "fail");
    eisnet_plot_axes ax = {title, "Frequency (Hz)", "(Z - Z_KK)/|Z| (%)", 1, 0, 0};
    char *p1 = eisnet_path_join(dir, "kk_residuals.svg"), *p2 = eisnet_path_join(dir, "kk_nyquist.svg");
    int rc = (p1 && p2) ? 0 : eisnet_set_error("out of memory");
    if (rc == 0) rc = eisnet_plot_lines(p1, &ax, rs, 4);
    eisnet_plot_spectrum sp[2] = {{"measured", s->freq, s->z, n, EISNET_PLOT_MARKERS},
                                  {"Kramers-Kronig fit", fc, zc, nc, EISNET_PLOT_LINE}};
    snprintf(title, sizeof title, "Nyquist plot with the Kramers-Kronig fit (%s)", name);
    if (rc == 0) rc = eisnet_plot_nyquist(p2, title, sp, 2);
    free(p1);
    free(p2);
    free(pct);
    free(zc);
    return rc;
}

static int kk_options(const cli_options *o, eisnet_kk_options *ko)
{
    eisnet_kk_options_default(ko);
    if (!(o->kk_c >= -1e300) || !isfinite(o->kk_c) || o->kk_c > 1)
        return eisnet_set_error("--c must be a number <= 1 (got %g)", o->kk_c);
    if (o->kk_max_m < 1 || o->kk_max_m > 10000) return eisnet_set_error("--max_M must be 1..10000 (got %d)", o->kk_max_m);
    if (!(o->kk_threshold > 0) || !isfinite(o->kk_threshold))
        return eisnet_set_error("--threshold must be a number > 0 (got %g)", o->kk_threshold);
    if (strcmp(o->kk_fit, "real") == 0) ko->fit = EISNET_KK_REAL;
    else if (strcmp(o->kk_fit, "complex") == 0) ko->fit = EISNET_KK_COMPLEX;
    else if (strcmp(o->kk_fit, "imag") == 0) ko->fit = EISNET_KK_IMAG;
    else return eisnet_set_error("--fit must be real, complex or imag (got '%s')", o->kk_fit);
    ko->c = o->kk_c;
    ko->max_M = o->kk_max_m;
    ko->add_cap = o->kk_add_cap;
    ko->threshold = o->kk_threshold;
    return 0;
}

int cli_kk(cli_options *o)
{
    eisnet_kk_options ko;
    if (kk_options(o, &ko) != 0) {
        fprintf(stderr, "eisnet kk: %s\n", eisnet_last_error());
        return 2;
    }
    if (o->n_spectra == 0) {
        fprintf(stderr, "eisnet kk: --spectrum FILE is required\n");
        return 2;
    }
    char **files = NULL;
    int n_files = 0, rc = 0;
    if (cli_collect_spectra(o, &files, &n_files) != 0) {
        fprintf(stderr, "eisnet kk: %s\n", eisnet_last_error());
        return 1;
    }
    for (int i = 0; i < n_files; i++) {
        const char *path = files[i];
        eisnet_spectrum s;
        eisnet_read_info info;
        eisnet_kk_result r;
        if (cli_read_spectrum(o, path, &s, &info) != 0) {
            fprintf(stderr, "eisnet kk: %s\n", eisnet_last_error());
            rc = 1;
            continue;
        }
        if (eisnet_kk_test(s.freq, s.z, s.n, &ko, &r) != 0) {
            fprintf(stderr, "eisnet kk: %s: %s\n", path, eisnet_last_error());
            eisnet_spectrum_free(&s);
            rc = 1;
            continue;
        }
        char verdict[768];
        eisnet_kk_verdict(&r, &ko, s.freq, verdict, sizeof verdict);
        if (o->json) {
            if (print_json(path, &s, &info, &ko, &r, verdict) != 0) rc = 1;
        } else {
            if (i > 0) putchar('\n');
            print_text(path, &s, &info, &ko, &r, verdict);
        }
        if (o->plots) {
            const char *base = strrchr(path, '/');
            base = base ? base + 1 : path;
            char *sub = n_files > 1 ? eisnet_path_join(o->plots, base) : NULL;
            if (write_plots(sub ? sub : o->plots, base, &s, &r, &ko) != 0) {
                fprintf(stderr, "eisnet kk: %s\n", eisnet_last_error());
                rc = 1;
            }
            free(sub);
        }
        eisnet_kk_result_free(&r);
        eisnet_spectrum_free(&s);
    }
    for (int i = 0; i < n_files; i++) free(files[i]);
    free(files);
    return rc;
}
