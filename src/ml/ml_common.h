/* What training (src/train.c, src/train_sim.c) and updating (src/update.c)
 * share: the random streams that define the split and the validation masks,
 * the masks themselves, the split by ground truth, the rows sampled from a
 * dataset, the network input of a row, and the top-1/top-3 count. `update
 * --eval` measures the very rows `train` held out only while both use these.
 * Not a public header. */
#ifndef EISNET_ML_COMMON_H
#define EISNET_ML_COMMON_H

#include "eisnet/dataset.h"
#include "eisnet/model.h"
#include "eisnet/predictor.h"
#include "eisnet/rng.h"

#include <stddef.h>
#include <stdint.h>

/* Random streams of a training run from a dataset (with its seed). */
enum {
    EISNET_STREAM_SPLIT = 11,   /* which ground truths are held out */
    EISNET_STREAM_SAMPLE = 12,  /* uniform row sampling */
    EISNET_STREAM_VALMASK = 13, /* the fixed mask of each validation row */
    EISNET_STREAM_EPOCH = 14    /* per epoch: + 1000 * epoch */
};

/* One training example from a dataset: ground truth, grid model, log10 of
 * its resnorm (floored), and for validation rows its fixed mask. */
typedef struct {
    uint32_t gt, model;
    float logr;
    uint16_t mask;
} eisnet_ml_row;

/* Every mask over P parameters that knows `known` of them (0: every subset
 * with at least one missing parameter), in increasing binary order with the
 * first parameter as the top bit; known[i * P + p] is 1 where p is known. */
typedef struct {
    int n, P;
    uint8_t *known;
} eisnet_ml_masks;

/* Needs 0 <= known < P <= 20 (callers check and word the error). */
int eisnet_ml_masks_make(eisnet_ml_masks *m, int P, int known);
void eisnet_ml_masks_free(eisnet_ml_masks *m);

/* Holds out round(val_fraction * N) ground truths (at least one when
 * val_fraction > 0, at most N - 1, none when N < 2), drawn from stream
 * EISNET_STREAM_SPLIT of seed; is_val[i] (N entries) set to 1 for those.
 * Returns their count, or -1 (error set); *first_val is the smallest held
 * out index or -1. */
int eisnet_ml_split(int N, double val_fraction, uint64_t seed, int *is_val, int *first_val);

/* Rows of the wanted ground truths of ds: per ground truth its K grid models
 * of smallest resnorm (or K uniform draws from stream EISNET_STREAM_SAMPLE
 * when uniform), held-out ones with a mask from EISNET_STREAM_VALMASK. */
typedef struct {
    const int *is_val;
    int K, uniform, n_masks;
    int want_train, want_val;
    uint64_t seed;
    float resnorm_floor;
    const char *label; /* progress line */
    int quiet;
} eisnet_ml_rows_options;

/* Fills *train / *val (allocated, freed by the caller even on error) and
 * their counts. */
int eisnet_ml_rows_load(const eisnet_dataset *ds, const eisnet_ml_rows_options *o, eisnet_ml_row **train,
                        size_t *n_train, eisnet_ml_row **val, size_t *n_val);

/* The network input, targets, missing flags and log-resnorm target of row r
 * under mask index `mask`, with spectrum features f (NULL without). */
void eisnet_ml_row_input(const eisnet_predictor *pred, const eisnet_ml_masks *m, const eisnet_ml_row *r, uint16_t mask,
                         const float *f, float *x, int32_t *target, uint8_t *missing, float *rtarget);

/* Number of classes ranked above class t among G logits l (ties broken by
 * index): 0 is a top-1 hit, below 3 a top-3 hit. */
int eisnet_ml_rank(const float *l, int G, int t);

/* Input buffers of up to B rows. */
typedef struct {
    int B;
    float *x, *rtarget;
    int32_t *target;
    uint8_t *missing;
    int threads; /* that build the inputs: as eisnet_cpu_threads */
} eisnet_ml_batch;

typedef struct {
    double loss, ce, top1, top3;
} eisnet_ml_eval;

/* Loss and top-1/top-3 over the missing parameters of rows[0..n) under their
 * own masks, in batches of b->B; feats: n_gt x n_features or NULL. */
int eisnet_ml_evaluate(const eisnet_predictor *pred, eisnet_workspace *ws, const eisnet_ml_masks *m, const float *feats,
                       const eisnet_ml_row *rows, size_t n, const eisnet_ml_batch *b, double resnorm_weight,
                       eisnet_ml_eval *out);

/* stem + suffix, allocated (NULL when out of memory). */
char *eisnet_ml_with_suffix(const char *stem, const char *suffix);

#endif
