/* The sampling stage of the exact posterior: self-normalised importance
 * sampling in x = log10 of the missing parameters, for posteriors (thin
 * ridges across several cells) where the axis-aligned boxes stop at their
 * resolution cap or budget before the marginals settle.
 *
 * Proposal q = A q_box + (1 - A) q_t:
 *  - q_box ("defensive"): a final box of the box rule picked with
 *    probability proportional to its estimated mass, then a point uniform
 *    inside it; density at x = (probability of the box holding x) / (its
 *    volume). It covers wherever the box rule saw mass.
 *  - q_t: a Student-t (NU degrees of freedom) centred at the best point
 *    (refined by Newton steps on the log-likelihood) with covariance INFL
 *    times the inverse Hessian of -log-likelihood: it follows a ridge of any
 *    orientation. Left out (A = 1) when the Hessian is not positive definite.
 * Weights w = likelihood x prior / q (0 outside the ranges). A = 0.2 and
 * INFL = 2: on the first ridges of the known-Ra,Rb mask they gave the
 * largest effective sample share (0.2-0.6 of the samples) of A in
 * {0.2, 0.5, 0.8} x INFL in {1, 2, 4}; the box share keeps the weights
 * bounded where the Gaussian shape misses the ridge's bend. */
#include "posterior_internal.h"
#include "eisnet/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define A_BOX 0.2
#define NU 5
#define INFL 2.0
/* Samples per round and per rng stream (block). */
#define ROUND (1 << 16)
#define BLOCK 1024
#define MIN_ESS 2000.0
#define NEWTON_STEPS 6
#define HSTEP 1e-4
#define MAX_LEVEL 16

typedef struct {
    const post_ctx *c;
    const boxes *b;
    box_index x;
    double *cdf;      /* cumulative box probabilities, b->n */
    double logtot, a; /* log of the total box mass; weight of the box component */
    int has_t;
    double mu[EISNET_MAX_PARAMS];
    double R[EISNET_MAX_PARAMS * EISNET_MAX_PARAMS]; /* Cholesky factor of the Hessian (lower) */
    double log_t_const;
} proposal;

/* Accumulated weights, all scaled by e^-M (running max M of log w). */
typedef struct {
    double M, S, S2, n;
    double *W, *W2, *J; /* per missing parameter and cell (m x G); joint G x G */
} sums;

/* ---- geometry ---------------------------------------------------------------- */

/* Cell of x in dimension d, or -1 outside the range. */
static int cell_of(const post_ctx *c, int d, double x)
{
    const double *lo = c->lo + d * c->G, *hi = c->hi + d * c->G;
    if (!(x >= lo[0] && x <= hi[c->G - 1])) return -1;
    for (int k = 0; k < c->G; k++)
        if (x < hi[k]) return k;
    return c->G - 1;
}

/* Log volume of box i; lo_out (or NULL) its lower corner. */
static double box_geom(const post_ctx *c, const boxes *b, int64_t i, double *lo_out, double *w_out)
{
    int cell[EISNET_MAX_PARAMS];
    double scale = ldexp(1.0, -b->lvl[i]), lv = 0;
    post_decode(c, b->t[i], cell);
    for (int d = 0; d < c->m; d++) {
        double lo = c->lo[d * c->G + cell[d]], w = (c->hi[d * c->G + cell[d]] - lo) * scale;
        if (lo_out) lo_out[d] = lo + w * b->k[i * c->m + d];
        if (w_out) w_out[d] = w;
        lv += log(w);
    }
    return lv;
}

/* The box holding x (cells given), or -1: the boxes of all levels partition
 * the ranges, so exactly one level has it. */
