/* libFuzzer: .safetensors parser. */
#include "eisnet/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eisnet_array *arr;
    size_t n, nm;
    char **k, **v;
    if (eisnet_safetensors_parse(data, size, &arr, &n, &k, &v, &nm) == 0) {
        eisnet_arrays_free(arr, n);
        eisnet_safetensors_free_meta(k, v, nm);
    }
    return 0;
}
