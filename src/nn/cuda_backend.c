/* The CUDA backend of eisnet/backend.h: the backend's ops table mapped onto
 * the device operations of cuda_ops.h (src/nn/cuda_*.cu).
 *
 * One block of rows per pass (the GPU parallelises inside each operation),
 * one gradient buffer, no row selection (every head runs on every row, as
 * the interface allows). Operations are queued on one stream; xent and
 * clip_adamw wait for their few bytes of results (the loss sums, the
 * gradient norm), everything else stays on the device. The mapping is
 * written against any operation table, so that the tests run it on a host
 * table without a GPU (tests/test_cuda_backend.c). */
#include "eisnet/backend.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_ops.h"
#include "eisnet/cuda.h"
#include "eisnet/error.h"

typedef struct {
    const eisnet_cu_ops *T;
    void *dev;            /* the table's context */
    eisnet_cu_sums *sums; /* device: what xent and clip_adamw reduce into */
} cu_state;

static cu_state *st(const eisnet_backend *be) { return (cu_state *)be->ctx; }

static void be_free(eisnet_backend *be)
{
    cu_state *s = st(be);
    if (s) {
        if (s->dev) {
            s->T->release(s->dev, s->sums);
            s->T->ctx_free(s->dev);
        }
        free(s);
    }
    free(be);
}

static int be_supports_op(const eisnet_backend *be, eisnet_op op)
{
    (void)be;
    return op >= 0 && op < EISNET_OP_COUNT && op != EISNET_OP_GATHER_ROWS &&
           op != EISNET_OP_SCATTER_ROWS;
}

static void *be_alloc(eisnet_backend *be, size_t bytes) { return st(be)->T->alloc(st(be)->dev, bytes); }

static void be_free_buffer(eisnet_backend *be, void *p)
{
    if (p) st(be)->T->release(st(be)->dev, p);
}

/* failed copies are reported again by the next sync */
static void be_upload(eisnet_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)st(be)->T->upload(st(be)->dev, dst, src, bytes);
}

static void be_download(eisnet_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)st(be)->T->download(st(be)->dev, dst, src, bytes);
}

static void be_zero(eisnet_backend *be, void *p, size_t bytes)
{
    (void)st(be)->T->zero(st(be)->dev, p, bytes);
}

static void be_copy(eisnet_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)st(be)->T->copy(st(be)->dev, dst, src, bytes);
}

static int be_sync(eisnet_backend *be) { return st(be)->T->check(st(be)->dev); }

static float be_clip_adamw(eisnet_backend *be, const eisnet_step_args *a);

/* the whole batch as one block, the gradients in place */
static int be_run_rows(eisnet_backend *be, const eisnet_rows_pass *pass)
{
    if (!pass || !pass->fn || pass->B < 1) return eisnet_set_error("cuda: empty pass");
    if (pass->grads && pass->zero_grads) be_zero(be, pass->grads, pass->n_grads * sizeof(float));
    pass->fn(pass->arg, be, 0, pass->B, pass->grads);
    if (pass->step) {
        const float norm = be_clip_adamw(be, pass->step);
        if (pass->norm) *pass->norm = norm;
    }
    return be_sync(be);
}

