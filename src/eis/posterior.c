/* The exact cell posterior: adaptive midpoint integration of the likelihood
 * over every combination of the missing parameters' cells. */
#include "eisnet/posterior.h"
#include "eisnet/error.h"
#include "eisnet/simulate.h"
#include "posterior_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

/* A tuple whose mass is below e^-CUT of the largest is not refined further:
 * even 3e6 such tuples move a marginal by less than 1e-4. */
#define CUT 25.0
/* The neighbours of a tuple holding at least e^-CORE of the largest mass are
 * refined too: a peak sharper than the sub-point spacing can sit in a tuple
 * whose coarse estimate missed it, next to one whose estimate caught it. */
#define CORE 9.2
#define MAX_SUB_LIMIT 4096
#define RES 10.0
/* A split box whose error estimate exceeds this share of the total mass is
 * split again. */
#define EPS 1e-6

void eisnet_posterior_options_default(eisnet_posterior_options *o)
{
    o->sigma = EISNET_POSTERIOR_SIGMA;
    o->tol = EISNET_POSTERIOR_TOL;
    o->min_sub = EISNET_POSTERIOR_MIN_SUB;
    o->max_sub = EISNET_POSTERIOR_MAX_SUB;
    o->max_evals = EISNET_POSTERIOR_MAX_EVALS;
    o->threads = 0;
    o->is_max_evals = EISNET_POSTERIOR_IS_MAX_EVALS;
    o->seed = EISNET_POSTERIOR_IS_SEED;
    o->sampling = 0;
    o->starts = NULL;
    o->n_starts = 0;
}

void eisnet_posterior_free(eisnet_posterior *r)
{
    if (!r) return;
    free(r->marginal);
    free(r->joint);
    memset(r, 0, sizeof *r);
}

/* ---- one spectrum's likelihood ----------------------------------------------- */



int post_work_init(post_work *w, int F)
{
    memset(w, 0, sizeof *w);
    w->ar = malloc(sizeof(double) * (size_t)F * 6);
    w->z = malloc(sizeof(double complex) * (size_t)F);
    if (!w->ar || !w->z) return -1;
    w->ai = w->ar + F;
    w->br = w->ai + F;
    w->bi = w->br + F;
    w->m2 = w->bi + F;
    w->t = w->m2 + F;
    w->key_a[0] = w->key_b[0] = NAN; /* never equal: the first point fills the caches */
    w->best_chi = INFINITY;
    return 0;
}

void post_work_free(post_work *w)
{
    free(w->ar);
    free(w->z);
}

static void rc_branch(const double *omega, int F, double R, double C, double *re, double *im)
{
    for (int f = 0; f < F; f++) {
        double t = omega[f] * R * C, d = R / (1.0 + t * t);
        re[f] = d;
        im[f] = -d * t;
    }
}

/* Sum of log|Z|^2 from the squared moduli, as logs of products of eight:
 * a product leaving the safe range is redone term by term. */
static double sum_log(const double *m2, int F)
{
    double s = 0;
    for (int f0 = 0; f0 < F; f0 += 8) {
        int f1 = f0 + 8 < F ? f0 + 8 : F;
        double prod = 1;
        for (int f = f0; f < f1; f++) prod *= m2[f];
        if (prod > 1e-290 && prod < 1e290) s += log(prod);
        else
            for (int f = f0; f < f1; f++) s += log(m2[f]);
    }
    return s;
}

/* Log-likelihood without the constant -F log(2 pi sigma^2); *chi gets
 * sum_f |Z_meas - Z|^2 / |Z|^2. */
double post_point_ll(const post_ctx *c, post_work *w, const double *theta, double *chi)
{
    int F = c->F;
    const double *zr, *zi;
    double *re = w->br, *im = w->bi; /* generic path reuses the b cache */
    if (c->fast) {
        const double *om = c->g->omega;
        double R0 = theta[c->fi[0]], R1 = theta[c->fi[1]], C1 = theta[c->fi[2]];
        double R2 = theta[c->fi[3]], C2 = theta[c->fi[4]];
        if (R0 != w->key_a[0] || R1 != w->key_a[1] || C1 != w->key_a[2]) {
            rc_branch(om, F, R1, C1, w->ar, w->ai);
            if (c->fast == 1)
                for (int f = 0; f < F; f++) w->ar[f] += R0;
            w->key_a[0] = R0;
            w->key_a[1] = R1;
            w->key_a[2] = C1;
        }
        if (R2 != w->key_b[0] || C2 != w->key_b[1]) {
            rc_branch(om, F, R2, C2, w->br, w->bi);
            w->key_b[0] = R2;
            w->key_b[1] = C2;
        }
        /* two loops: the first (no reduction) vectorises */
        double *t = w->t, s = 0;
        if (c->fast == 1) {
            for (int f = 0; f < F; f++) {
                double a = w->ar[f] + w->br[f], b = w->ai[f] + w->bi[f];
                double dr = c->zr[f] - a, di = c->zi[f] - b, m2 = a * a + b * b;
                w->m2[f] = m2;
                t[f] = (dr * dr + di * di) / m2;
            }
        } else {
            /* Z = R0 S / (R0 + S), S = the two RC branches in series */
            for (int f = 0; f < F; f++) {
                double sr = w->ar[f] + w->br[f], si = w->ai[f] + w->bi[f], dr0 = R0 + sr;
                double k = R0 / (dr0 * dr0 + si * si);
                double a = k * (sr * dr0 + si * si), b = k * R0 * si;
                double dr = c->zr[f] - a, di = c->zi[f] - b, m2 = a * a + b * b;
                w->m2[f] = m2;
                t[f] = (dr * dr + di * di) / m2;
            }
        }
        for (int f = 0; f < F; f++) s += t[f];
        *chi = s;
        return -s * c->inv2s2 - sum_log(w->m2, F);
    }
    for (int p = 0; p < c->g->n_params; p++) w->cp[c->g->circuit_index[p]] = theta[p];
    eisnet_circuit_eval(c->g->circuit, w->cp, c->g->omega, (size_t)F, w->z);
    zr = c->zr;
    zi = c->zi;
    double s = 0;
    for (int f = 0; f < F; f++) {
        re[f] = creal(w->z[f]);
        im[f] = cimag(w->z[f]);
        double dr = zr[f] - re[f], di = zi[f] - im[f], m2 = re[f] * re[f] + im[f] * im[f];
        w->m2[f] = m2;
        s += (dr * dr + di * di) / m2;
    }
    *chi = s;
    double ll = -s * c->inv2s2 - sum_log(w->m2, F);
    return isnan(ll) ? -INFINITY : ll;
}

/* ---- boxes ------------------------------------------------------------------------ */

void post_decode(const post_ctx *c, uint64_t t, int *cell)
{
    for (int d = c->m - 1; d >= 0; d--) {
        cell[d] = (int)(t % (uint64_t)c->G);
        t /= (uint64_t)c->G;
    }
}

uint64_t post_encode(const post_ctx *c, const int *cell)
{
    uint64_t t = 0;
    for (int d = 0; d < c->m; d++) t = t * (uint64_t)c->G + (uint64_t)cell[d];
    return t;
}


/* theta's missing parameters at the grid values of cell tuple t (the
 * known ones are left as they are); cell (m) gets the tuple's cells. */
static void tuple_point(const post_ctx *c, uint64_t t, int *cell, double *theta)
{
    post_decode(c, t, cell);
    for (int d = 0; d < c->m; d++) theta[c->miss[d]] = c->g->values[(size_t)c->miss[d] * c->G + cell[d]];
}

static int boxes_reserve(boxes *b, int64_t need)
{
    if (need <= b->cap) return 0;
    int64_t cap = b->cap ? b->cap : 1024;
    while (cap < need) cap *= 2;
    uint64_t *t = realloc(b->t, sizeof(uint64_t) * (size_t)cap);
    if (t) b->t = t;
    uint8_t *l = realloc(b->lvl, (size_t)cap);
    if (l) b->lvl = l;
    uint16_t *k = realloc(b->k, sizeof(uint16_t) * (size_t)cap * (size_t)b->m);
    if (k) b->k = k;
    double *L = realloc(b->L, sizeof(double) * (size_t)cap);
    if (L) b->L = L;
    double *E = realloc(b->E, sizeof(double) * (size_t)cap);
    if (E) b->E = E;
    double *PL = realloc(b->PL, sizeof(double) * (size_t)cap);
    if (PL) b->PL = PL;
    if (!t || !l || !k || !L || !E || !PL) return -1;
    b->cap = cap;
    return 0;
}

static void boxes_free(boxes *b)
{
    free(b->t);
    free(b->lvl);
    free(b->k);
    free(b->L);
    free(b->E);
    free(b->PL);
}

/* Log-mass of box i by the midpoint rule with q sub-points per dimension;
 * *best_chi lowered to the smallest chi seen. */
static double box_logmass(const post_ctx *c, post_work *w, const boxes *b, int64_t i, int q)
{
    int m = c->m, cell[EISNET_MAX_PARAMS], k[EISNET_MAX_PARAMS];
    double pts[EISNET_MAX_PARAMS][4], theta[EISNET_MAX_PARAMS];
    double logw = c->log_norm, scale = ldexp(1.0, -b->lvl[i]);
    post_decode(c, b->t[i], cell);
    memcpy(theta, c->base, sizeof(double) * (size_t)c->g->n_params);
    for (int d = 0; d < m; d++) {
        double lo = c->lo[d * c->G + cell[d]], wd = (c->hi[d * c->G + cell[d]] - lo) * scale;
        double a = lo + wd * b->k[i * m + d], h = wd / q;
        for (int j = 0; j < q; j++) pts[d][j] = pow(10.0, a + (j + 0.5) * h);
        logw += log(h);
        k[d] = 0;
        theta[c->miss[d]] = pts[d][0];
    }
    double mx = -INFINITY, sum = 0;
    for (;;) {
        double chi, ll = post_point_ll(c, w, theta, &chi);
        if (chi < w->best_chi) {
            w->best_chi = chi;
            memcpy(w->best_theta, theta, sizeof(double) * (size_t)c->g->n_params);
        }
        if (ll > mx) {
            sum = (mx == -INFINITY ? 0 : sum * exp(mx - ll)) + 1.0;
            mx = ll;
        } else if (ll > -INFINITY) {
            sum += exp(ll - mx);
        }
        int d = m - 1;
        while (d >= 0 && ++k[d] == q) {
            k[d] = 0;
            theta[c->miss[d]] = pts[d][0];
            d--;
        }
        if (d < 0) break;
        theta[c->miss[d]] = pts[d][k[d]];
    }
    return mx == -INFINITY ? -INFINITY : mx + log(sum) + logw;
}

