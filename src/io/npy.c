/* numpy .npy / .npz reading and writing (the zip container: zip.c).
 * Everything is bounds-checked: readers treat their input as hostile. */
#include "eisnet/npy.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "zip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

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
/* .npz: a zip of NAME.npy members (zip.h)                             */

struct eisnet_npz_writer {
    eisnet_zip_writer z;
    size_t nbytes, written; /* array data of the member in progress */
};

eisnet_npz_writer *eisnet_npz_writer_open(const char *path, int compress)
{
    eisnet_npz_writer *w = calloc(1, sizeof *w);
    if (!w) {
        eisnet_set_error("out of memory");
        return NULL;
    }
    if (eisnet_zip_writer_open(&w->z, path, compress) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

int eisnet_npz_writer_begin(eisnet_npz_writer *w, const char *name, eisnet_dtype t, int ndim, const int64_t *shape)
{
    if (!w) return eisnet_set_error("npz writer is not open");
    eisnet_zip_writer *z = &w->z;
    if (z->in_member)
        return eisnet_set_error("%s: member '%s' is incomplete (%zu of %zu bytes)", z->af.final_path, z->cur.name,
                                w->written, w->nbytes);
    if (z->af.failed) return -1;
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl >= sizeof(((eisnet_array *)0)->name))
        return eisnet_set_error("npz array name must have 1 to %zu characters", sizeof(((eisnet_array *)0)->name) - 1);
    for (size_t i = 0; i < z->n; i++)
        if (strlen(z->e[i].name) == nl + 4 && memcmp(z->e[i].name, name, nl) == 0)
            return eisnet_set_error("duplicate npz array name '%s'", name);
    char hdr[1024];
    size_t hl = 0, nb = 0;
    if (eisnet_shape_check(t, ndim, shape, &nb) != 0) return -1;
    if (eisnet_npy_header(t, ndim, shape, hdr, sizeof hdr, &hl) != 0) return -1;
    if (nb + hl >= EISNET_ZIP_LIMIT)
        return eisnet_set_error("npz array '%s' is 4 GiB or more: not supported (no zip64 output); use .npy", name);
    char *member = malloc(nl + 5);
    if (!member) return eisnet_set_error("out of memory");
    memcpy(member, name, nl);
    memcpy(member + nl, ".npy", 5);
    w->nbytes = nb;
    w->written = 0;
    if (eisnet_zip_member_begin(z, member) != 0) return -1;
    if (eisnet_zip_member_feed(z, hdr, hl) != 0) return -1;
    if (nb == 0) return eisnet_zip_member_end(z);
    return 0;
}

int eisnet_npz_writer_append(eisnet_npz_writer *w, const void *data, size_t nbytes)
{
    if (!w) return eisnet_set_error("npz writer is not open");
    if (!w->z.in_member) return eisnet_set_error("npz writer: append without a member begun");
    if (nbytes > w->nbytes - w->written)
        return eisnet_set_error("npz member '%s': appending %zu bytes would exceed its size (%zu of %zu written)",
                                w->z.cur.name, nbytes, w->written, w->nbytes);
    if (nbytes && !data) return eisnet_set_error("missing array data");
    if (nbytes == 0) return 0;
    if (eisnet_zip_member_feed(&w->z, data, nbytes) != 0) return -1;
    w->written += nbytes;
    if (w->written == w->nbytes) return eisnet_zip_member_end(&w->z);
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

int eisnet_npz_writer_close(eisnet_npz_writer *w)
{
    if (!w) return eisnet_set_error("npz writer is not open");
    if (w->z.in_member) {
        eisnet_set_error("%s: member '%s' is incomplete (%zu of %zu bytes)", w->z.af.final_path, w->z.cur.name,
                         w->written, w->nbytes);
        eisnet_npz_writer_abort(w);
        return -1;
    }
    int rc = eisnet_zip_writer_close(&w->z);
    free(w);
    return rc;
}

void eisnet_npz_writer_abort(eisnet_npz_writer *w)
{
    if (!w) return;
    eisnet_zip_writer_abort(&w->z);
    free(w);
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

/* The member's name as an array name: NAME.npy, not too long, not twice. */
static int npz_member_name(const eisnet_zip_member *m, const eisnet_array *arr, size_t got)
{
    unsigned nl = m->nl;
    if (nl < 5 || memcmp(m->name + nl - 4, ".npy", 4) != 0 || memchr(m->name, 0, nl))
        return eisnet_set_error("npz member '%s' is not a .npy file", m->shown);
    if (nl - 4 >= sizeof arr[0].name) return eisnet_set_error("npz member name too long (%u characters)", nl);
    for (size_t j = 0; j < got; j++)
        if (strlen(arr[j].name) == nl - 4 && memcmp(arr[j].name, m->name, nl - 4) == 0)
            return eisnet_set_error("npz: duplicate member '%s'", m->shown);
    return 0;
}

/* The member's array (its data copied, or taken over when inflated). */
static int npz_member_array(const eisnet_zip_reader *z, const eisnet_zip_member *m, eisnet_array *a)
{
    if (m->usize > EISNET_MAX_ARRAY_BYTES + (1u << 25))
        return eisnet_set_error("npz member '%s' too large (%llu bytes, the limit is 8 GiB)", m->shown,
                                (unsigned long long)m->usize);
    const unsigned char *data;
    unsigned char *owned;
    if (eisnet_zip_extract(z, m, &data, &owned) != 0) return -1;
    int rc = owned ? npy_parse_impl(owned, (size_t)m->usize, a, 1) : eisnet_npy_parse(data, (size_t)m->usize, a);
    if (rc != 0) {
        free(owned);
        prefix_error(m->shown);
        return -1;
    }
    memcpy(a->name, m->name, m->nl - 4);
    a->name[m->nl - 4] = '\0';
    return 0;
}

int eisnet_npz_parse(const void *buf, size_t n, eisnet_array **arrays, size_t *count)
{
    *arrays = NULL;
    *count = 0;
    eisnet_zip_reader z;
    if (eisnet_zip_reader_open(&z, buf, n) != 0) return -1;
    eisnet_array *arr = calloc(z.entries ? (size_t)z.entries : 1, sizeof *arr);
    if (!arr) return eisnet_set_error("out of memory");
    size_t got = 0;
    for (uint64_t i = 0; i < z.entries; i++) {
        eisnet_zip_member m;
        if (eisnet_zip_next(&z, i, &m) != 0 || npz_member_name(&m, arr, got) != 0 || eisnet_zip_locate(&z, &m) != 0 ||
            npz_member_array(&z, &m, &arr[got]) != 0) {
            eisnet_arrays_free(arr, got);
            return -1;
        }
        got++;
    }
    *arrays = arr;
    *count = got;
    return 0;
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
