/* Shared by tests/test_cuda_*.c: random batches and the comparisons of the
 * network on an operation table (src/nn/cuda.c) against the CPU model. */
#ifndef EISNET_TEST_CUDA_COMMON_H
#define EISNET_TEST_CUDA_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.h"
#include "eisnet/cuda.h"
#include "eisnet/error.h"
#include "eisnet/model.h"
#include "eisnet/optim.h"

static uint64_t cu_rng = 7;
static float cu_frand(void) /* uniform in [-1, 1) */
{
    cu_rng = cu_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(cu_rng >> 40) / 8388608.0 - 1.0);
}

typedef struct {
    int B;
    float *x, *rt;
    int32_t *target;
    uint8_t *missing;
} cu_batch;

/* random inputs and targets; each row misses 1 .. P parameters at random,
 * row 0 all of them */
static cu_batch cu_make_batch(const eisnet_model_config *c, int B)
{
    const int P = c->n_params;
    cu_batch b = {B, malloc(sizeof(float) * (size_t)B * c->n_in), malloc(sizeof(float) * B),
                  malloc(sizeof(int32_t) * (size_t)B * P), malloc((size_t)B * P)};
    assert_true(b.x && b.rt && b.target && b.missing);
    for (int i = 0; i < B * c->n_in; i++) b.x[i] = 1.5f * cu_frand();
    for (int i = 0; i < B; i++) b.rt[i] = 1.0f + cu_frand();
    for (int i = 0; i < B * P; i++) {
        b.target[i] = (int32_t)((cu_frand() + 1.0f) * 0.5f * c->n_grid) % c->n_grid;
        b.missing[i] = cu_frand() > 0.0f;
    }
    for (int r = 0; r < B; r++) {
        int any = 0;
        for (int k = 0; k < P; k++) any |= b.missing[r * P + k];
        if (!any || r == 0) b.missing[r * P + (r == 0 ? 0 : r % P)] = 1;
    }
    memset(b.missing, 1, (size_t)P);
    return b;
}

static void cu_free_batch(cu_batch *b)
{
    free(b->x);
    free(b->rt);
    free(b->target);
    free(b->missing);
}

static double cu_rel(double a, double b) { return fabs(a - b) / fmax(fabs(a), fabs(b)); }

/* `steps` training steps of the CPU model and of the network on ops from the
 * same initial parameters, batches and rng; losses and gradient norms agree
 * to loss_tol relative, parameters afterwards to param_tol absolute (AdamW
 * moves each by at most about lr = 1e-3 per step), hit counts to hit_slack. */
