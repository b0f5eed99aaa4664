/* Training by simulation (neural posterior estimation).
 *
 * Every training example is a fresh simulation: a truth drawn log-uniform
 * inside the ranges, its spectrum with relative complex Gaussian noise sigma,
 * a mask over all subsets of known parameters (0 to n-1 known, uniform over
 * the 2^n - 1 subsets), the known values as inputs at their true values, and
 * as label of each missing parameter the grid cell that holds its truth.
 * Cross-entropy is a proper scoring rule, so the network's softmax converges
 * to the cell posterior of the noise model and the prior.
 *
 * Example j of the run is a pure function of (seed, j): its random numbers
 * come from its own stream, so a run is the same on any number of threads
 * and a resumed run equals an uninterrupted one. The simulations of a batch
 * are made on all threads before the network step. */
#include "train_internal.h"
#include "ml_common.h"
#include "fastmath.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/backend.h"
#include "eisnet/optim.h"
#include "eisnet/posterior.h"
#include "eisnet/pair.h"
#include "eisnet/progress.h"
#include "eisnet/rng.h"
#include "eisnet/simulate.h"
#include "eisnet/train_state.h"

#include <cjson/cJSON.h>
#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

/* stream kinds, in the top byte of an example's stream number */
enum { SIM_TRAIN = 1, SIM_VAL = 2, SIM_NORM = 3, SIM_DROP = 4 };
#define SIM_STREAM(kind, i) (((uint64_t)(kind) << 56) | (uint64_t)(i))

/* simulations that fix the spectrum features' mean and deviation */
#define SIM_NORM_SAMPLES 20000
/* the resnorm head's target is floored here (log10 of a relative misfit) */
#define SIM_MISFIT_FLOOR 1e-6

typedef struct {
    double *v, *vc;          /* P: truth, its grid completion */
    int *cells;              /* P */
    uint8_t *known;          /* P */
    double complex *z, *zc;  /* F: measured spectrum, completion's spectrum */
    float *feat;             /* 2F */
} scratch;

static int scratch_new(scratch *s, int P, int F)
{
    s->v = malloc(sizeof(double) * 2 * (size_t)P);
    s->cells = malloc(sizeof(int) * (size_t)P);
    s->known = malloc((size_t)P);
    s->z = malloc(sizeof(double complex) * 2 * (size_t)F);
    s->feat = malloc(sizeof(float) * 2 * (size_t)F);
    if (!s->v || !s->cells || !s->known || !s->z || !s->feat) return -1;
    s->vc = s->v + P;
    s->zc = s->z + F;
    return 0;
}

static void scratch_free(scratch *s)
{
    free(s->v);
    free(s->cells);
    free(s->known);
    free(s->z);
    free(s->feat);
}

/* z[k] *= 1 + sigma (n1 + i n2): the noise model of eisnet_sim_add_noise,
 * with both normals of a Box-Muller pair used (one log and one sqrt per
 * frequency instead of two): the noise was most of the simulation's cost. */
static void sim_noise(eisnet_rng *r, double sigma, double complex *z, int n)
{
    /* Box-Muller, both halves: the uniforms in stream order, then the
     * logarithms and angles as arrays (vectorised, src/eis/fastmath.c) */
    enum { CHUNK = 64 };
    double u1[CHUNK], ang[CHUNK], lg[CHUNK], sn[CHUNK], cs[CHUNK];
    for (int k0 = 0; k0 < n; k0 += CHUNK) {
        const int m = n - k0 < CHUNK ? n - k0 : CHUNK;
        for (int k = 0; k < m; k++) {
            u1[k] = 1.0 - eisnet_rng_uniform(r); /* (0, 1] */
            ang[k] = 6.283185307179586 * eisnet_rng_uniform(r);
        }
        eisnet_log_array(u1, lg, m);
        eisnet_sincos_array(ang, sn, cs, m);
        for (int k = 0; k < m; k++) {
            const double rad = sigma * sqrt(-2.0 * lg[k]);
            z[k0 + k] *= (1.0 + rad * cs[k]) + rad * sn[k] * I; /* finite: no CMPLX needed */
        }
    }
}

