/* The network's parameters (layout, initialisation, tensor table) and its
 * memory: parameters, gradients and AdamW moments live in the backend's
 * buffers (eisnet/backend.h); the host sees them only at the edges, through
 * eisnet_model_params / _grads, which for a backend whose memory the host
 * cannot read hand out host copies that are uploaded again before the next
 * pass. The passes themselves are in src/nn/model_pass.c. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/error.h"

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

/* ---- construction and the tensor table ------------------------------------ */

/* ---- memory and its host edges -------------------------------------------- */

static void release_memory(eisnet_model *m)
{
    eisnet_backend *be = m->be;
    if (be) {
        be->ops->free_buffer(be, m->params);
        be->ops->free_buffer(be, m->grads);
        be->ops->free_buffer(be, m->opt_mv);
    }
    free(m->host_params);
    free(m->host_grads);
    m->params = m->grads = m->opt_mv = m->host_params = m->host_grads = NULL;
    m->opt_owner = NULL;
    m->params_dirty = m->grads_dirty = 0;
}

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
    m->be = eisnet_backend_default();

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

    /* the default backend's memory is the host's: initialised in place */
    m->params = m->be->ops->alloc(m->be, m->n_params * sizeof(float));
    m->grads = m->be->ops->alloc(m->be, m->n_params * sizeof(float));
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
    release_memory(m);
    eisnet_backend_free(m->be);
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


/* the host view of a backend array: itself, or a host copy made current
 * (unless the caller holds a newer one) and marked as handed out */
static float *host_view(eisnet_model *m, float *buf, float *host, int *dirty)
{
    if (m->be->host_visible) return buf;
    if (!*dirty) m->be->ops->download(m->be, host, buf, m->n_params * sizeof(float));
    *dirty = 1;
    return host;
}

float *eisnet_model_params(eisnet_model *m)
{
    return host_view(m, m->params, m->host_params, &m->params_dirty);
}

float *eisnet_model_grads(eisnet_model *m)
{
    return host_view(m, m->grads, m->host_grads, &m->grads_dirty);
}

void eisnet_model_zero_grad(eisnet_model *m)
{
    m->be->ops->zero(m->be, m->grads, m->n_params * sizeof(float));
    m->grads_dirty = 0;
}

void eisnet_model_sync_in(eisnet_model *m)
{
    const size_t bytes = m->n_params * sizeof(float);
    if (m->params_dirty) m->be->ops->upload(m->be, m->params, m->host_params, bytes);
    if (m->grads_dirty) m->be->ops->upload(m->be, m->grads, m->host_grads, bytes);
    m->params_dirty = m->grads_dirty = 0;
}

eisnet_backend *eisnet_model_get_backend(const eisnet_model *m) { return m->be; }

int eisnet_model_set_backend(eisnet_model *m, eisnet_backend *be)
{
    if (!be) be = eisnet_backend_default();
    if (be == m->be) return 0;
    const size_t n = m->n_params, bytes = n * sizeof(float);
    float *p = be->ops->alloc(be, bytes), *g = be->ops->alloc(be, bytes);
    float *hp = be->host_visible ? NULL : malloc(bytes), *hg = be->host_visible ? NULL : malloc(bytes);
    if (!p || !g || (!be->host_visible && (!hp || !hg))) {
        be->ops->free_buffer(be, p);
        be->ops->free_buffer(be, g);
        free(hp);
        free(hg);
        return eisnet_set_error("model: out of memory on backend %s for %zu parameters", be->name, n);
    }
    /* through the host: the old backend's view, then the new one's upload */
    be->ops->upload(be, p, eisnet_model_params(m), bytes);
    be->ops->upload(be, g, eisnet_model_grads(m), bytes);
    release_memory(m);
    eisnet_backend_free(m->be);
    m->be = eisnet_backend_retain(be);
    m->params = p;
    m->grads = g;
    m->host_params = hp;
    m->host_grads = hg;
    return be->ops->sync(be);
}

