/* Zip archives as .npz files use them (zip.h): one disk, members stored or
 * deflated. Written without zip64 (a member or an archive of 4 GiB or more is
 * refused); read with zip64 records understood. Readers treat their input as
 * hostile: every offset and size is checked against the buffer. */
#include "zip.h"
#include "eisnet/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
static unsigned get16(const unsigned char *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }
static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32); }

static uint32_t crc_update(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

#define DOS_DATE 0x21 /* 1980-01-01 */

/* ---- writing --------------------------------------------------------- */

static int zw_raw(eisnet_zip_writer *w, const void *d, size_t n)
{
    if (eisnet_atomic_write(&w->af, d, n) != 0) return -1;
    w->off += n;
    return 0;
}

/* Member data through the CRC and (when compressing) deflate; finish ends
 * the deflate stream. */
static int zw_feed(eisnet_zip_writer *w, const void *data, size_t n, int finish)
{
    w->cur.crc = crc_update(w->cur.crc, data, n);
    w->cur.usize += n;
    if (!w->compress) {
        w->cur.csize += n;
        return zw_raw(w, data, n);
    }
    const unsigned char *p = data;
    for (;;) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        w->zs.next_in = (Bytef *)(uintptr_t)p;
        w->zs.avail_in = k;
        int last = finish && k == n;
        for (;;) {
            w->zs.next_out = w->zbuf;
            w->zs.avail_out = sizeof w->zbuf;
            int rc = deflate(&w->zs, last ? Z_FINISH : Z_NO_FLUSH);
            if (rc == Z_STREAM_ERROR) return eisnet_set_error("deflate failed");
            size_t out = sizeof w->zbuf - w->zs.avail_out;
            if (out) {
                if (zw_raw(w, w->zbuf, out) != 0) return -1;
                w->cur.csize += out;
            }
            if (last ? rc == Z_STREAM_END : (w->zs.avail_in == 0 && w->zs.avail_out != 0)) break;
        }
        p += k;
        n -= k;
        if (n == 0) break;
    }
    return 0;
}

int eisnet_zip_member_feed(eisnet_zip_writer *w, const void *data, size_t n) { return zw_feed(w, data, n, 0); }

int eisnet_zip_member_end(eisnet_zip_writer *w)
{
    if (w->compress) {
        if (zw_feed(w, "", 0, 1) != 0) return -1;
        deflateEnd(&w->zs);
        w->zs_live = 0;
    }
    if (w->cur.csize >= EISNET_ZIP_LIMIT || w->off >= EISNET_ZIP_LIMIT)
        return eisnet_set_error("%s: .npz member '%s' or archive reaches 4 GiB (zip64 is not written)",
                                w->af.final_path, w->cur.name);
    /* patch crc and sizes into the local header */
    unsigned char p[12];
    put32(p, w->cur.crc);
    put32(p + 4, (uint32_t)w->cur.csize);
    put32(p + 8, (uint32_t)w->cur.usize);
    if (w->af.failed) return -1;
    if (fflush(w->af.fp) != 0 || fseeko(w->af.fp, (off_t)(w->cur.off + 14), SEEK_SET) != 0 ||
        fwrite(p, 1, 12, w->af.fp) != 12 || fseeko(w->af.fp, 0, SEEK_END) != 0) {
        w->af.failed = errno ? errno : EIO;
        return eisnet_set_error("cannot write %s: %s", w->af.final_path, strerror(w->af.failed));
    }
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 8;
        eisnet_zip_wentry *ne = realloc(w->e, nc * sizeof *ne);
        if (!ne) return eisnet_set_error("out of memory");
        w->e = ne;
        w->cap = nc;
    }
    w->e[w->n++] = w->cur;
    w->cur.name = NULL;
    w->in_member = 0;
    return 0;
}

int eisnet_zip_writer_open(eisnet_zip_writer *w, const char *path, int compress)
{
    w->compress = compress ? 1 : 0;
    return eisnet_atomic_open(&w->af, path);
}

