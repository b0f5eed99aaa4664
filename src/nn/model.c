/* The network of SPEC 1.8 / 2.5: parameter layout, forward, loss, backward.
 *
 * Everything here is backend-neutral: the arithmetic goes through an
 * eisnet_kernels table (reference loops or the fast CPU path). A pass over a
 * batch is written once, for a range of rows (forward_rows, loss_rows,
 * backward_rows); with OpenMP the batch is split into one contiguous block of
 * rows per thread, each thread calling single-threaded kernels on its block
 * and accumulating weight gradients into its own copy of the gradient array,
 * which are summed at the end (in train_step, together with clipping and
 * AdamW, by the same threads). Results do not depend on the split except for
 * float summation order (dropout masks are a hash of the global element
 * index). */
#include "eisnet/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/error.h"

#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

#define LAT EISNET_LATENT
#define HH EISNET_HEAD_HIDDEN
/* Fewer rows than this per thread are not worth a thread. */
#define MIN_ROWS_PER_THREAD 32

typedef struct { size_t w, b; int in, out; } linear_p; /* offsets of a Linear */
typedef struct { size_t w, b; int n; } norm_p;          /* offsets of a LayerNorm */

struct eisnet_model {
    eisnet_model_config cfg;
    const eisnet_kernels *k;
    size_t n_params;
    float *params; /* one allocation, state-dict order */
    float *grads;  /* one allocation, same layout */
    int n_tensors;
    eisnet_tensor_info *tensors;
    char *names; /* n_tensors names of at most NAME_MAX_LEN bytes */
    linear_p enc0, enc4, enc8, res0, res2;
    norm_p ln1, ln5;
    linear_p *head0, *head3; /* n_params each */
};

#define NAME_MAX_LEN 48

struct eisnet_workspace {
    int max_batch, n_in, H, H2, P, G;
    int input_grad;
    int B, train, have_forward, have_loss;
    uint64_t key;
    float *mem; /* one allocation for everything below */
    /* activations: (max_batch, width) each; per-head ones (P, max_batch, width) */
    float *x, *h1, *l1, *a1, *mean1, *rstd1;
    float *h2, *l2, *a2, *mean2, *rstd2, *z;
    float *hu, *ha, *hl, *ru, *ra, *rout, *logits;
    /* gradients of the loss w.r.t. the activations of the same name */
    float *dx, *dh1, *dl1, *da1, *dh2, *dl2, *da2, *dz;
    float *dhu, *dha, *dhl, *dru, *dra, *drout, *dlogits;
    /* head selection (train_step, predict_masked): sel (max_batch, P) 1 = the
     * head is evaluated for the row; rows (P, max_batch) the selected rows of
     * each thread's block; zg (P, max_batch, LAT) their gathered latents;
     * dzg (max_batch, LAT) scratch for their latent gradients */
    int use_sel;
    uint8_t *sel;
    int *rows;
    float *zg, *dzg;
    void *sel_mem;
    /* per-thread partial weight gradients for threads 1..n_tgrads */
    float *tgrads;
    int n_tgrads;
    double *tsums; /* per-thread sums of squares (fused optimizer step) */
    int n_tsums;
};

/* ---- small helpers --------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* uniform in [-bound, bound) */
static float uniform_sym(uint64_t *s, float bound)
{
    double u = (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)((2.0 * u - 1.0) * bound);
}

static int threads_for(int B)
{
    int T = eisnet_get_threads();
    int by_rows = B / MIN_ROWS_PER_THREAD;
    if (by_rows < 1) by_rows = 1;
    return T < by_rows ? T : by_rows;
}

/* ---- construction and the tensor table ------------------------------------ */

eisnet_model_config eisnet_model_config_default(int n_in, int n_params, int n_grid)
{
    eisnet_model_config c = {n_in, n_params, n_grid, 512, 0.3f, 0.2f, 0.1f};
    return c;
}

static void add_tensor(eisnet_model *m, const char *name, int ndim, int64_t d0, int64_t d1)
{
    eisnet_tensor_info *t = &m->tensors[m->n_tensors];
    char *dst = m->names + (size_t)m->n_tensors * NAME_MAX_LEN;
    snprintf(dst, NAME_MAX_LEN, "%s", name);
    t->name = dst;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 1;
    t->offset = m->n_params;
    t->numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    m->n_params += t->numel;
    m->n_tensors++;
}

static linear_p add_linear(eisnet_model *m, const char *prefix, int in, int out)
{
    char name[NAME_MAX_LEN];
    linear_p l = {0, 0, in, out};
    snprintf(name, sizeof name, "%s.weight", prefix);
    l.w = m->n_params;
    add_tensor(m, name, 2, out, in);
    snprintf(name, sizeof name, "%s.bias", prefix);
    l.b = m->n_params;
    add_tensor(m, name, 1, out, 1);
    return l;
}

static norm_p add_norm(eisnet_model *m, const char *prefix, int n)
{
    char name[NAME_MAX_LEN];
    norm_p l = {0, 0, n};
    snprintf(name, sizeof name, "%s.weight", prefix);
    l.w = m->n_params;
    add_tensor(m, name, 1, n, 1);
    snprintf(name, sizeof name, "%s.bias", prefix);
    l.b = m->n_params;
    add_tensor(m, name, 1, n, 1);
    return l;
}

static void init_linear(eisnet_model *m, linear_p l, uint64_t *s)
{
    float bound = 1.0f / sqrtf((float)l.in);
    for (size_t i = 0; i < (size_t)l.in * l.out; i++) m->params[l.w + i] = uniform_sym(s, bound);
    for (int i = 0; i < l.out; i++) m->params[l.b + i] = uniform_sym(s, bound);
}

static void init_norm(eisnet_model *m, norm_p l)
{
    for (int i = 0; i < l.n; i++) {
        m->params[l.w + i] = 1.0f;
        m->params[l.b + i] = 0.0f;
    }
}

size_t eisnet_model_config_n_params(const eisnet_model_config *cfg)
{
    const eisnet_model_config c = *cfg;
    if (c.n_in < 1 || c.n_params < 1 || c.n_grid < 1 || c.hidden < 2 || c.n_params > 1000 || c.n_in > 1 << 20 ||
        c.hidden > EISNET_MODEL_MAX_HIDDEN || c.n_grid > 1 << 16)
        return 0;
    size_t in = (size_t)c.n_in, H = (size_t)c.hidden, H2 = H / 2, P = (size_t)c.n_params, G = (size_t)c.n_grid;
    size_t enc = in * H + H + 2 * H + H * H2 + H2 + 2 * H2 + H2 * LAT + LAT;
    size_t head = LAT * HH + HH + HH * G + G;
    return enc + P * head + LAT * HH + HH + HH + 1;
}

