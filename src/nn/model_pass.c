/* The passes of the network (forward, loss, backward, the training step,
 * prediction), written once against the backend's operations
 * (eisnet/backend.h). A pass over a batch is a function of a block of rows
 * (forward_block, backward_block) that the backend's run_rows calls once per
 * block: the CPU backend one block per thread, each with its own gradient
 * copy; the reference and GPU backends one block for the whole batch.
 *
 * The passes go over memory as few times as they can:
 *   - Linear biases of layers followed by LayerNorm are folded into the fused
 *     LayerNorm+ReLU+dropout pass (h1, h2 hold the products without bias);
 *   - the first Linears of the P heads and of the resnorm head write one
 *     (B, (P+1)*64) block, their biases folded into a strided ReLU+dropout
 *     pass per head; the second Linears read their 64 columns in place and
 *     write straight into the (B, P, G) logits (no copies). Merging the six
 *     (B,128)x(128,64) products into one (B,128)x(128,384) on packed weights
 *     was measured on the CPU: ~1% faster products, less than packing 200 KB
 *     per pass;
 *   - backward overwrites activation gradients (no zeroing, no +=) and fuses
 *     ReLU/dropout backward into LayerNorm backward;
 *   - with a head selection (train_step, predict_masked) and a backend that
 *     gathers rows, each parameter head runs only on its selected rows (see
 *     "head selection" below).
 * Dropout masks are a hash of (key, global element index), so every backend
 * and every split of a batch computes the same function up to float
 * rounding; tests/test_model.c checks the 10-step loss trajectories agree. */
#include "model_internal.h"

#include <string.h>

#include "backend_internal.h"
#include "eisnet/error.h"

/* what a block function needs */
typedef struct {
    const eisnet_model *m;
    eisnet_workspace *ws;
    float *probs;       /* forward: the heads' softmax (B, P, G) goes here, or NULL */
    const uint8_t *sel; /* (B, P) in backend memory, rows of probs to keep, or NULL */
} pass_arg;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Checks the shapes, moves the workspace to the model's backend when it was
 * made on another, and uploads host copies the caller may have written. */
static int prepare(eisnet_model *m, eisnet_workspace *ws, int B)
{
    if (!m || !ws) return eisnet_set_error("model: NULL model or workspace");
    if (ws->n_in != m->cfg.n_in || ws->H != m->cfg.hidden || ws->P != m->cfg.n_params ||
        ws->G != m->cfg.n_grid)
        return eisnet_set_error("model: workspace was made for another model shape");
    if (B < 1 || B > ws->max_batch)
        return eisnet_set_error("model: batch %d outside 1..%d (workspace size)", B, ws->max_batch);
    if (eisnet_workspace_bind(ws, m)) return -1;
    eisnet_model_sync_in(m);
    return 0;
}

/* ---- forward --------------------------------------------------------------- */

/* The heads without a selection: first Linears into one (nb, (P+1)*HH)
 * block, then bias + ReLU + dropout per head, the second Linears into the
 * logits, and the resnorm head's dot product. */
static void dense_heads_forward(const eisnet_model *m, eisnet_workspace *ws, eisnet_backend *be, int b0,
                                int nb)
{
    const eisnet_backend_ops *o = be->ops;
    const float *W = m->params;
    const int P = ws->P, G = ws->G, NH = (P + 1) * HH;
    const size_t r = (size_t)b0;
    const float ph = ws->train ? m->cfg.dropout_head : 0.0f;
    const float *z = ws->z + r * LAT;
    float *u = ws->hu + r * NH, *a = ws->ha + r * NH;
    for (int k = 0; k <= P; k++) {
        const linear_p l = k < P ? m->head0[k] : m->res0;
        o->gemm(be, 0, 1, nb, HH, LAT, z, LAT, W + l.w, LAT, 0.0f, u + k * HH, NH);
    }
    for (int k = 0; k <= P; k++)
        o->bias_relu_dropout_fwd(be, a + k * HH, u + k * HH, W + (k < P ? m->head0[k].b : m->res0.b), nb,
                                 HH, NH, k < P ? ph : 0.0f,
                                 k < P ? eisnet_hash64(ws->key, 2 + (uint64_t)k) : 0, r * HH);
    float *logits = ws->logits + r * P * G;
    for (int k = 0; k < P; k++) {
        o->bias_rows(be, logits + (size_t)k * G, P * G, W + m->head3[k].b, nb, G);
        o->gemm(be, 0, 1, nb, G, HH, a + k * HH, NH, W + m->head3[k].w, HH, 1.0f, logits + (size_t)k * G,
                P * G);
    }
    o->rows_dot(be, ws->rout + r, a + (size_t)P * HH, NH, W + m->res2.w, W + m->res2.b, nb, HH);
}

/* ---- head selection -----------------------------------------------------------
 * A parameter head only matters for the rows where its parameter is missing:
 * the loss ignores the others, and a prediction reports only the missing
 * parameters. With a selection, each head runs on its selected rows only
 * (gathered), which skips ~60% of the heads' work when 2 of 5 parameters are
 * missing. The selected rows get the same values as without a selection (the
 * same dropout element indices), up to float rounding; the resnorm head runs
 * on every row. Buffers per head k: hu/ha at (k*max_batch + row)*HH (the
 * resnorm head is k = P), hl/dhl at (k*max_batch + row)*G, compact within a
 * block. Backends without gather/scatter run the dense heads instead. */

/* the rows of block r .. r+nb-1 selected for head k, as batch row numbers */
static int selected_rows(const eisnet_workspace *ws, int k, size_t r, int nb, int *rows)
{
    int n = 0;
    for (int b = 0; b < nb; b++)
        if (ws->sel_host[(r + (size_t)b) * ws->P + k]) rows[n++] = (int)r + b;
    return n;
}

/* the latents of the selected rows: z itself when every row is selected */
static const float *head_latents(const eisnet_workspace *ws, eisnet_backend *be, int k, size_t r, int nb,
                                 const int *rows, int nk, int gather)
{
    if (nk == nb) return ws->z + r * LAT;
    float *zg = ws->zg + ((size_t)k * ws->max_batch + r) * LAT;
    if (gather) be->ops->gather_rows(be, zg, LAT, ws->z, LAT, rows, nk, LAT);
    return zg;
}

static void sel_heads_forward(const eisnet_model *m, eisnet_workspace *ws, eisnet_backend *be, int b0, int nb)
{
    const eisnet_backend_ops *o = be->ops;
    const float *W = m->params;
    const int P = ws->P, G = ws->G;
    const size_t Bm = (size_t)ws->max_batch, r = (size_t)b0;
    const float ph = ws->train ? m->cfg.dropout_head : 0.0f;
    const float *z = ws->z + r * LAT;

    /* resnorm head, every row */
    float *ru = ws->hu + ((size_t)P * Bm + r) * HH, *ra = ws->ha + ((size_t)P * Bm + r) * HH;
    o->gemm(be, 0, 1, nb, HH, LAT, z, LAT, W + m->res0.w, LAT, 0.0f, ru, HH);
    o->bias_relu_dropout_fwd(be, ra, ru, W + m->res0.b, nb, HH, HH, 0.0f, 0, 0);
    o->rows_dot(be, ws->rout + r, ra, HH, W + m->res2.w, W + m->res2.b, nb, HH);

    for (int k = 0; k < P; k++) {
        int *rows = ws->rows + (size_t)k * Bm + r;
        const int nk = selected_rows(ws, k, r, nb, rows);
        if (!nk) continue;
        const float *zk = head_latents(ws, be, k, r, nb, rows, nk, 1);
        float *u = ws->hu + ((size_t)k * Bm + r) * HH, *a = ws->ha + ((size_t)k * Bm + r) * HH;
        o->gemm(be, 0, 1, nk, HH, LAT, zk, LAT, W + m->head0[k].w, LAT, 0.0f, u, HH);
        const uint64_t key = eisnet_hash64(ws->key, 2 + (uint64_t)k);
        if (nk == nb)
            o->bias_relu_dropout_fwd(be, a, u, W + m->head0[k].b, nb, HH, HH, ph, key, r * HH);
        else /* dropout element index: (batch row) * HH + j, as without a selection */
            for (int i = 0; i < nk; i++)
                o->bias_relu_dropout_fwd(be, a + (size_t)i * HH, u + (size_t)i * HH, W + m->head0[k].b, 1,
                                         HH, HH, ph, key, (uint64_t)rows[i] * HH);
        float *lg = ws->hl + ((size_t)k * Bm + r) * G;
        o->bias_rows(be, lg, G, W + m->head3[k].b, nk, G);
        o->gemm(be, 0, 1, nk, G, HH, a, HH, W + m->head3[k].w, HH, 1.0f, lg, G);
        o->scatter_rows(be, ws->logits + (size_t)k * G, P * G, lg, G, rows, nk, G, 0);
    }
}

