/* Array versions of log, sincos and atan2 that the compiler vectorises (the
 * simulator's hot loops: noise and spectrum features). libm's calls are one
 * element at a time and were a quarter of a training epoch.
 *
 * Each is a range reduction plus a polynomial written without branches, so a
 * loop over n elements compiles to SIMD code (AVX-512 / AVX2 clones picked
 * at load time). Inputs outside the range a formula covers (zero, negative,
 * subnormal, infinite, NaN, huge angles) are recomputed with libm in a second
 * pass, so every input gives libm's answer to within the stated error. */
#include "fastmath.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

#define LN2_HI 6.93147180369123816490e-01 /* ln 2 in two parts: e * LN2_HI is exact */
#define LN2_LO 1.90821492927058770002e-10
#define SQRT2 1.41421356237309504880
/* pi/2 in three parts (Cody-Waite): the first two have 33 significant bits,
 * so q * PIO2_HI and q * PIO2_MID are exact for |q| < 2^20 */
#define PIO2_HI 1.57079632673412561417e+00
#define PIO2_MID 6.07710050630396597660e-11
#define PIO2_LO 2.02226624879595063154e-21
#define PI 3.14159265358979323846
#define PIO2 1.57079632679489661923
#define PIO4 0.78539816339744830962
#define TAN_PIO8 0.41421356237309504880
#define LOG10_E 0.43429448190325182765

