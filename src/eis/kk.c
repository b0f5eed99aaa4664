/* The linear Kramers-Kronig test (see eisnet/kk.h) and the small least
 * squares solver it needs. */
#include "eisnet/kk.h"

#include "eisnet/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TWO_PI 6.283185307179586476925

void eisnet_kk_options_default(eisnet_kk_options *o)
{
    memset(o, 0, sizeof *o);
    o->c = 0.5;
    o->max_M = 100;
    o->fit = EISNET_KK_REAL;
    o->threshold = 0.01;
}

int eisnet_lstsq(double *A, double *b, int m, int k, double *x)
{
    if (m < 1 || k < 1 || m < k) return eisnet_set_error("eisnet_lstsq: need m >= k >= 1 (got %d x %d)", m, k);
    int *perm = malloc((size_t)k * sizeof *perm);
    double *diag = malloc((size_t)k * sizeof *diag);
    if (!perm || !diag) {
        free(perm);
        free(diag);
        return eisnet_set_error("out of memory");
    }
    for (int j = 0; j < k; j++) perm[j] = j;
    int rank = 0;
    double first = 0;
    for (int j = 0; j < k; j++) {
        /* pivot: the remaining column with the largest norm below row j */
        int best = j;
        double bestn = -1;
        for (int c = j; c < k; c++) {
            double s = 0;
            for (int i = j; i < m; i++) s += A[(size_t)c * m + i] * A[(size_t)c * m + i];
            if (s > bestn) {
                bestn = s;
                best = c;
            }
        }
        if (best != j) {
            for (int i = 0; i < m; i++) {
                double t = A[(size_t)j * m + i];
                A[(size_t)j * m + i] = A[(size_t)best * m + i];
                A[(size_t)best * m + i] = t;
            }
            int t = perm[j];
            perm[j] = perm[best];
            perm[best] = t;
        }
        double norm = sqrt(bestn);
        if (j == 0) first = norm;
        if (!(norm > 1e-13 * first) || norm == 0) break;
        double *v = A + (size_t)j * m;
        double alpha = v[j] > 0 ? -norm : norm;
        v[j] -= alpha; /* v = x - alpha e_j, the Householder vector */
        double vv = 0;
        for (int i = j; i < m; i++) vv += v[i] * v[i];
        for (int c = j + 1; c < k; c++) {
            double *w = A + (size_t)c * m, d = 0;
            for (int i = j; i < m; i++) d += v[i] * w[i];
            d = 2 * d / vv;
            for (int i = j; i < m; i++) w[i] -= d * v[i];
        }
        double d = 0;
        for (int i = j; i < m; i++) d += v[i] * b[i];
        d = 2 * d / vv;
        for (int i = j; i < m; i++) b[i] -= d * v[i];
        diag[j] = alpha;
        rank = j + 1;
    }
    double *y = calloc((size_t)k, sizeof *y);
    if (!y) {
        free(perm);
        free(diag);
        return eisnet_set_error("out of memory");
    }
    for (int j = rank - 1; j >= 0; j--) {
        double s = b[j];
        for (int c = j + 1; c < rank; c++) s -= A[(size_t)c * m + j] * y[c];
        y[j] = s / diag[j];
    }
    for (int j = 0; j < k; j++) x[perm[j]] = y[j];
    free(y);
    free(perm);
    free(diag);
    return 0;
}

static void time_constants(const double *f, int n, int M, double *tau)
{
    double fmin = f[0], fmax = f[0];
    for (int i = 1; i < n; i++) {
        if (f[i] < fmin) fmin = f[i];
        if (f[i] > fmax) fmax = f[i];
    }
    const double tmin = 1 / (TWO_PI * fmax), tmax = 1 / (TWO_PI * fmin);
    for (int k = 0; k < M; k++) tau[k] = tmin * pow(tmax / tmin, M > 1 ? (double)k / (M - 1) : 1.0);
    tau[0] = M > 1 ? tmin : tmax;
    tau[M - 1] = tmax;
}

typedef struct {
    double r0, L, inv_c; /* series R, L and 1/C (0 without a capacitor) */
    double *R;
} kk_params;

static double complex model_z(const kk_params *p, const double *tau, int M, double w)
{
    double complex z = p->r0 + I * w * p->L - I * p->inv_c / w;
    for (int k = 0; k < M; k++) z += p->R[k] / (1 + I * w * tau[k]);
    return z;
}

