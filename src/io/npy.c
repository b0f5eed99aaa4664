/* numpy .npy / .npz reading and writing. Everything is bounds-checked:
 * readers treat their input as hostile. */
#include "eisnet/npy.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <zlib.h>

/* ------------------------------------------------------------------ */
/* dtypes and arrays                                                   */

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

/* ------------------------------------------------------------------ */
/* .npy header                                                         */

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int eisnet_npy_header(eisnet_dtype t, int ndim, const int64_t *shape, char *hdr, size_t cap, size_t *hlen)
{
    if (eisnet_shape_check(t, ndim, shape, NULL) != 0) return -1;
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", eisnet_dtype_descr(t));
    for (int i = 0; i < ndim; i++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", ndim == 1 ? "," : "");
    size_t total = 10 + (size_t)k + 1; /* magic, version, length, dict, '\n' */
    total = (total + 63) / 64 * 64;
    if (total > cap) return eisnet_set_error("internal: npy header buffer too small");
    size_t dlen = total - 10;
    memcpy(hdr, NPY_MAGIC, 6);
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (char)(dlen & 0xff);
    hdr[9] = (char)(dlen >> 8);
    memcpy(hdr + 10, dict, (size_t)k);
    memset(hdr + 10 + k, ' ', dlen - (size_t)k - 1);
    hdr[total - 1] = '\n';
    *hlen = total;
    return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && is_ws(*c->p)) c->p++;
}

/* Quoted Python string without escapes; copies into out (cap bytes). */
static int parse_pystr(cursor *c, char *out, size_t cap)
{
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return eisnet_set_error("npy header: expected a quoted string");
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || (unsigned char)*c->p >= 0x7f) return eisnet_set_error("npy header: unsupported character in string");
        if (n + 1 >= cap) return eisnet_set_error("npy header: string too long");
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return eisnet_set_error("npy header: unterminated string");
    c->p++;
    out[n] = '\0';
    return 0;
}

static int parse_descr(const char *s, eisnet_dtype *t)
{
    static const struct {
        const char *code;
        eisnet_dtype t;
    } tab[] = {{"f4", EISNET_F32}, {"f8", EISNET_F64}, {"i4", EISNET_I32}, {"i8", EISNET_I64},
               {"u1", EISNET_U8},  {"i2", EISNET_I16}, {"u2", EISNET_U16}};
    char order = s[0];
    const char *code = s + 1;
    if (order != '<' && order != '>' && order != '|' && order != '=') {
        order = '=';
        code = s;
    }
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcmp(code, tab[i].code) != 0) continue;
        if (order == '>' && tab[i].t != EISNET_U8)
            return eisnet_set_error("npy: big-endian dtype '%s' is not supported (only little-endian)", s);
        if (order == '|' && tab[i].t != EISNET_U8)
            return eisnet_set_error("npy: dtype '%s' is not supported", s);
        *t = tab[i].t;
        return 0;
    }
    return eisnet_set_error("npy: unsupported dtype '%s' (supported: <f4 <f8 <i4 <i8 |u1 <i2 <u2)", s);
}

