/* Evaluation metrics on hand-made cases, and an evaluation of a network
 * whose answer is known (uniform) against a recomputation by hand. */
#define _GNU_SOURCE /* open_memstream */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/evaluate.h"
#include "eisnet/simulate.h"

static void test_kl(void **state)
{
    (void)state;
    double p[3] = {0.2, 0.3, 0.5}, u[2] = {0.5, 0.5}, one[2] = {1, 0}, other[2] = {0, 1};
    assert_true(fabs(eisnet_kl(p, p, 3)) < 1e-15);
    assert_true(fabs(eisnet_kl(one, u, 2) - log(2.0)) < 1e-15);
    /* q = 0 where p has mass: floored, not infinite */
    assert_true(fabs(eisnet_kl(one, other, 2) - log(1.0 / EISNET_KL_FLOOR)) < 1e-9);
    /* p = 0 cells contribute nothing */
    assert_true(fabs(eisnet_kl(other, u, 2) - log(2.0)) < 1e-15);
}

static void test_top_k(void **state)
{
    (void)state;
    double p[4] = {0.1, 0.5, 0.2, 0.2};
    assert_int_equal(eisnet_top_k_hit(p, 4, 1, 1), 1);
    assert_int_equal(eisnet_top_k_hit(p, 4, 2, 1), 0);
    assert_int_equal(eisnet_top_k_hit(p, 4, 2, 2), 1); /* tie with cell 3: lower index first */
    assert_int_equal(eisnet_top_k_hit(p, 4, 3, 2), 0);
    assert_int_equal(eisnet_top_k_hit(p, 4, 3, 3), 1);
    assert_int_equal(eisnet_top_k_hit(p, 4, 0, 3), 0);
    assert_int_equal(eisnet_top_k_hit(p, 4, 0, 4), 1);
    assert_int_equal(eisnet_top_k_hit(p, 4, -1, 4), 0);
    assert_int_equal(eisnet_top_k_hit(p, 4, 4, 4), 0);
}

static void test_hpd(void **state)
{
    (void)state;
    double p[4] = {0.1, 0.5, 0.2, 0.2};
    /* level 0.5: {1} already holds 0.5 */
    assert_int_equal(eisnet_hpd_covers(p, 4, 1, 0.5), 1);
    assert_int_equal(eisnet_hpd_covers(p, 4, 2, 0.5), 0);
    /* level 0.6: {1, 2} */
    assert_int_equal(eisnet_hpd_covers(p, 4, 2, 0.6), 1);
    assert_int_equal(eisnet_hpd_covers(p, 4, 3, 0.6), 0);
    /* level 0.9: {1, 2, 3} holds 0.9; cell 0 is outside */
    assert_int_equal(eisnet_hpd_covers(p, 4, 3, 0.9), 1);
    assert_int_equal(eisnet_hpd_covers(p, 4, 0, 0.9), 0);
    assert_int_equal(eisnet_hpd_covers(p, 4, 0, 0.95), 1);
}

