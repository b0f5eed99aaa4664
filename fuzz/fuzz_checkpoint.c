/* libFuzzer: a checkpoint's configuration (the JSON inside a .safetensors
 * model), around the real tensors of a small model. */
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
    char *cfg = fuzz_str(data, size);
    const char *keys[1] = {"eisnet_config"}, *vals[1] = {cfg};
    char path[128];
    snprintf(path, sizeof path, "%s/eisnet_fuzz_%ld.safetensors", fuzz_dir(), (long)getpid());
    if (strlen(cfg) == size && eisnet_safetensors_write(path, arr, n, keys, vals, 1) == 0) {
        eisnet_predictor q;
        if (eisnet_predictor_load(&q, path) == 0) eisnet_predictor_free(&q);
    }
    free(cfg);
    return 0;
}
