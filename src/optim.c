/* AdamW, clip_grad_norm and ReduceLROnPlateau as in PyTorch 1.13. */
#include "eisnet/optim.h"

#include <math.h>
#include <stdlib.h>

#include "eisnet/error.h"
#include "eisnet/kernels.h"

/* Parallel loops pay off only for big arrays. */
#define PAR_MIN 65536

eisnet_adamw_config eisnet_adamw_config_default(void)
{
    eisnet_adamw_config c = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
    return c;
}

int eisnet_adamw_init(eisnet_adamw *opt, size_t n, const eisnet_adamw_config *cfg)
{
    if (!opt) return eisnet_set_error("adamw: NULL optimizer");
    opt->cfg = cfg ? *cfg : eisnet_adamw_config_default();
    opt->n = n;
    opt->step = 0;
    opt->m = calloc(2 * (n ? n : 1), sizeof(float));
    opt->v = opt->m ? opt->m + n : NULL;
    if (!opt->m) return eisnet_set_error("adamw: out of memory for %zu parameters", n);
    return 0;
}

void eisnet_adamw_free(eisnet_adamw *opt)
{
    if (!opt) return;
    free(opt->m);
    opt->m = opt->v = NULL;
}

void eisnet_adamw_step(eisnet_adamw *opt, float *params, const float *grads)
{
    const eisnet_adamw_config c = opt->cfg;
    opt->step++;
    /* the scalars are Python floats (double) in torch */
    const double bc1 = 1.0 - pow((double)c.beta1, (double)opt->step);
    const double bc2 = 1.0 - pow((double)c.beta2, (double)opt->step);
    const float step_size = (float)((double)c.lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - (double)c.lr * (double)c.weight_decay);
    const float b1 = c.beta1, b2 = c.beta2, omb1 = 1.0f - c.beta1, omb2 = 1.0f - c.beta2;
    const size_t n = opt->n;
    float *m = opt->m, *v = opt->v;
    (void)PAR_MIN;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for simd num_threads(eisnet_get_threads()) if (n >= PAR_MIN) schedule(static)
#endif
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float p = params[i] * decay;
        float mi = m[i] * b1 + g * omb1;
        float vi = v[i] * b2 + g * g * omb2;
        m[i] = mi;
        v[i] = vi;
        params[i] = p - step_size * (mi / (sqrtf(vi) / bc2_sqrt + c.eps));
    }
}

float eisnet_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    double ss = 0.0;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for simd num_threads(eisnet_get_threads()) if (n >= PAR_MIN) reduction(+ : ss)
#endif
    for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    const float norm = (float)sqrt(ss);
    const float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) {
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for simd num_threads(eisnet_get_threads()) if (n >= PAR_MIN)
#endif
        for (size_t i = 0; i < n; i++) grads[i] *= coef;
    }
    return norm;
}

void eisnet_plateau_init(eisnet_plateau *s)
{
    s->factor = 0.1f;
    s->patience = 5;
    s->threshold = 1e-4;
    s->cooldown = 0;
    s->min_lr = 0.0f;
    s->best = INFINITY;
    s->num_bad_epochs = 0;
    s->cooldown_counter = 0;
}

int eisnet_plateau_step(eisnet_plateau *s, double metric, float *lr)
{
    int reduced = 0;
    if (metric < s->best * (1.0 - s->threshold)) {
        s->best = metric;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0;
    }
    if (s->num_bad_epochs > s->patience) {
        double old_lr = *lr;
        double new_lr = fmax(old_lr * (double)s->factor, (double)s->min_lr);
        if (old_lr - new_lr > 1e-8) {
            *lr = (float)new_lr;
            reduced = 1;
        }
        s->cooldown_counter = s->cooldown;
        s->num_bad_epochs = 0;
    }
    return reduced;
}
