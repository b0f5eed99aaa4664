/* Every operation of a backend of eisnet/backend.h against the CPU helpers,
 * through the backend's own buffers (alloc, upload, download): shared by
 * tests/test_cuda_backend.c (the CUDA backend's mapping on a host table) and
 * tests/test_cuda_gpu.c (on the GPU).
 *
 * tol is the relative tolerance of results that involve sums (0: bitwise,
 * for a backend that runs the CPU's own code). Element-wise results that
 * involve no sum (bias+ReLU+dropout, the in-place ReLU/dropout backward) are
 * compared bitwise whatever tol is: the dropout masks must be the same bits. */
#ifndef EISNET_TEST_CUDA_BACKEND_CHECK_H
#define EISNET_TEST_CUDA_BACKEND_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/backend.h"
#include "kernels_cpu.h"
#include "eisnet/kernels.h"
#include "eisnet/model.h"
#include "eisnet/optim.h"

static uint64_t bc_state = 12345;
static float bc_rand(void) /* uniform in [-1, 1) */
{
    bc_state = bc_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(bc_state >> 40) / 8388608.0 - 1.0);
}

static float *bc_rand_array(size_t n, float scale)
{
    float *a = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(a);
    for (size_t i = 0; i < n; i++) a[i] = scale * bc_rand();
    return a;
}

/* a device copy of host[n] */
static float *bc_up(eisnet_backend *be, const float *host, size_t n)
{
    float *d = be->ops->alloc(be, n * sizeof(float));
    assert_non_null(d);
    be->ops->upload(be, d, host, n * sizeof(float));
    return d;
}

/* max over i of |want - got| / (1 + |want|) after downloading got */
static double bc_diff(eisnet_backend *be, const float *want, const float *dev, size_t n)
{
    float *got = malloc(n * sizeof(float));
    assert_non_null(got);
    be->ops->download(be, got, dev, n * sizeof(float));
    assert_int_equal(be->ops->sync(be), 0);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)want[i] - got[i]) / (1.0 + fabs(want[i]));
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    free(got);
    return worst;
}

/* the number of elements whose bits differ */
static size_t bc_bits_differ(eisnet_backend *be, const float *want, const float *dev, size_t n)
{
    float *got = malloc(n * sizeof(float));
    assert_non_null(got);
    be->ops->download(be, got, dev, n * sizeof(float));
    assert_int_equal(be->ops->sync(be), 0);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += memcmp(&want[i], &got[i], sizeof(float)) != 0;
    free(got);
    return k;
}

#define BC_CHECK(name, d, tol)                                                                     \
    do {                                                                                           \
        const double d_ = (d);                                                                     \
        print_message("  %-28s %.3g\n", name, d_);                                                 \
        assert_true(d_ <= (tol));                                                                  \
    } while (0)

static void bc_check_gemm(eisnet_backend *be, double tol)
{
    /* the model's three cases, with leading dimensions wider than the rows
     * and both values of beta */
    const int M = 37, N = 70, K = 45, pad = 3;
    const int cases[3][2] = {{0, 1}, {0, 0}, {1, 0}};
    for (int c = 0; c < 3; c++)
        for (int beta = 0; beta < 2; beta++) {
            const int ta = cases[c][0], tb = cases[c][1];
            const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
            const size_t nc = (size_t)M * ldc;
            float *A = bc_rand_array(na, 1.0f), *B = bc_rand_array(nb, 1.0f);
            float *C = bc_rand_array(nc, 1.0f);
            float *dA = bc_up(be, A, na), *dB = bc_up(be, B, nb), *dC = bc_up(be, C, nc);
            eisnet_cpu_gemm(ta, tb, M, N, K, A, lda, B, ldb, (float)beta, C, ldc);
            be->ops->gemm(be, ta, tb, M, N, K, dA, lda, dB, ldb, (float)beta, dC, ldc);
            char name[64];
            snprintf(name, sizeof name, "gemm ta %d tb %d beta %d", ta, tb, beta);
            /* beta 0 leaves the padding columns as they were: compared too */
            BC_CHECK(name, bc_diff(be, C, dC, nc), tol);
            be->ops->free_buffer(be, dA);
            be->ops->free_buffer(be, dB);
            be->ops->free_buffer(be, dC);
            free(A);
            free(B);
            free(C);
        }
}

