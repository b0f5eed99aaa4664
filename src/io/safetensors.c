/* safetensors reading and writing (see eisnet/safetensors.h). */
#include "eisnet/safetensors.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (100u * 1000u * 1000u)
#define META_KEY "__metadata__"

/* ---------------- writing ---------------- */

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_json_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Builds the padded header (without the 8-byte length) and the data order. */
static int build_header(const eisnet_array *a, size_t n, const char *const *mk, const char *const *mv, size_t nm,
                        sbuf *hdr, size_t **order_out, uint64_t *data_len)
{
    *order_out = NULL;
    if (n && !a) return eisnet_set_error("no tensors");
    if (nm && (!mk || !mv)) return eisnet_set_error("missing metadata keys or values");
    for (size_t i = 0; i < n; i++) {
        size_t nb = 0;
        if (a[i].name[0] == '\0') return eisnet_set_error("tensor %zu has an empty name", i);
        if (memchr(a[i].name, 0, sizeof a[i].name) == NULL) return eisnet_set_error("tensor %zu: name not terminated", i);
        if (strcmp(a[i].name, META_KEY) == 0) return eisnet_set_error("a tensor may not be called %s", META_KEY);
        if (eisnet_shape_check(a[i].dtype, a[i].ndim, a[i].shape, &nb) != 0) return -1;
        if (nb != a[i].nbytes)
            return eisnet_set_error("tensor '%s': nbytes %zu does not match its shape (%zu)", a[i].name, a[i].nbytes, nb);
        if (nb && !a[i].data) return eisnet_set_error("tensor '%s' has no data", a[i].name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(a[i].name, a[j].name) == 0) return eisnet_set_error("duplicate tensor name '%s'", a[i].name);
    }
    for (size_t i = 0; i < nm; i++) {
        if (!mk[i] || !mv[i]) return eisnet_set_error("metadata entry %zu is NULL", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(mk[i], mk[j]) == 0) return eisnet_set_error("duplicate metadata key '%s'", mk[i]);
    }
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    uint64_t *begin = malloc((n ? n : 1) * sizeof *begin);
    if (!order || !begin) {
        free(order);
        free(begin);
        return eisnet_set_error("out of memory");
    }
    /* data order: by decreasing element size, stable */
    size_t k = 0;
    for (size_t es = 8; es >= 1; es /= 2)
        for (size_t i = 0; i < n; i++)
            if (eisnet_dtype_size(a[i].dtype) == es) order[k++] = i;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        begin[order[i]] = off;
        off += a[order[i]].nbytes;
    }
    *data_len = off;
    sb_str(hdr, "{");
    int first = 1;
    if (nm) {
        sb_json_str(hdr, META_KEY);
        sb_str(hdr, ":{");
        for (size_t i = 0; i < nm; i++) {
            if (i) sb_str(hdr, ",");
            sb_json_str(hdr, mk[i]);
            sb_str(hdr, ":");
            sb_json_str(hdr, mv[i]);
        }
        sb_str(hdr, "}");
        first = 0;
    }
    for (size_t i = 0; i < n; i++) {
        char num[64];
        if (!first) sb_str(hdr, ",");
        first = 0;
        sb_json_str(hdr, a[i].name);
        sb_str(hdr, ":{\"dtype\":\"");
        sb_str(hdr, eisnet_dtype_st_name(a[i].dtype));
        sb_str(hdr, "\",\"shape\":[");
        for (int d = 0; d < a[i].ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)a[i].shape[d]);
            sb_str(hdr, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)begin[i],
                 (unsigned long long)(begin[i] + a[i].nbytes));
        sb_str(hdr, num);
    }
    sb_str(hdr, "}");
    while (hdr->n % 8) sb_str(hdr, " ");
    free(begin);
    if (hdr->oom) {
        free(order);
        return eisnet_set_error("out of memory");
    }
    *order_out = order;
    return 0;
}