/* rows b0 .. b0+nb-1 of the forward pass */
static void forward_block(void *arg, eisnet_backend *be, int b0, int nb, float *grads)
{
    (void)grads;
    const pass_arg *pa = arg;
    const eisnet_model *m = pa->m;
    eisnet_workspace *ws = pa->ws;
    const eisnet_backend_ops *o = be->ops;
    const float *W = m->params;
    const int n_in = ws->n_in, H = ws->H, H2 = ws->H2, P = ws->P, G = ws->G;
    const size_t r = (size_t)b0;
    const eisnet_model_config *c = &m->cfg;
    const int tr = ws->train;

    /* encoder */
    float *h1 = ws->h1 + r * H, *a1 = ws->a1 + r * H;
    o->gemm(be, 0, 1, nb, H, n_in, ws->x + r * n_in, n_in, W + m->enc0.w, n_in, 0.0f, h1, H);
    o->ln_relu_dropout_fwd(be, a1, ws->mean1 + r, ws->rstd1 + r, h1, W + m->enc0.b, W + m->ln1.w,
                           W + m->ln1.b, nb, H, tr ? c->dropout1 : 0.0f, eisnet_hash64(ws->key, 0), r * H);
    float *h2 = ws->h2 + r * H2, *a2 = ws->a2 + r * H2;
    o->gemm(be, 0, 1, nb, H2, H, a1, H, W + m->enc4.w, H, 0.0f, h2, H2);
    o->ln_relu_dropout_fwd(be, a2, ws->mean2 + r, ws->rstd2 + r, h2, W + m->enc4.b, W + m->ln5.w,
                           W + m->ln5.b, nb, H2, tr ? c->dropout2 : 0.0f, eisnet_hash64(ws->key, 1),
                           r * H2);
    float *z = ws->z + r * LAT;
    o->bias_rows(be, z, LAT, W + m->enc8.b, nb, LAT);
    o->gemm(be, 0, 1, nb, LAT, H2, a2, H2, W + m->enc8.w, H2, 1.0f, z, LAT);

    if (ws->use_sel) sel_heads_forward(m, ws, be, b0, nb);
    else dense_heads_forward(m, ws, be, b0, nb);
    if (pa->probs)
        o->softmax_rows(be, pa->probs + r * P * G, ws->logits + r * P * G, (long)nb * P, G,
                        pa->sel ? pa->sel + r * P : NULL);
}

/* sel (B, P) host or NULL: the heads to evaluate per row. probs (B, P, G)
 * host or NULL: also the softmax of each head, in the same pass. */
static int forward_impl(eisnet_model *m, eisnet_workspace *ws, const float *x, int B, int train,
                        uint64_t *rng, const uint8_t *sel, float *probs)
{
    if (prepare(m, ws, B)) return -1;
    if (!x) return eisnet_set_error("model: NULL input");
    if (train && !rng) return eisnet_set_error("model: training forward needs an rng state");
    eisnet_backend *be = m->be;
    const int P = ws->P, G = ws->G;
    ws->use_sel = 0;
    const uint8_t *dsel = NULL;
    if (sel) {
        if (eisnet_workspace_ensure_sel(ws)) return -1;
        be->ops->upload(be, ws->sel, sel, (size_t)B * P);
        if (ws->sel_host != ws->sel) memcpy(ws->sel_host, sel, (size_t)B * P);
        dsel = ws->sel;
        ws->use_sel = eisnet_backend_supports(be, EISNET_OP_GATHER_ROWS) &&
                      eisnet_backend_supports(be, EISNET_OP_SCATTER_ROWS);
    }
    float *pdst = probs;
    if (probs && !be->host_visible) {
        if (eisnet_workspace_ensure_device_io(ws)) return -1;
        pdst = ws->d_probs;
    }
    be->ops->upload(be, ws->x, x, (size_t)B * ws->n_in * sizeof(float));
    ws->B = B;
    ws->train = train != 0;
    ws->key = train ? splitmix64(rng) : 0;
    pass_arg pa = {m, ws, pdst, dsel};
    const eisnet_rows_pass pass = {.B = B, .fn = forward_block, .arg = &pa};
    if (be->ops->run_rows(be, &pass)) return -1;
    if (probs && pdst != probs) be->ops->download(be, probs, pdst, (size_t)B * P * G * sizeof(float));
    ws->have_forward = 1;
    ws->have_loss = 0;
    return 0;
}

