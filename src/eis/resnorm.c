/* Resnorm of every grid model against a ground-truth spectrum.
 *
 * Cost: n_models x n_freq complex magnitudes (12^5 x 50 = 12.4M square roots
 * per ground truth). The preset kernels vectorise over 8 models at a time and
 * keep 8 partial sums per model exactly as numpy's pairwise summation does, so
 * the result is the reference's, and the square root is the only real work. */
#include "eisnet/resnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LANES 8

struct eisnet_resnorm_plan {
    const eisnet_grid *g;
    /* RC2 kernels: spectra of p(R,C) for every (R, C) grid pair of the two
     * membranes, [r][c][f] complex, split re/im. */
    double *za_re, *za_im; /* (Ra, Ca) */
    double *zb_re, *zb_im; /* (Rb, Cb) */
};

double eisnet_pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return eisnet_pairwise_sum(a, n2) + eisnet_pairwise_sum(a + n2, n - n2);
}

/* The same summation on LANES interleaved sequences: a[i*LANES + l]. */
static void pairwise_sum_lanes(const double *a, size_t n, double *out)
{
    if (n < 8) {
        for (int l = 0; l < LANES; l++) out[l] = 0.0;
        for (size_t i = 0; i < n; i++)
            for (int l = 0; l < LANES; l++) out[l] += a[i * LANES + l];
        return;
    }
    if (n <= 128) {
        double r[8][LANES];
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < LANES; l++) r[j][l] = a[j * LANES + l];
        size_t i;
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++)
                for (int l = 0; l < LANES; l++) r[j][l] += a[(i + j) * LANES + l];
        for (int l = 0; l < LANES; l++)
            out[l] = ((r[0][l] + r[1][l]) + (r[2][l] + r[3][l])) + ((r[4][l] + r[5][l]) + (r[6][l] + r[7][l]));
        for (; i < n; i++)
            for (int l = 0; l < LANES; l++) out[l] += a[i * LANES + l];
        return;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    double left[LANES], right[LANES];
    pairwise_sum_lanes(a, n2, left);
    pairwise_sum_lanes(a + n2 * LANES, n - n2, right);
    for (int l = 0; l < LANES; l++) out[l] = left[l] + right[l];
}

double eisnet_resnorm_one(const eisnet_grid *g, const double *values, const double complex *zref)
{
    size_t F = (size_t)g->n_freq;
    double complex *z = malloc(sizeof(double complex) * F);
    double *d = malloc(sizeof(double) * F);
    if (!z || !d) {
        free(z);
        free(d);
        return NAN;
    }
    eisnet_grid_spectrum(g, values, z);
    for (size_t k = 0; k < F; k++) d[k] = cabs(z[k] - zref[k]);
    double s = eisnet_pairwise_sum(d, F) / (double)F;
    free(z);
    free(d);
    return s;
}

static double complex rc(double r, double c, double w) { return r / (1.0 + I * w * r * c); }

eisnet_resnorm_plan *eisnet_resnorm_plan_new(const eisnet_grid *g)
{
    eisnet_resnorm_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->g = g;
    if (g->kernel == EISNET_KERNEL_GENERIC) return p;
    size_t n = (size_t)g->n_grid, F = (size_t)g->n_freq;
    size_t sz = sizeof(double) * n * n * F;
    p->za_re = malloc(sz);
    p->za_im = malloc(sz);
    p->zb_re = malloc(sz);
    p->zb_im = malloc(sz);
    if (!p->za_re || !p->za_im || !p->zb_re || !p->zb_im) {
        eisnet_resnorm_plan_free(p);
        return NULL;
    }
    const double *Ra = g->values + 1 * n, *Rb = g->values + 2 * n, *Ca = g->values + 3 * n, *Cb = g->values + 4 * n;
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < n; c++)
            for (size_t f = 0; f < F; f++) {
                size_t at = (r * n + c) * F + f;
                double complex za = rc(Ra[r], Ca[c], g->omega[f]), zb = rc(Rb[r], Cb[c], g->omega[f]);
                p->za_re[at] = creal(za);
                p->za_im[at] = cimag(za);
                p->zb_re[at] = creal(zb);
                p->zb_im[at] = cimag(zb);
            }
    return p;
}

