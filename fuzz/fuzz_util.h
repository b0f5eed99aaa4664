/* Shared by the libFuzzer harnesses (fuzz/fuzz_*.c). */
#ifndef EISNET_FUZZ_UTIL_H
#define EISNET_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the harnesses put files: /dev/shm when there is one (a disk file
 * system makes the harnesses that go through files slow). */
static inline const char *fuzz_dir(void) { return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"; }

/* Readers that take a path get the input through this per-process file. */
static inline const char *fuzz_write_tmp(const uint8_t *data, size_t size, const char *ext)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/eisnet_fuzz_%ld%s", fuzz_dir(), (long)getpid(), ext);
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);
    return path;
}

/* The input as a NUL-terminated string (malloc'ed). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
