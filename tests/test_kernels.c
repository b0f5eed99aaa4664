/* Kernel tests.
 *  1. Central-difference gradient checks of every reference layer kernel
 *     (linear, layernorm, relu, relu+dropout: src/nn/kernels_ref.c, from which
 *     the reference backend composes its operations), each also shown to
 *     FAIL when handed a zero or perturbed gradient.
 *  2. The CPU backend's kernels (eisnet_cpu_*: gemm in all layouts and
 *     branches, fused LayerNorm/ReLU/dropout forward and backward, strided
 *     bias+ReLU+dropout, softmax) against compositions of the reference
 *     kernels. Tolerance: |fast - ref| <= 1e-5 * (1 + S) where S is the sum
 *     of |terms| of the reduction (sum_i |a_i b_i| for products), i.e. a few
 *     float32 ulps per term. Every backend's operations against the
 *     reference backend: tests/test_backend_ops.c.
 *  3. The bfloat16 AMX product (eisnet_cpu_gemm_bf16) in its three layouts,
 *     padded and strided shapes: equal to a double-precision product of the
 *     operands rounded to bfloat16 within float32 summation error, and within
 *     bfloat16 rounding of the float32 product; shapes under 32 refused.
 *     Skipped (and said so) on a CPU or kernel without AMX. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_cpu.h"
#include "kernels_ref.h"

/* the reference layer kernels as a table, so that a check can name its layer */
typedef struct {
    void (*linear_forward)(float *, const float *, const float *, const float *, int, int, int);
    void (*linear_backward)(float *, float *, float *, const float *, const float *, const float *, int, int,
                            int);
    void (*layernorm_forward)(float *, float *, float *, const float *, const float *, const float *, int, int);
    void (*layernorm_backward)(float *, float *, float *, const float *, const float *, const float *,
                               const float *, const float *, int, int);
    void (*relu_dropout_forward)(float *, const float *, size_t, float, uint64_t, uint64_t);
    void (*relu_dropout_backward)(float *, const float *, const float *, size_t, float);
} ref_layers;

static const ref_layers REF = {
    eisnet_ref_linear_forward,    eisnet_ref_linear_backward,       eisnet_ref_layernorm_forward,
    eisnet_ref_layernorm_backward, eisnet_ref_relu_dropout_forward, eisnet_ref_relu_dropout_backward,
};