eisnet_model *eisnet_model_new(const eisnet_model_config *cfg, uint64_t seed)
{
    if (!cfg) {
        eisnet_set_error("model: no config");
        return NULL;
    }
    const eisnet_model_config c = *cfg;
    if (c.n_in < 1 || c.n_params < 1 || c.n_grid < 1 || c.hidden < 2 || c.hidden % 2 ||
        c.n_params > 1000 || c.n_in > 1 << 20 || c.hidden > EISNET_MODEL_MAX_HIDDEN || c.n_grid > 1 << 16) {
        eisnet_set_error("model: bad config (n_in %d, n_params %d, n_grid %d, hidden %d; "
                         "hidden must be even and at most %d)", c.n_in, c.n_params, c.n_grid, c.hidden,
                         EISNET_MODEL_MAX_HIDDEN);
        return NULL;
    }
    size_t want = eisnet_model_config_n_params(&c);
    if (want > EISNET_MODEL_MAX_PARAMS) {
        eisnet_set_error("model: too large (%zu parameters; the limit is %zu)", want, EISNET_MODEL_MAX_PARAMS);
        return NULL;
    }
    if (!(c.dropout1 >= 0 && c.dropout1 < 1 && c.dropout2 >= 0 && c.dropout2 < 1 &&
          c.dropout_head >= 0 && c.dropout_head < 1)) {
        eisnet_set_error("model: dropout probabilities must be in [0, 1)");
        return NULL;
    }
    eisnet_model *m = calloc(1, sizeof *m);
    int max_tensors = 10 + 4 * c.n_params + 4;
    if (m) {
        m->tensors = calloc((size_t)max_tensors, sizeof *m->tensors);
        m->names = calloc((size_t)max_tensors, NAME_MAX_LEN);
        m->head0 = calloc((size_t)c.n_params, sizeof *m->head0);
        m->head3 = calloc((size_t)c.n_params, sizeof *m->head3);
    }
    if (!m || !m->tensors || !m->names || !m->head0 || !m->head3) {
        eisnet_model_free(m);
        eisnet_set_error("model: out of memory");
        return NULL;
    }
    m->cfg = c;
    m->k = &eisnet_kernels_cpu;

    const int H = c.hidden, H2 = c.hidden / 2;
    m->enc0 = add_linear(m, "encoder.0", c.n_in, H);
    m->ln1 = add_norm(m, "encoder.1", H);
    m->enc4 = add_linear(m, "encoder.4", H, H2);
    m->ln5 = add_norm(m, "encoder.5", H2);
    m->enc8 = add_linear(m, "encoder.8", H2, LAT);
    for (int k = 0; k < c.n_params; k++) {
        char prefix[NAME_MAX_LEN];
        snprintf(prefix, sizeof prefix, "param_heads.%d.0", k);
        m->head0[k] = add_linear(m, prefix, LAT, HH);
        snprintf(prefix, sizeof prefix, "param_heads.%d.3", k);
        m->head3[k] = add_linear(m, prefix, HH, c.n_grid);
    }
    m->res0 = add_linear(m, "resnorm_head.0", LAT, HH);
    m->res2 = add_linear(m, "resnorm_head.2", HH, 1);

    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    if (!m->params || !m->grads) {
        size_t n = m->n_params; /* read before the free below */
        eisnet_model_free(m);
        eisnet_set_error("model: out of memory for %zu parameters", n);
        return NULL;
    }
    uint64_t s = seed;
    init_linear(m, m->enc0, &s);
    init_norm(m, m->ln1);
    init_linear(m, m->enc4, &s);
    init_norm(m, m->ln5);
    init_linear(m, m->enc8, &s);
    for (int k = 0; k < c.n_params; k++) {
        init_linear(m, m->head0[k], &s);
        init_linear(m, m->head3[k], &s);
    }
    init_linear(m, m->res0, &s);
    init_linear(m, m->res2, &s);
    return m;
}

void eisnet_model_free(eisnet_model *m)
{
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->tensors);
    free(m->names);
    free(m->head0);
    free(m->head3);
    free(m);
}

const eisnet_model_config *eisnet_model_get_config(const eisnet_model *m) { return &m->cfg; }

int eisnet_model_set_dropout(eisnet_model *m, float d1, float d2, float dh)
{
    if (!(d1 >= 0 && d1 < 1 && d2 >= 0 && d2 < 1 && dh >= 0 && dh < 1))
        return eisnet_set_error("dropout probabilities must be in [0, 1) (got %g, %g, %g)", d1, d2, dh);
    m->cfg.dropout1 = d1;
    m->cfg.dropout2 = d2;
    m->cfg.dropout_head = dh;
    return 0;
}
size_t eisnet_model_n_params(const eisnet_model *m) { return m->n_params; }
float *eisnet_model_params(eisnet_model *m) { return m->params; }
float *eisnet_model_grads(eisnet_model *m) { return m->grads; }
void eisnet_model_zero_grad(eisnet_model *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }
void eisnet_model_set_kernels(eisnet_model *m, const eisnet_kernels *k) { m->k = k ? k : &eisnet_kernels_cpu; }
const eisnet_kernels *eisnet_model_get_kernels(const eisnet_model *m) { return m->k; }
int eisnet_model_n_tensors(const eisnet_model *m) { return m->n_tensors; }

const eisnet_tensor_info *eisnet_model_tensor(const eisnet_model *m, int i)
{
    return (i >= 0 && i < m->n_tensors) ? &m->tensors[i] : NULL;
}

const char *eisnet_model_tensor_name(const eisnet_model *m, int i)
{
    return (i >= 0 && i < m->n_tensors) ? m->tensors[i].name : NULL;
}

int eisnet_model_find_tensor(const eisnet_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}

/* ---- workspace ------------------------------------------------------------- */

eisnet_workspace *eisnet_workspace_new(const eisnet_model *m, int max_batch)
{
    if (!m || max_batch < 1) {
        eisnet_set_error("workspace: need a model and max_batch >= 1");
        return NULL;
    }
    eisnet_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) {
        eisnet_set_error("workspace: out of memory");
        return NULL;
    }
    const size_t Bm = (size_t)max_batch;
    ws->max_batch = max_batch;
    ws->n_in = m->cfg.n_in;
    ws->H = m->cfg.hidden;
    ws->H2 = m->cfg.hidden / 2;
    ws->P = m->cfg.n_params;
    ws->G = m->cfg.n_grid;
    const size_t n_in = ws->n_in, H = ws->H, H2 = ws->H2, P = ws->P, G = ws->G;
    /* widths per row, in the order they are carved out below */
    /* per-head hidden buffers have room for P + 1 heads: the fast path uses
     * them as one (max_batch, (P+1)*HH) block, resnorm head last */
    const size_t NH = (P + 1) * HH;
    size_t per_row = n_in + 3 * H + 2 + 3 * H2 + 2 + LAT + 2 * NH + P * G + 2 * HH + 1 + P * G
                   + n_in + 3 * H + 3 * H2 + LAT + 2 * NH + P * G + 2 * HH + 1 + P * G;
    ws->mem = calloc(per_row * Bm, sizeof(float));
    if (!ws->mem) {
        free(ws);
        eisnet_set_error("workspace: out of memory for batch %d", max_batch);
        return NULL;
    }
    float *p = ws->mem;
