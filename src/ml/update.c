/* `eisnet update`: continuous learning from new measurements (eisnet/update.h). */
#include "eisnet/update.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/journal.h"
#include "eisnet/fileio.h"
#include "eisnet/backend.h"
#include "eisnet/progress.h"
#include "eisnet/resnorm.h"
#include "eisnet/rng.h"
#include "eisnet/spectrum.h"
#include "eisnet/train.h"
#include "eisnet/pair.h"
#include "eisnet/train_state.h"
#include "ml_common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* update number u draws its dropout key and replay rows from stream BASE + u */
#define STREAM_UPDATE_BASE (UINT64_C(1) << 40)
#define EVAL_BATCH 256
#define MAX_LINE ((size_t)1 << 20)
#define STATE_KEY "eisnet_update_state"

static volatile sig_atomic_t stop_requested;
void eisnet_update_request_stop(void) { stop_requested = 1; }

void eisnet_update_options_default(eisnet_update_options *o)
{
    memset(o, 0, sizeof *o);
    o->lr = EISNET_TRAIN_LR;
    o->weight_decay = 0.01;
    o->resnorm_weight = 0.5;
    o->max_grad_norm = 1.0;
    o->batch_size = EISNET_UPDATE_BATCH;
    o->samples_per_gt = EISNET_TRAIN_SAMPLES_PER_GT;
    o->val_fraction = EISNET_TRAIN_VAL_FRACTION;
    o->checkpoint_every = EISNET_UPDATE_CHECKPOINT_EVERY;
    o->seed = EISNET_DEFAULT_SEED;
}

/* ---- parsing one line -------------------------------------------------------- */

static int find_param(const eisnet_grid *g, const char *name)
{
    int p = eisnet_grid_find_param(g, name);
    if (p >= 0) return p;
    for (p = 0; p < g->n_params; p++)
        if (strcasecmp(g->names[p], name) == 0) return p;
    return -1;
}

static int nearest_index(const eisnet_grid *g, int p, double v)
{
    const double *gv = g->values + (size_t)p * g->n_grid;
    double lv = log(v), best = INFINITY;
    int bi = 0;
    for (int i = 0; i < g->n_grid; i++) {
        double d = fabs(log(gv[i]) - lv);
        if (d < best) {
            best = d;
            bi = i;
        }
    }
    return bi;
}

/* A JSON array of finite numbers into a malloc'ed double array. */
static int number_array(const cJSON *a, const char *key, double **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(a)) return eisnet_set_error("\"%s\" must be an array of numbers", key);
    int k = cJSON_GetArraySize(a);
    if (k < 1) return eisnet_set_error("\"%s\" is empty", key);
    if (k > 1 << 16) return eisnet_set_error("\"%s\" has too many values (%d)", key, k);
    double *v = malloc(sizeof(double) * (size_t)k);
    if (!v) return eisnet_set_error("out of memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
            free(v);
            return eisnet_set_error("\"%s\"[%d] is not a finite number", key, i);
        }
        v[i++] = e->valuedouble;
    }
    *out = v;
    *n = k;
    return 0;
}

static int param_object(const eisnet_grid *g, const cJSON *obj, const char *key, int which, int *seen, double *values)
{
    if (!cJSON_IsObject(obj)) return eisnet_set_error("\"%s\" must be an object of parameter values", key);
    const cJSON *e;
    cJSON_ArrayForEach(e, obj)
    {
        int p = find_param(g, e->string ? e->string : "");
        if (p < 0) {
            char names[EISNET_MAX_PARAMS * (EISNET_NAME_MAX + 2) + 1] = "";
            for (int q = 0; q < g->n_params; q++) {
                if (q) strcat(names, ", ");
                strcat(names, g->names[q]);
            }
            return eisnet_set_error("unknown parameter '%.40s' in \"%s\" (the model's: %s)", e->string ? e->string : "",
                                    key, names);
        }
        if (seen[p]) return eisnet_set_error("parameter %s is given twice", g->names[p]);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return eisnet_set_error("%s in \"%s\" is not a finite number", g->names[p], key);
        double v = e->valuedouble, lo = g->lo[p], hi = g->hi[p];
        if (!(v > 0) || v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9))
            return eisnet_set_error("%s = %g is outside the model's range [%g, %g]", g->names[p], v, lo, hi);
        seen[p] = which;
        values[p] = v;
    }
    return 0;
}

typedef struct {
    double v;
    double re, im;
} fpoint;

static int cmp_fpoint(const void *a, const void *b)
{
    double x = ((const fpoint *)a)->v, y = ((const fpoint *)b)->v;
    return x < y ? -1 : x > y;
}

typedef struct {
    const cJSON *freq, *re, *im, *known, *target, *resnorm;
} update_keys;

