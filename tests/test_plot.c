/* SVG plots: realistic examples (training curves, marginal bars, joint heat
 * map, Nyquist, Bode), degenerate input and bad arguments. Every file is
 * checked for XML well-formedness by a small checker here, by `xmllint`
 * when present, and rendered by `rsvg-convert` when present.
 * EISNET_PLOT_DIR=/some/dir also leaves the example SVG+PNG files there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "eisnet/error.h"
#include "eisnet/plot.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PI 3.14159265358979323846
#define OHM "\xCE\xA9"

static int have_xmllint, have_rsvg;

static int setup(void **state)
{
    (void)state;
    if (test_dir_make("plot") != 0) return -1;
    have_xmllint = system("command -v xmllint >/dev/null 2>&1") == 0;
    have_rsvg = system("command -v rsvg-convert >/dev/null 2>&1") == 0;
    if (!have_xmllint) fprintf(stderr, "note: xmllint not found, skipping its validation (apt-get install libxml2-utils)\n");
    if (!have_rsvg) fprintf(stderr, "note: rsvg-convert not found, skipping PNG rendering (apt-get install librsvg2-bin)\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}


static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, fp) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(fp);
    return s;
}

/* ------------------------------------------------ tiny XML well-formedness */

static int xml_err(const char *what, const char *s, const char *at)
{
    fprintf(stderr, "XML error at byte %ld: %s\n", (long)(at - s), what);
    return -1;
}

static int is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':'; }
static int is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

/* Checks an entity reference at p ('&'); returns its length or 0. */
static int entity_len(const char *p)
{
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (strncmp(p, named[i], strlen(named[i])) == 0) return (int)strlen(named[i]);
    if (p[1] == '#') {
        int i = 2, hex = 0;
        if (p[2] == 'x') {
            hex = 1;
            i = 3;
        }
        int start = i;
        while ((p[i] >= '0' && p[i] <= '9') || (hex && ((p[i] >= 'a' && p[i] <= 'f') || (p[i] >= 'A' && p[i] <= 'F'))))
            i++;
        if (i > start && p[i] == ';') return i + 1;
    }
    return 0;
}

static int check_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            if (*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t') return -1;
            p++;
            continue;
        }
        int n = (*p >= 0xC2 && *p <= 0xDF) ? 2 : (*p >= 0xE0 && *p <= 0xEF) ? 3 : (*p >= 0xF0 && *p <= 0xF4) ? 4 : 0;
        if (!n) return -1;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80) return -1;
        p += n;
    }
    return 0;
}

