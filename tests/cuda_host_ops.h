/* The operation table of src/nn/cuda_ops.h on the host, from the CPU kernels:
 * it runs the CUDA network's orchestration (src/nn/cuda.c) without a GPU,
 * and it is the reference the GPU's operations are compared with
 * (tests/test_cuda_gpu.c). "Device" memory is host memory. */
#ifndef EISNET_TEST_CUDA_HOST_OPS_H
#define EISNET_TEST_CUDA_HOST_OPS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.h"
#include "kernels_cpu.h"
#include "eisnet/kernels.h"
#include "eisnet/model.h"
#include "eisnet/optim.h"

static int host_ctx_token;

static void *host_ctx_new(int device, char *why, size_t n)
{
    (void)device;
    (void)why;
    (void)n;
    return &host_ctx_token;
}
static void host_ctx_free(void *ctx) { (void)ctx; }
static void *host_alloc(void *ctx, size_t bytes)
{
    (void)ctx;
    return calloc(1, bytes ? bytes : 1);
}
static void host_release(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}
static int host_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}
static int host_copy_d2d(void *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes) memmove(dst, src, bytes);
    return 0;
}
static int host_zero(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    if (bytes) memset(p, 0, bytes);
    return 0;
}
static int host_check(void *ctx)
{
    (void)ctx;
    return 0;
}
static void host_gemm(void *ctx, int ta, int tb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    (void)ctx;
    eisnet_cpu_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}
/* the key of cuda_ops.h: key, or hash64(*key_dev, key) */
static uint64_t host_key(uint64_t key, const uint64_t *key_dev)
{
    return key_dev ? eisnet_hash64(*key_dev, key) : key;
}
static void host_ln_fwd(void *ctx, float *out, float *mean, float *rstd, const float *in,
                        const float *in_bias, const float *weight, const float *bias, int B, int C,
                        float p, uint64_t key, const uint64_t *key_dev, uint64_t idx0)
{
    (void)ctx;
    eisnet_cpu_layernorm_relu_dropout_forward(out, mean, rstd, in, in_bias, weight, bias, B, C, p,
                                              p > 0.0f ? host_key(key, key_dev) : 0, idx0);
}
static void host_ln_bwd(void *ctx, float *din, float *dweight, float *dbias, const float *dout,
                        const float *out, float scale, const float *in, const float *in_bias,
                        const float *weight, const float *mean, const float *rstd, int B, int C,
                        float *din_colsum)
{
    (void)ctx;
    eisnet_cpu_relu_dropout_layernorm_backward(din, dweight, dbias, dout, out, scale, in, in_bias,
                                               weight, mean, rstd, B, C, din_colsum);
}
static void host_bias_relu(void *ctx, float *out, const float *in, const float *bias, int B, int n,
                           int ld, float p, uint64_t key, const uint64_t *key_dev, uint64_t idx0)
{
    (void)ctx;
    eisnet_cpu_bias_relu_dropout_forward(out, in, bias, B, n, ld, p,
                                         p > 0.0f ? host_key(key, key_dev) : 0, idx0);
}
static void host_relu_bwd(void *ctx, float *d, const float *out, int B, int n, int ld, float scale)
{
    (void)ctx;
    eisnet_cpu_relu_dropout_backward_inplace(d, out, B, n, ld, scale);
}
static void host_rows_dot(void *ctx, float *out, const float *A, int lda, const float *w,
                          const float *bias, int B, int K)
{
    (void)ctx;
    eisnet_cpu_rows_dot(out, A, lda, w, *bias, B, K);
}
static void host_softmax(void *ctx, float *probs, const float *logits, long rows, int G,
                         const uint8_t *sel)
{
    (void)ctx;
    eisnet_cpu_softmax_rows(probs, logits, rows, G, sel);
}
static void host_colsum(void *ctx, float *db, const float *g, int nb, int n, int ld)
{
    (void)ctx;
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < n; i++) db[i] += g[(size_t)b * ld + i];
}
static void host_broadcast(void *ctx, float *out, const float *v, int nb, int n, int ld)
{
    (void)ctx;
    for (int b = 0; b < nb; b++) memcpy(out + (size_t)b * ld, v, (size_t)n * sizeof(float));
}
static void host_resnorm_bwd(void *ctx, float *da, int ld, const float *a, const float *w2,
                             const float *drout, float *dw2, float *db2, int nb, int K)
{
    (void)ctx;
    for (int b = 0; b < nb; b++) {
        for (int j = 0; j < K; j++) {
            da[(size_t)b * ld + j] = drout[b] * w2[j];
            dw2[j] += drout[b] * a[(size_t)b * ld + j];
        }
        *db2 += drout[b];
    }
}
static void host_loss(void *ctx, const float *logits, const float *resnorm, int B, int P, int G,
                      const int32_t *target, const uint8_t *missing, const float *resnorm_target,
                      float resnorm_weight, float *dlogits, float *dresnorm, eisnet_cu_sums *sums)
{
    (void)ctx;
    eisnet_loss l;
    int64_t *hc = sums->hc;
    memset(hc, 0, 2 * (size_t)P * sizeof *hc);
    eisnet_loss_compute(logits, resnorm, B, P, G, target, missing, resnorm_target, resnorm_weight,
                        &l, dlogits, dresnorm, hc, hc + P);
    sums->ce_sum = l.ce * B;
    sums->se_sum = l.mse * B;
}
static void host_sumsq(void *ctx, const float *g, size_t n, eisnet_cu_sums *sums)
{
    (void)ctx;
    sums->sumsq = eisnet_grad_sumsq(g, 0, n);
}
static void host_adamw(void *ctx, const eisnet_adamw_consts *k, const eisnet_adamw_consts *k_dev,
                       float max_grad_norm, const eisnet_cu_sums *sums, float *params,
                       const float *grads, float *m, float *v, size_t n)
{
    (void)ctx;
    eisnet_adamw_consts c = k_dev ? *k_dev : *k;
    c.grad_scale = max_grad_norm > 0.0f ? eisnet_clip_coef((float)sqrt(sums->sumsq), max_grad_norm)
                                        : 1.0f;
    eisnet_adamw opt;
    memset(&opt, 0, sizeof opt);
    opt.n = n;
    opt.m = m;
    opt.v = v;
    eisnet_adamw_update(&opt, &c, params, grads, 0, n);
}

static const eisnet_cu_ops host_ops = {
    .name = "host",
    .ctx_new = host_ctx_new,
    .ctx_free = host_ctx_free,
    .alloc = host_alloc,
    .release = host_release,
    .upload = host_copy,
    .download = host_copy,
    .zero = host_zero,
    .copy = host_copy_d2d,
    .check = host_check,
    .gemm = host_gemm,
    .ln_relu_dropout_fwd = host_ln_fwd,
    .relu_dropout_ln_bwd = host_ln_bwd,
    .bias_relu_dropout_fwd = host_bias_relu,
    .relu_dropout_bwd_inplace = host_relu_bwd,
    .rows_dot = host_rows_dot,
    .softmax_rows = host_softmax,
    .colsum_add = host_colsum,
    .broadcast_rows = host_broadcast,
    .resnorm_out_bwd = host_resnorm_bwd,
    .loss = host_loss,
    .grad_sumsq = host_sumsq,
    .adamw = host_adamw,
};

#endif
