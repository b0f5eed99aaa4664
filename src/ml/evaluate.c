/* Evaluation of a model on fresh simulations: metrics, the run over masks,
 * table, JSON and reliability diagram. */
#include "eisnet/evaluate.h"
#include "eisnet/error.h"
#include "eisnet/plot.h"
#include "eisnet/rng.h"
#include "eisnet/simulate.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

/* ---- metrics ------------------------------------------------------------------ */

double eisnet_kl(const double *p, const double *q, int n)
{
    double kl = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) kl += p[i] * log(p[i] / fmax(q[i], EISNET_KL_FLOOR));
    return kl;
}

/* Cell i ranks before cell truth: more probable, or as probable with a
 * lower index. */
static int ranks_before(const double *p, int i, int truth)
{
    return p[i] > p[truth] || (p[i] == p[truth] && i < truth);
}

static int rank_of(const double *p, int n, int truth)
{
    int r = 0;
    for (int i = 0; i < n; i++) r += ranks_before(p, i, truth);
    return r;
}

/* The mass of the cells ranked before truth. */
static double mass_before(const double *p, int n, int truth)
{
    double before = 0;
    for (int i = 0; i < n; i++)
        if (ranks_before(p, i, truth)) before += p[i];
    return before;
}

int eisnet_top_k_hit(const double *p, int n, int truth, int k)
{
    if (truth < 0 || truth >= n) return 0;
    return rank_of(p, n, truth) < k;
}

/* Truth is in the set when the mass ranked before it has not yet reached
 * the level (1e-9 absorbs rounding: 0.5 + 0.2 + 0.2 reaches 0.9). */
#define HPD_ROUNDING 1e-9

int eisnet_hpd_covers(const double *p, int n, int truth, double level)
{
    if (truth < 0 || truth >= n) return 0;
    return mass_before(p, n, truth) + HPD_ROUNDING < level;
}

double eisnet_hpd_cover_share(const double *p, int n, int truth, double level)
{
    if (truth < 0 || truth >= n || !(p[truth] > 0)) return 0;
    double before = mass_before(p, n, truth);
    if (before + HPD_ROUNDING >= level) return 0;
    if (before + p[truth] <= level + HPD_ROUNDING) return 1;
    return (level - before) / p[truth];
}

void eisnet_calibration_add(eisnet_calibration *c, double top1_prob, int correct)
{
    int b = (int)(top1_prob * EISNET_CAL_BINS);
    if (b < 0) b = 0;
    if (b >= EISNET_CAL_BINS) b = EISNET_CAL_BINS - 1;
    c->conf[b] += top1_prob;
    c->hit[b] += correct ? 1 : 0;
    c->count[b] += 1;
}

void eisnet_calibration_merge(eisnet_calibration *into, const eisnet_calibration *c)
{
    for (int b = 0; b < EISNET_CAL_BINS; b++) {
        into->conf[b] += c->conf[b];
        into->hit[b] += c->hit[b];
        into->count[b] += c->count[b];
    }
}

double eisnet_calibration_ece(const eisnet_calibration *c)
{
    double n = 0, e = 0;
    for (int b = 0; b < EISNET_CAL_BINS; b++) n += c->count[b];
    if (n == 0) return NAN;
    for (int b = 0; b < EISNET_CAL_BINS; b++)
        if (c->count[b] > 0) e += fabs(c->hit[b] - c->conf[b]) / n;
    return e;
}

/* ---- options and masks ----------------------------------------------------------- */

void eisnet_evaluate_options_default(eisnet_evaluate_options *o)
{
    memset(o, 0, sizeof *o);
    o->n = 1000;
    o->n_exact = 100;
    o->sigma = EISNET_POSTERIOR_SIGMA;
    o->seed = 42;
    eisnet_posterior_options_default(&o->post);
}

