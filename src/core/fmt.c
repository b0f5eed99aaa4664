/* Shortest round-trip formatting of doubles in Python's repr() layout.
 *
 * Digit selection follows the Schubfach idea (R. Giulietti, "The Schubfach
 * way to render doubles", 2020), written here from the paper: for
 * v = c * 2^q choose k = floor(log10(2^q)) so that v * 10^-k has 16-17
 * digits; compute that scaled value and the scaled ends of v's rounding
 * interval with a 126-bit approximation g of 10^-k and rounding to odd;
 * then the unique multiple of 10 inside the interval (if any) gives a
 * shorter result, else the closer of floor/ceil. Unlike Java's
 * Double.toString (which never goes below two digits) we always take the
 * shortest, as Python does.
 *
 * The table of g (617 entries) is computed exactly with a small bignum the
 * first time the function is used (a few microseconds). */
#include "eisnet/fmt.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

#define K_MIN (-324)
#define K_MAX 292
#define Q_MIN (-1074)

static uint64_t g_hi[K_MAX - K_MIN + 1]; /* g >> 63 */
static uint64_t g_lo[K_MAX - K_MIN + 1]; /* g & (2^63 - 1) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* floor(e * log10(2)), floor(e * log10(2) + log10(3/4)), floor(e * log2(10)):
 * fixed-point approximations exact over the ranges used here (checked in
 * init_tables for the last one, and by the tests against the oracle). */
static inline int flog10pow2(int e) { return (int)(((int64_t)e * 661971961083LL) >> 41); }
static inline int flog10threequarterspow2(int e)
{
    return (int)(((int64_t)e * 661971961083LL - 274743187321LL) >> 41);
}
static inline int flog2pow10(int e) { return (int)(((int64_t)e * 913124641741LL) >> 38); }

/* ---- table construction (bignum: little-endian 32-bit words) ---- */
#define BW 40 /* 1280 bits */

static int big_bitlen(const uint32_t *x)
{
    for (int w = BW - 1; w >= 0; w--)
        if (x[w]) {
            int b = 31;
            while (!((x[w] >> b) & 1)) b--;
            return w * 32 + b + 1;
        }
    return 0;
}

static int big_bit(const uint32_t *x, int b)
{
    if (b < 0 || b >= BW * 32) return 0;
    return (x[b / 32] >> (b % 32)) & 1;
}

/* Stores g = floor(x * 2^(126 - L)) + 1 for table index k (x has L bits). */
static void set_g(int k, const uint32_t *x)
{
    int L = big_bitlen(x);
    u128 beta = 0;
    for (int b = L - 1; b >= L - 126; b--) beta = (beta << 1) | (u128)big_bit(x, b);
    u128 g = beta + 1;
    g_hi[k - K_MIN] = (uint64_t)(g >> 63);
    g_lo[k - K_MIN] = (uint64_t)g & ((1ULL << 63) - 1);
}

static void init_tables(void)
{
    uint32_t x[BW];
    /* k <= 0: 10^-k = 10^n exactly. */
    memset(x, 0, sizeof x);
    x[0] = 1;
    for (int n = 0; n <= -K_MIN; n++) {
        if (n > 0) {
            uint64_t carry = 0;
            for (int w = 0; w < BW; w++) {
                uint64_t p = (uint64_t)x[w] * 10 + carry;
                x[w] = (uint32_t)p;
                carry = p >> 32;
            }
        }
        if (flog2pow10(n) != big_bitlen(x) - 1) abort(); /* cannot happen */
        set_g(-n, x);
    }
    /* k > 0: floor(2^M / 10^k), M = 1250, by repeated exact division by 10. */
    const int M = 1250;
    memset(x, 0, sizeof x);
    x[M / 32] = 1u << (M % 32);
    for (int k = 1; k <= K_MAX; k++) {
        uint64_t rem = 0;
        for (int w = BW - 1; w >= 0; w--) {
            uint64_t cur = (rem << 32) | x[w];
            x[w] = (uint32_t)(cur / 10);
            rem = cur % 10;
        }
        if (flog2pow10(-k) != big_bitlen(x) - 1 - M) abort(); /* cannot happen */
        set_g(k, x);
    }
}

/* Round to odd of g * cp / 2^127 (g = hi * 2^63 + lo), in the paper's
 * form: the bits of lo * cp below 2^64 are dropped, which is what makes
 * exact ties (g overestimates 10^-k by at most one unit) come out exact. */
static inline uint64_t rop(uint64_t hi, uint64_t lo, uint64_t cp)
{
    uint64_t x1 = (uint64_t)(((u128)lo * cp) >> 64);
    u128 y = (u128)hi * cp;
    uint64_t y0 = (uint64_t)y, y1 = (uint64_t)(y >> 64);
    uint64_t z = (y0 >> 1) + x1;
    uint64_t vbp = y1 + (z >> 63);
    return vbp | (((z & ((1ULL << 63) - 1)) + ((1ULL << 63) - 1)) >> 63);
}