int eisnet_model_forward(eisnet_model *m, eisnet_workspace *ws, const float *x, int B, int train,
                         uint64_t *rng)
{
    return forward_impl(m, ws, x, B, train, rng, NULL, NULL);
}

/* ---- loss ------------------------------------------------------------------ */

int eisnet_loss_compute(const float *logits, const float *resnorm, int B, int P, int G,
                        const int32_t *target, const uint8_t *missing,
                        const float *resnorm_target, float resnorm_weight, eisnet_loss *out,
                        float *dlogits, float *dresnorm, int64_t *correct, int64_t *counted)
{
    if (!logits || !resnorm || !target || !missing || !resnorm_target || B < 1 || P < 1 || G < 1)
        return eisnet_set_error("loss: needs outputs, targets, missing mask and resnorm targets");
    if (P > 1000) return eisnet_set_error("loss: %d heads (at most 1000)", P);
    if (eisnet_xent_check_targets(target, missing, B, P, G)) return -1;
    const eisnet_xent_args a = {logits, resnorm, target, missing, resnorm_target, B, P, G,
                                resnorm_weight, dlogits, dresnorm};
    eisnet_xent_result r = {0.0, 0.0, correct, counted};
    eisnet_xent_host(&a, &r, 1);
    if (out) {
        out->ce = r.ce_sum / B;
        out->mse = r.se_sum / B;
        out->loss = out->ce + resnorm_weight * out->mse;
    }
    return 0;
}

int eisnet_model_loss(eisnet_model *m, eisnet_workspace *ws, int B, const int32_t *target,
                      const uint8_t *missing, const float *resnorm_target, float resnorm_weight,
                      eisnet_loss *out, int64_t *correct, int64_t *counted)
{
    if (prepare(m, ws, B)) return -1;
    if (!ws->have_forward || ws->B != B)
        return eisnet_set_error("model: loss needs a forward pass on the same %d rows", B);
    if (!target || !missing || !resnorm_target)
        return eisnet_set_error("loss: needs outputs, targets, missing mask and resnorm targets");
    const int P = ws->P, G = ws->G;
    if (eisnet_xent_check_targets(target, missing, B, P, G)) return -1;
    eisnet_backend *be = m->be;
    eisnet_xent_args a = {ws->logits, ws->rout, target, missing, resnorm_target, B, P, G,
                          resnorm_weight, ws->dlogits, ws->drout};
    if (!be->host_visible) { /* the inputs' upload */
        if (eisnet_workspace_ensure_device_io(ws)) return -1;
        be->ops->upload(be, ws->d_target, target, (size_t)B * P * sizeof(int32_t));
        be->ops->upload(be, ws->d_missing, missing, (size_t)B * P);
        be->ops->upload(be, ws->d_rtarget, resnorm_target, (size_t)B * sizeof(float));
        a.target = ws->d_target;
        a.missing = ws->d_missing;
        a.resnorm_target = ws->d_rtarget;
    }
    eisnet_xent_result r = {0.0, 0.0, correct, counted};
    be->ops->xent(be, &a, &r);
    if (out) {
        out->ce = r.ce_sum / B;
        out->mse = r.se_sum / B;
        out->loss = out->ce + resnorm_weight * out->mse;
    }
    ws->have_loss = 1;
    return 0;
}

/* ---- backward -------------------------------------------------------------- */

