/* eisnet update: parsing and rejecting lines, the direction of one update,
 * N updates in one run = N runs of one update (optimizer state saved and
 * restored), replay and held-out evaluation as train defines it, the stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include <complex.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/resnorm.h"
#include "eisnet/safetensors.h"
#include "eisnet/train.h"
#include "eisnet/update.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static double train_top1, train_top3;


static int setup(void **state)
{
    (void)state;
    if (test_dir_make("update") != 0) return -1;
    eisnet_generate_options g;
    eisnet_generate_options_default(&g);
    g.n_ground_truths = 8;
    g.data_dir = test_path("data");
    g.quiet = 1;
    g.n_workers = 2;
    if (eisnet_generate(&g) != 0) return -1;
    eisnet_train_options o;
    eisnet_train_options_default(&o);
    o.data_dir = test_path("data");
    o.model_path = test_path("base.safetensors");
    o.n_epochs = 2;
    o.batch_size = 128;
    o.samples_per_gt = 300;
    o.hidden = 32;
    o.simulate = 0; /* rows of the dataset */
    o.threads = 2;
    o.quiet = 1;
    eisnet_train_result r;
    if (eisnet_train(&o, &r) != 0) {
        fprintf(stderr, "train: %s\n", eisnet_last_error());
        return -1;
    }
    train_top1 = r.top1;
    train_top3 = r.top3;
    eisnet_train_result_free(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}

/* A fresh copy of the trained checkpoint (weights and optimizer state). */
static const char *copy_model(const char *stem)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd %s && cp base.safetensors %s.safetensors && cp base.npz %s.npz && cp base.state.safetensors %s.state.safetensors",
             test_dir, stem, stem, stem);
    assert_int_equal(system(cmd), 0);
    static char p[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s.safetensors", test_dir, stem);
    return p[k];
}

static void options(eisnet_update_options *o, const char *model)
{
    eisnet_update_options_default(o);
    o->model_path = model;
    o->data_dir = test_path("data");
    o->quiet = 1;
    o->samples_per_gt = 300;
}

/* One example line for the series preset: the spectrum of these values on
 * `nf` frequencies from f0 to f1 (nf 0: the model's frequencies, no "freq"). */
static char *example(const double v[5], int nf, double f0, double f1, const char *extra)
{
    size_t cap = 1 << 16, k = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    int n = nf ? nf : 50;
    double fr[256], re[256], im[256];
    for (int i = 0; i < n; i++) {
        fr[i] = nf ? f0 * pow(f1 / f0, (double)i / (n - 1)) : pow(10.0, 6.0 * i / 49.0);
        double w = 2 * M_PI * fr[i];
        double complex z = v[0] + v[1] / (1 + I * w * v[1] * v[3]) + v[2] / (1 + I * w * v[2] * v[4]);
        re[i] = creal(z);
        im[i] = cimag(z);
    }
    k += (size_t)snprintf(s + k, cap - k, "{");
    const char *keys[3] = {"freq", "re", "im"};
    const double *arr[3] = {fr, re, im};
    for (int a = nf ? 0 : 1; a < 3; a++) {
        k += (size_t)snprintf(s + k, cap - k, "\"%s\":[", keys[a]);
        for (int i = 0; i < n; i++) k += (size_t)snprintf(s + k, cap - k, "%s%.17g", i ? "," : "", arr[a][i]);
        k += (size_t)snprintf(s + k, cap - k, "],");
    }
    k += (size_t)snprintf(s + k, cap - k,
                          "\"known\":{\"Rsh\":%.17g,\"Ra\":%.17g,\"Rb\":%.17g},\"target\":{\"Ca\":%.17g,\"Cb\":%.17g}%s}",
                          v[0], v[1], v[2], v[3], v[4], extra ? extra : "");
    return s;
}

static const double EX1[5] = {460, 4820, 2210, 3.7e-6, 3.4e-6};
static const double EX2[5] = {120, 950, 7000, 1.2e-6, 2.2e-5};

static int parse(eisnet_predictor *p, const char *line, eisnet_update_example *ex)
{
    return eisnet_update_parse(p, line, strlen(line), ex);
}

static void expect_reject(eisnet_predictor *p, const char *line, const char *want)
{
    float x[256];
    eisnet_update_example ex;
    ex.x = x;
    assert_true(eisnet_predictor_n_in(p) <= 256);
    int rc = parse(p, line, &ex);
    if (rc == 0 || !strstr(eisnet_last_error(), want))
        fail_msg("line %.80s...: rc %d, error '%s', wanted '%s'", line, rc, eisnet_last_error(), want);
}

