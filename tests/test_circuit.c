/* Circuit parser and element formulas against impedance.py's check values
 * (shared/reference/impedance_elements.md, copied here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <string.h>

#include "eisnet/circuit.h"
#include "eisnet/error.h"

static void assert_close(double complex got, double complex want, double rel)
{
    double scale = cabs(want) > 1e-300 ? cabs(want) : 1.0;
    if (cabs(got - want) > rel * scale) {
        print_error("got %.12g%+.12gj want %.12g%+.12gj\n", creal(got), cimag(got), creal(want), cimag(want));
        fail();
    }
}

static const double params[4] = {0.1, 0.2, 0.3, 0.4};
static const double freqs[3] = {0.001, 1.0, 1000.0};

static void check_element(const char *name, const double complex want[3])
{
    eisnet_element_kind kind;
    int np = eisnet_element_lookup(name, strlen(name), &kind);
    assert_true(np > 0);
    for (int k = 0; k < 3; k++) assert_close(eisnet_element_z(kind, params, 2 * M_PI * freqs[k]), want[k], 1e-5);
}

static void test_elements(void **state)
{
    (void)state;
    check_element("R", (double complex[]){0.1, 0.1, 0.1});
    check_element("C", (double complex[]){-1591.5494309189532 * I, -1.5915494309189535 * I, -0.0015915494309189533 * I});
    check_element("L", (double complex[]){0.000628319 * I, 0.628319 * I, 628.319 * I});
    check_element("W", (double complex[]){1.26156626 - 1.26156626 * I, 0.03989423 - 0.03989423 * I,
                                          0.00126157 - 0.00126157 * I});
    check_element("Wo", (double complex[]){0.033333332999112786 - 79.57747433847442 * I,
                                           0.03300437046673635 - 0.08232866785870396 * I,
                                           0.0019947114020071634 - 0.0019947114020071634 * I});
    check_element("Ws", (double complex[]){0.09999998 - 4.18878913e-05 * I, 0.08327519 - 3.33838167e-02 * I,
                                           0.00199471 - 1.99471140e-03 * I});
    check_element("CPE", (double complex[]){26.216236841407248 - 8.51817171087997 * I,
                                            6.585220960717244 - 2.139667994182814 * I,
                                            1.6541327179718126 - 0.537460300252313 * I});
    check_element("La", (double complex[]){0.21769191 + 0.07073239 * I, 0.86664712 + 0.28159072 * I,
                                           3.45018434 + 1.12103285 * I});
    check_element("G", (double complex[]){0.09999994078244179 - 0.00006283179105931961 * I,
                                          0.07107755021941357 - 0.03427465211788068 * I,
                                          0.00199550459845528 - 0.0019939172581851707 * I});
    check_element("K", (double complex[]){0.099999842086579 - 0.000125663507704 * I,
                                          0.038772663673915 - 0.048723166143232 * I,
                                          6.332569967499333e-08 - 7.957742115295703e-05 * I});
    check_element("Zarc", (double complex[]){0.08900974 - 0.00486384 * I, 0.04818879 - 0.01198904 * I,
                                             0.00969182 - 0.00436265 * I});
}

static void test_series_parallel(void **state)
{
    (void)state;
    /* R0-R1 with R = 5+6j is not expressible, so check the combinators with
     * resistors: s(5, 2) = 7, p(5, 2) = 10/7, and a nested form. */
    eisnet_circuit *c = eisnet_circuit_parse("R0-p(R1,R2)");
    assert_non_null(c);
    assert_int_equal(eisnet_circuit_n_params(c), 3);
    double p[3] = {1.0, 5.0, 2.0}, w = 1.0;
    double complex z;
    eisnet_circuit_eval(c, p, &w, 1, &z);
    assert_close(z, 1.0 + 10.0 / 7.0, 1e-15);
    eisnet_circuit_free(c);

    /* The presets' spectra by hand. */
    c = eisnet_circuit_parse("R0-p(R1,C1)-p(R2,C2)");
    assert_non_null(c);
    assert_string_equal(eisnet_circuit_shape(c), "R-p(R,C)-p(R,C)");
    double q[5] = {460, 4820, 3.7e-6, 2210, 3.4e-6};
    w = 2 * M_PI * 100.0;
    eisnet_circuit_eval(c, q, &w, 1, &z);
    double complex za = 4820 / (1 + I * w * 4820 * 3.7e-6), zb = 2210 / (1 + I * w * 2210 * 3.4e-6);
    assert_close(z, 460 + za + zb, 1e-14);
    eisnet_circuit_free(c);
    c = eisnet_circuit_parse("p(R0,p(R1,C1)-p(R2,C2))");
    assert_non_null(c);
    eisnet_circuit_eval(c, q, &w, 1, &z);
    assert_close(z, 460 * (za + zb) / (460 + za + zb), 1e-14);
    eisnet_circuit_free(c);
}

static void test_parallel_non_identifiable(void **state)
{
    (void)state;
    /* The parallel circuit is not identifiable: two parameter sets with the
     * same spectrum. */
    eisnet_circuit *c = eisnet_circuit_parse("p(R0,p(R1,C1)-p(R2,C2))");
    double a[5] = {460, 4820, 3.7e-6, 2210, 3.4e-6}, b[5] = {450, 9011.19, 2.73032e-6, 1634.09, 5.04719e-6};
    double w[3] = {2 * M_PI, 2 * M_PI * 1e3, 2 * M_PI * 1e6};
    double complex za[3], zb[3];
    eisnet_circuit_eval(c, a, w, 3, za);
    eisnet_circuit_eval(c, b, w, 3, zb);
    for (int k = 0; k < 3; k++) assert_close(zb[k], za[k], 1e-5);
    eisnet_circuit_free(c);
}

static void test_names(void **state)
{
    (void)state;
    eisnet_circuit *c = eisnet_circuit_parse("R0-p(CPE1,Wo_2)-Zarc3");
    assert_non_null(c);
    const char *want[] = {"R0", "CPE1_0", "CPE1_1", "Wo_2_0", "Wo_2_1", "Zarc3_0", "Zarc3_1", "Zarc3_2"};
    assert_int_equal(eisnet_circuit_n_params(c), 8);
    for (int i = 0; i < 8; i++) assert_string_equal(eisnet_circuit_param_name(c, i), want[i]);
    eisnet_circuit_free(c);
}

static void expect_error(const char *text, const char *fragment)
{
    eisnet_circuit *c = eisnet_circuit_parse(text);
    if (c) {
        print_error("'%s' parsed but should not\n", text);
        eisnet_circuit_free(c);
        fail();
    }
    if (!strstr(eisnet_last_error(), fragment)) {
        print_error("error for '%s' was '%s', expected to contain '%s'\n", text, eisnet_last_error(), fragment);
        fail();
    }
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "empty circuit");
    expect_error("R0-p(R1", "position 8");
    expect_error("R0-p(R1", "missing ')'");
    expect_error("R0-X1", "position 4");
    expect_error("R0-X1", "unknown element 'X'");
    expect_error("R0-", "position 4");
    expect_error("R", "must end in a number");
    expect_error("R0)", "unmatched ')'");
    expect_error("p(R0)", "at least two");
    expect_error("R0-R0", "used twice");
    expect_error("R0,R1", "unexpected character");
    expect_error("R0-p(R1,,C1)", "position 9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements), cmocka_unit_test(test_series_parallel),
        cmocka_unit_test(test_parallel_non_identifiable), cmocka_unit_test(test_names), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
