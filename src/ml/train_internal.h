/* Shared between the two trainers (src/ml/train.c: rows of a dataset,
 * src/ml/train_sim.c: by simulation): output paths, the history files, the
 * stop request. Not a public header. */
#ifndef EISNET_TRAIN_INTERNAL_H
#define EISNET_TRAIN_INTERNAL_H

#include "eisnet/train.h"

typedef struct {
    char *best, *last, *state, *hist_csv, *hist_json, *hist_svg;
    double uniform_top1;
} eisnet_train_paths;

/* The checkpoint, state and history paths of o (model_path or
 * DATA_DIR/model.safetensors); also fills res->best_path and last_path. */
int eisnet_train_paths_make(eisnet_train_paths *pp, const eisnet_train_options *o, int n_grid, eisnet_train_result *res);
void eisnet_train_paths_free(eisnet_train_paths *pp);

/* history.csv, .json and .svg after each epoch. */
int eisnet_train_history_write(const eisnet_train_paths *pp, const eisnet_epoch_record *h, int n);

/* 1 once eisnet_train_request_stop() was called during this training. */
int eisnet_train_stop_pending(void);

/* Training by simulation (src/ml/train_sim.c); options checked by eisnet_train. */
int eisnet_train_sim(const eisnet_train_options *o, eisnet_train_result *res);

#endif
