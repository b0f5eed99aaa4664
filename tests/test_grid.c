/* Grids: values of the presets and errors on bad options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/groundtruth.h"
#include "eisnet/resnorm.h"

static void assert_rel(double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fabs(want))) {
        print_error("got %.17g want %.17g (rel %.3g)\n", got, want, fabs(got - want) / fabs(want));
        fail();
    }
}

static void preset(eisnet_grid *g, const char *name)
{
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    o.circuit = name;
    assert_int_equal(eisnet_grid_init(g, &o), 0);
}

static void test_grid_values(void **state)
{
    (void)state;
    eisnet_grid g;
    preset(&g, "series");
    static const double R[12] = {10, 18.7381742, 35.1119173, 65.7933225, 123.284674, 231.012970,
                                 432.876128, 811.130831, 1519.91108, 2848.03587, 5336.69923, 10000};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < 12; i++) assert_rel(g.values[p * 12 + i], R[i], 1e-8);
    assert_rel(g.values[3 * 12], 1e-7, 1e-15);
    assert_rel(g.values[3 * 12 + 11], 5e-5, 1e-12);
    assert_int_equal(g.n_models, 248832);
    assert_rel(g.freq[0], 1.0, 1e-15);
    assert_rel(g.freq[49], 1e6, 1e-15);
    assert_rel(g.freq[7], pow(10, 6.0 * 7 / 49), 1e-14);
    assert_string_equal(g.names[0], "Rsh");
    assert_string_equal(g.names[3], "Ca");
    assert_int_equal(g.circuit_index[2], 3); /* Rb is the circuit's R2 */
    eisnet_grid_free(&g);
}

static void test_grid_errors(void **state)
{
    (void)state;
    eisnet_grid g;
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    o.circuit = "R0-p(R1,CPE1)";
    assert_int_equal(eisnet_grid_init(&g, &o), -1);
    assert_non_null(strstr(eisnet_last_error(), "no range for parameter 'R0'"));
    const char *bad[] = {"R0=10", "R0=a:b", "R0=10:5", "X9=1:2", "R0=-1:5", "=1:2"};
    for (int i = 0; i < 6; i++) {
        o.ranges = &bad[i];
        o.n_ranges = 1;
        assert_int_equal(eisnet_grid_init(&g, &o), -1);
        assert_non_null(strstr(eisnet_last_error(), "bad range"));
    }
    const char *good[] = {"R0=1:1e3", "R1=10:1e4", "CPE1_0=1e-6:1e-4", "CPE1_1=0.5:1"};
    o.ranges = good;
    o.n_ranges = 4;
    o.n_grid = 4;
    assert_int_equal(eisnet_grid_init(&g, &o), 0);
    assert_int_equal(g.n_models, 256);
    assert_string_equal(g.units[0], "\xce\xa9");
    assert_string_equal(g.units[2], "S\xc2\xb7s^\xce\xb1"); /* CPE Q: siemens second^alpha */
    assert_string_equal(g.units[3], "");                       /* CPE alpha */
    eisnet_grid_free(&g);
    eisnet_grid_options_default(&o);
    o.n_grid = 0;
    assert_int_equal(eisnet_grid_init(&g, &o), -1);
    eisnet_grid_options_default(&o);
    o.f_min = 10;
    o.f_max = 1;
    assert_int_equal(eisnet_grid_init(&g, &o), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_values),
        cmocka_unit_test(test_grid_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
