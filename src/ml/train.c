/* `eisnet train`: rows, masks, the training loop, checkpoints, history. */
#include "eisnet/train.h"
#include "eisnet/backend.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/npy.h"
#include "eisnet/optim.h"
#include "eisnet/plot.h"
#include "eisnet/posterior.h"
#include "eisnet/progress.h"
#include "eisnet/rng.h"
#include "eisnet/safetensors.h"
#include "eisnet/pair.h"
#include "eisnet/train_state.h"
#include "ml_common.h"
#include "train_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;
void eisnet_train_request_stop(void) { stop_requested = 1; }

void eisnet_train_options_default(eisnet_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = EISNET_DEFAULT_DATA_DIR;
    o->n_epochs = EISNET_TRAIN_EPOCHS;
    o->batch_size = -1;
    o->samples_per_gt = EISNET_TRAIN_SAMPLES_PER_GT;
    o->known = EISNET_TRAIN_KNOWN;
    o->hidden = EISNET_TRAIN_HIDDEN;
    o->val_fraction = EISNET_TRAIN_VAL_FRACTION;
    o->lr = EISNET_TRAIN_LR;
    o->weight_decay = -1;
    o->many_missing_weight = EISNET_TRAIN_MANY_MISSING_WEIGHT;
    o->resnorm_weight = 0.5;
    o->features = 1;
    o->seed = EISNET_DEFAULT_SEED;
    o->simulate = 1;
    o->sigma = EISNET_POSTERIOR_SIGMA; /* the noise the exact posterior assumes by default */
    o->samples_per_epoch = EISNET_TRAIN_SAMPLES_PER_EPOCH;
    o->val_samples = EISNET_TRAIN_VAL_SAMPLES;
    o->dropout = -1;
    o->lr_decay = EISNET_TRAIN_LR_DECAY;
}

void eisnet_train_result_free(eisnet_train_result *r)
{
    free(r->history);
    memset(r, 0, sizeof *r);
}

/* ---- the trainer ------------------------------------------------------------ */

typedef struct {
    const eisnet_train_options *o;
    eisnet_dataset ds;
    eisnet_predictor pred;
    eisnet_ml_masks masks;
    float *feats;          /* n_gt x n_features, standardised */
    eisnet_ml_row *train, *val;
    size_t n_train, n_val;
    int *is_val;           /* per ground truth */
    eisnet_backend *be;
    eisnet_workspace *ws;
    int B;
    float *x, *rtarget;
    int32_t *target;
    uint8_t *missing;
    float *probs;
    /* the run */
    eisnet_train_paths pp;
    eisnet_adamw opt;
    int opt_ready;
    eisnet_train_run_state rs;
    eisnet_epoch_record *hist;
    int n_hist;
    uint32_t *order;     /* n_train: this epoch's row order */
    uint16_t *mask_of;   /* B: this batch's masks */
    eisnet_ml_row *batch_rows; /* B */
} trainer;

/* Inputs and targets of n rows. The rows are independent, so both cores
 * build them (the network's products leave a core idle here otherwise);
 * with noise augmentation they are built in order, one noise stream. */
static void build_row(trainer *t, const eisnet_ml_row *r, uint16_t mask, const float *f, size_t b)
{
    int P = t->pred.grid.n_params, n_in = eisnet_predictor_n_in(&t->pred);
    eisnet_ml_row_input(&t->pred, &t->masks, r, mask, f, t->x + b * (size_t)n_in, t->target + b * P, t->missing + b * P,
                        t->rtarget + b);
}

static void build_batch(trainer *t, const eisnet_ml_row *rows, size_t n, const uint16_t *mask_of, eisnet_rng *noise_rng)
{
    int nf = t->pred.n_features;
    if (nf && noise_rng && t->o->noise > 0) {
        float *fbuf = malloc(sizeof(float) * (size_t)nf);
        for (size_t b = 0; b < n; b++) {
            const float *f = t->feats + (size_t)rows[b].gt * nf;
            if (fbuf) {
                /* relative complex noise sigma: log10|Z| += sigma/ln10 n1, phase += sigma n2 */
                for (int i = 0; i < nf; i++) {
                    double s = (i % 2 == 0 ? t->o->noise / 2.302585092994046 : t->o->noise);
                    fbuf[i] = f[i] + (float)(s * eisnet_rng_normal(noise_rng)) / t->pred.feat_std[i];
                }
                f = fbuf;
            }
            build_row(t, &rows[b], mask_of[b], f, b);
        }
        free(fbuf);
        return;
    }
    long nn = (long)n;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(eisnet_cpu_threads(t->o->threads)) if (nn >= 128)
#endif
    for (long b = 0; b < nn; b++)
        build_row(t, &rows[b], mask_of[b], nf ? t->feats + (size_t)rows[b].gt * nf : NULL, (size_t)b);
}

