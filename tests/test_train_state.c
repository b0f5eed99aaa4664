/* eisnet/train_state.h: the optimizer state, run state and history written
 * and read back (the tensors exactly, the history's numbers to the 15
 * significant digits its JSON keeps; infinities and missing validation
 * values included),
 * the optional second metadata entry, and the refusals: another model's
 * size, a missing file, a corrupt counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/array.h"
#include "eisnet/error.h"
#include "eisnet/safetensors.h"
#include "eisnet/train_state.h"
#include "test_tmpdir.h"

static int setup(void **state)
{
    (void)state;
    return test_dir_make("train_state");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}

enum { N = 37 };

/* Equal to 15 significant digits. */
static int near(double a, double b) { return fabs(a - b) <= 1e-15 * fmax(fabs(a), fabs(b)); }

static void fill(eisnet_adamw *opt, eisnet_train_run_state *rs, eisnet_epoch_record h[3])
{
    assert_int_equal(eisnet_adamw_init(opt, N, NULL), 0);
    for (int i = 0; i < N; i++) {
        opt->m[i] = (float)(i * 0.25 - 3);
        opt->v[i] = (float)(i * i) * 1e-6f;
    }
    opt->step = 1234;
    memset(rs, 0, sizeof *rs);
    rs->epoch = 3;
    rs->lr = 1e-4f;
    rs->best_val = 0.75;
    rs->best_epoch = 2;
    eisnet_plateau_init(&rs->plateau);
    rs->plateau.best = 0.75;
    rs->plateau.num_bad_epochs = 1;
    rs->plateau.cooldown_counter = 0;
    rs->generation = 8;
    snprintf(rs->pair, sizeof rs->pair, "last");
    for (int e = 0; e < 3; e++) {
        eisnet_epoch_record r = {e + 1, 2.0 - e * 0.5, 1.5 - e * 0.25, 1.0 - e * 0.1, 0.9 - e * 0.1, 0.2 + e * 0.1,
                                 0.5 + e * 0.1, 1e-3, 1000.0 * (e + 1), 12.5};
        h[e] = r;
    }
    h[0].val_loss = h[0].val_ce = h[0].val_top1 = h[0].val_top3 = NAN; /* an epoch without validation */
}

static void test_round_trip(void **state)
{
    (void)state;
    eisnet_adamw opt, back;
    eisnet_train_run_state rs, rb;
    eisnet_epoch_record h[3];
    fill(&opt, &rs, h);
    const char *p = test_path("a.state.safetensors");
    assert_int_equal(eisnet_train_state_save(p, &opt, &rs, h, 3, NULL, NULL), 0);
    assert_int_equal(eisnet_adamw_init(&back, N, NULL), 0);
    memset(&rb, 0, sizeof rb);
    eisnet_epoch_record *hb = NULL;
    int nh = 0;
    assert_int_equal(eisnet_train_state_load(p, &back, &rb, &hb, &nh, NULL, NULL), 0);
    assert_memory_equal(back.m, opt.m, N * sizeof(float));
    assert_memory_equal(back.v, opt.v, N * sizeof(float));
    assert_true(back.step == 1234);
    assert_int_equal(rb.epoch, 3);
    assert_true(rb.lr == 1e-4f);
    assert_true(rb.best_val == 0.75);
    assert_int_equal(rb.best_epoch, 2);
    assert_true(rb.plateau.best == 0.75);
    assert_int_equal(rb.plateau.num_bad_epochs, 1);
    assert_true(rb.generation == 8);
    assert_string_equal(rb.pair, "last");
    assert_int_equal(nh, 3);
    for (int e = 0; e < 3; e++) {
        assert_int_equal(hb[e].epoch, h[e].epoch);
        assert_true(near(hb[e].train_loss, h[e].train_loss));
        assert_true(near(hb[e].lr, h[e].lr));
        assert_true(near(hb[e].samples_per_s, h[e].samples_per_s));
        assert_true(near(hb[e].seconds, h[e].seconds));
        if (e == 0) {
            assert_true(isnan(hb[e].val_loss) && isnan(hb[e].val_top3));
        } else {
            assert_true(near(hb[e].val_loss, h[e].val_loss));
            assert_true(near(hb[e].val_top1, h[e].val_top1));
        }
    }
    free(hb);
    /* no best yet: infinity survives the JSON */
    rs.best_val = INFINITY;
    rs.plateau.best = INFINITY;
    assert_int_equal(eisnet_train_state_save(p, &opt, &rs, h, 0, NULL, NULL), 0);
    assert_int_equal(eisnet_train_state_load(p, &back, &rb, &hb, &nh, NULL, NULL), 0);
    assert_true(isinf(rb.best_val) && rb.best_val > 0);
    assert_true(isinf(rb.plateau.best));
    assert_int_equal(nh, 0);
    free(hb);
    eisnet_adamw_free(&opt);
    eisnet_adamw_free(&back);
}