/* The line's keys: each known one at most once, "id" copied into ex. */
static int update_keys_of(const cJSON *j, update_keys *kk, eisnet_update_example *ex)
{
    memset(kk, 0, sizeof *kk);
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        const char *k = e->string ? e->string : "";
        const cJSON **slot = strcmp(k, "freq") == 0      ? &kk->freq
                             : strcmp(k, "re") == 0      ? &kk->re
                             : strcmp(k, "im") == 0      ? &kk->im
                             : strcmp(k, "known") == 0   ? &kk->known
                             : strcmp(k, "target") == 0  ? &kk->target
                             : strcmp(k, "resnorm") == 0 ? &kk->resnorm
                                                         : NULL;
        if (strcmp(k, "id") == 0) {
            if (!cJSON_IsString(e)) return eisnet_set_error("\"id\" must be a string");
            snprintf(ex->id, sizeof ex->id, "%s", e->valuestring);
            continue;
        }
        if (!slot) return eisnet_set_error("unknown key \"%.40s\" (expected freq, re, im, known, target, resnorm, id)", k);
        if (*slot) return eisnet_set_error("key \"%s\" is given twice", k);
        *slot = e;
    }
    const char *need = !kk->re ? "re" : !kk->im ? "im" : !kk->known ? "known" : !kk->target ? "target" : NULL;
    if (need) return eisnet_set_error("missing key \"%s\"", need);
    return 0;
}

/* "known" and "target" together name every parameter once (seen[q]: 1
 * known, 2 target), at least one of each. */
static int update_params(const eisnet_grid *g, const update_keys *kk, int *seen, double *values)
{
    if (param_object(g, kk->known, "known", 1, seen, values) != 0 ||
        param_object(g, kk->target, "target", 2, seen, values) != 0)
        return -1;
    int n_known = 0, n_target = 0;
    for (int q = 0; q < g->n_params; q++) {
        if (!seen[q]) return eisnet_set_error("parameter %s is neither known nor a target", g->names[q]);
        n_known += seen[q] == 1;
        n_target += seen[q] == 2;
    }
    if (n_known < 1 || n_target < 1) return eisnet_set_error("need at least one known parameter and one target");
    return 0;
}

/* The measured points (freq, re, im), sorted, interpolated onto the
 * model's F frequencies into z. */
static int update_interpolate(const eisnet_grid *g, const cJSON *jf, double *re, double *im, int n, double complex *z)
{
    double *fr = NULL;
    fpoint *pts = NULL;
    double complex *zs = NULL;
    int nf = 0, rc = -1;
    if (number_array(jf, "freq", &fr, &nf) != 0) goto out;
    if (nf != n) {
        eisnet_set_error("\"freq\" has %d values but \"re\" has %d", nf, n);
        goto out;
    }
    if (nf < 2) {
        eisnet_set_error("a spectrum needs at least 2 frequencies");
        goto out;
    }
    pts = malloc(sizeof(fpoint) * (size_t)nf);
    if (!pts) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (int k = 0; k < nf; k++) {
        if (!(fr[k] > 0)) {
            eisnet_set_error("\"freq\"[%d] = %g is not a positive frequency", k, fr[k]);
            goto out;
        }
        pts[k] = (fpoint){fr[k], re[k], im[k]};
    }
    qsort(pts, (size_t)nf, sizeof(fpoint), cmp_fpoint);
    for (int k = 0; k < nf; k++) {
        if (k && pts[k].v == pts[k - 1].v) {
            eisnet_set_error("frequency %g Hz is given twice", pts[k].v);
            goto out;
        }
        fr[k] = pts[k].v;
        re[k] = pts[k].re;
        im[k] = pts[k].im;
    }
    zs = malloc(sizeof(double complex) * (size_t)nf);
    if (!zs) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (int k = 0; k < nf; k++) zs[k] = re[k] + I * im[k];
    eisnet_spectrum s = {nf, fr, zs};
    if (eisnet_spectrum_interpolate(&s, g->freq, g->n_freq, 0, z) != 0) { /* update has no --extrapolate: drop that hint */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", eisnet_last_error());
        char *hint = strstr(msg, " (use --extrapolate");
        if (hint) *hint = 0;
        eisnet_set_error("%s", msg);
        goto out;
    }
    rc = 0;
out:
    free(fr);
    free(pts);
    free(zs);
    return rc;
}

/* The spectrum at the model's frequencies: as given when there is no
 * "freq", else interpolated; |Z| > 0 everywhere. */
static int update_spectrum(const eisnet_grid *g, const update_keys *kk, double complex *z)
{
    int F = g->n_freq, nre = 0, nim = 0, rc = -1;
    double *re = NULL, *im = NULL;
    if (number_array(kk->re, "re", &re, &nre) != 0 || number_array(kk->im, "im", &im, &nim) != 0) goto out;
    if (nre != nim) {
        eisnet_set_error("\"re\" has %d values but \"im\" has %d", nre, nim);
        goto out;
    }
    if (!kk->freq) {
        if (nre != F) {
            eisnet_set_error("\"re\" has %d values but the model has %d frequencies (give \"freq\" to interpolate)", nre,
                             F);
            goto out;
        }
        for (int k = 0; k < F; k++) z[k] = re[k] + I * im[k];
    } else if (update_interpolate(g, kk->freq, re, im, nre, z) != 0)
        goto out;
    for (int k = 0; k < F; k++)
        if (!(cabs(z[k]) > 0)) {
            eisnet_set_error("|Z| is 0 at %g Hz", g->freq[k]);
            goto out;
        }
    rc = 0;
out:
    free(re);
    free(im);
    return rc;
}