#define TAKE(field, width) (ws->field = p, p += (width) * Bm)
    TAKE(x, n_in); TAKE(h1, H); TAKE(l1, H); TAKE(a1, H); TAKE(mean1, 1); TAKE(rstd1, 1);
    TAKE(h2, H2); TAKE(l2, H2); TAKE(a2, H2); TAKE(mean2, 1); TAKE(rstd2, 1); TAKE(z, LAT);
    TAKE(hu, NH); TAKE(ha, NH); TAKE(hl, P * G); TAKE(ru, HH); TAKE(ra, HH);
    TAKE(rout, 1); TAKE(logits, P * G);
    TAKE(dx, n_in); TAKE(dh1, H); TAKE(dl1, H); TAKE(da1, H); TAKE(dh2, H2); TAKE(dl2, H2);
    TAKE(da2, H2); TAKE(dz, LAT); TAKE(dhu, NH); TAKE(dha, NH); TAKE(dhl, P * G);
    TAKE(dru, HH); TAKE(dra, HH); TAKE(drout, 1); TAKE(dlogits, P * G);
#undef TAKE
    return ws;
}

void eisnet_workspace_free(eisnet_workspace *ws)
{
    if (!ws) return;
    free(ws->mem);
    free(ws->sel_mem);
    free(ws->tgrads);
    free(ws->tsums);
    free(ws);
}

void eisnet_workspace_set_input_grad(eisnet_workspace *ws, int on) { ws->input_grad = on != 0; }
const float *eisnet_workspace_logits(const eisnet_workspace *ws) { return ws->logits; }
const float *eisnet_workspace_resnorm(const eisnet_workspace *ws) { return ws->rout; }
const float *eisnet_workspace_dx(const eisnet_workspace *ws) { return ws->dx; }

static int check_ws(const eisnet_model *m, const eisnet_workspace *ws, int B)
{
    if (!m || !ws) return eisnet_set_error("model: NULL model or workspace");
    if (ws->n_in != m->cfg.n_in || ws->H != m->cfg.hidden || ws->P != m->cfg.n_params ||
        ws->G != m->cfg.n_grid)
        return eisnet_set_error("model: workspace was made for another model shape");
    if (B < 1 || B > ws->max_batch)
        return eisnet_set_error("model: batch %d outside 1..%d (workspace size)", B, ws->max_batch);
    return 0;
}

/* ---- forward --------------------------------------------------------------- */

/* Rows b0 .. b0+nb-1 of the batch. Per-head buffers are (P, max_batch, width). */
static void forward_rows(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb)
{
    const eisnet_kernels *K = m->k;
    const float *W = m->params;
    const int n_in = ws->n_in, H = ws->H, H2 = ws->H2, P = ws->P, G = ws->G;
    const size_t Bm = (size_t)ws->max_batch, r = (size_t)b0;
    const eisnet_model_config *c = &m->cfg;
    const int tr = ws->train;

    /* encoder */
    float *h1 = ws->h1 + r * H, *l1 = ws->l1 + r * H, *a1 = ws->a1 + r * H;
    K->linear_forward(h1, ws->x + r * n_in, W + m->enc0.w, W + m->enc0.b, nb, n_in, H);
    K->layernorm_forward(l1, ws->mean1 + r, ws->rstd1 + r, h1, W + m->ln1.w, W + m->ln1.b, nb, H);
    K->relu_dropout_forward(a1, l1, (size_t)nb * H, tr ? c->dropout1 : 0.0f,
                            eisnet_hash64(ws->key, 0), r * H);
    float *h2 = ws->h2 + r * H2, *l2 = ws->l2 + r * H2, *a2 = ws->a2 + r * H2;
    K->linear_forward(h2, a1, W + m->enc4.w, W + m->enc4.b, nb, H, H2);
    K->layernorm_forward(l2, ws->mean2 + r, ws->rstd2 + r, h2, W + m->ln5.w, W + m->ln5.b, nb, H2);
    K->relu_dropout_forward(a2, l2, (size_t)nb * H2, tr ? c->dropout2 : 0.0f,
                            eisnet_hash64(ws->key, 1), r * H2);
    float *z = ws->z + r * LAT;
    K->linear_forward(z, a2, W + m->enc8.w, W + m->enc8.b, nb, H2, LAT);

    /* parameter heads */
    for (int k = 0; k < P; k++) {
        float *hu = ws->hu + (k * Bm + r) * HH, *ha = ws->ha + (k * Bm + r) * HH;
        float *hl = ws->hl + (k * Bm + r) * G;
        K->linear_forward(hu, z, W + m->head0[k].w, W + m->head0[k].b, nb, LAT, HH);
        K->relu_dropout_forward(ha, hu, (size_t)nb * HH, tr ? c->dropout_head : 0.0f,
                                eisnet_hash64(ws->key, 2 + (uint64_t)k), r * HH);
        K->linear_forward(hl, ha, W + m->head3[k].w, W + m->head3[k].b, nb, HH, G);
        for (int b = 0; b < nb; b++)
            memcpy(ws->logits + ((r + b) * P + k) * G, hl + (size_t)b * G, (size_t)G * sizeof(float));
    }

    /* resnorm head */
    float *ru = ws->ru + r * HH, *ra = ws->ra + r * HH;
    K->linear_forward(ru, z, W + m->res0.w, W + m->res0.b, nb, LAT, HH);
    K->relu_dropout_forward(ra, ru, (size_t)nb * HH, 0.0f, 0, 0);
    K->linear_forward(ws->rout + r, ra, W + m->res2.w, W + m->res2.b, nb, HH, 1);
}


/* ---- the fast path (backend eisnet_kernels_cpu) ----------------------------
 * The same network with fewer passes over memory:
 *   - Linear biases of layers followed by LayerNorm are folded into the fused
 *     LayerNorm+ReLU+dropout pass (h1, h2 hold the products without bias);
 *   - the first Linears of the P heads and of the resnorm head write one
 *     (B, (P+1)*64) block, their biases folded into a strided ReLU+dropout
 *     pass per head; the second Linears read their 64 columns in place and
 *     write straight into the (B, P, G) logits (no copies). Merging the six
 *     (B,128)x(128,64) products into one (B,128)x(128,384) on packed weights
 *     was measured: ~1% faster products, less than packing 200 KB per pass;
 *   - backward overwrites activation gradients (no zeroing, no +=) and fuses
 *     ReLU/dropout backward into LayerNorm backward;
 *   - one row goes to an AVX-512 matrix-vector product (or BLAS sgemv),
 *     2 .. 4 rows to plain loops, the thin input layer to AVX-512 kernels
 *     (eisnet_cpu_gemm); no thread fork below 2*MIN_ROWS_PER_THREAD rows;
 *   - with a head selection (train_step, predict_masked) each parameter head
 *     runs only on its selected rows (see "head selection" below).
 * Dropout masks are the same as the generic path's (same key, same element
 * index), so both paths compute the same function up to float rounding; the
 * tests check the 10-step loss trajectories agree. */

static int use_fast(const eisnet_model *m) { return m->k == &eisnet_kernels_cpu; }
static void sel_heads_forward(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb);
static void sel_heads_backward(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb,
                               float *gr);
static void colsum_add(float *db, const float *g, int nb, int n, int ld);

