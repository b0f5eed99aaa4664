/* SVG 1.1 plots: line charts (one or two panels), bar charts, joint heat
 * maps, Nyquist and Bode diagrams. Self-contained output (no external fonts,
 * CSS or images), written atomically. */
#include "eisnet/plot.h"

#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/units.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
#define MINUS "\xE2\x88\x92"   /* U+2212 */
#define TIMES "\xC3\x97"       /* U+00D7 */
#define FS_TICK 12.0
#define FS_LABEL 14.0
#define FS_TITLE 18.0
#define CHAR_W 0.62            /* average glyph width in em, for layout */
#define GRID_COLOR "#e3e3e3"
#define FRAME_COLOR "#333333"

/* Okabe-Ito: distinguishable with every common color vision deficiency. */
static const char *const PALETTE[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
#define NPAL 7
#define ACCENT "#D55E00"
#define MAIN_BAR "#0072B2"
#define REF_BAR "#b8b8b8"

/* ------------------------------------------------------------------ buffer */

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static int sb_reserve(sbuf *b, size_t extra)
{
    if (b->oom) return -1;
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 8192;
    while (nc < b->n + extra + 1) nc *= 2;
    char *p = realloc(b->s, nc);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->s = p;
    b->cap = nc;
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (sb_reserve(b, 256) < 0) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)k >= b->cap - b->n) {
        if (sb_reserve(b, (size_t)k) < 0) return;
        va_start(ap, fmt);
        vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)k;
}

static void sb_putc(sbuf *b, char c)
{
    if (sb_reserve(b, 1) < 0) return;
    b->s[b->n++] = c;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    size_t k = strlen(s);
    if (sb_reserve(b, k) < 0) return;
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}

/* Length of the valid UTF-8 sequence at s (0 when invalid). */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* XML character data / attribute value: escaped, control bytes as spaces,
 * invalid UTF-8 as '?'. */
static void sb_text(sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c >= 0x80) {
            int k = utf8_len(p);
            if (k == 0) {
                sb_putc(b, '?');
                p++;
            } else {
                for (int i = 0; i < k; i++) sb_putc(b, (char)p[i]);
                p += k;
            }
            continue;
        }
        switch (c) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default: sb_putc(b, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
        }
        p++;
    }
}

/* Approximate rendered width of UTF-8 text, in px. */
static double text_w(const char *s, double fs)
{
    if (!s) return 0;
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n * fs * CHAR_W;
}

static int has_text(const char *s) { return s && s[0]; }

/* <text> with optional extra attributes. */
static void svg_text(sbuf *b, double x, double y, double fs, const char *anchor, const char *extra, const char *s)
{
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\"", x, y, fs);
    if (anchor) sb_printf(b, " text-anchor=\"%s\"", anchor);
    if (extra) sb_printf(b, " %s", extra);
    sb_puts(b, ">");
    sb_text(b, s);
    sb_puts(b, "</text>\n");
}

static void svg_vtext(sbuf *b, double x, double y, double fs, const char *s)
{
    sb_printf(b, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" font-size=\"%.0f\" text-anchor=\"middle\">", x,
              y, fs);
    sb_text(b, s);
    sb_puts(b, "</text>\n");
}

static void svg_begin(sbuf *b, double w, double h)
{
    sb_printf(b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
              "viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\" fill=\"#222222\">\n"
              "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
              w, h, w, h, FONT, w, h);
}

static void svg_title(sbuf *b, double w, const char *title)
{
    if (has_text(title))
        svg_text(b, w / 2, 30, FS_TITLE, "middle", "font-weight=\"bold\"", title);
}

static int svg_finish(sbuf *b, const char *path)
{
    sb_puts(b, "</svg>\n");
    if (b->oom) {
        free(b->s);
        return eisnet_set_error("out of memory while drawing %s", path);
    }
    int rc = eisnet_write_file_atomic(path, b->s, b->n);
    free(b->s);
    return rc;
}

/* -------------------------------------------------------------------- axes */

#define MAXT 64
#define MAXM 128

typedef struct {
    int log;
    double lo, hi;      /* limits, in log10 units on a log axis */
    double a, b;        /* pixels of lo and hi */
    int nt, nm;
    double tv[MAXT];    /* major ticks (axis units) */
    double mv[MAXM];    /* minor ticks */
    double step;
    int sci, e, dec;    /* label format of a linear axis */
    int plain;          /* log axis: ticks at 1-2-5 (or every) mantissa, labelled as plain numbers */
} axis_t;

static int valid_v(double v, int logscale) { return isfinite(v) && fabs(v) < 1e300 && (!logscale || v > 0); }

static double ax_u(const axis_t *x, double v) { return x->log ? log10(v) : v; }

static double ax_px_u(const axis_t *x, double u) { return x->a + (u - x->lo) / (x->hi - x->lo) * (x->b - x->a); }

static double ax_px(const axis_t *x, double v) { return ax_px_u(x, ax_u(x, v)); }

static double nice_step(double raw)
{
    if (!(raw > 0) || !isfinite(raw)) return 1;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    double m = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10;
    return m * mag;
}

/* Major ticks every `step` within [lo, hi] and the label format. */
static void lin_ticks_step(axis_t *x, double step)
{
    double r = x->hi - x->lo;
    while (r / step > MAXT - 2) step = nice_step(step * 2.2);
    x->step = step;
    x->nt = 0;
    x->nm = 0;
    double i0 = ceil(x->lo / step - 1e-9), i1 = floor(x->hi / step + 1e-9);
    for (double i = i0; i <= i1 && x->nt < MAXT; i++) {
        double v = i * step;
        if (fabs(v) < step * 1e-6) v = 0;
        x->tv[x->nt++] = v;
    }
    double amax = fmax(fabs(x->lo), fabs(x->hi));
    int sd = (int)floor(log10(step) + 1e-9);
    x->sci = amax >= 1e5 || (amax < 1e-3 && amax > 0);
    if (x->sci) {
        x->e = (int)floor(log10(amax) + 1e-9);
        x->dec = x->e - sd > 0 ? x->e - sd : 0;
    } else {
        x->e = 0;
        x->dec = sd < 0 ? -sd : 0;
    }
}

/* Linear limits from the data range (padded by `pad` of the range). */
static void lin_limits(axis_t *x, double dmin, double dmax, int have, double pad)
{
    x->log = 0;
    if (!have) {
        dmin = 0;
        dmax = 1;
    }
    if (!(dmax - dmin > 1e-9 * fmax(fabs(dmin), fabs(dmax)))) {
        double d = fabs(dmin) * 0.1;
        if (!(d > 0)) d = 1;
        dmin -= d;
        dmax += d;
    }
    double r = dmax - dmin;
    x->lo = dmin - pad * r;
    x->hi = dmax + pad * r;
}

/* A log axis over the data (padded by 3 % of the span, not out to whole
 * decades). Spans of 2.5 decades or more get decade ticks labelled 10^k;
 * narrower ones get ticks at 1, 2, 5 (or every) mantissa, labelled as plain
 * numbers, so that a one-decade |Z| axis still reads. */