static uint64_t g_rng = 42;
static float frand(void) /* uniform in [-1, 1) */
{
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(g_rng >> 40) / 8388608.0 - 1.0);
}
static float *rnd(size_t n)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}
static float *zeros(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* ---- gradient checks --------------------------------------------------------
 * Scalar L = sum(out * R) for a fixed random R, so dL/dout = R. A layer is a
 * function of one "variable" array at a time; we compare the analytic
 * gradient with (L(v + h) - L(v - h)) / 2h, computed with double sums. */

typedef struct {
    const ref_layers *K;
    int B, C, OC;
    float *x, *w, *b, *R, *out, *mean, *rstd;
    int kind; /* 0 linear, 1 layernorm, 2 relu+dropout */
    float p;
} layer;

static double eval_L(layer *l)
{
    size_t n = (size_t)l->B * (l->kind == 0 ? l->OC : l->C);
    if (l->kind == 0) l->K->linear_forward(l->out, l->x, l->w, l->b, l->B, l->C, l->OC);
    else if (l->kind == 1) l->K->layernorm_forward(l->out, l->mean, l->rstd, l->x, l->w, l->b, l->B, l->C);
    else l->K->relu_dropout_forward(l->out, l->x, n, l->p, 77, 5);
    double L = 0.0;
    for (size_t i = 0; i < n; i++) L += (double)l->out[i] * l->R[i];
    return L;
}

/* max |num - an| / (5e-3 + 2e-2 |num|) over the entries of v; <= 1 passes */
static double check_var(layer *l, float *v, size_t n, const float *an, float h)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        v[i] = keep + h;
        double lp = eval_L(l);
        v[i] = keep - h;
        double lm = eval_L(l);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double e = fabs(num - an[i]) / (5e-3 + 2e-2 * fabs(num));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static double norm(const float *a, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

/* Runs the check of one array with the true gradient, a zero one and one
 * with a single entry off by 10%, asserting pass / fail / fail. */
static void expect_gradient(layer *l, float *v, size_t n, const float *an, float h, const char *what)
{
    assert_true(norm(an, n) > 1e-2); /* the gradient is not trivial */
    double w = check_var(l, v, n, an, h);
    print_message("  %-28s grad-check worst %.3f (n=%zu, |g|=%.3g)\n", what, w, n, norm(an, n));
    assert_true(w <= 1.0);
    float *bad = zeros(n);
    assert_true(check_var(l, v, n, bad, h) > 1.0); /* zero gradient fails */
    memcpy(bad, an, n * sizeof *bad);
    size_t big = 0;
    for (size_t i = 1; i < n; i++) if (fabsf(an[i]) > fabsf(an[big])) big = i;
    bad[big] *= 1.1f;
    assert_true(check_var(l, v, n, bad, h) > 1.0); /* a wrong entry fails */
    free(bad);
}

static void test_gradcheck_linear(void **state)
{
    (void)state;
    layer l = {&REF, 3, 5, 4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0};
    l.x = rnd(15); l.w = rnd(20); l.b = rnd(4); l.R = rnd(12); l.out = zeros(12);
    float *dx = zeros(15), *dw = zeros(20), *db = zeros(4);
    eval_L(&l);
    l.K->linear_backward(dx, dw, db, l.R, l.x, l.w, l.B, l.C, l.OC);
    expect_gradient(&l, l.x, 15, dx, 1e-2f, "linear d/dx");
    expect_gradient(&l, l.w, 20, dw, 1e-2f, "linear d/dweight");
    expect_gradient(&l, l.b, 4, db, 1e-2f, "linear d/dbias");
    /* backward accumulates: a second call doubles every gradient */
    float *dx2 = zeros(15);
    memcpy(dx2, dx, 15 * sizeof *dx2);
    l.K->linear_backward(dx2, NULL, NULL, l.R, l.x, l.w, l.B, l.C, l.OC);
    for (int i = 0; i < 15; i++) assert_true(fabsf(dx2[i] - 2 * dx[i]) <= 1e-6f);
    free(dx2);
    free(l.x); free(l.w); free(l.b); free(l.R); free(l.out); free(dx); free(dw); free(db);
}

static void test_gradcheck_layernorm(void **state)
{
    (void)state;
    layer l = {&REF, 3, 7, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, 0};
    l.x = rnd(21); l.w = rnd(7); l.b = rnd(7); l.R = rnd(21); l.out = zeros(21);
    l.mean = zeros(3); l.rstd = zeros(3);
    for (int i = 0; i < 21; i++) l.x[i] *= 3.0f; /* non-unit variance */
    float *dx = zeros(21), *dw = zeros(7), *db = zeros(7);
    eval_L(&l);
    l.K->layernorm_backward(dx, dw, db, l.R, l.x, l.w, l.mean, l.rstd, l.B, l.C);
    expect_gradient(&l, l.x, 21, dx, 1e-2f, "layernorm d/dx");
    expect_gradient(&l, l.w, 7, dw, 1e-2f, "layernorm d/dweight");
    expect_gradient(&l, l.b, 7, db, 1e-2f, "layernorm d/dbias");
    free(l.x); free(l.w); free(l.b); free(l.R); free(l.out); free(l.mean); free(l.rstd);
    free(dx); free(dw); free(db);
}

static void check_relu(float p, const char *what)
{
    const int n = 40;
    layer l = {&REF, 4, 10, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, p};
    l.x = rnd(n); l.R = rnd(n); l.out = zeros(n);
    for (int i = 0; i < n; i++) /* keep clear of the kink at 0 */
        l.x[i] = l.x[i] < 0 ? l.x[i] - 0.1f : l.x[i] + 0.1f;
    float *dx = zeros(n);
    eval_L(&l);
    float scale = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
    l.K->relu_dropout_backward(dx, l.R, l.out, n, scale);
    expect_gradient(&l, l.x, n, dx, 1e-2f, what);
    free(l.x); free(l.R); free(l.out); free(dx);
}

static void test_gradcheck_relu(void **state) { (void)state; check_relu(0.0f, "relu d/dx"); }
static void test_gradcheck_relu_dropout(void **state) { (void)state; check_relu(0.3f, "relu+dropout(0.3) d/dx"); }

static void test_dropout_statistics(void **state)
{
    (void)state;
    const size_t n = 200000;
    float *x = zeros(n), *y = zeros(n);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    REF.relu_dropout_forward(y, x, n, 0.3f, 123, 0);
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] == 0.0f) dropped++;
        else assert_true(fabsf(y[i] - 1.0f / 0.7f) < 1e-6f);
    }
    double frac = (double)dropped / n; /* binomial sd ~ 0.001 */
    print_message("  dropout p=0.3: dropped fraction %.4f\n", frac);
    assert_true(fabs(frac - 0.3) < 0.005);
    /* the mask depends on the global index, not on how the batch is cut */
    float *y2 = zeros(n);
    REF.relu_dropout_forward(y2, x, 1000, 0.3f, 123, 0);
    REF.relu_dropout_forward(y2 + 1000, x + 1000, n - 1000, 0.3f, 123, 1000);
    assert_memory_equal(y, y2, n * sizeof(float));
    free(x); free(y); free(y2);
}

