/* AdamW, clip_grad_norm and ReduceLROnPlateau as in PyTorch 1.13. */
#include "eisnet/optim.h"

#include <math.h>
#include <stdlib.h>

#include "eisnet/error.h"


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

/* Element loops in AVX-512 / AVX2 / baseline clones picked at load time
 * (the arrays are 225k floats: vector width matters for sqrt and divide). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif
#ifdef EISNET_HAVE_OPENMP
#define PRAGMA(x) _Pragma(#x)
#define SIMD PRAGMA(omp simd)
#define SIMD_SUM(a) PRAGMA(omp simd reduction(+ : a))
#else
#define SIMD
#define SIMD_SUM(a)
#endif

typedef eisnet_adamw_consts adamw_consts;

MULTIVERSION
void eisnet_adamw_range(const adamw_consts *k, float *params, const float *grads, float *m,
                        float *v, size_t i0, size_t i1)
{
    const adamw_consts c = *k;
    SIMD
    for (size_t i = i0; i < i1; i++) {
        float g = grads[i] * c.grad_scale;
        float p = params[i] * c.decay;
        float mi = m[i] * c.b1 + g * c.omb1;
        float vi = v[i] * c.b2 + g * g * c.omb2;
        m[i] = mi;
        v[i] = vi;
        params[i] = p - c.step_size * (mi / (sqrtf(vi) / c.bc2_sqrt + c.eps));
    }
}

eisnet_adamw_consts eisnet_adamw_begin(eisnet_adamw *opt, float grad_scale)
{
    const eisnet_adamw_config c = opt->cfg;
    opt->step++;
    /* the scalars are Python floats (double) in torch */
    const double bc1 = 1.0 - pow((double)c.beta1, (double)opt->step);
    const double bc2 = 1.0 - pow((double)c.beta2, (double)opt->step);
    adamw_consts k;
    k.step_size = (float)((double)c.lr / bc1);
    k.bc2_sqrt = (float)sqrt(bc2);
    k.decay = (float)(1.0 - (double)c.lr * (double)c.weight_decay);
    k.b1 = c.beta1;
    k.b2 = c.beta2;
    k.omb1 = 1.0f - c.beta1;
    k.omb2 = 1.0f - c.beta2;
    k.eps = c.eps;
    k.grad_scale = grad_scale;
    return k;
}

void eisnet_adamw_update(eisnet_adamw *opt, const eisnet_adamw_consts *k, float *params,
                         const float *grads, size_t i0, size_t i1)
{
    if (i1 > opt->n) i1 = opt->n;
    if (i0 < i1) eisnet_adamw_range(k, params, grads, opt->m, opt->v, i0, i1);
}

void eisnet_adamw_step_scaled(eisnet_adamw *opt, float *params, const float *grads,
                              float grad_scale)
{
    const adamw_consts k = eisnet_adamw_begin(opt, grad_scale);
    eisnet_adamw_range(&k, params, grads, opt->m, opt->v, 0, opt->n);
}

void eisnet_adamw_step(eisnet_adamw *opt, float *params, const float *grads)
{
    eisnet_adamw_step_scaled(opt, params, grads, 1.0f);
}

MULTIVERSION
static double sumsq_range(const float *g, size_t i0, size_t i1)
{
    double ss = 0.0;
    SIMD_SUM(ss)
    for (size_t i = i0; i < i1; i++) ss += (double)g[i] * (double)g[i];
    return ss;
}

MULTIVERSION
static void scale_range(float *g, size_t i0, size_t i1, float coef)
{
    for (size_t i = i0; i < i1; i++) g[i] *= coef;
}

double eisnet_grad_sumsq(const float *grads, size_t i0, size_t i1)
{
    return i0 < i1 ? sumsq_range(grads, i0, i1) : 0.0;
}

float eisnet_grad_norm(const float *grads, size_t n)
{
    return (float)sqrt(eisnet_grad_sumsq(grads, 0, n));
}

float eisnet_clip_coef(float norm, float max_norm)
{
    const float coef = max_norm / (norm + 1e-6f);
    return coef < 1.0f ? coef : 1.0f;
}

float eisnet_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    const float norm = eisnet_grad_norm(grads, n);
    const float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) scale_range(grads, 0, n, coef);
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