static int xml_wellformed(const char *s)
{
    if (check_utf8(s) < 0) return xml_err("invalid UTF-8 or control character", s, s);
    const char *p = s;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        if (!p) return xml_err("unterminated declaration", s, s);
        p += 2;
    }
    char stack[64][32];
    int depth = 0, roots = 0;
    while (*p) {
        if (*p == '<') {
            if (strncmp(p, "<!--", 4) == 0) {
                const char *e = strstr(p + 4, "-->");
                if (!e) return xml_err("unterminated comment", s, p);
                p = e + 3;
                continue;
            }
            if (p[1] == '/') {
                p += 2;
                const char *n0 = p;
                while (is_name_char(*p)) p++;
                size_t nl = (size_t)(p - n0);
                if (depth == 0) return xml_err("end tag without start", s, n0);
                depth--;
                if (nl != strlen(stack[depth]) || strncmp(n0, stack[depth], nl) != 0)
                    return xml_err("mismatched end tag", s, n0);
                while (*p == ' ' || *p == '\n') p++;
                if (*p != '>') return xml_err("bad end tag", s, p);
                p++;
                continue;
            }
            p++;
            if (!is_name_start(*p)) return xml_err("bad tag name", s, p);
            const char *n0 = p;
            while (is_name_char(*p)) p++;
            size_t nl = (size_t)(p - n0);
            if (nl >= 32 || depth >= 64) return xml_err("name too long or nesting too deep", s, n0);
            if (depth == 0 && ++roots > 1) return xml_err("second test_dir element", s, n0);
            char attrs[32][32];
            int na = 0;
            for (;;) {
                int ws = 0;
                while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
                    p++;
                    ws = 1;
                }
                if (*p == '>' || (p[0] == '/' && p[1] == '>')) break;
                if (!ws || !is_name_start(*p)) return xml_err("bad attribute", s, p);
                const char *a0 = p;
                while (is_name_char(*p)) p++;
                size_t al = (size_t)(p - a0);
                if (al >= 32 || na >= 32) return xml_err("attribute name too long / too many", s, a0);
                for (int i = 0; i < na; i++)
                    if (strlen(attrs[i]) == al && strncmp(attrs[i], a0, al) == 0)
                        return xml_err("duplicate attribute", s, a0);
                memcpy(attrs[na], a0, al);
                attrs[na++][al] = '\0';
                if (*p++ != '=') return xml_err("attribute without '='", s, p - 1);
                char q = *p++;
                if (q != '"' && q != '\'') return xml_err("unquoted attribute", s, p - 1);
                while (*p && *p != q) {
                    if (*p == '<') return xml_err("'<' in attribute", s, p);
                    if (*p == '&') {
                        int el = entity_len(p);
                        if (!el) return xml_err("bad entity in attribute", s, p);
                        p += el;
                    } else p++;
                }
                if (*p != q) return xml_err("unterminated attribute", s, p);
                p++;
            }
            if (*p == '/') p += 2;
            else {
                memcpy(stack[depth], n0, nl);
                stack[depth++][nl] = '\0';
                p++;
            }
            continue;
        }
        if (depth == 0 && !(*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
            return xml_err("text outside the test_dir element", s, p);
        if (*p == '&') {
            int el = entity_len(p);
            if (!el) return xml_err("bad entity", s, p);
            p += el;
            continue;
        }
        if (*p == '>') return xml_err("unescaped '>' in text", s, p);
        p++;
    }
    if (depth != 0) return xml_err("unclosed element", s, p);
    if (roots != 1) return xml_err("no test_dir element", s, p);
    return 0;
}

static void test_xml_checker_itself(void **state)
{
    (void)state;
    assert_int_equal(xml_wellformed("<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><text>x &amp; y</text></g><r/></svg>\n"), 0);
    assert_int_equal(xml_wellformed("<svg><g></svg></g>"), -1);
    assert_int_equal(xml_wellformed("<svg><text>a & b</text></svg>"), -1);
    assert_int_equal(xml_wellformed("<svg><text>a < b</text></svg>"), -1);
    assert_int_equal(xml_wellformed("<svg a=\"1\" a=\"2\"/>"), -1);
    assert_int_equal(xml_wellformed("<svg a=1/>"), -1);
    assert_int_equal(xml_wellformed("<svg/><svg/>"), -1);
    assert_int_equal(xml_wellformed("<svg><text>\xff</text></svg>"), -1);
    assert_int_equal(xml_wellformed("<svg>"), -1);
}

/* Checks one written SVG: well-formed (ours and xmllint), renders, holds each
 * of the NULL-terminated `expect` strings. Copies SVG and PNG to
 * $EISNET_PLOT_DIR when set. */
static void check_svg(const char *path, const char *const *expect)
{
    char *s = slurp(path);
    assert_non_null(s);
    if (xml_wellformed(s) < 0) {
        fprintf(stderr, "in %s\n", path);
        fail();
    }
    assert_non_null(strstr(s, "xmlns=\"http://www.w3.org/2000/svg\""));
    assert_null(strstr(s, "href")); /* self-contained: no external references */
    assert_null(strstr(s, "@import"));
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    for (int i = 0; expect && expect[i]; i++) {
        if (!strstr(s, expect[i])) {
            fprintf(stderr, "%s: missing '%s'\n", path, expect[i]);
            fail();
        }
    }
    free(s);
    char cmd[3000];
    if (have_xmllint) {
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
        assert_int_equal(system(cmd), 0);
    }
    const char *dir = getenv("EISNET_PLOT_DIR");
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (have_rsvg) {
        snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s.png' '%s'", path, path);
        if (system(cmd) != 0) {
            fprintf(stderr, "rsvg-convert failed on %s\n", path);
            fail();
        }
        char png[1100];
        snprintf(png, sizeof png, "%s.png", path);
        struct stat st;
        assert_int_equal(stat(png, &st), 0);
        assert_true(st.st_size > 1000);
        if (dir) {
            snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/%.*s.png'", dir, png, dir,
                     (int)(strlen(base) - 4), base);
            assert_int_equal(system(cmd), 0);
        }
    }
    if (dir) {
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/'", dir, path, dir);
        assert_int_equal(system(cmd), 0);
    }
}

