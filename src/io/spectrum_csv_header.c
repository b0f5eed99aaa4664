/* CSV spectra with or without a header. Without one the columns are
 * frequency, Re(Z), Im(Z) (impedance.py's CSV). A header names the columns:
 * frequency, and Re/Im or |Z|/phase (in degrees or radians); other columns
 * are ignored. The sign convention of Im(Z) is taken from the header ("-Im",
 * "-Z''") or, failing that, from the data (see eisnet/readers.h). */
#include "spectrum_text.h"

#include "eisnet/error.h"
#include "eisnet/readers.h"
#include "eisnet/spectrum.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_CAP (EISNET_SPECTRUM_MAX_LINE + 1)

enum { COL_NONE, COL_F, COL_RE, COL_IM, COL_MAG, COL_PHASE };

static const char *separators(const char *line)
{
    if (strchr(line, ';')) return ";";
    if (strchr(line, ',')) return ",";
    if (strchr(line, '\t')) return "\t";
    return " ";
}

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* Classifies a header name (lower-cased, spaces removed); *neg set for a
 * leading minus sign, *unit to 1 (radians) or 0 (degrees) or -1 (unknown). */
static int classify(const char *raw, int *neg, int *unit)
{
    char s[128];
    size_t n = 0;
    for (; *raw && n + 1 < sizeof s; raw++)
        if (*raw != ' ' && *raw != '_') s[n++] = (char)tolower((unsigned char)*raw);
    s[n] = '\0';
    const char *p = s;
    *neg = 0;
    *unit = -1;
    if (*p == '-') {
        *neg = 1;
        p++;
    }
    if (strstr(p, "rad")) *unit = 1;
    else if (strstr(p, "deg") || strstr(p, "\xc2\xb0")) *unit = 0;
    if (starts(p, "freq") || strcmp(p, "f") == 0 || starts(p, "f/") || starts(p, "f(") || starts(p, "f[")) return COL_F;
    if (starts(p, "phase") || starts(p, "phz") || starts(p, "zphz") || starts(p, "theta") || starts(p, "phi") ||
        starts(p, "arg"))
        return COL_PHASE;
    if (starts(p, "|z|") || starts(p, "mod") || starts(p, "zmod") || starts(p, "magn") || starts(p, "abs") ||
        starts(p, "|z") || strcmp(p, "z") == 0 || starts(p, "z/") || starts(p, "z("))
        return COL_MAG;
    if (starts(p, "im") || starts(p, "zim") || starts(p, "z''") || starts(p, "z\"") || starts(p, "z'') "))
        return COL_IM;
    if (starts(p, "re") || starts(p, "zre") || starts(p, "z'") || starts(p, "real")) return COL_RE;
    return COL_NONE;
}

static int is_number(const char *s)
{
    char *end;
    if (!*s) return 0;
    strtod(s, &end);
    return *end == '\0';
}