/* v = c * 2^q (c > 0). Returns f and e with the shortest decimal f * 10^e. */
static inline void to_decimal(int q, uint64_t c, uint64_t *f, int *e)
{
    uint64_t out = c & 1;
    uint64_t cb = c << 2;
    uint64_t cbr = cb + 2;
    uint64_t cbl;
    int k;
    if (c != (1ULL << 52) || q == Q_MIN) {
        cbl = cb - 2;
        k = flog10pow2(q);
    } else {
        cbl = cb - 1; /* lower neighbour is only half an ulp away */
        k = flog10threequarterspow2(q);
    }
    int h = q + flog2pow10(-k) + 2;
    /* entry k of the table approximates 10^-k */
    uint64_t hi = g_hi[k - K_MIN], lo = g_lo[k - K_MIN];
    uint64_t vb = rop(hi, lo, cb << h);
    uint64_t vbl = rop(hi, lo, cbl << h);
    uint64_t vbr = rop(hi, lo, cbr << h);

    uint64_t s = vb >> 2;
    /* A multiple of 10 in the interval: at most one exists (the interval is
     * narrower than 10 units); it is the shortest candidate. */
    uint64_t sp10 = s / 10 * 10;
    uint64_t tp10 = sp10 + 10;
    int upin = sp10 != 0 && vbl + out <= (sp10 << 2);
    int wpin = (tp10 << 2) + out <= vbr;
    if (upin != wpin) {
        *f = upin ? sp10 : tp10;
        *e = k;
        return;
    }
    uint64_t t = s + 1;
    int uin = vbl + out <= (s << 2);
    int win = (t << 2) + out <= vbr;
    if (uin != win) {
        *f = uin ? s : t;
        *e = k;
        return;
    }
    int64_t cmp = (int64_t)(vb - ((s + t) << 1));
    *f = (cmp < 0 || (cmp == 0 && (s & 1) == 0)) ? s : t;
    *e = k;
}

static const char DIGITS2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Lays out f * 10^e (f > 0) Python-style at p; returns the length. */
static int layout(char *p, uint64_t f, int e)
{
    while (f % 100 == 0) {
        f /= 100;
        e += 2;
    }
    if (f % 10 == 0) {
        f /= 10;
        e += 1;
    }
    char d[24];
    int n = 0;
    char *end = d + sizeof d;
    char *w = end;
    while (f >= 100) {
        unsigned r = (unsigned)(f % 100);
        f /= 100;
        w -= 2;
        memcpy(w, DIGITS2 + 2 * r, 2);
    }
    if (f >= 10) {
        w -= 2;
        memcpy(w, DIGITS2 + 2 * f, 2);
    } else {
        *--w = (char)('0' + f);
    }
    n = (int)(end - w);
    const char *dg = w;
    int E = e + n - 1; /* exponent of the leading digit */
    char *s = p;
    if (E >= -4 && E < 16) {
        if (E >= n - 1) { /* integral */
            memcpy(s, dg, (size_t)n);
            s += n;
            for (int i = 0; i < E - (n - 1); i++) *s++ = '0';
            *s++ = '.';
            *s++ = '0';
        } else if (E >= 0) {
            memcpy(s, dg, (size_t)E + 1);
            s += E + 1;
            *s++ = '.';
            memcpy(s, dg + E + 1, (size_t)(n - E - 1));
            s += n - E - 1;
        } else {
            *s++ = '0';
            *s++ = '.';
            for (int i = 0; i < -E - 1; i++) *s++ = '0';
            memcpy(s, dg, (size_t)n);
            s += n;
        }
    } else {
        *s++ = dg[0];
        if (n > 1) {
            *s++ = '.';
            memcpy(s, dg + 1, (size_t)n - 1);
            s += n - 1;
        }
        *s++ = 'e';
        int x = E;
        if (x < 0) {
            *s++ = '-';
            x = -x;
        } else {
            *s++ = '+';
        }
        if (x >= 100) {
            *s++ = (char)('0' + x / 100);
            x %= 100;
        }
        memcpy(s, DIGITS2 + 2 * x, 2);
        s += 2;
    }
    *s = '\0';
    return (int)(s - p);
}

static int special(char *buf, uint64_t bits, int *done)
{
    int neg = (int)(bits >> 63);
    uint64_t t = bits & ((1ULL << 52) - 1);
    int bq = (int)((bits >> 52) & 0x7ff);
    *done = 1;
    if (bq == 0x7ff) {
        if (t) {
            memcpy(buf, "nan", 4);
            return 3;
        }
        if (neg) {
            memcpy(buf, "-inf", 5);
            return 4;
        }
        memcpy(buf, "inf", 4);
        return 3;
    }
    if (bq == 0 && t == 0) {
        if (neg) {
            memcpy(buf, "-0.0", 5);
            return 4;
        }
        memcpy(buf, "0.0", 4);
        return 3;
    }
    *done = 0;
    return 0;
}

int eisnet_fmt_double(char *buf, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int done;
    int len = special(buf, bits, &done);
    if (done) return len;
    pthread_once(&g_once, init_tables);
    char *p = buf;
    if (bits >> 63) *p++ = '-';
    uint64_t t = bits & ((1ULL << 52) - 1);
    int bq = (int)((bits >> 52) & 0x7ff);
    uint64_t f;
    int e;
    if (bq != 0) {
        int mq = 1075 - bq;
        uint64_t c = (1ULL << 52) | t;
        if (mq > 0 && mq < 53) {
            uint64_t fi = c >> mq;
            if ((fi << mq) == c) { /* an integer below 2^53: its own digits */
                return (int)(p - buf) + layout(p, fi, 0);
            }
        }
        to_decimal(-mq, c, &f, &e);
    } else {
        to_decimal(Q_MIN, t, &f, &e);
    }
    return (int)(p - buf) + layout(p, f, e);
}

int eisnet_fmt_double_slow(char *buf, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int done;
    int len = special(buf, bits, &done);
    if (done) return len;
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v || prec == 17) break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX */
    char *p = buf;
    const char *s = tmp;
    if (*s == '-') {
        *p++ = '-';
        s++;
    }
    uint64_t f = 0;
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') {
            f = f * 10 + (uint64_t)(*s - '0');
            nd++;
        }
    int ex = atoi(s + 1);
    return (int)(p - buf) + layout(p, f, ex - (nd - 1));
}