static void put_len(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int eisnet_safetensors_write(const char *path, const eisnet_array *arrays, size_t n,
                             const char *const *meta_keys, const char *const *meta_values, size_t n_meta)
{
    sbuf hdr = {0};
    size_t *order;
    uint64_t dlen;
    if (build_header(arrays, n, meta_keys, meta_values, n_meta, &hdr, &order, &dlen) != 0) {
        free(hdr.s);
        return -1;
    }
    eisnet_atomic_file af;
    if (eisnet_atomic_open(&af, path) != 0) {
        free(hdr.s);
        free(order);
        return -1;
    }
    unsigned char lenb[8];
    put_len(lenb, hdr.n);
    int rc = eisnet_atomic_write(&af, lenb, 8);
    if (rc == 0) rc = eisnet_atomic_write(&af, hdr.s, hdr.n);
    for (size_t i = 0; i < n && rc == 0; i++) rc = eisnet_atomic_write(&af, arrays[order[i]].data, arrays[order[i]].nbytes);
    free(hdr.s);
    free(order);
    if (rc != 0) {
        eisnet_atomic_abort(&af);
        return -1;
    }
    return eisnet_atomic_commit(&af);
}

int eisnet_safetensors_encode(const eisnet_array *arrays, size_t n, const char *const *meta_keys,
                              const char *const *meta_values, size_t n_meta, void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    sbuf hdr = {0};
    size_t *order;
    uint64_t dlen;
    if (build_header(arrays, n, meta_keys, meta_values, n_meta, &hdr, &order, &dlen) != 0) {
        free(hdr.s);
        return -1;
    }
    size_t total = 8 + hdr.n + (size_t)dlen;
    unsigned char *b = malloc(total);
    if (!b) {
        free(hdr.s);
        free(order);
        return eisnet_set_error("out of memory (%zu bytes)", total);
    }
    put_len(b, hdr.n);
    memcpy(b + 8, hdr.s, hdr.n);
    size_t off = 8 + hdr.n;
    for (size_t i = 0; i < n; i++) {
        const eisnet_array *a = &arrays[order[i]];
        if (a->nbytes) memcpy(b + off, a->data, a->nbytes);
        off += a->nbytes;
    }
    free(hdr.s);
    free(order);
    *buf = b;
    *len = total;
    return 0;
}

/* ---------------- reading ---------------- */

void eisnet_safetensors_free_meta(char **keys, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (keys) free(keys[i]);
        if (values) free(values[i]);
    }
    free(keys);
    free(values);
}

const char *eisnet_safetensors_meta_get(char *const *keys, char *const *values, size_t n, const char *key)
{
    if (!keys || !values || !key) return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0) return values[i];
    return NULL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d) return -1;
    *v = (uint64_t)d;
    return 0;
}

static int st_dtype(const char *s, eisnet_dtype *t)
{
    static const eisnet_dtype all[] = {EISNET_F32, EISNET_F64, EISNET_I32, EISNET_I64, EISNET_U8, EISNET_I16, EISNET_U16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, eisnet_dtype_st_name(all[i])) == 0) {
            *t = all[i];
            return 0;
        }
    return -1;
}

typedef struct {
    uint64_t begin, end;
    size_t idx;
} span;

static int cmp_span(const void *x, const void *y)
{
    const span *a = x, *b = y;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return 0;
}

