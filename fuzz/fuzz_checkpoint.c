/* libFuzzer: a checkpoint's configuration (the JSON inside a .safetensors
 * model), around the real tensors of a small model, through the loader's
 * in-memory half (eisnet_predictor_from_arrays). */
#include "eisnet/predictor.h"
#include "eisnet/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static eisnet_array *arr;
    static size_t n;
    if (!arr) {
        eisnet_predictor p;
        eisnet_grid_options go;
        eisnet_grid_options_default(&go);
        if (eisnet_predictor_init(&p, &go, 1, 2, 3, 1) != 0) abort();
        char path[128];
        snprintf(path, sizeof path, "%s/eisnet_fuzz_seed_%ld.safetensors", fuzz_dir(), (long)getpid());
        char **mk, **mv;
        size_t nm;
        if (eisnet_predictor_save(&p, path) != 0 || eisnet_safetensors_read(path, &arr, &n, &mk, &mv, &nm) != 0) abort();
        eisnet_safetensors_free_meta(mk, mv, nm);
        eisnet_predictor_free(&p);
        unlink(path);
        snprintf(path, sizeof path, "%s/eisnet_fuzz_seed_%ld.npz", fuzz_dir(), (long)getpid());
        unlink(path);
    }
    /* the configuration parser and the model construction, in memory: a
     * file round trip per input would cost ~100x the time (it is fsynced) */
    eisnet_predictor q;
    if (eisnet_predictor_from_arrays(&q, "fuzz", arr, n, 0, (const char *)data, size) == 0) eisnet_predictor_free(&q);
    return 0;
}
