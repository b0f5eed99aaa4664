/* The network's spectrum features (eisnet/spectrum.h). */
#include "eisnet/spectrum.h"

#include <complex.h>
#include <math.h>

void eisnet_spectrum_raw_features(const double complex *z, int n_freq, float *out)
{
    for (int f = 0; f < n_freq; f++) {
        /* log10|Z| without the hypot: |Z|^2 of an impedance cannot overflow */
        out[2 * f] = (float)(0.5 * log10(creal(z[f]) * creal(z[f]) + cimag(z[f]) * cimag(z[f])));
        out[2 * f + 1] = (float)carg(z[f]);
    }
}