/* ---- fast vs reference ------------------------------------------------------- */

/* |a - b| <= 1e-5 * (1 + s) element-wise, s the per-element scale */
static void expect_close(const float *a, const float *b, const float *s, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-5 * (1.0 + (s ? s[i] : fabs(b[i])));
        if (!(fabs((double)a[i] - b[i]) <= tol)) {
            print_message("%s: element %zu: fast %.9g ref %.9g (tol %.3g)\n", what, i, a[i], b[i], tol);
            fail();
        }
    }
}

static void absv(float *d, const float *s, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = fabsf(s[i]);
}

/* ---- fast-path helpers against compositions of the reference kernels -------- */

/* eisnet_cpu_gemm in its three layouts, beta 0 and 1, with leading dimensions
 * wider than the matrices, against the reference Linear kernels on packed
 * copies. Shapes cover the small-M, thin-K/N and BLAS branches. */
static void compare_gemm(int M, int N, int K)
{
    const ref_layers *R = &REF;
    const int pad = 3;
    /* (0,1): C (M,N) = A (M,K) @ W^T, W (N,K): linear_forward(out, A, W) */
    float *A = rnd((size_t)M * (K + pad)), *W = rnd((size_t)N * (K + pad));
    float *Ap = zeros((size_t)M * K), *Wp = zeros((size_t)N * K);
    for (int m = 0; m < M; m++) memcpy(Ap + (size_t)m * K, A + (size_t)m * (K + pad), (size_t)K * sizeof(float));
    for (int n = 0; n < N; n++) memcpy(Wp + (size_t)n * K, W + (size_t)n * (K + pad), (size_t)K * sizeof(float));
    float *aA = zeros((size_t)M * K), *aW = zeros((size_t)N * K);
    absv(aA, Ap, (size_t)M * K); absv(aW, Wp, (size_t)N * K);
    float *ref = zeros((size_t)M * N), *scale = zeros((size_t)M * N);
    R->linear_forward(ref, Ap, Wp, NULL, M, K, N);
    R->linear_forward(scale, aA, aW, NULL, M, K, N);
    float *C = rnd((size_t)M * (N + pad)), *got = zeros((size_t)M * N), *start = zeros((size_t)M * N);
    for (int m = 0; m < M; m++) memcpy(start + (size_t)m * N, C + (size_t)m * (N + pad), (size_t)N * sizeof(float));
    eisnet_cpu_gemm(0, 1, M, N, K, A, K + pad, W, K + pad, 1.0f, C, N + pad); /* beta 1 */
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) got[(size_t)m * N + n] = C[(size_t)m * (N + pad) + n] - start[(size_t)m * N + n];
    float *s1 = zeros((size_t)M * N);
    for (size_t i = 0; i < (size_t)M * N; i++) s1[i] = scale[i] + 2.0f * fabsf(start[i]);
    expect_close(got, ref, s1, (size_t)M * N, "cpu_gemm NT beta 1");
    for (int m = 0; m < M; m++) C[(size_t)m * (N + pad) + N] = 7.0f; /* padding untouched */
    eisnet_cpu_gemm(0, 1, M, N, K, A, K + pad, W, K + pad, 0.0f, C, N + pad); /* beta 0 */
    for (int m = 0; m < M; m++) {
        memcpy(got + (size_t)m * N, C + (size_t)m * (N + pad), (size_t)N * sizeof(float));
        assert_true(C[(size_t)m * (N + pad) + N] == 7.0f);
    }
    expect_close(got, ref, scale, (size_t)M * N, "cpu_gemm NT beta 0");

    /* (0,0): D (M,K) = G (M,N) @ Wp (N,K): linear_backward din; (1,0):
     * dW (N,K) = G^T @ Ap: linear_backward dweight */
    float *G = rnd((size_t)M * N), *aG = zeros((size_t)M * N);
    absv(aG, G, (size_t)M * N);
    float *din = zeros((size_t)M * K), *dw = zeros((size_t)N * K), *sdin = zeros((size_t)M * K), *sdw = zeros((size_t)N * K);
    R->linear_backward(din, dw, NULL, G, Ap, Wp, M, K, N);
    R->linear_backward(sdin, sdw, NULL, aG, aA, aW, M, K, N);
    float *D = rnd((size_t)M * K), *E = rnd((size_t)N * K);
    eisnet_cpu_gemm(0, 0, M, K, N, G, N, Wp, K, 0.0f, D, K);
    expect_close(D, din, sdin, (size_t)M * K, "cpu_gemm NN beta 0");
    eisnet_cpu_gemm(1, 0, N, K, M, G, N, Ap, K, 0.0f, E, K);
    expect_close(E, dw, sdw, (size_t)N * K, "cpu_gemm TN beta 0");
    eisnet_cpu_gemm(1, 0, N, K, M, G, N, Ap, K, 1.0f, E, K); /* accumulate: twice */
    for (size_t i = 0; i < (size_t)N * K; i++) { dw[i] *= 2.0f; sdw[i] *= 2.0f; }
    expect_close(E, dw, sdw, (size_t)N * K, "cpu_gemm TN beta 1");
    free(A); free(W); free(Ap); free(Wp); free(aA); free(aW); free(ref); free(scale); free(C);
    free(got); free(start); free(s1); free(G); free(aG); free(din); free(dw); free(sdin); free(sdw);
    free(D); free(E);
}

