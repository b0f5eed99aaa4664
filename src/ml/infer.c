/* Inference: distributions, top-k completions, uncertainty, the exact Bayes
 * cell posterior, consistency warnings, JSON and table output. */
#include "eisnet/infer.h"
#include "eisnet/assignment.h"
#include "eisnet/error.h"
#include "eisnet/evaluate.h"
#include "eisnet/fmt.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- known parameters ------------------------------------------------------ */

static int find_param_ci(const eisnet_grid *g, const char *name)
{
    int p = eisnet_grid_find_param(g, name);
    if (p >= 0) return p;
    for (int i = 0; i < g->n_params; i++)
        if (strcasecmp(g->names[i], name) == 0) return i;
    return -1;
}

int eisnet_parse_known(const eisnet_grid *g, const char *text, double *values, uint8_t *known)
{
    memset(known, 0, (size_t)g->n_params);
    for (int i = 0; i < g->n_params; i++) values[i] = NAN;
    if (!text || !*text) return eisnet_set_error("--known is empty: give NAME=VALUE pairs, e.g. --known Rsh=460,Ra=4820");
    char names[512] = "";
    for (int i = 0; i < g->n_params; i++) {
        strncat(names, g->names[i], sizeof names - strlen(names) - 1);
        if (i + 1 < g->n_params) strncat(names, ", ", sizeof names - strlen(names) - 1);
    }
    const char *s = text;
    char item[128], *name, *val;
    int k;
    while ((k = eisnet_next_assignment(&s, "--known", item, sizeof item, &name, &val)) > 0) {
        while (*name == ' ') name++;
        for (char *t = val - 2; t > name && *t == ' '; t--) *t = '\0';
        int p = find_param_ci(g, name);
        if (p < 0) return eisnet_set_error("--known: unknown parameter '%s' (the model's parameters: %s)", name, names);
        if (known[p]) return eisnet_set_error("--known: '%s' given twice", g->names[p]);
        char *e;
        errno = 0;
        double v = strtod(val, &e);
        while (*e == ' ') e++;
        if (*val == '\0' || *e != '\0' || errno == ERANGE || !isfinite(v))
            return eisnet_set_error("--known: value of %s is not a number: '%s'", g->names[p], val);
        if (!(v > 0)) return eisnet_set_error("--known: %s must be positive (got %g)", g->names[p], v);
        double lo = g->values[(size_t)p * g->n_grid], hi = g->values[(size_t)p * g->n_grid + g->n_grid - 1];
        if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9))
            return eisnet_set_error("--known: %s = %g is outside the model's range %g to %g %s", g->names[p], v, lo, hi,
                                    g->units[p]);
        known[p] = 1;
        values[p] = v;
    }
    if (k < 0) return -1;
    int nk = 0;
    for (int i = 0; i < g->n_params; i++) nk += known[i];
    if (nk == 0) return eisnet_set_error("--known: no parameter given");
    if (nk == g->n_params)
        return eisnet_set_error("--known: all %d parameters are known; leave out the ones to predict", nk);
    return 0;
}

/* ---- distributions ----------------------------------------------------------- */

void eisnet_distribution_stats(const double *p, int n, double *entropy, double *max_p, double *top5)
{
    double h = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] > 0) h -= p[i] * log(p[i]);
        if (p[i] > mx) mx = p[i];
    }
    /* top-5 mass: the five largest values */
    double best[5] = {0};
    for (int i = 0; i < n; i++) {
        double v = p[i];
        for (int k = 0; k < 5; k++)
            if (v > best[k]) {
                double t = best[k];
                best[k] = v;
                v = t;
            }
    }
    *entropy = h;
    *max_p = mx;
    *top5 = best[0] + best[1] + best[2] + best[3] + best[4];
}

typedef struct {
    double p;
    int idx[EISNET_MAX_PARAMS];
} cand;

