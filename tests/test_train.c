/* Training end to end on a small dataset: selection, masks, learning beyond
 * the uniform baseline, determinism, resume = uninterrupted run, stop
 * requests, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/backend.h"
#include "eisnet/train.h"



static int setup(void **state)
{
    (void)state;
    if (test_dir_make("train") != 0) return -1;
    eisnet_generate_options o;
    eisnet_generate_options_default(&o);
    o.n_ground_truths = 12;
    o.data_dir = test_path("data");
    o.quiet = 1;
    o.n_workers = 2;
    return eisnet_generate(&o);
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}

static void small(eisnet_train_options *o, const char *model)
{
    eisnet_train_options_default(o);
    o->data_dir = test_path("data");
    o->model_path = test_path(model);
    o->n_epochs = 6;
    o->batch_size = 128;
    o->samples_per_gt = 400;
    o->hidden = 64;
    o->val_fraction = 0.25;
    o->simulate = 0; /* rows of the dataset */
    o->threads = 2;
    o->quiet = 1;
}

static void test_select_smallest(void **state)
{
    (void)state;
    enum { N = 5001 };
    double v[N];
    uint32_t out[100];
    for (int i = 0; i < N; i++) v[i] = (double)((i * 7919) % 1000); /* many ties */
    assert_int_equal(eisnet_select_smallest(v, N, 100, out), 0);
    for (int k = 1; k < 100; k++) {
        assert_true(v[out[k - 1]] <= v[out[k]]);
        if (v[out[k - 1]] == v[out[k]]) assert_true(out[k - 1] < out[k]);
    }
    int below = 0;
    for (int i = 0; i < N; i++) below += v[i] < v[out[99]];
    assert_true(below <= 100);
    assert_true(v[out[0]] == 0.0);
    assert_int_equal(eisnet_select_smallest(v, N, N + 1, out), -1);
}

static void test_learns(void **state)
{
    (void)state;
    eisnet_train_options o;
    small(&o, "m1.safetensors");
    eisnet_train_result r;
    assert_int_equal(eisnet_train(&o, &r), 0);
    assert_int_equal(r.n_history, 6);
    assert_int_equal(r.n_val_gt, 3);
    assert_int_equal(r.n_train_rows, 9 * 400);
    /* the loss goes down and held-out accuracy beats 1/12 clearly */
    print_message("held-out top-1 %.3f top-3 %.3f (uniform %.3f %.3f), KL %.3f\n", r.top1, r.top3, r.uniform_top1,
                  r.uniform_top3, r.mean_kl);
    assert_true(r.history[5].train_loss < r.history[0].train_loss);
    assert_true(r.top1 > 2 * r.uniform_top1);
    assert_true(r.top3 > r.uniform_top3 * 1.3);
    assert_true(r.mean_kl > 0 && r.mean_kl < 3);
    assert_true(access(test_path("m1.safetensors"), F_OK) == 0);
    assert_true(access(test_path("m1.npz"), F_OK) == 0);
    assert_true(access(test_path("m1.last.safetensors"), F_OK) == 0);
    assert_true(access(test_path("m1.history.csv"), F_OK) == 0);
    /* the checkpoint alone rebuilds the predictor */
    eisnet_predictor p, q;
    assert_int_equal(eisnet_predictor_load(&p, test_path("m1.safetensors")), 0);
    assert_int_equal(eisnet_predictor_load(&q, test_path("m1.npz")), 0);
    assert_int_equal(p.grid.n_params, 5);
    assert_int_equal(p.n_features, 100);
    assert_int_equal(p.epoch, r.best_epoch);
    assert_memory_equal(eisnet_model_params(p.model), eisnet_model_params(q.model),
                        sizeof(float) * eisnet_model_n_params(p.model));
    assert_memory_equal(p.feat_mean, q.feat_mean, sizeof(float) * 100);
    eisnet_predictor_free(&p);
    eisnet_predictor_free(&q);
    eisnet_train_result_free(&r);
}

static void assert_same_file(const char *a, const char *b)
{
    char *x, *y;
    size_t nx, ny;
    assert_int_equal(eisnet_read_file(a, 1 << 28, &x, &nx), 0);
    assert_int_equal(eisnet_read_file(b, 1 << 28, &y, &ny), 0);
    if (nx != ny || memcmp(x, y, nx) != 0) {
        print_error("%s and %s differ\n", a, b);
        fail();
    }
    free(x);
    free(y);
}

