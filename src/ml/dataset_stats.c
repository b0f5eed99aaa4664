/* Exact resnorm percentiles of resnorm.npy in bounded memory (a radix
 * histogram over the bits of the values, then the values near each wanted
 * rank). */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/fmt.h"
#include "eisnet/npy.h"
#include "eisnet/resnorm.h"
#include "dataset_internal.h"
#include "grid_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int eisnet_stats_acc_init(eisnet_stats_acc *a)
{
    a->hist = calloc((size_t)1 << HBITS, sizeof(uint64_t));
    a->vmin = INFINITY;
    a->vmax = -INFINITY;
    a->count = 0;
    return a->hist ? 0 : eisnet_set_error("out of memory");
}

void eisnet_stats_acc_add(eisnet_stats_acc *a, const double *v, size_t n)
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

int eisnet_stats_finish(const char *path, eisnet_stats_acc *acc, uint64_t zeros, eisnet_resnorm_stats *st)
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
    eisnet_stats_acc acc;
    if (eisnet_stats_acc_init(&acc) != 0) return -1;
    size_t off;
    uint64_t count;
    FILE *fp = open_f64_npy(npy_path, &off, &count);
    int rc = fp ? 0 : -1;
    double *chunk = rc == 0 ? malloc(sizeof(double) * 65536) : NULL;
    if (rc == 0 && !chunk) rc = eisnet_set_error("out of memory");
    if (rc == 0 && fseek(fp, (long)off, SEEK_SET) != 0) rc = eisnet_set_error("%s: seek failed", npy_path);
    while (rc == 0) {
        size_t n = fread(chunk, 8, 65536, fp);
        eisnet_stats_acc_add(&acc, chunk, n);
        if (n < 65536) break;
    }
    if (fp && ferror(fp)) rc = eisnet_set_error("%s: read error", npy_path);
    free(chunk);
    if (fp) fclose(fp);
    if (rc == 0) rc = eisnet_stats_finish(npy_path, &acc, zeros, st);
    free(acc.hist);
    return rc;
}