static void bc_check_rows(eisnet_backend *be, double tol)
{
    const int B = 29, n = 70, ld = 75;
    float *bias = bc_rand_array(n, 1.0f), *C = bc_rand_array((size_t)B * ld, 1.0f);
    float *dbias = bc_up(be, bias, n), *dC = bc_up(be, C, (size_t)B * ld);
    for (int b = 0; b < B; b++) memcpy(C + (size_t)b * ld, bias, n * sizeof(float));
    be->ops->bias_rows(be, dC, ld, dbias, B, n);
    BC_CHECK("bias_rows", (double)bc_bits_differ(be, C, dC, (size_t)B * ld), 0);
    /* column sums, accumulated onto existing values */
    float *db = bc_rand_array(n, 1.0f), *g = bc_rand_array((size_t)B * ld, 1.0f);
    float *ddb = bc_up(be, db, n), *dg = bc_up(be, g, (size_t)B * ld);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) db[i] += g[(size_t)b * ld + i];
    be->ops->colsum_add(be, ddb, dg, B, n, ld);
    BC_CHECK("colsum_add", bc_diff(be, db, ddb, n), tol);
    /* rows_dot and its backward */
    const int K = 64;
    float *A = bc_rand_array((size_t)B * ld, 1.0f), *w = bc_rand_array(K, 1.0f);
    float bval = 0.25f, out[29], dout[29];
    for (int b = 0; b < B; b++) dout[b] = bc_rand();
    float *dA = bc_up(be, A, (size_t)B * ld), *dw = bc_up(be, w, K), *dbv = bc_up(be, &bval, 1);
    float *dout_d = bc_up(be, out, B), *ddout = bc_up(be, dout, B);
    eisnet_cpu_rows_dot(out, A, ld, w, bval, B, K);
    be->ops->rows_dot(be, dout_d, dA, ld, dw, dbv, B, K);
    BC_CHECK("rows_dot", bc_diff(be, out, dout_d, B), tol);
    float *gA = bc_rand_array((size_t)B * ld, 1.0f), *gw = bc_rand_array(K, 1.0f), gb = 0.5f;
    float *dgA = bc_up(be, gA, (size_t)B * ld), *dgw = bc_up(be, gw, K), *dgb = bc_up(be, &gb, 1);
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < K; j++) {
            gA[(size_t)b * ld + j] = dout[b] * w[j];
            gw[j] += dout[b] * A[(size_t)b * ld + j];
        }
        gb += dout[b];
    }
    be->ops->rows_dot_bwd(be, dgA, dA, ld, dw, ddout, dgw, dgb, B, K);
    BC_CHECK("rows_dot_bwd dA", bc_diff(be, gA, dgA, (size_t)B * ld), 0);
    BC_CHECK("rows_dot_bwd dw", bc_diff(be, gw, dgw, K), tol);
    BC_CHECK("rows_dot_bwd dbias", bc_diff(be, &gb, dgb, 1), tol);
    float *all[] = {dbias, dC, ddb, dg, dA, dw, dbv, dout_d, ddout, dgA, dgw, dgb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->ops->free_buffer(be, all[i]);
    free(bias); free(C); free(db); free(g); free(A); free(w); free(gA); free(gw);
}

