/* Every operation of every available backend against the reference backend
 * (the idea of ggml's test-backend-ops): random inputs on random shapes (odd
 * sizes, batch 1, padded leading dimensions, the selection and mask paths),
 * the same inputs uploaded to both backends, the outputs downloaded and
 * compared by their normalised mean squared error
 *     NMSE = sum (out - ref)^2 / sum ref^2  <=  MAX_NMSE
 * (float32 summation order only; a wrong index or dropout mask is O(1)).
 * A backend whose products can run in bfloat16 (the CPU's AMX tiles) is
 * tested a second time that way, its products against MAX_NMSE_BF16
 * (operands rounded to 8 bits: NMSE ~ 1e-5; a wrong index is still O(1)).
 * A backend that does not support an op is reported as skipped for it. The
 * buffers go through the backend's own alloc / upload / download, so a
 * device backend is tested exactly as the model uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/backend.h"
#include "eisnet/error.h"

#define MAX_NMSE 1e-9
#define MAX_NMSE_BF16 3e-5

static uint64_t g_rng = 12345;
static uint32_t next_u32(void)
{
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g_rng >> 32);
}
static float frand(void) { return (float)((double)next_u32() / 2147483648.0 - 1.0); } /* [-1, 1) */
static int irand(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }

/* shapes: mostly small and odd, sometimes 1, sometimes the network's own */
static int dim(int max)
{
    int r = irand(0, 9);
    if (r == 0) return 1;
    if (r == 1) return max;
    return irand(1, max);
}

static float *host_rand(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* A pair of backends under comparison, and the buffers of one case. */
typedef struct {
    eisnet_backend *be, *ref;
    double gemm_nmse; /* the products' bound: MAX_NMSE, or MAX_NMSE_BF16 */
} pair;

#define MAX_BUFS 16
typedef struct {
    void *b[MAX_BUFS], *r[MAX_BUFS];
    int n;
} bufs;

/* n bytes of host data in both backends' memory; returns the slot */
static int put(const pair *p, bufs *s, const void *host, size_t bytes)
{
    assert_true(s->n < MAX_BUFS);
    int k = s->n++;
    s->b[k] = p->be->ops->alloc(p->be, bytes);
    s->r[k] = p->ref->ops->alloc(p->ref, bytes);
    assert_non_null(s->b[k]);
    assert_non_null(s->r[k]);
    p->be->ops->upload(p->be, s->b[k], host, bytes);
    p->ref->ops->upload(p->ref, s->r[k], host, bytes);
    return k;
}

static int put_rand(const pair *p, bufs *s, size_t n)
{
    float *h = host_rand(n);
    int k = put(p, s, h, n * sizeof(float));
    free(h);
    return k;
}

static void release(const pair *p, bufs *s)
{
    for (int k = 0; k < s->n; k++) {
        p->be->ops->free_buffer(p->be, s->b[k]);
        p->ref->ops->free_buffer(p->ref, s->r[k]);
    }
    s->n = 0;
}

/* NMSE of slot k (n floats) of the backend against the reference */
static double nmse_slot(const pair *p, const bufs *s, int k, size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    p->be->ops->download(p->be, a, s->b[k], n * sizeof(float));
    p->ref->ops->download(p->ref, b, s->r[k], n * sizeof(float));
    assert_int_equal(p->be->ops->sync(p->be), 0);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
        if (!isfinite(a[i]) && isfinite(b[i])) num = INFINITY;
    }
    free(a);
    free(b);
    return den > 0.0 ? num / den : num;
}

static void expect_within(const pair *p, const bufs *s, int k, size_t n, const char *op, const char *what,
                          double bound)
{
    double e = nmse_slot(p, s, k, n);
    if (!(e <= bound)) {
        print_message("  [%s] %s %s: NMSE %.3g > %.1g\n", p->be->name, op, what, e, bound);
        fail();
    }
}

static void expect_close(const pair *p, const bufs *s, int k, size_t n, const char *op, const char *what)
{
    expect_within(p, s, k, n, op, what, MAX_NMSE);
}

#define B(k) s.b[k]
#define R(k) s.r[k]
#define FB(k) ((float *)s.b[k])
#define FR(k) ((float *)s.r[k])

