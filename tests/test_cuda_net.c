/* The CUDA network's orchestration (src/nn/cuda.c) without a GPU: on the
 * host operation table of tests/cuda_host_ops.h (the CPU kernels), a
 * 10-step training trajectory and predictions against the CPU model, the
 * parameter and moment round trip, bad input; and the answers of the device
 * discovery on this machine. The GPU's own operations are tested by
 * tests/test_cuda_gpu.c where a device is present. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cuda_host_graph.h"
#include "cuda_host_ops.h"
#include "cuda_test_common.h"

static eisnet_model_config small_config(void)
{
    eisnet_model_config c = {18, 5, 12, 64, 0.3f, 0.2f, 0.1f};
    return c;
}

static void test_trajectory_host(void **state)
{
    (void)state;
    eisnet_model_config c = small_config();
    /* the same kernels in the same order: float summation order only (the
     * CPU skips the heads of known parameters and splits rows over threads) */
    cu_compare_trajectory(&host_ops, &c, 67, 10, 1e-5, 1e-4, 0);
}

static void test_trajectory_host_no_dropout_wide_grid(void **state)
{
    (void)state;
    /* more than 64 classes: the loss's other softmax branch; no dropout */
    eisnet_model_config c = {7, 3, 70, 32, 0.0f, 0.0f, 0.0f};
    cu_compare_trajectory(&host_ops, &c, 40, 4, 1e-5, 1e-4, 0);
}

/* graphs on a host table that records and replays like a GPU: the step's
 * dropout key and AdamW constants must come from device memory at replay */
static void test_trajectory_host_graphs(void **state)
{
    (void)state;
    eisnet_model_config c = small_config();
    const int before = hg_launches;
    cu_compare_trajectory(&host_graph_ops, &c, 67, 10, 1e-5, 1e-4, 0);
    /* step 0 runs directly, step 1 is recorded, 1 .. 9 are replays */
    assert_int_equal(hg_launches - before, 9);
}

/* batch sizes and loss settings that change between steps: a partial batch
 * runs directly and keeps the recording; another resnorm weight or clipping
 * threshold records anew */
static void test_graphs_changing_steps(void **state)
{
    (void)state;
    eisnet_model_config c = small_config();
    eisnet_model *m_cpu = eisnet_model_new(&c, 4), *m_dev = eisnet_model_new(&c, 4);
    const size_t n = eisnet_model_n_params(m_cpu);
    eisnet_workspace *ws = eisnet_workspace_new(m_cpu, 40);
    eisnet_cuda_net *net = eisnet_cuda_net_new_ops(&host_graph_ops, m_dev, 40);
    assert_non_null(net);
    assert_int_equal(eisnet_cuda_net_graphs(net), 1);
    eisnet_adamw o1, o2;
    assert_int_equal(eisnet_adamw_init(&o1, n, NULL), 0);
    assert_int_equal(eisnet_adamw_init(&o2, n, NULL), 0);
    const int Bs[8] = {40, 40, 40, 25, 40, 40, 40, 40};
    const float rw[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.3f, 0.3f, 0.3f};
    const float mg[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f};
    uint64_t r1 = 9, r2 = 9;
    cu_rng = 5;
    const int before = hg_launches;
    for (int s = 0; s < 8; s++) {
        cu_batch b = cu_make_batch(&c, Bs[s]);
        eisnet_loss l1, l2;
        float g1, g2;
        assert_int_equal(eisnet_model_train_step(m_cpu, ws, &o1, b.x, Bs[s], b.target, b.missing, b.rt,
                                                 rw[s], mg[s], &r1, &l1, &g1, NULL, NULL),
                         0);
        assert_int_equal(eisnet_cuda_net_train_step(net, &o2, b.x, Bs[s], b.target, b.missing, b.rt,
                                                    rw[s], mg[s], &r2, &l2, &g2, NULL, NULL),
                         0);
        print_message("  step %d B %d loss cpu %.7f graphs %.7f\n", s, Bs[s], l1.loss, l2.loss);
        assert_true(cu_rel(l1.loss, l2.loss) <= 1e-5);
        assert_true(cu_rel(g1, g2) <= 1e-5);
        cu_free_batch(&b);
    }
    /* replayed: 1 (recorded), 2, 4 (the recording survived the partial
     * batch 3, which ran directly), 5 (recorded for weight 0.3), 6, 7
     * (recorded for the new clipping threshold) */
    assert_int_equal(hg_launches - before, 6);
    assert_int_equal(eisnet_cuda_net_download(net, m_dev, NULL), 0);
    double worst = 0.0;
    const float *p1 = eisnet_model_params(m_cpu), *p2 = eisnet_model_params(m_dev);
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)p1[i] - p2[i]));
    assert_true(worst <= 1e-4);
    eisnet_adamw_free(&o1);
    eisnet_adamw_free(&o2);
    eisnet_cuda_net_free(net);
    eisnet_workspace_free(ws);
    eisnet_model_free(m_cpu);
    eisnet_model_free(m_dev);
}

static void test_predict_host(void **state)
{
    (void)state;
    eisnet_model_config c = small_config();
    cu_compare_predict(&host_ops, &c, 50, 64, 1e-5); /* one chunk */
    cu_compare_predict(&host_ops, &c, 150, 64, 1e-5); /* three chunks, the last partial */
    cu_compare_predict(&host_ops, &c, 1, 64, 1e-5);  /* a single row */
}