int sp_read_csv(const sp_text *t, sp_points *p, sp_csv_info *ci)
{
    char *buf = malloc(LINE_CAP);
    if (!buf) return eisnet_set_error("out of memory");
    char *fields[SP_MAX_FIELDS];
    int cols[5] = {-1, -1, -1, -1, -1}; /* f, re, im, mag, phase */
    int im_neg = 0, ph_neg = 0, ph_unit = -1, header = 0, rc = 0, first = 1, ncols_needed = 3;
    sp_points raw = {0};
    for (int i = 0; i < t->n && rc == 0; i++) {
        const char *line = t->line[i];
        while (*line == ' ' || *line == '\t') line++;
        if (!*line || *line == '#') continue;
        if (strlen(line) >= LINE_CAP) {
            rc = eisnet_set_error("%s:%d: line too long (over %d characters)", t->path, i + 1, EISNET_SPECTRUM_MAX_LINE);
            break;
        }
        const char *seps = separators(line);
        int nf = sp_split(line, seps, seps[0] == ' ', buf, LINE_CAP, fields);
        /* with ';' between fields a ',' inside one is a decimal comma (European locales) */
        if (seps[0] == ';')
            for (int k = 0; k < nf; k++)
                for (char *c = fields[k]; *c; c++)
                    if (*c == ',') *c = '.';
        if (nf > 1 && fields[nf - 1][0] == '\0') nf--; /* one trailing separator */
        if (first) {
            first = 0;
            if (!is_number(fields[0])) {
                header = 1;
                for (int k = 0; k < nf; k++) {
                    int neg, unit, c = classify(fields[k], &neg, &unit);
                    if (c == COL_NONE || cols[c - 1] >= 0) continue;
                    cols[c - 1] = k;
                    if (c == COL_IM) im_neg = neg;
                    if (c == COL_PHASE) {
                        ph_neg = neg;
                        ph_unit = unit;
                    }
                }
                if (cols[0] < 0) {
                    rc = eisnet_set_error("%s:%d: header has no frequency column (names: freq, frequency, f)", t->path, i + 1);
                    break;
                }
                if (!(cols[1] >= 0 && cols[2] >= 0) && !(cols[3] >= 0 && cols[4] >= 0)) {
                    rc = eisnet_set_error("%s:%d: header needs Re and Im columns (e.g. Re(Z), Im(Z)) or |Z| and phase",
                                          t->path, i + 1);
                    break;
                }
                if (cols[1] >= 0 && cols[2] >= 0) cols[3] = cols[4] = -1;
                else ci->polar = 1;
                for (int k = 0; k < 5; k++)
                    if (cols[k] + 1 > ncols_needed) ncols_needed = cols[k] + 1;
                continue;
            }
            cols[0] = 0;
            cols[1] = 1;
            cols[2] = 2;
        }
        if (!header && nf != 3) {
            rc = eisnet_set_error("%s:%d: expected 3 columns (freq, Re(Z), Im(Z)), found %d", t->path, i + 1, nf);
            break;
        }
        if (nf < ncols_needed) {
            rc = eisnet_set_error("%s:%d: %d columns, the header names %d", t->path, i + 1, nf, ncols_needed);
            break;
        }
        int c3[3] = {cols[0], ci->polar ? cols[3] : cols[1], ci->polar ? cols[4] : cols[2]};
        rc = sp_push_fields(t, i + 1, fields, nf, c3, 1.0, &raw);
    }
    free(buf);
    if (rc == 0 && raw.n == 0) rc = eisnet_set_error("%s: no data rows", t->path);
    if (rc != 0) {
        sp_points_free(&raw);
        return -1;
    }
    size_t nl = 0;
    ci->note[0] = '\0';
    if (ci->polar) {
        double maxabs = 0;
        for (int i = 0; i < raw.n; i++) {
            if (raw.re[i] < 0) {
                rc = eisnet_set_error("%s:%d: |Z| must be >= 0, got %g", t->path, raw.line[i], raw.re[i]);
                sp_points_free(&raw);
                return -1;
            }
            if (fabs(raw.im[i]) > maxabs) maxabs = fabs(raw.im[i]);
        }
        if (ph_unit < 0) {
            /* no unit in the header: a phase in degrees exceeds pi/2 somewhere
             * on any spectrum worth reading, one in radians never does */
            ph_unit = maxabs <= 1.5708 ? 1 : 0;
            nl += (size_t)snprintf(ci->note + nl, sizeof ci->note - nl, "phase taken as %s (no unit in the header); ",
                                   ph_unit ? "radians" : "degrees");
        }
        ci->phase_radians = ph_unit;
        const double scale = ph_unit ? 1.0 : 3.14159265358979323846 / 180.0;
        for (int i = 0; i < raw.n; i++) {
            double ph = (ph_neg ? -1 : 1) * raw.im[i] * scale, m = raw.re[i];
            raw.re[i] = m * cos(ph);
            raw.im[i] = m * sin(ph);
        }
    } else if (im_neg) {
        for (int i = 0; i < raw.n; i++) raw.im[i] = -raw.im[i];
    }
    if (ci->polar && ph_neg) {
        ci->im_negated = 1;
        nl += (size_t)snprintf(ci->note + nl, sizeof ci->note - nl, "phase column is '-phase' (negated); ");
    } else if (!ci->polar && im_neg) {
        ci->im_negated = 1;
        nl += (size_t)snprintf(ci->note + nl, sizeof ci->note - nl, "Im column is '-Im(Z)' (negated); ");
    }
    if (ci->im_sign == EISNET_IM_NEGATE) {
        for (int i = 0; i < raw.n; i++) raw.im[i] = -raw.im[i];
        ci->im_negated = !ci->im_negated;
        nl += (size_t)snprintf(ci->note + nl, sizeof ci->note - nl, "Im(Z) negated as asked; ");
    } else if (ci->im_sign == EISNET_IM_AUTO && !im_neg && !ph_neg) {
        int pos = 0, neg = 0;
        for (int i = 0; i < raw.n; i++) {
            pos += raw.im[i] > 0;
            neg += raw.im[i] < 0;
        }
        /* a capacitive response has Im(Z) < 0 at most frequencies; a file with
         * mostly positive values stores -Im(Z) */
        if (pos > neg) {
            for (int i = 0; i < raw.n; i++) raw.im[i] = -raw.im[i];
            ci->im_negated = 1;
            nl += (size_t)snprintf(ci->note + nl, sizeof ci->note - nl,
                                   "Im(Z) is positive at %d of %d points: read as -Im(Z) and negated "
                                   "(--im_sign as_is keeps it); ", pos, raw.n);
        }
    }
    if (nl >= 2 && nl < sizeof ci->note) ci->note[nl - 2] = '\0';
    for (int i = 0; i < raw.n && rc == 0; i++) rc = sp_push(p, raw.f[i], raw.re[i], raw.im[i], raw.line[i]);
    sp_points_free(&raw);
    return rc;
}