/* ---- one random case per operation -------------------------------------------- */

static void case_gemm(const pair *p)
{
    bufs s = {0};
    const int ta = irand(0, 2) == 2, tb = ta ? 0 : irand(0, 1);
    const int M = dim(70), N = dim(70), K = dim(130);
    const float beta = (float)irand(0, 1);
    const int lda = (ta ? M : K) + irand(0, 3), ldb = (tb ? K : N) + irand(0, 3), ldc = N + irand(0, 3);
    int a = put_rand(p, &s, (size_t)(ta ? K : M) * lda), b = put_rand(p, &s, (size_t)(tb ? N : K) * ldb);
    int c = put_rand(p, &s, (size_t)M * ldc);
    p->be->ops->gemm(p->be, ta, tb, M, N, K, FB(a), lda, FB(b), ldb, beta, FB(c), ldc);
    p->ref->ops->gemm(p->ref, ta, tb, M, N, K, FR(a), lda, FR(b), ldb, beta, FR(c), ldc);
    char what[64];
    snprintf(what, sizeof what, "(%d,%d) M%d N%d K%d beta %g", ta, tb, M, N, K, beta);
    expect_within(p, &s, c, (size_t)M * ldc, "gemm", what, p->gemm_nmse);
    release(p, &s);
}

static void case_bias_rows(const pair *p)
{
    bufs s = {0};
    const int Bn = dim(40), n = dim(70), ld = n + irand(0, 5);
    int c = put_rand(p, &s, (size_t)Bn * ld), bias = put_rand(p, &s, (size_t)n);
    p->be->ops->bias_rows(p->be, FB(c), ld, FB(bias), Bn, n);
    p->ref->ops->bias_rows(p->ref, FR(c), ld, FR(bias), Bn, n);
    expect_close(p, &s, c, (size_t)Bn * ld, "bias_rows", "C");
    release(p, &s);
}

static void case_colsum_add(const pair *p)
{
    bufs s = {0};
    const int Bn = dim(80), n = dim(70), ld = n + irand(0, 5);
    int g = put_rand(p, &s, (size_t)Bn * ld), db = put_rand(p, &s, (size_t)n);
    p->be->ops->colsum_add(p->be, FB(db), FB(g), Bn, n, ld);
    p->ref->ops->colsum_add(p->ref, FR(db), FR(g), Bn, n, ld);
    expect_close(p, &s, db, (size_t)n, "colsum_add", "db");
    release(p, &s);
}

