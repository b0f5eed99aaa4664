/* Reading a dataset written by eisnet_generate. */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/npy.h"
#include "grid_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RUN_GENERATE "run `eisnet generate --data_dir %s` first"

static char *join(const char *dir, const char *name)
{
    char *p = eisnet_path_join(dir, name);
    if (!p) eisnet_set_error("out of memory");
    return p;
}

int eisnet_dataset_open(eisnet_dataset *d, const char *dir)
{
    memset(d, 0, sizeof *d);
    char *pj = join(dir, "dataset.json"), *pz = join(dir, "dataset.npz"), *pm = join(dir, "ground_truth_metadata.json");
    char *text = NULL;
    size_t len;
    cJSON *j = NULL;
    eisnet_array *arr = NULL;
    size_t n_arr = 0;
    int rc = -1;
    d->dir = malloc(strlen(dir) + 1);
    d->resnorm_path = join(dir, "resnorm.npy");
    if (!pj || !pz || !pm || !d->dir || !d->resnorm_path) goto out;
    strcpy(d->dir, dir);
    struct stat st;
    if (stat(pj, &st) != 0) {
        eisnet_set_error("no finished dataset in %s (dataset.json missing): " RUN_GENERATE, dir, dir);
        goto out;
    }
    if (eisnet_read_file(pj, 1 << 20, &text, &len) != 0) goto out;
    j = cJSON_ParseWithLength(text, len);
    const cJSON *fmt = j ? cJSON_GetObjectItemCaseSensitive(j, "format") : NULL;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "eisnet-dataset") != 0) {
        eisnet_set_error("%s is corrupt: " RUN_GENERATE, pj, dir);
        goto out;
    }
    const cJSON *ngt = cJSON_GetObjectItemCaseSensitive(j, "n_ground_truths");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (!cJSON_IsNumber(ngt) || ngt->valuedouble < 1 || ngt->valuedouble > 1e6) {
        eisnet_set_error("%s is incomplete or corrupt: " RUN_GENERATE, pj, dir);
        goto out;
    }
    if (cJSON_IsString(seed)) d->seed = strtoull(seed->valuestring, NULL, 10);
    if (eisnet_grid_json_read(&d->grid, j, pj) != 0) goto out;
    int P = d->grid.n_params;
    d->n = (int)ngt->valuedouble;
    int F = d->grid.n_freq;

    if (eisnet_npz_read(pz, &arr, &n_arr) != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", eisnet_last_error());
        eisnet_set_error("%s: %s; " RUN_GENERATE, pz, why, dir);
        goto out;
    }
    const eisnet_array *gp = eisnet_arrays_find(arr, n_arr, "gt_params");
    const eisnet_array *gs = eisnet_arrays_find(arr, n_arr, "gt_spectra");
    if (!gp || !gs || gp->dtype != EISNET_F64 || gs->dtype != EISNET_F64 || gp->ndim != 2 || gs->ndim != 3 ||
        gp->shape[0] != d->n || gp->shape[1] != P || gs->shape[0] != d->n || gs->shape[1] != F || gs->shape[2] != 2) {
        eisnet_set_error("%s does not match dataset.json: " RUN_GENERATE, pz, dir);
        goto out;
    }
    d->gt = calloc((size_t)d->n, sizeof *d->gt);
    d->spectra = malloc(sizeof(double complex) * (size_t)d->n * F);
    if (!d->gt || !d->spectra) {
        eisnet_set_error("out of memory");
        goto out;
    }
    const double *pv = gp->data, *sv = gs->data;
    for (int i = 0; i < d->n; i++) {
        snprintf(d->gt[i].id, sizeof d->gt[i].id, "gt_%04d", i);
        for (int p = 0; p < P; p++) {
            double v = pv[(size_t)i * P + p];
            if (!isfinite(v) || !(v > 0)) {
                eisnet_set_error("%s: ground truth %d has a non-positive or non-finite parameter", pz, i);
                goto out;
            }
            d->gt[i].values[p] = v;
        }
        for (int f = 0; f < F; f++) {
            double re = sv[((size_t)i * F + f) * 2], im = sv[((size_t)i * F + f) * 2 + 1];
            if (!isfinite(re) || !isfinite(im)) {
                eisnet_set_error("%s: ground truth %d has a NaN or infinite spectrum", pz, i);
                goto out;
            }
            d->spectra[(size_t)i * F + f] = re + I * im;
        }
    }
    /* ids from the reference-format metadata, when it agrees */
    eisnet_ground_truth *meta;
    int n_meta;
    if (eisnet_ground_truths_load(&d->grid, pm, &meta, &n_meta) == 0) {
        if (n_meta == d->n)
            for (int i = 0; i < d->n; i++) memcpy(d->gt[i].id, meta[i].id, sizeof meta[i].id);
        free(meta);
    }

    /* resnorm.npy: header says (n, n_models) float64 and the size agrees */
    FILE *fp = fopen(d->resnorm_path, "rb");
    if (!fp) {
        eisnet_set_error("cannot open %s: %s; " RUN_GENERATE, d->resnorm_path, strerror(errno), dir);
        goto out;
    }
    unsigned char pre12[12];
    size_t got = fread(pre12, 1, 12, fp);
    long hlen = got == 12 && pre12[6] == 1 ? (long)(pre12[8] | pre12[9] << 8) : -1;
    char hdr[512] = {0};
    int ok = got == 12 && memcmp(pre12, "\x93NUMPY", 6) == 0 && hlen > 0 && hlen < 500;
    if (ok) {
        fseek(fp, 10, SEEK_SET);
        ok = fread(hdr, 1, (size_t)hlen, fp) == (size_t)hlen;
    }
    char want[160];
    snprintf(want, sizeof want, "'shape': (%d, %llu)", d->n, (unsigned long long)d->grid.n_models);
    ok = ok && strstr(hdr, "'descr': '<f8'") && strstr(hdr, want);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    d->resnorm_offset = 10 + hlen;
    if (!ok || size != d->resnorm_offset + (long)(8 * (uint64_t)d->n * d->grid.n_models)) {
        eisnet_set_error("%s is truncated or does not match dataset.json: " RUN_GENERATE, d->resnorm_path, dir);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) eisnet_dataset_close(d);
    eisnet_arrays_free(arr, n_arr);
    cJSON_Delete(j);
    free(text);
    free(pj);
    free(pz);
    free(pm);
    return rc;
}

