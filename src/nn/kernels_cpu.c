/* Fast CPU kernels. Same semantics as src/nn/kernels_ref.c (tested against it in
 * tests/test_kernels.c):
 *   - matrix products through CBLAS sgemm when built with EISNET_HAVE_CBLAS,
 *     else register-blocked loops that the compiler vectorises;
 *   - element-wise passes (LayerNorm, ReLU+dropout) in single fused loops,
 *     compiled in AVX-512 / AVX2 / baseline clones picked at load time.
 * Kernels are single-threaded: the model splits the batch across threads. */
#include "kernels_cpu.h"

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

/* ---- matrix products ------------------------------------------------------- */

/* Plain-loop products: the whole fallback without BLAS, and the small shapes
 * (batch 1, K or N <= 16) with BLAS, where a call costs more than the work.
 * gemm_nn and gemm_tn are row updates y[0:N] += a * x[0:N] over contiguous
 * rows, four output rows at a time; gemm_nt_small is dot products. */

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

/* Per-thread scratch (transposed weights here, packed operands in
 * kernels_amx.c): one growing 64-byte-aligned buffer per thread, freed at
 * thread exit. A kernel uses it only within one call. */
static _Thread_local void *t_scratch;
static _Thread_local size_t t_scratch_bytes;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static void scratch_key_init(void) { pthread_key_create(&g_scratch_key, free); }

void *eisnet_cpu_scratch(size_t bytes)
{
    if (t_scratch_bytes >= bytes) return t_scratch;
    pthread_once(&g_scratch_once, scratch_key_init);
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p) return NULL;
    free(t_scratch);
    t_scratch = p;
    t_scratch_bytes = bytes;
    pthread_setspecific(g_scratch_key, p);
    return p;
}

static float *scratch(size_t n) { return eisnet_cpu_scratch(n * sizeof(float)); }

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

#ifdef EISNET_HAVE_OPENMP
#define PRAGMA(x) _Pragma(#x)
#define SIMD_SUM1(a) PRAGMA(omp simd reduction(+ : a))
#define SIMD_SUM2(a, b) PRAGMA(omp simd reduction(+ : a, b))
#define SIMD_SUM8(a, b, c, d, e, f, g, h) PRAGMA(omp simd reduction(+ : a, b, c, d, e, f, g, h))
#define SIMD PRAGMA(omp simd)
#else /* plain loops: vectorised where GCC can without reassociating sums */
#define SIMD_SUM1(a)
#define SIMD_SUM2(a, b)
#define SIMD_SUM8(a, b, c, d, e, f, g, h)
#define SIMD
#endif

/* D (M, N) += A (M, K) @ Bm^T, Bm stored (N, K): dot products of contiguous
 * rows, eight rows of Bm at a time (eight independent vector sums hide the
 * FMA latency; batch-1 forward y = W x runs at the speed of reading W). */
MULTIVERSION
static void gemm_nt_small(int M, int N, int K, const float *A, int lda, const float *Bm, int ldb,
                          float *D, int ldd)
{
    for (int m = 0; m < M; m++) {
        const float *a = A + (size_t)m * lda;
        float *d = D + (size_t)m * ldd;
        int n = 0;
        for (; n + 8 <= N; n += 8) {
            const float *b0 = Bm + (size_t)n * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
            const float *b4 = b3 + ldb, *b5 = b4 + ldb, *b6 = b5 + ldb, *b7 = b6 + ldb;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
            SIMD_SUM8(s0, s1, s2, s3, s4, s5, s6, s7)
            for (int k = 0; k < K; k++) {
                const float x = a[k];
                s0 += x * b0[k];
                s1 += x * b1[k];
                s2 += x * b2[k];
                s3 += x * b3[k];
                s4 += x * b4[k];
                s5 += x * b5[k];
                s6 += x * b6[k];
                s7 += x * b7[k];
            }
            d[n] += s0;
            d[n + 1] += s1;
            d[n + 2] += s2;
            d[n + 3] += s3;
            d[n + 4] += s4;
            d[n + 5] += s5;
            d[n + 6] += s6;
            d[n + 7] += s7;
        }
        for (; n < N; n++) {
            const float *b = Bm + (size_t)n * ldb;
            float s0 = 0.0f;
            SIMD_SUM1(s0)
            for (int k = 0; k < K; k++) s0 += a[k] * b[k];
            d[n] += s0;
        }
    }
}

