/* Measured spectra: CSV reader (impedance.py's format) and log-f interpolation. */
#include "eisnet/spectrum.h"

#include "eisnet/error.h"
#include "eisnet/fileio.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* CMPLX is missing where glibc's complex.h is compiled by clang; values here are finite. */
static double complex make_complex(double re, double im) { return re + im * I; }

typedef struct {
    double f, re, im;
    int line;
} row_t;

#define MAX_FIELDS 16

/* A field for an error message: at most 40 bytes, non-printable bytes as '?'. */
static const char *shown(const char *s, char *buf, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 4 < cap && i < 40; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (s[i] && i + 4 < cap) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
        while (*s == ' ') s++;
        n = strlen(s);
        while (n > 0 && s[n - 1] == ' ') s[--n] = '\0';
    }
    return s;
}

/* 1 when `s` is a number (finite or not), with *v set. */
static int is_number(const char *s, double *v)
{
    if (!*s) return 0;
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == '\0';
}

/* Splits `line` in place; returns the field count (at most MAX_FIELDS + 1,
 * meaning "more than MAX_FIELDS"). */
static int split(char *line, char **fields)
{
    char delim = 0;
    if (strchr(line, ';')) delim = ';';
    else if (strchr(line, ',')) delim = ',';
    else if (strchr(line, '\t')) delim = '\t';
    int nf = 0;
    if (delim) {
        char *p = line;
        for (;;) {
            char *q = strchr(p, delim);
            if (q) *q = '\0';
            if (nf == MAX_FIELDS) return MAX_FIELDS + 1;
            fields[nf++] = trim(p);
            if (!q) break;
            p = q + 1;
        }
        /* one trailing separator ("1,2,3,") is tolerated */
        if (nf > 1 && fields[nf - 1][0] == '\0') nf--;
    } else {
        char *p = line;
        for (;;) {
            while (*p == ' ') p++;
            if (!*p) break;
            if (nf == MAX_FIELDS) return MAX_FIELDS + 1;
            fields[nf++] = p;
            while (*p && *p != ' ') p++;
            if (*p) *p++ = '\0';
        }
        for (int i = 0; i < nf; i++) fields[i] = trim(fields[i]);
    }
    return nf;
}

static int cmp_row(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->f < y->f) return -1;
    if (x->f > y->f) return 1;
    return x->line - y->line;
}

int eisnet_spectrum_read_csv(const char *path, eisnet_spectrum *out)
{
    if (!out) return eisnet_set_error("eisnet_spectrum_read_csv: NULL output");
    memset(out, 0, sizeof *out);
    if (!path) return eisnet_set_error("eisnet_spectrum_read_csv: NULL path");

    char *data = NULL;
    size_t len = 0;
    if (eisnet_read_file(path, EISNET_SPECTRUM_MAX_BYTES, &data, &len) < 0) return -1;

    row_t *rows = NULL;
    int nrows = 0, caprows = 0, lineno = 0, content = 0, rc = -1;
    char *lb = malloc(EISNET_SPECTRUM_MAX_LINE + 1);
    if (!lb) {
        eisnet_set_error("out of memory");
        goto done;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) pos = 3;
    char sh[64];
    while (pos < len) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - start) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        if (ll > 0 && start[ll - 1] == '\r') ll--;
        if (ll > EISNET_SPECTRUM_MAX_LINE) {
            eisnet_set_error("%s:%d: line too long (over %d characters)", path, lineno, EISNET_SPECTRUM_MAX_LINE);
            goto done;
        }
        if (memchr(start, '\0', ll)) {
            eisnet_set_error("%s:%d: binary data (NUL byte) in a text file", path, lineno);
            goto done;
        }
        memcpy(lb, start, ll);
        lb[ll] = '\0';
        char *line = trim(lb);
        if (!*line || *line == '#') continue;
        content++;

        char *fields[MAX_FIELDS];
        int nf = split(line, fields);
        double v[3];
        if (content == 1 && !is_number(fields[0], &v[0])) continue; /* header */
        if (nf != 3) {
            if (nf > MAX_FIELDS)
                eisnet_set_error("%s:%d: expected 3 columns (freq, Re(Z), Im(Z)), found more than %d", path, lineno,
                                 MAX_FIELDS);
            else
                eisnet_set_error("%s:%d: expected 3 columns (freq, Re(Z), Im(Z)), found %d", path, lineno, nf);
            goto done;
        }
        for (int k = 0; k < 3; k++) {
            if (!*fields[k]) {
                eisnet_set_error("%s:%d: empty field in column %d", path, lineno, k + 1);
                goto done;
            }
            if (!is_number(fields[k], &v[k])) {
                eisnet_set_error("%s:%d: '%s' is not a number", path, lineno, shown(fields[k], sh, sizeof sh));
                goto done;
            }
            if (!isfinite(v[k])) {
                eisnet_set_error("%s:%d: '%s' is not a finite number", path, lineno, shown(fields[k], sh, sizeof sh));
                goto done;
            }
        }
        if (!(v[0] > 0)) {
            eisnet_set_error("%s:%d: frequency must be > 0 Hz, got %g", path, lineno, v[0]);
            goto done;
        }
        if (nrows == caprows) {
            if (caprows > (1 << 28)) {
                eisnet_set_error("%s: too many rows", path);
                goto done;
            }
            int nc = caprows ? 2 * caprows : 64;
            row_t *nr = realloc(rows, (size_t)nc * sizeof *rows);
            if (!nr) {
                eisnet_set_error("out of memory");
                goto done;
            }
            rows = nr;
            caprows = nc;
        }
        rows[nrows++] = (row_t){v[0], v[1], v[2], lineno};
    }
    if (content == 0) {
        eisnet_set_error("%s: empty file (no data rows)", path);
        goto done;
    }
    if (nrows < 3) {
        eisnet_set_error("%s: %d data row%s, need at least 3 (freq, Re(Z), Im(Z))", path, nrows, nrows == 1 ? "" : "s");
        goto done;
    }
    {
        /* an all-zero impedance carries no information and has no scale */
        int nonzero = 0;
        for (int i = 0; i < nrows && !nonzero; i++) nonzero = rows[i].re != 0 || rows[i].im != 0;
        if (!nonzero) {
            eisnet_set_error("%s: every impedance is zero (Re and Im are 0 on all %d rows): not a measured spectrum",
                             path, nrows);
            goto done;
        }
    }
    qsort(rows, (size_t)nrows, sizeof *rows, cmp_row);
    for (int i = 1; i < nrows; i++) {
        if (rows[i].f == rows[i - 1].f) {
            eisnet_set_error("%s:%d: duplicate frequency %.17g Hz (also on line %d)", path, rows[i].line, rows[i].f,
                             rows[i - 1].line);
            goto done;
        }
    }
    out->freq = malloc((size_t)nrows * sizeof *out->freq);
    out->z = malloc((size_t)nrows * sizeof *out->z);
    if (!out->freq || !out->z) {
        eisnet_spectrum_free(out);
        eisnet_set_error("out of memory");
        goto done;
    }
    for (int i = 0; i < nrows; i++) {
        out->freq[i] = rows[i].f;
        out->z[i] = make_complex(rows[i].re, rows[i].im);
    }
    out->n = nrows;
    rc = 0;
