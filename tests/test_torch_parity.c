/* PyTorch parity (llm.c style): the fixtures in tests/data/torch_* were written
 * by tests/torch_parity.py (the same network built from nn.Sequential, run in
 * float64). Here the C model, in float32, is loaded with the same weights and
 * must reproduce logits, resnorm prediction, loss, every gradient (parameters
 * and input), 10 AdamW steps with gradient clipping, and ReduceLROnPlateau.
 *
 * Tolerance: |c - torch| <= ATOL + RTOL * |torch| element-wise, with
 * RTOL = 1e-5 and ATOL = 1e-6 (gradients: ATOL = 1e-6 * max(1, max|grad| of
 * the tensor), as float32 sums over the batch cancel). Both backends (ref,
 * cpu) and 1 and 2 threads are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/error.h"
#include "eisnet/model.h"
#include "eisnet/optim.h"

#define DIR "tests/data/"
#define RTOL 1e-5
#define ATOL 1e-6

typedef struct {
    int n_in, n_params, n_grid, hidden, batch, steps, n_clipped;
    double resnorm_weight, max_norm, lr, weight_decay, loss, ce, mse;
    int n_tensors;
    char tname[64][64];
    int tndim[64];
    long tshape[64][2];
    int n_plateau;
    double pl_metric[64], pl_lr[64];
} manifest;

static manifest M;

static void *read_raw(const char *key, size_t elem, size_t *count)
{
    FILE *f = fopen(DIR "torch_manifest.txt", "r");
    assert_non_null(f);
    char line[512], k[64], fname[128];
    long n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "file %63s %127s %ld", k, fname, &n) == 3 && strcmp(k, key) == 0) break;
        else n = -1;
    fclose(f);
    assert_true(n > 0);
    char path[256];
    snprintf(path, sizeof path, DIR "%s", fname);
    FILE *g = fopen(path, "rb");
    assert_non_null(g);
    void *buf = malloc((size_t)n * elem);
    assert_non_null(buf);
    assert_int_equal(fread(buf, elem, (size_t)n, g), (size_t)n);
    fclose(g);
    *count = (size_t)n;
    return buf; /* the fixtures are little-endian, as is every machine we build on */
}

static int setup(void **state)
{
    (void)state;
    FILE *f = fopen(DIR "torch_manifest.txt", "r");
    if (!f) return -1;
    char line[512], key[64], word[16];
    memset(&M, 0, sizeof M);
    while (fgets(line, sizeof line, f)) {
        int iv;
        double dv;
        if (sscanf(line, "%15s", word) != 1 || word[0] == '#') continue;
        if (!strcmp(word, "int") && sscanf(line, "int %63s %d", key, &iv) == 2) {
            if (!strcmp(key, "n_in")) M.n_in = iv;
            else if (!strcmp(key, "n_params")) M.n_params = iv;
            else if (!strcmp(key, "n_grid")) M.n_grid = iv;
            else if (!strcmp(key, "hidden")) M.hidden = iv;
            else if (!strcmp(key, "batch")) M.batch = iv;
            else if (!strcmp(key, "steps")) M.steps = iv;
            else if (!strcmp(key, "n_clipped")) M.n_clipped = iv;
        } else if (!strcmp(word, "real") && sscanf(line, "real %63s %lf", key, &dv) == 2) {
            if (!strcmp(key, "resnorm_weight")) M.resnorm_weight = dv;
            else if (!strcmp(key, "max_norm")) M.max_norm = dv;
            else if (!strcmp(key, "lr")) M.lr = dv;
            else if (!strcmp(key, "weight_decay")) M.weight_decay = dv;
            else if (!strcmp(key, "loss")) M.loss = dv;
            else if (!strcmp(key, "ce")) M.ce = dv;
            else if (!strcmp(key, "mse")) M.mse = dv;
        } else if (!strcmp(word, "tensor") && M.n_tensors < 64) {
            int i = M.n_tensors++;
            long d0 = 1, d1 = 1;
            int got = sscanf(line, "tensor %63s %d %ld %ld", M.tname[i], &M.tndim[i], &d0, &d1);
            if (got < 3) return -1;
            M.tshape[i][0] = d0;
            M.tshape[i][1] = M.tndim[i] == 2 ? d1 : 1;
        } else if (!strcmp(word, "plateau") && sscanf(line, "plateau %d", &M.n_plateau) == 1) {
            if (M.n_plateau > 64) return -1;
            for (int i = 0; i < M.n_plateau; i++)
                if (!fgets(line, sizeof line, f) ||
                    sscanf(line, "%lf %lf", &M.pl_metric[i], &M.pl_lr[i]) != 2)
                    return -1;
        }
    }
    fclose(f);
    return M.n_in > 0 && M.batch > 0 ? 0 : -1;
}

