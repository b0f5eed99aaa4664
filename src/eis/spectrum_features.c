/* The network's spectrum features (eisnet/spectrum.h). */
#include "eisnet/spectrum.h"

#include "fastmath.h"

#include <complex.h>
#include <math.h>

void eisnet_spectrum_raw_features(const double complex *z, int n_freq, float *out)
{
    /* log10|Z| (from |Z|^2: it cannot overflow for an impedance) and the
     * phase, in chunks through the vectorised array functions: the
     * simulator calls this for every training example */
    enum { CHUNK = 64 };
    double re[CHUNK], im[CHUNK], mag[CHUNK], ph[CHUNK];
    for (int f0 = 0; f0 < n_freq; f0 += CHUNK) {
        const int m = n_freq - f0 < CHUNK ? n_freq - f0 : CHUNK;
        for (int f = 0; f < m; f++) {
            re[f] = creal(z[f0 + f]);
            im[f] = cimag(z[f0 + f]);
        }
        eisnet_log10_abs_array(re, im, mag, m);
        eisnet_atan2_array(im, re, ph, m);
        for (int f = 0; f < m; f++) {
            out[2 * (f0 + f)] = (float)mag[f];
            out[2 * (f0 + f) + 1] = (float)ph[f];
        }
    }
}