/* The heads' backward without a selection: dz (nb, LAT) is overwritten. */
static void dense_heads_backward(const eisnet_model *m, eisnet_workspace *ws, eisnet_backend *be, int b0,
                                 int nb, float *gr)
{
    const eisnet_backend_ops *o = be->ops;
    const float *W = m->params;
    const int P = ws->P, G = ws->G, NH = (P + 1) * HH;
    const size_t r = (size_t)b0;
    const float sh = ws->train ? 1.0f / (1.0f - m->cfg.dropout_head) : 1.0f;
    float *dz = ws->dz + r * LAT;
    /* second head Linears: d a (nb, NH) is overwritten block by block */
    const float *a = ws->ha + r * NH, *z = ws->z + r * LAT;
    float *da = ws->dha + r * NH;
    const float *dlog = ws->dlogits + r * P * G;
    for (int k = 0; k < P; k++) {
        const linear_p l = m->head3[k];
        o->gemm(be, 0, 0, nb, HH, G, dlog + (size_t)k * G, P * G, W + l.w, HH, 0.0f, da + k * HH, NH);
        o->gemm(be, 1, 0, G, HH, nb, dlog + (size_t)k * G, P * G, a + k * HH, NH, 1.0f, gr + l.w, HH);
        o->colsum_add(be, gr + l.b, dlog + (size_t)k * G, nb, G, P * G);
    }
    o->rows_dot_bwd(be, da + (size_t)P * HH, a + (size_t)P * HH, NH, W + m->res2.w, ws->drout + r,
                    gr + m->res2.w, gr + m->res2.b, nb, HH);
    /* ReLU / dropout backward in place: slope sh where the output passed */
    for (int k = 0; k <= P; k++)
        o->relu_dropout_bwd_inplace(be, da + k * HH, a + k * HH, nb, HH, NH, k < P ? sh : 1.0f);
    /* first head Linears: weight gradients per head (contiguous in gr), input
     * gradient accumulated over the heads */
    for (int k = 0; k <= P; k++) {
        const linear_p l = k < P ? m->head0[k] : m->res0;
        o->gemm(be, 1, 0, HH, LAT, nb, da + k * HH, NH, z, LAT, 1.0f, gr + l.w, LAT);
        o->colsum_add(be, gr + l.b, da + k * HH, nb, HH, NH);
    }
    for (int k = 0; k <= P; k++) {
        const linear_p l = k < P ? m->head0[k] : m->res0;
        o->gemm(be, 0, 0, nb, LAT, HH, da + k * HH, NH, W + l.w, LAT, k ? 1.0f : 0.0f, dz, LAT);
    }
}

/* Backward of sel_heads_forward: dz (nb, LAT) is overwritten. */
static void sel_heads_backward(const eisnet_model *m, eisnet_workspace *ws, eisnet_backend *be, int b0,
                               int nb, float *gr)
{
    const eisnet_backend_ops *o = be->ops;
    const float *W = m->params;
    const int P = ws->P, G = ws->G;
    const size_t Bm = (size_t)ws->max_batch, r = (size_t)b0;
    const float sh = ws->train ? 1.0f / (1.0f - m->cfg.dropout_head) : 1.0f;
    const float *z = ws->z + r * LAT;
    float *dz = ws->dz + r * LAT;

    /* resnorm head first: it initialises dz */
    const float *ra = ws->ha + ((size_t)P * Bm + r) * HH;
    float *dra = ws->dha + ((size_t)P * Bm + r) * HH;
    o->rows_dot_bwd(be, dra, ra, HH, W + m->res2.w, ws->drout + r, gr + m->res2.w, gr + m->res2.b, nb, HH);
    o->relu_dropout_bwd_inplace(be, dra, ra, nb, HH, HH, 1.0f);
    o->gemm(be, 1, 0, HH, LAT, nb, dra, HH, z, LAT, 1.0f, gr + m->res0.w, LAT);
    o->colsum_add(be, gr + m->res0.b, dra, nb, HH, HH);
    o->gemm(be, 0, 0, nb, LAT, HH, dra, HH, W + m->res0.w, LAT, 0.0f, dz, LAT);

    for (int k = 0; k < P; k++) {
        int *rows = ws->rows + (size_t)k * Bm + r;
        const int nk = selected_rows(ws, k, r, nb, rows);
        if (!nk) continue;
        const float *zk = head_latents(ws, be, k, r, nb, rows, nk, 0);
        const linear_p l0 = m->head0[k], l3 = m->head3[k];
        const float *a = ws->ha + ((size_t)k * Bm + r) * HH;
        float *da = ws->dha + ((size_t)k * Bm + r) * HH;
        float *dl = ws->dhl + ((size_t)k * Bm + r) * G;
        o->gather_rows(be, dl, G, ws->dlogits + (size_t)k * G, P * G, rows, nk, G);
        o->gemm(be, 0, 0, nk, HH, G, dl, G, W + l3.w, HH, 0.0f, da, HH);
        o->gemm(be, 1, 0, G, HH, nk, dl, G, a, HH, 1.0f, gr + l3.w, HH);
        o->colsum_add(be, gr + l3.b, dl, nk, G, G);
        o->relu_dropout_bwd_inplace(be, da, a, nk, HH, HH, sh);
        o->gemm(be, 1, 0, HH, LAT, nk, da, HH, zk, LAT, 1.0f, gr + l0.w, LAT);
        o->colsum_add(be, gr + l0.b, da, nk, HH, HH);
        if (nk == nb) {
            o->gemm(be, 0, 0, nb, LAT, HH, da, HH, W + l0.w, LAT, 1.0f, dz, LAT);
        } else {
            float *dzg = ws->dzg + r * LAT;
            o->gemm(be, 0, 0, nk, LAT, HH, da, HH, W + l0.w, LAT, 0.0f, dzg, LAT);
            o->scatter_rows(be, ws->dz, LAT, dzg, LAT, rows, nk, LAT, 1);
        }
    }
}