/* D (M, N) += A (M, K) @ Bm (K, N) for a small K (the n_in 10 input layer):
 * 64 outputs of a row accumulate in registers over all of K, then one store. */
#define NBLK 64
MULTIVERSION
static void gemm_nn_smallk(int M, int N, int K, const float *A, int lda, const float *Bm, int ldb,
                           float beta, float *D, int ldd)
{
    const int Nv = N - N % NBLK;
    for (int m = 0; m < M; m++) {
        const float *a = A + (size_t)m * lda;
        float *d = D + (size_t)m * ldd;
        if (beta == 0.0f && Nv < N) memset(d + Nv, 0, (size_t)(N - Nv) * sizeof(float));
        for (int n0 = 0; n0 < Nv; n0 += NBLK) {
            float acc[NBLK];
            if (beta == 0.0f) /* C is write-only: no read, no memset pass */
                for (int j = 0; j < NBLK; j++) acc[j] = 0.0f;
            else
                for (int j = 0; j < NBLK; j++) acc[j] = d[n0 + j];
            for (int k = 0; k < K; k++) {
                const float x = a[k];
                const float *b = Bm + (size_t)k * ldb + n0;
                for (int j = 0; j < NBLK; j++) acc[j] += x * b[j];
            }
            for (int j = 0; j < NBLK; j++) d[n0 + j] = acc[j];
        }
        for (int k = 0; k < K && Nv < N; k++) {
            const float x = a[k];
            const float *b = Bm + (size_t)k * ldb;
            for (int n = Nv; n < N; n++) d[n] += x * b[n];
        }
    }
}

/* C (M, N) += A^T @ Bm for a thin N (<= SMALL_KN), A stored (K, M), Bm
 * (K, N): C^T accumulates in ct (N, M; zeroed here) in ONE pass over the
 * rows of A (the input layer's weight gradient: A = dh1, long rows). */
MULTIVERSION
static void gemm_tn_thin(int M, int N, int K, const float *A, int lda, const float *Bm, int ldb,
                         float *C, int ldc, float *ct)
{
    memset(ct, 0, (size_t)N * M * sizeof(float));
    for (int k = 0; k < K; k++) {
        const float *a = A + (size_t)k * lda, *b = Bm + (size_t)k * ldb;
        for (int n = 0; n < N; n++) {
            const float x = b[n];
            float *c = ct + (size_t)n * M;
            for (int m = 0; m < M; m++) c[m] += x * a[m];
        }
    }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) C[(size_t)m * ldc + n] += ct[(size_t)n * M + m];
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(EISNET_NO_AVX512)
#include <immintrin.h>
#define HAVE_AVX512_GEMV 1
#define AVX512_GEMV __attribute__((target("avx512f,avx2,fma")))
/* the 8 horizontal sums of 8 vectors, as one 8-float vector */
AVX512_GEMV static inline __m256 hsum8(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 a4,
                                       __m512 a5, __m512 a6, __m512 a7)
{
#define HALVES(a) _mm256_add_ps(_mm512_castps512_ps256(a), \
                                _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)))
    __m256 y0 = HALVES(a0), y1 = HALVES(a1), y2 = HALVES(a2), y3 = HALVES(a3);
    __m256 y4 = HALVES(a4), y5 = HALVES(a5), y6 = HALVES(a6), y7 = HALVES(a7);
