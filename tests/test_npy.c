/* .npy / .npz: round trips, streaming writers, malformed input, random
 * mutations, and numpy compatibility (when /usr/bin/python3 has numpy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "eisnet/error.h"
#include "eisnet/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PY "/usr/bin/python3"


static int setup(void **state)
{
    (void)state;
    return test_dir_make("npy");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}


static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int dir_entries(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 0", test_dir);
    return system(cmd) == 0 ? 0 : 1;
}

static const void *memmem(const void *h, size_t hn, const void *nd, size_t nn)
{
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp((const char *)h + i, nd, nn) == 0) return (const char *)h + i;
    return NULL;
}

static int have_numpy(void) { return system(PY " -c 'import numpy' >/dev/null 2>&1") == 0; }

/* Fills an array of the given dtype with value(i) = ((i * 7) % 23) - 5 (+0.25 for floats). */
static void *make_data(eisnet_dtype t, int64_t count)
{
    size_t es = eisnet_dtype_size(t);
    unsigned char *d = malloc((size_t)count * es + 1);
    for (int64_t i = 0; i < count; i++) {
        int64_t v = (i * 7) % 23 - 5;
        switch (t) {
        case EISNET_F32: ((float *)d)[i] = (float)v + 0.25f; break;
        case EISNET_F64: ((double *)d)[i] = (double)v + 0.25; break;
        case EISNET_I32: ((int32_t *)d)[i] = (int32_t)v * 100000; break;
        case EISNET_I64: ((int64_t *)d)[i] = v * 10000000000LL; break;
        case EISNET_U8: d[i] = (unsigned char)(v + 5); break;
        case EISNET_I16: ((int16_t *)d)[i] = (int16_t)(v * 1000); break;
        case EISNET_U16: ((uint16_t *)d)[i] = (uint16_t)(v + 60000); break;
        }
    }
    return d;
}

