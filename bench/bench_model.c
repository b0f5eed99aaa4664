/* Training and inference speed of the network (H 512), next to PyTorch.
 *
 *   bench_model [n_in [hidden [seconds]]] [--no-torch] [--steps N] [--matmul bf16|fp32]
 *               (defaults 10 512 1.0; --steps: PyTorch training steps, 30)
 *
 * Reports, for the fast CPU backend ("cpu"):
 *   - the sgemm peak of this machine: a 512x512x512 product in a loop on one
 *     thread, and one such loop per thread on 2 threads (the way the model
 *     uses the cores: one product per thread on its own rows);
 *   - training at batch 512 (eisnet_model_train_step: forward with dropout,
 *     loss, backward, clip_grad_norm 1.0, AdamW) with 1 and 2 threads;
 *   - single prediction (eisnet_model_predict_one, batch 1, softmax);
 *   - batch-256 prediction with 1 and 2 threads;
 *   - online update: train_step on ONE sample, one thread.
 * Every figure is the MEDIAN over timed calls after warm-up (the machines are
 * shared; the median shrugs off another process's bursts), as in
 * bench/pytorch_reference.py, which does the same work in PyTorch: same
 * shapes, same data layout (exactly 2 of 5 parameters missing per row), same
 * optimizer steps. When `/usr/bin/python3 -c 'import torch'` works, that
 * script runs in the same process tree right after, and a Markdown table puts
 * both side by side. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "eisnet/error.h"
#include "eisnet/backend.h"
#include "eisnet/model.h"
#include "eisnet/optim.h"

#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rs = 1;
static float frand(void) /* uniform in [-1, 1) */
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rs >> 40) / 8388608.0 - 1.0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* multiply-adds of the linear layers per sample (forward) */
/* multiply-adds of one row through the network, with n_heads of the
 * parameter heads evaluated (eisnet runs only the missing parameters' heads:
 * 2 of 5 here; PyTorch runs all 5) */
static double macs_per_sample(const eisnet_model_config *c, int n_heads)
{
    double H = c->hidden, H2 = c->hidden / 2;
    return c->n_in * H + H * H2 + H2 * 128 + n_heads * (128.0 * 64 + 64.0 * c->n_grid) + 128.0 * 64 + 64;
}

/* FLOPs of one training sample: forward, weight gradients, and input
 * gradients of every Linear except the first (2 flops per multiply-add) */
static double train_flop(const eisnet_model_config *c, int n_heads)
{
    return 2.0 * (3.0 * macs_per_sample(c, n_heads) - (double)c->n_in * c->hidden);
}

/* the precision of the products (--matmul bf16: bfloat16 on AMX tiles) */
static eisnet_matmul g_matmul = EISNET_MATMUL_FP32;

/* the model on a CPU backend with T threads (the previous one freed) */
static void set_threads(eisnet_model *m, eisnet_backend **be, int T)
{
    const eisnet_backend_options bo = {.threads = T, .matmul = g_matmul};
    eisnet_backend *nb = eisnet_backend_new("cpu", &bo);
    if (!nb || eisnet_model_set_backend(m, nb) != 0) {
        fprintf(stderr, "bench_model: %s\n", eisnet_last_error());
        exit(1);
    }
    eisnet_backend_free(*be);
    *be = nb;
}

/* GFLOP/s of a 512^3 product loop at the asked precision, one independent
 * loop per thread (the backend's gemm is single-threaded) */
static double sgemm_peak(int threads, double secs)
{
    const int n = 512;
    const eisnet_backend_options bo = {.threads = 1, .matmul = g_matmul};
    eisnet_backend *cpu = eisnet_backend_new("cpu", &bo);
    if (!cpu) return 0.0;
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        long calls = 0;
        double t0 = now();
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : calls)
#endif
        {
            float *A = malloc(sizeof(float) * n * n), *Bm = malloc(sizeof(float) * n * n),
                  *C = calloc((size_t)n * n, sizeof(float));
            if (A && Bm && C) {
                for (int i = 0; i < n * n; i++) A[i] = Bm[i] = 1e-3f * (float)(i % 17);
                double ts = now();
                while (now() - ts < secs / 3) {
                    cpu->ops->gemm(cpu, 0, 0, n, n, n, A, n, Bm, n, 1.0f, C, n);
                    calls++;
                }
            }
            free(A); free(Bm); free(C);
        }
        double el = now() - t0;
        double g = 2.0 * n * n * (double)n * (double)calls / el / 1e9;
        if (g > best) best = g;
    }
    (void)threads;
    eisnet_backend_free(cpu);
    return best;
}

typedef struct {
    double sgemm[2];           /* GFLOP/s, 1 and 2 threads */
    double train[2];           /* samples/s, 1 and 2 threads */
    double predict1_us;
    double batch256[2];        /* samples/s */
    double online_ms;
} results;

