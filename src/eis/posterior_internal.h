/* Internal to the exact posterior: what the adaptive box rule
 * (posterior.c) shares with its importance-sampling stage
 * (posterior_sample.c). Not a public header. */
#ifndef EISNET_POSTERIOR_INTERNAL_H
#define EISNET_POSTERIOR_INTERNAL_H

#include "eisnet/posterior.h"

#include <stdint.h>

typedef struct {
    const eisnet_grid *g;
    int F, m, G;
    double *zr, *zi;                  /* measured spectrum */
    double base[EISNET_MAX_PARAMS];   /* known values; missing ones overwritten per point */
    int miss[EISNET_MAX_PARAMS];
    double *lo, *hi;                  /* m x G cell edges, log10 */
    double log_norm;                  /* log of the prior density in log10 units */
    double inv2s2;                    /* 1 / (2 sigma^2) */
    int fast;                         /* 1: series R-p(R,C)-p(R,C), 2: parallel p(R,p(R,C)-p(R,C)) */
    int fi[5];                        /* file index of R0, R1, C1, R2, C2 */
} post_ctx;

typedef struct {
    double *ar, *ai, *br, *bi;        /* fast path: R0 + Z(R1,C1), and Z(R2,C2) */
    double key_a[3], key_b[2];
    double complex *z;                /* generic path */
    double *m2, *t;
    double cp[EISNET_MAX_PARAMS];
    double best_chi;                  /* the smallest chi this thread saw, and where */
    double best_theta[EISNET_MAX_PARAMS];
} post_work;

/* The leaves of the refinement: box i is the part of cell tuple t[i] with
 * coordinates k[i*m + d] at level lvl[i] (2^lvl boxes per cell and
 * dimension); L[i] the log of its posterior mass (times the evidence). */
typedef struct {
    int64_t n, cap;
    uint64_t *t;
    uint8_t *lvl;
    uint16_t *k;
    double *L;
    double *E;  /* log of the box's share of its parent's error estimate (-inf: none) */
    double *PL; /* log mass of the parent, while the box is new */
    int m;
} boxes;

/* Open-addressing index of the boxes by (tuple, level, coordinates). */
typedef struct {
    int64_t *slot; /* box index + 1, 0 = empty */
    uint64_t mask;
} box_index;

int post_work_init(post_work *w, int F);
void post_work_free(post_work *w);
/* Log-likelihood without the constant -F log(2 pi sigma^2); *chi gets
 * sum_f |Z_meas - Z|^2 / |Z|^2. theta: all parameters, file order. */
double post_point_ll(const post_ctx *c, post_work *w, const double *theta, double *chi);
/* Cell tuple index -> the m cell indices. */
void post_decode(const post_ctx *c, uint64_t t, int *cell);
/* The m cell indices -> cell tuple index (the inverse of post_decode). */
uint64_t post_encode(const post_ctx *c, const int *cell);
int post_index_build(box_index *x, const boxes *b);
/* Box index of (tuple, level, coordinates), or -1. */
int64_t post_index_find(const box_index *x, const boxes *b, uint64_t t, int lvl, const uint16_t *k);

/* The sampling stage: refines r (marginal, joint, log_evidence, converged,
 * method, is_*, n_evals) from the final boxes b and the best point
 * best_theta (all parameters, file order). Returns 0 or -1 (out of memory). */
int post_sample_refine(const post_ctx *c, const eisnet_posterior_options *o, const boxes *b,
                       const double *best_theta, eisnet_posterior *r);

#endif