/* fused LayerNorm(in + in_bias) + ReLU + dropout and its backward, against
 * ref linear bias add, layernorm_forward, relu_dropout_forward and the
 * backward chain relu_dropout_backward -> layernorm_backward */
static void compare_fused_layernorm(int B, int C, float p, int with_bias)
{
    const ref_layers *R = &REF;
    const size_t n = (size_t)B * C;
    float *h = rnd(n), *ib = with_bias ? rnd(C) : NULL, *w = rnd(C), *b = rnd(C), *g = rnd(n);
    for (size_t i = 0; i < n; i++) h[i] = 2.0f * h[i] + 0.5f;
    float *x = zeros(n); /* h + in_bias */
    for (size_t i = 0; i < n; i++) x[i] = h[i] + (ib ? ib[i % C] : 0.0f);
    const uint64_t key = 4242, idx0 = 77;
    float *l = zeros(n), *o1 = zeros(n), *m1 = zeros(B), *r1 = zeros(B);
    R->layernorm_forward(l, m1, r1, x, w, b, B, C);
    R->relu_dropout_forward(o1, l, n, p, key, idx0);
    float *o2 = zeros(n), *m2 = zeros(B), *r2 = zeros(B);
    eisnet_cpu_layernorm_relu_dropout_forward(o2, m2, r2, h, ib, w, b, B, C, p, key, idx0);
    expect_close(m2, m1, NULL, B, "fused ln fwd mean");
    expect_close(r2, r1, NULL, B, "fused ln fwd rstd");
    expect_close(o2, o1, NULL, n, "fused ln fwd out");
    for (size_t i = 0; i < n; i++) /* the same elements pass */
        assert_true((o1[i] > 0.0f) == (o2[i] > 0.0f) || fabsf(o1[i]) < 1e-5f);
    const float s = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
    float *dl = zeros(n), *dx1 = zeros(n), *dw1 = rnd(C), *db1 = rnd(C);
    float *dx2 = rnd(n), *dw2 = zeros(C), *db2 = zeros(C); /* dx2: overwritten */
    memcpy(dw2, dw1, (size_t)C * sizeof(float));
    memcpy(db2, db1, (size_t)C * sizeof(float));
    R->relu_dropout_backward(dl, g, o1, n, s);
    R->layernorm_backward(dx1, dw1, db1, dl, x, w, m1, r1, B, C);
    eisnet_cpu_relu_dropout_layernorm_backward(dx2, dw2, db2, g, o1, s, h, ib, w, m1, r1, B, C, NULL);
    float *sx = zeros(n), *sw = zeros(C);
    for (size_t i = 0; i < n; i++) sx[i] = 3.0f * s * (float)C * r1[i / C];
    for (int i = 0; i < C; i++) sw[i] = 3.0f * s * (float)B + 1.0f;
    expect_close(dx2, dx1, sx, n, "fused ln bwd din");
    expect_close(dw2, dw1, sw, C, "fused ln bwd dweight");
    expect_close(db2, db1, sw, C, "fused ln bwd dbias");
    /* with the column sums of din (the folded bias's gradient): the same din,
     * and colsum += sum over rows of din */
    float *dx3 = rnd(n), *cs = rnd(C), *cs_want = zeros(C), *scs = zeros(C);
    memcpy(cs_want, cs, (size_t)C * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        cs_want[i % C] += dx1[i];
        scs[i % C] += sx[i];
    }
    memcpy(dw2, dw1, (size_t)C * sizeof(float));
    memcpy(db2, db1, (size_t)C * sizeof(float));
    eisnet_cpu_relu_dropout_layernorm_backward(dx3, dw2, db2, g, o1, s, h, ib, w, m1, r1, B, C, cs);
    expect_close(dx3, dx1, sx, n, "fused ln bwd din (with colsum)");
    expect_close(cs, cs_want, scs, C, "fused ln bwd din column sums");
    free(dx3); free(cs); free(cs_want); free(scs);
    free(h); free(ib); free(w); free(b); free(g); free(x); free(l); free(o1); free(m1); free(r1);
    free(o2); free(m2); free(r2); free(dl); free(dx1); free(dw1); free(db1); free(dx2); free(dw2);
    free(db2); free(sx); free(sw);
}