static void bc_check_elementwise(eisnet_backend *be)
{
    const int B = 23, n = 64, ld = 3 * 64;
    const size_t N = (size_t)B * ld;
    float *in = bc_rand_array(N, 1.0f), *bias = bc_rand_array(n, 0.5f), *out = bc_rand_array(N, 1.0f);
    float *din = bc_up(be, in, N), *dbias = bc_up(be, bias, n), *dout = bc_up(be, out, N);
    const uint64_t key = eisnet_hash64(99, 2);
    /* at a column offset inside the wider rows, as the model's heads */
    eisnet_cpu_bias_relu_dropout_forward(out + 64, in + 64, bias, B, n, ld, 0.3f, key, 1000);
    be->ops->bias_relu_dropout_fwd(be, dout + 64, din + 64, dbias, B, n, ld, 0.3f, key, 1000);
    BC_CHECK("bias_relu_dropout_fwd (bits)", (double)bc_bits_differ(be, out, dout, N), 0);
    /* in place, no dropout */
    float *in2 = malloc(N * sizeof(float));
    memcpy(in2, in, N * sizeof(float));
    eisnet_cpu_bias_relu_dropout_forward(in2, in2, bias, B, n, ld, 0.0f, 0, 0);
    be->ops->bias_relu_dropout_fwd(be, din, din, dbias, B, n, ld, 0.0f, 0, 0);
    BC_CHECK("bias_relu_fwd in place (bits)", (double)bc_bits_differ(be, in2, din, N), 0);
    /* the backward in place, on the dropout output */
    float *d = bc_rand_array(N, 1.0f);
    float *dd = bc_up(be, d, N);
    eisnet_cpu_relu_dropout_backward_inplace(d + 64, out + 64, B, n, ld, 1.0f / 0.7f);
    be->ops->relu_dropout_bwd_inplace(be, dd + 64, dout + 64, B, n, ld, 1.0f / 0.7f);
    BC_CHECK("relu_dropout_bwd_inplace (bits)", (double)bc_bits_differ(be, d, dd, N), 0);
    be->ops->free_buffer(be, din);
    be->ops->free_buffer(be, dbias);
    be->ops->free_buffer(be, dout);
    be->ops->free_buffer(be, dd);
    free(in); free(in2); free(bias); free(out); free(d);
}

/* dropout masks of the fused LayerNorm: an element kept on one side and
 * dropped on the other, where the value before dropout is not within
 * rounding of 0, counts */
static size_t bc_mask_mismatch(eisnet_backend *be, const float *want, const float *dev, size_t n)
{
    float *got = malloc(n * sizeof(float));
    be->ops->download(be, got, dev, n * sizeof(float));
    assert_int_equal(be->ops->sync(be), 0);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if ((want[i] == 0.0f) != (got[i] == 0.0f) && fmaxf(fabsf(want[i]), fabsf(got[i])) > 1e-4f) k++;
    free(got);
    return k;
}