static void log_axis(axis_t *x, double dmin, double dmax, int have)
{
    x->log = 1;
    x->plain = 0;
    x->nt = x->nm = 0;
    if (!have) {
        x->lo = 0;
        x->hi = 1;
    } else {
        double l0 = log10(dmin), l1 = log10(dmax);
        if (l1 - l0 < 0.05) {
            double mid = (l0 + l1) / 2;
            l0 = mid - 0.1;
            l1 = mid + 0.1;
        }
        const double pad = 0.03 * (l1 - l0);
        x->lo = l0 - pad;
        x->hi = l1 + pad;
    }
    const double span = x->hi - x->lo;
    if (span >= 2.5) {
        int nd = (int)ceil(span);
        int every = (nd + 7) / 8;
        x->step = every;
        for (int k = (int)ceil(x->lo - 1e-9); k <= (int)floor(x->hi + 1e-9) && x->nt < MAXT; k++) {
            int r = k % every;
            if (r < 0) r += every;
            if (r == 0) x->tv[x->nt++] = k;
        }
        if (nd <= 6)
            for (int k = (int)floor(x->lo); k <= (int)ceil(x->hi); k++)
                for (int m = 2; m <= 9 && x->nm < MAXM; m++) {
                    double u = k + log10((double)m);
                    if (u > x->lo && u < x->hi) x->mv[x->nm++] = u;
                }
        return;
    }
    x->plain = 1;
    x->step = 0;
    static const int sets[3][10] = {{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    static const int nset[3] = {3, 9, 9};
    for (int pass = span >= 1 ? 0 : 1; pass < 3; pass++) {
        x->nt = x->nm = 0;
        for (int k = (int)floor(x->lo) - 1; k <= (int)ceil(x->hi); k++)
            for (int m = 1; m <= 9; m++) {
                double u = k + log10((double)m);
                if (u < x->lo - 1e-12 || u > x->hi + 1e-12) continue;
                int major = 0;
                for (int q = 0; q < nset[pass]; q++) major |= sets[pass][q] == m;
                if (major && x->nt < MAXT) x->tv[x->nt++] = u;
                else if (!major && x->nm < MAXM) x->mv[x->nm++] = u;
            }
        if (x->nt >= 3) return;
    }
    /* under two mantissa steps wide: evenly spaced nice values */
    axis_t lin = *x;
    lin.log = 0;
    lin.lo = pow(10, x->lo);
    lin.hi = pow(10, x->hi);
    lin_ticks_step(&lin, nice_step((lin.hi - lin.lo) / 4));
    x->nt = x->nm = 0;
    for (int i = 0; i < lin.nt && x->nt < MAXT; i++)
        if (lin.tv[i] > 0) x->tv[x->nt++] = log10(lin.tv[i]);
}

/* Label of tick value u: base text and an optional superscript. */
static void tick_label(const axis_t *x, double u, char *base, size_t nb, char *sup, size_t ns)
{
    sup[0] = '\0';
    if (x->log && x->plain) {
        /* plain digits from 0.001 to 999999, else mantissa x 10^k */
        double v = pow(10, u);
        if (v >= 1e-3 && v < 1e6) {
            snprintf(base, nb, "%.*f", v >= 1 ? 0 : (int)ceil(-log10(v) - 1e-9) + 2, v);
            /* trailing zeros of a decimal fraction go */
            if (strchr(base, '.')) {
                size_t n = strlen(base);
                while (n > 1 && base[n - 1] == '0') base[--n] = '\0';
                if (base[n - 1] == '.') base[n - 1] = '\0';
            }
        } else {
            int e = (int)floor(u + 1e-9);
            snprintf(base, nb, "%.3g" TIMES "10", v / pow(10, e));
            snprintf(sup, ns, "%s%d", e < 0 ? MINUS : "", abs(e));
        }
        return;
    }
    if (x->log) {
        int k = (int)lround(u);
        snprintf(base, nb, "10");
        snprintf(sup, ns, "%s%d", k < 0 ? MINUS : "", abs(k));
        return;
    }
    double v = u;
    char tmp[64];
    if (x->sci && v != 0) {
        double m = v / pow(10, x->e);
        snprintf(tmp, sizeof tmp, "%.*f" TIMES "10", x->dec, fabs(m));
        snprintf(sup, ns, "%s%d", x->e < 0 ? MINUS : "", abs(x->e));
    } else {
        snprintf(tmp, sizeof tmp, "%.*f", x->dec, fabs(v));
    }
    snprintf(base, nb, "%s%s", v < 0 ? MINUS : "", tmp);
}

static double tick_label_w(const axis_t *x, double u)
{
    char base[96], sup[16];
    tick_label(x, u, base, sizeof base, sup, sizeof sup);
    return text_w(base, FS_TICK) + text_w(sup, FS_TICK * 0.75);
}

static double max_tick_w(const axis_t *x)
{
    double w = 0;
    for (int i = 0; i < x->nt; i++) w = fmax(w, tick_label_w(x, x->tv[i]));
    return w;
}

static void svg_tick_label(sbuf *b, const axis_t *x, double u, double px, double py, const char *anchor)
{
    char base[96], sup[16];
    tick_label(x, u, base, sizeof base, sup, sizeof sup);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"%s\">", px, py, FS_TICK, anchor);
    sb_text(b, base);
    if (sup[0]) {
        sb_printf(b, "<tspan dy=\"-5\" font-size=\"%.0f\">", FS_TICK * 0.75);
        sb_text(b, sup);
        sb_puts(b, "</tspan>");
    }
    sb_puts(b, "</text>\n");
}

/* Linear ticks for an axis `pix` pixels long, about `spacing` px apart, with
 * labels at least `gap` px apart when horizontal (labels_horizontal). */
static void lin_ticks_fit(axis_t *x, double pix, double spacing, int labels_horizontal)
{
    double target = fmax(2, pix / spacing);
    for (int tries = 0; tries < 8; tries++) {
        lin_ticks_step(x, nice_step((x->hi - x->lo) / target));
        if (!labels_horizontal || x->nt < 2) return;
        double per = pix * x->step / (x->hi - x->lo);
        if (max_tick_w(x) + 10 <= per) return;
        target *= 0.6;
    }
}

/* ----------------------------------------------------------- line charts */

typedef struct {
    const eisnet_plot_axes *ax;
    const eisnet_plot_series *s;
    int n;
    axis_t y;
    double x0, y0, w, h;
    int have;
} panel_t;

static const char *series_color(int i) { return PALETTE[i % NPAL]; }

static void svg_marker(sbuf *b, int shape, double x, double y)
{
    switch (shape % 4) {
    case 0: sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.6\"/>", x, y); break;
    case 1: sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"6.6\" height=\"6.6\"/>", x - 3.3, y - 3.3); break;
    case 2:
        sb_printf(b, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\"/>", x, y - 4.4, x + 4.0, y + 2.7, x - 4.0, y + 2.7);
        break;
    default:
        sb_printf(b, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\"/>", x, y - 4.6, x + 4.6, y, x, y + 4.6,
                  x - 4.6, y);
    }
}

static int style_has_line(int st) { return st != EISNET_PLOT_MARKERS; }
static int style_has_markers(int st) { return st == EISNET_PLOT_MARKERS || st == EISNET_PLOT_LINE_MARKERS; }

