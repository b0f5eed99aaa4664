/* The network on a device: buffers and the order of operations of a
 * training step and of a prediction, written against the operation table of
 * cuda_ops.h (the GPU's in CUDA builds, a host one in the tests).
 *
 * The passes are those of the CPU fast path in model.c with the whole batch
 * as one block: Linear biases before a LayerNorm folded into the fused
 * LayerNorm+ReLU+dropout pass, the first Linears of the heads writing one
 * (B, (P+1)*64) block, the second ones writing into the (B, P, G) logits in
 * place, the resnorm head's last Linear as a dot product per row. Unlike the
 * CPU path every parameter head runs on every row: on a GPU the gather of
 * selected rows costs more than the skipped products. The loss gives zero
 * gradients to the heads of known parameters, so the parameters after a step
 * are the CPU's up to float summation order. */
#include "eisnet/cuda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.h"
#include "eisnet/error.h"
#include "eisnet/kernels.h"

#define LAT EISNET_LATENT
#define HH EISNET_HEAD_HIDDEN

typedef struct { size_t w, b; } tensor_pair; /* offsets of a weight and its bias */

struct eisnet_cuda_net {
    const eisnet_cu_ops *ops;
    void *ctx;
    eisnet_model_config cfg;
    int max_batch, n_in, H, H2, P, G, NH;
    size_t n; /* parameters */
    tensor_pair enc0, ln1, enc4, ln5, enc8, res0, res2;
    tensor_pair *head0, *head3; /* P each */
    /* device memory, one allocation each */
    float *state;  /* params, grads, AdamW m, v: n floats each */
    float *params, *grads, *m, *v;
    float *act;    /* activations and their gradients, carved below */
    float *x, *h1, *a1, *mean1, *rstd1, *h2, *a2, *mean2, *rstd2, *z, *u, *a, *logits, *rout;
    float *dh1, *da1, *dh2, *da2, *dz, *da, *dlogits, *drout, *probs, *rtarget;
    void *small; /* the loss sums, the step's values, targets, masks */
    int32_t *target;
    uint8_t *missing;
    eisnet_cu_sums *sums;
    eisnet_cu_step *step;
    /* the recorded training step (graphs): replayed while the batch size and
     * the loss and clipping settings stay those it was recorded with */
    int use_graphs, warm_B, graph_B;
    float graph_rw, graph_mgn;
    void *graph;
};

/* the offsets of NAME.weight and NAME.bias in the parameter array */
static int find_pair(const eisnet_model *m, const char *name, tensor_pair *out)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s.weight", name);
    int w = eisnet_model_find_tensor(m, buf);
    snprintf(buf, sizeof buf, "%s.bias", name);
    int b = eisnet_model_find_tensor(m, buf);
    if (w < 0 || b < 0) return eisnet_set_error("cuda: the model has no tensor %s", name);
    out->w = eisnet_model_tensor(m, w)->offset;
    out->b = eisnet_model_tensor(m, b)->offset;
    return 0;
}

static int find_layout(eisnet_cuda_net *net, const eisnet_model *m)
{
    if (find_pair(m, "encoder.0", &net->enc0) || find_pair(m, "encoder.1", &net->ln1) ||
        find_pair(m, "encoder.4", &net->enc4) || find_pair(m, "encoder.5", &net->ln5) ||
        find_pair(m, "encoder.8", &net->enc8) || find_pair(m, "resnorm_head.0", &net->res0) ||
        find_pair(m, "resnorm_head.2", &net->res2))
        return -1;
    for (int k = 0; k < net->P; k++) {
        char name[48];
        snprintf(name, sizeof name, "param_heads.%d.0", k);
        if (find_pair(m, name, &net->head0[k])) return -1;
        snprintf(name, sizeof name, "param_heads.%d.3", k);
        if (find_pair(m, name, &net->head3[k])) return -1;
    }
    return 0;
}