int eisnet_masks_by_missing(int n_params, int min_missing, int max_missing, uint8_t (*masks)[EISNET_MAX_PARAMS])
{
    int k = 0;
    if (n_params < 1 || n_params > 20) return 0;
    for (int m = min_missing; m <= max_missing && m <= n_params; m++)
        for (uint32_t bits = 0; bits < (1u << n_params); bits++) {
            if (__builtin_popcount(bits) != n_params - m) continue;
            /* bit p set = parameter p known */
            for (int p = 0; p < n_params; p++) masks[k][p] = (bits >> p) & 1;
            k++;
        }
    return k;
}

void eisnet_evaluation_free(eisnet_evaluation *e)
{
    free(e->mask);
    memset(e, 0, sizeof *e);
}

/* ---- accumulation ------------------------------------------------------------------ */

typedef struct {
    double top1, top3, p_true, cover50, cover90, cover90_cells, n;
    eisnet_calibration cal;
} acc;

static void acc_add(acc *a, const double *p, int G, int truth)
{
    int best = 0;
    for (int c = 1; c < G; c++)
        if (p[c] > p[best]) best = c;
    a->top1 += best == truth;
    a->top3 += eisnet_top_k_hit(p, G, truth, 3);
    a->p_true += p[truth];
    a->cover50 += eisnet_hpd_cover_share(p, G, truth, 0.5);
    a->cover90 += eisnet_hpd_cover_share(p, G, truth, 0.9);
    a->cover90_cells += eisnet_hpd_covers(p, G, truth, 0.9);
    a->n += 1;
    eisnet_calibration_add(&a->cal, p[best], best == truth);
}