static int cand_cmp_m;
static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->p > y->p) return -1;
    if (x->p < y->p) return 1;
    for (int i = 0; i < cand_cmp_m; i++)
        if (x->idx[i] != y->idx[i]) return x->idx[i] < y->idx[i] ? -1 : 1;
    return 0;
}

int eisnet_top_k_product(const double *const *dists, int m, int n, int k, int *idx, double *prob)
{
    if (m < 1 || n < 1 || k < 1 || m > EISNET_MAX_PARAMS) return 0;
    /* beam: the top-k of a product keeps only top-k prefixes */
    size_t cap = (size_t)k * (size_t)n;
    cand *beam = malloc(sizeof(cand) * (size_t)(k > n ? k : n)), *next = malloc(sizeof(cand) * cap);
    if (!beam || !next) {
        free(beam);
        free(next);
        return 0;
    }
    int nb = 0;
    for (int i = 0; i < n; i++) {
        beam[nb].p = dists[0][i];
        beam[nb].idx[0] = i;
        nb++;
    }
    cand_cmp_m = 1;
    qsort(beam, (size_t)nb, sizeof(cand), cmp_cand);
    if (nb > k) nb = k;
    for (int d = 1; d < m; d++) {
        int nn = 0;
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < n; i++) {
                next[nn] = beam[b];
                next[nn].p = beam[b].p * dists[d][i];
                next[nn].idx[d] = i;
                nn++;
            }
        cand_cmp_m = d + 1;
        qsort(next, (size_t)nn, sizeof(cand), cmp_cand);
        nb = nn < k ? nn : k;
        memcpy(beam, next, sizeof(cand) * (size_t)nb);
    }
    for (int r = 0; r < nb; r++) {
        prob[r] = beam[r].p;
        for (int i = 0; i < m; i++) idx[r * m + i] = beam[r].idx[i];
    }
    free(beam);
    free(next);
    return nb;
}

void eisnet_inference_free(eisnet_inference *r)
{
    free(r->probs);
    free(r->top_idx);
    free(r->top_p);
    free(r->top_conf);
    eisnet_posterior_free(&r->post);
    memset(r, 0, sizeof *r);
}

/* About 0.1 s of spectra. */
#define MISFIT_MAX_COMPLETIONS 3e5

/* How many of the network's top completions start the exact posterior's
 * search for a missed peak. */
#define INFER_EXACT_STARTS 3

static int exact_part(const eisnet_predictor *pr, const double complex *z, eisnet_inference *r)
{
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    o.sigma = r->sigma;
    /* the network's most probable completions as extra starts of the
     * posterior's check for a peak its boxes missed (the network often
     * points at the right peak; it changes no probability, only what is
     * searched) */
    double starts[INFER_EXACT_STARTS * EISNET_MAX_PARAMS];
    int ns = r->k < INFER_EXACT_STARTS ? r->k : INFER_EXACT_STARTS;
    for (int i = 0; i < ns; i++) eisnet_inference_completion(pr, r, i, starts + (size_t)i * pr->grid.n_params);
    o.starts = starts;
    o.n_starts = ns;
    if (eisnet_posterior_compute(&pr->grid, z, r->values, r->known, &o, &r->post) != 0) return -1;
    int G = pr->grid.n_grid;
    r->exact = r->post.marginal;
    for (int i = 0; i < r->n_missing; i++) {
        int p = r->missing[i];
        r->kl[p] = eisnet_kl(r->exact + (size_t)p * G, r->probs + (size_t)p * G, G);
    }
    if (!(r->misfit <= r->post.best_rel_rms)) r->misfit = r->post.best_rel_rms;
    r->has_exact = 1;
    return 0;
}

static void add_warning(eisnet_inference *r, const char *fmt, ...)
{
    if (r->n_warnings >= (int)(sizeof r->warnings / sizeof r->warnings[0])) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings[r->n_warnings++], sizeof r->warnings[0], fmt, ap);
    va_end(ap);
}

/* The honesty checks: misfit with the known values fixed (and, when it is
 * large, with everything free), and the spectrum features' distance from
 * the training normalisation. */
