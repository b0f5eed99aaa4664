/* `eisnet generate`: streamed, parallel, deterministic dataset generation. */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/fmt.h"
#include "eisnet/npy.h"
#include "eisnet/progress.h"
#include "eisnet/tmpfile.h"
#include "eisnet/resnorm.h"
#include "grid_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void eisnet_generate_options_default(eisnet_generate_options *o)
{
    memset(o, 0, sizeof *o);
    eisnet_grid_options_default(&o->grid);
    o->n_ground_truths = 100;
    o->data_dir = "./eis_training_data";
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_workers = n > 0 ? (int)n : 1;
    o->seed = 42;
}

/* ---- ground-truth JSON --------------------------------------------------- */

static int key_matches(const char *key, const char *name)
{
    for (; *key && *name; key++, name++)
        if (tolower((unsigned char)*key) != tolower((unsigned char)*name)) return 0;
    return *key == *name;
}

int eisnet_ground_truths_load(const eisnet_grid *g, const char *path, eisnet_ground_truth **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    char *text;
    size_t len;
    if (eisnet_read_regular_file(path, EISNET_GROUND_TRUTHS_MAX_BYTES, &text, &len) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return eisnet_set_error("%s: not valid JSON", path);
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        return eisnet_set_error("%s: expected a non-empty JSON list of ground truths", path);
    }
    int n = cJSON_GetArraySize(root);
    eisnet_ground_truth *gt = calloc((size_t)n, sizeof *gt);
    if (!gt) {
        cJSON_Delete(root);
        return eisnet_set_error("out of memory");
    }
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!cJSON_IsObject(item)) goto bad;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (cJSON_IsString(id) && strlen(id->valuestring) < sizeof gt[i].id)
            snprintf(gt[i].id, sizeof gt[i].id, "%s", id->valuestring);
        else
            snprintf(gt[i].id, sizeof gt[i].id, "gt_%04d", i);
        for (int p = 0; p < g->n_params; p++) {
            const cJSON *v = NULL, *f;
            cJSON_ArrayForEach(f, item)
            {
                if (f->string && key_matches(f->string, g->names[p])) v = f;
            }
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !(v->valuedouble > 0)) {
                eisnet_set_error("%s: ground truth %d: missing or non-positive value for '%s'", path, i, g->names[p]);
                free(gt);
                cJSON_Delete(root);
                return -1;
            }
            gt[i].values[p] = v->valuedouble;
        }
        i++;
    }
    cJSON_Delete(root);
    *out = gt;
    *n_out = n;
    return 0;
bad:
    eisnet_set_error("%s: item %d is not an object", path, i);
    free(gt);
    cJSON_Delete(root);
    return -1;
}

static int write_metadata_json(const char *path, const eisnet_grid *g, const eisnet_ground_truth *gt, int n)
{
    /* json.dump(..., indent=2) layout, floats as Python's repr. */
    size_t cap = (size_t)n * (64 + (size_t)g->n_params * 64) + 16;
    char *buf = malloc(cap), num[EISNET_FMT_BUFSIZE];
    if (!buf) return eisnet_set_error("out of memory");
    size_t k = (size_t)snprintf(buf, cap, "[\n");
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(buf + k, cap - k, "  {\n    \"id\": \"%s\"", gt[i].id);
        for (int p = 0; p < g->n_params; p++) {
            char key[EISNET_NAME_MAX];
            snprintf(key, sizeof key, "%s", g->names[p]);
            if (g->preset[0])
                for (char *c = key; *c; c++) *c = (char)tolower((unsigned char)*c);
            eisnet_fmt_double(num, gt[i].values[p]);
            k += (size_t)snprintf(buf + k, cap - k, ",\n    \"%s\": %s", key, num);
        }
        k += (size_t)snprintf(buf + k, cap - k, "\n  }%s\n", i + 1 < n ? "," : "");
    }
    k += (size_t)snprintf(buf + k, cap - k, "]\n");
    int rc = eisnet_write_file_atomic(path, buf, k);
    free(buf);
    return rc;
}

/* ---- exact order statistics in bounded memory ---------------------------- */

static uint64_t key_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    /* order-preserving map of doubles onto unsigned integers */
    return (u >> 63) ? ~u : (u | 0x8000000000000000ULL);
}