int eisnet_model_opt_moments(eisnet_model *m, const eisnet_adamw *opt, float **mo, float **vo)
{
    eisnet_backend *be = m->be;
    if (be->host_visible) {
        *mo = opt->m;
        *vo = opt->v;
        return 0;
    }
    const size_t n = m->n_params;
    if (!m->opt_mv) {
        m->opt_mv = be->ops->alloc(be, 2 * n * sizeof(float));
        if (!m->opt_mv) return -1;
        m->opt_owner = NULL;
    }
    if (m->opt_owner != opt || m->opt_step != opt->step) {
        be->ops->upload(be, m->opt_mv, opt->m, n * sizeof(float));
        be->ops->upload(be, m->opt_mv + n, opt->v, n * sizeof(float));
        m->opt_owner = opt;
        m->opt_step = opt->step;
    }
    *mo = m->opt_mv;
    *vo = m->opt_mv + n;
    return 0;
}

int eisnet_model_optimizer_to_host(eisnet_model *m, eisnet_adamw *opt)
{
    eisnet_backend *be = m->be;
    if (be->host_visible || m->opt_owner != opt || !m->opt_mv) return 0;
    const size_t n = m->n_params;
    be->ops->download(be, opt->m, m->opt_mv, n * sizeof(float));
    be->ops->download(be, opt->v, m->opt_mv + n, n * sizeof(float));
    return be->ops->sync(be);
}

/* ---- workspace ------------------------------------------------------------- */

static void ws_release(eisnet_workspace *ws)
{
    eisnet_backend *be = ws->be;
    be->ops->free_buffer(be, ws->mem);
    be->ops->free_buffer(be, ws->zg);
    be->ops->free_buffer(be, ws->sel);
    be->ops->free_buffer(be, ws->d_target);
    be->ops->free_buffer(be, ws->d_missing);
    be->ops->free_buffer(be, ws->d_rtarget);
    be->ops->free_buffer(be, ws->d_probs);
    if (ws->sel_host != ws->sel) free(ws->sel_host);
    free(ws->rows);
    free(ws->h_logits);
    free(ws->h_rout);
    free(ws->h_dx);
    ws->mem = ws->zg = ws->dzg = ws->d_rtarget = ws->d_probs = NULL;
    ws->h_logits = ws->h_rout = ws->h_dx = NULL;
    ws->sel = ws->sel_host = ws->d_missing = NULL;
    ws->d_target = NULL;
    ws->rows = NULL;
    ws->have_forward = ws->have_loss = 0;
}

/* the activation buffers on ws->be, carved out of one allocation */
static int ws_alloc(eisnet_workspace *ws)
{
    eisnet_backend *be = ws->be;
    const size_t Bm = (size_t)ws->max_batch;
    const size_t n_in = ws->n_in, H = ws->H, H2 = ws->H2, P = ws->P, G = ws->G;
    const size_t NH = (P + 1) * HH;
    /* widths per row, in the order they are carved out below */
    const size_t per_row = n_in + 2 * H + 2 + 2 * H2 + 2 + LAT + 2 * NH + P * G + 1 + P * G
                         + n_in + 2 * H + 2 * H2 + LAT + NH + P * G + 1 + P * G;
    ws->mem = be->ops->alloc(be, per_row * Bm * sizeof(float));
    if (!ws->mem) return eisnet_set_error("workspace: out of memory for batch %d", ws->max_batch);
    float *p = ws->mem;
#define TAKE(field, width) (ws->field = p, p += (width) * Bm)
    TAKE(x, n_in); TAKE(h1, H); TAKE(a1, H); TAKE(mean1, 1); TAKE(rstd1, 1);
    TAKE(h2, H2); TAKE(a2, H2); TAKE(mean2, 1); TAKE(rstd2, 1); TAKE(z, LAT);
    TAKE(hu, NH); TAKE(ha, NH); TAKE(hl, P * G); TAKE(rout, 1); TAKE(logits, P * G);
    TAKE(dx, n_in); TAKE(dh1, H); TAKE(da1, H); TAKE(dh2, H2); TAKE(da2, H2);
    TAKE(dz, LAT); TAKE(dha, NH); TAKE(dhl, P * G); TAKE(drout, 1); TAKE(dlogits, P * G);
#undef TAKE
    if (!be->host_visible) {
        ws->h_logits = malloc(Bm * P * G * sizeof(float));
        ws->h_rout = malloc(Bm * sizeof(float));
        ws->h_dx = malloc(Bm * n_in * sizeof(float));
        if (!ws->h_logits || !ws->h_rout || !ws->h_dx) {
            ws_release(ws);
            return eisnet_set_error("workspace: out of memory for batch %d", ws->max_batch);
        }
    }
    return 0;
}

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
    ws->be = eisnet_backend_retain(m->be);
    ws->max_batch = max_batch;
    ws->n_in = m->cfg.n_in;
    ws->H = m->cfg.hidden;
    ws->H2 = m->cfg.hidden / 2;
    ws->P = m->cfg.n_params;
    ws->G = m->cfg.n_grid;
    if (ws_alloc(ws)) {
        eisnet_backend_free(ws->be);
        free(ws);
        return NULL;
    }
    return ws;
}