static int alloc_buffers(eisnet_cuda_net *net)
{
    const eisnet_cu_ops *o = net->ops;
    const size_t Bm = (size_t)net->max_batch, n_in = net->n_in, H = net->H, H2 = net->H2;
    const size_t PG = (size_t)net->P * net->G, NH = net->NH;
    net->state = o->alloc(net->ctx, 4 * net->n * sizeof(float));
    if (!net->state) return -1;
    net->params = net->state;
    net->grads = net->params + net->n;
    net->m = net->grads + net->n;
    net->v = net->m + net->n;
    const size_t per_row = n_in + 2 * H + 2 + 2 * H2 + 2 + LAT + 2 * NH + PG + 1 /* forward */
                         + 2 * H + 2 * H2 + LAT + NH + PG + 1 + PG + 1 /* backward, probs, rtarget */;
    net->act = o->alloc(net->ctx, per_row * Bm * sizeof(float));
    if (!net->act) return -1;
    float *p = net->act;
#define TAKE(field, width) (net->field = p, p += (width) * Bm)
    TAKE(x, n_in); TAKE(h1, H); TAKE(a1, H); TAKE(mean1, 1); TAKE(rstd1, 1);
    TAKE(h2, H2); TAKE(a2, H2); TAKE(mean2, 1); TAKE(rstd2, 1); TAKE(z, LAT);
    TAKE(u, NH); TAKE(a, NH); TAKE(logits, PG); TAKE(rout, 1);
    TAKE(dh1, H); TAKE(da1, H); TAKE(dh2, H2); TAKE(da2, H2); TAKE(dz, LAT);
    TAKE(da, NH); TAKE(dlogits, PG); TAKE(drout, 1); TAKE(probs, PG); TAKE(rtarget, 1);
#undef TAKE
    /* the loss sums and the step's values first (8-byte aligned), then
     * targets, then masks */
    const size_t small = sizeof(eisnet_cu_sums) + sizeof(eisnet_cu_step) +
                         Bm * (size_t)net->P * (sizeof(int32_t) + 1);
    net->small = o->alloc(net->ctx, small);
    if (!net->small) return -1;
    net->sums = net->small;
    net->step = (eisnet_cu_step *)(net->sums + 1);
    net->target = (int32_t *)(net->step + 1);
    net->missing = (uint8_t *)(net->target + Bm * (size_t)net->P);
    return 0;
}

eisnet_cuda_net *eisnet_cuda_net_new_ops(const eisnet_cu_ops *ops, const eisnet_model *m,
                                         int max_batch)
{
    if (!ops || !m || max_batch < 1) {
        eisnet_set_error("cuda: need a model and max_batch >= 1");
        return NULL;
    }
    const eisnet_model_config *c = eisnet_model_get_config(m);
    if (c->n_params > EISNET_CU_MAX_HEADS) {
        eisnet_set_error("cuda: %d heads (at most %d)", c->n_params, EISNET_CU_MAX_HEADS);
        return NULL;
    }
    eisnet_cuda_net *net = calloc(1, sizeof *net);
    if (!net) {
        eisnet_set_error("cuda: out of memory");
        return NULL;
    }
    net->ops = ops;
    net->cfg = *c;
    net->max_batch = max_batch;
    net->n_in = c->n_in;
    net->H = c->hidden;
    net->H2 = c->hidden / 2;
    net->P = c->n_params;
    net->G = c->n_grid;
    net->NH = (net->P + 1) * HH;
    net->n = eisnet_model_n_params(m);
    net->head0 = calloc((size_t)net->P, sizeof *net->head0);
    net->head3 = calloc((size_t)net->P, sizeof *net->head3);
    if (!net->head0 || !net->head3) {
        eisnet_set_error("cuda: out of memory");
        eisnet_cuda_net_free(net);
        return NULL;
    }
    char why[256];
    net->ctx = ops->ctx_new(0, why, sizeof why);
    if (!net->ctx) {
        eisnet_set_error("cuda: %s", why);
        eisnet_cuda_net_free(net);
        return NULL;
    }
    if (find_layout(net, m) || alloc_buffers(net) || eisnet_cuda_net_upload(net, m, NULL)) {
        eisnet_cuda_net_free(net);
        return NULL;
    }
    const char *env = getenv("EISNET_CUDA_GRAPHS"); /* "0": off, for comparisons */
    net->use_graphs = ops->graph_begin && !(env && strcmp(env, "0") == 0);
    return net;
}

void eisnet_cuda_net_free(eisnet_cuda_net *net)
{
    if (!net) return;
    if (net->ctx) {
        if (net->graph) net->ops->graph_free(net->ctx, net->graph);
        net->ops->release(net->ctx, net->state);
        net->ops->release(net->ctx, net->act);
        net->ops->release(net->ctx, net->small);
        net->ops->ctx_free(net->ctx);
    }
    free(net->head0);
    free(net->head3);
    free(net);
}