/* Fits the parameters for M fixed time constants; 0 or -1. */
static int fit_once(const double *f, const double complex *z, int n, const double *tau, int M,
                    const eisnet_kk_options *o, kk_params *p)
{
    const int cap = o->add_cap ? 1 : 0;
    const int rows = o->fit == EISNET_KK_COMPLEX ? 2 * n : n;
    const int cols = M + 2 + cap; /* R0, R_1..R_M, [1/C], L */
    double *A = calloc((size_t)rows * cols, sizeof *A), *b = calloc((size_t)rows, sizeof *b);
    double *x = calloc((size_t)cols, sizeof *x);
    int rc = -1;
    if (!A || !b || !x) {
        eisnet_set_error("out of memory");
        goto out;
    }
    p->r0 = p->L = p->inv_c = 0;
    if (o->fit == EISNET_KK_REAL) {
        /* the R's from Re(Z) (the L and C columns have no real part) */
        for (int i = 0; i < n; i++) {
            const double w = TWO_PI * f[i], a = cabs(z[i]);
            A[i] = 1 / a;
            for (int k = 0; k < M; k++) A[(size_t)(k + 1) * n + i] = creal(1 / (1 + I * w * tau[k])) / a;
            b[i] = creal(z[i]) / a;
        }
        if (eisnet_lstsq(A, b, n, M + 1, x) != 0) goto out;
        p->r0 = x[0];
        memcpy(p->R, x + 1, (size_t)M * sizeof *x);
        /* then L (and 1/C) from what is left of Im(Z) */
        for (int i = 0; i < n; i++) {
            const double w = TWO_PI * f[i], a = cabs(z[i]);
            A[i] = w / a;
            if (cap) A[(size_t)n + i] = -1 / (w * a);
            b[i] = (cimag(z[i]) - cimag(model_z(p, tau, M, w))) / a;
        }
        if (eisnet_lstsq(A, b, n, 1 + cap, x) != 0) goto out;
        p->L = x[0];
        if (cap) p->inv_c = x[1];
    } else {
        const int im0 = o->fit == EISNET_KK_COMPLEX ? n : 0; /* first row of the imaginary block */
        for (int i = 0; i < n; i++) {
            const double w = TWO_PI * f[i], a = cabs(z[i]);
            if (o->fit == EISNET_KK_COMPLEX) {
                A[i] = 1 / a;
                b[i] = creal(z[i]) / a;
            }
            for (int k = 0; k < M; k++) {
                const double complex kz = 1 / (1 + I * w * tau[k]);
                if (o->fit == EISNET_KK_COMPLEX) A[(size_t)(k + 1) * rows + i] = creal(kz) / a;
                A[(size_t)(k + 1) * rows + im0 + i] = cimag(kz) / a;
            }
            if (cap) A[(size_t)(M + 1) * rows + im0 + i] = -1 / (w * a);
            A[(size_t)(M + 1 + cap) * rows + im0 + i] = w / a;
            b[im0 + i] = cimag(z[i]) / a;
        }
        if (o->fit == EISNET_KK_COMPLEX) {
            if (eisnet_lstsq(A, b, rows, cols, x) != 0) goto out;
        } else {
            /* Im(Z) carries no series resistance: fit without that column */
            if (eisnet_lstsq(A + rows, b, rows, cols - 1, x + 1) != 0) goto out;
            x[0] = 0;
        }
        p->r0 = x[0];
        memcpy(p->R, x + 1, (size_t)M * sizeof *x);
        if (cap) p->inv_c = x[M + 1];
        p->L = x[M + 1 + cap];
        if (o->fit == EISNET_KK_IMAG) {
            /* the series resistance as the 1/|Z|^2-weighted mean of what the
             * fitted elements leave of Re(Z) */
            double sw = 0, s = 0;
            for (int i = 0; i < n; i++) {
                const double wgt = 1 / (cabs(z[i]) * cabs(z[i]));
                s += wgt * (creal(z[i]) - creal(model_z(p, tau, M, TWO_PI * f[i])));
                sw += wgt;
            }
            p->r0 = s / sw;
        }
    }
    rc = 0;
out:
    free(A);
    free(b);
    free(x);
    return rc;
}

static double mu_of(const double *R, int M)
{
    double neg = 0, pos = 0;
    for (int k = 0; k < M; k++) {
        if (R[k] < 0) neg += -R[k];
        else pos += R[k];
    }
    return pos > 0 ? 1 - neg / pos : 1;
}

void eisnet_kk_result_free(eisnet_kk_result *r)
{
    if (!r) return;
    free(r->R);
    free(r->tau);
    free(r->z_fit);
    free(r->res_re);
    free(r->res_im);
    memset(r, 0, sizeof *r);
}

