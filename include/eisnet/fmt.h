/* eisnet/fmt.h: Python-compatible float formatting.
 *
 * eisnet_fmt_double writes what Python's repr(float) writes: the shortest
 * decimal string that reads back (strtod) as the same double, laid out the
 * Python way: "10.0", "0.0", "-0.0", "1e-07", "40.5927446412749",
 * "4.9999999999999996e-05", "1e+16", "123456789012345.0", "inf", "-inf",
 * "nan". Fixed notation is used when the decimal exponent e of the leading
 * digit satisfies -4 <= e < 16, otherwise d.ddde±XX (at least two exponent
 * digits); an integral value in fixed notation gets ".0". */
#ifndef EISNET_FMT_H
#define EISNET_FMT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Minimum size of the buffer passed to the functions below. */
#define EISNET_FMT_BUFSIZE 32

/* Writes repr(v) plus a NUL into buf (>= 32 bytes); returns the length.
 * Exact and fast (Schubfach-style shortest digit selection, ~tens of ns).
 * Thread-safe. */
int eisnet_fmt_double(char *buf, double v);

/* The same result computed the slow, obviously correct way: snprintf("%.*e")
 * with 1..17 significant digits, keeping the first that strtod reads back.
 * Kept as the test oracle. (At exact powers of two, where the rounding
 * interval is lopsided, it can be one digit longer than the true shortest;
 * eisnet_fmt_double is never longer.) */
int eisnet_fmt_double_slow(char *buf, double v);

#ifdef __cplusplus
}
#endif
#endif