static eisnet_answer_metrics acc_done(const acc *a)
{
    eisnet_answer_metrics m;
    double n = a->n > 0 ? a->n : NAN;
    m.top1 = a->top1 / n;
    m.top3 = a->top3 / n;
    m.p_true = a->p_true / n;
    m.cover50 = a->cover50 / n;
    m.cover90 = a->cover90 / n;
    m.cover90_cells = a->cover90_cells / n;
    m.ece = eisnet_calibration_ece(&a->cal);
    return m;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int n_threads(int t)
{
#ifdef EISNET_HAVE_OPENMP
    return t > 0 ? t : omp_get_max_threads();
#else
    (void)t;
    return 1;
#endif
}

/* Network probabilities (n x P x G) of every spectrum under one mask. */
static int network_probs(const eisnet_predictor *pr, const double *values, const float *feats, int n,
                         const uint8_t *known, double *probs)
{
    int P = pr->grid.n_params, G = pr->grid.n_grid, n_in = eisnet_predictor_n_in(pr), B = 256;
    float *x = malloc(sizeof(float) * (size_t)B * n_in), *pf = malloc(sizeof(float) * (size_t)B * P * G);
    uint8_t *miss = malloc((size_t)B * P);
    eisnet_workspace *ws = eisnet_workspace_new(pr->model, B);
    int rc = -1;
    if (!x || !pf || !miss || !ws) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (int i0 = 0; i0 < n; i0 += B) {
        int b = n - i0 < B ? n - i0 : B;
        for (int i = 0; i < b; i++) {
            const float *f = pr->n_features ? feats + (size_t)(i0 + i) * pr->n_features : NULL;
            eisnet_predictor_input(pr, values + (size_t)(i0 + i) * P, known, f, x + (size_t)i * n_in);
            for (int p = 0; p < P; p++) miss[i * P + p] = !known[p];
        }
        if (eisnet_model_predict_masked(pr->model, ws, x, b, miss, pf, NULL) != 0) goto out;
        for (size_t k = 0; k < (size_t)b * P * G; k++) probs[(size_t)i0 * P * G + k] = pf[k];
    }
    rc = 0;
out:
    free(x);
    free(pf);
    free(miss);
    eisnet_workspace_free(ws);
    return rc;
}

/* Per spectrum of the exact subset: exact marginals (P x G), converged, seconds. */
typedef struct {
    double *exact;
    uint8_t *converged;
    double *seconds;
    int *argmin;      /* n x P */
    double *profile;  /* n x P x G */
} per_spectrum;

/* On a terminal one line rewritten in place; otherwise (a log file, CI) a
 * plain line per finished mask. */
static void progress_line(int quiet, int mask, int n_masks, const char *what, int done, int total)
{
    static int tty = -1;
    if (quiet) return;
    if (tty < 0) tty = isatty(2);
    if (tty) fprintf(stderr, "\revaluate: mask %d/%d, %s %d/%d   ", mask + 1, n_masks, what, done, total);
    else if (done == total) fprintf(stderr, "evaluate: mask %d/%d, %d %s\n", mask + 1, n_masks, total, what);
    fflush(stderr);
}

/* Standard error of a mean from the sum and the sum of squares of n values:
 * a mean KL over 100 spectra is dominated by a few of them, so a claim
 * about it needs its spread. */
static double kl_stderr(double sum, double sum2, int n)
{
    if (n < 2) return NAN;
    const double mean = sum / n, var = (sum2 - n * mean * mean) / (n - 1);
    return sqrt(var > 0 ? var / n : 0.0);
}

static int run_mask(const eisnet_predictor *pr, const eisnet_evaluate_options *o, int mi, const double *values,
                    const int *cells, const double complex *z, const float *feats, double *probs, per_spectrum *ps,
                    eisnet_mask_metrics *mm, eisnet_calibration *cal_net, eisnet_calibration *cal_exact)
{
    const eisnet_grid *g = &pr->grid;
    const uint8_t *known = o->masks[mi];
    int P = g->n_params, G = g->n_grid, F = g->n_freq, n = o->n, ne = o->n_exact < n ? o->n_exact : n;
    memset(mm, 0, sizeof *mm);
    memcpy(mm->known, known, sizeof(uint8_t) * (size_t)P);
    for (int p = 0; p < P; p++)
        if (!known[p]) mm->par[mm->n_missing++].param = p;
    if (mm->n_missing == 0) return eisnet_set_error("evaluate: mask %d knows every parameter", mi + 1);
    mm->n = n;
    mm->n_exact = ne;
    mm->uniform_top1 = 1.0 / G;
    if (network_probs(pr, values, feats, n, known, probs) != 0) return -1;
    int failed = 0, done = 0, nt = n_threads(o->threads);
    eisnet_posterior_options po = o->post;
    po.sigma = o->sigma;
    po.threads = 1;
    /* brute force on every spectrum, the exact posterior on the first ne: one spectrum per thread */
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) reduction(| : failed)
#else
    (void)nt;
#endif
    for (int i = 0; i < n; i++) {
        if (failed) continue;
        const double complex *zi = z + (size_t)i * F;
        const double *vi = values + (size_t)i * P;
        if (eisnet_grid_brute_force(g, zi, vi, known, 1, ps->argmin + (size_t)i * P, ps->profile + (size_t)i * P * G,
                                    NULL) != 0) {
            failed = 1;
            continue;
        }
        if (i < ne) {
            eisnet_posterior r;
            eisnet_posterior_options pi = po;
            pi.starts = vi; /* the truth sits on a peak: the search for a missed one starts there too */
            pi.n_starts = 1;
            double t0 = now();
            if (eisnet_posterior_compute(g, zi, vi, known, &pi, &r) != 0) {
                failed = 1;
                continue;
            }
            ps->seconds[i] = now() - t0;
            ps->converged[i] = (uint8_t)r.converged;
            memcpy(ps->exact + (size_t)i * P * G, r.marginal, sizeof(double) * (size_t)P * G);
            eisnet_posterior_free(&r);
        }
        int d;
#ifdef EISNET_HAVE_OPENMP
#pragma omp atomic capture
#endif
        d = ++done;
#ifdef EISNET_HAVE_OPENMP
        if (omp_get_thread_num() == 0)
#endif
            if (d % 10 == 0 || d == n) progress_line(o->quiet, mi, o->n_masks, "spectra", d, n);
    }
    if (failed) return -1;
    /* aggregation (serial, in spectrum order: deterministic) */
    double conv = 0, secs = 0;
    for (int i = 0; i < ne; i++) {
        conv += ps->converged[i];
        secs += ps->seconds[i];
    }
    mm->exact_converged = ne ? conv / ne : NAN;
    mm->exact_seconds = ne ? secs / ne : NAN;
    for (int k = 0; k < mm->n_missing; k++) {
        int p = mm->par[k].param;
        acc an = {0}, as = {0}, ae = {0};
        double a1 = 0, a3 = 0, kl = 0, kl2 = 0, klc = 0, nc = 0;
        double *neg = malloc(sizeof(double) * (size_t)G);
        if (!neg) return eisnet_set_error("out of memory");
        for (int i = 0; i < n; i++) {
            int truth = cells[(size_t)i * P + p];
            const double *q = probs + ((size_t)i * P + p) * G;
            acc_add(&an, q, G, truth);
            a1 += ps->argmin[(size_t)i * P + p] == truth;
            for (int c = 0; c < G; c++) neg[c] = -ps->profile[((size_t)i * P + p) * G + c];
            a3 += eisnet_top_k_hit(neg, G, truth, 3);
            if (i < ne) {
                const double *e = ps->exact + ((size_t)i * P + p) * G;
                acc_add(&as, q, G, truth);
                acc_add(&ae, e, G, truth);
                double d = eisnet_kl(e, q, G);
                kl += d;
                kl2 += d * d;
                if (ps->converged[i]) klc += d, nc++;
            }
        }
        free(neg);
        mm->par[k].net = acc_done(&an);
        mm->par[k].net_sub = acc_done(&as);
        mm->par[k].exact = acc_done(&ae);
        mm->par[k].argmin_top1 = a1 / n;
        mm->par[k].argmin_top3 = a3 / n;
        mm->par[k].kl = ne ? kl / ne : NAN;
        mm->par[k].kl_converged = nc > 0 ? klc / nc : NAN;
        mm->par[k].kl_stderr = kl_stderr(kl, kl2, ne);
        eisnet_calibration_merge(cal_net, &an.cal);
        eisnet_calibration_merge(cal_exact, &ae.cal);
    }
    return 0;
}

