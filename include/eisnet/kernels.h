/* eisnet/kernels.h: the layer kernels of the network, one interface, two
 * backends (ggml-style).
 *
 *   eisnet_kernels_ref  plain loops, obviously correct; the reference that
 *                       everything else is tested against (src/nn/kernels_ref.c)
 *   eisnet_kernels_cpu  the fast path: CBLAS sgemm when built with
 *                       EISNET_HAVE_CBLAS, blocked loops otherwise
 *                       (src/nn/kernels_cpu.c)
 *
 * Conventions (llm.c-like). All tensors are float32, row-major, B rows.
 * Every *_forward overwrites its outputs. Every *_backward ACCUMULATES (+=)
 * into all of its gradient outputs (din, dweight, dbias), so the caller zeroes
 * them first; a NULL din/dweight/dbias is skipped. Kernels are single-threaded:
 * the model splits a batch across threads (see model.c), which on small
 * machines beats threading each small product. */
#ifndef EISNET_KERNELS_H
#define EISNET_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eisnet_kernels {
    const char *name;

    /* Linear, PyTorch layout: weight (OC, C), bias (OC) or NULL.
     *   out (B, OC) = in (B, C) @ weight^T + bias */
    void (*linear_forward)(float *out, const float *in, const float *weight,
                           const float *bias, int B, int C, int OC);
    /*   din (B, C)      += dout (B, OC) @ weight
     *   dweight (OC, C) += dout^T @ in
     *   dbias (OC)      += column sums of dout */
    void (*linear_backward)(float *din, float *dweight, float *dbias,
                            const float *dout, const float *in,
                            const float *weight, int B, int C, int OC);

    /* LayerNorm over the last dimension, eps 1e-5, affine.
     *   out (B, C), mean (B), rstd (B) = 1/sqrt(var + eps), biased variance */
    void (*layernorm_forward)(float *out, float *mean, float *rstd,
                              const float *in, const float *weight,
                              const float *bias, int B, int C);
    /*   din (B, C) += ..., dweight (C) += ..., dbias (C) += ... */
    void (*layernorm_backward)(float *din, float *dweight, float *dbias,
                               const float *dout, const float *in,
                               const float *weight, const float *mean,
                               const float *rstd, int B, int C);

    /* ReLU followed by (inverted) dropout with drop probability p, n = B*C
     * elements. p == 0 is a plain ReLU. Element i of the whole batch is
     * dropped when eisnet_dropout_drop(key, idx0 + i, p) says so; kept
     * elements are scaled by 1/(1-p). Deterministic in (key, idx0 + i), so the
     * mask does not depend on the backend or on how a batch is split.
     *   out (n) = relu(in) * keep / (1-p) */
    void (*relu_dropout_forward)(float *out, const float *in, size_t n,
                                 float p, uint64_t key, uint64_t idx0);
    /* Uses the forward OUTPUT: an element passed iff out > 0, and then its
     * slope is scale = 1/(1-p) (1 when p == 0).
     *   din (n) += dout * (out > 0 ? scale : 0) */
    void (*relu_dropout_backward)(float *din, const float *dout,
                                  const float *out, size_t n, float scale);
} eisnet_kernels;

extern const eisnet_kernels eisnet_kernels_ref;
extern const eisnet_kernels eisnet_kernels_cpu;

#define EISNET_LN_EPS 1e-5f

/* ---- fast-path helpers (CPU backend only) ----------------------------------
 * Used by the model's fast path when its backend is eisnet_kernels_cpu;
 * each one is tested against a composition of the reference kernels in
 * tests/test_kernels.c. Single-threaded like the kernels above.
 *
 * C (M, N) = beta * C + op(A) @ op(B), row-major, beta 0 (C is overwritten,
 * its old contents ignored) or 1 (accumulate).
 *   ta == 0: A stored (M, K), leading dimension lda; ta != 0: stored (K, M)
 *   tb == 0: B stored (K, N), leading dimension ldb; tb != 0: stored (N, K)
 * Supported: (ta, tb) = (0, 1), (0, 0), (1, 0). On AVX-512 CPUs, one row of
 * (0, 1) goes to a matrix-vector kernel, (0, 1) with K <= 16 and (1, 0) with
 * N <= 12 (the thin input layer) to register-tiled kernels. With BLAS: other
 * single rows go to sgemv, 2 .. 4 rows (or K <= 4 for ta) to plain loops, the
 * rest to sgemm. Without BLAS: plain / blocked loops. */
void eisnet_cpu_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

