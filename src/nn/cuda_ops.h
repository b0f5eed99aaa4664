/* cuda_ops.h (private): the device operations the CUDA network runs, as a
 * table of plain C functions.
 *
 * The table decouples the network's orchestration (src/nn/cuda.c: buffer
 * layout, order of operations, strides, the optimizer's bookkeeping) from the
 * device. eisnet_cu_ops_cuda (src/nn/cuda_*.cu, only in builds with the CUDA
 * toolkit) runs them on a GPU; a test supplies a host table built from the
 * CPU kernels, so the orchestration is tested on machines without a GPU.
 *
 * Conventions. All pointers given to the operations are device pointers from
 * alloc (host pointers for a host table), float32, row-major. Operations are
 * queued in order on the context's stream and may return before they run;
 * download waits for everything queued before it. An operation does not
 * report errors itself: check() reports the first one since the last call
 * (eisnet_set_error, -1); upload, download, zero and copy also return -1 at
 * once when they fail. Semantics match the CPU helpers of
 * include/eisnet/kernels.h named in each comment, element for element; only
 * the order of floating-point sums differs. */
#ifndef EISNET_CUDA_OPS_H
#define EISNET_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "eisnet/cuda.h"
#include "eisnet/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The dropout key of ln_relu_dropout_fwd and bias_relu_dropout_fwd: `key`
 * itself when key_dev is NULL, else eisnet_hash64(*key_dev, key) with
 * key_dev in device memory. The second form lets a recorded graph of a
 * training step replay with each step's key (uploaded before the replay).
 * The AdamW constants likewise: *k_dev (device) when not NULL, else *k. */

/* The per-step values of a training step, in device memory (see above). */
typedef struct {
    uint64_t key;          /* the step's dropout key */
    eisnet_adamw_consts k; /* the step's AdamW constants (grad_scale unused) */
} eisnet_cu_step;

/* the model's limit on heads (eisnet_model_new refuses more) */
#define EISNET_CU_MAX_HEADS 1000

/* The sums the loss writes on the device, downloaded once per step (only
 * the first EISNET_CU_SUMS_BYTES(P) bytes). */
typedef struct {
    double ce_sum; /* sum over rows of (CE over the row's missing heads) / n_missing */
    double se_sum; /* sum over rows of (resnorm - target)^2 */
    double sumsq;  /* sum of squared gradients (written by grad_sumsq) */
    int64_t hc[2 * EISNET_CU_MAX_HEADS]; /* per head: top-1 hits (P), then missing entries (P) */
} eisnet_cu_sums;
#define EISNET_CU_SUMS_BYTES(P) (3 * sizeof(double) + 2 * (size_t)(P) * sizeof(int64_t))