int eisnet_zip_member_begin(eisnet_zip_writer *w, char *name)
{
    size_t nl = strlen(name);
    memset(&w->cur, 0, sizeof w->cur);
    w->cur.name = name;
    w->cur.off = w->off;
    w->cur.method = w->compress ? 8 : 0;
    if (w->compress) {
        memset(&w->zs, 0, sizeof w->zs);
        if (deflateInit2(&w->zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(w->cur.name);
            w->cur.name = NULL;
            return eisnet_set_error("deflateInit failed");
        }
        w->zs_live = 1;
    }
    w->in_member = 1;
    unsigned char lh[30];
    put32(lh, 0x04034b50);
    put16(lh + 4, 20);
    put16(lh + 6, 0);
    put16(lh + 8, w->cur.method);
    put16(lh + 10, 0);
    put16(lh + 12, DOS_DATE);
    put32(lh + 14, 0);
    put32(lh + 18, 0);
    put32(lh + 22, 0);
    put16(lh + 26, (unsigned)nl);
    put16(lh + 28, 0);
    if (zw_raw(w, lh, 30) != 0 || zw_raw(w, w->cur.name, nl) != 0) return -1;
    return 0;
}

static void zw_release(eisnet_zip_writer *w)
{
    if (w->zs_live) deflateEnd(&w->zs);
    w->zs_live = 0;
    for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    free(w->cur.name);
    w->e = NULL;
    w->cur.name = NULL;
    w->n = w->cap = 0;
}

/* The central directory and its end record. */
static int zw_directory(eisnet_zip_writer *w)
{
    uint64_t cd_off = w->off;
    int rc = 0;
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        eisnet_zip_wentry *e = &w->e[i];
        size_t nl = strlen(e->name);
        unsigned char c[46];
        put32(c, 0x02014b50);
        put16(c + 4, 0x031E); /* unix, zip 3.0 */
        put16(c + 6, 20);
        put16(c + 8, 0);
        put16(c + 10, e->method);
        put16(c + 12, 0);
        put16(c + 14, DOS_DATE);
        put32(c + 16, e->crc);
        put32(c + 20, (uint32_t)e->csize);
        put32(c + 24, (uint32_t)e->usize);
        put16(c + 28, (unsigned)nl);
        put16(c + 30, 0);
        put16(c + 32, 0);
        put16(c + 34, 0);
        put16(c + 36, 0);
        put32(c + 38, (uint32_t)0100644 << 16);
        put32(c + 42, (uint32_t)e->off);
        rc = zw_raw(w, c, 46);
        if (rc == 0) rc = zw_raw(w, e->name, nl);
    }
    uint64_t cd_size = w->off - cd_off;
    if (rc == 0 && (w->off >= EISNET_ZIP_LIMIT))
        rc = eisnet_set_error("%s: .npz archive reaches 4 GiB (zip64 is not written)", w->af.final_path);
    if (rc == 0) {
        unsigned char z[22];
        put32(z, 0x06054b50);
        put16(z + 4, 0);
        put16(z + 6, 0);
        put16(z + 8, (unsigned)w->n);
        put16(z + 10, (unsigned)w->n);
        put32(z + 12, (uint32_t)cd_size);
        put32(z + 16, (uint32_t)cd_off);
        put16(z + 20, 0);
        rc = zw_raw(w, z, 22);
    }
    return rc;
}

int eisnet_zip_writer_close(eisnet_zip_writer *w)
{
    if (w->n > 0xFFFF) {
        eisnet_set_error("%s: too many npz members (%zu, at most 65535)", w->af.final_path, w->n);
        eisnet_zip_writer_abort(w);
        return -1;
    }
    if (zw_directory(w) != 0) {
        eisnet_zip_writer_abort(w);
        return -1;
    }
    int rc = eisnet_atomic_commit(&w->af);
    zw_release(w);
    return rc;
}

void eisnet_zip_writer_abort(eisnet_zip_writer *w)
{
    eisnet_atomic_abort(&w->af);
    zw_release(w);
}

/* ---- reading --------------------------------------------------------- */

