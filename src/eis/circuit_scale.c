/* Exact impedance scaling of circuits: every element formula is homogeneous
 * in one of its parameters, so Z -> k Z is reached by scaling that parameter
 * alone; series and parallel combinations of elements that all scale by k
 * scale by k too. */
#include "eisnet/circuit.h"
#include "eisnet/error.h"

#include <math.h>

double eisnet_element_scale_param(eisnet_element_kind kind, int slot, const double *p, double k)
{
    switch (kind) {
    case EISNET_EL_R:
    case EISNET_EL_L:
    case EISNET_EL_W: return k * p[0];
    case EISNET_EL_C: return p[0] / k;
    case EISNET_EL_CPE: return slot == 0 ? p[0] / k : p[1];          /* Z = 1/(Q (jw)^a) */
    case EISNET_EL_LA: return slot == 0 ? p[0] * pow(k, 1 / p[1]) : p[1]; /* Z = (L jw)^a */
    case EISNET_EL_WO:
    case EISNET_EL_WS:
    case EISNET_EL_G:
    case EISNET_EL_K:
    case EISNET_EL_ZARC: return slot == 0 ? k * p[0] : p[slot];      /* amplitude, then shape */
    }
    return NAN;
}

int eisnet_circuit_scale_params(const eisnet_circuit *c, const double *params, double k, double *out)
{
    if (!c || !params || !out || !(k > 0) || !isfinite(k)) return eisnet_set_error("eisnet_circuit_scale_params: bad arguments");
    const int n = eisnet_circuit_n_params(c);
    double tmp[EISNET_MAX_PARAMS];
    for (int i = 0; i < n; i++) {
        eisnet_element_kind kind;
        int slot;
        if (eisnet_circuit_param_kind(c, i, &kind, &slot) != 0) return -1;
        tmp[i] = eisnet_element_scale_param(kind, slot, params + (i - slot), k);
    }
    for (int i = 0; i < n; i++) out[i] = tmp[i];
    return 0;
}