static void replace(char *s, const char *from, const char *to)
{
    char *at = strstr(s, from);
    assert_non_null(at);
    size_t lf = strlen(from), lt = strlen(to);
    memmove(at + lt, at + lf, strlen(at + lf) + 1);
    memcpy(at, to, lt);
}

static void test_parse(void **state)
{
    (void)state;
    eisnet_predictor p;
    assert_int_equal(eisnet_predictor_load(&p, test_path("base.safetensors")), 0);
    const eisnet_grid *g = &p.grid;
    float x[256], x2[256];
    eisnet_update_example ex, ex2;
    ex.x = x;
    ex2.x = x2;

    /* on the model's frequencies, and the same spectrum given with them */
    char *a = example(EX1, 0, 0, 0, ",\"id\":\"a1\"");
    char *b = example(EX1, 50, 1, 1e6, NULL);
    assert_int_equal(parse(&p, a, &ex), 0);
    assert_string_equal(ex.id, "a1");
    assert_int_equal(parse(&p, b, &ex2), 0);
    int n_in = eisnet_predictor_n_in(&p);
    for (int i = 0; i < n_in; i++) assert_float_equal(x[i], x2[i], 1e-4);
    /* targets snapped to the nearest grid value in log; known ones are inputs */
    int P = g->n_params;
    double snapped[5];
    for (int q = 0; q < P; q++) {
        int best = 0;
        for (int i = 1; i < g->n_grid; i++)
            if (fabs(log(g->values[q * g->n_grid + i] / EX1[q])) < fabs(log(g->values[q * g->n_grid + best] / EX1[q])))
                best = i;
        assert_int_equal(ex.target[q], best);
        assert_int_equal(ex.missing[q], q >= 3);
        snapped[q] = g->values[q * g->n_grid + best];
    }
    /* the default resnorm target: the snapped grid model against the spectrum */
    double complex z[50];
    for (int i = 0; i < 50; i++) {
        double w = 2 * M_PI * g->freq[i];
        z[i] = EX1[0] + EX1[1] / (1 + I * w * EX1[1] * EX1[3]) + EX1[2] / (1 + I * w * EX1[2] * EX1[4]);
    }
    double rn = eisnet_resnorm_one(g, snapped, z);
    assert_float_equal(ex.log_resnorm, (float)log10(fmax(rn, p.resnorm_floor)), 1e-4);
    /* an explicit resnorm, and a spectrum on other frequencies (interpolated) */
    char *c = example(EX1, 80, 0.5, 2e6, ",\"resnorm\":12.5");
    assert_int_equal(parse(&p, c, &ex), 0);
    assert_float_equal(ex.log_resnorm, (float)log10(12.5), 1e-6);
    for (int i = 0; i < n_in; i++) assert_float_equal(x[i], x2[i], 0.05);

    /* rejects, each naming the problem */
    expect_reject(&p, "{\"re\":[1,2", "not valid JSON");
    expect_reject(&p, "[1,2,3]", "must be a JSON object");
    char *t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"target\"", "\"targets\"");
    expect_reject(&p, t, "unknown key \"targets\"");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"re\":", "\"xx\":");
    expect_reject(&p, t, "unknown key \"xx\"");
    free(t);
    expect_reject(&p, "{\"re\":[1],\"im\":[1],\"known\":{}}", "missing key \"target\"");
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"Rsh\"", "\"Rq\"");
    expect_reject(&p, t, "unknown parameter 'Rq'");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"re\":[", "\"re\":[NaN,");
    expect_reject(&p, t, "not valid JSON");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"re\":[", "\"re\":[1e999,");
    expect_reject(&p, t, "\"re\"[0] is not a finite number");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"im\":[", "\"im\":[null,");
    expect_reject(&p, t, "\"im\"[0] is not a finite number");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"re\":[", "\"re\":[1,");
    expect_reject(&p, t, "\"re\" has 51 values but \"im\" has 50");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"re\":[", "\"re\":[1,");
    replace(t, "\"im\":[", "\"im\":[1,");
    expect_reject(&p, t, "the model has 50 frequencies");
    free(t);
    t = example(EX1, 30, 10, 1e6, NULL);
    expect_reject(&p, t, "reach outside the measured range 10..1e+06 Hz");
    assert_null(strstr(eisnet_last_error(), "--extrapolate"));
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"Ca\":", "\"Ca\":9");
    expect_reject(&p, t, "outside the model's range");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"Rsh\":", "\"Rsh\":-");
    expect_reject(&p, t, "outside the model's range");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, ",\"Cb\":", ",\"Rsh\":");
    expect_reject(&p, t, "given twice");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, ",\"Cb\":", ",\"Cq\":");
    expect_reject(&p, t, "unknown parameter 'Cq'");
    free(t);
    t = example(EX1, 0, 0, 0, NULL);
    replace(t, "\"known\":{", "\"known\":{\"Cb\":1e-6,");
    replace(t, ",\"Cb\":", ",\"Ca\":");
    expect_reject(&p, t, "given twice");
    free(t);
    t = example(EX1, 0, 0, 0, ",\"resnorm\":-1");
    expect_reject(&p, t, "\"resnorm\" must be");
    free(t);
    t = example(EX1, 0, 0, 0, ",\"id\":7");
    expect_reject(&p, t, "\"id\" must be a string");
    free(t);
    t = example(EX1, 20, 1, 1e6, NULL);
    replace(t, "\"freq\":[1,", "\"freq\":[-1,");
    expect_reject(&p, t, "not a positive frequency");
    free(t);
    free(a);
    free(b);
    free(c);
    eisnet_predictor_free(&p);
}