static void legend_swatch(sbuf *b, double x, double y, int i, int style)
{
    const char *c = series_color(i);
    if (style_has_line(style))
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.2\"%s/>", x,
                  y, x + 26, y, c, style == EISNET_PLOT_DASHED ? " stroke-dasharray=\"7 4\"" : "");
    if (style_has_markers(style)) {
        sb_printf(b, "<g fill=\"%s\">", c);
        svg_marker(b, i, x + 13, y);
        sb_puts(b, "</g>\n");
    }
}

/* Number of the panel's drawn points (and segment midpoints) inside a box. */
static int count_in_box(const panel_t *p, const axis_t *xa, double bx, double by, double bw, double bh)
{
    int cnt = 0;
    for (int i = 0; i < p->n; i++) {
        const eisnet_plot_series *s = &p->s[i];
        double px_prev = NAN, py_prev = NAN;
        for (int j = 0; j < s->n; j++) {
            if (!valid_v(s->x[j], xa->log) || !valid_v(s->y[j], p->y.log)) {
                px_prev = NAN;
                continue;
            }
            double px = ax_px(xa, s->x[j]), py = ax_px(&p->y, s->y[j]);
            if (px >= bx - 4 && px <= bx + bw + 4 && py >= by - 4 && py <= by + bh + 4) cnt += 2;
            if (!isnan(px_prev) && style_has_line(s->style)) {
                for (int q = 1; q < 4; q++) {
                    double mx = px_prev + (px - px_prev) * q / 4, my = py_prev + (py - py_prev) * q / 4;
                    if (mx >= bx && mx <= bx + bw && my >= by && my <= by + bh) cnt++;
                }
            }
            px_prev = px;
            py_prev = py;
        }
    }
    return cnt;
}

#define LEGEND_ROW 19.0
#define LEGEND_MARGIN 10.0

/* Size of the panel's legend box; 0 when no series has a label. */
static int legend_size(const panel_t *p, double *bw, double *bh)
{
    int ne = 0;
    double lw = 0;
    for (int i = 0; i < p->n; i++)
        if (has_text(p->s[i].label)) {
            ne++;
            lw = fmax(lw, text_w(p->s[i].label, FS_TICK));
        }
    *bw = lw + 48;
    *bh = ne * LEGEND_ROW + 10;
    return ne;
}

/* The corner (0 top right, 1 top left, 2 bottom right, 3 bottom left) whose
 * legend box covers the fewest drawn points; *covered gets that count. */
static int legend_corner(const panel_t *p, const axis_t *xa, double bw, double bh, double *bx, double *by,
                         int *covered)
{
    const double m = LEGEND_MARGIN;
    const double cx[4] = {p->x0 + p->w - m - bw, p->x0 + m, p->x0 + p->w - m - bw, p->x0 + m};
    const double cy[4] = {p->y0 + m, p->y0 + m, p->y0 + p->h - m - bh, p->y0 + p->h - m - bh};
    int best = 0, bestc = -1;
    for (int c = 0; c < 4; c++) {
        int k = count_in_box(p, xa, cx[c], cy[c], bw, bh);
        if (bestc < 0 || k < bestc) {
            bestc = k;
            best = c;
        }
    }
    *bx = cx[best];
    *by = cy[best];
    *covered = bestc;
    return best;
}

static void draw_legend(sbuf *b, const panel_t *p, const axis_t *xa)
{
    double bw, bh, bx, by;
    int covered;
    if (!legend_size(p, &bw, &bh)) return;
    legend_corner(p, xa, bw, bh, &bx, &by, &covered);
    sb_printf(b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" fill-opacity=\"0.88\" "
              "stroke=\"#999999\" stroke-width=\"0.8\" rx=\"3\"/>\n",
              bx, by, bw, bh);
    int r = 0;
    for (int i = 0; i < p->n; i++) {
        if (!has_text(p->s[i].label)) continue;
        double y = by + 5 + LEGEND_ROW * (r + 0.5);
        legend_swatch(b, bx + 8, y, i, p->s[i].style);
        svg_text(b, bx + 42, y + 4.2, FS_TICK, NULL, NULL, p->s[i].label);
        r++;
    }
}

/* Text written beside points of the first panel (frequencies on a Nyquist
 * curve). */
#define MAX_NOTES 24
typedef struct {
    int n;
    double x[MAX_NOTES], y[MAX_NOTES];
    char t[MAX_NOTES][32];
} notes_t;

static void draw_notes(sbuf *b, const panel_t *p, const axis_t *xa, notes_t *nt)
{
    if (!nt) return;
    sb_printf(b, "<g font-size=\"10\" fill=\"#444444\" stroke=\"#ffffff\" stroke-width=\"3\" "
                 "paint-order=\"stroke\" stroke-linejoin=\"round\">\n");
    for (int i = 0; i < nt->n; i++) {
        if (!valid_v(nt->x[i], xa->log) || !valid_v(nt->y[i], p->y.log)) continue;
        double px = ax_px(xa, nt->x[i]), py = ax_px(&p->y, nt->y[i]);
        if (px < p->x0 || px > p->x0 + p->w || py < p->y0 || py > p->y0 + p->h) continue;
        /* a label that would overlap one already written is left out */
        int clash = 0;
        for (int j = 0; j < i && !clash; j++) {
            double qx = ax_px(xa, nt->x[j]), qy = ax_px(&p->y, nt->y[j]);
            clash = fabs(qy - py) < 13 && fabs(qx - px) < text_w(nt->t[j], 10) + 6 && nt->t[j][0];
        }
        if (clash) {
            nt->t[i][0] = '\0';
            continue;
        }
        /* near the right edge the label goes to the left of its point */
        if (px + 6 + text_w(nt->t[i], 10) > p->x0 + p->w)
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", px - 6, py - 7);
        else
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", px + 6, py - 7);
        sb_text(b, nt->t[i]);
        sb_puts(b, "</text>\n");
    }
    sb_puts(b, "</g>\n");
}

static void draw_series(sbuf *b, const panel_t *p, const axis_t *xa, int clip_id)
{
    for (int i = 0; i < p->n; i++) {
        const eisnet_plot_series *s = &p->s[i];
        const char *c = series_color(i);
        if (style_has_line(s->style)) {
            sb_printf(b,
                      "<path clip-path=\"url(#clip%d)\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.2\" "
                      "stroke-linejoin=\"round\" stroke-linecap=\"round\"%s d=\"",
                      clip_id, c, s->style == EISNET_PLOT_DASHED ? " stroke-dasharray=\"7 4\"" : "");
            int pen = 0, any = 0;
            for (int j = 0; j < s->n; j++) {
                if (!valid_v(s->x[j], xa->log) || !valid_v(s->y[j], p->y.log)) {
                    pen = 0;
                    continue;
                }
                sb_printf(b, "%s%.2f %.2f", pen ? "L" : (any ? " M" : "M"), ax_px(xa, s->x[j]), ax_px(&p->y, s->y[j]));
                pen = any = 1;
            }
            if (!any) sb_puts(b, "M0 0");
            sb_puts(b, "\"/>\n");
        }
        if (style_has_markers(s->style)) {
            sb_printf(b, "<g fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"0.6\">", c);
            for (int j = 0; j < s->n; j++) {
                if (!valid_v(s->x[j], xa->log) || !valid_v(s->y[j], p->y.log)) continue;
                svg_marker(b, i, ax_px(xa, s->x[j]), ax_px(&p->y, s->y[j]));
            }
            sb_puts(b, "</g>\n");
        }
    }
}