/* What every example of a run shares: noise, seed, the mask weights. */
typedef struct {
    double sigma;
    uint64_t seed;
    double many_missing_weight; /* masks with more than EISNET_TRAIN_MANY_MISSING missing */
} sim_setup;

static sim_setup sim_setup_of(const eisnet_train_options *o)
{
    sim_setup u = {o->sigma, o->seed, o->many_missing_weight};
    return u;
}

/* The random part of example `stream`: truth, cells, noisy spectrum, mask. */
static void sim_draw(const eisnet_grid *g, const sim_setup *u, uint64_t stream, scratch *s)
{
    eisnet_rng r;
    eisnet_rng_seed(&r, u->seed, stream);
    int P = g->n_params;
    eisnet_sim_draw_truth(g, &r, s->v);
    for (int p = 0; p < P; p++) s->cells[p] = eisnet_grid_cell(g, p, s->v[p]);
    eisnet_grid_spectrum(g, s->v, s->z);
    sim_noise(&r, u->sigma, s->z, g->n_freq);
    /* how often each mask is drawn decides how much of the training it gets,
     * not the posterior the network learns for it */
    uint64_t bits = eisnet_sim_draw_mask(&r, P, EISNET_TRAIN_MANY_MISSING, u->many_missing_weight);
    for (int p = 0; p < P; p++) s->known[p] = (uint8_t)((bits >> p) & 1u);
}

/* The misfit of the truth's grid completion (known values as given, missing
 * ones at the grid value of their cell) to the measured spectrum, as
 * eisnet_posterior_rel_rms measures it (about sigma for a spectrum the
 * parameters fit): what plugging the right cells' grid values into the
 * circuit leaves unexplained. log10 of it is the resnorm head's target. */
static double completion_misfit(const eisnet_grid *g, scratch *s)
{
    int P = g->n_params;
    for (int p = 0; p < P; p++) s->vc[p] = s->known[p] ? s->v[p] : g->values[(size_t)p * g->n_grid + s->cells[p]];
    return eisnet_posterior_rel_rms(g, s->z, s->vc);
}

/* Input row, targets and resnorm target of example `stream`. */
static void sim_example(const eisnet_predictor *pr, const sim_setup *u, uint64_t stream, scratch *s, float *x,
                        int32_t *target, uint8_t *missing, float *rt)
{
    const eisnet_grid *g = &pr->grid;
    int P = g->n_params;
    sim_draw(g, u, stream, s);
    eisnet_predictor_spectrum_features(pr, s->z, s->feat);
    eisnet_predictor_input(pr, s->v, s->known, s->feat, x);
    for (int p = 0; p < P; p++) {
        target[p] = s->cells[p];
        missing[p] = (uint8_t)!s->known[p];
    }
    *rt = (float)log10(fmax(completion_misfit(g, s), SIM_MISFIT_FLOOR));
}

/* n examples with streams kind|first..first+n-1 into the row arrays, on all
 * threads. -1 when out of memory. */
static int sim_batch(const eisnet_predictor *pr, const sim_setup *u, int kind, uint64_t first, int n, float *x,
                     int32_t *target, uint8_t *missing, float *rt, int threads)
{
    const eisnet_grid *g = &pr->grid;
    int P = g->n_params, n_in = eisnet_predictor_n_in(pr), failed = 0;
    (void)threads; /* without OpenMP: one thread */
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(eisnet_cpu_threads(threads)) if (n >= 64) reduction(| : failed)
#endif
    {
        scratch s;
        if (scratch_new(&s, P, g->n_freq) != 0) failed = 1;
        else {
#ifdef EISNET_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
            for (int b = 0; b < n; b++)
                sim_example(pr, u, SIM_STREAM(kind, first + (uint64_t)b), &s, x + (size_t)b * n_in,
                            target + (size_t)b * P, missing + (size_t)b * P, rt + b);
        }
        scratch_free(&s);
    }
    return failed ? eisnet_set_error("out of memory") : 0;
}

