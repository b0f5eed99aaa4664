/* The CPU backend: the kernels of src/nn/kernels_cpu.c behind the ops table,
 * host memory, and passes split over OpenMP threads.
 *
 * On small machines, splitting a batch across threads beats threading each
 * small product: run_rows gives each thread one contiguous block of rows
 * (at least MIN_ROWS_PER_THREAD), on which the model's pass calls these
 * single-threaded kernels. Weight gradients go into one copy of the gradient
 * array per thread (held in this context), summed at the end; with an
 * optimizer step, reduction, norm, clipping and AdamW run in the same
 * thread team, each thread on its own share of the array, so the data stays
 * in its core's cache and no further team is started. Results do not depend
 * on the split except for float summation order (dropout masks are a hash of
 * the global element index). */
#include "eisnet/backend.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend_internal.h"
#include "eisnet/error.h"
#include "kernels_cpu.h"

#ifdef EISNET_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

/* Fewer rows than this per thread are not worth a thread. */
#define MIN_ROWS_PER_THREAD 32
/* Parallel loops over the parameters pay off only for big arrays. */
#define PAR_MIN 65536

typedef struct {
    pthread_mutex_t lock; /* one gradient pass at a time uses the buffers below */
    float *tgrads;        /* per-thread partial weight gradients, threads 1 .. */
    size_t tgrads_n;      /* floats allocated */
    double *tsums;        /* per-thread sums of squares */
    int n_tsums;
} cpu_ctx;

static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;

static void blas_init(void)
{
#if defined(EISNET_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
    /* each thread runs products on its own rows; OpenBLAS threading inside
     * those would oversubscribe the cores */
    openblas_set_num_threads(1);
#endif
}

static int all_cores(void)
{
#ifdef EISNET_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int threads_for(const eisnet_backend *be, int B)
{
    int by_rows = B / MIN_ROWS_PER_THREAD;
    if (by_rows < 1) by_rows = 1;
    return be->threads < by_rows ? be->threads : by_rows;
}

/* ---- buffers ------------------------------------------------------------------ */

static void *cpu_alloc(eisnet_backend *be, size_t bytes)
{
    (void)be;
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) eisnet_set_error("backend cpu: out of memory for %zu bytes", bytes);
    return p;
}

static void cpu_free_buffer(eisnet_backend *be, void *p) { (void)be; free(p); }

static void cpu_memcpy(eisnet_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes && dst != src) memcpy(dst, src, bytes);
}

static void cpu_zero(eisnet_backend *be, void *p, size_t bytes)
{
    (void)be;
    if (bytes) memset(p, 0, bytes);
}

static int cpu_sync(eisnet_backend *be) { (void)be; return 0; }
static int cpu_supports(const eisnet_backend *be, eisnet_op op) { (void)be; (void)op; return 1; }

/* ---- operations ------------------------------------------------------------------ */