/* Frame, grid, ticks and tick labels of one panel. */
static void draw_frame(sbuf *b, const panel_t *p, const axis_t *xa, int xlabels, int clip_id)
{
    double x0 = p->x0, y0 = p->y0, x1 = p->x0 + p->w, y1 = p->y0 + p->h;
    const axis_t *ya = &p->y;
    sb_printf(b, "<clipPath id=\"clip%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n",
              clip_id, x0, y0, p->w, p->h);
    sb_printf(b, "<g stroke=\"%s\" stroke-width=\"1\">", GRID_COLOR);
    for (int i = 0; i < xa->nt; i++) {
        double px = ax_px_u(xa, xa->tv[i]);
        if (px > x0 + 0.5 && px < x1 - 0.5)
            sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", px, y0, px, y1);
    }
    for (int i = 0; i < ya->nt; i++) {
        double py = ax_px_u(ya, ya->tv[i]);
        if (py > y0 + 0.5 && py < y1 - 0.5)
            sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0, py, x1, py);
    }
    sb_puts(b, "</g>\n");
    sb_printf(b, "<g stroke=\"%s\" stroke-width=\"1\">", FRAME_COLOR);
    for (int i = 0; i < xa->nt; i++) {
        double px = ax_px_u(xa, xa->tv[i]);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", px, y1, px, y1 + 5);
    }
    for (int i = 0; i < xa->nm; i++) {
        double px = ax_px_u(xa, xa->mv[i]);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", px, y1, px, y1 + 3);
    }
    for (int i = 0; i < ya->nt; i++) {
        double py = ax_px_u(ya, ya->tv[i]);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0 - 5, py, x0, py);
    }
    for (int i = 0; i < ya->nm; i++) {
        double py = ax_px_u(ya, ya->mv[i]);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0 - 3, py, x0, py);
    }
    sb_puts(b, "</g>\n");
    sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%s\"/>\n", x0, y0,
              p->w, p->h, FRAME_COLOR);
    for (int i = 0; i < ya->nt; i++) svg_tick_label(b, ya, ya->tv[i], x0 - 8, ax_px_u(ya, ya->tv[i]) + 4.2, "end");
    if (xlabels)
        for (int i = 0; i < xa->nt; i++) svg_tick_label(b, xa, xa->tv[i], ax_px_u(xa, xa->tv[i]), y1 + 20, "middle");
    if (!p->have)
        svg_text(b, x0 + p->w / 2, y0 + p->h / 2, FS_LABEL, "middle", "fill=\"#888888\"", "no data");
}

static int check_series(const char *fn, const eisnet_plot_series *s, int n)
{
    if (n < 0) return eisnet_set_error("%s: negative series count %d", fn, n);
    if (n > 0 && !s) return eisnet_set_error("%s: NULL series with count %d", fn, n);
    for (int i = 0; i < n; i++) {
        if (s[i].n < 0) return eisnet_set_error("%s: series %d has negative length %d", fn, i, s[i].n);
        if (s[i].n > 0 && (!s[i].x || !s[i].y)) return eisnet_set_error("%s: series %d has NULL data", fn, i);
        if (s[i].style < EISNET_PLOT_LINE || s[i].style > EISNET_PLOT_DASHED)
            return eisnet_set_error("%s: series %d has unknown style %d", fn, i, s[i].style);
    }
    return 0;
}

/* Draws one or two panels sharing x. */
static int render_lines(const char *path, const char *title, panel_t *p, int np, int logx, const char *xlabel,
                        int equal, notes_t *notes)
{
    const double W = 820;
    sbuf b = {0};
    double top = has_text(title) ? 50 : 18;
    double ph = np == 1 ? 420 : 270, gap = 22;
    double y = top;
    for (int k = 0; k < np; k++) {
        if (np > 1 && has_text(p[k].ax->title)) y += 20;
        p[k].y0 = y;
        p[k].h = ph;
        y += ph + gap;
    }
    const double H = y - gap + (has_text(xlabel) ? 64 : 40);

    /* Pass 0 lays the axes out over the data; when a panel's legend would
     * cover data in every corner, pass 1 raises that panel's y limit so the
     * legend gets a band of its own above the data. */
    double head[2] = {0, 0};
    axis_t xa;
    for (int pass = 0; pass < 2; pass++) {
    double xmin = INFINITY, xmax = -INFINITY;
    for (int k = 0; k < np; k++) {
        double ymin = INFINITY, ymax = -INFINITY;
        int logy = p[k].ax->logy;
        p[k].have = 0;
        for (int i = 0; i < p[k].n; i++) {
            const eisnet_plot_series *s = &p[k].s[i];
            for (int j = 0; j < s->n; j++) {
                if (!valid_v(s->x[j], logx) || !valid_v(s->y[j], logy)) continue;
                p[k].have = 1;
                xmin = fmin(xmin, s->x[j]);
                xmax = fmax(xmax, s->x[j]);
                ymin = fmin(ymin, s->y[j]);
                ymax = fmax(ymax, s->y[j]);
            }
        }
        p[k].y.a = p[k].y0 + p[k].h;
        p[k].y.b = p[k].y0;
        if (head[k] > 0 && p[k].have && ymax > ymin) {
            if (logy) ymax = pow(10, log10(ymin) + (log10(ymax) - log10(ymin)) / (1 - head[k]));
            else ymax = ymin + (ymax - ymin) / (1 - head[k]);
        }
        if (logy) log_axis(&p[k].y, ymin, ymax, p[k].have);
        else {
            lin_limits(&p[k].y, ymin, ymax, p[k].have, 0.05);
            lin_ticks_fit(&p[k].y, p[k].h, 65, 0);
        }
    }
    int havex = xmin <= xmax;
    memset(&xa, 0, sizeof xa);
    double left = 0;
    for (int k = 0; k < np; k++) {
        double l = max_tick_w(&p[k].y) + 14 + (has_text(p[k].ax->ylabel) ? 30 : 6);
        left = fmax(left, l);
    }
    left = fmax(left, 56);
    const double right = 28;
    for (int k = 0; k < np; k++) {
        p[k].x0 = left;
        p[k].w = W - left - right;
    }
    xa.a = left;
    xa.b = W - right;
    if (logx) log_axis(&xa, xmin, xmax, havex);
    else {
        lin_limits(&xa, xmin, xmax, havex, 0.04);
        lin_ticks_fit(&xa, xa.b - xa.a, 100, 1);
    }

    if (equal && np == 1 && !logx && !p[0].ax->logy) {
        axis_t *ya = &p[0].y;
        double sx = p[0].w / (xa.hi - xa.lo), sy = p[0].h / (ya->hi - ya->lo);
        if (sx > sy) {
            double extra = p[0].w / sy - (xa.hi - xa.lo);
            xa.lo -= extra / 2;
            xa.hi += extra / 2;
        } else {
            double extra = p[0].h / sx - (ya->hi - ya->lo);
            double below = ya->lo >= 0 ? 0 : fmin(extra / 2, -ya->lo);
            ya->lo -= below;
            ya->hi += extra - below;
        }
        lin_ticks_fit(&xa, p[0].w, 100, 1);
        lin_ticks_step(ya, xa.step);
        if (ya->nt < 3) {
            lin_ticks_fit(ya, p[0].h, 65, 0);
            if (ya->step < xa.step) lin_ticks_step(&xa, ya->step);
        }
    }
    if (pass == 1) break;
    int again = 0;
    for (int k = 0; k < np; k++) {
        double bw, bh, bx, by;
        int covered;
        if (!legend_size(&p[k], &bw, &bh)) continue;
        legend_corner(&p[k], &xa, bw, bh, &bx, &by, &covered);
        if (covered > 0 && bh + 2 * LEGEND_MARGIN < 0.5 * p[k].h) {
            head[k] = (bh + 2 * LEGEND_MARGIN + 6) / p[k].h;
            again = 1;
        }
    }
    if (!again) break;
    }

    svg_begin(&b, W, H);
    svg_title(&b, W, title);
    for (int k = 0; k < np; k++) {
        if (np > 1 && has_text(p[k].ax->title))
            svg_text(&b, p[k].x0, p[k].y0 - 7, FS_LABEL - 1, NULL, "font-weight=\"bold\"", p[k].ax->title);
        draw_frame(&b, &p[k], &xa, k == np - 1, k);
        draw_series(&b, &p[k], &xa, k);
        if (k == 0) draw_notes(&b, &p[k], &xa, notes);
        draw_legend(&b, &p[k], &xa);
        if (has_text(p[k].ax->ylabel)) svg_vtext(&b, 20, p[k].y0 + p[k].h / 2, FS_LABEL, p[k].ax->ylabel);
    }
    if (has_text(xlabel)) {
        const panel_t *l = &p[np - 1];
        svg_text(&b, l->x0 + l->w / 2, l->y0 + l->h + 46, FS_LABEL, "middle", NULL, xlabel);
    }
    return svg_finish(&b, path);
}