typedef struct eisnet_cu_ops {
    const char *name;
    /* a context (stream, BLAS handle) on the given device (0: the first);
     * NULL and a reason in why[n] when there is no usable device */
    void *(*ctx_new)(int device, char *why, size_t n);
    void (*ctx_free)(void *ctx);
    void *(*alloc)(void *ctx, size_t bytes); /* zeroed; NULL + error when out of memory */
    void (*release)(void *ctx, void *p);
    int (*upload)(void *ctx, void *dst, const void *src, size_t bytes);
    int (*download)(void *ctx, void *dst, const void *src, size_t bytes); /* waits */
    int (*zero)(void *ctx, void *p, size_t bytes);
    int (*copy)(void *ctx, void *dst, const void *src, size_t bytes); /* device to device */
    /* waits for the queued work; 0, or -1 with the first error since the
     * last check (which clears it) */
    int (*check)(void *ctx);

    /* eisnet_cpu_gemm: C (M, N) = beta * C + op(A) @ op(B), row-major, beta 0
     * or 1, (ta, tb) in {(0, 1), (0, 0), (1, 0)} */
    void (*gemm)(void *ctx, int ta, int tb, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
    /* eisnet_cpu_layernorm_relu_dropout_forward, except that `in` is never
     * written (the CPU version stores in + in_bias into out on the way); the
     * key from key and key_dev (above) */
    void (*ln_relu_dropout_fwd)(void *ctx, float *out, float *mean, float *rstd, const float *in,
                                const float *in_bias, const float *weight, const float *bias,
                                int B, int C, float p, uint64_t key, const uint64_t *key_dev,
                                uint64_t idx0);
    /* eisnet_cpu_relu_dropout_layernorm_backward (din overwritten; dweight,
     * dbias, din_colsum accumulated, each skipped when NULL) */
    void (*relu_dropout_ln_bwd)(void *ctx, float *din, float *dweight, float *dbias,
                                const float *dout, const float *out, float scale, const float *in,
                                const float *in_bias, const float *weight, const float *mean,
                                const float *rstd, int B, int C, float *din_colsum);
    /* eisnet_cpu_bias_relu_dropout_forward (out may equal in); the key from
     * key and key_dev */
    void (*bias_relu_dropout_fwd)(void *ctx, float *out, const float *in, const float *bias,
                                  int B, int n, int ld, float p, uint64_t key,
                                  const uint64_t *key_dev, uint64_t idx0);
    /* eisnet_cpu_relu_dropout_backward_inplace */
    void (*relu_dropout_bwd_inplace)(void *ctx, float *d, const float *out, int B, int n, int ld,
                                     float scale);
    /* eisnet_cpu_rows_dot, the bias read from device memory (*bias) */
    void (*rows_dot)(void *ctx, float *out, const float *A, int lda, const float *w,
                     const float *bias, int B, int K);
    /* eisnet_cpu_softmax_rows (sel may be NULL), exponential to float accuracy */
    void (*softmax_rows)(void *ctx, float *probs, const float *logits, long rows, int G,
                         const uint8_t *sel);
    /* db (n) += column sums of g (nb rows at leading dimension ld) */
    void (*colsum_add)(void *ctx, float *db, const float *g, int nb, int n, int ld);
    /* each of nb rows of out (leading dimension ld) = v (n) */
    void (*broadcast_rows)(void *ctx, float *out, const float *v, int nb, int n, int ld);
    /* the resnorm head's last Linear (K -> 1) backward: da (nb, K at ld) =
     * drout[b] * w2; dw2 (K) += sum_b drout[b] * a[b]; *db2 += sum_b drout[b] */
    void (*resnorm_out_bwd)(void *ctx, float *da, int ld, const float *a, const float *w2,
                            const float *drout, float *dw2, float *db2, int nb, int K);
    /* eisnet_loss_compute on device data: dlogits (B, P, G) and dresnorm (B)
     * written (either may be NULL); sums->ce_sum, se_sum and hc[0 .. 2P)
     * overwritten. Targets of missing entries must lie in 0..G-1 (checked by
     * the caller; one outside makes ce_sum NaN, nothing is read out of
     * range). */
    void (*loss)(void *ctx, const float *logits, const float *resnorm, int B, int P, int G,
                 const int32_t *target, const uint8_t *missing, const float *resnorm_target,
                 float resnorm_weight, float *dlogits, float *dresnorm, eisnet_cu_sums *sums);
    /* sums->sumsq = sum of g[i]^2 in double (eisnet_grad_sumsq) */
    void (*grad_sumsq)(void *ctx, const float *g, size_t n, eisnet_cu_sums *sums);
    /* the fused clip + AdamW step of eisnet_adamw_update on [0, n): the norm
     * is (float)sqrt(sums->sumsq), grad_scale = eisnet_clip_coef(norm,
     * max_grad_norm) when max_grad_norm > 0, else 1. The constants are *k_dev
     * (device memory) when k_dev is not NULL, else *k (grad_scale ignored). */
    void (*adamw)(void *ctx, const eisnet_adamw_consts *k, const eisnet_adamw_consts *k_dev,
                  float max_grad_norm,
                  const eisnet_cu_sums *sums, float *params, const float *grads, float *m,
                  float *v, size_t n);

    /* Graphs (optional: NULL in a table without them). graph_begin starts
     * recording the operations queued after it instead of running them;
     * graph_end stops and returns the recording (NULL + error on failure);
     * graph_launch queues a replay; graph_free releases it. Uploads and
     * downloads must not be queued while recording. */
    int (*graph_begin)(void *ctx);
    void *(*graph_end)(void *ctx);
    int (*graph_launch)(void *ctx, void *graph);
    void (*graph_free)(void *ctx, void *graph);
} eisnet_cu_ops;

/* eisnet_cuda_net_new on the given table (the tests' host table) */
eisnet_cuda_net *eisnet_cuda_net_new_ops(const eisnet_cu_ops *ops, const eisnet_model *m,
                                         int max_batch);

/* A backend of eisnet/backend.h on the given table and device
 * (src/nn/cuda_backend.c); NULL with eisnet_last_error() when the table has no
 * usable device. */
struct eisnet_backend;
struct eisnet_backend *eisnet_cu_backend_new(const eisnet_cu_ops *ops, int device);

/* The GPU table; defined only in builds with the CUDA backend
 * (EISNET_HAVE_CUDA). */
extern const eisnet_cu_ops eisnet_cu_ops_cuda;

#ifdef __cplusplus
}
#endif
#endif