/* Parses the header dict (text of length n). */
static int parse_header_dict(const char *txt, size_t n, eisnet_dtype *t, int *ndim, int64_t *shape)
{
    cursor c = {txt, txt + n};
    int have_descr = 0, have_fo = 0, have_shape = 0;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return eisnet_set_error("npy header is not a dict");
    c.p++;
    for (;;) {
        skip_ws(&c);
        if (c.p >= c.end) return eisnet_set_error("npy header: unterminated dict");
        if (*c.p == '}') {
            c.p++;
            break;
        }
        char key[32];
        if (parse_pystr(&c, key, sizeof key) != 0) return -1;
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') return eisnet_set_error("npy header: expected ':' after '%s'", key);
        c.p++;
        skip_ws(&c);
        if (strcmp(key, "descr") == 0) {
            if (have_descr++) return eisnet_set_error("npy header: duplicate key 'descr'");
            char d[32];
            if (c.p < c.end && *c.p == '[') return eisnet_set_error("npy: structured dtypes are not supported");
            if (parse_pystr(&c, d, sizeof d) != 0) return -1;
            if (parse_descr(d, t) != 0) return -1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fo++) return eisnet_set_error("npy header: duplicate key 'fortran_order'");
            if ((size_t)(c.end - c.p) >= 5 && memcmp(c.p, "False", 5) == 0) {
                c.p += 5;
            } else if ((size_t)(c.end - c.p) >= 4 && memcmp(c.p, "True", 4) == 0) {
                return eisnet_set_error("npy: fortran_order True is not supported (C order only)");
            } else {
                return eisnet_set_error("npy header: fortran_order must be True or False");
            }
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) return eisnet_set_error("npy header: duplicate key 'shape'");
            if (c.p >= c.end || *c.p != '(') return eisnet_set_error("npy header: shape is not a tuple");
            c.p++;
            int nd = 0;
            for (;;) {
                skip_ws(&c);
                if (c.p >= c.end) return eisnet_set_error("npy header: unterminated shape");
                if (*c.p == ')') {
                    c.p++;
                    break;
                }
                if (*c.p < '0' || *c.p > '9') return eisnet_set_error("npy header: bad dimension in shape");
                int64_t v = 0;
                while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
                    if (v > ((int64_t)1 << 58)) return eisnet_set_error("npy header: dimension too large");
                    v = v * 10 + (*c.p++ - '0');
                }
                if (c.p < c.end && *c.p == 'L') c.p++;
                if (nd >= EISNET_MAX_DIMS)
                    return eisnet_set_error("npy: more than %d dimensions are not supported", EISNET_MAX_DIMS);
                shape[nd++] = v;
                skip_ws(&c);
                if (c.p < c.end && *c.p == ',') {
                    c.p++;
                } else if (c.p < c.end && *c.p == ')') {
                    /* closed at the loop top */
                } else {
                    return eisnet_set_error("npy header: bad shape tuple");
                }
            }
            *ndim = nd;
        } else {
            return eisnet_set_error("npy header: unexpected key '%s'", key);
        }
        skip_ws(&c);
        if (c.p >= c.end) return eisnet_set_error("npy header: unterminated dict");
        if (*c.p == ',') {
            c.p++;
        } else if (*c.p == '}') {
            /* handled at loop top */
        } else {
            return eisnet_set_error("npy header: expected ',' or '}'");
        }
    }
    while (c.p < c.end && (is_ws(*c.p) || *c.p == '\0')) c.p++;
    if (c.p != c.end) return eisnet_set_error("npy header: unexpected text after the dict");
    if (!have_descr || !have_fo || !have_shape)
        return eisnet_set_error("npy header: missing key '%s'", !have_descr ? "descr" : !have_fo ? "fortran_order" : "shape");
    return 0;
}

/* Length of the fixed prefix for a version, or -1. */
static int prefix_len(const unsigned char *b, size_t n, size_t *hdr_len)
{
    if (n < 8 || memcmp(b, NPY_MAGIC, 6) != 0) return eisnet_set_error("not an .npy file (bad magic)");
    int major = b[6];
    if (major == 1) {
        if (n < 10) return eisnet_set_error("truncated .npy header");
        *hdr_len = (size_t)b[8] | ((size_t)b[9] << 8);
        return 10;
    }
    if (major == 2 || major == 3) {
        if (n < 12) return eisnet_set_error("truncated .npy header");
        *hdr_len = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        if (*hdr_len > (1u << 24)) return eisnet_set_error("npy header too long (%zu bytes)", *hdr_len);
        return 12;
    }
    return eisnet_set_error("unsupported .npy format version %d.%d", major, b[7]);
}

