/* Spectrum CSV reader and log-f interpolation: formats, every error, values,
 * range checks, and a deterministic mutation run (meant for ASan too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "eisnet/error.h"
#include "eisnet/spectrum.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int setup(void **state)
{
    (void)state;
    return test_dir_make("spectrum");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}


static const char *write_tmp(const char *name, const void *data, size_t n)
{
    const char *p = test_path(name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    return p;
}

static const char *write_str(const char *name, const char *s) { return write_tmp(name, s, strlen(s)); }

static double zre(double f)
{
    double w = 2 * 3.14159265358979323846 * f;
    double complex z = 460 + 4820 / (1 + I * w * 4820 * 3.7e-6) + 2210 / (1 + I * w * 2210 * 3.4e-6);
    return creal(z);
}

static double zim(double f)
{
    double w = 2 * 3.14159265358979323846 * f;
    double complex z = 460 + 4820 / (1 + I * w * 4820 * 3.7e-6) + 2210 / (1 + I * w * 2210 * 3.4e-6);
    return cimag(z);
}

static void test_series_fixture_header_descending(void **state)
{
    (void)state;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read_csv("tests/data/spectrum_series.csv", &s), 0);
    assert_int_equal(s.n, 50);
    for (int k = 0; k < 50; k++) {
        double f = pow(10, 6.0 * k / 49);
        assert_true(fabs(s.freq[k] - f) <= 1e-12 * f);
        assert_true(fabs(creal(s.z[k]) - zre(f)) < 1e-9);
        assert_true(fabs(cimag(s.z[k]) - zim(f)) < 1e-9);
        if (k) assert_true(s.freq[k] > s.freq[k - 1]);
    }
    eisnet_spectrum_free(&s);
    assert_null(s.freq);
    assert_int_equal(s.n, 0);
    eisnet_spectrum_free(&s); /* twice is fine */
    eisnet_spectrum_free(NULL);
}

static void check_five(const eisnet_spectrum *s)
{
    static const double f[5] = {1, 10, 100, 1000, 100000};
    static const double re[5] = {400, 300, 200, 100.5, 50};
    static const double im[5] = {-0.5, -5, -40, -20.25, -1};
    assert_int_equal(s->n, 5);
    for (int i = 0; i < 5; i++) {
        assert_true(s->freq[i] == f[i]);
        assert_true(creal(s->z[i]) == re[i]);
        assert_true(cimag(s->z[i]) == im[i]);
    }
}

static void test_semicolon_bom_crlf_unsorted(void **state)
{
    (void)state;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read_csv("tests/data/spectrum_semicolon.csv", &s), 0);
    check_five(&s);
    eisnet_spectrum_free(&s);
}

static void test_tab_comment_header_blank(void **state)
{
    (void)state;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read_csv("tests/data/spectrum_tab.csv", &s), 0);
    check_five(&s);
    eisnet_spectrum_free(&s);
}

static void test_no_header_variants(void **state)
{
    (void)state;
    eisnet_spectrum s;
    /* no header, no final newline, trailing comma, spaces, quotes, exponent */
    const char *p = write_str("a.csv", "1e5,50,-1\n\"1000\" , 100.5 , -20.25,\n10,300,-5\n100,200,-40\n1,4e2,-0.5");
    assert_int_equal(eisnet_spectrum_read_csv(p, &s), 0);
    check_five(&s);
    eisnet_spectrum_free(&s);
    /* space separated */
    p = write_str("b.csv", "freq re im\n1  400 -0.5\n10 300 -5\n100 200 -40\n1000 100.5 -20.25\n100000 50 -1\n");
    assert_int_equal(eisnet_spectrum_read_csv(p, &s), 0);
    check_five(&s);
    eisnet_spectrum_free(&s);
}

/* Reads `content` and expects failure with `expect` in the message. */
static void expect_error(const char *content, size_t n, const char *expect)
{
    const char *p = write_tmp("bad.csv", content, n);
    eisnet_spectrum s;
    memset(&s, 0x5a, sizeof s);
    eisnet_clear_error();
    int rc = eisnet_spectrum_read_csv(p, &s);
    const char *msg = eisnet_last_error();
    if (rc != -1 || !strstr(msg, expect) || !strstr(msg, "bad.csv") || strchr(msg, '\n')) {
        fprintf(stderr, "content %.60s: rc %d, message '%s', expected '%s'\n", content, rc, msg, expect);
        fail();
    }
    assert_int_equal(s.n, 0);
    assert_null(s.freq);
    assert_null(s.z);
}

