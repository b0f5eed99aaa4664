/* eisnet/evaluate.h: how good a trained model's answers are, on fresh
 * simulations it never saw, against the grid brute force and the exact
 * Bayes cell posterior.
 *
 * Metrics, per mask of known parameters and per missing parameter, with the
 * truth's cell (the cell holding the simulated value) as the label:
 *   top-1 / top-3   the truth's cell is the most probable / among the three
 *                   most probable cells (ties: lower index first); for the
 *                   grid brute force, cells ranked by their profile misfit
 *                   (the least misfit of the grid completions with that cell)
 *   p(true)         mean probability given to the truth's cell
 *   KL              mean KL(exact || network) = sum e ln(e / q), network
 *                   probabilities below EISNET_KL_FLOOR count as the floor
 *   ECE             expected calibration error of the top-1 probability:
 *                   10 equal bins of [0, 1], sum over bins of
 *                   (share of answers) x |accuracy - mean top-1 probability|
 *   coverage(a)     share of truths inside the highest-probability set of
 *                   level a: cells taken by decreasing probability (ties:
 *                   lower index first) until their mass reaches a; the
 *                   cell that crosses a counts with the part of its mass
 *                   that the set needs, (a - mass before it) / its mass,
 *                   so that the set holds exactly a
 *   coverage90, whole cells
 *                   the same with the crossing cell counted whole (the set
 *                   then holds a or more)
 * Cells are coarse next to a sharp posterior: the most probable cell alone
 * often holds 0.97 or more, so a whole-cell set of level 0.9 covers about
 * that share even for the exact posterior. Counting the crossing cell in
 * part makes the expected coverage of a calibrated answer exactly a.
 * A calibrated answer has ECE near 0 and coverage(a) near a. */
#ifndef EISNET_EVALUATE_H
#define EISNET_EVALUATE_H

#include "eisnet/posterior.h"
#include "eisnet/predictor.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EISNET_KL_FLOOR 1e-12
#define EISNET_CAL_BINS 10
/* The random stream of evaluate's simulations; training uses other streams
 * of the same seed, so an evaluation never sees a training spectrum. */
#define EISNET_EVAL_STREAM 0x4556414c55415445ull

/* ---- metrics ---------------------------------------------------------------- */

/* KL(p || q) in nats over n cells, q floored at EISNET_KL_FLOOR. */
double eisnet_kl(const double *p, const double *q, int n);
/* 1 when cell truth is among the k most probable of p (ties: lower index
 * ranks first), else 0. */
int eisnet_top_k_hit(const double *p, int n, int truth, int k);
/* 1 when cell truth lies in the highest-probability set of level a (the
 * crossing cell whole). */
int eisnet_hpd_covers(const double *p, int n, int truth, double level);
/* How much of cell truth the highest-probability set of level a holds: 1
 * inside, 0 outside, (a - mass before it) / p[truth] for the crossing cell.
 * Its expectation under p is a. */
double eisnet_hpd_cover_share(const double *p, int n, int truth, double level);

typedef struct {
    double conf[EISNET_CAL_BINS], hit[EISNET_CAL_BINS];
    double count[EISNET_CAL_BINS];
} eisnet_calibration;

/* Adds one answer: its top-1 probability and whether the top-1 was right. */
void eisnet_calibration_add(eisnet_calibration *c, double top1_prob, int correct);
void eisnet_calibration_merge(eisnet_calibration *into, const eisnet_calibration *c);
double eisnet_calibration_ece(const eisnet_calibration *c);

/* ---- an evaluation ---------------------------------------------------------- */

typedef struct {
    int n;            /* spectra (1000) */
    int n_exact;      /* of them, the first n_exact also get the exact posterior (100; 0 = none) */
    double sigma;     /* noise of the simulations and of the posterior (0.01) */
    uint64_t seed;    /* (42) */
    int n_masks;      /* masks[n_masks][n_params], 1 = known */
    const uint8_t (*masks)[EISNET_MAX_PARAMS];
    eisnet_posterior_options post; /* sigma is overwritten by sigma */
    int threads;      /* 0 = all */
    int quiet;        /* no progress on stderr */
} eisnet_evaluate_options;

void eisnet_evaluate_options_default(eisnet_evaluate_options *o);

typedef struct {
    double top1, top3, p_true, ece, cover50, cover90, cover90_cells;
} eisnet_answer_metrics;

typedef struct {
    int param;                 /* file order */
    eisnet_answer_metrics net; /* over all n spectra */
    eisnet_answer_metrics net_sub; /* the network over the n_exact subset (comparable to exact) */
    eisnet_answer_metrics exact;   /* over the n_exact subset */
    double argmin_top1, argmin_top3; /* over all n */
    double kl;                 /* mean KL(exact || network) over the subset */
    double kl_converged;       /* the same over the subset's converged exact posteriors only */
    double kl_stderr;          /* standard error of kl (sample deviation / sqrt(n_exact)); NAN below 2 */
} eisnet_param_metrics;

typedef struct {
    uint8_t known[EISNET_MAX_PARAMS];
    int n_missing;
    eisnet_param_metrics par[EISNET_MAX_PARAMS]; /* n_missing, in parameter order */
    int n, n_exact;
    double exact_converged;    /* share of exact posteriors that converged */
    double exact_seconds;      /* mean wall time of one exact posterior */
    double uniform_top1;       /* 1 / n_grid */
} eisnet_mask_metrics;

typedef struct {
    int n_masks;
    eisnet_mask_metrics *mask;
    eisnet_calibration cal_net, cal_exact; /* over every mask and missing parameter */
    double seconds;
} eisnet_evaluation;

/* Every mask in masks must leave at least one parameter missing. Returns 0
 * or -1 with a message. */
int eisnet_evaluate(const eisnet_predictor *p, const eisnet_evaluate_options *o, eisnet_evaluation *out);
void eisnet_evaluation_free(eisnet_evaluation *e);

/* Masks: every one with between min_missing and max_missing parameters
 * missing, fewer missing first; masks must hold 2^n_params rows. Returns
 * the count (0 for n_params outside 1..20). */
int eisnet_masks_by_missing(int n_params, int min_missing, int max_missing, uint8_t (*masks)[EISNET_MAX_PARAMS]);

/* A table (one line per mask and missing parameter) and JSON (malloc'ed). */
void eisnet_evaluation_print(FILE *fp, const eisnet_predictor *p, const eisnet_evaluate_options *o,
                             const eisnet_evaluation *e);
char *eisnet_evaluation_json(const eisnet_predictor *p, const eisnet_evaluate_options *o, const eisnet_evaluation *e);
/* Reliability diagram (SVG): accuracy against mean top-1 probability per
 * bin, network and exact posterior, with the diagonal. */
int eisnet_evaluation_reliability_svg(const char *path, const eisnet_evaluation *e);

/* For the end of training: evaluates p on n fresh spectra (exact posterior
 * on the first n_exact, by the box rule alone: no sampling stage) for every
 * mask with 1 to 3 missing parameters and prints the table to fp. Returns
 * 0 or -1. */
int eisnet_evaluate_summary(const eisnet_predictor *p, FILE *fp, int n, int n_exact, double sigma, uint64_t seed,
                            int quiet);

#ifdef __cplusplus
}
#endif
#endif
