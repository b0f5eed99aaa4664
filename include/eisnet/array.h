/* eisnet/array.h: a named, typed, shaped block of little-endian C-ordered
 * data, as .npy, .npz and .safetensors files hold them. */
#ifndef EISNET_ARRAY_H
#define EISNET_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { EISNET_F32, EISNET_F64, EISNET_I32, EISNET_I64, EISNET_U8, EISNET_I16, EISNET_U16 } eisnet_dtype;

/* Bytes per element (0 for an invalid value). */
size_t eisnet_dtype_size(eisnet_dtype t);
/* numpy descr ("<f4", "|u1", ...) and safetensors name ("F32", ...); NULL if invalid. */
const char *eisnet_dtype_descr(eisnet_dtype t);
const char *eisnet_dtype_st_name(eisnet_dtype t);

#define EISNET_MAX_DIMS 8
#define EISNET_MAX_ARRAY_BYTES ((uint64_t)8 << 30)

typedef struct {
    char name[128];            /* npz member name without ".npy", or safetensors tensor name */
    eisnet_dtype dtype;
    int ndim;
    int64_t shape[EISNET_MAX_DIMS];
    void *data;                /* little-endian, C order; owned by the array when loaded (never NULL when loaded) */
    size_t nbytes;
} eisnet_array;

void eisnet_array_free(eisnet_array *a);                     /* frees data, zeroes */
void eisnet_arrays_free(eisnet_array *a, size_t n);           /* frees each and the vector */
const eisnet_array *eisnet_arrays_find(const eisnet_array *a, size_t n, const char *name);
int64_t eisnet_array_count(const eisnet_array *a);            /* product of shape (1 for ndim 0) */

/* Checks dtype, ndim (0..8), non-negative dims and size (no overflow,
 * <= 8 GiB); stores the byte size in *nbytes. Returns 0 or -1 (error set). */
int eisnet_shape_check(eisnet_dtype t, int ndim, const int64_t *shape, size_t *nbytes);

#ifdef __cplusplus
}
#endif
#endif
