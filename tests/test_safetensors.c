/* safetensors: round trips with metadata, malformed headers, random
 * mutations, and a cross-check in Python (json + struct, and torch when
 * /usr/bin/python3 has it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "eisnet/error.h"
#include "eisnet/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PY "/usr/bin/python3"


static int setup(void **state)
{
    (void)state;
    return test_dir_make("st");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}


static eisnet_array mk(const char *name, eisnet_dtype t, int ndim, const int64_t *shape)
{
    eisnet_array a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.dtype = t;
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    int64_t cnt = eisnet_array_count(&a);
    size_t es = eisnet_dtype_size(t);
    a.nbytes = (size_t)cnt * es;
    unsigned char *d = malloc(a.nbytes + 1);
    for (int64_t i = 0; i < cnt; i++) {
        double v = (double)((i * 7) % 23 - 5);
        switch (t) {
        case EISNET_F32: ((float *)d)[i] = (float)v + 0.5f; break;
        case EISNET_F64: ((double *)d)[i] = v / 3.0; break;
        case EISNET_I32: ((int32_t *)d)[i] = (int32_t)v * 1000; break;
        case EISNET_I64: ((int64_t *)d)[i] = (int64_t)v * 10000000000LL; break;
        case EISNET_U8: d[i] = (unsigned char)(v + 5); break;
        case EISNET_I16: ((int16_t *)d)[i] = (int16_t)(v * 100); break;
        case EISNET_U16: ((uint16_t *)d)[i] = (uint16_t)(v + 40000); break;
        }
    }
    a.data = d;
    return a;
}

#define NSET 8
static void make_set(eisnet_array *s)
{
    s[0] = mk("u8.bytes", EISNET_U8, 1, (int64_t[]){5});
    s[1] = mk("net.0.weight", EISNET_F32, 2, (int64_t[]){16, 10});
    s[2] = mk("net.0.bias", EISNET_F32, 1, (int64_t[]){16});
    s[3] = mk("f64", EISNET_F64, 3, (int64_t[]){2, 3, 4});
    s[4] = mk("i16", EISNET_I16, 1, (int64_t[]){3});
    s[5] = mk("steps", EISNET_I64, 0, NULL);
    s[6] = mk("empty", EISNET_I32, 2, (int64_t[]){0, 4});
    s[7] = mk("quote\"back\\slash", EISNET_U16, 1, (int64_t[]){7});
}

static void free_set(eisnet_array *s, size_t n)
{
    for (size_t i = 0; i < n; i++) free(s[i].data);
}

static const char *MK[3] = {"format", "config", "weird \"key\"\n"};
static const char *MV[3] = {"pt", "{\"hidden_dim\": 512, \"lr\": 0.001}", "tab\there"};

static void check_same(const eisnet_array *want, size_t nw, const eisnet_array *got, size_t ng)
{
    assert_int_equal(nw, ng);
    for (size_t i = 0; i < nw; i++) {
        assert_string_equal(got[i].name, want[i].name); /* header order is kept */
        assert_int_equal(got[i].dtype, want[i].dtype);
        assert_int_equal(got[i].ndim, want[i].ndim);
        for (int k = 0; k < want[i].ndim; k++) assert_int_equal(got[i].shape[k], want[i].shape[k]);
        assert_int_equal(got[i].nbytes, want[i].nbytes);
        assert_non_null(got[i].data);
        if (want[i].nbytes) assert_memory_equal(got[i].data, want[i].data, want[i].nbytes);
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    eisnet_array set[NSET];
    make_set(set);
    const char *p = test_path("m.safetensors");
    assert_int_equal(eisnet_safetensors_write(p, set, NSET, MK, MV, 3), 0);
    eisnet_array *got;
    size_t n, nm;
    char **k, **v;
    assert_int_equal(eisnet_safetensors_read(p, &got, &n, &k, &v, &nm), 0);
    check_same(set, NSET, got, n);
    assert_int_equal(nm, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(k[i], MK[i]);
        assert_string_equal(v[i], MV[i]);
    }
    assert_string_equal(eisnet_safetensors_meta_get(k, v, nm, "format"), "pt");
    assert_null(eisnet_safetensors_meta_get(k, v, nm, "nope"));
    eisnet_safetensors_free_meta(k, v, nm);
    eisnet_arrays_free(got, n);
    /* metadata not wanted */
    assert_int_equal(eisnet_safetensors_read(p, &got, &n, NULL, NULL, NULL), 0);
    eisnet_arrays_free(got, n);
    /* layout: header length multiple of 8, every tensor aligned to its element size */
    void *buf;
    size_t len;
    assert_int_equal(eisnet_safetensors_encode(set, NSET, MK, MV, 3, &buf, &len), 0);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | ((unsigned char *)buf)[i];
    assert_int_equal(hl % 8, 0);
    assert_int_equal(memcmp((char *)buf + 8, "{\"__metadata__\":{", 17), 0);
    assert_int_equal(eisnet_safetensors_parse(buf, len, &got, &n, &k, &v, &nm), 0);
    check_same(set, NSET, got, n); /* alignment of each tensor is checked in test_python */
    eisnet_safetensors_free_meta(k, v, nm);
    eisnet_arrays_free(got, n);
    free(buf);
    /* no tensors, no metadata */
    assert_int_equal(eisnet_safetensors_write(p, NULL, 0, NULL, NULL, 0), 0);
    assert_int_equal(eisnet_safetensors_read(p, &got, &n, &k, &v, &nm), 0);
    assert_int_equal(n, 0);
    assert_int_equal(nm, 0);
    assert_null(k);
    eisnet_arrays_free(got, n);
    unlink(p);
    /* write errors */
    eisnet_array dup[2] = {set[1], set[1]};
    assert_int_equal(eisnet_safetensors_write(p, dup, 2, NULL, NULL, 0), -1);
    assert_non_null(strstr(eisnet_last_error(), "duplicate tensor name"));
    const char *dk[2] = {"a", "a"};
    assert_int_equal(eisnet_safetensors_write(p, set, 1, dk, dk, 2), -1);
    assert_non_null(strstr(eisnet_last_error(), "duplicate metadata key"));
    dup[0].nbytes--;
    assert_int_equal(eisnet_safetensors_write(p, dup, 1, NULL, NULL, 0), -1);
    assert_non_null(strstr(eisnet_last_error(), "does not match"));
    snprintf(dup[1].name, sizeof dup[1].name, "__metadata__");
    assert_int_equal(eisnet_safetensors_write(p, dup + 1, 1, NULL, NULL, 0), -1);
    assert_int_equal(access(p, F_OK), -1);
    free_set(set, NSET);
}