/* Validation: loss, and top-1/top-3 over the missing parameters. */
static int evaluate(trainer *t, double *loss, double *ce, double *top1, double *top3)
{
    eisnet_ml_batch bt = {t->B, t->x, t->rtarget, t->target, t->missing, t->o->threads};
    eisnet_ml_eval e;
    if (eisnet_ml_evaluate(&t->pred, t->ws, &t->masks, t->feats, t->val, t->n_val, &bt, t->o->resnorm_weight, &e) != 0)
        return -1;
    *loss = e.loss;
    *ce = e.ce;
    *top1 = e.top1;
    *top3 = e.top3;
    return 0;
}

/* Mean KL(exact || predicted) over (a sample of) validation rows, top-K only:
 * the exact distribution of a missing parameter given the row's ground truth
 * and known grid indices is that of the ground truth's top-K models which
 * agree on the known indices. */
static double mean_kl(trainer *t, int max_rows)
{
    if (t->o->uniform || t->n_val == 0) return NAN;
    const eisnet_grid *g = &t->pred.grid;
    int P = g->n_params, G = g->n_grid, K = t->o->samples_per_gt;
    size_t step = t->n_val / (size_t)max_rows + 1;
    double kl_sum = 0;
    long kl_n = 0;
    double *exact = malloc(sizeof(double) * (size_t)P * G);
    float *probs = malloc(sizeof(float) * (size_t)P * G);
    float *x = malloc(sizeof(float) * (size_t)eisnet_predictor_n_in(&t->pred));
    if (!exact || !probs || !x) {
        free(exact);
        free(probs);
        free(x);
        return NAN;
    }
    for (size_t s = 0; s < t->n_val; s += step) {
        const eisnet_ml_row *r = &t->val[s];
        /* the ground truth's K rows are contiguous in t->val, sorted by resnorm */
        size_t first = s - (s % (size_t)K);
        const uint8_t *kn = t->masks.known + (size_t)r->mask * P;
        int ridx[EISNET_MAX_PARAMS], idx[EISNET_MAX_PARAMS];
        eisnet_grid_model_indices(g, r->model, ridx);
        memset(exact, 0, sizeof(double) * (size_t)P * G);
        int members = 0;
        for (int k = 0; k < K; k++) {
            eisnet_grid_model_indices(g, t->val[first + k].model, idx);
            int same = 1;
            for (int p = 0; p < P && same; p++)
                if (kn[p] && idx[p] != ridx[p]) same = 0;
            if (!same) continue;
            members++;
            for (int p = 0; p < P; p++) exact[p * G + idx[p]] += 1;
        }
        double vals[EISNET_MAX_PARAMS];
        for (int p = 0; p < P; p++) vals[p] = g->values[(size_t)p * G + ridx[p]];
        eisnet_predictor_input(&t->pred, vals, kn, t->pred.n_features ? t->feats + (size_t)r->gt * t->pred.n_features : NULL,
                               x);
        uint8_t miss[EISNET_MAX_PARAMS];
        for (int p = 0; p < P; p++) miss[p] = !kn[p];
        if (eisnet_model_predict_one(t->pred.model, t->ws, x, miss, probs, NULL) != 0) break;
        for (int p = 0; p < P; p++) {
            if (kn[p]) continue;
            double kl = 0;
            for (int c = 0; c < G; c++) {
                double e = exact[p * G + c] / members;
                if (e > 0) kl += e * log(e / fmax(probs[p * G + c], 1e-12));
            }
            kl_sum += kl;
            kl_n++;
        }
    }
    free(exact);
    free(probs);
    free(x);
    return kl_n ? kl_sum / kl_n : NAN;
}

/* ---- checkpoints and training state ----------------------------------------- */

int eisnet_train_stop_pending(void) { return stop_requested != 0; }

