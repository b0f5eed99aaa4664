/* The fit: quasi-random scan of the box, trust-region Levenberg-Marquardt
 * from the best distinct scan points (GSL), statistics at the best minimum,
 * the other minima and the circuit's exact symmetries. */
#include "fit_internal.h"

#include "eisnet/error.h"
#include "eisnet/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EISNET_HAVE_GSL
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_qrng.h>
#include <pthread.h>
#endif

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Frequencies the scan uses at most (evenly picked; the refinement uses all). */
#define SCAN_FREQ 32
/* Two minima closer than this in every log10 parameter are one. */
#define SAME_DEX 0.01
/* Iterations per start, and for the polish of the best: a start that is
 * still crawling when its budget ends is finished by the polish if it is
 * the best. */
#define START_MAXITER 60
#define LM_MAXITER 200
#define LM_XTOL 1e-14
#define LM_GTOL 1e-14

int eisnet_fit_available(void)
{
#ifdef EISNET_HAVE_GSL
    return 1;
#else
    return 0;
#endif
}

#ifndef EISNET_HAVE_GSL

int eisnet_fit(const double *freq, const double complex *z, int n, const eisnet_fit_options *o,
               eisnet_fit_result *r)
{
    (void)freq;
    (void)z;
    (void)n;
    (void)o;
    memset(r, 0, sizeof *r);
    return eisnet_set_error("this eisnet was built without GSL, which the fit needs "
                            "(install libgsl-dev and rebuild)");
}

#else

typedef struct {
    const eisnet_fit_model *m;
    int n, np, nf;
    const double *omega;
    const double complex *z;
    double *wre, *wim;          /* 1 / weight of the real and imaginary residuals */
    int free_idx[EISNET_MAX_PARAMS];
    double p[EISNET_MAX_PARAMS];   /* full parameter vector (known ones fixed) */
    double a[EISNET_MAX_PARAMS], b[EISNET_MAX_PARAMS];   /* ln box of the free ones */
    double complex *zb, *dzb;
    long evals;
} problem;

/* u (unbounded) -> ln p inside [a, b]: a smooth, periodic map whose
 * derivative vanishes at the edges, so the solver never leaves the box. */
static void set_from_u(problem *pr, const double *u)
{
    for (int i = 0; i < pr->nf; i++) {
        double x = pr->a[i] + (pr->b[i] - pr->a[i]) * 0.5 * (1.0 + sin(u[i]));
        pr->p[pr->free_idx[i]] = exp(x);
    }
}

static double u_of_unit(double t) { return asin(fmax(-1.0, fmin(1.0, 2.0 * t - 1.0))); }

static int f_cb(const gsl_vector *x, void *params, gsl_vector *f)
{
    problem *pr = params;
    set_from_u(pr, x->data);
    eisnet_fit_model_eval(pr->m, pr->p, pr->omega, pr->n, pr->zb, NULL);
    pr->evals++;
    for (int k = 0; k < pr->n; k++) {
        double complex d = pr->zb[k] - pr->z[k];
        gsl_vector_set(f, 2 * (size_t)k, creal(d) * pr->wre[k]);
        gsl_vector_set(f, 2 * (size_t)k + 1, cimag(d) * pr->wim[k]);
    }
    return GSL_SUCCESS;
}

/* Jacobian in ln p (chain = 0) or in u (chain = 1). */
static void jacobian(problem *pr, const double *u, int chain, gsl_matrix *J)
{
    eisnet_fit_model_eval(pr->m, pr->p, pr->omega, pr->n, pr->zb, pr->dzb);
    pr->evals++;
    double du[EISNET_MAX_PARAMS];
    for (int i = 0; i < pr->nf; i++) du[i] = chain ? (pr->b[i] - pr->a[i]) * 0.5 * cos(u[i]) : 1.0;
    for (int k = 0; k < pr->n; k++) {
        const double complex *g = pr->dzb + (size_t)k * (size_t)pr->np;
        for (int i = 0; i < pr->nf; i++) {
            double complex d = g[pr->free_idx[i]] * du[i];
            gsl_matrix_set(J, 2 * (size_t)k, (size_t)i, creal(d) * pr->wre[k]);
            gsl_matrix_set(J, 2 * (size_t)k + 1, (size_t)i, cimag(d) * pr->wim[k]);
        }
    }
}