/* Builds a file from a header string and a data buffer of dlen bytes. */
static size_t craft(unsigned char *out, const char *hdr, size_t dlen)
{
    uint64_t hl = strlen(hdr);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)(hl >> (8 * i));
    memcpy(out + 8, hdr, hl);
    for (size_t i = 0; i < dlen; i++) out[8 + hl + i] = (unsigned char)i;
    return 8 + hl + dlen;
}

static void expect_error(const char *hdr, size_t dlen, const char *needle)
{
    unsigned char b[2048];
    size_t n = craft(b, hdr, dlen);
    eisnet_array *got;
    size_t cnt, nm;
    char **k, **v;
    eisnet_clear_error();
    int rc = eisnet_safetensors_parse(b, n, &got, &cnt, &k, &v, &nm);
    if (rc == 0 || !strstr(eisnet_last_error(), needle)) {
        print_error("header %s: expected an error containing '%s', got rc=%d '%s'\n", hdr, needle, rc,
                    eisnet_last_error());
        if (rc == 0) {
            eisnet_arrays_free(got, cnt);
            eisnet_safetensors_free_meta(k, v, nm);
        }
        fail();
    }
    assert_null(got);
    assert_null(k);
    assert_int_equal(cnt, 0);
    assert_null(strchr(eisnet_last_error(), '\n'));
}