static double value_of(uint64_t k)
{
    uint64_t u = (k >> 63) ? (k & 0x7fffffffffffffffULL) : ~k;
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* numpy's linear interpolation (_lerp) between neighbours a <= b. */
static double lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

#define N_Q 4
/* Opens a float64 .npy written by eisnet_generate: the data offset and the
 * number of values (from the file size). */
static FILE *open_f64_npy(const char *path, size_t *off, uint64_t *count)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        eisnet_set_error("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char pre[12];
    char hdr[1024];
    size_t hlen = 0;
    int ok = fread(pre, 1, 12, fp) == 12 && memcmp(pre, "\x93NUMPY", 6) == 0 && (pre[6] == 1 || pre[6] == 2);
    if (ok) {
        hlen = pre[6] == 1 ? (size_t)pre[8] | (size_t)pre[9] << 8
                           : (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        *off = (pre[6] == 1 ? 10 : 12) + hlen;
        ok = hlen < sizeof hdr && fseek(fp, (long)(*off - hlen), SEEK_SET) == 0 && fread(hdr, 1, hlen, fp) == hlen;
    }
    if (ok) {
        hdr[hlen] = '\0';
        ok = strstr(hdr, "'descr': '<f8'") && strstr(hdr, "'fortran_order': False");
    }
    long end = ok && fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (!ok || end < 0 || (size_t)end < *off || ((size_t)end - *off) % 8 != 0) {
        fclose(fp);
        eisnet_set_error("%s: not a float64 .npy file written by eisnet generate", path);
        return NULL;
    }
    *count = ((uint64_t)end - *off) / 8;
    return fp;
}

/* numpy's linear-interpolation percentiles need the values of ranks lo and
 * lo + 1 at virtual index q/100 (n - 1). */
static const double quantiles[N_Q] = {25, 50, 75, 90};
static void wanted_ranks(uint64_t total, uint64_t rank[2 * N_Q], double gamma[N_Q])
{
    for (int q = 0; q < N_Q; q++) {
        double vi = (quantiles[q] / 100.0) * (double)(total - 1), lo = floor(vi);
        gamma[q] = vi - lo;
        rank[2 * q] = (uint64_t)lo;
        rank[2 * q + 1] = (uint64_t)lo + 1 < total ? (uint64_t)lo + 1 : (uint64_t)lo;
    }
}

int eisnet_resnorm_file_stats_radix(const char *npy_path, uint64_t zeros, eisnet_resnorm_stats *st)
{
    size_t off;
    uint64_t count;
    FILE *fp = open_f64_npy(npy_path, &off, &count);
    if (!fp) return -1;
    uint64_t total = count + zeros;
    if (total == 0) {
        fclose(fp);
        return eisnet_set_error("%s: no values", npy_path);
    }
    uint64_t rank[2 * N_Q];
    double gamma[N_Q];
    wanted_ranks(total, rank, gamma);
    /* ranks among the file's values (the zeros sort first: all values >= 0) */
    enum { T = 2 * N_Q };
    uint64_t prefix[T] = {0}, want[T];
    int resolved[T];
    double result[T];
    for (int t = 0; t < T; t++) {
        resolved[t] = rank[t] < zeros;
        result[t] = 0.0;
        want[t] = resolved[t] ? 0 : rank[t] - zeros;
    }
    uint64_t *hist = calloc((size_t)T * 65536, sizeof(uint64_t));
    double *chunk = malloc(sizeof(double) * 65536);
    if (!hist || !chunk) {
        free(hist);
        free(chunk);
        fclose(fp);
        return eisnet_set_error("out of memory");
    }
    double vmin = INFINITY, vmax = -INFINITY;
    int rc = 0;
    for (int pass = 0; pass < 4 && rc == 0; pass++) {
        int shift = 48 - 16 * pass;
        memset(hist, 0, sizeof(uint64_t) * T * 65536);
        fseek(fp, (long)off, SEEK_SET);
        uint64_t left = count;
        while (left > 0) {
            size_t want_n = left < 65536 ? (size_t)left : 65536;
            if (fread(chunk, 8, want_n, fp) != want_n) {
                rc = eisnet_set_error("%s: read error", npy_path);
                break;
            }
            left -= want_n;
            for (size_t i = 0; i < want_n; i++) {
                double v = chunk[i];
                if (pass == 0) {
                    if (v < vmin) vmin = v;
                    if (v > vmax) vmax = v;
                }
                uint64_t k = key_of(v);
                unsigned digit = (unsigned)(k >> shift) & 0xffffu;
                for (int t = 0; t < T; t++) {
                    if (resolved[t]) continue;
                    if (pass > 0 && (k >> (shift + 16)) != (prefix[t] >> (shift + 16))) continue;
                    hist[(size_t)t * 65536 + digit]++;
                }
            }
        }
        for (int t = 0; t < T && rc == 0; t++) {
            if (resolved[t]) continue;
            uint64_t *h = hist + (size_t)t * 65536, acc = 0;
            unsigned d = 0;
            for (; d < 65536; d++) {
                if (acc + h[d] > want[t]) break;
                acc += h[d];
            }
            if (d == 65536) {
                rc = eisnet_set_error("%s: internal error in order statistics", npy_path);
                break;
            }
            prefix[t] |= (uint64_t)d << shift;
            want[t] -= acc;
        }
    }
    for (int t = 0; t < T; t++)
        if (!resolved[t]) result[t] = value_of(prefix[t]);
    free(hist);
    free(chunk);
    fclose(fp);
    if (rc != 0) return rc;
    if (count == 0) vmin = vmax = 0.0;
    st->min = zeros > 0 && vmin > 0 ? 0.0 : vmin;
    st->max = vmax < 0 && zeros ? 0.0 : vmax;
    double *dst[N_Q] = {&st->p25, &st->median, &st->p75, &st->p90};
    for (int q = 0; q < N_Q; q++) *dst[q] = lerp(result[2 * q], result[2 * q + 1], gamma[q]);
    return 0;
}

/* Fast path: a 2^20-bin histogram of the keys' top bits (accumulated while
 * the values stream out during generation), then one pass over the file that
 * collects only the values in the bins holding the wanted ranks. Memory is
 * bounded (8 MiB + the wanted bins, capped); past the cap the 4-pass radix
 * selection above takes over. */
#define HBITS 20
#define HSHIFT (64 - HBITS)
#define COLLECT_CAP ((uint64_t)8 << 20)

typedef struct {
    uint64_t *hist;
    double vmin, vmax;
    uint64_t count;
} stats_acc;

static int stats_acc_init(stats_acc *a)
{
    a->hist = calloc((size_t)1 << HBITS, sizeof(uint64_t));
    a->vmin = INFINITY;
    a->vmax = -INFINITY;
    a->count = 0;
    return a->hist ? 0 : eisnet_set_error("out of memory");
}

static void stats_acc_add(stats_acc *a, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        a->hist[key_of(v[i]) >> HSHIFT]++;
        if (v[i] < a->vmin) a->vmin = v[i];
        if (v[i] > a->vmax) a->vmax = v[i];
    }
    a->count += n;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}


static int stats_finish(const char *path, stats_acc *acc, uint64_t zeros, eisnet_resnorm_stats *st)
{
    uint64_t count = acc->count, total = count + zeros;
    if (total == 0) return eisnet_set_error("%s: no values", path);
    enum { T = 2 * N_Q };
    uint64_t rank[T];
    double gamma[N_Q], result[T];
    wanted_ranks(total, rank, gamma);
    /* locate each wanted rank's bin */
    uint32_t bin[T];
    uint64_t within[T], need = 0;
    int resolved[T];
    for (int t = 0; t < T; t++) {
        resolved[t] = rank[t] < zeros;
        result[t] = 0.0;
        if (resolved[t]) continue;
        uint64_t r = rank[t] - zeros, acc_n = 0;
        uint32_t b = 0;
        while (acc_n + acc->hist[b] <= r) acc_n += acc->hist[b++];
        bin[t] = b;
        within[t] = r - acc_n;
    }
    /* distinct bins to collect */
    uint32_t ubin[T];
    int nu = 0;
    for (int t = 0; t < T; t++) {
        if (resolved[t]) continue;
        int seen = 0;
        for (int u = 0; u < nu; u++) seen |= ubin[u] == bin[t];
        if (!seen) {
            ubin[nu++] = bin[t];
            need += acc->hist[bin[t]];
        }
    }
    int rc = 0;
    if (need > COLLECT_CAP) {
        rc = eisnet_resnorm_file_stats_radix(path, zeros, st);
        goto minmax;
    }
    {
        uint64_t *keys[T] = {0}, fill[T] = {0};
        uint8_t *slot_of = malloc((size_t)1 << HBITS);
        double *chunk = malloc(sizeof(double) * 65536);
        size_t off = 0;
        uint64_t file_count = 0;
        FILE *fp = open_f64_npy(path, &off, &file_count);
        if (!fp) rc = -1;
        else if (file_count != count) rc = eisnet_set_error("%s: changed while being read", path);
        if (rc == 0 && (!slot_of || !chunk)) rc = eisnet_set_error("out of memory");
        if (rc == 0) {
            memset(slot_of, 0xff, (size_t)1 << HBITS);
            for (int u = 0; u < nu && rc == 0; u++) {
                slot_of[ubin[u]] = (uint8_t)u;
                keys[u] = malloc(sizeof(uint64_t) * (size_t)(acc->hist[ubin[u]] ? acc->hist[ubin[u]] : 1));
                if (!keys[u]) rc = eisnet_set_error("out of memory");
            }
        }
        if (rc == 0 && fseek(fp, (long)off, SEEK_SET) != 0) rc = eisnet_set_error("%s: seek failed", path);
        for (uint64_t left = count; rc == 0 && left > 0;) {
            size_t n = left < 65536 ? (size_t)left : 65536;
            if (fread(chunk, 8, n, fp) != n) {
                rc = eisnet_set_error("%s: read error", path);
                break;
            }
            left -= n;
            for (size_t i = 0; i < n; i++) {
                uint64_t k = key_of(chunk[i]);
                uint8_t u = slot_of[k >> HSHIFT];
                if (u != 0xff) {
                    if (fill[u] >= acc->hist[ubin[u]]) {
                        rc = eisnet_set_error("%s: changed while being read", path);
                        break;
                    }
                    keys[u][fill[u]++] = k;
                }
            }
        }
        for (int u = 0; u < nu && rc == 0; u++) qsort(keys[u], (size_t)fill[u], sizeof(uint64_t), cmp_u64);
        for (int t = 0; t < T && rc == 0; t++) {
            if (resolved[t]) continue;
            int u = slot_of[bin[t]];
            if (within[t] >= fill[u]) rc = eisnet_set_error("%s: changed while being read", path);
            else result[t] = value_of(keys[u][within[t]]);
        }
        for (int u = 0; u < nu; u++) free(keys[u]);
        free(slot_of);
        free(chunk);
        if (fp) fclose(fp);
    }
    if (rc != 0) return rc;
    {
        double *dst[N_Q] = {&st->p25, &st->median, &st->p75, &st->p90};
        for (int q = 0; q < N_Q; q++) *dst[q] = lerp(result[2 * q], result[2 * q + 1], gamma[q]);
    }
minmax:
    if (rc != 0) return rc;
    {
        double vmin = count ? acc->vmin : 0.0, vmax = count ? acc->vmax : 0.0;
        st->min = zeros > 0 && vmin > 0 ? 0.0 : vmin;
        st->max = zeros > 0 && vmax < 0 ? 0.0 : vmax;
    }
    return 0;
}

int eisnet_resnorm_file_stats(const char *npy_path, uint64_t zeros, eisnet_resnorm_stats *st)
{
    stats_acc acc;
    if (stats_acc_init(&acc) != 0) return -1;
    size_t off;
    uint64_t count;
    FILE *fp = open_f64_npy(npy_path, &off, &count);
    int rc = fp ? 0 : -1;
    double *chunk = rc == 0 ? malloc(sizeof(double) * 65536) : NULL;
    if (rc == 0 && !chunk) rc = eisnet_set_error("out of memory");
    if (rc == 0 && fseek(fp, (long)off, SEEK_SET) != 0) rc = eisnet_set_error("%s: seek failed", npy_path);
    while (rc == 0) {
        size_t n = fread(chunk, 8, 65536, fp);
        stats_acc_add(&acc, chunk, n);
        if (n < 65536) break;
    }
    if (fp && ferror(fp)) rc = eisnet_set_error("%s: read error", npy_path);
    free(chunk);
    if (fp) fclose(fp);
    if (rc == 0) rc = stats_finish(npy_path, &acc, zeros, st);
    free(acc.hist);
    return rc;
}

static void thousands(char *buf, size_t n, uint64_t v)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%llu", (unsigned long long)v), k = 0;
    for (int i = 0; i < len && (size_t)k + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = '\0';
}

static void column_label(const eisnet_grid *g, int p, char *buf, size_t n)
{
    if (g->units[p][0]) snprintf(buf, n, "%s (%s)", g->names[p], g->units[p]);
    else snprintf(buf, n, "%s", g->names[p]);
}

static int write_summary(const char *path, const eisnet_grid *g, const eisnet_ground_truth *gt, int n,
                         const eisnet_resnorm_stats *st)
{
    char buf[8192], a[32], b[32], c[32];
    size_t k = 0;
    const char *rule = "======================================================================";
    thousands(a, sizeof a, (uint64_t)n);
    thousands(b, sizeof b, (uint64_t)n * (g->n_models + 1));
    thousands(c, sizeof c, g->n_models + 1);
    k += (size_t)snprintf(buf + k, sizeof buf - k,
                          "%s\nDATASET SUMMARY REPORT\n%s\n\nTotal Ground Truths: %s\nTotal Models: %s\n"
                          "Models per Ground Truth: %s\n\nParameter Ranges:\n",
                          rule, rule, a, b, c);
    for (int p = 0; p < g->n_params && k < sizeof buf; p++) {
        double lo = g->values[(size_t)p * g->n_grid], hi = g->values[(size_t)p * g->n_grid + g->n_grid - 1];
        for (int i = 0; i < n; i++) {
            if (gt[i].values[p] < lo) lo = gt[i].values[p];
            if (gt[i].values[p] > hi) hi = gt[i].values[p];
        }
        char label[64];
        column_label(g, p, label, sizeof label);
        k += (size_t)snprintf(buf + k, sizeof buf - k, "  %s: %.2e to %.2e\n", label, lo, hi);
    }
    if (k < sizeof buf)
        k += (size_t)snprintf(buf + k, sizeof buf - k,
                              "\nResnorm Statistics:\n  Min: %.4f\n  25th percentile: %.4f\n  Median: %.4f\n"
                              "  75th percentile: %.4f\n  90th percentile: %.4f\n  Max: %.4f\n",
                              st->min, st->p25, st->median, st->p75, st->p90, st->max);
    if (k >= sizeof buf) return eisnet_set_error("summary too long");
    return eisnet_write_file_atomic(path, buf, k);
}

/* ---- CSV ----------------------------------------------------------------- */

typedef struct {
    char *cells;      /* per parameter and grid index: ",<repr>" */
    size_t *cell_len;
    int stride;
} csv_cells;

static size_t csv_format_gt(const eisnet_grid *g, const csv_cells *cells, const eisnet_ground_truth *gt,
                            const double *res, char *out)
{
    char *o = out;
    int P = g->n_params, n = g->n_grid;
    size_t idlen = strlen(gt->id);
    /* reference row */
    char rid[20];
    eisnet_reference_id(gt->values, P, rid);
    o += sprintf(o, "%s,0.0", rid);
    for (int p = 0; p < P; p++) {
        *o++ = ',';
        o += eisnet_fmt_double(o, gt->values[p]);
    }
    *o++ = ',';
    memcpy(o, gt->id, idlen);
    o += idlen;
    *o++ = '\n';
    int idx[EISNET_MAX_PARAMS] = {0};
    for (uint64_t m = 0; m < g->n_models; m++) {
        memcpy(o, "model", 5);
        o += 5;
        for (int p = 0; p < P; p++) {
            int v = idx[p] + 1;
            o[0] = '_';
            o[1] = (char)('0' + v / 10);
            o[2] = (char)('0' + v % 10);
            o += 3;
        }
        *o++ = ',';
        o += eisnet_fmt_double(o, res[m]);
        for (int p = 0; p < P; p++) {
            const char *cell = cells->cells + ((size_t)p * n + idx[p]) * cells->stride;
            size_t cl = cells->cell_len[(size_t)p * n + idx[p]];
            memcpy(o, cell, cl);
            o += cl;
        }
        *o++ = ',';
        memcpy(o, gt->id, idlen);
        o += idlen;
        *o++ = '\n';
        for (int p = P - 1; p >= 0; p--) {
            if (++idx[p] < n) break;
            idx[p] = 0;
        }
    }
    return (size_t)(o - out);
}

/* ---- the parallel, ordered pipeline -------------------------------------- */

typedef struct {
    double *res;
    char *csv;
    size_t csv_len;
    int gt;    /* index of the ground truth in this slot, -1 = free */
    int ready;
} slot;

typedef struct {
    const eisnet_grid *g;
    const eisnet_resnorm_plan *plan;
    const eisnet_ground_truth *gt;
    const double complex *spectra;
    const csv_cells *cells;
    int n, n_slots, next, written, stop;
    /* grid models computed so far, for progress inside long rows */
    _Atomic uint64_t models_done;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pipeline;

static void *worker(void *arg)
{
    pipeline *pl = arg;
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        while (!pl->stop && pl->next < pl->n && pl->next >= pl->written + pl->n_slots)
            pthread_cond_wait(&pl->cv, &pl->mu);
        if (pl->stop || pl->next >= pl->n) {
            pthread_mutex_unlock(&pl->mu);
            return NULL;
        }
        int i = pl->next++;
        slot *s = &pl->slots[i % pl->n_slots];
        pthread_mutex_unlock(&pl->mu);

        const double complex *zref = pl->spectra + (size_t)i * pl->g->n_freq;
        if (pl->g->kernel == EISNET_KERNEL_GENERIC) {
            /* the slow generic kernel in chunks, each one counted for the progress line */
            const uint64_t chunk = 1 << 14;
            for (uint64_t m0 = 0; m0 < pl->g->n_models && !pl->stop; m0 += chunk) {
                uint64_t m1 = m0 + chunk < pl->g->n_models ? m0 + chunk : pl->g->n_models;
                eisnet_resnorm_range(pl->plan, zref, m0, m1, s->res + m0);
                atomic_fetch_add(&pl->models_done, m1 - m0);
            }
        } else {
            eisnet_resnorm_all(pl->plan, zref, s->res);
            atomic_fetch_add(&pl->models_done, pl->g->n_models);
        }
        if (s->csv) s->csv_len = csv_format_gt(pl->g, pl->cells, &pl->gt[i], s->res, s->csv);

        pthread_mutex_lock(&pl->mu);
        s->gt = i;
        s->ready = 1;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
    }
}

static char *csv_header(const eisnet_grid *g)
{
    size_t cap = 64 + (size_t)g->n_params * 64;
    char *h = malloc(cap);
    if (!h) return NULL;
    size_t k = (size_t)snprintf(h, cap, "Model ID,Resnorm");
    for (int p = 0; p < g->n_params; p++) {
        char label[64];
        column_label(g, p, label, sizeof label);
        k += (size_t)snprintf(h + k, cap - k, ",%s", label);
    }
    snprintf(h + k, cap - k, ",Ground Truth ID\n");
    return h;
}

static int write_dataset_json(const char *path, const eisnet_generate_options *o, const eisnet_grid *g, int n)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "eisnet-dataset");
    cJSON_AddNumberToObject(j, "version", 1);
    eisnet_grid_json_write(g, j);
    cJSON_AddNumberToObject(j, "n_ground_truths", n);
    cJSON_AddNumberToObject(j, "n_models", (double)g->n_models);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return eisnet_set_error("out of memory");
    size_t len = strlen(text);
    char *withnl = malloc(len + 2);
    int rc = -1;
    if (withnl) {
        memcpy(withnl, text, len);
        withnl[len] = '\n';
        rc = eisnet_write_file_atomic(path, withnl, len + 1);
    } else
        eisnet_set_error("out of memory");
    free(withnl);
    free(text);
    return rc;
}