int eisnet_evaluate(const eisnet_predictor *pr, const eisnet_evaluate_options *o, eisnet_evaluation *out)
{
    memset(out, 0, sizeof *out);
    const eisnet_grid *g = &pr->grid;
    int P = g->n_params, G = g->n_grid, F = g->n_freq, n = o->n, NF = pr->n_features;
    if (n < 1) return eisnet_set_error("--n must be at least 1 (got %d)", n);
    if (o->n_exact < 0) return eisnet_set_error("--n_exact must be 0 or more (got %d)", o->n_exact);
    if (!(o->sigma > 0) || !isfinite(o->sigma)) return eisnet_set_error("--sigma must be positive (got %g)", o->sigma);
    if (o->n_masks < 1 || !o->masks) return eisnet_set_error("evaluate: no mask of known parameters");
    for (int k = 0; k < o->n_masks; k++) {
        int nk = 0;
        for (int p = 0; p < P; p++) nk += o->masks[k][p] ? 1 : 0;
        if (nk == P) return eisnet_set_error("evaluate: mask %d knows every parameter; nothing to predict", k + 1);
        double tuples = pow((double)G, P - nk);
        if (o->n_exact > 0 && tuples > EISNET_POSTERIOR_MAX_TUPLES)
            return eisnet_set_error("evaluate: mask %d leaves %d parameters missing (%.0f cell combinations); "
                                    "the exact posterior is limited to %d: use --n_exact 0",
                                    k + 1, P - nk, tuples, EISNET_POSTERIOR_MAX_TUPLES);
    }
    double t0 = now();
    double *values = malloc(sizeof(double) * (size_t)n * P);
    int *cells = malloc(sizeof(int) * (size_t)n * P);
    double complex *z = malloc(sizeof(double complex) * (size_t)n * F);
    float *feats = NF ? malloc(sizeof(float) * (size_t)n * NF) : NULL;
    double *probs = malloc(sizeof(double) * (size_t)n * P * G);
    int ne = o->n_exact < n ? o->n_exact : n;
    per_spectrum ps = {
        .exact = malloc(sizeof(double) * ((size_t)ne * P * G + 1)),
        .converged = malloc((size_t)ne + 1),
        .seconds = malloc(sizeof(double) * ((size_t)ne + 1)),
        .argmin = malloc(sizeof(int) * (size_t)n * P),
        .profile = malloc(sizeof(double) * (size_t)n * P * G),
    };
    out->mask = calloc((size_t)o->n_masks, sizeof *out->mask);
    int rc = -1;
    if (!values || !cells || !z || (NF && !feats) || !probs || !ps.exact || !ps.converged || !ps.seconds ||
        !ps.argmin || !ps.profile || !out->mask) {
        eisnet_set_error("out of memory");
        goto out;
    }
    /* the spectra, once, shared by every mask */
    eisnet_rng rng;
    eisnet_rng_seed(&rng, o->seed, EISNET_EVAL_STREAM);
    for (int i = 0; i < n; i++) {
        eisnet_simulate(g, &rng, o->sigma, values + (size_t)i * P, cells + (size_t)i * P, z + (size_t)i * F);
        if (NF) eisnet_predictor_spectrum_features(pr, z + (size_t)i * F, feats + (size_t)i * NF);
    }
    out->n_masks = o->n_masks;
    for (int k = 0; k < o->n_masks; k++)
        if (run_mask(pr, o, k, values, cells, z, feats, probs, &ps, &out->mask[k], &out->cal_net, &out->cal_exact) !=
            0)
            goto out;
    if (!o->quiet)
        fprintf(stderr, "%sevaluate: %d masks x %d spectra in %.1f s%*s\n", isatty(2) ? "\r" : "", o->n_masks, n,
                now() - t0, isatty(2) ? 30 : 0, "");
    out->seconds = now() - t0;
    rc = 0;
out:
    free(values);
    free(cells);
    free(z);
    free(feats);
    free(probs);
    free(ps.exact);
    free(ps.converged);
    free(ps.seconds);
    free(ps.argmin);
    free(ps.profile);
    if (rc != 0) eisnet_evaluation_free(out);
    return rc;
}