/* max over i of |c - t| / (atol + RTOL |t|); <= 1 passes */
static double worst(const float *c, const float *t, size_t n, double atol)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)c[i] - (double)t[i]) / (atol + RTOL * fabs((double)t[i]));
        if (!(e <= w)) w = e; /* NaN propagates as a failure */
    }
    return w;
}

static eisnet_model *load_model(void)
{
    eisnet_model_config cfg = {M.n_in, M.n_params, M.n_grid, M.hidden, 0.0f, 0.0f, 0.0f};
    eisnet_model *m = eisnet_model_new(&cfg, 1);
    assert_non_null(m);
    /* the tensor table matches the state dict: names, shapes, order */
    assert_int_equal(eisnet_model_n_tensors(m), M.n_tensors);
    for (int i = 0; i < M.n_tensors; i++) {
        const eisnet_tensor_info *t = eisnet_model_tensor(m, i);
        assert_string_equal(t->name, M.tname[i]);
        assert_int_equal(t->ndim, M.tndim[i]);
        assert_int_equal(t->shape[0], M.tshape[i][0]);
        assert_int_equal(t->shape[1], M.tshape[i][1]);
    }
    size_t n;
    float *p = read_raw("params", sizeof(float), &n);
    assert_int_equal(n, eisnet_model_n_params(m));
    memcpy(eisnet_model_params(m), p, n * sizeof(float));
    free(p);
    return m;
}

typedef struct {
    float *x, *rt;
    int32_t *target;
    uint8_t *missing;
} batch;

static batch load_batch(void)
{
    batch b;
    size_t n;
    b.x = read_raw("input", sizeof(float), &n);
    assert_int_equal(n, (size_t)M.batch * M.n_in);
    b.target = read_raw("target", sizeof(int32_t), &n);
    assert_int_equal(n, (size_t)M.batch * M.n_params);
    b.missing = read_raw("missing", 1, &n);
    assert_int_equal(n, (size_t)M.batch * M.n_params);
    b.rt = read_raw("resnorm_target", sizeof(float), &n);
    assert_int_equal(n, (size_t)M.batch);
    return b;
}

static void free_batch(batch *b)
{
    free(b->x);
    free(b->rt);
    free(b->target);
    free(b->missing);
}

/* m on a new backend NAME with the given threads (the model keeps a reference) */
static void use_backend(eisnet_model *m, const char *name, int threads)
{
    const eisnet_backend_options bo = {.threads = threads};
    eisnet_backend *be = eisnet_backend_new(name, &bo);
    assert_non_null(be);
    assert_int_equal(eisnet_model_set_backend(m, be), 0);
    eisnet_backend_free(be);
}

