/* bench_cuda: the network on a GPU against the CPU in the same run.
 *
 *   bench_cuda [--quick] [--out FILE]
 *
 * Prints a markdown table: training throughput of the reference network
 * (hidden 512, 5 heads of 12 classes) at batch 512 and larger, on the GPU
 * and on the CPU (2 threads and all cores); the matrix products of one
 * batch-512 step, each shape timed alone against cuBLAS's rate on a large
 * square product; inference throughput by batch size (where the GPU
 * overtakes the CPU) and single-prediction latency; the online update (a
 * training step on one row). Without a usable GPU it prints "SKIP: <reason>"
 * and exits 77. bench/cuda_check.sh runs it. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/nn/cuda_ops.h"
#include "eisnet/backend.h"
#include "eisnet/cuda.h"
#include "eisnet/error.h"
#include "eisnet/kernels.h"
#include "eisnet/model.h"
#include "eisnet/optim.h"
#include "eisnet/progress.h"

#define P 5
#define G 12

static FILE *out_file;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (out_file) {
        va_start(ap, fmt);
        vfprintf(out_file, fmt, ap);
        va_end(ap);
    }
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    int i = (int)(q * (n - 1) + 0.5);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

typedef struct {
    int B, n_in;
    float *x, *rt;
    int32_t *t;
    uint8_t *miss;
} batch;

static uint64_t lcg = 99;
static float frand(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(lcg >> 40) / 8388608.0 - 1.0);
}

/* two missing parameters per row, as the reference's training data */
static batch make_batch(int B, int n_in)
{
    batch b = {B, n_in, malloc(sizeof(float) * (size_t)B * n_in), malloc(sizeof(float) * B),
               malloc(sizeof(int32_t) * (size_t)B * P), malloc((size_t)B * P)};
    if (!b.x || !b.rt || !b.t || !b.miss) {
        fprintf(stderr, "bench_cuda: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)B * n_in; i++) b.x[i] = frand();
    for (int r = 0; r < B; r++) {
        b.rt[r] = frand();
        for (int k = 0; k < P; k++) {
            b.t[r * P + k] = (int32_t)((frand() + 1.0f) * 6.0f) % G;
            b.miss[r * P + k] = 0;
        }
        int a = r % P, c = (a + 1 + r / P % (P - 1)) % P;
        b.miss[r * P + a] = b.miss[r * P + c] = 1;
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->x);
    free(b->rt);
    free(b->t);
    free(b->miss);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_cuda: %s: %s\n", what, eisnet_last_error());
    exit(1);
}

/* GPU training: samples per second at batch B (whole steps, each ending with
 * the loss download), with or without CUDA graphs */
static double gpu_train_sps(eisnet_model *m, int B, int steps, int graphs)
{
    eisnet_cuda_net *net = eisnet_cuda_net_new(m, B);
    if (!net || eisnet_cuda_net_set_graphs(net, graphs)) die("device network");
    eisnet_adamw opt;
    if (eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL)) die("optimizer");
    batch b = make_batch(B, eisnet_model_get_config(m)->n_in);
    uint64_t rng = 7;
    eisnet_loss L;
    double t0 = 0.0;
    for (int i = 0; i < 10 + steps; i++) {
        if (i == 10) t0 = eisnet_now(); /* after the warm-up (cuBLAS picks its kernels) */
        if (eisnet_cuda_net_train_step(net, &opt, b.x, B, b.t, b.miss, b.rt, 0.5f, 1.0f, &rng, &L,
                                       NULL, NULL, NULL))
            die("train step");
    }
    const double dt = eisnet_now() - t0;
    free_batch(&b);
    eisnet_adamw_free(&opt);
    eisnet_cuda_net_free(net);
    return (double)B * steps / dt;
}

/* the model on a CPU backend of `threads` threads (0: all cores) */
static void use_cpu(eisnet_model *m, int threads)
{
    const eisnet_backend_options bo = {.threads = threads};
    eisnet_backend *be = eisnet_backend_new("cpu", &bo);
    if (!be || eisnet_model_set_backend(m, be)) die("cpu backend");
    eisnet_backend_free(be); /* the model keeps its reference */
}

static double cpu_train_sps(eisnet_model *m, int B, int threads, int steps)
{
    use_cpu(m, threads);
    eisnet_workspace *ws = eisnet_workspace_new(m, B);
    eisnet_adamw opt;
    if (!ws || eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL)) die("cpu model");
    batch b = make_batch(B, eisnet_model_get_config(m)->n_in);
    uint64_t rng = 7;
    double t0 = 0.0;
    for (int i = 0; i < 3 + steps; i++) {
        if (i == 3) t0 = eisnet_now();
        eisnet_model_train_step(m, ws, &opt, b.x, B, b.t, b.miss, b.rt, 0.5f, 1.0f, &rng, NULL, NULL,
                                NULL, NULL);
    }
    const double sps = (double)B * steps / (eisnet_now() - t0);
    free_batch(&b);
    eisnet_adamw_free(&opt);
    eisnet_workspace_free(ws);
    return sps;
}