static void fast_forward_rows(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb)
{
    const float *W = m->params;
    const int n_in = ws->n_in, H = ws->H, H2 = ws->H2, P = ws->P, G = ws->G;
    const int NH = (P + 1) * HH;
    const size_t r = (size_t)b0;
    const eisnet_model_config *c = &m->cfg;
    const int tr = ws->train;

    /* encoder */
    float *h1 = ws->h1 + r * H, *a1 = ws->a1 + r * H;
    eisnet_cpu_gemm(0, 1, nb, H, n_in, ws->x + r * n_in, n_in, W + m->enc0.w, n_in, 0.0f, h1, H);
    eisnet_cpu_layernorm_relu_dropout_forward(a1, ws->mean1 + r, ws->rstd1 + r, h1, W + m->enc0.b,
                                              W + m->ln1.w, W + m->ln1.b, nb, H,
                                              tr ? c->dropout1 : 0.0f, eisnet_hash64(ws->key, 0),
                                              r * H);
    float *h2 = ws->h2 + r * H2, *a2 = ws->a2 + r * H2;
    eisnet_cpu_gemm(0, 1, nb, H2, H, a1, H, W + m->enc4.w, H, 0.0f, h2, H2);
    eisnet_cpu_layernorm_relu_dropout_forward(a2, ws->mean2 + r, ws->rstd2 + r, h2, W + m->enc4.b,
                                              W + m->ln5.w, W + m->ln5.b, nb, H2,
                                              tr ? c->dropout2 : 0.0f, eisnet_hash64(ws->key, 1),
                                              r * H2);
    float *z = ws->z + r * LAT;
    for (int b = 0; b < nb; b++) memcpy(z + (size_t)b * LAT, W + m->enc8.b, LAT * sizeof(float));
    eisnet_cpu_gemm(0, 1, nb, LAT, H2, a2, H2, W + m->enc8.w, H2, 1.0f, z, LAT);
    if (ws->use_sel) {
        sel_heads_forward(m, ws, b0, nb);
        return;
    }

    /* first head Linears into one (nb, (P+1)*HH) block, then bias + ReLU +
     * dropout per head */
    float *u = ws->hu + r * NH, *a = ws->ha + r * NH;
    for (int k = 0; k <= P; k++) {
        const linear_p l = k < P ? m->head0[k] : m->res0;
        eisnet_cpu_gemm(0, 1, nb, HH, LAT, z, LAT, W + l.w, LAT, 0.0f, u + k * HH, NH);
    }
    const float ph = tr ? c->dropout_head : 0.0f;
    for (int k = 0; k <= P; k++)
        eisnet_cpu_bias_relu_dropout_forward(a + k * HH, u + k * HH,
                                             W + (k < P ? m->head0[k].b : m->res0.b), nb,
                                             HH, NH, k < P ? ph : 0.0f,
                                             k < P ? eisnet_hash64(ws->key, 2 + (uint64_t)k) : 0,
                                             r * HH);
    float *logits = ws->logits + r * P * G;
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < P; k++)
            memcpy(logits + ((size_t)b * P + k) * G, W + m->head3[k].b, (size_t)G * sizeof(float));
    for (int k = 0; k < P; k++)
        eisnet_cpu_gemm(0, 1, nb, G, HH, a + k * HH, NH, W + m->head3[k].w, HH, 1.0f,
                        logits + (size_t)k * G, P * G);
    /* resnorm: one dot product per row */
    eisnet_cpu_rows_dot(ws->rout + r, a + (size_t)P * HH, NH, W + m->res2.w, W[m->res2.b], nb, HH);
}

/* ---- head selection (fast path) ---------------------------------------------
 * A parameter head only matters for the rows where its parameter is missing:
 * the loss ignores the others, and a prediction reports only the missing
 * parameters. With a selection, each head runs on its selected rows only
 * (gathered), which skips ~60% of the heads' work when 2 of 5 parameters are
 * missing. The selected rows get the same values as without a selection (the
 * same dropout element indices), up to float rounding; the resnorm head runs
 * on every row. Buffers per head k: hu/ha at (k*max_batch + row)*HH (the
 * resnorm head is k = P), hl/dhl at (k*max_batch + row)*G, compact within a
 * thread's block. */

static int ensure_sel(eisnet_workspace *ws)
{
    if (ws->sel_mem) return 0;
    const size_t Bm = (size_t)ws->max_batch, P = (size_t)ws->P;
    const size_t nf = (P + 1) * Bm * LAT, ni = P * Bm;
    ws->sel_mem = malloc(nf * sizeof(float) + ni * sizeof(int) + Bm * P);
    if (!ws->sel_mem) return eisnet_set_error("workspace: out of memory for head selection");
    ws->zg = ws->sel_mem;
    ws->dzg = ws->zg + P * Bm * LAT;
    ws->rows = (int *)(ws->dzg + Bm * LAT);
    ws->sel = (uint8_t *)(ws->rows + ni);
    return 0;
}

/* the rows of block r .. r+nb-1 selected for head k, as batch row numbers */
static int selected_rows(const eisnet_workspace *ws, int k, size_t r, int nb, int *rows)
{
    int n = 0;
    for (int b = 0; b < nb; b++)
        if (ws->sel[(r + (size_t)b) * ws->P + k]) rows[n++] = (int)r + b;
    return n;
}

/* the latents of the selected rows: z itself when every row is selected */
static const float *head_latents(const eisnet_workspace *ws, int k, size_t r, int nb,
                                 const int *rows, int nk, int gather)
{
    if (nk == nb) return ws->z + r * LAT;
    float *zg = ws->zg + ((size_t)k * ws->max_batch + r) * LAT;
    if (gather)
        for (int i = 0; i < nk; i++)
            memcpy(zg + (size_t)i * LAT, ws->z + (size_t)rows[i] * LAT, LAT * sizeof(float));
    return zg;
}

static void sel_heads_forward(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb)
{
    const float *W = m->params;
    const int P = ws->P, G = ws->G;
    const size_t Bm = (size_t)ws->max_batch, r = (size_t)b0;
    const float ph = ws->train ? m->cfg.dropout_head : 0.0f;
    const float *z = ws->z + r * LAT;

    /* resnorm head, every row */
    float *ru = ws->hu + ((size_t)P * Bm + r) * HH, *ra = ws->ha + ((size_t)P * Bm + r) * HH;
    eisnet_cpu_gemm(0, 1, nb, HH, LAT, z, LAT, W + m->res0.w, LAT, 0.0f, ru, HH);
    eisnet_cpu_bias_relu_dropout_forward(ra, ru, W + m->res0.b, nb, HH, HH, 0.0f, 0, 0);
    eisnet_cpu_rows_dot(ws->rout + r, ra, HH, W + m->res2.w, W[m->res2.b], nb, HH);

    for (int k = 0; k < P; k++) {
        int *rows = ws->rows + (size_t)k * Bm + r;
        const int nk = selected_rows(ws, k, r, nb, rows);
        if (!nk) continue;
        const float *zk = head_latents(ws, k, r, nb, rows, nk, 1);
        float *u = ws->hu + ((size_t)k * Bm + r) * HH, *a = ws->ha + ((size_t)k * Bm + r) * HH;
        eisnet_cpu_gemm(0, 1, nk, HH, LAT, zk, LAT, W + m->head0[k].w, LAT, 0.0f, u, HH);
        const uint64_t key = eisnet_hash64(ws->key, 2 + (uint64_t)k);
        if (nk == nb)
            eisnet_cpu_bias_relu_dropout_forward(a, u, W + m->head0[k].b, nb, HH, HH, ph, key, r * HH);
        else /* dropout element index: (batch row) * HH + j, as without a selection */
            for (int i = 0; i < nk; i++)
                eisnet_cpu_bias_relu_dropout_forward(a + (size_t)i * HH, u + (size_t)i * HH,
                                                     W + m->head0[k].b, 1, HH, HH, ph, key,
                                                     (uint64_t)rows[i] * HH);
        float *lg = ws->hl + ((size_t)k * Bm + r) * G;
        for (int i = 0; i < nk; i++)
            memcpy(lg + (size_t)i * G, W + m->head3[k].b, (size_t)G * sizeof(float));
        eisnet_cpu_gemm(0, 1, nk, G, HH, a, HH, W + m->head3[k].w, HH, 1.0f, lg, G);
        for (int i = 0; i < nk; i++)
            memcpy(ws->logits + ((size_t)rows[i] * P + k) * G, lg + (size_t)i * G,
                   (size_t)G * sizeof(float));
    }
}