static int check_shapes(const eisnet_cuda_net *net, const eisnet_model *m, const eisnet_adamw *opt)
{
    if (!net || !m) return eisnet_set_error("cuda: NULL net or model");
    const eisnet_model_config *c = eisnet_model_get_config(m);
    if (c->n_in != net->n_in || c->hidden != net->H || c->n_params != net->P || c->n_grid != net->G)
        return eisnet_set_error("cuda: the model's shape differs from the device copy's");
    if (opt && opt->n != net->n)
        return eisnet_set_error("cuda: the optimizer has %zu parameters, the model %zu", opt->n, net->n);
    return 0;
}

int eisnet_cuda_net_upload(eisnet_cuda_net *net, const eisnet_model *m, const eisnet_adamw *opt)
{
    if (check_shapes(net, m, opt)) return -1;
    const size_t bytes = net->n * sizeof(float);
    /* the model's accessor is not const; the parameters are only read */
    if (net->ops->upload(net->ctx, net->params, eisnet_model_params((eisnet_model *)m), bytes))
        return -1;
    if (opt && (net->ops->upload(net->ctx, net->m, opt->m, bytes) ||
                net->ops->upload(net->ctx, net->v, opt->v, bytes)))
        return -1;
    return net->ops->check(net->ctx);
}

int eisnet_cuda_net_download(eisnet_cuda_net *net, eisnet_model *m, eisnet_adamw *opt)
{
    if (check_shapes(net, m, opt)) return -1;
    const size_t bytes = net->n * sizeof(float);
    if (net->ops->download(net->ctx, eisnet_model_params(m), net->params, bytes)) return -1;
    if (opt && (net->ops->download(net->ctx, opt->m, net->m, bytes) ||
                net->ops->download(net->ctx, opt->v, net->v, bytes)))
        return -1;
    return 0;
}

int eisnet_cuda_net_download_grads(eisnet_cuda_net *net, float *grads)
{
    if (!net || !grads) return eisnet_set_error("cuda: NULL net or gradient array");
    return net->ops->download(net->ctx, grads, net->grads, net->n * sizeof(float));
}

/* ---- passes ------------------------------------------------------------------ */

/* Forward of B rows of net->x; with train, dropout from the key in
 * net->step (device memory: a recorded step replays with each step's key). */
static void forward(eisnet_cuda_net *net, int B, int train)
{
    const uint64_t *key = &net->step->key;
    const eisnet_cu_ops *o = net->ops;
    void *c = net->ctx;
    const float *W = net->params;
    const int n_in = net->n_in, H = net->H, H2 = net->H2, P = net->P, G = net->G, NH = net->NH;
    const float p1 = train ? net->cfg.dropout1 : 0.0f, p2 = train ? net->cfg.dropout2 : 0.0f;
    const float ph = train ? net->cfg.dropout_head : 0.0f;

    o->gemm(c, 0, 1, B, H, n_in, net->x, n_in, W + net->enc0.w, n_in, 0.0f, net->h1, H);
    o->ln_relu_dropout_fwd(c, net->a1, net->mean1, net->rstd1, net->h1, W + net->enc0.b,
                           W + net->ln1.w, W + net->ln1.b, B, H, p1, 0, key, 0);
    o->gemm(c, 0, 1, B, H2, H, net->a1, H, W + net->enc4.w, H, 0.0f, net->h2, H2);
    o->ln_relu_dropout_fwd(c, net->a2, net->mean2, net->rstd2, net->h2, W + net->enc4.b,
                           W + net->ln5.w, W + net->ln5.b, B, H2, p2, 1, key, 0);
    o->broadcast_rows(c, net->z, W + net->enc8.b, B, LAT, LAT);
    o->gemm(c, 0, 1, B, LAT, H2, net->a2, H2, W + net->enc8.w, H2, 1.0f, net->z, LAT);

    /* first Linears of the P heads and the resnorm head (k = P) into one
     * (B, NH) block, then bias + ReLU + dropout per head */
    for (int k = 0; k <= P; k++) {
        const tensor_pair l = k < P ? net->head0[k] : net->res0;
        o->gemm(c, 0, 1, B, HH, LAT, net->z, LAT, W + l.w, LAT, 0.0f, net->u + k * HH, NH);
        o->bias_relu_dropout_fwd(c, net->a + k * HH, net->u + k * HH, W + l.b, B, HH, NH,
                                 k < P ? ph : 0.0f, 2 + (uint64_t)k, key, 0);
    }
    for (int k = 0; k < P; k++) {
        float *lg = net->logits + (size_t)k * G;
        o->broadcast_rows(c, lg, W + net->head3[k].b, B, G, P * G);
        o->gemm(c, 0, 1, B, G, HH, net->a + k * HH, NH, W + net->head3[k].w, HH, 1.0f, lg, P * G);
    }
    o->rows_dot(c, net->rout, net->a + (size_t)P * HH, NH, W + net->res2.w, W + net->res2.b, B, HH);
}

