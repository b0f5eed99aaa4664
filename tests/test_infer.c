/* Inference: formulas against hand-computed values, top-k order, the
 * outer-product joint, JSON schema, bad --known, and an end-to-end check on a
 * held-out ground truth read back from CSV. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/infer.h"
#include "eisnet/spectrum.h"
#include "eisnet/train.h"

static void test_distribution_stats(void **state)
{
    (void)state;
    double p[12] = {0.5, 0.5}, h, mx, t5;
    eisnet_distribution_stats(p, 12, &h, &mx, &t5);
    assert_true(fabs(h - log(2.0)) < 1e-15);
    assert_true(mx == 0.5 && t5 == 1.0);
    double u[12];
    for (int i = 0; i < 12; i++) u[i] = 1.0 / 12;
    eisnet_distribution_stats(u, 12, &h, &mx, &t5);
    assert_true(fabs(h - log(12.0)) < 1e-14);
    assert_true(fabs(t5 - 5.0 / 12) < 1e-15);
    double q[6] = {0.4, 0.1, 0.2, 0.05, 0.15, 0.1};
    eisnet_distribution_stats(q, 6, &h, &mx, &t5);
    double want = 0;
    for (int i = 0; i < 6; i++) want -= q[i] * log(q[i]);
    assert_true(fabs(h - want) < 1e-15);
    assert_true(fabs(t5 - 0.95) < 1e-15);
}

static void test_top_k_product(void **state)
{
    (void)state;
    double a[3] = {0.5, 0.3, 0.2}, b[3] = {0.2, 0.4, 0.4};
    const double *d[2] = {a, b};
    int idx[18];
    double p[9];
    int n = eisnet_top_k_product(d, 2, 3, 9, idx, p);
    assert_int_equal(n, 9);
    /* 0.2 for (0,1) and (0,2): tie broken by index; then 0.12 (1,1),(1,2), 0.1 (0,0) */
    int want[9][2] = {{0, 1}, {0, 2}, {1, 1}, {1, 2}, {0, 0}, {2, 1}, {2, 2}, {1, 0}, {2, 0}};
    for (int k = 0; k < 9; k++) {
        assert_int_equal(idx[2 * k], want[k][0]);
        assert_int_equal(idx[2 * k + 1], want[k][1]);
        assert_true(fabs(p[k] - a[want[k][0]] * b[want[k][1]]) < 1e-16);
    }
    /* the beam keeps only k, and three factors work */
    const double *d3[3] = {a, b, a};
    n = eisnet_top_k_product(d3, 3, 3, 2, idx, p);
    assert_int_equal(n, 2);
    assert_true(fabs(p[0] - 0.5 * 0.4 * 0.5) < 1e-16);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 0);
}

/* A predictor whose heads output fixed distributions: the last layer's
 * weights are zero and its bias is log p. */
static void fixed_heads(eisnet_predictor *pr, double dists[5][12])
{
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    assert_int_equal(eisnet_predictor_init(pr, &go, 1, 16, 3, 1), 0);
    float *w = eisnet_model_params(pr->model);
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "param_heads.%d.3.weight", k);
        const eisnet_tensor_info *t = eisnet_model_tensor(pr->model, eisnet_model_find_tensor(pr->model, name));
        memset(w + t->offset, 0, t->numel * sizeof(float));
        snprintf(name, sizeof name, "param_heads.%d.3.bias", k);
        t = eisnet_model_tensor(pr->model, eisnet_model_find_tensor(pr->model, name));
        for (int c = 0; c < 12; c++) w[t->offset + c] = (float)log(dists[k][c]);
    }
}

