/* Reliability: hostile or careless inputs are refused with a clear error
 * before anything large is allocated, and never reach undefined behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/model.h"
#include "eisnet/npy.h"
#include "eisnet/optim.h"
#include "eisnet/pair.h"
#include "eisnet/predictor.h"
#include "eisnet/safetensors.h"
#include "eisnet/tmpfile.h"
#include "eisnet/train_state.h"

#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state)
{
    (void)state;
    return test_dir_make("reliab");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}

static void error_contains(const char *what)
{
    const char *e = eisnet_last_error();
    if (!strstr(e, what)) fail_msg("error '%s' does not contain '%s'", e, what);
}

/* A configuration asking for more parameters than the cap is refused before
 * any allocation (it used to try 34 GB and, on failure, read freed memory). */
static void model_too_large_is_refused(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(1 << 20, 4, 12);
    c.hidden = EISNET_MODEL_MAX_HIDDEN;
    assert_true(eisnet_model_config_n_params(&c) > EISNET_MODEL_MAX_PARAMS);
    assert_null(eisnet_model_new(&c, 1));
    error_contains("too large");
    c.hidden = 2 * EISNET_MODEL_MAX_HIDDEN;
    assert_null(eisnet_model_new(&c, 1));
    error_contains("at most");
}

/* The parameter count computed without allocating equals the real one. */
static void model_param_count_matches(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(37, 3, 9);
    c.hidden = 20;
    eisnet_model *m = eisnet_model_new(&c, 1);
    assert_non_null(m);
    assert_int_equal(eisnet_model_n_params(m), eisnet_model_config_n_params(&c));
    eisnet_model_free(m);
}

/* A checkpoint whose configuration claims a wider network than its tensors
 * hold is refused by comparing sizes, before the network is built. */
static void checkpoint_config_checked_against_tensors(void **state)
{
    (void)state;
    eisnet_predictor p;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    assert_int_equal(eisnet_predictor_init(&p, &go, 1, 16, 3, 7), 0);
    const char *path = test_path("small.safetensors");
    assert_int_equal(eisnet_predictor_save(&p, path), 0);
    eisnet_predictor_free(&p);

    eisnet_array *a;
    size_t n, nm;
    char **mk, **mv;
    assert_int_equal(eisnet_safetensors_read(path, &a, &n, &mk, &mv, &nm), 0);
    const char *cfg = eisnet_safetensors_meta_get(mk, mv, nm, "eisnet_config");
    assert_non_null(cfg);
    const char *h = strstr(cfg, "\"hidden\":16");
    assert_non_null(h);
    char *big = malloc(strlen(cfg) + 8);
    memcpy(big, cfg, (size_t)(h - cfg));
    sprintf(big + (h - cfg), "\"hidden\":8192%s", h + strlen("\"hidden\":16"));
    const char *keys[1] = {"eisnet_config"}, *vals[1] = {big};
    const char *bad = test_path("claims_big.safetensors");
    assert_int_equal(eisnet_safetensors_write(bad, a, n, keys, vals, 1), 0);
    free(big);
    eisnet_arrays_free(a, n);
    eisnet_safetensors_free_meta(mk, mv, nm);

    assert_int_not_equal(eisnet_predictor_load(&p, bad), 0);
    error_contains("does not match the tensors");
    assert_int_equal(eisnet_predictor_load(&p, path), 0);
    eisnet_predictor_free(&p);
}

/* Devices and directories are refused before reading: /dev/zero used to be
 * read until memory ran out, a directory gave "cannot read" with no reason. */
static void non_regular_files_refused(void **state)
{
    (void)state;
    eisnet_predictor p;
    assert_int_not_equal(eisnet_predictor_load(&p, "/dev/zero"), 0);
    error_contains("not a regular file");
    char *d;
    size_t n;
    assert_int_not_equal(eisnet_read_file("/tmp", 1 << 20, &d, &n), 0);
    error_contains("Is a directory");
}

/* A state file with counters far outside any int range is corrupt (the
 * conversion used to be undefined behaviour and resumed at epoch -2^31). */
