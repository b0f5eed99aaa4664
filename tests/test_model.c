/* Model tests: parameter layout, init, central-difference gradient checks of
 * the loss and of the whole network (every tensor and the input), reference
 * vs fast backend trajectories, thread-split invariance, predict, errors; the
 * fast path's small-batch branch against the reference, train_step against
 * the separate calls, predict_one. */
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
#include "backend_ref.h"
#include "eisnet/optim.h"

static uint64_t g_rng = 7;
static float frand(void) /* uniform in [-1, 1) */
{
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(g_rng >> 40) / 8388608.0 - 1.0);
}

typedef struct {
    int B;
    float *x, *rt;
    int32_t *target;
    uint8_t *missing;
} batch;

/* random batch: random missing entries, but row 0 has all missing (every head
 * is trained) and row 1 none */
static batch make_batch(const eisnet_model_config *c, int B)
{
    batch b = {B, malloc(sizeof(float) * B * c->n_in), malloc(sizeof(float) * B),
               malloc(sizeof(int32_t) * B * c->n_params), malloc((size_t)B * c->n_params)};
    assert_true(b.x && b.rt && b.target && b.missing);
    for (int i = 0; i < B * c->n_in; i++) b.x[i] = 1.5f * frand();
    for (int i = 0; i < B; i++) b.rt[i] = 1.0f + frand();
    for (int i = 0; i < B * c->n_params; i++) {
        b.target[i] = (int32_t)((frand() + 1.0f) * 0.5f * c->n_grid) % c->n_grid;
        b.missing[i] = frand() > 0.0f;
    }
    if (B > 1) memset(b.missing + c->n_params, 0, (size_t)c->n_params);
    memset(b.missing, 1, (size_t)c->n_params);
    return b;
}

static void free_batch(batch *b)
{
    free(b->x); free(b->rt); free(b->target); free(b->missing);
}

/* ---- layout and init --------------------------------------------------------- */

static void test_param_count_and_names(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(10, 5, 12);
    eisnet_model *m = eisnet_model_new(&c, 1);
    assert_non_null(m);
    assert_int_equal(eisnet_model_n_params(m), 224893); /* H 512, 5 heads of 12: counted in docs/model.md */
    assert_int_equal(eisnet_model_n_tensors(m), 10 + 4 * 5 + 4);
    const char *expect[] = {"encoder.0.weight", "encoder.0.bias", "encoder.1.weight",
                            "encoder.1.bias", "encoder.4.weight", "encoder.4.bias",
                            "encoder.5.weight", "encoder.5.bias", "encoder.8.weight",
                            "encoder.8.bias", "param_heads.0.0.weight", "param_heads.0.0.bias",
                            "param_heads.0.3.weight", "param_heads.0.3.bias"};
    for (int i = 0; i < 14; i++) assert_string_equal(eisnet_model_tensor_name(m, i), expect[i]);
    assert_string_equal(eisnet_model_tensor_name(m, 33), "resnorm_head.2.bias");
    assert_string_equal(eisnet_model_tensor_name(m, 29), "param_heads.4.3.bias");
    assert_null(eisnet_model_tensor_name(m, 34));
    /* shapes (out, in) and contiguous offsets covering the array */
    const eisnet_tensor_info *t = eisnet_model_tensor(m, 0);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 512);
    assert_int_equal(t->shape[1], 10);
    t = eisnet_model_tensor(m, eisnet_model_find_tensor(m, "encoder.4.weight"));
    assert_int_equal(t->shape[0], 256);
    assert_int_equal(t->shape[1], 512);
    t = eisnet_model_tensor(m, eisnet_model_find_tensor(m, "param_heads.3.3.weight"));
    assert_int_equal(t->shape[0], 12);
    assert_int_equal(t->shape[1], 64);
    t = eisnet_model_tensor(m, eisnet_model_find_tensor(m, "resnorm_head.2.bias"));
    assert_int_equal(t->ndim, 1);
    assert_int_equal(t->shape[0], 1);
    assert_int_equal(eisnet_model_find_tensor(m, "nope"), -1);
    size_t off = 0;
    for (int i = 0; i < eisnet_model_n_tensors(m); i++) {
        t = eisnet_model_tensor(m, i);
        assert_int_equal(t->offset, off);
        assert_int_equal(t->numel, (size_t)(t->shape[0] * t->shape[1]));
        off += t->numel;
    }
    assert_int_equal(off, eisnet_model_n_params(m));
    eisnet_model_free(m);
}

