/* libFuzzer: the shortest round-trip double formatter: any bit pattern must
 * print to text that reads back to the same double. */
#include "eisnet/fmt.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    double d;
    char buf[EISNET_FMT_BUFSIZE];
    memcpy(&d, data, 8);
    eisnet_fmt_double(buf, d);
    if (d == d && strtod(buf, NULL) != d) abort();
    return 0;
}