/* the heads' backward: dz (B, LAT) overwritten, head gradients accumulated */
static void heads_backward(eisnet_cuda_net *net, int B, float sh)
{
    const eisnet_cu_ops *o = net->ops;
    void *c = net->ctx;
    const float *W = net->params;
    float *gr = net->grads;
    const int P = net->P, G = net->G, NH = net->NH;
    for (int k = 0; k < P; k++) {
        const tensor_pair l = net->head3[k];
        const float *dl = net->dlogits + (size_t)k * G;
        o->gemm(c, 0, 0, B, HH, G, dl, P * G, W + l.w, HH, 0.0f, net->da + k * HH, NH);
        o->gemm(c, 1, 0, G, HH, B, dl, P * G, net->a + k * HH, NH, 1.0f, gr + l.w, HH);
        o->colsum_add(c, gr + l.b, dl, B, G, P * G);
    }
    o->resnorm_out_bwd(c, net->da + (size_t)P * HH, NH, net->a + (size_t)P * HH, W + net->res2.w,
                       net->drout, gr + net->res2.w, gr + net->res2.b, B, HH);
    for (int k = 0; k <= P; k++) {
        const tensor_pair l = k < P ? net->head0[k] : net->res0;
        float *da = net->da + k * HH;
        o->relu_dropout_bwd_inplace(c, da, net->a + k * HH, B, HH, NH, k < P ? sh : 1.0f);
        o->gemm(c, 1, 0, HH, LAT, B, da, NH, net->z, LAT, 1.0f, gr + l.w, LAT);
        o->colsum_add(c, gr + l.b, da, B, HH, NH);
        o->gemm(c, 0, 0, B, LAT, HH, da, NH, W + l.w, LAT, k ? 1.0f : 0.0f, net->dz, LAT);
    }
}

/* Backward of the last training forward on B rows; gradients accumulated
 * into net->grads (zeroed by the caller). */
static void backward(eisnet_cuda_net *net, int B)
{
    const eisnet_cu_ops *o = net->ops;
    void *c = net->ctx;
    const float *W = net->params;
    float *gr = net->grads;
    const int n_in = net->n_in, H = net->H, H2 = net->H2;
    const float s1 = 1.0f / (1.0f - net->cfg.dropout1), s2 = 1.0f / (1.0f - net->cfg.dropout2);
    heads_backward(net, B, 1.0f / (1.0f - net->cfg.dropout_head));

    o->gemm(c, 0, 0, B, H2, LAT, net->dz, LAT, W + net->enc8.w, H2, 0.0f, net->da2, H2);
    o->gemm(c, 1, 0, LAT, H2, B, net->dz, LAT, net->a2, H2, 1.0f, gr + net->enc8.w, H2);
    o->colsum_add(c, gr + net->enc8.b, net->dz, B, LAT, LAT);
    o->relu_dropout_ln_bwd(c, net->dh2, gr + net->ln5.w, gr + net->ln5.b, net->da2, net->a2, s2,
                           net->h2, W + net->enc4.b, W + net->ln5.w, net->mean2, net->rstd2, B, H2,
                           gr + net->enc4.b);
    o->gemm(c, 0, 0, B, H, H2, net->dh2, H2, W + net->enc4.w, H, 0.0f, net->da1, H);
    o->gemm(c, 1, 0, H2, H, B, net->dh2, H2, net->a1, H, 1.0f, gr + net->enc4.w, H);
    o->relu_dropout_ln_bwd(c, net->dh1, gr + net->ln1.w, gr + net->ln1.b, net->da1, net->a1, s1,
                           net->h1, W + net->enc0.b, W + net->ln1.w, net->mean1, net->rstd1, B, H,
                           gr + net->enc0.b);
    o->gemm(c, 1, 0, H, n_in, B, net->dh1, H, net->x, n_in, 1.0f, gr + net->enc0.w, n_in);
}