#define EXPECT(str, msg) expect_error(str, sizeof(str) - 1, msg)

static void test_errors(void **state)
{
    (void)state;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read_csv(test_path("missing.csv"), &s), -1);
    assert_non_null(strstr(eisnet_last_error(), "missing.csv"));
    assert_int_equal(eisnet_spectrum_read_csv(NULL, &s), -1);
    assert_int_equal(eisnet_spectrum_read_csv("x", NULL), -1);

    EXPECT("", "empty file");
    EXPECT("\n\r\n  \n", "empty file");
    EXPECT("\xEF\xBB\xBF", "empty file");
    EXPECT("# only a comment\n", "empty file");
    EXPECT("freq,re,im\n", "0 data rows");
    EXPECT("1,2,3\n2,3,4\n", "2 data rows, need at least 3");
    EXPECT("1,2,3\n2,3\n3,4,5\n", "bad.csv:2: expected 3 columns");
    EXPECT("1,2,3\n2,3,4,5\n3,4,5\n", "bad.csv:2: expected 3 columns (freq, Re(Z), Im(Z)), found 4");
    EXPECT("1,2,3\n2,3,4\n3,4,5\n4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20\n", "bad.csv:4: expected 3 columns");
    EXPECT("1,2,3\n2,3,4\n3,4,5\n4,5,6\n5,6,7\n6,7,abc\n7,8,9\n", "bad.csv:6: 'abc' is not a number");
    EXPECT("freq,re,im\n1,2,3\n2,x3,4\n3,4,5\n", "bad.csv:3: 'x3' is not a number");
    EXPECT("1,2,3\n2,3.5.1,4\n3,4,5\n", "bad.csv:2: '3.5.1' is not a number");
    EXPECT("1,2,3\n2,,4\n3,4,5\n", "bad.csv:2: empty field in column 2");
    EXPECT("1,2,3\n2,nan,4\n3,4,5\n", "bad.csv:2: 'nan' is not a finite number");
    EXPECT("1,2,3\n2,3,-inf\n3,4,5\n", "bad.csv:2: '-inf' is not a finite number");
    EXPECT("1,2,3\n2,1e999,4\n3,4,5\n", "bad.csv:2: '1e999' is not a finite number");
    EXPECT("1,2,3\n0,3,4\n3,4,5\n", "bad.csv:2: frequency must be > 0 Hz, got 0");
    EXPECT("1,2,3\n-5,3,4\n3,4,5\n", "bad.csv:2: frequency must be > 0 Hz, got -5");
    EXPECT("1,2,3\n10,3,4\n3,4,5\n1e1,5,6\n", "bad.csv:4: duplicate frequency 10 Hz (also on line 2)");
    EXPECT("1,2,3\n2,3\0,4\n3,4,5\n", "bad.csv:2: binary data");
    /* the first line is a header only when its first field is not a number */
    EXPECT("1,abc,3\n2,3,4\n3,4,5\n4,5,6\n", "bad.csv:1: 'abc' is not a number");
    /* a second header-like line is an error */
    EXPECT("f,re,im\nf,re,im\n1,2,3\n2,3,4\n3,4,5\n", "bad.csv:2: 'f' is not a number");

    /* absurdly long line */
    size_t n = EISNET_SPECTRUM_MAX_LINE + 100;
    char *big = malloc(n + 20);
    assert_non_null(big);
    strcpy(big, "1,2,3\n2,3,4\n");
    size_t l = strlen(big);
    memset(big + l, '1', n);
    memcpy(big + l + n, ",2,3\n", 5);
    expect_error(big, l + n + 5, "bad.csv:3: line too long");
    free(big);
}