static inline uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline double double_of(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* c[0] + c[1] t + ... + c[n-1] t^(n-1); unrolled by the compiler */
static inline double horner(const double *c, int n, double t)
{
    double p = c[n - 1];
    for (int k = n - 2; k >= 0; k--) p = p * t + c[k];
    return p;
}

/* 1/3, 1/5, ..., 1/21: 2 atanh(s) = 2s (1 + s^2 LOG_C(s^2)) */
static const double LOG_C[] = {1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                               1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21};
/* sin r = r - r^3 SIN_C(r^2), cos r = 1 - r^2 COS_C(r^2): Taylor to r^17, r^18 */
static const double SIN_C[] = {1.0 / 6,           -1.0 / 120,          1.0 / 5040,
                               -1.0 / 362880,     1.0 / 39916800,      -1.0 / 6227020800.0,
                               1.0 / 1307674368000.0, -1.0 / 355687428096000.0};
static const double COS_C[] = {0.5,                 -1.0 / 24,            1.0 / 720,
                               -1.0 / 40320,        1.0 / 3628800,        -1.0 / 479001600,
                               1.0 / 87178291200.0, -1.0 / 20922789888000.0, 1.0 / 6402373705728000.0};
/* atan u = u + u^3 ATAN_C(u^2): -1/3, 1/5, ..., -1/31 */
static const double ATAN_C[] = {-1.0 / 3,  1.0 / 5,  -1.0 / 7,  1.0 / 9,  -1.0 / 11, 1.0 / 13, -1.0 / 15, 1.0 / 17,
                                -1.0 / 19, 1.0 / 21, -1.0 / 23, 1.0 / 25, -1.0 / 27, 1.0 / 29, -1.0 / 31};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* log of a positive normal double: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh(s), s = (m - 1)/(m + 1), |s| <= 0.1716: the odd series to
 * s^21 leaves < 1e-17 relative. */
static inline double log_normal(double x)
{
    const uint64_t u = bits_of(x);
    double e = (double)(int64_t)((u >> 52) & 0x7FF) - 1023.0;
    double m = double_of((u & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull); /* [1, 2) */
    /* both sides computed, then selected: if-conversion (and so the SIMD
     * loop) needs selects of ready values, not conditional arithmetic */
    const int big = m > SQRT2;
    const double m_half = 0.5 * m, e_next = e + 1.0;
    m = big ? m_half : m;
    e = big ? e_next : e;
    const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    const double log_m = 2.0 * s + 2.0 * s * s2 * horner(LOG_C, N_OF(LOG_C), s2);
    return e * LN2_HI + (e * LN2_LO + log_m);
}

/* bitwise & (not &&) keeps the loops free of branches */
static inline int log_in_range(double x) { return (x >= DBL_MIN) & (x <= DBL_MAX); }

MULTIVERSION
void eisnet_log_array(const double *x, double *y, int n)
{
    /* any double goes through the formula (bits in, a finite or NaN value
     * out); the ones outside its range are then redone by libm. A select on
     * the input would keep GCC from vectorising the loop. */
    int outside = 0; /* an or-reduction that vectorises; the fix-up loop rarely runs */
    for (int i = 0; i < n; i++) {
        y[i] = log_normal(x[i]);
        outside |= !log_in_range(x[i]);
    }
    for (int i = 0; outside && i < n; i++)
        if (!log_in_range(x[i])) y[i] = log(x[i]);
}

/* sin and cos of r in [-pi/4, pi/4]: Taylor series to r^17 / r^18 (the next
 * terms are below 1e-19) */
static inline void sincos_reduced(double r, double *s, double *c)
{
    const double r2 = r * r;
    *s = r - r * r2 * horner(SIN_C, N_OF(SIN_C), r2);
    *c = 1.0 - r2 * horner(COS_C, N_OF(COS_C), r2);
}

/* angles this reduction keeps exact (q * PIO2_HI is exact for |q| < 2^20) */
static inline int sincos_in_range(double a) { return fabs(a) <= 1.0e5; }

MULTIVERSION
void eisnet_sincos_array(const double *a, double *s, double *c, int n)
{
    for (int i = 0; i < n; i++) {
        const double x = sincos_in_range(a[i]) ? a[i] : 0.0;
        const double q = nearbyint(x * (1.0 / PIO2));
        const double r = ((x - q * PIO2_HI) - q * PIO2_MID) - q * PIO2_LO;
        double sr, cr;
        sincos_reduced(r, &sr, &cr);
        const int k = (int)((int64_t)q & 3);
        /* (sin, cos) of r + k pi/2: (s, c), (c, -s), (-s, -c), (-c, s) */
        const double sv = k & 1 ? cr : sr, cv = k & 1 ? sr : cr;
        const double s_any = k & 2 ? -sv : sv;
        s[i] = x == 0.0 ? x : s_any; /* sin(-0) = -0: the reduction loses the sign */
        c[i] = ((k == 1) | (k == 2)) ? -cv : cv;
    }
    int outside = 0;
    for (int i = 0; i < n; i++) outside |= !sincos_in_range(a[i]);
    for (int i = 0; outside && i < n; i++)
        if (!sincos_in_range(a[i])) {
            s[i] = sin(a[i]);
            c[i] = cos(a[i]);
        }
}

/* atan of t in [0, 1]: above tan(pi/8), atan t = pi/4 + atan((t-1)/(t+1));
 * then |t| <= tan(pi/8) and the odd series to t^31 leaves < 4e-14. */
static inline double atan_unit(double t)
{
    const int big = t > TAN_PIO8;
    const double folded = (t - 1.0) / (t + 1.0);
    const double u = big ? folded : t, off = big ? PIO4 : 0.0, u2 = u * u;
    return off + (u + u * u2 * horner(ATAN_C, N_OF(ATAN_C), u2));
}

/* finite, not both zero, and the ratio of the smaller to the larger normal
 * or zero */
static inline int atan2_in_range(double y, double x)
{
    const double ax = fabs(x), ay = fabs(y), mx = ax > ay ? ax : ay; /* not fmax: it does not vectorise */
    /* a NaN fails every comparison, so either argument NaN is refused here */
    return (mx >= DBL_MIN) & (ax <= DBL_MAX) & (ay <= DBL_MAX);
}

MULTIVERSION
void eisnet_atan2_array(const double *y, const double *x, double *out, int n)
{
    for (int i = 0; i < n; i++) {
        const double ax = fabs(x[i]), ay = fabs(y[i]);
        const int steep = ay > ax;
        const double mn = steep ? ax : ay, mx = steep ? ay : ax;
        const double t = mn / (mx > 0.0 ? mx : 1.0); /* 0/0 is redone by libm below */
        const double r0 = atan_unit(t), r0c = PIO2 - r0;
        const double r1 = steep ? r0c : r0, r1c = PI - r1;
        const double r2 = x[i] < 0.0 ? r1c : r1;
        out[i] = bits_of(y[i]) >> 63 ? -r2 : r2; /* the sign bit: atan2(-0, x) = -atan2(+0, x), as libm */
    }
    int outside = 0;
    for (int i = 0; i < n; i++) outside |= !atan2_in_range(y[i], x[i]);
    for (int i = 0; outside && i < n; i++)
        if (!atan2_in_range(y[i], x[i])) out[i] = atan2(y[i], x[i]);
}

void eisnet_log10_abs_array(const double *re, const double *im, double *out, int n)
{
    enum { CHUNK = 256 };
    double abs2[CHUNK];
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        const int m = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (int i = 0; i < m; i++) abs2[i] = re[i0 + i] * re[i0 + i] + im[i0 + i] * im[i0 + i];
        eisnet_log_array(abs2, out + i0, m);
        for (int i = 0; i < m; i++) out[i0 + i] *= 0.5 * LOG10_E;
    }
}
