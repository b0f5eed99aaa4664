/* libFuzzer: the common spectrum reader (every instrument format, detected
 * by content, and CSV with a header), with cropping and inductive points
 * dropped on half the inputs so those paths run too. */
#include "eisnet/readers.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eisnet_read_options o;
    eisnet_read_options_default(&o);
    if (size > 0 && (data[0] & 1)) {
        o.drop_inductive = 1;
        o.f_min = 1e-3;
        o.f_max = 1e5;
    }
    eisnet_spectrum s;
    eisnet_read_info info;
    if (eisnet_spectrum_read(fuzz_write_tmp(data, size, ".dat"), &o, &s, &info) == 0) eisnet_spectrum_free(&s);
    return 0;
}