static void test_dtype(void **state)
{
    (void)state;
    assert_int_equal(eisnet_dtype_size(EISNET_F32), 4);
    assert_int_equal(eisnet_dtype_size(EISNET_F64), 8);
    assert_int_equal(eisnet_dtype_size(EISNET_I32), 4);
    assert_int_equal(eisnet_dtype_size(EISNET_I64), 8);
    assert_int_equal(eisnet_dtype_size(EISNET_U8), 1);
    assert_int_equal(eisnet_dtype_size(EISNET_I16), 2);
    assert_int_equal(eisnet_dtype_size(EISNET_U16), 2);
    assert_int_equal(eisnet_dtype_size((eisnet_dtype)99), 0);
    eisnet_array a = {.ndim = 3, .shape = {2, 3, 4}};
    assert_int_equal(eisnet_array_count(&a), 24);
    a.ndim = 0;
    assert_int_equal(eisnet_array_count(&a), 1);
    size_t nb;
    int64_t big[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    assert_int_equal(eisnet_shape_check(EISNET_F64, 2, big, &nb), -1);
    assert_non_null(strstr(eisnet_last_error(), "too large"));
    int64_t ok[2] = {(int64_t)1 << 30, 8};
    assert_int_equal(eisnet_shape_check(EISNET_U8, 2, ok, &nb), 0);
    assert_int_equal(nb, (size_t)8 << 30);
    ok[1] = 9;
    assert_int_equal(eisnet_shape_check(EISNET_U8, 2, ok, &nb), -1);
    int64_t neg[1] = {-1};
    assert_int_equal(eisnet_shape_check(EISNET_U8, 1, neg, &nb), -1);
    assert_int_equal(eisnet_shape_check(EISNET_U8, 9, ok, &nb), -1);
}

static void test_npy_header_layout(void **state)
{
    (void)state;
    double v[3] = {1, 2, 3};
    int64_t sh[1] = {3};
    void *buf;
    size_t n;
    assert_int_equal(eisnet_npy_encode(EISNET_F64, 1, sh, v, &buf, &n), 0);
    assert_int_equal(n, 128 + 24); /* numpy 1.24 writes the same 128-byte header */
    assert_memory_equal(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *want = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
    assert_memory_equal((char *)buf + 10, want, strlen(want));
    assert_int_equal(((char *)buf)[127], '\n');
    free(buf);
    /* 0-d and 2-d */
    int64_t sh2[2] = {2, 3};
    unsigned char u[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(eisnet_npy_encode(EISNET_U8, 2, sh2, u, &buf, &n), 0);
    assert_non_null(memmem(buf, n, "'descr': '|u1'", 14));
    assert_non_null(memmem(buf, n, "'shape': (2, 3)", 15));
    free(buf);
    assert_int_equal(eisnet_npy_encode(EISNET_I32, 0, NULL, (int32_t[]){7}, &buf, &n), 0);
    assert_non_null(memmem(buf, n, "'shape': ()", 11));
    assert_int_equal(n, 132);
    free(buf);
}

static void test_npy_roundtrip(void **state)
{
    (void)state;
    const eisnet_dtype types[7] = {EISNET_F32, EISNET_F64, EISNET_I32, EISNET_I64, EISNET_U8, EISNET_I16, EISNET_U16};
    const int64_t shapes[5][3] = {{0, 0, 0}, {5, 0, 0}, {3, 4, 0}, {2, 3, 4}, {0, 7, 0}};
    const int nds[5] = {0, 1, 2, 3, 2};
    for (int ti = 0; ti < 7; ti++)
        for (int si = 0; si < 5; si++) {
            eisnet_array a0 = {.ndim = nds[si]};
            memcpy(a0.shape, shapes[si], sizeof shapes[si]);
            int64_t cnt = eisnet_array_count(&a0);
            void *d = make_data(types[ti], cnt);
            void *buf;
            size_t n;
            assert_int_equal(eisnet_npy_encode(types[ti], nds[si], shapes[si], d, &buf, &n), 0);
            assert_int_equal((n - (size_t)cnt * eisnet_dtype_size(types[ti])) % 64, 0);
            eisnet_array a;
            assert_int_equal(eisnet_npy_parse(buf, n, &a), 0);
            assert_int_equal(a.dtype, types[ti]);
            assert_int_equal(a.ndim, nds[si]);
            for (int k = 0; k < nds[si]; k++) assert_int_equal(a.shape[k], shapes[si][k]);
            assert_int_equal(a.nbytes, (size_t)cnt * eisnet_dtype_size(types[ti]));
            assert_non_null(a.data);
            if (a.nbytes) assert_memory_equal(a.data, d, a.nbytes);
            eisnet_array_free(&a);
            assert_null(a.data);
            /* through a file */
            const char *p = test_path("rt.npy");
            assert_int_equal(eisnet_npy_write(p, types[ti], nds[si], shapes[si], d), 0);
            assert_int_equal(eisnet_npy_read(p, &a), 0);
            assert_string_equal(a.name, "rt");
            assert_int_equal(a.nbytes, (size_t)cnt * eisnet_dtype_size(types[ti]));
            if (a.nbytes) assert_memory_equal(a.data, d, a.nbytes);
            eisnet_array_free(&a);
            unlink(p);
            free(buf);
            free(d);
        }
}

static void test_npy_writer(void **state)
{
    (void)state;
    const char *p = test_path("stream.npy");
    int64_t sh[2] = {4, 3};
    eisnet_npy_writer *w = eisnet_npy_writer_open(p, EISNET_F32, 2, sh);
    assert_non_null(w);
    float row[3];
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < 3; c++) row[c] = (float)(r * 10 + c);
        assert_int_equal(eisnet_npy_writer_append(w, row, sizeof row), 0);
        assert_false(file_exists(p)); /* nothing under the final name before close */
    }
    assert_int_equal(eisnet_npy_writer_append(w, row, 4), -1); /* past the end */
    assert_non_null(strstr(eisnet_last_error(), "exceed"));
    assert_int_equal(eisnet_npy_writer_close(w), 0);
    eisnet_array a;
    assert_int_equal(eisnet_npy_read(p, &a), 0);
    assert_int_equal(a.ndim, 2);
    assert_true(((float *)a.data)[11] == 32.0f);
    eisnet_array_free(&a);
    unlink(p);

    /* incomplete: close fails, nothing is left behind */
    w = eisnet_npy_writer_open(p, EISNET_F32, 2, sh);
    assert_non_null(w);
    assert_int_equal(eisnet_npy_writer_append(w, row, sizeof row), 0);
    assert_int_equal(eisnet_npy_writer_close(w), -1);
    assert_non_null(strstr(eisnet_last_error(), "incomplete"));
    assert_false(file_exists(p));
    /* abort */
    w = eisnet_npy_writer_open(p, EISNET_F32, 2, sh);
    assert_non_null(w);
    eisnet_npy_writer_abort(w);
    eisnet_npy_writer_abort(NULL);
    assert_int_equal(dir_entries(), 0);
    /* bad shape / path */
    int64_t bad[1] = {-3};
    assert_null(eisnet_npy_writer_open(p, EISNET_F32, 1, bad));
    assert_null(eisnet_npy_writer_open("/nonexistent-dir/x.npy", EISNET_F32, 2, sh));
    assert_non_null(strstr(eisnet_last_error(), "cannot write"));
}

static void expect_parse_error(const void *buf, size_t n, const char *needle)
{
    eisnet_array a;
    eisnet_clear_error();
    int rc = eisnet_npy_parse(buf, n, &a);
    if (rc == 0 || !strstr(eisnet_last_error(), needle)) {
        print_error("expected an error containing '%s', got rc=%d '%s'\n", needle, rc, eisnet_last_error());
        if (rc == 0) eisnet_array_free(&a);
        fail();
    }
    assert_null(strchr(eisnet_last_error(), '\n'));
}

/* A v1 .npy with a custom header dict and nbytes data bytes. */
static size_t craft_npy(unsigned char *out, const char *dict, size_t nbytes)
{
    size_t dl = strlen(dict);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)((dl + 1) & 0xff);
    out[9] = (unsigned char)((dl + 1) >> 8);
    memcpy(out + 10, dict, dl);
    out[10 + dl] = '\n';
    memset(out + 11 + dl, 0x3f, nbytes);
    return 11 + dl + nbytes;
}

