/* Spectrum readers: every impedance.py example file read to the values its
 * readers give (fixtures from tests/make_reader_fixtures.py), format
 * detection, CSV headers (Re/Im, |Z|/phase in degrees and radians), the Im
 * sign convention, cropping and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "eisnet/error.h"
#include "eisnet/readers.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/impedance_py/"
#define M_PI 3.14159265358979323846

static int setup(void **state)
{
    (void)state;
    return test_dir_make("readers");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}

static const char *write_str(const char *name, const char *s)
{
    const char *p = test_path(name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(s, 1, strlen(s), fp), strlen(s));
    assert_int_equal(fclose(fp), 0);
    return p;
}

typedef struct {
    double f, re, im;
} row;

static int cmp_row(const void *a, const void *b)
{
    const row *x = a, *y = b;
    return (x->f > y->f) - (x->f < y->f);
}

/* impedance.py's points for `file`, sorted by frequency. */
static int load_expected(const char *file, row *rows, int cap)
{
    char path[512], line[256];
    snprintf(path, sizeof path, DIR "%s.expected", file);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        assert_true(n < cap);
        assert_int_equal(sscanf(line, "%lf,%lf,%lf", &rows[n].f, &rows[n].re, &rows[n].im), 3);
        n++;
    }
    fclose(fp);
    qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    return n;
}

static double rel(double a, double b) { return a == b ? 0 : fabs(a - b) / fmax(fabs(a), fabs(b)); }

static void check_file(const char *file, const char *format)
{
    row want[512];
    int n = load_expected(file, want, 512);
    char path[512];
    snprintf(path, sizeof path, DIR "%s", file);
    eisnet_spectrum s;
    eisnet_read_info info;
    eisnet_read_options o;
    eisnet_read_options_default(&o);
    o.im_sign = EISNET_IM_AS_IS; /* impedance.py takes CSV columns as written */
    if (eisnet_spectrum_read(path, &o, &s, &info) != 0) fail_msg("%s: %s", file, eisnet_last_error());
    assert_string_equal(eisnet_format_name(info.format), format);
    assert_int_equal(s.n, n);
    assert_int_equal(info.n_read, n);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        worst = fmax(worst, rel(s.freq[i], want[i].f));
        worst = fmax(worst, rel(creal(s.z[i]), want[i].re));
        worst = fmax(worst, rel(cimag(s.z[i]), want[i].im));
    }
    print_message("%-32s %-14s %3d points, largest relative difference to impedance.py %g\n", file, format, n, worst);
    if (worst > 1e-9) fail_msg("%s: relative difference %g", file, worst);
    eisnet_spectrum_free(&s);
}

static void test_impedance_py_files(void **state)
{
    (void)state;
    check_file("exampleData.csv", "csv");
    check_file("exampleDataGamry.DTA", "gamry");
    check_file("exampleDataGamryABORT.DTA", "gamry");
    check_file("exampleDataAutolab.txt", "autolab");
    check_file("exampleDataBioLogic.mpt", "biologic");
    check_file("exampleDataCHInstruments.txt", "chinstruments");
    check_file("exampleDataParstat.txt", "parstat");
    check_file("exampleDataPowersuite.txt", "powersuite");
    check_file("exampleDataVersaStudio.par", "versastudio");
    check_file("exampleDataZPlot.z", "zplot");
    check_file("exampleDataZPlot_noComments.z", "zplot");
    check_file("Circuit1_EIS_1.z", "zplot");
    check_file("Circuit2_EIS_1.z", "zplot");
    check_file("Circuit3_EIS_1.z", "zplot");
}

static void test_missing_column(void **state)
{
    (void)state;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read(DIR "exampleDataBioLogic_MissingFreq.mpt", NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "'freq/Hz' not found"));
    assert_non_null(strstr(eisnet_last_error(), "exampleDataBioLogic_MissingFreq.mpt:61"));
    assert_int_equal(s.n, 0);
}

static void test_format_override(void **state)
{
    (void)state;
    eisnet_format f;
    assert_int_equal(eisnet_format_parse("gamry", &f), 0);
    assert_int_equal(f, EISNET_FORMAT_GAMRY);
    assert_int_equal(eisnet_format_parse("excel", &f), -1);
    assert_non_null(strstr(eisnet_last_error(), "'excel'"));
    eisnet_read_options o;
    eisnet_read_options_default(&o);
    o.format = EISNET_FORMAT_GAMRY; /* a CSV read as Gamry: no ZCURVE table */
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read(DIR "exampleData.csv", &o, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "ZCURVE"));
    const char *text = "Frequency\t Zre\t Zimg\n1\t2\t-3\n";
    assert_int_equal(eisnet_format_detect(text, strlen(text)), EISNET_FORMAT_POWERSUITE);
    const char *csv = "1,2,-3\n2,2,-1\n";
    assert_int_equal(eisnet_format_detect(csv, strlen(csv)), EISNET_FORMAT_CSV);
}