int eisnet_train_history_write(const eisnet_train_paths *pp, const eisnet_epoch_record *h, int n)
{
    size_t cap = 256 + (size_t)n * 256;
    char *buf = malloc(cap);
    if (!buf) return eisnet_set_error("out of memory");
    size_t k = (size_t)snprintf(buf, cap, "epoch,train_loss,train_ce,val_loss,val_ce,val_top1,val_top3,lr,samples_per_s,seconds\n");
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%d,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,%.6g,%.1f,%.3f\n", h[i].epoch,
                              h[i].train_loss, h[i].train_ce, h[i].val_loss, h[i].val_ce, h[i].val_top1, h[i].val_top3,
                              h[i].lr, h[i].samples_per_s, h[i].seconds);
    int rc = eisnet_write_file_atomic(pp->hist_csv, buf, k);
    free(buf);
    if (rc != 0) return rc;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "epoch", h[i].epoch);
        cJSON_AddNumberToObject(e, "train_loss", h[i].train_loss);
        cJSON_AddNumberToObject(e, "train_ce", h[i].train_ce);
        if (isfinite(h[i].val_loss)) {
            cJSON_AddNumberToObject(e, "val_loss", h[i].val_loss);
            cJSON_AddNumberToObject(e, "val_ce", h[i].val_ce);
            cJSON_AddNumberToObject(e, "val_top1", h[i].val_top1);
            cJSON_AddNumberToObject(e, "val_top3", h[i].val_top3);
        }
        cJSON_AddNumberToObject(e, "lr", h[i].lr);
        cJSON_AddNumberToObject(e, "samples_per_s", h[i].samples_per_s);
        cJSON_AddNumberToObject(e, "seconds", h[i].seconds);
        cJSON_AddItemToArray(arr, e);
    }
    char *text = cJSON_Print(arr);
    cJSON_Delete(arr);
    if (!text) return eisnet_set_error("out of memory");
    rc = eisnet_write_file_atomic(pp->hist_json, text, strlen(text));
    free(text);
    if (rc != 0) return rc;
    /* the curves: losses above, held-out accuracy below; the best epoch
     * (lowest validation loss) and every drop of the learning rate marked by
     * vertical lines across both panels */
    double *v = malloc(sizeof(double) * ((size_t)n * 17 + 64));
    if (!v) return eisnet_set_error("out of memory");
    double *ep = v, *tl = v + n, *vl = v + 2 * n, *t1 = v + 3 * n, *t3 = v + 4 * n, *u1 = v + 5 * n, *u3 = v + 6 * n;
    double *dx = v + 7 * n, *dy1 = v + 10 * n, *dy2 = dy1 + 3 * n + 16; /* LR drops: 3 points each (NaN breaks) */
    double bx[2], by1[2], by2[2];
    double lo1 = INFINITY, hi1 = -INFINITY, lo2 = INFINITY, hi2 = -INFINITY, best = INFINITY;
    int best_epoch = 0, nd = 0;
    for (int i = 0; i < n; i++) {
        ep[i] = h[i].epoch;
        tl[i] = h[i].train_loss;
        vl[i] = h[i].val_loss;
        t1[i] = h[i].val_top1;
        t3[i] = h[i].val_top3;
        u1[i] = pp->uniform_top1;
        u3[i] = 3 * pp->uniform_top1;
        const double a[2] = {tl[i], vl[i]}, b[4] = {t1[i], t3[i], u1[i], u3[i]};
        for (int k = 0; k < 2; k++)
            if (isfinite(a[k])) lo1 = fmin(lo1, a[k]), hi1 = fmax(hi1, a[k]);
        for (int k = 0; k < 4; k++)
            if (isfinite(b[k])) lo2 = fmin(lo2, b[k]), hi2 = fmax(hi2, b[k]);
        if (isfinite(vl[i]) && vl[i] < best) {
            best = vl[i];
            best_epoch = h[i].epoch;
        }
    }
    for (int i = 1; i < n; i++)
        if (h[i].lr < h[i - 1].lr * (1 - 1e-9) && nd + 3 <= 3 * n) {
            /* between the last epoch at the old rate and the first at the new one */
            const double x = h[i].epoch - 0.5;
            dx[nd] = dx[nd + 1] = x;
            dx[nd + 2] = NAN;
            dy1[nd] = lo1, dy1[nd + 1] = hi1, dy1[nd + 2] = NAN;
            dy2[nd] = lo2, dy2[nd + 1] = hi2, dy2[nd + 2] = NAN;
            nd += 3;
        }
    bx[0] = bx[1] = best_epoch;
    by1[0] = lo1, by1[1] = hi1, by2[0] = lo2, by2[1] = hi2;
    char best_label[64];
    snprintf(best_label, sizeof best_label, "best epoch (%d)", best_epoch);
    int style = n > 25 ? EISNET_PLOT_LINE : EISNET_PLOT_LINE_MARKERS;
    eisnet_plot_series s1[4] = {{"training loss", ep, tl, n, style},
                                {"validation loss", ep, vl, n, EISNET_PLOT_DASHED},
                                {best_label, bx, by1, best_epoch > 0 ? 2 : 0, EISNET_PLOT_LINE},
                                {"learning-rate drop", dx, dy1, nd, EISNET_PLOT_DASHED}};
    eisnet_plot_series s2[6] = {{"top-1 (held out)", ep, t1, n, style},
                                {"top-3 (held out)", ep, t3, n, style},
                                {NULL, bx, by2, best_epoch > 0 ? 2 : 0, EISNET_PLOT_LINE},
                                {NULL, dx, dy2, nd, EISNET_PLOT_DASHED},
                                {"chance level, top-1", ep, u1, n, EISNET_PLOT_DASHED},
                                {"chance level, top-3", ep, u3, n, EISNET_PLOT_DASHED}};
    /* (the markers take the same places, hence colours, in both panels) */
    if (!nd) s1[3].label = NULL;
    if (!best_epoch) s1[2].label = NULL;
    eisnet_plot_axes a1 = {"Loss", NULL, "loss (CE + 0.5 MSE)", 0, 0, 0};
    eisnet_plot_axes a2 = {"Accuracy per missing parameter", "epoch", "accuracy", 0, 0, 0};
    rc = eisnet_plot_lines2(pp->hist_svg, "Training history", &a1, s1, 4, &a2, s2, 6);
    free(v);
    return rc;
}

