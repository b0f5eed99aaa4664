/* libFuzzer: .npy parser. */
#include "eisnet/npy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eisnet_array a;
    if (eisnet_npy_parse(data, size, &a) == 0) eisnet_array_free(&a);
    return 0;
}
