/* eisnet/infer.h: what the network says about the parameters a scientist did
 * not measure (SPEC 1.9), and what the grid itself says (--exact).
 *
 * For the missing parameters, with p the softmax of a head over its grid:
 *   marginals; the joint as the product of the marginals; the top-k joint
 *   completions (probability descending, then grid indices ascending);
 *   entropy H(p) in nats (0 log 0 = 0), max probability, top-5 mass,
 *   normalised entropy H/ln(n_grid);
 *   confidence = prod_i p_i[j_i] * (prod_i (1 - H_i/ln n_grid))^(1/m)
 *   (m = 2: p1[i] p2[j] sqrt((1-H1/ln12)(1-H2/ln12)), the reference's;
 *    m = 1: p[i]). */
#ifndef EISNET_INFER_H
#define EISNET_INFER_H

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
    /* --exact */
    int has_exact;
    int exact_k;                      /* the K best grid models considered */
    int exact_members;                /* of them, those agreeing with the known values */
    int known_idx[EISNET_MAX_PARAMS]; /* nearest grid index of each known value */
    double *exact;                    /* n_params x n_grid exact marginals (missing rows) */
    double kl[EISNET_MAX_PARAMS];     /* KL(exact || network) per missing parameter, nats */
    int n_best;
    int *best_idx;                    /* n_best x n_missing: completions by actual resnorm */
    double *best_resnorm;             /* n_best, Ω */
} eisnet_inference;

/* Parses "Rsh=460,Ra=4820" against the grid's names (display or circuit
 * names, case-insensitive): values must be positive, finite and inside the
 * parameter's range; at least one parameter known and one missing. */
int eisnet_parse_known(const eisnet_grid *g, const char *text, double *values, uint8_t *known);

/* z: the spectrum on the predictor's frequencies. exact_k > 0 adds the exact
 * grid distribution over the exact_k best grid models. */
int eisnet_infer(const eisnet_predictor *p, const double complex *z, const double *values, const uint8_t *known,
                 int top_k, int exact_k, eisnet_inference *out);
void eisnet_inference_free(eisnet_inference *r);

/* Entropy (nats), max, top-5 mass of a distribution. */
void eisnet_distribution_stats(const double *p, int n, double *entropy, double *max_p, double *top5);
/* Top-k of the product of m independent distributions (each n long):
 * idx[k*m], prob[k]; returns the number found (<= k). */
int eisnet_top_k_product(const double *const *dists, int m, int n, int k, int *idx, double *prob);

/* The reference's JSON (key names of SPEC 1.9) plus eisnet's extras;
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