static void probs_of(eisnet_updater *u, const float *x, float *probs)
{
    eisnet_predictor *p = eisnet_updater_predictor(u);
    eisnet_workspace *ws = eisnet_workspace_new(p->model, 1);
    assert_non_null(ws);
    assert_int_equal(eisnet_model_predict(p->model, ws, x, 1, probs, NULL), 0);
    eisnet_workspace_free(ws);
}

static void test_direction(void **state)
{
    (void)state;
    eisnet_update_options o;
    options(&o, copy_model("dir"));
    eisnet_updater *u = eisnet_updater_open(&o);
    assert_non_null(u);
    assert_int_equal(eisnet_updater_state_loaded(u), 1);
    eisnet_predictor *p = eisnet_updater_predictor(u);
    int P = p->grid.n_params, G = p->grid.n_grid;
    for (int e = 0; e < 2; e++) {
        char *line = example(e ? EX2 : EX1, 0, 0, 0, NULL);
        float x[256], before[64], after[64];
        eisnet_update_example ex;
        ex.x = x;
        assert_int_equal(eisnet_update_parse(p, line, strlen(line), &ex), 0);
        probs_of(u, x, before);
        assert_int_equal(eisnet_updater_push_line(u, line, strlen(line)), 0);
        float loss;
        assert_int_equal(eisnet_updater_apply(u, &loss), 0);
        assert_true(isfinite(loss) && loss > 0);
        probs_of(u, x, after);
        for (int q = 0; q < P; q++) {
            if (!ex.missing[q]) continue;
            float pb = before[q * G + ex.target[q]], pa = after[q * G + ex.target[q]];
            if (!(pa > pb)) fail_msg("example %d, %s: p(target) %g -> %g", e, p->grid.names[q], pb, pa);
        }
        free(line);
    }
    assert_int_equal(eisnet_updater_count(u), 2);
    eisnet_updater_close(u);
}

static void read_state(const char *model, float **m, size_t *n, int64_t *step)
{
    eisnet_update_options o;
    options(&o, model);
    eisnet_updater *u = eisnet_updater_open(&o);
    assert_non_null(u);
    const eisnet_adamw *opt = eisnet_updater_optimizer(u);
    *n = opt->n;
    *step = opt->step;
    *m = malloc(sizeof(float) * 2 * opt->n);
    assert_non_null(*m);
    memcpy(*m, opt->m, sizeof(float) * opt->n);
    memcpy(*m + opt->n, opt->v, sizeof(float) * opt->n);
    eisnet_updater_close(u);
}

static int same_weights(const char *a, const char *b)
{
    eisnet_predictor pa, pb;
    assert_int_equal(eisnet_predictor_load(&pa, a), 0);
    assert_int_equal(eisnet_predictor_load(&pb, b), 0);
    size_t n = eisnet_model_n_params(pa.model);
    assert_int_equal(n, eisnet_model_n_params(pb.model));
    int same = memcmp(eisnet_model_params(pa.model), eisnet_model_params(pb.model), n * sizeof(float)) == 0;
    eisnet_predictor_free(&pa);
    eisnet_predictor_free(&pb);
    return same;
}

/* N lines in one run == N runs of one line each (weights, moments, step),
 * with replay on; restarting without the state file gives other weights. */
