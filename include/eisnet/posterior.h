/* eisnet/posterior.h: the exact Bayes cell posterior of the missing
 * parameters, given a measured spectrum and the known parameters at their
 * continuous values.
 *
 * Model (see eisnet/simulate.h): relative complex Gaussian noise
 *     Z_meas(w) = Z(theta, w) (1 + sigma (n1 + i n2)),
 * so each frequency contributes
 *     log p = -|Z_meas - Z|^2 / (2 sigma^2 |Z|^2) - log(2 pi sigma^2 |Z|^2);
 * the prior is log-uniform inside each range. The probability of a cell
 * (the log10-interval around a grid value, clipped to the range) is the
 * posterior integrated over it.
 *
 * Integration: adaptive midpoint rule in log10 of the missing parameters.
 * Every combination of the missing parameters' cells (a "cell tuple",
 * n_grid^m of them for m missing) starts as one box, integrated with q
 * sub-points per dimension (q = 4 for m <= 2, 2 for m = 3-4, 1 beyond).
 * Each round splits boxes into 2^m halves: boxes never split whose mass is
 * within e^-25 of the largest box; split boxes whose error estimate
 * (|parent mass - sum of its children's|) exceeds 1e-6 of the total; and,
 * until the peak is resolved, the neighbours of the boxes holding more than
 * 1e-4 of the largest mass (a peak sharper than the sub-point spacing may
 * sit next to the box that caught it). The peak counts as resolved when
 * the largest box outweighs none of its face neighbours by more than 10
 * nats. It stops, converged, when a round changes no marginal by tol or
 * more, the peak is resolved and the effective sub-points per cell and
 * dimension reach min_sub; or, not converged, when the next round would
 * exceed the resolution cap max_sub or the budget max_evals. More cell
 * tuples than EISNET_POSTERIOR_MAX_TUPLES is refused with an error, never
 * silently approximated. Sums are log-sum-exp; with OpenMP the boxes of a
 * round are shared among threads. The series circuit R-p(R,C)-p(R,C) and
 * the parallel one p(R,p(R,C)-p(R,C)) have closed-form fast paths, other
 * circuits use the generic evaluator.
 *
 * A narrow peak that no sub-point of its tuple came near gets a small
 * coarse mass and is never refined; the boxes then integrate a worse region
 * and can call that converged. So a multi-start compass search (from the 8
 * best grid completions) looks for the best fit independently; when it fits
 * better than every point the boxes evaluated (peak_missed), the boxes'
 * answer is not taken as converged and the sampling stage below runs with
 * its Student-t centred on that fit.
 *
 * Sampling stage: when the box rule stops without converging (1 to 4
 * missing; or always, or never: option sampling), the same quantities are
 * estimated by self-normalised importance sampling in log10 of the missing
 * parameters, from a proposal mixing the final boxes (box by estimated
 * mass, uniform inside) and a Student-t around the best point, in rounds of
 * 2^16 samples until every marginal's standard error is below tol/2 with an
 * effective sample size of at least 2000 (converged), or the budget
 * is_max_evals is spent. Deterministic (seed), whatever the thread count. */
#ifndef EISNET_POSTERIOR_H
#define EISNET_POSTERIOR_H

#include "eisnet/grid.h"

#include <complex.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EISNET_POSTERIOR_SIGMA 0.01
#define EISNET_POSTERIOR_TOL 1e-3
#define EISNET_POSTERIOR_MIN_SUB 8
#define EISNET_POSTERIOR_MAX_SUB 4096
#define EISNET_POSTERIOR_MAX_EVALS 5e6
/* Budget of the importance-sampling stage (likelihood evaluations): an SE
 * below 5e-4 on a cell near 1/2 needs an effective sample size near 10^6. */
#define EISNET_POSTERIOR_IS_MAX_EVALS 8e6
/* Its fixed seed: the stage is deterministic. */
#define EISNET_POSTERIOR_IS_SEED 20261128
/* How much better (log-likelihood, nats) the best fit of an independent
 * local search may be than the best point the boxes evaluated before the
 * boxes count as having missed the posterior's peak. */
#define EISNET_POSTERIOR_MISSED_NATS 1.0
/* Largest number of cell tuples enumerated (12^6 would be 2,985,984). */
#define EISNET_POSTERIOR_MAX_TUPLES 3000000