static int check_targets(const eisnet_cuda_net *net, int B, const int32_t *target,
                         const uint8_t *missing)
{
    const int P = net->P, G = net->G;
    for (int i = 0; i < B * P; i++)
        if (missing[i] && (target[i] < 0 || target[i] >= G))
            return eisnet_set_error("loss: target %d of row %d head %d outside 0..%d",
                                    (int)target[i], i / P, i % P, G - 1);
    return 0;
}

/* Queues a training step on the uploaded batch and step values: forward,
 * loss, backward, gradient norm, clipped AdamW (k: the host copy of the
 * constants, used only without a device copy). */
static void queue_step(eisnet_cuda_net *net, int B, float rw, float mgn,
                       const eisnet_adamw_consts *k)
{
    const eisnet_cu_ops *o = net->ops;
    void *c = net->ctx;
    forward(net, B, 1);
    o->loss(c, net->logits, net->rout, B, net->P, net->G, net->target, net->missing, net->rtarget,
            rw, net->dlogits, net->drout, net->sums);
    o->zero(c, net->grads, net->n * sizeof(float));
    backward(net, B);
    o->grad_sumsq(c, net->grads, net->n, net->sums);
    o->adamw(c, k, &net->step->k, mgn, net->sums, net->params, net->grads, net->m, net->v, net->n);
}

/* The step directly, or as a recorded graph: the first step of a batch size
 * runs directly (cuBLAS and the scratch buffers settle), the second is
 * recorded, later ones replay the recording. A recording that fails turns
 * graphs off for this network and runs the step directly. */
static int run_step(eisnet_cuda_net *net, int B, float rw, float mgn, const eisnet_adamw_consts *k)
{
    const eisnet_cu_ops *o = net->ops;
    void *c = net->ctx;
    const int same = net->graph && net->graph_B == B && net->graph_rw == rw && net->graph_mgn == mgn;
    if (net->use_graphs && !same && net->warm_B == B) {
        if (net->graph) o->graph_free(c, net->graph);
        net->graph = NULL;
        if (o->graph_begin(c) == 0) {
            queue_step(net, B, rw, mgn, k);
            net->graph = o->graph_end(c);
        }
        if (!net->graph) {
            (void)o->check(c); /* the failed recording ran nothing */
            eisnet_clear_error();
            net->use_graphs = 0;
        } else {
            net->graph_B = B;
            net->graph_rw = rw;
            net->graph_mgn = mgn;
        }
    }
    net->warm_B = B;
    if (net->use_graphs && net->graph && net->graph_B == B && net->graph_rw == rw &&
        net->graph_mgn == mgn)
        return o->graph_launch(c, net->graph);
    queue_step(net, B, rw, mgn, k);
    return 0;
}

int eisnet_cuda_net_set_graphs(eisnet_cuda_net *net, int on)
{
    if (!net) return eisnet_set_error("cuda: NULL net");
    if (on && !net->ops->graph_begin) return eisnet_set_error("cuda: this device table has no graphs");
    net->use_graphs = on != 0;
    if (!on && net->graph) {
        net->ops->graph_free(net->ctx, net->graph);
        net->graph = NULL;
    }
    return 0;
}