/* ---- output -------------------------------------------------------------------------- */

static void mask_names(const eisnet_grid *g, const uint8_t *known, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int p = 0; p < g->n_params; p++)
        if (known[p]) k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%s", k ? "," : "", g->names[p]);
    if (k == 0) snprintf(buf, n, "(none)");
}

void eisnet_evaluation_print(FILE *fp, const eisnet_predictor *pr, const eisnet_evaluate_options *o,
                             const eisnet_evaluation *e)
{
    const eisnet_grid *g = &pr->grid;
    fprintf(fp,
            "evaluation on %d fresh simulations per mask (sigma %.3g, seed %llu), exact posterior on the first %d; "
            "uniform top-1 %.3f\n",
            o->n, o->sigma, (unsigned long long)o->seed, o->n_exact < o->n ? o->n_exact : o->n, 1.0 / g->n_grid);
    fprintf(fp, "%-16s %-5s | %-29s | %-11s | %-17s | %-13s | %s\n", "known", "param",
            "network: top1 top3 p(true)", "argmin 1/3", "exact: top1 top3", "net top1 on", "KL    ECE   cov50 cov90");
    fprintf(fp, "%-16s %-5s | %-29s | %-11s | %-17s | %-13s | %s\n", "", "", "", "", "p(true)", "exact subset",
            "(network)");
    for (int k = 0; k < e->n_masks; k++) {
        const eisnet_mask_metrics *m = &e->mask[k];
        char names[256];
        mask_names(g, m->known, names, sizeof names);
        for (int i = 0; i < m->n_missing; i++) {
            const eisnet_param_metrics *q = &m->par[i];
            fprintf(fp, "%-16s %-5s | %-5.3f %-5.3f %-17.3f | %.3f %.3f | %.3f %.3f %-5.3f | %-13.3f | %.3f %.3f %.3f %.3f\n",
                    i == 0 ? names : "", g->names[q->param], q->net.top1, q->net.top3, q->net.p_true, q->argmin_top1,
                    q->argmin_top3, q->exact.top1, q->exact.top3, q->exact.p_true, q->net_sub.top1, q->kl,
                    q->net.ece, q->net.cover50, q->net.cover90);
        }
        if (m->n_exact > 0) {
            fprintf(fp, "%-16s %5s   exact posterior: %.0f%% converged, %.3g s each; KL standard error:", "", "",
                    100 * m->exact_converged, m->exact_seconds);
            for (int i = 0; i < m->n_missing; i++) {
                if (isnan(m->par[i].kl_stderr)) fprintf(fp, " -"); /* one exact posterior has no spread */
                else fprintf(fp, " %.3f", m->par[i].kl_stderr);
            }
            /* an unconverged "exact" answer can be far from the true posterior, and one such
             * spectrum can dominate a mean KL: the KL on the converged ones beside it */
            if (m->exact_converged < 1) {
                fprintf(fp, "; KL on the converged ones:");
                for (int i = 0; i < m->n_missing; i++) fprintf(fp, " %.3f", m->par[i].kl_converged);
            }
            fputc('\n', fp);
        }
    }
    fprintf(fp, "over all masks: ECE network %.3f, exact %.3f; %.1f s\n", eisnet_calibration_ece(&e->cal_net),
            eisnet_calibration_ece(&e->cal_exact), e->seconds);
}