static void test_formulas_and_json(void **state)
{
    (void)state;
    double d[5][12];
    for (int k = 0; k < 5; k++) {
        double s = 0;
        for (int c = 0; c < 12; c++) s += d[k][c] = 1.0 + (double)((c * (k + 3)) % 7) + (c == 4 ? 20 : 0);
        for (int c = 0; c < 12; c++) d[k][c] /= s;
    }
    eisnet_predictor pr;
    fixed_heads(&pr, d);
    double complex z[50];
    double truth[5] = {460, 4820, 2210, 3.7e-6, 3.4e-6};
    eisnet_grid_spectrum(&pr.grid, truth, z);
    double values[5];
    uint8_t known[5];
    assert_int_equal(eisnet_parse_known(&pr.grid, "Rsh=460, ra=4820,Rb=2210", values, known), 0);
    assert_true(known[0] && known[1] && known[2] && !known[3] && !known[4]);
    eisnet_inference r;
    assert_int_equal(eisnet_infer(&pr, z, values, known, 10, 0.01, 0, &r), 0);
    assert_int_equal(r.n_missing, 2);
    assert_int_equal(r.k, 10);
    /* the marginals are the heads' distributions (float precision) */
    for (int c = 0; c < 12; c++) assert_true(fabs(r.probs[3 * 12 + c] - d[3][c]) < 1e-6);
    /* entropy, normalised entropy, confidence = p1 p2 sqrt((1-h1)(1-h2)) */
    double h3 = 0, h4 = 0;
    for (int c = 0; c < 12; c++) {
        h3 -= d[3][c] * log(d[3][c]);
        h4 -= d[4][c] * log(d[4][c]);
    }
    assert_true(fabs(r.entropy[3] - h3) < 1e-5);
    assert_true(fabs(r.norm_entropy[4] - h4 / log(12.0)) < 1e-5);
    for (int k = 0; k < r.k; k++) {
        int i = r.top_idx[2 * k], j = r.top_idx[2 * k + 1];
        double p = d[3][i] * d[4][j];
        assert_true(fabs(r.top_p[k] - p) < 1e-6);
        double conf = p * sqrt((1 - h3 / log(12.0)) * (1 - h4 / log(12.0)));
        assert_true(fabs(r.top_conf[k] - conf) < 1e-6);
        if (k) assert_true(r.top_p[k - 1] >= r.top_p[k]);
    }
    assert_int_equal(r.top_idx[0], 4); /* the peak of both heads */
    assert_int_equal(r.top_idx[1], 4);

    /* JSON: the reference's keys */
    char *s = eisnet_inference_json(&pr, &r, "test", 0);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_non_null(strchr(s, '{'));
    assert_null(strchr(s, '\n'));
    const char *keys[] = {"known_params", "missing_params", "predicted_resnorm", "marginal_distributions",
                          "joint_distribution", "top_k_predictions", "uncertainty"};
    for (int i = 0; i < 7; i++) assert_non_null(cJSON_GetObjectItem(j, keys[i]));
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "known_params"), "Rsh")->valuedouble == 460);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "missing_params"), 1)->valuestring, "Cb");
    cJSON *jd = cJSON_GetObjectItem(j, "joint_distribution");
    assert_int_equal(cJSON_GetArraySize(jd), 12);
    assert_true(fabs(cJSON_GetArrayItem(cJSON_GetArrayItem(jd, 4), 7)->valuedouble - r.probs[36 + 4] * r.probs[48 + 7]) < 1e-12);
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "top_k_predictions"), 0);
    const char *tkeys[] = {"rank", "Ca", "Cb", "joint_probability", "marginal_prob_1", "marginal_prob_2", "grid_indices",
                           "confidence_score"};
    for (int i = 0; i < 8; i++) assert_non_null(cJSON_GetObjectItem(t0, tkeys[i]));
    assert_true(cJSON_GetObjectItem(t0, "Ca")->valuedouble == pr.grid.values[3 * 12 + 4]);
    cJSON *u = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "uncertainty"), "Ca");
    const char *ukeys[] = {"entropy", "max_probability", "top_5_mass", "normalized_entropy"};
    for (int i = 0; i < 4; i++) assert_non_null(cJSON_GetObjectItem(u, ukeys[i]));
    cJSON_Delete(j);
    free(s);
    eisnet_inference_free(&r);

    /* one missing parameter: probability / grid_index, confidence = p */
    assert_int_equal(eisnet_parse_known(&pr.grid, "Rsh=460,Ra=4820,Rb=2210,Ca=3.7e-6", values, known), 0);
    assert_int_equal(eisnet_infer(&pr, z, values, known, 3, 0.01, 1, &r), 0);
    assert_true(fabs(r.top_conf[0] - r.top_p[0]) < 1e-15);
    s = eisnet_inference_json(&pr, &r, NULL, 1);
    j = cJSON_Parse(s);
    t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "top_k_predictions"), 0);
    assert_non_null(cJSON_GetObjectItem(t0, "probability"));
    assert_non_null(cJSON_GetObjectItem(t0, "grid_index"));
    assert_null(cJSON_GetObjectItem(j, "joint_distribution"));
    /* --exact: the Bayes posterior puts the noiseless truth's cell (Cb = 3.4e-6 is in cell 6)
     * first; KL(exact || network) by its definition; the spectrum fits the known values */
    cJSON *x = cJSON_GetObjectItem(j, "exact");
    assert_non_null(x);
    assert_non_null(cJSON_GetObjectItem(x, "sub_points"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(x, "converged")));
    assert_true(r.exact[4 * 12 + 6] > 0.99);
    double sum = 0, kl = 0;
    for (int c = 0; c < 12; c++) {
        double e = r.exact[4 * 12 + c];
        sum += e;
        if (e > 0) kl += e * log(e / d[4][c]);
    }
    assert_true(fabs(sum - 1) < 1e-12);
    assert_true(fabs(r.kl[4] - kl) < 1e-5);
    assert_true(fabs(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "kl_divergence"), "Cb")->valuedouble - kl) < 1e-5);
    assert_int_equal(r.post.argmin[4], 6);
    assert_true(r.misfit < 0.003);
    assert_int_equal(r.n_warnings, 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "warnings")), 0);
    assert_string_equal(eisnet_confidence_word(0.95), "high");
    assert_string_equal(eisnet_confidence_word(0.6), "medium");
    assert_string_equal(eisnet_confidence_word(0.035), "low");
    cJSON_Delete(j);
    free(s);
    eisnet_inference_free(&r);

    /* known values that contradict the spectrum: a warning that says so */
    assert_int_equal(eisnet_parse_known(&pr.grid, "Rsh=1380,Ra=4820,Rb=2210", values, known), 0);
    assert_int_equal(eisnet_infer(&pr, z, values, known, 3, 0.01, 0, &r), 0);
    assert_true(r.misfit > 0.1);
    assert_int_equal(r.n_warnings, 1);
    assert_non_null(strstr(r.warnings[0], "known values contradict"));
    s = eisnet_inference_json(&pr, &r, NULL, 1);
    j = cJSON_Parse(s);
    assert_non_null(strstr(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "warnings"), 0)->valuestring, "contradict"));
    cJSON_Delete(j);
    free(s);
    eisnet_inference_free(&r);

    /* a spectrum no parameters in the ranges fit (ten times every impedance: Rsh alone is
     * then above its range at high frequency) */
    for (int f = 0; f < pr.grid.n_freq; f++) z[f] *= 10;
    assert_int_equal(eisnet_parse_known(&pr.grid, "Rsh=460,Ra=4820,Rb=2210", values, known), 0);
    assert_int_equal(eisnet_infer(&pr, z, values, known, 3, 0.01, 0, &r), 0);
    assert_true(r.n_warnings >= 1);
    assert_non_null(strstr(r.warnings[0], "does not fit the circuit"));
    eisnet_inference_free(&r);
    eisnet_predictor_free(&pr);
}