static void test_hpd_share(void **state)
{
    (void)state;
    double p[4] = {0.1, 0.5, 0.2, 0.2};
    /* level 0.5: cell 1 alone holds it */
    assert_true(eisnet_hpd_cover_share(p, 4, 1, 0.5) == 1);
    assert_true(eisnet_hpd_cover_share(p, 4, 2, 0.5) == 0);
    /* level 0.6: cell 1, then half of cell 2 (0.1 of its 0.2) */
    assert_true(eisnet_hpd_cover_share(p, 4, 1, 0.6) == 1);
    assert_true(fabs(eisnet_hpd_cover_share(p, 4, 2, 0.6) - 0.5) < 1e-12);
    assert_true(eisnet_hpd_cover_share(p, 4, 3, 0.6) == 0);
    /* level 0.95: cells 1, 2, 3 whole and half of cell 0 */
    assert_true(fabs(eisnet_hpd_cover_share(p, 4, 0, 0.95) - 0.5) < 1e-12);
    assert_true(eisnet_hpd_cover_share(p, 4, 3, 0.95) == 1);
    /* bad truth and a cell of no mass */
    assert_true(eisnet_hpd_cover_share(p, 4, -1, 0.9) == 0);
    assert_true(eisnet_hpd_cover_share(p, 4, 4, 0.9) == 0);
    double q[3] = {0.7, 0.3, 0};
    assert_true(eisnet_hpd_cover_share(q, 3, 2, 0.99) == 0);
    /* the defining property: the expected share under p is the level, for
     * any p and level (whole-cell sets hold the level or more) */
    eisnet_rng r;
    eisnet_rng_seed(&r, 3, 1);
    for (int t = 0; t < 200; t++) {
        double w[12], s = 0;
        for (int c = 0; c < 12; c++) s += w[c] = pow(eisnet_rng_uniform(&r), 4);
        for (int c = 0; c < 12; c++) w[c] /= s;
        double level = 0.05 + 0.9 * eisnet_rng_uniform(&r), e = 0, ew = 0;
        for (int c = 0; c < 12; c++) {
            e += w[c] * eisnet_hpd_cover_share(w, 12, c, level);
            ew += w[c] * eisnet_hpd_covers(w, 12, c, level);
        }
        assert_true(fabs(e - level) < 1e-9);
        assert_true(ew >= level - 1e-9);
    }
}

static void test_ece(void **state)
{
    (void)state;
    eisnet_calibration c;
    memset(&c, 0, sizeof c);
    assert_true(isnan(eisnet_calibration_ece(&c)));
    /* bin 9: ten answers at 0.9, nine right: calibrated */
    for (int i = 0; i < 10; i++) eisnet_calibration_add(&c, 0.9, i < 9);
    assert_true(fabs(eisnet_calibration_ece(&c)) < 1e-12);
    /* bin 2: ten answers at 0.25, all right: |1 - 0.25| for half the answers */
    for (int i = 0; i < 10; i++) eisnet_calibration_add(&c, 0.25, 1);
    assert_true(fabs(eisnet_calibration_ece(&c) - 0.375) < 1e-12);
    /* probability 1 lands in the last bin */
    eisnet_calibration d;
    memset(&d, 0, sizeof d);
    eisnet_calibration_add(&d, 1.0, 0);
    assert_true(d.count[EISNET_CAL_BINS - 1] == 1);
    assert_true(fabs(eisnet_calibration_ece(&d) - 1.0) < 1e-12);
    eisnet_calibration_merge(&c, &d);
    /* bin 9 now: 11 answers, probabilities summing to 10, 9 right; bin 2 as before */
    assert_true(fabs(eisnet_calibration_ece(&c) - (1.0 + 7.5) / 21.0) < 1e-12);
}

static void test_masks(void **state)
{
    (void)state;
    uint8_t masks[32][EISNET_MAX_PARAMS];
    assert_int_equal(eisnet_masks_by_missing(5, 1, 3, masks), 25);
    for (int k = 0; k < 25; k++) {
        int miss = 0;
        for (int p = 0; p < 5; p++) miss += !masks[k][p];
        assert_int_equal(miss, k < 5 ? 1 : k < 15 ? 2 : 3);
    }
    assert_int_equal(eisnet_masks_by_missing(5, 1, 5, masks), 31);
    assert_int_equal(eisnet_masks_by_missing(5, 5, 5, masks), 1);
    for (int p = 0; p < 5; p++) assert_int_equal(masks[0][p], 0);
}

/* A network with every head uniform: p(true) = 1/12, KL = ln 12 - H(exact)
 * per spectrum, top-1 = share of truths in cell 0 (ties go to the lower
 * index); the exact and brute-force columns recomputed by hand from the same
 * simulations. */