/* Parses magic + header from buf (n bytes available). */
static int parse_npy_header(const unsigned char *b, size_t n, size_t *data_off, eisnet_array *a)
{
    size_t hl = 0;
    int pl = prefix_len(b, n, &hl);
    if (pl < 0) return -1;
    if (hl > n - (size_t)pl)
        return eisnet_set_error("truncated .npy file: header of %zu bytes but only %zu present", hl, n - (size_t)pl);
    memset(a, 0, sizeof *a);
    if (parse_header_dict((const char *)b + pl, hl, &a->dtype, &a->ndim, a->shape) != 0) return -1;
    if (eisnet_shape_check(a->dtype, a->ndim, a->shape, &a->nbytes) != 0) return -1;
    *data_off = (size_t)pl + hl;
    return 0;
}

static int npy_parse_impl(unsigned char *buf, size_t n, eisnet_array *out, int steal)
{
    eisnet_array a;
    size_t off;
    memset(out, 0, sizeof *out);
    if (!buf) return eisnet_set_error("no data");
    if (parse_npy_header(buf, n, &off, &a) != 0) return -1;
    size_t have = n - off;
    if (have < a.nbytes)
        return eisnet_set_error("truncated .npy data: expected %zu bytes, found %zu", a.nbytes, have);
    if (have > a.nbytes)
        return eisnet_set_error(".npy file has %zu unexpected bytes after the array data", have - a.nbytes);
    if (steal) {
        memmove(buf, buf + off, a.nbytes);
        void *p = realloc(buf, a.nbytes ? a.nbytes : 1);
        a.data = p ? p : buf;
    } else {
        a.data = malloc(a.nbytes ? a.nbytes : 1);
        if (!a.data) return eisnet_set_error("out of memory (%zu bytes)", a.nbytes);
        if (a.nbytes) memcpy(a.data, buf + off, a.nbytes);
    }
    *out = a;
    return 0;
}

int eisnet_npy_parse(const void *buf, size_t n, eisnet_array *out)
{
    return npy_parse_impl((unsigned char *)(uintptr_t)buf, n, out, 0);
}

int eisnet_npy_encode(eisnet_dtype t, int ndim, const int64_t *shape, const void *data, void **buf, size_t *n)
{
    *buf = NULL;
    *n = 0;
    size_t nb = 0;
    if (eisnet_shape_check(t, ndim, shape, &nb) != 0) return -1;
    if (nb && !data) return eisnet_set_error("missing array data");
    char hdr[1024];
    size_t hl;
    if (eisnet_npy_header(t, ndim, shape, hdr, sizeof hdr, &hl) != 0) return -1;
    unsigned char *b = malloc(hl + nb);
    if (!b) return eisnet_set_error("out of memory (%zu bytes)", hl + nb);
    memcpy(b, hdr, hl);
    if (nb) memcpy(b + hl, data, nb);
    *buf = b;
    *n = hl + nb;
    return 0;
}

static void prefix_error(const char *what)
{
    char msg[768];
    snprintf(msg, sizeof msg, "%s", eisnet_last_error());
    eisnet_set_error("%s: %s", what, msg);
}

static void base_name_noext(const char *path, const char *ext, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b), e = strlen(ext);
    if (n > e && strcmp(b + n - e, ext) == 0) n -= e;
    if (n >= cap) n = cap - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