static void test_npy_malformed(void **state)
{
    (void)state;
    unsigned char b[1024];
    size_t n;
    expect_parse_error("", 0, "bad magic");
    expect_parse_error("\x93NUMPZ\x01\x00\x00\x00", 10, "bad magic");
    expect_parse_error("\x93NUMPY\x01", 7, "bad magic");
    expect_parse_error("\x93NUMPY\x01\x00\x10", 9, "truncated");
    expect_parse_error("\x93NUMPY\x05\x00\x00\x00", 10, "version 5.0");
    expect_parse_error("\x93NUMPY\x01\x00\xff\x00{}", 12, "truncated .npy file: header of 255");
    n = craft_npy(b, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
    expect_parse_error(b, n, "big-endian dtype '>f4'");
    n = craft_npy(b, "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 32);
    expect_parse_error(b, n, "unsupported dtype '<c16'");
    n = craft_npy(b, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
    expect_parse_error(b, n, "fortran_order True");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 8);
    expect_parse_error(b, n, "too large");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 8);
    expect_parse_error(b, n, "dimension too large");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,2,3,4,5,6,7,8,9), }", 8);
    expect_parse_error(b, n, "more than 8 dimensions");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 15);
    expect_parse_error(b, n, "truncated .npy data: expected 16 bytes, found 15");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 17);
    expect_parse_error(b, n, "1 unexpected bytes after");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", 16);
    expect_parse_error(b, n, "unexpected key 'x'");
    n = craft_npy(b, "{'descr': '<f8', 'shape': (2,), }", 16);
    expect_parse_error(b, n, "missing key 'fortran_order'");
    n = craft_npy(b, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
    expect_parse_error(b, n, "duplicate key 'descr'");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': [2], }", 16);
    expect_parse_error(b, n, "shape is not a tuple");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }", 16);
    expect_parse_error(b, n, "bad dimension");
    n = craft_npy(b, "[1, 2]", 0);
    expect_parse_error(b, n, "not a dict");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,) ", 16);
    expect_parse_error(b, n, "unterminated");
    n = craft_npy(b, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 16);
    expect_parse_error(b, n, "structured");
    /* accepted variants: double quotes, no trailing comma, fortran_order True is rejected but False ok, 1-byte '|u1' */
    n = craft_npy(b, "{\"descr\": \"|u1\", \"shape\": (2, 3), \"fortran_order\": False}", 6);
    eisnet_array a;
    assert_int_equal(eisnet_npy_parse(b, n, &a), 0);
    assert_int_equal(a.dtype, EISNET_U8);
    assert_int_equal(a.shape[1], 3);
    eisnet_array_free(&a);
    /* version 2.0 */
    unsigned char v2[256];
    const char *dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }\n";
    size_t dl = strlen(dict);
    memcpy(v2, "\x93NUMPY\x02\x00", 8);
    v2[8] = (unsigned char)dl;
    v2[9] = v2[10] = v2[11] = 0;
    memcpy(v2 + 12, dict, dl);
    memcpy(v2 + 12 + dl, "\x01\x00\x02\x00\xff\xff", 6);
    assert_int_equal(eisnet_npy_parse(v2, 12 + dl + 6, &a), 0);
    assert_int_equal(((int16_t *)a.data)[2], -1);
    eisnet_array_free(&a);
    /* files */
    assert_int_equal(eisnet_npy_read(test_path("missing.npy"), &a), -1);
    assert_non_null(strstr(eisnet_last_error(), "cannot open"));
    FILE *fp = fopen(test_path("trunc.npy"), "wb");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 9);
    fwrite(b, 1, n, fp);
    fclose(fp);
    assert_int_equal(eisnet_npy_read(test_path("trunc.npy"), &a), -1);
    assert_non_null(strstr(eisnet_last_error(), "truncated"));
    assert_non_null(strstr(eisnet_last_error(), "trunc.npy"));
    fp = fopen(test_path("long.npy"), "wb");
    n = craft_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 17);
    fwrite(b, 1, n, fp);
    fclose(fp);
    assert_int_equal(eisnet_npy_read(test_path("long.npy"), &a), -1);
    assert_non_null(strstr(eisnet_last_error(), "unexpected bytes"));
    fp = fopen(test_path("tiny.npy"), "wb");
    fwrite("\x93NUMPY\x01\x00\x02\x00{}", 1, 12, fp);
    fclose(fp);
    assert_int_equal(eisnet_npy_read(test_path("tiny.npy"), &a), -1);
    unlink(test_path("trunc.npy"));
    unlink(test_path("long.npy"));
    unlink(test_path("tiny.npy"));
}

