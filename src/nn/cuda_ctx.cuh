/* cuda_ctx.cuh (private, CUDA sources only): the device context behind the
 * void *ctx of cuda_ops.h, and the launchers of src/nn/cuda_kernels.cu. */
#ifndef EISNET_CUDA_CTX_CUH
#define EISNET_CUDA_CTX_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "cuda_ops.h"

typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    /* the first error since the last check(), and what raised it */
    cudaError_t err;
    cublasStatus_t blas_err;
    const char *what;
    /* device scratch of the reductions (loss rows, norm partials), grown on
     * demand */
    void *scratch;
    size_t scratch_bytes;
    /* cuBLAS's workspace, given to it so that it allocates nothing while a
     * graph is recorded */
    void *blas_ws;
} eisnet_cu_ctx;

/* records e (when it is an error and none is recorded yet) */
void eisnet_cu_note(eisnet_cu_ctx *c, cudaError_t e, const char *what);
/* device scratch of at least bytes (NULL after recording an error) */
void *eisnet_cu_scratch(eisnet_cu_ctx *c, size_t bytes);

#ifdef __cplusplus
extern "C" {
#endif
/* the kernels' launchers, in the shapes of the table in cuda_ops.h */
void eisnet_cu_ln_relu_dropout_fwd(void *ctx, float *out, float *mean, float *rstd,
                                   const float *in, const float *in_bias, const float *weight,
                                   const float *bias, int B, int C, float p, uint64_t key,
                                   const uint64_t *key_dev, uint64_t idx0);
void eisnet_cu_relu_dropout_ln_bwd(void *ctx, float *din, float *dweight, float *dbias,
                                   const float *dout, const float *out, float scale,
                                   const float *in, const float *in_bias, const float *weight,
                                   const float *mean, const float *rstd, int B, int C,
                                   float *din_colsum);
void eisnet_cu_bias_relu_dropout_fwd(void *ctx, float *out, const float *in, const float *bias,
                                     int B, int n, int ld, float p, uint64_t key,
                                     const uint64_t *key_dev, uint64_t idx0);
void eisnet_cu_relu_dropout_bwd_inplace(void *ctx, float *d, const float *out, int B, int n,
                                        int ld, float scale);
void eisnet_cu_rows_dot(void *ctx, float *out, const float *A, int lda, const float *w,
                        const float *bias, int B, int K);
void eisnet_cu_softmax_rows(void *ctx, float *probs, const float *logits, long rows, int G,
                            const uint8_t *sel);
void eisnet_cu_colsum_add(void *ctx, float *db, const float *g, int nb, int n, int ld);
void eisnet_cu_broadcast_rows(void *ctx, float *out, const float *v, int nb, int n, int ld);
void eisnet_cu_resnorm_out_bwd(void *ctx, float *da, int ld, const float *a, const float *w2,
                               const float *drout, float *dw2, float *db2, int nb, int K);
void eisnet_cu_loss(void *ctx, const float *logits, const float *resnorm, int B, int P, int G,
                    const int32_t *target, const uint8_t *missing, const float *resnorm_target,
                    float resnorm_weight, float *dlogits, float *dresnorm, eisnet_cu_sums *sums);
void eisnet_cu_grad_sumsq(void *ctx, const float *g, size_t n, eisnet_cu_sums *sums);
void eisnet_cu_adamw(void *ctx, const eisnet_adamw_consts *k, const eisnet_adamw_consts *k_dev,
                     float max_grad_norm,
                     const eisnet_cu_sums *sums, float *params, const float *grads, float *m,
                     float *v, size_t n);
#ifdef __cplusplus
}
#endif
#endif