/* Moves a complete staged dataset into data_dir. dataset.json goes away
 * first and comes back last, so that no moment shows the old dataset.json
 * beside new arrays; a crash in between leaves a directory without
 * dataset.json, which every reader calls incomplete. */
static int publish_staged(const char *staging, const char *data_dir, const char *p_csv)
{
    const char *names[5] = {"resnorm.npy", "dataset.npz", "ground_truth_metadata.json", "dataset_summary.txt",
                            "dataset.json"};
    char *old_json = eisnet_path_join(data_dir, "dataset.json");
    if (!old_json) return eisnet_set_error("out of memory");
    int rc = 0;
    if (unlink(old_json) != 0 && errno != ENOENT) rc = eisnet_set_error("cannot replace %s: %s", old_json, strerror(errno));
    free(old_json);
    if (rc == 0 && p_csv) {
        const char *b = strrchr(p_csv, '/');
        char *to = eisnet_path_join(data_dir, b ? b + 1 : p_csv);
        if (!to || rename(p_csv, to) != 0) rc = eisnet_set_error("cannot move %s into %s: %s", p_csv, data_dir, strerror(errno));
        free(to);
    }
    for (int k = 0; k < 5 && rc == 0; k++) {
        char *from = eisnet_path_join(staging, names[k]), *to = eisnet_path_join(data_dir, names[k]);
        if (!from || !to) rc = eisnet_set_error("out of memory");
        else if (rename(from, to) != 0) rc = eisnet_set_error("cannot move %s into %s: %s", from, data_dir, strerror(errno));
        free(from);
        free(to);
    }
    int fd = open(data_dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return rc;
}

int eisnet_generate(const eisnet_generate_options *o)
{
    if (o->n_workers < 1) return eisnet_set_error("--n_workers must be at least 1 (got %d)", o->n_workers);
    if (!o->ground_truths_file && o->n_ground_truths < 1)
        return eisnet_set_error("--n_ground_truths must be at least 1 (got %d)", o->n_ground_truths);
    if (o->n_ground_truths > 1000000) return eisnet_set_error("--n_ground_truths is too large (at most 1000000)");
    eisnet_grid g;
    if (eisnet_grid_init(&g, &o->grid) != 0) return -1;
    if (!o->ground_truths_file) {
        struct stat dst;
        eisnet_generate_options oo = *o;
        /* the free space is checked where the directory exists already */
        if (stat(o->data_dir, &dst) != 0) oo.data_dir = NULL;
        if (eisnet_generate_check_size(&g, o->n_ground_truths, &oo) != 0) {
            eisnet_grid_free(&g);
            return -1;
        }
    }
    int rc = -1, n = 0;
    eisnet_ground_truth *gt = NULL;
    double complex *spectra = NULL;
    eisnet_resnorm_plan *plan = NULL;
    eisnet_npy_writer *npy = NULL;
    eisnet_atomic_file csv = {0};
    pipeline pl;
    memset(&pl, 0, sizeof pl);
    csv_cells cells = {0};
    pthread_t *threads = NULL;
    int n_threads = 0, sync_ready = 0;
    stats_acc stats = {0};
    char *p_resnorm = NULL, *p_npz = NULL, *p_json = NULL, *p_meta = NULL, *p_summary = NULL, *p_csv = NULL;
    char *staging = NULL;

    if (eisnet_ensure_dir(o->data_dir) != 0) goto out;
    /* The new dataset is built in a staging directory inside data_dir and
     * moved in only once complete: until then the old dataset stays whole
     * and usable, and a failure or a kill leaves it untouched. */
    staging = eisnet_tmp_mkdir(o->data_dir, "eisnet-staging");
    if (!staging) goto out;
    p_resnorm = eisnet_path_join(staging, "resnorm.npy");
    p_npz = eisnet_path_join(staging, "dataset.npz");
    p_json = eisnet_path_join(staging, "dataset.json");
    p_meta = eisnet_path_join(staging, "ground_truth_metadata.json");
    p_summary = eisnet_path_join(staging, "dataset_summary.txt");
    if (!p_resnorm || !p_npz || !p_json || !p_meta || !p_summary) {
        eisnet_set_error("out of memory");
        goto out;
    }
    {
        const char *staged[5] = {p_resnorm, p_npz, p_json, p_meta, p_summary};
        for (int k = 0; k < 5; k++) eisnet_tmp_register(staged[k], 0);
    }

    if (o->ground_truths_file) {
        if (eisnet_ground_truths_load(&g, o->ground_truths_file, &gt, &n) != 0) goto out;
        if (eisnet_generate_check_size(&g, n, o) != 0) goto out;
    } else {
        n = o->n_ground_truths;
        gt = calloc((size_t)n, sizeof *gt);
        if (!gt) {
            eisnet_set_error("out of memory");
            goto out;
        }
        if (eisnet_ground_truths_make(&g, n, o->seed, gt) != 0) goto out;
    }
    size_t F = (size_t)g.n_freq;
    spectra = malloc(sizeof(double complex) * F * (size_t)n);
    plan = eisnet_resnorm_plan_new(&g);
    if (!spectra || !plan) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) eisnet_grid_spectrum(&g, gt[i].values, spectra + (size_t)i * F);

    int64_t shape[2] = {n, (int64_t)g.n_models};
    npy = eisnet_npy_writer_open(p_resnorm, EISNET_F64, 2, shape);
    if (!npy) goto out;
    size_t csv_cap = 0;
    if (o->csv) {
        char name[64];
        snprintf(name, sizeof name, "combined_dataset_%dgt.csv", n);
        p_csv = eisnet_path_join(staging, name);
        if (!p_csv) goto out;
        eisnet_tmp_register(p_csv, 0);
        if (eisnet_atomic_open(&csv, p_csv) != 0) goto out;
        char *h = csv_header(&g);
        if (!h || eisnet_atomic_write(&csv, h, strlen(h)) != 0) {
            free(h);
            goto out;
        }
        free(h);
        cells.stride = EISNET_FMT_BUFSIZE + 2;
        cells.cells = malloc((size_t)g.n_params * g.n_grid * cells.stride);
        cells.cell_len = malloc(sizeof(size_t) * (size_t)g.n_params * g.n_grid);
        if (!cells.cells || !cells.cell_len) {
            eisnet_set_error("out of memory");
            goto out;
        }
        for (int p = 0; p < g.n_params; p++)
            for (int k = 0; k < g.n_grid; k++) {
                char *c = cells.cells + ((size_t)p * g.n_grid + k) * cells.stride;
                c[0] = ',';
                cells.cell_len[(size_t)p * g.n_grid + k] = 1 + (size_t)eisnet_fmt_double(c + 1, g.values[(size_t)p * g.n_grid + k]);
            }
        /* id + resnorm + P values + gt id + separators, per row */
        csv_cap = (g.n_models + 1) * (size_t)(8 + 3 * g.n_params + 2 * EISNET_FMT_BUFSIZE + g.n_params * (EISNET_FMT_BUFSIZE + 1) + 24);
    }

    /* Each worker computes one ground truth at a time into a slot; this
     * thread writes the slots in order, so the files do not depend on the
     * number of workers. */
    int W = o->n_workers < n ? o->n_workers : n;
    pl.g = &g;
    pl.plan = plan;
    pl.gt = gt;
    pl.spectra = spectra;
    pl.cells = &cells;
    pl.n = n;
    pl.n_slots = W + 1;
    pl.slots = calloc((size_t)pl.n_slots, sizeof(slot));
    if (!pl.slots) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (int s = 0; s < pl.n_slots; s++) {
        pl.slots[s].gt = -1;
        pl.slots[s].res = malloc(sizeof(double) * g.n_models);
        if (o->csv) pl.slots[s].csv = malloc(csv_cap);
        if (!pl.slots[s].res || (o->csv && !pl.slots[s].csv)) {
            eisnet_set_error("out of memory");
            goto out;
        }
    }
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cv, NULL);
    sync_ready = 1;
    threads = calloc((size_t)W, sizeof(pthread_t));
    if (!threads) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (; n_threads < W; n_threads++)
        if (pthread_create(&threads[n_threads], NULL, worker, &pl) != 0) {
            eisnet_set_error("cannot start worker threads");
            goto out;
        }

    if (stats_acc_init(&stats) != 0) goto out;
    eisnet_progress prog;
    /* Rows of over a million models report progress in models, from inside
     * each row; smaller ones in ground truths. */
    int by_model = g.n_models >= (1u << 20);
    eisnet_progress_begin(&prog, "generate", by_model ? "models" : "gt", by_model ? (uint64_t)n * g.n_models : (uint64_t)n,
                          o->quiet);
    for (int i = 0; i < n; i++) {
        slot *s = &pl.slots[i % pl.n_slots];
        pthread_mutex_lock(&pl.mu);
        while (!(s->ready && s->gt == i)) {
            if (!by_model) {
                pthread_cond_wait(&pl.cv, &pl.mu);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 500000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&pl.cv, &pl.mu, &ts);
            pthread_mutex_unlock(&pl.mu);
            eisnet_progress_update(&prog, atomic_load(&pl.models_done));
            pthread_mutex_lock(&pl.mu);
        }
        pthread_mutex_unlock(&pl.mu);
        int bad = 0;
        for (uint64_t m = 0; m < g.n_models; m++)
            if (!isfinite(s->res[m])) bad = 1;
        if (bad) {
            eisnet_set_error("ground truth %s: resnorm is not finite (out of memory or a circuit that diverges)", gt[i].id);
            goto out;
        }
        stats_acc_add(&stats, s->res, (size_t)g.n_models);
        if (eisnet_npy_writer_append(npy, s->res, sizeof(double) * g.n_models) != 0) goto out;
        if (o->csv && eisnet_atomic_write(&csv, s->csv, s->csv_len) != 0) goto out;
        pthread_mutex_lock(&pl.mu);
        s->ready = 0;
        s->gt = -1;
        pl.written = i + 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
        eisnet_progress_update(&prog, by_model ? (uint64_t)(i + 1) * g.n_models : (uint64_t)i + 1);
    }
    eisnet_progress_end(&prog);
    int close_rc = eisnet_npy_writer_close(npy);
    npy = NULL;
    if (close_rc != 0) goto out;
    if (o->csv && eisnet_atomic_commit(&csv) != 0) goto out;

    {
        double *params = malloc(sizeof(double) * (size_t)n * g.n_params);
        double *spec = malloc(sizeof(double) * (size_t)n * F * 2);
        if (!params || !spec) {
            free(params);
            free(spec);
            eisnet_set_error("out of memory");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < g.n_params; p++) params[(size_t)i * g.n_params + p] = gt[i].values[p];
            for (size_t f = 0; f < F; f++) {
                spec[((size_t)i * F + f) * 2] = creal(spectra[(size_t)i * F + f]);
                spec[((size_t)i * F + f) * 2 + 1] = cimag(spectra[(size_t)i * F + f]);
            }
        }
        eisnet_array arr[5];
        memset(arr, 0, sizeof arr);
        const char *names[5] = {"frequencies", "omega", "grid", "gt_params", "gt_spectra"};
        void *data[5] = {g.freq, g.omega, g.values, params, spec};
        int ndims[5] = {1, 1, 2, 2, 3};
        int64_t shapes[5][3] = {{(int64_t)F}, {(int64_t)F}, {g.n_params, g.n_grid}, {n, g.n_params}, {n, (int64_t)F, 2}};
        for (int a = 0; a < 5; a++) {
            snprintf(arr[a].name, sizeof arr[a].name, "%s", names[a]);
            arr[a].dtype = EISNET_F64;
            arr[a].ndim = ndims[a];
            memcpy(arr[a].shape, shapes[a], sizeof shapes[a]);
            arr[a].data = data[a];
            size_t cnt = 1;
            for (int d = 0; d < ndims[a]; d++) cnt *= (size_t)shapes[a][d];
            arr[a].nbytes = cnt * 8;
        }
        int r = eisnet_npz_write(p_npz, arr, 5, 0);
        free(params);
        free(spec);
        if (r != 0) goto out;
    }
    if (write_metadata_json(p_meta, &g, gt, n) != 0) goto out;
    eisnet_resnorm_stats st;
    if (stats_finish(p_resnorm, &stats, (uint64_t)n, &st) != 0) goto out;
    if (write_summary(p_summary, &g, gt, n, &st) != 0) goto out;
    if (write_dataset_json(p_json, o, &g, n) != 0) goto out;
    if (publish_staged(staging, o->data_dir, p_csv) != 0) goto out;
    if (!o->quiet) fprintf(stderr, "generate: %d ground truths x %llu grid models written to %s\n", n,
                           (unsigned long long)g.n_models, o->data_dir);
    rc = 0;
