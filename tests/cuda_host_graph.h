/* The host operation table of tests/cuda_host_ops.h with graphs: between
 * graph_begin and graph_end each operation is recorded (its arguments
 * copied) instead of run, and graph_launch runs the recording. As on a GPU,
 * a replay reads whatever the pointers hold at replay time and reuses the
 * scalar arguments of the recording, so a training step that passed a
 * per-step value by value instead of through device memory replays with a
 * stale one: the trajectory against the CPU then fails. */
#ifndef EISNET_TEST_CUDA_HOST_GRAPH_H
#define EISNET_TEST_CUDA_HOST_GRAPH_H

#include "cuda_host_ops.h"

enum { HG_GEMM, HG_LN_FWD, HG_LN_BWD, HG_BIAS_RELU, HG_RELU_BWD, HG_ROWS_DOT, HG_SOFTMAX, HG_COLSUM,
       HG_BROADCAST, HG_RESNORM_BWD, HG_LOSS, HG_SUMSQ, HG_ADAMW, HG_ZERO };

typedef struct {
    int op;
    const void *p[12];
    int i[8];
    float f[2];
    uint64_t u[2];
    size_t z;
    long l;
    eisnet_adamw_consts k;
} hg_rec;

typedef struct {
    hg_rec *recs;
    int n;
} hg_graph;

static hg_graph *hg_cur; /* the recording in progress, or NULL */
static int hg_launches;  /* replays so far (the tests check they happen) */

static void hg_push(const hg_rec *r)
{
    hg_rec *p = realloc(hg_cur->recs, (size_t)(hg_cur->n + 1) * sizeof *p);
    assert_non_null(p);
    hg_cur->recs = p;
    hg_cur->recs[hg_cur->n++] = *r;
}

#define HG_RECORD(...)                                                                             \
    if (hg_cur) {                                                                                  \
        hg_rec r_ = {__VA_ARGS__};                                                                 \
        hg_push(&r_);                                                                              \
        return;                                                                                    \
    }

