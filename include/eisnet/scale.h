/* eisnet/scale.h: serving spectra of any impedance level with a model
 * trained on one box of parameters, through the exact scaling of circuits:
 * if Z(p) is the model's circuit at parameters p, then k Z(p) = Z(p') with
 * p' = scale(p, k) (R, L -> k R, k L; C, CPE Q -> C/k, Q/k; exponents and
 * time constants unchanged; see eisnet_element_scale_param). A spectrum k
 * times the box's level is divided by k, read by the model, and every answer
 * is mapped back with the same rule.
 *
 * The check also compares the data's characteristic frequency (the peak of
 * -Im(Z)) with those of the box, because no impedance scale moves a time
 * constant. */
#ifndef EISNET_SCALE_H
#define EISNET_SCALE_H

#include "eisnet/grid.h"

#include <complex.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double k;                          /* data = k x box; 1 when no scaling */
    double level;                      /* geometric mean of |Z| of the data */
    double level_lo, level_hi;         /* the box's levels (corners and centre) */
    double level_centre;
    double peak_f;                     /* Hz where -Im(Z) of the data peaks; 0 if it never is > 0 */
    int peak_at_edge;                  /* the peak is the first or last point (not resolved) */
    double peak_lo, peak_hi;           /* Hz: peaks of the box's corners and centre */
    int level_mismatch;                /* the known values and the data's level ask for different k */
    double factor[EISNET_MAX_PARAMS];  /* file order: value in data units = factor x value in the box */
} eisnet_scale;

/* z: the data on the grid's frequencies; values/known (file order, may be
 * NULL): the known parameters in the data's units. forced_k > 0 uses that
 * factor; forced_k = 0 chooses k so that the known values fall inside the
 * scaled box and the data's level inside the scaled box's levels: 1 when that
 * holds unscaled, else the factor nearest the ratio of the data's level to the
 * box centre's. When no k satisfies both, the known values decide and
 * level_mismatch is set. Returns 0 or -1. */
int eisnet_scale_choose(const eisnet_grid *g, const double complex *z, const double *values, const unsigned char *known,
                        double forced_k, eisnet_scale *s);

/* A copy of g whose grid values are in the data's units (values x factor);
 * free with eisnet_grid_free_values. The circuit pointer is shared, not
 * owned. */
int eisnet_scale_grid(const eisnet_grid *g, const eisnet_scale *s, eisnet_grid *out);
void eisnet_scale_grid_free(eisnet_grid *g);

/* One line: what the scale check found and, when the data fall outside what
 * the model covers, what to do. "" when there is nothing to say. */
void eisnet_scale_describe(const eisnet_scale *s, char *buf, unsigned long cap);

#ifdef __cplusplus
}
#endif
#endif