int eisnet_train_paths_make(eisnet_train_paths *pp, const eisnet_train_options *o, int n_grid, eisnet_train_result *res)
{
    memset(pp, 0, sizeof *pp);
    char *mp = o->model_path ? NULL : eisnet_path_join(o->data_dir, "model.safetensors");
    char *stem = eisnet_checkpoint_stem(o->model_path ? o->model_path : mp);
    free(mp);
    if (!stem) return eisnet_set_error("out of memory");
    pp->best = eisnet_ml_with_suffix(stem, ".safetensors");
    pp->last = eisnet_ml_with_suffix(stem, ".last.safetensors");
    pp->state = eisnet_ml_with_suffix(stem, ".state.safetensors");
    pp->hist_csv = eisnet_ml_with_suffix(stem, ".history.csv");
    pp->hist_json = eisnet_ml_with_suffix(stem, ".history.json");
    pp->hist_svg = eisnet_ml_with_suffix(stem, ".history.svg");
    pp->uniform_top1 = 1.0 / n_grid;
    free(stem);
    if (!pp->best || !pp->last || !pp->state || !pp->hist_csv || !pp->hist_json || !pp->hist_svg) {
        eisnet_train_paths_free(pp);
        return eisnet_set_error("out of memory");
    }
    snprintf(res->best_path, sizeof res->best_path, "%s", pp->best);
    snprintf(res->last_path, sizeof res->last_path, "%s", pp->last);
    return 0;
}

void eisnet_train_paths_free(eisnet_train_paths *pp)
{
    free(pp->best);
    free(pp->last);
    free(pp->state);
    free(pp->hist_csv);
    free(pp->hist_json);
    free(pp->hist_svg);
    memset(pp, 0, sizeof *pp);
}

/* ---- main entry --------------------------------------------------------------- */

static int train_check_options(const eisnet_train_options *o)
{
    if (o->batch_size < 1) return eisnet_set_error("--batch_size must be at least 1 (got %d)", o->batch_size);
    if (o->batch_size > 1 << 20) return eisnet_set_error("--batch_size is too large (got %d)", o->batch_size);
    if (o->n_epochs < 1) return eisnet_set_error("--n_epochs must be at least 1 (got %d)", o->n_epochs);
    if (o->samples_per_gt < 1) return eisnet_set_error("--samples_per_gt must be at least 1 (got %d)", o->samples_per_gt);
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return eisnet_set_error("--val_fraction must be in [0, 1) (got %g)", o->val_fraction);
    if (!(o->lr > 0) || !isfinite(o->lr)) return eisnet_set_error("--lr must be positive (got %g)", o->lr);
    if (!(o->noise >= 0) || !isfinite(o->noise)) return eisnet_set_error("--noise must be >= 0 (got %g)", o->noise);
    /* -1 (the options' default) stands for the mode's default; any other
     * value must be a real one */
    if (o->weight_decay != -1 && !(o->weight_decay >= 0 && o->weight_decay < 1))
        return eisnet_set_error("--weight_decay must be in [0, 1) (got %g)", o->weight_decay);
    if (o->dropout != -1 && !(o->dropout >= 0 && o->dropout < 1))
        return eisnet_set_error("--dropout must be in [0, 1) (got %g)", o->dropout);
    eisnet_matmul matmul;
    if (eisnet_matmul_parse(o->matmul, "--matmul", &matmul) != 0) return -1;
    return 0;
}