/* ------------------------------------------------------ realistic examples */

static double complex z_series(double f, double rsh, double ra, double ca, double rb, double cb)
{
    double w = 2 * PI * f;
    return rsh + ra / (1 + I * w * ra * ca) + rb / (1 + I * w * rb * cb);
}

static const char *const RGRID[12] = {"10",  "18.7", "35.1", "65.8", "123",  "231",
                                      "433", "811",  "1520", "2848", "5337", "10000"};

static void test_training_history(void **state)
{
    (void)state;
    double ep[20], tl[20], vl[20], ta[20], va[20];
    for (int i = 0; i < 20; i++) {
        ep[i] = i + 1;
        tl[i] = 0.35 + 2.1 * exp(-i / 4.0);
        vl[i] = 0.42 + 2.0 * exp(-i / 4.5) + 0.02 * sin(i);
        ta[i] = 0.85 - 0.75 * exp(-i / 5.0);
        va[i] = 0.81 - 0.72 * exp(-i / 5.5) + 0.01 * cos(i);
    }
    eisnet_plot_series s1[2] = {{"train", ep, tl, 20, EISNET_PLOT_LINE_MARKERS}, {"validation", ep, vl, 20, EISNET_PLOT_DASHED}};
    eisnet_plot_series s2[2] = {{"train", ep, ta, 20, EISNET_PLOT_LINE_MARKERS}, {"validation", ep, va, 20, EISNET_PLOT_DASHED}};
    eisnet_plot_axes top = {"Loss", NULL, "cross-entropy + resnorm loss", 0, 0, 0};
    eisnet_plot_axes bot = {"Accuracy", "Epoch", "accuracy (fraction)", 0, 0, 0};
    const char *p = test_path("training_history.svg");
    assert_int_equal(eisnet_plot_lines2(p, "Training history", &top, s1, 2, &bot, s2, 2), 0);
    const char *const ex[] = {"Training history", "Epoch", "validation", "accuracy (fraction)", ">10<", ">20<",
                              ">0.2<", "stroke-dasharray", NULL};
    check_svg(p, ex);

    /* single panel, log y */
    eisnet_plot_axes ax = {"Loss (log scale)", "Epoch", "loss", 0, 1, 0};
    p = test_path("loss_log.svg");
    assert_int_equal(eisnet_plot_lines(p, &ax, s1, 2), 0);
    /* under a decade of data: ticks at 1-2-5 labelled as plain numbers, the
     * axis not padded out to whole decades (no 0.1 tick) */
    const char *const ex3[] = {"Loss (log scale)", ">0.5<", ">1<", ">2<", NULL};
    check_svg(p, ex3);
    char *txt = slurp(p);
    assert_null(strstr(txt, ">0.1<"));
    assert_null(strstr(txt, "10<tspan"));
    free(txt);
    /* four decades: decade ticks written as powers of ten */
    double big[20];
    for (int i = 0; i < 20; i++) big[i] = 3 * pow(10, 4.0 * i / 19);
    eisnet_plot_series s4[1] = {{"loss", ep, big, 20, EISNET_PLOT_LINE}};
    p = test_path("loss_decades.svg");
    assert_int_equal(eisnet_plot_lines(p, &ax, s4, 1), 0);
    const char *const ex4[] = {"10<tspan", NULL};
    check_svg(p, ex4);
}

static void spectra(double *f, double complex *zm, double complex *zf, int n)
{
    for (int k = 0; k < n; k++) {
        f[k] = pow(10, 6.0 * k / (n - 1));
        zm[k] = z_series(f[k], 460, 4820, 3.7e-6, 2210, 3.4e-6);
        /* measurement: the same circuit with a few per cent of deterministic "noise" */
        zm[k] *= 1 + 0.02 * sin(7.3 * k) + 0.015 * I * cos(3.1 * k);
        zf[k] = z_series(f[k], 433, 5337, 3.6e-6, 2231, 3.3e-6);
    }
}

