/* Checkpoints: round trips, rejection of bad files, and (when PyTorch is
 * installed) loading into the same network built in PyTorch and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/npy.h"
#include "eisnet/predictor.h"
#include "eisnet/safetensors.h"

static eisnet_predictor P;
enum { B = 6 };
static float X[B * 110], probs[B * 60], res[B];


static void predict(eisnet_predictor *p, float *pr, float *rs)
{
    eisnet_workspace *ws = eisnet_workspace_new(p->model, B);
    assert_non_null(ws);
    assert_int_equal(eisnet_model_predict(p->model, ws, X, B, pr, rs), 0);
    eisnet_workspace_free(ws);
}

static int setup(void **state)
{
    (void)state;
    if (test_dir_make("ckpt") != 0) return -1;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    if (eisnet_predictor_init(&P, &go, 1, 32, 3, 7) != 0) return -1;
    for (int i = 0; i < P.n_features; i++) {
        P.feat_mean[i] = 0.1f * (float)i;
        P.feat_std[i] = 1.0f + 0.01f * (float)i;
    }
    P.epoch = 3;
    uint64_t s = 12345;
    for (int i = 0; i < B * 110; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        X[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 4 - 2);
    }
    predict(&P, probs, res);
    return eisnet_predictor_save(&P, test_path("ckpt.safetensors"));
}

static int teardown(void **state)
{
    (void)state;
    eisnet_predictor_free(&P);
    return test_dir_remove();
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *files[2] = {"ckpt.safetensors", "ckpt.npz"};
    for (int f = 0; f < 2; f++) {
        eisnet_predictor q;
        assert_int_equal(eisnet_predictor_load(&q, test_path(files[f])), 0);
        assert_int_equal(q.epoch, 3);
        assert_int_equal(q.known, 3);
        assert_string_equal(q.grid.preset, "series");
        assert_int_equal(eisnet_model_n_params(q.model), eisnet_model_n_params(P.model));
        assert_memory_equal(eisnet_model_params(q.model), eisnet_model_params(P.model),
                            sizeof(float) * eisnet_model_n_params(P.model));
        assert_memory_equal(q.feat_std, P.feat_std, sizeof(float) * 100);
        assert_true(q.grid.values[59] == P.grid.values[59]);
        float pr[B * 60], rs[B];
        predict(&q, pr, rs);
        assert_memory_equal(pr, probs, sizeof pr);
        eisnet_predictor_free(&q);
    }
    /* "model" without an extension names the same pair */
    eisnet_predictor q;
    assert_int_equal(eisnet_predictor_load(&q, test_path("ckpt.safetensors")), 0);
    assert_int_equal(eisnet_predictor_save(&q, test_path("copy")), 0);
    eisnet_predictor_free(&q);
    assert_int_equal(access(test_path("copy.safetensors"), F_OK), 0);
    assert_int_equal(access(test_path("copy.npz"), F_OK), 0);
}

static void expect_bad(const char *file, const char *fragment)
{
    eisnet_predictor q;
    assert_int_equal(eisnet_predictor_load(&q, file), -1);
    if (!strstr(eisnet_last_error(), fragment)) {
        print_error("loading %s: '%s' lacks '%s'\n", file, eisnet_last_error(), fragment);
        fail();
    }
}