#undef HALVES
    __m256 h0123 = _mm256_hadd_ps(_mm256_hadd_ps(y0, y1), _mm256_hadd_ps(y2, y3));
    __m256 h4567 = _mm256_hadd_ps(_mm256_hadd_ps(y4, y5), _mm256_hadd_ps(y6, y7));
    return _mm256_add_ps(_mm256_permute2f128_ps(h0123, h4567, 0x20),
                         _mm256_permute2f128_ps(h0123, h4567, 0x31));
}

/* y (N) = beta * y + W (N, K) @ x (K), W row-major with leading dimension ldw,
 * beta 0 or 1: eight rows of W at a time, one x load shared by eight FMAs, a
 * masked tail for K % 16. One core streams W at ~115 GB/s from L2 with this
 * (OpenBLAS's sgemv: ~100 GB/s; at K = 10 twice as slow as this). */
AVX512_GEMV static void gemv_avx512(int N, int K, const float *W, int ldw, const float *x,
                                    float beta, float *y)
{
    const int kt = K & ~15;
    const __mmask16 tm = (__mmask16)((1u << (K & 15)) - 1u);
    int n = 0;
    for (; n + 8 <= N; n += 8) {
        const float *w = W + (size_t)n * ldw;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int k = 0;
#define ROWS8(LOAD)                                                       \
    a0 = _mm512_fmadd_ps(LOAD(w + k), xv, a0);                            \
    a1 = _mm512_fmadd_ps(LOAD(w + (size_t)ldw + k), xv, a1);              \
    a2 = _mm512_fmadd_ps(LOAD(w + 2 * (size_t)ldw + k), xv, a2);          \
    a3 = _mm512_fmadd_ps(LOAD(w + 3 * (size_t)ldw + k), xv, a3);          \
    a4 = _mm512_fmadd_ps(LOAD(w + 4 * (size_t)ldw + k), xv, a4);          \
    a5 = _mm512_fmadd_ps(LOAD(w + 5 * (size_t)ldw + k), xv, a5);          \
    a6 = _mm512_fmadd_ps(LOAD(w + 6 * (size_t)ldw + k), xv, a6);          \
    a7 = _mm512_fmadd_ps(LOAD(w + 7 * (size_t)ldw + k), xv, a7);
#define FULL(p) _mm512_loadu_ps(p)
#define TAIL(p) _mm512_maskz_loadu_ps(tm, p)
        for (; k < kt; k += 16) {
            const __m512 xv = _mm512_loadu_ps(x + k);
            ROWS8(FULL)
        }
        if (tm) {
            const __m512 xv = _mm512_maskz_loadu_ps(tm, x + k);
            ROWS8(TAIL)
        }
#undef ROWS8
        __m256 r = hsum8(a0, a1, a2, a3, a4, a5, a6, a7);
        if (beta != 0.0f) r = _mm256_add_ps(r, _mm256_loadu_ps(y + n));
        _mm256_storeu_ps(y + n, r);
    }
    for (; n < N; n++) {
        const float *w = W + (size_t)n * ldw;
        __m512 a = _mm512_setzero_ps();
        int k = 0;
        for (; k < kt; k += 16) a = _mm512_fmadd_ps(FULL(w + k), FULL(x + k), a);
        if (tm) a = _mm512_fmadd_ps(TAIL(w + k), TAIL(x + k), a);
        y[n] = (beta != 0.0f ? y[n] : 0.0f) + _mm512_reduce_add_ps(a);
    }
#undef FULL
#undef TAIL
}

/* C (M, N) = beta * C + A (M, K) @ W^T, W stored (N, K), for a thin K
 * (<= 16: the n_in 10 input layer). OpenBLAS runs this shape at about half its
 * peak; here W^T (K x N, at most 64 KB) is laid out once per call and each
 * 4-row x 64-column tile keeps its 16 sums in registers over all of K. wt:
 * scratch of K * roundup(N, 16) floats. */
/* c[0:16] (mask mk) = beta * c + sum_k a[k] * wt[k, n0:n0+16]: one row's 16
 * outputs of the thin-K product below */