int eisnet_plot_lines(const char *path, const eisnet_plot_axes *ax, const eisnet_plot_series *s, int n_series)
{
    if (!path || !ax) return eisnet_set_error("eisnet_plot_lines: NULL path or axes");
    if (check_series("eisnet_plot_lines", s, n_series) < 0) return -1;
    panel_t p;
    memset(&p, 0, sizeof p);
    p.ax = ax;
    p.s = s;
    p.n = n_series;
    return render_lines(path, ax->title, &p, 1, ax->logx, ax->xlabel, ax->equal_aspect, NULL);
}

int eisnet_plot_lines2(const char *path, const char *title, const eisnet_plot_axes *top,
                       const eisnet_plot_series *s1, int n1, const eisnet_plot_axes *bottom,
                       const eisnet_plot_series *s2, int n2)
{
    if (!path || !top || !bottom) return eisnet_set_error("eisnet_plot_lines2: NULL path or axes");
    if (check_series("eisnet_plot_lines2", s1, n1) < 0 || check_series("eisnet_plot_lines2", s2, n2) < 0) return -1;
    panel_t p[2];
    memset(p, 0, sizeof p);
    p[0].ax = top;
    p[0].s = s1;
    p[0].n = n1;
    p[1].ax = bottom;
    p[1].s = s2;
    p[1].n = n2;
    const char *xl = has_text(bottom->xlabel) ? bottom->xlabel : top->xlabel;
    return render_lines(path, title, p, 2, top->logx || bottom->logx, xl, 0, NULL);
}

/* ------------------------------------------------------------ bar charts */

static void fmt_value(char *buf, size_t n, double v)
{
    if (!isfinite(v)) snprintf(buf, n, "%s", "n/a");
    else if (v != 0 && (fabs(v) < 1e-3 || fabs(v) >= 1e5)) snprintf(buf, n, "%.2e", v);
    else snprintf(buf, n, "%.3g", v);
}

static const char *bar_label(const char *const *labels, int i, char *buf, size_t n)
{
    if (labels && labels[i]) return labels[i];
    snprintf(buf, n, "%d", i);
    return buf;
}

int eisnet_plot_bars(const char *path, const char *title, const char *xlabel, const char *ylabel,
                     const char *const *labels, const double *values, const double *ref, const char *value_name,
                     const char *ref_name, int n, int highlight)
{
    if (!path) return eisnet_set_error("eisnet_plot_bars: NULL path");
    if (n < 0) return eisnet_set_error("eisnet_plot_bars: negative bar count %d", n);
    if (n > 0 && !values) return eisnet_set_error("eisnet_plot_bars: NULL values");
    if (highlight < -1 || highlight >= (n > 0 ? n : 0))
        return eisnet_set_error("eisnet_plot_bars: highlight %d is not a bar index (0..%d) or -1", highlight, n - 1);

    const double W = 820;
    const int legend = ref != NULL;
    double top = (has_text(title) ? 50 : 18) + (legend ? 26 : 0);
    const double ph = 340, right = 24;

    double vmin = 0, vmax = 0;
    int have = 0;
    for (int i = 0; i < n; i++) {
        double v[2] = {values[i], ref ? ref[i] : NAN};
        for (int k = 0; k < 2; k++)
            if (valid_v(v[k], 0)) {
                vmin = fmin(vmin, v[k]);
                vmax = fmax(vmax, v[k]);
                have = 1;
            }
    }
    if (!(vmax > vmin)) vmax = vmin + 1;
    axis_t ya;
    memset(&ya, 0, sizeof ya);
    ya.lo = vmin < 0 ? vmin - 0.05 * (vmax - vmin) : 0;
    ya.hi = vmax + 0.1 * (vmax - ya.lo);
    ya.a = top + ph;
    ya.b = top;
    lin_ticks_fit(&ya, ph, 60, 0);
    double left = fmax(56, max_tick_w(&ya) + 14 + (has_text(ylabel) ? 30 : 6));
    double pw = W - left - right;
    double gw = n > 0 ? pw / n : pw;

    /* x labels: horizontal when they fit, else rotated; thinned when dense */
    double lw = 0;
    char lb[32];
    for (int i = 0; i < n; i++) lw = fmax(lw, text_w(bar_label(labels, i, lb, sizeof lb), FS_TICK));
    int rotate = lw + 6 > gw;
    int every = 1;
    if (rotate) every = (int)ceil(16 / gw);
    if (every < 1) every = 1;
    double lab_h = rotate ? fmin(lw, 160) * 0.72 + 16 : 20;
    double H = top + ph + lab_h + (has_text(xlabel) ? 40 : 14);

    sbuf b = {0};
    svg_begin(&b, W, H);
    svg_title(&b, W, title);
    panel_t p;
    memset(&p, 0, sizeof p);
    p.x0 = left;
    p.y0 = top;
    p.w = pw;
    p.h = ph;
    p.y = ya;
    p.have = n > 0 && have;
    axis_t xa; /* no ticks: the bars carry their own labels */
    memset(&xa, 0, sizeof xa);
    xa.lo = 0;
    xa.hi = 1;
    xa.a = left;
    xa.b = left + pw;
    draw_frame(&b, &p, &xa, 0, 0);

    double bw = legend ? gw * 0.38 : gw * 0.7;
    double y0px = ax_px_u(&ya, 0);
    char vb[32];
    for (int i = 0; i < n; i++) {
        double cx = left + gw * (i + 0.5);
        for (int k = 0; k < (legend ? 2 : 1); k++) {
            double v = k ? ref[i] : values[i];
            if (!valid_v(v, 0)) continue;
            double bx = legend ? (k ? cx + 0.5 : cx - bw - 0.5) : cx - bw / 2;
            double py = ax_px_u(&ya, v);
            const char *fill = k ? REF_BAR : (i == highlight ? ACCENT : MAIN_BAR);
            sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s/>\n", bx,
                      fmin(py, y0px), bw, fabs(py - y0px), fill, k ? " stroke=\"#777777\" stroke-width=\"0.6\"" : "");
        }
        if (i == highlight && valid_v(values[i], 0)) {
            double top_v = values[i];
            if (legend && valid_v(ref[i], 0)) top_v = fmax(top_v, ref[i]);
            fmt_value(vb, sizeof vb, values[i]);
            svg_text(&b, cx, ax_px_u(&ya, fmax(top_v, 0)) - 6, FS_TICK, "middle",
                     "font-weight=\"bold\" fill=\"" ACCENT "\"", vb);
        }
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", cx, top + ph, cx,
                  top + ph + 4, FRAME_COLOR);
        if (i % every && i != highlight) continue;
        const char *lt = bar_label(labels, i, lb, sizeof lb);
        const char *wt = i == highlight ? "font-weight=\"bold\"" : NULL;
        if (rotate) {
            char tr[96];
            snprintf(tr, sizeof tr, "transform=\"rotate(-45 %.1f %.1f)\"%s", cx + 4, top + ph + 14,
                     i == highlight ? " font-weight=\"bold\"" : "");
            svg_text(&b, cx + 4, top + ph + 14, FS_TICK, "end", tr, lt);
        } else {
            svg_text(&b, cx, top + ph + 19, FS_TICK, "middle", wt, lt);
        }
    }
    if (n > 0 && ya.lo < 0)
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", left, y0px, left + pw,
                  y0px, FRAME_COLOR);
    if (legend) { /* one row above the plot, right-aligned */
        const char *nm[2] = {has_text(value_name) ? value_name : "values", has_text(ref_name) ? ref_name : "reference"};
        double tw = 0;
        for (int k = 0; k < 2; k++) tw += 22 + text_w(nm[k], FS_TICK) + 18;
        double x = left + pw - tw, yy = top - 22;
        for (int k = 0; k < 2; k++) {
            sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" fill=\"%s\"%s/>\n", x, yy,
                      k ? REF_BAR : MAIN_BAR, k ? " stroke=\"#777777\" stroke-width=\"0.6\"" : "");
            svg_text(&b, x + 20, yy + 10.5, FS_TICK, NULL, NULL, nm[k]);
            x += 22 + text_w(nm[k], FS_TICK) + 18;
        }
    }
    if (has_text(ylabel)) svg_vtext(&b, 20, top + ph / 2, FS_LABEL, ylabel);
    if (has_text(xlabel)) svg_text(&b, left + pw / 2, top + ph + lab_h + 26, FS_LABEL, "middle", NULL, xlabel);
    return svg_finish(&b, path);
}

