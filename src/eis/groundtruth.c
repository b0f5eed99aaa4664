/* Ground truths: Latin hypercube, scrambled Sobol, biological, corners. */
#include "eisnet/groundtruth.h"
#include "eisnet/error.h"
#include "eisnet/rng.h"
#include "md5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Streams of the seed used here; other modules use other numbers. */
enum { STREAM_LHS = 1, STREAM_SOBOL = 2, STREAM_BIO = 3 };

void eisnet_lhs(int n, int d, uint64_t seed, double *out)
{
    eisnet_rng r;
    eisnet_rng_seed(&r, seed, STREAM_LHS);
    uint32_t *perm = malloc(sizeof(uint32_t) * (size_t)(n > 0 ? n : 1));
    if (!perm) return;
    for (int j = 0; j < d; j++) {
        for (int i = 0; i < n; i++) perm[i] = (uint32_t)i;
        eisnet_rng_shuffle_u32(&r, perm, (uint64_t)n);
        for (int i = 0; i < n; i++) out[(size_t)i * d + j] = ((double)perm[i] + eisnet_rng_uniform(&r)) / n;
    }
    free(perm);
}

/* Primitive polynomials and initial direction numbers for dimensions 2..21
 * (the published Joe-Kuo table): degree s, coefficients a, m_1..m_s. */
static const struct {
    int s, a;
    unsigned m[8];
} sobol_init[20] = {
    {1, 0, {1}},                       {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},                 {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},              {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},          {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},         {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},         {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},       {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}}, {7, 4, {1, 3, 7, 13, 13, 15, 69}},
};

static void direction_numbers(int dim, uint32_t v[32])
{
    if (dim == 0) {
        for (int i = 0; i < 32; i++) v[i] = 1u << (31 - i);
        return;
    }
    int s = sobol_init[dim - 1].s, a = sobol_init[dim - 1].a;
    uint32_t m[33];
    for (int i = 1; i <= s; i++) m[i] = sobol_init[dim - 1].m[i - 1];
    for (int i = s + 1; i <= 32; i++) {
        uint32_t x = m[i - s] ^ (m[i - s] << s);
        for (int k = 1; k < s; k++)
            if ((a >> (s - 1 - k)) & 1) x ^= m[i - k] << k;
        m[i] = x;
    }
    for (int i = 1; i <= 32; i++) v[i - 1] = m[i] << (32 - i);
}

static int parity32(uint32_t x) { return __builtin_parity(x); }

int eisnet_sobol(int n, int d, uint64_t seed, double *out)
{
    if (d > 21) return eisnet_set_error("scrambled Sobol supports at most 21 dimensions (got %d)", d);
    eisnet_rng r;
    eisnet_rng_seed(&r, seed, STREAM_SOBOL);
    for (int j = 0; j < d; j++) {
        uint32_t v[32], sv[32];
        direction_numbers(j, v);
        /* Random linear matrix scramble: output digit k (bit 31-k) is digit k
         * plus a random combination of the more significant digits. */
        uint32_t rows[32];
        for (int k = 0; k < 32; k++) {
            uint32_t above = k == 0 ? 0 : (uint32_t)(eisnet_rng_next(&r) >> 32) & ~((1u << (32 - k)) - 1u);
            rows[k] = above | (1u << (31 - k));
        }
        uint32_t shift = (uint32_t)(eisnet_rng_next(&r) >> 32);
        for (int i = 0; i < 32; i++) {
            uint32_t x = 0;
            for (int k = 0; k < 32; k++) x |= (uint32_t)parity32(rows[k] & v[i]) << (31 - k);
            sv[i] = x;
        }
        for (int i = 0; i < n; i++) {
            uint32_t x = shift;
            for (int b = 0; b < 32; b++)
                if (((uint32_t)i >> b) & 1u) x ^= sv[b];
            out[(size_t)i * d + j] = (double)x * 0x1.0p-32;
        }
    }
    return 0;
}