static void state_with_huge_counters_refused(void **state)
{
    (void)state;
    eisnet_adamw opt;
    eisnet_adamw_config ac = eisnet_adamw_config_default();
    assert_int_equal(eisnet_adamw_init(&opt, 4, &ac), 0);
    float z[4] = {0};
    eisnet_array a[2];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 2; i++) {
        snprintf(a[i].name, sizeof a[i].name, i ? "adamw.v" : "adamw.m");
        a[i].dtype = EISNET_F32;
        a[i].ndim = 1;
        a[i].shape[0] = 4;
        a[i].data = z;
        a[i].nbytes = sizeof z;
    }
    const char *texts[3] = {
        "{\"epoch\":3,\"step\":1e300,\"lr\":0.001,\"best_val\":1,\"best_epoch\":1,\"plateau_best\":1,"
        "\"plateau_bad\":0,\"plateau_cooldown\":0,\"history\":[]}",
        "{\"epoch\":1e300,\"step\":10,\"lr\":0.001,\"best_val\":1,\"best_epoch\":1,\"plateau_best\":1,"
        "\"plateau_bad\":0,\"plateau_cooldown\":0,\"history\":[]}",
        "{\"epoch\":3,\"step\":10,\"lr\":0.001,\"best_val\":1,\"best_epoch\":1,\"plateau_best\":1,"
        "\"plateau_bad\":0,\"plateau_cooldown\":0,\"history\":[[1e300,1,1,1,1,1,1,1,1,1]]}"};
    for (int t = 0; t < 3; t++) {
        const char *keys[1] = {"eisnet_train_state"}, *vals[1] = {texts[t]};
        const char *path = test_path("bad.state.safetensors");
        assert_int_equal(eisnet_safetensors_write(path, a, 2, keys, vals, 1), 0);
        eisnet_train_run_state rs;
        memset(&rs, 0, sizeof rs);
        eisnet_epoch_record *h = NULL;
        int nh = 0;
        int rc = eisnet_train_state_load(path, &opt, &rs, &h, &nh, NULL, NULL);
        if (t < 2) {
            assert_int_not_equal(rc, 0);
            error_contains("corrupt");
        } else {
            /* a bad history row is dropped to -1, the state itself loads */
            assert_int_equal(rc, 0);
            assert_int_equal(nh, 1);
            assert_int_equal(h[0].epoch, -1);
            assert_int_equal(rs.epoch, 3);
        }
        free(h);
    }
    eisnet_adamw_free(&opt);
}

/* A symlink planted where the old predictable temporary name would be is
 * neither followed nor overwritten; nothing temporary is left behind. */
static void atomic_write_ignores_planted_symlink(void **state)
{
    (void)state;
    const char *victim = test_path("victim.txt"), *target = test_path("out.json");
    FILE *fp = fopen(victim, "w");
    fputs("precious", fp);
    fclose(fp);
    char planted[1200];
    snprintf(planted, sizeof planted, "%s.tmp.%ld", target, (long)getpid());
    assert_int_equal(symlink(victim, planted), 0);
    assert_int_equal(eisnet_write_file_atomic(target, "{}", 2), 0);
    char *d;
    size_t n;
    assert_int_equal(eisnet_read_file(victim, 100, &d, &n), 0);
    assert_string_equal(d, "precious");
    free(d);
    assert_int_equal(eisnet_read_file(target, 100, &d, &n), 0);
    assert_string_equal(d, "{}");
    free(d);
    unlink(planted);
    /* exactly victim.txt and out.json remain among the test's files */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | grep -c 'tmp') -eq 0", test_dir);
    assert_int_equal(system(cmd), 0);
}

/* Temporary files of dead processes are recognised by name and removed;
 * those of a live process (this one) and unrelated files are kept. */