AVX512_GEMV static inline void thin_k_16(const float *a, int K, const float *wt, int Np, int n0,
                                         __mmask16 mk, float beta, float *c)
{
    __m512 acc = beta != 0.0f ? _mm512_maskz_loadu_ps(mk, c) : _mm512_setzero_ps();
    for (int k = 0; k < K; k++)
        acc = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), _mm512_loadu_ps(wt + (size_t)k * Np + n0), acc);
    _mm512_mask_storeu_ps(c, mk, acc);
}

AVX512_GEMV static void gemm_nt_thin_k_avx512(int M, int N, int K, const float *A, int lda,
                                              const float *W, int ldw, float beta, float *C,
                                              int ldc, float *wt)
{
    const int Np = (N + 15) & ~15;
    for (int k = 0; k < K; k++)
        for (int n = 0; n < Np; n++) wt[(size_t)k * Np + n] = n < N ? W[(size_t)n * ldw + k] : 0.0f;
    const __mmask16 tail = (N & 15) ? (__mmask16)((1u << (N & 15)) - 1u) : (__mmask16)0xFFFF;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const float *a0 = A + (size_t)m * lda;
        float *c0 = C + (size_t)m * ldc;
        int n0 = 0;
        for (; n0 + 64 <= N; n0 += 64) { /* full tiles: no masks */
            __m512 acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 4; j++)
                    acc[r][j] = beta != 0.0f ? _mm512_loadu_ps(c0 + (size_t)r * ldc + n0 + 16 * j)
                                             : _mm512_setzero_ps();
            for (int k = 0; k < K; k++) {
                const float *w = wt + (size_t)k * Np + n0;
                const __m512 b0 = _mm512_loadu_ps(w), b1 = _mm512_loadu_ps(w + 16);
                const __m512 b2 = _mm512_loadu_ps(w + 32), b3 = _mm512_loadu_ps(w + 48);
                for (int r = 0; r < 4; r++) {
                    const __m512 x = _mm512_set1_ps(a0[(size_t)r * lda + k]);
                    acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
                    acc[r][2] = _mm512_fmadd_ps(x, b2, acc[r][2]);
                    acc[r][3] = _mm512_fmadd_ps(x, b3, acc[r][3]);
                }
            }
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 4; j++) _mm512_storeu_ps(c0 + (size_t)r * ldc + n0 + 16 * j, acc[r][j]);
        }
        for (; n0 < N; n0 += 16) /* the rest, 16 columns at a time */
            for (int r = 0; r < 4; r++)
                thin_k_16(a0 + (size_t)r * lda, K, wt, Np, n0, n0 + 16 <= N ? (__mmask16)0xFFFF : tail,
                          beta, c0 + (size_t)r * ldc + n0);
    }
    for (; m < M; m++) /* the last rows */
        for (int n0 = 0; n0 < N; n0 += 16)
            thin_k_16(A + (size_t)m * lda, K, wt, Np, n0, n0 + 16 <= N ? (__mmask16)0xFFFF : tail,
                      beta, C + (size_t)m * ldc + n0);
}

/* C (M, N) += A^T @ B, A stored (K, M), B (K, N), for a thin N (<= 12: the
 * input layer's weight gradient, A = its output gradient over K batch rows,
 * B = the input). Each 32-wide strip of M keeps its 12 x 2 sums in registers
 * over all K rows; N is padded to 12 in bp (scratch of K * 12 floats). */
