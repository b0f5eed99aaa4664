/* The loss on host memory, shared by the reference and CPU backends and by
 * eisnet_loss_compute: per row, the mean cross-entropy over the row's
 * missing heads, plus the squared error of the resnorm head. */
#include "backend_internal.h"

#include <math.h>
#include <string.h>

#include "eisnet/error.h"

/* Cross-entropy of one head's logits against class t via a stable
 * log-softmax; writes (softmax - onehot) * gscale into dl; returns CE and
 * whether argmax == t. */
static double ce_head(const float *lg, int G, int t, float gscale, float *dl, int *hit)
{
    float mx = lg[0];
    int arg = 0;
    for (int g = 1; g < G; g++)
        if (lg[g] > mx) { mx = lg[g]; arg = g; }
    /* exp once per class (the classes fit a small buffer; else recompute) */
    double e[64];
    const int keep = G <= 64;
    double sum = 0.0;
    for (int g = 0; g < G; g++) {
        double eg = exp((double)(lg[g] - mx));
        if (keep) e[g] = eg;
        sum += eg;
    }
    double lse = (double)mx + log(sum);
    if (dl) {
        const double inv = 1.0 / sum;
        for (int g = 0; g < G; g++) {
            double pg = keep ? e[g] * inv : exp((double)lg[g] - lse);
            dl[g] = (float)((pg - (g == t)) * gscale);
        }
    }
    *hit = arg == t;
    return lse - (double)lg[t];
}

int eisnet_xent_check_targets(const int32_t *target, const uint8_t *missing, int B, int P, int G)
{
    for (int i = 0; i < B * P; i++)
        if (missing[i] && (target[i] < 0 || target[i] >= G))
            return eisnet_set_error("loss: target %d of row %d head %d outside 0..%d",
                                    (int)target[i], i / P, i % P, G - 1);
    return 0;
}

void eisnet_xent_host(const eisnet_xent_args *a, eisnet_xent_result *r, int threads)
{
    const int B = a->B, P = a->P, G = a->G;
    const float *logits = a->logits, *resnorm = a->resnorm, *rt = a->resnorm_target;
    const int32_t *target = a->target;
    const uint8_t *missing = a->missing;
    float *dlogits = a->dlogits, *dresnorm = a->dresnorm;
    const float rw = a->resnorm_weight;
    double ce_sum = 0.0, se_sum = 0.0;
    /* per-head counts on the stack: the model allows at most 1000 heads */
    int64_t hits[2 * 1000];
    const int np = P < 1000 ? P : 1000;
    memset(hits, 0, (size_t)2 * np * sizeof *hits);
    int64_t *h = hits, *c = hits + np;
    (void)threads;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static) if (threads > 1) \
    reduction(+ : ce_sum, se_sum) reduction(+ : h[:np], c[:np])
#endif
    for (int b = 0; b < B; b++) {
        int n_miss = 0;
        for (int k = 0; k < P; k++) n_miss += missing[(size_t)b * P + k] != 0;
        double row = 0.0;
        for (int k = 0; k < P; k++) {
            const size_t i = (size_t)b * P + k;
            float *dl = dlogits ? dlogits + i * G : NULL;
            if (!missing[i]) {
                if (dl) memset(dl, 0, (size_t)G * sizeof(float));
                continue;
            }
            int hit;
            row += ce_head(logits + i * G, G, target[i], 1.0f / ((float)n_miss * B), dl, &hit);
            if (k < np) {
                h[k] += hit;
                c[k] += 1;
            }
        }
        if (n_miss) ce_sum += row / n_miss;
        float d = resnorm[b] - rt[b];
        se_sum += (double)d * d;
        if (dresnorm) dresnorm[b] = rw * 2.0f * d / (float)B;
    }
    r->ce_sum = ce_sum;
    r->se_sum = se_sum;
    for (int k = 0; k < np; k++) {
        if (r->hits) r->hits[k] += h[k];
        if (r->counted) r->counted[k] += c[k];
    }
}
