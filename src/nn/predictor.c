/* A network with its configuration: inputs, features, checkpoints. */
#include "eisnet/predictor.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/npy.h"
#include "eisnet/safetensors.h"
#include "grid_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_KEY "eisnet_config"

int eisnet_predictor_n_in(const eisnet_predictor *p) { return 2 * p->grid.n_params + p->n_features; }

int eisnet_predictor_init(eisnet_predictor *p, const eisnet_grid_options *go, int features, int hidden, int known,
                          uint64_t seed)
{
    memset(p, 0, sizeof *p);
    if (eisnet_grid_init(&p->grid, go) != 0) return -1;
    p->features = features ? 1 : 0;
    p->n_features = features ? 2 * p->grid.n_freq : 0;
    p->known = known;
    p->resnorm_floor = 1e-6f;
    snprintf(p->training, sizeof p->training, "topk");
    p->epoch = 0;
    p->val_loss = NAN;
    if (p->n_features) {
        p->feat_mean = calloc((size_t)p->n_features, sizeof(float));
        p->feat_std = malloc(sizeof(float) * (size_t)p->n_features);
        if (!p->feat_mean || !p->feat_std) {
            eisnet_predictor_free(p);
            return eisnet_set_error("out of memory");
        }
        for (int i = 0; i < p->n_features; i++) p->feat_std[i] = 1.0f;
    }
    if (hidden < 2 || hidden % 2 != 0 || hidden > EISNET_MODEL_MAX_HIDDEN) {
        eisnet_predictor_free(p);
        return eisnet_set_error("--hidden_dim must be an even number from 2 to %d (got %d)", EISNET_MODEL_MAX_HIDDEN,
                                hidden);
    }
    eisnet_model_config mc = eisnet_model_config_default(eisnet_predictor_n_in(p), p->grid.n_params, p->grid.n_grid);
    mc.hidden = hidden;
    p->model = eisnet_model_new(&mc, seed);
    if (!p->model) {
        eisnet_predictor_free(p);
        return eisnet_prefix_error("cannot create the network: ");
    }
    return 0;
}

void eisnet_predictor_free(eisnet_predictor *p)
{
    eisnet_model_free(p->model);
    free(p->feat_mean);
    free(p->feat_std);
    eisnet_grid_free(&p->grid);
    memset(p, 0, sizeof *p);
}

void eisnet_spectrum_raw_features(const double complex *z, int n_freq, float *out)
{
    for (int f = 0; f < n_freq; f++) {
        /* log10|Z| without the hypot: |Z|^2 of an impedance cannot overflow */
        out[2 * f] = (float)(0.5 * log10(creal(z[f]) * creal(z[f]) + cimag(z[f]) * cimag(z[f])));
        out[2 * f + 1] = (float)carg(z[f]);
    }
}

void eisnet_predictor_spectrum_features(const eisnet_predictor *p, const double complex *z, float *out)
{
    if (!p->n_features) return;
    eisnet_spectrum_raw_features(z, p->grid.n_freq, out);
    for (int i = 0; i < p->n_features; i++) out[i] = (out[i] - p->feat_mean[i]) / p->feat_std[i];
}

void eisnet_predictor_input(const eisnet_predictor *p, const double *values, const uint8_t *known, const float *feats,
                            float *x)
{
    int P = p->grid.n_params;
    for (int i = 0; i < P; i++) {
        double v = log10(values[i]);
        if (p->known_unit) {
            double l0 = log10(p->grid.lo[i]), l1 = log10(p->grid.hi[i]);
            v = l1 > l0 ? (v - l0) / (l1 - l0) : 0.5;
        }
        x[i] = known[i] ? (float)v : 0.0f;
        x[P + i] = known[i] ? 1.0f : 0.0f;
    }
    if (p->n_features) memcpy(x + 2 * P, feats, sizeof(float) * (size_t)p->n_features);
}

