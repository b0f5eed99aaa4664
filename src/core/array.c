/* Typed arrays in memory (eisnet/array.h). */
#include "eisnet/array.h"
#include "eisnet/error.h"

#include <stdlib.h>
#include <string.h>

size_t eisnet_dtype_size(eisnet_dtype t)
{
    switch (t) {
    case EISNET_F32: return 4;
    case EISNET_F64: return 8;
    case EISNET_I32: return 4;
    case EISNET_I64: return 8;
    case EISNET_U8: return 1;
    case EISNET_I16: return 2;
    case EISNET_U16: return 2;
    }
    return 0;
}

const char *eisnet_dtype_descr(eisnet_dtype t)
{
    switch (t) {
    case EISNET_F32: return "<f4";
    case EISNET_F64: return "<f8";
    case EISNET_I32: return "<i4";
    case EISNET_I64: return "<i8";
    case EISNET_U8: return "|u1";
    case EISNET_I16: return "<i2";
    case EISNET_U16: return "<u2";
    }
    return NULL;
}

const char *eisnet_dtype_st_name(eisnet_dtype t)
{
    switch (t) {
    case EISNET_F32: return "F32";
    case EISNET_F64: return "F64";
    case EISNET_I32: return "I32";
    case EISNET_I64: return "I64";
    case EISNET_U8: return "U8";
    case EISNET_I16: return "I16";
    case EISNET_U16: return "U16";
    }
    return NULL;
}

void eisnet_array_free(eisnet_array *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

void eisnet_arrays_free(eisnet_array *a, size_t n)
{
    if (!a) return;
    for (size_t i = 0; i < n; i++) free(a[i].data);
    free(a);
}

const eisnet_array *eisnet_arrays_find(const eisnet_array *a, size_t n, const char *name)
{
    if (!a || !name) return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0) return &a[i];
    return NULL;
}

int64_t eisnet_array_count(const eisnet_array *a)
{
    int64_t c = 1;
    for (int i = 0; i < a->ndim && i < EISNET_MAX_DIMS; i++) c *= a->shape[i];
    return c;
}

int eisnet_shape_check(eisnet_dtype t, int ndim, const int64_t *shape, size_t *nbytes)
{
    size_t es = eisnet_dtype_size(t);
    if (es == 0) return eisnet_set_error("invalid dtype code %d", (int)t);
    if (ndim < 0 || ndim > EISNET_MAX_DIMS)
        return eisnet_set_error("unsupported number of dimensions %d (at most %d)", ndim, EISNET_MAX_DIMS);
    if (ndim > 0 && !shape) return eisnet_set_error("missing shape");
    uint64_t limit = EISNET_MAX_ARRAY_BYTES / es, count = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return eisnet_set_error("negative dimension %lld in shape", (long long)shape[i]);
        if (shape[i] == 0) zero = 1;
    }
    if (!zero)
        for (int i = 0; i < ndim; i++) {
            uint64_t d = (uint64_t)shape[i];
            if (d > limit / count)
                return eisnet_set_error("array too large (over %llu bytes, the limit is 8 GiB)",
                                        (unsigned long long)EISNET_MAX_ARRAY_BYTES);
            count *= d;
        }
    else
        count = 0;
    uint64_t bytes = count * es;
    if (bytes > (uint64_t)SIZE_MAX) return eisnet_set_error("array too large for this machine");
    if (nbytes) *nbytes = (size_t)bytes;
    return 0;
}
