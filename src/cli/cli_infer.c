/* eisnet infer and eisnet full. */
#include "cli.h"
#include "eisnet/circuit.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/infer.h"
#include "cli_backend.h"
#include "eisnet/kk.h"
#include "eisnet/plot.h"
#include "eisnet/scale.h"
#include "eisnet/spectrum.h"
#include "eisnet/train.h"
#include "eisnet/units.h"

#include <cjson/cJSON.h>

#include <dirent.h>

#define M_PI_LOCAL 3.14159265358979323846
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A file name the readers take from a directory: CSV or an instrument
 * export (.txt .dta .mpt .z .par), by extension, any case. */
static int spectrum_name(const char *name)
{
    static const char *const ext[] = {".csv", ".txt", ".dta", ".mpt", ".z", ".par"};
    size_t L = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (L > e && strcasecmp(name + L - e, ext[i]) == 0) return 1;
    }
    return 0;
}

/* --spectrum arguments: files, or directories of spectrum files (sorted). */
int cli_collect_spectra(const cli_options *o, char ***out, int *n)
{
    int cap = 16, k = 0;
    char **list = malloc(sizeof(char *) * (size_t)cap);
    if (!list) return eisnet_set_error("out of memory");
    for (int i = 0; i < o->n_spectra; i++) {
        struct stat st;
        if (stat(o->spectra[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(o->spectra[i]);
            if (!d) {
                for (int j = 0; j < k; j++) free(list[j]);
                free(list);
                return eisnet_set_error("cannot read directory %s", o->spectra[i]);
            }
            int first = k;
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.' || !spectrum_name(e->d_name)) continue;
                if (k == cap) {
                    cap *= 2;
                    char **nl = realloc(list, sizeof(char *) * (size_t)cap);
                    if (!nl) break;
                    list = nl;
                }
                list[k++] = eisnet_path_join(o->spectra[i], e->d_name);
            }
            closedir(d);
            qsort(list + first, (size_t)(k - first), sizeof(char *), cmp_str);
            if (k == first) {
                for (int j = 0; j < k; j++) free(list[j]);
                free(list);
                return eisnet_set_error("no spectrum files (*.csv, *.txt, *.dta, *.mpt, *.z, *.par) in directory %s",
                                        o->spectra[i]);
            }
        } else {
            if (k == cap) {
                cap *= 2;
                char **nl = realloc(list, sizeof(char *) * (size_t)cap);
                if (!nl) break;
                list = nl;
            }
            list[k] = malloc(strlen(o->spectra[i]) + 1);
            if (list[k]) strcpy(list[k], o->spectra[i]);
            k++;
        }
    }
    *out = list;
    *n = k;
    return 0;
}

static const char *unit_label(const eisnet_grid *g, int p)
{
    /* the tick labels carry the units (engineering notation) */
    return g->names[p];
}

#define CURVE_POINTS 300

/* A model's spectrum at n log-spaced frequencies over [f0, f1] (smooth curves). */
static void dense_spectrum(const eisnet_grid *g, const double *v, double f0, double f1, int n, double *f,
                           double complex *z)
{
    double cv[EISNET_MAX_PARAMS] = {0}, w[CURVE_POINTS];
    for (int p = 0; p < g->n_params; p++) cv[g->circuit_index[p]] = v[p];
    for (int i = 0; i < n; i++) {
        f[i] = f0 * pow(f1 / f0, (double)i / (n - 1));
        w[i] = 2 * M_PI_LOCAL * f[i];
    }
    eisnet_circuit_eval(g->circuit, cv, w, (size_t)n, z);
}

/* joint: a joint distribution of the two missing parameters to draw,
 * joint[a * G + b] with a the grid index of the first missing parameter (the
 * JSON's "joint_distribution" layout), e.g. the exact posterior's; NULL draws
 * the product of the network's marginals. */
static int write_plots(const char *dir, const eisnet_predictor *pr, const eisnet_inference *r, const double complex *z,
                       const char *label, const eisnet_spectrum *raw, const double *joint_given)
{
    const eisnet_grid *g = &pr->grid;
    int G = g->n_grid, m = r->n_missing, rc = 0;
    if (eisnet_ensure_dir(dir) != 0) return -1;
    static char ticks[EISNET_MAX_PARAMS][100][24];
    const char *tick_ptr[EISNET_MAX_PARAMS][100];
    for (int p = 0; p < g->n_params; p++)
        for (int c = 0; c < G && c < 100; c++) {
            eisnet_fmt_eng(ticks[p][c], sizeof ticks[p][c], g->values[(size_t)p * G + c], g->units[p], 3);
            tick_ptr[p][c] = ticks[p][c];
        }
    char title[256], *path;
    if (m == 2) {
        /* x: the first missing parameter, y: the second, as the table's columns */
        int px = r->missing[0], py = r->missing[1], k = r->k < 10 ? r->k : 10;
        double *joint = malloc(sizeof(double) * (size_t)G * G);
        int tx[10], ty[10];
        double tp[10];
        if (!joint) return eisnet_set_error("out of memory");
        for (int iy = 0; iy < G; iy++)
            for (int ix = 0; ix < G; ix++)
                joint[iy * G + ix] = joint_given ? joint_given[ix * G + iy]
                                                 : r->probs[(size_t)px * G + ix] * r->probs[(size_t)py * G + iy];
        for (int i = 0; i < k; i++) {
            tx[i] = r->top_idx[i * 2];
            ty[i] = r->top_idx[i * 2 + 1];
            tp[i] = r->top_p[i];
        }
        snprintf(title, sizeof title, "Joint probability of %s and %s (%s%s)", g->names[px], g->names[py], label,
                 joint_given ? "" : "; product of the marginals");
        path = eisnet_path_join(dir, "joint.svg");
        rc = path ? eisnet_plot_joint(path, title, unit_label(g, px), unit_label(g, py), tick_ptr[px], tick_ptr[py],
                                      joint, G, G, tx, ty, tp, joint_given ? 0 : k)
                  : -1;
        free(path);
        free(joint);
        if (rc != 0) return rc;
    }
    for (int i = 0; i < m; i++) {
        int p = r->missing[i], hi = 0;
        for (int c = 1; c < G; c++)
            if (r->probs[(size_t)p * G + c] > r->probs[(size_t)p * G + hi]) hi = c;
        char name[96];
        snprintf(name, sizeof name, "marginal_%s.svg", g->names[p]);
        snprintf(title, sizeof title, "Marginal distribution of %s (%s)", g->names[p], label);
        path = eisnet_path_join(dir, name);
        rc = path ? eisnet_plot_bars(path, title, unit_label(g, p), "probability", tick_ptr[p], r->probs + (size_t)p * G,
                                     r->has_exact ? r->exact + (size_t)p * G : NULL, "network", "exact posterior", G, hi)
                  : -1;
        free(path);
        if (rc != 0) return rc;
    }
    /* the measured points (as read, not interpolated) against the most
     * probable completion, drawn as smooth curves */
    const double *mf = raw ? raw->freq : g->freq;
    const double complex *mz = raw ? raw->z : z;
    const int mn = raw ? raw->n : g->n_freq;
    const double f0 = fmin(mf[0], g->freq[0]), f1 = fmax(mf[mn - 1], g->freq[g->n_freq - 1]);
    double v[EISNET_MAX_PARAMS], fc[CURVE_POINTS];
    double complex *zm = malloc(sizeof(double complex) * CURVE_POINTS);
    double complex *zb = malloc(sizeof(double complex) * CURVE_POINTS);
    if (!zm || !zb) {
        free(zm);
        free(zb);
        return eisnet_set_error("out of memory");
    }
    eisnet_inference_completion(pr, r, 0, v);
    dense_spectrum(g, v, f0, f1, CURVE_POINTS, fc, zm);
    char comp[256] = "most probable completion (network):";
    for (int i = 0; i < m; i++) {
        size_t L = strlen(comp);
        char ev[32];
        eisnet_fmt_eng(ev, sizeof ev, v[r->missing[i]], g->units[r->missing[i]], 3);
        snprintf(comp + L, sizeof comp - L, "%s %s = %s", i ? "," : "", g->names[r->missing[i]], ev);
    }
    /* with --exact, also the grid completion of least misfit (known values as given) */
    char best[256] = "best grid completion:";
    int n_series = 2;
    if (zb && r->has_exact) {
        double vb[EISNET_MAX_PARAMS];
        for (int p = 0; p < g->n_params; p++) vb[p] = r->values[p];
        for (int i = 0; i < m; i++) {
            int p = r->missing[i];
            vb[p] = g->values[(size_t)p * G + r->post.argmin[p]];
            size_t L = strlen(best);
            char ev[32];
            eisnet_fmt_eng(ev, sizeof ev, vb[p], g->units[p], 3);
            snprintf(best + L, sizeof best - L, "%s %s = %s", i ? "," : "", g->names[p], ev);
        }
        dense_spectrum(g, vb, f0, f1, CURVE_POINTS, fc, zb);
        n_series = 3;
    }
    eisnet_plot_spectrum s[3] = {{"measured", mf, mz, mn, EISNET_PLOT_MARKERS},
                                 {comp, fc, zm, CURVE_POINTS, EISNET_PLOT_LINE},
                                 {best, fc, zb, CURVE_POINTS, EISNET_PLOT_DASHED}};
    snprintf(title, sizeof title, "Nyquist plot (%s)", label);
    path = eisnet_path_join(dir, "nyquist.svg");
    rc = path ? eisnet_plot_nyquist(path, title, s, n_series) : -1;
    free(path);
    if (rc == 0) {
        snprintf(title, sizeof title, "Bode plot (%s)", label);
        path = eisnet_path_join(dir, "bode.svg");
        rc = path ? eisnet_plot_bode(path, title, s, n_series) : -1;
        free(path);
    }
    free(zb);
    free(zm);
    return rc;
}

/* --scale: 0 = choose (auto), 1 = off, or the factor. -1 after setting the error. */
static double scale_option(const char *text)
{
    if (strcmp(text, "auto") == 0) return 0;
    if (strcmp(text, "off") == 0) return 1;
    char *end;
    double k = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(k > 0) || !isfinite(k))
        return eisnet_set_error("--scale must be auto, off or a factor > 0 (got '%s')", text);
    return k;
}