/* the model's own passes on the cuda backend (what `--backend cuda` runs)
 * at batch 512 */
static void model_backend(eisnet_model *m0, int quick)
{
    const eisnet_model_config *c = eisnet_model_get_config(m0);
    eisnet_model *m = eisnet_model_new(c, 1);
    eisnet_backend *be = eisnet_backend_new("cuda", NULL);
    if (!m || !be || eisnet_model_set_backend(m, be)) die("cuda backend");
    eisnet_backend_free(be);
    const int B = 512, steps = quick ? 20 : 100;
    eisnet_workspace *ws = eisnet_workspace_new(m, B);
    eisnet_adamw opt;
    if (!ws || eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL)) die("cuda backend model");
    batch b = make_batch(B, c->n_in);
    uint64_t rng = 7;
    double t0 = 0.0;
    for (int i = 0; i < 5 + steps; i++) {
        if (i == 5) t0 = eisnet_now();
        if (eisnet_model_train_step(m, ws, &opt, b.x, B, b.t, b.miss, b.rt, 0.5f, 1.0f, &rng, NULL, NULL,
                                    NULL, NULL))
            die("train step on the cuda backend");
    }
    const double sps = (double)B * steps / (eisnet_now() - t0);
    emit("| GPU, the model through the backend (--backend cuda) | %d | %.3g | %.3f s |\n", B, sps,
         5e5 / sps);
    free_batch(&b);
    eisnet_adamw_free(&opt);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
}

/* ---- the products of one step, each shape alone ------------------------------ */

#ifdef EISNET_HAVE_CUDA
typedef struct {
    int ta, tb, M, N, K, count;
    const char *what;
} gemm_shape;

static double time_gemm(void *ctx, const gemm_shape *s, float *A, float *Bm, float *C, int reps)
{
    const eisnet_cu_ops *o = &eisnet_cu_ops_cuda;
    const int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    for (int i = 0; i < 3; i++) o->gemm(ctx, s->ta, s->tb, s->M, s->N, s->K, A, lda, Bm, ldb, 1.0f, C, s->N);
    if (o->check(ctx)) die("gemm");
    const double t0 = eisnet_now();
    for (int i = 0; i < reps; i++)
        o->gemm(ctx, s->ta, s->tb, s->M, s->N, s->K, A, lda, Bm, ldb, 1.0f, C, s->N);
    if (o->check(ctx)) die("gemm");
    return (eisnet_now() - t0) / reps;
}