/* The dataset, the masks and a fresh predictor on the dataset's grid. */
static int trainer_open(trainer *T)
{
    const eisnet_train_options *o = T->o;
    if (eisnet_dataset_open(&T->ds, o->data_dir) != 0) return -1;
    const eisnet_grid *dg = &T->ds.grid;
    if (o->expect_n_gt > 0 && o->expect_n_gt != T->ds.n)
        return eisnet_set_error("the dataset in %s has %d ground truths, not %d: run `eisnet generate --n_ground_truths %d "
                                "--data_dir %s` first", o->data_dir, T->ds.n, o->expect_n_gt, o->expect_n_gt, o->data_dir);
    if ((uint64_t)o->samples_per_gt > dg->n_models)
        return eisnet_set_error("--samples_per_gt %d is more than the %llu grid models per ground truth", o->samples_per_gt,
                                (unsigned long long)dg->n_models);
    int P = dg->n_params;
    if (o->known < 1 || o->known >= P)
        return eisnet_set_error("--known must be between 1 and %d for a circuit with %d parameters (got %d)", P - 1, P,
                                o->known);
    if (P > 20) return eisnet_set_error("too many parameters for masks (%d)", P);
    if (eisnet_ml_masks_make(&T->masks, P, o->known) != 0) return -1;
    eisnet_grid_options go;
    eisnet_range_strings rs;
    eisnet_grid_options_of(dg, &go, &rs);
    if (eisnet_predictor_init(&T->pred, &go, o->features, o->hidden, o->known, o->seed ^ 0x1417ULL) != 0) return -1;
    snprintf(T->pred.training, sizeof T->pred.training, "%s", o->uniform ? "uniform" : "topk");
    if (o->dropout >= 0 &&
        eisnet_model_set_dropout(T->pred.model, (float)o->dropout, (float)o->dropout, (float)o->dropout) != 0)
        return -1;
    return 0;
}

/* Spectrum features of every ground truth, standardised with the mean and
 * deviation over the training ground truths. */
static int trainer_features(trainer *T)
{
    const eisnet_grid *g = &T->pred.grid;
    int N = T->ds.n, nf = T->pred.n_features;
    if (!nf) return 0;
    T->feats = malloc(sizeof(float) * (size_t)N * nf);
    double *sum = calloc((size_t)nf, sizeof(double)), *sq = calloc((size_t)nf, sizeof(double));
    if (!T->feats || !sum || !sq) {
        free(sum);
        free(sq);
        return eisnet_set_error("out of memory");
    }
    for (int i = 0; i < N; i++)
        eisnet_spectrum_raw_features(T->ds.spectra + (size_t)i * g->n_freq, g->n_freq, T->feats + (size_t)i * nf);
    int cnt = 0;
    for (int i = 0; i < N; i++) {
        if (T->is_val[i]) continue;
        cnt++;
        for (int k = 0; k < nf; k++) {
            double v = T->feats[(size_t)i * nf + k];
            sum[k] += v;
            sq[k] += v * v;
        }
    }
    for (int k = 0; k < nf; k++) {
        double mean = sum[k] / cnt, var = sq[k] / cnt - mean * mean;
        T->pred.feat_mean[k] = (float)mean;
        T->pred.feat_std[k] = (float)sqrt(var > 1e-12 ? var : 1e-12);
        if (T->pred.feat_std[k] < 1e-3f) T->pred.feat_std[k] = 1e-3f; /* constant features stay finite */
    }
    free(sum);
    free(sq);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < nf; k++)
            T->feats[(size_t)i * nf + k] = (T->feats[(size_t)i * nf + k] - T->pred.feat_mean[k]) / T->pred.feat_std[k];
    return 0;
}

/* The split by ground truth, the features and the rows. */
static int trainer_rows(trainer *T, eisnet_train_result *res)
{
    const eisnet_train_options *o = T->o;
    int N = T->ds.n;
    T->is_val = calloc((size_t)(N > 0 ? N : 1), sizeof(int));
    if (!T->is_val) return eisnet_set_error("out of memory");
    int n_val_gt = eisnet_ml_split(N, o->val_fraction, o->seed, T->is_val, &res->first_val_gt);
    if (n_val_gt < 0) return -1;
    res->n_val_gt = n_val_gt;
    res->n_train_gt = N - n_val_gt;
    if (trainer_features(T) != 0) return -1;
    eisnet_ml_rows_options ro = {T->is_val, o->samples_per_gt, o->uniform, T->masks.n, 1, 1, o->seed,
                                 T->pred.resnorm_floor, "train: reading rows", o->quiet};
    if (eisnet_ml_rows_load(&T->ds, &ro, &T->train, &T->n_train, &T->val, &T->n_val) != 0) return -1;
    res->n_train_rows = (int)T->n_train;
    res->n_val_rows = (int)T->n_val;
    if (T->n_train == 0) return eisnet_set_error("no training rows");
    return 0;
}