void eisnet_workspace_free(eisnet_workspace *ws)
{
    if (!ws) return;
    ws_release(ws);
    eisnet_backend_free(ws->be);
    free(ws);
}

int eisnet_workspace_bind(eisnet_workspace *ws, const eisnet_model *m)
{
    if (ws->be == m->be) return 0;
    ws_release(ws);
    eisnet_backend_free(ws->be);
    ws->be = eisnet_backend_retain(m->be);
    return ws_alloc(ws);
}

int eisnet_workspace_ensure_sel(eisnet_workspace *ws)
{
    if (ws->sel) return 0;
    eisnet_backend *be = ws->be;
    const size_t Bm = (size_t)ws->max_batch, P = (size_t)ws->P;
    ws->sel = be->ops->alloc(be, Bm * P);
    ws->sel_host = be->host_visible ? ws->sel : malloc(Bm * P);
    ws->rows = malloc(P * Bm * sizeof(int));
    ws->zg = be->ops->alloc(be, (P + 1) * Bm * LAT * sizeof(float));
    if (!ws->sel || !ws->sel_host || !ws->rows || !ws->zg) {
        be->ops->free_buffer(be, ws->sel);
        if (ws->sel_host != ws->sel) free(ws->sel_host);
        be->ops->free_buffer(be, ws->zg);
        free(ws->rows);
        ws->sel = ws->sel_host = NULL;
        ws->zg = NULL;
        ws->rows = NULL;
        return eisnet_set_error("workspace: out of memory for head selection");
    }
    ws->dzg = ws->zg + P * Bm * LAT;
    return 0;
}

int eisnet_workspace_ensure_device_io(eisnet_workspace *ws)
{
    if (ws->be->host_visible || ws->d_target) return 0;
    eisnet_backend *be = ws->be;
    const size_t Bm = (size_t)ws->max_batch, P = (size_t)ws->P, G = (size_t)ws->G;
    ws->d_target = be->ops->alloc(be, Bm * P * sizeof(int32_t));
    ws->d_missing = be->ops->alloc(be, Bm * P);
    ws->d_rtarget = be->ops->alloc(be, Bm * sizeof(float));
    ws->d_probs = be->ops->alloc(be, Bm * P * G * sizeof(float));
    if (!ws->d_target || !ws->d_missing || !ws->d_rtarget || !ws->d_probs) {
        be->ops->free_buffer(be, ws->d_target);
        be->ops->free_buffer(be, ws->d_missing);
        be->ops->free_buffer(be, ws->d_rtarget);
        be->ops->free_buffer(be, ws->d_probs);
        ws->d_target = NULL;
        ws->d_missing = NULL;
        ws->d_rtarget = ws->d_probs = NULL;
        return eisnet_set_error("workspace: out of memory for batch %d", ws->max_batch);
    }
    return 0;
}

void eisnet_workspace_set_input_grad(eisnet_workspace *ws, int on) { ws->input_grad = on != 0; }

/* a workspace output on the host: itself, or downloaded into its host copy */
static const float *ws_out(const eisnet_workspace *ws, const float *buf, float *host, size_t n)
{
    if (ws->be->host_visible) return buf;
    ws->be->ops->download(ws->be, host, buf, n * sizeof(float));
    return host;
}

const float *eisnet_workspace_logits(const eisnet_workspace *ws)
{
    return ws_out(ws, ws->logits, ws->h_logits, (size_t)ws->B * ws->P * ws->G);
}

const float *eisnet_workspace_resnorm(const eisnet_workspace *ws)
{
    return ws_out(ws, ws->rout, ws->h_rout, (size_t)ws->B);
}

const float *eisnet_workspace_dx(const eisnet_workspace *ws)
{
    return ws_out(ws, ws->dx, ws->h_dx, (size_t)ws->B * ws->n_in);
}