/* bias + ReLU + dropout on strided rows, and the in-place backward, against
 * relu_dropout_forward / _backward on a packed (B, n) block */
static void compare_strided_relu(int B, int n, int ld, float p)
{
    const ref_layers *R = &REF;
    const size_t N = (size_t)B * n;
    float *in = rnd((size_t)B * ld), *bias = rnd(n), *packed = zeros(N), *o1 = zeros(N);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) packed[(size_t)b * n + i] = in[(size_t)b * ld + i] + bias[i];
    R->relu_dropout_forward(o1, packed, N, p, 31, 500);
    float *out = rnd((size_t)B * ld), *keep = zeros((size_t)B * ld);
    memcpy(keep, out, (size_t)B * ld * sizeof(float));
    eisnet_cpu_bias_relu_dropout_forward(out, in, bias, B, n, ld, p, 31, 500);
    for (int b = 0; b < B; b++) {
        assert_memory_equal(out + (size_t)b * ld, o1 + (size_t)b * n, (size_t)n * sizeof(float));
        for (int i = n; i < ld; i++) assert_true(out[(size_t)b * ld + i] == keep[(size_t)b * ld + i]);
    }
    /* in place (out == in) gives the same */
    eisnet_cpu_bias_relu_dropout_forward(in, in, bias, B, n, ld, p, 31, 500);
    for (int b = 0; b < B; b++)
        assert_memory_equal(in + (size_t)b * ld, o1 + (size_t)b * n, (size_t)n * sizeof(float));
    const float s = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
    float *g = rnd(N), *d1 = zeros(N), *d2 = rnd((size_t)B * ld);
    R->relu_dropout_backward(d1, g, o1, N, s);
    for (int b = 0; b < B; b++) memcpy(d2 + (size_t)b * ld, g + (size_t)b * n, (size_t)n * sizeof(float));
    eisnet_cpu_relu_dropout_backward_inplace(d2, out, B, n, ld, s);
    for (int b = 0; b < B; b++)
        assert_memory_equal(d2 + (size_t)b * ld, d1 + (size_t)b * n, (size_t)n * sizeof(float));
    free(in); free(bias); free(packed); free(o1); free(out); free(keep); free(g); free(d1); free(d2);
}

