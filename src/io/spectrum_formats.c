/* Instrument file readers. Each takes the file as lines and appends its
 * points (frequency in Hz, Z in ohm, Im(Z) negative for a capacitive
 * response). The column choices follow what the instruments' software
 * writes, as impedance.py reads them; where a file names its columns, they
 * are found by name. */
#include "spectrum_text.h"

#include "eisnet/error.h"
#include "eisnet/spectrum.h"

#include <stdlib.h>
#include <string.h>

#define LINE_CAP (EISNET_SPECTRUM_MAX_LINE + 1)

/* Splits line index i (0-based) of t; -1 with an error when it is too long. */
static int split_line(const sp_text *t, int i, const char *seps, int merge, int decimal_comma, char *buf,
                      char **fields, int *nf)
{
    const char *s = t->line[i];
    if (strlen(s) >= LINE_CAP)
        return eisnet_set_error("%s:%d: line too long (over %d characters)", t->path, i + 1, EISNET_SPECTRUM_MAX_LINE);
    if (decimal_comma) {
        char tmp[LINE_CAP];
        strcpy(tmp, s);
        for (char *c = tmp; *c; c++)
            if (*c == ',') *c = '.';
        *nf = sp_split(tmp, seps, merge, buf, LINE_CAP, fields);
    } else {
        *nf = sp_split(s, seps, merge, buf, LINE_CAP, fields);
    }
    return 0;
}

/* Column of `name` (exact, after trimming) among fields, or -1. */
static int find_col(char **fields, int nf, const char *name)
{
    for (int k = 0; k < nf; k++)
        if (strcmp(fields[k], name) == 0) return k;
    return -1;
}

/* Reads rows [from, to) of t, skipping blank lines; cols are f, Re, Im. */
static int read_rows(const sp_text *t, int from, int to, const char *seps, int merge, int decimal_comma,
                     const int cols[3], double im_factor, int skip_zero_freq, sp_points *p)
{
    char *buf = malloc(LINE_CAP);
    if (!buf) return eisnet_set_error("out of memory");
    char *fields[SP_MAX_FIELDS];
    int rc = 0;
    for (int i = from; i < to && rc == 0; i++) {
        if (sp_blank(t->line[i])) continue;
        int nf = 0;
        rc = split_line(t, i, seps, merge, decimal_comma, buf, fields, &nf);
        if (rc == 0 && skip_zero_freq && cols[0] < nf && strtod(fields[cols[0]], NULL) == 0.0) continue;
        if (rc == 0) rc = sp_push_fields(t, i + 1, fields, nf, cols, im_factor, p);
    }
    free(buf);
    return rc;
}

/* Gamry .DTA: the table after the "ZCURVE" line: a line of column names, a
 * line of units, then rows (each starting with a tab) until a line that
 * starts a new section (e.g. EXPERIMENTABORTED) or the end. Decimal commas
 * are read as points. */
int sp_read_gamry(const sp_text *t, sp_points *p)
{
    int start = -1;
    for (int i = 0; i < t->n; i++)
        if (strncmp(t->line[i], "ZCURVE", 6) == 0) start = i;
    if (start < 0) return eisnet_set_error("%s: no ZCURVE table (not a Gamry impedance file?)", t->path);
    if (start + 3 > t->n) return eisnet_set_error("%s:%d: the ZCURVE table has no rows", t->path, start + 1);
    char buf[LINE_CAP], *fields[SP_MAX_FIELDS];
    int nf = 0;
    if (split_line(t, start + 1, " \t", 1, 0, buf, fields, &nf) != 0) return -1;
    int cols[3] = {find_col(fields, nf, "Freq"), find_col(fields, nf, "Zreal"), find_col(fields, nf, "Zimag")};
    const char *names[3] = {"Freq", "Zreal", "Zimag"};
    for (int k = 0; k < 3; k++)
        if (cols[k] < 0) return eisnet_set_error("%s:%d: column '%s' not found in the ZCURVE header", t->path, start + 2, names[k]);
    int end = start + 3;
    while (end < t->n && (t->line[end][0] == '\t' || t->line[end][0] == ' ') && !sp_blank(t->line[end])) end++;
    return read_rows(t, start + 3, end, " \t", 1, 1, cols, 1.0, 0, p);
}

/* BioLogic EC-Lab .mpt: line 2 says "Nb header lines : N"; line N names the
 * tab-separated columns; the file stores -Im(Z). */
int sp_read_biologic(const sp_text *t, sp_points *p)
{
    if (t->n < 2 || !sp_contains(t->line[1], "header lines"))
        return eisnet_set_error("%s:2: expected 'Nb header lines : N' (not a BioLogic .mpt file?)", t->path);
    const char *colon = strchr(t->line[1], ':');
    long nh = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (nh < 2 || nh > t->n) return eisnet_set_error("%s:2: bad header line count '%s'", t->path, t->line[1]);
    char buf[LINE_CAP], *fields[SP_MAX_FIELDS];
    int nf = 0;
    if (split_line(t, (int)nh - 1, "\t", 0, 0, buf, fields, &nf) != 0) return -1;
    const char *names[3] = {"freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm"};
    int cols[3];
    for (int k = 0; k < 3; k++) {
        cols[k] = find_col(fields, nf, names[k]);
        if (cols[k] < 0)
            return eisnet_set_error("%s:%ld: column '%s' not found in the header", t->path, nh, names[k]);
    }
    return read_rows(t, (int)nh, t->n, "\t", 0, 0, cols, -1.0, 0, p);
}

