/* eisnet/model.h: the network of the Python reference (its layer structure and
 * state-dict names, so checkpoints load in PyTorch), sized by a config.
 *
 *   encoder   Linear(n_in,H) LayerNorm ReLU Dropout(d1)
 *             Linear(H,H/2) LayerNorm ReLU Dropout(d2) Linear(H/2,128)
 *   heads k   Linear(128,64) ReLU Dropout(dh) Linear(64,n_grid)   (logits)
 *   resnorm   Linear(128,64) ReLU Linear(64,1)
 *
 * Parameters live in ONE float array in PyTorch state-dict order (see the
 * tensor table below); gradients in a second array with the same layout.
 * Both, the AdamW moments and the workspaces' activations are memory of the
 * model's backend (eisnet/backend.h; the shared CPU backend until
 * eisnet_model_set_backend); every pass runs through the backend's ops.
 *
 * Typical training step:
 *     eisnet_model_zero_grad(m);
 *     eisnet_model_forward(m, ws, x, B, 1, &rng);
 *     eisnet_model_loss(m, ws, B, target, missing, resnorm_target, 0.5f, &L, correct, counted);
 *     eisnet_model_backward(m, ws, B);
 *     eisnet_clip_grad_norm(...); eisnet_adamw_step(...);      (eisnet/optim.h)
 *
 * Functions returning int return 0 on success, -1 with eisnet_last_error(). */
#ifndef EISNET_MODEL_H
#define EISNET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "eisnet/backend.h"
#include "eisnet/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EISNET_LATENT 128 /* encoder output width */
#define EISNET_HEAD_HIDDEN 64

typedef struct {
    int n_in;       /* 2*n_params (masked log10 params + mask) + n_features */
    int n_params;   /* circuit parameters = number of classification heads */
    int n_grid;     /* classes per head */
    int hidden;     /* H (even); encoder n_in -> H -> H/2 -> 128 */
    float dropout1, dropout2, dropout_head; /* 0.3, 0.2, 0.1 */
} eisnet_model_config;

/* The reference network's defaults: H 512, dropouts 0.3 / 0.2 / 0.1. */
eisnet_model_config eisnet_model_config_default(int n_in, int n_params, int n_grid);

typedef struct eisnet_model eisnet_model;
typedef struct eisnet_workspace eisnet_workspace;

/* Caps checked before any allocation, so that a configuration (from a flag
 * or a checkpoint) cannot ask for more memory than a sane network needs:
 * 8192 hidden units, 2^27 parameters (512 MiB of weights; training holds
 * four such arrays: weights, gradients and the two AdamW moments). */
#define EISNET_MODEL_MAX_HIDDEN 8192
#define EISNET_MODEL_MAX_PARAMS ((size_t)1 << 27)

/* The parameter count a configuration implies (no allocation); 0 when a
 * dimension is out of range. */
size_t eisnet_model_config_n_params(const eisnet_model_config *cfg);

/* PyTorch-default init, deterministic from seed: Linear weight and bias
 * U(-1/sqrt(in), 1/sqrt(in)); LayerNorm weight 1, bias 0. Grads zeroed.
 * On eisnet_backend_default(); NULL on a bad config or out of memory. */
eisnet_model *eisnet_model_new(const eisnet_model_config *cfg, uint64_t seed);
void eisnet_model_free(eisnet_model *m);

const eisnet_model_config *eisnet_model_get_config(const eisnet_model *m);
/* Changes the dropout probabilities of later training passes (each in
 * [0, 1)); the parameters and their layout do not change. 0 / -1. */
int eisnet_model_set_dropout(eisnet_model *m, float d1, float d2, float dh);
size_t eisnet_model_n_params(const eisnet_model *m);
/* The parameters / gradients on the host (n_params floats each, the same
 * layout). With a backend whose memory is the host's (ref, cpu) they are the
 * arrays themselves. Otherwise a host copy, current at the call, which the
 * caller may read and write until the next pass, which uploads it: call
 * again after a pass to see its results. */
float *eisnet_model_params(eisnet_model *m);
float *eisnet_model_grads(eisnet_model *m);
void eisnet_model_zero_grad(eisnet_model *m);

/* The backend of all later passes (NULL: eisnet_backend_default()). The
 * parameters and gradients move to its memory; workspaces made on another
 * backend move at their next pass. The model and its workspaces hold
 * references to their backend: the caller may free its own at any time.
 * 0 / -1 (out of memory: unchanged). */
int eisnet_model_set_backend(eisnet_model *m, eisnet_backend *be);
eisnet_backend *eisnet_model_get_backend(const eisnet_model *m);
/* With a backend whose memory is not the host's, train_step keeps the AdamW
 * moments in the backend's memory; this copies them back into opt->m, opt->v
 * (before saving the optimizer). A no-op otherwise. 0 / -1. */
int eisnet_model_optimizer_to_host(eisnet_model *m, eisnet_adamw *opt);

/* ---- tensor table (checkpoints) ------------------------------------------
 * Tensors in state-dict order: encoder.{0,1,4,5,8}.{weight,bias},
 * param_heads.{k}.{0,3}.{weight,bias}, resnorm_head.{0,2}.{weight,bias}.
 * Linear weights are (out, in), row-major; data at params + offset. */
typedef struct {
    const char *name;
    int ndim;          /* 1 or 2 */
    int64_t shape[2];  /* shape[1] is 1 when ndim == 1 */
    size_t offset;     /* into eisnet_model_params() / _grads(), in floats */
    size_t numel;
} eisnet_tensor_info;