/* the vectorised exponential within 3 ulp of e^x (computed in double), its
 * limits, and the softmax built on it against a plain double softmax */
static void test_exp_and_softmax(void **state)
{
    (void)state;
    const size_t n = 200001;
    float *x = zeros(n), *y = zeros(n);
    for (size_t i = 0; i < n; i++) x[i] = -87.0f + 175.0f * (float)i / (float)(n - 1);
    eisnet_cpu_exp(y, x, n);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double e = exp((double)x[i]);
        const double ulp = (double)nextafterf((float)e, INFINITY) - (double)(float)e;
        worst = fmax(worst, fabs((double)y[i] - e) / ulp);
    }
    print_message("  exp: worst %.2f ulp over [-87, 88]\n", worst);
    assert_true(worst <= 3.0);
    float sx[6] = {0.0f, -100.0f, 100.0f, -INFINITY, INFINITY, NAN}, sy[6];
    eisnet_cpu_exp(sy, sx, 6);
    assert_true(sy[0] == 1.0f && sy[1] == 0.0f && isinf(sy[2]) && sy[3] == 0.0f && isinf(sy[4]));
    assert_true(isnan(sy[5]));
    free(x);
    free(y);

    const long rows = 37;
    const int G = 12;
    float *lg = rnd((size_t)rows * G), *pr = rnd((size_t)rows * G);
    uint8_t sel[37];
    for (long i = 0; i < rows; i++) sel[i] = i % 3 != 1;
    for (int g = 0; g < G; g++) lg[5 * G + g] = -1000.0f + 30.0f * (float)g; /* far tails */
    for (int pass = 0; pass < 2; pass++) {
        eisnet_cpu_softmax_rows(pr, lg, rows, G, pass ? sel : NULL);
        for (long i = 0; i < rows; i++) {
            const float *l = lg + i * G, *p = pr + i * G;
            if (pass && !sel[i]) {
                for (int g = 0; g < G; g++) assert_true(p[g] == 0.0f);
                continue;
            }
            double mx = l[0], sum = 0.0, tot = 0.0;
            for (int g = 1; g < G; g++) mx = fmax(mx, l[g]);
            for (int g = 0; g < G; g++) sum += exp((double)l[g] - mx);
            for (int g = 0; g < G; g++) {
                const double want = exp((double)l[g] - mx) / sum;
                assert_true(fabs((double)p[g] - want) <= 1e-6 * want + 1e-30);
                tot += p[g];
            }
            assert_true(fabs(tot - 1.0) <= 1e-6);
        }
    }
    free(lg);
    free(pr);
}