int eisnet_npy_read(const char *path, eisnet_array *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return eisnet_set_error("cannot open %s: %s", path, strerror(errno));
    unsigned char pre[12];
    size_t got = fread(pre, 1, sizeof pre, fp);
    size_t hl = 0;
    int pl = prefix_len(pre, got, &hl);
    if (pl < 0) {
        fclose(fp);
        prefix_error(path);
        return -1;
    }
    unsigned char *hb = malloc((size_t)pl + hl);
    if (!hb) {
        fclose(fp);
        return eisnet_set_error("out of memory");
    }
    memcpy(hb, pre, got < (size_t)pl + hl ? got : (size_t)pl + hl);
    size_t have = got < (size_t)pl + hl ? got : (size_t)pl + hl;
    eisnet_array a;
    size_t off;
    if (have < (size_t)pl + hl) have += fread(hb + have, 1, (size_t)pl + hl - have, fp);
    /* Bytes already read beyond the header (the 12-byte prefix of a v1 file). */
    size_t extra = got > (size_t)pl + hl ? got - ((size_t)pl + hl) : 0;
    if (parse_npy_header(hb, have, &off, &a) != 0) {
        free(hb);
        fclose(fp);
        prefix_error(path);
        return -1;
    }
    /* check the file size before allocating what the header claims */
    off_t here = ftello(fp), fend = -1;
    if (here >= 0 && fseeko(fp, 0, SEEK_END) == 0) fend = ftello(fp);
    if (here < 0 || fend < 0 || fseeko(fp, here, SEEK_SET) != 0) {
        free(hb);
        fclose(fp);
        return eisnet_set_error("cannot read %s: not a regular file", path);
    }
    if ((uint64_t)(fend - here) + extra != (uint64_t)a.nbytes) {
        free(hb);
        fclose(fp);
        if ((uint64_t)(fend - here) + extra < (uint64_t)a.nbytes)
            return eisnet_set_error("%s: truncated .npy data: expected %zu bytes, found %llu", path, a.nbytes,
                                    (unsigned long long)(fend - here) + extra);
        return eisnet_set_error("%s: .npy file has unexpected bytes after the array data", path);
    }
    a.data = malloc(a.nbytes ? a.nbytes : 1);
    if (!a.data) {
        free(hb);
        fclose(fp);
        return eisnet_set_error("%s: out of memory (%zu bytes)", path, a.nbytes);
    }
    size_t d = extra < a.nbytes ? extra : a.nbytes;
    /* Only form the pointer into pre[] when bytes were read past the header:
     * with a normal header it would point beyond the 12-byte array. */
    if (d) memcpy(a.data, pre + ((size_t)pl + hl), d);
    if (extra > a.nbytes) {
        free(a.data);
        free(hb);
        fclose(fp);
        return eisnet_set_error("%s: .npy file has unexpected bytes after the array data", path);
    }
    free(hb);
    size_t rd = d + fread((char *)a.data + d, 1, a.nbytes - d, fp);
    int more = fgetc(fp) != EOF;
    int bad = ferror(fp);
    fclose(fp);
    if (bad || rd != a.nbytes || more) {
        free(a.data);
        if (bad) return eisnet_set_error("cannot read %s", path);
        if (rd != a.nbytes)
            return eisnet_set_error("%s: truncated .npy data: expected %zu bytes, found %zu", path, a.nbytes, rd);
        return eisnet_set_error("%s: .npy file has unexpected bytes after the array data", path);
    }
    base_name_noext(path, ".npy", a.name, sizeof a.name);
    *out = a;
    return 0;
}

int eisnet_npy_write(const char *path, eisnet_dtype t, int ndim, const int64_t *shape, const void *data)
{
    size_t nb = 0;
    if (eisnet_shape_check(t, ndim, shape, &nb) != 0) return -1;
    if (nb && !data) return eisnet_set_error("missing array data");
    eisnet_npy_writer *w = eisnet_npy_writer_open(path, t, ndim, shape);
    if (!w) return -1;
    if (eisnet_npy_writer_append(w, data, nb) != 0) {
        eisnet_npy_writer_abort(w);
        return -1;
    }
    return eisnet_npy_writer_close(w);
}

/* ------------------------------------------------------------------ */
/* streaming .npy writer                                               */

struct eisnet_npy_writer {
    eisnet_atomic_file af;
    size_t nbytes, written;
};

eisnet_npy_writer *eisnet_npy_writer_open(const char *path, eisnet_dtype t, int ndim, const int64_t *shape)
{
    char hdr[1024];
    size_t hl = 0, nb = 0;
    if (eisnet_shape_check(t, ndim, shape, &nb) != 0) return NULL;
    if (eisnet_npy_header(t, ndim, shape, hdr, sizeof hdr, &hl) != 0) return NULL;
    eisnet_npy_writer *w = calloc(1, sizeof *w);
    if (!w) {
        eisnet_set_error("out of memory");
        return NULL;
    }
    w->nbytes = nb;
    if (eisnet_atomic_open(&w->af, path) != 0) {
        free(w);
        return NULL;
    }
    if (eisnet_atomic_write(&w->af, hdr, hl) != 0) {
        eisnet_atomic_abort(&w->af);
        free(w);
        return NULL;
    }
    return w;
}

