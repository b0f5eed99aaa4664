/* The reference backend: every operation of eisnet/backend.h as a plain
 * composition of the reference layer kernels (src/nn/kernels_ref.c) and obvious
 * loops, on host memory, one block per pass. Slow on purpose: it is what
 * tests/test_backend_ops.c checks every other backend against.
 *
 * Option: eisnet_backend_ref_new_device_like() makes one whose buffers are
 * still host memory but declared not host-visible, so that tests can run the
 * model's upload / download edges the way a GPU backend needs them. */
#include "backend_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_internal.h"
#include "eisnet/error.h"
#include "kernels_ref.h"

static void *ref_alloc(eisnet_backend *be, size_t bytes)
{
    (void)be;
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) eisnet_set_error("backend ref: out of memory for %zu bytes", bytes);
    return p;
}

static void ref_free_buffer(eisnet_backend *be, void *p) { (void)be; free(p); }

static void ref_memcpy(eisnet_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

static void ref_zero(eisnet_backend *be, void *p, size_t bytes)
{
    (void)be;
    if (bytes) memset(p, 0, bytes);
}

static int ref_sync(eisnet_backend *be) { (void)be; return 0; }

static int ref_supports(const eisnet_backend *be, eisnet_op op) { (void)be; (void)op; return 1; }

static void ref_free(eisnet_backend *be) { free(be); }

/* C = beta * C + op(A) @ op(B), one dot product per element */
static void ref_gemm(eisnet_backend *be, int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc)
{
    (void)be;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? acc : beta * *c + acc;
        }
}

static void ref_bias_rows(eisnet_backend *be, float *C, int ldc, const float *bias, int B, int n)
{
    (void)be;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) C[(size_t)b * ldc + i] = bias[i];
}

static void ref_colsum_add(eisnet_backend *be, float *db, const float *g, int B, int n, int ld)
{
    (void)be;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) db[i] += g[(size_t)b * ld + i];
}

static float *scratch_floats(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

/* x = in + in_bias, row by row (in_bias NULL: a copy) */
static void add_row_bias(float *x, const float *in, const float *in_bias, int B, int C)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < C; i++)
            x[(size_t)b * C + i] = in[(size_t)b * C + i] + (in_bias ? in_bias[i] : 0.0f);
}

static void ref_ln_relu_dropout_fwd(eisnet_backend *be, float *out, float *mean, float *rstd,
                                    const float *in, const float *in_bias, const float *weight,
                                    const float *bias, int B, int C, float p, uint64_t key,
                                    uint64_t idx0)
{
    (void)be;
    const size_t n = (size_t)B * C;
    float *x = scratch_floats(n), *l = scratch_floats(n);
    if (!x || !l) abort(); /* the reference has no error path: tests only */
    add_row_bias(x, in, in_bias, B, C);
    eisnet_ref_layernorm_forward(l, mean, rstd, x, weight, bias, B, C);
    eisnet_ref_relu_dropout_forward(out, l, n, p, key, idx0);
    free(x);
    free(l);
}

static void ref_ln_relu_dropout_bwd(eisnet_backend *be, float *din, float *dweight, float *dbias,
                                    const float *dout, const float *out, float scale,
                                    const float *in, const float *in_bias, const float *weight,
                                    const float *mean, const float *rstd, int B, int C,
                                    float *din_colsum)
{
    (void)be;
    const size_t n = (size_t)B * C;
    float *x = scratch_floats(n), *dl = calloc(n ? n : 1, sizeof(float));
    if (!x || !dl) abort();
    add_row_bias(x, in, in_bias, B, C);
    eisnet_ref_relu_dropout_backward(dl, dout, out, n, scale);
    memset(din, 0, n * sizeof(float));
    eisnet_ref_layernorm_backward(din, dweight, dbias, dl, x, weight, mean, rstd, B, C);
    if (din_colsum) ref_colsum_add(be, din_colsum, din, B, C, C);
    free(x);
    free(dl);
}

static void ref_bias_relu_dropout_fwd(eisnet_backend *be, float *out, const float *in,
                                      const float *bias, int B, int n, int ld, float p,
                                      uint64_t key, uint64_t idx0)
{
    (void)be;
    float *x = scratch_floats((size_t)n);
    if (!x) abort();
    for (int b = 0; b < B; b++) {
        add_row_bias(x, in + (size_t)b * ld, bias, 1, n);
        eisnet_ref_relu_dropout_forward(out + (size_t)b * ld, x, (size_t)n, p, key,
                                        idx0 + (uint64_t)b * n);
    }
    free(x);
}

static void ref_relu_dropout_bwd_inplace(eisnet_backend *be, float *d, const float *out, int B, int n,
                                         int ld, float scale)
{
    (void)be;
    float *g = scratch_floats((size_t)n);
    if (!g) abort();
    for (int b = 0; b < B; b++) {
        float *row = d + (size_t)b * ld;
        memset(g, 0, (size_t)n * sizeof(float));
        eisnet_ref_relu_dropout_backward(g, row, out + (size_t)b * ld, (size_t)n, scale);
        memcpy(row, g, (size_t)n * sizeof(float));
    }
    free(g);
}

static void ref_rows_dot(eisnet_backend *be, float *out, const float *A, int lda, const float *w,
                         const float *bias, int B, int K)
{
    (void)be;
    for (int b = 0; b < B; b++) eisnet_ref_linear_forward(out + b, A + (size_t)b * lda, w, bias, 1, K, 1);
}