static void test_malformed(void **state)
{
    (void)state;
    const char *T = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char h[1024];
    unsigned char b[1024];
    eisnet_array *got;
    size_t cnt;
    /* sanity: a good one */
    snprintf(h, sizeof h, "{%s}", T);
    size_t n = craft(b, h, 8);
    assert_int_equal(eisnet_safetensors_parse(b, n, &got, &cnt, NULL, NULL, NULL), 0);
    assert_int_equal(cnt, 1);
    eisnet_arrays_free(got, cnt);
    /* framing */
    assert_int_equal(eisnet_safetensors_parse(b, 7, &got, &cnt, NULL, NULL, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "too short"));
    memcpy(b, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    assert_int_equal(eisnet_safetensors_parse(b, n, &got, &cnt, NULL, NULL, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "runs past the end"));
    expect_error("[1,2]", 0, "not a JSON object");
    expect_error("{\"a\":", 0, "not valid JSON");
    expect_error("{} x", 0, "text after the JSON object");
    expect_error("{}", 4, "4 bytes not covered");
    snprintf(h, sizeof h, "{%s,%s}", T, T);
    expect_error(h, 8, "duplicate name 't'");
    expect_error("{\"t\":[1]}", 0, "is not an object");
    expect_error("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing dtype");
    expect_error("{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "unsupported dtype 'BF16'");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing shape");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative integers");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "non-negative integers");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dimensions");
    expect_error("{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "too large");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets must be");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets must be");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "out of range");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "out of range");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 8, "data_offsets must be");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 12, "overlaps");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole before tensor 'a'");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "4 bytes not covered");
    expect_error("{\"__metadata__\":[1]}", 0, "__metadata__ is not an object");
    expect_error("{\"__metadata__\":{\"k\":1}}", 0, "value 'k' is not a string");
    expect_error("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate name");
    expect_error("{\"line\\nbreak\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", 0, "'line?break'");
    char longname[300];
    memset(longname, 'n', 200);
    longname[200] = 0;
    snprintf(h, sizeof h, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", longname);
    expect_error(h, 1, "name too long");
    /* accepted: spaces after the object, zero-size tensors anywhere, unknown fields ignored */
    n = craft(b, "{\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"x\":1}}   ",
              2);
    assert_int_equal(eisnet_safetensors_parse(b, n, &got, &cnt, NULL, NULL, NULL), 0);
    assert_int_equal(cnt, 2);
    assert_string_equal(got[1].name, "a");
    assert_int_equal(((unsigned char *)got[1].data)[1], 1);
    eisnet_arrays_free(got, cnt);
    /* files */
    assert_int_equal(eisnet_safetensors_read(test_path("missing"), &got, &cnt, NULL, NULL, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "cannot open"));
}

static uint64_t rs = 987654321;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void test_fuzz(void **state)
{
    (void)state;
    eisnet_array set[NSET];
    make_set(set);
    void *good;
    size_t len;
    assert_int_equal(eisnet_safetensors_encode(set, NSET, MK, MV, 3, &good, &len), 0);
    size_t hl = ((unsigned char *)good)[0] | (size_t)((unsigned char *)good)[1] << 8;
    int ok = 0, bad = 0;
    unsigned char *b = malloc(len + 64);
    static const char cs[] = "0123456789[]{},:\" -.eE";
    for (int it = 0; it < 3000; it++) {
        memcpy(b, good, len);
        size_t n = len;
        int rounds = 1 + (int)(rnd() % 3);
        for (int r = 0; r < rounds; r++) {
            switch (rnd() % 5) {
            case 0: b[rnd() % n] ^= (unsigned char)(1 + rnd() % 255); break;
            case 1: n = rnd() % (n + 1); break;
            case 2: b[8 + rnd() % hl] = (unsigned char)cs[rnd() % (sizeof cs - 1)]; break;
            case 3: {
                size_t at = rnd() % 8;
                b[at] = (unsigned char)rnd();
                break;
            }
            default: { /* change a digit inside the header */
                size_t at = 8 + rnd() % hl;
                if (b[at] >= '0' && b[at] <= '9') b[at] = (unsigned char)('0' + rnd() % 10);
                break;
            }
            }
            if (n < 9) break;
        }
        unsigned char *c = malloc(n ? n : 1);
        memcpy(c, b, n);
        eisnet_array *got;
        size_t cnt, nm;
        char **k, **v;
        eisnet_clear_error();
        if (eisnet_safetensors_parse(c, n, &got, &cnt, &k, &v, &nm) == 0) {
            ok++;
            eisnet_arrays_free(got, cnt);
            eisnet_safetensors_free_meta(k, v, nm);
        } else {
            bad++;
            assert_true(eisnet_last_error()[0] != '\0');
            assert_null(strchr(eisnet_last_error(), '\n'));
        }
        free(c);
    }
    print_message("fuzz: %d mutated inputs accepted, %d rejected cleanly\n", ok, bad);
    assert_true(bad > 1000);
    free(b);
    free(good);
    free_set(set, NSET);
}