void eisnet_dataset_close(eisnet_dataset *d)
{
    free(d->dir);
    free(d->gt);
    free(d->spectra);
    free(d->resnorm_path);
    if (d->grid.circuit) eisnet_grid_free(&d->grid);
    memset(d, 0, sizeof *d);
}

int eisnet_dataset_read_resnorm(const eisnet_dataset *d, int i, double *out)
{
    if (i < 0 || i >= d->n) return eisnet_set_error("ground truth %d out of range", i);
    FILE *fp = fopen(d->resnorm_path, "rb");
    if (!fp) return eisnet_set_error("cannot open %s: %s", d->resnorm_path, strerror(errno));
    size_t m = (size_t)d->grid.n_models;
    int rc = 0;
    if (fseek(fp, d->resnorm_offset + (long)(8 * (uint64_t)i * m), SEEK_SET) != 0 || fread(out, 8, m, fp) != m)
        rc = eisnet_set_error("%s: read error (truncated?)", d->resnorm_path);
    fclose(fp);
    for (size_t k = 0; rc == 0 && k < m; k++)
        if (!isfinite(out[k]) || out[k] < 0)
            rc = eisnet_set_error("%s: ground truth %s has a NaN, infinite or negative resnorm", d->resnorm_path, d->gt[i].id);
    return rc;
}

int eisnet_dataset_find(const eisnet_dataset *d, const char *id)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->gt[i].id, id) == 0) return i;
    return -1;
}
