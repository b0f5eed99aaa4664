/* eisnet/kk.h: the linear Kramers-Kronig test with the mu criterion for the
 * number of RC elements (docs/real-data.md).
 *
 * The data are fitted by a series resistance, a series inductance (and, with
 * add_cap, a series capacitance) and M RC elements R_k/(1 + j w tau_k) whose
 * time constants are fixed, log-spaced from 1/(2 pi f_max) to 1/(2 pi f_min);
 * only the R's (and L, C) are fitted, by linear least squares with every point
 * weighted by 1/|Z|. M grows from 1 until mu = 1 - sum|R_k < 0| / sum|R_k >= 0|
 * falls to c or below (or M reaches max_M): too many elements overfit the noise
 * and show up as resistances of both signs. Data that obey Kramers-Kronig
 * (linear, causal, stable, time-invariant) then leave residuals
 * (Z - Z_fit)/|Z| at the noise level at every frequency.
 *
 * fit = REAL (impedance.py's default) fits the R's to Re(Z), then L (and C) to
 * what is left of Im(Z); COMPLEX fits both parts at once; IMAG fits Im(Z) and
 * takes R_ohm from the real part. */
#ifndef EISNET_KK_H
#define EISNET_KK_H

#include <complex.h>

/* Defaults of eisnet_kk_options_default. */
#define EISNET_KK_C 0.5
#define EISNET_KK_MAX_M 100
#define EISNET_KK_THRESHOLD 0.01

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { EISNET_KK_REAL = 0, EISNET_KK_COMPLEX, EISNET_KK_IMAG } eisnet_kk_fit;

typedef struct {
    double c;          /* mu cutoff (0.5) */
    int max_M;         /* most RC elements (100) */
    eisnet_kk_fit fit; /* REAL */
    int add_cap;       /* also a series capacitance (data without a low-frequency intercept) */
    double threshold;  /* largest |residual| (either part, relative to |Z|) that passes (0.01) */
} eisnet_kk_options;

typedef struct {
    int n, M;
    double mu;
    double r_ohm, L, C;    /* C = 0 without add_cap */
    double *R, *tau;       /* M each */
    double complex *z_fit; /* n */
    double *res_re, *res_im; /* n: (Z - Z_fit)/|Z| */
    double max_res, rms_res; /* over both parts */
    int worst;             /* index of the largest |residual| */
    int mu_reached;        /* 1 when mu <= c was reached before max_M */
    int pass;              /* every |residual| <= threshold */
    int n_fail;            /* points with a residual above the threshold */
    double fail_f_lo, fail_f_hi; /* the frequency span of those points */
} eisnet_kk_result;

void eisnet_kk_options_default(eisnet_kk_options *o);

/* Runs the test on n >= 3 points (any frequency order, f > 0, Z finite and not
 * 0). Returns 0 (result filled; free with eisnet_kk_result_free) or -1 with
 * the error set. */
int eisnet_kk_test(const double *freq, const double complex *z, int n, const eisnet_kk_options *o,
                   eisnet_kk_result *r);
void eisnet_kk_result_free(eisnet_kk_result *r);

/* The fitted KK circuit at other frequencies (e.g. a smooth curve). */
void eisnet_kk_eval(const eisnet_kk_result *r, const double *freq, int n, double complex *z);

/* One sentence: the verdict and, on failure, where and what to try. */
void eisnet_kk_verdict(const eisnet_kk_result *r, const eisnet_kk_options *o, const double *freq, char *buf,
                       unsigned long cap);

/* Least squares min ||A x - b|| for A m x k (column-major, m >= k), by
 * Householder QR; columns whose share of the rank is below 1e-13 of the
 * largest get coefficient 0 (the basic solution). A and b are overwritten.
 * Returns 0, or -1 on bad sizes or out of memory. */
int eisnet_lstsq(double *A, double *b, int m, int k, double *x);

#ifdef __cplusplus
}
#endif
#endif
