/* eisnet/kernels.h: definitions every backend shares (eisnet/backend.h),
 * so that all of them compute the same function: the LayerNorm epsilon and
 * the counter-based dropout hash. A dropout mask is a function of (key,
 * element index) only, so it does not depend on the backend or on how a
 * batch is split into blocks. */
#ifndef EISNET_KERNELS_H
#define EISNET_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EISNET_LN_EPS 1e-5f

/* The dropout hash: splitmix64's finaliser of (key + idx * golden ratio). */
static inline uint64_t eisnet_hash64(uint64_t key, uint64_t idx)
{
    uint64_t z = key + (idx + 1) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Integer drop threshold: an element is dropped when the top 32 bits of its
 * hash are < eisnet_dropout_threshold(p), i.e. with probability p (to 2^-32). */
static inline uint64_t eisnet_dropout_threshold(float p)
{
    if (p <= 0.0f) return 0;
    if (p >= 1.0f) return UINT64_C(1) << 32;
    return (uint64_t)((double)p * 4294967296.0);
}

static inline int eisnet_dropout_drop(uint64_t key, uint64_t idx, uint64_t threshold)
{
    return (eisnet_hash64(key, idx) >> 32) < threshold;
}

#ifdef __cplusplus
}
#endif
#endif