static void cpu_gemm(eisnet_backend *be, int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc)
{
    if (be->matmul == EISNET_MATMUL_BF16 &&
        eisnet_cpu_gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
        return;
    eisnet_cpu_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void cpu_bias_rows(eisnet_backend *be, float *C, int ldc, const float *bias, int B, int n)
{
    (void)be;
    for (int b = 0; b < B; b++) memcpy(C + (size_t)b * ldc, bias, (size_t)n * sizeof(float));
}

static void cpu_colsum_add(eisnet_backend *be, float *db, const float *g, int B, int n, int ld)
{
    (void)be;
    for (int b = 0; b < B; b++) {
        const float *row = g + (size_t)b * ld;
        for (int i = 0; i < n; i++) db[i] += row[i];
    }
}

static void cpu_ln_fwd(eisnet_backend *be, float *out, float *mean, float *rstd, const float *in,
                       const float *in_bias, const float *weight, const float *bias, int B, int C,
                       float p, uint64_t key, uint64_t idx0)
{
    (void)be;
    eisnet_cpu_layernorm_relu_dropout_forward(out, mean, rstd, in, in_bias, weight, bias, B, C, p, key,
                                              idx0);
}

static void cpu_ln_bwd(eisnet_backend *be, float *din, float *dweight, float *dbias, const float *dout,
                       const float *out, float scale, const float *in, const float *in_bias,
                       const float *weight, const float *mean, const float *rstd, int B, int C,
                       float *din_colsum)
{
    (void)be;
    eisnet_cpu_relu_dropout_layernorm_backward(din, dweight, dbias, dout, out, scale, in, in_bias, weight,
                                               mean, rstd, B, C, din_colsum);
}

static void cpu_bias_relu_dropout_fwd(eisnet_backend *be, float *out, const float *in, const float *bias,
                                      int B, int n, int ld, float p, uint64_t key, uint64_t idx0)
{
    (void)be;
    eisnet_cpu_bias_relu_dropout_forward(out, in, bias, B, n, ld, p, key, idx0);
}

static void cpu_relu_dropout_bwd_inplace(eisnet_backend *be, float *d, const float *out, int B, int n,
                                         int ld, float scale)
{
    (void)be;
    eisnet_cpu_relu_dropout_backward_inplace(d, out, B, n, ld, scale);
}

static void cpu_rows_dot(eisnet_backend *be, float *out, const float *A, int lda, const float *w,
                         const float *bias, int B, int K)
{
    (void)be;
    eisnet_cpu_rows_dot(out, A, lda, w, *bias, B, K);
}

static void cpu_rows_dot_bwd(eisnet_backend *be, float *dA, const float *A, int lda, const float *w,
                             const float *dout, float *dw, float *dbias, int B, int K)
{
    (void)be;
    for (int b = 0; b < B; b++) {
        const float g = dout[b];
        const float *ar = A + (size_t)b * lda;
        float *dar = dA + (size_t)b * lda;
        for (int j = 0; j < K; j++) {
            dar[j] = g * w[j];
            dw[j] += g * ar[j];
        }
        *dbias += g;
    }
}

static void cpu_softmax_rows(eisnet_backend *be, float *probs, const float *logits, long rows, int G,
                             const uint8_t *sel)
{
    (void)be;
    eisnet_cpu_softmax_rows(probs, logits, rows, G, sel);
}

static void cpu_xent(eisnet_backend *be, const eisnet_xent_args *a, eisnet_xent_result *r)
{
    eisnet_xent_host(a, r, threads_for(be, a->B));
}

#ifdef EISNET_HAVE_OPENMP
/* the [i0, i1) share of thread t of nt, in whole blocks of `unit` floats */
static void split(size_t n, size_t unit, int t, int nt, size_t *i0, size_t *i1)
{
    const size_t blocks = (n + unit - 1) / unit;
    *i0 = blocks * (size_t)t / (size_t)nt * unit;
    *i1 = blocks * (size_t)(t + 1) / (size_t)nt * unit;
    if (*i0 > n) *i0 = n;
    if (*i1 > n) *i1 = n;
}
#endif

/* the norm, then the clipped AdamW step, each over the threads when the
 * array is big */
static float cpu_clip_adamw(eisnet_backend *be, const eisnet_step_args *a)
{
    const size_t n = a->n;
    const int T = n >= PAR_MIN ? be->threads : 1;
    double ss = 0.0;
    if (T <= 1) {
        ss = eisnet_grad_sumsq(a->grads, 0, n);
    } else {
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(T) reduction(+ : ss)
        {
            size_t i0, i1;
            split(n, 64, omp_get_thread_num(), omp_get_num_threads(), &i0, &i1);
            ss += eisnet_grad_sumsq(a->grads, i0, i1);
        }
#endif
    }
    const float norm = (float)sqrt(ss);
    eisnet_adamw_consts k = a->k;
    k.grad_scale = a->max_grad_norm > 0.0f ? eisnet_clip_coef(norm, a->max_grad_norm) : 1.0f;
    if (T <= 1) {
        eisnet_adamw_range(&k, a->params, a->grads, a->m, a->v, 0, n);
    } else {
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(T)
        {
            size_t i0, i1;
            split(n, 64, omp_get_thread_num(), omp_get_num_threads(), &i0, &i1);
            eisnet_adamw_range(&k, a->params, a->grads, a->m, a->v, i0, i1);
        }
#endif
    }
    return norm;
}

static void cpu_gather_rows(eisnet_backend *be, float *dst, int ldd, const float *src, int lds,
                            const int *rows, int n, int width)
{
    (void)be;
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * ldd, src + (size_t)rows[i] * lds, (size_t)width * sizeof(float));
}

static void cpu_scatter_rows(eisnet_backend *be, float *dst, int ldd, const float *src, int lds,
                             const int *rows, int n, int width, int accumulate)
{
    (void)be;
    for (int i = 0; i < n; i++) {
        float *d = dst + (size_t)rows[i] * ldd;
        const float *s = src + (size_t)i * lds;
        if (accumulate)
            for (int j = 0; j < width; j++) d[j] += s[j];
        else
            memcpy(d, s, (size_t)width * sizeof(float));
    }
}

/* ---- passes over blocks of rows ---------------------------------------------------- */

/* one block on the calling thread */
static int run_one_block(eisnet_backend *be, const eisnet_rows_pass *p)
{
    if (p->grads && p->zero_grads) memset(p->grads, 0, p->n_grads * sizeof(float));
    p->fn(p->arg, be, 0, p->B, p->grads);
    if (p->grads && p->step) {
        const float norm = cpu_clip_adamw(be, p->step);
        if (p->norm) *p->norm = norm;
    }
    return 0;
}

#ifdef EISNET_HAVE_OPENMP
/* room for T-1 gradient copies and T partial sums */
static int reserve(cpu_ctx *c, int T, size_t n)
{
    const size_t want = (size_t)(T - 1) * n;
    if (c->tgrads_n < want) {
        float *p = realloc(c->tgrads, want * sizeof(float));
        if (!p) return eisnet_set_error("backend cpu: out of memory for per-thread gradients");
        c->tgrads = p;
        c->tgrads_n = want;
    }
    if (c->n_tsums < T) {
        double *p = realloc(c->tsums, (size_t)T * sizeof(double));
        if (!p) return eisnet_set_error("backend cpu: out of memory for per-thread sums");
        c->tsums = p;
        c->n_tsums = T;
    }
    return 0;
}

/* A gradient pass over T threads: block t accumulates into its own copy
 * (thread 0 into grads), then each thread sums its share of the copies into
 * grads and, with a step, measures and updates that share. */
static void grad_team(eisnet_backend *be, const eisnet_rows_pass *p, cpu_ctx *c, int T)
{
    const size_t n = p->n_grads;
    float *tg = c->tgrads, *grads = p->grads;
    double *tsums = c->tsums;
    const eisnet_step_args *step = p->step;
    const int zero = p->zero_grads;
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *gr = t == 0 ? grads : tg + (size_t)(t - 1) * n;
        size_t i0, i1;
        split(n, 16, t, nt, &i0, &i1); /* whole cache lines */
        if (zero) memset(grads + i0, 0, (i1 - i0) * sizeof(float));
        if (t > 0) memset(gr, 0, n * sizeof(float));
        if (zero) {
#pragma omp barrier
        }
        int b0 = (int)((int64_t)p->B * t / nt), b1 = (int)((int64_t)p->B * (t + 1) / nt);
        if (b1 > b0) p->fn(p->arg, be, b0, b1 - b0, gr);
#pragma omp barrier
        for (int u = 0; u < nt - 1; u++) { /* contiguous: vectorised */
            const float *src = tg + (size_t)u * n;
            for (size_t i = i0; i < i1; i++) grads[i] += src[i];
        }
        if (step) {
            tsums[t] = eisnet_grad_sumsq(grads, i0, i1);
#pragma omp barrier
            double ss = 0.0; /* the same order on every thread: the same coef */
            for (int u = 0; u < nt; u++) ss += tsums[u];
            const float norm = (float)sqrt(ss);
            eisnet_adamw_consts k = step->k;
            k.grad_scale = step->max_grad_norm > 0.0f ? eisnet_clip_coef(norm, step->max_grad_norm) : 1.0f;
            eisnet_adamw_range(&k, step->params, grads, step->m, step->v, i0, i1);
            if (t == 0 && p->norm) *p->norm = norm;
        }
    }
}
#endif

