/* The CUDA backend on a GPU: every backend op against the CPU helpers, a
 * 10-step training trajectory of the device network against the CPU model
 * (small and reference-sized networks), predictions against the CPU's.
 * Without a usable device (or in a build without CUDA) it prints
 * "SKIP: <reason>" and exits 77, which ctest reports as skipped: nothing
 * here passes without having run on a GPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "cuda_backend_check.h"
#include "cuda_test_common.h"
#include "eisnet/cuda.h"
#include "eisnet/backend.h"
#include "eisnet/error.h"

#ifdef EISNET_HAVE_CUDA
#define GPU_OPS (&eisnet_cu_ops_cuda)
#else
#define GPU_OPS NULL /* never used: main skips first */
#endif

static void test_every_op_on_gpu(void **state)
{
    (void)state;
    eisnet_backend *be = eisnet_cu_backend_new(GPU_OPS, 0);
    if (!be) fail_msg("%s", eisnet_last_error());
    /* sums in another order than the CPU's: 1e-5 relative (float) */
    bc_check_all(be, 1e-5);
    be->ops->free(be);
}

static void test_trajectory_small(void **state)
{
    (void)state;
    eisnet_model_config c = {18, 5, 12, 64, 0.3f, 0.2f, 0.1f};
    cu_compare_trajectory(GPU_OPS, &c, 67, 10, 1e-4, 1e-4, 1);
}

static void test_trajectory_reference_size(void **state)
{
    (void)state;
    /* the reference network (hidden 512, 5 heads of 12 classes) at batch 512 */
    eisnet_model_config c = eisnet_model_config_default(40, 5, 12);
    cu_compare_trajectory(GPU_OPS, &c, 512, 10, 1e-4, 1e-4, 3);
}

/* graphs replay what direct launches compute: 8 steps of batch 300
 * (recorded at the second), a partial batch of 100 (direct), 4 more of 300 */
static void run_graph_steps(int graphs, float *params_out, double *losses)
{
    eisnet_model_config c = eisnet_model_config_default(40, 5, 12);
    eisnet_model *m = eisnet_model_new(&c, 3);
    eisnet_cuda_net *net = eisnet_cuda_net_new_ops(GPU_OPS, m, 300);
    if (!net) fail_msg("%s", eisnet_last_error());
    assert_int_equal(eisnet_cuda_net_set_graphs(net, graphs), 0);
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL), 0);
    uint64_t rng = 5;
    cu_rng = 17;
    for (int s = 0; s < 13; s++) {
        const int B = s == 8 ? 100 : 300;
        cu_batch b = cu_make_batch(&c, B);
        eisnet_loss L;
        if (eisnet_cuda_net_train_step(net, &opt, b.x, B, b.target, b.missing, b.rt, 0.5f, 1.0f, &rng,
                                       &L, NULL, NULL, NULL))
            fail_msg("%s", eisnet_last_error());
        losses[s] = L.loss;
        cu_free_batch(&b);
    }
    assert_int_equal(eisnet_cuda_net_graphs(net), graphs); /* no fallback happened */
    assert_int_equal(eisnet_cuda_net_download(net, m, NULL), 0);
    memcpy(params_out, eisnet_model_params(m), eisnet_model_n_params(m) * sizeof(float));
    eisnet_adamw_free(&opt);
    eisnet_cuda_net_free(net);
    eisnet_model_free(m);
}

static void test_graphs_same_bits(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(40, 5, 12);
    const size_t n = eisnet_model_config_n_params(&c);
    float *p0 = malloc(n * sizeof(float)), *p1 = malloc(n * sizeof(float));
    double l0[13], l1[13];
    run_graph_steps(0, p0, l0);
    run_graph_steps(1, p1, l1);
    /* the same kernels in the same order: expected bitwise; asserted to float
     * rounding in case cuBLAS picks other kernels while recording (a replay
     * with a stale key or stale AdamW constants differs by far more) */
    for (int s = 0; s < 13; s++) {
        print_message("  step %d loss direct %.9f graph %.9f\n", s, l0[s], l1[s]);
        assert_true(cu_rel(l0[s], l1[s]) <= 1e-6);
    }
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)p0[i] - p1[i]));
    print_message("  parameters: %s (max difference %.3g)\n",
                  memcmp(p0, p1, n * sizeof(float)) ? "differ" : "bitwise equal", worst);
    assert_true(worst <= 1e-6);
    free(p0);
    free(p1);
}

/* the model's own passes (src/nn/model.c) on the cuda backend of the
 * registry against the same model on the CPU backend: 10 training steps at
 * batch 512, then predictions */
