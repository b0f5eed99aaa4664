/* eisnet/spectrum.h: a measured impedance spectrum read from CSV, and its
 * interpolation onto the model's frequencies.
 *
 * CSV format: impedance.py's readCSV/saveCSV, three columns freq,Re(Z),Im(Z)
 * with freq in Hz and Z in Ω. Separator ',' (also ';', tab, or runs of spaces
 * when a line has none of those), fields may be padded with spaces or wrapped
 * in double quotes; CRLF line ends and a UTF-8 byte order mark are accepted;
 * blank lines and lines starting with '#' are skipped. The first non-blank
 * line is a header (and skipped) when its first field is not a number. Rows
 * may come in any frequency order; they are sorted ascending. */
#ifndef EISNET_SPECTRUM_H
#define EISNET_SPECTRUM_H

#include <complex.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;
    double *freq;        /* Hz, strictly ascending after reading */
    double complex *z;   /* Ω */
} eisnet_spectrum;

/* Longest accepted line, in bytes (without the line end). */
#define EISNET_SPECTRUM_MAX_LINE 4096
/* Largest accepted file. */
#define EISNET_SPECTRUM_MAX_BYTES ((size_t)256 << 20)

/* Reads `path` into `out` (malloc'ed arrays; release with
 * eisnet_spectrum_free). Returns 0, or -1 with a one-line error naming the
 * file and line ("meas.csv:7: 'abc' is not a number") and `out` zeroed.
 * Rejected: unreadable or empty file, a line that is too long or holds a NUL
 * byte, a row with other than 3 columns, a field that is not a finite number,
 * a frequency <= 0, a frequency given twice, fewer than 3 rows. */
int eisnet_spectrum_read_csv(const char *path, eisnet_spectrum *out);

/* Releases the arrays and zeroes `s`. Safe on a zeroed struct and NULL. */
void eisnet_spectrum_free(eisnet_spectrum *s);

/* Linear interpolation of Re(Z) and Im(Z) in log10(f) onto freq[0..n-1]
 * (any order), written to out[0..n-1]. Exact at the measured frequencies.
 * A target outside the measured range is an error naming both ranges unless
 * `extrapolate` != 0; then Re and Im are extrapolated linearly in log10(f)
 * from the two end points on that side. `s` needs n >= 2 strictly ascending
 * positive frequencies; targets must be finite and > 0. Returns 0 or -1. */
int eisnet_spectrum_interpolate(const eisnet_spectrum *s, const double *freq, int n, int extrapolate,
                                double complex *out);

/* The network's raw (unstandardised) spectrum features of z (n_freq values):
 * log10|Z| and the phase in radians per frequency, interleaved (2 n_freq
 * floats); a predictor standardises them with its training normalisation. */
void eisnet_spectrum_raw_features(const double complex *z, int n_freq, float *out);

#ifdef __cplusplus
}
#endif
#endif