void eisnet_resnorm_plan_free(eisnet_resnorm_plan *p)
{
    if (!p) return;
    free(p->za_re);
    free(p->za_im);
    free(p->zb_re);
    free(p->zb_im);
    free(p);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(EISNET_NO_CLONES)
#define HOT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT_CLONES
#endif

/* One (Rsh, Ra, Rb) block: the n x n (Ca, Cb) models, LANES at a time.
 * a_* = Za(Ra, Ca=.)[c][f]; b_* = Zb(Rb, Cb=.)[c][f]. Series: |Rsh + Za + Zb - Zr|.
 * Parallel: |Rsh S/(Rsh+S) - Zr| = |S (Rsh - Zr) - Rsh Zr| / |Rsh + S|, S = Za + Zb. */
HOT_CLONES
static void rc2_block(int parallel, double rsh, const double *a_re, const double *a_im, const double *b_re,
                      const double *b_im, const double *zr_re, const double *zr_im, size_t n, size_t F,
                      double *scratch, double *out)
{
    size_t nn = n * n;
    for (size_t m0 = 0; m0 < nn; m0 += LANES) {
        size_t ca[LANES], cb[LANES];
        for (int l = 0; l < LANES; l++) {
            size_t m = m0 + (size_t)l < nn ? m0 + (size_t)l : nn - 1; /* pad the tail with a real model */
            ca[l] = m / n;
            cb[l] = m % n;
        }
        for (size_t f = 0; f < F; f++) {
            double sre[LANES], sim[LANES];
            for (int l = 0; l < LANES; l++) {
                sre[l] = a_re[ca[l] * F + f] + b_re[cb[l] * F + f];
                sim[l] = a_im[ca[l] * F + f] + b_im[cb[l] * F + f];
            }
            double *d = scratch + f * LANES;
            if (!parallel) {
                double ore = rsh - zr_re[f], oim = -zr_im[f];
                for (int l = 0; l < LANES; l++) {
                    double re = sre[l] + ore, im = sim[l] + oim;
                    d[l] = sqrt(re * re + im * im);
                }
            } else {
                double c1re = rsh - zr_re[f], c1im = -zr_im[f];
                double c2re = rsh * zr_re[f], c2im = rsh * zr_im[f];
                for (int l = 0; l < LANES; l++) {
                    double nre = sre[l] * c1re - sim[l] * c1im - c2re;
                    double nim = sre[l] * c1im + sim[l] * c1re - c2im;
                    double dre = rsh + sre[l], dim = sim[l];
                    d[l] = sqrt((nre * nre + nim * nim) / (dre * dre + dim * dim));
                }
            }
        }
        double sum[LANES];
        pairwise_sum_lanes(scratch, F, sum);
        for (int l = 0; l < LANES && m0 + (size_t)l < nn; l++) out[m0 + (size_t)l] = sum[l] / (double)F;
    }
}

/* Series RC2 with 8 <= F <= 128: numpy's 8 partial sums are the 8 lanes of
 * a vector over frequencies, so each model is F/8 vector square roots.
 * a_* = Rsh + Za(Ra, Ca) - Zr for one (Rsh, Ra, Ca); b_* = Zb(Rb, Cb) for one
 * Rb and all n Cb; writes the n resnorms of that row. */
HOT_CLONES
static void series_row(const double *a_re, const double *a_im, const double *b_re, const double *b_im, size_t n,
                       size_t F, double *out)
{
    size_t F8 = F - F % 8;
    for (size_t c = 0; c < n; c++) {
        const double *br = b_re + c * F, *bi = b_im + c * F;
        double r[8];
        for (int l = 0; l < 8; l++) {
            double re = a_re[l] + br[l], im = a_im[l] + bi[l];
            r[l] = sqrt(re * re + im * im);
        }
        for (size_t f = 8; f < F8; f += 8)
            for (int l = 0; l < 8; l++) {
                double re = a_re[f + l] + br[f + l], im = a_im[f + l] + bi[f + l];
                r[l] += sqrt(re * re + im * im);
            }
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (size_t f = F8; f < F; f++) {
            double re = a_re[f] + br[f], im = a_im[f] + bi[f];
            s += sqrt(re * re + im * im);
        }
        out[c] = s / (double)F;
    }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(EISNET_NO_AVX512)
#include <immintrin.h>
#define HAVE_AVX512_ROW 1
/* AVX-512 version of series_row: the square root as rsqrt14 + two Newton
 * steps (about 1 ulp, 3x the vsqrtpd throughput on Zen 4); tails vectorised
 * across the row. Same summation order as series_row. */
__attribute__((target("avx512f,avx512dq")))
static inline __m512d sqrt_fast(__m512d x)
{
    x = _mm512_max_pd(x, _mm512_set1_pd(2.2250738585072014e-308)); /* rsqrt(0) = inf */
    __m512d y = _mm512_rsqrt14_pd(x);
    __m512d g = _mm512_mul_pd(x, y), h = _mm512_mul_pd(_mm512_set1_pd(0.5), y);
    __m512d e = _mm512_fnmadd_pd(g, h, _mm512_set1_pd(0.5));
    g = _mm512_fmadd_pd(g, e, g);
    h = _mm512_fmadd_pd(h, e, h);
    e = _mm512_fnmadd_pd(g, h, _mm512_set1_pd(0.5));
    return _mm512_fmadd_pd(g, e, g);
}

__attribute__((target("avx512f,avx512dq")))
static void series_row_avx512(const double *a_re, const double *a_im, const double *b_re, const double *b_im,
                              size_t n, size_t F, double *out)
{
    size_t F8 = F - F % 8;
    for (size_t c = 0; c < n; c++) {
        const double *br = b_re + c * F, *bi = b_im + c * F;
        __m512d re = _mm512_add_pd(_mm512_loadu_pd(a_re), _mm512_loadu_pd(br));
        __m512d im = _mm512_add_pd(_mm512_loadu_pd(a_im), _mm512_loadu_pd(bi));
        __m512d r = sqrt_fast(_mm512_fmadd_pd(re, re, _mm512_mul_pd(im, im)));
        for (size_t f = 8; f < F8; f += 8) {
            re = _mm512_add_pd(_mm512_loadu_pd(a_re + f), _mm512_loadu_pd(br + f));
            im = _mm512_add_pd(_mm512_loadu_pd(a_im + f), _mm512_loadu_pd(bi + f));
            __m512d x = _mm512_fmadd_pd(re, re, _mm512_mul_pd(im, im));
            /* alternate the divider's vsqrtpd with the FMA pipes' Newton steps */
            r = _mm512_add_pd(r, (f & 8) ? _mm512_sqrt_pd(x) : sqrt_fast(x));
        }
        double v[8];
        _mm512_storeu_pd(v, r);
        out[c] = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    }
    /* tails: out[c] += |.| for f = F8..F-1, in order, 8 rows at a time */
    for (size_t f = F8; f < F; f++) {
        for (size_t c0 = 0; c0 < n; c0 += 8) {
            size_t cnt = n - c0 < 8 ? n - c0 : 8;
            __mmask8 k = (__mmask8)((1u << cnt) - 1u);
            __m512i idx = _mm512_add_epi64(_mm512_set1_epi64((long long)(c0 * F + f)),
                                           _mm512_mullo_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi64((long long)F)));
            __m512d bre = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), k, idx, b_re, 8);
            __m512d bim = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), k, idx, b_im, 8);
            __m512d re = _mm512_add_pd(_mm512_set1_pd(a_re[f]), bre), im = _mm512_add_pd(_mm512_set1_pd(a_im[f]), bim);
            __m512d d = _mm512_sqrt_pd(_mm512_fmadd_pd(re, re, _mm512_mul_pd(im, im)));
            __m512d o = _mm512_maskz_loadu_pd(k, out + c0);
            _mm512_mask_storeu_pd(out + c0, k, _mm512_add_pd(o, d));
        }
    }
    for (size_t c = 0; c < n; c++) out[c] /= (double)F;
}
#endif

