/* fastmath.h (private): array log, sincos and atan2 that vectorise
 * (src/eis/fastmath.c), for the simulator's noise and the spectrum features.
 * Within 2 ulp of libm for log and sincos (|angle| <= 1e5), 1e-13 absolute
 * for atan2; every other input (zero, negative, subnormal, infinite, NaN,
 * larger angles) gets libm's own answer. Outputs must not overlap inputs.
 * Tested against libm in tests/test_fastmath.c. */
#ifndef EISNET_FASTMATH_H
#define EISNET_FASTMATH_H

/* y[i] = log(x[i]) */
void eisnet_log_array(const double *x, double *y, int n);
/* s[i] = sin(a[i]), c[i] = cos(a[i]) */
void eisnet_sincos_array(const double *a, double *s, double *c, int n);
/* out[i] = atan2(y[i], x[i]), in [-pi, pi] */
void eisnet_atan2_array(const double *y, const double *x, double *out, int n);
/* out[i] = log10 |re[i] + i im[i]| (from the squared modulus: no overflow
 * for impedances) */
void eisnet_log10_abs_array(const double *re, const double *im, double *out, int n);

#endif
