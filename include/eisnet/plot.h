/* eisnet/plot.h: self-contained SVG 1.1 plots (training curves, distributions,
 * joint heat maps, Nyquist and Bode diagrams).
 *
 * Every function writes one file atomically (eisnet_write_file_atomic) and
 * returns 0, or -1 with the error set (NULL path or data, negative counts,
 * out-of-range indices, unknown style). Text may be UTF-8 (Ω, Greek); it is
 * XML-escaped. Titles and labels may be NULL (left out). Points whose x or y
 * is NaN/inf (or <= 0 on a log axis) are skipped and break a line; an empty
 * plot still gets its frame, axes and a "no data" note. See docs/plots.md. */
#ifndef EISNET_PLOT_H
#define EISNET_PLOT_H

#include <complex.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    EISNET_PLOT_LINE = 0,
    EISNET_PLOT_MARKERS = 1,
    EISNET_PLOT_LINE_MARKERS = 2,
    EISNET_PLOT_DASHED = 3
};

typedef struct {
    const char *label;   /* legend text; NULL or "" = not in the legend */
    const double *x, *y;
    int n;
    int style;           /* EISNET_PLOT_* */
} eisnet_plot_series;

typedef struct {
    const char *title;   /* plot title (for a panel of eisnet_plot_lines2: a caption above it) */
    const char *xlabel, *ylabel;   /* with units, e.g. "Frequency (Hz)" */
    int logx, logy;      /* decades, labelled 10^k */
    int equal_aspect;    /* one unit is as long on x as on y (Nyquist) */
} eisnet_plot_axes;

int eisnet_plot_lines(const char *path, const eisnet_plot_axes *ax, const eisnet_plot_series *s, int n_series);

/* Two stacked panels sharing x (limits from both; scale and x label from
 * `bottom`, logx of either panel makes it logarithmic): e.g. training loss
 * and accuracy, or Bode magnitude and phase. equal_aspect is ignored. */
int eisnet_plot_lines2(const char *path, const char *title, const eisnet_plot_axes *top,
                       const eisnet_plot_series *s1, int n1, const eisnet_plot_axes *bottom,
                       const eisnet_plot_series *s2, int n2);

/* Bar chart of values[0..n-1] over grid points labelled labels[i] (labels or
 * an entry may be NULL: the index is shown). highlight = index of a bar drawn
 * in the accent color with its value written above it (-1: none). When ref is
 * not NULL, reference bars (e.g. the exact distribution) stand beside the main
 * ones and a legend names value_name and ref_name. */
int eisnet_plot_bars(const char *path, const char *title, const char *xlabel, const char *ylabel,
                     const char *const *labels, const double *values, const double *ref, const char *value_name,
                     const char *ref_name, int n, int highlight);

/* Joint heat map z[iy*nx + ix] (row = y grid value, drawn bottom to top)
 * with tick labels xticks[nx], yticks[ny] (NULL: indices), a color bar
 * labelled "probability", the top-k cells (top_x[r], top_y[r]) marked with
 * their rank r+1, and beside it a horizontal bar chart of top_p[0..k-1]
 * labelled "xname=xtick, yname=ytick". A name may carry a unit in
 * parentheses, "Ra (Ω)": the axis shows all of it, the bar labels the part
 * before " (". k = 0: no bar chart. */
int eisnet_plot_joint(const char *path, const char *title, const char *xname, const char *yname,
                      const char *const *xticks, const char *const *yticks, const double *z, int nx, int ny,
                      const int *top_x, const int *top_y, const double *top_p, int k);

/* A spectrum for Nyquist/Bode plots: style EISNET_PLOT_MARKERS for measured
 * data, EISNET_PLOT_LINE for a model. freq may be NULL for Nyquist. */
typedef struct {
    const char *label;
    const double *freq;          /* Hz */
    const double complex *z;     /* Ω */
    int n;
    int style;
} eisnet_plot_spectrum;

/* Re(Z) against -Im(Z), both in Ω, equal aspect. */
int eisnet_plot_nyquist(const char *path, const char *title, const eisnet_plot_spectrum *s, int n_series);

/* |Z| in Ω (log-log) over the phase of Z in degrees, against f in Hz (log). */
int eisnet_plot_bode(const char *path, const char *title, const eisnet_plot_spectrum *s, int n_series);

#ifdef __cplusplus
}
#endif
#endif