/* Adds the scale to a JSON text (one object); returns a malloc'ed text. */
static char *json_with_scale(char *text, const eisnet_scale *sc, int pretty)
{
    cJSON *j = cJSON_Parse(text);
    if (!j) return text;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "k", sc->k);
    cJSON_AddNumberToObject(o, "level", sc->level);
    cJSON_AddNumberToObject(o, "model_level_min", sc->level_lo);
    cJSON_AddNumberToObject(o, "model_level_max", sc->level_hi);
    cJSON_AddNumberToObject(o, "peak_frequency", sc->peak_f);
    cJSON_AddNumberToObject(o, "model_peak_min", sc->peak_lo);
    cJSON_AddNumberToObject(o, "model_peak_max", sc->peak_hi);
    cJSON_AddItemToObject(j, "impedance_scale", o);
    char *out = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!out) return text;
    free(text);
    return out;
}

/* One spectrum: infer and print. z: the data on the model's frequencies; raw:
 * the measured points (NULL for a ground truth). The model sees the data
 * divided by the impedance scale k, the known values mapped into its box; the
 * answers are shown in the data's units. Returns 0, or -1 with the error set. */
static int infer_one(const cli_options *o, const eisnet_predictor *pr, const double complex *z, const char *source,
                     const char *known_text, int many, const char *plots_dir, const eisnet_spectrum *raw)
{
    const eisnet_grid *g = &pr->grid;
    double forced = scale_option(o->scale);
    if (forced < 0) return -1;
    double values[EISNET_MAX_PARAMS];
    uint8_t known[EISNET_MAX_PARAMS];
    /* the known values in the data's units, any level: parsed against an
     * unbounded copy of the grid, then checked against the scaled one */
    eisnet_scale sc;
    eisnet_scale unbounded = {.k = 1};
    for (int p = 0; p < g->n_params; p++) unbounded.factor[p] = 1;
    eisnet_grid wide;
    if (eisnet_scale_grid(g, &unbounded, &wide) != 0) return -1;
    for (int p = 0; p < g->n_params; p++) {
        wide.values[(size_t)p * g->n_grid] = 1e-300;
        wide.values[(size_t)p * g->n_grid + g->n_grid - 1] = 1e300;
    }
    int rc = eisnet_parse_known(&wide, known_text, values, known);
    eisnet_scale_grid_free(&wide);
    if (rc != 0) return -1;
    if (eisnet_scale_choose(g, z, values, known, forced, &sc) != 0) return -1;
    eisnet_predictor shown = *pr; /* the same model, its grid in the data's units */
    if (sc.k != 1 && eisnet_scale_grid(g, &sc, &shown.grid) != 0) return -1;
    double complex *zb = malloc(sizeof(double complex) * (size_t)g->n_freq);
    rc = zb ? eisnet_parse_known(&shown.grid, known_text, values, known) : eisnet_set_error("out of memory");
    if (rc == 0) {
        char note[1024];
        eisnet_scale_describe(&sc, note, sizeof note);
        if (note[0]) fprintf(stderr, "eisnet infer: %s: %s\n", source, note);
        cli_kk_warning("infer", raw, source);
        for (int p = 0; p < g->n_params; p++)
            if (known[p]) values[p] /= sc.factor[p];
        for (int i = 0; i < g->n_freq; i++) zb[i] = z[i] / sc.k;
    }
    eisnet_inference r;
    /* a model trained by simulation answers for the noise it was trained at */
    double sigma = o->sigma;
    static int warned;
    if (pr->sigma > 0 && !o->sigma_given) sigma = pr->sigma;
    else if (pr->sigma > 0 && sigma > 0 && isfinite(sigma) && fabs(sigma - pr->sigma) > 1e-9 * pr->sigma && !warned) {
        warned = 1;
        fprintf(stderr, "eisnet infer: warning: the model was trained for sigma %g, not --sigma %g: the network's "
                        "probabilities are for %g (--exact and the checks use %g)\n", pr->sigma, sigma, pr->sigma, sigma);
    }
    if (rc == 0 && eisnet_infer(pr, zb, values, known, o->top_k, sigma, o->exact, &r) != 0) rc = -1;
    free(zb);
    if (rc != 0) {
        if (sc.k != 1) eisnet_scale_grid_free(&shown.grid);
        return -1;
    }
    for (int p = 0; p < g->n_params; p++)
        if (r.known[p]) r.values[p] *= sc.factor[p];
    /* a dataset model predicts the resnorm in ohms; a simulation model a relative misfit */
    if (!(pr->sigma > 0)) r.predicted_resnorm *= sc.k;
    if (o->json) {
        char *s = eisnet_inference_json(&shown, &r, source, !many);
        if (s) s = json_with_scale(s, &sc, !many);
        if (s) {
            puts(s);
            free(s);
        }
    } else {
        eisnet_inference_print(stdout, &shown, &r, source);
        if (sc.k != 1) printf("impedance scale: the model answered for the spectrum / %.4g; values above are in the data's units\n", sc.k);
        if (many) putchar('\n');
    }
    if (plots_dir) {
        const char *base = strrchr(source, '/');
        base = base ? base + 1 : source;
        char *sub = many ? eisnet_path_join(plots_dir, base) : NULL;
        rc = write_plots(many ? sub : plots_dir, &shown, &r, z, base, raw, r.has_exact ? r.post.joint : NULL);
        free(sub);
    }
    eisnet_inference_free(&r);
    if (sc.k != 1) eisnet_scale_grid_free(&shown.grid);
    return rc;
}