#define THIN_N 12
AVX512_GEMV static void gemm_tn_thin_n_avx512(int M, int N, int K, const float *A, int lda,
                                              const float *Bm, int ldb, float *C, int ldc,
                                              float *bp)
{
    for (int k = 0; k < K; k++)
        for (int n = 0; n < THIN_N; n++) bp[(size_t)k * THIN_N + n] = n < N ? Bm[(size_t)k * ldb + n] : 0.0f;
    for (int m0 = 0; m0 < M; m0 += 32) {
        const int mr = M - m0 < 32 ? M - m0 : 32;
        const __mmask16 k0 = mr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << mr) - 1u);
        const __mmask16 k1 = mr >= 32 ? (__mmask16)0xFFFF
                           : mr > 16  ? (__mmask16)((1u << (mr - 16)) - 1u) : (__mmask16)0;
        __m512 acc[THIN_N][2];
        for (int n = 0; n < THIN_N; n++) acc[n][0] = acc[n][1] = _mm512_setzero_ps();
        for (int k = 0; k < K; k++) {
            const float *a = A + (size_t)k * lda + m0, *b = bp + (size_t)k * THIN_N;
            const __m512 a0 = _mm512_maskz_loadu_ps(k0, a), a1 = _mm512_maskz_loadu_ps(k1, a + 16);
            for (int n = 0; n < THIN_N; n++) {
                const __m512 x = _mm512_set1_ps(b[n]);
                acc[n][0] = _mm512_fmadd_ps(x, a0, acc[n][0]);
                acc[n][1] = _mm512_fmadd_ps(x, a1, acc[n][1]);
            }
        }
        float t[THIN_N][32];
        for (int n = 0; n < THIN_N; n++) {
            _mm512_storeu_ps(t[n], acc[n][0]);
            _mm512_storeu_ps(t[n] + 16, acc[n][1]);
        }
        for (int i = 0; i < mr; i++)
            for (int n = 0; n < N; n++) C[(size_t)(m0 + i) * ldc + n] += t[n][i];
    }
}

static int g_avx512_gemv = -1;
static int have_avx512_gemv(void)
{
    if (g_avx512_gemv < 0) /* benign race: every thread computes the same answer */
        g_avx512_gemv = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
                        __builtin_cpu_supports("fma");
    return g_avx512_gemv;
}
#endif

#define SMALL_M 4   /* rows: batch 1 .. 4 */
#define SMALL_KN 16 /* a thin inner or outer dimension (n_in 10) */

void eisnet_cpu_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    /* few rows (batch 1 .. 4): plain loops, no BLAS call overhead */
    const int small = ta ? K <= SMALL_M : M <= SMALL_M;
#ifdef HAVE_AVX512_GEMV
    if (K > 0 && M == 1 && !ta && tb && have_avx512_gemv()) { /* one row of a Linear forward */
        gemv_avx512(N, K, B, ldb, A, beta, C);
        return;
    }
    if (K > 0 && M > SMALL_M && !ta && tb && K <= SMALL_KN && have_avx512_gemv()) {
        float *wt = scratch((size_t)K * (size_t)((N + 15) & ~15));
        if (wt) { /* the thin input layer's forward */
            gemm_nt_thin_k_avx512(M, N, K, A, lda, B, ldb, beta, C, ldc, wt);
            return;
        }
    }
    if (K > 0 && ta && !tb && N <= THIN_N && M > SMALL_KN && have_avx512_gemv()) {
        float *bp = scratch((size_t)K * THIN_N);
        if (bp) { /* the thin input layer's weight gradient */
            if (beta == 0.0f)
                for (int m = 0; m < M; m++) memset(C + (size_t)m * ldc, 0, (size_t)N * sizeof(float));
            gemm_tn_thin_n_avx512(M, N, K, A, lda, B, ldb, C, ldc, bp);
            return;
        }
    }