/* The resnorm head's last Linear (64 -> 1) backward on nb rows: d a (at
 * leading dimension ld) is overwritten with drout * w2; dw2, db2 += */
static void resnorm_out_backward(float *da, int ld, const float *a, const float *w2,
                                 const float *drout, float *dw2, float *db2, int nb)
{
    for (int b = 0; b < nb; b++) {
        const float g = drout[b];
        const float *ar = a + (size_t)b * ld;
        float *dar = da + (size_t)b * ld;
        for (int j = 0; j < HH; j++) {
            dar[j] = g * w2[j];
            dw2[j] += g * ar[j];
        }
        *db2 += g;
    }
}

/* Backward of sel_heads_forward: dz (nb, LAT) is overwritten. */
static void sel_heads_backward(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb,
                               float *gr)
{
    const float *W = m->params;
    const int P = ws->P, G = ws->G;
    const size_t Bm = (size_t)ws->max_batch, r = (size_t)b0;
    const float sh = ws->train ? 1.0f / (1.0f - m->cfg.dropout_head) : 1.0f;
    const float *z = ws->z + r * LAT;
    float *dz = ws->dz + r * LAT;

    /* resnorm head first: it initialises dz */
    const float *ra = ws->ha + ((size_t)P * Bm + r) * HH;
    float *dra = ws->dha + ((size_t)P * Bm + r) * HH;
    resnorm_out_backward(dra, HH, ra, W + m->res2.w, ws->drout + r, gr + m->res2.w, gr + m->res2.b, nb);
    eisnet_cpu_relu_dropout_backward_inplace(dra, ra, nb, HH, HH, 1.0f);
    eisnet_cpu_gemm(1, 0, HH, LAT, nb, dra, HH, z, LAT, 1.0f, gr + m->res0.w, LAT);
    colsum_add(gr + m->res0.b, dra, nb, HH, HH);
    eisnet_cpu_gemm(0, 0, nb, LAT, HH, dra, HH, W + m->res0.w, LAT, 0.0f, dz, LAT);

    for (int k = 0; k < P; k++) {
        int *rows = ws->rows + (size_t)k * Bm + r;
        const int nk = selected_rows(ws, k, r, nb, rows);
        if (!nk) continue;
        const float *zk = head_latents(ws, k, r, nb, rows, nk, 0);
        const linear_p l0 = m->head0[k], l3 = m->head3[k];
        const float *a = ws->ha + ((size_t)k * Bm + r) * HH;
        float *da = ws->dha + ((size_t)k * Bm + r) * HH;
        float *dl = ws->dhl + ((size_t)k * Bm + r) * G;
        for (int i = 0; i < nk; i++)
            memcpy(dl + (size_t)i * G, ws->dlogits + ((size_t)rows[i] * P + k) * G,
                   (size_t)G * sizeof(float));
        eisnet_cpu_gemm(0, 0, nk, HH, G, dl, G, W + l3.w, HH, 0.0f, da, HH);
        eisnet_cpu_gemm(1, 0, G, HH, nk, dl, G, a, HH, 1.0f, gr + l3.w, HH);
        colsum_add(gr + l3.b, dl, nk, G, G);
        eisnet_cpu_relu_dropout_backward_inplace(da, a, nk, HH, HH, sh);
        eisnet_cpu_gemm(1, 0, HH, LAT, nk, da, HH, zk, LAT, 1.0f, gr + l0.w, LAT);
        colsum_add(gr + l0.b, da, nk, HH, HH);
        if (nk == nb) {
            eisnet_cpu_gemm(0, 0, nb, LAT, HH, da, HH, W + l0.w, LAT, 1.0f, dz, LAT);
        } else {
            float *dzg = ws->dzg + r * LAT;
            eisnet_cpu_gemm(0, 0, nk, LAT, HH, da, HH, W + l0.w, LAT, 0.0f, dzg, LAT);
            for (int i = 0; i < nk; i++) {
                float *dst = ws->dz + (size_t)rows[i] * LAT;
                const float *src = dzg + (size_t)i * LAT;
                for (int j = 0; j < LAT; j++) dst[j] += src[j];
            }
        }
    }
}

static void softmax_rows(const float *logits, float *probs, int G, long i0, long i1,
                         const uint8_t *sel);

/* rows i0 .. i1-1 of (row, head) logits: the plain loop on the reference
 * backend, the vectorised kernel on the fast one */
static void head_softmax(int fast, const float *logits, float *probs, int G, long i0, long i1,
                         const uint8_t *sel)
{
    if (fast)
        eisnet_cpu_softmax_rows(probs + (size_t)i0 * G, logits + (size_t)i0 * G, i1 - i0, G,
                                sel ? sel + i0 : NULL);
    else
        softmax_rows(logits, probs, G, i0, i1, sel);
}

/* sel (B, P) or NULL: the heads to evaluate per row (fast path only; the
 * reference path always runs every head). probs (B, P, G) or NULL: also the
 * softmax of each head, in the same parallel region (one thread team per
 * call). */
static int forward_impl(eisnet_model *m, eisnet_workspace *ws, const float *x, int B,
                        int train, uint64_t *rng, const uint8_t *sel, float *probs)
{
    if (check_ws(m, ws, B)) return -1;
    if (!x) return eisnet_set_error("model: NULL input");
    if (train && !rng) return eisnet_set_error("model: training forward needs an rng state");
    const int fast = use_fast(m);
    ws->use_sel = 0;
    if (sel && fast) {
        if (ensure_sel(ws)) return -1;
        memcpy(ws->sel, sel, (size_t)B * ws->P);
        ws->use_sel = 1;
    }
    memcpy(ws->x, x, (size_t)B * ws->n_in * sizeof(float));
    ws->B = B;
    ws->train = train != 0;
    ws->key = train ? splitmix64(rng) : 0;
    const int P = ws->P, G = ws->G;
    int T = threads_for(B);
    if (T <= 1) {
        if (fast) fast_forward_rows(m, ws, 0, B);
        else forward_rows(m, ws, 0, B);
        if (probs) head_softmax(fast, ws->logits, probs, G, 0, (long)B * P, sel);
    } else {
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int b0 = (int)((int64_t)B * t / nt), b1 = (int)((int64_t)B * (t + 1) / nt);
            if (b1 > b0) {
                if (fast) fast_forward_rows(m, ws, b0, b1 - b0);
                else forward_rows(m, ws, b0, b1 - b0);
                if (probs) head_softmax(fast, ws->logits, probs, G, (long)b0 * P, (long)b1 * P, sel);
            }
        }
#endif
    }
    ws->have_forward = 1;
    ws->have_loss = 0;
    return 0;
}