/* Z of R0 + R1/(1 + j w R1 C1) at f. */
static double complex rc(double f)
{
    double w = 2 * M_PI * f;
    return 10 + 100 / (1 + I * w * 100 * 1e-5);
}

static const char *write_spectrum(const char *name, const char *header, int polar, double phase_scale, int im_sign)
{
    static char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "%s\n", header);
    for (int i = 0; i < 20; i++) {
        double f = pow(10, -1 + 5.0 * i / 19);
        double complex z = rc(f);
        if (polar)
            n += (size_t)snprintf(text + n, sizeof text - n, "%.17g,%.17g,%.17g\n", f, cabs(z),
                                  im_sign * carg(z) * phase_scale);
        else
            n += (size_t)snprintf(text + n, sizeof text - n, "%.17g,%.17g,%.17g\n", f, creal(z), im_sign * cimag(z));
    }
    return write_str(name, text);
}

static void expect_rc(const char *path, const char *note_part, int im_negated, int polar)
{
    eisnet_spectrum s;
    eisnet_read_info info;
    if (eisnet_spectrum_read(path, NULL, &s, &info) != 0) fail_msg("%s", eisnet_last_error());
    assert_int_equal(s.n, 20);
    for (int i = 0; i < 20; i++) {
        double complex z = rc(s.freq[i]);
        assert_true(cabs(s.z[i] - z) <= 1e-12 * cabs(z));
    }
    assert_int_equal(info.im_negated, im_negated);
    assert_int_equal(info.polar, polar);
    if (note_part && !strstr(info.note, note_part)) fail_msg("note '%s' lacks '%s'", info.note, note_part);
    if (!note_part) assert_string_equal(info.note, "");
    eisnet_spectrum_free(&s);
}

static void test_csv_headers(void **state)
{
    (void)state;
    const double deg = 180 / M_PI;
    expect_rc(write_spectrum("a.csv", "freq,Re(Z),Im(Z)", 0, 1, 1), NULL, 0, 0);
    expect_rc(write_spectrum("b.csv", "Frequency (Hz),Z' (Ohm),-Z'' (Ohm)", 0, 1, -1), "'-Im(Z)'", 1, 0);
    expect_rc(write_spectrum("c.csv", "f,Re,Im", 0, 1, -1), "positive at 20 of 20", 1, 0);
    expect_rc(write_spectrum("d.csv", "freq,|Z|,phase (deg)", 1, deg, 1), NULL, 0, 1);
    expect_rc(write_spectrum("e.csv", "freq,|Z|,phase/rad", 1, 1, 1), NULL, 0, 1);
    expect_rc(write_spectrum("f.csv", "freq,|Z|,phase", 1, deg, 1), "degrees", 0, 1);
    expect_rc(write_spectrum("g.csv", "freq,|Z|,phase", 1, 1, 1), "radians", 0, 1);
    expect_rc(write_spectrum("h.csv", "freq,Zmod,-Phase(deg)", 1, deg, -1), "'-phase'", 1, 1);
    /* extra columns are ignored; the header finds the right ones */
    const char *p = write_str("i.csv", "time,freq,Zreal,Zimag\n0,1,5,-1\n1,2,4,-2\n2,3,3,-3\n");
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read(p, NULL, &s, NULL), 0);
    assert_int_equal(s.n, 3);
    assert_true(s.freq[2] == 3 && creal(s.z[2]) == 3 && cimag(s.z[2]) == -3);
    eisnet_spectrum_free(&s);
}

static void test_csv_errors(void **state)
{
    (void)state;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read(write_str("e1.csv", "hz,a,b\n1,2,3\n"), NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "e1.csv:1: header has no frequency column"));
    assert_int_equal(eisnet_spectrum_read(write_str("e2.csv", "freq,Re,phase\n1,2,3\n"), NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "needs Re and Im"));
    assert_int_equal(eisnet_spectrum_read(write_str("e3.csv", "1,2,-3\n2,x,-1\n3,1,-1\n"), NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "e3.csv:2: 'x' is not a number (column 2)"));
    assert_int_equal(eisnet_spectrum_read(write_str("e4.csv", "1,2,-3\n2,1,-1,4\n"), NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "e4.csv:2: expected 3 columns"));
    assert_int_equal(eisnet_spectrum_read(write_str("e5.csv", "1,2,-3\n1,1,-1\n3,1,-1\n"), NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "duplicate frequency"));
    assert_int_equal(eisnet_spectrum_read(write_str("e6.csv", "freq,|Z|,phase\n1,-2,3\n2,1,1\n3,1,1\n"), NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "|Z| must be >= 0"));
    assert_int_equal(eisnet_spectrum_read(test_path("missing.csv"), NULL, &s, NULL), -1);
    assert_non_null(strstr(eisnet_last_error(), "missing.csv"));
}

