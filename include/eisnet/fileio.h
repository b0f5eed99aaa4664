/* eisnet/fileio.h: files that appear whole or not at all.
 *
 * Every output file is written to a temporary file beside it (created
 * exclusively, see eisnet/tmpfile.h) and renamed onto its final name only
 * after all writes, the flush and fsync succeeded (the directory is fsynced
 * after the rename), so a crash, a full disk or Ctrl-C never leaves a
 * half-written file under a final name. */
#ifndef EISNET_FILEIO_H
#define EISNET_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eisnet_atomic_file {
    FILE *fp;          /* write here */
    char *final_path;
    char *tmp_path;
    int failed;        /* set by eisnet_atomic_write on a short write */
} eisnet_atomic_file;

/* Opens a temporary file beside `path`. Returns 0, or -1 with the error set. */
int eisnet_atomic_open(eisnet_atomic_file *af, const char *path);

/* fwrite that remembers failure (checked again at commit). Returns 0 or -1. */
int eisnet_atomic_write(eisnet_atomic_file *af, const void *data, size_t n);

/* Flushes, fsyncs, closes and renames onto the final name. On any failure the
 * temporary file is removed and -1 is returned with the error set. Always
 * releases `af`. */
int eisnet_atomic_commit(eisnet_atomic_file *af);

/* Closes and removes the temporary file; releases `af`. Safe on a zeroed or
 * already released struct. */
void eisnet_atomic_abort(eisnet_atomic_file *af);

/* Writes a whole buffer atomically to `path`. */
int eisnet_write_file_atomic(const char *path, const void *data, size_t n);

/* Reads a whole file into a malloc'ed buffer (NUL-terminated for convenience;
 * *n excludes the NUL). Refuses files larger than max_bytes. */
int eisnet_read_file(const char *path, size_t max_bytes, char **data, size_t *n);

/* Whole-file reads of .npz and .safetensors files (checkpoints, optimizer
 * state, dataset.npz) stop here; the largest checkpoint eisnet can write is
 * 512 MiB of weights (EISNET_MODEL_MAX_PARAMS). */
#define EISNET_MAX_ARRAY_FILE ((size_t)4 << 30)

/* The same for a file that must be a regular file (checkpoints, arrays): a
 * device, FIFO or directory is refused before anything is read. */
int eisnet_read_regular_file(const char *path, size_t max_bytes, char **data, size_t *n);

/* Creates a directory (and parents) if missing; checks it is writable. */
int eisnet_ensure_dir(const char *path);

/* Joins dir and name into a malloc'ed "dir/name". */
char *eisnet_path_join(const char *dir, const char *name);

/* fsync the directory that holds path (after a rename into it, so that the
 * new entry survives a power cut). Errors are ignored: the data itself was
 * already synced. */
void eisnet_fsync_dir_of(const char *path);

/* A model path without its extension: "x/model.safetensors" or "x/model.npz"
 * -> "x/model" (malloc'ed; NULL when out of memory). */
char *eisnet_checkpoint_stem(const char *path);

#ifdef __cplusplus
}
#endif
#endif