static void expect_known_error(const eisnet_grid *g, const char *text, const char *fragment)
{
    double v[5];
    uint8_t k[5];
    assert_int_equal(eisnet_parse_known(g, text, v, k), -1);
    if (!strstr(eisnet_last_error(), fragment)) {
        print_error("'%s': '%s' lacks '%s'\n", text, eisnet_last_error(), fragment);
        fail();
    }
}

static void test_bad_known(void **state)
{
    (void)state;
    eisnet_grid g;
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    assert_int_equal(eisnet_grid_init(&g, &go), 0);
    expect_known_error(&g, "Rx=5", "unknown parameter 'Rx'");
    expect_known_error(&g, "Rsh=100,Ra=20,Rb=30,Ca=1e-6,Cb=1e-6", "all 5 parameters are known");
    expect_known_error(&g, "", "empty");
    expect_known_error(&g, "Rsh=5", "outside the model's range");
    expect_known_error(&g, "Rsh=-5", "must be positive");
    expect_known_error(&g, "Rsh=0", "must be positive");
    expect_known_error(&g, "Rsh=abc", "not a number");
    expect_known_error(&g, "Rsh=nan", "not a number");
    expect_known_error(&g, "Rsh=100,Rsh=200", "given twice");
    expect_known_error(&g, "Rsh", "expected NAME=VALUE");
    expect_known_error(&g, "Rsh=100,,Ra=5", "bad item");
    eisnet_grid_free(&g);
}

