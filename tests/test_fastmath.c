/* The simulator's vectorised log, sincos and atan2 (src/eis/fastmath.c)
 * against libm: random inputs over the ranges the simulator and user spectra
 * produce and far beyond, every quadrant, and the special inputs that take
 * libm's path (zero, negative, subnormal, infinite, NaN, large angles). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "fastmath.h"

static uint64_t g_rng = 777;
static double urand(void) /* [0, 1) */
{
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

/* |got - want| <= ulps * ulp(want), NaN only where want is NaN */
static void expect_ulps(double got, double want, double ulps, const char *what, double in)
{
    if (isnan(want)) {
        if (!isnan(got)) fail_msg("%s(%.17g): %.17g, libm NaN", what, in, got);
        return;
    }
    if (isinf(want)) {
        if (got != want) fail_msg("%s(%.17g): %.17g, libm %g", what, in, got, want);
        return;
    }
    const double ulp = want != 0.0 ? nextafter(fabs(want), INFINITY) - fabs(want) : DBL_MIN;
    if (!(fabs(got - want) <= ulps * ulp))
        fail_msg("%s(%.17g): %.17g, libm %.17g (%.1f ulp)", what, in, got, want, fabs(got - want) / ulp);
}

enum { N = 20000 };

static void test_log(void **state)
{
    (void)state;
    double *x = malloc(sizeof(double) * N), *y = malloc(sizeof(double) * N);
    assert_non_null(x);
    assert_non_null(y);
    for (int i = 0; i < N; i++) /* log-uniform over 1e-300 .. 1e300, and the noise's (0, 1] */
        x[i] = i % 2 ? pow(10.0, -300.0 + 600.0 * urand()) : 1.0 - urand();
    const double special[] = {0.0, -0.0, -1.0, 1.0, 2.0, 0.5, DBL_MIN, DBL_MIN / 8, DBL_MAX, INFINITY, -INFINITY,
                              NAN, 1.0 + 1e-15, 1.0 - 1e-16, 1.4142135623730951, 1.4142135623730949};
    const int ns = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < ns; i++) x[i] = special[i];
    eisnet_log_array(x, y, N);
    for (int i = 0; i < N; i++) expect_ulps(y[i], log(x[i]), 2.0, "log", x[i]);
    /* log10 |z| */
    double *re = x, *im = malloc(sizeof(double) * N);
    assert_non_null(im);
    for (int i = 0; i < N; i++) {
        re[i] = (urand() - 0.5) * pow(10.0, -3.0 + 15.0 * urand());
        im[i] = (urand() - 0.5) * pow(10.0, -3.0 + 15.0 * urand());
    }
    re[0] = im[0] = 0.0;
    eisnet_log10_abs_array(re, im, y, N);
    /* from the squared modulus, as the features always were: its rounding
     * (2^-53 relative) is an absolute error of 1e-16 in the logarithm */
    for (int i = 0; i < N; i++) {
        const double w = log10(hypot(re[i], im[i]));
        if (isinf(w)) assert_true(y[i] == w);
        else if (!(fabs(y[i] - w) <= 2e-16 + 4.0 * DBL_EPSILON * fabs(w)))
            fail_msg("log10|%.17g + i %.17g|: %.17g, libm %.17g", re[i], im[i], y[i], w);
    }
    free(x); free(y); free(im);
}

static void test_sincos(void **state)
{
    (void)state;
    double *a = malloc(sizeof(double) * N), *s = malloc(sizeof(double) * N), *c = malloc(sizeof(double) * N);
    assert_non_null(a);
    assert_non_null(s);
    assert_non_null(c);
    for (int i = 0; i < N; i++) /* the noise's [0, 2 pi), and +-1e5 */
        a[i] = i % 2 ? 6.283185307179586 * urand() : (urand() - 0.5) * 2e5;
    const double special[] = {0.0, -0.0, 1e5, -1e5, 1.0000001e5, 1e300, INFINITY, -INFINITY, NAN,
                              1.5707963267948966, 3.141592653589793, 4.71238898038469, 0.7853981633974483};
    const int ns = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < ns; i++) a[i] = special[i];
    eisnet_sincos_array(a, s, c, N);
    assert_true(s[1] == 0.0 && signbit(s[1])); /* sin(-0) = -0, as libm */
    for (int i = 0; i < N; i++) {
        /* near a zero of sin or cos an ulp of the result is tiny: measure
         * against the ulp of 1 there (the argument's own rounding) */
        const double ws = sin(a[i]), wc = cos(a[i]);
        if (fabs(a[i]) <= 1e5 && fabs(ws) < 1e-3) assert_true(fabs(s[i] - ws) <= 2e-16 * (1.0 + fabs(a[i])));
        else expect_ulps(s[i], ws, 2.0, "sin", a[i]);
        if (fabs(a[i]) <= 1e5 && fabs(wc) < 1e-3) assert_true(fabs(c[i] - wc) <= 2e-16 * (1.0 + fabs(a[i])));
        else expect_ulps(c[i], wc, 2.0, "cos", a[i]);
    }
    free(a); free(s); free(c);
}

static void test_atan2(void **state)
{
    (void)state;
    double *y = malloc(sizeof(double) * N), *x = malloc(sizeof(double) * N), *o = malloc(sizeof(double) * N);
    assert_non_null(y);
    assert_non_null(x);
    assert_non_null(o);
    for (int i = 0; i < N; i++) { /* every quadrant, magnitudes 1e-3 .. 1e12 apart */
        y[i] = (urand() - 0.5) * pow(10.0, -3.0 + 15.0 * urand());
        x[i] = (urand() - 0.5) * pow(10.0, -3.0 + 15.0 * urand());
    }
    const double sy[] = {0.0, -0.0, 0.0, -0.0, 1.0, -1.0, 0.0, 1.0, INFINITY, NAN, 1.0, 1e-310, 1.0, -1.0, 1.0, -3.0, NAN},
                 sx[] = {0.0, 0.0, -0.0, -1.0, 0.0, 0.0, -1.0, INFINITY, 1.0, 1.0, 1e-310, 1.0, 1.0, -1.0, NAN, NAN, NAN};
    const int ns = (int)(sizeof sy / sizeof sy[0]);
    for (int i = 0; i < ns; i++) y[i] = sy[i], x[i] = sx[i];
    eisnet_atan2_array(y, x, o, N);
    for (int i = 0; i < N; i++) {
        const double w = atan2(y[i], x[i]);
        if (isnan(w)) {
            if (!isnan(o[i])) fail_msg("atan2(%g, %g): %.17g, libm NaN", y[i], x[i], o[i]);
        } else if (signbit(o[i]) != signbit(w)) {
            fail_msg("atan2(%g, %g): %g, libm %g (sign)", y[i], x[i], o[i], w);
        } else if (!(fabs(o[i] - w) <= 1e-13)) fail_msg("atan2(%.17g, %.17g): %.17g, libm %.17g", y[i], x[i], o[i], w);
    }
    free(y); free(x); free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_sincos),
        cmocka_unit_test(test_atan2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