static int trainer_buffers(trainer *T)
{
    int P = T->pred.grid.n_params, n_in = eisnet_predictor_n_in(&T->pred);
    T->B = T->o->batch_size;
    eisnet_backend_options bo = {.threads = T->o->threads};
    if (eisnet_matmul_parse(T->o->matmul, "--matmul", &bo.matmul) != 0) return -1;
    if (!(T->be = eisnet_backend_new(T->o->backend ? T->o->backend : "auto", &bo)) ||
        eisnet_model_set_backend(T->pred.model, T->be) != 0)
        return -1;
    T->ws = eisnet_workspace_new(T->pred.model, T->B);
    T->x = malloc(sizeof(float) * (size_t)T->B * n_in);
    T->target = malloc(sizeof(int32_t) * (size_t)T->B * P);
    T->missing = malloc((size_t)T->B * P);
    T->rtarget = malloc(sizeof(float) * (size_t)T->B);
    T->mask_of = malloc(sizeof(uint16_t) * (size_t)T->B);
    T->order = malloc(sizeof(uint32_t) * T->n_train);
    T->batch_rows = malloc(sizeof(eisnet_ml_row) * (size_t)T->B);
    if (!T->ws || !T->x || !T->target || !T->missing || !T->rtarget || !T->mask_of || !T->order || !T->batch_rows)
        return eisnet_set_error("out of memory");
    return 0;
}

/* The weights, optimizer state and history of the last checkpoint. */
static int trainer_resume(trainer *T)
{
    eisnet_train_paths *pp = &T->pp;
    eisnet_predictor last;
    if (eisnet_predictor_load(&last, pp->last) != 0) {
        eisnet_prefix_error("cannot resume from %s: ", pp->last);
        return -1;
    }
    if (eisnet_model_n_params(last.model) != eisnet_model_n_params(T->pred.model) ||
        last.n_features != T->pred.n_features) {
        eisnet_predictor_free(&last);
        return eisnet_set_error("cannot resume: %s was trained with other settings", pp->last);
    }
    memcpy(eisnet_model_params(T->pred.model), eisnet_model_params(last.model),
           sizeof(float) * eisnet_model_n_params(last.model));
    T->pred.generation = last.generation;
    eisnet_predictor_free(&last);
    if (eisnet_pair_recover(pp->last, pp->state, T->pred.generation) != 0 ||
        eisnet_train_state_load(pp->state, &T->opt, &T->rs, &T->hist, &T->n_hist, NULL, NULL) != 0 ||
        eisnet_pair_check(pp->last, T->pred.generation, pp->state, &T->rs) != 0)
        return -1;
    if (!T->o->quiet) fprintf(stderr, "train: resuming after epoch %d\n", T->rs.epoch);
    return 0;
}

/* Paths, optimizer, run state (resumed with --resume) and history. */
static int trainer_start(trainer *T, eisnet_train_result *res)
{
    const eisnet_train_options *o = T->o;
    if (eisnet_train_paths_make(&T->pp, o, T->pred.grid.n_grid, res) != 0) return -1;
    eisnet_adamw_config ac = eisnet_adamw_config_default();
    ac.lr = (float)o->lr;
    ac.weight_decay = (float)(o->weight_decay >= 0 ? o->weight_decay : EISNET_TRAIN_WEIGHT_DECAY_ROWS);
    if (eisnet_adamw_init(&T->opt, eisnet_model_n_params(T->pred.model), &ac) != 0) return -1;
    T->opt_ready = 1;
    memset(&T->rs, 0, sizeof T->rs);
    T->rs.best_val = INFINITY;
    T->rs.lr = (float)o->lr;
    eisnet_plateau_init(&T->rs.plateau);
    if (o->resume && trainer_resume(T) != 0) return -1;
    if (!T->hist) T->hist = calloc((size_t)o->n_epochs + 1, sizeof *T->hist);
    else {
        eisnet_epoch_record *nh = realloc(T->hist, sizeof *T->hist * ((size_t)o->n_epochs + (size_t)T->n_hist + 1));
        if (nh) T->hist = nh;
    }
    if (!T->hist) return eisnet_set_error("out of memory");
    return 0;
}

/* One pass over the training rows in this epoch's order; the mean loss and
 * cross-entropy into rec. */
