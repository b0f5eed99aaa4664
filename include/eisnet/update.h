/* eisnet/update.h: `eisnet update`: continuous learning from new labelled
 * measurements (SPEC 1.10 "streaming update"), one AdamW step per example
 * (or per group of examples), safe to interrupt at any moment.
 *
 * An example is one JSON line (docs/update.md):
 *   {"freq":[Hz...], "re":[Ω...], "im":[Ω...],
 *    "known":{"Rsh":460,"Ra":4820,"Rb":2210},
 *    "target":{"Ca":3.7e-6,"Cb":3.4e-6}, "resnorm":12.5, "id":"any string"}
 * freq may be left out when re/im are on the model's frequencies; otherwise
 * the spectrum is interpolated in log f onto them (no extrapolation). Every
 * parameter is in exactly one of known / target. Targets are snapped to the
 * nearest grid value (in log); the resnorm target (Ω, optional) defaults to
 * the resnorm of the snapped grid model against the spectrum.
 *
 * The checkpoint is updated in place: <stem>.safetensors and <stem>.npz
 * (weights) and <stem>.state.safetensors (AdamW moments and step, the
 * training record of `eisnet train`, and "eisnet_update_state"), each written
 * atomically. */
#ifndef EISNET_UPDATE_H
#define EISNET_UPDATE_H

#include "eisnet/predictor.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *model_path;  /* the checkpoint to update (required) */
    const char *data_dir;    /* dataset for replay / eval (may be NULL otherwise) */
    double lr;               /* 1e-3 */
    double weight_decay;     /* 0.01 */
    double resnorm_weight;   /* 0.5 */
    double max_grad_norm;    /* 1.0 */
    int batch_size;          /* examples per update (1) */
    int replay;              /* original training rows mixed into each update (0) */
    int samples_per_gt;      /* replay / eval rows: the K best grid models per ground truth (5000) */
    double val_fraction;     /* the held-out split of `eisnet train` (0.15) */
    int eval;                /* held-out accuracy before and after (needs data_dir) */
    double checkpoint_every; /* seconds (30); <= 0: only at the end */
    uint64_t seed;           /* 42: the split (as train), dropout, replay sampling */
    int threads;             /* 0: one thread */
    const char *backend;     /* registry name (eisnet/backend.h); NULL = "auto" */
    int quiet;
} eisnet_update_options;

void eisnet_update_options_default(eisnet_update_options *o);

/* One parsed example: the network input row, targets and mask. */
typedef struct {
    float *x;                          /* n_in values (owned by the caller / updater) */
    int32_t target[EISNET_MAX_PARAMS]; /* grid index per parameter (known ones too) */
    uint8_t missing[EISNET_MAX_PARAMS];
    float log_resnorm;                 /* log10(max(resnorm, floor)) */
    char id[64];                       /* "id" of the line, "" if none */
} eisnet_update_example;

/* Parses one JSON line (len bytes, no NUL needed) against the predictor and
 * fills ex (ex->x must hold eisnet_predictor_n_in(p) floats). 0, or -1 with
 * a one-line message naming the problem (bad JSON, missing or unknown key,
 * unknown parameter, a value that is not a finite number, wrong length,
 * value out of range, spectrum outside the model's frequencies). */
int eisnet_update_parse(const eisnet_predictor *p, const char *line, size_t len, eisnet_update_example *ex);

typedef struct eisnet_updater eisnet_updater;

/* Loads the checkpoint and its optimizer state (a fresh AdamW state when
 * there is none), and for replay / eval the dataset rows. NULL + error. */
eisnet_updater *eisnet_updater_open(const eisnet_update_options *o);
void eisnet_updater_close(eisnet_updater *u);

eisnet_predictor *eisnet_updater_predictor(eisnet_updater *u);
const eisnet_adamw *eisnet_updater_optimizer(const eisnet_updater *u);
int64_t eisnet_updater_count(const eisnet_updater *u); /* updates applied to this checkpoint, ever */
/* 1 when an optimizer state file was loaded, 0 when it started fresh. */
int eisnet_updater_state_loaded(const eisnet_updater *u);

/* Parses a line into the pending group. 0, or -1 (rejected, error set). */
int eisnet_updater_push_line(eisnet_updater *u, const char *line, size_t len);
int eisnet_updater_pending(const eisnet_updater *u);
/* The "id" of the last line pushed ("" when it had none or was rejected). */
const char *eisnet_updater_last_id(const eisnet_updater *u);
/* One AdamW step on the pending examples plus `replay` sampled training rows;
 * clears the group. loss_each (pending floats, may be NULL): each example's
 * loss (CE over its unknown parameters + resnorm_weight * squared error)
 * before the step. No-op returning 0 when nothing is pending. */
int eisnet_updater_apply(eisnet_updater *u, float *loss_each);
/* Writes the checkpoint and the state file (atomically, weights first). */
int eisnet_updater_save(eisnet_updater *u);

/* Held-out accuracy on the dataset's validation split (as `eisnet train`
 * defines it for the same seed, val_fraction and samples_per_gt): top-1 and
 * top-3 per missing parameter, and the loss. Needs eval or replay data. */
typedef struct {
    double top1, top3, loss;
    long rows;
    int n_gt;
} eisnet_update_eval;
int eisnet_updater_evaluate(eisnet_updater *u, eisnet_update_eval *ev);

/* The stream: reads JSON lines from fd until end of input or a stop
 * request, answers each on `out` (one JSON object per line, flushed),
 * writes a one-line error per rejected line on `err` (name: the input's
 * name in messages), checkpoints every checkpoint_every seconds (also while
 * the input is idle) and at the end. Returns 0 at end of input, 1 after a
 * stop request (both after saving), -1 on a fatal error. */
typedef struct {
    long lines, accepted, rejected, updates;
    double median_ms, p99_ms, updates_per_s; /* latency of the updates (parse + step) */
    int checkpoints;
    int stopped;
} eisnet_update_stats;
int eisnet_update_stream(eisnet_updater *u, int fd, const char *name, FILE *out, FILE *err, eisnet_update_stats *st);

/* Asks a running eisnet_update_stream to stop (safe in a signal handler). */
void eisnet_update_request_stop(void);

#ifdef __cplusplus
}
#endif
#endif