/* rows b0 .. b0+nb-1 of the backward pass; weight gradients += into gr */
static void backward_block(void *arg, eisnet_backend *be, int b0, int nb, float *gr)
{
    const pass_arg *pa = arg;
    const eisnet_model *m = pa->m;
    eisnet_workspace *ws = pa->ws;
    const eisnet_backend_ops *o = be->ops;
    const float *W = m->params;
    const int n_in = ws->n_in, H = ws->H, H2 = ws->H2;
    const size_t r = (size_t)b0;
    const eisnet_model_config *c = &m->cfg;
    const float s1 = ws->train ? 1.0f / (1.0f - c->dropout1) : 1.0f;
    const float s2 = ws->train ? 1.0f / (1.0f - c->dropout2) : 1.0f;

    if (ws->use_sel) sel_heads_backward(m, ws, be, b0, nb, gr);
    else dense_heads_backward(m, ws, be, b0, nb, gr);

    /* encoder */
    const float *dz = ws->dz + r * LAT;
    const float *a2 = ws->a2 + r * H2, *a1 = ws->a1 + r * H;
    float *da2 = ws->da2 + r * H2, *dh2 = ws->dh2 + r * H2;
    float *da1 = ws->da1 + r * H, *dh1 = ws->dh1 + r * H;
    o->gemm(be, 0, 0, nb, H2, LAT, dz, LAT, W + m->enc8.w, H2, 0.0f, da2, H2);
    o->gemm(be, 1, 0, LAT, H2, nb, dz, LAT, a2, H2, 1.0f, gr + m->enc8.w, H2);
    o->colsum_add(be, gr + m->enc8.b, dz, nb, LAT, LAT);
    o->ln_relu_dropout_bwd(be, dh2, gr + m->ln5.w, gr + m->ln5.b, da2, a2, s2, ws->h2 + r * H2,
                           W + m->enc4.b, W + m->ln5.w, ws->mean2 + r, ws->rstd2 + r, nb, H2,
                           gr + m->enc4.b);
    o->gemm(be, 0, 0, nb, H, H2, dh2, H2, W + m->enc4.w, H, 0.0f, da1, H);
    o->gemm(be, 1, 0, H2, H, nb, dh2, H2, a1, H, 1.0f, gr + m->enc4.w, H);
    o->ln_relu_dropout_bwd(be, dh1, gr + m->ln1.w, gr + m->ln1.b, da1, a1, s1, ws->h1 + r * H,
                           W + m->enc0.b, W + m->ln1.w, ws->mean1 + r, ws->rstd1 + r, nb, H,
                           gr + m->enc0.b);
    o->gemm(be, 1, 0, H, n_in, nb, dh1, H, ws->x + r * n_in, n_in, 1.0f, gr + m->enc0.w, n_in);
    if (ws->input_grad)
        o->gemm(be, 0, 0, nb, n_in, H, dh1, H, W + m->enc0.w, n_in, 0.0f, ws->dx + r * n_in, n_in);
}