/* LayerNorm + ReLU + dropout, forward and then backward on its outputs */
static void case_ln(const pair *p, int backward)
{
    bufs s = {0};
    const int Bn = dim(40), C = irand(0, 3) ? dim(80) : 512;
    const float pd = irand(0, 1) ? 0.3f : 0.0f;
    const int with_bias = irand(0, 1);
    const uint64_t key = next_u32(), idx0 = (uint64_t)irand(0, 1000) * C;
    const size_t n = (size_t)Bn * C;
    int in = put_rand(p, &s, n), ib = put_rand(p, &s, (size_t)C), w = put_rand(p, &s, (size_t)C),
        bb = put_rand(p, &s, (size_t)C), out = put_rand(p, &s, n), mean = put_rand(p, &s, (size_t)Bn),
        rstd = put_rand(p, &s, (size_t)Bn);
    const float *inb = with_bias ? FB(ib) : NULL, *inr = with_bias ? FR(ib) : NULL;
    p->be->ops->ln_relu_dropout_fwd(p->be, FB(out), FB(mean), FB(rstd), FB(in), inb, FB(w), FB(bb), Bn, C, pd,
                                    key, idx0);
    p->ref->ops->ln_relu_dropout_fwd(p->ref, FR(out), FR(mean), FR(rstd), FR(in), inr, FR(w), FR(bb), Bn, C,
                                     pd, key, idx0);
    if (!backward) {
        expect_close(p, &s, out, n, "ln_relu_dropout_fwd", "out");
        expect_close(p, &s, mean, (size_t)Bn, "ln_relu_dropout_fwd", "mean");
        expect_close(p, &s, rstd, (size_t)Bn, "ln_relu_dropout_fwd", "rstd");
        release(p, &s);
        return;
    }
    /* the backward reads the reference's forward outputs on both sides */
    float *h = malloc(n * sizeof *h), *hm = malloc((size_t)Bn * sizeof *hm), *hr = malloc((size_t)Bn * sizeof *hr);
    assert_true(h && hm && hr);
    p->ref->ops->download(p->ref, h, FR(out), n * sizeof(float));
    p->ref->ops->download(p->ref, hm, FR(mean), (size_t)Bn * sizeof(float));
    p->ref->ops->download(p->ref, hr, FR(rstd), (size_t)Bn * sizeof(float));
    p->be->ops->upload(p->be, FB(out), h, n * sizeof(float));
    p->be->ops->upload(p->be, FB(mean), hm, (size_t)Bn * sizeof(float));
    p->be->ops->upload(p->be, FB(rstd), hr, (size_t)Bn * sizeof(float));
    free(h);
    free(hm);
    free(hr);
    const float scale = pd > 0 ? 1.0f / (1.0f - pd) : 1.0f;
    int dout = put_rand(p, &s, n), din = put_rand(p, &s, n), dw = put_rand(p, &s, (size_t)C),
        db = put_rand(p, &s, (size_t)C), cs = put_rand(p, &s, (size_t)C);
    const int with_cs = irand(0, 1);
    p->be->ops->ln_relu_dropout_bwd(p->be, FB(din), FB(dw), FB(db), FB(dout), FB(out), scale, FB(in), inb, FB(w),
                                    FB(mean), FB(rstd), Bn, C, with_cs ? FB(cs) : NULL);
    p->ref->ops->ln_relu_dropout_bwd(p->ref, FR(din), FR(dw), FR(db), FR(dout), FR(out), scale, FR(in), inr,
                                     FR(w), FR(mean), FR(rstd), Bn, C, with_cs ? FR(cs) : NULL);
    expect_close(p, &s, din, n, "ln_relu_dropout_bwd", "din");
    expect_close(p, &s, dw, (size_t)C, "ln_relu_dropout_bwd", "dweight");
    expect_close(p, &s, db, (size_t)C, "ln_relu_dropout_bwd", "dbias");
    expect_close(p, &s, cs, (size_t)C, "ln_relu_dropout_bwd", "din_colsum");
    release(p, &s);
}

static void case_ln_fwd(const pair *p) { case_ln(p, 0); }
static void case_ln_bwd(const pair *p) { case_ln(p, 1); }

static void case_bias_relu_dropout(const pair *p)
{
    bufs s = {0};
    const int Bn = dim(40), n = dim(70), ld = n + irand(0, 5) * irand(0, 1) * 64;
    const float pd = irand(0, 2) ? 0.1f : 0.0f;
    const uint64_t key = next_u32(), idx0 = (uint64_t)irand(0, 500) * n;
    int in = put_rand(p, &s, (size_t)Bn * ld), bias = put_rand(p, &s, (size_t)n), out = put_rand(p, &s, (size_t)Bn * ld);
    const int inplace = irand(0, 1);
    float *ob = inplace ? FB(in) : FB(out), *orf = inplace ? FR(in) : FR(out);
    p->be->ops->bias_relu_dropout_fwd(p->be, ob, FB(in), FB(bias), Bn, n, ld, pd, key, idx0);
    p->ref->ops->bias_relu_dropout_fwd(p->ref, orf, FR(in), FR(bias), Bn, n, ld, pd, key, idx0);
    expect_close(p, &s, inplace ? in : out, (size_t)Bn * ld, "bias_relu_dropout_fwd", inplace ? "in place" : "out");
    release(p, &s);
}

static void case_relu_dropout_bwd_inplace(const pair *p)
{
    bufs s = {0};
    const int Bn = dim(40), n = dim(70), ld = n + irand(0, 5);
    int d = put_rand(p, &s, (size_t)Bn * ld), out = put_rand(p, &s, (size_t)Bn * ld); /* ~half "passed" */
    const float scale = irand(0, 1) ? 1.25f : 1.0f;
    p->be->ops->relu_dropout_bwd_inplace(p->be, FB(d), FB(out), Bn, n, ld, scale);
    p->ref->ops->relu_dropout_bwd_inplace(p->ref, FR(d), FR(out), Bn, n, ld, scale);
    expect_close(p, &s, d, (size_t)Bn * ld, "relu_dropout_bwd_inplace", "d");
    release(p, &s);
}