static void test_fast_helpers(void **state)
{
    (void)state;
    /* the network's products: batch 1 (small-M loops), n_in 10 (thin K / N),
     * heads (N 384, K 128), and odd sizes */
    const int shapes[][3] = {{1, 512, 10}, {1, 256, 512}, {3, 128, 256}, {4, 384, 128},
                             {1, 12, 64},  {5, 12, 64},   {67, 512, 10}, {67, 256, 512},
                             {33, 384, 128}, {19, 7, 3},  {1, 1, 1},     {6, 17, 33},
                             {40, 20, 16}, {40, 20, 17}, {2, 5, 110},
                             /* one row: the AVX-512 gemv's 8-row blocks, N % 8 and K % 16 tails */
                             {1, 13, 37}, {1, 9, 16}, {1, 7, 110}, {1, 64, 128}, {1, 8, 15},
                             /* thin K (forward, <= 16) and thin N (weight gradient, <= 12):
                              * full 4 x 64 tiles, column and row tails */
                             {67, 40, 12}, {5, 33, 7}, {70, 100, 1}, {9, 48, 11}, {33, 17, 5},
                             {8, 128, 16}, {6, 70, 13}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        compare_gemm(shapes[i][0], shapes[i][1], shapes[i][2]);
    for (int t = 0; t < 20; t++)
        compare_gemm(1 + (int)((frand() + 1.0f) * 30.0f), 1 + (int)((frand() + 1.0f) * 40.0f),
                     1 + (int)((frand() + 1.0f) * 40.0f));
    for (int K = 1; K <= 70; K += 23) { /* rows_dot against linear_forward with one output */
        const int B = 5, lda = K + 2;
        float *A = rnd((size_t)B * lda), *w = rnd((size_t)K), *Ap = zeros((size_t)B * K);
        float bias = 0.25f, want[5], got[5], sc[5], *aA = zeros((size_t)B * K), *aw = zeros((size_t)K);
        for (int b = 0; b < B; b++) memcpy(Ap + (size_t)b * K, A + (size_t)b * lda, (size_t)K * sizeof(float));
        absv(aA, Ap, (size_t)B * K);
        absv(aw, w, (size_t)K);
        REF.linear_forward(want, Ap, w, &bias, B, K, 1);
        REF.linear_forward(sc, aA, aw, NULL, B, K, 1);
        eisnet_cpu_rows_dot(got, A, lda, w, bias, B, K);
        for (int b = 0; b < B; b++) sc[b] += 1.0f;
        expect_close(got, want, sc, B, "rows_dot");
        free(A); free(w); free(Ap); free(aA); free(aw);
    }
    compare_fused_layernorm(1, 512, 0.3f, 1);
    compare_fused_layernorm(37, 256, 0.2f, 1);
    compare_fused_layernorm(5, 33, 0.0f, 0);
    compare_fused_layernorm(3, 1, 0.0f, 1);
    compare_strided_relu(1, 64, 384, 0.1f);
    compare_strided_relu(9, 64, 384, 0.0f);
    compare_strided_relu(13, 7, 9, 0.3f);
}

static float round_bf16(float x) /* to nearest even, as the conversion does */
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    u &= 0xFFFF0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* One layout and shape: C = beta * C0 + op(A) op(B), strided operands. */
static void compare_gemm_bf16(int ta, int tb, int M, int N, int K, float beta)
{
    const int pad = 5, ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    const int lda = ca + pad, ldb = cb + pad, ldc = N + pad;
    float *A = rnd((size_t)ra * lda), *B = rnd((size_t)rb * ldb), *C = rnd((size_t)M * ldc);
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc);
    assert_non_null(C0);
    memcpy(C0, C, sizeof(float) * (size_t)M * ldc);
    assert_int_equal(eisnet_cpu_gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc), 1);
    double worst_rounded = 0, worst_exact = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s_round = 0, s_exact = 0, s_abs = 0;
            for (int k = 0; k < K; k++) {
                const float a = ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                const float b = tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
                s_round += (double)round_bf16(a) * round_bf16(b);
                s_exact += (double)a * b;
                s_abs += fabs((double)a * b);
            }
            const double base = beta != 0.0f ? C0[(size_t)m * ldc + n] : 0.0;
            const double got = C[(size_t)m * ldc + n];
            const double e1 = fabs(got - base - s_round) / (1e-5 * (1.0 + s_abs));
            const double e2 = fabs(got - base - s_exact) / (2.0 * 0.00390625 * (1.0 + s_abs));
            if (e1 > worst_rounded) worst_rounded = e1;
            if (e2 > worst_exact) worst_exact = e2;
        }
    if (worst_rounded > 1.0 || worst_exact > 1.0)
        fail_msg("gemm_bf16 ta %d tb %d M %d N %d K %d beta %g: error %.3g of the float32-sum bound, "
                 "%.3g of the bfloat16 bound", ta, tb, M, N, K, beta, worst_rounded, worst_exact);
    for (int m = 0; m < M; m++) /* the padding between rows is untouched */
        for (int n = N; n < ldc; n++) assert_true(C[(size_t)m * ldc + n] == C0[(size_t)m * ldc + n]);
    free(A); free(B); free(C); free(C0);
}

