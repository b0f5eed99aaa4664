/* eisnet/optim.h: AdamW, gradient-norm clipping and ReduceLROnPlateau, each
 * behaving like its PyTorch counterpart (torch 1.13):
 *   torch.optim.AdamW, torch.nn.utils.clip_grad_norm_,
 *   torch.optim.lr_scheduler.ReduceLROnPlateau.
 * They work on flat float arrays (eisnet_model_params / _grads), on one
 * thread; the backends (eisnet/backend.h) run the same arithmetic on their
 * own threads or devices. */
#ifndef EISNET_OPTIM_H
#define EISNET_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float lr;           /* 1e-3 */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* 0.01, applied to every parameter (torch default) */
} eisnet_adamw_config;

eisnet_adamw_config eisnet_adamw_config_default(void);

typedef struct {
    eisnet_adamw_config cfg; /* cfg.lr may be changed between steps */
    size_t n;                /* number of parameters */
    int64_t step;            /* steps taken */
    float *m;                /* first moments, n floats  \ one allocation, */
    float *v;                /* second moments, n floats / v = m + n */
} eisnet_adamw;

/* Zeroed state for n parameters; cfg NULL = defaults. 0 / -1. */
int eisnet_adamw_init(eisnet_adamw *opt, size_t n, const eisnet_adamw_config *cfg);
void eisnet_adamw_free(eisnet_adamw *opt);
/* One update, as torch.optim.AdamW.step():
 *   step += 1; p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *   p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps) */
void eisnet_adamw_step(eisnet_adamw *opt, float *params, const float *grads);
/* The same update with every gradient multiplied by grad_scale as it is read
 * (grads itself is not changed): clip_grad_norm followed by adamw_step, in
 * one pass, is eisnet_adamw_step_scaled(opt, p, g, eisnet_clip_coef(
 * eisnet_grad_norm(g, n), max_norm)); bitwise the same parameters. */
void eisnet_adamw_step_scaled(eisnet_adamw *opt, float *params, const float *grads,
                              float grad_scale);

/* The same step for callers that run it inside their own thread team:
 * eisnet_adamw_begin advances the step count once and returns the step's
 * constants (grad_scale may be changed in the copy before use);
 * eisnet_adamw_update then updates elements [i0, i1). Any split of
 * [0, n) over update calls gives bitwise the parameters of
 * eisnet_adamw_step_scaled. */
typedef struct {
    float step_size, bc2_sqrt, decay, b1, b2, omb1, omb2, eps, grad_scale;
} eisnet_adamw_consts;
eisnet_adamw_consts eisnet_adamw_begin(eisnet_adamw *opt, float grad_scale);
void eisnet_adamw_update(eisnet_adamw *opt, const eisnet_adamw_consts *k, float *params,
                         const float *grads, size_t i0, size_t i1);
/* The update of elements [i0, i1) on explicit arrays (moments m, v): what
 * eisnet_adamw_update does with opt->m, opt->v, for backends that keep the
 * moments in their own memory. */
void eisnet_adamw_range(const eisnet_adamw_consts *k, float *params, const float *grads, float *m,
                        float *v, size_t i0, size_t i1);

/* torch.nn.utils.clip_grad_norm_: total L2 norm of grads; when
 * max_norm/(norm+1e-6) < 1 the grads are scaled by it. Returns the norm
 * before clipping. */
float eisnet_clip_grad_norm(float *grads, size_t n, float max_norm);
/* The total L2 norm alone (accumulated in double), and the factor
 * clip_grad_norm would scale by: min(1, max_norm / (norm + 1e-6)). */
float eisnet_grad_norm(const float *grads, size_t n);
/* The sum of squares of grads[i0, i1) in double: a piece of the norm. */
double eisnet_grad_sumsq(const float *grads, size_t i0, size_t i1);
float eisnet_clip_coef(float norm, float max_norm);

/* ReduceLROnPlateau, mode "min", threshold_mode "rel". */
typedef struct {
    float factor;    /* 0.1 */
    int patience;    /* 5 */
    double threshold; /* 1e-4 */
    int cooldown;    /* 0 */
    float min_lr;    /* 0 */
    double best;     /* +inf until the first step */
    int num_bad_epochs, cooldown_counter;
} eisnet_plateau;

void eisnet_plateau_init(eisnet_plateau *s); /* the defaults above */
/* Feed one epoch's validation metric; may lower *lr (to max(lr*factor,
 * min_lr), when that changes it by more than 1e-8). Returns 1 when it did. */
int eisnet_plateau_step(eisnet_plateau *s, double metric, float *lr);

#ifdef __cplusplus
}
#endif
#endif