int eisnet_cuda_net_graphs(const eisnet_cuda_net *net) { return net && net->use_graphs; }

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int eisnet_cuda_net_train_step(eisnet_cuda_net *net, eisnet_adamw *opt, const float *x, int B,
                               const int32_t *target, const uint8_t *missing,
                               const float *resnorm_target, float resnorm_weight,
                               float max_grad_norm, uint64_t *rng, eisnet_loss *out,
                               float *grad_norm, int64_t *correct, int64_t *counted)
{
    if (!net || !opt || opt->n != net->n)
        return eisnet_set_error("cuda: train step needs an optimizer for this model's parameters");
    if (!x || !target || !missing || !resnorm_target || !rng)
        return eisnet_set_error("cuda: train step needs inputs, targets, missing mask, resnorm targets and an rng");
    if (B < 1 || B > net->max_batch)
        return eisnet_set_error("cuda: batch %d outside 1..%d", B, net->max_batch);
    if (check_targets(net, B, target, missing)) return -1;
    const eisnet_cu_ops *o = net->ops;
    void *c = net->ctx;
    const size_t P = (size_t)net->P;
    if (o->upload(c, net->x, x, (size_t)B * net->n_in * sizeof(float)) ||
        o->upload(c, net->target, target, (size_t)B * P * sizeof(int32_t)) ||
        o->upload(c, net->missing, missing, (size_t)B * P) ||
        o->upload(c, net->rtarget, resnorm_target, (size_t)B * sizeof(float)))
        return -1;
    /* the CPU's forward draws the same key */
    const eisnet_cu_step hs = {splitmix64(rng), eisnet_adamw_begin(opt, 1.0f)};
    if (o->upload(c, net->step, &hs, sizeof hs)) {
        opt->step--; /* no update happened */
        return -1;
    }
    if (run_step(net, B, resnorm_weight, max_grad_norm, &hs.k)) {
        (void)o->check(c); /* the device's message */
        opt->step--;
        return -1;
    }
    eisnet_cu_sums s;
    if (o->check(c) || o->download(c, &s, net->sums, EISNET_CU_SUMS_BYTES(P))) {
        opt->step--;
        return -1;
    }
    if (out) {
        out->ce = s.ce_sum / B;
        out->mse = s.se_sum / B;
        out->loss = out->ce + resnorm_weight * out->mse;
    }
    if (grad_norm) *grad_norm = (float)sqrt(s.sumsq);
    for (size_t h = 0; h < P; h++) {
        if (correct) correct[h] += s.hc[h];
        if (counted) counted[h] += s.hc[P + h];
    }
    return 0;
}

int eisnet_cuda_net_predict(eisnet_cuda_net *net, const float *x, int B, const uint8_t *missing,
                            float *probs_out, float *resnorm_out)
{
    if (!net || !x || B < 1) return eisnet_set_error("cuda: predict needs a net and rows");
    const eisnet_cu_ops *o = net->ops;
    void *c = net->ctx;
    const size_t n_in = (size_t)net->n_in, P = (size_t)net->P, PG = P * net->G;
    for (int s = 0; s < B; s += net->max_batch) {
        const int nb = B - s < net->max_batch ? B - s : net->max_batch;
        if (o->upload(c, net->x, x + (size_t)s * n_in, (size_t)nb * n_in * sizeof(float))) return -1;
        if (missing && o->upload(c, net->missing, missing + (size_t)s * P, (size_t)nb * P)) return -1;
        forward(net, nb, 0);
        if (probs_out)
            o->softmax_rows(c, net->probs, net->logits, (long)nb * (long)P, net->G,
                            missing ? net->missing : NULL);
        if (o->check(c)) return -1;
        if (probs_out &&
            o->download(c, probs_out + (size_t)s * PG, net->probs, (size_t)nb * PG * sizeof(float)))
            return -1;
        if (resnorm_out &&
            o->download(c, resnorm_out + s, net->rout, (size_t)nb * sizeof(float)))
            return -1;
    }
    return 0;
}

/* ---- the GPU table, or its absence --------------------------------------------- */

eisnet_cuda_net *eisnet_cuda_net_new(const eisnet_model *m, int max_batch)
{
#ifdef EISNET_HAVE_CUDA
    return eisnet_cuda_net_new_ops(&eisnet_cu_ops_cuda, m, max_batch);
#else
    (void)m;
    (void)max_batch;
    eisnet_set_error("cuda: not built into this eisnet (configure with -DEISNET_CUDA=ON on a machine with the CUDA toolkit)");
    return NULL;
#endif
}

#ifndef EISNET_HAVE_CUDA
int eisnet_cuda_built(void) { return 0; }

int eisnet_cuda_available(char *why, size_t n)
{
    if (why && n) snprintf(why, n, "not built into this eisnet");
    return 0;
}

void eisnet_cuda_describe(char *buf, size_t n)
{
    if (buf && n) snprintf(buf, n, "not built into this eisnet");
}
#endif
