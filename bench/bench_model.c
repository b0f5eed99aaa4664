/* Training and inference speed of the SPEC 1.8 network.
 *
 *   bench_model [n_in [hidden [seconds]]]     (defaults 10 512 1.0)
 *
 * Reports, for the fast CPU backend: samples/s of a full training step
 * (forward with dropout, loss, backward, clip_grad_norm, AdamW) at batch 512
 * with 1 and 2 threads, the achieved GFLOP/s (counting 2 flops per
 * multiply-add of the linear layers, forward + both backward products),
 * batch-1 predict latency and batch-256 predict throughput. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "eisnet/error.h"
#include "eisnet/model.h"
#include "eisnet/optim.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rs = 1;
static float frand(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rs >> 40) / 8388608.0 - 1.0);
}

/* multiply-adds of the linear layers per sample (forward) */
static double macs_per_sample(const eisnet_model_config *c)
{
    double H = c->hidden, H2 = c->hidden / 2;
    return c->n_in * H + H * H2 + H2 * 128 + c->n_params * (128.0 * 64 + 64.0 * c->n_grid) + 128.0 * 64 + 64;
}

int main(int argc, char **argv)
{
    int n_in = argc > 1 ? atoi(argv[1]) : 10;
    int hidden = argc > 2 ? atoi(argv[2]) : 512;
    double secs = argc > 3 ? atof(argv[3]) : 1.0;
    const int B = 512;
    eisnet_model_config c = eisnet_model_config_default(n_in, 5, 12);
    c.hidden = hidden;
    eisnet_model *m = eisnet_model_new(&c, 1);
    eisnet_workspace *ws = m ? eisnet_workspace_new(m, B) : NULL;
    if (!ws) {
        fprintf(stderr, "bench_model: %s\n", eisnet_last_error());
        return 1;
    }
    float *x = malloc(sizeof(float) * B * n_in), *rt = malloc(sizeof(float) * B);
    int32_t *target = malloc(sizeof(int32_t) * B * 5);
    uint8_t *missing = malloc((size_t)B * 5);
    float *probs = malloc(sizeof(float) * B * 5 * 12), *res = malloc(sizeof(float) * B);
    for (int i = 0; i < B * n_in; i++) x[i] = frand();
    for (int i = 0; i < B; i++) rt[i] = frand();
    for (int i = 0; i < B * 5; i++) {
        target[i] = (int32_t)((frand() + 1.0f) * 6.0f) % 12;
        missing[i] = frand() > 0.2f;
    }
    eisnet_adamw opt;
    eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL);
    const double flop = 3.0 * 2.0 * macs_per_sample(&c); /* fwd + 2 bwd products */
    printf("network n_in %d, H %d: %zu parameters, %.3f MFLOP per training sample, backend %s\n",
           n_in, hidden, eisnet_model_n_params(m), flop / 1e6, eisnet_model_get_kernels(m)->name);

    /* The machines are shared: each figure is the best of 5 windows. */
    int thread_counts[2] = {1, 2};
    uint64_t rng = 1;
    for (int t = 0; t < 2; t++) {
        eisnet_set_threads(thread_counts[t]);
        double best = 0.0, worst = 1e30;
        for (int rep = -1; rep < 5; rep++) { /* rep -1: warm-up */
            long steps = 0;
            double t0 = now(), el = 0.0;
            for (; el < secs / 5 || steps < 3; steps++) {
                eisnet_model_zero_grad(m);
                eisnet_model_forward(m, ws, x, B, 1, &rng);
                eisnet_model_loss(m, ws, B, target, missing, rt, 0.5f, NULL, NULL, NULL);
                eisnet_model_backward(m, ws, B);
                eisnet_clip_grad_norm(eisnet_model_grads(m), eisnet_model_n_params(m), 1.0f);
                eisnet_adamw_step(&opt, eisnet_model_params(m), eisnet_model_grads(m));
                el = now() - t0;
            }
            double sps = (double)steps * B / el;
            if (rep >= 0 && sps > best) best = sps;
            if (rep >= 0 && sps < worst) worst = sps;
        }
        printf("train step, batch %d, %d thread(s): %9.0f samples/s  %6.1f GFLOP/s  (%.3f ms/step; "
               "slowest window %.0f/s)\n", B, eisnet_get_threads(), best, best * flop / 1e9,
               1e3 * B / best, worst);
    }
    eisnet_set_threads(0);

    /* batch-1 predict latency */
    {
        int n = 0;
        double t0 = now(), el = 0.0;
        for (; el < secs / 2 || n < 100; n++) {
            eisnet_model_predict(m, ws, x + (n % B) * n_in, 1, probs, res);
            el = now() - t0;
        }
        printf("predict, batch 1: %.1f us per call (%d threads)\n", 1e6 * el / n, eisnet_get_threads());
    }
    int thread_counts2[2] = {1, 2};
    for (int t = 0; t < 2; t++) {
        eisnet_set_threads(thread_counts2[t]);
        int n = 0;
        double t0 = now(), el = 0.0;
        for (; el < secs / 2 || n < 10; n++) {
            eisnet_model_predict(m, ws, x, 256, probs, res);
            el = now() - t0;
        }
        printf("predict, batch 256, %d thread(s): %9.0f samples/s\n", thread_counts2[t], 256.0 * n / el);
    }
    eisnet_adamw_free(&opt);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
    free(x); free(rt); free(target); free(missing); free(probs); free(res);
    return 0;
}