static int df_cb(const gsl_vector *x, void *params, gsl_matrix *J)
{
    problem *pr = params;
    set_from_u(pr, x->data);
    jacobian(pr, x->data, 1, J);
    return GSL_SUCCESS;
}

/* Weighted sum of squares at the current pr->p. */
static double ssr_at(problem *pr)
{
    double s = 0;
    eisnet_fit_model_eval(pr->m, pr->p, pr->omega, pr->n, pr->zb, NULL);
    pr->evals++;
    for (int k = 0; k < pr->n; k++) {
        double complex d = pr->zb[k] - pr->z[k];
        double re = creal(d) * pr->wre[k], im = cimag(d) * pr->wim[k];
        s += re * re + im * im;
    }
    return s;
}

static pthread_once_t gsl_once = PTHREAD_ONCE_INIT;
static void gsl_quiet(void) { gsl_set_error_handler_off(); }

typedef struct {
    double ssr;
    int index;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const scored *)a)->ssr, y = ((const scored *)b)->ssr;
    if (x != x) return 1;
    if (y != y) return -1;
    return (x > y) - (x < y);
}

typedef struct {
    double values[EISNET_MAX_PARAMS];
    double ssr;
    int converged;   /* the solver met its tolerance (not its iteration limit) */
} minimum;

static int cmp_minimum(const void *a, const void *b)
{
    double x = ((const minimum *)a)->ssr, y = ((const minimum *)b)->ssr;
    return (x > y) - (x < y);
}

static double max_dex(const eisnet_fit_result *r, const double *x, const double *y)
{
    double d = 0;
    for (int j = 0; j < r->n_params; j++) d = fmax(d, fabs(log10(x[j]) - log10(y[j])));
    return d;
}

/* Symmetry text with the display names: "Ra<->Rb, Ca<->Cb". */
static void symmetry_text(const eisnet_fit_result *r, const int *perm, char *out, size_t cap)
{
    char buf[128];
    size_t len = 0;
    buf[0] = '\0';
    for (int j = 0; j < r->n_params && len < sizeof buf; j++)
        if (perm[j] > j)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s<->%s", len ? ", " : "", r->names[j],
                                    r->names[perm[j]]);
    snprintf(out, cap, "%s", buf);
}

/* The distinct minima (sorted by ssr), each either new or an exact image of
 * an earlier one, plus the images of the best that no start reached. */
static void collect_solutions(eisnet_fit_result *r, const eisnet_fit_model *m, minimum *mins, int nm, double scale)
{
    int perm[8][EISNET_MAX_PARAMS];
    char ptext[8][128];
    int ns = eisnet_fit_model_symmetries(m, 8, perm, ptext);
    qsort(mins, (size_t)nm, sizeof *mins, cmp_minimum);
    r->n_solutions = 0;
    for (int i = 0; i < nm && r->n_solutions < EISNET_FIT_MAX_SOLUTIONS; i++) {
        /* a start still moving when its iterations ran out (along a flat
         * valley of parameters the data do not fix) is no minimum */
        if (i > 0 && !mins[i].converged) continue;
        int dup = 0, image_of = -1, sym = -1;
        for (int s = 0; s < r->n_solutions && !dup; s++) {
            if (max_dex(r, mins[i].values, r->solutions[s].values) < SAME_DEX) dup = 1;
            for (int q = 0; q < ns && image_of < 0 && !dup; q++) {
                double img[EISNET_MAX_PARAMS];
                for (int j = 0; j < r->n_params; j++) img[j] = r->solutions[s].values[perm[q][j]];
                if (max_dex(r, mins[i].values, img) < SAME_DEX) {
                    image_of = r->solutions[s].equivalent_to >= 0 ? r->solutions[s].equivalent_to : s;
                    sym = q;
                }
            }
        }
        if (dup) continue;
        eisnet_fit_solution *so = &r->solutions[r->n_solutions++];
        memcpy(so->values, mins[i].values, sizeof so->values);
        so->chi2 = mins[i].ssr * scale;
        so->equivalent_to = image_of;
        so->symmetry[0] = '\0';
        if (sym >= 0) symmetry_text(r, perm[sym], so->symmetry, sizeof so->symmetry);
    }
    /* images of the best that the starts did not reach: same chi2 by construction */
    for (int q = 0; q < ns && r->n_solutions < EISNET_FIT_MAX_SOLUTIONS; q++) {
        double img[EISNET_MAX_PARAMS];
        int ok = 1;
        for (int j = 0; j < r->n_params; j++) {
            img[j] = r->solutions[0].values[perm[q][j]];
            if (r->known[j] && fabs(img[j] - r->solutions[0].values[j]) > 1e-12 * fabs(img[j])) ok = 0;
            if (!r->known[j] && (img[j] < r->lo[j] || img[j] > r->hi[j])) ok = 0;
        }
        if (!ok || max_dex(r, img, r->solutions[0].values) < SAME_DEX) continue;
        int seen = 0;
        for (int s = 1; s < r->n_solutions; s++)
            if (max_dex(r, img, r->solutions[s].values) < SAME_DEX) seen = 1;
        if (seen) continue;
        eisnet_fit_solution *so = &r->solutions[r->n_solutions++];
        memcpy(so->values, img, sizeof so->values);
        so->chi2 = r->solutions[0].chi2;
        so->equivalent_to = 0;
        symmetry_text(r, perm[q], so->symmetry, sizeof so->symmetry);
    }
}

