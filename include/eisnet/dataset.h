/* eisnet/dataset.h: `eisnet generate`: ground truths, their spectra and the
 * resnorm of every grid model against each, streamed to disk one ground truth
 * at a time (memory does not grow with their number) on n_workers threads
 * (the output does not depend on how many).
 *
 * Files in data_dir:
 *   resnorm.npy                 (N, n_models) float64, file order of models
 *   dataset.npz                 frequencies (F), omega (F), grid (P, n_grid),
 *                               gt_params (N, P), gt_spectra (N, F, 2) [re, im]
 *   dataset.json                circuit, names, ranges, sizes, seed (written last:
 *                               a dataset without it is incomplete)
 *   ground_truth_metadata.json  the reference's list of {"id", "rsh", ...}
 *   dataset_summary.txt         the reference's summary report
 *   combined_dataset_{N}gt.csv  the reference's CSV (only with csv = 1) */
#ifndef EISNET_DATASET_H
#define EISNET_DATASET_H

#include "eisnet/groundtruth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    eisnet_grid_options grid;
    int n_ground_truths;
    const char *data_dir;
    int n_workers;
    uint64_t seed;
    int csv;
    int quiet;
    const char *ground_truths_file; /* optional JSON list in the reference's format */
} eisnet_generate_options;

void eisnet_generate_options_default(eisnet_generate_options *o);
int eisnet_generate(const eisnet_generate_options *o);

/* Reads a ground-truth list in the reference's JSON format (keys "id" and the
 * parameter names, case-insensitive). *gt is malloc'ed. */
int eisnet_ground_truths_load(const eisnet_grid *g, const char *path, eisnet_ground_truth **gt, int *n);

/* Statistics of the reference's summary over all rows (grid and reference
 * rows), exact: percentiles by numpy's linear interpolation. */
typedef struct {
    double min, p25, median, p75, p90, max;
} eisnet_resnorm_stats;

/* Exact order statistics of the N x n_models float64 values of an .npy file
 * plus `zeros` extra zero rows, in bounded memory (radix selection). */
int eisnet_resnorm_file_stats(const char *npy_path, uint64_t zeros, eisnet_resnorm_stats *st);
/* The same by 4 passes of 16-bit radix selection: constant memory whatever
 * the data; used when the fast path's bins would be too large (and tested). */
int eisnet_resnorm_file_stats_radix(const char *npy_path, uint64_t zeros, eisnet_resnorm_stats *st);

#ifdef __cplusplus
}
#endif
#endif