/* Parallel RC2, vector over frequencies like series_row:
 * |Z - Zr| = |S c1 - c2| / |Rsh + S| with S = Za + Zb, c1 = Rsh - Zr, c2 = Rsh Zr.
 * a_* = Za(Ra, Ca) for one (Ra, Ca); c* per frequency for one Rsh. */
HOT_CLONES
static void parallel_row(double rsh, const double *a_re, const double *a_im, const double *c1re, const double *c1im,
                         const double *c2re, const double *c2im, const double *b_re, const double *b_im, size_t n,
                         size_t F, double *out)
{
    size_t F8 = F - F % 8;
    for (size_t c = 0; c < n; c++) {
        const double *br = b_re + c * F, *bi = b_im + c * F;
        double r[8] = {0};
        double d[128];
        for (size_t f = 0; f < F; f++) {
            double sre = a_re[f] + br[f], sim = a_im[f] + bi[f];
            double nre = sre * c1re[f] - sim * c1im[f] - c2re[f];
            double nim = sre * c1im[f] + sim * c1re[f] - c2im[f];
            double dre = rsh + sre;
            d[f] = sqrt((nre * nre + nim * nim) / (dre * dre + sim * sim));
        }
        for (int l = 0; l < 8; l++) r[l] = d[l];
        for (size_t f = 8; f < F8; f += 8)
            for (int l = 0; l < 8; l++) r[l] += d[f + l];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (size_t f = F8; f < F; f++) s += d[f];
        out[c] = s / (double)F;
    }
}