static void test_nyquist_bode(void **state)
{
    (void)state;
    double f[50];
    double complex zm[50], zf[50];
    spectra(f, zm, zf, 50);
    eisnet_plot_spectrum s[2] = {{"measured", f, zm, 50, EISNET_PLOT_MARKERS},
                                 {"best completion (Rsh=433 " OHM ", Ra=5337 " OHM ")", f, zf, 50, EISNET_PLOT_LINE}};
    const char *p = test_path("nyquist.svg");
    assert_int_equal(eisnet_plot_nyquist(p, "Nyquist: measured vs best completion", s, 2), 0);
    const char *const ex[] = {"Nyquist: measured vs best completion", "Re(Z) (" OHM ")", "\xE2\x88\x92Im(Z) (" OHM ")",
                              ">2000<", ">4000<", "measured", "<circle", NULL};
    check_svg(p, ex);
    /* frequency labels at decades of the measured points (1 Hz .. 1 MHz) */
    char *txt = slurp(p);
    assert_non_null(strstr(txt, ">1 Hz</text>"));
    int labels = 0;
    for (const char *q = txt; (q = strstr(q, " Hz</text>")); q++) labels++;
    /* (the high-frequency points crowd near Rsh: overlapping labels are left out) */
    if (labels < 3 || labels > 7) fail_msg("%d frequency labels", labels);
    free(txt);
    p = test_path("bode.svg");
    assert_int_equal(eisnet_plot_bode(p, "Bode: measured vs best completion", s, 2), 0);
    const char *const ex2[] = {"Bode: measured vs best completion", "Frequency (Hz)", "|Z| (" OHM ")",
                               "Phase (\xC2\xB0)", ">10<tspan dy=\"-5\" font-size=\"9\">6</tspan>", "best completion",
                               NULL};
    check_svg(p, ex2);
}

static void softmax(const double *logit, double *p, int n)
{
    double m = logit[0], s = 0;
    for (int i = 1; i < n; i++) m = fmax(m, logit[i]);
    for (int i = 0; i < n; i++) s += (p[i] = exp(logit[i] - m));
    for (int i = 0; i < n; i++) p[i] /= s;
}

static void test_marginal_bars(void **state)
{
    (void)state;
    double lg[12], p[12], ref[12];
    for (int i = 0; i < 12; i++) lg[i] = -0.35 * (i - 9.6) * (i - 9.6) + 0.3 * sin(i);
    softmax(lg, p, 12);
    for (int i = 0; i < 12; i++) lg[i] = -0.5 * (i - 9.2) * (i - 9.2);
    softmax(lg, ref, 12);
    int best = 0;
    for (int i = 1; i < 12; i++)
        if (p[i] > p[best]) best = i;
    const char *path = test_path("marginal_Ra.svg");
    assert_int_equal(eisnet_plot_bars(path, "Marginal distribution of Ra", "Ra (" OHM ")", "probability", RGRID, p, ref,
                                      "network", "exact grid posterior", 12, best),
                     0);
    const char *const ex[] = {"Marginal distribution of Ra", "Ra (" OHM ")", "network", "exact grid posterior", ">10000<",
                              ">18.7<", "#D55E00", NULL};
    check_svg(path, ex);
    path = test_path("marginal_noref.svg");
    assert_int_equal(eisnet_plot_bars(path, "Marginal distribution of Rb", "Rb (" OHM ")", "probability", RGRID, p, NULL,
                                      NULL, NULL, 12, -1),
                     0);
    const char *const ex2[] = {"Marginal distribution of Rb", NULL};
    check_svg(path, ex2);
    /* many long labels: rotated and thinned */
    char lab[60][24];
    const char *labs[60];
    double v[60];
    for (int i = 0; i < 60; i++) {
        snprintf(lab[i], sizeof lab[i], "%.6g", 1e-7 * pow(500, i / 59.0));
        labs[i] = lab[i];
        v[i] = exp(-0.01 * (i - 30) * (i - 30));
    }
    path = test_path("bars_many.svg");
    assert_int_equal(eisnet_plot_bars(path, "Many bars", "Ca (F)", "weight", labs, v, NULL, NULL, NULL, 60, 30), 0);
    check_svg(path, NULL);
}