int eisnet_update_parse(const eisnet_predictor *p, const char *line, size_t len, eisnet_update_example *ex)
{
    const eisnet_grid *g = &p->grid;
    int P = g->n_params, F = g->n_freq, rc = -1;
    double complex *z = NULL;
    float *feats = NULL;
    ex->id[0] = 0;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j) return eisnet_set_error("not valid JSON");
    if (!cJSON_IsObject(j)) {
        eisnet_set_error("a line must be a JSON object");
        goto out;
    }
    update_keys kk;
    int seen[EISNET_MAX_PARAMS] = {0};
    double values[EISNET_MAX_PARAMS] = {0};
    if (update_keys_of(j, &kk, ex) != 0 || update_params(g, &kk, seen, values) != 0) goto out;
    double resnorm = NAN;
    if (kk.resnorm) {
        if (!cJSON_IsNumber(kk.resnorm) || !isfinite(kk.resnorm->valuedouble) || kk.resnorm->valuedouble < 0) {
            eisnet_set_error("\"resnorm\" must be a finite number >= 0");
            goto out;
        }
        resnorm = kk.resnorm->valuedouble;
    }
    z = malloc(sizeof(double complex) * (size_t)F);
    if (!z) {
        eisnet_set_error("out of memory");
        goto out;
    }
    if (update_spectrum(g, &kk, z) != 0) goto out;
    if (p->features) {
        feats = malloc(sizeof(float) * (size_t)p->n_features);
        if (!feats) {
            eisnet_set_error("out of memory");
            goto out;
        }
        eisnet_predictor_spectrum_features(p, z, feats);
        for (int k = 0; k < p->n_features; k++)
            if (!isfinite(feats[k])) {
                eisnet_set_error("the spectrum gives a non-finite feature (value too large?)");
                goto out;
            }
    }
    /* targets: nearest grid values; the resnorm of that grid model by default */
    uint8_t known[EISNET_MAX_PARAMS];
    double snapped[EISNET_MAX_PARAMS];
    for (int q = 0; q < P; q++) {
        known[q] = (uint8_t)(seen[q] == 1);
        ex->target[q] = nearest_index(g, q, values[q]);
        ex->missing[q] = (uint8_t)!known[q];
        snapped[q] = g->values[(size_t)q * g->n_grid + ex->target[q]];
    }
    if (!kk.resnorm) resnorm = eisnet_resnorm_one(g, snapped, z);
    if (!isfinite(resnorm)) {
        eisnet_set_error("the resnorm of the spectrum is not finite");
        goto out;
    }
    ex->log_resnorm = (float)log10(fmax(resnorm, (double)p->resnorm_floor));
    eisnet_predictor_input(p, values, known, feats, ex->x);
    rc = 0;
out:
    cJSON_Delete(j);
    free(z);
    free(feats);
    return rc;
}

/* ---- the updater ----------------------------------------------------------------- */

struct eisnet_updater {
    eisnet_update_options o;
    char *stem, *state_path;
    eisnet_predictor pred;
    int pred_ready;
    eisnet_backend *be;
    eisnet_adamw opt;
    int opt_ready;
    eisnet_train_run_state rs;
    eisnet_epoch_record *hist;
    int n_hist;
    int state_loaded;
    int64_t updates, examples;
    /* masks knowing pred.known parameters, as train builds them */
    eisnet_ml_masks masks;
    /* dataset rows */
    int n_gt;
    float *feats; /* n_gt x n_features, standardised with the model's normalisation */
    eisnet_ml_row *train_rows, *val_rows;
    size_t n_train, n_val;
    int n_val_gt;
    /* batch */
    int cap; /* batch_size + replay */
    eisnet_workspace *ws;
    float *x, *rtarget;
    int32_t *target;
    uint8_t *missing;
    int pending;
    int n_in;
    char last_id[64];
};

eisnet_predictor *eisnet_updater_predictor(eisnet_updater *u) { return &u->pred; }
const eisnet_adamw *eisnet_updater_optimizer(const eisnet_updater *u) { return &u->opt; }
int64_t eisnet_updater_count(const eisnet_updater *u) { return u->updates; }
int eisnet_updater_state_loaded(const eisnet_updater *u) { return u->state_loaded; }
int eisnet_updater_pending(const eisnet_updater *u) { return u->pending; }
const char *eisnet_updater_last_id(const eisnet_updater *u) { return u->last_id; }

static uint64_t weights_hash(const eisnet_model *m, const float *params)
{
    const unsigned char *b = (const unsigned char *)params;
    size_t n = eisnet_model_n_params(m) * sizeof(float);
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static int masks_make(eisnet_updater *u)
{
    int P = u->pred.grid.n_params, K = u->pred.known;
    /* known 0: a model trained by simulation, on every subset with a missing parameter */
    if (K < 0 || K >= P || P > 20) return eisnet_set_error("the model's known count (%d) does not fit its %d parameters", K, P);
    return eisnet_ml_masks_make(&u->masks, P, K);
}

static int same_rel(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)); }

