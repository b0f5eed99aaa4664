/* Helpers shared by the spectrum readers: lines, fields, numbers, points. */
#include "spectrum_text.h"

#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/spectrum.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int sp_text_from_memory(const char *data, size_t n, const char *path, sp_text *t)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    if (memchr(data, '\0', n)) return eisnet_set_error("%s: binary data (NUL byte) in a text file", path);
    size_t skip = (n >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    t->buf = malloc(n - skip + 1);
    if (!t->buf) return eisnet_set_error("out of memory");
    memcpy(t->buf, data + skip, n - skip);
    t->buf[n - skip] = '\0';
    size_t len = n - skip, cap = 0;
    for (size_t i = 0; i <= len;) {
        if ((size_t)t->n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nl = realloc(t->line, cap * sizeof *nl);
            if (!nl) {
                sp_text_free(t);
                return eisnet_set_error("out of memory");
            }
            t->line = nl;
        }
        t->line[t->n++] = t->buf + i;
        size_t j = i;
        while (j < len && t->buf[j] != '\n' && t->buf[j] != '\r') j++;
        if (j >= len) break;
        size_t next = j + 1;
        if (t->buf[j] == '\r' && next < len && t->buf[next] == '\n') next++;
        t->buf[j] = '\0';
        if (next >= len) break; /* a final line end starts no new line */
        i = next;
    }
    return 0;
}

int sp_text_load(const char *path, sp_text *t)
{
    memset(t, 0, sizeof *t);
    char *data = NULL;
    size_t n = 0;
    if (eisnet_read_file(path, EISNET_SPECTRUM_MAX_BYTES, &data, &n) < 0) return -1;
    int rc = sp_text_from_memory(data, n, path, t);
    free(data);
    return rc;
}

void sp_text_free(sp_text *t)
{
    free(t->buf);
    free(t->line);
    memset(t, 0, sizeof *t);
}

int sp_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

static char *trim_field(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '"') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '"')) s[--n] = '\0';
    return s;
}

int sp_split(const char *line, const char *seps, int merge, char *buf, size_t cap, char **fields)
{
    size_t n = strlen(line);
    if (n >= cap) n = cap - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    int nf = 0;
    char *p = buf;
    if (merge)
        while (*p && strchr(seps, *p)) p++;
    while (nf < SP_MAX_FIELDS) {
        char *q = p;
        while (*q && !strchr(seps, *q)) q++;
        int end = (*q == '\0');
        *q = '\0';
        fields[nf++] = trim_field(p);
        if (end) break;
        p = q + 1;
        if (merge) {
            while (*p && strchr(seps, *p)) p++;
            if (!*p) break;
        }
    }
    return nf;
}

int sp_number(const sp_text *t, int line, int col, const char *field, double *v)
{
    char *end;
    if (!*field) return eisnet_set_error("%s:%d: column %d is empty", t->path, line, col + 1);
    *v = strtod(field, &end);
    if (end == field || *end != '\0')
        return eisnet_set_error("%s:%d: '%.40s' is not a number (column %d)", t->path, line, field, col + 1);
    if (!isfinite(*v))
        return eisnet_set_error("%s:%d: '%.40s' is not a finite number (column %d)", t->path, line, field, col + 1);
    return 0;
}

int sp_contains(const char *hay, const char *needle)
{
    size_t m = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < m && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == m) return 1;
    }
    return m == 0;
}

int sp_push(sp_points *p, double f, double re, double im, int line)
{
    if (p->n == p->cap) {
        if (p->cap > (1 << 26)) return eisnet_set_error("too many points");
        int nc = p->cap ? 2 * p->cap : 128;
        double *a = realloc(p->f, (size_t)nc * sizeof *a);
        if (a) p->f = a;
        double *b = realloc(p->re, (size_t)nc * sizeof *b);
        if (b) p->re = b;
        double *c = realloc(p->im, (size_t)nc * sizeof *c);
        if (c) p->im = c;
        int *d = realloc(p->line, (size_t)nc * sizeof *d);
        if (d) p->line = d;
        if (!a || !b || !c || !d) return eisnet_set_error("out of memory");
        p->cap = nc;
    }
    p->f[p->n] = f;
    p->re[p->n] = re;
    p->im[p->n] = im;
    p->line[p->n] = line;
    p->n++;
    return 0;
}

void sp_points_free(sp_points *p)
{
    free(p->f);
    free(p->re);
    free(p->im);
    free(p->line);
    memset(p, 0, sizeof *p);
}

int sp_push_fields(const sp_text *t, int line, char **fields, int nf, const int cols[3], double im_factor,
                   sp_points *p)
{
    double v[3];
    for (int k = 0; k < 3; k++) {
        if (cols[k] >= nf)
            return eisnet_set_error("%s:%d: %d columns, need at least %d", t->path, line, nf, cols[k] + 1);
        if (sp_number(t, line, cols[k], fields[cols[k]], &v[k]) != 0) return -1;
    }
    return sp_push(p, v[0], v[1], im_factor * v[2], line);
}