out:
    if (sync_ready) {
        pthread_mutex_lock(&pl.mu);
        pl.stop = 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
    }
    for (int t = 0; t < n_threads; t++) pthread_join(threads[t], NULL);
    free(threads);
    if (sync_ready) {
        pthread_mutex_destroy(&pl.mu);
        pthread_cond_destroy(&pl.cv);
    }
    if (pl.slots)
        for (int s = 0; s < pl.n_slots; s++) {
            free(pl.slots[s].res);
            free(pl.slots[s].csv);
        }
    free(pl.slots);
    eisnet_npy_writer_abort(npy);
    if (csv.fp) eisnet_atomic_abort(&csv);
    free(stats.hist);
    free(cells.cells);
    free(cells.cell_len);
    eisnet_resnorm_plan_free(plan);
    free(spectra);
    free(gt);
    if (staging) {
        /* after a failure: the staged files (after success: the empty directory) */
        const char *staged[6] = {p_resnorm, p_npz, p_json, p_meta, p_summary, p_csv};
        for (int k = 0; k < 6; k++)
            if (staged[k]) {
                unlink(staged[k]);
                eisnet_tmp_forget_path(staged[k]);
            }
        rmdir(staging);
        eisnet_tmp_forget_path(staging);
        free(staging);
    }
    free(p_resnorm);
    free(p_npz);
    free(p_json);
    free(p_meta);
    free(p_summary);
    free(p_csv);
    eisnet_grid_free(&g);
    return rc;
}
