/* eisnet/safetensors.h: the Hugging Face safetensors layout.
 *
 * File = 8-byte little-endian header length N, N bytes of JSON (an object:
 * tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}, plus an
 * optional "__metadata__" object of string -> string), then the data buffer.
 * Offsets are relative to the buffer; tensors must cover it exactly, without
 * holes or overlaps. dtypes: F32 F64 I32 I64 U8 I16 U16. The reader refuses
 * headers over 100 MB and tensors over 8 GiB. */
#ifndef EISNET_SAFETENSORS_H
#define EISNET_SAFETENSORS_H

#include "eisnet/array.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes atomically. The JSON header lists "__metadata__" first (when
 * n_meta > 0), then the tensors in the order given; data are laid out by
 * decreasing element size (so every tensor is aligned to its element size),
 * and the header is padded with spaces to a multiple of 8 bytes. Names must
 * be unique, non-empty, and not "__metadata__". */
int eisnet_safetensors_write(const char *path, const eisnet_array *arrays, size_t n,
                             const char *const *meta_keys, const char *const *meta_values, size_t n_meta);

/* Same, into a malloc'ed buffer. */
int eisnet_safetensors_encode(const eisnet_array *arrays, size_t n, const char *const *meta_keys,
                              const char *const *meta_values, size_t n_meta, void **buf, size_t *len);

/* Arrays come back in header order. meta_keys/meta_values/n_meta may be
 * NULL when the metadata are not wanted; otherwise they receive malloc'ed
 * vectors (NULL when there is no metadata), freed with
 * eisnet_safetensors_free_meta. */
int eisnet_safetensors_parse(const void *buf, size_t n, eisnet_array **arrays, size_t *count,
                             char ***meta_keys, char ***meta_values, size_t *n_meta);
int eisnet_safetensors_read(const char *path, eisnet_array **arrays, size_t *count,
                            char ***meta_keys, char ***meta_values, size_t *n_meta);
void eisnet_safetensors_free_meta(char **keys, char **values, size_t n);

/* Value of a metadata key, or NULL. */
const char *eisnet_safetensors_meta_get(char *const *keys, char *const *values, size_t n, const char *key);

#ifdef __cplusplus
}
#endif
#endif
