/* eisnet/fit.h: continuous least-squares fit of an equivalent circuit to a
 * measured spectrum, with no initial guess from the user.
 *
 * Method (details and the box rules in docs/fit.md):
 *   1. a box per parameter, derived from the data (impedance levels from the
 *      spectrum's |Z|, time constants from its frequency band) unless a range
 *      is given; known parameters are held fixed;
 *   2. a quasi-random (Sobol, randomly shifted from the seed) scan of the box
 *      in log-parameter space, the weighted sum of squares evaluated in C;
 *   3. the best `starts` mutually distant scan points refined by GSL's
 *      trust-region Levenberg-Marquardt (gsl_multifit_nlinear) in
 *      log-parameter space, the box enforced by a smooth sine transform,
 *      with analytic Jacobians of every element;
 *   4. the best minimum reported with standard errors and 95 % intervals
 *      from the Jacobian in log space scaled by the residual variance (as
 *      scipy's curve_fit does), the other local minima with their chi2, and
 *      the exact symmetries of the circuit (identical branches swapped).
 *
 * Residuals: r_k = (Zfit_k - Z_k) / w_k for the real and the imaginary part
 * at every frequency, with w_k = |Z_k| (modulus weighting, the default),
 * 1 (unit), or |Re Z_k| and |Im Z_k| for each part (proportional).
 * chi2 = sum r^2 / sigma^2 (sigma = 1 when not given). */
#ifndef EISNET_FIT_H
#define EISNET_FIT_H

#include "eisnet/circuit.h"

#include <complex.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EISNET_FIT_MAX_SOLUTIONS 16
#define EISNET_FIT_NAME_MAX 32
#define EISNET_FIT_MAX_STARTS 256
/* Scan points refined by least squares unless told otherwise. */
#define EISNET_FIT_STARTS 8

typedef enum { EISNET_FIT_MODULUS = 0, EISNET_FIT_UNIT = 1, EISNET_FIT_PROPORTIONAL = 2 } eisnet_fit_weighting;

typedef struct {
    const char *circuit;          /* "series", "parallel" or a circuit string; NULL = "series" */
    const char *known;            /* "NAME=VALUE,..." held fixed, or NULL */
    const char *const *ranges;    /* "NAME=MIN:MAX" replacing the derived box */
    int n_ranges;
    double sigma;                 /* noise level in the units of the weighted residual; 0 = not known */
    eisnet_fit_weighting weighting;
    int starts;                   /* scan points refined (8, at most EISNET_FIT_MAX_STARTS) */
    double start_separation;      /* refined points differ by at least this in some coordinate
                                     of the unit box (0.12; 0 = refine the best `starts` as they come) */
    int scan;                     /* scan points (0 = 256 per free parameter, at least 1024) */
    uint64_t seed;                /* shift of the quasi-random scan (42) */
    const double *start_points;   /* n_start_points x n_params (circuit order): refined first,
                                     e.g. a network's most probable completions; values
                                     outside the box are moved onto its edge */
    int n_start_points;
} eisnet_fit_options;

void eisnet_fit_options_default(eisnet_fit_options *o);

/* A local minimum. equivalent_to >= 0: the same spectrum as that solution
 * (an exact symmetry, described in `symmetry`); -1: a distinct minimum. */
typedef struct {
    double values[EISNET_MAX_PARAMS];
    double chi2;
    int equivalent_to;
    char symmetry[128];
} eisnet_fit_solution;

typedef struct {
    char circuit[256];            /* the circuit string fitted */
    int n_params, n_free;
    int n_data;                   /* 2 x frequencies */
    char names[EISNET_MAX_PARAMS][EISNET_FIT_NAME_MAX];   /* display names, circuit order */
    char units[EISNET_MAX_PARAMS][16];
    int known[EISNET_MAX_PARAMS];
    double lo[EISNET_MAX_PARAMS], hi[EISNET_MAX_PARAMS];   /* the box */
    double value[EISNET_MAX_PARAMS];
    double stderr_[EISNET_MAX_PARAMS];     /* 0 for known parameters */
    double ci_lo[EISNET_MAX_PARAMS], ci_hi[EISNET_MAX_PARAMS];
    int at_bound[EISNET_MAX_PARAMS];       /* within 1e-6 (relative, in log) of a box edge */
    double corr[EISNET_MAX_PARAMS * EISNET_MAX_PARAMS];    /* n_params x n_params; NaN for known ones */
    double ssr;                   /* weighted sum of squares */
    double chi2, chi2_reduced, aic, bic;
    double t95;                   /* Student t quantile used for the intervals */
    int n_solutions;
    eisnet_fit_solution solutions[EISNET_FIT_MAX_SOLUTIONS];  /* [0] is the best */
    int n_freq;
    double *freq;                 /* Hz, ascending (malloc'ed) */
    double complex *z, *zfit;     /* data and fit */
    double *rel_re, *rel_im;      /* (Zfit - Z) / |Z|, real and imaginary part */
    long n_evals;                 /* spectra evaluated (scan + refinement) */
    int best_from_start_point;    /* index of the given start point that led to the best, or -1 */
} eisnet_fit_result;

/* Fits `n` points (freq in Hz, any order, distinct and > 0; z finite).
 * Returns 0, or -1 with a one-line message (bad circuit, unknown parameter
 * name, empty box, more free parameters than data, non-finite data, built
 * without GSL). */
int eisnet_fit(const double *freq, const double complex *z, int n, const eisnet_fit_options *o,
               eisnet_fit_result *r);
void eisnet_fit_result_free(eisnet_fit_result *r);

/* 1 when eisnet was built with GSL (the fit needs it), else 0. */
int eisnet_fit_available(void);

/* Weighting by name ("modulus", "unit", "proportional"); -1 if unknown. */
int eisnet_fit_weighting_parse(const char *name);
const char *eisnet_fit_weighting_name(eisnet_fit_weighting w);

/* ---- the pieces, public for tests and the benchmark ---------------------- */

/* A circuit compiled for fast evaluation with derivatives. */
typedef struct eisnet_fit_model eisnet_fit_model;

eisnet_fit_model *eisnet_fit_model_new(const eisnet_circuit *c);
void eisnet_fit_model_free(eisnet_fit_model *m);
/* Z at every omega; when dz is not NULL also dZ/d(ln p_j) in
 * dz[k * n_params + j]. */
void eisnet_fit_model_eval(const eisnet_fit_model *m, const double *params, const double *omega, int n,
                           double complex *z, double complex *dz);

/* The exact symmetries: pairs of identical branches of one series or
 * parallel node. perm[s][j] = the parameter that j swaps with (j itself when
 * untouched); text[s] = "(R1,C1)<->(R2,C2)". Returns their number. */
int eisnet_fit_model_symmetries(const eisnet_fit_model *m, int max, int (*perm)[EISNET_MAX_PARAMS],
                                char (*text)[128]);

/* The data-derived box of parameter j of circuit c (docs/fit.md). */
void eisnet_fit_default_box(const eisnet_circuit *c, int j, const double *freq, const double complex *z, int n,
                            double *lo, double *hi);

#ifdef __cplusplus
}
#endif
#endif