/* The dataset's rows as eisnet_train builds them (top-K sampling). */
static int load_rows(eisnet_updater *u)
{
    const eisnet_update_options *o = &u->o;
    eisnet_dataset ds;
    if (eisnet_dataset_open(&ds, o->data_dir) != 0) return -1;
    const eisnet_grid *g = &u->pred.grid, *dg = &ds.grid;
    int rc = -1, P = g->n_params, N = ds.n, K = o->samples_per_gt, nf = u->pred.n_features, first_val;
    int *is_val = NULL;
    int match = dg->n_params == P && dg->n_grid == g->n_grid && dg->n_freq == g->n_freq;
    for (int q = 0; match && q < P * g->n_grid; q++) match = same_rel(dg->values[q], g->values[q]);
    for (int k = 0; match && k < g->n_freq; k++) match = same_rel(dg->freq[k], g->freq[k]);
    if (!match) {
        eisnet_set_error("the dataset in %s does not match the model %s (other grid or frequencies)", o->data_dir,
                         o->model_path);
        goto out;
    }
    if (K < 1 || (uint64_t)K > dg->n_models) {
        eisnet_set_error("samples_per_gt %d must be between 1 and the %llu grid models", K, (unsigned long long)dg->n_models);
        goto out;
    }
    u->n_gt = N;
    is_val = calloc((size_t)(N > 0 ? N : 1), sizeof(int));
    if (nf) u->feats = malloc(sizeof(float) * (size_t)N * nf);
    if (!is_val || (nf && !u->feats)) {
        eisnet_set_error("out of memory");
        goto out;
    }
    u->n_val_gt = eisnet_ml_split(N, o->val_fraction, o->seed, is_val, &first_val);
    if (u->n_val_gt < 0) goto out;
    for (int i = 0; i < N && nf; i++)
        eisnet_predictor_spectrum_features(&u->pred, ds.spectra + (size_t)i * g->n_freq, u->feats + (size_t)i * nf);
    eisnet_ml_rows_options ro = {is_val, K, 0, u->masks.n, o->replay > 0, o->eval, o->seed,
                                 u->pred.resnorm_floor, "update: reading rows", o->quiet};
    if (eisnet_ml_rows_load(&ds, &ro, &u->train_rows, &u->n_train, &u->val_rows, &u->n_val) != 0) goto out;
    if (ro.want_train && u->n_train == 0) {
        eisnet_set_error("--replay: the dataset in %s has no training rows", o->data_dir);
        goto out;
    }
    if (ro.want_val && u->n_val == 0) {
        eisnet_set_error("--eval: the dataset in %s has no held-out ground truths", o->data_dir);
        goto out;
    }
    rc = 0;
out:
    free(is_val);
    eisnet_dataset_close(&ds);
    return rc;
}

static void row_input(eisnet_updater *u, const eisnet_ml_row *r, float *x, int32_t *target, uint8_t *missing, float *rt)
{
    eisnet_ml_row_input(&u->pred, &u->masks, r, r->mask, u->feats ? u->feats + (size_t)r->gt * u->pred.n_features : NULL,
                        x, target, missing, rt);
}

static int parse_update_state(eisnet_updater *u, const char *text)
{
    cJSON *j = cJSON_Parse(text);
    const cJSON *n = cJSON_GetObjectItem(j, "updates"), *e = cJSON_GetObjectItem(j, "examples"),
                *h = cJSON_GetObjectItem(j, "weights_fnv1a");
    if (!cJSON_IsNumber(n) || !cJSON_IsNumber(e) || !cJSON_IsString(h) || n->valuedouble < 0) {
        cJSON_Delete(j);
        return eisnet_set_error("%s: \"%s\" is corrupt", u->state_path, STATE_KEY);
    }
    u->updates = (int64_t)n->valuedouble;
    u->examples = (int64_t)e->valuedouble;
    char now[32];
    snprintf(now, sizeof now, "%016" PRIx64, weights_hash(u->pred.model, eisnet_model_params(u->pred.model)));
    if (strcmp(now, h->valuestring) != 0 && !u->o.quiet)
        fprintf(stderr, "eisnet update: warning: %s was saved with other weights than %s (an interrupted save?); "
                        "using it anyway\n", u->state_path, u->o.model_path);
    cJSON_Delete(j);
    return 0;
}