static void test_deterministic_and_resume(void **state)
{
    (void)state;
    eisnet_train_options o;
    eisnet_train_result r;
    small(&o, "a.safetensors");
    o.n_epochs = 4;
    assert_int_equal(eisnet_train(&o, &r), 0);
    eisnet_train_result_free(&r);
    small(&o, "b.safetensors");
    o.n_epochs = 4;
    assert_int_equal(eisnet_train(&o, &r), 0);
    eisnet_train_result_free(&r);
    assert_same_file(test_path("a.last.safetensors"), test_path("b.last.safetensors"));
    /* two epochs, then resume to four: the same weights as four in one go */
    small(&o, "c.safetensors");
    o.n_epochs = 4;
    o.max_epochs_this_run = 2;
    assert_int_equal(eisnet_train(&o, &r), 0);
    assert_int_equal(r.n_history, 2);
    eisnet_train_result_free(&r);
    o.max_epochs_this_run = 0;
    o.resume = 1;
    assert_int_equal(eisnet_train(&o, &r), 0);
    assert_int_equal(r.n_history, 4);
    eisnet_train_result_free(&r);
    assert_same_file(test_path("a.last.safetensors"), test_path("c.last.safetensors"));
}

static void test_reference_mode(void **state)
{
    (void)state;
    /* --features params --sampling uniform: the reference's question; the
     * best it can do is the uniform rate */
    eisnet_train_options o;
    eisnet_train_result r;
    small(&o, "ref.safetensors");
    o.features = 0;
    o.uniform = 1;
    o.n_epochs = 3;
    assert_int_equal(eisnet_train(&o, &r), 0);
    assert_true(r.top1 < 0.16);
    assert_true(isnan(r.mean_kl));
    eisnet_predictor p;
    assert_int_equal(eisnet_predictor_load(&p, test_path("ref.safetensors")), 0);
    assert_int_equal(eisnet_predictor_n_in(&p), 10);
    eisnet_predictor_free(&p);
    eisnet_train_result_free(&r);
}

static volatile int training_done;

static void *stop_soon(void *arg)
{
    (void)arg;
    while (!training_done) { /* keep asking: the request may come before training starts */
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        eisnet_train_request_stop();
    }
    return NULL;
}

static void test_stop_request(void **state)
{
    (void)state;
    eisnet_train_options o;
    eisnet_train_result r;
    small(&o, "stop.safetensors");
    o.n_epochs = 100000;
    pthread_t th;
    training_done = 0;
    pthread_create(&th, NULL, stop_soon, NULL);
    int rc = eisnet_train(&o, &r);
    training_done = 1;
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_true(r.interrupted);
    eisnet_predictor p;
    assert_int_equal(eisnet_predictor_load(&p, test_path("stop.last.safetensors")), 0);
    eisnet_predictor_free(&p);
    eisnet_train_result_free(&r);
}

static void expect_fail(eisnet_train_options *o, const char *fragment)
{
    eisnet_train_result r;
    assert_int_equal(eisnet_train(o, &r), -1);
    if (!strstr(eisnet_last_error(), fragment)) {
        print_error("error '%s' lacks '%s'\n", eisnet_last_error(), fragment);
        fail();
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    eisnet_train_options o;
    small(&o, "bad.safetensors");
    o.batch_size = 0;
    expect_fail(&o, "--batch_size");
    small(&o, "bad.safetensors");
    o.samples_per_gt = 300000;
    expect_fail(&o, "more than the 248832");
    small(&o, "bad.safetensors");
    o.known = 5;
    expect_fail(&o, "--known");
    small(&o, "bad.safetensors");
    o.data_dir = test_path("nothing_here");
    expect_fail(&o, "run `eisnet generate");
    small(&o, "bad.safetensors");
    o.expect_n_gt = 100;
    expect_fail(&o, "has 12 ground truths, not 100");

    /* a corrupt dataset: NaN in resnorm, then a truncated file */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", test_path("data"), test_path("broken"));
    assert_int_equal(system(cmd), 0);
    FILE *fp = fopen(test_path("broken/resnorm.npy"), "r+b");
    assert_non_null(fp);
    double nan = NAN;
    fseek(fp, 128 + 8 * 1000, SEEK_SET);
    fwrite(&nan, 8, 1, fp);
    fclose(fp);
    small(&o, "bad.safetensors");
    o.data_dir = test_path("broken");
    expect_fail(&o, "NaN");
    assert_int_equal(truncate(test_path("broken/resnorm.npy"), 1000000), 0);
    expect_fail(&o, "truncated");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_smallest), cmocka_unit_test(test_learns),
        cmocka_unit_test(test_deterministic_and_resume), cmocka_unit_test(test_reference_mode),
        cmocka_unit_test(test_stop_request), cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