static int inflate_member(const unsigned char *src, uint64_t csize, unsigned char *dst, uint64_t usize)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -15) != Z_OK) return eisnet_set_error("inflateInit failed");
    uint64_t in_left = csize, out_left = usize;
    const unsigned char *ip = src;
    unsigned char *op = dst;
    int rc = Z_OK;
    unsigned char spare[1];
    for (;;) {
        if (zs.avail_in == 0 && in_left) {
            uInt k = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            zs.next_in = (Bytef *)(uintptr_t)ip;
            zs.avail_in = k;
            ip += k;
            in_left -= k;
        }
        if (zs.avail_out == 0) {
            if (out_left) {
                uInt k = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
                zs.next_out = op;
                zs.avail_out = k;
                op += k;
                out_left -= k;
            } else {
                zs.next_out = spare; /* detects output beyond the declared size */
                zs.avail_out = 1;
            }
        }
        uInt before_in = zs.avail_in, before_out = zs.avail_out;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) break;
        if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR) {
            inflateEnd(&zs);
            return eisnet_set_error("corrupt deflate data");
        }
        if (zs.next_out == spare + 1) {
            inflateEnd(&zs);
            return eisnet_set_error("member decompresses to more than its declared size %llu", (unsigned long long)usize);
        }
        if (zs.avail_in == before_in && zs.avail_out == before_out && in_left == 0) {
            inflateEnd(&zs);
            return eisnet_set_error("truncated deflate data");
        }
    }
    uint64_t total = zs.total_out;
    inflateEnd(&zs);
    if (zs.next_out == spare + 1 || total != usize)
        return eisnet_set_error("member decompresses to %llu bytes, declared %llu", (unsigned long long)total,
                                (unsigned long long)usize);
    return 0;
}