/* out (B, C) = dropout(relu(LayerNorm(in + in_bias))), one pass per row.
 * in_bias (C) may be NULL; mean/rstd as layernorm_forward; the dropout mask
 * as relu_dropout_forward with element index idx0 + b*C + i. */
void eisnet_cpu_layernorm_relu_dropout_forward(float *out, float *mean, float *rstd,
                                               const float *in, const float *in_bias,
                                               const float *weight, const float *bias,
                                               int B, int C, float p, uint64_t key,
                                               uint64_t idx0);
/* The backward of the above: din (B, C) is OVERWRITTEN (not accumulated) with
 * d/d(in); dweight, dbias (C) += as layernorm_backward. dout is the gradient
 * w.r.t. out, out the forward output, scale = 1/(1-p). din_colsum (C) may be
 * NULL; else += the column sums of din, i.e. the gradient of in_bias (the
 * folded bias of the Linear before the LayerNorm), without another pass. */
void eisnet_cpu_relu_dropout_layernorm_backward(float *din, float *dweight, float *dbias,
                                                const float *dout, const float *out,
                                                float scale, const float *in,
                                                const float *in_bias, const float *weight,
                                                const float *mean, const float *rstd,
                                                int B, int C, float *din_colsum);
/* The backward of relu_dropout in place, on B rows of n elements at leading
 * dimension ld: d = out > 0 ? d * scale : 0 (what relu_dropout_backward adds
 * to a zeroed din). */
void eisnet_cpu_relu_dropout_backward_inplace(float *d, const float *out, int B, int n, int ld,
                                              float scale);
/* B rows of n elements at leading dimension ld (in and out):
 *   out[b][i] = dropout(relu(in[b][i] + bias[i])), element index idx0 + b*n + i
 * (the mask of relu_dropout_forward on a contiguous (B, n) block). out may
 * equal in. */
void eisnet_cpu_bias_relu_dropout_forward(float *out, const float *in, const float *bias,
                                          int B, int n, int ld, float p, uint64_t key,
                                          uint64_t idx0);

/* A Linear with one output on B rows: out[b] = bias + A[b, :K] . w (A at
 * leading dimension lda). Vectorised partial sums (a plain float sum loop is
 * not, without reassociation). */
void eisnet_cpu_rows_dot(float *out, const float *A, int lda, const float *w, float bias, int B,
                         int K);

/* Softmax of each of `rows` rows of G logits: probs (rows, G); rows with
 * sel[i] == 0 (sel may be NULL: none) are set to 0. The exponential is a
 * vectorised polynomial (eisnet_cpu_exp), within 3 ulp of e^x. */
void eisnet_cpu_softmax_rows(float *probs, const float *logits, long rows, int G,
                             const uint8_t *sel);
/* y[i] = e^x[i] (the softmax's exponential; y may equal x) */
void eisnet_cpu_exp(float *y, const float *x, size_t n);

/* Worker threads for the model's batch-parallel passes (OpenMP builds; other
 * builds always use 1). Default: all cores (omp_get_max_threads()). n <= 0
 * restores the default. BLAS itself is kept single-threaded: the model splits
 * the batch, and each thread calls it on its own rows. */
void eisnet_set_threads(int n);
int eisnet_get_threads(void);

/* The dropout helpers below are compiled for the GPU too (CUDA sources
 * include this header), so that both draw the same masks from one text. */
#ifdef __CUDACC__
#define EISNET_HOST_DEVICE __host__ __device__
#else
#define EISNET_HOST_DEVICE
#endif

/* The dropout hash: splitmix64's finaliser of (key + idx * golden ratio). */
EISNET_HOST_DEVICE static inline uint64_t eisnet_hash64(uint64_t key, uint64_t idx)
{
    uint64_t z = key + (idx + 1) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Integer drop threshold: an element is dropped when the top 32 bits of its
 * hash are < eisnet_dropout_threshold(p), i.e. with probability p (to 2^-32). */
EISNET_HOST_DEVICE static inline uint64_t eisnet_dropout_threshold(float p)
{
    if (p <= 0.0f) return 0;
    if (p >= 1.0f) return UINT64_C(1) << 32;
    return (uint64_t)((double)p * 4294967296.0);
}

EISNET_HOST_DEVICE static inline int eisnet_dropout_drop(uint64_t key, uint64_t idx, uint64_t threshold)
{
    return (eisnet_hash64(key, idx) >> 32) < threshold;
}

#ifdef __cplusplus
}
#endif
#endif