static void test_joint(void **state)
{
    (void)state;
    double lx[12], ly[12], px[12], py[12], z[144];
    for (int i = 0; i < 12; i++) {
        lx[i] = -0.45 * (i - 9.3) * (i - 9.3);
        ly[i] = -0.3 * (i - 8.2) * (i - 8.2);
    }
    softmax(lx, px, 12);
    softmax(ly, py, 12);
    for (int iy = 0; iy < 12; iy++)
        for (int ix = 0; ix < 12; ix++) z[iy * 12 + ix] = px[ix] * py[iy];
    /* top 10 by selection */
    int tx[10], ty[10];
    double tp[10];
    int used[144] = {0};
    for (int r = 0; r < 10; r++) {
        int b = -1;
        for (int c = 0; c < 144; c++)
            if (!used[c] && (b < 0 || z[c] > z[b])) b = c;
        used[b] = 1;
        tx[r] = b % 12;
        ty[r] = b / 12;
        tp[r] = z[b];
    }
    const char *p = test_path("joint_Ra_Rb.svg");
    assert_int_equal(eisnet_plot_joint(p, "Joint distribution of Ra and Rb", "Ra (" OHM ")", "Rb (" OHM ")", RGRID, RGRID,
                                       z, 12, 12, tx, ty, tp, 10),
                     0);
    char want[64];
    snprintf(want, sizeof want, "1.  Ra=%s, Rb=%s", RGRID[tx[0]], RGRID[ty[0]]);
    const char *const ex[] = {"Joint distribution of Ra and Rb", "Ra (" OHM ")", "Rb (" OHM ")", want,
                              "joint probability", "Top 10 (Ra, Rb) pairs", "linearGradient", ">433<", NULL};
    check_svg(p, ex);
    /* a coarse 30x20 grid without tick labels, k = 3 */
    double z2[600];
    for (int i = 0; i < 600; i++) z2[i] = (i % 30) * (i / 30) / 10000.0;
    int x3[3] = {29, 28, 29}, y3[3] = {19, 19, 18};
    double p3[3] = {z2[599], z2[598], z2[569]};
    p = test_path("joint_big.svg");
    assert_int_equal(eisnet_plot_joint(p, "Big grid", "Ca (F)", "Cb (F)", NULL, NULL, z2, 30, 20, x3, y3, p3, 3), 0);
    check_svg(p, NULL);
}

static void test_escaping_and_bad_utf8(void **state)
{
    (void)state;
    double x[3] = {1, 2, 3}, y[3] = {3, 1, 2};
    eisnet_plot_series s[2] = {{"a < b & c > d \"q\" 'r'", x, y, 3, 0}, {"bad \xff\xfe utf8 \x01\x7f ctl \xCE", x, x, 3, 1}};
    eisnet_plot_axes ax = {"R & C <circuit> \xCF\x84 = RC", "\xCF\x89 (rad/s)", "\xCE\xB8 (\xC2\xB0)", 0, 0, 0};
    const char *p = test_path("escape.svg");
    assert_int_equal(eisnet_plot_lines(p, &ax, s, 2), 0);
    const char *const ex[] = {"R &amp; C &lt;circuit&gt; \xCF\x84 = RC", "a &lt; b &amp; c &gt; d &quot;q&quot; &#39;r&#39;",
                              "bad ?? utf8", NULL};
    check_svg(p, ex);
}

/* ------------------------------------------------------- degenerate input */