eisnet_updater *eisnet_updater_open(const eisnet_update_options *o)
{
    if (!o->model_path) {
        eisnet_set_error("update needs --model");
        return NULL;
    }
    if (!(o->lr > 0) || !isfinite(o->lr)) {
        eisnet_set_error("--lr must be positive (got %g)", o->lr);
        return NULL;
    }
    if (o->batch_size < 1 || o->batch_size > 4096) {
        eisnet_set_error("--batch_size must be between 1 and 4096 for update (got %d)", o->batch_size);
        return NULL;
    }
    if (o->replay < 0 || o->replay > 65536) {
        eisnet_set_error("--replay must be between 0 and 65536 (got %d)", o->replay);
        return NULL;
    }
    if (!(o->checkpoint_every >= 0) || !isfinite(o->checkpoint_every)) {
        eisnet_set_error("--checkpoint_every must be a number of seconds >= 0 (got %g)", o->checkpoint_every);
        return NULL;
    }
    if ((o->replay > 0 || o->eval) && !o->data_dir) {
        eisnet_set_error("--replay and --eval need the dataset (--data_dir)");
        return NULL;
    }
    eisnet_updater *u = calloc(1, sizeof *u);
    if (!u) {
        eisnet_set_error("out of memory");
        return NULL;
    }
    u->o = *o;
    stop_requested = 0;
    struct stat st;
    if (stat(o->model_path, &st) != 0) {
        eisnet_set_error("cannot read the model %s: %s", o->model_path, strerror(errno));
        goto fail;
    }
    if (eisnet_predictor_load(&u->pred, o->model_path) != 0) goto fail;
    u->pred_ready = 1;
    u->n_in = eisnet_predictor_n_in(&u->pred);
    u->stem = eisnet_checkpoint_stem(o->model_path);
    u->state_path = u->stem ? eisnet_ml_with_suffix(u->stem, ".state.safetensors") : NULL;
    if (!u->state_path) {
        eisnet_set_error("out of memory");
        goto fail;
    }
    eisnet_adamw_config ac = eisnet_adamw_config_default();
    ac.lr = (float)o->lr;
    ac.weight_decay = (float)o->weight_decay;
    if (eisnet_adamw_init(&u->opt, eisnet_model_n_params(u->pred.model), &ac) != 0) goto fail;
    u->opt_ready = 1;
    u->rs.epoch = u->pred.epoch;
    u->rs.best_val = INFINITY;
    u->rs.lr = (float)o->lr;
    eisnet_plateau_init(&u->rs.plateau);
    if (eisnet_pair_recover(o->model_path, u->state_path, u->pred.generation) != 0) goto fail;
    if (stat(u->state_path, &st) == 0) {
        char *extra = NULL;
        if (eisnet_train_state_load(u->state_path, &u->opt, &u->rs, &u->hist, &u->n_hist, STATE_KEY, &extra) != 0 ||
            eisnet_pair_check(o->model_path, u->pred.generation, u->state_path, &u->rs) != 0) {
            free(extra);
            char why[512];
            snprintf(why, sizeof why, "%s", eisnet_last_error());
            eisnet_set_error("cannot read the optimizer state %s: %s (remove it to start a fresh one)", u->state_path, why);
            goto fail;
        }
        int r = extra ? parse_update_state(u, extra) : 0;
        free(extra);
        if (r != 0) goto fail;
        u->state_loaded = 1;
    }
    u->opt.cfg.lr = (float)o->lr; /* the update's learning rate, not training's last */
    if (masks_make(u) != 0) goto fail;
    if ((o->replay > 0 || o->eval) && load_rows(u) != 0) goto fail;
    u->cap = o->batch_size + o->replay;
    int wcap = u->cap > EVAL_BATCH ? u->cap : EVAL_BATCH;
    int P = u->pred.grid.n_params;
    const eisnet_backend_options bo = {.threads = o->threads > 0 ? o->threads : 1};
    if (!(u->be = eisnet_backend_new(o->backend ? o->backend : "auto", &bo)) ||
        eisnet_model_set_backend(u->pred.model, u->be) != 0)
        goto fail;
    u->ws = eisnet_workspace_new(u->pred.model, wcap);
    u->x = malloc(sizeof(float) * (size_t)wcap * u->n_in);
    u->target = malloc(sizeof(int32_t) * (size_t)wcap * P);
    u->missing = malloc((size_t)wcap * P);
    u->rtarget = malloc(sizeof(float) * (size_t)wcap);
    if (!u->ws || !u->x || !u->target || !u->missing || !u->rtarget) {
        eisnet_set_error("out of memory");
        goto fail;
    }
    return u;
fail:
    eisnet_updater_close(u);
    return NULL;
}

void eisnet_updater_close(eisnet_updater *u)
{
    if (!u) return;
    if (u->pred_ready) eisnet_predictor_free(&u->pred);
    if (u->opt_ready) eisnet_adamw_free(&u->opt);
    free(u->stem);
    free(u->state_path);
    free(u->hist);
    eisnet_ml_masks_free(&u->masks);
    free(u->feats);
    free(u->train_rows);
    free(u->val_rows);
    eisnet_workspace_free(u->ws);
    free(u->x);
    free(u->target);
    free(u->missing);
    free(u->rtarget);
    eisnet_backend_free(u->be);
    free(u);
}

int eisnet_updater_push_line(eisnet_updater *u, const char *line, size_t len)
{
    if (u->pending >= u->o.batch_size) return eisnet_set_error("the group is full: apply it first");
    int P = u->pred.grid.n_params, b = u->pending;
    eisnet_update_example ex;
    ex.x = u->x + (size_t)b * u->n_in;
    u->last_id[0] = 0;
    if (eisnet_update_parse(&u->pred, line, len, &ex) != 0) return -1;
    memcpy(u->last_id, ex.id, sizeof u->last_id);
    memcpy(u->target + (size_t)b * P, ex.target, sizeof(int32_t) * (size_t)P);
    memcpy(u->missing + (size_t)b * P, ex.missing, (size_t)P);
    u->rtarget[b] = ex.log_resnorm;
    u->pending++;
    return 0;
}

int eisnet_updater_apply(eisnet_updater *u, float *loss_each)
{
    int n = u->pending;
    if (n == 0) return 0;
    const eisnet_grid *g = &u->pred.grid;
    int P = g->n_params, G = g->n_grid, R = u->n_train ? u->o.replay : 0, B = n + R;
    eisnet_rng r;
    eisnet_rng_seed(&r, u->o.seed, STREAM_UPDATE_BASE + (uint64_t)u->updates);
    uint64_t drop = eisnet_rng_next(&r);
    for (int j = 0; j < R; j++) {
        eisnet_ml_row row = u->train_rows[eisnet_rng_below(&r, u->n_train)];
        row.mask = (uint16_t)eisnet_rng_below(&r, (uint64_t)u->masks.n);
        int b = n + j;
        row_input(u, &row, u->x + (size_t)b * u->n_in, u->target + (size_t)b * P, u->missing + (size_t)b * P,
                  u->rtarget + b);
    }
    eisnet_loss L;
    float norm = 0;
    u->pending = 0;
    if (eisnet_model_train_step(u->pred.model, u->ws, &u->opt, u->x, B, u->target, u->missing, u->rtarget,
                                (float)u->o.resnorm_weight, (float)u->o.max_grad_norm, &drop, &L, &norm, NULL,
                                NULL) != 0)
        return -1;
    if (!isfinite(L.loss) || !isfinite(norm))
        return eisnet_set_error("the update diverged (loss %g, gradient norm %g); the last checkpoint is kept, try a "
                                "lower --lr", L.loss, (double)norm);
    u->updates++;
    u->examples += n;
    if (loss_each) {
        const float *logits = eisnet_workspace_logits(u->ws), *rn = eisnet_workspace_resnorm(u->ws);
        for (int b = 0; b < n; b++) {
            eisnet_loss Lb;
            if (eisnet_loss_compute(logits + (size_t)b * P * G, rn + b, 1, P, G, u->target + (size_t)b * P,
                                    u->missing + (size_t)b * P, u->rtarget + b, (float)u->o.resnorm_weight, &Lb, NULL,
                                    NULL, NULL, NULL) != 0)
                return -1;
            loss_each[b] = (float)Lb.loss;
        }
    }
    return 0;
}