/* -------------------------------------------------------------- heat map */

/* Viridis, sampled at 0, 1/8, ..., 1 (perceptually uniform, colorblind safe). */
static const unsigned char VIRIDIS[9][3] = {{68, 1, 84},    {71, 44, 122},   {59, 81, 139},
                                             {44, 113, 142}, {33, 144, 141},  {39, 173, 129},
                                             {92, 200, 99},  {170, 220, 50},  {253, 231, 37}};

static void viridis(double t, int rgb[3])
{
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double u = t * 8;
    int i = (int)u;
    if (i > 7) i = 7;
    double f = u - i;
    for (int c = 0; c < 3; c++) rgb[c] = (int)lround(VIRIDIS[i][c] + f * (VIRIDIS[i + 1][c] - VIRIDIS[i][c]));
}

/* The part of "Ra (Ω)" before " (" into buf. */
static const char *short_name(const char *name, char *buf, size_t n)
{
    if (!name) return "";
    const char *q = strstr(name, " (");
    size_t k = q ? (size_t)(q - name) : strlen(name);
    if (k >= n) k = n - 1;
    memcpy(buf, name, k);
    buf[k] = '\0';
    return buf;
}

int eisnet_plot_joint(const char *path, const char *title, const char *xname, const char *yname,
                      const char *const *xticks, const char *const *yticks, const double *z, int nx, int ny,
                      const int *top_x, const int *top_y, const double *top_p, int k)
{
    if (!path) return eisnet_set_error("eisnet_plot_joint: NULL path");
    if (nx < 0 || ny < 0 || k < 0) return eisnet_set_error("eisnet_plot_joint: negative size");
    if (nx > 4096 || ny > 4096) return eisnet_set_error("eisnet_plot_joint: grid %dx%d is too large", nx, ny);
    if (nx > 0 && ny > 0 && !z) return eisnet_set_error("eisnet_plot_joint: NULL values");
    if (k > 0 && (!top_x || !top_y || !top_p)) return eisnet_set_error("eisnet_plot_joint: NULL top-k arrays");
    if (k > 100) return eisnet_set_error("eisnet_plot_joint: top-k of %d is too many to draw (at most 100)", k);
    for (int r = 0; r < k; r++)
        if (top_x[r] < 0 || top_x[r] >= nx || top_y[r] < 0 || top_y[r] >= ny)
            return eisnet_set_error("eisnet_plot_joint: top-k entry %d (%d, %d) is outside the %dx%d grid", r,
                                    top_x[r], top_y[r], nx, ny);

    const int empty = nx == 0 || ny == 0;
    const int gx = empty ? 1 : nx, gy = empty ? 1 : ny;
    const double cs = fmin(36, 432.0 / (gx > gy ? gx : gy));
    const double gw = gx * cs, gh = gy * cs;
    char nb[32];

    /* tick labels */
    double ytw = 0, xtw = 0;
    for (int i = 0; i < ny; i++) ytw = fmax(ytw, text_w(bar_label(yticks, i, nb, sizeof nb), FS_TICK));
    for (int i = 0; i < nx; i++) xtw = fmax(xtw, text_w(bar_label(xticks, i, nb, sizeof nb), FS_TICK));
    int xrot = xtw + 4 > cs && xtw > 28;
    int xevery = (int)ceil((xrot ? 15 : xtw + 6) / cs), yevery = (int)ceil(15 / cs);
    if (xevery < 1) xevery = 1;
    if (yevery < 1) yevery = 1;

    const double top = has_text(title) ? 64 : 30;
    const double hx = 20 + (has_text(yname) ? 24 : 0) + ytw + 10;
    const double hy = top;
    double xlab_h = xrot ? fmin(xtw, 120) * 0.72 + 18 : 22;

    /* color scale */
    double zmax = 0;
    int have = 0;
    for (int i = 0; i < nx * ny; i++)
        if (valid_v(z[i], 0)) {
            zmax = fmax(zmax, z[i]);
            have = 1;
        }
    axis_t ca;
    memset(&ca, 0, sizeof ca);
    ca.lo = 0;
    ca.hi = zmax > 0 ? zmax : 1;
    ca.a = hy + gh;
    ca.b = hy;
    lin_ticks_fit(&ca, gh, 60, 0);
    const double cbx = hx + gw + 18, cbw = 16;
    const double cblab_x = cbx + cbw + 8 + max_tick_w(&ca) + 18;

    /* top-k bar chart */
    char (*blab)[200] = k ? calloc((size_t)k, sizeof *blab) : NULL;
    if (k && !blab) return eisnet_set_error("out of memory");
    char sx[48], sy[48];
    short_name(has_text(xname) ? xname : "x", sx, sizeof sx);
    short_name(has_text(yname) ? yname : "y", sy, sizeof sy);
    double blw = 0, pmax = 0;
    for (int r = 0; r < k; r++) {
        char bx_[32], by_[32];
        snprintf(blab[r], sizeof blab[r], "%d.  %s=%s, %s=%s", r + 1, sx,
                 bar_label(xticks, top_x[r], bx_, sizeof bx_), sy, bar_label(yticks, top_y[r], by_, sizeof by_));
        blw = fmax(blw, text_w(blab[r], FS_TICK));
        if (valid_v(top_p[r], 0)) pmax = fmax(pmax, top_p[r]);
    }
    const double bx0 = cblab_x + 34;
    const double barmax = 230;
    const double W = k ? bx0 + blw + 8 + barmax + 70 : cblab_x + 24;
    const double H = hy + gh + xlab_h + (has_text(xname) ? 40 : 14);

    sbuf b = {0};
    svg_begin(&b, fmax(W, 420), H);
    svg_title(&b, fmax(W, 420), title);

    /* cells */
    if (empty) {
        sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#eeeeee\"/>\n", hx, hy, gw, gh);
        svg_text(&b, hx + gw / 2, hy + gh / 2 + 5, FS_LABEL, "middle", "fill=\"#888888\"", "no data");
    } else {
        sb_puts(&b, "<g shape-rendering=\"crispEdges\">\n");
        for (int iy = 0; iy < ny; iy++)
            for (int ix = 0; ix < nx; ix++) {
                double v = z[(size_t)iy * nx + ix];
                char col[16];
                if (!valid_v(v, 0)) snprintf(col, sizeof col, "#cccccc");
                else {
                    int c[3];
                    viridis(v / ca.hi, c);
                    snprintf(col, sizeof col, "#%02x%02x%02x", c[0], c[1], c[2]);
                }
                sb_printf(&b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>", hx + ix * cs,
                          hy + (ny - 1 - iy) * cs, cs + 0.05, cs + 0.05, col);
            }
        sb_puts(&b, "\n</g>\n");
        if (!have) svg_text(&b, hx + gw / 2, hy + gh / 2 + 5, FS_LABEL, "middle", "fill=\"#555555\"", "no data");
    }
    sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%s\"/>\n", hx, hy,
              gw, gh, FRAME_COLOR);
    /* top-k marks: rank inside the cell, outline in a contrasting color */
    for (int r = k - 1; r >= 0; r--) {
        double v = z ? z[(size_t)top_y[r] * nx + top_x[r]] : NAN;
        int c[3] = {200, 200, 200};
        if (valid_v(v, 0)) viridis(v / ca.hi, c);
        double lum = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
        const char *ink = lum > 140 ? "#000000" : "#ffffff";
        double cx = hx + top_x[r] * cs, cy = hy + (ny - 1 - top_y[r]) * cs;
        sb_printf(&b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%s\" "
                  "stroke-width=\"1.5\"/>\n",
                  cx + 1, cy + 1, cs - 2, cs - 2, ink);
        if (cs >= 12) {
            char rk[16];
            snprintf(rk, sizeof rk, "%d", r + 1);
            char at[64];
            snprintf(at, sizeof at, "fill=\"%s\" font-weight=\"bold\"", ink);
            double fs = fmin(14, cs * 0.45);
            svg_text(&b, cx + cs / 2, cy + cs / 2 + fs * 0.36, fs, "middle", at, rk);
        }
    }
    /* axes ticks and labels */
    sb_printf(&b, "<g stroke=\"%s\">", FRAME_COLOR);
    for (int i = 0; i < nx; i += xevery)
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", hx + (i + 0.5) * cs, hy + gh,
                  hx + (i + 0.5) * cs, hy + gh + 4);
    for (int i = 0; i < ny; i += yevery)
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", hx - 4, hy + (ny - 0.5 - i) * cs, hx,
                  hy + (ny - 0.5 - i) * cs);
    sb_puts(&b, "</g>\n");
    for (int i = 0; i < nx; i += xevery) {
        const char *t = bar_label(xticks, i, nb, sizeof nb);
        double cx = hx + (i + 0.5) * cs;
        if (xrot) {
            char tr[80];
            snprintf(tr, sizeof tr, "transform=\"rotate(-45 %.1f %.1f)\"", cx + 4, hy + gh + 14);
            svg_text(&b, cx + 4, hy + gh + 14, FS_TICK, "end", tr, t);
        } else svg_text(&b, cx, hy + gh + 19, FS_TICK, "middle", NULL, t);
    }
    for (int i = 0; i < ny; i += yevery)
        svg_text(&b, hx - 7, hy + (ny - 0.5 - i) * cs + 4.2, FS_TICK, "end", NULL,
                 bar_label(yticks, i, nb, sizeof nb));
    if (has_text(xname)) svg_text(&b, hx + gw / 2, hy + gh + xlab_h + 24, FS_LABEL, "middle", NULL, xname);
    if (has_text(yname)) svg_vtext(&b, 20, hy + gh / 2, FS_LABEL, yname);

    /* color bar */
    sb_puts(&b, "<defs><linearGradient id=\"cmap\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
    for (int i = 0; i <= 16; i++) {
        int c[3];
        viridis(i / 16.0, c);
        sb_printf(&b, "<stop offset=\"%.4f\" stop-color=\"#%02x%02x%02x\"/>", i / 16.0, c[0], c[1], c[2]);
    }
    sb_puts(&b, "</linearGradient></defs>\n");
    sb_printf(&b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"url(#cmap)\" stroke=\"%s\" "
              "stroke-width=\"0.8\"/>\n",
              cbx, hy, cbw, gh, FRAME_COLOR);
    for (int i = 0; i < ca.nt; i++) {
        double py = ax_px_u(&ca, ca.tv[i]);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", cbx + cbw, py,
                  cbx + cbw + 4, py, FRAME_COLOR);
        svg_tick_label(&b, &ca, ca.tv[i], cbx + cbw + 7, py + 4.2, "start");
    }
    svg_vtext(&b, cblab_x, hy + gh / 2, FS_LABEL, "joint probability");

    /* top-k horizontal bars */
    if (k) {
        char cap[128];
        snprintf(cap, sizeof cap, "Top %d (%s, %s) pairs", k, sx, sy);
        svg_text(&b, bx0, hy - 10, FS_LABEL - 1, NULL, "font-weight=\"bold\"", cap);
        double rh = fmin(30, gh / k);
        double bt = fmin(rh * 0.7, 20);
        double barx = bx0 + blw + 8;
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", barx, hy, barx,
                  hy + rh * k, FRAME_COLOR);
        for (int r = 0; r < k; r++) {
            double cy = hy + rh * (r + 0.5);
            svg_text(&b, bx0, cy + 4.2, FS_TICK, NULL, NULL, blab[r]);
            char vb[32];
            fmt_value(vb, sizeof vb, top_p[r]);
            double len = 0;
            if (valid_v(top_p[r], 0) && pmax > 0 && top_p[r] > 0) len = barmax * top_p[r] / pmax;
            if (len > 0)
                sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", barx,
                          cy - bt / 2, len, bt, r == 0 ? ACCENT : MAIN_BAR);
            svg_text(&b, barx + len + 6, cy + 4.2, FS_TICK, NULL, NULL, vb);
        }
        svg_text(&b, barx + barmax / 2, hy + rh * k + 22, FS_TICK, "middle", "fill=\"#555555\"",
                 "joint probability");
    }
    free(blab);
    return svg_finish(&b, path);
}