int eisnet_kk_test(const double *freq, const double complex *z, int n, const eisnet_kk_options *opt,
                   eisnet_kk_result *r)
{
    eisnet_kk_options d;
    if (!opt) {
        eisnet_kk_options_default(&d);
        opt = &d;
    }
    if (!r) return eisnet_set_error("eisnet_kk_test: NULL result");
    memset(r, 0, sizeof *r);
    if (!freq || !z || n < 3) return eisnet_set_error("the Kramers-Kronig test needs at least 3 points (got %d)", n);
    if (opt->max_M < 1) return eisnet_set_error("max_M must be >= 1 (got %d)", opt->max_M);
    if (!(opt->threshold > 0)) return eisnet_set_error("the residual threshold must be > 0 (got %g)", opt->threshold);
    if (!isfinite(opt->c)) return eisnet_set_error("the mu cutoff c must be a finite number");
    for (int i = 0; i < n; i++) {
        if (!(freq[i] > 0) || !isfinite(freq[i]))
            return eisnet_set_error("point %d: frequency %g is not a finite number > 0", i + 1, freq[i]);
        if (!isfinite(creal(z[i])) || !isfinite(cimag(z[i])) || cabs(z[i]) == 0)
            return eisnet_set_error("point %d (%g Hz): Z must be finite and non-zero", i + 1, freq[i]);
    }
    /* no more RC elements than the points can determine */
    int maxM = opt->max_M;
    const int cap = opt->add_cap ? 1 : 0;
    const int by_points = opt->fit == EISNET_KK_REAL ? n - 1 : opt->fit == EISNET_KK_IMAG ? n - 1 - cap : 2 * n - 2 - cap;
    if (by_points < 1) return eisnet_set_error("too few points (%d) for the Kramers-Kronig test", n);
    if (maxM > by_points) maxM = by_points;
    r->n = n;
    r->R = calloc((size_t)maxM, sizeof *r->R);
    r->tau = calloc((size_t)maxM, sizeof *r->tau);
    r->z_fit = calloc((size_t)n, sizeof *r->z_fit);
    r->res_re = calloc((size_t)n, sizeof *r->res_re);
    r->res_im = calloc((size_t)n, sizeof *r->res_im);
    if (!r->R || !r->tau || !r->z_fit || !r->res_re || !r->res_im) {
        eisnet_kk_result_free(r);
        return eisnet_set_error("out of memory");
    }
    kk_params p = {0, 0, 0, r->R};
    double mu = 1;
    int M = 0;
    while (M < maxM && (M == 0 || mu > opt->c)) {
        M++;
        time_constants(freq, n, M, r->tau);
        if (fit_once(freq, z, n, r->tau, M, opt, &p) != 0) {
            eisnet_kk_result_free(r);
            return -1;
        }
        mu = mu_of(r->R, M);
    }
    r->M = M;
    r->mu = mu;
    r->mu_reached = mu <= opt->c;
    r->r_ohm = p.r0;
    r->L = p.L;
    r->C = p.inv_c != 0 ? 1 / p.inv_c : 0;
    double ss = 0;
    r->fail_f_lo = INFINITY;
    r->fail_f_hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        r->z_fit[i] = model_z(&p, r->tau, M, TWO_PI * freq[i]);
        const double complex e = (z[i] - r->z_fit[i]) / cabs(z[i]);
        r->res_re[i] = creal(e);
        r->res_im[i] = cimag(e);
        const double big = fmax(fabs(creal(e)), fabs(cimag(e)));
        if (big > r->max_res) {
            r->max_res = big;
            r->worst = i;
        }
        ss += creal(e) * creal(e) + cimag(e) * cimag(e);
        if (big > opt->threshold) {
            r->n_fail++;
            r->fail_f_lo = fmin(r->fail_f_lo, freq[i]);
            r->fail_f_hi = fmax(r->fail_f_hi, freq[i]);
        }
    }
    r->rms_res = sqrt(ss / (2.0 * n));
    r->pass = r->n_fail == 0;
    return 0;
}

void eisnet_kk_verdict(const eisnet_kk_result *r, const eisnet_kk_options *o, const double *freq, char *buf,
                       unsigned long cap)
{
    double fmin = freq[0], fmax = freq[0];
    for (int i = 1; i < r->n; i++) {
        fmin = fmin < freq[i] ? fmin : freq[i];
        fmax = fmax > freq[i] ? fmax : freq[i];
    }
    if (r->pass) {
        snprintf(buf, cap, "pass: every residual is within %.3g%% of |Z| (largest %.3g%% at %.4g Hz)%s",
                 100 * o->threshold, 100 * r->max_res, freq[r->worst],
                 r->mu_reached ? "" : "; mu did not reach c by max_M, so the fit may be underdetermined");
        return;
    }
    const char *hint = "";
    if (r->fail_f_lo <= fmin * 1.0000001 && !o->add_cap)
        hint = "; residuals at the lowest frequencies: with no low-frequency intercept (e.g. diffusion), retry with "
               "--add_cap; otherwise the system drifted (not stationary) there, crop it with --f_min";
    else if (r->fail_f_hi >= fmax * 0.9999999)
        hint = "; residuals at the highest frequencies: cable or instrument artefacts, crop with --f_max or "
               "--drop_inductive";
    else if (r->fail_f_lo <= fmin * 1.0000001)
        hint = "; residuals at the lowest frequencies: the system drifted (not stationary) there, crop with --f_min";
    snprintf(buf, cap,
             "fail: %d of %d points have a residual above %.3g%% of |Z| (largest %.3g%% at %.4g Hz), between %.4g "
             "and %.4g Hz: the data there are not Kramers-Kronig consistent%s",
             r->n_fail, r->n, 100 * o->threshold, 100 * r->max_res, freq[r->worst], r->fail_f_lo, r->fail_f_hi, hint);
}

void eisnet_kk_eval(const eisnet_kk_result *r, const double *freq, int n, double complex *z)
{
    kk_params p = {r->r_ohm, r->L, r->C != 0 ? 1 / r->C : 0, r->R};
    for (int i = 0; i < n; i++) z[i] = model_z(&p, r->tau, r->M, TWO_PI * freq[i]);
}