static void checks(const eisnet_predictor *pr, const double complex *z, const float *feats, eisnet_inference *r)
{
    const eisnet_grid *g = &pr->grid;
    r->feature_z = 0;
    for (int i = 0; i < pr->n_features; i++) r->feature_z = fmax(r->feature_z, fabs((double)feats[i]));
    r->misfit_free = NAN;
    double limit = EISNET_MISFIT_WARN * r->sigma;
    if (r->misfit > limit) {
        uint8_t none[EISNET_MAX_PARAMS] = {0};
        double tuples = pow((double)g->n_grid, g->n_params);
        if (tuples <= 3e5) r->misfit_free = eisnet_best_misfit(g, z, r->values, none);
        if (isfinite(r->misfit_free) && r->misfit_free > limit)
            add_warning(r,
                        "the spectrum does not fit the circuit with any parameters in the model's ranges (best "
                        "relative misfit %.3g, %.1f x sigma %.3g): the answer is outside what the model was trained on",
                        r->misfit_free, r->misfit_free / r->sigma, r->sigma);
        else
            add_warning(r,
                        "the known values contradict the spectrum: with them fixed the best relative misfit is %.3g "
                        "(%.1f x sigma %.3g); check the known values and their units",
                        r->misfit, r->misfit / r->sigma, r->sigma);
    }
    if (r->feature_z > EISNET_FEATURE_WARN)
        add_warning(r,
                    "the spectrum lies outside what the model was trained on (a spectrum feature is %.1f standard "
                    "deviations from the training mean); its probabilities are extrapolations",
                    r->feature_z);
}

int eisnet_infer(const eisnet_predictor *pr, const double complex *z, const double *values, const uint8_t *known,
                 int top_k, double sigma, int exact, eisnet_inference *r)
{
    memset(r, 0, sizeof *r);
    const eisnet_grid *g = &pr->grid;
    int P = g->n_params, G = g->n_grid;
    if (top_k < 1) return eisnet_set_error("--top_k must be at least 1 (got %d)", top_k);
    if (sigma == 0) sigma = EISNET_POSTERIOR_SIGMA;
    if (!(sigma > 0) || !isfinite(sigma)) return eisnet_set_error("--sigma must be positive (got %g)", sigma);
    r->sigma = sigma;
    if (top_k > 10000) top_k = 10000;
    for (int f = 0; f < g->n_freq; f++)
        if (!isfinite(creal(z[f])) || !isfinite(cimag(z[f]))) return eisnet_set_error("the spectrum contains NaN or infinity");
    r->n_params = P;
    r->n_grid = G;
    for (int p = 0; p < P; p++) {
        r->known[p] = known[p] ? 1 : 0;
        r->values[p] = known[p] ? values[p] : NAN;
        if (!known[p]) r->missing[r->n_missing++] = p;
    }
    if (r->n_missing == 0 || r->n_missing == P) return eisnet_set_error("need at least one known and one missing parameter");
    int n_in = eisnet_predictor_n_in(pr);
    float *x = malloc(sizeof(float) * (size_t)n_in), *feats = malloc(sizeof(float) * (size_t)(pr->n_features + 1));
    float *probs = malloc(sizeof(float) * (size_t)P * G), rlog = 0;
    r->probs = malloc(sizeof(double) * (size_t)P * G);
    eisnet_workspace *ws = eisnet_workspace_new(pr->model, 1);
    int rc = -1;
    if (!x || !feats || !probs || !r->probs || !ws) {
        eisnet_set_error("out of memory");
        goto out;
    }
    eisnet_predictor_spectrum_features(pr, z, feats);
    eisnet_predictor_input(pr, values, r->known, feats, x);
    uint8_t miss[EISNET_MAX_PARAMS];
    for (int p = 0; p < P; p++) miss[p] = !r->known[p];
    /* only the missing parameters' heads (the known ones' stay 0) */
    if (eisnet_model_predict_one(pr->model, ws, x, miss, probs, &rlog) != 0) goto out;
    for (int i = 0; i < P * G; i++) r->probs[i] = probs[i];
    r->predicted_resnorm = pow(10.0, rlog);
    const double *d[EISNET_MAX_PARAMS];
    double lnG = log((double)G);
    double penalty = 1;
    for (int i = 0; i < r->n_missing; i++) {
        int p = r->missing[i];
        d[i] = r->probs + (size_t)p * G;
        eisnet_distribution_stats(d[i], G, &r->entropy[p], &r->max_prob[p], &r->top5[p]);
        r->norm_entropy[p] = r->entropy[p] / lnG;
        penalty *= fmax(0.0, 1.0 - r->norm_entropy[p]);
    }
    penalty = pow(penalty, 1.0 / r->n_missing);
    r->top_idx = malloc(sizeof(int) * (size_t)top_k * r->n_missing);
    r->top_p = malloc(sizeof(double) * (size_t)top_k);
    r->top_conf = malloc(sizeof(double) * (size_t)top_k);
    if (!r->top_idx || !r->top_p || !r->top_conf) {
        eisnet_set_error("out of memory");
        goto out;
    }
    r->k = eisnet_top_k_product(d, r->n_missing, G, top_k, r->top_idx, r->top_p);
    for (int k = 0; k < r->k; k++) r->top_conf[k] = r->n_missing == 1 ? r->top_p[k] : r->top_p[k] * penalty;
    /* the consistency check enumerates the grid completions: skipped (NaN)
     * beyond MISFIT_MAX_COMPLETIONS of them */
    r->misfit = NAN;
    if (pow((double)G, r->n_missing) <= MISFIT_MAX_COMPLETIONS) {
        r->misfit = eisnet_best_misfit(g, z, r->values, r->known);
        if (!isfinite(r->misfit)) goto out;
    }
    if (exact && exact_part(pr, z, r) != 0) goto out;
    checks(pr, z, feats, r);
    rc = 0;
out:
    free(x);
    free(feats);
    free(probs);
    eisnet_workspace_free(ws);
    if (rc != 0) eisnet_inference_free(r);
    return rc;
}