/* Mean and deviation of the raw spectrum features over simulations. */
static int sim_normalisation(eisnet_predictor *pr, const sim_setup *u, int threads)
{
    const eisnet_grid *g = &pr->grid;
    int nf = pr->n_features, P = g->n_params;
    (void)threads; /* without OpenMP: one thread */
    double *sum = calloc((size_t)nf * 2, sizeof(double));
    float *raw = malloc(sizeof(float) * (size_t)nf * SIM_NORM_SAMPLES);
    int failed = 0;
    if (!sum || !raw) {
        free(sum);
        free(raw);
        return eisnet_set_error("out of memory");
    }
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(eisnet_cpu_threads(threads)) reduction(| : failed)
#endif
    {
        scratch s;
        if (scratch_new(&s, P, g->n_freq) != 0) failed = 1;
        else {
#ifdef EISNET_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
            for (int i = 0; i < SIM_NORM_SAMPLES; i++) {
                sim_draw(g, u, SIM_STREAM(SIM_NORM, i), &s);
                eisnet_spectrum_raw_features(s.z, g->n_freq, raw + (size_t)i * nf);
            }
        }
        scratch_free(&s);
    }
    if (!failed) {
        /* in sample order, so the result does not depend on the threads */
        for (int i = 0; i < SIM_NORM_SAMPLES; i++)
            for (int k = 0; k < nf; k++) {
                double v = raw[(size_t)i * nf + k];
                sum[k] += v;
                sum[nf + k] += v * v;
            }
        for (int k = 0; k < nf; k++) {
            double mean = sum[k] / SIM_NORM_SAMPLES, var = sum[nf + k] / SIM_NORM_SAMPLES - mean * mean;
            pr->feat_mean[k] = (float)mean;
            pr->feat_std[k] = (float)sqrt(var > 1e-12 ? var : 1e-12);
            if (pr->feat_std[k] < 1e-3f) pr->feat_std[k] = 1e-3f; /* constant features stay finite */
        }
    }
    free(sum);
    free(raw);
    return failed ? eisnet_set_error("out of memory") : 0;
}

/* ---- the trainer ---------------------------------------------------------- */

typedef struct {
    const eisnet_train_options *o;
    sim_setup u; /* of o */
    eisnet_predictor pred;
    int P, G, B, n_in;
    eisnet_backend *be;
    eisnet_workspace *ws;
    float *x, *rt;
    int32_t *target;
    uint8_t *missing;
    int n_val;
    float *vx, *vrt;
    int32_t *vtarget;
    uint8_t *vmissing;
    /* the run's total epochs: o->n_epochs, or on --resume of a run whose
     * length was a default, that run's own (saved with the state as
     * run_json, so a resumed run keeps its schedule) */
    int n_epochs;
    char run_json[64];
} sim_trainer;

typedef struct {
    double loss, ce, top1, top3;
    double top1_by_missing[EISNET_MAX_PARAMS + 1];
} sim_eval;

/* Held-out loss and accuracy per missing parameter, also by the number of
 * missing parameters of the row. */
static int sim_evaluate(sim_trainer *t, sim_eval *e)
{
    int P = t->P, G = t->G;
    double sl = 0, sc = 0;
    int64_t hit1 = 0, hit3 = 0, cnt = 0, h1m[EISNET_MAX_PARAMS + 1] = {0}, cm[EISNET_MAX_PARAMS + 1] = {0};
    for (int s = 0; s < t->n_val; s += t->B) {
        int n = t->n_val - s < t->B ? t->n_val - s : t->B;
        eisnet_loss L;
        const int32_t *tg = t->vtarget + (size_t)s * P;
        const uint8_t *ms = t->vmissing + (size_t)s * P;
        if (eisnet_model_forward(t->pred.model, t->ws, t->vx + (size_t)s * t->n_in, n, 0, NULL) != 0 ||
            eisnet_model_loss(t->pred.model, t->ws, n, tg, ms, t->vrt + s, (float)t->o->resnorm_weight, &L, NULL,
                              NULL) != 0)
            return -1;
        sl += L.loss * n;
        sc += L.ce * n;
        const float *logits = eisnet_workspace_logits(t->ws);
        for (int b = 0; b < n; b++) {
            int m = 0;
            for (int p = 0; p < P; p++) m += ms[b * P + p];
            for (int p = 0; p < P; p++) {
                if (!ms[b * P + p]) continue;
                int above = eisnet_ml_rank(logits + ((size_t)b * P + p) * G, G, tg[b * P + p]);
                hit1 += above < 1;
                hit3 += above < 3;
                cnt++;
                h1m[m] += above < 1;
                cm[m]++;
            }
        }
    }
    e->loss = t->n_val ? sl / t->n_val : NAN;
    e->ce = t->n_val ? sc / t->n_val : NAN;
    e->top1 = cnt ? (double)hit1 / (double)cnt : NAN;
    e->top3 = cnt ? (double)hit3 / (double)cnt : NAN;
    for (int m = 0; m <= EISNET_MAX_PARAMS; m++) e->top1_by_missing[m] = cm[m] ? (double)h1m[m] / (double)cm[m] : NAN;
    return 0;
}