#ifdef HAVE_AVX512_ROW
/* sqrt(n2 / d2) = n2 * rsqrt(n2 d2): one reciprocal square root on the FMA pipes. */
__attribute__((target("avx512f,avx512dq")))
static inline __m512d ratio_sqrt(__m512d n2, __m512d d2)
{
    __m512d x = _mm512_max_pd(_mm512_mul_pd(n2, d2), _mm512_set1_pd(2.2250738585072014e-308));
    __m512d y = _mm512_rsqrt14_pd(x);
    __m512d h = _mm512_mul_pd(_mm512_set1_pd(0.5), y);
    __m512d g = _mm512_mul_pd(x, y);
    __m512d e = _mm512_fnmadd_pd(g, h, _mm512_set1_pd(0.5));
    h = _mm512_fmadd_pd(h, e, h);
    g = _mm512_fmadd_pd(g, e, g);
    e = _mm512_fnmadd_pd(g, h, _mm512_set1_pd(0.5));
    h = _mm512_fmadd_pd(h, e, h); /* h ~ 1/(2 sqrt(x)) */
    return _mm512_mul_pd(n2, _mm512_add_pd(h, h));
}

__attribute__((target("avx512f,avx512dq")))
static void parallel_row_avx512(double rsh, const double *a_re, const double *a_im, const double *c1re,
                                const double *c1im, const double *c2re, const double *c2im, const double *b_re,
                                const double *b_im, size_t n, size_t F, double *out)
{
    size_t F8 = F - F % 8;
    __m512d vr = _mm512_set1_pd(rsh);
    for (size_t c = 0; c < n; c++) {
        const double *br = b_re + c * F, *bi = b_im + c * F;
        __m512d r = _mm512_setzero_pd();
        for (size_t f = 0; f < F8; f += 8) {
            __m512d sre = _mm512_add_pd(_mm512_loadu_pd(a_re + f), _mm512_loadu_pd(br + f));
            __m512d sim = _mm512_add_pd(_mm512_loadu_pd(a_im + f), _mm512_loadu_pd(bi + f));
            __m512d k1r = _mm512_loadu_pd(c1re + f), k1i = _mm512_loadu_pd(c1im + f);
            __m512d nre = _mm512_fmsub_pd(sre, k1r, _mm512_fmadd_pd(sim, k1i, _mm512_loadu_pd(c2re + f)));
            __m512d nim = _mm512_fmadd_pd(sre, k1i, _mm512_fmsub_pd(sim, k1r, _mm512_loadu_pd(c2im + f)));
            __m512d dre = _mm512_add_pd(vr, sre);
            __m512d n2 = _mm512_fmadd_pd(nre, nre, _mm512_mul_pd(nim, nim));
            __m512d d2 = _mm512_fmadd_pd(dre, dre, _mm512_mul_pd(sim, sim));
            r = _mm512_add_pd(r, ratio_sqrt(n2, d2));
        }
        double v[8];
        _mm512_storeu_pd(v, r);
        double s = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
        for (size_t f = F8; f < F; f++) {
            double sre = a_re[f] + br[f], sim = a_im[f] + bi[f];
            double nre = sre * c1re[f] - sim * c1im[f] - c2re[f];
            double nim = sre * c1im[f] + sim * c1re[f] - c2im[f];
            double dre = rsh + sre;
            s += sqrt((nre * nre + nim * nim) / (dre * dre + sim * sim));
        }
        out[c] = s / (double)F;
    }
}
#endif