static void case_rows_dot(const pair *p, int backward)
{
    bufs s = {0};
    const int Bn = dim(60), K = irand(0, 1) ? 64 : dim(100), lda = K + irand(0, 4) * 16;
    int A = put_rand(p, &s, (size_t)Bn * lda), w = put_rand(p, &s, (size_t)K), bias = put_rand(p, &s, 1),
        out = put_rand(p, &s, (size_t)Bn), dA = put_rand(p, &s, (size_t)Bn * lda), dw = put_rand(p, &s, (size_t)K),
        db = put_rand(p, &s, 1);
    if (!backward) {
        p->be->ops->rows_dot(p->be, FB(out), FB(A), lda, FB(w), FB(bias), Bn, K);
        p->ref->ops->rows_dot(p->ref, FR(out), FR(A), lda, FR(w), FR(bias), Bn, K);
        expect_close(p, &s, out, (size_t)Bn, "rows_dot", "out");
    } else {
        p->be->ops->rows_dot_bwd(p->be, FB(dA), FB(A), lda, FB(w), FB(out), FB(dw), FB(db), Bn, K);
        p->ref->ops->rows_dot_bwd(p->ref, FR(dA), FR(A), lda, FR(w), FR(out), FR(dw), FR(db), Bn, K);
        expect_close(p, &s, dA, (size_t)Bn * lda, "rows_dot_bwd", "dA");
        expect_close(p, &s, dw, (size_t)K, "rows_dot_bwd", "dw");
        expect_close(p, &s, db, 1, "rows_dot_bwd", "dbias");
    }
    release(p, &s);
}

static void case_rows_dot_fwd(const pair *p) { case_rows_dot(p, 0); }
static void case_rows_dot_bwd(const pair *p) { case_rows_dot(p, 1); }

static void case_softmax(const pair *p)
{
    bufs s = {0};
    const long rows = dim(300);
    const int G = irand(0, 1) ? 12 : dim(70);
    float *lg = host_rand((size_t)rows * G);
    for (long i = 0; i < rows * G; i++) lg[i] *= 8.0f; /* large logits: the max shift matters */
    int l = put(p, &s, lg, (size_t)rows * G * sizeof(float)), pr = put_rand(p, &s, (size_t)rows * G);
    free(lg);
    uint8_t *sel = malloc((size_t)rows);
    assert_non_null(sel);
    for (long i = 0; i < rows; i++) sel[i] = (uint8_t)irand(0, 1);
    int sk = put(p, &s, sel, (size_t)rows);
    free(sel);
    const int use_sel = irand(0, 1);
    p->be->ops->softmax_rows(p->be, FB(pr), FB(l), rows, G, use_sel ? B(sk) : NULL);
    p->ref->ops->softmax_rows(p->ref, FR(pr), FR(l), rows, G, use_sel ? R(sk) : NULL);
    expect_close(p, &s, pr, (size_t)rows * G, "softmax_rows", use_sel ? "with selection" : "all rows");
    release(p, &s);
}

