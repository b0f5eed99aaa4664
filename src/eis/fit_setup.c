/* The fit's set-up, independent of the solver: options, the circuit and its
 * display names, --known values, the box (data-derived or --range), checks
 * of the data, and the result's memory. */
#include "fit_internal.h"

#include "eisnet/assignment.h"
#include "eisnet/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void eisnet_fit_options_default(eisnet_fit_options *o)
{
    memset(o, 0, sizeof *o);
    o->circuit = "series";
    o->weighting = EISNET_FIT_MODULUS;
    o->starts = 8;
    o->start_separation = 0.12;
    o->scan = 0;
    o->seed = 42;
}

int eisnet_fit_weighting_parse(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "modulus") == 0) return EISNET_FIT_MODULUS;
    if (strcmp(name, "unit") == 0) return EISNET_FIT_UNIT;
    if (strcmp(name, "proportional") == 0) return EISNET_FIT_PROPORTIONAL;
    return -1;
}

const char *eisnet_fit_weighting_name(eisnet_fit_weighting w)
{
    return w == EISNET_FIT_UNIT ? "unit" : w == EISNET_FIT_PROPORTIONAL ? "proportional" : "modulus";
}

void eisnet_fit_result_free(eisnet_fit_result *r)
{
    if (!r) return;
    free(r->freq);
    free(r->z);
    free(r->zfit);
    free(r->rel_re);
    free(r->rel_im);
    r->freq = NULL;
    r->z = r->zfit = NULL;
    r->rel_re = r->rel_im = NULL;
}

/* The presets of the command line, with the names the rest of eisnet shows. */
static const struct {
    const char *name, *text;
    const char *display[5];
} presets[] = {
    {"series", "R0-p(R1,C1)-p(R2,C2)", {"Rsh", "Ra", "Ca", "Rb", "Cb"}},
    {"parallel", "p(R0,p(R1,C1)-p(R2,C2))", {"Rsh", "Ra", "Ca", "Rb", "Cb"}},
};

static const char *unit_of(const char *name)
{
    size_t len = 0;
    while (isalpha((unsigned char)name[len])) len++;
    eisnet_element_kind kind;
    int np = eisnet_element_lookup(name, len, &kind);
    const char *u = strrchr(name, '_');
    int sub = (np > 1 && u) ? u[1] - '0' : 0;
    switch (kind) {
    case EISNET_EL_R: return "Ω";
    case EISNET_EL_C: return "F";
    case EISNET_EL_L: return "H";
    case EISNET_EL_W: return "Ω·s^-1/2";
    case EISNET_EL_WO:
    case EISNET_EL_WS:
    case EISNET_EL_G:
    case EISNET_EL_K: return sub == 0 ? "Ω" : "s";
    case EISNET_EL_CPE: return sub == 0 ? "F·s^(a-1)" : "";
    case EISNET_EL_LA: return sub == 0 ? "H" : "";
    case EISNET_EL_ZARC: return sub == 0 ? "Ω" : sub == 1 ? "s" : "";
    }
    return "";
}

int fit_find_param(const eisnet_fit_result *r, const eisnet_circuit *c, const char *name)
{
    for (int j = 0; j < r->n_params; j++)
        if (strcmp(r->names[j], name) == 0 || strcmp(eisnet_circuit_param_name(c, j), name) == 0) return j;
    for (int j = 0; j < r->n_params; j++)
        if (strcasecmp(r->names[j], name) == 0 || strcasecmp(eisnet_circuit_param_name(c, j), name) == 0) return j;
    return -1;
}

static void name_list(const eisnet_fit_result *r, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int j = 0; j < r->n_params && len < cap; j++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", j ? ", " : "", r->names[j]);
}

static int parse_number(const char *s, double *v)
{
    char *e;
    errno = 0;
    *v = strtod(s, &e);
    while (*e == ' ') e++;
    return (*s == '\0' || *e != '\0' || errno == ERANGE || !isfinite(*v)) ? -1 : 0;
}