static void test_evaluate_uniform_network(void **state)
{
    (void)state;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    eisnet_predictor pr;
    assert_int_equal(eisnet_predictor_init(&pr, &go, 1, 16, 3, 1), 0);
    float *w = eisnet_model_params(pr.model);
    for (int k = 0; k < 5; k++)
        for (int part = 0; part < 2; part++) {
            char name[64];
            snprintf(name, sizeof name, "param_heads.%d.3.%s", k, part ? "bias" : "weight");
            const eisnet_tensor_info *t = eisnet_model_tensor(pr.model, eisnet_model_find_tensor(pr.model, name));
            memset(w + t->offset, 0, t->numel * sizeof(float));
        }
    uint8_t masks[1][EISNET_MAX_PARAMS] = {{1, 1, 1, 0, 0}};
    eisnet_evaluate_options o;
    eisnet_evaluate_options_default(&o);
    o.n = 40;
    o.n_exact = 12;
    o.seed = 5;
    o.quiet = 1;
    o.n_masks = 1;
    o.masks = (const uint8_t(*)[EISNET_MAX_PARAMS])masks;
    eisnet_evaluation e;
    assert_int_equal(eisnet_evaluate(&pr, &o, &e), 0);
    const eisnet_mask_metrics *m = &e.mask[0];
    assert_int_equal(m->n_missing, 2);
    assert_int_equal(m->par[0].param, 3);

    /* the same simulations by hand */
    eisnet_rng rng;
    eisnet_rng_seed(&rng, 5, EISNET_EVAL_STREAM);
    double top1_exact[2] = {0}, top1_argmin[2] = {0}, cell0[2] = {0}, kl[2] = {0}, cover90[2] = {0}, cells90[2] = {0};
    double klc[2] = {0}, kl2[2] = {0}, n_conv = 0;
    for (int i = 0; i < o.n; i++) {
        double v[5];
        int cells[5], am[5];
        double complex z[50];
        eisnet_simulate(&pr.grid, &rng, o.sigma, v, cells, z);
        assert_int_equal(eisnet_grid_brute_force(&pr.grid, z, v, masks[0], 1, am, NULL, NULL), 0);
        for (int k = 0; k < 2; k++) {
            int p = 3 + k;
            top1_argmin[k] += am[p] == cells[p];
            cell0[k] += cells[p] == 0;
        }
        if (i >= o.n_exact) continue;
        eisnet_posterior r;
        assert_int_equal(eisnet_posterior_compute(&pr.grid, z, v, masks[0], NULL, &r), 0);
        for (int k = 0; k < 2; k++) {
            const double *ex = r.marginal + (3 + k) * 12;
            top1_exact[k] += eisnet_top_k_hit(ex, 12, cells[3 + k], 1);
            cover90[k] += eisnet_hpd_cover_share(ex, 12, cells[3 + k], 0.9);
            cells90[k] += eisnet_hpd_covers(ex, 12, cells[3 + k], 0.9);
            double h = 0;
            for (int c = 0; c < 12; c++)
                if (ex[c] > 0) h -= ex[c] * log(ex[c]);
            kl[k] += log(12.0) - h;
            kl2[k] += (log(12.0) - h) * (log(12.0) - h);
            if (r.converged) klc[k] += log(12.0) - h;
        }
        n_conv += r.converged;
        eisnet_posterior_free(&r);
    }
    for (int k = 0; k < 2; k++) {
        const eisnet_param_metrics *q = &m->par[k];
        assert_true(fabs(q->net.p_true - 1.0 / 12) < 1e-6);
        assert_true(fabs(q->net.top1 - cell0[k] / o.n) < 1e-12);
        assert_true(fabs(q->argmin_top1 - top1_argmin[k] / o.n) < 1e-12);
        assert_true(fabs(q->exact.top1 - top1_exact[k] / o.n_exact) < 1e-12);
        assert_true(fabs(q->exact.cover90 - cover90[k] / o.n_exact) < 1e-12);
        assert_true(fabs(q->exact.cover90_cells - cells90[k] / o.n_exact) < 1e-12);
        /* a whole crossing cell can only add coverage */
        assert_true(q->exact.cover90_cells >= q->exact.cover90);
        /* the network evaluates in float: KL to 1e-5 */
        assert_true(fabs(q->kl - kl[k] / o.n_exact) < 1e-5);
        /* its standard error: the sample deviation over sqrt(n) */
        const double mk = kl[k] / o.n_exact, vk = (kl2[k] - o.n_exact * mk * mk) / (o.n_exact - 1);
        assert_true(vk > 0 && fabs(q->kl_stderr - sqrt(vk / o.n_exact)) < 1e-5);
        /* and over the converged exact posteriors only */
        assert_true(n_conv > 0 && fabs(q->kl_converged - klc[k] / n_conv) < 1e-5);
        /* the exact posterior and the brute force know far more than the uniform answer */
        assert_true(q->exact.top1 >= 0.5);
        assert_true(q->argmin_top1 >= 0.4);
        assert_true(q->exact.p_true > 0.4);
    }
    assert_true(m->exact_converged > 0.5);

    /* the JSON carries the same numbers */
    char *s = eisnet_evaluation_json(&pr, &o, &e);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    cJSON *ca = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "masks"), 0), "params"),
                                    "Ca");
    assert_true(fabs(cJSON_GetObjectItem(cJSON_GetObjectItem(ca, "exact"), "top1")->valuedouble - m->par[0].exact.top1) <
                1e-12);
    assert_true(fabs(cJSON_GetObjectItem(ca, "kl")->valuedouble - m->par[0].kl) < 1e-12);
    assert_true(fabs(cJSON_GetObjectItem(ca, "kl_converged")->valuedouble - m->par[0].kl_converged) < 1e-12);
    assert_true(fabs(cJSON_GetObjectItem(ca, "kl_stderr")->valuedouble - m->par[0].kl_stderr) < 1e-12);
    cJSON_Delete(j);
    free(s);

    /* the same seed gives the same evaluation; another seed other spectra */
    eisnet_evaluation e2;
    assert_int_equal(eisnet_evaluate(&pr, &o, &e2), 0);
    assert_true(e2.mask[0].par[0].exact.top1 == m->par[0].exact.top1 && e2.mask[0].par[1].kl == m->par[1].kl);
    eisnet_evaluation_free(&e2);
    o.seed = 6;
    assert_int_equal(eisnet_evaluate(&pr, &o, &e2), 0);
    assert_true(e2.mask[0].par[1].kl != m->par[1].kl);
    eisnet_evaluation_free(&e2);

    /* the summary for the end of training: the 25 masks with 1 to 3 missing, one line per
     * missing parameter (5 + 20 + 30) besides the header and totals */
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    assert_int_equal(eisnet_evaluate_summary(&pr, fp, 8, 0, 0.01, 1, 1), 0);
    fclose(fp);
    int lines = 0;
    for (char *c = text; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 3 + 55 + 1);
    assert_non_null(strstr(text, "Rsh,Ra,Rb"));
    free(text);

    /* bad input */
    o.n = 0;
    assert_int_equal(eisnet_evaluate(&pr, &o, &e2), -1);
    o.n = 10;
    uint8_t all[1][EISNET_MAX_PARAMS] = {{1, 1, 1, 1, 1}};
    o.masks = (const uint8_t(*)[EISNET_MAX_PARAMS])all;
    assert_int_equal(eisnet_evaluate(&pr, &o, &e2), -1);
    eisnet_evaluation_free(&e);
    eisnet_predictor_free(&pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kl),    cmocka_unit_test(test_top_k), cmocka_unit_test(test_hpd), cmocka_unit_test(test_hpd_share),
        cmocka_unit_test(test_ece),   cmocka_unit_test(test_masks), cmocka_unit_test(test_evaluate_uniform_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