/* The learning rate before AdamW step `step` of `total`: constant, then a
 * cosine down to 0 over the last share `decay` of the steps. */
static double sim_lr(double lr, double decay, int64_t step, int64_t total)
{
    double start = (1.0 - decay) * (double)total;
    if (decay <= 0 || (double)step < start) return lr;
    double u = ((double)step - start) / ((double)total - start);
    if (u > 1) u = 1;
    return lr * 0.5 * (1.0 + cos(3.14159265358979323846 * u));
}

/* The grid: o->grid, else the dataset's in data_dir when there is one, else
 * the default (series, 12 points, 50 frequencies). */
static int sim_predictor_init(sim_trainer *t)
{
    const eisnet_train_options *o = t->o;
    eisnet_grid_options go;
    eisnet_range_strings rs;
    eisnet_dataset ds;
    int ds_open = 0, rc;
    if (o->grid) go = *o->grid;
    else {
        char *meta = eisnet_path_join(o->data_dir, "dataset.json");
        if (!meta) return eisnet_set_error("out of memory");
        int have = access(meta, F_OK) == 0;
        free(meta);
        if (have) {
            if (eisnet_dataset_open(&ds, o->data_dir) != 0) return -1;
            ds_open = 1;
            eisnet_grid_options_of(&ds.grid, &go, &rs);
        } else
            eisnet_grid_options_default(&go);
    }
    rc = eisnet_predictor_init(&t->pred, &go, 1, o->hidden, 0, o->seed ^ 0x1417ULL);
    if (ds_open) eisnet_dataset_close(&ds);
    if (rc != 0) return -1;
    if (t->pred.grid.n_params > 20) return eisnet_set_error("too many parameters for training by simulation (%d)", t->pred.grid.n_params);
    t->pred.known_unit = 1;
    t->pred.sigma = o->sigma;
    snprintf(t->pred.training, sizeof t->pred.training, "simulation");
    float d = o->dropout >= 0 ? (float)o->dropout : 0.0f;
    return eisnet_model_set_dropout(t->pred.model, d, d, d);
}

static int sim_check_options(const eisnet_train_options *o)
{
    if (!(o->sigma > 0 && o->sigma < 1)) return eisnet_set_error("--sigma must be in (0, 1) (got %g)", o->sigma);
    if (o->samples_per_epoch < 1)
        return eisnet_set_error("--samples_per_epoch must be at least 1 (got %d)", o->samples_per_epoch);
    if (o->val_samples < 0) return eisnet_set_error("--val_samples must be >= 0 (got %d)", o->val_samples);
    if (!(o->dropout < 1)) return eisnet_set_error("--dropout must be in [0, 1) (got %g)", o->dropout);
    if (!(o->lr_decay >= 0 && o->lr_decay <= 1))
        return eisnet_set_error("--lr_decay must be in [0, 1] (got %g)", o->lr_decay);
    if (o->noise > 0) return eisnet_set_error("--noise applies to dataset rows; training by simulation uses --sigma");
    if (!(o->many_missing_weight > 0 && o->many_missing_weight <= 1))
        return eisnet_set_error("--many_missing_weight must be in (0, 1] (got %g)", o->many_missing_weight);
    return 0;
}

