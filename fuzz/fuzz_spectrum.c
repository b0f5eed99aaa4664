/* libFuzzer: the spectrum CSV reader. */
#include "eisnet/spectrum.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eisnet_spectrum s;
    if (eisnet_spectrum_read_csv(fuzz_write_tmp(data, size, ".csv"), &s) == 0) eisnet_spectrum_free(&s);
    return 0;
}
