/* Impedance scaling of a model's box (see eisnet/scale.h). */
#include "eisnet/scale.h"

#include "eisnet/circuit.h"
#include "eisnet/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double level_of(const double complex *z, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += log(cabs(z[i]));
    return exp(s / n);
}

/* Index of the largest -Im(Z), or -1 when -Im(Z) is never positive. */
static int peak_of(const double complex *z, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (-cimag(z[i]) > 0 && (best < 0 || -cimag(z[i]) > -cimag(z[best]))) best = i;
    return best;
}

/* The box's corners (up to 2^12 of them) and centre: level and peak ranges. */
static int box_survey(const eisnet_grid *g, eisnet_scale *s, double *centre)
{
    const int P = g->n_params, F = g->n_freq;
    double complex *z = malloc(sizeof(double complex) * (size_t)F);
    if (!z) return eisnet_set_error("out of memory");
    for (int p = 0; p < P; p++) centre[p] = sqrt(g->lo[p] * g->hi[p]);
    eisnet_grid_spectrum(g, centre, z);
    s->level_centre = level_of(z, F);
    s->level_lo = s->level_hi = s->level_centre;
    int pk = peak_of(z, F);
    s->peak_lo = pk >= 0 ? g->freq[pk] : INFINITY;
    s->peak_hi = pk >= 0 ? g->freq[pk] : -INFINITY;
    const int bits = P < 12 ? P : 12;
    double v[EISNET_MAX_PARAMS];
    for (unsigned long c = 0; c < (1ul << bits); c++) {
        for (int p = 0; p < P; p++) v[p] = p < bits ? ((c >> p) & 1 ? g->hi[p] : g->lo[p]) : centre[p];
        eisnet_grid_spectrum(g, v, z);
        const double L = level_of(z, F);
        s->level_lo = fmin(s->level_lo, L);
        s->level_hi = fmax(s->level_hi, L);
        pk = peak_of(z, F);
        if (pk >= 0) {
            s->peak_lo = fmin(s->peak_lo, g->freq[pk]);
            s->peak_hi = fmax(s->peak_hi, g->freq[pk]);
        }
    }
    free(z);
    return 0;
}

/* Per-parameter factors (file order) for Z -> k Z, from the box centre (exact
 * for every element but La, whose factor depends on its exponent). */
static int factors(const eisnet_grid *g, const double *centre, double k, double *factor)
{
    const int P = g->n_params;
    double cc[EISNET_MAX_PARAMS] = {0}, sc[EISNET_MAX_PARAMS] = {0};
    for (int p = 0; p < P; p++) cc[g->circuit_index[p]] = centre[p];
    if (eisnet_circuit_scale_params(g->circuit, cc, k, sc) != 0) return -1;
    for (int p = 0; p < P; p++) factor[p] = sc[g->circuit_index[p]] / centre[p];
    return 0;
}

