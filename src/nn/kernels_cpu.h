/* kernels_cpu.h (private): the CPU backend's kernels (src/nn/kernels_cpu.c),
 * wired into its ops table in src/nn/backend_cpu.c. Each one is tested against
 * the reference backend in tests/test_backend_ops.c and tests/test_kernels.c.
 * Single-threaded: the backend splits a batch across threads. */
#ifndef EISNET_KERNELS_CPU_H
#define EISNET_KERNELS_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "eisnet/kernels.h"

/* C (M, N) = beta * C + op(A) @ op(B), row-major, beta 0 (C is overwritten,
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

/* The same product with bfloat16 operands and float32 sums on the AMX tile
 * units (src/nn/kernels_amx.c): returns 1 when done, 0 when not taken (no
 * AMX, a dimension under 32, out of scratch memory), C then untouched and
 * the caller runs eisnet_cpu_gemm. Each operand is rounded to bfloat16
 * (relative error at most 2^-8). (ta, tb) = (1, 1) is not taken. */
int eisnet_cpu_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);
/* 1 when this CPU and kernel let the process use the AMX bfloat16 tiles */
int eisnet_cpu_amx_available(void);
/* This thread's scratch buffer of at least `bytes` (64-byte aligned; its
 * contents are not kept from call to call), NULL when out of memory. For
 * use within one kernel call; freed at thread exit. */
void *eisnet_cpu_scratch(size_t bytes);

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

#endif