int eisnet_npy_writer_append(eisnet_npy_writer *w, const void *data, size_t nbytes)
{
    if (!w) return eisnet_set_error("npy writer is not open");
    if (nbytes > w->nbytes - w->written)
        return eisnet_set_error("%s: appending %zu bytes would exceed the array size (%zu of %zu bytes written)",
                                w->af.final_path, nbytes, w->written, w->nbytes);
    if (nbytes && !data) return eisnet_set_error("missing array data");
    if (eisnet_atomic_write(&w->af, data, nbytes) != 0) return -1;
    w->written += nbytes;
    return 0;
}

int eisnet_npy_writer_close(eisnet_npy_writer *w)
{
    if (!w) return eisnet_set_error("npy writer is not open");
    if (w->written != w->nbytes) {
        eisnet_set_error("%s: incomplete array: %zu of %zu bytes written", w->af.final_path, w->written, w->nbytes);
        eisnet_atomic_abort(&w->af);
        free(w);
        return -1;
    }
    int rc = eisnet_atomic_commit(&w->af);
    free(w);
    return rc;
}

void eisnet_npy_writer_abort(eisnet_npy_writer *w)
{
    if (!w) return;
    eisnet_atomic_abort(&w->af);
    free(w);
}

/* ------------------------------------------------------------------ */
/* zip helpers                                                         */

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

#define ZIP_LIMIT 0xFFFFFFFFull
#define DOS_DATE 0x21 /* 1980-01-01 */

/* ------------------------------------------------------------------ */
/* streaming .npz writer                                               */

typedef struct {
    char *name; /* with ".npy" */
    uint32_t crc;
    uint64_t csize, usize, off;
    unsigned method;
} zentry;

struct eisnet_npz_writer {
    eisnet_atomic_file af;
    int compress;
    uint64_t off; /* bytes written so far */
    zentry *e;
    size_t n, cap;
    /* member in progress */
    int in_member;
    zentry cur;
    size_t nbytes, written; /* array data */
    z_stream zs;
    int zs_live;
    unsigned char zbuf[1 << 16];
};

static int zw_raw(eisnet_npz_writer *w, const void *d, size_t n)
{
    if (eisnet_atomic_write(&w->af, d, n) != 0) return -1;
    w->off += n;
    return 0;
}

static int zw_feed(eisnet_npz_writer *w, const void *data, size_t n, int finish)
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

static int zw_finish_member(eisnet_npz_writer *w)
{
    if (w->compress) {
        if (zw_feed(w, "", 0, 1) != 0) return -1;
        deflateEnd(&w->zs);
        w->zs_live = 0;
    }
    if (w->cur.csize >= ZIP_LIMIT || w->off >= ZIP_LIMIT)
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
        zentry *ne = realloc(w->e, nc * sizeof *ne);
        if (!ne) return eisnet_set_error("out of memory");
        w->e = ne;
        w->cap = nc;
    }
    w->e[w->n++] = w->cur;
    w->cur.name = NULL;
    w->in_member = 0;
    return 0;
}

