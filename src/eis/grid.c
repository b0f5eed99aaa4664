/* Parameter space: presets, ranges, log grids, frequencies. */
#include "eisnet/grid.h"
#include "eisnet/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define PRESET_SERIES "R0-p(R1,C1)-p(R2,C2)"
#define PRESET_PARALLEL "p(R0,p(R1,C1)-p(R2,C2))"

void eisnet_grid_options_default(eisnet_grid_options *o)
{
    memset(o, 0, sizeof *o);
    o->circuit = "series";
    o->n_grid = 12;
    o->n_freq = 50;
    o->f_min = 1.0;
    o->f_max = 1e6;
}

void eisnet_logspace(double *out, double lo, double hi, int n)
{
    /* numpy: y = arange(n) * ((stop - start) / (n - 1)) + start; y[-1] = stop; 10 ** y */
    double start = log10(lo), stop = log10(hi);
    if (n == 1) {
        out[0] = pow(10.0, start);
        return;
    }
    double step = (stop - start) / (double)(n - 1);
    for (int i = 0; i < n; i++) {
        double y = (step == 0.0) ? ((double)i / (double)(n - 1)) * (stop - start) + start : (double)i * step + start;
        if (i == n - 1) y = stop;
        out[i] = pow(10.0, y);
    }
}

static int parse_double_strict(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int eisnet_grid_find_param(const eisnet_grid *g, const char *name)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->names[i], name) == 0) return i;
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(eisnet_circuit_param_name(g->circuit, g->circuit_index[i]), name) == 0) return i;
    return -1;
}

static const char *unit_of(const char *circuit_name)
{
    /* the element's letters, then the parameter's slot ("Wo1_0": slot 0) */
    size_t n = 0;
    while (circuit_name[n] >= 'A' && circuit_name[n] <= 'z' && circuit_name[n] != '_') n++;
    const char *us = strrchr(circuit_name, '_');
    const int slot = (us && us > circuit_name + n) ? atoi(us + 1) : 0;
    if (n == 1) {
        switch (circuit_name[0]) {
        case 'R': return "\xce\xa9";
        case 'C': return "F";
        case 'L': return "H";
        case 'W': return "\xce\xa9/\xe2\x88\x9as"; /* Warburg coefficient: ohm per square root of a second */
        case 'G': return slot == 0 ? "\xce\xa9" : "s";
        case 'K': return slot == 0 ? "\xce\xa9" : "s";
        default: return "";
        }
    }
    if (n == 2 && circuit_name[0] == 'W') return slot == 0 ? "\xce\xa9" : "s"; /* Wo, Ws: Z0, tau */
    if (n == 3 && strncmp(circuit_name, "CPE", 3) == 0) return slot == 0 ? "S\xc2\xb7s^\xce\xb1" : "";
    if (n == 4 && strncmp(circuit_name, "Zarc", 4) == 0) return slot == 0 ? "\xce\xa9" : slot == 1 ? "s" : "";
    return "";
}