int eisnet_updater_save(eisnet_updater *u)
{
    char extra[256];
    snprintf(extra, sizeof extra,
             "{\"updates\":%" PRId64 ",\"examples\":%" PRId64 ",\"seed\":%" PRIu64 ",\"weights_fnv1a\":\"%016" PRIx64 "\"}",
             u->updates, u->examples, u->o.seed, weights_hash(u->pred.model, eisnet_model_params(u->pred.model)));
    /* The generation counts updates, so the same lines give the same files
     * however the runs were cut; offset by 2^40 so that it never equals the
     * generation train wrote into the model an update starts from. */
    return eisnet_pair_save(&u->pred, u->o.model_path, u->state_path, &u->opt, &u->rs, u->hist, u->n_hist, STATE_KEY,
                            extra, ((int64_t)1 << 40) + u->updates);
}

int eisnet_updater_evaluate(eisnet_updater *u, eisnet_update_eval *ev)
{
    memset(ev, 0, sizeof *ev);
    if (u->n_val == 0) return eisnet_set_error("no held-out rows to evaluate on (use --eval with --data_dir)");
    if (u->pending) return eisnet_set_error("apply the pending examples before evaluating");
    eisnet_ml_batch bt = {EVAL_BATCH, u->x, u->rtarget, u->target, u->missing, u->o.threads > 0 ? u->o.threads : 1};
    eisnet_ml_eval e;
    if (eisnet_ml_evaluate(&u->pred, u->ws, &u->masks, u->feats, u->val_rows, u->n_val, &bt, u->o.resnorm_weight, &e) != 0)
        return -1;
    ev->rows = (long)u->n_val;
    ev->n_gt = u->n_val_gt;
    ev->loss = e.loss;
    ev->top1 = e.top1;
    ev->top3 = e.top3;
    return 0;
}

/* ---- the stream -------------------------------------------------------------------- */

/* A JSON string body: quotes, backslashes and control characters escaped;
 * bytes >= 0x80 become '?' so that any input gives valid JSON. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c >= 0x80 ? '?' : c, f);
    }
    fputc('"', f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    eisnet_updater *u;
    const char *name;
    FILE *out, *err;
    eisnet_update_stats *st;
    long *line_no; /* per pending example */
    double *parse_s;
    char (*ids)[64];
    float *loss;
    double *lat;
    size_t n_lat, cap_lat;
    double busy_s;
    int dirty;
    /* Durable acknowledgements: the answers wait in `out` (a memory stream)
     * until the journal holds their groups on disk; then they go to
     * real_out. raw/raw_len: the pending group's lines, for the journal. */
    FILE *real_out;
    char *ans_buf;
    size_t ans_len;
    eisnet_journal *jr;
    char **raw;
    size_t *raw_len;
} stream_ctx;

/* Makes the journal durable, then prints the answers waiting for it. */
static int commit_answers(stream_ctx *c)
{
    if (c->jr && eisnet_journal_sync(c->jr) != 0) return -1;
    fflush(c->out);
    if (c->ans_len) {
        fwrite(c->ans_buf, 1, c->ans_len, c->real_out);
        fflush(c->real_out);
    }
    fseeko(c->out, 0, SEEK_SET);
    fflush(c->out);
    return 0;
}

static int flush_group(stream_ctx *c)
{
    eisnet_updater *u = c->u;
    int n = u->pending;
    if (n == 0) return 0;
    double t0 = eisnet_now();
    int64_t index = u->updates;
    if (eisnet_updater_apply(u, c->loss) != 0) return -1;
    double step = eisnet_now() - t0, parse = 0;
    if (c->jr && eisnet_journal_append(c->jr, index, c->raw, c->raw_len, n) != 0) return -1;
    for (int b = 0; b < n; b++) parse += c->parse_s[b];
    double lat = step + parse;
    c->busy_s += lat;
    c->dirty = 1;
    c->st->updates++;
    if (c->n_lat == c->cap_lat) {
        size_t nc = c->cap_lat ? 2 * c->cap_lat : 1024;
        double *nl = realloc(c->lat, sizeof(double) * nc);
        if (nl) {
            c->lat = nl;
            c->cap_lat = nc;
        }
    }
    if (c->n_lat < c->cap_lat) c->lat[c->n_lat++] = lat;
    for (int b = 0; b < n; b++) {
        fprintf(c->out, "{\"line\":%ld,\"ok\":true,\"loss\":%.6g,\"latency_ms\":%.4f,\"update\":%" PRId64, c->line_no[b],
                (double)c->loss[b], 1e3 * (step + c->parse_s[b]), eisnet_updater_count(u));
        if (c->ids[b][0]) {
            fputs(",\"id\":", c->out);
            json_string(c->out, c->ids[b]);
        }
        fputs("}\n", c->out);
    }
    fflush(c->out);
    return 0;
}