static void products(int B, int n_in, int H, double step_s)
{
    const eisnet_cu_ops *o = &eisnet_cu_ops_cuda;
    char why[256];
    void *ctx = o->ctx_new(0, why, sizeof why);
    if (!ctx) {
        fprintf(stderr, "bench_cuda: %s\n", why);
        return;
    }
    const int H2 = H / 2, L = EISNET_LATENT, HH = EISNET_HEAD_HIDDEN;
    /* the products of src/nn/cuda.c's forward and backward at batch B */
    const gemm_shape shapes[] = {
        {0, 1, B, H, n_in, 1, "enc0 fwd"},     {0, 1, B, H2, H, 1, "enc4 fwd"},
        {0, 1, B, L, H2, 1, "enc8 fwd"},       {0, 1, B, HH, L, P + 1, "heads0 fwd"},
        {0, 1, B, G, HH, P, "heads3 fwd"},     {0, 0, B, HH, G, P, "heads3 dx"},
        {1, 0, G, HH, B, P, "heads3 dW"},      {1, 0, HH, L, B, P + 1, "heads0 dW"},
        {0, 0, B, L, HH, P + 1, "heads0 dx"},  {0, 0, B, H2, L, 1, "enc8 dx"},
        {1, 0, L, H2, B, 1, "enc8 dW"},        {0, 0, B, H, H2, 1, "enc4 dx"},
        {1, 0, H2, H, B, 1, "enc4 dW"},        {1, 0, H, n_in, B, 1, "enc0 dW"},
    };
    const size_t big = 8192;
    float *A = o->alloc(ctx, big * big * sizeof(float)), *Bm = o->alloc(ctx, big * big * sizeof(float));
    float *C = o->alloc(ctx, big * big * sizeof(float));
    if (!A || !Bm || !C) die("product buffers");
    const gemm_shape sq = {0, 1, (int)big, (int)big, (int)big, 1, "square"};
    const double t_sq = time_gemm(ctx, &sq, A, Bm, C, 5);
    const double peak = 2.0 * big * big * big / t_sq;
    emit("\n### Matrix products of one training step at batch %d (n_in %d)\n\n", B, n_in);
    emit("cuBLAS sgemm (no TF32) on %zu^3: %.1f TFLOP/s, the reference rate below.\n\n", big, peak / 1e12);
    emit("| product | shape (M x N x K, ta tb) | calls | time per call | TFLOP/s | of the reference rate |\n");
    emit("|---|---|---|---|---|---|\n");
    double total = 0.0, flops = 0.0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const gemm_shape *s = &shapes[i];
        const double t = time_gemm(ctx, s, A, Bm, C, 300);
        const double f = 2.0 * s->M * s->N * s->K;
        total += t * s->count;
        flops += f * s->count;
        emit("| %s | %d x %d x %d, %d %d | %d | %.1f us | %.2f | %.1f%% |\n", s->what, s->M, s->N, s->K,
             s->ta, s->tb, s->count, 1e6 * t, f / t / 1e12, 100.0 * f / t / peak);
    }
    emit("| all products of a step | | | %.1f us | %.2f | %.1f%% |\n", 1e6 * total, flops / total / 1e12,
         100.0 * flops / total / peak);
    emit("\nThe whole step takes %.1f us: products %.0f%%, the rest is the fused kernels, launch "
         "latency and the batch upload / loss download.\n",
         1e6 * step_s, 100.0 * total / step_s);
    o->release(ctx, A);
    o->release(ctx, Bm);
    o->release(ctx, C);
    o->ctx_free(ctx);
}
#else
static void products(int B, int n_in, int H, double step_s)
{
    (void)B, (void)n_in, (void)H, (void)step_s;
}
#endif

/* ---- inference and the update ------------------------------------------------ */

static double time_predict_gpu(eisnet_cuda_net *net, const batch *b, int B, float *probs, float *res,
                               int reps)
{
    double *ts = malloc(sizeof(double) * reps);
    for (int i = 0; i < 5 + reps; i++) {
        const double t0 = eisnet_now();
        if (eisnet_cuda_net_predict(net, b->x, B, b->miss, probs, res)) die("predict");
        if (i >= 5) ts[i - 5] = eisnet_now() - t0;
    }
    const double med = quantile(ts, reps, 0.5);
    free(ts);
    return med;
}