static void hg_gemm(void *ctx, int ta, int tb, int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc)
{
    HG_RECORD(.op = HG_GEMM, .p = {A, B, C}, .i = {ta, tb, M, N, K, lda, ldb, ldc}, .f = {beta});
    host_gemm(ctx, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}
static void hg_ln_fwd(void *ctx, float *out, float *mean, float *rstd, const float *in,
                      const float *in_bias, const float *weight, const float *bias, int B, int C,
                      float p, uint64_t key, const uint64_t *key_dev, uint64_t idx0)
{
    HG_RECORD(.op = HG_LN_FWD, .p = {out, mean, rstd, in, in_bias, weight, bias, key_dev},
              .i = {B, C}, .f = {p}, .u = {key, idx0});
    host_ln_fwd(ctx, out, mean, rstd, in, in_bias, weight, bias, B, C, p, key, key_dev, idx0);
}
static void hg_ln_bwd(void *ctx, float *din, float *dweight, float *dbias, const float *dout,
                      const float *out, float scale, const float *in, const float *in_bias,
                      const float *weight, const float *mean, const float *rstd, int B, int C,
                      float *din_colsum)
{
    HG_RECORD(.op = HG_LN_BWD,
              .p = {din, dweight, dbias, dout, out, in, in_bias, weight, mean, rstd, din_colsum},
              .i = {B, C}, .f = {scale});
    host_ln_bwd(ctx, din, dweight, dbias, dout, out, scale, in, in_bias, weight, mean, rstd, B, C,
                din_colsum);
}
static void hg_bias_relu(void *ctx, float *out, const float *in, const float *bias, int B, int n,
                         int ld, float p, uint64_t key, const uint64_t *key_dev, uint64_t idx0)
{
    HG_RECORD(.op = HG_BIAS_RELU, .p = {out, in, bias, key_dev}, .i = {B, n, ld}, .f = {p},
              .u = {key, idx0});
    host_bias_relu(ctx, out, in, bias, B, n, ld, p, key, key_dev, idx0);
}
static void hg_relu_bwd(void *ctx, float *d, const float *out, int B, int n, int ld, float scale)
{
    HG_RECORD(.op = HG_RELU_BWD, .p = {d, out}, .i = {B, n, ld}, .f = {scale});
    host_relu_bwd(ctx, d, out, B, n, ld, scale);
}
static void hg_rows_dot(void *ctx, float *out, const float *A, int lda, const float *w,
                        const float *bias, int B, int K)
{
    HG_RECORD(.op = HG_ROWS_DOT, .p = {out, A, w, bias}, .i = {lda, B, K});
    host_rows_dot(ctx, out, A, lda, w, bias, B, K);
}
static void hg_softmax(void *ctx, float *probs, const float *logits, long rows, int G,
                       const uint8_t *sel)
{
    HG_RECORD(.op = HG_SOFTMAX, .p = {probs, logits, sel}, .i = {G}, .l = rows);
    host_softmax(ctx, probs, logits, rows, G, sel);
}
static void hg_colsum(void *ctx, float *db, const float *g, int nb, int n, int ld)
{
    HG_RECORD(.op = HG_COLSUM, .p = {db, g}, .i = {nb, n, ld});
    host_colsum(ctx, db, g, nb, n, ld);
}
static void hg_broadcast(void *ctx, float *out, const float *v, int nb, int n, int ld)
{
    HG_RECORD(.op = HG_BROADCAST, .p = {out, v}, .i = {nb, n, ld});
    host_broadcast(ctx, out, v, nb, n, ld);
}
static void hg_resnorm_bwd(void *ctx, float *da, int ld, const float *a, const float *w2,
                           const float *drout, float *dw2, float *db2, int nb, int K)
{
    HG_RECORD(.op = HG_RESNORM_BWD, .p = {da, a, w2, drout, dw2, db2}, .i = {ld, nb, K});
    host_resnorm_bwd(ctx, da, ld, a, w2, drout, dw2, db2, nb, K);
}
static void hg_loss(void *ctx, const float *logits, const float *resnorm, int B, int P, int G,
                    const int32_t *target, const uint8_t *missing, const float *resnorm_target,
                    float resnorm_weight, float *dlogits, float *dresnorm, eisnet_cu_sums *sums)
{
    HG_RECORD(.op = HG_LOSS,
              .p = {logits, resnorm, target, missing, resnorm_target, dlogits, dresnorm, sums},
              .i = {B, P, G}, .f = {resnorm_weight});
    host_loss(ctx, logits, resnorm, B, P, G, target, missing, resnorm_target, resnorm_weight,
              dlogits, dresnorm, sums);
}
static void hg_sumsq(void *ctx, const float *g, size_t n, eisnet_cu_sums *sums)
{
    HG_RECORD(.op = HG_SUMSQ, .p = {g, sums}, .z = n);
    host_sumsq(ctx, g, n, sums);
}
static void hg_adamw(void *ctx, const eisnet_adamw_consts *k, const eisnet_adamw_consts *k_dev,
                     float max_grad_norm, const eisnet_cu_sums *sums, float *params,
                     const float *grads, float *m, float *v, size_t n)
{
    /* the host constants by value, as a kernel argument would be */
    HG_RECORD(.op = HG_ADAMW, .p = {k_dev, sums, params, grads, m, v}, .f = {max_grad_norm}, .z = n,
              .k = *k);
    host_adamw(ctx, k, k_dev, max_grad_norm, sums, params, grads, m, v, n);
}
static int hg_zero(void *ctx, void *p, size_t bytes)
{
    if (hg_cur) {
        hg_rec r = {.op = HG_ZERO, .p = {p}, .z = bytes};
        hg_push(&r);
        return 0;
    }
    return host_zero(ctx, p, bytes);
}

#define F(j) ((float *)r->p[j])
#define CF(j) ((const float *)r->p[j])
static void hg_run(void *c, const hg_rec *r)
{
    switch (r->op) {
    case HG_GEMM:
        host_gemm(c, r->i[0], r->i[1], r->i[2], r->i[3], r->i[4], CF(0), r->i[5], CF(1), r->i[6], r->f[0],
                  F(2), r->i[7]);
        break;
    case HG_LN_FWD:
        host_ln_fwd(c, F(0), F(1), F(2), CF(3), CF(4), CF(5), CF(6), r->i[0], r->i[1], r->f[0], r->u[0],
                    (const uint64_t *)r->p[7], r->u[1]);
        break;
    case HG_LN_BWD:
        host_ln_bwd(c, F(0), F(1), F(2), CF(3), CF(4), r->f[0], CF(5), CF(6), CF(7), CF(8), CF(9),
                    r->i[0], r->i[1], F(10));
        break;
    case HG_BIAS_RELU:
        host_bias_relu(c, F(0), CF(1), CF(2), r->i[0], r->i[1], r->i[2], r->f[0], r->u[0],
                       (const uint64_t *)r->p[3], r->u[1]);
        break;
    case HG_RELU_BWD: host_relu_bwd(c, F(0), CF(1), r->i[0], r->i[1], r->i[2], r->f[0]); break;
    case HG_ROWS_DOT: host_rows_dot(c, F(0), CF(1), r->i[0], CF(2), CF(3), r->i[1], r->i[2]); break;
    case HG_SOFTMAX:
        host_softmax(c, F(0), CF(1), r->l, r->i[0], (const uint8_t *)r->p[2]);
        break;
    case HG_COLSUM: host_colsum(c, F(0), CF(1), r->i[0], r->i[1], r->i[2]); break;
    case HG_BROADCAST: host_broadcast(c, F(0), CF(1), r->i[0], r->i[1], r->i[2]); break;
    case HG_RESNORM_BWD:
        host_resnorm_bwd(c, F(0), r->i[0], CF(1), CF(2), CF(3), F(4), F(5), r->i[1], r->i[2]);
        break;
    case HG_LOSS:
        host_loss(c, CF(0), CF(1), r->i[0], r->i[1], r->i[2], (const int32_t *)r->p[2],
                  (const uint8_t *)r->p[3], CF(4), r->f[0], F(5), F(6), (eisnet_cu_sums *)r->p[7]);
        break;
    case HG_SUMSQ: host_sumsq(c, CF(0), r->z, (eisnet_cu_sums *)r->p[1]); break;
    case HG_ADAMW:
        host_adamw(c, &r->k, (const eisnet_adamw_consts *)r->p[0], r->f[0],
                   (const eisnet_cu_sums *)r->p[1], F(2), CF(3), F(4), F(5), r->z);
        break;
    case HG_ZERO: host_zero(c, (void *)r->p[0], r->z); break;
    default: fail_msg("unknown recorded op %d", r->op);
    }
}
#undef F
#undef CF

static int hg_begin(void *ctx)
{
    (void)ctx;
    assert_null(hg_cur);
    hg_cur = calloc(1, sizeof *hg_cur);
    assert_non_null(hg_cur);
    return 0;
}
static void *hg_end(void *ctx)
{
    (void)ctx;
    hg_graph *g = hg_cur;
    hg_cur = NULL;
    return g;
}
static int hg_launch(void *ctx, void *graph)
{
    const hg_graph *g = graph;
    for (int j = 0; j < g->n; j++) hg_run(ctx, &g->recs[j]);
    hg_launches++;
    return 0;
}
static void hg_free(void *ctx, void *graph)
{
    (void)ctx;
    hg_graph *g = graph;
    if (g) free(g->recs);
    free(g);
}

static const eisnet_cu_ops host_graph_ops = {
    .name = "host+graphs",
    .ctx_new = host_ctx_new,
    .ctx_free = host_ctx_free,
    .alloc = host_alloc,
    .release = host_release,
    .upload = host_copy,
    .download = host_copy,
    .zero = hg_zero,
    .copy = host_copy_d2d,
    .check = host_check,
    .gemm = hg_gemm,
    .ln_relu_dropout_fwd = hg_ln_fwd,
    .relu_dropout_ln_bwd = hg_ln_bwd,
    .bias_relu_dropout_fwd = hg_bias_relu,
    .relu_dropout_bwd_inplace = hg_relu_bwd,
    .rows_dot = hg_rows_dot,
    .softmax_rows = hg_softmax,
    .colsum_add = hg_colsum,
    .broadcast_rows = hg_broadcast,
    .resnorm_out_bwd = hg_resnorm_bwd,
    .loss = hg_loss,
    .grad_sumsq = hg_sumsq,
    .adamw = hg_adamw,
    .graph_begin = hg_begin,
    .graph_end = hg_end,
    .graph_launch = hg_launch,
    .graph_free = hg_free,
};

#endif