int eisnet_model_forward(eisnet_model *m, eisnet_workspace *ws, const float *x,
                         int B, int train, uint64_t *rng)
{
    return forward_impl(m, ws, x, B, train, rng, NULL, NULL);
}

/* ---- loss ------------------------------------------------------------------ */

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

int eisnet_loss_compute(const float *logits, const float *resnorm, int B, int P, int G,
                        const int32_t *target, const uint8_t *missing,
                        const float *resnorm_target, float resnorm_weight, eisnet_loss *out,
                        float *dlogits, float *dresnorm, int64_t *correct, int64_t *counted)
{
    if (!logits || !resnorm || !target || !missing || !resnorm_target || B < 1 || P < 1 || G < 1)
        return eisnet_set_error("loss: needs outputs, targets, missing mask and resnorm targets");
    for (int i = 0; i < B * P; i++)
        if (missing[i] && (target[i] < 0 || target[i] >= G))
            return eisnet_set_error("loss: target %d of row %d head %d outside 0..%d",
                                    (int)target[i], i / P, i % P, G - 1);
    double ce_sum = 0.0, se_sum = 0.0;
    int64_t *hits = calloc((size_t)2 * P, sizeof *hits);
    if (!hits) return eisnet_set_error("loss: out of memory");
    int64_t *cnts = hits + P;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel for num_threads(threads_for(B)) schedule(static) \
    reduction(+ : ce_sum, se_sum) reduction(+ : hits[:P], cnts[:P])
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
            hits[k] += hit;
            cnts[k] += 1;
        }
        if (n_miss) ce_sum += row / n_miss;
        float d = resnorm[b] - resnorm_target[b];
        se_sum += (double)d * d;
        if (dresnorm) dresnorm[b] = resnorm_weight * 2.0f * d / (float)B;
    }
    for (int k = 0; k < P; k++) {
        if (correct) correct[k] += hits[k];
        if (counted) counted[k] += cnts[k];
    }
    free(hits);
    if (out) {
        out->ce = ce_sum / B;
        out->mse = se_sum / B;
        out->loss = out->ce + resnorm_weight * out->mse;
    }
    return 0;
}

int eisnet_model_loss(eisnet_model *m, eisnet_workspace *ws, int B,
                      const int32_t *target, const uint8_t *missing,
                      const float *resnorm_target, float resnorm_weight,
                      eisnet_loss *out, int64_t *correct, int64_t *counted)
{
    if (check_ws(m, ws, B)) return -1;
    if (!ws->have_forward || ws->B != B)
        return eisnet_set_error("model: loss needs a forward pass on the same %d rows", B);
    if (eisnet_loss_compute(ws->logits, ws->rout, B, ws->P, ws->G, target, missing,
                            resnorm_target, resnorm_weight, out, ws->dlogits, ws->drout,
                            correct, counted))
        return -1;
    ws->have_loss = 1;
    return 0;
}

/* ---- backward -------------------------------------------------------------- */

static void zero_rows(float *buf, size_t width, int b0, int nb)
{
    memset(buf + (size_t)b0 * width, 0, (size_t)nb * width * sizeof(float));
}

/* Accumulates the gradients of rows b0 .. b0+nb-1 into gr (n_params floats). */
static void backward_rows(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb, float *gr)
{
    const eisnet_kernels *K = m->k;
    const float *W = m->params;
    const int n_in = ws->n_in, H = ws->H, H2 = ws->H2, P = ws->P, G = ws->G;
    const size_t Bm = (size_t)ws->max_batch, r = (size_t)b0;
    const eisnet_model_config *c = &m->cfg;
    const float s1 = ws->train ? 1.0f / (1.0f - c->dropout1) : 1.0f;
    const float s2 = ws->train ? 1.0f / (1.0f - c->dropout2) : 1.0f;
    const float sh = ws->train ? 1.0f / (1.0f - c->dropout_head) : 1.0f;

    /* every activation gradient is accumulated into: zero this block's rows */
    if (ws->input_grad) zero_rows(ws->dx, n_in, b0, nb);
    zero_rows(ws->dh1, H, b0, nb); zero_rows(ws->dl1, H, b0, nb); zero_rows(ws->da1, H, b0, nb);
    zero_rows(ws->dh2, H2, b0, nb); zero_rows(ws->dl2, H2, b0, nb); zero_rows(ws->da2, H2, b0, nb);
    zero_rows(ws->dz, LAT, b0, nb);
    zero_rows(ws->dru, HH, b0, nb); zero_rows(ws->dra, HH, b0, nb);
    for (int k = 0; k < P; k++) {
        zero_rows(ws->dhu + k * Bm * HH, HH, b0, nb);
        zero_rows(ws->dha + k * Bm * HH, HH, b0, nb);
    }

    const float *z = ws->z + r * LAT;
    float *dz = ws->dz + r * LAT;

    /* resnorm head */
    const float *ra = ws->ra + r * HH;
    float *dra = ws->dra + r * HH, *dru = ws->dru + r * HH;
    K->linear_backward(dra, gr + m->res2.w, gr + m->res2.b, ws->drout + r, ra, W + m->res2.w, nb, HH, 1);
    K->relu_dropout_backward(dru, dra, ra, (size_t)nb * HH, 1.0f);
    K->linear_backward(dz, gr + m->res0.w, gr + m->res0.b, dru, z, W + m->res0.w, nb, LAT, HH);

    /* parameter heads */
    for (int k = 0; k < P; k++) {
        const float *ha = ws->ha + (k * Bm + r) * HH;
        float *dha = ws->dha + (k * Bm + r) * HH, *dhu = ws->dhu + (k * Bm + r) * HH;
        float *dhl = ws->dhl + (k * Bm + r) * G;
        for (int b = 0; b < nb; b++) /* (B, P, G) -> this head's (B, G) */
            memcpy(dhl + (size_t)b * G, ws->dlogits + ((r + b) * P + k) * G, (size_t)G * sizeof(float));
        K->linear_backward(dha, gr + m->head3[k].w, gr + m->head3[k].b, dhl, ha, W + m->head3[k].w, nb, HH, G);
        K->relu_dropout_backward(dhu, dha, ha, (size_t)nb * HH, sh);
        K->linear_backward(dz, gr + m->head0[k].w, gr + m->head0[k].b, dhu, z, W + m->head0[k].w, nb, LAT, HH);
    }

    /* encoder */
    const float *a2 = ws->a2 + r * H2;
    float *da2 = ws->da2 + r * H2, *dl2 = ws->dl2 + r * H2, *dh2 = ws->dh2 + r * H2;
    K->linear_backward(da2, gr + m->enc8.w, gr + m->enc8.b, dz, a2, W + m->enc8.w, nb, H2, LAT);
    K->relu_dropout_backward(dl2, da2, a2, (size_t)nb * H2, s2);
    K->layernorm_backward(dh2, gr + m->ln5.w, gr + m->ln5.b, dl2, ws->h2 + r * H2, W + m->ln5.w,
                          ws->mean2 + r, ws->rstd2 + r, nb, H2);
    const float *a1 = ws->a1 + r * H;
    float *da1 = ws->da1 + r * H, *dl1 = ws->dl1 + r * H, *dh1 = ws->dh1 + r * H;
    K->linear_backward(da1, gr + m->enc4.w, gr + m->enc4.b, dh2, a1, W + m->enc4.w, nb, H, H2);
    K->relu_dropout_backward(dl1, da1, a1, (size_t)nb * H, s1);
    K->layernorm_backward(dh1, gr + m->ln1.w, gr + m->ln1.b, dl1, ws->h1 + r * H, W + m->ln1.w,
                          ws->mean1 + r, ws->rstd1 + r, nb, H);
    K->linear_backward(ws->input_grad ? ws->dx + r * n_in : NULL, gr + m->enc0.w, gr + m->enc0.b,
                       dh1, ws->x + r * n_in, W + m->enc0.w, nb, n_in, H);
}