/* ------------------------------------------------------- Nyquist and Bode */

static int check_spectra(const char *fn, const eisnet_plot_spectrum *s, int n, int need_freq)
{
    if (n < 0) return eisnet_set_error("%s: negative series count %d", fn, n);
    if (n > 0 && !s) return eisnet_set_error("%s: NULL series with count %d", fn, n);
    for (int i = 0; i < n; i++) {
        if (s[i].n < 0) return eisnet_set_error("%s: series %d has negative length %d", fn, i, s[i].n);
        if (s[i].n > 0 && (!s[i].z || (need_freq && !s[i].freq)))
            return eisnet_set_error("%s: series %d has NULL data", fn, i);
        if (s[i].style < EISNET_PLOT_LINE || s[i].style > EISNET_PLOT_DASHED)
            return eisnet_set_error("%s: series %d has unknown style %d", fn, i, s[i].style);
    }
    return 0;
}

/* Allocates per-series x/y arrays: `ncols` doubles per point. */
static double *alloc_points(const eisnet_plot_spectrum *s, int n, int ncols)
{
    size_t tot = 1;
    for (int i = 0; i < n; i++) tot += (size_t)s[i].n;
    return malloc(tot * ncols * sizeof(double));
}

/* Frequency labels for a Nyquist plot: at the point nearest each decade (within
 * a quarter decade) of the first series drawn with markers (the measurement),
 * or else the first series with frequencies; every other decade when there
 * are many. */