static void test_init(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(18, 5, 12);
    eisnet_model *a = eisnet_model_new(&c, 42), *b = eisnet_model_new(&c, 42), *d = eisnet_model_new(&c, 43);
    size_t n = eisnet_model_n_params(a);
    assert_memory_equal(eisnet_model_params(a), eisnet_model_params(b), n * sizeof(float));
    assert_memory_not_equal(eisnet_model_params(a), eisnet_model_params(d), n * sizeof(float));
    for (int i = 0; i < eisnet_model_n_tensors(a); i++) {
        const eisnet_tensor_info *t = eisnet_model_tensor(a, i);
        const float *p = eisnet_model_params(a) + t->offset;
        if (!strcmp(t->name, "encoder.1.weight") || !strcmp(t->name, "encoder.5.weight")) {
            for (size_t j = 0; j < t->numel; j++) assert_true(p[j] == 1.0f);
            continue;
        }
        if (!strcmp(t->name, "encoder.1.bias") || !strcmp(t->name, "encoder.5.bias")) {
            for (size_t j = 0; j < t->numel; j++) assert_true(p[j] == 0.0f);
            continue;
        }
        /* Linear: U(-1/sqrt(in), 1/sqrt(in)), in = weight's second dim */
        const eisnet_tensor_info *w = t->ndim == 2 ? t : eisnet_model_tensor(a, i - 1);
        double bound = 1.0 / sqrt((double)w->shape[1]), s2 = 0.0;
        for (size_t j = 0; j < t->numel; j++) {
            assert_true(fabs(p[j]) <= bound);
            s2 += (double)p[j] * p[j];
        }
        if (t->numel >= 1000) /* variance of U(-a, a) is a^2/3 */
            assert_true(fabs(s2 / t->numel / (bound * bound / 3.0) - 1.0) < 0.1);
    }
    for (size_t j = 0; j < n; j++) assert_true(eisnet_model_grads(a)[j] == 0.0f);
    eisnet_model_free(a);
    eisnet_model_free(b);
    eisnet_model_free(d);
}

/* ---- gradient checks ---------------------------------------------------------- */

/* The loss layer on its own: dloss/dlogits and dloss/dresnorm against central
 * differences in float (h = 1e-2 on O(1) logits, sums in double). */
static void test_gradcheck_loss(void **state)
{
    (void)state;
    const int B = 4, P = 3, G = 5;
    eisnet_model_config c = {6, P, G, 8, 0, 0, 0};
    batch b = make_batch(&c, B);
    float logits[4 * 3 * 5], res[4], dl[4 * 3 * 5], dr[4];
    for (int i = 0; i < B * P * G; i++) logits[i] = 2.0f * frand();
    for (int i = 0; i < B; i++) res[i] = frand();
    eisnet_loss L;
    int64_t correct[3] = {0}, counted[3] = {0};
    assert_int_equal(eisnet_loss_compute(logits, res, B, P, G, b.target, b.missing, b.rt, 0.5f, &L,
                                         dl, dr, correct, counted), 0);
    /* the value, by hand */
    double ce = 0.0, mse = 0.0;
    for (int r = 0; r < B; r++) {
        int nm = 0;
        double row = 0.0;
        for (int k = 0; k < P; k++) {
            if (!b.missing[r * P + k]) continue;
            const float *lg = logits + (r * P + k) * G;
            double s = 0.0;
            for (int g = 0; g < G; g++) s += exp(lg[g]);
            row += log(s) - lg[b.target[r * P + k]];
            nm++;
        }
        if (nm) ce += row / nm;
        mse += (res[r] - b.rt[r]) * (double)(res[r] - b.rt[r]);
    }
    assert_true(fabs(L.ce - ce / B) < 1e-6);
    assert_true(fabs(L.mse - mse / B) < 1e-6);
    assert_true(fabs(L.loss - (ce / B + 0.5 * mse / B)) < 1e-6);
    int64_t total = 0;
    for (int k = 0; k < P; k++) total += counted[k];
    int64_t expect_total = 0;
    for (int i = 0; i < B * P; i++) expect_total += b.missing[i];
    assert_int_equal(total, expect_total);

    const float h = 1e-2f;
    double worst = 0.0, gnorm = 0.0;
    for (int i = 0; i < B * P * G + B; i++) {
        float *v = i < B * P * G ? &logits[i] : &res[i - B * P * G];
        float an = i < B * P * G ? dl[i] : dr[i - B * P * G];
        float keep = *v;
        eisnet_loss lp, lm;
        *v = keep + h;
        eisnet_loss_compute(logits, res, B, P, G, b.target, b.missing, b.rt, 0.5f, &lp, NULL, NULL, NULL, NULL);
        *v = keep - h;
        eisnet_loss_compute(logits, res, B, P, G, b.target, b.missing, b.rt, 0.5f, &lm, NULL, NULL, NULL, NULL);
        *v = keep;
        double num = (lp.loss - lm.loss) / (2.0 * h);
        worst = fmax(worst, fabs(num - an) / (1e-4 + 1e-3 * fabs(num)));
        gnorm += (double)an * an;
    }
    print_message("  loss grad-check worst %.3f, |g| %.3g\n", worst, sqrt(gnorm));
    assert_true(worst <= 1.0);
    assert_true(sqrt(gnorm) > 0.1);
    /* rows without missing heads get zero logit gradients */
    for (int g = 0; g < P * G; g++) assert_true(dl[1 * P * G + g] == 0.0f);
    free_batch(&b);
}

/* Whole network: d loss / d (a sample of every tensor, and every input),
 * dropout on (the key is replayed so every evaluation uses the same mask). */
typedef struct {
    eisnet_model *m;
    eisnet_workspace *ws;
    batch b;
    uint64_t rng0;
} net_case;

static double net_loss(net_case *nc)
{
    uint64_t rng = nc->rng0;
    eisnet_loss L;
    assert_int_equal(eisnet_model_forward(nc->m, nc->ws, nc->b.x, nc->b.B, 1, &rng), 0);
    assert_int_equal(eisnet_model_loss(nc->m, nc->ws, nc->b.B, nc->b.target, nc->b.missing,
                                       nc->b.rt, 0.5f, &L, NULL, NULL), 0);
    return L.loss;
}

