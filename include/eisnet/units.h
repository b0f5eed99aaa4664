/* eisnet/units.h: values in engineering notation with SI prefixes, as a
 * scientist writes them: "5.22 µF", "4.82 kΩ", "10 Hz", "0.85". */
#ifndef EISNET_UNITS_H
#define EISNET_UNITS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes v with `digits` significant digits (1..17) and, when unit is not
 * empty, the SI prefix (f p n µ m, none, k M G T) that leaves 1 <= |mantissa|
 * < 1000, then a space and the unit. A unit that is empty or NULL gets no
 * prefix (plain %g-style). Zero, infinities and NaN are written as such.
 * Returns the length written (snprintf's convention). */
int eisnet_fmt_eng(char *buf, size_t n, double v, const char *unit, int digits);

#ifdef __cplusplus
}
#endif
#endif
