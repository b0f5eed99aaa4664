/* eisnet/grid.h: the parameter space of a circuit: names, ranges, log grids
 * and the measurement frequencies.
 *
 * Parameters are kept in "file order": for the presets Rsh, Ra, Rb, Ca, Cb
 * (the reference's order in every file), for any other circuit the circuit's
 * own order. circuit_index[] maps file order to the circuit's order. */
#ifndef EISNET_GRID_H
#define EISNET_GRID_H

#include "eisnet/circuit.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EISNET_NAME_MAX 32

/* The grid unless told otherwise (eisnet_grid_options_default; the command
 * line's help prints the same). */
#define EISNET_GRID_CIRCUIT "series"
#define EISNET_GRID_POINTS 12
#define EISNET_GRID_N_FREQ 50
#define EISNET_GRID_F_MIN 1
#define EISNET_GRID_F_MAX 1e6

typedef enum { EISNET_KERNEL_GENERIC, EISNET_KERNEL_SERIES_RC2, EISNET_KERNEL_PARALLEL_RC2 } eisnet_kernel_kind;

typedef struct {
    const char *circuit;      /* preset name ("series", "parallel") or circuit string; NULL = "series" */
    const char *const *ranges; /* "NAME=MIN:MAX" strings (display or circuit names) */
    int n_ranges;
    int n_grid;               /* points per parameter (12) */
    int n_freq;               /* frequencies (50) */
    double f_min, f_max;      /* Hz (1, 1e6) */
} eisnet_grid_options;

typedef struct {
    eisnet_circuit *circuit;
    char preset[16];                        /* "series", "parallel" or "" */
    eisnet_kernel_kind kernel;
    int n_params;
    char names[EISNET_MAX_PARAMS][EISNET_NAME_MAX];  /* display names, file order */
    char units[EISNET_MAX_PARAMS][8];       /* "Ω", "F", "H" or "" */
    int circuit_index[EISNET_MAX_PARAMS];   /* file order -> circuit order */
    double lo[EISNET_MAX_PARAMS], hi[EISNET_MAX_PARAMS];
    int n_grid;
    double *values;                         /* n_params x n_grid, file order */
    uint64_t n_models;                      /* n_grid ^ n_params */
    int n_freq;
    double f_min, f_max;
    double *freq;                           /* Hz */
    double *omega;                          /* 2 pi f */
} eisnet_grid;

void eisnet_grid_options_default(eisnet_grid_options *o);

/* Builds the grid. Returns 0, or -1 with a message (bad circuit, missing or
 * malformed range, bad counts). */
int eisnet_grid_init(eisnet_grid *g, const eisnet_grid_options *o);
void eisnet_grid_free(eisnet_grid *g);

/* Options that rebuild g exactly (same circuit, ranges, sizes); the range
 * strings live in rs. */
typedef struct {
    char text[EISNET_MAX_PARAMS][EISNET_NAME_MAX + 64];
    const char *ptr[EISNET_MAX_PARAMS];
} eisnet_range_strings;
void eisnet_grid_options_of(const eisnet_grid *g, eisnet_grid_options *o, eisnet_range_strings *rs);

/* numpy.logspace(log10(lo), log10(hi), n) exactly as numpy computes it. */
void eisnet_logspace(double *out, double lo, double hi, int n);

/* Index of a parameter by display name or circuit name (case-sensitive), or -1. */
int eisnet_grid_find_param(const eisnet_grid *g, const char *name);

/* Grid indices of a model (file order, the last parameter fastest). */
void eisnet_grid_model_indices(const eisnet_grid *g, uint64_t model, int *idx);
/* Parameter values of a model, file order. */
void eisnet_grid_model_values(const eisnet_grid *g, uint64_t model, double *values);

/* Spectrum of a parameter vector given in file order. */
void eisnet_grid_spectrum(const eisnet_grid *g, const double *values, double complex *z);

#ifdef __cplusplus
}
#endif
#endif