static eisnet_array mk(const char *name, eisnet_dtype t, int ndim, const int64_t *shape)
{
    eisnet_array a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.dtype = t;
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    a.nbytes = (size_t)eisnet_array_count(&a) * eisnet_dtype_size(t);
    a.data = make_data(t, eisnet_array_count(&a));
    return a;
}

#define NSET 8
static void make_set(eisnet_array *s)
{
    s[0] = mk("f64_2d", EISNET_F64, 2, (int64_t[]){30, 7});
    s[1] = mk("f32_1d", EISNET_F32, 1, (int64_t[]){1000});
    s[2] = mk("i32_3d", EISNET_I32, 3, (int64_t[]){2, 3, 4});
    s[3] = mk("i64_scalar", EISNET_I64, 0, NULL);
    s[4] = mk("u8", EISNET_U8, 1, (int64_t[]){17});
    s[5] = mk("i16", EISNET_I16, 2, (int64_t[]){5, 5});
    s[6] = mk("u16_empty", EISNET_U16, 2, (int64_t[]){0, 3});
    s[7] = mk("dir/nested.name", EISNET_F64, 1, (int64_t[]){3});
}

static void check_same(const eisnet_array *want, size_t nw, const eisnet_array *got, size_t ng)
{
    assert_int_equal(nw, ng);
    for (size_t i = 0; i < nw; i++) {
        const eisnet_array *g = eisnet_arrays_find(got, ng, want[i].name);
        assert_non_null(g);
        assert_int_equal(g->dtype, want[i].dtype);
        assert_int_equal(g->ndim, want[i].ndim);
        for (int k = 0; k < g->ndim; k++) assert_int_equal(g->shape[k], want[i].shape[k]);
        assert_int_equal(g->nbytes, want[i].nbytes);
        if (g->nbytes) assert_memory_equal(g->data, want[i].data, g->nbytes);
    }
}

static void free_set(eisnet_array *s, size_t n)
{
    for (size_t i = 0; i < n; i++) free(s[i].data);
}

static void test_npz_roundtrip(void **state)
{
    (void)state;
    eisnet_array set[NSET];
    make_set(set);
    for (int compress = 0; compress <= 1; compress++) {
        const char *p = test_path(compress ? "c.npz" : "s.npz");
        assert_int_equal(eisnet_npz_write(p, set, NSET, compress), 0);
        eisnet_array *got;
        size_t n;
        assert_int_equal(eisnet_npz_read(p, &got, &n), 0);
        check_same(set, NSET, got, n);
        assert_null(eisnet_arrays_find(got, n, "nope"));
        eisnet_arrays_free(got, n);
        unlink(p);
    }
    /* empty archive */
    assert_int_equal(eisnet_npz_write(test_path("e.npz"), NULL, 0, 0), 0);
    eisnet_array *got;
    size_t n;
    assert_int_equal(eisnet_npz_read(test_path("e.npz"), &got, &n), 0);
    assert_int_equal(n, 0);
    eisnet_arrays_free(got, n);
    unlink(test_path("e.npz"));
    /* duplicate names are refused, and nothing is written */
    eisnet_array dup[2] = {set[0], set[0]};
    assert_int_equal(eisnet_npz_write(test_path("d.npz"), dup, 2, 0), -1);
    assert_non_null(strstr(eisnet_last_error(), "duplicate"));
    dup[1].nbytes = 3;
    snprintf(dup[1].name, sizeof dup[1].name, "other");
    assert_int_equal(eisnet_npz_write(test_path("d.npz"), dup, 2, 1), -1);
    assert_non_null(strstr(eisnet_last_error(), "does not match"));
    assert_int_equal(dir_entries(), 0);
    free_set(set, NSET);
}