static int cpu_run_rows(eisnet_backend *be, const eisnet_rows_pass *p)
{
    const int T = threads_for(be, p->B);
    if (T <= 1) return run_one_block(be, p);
#ifdef EISNET_HAVE_OPENMP
    if (!p->grads) {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int b0 = (int)((int64_t)p->B * t / nt), b1 = (int)((int64_t)p->B * (t + 1) / nt);
            if (b1 > b0) p->fn(p->arg, be, b0, b1 - b0, NULL);
        }
        return 0;
    }
    cpu_ctx *c = be->ctx;
    pthread_mutex_lock(&c->lock);
    int rc = reserve(c, T, p->n_grads);
    if (!rc) grad_team(be, p, c, T);
    pthread_mutex_unlock(&c->lock);
    return rc;
#else
    return run_one_block(be, p);
#endif
}

/* ---- construction and registration --------------------------------------------------- */

static void cpu_ctx_release(cpu_ctx *c)
{
    free(c->tgrads);
    free(c->tsums);
    pthread_mutex_destroy(&c->lock);
}

static void cpu_free(eisnet_backend *be)
{
    cpu_ctx_release(be->ctx);
    free(be->ctx);
    free(be);
}

static const eisnet_backend_ops cpu_ops = {
    .free = cpu_free,
    .supports_op = cpu_supports,
    .alloc = cpu_alloc,
    .free_buffer = cpu_free_buffer,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .zero = cpu_zero,
    .copy = cpu_memcpy,
    .sync = cpu_sync,
    .run_rows = cpu_run_rows,
    .gemm = cpu_gemm,
    .bias_rows = cpu_bias_rows,
    .colsum_add = cpu_colsum_add,
    .ln_relu_dropout_fwd = cpu_ln_fwd,
    .ln_relu_dropout_bwd = cpu_ln_bwd,
    .bias_relu_dropout_fwd = cpu_bias_relu_dropout_fwd,
    .relu_dropout_bwd_inplace = cpu_relu_dropout_bwd_inplace,
    .rows_dot = cpu_rows_dot,
    .rows_dot_bwd = cpu_rows_dot_bwd,
    .softmax_rows = cpu_softmax_rows,
    .xent = cpu_xent,
    .clip_adamw = cpu_clip_adamw,
    .gather_rows = cpu_gather_rows,
    .scatter_rows = cpu_scatter_rows,
};