static void ref_rows_dot_bwd(eisnet_backend *be, float *dA, const float *A, int lda, const float *w,
                             const float *dout, float *dw, float *dbias, int B, int K)
{
    (void)be;
    for (int b = 0; b < B; b++) {
        float *row = dA + (size_t)b * lda;
        memset(row, 0, (size_t)K * sizeof(float));
        eisnet_ref_linear_backward(row, dw, dbias, dout + b, A + (size_t)b * lda, w, 1, K, 1);
    }
}

static void ref_softmax_rows(eisnet_backend *be, float *probs, const float *logits, long rows, int G,
                             const uint8_t *sel)
{
    (void)be;
    for (long i = 0; i < rows; i++) {
        const float *lg = logits + (size_t)i * G;
        float *pr = probs + (size_t)i * G;
        if (sel && !sel[i]) {
            memset(pr, 0, (size_t)G * sizeof(float));
            continue;
        }
        float mx = lg[0];
        for (int g = 1; g < G; g++) mx = lg[g] > mx ? lg[g] : mx;
        float sum = 0.0f;
        for (int g = 0; g < G; g++) sum += pr[g] = expf(lg[g] - mx);
        for (int g = 0; g < G; g++) pr[g] /= sum;
    }
}

static void ref_xent(eisnet_backend *be, const eisnet_xent_args *a, eisnet_xent_result *r)
{
    (void)be;
    eisnet_xent_host(a, r, 1);
}

static float ref_clip_adamw(eisnet_backend *be, const eisnet_step_args *a)
{
    (void)be;
    const float norm = eisnet_grad_norm(a->grads, a->n);
    eisnet_adamw_consts k = a->k;
    k.grad_scale = a->max_grad_norm > 0.0f ? eisnet_clip_coef(norm, a->max_grad_norm) : 1.0f;
    eisnet_adamw_range(&k, a->params, a->grads, a->m, a->v, 0, a->n);
    return norm;
}

static int ref_run_rows(eisnet_backend *be, const eisnet_rows_pass *p)
{
    if (p->grads && p->zero_grads) memset(p->grads, 0, p->n_grads * sizeof(float));
    p->fn(p->arg, be, 0, p->B, p->grads);
    if (p->grads && p->step) {
        float norm = be->ops->clip_adamw(be, p->step);
        if (p->norm) *p->norm = norm;
    }
    return 0;
}

static void ref_gather_rows(eisnet_backend *be, float *dst, int ldd, const float *src, int lds,
                            const int *rows, int n, int width)
{
    (void)be;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < width; j++) dst[(size_t)i * ldd + j] = src[(size_t)rows[i] * lds + j];
}

static void ref_scatter_rows(eisnet_backend *be, float *dst, int ldd, const float *src, int lds,
                             const int *rows, int n, int width, int accumulate)
{
    (void)be;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < width; j++) {
            float *d = &dst[(size_t)rows[i] * ldd + j];
            *d = accumulate ? *d + src[(size_t)i * lds + j] : src[(size_t)i * lds + j];
        }
}

static const eisnet_backend_ops ref_ops = {
    .free = ref_free,
    .supports_op = ref_supports,
    .alloc = ref_alloc,
    .free_buffer = ref_free_buffer,
    .upload = ref_memcpy,
    .download = ref_memcpy,
    .zero = ref_zero,
    .copy = ref_memcpy,
    .sync = ref_sync,
    .run_rows = ref_run_rows,
    .gemm = ref_gemm,
    .bias_rows = ref_bias_rows,
    .colsum_add = ref_colsum_add,
    .ln_relu_dropout_fwd = ref_ln_relu_dropout_fwd,
    .ln_relu_dropout_bwd = ref_ln_relu_dropout_bwd,
    .bias_relu_dropout_fwd = ref_bias_relu_dropout_fwd,
    .relu_dropout_bwd_inplace = ref_relu_dropout_bwd_inplace,
    .rows_dot = ref_rows_dot,
    .rows_dot_bwd = ref_rows_dot_bwd,
    .softmax_rows = ref_softmax_rows,
    .xent = ref_xent,
    .clip_adamw = ref_clip_adamw,
    .gather_rows = ref_gather_rows,
    .scatter_rows = ref_scatter_rows,
};

static eisnet_backend *ref_make(int host_visible)
{
    eisnet_backend *be = calloc(1, sizeof *be);
    if (!be) {
        eisnet_set_error("backend ref: out of memory");
        return NULL;
    }
    be->ops = &ref_ops;
    be->name = "ref";
    be->host_visible = host_visible;
    be->threads = 1;
    return be;
}

static eisnet_backend *ref_create(const eisnet_backend_options *opt)
{
    (void)opt;
    return ref_make(1);
}

eisnet_backend *eisnet_backend_ref_new_device_like(void)
{
    eisnet_backend *be = ref_make(0);
    if (be) be->refs = 1;
    return be;
}

static int ref_available(char *why, size_t why_size)
{
    (void)why;
    (void)why_size;
    return 1;
}

const eisnet_backend_reg eisnet_backend_reg_ref = {
    .name = "ref",
    .description = "plain reference loops (slow; for testing)",
    .auto_priority = 0,
    .available = ref_available,
    .create = ref_create,
};
