/* eisnet/backend.h: where the network's arithmetic runs.
 *
 * A backend is an ops table plus a context (ggml-like). The model
 * (src/nn/model.c) is written once against this table: it allocates its
 * parameters, gradients, optimizer moments and activations with the
 * backend's buffer operations, copies host data only at the edges (loading
 * weights, uploading a batch, downloading outputs) and runs every pass as
 * calls of the fused operations below.
 *
 * Backends built in (see eisnet_backend_new):
 *   "ref"   plain loops, obviously correct; the reference every other
 *           backend is tested against (tests/test_backend_ops.c)
 *   "cpu"   the fast path: CBLAS / AVX-512 products, fused element-wise
 *           passes, OpenMP over blocks of rows with one gradient copy per
 *           thread (the thread count is a creation option)
 *   "auto"  the available backend with the highest priority
 *
 * Adding a backend: one new file that defines
 *     const eisnet_backend_reg eisnet_backend_reg_NAME = {...};
 * and one line EISNET_BACKEND(NAME) in src/nn/backend_list.h.
 *
 * Conventions (llm.c-like). Every pointer an operation takes is backend
 * memory (from alloc, or an offset into it) unless the comment says "host".
 * All tensors are float32, row-major; "ld" is a leading dimension in
 * elements. Operations are queued in order on the backend and may run
 * asynchronously; download and sync wait for them. An operation itself is
 * single-threaded on the CPU backends and may be called concurrently on
 * disjoint outputs from the blocks of one run_rows (see there). Operations
 * do not fail; a backend that can fail asynchronously (a GPU) reports its
 * first error from sync, download or run_rows. */
#ifndef EISNET_BACKEND_H
#define EISNET_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "eisnet/kernels.h"
#include "eisnet/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eisnet_backend eisnet_backend;

/* Precision of the matrix products (the gemm op). */
typedef enum {
    EISNET_MATMUL_FP32 = 0, /* float32 throughout: every prediction, the default */
    /* bfloat16 operands, float32 sums, where the CPU backend has AMX tiles
     * (products with every dimension >= 32); elsewhere float32. For
     * training: ~2x the steps per second, each operand rounded (at most 2^-8 relative). */
    EISNET_MATMUL_BF16 = 1,
} eisnet_matmul;

/* The operations of the table, for supports_op and the test of every op. */
typedef enum {
    EISNET_OP_GEMM,
    EISNET_OP_BIAS_ROWS,
    EISNET_OP_COLSUM_ADD,
    EISNET_OP_LN_RELU_DROPOUT_FWD,
    EISNET_OP_LN_RELU_DROPOUT_BWD,
    EISNET_OP_BIAS_RELU_DROPOUT_FWD,
    EISNET_OP_RELU_DROPOUT_BWD_INPLACE,
    EISNET_OP_ROWS_DOT,
    EISNET_OP_ROWS_DOT_BWD,
    EISNET_OP_SOFTMAX_ROWS,
    EISNET_OP_XENT,
    EISNET_OP_CLIP_ADAMW,
    EISNET_OP_RUN_ROWS,
    /* Row selection (gather / scatter by a HOST index list). Optional: a
     * backend without it runs every head on every row, which gives the same
     * results up to float rounding (the loss gives unselected heads a zero
     * gradient; predictions of unselected heads are zeroed by softmax_rows). */
    EISNET_OP_GATHER_ROWS,
    EISNET_OP_SCATTER_ROWS,
    EISNET_OP_COUNT
} eisnet_op;

/* "gemm", "xent", ...: the op's name in reports; NULL outside the enum. */
const char *eisnet_op_name(eisnet_op op);

/* ---- argument blocks of the larger operations ------------------------------ */

/* Cross-entropy of the classification heads plus the weighted squared error
 * of the resnorm head, over B rows of P heads of G classes (the model's loss;
 * semantics of eisnet_loss_compute in eisnet/model.h). */