int eisnet_grid_init(eisnet_grid *g, const eisnet_grid_options *o)
{
    memset(g, 0, sizeof *g);
    const char *text = o->circuit ? o->circuit : "series";
    int preset = 0;
    if (strcmp(text, "series") == 0) {
        text = PRESET_SERIES;
        snprintf(g->preset, sizeof g->preset, "series");
        preset = 1;
    } else if (strcmp(text, "parallel") == 0) {
        text = PRESET_PARALLEL;
        snprintf(g->preset, sizeof g->preset, "parallel");
        preset = 1;
    }
    if (o->n_grid < 2 || o->n_grid > 99)
        return eisnet_set_error("grid points must be between 2 and 99 (got %d)", o->n_grid);
    if (o->n_freq < 1 || o->n_freq > 100000)
        return eisnet_set_error("number of frequencies must be between 1 and 100000 (got %d)", o->n_freq);
    if (!(o->f_min > 0) || !(o->f_max > 0) || !isfinite(o->f_min) || !isfinite(o->f_max) ||
        (o->n_freq > 1 && !(o->f_max > o->f_min)))
        return eisnet_set_error("frequency range must satisfy 0 < f_min < f_max (got %g to %g)", o->f_min, o->f_max);
    g->circuit = eisnet_circuit_parse(text);
    if (!g->circuit) return -1;
    g->n_params = eisnet_circuit_n_params(g->circuit);
    const char *shape = eisnet_circuit_shape(g->circuit);
    if (strcmp(shape, "R-p(R,C)-p(R,C)") == 0) g->kernel = EISNET_KERNEL_SERIES_RC2;
    else if (strcmp(shape, "p(R,p(R,C)-p(R,C))") == 0) g->kernel = EISNET_KERNEL_PARALLEL_RC2;
    else g->kernel = EISNET_KERNEL_GENERIC;

    if (preset) {
        static const char *names[5] = {"Rsh", "Ra", "Rb", "Ca", "Cb"};
        static const int index[5] = {0, 1, 3, 2, 4};
        for (int i = 0; i < 5; i++) {
            snprintf(g->names[i], EISNET_NAME_MAX, "%s", names[i]);
            g->circuit_index[i] = index[i];
            g->lo[i] = i < 3 ? 10.0 : 1e-7;
            g->hi[i] = i < 3 ? 10000.0 : 5e-5;
        }
    } else {
        for (int i = 0; i < g->n_params; i++) {
            snprintf(g->names[i], EISNET_NAME_MAX, "%s", eisnet_circuit_param_name(g->circuit, i));
            g->circuit_index[i] = i;
            g->lo[i] = g->hi[i] = NAN;
        }
    }
    for (int i = 0; i < g->n_params; i++)
        snprintf(g->units[i], sizeof g->units[i], "%s", unit_of(eisnet_circuit_param_name(g->circuit, g->circuit_index[i])));

    for (int r = 0; r < o->n_ranges; r++) {
        const char *s = o->ranges[r];
        const char *eq = strchr(s, '=');
        const char *colon = eq ? strchr(eq + 1, ':') : NULL;
        if (!eq || !colon || eq == s) {
            eisnet_grid_free(g);
            return eisnet_set_error("bad range '%s': expected NAME=MIN:MAX, e.g. R0=10:10000", s);
        }
        char name[EISNET_NAME_MAX];
        size_t nl = (size_t)(eq - s);
        if (nl >= sizeof name) {
            eisnet_grid_free(g);
            return eisnet_set_error("bad range '%s': name too long", s);
        }
        memcpy(name, s, nl);
        name[nl] = '\0';
        int p = eisnet_grid_find_param(g, name);
        if (p < 0) {
            eisnet_grid_free(g);
            return eisnet_set_error("bad range '%s': the circuit has no parameter '%s'", s, name);
        }
        double lo, hi;
        if (parse_double_strict(eq + 1, (size_t)(colon - eq - 1), &lo) != 0 ||
            parse_double_strict(colon + 1, strlen(colon + 1), &hi) != 0) {
            eisnet_grid_free(g);
            return eisnet_set_error("bad range '%s': MIN and MAX must be numbers", s);
        }
        if (!(lo > 0) || !(hi > lo)) {
            eisnet_grid_free(g);
            return eisnet_set_error("bad range '%s': need 0 < MIN < MAX (grids are logarithmic)", s);
        }
        g->lo[p] = lo;
        g->hi[p] = hi;
    }
    for (int i = 0; i < g->n_params; i++) {
        if (isnan(g->lo[i])) {
            eisnet_set_error("no range for parameter '%s': give --range %s=MIN:MAX", g->names[i], g->names[i]);
            eisnet_grid_free(g);
            return -1;
        }
    }

    double models = pow((double)o->n_grid, g->n_params);
    if (models > 4e9) {
        eisnet_set_error("%d parameters x %d grid points = %.3g grid models: too many (at most 4e9)", g->n_params,
                         o->n_grid, models);
        eisnet_grid_free(g);
        return -1;
    }
    g->n_grid = o->n_grid;
    g->n_models = 1;
    for (int i = 0; i < g->n_params; i++) g->n_models *= (uint64_t)g->n_grid;
    g->n_freq = o->n_freq;
    g->f_min = o->f_min;
    g->f_max = o->f_max;
    g->values = malloc(sizeof(double) * (size_t)g->n_params * (size_t)g->n_grid);
    g->freq = malloc(sizeof(double) * (size_t)g->n_freq);
    g->omega = malloc(sizeof(double) * (size_t)g->n_freq);
    if (!g->values || !g->freq || !g->omega) {
        eisnet_grid_free(g);
        return eisnet_set_error("out of memory");
    }
    for (int i = 0; i < g->n_params; i++) eisnet_logspace(g->values + (size_t)i * g->n_grid, g->lo[i], g->hi[i], g->n_grid);
    eisnet_logspace(g->freq, g->f_min, g->f_max, g->n_freq);
    for (int k = 0; k < g->n_freq; k++) g->omega[k] = 2.0 * M_PI * g->freq[k];
    return 0;
}