static double time_predict_cpu(eisnet_model *m, eisnet_workspace *ws, const batch *b, int B,
                               float *probs, float *res, int reps)
{
    double *ts = malloc(sizeof(double) * reps);
    for (int i = 0; i < 3 + reps; i++) {
        const double t0 = eisnet_now();
        eisnet_model_predict_masked(m, ws, b->x, B, b->miss, probs, res);
        if (i >= 3) ts[i - 3] = eisnet_now() - t0;
    }
    const double med = quantile(ts, reps, 0.5);
    free(ts);
    return med;
}

static void inference(eisnet_model *m, int quick)
{
    const int n_in = eisnet_model_get_config(m)->n_in, maxB = 4096;
    eisnet_cuda_net *net = eisnet_cuda_net_new(m, maxB);
    eisnet_workspace *ws = eisnet_workspace_new(m, maxB);
    if (!net || !ws) die("inference setup");
    batch b = make_batch(maxB, n_in);
    float *probs = malloc(sizeof(float) * maxB * P * G), *res = malloc(sizeof(float) * maxB);
    emit("\n### Inference (n_in %d, masked heads, probabilities and resnorm downloaded)\n\n", n_in);
    emit("| batch | GPU per batch | GPU samples/s | CPU (all cores) per batch | CPU samples/s | faster |\n");
    emit("|---|---|---|---|---|---|\n");
    int crossover = 0;
    for (int B = 1; B <= maxB; B *= 4) {
        const int Bq = B;
        const int reps = quick ? 20 : (Bq <= 64 ? 500 : 50);
        const double tg = time_predict_gpu(net, &b, Bq, probs, res, reps);
        const double tc = time_predict_cpu(m, ws, &b, Bq, probs, res, reps);
        if (!crossover && tg < tc) crossover = Bq;
        emit("| %d | %.1f us | %.3g | %.1f us | %.3g | %s |\n", Bq, 1e6 * tg, Bq / tg, 1e6 * tc, Bq / tc,
             tg < tc ? "GPU" : "CPU");
    }
    if (crossover)
        emit("\nThe GPU is faster from batch %d on (of 1, 4, 16, ...).\n", crossover);
    else
        emit("\nThe CPU was faster at every batch size measured.\n");
    /* single prediction latency: the distribution */
    const int n1 = quick ? 200 : 2000;
    double *ts = malloc(sizeof(double) * n1);
    use_cpu(m, 1);
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < 50 + n1; i++) {
            const double t0 = eisnet_now();
            if (side == 0) {
                if (eisnet_cuda_net_predict(net, b.x, 1, b.miss, probs, res)) die("predict");
            } else {
                eisnet_model_predict_one(m, ws, b.x, b.miss, probs, res);
            }
            if (i >= 50) ts[i - 50] = eisnet_now() - t0;
        }
        emit("%s single prediction: p50 %.1f us, p99 %.1f us\n", side == 0 ? "\nGPU" : "CPU (1 thread)",
             1e6 * quantile(ts, n1, 0.5), 1e6 * quantile(ts, n1, 0.99));
    }
    use_cpu(m, 0);
    free(ts);
    free(probs);
    free(res);
    free_batch(&b);
    eisnet_workspace_free(ws);
    eisnet_cuda_net_free(net);
}