typedef struct {
    const float *logits;         /* (B, P, G) */
    const float *resnorm;        /* (B) */
    const int32_t *target;       /* (B, P) class per head, read where missing */
    const uint8_t *missing;      /* (B, P) 1 = the head is trained for the row */
    const float *resnorm_target; /* (B) */
    int B, P, G;
    float resnorm_weight;
    float *dlogits;  /* (B, P, G) or NULL: overwritten with dloss/dlogits */
    float *dresnorm; /* (B) or NULL: overwritten with dloss/dresnorm */
} eisnet_xent_args;

/* What xent returns, on the host. hits / counted (P each, host, may be NULL)
 * are INCREMENTED by the per-head top-1 hits and missing entries. */
typedef struct {
    double ce_sum; /* sum over rows of the mean CE over the row's missing heads */
    double se_sum; /* sum over rows of (resnorm - target)^2 */
    int64_t *hits, *counted;
} eisnet_xent_result;

/* One optimizer step: torch's clip_grad_norm_(max_grad_norm) then
 * AdamW.step(), the clip applied as a factor while reading the gradients
 * (grads are not changed). k from eisnet_adamw_begin (k.grad_scale is
 * ignored: the clip sets it). */
typedef struct {
    float *params;
    const float *grads;
    float *m, *v; /* AdamW moments */
    size_t n;
    eisnet_adamw_consts k;
    float max_grad_norm; /* <= 0: no clipping */
} eisnet_step_args;

/* ---- run over blocks of rows --------------------------------------------------
 * A pass over a batch is written once for a range of rows: fn(arg, be, b0,
 * nb, grads) handles rows b0 .. b0+nb-1. run_rows splits 0 .. B-1 into
 * contiguous blocks and calls fn once per block: the reference backend and a
 * GPU backend use one block (the whole batch; a GPU's ops launch kernels),
 * the CPU backend one block per thread (threads of its context, at least 32
 * rows each), concurrently. Element-wise outputs of different blocks are
 * disjoint by construction; the shared weight gradients are not, so:
 *   grads NULL: a forward pass; fn gets grads NULL.
 *   grads set:  each block gets its own gradient buffer of n_grads floats
 *               (the first block may get grads itself), into which fn
 *               ACCUMULATES; after all blocks, the sum of the blocks'
 *               buffers is added to grads (zeroed first when zero_grads).
 *   step set:   afterwards one optimizer step on grads (step->grads ==
 *               grads); *norm (host, may be NULL) receives the gradient norm
 *               before clipping. The CPU backend runs reduction, norm and
 *               update inside the same thread team, each thread on its own
 *               share of the gradient array.
 * Returns 0, or -1 with eisnet_last_error() (out of memory for the
 * per-block buffers, a device error). */
typedef void (*eisnet_rows_fn)(void *arg, eisnet_backend *be, int b0, int nb, float *grads);

typedef struct {
    int B;
    eisnet_rows_fn fn;
    void *arg;
    float *grads;
    size_t n_grads;
    int zero_grads;
    const eisnet_step_args *step;
    float *norm;
} eisnet_rows_pass;

/* ---- the ops table ------------------------------------------------------------- */

