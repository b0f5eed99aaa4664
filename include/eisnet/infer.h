/* eisnet/infer.h: what the network says about the parameters a scientist did
 * not measure and what the exact Bayes posterior says (--exact).
 *
 * For the missing parameters, with p the softmax of a head over its grid:
 *   marginals; the joint as the product of the marginals; the top-k joint
 *   completions (probability descending, then grid indices ascending);
 *   entropy H(p) in nats (0 log 0 = 0), max probability, top-5 mass,
 *   normalised entropy H/ln(n_grid);
 *   confidence = prod_i p_i[j_i] * (prod_i (1 - H_i/ln n_grid))^(1/m)
 *   (m = 2: p1[i] p2[j] sqrt((1-H1/ln12)(1-H2/ln12)), the reference's;
 *    m = 1: p[i]).
 * Warnings: known values that contradict the spectrum (the best misfit with
 * them fixed is far beyond sigma), a spectrum no parameter values in the
 * ranges fit, spectrum features far outside the training normalisation. */
#ifndef EISNET_INFER_H
#define EISNET_INFER_H

#include "eisnet/posterior.h"
#include "eisnet/predictor.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n_params, n_grid, n_missing, k;
    int missing[EISNET_MAX_PARAMS];   /* parameter indices (file order) */
    uint8_t known[EISNET_MAX_PARAMS];
    double values[EISNET_MAX_PARAMS]; /* known values as given */
    double *probs;                    /* n_params x n_grid (rows of known parameters too) */
    double predicted_resnorm;         /* Ω */
    double entropy[EISNET_MAX_PARAMS], max_prob[EISNET_MAX_PARAMS], top5[EISNET_MAX_PARAMS],
        norm_entropy[EISNET_MAX_PARAMS];   /* by parameter index */
    int *top_idx;                     /* k x n_missing grid indices */
    double *top_p, *top_conf;         /* k */
    /* honesty checks */
    double sigma;                     /* noise level the checks and --exact assume */
    double misfit;                    /* smallest relative misfit with the known values fixed
                                         (see eisnet_best_misfit; about sigma when consistent) */
    double misfit_free;               /* the same with every parameter free (NaN unless misfit is
                                         large: it tells contradicting known values from a
                                         spectrum the circuit cannot fit) */
    double feature_z;                 /* largest |standardised spectrum feature| (0 without features) */
    int n_warnings;
    char warnings[4][256];
    /* --exact: the Bayes cell posterior (eisnet/posterior.h) */
    int has_exact;
    eisnet_posterior post;            /* marginals, joint, convergence, cost, grid argmin */
    double *exact;                    /* = post.marginal: n_params x n_grid (missing rows) */
    double kl[EISNET_MAX_PARAMS];     /* KL(exact || network) per missing parameter, nats */
} eisnet_inference;

/* Parses "Rsh=460,Ra=4820" against the grid's names (display or circuit
 * names, case-insensitive): values must be positive, finite and inside the
 * parameter's range; at least one parameter known and one missing. */
int eisnet_parse_known(const eisnet_grid *g, const char *text, double *values, uint8_t *known);

/* z: the spectrum on the predictor's frequencies. sigma: the relative noise
 * assumed by the consistency warnings and the exact posterior (0 = the
 * default 0.01). exact != 0 adds the Bayes cell posterior and KL. */
int eisnet_infer(const eisnet_predictor *p, const double complex *z, const double *values, const uint8_t *known,
                 int top_k, double sigma, int exact, eisnet_inference *out);

/* Confidence word of a probability: "high" (>= 0.9), "medium" (>= 0.5),
 * "low" (below). */
const char *eisnet_confidence_word(double p);

/* Misfits above this many sigma make infer warn. */
#define EISNET_MISFIT_WARN 3.0
/* A standardised spectrum feature beyond this makes infer warn that the
 * spectrum lies outside what the model was trained on. */
#define EISNET_FEATURE_WARN 6.0
void eisnet_inference_free(eisnet_inference *r);

/* Entropy (nats), max, top-5 mass of a distribution. */
void eisnet_distribution_stats(const double *p, int n, double *entropy, double *max_p, double *top5);
/* Top-k of the product of m independent distributions (each n long):
 * idx[k*m], prob[k]; returns the number found (<= k). */
int eisnet_top_k_product(const double *const *dists, int m, int n, int k, int *idx, double *prob);

/* The reference's JSON (its key names) plus eisnet's extras;
 * malloc'ed; pretty = 0 gives one line. source may be NULL. */
char *eisnet_inference_json(const eisnet_predictor *p, const eisnet_inference *r, const char *source, int pretty);
/* A human-readable table. */
void eisnet_inference_print(FILE *fp, const eisnet_predictor *p, const eisnet_inference *r, const char *source);

/* The spectrum of the top-1 completion (known values + the most probable
 * missing grid values), for plots. */
void eisnet_inference_completion(const eisnet_predictor *p, const eisnet_inference *r, int rank, double *values);

#ifdef __cplusplus
}
#endif
#endif