static int64_t find_box(const proposal *p, const double *x, const int *cell)
{
    const post_ctx *c = p->c;
    uint64_t t = post_encode(c, cell);
    uint16_t k[EISNET_MAX_PARAMS];
    for (int l = 0; l < MAX_LEVEL; l++) {
        long side = 1L << l;
        for (int d = 0; d < c->m; d++) {
            double lo = c->lo[d * c->G + cell[d]], hi = c->hi[d * c->G + cell[d]];
            long kk = (long)floor((x[d] - lo) / (hi - lo) * (double)side);
            k[d] = (uint16_t)(kk < 0 ? 0 : kk >= side ? side - 1 : kk);
        }
        int64_t i = post_index_find(&p->x, p->b, t, l, k);
        if (i >= 0) return i;
    }
    return -1;
}

/* ---- proposal densities ------------------------------------------------------------ */

static double log_q_box(const proposal *p, const double *x, const int *cell)
{
    int64_t i = find_box(p, x, cell);
    if (i < 0 || !(p->b->L[i] > -INFINITY)) return -INFINITY;
    return p->b->L[i] - p->logtot - box_geom(p->c, p->b, i, NULL, NULL);
}

/* y = R^T (x - mu): its squared norm is the Mahalanobis distance times INFL. */
static double log_q_t(const proposal *p, const double *x)
{
    int m = p->c->m;
    double d2 = 0;
    for (int i = 0; i < m; i++) {
        double y = 0;
        for (int j = i; j < m; j++) y += p->R[j * m + i] * (x[j] - p->mu[j]);
        d2 += y * y;
    }
    return p->log_t_const - 0.5 * (NU + m) * log1p(d2 / INFL / NU);
}

static double log_q(const proposal *p, const double *x, const int *cell)
{
    double lb = log(p->a) + log_q_box(p, x, cell);
    if (!p->has_t) return lb;
    double lt = log1p(-p->a) + log_q_t(p, x), hi = fmax(lb, lt);
    return hi == -INFINITY ? hi : hi + log(exp(lb - hi) + exp(lt - hi));
}

/* ---- drawing ---------------------------------------------------------------------- */

