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
        cmocka_unit_test(test_predict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
