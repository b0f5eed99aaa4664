/* Optimizer tests: AdamW against the torch formulas evaluated in double,
 * clip_grad_norm, ReduceLROnPlateau (the torch fixtures in test_torch_parity
 * check all three against PyTorch itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/optim.h"

static void test_adamw_matches_formula(void **state)
{
    (void)state;
    const size_t n = 100003; /* odd, above the parallel threshold */
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    double *pd = malloc(n * sizeof *pd), *md = calloc(n, sizeof *md), *vd = calloc(n, sizeof *vd);
    for (size_t i = 0; i < n; i++) pd[i] = p[i] = (float)sin((double)i);
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, n, NULL), 0);
    assert_true(opt.cfg.lr == 1e-3f && opt.cfg.beta1 == 0.9f && opt.cfg.beta2 == 0.999f &&
                opt.cfg.eps == 1e-8f && opt.cfg.weight_decay == 0.01f);
    assert_ptr_equal(opt.v, opt.m + n); /* one allocation */
    for (int s = 1; s <= 5; s++) {
        if (s == 4) opt.cfg.lr = 1e-4f; /* a scheduler may change lr */
        for (size_t i = 0; i < n; i++) g[i] = (float)(cos((double)i * s) * (i % 7 == 0 ? 1e-6 : 1.0));
        eisnet_adamw_step(&opt, p, g);
        double lr = opt.cfg.lr, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
        for (size_t i = 0; i < n; i++) {
            pd[i] *= 1.0 - lr * wd;
            md[i] = b1 * md[i] + (1 - b1) * g[i];
            vd[i] = b2 * vd[i] + (1 - b2) * (double)g[i] * g[i];
            double denom = sqrt(vd[i]) / sqrt(1 - pow(b2, s)) + eps;
            pd[i] -= lr / (1 - pow(b1, s)) * md[i] / denom;
        }
    }
    assert_int_equal(opt.step, 5);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(p[i] - pd[i]));
    print_message("  AdamW 5 steps: max |float - double| %.3g\n", worst);
    assert_true(worst < 1e-6);
    eisnet_adamw_free(&opt);
    eisnet_adamw_free(&opt); /* idempotent */
    free(p); free(g); free(pd); free(md); free(vd);
}

static void test_adamw_zero_grad_is_pure_decay(void **state)
{
    (void)state;
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0};
    eisnet_adamw opt;
    eisnet_adamw_init(&opt, 3, NULL);
    eisnet_adamw_step(&opt, p, g);
    assert_true(fabsf(p[0] - 1.0f * (1 - 1e-5f)) < 1e-7f);
    assert_true(fabsf(p[1] + 2.0f * (1 - 1e-5f)) < 1e-7f);
    eisnet_adamw_free(&opt);
}

static void test_clip_grad_norm(void **state)
{
    (void)state;
    float g[4] = {3.0f, 4.0f, 0.0f, 0.0f};
    float norm = eisnet_clip_grad_norm(g, 4, 1.0f);
    assert_true(fabsf(norm - 5.0f) < 1e-6f);
    assert_true(fabsf(g[0] - 3.0f / (5.0f + 1e-6f)) < 1e-7f);
    assert_true(fabsf(g[1] - 4.0f / (5.0f + 1e-6f)) < 1e-7f);
    /* below max_norm: untouched */
    float h[2] = {0.3f, 0.4f};
    norm = eisnet_clip_grad_norm(h, 2, 1.0f);
    assert_true(fabsf(norm - 0.5f) < 1e-7f);
    assert_true(h[0] == 0.3f && h[1] == 0.4f);
    /* large array, parallel path */
    const size_t n = 200001;
    float *big = malloc(n * sizeof *big);
    for (size_t i = 0; i < n; i++) big[i] = 0.01f;
    norm = eisnet_clip_grad_norm(big, n, 1.0f);
    assert_true(fabsf(norm - 0.01f * sqrtf((float)n)) < 1e-4f);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)big[i] * big[i];
    assert_true(fabs(sqrt(s) - 1.0) < 1e-5);
    free(big);
}