static char *config_json(const eisnet_predictor *p)
{
    const eisnet_grid *g = &p->grid;
    const eisnet_model_config *mc = eisnet_model_get_config(p->model);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "eisnet-predictor");
    cJSON_AddNumberToObject(j, "version", 1);
    eisnet_grid_json_write(g, j);
    cJSON *grid = cJSON_AddArrayToObject(j, "grid"); /* informational: the values themselves */
    for (int i = 0; i < g->n_params; i++)
        cJSON_AddItemToArray(grid, cJSON_CreateDoubleArray(g->values + (size_t)i * g->n_grid, g->n_grid));
    cJSON_AddStringToObject(j, "features", p->features ? "spectrum" : "params");
    if (p->n_features) {
        cJSON_AddItemToObject(j, "feat_mean", cJSON_CreateFloatArray(p->feat_mean, p->n_features));
        cJSON_AddItemToObject(j, "feat_std", cJSON_CreateFloatArray(p->feat_std, p->n_features));
    }
    cJSON_AddNumberToObject(j, "known", p->known);
    cJSON_AddNumberToObject(j, "resnorm_floor", p->resnorm_floor);
    cJSON_AddStringToObject(j, "known_scaling", p->known_unit ? "unit" : "log10");
    cJSON_AddStringToObject(j, "training", p->training);
    if (p->sigma > 0) cJSON_AddNumberToObject(j, "sigma", p->sigma);
    cJSON *m = cJSON_AddObjectToObject(j, "model");
    cJSON_AddNumberToObject(m, "n_in", mc->n_in);
    cJSON_AddNumberToObject(m, "n_params", mc->n_params);
    cJSON_AddNumberToObject(m, "n_grid", mc->n_grid);
    cJSON_AddNumberToObject(m, "hidden", mc->hidden);
    float d[3] = {mc->dropout1, mc->dropout2, mc->dropout_head};
    cJSON_AddItemToObject(m, "dropout", cJSON_CreateFloatArray(d, 3));
    cJSON_AddNumberToObject(j, "epoch", p->epoch);
    if (p->generation > 0) cJSON_AddNumberToObject(j, "generation", (double)p->generation);
    if (isfinite(p->val_loss)) cJSON_AddNumberToObject(j, "val_loss", p->val_loss);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

int eisnet_predictor_save(const eisnet_predictor *p, const char *path)
{
    char *stem = eisnet_checkpoint_stem(path);
    char *cfg = config_json(p);
    int nt = eisnet_model_n_tensors(p->model);
    eisnet_array *arr = calloc((size_t)nt + 1, sizeof *arr);
    size_t sl = stem ? strlen(stem) : 0;
    char *pst = malloc(sl + 16), *pnz = malloc(sl + 16);
    int rc = -1;
    if (!stem || !cfg || !arr || !pst || !pnz) {
        eisnet_set_error("out of memory");
        goto out;
    }
    snprintf(pst, sl + 16, "%s.safetensors", stem);
    snprintf(pnz, sl + 16, "%s.npz", stem);
    float *params = eisnet_model_params(p->model);
    for (int i = 0; i < nt; i++) {
        const eisnet_tensor_info *t = eisnet_model_tensor(p->model, i);
        snprintf(arr[i].name, sizeof arr[i].name, "%s", t->name);
        arr[i].dtype = EISNET_F32;
        arr[i].ndim = t->ndim;
        arr[i].shape[0] = t->shape[0];
        arr[i].shape[1] = t->shape[1];
        arr[i].data = params + t->offset;
        arr[i].nbytes = t->numel * sizeof(float);
    }
    const char *keys[1] = {CONFIG_KEY}, *vals[1] = {cfg};
    if (eisnet_safetensors_write(pst, arr, (size_t)nt, keys, vals, 1) != 0) goto out;
    snprintf(arr[nt].name, sizeof arr[nt].name, "%s", CONFIG_KEY);
    arr[nt].dtype = EISNET_U8;
    arr[nt].ndim = 1;
    arr[nt].shape[0] = (int64_t)strlen(cfg);
    arr[nt].data = cfg;
    arr[nt].nbytes = strlen(cfg);
    if (eisnet_npz_write(pnz, arr, (size_t)nt + 1, 0) != 0) goto out;
    rc = 0;
out:
    free(stem);
    free(cfg);
    free(arr);
    free(pst);
    free(pnz);
    return rc;
}

static int json_int(const cJSON *o, const char *k, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 1e9) return -1;
    *out = (int)v->valuedouble;
    return 0;
}

static int json_num(const cJSON *o, const char *k, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
    *out = v->valuedouble;
    return 0;
}

