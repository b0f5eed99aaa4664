/* libFuzzer: .npz (zip of .npy) parser. */
#include "eisnet/npy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eisnet_array *arr;
    size_t n;
    if (eisnet_npz_parse(data, size, &arr, &n) == 0) eisnet_arrays_free(arr, n);
    return 0;
}