static void draw_box(const proposal *p, eisnet_rng *r, double *x)
{
    double u = eisnet_rng_uniform(r);
    int64_t lo = 0, hi = p->b->n - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (p->cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    double corner[EISNET_MAX_PARAMS], w[EISNET_MAX_PARAMS];
    box_geom(p->c, p->b, lo, corner, w);
    for (int d = 0; d < p->c->m; d++) x[d] = corner[d] + w[d] * eisnet_rng_uniform(r);
}

/* x = mu + sqrt(INFL NU / chi2) R^-T z. */
static void draw_t(const proposal *p, eisnet_rng *r, double *x)
{
    int m = p->c->m;
    double z[EISNET_MAX_PARAMS], chi2 = 0;
    for (int d = 0; d < m; d++) z[d] = eisnet_rng_normal(r);
    for (int k = 0; k < NU; k++) {
        double n = eisnet_rng_normal(r);
        chi2 += n * n;
    }
    double s = sqrt(INFL * NU / chi2);
    for (int i = m - 1; i >= 0; i--) { /* back substitution R^T y = z */
        double v = z[i];
        for (int j = i + 1; j < m; j++) v -= p->R[j * m + i] * x[j];
        x[i] = v / p->R[i * m + i];
    }
    for (int d = 0; d < m; d++) x[d] = p->mu[d] + s * x[d];
}

/* One sample: its log weight and cells (-1 when outside the ranges). */
static double sample_one(const proposal *p, post_work *w, eisnet_rng *r, uint16_t *cells, double *evals)
{
    const post_ctx *c = p->c;
    double x[EISNET_MAX_PARAMS], theta[EISNET_MAX_PARAMS], chi;
    int cell[EISNET_MAX_PARAMS];
    if (!p->has_t || eisnet_rng_uniform(r) < p->a) draw_box(p, r, x);
    else draw_t(p, r, x);
    memcpy(theta, c->base, sizeof theta);
    for (int d = 0; d < c->m; d++) {
        cell[d] = cell_of(c, d, x[d]);
        if (cell[d] < 0) return -INFINITY;
        cells[d] = (uint16_t)cell[d];
        theta[c->miss[d]] = pow(10.0, x[d]);
    }
    double lq = log_q(p, x, cell);
    *evals += 1;
    double ll = post_point_ll(c, w, theta, &chi);
    return lq == -INFINITY ? -INFINITY : ll + c->log_norm - lq;
}

/* ---- the t component: Newton steps and the Hessian ------------------------------------ */

static double nll_at(const post_ctx *c, post_work *w, const double *x, double *evals)
{
    double theta[EISNET_MAX_PARAMS], chi;
    memcpy(theta, c->base, sizeof theta);
    for (int d = 0; d < c->m; d++) theta[c->miss[d]] = pow(10.0, x[d]);
    *evals += 1;
    return -post_point_ll(c, w, theta, &chi);
}

/* Gradient and Hessian of -log-likelihood in x by central differences. */
static void derivs(const post_ctx *c, post_work *w, const double *x, double *g, double *H, double *evals)
{
    int m = c->m;
    double y[EISNET_MAX_PARAMS], f0 = nll_at(c, w, x, evals), h = HSTEP;
    memcpy(y, x, sizeof(double) * (size_t)m);
    for (int i = 0; i < m; i++) {
        y[i] = x[i] + h;
        double fp = nll_at(c, w, y, evals);
        y[i] = x[i] - h;
        double fm = nll_at(c, w, y, evals);
        y[i] = x[i];
        g[i] = (fp - fm) / (2 * h);
        H[i * m + i] = (fp - 2 * f0 + fm) / (h * h);
        for (int j = 0; j < i; j++) {
            double s = 0;
            for (int a = -1; a <= 1; a += 2)
                for (int b2 = -1; b2 <= 1; b2 += 2) {
                    y[i] = x[i] + a * h;
                    y[j] = x[j] + b2 * h;
                    s += a * b2 * nll_at(c, w, y, evals);
                }
            y[i] = x[i];
            y[j] = x[j];
            H[i * m + j] = H[j * m + i] = s / (4 * h * h);
        }
    }
}

/* Lower Cholesky factor of H into R; -1 when not positive definite. */
static int cholesky(const double *H, int m, double *R)
{
    memset(R, 0, sizeof(double) * (size_t)m * m);
    for (int i = 0; i < m; i++)
        for (int j = 0; j <= i; j++) {
            double s = H[i * m + j];
            for (int k = 0; k < j; k++) s -= R[i * m + k] * R[j * m + k];
            if (i == j) {
                if (!(s > 0) || !isfinite(s)) return -1;
                R[i * m + i] = sqrt(s);
            } else {
                R[i * m + j] = s / R[j * m + j];
            }
        }
    return 0;
}

/* Solves R R^T dx = g (R lower), in place on g. */
static void chol_solve(const double *R, int m, double *g)
{
    for (int i = 0; i < m; i++) {
        for (int k = 0; k < i; k++) g[i] -= R[i * m + k] * g[k];
        g[i] /= R[i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) {
        for (int k = i + 1; k < m; k++) g[i] -= R[k * m + i] * g[k];
        g[i] /= R[i * m + i];
    }
}

/* Centre and shape of the t component from the best point; sets has_t. */
static void setup_t(proposal *p, const double *best_theta, double *evals)
{
    const post_ctx *c = p->c;
    int m = c->m;
    post_work w;
    double x[EISNET_MAX_PARAMS], g[EISNET_MAX_PARAMS], H[EISNET_MAX_PARAMS * EISNET_MAX_PARAMS];
    p->has_t = 0;
    if (post_work_init(&w, c->F) != 0) {
        post_work_free(&w);
        return;
    }
    for (int d = 0; d < m; d++) x[d] = log10(best_theta[c->miss[d]]);
    double f = nll_at(c, &w, x, evals);
    for (int it = 0; it <= NEWTON_STEPS; it++) {
        derivs(c, &w, x, g, H, evals);
        if (cholesky(H, m, p->R) != 0) break;
        p->has_t = 1;
        memcpy(p->mu, x, sizeof(double) * (size_t)m);
        if (it == NEWTON_STEPS) break;
        double y[EISNET_MAX_PARAMS];
        chol_solve(p->R, m, g);
        for (int d = 0; d < m; d++) y[d] = x[d] - g[d];
        double fy = nll_at(c, &w, y, evals);
        if (!(fy < f)) break; /* keep the last point with a positive definite Hessian */
        f = fy;
        memcpy(x, y, sizeof(double) * (size_t)m);
    }
    if (p->has_t) {
        double logdet = 0; /* log det of the covariance's square root: INFL^(m/2) / prod R_ii */
        for (int d = 0; d < m; d++) logdet += 0.5 * log(INFL) - log(p->R[d * m + d]);
        p->log_t_const = lgamma(0.5 * (NU + m)) - lgamma(0.5 * NU) - 0.5 * m * log(NU * M_PI) - logdet;
    }
    post_work_free(&w);
}

static int setup_box(proposal *p)
{
    const boxes *b = p->b;
    double mx = -INFINITY, s = 0;
    p->cdf = malloc(sizeof(double) * (size_t)b->n);
    if (!p->cdf || post_index_build(&p->x, b) != 0) return -1;
    for (int64_t i = 0; i < b->n; i++) mx = fmax(mx, b->L[i]);
    for (int64_t i = 0; i < b->n; i++) {
        s += b->L[i] > mx - 700 ? exp(b->L[i] - mx) : 0;
        p->cdf[i] = s;
    }
    for (int64_t i = 0; i < b->n; i++) p->cdf[i] /= s;
    p->cdf[b->n - 1] = 1.0;
    p->logtot = mx + log(s);
    return 0;
}

/* ---- accumulation --------------------------------------------------------------------- */

static void sums_rescale(sums *s, double lw, int nmg, int nj)
{
    double f = s->M == -INFINITY ? 0 : exp(s->M - lw), f2 = f * f;
    s->S *= f;
    s->S2 *= f2;
    for (int i = 0; i < nmg; i++) {
        s->W[i] *= f;
        s->W2[i] *= f2;
    }
    for (int i = 0; i < nj; i++) s->J[i] *= f;
    s->M = lw;
}

/* Adds the samples of a round, in their order (so any thread count gives
 * the same sums). */
static void sums_add(sums *s, const post_ctx *c, const double *lw, const uint16_t *cells, int n)
{
    int m = c->m, G = c->G, nj = m >= 2 ? G * G : 0;
    for (int i = 0; i < n; i++) {
        s->n += 1;
        if (lw[i] == -INFINITY) continue;
        if (lw[i] > s->M) sums_rescale(s, lw[i], m * G, nj);
        double w = exp(lw[i] - s->M), w2 = w * w;
        s->S += w;
        s->S2 += w2;
        const uint16_t *cl = cells + (size_t)i * m;
        for (int d = 0; d < m; d++) {
            s->W[d * G + cl[d]] += w;
            s->W2[d * G + cl[d]] += w2;
        }
        if (nj) s->J[cl[0] * G + cl[1]] += w;
    }
}

/* Largest standard error of a marginal (delta method for the ratio):
 * sqrt(sum_i w_i^2 (1[x_i in c] - p_c)^2) / sum_i w_i. */
static double sums_max_se(const sums *s, int nmg)
{
    double mx = 0;
    if (!(s->S > 0)) return INFINITY;
    for (int i = 0; i < nmg; i++) {
        double p = s->W[i] / s->S, v = (1 - p) * (1 - p) * s->W2[i] + p * p * (s->S2 - s->W2[i]);
        mx = fmax(mx, sqrt(fmax(v, 0)) / s->S);
    }
    return mx;
}

/* ---- rounds ---------------------------------------------------------------------------- */

/* One round of ROUND samples into lw and cells; returns -1 when out of
 * memory. Each block of BLOCK samples has its own rng stream. */
static int draw_round(const proposal *p, const eisnet_posterior_options *o, uint64_t first_block, double *lw,
                      uint16_t *cells, double *evals)
{
    int failed = 0, nblk = ROUND / BLOCK, m = p->c->m;
    double ev = 0;
#ifdef EISNET_HAVE_OPENMP
#pragma omp parallel num_threads(o->threads > 0 ? o->threads : omp_get_max_threads()) reduction(| : failed) \
    reduction(+ : ev)
#else
    (void)o;
#endif
    {
        post_work w;
        if (post_work_init(&w, p->c->F) != 0) failed = 1;
#ifdef EISNET_HAVE_OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int k = 0; k < nblk; k++) {
            if (failed) continue;
            eisnet_rng r;
            eisnet_rng_seed(&r, o->seed, first_block + (uint64_t)k);
            for (int i = k * BLOCK; i < (k + 1) * BLOCK; i++)
                lw[i] = sample_one(p, &w, &r, cells + (size_t)i * m, &ev);
        }
        post_work_free(&w);
    }
    *evals += ev;
    return failed ? -1 : 0;
}

/* Writes the sampling estimates into r (marginals, joint, log evidence). */
static void store(const post_ctx *c, const sums *s, eisnet_posterior *r)
{
    int m = c->m, G = c->G;
    for (int d = 0; d < m; d++)
        for (int k = 0; k < G; k++) r->marginal[(size_t)c->miss[d] * G + k] = s->W[d * G + k] / s->S;
    if (m >= 2 && r->joint)
        for (int i = 0; i < G * G; i++) r->joint[i] = s->J[i] / s->S;
    r->log_evidence = s->M + log(s->S / s->n) - c->F * log(2.0 * M_PI / (2.0 * c->inv2s2));
    r->method = 1;
}

int post_sample_refine(const post_ctx *c, const eisnet_posterior_options *o, const boxes *b,
                       const double *best_theta, eisnet_posterior *r)
{
    int m = c->m, G = c->G, rc = -1;
    proposal p = {.c = c, .b = b, .a = A_BOX};
    sums s = {.M = -INFINITY};
    double evals = 0;
    double *lw = malloc(sizeof(double) * ROUND);
    uint16_t *cells = malloc(sizeof(uint16_t) * (size_t)ROUND * m);
    s.W = calloc((size_t)m * G * 2 + (size_t)G * G, sizeof(double));
    if (!lw || !cells || !s.W || setup_box(&p) != 0) goto out;
    s.W2 = s.W + m * G;
    s.J = s.W2 + m * G;
    setup_t(&p, best_theta, &evals);
    if (!p.has_t) p.a = 1.0;
    double se = INFINITY, ess = 0;
    int conv = 0;
    for (uint64_t round = 0;; round++) {
        if (draw_round(&p, o, round * (ROUND / BLOCK), lw, cells, &evals) != 0) goto out;
        sums_add(&s, c, lw, cells, ROUND);
        se = sums_max_se(&s, m * G);
        ess = s.S2 > 0 ? s.S * s.S / s.S2 : 0;
        conv = se < 0.5 * o->tol && ess >= MIN_ESS;
        /* samples outside the ranges cost no evaluation: bound them too */
        if (conv || evals + ROUND > o->is_max_evals || s.n >= 4 * o->is_max_evals) break;
    }
    r->is_ran = 1;
    r->is_samples = s.n;
    r->is_ess = ess;
    r->is_max_se = se;
    r->n_evals += evals;
    /* Converged: the sampling answer. Not converged: the one whose stated
     * uncertainty is smaller, the sampling standard error against the box
     * rule's last change of a marginal; the sampling one when the boxes
     * missed the peak (their change says nothing then). */
    if (s.S > 0 && (conv || r->peak_missed || !(r->change <= se))) store(c, &s, r);
    r->converged = conv || (r->converged && r->method == 0);
    rc = 0;
out:
    free(lw);
    free(cells);
    free(s.W);
    free(p.cdf);
    free(p.x.slot);
    return rc;
}