/* Autolab ASCII: comma separated rows after the last line naming "Freq":
 * frequency in column 1, Z' and Z'' in columns 5 and 6. */
int sp_read_autolab(const sp_text *t, sp_points *p)
{
    int head = -1;
    for (int i = 0; i < t->n; i++)
        if (strstr(t->line[i], "Freq")) head = i;
    if (head < 0) return eisnet_set_error("%s: no header line naming 'Freq' (not an Autolab file?)", t->path);
    const int cols[3] = {0, 4, 5};
    return read_rows(t, head + 1, t->n, ",", 0, 0, cols, 1.0, 0, p);
}

/* Parstat .txt: one header line, whitespace separated; frequency, Zre, Zim in
 * columns 4-6; rows at 0 Hz (the DC part of the run) are skipped. */
int sp_read_parstat(const sp_text *t, sp_points *p)
{
    const int cols[3] = {3, 4, 5};
    return read_rows(t, 1, t->n, " \t", 1, 0, cols, 1.0, 1, p);
}

/* ZPlot .z: rows after "End Comments", or after the "Freq(Hz)" header when
 * the file has no comment block; tab or comma separated; frequency, Z', Z''
 * in columns 1, 5, 6. */
int sp_read_zplot(const sp_text *t, sp_points *p)
{
    int start = -1, head = -1;
    for (int i = 0; i < t->n; i++) {
        if (strstr(t->line[i], "End Comments")) start = i;
        if (strstr(t->line[i], "Freq(Hz)")) head = i;
    }
    if (start < 0) start = head;
    if (start < 0) return eisnet_set_error("%s: neither 'End Comments' nor a 'Freq(Hz)' header (not a ZPlot file?)", t->path);
    const int cols[3] = {0, 4, 5};
    return read_rows(t, start + 1, t->n, "\t,", 0, 0, cols, 1.0, 0, p);
}

/* VersaStudio .par: the rows of <Segment1>, after its "Definition=" line,
 * comma separated; columns "Frequency(Hz)", "Z Real", "Z Imag". */
int sp_read_versastudio(const sp_text *t, sp_points *p)
{
    int open = -1, close = -1, def = -1;
    for (int i = 0; i < t->n; i++) {
        if (open < 0 && strstr(t->line[i], "<Segment1>")) open = i;
        else if (open >= 0 && close < 0 && strstr(t->line[i], "</Segment1>")) close = i;
        else if (open >= 0 && close < 0 && def < 0 && strncmp(t->line[i], "Definition=", 11) == 0) def = i;
    }
    if (open < 0 || close < 0) return eisnet_set_error("%s: no <Segment1> ... </Segment1> block (not a VersaStudio .par file?)", t->path);
    if (def < 0) return eisnet_set_error("%s:%d: <Segment1> has no 'Definition=' line", t->path, open + 1);
    char buf[LINE_CAP], *fields[SP_MAX_FIELDS];
    int nf = 0;
    if (split_line(t, def, ",", 0, 0, buf, fields, &nf) != 0) return -1;
    if (nf > 0 && strncmp(fields[0], "Definition=", 11) == 0) fields[0] += 11;
    const char *names[3] = {"Frequency(Hz)", "Z Real", "Z Imag"};
    int cols[3];
    for (int k = 0; k < 3; k++) {
        cols[k] = find_col(fields, nf, names[k]);
        if (cols[k] < 0) return eisnet_set_error("%s:%d: column '%s' not in the segment's Definition", t->path, def + 1, names[k]);
    }
    int from = def + 1;
    while (from < close && strchr(t->line[from], '=') && !strchr(t->line[from], ',')) from++;
    return read_rows(t, from, close, ",", 0, 0, cols, 1.0, 0, p);
}

/* PowerSuite .txt: a header line, then tab separated frequency, Zre, Zimg. */
int sp_read_powersuite(const sp_text *t, sp_points *p)
{
    const int cols[3] = {0, 1, 2};
    return read_rows(t, 1, t->n, "\t", 0, 0, cols, 1.0, 0, p);
}

/* CH Instruments .txt: comma separated frequency, Z', Z'' after the line that
 * starts with "Freq/Hz". */
int sp_read_chinstruments(const sp_text *t, sp_points *p)
{
    int head = -1;
    for (int i = 0; i < t->n; i++)
        if (strncmp(t->line[i], "Freq/Hz", 7) == 0) head = i;
    if (head < 0) return eisnet_set_error("%s: no line starting with 'Freq/Hz' (not a CH Instruments file?)", t->path);
    const int cols[3] = {0, 1, 2};
    return read_rows(t, head + 1, t->n, ",", 0, 0, cols, 1.0, 0, p);
}
