/* Training by simulation: the fast series spectrum, the input layout, a short
 * run that beats the uniform baseline by far and is roughly calibrated on
 * simulations it never saw, determinism and resume, the checkpoint's new
 * configuration, training without a dataset, the grid of a dataset, bfloat16
 * products learning as well as float32 ones, bad options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/backend.h"
#include "eisnet/simulate.h"
#include "eisnet/train.h"

static int setup(void **state)
{
    (void)state;
    return test_dir_make("train_sim");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}

static void small(eisnet_train_options *o, const char *dir, const char *model)
{
    eisnet_train_options_default(o);
    o->data_dir = test_path(dir);
    o->model_path = model ? test_path(model) : NULL;
    o->n_epochs = 4;
    o->samples_per_epoch = 4000;
    o->val_samples = 1000;
    o->batch_size = 256;
    o->hidden = 32;
    o->threads = 2;
    o->quiet = 1;
}

static void test_series_spectrum_matches_circuit(void **state)
{
    (void)state;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    eisnet_grid g;
    assert_int_equal(eisnet_grid_init(&g, &go), 0);
    assert_int_equal(g.kernel, EISNET_KERNEL_SERIES_RC2);
    eisnet_rng r;
    eisnet_rng_seed(&r, 5, 1);
    double v[5], cp[EISNET_MAX_PARAMS];
    double complex a[50], b[50];
    for (int t = 0; t < 200; t++) {
        eisnet_sim_draw_truth(&g, &r, v);
        eisnet_grid_spectrum(&g, v, a);
        for (int i = 0; i < 5; i++) cp[g.circuit_index[i]] = v[i];
        eisnet_circuit_eval(g.circuit, cp, g.omega, 50, b);
        for (int k = 0; k < 50; k++) assert_true(cabs(a[k] - b[k]) <= 1e-12 * cabs(b[k]));
    }
    eisnet_grid_free(&g);
}

static void test_input_unit_scaling(void **state)
{
    (void)state;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    eisnet_predictor p;
    assert_int_equal(eisnet_predictor_init(&p, &go, 1, 16, 0, 1), 0);
    p.known_unit = 1;
    float *x = malloc(sizeof(float) * (size_t)eisnet_predictor_n_in(&p));
    float feats[100] = {0};
    /* Rsh at its lower end, Ra at its upper end, Rb in the log middle, Ca, Cb unknown */
    double v[5] = {10, 10000, sqrt(10.0 * 10000.0), 1e-6, 1e-6};
    uint8_t kn[5] = {1, 1, 1, 0, 0};
    eisnet_predictor_input(&p, v, kn, feats, x);
    assert_float_equal(x[0], 0.0f, 1e-6);
    assert_float_equal(x[1], 1.0f, 1e-6);
    assert_float_equal(x[2], 0.5f, 1e-6);
    assert_float_equal(x[3], 0.0f, 0);
    assert_float_equal(x[5], 1.0f, 0);
    assert_float_equal(x[8], 0.0f, 0);
    p.known_unit = 0; /* the reference's input: log10 of the value */
    eisnet_predictor_input(&p, v, kn, feats, x);
    assert_float_equal(x[1], 4.0f, 1e-6);
    free(x);
    eisnet_predictor_free(&p);
}

/* Fresh simulations (the simulator's own streams, not the training's), a
 * random mask each: accuracy, mean probability of the true cell, and the
 * mean top-1 probability (calibration) of the network. */