/* the backward over the backend's blocks; with step, zero_grad before and
 * the optimizer step after, inside the same run */
static int backward_run(eisnet_model *m, eisnet_workspace *ws, int B, const eisnet_step_args *step,
                        float *norm)
{
    if (prepare(m, ws, B)) return -1;
    if (!ws->have_loss || ws->B != B)
        return eisnet_set_error("model: backward needs forward and loss on the same %d rows", B);
    pass_arg pa = {m, ws, NULL, NULL};
    const eisnet_rows_pass pass = {B, backward_block, &pa, m->grads, m->n_params, step != NULL, step, norm};
    return m->be->ops->run_rows(m->be, &pass);
}

int eisnet_model_backward(eisnet_model *m, eisnet_workspace *ws, int B)
{
    return backward_run(m, ws, B, NULL, NULL);
}

/* ---- training step and inference ----------------------------------------------- */

int eisnet_model_train_step(eisnet_model *m, eisnet_workspace *ws, eisnet_adamw *opt,
                            const float *x, int B, const int32_t *target,
                            const uint8_t *missing, const float *resnorm_target,
                            float resnorm_weight, float max_grad_norm, uint64_t *rng,
                            eisnet_loss *out, float *grad_norm, int64_t *correct,
                            int64_t *counted)
{
    if (!opt || opt->n != (m ? m->n_params : 0))
        return eisnet_set_error("model: train step needs an optimizer for this model's parameters");
    if (!missing) return eisnet_set_error("model: train step needs the missing mask");
    /* only the missing parameters' heads: the loss ignores the others */
    if (forward_impl(m, ws, x, B, 1, rng, missing, NULL)) return -1;
    if (eisnet_model_loss(m, ws, B, target, missing, resnorm_target, resnorm_weight, out, correct,
                          counted))
        return -1;
    float *mo, *vo;
    if (eisnet_model_opt_moments(m, opt, &mo, &vo)) return -1;
    const eisnet_step_args step = {m->params, m->grads, mo, vo, m->n_params,
                                   eisnet_adamw_begin(opt, 1.0f), max_grad_norm};
    float norm = 0.0f;
    if (backward_run(m, ws, B, &step, &norm)) {
        opt->step--; /* no update happened */
        return -1;
    }
    m->opt_step = opt->step;
    if (grad_norm) *grad_norm = norm;
    return 0;
}

int eisnet_model_predict(eisnet_model *m, eisnet_workspace *ws, const float *x, int B, float *probs_out,
                         float *resnorm_out)
{
    return eisnet_model_predict_masked(m, ws, x, B, NULL, probs_out, resnorm_out);
}

int eisnet_model_predict_masked(eisnet_model *m, eisnet_workspace *ws, const float *x, int B,
                                const uint8_t *missing, float *probs_out, float *resnorm_out)
{
    if (!m || !ws || !x || B < 1) return eisnet_set_error("model: predict needs a model, workspace and rows");
    const int n_in = m->cfg.n_in, P = m->cfg.n_params, G = m->cfg.n_grid;
    for (int s = 0; s < B; s += ws->max_batch) {
        int nb = B - s < ws->max_batch ? B - s : ws->max_batch;
        const uint8_t *sel = missing ? missing + (size_t)s * P : NULL;
        float *pr = probs_out ? probs_out + (size_t)s * P * G : NULL;
        if (forward_impl(m, ws, x + (size_t)s * n_in, nb, 0, NULL, sel, pr)) return -1;
        if (resnorm_out) m->be->ops->download(m->be, resnorm_out + s, ws->rout, (size_t)nb * sizeof(float));
    }
    return m->be->ops->sync(m->be);
}

int eisnet_model_predict_one(eisnet_model *m, eisnet_workspace *ws, const float *x,
                             const uint8_t *missing, float *probs_out, float *resnorm_out)
{
    return eisnet_model_predict_masked(m, ws, x, 1, missing, probs_out, resnorm_out);
}