static int json_floats(const cJSON *a, float *out, int n)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return -1;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
    {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
        out[i++] = (float)v->valuedouble;
    }
    return 0;
}

static int from_config(eisnet_predictor *p, const char *path, const char *text, size_t len, size_t file_floats)
{
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j) return eisnet_set_error("%s: the model configuration is not valid JSON", path);
    int rc = -1, known = 0, hidden = 0, n_in = 0, grid_ready = 0;
    double floor_v = 1e-6;
    eisnet_grid g;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *feats = cJSON_GetObjectItemCaseSensitive(j, "features");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "eisnet-predictor") != 0 || !cJSON_IsString(feats) ||
        !cJSON_IsObject(m) || json_int(j, "known", &known) || json_int(m, "hidden", &hidden) ||
        json_int(m, "n_in", &n_in)) {
        eisnet_set_error("%s: not an eisnet model (configuration incomplete)", path);
        goto out;
    }
    if (eisnet_grid_json_read(&g, j, path) != 0) goto out;
    grid_ready = 1;
    json_num(j, "resnorm_floor", &floor_v);
    int features = strcmp(feats->valuestring, "spectrum") == 0;
    if (!features && strcmp(feats->valuestring, "params") != 0) {
        eisnet_set_error("%s: unknown features '%s'", path, feats->valuestring);
        goto out;
    }
    {
        /* The configuration may not ask for more than the file holds: a
         * large network is not allocated for a small file. Small mismatches
         * go on to the tensor-by-tensor check, whose messages name the
         * tensor. */
        eisnet_model_config mc = eisnet_model_config_default(n_in, g.n_params, g.n_grid);
        mc.hidden = hidden;
        size_t want = eisnet_model_config_n_params(&mc);
        if (want == 0 || (want > file_floats && want > ((size_t)1 << 24))) {
            eisnet_set_error("%s: the model configuration (hidden %d, %d inputs) does not match the tensors in the "
                             "file (%zu float32 values)", path, hidden, n_in, file_floats);
            goto out;
        }
    }
    eisnet_grid_options go;
    eisnet_range_strings rs;
    eisnet_grid_options_of(&g, &go, &rs);
    if (eisnet_predictor_init(p, &go, features, hidden, known, 0) != 0) {
        eisnet_prefix_error("%s: bad model configuration: ", path);
        goto out;
    }
    if (eisnet_predictor_n_in(p) != n_in) {
        eisnet_set_error("%s: the model configuration is inconsistent (n_in)", path);
        eisnet_predictor_free(p);
        goto out;
    }
    p->resnorm_floor = (float)floor_v;
    /* fields added with training by simulation: absent in older checkpoints */
    const cJSON *ks = cJSON_GetObjectItemCaseSensitive(j, "known_scaling");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(j, "training");
    if (cJSON_IsString(ks) && strcmp(ks->valuestring, "unit") == 0) p->known_unit = 1;
    else if (ks && !(cJSON_IsString(ks) && strcmp(ks->valuestring, "log10") == 0)) {
        eisnet_set_error("%s: unknown known_scaling in the model configuration", path);
        eisnet_predictor_free(p);
        goto out;
    }
    if (cJSON_IsString(tr)) snprintf(p->training, sizeof p->training, "%s", tr->valuestring);
    double sg;
    if (json_num(j, "sigma", &sg) == 0) {
        if (!(sg > 0 && sg < 1)) {
            eisnet_set_error("%s: sigma %g in the model configuration is not in (0, 1)", path, sg);
            eisnet_predictor_free(p);
            goto out;
        }
        p->sigma = sg;
    }
    float dr[3];
    const cJSON *dj = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (dj && (json_floats(dj, dr, 3) != 0 || eisnet_model_set_dropout(p->model, dr[0], dr[1], dr[2]) != 0)) {
        eisnet_set_error("%s: bad dropout in the model configuration", path);
        eisnet_predictor_free(p);
        goto out;
    }
    if (p->n_features &&
        (json_floats(cJSON_GetObjectItemCaseSensitive(j, "feat_mean"), p->feat_mean, p->n_features) ||
         json_floats(cJSON_GetObjectItemCaseSensitive(j, "feat_std"), p->feat_std, p->n_features))) {
        eisnet_set_error("%s: bad feature normalisation in the model configuration", path);
        eisnet_predictor_free(p);
        goto out;
    }
    json_int(j, "epoch", &p->epoch);
    {
        const cJSON *gen = cJSON_GetObjectItemCaseSensitive(j, "generation");
        if (cJSON_IsNumber(gen) && gen->valuedouble >= 0 && gen->valuedouble < 9e15)
            p->generation = (int64_t)gen->valuedouble;
    }
    double vl;
    if (json_num(j, "val_loss", &vl) == 0) p->val_loss = vl;
    rc = 0;