static void test_degenerate(void **state)
{
    (void)state;
    eisnet_plot_axes ax = {"Empty", "x (s)", "y (V)", 0, 0, 0};
    const char *const nodata[] = {"no data", NULL};
    assert_int_equal(eisnet_plot_lines(test_path("empty0.svg"), &ax, NULL, 0), 0);
    check_svg(test_path("empty0.svg"), nodata);
    eisnet_plot_series e = {"nothing", NULL, NULL, 0, 0};
    assert_int_equal(eisnet_plot_lines(test_path("empty1.svg"), &ax, &e, 1), 0);
    check_svg(test_path("empty1.svg"), nodata);

    double x[6] = {1, 2, 3, 4, 5, 6};
    double c[6] = {5, 5, 5, 5, 5, 5};
    double zero[6] = {0, 0, 0, 0, 0, 0};
    double bad[6] = {NAN, INFINITY, -INFINITY, NAN, 1e308, -1e308};
    double mixed[6] = {1, NAN, 3, -INFINITY, 5, 6};
    double neg[6] = {-1, 0, 2, 20, -5, 200};
    eisnet_plot_series s[4] = {{"constant", x, c, 6, 2}, {"zero", x, zero, 6, 1}, {"gaps", x, mixed, 6, 2}, {"bad", x, bad, 6, 0}};
    assert_int_equal(eisnet_plot_lines(test_path("flat.svg"), &ax, s, 1), 0);
    check_svg(test_path("flat.svg"), NULL);
    assert_int_equal(eisnet_plot_lines(test_path("zero.svg"), &ax, s + 1, 1), 0);
    check_svg(test_path("zero.svg"), NULL);
    assert_int_equal(eisnet_plot_lines(test_path("allbad.svg"), &ax, s + 3, 1), 0);
    check_svg(test_path("allbad.svg"), nodata);
    assert_int_equal(eisnet_plot_lines(test_path("mixed.svg"), &ax, s, 4), 0);
    check_svg(test_path("mixed.svg"), NULL);
    /* non-positive values on log axes are skipped */
    eisnet_plot_axes lg = {"Log", "x (Hz)", "y (" OHM ")", 1, 1, 0};
    eisnet_plot_series sn = {"neg", neg, neg, 6, 2};
    assert_int_equal(eisnet_plot_lines(test_path("log_neg.svg"), &lg, &sn, 1), 0);
    check_svg(test_path("log_neg.svg"), NULL);
    eisnet_plot_series sz = {"zero", zero, zero, 6, 2};
    assert_int_equal(eisnet_plot_lines(test_path("log_zero.svg"), &lg, &sz, 1), 0);
    check_svg(test_path("log_zero.svg"), nodata);
    /* equal aspect with a single point, and with a tall narrow range */
    eisnet_plot_axes eq = {"Equal", "x (" OHM ")", "y (" OHM ")", 0, 0, 1};
    eisnet_plot_series one = {"one", x, c, 1, 1};
    assert_int_equal(eisnet_plot_lines(test_path("eq1.svg"), &eq, &one, 1), 0);
    check_svg(test_path("eq1.svg"), NULL);
    double tall[6] = {0, 1000, 2000, 3000, 4000, 5000};
    eisnet_plot_series st = {"tall", x, tall, 6, 2};
    assert_int_equal(eisnet_plot_lines(test_path("eq_tall.svg"), &eq, &st, 1), 0);
    check_svg(test_path("eq_tall.svg"), NULL);
    /* huge and tiny magnitudes get 10^k labels */
    double big[3] = {1e6, 2.5e6, 4e6}, tiny[3] = {1e-6, 3e-6, 2e-6};
    eisnet_plot_series sb = {"big", big, tiny, 3, 2};
    assert_int_equal(eisnet_plot_lines(test_path("sci.svg"), &ax, &sb, 1), 0);
    const char *const sci[] = {"\xC3\x97" "10<tspan", NULL};
    check_svg(test_path("sci.svg"), sci);
    /* many series cycle colors and markers */
    eisnet_plot_series many[10];
    double ys[10][6];
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 6; j++) ys[i][j] = i + 0.1 * j;
        many[i] = (eisnet_plot_series){"series", x, ys[i], 6, i % 4};
    }
    assert_int_equal(eisnet_plot_lines(test_path("many.svg"), &ax, many, 10), 0);
    check_svg(test_path("many.svg"), NULL);
    /* lines2 with one empty panel, NULL titles and labels */
    eisnet_plot_axes bare = {NULL, NULL, NULL, 0, 0, 0};
    assert_int_equal(eisnet_plot_lines2(test_path("two_empty.svg"), NULL, &bare, s, 1, &bare, NULL, 0), 0);
    check_svg(test_path("two_empty.svg"), nodata);

    /* bars */
    assert_int_equal(eisnet_plot_bars(test_path("bars0.svg"), "No bars", "x", "p", NULL, NULL, NULL, NULL, NULL, 0, -1), 0);
    check_svg(test_path("bars0.svg"), nodata);
    assert_int_equal(eisnet_plot_bars(test_path("bars_zero.svg"), "Zero", "x", "p", NULL, zero, zero, NULL, NULL, 6, 0), 0);
    check_svg(test_path("bars_zero.svg"), NULL);
    assert_int_equal(eisnet_plot_bars(test_path("bars_bad.svg"), "Bad", "x", "p", NULL, bad, mixed, "a", "b", 6, 1), 0);
    check_svg(test_path("bars_bad.svg"), NULL);
    assert_int_equal(eisnet_plot_bars(test_path("bars_neg.svg"), "Neg", NULL, NULL, NULL, neg, NULL, NULL, NULL, 6, 5), 0);
    check_svg(test_path("bars_neg.svg"), NULL);

    /* joint */
    assert_int_equal(eisnet_plot_joint(test_path("joint0.svg"), "Empty", "a", "b", NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, 0), 0);
    check_svg(test_path("joint0.svg"), nodata);
    double zj[6] = {0, 0, 0, 0, 0, 0};
    int tx[2] = {0, 2}, ty[2] = {1, 0};
    double tp[2] = {0, NAN};
    assert_int_equal(eisnet_plot_joint(test_path("joint_zero.svg"), "Zero", "a", "b", NULL, NULL, zj, 3, 2, tx, ty, tp, 2), 0);
    check_svg(test_path("joint_zero.svg"), NULL);
    double zn[6] = {NAN, INFINITY, 0.5, -1, 0.2, 0.3};
    assert_int_equal(eisnet_plot_joint(test_path("joint_nan.svg"), NULL, NULL, NULL, NULL, NULL, zn, 3, 2, tx, ty, tp, 2), 0);
    check_svg(test_path("joint_nan.svg"), NULL);
    double z1 = 1;
    int t0 = 0;
    assert_int_equal(eisnet_plot_joint(test_path("joint1.svg"), "1x1", "a", "b", NULL, NULL, &z1, 1, 1, &t0, &t0, &z1, 1), 0);
    check_svg(test_path("joint1.svg"), NULL);

    /* spectra */
    assert_int_equal(eisnet_plot_nyquist(test_path("nyq0.svg"), "Empty", NULL, 0), 0);
    check_svg(test_path("nyq0.svg"), nodata);
    double f[3] = {1, 10, 100};
    double complex zz[3] = {((NAN) + (1) * I), ((100) + (-50) * I), ((INFINITY) + (0) * I)};
    eisnet_plot_spectrum sp = {"odd", f, zz, 3, 1};
    assert_int_equal(eisnet_plot_nyquist(test_path("nyq_odd.svg"), "Odd", &sp, 1), 0);
    check_svg(test_path("nyq_odd.svg"), NULL);
    assert_int_equal(eisnet_plot_bode(test_path("bode_odd.svg"), "Odd", &sp, 1), 0);
    check_svg(test_path("bode_odd.svg"), NULL);
    sp.freq = NULL;
    assert_int_equal(eisnet_plot_nyquist(test_path("nyq_nofreq.svg"), "No freq", &sp, 1), 0);
    check_svg(test_path("nyq_nofreq.svg"), NULL);
}