int main(int argc, char **argv)
{
    int pos[3] = {10, 512, 0}, npos = 0, torch = 1, torch_steps = 30;
    double secs = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-torch") == 0) torch = 0;
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) torch_steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--matmul") == 0 && i + 1 < argc) {
            if (eisnet_matmul_parse(argv[++i], "--matmul", &g_matmul) != 0) {
                fprintf(stderr, "bench_model: %s\n", eisnet_last_error());
                return 2;
            }
            g_matmul = eisnet_backend_matmul_for("cpu", g_matmul);
        }
        else if (npos == 2) secs = atof(argv[i]), npos++;
        else if (npos < 2) pos[npos++] = atoi(argv[i]);
    }
    const int n_in = pos[0], hidden = pos[1], B = 512;
    eisnet_model_config c = eisnet_model_config_default(n_in, 5, 12);
    c.hidden = hidden;
    eisnet_model *m = eisnet_model_new(&c, 1);
    eisnet_backend *be = NULL;
    eisnet_workspace *ws = m ? eisnet_workspace_new(m, B) : NULL;
    if (!ws) {
        fprintf(stderr, "bench_model: %s\n", eisnet_last_error());
        return 1;
    }
    float *x = malloc(sizeof(float) * B * n_in), *rt = malloc(sizeof(float) * B);
    int32_t *target = malloc(sizeof(int32_t) * B * 5);
    uint8_t *missing = calloc((size_t)B * 5, 1);
    float *probs = malloc(sizeof(float) * B * 5 * 12), *res = malloc(sizeof(float) * B);
    for (int i = 0; i < B * n_in; i++) x[i] = frand();
    for (int i = 0; i < B; i++) rt[i] = frand();
    for (int i = 0; i < B * 5; i++) target[i] = (int32_t)((frand() + 1.0f) * 6.0f) % 12;
    for (int b = 0; b < B; b++) { /* exactly 2 of 5 missing */
        int k1 = (int)((frand() + 1.0f) * 2.5f) % 5, k2 = (k1 + 1 + (int)((frand() + 1.0f) * 2.0f) % 4) % 5;
        missing[b * 5 + k1] = missing[b * 5 + k2] = 1;
    }
    eisnet_adamw opt;
    if (eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL)) return 1;
    const double flop = train_flop(&c, 2), flop_all = train_flop(&c, c.n_params);
    results R;
    memset(&R, 0, sizeof R);
    printf("network n_in %d, H %d: %zu parameters, %.3f MFLOP per training sample, %.3f MFLOP per "
           "prediction with the 2 missing parameters' heads (all 5 heads, as PyTorch: %.3f / %.3f), "
           "backend %s, products in %s, %d threads available\n", n_in, hidden, eisnet_model_n_params(m), flop / 1e6,
           2e-6 * macs_per_sample(&c, 2), flop_all / 1e6, 2e-6 * macs_per_sample(&c, c.n_params),
           eisnet_backend_name(eisnet_model_get_backend(m)), eisnet_matmul_name(g_matmul), eisnet_cpu_threads(0));

    for (int t = 0; t < 2; t++) {
        R.sgemm[t] = sgemm_peak(t + 1, secs);
        printf("products 512x512x512 (%s), %d thread(s): %6.1f GFLOP/s\n", eisnet_matmul_name(g_matmul), t + 1,
               R.sgemm[t]);
    }

    uint64_t rng = 1;
    enum { MAXN = 20000 };
    double *ts = malloc(sizeof(double) * MAXN);
    for (int t = 0; t < 2; t++) {
        set_threads(m, &be, t + 1);
        for (int i = 0; i < 3; i++) /* warm-up */
            eisnet_model_train_step(m, ws, &opt, x, B, target, missing, rt, 0.5f, 1.0f, &rng,
                                    NULL, NULL, NULL, NULL);
        int n = 0;
        for (double t0 = now(); n < MAXN && (n < 20 || now() - t0 < secs); n++) {
            double s = now();
            eisnet_model_train_step(m, ws, &opt, x, B, target, missing, rt, 0.5f, 1.0f, &rng,
                                    NULL, NULL, NULL, NULL);
            ts[n] = now() - s;
        }
        double med = median(ts, n), best = ts[0];
        R.train[t] = B / med;
        printf("train step, batch %d, %d thread(s): %9.0f samples/s  %6.1f GFLOP/s = %3.0f%% of the "
               "sgemm loop  (median %.3f ms/step over %d; fastest %.3f)\n", B, t + 1, R.train[t],
               R.train[t] * flop / 1e9, 100.0 * R.train[t] * flop / 1e9 / R.sgemm[t], 1e3 * med, n,
               1e3 * best);
    }

    { /* single prediction */
        int n = 0;
        for (int i = 0; i < 200; i++) eisnet_model_predict_one(m, ws, x + (i % B) * n_in, missing + (i % B) * 5, probs, res);
        for (double t0 = now(); n < MAXN && (n < 1000 || now() - t0 < secs / 2); n++) {
            double s = now();
            eisnet_model_predict_one(m, ws, x + (n % B) * n_in, missing + (n % B) * 5, probs, res);
            ts[n] = now() - s;
        }
        R.predict1_us = 1e6 * median(ts, n);
        printf("predict, batch 1: median %.2f us per call (%d calls; fastest %.2f us)\n", R.predict1_us,
               n, 1e6 * ts[0]);
    }
    for (int t = 0; t < 2; t++) {
        set_threads(m, &be, t + 1);
        int n = 0;
        for (int i = 0; i < 10; i++) eisnet_model_predict_masked(m, ws, x, 256, missing, probs, res);
        for (double t0 = now(); n < MAXN && (n < 50 || now() - t0 < secs / 2); n++) {
            double s = now();
            eisnet_model_predict_masked(m, ws, x, 256, missing, probs, res);
            ts[n] = now() - s;
        }
        R.batch256[t] = 256.0 / median(ts, n);
        printf("predict, batch 256, %d thread(s): %9.0f samples/s  %6.1f GFLOP/s\n", t + 1,
               R.batch256[t], R.batch256[t] * 2e-9 * macs_per_sample(&c, 2));
    }
    { /* online update: one sample, one thread */
        set_threads(m, &be, 1);
        int n = 0;
        for (int i = 0; i < 30; i++)
            eisnet_model_train_step(m, ws, &opt, x, 1, target, missing, rt, 0.5f, 1.0f, &rng, NULL,
                                    NULL, NULL, NULL);
        for (double t0 = now(); n < MAXN && (n < 300 || now() - t0 < secs / 2); n++) {
            double s = now();
            eisnet_model_train_step(m, ws, &opt, x + (n % B) * n_in, 1, target + (n % B) * 5,
                                    missing + (n % B) * 5, rt + n % B, 0.5f, 1.0f, &rng, NULL, NULL,
                                    NULL, NULL);
            ts[n] = now() - s;
        }
        R.online_ms = 1e3 * median(ts, n);
        printf("online update (1 sample: forward, backward, clip, AdamW), 1 thread: median %.4f ms\n",
               R.online_ms);
    }
    free(ts);

    /* PyTorch, same run */
    cJSON *pt = NULL;
    if (torch && system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) {
        char dir[1024], cmd[1400];
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, "bench");
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/pytorch_reference.py' --n_in %d --hidden %d "
                 "--steps %d --threads 1,2", dir, n_in, hidden, torch_steps);
        fflush(stdout);
        FILE *p = popen(cmd, "r");
        if (p) {
            size_t cap = 1 << 16, len = 0;
            char *buf = malloc(cap);
            size_t got;
            while (buf && (got = fread(buf + len, 1, cap - 1 - len, p)) > 0) len += got;
            int rc = pclose(p);
            if (buf) {
                buf[len] = 0;
                if (rc == 0) pt = cJSON_Parse(buf);
                if (!pt) fprintf(stderr, "bench_model: PyTorch script failed (rc %d): %.200s\n", rc, buf);
            }
            free(buf);
        }
    } else if (torch) {
        printf("(no PyTorch: /usr/bin/python3 -c 'import torch' failed; eisnet figures only)\n");
    }
    if (pt) {
#define PTV(key, th) cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(pt, key), th))
        cJSON *ver = cJSON_GetObjectItem(pt, "torch_version");
        printf("\nnetwork 1.8, n_in %d, H %d; eisnet %s vs PyTorch %s (CPU), same run; medians\n\n",
               n_in, hidden, "cpu", cJSON_IsString(ver) ? ver->valuestring : "?");
        printf("| measurement | eisnet | PyTorch | eisnet / PyTorch |\n|---|---:|---:|---:|\n");
        const char *th[2] = {"1", "2"};
        for (int t = 0; t < 2; t++) {
            double v = PTV("train_samples_per_s", th[t]);
            printf("| training, batch 512, %d thread(s), samples/s | %.0f | %.0f | %.2f |\n", t + 1,
                   R.train[t], v, R.train[t] / v);
        }
        double v1 = PTV("predict1_us", "1"), v2 = PTV("predict1_us", "2");
        double vb = v1 < v2 ? v1 : v2;
        printf("| single prediction (batch 1), us (PyTorch: better of 1/2 threads) | %.2f | %.1f | %.3f |\n",
               R.predict1_us, vb, R.predict1_us / vb);
        for (int t = 0; t < 2; t++) {
            double v = PTV("batch256_samples_per_s", th[t]);
            printf("| inference, batch 256, %d thread(s), samples/s | %.0f | %.0f | %.2f |\n", t + 1,
                   R.batch256[t], v, R.batch256[t] / v);
        }
        double vo = PTV("online_update_ms", "1");
        printf("| online update, 1 sample, 1 thread, ms | %.4f | %.3f | %.3f |\n", R.online_ms, vo,
               R.online_ms / vo);
        printf("\n(ratios above 1 are eisnet faster for samples/s rows, slower for the time rows)\n");
        cJSON_Delete(pt);
#undef PTV
    }

    eisnet_adamw_free(&opt);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
    eisnet_backend_free(be);
    free(x); free(rt); free(target); free(missing); free(probs); free(res);
    return 0;
}