static void test_bad_files(void **state)
{
    (void)state;
    char *buf;
    size_t n;
    assert_int_equal(eisnet_read_file(test_path("ckpt.safetensors"), 1 << 26, &buf, &n), 0);
    /* truncated */
    assert_int_equal(eisnet_write_file_atomic(test_path("trunc.safetensors"), buf, n / 2), 0);
    expect_bad(test_path("trunc.safetensors"), "not an eisnet model");
    free(buf);
    expect_bad("tests/data/ground_truths_5gt.json", "not an eisnet model");
    expect_bad(test_path("missing.safetensors"), "not an eisnet model");

    /* right format, wrong contents: reuse the real tensors with one changed */
    eisnet_array *a;
    size_t na, nm;
    char **mk, **mv;
    assert_int_equal(eisnet_safetensors_read(test_path("ckpt.safetensors"), &a, &na, &mk, &mv, &nm), 0);
    const char *keys[1] = {mk[0]}, *vals[1] = {mv[0]};
    /* a wrong shape */
    int64_t keep = a[0].shape[0];
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].name, "encoder.0.bias") == 0) {
            a[i].shape[0] = 16;
            a[i].nbytes = 16 * 4;
            keep = i;
        }
    assert_int_equal(eisnet_safetensors_write(test_path("shape.safetensors"), a, na, keys, vals, 1), 0);
    expect_bad(test_path("shape.safetensors"), "encoder.0.bias");
    a[keep].shape[0] = 32;
    a[keep].nbytes = 32 * 4;
    /* a missing tensor */
    assert_int_equal(eisnet_safetensors_write(test_path("missing_t.safetensors"), a + 1, na - 1, keys, vals, 1), 0);
    expect_bad(test_path("missing_t.safetensors"), "is missing");
    /* no configuration */
    assert_int_equal(eisnet_safetensors_write(test_path("nocfg.safetensors"), a, na, NULL, NULL, 0), 0);
    expect_bad(test_path("nocfg.safetensors"), "no eisnet configuration");
    /* a NaN weight */
    ((float *)a[3].data)[0] = NAN;
    assert_int_equal(eisnet_safetensors_write(test_path("nan.safetensors"), a, na, keys, vals, 1), 0);
    expect_bad(test_path("nan.safetensors"), "NaN");
    /* a configuration that is not JSON */
    const char *badv[1] = {"{not json"};
    assert_int_equal(eisnet_safetensors_write(test_path("badcfg.safetensors"), a, na, keys, badv, 1), 0);
    expect_bad(test_path("badcfg.safetensors"), "not valid JSON");
    eisnet_arrays_free(a, na);
    eisnet_safetensors_free_meta(mk, mv, nm);
}

static int have_torch(void)
{
    return system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

static void test_pytorch_both_ways(void **state)
{
    (void)state;
    if (!have_torch()) {
        print_message("SKIP: PyTorch not available (/usr/bin/python3 -c 'import torch' failed); "
                      "checkpoint interchange with PyTorch not checked\n");
        skip();
    }
    int64_t sx[2] = {B, 110}, sp[3] = {B, 5, 12}, sr[1] = {B};
    assert_int_equal(eisnet_npy_write(test_path("x.npy"), EISNET_F32, 2, sx, X), 0);
    assert_int_equal(eisnet_npy_write(test_path("probs.npy"), EISNET_F32, 3, sp, probs), 0);
    assert_int_equal(eisnet_npy_write(test_path("resnorm.npy"), EISNET_F32, 1, sr, res), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/torch_checkpoint.py %s", test_dir);
    assert_int_equal(system(cmd), 0);
    eisnet_predictor q;
    assert_int_equal(eisnet_predictor_load(&q, test_path("torch_export.safetensors")), 0);
    float pr[B * 60], rs[B];
    predict(&q, pr, rs);
    eisnet_array tp, tr;
    assert_int_equal(eisnet_npy_read(test_path("torch_probs.npy"), &tp), 0);
    assert_int_equal(eisnet_npy_read(test_path("torch_resnorm.npy"), &tr), 0);
    for (int i = 0; i < B * 60; i++) assert_true(fabsf(pr[i] - ((float *)tp.data)[i]) < 2e-6f + 1e-5f * pr[i]);
    for (int i = 0; i < B; i++) assert_true(fabsf(rs[i] - ((float *)tr.data)[i]) < 2e-5f * (1 + fabsf(rs[i])));
    /* the perturbation reached the weights */
    assert_true(fabsf(pr[0] - probs[0]) > 1e-6f || fabsf(rs[0] - res[0]) > 1e-6f);
    eisnet_array_free(&tp);
    eisnet_array_free(&tr);
    eisnet_predictor_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_pytorch_both_ways),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