static void cu_compare_trajectory(const eisnet_cu_ops *ops, const eisnet_model_config *c, int B,
                                  int steps, double loss_tol, double param_tol, int hit_slack)
{
    eisnet_model *m_cpu = eisnet_model_new(c, 11), *m_dev = eisnet_model_new(c, 11);
    assert_non_null(m_cpu);
    assert_non_null(m_dev);
    const size_t n = eisnet_model_n_params(m_cpu);
    const int P = c->n_params;
    eisnet_workspace *ws = eisnet_workspace_new(m_cpu, B);
    eisnet_cuda_net *net = eisnet_cuda_net_new_ops(ops, m_dev, B + 5);
    if (!net) fail_msg("%s", eisnet_last_error());
    eisnet_adamw o_cpu, o_dev;
    assert_int_equal(eisnet_adamw_init(&o_cpu, n, NULL), 0);
    assert_int_equal(eisnet_adamw_init(&o_dev, n, NULL), 0);
    uint64_t r_cpu = 1, r_dev = 1;
    cu_rng = 3;
    double first = 0.0, last = 0.0;
    for (int s = 0; s < steps; s++) {
        cu_batch b = cu_make_batch(c, B);
        eisnet_loss l1, l2;
        float g1, g2;
        int64_t c1[2 * 8] = {0}, c2[2 * 8] = {0};
        assert_true(P <= 8);
        assert_int_equal(eisnet_model_train_step(m_cpu, ws, &o_cpu, b.x, B, b.target, b.missing, b.rt,
                                                 0.5f, 1.0f, &r_cpu, &l1, &g1, c1, c1 + P),
                         0);
        if (eisnet_cuda_net_train_step(net, &o_dev, b.x, B, b.target, b.missing, b.rt, 0.5f, 1.0f,
                                       &r_dev, &l2, &g2, c2, c2 + P))
            fail_msg("%s", eisnet_last_error());
        print_message("  step %d loss cpu %.7f %s %.7f  |g| %.5f %.5f\n", s, l1.loss, ops->name,
                      l2.loss, g1, g2);
        assert_true(cu_rel(l1.loss, l2.loss) <= loss_tol);
        assert_true(cu_rel(l1.ce, l2.ce) <= loss_tol);
        assert_true(cu_rel(l1.mse, l2.mse) <= loss_tol);
        assert_true(cu_rel(g1, g2) <= loss_tol);
        for (int k = 0; k < P; k++) {
            assert_int_equal(c1[P + k], c2[P + k]); /* missing entries: exact */
            assert_true(llabs(c1[k] - c2[k]) <= hit_slack);
        }
        assert_true(r_cpu == r_dev);
        assert_true(o_cpu.step == o_dev.step);
        if (s == 0) first = l1.loss;
        last = l1.loss;
        cu_free_batch(&b);
    }
    (void)first;
    (void)last;
    assert_int_equal(eisnet_cuda_net_download(net, m_dev, &o_dev), 0);
    const float *p1 = eisnet_model_params(m_cpu), *p2 = eisnet_model_params(m_dev);
    double worst = 0.0, worst_m = 0.0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)p1[i] - p2[i]));
        worst_m = fmax(worst_m, fabs((double)o_cpu.m[i] - o_dev.m[i]));
    }
    print_message("  after %d steps: max |param cpu - %s| %.3g, max |m cpu - %s| %.3g\n", steps,
                  ops->name, worst, ops->name, worst_m);
    assert_true(worst <= param_tol);
    assert_true(worst_m <= param_tol);
    eisnet_adamw_free(&o_cpu);
    eisnet_adamw_free(&o_dev);
    eisnet_cuda_net_free(net);
    eisnet_workspace_free(ws);
    eisnet_model_free(m_cpu);
    eisnet_model_free(m_dev);
}

/* predictions of the network on ops against eisnet_model_predict_masked, for
 * B rows through a device copy of max_batch rows (B > max_batch: chunks),
 * with and without a head selection */
static void cu_compare_predict(const eisnet_cu_ops *ops, const eisnet_model_config *c, int B,
                               int max_batch, double tol)
{
    eisnet_model *m = eisnet_model_new(c, 5);
    assert_non_null(m);
    eisnet_workspace *ws = eisnet_workspace_new(m, max_batch);
    eisnet_cuda_net *net = eisnet_cuda_net_new_ops(ops, m, max_batch);
    if (!net) fail_msg("%s", eisnet_last_error());
    cu_rng = 9;
    cu_batch b = cu_make_batch(c, B);
    const size_t PG = (size_t)c->n_params * c->n_grid;
    float *p1 = malloc(B * PG * sizeof(float)), *p2 = malloc(B * PG * sizeof(float));
    float *r1 = malloc(B * sizeof(float)), *r2 = malloc(B * sizeof(float));
    for (int with_sel = 0; with_sel < 2; with_sel++) {
        const uint8_t *sel = with_sel ? b.missing : NULL;
        assert_int_equal(eisnet_model_predict_masked(m, ws, b.x, B, sel, p1, r1), 0);
        memset(p2, 0xff, B * PG * sizeof(float)); /* NaN: every entry must be written */
        if (eisnet_cuda_net_predict(net, b.x, B, sel, p2, r2)) fail_msg("%s", eisnet_last_error());
        double worst = 0.0, worst_r = 0.0;
        for (size_t i = 0; i < B * PG; i++) {
            assert_false(isnan(p2[i]));
            worst = fmax(worst, fabs((double)p1[i] - p2[i]));
            if (sel && !sel[i / c->n_grid]) assert_true(p2[i] == 0.0f);
        }
        for (int i = 0; i < B; i++) worst_r = fmax(worst_r, fabs((double)r1[i] - r2[i]) / (1.0 + fabs(r1[i])));
        print_message("  predict %d rows (%s): max |p cpu - %s| %.3g, resnorm %.3g\n", B,
                      sel ? "selected heads" : "all heads", ops->name, worst, worst_r);
        assert_true(worst <= tol);
        assert_true(worst_r <= tol);
    }
    free(p1);
    free(p2);
    free(r1);
    free(r2);
    cu_free_batch(&b);
    eisnet_cuda_net_free(net);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

#endif