static int parse_known(eisnet_fit_result *r, const eisnet_circuit *c, const char *text, double *values)
{
    char names[512];
    name_list(r, names, sizeof names);
    const char *s = text;
    if (!*s) return eisnet_set_error("--known is empty: give NAME=VALUE pairs");
    char item[128], *name, *val;
    int k;
    while ((k = eisnet_next_assignment(&s, "--known", item, sizeof item, &name, &val)) > 0) {
        int j = fit_find_param(r, c, name);
        if (j < 0) return eisnet_set_error("--known: unknown parameter '%s' (the circuit's parameters: %s)", name, names);
        if (r->known[j]) return eisnet_set_error("--known: '%s' given twice", r->names[j]);
        double v;
        if (parse_number(val, &v) != 0)
            return eisnet_set_error("--known: value of %s is not a number: '%s'", r->names[j], val);
        if (!(v > 0)) return eisnet_set_error("--known: %s must be positive (got %g)", r->names[j], v);
        r->known[j] = 1;
        values[j] = v;
    }
    if (k < 0) return -1;
    return 0;
}

static int parse_range(eisnet_fit_result *r, const eisnet_circuit *c, const char *s)
{
    const char *eq = strchr(s, '=');
    const char *colon = eq ? strchr(eq + 1, ':') : NULL;
    if (!eq || !colon || eq == s || (size_t)(eq - s) >= EISNET_FIT_NAME_MAX)
        return eisnet_set_error("--range: bad range '%s' (expected NAME=MIN:MAX, e.g. R0=10:10000)", s);
    char name[EISNET_FIT_NAME_MAX], a[64], b[64];
    snprintf(name, sizeof name, "%.*s", (int)(eq - s), s);
    snprintf(a, sizeof a, "%.*s", (int)(colon - eq - 1), eq + 1);
    snprintf(b, sizeof b, "%s", colon + 1);
    int j = fit_find_param(r, c, name);
    if (j < 0) {
        char names[512];
        name_list(r, names, sizeof names);
        return eisnet_set_error("--range: unknown parameter '%s' (the circuit's parameters: %s)", name, names);
    }
    double lo, hi;
    if (parse_number(a, &lo) != 0 || parse_number(b, &hi) != 0)
        return eisnet_set_error("--range %s: MIN and MAX must be numbers (got '%s')", name, s);
    if (!(lo > 0)) return eisnet_set_error("--range %s: MIN must be positive (got %g)", name, lo);
    if (!(hi > lo))
        return eisnet_set_error("--range %s: empty box (MIN %g is not below MAX %g; use --known to fix a value)", name,
                                lo, hi);
    r->lo[j] = lo;
    r->hi[j] = hi;
    return 0;
}

typedef struct {
    double f;
    double complex z;
} fz_pair;

static int cmp_fz(const void *a, const void *b)
{
    double x = ((const fz_pair *)a)->f, y = ((const fz_pair *)b)->f;
    return (x > y) - (x < y);
}