/* Copy of s for error messages: at most 100 bytes, control characters as '?'. */
static const char *clean(const char *s, char *out)
{
    size_t i = 0;
    for (; s && s[i] && i < 100; i++) out[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    out[i] = '\0';
    return out;
}

static int cmp_strp(const void *x, const void *y) { return strcmp(*(const char *const *)x, *(const char *const *)y); }

int eisnet_safetensors_parse(const void *buf, size_t n, eisnet_array **arrays, size_t *count,
                             char ***meta_keys, char ***meta_values, size_t *n_meta)
{
    *arrays = NULL;
    *count = 0;
    if (meta_keys) *meta_keys = NULL;
    if (meta_values) *meta_values = NULL;
    if (n_meta) *n_meta = 0;
    const unsigned char *b = buf;
    if (!b || n < 8) return eisnet_set_error("not a safetensors file (too short)");
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    if (hl > n - 8)
        return eisnet_set_error("safetensors header length %llu runs past the end of the file (%zu bytes)",
                                (unsigned long long)hl, n);
    if (hl > ST_MAX_HEADER) return eisnet_set_error("safetensors header too large (%llu bytes)", (unsigned long long)hl);
    if (hl < 2 || b[8] != '{') return eisnet_set_error("safetensors header is not a JSON object");
    const char *h = (const char *)b + 8;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hl, &end, 0);
    if (!root)
        return eisnet_set_error("safetensors header is not valid JSON (near byte %zu)",
                                (size_t)(end && end >= h && end <= h + hl ? end - h : 0));
    size_t data_len = n - 8 - (size_t)hl;
    const unsigned char *data = b + 8 + hl;
    eisnet_array *arr = NULL;
    span *sp = NULL;
    const char **names = NULL;
    char **mk = NULL, **mv = NULL;
    size_t nm = 0, got = 0, nt = 0, nkeys = 0;
    char cl[104], cl2[104];
    if (end) {
        for (const char *p = end; p < h + hl; p++)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                eisnet_set_error("safetensors header has text after the JSON object");
                goto fail;
            }
    }
    if (!cJSON_IsObject(root)) {
        eisnet_set_error("safetensors header is not a JSON object");
        goto fail;
    }
    for (cJSON *c = root->child; c; c = c->next) {
        nkeys++;
        if (!c->string) {
            eisnet_set_error("safetensors header: entry without a name");
            goto fail;
        }
        if (strcmp(c->string, META_KEY) != 0) nt++;
    }
    names = malloc((nkeys ? nkeys : 1) * sizeof *names);
    arr = calloc(nt ? nt : 1, sizeof *arr);
    sp = malloc((nt ? nt : 1) * sizeof *sp);
    if (!names || !arr || !sp) {
        eisnet_set_error("out of memory");
        goto fail;
    }
    size_t k = 0;
    for (cJSON *c = root->child; c; c = c->next) names[k++] = c->string;
    qsort(names, nkeys, sizeof *names, cmp_strp);
    for (size_t i = 1; i < nkeys; i++)
        if (strcmp(names[i], names[i - 1]) == 0) {
            eisnet_set_error("safetensors header: duplicate name '%s'", clean(names[i], cl));
            goto fail;
        }
    for (cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, META_KEY) == 0) {
            if (!cJSON_IsObject(c)) {
                eisnet_set_error("safetensors __metadata__ is not an object");
                goto fail;
            }
            size_t cnt = 0;
            for (cJSON *m = c->child; m; m = m->next) {
                if (!cJSON_IsString(m) || !m->valuestring || !m->string) {
                    eisnet_set_error("safetensors __metadata__ value '%s' is not a string", clean(m->string, cl));
                    goto fail;
                }
                cnt++;
            }
            if (meta_keys && meta_values && n_meta && cnt) {
                mk = calloc(cnt, sizeof *mk);
                mv = calloc(cnt, sizeof *mv);
                if (!mk || !mv) {
                    eisnet_set_error("out of memory");
                    goto fail;
                }
                for (cJSON *m = c->child; m; m = m->next) {
                    mk[nm] = dup_str(m->string);
                    mv[nm] = dup_str(m->valuestring);
                    nm++;
                    if (!mk[nm - 1] || !mv[nm - 1]) {
                        eisnet_set_error("out of memory");
                        goto fail;
                    }
                }
            }
            continue;
        }
        const char *nmn = clean(c->string, cl);
        eisnet_array *a = &arr[got];
        if (strlen(c->string) >= sizeof a->name) {
            eisnet_set_error("safetensors tensor name too long (%zu bytes, at most %zu)", strlen(c->string), sizeof a->name - 1);
            goto fail;
        }
        if (!cJSON_IsObject(c)) {
            eisnet_set_error("safetensors tensor '%s' is not an object", nmn);
            goto fail;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(c, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(c, "shape");
        cJSON *of = cJSON_GetObjectItemCaseSensitive(c, "data_offsets");
        if (!cJSON_IsString(dt) || !dt->valuestring) {
            eisnet_set_error("safetensors tensor '%s': missing dtype", nmn);
            goto fail;
        }
        if (st_dtype(dt->valuestring, &a->dtype) != 0) {
            eisnet_set_error("safetensors tensor '%s': unsupported dtype '%.20s' (supported: F32 F64 I32 I64 U8 I16 U16)",
                             nmn, clean(dt->valuestring, cl2));
            goto fail;
        }
        if (!cJSON_IsArray(sh)) {
            eisnet_set_error("safetensors tensor '%s': missing shape", nmn);
            goto fail;
        }
        int nd = cJSON_GetArraySize(sh);
        if (nd > EISNET_MAX_DIMS) {
            eisnet_set_error("safetensors tensor '%s': %d dimensions (at most %d)", nmn, nd, EISNET_MAX_DIMS);
            goto fail;
        }
        int d = 0;
        for (cJSON *e = sh->child; e; e = e->next, d++) {
            uint64_t v;
            if (json_uint(e, &v) != 0) {
                eisnet_set_error("safetensors tensor '%s': shape entries must be non-negative integers", nmn);
                goto fail;
            }
            a->shape[d] = (int64_t)v;
        }
        a->ndim = nd;
        if (eisnet_shape_check(a->dtype, a->ndim, a->shape, &a->nbytes) != 0) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s", eisnet_last_error());
            eisnet_set_error("safetensors tensor '%s': %s", nmn, msg);
            goto fail;
        }
        uint64_t ob, oe;
        if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || json_uint(of->child, &ob) != 0 ||
            json_uint(of->child->next, &oe) != 0) {
            eisnet_set_error("safetensors tensor '%s': data_offsets must be two non-negative integers", nmn);
            goto fail;
        }
        if (ob > oe || oe > data_len) {
            eisnet_set_error("safetensors tensor '%s': data_offsets [%llu, %llu] out of range (buffer of %zu bytes)", nmn,
                             (unsigned long long)ob, (unsigned long long)oe, data_len);
            goto fail;
        }
        if (oe - ob != a->nbytes) {
            eisnet_set_error("safetensors tensor '%s': data_offsets span %llu bytes but dtype and shape need %zu", nmn,
                             (unsigned long long)(oe - ob), a->nbytes);
            goto fail;
        }
        memcpy(a->name, c->string, strlen(c->string) + 1);
        sp[got].begin = ob;
        sp[got].end = oe;
        sp[got].idx = got;
        got++;
    }
    /* the buffer must be covered exactly */
    span *sorted = malloc((got ? got : 1) * sizeof *sorted);
    if (!sorted) {
        eisnet_set_error("out of memory");
        goto fail;
    }
    memcpy(sorted, sp, got * sizeof *sorted);
    qsort(sorted, got, sizeof *sorted, cmp_span);
    uint64_t cur = 0;
    for (size_t i = 0; i < got; i++) {
        if (sorted[i].begin != cur) {
            eisnet_set_error(sorted[i].begin < cur ? "safetensors tensor '%s' overlaps another tensor"
                                                   : "safetensors data has a hole before tensor '%s'",
                             clean(arr[sorted[i].idx].name, cl));
            free(sorted);
            goto fail;
        }
        cur = sorted[i].end;
    }
    free(sorted);
    if (cur != data_len) {
        eisnet_set_error("safetensors data buffer has %llu bytes not covered by any tensor",
                         (unsigned long long)(data_len - cur));
        goto fail;
    }
    for (size_t i = 0; i < got; i++) {
        arr[i].data = malloc(arr[i].nbytes ? arr[i].nbytes : 1);
        if (!arr[i].data) {
            eisnet_set_error("out of memory (%zu bytes)", arr[i].nbytes);
            goto fail;
        }
        if (arr[i].nbytes) memcpy(arr[i].data, data + sp[i].begin, arr[i].nbytes);
    }
    cJSON_Delete(root);
    free(names);
    free(sp);
    *arrays = arr;
    *count = got;
    if (meta_keys && meta_values && n_meta) {
        *meta_keys = mk;
        *meta_values = mv;
        *n_meta = nm;
    }
    return 0;
fail:
    cJSON_Delete(root);
    free(names);
    free(sp);
    eisnet_arrays_free(arr, got);
    eisnet_safetensors_free_meta(mk, mv, nm);
    return -1;
}

int eisnet_safetensors_read(const char *path, eisnet_array **arrays, size_t *count,
                            char ***meta_keys, char ***meta_values, size_t *n_meta)
{
    *arrays = NULL;
    *count = 0;
    char *data;
    size_t n;
    if (eisnet_read_regular_file(path, EISNET_MAX_ARRAY_FILE, &data, &n) != 0) return -1;
    int rc = eisnet_safetensors_parse(data, n, arrays, count, meta_keys, meta_values, n_meta);
    free(data);
    if (rc != 0) {
        char msg[800];
        snprintf(msg, sizeof msg, "%s", eisnet_last_error());
        eisnet_set_error("%s: %s", path, msg);
    }
    return rc;
}