/* max |num - an| / (TOL_ABS + TOL_REL |num|) over entries idx of v, num the
 * central difference. Entries where the loss has a kink within h (a ReLU
 * changing side: the one-sided differences disagree) are skipped and
 * counted in *kinks. */
#define TOL_ABS 5e-4
#define TOL_REL 2e-2
static double check_entries(net_case *nc, float *v, const float *an, const size_t *idx, int n,
                            float h, int *kinks)
{
    double worst = 0.0;
    double l0 = net_loss(nc);
    for (int j = 0; j < n; j++) {
        size_t i = idx[j];
        float keep = v[i];
        v[i] = keep + h;
        double lp = net_loss(nc);
        v[i] = keep - h;
        double lm = net_loss(nc);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double right = (lp - l0) / h, left = (l0 - lm) / h;
        if (fabs(right - left) > TOL_ABS + TOL_REL * fabs(num)) {
            if (kinks) (*kinks)++;
            continue;
        }
        double e = fabs(num - an[i]) / (TOL_ABS + TOL_REL * fabs(num));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* A backend for a test: "ref", "cpu" (threads as given), or "device": the
 * reference backend with memory the model must treat as a device's (host
 * copies at the edges, as for a GPU). */
static eisnet_backend *make_backend(const char *name, int threads)
{
    const eisnet_backend_options bo = {.threads = threads};
    eisnet_backend *be = strcmp(name, "device") == 0 ? eisnet_backend_ref_new_device_like()
                                                     : eisnet_backend_new(name, &bo);
    assert_non_null(be);
    return be;
}

/* m on a new backend NAME; the model keeps its own reference */
static void use_backend(eisnet_model *m, const char *name, int threads)
{
    eisnet_backend *be = make_backend(name, threads);
    assert_int_equal(eisnet_model_set_backend(m, be), 0);
    eisnet_backend_free(be);
}

static void gradcheck_network(const char *K)
{
    eisnet_model_config c = {9, 3, 5, 16, 0.3f, 0.2f, 0.1f};
    g_rng = 17;
    net_case nc = {eisnet_model_new(&c, 5), NULL, make_batch(&c, 5), 99};
    assert_non_null(nc.m);
    use_backend(nc.m, K, 1);
    nc.ws = eisnet_workspace_new(nc.m, 5);
    eisnet_workspace_set_input_grad(nc.ws, 1);
    /* bigger last-layer weights so the heads' gradients are not tiny */
    float *p = eisnet_model_params(nc.m);
    for (size_t i = 0; i < eisnet_model_n_params(nc.m); i++) p[i] *= 2.0f;

    eisnet_model_zero_grad(nc.m);
    net_loss(&nc);
    assert_int_equal(eisnet_model_backward(nc.m, nc.ws, 5), 0);
    const float *g = eisnet_model_grads(nc.m);
    float *dx = malloc(sizeof(float) * 5 * c.n_in);
    memcpy(dx, eisnet_workspace_dx(nc.ws), sizeof(float) * 5 * c.n_in);
    const float h = 1e-3f;

    double worst_all = 0.0;
    int kinks = 0, checked = 0;
    for (int t = 0; t < eisnet_model_n_tensors(nc.m); t++) {
        const eisnet_tensor_info *ti = eisnet_model_tensor(nc.m, t);
        /* the 6 largest-gradient entries plus 2 fixed ones */
        size_t idx[8];
        int n = 0;
        for (int s = 0; s < 6 && s < (int)ti->numel; s++) {
            size_t best = 0;
            double bv = -1.0;
            for (size_t j = 0; j < ti->numel; j++) {
                int used = 0;
                for (int u = 0; u < n; u++) used |= idx[u] == j;
                if (!used && fabs(g[ti->offset + j]) > bv) { bv = fabs(g[ti->offset + j]); best = j; }
            }
            idx[n++] = best;
        }
        if (ti->numel > 8) { idx[n++] = ti->numel / 2; idx[n++] = ti->numel - 1; }
        double gn = 0.0;
        for (int j = 0; j < n; j++) gn += fabs(g[ti->offset + idx[j]]);
        if (gn <= 1e-3) print_message("  %s: gn %.3g\n", ti->name, gn);
        assert_true(gn > 1e-3); /* every tensor gets a non-trivial gradient */
        double w = check_entries(&nc, p + ti->offset, g + ti->offset, idx, n, h, &kinks);
        checked += n;
        if (w > 0.3) print_message("  %-24s worst %.3f\n", ti->name, w);
        worst_all = fmax(worst_all, w);
        assert_true(w <= 1.0);
        /* and the check has teeth: a zeroed or 20%-off gradient fails */
        float *bad = calloc(ti->numel, sizeof(float));
        assert_true(check_entries(&nc, p + ti->offset, bad, idx, n, h, NULL) > 1.0);
        for (int j = 0; j < n; j++) bad[idx[j]] = 1.2f * g[ti->offset + idx[j]];
        assert_true(check_entries(&nc, p + ti->offset, bad, idx, n, h, NULL) > 1.0);
        free(bad);
    }
    size_t xi[45];
    for (int i = 0; i < 5 * c.n_in; i++) xi[i] = (size_t)i;
    double wx = check_entries(&nc, nc.b.x, dx, xi, 5 * c.n_in, h, &kinks);
    checked += 5 * c.n_in;
    double nx = 0.0;
    for (int i = 0; i < 5 * c.n_in; i++) nx += (double)dx[i] * dx[i];
    assert_true(sqrt(nx) > 1e-2);
    print_message("  [%s] network grad-check: worst %.3f over all tensors, %.3f over the input "
                  "(%d entries, %d skipped at ReLU kinks)\n", K, worst_all, wx, checked, kinks);
    assert_true(kinks * 10 < checked);
    assert_true(wx <= 1.0);
    free(dx);
    free_batch(&nc.b);
    eisnet_workspace_free(nc.ws);
    eisnet_model_free(nc.m);
}

static void test_gradcheck_network_ref(void **state) { (void)state; gradcheck_network("ref"); }
static void test_gradcheck_network_cpu(void **state) { (void)state; gradcheck_network("cpu"); }

/* ---- backends and threads -------------------------------------------------------- */

/* 10 AdamW steps (dropout on, clipping at 1) from the same init */
/* use_step: eisnet_model_train_step (on the CPU backend it skips the heads
 * of known parameters) instead of the separate calls */
static void trajectory(const char *K, int threads, int use_step, double *losses, float *params_out)
{
    eisnet_model_config c = {18, 5, 12, 64, 0.3f, 0.2f, 0.1f};
    eisnet_model *m = eisnet_model_new(&c, 11);
    use_backend(m, K, threads);
    g_rng = 3;
    batch b = make_batch(&c, 67);
    eisnet_workspace *ws = eisnet_workspace_new(m, 67);
    eisnet_adamw opt;
    assert_int_equal(eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL), 0);
    uint64_t rng = 1;
    for (int s = 0; s < 10; s++) {
        eisnet_loss L;
        if (use_step) {
            assert_int_equal(eisnet_model_train_step(m, ws, &opt, b.x, b.B, b.target, b.missing, b.rt,
                                                     0.5f, 1.0f, &rng, &L, NULL, NULL, NULL), 0);
            losses[s] = L.loss;
            continue;
        }
        eisnet_model_zero_grad(m);
        assert_int_equal(eisnet_model_forward(m, ws, b.x, b.B, 1, &rng), 0);
        assert_int_equal(eisnet_model_loss(m, ws, b.B, b.target, b.missing, b.rt, 0.5f, &L, NULL, NULL), 0);
        assert_int_equal(eisnet_model_backward(m, ws, b.B), 0);
        eisnet_clip_grad_norm(eisnet_model_grads(m), eisnet_model_n_params(m), 1.0f);
        eisnet_adamw_step(&opt, eisnet_model_params(m), eisnet_model_grads(m));
        losses[s] = L.loss;
    }
    memcpy(params_out, eisnet_model_params(m), eisnet_model_n_params(m) * sizeof(float));
    eisnet_adamw_free(&opt);
    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

static void test_trajectory_ref_vs_cpu(void **state)
{
    (void)state;
    eisnet_model_config c = {18, 5, 12, 64, 0.3f, 0.2f, 0.1f};
    eisnet_model *tmp = eisnet_model_new(&c, 11);
    size_t n = eisnet_model_n_params(tmp);
    eisnet_model_free(tmp);
    float *p_ref = malloc(n * sizeof(float)), *p_cpu = malloc(n * sizeof(float)),
          *p_cpu2 = malloc(n * sizeof(float)), *p_step = malloc(n * sizeof(float)),
          *p_dev = malloc(n * sizeof(float)), *p_dev2 = malloc(n * sizeof(float));
    double l_ref[10], l_cpu[10], l_cpu2[10], l_step[10], l_dev[10], l_dev2[10];
    trajectory("ref", 1, 0, l_ref, p_ref);
    trajectory("cpu", 1, 0, l_cpu, p_cpu);
    trajectory("cpu", 2, 0, l_cpu2, p_cpu2); /* 67 rows: split 33 + 34 when OpenMP */
    trajectory("cpu", 2, 1, l_step, p_step); /* what training runs */
    /* device-like memory: host copies at the edges, moments kept by the model */
    trajectory("device", 1, 1, l_dev, p_dev);
    trajectory("device", 1, 0, l_dev2, p_dev2);
    for (int s = 0; s < 10; s++) {
        print_message("  step %d loss ref %.7f cpu %.7f cpu/2 threads %.7f train_step %.7f\n", s,
                      l_ref[s], l_cpu[s], l_cpu2[s], l_step[s]);
        /* float32 summation order only: 1e-5 relative */
        assert_true(fabs(l_cpu[s] - l_ref[s]) <= 1e-5 * fabs(l_ref[s]));
        assert_true(fabs(l_cpu2[s] - l_ref[s]) <= 1e-5 * fabs(l_ref[s]));
        assert_true(fabs(l_step[s] - l_ref[s]) <= 1e-5 * fabs(l_ref[s]));
        assert_true(fabs(l_dev[s] - l_ref[s]) <= 1e-5 * fabs(l_ref[s]));
        assert_true(l_dev2[s] == l_ref[s]); /* the same arithmetic as ref */
    }
    assert_true(l_ref[9] < 0.8 * l_ref[0]); /* it learns */
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(p_cpu[i] - p_ref[i]));
        worst = fmax(worst, fabs(p_cpu2[i] - p_ref[i]));
        worst = fmax(worst, fabs(p_step[i] - p_ref[i]));
        worst = fmax(worst, fabs(p_dev[i] - p_ref[i]));
        assert_true(p_dev2[i] == p_ref[i]);
    }
    print_message("  params after 10 steps: max |cpu - ref| %.3g\n", worst);
    assert_true(worst < 1e-4); /* a tenth of one lr step */
    free(p_ref); free(p_cpu); free(p_cpu2); free(p_step); free(p_dev); free(p_dev2);
}