static void test_extra_entry(void **state)
{
    (void)state;
    eisnet_adamw opt;
    eisnet_train_run_state rs;
    eisnet_epoch_record h[3];
    fill(&opt, &rs, h);
    const char *p = test_path("b.state.safetensors");
    assert_int_equal(eisnet_train_state_save(p, &opt, &rs, h, 3, "extra_key", "{\"updates\":5}"), 0);
    eisnet_epoch_record *hb = NULL;
    int nh = 0;
    char *extra = NULL;
    assert_int_equal(eisnet_train_state_load(p, &opt, &rs, &hb, &nh, "extra_key", &extra), 0);
    assert_non_null(extra);
    assert_string_equal(extra, "{\"updates\":5}");
    free(extra);
    free(hb);
    /* absent: NULL, not an error */
    assert_int_equal(eisnet_train_state_load(p, &opt, &rs, &hb, &nh, "other_key", &extra), 0);
    assert_null(extra);
    free(hb);
    eisnet_adamw_free(&opt);
}

static void test_refusals(void **state)
{
    (void)state;
    eisnet_adamw opt, other;
    eisnet_train_run_state rs;
    eisnet_epoch_record h[3];
    fill(&opt, &rs, h);
    const char *p = test_path("c.state.safetensors");
    assert_int_equal(eisnet_train_state_save(p, &opt, &rs, h, 3, NULL, NULL), 0);
    eisnet_epoch_record *hb = NULL;
    int nh = 0;
    /* a model of another size */
    assert_int_equal(eisnet_adamw_init(&other, N + 1, NULL), 0);
    assert_int_equal(eisnet_train_state_load(p, &other, &rs, &hb, &nh, NULL, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "does not match the model"));
    eisnet_adamw_free(&other);
    /* no file */
    assert_int_equal(eisnet_train_state_load(test_path("none.safetensors"), &opt, &rs, &hb, &nh, NULL, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "cannot resume: "));
    /* a negative epoch in the metadata */
    eisnet_array a[2];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 2; i++) {
        snprintf(a[i].name, sizeof a[i].name, i ? "adamw.v" : "adamw.m");
        a[i].dtype = EISNET_F32;
        a[i].ndim = 1;
        a[i].shape[0] = N;
        a[i].data = i ? opt.v : opt.m;
        a[i].nbytes = N * sizeof(float);
    }
    const char *keys[1] = {"eisnet_train_state"};
    const char *vals[1] = {"{\"epoch\":-4,\"step\":1,\"lr\":0.001,\"best_val\":1,\"best_epoch\":1,\"plateau_best\":1,"
                           "\"plateau_bad\":0,\"plateau_cooldown\":0,\"history\":[]}"};
    assert_int_equal(eisnet_safetensors_write(p, a, 2, keys, vals, 1), 0);
    assert_int_equal(eisnet_train_state_load(p, &opt, &rs, &hb, &nh, NULL, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "corrupt"));
    eisnet_adamw_free(&opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_extra_entry),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
