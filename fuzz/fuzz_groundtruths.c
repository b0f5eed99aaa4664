/* libFuzzer: the --ground_truths JSON reader (series preset grid). */
#include "eisnet/dataset.h"
#include "eisnet/grid.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static eisnet_grid g;
    static int ready;
    if (!ready) {
        eisnet_grid_options go;
        eisnet_grid_options_default(&go);
        if (eisnet_grid_init(&g, &go) != 0) abort();
        ready = 1;
    }
    eisnet_ground_truth *gt;
    int n;
    if (eisnet_ground_truths_load(&g, fuzz_write_tmp(data, size, ".json"), &gt, &n) == 0) free(gt);
    return 0;
}