static void be_gemm(eisnet_backend *be, int ta, int tb, int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc)
{
    st(be)->T->gemm(st(be)->dev, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void be_bias_rows(eisnet_backend *be, float *C, int ldc, const float *bias, int B, int n)
{
    st(be)->T->broadcast_rows(st(be)->dev, C, bias, B, n, ldc);
}

static void be_colsum_add(eisnet_backend *be, float *db, const float *g, int B, int n, int ld)
{
    st(be)->T->colsum_add(st(be)->dev, db, g, B, n, ld);
}

static void be_ln_fwd(eisnet_backend *be, float *out, float *mean, float *rstd, const float *in,
                      const float *in_bias, const float *weight, const float *bias, int B, int C,
                      float p, uint64_t key, uint64_t idx0)
{
    st(be)->T->ln_relu_dropout_fwd(st(be)->dev, out, mean, rstd, in, in_bias, weight, bias, B, C, p,
                                   key, NULL, idx0);
}

static void be_ln_bwd(eisnet_backend *be, float *din, float *dweight, float *dbias,
                      const float *dout, const float *out, float scale, const float *in,
                      const float *in_bias, const float *weight, const float *mean,
                      const float *rstd, int B, int C, float *din_colsum)
{
    st(be)->T->relu_dropout_ln_bwd(st(be)->dev, din, dweight, dbias, dout, out, scale, in, in_bias,
                                   weight, mean, rstd, B, C, din_colsum);
}

static void be_bias_relu_dropout_fwd(eisnet_backend *be, float *out, const float *in,
                                     const float *bias, int B, int n, int ld, float p,
                                     uint64_t key, uint64_t idx0)
{
    st(be)->T->bias_relu_dropout_fwd(st(be)->dev, out, in, bias, B, n, ld, p, key, NULL, idx0);
}

static void be_relu_dropout_bwd_inplace(eisnet_backend *be, float *d, const float *out, int B,
                                        int n, int ld, float scale)
{
    st(be)->T->relu_dropout_bwd_inplace(st(be)->dev, d, out, B, n, ld, scale);
}

static void be_rows_dot(eisnet_backend *be, float *out, const float *A, int lda, const float *w,
                        const float *bias, int B, int K)
{
    st(be)->T->rows_dot(st(be)->dev, out, A, lda, w, bias, B, K);
}

static void be_rows_dot_bwd(eisnet_backend *be, float *dA, const float *A, int lda, const float *w,
                            const float *dout, float *dw, float *dbias, int B, int K)
{
    st(be)->T->resnorm_out_bwd(st(be)->dev, dA, lda, A, w, dout, dw, dbias, B, K);
}

static void be_softmax_rows(eisnet_backend *be, float *probs, const float *logits, long rows,
                            int G, const uint8_t *sel)
{
    st(be)->T->softmax_rows(st(be)->dev, probs, logits, rows, G, sel);
}

static void be_xent(eisnet_backend *be, const eisnet_xent_args *a, eisnet_xent_result *r)
{
    cu_state *s = st(be);
    eisnet_cu_sums h;
    if (a->P > EISNET_CU_MAX_HEADS) { /* the model allows no more */
        eisnet_set_error("cuda: %d heads (at most %d)", a->P, EISNET_CU_MAX_HEADS);
        if (r) r->ce_sum = r->se_sum = NAN;
        return;
    }
    s->T->loss(s->dev, a->logits, a->resnorm, a->B, a->P, a->G, a->target, a->missing,
               a->resnorm_target, a->resnorm_weight, a->dlogits, a->dresnorm, s->sums);
    if (s->T->download(s->dev, &h, s->sums, EISNET_CU_SUMS_BYTES(a->P))) {
        if (r) r->ce_sum = r->se_sum = NAN;
        return;
    }
    if (!r) return;
    r->ce_sum = h.ce_sum;
    r->se_sum = h.se_sum;
    for (int k = 0; k < a->P; k++) {
        if (r->hits) r->hits[k] += h.hc[k];
        if (r->counted) r->counted[k] += h.hc[a->P + k];
    }
}

static float be_clip_adamw(eisnet_backend *be, const eisnet_step_args *a)
{
    cu_state *s = st(be);
    double ss = NAN;
    s->T->grad_sumsq(s->dev, a->grads, a->n, s->sums);
    s->T->adamw(s->dev, &a->k, NULL, a->max_grad_norm, s->sums, a->params, a->grads, a->m, a->v,
                a->n);
    if (s->T->download(s->dev, &ss, &s->sums->sumsq, sizeof ss)) return NAN;
    return (float)sqrt(ss);
}

static const eisnet_backend_ops cuda_backend_ops = {
    .free = be_free,
    .supports_op = be_supports_op,
    .alloc = be_alloc,
    .free_buffer = be_free_buffer,
    .upload = be_upload,
    .download = be_download,
    .zero = be_zero,
    .copy = be_copy,
    .sync = be_sync,
    .run_rows = be_run_rows,
    .gemm = be_gemm,
    .bias_rows = be_bias_rows,
    .colsum_add = be_colsum_add,
    .ln_relu_dropout_fwd = be_ln_fwd,
    .ln_relu_dropout_bwd = be_ln_bwd,
    .bias_relu_dropout_fwd = be_bias_relu_dropout_fwd,
    .relu_dropout_bwd_inplace = be_relu_dropout_bwd_inplace,
    .rows_dot = be_rows_dot,
    .rows_dot_bwd = be_rows_dot_bwd,
    .softmax_rows = be_softmax_rows,
    .xent = be_xent,
    .clip_adamw = be_clip_adamw,
    .gather_rows = NULL,
    .scatter_rows = NULL,
};

eisnet_backend *eisnet_cu_backend_new(const eisnet_cu_ops *ops, int device)
{
    eisnet_backend *be = calloc(1, sizeof *be);
    cu_state *s = calloc(1, sizeof *s);
    if (!be || !s) {
        free(be);
        free(s);
        eisnet_set_error("cuda: out of memory");
        return NULL;
    }
    be->ops = &cuda_backend_ops;
    be->name = "cuda";
    be->host_visible = 0;
    be->threads = 1;
    be->refs = 1;
    be->ctx = s;
    s->T = ops;
    char why[256] = "";
    s->dev = ops->ctx_new(device, why, sizeof why);
    if (!s->dev) {
        eisnet_set_error("cuda: %s", why);
        be_free(be);
        return NULL;
    }
    s->sums = ops->alloc(s->dev, sizeof *s->sums);
    if (!s->sums) {
        be_free(be);
        return NULL;
    }
    return be;
}

/* ---- registry entry ------------------------------------------------------------- */

static int cuda_available(char *why, size_t why_size) { return eisnet_cuda_available(why, why_size); }

static eisnet_backend *cuda_create(const eisnet_backend_options *opt)
{
#ifdef EISNET_HAVE_CUDA
    return eisnet_cu_backend_new(&eisnet_cu_ops_cuda, opt ? opt->device : 0);
#else
    (void)opt;
    eisnet_set_error("cuda: not built into this eisnet (configure with -DEISNET_CUDA=ON on a machine with the CUDA toolkit)");
    return NULL;
#endif
}

/* "auto" keeps the CPU (priority 10) until the GPU's figures have been
 * measured against it (docs/cuda.md): single predictions are expected to
 * stay faster on the CPU. --backend cuda asks for it explicitly. */
const eisnet_backend_reg eisnet_backend_reg_cuda = {
    .name = "cuda",
    .description = "NVIDIA GPU: cuBLAS products, fused kernels, the training step on the device",
    .auto_priority = 5,
    .available = cuda_available,
    .create = cuda_create,
};