int eisnet_model_n_tensors(const eisnet_model *m);
const eisnet_tensor_info *eisnet_model_tensor(const eisnet_model *m, int i);
const char *eisnet_model_tensor_name(const eisnet_model *m, int i);
int eisnet_model_find_tensor(const eisnet_model *m, const char *name); /* index or -1 */

/* ---- passes ---------------------------------------------------------------
 * A workspace holds the activations and their gradients for up to max_batch
 * rows; it belongs to one model shape and must not be shared by concurrent
 * passes. */
eisnet_workspace *eisnet_workspace_new(const eisnet_model *m, int max_batch);
void eisnet_workspace_free(eisnet_workspace *ws);
/* When on, backward also fills eisnet_workspace_dx() (off by default). */
void eisnet_workspace_set_input_grad(eisnet_workspace *ws, int on);

/* x: (B, n_in). train != 0 turns dropout on; the dropout key is drawn from
 * *rng (advanced once per call; rng may be NULL when train == 0). Stores the
 * activations for backward. */
int eisnet_model_forward(eisnet_model *m, eisnet_workspace *ws, const float *x,
                         int B, int train, uint64_t *rng);

const float *eisnet_workspace_logits(const eisnet_workspace *ws);  /* (B, n_params, n_grid) */
const float *eisnet_workspace_resnorm(const eisnet_workspace *ws); /* (B) */
const float *eisnet_workspace_dx(const eisnet_workspace *ws);      /* (B, n_in) */

typedef struct {
    double loss; /* ce + resnorm_weight * mse */
    double ce;   /* mean over rows of the mean CE over the row's missing heads */
    double mse;  /* mean over rows of (resnorm pred - target)^2 */
} eisnet_loss;

/* After eisnet_model_forward on the same B rows.
 *   target[B*n_params]   grid index per parameter (read only where missing)
 *   missing[B*n_params]  1 = unknown in this row: its head is trained
 *   resnorm_target[B]    log10 resnorm
 * Rows with no missing parameter add 0 to the CE sum but still count in the
 * mean over rows. Also stores dloss/dlogits and dloss/dresnorm for backward.
 * correct / counted (n_params each, may be NULL) are INCREMENTED by the
 * per-head top-1 hits and the number of missing entries. */
int eisnet_model_loss(eisnet_model *m, eisnet_workspace *ws, int B,
                      const int32_t *target, const uint8_t *missing,
                      const float *resnorm_target, float resnorm_weight,
                      eisnet_loss *out, int64_t *correct, int64_t *counted);

/* The same loss on given outputs, without a model (also used by
 * eisnet_model_loss): logits (B, n_params, n_grid), resnorm (B). Writes
 * dloss/dlogits (B, n_params, n_grid) and dloss/dresnorm (B) when not NULL. */
int eisnet_loss_compute(const float *logits, const float *resnorm, int B, int n_params,
                        int n_grid, const int32_t *target, const uint8_t *missing,
                        const float *resnorm_target, float resnorm_weight, eisnet_loss *out,
                        float *dlogits, float *dresnorm, int64_t *correct, int64_t *counted);

/* Accumulates (+=) d loss / d params into eisnet_model_grads(). */
int eisnet_model_backward(eisnet_model *m, eisnet_workspace *ws, int B);

/* Inference (dropout off) in chunks of the workspace's max_batch.
 * probs_out (B, n_params, n_grid) softmax per head; resnorm_out (B) predicted
 * log10 resnorm; either may be NULL. */
int eisnet_model_predict(eisnet_model *m, eisnet_workspace *ws, const float *x,
                         int B, float *probs_out, float *resnorm_out);

/* eisnet_model_predict for the heads a caller needs: missing (B, n_params),
 * 1 = evaluate this parameter's head for this row (its parameter is unknown),
 * or NULL for every head. The probabilities of heads not evaluated are 0.
 * With a backend that gathers rows (ref, cpu) each head runs on its selected
 * rows only (2 of 5 heads when 3 parameters are known: ~25% less work per
 * row); the values of the evaluated heads equal eisnet_model_predict's up to
 * float rounding. */
int eisnet_model_predict_masked(eisnet_model *m, eisnet_workspace *ws, const float *x, int B,
                                const uint8_t *missing, float *probs_out, float *resnorm_out);

/* One row: eisnet_model_predict_masked(m, ws, x, 1, missing, ...); missing
 * (n_params) may be NULL. On the CPU backend a batch this small runs on one
 * thread in matrix-vector loops (no thread fork). */
int eisnet_model_predict_one(eisnet_model *m, eisnet_workspace *ws, const float *x,
                             const uint8_t *missing, float *probs_out, float *resnorm_out);

/* One whole training step, the sequence of the header comment in one call:
 * zero_grad, forward (train), loss, backward, clip_grad_norm(max_grad_norm;
 * <= 0: no clipping), AdamW. The clip factor is applied inside the AdamW
 * pass, so afterwards eisnet_model_grads() holds the UNCLIPPED gradients.
 * With a backend that gathers rows (ref, cpu) the heads of known parameters
 * are skipped (they get no gradient from the loss), so the result equals the
 * separate calls up to float summation order, and eisnet_workspace_logits()
 * afterwards holds only the missing heads' logits. out, grad_norm
 * (the norm before clipping), correct, counted may be NULL. */
int eisnet_model_train_step(eisnet_model *m, eisnet_workspace *ws, eisnet_adamw *opt,
                            const float *x, int B, const int32_t *target,
                            const uint8_t *missing, const float *resnorm_target,
                            float resnorm_weight, float max_grad_norm, uint64_t *rng,
                            eisnet_loss *out, float *grad_norm, int64_t *correct,
                            int64_t *counted);

#ifdef __cplusplus
}
#endif
#endif
