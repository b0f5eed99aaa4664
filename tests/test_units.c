/* Engineering notation: prefixes, rounding across a prefix, no unit, zero. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eisnet/units.h"

#include <math.h>
#include <string.h>

static void expect(double v, const char *unit, int digits, const char *want)
{
    char buf[64];
    eisnet_fmt_eng(buf, sizeof buf, v, unit, digits);
    if (strcmp(buf, want) != 0) fail_msg("%g %s: got '%s', want '%s'", v, unit ? unit : "", buf, want);
}

static void test_eng(void **state)
{
    (void)state;
    expect(5.22e-6, "F", 3, "5.22 \xc2\xb5" "F");
    expect(4820, "\xce\xa9", 3, "4.82 k\xce\xa9");
    expect(460, "\xce\xa9", 3, "460 \xce\xa9");
    expect(0.015, "\xce\xa9", 3, "15 m\xce\xa9");
    expect(999.96, "Hz", 3, "1 kHz");
    expect(1e6, "Hz", 3, "1 MHz");
    expect(3.1623e-3, "Hz", 3, "3.16 mHz");
    expect(-2.5e-9, "H", 2, "-2.5 nH");
    expect(1e-20, "F", 3, "1e-05 fF");
    expect(0.85, "", 3, "0.85");
    expect(0.85, NULL, 3, "0.85");
    expect(0, "F", 3, "0 F");
    expect(INFINITY, "Hz", 3, "inf Hz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_eng)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
