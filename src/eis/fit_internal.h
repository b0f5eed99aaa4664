/* Shared between the fit's source files (not a public header). */
#ifndef EISNET_FIT_INTERNAL_H
#define EISNET_FIT_INTERNAL_H

#include "eisnet/fit.h"

/* Checks the data and options, sorts the data into r (freq, z; zfit and the
 * residual arrays allocated), names the parameters, parses --known into
 * values[] (NaN for free ones) and sets the box. Returns 0 or -1 with the
 * error set; *circuit is set (or NULL) either way and belongs to the caller. */
int fit_setup(const double *freq, const double complex *z, int n, const eisnet_fit_options *o, eisnet_fit_result *r,
              eisnet_circuit **circuit, double *values);

/* Index of a parameter by display or circuit name (exact, then ignoring case), or -1. */
int fit_find_param(const eisnet_fit_result *r, const eisnet_circuit *c, const char *name);

#endif
