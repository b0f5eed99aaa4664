/* Pieces shared by training and updating (see ml_common.h). */
#include "ml_common.h"
#include "eisnet/error.h"
#include "eisnet/backend.h"
#include "eisnet/progress.h"
#include "eisnet/select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eisnet_ml_masks_make(eisnet_ml_masks *m, int P, int known)
{
    m->P = P;
    m->n = 0;
    m->known = NULL;
    if (known < 0 || known >= P || P > 20) return eisnet_set_error("no masks know %d of %d parameters", known, P);
#define MASK_FITS(b) (known ? __builtin_popcount(b) == known : __builtin_popcount(b) < P)
    for (uint32_t b = 0; b < (1u << P); b++)
        if (MASK_FITS(b)) m->n++;
    m->known = malloc((size_t)m->n * P);
    if (!m->known) return eisnet_set_error("out of memory");
    int k = 0;
    for (uint32_t b = 0; b < (1u << P); b++) {
        if (!MASK_FITS(b)) continue;
        for (int p = 0; p < P; p++) m->known[k * P + p] = (uint8_t)((b >> (P - 1 - p)) & 1u);
        k++;
    }
#undef MASK_FITS
    return 0;
}

void eisnet_ml_masks_free(eisnet_ml_masks *m)
{
    free(m->known);
    m->known = NULL;
    m->n = 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int eisnet_ml_split(int N, double val_fraction, uint64_t seed, int *is_val, int *first_val)
{
    *first_val = -1;
    uint32_t *order = malloc(sizeof(uint32_t) * (size_t)(N > 0 ? N : 1));
    if (!order) return eisnet_set_error("out of memory");
    int n_val_gt = N >= 2 ? (int)lround(val_fraction * N) : 0;
    if (val_fraction > 0 && N >= 2 && n_val_gt < 1) n_val_gt = 1;
    if (n_val_gt >= N) n_val_gt = N - 1;
    if (n_val_gt < 0) n_val_gt = 0;
    eisnet_rng r;
    eisnet_rng_seed(&r, seed, EISNET_STREAM_SPLIT);
    for (int i = 0; i < N; i++) order[i] = (uint32_t)i;
    eisnet_rng_shuffle_u32(&r, order, (uint64_t)(N > 0 ? N : 0));
    qsort(order, (size_t)n_val_gt, sizeof(uint32_t), cmp_u32);
    for (int i = 0; i < N; i++) is_val[i] = 0;
    for (int i = 0; i < n_val_gt; i++) is_val[order[i]] = 1;
    if (n_val_gt > 0) *first_val = (int)order[0];
    free(order);
    return n_val_gt;
}

/* The K rows of ground truth i appended to the train or val list. */
static int rows_of_gt(const eisnet_dataset *ds, const eisnet_ml_rows_options *o, int i, double *res, uint32_t *sel,
                      eisnet_rng *sr, eisnet_rng *vr, eisnet_ml_row *train, size_t *n_train, eisnet_ml_row *val,
                      size_t *n_val)
{
    const eisnet_grid *g = &ds->grid;
    int K = o->K;
    if (eisnet_dataset_read_resnorm(ds, i, res) != 0) return -1;
    if (o->uniform) {
        for (int k = 0; k < K; k++) sel[k] = (uint32_t)eisnet_rng_below(sr, g->n_models);
    } else if (eisnet_select_smallest(res, (uint32_t)g->n_models, (uint32_t)K, sel) != 0)
        return -1;
    for (int k = 0; k < K; k++) {
        eisnet_ml_row r = {(uint32_t)i, sel[k], (float)log10(fmax(res[sel[k]], o->resnorm_floor)), 0};
        if (o->is_val[i]) {
            r.mask = (uint16_t)eisnet_rng_below(vr, (uint64_t)o->n_masks);
            val[(*n_val)++] = r;
        } else
            train[(*n_train)++] = r;
    }
    return 0;
}

int eisnet_ml_rows_load(const eisnet_dataset *ds, const eisnet_ml_rows_options *o, eisnet_ml_row **train,
                        size_t *n_train, eisnet_ml_row **val, size_t *n_val)
{
    int N = ds->n, K = o->K, n_val_gt = 0;
    for (int i = 0; i < N; i++) n_val_gt += o->is_val[i] != 0;
    size_t nt = o->want_train ? (size_t)(N - n_val_gt) * K : 0, nv = o->want_val ? (size_t)n_val_gt * K : 0;
    *n_train = *n_val = 0;
    *train = malloc(sizeof(eisnet_ml_row) * (nt ? nt : 1));
    *val = malloc(sizeof(eisnet_ml_row) * (nv ? nv : 1));
    double *res = malloc(sizeof(double) * ds->grid.n_models);
    uint32_t *sel = malloc(sizeof(uint32_t) * (size_t)K);
    int rc = -1;
    if (!*train || !*val || !res || !sel) {
        eisnet_set_error("out of memory (%zu rows)", nt + nv);
        goto out;
    }
    eisnet_rng sr, vr;
    eisnet_rng_seed(&sr, o->seed, EISNET_STREAM_SAMPLE);
    eisnet_rng_seed(&vr, o->seed, EISNET_STREAM_VALMASK);
    eisnet_progress prog;
    eisnet_progress_begin(&prog, o->label, "gt", (uint64_t)N, o->quiet);
    for (int i = 0; i < N; i++) {
        int wanted = o->is_val[i] ? o->want_val : o->want_train;
        if (wanted && rows_of_gt(ds, o, i, res, sel, &sr, &vr, *train, n_train, *val, n_val) != 0) goto out;
        eisnet_progress_update(&prog, (uint64_t)i + 1);
    }
    eisnet_progress_end(&prog);
    rc = 0;
out:
    free(res);
    free(sel);
    return rc;
}

void eisnet_ml_row_input(const eisnet_predictor *pred, const eisnet_ml_masks *m, const eisnet_ml_row *r, uint16_t mask,
                         const float *f, float *x, int32_t *target, uint8_t *missing, float *rtarget)
{
    const eisnet_grid *g = &pred->grid;
    int P = g->n_params;
    int idx[EISNET_MAX_PARAMS];
    double vals[EISNET_MAX_PARAMS];
    eisnet_grid_model_indices(g, r->model, idx);
    for (int p = 0; p < P; p++) vals[p] = g->values[(size_t)p * g->n_grid + idx[p]];
    const uint8_t *kn = m->known + (size_t)mask * P;
    eisnet_predictor_input(pred, vals, kn, f, x);
    for (int p = 0; p < P; p++) {
        target[p] = idx[p];
        missing[p] = (uint8_t)!kn[p];
    }
    *rtarget = r->logr;
}

int eisnet_ml_rank(const float *l, int G, int t)
{
    int above = 0;
    for (int c = 0; c < G; c++)
        if (l[c] > l[t] || (l[c] == l[t] && c < t)) above++;
    return above;
}

/* Inputs of n rows under their own masks; the rows are independent, so all
 * threads build them. */
static void batch_input(const eisnet_predictor *pred, const eisnet_ml_masks *m, const float *feats,
                        const eisnet_ml_row *rows, int n, const eisnet_ml_batch *bt)
{
    int P = pred->grid.n_params, n_in = eisnet_predictor_n_in(pred), nf = pred->n_features;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(eisnet_cpu_threads(bt->threads)) if (n >= 128)
#endif
    for (int b = 0; b < n; b++)
        eisnet_ml_row_input(pred, m, &rows[b], rows[b].mask, feats && nf ? feats + (size_t)rows[b].gt * nf : NULL,
                            bt->x + (size_t)b * n_in, bt->target + (size_t)b * P, bt->missing + (size_t)b * P,
                            bt->rtarget + b);
}

int eisnet_ml_evaluate(const eisnet_predictor *pred, eisnet_workspace *ws, const eisnet_ml_masks *m, const float *feats,
                       const eisnet_ml_row *rows, size_t n_rows, const eisnet_ml_batch *bt, double resnorm_weight,
                       eisnet_ml_eval *out)
{
    int P = pred->grid.n_params, G = pred->grid.n_grid;
    double sl = 0, sc = 0;
    int64_t hit1 = 0, hit3 = 0, cnt = 0;
    for (size_t s = 0; s < n_rows; s += (size_t)bt->B) {
        int n = (int)(n_rows - s < (size_t)bt->B ? n_rows - s : (size_t)bt->B);
        batch_input(pred, m, feats, rows + s, n, bt);
        eisnet_loss L;
        if (eisnet_model_forward(pred->model, ws, bt->x, n, 0, NULL) != 0 ||
            eisnet_model_loss(pred->model, ws, n, bt->target, bt->missing, bt->rtarget, (float)resnorm_weight, &L, NULL,
                              NULL) != 0)
            return -1;
        sl += L.loss * n;
        sc += L.ce * n;
        const float *logits = eisnet_workspace_logits(ws);
        for (int b = 0; b < n; b++)
            for (int p = 0; p < P; p++) {
                if (!bt->missing[b * P + p]) continue;
                int above = eisnet_ml_rank(logits + ((size_t)b * P + p) * G, G, bt->target[b * P + p]);
                hit1 += above < 1;
                hit3 += above < 3;
                cnt++;
            }
    }
    out->loss = n_rows ? sl / (double)n_rows : NAN;
    out->ce = n_rows ? sc / (double)n_rows : NAN;
    out->top1 = cnt ? (double)hit1 / (double)cnt : NAN;
    out->top3 = cnt ? (double)hit3 / (double)cnt : NAN;
    return 0;
}

char *eisnet_ml_with_suffix(const char *stem, const char *suffix)
{
    size_t n = strlen(stem) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", stem, suffix);
    return s;
}
