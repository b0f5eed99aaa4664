/* eisnet/npy.h: numpy .npy and .npz files.
 *
 * Arrays are little-endian and C-ordered. Readers accept any input without
 * crashing: malformed files fail with a one-line error (eisnet_last_error).
 * Arrays larger than EISNET_MAX_ARRAY_BYTES (8 GiB, eisnet/array.h) are
 * refused. */
#ifndef EISNET_NPY_H
#define EISNET_NPY_H

#include "eisnet/array.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- .npy (written as format version 1.0, header padded so the data start
 * at a multiple of 64; versions 1.0, 2.0 and 3.0 are read) ---- */
int eisnet_npy_write(const char *path, eisnet_dtype t, int ndim, const int64_t *shape, const void *data); /* atomic */
int eisnet_npy_encode(eisnet_dtype t, int ndim, const int64_t *shape, const void *data, void **buf, size_t *n); /* to memory (malloc'ed) */
int eisnet_npy_parse(const void *buf, size_t n, eisnet_array *out);   /* from memory; copies data; name "" */
int eisnet_npy_read(const char *path, eisnet_array *out);             /* name = file name without directory and ".npy" */

/* Just the header: length of the header that eisnet writes for this array
 * (a multiple of 64), written into hdr (which must hold 64 + 16*ndim + 128 bytes). */
int eisnet_npy_header(eisnet_dtype t, int ndim, const int64_t *shape, char *hdr, size_t cap, size_t *hlen);

/* Streaming writer: the final shape is known up front; rows are appended;
 * close() checks that exactly nbytes were written and renames atomically. */
typedef struct eisnet_npy_writer eisnet_npy_writer;
eisnet_npy_writer *eisnet_npy_writer_open(const char *path, eisnet_dtype t, int ndim, const int64_t *shape);
int eisnet_npy_writer_append(eisnet_npy_writer *w, const void *data, size_t nbytes); /* refuses to overrun */
int eisnet_npy_writer_close(eisnet_npy_writer *w);   /* commit; frees w (also on failure) */
void eisnet_npy_writer_abort(eisnet_npy_writer *w);  /* removes temp file; frees w; NULL ok */

/* ---- .npz = zip of NAME.npy members (numpy.savez / savez_compressed write
 * them, numpy.load reads them). Writing refuses members or archives of
 * 4 GiB or more (no zip64 output); reading understands zip64 records. ---- */
int eisnet_npz_write(const char *path, const eisnet_array *arrays, size_t n, int compress); /* atomic; compress=1 uses deflate */
int eisnet_npz_parse(const void *buf, size_t n, eisnet_array **arrays, size_t *count);     /* stored and deflate members */
int eisnet_npz_read(const char *path, eisnet_array **arrays, size_t *count);

/* Streaming .npz writer: members are added one after another, each either
 * whole (add) or as begin + appends totalling its byte size; a member is
 * finished when its last byte arrives. Nothing but the central directory is
 * held in memory. close() writes the directory and renames atomically. */
typedef struct eisnet_npz_writer eisnet_npz_writer;
eisnet_npz_writer *eisnet_npz_writer_open(const char *path, int compress);
int eisnet_npz_writer_begin(eisnet_npz_writer *w, const char *name, eisnet_dtype t, int ndim, const int64_t *shape);
int eisnet_npz_writer_append(eisnet_npz_writer *w, const void *data, size_t nbytes);
int eisnet_npz_writer_add(eisnet_npz_writer *w, const char *name, eisnet_dtype t, int ndim, const int64_t *shape,
                          const void *data);
int eisnet_npz_writer_close(eisnet_npz_writer *w);   /* commit; frees w (also on failure) */
void eisnet_npz_writer_abort(eisnet_npz_writer *w);  /* removes temp file; frees w; NULL ok */

#ifdef __cplusplus
}
#endif
#endif
