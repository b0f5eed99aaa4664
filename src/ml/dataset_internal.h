/* Pieces of `eisnet generate` in their own files (src/dataset*.c). Not a
 * public header. */
#ifndef EISNET_DATASET_INTERNAL_H
#define EISNET_DATASET_INTERNAL_H

#include "eisnet/dataset.h"

#include <stddef.h>
#include <stdint.h>

/* The CSV text of every grid value, formatted once: per parameter and grid
 * index ",<repr>" at cells + (p * n_grid + i) * stride, cell_len bytes. */
typedef struct {
    char *cells;
    size_t *cell_len;
    int stride;
} eisnet_csv_cells;

/* The CSV rows of one ground truth (its own row, then one per grid model with
 * resnorm res[m]) into out, which holds them all; returns their length. */
size_t eisnet_dataset_csv_rows(const eisnet_grid *g, const eisnet_csv_cells *cells, const eisnet_ground_truth *gt,
                               const double *res, char *out);
/* "Model ID,Resnorm,<labels>,Ground Truth ID\n" (malloc'ed, NULL when out of memory). */
char *eisnet_dataset_csv_header(const eisnet_grid *g);
/* The column label of parameter p: its name with its unit. */
void eisnet_dataset_column_label(const eisnet_grid *g, int p, char *buf, size_t n);

/* ground_truth_metadata.json: the reference's list of {"id", "rsh", ...}. */
int eisnet_dataset_write_metadata_json(const char *path, const eisnet_grid *g, const eisnet_ground_truth *gt, int n);

/* Resnorm percentiles (src/dataset_stats.c): a histogram of the values'
 * top bits accumulated while they stream out, then one pass over the file
 * for the values near each wanted rank. */
typedef struct {
    uint64_t *hist;
    double vmin, vmax;
    uint64_t count;
} eisnet_stats_acc;

int eisnet_stats_acc_init(eisnet_stats_acc *a);
void eisnet_stats_acc_add(eisnet_stats_acc *a, const double *v, size_t n);
/* The statistics of the values added plus `zeros` zeros, reading path again
 * for the exact values; frees nothing (the caller frees a->hist). */
int eisnet_stats_finish(const char *path, eisnet_stats_acc *acc, uint64_t zeros, eisnet_resnorm_stats *st);

#endif
