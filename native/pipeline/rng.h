/* xoshiro256** seeded through splitmix64: fast, reproducible, good enough
 * for simulating links (not for anything secret). */
#ifndef PD_RNG_H
#define PD_RNG_H

#include <stdint.h>

typedef struct pd_rng { uint64_t s[4]; } pd_rng;

static inline uint64_t pd_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void pd_rng_seed(pd_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = pd_splitmix64(&seed);
}

static inline uint64_t pd_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t pd_rng_next(pd_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = pd_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = pd_rotl(s[3], 45);
    return result;
}

/* Threshold such that P(pd_rng_next() < t) == p, for 0 <= p <= 1. */
static inline uint64_t pd_prob_threshold(double p)
{
    if (p <= 0.0) return 0;
    if (p >= 1.0) return UINT64_MAX;
    return (uint64_t)(p * 18446744073709551616.0);
}

static inline int pd_rng_chance(pd_rng *r, uint64_t threshold)
{
    return threshold && pd_rng_next(r) < threshold;
}

#endif /* PD_RNG_H */
