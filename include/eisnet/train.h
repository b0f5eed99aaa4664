/* eisnet/train.h: `eisnet train`: the probabilistic predictor on a question
 * it can answer.
 *
 * Default (simulate = 1): training by simulation (neural posterior
 * estimation), src/ml/train_sim.c. Every sample is a fresh simulation: a truth
 * drawn log-uniform inside the ranges, its spectrum with relative complex
 * noise sigma, a mask over all subsets of known parameters (0 to n-1 known),
 * the known values at their true values; label = the grid cell of each
 * missing truth. No dataset is needed. An epoch is samples_per_epoch fresh
 * simulations; validation uses val_samples fixed held-out simulations.
 *
 * Dataset modes (simulate = 0), src/ml/train.c: for each ground truth, the samples_per_gt grid models with the lowest
 * resnorm (sampling "topk"), or that many drawn uniformly with replacement
 * (sampling "uniform", the reference). Each row gets a random mask that knows
 * `known` parameters (redrawn every epoch for training rows, fixed for
 * validation rows). The split is by ground truth: no row of a validation
 * ground truth is ever trained on. Targets: the row's grid indices of the
 * unknown parameters and log10 of its resnorm. */
#ifndef EISNET_TRAIN_H
#define EISNET_TRAIN_H

#include "eisnet/predictor.h"
#include "eisnet/train_state.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default batch sizes: by simulation (more, smaller steps learned more per
 * example in a measured comparison) and for rows of a dataset (the
 * reference's). */
#define EISNET_TRAIN_EPOCHS 100
#define EISNET_TRAIN_SAMPLES_PER_GT 5000
#define EISNET_TRAIN_KNOWN 3
#define EISNET_TRAIN_HIDDEN 512
#define EISNET_TRAIN_VAL_FRACTION 0.15
#define EISNET_TRAIN_LR 1e-3
#define EISNET_TRAIN_SAMPLES_PER_EPOCH 500000
#define EISNET_TRAIN_VAL_SAMPLES 20000
#define EISNET_TRAIN_LR_DECAY 0.4
#define EISNET_TRAIN_BATCH_SIM 256
#define EISNET_TRAIN_BATCH_ROWS 512
/* AdamW's decoupled weight decay: none by simulation (fresh examples never
 * overfit, and a decay of 0.01 held the held-out loss on a plateau for the
 * middle half of a long run), the reference's 0.01 for rows of a dataset. */
#define EISNET_TRAIN_WEIGHT_DECAY_SIM 0
#define EISNET_TRAIN_WEIGHT_DECAY_ROWS 0.01
/* By simulation, masks with more than EISNET_TRAIN_MANY_MISSING parameters
 * missing are drawn this often relative to the others: the answers users
 * ask for most (and evaluate scores by default) have 1 to 3 missing. */
#define EISNET_TRAIN_MANY_MISSING 3
#define EISNET_TRAIN_MANY_MISSING_WEIGHT 0.25
/* Precision of the training's matrix products (eisnet/backend.h): bfloat16
 * operands with float32 sums on the CPU's AMX tiles by simulation (float32
 * where the CPU has none), float32 for rows of a dataset (the like-for-like
 * comparison with PyTorch). The per-epoch validation runs on the
 * training's backend; predictions and evaluations always in float32. */
#define EISNET_TRAIN_MATMUL_SIM "bf16"
#define EISNET_TRAIN_MATMUL_ROWS "fp32"
/* The command line's default epochs by simulation (train's 100, full's 16)
 * are multiplied by this when the products run in bfloat16 (about 1.8x the
 * samples per second): about the same time, more simulations. */
#define EISNET_TRAIN_EPOCHS_BF16_FACTOR 2

typedef struct {
    const char *data_dir;
    const char *model_path; /* default DATA_DIR/model.safetensors */
    int n_epochs;           /* 100 */
    /* 1: n_epochs is a default (the command line's depends on the products'
     * precision), not a choice: --resume by simulation then keeps the
     * resumed run's own total, so its learning-rate schedule stays put */
    int n_epochs_default;
    int batch_size;         /* -1: the mode's default (EISNET_TRAIN_BATCH_SIM / _ROWS) */
    int samples_per_gt;     /* 5000 */
    int known;              /* 3 */
    int hidden;             /* 512 */
    double val_fraction;    /* 0.15 */
    double lr;              /* 1e-3 */
    double weight_decay;    /* -1: the mode's default (EISNET_TRAIN_WEIGHT_DECAY_SIM / _ROWS) */
    double resnorm_weight;  /* 0.5 */
    double noise;           /* relative spectrum noise for augmentation (0) */
    int features;           /* 1 spectrum (default), 0 params (reference) */
    int uniform;            /* 0 topk (default), 1 uniform (reference) */
    uint64_t seed;          /* 42 */
    int threads;            /* 0 = all cores */
    const char *backend;    /* registry name (eisnet/backend.h); NULL = "auto" */
    int resume;
    int quiet;
    int expect_n_gt;        /* > 0: the dataset must have this many ground truths */
    int max_epochs_this_run; /* > 0: stop after this many epochs (tests) */
    /* training by simulation */
    int simulate;           /* 1 (default): train by simulation; 0: rows of a dataset */
    double sigma;           /* relative noise of the simulated spectra (0.01) */
    int samples_per_epoch;  /* fresh simulations per epoch (500000) */
    int val_samples;        /* held-out simulations (20000) */
    double dropout;         /* -1: the mode's default (0 by simulation, 0.3/0.2/0.1 otherwise) */
    double lr_decay;        /* by simulation: cosine decay to 0 over this last share of the steps (0.4) */
    double many_missing_weight; /* by simulation: relative frequency of masks with many missing (0.25) */
    const char *matmul;     /* "bf16", "fp32"; NULL: the mode's default (EISNET_TRAIN_MATMUL_SIM / _ROWS) */
    const eisnet_grid_options *grid; /* by simulation: the grid; NULL: a dataset's in data_dir, else the default */
} eisnet_train_options;

void eisnet_train_options_default(eisnet_train_options *o);

typedef struct {
    eisnet_epoch_record *history;
    int n_history;
    int best_epoch;
    double best_val_loss;
    /* held-out evaluation of the best checkpoint */
    double top1, top3;          /* per missing parameter */
    double uniform_top1, uniform_top3;
    double mean_kl;             /* KL(exact grid distribution || predicted marginal), nats; NaN if n/a */
    /* by simulation: held-out top-1 per number of missing parameters (index
     * 1..n_params; NaN where none), and simulations per second */
    double top1_by_missing[EISNET_MAX_PARAMS + 1];
    double sim_share;           /* share of the last epoch's time spent simulating */
    int n_train_rows, n_val_rows, n_train_gt, n_val_gt;
    int first_val_gt;           /* index of the first held-out ground truth, -1 if none */
    char best_path[1024], last_path[1024];
    int interrupted;
} eisnet_train_result;

int eisnet_train(const eisnet_train_options *o, eisnet_train_result *res);
void eisnet_train_result_free(eisnet_train_result *r);

/* Asks a running eisnet_train to stop after the current batch, saving its
 * last checkpoint (safe to call from a signal handler). */
void eisnet_train_request_stop(void);

#ifdef __cplusplus
}
#endif
#endif
