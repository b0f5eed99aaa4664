/* xoshiro256** with splitmix64 seeding (public-domain algorithms by
 * Blackman and Vigna, written here from their description). */
#include "eisnet/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void eisnet_rng_seed(eisnet_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t eisnet_rng_next(eisnet_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double eisnet_rng_uniform(eisnet_rng *r) { return (double)(eisnet_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t eisnet_rng_below(eisnet_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = eisnet_rng_next(r);
    while (x >= limit);
    return x % n;
}

double eisnet_rng_normal(eisnet_rng *r)
{
    /* Box-Muller; one draw per call keeps the stream simple to reason about. */
    double u1 = 1.0 - eisnet_rng_uniform(r); /* (0, 1] */
    double u2 = eisnet_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void eisnet_rng_shuffle_u32(eisnet_rng *r, uint32_t *a, uint64_t n)
{
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = eisnet_rng_below(r, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