static void stale_temporaries_removed(void **state)
{
    (void)state;
    assert_int_equal(eisnet_ensure_dir(test_path("stale")), 0);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char names[5][200];
    snprintf(names[0], 200, "stale/.model.safetensors.tmp-%ld-abcdef", (long)dead);
    snprintf(names[1], 200, "stale/resnorm.npy.tmp.%ld", (long)dead);
    snprintf(names[2], 200, "stale/.model.safetensors.tmp-%ld-abcdef", (long)getpid());
    snprintf(names[3], 200, "stale/notes.tmp.%ld", (long)dead);
    snprintf(names[4], 200, "stale/.eisnet-staging-%ld-qwerty", (long)dead);
    for (int i = 0; i < 4; i++) {
        FILE *fp = fopen(test_path(names[i]), "w");
        assert_non_null(fp);
        fclose(fp);
    }
    assert_int_equal(eisnet_ensure_dir(test_path(names[4])), 0);
    char inner[260];
    snprintf(inner, sizeof inner, "%s/resnorm.npy", names[4]);
    FILE *fp = fopen(test_path(inner), "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(eisnet_tmp_remove_stale(test_path("stale")), 3);
    assert_int_not_equal(access(test_path(names[0]), F_OK), 0);
    assert_int_not_equal(access(test_path(names[1]), F_OK), 0);
    assert_int_equal(access(test_path(names[2]), F_OK), 0);
    assert_int_equal(access(test_path(names[3]), F_OK), 0);
    assert_int_not_equal(access(test_path(names[4]), F_OK), 0);
}

static int64_t load_state_gen(const char *path, eisnet_adamw *opt, eisnet_train_run_state *rs)
{
    eisnet_epoch_record *h = NULL;
    int nh = 0;
    memset(rs, 0, sizeof *rs);
    if (eisnet_train_state_load(path, opt, rs, &h, &nh, NULL, NULL) != 0) return -1;
    free(h);
    return rs->generation;
}

/* Weights and optimizer state: a save interrupted between its steps is
 * completed or discarded on the next load, and a pair that was not saved
 * together is refused (a killed train once resumed epoch-130 weights with
 * epoch-129 moments silently). */
static void pair_save_recover_check(void **state)
{
    (void)state;
    eisnet_predictor p, q;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    assert_int_equal(eisnet_predictor_init(&p, &go, 1, 8, 3, 7), 0);
    eisnet_adamw opt;
    eisnet_adamw_config ac = eisnet_adamw_config_default();
    assert_int_equal(eisnet_adamw_init(&opt, eisnet_model_n_params(p.model), &ac), 0);
    eisnet_train_run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.lr = 1e-3f;
    const char *w = test_path("pair.safetensors"), *st = test_path("pair.state.safetensors");
    char next[1200];
    snprintf(next, sizeof next, "%s.next", st);
    assert_int_equal(eisnet_pair_save(&p, w, st, &opt, &rs, NULL, 0, NULL, NULL, 1), 0);
    assert_int_equal(eisnet_pair_save(&p, w, st, &opt, &rs, NULL, 0, NULL, NULL, 2), 0);
    eisnet_train_run_state got;
    assert_int_equal(load_state_gen(st, &opt, &got), 2);
    assert_string_equal(got.pair, "model");

    /* killed after the weights were renamed: STATE.next holds their generation */
    rs.generation = p.generation = 3;
    assert_int_equal(eisnet_train_state_save(next, &opt, &rs, NULL, 0, NULL, NULL), 0);
    assert_int_equal(eisnet_predictor_save(&p, w), 0);
    assert_int_equal(eisnet_predictor_load(&q, w), 0);
    assert_int_equal(q.generation, 3);
    assert_int_equal(load_state_gen(st, &opt, &got), 2);
    assert_int_not_equal(eisnet_pair_check(w, q.generation, st, &got), 0);
    error_contains("were not saved together");
    assert_int_equal(eisnet_pair_recover(w, st, q.generation), 0);
    assert_int_equal(load_state_gen(st, &opt, &got), 3);
    assert_int_equal(eisnet_pair_check(w, q.generation, st, &got), 0);
    assert_int_not_equal(access(next, F_OK), 0);

    /* killed before the weights were renamed: STATE.next is discarded */
    rs.generation = 4;
    assert_int_equal(eisnet_train_state_save(next, &opt, &rs, NULL, 0, NULL, NULL), 0);
    assert_int_equal(eisnet_pair_recover(w, st, q.generation), 0);
    assert_int_not_equal(access(next, F_OK), 0);
    assert_int_equal(load_state_gen(st, &opt, &got), 3);
    eisnet_predictor_free(&q);

    /* a state saved for other weights (train's state beside the best model) is not checked */
    snprintf(got.pair, sizeof got.pair, "last");
    got.generation = 99;
    assert_int_equal(eisnet_pair_check(w, 3, st, &got), 0);
    eisnet_adamw_free(&opt);
    eisnet_predictor_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_too_large_is_refused),
        cmocka_unit_test(model_param_count_matches),
        cmocka_unit_test(checkpoint_config_checked_against_tensors),
        cmocka_unit_test(non_regular_files_refused),
        cmocka_unit_test(state_with_huge_counters_refused),
        cmocka_unit_test(atomic_write_ignores_planted_symlink),
        cmocka_unit_test(stale_temporaries_removed),
        cmocka_unit_test(pair_save_recover_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
