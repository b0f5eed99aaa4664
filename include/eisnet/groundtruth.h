/* eisnet/groundtruth.h: the ground truths of a dataset.
 *
 * n ground truths: int(0.40 n) Latin-hypercube points (lhs_0000...),
 * int(0.30 n) scrambled Sobol points (sobol_0000...), int(0.15 n) "biological"
 * log-normal points (bio_0000...), then the 2^P corners of the box
 * (grid_0000...) and the same corners again (edge_000...); cut to n.
 * LHS and Sobol are our own, seeded by `seed`. */
#ifndef EISNET_GROUNDTRUTH_H
#define EISNET_GROUNDTRUTH_H

#include "eisnet/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char id[24];
    double values[EISNET_MAX_PARAMS]; /* file order */
} eisnet_ground_truth;

/* Fills gt[0..n-1]. Returns 0 or -1 (out of memory). */
int eisnet_ground_truths_make(const eisnet_grid *g, int n, uint64_t seed, eisnet_ground_truth *gt);

/* Latin hypercube: n points in [0,1)^d, row-major out[n*d]. */
void eisnet_lhs(int n, int d, uint64_t seed, double *out);
/* Scrambled Sobol (random linear matrix scramble + digital shift), d <= 21. */
int eisnet_sobol(int n, int d, uint64_t seed, double *out);

/* The reference's row id: "reference_" + first 8 hex digits of the md5 of
 * "%.6e_%.6e_..." of the values. buf needs 19 bytes. */
void eisnet_reference_id(const double *values, int n, char *buf);

#ifdef __cplusplus
}
#endif
#endif