static void test_thread_split_same_grads(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(10, 5, 12);
    c.hidden = 128;
    eisnet_model *m = eisnet_model_new(&c, 3);
    batch b = make_batch(&c, 200);
    eisnet_workspace *ws = eisnet_workspace_new(m, 200);
    size_t n = eisnet_model_n_params(m);
    float *g1 = malloc(n * sizeof(float));
    float logits1[200 * 60];
    for (int T = 1; T <= 4; T++) {
        use_backend(m, "cpu", T);
        uint64_t rng = 5;
        eisnet_model_zero_grad(m);
        assert_int_equal(eisnet_model_forward(m, ws, b.x, b.B, 1, &rng), 0);
        assert_int_equal(eisnet_model_loss(m, ws, b.B, b.target, b.missing, b.rt, 0.5f, NULL, NULL, NULL), 0);
        assert_int_equal(eisnet_model_backward(m, ws, b.B), 0);
        if (T == 1) {
            memcpy(g1, eisnet_model_grads(m), n * sizeof(float));
            memcpy(logits1, eisnet_workspace_logits(ws), sizeof logits1);
            continue;
        }
        /* rows are independent; only BLAS blocking (which depends on the row
         * count) and the order of the gradient sums change */
        for (int i = 0; i < 200 * 60; i++)
            assert_true(fabsf(eisnet_workspace_logits(ws)[i] - logits1[i]) <= 1e-5f * (1.0f + fabsf(logits1[i])));
        for (size_t i = 0; i < n; i++)
            assert_true(fabsf(eisnet_model_grads(m)[i] - g1[i]) <= 1e-6f + 1e-4f * fabsf(g1[i]));
    }
    free(g1);
    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

/* ---- inference, accuracy, errors --------------------------------------------------- */

static void test_predict(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(10, 5, 12);
    c.hidden = 64;
    eisnet_model *m = eisnet_model_new(&c, 9);
    batch b = make_batch(&c, 23);
    eisnet_workspace *ws = eisnet_workspace_new(m, 8); /* smaller than the batch: chunks */
    float probs[23 * 60], res[23], p1[60], r1;
    assert_int_equal(eisnet_model_predict(m, ws, b.x, 23, probs, res), 0);
    for (int i = 0; i < 23 * 5; i++) {
        double s = 0.0;
        for (int g = 0; g < 12; g++) {
            assert_true(probs[i * 12 + g] > 0.0f);
            s += probs[i * 12 + g];
        }
        assert_true(fabs(s - 1.0) < 1e-5);
    }
    /* batch 1 gives the same as row 17 of the batch */
    assert_int_equal(eisnet_model_predict(m, ws, b.x + 17 * 10, 1, p1, &r1), 0);
    for (int g = 0; g < 60; g++) assert_true(fabsf(p1[g] - probs[17 * 60 + g]) < 1e-6f);
    assert_true(fabsf(r1 - res[17]) < 1e-6f);
    /* eval forward is deterministic and ignores the rng; softmax of its logits */
    assert_int_equal(eisnet_model_forward(m, ws, b.x + 17 * 10, 1, 0, NULL), 0);
    const float *lg = eisnet_workspace_logits(ws);
    double s = 0.0;
    for (int g = 0; g < 12; g++) s += exp(lg[g]);
    assert_true(fabs(exp(lg[3]) / s - p1[3]) < 1e-6);
    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

static void test_learns_and_counts(void **state)
{
    (void)state;
    /* the target of head k is a function of input k: learnable */
    eisnet_model_config c = {6, 2, 4, 32, 0.0f, 0.0f, 0.0f};
    eisnet_model *m = eisnet_model_new(&c, 1);
    batch b = make_batch(&c, 64);
    for (int r = 0; r < 64; r++)
        for (int k = 0; k < 2; k++) {
            b.missing[r * 2 + k] = 1;
            b.target[r * 2 + k] = (int32_t)((b.x[r * 6 + k] + 1.5f) / 3.0f * 4.0f) % 4;
            if (b.target[r * 2 + k] < 0) b.target[r * 2 + k] = 0;
        }
    eisnet_workspace *ws = eisnet_workspace_new(m, 64);
    eisnet_adamw opt;
    eisnet_adamw_config oc = eisnet_adamw_config_default();
    oc.lr = 1e-2f;
    eisnet_adamw_init(&opt, eisnet_model_n_params(m), &oc);
    eisnet_loss first = {0}, L = {0};
    for (int s = 0; s < 60; s++) {
        eisnet_model_zero_grad(m);
        eisnet_model_forward(m, ws, b.x, 64, 0, NULL);
        eisnet_model_loss(m, ws, 64, b.target, b.missing, b.rt, 0.5f, &L, NULL, NULL);
        if (s == 0) first = L;
        eisnet_model_backward(m, ws, 64);
        eisnet_adamw_step(&opt, eisnet_model_params(m), eisnet_model_grads(m));
    }
    int64_t correct[2] = {0}, counted[2] = {0};
    eisnet_model_forward(m, ws, b.x, 64, 0, NULL);
    eisnet_model_loss(m, ws, 64, b.target, b.missing, b.rt, 0.5f, &L, correct, counted);
    print_message("  loss %.4f -> %.4f, accuracy %ld/%ld %ld/%ld\n", first.loss, L.loss,
                  (long)correct[0], (long)counted[0], (long)correct[1], (long)counted[1]);
    assert_int_equal(counted[0], 64);
    assert_int_equal(counted[1], 64);
    assert_true(L.loss < 0.3 * first.loss);
    assert_true(correct[0] > 56 && correct[1] > 56);
    eisnet_adamw_free(&opt);
    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(10, 5, 12);
    c.hidden = 31;
    assert_null(eisnet_model_new(&c, 1));
    assert_non_null(strstr(eisnet_last_error(), "hidden"));
    c.hidden = 32;
    c.dropout1 = 1.0f;
    assert_null(eisnet_model_new(&c, 1));
    c.dropout1 = 0.3f;
    eisnet_model *m = eisnet_model_new(&c, 1);
    assert_non_null(m);
    assert_null(eisnet_workspace_new(m, 0));
    eisnet_workspace *ws = eisnet_workspace_new(m, 4);
    batch b = make_batch(&c, 6);
    assert_int_equal(eisnet_model_forward(m, ws, b.x, 6, 0, NULL), -1); /* > max_batch */
    assert_non_null(strstr(eisnet_last_error(), "batch"));
    assert_int_equal(eisnet_model_forward(m, ws, b.x, 4, 1, NULL), -1); /* train needs rng */
    assert_int_equal(eisnet_model_backward(m, ws, 4), -1);              /* no loss yet */
    assert_int_equal(eisnet_model_forward(m, ws, b.x, 4, 0, NULL), 0);
    assert_int_equal(eisnet_model_loss(m, ws, 3, b.target, b.missing, b.rt, 0.5f, NULL, NULL, NULL), -1);
    b.target[0] = 12;
    b.missing[0] = 1;
    assert_int_equal(eisnet_model_loss(m, ws, 4, b.target, b.missing, b.rt, 0.5f, NULL, NULL, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "target"));
    b.target[0] = 0;
    assert_int_equal(eisnet_model_loss(m, ws, 4, b.target, b.missing, b.rt, 0.5f, NULL, NULL, NULL), 0);
    assert_int_equal(eisnet_model_backward(m, ws, 4), 0);
    c.n_in = 11; /* a workspace of another shape is refused */
    eisnet_model *m2 = eisnet_model_new(&c, 1);
    assert_int_equal(eisnet_model_forward(m2, ws, b.x, 4, 0, NULL), -1);
    eisnet_model_free(m2);
    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
    eisnet_model_free(NULL);
    eisnet_workspace_free(NULL);
}

/* ---- the fast path's batch-size branches and fused entry points ------------------ */

/* Batches below and at the head-packing threshold (8), with dropout and the
 * input gradient on: fast path against the reference backend. */
static void test_small_batches_fast_vs_ref(void **state)
{
    (void)state;
    eisnet_model_config c = {10, 5, 12, 96, 0.3f, 0.2f, 0.1f};
    const int Bs[] = {1, 2, 3, 7, 8, 9};
    for (size_t t = 0; t < sizeof Bs / sizeof Bs[0]; t++) {
        const int B = Bs[t];
        for (int threads = 1; threads <= 2; threads++) {
            eisnet_model *mr = eisnet_model_new(&c, 21), *mf = eisnet_model_new(&c, 21);
            use_backend(mr, "ref", 1);
            use_backend(mf, "cpu", threads);
            g_rng = 100 + (uint64_t)B;
            batch b = make_batch(&c, B);
            eisnet_workspace *wr = eisnet_workspace_new(mr, B), *wf = eisnet_workspace_new(mf, B);
            eisnet_workspace_set_input_grad(wr, 1);
            eisnet_workspace_set_input_grad(wf, 1);
            uint64_t r1 = 9, r2 = 9;
            eisnet_loss L1, L2;
            eisnet_model_zero_grad(mr);
            eisnet_model_zero_grad(mf);
            assert_int_equal(eisnet_model_forward(mr, wr, b.x, B, 1, &r1), 0);
            assert_int_equal(eisnet_model_forward(mf, wf, b.x, B, 1, &r2), 0);
            assert_int_equal(eisnet_model_loss(mr, wr, B, b.target, b.missing, b.rt, 0.5f, &L1, NULL, NULL), 0);
            assert_int_equal(eisnet_model_loss(mf, wf, B, b.target, b.missing, b.rt, 0.5f, &L2, NULL, NULL), 0);
            assert_int_equal(eisnet_model_backward(mr, wr, B), 0);
            assert_int_equal(eisnet_model_backward(mf, wf, B), 0);
            assert_true(fabs(L1.loss - L2.loss) <= 1e-5 * (1.0 + fabs(L1.loss)));
            const float *lr = eisnet_workspace_logits(wr), *lf = eisnet_workspace_logits(wf);
            for (int i = 0; i < B * 60; i++) assert_true(fabsf(lr[i] - lf[i]) <= 1e-5f * (1.0f + fabsf(lr[i])));
            for (int i = 0; i < B; i++)
                assert_true(fabsf(eisnet_workspace_resnorm(wr)[i] - eisnet_workspace_resnorm(wf)[i]) <= 1e-5f);
            const float *gr = eisnet_model_grads(mr), *gf = eisnet_model_grads(mf);
            double gmax = 0.0;
            for (size_t i = 0; i < eisnet_model_n_params(mr); i++) gmax = fmax(gmax, fabs(gr[i]));
            for (size_t i = 0; i < eisnet_model_n_params(mr); i++)
                if (!(fabs(gr[i] - gf[i]) <= 1e-5 * gmax + 1e-4 * fabs(gr[i]))) {
                    print_message("B %d threads %d: grad %zu (%s) ref %g fast %g\n", B, threads, i,
                                  "", gr[i], gf[i]);
                    fail();
                }
            const float *dxr = eisnet_workspace_dx(wr), *dxf = eisnet_workspace_dx(wf);
            for (int i = 0; i < B * c.n_in; i++) assert_true(fabsf(dxr[i] - dxf[i]) <= 1e-5f + 1e-4f * fabsf(dxr[i]));
            free_batch(&b);
            eisnet_workspace_free(wr);
            eisnet_workspace_free(wf);
            eisnet_model_free(mr);
            eisnet_model_free(mf);
        }
    }
}

/* eisnet_model_train_step == zero_grad, forward, loss, backward, clip, AdamW;
 * grads left unclipped. Every backend here gathers rows, so train_step skips
 * the heads of known parameters: the same up to float summation order. */
static void test_train_step_matches_calls(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(10, 5, 12);
    c.hidden = 64;
    const char *backends[3] = {"ref", "cpu", "device"};
    for (int be = 0; be < 3; be++)
    for (int B = 1; B <= 79; B += 39) {
        eisnet_model *m1 = eisnet_model_new(&c, 5), *m2 = eisnet_model_new(&c, 5);
        use_backend(m1, backends[be], 0);
        use_backend(m2, backends[be], 0);
        g_rng = 8;
        batch b = make_batch(&c, B);
        eisnet_workspace *w1 = eisnet_workspace_new(m1, B), *w2 = eisnet_workspace_new(m2, B);
        const size_t n = eisnet_model_n_params(m1);
        eisnet_adamw o1, o2;
        assert_int_equal(eisnet_adamw_init(&o1, n, NULL), 0);
        assert_int_equal(eisnet_adamw_init(&o2, n, NULL), 0);
        uint64_t r1 = 3, r2 = 3;
        for (int s = 0; s < 3; s++) {
            eisnet_loss L1, L2;
            int64_t c1[5] = {0}, n1[5] = {0}, c2[5] = {0}, n2[5] = {0};
            float norm2 = 0.0f;
            eisnet_model_zero_grad(m1);
            assert_int_equal(eisnet_model_forward(m1, w1, b.x, B, 1, &r1), 0);
            assert_int_equal(eisnet_model_loss(m1, w1, B, b.target, b.missing, b.rt, 0.5f, &L1, c1, n1), 0);
            assert_int_equal(eisnet_model_backward(m1, w1, B), 0);
            float norm1 = eisnet_clip_grad_norm(eisnet_model_grads(m1), n, 0.01f); /* clips */
            eisnet_adamw_step(&o1, eisnet_model_params(m1), eisnet_model_grads(m1));
            assert_int_equal(eisnet_model_train_step(m2, w2, &o2, b.x, B, b.target, b.missing, b.rt,
                                                     0.5f, 0.01f, &r2, &L2, &norm2, c2, n2), 0);
            assert_memory_equal(n1, n2, sizeof n1);
            const float coef = eisnet_clip_coef(norm2, 0.01f);
            assert_true(coef < 1.0f);
            assert_true(fabs(L1.loss - L2.loss) <= 1e-6 * fabs(L1.loss));
            assert_true(fabsf(norm1 - norm2) <= 1e-5f * norm1);
            float worst = 0.0f;
            for (size_t i = 0; i < n; i++) {
                const float p1 = eisnet_model_params(m1)[i], p2 = eisnet_model_params(m2)[i];
                const float g1 = eisnet_model_grads(m1)[i], g2 = eisnet_model_grads(m2)[i] * coef;
                /* Adam's step is ~lr per parameter whatever the gradient's
                 * size, so parameters compare absolutely against lr */
                assert_true(fabsf(p1 - p2) <= 1e-6f + 1e-5f * fabsf(p1));
                const float e = fabsf(g1 - g2) / (1e-6f + fabsf(g1));
                if (fabsf(g1) > 1e-4f * norm1 && e > worst) worst = e;
            }
            assert_true(worst <= 1e-3f);
        }
        assert_int_equal(r1, r2);
        /* the moments: on a device they stay there (the host copy is stale)
         * until eisnet_model_optimizer_to_host, which a checkpoint needs */
        double stale = 0.0, fresh = 0.0, scale = 0.0;
        for (size_t i = 0; i < 2 * n; i++) {
            stale = fmax(stale, fabsf(o1.m[i] - o2.m[i]));
            scale = fmax(scale, fabsf(o1.m[i]));
        }
        assert_int_equal(eisnet_model_optimizer_to_host(m2, &o2), 0);
        for (size_t i = 0; i < 2 * n; i++) fresh = fmax(fresh, fabsf(o1.m[i] - o2.m[i]));
        if (be == 2) assert_true(stale > 0.1 * scale);
        assert_true(fresh <= 1e-3 * scale);
        eisnet_adamw_free(&o1);
        eisnet_adamw_free(&o2);
        free_batch(&b);
        eisnet_workspace_free(w1);
        eisnet_workspace_free(w2);
        eisnet_model_free(m1);
        eisnet_model_free(m2);
    }
    /* errors */
    eisnet_model *m = eisnet_model_new(&c, 5);
    eisnet_workspace *ws = eisnet_workspace_new(m, 4);
    eisnet_adamw o;
    assert_int_equal(eisnet_adamw_init(&o, 3, NULL), 0);
    float x[10] = {0};
    assert_int_equal(eisnet_model_train_step(m, ws, &o, x, 1, NULL, NULL, NULL, 0.5f, 1.0f, NULL,
                                             NULL, NULL, NULL, NULL), -1);
    assert_int_equal(eisnet_model_train_step(m, ws, NULL, x, 1, NULL, NULL, NULL, 0.5f, 1.0f, NULL,
                                             NULL, NULL, NULL, NULL), -1);
    eisnet_adamw_free(&o);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

static void test_predict_one(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(10, 5, 12);
    c.hidden = 128;
    eisnet_model *m = eisnet_model_new(&c, 4);
    eisnet_workspace *ws1 = eisnet_workspace_new(m, 1), *ws16 = eisnet_workspace_new(m, 16);
    g_rng = 12;
    batch b = make_batch(&c, 16);
    float p1[60], r1, p16[16 * 60], r16[16];
    assert_int_equal(eisnet_model_predict(m, ws16, b.x, 16, p16, r16), 0); /* packed-heads path */
    for (int i = 0; i < 16; i++) {
        assert_int_equal(eisnet_model_predict_one(m, ws1, b.x + i * 10, NULL, p1, &r1), 0);
        for (int j = 0; j < 60; j++) assert_true(fabsf(p1[j] - p16[i * 60 + j]) <= 1e-5f);
        assert_true(fabsf(r1 - r16[i]) <= 1e-5f * (1.0f + fabsf(r16[i])));
    }
    free_batch(&b);
    eisnet_workspace_free(ws1);
    eisnet_workspace_free(ws16);
    eisnet_model_free(m);
}

/* predict_masked evaluates only the selected heads: their probabilities
 * equal predict's, the others are 0; both backends, 1 row and a batch split
 * over threads, every row selection pattern (none, some, all) */
static void test_predict_masked(void **state)
{
    (void)state;
    eisnet_model_config c = eisnet_model_config_default(10, 5, 12);
    c.hidden = 128;
    const char *backends[3] = {"ref", "cpu", "device"};
    for (int be = 0; be < 3; be++) {
        eisnet_model *m = eisnet_model_new(&c, 4);
        use_backend(m, backends[be], 2);
        const int B = 97;
        eisnet_workspace *ws = eisnet_workspace_new(m, B), *ws1 = eisnet_workspace_new(m, 1);
        g_rng = 21;
        batch b = make_batch(&c, B);
        for (int i = 0; i < 5; i++) b.missing[2 * 5 + i] = 1; /* row 2: all heads */
        float *pa = malloc(sizeof(float) * B * 60), *pm = malloc(sizeof(float) * B * 60);
        float ra[97], rm[97], p1[60], r1;
        assert_non_null(pa);
        assert_non_null(pm);
        assert_int_equal(eisnet_model_predict(m, ws, b.x, B, pa, ra), 0);
        assert_int_equal(eisnet_model_predict_masked(m, ws, b.x, B, b.missing, pm, rm), 0);
        for (int i = 0; i < B; i++) {
            assert_true(fabsf(ra[i] - rm[i]) <= 1e-5f * (1.0f + fabsf(ra[i])));
            assert_int_equal(eisnet_model_predict_one(m, ws1, b.x + i * 10, b.missing + i * 5, p1, &r1), 0);
            assert_true(fabsf(ra[i] - r1) <= 1e-5f * (1.0f + fabsf(ra[i])));
            for (int k = 0; k < 5; k++) {
                const float *want = pa + (i * 5 + k) * 12, *got = pm + (i * 5 + k) * 12;
                const float *one = p1 + k * 12;
                for (int g = 0; g < 12; g++) {
                    if (b.missing[i * 5 + k]) {
                        assert_true(fabsf(want[g] - got[g]) <= 1e-5f);
                        assert_true(fabsf(want[g] - one[g]) <= 1e-5f);
                    } else {
                        assert_true(got[g] == 0.0f && one[g] == 0.0f);
                    }
                }
            }
        }
        free(pa);
        free(pm);
        free_batch(&b);
        eisnet_workspace_free(ws);
        eisnet_workspace_free(ws1);
        eisnet_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_count_and_names),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_gradcheck_loss),
        cmocka_unit_test(test_gradcheck_network_ref),
        cmocka_unit_test(test_gradcheck_network_cpu),
        cmocka_unit_test(test_trajectory_ref_vs_cpu),
        cmocka_unit_test(test_thread_split_same_grads),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_learns_and_counts),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_small_batches_fast_vs_ref),
        cmocka_unit_test(test_train_step_matches_calls),
        cmocka_unit_test(test_predict_one),
        cmocka_unit_test(test_predict_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