static void test_cropping(void **state)
{
    (void)state;
    eisnet_read_options o;
    eisnet_read_options_default(&o);
    o.drop_inductive = 1;
    eisnet_spectrum s;
    eisnet_read_info info;
    assert_int_equal(eisnet_spectrum_read(DIR "exampleData.csv", &o, &s, &info), 0);
    assert_int_equal(info.n_read, 66);
    assert_int_equal(info.n_inductive_dropped, 9);
    assert_int_equal(s.n, 57);
    for (int i = 0; i < s.n; i++) assert_true(cimag(s.z[i]) < 0);
    eisnet_spectrum_free(&s);
    o.drop_inductive = 0;
    o.f_min = 0.1;
    o.f_max = 1000;
    assert_int_equal(eisnet_spectrum_read(DIR "exampleData.csv", &o, &s, &info), 0);
    assert_true(s.freq[0] >= 0.1 && s.freq[s.n - 1] <= 1000);
    assert_int_equal(s.n + info.n_range_dropped, 66);
    assert_true(info.n_range_dropped > 20);
    eisnet_spectrum_free(&s);
    o.f_min = 1e9;
    o.f_max = 0;
    assert_int_equal(eisnet_spectrum_read(DIR "exampleData.csv", &o, &s, &info), -1);
    assert_non_null(strstr(eisnet_last_error(), "0 points left of 66"));
    o.f_min = 10;
    o.f_max = 1;
    assert_int_equal(eisnet_spectrum_read(DIR "exampleData.csv", &o, &s, &info), -1);
    assert_non_null(strstr(eisnet_last_error(), "not an interval"));
}

static void test_line_ends(void **state)
{
    (void)state;
    eisnet_spectrum s;
    /* ';' separated with decimal commas */
    const char *eu = write_str("eu.csv", "Frequenz (Hz);Re(Z);Im(Z)\n1,5;2,25;-3,5\n10;2;-1\n100;1,75;-0,5\n");
    assert_int_equal(eisnet_spectrum_read(eu, NULL, &s, NULL), 0);
    assert_true(s.freq[0] == 1.5 && creal(s.z[0]) == 2.25 && cimag(s.z[0]) == -3.5 && cimag(s.z[2]) == -0.5);
    eisnet_spectrum_free(&s);
    const char *p = write_str("cr.csv", "\xEF\xBB\xBF" "freq,Re,Im\r1,2,-3\r\r\n2,1,-1\r3,1,-0.5\r");
    assert_int_equal(eisnet_spectrum_read(p, NULL, &s, NULL), 0);
    assert_int_equal(s.n, 3);
    assert_true(cimag(s.z[2]) == -0.5);
    eisnet_spectrum_free(&s);
}

/* Deterministic mutations of every example file (truncations, changed bytes)
 * read with every format: an error or a valid spectrum, never a crash (run
 * under ASan too). */
static void test_mutations(void **state)
{
    (void)state;
    static const char *const files[] = {"exampleData.csv", "exampleDataGamry.DTA", "exampleDataAutolab.txt",
                                        "exampleDataBioLogic.mpt", "exampleDataCHInstruments.txt",
                                        "exampleDataParstat.txt", "exampleDataPowersuite.txt",
                                        "exampleDataVersaStudio.par", "exampleDataZPlot.z"};
    static const char repl[] = ",\t\n\r0-.eE\"x ";
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int ok = 0, errors = 0;
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[fi]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        for (int m = 0; m < 24; m++) {
            static char mut[65536];
            memcpy(mut, buf, n);
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t len = n;
            if (m % 3 == 0) len = (size_t)(x % n); /* truncated */
            else
                for (int k = 0; k < 1 + m % 5; k++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    mut[x % n] = repl[(x >> 32) % (sizeof repl - 1)];
                }
            const char *tp = test_path("mut.txt");
            FILE *out = fopen(tp, "wb");
            assert_non_null(out);
            fwrite(mut, 1, len, out);
            fclose(out);
            for (int f = 0; f < EISNET_FORMAT_COUNT; f++) {
                eisnet_read_options o;
                eisnet_read_options_default(&o);
                o.format = (eisnet_format)f;
                o.drop_inductive = m & 1;
                eisnet_spectrum s;
                if (eisnet_spectrum_read(tp, &o, &s, NULL) != 0) {
                    assert_int_equal(s.n, 0);
                    assert_true(strlen(eisnet_last_error()) > 0);
                    errors++;
                    continue;
                }
                assert_true(s.n >= 3);
                for (int i = 0; i < s.n; i++) {
                    assert_true(isfinite(s.freq[i]) && s.freq[i] > 0);
                    assert_true(isfinite(creal(s.z[i])) && isfinite(cimag(s.z[i])));
                    if (i) assert_true(s.freq[i] > s.freq[i - 1]);
                }
                eisnet_spectrum_free(&s);
                ok++;
            }
        }
    }
    assert_true(ok > 100 && errors > 100); /* both outcomes are exercised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_impedance_py_files), cmocka_unit_test(test_missing_column),
        cmocka_unit_test(test_format_override),    cmocka_unit_test(test_csv_headers),
        cmocka_unit_test(test_csv_errors),         cmocka_unit_test(test_cropping),
        cmocka_unit_test(test_line_ends),          cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