done:
    free(lb);
    free(rows);
    free(data);
    return rc;
}

void eisnet_spectrum_free(eisnet_spectrum *s)
{
    if (!s) return;
    free(s->freq);
    free(s->z);
    memset(s, 0, sizeof *s);
}

int eisnet_spectrum_interpolate(const eisnet_spectrum *s, const double *freq, int n, int extrapolate,
                                double complex *out)
{
    if (!s || n < 0 || (n > 0 && (!freq || !out)))
        return eisnet_set_error("eisnet_spectrum_interpolate: invalid arguments");
    if (s->n < 2 || !s->freq || !s->z)
        return eisnet_set_error("cannot interpolate a spectrum of %d point%s", s->n, s->n == 1 ? "" : "s");
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->freq[i]) || !(s->freq[i] > 0) || (i > 0 && !(s->freq[i] > s->freq[i - 1])))
            return eisnet_set_error("measured frequencies must be finite, > 0 and strictly ascending");
    }
    const int m = s->n;
    const double flo = s->freq[0], fhi = s->freq[m - 1];
    double tlo = INFINITY, thi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(freq[i]) || !(freq[i] > 0))
            return eisnet_set_error("target frequency %g Hz is not a finite positive number", freq[i]);
        if (freq[i] < tlo) tlo = freq[i];
        if (freq[i] > thi) thi = freq[i];
    }
    /* a band written as decimal text and rebuilt by logspace differs from the
     * measured end frequencies in the last bits: that counts as the end */
    const double eps = 1e-9;
    if (!extrapolate && n > 0 && (tlo < flo * (1 - eps) || thi > fhi * (1 + eps))) {
        /* numbers that differ only beyond %g's digits are shown in full */
        char a[2][32], b[2][32];
        snprintf(a[0], 32, "%g", tlo);
        snprintf(b[0], 32, "%g", flo);
        snprintf(a[1], 32, "%g", thi);
        snprintf(b[1], 32, "%g", fhi);
        for (int e = 0; e < 2; e++)
            if (strcmp(a[e], b[e]) == 0 && (e ? thi != fhi : tlo != flo)) {
                snprintf(a[e], 32, "%.17g", e ? thi : tlo);
                snprintf(b[e], 32, "%.17g", e ? fhi : flo);
            }
        return eisnet_set_error("model frequencies %s..%s Hz reach outside the measured range %s..%s Hz "
                                "(use --extrapolate to extrapolate linearly in log f)",
                                a[0], a[1], b[0], b[1]);
    }
    for (int i = 0; i < n; i++) {
        const double f = freq[i];
        int a; /* segment [a, a+1] */
        if (f <= flo) {
            if (f >= flo * (1 - eps)) {
                out[i] = s->z[0];
                continue;
            }
            a = 0;
        } else if (f >= fhi) {
            if (f <= fhi * (1 + eps)) {
                out[i] = s->z[m - 1];
                continue;
            }
            a = m - 2;
        } else {
            int lo = 0, hi = m - 1; /* freq[lo] <= f < freq[hi] */
            while (hi - lo > 1) {
                int mid = lo + (hi - lo) / 2;
                if (s->freq[mid] <= f) lo = mid;
                else hi = mid;
            }
            if (s->freq[lo] == f) {
                out[i] = s->z[lo];
                continue;
            }
            a = lo;
        }
        const double x0 = log10(s->freq[a]), x1 = log10(s->freq[a + 1]);
        const double t = (log10(f) - x0) / (x1 - x0);
        const double re = (1 - t) * creal(s->z[a]) + t * creal(s->z[a + 1]);
        const double im = (1 - t) * cimag(s->z[a]) + t * cimag(s->z[a + 1]);
        out[i] = make_complex(re, im);
    }
    return 0;
}