static void check_forward_backward(const char *K, int threads)
{
    eisnet_model *m = load_model();
    use_backend(m, K, threads);
    batch b = load_batch();
    eisnet_workspace *ws = eisnet_workspace_new(m, M.batch);
    assert_non_null(ws);
    eisnet_workspace_set_input_grad(ws, 1);
    eisnet_model_zero_grad(m);
    assert_int_equal(eisnet_model_forward(m, ws, b.x, M.batch, 0, NULL), 0);
    eisnet_loss L;
    assert_int_equal(eisnet_model_loss(m, ws, M.batch, b.target, b.missing, b.rt,
                                       (float)M.resnorm_weight, &L, NULL, NULL), 0);
    assert_int_equal(eisnet_model_backward(m, ws, M.batch), 0);

    size_t n;
    float *t = read_raw("logits", sizeof(float), &n);
    double w = worst(eisnet_workspace_logits(ws), t, n, ATOL);
    print_message("[%s, %d threads] logits worst %.3f\n", K, threads, w);
    assert_true(w <= 1.0);
    free(t);
    t = read_raw("resnorm", sizeof(float), &n);
    w = worst(eisnet_workspace_resnorm(ws), t, n, ATOL);
    assert_true(w <= 1.0);
    free(t);
    assert_true(fabs(L.loss - M.loss) <= ATOL + RTOL * fabs(M.loss));
    assert_true(fabs(L.ce - M.ce) <= ATOL + RTOL * fabs(M.ce));
    assert_true(fabs(L.mse - M.mse) <= ATOL + RTOL * fabs(M.mse));

    t = read_raw("grads", sizeof(float), &n);
    assert_int_equal(n, eisnet_model_n_params(m));
    const float *g = eisnet_model_grads(m);
    double wg = 0.0;
    for (int i = 0; i < eisnet_model_n_tensors(m); i++) {
        const eisnet_tensor_info *ti = eisnet_model_tensor(m, i);
        double mx = 0.0;
        for (size_t j = 0; j < ti->numel; j++) mx = fmax(mx, fabs(t[ti->offset + j]));
        assert_true(mx > 0.0); /* every tensor receives a gradient */
        double wt = worst(g + ti->offset, t + ti->offset, ti->numel, ATOL * fmax(1.0, mx));
        if (wt > 1.0) print_message("tensor %s: worst %.3f\n", ti->name, wt);
        wg = fmax(wg, wt);
    }
    print_message("[%s, %d threads] grads worst %.3f\n", K, threads, wg);
    assert_true(wg <= 1.0);
    free(t);
    t = read_raw("dx", sizeof(float), &n);
    w = worst(eisnet_workspace_dx(ws), t, n, ATOL);
    assert_true(w <= 1.0);
    free(t);

    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

static void test_forward_backward_ref(void **state) { (void)state; check_forward_backward("ref", 1); }
static void test_forward_backward_cpu(void **state) { (void)state; check_forward_backward("cpu", 1); }

static void check_training(const char *K)
{
    eisnet_model *m = load_model();
    use_backend(m, K, 0);
    batch b = load_batch();
    eisnet_workspace *ws = eisnet_workspace_new(m, M.batch);
    eisnet_adamw opt;
    eisnet_adamw_config oc = eisnet_adamw_config_default();
    oc.lr = (float)M.lr;
    oc.weight_decay = (float)M.weight_decay;
    assert_int_equal(eisnet_adamw_init(&opt, eisnet_model_n_params(m), &oc), 0);
    size_t n;
    float *tl = read_raw("step_loss", sizeof(float), &n);
    assert_int_equal(n, (size_t)M.steps);
    float *tn = read_raw("step_norm", sizeof(float), &n);
    int clipped = 0;
    for (int s = 0; s < M.steps; s++) {
        eisnet_loss L;
        eisnet_model_zero_grad(m);
        assert_int_equal(eisnet_model_forward(m, ws, b.x, M.batch, 0, NULL), 0);
        assert_int_equal(eisnet_model_loss(m, ws, M.batch, b.target, b.missing, b.rt,
                                           (float)M.resnorm_weight, &L, NULL, NULL), 0);
        assert_int_equal(eisnet_model_backward(m, ws, M.batch), 0);
        float norm = eisnet_clip_grad_norm(eisnet_model_grads(m), eisnet_model_n_params(m), (float)M.max_norm);
        clipped += norm > M.max_norm;
        eisnet_adamw_step(&opt, eisnet_model_params(m), eisnet_model_grads(m));
        print_message("[%s] step %d loss %.7f (torch %.7f) norm %.5f (torch %.5f)\n", K, s,
                      L.loss, tl[s], norm, tn[s]);
        /* float32 noise grows through the steps; 3e-5 relative */
        assert_true(fabs(L.loss - tl[s]) <= 1e-6 + 3e-5 * fabs(tl[s]));
        assert_true(fabs(norm - tn[s]) <= 1e-6 + 3e-5 * fabs(tn[s]));
    }
    assert_int_equal(clipped, M.n_clipped);
    assert_true(clipped > 0 && clipped < M.steps);
    float *pa = read_raw("params_after", sizeof(float), &n);
    /* Adam divides by sqrt(v): where a gradient is tiny, float32 rounding of
     * it moves the update by a visible fraction of lr (1e-2). The bound is
     * 1% of one step: atol 1e-4. */
    double w = worst(eisnet_model_params(m), pa, n, 1e-4);
    print_message("[%s] params after %d steps worst %.3f (atol 1e-4)\n", K, M.steps, w);
    assert_true(w <= 1.0);
    free(pa);
    free(tl);
    free(tn);
    eisnet_adamw_free(&opt);
    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

static void test_adamw_steps_ref(void **state) { (void)state; check_training("ref"); }
static void test_adamw_steps_cpu(void **state) { (void)state; check_training("cpu"); }

static void test_plateau(void **state)
{
    (void)state;
    assert_true(M.n_plateau > 0);
    eisnet_plateau s;
    eisnet_plateau_init(&s);
    float lr = 1e-3f;
    int reductions = 0;
    for (int i = 0; i < M.n_plateau; i++) {
        reductions += eisnet_plateau_step(&s, M.pl_metric[i], &lr);
        assert_true(fabs(lr - M.pl_lr[i]) <= 1e-6 * M.pl_lr[i]);
    }
    assert_true(reductions >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_backward_ref),
        cmocka_unit_test(test_forward_backward_cpu),
        cmocka_unit_test(test_adamw_steps_ref),
        cmocka_unit_test(test_adamw_steps_cpu),
        cmocka_unit_test(test_plateau),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
