/* The CUDA backend's mapping of eisnet/backend.h onto its device operations
 * (src/nn/cuda_backend.c), run on the host operation table of
 * tests/cuda_host_ops.h: every op of the backend against the CPU helpers,
 * bitwise (the host table runs the CPU's own code, so any difference is a
 * wrong argument, stride or accumulation in the mapping). The registry
 * entry's answers on this machine. The same checks on a GPU are in
 * tests/test_cuda_gpu.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cuda_backend_check.h"
#include "cuda_host_ops.h"
#include "eisnet/cuda.h"
#include "eisnet/error.h"

extern const eisnet_backend_reg eisnet_backend_reg_cuda;

static void test_every_op_on_host_table(void **state)
{
    (void)state;
    eisnet_backend *be = eisnet_cu_backend_new(&host_ops, 0);
    assert_non_null(be);
    assert_string_equal(be->name, "cuda");
    assert_int_equal(be->host_visible, 0);
    assert_int_equal(be->threads, 1);
    assert_false(be->ops->supports_op(be, EISNET_OP_GATHER_ROWS));
    assert_false(be->ops->supports_op(be, EISNET_OP_SCATTER_ROWS));
    assert_false(be->ops->supports_op(be, EISNET_OP_COUNT));
    bc_check_all(be, 0.0);
    be->ops->free(be);
}

static void test_registry_entry(void **state)
{
    (void)state;
    const eisnet_backend_reg *r = &eisnet_backend_reg_cuda;
    assert_string_equal(r->name, "cuda");
    char why[256] = "", why2[256] = "";
    const int ok = r->available(why, sizeof why);
    assert_int_equal(ok, eisnet_cuda_available(why2, sizeof why2));
    print_message("  cuda available: %d (%s)\n", ok, why);
    eisnet_backend_options opt = {.threads = 0};
    eisnet_backend *be = r->create(&opt);
    if (ok) {
        assert_non_null(be);
        be->ops->free(be);
    } else {
        assert_true(why[0] != '\0');
        assert_string_equal(why, why2);
        assert_null(be);
        assert_non_null(strstr(eisnet_last_error(), why));
    }
    /* a device number that does not exist is refused with a reason */
    opt.device = 1000;
    be = r->create(&opt);
    assert_null(be);
    assert_non_null(strstr(eisnet_last_error(), "cuda: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_on_host_table),
        cmocka_unit_test(test_registry_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
