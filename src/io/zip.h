/* Zip archives as .npz files use them: one disk, members stored or
 * deflated; written without zip64 (refused at 4 GiB), read with zip64
 * records understood. Error messages name the member. Not a public header. */
#ifndef EISNET_ZIP_H
#define EISNET_ZIP_H

#include "eisnet/fileio.h"

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* Members and archives reach their 32-bit limit here. */
#define EISNET_ZIP_LIMIT 0xFFFFFFFFull

/* ---- writing: members one after another, each streamed ---- */

typedef struct {
    char *name;
    uint32_t crc;
    uint64_t csize, usize, off;
    unsigned method;
} eisnet_zip_wentry;

typedef struct {
    eisnet_atomic_file af;
    int compress;
    uint64_t off; /* bytes written so far */
    eisnet_zip_wentry *e; /* finished members */
    size_t n, cap;
    int in_member;
    eisnet_zip_wentry cur; /* the member in progress */
    z_stream zs;
    int zs_live;
    unsigned char zbuf[1 << 16];
} eisnet_zip_writer;

/* Opens a temporary file beside path (w zeroed by the caller). 0 / -1. */
int eisnet_zip_writer_open(eisnet_zip_writer *w, const char *path, int compress);
/* Starts a member called name (malloc'ed; the writer owns it from here). */
int eisnet_zip_member_begin(eisnet_zip_writer *w, char *name);
int eisnet_zip_member_feed(eisnet_zip_writer *w, const void *data, size_t n);
/* Ends the member: its CRC and sizes go into its local header. */
int eisnet_zip_member_end(eisnet_zip_writer *w);
/* Writes the central directory and renames onto the final name; releases
 * w's memory (also on failure, removing the temporary file). */
int eisnet_zip_writer_close(eisnet_zip_writer *w);
/* Removes the temporary file; releases w's memory. */
void eisnet_zip_writer_abort(eisnet_zip_writer *w);

/* ---- reading a whole archive in memory ---- */

typedef struct {
    const unsigned char *b;
    size_t n;
    uint64_t entries;
    const unsigned char *p, *cd_end; /* the next directory entry, the directory's end */
} eisnet_zip_reader;

typedef struct {
    const unsigned char *name; /* not terminated: nl bytes */
    unsigned nl;
    char shown[300]; /* the name for messages: cut, control characters as '?' */
    unsigned flags, method;
    uint32_t crc;
    uint64_t csize, usize, loff;
    uint64_t data; /* offset of the member's data, set by eisnet_zip_locate */
} eisnet_zip_member;

/* Finds the (zip64) end of central directory record and checks the
 * directory's place and entry count. 0 / -1. */
int eisnet_zip_reader_open(eisnet_zip_reader *r, const void *buf, size_t n);
/* Directory entry i (call for i = 0, 1, ... entries - 1): refuses encrypted
 * members and methods other than stored and deflate. */
int eisnet_zip_next(eisnet_zip_reader *r, uint64_t i, eisnet_zip_member *m);
/* Checks the member's local header against the directory and that its data
 * lie inside the archive. */
int eisnet_zip_locate(const eisnet_zip_reader *r, eisnet_zip_member *m);
/* The member's bytes, CRC checked: inside the archive when stored (*owned
 * NULL), else inflated into *owned (malloc'ed, = *data). */
int eisnet_zip_extract(const eisnet_zip_reader *r, const eisnet_zip_member *m, const unsigned char **data,
                       unsigned char **owned);

#endif