/* Standard errors, intervals and correlations at pr->p (the best minimum). */
static int statistics(eisnet_fit_result *r, problem *pr, double ssr)
{
    int N = r->n_data, nf = r->n_free, dof = N - nf;
    gsl_matrix *J = gsl_matrix_alloc((size_t)N, (size_t)nf), *cov = gsl_matrix_alloc((size_t)nf, (size_t)nf);
    if (!J || !cov) {
        gsl_matrix_free(J);
        gsl_matrix_free(cov);
        return eisnet_set_error("out of memory");
    }
    jacobian(pr, NULL, 0, J);
    gsl_multifit_nlinear_covar(J, 0.0, cov);
    double s2 = ssr / dof;
    r->t95 = gsl_cdf_tdist_Pinv(0.975, dof);
    for (int j = 0; j < r->n_params * r->n_params; j++) r->corr[j] = NAN;
    for (int j = 0; j < r->n_params; j++) {
        r->stderr_[j] = 0;
        r->ci_lo[j] = r->ci_hi[j] = r->value[j];
    }
    for (int i = 0; i < nf; i++) {
        int j = pr->free_idx[i];
        /* a zero diagonal marks a column the QR found dependent: nothing in
         * the data fixes that parameter, so its interval is unbounded */
        double cii = gsl_matrix_get(cov, (size_t)i, (size_t)i);
        double se = cii > 0 ? sqrt(cii * s2) : INFINITY;
        r->stderr_[j] = r->value[j] * se;
        r->ci_lo[j] = r->value[j] * exp(-r->t95 * se);
        r->ci_hi[j] = r->value[j] * exp(r->t95 * se);
        for (int i2 = 0; i2 < nf; i2++) {
            double d = sqrt(gsl_matrix_get(cov, (size_t)i, (size_t)i) * gsl_matrix_get(cov, (size_t)i2, (size_t)i2));
            r->corr[(size_t)j * (size_t)r->n_params + (size_t)pr->free_idx[i2]] =
                d > 0 ? gsl_matrix_get(cov, (size_t)i, (size_t)i2) / d : NAN;
        }
    }
    gsl_matrix_free(J);
    gsl_matrix_free(cov);
    return 0;
}

/* One Levenberg-Marquardt run from u0; the minimum into *out. Returns 0, or
 * -1 when it ended on a non-finite sum of squares. */
static int refine(problem *pr, gsl_multifit_nlinear_fdf *fdf, gsl_multifit_nlinear_workspace *w, double *u0,
                  minimum *out)
{
    gsl_vector_view x0 = gsl_vector_view_array(u0, (size_t)pr->nf);
    gsl_multifit_nlinear_init(&x0.vector, fdf, w);
    int info;
    int status = gsl_multifit_nlinear_driver(START_MAXITER, LM_XTOL, LM_GTOL, 0.0, NULL, NULL, &info, w);
    set_from_u(pr, gsl_multifit_nlinear_position(w)->data);
    double s2 = ssr_at(pr);
    if (!isfinite(s2)) return -1;
    memcpy(out->values, pr->p, sizeof out->values);
    out->ssr = s2;
    out->converged = status == GSL_SUCCESS;
    return 0;
}

