/* model_internal.h (private): the model and workspace structures shared by
 * src/nn/model.c (construction, tensor table, memory and its host edges) and
 * src/nn/model_pass.c (the passes through the backend's operations). */
#ifndef EISNET_MODEL_INTERNAL_H
#define EISNET_MODEL_INTERNAL_H

#include "eisnet/backend.h"
#include "eisnet/model.h"

#define LAT EISNET_LATENT
#define HH EISNET_HEAD_HIDDEN
#define NAME_MAX_LEN 48

typedef struct { size_t w, b; int in, out; } linear_p; /* offsets of a Linear */
typedef struct { size_t w, b; int n; } norm_p;          /* offsets of a LayerNorm */

struct eisnet_model {
    eisnet_model_config cfg;
    eisnet_backend *be;
    size_t n_params;
    float *params; /* backend memory, one allocation, state-dict order */
    float *grads;  /* backend memory, same layout */
    /* Host copies, only for backends whose memory the host cannot read.
     * A copy handed out by eisnet_model_params / _grads may be written by
     * the caller ("dirty"): it is uploaded before the next pass. */
    float *host_params, *host_grads;
    int params_dirty, grads_dirty;
    /* AdamW moments in backend memory (such backends only): of the
     * optimizer opt_owner as of its step opt_step */
    float *opt_mv;
    const eisnet_adamw *opt_owner;
    int64_t opt_step;
    int n_tensors;
    eisnet_tensor_info *tensors;
    char *names; /* n_tensors names of at most NAME_MAX_LEN bytes */
    linear_p enc0, enc4, enc8, res0, res2;
    norm_p ln1, ln5;
    linear_p *head0, *head3; /* n_params each */
};

struct eisnet_workspace {
    eisnet_backend *be; /* whose memory the buffers are */
    int max_batch, n_in, H, H2, P, G;
    int input_grad;
    int B, train, have_forward, have_loss;
    uint64_t key;
    float *mem; /* backend memory: one allocation for everything below */
    /* activations: (max_batch, width) each; the heads' hidden layers hu, ha
     * (and their gradients) are one (max_batch, (P+1)*HH) block (resnorm
     * head last), or with a head selection (P+1, max_batch, HH) */
    float *x, *h1, *a1, *mean1, *rstd1;
    float *h2, *a2, *mean2, *rstd2, *z;
    float *hu, *ha, *hl, *rout, *logits;
    /* gradients of the loss w.r.t. the activations of the same name */
    float *dx, *da1, *dh1, *da2, *dh2, *dz;
    float *dha, *dhl, *drout, *dlogits;
    /* head selection (train_step, predict_masked): sel (max_batch, P) 1 =
     * the head is evaluated for the row (backend memory), sel_host its host
     * copy; rows (P, max_batch) the selected rows of each block (host); zg
     * (P, max_batch, LAT) their gathered latents; dzg (max_batch, LAT)
     * scratch for their latent gradients (backend memory) */
    int use_sel;
    uint8_t *sel, *sel_host;
    int *rows;
    float *zg; /* zg and dzg: one allocation */
    float *dzg;
    /* backends without host-visible memory: inputs of the loss and the
     * probabilities in backend memory, host copies of the outputs */
    int32_t *d_target;
    uint8_t *d_missing;
    float *d_rtarget, *d_probs;
    float *h_logits, *h_rout, *h_dx;
};

/* Uploads host copies the caller may have written (see above). */
void eisnet_model_sync_in(eisnet_model *m);
/* The backend moments for opt (host_visible backends: opt's own arrays),
 * uploaded when opt or its step changed since the last step here. */
int eisnet_model_opt_moments(eisnet_model *m, const eisnet_adamw *opt, float **mo, float **vo);
/* Moves ws onto m's backend when it was made on another; 0 / -1. */
int eisnet_workspace_bind(eisnet_workspace *ws, const eisnet_model *m);
int eisnet_workspace_ensure_sel(eisnet_workspace *ws);
int eisnet_workspace_ensure_device_io(eisnet_workspace *ws);

#endif
