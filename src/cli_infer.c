/* eisnet infer and eisnet full. */
#include "cli.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/infer.h"
#include "eisnet/kernels.h"
#include "eisnet/plot.h"
#include "eisnet/spectrum.h"
#include "eisnet/train.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* --spectrum arguments: files, or directories of *.csv (sorted). */
static int collect_spectra(const cli_options *o, char ***out, int *n)
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
                size_t L = strlen(e->d_name);
                if (L < 5 || strcasecmp(e->d_name + L - 4, ".csv") != 0) continue;
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
                return eisnet_set_error("no *.csv spectra in directory %s", o->spectra[i]);
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

static char *unit_label(const eisnet_grid *g, int p)
{
    static char buf[4][64];
    static int k;
    k = (k + 1) % 4;
    if (g->units[p][0]) snprintf(buf[k], sizeof buf[k], "%s (%s)", g->names[p], g->units[p]);
    else snprintf(buf[k], sizeof buf[k], "%s", g->names[p]);
    return buf[k];
}

static int write_plots(const char *dir, const eisnet_predictor *pr, const eisnet_inference *r, const double complex *z,
                       const char *label)
{
    const eisnet_grid *g = &pr->grid;
    int G = g->n_grid, m = r->n_missing, rc = 0;
    if (eisnet_ensure_dir(dir) != 0) return -1;
    char ticks[EISNET_MAX_PARAMS][100][16];
    const char *tick_ptr[EISNET_MAX_PARAMS][100];
    for (int p = 0; p < g->n_params; p++)
        for (int c = 0; c < G && c < 100; c++) {
            snprintf(ticks[p][c], sizeof ticks[p][c], "%.3g", g->values[(size_t)p * G + c]);
            tick_ptr[p][c] = ticks[p][c];
        }
    char title[256], *path;
    if (m == 2) {
        int px = r->missing[1], py = r->missing[0], k = r->k < 10 ? r->k : 10;
        double *joint = malloc(sizeof(double) * (size_t)G * G);
        int tx[10], ty[10];
        double tp[10];
        if (!joint) return eisnet_set_error("out of memory");
        for (int a = 0; a < G; a++)
            for (int b = 0; b < G; b++) joint[a * G + b] = r->probs[(size_t)py * G + a] * r->probs[(size_t)px * G + b];
        for (int i = 0; i < k; i++) {
            ty[i] = r->top_idx[i * 2];
            tx[i] = r->top_idx[i * 2 + 1];
            tp[i] = r->top_p[i];
        }
        snprintf(title, sizeof title, "Joint probability of %s and %s (%s)", g->names[py], g->names[px], label);
        path = eisnet_path_join(dir, "joint.svg");
        rc = path ? eisnet_plot_joint(path, title, unit_label(g, px), unit_label(g, py), tick_ptr[px], tick_ptr[py],
                                      joint, G, G, tx, ty, tp, k)
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
    /* measured spectrum against the most probable completion */
    double v[EISNET_MAX_PARAMS];
    double complex *zm = malloc(sizeof(double complex) * (size_t)g->n_freq);
    if (!zm) return eisnet_set_error("out of memory");
    eisnet_inference_completion(pr, r, 0, v);
    eisnet_grid_spectrum(g, v, zm);
    char comp[256] = "most probable completion (network):";
    for (int i = 0; i < m; i++) {
        size_t L = strlen(comp);
        snprintf(comp + L, sizeof comp - L, " %s=%.3g", g->names[r->missing[i]], v[r->missing[i]]);
    }
    /* with --exact, also the grid completion of least misfit (known values as given) */
    double complex *zb = malloc(sizeof(double complex) * (size_t)g->n_freq);
    char best[256] = "best grid completion:";
    int n_series = 2;
    if (zb && r->has_exact) {
        double vb[EISNET_MAX_PARAMS];
        for (int p = 0; p < g->n_params; p++) vb[p] = r->values[p];
        for (int i = 0; i < m; i++) {
            int p = r->missing[i];
            vb[p] = g->values[(size_t)p * G + r->post.argmin[p]];
            size_t L = strlen(best);
            snprintf(best + L, sizeof best - L, " %s=%.3g", g->names[p], vb[p]);
        }
        eisnet_grid_spectrum(g, vb, zb);
        n_series = 3;
    }
    eisnet_plot_spectrum s[3] = {{"measured", g->freq, z, g->n_freq, EISNET_PLOT_MARKERS},
                                 {comp, g->freq, zm, g->n_freq, EISNET_PLOT_LINE},
                                 {best, g->freq, zb, g->n_freq, EISNET_PLOT_DASHED}};
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

/* One spectrum: infer and print. Returns 0, or -1 with the error set. */
static int infer_one(const cli_options *o, const eisnet_predictor *pr, const double complex *z, const char *source,
                     const char *known_text, int many, const char *plots_dir)
{
    double values[EISNET_MAX_PARAMS];
    uint8_t known[EISNET_MAX_PARAMS];
    if (eisnet_parse_known(&pr->grid, known_text, values, known) != 0) return -1;
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
    if (eisnet_infer(pr, z, values, known, o->top_k, sigma, o->exact, &r) != 0) return -1;
    int rc = 0;
    if (o->json) {
        char *s = eisnet_inference_json(pr, &r, source, !many);
        if (s) {
            puts(s);
            free(s);
        }
    } else {
        eisnet_inference_print(stdout, pr, &r, source);
        if (many) putchar('\n');
    }
    if (plots_dir) {
        const char *base = strrchr(source, '/');
        base = base ? base + 1 : source;
        char *sub = many ? eisnet_path_join(plots_dir, base) : NULL;
        rc = write_plots(many ? sub : plots_dir, pr, &r, z, base);
        free(sub);
    }
    eisnet_inference_free(&r);
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
    if (o->threads > 0) eisnet_set_threads(o->threads);
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
    eisnet_predictor pr;
    if (eisnet_predictor_load(&pr, model) != 0) {
        fprintf(stderr, "eisnet infer: %s\n", eisnet_last_error());
        free(default_model);
        return 1;
    }
    free(default_model);
    int rc = 0, F = pr.grid.n_freq;
    double complex *z = malloc(sizeof(double complex) * (size_t)F);
    if (!z) {
        eisnet_predictor_free(&pr);
        return 1;
    }
    if (o->n_spectra > 0) {
        char **files = NULL;
        int n = 0, failures = 0;
        if (collect_spectra(o, &files, &n) != 0) {
            fprintf(stderr, "eisnet infer: %s\n", eisnet_last_error());
            rc = 1;
        }
        int many = n > 1;
        for (int i = 0; i < n && rc == 0; i++) {
            eisnet_spectrum s;
            int r = eisnet_spectrum_read_csv(files[i], &s);
            if (r == 0) {
                r = eisnet_spectrum_interpolate(&s, pr.grid.freq, F, o->extrapolate, z);
                if (r != 0) eisnet_prefix_error("%s: ", files[i]);
                eisnet_spectrum_free(&s);
            }
            if (r == 0) r = infer_one(o, &pr, z, files[i], o->known, many, o->plots);
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
                if (infer_one(o, &pr, z, source, known, 0, o->plots) != 0) {
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