static void bc_check_layernorm(eisnet_backend *be, double tol)
{
    const int B = 19, C = 300; /* not a multiple of the warp or block width */
    const size_t N = (size_t)B * C;
    float *h = bc_rand_array(N, 2.0f), *ib = bc_rand_array(C, 0.5f);
    float *w = bc_rand_array(C, 1.0f), *bb = bc_rand_array(C, 0.2f);
    float *out = calloc(N, sizeof(float)), mean[19], rstd[19];
    for (int i = 0; i < C; i++) w[i] += 1.0f;
    float *dh = bc_up(be, h, N), *dib = bc_up(be, ib, C), *dw = bc_up(be, w, C), *dbb = bc_up(be, bb, C);
    float *dout = bc_up(be, out, N), *dmean = bc_up(be, mean, B), *drstd = bc_up(be, rstd, B);
    const uint64_t key = eisnet_hash64(7, 0);
    eisnet_cpu_layernorm_relu_dropout_forward(out, mean, rstd, h, ib, w, bb, B, C, 0.3f, key, 4096);
    be->ops->ln_relu_dropout_fwd(be, dout, dmean, drstd, dh, dib, dw, dbb, B, C, 0.3f, key, 4096);
    BC_CHECK("ln_relu_dropout_fwd out", bc_diff(be, out, dout, N), tol);
    BC_CHECK("ln_relu_dropout_fwd mean", bc_diff(be, mean, dmean, B), tol);
    BC_CHECK("ln_relu_dropout_fwd rstd", bc_diff(be, rstd, drstd, B), tol);
    BC_CHECK("ln_relu_dropout_fwd mask", (double)bc_mask_mismatch(be, out, dout, N), 0);
    BC_CHECK("ln_relu_dropout_fwd h kept", bc_diff(be, h, dh, N), 0); /* the input is not written */
    /* backward on the CPU's forward output (uploaded: both sides see the
     * same mask), with and without the column sums of din */
    be->ops->upload(be, dout, out, N * sizeof(float));
    be->ops->upload(be, dmean, mean, B * sizeof(float));
    be->ops->upload(be, drstd, rstd, B * sizeof(float));
    float *g = bc_rand_array(N, 1.0f), *dx = calloc(N, sizeof(float));
    float *gw = bc_rand_array(C, 1.0f), *gb = bc_rand_array(C, 1.0f), *gc = bc_rand_array(C, 1.0f);
    float *dg = bc_up(be, g, N), *ddx = bc_up(be, dx, N), *dgw = bc_up(be, gw, C);
    float *dgb = bc_up(be, gb, C), *dgc = bc_up(be, gc, C);
    for (int with_colsum = 1; with_colsum >= 0; with_colsum--) {
        eisnet_cpu_relu_dropout_layernorm_backward(dx, gw, gb, g, out, 1.0f / 0.7f, h, ib, w, mean,
                                                   rstd, B, C, with_colsum ? gc : NULL);
        be->ops->ln_relu_dropout_bwd(be, ddx, dgw, dgb, dg, dout, 1.0f / 0.7f, dh, dib, dw, dmean,
                                     drstd, B, C, with_colsum ? dgc : NULL);
        BC_CHECK(with_colsum ? "ln_relu_dropout_bwd din" : "ln bwd din (no colsum)",
                 bc_diff(be, dx, ddx, N), tol);
        BC_CHECK("ln_relu_dropout_bwd dweight", bc_diff(be, gw, dgw, C), tol);
        BC_CHECK("ln_relu_dropout_bwd dbias", bc_diff(be, gb, dgb, C), tol);
        BC_CHECK("ln_relu_dropout_bwd colsum", bc_diff(be, gc, dgc, C), tol);
    }
    float *all[] = {dh, dib, dw, dbb, dout, dmean, drstd, dg, ddx, dgw, dgb, dgc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->ops->free_buffer(be, all[i]);
    free(h); free(ib); free(w); free(bb); free(out); free(g); free(dx); free(gw); free(gb); free(gc);
}

static void bc_check_softmax_xent(eisnet_backend *be, double tol)
{
    const int B = 41, P = 5;
    for (int G = 12; G <= 90; G += 78) { /* both branches of the loss: <= 64 classes and more */
        const size_t n = (size_t)B * P * G;
        float *lg = bc_rand_array(n, 4.0f), *pr = calloc(n, sizeof(float));
        uint8_t *sel = malloc((size_t)B * P);
        int32_t *t = malloc((size_t)B * P * sizeof(int32_t));
        float *rs = bc_rand_array(B, 1.0f), *rt = bc_rand_array(B, 1.0f);
        for (int i = 0; i < B * P; i++) {
            sel[i] = bc_rand() > -0.2f;
            t[i] = (int32_t)((bc_rand() + 1.0f) * 0.5f * G) % G;
        }
        memset(sel + P, 0, P); /* a row with no missing head */
        float *dlg = bc_up(be, lg, n), *dpr = bc_up(be, pr, n);
        uint8_t *dsel = be->ops->alloc(be, (size_t)B * P);
        int32_t *dt = be->ops->alloc(be, (size_t)B * P * sizeof(int32_t));
        be->ops->upload(be, dsel, sel, (size_t)B * P);
        be->ops->upload(be, dt, t, (size_t)B * P * sizeof(int32_t));
        eisnet_cpu_softmax_rows(pr, lg, (long)B * P, G, sel);
        be->ops->softmax_rows(be, dpr, dlg, (long)B * P, G, dsel);
        /* the CPU's exponential is a polynomial within 3 ulp */
        BC_CHECK(G <= 64 ? "softmax_rows" : "softmax_rows (90 classes)", bc_diff(be, pr, dpr, n),
                 fmax(tol, 1e-6));
        float *drs = bc_up(be, rs, B), *drt = bc_up(be, rt, B);
        float *gl = calloc(n, sizeof(float)), *gr = calloc(B, sizeof(float));
        float *dgl = bc_up(be, gl, n), *dgr = bc_up(be, gr, B);
        eisnet_loss L;
        int64_t hits[5] = {0}, cnt[5] = {0}, hits2[5] = {1, 1, 1, 1, 1}, cnt2[5] = {2, 2, 2, 2, 2};
        assert_int_equal(eisnet_loss_compute(lg, rs, B, P, G, t, sel, rt, 0.5f, &L, gl, gr, hits, cnt), 0);
        eisnet_xent_args a = {dlg, drs, dt, dsel, drt, B, P, G, 0.5f, dgl, dgr};
        eisnet_xent_result r = {0, 0, hits2, cnt2};
        be->ops->xent(be, &a, &r);
        BC_CHECK("xent ce", fabs(r.ce_sum / B - L.ce) / L.ce, fmax(tol, 1e-12));
        BC_CHECK("xent mse", fabs(r.se_sum / B - L.mse) / L.mse, fmax(tol, 1e-12));
        BC_CHECK("xent dlogits", bc_diff(be, gl, dgl, n), tol);
        BC_CHECK("xent dresnorm", bc_diff(be, gr, dgr, B), tol);
        for (int k = 0; k < P; k++) { /* incremented, not overwritten */
            assert_int_equal(hits2[k], hits[k] + 1);
            assert_int_equal(cnt2[k], cnt[k] + 2);
        }
        /* without gradient outputs */
        a.dlogits = NULL;
        a.dresnorm = NULL;
        r.hits = r.counted = NULL;
        be->ops->xent(be, &a, &r);
        BC_CHECK("xent ce (no gradients)", fabs(r.ce_sum / B - L.ce) / L.ce, fmax(tol, 1e-12));
        float *all[] = {dlg, dpr, drs, drt, dgl, dgr};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->ops->free_buffer(be, all[i]);
        be->ops->free_buffer(be, dsel);
        be->ops->free_buffer(be, dt);
        free(lg); free(pr); free(sel); free(t); free(rs); free(rt); free(gl); free(gr);
    }
}

/* the clipped AdamW step: the CPU's expressions, so bitwise the CPU's
 * parameters whenever the gradient norm is (a sum in double) */
static void bc_check_clip_adamw(eisnet_backend *be)
{
    const size_t n = 100003;
    float *p = bc_rand_array(n, 1.0f), *g = bc_rand_array(n, 0.01f);
    float *m = bc_rand_array(n, 0.001f), *v = bc_rand_array(n, 0.001f);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]) * 1e-3f;
    float *dp = bc_up(be, p, n), *dg = bc_up(be, g, n), *dm = bc_up(be, m, n), *dv = bc_up(be, v, n);
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, n, NULL), 0);
    memcpy(opt.m, m, n * sizeof(float));
    memcpy(opt.v, v, n * sizeof(float));
    for (int round = 0; round < 2; round++) {
        const float max_norm = round == 0 ? 1.0f : 0.0f; /* clipping (the norm is ~1.8), none */
        eisnet_adamw_consts k = eisnet_adamw_begin(&opt, 1.0f);
        const float norm = eisnet_grad_norm(g, n);
        eisnet_adamw_consts kc = k;
        kc.grad_scale = max_norm > 0.0f ? eisnet_clip_coef(norm, max_norm) : 1.0f;
        eisnet_adamw_update(&opt, &kc, p, g, 0, n);
        eisnet_step_args a = {dp, dg, dm, dv, n, k, max_norm};
        a.k.grad_scale = 123.0f; /* ignored */
        const float got = be->ops->clip_adamw(be, &a);
        BC_CHECK(round == 0 ? "clip_adamw norm" : "adamw norm (no clip)", fabs(got - norm) / norm, 1e-6);
        BC_CHECK("clip_adamw params (bits)", (double)bc_bits_differ(be, p, dp, n), 0);
        BC_CHECK("clip_adamw m (bits)", (double)bc_bits_differ(be, opt.m, dm, n), 0);
        BC_CHECK("clip_adamw v (bits)", (double)bc_bits_differ(be, opt.v, dv, n), 0);
        BC_CHECK("clip_adamw grads kept (bits)", (double)bc_bits_differ(be, g, dg, n), 0);
    }
    eisnet_adamw_free(&opt);
    float *all[] = {dp, dg, dm, dv};
    for (size_t i = 0; i < 4; i++) be->ops->free_buffer(be, all[i]);
    free(p); free(g); free(m); free(v);
}