static void case_xent(const pair *p)
{
    bufs s = {0};
    const int Bn = dim(120), P = irand(1, 6), G = irand(0, 1) ? 12 : dim(80);
    const size_t nl = (size_t)Bn * P * G;
    float *lg = host_rand(nl);
    for (size_t i = 0; i < nl; i++) lg[i] *= 4.0f;
    int32_t *tg = malloc((size_t)Bn * P * sizeof *tg);
    uint8_t *ms = malloc((size_t)Bn * P);
    assert_true(tg && ms);
    for (int i = 0; i < Bn * P; i++) {
        tg[i] = irand(0, G - 1);
        ms[i] = (uint8_t)(irand(0, 2) != 0); /* some rows have no missing head */
    }
    int l = put(p, &s, lg, nl * sizeof(float)), rn = put_rand(p, &s, (size_t)Bn), rt = put_rand(p, &s, (size_t)Bn);
    int t = put(p, &s, tg, (size_t)Bn * P * sizeof *tg), m = put(p, &s, ms, (size_t)Bn * P);
    int dl = put_rand(p, &s, nl), dr = put_rand(p, &s, (size_t)Bn);
    free(lg);
    free(tg);
    free(ms);
    const float rw = 0.5f;
    eisnet_xent_args ab = {FB(l), FB(rn), B(t), B(m), FB(rt), Bn, P, G, rw, FB(dl), FB(dr)};
    eisnet_xent_args ar = {FR(l), FR(rn), R(t), R(m), FR(rt), Bn, P, G, rw, FR(dl), FR(dr)};
    int64_t hb[6] = {0}, cb[6] = {0}, hr[6] = {0}, cr[6] = {0};
    eisnet_xent_result xb = {0, 0, hb, cb}, xr = {0, 0, hr, cr};
    p->be->ops->xent(p->be, &ab, &xb);
    p->ref->ops->xent(p->ref, &ar, &xr);
    expect_close(p, &s, dl, nl, "xent", "dlogits");
    expect_close(p, &s, dr, (size_t)Bn, "xent", "dresnorm");
    assert_true(fabs(xb.ce_sum - xr.ce_sum) <= 1e-5 * (1.0 + fabs(xr.ce_sum)));
    assert_true(fabs(xb.se_sum - xr.se_sum) <= 1e-5 * (1.0 + fabs(xr.se_sum)));
    assert_memory_equal(cb, cr, sizeof cb);
    assert_memory_equal(hb, hr, sizeof hb); /* top-1 over random logits: no ties */
    release(p, &s);
}

static void case_clip_adamw(const pair *p)
{
    bufs s = {0};
    const size_t n = irand(0, 3) ? (size_t)dim(5000) : 70001; /* big: the threaded path */
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, n, NULL), 0);
    opt.step = irand(0, 5);
    int pa = put_rand(p, &s, n), g = put_rand(p, &s, n), m = put_rand(p, &s, n);
    float *hv = host_rand(n);
    for (size_t i = 0; i < n; i++) hv[i] = fabsf(hv[i]); /* second moments are >= 0 */
    int v = put(p, &s, hv, n * sizeof(float));
    free(hv);
    const float max_norm = irand(0, 2) == 0 ? 0.0f : (irand(0, 1) ? 1.0f : 1e4f); /* off, clips, does not */
    eisnet_step_args ab = {FB(pa), FB(g), FB(m), FB(v), n, eisnet_adamw_begin(&opt, 1.0f), max_norm};
    eisnet_step_args ar = ab;
    ar.params = FR(pa);
    ar.grads = FR(g);
    ar.m = FR(m);
    ar.v = FR(v);
    float nb = p->be->ops->clip_adamw(p->be, &ab), nr = p->ref->ops->clip_adamw(p->ref, &ar);
    assert_true(fabsf(nb - nr) <= 1e-5f * nr);
    expect_close(p, &s, pa, n, "clip_adamw", "params");
    expect_close(p, &s, m, n, "clip_adamw", "m");
    expect_close(p, &s, v, n, "clip_adamw", "v");
    eisnet_adamw_free(&opt);
    release(p, &s);
}

/* run_rows: a forward pass that writes its rows through an op, a gradient
 * pass that adds each block's column sums into its gradient buffer, and the
 * same with the optimizer step; every row must be covered once */
typedef struct {
    float *x, *out, *bias;
    int n;
} rows_arg;

static void rows_fwd(void *arg, eisnet_backend *be, int b0, int nb, float *grads)
{
    const rows_arg *a = arg;
    assert_null(grads);
    be->ops->bias_rows(be, a->out + (size_t)b0 * a->n, a->n, a->bias, nb, a->n);
}

static void rows_grad(void *arg, eisnet_backend *be, int b0, int nb, float *grads)
{
    const rows_arg *a = arg;
    assert_non_null(grads);
    be->ops->colsum_add(be, grads, a->x + (size_t)b0 * a->n, nb, a->n, a->n);
}