eisnet_npz_writer *eisnet_npz_writer_open(const char *path, int compress)
{
    eisnet_npz_writer *w = calloc(1, sizeof *w);
    if (!w) {
        eisnet_set_error("out of memory");
        return NULL;
    }
    w->compress = compress ? 1 : 0;
    if (eisnet_atomic_open(&w->af, path) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

int eisnet_npz_writer_begin(eisnet_npz_writer *w, const char *name, eisnet_dtype t, int ndim, const int64_t *shape)
{
    if (!w) return eisnet_set_error("npz writer is not open");
    if (w->in_member)
        return eisnet_set_error("%s: member '%s' is incomplete (%zu of %zu bytes)", w->af.final_path, w->cur.name,
                                w->written, w->nbytes);
    if (w->af.failed) return -1;
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl >= sizeof(((eisnet_array *)0)->name))
        return eisnet_set_error("npz array name must have 1 to %zu characters", sizeof(((eisnet_array *)0)->name) - 1);
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->e[i].name) == nl + 4 && memcmp(w->e[i].name, name, nl) == 0)
            return eisnet_set_error("duplicate npz array name '%s'", name);
    char hdr[1024];
    size_t hl = 0, nb = 0;
    if (eisnet_shape_check(t, ndim, shape, &nb) != 0) return -1;
    if (eisnet_npy_header(t, ndim, shape, hdr, sizeof hdr, &hl) != 0) return -1;
    if (nb + hl >= ZIP_LIMIT)
        return eisnet_set_error("npz array '%s' is 4 GiB or more: not supported (no zip64 output); use .npy", name);
    memset(&w->cur, 0, sizeof w->cur);
    w->cur.name = malloc(nl + 5);
    if (!w->cur.name) return eisnet_set_error("out of memory");
    memcpy(w->cur.name, name, nl);
    memcpy(w->cur.name + nl, ".npy", 5);
    w->cur.off = w->off;
    w->cur.method = w->compress ? 8 : 0;
    w->nbytes = nb;
    w->written = 0;
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
    put16(lh + 26, (unsigned)(nl + 4));
    put16(lh + 28, 0);
    if (zw_raw(w, lh, 30) != 0 || zw_raw(w, w->cur.name, nl + 4) != 0) return -1;
    if (zw_feed(w, hdr, hl, 0) != 0) return -1;
    if (nb == 0) return zw_finish_member(w);
    return 0;
}

int eisnet_npz_writer_append(eisnet_npz_writer *w, const void *data, size_t nbytes)
{
    if (!w) return eisnet_set_error("npz writer is not open");
    if (!w->in_member) return eisnet_set_error("npz writer: append without a member begun");
    if (nbytes > w->nbytes - w->written)
        return eisnet_set_error("npz member '%s': appending %zu bytes would exceed its size (%zu of %zu written)",
                                w->cur.name, nbytes, w->written, w->nbytes);
    if (nbytes && !data) return eisnet_set_error("missing array data");
    if (nbytes == 0) return 0;
    if (zw_feed(w, data, nbytes, 0) != 0) return -1;
    w->written += nbytes;
    if (w->written == w->nbytes) return zw_finish_member(w);
    return 0;
}

int eisnet_npz_writer_add(eisnet_npz_writer *w, const char *name, eisnet_dtype t, int ndim, const int64_t *shape,
                          const void *data)
{
    size_t nb = 0;
    if (eisnet_shape_check(t, ndim, shape, &nb) != 0) return -1;
    if (nb && !data) return eisnet_set_error("missing array data for '%s'", name ? name : "");
    if (eisnet_npz_writer_begin(w, name, t, ndim, shape) != 0) return -1;
    return nb ? eisnet_npz_writer_append(w, data, nb) : 0;
}

static void zw_free(eisnet_npz_writer *w)
{
    if (w->zs_live) deflateEnd(&w->zs);
    for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    free(w->cur.name);
    free(w);
}

int eisnet_npz_writer_close(eisnet_npz_writer *w)
{
    if (!w) return eisnet_set_error("npz writer is not open");
    if (w->in_member) {
        eisnet_set_error("%s: member '%s' is incomplete (%zu of %zu bytes)", w->af.final_path, w->cur.name,
                         w->written, w->nbytes);
        eisnet_npz_writer_abort(w);
        return -1;
    }
    if (w->n > 0xFFFF) {
        eisnet_set_error("%s: too many npz members (%zu, at most 65535)", w->af.final_path, w->n);
        eisnet_npz_writer_abort(w);
        return -1;
    }
    uint64_t cd_off = w->off;
    int rc = 0;
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        zentry *e = &w->e[i];
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
    if (rc == 0 && (w->off >= ZIP_LIMIT)) rc = eisnet_set_error("%s: .npz archive reaches 4 GiB (zip64 is not written)", w->af.final_path);
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
    if (rc != 0) {
        eisnet_atomic_abort(&w->af);
        zw_free(w);
        return -1;
    }
    rc = eisnet_atomic_commit(&w->af);
    zw_free(w);
    return rc;
}

