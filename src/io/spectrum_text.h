/* Shared helpers of the spectrum readers (src/spectrum_*.c): a file split into
 * lines, fields split out of a line, and a growing list of points. */
#ifndef EISNET_SPECTRUM_TEXT_H
#define EISNET_SPECTRUM_TEXT_H

#include <stddef.h>

typedef struct {
    char *buf;    /* the file, NUL-terminated lines in place */
    char **line;  /* line[i] is line i + 1 of the file, without its end */
    int n;
    const char *path;
} sp_text;

typedef struct {
    double *f, *re, *im;
    int *line; /* 1-based line of the file */
    int n, cap;
} sp_points;

#define SP_MAX_FIELDS 64

/* Reads the file (at most EISNET_SPECTRUM_MAX_BYTES), drops a UTF-8 byte order
 * mark, splits at LF, CRLF or CR. A NUL byte is an error. */
int sp_text_load(const char *path, sp_text *t);
int sp_text_from_memory(const char *data, size_t n, const char *path, sp_text *t);
void sp_text_free(sp_text *t);

/* 1 when the line holds only spaces and tabs. */
int sp_blank(const char *s);
/* Splits a copy of `line` (into buf, cap bytes) at any byte of `seps`; runs of
 * separators count as one when `merge`; fields are trimmed of spaces, tabs and
 * double quotes. Returns the field count (at most SP_MAX_FIELDS). */
int sp_split(const char *line, const char *seps, int merge, char *buf, size_t cap, char **fields);
/* Parses a whole field as a finite number; -1 with "path:line: column c ..." set. */
int sp_number(const sp_text *t, int line, int col, const char *field, double *v);
/* Case-insensitive substring test. */
int sp_contains(const char *hay, const char *needle);

int sp_push(sp_points *p, double f, double re, double im, int line);
void sp_points_free(sp_points *p);

/* One row: fields at cols[0..2] of `fields` as f, Re, Im (times im_factor). */
int sp_push_fields(const sp_text *t, int line, char **fields, int nf, const int cols[3], double im_factor,
                   sp_points *p);

/* Instrument readers (src/io/spectrum_formats.c) and CSV (src/io/spectrum_csv_header.c). */
int sp_read_gamry(const sp_text *t, sp_points *p);
int sp_read_biologic(const sp_text *t, sp_points *p);
int sp_read_autolab(const sp_text *t, sp_points *p);
int sp_read_parstat(const sp_text *t, sp_points *p);
int sp_read_zplot(const sp_text *t, sp_points *p);
int sp_read_versastudio(const sp_text *t, sp_points *p);
int sp_read_powersuite(const sp_text *t, sp_points *p);
int sp_read_chinstruments(const sp_text *t, sp_points *p);

typedef struct {
    int im_sign;   /* eisnet_im_sign */
    int im_negated, polar, phase_radians;
    char note[200];
} sp_csv_info;
int sp_read_csv(const sp_text *t, sp_points *p, sp_csv_info *ci);

#endif