static void parallel_fast(const eisnet_resnorm_plan *p, const double complex *zref, double *out)
{
    const eisnet_grid *g = p->g;
    size_t n = (size_t)g->n_grid, F = (size_t)g->n_freq;
    double c1re[128], c1im[128], c2re[128], c2im[128];
    void (*row)(double, const double *, const double *, const double *, const double *, const double *,
                const double *, const double *, const double *, size_t, size_t, double *) = parallel_row;
#ifdef HAVE_AVX512_ROW
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) row = parallel_row_avx512;
#endif
    for (size_t i = 0; i < n; i++) {
        double rsh = g->values[i];
        for (size_t f = 0; f < F; f++) {
            c1re[f] = rsh - creal(zref[f]);
            c1im[f] = -cimag(zref[f]);
            c2re[f] = rsh * creal(zref[f]);
            c2im[f] = rsh * cimag(zref[f]);
        }
        for (size_t j = 0; j < n; j++)
            for (size_t ca = 0; ca < n; ca++) {
                const double *ar = p->za_re + (j * n + ca) * F, *ai = p->za_im + (j * n + ca) * F;
                for (size_t k = 0; k < n; k++)
                    row(rsh, ar, ai, c1re, c1im, c2re, c2im, p->zb_re + k * n * F, p->zb_im + k * n * F, n, F,
                        out + (((i * n + j) * n + k) * n + ca) * n);
            }
    }
}

static void series_fast(const eisnet_resnorm_plan *p, const double complex *zref, double *out)
{
    const eisnet_grid *g = p->g;
    size_t n = (size_t)g->n_grid, F = (size_t)g->n_freq;
    double a_re[128], a_im[128];
    void (*row)(const double *, const double *, const double *, const double *, size_t, size_t, double *) = series_row;
#ifdef HAVE_AVX512_ROW
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) row = series_row_avx512;
#endif
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            for (size_t ca = 0; ca < n; ca++) {
                const double *zr = p->za_re + (j * n + ca) * F, *zi = p->za_im + (j * n + ca) * F;
                for (size_t f = 0; f < F; f++) {
                    a_re[f] = g->values[i] + zr[f] - creal(zref[f]);
                    a_im[f] = zi[f] - cimag(zref[f]);
                }
                for (size_t k = 0; k < n; k++)
                    row(a_re, a_im, p->zb_re + k * n * F, p->zb_im + k * n * F, n, F,
                               out + (((i * n + j) * n + k) * n + ca) * n);
            }
}

void eisnet_resnorm_range(const eisnet_resnorm_plan *p, const double complex *zref, uint64_t m0, uint64_t m1,
                          double *out)
{
    double v[EISNET_MAX_PARAMS];
    for (uint64_t m = m0; m < m1 && m < p->g->n_models; m++) {
        eisnet_grid_model_values(p->g, m, v);
        out[m - m0] = eisnet_resnorm_one(p->g, v, zref);
    }
}

void eisnet_resnorm_all(const eisnet_resnorm_plan *p, const double complex *zref, double *out)
{
    const eisnet_grid *g = p->g;
    size_t F = (size_t)g->n_freq;
    if (g->kernel == EISNET_KERNEL_GENERIC) {
        double v[EISNET_MAX_PARAMS];
        for (uint64_t m = 0; m < g->n_models; m++) {
            eisnet_grid_model_values(g, m, v);
            out[m] = eisnet_resnorm_one(g, v, zref);
        }
        return;
    }
    if (g->kernel == EISNET_KERNEL_SERIES_RC2 && F >= 8 && F <= 128) {
        series_fast(p, zref, out);
        return;
    }
    if (g->kernel == EISNET_KERNEL_PARALLEL_RC2 && F >= 8 && F <= 128) {
        parallel_fast(p, zref, out);
        return;
    }
    size_t n = (size_t)g->n_grid;
    double *zr_re = malloc(sizeof(double) * F), *zr_im = malloc(sizeof(double) * F);
    double *scratch = malloc(sizeof(double) * F * LANES);
    if (!zr_re || !zr_im || !scratch) {
        for (uint64_t m = 0; m < g->n_models; m++) out[m] = NAN;
        goto done;
    }
    for (size_t f = 0; f < F; f++) {
        zr_re[f] = creal(zref[f]);
        zr_im[f] = cimag(zref[f]);
    }
    const double *Rsh = g->values;
    int parallel = g->kernel == EISNET_KERNEL_PARALLEL_RC2;
    /* File order: Rsh, Ra, Rb, Ca, Cb (Cb fastest). */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            for (size_t k = 0; k < n; k++) {
                rc2_block(parallel, Rsh[i], p->za_re + j * n * F, p->za_im + j * n * F, p->zb_re + k * n * F,
                          p->zb_im + k * n * F, zr_re, zr_im, n, F, scratch,
                          out + ((i * n + j) * n + k) * n * n);
            }
done:
    free(zr_re);
    free(zr_im);
    free(scratch);
}