out:
    if (grid_ready) eisnet_grid_free(&g);
    cJSON_Delete(j);
    return rc;
}

int eisnet_predictor_from_arrays(eisnet_predictor *p, const char *name, const eisnet_array *arr, size_t n,
                                 size_t n_other, const char *cfg, size_t cfg_len)
{
    memset(p, 0, sizeof *p);
    size_t file_floats = 0;
    for (size_t i = 0; i < n; i++)
        if (arr[i].dtype == EISNET_F32) file_floats += (size_t)eisnet_array_count(&arr[i]);
    if (from_config(p, name, cfg, cfg_len, file_floats) != 0) return -1;
    int nt = eisnet_model_n_tensors(p->model);
    float *params = eisnet_model_params(p->model);
    size_t matched = 0;
    for (int i = 0; i < nt; i++) {
        const eisnet_tensor_info *t = eisnet_model_tensor(p->model, i);
        const eisnet_array *a = eisnet_arrays_find(arr, n, t->name);
        if (!a) {
            eisnet_set_error("%s: tensor '%s' is missing", name, t->name);
            goto fail;
        }
        int shape_ok = a->dtype == EISNET_F32 && a->ndim == t->ndim && a->shape[0] == t->shape[0] &&
                       (t->ndim == 1 || a->shape[1] == t->shape[1]);
        if (!shape_ok) {
            eisnet_set_error("%s: tensor '%s' has the wrong shape or type", name, t->name);
            goto fail;
        }
        memcpy(params + t->offset, a->data, t->numel * sizeof(float));
        for (size_t k = 0; k < t->numel; k++)
            if (!isfinite(params[t->offset + k])) {
                eisnet_set_error("%s: tensor '%s' holds NaN or infinity", name, t->name);
                goto fail;
            }
        matched++;
    }
    if (matched + n_other != n) {
        eisnet_set_error("%s: unexpected extra tensors (%zu, expected %d)", name, n, nt);
        goto fail;
    }
    return 0;
fail:
    eisnet_predictor_free(p);
    return -1;
}

int eisnet_predictor_load(eisnet_predictor *p, const char *path)
{
    memset(p, 0, sizeof *p);
    eisnet_array *arr = NULL;
    size_t n = 0, n_meta = 0;
    char **mk = NULL, **mv = NULL;
    const char *cfg = NULL;
    size_t cfg_len = 0;
    size_t len = strlen(path);
    int is_npz = len > 4 && strcmp(path + len - 4, ".npz") == 0;
    int rc = -1;
    if (is_npz) {
        if (eisnet_npz_read(path, &arr, &n) != 0) {
            eisnet_prefix_error("not an eisnet model: ");
            return -1;
        }
        const eisnet_array *c = eisnet_arrays_find(arr, n, CONFIG_KEY);
        if (c && c->dtype == EISNET_U8 && c->ndim == 1) {
            cfg = c->data;
            cfg_len = c->nbytes;
        }
    } else {
        if (eisnet_safetensors_read(path, &arr, &n, &mk, &mv, &n_meta) != 0) {
            eisnet_prefix_error("not an eisnet model: ");
            return -1;
        }
        cfg = eisnet_safetensors_meta_get(mk, mv, n_meta, CONFIG_KEY);
        cfg_len = cfg ? strlen(cfg) : 0;
    }
    if (!cfg)
        eisnet_set_error("%s: no eisnet configuration in the file (not written by eisnet train?)", path);
    else /* an .npz holds its configuration as one more array */
        rc = eisnet_predictor_from_arrays(p, path, arr, n, is_npz ? 1 : 0, cfg, cfg_len);
    eisnet_arrays_free(arr, n);
    eisnet_safetensors_free_meta(mk, mv, n_meta);
    return rc;
}