static void test_round_trip(void **state)
{
    (void)state;
    eisnet_model_config c = small_config();
    eisnet_model *m = eisnet_model_new(&c, 2), *m2 = eisnet_model_new(&c, 3);
    const size_t n = eisnet_model_n_params(m);
    eisnet_adamw opt, opt2;
    assert_int_equal(eisnet_adamw_init(&opt, n, NULL), 0);
    assert_int_equal(eisnet_adamw_init(&opt2, n, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        opt.m[i] = (float)i * 1e-6f;
        opt.v[i] = (float)i * 2e-6f;
    }
    eisnet_cuda_net *net = eisnet_cuda_net_new_ops(&host_ops, m2, 8);
    assert_non_null(net);
    assert_int_equal(eisnet_cuda_net_upload(net, m, &opt), 0);
    assert_int_equal(eisnet_cuda_net_download(net, m2, &opt2), 0);
    assert_memory_equal(eisnet_model_params(m), eisnet_model_params(m2), n * sizeof(float));
    assert_memory_equal(opt.m, opt2.m, n * sizeof(float));
    assert_memory_equal(opt.v, opt2.v, n * sizeof(float));
    /* another shape is refused */
    eisnet_model_config c3 = c;
    c3.hidden = 32;
    eisnet_model *m3 = eisnet_model_new(&c3, 1);
    assert_int_equal(eisnet_cuda_net_upload(net, m3, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "shape"));
    eisnet_adamw opt3;
    assert_int_equal(eisnet_adamw_init(&opt3, n + 1, NULL), 0);
    assert_int_equal(eisnet_cuda_net_download(net, m2, &opt3), -1);
    assert_non_null(strstr(eisnet_last_error(), "optimizer"));
    eisnet_adamw_free(&opt);
    eisnet_adamw_free(&opt2);
    eisnet_adamw_free(&opt3);
    eisnet_cuda_net_free(net);
    eisnet_model_free(m);
    eisnet_model_free(m2);
    eisnet_model_free(m3);
}

static void test_bad_input(void **state)
{
    (void)state;
    eisnet_model_config c = small_config();
    eisnet_model *m = eisnet_model_new(&c, 2);
    const size_t n = eisnet_model_n_params(m);
    eisnet_cuda_net *net = eisnet_cuda_net_new_ops(&host_ops, m, 4);
    assert_non_null(net);
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, n, NULL), 0);
    cu_rng = 1;
    cu_batch b = cu_make_batch(&c, 5);
    uint64_t rng = 1;
    /* more rows than the device copy holds */
    assert_int_equal(eisnet_cuda_net_train_step(net, &opt, b.x, 5, b.target, b.missing, b.rt, 0.5f,
                                                1.0f, &rng, NULL, NULL, NULL, NULL),
                     -1);
    assert_non_null(strstr(eisnet_last_error(), "batch 5"));
    /* a missing entry's target outside the grid: refused before any work */
    b.target[0] = c.n_grid;
    assert_int_equal(eisnet_cuda_net_train_step(net, &opt, b.x, 4, b.target, b.missing, b.rt, 0.5f,
                                                1.0f, &rng, NULL, NULL, NULL, NULL),
                     -1);
    assert_non_null(strstr(eisnet_last_error(), "outside 0..11"));
    assert_true(rng == 1 && opt.step == 0); /* nothing drawn, no step taken */
    assert_int_equal(eisnet_cuda_net_train_step(net, &opt, NULL, 4, b.target, b.missing, b.rt, 0.5f,
                                                1.0f, &rng, NULL, NULL, NULL, NULL),
                     -1);
    assert_null(eisnet_cuda_net_new_ops(&host_ops, m, 0));
    /* the host table records no graphs */
    assert_int_equal(eisnet_cuda_net_graphs(net), 0);
    assert_int_equal(eisnet_cuda_net_set_graphs(net, 1), -1);
    assert_non_null(strstr(eisnet_last_error(), "no graphs"));
    assert_int_equal(eisnet_cuda_net_set_graphs(net, 0), 0);
    cu_free_batch(&b);
    eisnet_adamw_free(&opt);
    eisnet_cuda_net_free(net);
    eisnet_model_free(m);
}

/* On a machine without a usable GPU (or a build without CUDA) the answer is
 * 0 with a reason, and making a device network fails with that reason. */
static void test_discovery(void **state)
{
    (void)state;
    char why[256] = "";
    const int ok = eisnet_cuda_available(why, sizeof why);
    char desc[256] = "";
    eisnet_cuda_describe(desc, sizeof desc);
    print_message("  built %d, available %d (%s), %s\n", eisnet_cuda_built(), ok, why, desc);
    assert_true(ok == 0 || ok == 1);
    if (!eisnet_cuda_built()) {
        assert_int_equal(ok, 0);
        assert_string_equal(why, "not built into this eisnet");
    }
    eisnet_model_config c = small_config();
    eisnet_model *m = eisnet_model_new(&c, 2);
    eisnet_cuda_net *net = eisnet_cuda_net_new(m, 4);
    if (ok) {
        assert_non_null(net);
    } else {
        assert_true(why[0] != '\0');
        assert_null(net);
        assert_non_null(strstr(eisnet_last_error(), "cuda: "));
        if (eisnet_cuda_built()) assert_non_null(strstr(eisnet_last_error(), why));
    }
    eisnet_cuda_net_free(net);
    eisnet_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectory_host),
        cmocka_unit_test(test_trajectory_host_no_dropout_wide_grid),
        cmocka_unit_test(test_trajectory_host_graphs),
        cmocka_unit_test(test_graphs_changing_steps),
        cmocka_unit_test(test_predict_host),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_discovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