static int cpu_supports_matmul(eisnet_matmul m)
{
    return m == EISNET_MATMUL_FP32 || (m == EISNET_MATMUL_BF16 && eisnet_cpu_amx_available());
}

static void cpu_init(eisnet_backend *be, cpu_ctx *c, int threads, eisnet_matmul matmul)
{
    pthread_once(&g_blas_once, blas_init);
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    be->ops = &cpu_ops;
    be->name = "cpu";
    be->host_visible = 1;
    be->threads = threads > 0 ? threads : all_cores();
    be->matmul = cpu_supports_matmul(matmul) ? matmul : EISNET_MATMUL_FP32;
#ifndef EISNET_HAVE_OPENMP
    be->threads = 1;
#endif
    be->ctx = c;
}

static eisnet_backend *cpu_create(const eisnet_backend_options *opt)
{
    eisnet_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        eisnet_set_error("backend cpu: out of memory");
        return NULL;
    }
    cpu_init(be, c, opt ? opt->threads : 0, opt ? opt->matmul : EISNET_MATMUL_FP32);
    return be;
}

static eisnet_backend g_default;
static cpu_ctx g_default_ctx;
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;

static void default_init(void) { cpu_init(&g_default, &g_default_ctx, 0, EISNET_MATMUL_FP32); }

eisnet_backend *eisnet_backend_default(void)
{
    pthread_once(&g_default_once, default_init);
    return &g_default;
}

static int cpu_available(char *why, size_t why_size)
{
    (void)why;
    (void)why_size;
    return 1;
}

const eisnet_backend_reg eisnet_backend_reg_cpu = {
    .name = "cpu",
    .description = "this machine's cores: BLAS / AVX-512 products, OpenMP over rows",
    .auto_priority = 10,
    .available = cpu_available,
    .create = cpu_create,
    .supports_matmul = cpu_supports_matmul,
};