#endif
#ifdef EISNET_HAVE_CBLAS
    if (K > 0 && M == 1 && !ta) { /* one row: y = W x or W^T x; OpenBLAS's gemv
                                   * streams W faster than gemm_nt_small */
        if (beta == 0.0f) memset(C, 0, (size_t)N * sizeof(float));
        if (tb) cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, B, ldb, A, 1, 1.0f, C, 1);
        else cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, B, ldb, A, 1, 1.0f, C, 1);
        return;
    }
    if (!small && K > 0) { /* OpenBLAS beats the loops below at every other shape */
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    /* the small-K forward writes C without reading it; all else accumulates */
    const int write_only = !ta && tb && !small && K <= SMALL_KN && K > 0;
    if (beta == 0.0f && !write_only)
        for (int m = 0; m < M; m++) memset(C + (size_t)m * ldc, 0, (size_t)N * sizeof(float));
    if (K <= 0) return;
    if (!ta && tb) { /* C += A @ B^T: the forward of a Linear */
        if (small) {
            gemm_nt_small(M, N, K, A, lda, B, ldb, C, ldc);
            return;
        }
        float *bt = scratch((size_t)K * N);
        if (!bt) { /* out of memory: dot products */
            if (write_only && beta == 0.0f)
                for (int m = 0; m < M; m++) memset(C + (size_t)m * ldc, 0, (size_t)N * sizeof(float));
            gemm_nt_small(M, N, K, A, lda, B, ldb, C, ldc);
            return;
        }
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) bt[(size_t)k * N + n] = B[(size_t)n * ldb + k];
        if (K <= SMALL_KN) gemm_nn_smallk(M, N, K, A, lda, bt, N, beta, C, ldc);
        else gemm_nn(M, N, K, A, lda, bt, N, C, ldc);
    } else if (!ta && !tb) { /* C += A @ B: the input gradient of a Linear */
        gemm_nn(M, N, K, A, lda, B, ldb, C, ldc);
    } else if (ta && !tb) { /* C += A^T @ B: the weight gradient of a Linear */
        float *ct = N <= SMALL_KN && M > SMALL_KN ? scratch((size_t)N * M) : NULL;
        if (ct) gemm_tn_thin(M, N, K, A, lda, B, ldb, C, ldc, ct);
        else gemm_tn(M, N, K, A, lda, B, ldb, C, ldc);
    }
}

/* ---- fused element-wise passes of the fast path ----------------------------
 * Reductions use `omp simd reduction` (OpenMP builds): GCC 12 turns the
 * LANES idiom above into permute-heavy code in these longer loops, 2-3x
 * slower. Without OpenMP they are plain (scalar) sums. */

MULTIVERSION
void eisnet_cpu_layernorm_relu_dropout_forward(float *out, float *mean, float *rstd,
                                               const float *in, const float *in_bias,
                                               const float *weight, const float *bias,
                                               int B, int C, float p, uint64_t key,
                                               uint64_t idx0)
{
    const uint64_t thr = eisnet_dropout_threshold(p);
    const float scale = thr ? 1.0f / (1.0f - p) : 1.0f;
    const int Cv = C - C % LANES;
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * C;
        float *y = out + (size_t)b * C;
        /* pass 1: the sum, with LANES partial sums (omp simd reductions are
         * latency-bound here: 1.5x slower); with a bias, y = x + in_bias is
         * stored on the way and the later passes read y */
        float acc[LANES] = {0};
        if (in_bias) {
            for (int i = 0; i < Cv; i += LANES)
                for (int j = 0; j < LANES; j++) {
                    const float v = x[i + j] + in_bias[i + j];
                    y[i + j] = v;
                    acc[j] += v;
                }
            for (int i = Cv; i < C; i++) y[i] = x[i] + in_bias[i];
            x = y;
        } else {
            for (int i = 0; i < Cv; i += LANES)
                for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
        }
        float s = sum_lanes(acc);
        for (int i = Cv; i < C; i++) s += x[i];
        const float m = s / (float)C;
        /* pass 2: the (biased) variance about the mean */
        float acc2[LANES] = {0};
        for (int i = 0; i < Cv; i += LANES)
            for (int j = 0; j < LANES; j++) {
                const float d = x[i + j] - m;
                acc2[j] += d * d;
            }
        float v = sum_lanes(acc2);
        for (int i = Cv; i < C; i++) {
            const float d = x[i] - m;
            v += d * d;
        }
        const float r = 1.0f / sqrtf(v / (float)C + EISNET_LN_EPS);
        mean[b] = m;
        rstd[b] = r;
        /* pass 3: normalise, affine, ReLU, dropout (in place when x == y) */
        if (!thr) {
            for (int i = 0; i < C; i++) {
                float l = (x[i] - m) * r * weight[i] + bias[i];
                y[i] = l > 0.0f ? l : 0.0f;
            }
        } else {
            const uint64_t base = idx0 + (uint64_t)b * (uint64_t)C;
            for (int i = 0; i < C; i++) {
                float l = (x[i] - m) * r * weight[i] + bias[i];
                float z = l > 0.0f ? l * scale : 0.0f;
                y[i] = (eisnet_hash64(key, base + (uint64_t)i) >> 32) < thr ? 0.0f : z;
            }
        }
    }
}