/* begin + update over any split of the range == step_scaled, bitwise; the
 * sums of squares of the pieces add up to the norm */
static void test_adamw_ranges(void **state)
{
    (void)state;
    const size_t n = 1000;
    float *p1 = malloc(n * sizeof(float)), *p2 = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(g);
    for (size_t i = 0; i < n; i++) {
        p1[i] = p2[i] = 0.01f * (float)((i * 37) % 101) - 0.5f;
        g[i] = 0.003f * (float)((i * 53) % 89) - 0.1f;
    }
    eisnet_adamw a, b;
    assert_int_equal(eisnet_adamw_init(&a, n, NULL), 0);
    assert_int_equal(eisnet_adamw_init(&b, n, NULL), 0);
    const size_t cuts[4] = {0, 333, 334, 1000};
    for (int s = 0; s < 3; s++) {
        eisnet_adamw_step_scaled(&a, p1, g, 0.7f);
        eisnet_adamw_consts k = eisnet_adamw_begin(&b, 1.0f);
        k.grad_scale = 0.7f;
        for (int c = 2; c >= 0; c--) eisnet_adamw_update(&b, &k, p2, g, cuts[c], cuts[c + 1]);
        assert_int_equal(a.step, b.step);
        assert_memory_equal(p1, p2, n * sizeof(float));
        assert_memory_equal(a.m, b.m, 2 * n * sizeof(float));
    }
    double ss = eisnet_grad_sumsq(g, 0, 400) + eisnet_grad_sumsq(g, 400, n);
    assert_true(fabs(sqrt(ss) - eisnet_grad_norm(g, n)) <= 1e-6 * sqrt(ss));
    assert_true(eisnet_grad_sumsq(g, 5, 5) == 0.0);
    eisnet_adamw_free(&a);
    eisnet_adamw_free(&b);
    free(p1);
    free(p2);
    free(g);
}

static void test_plateau(void **state)
{
    (void)state;
    eisnet_plateau s;
    eisnet_plateau_init(&s);
    float lr = 1e-3f;
    /* first value sets best; 5 bad epochs are tolerated, the 6th reduces */
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 0);
    for (int i = 0; i < 5; i++) assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 0);
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 1);
    assert_true(fabsf(lr - 1e-4f) < 1e-10f);
    /* an improvement smaller than the relative threshold 1e-4 is not one */
    for (int i = 0; i < 5; i++) assert_int_equal(eisnet_plateau_step(&s, 0.99995, &lr), 0);
    assert_int_equal(eisnet_plateau_step(&s, 0.99995, &lr), 1);
    assert_true(fabsf(lr - 1e-5f) < 1e-11f);
    /* a real improvement resets the count */
    for (int i = 0; i < 5; i++) eisnet_plateau_step(&s, 2.0, &lr);
    assert_int_equal(eisnet_plateau_step(&s, 0.5, &lr), 0);
    assert_true(s.num_bad_epochs == 0 && s.best == 0.5);
    /* min_lr and the 1e-8 rule: no change once lr*factor is within 1e-8 */
    eisnet_plateau_init(&s);
    s.min_lr = 5e-4f;
    s.patience = 0;
    lr = 1e-3f;
    eisnet_plateau_step(&s, 1.0, &lr);
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 1);
    assert_true(lr == 5e-4f);
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 0);
    /* cooldown: bad epochs during cooldown do not count */
    eisnet_plateau_init(&s);
    s.patience = 1;
    s.cooldown = 2;
    lr = 1.0f;
    eisnet_plateau_step(&s, 1.0, &lr);
    eisnet_plateau_step(&s, 1.0, &lr);
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 1); /* lr 0.1, cooldown 2 */
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 0);
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 0);
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 0);
    assert_int_equal(eisnet_plateau_step(&s, 1.0, &lr), 1);
    assert_true(fabsf(lr - 0.01f) < 1e-8f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_matches_formula),
        cmocka_unit_test(test_adamw_zero_grad_is_pure_decay),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_adamw_ranges),
        cmocka_unit_test(test_plateau),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