static void reject(stream_ctx *c, long line, const char *msg)
{
    c->st->rejected++;
    fprintf(c->out, "{\"line\":%ld,\"ok\":false,\"error\":", line);
    json_string(c->out, msg);
    fputs("}\n", c->out);
    fflush(c->out);
    fprintf(c->err, "eisnet update: %s:%ld: %s\n", c->name, line, msg);
    fflush(c->err);
}

static int handle_line(stream_ctx *c, long line, char *s, size_t len, int too_long)
{
    c->st->lines++;
    if (too_long) {
        char msg[96];
        snprintf(msg, sizeof msg, "line is longer than %zu bytes", MAX_LINE);
        reject(c, line, msg);
        return 0;
    }
    while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i == len || s[i] == '#') { /* blank or comment: not an example */
        c->st->lines--;
        return 0;
    }
    eisnet_updater *u = c->u;
    int b = u->pending;
    double t0 = eisnet_now();
    if (eisnet_updater_push_line(u, s + i, len - i) != 0) {
        reject(c, line, eisnet_last_error());
        return 0;
    }
    c->parse_s[b] = eisnet_now() - t0;
    c->line_no[b] = line;
    free(c->raw[b]);
    c->raw[b] = malloc(len - i + 1);
    if (!c->raw[b]) return eisnet_set_error("out of memory");
    memcpy(c->raw[b], s + i, len - i);
    c->raw_len[b] = len - i;
    snprintf(c->ids[b], sizeof c->ids[b], "%s", u->last_id);
    c->st->accepted++;
    if (u->pending == u->o.batch_size) return flush_group(c);
    return 0;
}

static int checkpoint(stream_ctx *c)
{
    if (commit_answers(c) != 0) return -1;
    if (!c->dirty) return 0;
    if (eisnet_updater_save(c->u) != 0) return -1;
    /* the checkpoint holds every journaled group now */
    if (c->jr && eisnet_journal_clear(c->jr) != 0) return -1;
    c->dirty = 0;
    c->st->checkpoints++;
    return 0;
}

typedef struct {
    eisnet_updater *u;
    int64_t base;
    long lines;
} replay_ctx;

/* One journaled group of a run that ended before its checkpoint: applied
 * again unless the checkpoint already holds it. Update k draws from stream k
 * of the seed, so the replay gives the weights the lost run had. */
static int replay_group(void *ctx, int64_t index, char **lines, size_t *lens, int n)
{
    replay_ctx *r = ctx;
    if (index < r->base) return 0;
    for (int i = 0; i < n; i++) {
        if (eisnet_updater_push_line(r->u, lines[i], lens[i]) != 0) {
            eisnet_prefix_error("journal: a journaled line no longer parses: ");
            return -1;
        }
        r->lines++;
        if (r->u->pending == r->u->o.batch_size && eisnet_updater_apply(r->u, NULL) != 0) return -1;
    }
    return eisnet_updater_apply(r->u, NULL);
}

/* Replays the journal beside the checkpoint and saves the result. */
static int journal_start(stream_ctx *c)
{
    eisnet_updater *u = c->u;
    char *jp = u->stem ? eisnet_ml_with_suffix(u->stem, ".journal") : NULL;
    if (!jp) return eisnet_set_error("out of memory");
    c->jr = eisnet_journal_open(jp);
    free(jp);
    if (!c->jr) return -1;
    replay_ctx r = {u, u->updates, 0};
    long groups = eisnet_journal_replay(c->jr, replay_group, &r);
    if (groups < 0) return -1;
    if (r.lines > 0) {
        if (eisnet_updater_save(u) != 0 || eisnet_journal_clear(c->jr) != 0) return -1;
        if (!u->o.quiet)
            fprintf(c->err, "update: replayed %ld acknowledged lines from the journal of an interrupted run (%lld "
                            "updates in all)\n", r.lines, (long long)u->updates);
    } else if (groups > 0 && eisnet_journal_clear(c->jr) != 0) {
        return -1;
    }
    return 0;
}

/* Lines being read: the buffer (a partial line at its start), the line
 * count, and whether the rest of a too-long line is being skipped. */
typedef struct {
    char *buf;
    size_t cap, have;
    long line;
    int skipping, eof;
} line_reader;