static cJSON *metrics_json(const eisnet_answer_metrics *a)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "top1", a->top1);
    cJSON_AddNumberToObject(j, "top3", a->top3);
    cJSON_AddNumberToObject(j, "p_true", a->p_true);
    if (isfinite(a->ece)) cJSON_AddNumberToObject(j, "ece", a->ece);
    else cJSON_AddNullToObject(j, "ece");
    cJSON_AddNumberToObject(j, "coverage50", a->cover50);
    cJSON_AddNumberToObject(j, "coverage90", a->cover90);
    cJSON_AddNumberToObject(j, "coverage90_whole_cells", a->cover90_cells);
    return j;
}

static cJSON *cal_json(const eisnet_calibration *c)
{
    cJSON *a = cJSON_CreateArray();
    for (int b = 0; b < EISNET_CAL_BINS; b++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "count", c->count[b]);
        if (c->count[b] > 0) {
            cJSON_AddNumberToObject(x, "mean_top1_probability", c->conf[b] / c->count[b]);
            cJSON_AddNumberToObject(x, "accuracy", c->hit[b] / c->count[b]);
        }
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

static void add_num(cJSON *j, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(j, k, v);
    else cJSON_AddNullToObject(j, k);
}

char *eisnet_evaluation_json(const eisnet_predictor *pr, const eisnet_evaluate_options *o, const eisnet_evaluation *e)
{
    const eisnet_grid *g = &pr->grid;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "n", o->n);
    cJSON_AddNumberToObject(j, "n_exact", o->n_exact < o->n ? o->n_exact : o->n);
    cJSON_AddNumberToObject(j, "sigma", o->sigma);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "uniform_top1", 1.0 / g->n_grid);
    cJSON_AddNumberToObject(j, "seconds", e->seconds);
    cJSON *ms = cJSON_AddArrayToObject(j, "masks");
    for (int k = 0; k < e->n_masks; k++) {
        const eisnet_mask_metrics *m = &e->mask[k];
        cJSON *x = cJSON_CreateObject();
        cJSON *kn = cJSON_AddArrayToObject(x, "known"), *mi = cJSON_AddArrayToObject(x, "missing");
        for (int p = 0; p < g->n_params; p++)
            cJSON_AddItemToArray(m->known[p] ? kn : mi, cJSON_CreateString(g->names[p]));
        add_num(x, "exact_converged", m->exact_converged);
        add_num(x, "exact_seconds", m->exact_seconds);
        cJSON *ps = cJSON_AddObjectToObject(x, "params");
        for (int i = 0; i < m->n_missing; i++) {
            const eisnet_param_metrics *q = &m->par[i];
            cJSON *y = cJSON_AddObjectToObject(ps, g->names[q->param]);
            cJSON_AddItemToObject(y, "network", metrics_json(&q->net));
            cJSON *am = cJSON_AddObjectToObject(y, "argmin");
            cJSON_AddNumberToObject(am, "top1", q->argmin_top1);
            cJSON_AddNumberToObject(am, "top3", q->argmin_top3);
            if (m->n_exact > 0) {
                cJSON_AddItemToObject(y, "exact", metrics_json(&q->exact));
                cJSON_AddItemToObject(y, "network_on_exact_subset", metrics_json(&q->net_sub));
                add_num(y, "kl", q->kl);
                add_num(y, "kl_converged", q->kl_converged);
                add_num(y, "kl_stderr", q->kl_stderr);
            }
        }
        cJSON_AddItemToArray(ms, x);
    }
    cJSON *c = cJSON_AddObjectToObject(j, "calibration");
    add_num(c, "ece_network", eisnet_calibration_ece(&e->cal_net));
    add_num(c, "ece_exact", eisnet_calibration_ece(&e->cal_exact));
    cJSON_AddItemToObject(c, "bins_network", cal_json(&e->cal_net));
    cJSON_AddItemToObject(c, "bins_exact", cal_json(&e->cal_exact));
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}

