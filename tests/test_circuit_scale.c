/* Exact impedance scaling: for every element kind (and a nested circuit),
 * Z(scaled parameters) = k Z(parameters) at every frequency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eisnet/circuit.h"

#include <complex.h>
#include <math.h>
#include <string.h>

static void check(const char *text, const double *params)
{
    eisnet_circuit *c = eisnet_circuit_parse(text);
    assert_non_null(c);
    const int n = eisnet_circuit_n_params(c);
    double omega[7];
    for (int i = 0; i < 7; i++) omega[i] = pow(10, -3 + i);
    const double ks[4] = {1e-3, 0.37, 2.5, 4e4};
    for (int t = 0; t < 4; t++) {
        double scaled[EISNET_MAX_PARAMS];
        assert_int_equal(eisnet_circuit_scale_params(c, params, ks[t], scaled), 0);
        double complex z0[7], z1[7];
        eisnet_circuit_eval(c, params, omega, 7, z0);
        eisnet_circuit_eval(c, scaled, omega, 7, z1);
        for (int i = 0; i < 7; i++)
            if (cabs(z1[i] - ks[t] * z0[i]) > 1e-12 * cabs(ks[t] * z0[i]))
                fail_msg("%s, k=%g, w=%g: %g%+gj vs %g%+gj", text, ks[t], omega[i], creal(z1[i]), cimag(z1[i]),
                         creal(ks[t] * z0[i]), cimag(ks[t] * z0[i]));
        /* the shape parameters (exponents, time constants) stay as they were */
        for (int i = 0; i < n; i++) {
            eisnet_element_kind kind;
            int slot;
            assert_int_equal(eisnet_circuit_param_kind(c, i, &kind, &slot), 0);
            if (slot > 0) assert_true(scaled[i] == params[i]);
            else assert_true(scaled[i] != params[i]);
        }
    }
    eisnet_circuit_free(c);
}

static void test_every_element(void **state)
{
    (void)state;
    const double r[1] = {120}, cap[1] = {3e-6}, l[1] = {2e-6}, w[1] = {40};
    const double wo[2] = {80, 0.3}, cpe[2] = {2e-5, 0.85}, la[2] = {1e-5, 0.7}, g[2] = {50, 0.01};
    const double k2[2] = {300, 2e-3}, zarc[3] = {150, 1e-3, 0.8};
    check("R0", r);
    check("C0", cap);
    check("L0", l);
    check("W0", w);
    check("Wo0", wo);
    check("Ws0", wo);
    check("CPE0", cpe);
    check("La0", la);
    check("G0", g);
    check("K0", k2);
    check("Zarc0", zarc);
    const double nested[10] = {10, 200, 1e-5, 0.9, 60, 0.5, 4e-6, 1e-6, 0.8, 2e-6};
    check("R0-p(R1,CPE1)-p(Wo1,C1)-La1-C2", nested);
}

static void test_element_rule(void **state)
{
    (void)state;
    const double cpe[2] = {2e-5, 0.85};
    assert_true(eisnet_element_scale_param(EISNET_EL_CPE, 0, cpe, 4) == 2e-5 / 4);
    assert_true(eisnet_element_scale_param(EISNET_EL_CPE, 1, cpe, 4) == 0.85);
    const double c[1] = {1e-6};
    assert_true(eisnet_element_scale_param(EISNET_EL_C, 0, c, 10) == 1e-7);
    eisnet_circuit *ci = eisnet_circuit_parse("R0-C1");
    double out[2];
    assert_int_equal(eisnet_circuit_scale_params(ci, c, 0, out), -1);
    eisnet_element_kind kind;
    int slot;
    assert_int_equal(eisnet_circuit_param_kind(ci, 2, &kind, &slot), -1);
    eisnet_circuit_free(ci);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_element), cmocka_unit_test(test_element_rule)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