static int run_py(const char *script, const char *arg)
{
    const char *sp = test_path("check.py");
    FILE *fp = fopen(sp, "w");
    fputs(script, fp);
    fclose(fp);
    char cmd[1500];
    snprintf(cmd, sizeof cmd, PY " '%s' '%s' '%s'", sp, test_dir, arg);
    int rc = system(cmd);
    unlink(sp);
    return rc;
}

static void test_python(void **state)
{
    (void)state;
    if (system(PY " -c 'import json, struct' >/dev/null 2>&1") != 0) {
        print_message("SKIP: %s not available\n", PY);
        skip();
    }
    int numpy = system(PY " -c 'import numpy' >/dev/null 2>&1") == 0;
    int torch = numpy && system(PY " -c 'import torch' >/dev/null 2>&1") == 0;
    if (!numpy) print_message("SKIP (part): numpy not available, checking the layout only\n");
    if (numpy && !torch) print_message("SKIP (part): torch not available\n");
    eisnet_array set[NSET];
    make_set(set);
    assert_int_equal(eisnet_safetensors_write(test_path("ours.safetensors"), set, NSET, MK, MV, 3), 0);
    const char *script =
        "import sys, json, struct\n"
        "d, mode = sys.argv[1], sys.argv[2]\n"
        "raw = open(d + '/ours.safetensors', 'rb').read()\n"
        "(n,) = struct.unpack('<Q', raw[:8])\n"
        "hdr = json.loads(raw[8:8 + n])\n"
        "buf = raw[8 + n:]\n"
        "meta = hdr.pop('__metadata__')\n"
        "assert meta == {'format': 'pt', 'config': '{\"hidden_dim\": 512, \"lr\": 0.001}', 'weird \"key\"\\n': 'tab\\there'}, meta\n"
        "sizes = {'F32': 4, 'F64': 8, 'I32': 4, 'I64': 8, 'U8': 1, 'I16': 2, 'U16': 2}\n"
        "spans = sorted(tuple(v['data_offsets']) for v in hdr.values())\n"
        "pos = 0\n"
        "for b, e in spans:\n"
        "    assert b == pos, spans\n"
        "    pos = e\n"
        "assert pos == len(buf)\n"
        "fmt = {'F32': 'f', 'F64': 'd', 'I32': 'i', 'I64': 'q', 'U8': 'B', 'I16': 'h', 'U16': 'H'}\n"
        "def expect(dt, count):\n"
        "    out = []\n"
        "    for i in range(count):\n"
        "        v = float((i * 7) % 23 - 5)\n"
        "        out.append({'F32': v + 0.5, 'F64': v / 3.0, 'I32': int(v) * 1000, 'I64': int(v) * 10000000000,\n"
        "                    'U8': int(v) + 5, 'I16': int(v) * 100, 'U16': int(v) + 40000}[dt])\n"
        "    return out\n"
        "names = ['u8.bytes', 'net.0.weight', 'net.0.bias', 'f64', 'i16', 'steps', 'empty', 'quote\"back\\\\slash']\n"
        "assert list(hdr.keys()) == names, list(hdr.keys())\n"
        "for name, t in hdr.items():\n"
        "    b, e = t['data_offsets']\n"
        "    count = 1\n"
        "    for s in t['shape']: count *= s\n"
        "    assert e - b == count * sizes[t['dtype']]\n"
        "    assert b % sizes[t['dtype']] == 0, (name, b)\n"
        "    vals = list(struct.unpack('<%d%s' % (count, fmt[t['dtype']]), buf[b:e]))\n"
        "    assert vals == expect(t['dtype'], count), name\n"
        "    if mode != 'plain':\n"
        "        import numpy as np\n"
        "        npdt = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4', 'I64': '<i8', 'U8': 'u1', 'I16': '<i2', 'U16': '<u2'}[t['dtype']]\n"
        "        a = np.frombuffer(buf[b:e], dtype=npdt).reshape(t['shape'])\n"
        "        assert a.ravel().tolist() == vals\n"
        "        if mode == 'torch' and t['dtype'] != 'U16':\n"
        "            import torch\n"
        "            tt = torch.from_numpy(a.copy())\n"
        "            assert tt.shape == tuple(t['shape']) and np.array_equal(tt.numpy(), a), name\n"
        "# a file written the way the reference implementation lays it out, for our reader\n"
        "if mode != 'plain':\n"
        "    import numpy as np\n"
        "    ts = {'b.w': np.arange(12, dtype='<f4').reshape(3, 4), 'a.idx': np.array([5, -6, 7], dtype='<i8'),\n"
        "          'c': np.array(2.5, dtype='<f8')}\n"
        "    order = sorted(ts, key=lambda k: (-ts[k].dtype.itemsize, k))\n"
        "    h, off, data = {'__metadata__': {'who': 'python'}}, 0, b''\n"
        "    for k in order:\n"
        "        by = ts[k].tobytes()\n"
        "        h[k] = {'dtype': {'<f4': 'F32', '<i8': 'I64', '<f8': 'F64'}[ts[k].dtype.str], 'shape': list(ts[k].shape),\n"
        "                'data_offsets': [off, off + len(by)]}\n"
        "        off += len(by); data += by\n"
        "    hb = json.dumps(h, separators=(',', ':')).encode()\n"
        "    hb += b' ' * ((8 - len(hb) % 8) % 8)\n"
        "    open(d + '/py.safetensors', 'wb').write(struct.pack('<Q', len(hb)) + hb + data)\n"
        "print('python checked eisnet safetensors: ok (%s)' % mode)\n";
    assert_int_equal(run_py(script, torch ? "torch" : numpy ? "numpy" : "plain"), 0);
    if (numpy) {
        eisnet_array *got;
        size_t n, nm;
        char **k, **v;
        assert_int_equal(eisnet_safetensors_read(test_path("py.safetensors"), &got, &n, &k, &v, &nm), 0);
        assert_int_equal(n, 3);
        assert_string_equal(eisnet_safetensors_meta_get(k, v, nm, "who"), "python");
        const eisnet_array *w = eisnet_arrays_find(got, n, "b.w");
        assert_non_null(w);
        assert_int_equal(w->dtype, EISNET_F32);
        assert_int_equal(w->shape[1], 4);
        assert_true(((float *)w->data)[11] == 11.0f);
        const eisnet_array *idx = eisnet_arrays_find(got, n, "a.idx");
        assert_non_null(idx);
        assert_true(((int64_t *)idx->data)[1] == -6);
        const eisnet_array *c = eisnet_arrays_find(got, n, "c");
        assert_non_null(c);
        assert_int_equal(c->ndim, 0);
        assert_true(((double *)c->data)[0] == 2.5);
        eisnet_arrays_free(got, n);
        eisnet_safetensors_free_meta(k, v, nm);
    }
    free_set(set, NSET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_python),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