static void test_npz_streaming(void **state)
{
    (void)state;
    for (int compress = 0; compress <= 1; compress++) {
        const char *p = test_path("w.npz");
        eisnet_npz_writer *w = eisnet_npz_writer_open(p, compress);
        assert_non_null(w);
        int64_t sh[2] = {100, 5};
        assert_int_equal(eisnet_npz_writer_begin(w, "rows", EISNET_F64, 2, sh), 0);
        double row[5];
        for (int r = 0; r < 100; r++) {
            for (int c = 0; c < 5; c++) row[c] = r * 5 + c;
            if (r == 50) { /* a second member cannot start now */
                assert_int_equal(eisnet_npz_writer_begin(w, "x", EISNET_F64, 1, sh), -1);
                assert_non_null(strstr(eisnet_last_error(), "incomplete"));
            }
            assert_int_equal(eisnet_npz_writer_append(w, row, sizeof row), 0);
        }
        assert_int_equal(eisnet_npz_writer_append(w, row, 8), -1);
        assert_int_equal(eisnet_npz_writer_add(w, "ids", EISNET_I32, 1, (int64_t[]){3}, (int32_t[]){7, 8, 9}), 0);
        assert_int_equal(eisnet_npz_writer_add(w, "ids", EISNET_I32, 1, (int64_t[]){3}, (int32_t[]){7, 8, 9}), -1);
        assert_non_null(strstr(eisnet_last_error(), "duplicate"));
        assert_int_equal(eisnet_npz_writer_add(w, "", EISNET_I32, 1, (int64_t[]){3}, (int32_t[]){7, 8, 9}), -1);
        assert_false(file_exists(p));
        assert_int_equal(eisnet_npz_writer_close(w), 0);
        eisnet_array *got;
        size_t n;
        assert_int_equal(eisnet_npz_read(p, &got, &n), 0);
        assert_int_equal(n, 2);
        const eisnet_array *r = eisnet_arrays_find(got, n, "rows");
        assert_non_null(r);
        for (int i = 0; i < 500; i++) assert_true(((double *)r->data)[i] == i);
        eisnet_arrays_free(got, n);
        unlink(p);
        /* an incomplete member makes close fail and leaves nothing */
        w = eisnet_npz_writer_open(p, compress);
        assert_int_equal(eisnet_npz_writer_begin(w, "rows", EISNET_F64, 2, sh), 0);
        assert_int_equal(eisnet_npz_writer_append(w, row, sizeof row), 0);
        assert_int_equal(eisnet_npz_writer_close(w), -1);
        assert_non_null(strstr(eisnet_last_error(), "incomplete"));
        w = eisnet_npz_writer_open(p, compress);
        eisnet_npz_writer_abort(w);
        eisnet_npz_writer_abort(NULL);
        assert_int_equal(dir_entries(), 0);
    }
}