static void test_end_to_end(void **state)
{
    (void)state;
    char root[256], p[400];
    snprintf(root, sizeof root, "/tmp/eisnet_test_infer_%ld", (long)getpid());
    eisnet_generate_options go;
    eisnet_generate_options_default(&go);
    go.n_ground_truths = 24;
    go.data_dir = root;
    go.quiet = 1;
    assert_int_equal(eisnet_generate(&go), 0);
    eisnet_train_options to;
    eisnet_train_options_default(&to);
    to.data_dir = root;
    to.n_epochs = 8;
    to.samples_per_gt = 1000;
    to.hidden = 128;
    to.batch_size = 256;
    to.val_fraction = 0.25;
    to.simulate = 0; /* rows of the dataset */
    to.quiet = 1;
    eisnet_train_result tr;
    assert_int_equal(eisnet_train(&to, &tr), 0);
    eisnet_predictor pr;
    assert_int_equal(eisnet_predictor_load(&pr, tr.best_path), 0);
    eisnet_dataset ds;
    assert_int_equal(eisnet_dataset_open(&ds, root), 0);
    /* every held-out ground truth, through a CSV (descending frequencies) */
    double mass_true = 0;
    int n = 0;
    for (int g = 0; g < ds.n; g++) {
        if (g != tr.first_val_gt && n == 0) continue; /* start at a held-out one */
        snprintf(p, sizeof p, "%s/spec.csv", root);
        FILE *fp = fopen(p, "w");
        fprintf(fp, "freq,Re,Im\n");
        for (int f = ds.grid.n_freq - 1; f >= 0; f--)
            fprintf(fp, "%.17g,%.17g,%.17g\n", ds.grid.freq[f], creal(ds.spectra[(size_t)g * 50 + f]),
                    cimag(ds.spectra[(size_t)g * 50 + f]));
        fclose(fp);
        eisnet_spectrum s;
        double complex z[50];
        assert_int_equal(eisnet_spectrum_read_csv(p, &s), 0);
        assert_int_equal(eisnet_spectrum_interpolate(&s, pr.grid.freq, 50, 0, z), 0);
        eisnet_spectrum_free(&s);
        for (int f = 0; f < 50; f++) assert_true(cabs(z[f] - ds.spectra[(size_t)g * 50 + f]) < 1e-9 * cabs(z[f]));
        uint8_t known[5] = {1, 1, 1, 0, 0};
        eisnet_inference r;
        assert_int_equal(eisnet_infer(&pr, z, ds.gt[g].values, known, 5, 0.01, 0, &r), 0);
        /* probability of the grid cells nearest the true Ca and Cb */
        double m = 1;
        for (int q = 3; q < 5; q++) {
            int best = 0;
            for (int c = 1; c < 12; c++)
                if (fabs(log(pr.grid.values[q * 12 + c] / ds.gt[g].values[q])) <
                    fabs(log(pr.grid.values[q * 12 + best] / ds.gt[g].values[q])))
                    best = c;
            m *= r.probs[q * 12 + best];
        }
        mass_true += m;
        n++;
        eisnet_inference_free(&r);
        if (n == 6) break;
    }
    mass_true /= n;
    print_message("mean joint probability of the true cell: %.4f (uniform %.4f)\n", mass_true, 1.0 / 144);
    assert_true(mass_true > 1.5 / 144);
    eisnet_dataset_close(&ds);
    eisnet_predictor_free(&pr);
    eisnet_train_result_free(&tr);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distribution_stats), cmocka_unit_test(test_top_k_product),
        cmocka_unit_test(test_formulas_and_json), cmocka_unit_test(test_bad_known),
        cmocka_unit_test(test_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