int eisnet_scale_choose(const eisnet_grid *g, const double complex *z, const double *values, const unsigned char *known,
                        double forced_k, eisnet_scale *s)
{
    if (!g || !z || !s || forced_k < 0 || !isfinite(forced_k)) return eisnet_set_error("eisnet_scale_choose: bad arguments");
    memset(s, 0, sizeof *s);
    const int F = g->n_freq, P = g->n_params;
    for (int i = 0; i < F; i++)
        if (!(cabs(z[i]) > 0) || !isfinite(cabs(z[i])))
            return eisnet_set_error("|Z| at %g Hz is %g: cannot find the impedance level", g->freq[i], cabs(z[i]));
    double centre[EISNET_MAX_PARAMS];
    if (box_survey(g, s, centre) != 0) return -1;
    s->level = level_of(z, F);
    int pk = peak_of(z, F);
    s->peak_f = pk >= 0 ? g->freq[pk] : 0;
    s->peak_at_edge = pk == 0 || pk == F - 1;
    if (forced_k > 0) {
        s->k = forced_k;
    } else {
        /* feasible log k: from the data's level, and from each known value
         * (its factor is k^e, e = +1 for R, -1 for C, 0 for exponents) */
        const double tol = 1e-9;
        double dlo = log(s->level / s->level_hi) - tol, dhi = log(s->level / s->level_lo) + tol;
        double klo = -INFINITY, khi = INFINITY, f10[EISNET_MAX_PARAMS];
        if (factors(g, centre, 10, f10) != 0) return -1;
        for (int p = 0; values && known && p < P; p++) {
            const double e = log10(f10[p]);
            if (!known[p] || fabs(e) < 1e-12) continue;
            double a = (log(values[p]) - log(g->hi[p])) / e, b = (log(values[p]) - log(g->lo[p])) / e;
            if (a > b) {
                double t = a;
                a = b;
                b = t;
            }
            klo = fmax(klo, a - tol);
            khi = fmin(khi, b + tol);
        }
        double lo = fmax(klo, dlo), hi = fmin(khi, dhi);
        if (lo > hi) { /* no k suits both: the known values set the units */
            s->level_mismatch = 1;
            lo = klo;
            hi = khi;
        }
        const double want = log(s->level / s->level_centre);
        double lk = (lo <= 0 && 0 <= hi) ? 0 : fmin(fmax(want, lo), hi);
        s->k = exp(lk);
    }
    return factors(g, centre, s->k, s->factor);
}

int eisnet_scale_grid(const eisnet_grid *g, const eisnet_scale *s, eisnet_grid *out)
{
    *out = *g;
    const size_t n = (size_t)g->n_params * g->n_grid;
    out->values = malloc(sizeof(double) * n);
    if (!out->values) return eisnet_set_error("out of memory");
    for (int p = 0; p < g->n_params; p++) {
        out->lo[p] = g->lo[p] * s->factor[p];
        out->hi[p] = g->hi[p] * s->factor[p];
        for (int i = 0; i < g->n_grid; i++)
            out->values[(size_t)p * g->n_grid + i] = g->values[(size_t)p * g->n_grid + i] * s->factor[p];
    }
    return 0;
}

void eisnet_scale_grid_free(eisnet_grid *g)
{
    free(g->values);
    g->values = NULL;
}

void eisnet_scale_describe(const eisnet_scale *s, char *buf, unsigned long cap)
{
    size_t k = 0;
    buf[0] = '\0';
    if (s->level_mismatch)
        k += (size_t)snprintf(buf + k, cap - k,
                              "the data's impedance level (%.3g Ω) does not match the known values: with them the "
                              "model's circuits have levels %.3g..%.3g Ω; check the units of --known and of the "
                              "data",
                              s->level, s->level_lo * s->k, s->level_hi * s->k);
    if (s->k != 1 && k < cap)
        k += (size_t)snprintf(buf + k, cap - k,
                              "%simpedance level %.3g Ω lies outside the model's %.3g..%.3g Ω: answered through exact "
                              "circuit scaling by k = %.4g (R, L x k; C, Q / k)",
                              k ? "; " : "", s->level, s->level_lo, s->level_hi, s->k);
    if (k >= cap) return;
    if (s->peak_f == 0)
        snprintf(buf + k, cap - k, "%s-Im(Z) is never positive on the model's band: the data show no capacitive arc "
                                   "there, outside what the model covers; check the sign convention (--im_sign) and "
                                   "the band",
                 k ? "; " : "");
    else if (s->peak_at_edge || s->peak_f < s->peak_lo * 0.999 || s->peak_f > s->peak_hi * 1.001)
        snprintf(buf + k, cap - k,
                 "%sthe data's time constants lie outside what the model covers: -Im(Z) peaks at %.3g Hz%s, the "
                 "model's circuits peak at %.3g..%.3g Hz; no impedance scale moves a time constant: train a model "
                 "whose ranges (R x C) or band (--f_min/--f_max) cover the data",
                 k ? "; " : "", s->peak_f, s->peak_at_edge ? " (the edge of the band: not resolved)" : "", s->peak_lo,
                 s->peak_hi);
}