static void test_sequence_equals_runs(void **state)
{
    (void)state;
    enum { N = 5 };
    const double *ex[N] = {EX1, EX2, EX1, EX2, EX1};
    const char *one = copy_model("one"), *many = copy_model("many"), *fresh = copy_model("fresh");
    eisnet_update_options o;
    options(&o, one);
    o.replay = 3;
    eisnet_updater *u = eisnet_updater_open(&o);
    assert_non_null(u);
    for (int i = 0; i < N; i++) {
        char *line = example(ex[i], 0, 0, 0, NULL);
        assert_int_equal(eisnet_updater_push_line(u, line, strlen(line)), 0);
        assert_int_equal(eisnet_updater_apply(u, NULL), 0);
        free(line);
    }
    assert_int_equal(eisnet_updater_save(u), 0);
    eisnet_updater_close(u);
    for (int run = 0; run < 2; run++) {
        const char *model = run ? fresh : many;
        for (int i = 0; i < N; i++) {
            if (run && i > 0) { /* lose the optimizer state between runs */
                char st[600];
                snprintf(st, sizeof st, "%s/fresh.state.safetensors", test_dir);
                assert_int_equal(unlink(st), 0);
            }
            options(&o, model);
            o.replay = 3;
            u = eisnet_updater_open(&o);
            assert_non_null(u);
            assert_int_equal(eisnet_updater_state_loaded(u), !(run && i > 0));
            if (!run) assert_int_equal(eisnet_updater_count(u), i);
            char *line = example(ex[i], 0, 0, 0, NULL);
            assert_int_equal(eisnet_updater_push_line(u, line, strlen(line)), 0);
            assert_int_equal(eisnet_updater_apply(u, NULL), 0);
            assert_int_equal(eisnet_updater_save(u), 0);
            eisnet_updater_close(u);
            free(line);
        }
    }
    assert_true(same_weights(one, many));
    assert_false(same_weights(one, fresh));
    assert_false(same_weights(one, test_path("base.safetensors")));
    float *m1, *m2;
    size_t n1, n2;
    int64_t s1, s2;
    read_state(one, &m1, &n1, &s1);
    read_state(many, &m2, &n2, &s2);
    assert_int_equal(n1, n2);
    assert_int_equal(s1, s2);
    assert_memory_equal(m1, m2, sizeof(float) * 2 * n1);
    free(m1);
    free(m2);
    /* grouping: --batch_size 2 is one step per two lines */
    const char *grp = copy_model("grp");
    options(&o, grp);
    o.batch_size = 2;
    u = eisnet_updater_open(&o);
    assert_non_null(u);
    int64_t step0 = eisnet_updater_optimizer(u)->step;
    char *l1 = example(EX1, 0, 0, 0, NULL), *l2 = example(EX2, 0, 0, 0, NULL);
    assert_int_equal(eisnet_updater_push_line(u, l1, strlen(l1)), 0);
    assert_int_equal(eisnet_updater_push_line(u, l2, strlen(l2)), 0);
    assert_int_equal(eisnet_updater_push_line(u, l2, strlen(l2)), -1); /* the group is full */
    float loss[2];
    assert_int_equal(eisnet_updater_apply(u, loss), 0);
    assert_int_equal(eisnet_updater_optimizer(u)->step, step0 + 1);
    assert_true(isfinite(loss[0]) && isfinite(loss[1]) && loss[0] != loss[1]);
    eisnet_updater_close(u);
    free(l1);
    free(l2);
}

/* --eval: the held-out split and rows of `eisnet train` for the same seed:
 * before any update it reproduces train's held-out accuracy. */
static void test_eval_matches_train(void **state)
{
    (void)state;
    eisnet_update_options o;
    options(&o, copy_model("ev"));
    o.eval = 1;
    o.replay = 8;
    eisnet_updater *u = eisnet_updater_open(&o);
    assert_non_null(u);
    eisnet_update_eval e0, e1;
    assert_int_equal(eisnet_updater_evaluate(u, &e0), 0);
    assert_int_equal(e0.n_gt, 1); /* round(0.15 * 8) */
    assert_int_equal(e0.rows, 300);
    assert_float_equal(e0.top1, train_top1, 1e-9);
    assert_float_equal(e0.top3, train_top3, 1e-9);
    for (int i = 0; i < 20; i++) {
        char *line = example(i % 2 ? EX2 : EX1, 0, 0, 0, NULL);
        assert_int_equal(eisnet_updater_push_line(u, line, strlen(line)), 0);
        assert_int_equal(eisnet_updater_apply(u, NULL), 0);
        free(line);
    }
    assert_int_equal(eisnet_updater_evaluate(u, &e1), 0);
    assert_true(e1.top1 >= 0 && e1.top1 <= 1 && isfinite(e1.loss) && e1.loss != e0.loss);
    eisnet_updater_close(u);
    /* another seed: another split */
    options(&o, copy_model("ev2"));
    o.eval = 1;
    o.seed = 7;
    u = eisnet_updater_open(&o);
    assert_non_null(u);
    assert_int_equal(eisnet_updater_evaluate(u, &e1), 0);
    eisnet_updater_close(u);
}