static void test_model_on_cuda_backend(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(40, 5, 12);
    eisnet_model *m_cpu = eisnet_model_new(&c, 21), *m_gpu = eisnet_model_new(&c, 21);
    eisnet_backend *be = eisnet_backend_new("cuda", NULL);
    if (!be) fail_msg("%s", eisnet_last_error());
    assert_int_equal(eisnet_model_set_backend(m_gpu, be), 0);
    eisnet_backend_free(be); /* the model holds its own reference */
    const int B = 512;
    eisnet_workspace *w_cpu = eisnet_workspace_new(m_cpu, B), *w_gpu = eisnet_workspace_new(m_gpu, B);
    const size_t n = eisnet_model_n_params(m_cpu);
    eisnet_adamw o_cpu, o_gpu;
    assert_int_equal(eisnet_adamw_init(&o_cpu, n, NULL), 0);
    assert_int_equal(eisnet_adamw_init(&o_gpu, n, NULL), 0);
    uint64_t r1 = 1, r2 = 1;
    cu_rng = 23;
    for (int s = 0; s < 10; s++) {
        cu_batch b = cu_make_batch(&c, B);
        eisnet_loss l1, l2;
        float g1, g2;
        assert_int_equal(eisnet_model_train_step(m_cpu, w_cpu, &o_cpu, b.x, B, b.target, b.missing,
                                                 b.rt, 0.5f, 1.0f, &r1, &l1, &g1, NULL, NULL),
                         0);
        if (eisnet_model_train_step(m_gpu, w_gpu, &o_gpu, b.x, B, b.target, b.missing, b.rt, 0.5f,
                                    1.0f, &r2, &l2, &g2, NULL, NULL))
            fail_msg("%s", eisnet_last_error());
        print_message("  step %d loss cpu %.7f cuda backend %.7f  |g| %.5f %.5f\n", s, l1.loss,
                      l2.loss, g1, g2);
        assert_true(cu_rel(l1.loss, l2.loss) <= 1e-4);
        assert_true(cu_rel(g1, g2) <= 1e-4);
        cu_free_batch(&b);
    }
    const float *p1 = eisnet_model_params(m_cpu), *p2 = eisnet_model_params(m_gpu);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)p1[i] - p2[i]));
    print_message("  after 10 steps: max |param cpu - cuda backend| %.3g\n", worst);
    assert_true(worst <= 1e-4);
    cu_batch b = cu_make_batch(&c, 300);
    const size_t PG = (size_t)c.n_params * c.n_grid;
    float *q1 = malloc(300 * PG * sizeof(float)), *q2 = malloc(300 * PG * sizeof(float));
    float rr1[300], rr2[300];
    assert_int_equal(eisnet_model_predict_masked(m_cpu, w_cpu, b.x, 300, b.missing, q1, rr1), 0);
    if (eisnet_model_predict_masked(m_gpu, w_gpu, b.x, 300, b.missing, q2, rr2))
        fail_msg("%s", eisnet_last_error());
    double wp = 0.0;
    for (size_t i = 0; i < 300 * PG; i++) wp = fmax(wp, fabs((double)q1[i] - q2[i]));
    print_message("  predict 300 rows: max |p cpu - cuda backend| %.3g\n", wp);
    assert_true(wp <= 1e-5);
    free(q1);
    free(q2);
    cu_free_batch(&b);
    eisnet_adamw_free(&o_cpu);
    eisnet_adamw_free(&o_gpu);
    eisnet_workspace_free(w_cpu);
    eisnet_workspace_free(w_gpu);
    eisnet_model_free(m_cpu);
    eisnet_model_free(m_gpu);
}

static void test_predict(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(40, 5, 12);
    cu_compare_predict(GPU_OPS, &c, 1, 512, 1e-5);
    cu_compare_predict(GPU_OPS, &c, 1000, 512, 1e-5); /* two chunks */
}

int main(void)
{
    char why[256] = "";
    if (!eisnet_cuda_available(why, sizeof why)) {
        printf("SKIP: %s%s\n", eisnet_cuda_built() ? "" : "cuda ", why);
        return 77;
    }
    char desc[256];
    eisnet_cuda_describe(desc, sizeof desc);
    printf("device: %s\n", desc);
    /* tests/cli_cuda.sh asks only whether a device is usable */
    if (getenv("EISNET_CUDA_PROBE_ONLY")) return 0;
    /* bench/cuda_check.sh runs the op test alone under compute-sanitizer */
    if (getenv("EISNET_CUDA_TEST_FILTER")) cmocka_set_test_filter(getenv("EISNET_CUDA_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_on_gpu),
        cmocka_unit_test(test_trajectory_small),
        cmocka_unit_test(test_trajectory_reference_size),
        cmocka_unit_test(test_graphs_same_bits),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_model_on_cuda_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