static void frequency_notes(const eisnet_plot_spectrum *s, int n, notes_t *nt)
{
    nt->n = 0;
    int pick = -1;
    for (int i = 0; i < n && pick < 0; i++)
        if (s[i].freq && s[i].n > 1 && s[i].style == EISNET_PLOT_MARKERS) pick = i;
    for (int i = 0; i < n && pick < 0; i++)
        if (s[i].freq && s[i].n > 1) pick = i;
    if (pick < 0) return;
    const eisnet_plot_spectrum *q = &s[pick];
    double lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < q->n; j++)
        if (q->freq[j] > 0 && isfinite(q->freq[j])) {
            lo = fmin(lo, log10(q->freq[j]));
            hi = fmax(hi, log10(q->freq[j]));
        }
    if (!(hi >= lo)) return;
    const int k0 = (int)ceil(lo - 0.25), k1 = (int)floor(hi + 0.25);
    const int every = (k1 - k0 + 1) > 8 ? 2 : 1;
    for (int k = k0; k <= k1 && nt->n < MAX_NOTES; k++) {
        if (((k % every) + every) % every) continue;
        int best = -1;
        double bd = 0.25;
        for (int j = 0; j < q->n; j++) {
            if (!(q->freq[j] > 0)) continue;
            double d = fabs(log10(q->freq[j]) - k);
            if (d <= bd) {
                bd = d;
                best = j;
            }
        }
        if (best < 0) continue;
        nt->x[nt->n] = creal(q->z[best]);
        nt->y[nt->n] = -cimag(q->z[best]);
        eisnet_fmt_eng(nt->t[nt->n], sizeof nt->t[nt->n], q->freq[best], "Hz", 3);
        nt->n++;
    }
}

int eisnet_plot_nyquist(const char *path, const char *title, const eisnet_plot_spectrum *s, int n_series)
{
    if (!path) return eisnet_set_error("eisnet_plot_nyquist: NULL path");
    if (check_spectra("eisnet_plot_nyquist", s, n_series, 0) < 0) return -1;
    double *buf = alloc_points(s, n_series, 2);
    eisnet_plot_series *ps = calloc((size_t)n_series + 1, sizeof *ps);
    if (!buf || !ps) {
        free(buf);
        free(ps);
        return eisnet_set_error("out of memory");
    }
    double *q = buf;
    for (int i = 0; i < n_series; i++) {
        double *x = q, *y = q + s[i].n;
        for (int j = 0; j < s[i].n; j++) {
            x[j] = creal(s[i].z[j]);
            y[j] = -cimag(s[i].z[j]);
        }
        ps[i] = (eisnet_plot_series){s[i].label, x, y, s[i].n, s[i].style};
        q += 2 * (size_t)s[i].n;
    }
    eisnet_plot_axes ax = {title, "Re(Z) (\xCE\xA9)", MINUS "Im(Z) (\xCE\xA9)", 0, 0, 1};
    notes_t notes;
    frequency_notes(s, n_series, &notes);
    panel_t p;
    memset(&p, 0, sizeof p);
    p.ax = &ax;
    p.s = ps;
    p.n = n_series;
    int rc = render_lines(path, title, &p, 1, 0, ax.xlabel, 1, &notes);
    free(buf);
    free(ps);
    return rc;
}

int eisnet_plot_bode(const char *path, const char *title, const eisnet_plot_spectrum *s, int n_series)
{
    if (!path) return eisnet_set_error("eisnet_plot_bode: NULL path");
    if (check_spectra("eisnet_plot_bode", s, n_series, 1) < 0) return -1;
    double *buf = alloc_points(s, n_series, 2);
    eisnet_plot_series *ps = calloc(2 * (size_t)n_series + 1, sizeof *ps);
    if (!buf || !ps) {
        free(buf);
        free(ps);
        return eisnet_set_error("out of memory");
    }
    double *q = buf;
    for (int i = 0; i < n_series; i++) {
        double *mag = q, *ph = q + s[i].n;
        for (int j = 0; j < s[i].n; j++) {
            mag[j] = cabs(s[i].z[j]);
            ph[j] = carg(s[i].z[j]) * (180.0 / 3.14159265358979323846);
        }
        ps[i] = (eisnet_plot_series){s[i].label, s[i].freq, mag, s[i].n, s[i].style};
        ps[n_series + i] = (eisnet_plot_series){s[i].label, s[i].freq, ph, s[i].n, s[i].style};
        q += 2 * (size_t)s[i].n;
    }
    eisnet_plot_axes top = {NULL, NULL, "|Z| (\xCE\xA9)", 1, 1, 0};
    eisnet_plot_axes bot = {NULL, "Frequency (Hz)", "Phase (\xC2\xB0)", 1, 0, 0};
    /* one legend (top panel) is enough */
    for (int i = 0; i < n_series; i++) ps[n_series + i].label = NULL;
    int rc = eisnet_plot_lines2(path, title, &top, ps, n_series, &bot, ps + n_series, n_series);
    free(buf);
    free(ps);
    return rc;
}