void eisnet_npz_writer_abort(eisnet_npz_writer *w)
{
    if (!w) return;
    eisnet_atomic_abort(&w->af);
    zw_free(w);
}

int eisnet_npz_write(const char *path, const eisnet_array *arrays, size_t n, int compress)
{
    if (n && !arrays) return eisnet_set_error("no arrays");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(arrays[i].name, arrays[j].name) == 0)
                return eisnet_set_error("duplicate npz array name '%s'", arrays[i].name);
    eisnet_npz_writer *w = eisnet_npz_writer_open(path, compress);
    if (!w) return -1;
    for (size_t i = 0; i < n; i++) {
        const eisnet_array *a = &arrays[i];
        size_t nb = 0;
        if (eisnet_shape_check(a->dtype, a->ndim, a->shape, &nb) != 0 ||
            (a->nbytes != nb && eisnet_set_error("array '%s': nbytes %zu does not match its shape (%zu)", a->name,
                                                 a->nbytes, nb)) ||
            eisnet_npz_writer_add(w, a->name, a->dtype, a->ndim, a->shape, a->data) != 0) {
            eisnet_npz_writer_abort(w);
            return -1;
        }
    }
    return eisnet_npz_writer_close(w);
}

/* ------------------------------------------------------------------ */
/* .npz reader                                                         */

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

