/* eisnet/resnorm.h: the reference's "resnorm" of every grid model against
 * one ground-truth spectrum:
 *
 *   resnorm = (1/F) * sum_k |Zm(w_k) - Zr(w_k)|       (mean complex distance, Ω)
 *
 * summed in numpy's pairwise order, so values agree with the reference to
 * the last bits. The preset circuits have fast kernels that reuse the
 * sub-circuit spectra across the grid; any other circuit uses the generic
 * path (whole circuit per model). */
#ifndef EISNET_RESNORM_H
#define EISNET_RESNORM_H

#include "eisnet/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eisnet_resnorm_plan eisnet_resnorm_plan;

/* Precomputes what the grid allows (sub-circuit spectra). NULL on OOM. */
eisnet_resnorm_plan *eisnet_resnorm_plan_new(const eisnet_grid *g);
void eisnet_resnorm_plan_free(eisnet_resnorm_plan *p);

/* out[m] for every grid model m (file order, g->n_models values). Thread-safe:
 * several threads may share one plan. */
void eisnet_resnorm_all(const eisnet_resnorm_plan *p, const double complex *zref, double *out);

/* out[m - m0] for the models m0 <= m < m1 of a generic circuit (the kernel
 * eisnet_resnorm_all uses for it), so that long rows can report progress.
 * Other kernels compute whole rows only: call eisnet_resnorm_all. */
void eisnet_resnorm_range(const eisnet_resnorm_plan *p, const double complex *zref, uint64_t m0, uint64_t m1,
                          double *out);

/* The plain reference path for one model (tests, generic circuits). */
double eisnet_resnorm_one(const eisnet_grid *g, const double *values, const double complex *zref);

/* numpy's pairwise summation of a[0..n-1] (add.reduce on a contiguous array). */
double eisnet_pairwise_sum(const double *a, size_t n);

#ifdef __cplusplus
}
#endif
#endif