static unsigned char *encode_npz(const eisnet_array *set, size_t n, int compress, size_t *len)
{
    const char *p = test_path("enc.npz");
    assert_int_equal(eisnet_npz_write(p, set, n, compress), 0);
    FILE *fp = fopen(p, "rb");
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz);
    assert_int_equal(fread(b, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    unlink(p);
    *len = (size_t)sz;
    return b;
}

static void expect_npz_error(const unsigned char *b, size_t n, const char *needle)
{
    eisnet_array *got;
    size_t cnt;
    eisnet_clear_error();
    int rc = eisnet_npz_parse(b, n, &got, &cnt);
    if (rc == 0 || !strstr(eisnet_last_error(), needle)) {
        print_error("expected an error containing '%s', got rc=%d '%s'\n", needle, rc, eisnet_last_error());
        if (rc == 0) eisnet_arrays_free(got, cnt);
        fail();
    }
    assert_null(got);
    assert_int_equal(cnt, 0);
}

static size_t find_sig(const unsigned char *b, size_t n, uint32_t sig, size_t from)
{
    for (size_t i = from; i + 4 <= n; i++)
        if ((uint32_t)(b[i] | b[i + 1] << 8 | b[i + 2] << 16 | (uint32_t)b[i + 3] << 24) == sig) return i;
    return (size_t)-1;
}

static void test_npz_malformed(void **state)
{
    (void)state;
    eisnet_array set[2];
    set[0] = mk("a", EISNET_F64, 1, (int64_t[]){10});
    set[1] = mk("b", EISNET_I16, 1, (int64_t[]){10});
    for (int compress = 0; compress <= 1; compress++) {
        size_t n;
        unsigned char *good = encode_npz(set, 2, compress, &n);
        unsigned char *b = malloc(n);
        size_t cd = find_sig(good, n, 0x02014b50, 0), eocd = n - 22;
        size_t lh2 = find_sig(good, n, 0x04034b50, 4);
        expect_npz_error(good, 10, "too short");
        memcpy(b, good, n);
        b[eocd] = 'X';
        expect_npz_error(b, n, "no end of central directory");
        expect_npz_error(good, n - 1, "no end of central directory");
        memcpy(b, good, n);
        b[eocd + 16] ^= 0x40; /* cd offset */
        expect_npz_error(b, n, "outside the file");
        memcpy(b, good, n);
        b[eocd + 10] = 200; /* entries */
        b[eocd + 8] = 200;
        expect_npz_error(b, n, "cannot fit");
        memcpy(b, good, n);
        b[cd + 42] = 3; /* local header offset of the first member */
        expect_npz_error(b, n, "bad local header offset");
        memcpy(b, good, n);
        b[cd + 16] ^= 1; /* crc */
        expect_npz_error(b, n, "CRC mismatch");
        memcpy(b, good, n);
        b[cd + 20] = 0xff; /* compressed size */
        b[cd + 21] = 0xff;
        expect_npz_error(b, n, compress ? "runs past the end" : "runs past the end");
        memcpy(b, good, n);
        b[cd + 10] = 12; /* method */
        expect_npz_error(b, n, "compression method 12");
        memcpy(b, good, n);
        b[cd + 8] = 1; /* encrypted */
        expect_npz_error(b, n, "encrypted");
        memcpy(b, good, n);
        b[cd + 46 + 2] = 'x'; /* a.npy -> a.npx in the directory only */
        expect_npz_error(b, n, "not a .npy file");
        memcpy(b, good, n);
        b[cd + 46] = 'z'; /* name differs from the local header */
        expect_npz_error(b, n, "does not match");
        memcpy(b, good, n);
        b[cd + 28] = 200; /* name length */
        expect_npz_error(b, n, "runs past the directory");
        /* duplicate member: rename b.npy to a.npy in both headers */
        memcpy(b, good, n);
        size_t cd2 = find_sig(b, n, 0x02014b50, cd + 4);
        b[lh2 + 30] = 'a';
        b[cd2 + 46] = 'a';
        expect_npz_error(b, n, "duplicate member 'a.npy'");
        if (compress) { /* a decompression bomb is refused before allocating */
            memcpy(b, good, n);
            b[cd + 27] = 0x7f;
            expect_npz_error(b, n, "impossible");
        }
        /* wrong uncompressed size */
        memcpy(b, good, n);
        b[cd + 24] ^= 4;
        expect_npz_error(b, n, compress ? "declared" : "stored sizes differ");
        /* a corrupt .npy inside: flip the magic in member data, fix nothing -> CRC; with crc patched -> npy error */
        if (!compress) {
            memcpy(b, good, n);
            b[30 + 5] = 'N'; /* local data starts after the 30-byte header + "a.npy" */
            b[30 + 5 + 1] = 'X';
            expect_npz_error(b, n, "CRC mismatch");
        } else {
            memcpy(b, good, n);
            b[30 + 5 + 3] ^= 0x55; /* corrupt deflate stream */
            eisnet_array *got;
            size_t cnt;
            assert_int_equal(eisnet_npz_parse(b, n, &got, &cnt), -1);
            assert_non_null(strstr(eisnet_last_error(), "a.npy"));
        }
        free(b);
        free(good);
    }
    free_set(set, 2);
}

/* ---- random mutations ---- */
static uint64_t rs = 12345;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static size_t mutate(unsigned char *b, size_t n, size_t cap)
{
    int op = (int)(rnd() % 6);
    switch (op) {
    case 0: /* flip a few bytes */
        for (int k = 1 + (int)(rnd() % 4); k > 0 && n; k--) b[rnd() % n] ^= (unsigned char)(1 + rnd() % 255);
        return n;
    case 1: /* truncate */
        return n ? rnd() % n : 0;
    case 2: /* random 32-bit word (sizes, offsets) */
        if (n >= 4) {
            size_t at = rnd() % (n - 3);
            uint32_t v = (uint32_t)rnd();
            if (rnd() % 2) v = (uint32_t)(rnd() % 4) == 0 ? 0xFFFFFFFFu : v & 0xFFFF;
            memcpy(b + at, &v, 4);
        }
        return n;
    case 3: /* insert bytes */
        if (n + 8 <= cap && n) {
            size_t at = rnd() % n, k = 1 + rnd() % 8;
            memmove(b + at + k, b + at, n - at);
            for (size_t i = 0; i < k; i++) b[at + i] = (unsigned char)rnd();
            return n + k;
        }
        return n;
    case 4: /* delete bytes */
        if (n > 8) {
            size_t at = rnd() % (n - 8), k = 1 + rnd() % 8;
            memmove(b + at, b + at + k, n - at - k);
            return n - k;
        }
        return n;
    default: /* digit / char swaps in text headers */
        if (n) {
            size_t at = rnd() % (n < 200 ? n : 200);
            static const char cs[] = "0123456789(),'{}: <>|fiuTF\n";
            b[at] = (unsigned char)cs[rnd() % (sizeof cs - 1)];
        }
        return n;
    }
}

static void test_fuzz(void **state)
{
    (void)state;
    eisnet_array set[NSET];
    make_set(set);
    size_t ln[3];
    unsigned char *good[3];
    good[0] = encode_npz(set, NSET, 0, &ln[0]);
    good[1] = encode_npz(set, NSET, 1, &ln[1]);
    void *npy;
    assert_int_equal(eisnet_npy_encode(EISNET_F64, 2, set[0].shape, set[0].data, &npy, &ln[2]), 0);
    good[2] = npy;
    int ok = 0, bad = 0;
    for (int f = 0; f < 3; f++) {
        size_t cap = ln[f] + 64;
        unsigned char *b = malloc(cap);
        for (int it = 0; it < 1500; it++) {
            memcpy(b, good[f], ln[f]);
            size_t n = ln[f];
            int rounds = 1 + (int)(rnd() % 3);
            for (int r = 0; r < rounds; r++) n = mutate(b, n, cap);
            /* exact-size copy so ASan sees any read past the end */
            unsigned char *c = malloc(n ? n : 1);
            memcpy(c, b, n);
            eisnet_clear_error();
            int rc;
            if (f < 2) {
                eisnet_array *got;
                size_t cnt;
                rc = eisnet_npz_parse(c, n, &got, &cnt);
                if (rc == 0) eisnet_arrays_free(got, cnt);
            } else {
                eisnet_array a;
                rc = eisnet_npy_parse(c, n, &a);
                if (rc == 0) eisnet_array_free(&a);
            }
            if (rc == 0) {
                ok++;
            } else {
                bad++;
                assert_true(eisnet_last_error()[0] != '\0');
                assert_null(strchr(eisnet_last_error(), '\n'));
            }
            free(c);
        }
        free(b);
        free(good[f]);
    }
    print_message("fuzz: %d mutated inputs accepted, %d rejected cleanly\n", ok, bad);
    assert_true(bad > 1000);
    free_set(set, NSET);
}

/* ---- numpy compatibility ---- */
static int run_py(const char *script)
{
    const char *sp = test_path("check.py");
    FILE *fp = fopen(sp, "w");
    fputs(script, fp);
    fclose(fp);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, PY " '%s' '%s'", sp, test_dir);
    int rc = system(cmd);
    unlink(sp);
    return rc;
}