void eisnet_grid_options_of(const eisnet_grid *g, eisnet_grid_options *o, eisnet_range_strings *rs)
{
    eisnet_grid_options_default(o);
    o->circuit = g->preset[0] ? g->preset : eisnet_circuit_text(g->circuit);
    for (int p = 0; p < g->n_params; p++) {
        snprintf(rs->text[p], sizeof rs->text[p], "%s=%.17g:%.17g", g->names[p], g->lo[p], g->hi[p]);
        rs->ptr[p] = rs->text[p];
    }
    o->ranges = rs->ptr;
    o->n_ranges = g->n_params;
    o->n_grid = g->n_grid;
    o->n_freq = g->n_freq;
    o->f_min = g->f_min;
    o->f_max = g->f_max;
}

void eisnet_grid_free(eisnet_grid *g)
{
    eisnet_circuit_free(g->circuit);
    free(g->values);
    free(g->freq);
    free(g->omega);
    memset(g, 0, sizeof *g);
}

void eisnet_grid_model_indices(const eisnet_grid *g, uint64_t model, int *idx)
{
    for (int i = g->n_params - 1; i >= 0; i--) {
        idx[i] = (int)(model % (uint64_t)g->n_grid);
        model /= (uint64_t)g->n_grid;
    }
}

void eisnet_grid_model_values(const eisnet_grid *g, uint64_t model, double *values)
{
    int idx[EISNET_MAX_PARAMS];
    eisnet_grid_model_indices(g, model, idx);
    for (int i = 0; i < g->n_params; i++) values[i] = g->values[(size_t)i * g->n_grid + idx[i]];
}

/* R0 + R1/(1 + j w R1 C1) + R2/(1 + j w R2 C2) in real arithmetic (circuit
 * order R0, R1, C1, R2, C2): equal to the generic evaluation up to rounding
 * and ~20 times faster, which training by simulation needs (one spectrum per
 * example). */
static void series_rc2(const double *cp, const double *omega, int n, double complex *z)
{
    for (int k = 0; k < n; k++) {
        double x1 = omega[k] * cp[1] * cp[2], x2 = omega[k] * cp[3] * cp[4];
        double a1 = cp[1] / (1.0 + x1 * x1), a2 = cp[3] / (1.0 + x2 * x2);
        z[k] = (cp[0] + a1 + a2) - (a1 * x1 + a2 * x2) * I; /* finite: no CMPLX needed (clang lacks it) */
    }
}

void eisnet_grid_spectrum(const eisnet_grid *g, const double *values, double complex *z)
{
    double cp[EISNET_MAX_PARAMS];
    for (int i = 0; i < g->n_params; i++) cp[g->circuit_index[i]] = values[i];
    if (g->kernel == EISNET_KERNEL_SERIES_RC2) series_rc2(cp, g->omega, g->n_freq, z);
    else eisnet_circuit_eval(g->circuit, cp, g->omega, (size_t)g->n_freq, z);
}