static int train_epoch(trainer *T, int epoch, eisnet_progress *prog, uint64_t *batches_done, eisnet_epoch_record *rec)
{
    const eisnet_train_options *o = T->o;
    eisnet_rng er, nr;
    eisnet_rng_seed(&er, o->seed, EISNET_STREAM_EPOCH + 1000ULL * (uint64_t)epoch);
    eisnet_rng_seed(&nr, o->seed ^ 0xabcdefULL, EISNET_STREAM_EPOCH + 1000ULL * (uint64_t)epoch);
    uint64_t drop_rng = eisnet_rng_next(&er);
    for (size_t i = 0; i < T->n_train; i++) T->order[i] = (uint32_t)i;
    eisnet_rng_shuffle_u32(&er, T->order, T->n_train);
    T->opt.cfg.lr = T->rs.lr;
    double sl = 0, sc = 0;
    size_t seen = 0;
    for (size_t s = 0; s < T->n_train && !stop_requested; s += (size_t)T->B) {
        int n = (int)(T->n_train - s < (size_t)T->B ? T->n_train - s : (size_t)T->B);
        for (int b = 0; b < n; b++) {
            T->batch_rows[b] = T->train[T->order[s + (size_t)b]];
            T->mask_of[b] = (uint16_t)eisnet_rng_below(&er, (uint64_t)T->masks.n);
        }
        build_batch(T, T->batch_rows, (size_t)n, T->mask_of, o->noise > 0 ? &nr : NULL);
        eisnet_loss L;
        /* zero_grad, forward, loss, backward, clip at 1.0, AdamW: one call */
        if (eisnet_model_train_step(T->pred.model, T->ws, &T->opt, T->x, n, T->target, T->missing, T->rtarget,
                                    (float)o->resnorm_weight, 1.0f, &drop_rng, &L, NULL, NULL, NULL) != 0)
            return -1;
        if (!isfinite(L.loss))
            return eisnet_set_error("training diverged (loss is %g at epoch %d); try a lower --lr", L.loss, epoch);
        sl += L.loss * n;
        sc += L.ce * n;
        seen += (size_t)n;
        eisnet_progress_update(prog, ++*batches_done);
    }
    rec->epoch = epoch;
    rec->train_loss = sl / (double)seen;
    rec->train_ce = sc / (double)seen;
    rec->lr = T->rs.lr;
    return 0;
}

/* After an epoch: validation, the best and last checkpoints, the history. */
static int train_epoch_end(trainer *T, eisnet_epoch_record *rec, double t0)
{
    if (T->n_val && evaluate(T, &rec->val_loss, &rec->val_ce, &rec->val_top1, &rec->val_top3) != 0) return -1;
    rec->seconds = eisnet_now() - t0;
    double metric = T->n_val ? rec->val_loss : rec->train_loss;
    eisnet_train_run_state *rs = &T->rs;
    rs->epoch = rec->epoch;
    T->pred.epoch = rec->epoch;
    T->pred.val_loss = metric;
    if (metric < rs->best_val) {
        rs->best_val = metric;
        rs->best_epoch = rec->epoch;
        if (eisnet_predictor_save(&T->pred, T->pp.best) != 0) return -1;
    }
    eisnet_plateau_step(&rs->plateau, metric, &rs->lr);
    T->hist[T->n_hist++] = *rec;
    if (eisnet_pair_save(&T->pred, T->pp.last, T->pp.state, &T->opt, rs, T->hist, T->n_hist, NULL, NULL,
                         2 * (int64_t)rs->epoch + 2) != 0 ||
        eisnet_train_history_write(&T->pp, T->hist, T->n_hist) != 0)
        return -1;
    return 0;
}

/* The epochs from the one after the run state's to n_epochs, until a stop
 * request or max_epochs_this_run. */