typedef struct {
    gsl_qrng *q;
    gsl_multifit_nlinear_workspace *w, *wa;   /* Levenberg-Marquardt, and with geodesic acceleration */
    double *omega, *wre, *wim, *pts;
    double complex *zb, *dzb;
    scored *sc;
    minimum *mins;
} buffers;

static void buffers_free(buffers *b)
{
    if (b->q) gsl_qrng_free(b->q);
    if (b->w) gsl_multifit_nlinear_free(b->w);
    if (b->wa) gsl_multifit_nlinear_free(b->wa);
    free(b->omega);
    free(b->wre);
    free(b->wim);
    free(b->pts);
    free(b->zb);
    free(b->dzb);
    free(b->sc);
    free(b->mins);
}

/* Sobol points shifted by a random vector from the seed (a Cranley-Patterson
 * rotation), so that different seeds scan different points. */
static void scan(problem *pr, const eisnet_fit_options *o, buffers *b, int n_scan)
{
    eisnet_rng rng;
    eisnet_rng_seed(&rng, o->seed, 0x6669u);
    double shift[EISNET_MAX_PARAMS], q[EISNET_MAX_PARAMS];
    for (int i = 0; i < pr->nf; i++) shift[i] = eisnet_rng_uniform(&rng);
    /* the scan sees a subset of the frequencies: swap in a reduced problem */
    int n_all = pr->n, step = (pr->n + SCAN_FREQ - 1) / SCAN_FREQ, ms = 0;
    const double *omega_all = pr->omega;
    const double complex *z_all = pr->z;
    double *om = malloc(sizeof(double) * (size_t)n_all), *wr = malloc(sizeof(double) * (size_t)n_all),
           *wi = malloc(sizeof(double) * (size_t)n_all);
    double complex *zz = malloc(sizeof(double complex) * (size_t)n_all);
    double *wre_all = pr->wre, *wim_all = pr->wim;
    if (om && wr && wi && zz) {
        for (int k = step / 2; k < n_all; k += step) {
            om[ms] = omega_all[k];
            zz[ms] = z_all[k];
            wr[ms] = wre_all[k];
            wi[ms] = wim_all[k];
            ms++;
        }
        pr->n = ms;
        pr->omega = om;
        pr->z = zz;
        pr->wre = wr;
        pr->wim = wi;
    }
    for (int s = 0; s < n_scan; s++) {
        gsl_qrng_get(b->q, q);
        double *pt = b->pts + (size_t)s * (size_t)pr->nf, u[EISNET_MAX_PARAMS];
        for (int i = 0; i < pr->nf; i++) {
            pt[i] = fmod(q[i] + shift[i], 1.0);
            u[i] = u_of_unit(pt[i]);
        }
        set_from_u(pr, u);
        b->sc[s].ssr = ssr_at(pr);
        b->sc[s].index = s;
    }
    pr->n = n_all;
    pr->omega = omega_all;
    pr->z = z_all;
    pr->wre = wre_all;
    pr->wim = wim_all;
    free(om);
    free(wr);
    free(wi);
    free(zz);
    qsort(b->sc, (size_t)n_scan, sizeof *b->sc, cmp_scored);
}

