/* The box a fit searches when the user gives no range, derived from the data.
 *
 * Let zmin, zmax be the smallest and largest |Z| of the spectrum and
 * wmin, wmax = 2 pi fmin, 2 pi fmax its angular frequency band. An element
 * matters to the fit when its impedance is comparable to the spectrum's
 * somewhere in the band, and a time constant matters when it falls near the
 * band, so with the impedance window [zlo, zhi] = [zmin / 1e4, 10 zmax]
 * (wide below: a small arc on a large series resistance, 0.1 % of |Z|, is
 * still plain in a clean spectrum)
 * and the time window [tlo, thi] = [1 / (10 wmax), 10 / wmin]:
 *   resistances (R, Wo/Ws Z0, G R_G, K R, Zarc R):  [zlo, zhi]
 *   C:    |Z| = 1 / (w C)          -> [1 / (zhi wmax), 1 / (zlo wmin)]
 *   L:    |Z| = w L                -> [zlo / wmax, zhi / wmin]
 *   W:    |Z| = sqrt(2) Aw / sqrt(w) -> [zlo sqrt(wmin), zhi sqrt(wmax)]
 *   CPE Q:  |Z| = 1 / (Q w^a), a in [0.3, 1]: Q over every (w, a) of the band
 *   La L: as L; time constants (G t_G, K tau, Zarc tau): [tlo, thi]
 *   Wo/Ws tau: [tlo, 10 thi], since a finite-length diffusion shows in the
 *     band through its low-frequency tail even when tau lies beyond it
 *   exponents (CPE a, La a, Zarc gamma): [0.3, 1]. */
#include "eisnet/fit.h"

#include <math.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define EXP_LO 0.3
#define EXP_HI 1.0

/* The element kind of parameter j from its name ("Wo1_0" -> Wo, index 0). */
static int param_kind(const eisnet_circuit *c, int j, eisnet_element_kind *kind, int *sub)
{
    const char *name = eisnet_circuit_param_name(c, j);
    size_t len = 0;
    while ((name[len] >= 'A' && name[len] <= 'Z') || (name[len] >= 'a' && name[len] <= 'z')) len++;
    int np = eisnet_element_lookup(name, len, kind);
    if (np < 0) return -1;
    *sub = 0;
    if (np > 1) {
        const char *u = strrchr(name, '_');
        *sub = u ? u[1] - '0' : 0;
    }
    return 0;
}

void eisnet_fit_default_box(const eisnet_circuit *c, int j, const double *freq, const double complex *z, int n,
                            double *lo, double *hi)
{
    double zmin = INFINITY, zmax = 0, flo = INFINITY, fhi = 0;
    for (int k = 0; k < n; k++) {
        double a = cabs(z[k]);
        if (a > 0 && a < zmin) zmin = a;
        if (a > zmax) zmax = a;
        if (freq[k] < flo) flo = freq[k];
        if (freq[k] > fhi) fhi = freq[k];
    }
    if (!(zmax > 0)) zmin = zmax = 1;
    double wmin = 2 * M_PI * flo, wmax = 2 * M_PI * fhi;
    double zlo = zmin / 1e4, zhi = 10 * zmax, tlo = 1 / (10 * wmax), thi = 10 / wmin;
    eisnet_element_kind kind;
    int sub;
    *lo = zlo;
    *hi = zhi;
    if (param_kind(c, j, &kind, &sub) != 0) return;
    switch (kind) {
    case EISNET_EL_R: break;
    case EISNET_EL_C:
        *lo = 1 / (zhi * wmax);
        *hi = 1 / (zlo * wmin);
        break;
    case EISNET_EL_L:
        *lo = zlo / wmax;
        *hi = zhi / wmin;
        break;
    case EISNET_EL_W:
        *lo = zlo * sqrt(wmin);
        *hi = zhi * sqrt(wmax);
        break;
    case EISNET_EL_CPE:
        if (sub == 0) {
            /* w^a is monotone in w and in a, so its extremes sit at the corners */
            double c1 = pow(wmin, EXP_LO), c2 = pow(wmin, EXP_HI), c3 = pow(wmax, EXP_LO), c4 = pow(wmax, EXP_HI);
            double pmin = fmin(fmin(c1, c2), fmin(c3, c4)), pmax = fmax(fmax(c1, c2), fmax(c3, c4));
            *lo = 1 / (zhi * pmax);
            *hi = 1 / (zlo * pmin);
        } else {
            *lo = EXP_LO;
            *hi = EXP_HI;
        }
        break;
    case EISNET_EL_LA:
        if (sub == 0) {
            *lo = zlo / wmax;
            *hi = zhi / wmin;
        } else {
            *lo = EXP_LO;
            *hi = EXP_HI;
        }
        break;
    case EISNET_EL_WO:
    case EISNET_EL_WS:
        if (sub == 1) {
            *lo = tlo;
            *hi = 10 * thi;
        }
        break;
    case EISNET_EL_G:
    case EISNET_EL_K:
        if (sub == 1) {
            *lo = tlo;
            *hi = thi;
        }
        break;
    case EISNET_EL_ZARC:
        if (sub == 1) {
            *lo = tlo;
            *hi = thi;
        } else if (sub == 2) {
            *lo = EXP_LO;
            *hi = EXP_HI;
        }
        break;
    }
}