static const char *PY_EXPECT =
    "import sys, numpy as np\n"
    "d = sys.argv[1]\n"
    "def vals(dt, shape):\n"
    "    n = int(np.prod(shape)) if len(shape) else 1\n"
    "    v = (np.arange(n, dtype=np.int64) * 7) % 23 - 5\n"
    "    if dt == '<f4': a = v.astype('<f4') + np.float32(0.25)\n"
    "    elif dt == '<f8': a = v.astype('<f8') + 0.25\n"
    "    elif dt == '<i4': a = (v * 100000).astype('<i4')\n"
    "    elif dt == '<i8': a = (v * 10000000000).astype('<i8')\n"
    "    elif dt == '|u1': a = (v + 5).astype('u1')\n"
    "    elif dt == '<i2': a = (v * 1000).astype('<i2')\n"
    "    elif dt == '<u2': a = (v + 60000).astype('<u2')\n"
    "    return a.reshape(shape)\n"
    "SET = [('f64_2d','<f8',(30,7)),('f32_1d','<f4',(1000,)),('i32_3d','<i4',(2,3,4)),('i64_scalar','<i8',()),\n"
    "       ('u8','|u1',(17,)),('i16','<i2',(5,5)),('u16_empty','<u2',(0,3)),('dir/nested.name','<f8',(3,))]\n";