int fit_setup(const double *freq, const double complex *z, int n, const eisnet_fit_options *o, eisnet_fit_result *r,
              eisnet_circuit **circuit, double *values)
{
    memset(r, 0, sizeof *r);
    *circuit = NULL;
    if (!freq || !z || n < 1) return eisnet_set_error("the spectrum is empty");
    for (int k = 0; k < n; k++) {
        if (!isfinite(freq[k]) || !(freq[k] > 0))
            return eisnet_set_error("spectrum point %d: frequency %g is not a positive finite number", k + 1, freq[k]);
        if (!isfinite(creal(z[k])) || !isfinite(cimag(z[k])))
            return eisnet_set_error("spectrum point %d (f = %g Hz): Z is not finite", k + 1, freq[k]);
    }
    const char *text = o->circuit ? o->circuit : "series";
    int preset = -1;
    for (int i = 0; i < (int)(sizeof presets / sizeof presets[0]); i++)
        if (strcmp(text, presets[i].name) == 0) {
            preset = i;
            text = presets[i].text;
        }
    eisnet_circuit *c = eisnet_circuit_parse(text);
    if (!c) return -1;
    *circuit = c;
    snprintf(r->circuit, sizeof r->circuit, "%s", text);
    r->n_params = eisnet_circuit_n_params(c);
    for (int j = 0; j < r->n_params; j++) {
        const char *cn = eisnet_circuit_param_name(c, j);
        snprintf(r->names[j], sizeof r->names[j], "%s", preset >= 0 ? presets[preset].display[j] : cn);
        snprintf(r->units[j], sizeof r->units[j], "%s", unit_of(cn));
        values[j] = NAN;
    }

    /* sorted copy of the data */
    fz_pair *pairs = malloc(sizeof *pairs * (size_t)n);
    r->freq = malloc(sizeof(double) * (size_t)n);
    r->z = malloc(sizeof(double complex) * (size_t)n);
    r->zfit = malloc(sizeof(double complex) * (size_t)n);
    r->rel_re = malloc(sizeof(double) * (size_t)n);
    r->rel_im = malloc(sizeof(double) * (size_t)n);
    if (!pairs || !r->freq || !r->z || !r->zfit || !r->rel_re || !r->rel_im) {
        free(pairs);
        return eisnet_set_error("out of memory");
    }
    for (int k = 0; k < n; k++) pairs[k] = (fz_pair){freq[k], z[k]};
    qsort(pairs, (size_t)n, sizeof *pairs, cmp_fz);
    for (int k = 0; k < n; k++) {
        r->freq[k] = pairs[k].f;
        r->z[k] = pairs[k].z;
        if (k > 0 && r->freq[k] == r->freq[k - 1]) {
            free(pairs);
            return eisnet_set_error("spectrum: frequency %g Hz is given twice", r->freq[k]);
        }
    }
    free(pairs);
    r->n_freq = n;
    r->n_data = 2 * n;

    for (int j = 0; j < r->n_params; j++) eisnet_fit_default_box(c, j, r->freq, r->z, n, &r->lo[j], &r->hi[j]);
    for (int i = 0; i < o->n_ranges; i++)
        if (parse_range(r, c, o->ranges[i]) != 0) return -1;
    if (o->known && parse_known(r, c, o->known, values) != 0) return -1;
    r->n_free = 0;
    for (int j = 0; j < r->n_params; j++) r->n_free += !r->known[j];
    if (r->n_free == 0) return eisnet_set_error("all %d parameters are known: nothing to fit", r->n_params);
    if (r->n_free >= r->n_data)
        return eisnet_set_error("the circuit has %d free parameters but the spectrum gives only %d real data "
                                "(%d frequencies x Re, Im); at least %d are needed",
                                r->n_free, r->n_data, n, r->n_free + 1);
    if (o->weighting == EISNET_FIT_PROPORTIONAL)
        for (int k = 0; k < n; k++)
            if (creal(r->z[k]) == 0 || cimag(r->z[k]) == 0)
                return eisnet_set_error("proportional weighting divides by Re Z and Im Z, but at f = %g Hz one "
                                        "of them is 0 (use --weighting modulus)", r->freq[k]);
    if (o->starts < 1 || o->starts > EISNET_FIT_MAX_STARTS)
        return eisnet_set_error("--starts must be between 1 and %d (got %d)", EISNET_FIT_MAX_STARTS, o->starts);
    if (o->n_start_points < 0 || (o->n_start_points > 0 && !o->start_points) || o->n_start_points > 4096)
        return eisnet_set_error("bad start points (%d)", o->n_start_points);
    if (!(o->start_separation >= 0) || o->start_separation > 1)
        return eisnet_set_error("start separation must be between 0 and 1 (got %g)", o->start_separation);
    if (!(o->sigma >= 0) || !isfinite(o->sigma))
        return eisnet_set_error("--sigma must be a non-negative number (got %g)", o->sigma);
    if ((int)o->weighting < 0 || o->weighting > EISNET_FIT_PROPORTIONAL)
        return eisnet_set_error("unknown weighting %d", (int)o->weighting);
    return 0;
}
