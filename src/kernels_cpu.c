/* Fast CPU kernels. Same semantics as src/kernels_ref.c (tested against it in
 * tests/test_kernels.c):
 *   - matrix products through CBLAS sgemm when built with EISNET_HAVE_CBLAS,
 *     else register-blocked loops that the compiler vectorises;
 *   - element-wise passes (LayerNorm, ReLU+dropout) in single fused loops,
 *     compiled in AVX-512 / AVX2 / baseline clones picked at load time.
 * Kernels are single-threaded: the model splits the batch across threads. */
#include "eisnet/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef EISNET_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

/* ---- threads --------------------------------------------------------------- */

static int g_threads; /* 0 = default (all cores) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void threads_init(void)
{
#if defined(EISNET_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
    /* We run one product per thread on its own rows; OpenBLAS threading
     * inside those would oversubscribe the cores. */
    openblas_set_num_threads(1);
#endif
}

void eisnet_set_threads(int n)
{
    pthread_once(&g_once, threads_init);
    g_threads = n > 0 ? n : 0;
}

int eisnet_get_threads(void)
{
    pthread_once(&g_once, threads_init);
#ifdef EISNET_HAVE_OPENMP
    return g_threads > 0 ? g_threads : omp_get_max_threads();
#else
    return 1;
#endif
}

/* ---- matrix products ------------------------------------------------------- */

#ifndef EISNET_HAVE_CBLAS
/* Portable fallback. All three products are written as row updates
 * y[0:N] += a * x[0:N] over contiguous rows, four output rows at a time. */

/* D (M, N) += A (M, K) @ Bm (K, N), all row-major */
MULTIVERSION
static void gemm_nn(int M, int N, int K, const float *A, int lda, const float *Bm, int ldb,
                    float *D, int ldd)
{
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        float *d0 = D + (size_t)m * ldd, *d1 = d0 + ldd, *d2 = d1 + ldd, *d3 = d2 + ldd;
        const float *a0 = A + (size_t)m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        for (int k = 0; k < K; k++) {
            const float *b = Bm + (size_t)k * ldb;
            float x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
            for (int n = 0; n < N; n++) {
                float bv = b[n];
                d0[n] += x0 * bv;
                d1[n] += x1 * bv;
                d2[n] += x2 * bv;
                d3[n] += x3 * bv;
            }
        }
    }
    for (; m < M; m++) {
        float *d = D + (size_t)m * ldd;
        const float *a = A + (size_t)m * lda;
        for (int k = 0; k < K; k++) {
            const float *b = Bm + (size_t)k * ldb;
            float x = a[k];
            for (int n = 0; n < N; n++) d[n] += x * b[n];
        }
    }
}

/* D (M, N) += A^T @ Bm, A stored (K, M), Bm (K, N) */
MULTIVERSION
static void gemm_tn(int M, int N, int K, const float *A, int lda, const float *Bm, int ldb,
                    float *D, int ldd)
{
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        float *d0 = D + (size_t)m * ldd, *d1 = d0 + ldd, *d2 = d1 + ldd, *d3 = d2 + ldd;
        for (int k = 0; k < K; k++) {
            const float *a = A + (size_t)k * lda + m;
            const float *b = Bm + (size_t)k * ldb;
            float x0 = a[0], x1 = a[1], x2 = a[2], x3 = a[3];
            for (int n = 0; n < N; n++) {
                float bv = b[n];
                d0[n] += x0 * bv;
                d1[n] += x1 * bv;
                d2[n] += x2 * bv;
                d3[n] += x3 * bv;
            }
        }
    }
    for (; m < M; m++) {
        float *d = D + (size_t)m * ldd;
        for (int k = 0; k < K; k++) {
            float x = A[(size_t)k * lda + m];
            const float *b = Bm + (size_t)k * ldb;
            for (int n = 0; n < N; n++) d[n] += x * b[n];
        }
    }
}

/* per-thread scratch for the transposed weight of linear_forward */
static _Thread_local float *t_scratch;
static _Thread_local size_t t_scratch_n;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static void scratch_key_init(void) { pthread_key_create(&g_scratch_key, free); }

static float *scratch(size_t n)
{
    if (t_scratch_n >= n) return t_scratch;
    pthread_once(&g_scratch_once, scratch_key_init);
    float *p = realloc(t_scratch, n * sizeof(float));
    if (!p) return NULL;
    t_scratch = p;
    t_scratch_n = n;
    pthread_setspecific(g_scratch_key, p); /* freed at thread exit */
    return p;
}
#endif

/* out (B, OC) = in (B, C) @ weight^T + bias */
static void linear_forward(float *out, const float *in, const float *weight,
                           const float *bias, int B, int C, int OC)
{
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * OC;
        if (bias) memcpy(o, bias, (size_t)OC * sizeof(float));
        else memset(o, 0, (size_t)OC * sizeof(float));
    }
#ifdef EISNET_HAVE_CBLAS
    if (OC == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, B, C, 1.0f, in, C, weight, 1, 1.0f, out, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, in, C, weight, C,
                1.0f, out, OC);
#else
    float *wt = scratch((size_t)C * OC);
    if (!wt) { /* out of memory: fall back to dot products */
        for (int b = 0; b < B; b++)
            for (int o = 0; o < OC; o++) {
                float acc = 0.0f;
                for (int i = 0; i < C; i++) acc += in[(size_t)b * C + i] * weight[(size_t)o * C + i];
                out[(size_t)b * OC + o] += acc;
            }
        return;
    }
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < C; i++) wt[(size_t)i * OC + o] = weight[(size_t)o * C + i];
    gemm_nn(B, OC, C, in, C, wt, OC, out, OC);