static void update_latency(eisnet_model *m, int quick)
{
    const int n = quick ? 200 : 1000;
    eisnet_cuda_net *net = eisnet_cuda_net_new(m, 1);
    eisnet_workspace *ws = eisnet_workspace_new(m, 1);
    eisnet_adamw o1, o2;
    if (!net || !ws || eisnet_adamw_init(&o1, eisnet_model_n_params(m), NULL) ||
        eisnet_adamw_init(&o2, eisnet_model_n_params(m), NULL))
        die("update setup");
    batch b = make_batch(1, eisnet_model_get_config(m)->n_in);
    double *ts = malloc(sizeof(double) * n);
    uint64_t rng = 3;
    use_cpu(m, 1);
    emit("\n### Online update (one training step on one row, n_in %d)\n\n", b.n_in);
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < 30 + n; i++) {
            const double t0 = eisnet_now();
            if (side == 0) {
                if (eisnet_cuda_net_train_step(net, &o1, b.x, 1, b.t, b.miss, b.rt, 0.5f, 1.0f, &rng,
                                               NULL, NULL, NULL, NULL))
                    die("update");
            } else {
                eisnet_model_train_step(m, ws, &o2, b.x, 1, b.t, b.miss, b.rt, 0.5f, 1.0f, &rng, NULL,
                                        NULL, NULL, NULL);
            }
            if (i >= 30) ts[i - 30] = eisnet_now() - t0;
        }
        emit("%s: p50 %.3f ms, p99 %.3f ms\n", side == 0 ? "GPU" : "CPU (1 thread)",
             1e3 * quantile(ts, n, 0.5), 1e3 * quantile(ts, n, 0.99));
    }
    use_cpu(m, 0);
    free(ts);
    free_batch(&b);
    eisnet_adamw_free(&o1);
    eisnet_adamw_free(&o2);
    eisnet_workspace_free(ws);
    eisnet_cuda_net_free(net);
}

int main(int argc, char **argv)
{
    int quick = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else {
            fprintf(stderr, "bench_cuda: unknown argument '%s' (usage: bench_cuda [--quick] [--out FILE])\n",
                    argv[i]);
            return 2;
        }
    }
    char why[256];
    if (!eisnet_cuda_available(why, sizeof why)) {
        printf("SKIP: %s\n", why);
        return 77;
    }
    if (out && !(out_file = fopen(out, "w"))) {
        fprintf(stderr, "bench_cuda: cannot write --out %s\n", out);
        return 2;
    }
    char desc[256];
    eisnet_cuda_describe(desc, sizeof desc);
    emit("## eisnet on the GPU\n\nDevice: %s. CPU threads available: %d.\n", desc,
         eisnet_cpu_threads(0));
    const int n_ins[2] = {10, 110};
    for (int j = 0; j < 2; j++) {
        const int n_in = n_ins[j];
        eisnet_model_config cfg = eisnet_model_config_default(n_in, P, G);
        eisnet_model *m = eisnet_model_new(&cfg, 1);
        if (!m) die("model");
        emit("\n### Training, the reference network with n_in %d (%zu parameters)\n\n", n_in,
             eisnet_model_n_params(m));
        emit("| where | batch | samples/s | 500k-sample epoch |\n|---|---|---|---|\n");
        const int steps = quick ? 30 : 200;
        double sps512 = 0.0;
        for (int B = 512; B <= 8192; B *= 2)
            for (int graphs = 1; graphs >= 0; graphs--) {
                if (!graphs && B > 2048) continue;
                const double sps = gpu_train_sps(m, B, B >= 4096 ? steps / 4 + 5 : steps, graphs);
                if (B == 512 && graphs) sps512 = sps;
                emit("| GPU%s | %d | %.3g | %.3f s |\n", graphs ? ", graphs" : ", direct launches", B,
                     sps, 5e5 / sps);
            }
        if (j == 0) model_backend(m, quick);
        const double c2 = cpu_train_sps(m, 512, 2, quick ? 5 : 20);
        const double call = cpu_train_sps(m, 512, 0, quick ? 5 : 20);
        emit("| CPU, 2 threads | 512 | %.3g | %.2f s |\n", c2, 5e5 / c2);
        emit("| CPU, all threads | 512 | %.3g | %.2f s |\n", call, 5e5 / call);
        emit("\nGPU at batch 512: %.1fx the CPU on 2 threads, %.1fx on all threads.\n", sps512 / c2,
             sps512 / call);
        if (j == 0) products(512, n_in, cfg.hidden, 512.0 / sps512);
        if (j == 0) {
            inference(m, quick);
            update_latency(m, quick);
        }
        eisnet_model_free(m);
    }
    if (out_file) fclose(out_file);
    return 0;
}