static void test_gemm_bf16(void **state)
{
    (void)state;
    if (!eisnet_cpu_amx_available()) {
        print_message("no AMX bfloat16 tiles on this CPU or kernel: bfloat16 products not tested here\n");
        skip();
    }
    /* the network's products at 256 rows per thread (forward, input and
     * weight gradients) and odd sizes that exercise every padding */
    const int shapes[][5] = {{0, 1, 256, 512, 110}, {0, 1, 256, 256, 512}, {0, 1, 256, 64, 128},
                             {0, 0, 256, 512, 256}, {0, 0, 256, 128, 64},  {1, 0, 512, 110, 256},
                             {1, 0, 256, 512, 256}, {1, 0, 64, 128, 256},  {0, 1, 33, 45, 70},
                             {0, 0, 47, 33, 95},    {1, 0, 40, 37, 33},    {1, 0, 97, 64, 61},
                             {0, 1, 32, 32, 32}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        compare_gemm_bf16(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4], 0.0f);
        compare_gemm_bf16(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4], 1.0f);
    }
    /* a dimension under 32 is refused, C untouched */
    float A[31 * 64] = {0}, B[64 * 64] = {0}, C[31 * 64];
    for (int i = 0; i < 31 * 64; i++) C[i] = 7.0f;
    assert_int_equal(eisnet_cpu_gemm_bf16(0, 0, 31, 64, 64, A, 64, B, 64, 0.0f, C, 64), 0);
    assert_int_equal(eisnet_cpu_gemm_bf16(0, 1, 64, 12, 64, B, 64, A, 64, 0.0f, C, 12), 0);
    for (int i = 0; i < 31 * 64; i++) assert_true(C[i] == 7.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_linear),
        cmocka_unit_test(test_gradcheck_layernorm),
        cmocka_unit_test(test_gradcheck_relu),
        cmocka_unit_test(test_gradcheck_relu_dropout),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_fast_helpers),
        cmocka_unit_test(test_exp_and_softmax),
        cmocka_unit_test(test_gemm_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