#ifdef EISNET_HAVE_OPENMP
static int n_threads(const eisnet_posterior_options *o)
{
    return o->threads > 0 ? o->threads : omp_get_max_threads();
}
#endif

/* L of boxes [from, b->n); *best_chi and best_theta follow the smallest chi
 * seen. Returns -1 when out of memory. */
static int compute_boxes(const post_ctx *c, const eisnet_posterior_options *o, boxes *b, int64_t from, int q,
                         double *best_chi, double *best_theta)
{
    int failed = 0;
    int64_t n = b->n;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(n_threads(o)) reduction(| : failed)
#else
    (void)o;
#endif
    {
        post_work w;
        if (post_work_init(&w, c->F) != 0) failed = 1;
#ifdef EISNET_HAVE_OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
        for (int64_t i = from; i < n; i++)
            if (!failed) b->L[i] = box_logmass(c, &w, b, i, q);
#ifdef EISNET_HAVE_OPENMP
#pragma omp critical
#endif
        if (w.best_chi < *best_chi) {
            *best_chi = w.best_chi;
            memcpy(best_theta, w.best_theta, sizeof(double) * (size_t)c->g->n_params);
        }
        post_work_free(&w);
    }
    return failed ? -1 : 0;
}

/* Lowers the smallest misfit found by a compass search in log10 of the
 * missing parameters, inside their ranges, from the best sub-point: its
 * value should not depend on how fine the sub-points were. */
static void polish(const post_ctx *c, double step, double *best_chi, double *theta)
{
    post_work w;
    if (post_work_init(&w, c->F) != 0) {
        post_work_free(&w);
        return;
    }
    double bc = *best_chi;
    for (int it = 0; it < 400 && step > 1e-9; it++) {
        int moved = 0;
        for (int d = 0; d < c->m; d++) {
            int p = c->miss[d];
            for (int s = -1; s <= 1; s += 2) {
                double old = theta[p], lv = log10(old) + s * step, chi;
                if (lv < log10(c->g->lo[p]) || lv > log10(c->g->hi[p])) continue;
                theta[p] = pow(10.0, lv);
                post_point_ll(c, &w, theta, &chi);
                if (chi < bc) {
                    bc = chi;
                    moved = 1;
                    break;
                }
                theta[p] = old;
            }
        }
        if (!moved) step *= 0.5;
    }
    *best_chi = bc;
    post_work_free(&w);
}

/* Error estimates of the new boxes [from, n): per group of 2^m children,
 * |parent mass - children's mass|, shared equally. */
static void error_estimates(boxes *b, int64_t from)
{
    int64_t per = (int64_t)1 << b->m;
    for (int64_t g0 = from; g0 + per <= b->n; g0 += per) {
        double mx = -INFINITY, s = 0;
        for (int64_t i = g0; i < g0 + per; i++) mx = fmax(mx, b->L[i]);
        if (mx > -INFINITY)
            for (int64_t i = g0; i < g0 + per; i++) s += exp(b->L[i] - mx);
        double lc = mx > -INFINITY ? mx + log(s) : -INFINITY, lp = b->PL[g0], e;
        double hi = fmax(lc, lp), lo = fmin(lc, lp);
        if (hi == -INFINITY) e = -INFINITY;
        else if (lo == -INFINITY) e = hi;
        else e = hi + log1p(-exp(lo - hi)); /* log |e^lp - e^lc| */
        for (int64_t i = g0; i < g0 + per; i++) b->E[i] = e - log((double)per);
    }
}

/* Normalised marginals (m x G) and joint of the first two (G x G, or NULL)
 * from the box masses; returns log of the total mass. */
static double marginals(const post_ctx *c, const boxes *b, double *marg, double *joint)
{
    int m = c->m, G = c->G, cell[EISNET_MAX_PARAMS];
    double mx = -INFINITY, tot = 0;
    for (int64_t i = 0; i < b->n; i++)
        if (b->L[i] > mx) mx = b->L[i];
    memset(marg, 0, sizeof(double) * (size_t)m * G);
    if (joint) memset(joint, 0, sizeof(double) * (size_t)G * G);
    if (mx == -INFINITY) return -INFINITY;
    for (int64_t i = 0; i < b->n; i++) {
        if (b->L[i] < mx - 700) continue;
        double p = exp(b->L[i] - mx);
        post_decode(c, b->t[i], cell);
        for (int d = 0; d < m; d++) marg[d * G + cell[d]] += p;
        if (joint) joint[cell[0] * G + cell[1]] += p;
        tot += p;
    }
    for (int i = 0; i < m * G; i++) marg[i] /= tot;
    if (joint)
        for (int i = 0; i < G * G; i++) joint[i] /= tot;
    return mx + log(tot);
}