static const char *default_known(const eisnet_predictor *pr, const double *v, char *buf, size_t n)
{
    /* the reference's demonstration knows Rsh, Ra, Rb; other circuits: all but the last two */
    const eisnet_grid *g = &pr->grid;
    size_t k = 0;
    buf[0] = '\0';
    for (int p = 0; p < g->n_params - 2 || (g->n_params <= 2 && p < 1); p++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s=%.17g", k ? "," : "", g->names[p], v[p]);
    return buf;
}

int cli_infer(cli_options *o)
{
    int reference = (o->command == CMD_INFER) && o->argv && o->n_spectra == 0 && !o->ground_truth && !o->known &&
                    strcmp(o->name, "infer") != 0;
    char *default_model = NULL;
    const char *model = o->model_path;
    if (!model) {
        default_model = eisnet_path_join(o->data_dir, "model.safetensors");
        model = default_model;
    }
    if (!o->known && !reference && o->n_spectra > 0) {
        fprintf(stderr, "eisnet infer: --known is required (e.g. --known Rsh=460,Ra=4820,Rb=2210)\n");
        free(default_model);
        return 2;
    }
    if (o->n_spectra > 0 && o->ground_truth) {
        fprintf(stderr, "eisnet infer: give either --spectrum or --ground_truth, not both\n");
        free(default_model);
        return 2;
    }
    if (o->top_k < 1) {
        fprintf(stderr, "eisnet infer: --top_k must be at least 1 (got %d)\n", o->top_k);
        free(default_model);
        return 2;
    }
    if (o->sigma != 0 && (!(o->sigma > 0) || !isfinite(o->sigma))) {
        fprintf(stderr, "eisnet infer: --sigma must be positive (got %g)\n", o->sigma);
        free(default_model);
        return 2;
    }
    eisnet_predictor pr;
    if (eisnet_predictor_load(&pr, model) != 0) {
        fprintf(stderr, "eisnet infer: %s\n", eisnet_last_error());
        free(default_model);
        return 1;
    }
    free(default_model);
    eisnet_backend *be = cli_backend_attach(o->name, o->backend, o->threads, &pr);
    int rc = 0, F = pr.grid.n_freq;
    double complex *z = be ? malloc(sizeof(double complex) * (size_t)F) : NULL;
    if (!z) {
        eisnet_predictor_free(&pr);
        eisnet_backend_free(be);
        return 1;
    }
    if (o->n_spectra > 0) {
        char **files = NULL;
        int n = 0, failures = 0;
        if (cli_collect_spectra(o, &files, &n) != 0) {
            fprintf(stderr, "eisnet infer: %s\n", eisnet_last_error());
            rc = 1;
        }
        int many = n > 1;
        for (int i = 0; i < n && rc == 0; i++) {
            eisnet_spectrum s;
            int r = cli_read_spectrum(o, files[i], &s, NULL);
            if (r == 0) {
                r = eisnet_spectrum_interpolate(&s, pr.grid.freq, F, o->extrapolate, z);
                const double *mf = pr.grid.freq;
                if (r != 0 && s.n >= 2 && (mf[0] < s.freq[0] || mf[F - 1] > s.freq[s.n - 1]))
                    eisnet_set_error("%s: the data cover %.4g..%.4g Hz but the model needs %.4g..%.4g Hz: train a "
                                     "model on the data's band (eisnet generate --f_min %.4g --f_max %.4g ...), or "
                                     "use --extrapolate (linear in log f, unreliable beyond the data)",
                                     files[i], s.freq[0], s.freq[s.n - 1], mf[0], mf[F - 1], s.freq[0], s.freq[s.n - 1]);
                else if (r != 0) eisnet_prefix_error("%s: ", files[i]);
            }
            if (r == 0 && o->extrapolate) {
                int outside = 0;
                for (int f = 0; f < F; f++)
                    outside += pr.grid.freq[f] < s.freq[0] * (1 - 1e-9) || pr.grid.freq[f] > s.freq[s.n - 1] * (1 + 1e-9);
                if (outside)
                    fprintf(stderr, "eisnet infer: warning: %s: %d of the model's %d frequencies lie outside the data "
                                    "(%.4g..%.4g Hz) and were extrapolated: the answer rests on invented points\n",
                            files[i], outside, F, s.freq[0], s.freq[s.n - 1]);
            }
            if (r == 0) r = infer_one(o, &pr, z, files[i], o->known, many, o->plots, &s);
            eisnet_spectrum_free(&s);
            if (r != 0) {
                failures++;
                if (many && o->json) {
                    char *msg = malloc(strlen(eisnet_last_error()) * 2 + strlen(files[i]) * 2 + 64);
                    if (msg) {
                        /* a JSON line per spectrum, the failure included */
                        size_t k = (size_t)sprintf(msg, "{\"source\":\"");
                        for (const char *c = files[i]; *c; c++) {
                            if (*c == '"' || *c == '\\') msg[k++] = '\\';
                            msg[k++] = (char)((unsigned char)*c < 32 ? ' ' : *c);
                        }
                        k += (size_t)sprintf(msg + k, "\",\"error\":\"");
                        for (const char *c = eisnet_last_error(); *c; c++) {
                            if (*c == '"' || *c == '\\') msg[k++] = '\\';
                            msg[k++] = (char)((unsigned char)*c < 32 ? ' ' : *c);
                        }
                        sprintf(msg + k, "\"}");
                        puts(msg);
                        free(msg);
                    }
                }
                fprintf(stderr, "eisnet infer: %s\n", eisnet_last_error());
                if (!many) rc = 1;
            }
            fflush(stdout);
        }
        if (many && failures) rc = 1;
        for (int i = 0; i < n; i++) free(files[i]);
        free(files);
    } else {
        /* a ground truth of the dataset: by id, or the reference's demonstration (the first one) */
        eisnet_dataset ds;
        if (eisnet_dataset_open(&ds, o->data_dir) != 0) {
            fprintf(stderr, "eisnet infer: %s\n", eisnet_last_error());
            rc = 1;
        } else {
            int i = o->ground_truth ? eisnet_dataset_find(&ds, o->ground_truth) : 0;
            if (i < 0) {
                fprintf(stderr, "eisnet infer: no ground truth '%s' in %s\n", o->ground_truth, o->data_dir);
                rc = 1;
            } else if (ds.grid.n_freq != F || ds.grid.n_params != pr.grid.n_params) {
                fprintf(stderr, "eisnet infer: the model does not match the dataset in %s\n", o->data_dir);
                rc = 1;
            } else {
                memcpy(z, ds.spectra + (size_t)i * F, sizeof(double complex) * (size_t)F);
                char kb[1024];
                const char *known = o->known ? o->known : default_known(&pr, ds.gt[i].values, kb, sizeof kb);
                char source[96];
                snprintf(source, sizeof source, "ground truth %s", ds.gt[i].id);
                if (!o->json && !o->known) printf("the reference's demonstration: ground truth %s, knowing %s\n",
                                                  ds.gt[i].id, known);
                if (infer_one(o, &pr, z, source, known, 0, o->plots, NULL) != 0) {
                    fprintf(stderr, "eisnet infer: %s\n", eisnet_last_error());
                    rc = 1;
                } else if (!o->json) {
                    printf("\ntruth:");
                    for (int p = 0; p < pr.grid.n_params; p++) printf(" %s=%.4g", pr.grid.names[p], ds.gt[i].values[p]);
                    printf("\n");
                }
            }
            eisnet_dataset_close(&ds);
        }
    }
    if (rc == 0 && o->plots && !o->quiet) fprintf(stderr, "plots written to %s\n", o->plots);
    free(z);
    eisnet_predictor_free(&pr);
    eisnet_backend_free(be);
    return rc;
}

int cli_full(cli_options *o)
{
    /* a small default that finishes within three minutes on 2 cores */
    if (!o->n_ground_truths_given) o->n_ground_truths = 100;
    if (!o->n_epochs_given) o->n_epochs = CLI_FULL_EPOCHS;
    if (!o->samples_per_gt_given) o->samples_per_gt = 5000;
    if (o->n_ground_truths < 2) {
        fprintf(stderr, "eisnet full: --n_ground_truths must be at least 2 (one is held out for the demonstration)\n");
        return 2;
    }
    eisnet_train_options t;
    if (cli_train_options(o, &t) != 0) return 2; /* bad options are refused before any work */
    if (!o->quiet) fprintf(stderr, "== eisnet full: generate -> train -> infer in %s ==\n", o->data_dir);
    int rc = cli_generate(o);
    if (rc != 0) return rc;
    eisnet_train_result tr;
    cli_catch_interrupts(1);
    int trc = eisnet_train(&t, &tr);
    cli_catch_interrupts(0);
    if (trc == 0 && tr.interrupted) {
        fprintf(stderr, "eisnet full: interrupted; the last checkpoint is %s (continue with eisnet train --resume)\n",
                tr.last_path);
        eisnet_train_result_free(&tr);
        return 130;
    }
    if (trc != 0) {
        fprintf(stderr, "eisnet full: %s\n", eisnet_last_error());
        return 1;
    }
    printf("== trained%s: held-out top-1 %.3f, top-3 %.3f per missing parameter (uniform %.3f, %.3f)",
           t.simulate ? " by simulation" : "", tr.top1, tr.top3, tr.uniform_top1, tr.uniform_top3);
    if (tr.mean_kl == tr.mean_kl) printf(", mean KL to the exact grid distribution %.3f nats", tr.mean_kl);
    printf(" ==\n");
    if (t.simulate && cli_closing_evaluation(o, &t, tr.best_path, CLI_FULL_EVAL_N) != 0) {
        eisnet_train_result_free(&tr);
        return 1;
    }
    /* demonstration on a held-out ground truth, through a CSV as a user would */
    eisnet_dataset ds;
    if (eisnet_dataset_open(&ds, o->data_dir) != 0) {
        fprintf(stderr, "eisnet full: %s\n", eisnet_last_error());
        eisnet_train_result_free(&tr);
        return 1;
    }
    int g = tr.first_val_gt >= 0 ? tr.first_val_gt : 0;
    char *csv = eisnet_path_join(o->data_dir, "demo_spectrum.csv");
    char *plots = o->plots ? NULL : eisnet_path_join(o->data_dir, "plots");
    size_t cap = 64 + (size_t)ds.grid.n_freq * 80, k = 0;
    char *text = malloc(cap);
    rc = (!csv || !text) ? 1 : 0;
    if (rc == 0) {
        k += (size_t)snprintf(text, cap, "freq,Re(Z),Im(Z)\n");
        for (int f = 0; f < ds.grid.n_freq; f++)
            k += (size_t)snprintf(text + k, cap - k, "%.17g,%.17g,%.17g\n", ds.grid.freq[f],
                                  creal(ds.spectra[(size_t)g * ds.grid.n_freq + f]),
                                  cimag(ds.spectra[(size_t)g * ds.grid.n_freq + f]));
        if (eisnet_write_file_atomic(csv, text, k) != 0) {
            fprintf(stderr, "eisnet full: %s\n", eisnet_last_error());
            rc = 1;
        }
    }
    char known[1024];
    if (rc == 0) {
        size_t kk = 0;
        known[0] = '\0';
        for (int p = 0; p < ds.grid.n_params - 2; p++)
            kk += (size_t)snprintf(known + kk, sizeof known - kk, "%s%s=%.6g", kk ? "," : "", ds.grid.names[p],
                                   ds.gt[g].values[p]);
        printf("== inference on held-out ground truth %s (%s), knowing %s ==\n", ds.gt[g].id, csv, known);
        cli_options io = *o;
        io.command = CMD_INFER;
        io.name = "infer";
        io.spectra[0] = csv;
        io.n_spectra = 1;
        io.known = known;
        io.exact = 1;
        io.json = 0;
        io.plots = o->plots ? o->plots : plots;
        io.model_path = tr.best_path;
        rc = cli_infer(&io);
        if (rc == 0) {
            printf("\ntruth:");
            for (int p = 0; p < ds.grid.n_params; p++) printf(" %s=%.4g", ds.grid.names[p], ds.gt[g].values[p]);
            printf("\n\n== outputs ==\n  dataset:  %s (resnorm.npy, dataset.npz, dataset_summary.txt, ...)\n"
                   "  model:    %s (and .npz; last epoch: %s)\n  history:  %s/model.history.csv\n"
                   "  spectrum: %s\n  plots:    %s (joint.svg, marginal_*.svg, nyquist.svg, bode.svg)\n",
                   o->data_dir, tr.best_path, tr.last_path, o->data_dir, csv, io.plots);
        }
    }
    free(text);
    free(csv);
    free(plots);
    eisnet_dataset_close(&ds);
    eisnet_train_result_free(&tr);
    return rc;
}