int eisnet_npz_parse(const void *buf, size_t n, eisnet_array **arrays, size_t *count)
{
    *arrays = NULL;
    *count = 0;
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
    eisnet_array *arr = calloc(entries ? (size_t)entries : 1, sizeof *arr);
    if (!arr) return eisnet_set_error("out of memory");
    size_t got = 0;
    const unsigned char *p = b + cd_off, *cd_end = b + cd_off + cd_size;
    char mname[300];
    for (uint64_t i = 0; i < entries; i++) {
        mname[0] = '\0';
        if ((size_t)(cd_end - p) < 46 || get32(p) != 0x02014b50) {
            eisnet_set_error("zip: bad central directory entry %llu", (unsigned long long)i);
            goto fail;
        }
        unsigned flags = get16(p + 8), method = get16(p + 10);
        uint32_t crc = get32(p + 16);
        uint64_t csize = get32(p + 20), usize = get32(p + 24);
        unsigned nl = get16(p + 28), xl = get16(p + 30), cl = get16(p + 32);
        uint64_t loff = get32(p + 42);
        if ((size_t)(cd_end - p) - 46 < (size_t)nl + xl + cl) {
            eisnet_set_error("zip: central directory entry %llu runs past the directory", (unsigned long long)i);
            goto fail;
        }
        const unsigned char *name = p + 46, *ex = name + nl;
        size_t cnl = nl < sizeof mname ? nl : sizeof mname - 1;
        memcpy(mname, name, cnl);
        mname[cnl] = '\0';
        for (size_t k = 0; k < cnl; k++)
            if (mname[k] < 0x20) mname[k] = '?';
        /* zip64 extra field */
        for (size_t q = 0; q + 4 <= xl;) {
            unsigned id = get16(ex + q), sz = get16(ex + q + 2);
            if (q + 4 + sz > xl) break;
            if (id == 1) {
                const unsigned char *z = ex + q + 4;
                unsigned left = sz;
                if (usize == 0xFFFFFFFFu) {
                    if (left < 8) break;
                    usize = get64(z), z += 8, left -= 8;
                }
                if (csize == 0xFFFFFFFFu) {
                    if (left < 8) break;
                    csize = get64(z), z += 8, left -= 8;
                }
                if (loff == 0xFFFFFFFFu) {
                    if (left < 8) break;
                    loff = get64(z), z += 8, left -= 8;
                }
            }
            q += 4 + (size_t)sz;
        }
        p += 46 + (size_t)nl + xl + cl;
        if (flags & 1) {
            eisnet_set_error("zip member '%s' is encrypted", mname);
            goto fail;
        }
        if (method != 0 && method != 8) {
            eisnet_set_error("zip member '%s' uses unsupported compression method %u", mname, method);
            goto fail;
        }
        if (nl < 5 || memcmp(name + nl - 4, ".npy", 4) != 0 || memchr(name, 0, nl)) {
            eisnet_set_error("npz member '%s' is not a .npy file", mname);
            goto fail;
        }
        if (nl - 4 >= sizeof arr[0].name) {
            eisnet_set_error("npz member name too long (%u characters)", nl);
            goto fail;
        }
        for (size_t j = 0; j < got; j++)
            if (strlen(arr[j].name) == nl - 4 && memcmp(arr[j].name, name, nl - 4) == 0) {
                eisnet_set_error("npz: duplicate member '%s'", mname);
                goto fail;
            }
        if (loff > n || n - loff < 30 || get32(b + loff) != 0x04034b50) {
            eisnet_set_error("zip member '%s': bad local header offset %llu", mname, (unsigned long long)loff);
            goto fail;
        }
        unsigned lnl = get16(b + loff + 26), lxl = get16(b + loff + 28);
        uint64_t data = loff + 30 + lnl + lxl;
        if (data > n || lnl != nl || memcmp(b + loff + 30, name, nl) != 0) {
            eisnet_set_error("zip member '%s': local header does not match the central directory", mname);
            goto fail;
        }
        if (csize > n - data) {
            eisnet_set_error("zip member '%s': data (%llu bytes) runs past the end of the file", mname,
                             (unsigned long long)csize);
            goto fail;
        }
        if (usize > EISNET_MAX_ARRAY_BYTES + (1u << 25)) {
            eisnet_set_error("npz member '%s' too large (%llu bytes, the limit is 8 GiB)", mname,
                             (unsigned long long)usize);
            goto fail;
        }
        eisnet_array a;
        if (method == 0) {
            if (csize != usize) {
                eisnet_set_error("zip member '%s': stored sizes differ (%llu vs %llu)", mname,
                                 (unsigned long long)csize, (unsigned long long)usize);
                goto fail;
            }
            if (crc_update(0, b + data, (size_t)usize) != crc) {
                eisnet_set_error("zip member '%s': CRC mismatch", mname);
                goto fail;
            }
            if (eisnet_npy_parse(b + data, (size_t)usize, &a) != 0) {
                prefix_error(mname);
                goto fail;
            }
        } else {
            /* deflate cannot expand more than 1032:1; refuse impossible sizes before allocating */
            if (usize / 1032 > csize + 64) {
                eisnet_set_error("zip member '%s': declared size %llu is impossible for %llu compressed bytes", mname,
                                 (unsigned long long)usize, (unsigned long long)csize);
                goto fail;
            }
            unsigned char *u = malloc(usize ? (size_t)usize : 1);
            if (!u) {
                eisnet_set_error("out of memory (%llu bytes)", (unsigned long long)usize);
                goto fail;
            }
            if (inflate_member(b + data, csize, u, usize) != 0) {
                free(u);
                prefix_error(mname);
                goto fail;
            }
            if (crc_update(0, u, (size_t)usize) != crc) {
                free(u);
                eisnet_set_error("zip member '%s': CRC mismatch", mname);
                goto fail;
            }
            if (npy_parse_impl(u, (size_t)usize, &a, 1) != 0) {
                free(u);
                prefix_error(mname);
                goto fail;
            }
        }
        memcpy(a.name, name, nl - 4);
        a.name[nl - 4] = '\0';
        arr[got++] = a;
    }
    *arrays = arr;
    *count = got;
    return 0;
fail:
    eisnet_arrays_free(arr, got);
    return -1;
}

int eisnet_npz_read(const char *path, eisnet_array **arrays, size_t *count)
{
    *arrays = NULL;
    *count = 0;
    char *data;
    size_t n;
    if (eisnet_read_regular_file(path, EISNET_MAX_ARRAY_FILE, &data, &n) != 0) return -1;
    int rc = eisnet_npz_parse(data, n, arrays, count);
    free(data);
    if (rc != 0) prefix_error(path);
    return rc;
}