#endif
}

MULTIVERSION
static void column_sums(float *dbias, const float *dout, int B, int OC)
{
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * OC;
        for (int o = 0; o < OC; o++) dbias[o] += g[o];
    }
}

/* din (B, C) += dout @ weight; dweight (OC, C) += dout^T @ in; dbias += sums */
static void linear_backward(float *din, float *dweight, float *dbias,
                            const float *dout, const float *in,
                            const float *weight, int B, int C, int OC)
{
#ifdef EISNET_HAVE_CBLAS
    if (din) {
        if (OC == 1) cblas_sger(CblasRowMajor, B, C, 1.0f, dout, 1, weight, 1, din, C);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dout, OC,
                         weight, C, 1.0f, din, C);
    }
    if (dweight) {
        if (OC == 1) cblas_sgemv(CblasRowMajor, CblasTrans, B, C, 1.0f, in, C, dout, 1, 1.0f, dweight, 1);
        else cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, dout, OC, in, C,
                         1.0f, dweight, C);
    }
#else
    if (din) gemm_nn(B, C, OC, dout, OC, weight, C, din, C);
    if (dweight) gemm_tn(OC, C, B, dout, OC, in, C, dweight, C);
#endif
    if (dbias) column_sums(dbias, dout, B, OC);
}

/* ---- LayerNorm ------------------------------------------------------------- */

/* Float sums are not reassociated by the compiler (no -ffast-math), so the
 * reductions keep LANES independent partial sums: vectorised, and a shorter
 * dependency chain. */
#define LANES 16

static inline float sum_lanes(const float *acc)
{
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    return s;
}

MULTIVERSION
static void layernorm_forward(float *out, float *mean, float *rstd,
                              const float *in, const float *weight,
                              const float *bias, int B, int C)
{
    const int Cv = C - C % LANES;
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * C;
        float acc[LANES] = {0};
        for (int i = 0; i < Cv; i += LANES)
            for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
        float s = sum_lanes(acc);
        for (int i = Cv; i < C; i++) s += x[i];
        const float m = s / (float)C;
        float acc2[LANES] = {0};
        for (int i = 0; i < Cv; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float d = x[i + j] - m;
                acc2[j] += d * d;
            }
        float v = sum_lanes(acc2);
        for (int i = Cv; i < C; i++) v += (x[i] - m) * (x[i] - m);
        const float r = 1.0f / sqrtf(v / (float)C + EISNET_LN_EPS);
        float *y = out + (size_t)b * C;
        for (int i = 0; i < C; i++) y[i] = (x[i] - m) * r * weight[i] + bias[i];
        mean[b] = m;
        rstd[b] = r;
    }
}

MULTIVERSION
static void layernorm_backward(float *din, float *dweight, float *dbias,
                               const float *dout, const float *in,
                               const float *weight, const float *mean,
                               const float *rstd, int B, int C)
{
    const int Cv = C - C % LANES;
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * C;
        const float *dy = dout + (size_t)b * C;
        const float m = mean[b], r = rstd[b];
        float ag[LANES] = {0}, agx[LANES] = {0};
        for (int i = 0; i < Cv; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float xhat = (x[i + j] - m) * r;
                float g = dy[i + j] * weight[i + j];
                ag[j] += g;
                agx[j] += g * xhat;
            }
        float mg = sum_lanes(ag), mgx = sum_lanes(agx);
        for (int i = Cv; i < C; i++) {
            float xhat = (x[i] - m) * r;
            float g = dy[i] * weight[i];
            mg += g;
            mgx += g * xhat;
        }
        mg /= (float)C;
        mgx /= (float)C;
        if (dweight)
            for (int i = 0; i < C; i++) dweight[i] += dy[i] * ((x[i] - m) * r);
        if (dbias)
            for (int i = 0; i < C; i++) dbias[i] += dy[i];
        if (din) {
            float *dx = din + (size_t)b * C;
            for (int i = 0; i < C; i++) {
                float xhat = (x[i] - m) * r;
                dx[i] += r * (dy[i] * weight[i] - mg - xhat * mgx);
            }
        }
    }
}

/* ---- ReLU + dropout -------------------------------------------------------- */

MULTIVERSION
static void relu_dropout_forward(float *out, const float *in, size_t n,
                                 float p, uint64_t key, uint64_t idx0)
{
    const uint64_t thr = eisnet_dropout_threshold(p);
    if (!thr) {
        for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        float y = in[i] > 0.0f ? in[i] * scale : 0.0f;
        out[i] = (eisnet_hash64(key, idx0 + i) >> 32) < thr ? 0.0f : y;
    }
}

MULTIVERSION
static void relu_dropout_backward(float *din, const float *dout,
                                  const float *out, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0.0f ? dout[i] * scale : 0.0f;
}

const eisnet_kernels eisnet_kernels_cpu = {
#ifdef EISNET_HAVE_CBLAS
    .name = "cpu-cblas",
#else
    .name = "cpu",
#endif
    .linear_forward = linear_forward,
    .linear_backward = linear_backward,
    .layernorm_forward = layernorm_forward,
    .layernorm_backward = layernorm_backward,
    .relu_dropout_forward = relu_dropout_forward,
    .relu_dropout_backward = relu_dropout_backward,
};