static void case_run_rows(const pair *p)
{
    bufs s = {0};
    const int Bn = irand(0, 2) ? dim(300) : 1, n = dim(200);
    /* positive rows: the gradient sums are far from 0, where Adam's ratio
     * m / sqrt(v) would turn rounding into sign changes */
    float *hx = host_rand((size_t)Bn * n);
    for (size_t i = 0; i < (size_t)Bn * n; i++) hx[i] = 0.1f + fabsf(hx[i]);
    int x = put(p, &s, hx, (size_t)Bn * n * sizeof(float));
    free(hx);
    int out = put_rand(p, &s, (size_t)Bn * n), bias = put_rand(p, &s, (size_t)n),
        g = put_rand(p, &s, (size_t)n), pa = put_rand(p, &s, (size_t)n), m = put_rand(p, &s, (size_t)n);
    rows_arg ab = {FB(x), FB(out), FB(bias), n}, ar = {FR(x), FR(out), FR(bias), n};
    const int mode = irand(0, 2); /* 0 forward, 1 gradients, 2 gradients + step */
    eisnet_rows_pass pb = {Bn, mode ? rows_grad : rows_fwd, &ab, mode ? FB(g) : NULL, (size_t)n, irand(0, 1), NULL, NULL};
    eisnet_rows_pass pr = pb;
    pr.arg = &ar;
    pr.grads = mode ? FR(g) : NULL;
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, (size_t)n, NULL), 0);
    float *hv = calloc((size_t)n, sizeof *hv);
    assert_non_null(hv);
    int vv = put(p, &s, hv, (size_t)n * sizeof(float));
    free(hv);
    const eisnet_adamw_consts k = eisnet_adamw_begin(&opt, 1.0f);
    eisnet_step_args sb = {FB(pa), FB(g), FB(m), FB(vv), (size_t)n, k, 0.5f}, sr = {FR(pa), FR(g), FR(m), FR(vv), (size_t)n, k, 0.5f};
    float nb = -1.0f, nr = -2.0f;
    if (mode == 2) {
        pb.step = &sb;
        pr.step = &sr;
        pb.norm = &nb;
        pr.norm = &nr;
    }
    assert_int_equal(p->be->ops->run_rows(p->be, &pb), 0);
    assert_int_equal(p->ref->ops->run_rows(p->ref, &pr), 0);
    if (mode == 0) {
        expect_close(p, &s, out, (size_t)Bn * n, "run_rows", "forward rows");
    } else {
        expect_close(p, &s, g, (size_t)n, "run_rows", "reduced gradients");
    }
    if (mode == 2) {
        assert_true(fabsf(nb - nr) <= 1e-5f * nr);
        expect_close(p, &s, pa, (size_t)n, "run_rows", "params after the step");
    }
    eisnet_adamw_free(&opt);
    release(p, &s);
}

/* distinct random rows of 0 .. total-1 */
static int *some_rows(int total, int *n)
{
    int *r = malloc((size_t)total * sizeof *r);
    assert_non_null(r);
    for (int i = 0; i < total; i++) r[i] = i;
    for (int i = total - 1; i > 0; i--) {
        int j = irand(0, i), t = r[i];
        r[i] = r[j];
        r[j] = t;
    }
    *n = irand(1, total);
    return r;
}

static void case_rows_select(const pair *p, int scatter)
{
    bufs s = {0};
    const int total = dim(90), width = dim(70), lds = width + irand(0, 3) * 12, ldd = width + irand(0, 3) * 12;
    int n;
    int *rows = some_rows(total, &n);
    if (!scatter) {
        int src = put_rand(p, &s, (size_t)total * lds), dst = put_rand(p, &s, (size_t)n * ldd);
        p->be->ops->gather_rows(p->be, FB(dst), ldd, FB(src), lds, rows, n, width);
        p->ref->ops->gather_rows(p->ref, FR(dst), ldd, FR(src), lds, rows, n, width);
        expect_close(p, &s, dst, (size_t)n * ldd, "gather_rows", "dst");
    } else {
        const int acc = irand(0, 1);
        int src = put_rand(p, &s, (size_t)n * lds), dst = put_rand(p, &s, (size_t)total * ldd);
        p->be->ops->scatter_rows(p->be, FB(dst), ldd, FB(src), lds, rows, n, width, acc);
        p->ref->ops->scatter_rows(p->ref, FR(dst), ldd, FR(src), lds, rows, n, width, acc);
        expect_close(p, &s, dst, (size_t)total * ldd, "scatter_rows", acc ? "accumulate" : "overwrite");
    }
    free(rows);
    release(p, &s);
}

