/* libFuzzer harness for the format readers (not built by default).
 *
 * Build and run (from the project root, after building the library once
 * with clang, or compile the sources directly as here):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
 *       -Iinclude tests/fuzz_formats.c src/npy.c src/safetensors.c src/fmt.c \
 *       src/error.c src/fileio.c -lcjson -lz -lm -lpthread -o fuzz_formats
 *   ./fuzz_formats -max_total_time=600
 *
 * Without libFuzzer, build with -DFUZZ_STANDALONE (any compiler) and pass
 * files: each is fed to every parser. */
#include "eisnet/fmt.h"
#include "eisnet/npy.h"
#include "eisnet/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eisnet_array a;
    if (eisnet_npy_parse(data, size, &a) == 0) eisnet_array_free(&a);
    eisnet_array *arr;
    size_t n;
    if (eisnet_npz_parse(data, size, &arr, &n) == 0) eisnet_arrays_free(arr, n);
    char **k, **v;
    size_t nm;
    if (eisnet_safetensors_parse(data, size, &arr, &n, &k, &v, &nm) == 0) {
        eisnet_arrays_free(arr, n);
        eisnet_safetensors_free_meta(k, v, nm);
    }
    if (size >= 8) { /* and the formatter: it must round-trip any bit pattern */
        double d;
        char buf[EISNET_FMT_BUFSIZE];
        memcpy(&d, data, 8);
        eisnet_fmt_double(buf, d);
        if (d == d && strtod(buf, NULL) != d) abort();
    }
    return 0;
}

#ifdef FUZZ_STANDALONE
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *fp = fopen(argv[i], "rb");
        if (!fp) continue;
        static uint8_t buf[1 << 24];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        uint8_t *c = malloc(n ? n : 1);
        memcpy(c, buf, n);
        LLVMFuzzerTestOneInput(c, n);
        free(c);
    }
    return 0;
}
#endif
