/* eisnet/simulate.h: the simulator behind training by simulation and
 * `eisnet evaluate`, and the grid cells that a posterior is reported over.
 *
 * Noise model: relative complex Gaussian,
 *     Z_meas(w) = Z(theta, w) * (1 + sigma * (n1 + i n2)),  n1, n2 ~ N(0, 1)
 * independently per frequency. Prior: log-uniform inside each parameter's
 * range, independently per parameter.
 *
 * Cells: cell c of parameter p is the log10-interval [g_c - h, g_c + h]
 * around grid value g_c, h = half the log spacing of the grid, clipped to
 * the range (so the first and last cells are half as wide). The cell that
 * holds a truth is the label the network learns; the cell posterior is the
 * probability of each cell given the spectrum and the known values. */
#ifndef EISNET_SIMULATE_H
#define EISNET_SIMULATE_H

#include "eisnet/grid.h"
#include "eisnet/rng.h"

#include <complex.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Index of the cell of parameter p (file order) that holds value; values
 * outside the range map to the first or last cell. */
int eisnet_grid_cell(const eisnet_grid *g, int p, double value);

/* Lower and upper edge (values, not logs) of cell c of parameter p. */
void eisnet_grid_cell_bounds(const eisnet_grid *g, int p, int c, double *lo, double *hi);

/* A truth drawn from the prior: values[n_params], file order. */
void eisnet_sim_draw_truth(const eisnet_grid *g, eisnet_rng *r, double *values);

/* A mask of known parameters, bit p set when parameter p is known: uniform
 * over the 2^n_params - 1 subsets that leave at least one parameter
 * missing, except that a mask with more than `many` missing is kept only
 * with probability `weight` (in (0, 1]; redrawn otherwise), so such masks
 * come `weight` times as often as each of the others. weight 1 draws one
 * number: eisnet_rng_below(r, 2^n_params - 1). n_params at most 62. */
uint64_t eisnet_sim_draw_mask(eisnet_rng *r, int n_params, int many, double weight);

/* out[k] = z[k] * (1 + sigma (n1 + i n2)); out may equal z. Draws 2n normals
 * in the order n1(0), n2(0), n1(1), ... */
void eisnet_sim_add_noise(eisnet_rng *r, double sigma, const double complex *z, int n,
                          double complex *out);

/* One simulation: a truth from the prior (values), the cell of each value
 * (cells, may be NULL), and its spectrum on the grid's frequencies with
 * noise sigma (z, n_freq values; sigma 0 gives the noiseless spectrum). */
void eisnet_simulate(const eisnet_grid *g, eisnet_rng *r, double sigma, double *values, int *cells,
                     double complex *z);

#ifdef __cplusplus
}
#endif
#endif