/* run_rows: one pass adds row numbers into the gradients; zero_grads,
 * then the step */
typedef struct {
    int calls, rows;
    float add;
} bc_pass_arg;

static void bc_pass_fn(void *arg, eisnet_backend *be, int b0, int nb, float *grads)
{
    bc_pass_arg *a = arg;
    a->calls++;
    a->rows += nb;
    (void)b0;
    if (grads) { /* grads[0..3] += add, by a column sum of a (1, 4) row */
        float row[4] = {a->add, a->add, a->add, a->add};
        float *d = be->ops->alloc(be, sizeof row);
        be->ops->upload(be, d, row, sizeof row);
        be->ops->colsum_add(be, grads, d, 1, 4, 4);
        be->ops->free_buffer(be, d);
    }
}

static void bc_check_run_rows(eisnet_backend *be)
{
    float g0[4] = {5, 5, 5, 5}, p0[4] = {1, 2, 3, 4}, z[4] = {0};
    float *dg = bc_up(be, g0, 4), *dp = bc_up(be, p0, 4), *dm = bc_up(be, z, 4), *dv = bc_up(be, z, 4);
    bc_pass_arg arg = {0, 0, 2.0f};
    eisnet_rows_pass pass = {100, bc_pass_fn, &arg, NULL, 0, 0, NULL, NULL};
    assert_int_equal(be->ops->run_rows(be, &pass), 0); /* forward: no gradients */
    assert_int_equal(arg.rows, 100);
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, 4, NULL), 0);
    eisnet_step_args step = {dp, dg, dm, dv, 4, eisnet_adamw_begin(&opt, 1.0f), 0.0f};
    float norm = -1.0f;
    arg.rows = 0;
    pass.grads = dg;
    pass.n_grads = 4;
    pass.zero_grads = 1;
    pass.step = &step;
    pass.norm = &norm;
    assert_int_equal(be->ops->run_rows(be, &pass), 0);
    assert_int_equal(arg.rows, 100);
    assert_int_equal(arg.calls, 2); /* one block per pass */
    float want[4] = {2, 2, 2, 2};    /* zeroed first, then 2 added */
    BC_CHECK("run_rows grads", bc_diff(be, want, dg, 4), 0);
    assert_true(fabsf(norm - 4.0f) < 1e-6f);
    float p[4];
    be->ops->download(be, p, dp, sizeof p);
    assert_int_equal(be->ops->sync(be), 0);
    for (int i = 0; i < 4; i++) assert_true(p[i] < p0[i]); /* a step against the gradient */
    eisnet_adamw_free(&opt);
    float *all[] = {dg, dp, dm, dv};
    for (size_t i = 0; i < 4; i++) be->ops->free_buffer(be, all[i]);
}

static void bc_check_all(eisnet_backend *be, double tol)
{
    print_message("  backend %s (relative tolerance %g, 0 = bitwise)\n", be->name, tol);
    for (int op = 0; op < EISNET_OP_COUNT; op++)
        if (op != EISNET_OP_GATHER_ROWS && op != EISNET_OP_SCATTER_ROWS)
            assert_true(be->ops->supports_op(be, (eisnet_op)op));
    bc_check_gemm(be, tol);
    bc_check_rows(be, tol);
    bc_check_elementwise(be);
    bc_check_layernorm(be, tol);
    bc_check_softmax_xent(be, tol);
    bc_check_clip_adamw(be);
    bc_check_run_rows(be);
}

#endif