void eisnet_reference_id(const double *values, int n, char *buf)
{
    char text[EISNET_MAX_PARAMS * 24];
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, i ? "_%.6e" : "%.6e", values[i]);
    uint8_t h[16];
    eisnet_md5(text, len, h);
    snprintf(buf, 19, "reference_%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
}

static double from_unit(const eisnet_grid *g, int i, double u)
{
    double a = log10(g->lo[i]), b = log10(g->hi[i]);
    return pow(10.0, a + u * (b - a));
}

int eisnet_ground_truths_make(const eisnet_grid *g, int n, uint64_t seed, eisnet_ground_truth *gt)
{
    memset(gt, 0, sizeof *gt * (size_t)n);
    int P = g->n_params;
    int n_lhs = (int)(0.40 * n), n_sobol = (int)(0.30 * n), n_bio = (int)(0.15 * n);
    int k = 0;
    /* Everything past the fixed scheme continues the Sobol sequence. */
    int n_corner = P < 20 ? (1 << P) : (1 << 20);
    int n_fixed = n_lhs + n_sobol + n_bio + 2 * n_corner;
    int n_sobol_all = n_sobol + (n > n_fixed ? n - n_fixed : 0);
    double *u = malloc(sizeof(double) * (size_t)P * (size_t)((n_lhs > n_sobol_all ? n_lhs : n_sobol_all) + 1));
    if (!u) return eisnet_set_error("out of memory");

    eisnet_lhs(n_lhs, P, seed, u);
    for (int i = 0; i < n_lhs && k < n; i++, k++) {
        snprintf(gt[k].id, sizeof gt[k].id, "lhs_%04d", i);
        for (int j = 0; j < P; j++) gt[k].values[j] = from_unit(g, j, u[(size_t)i * P + j]);
    }
    int sobol_lhs_fallback = P > 21;
    if (sobol_lhs_fallback) eisnet_lhs(n_sobol_all, P, seed ^ 0x5eed5eedULL, u);
    else eisnet_sobol(n_sobol_all, P, seed, u);
    for (int i = 0; i < n_sobol && k < n; i++, k++) {
        snprintf(gt[k].id, sizeof gt[k].id, "sobol_%04d", i);
        for (int j = 0; j < P; j++) gt[k].values[j] = from_unit(g, j, u[(size_t)i * P + j]);
    }
    eisnet_rng r;
    eisnet_rng_seed(&r, seed, STREAM_BIO);
    static const double bio_median[5] = {500, 3000, 2000, 3e-6, 3e-6};
    static const double bio_sigma[5] = {0.5, 0.6, 0.6, 0.4, 0.4};
    for (int i = 0; i < n_bio && k < n; i++, k++) {
        snprintf(gt[k].id, sizeof gt[k].id, "bio_%04d", i);
        for (int j = 0; j < P; j++) {
            double lo = g->values[(size_t)j * g->n_grid], hi = g->values[(size_t)j * g->n_grid + g->n_grid - 1];
            double med = g->preset[0] ? bio_median[j] : sqrt(lo * hi);
            double sig = g->preset[0] ? bio_sigma[j] : 0.5;
            double v = med * exp(sig * eisnet_rng_normal(&r));
            gt[k].values[j] = v < lo ? lo : v > hi ? hi : v;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int c = 0; c < n_corner && k < n; c++, k++) {
            snprintf(gt[k].id, sizeof gt[k].id, pass ? "edge_%03d" : "grid_%04d", c);
            for (int j = 0; j < P; j++) {
                int hi = (c >> (P - 1 - j)) & 1;
                gt[k].values[j] = g->values[(size_t)j * g->n_grid + (hi ? g->n_grid - 1 : 0)];
            }
        }
    }
    for (int i = n_sobol; k < n; i++, k++) {
        snprintf(gt[k].id, sizeof gt[k].id, "sobol_%04d", i);
        for (int j = 0; j < P; j++) gt[k].values[j] = from_unit(g, j, u[(size_t)i * P + j]);
    }
    free(u);
    return 0;
}