static void sim_free(sim_trainer *t)
{
    eisnet_workspace_free(t->ws);
    free(t->x);
    free(t->rt);
    free(t->target);
    free(t->missing);
    free(t->vx);
    free(t->vrt);
    free(t->vtarget);
    free(t->vmissing);
    if (t->pred.model) eisnet_predictor_free(&t->pred);
    eisnet_backend_free(t->be);
}

static int sim_alloc(sim_trainer *t)
{
    int P = t->P, B = t->B, V = t->n_val > 0 ? t->n_val : 1;
    eisnet_backend_options bo = {.threads = t->o->threads};
    if (eisnet_matmul_parse(t->o->matmul, "--matmul", &bo.matmul) != 0) return -1;
    if (!(t->be = eisnet_backend_new(t->o->backend ? t->o->backend : "auto", &bo)) ||
        eisnet_model_set_backend(t->pred.model, t->be) != 0)
        return -1;
    t->ws = eisnet_workspace_new(t->pred.model, B);
    t->x = malloc(sizeof(float) * (size_t)B * t->n_in);
    t->rt = malloc(sizeof(float) * (size_t)B);
    t->target = malloc(sizeof(int32_t) * (size_t)B * P);
    t->missing = malloc((size_t)B * P);
    t->vx = malloc(sizeof(float) * (size_t)V * t->n_in);
    t->vrt = malloc(sizeof(float) * (size_t)V);
    t->vtarget = malloc(sizeof(int32_t) * (size_t)V * P);
    t->vmissing = malloc((size_t)V * P);
    if (!t->ws || !t->x || !t->rt || !t->target || !t->missing || !t->vx || !t->vrt || !t->vtarget || !t->vmissing)
        return eisnet_set_error("out of memory (%d held-out simulations)", t->n_val);
    return 0;
}

#define SIM_RUN_KEY "eisnet_run"

/* The run's total epochs saved in a state's run entry, or 0 (older states). */
static int saved_epochs(const char *run_json)
{
    cJSON *j = run_json ? cJSON_Parse(run_json) : NULL;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "n_epochs");
    int e = cJSON_IsNumber(n) && n->valuedouble >= 1 && n->valuedouble <= 1e6 ? (int)n->valuedouble : 0;
    cJSON_Delete(j);
    return e;
}

/* --resume: the last checkpoint's weights and the optimizer state; the
 * resumed run's total epochs when this one's was a default. */
static int sim_resume(sim_trainer *t, const eisnet_train_paths *pp, eisnet_adamw *opt, eisnet_train_run_state *rs,
                      eisnet_epoch_record **hist, int *n_hist)
{
    eisnet_predictor last;
    if (eisnet_predictor_load(&last, pp->last) != 0) return eisnet_prefix_error("cannot resume from %s: ", pp->last);
    int same = eisnet_model_n_params(last.model) == eisnet_model_n_params(t->pred.model) &&
               last.n_features == t->pred.n_features && last.known_unit && strcmp(last.training, "simulation") == 0 &&
               last.sigma == t->pred.sigma;
    if (same) {
        memcpy(eisnet_model_params(t->pred.model), eisnet_model_params(last.model),
               sizeof(float) * eisnet_model_n_params(last.model));
        t->pred.generation = last.generation;
    }
    eisnet_predictor_free(&last);
    if (!same) return eisnet_set_error("cannot resume: %s was trained with other settings", pp->last);
    /* the weights and the optimizer state must be one saved pair */
    char *run_json = NULL;
    if (eisnet_pair_recover(pp->last, pp->state, t->pred.generation) != 0 ||
        eisnet_train_state_load(pp->state, opt, rs, hist, n_hist, SIM_RUN_KEY, &run_json) != 0)
        return -1;
    const int e = saved_epochs(run_json);
    free(run_json);
    if (t->o->n_epochs_default && e > 0) t->n_epochs = e;
    return eisnet_pair_check(pp->last, t->pred.generation, pp->state, rs);
}