static void case_gather(const pair *p) { case_rows_select(p, 0); }
static void case_scatter(const pair *p) { case_rows_select(p, 1); }

typedef void (*case_fn)(const pair *p);

static const case_fn cases[EISNET_OP_COUNT] = {
    [EISNET_OP_GEMM] = case_gemm,
    [EISNET_OP_BIAS_ROWS] = case_bias_rows,
    [EISNET_OP_COLSUM_ADD] = case_colsum_add,
    [EISNET_OP_LN_RELU_DROPOUT_FWD] = case_ln_fwd,
    [EISNET_OP_LN_RELU_DROPOUT_BWD] = case_ln_bwd,
    [EISNET_OP_BIAS_RELU_DROPOUT_FWD] = case_bias_relu_dropout,
    [EISNET_OP_RELU_DROPOUT_BWD_INPLACE] = case_relu_dropout_bwd_inplace,
    [EISNET_OP_ROWS_DOT] = case_rows_dot_fwd,
    [EISNET_OP_ROWS_DOT_BWD] = case_rows_dot_bwd,
    [EISNET_OP_SOFTMAX_ROWS] = case_softmax,
    [EISNET_OP_XENT] = case_xent,
    [EISNET_OP_CLIP_ADAMW] = case_clip_adamw,
    [EISNET_OP_RUN_ROWS] = case_run_rows,
    [EISNET_OP_GATHER_ROWS] = case_gather,
    [EISNET_OP_SCATTER_ROWS] = case_scatter,
};

/* ---- the tests ------------------------------------------------------------------------------ */

#define TRIALS 40

/* every op of backend `name` (3 threads where it has threads: uneven splits),
 * its products at precision mm */
static void check_backend(const char *name, eisnet_matmul mm)
{
    const eisnet_backend_options bo = {.threads = 3, .matmul = mm};
    char why[160] = "";
    const eisnet_backend_reg *r = eisnet_backend_reg_find(name);
    assert_non_null(r);
    if (!r->available(why, sizeof why)) {
        print_message("  [%s] not available here (%s): skipped\n", name, why);
        return;
    }
    pair p = {eisnet_backend_new(name, &bo), eisnet_backend_new("ref", NULL),
              mm == EISNET_MATMUL_BF16 ? MAX_NMSE_BF16 : MAX_NMSE};
    assert_non_null(p.be);
    assert_non_null(p.ref);
    assert_int_equal(eisnet_backend_matmul(p.be), mm);
    int tested = 0;
    for (int op = 0; op < EISNET_OP_COUNT; op++) {
        assert_non_null(cases[op]); /* every op of the enum has a case */
        if (!eisnet_backend_supports(p.be, (eisnet_op)op)) {
            print_message("  [%s] %-26s skipped (not supported)\n", name, eisnet_op_name((eisnet_op)op));
            continue;
        }
        for (int t = 0; t < TRIALS; t++) cases[op](&p);
        tested++;
    }
    print_message("  [%s, products in %s] %d of %d ops match the reference on %d random cases each\n", name,
                  eisnet_matmul_name(mm), tested, (int)EISNET_OP_COUNT, TRIALS);
    eisnet_backend_free(p.be);
    eisnet_backend_free(p.ref);
}

static void test_every_backend_every_op(void **state)
{
    (void)state;
    for (int i = 0; i < eisnet_backend_reg_count(); i++) {
        const char *name = eisnet_backend_reg_get(i)->name;
        check_backend(name, EISNET_MATMUL_FP32);
        if (eisnet_backend_matmul_for(name, EISNET_MATMUL_BF16) == EISNET_MATMUL_BF16)
            check_backend(name, EISNET_MATMUL_BF16);
        else
            print_message("  [%s] no bfloat16 products here: that precision not tested\n", name);
    }
}