/* One read from fd: every complete line handled, the answers committed. */
static int stream_read(stream_ctx *c, line_reader *lr, int fd)
{
    if (lr->have == lr->cap) { /* a line longer than the buffer */
        if (lr->cap < MAX_LINE + 1) {
            size_t nc = lr->cap * 2 > MAX_LINE + 1 ? MAX_LINE + 1 : lr->cap * 2;
            char *nb = realloc(lr->buf, nc + 1);
            if (!nb) return eisnet_set_error("out of memory");
            lr->buf = nb;
            lr->cap = nc;
        } else { /* too long: answer it once and skip to its end */
            if (!lr->skipping) {
                lr->line++;
                if (handle_line(c, lr->line, lr->buf, 0, 1) != 0) return -1;
            }
            lr->skipping = 1;
            lr->have = 0;
        }
    }
    char *buf = lr->buf;
    ssize_t r = read(fd, buf + lr->have, lr->cap - lr->have);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) return 0;
        return eisnet_set_error("cannot read %s: %s", c->name, strerror(errno));
    }
    size_t from = lr->have;
    if (r == 0) {
        lr->eof = 1;
        if (lr->have > 0 && !lr->skipping) buf[lr->have++] = '\n'; /* the last line without a line end */
    } else
        lr->have += (size_t)r;
    size_t start = 0;
    for (size_t i = from; i < lr->have; i++) {
        if (buf[i] != '\n') continue;
        if (lr->skipping)
            lr->skipping = 0;
        else {
            lr->line++;
            if (handle_line(c, lr->line, buf + start, i - start, 0) != 0) return -1;
        }
        start = i + 1;
    }
    memmove(buf, buf + start, lr->have - start);
    lr->have -= start;
    if (lr->eof && lr->have) lr->have = 0;
    /* one flush to the disk answers every line of this read */
    return commit_answers(c);
}

/* Median and 99th percentile of the update latencies, updates per second. */
static void stream_stats(stream_ctx *c, eisnet_update_stats *st)
{
    if (!c->n_lat) return;
    qsort(c->lat, c->n_lat, sizeof(double), cmp_double);
    st->median_ms =
        1e3 * (c->n_lat % 2 ? c->lat[c->n_lat / 2] : 0.5 * (c->lat[c->n_lat / 2 - 1] + c->lat[c->n_lat / 2]));
    size_t k = (size_t)ceil(0.99 * (double)c->n_lat);
    st->p99_ms = 1e3 * c->lat[k ? k - 1 : 0];
    st->updates_per_s = c->busy_s > 0 ? (double)st->updates / c->busy_s : 0;
}

/* After a failure, the answers whose groups are journaled may still go out;
 * the rest of the group was never applied and gets no answer. After a clean
 * end the checkpoint holds everything: no journal is left. */
static void stream_close(stream_ctx *c, int clean, int B)
{
    if (!clean && c->out) {
        if (!c->jr || eisnet_journal_sync(c->jr) == 0) {
            fflush(c->out);
            fwrite(c->ans_buf, 1, c->ans_len, c->real_out);
            fflush(c->real_out);
        }
    }
    eisnet_journal_close(c->jr, clean);
    if (c->out) fclose(c->out);
    free(c->ans_buf);
    if (c->raw)
        for (int b = 0; b < B; b++) free(c->raw[b]);
    free(c->raw);
    free(c->raw_len);
    free(c->line_no);
    free(c->parse_s);
    free(c->ids);
    free(c->loss);
    free(c->lat);
}

int eisnet_update_stream(eisnet_updater *u, int fd, const char *name, FILE *out, FILE *err, eisnet_update_stats *st)
{
    memset(st, 0, sizeof *st);
    stream_ctx c;
    memset(&c, 0, sizeof c);
    c.u = u;
    c.name = name ? name : "input";
    c.err = err;
    c.st = st;
    int B = u->o.batch_size, rc = -1, clean = 0;
    c.real_out = out;
    c.out = open_memstream(&c.ans_buf, &c.ans_len);
    c.line_no = malloc(sizeof(long) * (size_t)B);
    c.parse_s = malloc(sizeof(double) * (size_t)B);
    c.ids = malloc(sizeof *c.ids * (size_t)B);
    c.loss = malloc(sizeof(float) * (size_t)B);
    c.raw = calloc((size_t)B, sizeof *c.raw);
    c.raw_len = calloc((size_t)B, sizeof *c.raw_len);
    line_reader lr = {0};
    lr.cap = 1 << 16;
    lr.buf = malloc(lr.cap + 1);
    if (!c.out || !c.line_no || !c.parse_s || !c.ids || !c.loss || !c.raw || !c.raw_len || !lr.buf) {
        eisnet_set_error("out of memory");
        goto out;
    }
    if (journal_start(&c) != 0) goto out;
    double every = u->o.checkpoint_every, next = eisnet_now() + every;
    while (!lr.eof && !stop_requested) {
        int timeout = 250; /* a stop request is noticed within this even if it raced with poll */
        if (every > 0 && c.dirty) {
            double left = next - eisnet_now();
            int ms = left <= 0 ? 0 : (int)(left * 1e3) + 1;
            if (ms < timeout) timeout = ms;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, timeout);
        if (pr < 0 && errno != EINTR) {
            eisnet_set_error("cannot read %s: %s", c.name, strerror(errno));
            goto out;
        }
        if (every > 0 && eisnet_now() >= next) {
            /* a group waiting for more lines is applied before a checkpoint */
            if (flush_group(&c) != 0 || checkpoint(&c) != 0) goto out;
            next = eisnet_now() + every;
        }
        if (pr > 0 && stream_read(&c, &lr, fd) != 0) goto out;
    }
    st->stopped = stop_requested ? 1 : 0;
    if (flush_group(&c) != 0 || checkpoint(&c) != 0) goto out;
    stream_stats(&c, st);
    rc = st->stopped ? 1 : 0;
    clean = 1;
out:
    stream_close(&c, clean, B);
    free(lr.buf);
    return rc;
}