static void test_interpolate_values(void **state)
{
    (void)state;
    double f[4] = {1, 10, 100, 1000};
    double complex z[4] = {((400) + (-1) * I), ((300) + (-5) * I), ((200.25) + (-40) * I), ((100) + (-20) * I)};
    eisnet_spectrum s = {4, f, z};
    /* exact at the nodes, given in any order */
    double t1[4] = {1000, 1, 100, 10};
    double complex o[8];
    assert_int_equal(eisnet_spectrum_interpolate(&s, t1, 4, 0, o), 0);
    assert_true(o[0] == z[3] && o[1] == z[0] && o[2] == z[2] && o[3] == z[1]);
    /* linear in log10 f between the nodes */
    double t2[4] = {sqrt(10.0), pow(10, 1.25), pow(10, 2.9), 3};
    assert_int_equal(eisnet_spectrum_interpolate(&s, t2, 4, 0, o), 0);
    assert_true(fabs(creal(o[0]) - 350) < 1e-9 && fabs(cimag(o[0]) + 3) < 1e-12);
    assert_true(fabs(creal(o[1]) - (300 + 0.25 * (200.25 - 300))) < 1e-9);
    assert_true(fabs(cimag(o[1]) - (-5 + 0.25 * (-35))) < 1e-9);
    assert_true(fabs(creal(o[2]) - (200.25 + 0.9 * (100 - 200.25))) < 1e-9);
    assert_true(fabs(cimag(o[2]) - (-40 + 0.9 * 20)) < 1e-9);
    double u = log10(3.0);
    assert_true(fabs(creal(o[3]) - (400 - 100 * u)) < 1e-9 && fabs(cimag(o[3]) - (-1 - 4 * u)) < 1e-12);
    /* n = 0 is fine */
    assert_int_equal(eisnet_spectrum_interpolate(&s, NULL, 0, 0, NULL), 0);
}

static void test_interpolate_from_file_onto_itself(void **state)
{
    (void)state;
    eisnet_spectrum s;
    assert_int_equal(eisnet_spectrum_read_csv("tests/data/spectrum_series.csv", &s), 0);
    double f[50];
    double complex o[50];
    for (int k = 0; k < 50; k++) f[k] = s.freq[k];
    assert_int_equal(eisnet_spectrum_interpolate(&s, f, 50, 0, o), 0);
    for (int k = 0; k < 50; k++) assert_true(o[k] == s.z[k]);
    eisnet_spectrum_free(&s);
}

