/* The one reader entry point: format detection by content, the format's
 * reader, cropping, sorting. */
#include "eisnet/readers.h"

#include "spectrum_text.h"

#include "eisnet/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[EISNET_FORMAT_COUNT] = {"auto", "csv", "gamry", "biologic", "autolab",
                                                      "parstat", "zplot", "versastudio", "powersuite",
                                                      "chinstruments"};

const char *eisnet_format_name(eisnet_format f)
{
    return (f >= 0 && f < EISNET_FORMAT_COUNT) ? names[f] : "?";
}

int eisnet_format_parse(const char *name, eisnet_format *f)
{
    for (int i = 0; i < EISNET_FORMAT_COUNT; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *f = (eisnet_format)i;
            return 0;
        }
    return eisnet_set_error("unknown format '%s' (auto, csv, gamry, biologic, autolab, parstat, zplot, versastudio, "
                            "powersuite, chinstruments)",
                            name ? name : "(null)");
}

void eisnet_read_options_default(eisnet_read_options *o)
{
    memset(o, 0, sizeof *o);
    o->format = EISNET_FORMAT_AUTO;
}

static eisnet_format detect_lines(const sp_text *t)
{
    const char *l0 = t->n > 0 ? t->line[0] : "";
    const char *l1 = t->n > 1 ? t->line[1] : "";
    if (strstr(l0, "EC-Lab") || strncmp(l1, "Nb header lines", 15) == 0) return EISNET_FORMAT_BIOLOGIC;
    if (sp_contains(l0, "zplot")) return EISNET_FORMAT_ZPLOT;
    if (strstr(l0, "Z60W")) return EISNET_FORMAT_AUTOLAB;
    if (strstr(l0, "Frequency (Hz)") && strstr(l0, "Zre")) return EISNET_FORMAT_PARSTAT;
    if (strncmp(l0, "Frequency\t", 10) == 0 && strstr(l0, "Zre") && strstr(l0, "Zimg")) return EISNET_FORMAT_POWERSUITE;
    int segment = 0, definition = 0;
    for (int i = 0; i < t->n; i++) {
        const char *s = t->line[i];
        if (strncmp(s, "ZCURVE", 6) == 0) return EISNET_FORMAT_GAMRY;
        if (strncmp(s, "Freq/Hz,", 8) == 0) return EISNET_FORMAT_CHINSTRUMENTS;
        if (strstr(s, "<Segment1>")) segment = 1;
        if (segment && strncmp(s, "Definition=", 11) == 0) definition = 1;
    }
    if (segment && definition) return EISNET_FORMAT_VERSASTUDIO;
    return EISNET_FORMAT_CSV;
}

eisnet_format eisnet_format_detect(const char *text, size_t n)
{
    sp_text t;
    if (sp_text_from_memory(text, n, "(memory)", &t) != 0) return EISNET_FORMAT_CSV;
    eisnet_format f = detect_lines(&t);
    sp_text_free(&t);
    return f;
}

typedef struct {
    double f, re, im;
    int line;
} point;

static int cmp_point(const void *a, const void *b)
{
    const point *x = a, *y = b;
    if (x->f != y->f) return x->f < y->f ? -1 : 1;
    return x->line - y->line;
}

static int dispatch(eisnet_format f, const sp_text *t, sp_points *p, sp_csv_info *ci)
{
    switch (f) {
    case EISNET_FORMAT_GAMRY: return sp_read_gamry(t, p);
    case EISNET_FORMAT_BIOLOGIC: return sp_read_biologic(t, p);
    case EISNET_FORMAT_AUTOLAB: return sp_read_autolab(t, p);
    case EISNET_FORMAT_PARSTAT: return sp_read_parstat(t, p);
    case EISNET_FORMAT_ZPLOT: return sp_read_zplot(t, p);
    case EISNET_FORMAT_VERSASTUDIO: return sp_read_versastudio(t, p);
    case EISNET_FORMAT_POWERSUITE: return sp_read_powersuite(t, p);
    case EISNET_FORMAT_CHINSTRUMENTS: return sp_read_chinstruments(t, p);
    default: return sp_read_csv(t, p, ci);
    }
}

/* Keeps the points that pass the crop, sorted; fills out. */
static int finish(const char *path, const sp_points *p, const eisnet_read_options *o, eisnet_spectrum *out,
                  eisnet_read_info *info)
{
    point *pt = malloc((size_t)(p->n ? p->n : 1) * sizeof *pt);
    if (!pt) return eisnet_set_error("out of memory");
    int m = 0;
    for (int i = 0; i < p->n; i++) {
        if (!(p->f[i] > 0)) {
            free(pt);
            return eisnet_set_error("%s:%d: frequency must be > 0 Hz, got %g", path, p->line[i], p->f[i]);
        }
        if ((o->f_min > 0 && p->f[i] < o->f_min) || (o->f_max > 0 && p->f[i] > o->f_max)) {
            info->n_range_dropped++;
            continue;
        }
        if (o->drop_inductive && !(p->im[i] < 0)) {
            info->n_inductive_dropped++;
            continue;
        }
        pt[m++] = (point){p->f[i], p->re[i], p->im[i], p->line[i]};
    }
    qsort(pt, (size_t)m, sizeof *pt, cmp_point);
    for (int i = 1; i < m; i++)
        if (pt[i].f == pt[i - 1].f) {
            int a = pt[i - 1].line, b = pt[i].line;
            double f = pt[i].f;
            free(pt);
            return eisnet_set_error("%s:%d: duplicate frequency %.17g Hz (also on line %d)", path, b, f, a);
        }
    if (m < 3) {
        free(pt);
        return eisnet_set_error("%s: %d point%s left of %d (%d outside the frequency limits, %d inductive dropped); "
                                "need at least 3",
                                path, m, m == 1 ? "" : "s", p->n, info->n_range_dropped, info->n_inductive_dropped);
    }
    /* an all-zero impedance carries no information and has no scale */
    int nonzero = 0;
    for (int i = 0; i < m && !nonzero; i++) nonzero = pt[i].re != 0 || pt[i].im != 0;
    if (!nonzero) {
        free(pt);
        return eisnet_set_error("%s: every impedance is zero (Re and Im are 0 on all %d points): not a measured spectrum",
                                path, m);
    }
    out->freq = malloc((size_t)m * sizeof *out->freq);
    out->z = malloc((size_t)m * sizeof *out->z);
    if (!out->freq || !out->z) {
        free(pt);
        eisnet_spectrum_free(out);
        return eisnet_set_error("out of memory");
    }
    for (int i = 0; i < m; i++) {
        out->freq[i] = pt[i].f;
        out->z[i] = pt[i].re + pt[i].im * I;
    }
    out->n = m;
    free(pt);
    return 0;
}

int eisnet_spectrum_read(const char *path, const eisnet_read_options *opt, eisnet_spectrum *out,
                         eisnet_read_info *info)
{
    eisnet_read_options defaults;
    eisnet_read_info scratch;
    if (!opt) {
        eisnet_read_options_default(&defaults);
        opt = &defaults;
    }
    if (!info) info = &scratch;
    memset(info, 0, sizeof *info);
    if (!out) return eisnet_set_error("eisnet_spectrum_read: NULL output");
    memset(out, 0, sizeof *out);
    if (!path) return eisnet_set_error("eisnet_spectrum_read: NULL path");
    if (opt->f_min < 0 || opt->f_max < 0 || (opt->f_min > 0 && opt->f_max > 0 && opt->f_min > opt->f_max) ||
        !isfinite(opt->f_min) || !isfinite(opt->f_max))
        return eisnet_set_error("frequency limits %g..%g Hz are not an interval", opt->f_min, opt->f_max);
    sp_text t;
    if (sp_text_load(path, &t) != 0) return -1;
    eisnet_format f = opt->format == EISNET_FORMAT_AUTO ? detect_lines(&t) : opt->format;
    info->format = f;
    sp_points p = {0};
    sp_csv_info ci;
    memset(&ci, 0, sizeof ci);
    ci.im_sign = (int)opt->im_sign;
    int rc = dispatch(f, &t, &p, &ci);
    if (rc == 0 && p.n == 0) rc = eisnet_set_error("%s: no data rows (read as %s)", path, eisnet_format_name(f));
    if (rc == 0) {
        info->n_read = p.n;
        info->im_negated = ci.im_negated;
        info->polar = ci.polar;
        info->phase_radians = ci.phase_radians;
        snprintf(info->note, sizeof info->note, "%s", ci.note);
        rc = finish(path, &p, opt, out, info);
    }
    sp_points_free(&p);
    sp_text_free(&t);
    return rc;
}