typedef struct {
    double sigma;  /* relative noise per real/imaginary component (0.01) */
    double tol;    /* convergence: max abs change of a marginal (1e-3) */
    int min_sub;   /* sub-points per cell and dimension before convergence may be declared (8) */
    int max_sub;   /* cap on effective sub-points per cell and dimension, a power of 2 (4096) */
    double max_evals; /* budget of spectrum evaluations (5e6, about a second) */
    int threads;   /* OpenMP threads; 0 = all */
    double is_max_evals; /* budget of the importance-sampling stage (8e6) */
    uint64_t seed;       /* seed of the importance-sampling stage (fixed) */
    int sampling;        /* sampling stage: 0 when the boxes stop unconverged (default), 1 always
                            (checks), -1 never (the box rule alone) */
    const double *starts; /* NULL, or n_starts extra starting points (n_params each, file order;
                             the missing parameters are read, clipped to their ranges) of the
                             local search for the best fit, beside the best grid completions:
                             evaluate passes each simulation's truth, which by construction
                             sits on a peak */
    int n_starts;
} eisnet_posterior_options;

void eisnet_posterior_options_default(eisnet_posterior_options *o);

typedef struct {
    int n_params, n_grid, n_missing;
    int missing[EISNET_MAX_PARAMS]; /* missing parameter indices, file order */
    double *marginal;     /* n_params x n_grid; rows of known parameters are 0 */
    double *joint;        /* n_grid x n_grid: P(first missing in cell i, second in cell j);
                             NULL with one missing parameter */
    int sub_used;         /* effective sub-points per cell and dimension of the finest box */
    int sub_cap;          /* the resolution cap that applied */
    int converged;        /* boxes: 1 when the last round changed no marginal by tol or more;
                             sampling: 1 when is_max_se < tol/2 and is_ess >= 2000 */
    int method;           /* what marginal/joint/log_evidence come from: 0 boxes, 1 importance sampling */
    int is_ran;           /* 1 when the sampling stage ran (then the is_* fields are set) */
    int peak_missed;      /* 1 when a local search from the best grid completions fitted better
                             (by more than EISNET_POSTERIOR_MISSED_NATS) than every point the boxes
                             evaluated: their peak was not the posterior's, so their answer is not
                             used as converged (the sampling stage, centred on the better fit, is) */
    double is_samples;    /* samples drawn by the sampling stage */
    double is_ess;        /* its effective sample size (sum w)^2 / sum w^2 */
    double is_max_se;     /* its largest standard error of a marginal */
    double change;        /* that largest change (NaN when no round was made) */
    double n_evals;       /* spectra evaluated: the cost */
    double n_boxes;       /* boxes at the end */
    double log_evidence;  /* log p(Z_meas | known), natural log, densities per unit of Re, Im */
    /* Misfit m(theta) = sqrt(sum_f |Z_meas - Z|^2 / |Z|^2 / (2 n_freq)): about sigma when
     * the spectrum fits the model within the noise. */
    double best_rel_rms;  /* the smallest over all evaluated sub-points */
    int argmin[EISNET_MAX_PARAMS];  /* grid brute force: the grid completion (grid values of the
                                       missing parameters, known ones at their values) of least
                                       misfit; grid index per parameter, -1 for known ones */
    double argmin_rel_rms;          /* its misfit */
} eisnet_posterior;

/* z: the measured spectrum on g's frequencies. values: file order, read for
 * known parameters (positive, finite; outside the range is allowed).
 * known[p] 0/1; at least one parameter missing. o NULL = defaults.
 * Returns 0, or -1 with a message (nothing allocated in out). */
int eisnet_posterior_compute(const eisnet_grid *g, const double complex *z, const double *values,
                             const uint8_t *known, const eisnet_posterior_options *o, eisnet_posterior *out);
void eisnet_posterior_free(eisnet_posterior *r);

/* The misfit m(theta) above of one parameter vector (file order). */
double eisnet_posterior_rel_rms(const eisnet_grid *g, const double complex *z, const double *values);

/* The smallest misfit with the known parameters fixed, without the
 * posterior: a compass search in log10 inside the ranges from each of the 8
 * best grid completions (n_grid^m + a few thousand spectra; local minima,
 * so an upper bound of the true smallest; on 1200 simulated consistent
 * spectra at sigma 1 % none came out above 3 sigma). known may mark every
 * parameter missing. Returns the misfit, or NaN on bad input (message set). */
double eisnet_best_misfit(const eisnet_grid *g, const double complex *z, const double *values, const uint8_t *known);

/* Grid brute force alone (n_grid^m spectra): argmin (n_params; grid index of
 * each missing parameter in the least-misfit grid completion, -1 for known
 * ones), profile (n_params x n_grid or NULL: per missing parameter and cell
 * the least misfit of the completions with that cell; NaN rows for known
 * parameters) and misfit (or NULL). threads 0 = all. Returns 0 or -1. */
int eisnet_grid_brute_force(const eisnet_grid *g, const double complex *z, const double *values,
                            const uint8_t *known, int threads, int *argmin, double *profile, double *misfit);

#ifdef __cplusplus
}
#endif
#endif