/* d bias (n) += column sums of g (nb rows, leading dimension ld) */
static void colsum_add(float *db, const float *g, int nb, int n, int ld)
{
    for (int b = 0; b < nb; b++) {
        const float *row = g + (size_t)b * ld;
        for (int i = 0; i < n; i++) db[i] += row[i];
    }
}

/* The fast path's heads backward without a selection: dz (nb, LAT) is
 * overwritten. */
static void dense_heads_backward(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb,
                                 float *gr)
{
    const float *W = m->params;
    const int P = ws->P, G = ws->G;
    const int NH = (P + 1) * HH;
    const size_t r = (size_t)b0;
    const float sh = ws->train ? 1.0f / (1.0f - m->cfg.dropout_head) : 1.0f;
    float *dz = ws->dz + r * LAT;
    /* second head Linears: d a (nb, NH) is overwritten block by block */
    const float *a = ws->ha + r * NH, *z = ws->z + r * LAT;
    float *da = ws->dha + r * NH;
    const float *dlog = ws->dlogits + r * P * G;
    for (int k = 0; k < P; k++) {
        const linear_p l = m->head3[k];
        eisnet_cpu_gemm(0, 0, nb, HH, G, dlog + (size_t)k * G, P * G, W + l.w, HH, 0.0f, da + k * HH, NH);
        eisnet_cpu_gemm(1, 0, G, HH, nb, dlog + (size_t)k * G, P * G, a + k * HH, NH, 1.0f, gr + l.w, HH);
        colsum_add(gr + l.b, dlog + (size_t)k * G, nb, G, P * G);
    }
    resnorm_out_backward(da + (size_t)P * HH, NH, a + (size_t)P * HH, W + m->res2.w, ws->drout + r,
                         gr + m->res2.w, gr + m->res2.b, nb);
    /* ReLU / dropout backward in place: slope sh where the output passed */
    for (int k = 0; k <= P; k++)
        eisnet_cpu_relu_dropout_backward_inplace(da + k * HH, a + k * HH, nb, HH, NH, k < P ? sh : 1.0f);
    /* first head Linears: weight gradients per head (contiguous in gr), input
     * gradient accumulated over the heads */
    for (int k = 0; k <= P; k++) {
        const linear_p l = k < P ? m->head0[k] : m->res0;
        eisnet_cpu_gemm(1, 0, HH, LAT, nb, da + k * HH, NH, z, LAT, 1.0f, gr + l.w, LAT);
        colsum_add(gr + l.b, da + k * HH, nb, HH, NH);
    }
    for (int k = 0; k <= P; k++) {
        const linear_p l = k < P ? m->head0[k] : m->res0;
        eisnet_cpu_gemm(0, 0, nb, LAT, HH, da + k * HH, NH, W + l.w, LAT, k ? 1.0f : 0.0f, dz, LAT);
    }

}

/* The fast path's backward of rows b0 .. b0+nb-1 (see fast_forward_rows). */
static void fast_backward_rows(const eisnet_model *m, eisnet_workspace *ws, int b0, int nb, float *gr)
{
    const float *W = m->params;
    const int n_in = ws->n_in, H = ws->H, H2 = ws->H2;
    const size_t r = (size_t)b0;
    const eisnet_model_config *c = &m->cfg;
    const float s1 = ws->train ? 1.0f / (1.0f - c->dropout1) : 1.0f;
    const float s2 = ws->train ? 1.0f / (1.0f - c->dropout2) : 1.0f;

    if (ws->use_sel) sel_heads_backward(m, ws, b0, nb, gr);
    else dense_heads_backward(m, ws, b0, nb, gr);

    /* encoder */
    const float *dz = ws->dz + r * LAT;
    const float *a2 = ws->a2 + r * H2, *a1 = ws->a1 + r * H;
    float *da2 = ws->da2 + r * H2, *dh2 = ws->dh2 + r * H2;
    float *da1 = ws->da1 + r * H, *dh1 = ws->dh1 + r * H;
    eisnet_cpu_gemm(0, 0, nb, H2, LAT, dz, LAT, W + m->enc8.w, H2, 0.0f, da2, H2);
    eisnet_cpu_gemm(1, 0, LAT, H2, nb, dz, LAT, a2, H2, 1.0f, gr + m->enc8.w, H2);
    colsum_add(gr + m->enc8.b, dz, nb, LAT, LAT);
    eisnet_cpu_relu_dropout_layernorm_backward(dh2, gr + m->ln5.w, gr + m->ln5.b, da2, a2, s2,
                                               ws->h2 + r * H2, W + m->enc4.b, W + m->ln5.w,
                                               ws->mean2 + r, ws->rstd2 + r, nb, H2,
                                               gr + m->enc4.b);
    eisnet_cpu_gemm(0, 0, nb, H, H2, dh2, H2, W + m->enc4.w, H, 0.0f, da1, H);
    eisnet_cpu_gemm(1, 0, H2, H, nb, dh2, H2, a1, H, 1.0f, gr + m->enc4.w, H);
    eisnet_cpu_relu_dropout_layernorm_backward(dh1, gr + m->ln1.w, gr + m->ln1.b, da1, a1, s1,
                                               ws->h1 + r * H, W + m->enc0.b, W + m->ln1.w,
                                               ws->mean1 + r, ws->rstd1 + r, nb, H,
                                               gr + m->enc0.b);
    eisnet_cpu_gemm(1, 0, H, n_in, nb, dh1, H, ws->x + r * n_in, n_in, 1.0f, gr + m->enc0.w, n_in);
    if (ws->input_grad)
        eisnet_cpu_gemm(0, 0, nb, n_in, H, dh1, H, W + m->enc0.w, n_in, 0.0f, ws->dx + r * n_in, n_in);
}

/* The optimizer step fused into the backward's thread team (train_step on
 * the fast path with more than one thread): each thread zeroes, reduces,
 * measures and updates the same range of the gradient array, so the data
 * stays in its core's cache and no further thread team is started. */