/* The optimizer and the run state: fresh, or those of the run --resume
 * continues (and its total epochs); the state's run entry for the saves. */
static int sim_start(sim_trainer *T, const eisnet_train_paths *pp, eisnet_adamw *opt, int *opt_ready,
                     eisnet_train_run_state *rs, eisnet_epoch_record **hist, int *n_hist)
{
    const eisnet_train_options *o = T->o;
    eisnet_adamw_config ac = eisnet_adamw_config_default();
    ac.lr = (float)o->lr;
    ac.weight_decay = (float)(o->weight_decay >= 0 ? o->weight_decay : EISNET_TRAIN_WEIGHT_DECAY_SIM);
    if (eisnet_adamw_init(opt, eisnet_model_n_params(T->pred.model), &ac) != 0) return -1;
    *opt_ready = 1;
    memset(rs, 0, sizeof *rs);
    rs->best_val = INFINITY;
    rs->lr = (float)o->lr;
    eisnet_plateau_init(&rs->plateau);
    if (o->resume) {
        if (sim_resume(T, pp, opt, rs, hist, n_hist) != 0) return -1;
        if (!o->quiet) fprintf(stderr, "train: resuming after epoch %d of %d\n", rs->epoch, T->n_epochs);
    }
    snprintf(T->run_json, sizeof T->run_json, "{\"n_epochs\":%d}", T->n_epochs);
    return 0;
}

/* The steps of one epoch: sums of loss and cross-entropy over the samples
 * seen, the last learning rate and the time spent simulating. */
static int sim_epoch(sim_trainer *T, eisnet_adamw *opt, int epoch, int64_t steps_per_epoch, int64_t total_steps,
                     eisnet_progress *prog, uint64_t *batches_done, double *sl, double *sc, int64_t *seen, double *lr,
                     double *t_sim)
{
    const eisnet_train_options *o = T->o;
    eisnet_rng er;
    eisnet_rng_seed(&er, o->seed, SIM_STREAM(SIM_DROP, epoch));
    uint64_t drop_rng = eisnet_rng_next(&er);
    for (int64_t s = 0; s < steps_per_epoch && !eisnet_train_stop_pending(); s++) {
        int64_t off = s * T->B;
        int n = (int)((int64_t)o->samples_per_epoch - off < T->B ? (int64_t)o->samples_per_epoch - off : T->B);
        uint64_t first = (uint64_t)(epoch - 1) * (uint64_t)o->samples_per_epoch + (uint64_t)off;
        double ts = eisnet_now();
        if (sim_batch(&T->pred, &T->u, SIM_TRAIN, first, n, T->x, T->target, T->missing, T->rt,
                      o->threads) != 0)
            return -1;
        *t_sim += eisnet_now() - ts;
        *lr = sim_lr(o->lr, o->lr_decay, opt->step, total_steps);
        opt->cfg.lr = (float)*lr;
        eisnet_loss L;
        if (eisnet_model_train_step(T->pred.model, T->ws, opt, T->x, n, T->target, T->missing, T->rt,
                                    (float)o->resnorm_weight, 1.0f, &drop_rng, &L, NULL, NULL, NULL) != 0)
            return -1;
        if (!isfinite(L.loss)) {
            eisnet_set_error("training diverged (loss is %g at epoch %d); try a lower --lr", L.loss, epoch);
            return -1;
        }
        *sl += L.loss * n;
        *sc += L.ce * n;
        *seen += n;
        eisnet_progress_update(prog, ++*batches_done);
    }
    return 0;
}

/* After an epoch: validation, the best and last checkpoints, the history;
 * the epoch's record into *recp. */
