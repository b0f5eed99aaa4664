/* Simulated measurements: truths from the log-uniform prior, relative
 * complex Gaussian noise, and the grid cells that label them. */
#include "eisnet/simulate.h"

#include <math.h>

/* Log10 step between neighbouring grid values of parameter p (0 for a
 * one-point grid). */
static double log_step(const eisnet_grid *g, int p)
{
    if (g->n_grid < 2) return 0.0;
    return (log10(g->hi[p]) - log10(g->lo[p])) / (double)(g->n_grid - 1);
}

int eisnet_grid_cell(const eisnet_grid *g, int p, double value)
{
    double step = log_step(g, p);
    if (step <= 0.0 || !(value > 0.0)) return 0;
    double pos = (log10(value) - log10(g->lo[p])) / step;
    if (!(pos > 0.0)) return 0; /* also catches NaN */
    if (pos >= (double)(g->n_grid - 1)) return g->n_grid - 1;
    /* round half up: a value exactly on a cell edge belongs to the upper cell */
    return (int)floor(pos + 0.5);
}

void eisnet_grid_cell_bounds(const eisnet_grid *g, int p, int c, double *lo, double *hi)
{
    double step = log_step(g, p);
    double l0 = log10(g->lo[p]), l1 = log10(g->hi[p]);
    double centre = l0 + (double)c * step;
    double a = centre - 0.5 * step, b = centre + 0.5 * step;
    if (a < l0) a = l0;
    if (b > l1) b = l1;
    *lo = (c == 0) ? g->lo[p] : pow(10.0, a);
    *hi = (c == g->n_grid - 1) ? g->hi[p] : pow(10.0, b);
}

void eisnet_sim_draw_truth(const eisnet_grid *g, eisnet_rng *r, double *values)
{
    for (int p = 0; p < g->n_params; p++) {
        double l0 = log10(g->lo[p]), l1 = log10(g->hi[p]);
        values[p] = pow(10.0, l0 + (l1 - l0) * eisnet_rng_uniform(r));
    }
}

uint64_t eisnet_sim_draw_mask(eisnet_rng *r, int n_params, int many, double weight)
{
    for (;;) {
        uint64_t bits = eisnet_rng_below(r, (1ULL << n_params) - 1);
        int missing = 0;
        for (int p = 0; p < n_params; p++) missing += !((bits >> p) & 1u);
        if (missing <= many || weight >= 1 || eisnet_rng_uniform(r) < weight) return bits;
    }
}

void eisnet_sim_add_noise(eisnet_rng *r, double sigma, const double complex *z, int n,
                          double complex *out)
{
    for (int k = 0; k < n; k++) {
        double n1 = eisnet_rng_normal(r);
        double n2 = eisnet_rng_normal(r);
        out[k] = z[k] * (1.0 + sigma * n1 + I * (sigma * n2));
    }
}

void eisnet_simulate(const eisnet_grid *g, eisnet_rng *r, double sigma, double *values, int *cells,
                     double complex *z)
{
    eisnet_sim_draw_truth(g, r, values);
    if (cells)
        for (int p = 0; p < g->n_params; p++) cells[p] = eisnet_grid_cell(g, p, values[p]);
    eisnet_grid_spectrum(g, values, z);
    if (sigma > 0.0) eisnet_sim_add_noise(r, sigma, z, g->n_freq, z);
}