typedef struct eisnet_backend_ops {
    /* the context's own teardown (buffers are freed by their owners first) */
    void (*free)(eisnet_backend *be);
    int (*supports_op)(const eisnet_backend *be, eisnet_op op);

    /* buffers: alloc returns zeroed memory or NULL (with eisnet_last_error) */
    void *(*alloc)(eisnet_backend *be, size_t bytes);
    void (*free_buffer)(eisnet_backend *be, void *p); /* NULL is ignored */
    void (*upload)(eisnet_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(eisnet_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*zero)(eisnet_backend *be, void *p, size_t bytes);
    void (*copy)(eisnet_backend *be, void *dst, const void *src, size_t bytes);
    /* waits for queued work: 0, or -1 with the first asynchronous error */
    int (*sync)(eisnet_backend *be);

    int (*run_rows)(eisnet_backend *be, const eisnet_rows_pass *pass);

    /* C (M, N) = beta * C + op(A) @ op(B); beta 0 (C overwritten, its old
     * contents ignored) or 1.
     *   ta == 0: A stored (M, K) at lda; ta != 0: stored (K, M)
     *   tb == 0: B stored (K, N) at ldb; tb != 0: stored (N, K)
     * The model uses (ta, tb) = (0, 1), (0, 0) and (1, 0) only. */
    void (*gemm)(eisnet_backend *be, int ta, int tb, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
    /* C[b][i] = bias[i] for B rows of n at leading dimension ldc */
    void (*bias_rows)(eisnet_backend *be, float *C, int ldc, const float *bias, int B, int n);
    /* db (n) += column sums of g (B rows of n at leading dimension ld) */
    void (*colsum_add)(eisnet_backend *be, float *db, const float *g, int B, int n, int ld);

    /* out (B, C) = dropout(relu(LayerNorm(in + in_bias))) per row: LayerNorm
     * with eps EISNET_LN_EPS, biased variance, affine (weight, bias);
     * mean (B), rstd (B) = 1/sqrt(var + eps) saved for backward; in_bias (C)
     * may be NULL (it is the bias of the Linear before, folded in). Dropout:
     * element (b, i) is dropped when eisnet_dropout_drop(key, idx0 + b*C + i,
     * eisnet_dropout_threshold(p)), kept ones scaled by 1/(1-p); p 0: none. */
    void (*ln_relu_dropout_fwd)(eisnet_backend *be, float *out, float *mean, float *rstd,
                                const float *in, const float *in_bias, const float *weight,
                                const float *bias, int B, int C, float p, uint64_t key,
                                uint64_t idx0);
    /* Its backward. dout: gradient w.r.t. out; out: the forward's output (an
     * element passed iff out > 0, slope scale = 1/(1-p)). din (B, C) is
     * OVERWRITTEN with d/d(in); dweight, dbias (C) +=; din_colsum (C) may be
     * NULL, else += the column sums of din (the gradient of in_bias). */
    void (*ln_relu_dropout_bwd)(eisnet_backend *be, float *din, float *dweight, float *dbias,
                                const float *dout, const float *out, float scale,
                                const float *in, const float *in_bias, const float *weight,
                                const float *mean, const float *rstd, int B, int C,
                                float *din_colsum);
    /* out[b][i] = dropout(relu(in[b][i] + bias[i])) for B rows of n at
     * leading dimension ld (in and out), element index idx0 + b*n + i; out
     * may equal in. */
    void (*bias_relu_dropout_fwd)(eisnet_backend *be, float *out, const float *in,
                                  const float *bias, int B, int n, int ld, float p, uint64_t key,
                                  uint64_t idx0);
    /* d = out > 0 ? d * scale : 0 in place, B rows of n at leading dimension ld */
    void (*relu_dropout_bwd_inplace)(eisnet_backend *be, float *d, const float *out, int B, int n,
                                     int ld, float scale);

    /* A Linear with one output (the resnorm head's last layer):
     * out[b] = *bias + A[b, 0:K] . w, A at leading dimension lda */
    void (*rows_dot)(eisnet_backend *be, float *out, const float *A, int lda, const float *w,
                     const float *bias, int B, int K);
    /* Its backward: dA[b, 0:K] = dout[b] * w (OVERWRITTEN, at leading
     * dimension lda), dw (K) += sum_b dout[b] * A[b], *dbias += sum_b dout[b] */
    void (*rows_dot_bwd)(eisnet_backend *be, float *dA, const float *A, int lda, const float *w,
                         const float *dout, float *dw, float *dbias, int B, int K);

    /* probs (rows, G) = softmax of each row of logits (rows, G); rows with
     * sel[i] == 0 are set to 0 (sel, rows bytes, may be NULL: every row). */
    void (*softmax_rows)(eisnet_backend *be, float *probs, const float *logits, long rows, int G,
                         const uint8_t *sel);
    /* The loss, its gradients and its statistics (see eisnet_xent_args). */
    void (*xent)(eisnet_backend *be, const eisnet_xent_args *a, eisnet_xent_result *r);
    /* One clipped AdamW step; returns the gradient norm before clipping. */
    float (*clip_adamw)(eisnet_backend *be, const eisnet_step_args *a);

    /* Row selection (optional; rows is a HOST int array of n row numbers):
     * gather: dst[i, 0:width] = src[rows[i], 0:width]
     * scatter: dst[rows[i], 0:width] (accumulate ? += : =) src[i, 0:width] */
    void (*gather_rows)(eisnet_backend *be, float *dst, int ldd, const float *src, int lds,
                        const int *rows, int n, int width);
    void (*scatter_rows)(eisnet_backend *be, float *dst, int ldd, const float *src, int lds,
                         const int *rows, int n, int width, int accumulate);
} eisnet_backend_ops;

/* A backend: its table and its context. Made by a registry entry's create
 * (which leaves refs 0; eisnet_backend_new sets it to 1), freed with
 * eisnet_backend_free. Models and workspaces hold a reference to their
 * backend, so it lives until the last of them is freed. */
struct eisnet_backend {
    const eisnet_backend_ops *ops;
    const char *name;  /* the registry name */
    int host_visible;  /* 1: buffers are host memory (pointers readable on the host) */
    int threads;       /* worker threads of run_rows (1 for one-block backends) */
    eisnet_matmul matmul; /* what its gemm runs at (set by create) */
    void *ctx;         /* the backend's own state */
    int refs;          /* references (atomic updates in src/nn/backend.c) */
};

/* ---- registry ------------------------------------------------------------------ */

typedef struct {
    int threads;          /* CPU worker threads; <= 0: all cores */
    int device;           /* GPU index (0: the first) */
    eisnet_matmul matmul; /* asked precision; backends without it use float32 */
} eisnet_backend_options;

typedef struct {
    const char *name;        /* "ref", "cpu", "cuda" */
    const char *description; /* one line for help texts */
    int auto_priority;       /* "auto" takes the available entry with the highest */
    /* 1 when create can succeed here (built in, a device present); why (host,
     * may be NULL) gets a short reason when not. */
    int (*available)(char *why, size_t why_size);
    eisnet_backend *(*create)(const eisnet_backend_options *opt);
    /* 1 when its products can run at precision m here; NULL: float32 only */
    int (*supports_matmul)(eisnet_matmul m);
} eisnet_backend_reg;

int eisnet_backend_reg_count(void);
const eisnet_backend_reg *eisnet_backend_reg_get(int i);
const eisnet_backend_reg *eisnet_backend_reg_find(const char *name); /* NULL: unknown */

/* A new backend by name ("ref", "cpu", ..., or "auto"); opt NULL: defaults.
 * NULL with eisnet_last_error() for an unknown or unavailable name. */
eisnet_backend *eisnet_backend_new(const char *name, const eisnet_backend_options *opt);
/* Drops a reference; the last one frees the backend (ops->free). NULL and
 * the default backend are ignored. */
void eisnet_backend_free(eisnet_backend *be);
/* Takes a reference (for objects that keep a backend: models, workspaces);
 * returns be. */
eisnet_backend *eisnet_backend_retain(eisnet_backend *be);

/* The shared CPU backend (all cores) that models use until given another;
 * never freed by callers. */
eisnet_backend *eisnet_backend_default(void);

const char *eisnet_backend_name(const eisnet_backend *be);
/* Threads for host-side work next to a backend (data preparation):
 * requested when > 0, else all cores (1 without OpenMP). */
int eisnet_cpu_threads(int requested);
int eisnet_backend_threads(const eisnet_backend *be);
int eisnet_backend_supports(const eisnet_backend *be, eisnet_op op);
/* The precision its products run at (EISNET_MATMUL_BF16 only when asked and
 * the hardware has it). */
eisnet_matmul eisnet_backend_matmul(const eisnet_backend *be);
/* The precision a backend of that name ("auto" too) would run its products
 * at when asked for `asked`, without creating one: asked where supported,
 * else float32. */
eisnet_matmul eisnet_backend_matmul_for(const char *name, eisnet_matmul asked);
/* "bfloat16 (AMX)" or "float32", for reports */
const char *eisnet_matmul_name(eisnet_matmul m);
/* "bf16" or "fp32" -> *out: 0, or -1 with eisnet_last_error() naming the
 * option `flag` and the value. */
int eisnet_matmul_parse(const char *s, const char *flag, eisnet_matmul *out);

#ifdef __cplusplus
}
#endif
#endif