static int sim_epoch_end(sim_trainer *T, const eisnet_train_paths *pp, eisnet_adamw *opt, eisnet_train_run_state *rs,
                         eisnet_epoch_record *hist, int *n_hist, int epoch, double sl, double sc, int64_t seen,
                         double lr, double t0, double t_sim, eisnet_train_result *res, eisnet_epoch_record *recp)
{
    eisnet_epoch_record *rec = recp;
    double train_s = eisnet_now() - t0;
    res->sim_share = train_s > 0 ? t_sim / train_s : 0;
    *rec = (eisnet_epoch_record){epoch, sl / (double)seen, sc / (double)seen, NAN, NAN, NAN, NAN, lr,
                                 (double)seen / train_s, 0};
    sim_eval ev;
    if (T->n_val && sim_evaluate(T, &ev) != 0) return -1;
    if (T->n_val) {
        rec->val_loss = ev.loss;
        rec->val_ce = ev.ce;
        rec->val_top1 = ev.top1;
        rec->val_top3 = ev.top3;
    }
    rec->seconds = eisnet_now() - t0;
    double metric = T->n_val ? rec->val_loss : rec->train_loss;
    rs->epoch = epoch;
    rs->lr = (float)lr;
    T->pred.epoch = epoch;
    T->pred.val_loss = metric;
    if (metric < rs->best_val) {
        rs->best_val = metric;
        rs->best_epoch = epoch;
        if (eisnet_predictor_save(&T->pred, pp->best) != 0) return -1;
    }
    hist[(*n_hist)++] = *rec;
    if (eisnet_pair_save(&T->pred, pp->last, pp->state, opt, rs, hist, *n_hist, SIM_RUN_KEY, T->run_json,
                         2 * (int64_t)rs->epoch + 2) != 0 ||
        eisnet_train_history_write(pp, hist, *n_hist) != 0)
        return -1;
    return 0;
}

/* Held-out evaluation of the best checkpoint. */
static void sim_final_eval(sim_trainer *T, const eisnet_train_paths *pp, const eisnet_train_run_state *rs,
                           eisnet_train_result *res)
{
    if (!T->n_val || rs->best_epoch <= 0) return;
    eisnet_predictor best;
    if (eisnet_predictor_load(&best, pp->best) != 0) return;
    memcpy(eisnet_model_params(T->pred.model), eisnet_model_params(best.model),
           sizeof(float) * eisnet_model_n_params(best.model));
    eisnet_predictor_free(&best);
    sim_eval ev;
    if (sim_evaluate(T, &ev) == 0) {
        res->top1 = ev.top1;
        res->top3 = ev.top3;
        memcpy(res->top1_by_missing, ev.top1_by_missing, sizeof res->top1_by_missing);
    }
}