static int train_epochs(trainer *T)
{
    const eisnet_train_options *o = T->o;
    size_t batches = (T->n_train + (size_t)T->B - 1) / (size_t)T->B;
    eisnet_progress prog;
    int first_epoch = T->rs.epoch + 1, epochs_run = 0;
    eisnet_progress_begin(&prog, "train", "batches",
                          (uint64_t)batches * (uint64_t)(o->n_epochs >= first_epoch ? o->n_epochs - first_epoch + 1 : 0),
                          o->quiet);
    if (!o->quiet && prog.tty == 0) prog.last_print = 1e300; /* per-epoch lines instead */
    uint64_t batches_done = 0;
    for (int epoch = first_epoch; epoch <= o->n_epochs && !stop_requested; epoch++) {
        if (o->max_epochs_this_run > 0 && epochs_run >= o->max_epochs_this_run) break;
        double t0 = eisnet_now();
        eisnet_epoch_record rec = {0};
        if (train_epoch(T, epoch, &prog, &batches_done, &rec) != 0) return -1;
        if (stop_requested) break; /* an interrupted epoch is not recorded */
        rec.samples_per_s = (double)T->n_train / (eisnet_now() - t0);
        rec.val_loss = rec.val_ce = rec.val_top1 = rec.val_top3 = NAN;
        if (train_epoch_end(T, &rec, t0) != 0) return -1;
        epochs_run++;
        if (!o->quiet) {
            if (prog.tty) fputc('\n', stderr);
            double remaining = (double)(o->n_epochs - epoch) * rec.seconds;
            fprintf(stderr,
                    "epoch %d/%d: train loss %.4f, val loss %.4f, val top-1 %.3f, top-3 %.3f, lr %.1e, %.0f samples/s, "
                    "ETA %.0fs\n",
                    epoch, o->n_epochs, rec.train_loss, rec.val_loss, rec.val_top1, rec.val_top3, rec.lr,
                    rec.samples_per_s, remaining);
        }
    }
    if (!o->quiet && prog.tty) fputc('\n', stderr);
    return 0;
}

/* Held-out evaluation of the best checkpoint. */
static void train_final_eval(trainer *T, eisnet_train_result *res)
{
    const eisnet_grid *g = &T->pred.grid;
    res->uniform_top1 = 1.0 / g->n_grid;
    res->uniform_top3 = 3.0 / g->n_grid;
    res->best_epoch = T->rs.best_epoch;
    res->best_val_loss = T->rs.best_val;
    if (!T->n_val || T->rs.best_epoch <= 0) return;
    eisnet_predictor best;
    if (eisnet_predictor_load(&best, T->pp.best) != 0) return;
    memcpy(eisnet_model_params(T->pred.model), eisnet_model_params(best.model),
           sizeof(float) * eisnet_model_n_params(best.model));
    eisnet_predictor_free(&best);
    double l, c;
    if (evaluate(T, &l, &c, &res->top1, &res->top3) == 0) res->mean_kl = mean_kl(T, 2000);
}

static void trainer_free(trainer *T)
{
    free(T->hist);
    if (T->opt_ready) eisnet_adamw_free(&T->opt);
    eisnet_train_paths_free(&T->pp);
    free(T->order);
    free(T->mask_of);
    free(T->batch_rows);
    eisnet_ml_masks_free(&T->masks);
    free(T->feats);
    free(T->train);
    free(T->val);
    free(T->is_val);
    eisnet_workspace_free(T->ws);
    free(T->x);
    free(T->target);
    free(T->missing);
    free(T->rtarget);
    if (T->pred.model) eisnet_predictor_free(&T->pred);
    eisnet_backend_free(T->be);
    eisnet_dataset_close(&T->ds);
}

int eisnet_train(const eisnet_train_options *o, eisnet_train_result *res)
{
    memset(res, 0, sizeof *res);
    res->best_val_loss = NAN;
    res->mean_kl = NAN;
    stop_requested = 0;
    eisnet_train_options resolved = *o;
    if (resolved.batch_size == -1) resolved.batch_size = o->simulate ? EISNET_TRAIN_BATCH_SIM : EISNET_TRAIN_BATCH_ROWS;
    if (!resolved.matmul) resolved.matmul = o->simulate ? EISNET_TRAIN_MATMUL_SIM : EISNET_TRAIN_MATMUL_ROWS;
    o = &resolved;
    if (train_check_options(o) != 0) return -1;
    if (o->simulate) return eisnet_train_sim(o, res);

    trainer T;
    memset(&T, 0, sizeof T);
    T.o = o;
    int rc = -1;
    if (trainer_open(&T) != 0 || trainer_rows(&T, res) != 0 || trainer_buffers(&T) != 0 || trainer_start(&T, res) != 0 ||
        train_epochs(&T) != 0)
        goto out;
    if (stop_requested) {
        /* the last checkpoint holds the state at the interruption */
        res->interrupted = 1;
        T.pred.epoch = T.rs.epoch;
        if (eisnet_pair_save(&T.pred, T.pp.last, T.pp.state, &T.opt, &T.rs, T.hist, T.n_hist, NULL, NULL,
                             2 * (int64_t)T.rs.epoch + 3) != 0)
            goto out;
    }
    train_final_eval(&T, res);
    res->history = T.hist;
    res->n_history = T.n_hist;
    T.hist = NULL;
    rc = 0;
out:
    trainer_free(&T);
    return rc;
}