static void held_out(const char *model, int n, double *acc, double *p_true, double *conf)
{
    eisnet_predictor p;
    assert_int_equal(eisnet_predictor_load(&p, model), 0);
    const eisnet_grid *g = &p.grid;
    int P = g->n_params, G = g->n_grid;
    eisnet_workspace *ws = eisnet_workspace_new(p.model, 1);
    float *x = malloc(sizeof(float) * (size_t)eisnet_predictor_n_in(&p)), *feats = malloc(sizeof(float) * 100);
    float *probs = malloc(sizeof(float) * (size_t)P * G);
    eisnet_rng r;
    eisnet_rng_seed(&r, 987654321, 3);
    double v[5];
    int cells[5];
    double complex z[50];
    double hits = 0, pt = 0, cf = 0, cnt = 0;
    for (int i = 0; i < n; i++) {
        eisnet_simulate(g, &r, 0.01, v, cells, z);
        uint8_t kn[5], miss[5];
        int any = 0;
        while (!any) {
            for (int q = 0; q < P; q++) {
                kn[q] = (uint8_t)eisnet_rng_below(&r, 2);
                miss[q] = !kn[q];
                any |= miss[q];
            }
        }
        eisnet_predictor_spectrum_features(&p, z, feats);
        eisnet_predictor_input(&p, v, kn, feats, x);
        assert_int_equal(eisnet_model_predict_one(p.model, ws, x, miss, probs, NULL), 0);
        for (int q = 0; q < P; q++) {
            if (!miss[q]) continue;
            const float *pr = probs + q * G;
            int best = 0;
            for (int c = 1; c < G; c++)
                if (pr[c] > pr[best]) best = c;
            hits += best == cells[q];
            pt += pr[cells[q]];
            cf += pr[best];
            cnt++;
        }
    }
    *acc = hits / cnt;
    *p_true = pt / cnt;
    *conf = cf / cnt;
    free(x);
    free(feats);
    free(probs);
    eisnet_workspace_free(ws);
    eisnet_predictor_free(&p);
}

static void test_learns_and_is_calibrated(void **state)
{
    (void)state;
    eisnet_train_options o;
    small(&o, "learn", NULL);
    o.n_epochs = 6;
    o.samples_per_epoch = 20000;
    o.val_samples = 3000;
    o.hidden = 64;
    eisnet_train_result r;
    assert_int_equal(eisnet_train(&o, &r), 0);
    assert_int_equal(r.n_history, 6);
    assert_int_equal(r.n_val_rows, 3000);
    assert_true(r.history[5].train_loss < r.history[0].train_loss);
    /* the rate decays by a cosine over the last 40 %: full at first, ~0 at the end */
    assert_float_equal(r.history[0].lr, 1e-3, 1e-9);
    assert_true(r.history[5].lr < 1e-5);
    assert_true(r.top1 > 3 * r.uniform_top1);
    for (int m = 1; m <= 5; m++) assert_true(r.top1_by_missing[m] > 2 * r.uniform_top1);
    assert_true(isnan(r.top1_by_missing[0]));
    assert_true(r.sim_share > 0 && r.sim_share < 1);
    double acc, pt, conf;
    held_out(r.best_path, 1000, &acc, &pt, &conf);
    print_message("held out: top-1 %.3f (training's %.3f), p(true cell) %.3f, mean top-1 probability %.3f\n", acc,
                  r.top1, pt, conf);
    assert_true(acc > 3.0 / 12);
    assert_true(pt > 2.0 / 12);
    /* calibrated within loose bounds: confidence and accuracy agree */
    assert_true(fabs(conf - acc) < 0.08);
    /* the data directory holds the model, and no dataset was needed */
    assert_true(access(test_path("learn/model.safetensors"), F_OK) == 0);
    assert_true(access(test_path("learn/model.npz"), F_OK) == 0);
    assert_true(access(test_path("learn/model.history.csv"), F_OK) == 0);
    assert_true(access(test_path("learn/resnorm.npy"), F_OK) != 0);
    eisnet_train_result_free(&r);
}

/* The same short run with bfloat16 and float32 products: where the CPU has
 * AMX tiles the runs differ (the products round their operands) but learn
 * alike; elsewhere bf16 falls back to float32 and the runs are identical. */