int eisnet_train_sim(const eisnet_train_options *o, eisnet_train_result *res)
{
    if (sim_check_options(o) != 0) return -1;
    sim_trainer T;
    memset(&T, 0, sizeof T);
    T.o = o;
    T.u = sim_setup_of(o);
    T.n_epochs = o->n_epochs;
    eisnet_train_paths pp = {0};
    eisnet_adamw opt = {0};
    eisnet_epoch_record *hist = NULL;
    int n_hist = 0, rc = -1, opt_ready = 0;
    for (int m = 0; m <= EISNET_MAX_PARAMS; m++) res->top1_by_missing[m] = NAN;
    if (!o->model_path && eisnet_ensure_dir(o->data_dir) != 0) return -1;
    if (sim_predictor_init(&T) != 0) goto out;
    const eisnet_grid *g = &T.pred.grid;
    T.P = g->n_params;
    T.G = g->n_grid;
    T.B = o->batch_size;
    T.n_in = eisnet_predictor_n_in(&T.pred);
    T.n_val = o->val_samples;
    if (sim_alloc(&T) != 0 || eisnet_train_paths_make(&pp, o, T.G, res) != 0) goto out;
    if (!o->quiet)
        fprintf(stderr, "train: by simulation (%s circuit, %d parameters, %d grid cells, sigma %g), %d samples per epoch, "
                        "products in %s\n",
                g->preset[0] ? g->preset : "custom", T.P, T.G, o->sigma, o->samples_per_epoch,
                eisnet_matmul_name(eisnet_backend_matmul(T.be)));
    if (sim_normalisation(&T.pred, &T.u, o->threads) != 0) goto out;
    if (T.n_val > 0 &&
        sim_batch(&T.pred, &T.u, SIM_VAL, 0, T.n_val, T.vx, T.vtarget, T.vmissing, T.vrt, o->threads) != 0)
        goto out;
    res->n_val_rows = T.n_val;

    eisnet_train_run_state rs;
    if (sim_start(&T, &pp, &opt, &opt_ready, &rs, &hist, &n_hist) != 0) goto out;
    const int n_epochs = T.n_epochs;
    {
        eisnet_epoch_record *nh = realloc(hist, sizeof *hist * ((size_t)n_epochs + (size_t)n_hist + 1));
        if (!nh) {
            eisnet_set_error("out of memory");
            goto out;
        }
        hist = nh;
    }

    int64_t steps_per_epoch = ((int64_t)o->samples_per_epoch + T.B - 1) / T.B;
    int64_t total_steps = steps_per_epoch * n_epochs;
    int first_epoch = rs.epoch + 1, epochs_run = 0;
    eisnet_progress prog;
    eisnet_progress_begin(&prog, "train", "batches",
                          (uint64_t)steps_per_epoch * (uint64_t)(n_epochs >= first_epoch ? n_epochs - first_epoch + 1 : 0),
                          o->quiet);
    if (!o->quiet && prog.tty == 0) prog.last_print = 1e300; /* per-epoch lines instead */
    uint64_t batches_done = 0;
    for (int epoch = first_epoch; epoch <= n_epochs && !eisnet_train_stop_pending(); epoch++) {
        if (o->max_epochs_this_run > 0 && epochs_run >= o->max_epochs_this_run) break;
        double t0 = eisnet_now(), t_sim = 0, sl = 0, sc = 0, lr = o->lr;
        int64_t seen = 0;
        if (sim_epoch(&T, &opt, epoch, steps_per_epoch, total_steps, &prog, &batches_done, &sl, &sc, &seen, &lr,
                      &t_sim) != 0)
            goto out;
        if (eisnet_train_stop_pending()) break; /* an interrupted epoch is not recorded */
        eisnet_epoch_record rec;
        if (sim_epoch_end(&T, &pp, &opt, &rs, hist, &n_hist, epoch, sl, sc, seen, lr, t0, t_sim, res, &rec) != 0)
            goto out;
        epochs_run++;
        if (!o->quiet) {
            if (prog.tty) fputc('\n', stderr);
            fprintf(stderr,
                    "epoch %d/%d: train loss %.4f, val loss %.4f, val top-1 %.3f, top-3 %.3f, lr %.1e, %.0f samples/s "
                    "(simulation %.0f%%), ETA %.0fs\n",
                    epoch, n_epochs, rec.train_loss, rec.val_loss, rec.val_top1, rec.val_top3, rec.lr,
                    rec.samples_per_s, 100 * res->sim_share, (double)(n_epochs - epoch) * rec.seconds);
        }
    }
    if (!o->quiet && prog.tty) fputc('\n', stderr);
    if (eisnet_train_stop_pending()) {
        /* the last checkpoint holds the state at the interruption */
        res->interrupted = 1;
        T.pred.epoch = rs.epoch;
        if (eisnet_pair_save(&T.pred, pp.last, pp.state, &opt, &rs, hist, n_hist, SIM_RUN_KEY, T.run_json,
                             2 * (int64_t)rs.epoch + 3) != 0)
            goto out;
    }

    /* held-out evaluation of the best checkpoint */
    res->uniform_top1 = 1.0 / T.G;
    res->uniform_top3 = 3.0 / T.G;
    res->best_epoch = rs.best_epoch;
    res->best_val_loss = rs.best_val;
    {
        /* simulations trained on, capped to fit the int field */
        int64_t seen_all = (int64_t)rs.epoch * o->samples_per_epoch;
        res->n_train_rows = (int)(seen_all < INT32_MAX ? seen_all : INT32_MAX);
    }
    res->first_val_gt = -1;
    sim_final_eval(&T, &pp, &rs, res);
    res->history = hist;
    res->n_history = n_hist;
    hist = NULL;
    rc = 0;
out:
    free(hist);
    if (opt_ready) eisnet_adamw_free(&opt);
    eisnet_train_paths_free(&pp);
    sim_free(&T);
    return rc;
}
