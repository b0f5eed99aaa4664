/* eisnet/circuit.h: equivalent circuits in impedance.py's syntax.
 *
 *   "R0-p(R1,C1)-p(R2,C2)"   '-' joins elements in series, p(a,b,...) in parallel
 *
 * An element is letters followed by a number or "_number" (R0, CPE1, Wo_2); the
 * letters select its formula. Parameters are numbered in the order they appear
 * in the string; an element with several parameters names them "Wo1_0", "Wo1_1". */
#ifndef EISNET_CIRCUIT_H
#define EISNET_CIRCUIT_H

#include <complex.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EISNET_MAX_PARAMS 32

typedef enum {
    EISNET_EL_R, EISNET_EL_C, EISNET_EL_L, EISNET_EL_W, EISNET_EL_WO, EISNET_EL_WS,
    EISNET_EL_CPE, EISNET_EL_LA, EISNET_EL_G, EISNET_EL_K, EISNET_EL_ZARC
} eisnet_element_kind;

typedef struct eisnet_circuit eisnet_circuit;

/* Parses a circuit string. On error returns NULL and sets a message naming
 * the position of the problem ("circuit 'R0-p(R1' at position 8: ..."). */
eisnet_circuit *eisnet_circuit_parse(const char *text);
void eisnet_circuit_free(eisnet_circuit *c);

const char *eisnet_circuit_text(const eisnet_circuit *c);
int eisnet_circuit_n_params(const eisnet_circuit *c);
/* impedance.py's parameter name ("R0", "Wo1_0"). */
const char *eisnet_circuit_param_name(const eisnet_circuit *c, int i);
/* Structure with element numbers dropped, e.g. "R-p(R,C)-p(R,C)"; used to
 * recognise circuits that have a fast resnorm kernel. */
const char *eisnet_circuit_shape(const eisnet_circuit *c);

/* Z(omega) for every omega (rad/s); params in circuit order. */
void eisnet_circuit_eval(const eisnet_circuit *c, const double *params,
                         const double *omega, size_t n, double complex *z);

/* One element's impedance at angular frequency omega. */
double complex eisnet_element_z(eisnet_element_kind kind, const double *p, double omega);
/* Number of parameters of an element, or -1 for an unknown name; *kind set. */
int eisnet_element_lookup(const char *letters, size_t len, eisnet_element_kind *kind);

/* The element of circuit parameter i and its slot within the element (0 for
 * R, 1 for a CPE's exponent). Returns 0, or -1 for an index out of range. */
int eisnet_circuit_param_kind(const eisnet_circuit *c, int i, eisnet_element_kind *kind, int *slot);

/* Exact impedance scaling: the value that parameter `slot` of an element takes
 * so that the element's impedance becomes k times what it was at every
 * frequency (p: the element's parameters, k > 0). R, L, W, Wo/Ws Z0, G's and
 * K's and Zarc's R scale by k; C and CPE Q by 1/k; La's L by k^(1/alpha);
 * exponents and time constants do not change. */
double eisnet_element_scale_param(eisnet_element_kind kind, int slot, const double *p, double k);

/* All parameters (circuit order) of a circuit scaled so that Z -> k Z.
 * out may equal params. Returns 0 or -1. */
int eisnet_circuit_scale_params(const eisnet_circuit *c, const double *params, double k, double *out);

#ifdef __cplusplus
}
#endif
#endif