typedef struct {
    eisnet_adamw *opt;
    eisnet_adamw_consts k; /* from eisnet_adamw_begin; grad_scale set per step */
    float max_grad_norm;
    float norm; /* out: the norm before clipping */
} fused_step;

/* clip by the norm (when max_grad_norm > 0) and apply AdamW to [i0, i1) */
static void fused_step_update(fused_step *step, float norm, float *params, const float *grads,
                              size_t i0, size_t i1)
{
    eisnet_adamw_consts k = step->k;
    k.grad_scale = step->max_grad_norm > 0.0f ? eisnet_clip_coef(norm, step->max_grad_norm) : 1.0f;
    eisnet_adamw_update(step->opt, &k, params, grads, i0, i1);
}

#ifdef EISNET_HAVE_OPENMP
/* the [i0, i1) share of thread t of nt, in whole cache lines */
static void grad_split(size_t n, int t, int nt, size_t *i0, size_t *i1)
{
    const size_t lines = (n + 15) / 16;
    *i0 = lines * (size_t)t / (size_t)nt * 16;
    *i1 = lines * (size_t)(t + 1) / (size_t)nt * 16;
    if (*i0 > n) *i0 = n;
    if (*i1 > n) *i1 = n;
}
#endif

static int backward_impl(eisnet_model *m, eisnet_workspace *ws, int B, fused_step *step)
{
    if (check_ws(m, ws, B)) return -1;
    if (!ws->have_loss || ws->B != B)
        return eisnet_set_error("model: backward needs forward and loss on the same %d rows", B);
    const int fast = use_fast(m);
    int T = threads_for(B);
    if (T <= 1) {
        if (step) eisnet_model_zero_grad(m);
        if (fast) fast_backward_rows(m, ws, 0, B, m->grads);
        else backward_rows(m, ws, 0, B, m->grads);
        if (step) {
            step->norm = eisnet_grad_norm(m->grads, m->n_params);
            fused_step_update(step, step->norm, m->params, m->grads, 0, m->n_params);
        }
        return 0;
    }
#ifdef EISNET_HAVE_OPENMP
    const size_t n = m->n_params;
    if (ws->n_tgrads < T - 1) {
        float *p = realloc(ws->tgrads, (size_t)(T - 1) * n * sizeof(float));
        if (!p) return eisnet_set_error("model: out of memory for per-thread gradients");
        ws->tgrads = p;
        ws->n_tgrads = T - 1;
    }
    if (ws->n_tsums < T) {
        double *p = realloc(ws->tsums, (size_t)T * sizeof(double));
        if (!p) return eisnet_set_error("model: out of memory for per-thread sums");
        ws->tsums = p;
        ws->n_tsums = T;
    }
    float *tg = ws->tgrads, *grads = m->grads, *params = m->params;
    double *tsums = ws->tsums;
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *gr = t == 0 ? grads : tg + (size_t)(t - 1) * n;
        size_t i0, i1;
        grad_split(n, t, nt, &i0, &i1);
        if (step) /* zero_grad: the lines this thread reduced last step */
            memset(grads + i0, 0, (i1 - i0) * sizeof(float));
        if (t > 0) memset(gr, 0, n * sizeof(float));
        if (step) {
#pragma omp barrier
        }
        int b0 = (int)((int64_t)B * t / nt), b1 = (int)((int64_t)B * (t + 1) / nt);
        if (b1 > b0) {
            if (fast) fast_backward_rows(m, ws, b0, b1 - b0, gr);
            else backward_rows(m, ws, b0, b1 - b0, gr);
        }
#pragma omp barrier
        for (int u = 0; u < nt - 1; u++) { /* contiguous: vectorised */
            const float *src = tg + (size_t)u * n;
            for (size_t i = i0; i < i1; i++) grads[i] += src[i];
        }
        if (step) {
            tsums[t] = eisnet_grad_sumsq(grads, i0, i1);
#pragma omp barrier
            double ss = 0.0; /* the same order on every thread: the same coef */
            for (int u = 0; u < nt; u++) ss += tsums[u];
            const float norm = (float)sqrt(ss);
            fused_step_update(step, norm, params, grads, i0, i1);
            if (t == 0) step->norm = norm;
        }
    }
#else
    (void)step;
#endif
    return 0;
}

int eisnet_model_backward(eisnet_model *m, eisnet_workspace *ws, int B)
{
    return backward_impl(m, ws, B, NULL);
}

/* ---- inference ------------------------------------------------------------- */

/* probs rows i0 .. i1-1 = softmax of the logits rows, G classes each; rows
 * with sel[i] == 0 (sel may be NULL: all) are not evaluated: zeros */
static void softmax_rows(const float *logits, float *probs, int G, long i0, long i1,
                         const uint8_t *sel)
{
    for (long i = i0; i < i1; i++) {
        const float *lg = logits + (size_t)i * G;
        float *pr = probs + (size_t)i * G;
        if (sel && !sel[i]) {
            memset(pr, 0, (size_t)G * sizeof(float));
            continue;
        }
        float mx = lg[0];
        for (int g = 1; g < G; g++) mx = lg[g] > mx ? lg[g] : mx;
        float sum = 0.0f;
        for (int g = 0; g < G; g++) sum += pr[g] = expf(lg[g] - mx);
        for (int g = 0; g < G; g++) pr[g] /= sum;
    }
}

int eisnet_model_predict_one(eisnet_model *m, eisnet_workspace *ws, const float *x,
                             const uint8_t *missing, float *probs_out, float *resnorm_out)
{
    return eisnet_model_predict_masked(m, ws, x, 1, missing, probs_out, resnorm_out);
}

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
    if (use_fast(m) && threads_for(B) > 1) {
        /* zero_grad, clipping and AdamW inside the backward's thread team */
        if (forward_impl(m, ws, x, B, 1, rng, missing, NULL)) return -1;
        if (eisnet_model_loss(m, ws, B, target, missing, resnorm_target, resnorm_weight, out,
                              correct, counted))
            return -1;
        fused_step step = {opt, eisnet_adamw_begin(opt, 1.0f), max_grad_norm, 0.0f};
        if (backward_impl(m, ws, B, &step)) {
            opt->step--; /* no update happened */
            return -1;
        }
        if (grad_norm) *grad_norm = step.norm;
        return 0;
    }
    eisnet_model_zero_grad(m);
    /* only the missing parameters' heads: the loss ignores the others */
    if (forward_impl(m, ws, x, B, 1, rng, missing, NULL)) return -1;
    if (eisnet_model_loss(m, ws, B, target, missing, resnorm_target, resnorm_weight, out,
                          correct, counted))
        return -1;
    if (eisnet_model_backward(m, ws, B)) return -1;
    const float norm = eisnet_grad_norm(m->grads, m->n_params);
    const float coef = max_grad_norm > 0.0f ? eisnet_clip_coef(norm, max_grad_norm) : 1.0f;
    eisnet_adamw_step_scaled(opt, m->params, m->grads, coef);
    if (grad_norm) *grad_norm = norm;
    return 0;
}

int eisnet_model_predict(eisnet_model *m, eisnet_workspace *ws, const float *x,
                         int B, float *probs_out, float *resnorm_out)
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
        if (resnorm_out) memcpy(resnorm_out + s, ws->rout, (size_t)nb * sizeof(float));
    }
    return 0;
}