void eisnet_inference_completion(const eisnet_predictor *p, const eisnet_inference *r, int rank, double *values)
{
    const eisnet_grid *g = &p->grid;
    for (int i = 0; i < g->n_params; i++) values[i] = r->values[i];
    for (int i = 0; i < r->n_missing; i++)
        values[r->missing[i]] = g->values[(size_t)r->missing[i] * g->n_grid + r->top_idx[rank * r->n_missing + i]];
}

/* ---- output ---------------------------------------------------------------------- */

const char *eisnet_confidence_word(double p) { return p >= 0.9 ? "high" : p >= 0.5 ? "medium" : "low"; }

static cJSON *number_array(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

char *eisnet_inference_json(const eisnet_predictor *pr, const eisnet_inference *r, const char *source, int pretty)
{
    const eisnet_grid *g = &pr->grid;
    int G = g->n_grid, m = r->n_missing;
    cJSON *j = cJSON_CreateObject();
    if (source) cJSON_AddStringToObject(j, "source", source);
    cJSON *kp = cJSON_AddObjectToObject(j, "known_params");
    for (int p = 0; p < g->n_params; p++)
        if (r->known[p]) cJSON_AddNumberToObject(kp, g->names[p], r->values[p]);
    cJSON *mp = cJSON_AddArrayToObject(j, "missing_params");
    for (int i = 0; i < m; i++) cJSON_AddItemToArray(mp, cJSON_CreateString(g->names[r->missing[i]]));
    cJSON_AddNumberToObject(j, "predicted_resnorm", r->predicted_resnorm);
    cJSON *md = cJSON_AddObjectToObject(j, "marginal_distributions");
    cJSON *gv = cJSON_CreateObject();
    for (int i = 0; i < m; i++) {
        int p = r->missing[i];
        cJSON_AddItemToObject(md, g->names[p], number_array(r->probs + (size_t)p * G, G));
        cJSON_AddItemToObject(gv, g->names[p], number_array(g->values + (size_t)p * G, G));
    }
    if (m == 2) {
        cJSON *jd = cJSON_AddArrayToObject(j, "joint_distribution");
        const double *p1 = r->probs + (size_t)r->missing[0] * G, *p2 = r->probs + (size_t)r->missing[1] * G;
        for (int a = 0; a < G; a++) {
            cJSON *row = cJSON_CreateArray();
            for (int b = 0; b < G; b++) cJSON_AddItemToArray(row, cJSON_CreateNumber(p1[a] * p2[b]));
            cJSON_AddItemToArray(jd, row);
        }
    }
    cJSON *tk = cJSON_AddArrayToObject(j, "top_k_predictions");
    for (int k = 0; k < r->k; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", k + 1);
        for (int i = 0; i < m; i++) {
            int p = r->missing[i];
            cJSON_AddNumberToObject(e, g->names[p], g->values[(size_t)p * G + r->top_idx[k * m + i]]);
        }
        if (m == 1) {
            cJSON_AddNumberToObject(e, "probability", r->top_p[k]);
            cJSON_AddNumberToObject(e, "grid_index", r->top_idx[k]);
        } else {
            cJSON_AddNumberToObject(e, "joint_probability", r->top_p[k]);
            for (int i = 0; i < m; i++) {
                char key[32];
                snprintf(key, sizeof key, "marginal_prob_%d", i + 1);
                cJSON_AddNumberToObject(e, key, r->probs[(size_t)r->missing[i] * G + r->top_idx[k * m + i]]);
            }
            cJSON *gi = cJSON_AddArrayToObject(e, "grid_indices");
            for (int i = 0; i < m; i++) cJSON_AddItemToArray(gi, cJSON_CreateNumber(r->top_idx[k * m + i]));
        }
        cJSON_AddNumberToObject(e, "confidence_score", r->top_conf[k]);
        cJSON_AddStringToObject(e, "confidence", eisnet_confidence_word(r->top_p[k]));
        cJSON_AddItemToArray(tk, e);
    }
    cJSON *u = cJSON_AddObjectToObject(j, "uncertainty");
    for (int i = 0; i < m; i++) {
        int p = r->missing[i];
        cJSON *e = cJSON_AddObjectToObject(u, g->names[p]);
        cJSON_AddNumberToObject(e, "entropy", r->entropy[p]);
        cJSON_AddNumberToObject(e, "max_probability", r->max_prob[p]);
        cJSON_AddNumberToObject(e, "top_5_mass", r->top5[p]);
        cJSON_AddNumberToObject(e, "normalized_entropy", r->norm_entropy[p]);
    }
    cJSON_AddItemToObject(j, "grid_values", gv);
    cJSON *ck = cJSON_AddObjectToObject(j, "consistency");
    cJSON_AddNumberToObject(ck, "sigma", r->sigma);
    if (isfinite(r->misfit)) cJSON_AddNumberToObject(ck, "best_relative_misfit", r->misfit);
    else cJSON_AddNullToObject(ck, "best_relative_misfit");
    if (isfinite(r->misfit_free)) cJSON_AddNumberToObject(ck, "best_relative_misfit_all_free", r->misfit_free);
    cJSON_AddNumberToObject(ck, "max_feature_z", r->feature_z);
    cJSON *wa = cJSON_AddArrayToObject(j, "warnings");
    for (int i = 0; i < r->n_warnings; i++) cJSON_AddItemToArray(wa, cJSON_CreateString(r->warnings[i]));
    if (r->has_exact) {
        const eisnet_posterior *ps = &r->post;
        cJSON *x = cJSON_AddObjectToObject(j, "exact");
        cJSON_AddStringToObject(x, "method", "Bayes cell posterior, adaptive midpoint rule");
        cJSON_AddNumberToObject(x, "sigma", r->sigma);
        cJSON *xm = cJSON_AddObjectToObject(x, "marginal_distributions");
        cJSON *kl = cJSON_AddObjectToObject(x, "kl_divergence");
        for (int i = 0; i < m; i++) {
            int p = r->missing[i];
            cJSON_AddItemToObject(xm, g->names[p], number_array(r->exact + (size_t)p * G, G));
            cJSON_AddNumberToObject(kl, g->names[p], r->kl[p]);
        }
        if (ps->joint) {
            cJSON *jd = cJSON_AddArrayToObject(x, "joint_distribution");
            for (int a = 0; a < G; a++) cJSON_AddItemToArray(jd, number_array(ps->joint + (size_t)a * G, G));
        }
        cJSON_AddNumberToObject(x, "sub_points", ps->sub_used);
        cJSON_AddBoolToObject(x, "converged", ps->converged);
        cJSON_AddBoolToObject(x, "peak_missed_by_boxes", ps->peak_missed);
        if (isfinite(ps->change)) cJSON_AddNumberToObject(x, "last_change", ps->change);
        else cJSON_AddNullToObject(x, "last_change");
        cJSON_AddNumberToObject(x, "evaluations", ps->n_evals);
        cJSON_AddStringToObject(x, "method", ps->method == 1 ? "importance_sampling" : "boxes");
        if (ps->is_ran) {
            cJSON *is = cJSON_AddObjectToObject(x, "sampling");
            cJSON_AddNumberToObject(is, "samples", ps->is_samples);
            cJSON_AddNumberToObject(is, "effective_samples", ps->is_ess);
            cJSON_AddNumberToObject(is, "max_standard_error", ps->is_max_se);
        }
        cJSON_AddNumberToObject(x, "log_evidence", ps->log_evidence);
        cJSON_AddNumberToObject(x, "best_relative_misfit", ps->best_rel_rms);
        cJSON *ga = cJSON_AddObjectToObject(x, "grid_argmin");
        for (int i = 0; i < m; i++) {
            int p = r->missing[i];
            cJSON_AddNumberToObject(ga, g->names[p], g->values[(size_t)p * G + ps->argmin[p]]);
        }
        cJSON_AddNumberToObject(ga, "relative_misfit", ps->argmin_rel_rms);
    }
    char *s = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static void fmt_value(char *buf, size_t n, double v) { snprintf(buf, n, "%.4g", v); }

void eisnet_inference_print(FILE *fp, const eisnet_predictor *pr, const eisnet_inference *r, const char *source)
{
    const eisnet_grid *g = &pr->grid;
    int G = g->n_grid, m = r->n_missing;
    char v[64];
    if (source) fprintf(fp, "spectrum: %s\n", source);
    fprintf(fp, "known:    ");
    for (int p = 0; p < g->n_params; p++)
        if (r->known[p]) {
            fmt_value(v, sizeof v, r->values[p]);
            fprintf(fp, "%s = %s %s   ", g->names[p], v, g->units[p]);
        }
    fprintf(fp, "\nmissing:  ");
    for (int i = 0; i < m; i++) fprintf(fp, "%s%s", g->names[r->missing[i]], i + 1 < m ? ", " : "\n");
    if (strcmp(pr->training, "simulation") == 0) /* the head's target: see docs/train.md */
        fprintf(fp, "predicted misfit of the most probable grid values: %.3g (relative; about sigma %g would be a "
                    "perfect fit)\n\n", r->predicted_resnorm, r->sigma);
    else
        fprintf(fp, "predicted resnorm of the best fit: %.4g \xce\xa9\n\n", r->predicted_resnorm);
    fprintf(fp, "rank ");
    for (int i = 0; i < m; i++) {
        char h[48];
        int p = r->missing[i];
        snprintf(h, sizeof h, "%s%s%s%s", g->names[p], g->units[p][0] ? " (" : "", g->units[p], g->units[p][0] ? ")" : "");
        fprintf(fp, "%14s", h);
    }
    fprintf(fp, "  %s  confidence\n", m == 1 ? "probability" : "joint prob.");
    for (int k = 0; k < r->k; k++) {
        fprintf(fp, "%4d ", k + 1);
        for (int i = 0; i < m; i++) {
            fmt_value(v, sizeof v, g->values[(size_t)r->missing[i] * G + r->top_idx[k * m + i]]);
            fprintf(fp, "%14s", v);
        }
        fprintf(fp, "  %11.4f  %.4f (%s)\n", r->top_p[k], r->top_conf[k], eisnet_confidence_word(r->top_p[k]));
    }
    fprintf(fp, "\nuncertainty (entropy in nats; uniform = %.3f):\n", log((double)G));
    for (int i = 0; i < m; i++) {
        int p = r->missing[i];
        fprintf(fp, "  %-8s entropy %.3f (normalised %.3f), max probability %.3f, top-5 mass %.3f\n", g->names[p],
                r->entropy[p], r->norm_entropy[p], r->max_prob[p], r->top5[p]);
    }
    fprintf(fp, "\nmarginal distributions (grid value: probability%s):\n", r->has_exact ? " | exact" : "");
    for (int i = 0; i < m; i++) {
        int p = r->missing[i];
        fprintf(fp, "  %s:\n", g->names[p]);
        for (int c = 0; c < G; c++) {
            fmt_value(v, sizeof v, g->values[(size_t)p * G + c]);
            double q = r->probs[(size_t)p * G + c];
            int bar = (int)lround(q * 40);
            fprintf(fp, "    %10s %s %6.3f ", v, g->units[p], q);
            for (int b = 0; b < bar; b++) fputc('#', fp);
            if (r->has_exact) fprintf(fp, "%*s| %.3f", 41 - bar, "", r->exact[(size_t)p * G + c]);
            fputc('\n', fp);
        }
    }
    if (r->has_exact) {
        const eisnet_posterior *ps = &r->post;
        fprintf(fp, "\nexact Bayes cell posterior (sigma %.3g): %d sub-points per cell and dimension, %s, %.0f spectra "
                    "evaluated\n",
                r->sigma, ps->sub_used,
                ps->converged ? "converged"
                : ps->peak_missed ? "NOT converged (the boxes missed the best fit's peak)"
                                  : "NOT converged (budget or resolution cap reached)",
                ps->n_evals);
        if (ps->peak_missed)
            fprintf(fp, "  the boxes' sub-points missed a peak that a local search found (it fits better than any "
                        "of them)%s\n",
                    ps->is_ran ? "; the sampling stage was centred on it" : "");
        if (ps->is_ran)
            fprintf(fp, "  the boxes did not settle; importance sampling: %.0f samples, effective %.0f, largest standard "
                        "error of a marginal %.2g (%s used)\n",
                    ps->is_samples, ps->is_ess, ps->is_max_se, ps->method == 1 ? "sampling" : "boxes");
        for (int i = 0; i < m; i++)
            fprintf(fp, "  KL(exact || network) for %s: %.3f nats\n", g->names[r->missing[i]], r->kl[r->missing[i]]);
        fprintf(fp, "best grid completion (known values as given):");
        for (int i = 0; i < m; i++) {
            int p = r->missing[i];
            fmt_value(v, sizeof v, g->values[(size_t)p * G + ps->argmin[p]]);
            fprintf(fp, " %s = %s", g->names[p], v);
        }
        fprintf(fp, ", relative misfit %.3g\n", ps->argmin_rel_rms);
    }
    if (isfinite(r->misfit))
        fprintf(fp, "\nconsistency: best relative misfit with the known values %.3g (sigma %.3g)\n", r->misfit, r->sigma);
    else
        fprintf(fp, "\nconsistency: not checked (too many grid completions of the missing parameters)\n");
    for (int i = 0; i < r->n_warnings; i++) fprintf(fp, "WARNING: %s\n", r->warnings[i]);
}