static void test_bf16_learns_like_fp32(void **state)
{
    (void)state;
    const eisnet_backend_options ask = {.threads = 1, .matmul = EISNET_MATMUL_BF16};
    eisnet_backend *be = eisnet_backend_new("cpu", &ask);
    assert_non_null(be);
    const int amx = eisnet_backend_matmul(be) == EISNET_MATMUL_BF16;
    eisnet_backend_free(be);
    double val[2];
    for (int i = 0; i < 2; i++) {
        eisnet_train_options o;
        small(&o, "prec", i ? "fp32.safetensors" : "bf16.safetensors");
        o.n_epochs = 3;
        o.samples_per_epoch = 20000;
        o.val_samples = 3000;
        o.hidden = 64;
        o.matmul = i ? "fp32" : "bf16";
        eisnet_train_result r;
        assert_int_equal(eisnet_train(&o, &r), 0);
        val[i] = r.history[2].val_loss;
        assert_true(r.top1 > 3 * r.uniform_top1);
        eisnet_train_result_free(&r);
    }
    print_message("held-out loss after 60k simulations: bf16 %.4f, fp32 %.4f (%s)\n", val[0], val[1],
                  amx ? "bfloat16 on AMX tiles" : "no AMX here: both float32");
    if (amx) {
        assert_true(val[0] != val[1]);
        assert_true(fabs(val[0] - val[1]) < 0.03);
    } else {
        assert_true(val[0] == val[1]);
    }
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

/* A run of o stopped after two epochs, then resumed with n_epochs set to
 * resume_epochs: it ends after o's own total, 4 epochs (small()'s). */
static void stop_then_resume(eisnet_train_options *o, int resume_epochs)
{
    eisnet_train_result r;
    o->max_epochs_this_run = 2;
    assert_int_equal(eisnet_train(o, &r), 0);
    assert_int_equal(r.n_history, 2);
    eisnet_train_result_free(&r);
    o->max_epochs_this_run = 0;
    o->resume = 1;
    o->n_epochs = resume_epochs;
    assert_int_equal(eisnet_train(o, &r), 0);
    assert_int_equal(r.n_history, 4);
    eisnet_train_result_free(&r);
}

static void test_deterministic_and_resume(void **state)
{
    (void)state;
    eisnet_train_options o;
    eisnet_train_result r;
    small(&o, "det", "a.safetensors");
    assert_int_equal(eisnet_train(&o, &r), 0);
    eisnet_train_result_free(&r);
    small(&o, "det", "b.safetensors");
    assert_int_equal(eisnet_train(&o, &r), 0);
    eisnet_train_result_free(&r);
    assert_same_file(test_path("a.last.safetensors"), test_path("b.last.safetensors"));
    /* another seed trains on other simulations */
    small(&o, "det", "s.safetensors");
    o.seed = 43;
    assert_int_equal(eisnet_train(&o, &r), 0);
    eisnet_train_result_free(&r);
    char *x, *y;
    size_t nx, ny;
    assert_int_equal(eisnet_read_file(test_path("a.last.safetensors"), 1 << 28, &x, &nx), 0);
    assert_int_equal(eisnet_read_file(test_path("s.last.safetensors"), 1 << 28, &y, &ny), 0);
    assert_true(nx != ny || memcmp(x, y, nx) != 0);
    free(x);
    free(y);
    /* two epochs, then resume to four: the same weights as four in one go */
    small(&o, "det", "c.safetensors");
    stop_then_resume(&o, o.n_epochs);
    assert_same_file(test_path("a.last.safetensors"), test_path("c.last.safetensors"));
    /* a run whose length was a default keeps it when resumed with another
     * default (the command line's depends on the products' precision): the
     * same weights as four epochs in one go, not a longer schedule */
    small(&o, "det", "d.safetensors");
    o.n_epochs_default = 1;
    stop_then_resume(&o, 8);
    assert_same_file(test_path("a.last.safetensors"), test_path("d.last.safetensors"));
    /* a length asked for explicitly wins: two more epochs */
    o.n_epochs_default = 0;
    o.n_epochs = 6;
    assert_int_equal(eisnet_train(&o, &r), 0);
    assert_int_equal(r.n_history, 6);
    eisnet_train_result_free(&r);
    /* resuming with another sigma is refused */
    o.sigma = 0.02;
    assert_int_equal(eisnet_train(&o, &r), -1);
    assert_non_null(strstr(eisnet_last_error(), "other settings"));
}

static void test_checkpoint_config(void **state)
{
    (void)state;
    eisnet_train_options o;
    eisnet_train_result r;
    small(&o, "ck", NULL);
    o.n_epochs = 1;
    o.sigma = 0.02;
    o.dropout = 0.1;
    assert_int_equal(eisnet_train(&o, &r), 0);
    eisnet_predictor p, q, s;
    assert_int_equal(eisnet_predictor_load(&p, r.best_path), 0);
    assert_int_equal(eisnet_predictor_load(&q, test_path("ck/model.npz")), 0);
    assert_int_equal(p.known_unit, 1);
    assert_int_equal(p.known, 0);
    assert_string_equal(p.training, "simulation");
    assert_float_equal(p.sigma, 0.02, 1e-12);
    assert_float_equal(eisnet_model_get_config(p.model)->dropout1, 0.1f, 1e-7);
    assert_float_equal(eisnet_model_get_config(p.model)->dropout_head, 0.1f, 1e-7);
    assert_int_equal(eisnet_predictor_n_in(&p), 110);
    assert_int_equal(q.known_unit, 1);
    assert_float_equal(q.sigma, 0.02, 1e-12);
    assert_memory_equal(p.feat_std, q.feat_std, sizeof(float) * 100);
    /* a save of the loaded predictor loads back the same */
    assert_int_equal(eisnet_predictor_save(&p, test_path("ck/again.safetensors")), 0);
    assert_int_equal(eisnet_predictor_load(&s, test_path("ck/again.safetensors")), 0);
    assert_int_equal(s.known_unit, 1);
    assert_string_equal(s.training, "simulation");
    assert_memory_equal(eisnet_model_params(p.model), eisnet_model_params(s.model),
                        sizeof(float) * eisnet_model_n_params(p.model));
    eisnet_predictor_free(&p);
    eisnet_predictor_free(&q);
    eisnet_predictor_free(&s);
    eisnet_train_result_free(&r);
}

static void test_grid_of_a_dataset(void **state)
{
    (void)state;
    eisnet_generate_options g;
    eisnet_generate_options_default(&g);
    g.n_ground_truths = 2;
    g.grid.n_grid = 6;
    g.grid.n_freq = 20;
    g.data_dir = test_path("ds");
    g.quiet = 1;
    g.n_workers = 2;
    assert_int_equal(eisnet_generate(&g), 0);
    eisnet_train_options o;
    eisnet_train_result r;
    small(&o, "ds", NULL);
    o.n_epochs = 1;
    assert_int_equal(eisnet_train(&o, &r), 0);
    eisnet_predictor p;
    assert_int_equal(eisnet_predictor_load(&p, r.best_path), 0);
    assert_int_equal(p.grid.n_grid, 6);
    assert_int_equal(p.grid.n_freq, 20);
    assert_float_equal(r.uniform_top1, 1.0 / 6, 1e-12);
    eisnet_predictor_free(&p);
    eisnet_train_result_free(&r);
    /* an explicit grid wins */
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    go.circuit = "parallel";
    go.n_grid = 8;
    small(&o, "ds", "par.safetensors");
    o.n_epochs = 1;
    o.grid = &go;
    assert_int_equal(eisnet_train(&o, &r), 0);
    assert_int_equal(eisnet_predictor_load(&p, r.best_path), 0);
    assert_int_equal(p.grid.n_grid, 8);
    assert_string_equal(p.grid.preset, "parallel");
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

static void test_bad_options(void **state)
{
    (void)state;
    eisnet_train_options o;
    small(&o, "bad", NULL);
    o.sigma = 0;
    expect_fail(&o, "--sigma");
    small(&o, "bad", NULL);
    o.sigma = 1.5;
    expect_fail(&o, "--sigma");
    small(&o, "bad", NULL);
    o.samples_per_epoch = 0;
    expect_fail(&o, "--samples_per_epoch");
    small(&o, "bad", NULL);
    o.dropout = 1;
    expect_fail(&o, "--dropout");
    small(&o, "bad", NULL);
    o.lr_decay = 1.5;
    expect_fail(&o, "--lr_decay");
    small(&o, "bad", NULL);
    o.noise = 0.01;
    expect_fail(&o, "--sigma");
    small(&o, "bad", NULL);
    o.val_samples = -1;
    expect_fail(&o, "--val_samples");
    small(&o, "bad", NULL);
    o.weight_decay = -0.5;
    expect_fail(&o, "--weight_decay");
    small(&o, "bad", NULL);
    o.weight_decay = 1;
    expect_fail(&o, "--weight_decay");
    small(&o, "bad", NULL);
    o.dropout = -0.3;
    expect_fail(&o, "--dropout");
    small(&o, "bad", NULL);
    o.many_missing_weight = 0;
    expect_fail(&o, "--many_missing_weight");
    small(&o, "bad", NULL);
    o.many_missing_weight = 1.5;
    expect_fail(&o, "--many_missing_weight");
    small(&o, "bad", NULL);
    o.matmul = "fp16";
    expect_fail(&o, "--matmul");
    /* nothing was written for refused options */
    assert_true(access(test_path("bad/model.safetensors"), F_OK) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_spectrum_matches_circuit),
        cmocka_unit_test(test_input_unit_scaling),
        cmocka_unit_test(test_learns_and_is_calibrated),
        cmocka_unit_test(test_bf16_learns_like_fp32),
        cmocka_unit_test(test_deterministic_and_resume),
        cmocka_unit_test(test_checkpoint_config),
        cmocka_unit_test(test_grid_of_a_dataset),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