int eisnet_fit(const double *freq, const double complex *z, int n, const eisnet_fit_options *o,
               eisnet_fit_result *r)
{
    pthread_once(&gsl_once, gsl_quiet);
    eisnet_circuit *c = NULL;
    double values[EISNET_MAX_PARAMS];
    if (fit_setup(freq, z, n, o, r, &c, values) != 0) {
        eisnet_circuit_free(c);
        eisnet_fit_result_free(r);
        return -1;
    }
    eisnet_fit_model *m = eisnet_fit_model_new(c);
    if (!m) {
        eisnet_circuit_free(c);
        eisnet_fit_result_free(r);
        return -1;
    }
    int nf = r->n_free, N = r->n_data;
    int n_scan = o->scan > 0 ? o->scan : (256 * nf < 1024 ? 1024 : 256 * nf);
    int starts = o->starts;
    buffers b;
    memset(&b, 0, sizeof b);
    b.omega = malloc(sizeof(double) * (size_t)n);
    b.wre = malloc(sizeof(double) * (size_t)n);
    b.wim = malloc(sizeof(double) * (size_t)n);
    b.pts = malloc(sizeof(double) * (size_t)n_scan * (size_t)nf);
    b.zb = malloc(sizeof(double complex) * (size_t)n);
    b.dzb = malloc(sizeof(double complex) * (size_t)n * (size_t)r->n_params);
    b.sc = malloc(sizeof(scored) * (size_t)n_scan);
    b.mins = malloc(sizeof(minimum) * (size_t)(starts + (o->n_start_points > 0 ? o->n_start_points : 0)));
    b.q = gsl_qrng_alloc(gsl_qrng_sobol, (unsigned)nf);
    gsl_multifit_nlinear_fdf fdf;
    gsl_multifit_nlinear_parameters fp = gsl_multifit_nlinear_default_parameters();
    fp.trs = gsl_multifit_nlinear_trs_lm;
    b.w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, (size_t)N, (size_t)nf);
    fp.trs = gsl_multifit_nlinear_trs_lmaccel;
    b.wa = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, (size_t)N, (size_t)nf);
    int rc = 0;
    if (!b.omega || !b.wre || !b.wim || !b.pts || !b.zb || !b.dzb || !b.sc || !b.mins || !b.q || !b.w || !b.wa) {
        rc = eisnet_set_error("out of memory");
        goto done;
    }
    problem pr;
    memset(&pr, 0, sizeof pr);
    pr.m = m;
    pr.n = n;
    pr.np = r->n_params;
    pr.nf = nf;
    pr.omega = b.omega;
    pr.z = r->z;
    pr.wre = b.wre;
    pr.wim = b.wim;
    pr.zb = b.zb;
    pr.dzb = b.dzb;
    for (int k = 0; k < n; k++) {
        b.omega[k] = 2 * M_PI * r->freq[k];
        double re = fabs(creal(r->z[k])), im = fabs(cimag(r->z[k])), mod = cabs(r->z[k]);
        if (o->weighting == EISNET_FIT_UNIT) b.wre[k] = b.wim[k] = 1.0;
        else if (o->weighting == EISNET_FIT_PROPORTIONAL) {
            b.wre[k] = 1.0 / re;
            b.wim[k] = 1.0 / im;
        } else b.wre[k] = b.wim[k] = mod > 0 ? 1.0 / mod : 1.0;
    }
    for (int j = 0, i = 0; j < r->n_params; j++) {
        if (r->known[j]) pr.p[j] = values[j];
        else {
            pr.free_idx[i] = j;
            pr.a[i] = log(r->lo[j]);
            pr.b[i] = log(r->hi[j]);
            i++;
        }
    }

    scan(&pr, o, &b, n_scan);

    /* the best mutually distant scan points, refined */
    fdf.f = f_cb;
    fdf.df = df_cb;
    fdf.fvv = NULL;
    fdf.n = (size_t)N;
    fdf.p = (size_t)nf;
    fdf.params = &pr;
    int chosen[EISNET_FIT_MAX_STARTS], nchosen = 0, nm = 0, best_given = -1;
    double best_given_ssr = INFINITY;
    for (int g = 0; g < o->n_start_points; g++) {
        double u0[EISNET_MAX_PARAMS];
        for (int i = 0; i < nf; i++) {
            double v = o->start_points[(size_t)g * (size_t)r->n_params + (size_t)pr.free_idx[i]];
            double t = v > 0 && isfinite(v) ? (log(v) - pr.a[i]) / (pr.b[i] - pr.a[i]) : 0.5;
            u0[i] = u_of_unit(t);
        }
        if (refine(&pr, &fdf, b.w, u0, &b.mins[nm]) == 0) {
            if (b.mins[nm].ssr < best_given_ssr) {
                best_given_ssr = b.mins[nm].ssr;
                best_given = g;
            }
            nm++;
        }
    }
    for (int s = 0; s < n_scan && nchosen < starts; s++) {
        const double *pt = b.pts + (size_t)b.sc[s].index * (size_t)nf;
        int near = 0;
        for (int c2 = 0; c2 < nchosen && !near; c2++) {
            const double *qt = b.pts + (size_t)chosen[c2] * (size_t)nf;
            double d = 0;
            for (int i = 0; i < nf; i++) d = fmax(d, fabs(pt[i] - qt[i]));
            near = d < o->start_separation;
        }
        if (near) continue;
        chosen[nchosen++] = b.sc[s].index;
        double u0[EISNET_MAX_PARAMS];
        for (int i = 0; i < nf; i++) u0[i] = u_of_unit(pt[i]);
        if (refine(&pr, &fdf, b.w, u0, &b.mins[nm]) == 0) nm++;
    }
    r->best_from_start_point = -1;
    if (best_given >= 0) {
        /* ties within rounding (noiseless data end near 1e-25 of the data's
         * own sum of squares) go to the given start */
        double scale = 0;
        for (int k = 0; k < n; k++) {
            double re = creal(r->z[k]) * b.wre[k], im = cimag(r->z[k]) * b.wim[k];
            scale += re * re + im * im;
        }
        int better = 1;
        for (int i = o->n_start_points; i < nm; i++)
            if (b.mins[i].ssr < best_given_ssr * (1 - 1e-6) - 1e-18 * scale) better = 0;
        if (better) r->best_from_start_point = best_given;
    }
    if (nm == 0) {
        rc = eisnet_set_error("the fit found no finite solution in the box");
        goto done;
    }
    /* polish the best with geodesic acceleration, which follows the narrow
     * curved valleys (two nearly equal time constants) where plain
     * Levenberg-Marquardt crawls; used only here, as it costs more per step */
    {
        int ib = 0;
        for (int i = 1; i < nm; i++)
            if (b.mins[i].ssr < b.mins[ib].ssr) ib = i;
        double u0[EISNET_MAX_PARAMS];
        for (int i = 0; i < nf; i++) {
            double x = log(b.mins[ib].values[pr.free_idx[i]]);
            u0[i] = u_of_unit((x - pr.a[i]) / (pr.b[i] - pr.a[i]));
        }
        gsl_vector_view x0 = gsl_vector_view_array(u0, (size_t)nf);
        gsl_multifit_nlinear_init(&x0.vector, &fdf, b.wa);
        int info;
        gsl_multifit_nlinear_driver(LM_MAXITER, LM_XTOL, LM_GTOL, 0.0, NULL, NULL, &info, b.wa);
        (void)info;
        set_from_u(&pr, gsl_multifit_nlinear_position(b.wa)->data);
        double s2 = ssr_at(&pr);
        if (s2 < b.mins[ib].ssr) {
            memcpy(b.mins[ib].values, pr.p, sizeof b.mins[ib].values);
            b.mins[ib].ssr = s2;
        }
        b.mins[ib].converged = 1;
    }
    double sig2 = o->sigma > 0 ? o->sigma * o->sigma : 1.0;
    collect_solutions(r, m, b.mins, nm, 1.0 / sig2);
    double best_ssr = b.mins[0].ssr;
    memcpy(pr.p, r->solutions[0].values, sizeof pr.p);
    for (int j = 0; j < r->n_params; j++) {
        r->value[j] = pr.p[j];
        double x = log(pr.p[j]), a = log(r->lo[j]), bb = log(r->hi[j]);
        r->at_bound[j] = !r->known[j] && (x - a < 1e-6 * (bb - a) || bb - x < 1e-6 * (bb - a));
    }
    r->ssr = best_ssr;
    r->chi2 = best_ssr / sig2;
    r->chi2_reduced = r->chi2 / (N - nf);
    if (o->sigma > 0) {
        r->aic = r->chi2 + 2.0 * nf;
        r->bic = r->chi2 + nf * log((double)N);
    } else {
        double l = N * log(fmax(best_ssr, 1e-300) / N);
        r->aic = l + 2.0 * nf;
        r->bic = l + nf * log((double)N);
    }
    rc = statistics(r, &pr, best_ssr);
    eisnet_fit_model_eval(m, r->value, b.omega, n, r->zfit, NULL);
    for (int k = 0; k < n; k++) {
        double mod = cabs(r->z[k]);
        double complex d = r->zfit[k] - r->z[k];
        r->rel_re[k] = mod > 0 ? creal(d) / mod : NAN;
        r->rel_im[k] = mod > 0 ? cimag(d) / mod : NAN;
    }
    r->n_evals = pr.evals;
done:
    buffers_free(&b);
    eisnet_fit_model_free(m);
    eisnet_circuit_free(c);
    if (rc != 0) eisnet_fit_result_free(r);
    return rc;
}

#endif