int eisnet_evaluation_reliability_svg(const char *path, const eisnet_evaluation *e)
{
    double dx[2] = {0, 1}, dy[2] = {0, 1}, nx[EISNET_CAL_BINS], ny[EISNET_CAL_BINS], ex[EISNET_CAL_BINS],
           ey[EISNET_CAL_BINS];
    int nn = 0, nex = 0;
    for (int b = 0; b < EISNET_CAL_BINS; b++) {
        if (e->cal_net.count[b] > 0) {
            nx[nn] = e->cal_net.conf[b] / e->cal_net.count[b];
            ny[nn++] = e->cal_net.hit[b] / e->cal_net.count[b];
        }
        if (e->cal_exact.count[b] > 0) {
            ex[nex] = e->cal_exact.conf[b] / e->cal_exact.count[b];
            ey[nex++] = e->cal_exact.hit[b] / e->cal_exact.count[b];
        }
    }
    eisnet_plot_series s[3] = {{"calibrated", dx, dy, 2, EISNET_PLOT_DASHED},
                               {"network", nx, ny, nn, EISNET_PLOT_LINE_MARKERS},
                               {"exact posterior", ex, ey, nex, EISNET_PLOT_LINE_MARKERS}};
    char title[128];
    snprintf(title, sizeof title, "Reliability of the top-1 probability (ECE network %.3f, exact %.3f)",
             eisnet_calibration_ece(&e->cal_net), eisnet_calibration_ece(&e->cal_exact));
    eisnet_plot_axes ax = {title, "mean top-1 probability in the bin", "share of top-1 answers that were right", 0, 0,
                           1};
    return eisnet_plot_lines(path, &ax, s, nex > 0 ? 3 : 2);
}

int eisnet_evaluate_summary(const eisnet_predictor *pr, FILE *fp, int n, int n_exact, double sigma, uint64_t seed,
                            int quiet)
{
    uint8_t(*masks)[EISNET_MAX_PARAMS] = malloc(sizeof *masks * ((size_t)1 << pr->grid.n_params));
    if (!masks) return eisnet_set_error("out of memory");
    eisnet_evaluate_options o;
    eisnet_evaluate_options_default(&o);
    o.n = n;
    o.n_exact = n_exact;
    o.sigma = sigma > 0 ? sigma : EISNET_POSTERIOR_SIGMA;
    o.seed = seed;
    o.quiet = quiet;
    /* a closing look, not the measurement: the box rule alone, without the
     * sampling stage that costs seconds on each ridge (eisnet evaluate runs
     * it); unconverged posteriors are reported as such */
    o.post.sampling = -1;
    o.n_masks = eisnet_masks_by_missing(pr->grid.n_params, 1, 3, masks);
    o.masks = (const uint8_t(*)[EISNET_MAX_PARAMS])masks;
    eisnet_evaluation e;
    int rc = eisnet_evaluate(pr, &o, &e);
    if (rc == 0) {
        eisnet_evaluation_print(fp, pr, &o, &e);
        eisnet_evaluation_free(&e);
    }
    free(masks);
    return rc;
}