/* ---------------------------------------------------------- bad arguments */

static void expect_fail(int rc, const char *path)
{
    assert_int_equal(rc, -1);
    assert_true(eisnet_last_error()[0] != '\0');
    if (path) {
        struct stat st;
        assert_int_not_equal(stat(path, &st), 0);
    }
}

static void test_errors(void **state)
{
    (void)state;
    double x[3] = {1, 2, 3};
    double complex z[3] = {1, 2, 3};
    eisnet_plot_axes ax = {"t", "x", "y", 0, 0, 0};
    eisnet_plot_series s = {"s", x, x, 3, 0};
    const char *p = test_path("err.svg");
    eisnet_clear_error();
    expect_fail(eisnet_plot_lines(NULL, &ax, &s, 1), NULL);
    expect_fail(eisnet_plot_lines(p, NULL, &s, 1), p);
    expect_fail(eisnet_plot_lines(p, &ax, NULL, 1), p);
    expect_fail(eisnet_plot_lines(p, &ax, &s, -1), p);
    eisnet_plot_series bad = {"s", NULL, x, 3, 0};
    expect_fail(eisnet_plot_lines(p, &ax, &bad, 1), p);
    bad = (eisnet_plot_series){"s", x, x, -2, 0};
    expect_fail(eisnet_plot_lines(p, &ax, &bad, 1), p);
    bad = (eisnet_plot_series){"s", x, x, 3, 7};
    expect_fail(eisnet_plot_lines(p, &ax, &bad, 1), p);
    assert_non_null(strstr(eisnet_last_error(), "style 7"));
    expect_fail(eisnet_plot_lines2(p, "t", &ax, &s, 1, NULL, &s, 1), p);
    expect_fail(eisnet_plot_lines2(p, "t", &ax, &s, 1, &ax, &bad, 1), p);
    expect_fail(eisnet_plot_bars(p, "t", "x", "y", NULL, NULL, NULL, NULL, NULL, 3, -1), p);
    expect_fail(eisnet_plot_bars(p, "t", "x", "y", NULL, x, NULL, NULL, NULL, 3, 3), p);
    expect_fail(eisnet_plot_bars(p, "t", "x", "y", NULL, x, NULL, NULL, NULL, 3, -2), p);
    expect_fail(eisnet_plot_bars(p, "t", "x", "y", NULL, x, NULL, NULL, NULL, -1, -1), p);
    expect_fail(eisnet_plot_bars(NULL, "t", "x", "y", NULL, x, NULL, NULL, NULL, 3, -1), NULL);
    int tx = 3, ty = 0;
    expect_fail(eisnet_plot_joint(p, "t", "a", "b", NULL, NULL, x, 3, 1, &tx, &ty, x, 1), p);
    assert_non_null(strstr(eisnet_last_error(), "outside the 3x1 grid"));
    tx = 0;
    ty = -1;
    expect_fail(eisnet_plot_joint(p, "t", "a", "b", NULL, NULL, x, 3, 1, &tx, &ty, x, 1), p);
    expect_fail(eisnet_plot_joint(p, "t", "a", "b", NULL, NULL, NULL, 3, 1, NULL, NULL, NULL, 0), p);
    expect_fail(eisnet_plot_joint(p, "t", "a", "b", NULL, NULL, x, 3, 1, NULL, NULL, NULL, 1), p);
    expect_fail(eisnet_plot_joint(p, "t", "a", "b", NULL, NULL, x, -3, 1, NULL, NULL, NULL, 0), p);
    eisnet_plot_spectrum sp = {"s", NULL, z, 3, 0};
    expect_fail(eisnet_plot_bode(p, "t", &sp, 1), p); /* Bode needs freq */
    sp.z = NULL;
    expect_fail(eisnet_plot_nyquist(p, "t", &sp, 1), p);
    expect_fail(eisnet_plot_nyquist(p, "t", NULL, 2), p);
    sp = (eisnet_plot_spectrum){"s", x, z, 3, 9};
    expect_fail(eisnet_plot_nyquist(p, "t", &sp, 1), p);
    /* unwritable destination */
    expect_fail(eisnet_plot_lines(test_path("no/such/dir/x.svg"), &ax, &s, 1), NULL);
    assert_non_null(strstr(eisnet_last_error(), "no/such/dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_checker_itself),
        cmocka_unit_test(test_training_history),
        cmocka_unit_test(test_nyquist_bode),
        cmocka_unit_test(test_marginal_bars),
        cmocka_unit_test(test_joint),
        cmocka_unit_test(test_escaping_and_bad_utf8),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
