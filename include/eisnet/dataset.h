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

/* A --ground_truths file is a short list, not a dataset: larger files are
 * refused before parsing (the JSON tree takes ~40 times the text). */
/* Defaults of eisnet_generate_options_default (and of train's data_dir). */
#define EISNET_DEFAULT_DATA_DIR "./eis_training_data"
#define EISNET_GENERATE_N_GT 100

#define EISNET_GROUND_TRUTHS_MAX_BYTES ((size_t)4 << 20)

/* Without force, generate refuses more grid models per ground truth than
 * this (each worker holds one ground truth's resnorm row, 8 bytes a model)
 * and a resnorm.npy over this many bytes. With force the limit is the
 * largest array eisnet writes (EISNET_MAX_ARRAY_BYTES). */
#define EISNET_GENERATE_MAX_MODELS 50000000
#define EISNET_GENERATE_MAX_BYTES ((double)2e9)

typedef struct {
    eisnet_grid_options grid;
    int n_ground_truths;
    const char *data_dir;
    int n_workers;
    uint64_t seed;
    int csv;
    int quiet;
    int force; /* allow datasets over the size limits below */
    const char *ground_truths_file; /* optional JSON list in the reference's format */
} eisnet_generate_options;

void eisnet_generate_options_default(eisnet_generate_options *o);
/* Prints the size of the dataset (unless quiet) and refuses one over the
 * limits or larger than the free space of data_dir: 0, or -1 with a message
 * naming the flags to change. */
int eisnet_generate_check_size(const eisnet_grid *g, int n, const eisnet_generate_options *o);
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

/* ---- reading a generated dataset (train, infer) ------------------------- */

typedef struct {
    char *dir;
    eisnet_grid grid;
    int n;                       /* ground truths */
    eisnet_ground_truth *gt;     /* ids from ground_truth_metadata.json, values from dataset.npz */
    double complex *spectra;     /* n x n_freq */
    char *resnorm_path;
    long resnorm_offset;         /* byte offset of the data in resnorm.npy */
    uint64_t seed;
} eisnet_dataset;

/* Opens DIR written by eisnet_generate; checks that the files agree. A
 * missing or incomplete dataset gets a message that says to run generate. */
int eisnet_dataset_open(eisnet_dataset *d, const char *dir);
void eisnet_dataset_close(eisnet_dataset *d);
/* The resnorm of every grid model against ground truth i (n_models values);
 * rejects NaN/inf. */
int eisnet_dataset_read_resnorm(const eisnet_dataset *d, int i, double *out);
/* Index of a ground truth by id, or -1. */
int eisnet_dataset_find(const eisnet_dataset *d, const char *id);

#ifdef __cplusplus
}
#endif
#endif