int eisnet_zip_reader_open(eisnet_zip_reader *r, const void *buf, size_t n)
{
    memset(r, 0, sizeof *r);
    const unsigned char *b = buf;
    if (!b || n < 22) return eisnet_set_error("not a zip/.npz file (too short)");
    size_t eocd = (size_t)-1;
    size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t p = n - 22 + 1; p-- > lo;) {
        if (get32(b + p) == 0x06054b50 && p + 22 + get16(b + p + 20) == n) {
            eocd = p;
            break;
        }
    }
    if (eocd == (size_t)-1) return eisnet_set_error("not a zip/.npz file (no end of central directory record)");
    if (get16(b + eocd + 4) != 0 || get16(b + eocd + 6) != 0)
        return eisnet_set_error("multi-disk zip archives are not supported");
    uint64_t entries = get16(b + eocd + 10);
    uint64_t cd_size = get32(b + eocd + 12);
    uint64_t cd_off = get32(b + eocd + 16);
    size_t cd_limit = eocd;
    if (entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        if (eocd >= 20 && get32(b + eocd - 20) == 0x07064b50) {
            uint64_t e64 = get64(b + eocd - 20 + 8);
            if (e64 > eocd - 20 || eocd - 20 - e64 < 56 || get32(b + e64) != 0x06064b50)
                return eisnet_set_error("zip: bad zip64 end of central directory record");
            entries = get64(b + e64 + 32);
            cd_size = get64(b + e64 + 40);
            cd_off = get64(b + e64 + 48);
            cd_limit = (size_t)e64;
        }
    }
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
        return eisnet_set_error("zip: central directory (offset %llu, size %llu) lies outside the file",
                                (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (entries > cd_size / 46)
        return eisnet_set_error("zip: %llu entries cannot fit in a central directory of %llu bytes",
                                (unsigned long long)entries, (unsigned long long)cd_size);
    r->b = b;
    r->n = n;
    r->entries = entries;
    r->p = b + cd_off;
    r->cd_end = b + cd_off + cd_size;
    return 0;
}

/* Sizes and offset from a zip64 extra field where the directory entry has
 * 0xFFFFFFFF. */
static void zip64_extra(const unsigned char *ex, unsigned xl, eisnet_zip_member *m)
{
    for (size_t q = 0; q + 4 <= xl;) {
        unsigned id = get16(ex + q), sz = get16(ex + q + 2);
        if (q + 4 + sz > xl) break;
        if (id == 1) {
            const unsigned char *z = ex + q + 4;
            unsigned left = sz;
            if (m->usize == 0xFFFFFFFFu) {
                if (left < 8) break;
                m->usize = get64(z), z += 8, left -= 8;
            }
            if (m->csize == 0xFFFFFFFFu) {
                if (left < 8) break;
                m->csize = get64(z), z += 8, left -= 8;
            }
            if (m->loff == 0xFFFFFFFFu) {
                if (left < 8) break;
                m->loff = get64(z), z += 8, left -= 8;
            }
        }
        q += 4 + (size_t)sz;
    }
}

int eisnet_zip_next(eisnet_zip_reader *r, uint64_t i, eisnet_zip_member *m)
{
    memset(m, 0, sizeof *m);
    const unsigned char *p = r->p;
    if ((size_t)(r->cd_end - p) < 46 || get32(p) != 0x02014b50)
        return eisnet_set_error("zip: bad central directory entry %llu", (unsigned long long)i);
    m->flags = get16(p + 8);
    m->method = get16(p + 10);
    m->crc = get32(p + 16);
    m->csize = get32(p + 20);
    m->usize = get32(p + 24);
    unsigned nl = get16(p + 28), xl = get16(p + 30), cl = get16(p + 32);
    m->loff = get32(p + 42);
    if ((size_t)(r->cd_end - p) - 46 < (size_t)nl + xl + cl)
        return eisnet_set_error("zip: central directory entry %llu runs past the directory", (unsigned long long)i);
    m->name = p + 46;
    m->nl = nl;
    size_t cnl = nl < sizeof m->shown ? nl : sizeof m->shown - 1;
    memcpy(m->shown, m->name, cnl);
    m->shown[cnl] = '\0';
    for (size_t k = 0; k < cnl; k++)
        if (m->shown[k] < 0x20) m->shown[k] = '?';
    zip64_extra(m->name + nl, xl, m);
    r->p = p + 46 + (size_t)nl + xl + cl;
    if (m->flags & 1) return eisnet_set_error("zip member '%s' is encrypted", m->shown);
    if (m->method != 0 && m->method != 8)
        return eisnet_set_error("zip member '%s' uses unsupported compression method %u", m->shown, m->method);
    return 0;
}

int eisnet_zip_locate(const eisnet_zip_reader *r, eisnet_zip_member *m)
{
    const unsigned char *b = r->b;
    size_t n = r->n;
    if (m->loff > n || n - m->loff < 30 || get32(b + m->loff) != 0x04034b50)
        return eisnet_set_error("zip member '%s': bad local header offset %llu", m->shown, (unsigned long long)m->loff);
    unsigned lnl = get16(b + m->loff + 26), lxl = get16(b + m->loff + 28);
    m->data = m->loff + 30 + lnl + lxl;
    if (m->data > n || lnl != m->nl || memcmp(b + m->loff + 30, m->name, m->nl) != 0)
        return eisnet_set_error("zip member '%s': local header does not match the central directory", m->shown);
    if (m->csize > n - m->data)
        return eisnet_set_error("zip member '%s': data (%llu bytes) runs past the end of the file", m->shown,
                                (unsigned long long)m->csize);
    return 0;
}

static void prefix_member(const eisnet_zip_member *m)
{
    char msg[768];
    snprintf(msg, sizeof msg, "%s", eisnet_last_error());
    eisnet_set_error("%s: %s", m->shown, msg);
}

int eisnet_zip_extract(const eisnet_zip_reader *r, const eisnet_zip_member *m, const unsigned char **data,
                       unsigned char **owned)
{
    *data = NULL;
    *owned = NULL;
    const unsigned char *src = r->b + m->data;
    if (m->method == 0) {
        if (m->csize != m->usize)
            return eisnet_set_error("zip member '%s': stored sizes differ (%llu vs %llu)", m->shown,
                                    (unsigned long long)m->csize, (unsigned long long)m->usize);
        if (crc_update(0, src, (size_t)m->usize) != m->crc)
            return eisnet_set_error("zip member '%s': CRC mismatch", m->shown);
        *data = src;
        return 0;
    }
    /* deflate cannot expand more than 1032:1; refuse impossible sizes before allocating */
    if (m->usize / 1032 > m->csize + 64)
        return eisnet_set_error("zip member '%s': declared size %llu is impossible for %llu compressed bytes", m->shown,
                                (unsigned long long)m->usize, (unsigned long long)m->csize);
    unsigned char *u = malloc(m->usize ? (size_t)m->usize : 1);
    if (!u) return eisnet_set_error("out of memory (%llu bytes)", (unsigned long long)m->usize);
    if (inflate_member(src, m->csize, u, m->usize) != 0) {
        free(u);
        prefix_member(m);
        return -1;
    }
    if (crc_update(0, u, (size_t)m->usize) != m->crc) {
        free(u);
        return eisnet_set_error("zip member '%s': CRC mismatch", m->shown);
    }
    *data = *owned = u;
    return 0;
}