static uint64_t box_hash(uint64_t t, int lvl, const uint16_t *k, int m)
{
    uint64_t h = t * 0x9E3779B97F4A7C15ull ^ (uint64_t)lvl * 0xC2B2AE3D27D4EB4Full;
    for (int d = 0; d < m; d++) h = (h ^ k[d]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

int post_index_build(box_index *x, const boxes *b)
{
    uint64_t size = 1024;
    while (size < (uint64_t)b->n * 2) size *= 2;
    free(x->slot);
    x->slot = calloc(size, sizeof(int64_t));
    if (!x->slot) return -1;
    x->mask = size - 1;
    for (int64_t i = 0; i < b->n; i++) {
        uint64_t h = box_hash(b->t[i], b->lvl[i], b->k + i * b->m, b->m) & x->mask;
        while (x->slot[h]) h = (h + 1) & x->mask;
        x->slot[h] = i + 1;
    }
    return 0;
}

int64_t post_index_find(const box_index *x, const boxes *b, uint64_t t, int lvl, const uint16_t *k)
{
    uint64_t h = box_hash(t, lvl, k, b->m) & x->mask;
    for (; x->slot[h]; h = (h + 1) & x->mask) {
        int64_t i = x->slot[h] - 1;
        if (b->t[i] == t && b->lvl[i] == lvl && memcmp(b->k + i * b->m, k, sizeof(uint16_t) * (size_t)b->m) == 0)
            return i;
    }
    return -1;
}

/* The box that contains the same-level neighbour of box i at offset off
 * (each -1, 0 or 1), or -1 (outside the ranges, or already split finer). */
static int64_t neighbour(const post_ctx *c, const boxes *b, const box_index *x, int64_t i, const int *off)
{
    int m = c->m, lvl = b->lvl[i], cell[EISNET_MAX_PARAMS];
    long side = 1L << lvl, k[EISNET_MAX_PARAMS];
    uint16_t kk[EISNET_MAX_PARAMS];
    post_decode(c, b->t[i], cell);
    for (int d = 0; d < m; d++) {
        k[d] = b->k[i * m + d] + off[d];
        if (k[d] < 0) cell[d]--, k[d] = side - 1;
        else if (k[d] >= side) cell[d]++, k[d] = 0;
        if (cell[d] < 0 || cell[d] >= c->G) return -1;
    }
    uint64_t t = post_encode(c, cell);
    for (int l = lvl; l >= 0; l--) {
        for (int d = 0; d < m; d++) kk[d] = (uint16_t)(k[d] >> (lvl - l));
        int64_t j = post_index_find(x, b, t, l, kk);
        if (j >= 0) return j;
    }
    return -1;
}

/* Whether the peak is resolved: the box of largest mass outweighs none of
 * its face neighbours (same level) by more than RES nats, so the boxes there
 * are no wider than a few standard deviations of the posterior. Without
 * this, two rounds whose sub-points both miss a sharp peak would agree on a
 * wrong split between two cells and pass for converged. */
static int resolved(const post_ctx *c, const boxes *b, box_index *x)
{
    int m = c->m, off[EISNET_MAX_PARAMS];
    int64_t best = 0;
    for (int64_t i = 1; i < b->n; i++)
        if (b->L[i] > b->L[best]) best = i;
    if (post_index_build(x, b) != 0) return 0;
    for (int d = 0; d < m; d++) {
        for (int s = -1; s <= 1; s += 2) {
            memset(off, 0, sizeof(int) * (size_t)m);
            off[d] = s;
            int64_t j = neighbour(c, b, x, best, off);
            if (j < 0) continue; /* outside the ranges, or split finer */
            if (b->lvl[j] < b->lvl[best] || b->L[best] - b->L[j] > RES) return 0;
        }
    }
    return 1;
}

/* Marks the boxes to split: boxes never split yet whose mass is within
 * e^-CUT of the largest; split boxes whose error estimate exceeds EPS of the
 * total mass; and, while the peak is not resolved, the neighbours of the
 * boxes within e^-CORE of the largest. Returns how many, or -1. */
static int64_t mark_boxes(const post_ctx *c, const boxes *b, box_index *x, int max_lvl, int peak_resolved,
                          uint8_t *flag)
{
    int m = c->m, off[EISNET_MAX_PARAMS];
    double mx = -INFINITY, s = 0;
    for (int64_t i = 0; i < b->n; i++)
        if (b->L[i] > mx) mx = b->L[i];
    for (int64_t i = 0; i < b->n; i++)
        if (b->L[i] > mx - 700) s += exp(b->L[i] - mx);
    double limit = mx + log(s) + log(EPS);
    if (b->n <= 0) return 0;
    memset(flag, 0, (size_t)b->n);
    if (!peak_resolved && post_index_build(x, b) != 0) return -1;
    for (int64_t i = 0; i < b->n; i++) {
        if (b->lvl[i] == 0 ? b->L[i] >= mx - CUT : b->E[i] >= limit) flag[i] = 1;
        if (peak_resolved || !(b->L[i] >= mx - CORE)) continue;
        flag[i] = 1;
        for (int d = 0; d < m; d++) off[d] = -1;
        for (;;) {
            int64_t j = neighbour(c, b, x, i, off);
            if (j >= 0) flag[j] = 1;
            int d = m - 1;
            while (d >= 0 && ++off[d] == 2) off[d--] = -1;
            if (d < 0) break;
        }
    }
    int64_t n = 0;
    for (int64_t i = 0; i < b->n; i++) {
        if (b->lvl[i] >= max_lvl) flag[i] = 0;
        n += flag[i];
    }
    return n;
}

/* Replaces every flagged box by its 2^m children (one level finer), which
 * are placed last; returns the index of the first child, or -1. */
static int64_t split_boxes(boxes *b, const uint8_t *flag, int64_t n_flag)
{
    int m = b->m;
    int64_t n0 = b->n, per = (int64_t)1 << m;
    if (boxes_reserve(b, n0 + n_flag * per) != 0) return -1;
    int64_t at = n0;
    for (int64_t i = 0; i < n0; i++) {
        if (!flag[i]) continue;
        for (int64_t ch = 0; ch < per; ch++, at++) {
            b->PL[at] = b->L[i];
            b->t[at] = b->t[i];
            b->lvl[at] = (uint8_t)(b->lvl[i] + 1);
            for (int d = 0; d < m; d++)
                b->k[at * m + d] = (uint16_t)(b->k[i * m + d] * 2 + ((ch >> (m - 1 - d)) & 1));
        }
    }
    int64_t w = 0;
    for (int64_t i = 0; i < at; i++) {
        if (i < n0 && flag[i]) continue;
        if (w != i) {
            b->t[w] = b->t[i];
            b->lvl[w] = b->lvl[i];
            b->L[w] = b->L[i];
            b->E[w] = b->E[i];
            b->PL[w] = b->PL[i];
            memcpy(b->k + w * m, b->k + i * m, sizeof(uint16_t) * (size_t)m);
        }
        w++;
    }
    b->n = w;
    return w - n_flag * per;
}

/* The grid completion of least chi (grid brute force); profile (m x G, or
 * NULL) gets, per missing parameter and cell, the least chi of the
 * completions with that cell. */
static int grid_argmin(const post_ctx *c, const eisnet_posterior_options *o, uint64_t n, int *best_cell,
                       double *best_chi, double *profile)
{
    double bc = INFINITY;
    uint64_t bt = 0;
    int failed = 0, mG = c->m * c->G;
    if (profile)
        for (int i = 0; i < mG; i++) profile[i] = INFINITY;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(n_threads(o)) reduction(| : failed)
#else
    (void)o;
#endif
    {
        post_work w;
        double my = INFINITY, theta[EISNET_MAX_PARAMS];
        double *prof = profile ? malloc(sizeof(double) * (size_t)mG) : NULL;
        uint64_t mt = 0;
        int cell[EISNET_MAX_PARAMS];
        if (post_work_init(&w, c->F) != 0 || (profile && !prof)) failed = 1;
        if (prof)
            for (int i = 0; i < mG; i++) prof[i] = INFINITY;
        memcpy(theta, c->base, sizeof theta);
#ifdef EISNET_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
        for (uint64_t t = 0; t < n; t++) {
            if (failed) continue;
            tuple_point(c, t, cell, theta);
            double chi;
            post_point_ll(c, &w, theta, &chi);
            if (chi < my || (chi == my && t < mt)) {
                my = chi;
                mt = t;
            }
            if (prof)
                for (int d = 0; d < c->m; d++)
                    if (chi < prof[d * c->G + cell[d]]) prof[d * c->G + cell[d]] = chi;
        }
#ifdef EISNET_HAVE_OPENMP
#pragma omp critical
#endif
        {
            if (my < bc || (my == bc && mt < bt)) {
                bc = my;
                bt = mt;
            }
            if (prof && !failed)
                for (int i = 0; i < mG; i++)
                    if (prof[i] < profile[i]) profile[i] = prof[i];
        }
        free(prof);
        post_work_free(&w);
    }
    post_decode(c, bt, best_cell);
    *best_chi = bc;
    return failed ? -1 : 0;
}

/* ---- driver ----------------------------------------------------------------------- */

static int check_input(const eisnet_grid *g, const double complex *z, const double *values, const uint8_t *known,
                       const eisnet_posterior_options *o, int *m)
{
    if (!g || !z || !values || !known) return eisnet_set_error("posterior: missing argument");
    if (!(o->sigma > 0) || !isfinite(o->sigma)) return eisnet_set_error("--sigma must be positive (got %g)", o->sigma);
    if (!(o->tol > 0) || !isfinite(o->tol)) return eisnet_set_error("posterior tolerance must be positive (got %g)", o->tol);
    if (o->max_sub < 1 || o->max_sub > MAX_SUB_LIMIT || (o->max_sub & (o->max_sub - 1)))
        return eisnet_set_error("posterior sub-points must be a power of 2 from 1 to %d (got %d)", MAX_SUB_LIMIT,
                                o->max_sub);
    if (!(o->max_evals > 0)) return eisnet_set_error("posterior evaluation budget must be positive (got %g)", o->max_evals);
    if (!(o->is_max_evals > 0))
        return eisnet_set_error("posterior sampling budget must be positive (got %g)", o->is_max_evals);
    if (o->min_sub < 1) return eisnet_set_error("posterior minimum sub-points must be at least 1 (got %d)", o->min_sub);
    for (int f = 0; f < g->n_freq; f++)
        if (!isfinite(creal(z[f])) || !isfinite(cimag(z[f])))
            return eisnet_set_error("the spectrum contains NaN or infinity (frequency %d)", f);
    *m = 0;
    for (int p = 0; p < g->n_params; p++) {
        if (!known[p]) {
            (*m)++;
            continue;
        }
        if (!(values[p] > 0) || !isfinite(values[p]))
            return eisnet_set_error("known value of %s must be positive and finite (got %g)", g->names[p], values[p]);
    }
    if (*m == 0) return eisnet_set_error("posterior: every parameter is known; nothing to infer");
    double tuples = pow((double)g->n_grid, *m);
    if (tuples > EISNET_POSTERIOR_MAX_TUPLES)
        return eisnet_set_error("exact posterior: %d missing parameters make %.0f cell combinations (limit %d); "
                                "give more known values",
                                *m, tuples, EISNET_POSTERIOR_MAX_TUPLES);
    return 0;
}

static int setup_ctx(post_ctx *c, const eisnet_grid *g, const double complex *z, const double *values,
                     const uint8_t *known, double sigma)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    c->F = g->n_freq;
    c->G = g->n_grid;
    c->inv2s2 = 1.0 / (2.0 * sigma * sigma);
    c->zr = malloc(sizeof(double) * (size_t)c->F * 2);
    for (int p = 0; p < g->n_params; p++) {
        c->base[p] = known[p] ? values[p] : g->values[(size_t)p * g->n_grid];
        if (!known[p]) c->miss[c->m++] = p;
    }
    c->lo = malloc(sizeof(double) * (size_t)c->m * c->G * 2);
    if (!c->zr || !c->lo) return eisnet_set_error("out of memory");
    c->zi = c->zr + c->F;
    c->hi = c->lo + c->m * c->G;
    for (int f = 0; f < c->F; f++) {
        c->zr[f] = creal(z[f]);
        c->zi[f] = cimag(z[f]);
    }
    for (int d = 0; d < c->m; d++) {
        int p = c->miss[d];
        c->log_norm -= log(log10(g->hi[p]) - log10(g->lo[p]));
        for (int k = 0; k < c->G; k++) {
            double a, b;
            eisnet_grid_cell_bounds(g, p, k, &a, &b);
            c->lo[d * c->G + k] = log10(a);
            c->hi[d * c->G + k] = log10(b);
        }
    }
    if (g->kernel == EISNET_KERNEL_SERIES_RC2 || g->kernel == EISNET_KERNEL_PARALLEL_RC2) {
        c->fast = g->kernel == EISNET_KERNEL_SERIES_RC2 ? 1 : 2;
        /* circuit order of both shapes is R0, R1, C1, R2, C2 */
        for (int p = 0; p < g->n_params; p++) c->fi[g->circuit_index[p]] = p;
    }
    return 0;
}

static void free_ctx(post_ctx *c)
{
    free(c->zr);
    free(c->lo);
}

static int multi_start_fit(const post_ctx *c, uint64_t n, const double *starts, int n_starts, double *theta,
                           double *chi_out);

/* The check for a peak the boxes missed (see the header): a multi-start
 * search for the best fit; when it beats the boxes' best point (best_chi,
 * best_theta) by more than EISNET_POSTERIOR_MISSED_NATS, the answer is
 * marked, not converged, and the best point moves there. -1 when out of
 * memory. */
static int check_missed_peak(const post_ctx *c, const eisnet_posterior_options *o, uint64_t n, eisnet_posterior *r,
                             double *best_chi, double *best_theta)
{
    double fit_theta[EISNET_MAX_PARAMS], fit_chi;
    if (multi_start_fit(c, n, o->starts, o->n_starts, fit_theta, &fit_chi) != 0) return -1;
    r->n_evals += (double)n;
    if ((*best_chi - fit_chi) * c->inv2s2 > EISNET_POSTERIOR_MISSED_NATS) {
        r->peak_missed = 1;
        r->converged = 0;
        *best_chi = fit_chi;
        memcpy(best_theta, fit_theta, sizeof fit_theta);
    }
    return 0;
}

/* Sub-points per box and dimension: fewer where a box holds many points. */
static int box_q(int m) { return m <= 2 ? 4 : m <= 4 ? 2 : 1; }

int eisnet_posterior_compute(const eisnet_grid *g, const double complex *z, const double *values,
                             const uint8_t *known, const eisnet_posterior_options *opt, eisnet_posterior *r)
{
    eisnet_posterior_options o;
    if (opt) o = *opt;
    else eisnet_posterior_options_default(&o);
    if (r) memset(r, 0, sizeof *r);
    int m = 0;
    if (!r) return eisnet_set_error("posterior: missing argument");
    if (check_input(g, z, values, known, &o, &m) != 0) return -1;
    post_ctx c;
    boxes b = {.m = m};
    box_index x = {0};
    int G = g->n_grid, rc = -1, q = box_q(m);
    uint64_t n = 1;
    for (int d = 0; d < m; d++) n *= (uint64_t)G;
    double *marg = malloc(sizeof(double) * (size_t)m * G), *prev = malloc(sizeof(double) * (size_t)m * G);
    uint8_t *flag = NULL;
    r->marginal = calloc((size_t)g->n_params * G, sizeof(double));
    r->joint = m >= 2 ? malloc(sizeof(double) * (size_t)G * G) : NULL;
    if (setup_ctx(&c, g, z, values, known, o.sigma) != 0) goto out;
    if (!marg || !prev || !r->marginal || (m >= 2 && !r->joint) || boxes_reserve(&b, (int64_t)n) != 0) goto oom;
    r->n_params = g->n_params;
    r->n_grid = G;
    r->n_missing = m;
    memcpy(r->missing, c.miss, sizeof(int) * (size_t)m);
    /* level 0: one box per cell tuple */
    for (uint64_t t = 0; t < n; t++) {
        b.t[t] = t;
        b.lvl[t] = 0;
        b.E[t] = -INFINITY;
        memset(b.k + t * m, 0, sizeof(uint16_t) * (size_t)m);
    }
    b.n = (int64_t)n;
    int max_lvl = 0;
    while ((q << (max_lvl + 1)) <= o.max_sub && max_lvl < 15) max_lvl++;
    r->sub_cap = q << max_lvl;
    double best_chi = INFINITY, best_theta[EISNET_MAX_PARAMS], qm = pow(q, m);
    memcpy(best_theta, c.base, sizeof best_theta);
    if (compute_boxes(&c, &o, &b, 0, q, &best_chi, best_theta) != 0) goto oom;
    r->n_evals = (double)n * qm;
    double logz = marginals(&c, &b, prev, r->joint);
    int lvl = 0, peak = 0;
    r->change = NAN;
    for (;;) {
        if (lvl >= max_lvl) break;
        flag = realloc(flag, (size_t)b.n);
        if (!flag) goto oom;
        int64_t nf = mark_boxes(&c, &b, &x, max_lvl, peak, flag);
        if (nf < 0) goto oom;
        if (nf == 0) break;
        double cost = (double)nf * (double)((int64_t)1 << m) * qm;
        if (r->n_evals + cost > o.max_evals) break;
        int64_t from = split_boxes(&b, flag, nf);
        if (from < 0) goto oom;
        if (compute_boxes(&c, &o, &b, from, q, &best_chi, best_theta) != 0) goto oom;
        error_estimates(&b, from);
        r->n_evals += cost;
        lvl = 0;
        for (int64_t i = 0; i < b.n; i++)
            if (b.lvl[i] > lvl) lvl = b.lvl[i];
        logz = marginals(&c, &b, marg, r->joint);
        double ch = 0;
        for (int i = 0; i < m * G; i++) ch = fmax(ch, fabs(marg[i] - prev[i]));
        memcpy(prev, marg, sizeof(double) * (size_t)m * G);
        r->change = ch;
        peak = resolved(&c, &b, &x);
        if ((q << lvl) >= o.min_sub && ch < o.tol && peak) {
            r->converged = 1;
            break;
        }
    }
    if (!isfinite(logz)) {
        eisnet_set_error("exact posterior: the likelihood is zero everywhere (is the spectrum on the model's frequencies?)");
        goto out;
    }
    r->sub_used = q << lvl;
    r->n_boxes = (double)b.n;
    for (int d = 0; d < m; d++) memcpy(r->marginal + (size_t)c.miss[d] * G, prev + (size_t)d * G, sizeof(double) * G);
    r->log_evidence = logz - c.F * log(2.0 * M_PI * o.sigma * o.sigma);
    polish(&c, 0.5 / (q << lvl) * (c.hi[0] - c.lo[0] > 0 ? c.hi[0] - c.lo[0] : 0.1), &best_chi, best_theta);
    if (check_missed_peak(&c, &o, n, r, &best_chi, best_theta) != 0) goto oom;
    r->best_rel_rms = sqrt(best_chi / (2.0 * c.F));
    /* Boxes that stopped short (a thin ridge) are refined by sampling. */
    int sample = o.sampling > 0 || (o.sampling == 0 && !r->converged);
    if (sample && m <= 4 && post_sample_refine(&c, &o, &b, best_theta, r) != 0) goto oom;
    int cell[EISNET_MAX_PARAMS];
    double achi;
    if (grid_argmin(&c, &o, n, cell, &achi, NULL) != 0) goto oom;
    r->n_evals += (double)n;
    for (int p = 0; p < g->n_params; p++) r->argmin[p] = -1;
    for (int d = 0; d < m; d++) r->argmin[c.miss[d]] = cell[d];
    r->argmin_rel_rms = sqrt(achi / (2.0 * c.F));
    if (r->argmin_rel_rms < r->best_rel_rms) r->best_rel_rms = r->argmin_rel_rms;
    rc = 0;
    goto out;
oom:
    eisnet_set_error("out of memory");
out:
    free_ctx(&c);
    boxes_free(&b);
    free(x.slot);
    free(marg);
    free(prev);
    free(flag);
    if (rc != 0) eisnet_posterior_free(r);
    return rc;
}

double eisnet_posterior_rel_rms(const eisnet_grid *g, const double complex *z, const double *values)
{
    double complex *zt = malloc(sizeof(double complex) * (size_t)g->n_freq);
    if (!zt) return NAN;
    eisnet_grid_spectrum(g, values, zt);
    double s = 0;
    for (int f = 0; f < g->n_freq; f++) {
        double complex d = z[f] - zt[f];
        double m2 = creal(zt[f]) * creal(zt[f]) + cimag(zt[f]) * cimag(zt[f]);
        s += (creal(d) * creal(d) + cimag(d) * cimag(d)) / m2;
    }
    free(zt);
    return sqrt(s / (2.0 * g->n_freq));
}

/* Starts of the multi-start compass search: the best grid completions (a
 * single start ends in a local minimum for about 1 % of consistent
 * spectra). */
#define MISFIT_STARTS 8

/* The smallest chi (post_point_ll's) found by compass searches from the
 * MISFIT_STARTS best of the n grid completions and from the n_starts points
 * of starts (n_params each, file order); theta (n_params, file order) gets
 * its point. -1 when out of memory. */
static int multi_start_fit(const post_ctx *c, uint64_t n, const double *starts, int n_starts, double *theta,
                           double *chi_out)
{
    const eisnet_grid *g = c->g;
    const int m = c->m;
    post_work w = {0};
    if (post_work_init(&w, c->F) != 0) {
        post_work_free(&w);
        return -1;
    }
    int cell[EISNET_MAX_PARAMS], ns = 0;
    double th[EISNET_MAX_PARAMS], best[MISFIT_STARTS];
    uint64_t start[MISFIT_STARTS];
    memcpy(th, c->base, sizeof th);
    for (uint64_t t = 0; t < n; t++) {
        double chi;
        tuple_point(c, t, cell, th);
        post_point_ll(c, &w, th, &chi);
        /* keep the MISFIT_STARTS smallest, sorted; NaN never enters */
        if (ns < MISFIT_STARTS || chi < best[ns - 1]) {
            int k = ns < MISFIT_STARTS ? ns++ : ns - 1;
            while (k > 0 && best[k - 1] > chi) {
                best[k] = best[k - 1];
                start[k] = start[k - 1];
                k--;
            }
            best[k] = chi;
            start[k] = t;
        }
    }
    double least = INFINITY;
    memcpy(theta, c->base, sizeof th);
    for (int s = 0; s < ns; s++) {
        memcpy(th, c->base, sizeof th);
        tuple_point(c, start[s], cell, th);
        double x = best[s];
        polish(c, 0.5 * (c->hi[0] - c->lo[0]), &x, th);
        if (x < least) {
            least = x;
            memcpy(theta, th, sizeof th);
        }
    }
    for (int s = 0; s < n_starts; s++) {
        memcpy(th, c->base, sizeof th);
        for (int d = 0; d < m; d++) {
            int p = c->miss[d];
            double v = starts[(size_t)s * g->n_params + p];
            th[p] = v >= g->lo[p] && v <= g->hi[p] ? v : v > g->hi[p] ? g->hi[p] : g->lo[p]; /* NaN: lo */
        }
        double x;
        post_point_ll(c, &w, th, &x);
        if (!(x < INFINITY)) continue;
        polish(c, 0.5 * (c->hi[0] - c->lo[0]), &x, th);
        if (x < least) {
            least = x;
            memcpy(theta, th, sizeof th);
        }
    }
    post_work_free(&w);
    *chi_out = least;
    return 0;
}

double eisnet_best_misfit(const eisnet_grid *g, const double complex *z, const double *values, const uint8_t *known)
{
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    int m = 0;
    if (check_input(g, z, values, known, &o, &m) != 0) return NAN;
    post_ctx c;
    double out = NAN, chi, theta[EISNET_MAX_PARAMS];
    uint64_t n = 1;
    for (int d = 0; d < m; d++) n *= (uint64_t)g->n_grid;
    if (setup_ctx(&c, g, z, values, known, o.sigma) == 0 && multi_start_fit(&c, n, NULL, 0, theta, &chi) == 0)
        out = sqrt(chi / (2.0 * c.F));
    else
        eisnet_set_error("out of memory");
    free_ctx(&c);
    return out;
}

int eisnet_grid_brute_force(const eisnet_grid *g, const double complex *z, const double *values,
                            const uint8_t *known, int threads, int *argmin, double *profile, double *misfit)
{
    eisnet_posterior_options o;
    eisnet_posterior_options_default(&o);
    o.threads = threads;
    int m = 0, rc = -1, G = g ? g->n_grid : 0;
    if (check_input(g, z, values, known, &o, &m) != 0) return -1;
    post_ctx c;
    double *prof = malloc(sizeof(double) * (size_t)m * G);
    if (setup_ctx(&c, g, z, values, known, o.sigma) == 0 && prof) {
        int cell[EISNET_MAX_PARAMS];
        double chi;
        uint64_t n = 1;
        for (int d = 0; d < m; d++) n *= (uint64_t)G;
        if (grid_argmin(&c, &o, n, cell, &chi, prof) == 0) {
            for (int p = 0; p < g->n_params; p++) argmin[p] = -1;
            if (profile)
                for (int i = 0; i < g->n_params * G; i++) profile[i] = NAN;
            for (int d = 0; d < m; d++) {
                argmin[c.miss[d]] = cell[d];
                if (profile)
                    for (int k = 0; k < G; k++) profile[(size_t)c.miss[d] * G + k] = sqrt(prof[d * G + k] / (2.0 * c.F));
            }
            if (misfit) *misfit = sqrt(chi / (2.0 * c.F));
            rc = 0;
        }
    }
    if (rc != 0) eisnet_set_error("out of memory");
    free_ctx(&c);
    free(prof);
    return rc;
}