/* the comparison has teeth: a gemm with one wrong element fails it */
static void test_harness_detects_errors(void **state)
{
    (void)state;
    pair p = {eisnet_backend_new("cpu", NULL), eisnet_backend_new("ref", NULL), MAX_NMSE};
    assert_non_null(p.be);
    bufs s = {0};
    int a = put_rand(&p, &s, 6 * 5), b = put_rand(&p, &s, 4 * 5), c = put_rand(&p, &s, 6 * 4);
    p.be->ops->gemm(p.be, 0, 1, 6, 4, 5, FB(a), 5, FB(b), 5, 0.0f, FB(c), 4);
    p.ref->ops->gemm(p.ref, 0, 1, 6, 4, 5, FR(a), 5, FR(b), 5, 0.0f, FR(c), 4);
    assert_true(nmse_slot(&p, &s, c, 24) <= MAX_NMSE);
    float one = 0.0f;
    p.be->ops->download(p.be, &one, FB(c) + 7, sizeof one);
    one += 0.01f;
    p.be->ops->upload(p.be, FB(c) + 7, &one, sizeof one);
    assert_true(nmse_slot(&p, &s, c, 24) > MAX_NMSE);
    release(&p, &s);
    eisnet_backend_free(p.be);
    eisnet_backend_free(p.ref);
}

/* the registry: names, "auto", errors naming the backend */
static void test_registry(void **state)
{
    (void)state;
    assert_true(eisnet_backend_reg_count() >= 2);
    assert_non_null(eisnet_backend_reg_find("ref"));
    assert_non_null(eisnet_backend_reg_find("cpu"));
    assert_null(eisnet_backend_reg_find("nope"));
    eisnet_backend *a = eisnet_backend_new("auto", NULL);
    assert_non_null(a);
    assert_string_not_equal(eisnet_backend_name(a), "ref"); /* auto never picks the slow reference */
    eisnet_backend_free(a);
    assert_null(eisnet_backend_new("nope", NULL));
    assert_non_null(strstr(eisnet_last_error(), "nope"));
    const eisnet_backend_options bo = {.threads = 3};
    eisnet_backend *c = eisnet_backend_new("cpu", &bo);
    assert_non_null(c);
#ifdef EISNET_HAVE_OPENMP
    assert_int_equal(eisnet_backend_threads(c), 3); /* a property of this backend only */
#endif
    assert_int_equal(eisnet_backend_threads(eisnet_backend_default()), eisnet_cpu_threads(0));
    eisnet_backend_free(c);
    for (int op = 0; op < EISNET_OP_COUNT; op++) assert_non_null(eisnet_op_name((eisnet_op)op));
    /* precision: float32 unless asked and supported; the reference never rounds */
    assert_int_equal(eisnet_backend_matmul(eisnet_backend_default()), EISNET_MATMUL_FP32);
    assert_int_equal(eisnet_backend_matmul_for("ref", EISNET_MATMUL_BF16), EISNET_MATMUL_FP32);
    assert_int_equal(eisnet_backend_matmul_for("nope", EISNET_MATMUL_BF16), EISNET_MATMUL_FP32);
    assert_int_equal(eisnet_backend_matmul_for("cpu", EISNET_MATMUL_FP32), EISNET_MATMUL_FP32);
    const eisnet_backend_options half = {.threads = 1, .matmul = EISNET_MATMUL_BF16};
    eisnet_backend *h = eisnet_backend_new("cpu", &half), *r = eisnet_backend_new("ref", &half);
    assert_non_null(h);
    assert_non_null(r);
    assert_int_equal(eisnet_backend_matmul(h), eisnet_backend_matmul_for("cpu", EISNET_MATMUL_BF16));
    assert_int_equal(eisnet_backend_matmul(r), EISNET_MATMUL_FP32);
    eisnet_backend_free(h);
    eisnet_backend_free(r);
    eisnet_matmul mm;
    assert_int_equal(eisnet_matmul_parse("fp16", "--matmul", &mm), -1);
    assert_non_null(strstr(eisnet_last_error(), "--matmul"));
    assert_int_equal(eisnet_matmul_parse("bf16", "--matmul", &mm), 0);
    assert_int_equal(mm, EISNET_MATMUL_BF16);
    assert_null(eisnet_op_name(EISNET_OP_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_harness_detects_errors),
        cmocka_unit_test(test_every_backend_every_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
