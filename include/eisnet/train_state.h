/* eisnet/train_state.h: the optimizer state beside a checkpoint,
 * "<stem>.state.safetensors", shared by `eisnet train` (--resume) and
 * `eisnet update`.
 *
 * Tensors "adamw.m" and "adamw.v" (float32, one per model parameter) and
 * metadata "eisnet_train_state", a JSON object: epoch, step (AdamW steps
 * taken), lr, best_val, best_epoch, plateau_best, plateau_bad,
 * plateau_cooldown and history (one array of 10 numbers per epoch).
 * `eisnet update` adds a second metadata entry, "eisnet_update_state"
 * (docs/update.md); train keeps neither its value nor its absence. */
#ifndef EISNET_TRAIN_STATE_H
#define EISNET_TRAIN_STATE_H

#include "eisnet/optim.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One epoch of the history: losses, held-out accuracy, learning rate, speed. */
typedef struct {
    int epoch;
    double train_loss, train_ce, val_loss, val_ce, val_top1, val_top3, lr, samples_per_s, seconds;
} eisnet_epoch_record;

typedef struct {
    int epoch;
    double best_val;
    int best_epoch;
    eisnet_plateau plateau;
    float lr;
    /* The pair this state belongs to (eisnet/pair.h): the kind of weights
     * file ("last" or "model") and the generation both carry; "" and 0 in
     * state files written before pairs were checked. */
    char pair[128];
    int64_t generation;
} eisnet_train_run_state;

/* Writes the state atomically. extra_key/extra_json: an optional second
 * metadata entry (both NULL for none). 0 / -1. */
int eisnet_train_state_save(const char *path, const eisnet_adamw *opt, const eisnet_train_run_state *rs,
                            const eisnet_epoch_record *h, int nh, const char *extra_key, const char *extra_json);

/* Reads it into opt (sized for the model: opt->n must match), rs and a
 * malloc'ed history (*h, *nh). extra_key: when not NULL, *extra_json gets a
 * malloc'ed copy of that metadata entry, or NULL when absent. 0 / -1 (the
 * message starts "cannot resume: "). */
int eisnet_train_state_load(const char *path, eisnet_adamw *opt, eisnet_train_run_state *rs, eisnet_epoch_record **h,
                            int *nh, const char *extra_key, char **extra_json);

#ifdef __cplusplus
}
#endif
#endif
