/* The optimizer state beside a checkpoint (eisnet/train_state.h): moved here
 * from train.c so that `eisnet update` reads and writes the same file. */
#include "eisnet/train_state.h"
#include "eisnet/error.h"
#include "eisnet/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eisnet_train_state_save(const char *path, const eisnet_adamw *opt, const eisnet_train_run_state *rs,
                            const eisnet_epoch_record *h, int nh, const char *extra_key, const char *extra_json)
{
    eisnet_array a[2];
    memset(a, 0, sizeof a);
    snprintf(a[0].name, sizeof a[0].name, "adamw.m");
    snprintf(a[1].name, sizeof a[1].name, "adamw.v");
    for (int i = 0; i < 2; i++) {
        a[i].dtype = EISNET_F32;
        a[i].ndim = 1;
        a[i].shape[0] = (int64_t)opt->n;
        a[i].data = i ? opt->v : opt->m;
        a[i].nbytes = opt->n * sizeof(float);
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", rs->epoch);
    cJSON_AddNumberToObject(j, "step", (double)opt->step);
    cJSON_AddNumberToObject(j, "lr", rs->lr);
    cJSON_AddNumberToObject(j, "best_val", isfinite(rs->best_val) ? rs->best_val : 1e308);
    cJSON_AddNumberToObject(j, "best_epoch", rs->best_epoch);
    cJSON_AddNumberToObject(j, "plateau_best", isfinite(rs->plateau.best) ? rs->plateau.best : 1e308);
    cJSON_AddNumberToObject(j, "plateau_bad", rs->plateau.num_bad_epochs);
    cJSON_AddNumberToObject(j, "plateau_cooldown", rs->plateau.cooldown_counter);
    if (rs->generation > 0) {
        cJSON_AddNumberToObject(j, "generation", (double)rs->generation);
        cJSON_AddStringToObject(j, "pair", rs->pair);
    }
    cJSON *hist = cJSON_AddArrayToObject(j, "history");
    for (int i = 0; i < nh; i++) {
        double v[10] = {h[i].epoch,    h[i].train_loss, h[i].train_ce, h[i].val_loss,      h[i].val_ce,
                        h[i].val_top1, h[i].val_top3,   h[i].lr,       h[i].samples_per_s, h[i].seconds};
        for (int k = 0; k < 10; k++)
            if (!isfinite(v[k])) v[k] = -1;
        cJSON_AddItemToArray(hist, cJSON_CreateDoubleArray(v, 10));
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return eisnet_set_error("out of memory");
    const char *keys[2] = {"eisnet_train_state", extra_key}, *vals[2] = {text, extra_json};
    int rc = eisnet_safetensors_write(path, a, 2, keys, vals, extra_key && extra_json ? 2 : 1);
    free(text);
    return rc;
}

/* A whole number in [lo, hi]: a state file cannot smuggle in a value whose
 * conversion to an integer overflows. */
static int whole_in(const cJSON *x, double lo, double hi)
{
    return cJSON_IsNumber(x) && x->valuedouble >= lo && x->valuedouble <= hi && x->valuedouble == floor(x->valuedouble);
}

int eisnet_train_state_load(const char *path, eisnet_adamw *opt, eisnet_train_run_state *rs, eisnet_epoch_record **h,
                            int *nh, const char *extra_key, char **extra_json)
{
    eisnet_array *a = NULL;
    size_t n = 0, nm = 0;
    char **mk = NULL, **mv = NULL;
    int rc = -1;
    cJSON *j = NULL;
    if (extra_json) *extra_json = NULL;
    if (eisnet_safetensors_read(path, &a, &n, &mk, &mv, &nm) != 0) {
        eisnet_prefix_error("cannot resume: ");
        return -1;
    }
    const eisnet_array *m = eisnet_arrays_find(a, n, "adamw.m"), *v = eisnet_arrays_find(a, n, "adamw.v");
    const char *text = eisnet_safetensors_meta_get(mk, mv, nm, "eisnet_train_state");
    if (!m || !v || !text || m->dtype != EISNET_F32 || v->dtype != EISNET_F32 || (size_t)eisnet_array_count(m) != opt->n ||
        (size_t)eisnet_array_count(v) != opt->n) {
        eisnet_set_error("cannot resume: %s does not match the model", path);
        goto out;
    }
    j = cJSON_Parse(text);
    const cJSON *e = cJSON_GetObjectItem(j, "epoch"), *st = cJSON_GetObjectItem(j, "step"), *lr = cJSON_GetObjectItem(j, "lr");
    const cJSON *bv = cJSON_GetObjectItem(j, "best_val"), *be = cJSON_GetObjectItem(j, "best_epoch");
    const cJSON *pb = cJSON_GetObjectItem(j, "plateau_best"), *pn = cJSON_GetObjectItem(j, "plateau_bad");
    const cJSON *pc = cJSON_GetObjectItem(j, "plateau_cooldown"), *hist = cJSON_GetObjectItem(j, "history");
    if (!whole_in(e, 0, 1e9) || !whole_in(st, 0, 9007199254740992.0) || !cJSON_IsNumber(lr) ||
        !(lr->valuedouble >= 0 && lr->valuedouble < 1e30) || !cJSON_IsNumber(bv) || !(bv->valuedouble == bv->valuedouble) ||
        !whole_in(be, 0, 1e9) || !cJSON_IsNumber(pb) || !(pb->valuedouble == pb->valuedouble) || !whole_in(pn, 0, 1e9) ||
        !whole_in(pc, 0, 1e9) || !cJSON_IsArray(hist) || cJSON_GetArraySize(hist) > 100000000) {
        eisnet_set_error("cannot resume: %s is corrupt (a counter or the learning rate is out of range)", path);
        goto out;
    }
    memcpy(opt->m, m->data, opt->n * sizeof(float));
    memcpy(opt->v, v->data, opt->n * sizeof(float));
    opt->step = (int64_t)st->valuedouble;
    rs->epoch = e->valueint;
    rs->lr = (float)lr->valuedouble;
    rs->best_val = bv->valuedouble >= 1e308 ? INFINITY : bv->valuedouble;
    rs->best_epoch = be->valueint;
    rs->plateau.best = pb->valuedouble >= 1e308 ? INFINITY : pb->valuedouble;
    rs->plateau.num_bad_epochs = pn->valueint;
    rs->plateau.cooldown_counter = pc->valueint;
    {
        const cJSON *gen = cJSON_GetObjectItem(j, "generation"), *pair = cJSON_GetObjectItem(j, "pair");
        rs->generation = whole_in(gen, 0, 9e15) ? (int64_t)gen->valuedouble : 0;
        snprintf(rs->pair, sizeof rs->pair, "%s", cJSON_IsString(pair) ? pair->valuestring : "");
    }
    int k = cJSON_GetArraySize(hist);
    *h = calloc((size_t)k + 1, sizeof **h);
    if (!*h) goto out;
    *nh = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, hist)
    {
        double v10[10] = {0};
        for (int i = 0; i < 10; i++) {
            const cJSON *x = cJSON_GetArrayItem(row, i);
            v10[i] = cJSON_IsNumber(x) ? x->valuedouble : -1;
            if (i == 0 && !whole_in(x, -1, 1e9)) v10[i] = -1; /* the epoch column becomes an int */
            if (i >= 3 && i <= 6 && v10[i] == -1) v10[i] = NAN;
        }
        eisnet_epoch_record r = {(int)v10[0], v10[1], v10[2], v10[3], v10[4], v10[5], v10[6], v10[7], v10[8], v10[9]};
        (*h)[(*nh)++] = r;
    }
    if (extra_key && extra_json) {
        const char *x = eisnet_safetensors_meta_get(mk, mv, nm, extra_key);
        if (x) {
            *extra_json = malloc(strlen(x) + 1);
            if (!*extra_json) {
                free(*h);
                *h = NULL;
                *nh = 0;
                eisnet_set_error("out of memory");
                goto out;
            }
            memcpy(*extra_json, x, strlen(x) + 1);
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    eisnet_arrays_free(a, n);
    eisnet_safetensors_free_meta(mk, mv, nm);
    return rc;
}