static void test_bad_options(void **state)
{
    (void)state;
    eisnet_update_options o;
    options(&o, test_path("base.safetensors"));
    o.lr = 0;
    assert_null(eisnet_updater_open(&o));
    assert_non_null(strstr(eisnet_last_error(), "--lr"));
    options(&o, test_path("base.safetensors"));
    o.batch_size = 0;
    assert_null(eisnet_updater_open(&o));
    assert_non_null(strstr(eisnet_last_error(), "--batch_size"));
    options(&o, test_path("base.safetensors"));
    o.replay = -1;
    assert_null(eisnet_updater_open(&o));
    options(&o, test_path("none.safetensors"));
    assert_null(eisnet_updater_open(&o));
    options(&o, test_path("base.safetensors"));
    o.replay = 2;
    o.data_dir = test_path("nodata");
    assert_null(eisnet_updater_open(&o));
    assert_non_null(strstr(eisnet_last_error(), "generate"));
    /* a corrupt state file is an error, not a silent fresh start */
    const char *m = copy_model("corrupt");
    char st[600];
    snprintf(st, sizeof st, "%s/corrupt.state.safetensors", test_dir);
    assert_int_equal(eisnet_write_file_atomic(st, "garbage", 7), 0);
    options(&o, m);
    assert_null(eisnet_updater_open(&o));
    assert_non_null(strstr(eisnet_last_error(), "optimizer state"));
}

/* The stream: answers per line, rejects counted, the rest applied. */
static void test_stream(void **state)
{
    (void)state;
    const char *model = copy_model("stream");
    char in[600], outp[600], errp[600];
    snprintf(in, sizeof in, "%s/in.jsonl", test_dir);
    snprintf(outp, sizeof outp, "%s/out.jsonl", test_dir);
    snprintf(errp, sizeof errp, "%s/err.txt", test_dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (int i = 0; i < 30; i++) {
        char *line = example(i % 2 ? EX2 : EX1, 0, 0, 0, i == 4 ? ",\"id\":\"q\\\"uote\"" : NULL);
        if (i % 5 == 3) fputs("{\"re\":[1,2,3]}\n", f);
        else if (i % 7 == 6) fputs("\n# a comment\n", f);
        else fprintf(f, "%s%s", line, i == 29 ? "" : "\r\n"); /* the last line without a line end */
        free(line);
    }
    fclose(f);
    eisnet_update_options o;
    options(&o, model);
    o.checkpoint_every = 0;
    eisnet_updater *u = eisnet_updater_open(&o);
    assert_non_null(u);
    int fd = open(in, O_RDONLY);
    FILE *out = fopen(outp, "w"), *err = fopen(errp, "w");
    eisnet_update_stats st;
    assert_int_equal(eisnet_update_stream(u, fd, "in.jsonl", out, err, &st), 0);
    fclose(out);
    fclose(err);
    close(fd);
    assert_int_equal(st.rejected, 6);
    assert_int_equal(st.accepted, 21);
    assert_int_equal(st.updates, 21);
    assert_int_equal(st.lines, 27);
    assert_int_equal(st.checkpoints, 1);
    assert_true(st.median_ms > 0 && st.p99_ms >= st.median_ms && st.updates_per_s > 0);
    eisnet_updater_close(u);
    char *text;
    size_t n;
    assert_int_equal(eisnet_read_file(outp, 1 << 20, &text, &n), 0);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    assert_int_equal(lines, 27);
    assert_non_null(strstr(text, "{\"line\":1,\"ok\":true,\"loss\":"));
    assert_non_null(strstr(text, "{\"line\":4,\"ok\":false,\"error\":\"missing key \\\"im\\\"\"}"));
    assert_non_null(strstr(text, "\"id\":\"q\\\"uote\"}"));
    free(text);
    assert_int_equal(eisnet_read_file(errp, 1 << 20, &text, &n), 0);
    assert_non_null(strstr(text, "eisnet update: in.jsonl:4: missing key \"im\"\n"));
    free(text);
    /* the checkpoint holds the 21 updates */
    options(&o, model);
    u = eisnet_updater_open(&o);
    assert_non_null(u);
    assert_int_equal(eisnet_updater_count(u), 21);
    eisnet_updater_close(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_direction),
        cmocka_unit_test(test_sequence_equals_runs),
        cmocka_unit_test(test_eval_matches_train),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_stream),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