static void test_numpy_reads_ours(void **state)
{
    (void)state;
    if (!have_numpy()) {
        print_message("SKIP: numpy not available\n");
        skip();
    }
    eisnet_array set[NSET];
    make_set(set);
    assert_int_equal(eisnet_npz_write(test_path("stored.npz"), set, NSET, 0), 0);
    assert_int_equal(eisnet_npz_write(test_path("deflated.npz"), set, NSET, 1), 0);
    for (int i = 0; i < NSET - 1; i++) {
        char nm[300];
        snprintf(nm, sizeof nm, "%.127s.npy", set[i].name);
        assert_int_equal(eisnet_npy_write(test_path(nm), set[i].dtype, set[i].ndim, set[i].shape, set[i].data), 0);
    }
    char script[8192];
    snprintf(script, sizeof script, "%s%s", PY_EXPECT,
             "import zipfile\n"
             "for f in ['stored.npz', 'deflated.npz']:\n"
             "    assert zipfile.ZipFile(d + '/' + f).testzip() is None\n"
             "    z = np.load(d + '/' + f)\n"
             "    assert sorted(z.files) == sorted(s[0] for s in SET), z.files\n"
             "    for name, dt, shape in SET:\n"
             "        a = z[name]\n"
             "        assert a.dtype == np.dtype(dt) and a.shape == shape, (name, a.dtype, a.shape)\n"
             "        assert np.array_equal(a, vals(dt, shape)), name\n"
             "for name, dt, shape in SET[:-1]:\n"
             "    a = np.load(d + '/' + name + '.npy')\n"
             "    assert a.dtype == np.dtype(dt) and a.shape == shape and np.array_equal(a, vals(dt, shape)), name\n"
             "    assert (open(d + '/' + name + '.npy', 'rb').read(10)[8] + 10) % 64 == 0\n"
             "print('numpy read eisnet files: ok')\n");
    assert_int_equal(run_py(script), 0);
    free_set(set, NSET);
}

static void test_we_read_numpys(void **state)
{
    (void)state;
    if (!have_numpy()) {
        print_message("SKIP: numpy not available\n");
        skip();
    }
    char script[8192];
    snprintf(script, sizeof script, "%s%s", PY_EXPECT,
             "arrs = {name: vals(dt, shape) for name, dt, shape in SET}\n"
             "np.savez(d + '/np_stored.npz', **arrs)\n"
             "np.savez_compressed(d + '/np_deflated.npz', **arrs)\n"
             "for name, dt, shape in SET[:-1]:\n"
             "    np.save(d + '/np_' + name + '.npy', arrs[name])\n"
             "np.save(d + '/np_big.npy', np.arange(70000, dtype='<f8').reshape(700, 100))\n"
             "np.savez_compressed(d + '/np_big.npz', big=np.arange(70000, dtype='<f8').reshape(700, 100))\n"
             "np.save(d + '/np_fortran.npy', np.asfortranarray(np.ones((3, 4))))\n"
             "np.save(d + '/np_be.npy', np.ones(3, dtype='>f4'))\n");
    assert_int_equal(run_py(script), 0);
    eisnet_array set[NSET];
    make_set(set);
    const char *files[2] = {"np_stored.npz", "np_deflated.npz"};
    for (int f = 0; f < 2; f++) {
        eisnet_array *got;
        size_t n;
        int rc = eisnet_npz_read(test_path(files[f]), &got, &n);
        if (rc != 0) print_error("%s\n", eisnet_last_error());
        assert_int_equal(rc, 0);
        check_same(set, NSET, got, n);
        eisnet_arrays_free(got, n);
    }
    for (int i = 0; i < NSET - 1; i++) {
        char nm[300];
        snprintf(nm, sizeof nm, "np_%.127s.npy", set[i].name);
        eisnet_array a;
        assert_int_equal(eisnet_npy_read(test_path(nm), &a), 0);
        memcpy(a.name, set[i].name, sizeof a.name);
        check_same(&set[i], 1, &a, 1);
        eisnet_array_free(&a);
    }
    eisnet_array a;
    assert_int_equal(eisnet_npy_read(test_path("np_big.npy"), &a), 0);
    assert_true(((double *)a.data)[69999] == 69999.0);
    eisnet_array_free(&a);
    eisnet_array *got;
    size_t n;
    assert_int_equal(eisnet_npz_read(test_path("np_big.npz"), &got, &n), 0);
    assert_int_equal(n, 1);
    assert_true(((double *)got[0].data)[69999] == 69999.0);
    eisnet_arrays_free(got, n);
    assert_int_equal(eisnet_npy_read(test_path("np_fortran.npy"), &a), -1);
    assert_non_null(strstr(eisnet_last_error(), "fortran_order"));
    assert_int_equal(eisnet_npy_read(test_path("np_be.npy"), &a), -1);
    assert_non_null(strstr(eisnet_last_error(), "big-endian"));
    free_set(set, NSET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype),
        cmocka_unit_test(test_npy_header_layout),
        cmocka_unit_test(test_npy_roundtrip),
        cmocka_unit_test(test_npy_writer),
        cmocka_unit_test(test_npy_malformed),
        cmocka_unit_test(test_npz_roundtrip),
        cmocka_unit_test(test_npz_streaming),
        cmocka_unit_test(test_npz_malformed),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_numpy_reads_ours),
        cmocka_unit_test(test_we_read_numpys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