/* e^x in float, written so that a loop of it vectorises (no libm call):
 * x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial (its Taylor
 * coefficients; within 3 ulp of the exact value over the whole range), times 2^n put into the exponent bits. Inputs below -87.3 (where
 * expf turns subnormal) give 0, above 88.7 give +inf; NaN gives NaN. */
static inline float exp_vec(float x)
{
    const float hi = 88.7228f, lo = -87.3365f;
    /* NaN goes to lo here (no float-to-int conversion of NaN below) */
    float xc = (x >= lo && x <= hi) ? x : (x > hi ? hi : lo);
    /* round x / ln2 to nearest: adding 1.5 * 2^23 leaves the integer in the
     * low mantissa bits */
    const float shifter = 12582912.0f;
    float t = xc * 1.44269504088896341f + shifter;
    float n = t - shifter;
    float r = xc - n * 0.693145751953125f - n * 1.42860682030941723e-06f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ni = (int32_t)n, pi;
    memcpy(&pi, &p, sizeof pi);
    pi += ni * (1 << 23);
    float e;
    memcpy(&e, &pi, sizeof e);
    if (x < lo) e = 0.0f;
    if (x > hi) e = INFINITY;
    if (x != x) e = x;
    return e;
}

MULTIVERSION
void eisnet_cpu_softmax_rows(float *probs, const float *logits, long rows, int G, const uint8_t *sel)
{
    /* 1: x - max per row (unselected rows: 0 here, zeroed below) */
    for (long i = 0; i < rows; i++) {
        const float *lg = logits + (size_t)i * G;
        float *pr = probs + (size_t)i * G;
        if (sel && !sel[i]) {
            memset(pr, 0, (size_t)G * sizeof(float));
            continue;
        }
        float mx = lg[0];
        for (int g = 1; g < G; g++) mx = lg[g] > mx ? lg[g] : mx;
        for (int g = 0; g < G; g++) pr[g] = lg[g] - mx;
    }
    /* 2: one vectorised exp over the whole block (exp(0) = 1 is harmless
     * for the unselected rows, zeroed again below) */
    const size_t n = (size_t)rows * (size_t)G;
    for (size_t i = 0; i < n; i++) probs[i] = exp_vec(probs[i]);
    /* 3: normalise */
    for (long i = 0; i < rows; i++) {
        float *pr = probs + (size_t)i * G;
        if (sel && !sel[i]) {
            memset(pr, 0, (size_t)G * sizeof(float));
            continue;
        }
        float sum = 0.0f;
        for (int g = 0; g < G; g++) sum += pr[g];
        const float inv = 1.0f / sum;
        for (int g = 0; g < G; g++) pr[g] *= inv;
    }
}

/* exposed for the tests: exp_vec on n elements */
MULTIVERSION
void eisnet_cpu_exp(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = exp_vec(x[i]);
}

MULTIVERSION
void eisnet_cpu_rows_dot(float *out, const float *A, int lda, const float *w, float bias, int B,
                         int K)
{
    const int Kv = K - K % LANES;
    for (int b = 0; b < B; b++) {
        const float *a = A + (size_t)b * lda;
        float acc[LANES] = {0};
        for (int i = 0; i < Kv; i += LANES)
            for (int j = 0; j < LANES; j++) acc[j] += a[i + j] * w[i + j];
        float s = sum_lanes(acc);
        for (int i = Kv; i < K; i++) s += a[i] * w[i];
        out[b] = bias + s;
    }
}

