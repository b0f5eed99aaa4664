/* Engineering notation with SI prefixes (see eisnet/units.h). */
#include "eisnet/units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eisnet_fmt_eng(char *buf, size_t n, double v, const char *unit, int digits)
{
    static const char *const prefix[] = {"f", "p", "n", "\xc2\xb5", "m", "", "k", "M", "G", "T"};
    if (digits < 1) digits = 1;
    if (digits > 17) digits = 17;
    const int has_unit = unit && unit[0];
    if (!isfinite(v) || v == 0 || !has_unit)
        return snprintf(buf, n, "%.*g%s%s", digits, v, has_unit ? " " : "", has_unit ? unit : "");
    /* round to the digits first: 999.96 with 3 digits is 1 k, not 1000 */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", digits - 1, v);
    const double r = strtod(tmp, NULL);
    int e3 = (int)floor(log10(fabs(r)) / 3);
    if (e3 < -5) e3 = -5;
    if (e3 > 4) e3 = 4;
    const double m = r / pow(10, 3 * e3);
    return snprintf(buf, n, "%.*g %s%s", digits, m, prefix[e3 + 5], unit);
}