static void test_interpolate_range(void **state)
{
    (void)state;
    double f[3] = {10, 100, 1000};
    double complex z[3] = {((300) + (-10) * I), ((200) + (-30) * I), ((150) + (-20) * I)};
    eisnet_spectrum s = {3, f, z};
    double t[2] = {1, 100};
    double complex o[2];
    eisnet_clear_error();
    assert_int_equal(eisnet_spectrum_interpolate(&s, t, 2, 0, o), -1);
    const char *m = eisnet_last_error();
    assert_non_null(strstr(m, "1..100 Hz"));
    assert_non_null(strstr(m, "10..1000 Hz"));
    assert_non_null(strstr(m, "--extrapolate"));
    double t2[1] = {1e4};
    assert_int_equal(eisnet_spectrum_interpolate(&s, t2, 1, 0, o), -1);
    assert_non_null(strstr(eisnet_last_error(), "10000..10000 Hz"));
    /* extrapolation: linear from the two end points on that side */
    assert_int_equal(eisnet_spectrum_interpolate(&s, t, 2, 1, o), 0);
    assert_true(fabs(creal(o[0]) - 400) < 1e-9 && fabs(cimag(o[0]) - 10) < 1e-9);
    assert_true(o[1] == z[1]);
    assert_int_equal(eisnet_spectrum_interpolate(&s, t2, 1, 1, o), 0);
    assert_true(fabs(creal(o[0]) - 100) < 1e-9 && fabs(cimag(o[0]) + 10) < 1e-9);
    /* bad targets and bad spectra */
    double bad[1] = {0};
    assert_int_equal(eisnet_spectrum_interpolate(&s, bad, 1, 1, o), -1);
    bad[0] = NAN;
    assert_int_equal(eisnet_spectrum_interpolate(&s, bad, 1, 1, o), -1);
    eisnet_spectrum one = {1, f, z};
    assert_int_equal(eisnet_spectrum_interpolate(&one, t, 1, 1, o), -1);
    double unsorted[3] = {10, 1000, 100};
    eisnet_spectrum us = {3, unsorted, z};
    assert_int_equal(eisnet_spectrum_interpolate(&us, t, 1, 1, o), -1);
    assert_int_equal(eisnet_spectrum_interpolate(NULL, t, 1, 1, o), -1);
    assert_int_equal(eisnet_spectrum_interpolate(&s, t, -1, 1, o), -1);
    assert_int_equal(eisnet_spectrum_interpolate(&s, NULL, 1, 1, o), -1);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check_parsed(const char *p)
{
    eisnet_spectrum s;
    int rc = eisnet_spectrum_read_csv(p, &s);
    if (rc == 0) {
        assert_true(s.n >= 3);
        for (int i = 0; i < s.n; i++) {
            assert_true(isfinite(s.freq[i]) && s.freq[i] > 0);
            assert_true(isfinite(creal(s.z[i])) && isfinite(cimag(s.z[i])));
            if (i) assert_true(s.freq[i] > s.freq[i - 1]);
        }
        double t = sqrt(s.freq[0] * s.freq[s.n - 1]);
        double complex o;
        assert_int_equal(eisnet_spectrum_interpolate(&s, &t, 1, 0, &o), 0);
        eisnet_spectrum_free(&s);
    } else {
        assert_int_equal(rc, -1);
        const char *m = eisnet_last_error();
        assert_true(m[0] != '\0');
        assert_null(strchr(m, '\n'));
        assert_null(s.freq);
    }
}

static void test_mutations(void **state)
{
    (void)state;
    FILE *fp = fopen("tests/data/spectrum_series.csv", "rb");
    assert_non_null(fp);
    static char orig[16384];
    size_t n = fread(orig, 1, sizeof orig, fp);
    fclose(fp);
    assert_true(n > 100 && n < sizeof orig);
    static const char alphabet[] = "0123456789.,;\t -+eE\r\n\"#naif\xEF\xBB\xBF\x00\xff";
    static char buf[20000];
    int ok = 0;
    for (int it = 0; it < 3000; it++) {
        size_t len = n;
        memcpy(buf, orig, n);
        int edits = 1 + (int)(rnd() % 8);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? rnd() % len : 0;
            switch (rnd() % 5) {
            case 0: buf[at] = (char)rnd(); break;
            case 1: buf[at] = alphabet[rnd() % (sizeof alphabet - 1)]; break;
            case 2: /* delete a run */
                if (len) {
                    size_t k = 1 + rnd() % 40;
                    if (at + k > len) k = len - at;
                    memmove(buf + at, buf + at + k, len - at - k);
                    len -= k;
                }
                break;
            case 3: /* duplicate a run */
                if (len && len < sizeof buf - 200) {
                    size_t k = 1 + rnd() % 100;
                    if (at + k > len) k = len - at;
                    memmove(buf + at + k, buf + at, len - at);
                    len += k;
                }
                break;
            default: len = at; break; /* truncate */
            }
        }
        const char *p = write_tmp("mut.csv", buf, len);
        check_parsed(p);
        eisnet_spectrum s;
        if (eisnet_spectrum_read_csv(p, &s) == 0) {
            ok++;
            eisnet_spectrum_free(&s);
        }
    }
    /* pure garbage */
    for (int it = 0; it < 300; it++) {
        size_t len = rnd() % 3000;
        for (size_t i = 0; i < len; i++)
            buf[i] = (rnd() & 1) ? (char)rnd() : alphabet[rnd() % (sizeof alphabet - 1)];
        check_parsed(write_tmp("garbage.csv", buf, len));
    }
    assert_true(ok > 0); /* some mutations stay valid */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_fixture_header_descending),
        cmocka_unit_test(test_semicolon_bom_crlf_unsorted),
        cmocka_unit_test(test_tab_comment_header_blank),
        cmocka_unit_test(test_no_header_variants),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_interpolate_values),
        cmocka_unit_test(test_interpolate_from_file_onto_itself),
        cmocka_unit_test(test_interpolate_range),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