MULTIVERSION
void eisnet_cpu_relu_dropout_layernorm_backward(float *din, float *dweight, float *dbias,
                                                const float *dout, const float *out,
                                                float scale, const float *in,
                                                const float *in_bias, const float *weight,
                                                const float *mean, const float *rstd,
                                                int B, int C, float *din_colsum)
{
    for (int b = 0; b < B; b++) {
        const float *h = in + (size_t)b * C;
        const float *da = dout + (size_t)b * C, *a = out + (size_t)b * C;
        float *dx = din + (size_t)b * C;
        const float m = mean[b], r = rstd[b];
        /* pass 1: dx = xhat (the normalised input) */
        if (in_bias) {
            for (int i = 0; i < C; i++) dx[i] = (h[i] + in_bias[i] - m) * r;
        } else {
            for (int i = 0; i < C; i++) dx[i] = (h[i] - m) * r;
        }
        /* pass 2: dy = da * relu/dropout slope; sums of g = dy*w, g*xhat */
        float mg = 0.0f, mgx = 0.0f;
        SIMD_SUM2(mg, mgx)
        for (int i = 0; i < C; i++) {
            float dy = a[i] > 0.0f ? da[i] * scale : 0.0f;
            float g = dy * weight[i];
            mg += g;
            mgx += g * dx[i];
        }
        mg /= (float)C;
        mgx /= (float)C;
        /* pass 3: parameter gradients and dx (dy recomputed: no second row) */
        if (dweight && dbias && din_colsum) { /* the model's case */
            SIMD
            for (int i = 0; i < C; i++) {
                float xhat = dx[i];
                float dy = a[i] > 0.0f ? da[i] * scale : 0.0f;
                dweight[i] += dy * xhat;
                dbias[i] += dy;
                float d = r * (dy * weight[i] - mg - xhat * mgx);
                dx[i] = d;
                din_colsum[i] += d;
            }
        } else { /* any of them NULL (tests): branches per element */
            for (int i = 0; i < C; i++) {
                float xhat = dx[i];
                float dy = a[i] > 0.0f ? da[i] * scale : 0.0f;
                if (dweight) dweight[i] += dy * xhat;
                if (dbias) dbias[i] += dy;
                dx[i] = r * (dy * weight[i] - mg - xhat * mgx);
                if (din_colsum) din_colsum[i] += dx[i];
            }
        }
    }
}

MULTIVERSION
void eisnet_cpu_relu_dropout_backward_inplace(float *d, const float *out, int B, int n, int ld,
                                              float scale)
{
    for (int b = 0; b < B; b++) {
        float *g = d + (size_t)b * ld;
        const float *o = out + (size_t)b * ld;
        SIMD
        for (int i = 0; i < n; i++) {
            const float v = g[i] * scale;
            g[i] = o[i] > 0.0f ? v : 0.0f;
        }
    }
}

MULTIVERSION
void eisnet_cpu_bias_relu_dropout_forward(float *out, const float *in, const float *bias,
                                          int B, int n, int ld, float p, uint64_t key,
                                          uint64_t idx0)
{
    const uint64_t thr = eisnet_dropout_threshold(p);
    const float scale = thr ? 1.0f / (1.0f - p) : 1.0f;
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * ld;
        float *y = out + (size_t)b * ld;
        if (!thr) {
            for (int i = 0; i < n; i++) {
                float v = x[i] + bias[i];
                y[i] = v > 0.0f ? v : 0.0f;
            }
            continue;
        }
        const uint64_t base = idx0 + (uint64_t)b * (uint64_t)n;
        for (int i = 0; i < n; i++) {
            float v = x[i] + bias[i];
            float z = v > 0.0f ? v * scale : 0.0f;
            y[i] = (eisnet_hash64(key, base + (uint64_t)i) >> 32) < thr ? 0.0f : z;
        }
    }
}
