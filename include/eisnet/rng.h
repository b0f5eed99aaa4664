/* eisnet/rng.h: the one source of randomness. Every random choice in eisnet
 * flows from --seed through these generators (xoshiro256** seeded by
 * splitmix64), so runs are reproducible bit for bit. */
#ifndef EISNET_RNG_H
#define EISNET_RNG_H

#include <stdint.h>

/* The seed of every command unless --seed is given. */
#define EISNET_DEFAULT_SEED 42

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { uint64_t s[4]; } eisnet_rng;

/* Seeds from (seed, stream): different streams are independent sequences. */
void eisnet_rng_seed(eisnet_rng *r, uint64_t seed, uint64_t stream);
uint64_t eisnet_rng_next(eisnet_rng *r);
double eisnet_rng_uniform(eisnet_rng *r);          /* [0, 1), 53 bits */
uint64_t eisnet_rng_below(eisnet_rng *r, uint64_t n); /* [0, n), unbiased */
double eisnet_rng_normal(eisnet_rng *r);           /* standard normal */
void eisnet_rng_shuffle_u32(eisnet_rng *r, uint32_t *a, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif
