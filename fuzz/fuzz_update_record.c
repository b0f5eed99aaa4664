/* libFuzzer: one `eisnet update` JSON line against a small series model. */
#include "eisnet/predictor.h"
#include "eisnet/update.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static eisnet_predictor p;
    static float *x;
    if (!x) {
        eisnet_grid_options go;
        eisnet_grid_options_default(&go);
        if (eisnet_predictor_init(&p, &go, 1, 8, 3, 1) != 0) abort();
        x = malloc(sizeof(float) * (size_t)eisnet_predictor_n_in(&p));
    }
    eisnet_update_example ex;
    ex.x = x;
    eisnet_update_parse(&p, (const char *)data, size, &ex);
    return 0;
}
