/* The seeded generator: xoshiro256** (Blackman and Vigna), seeded through
 * splitmix64 so that nearby seeds give unrelated streams. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void cnn_rng_seed(cnn_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

void cnn_rng_seed_at(cnn_rng *r, uint64_t key, uint64_t index)
{
    /* index through one splitmix64 finalizer first: seeds key + index would give
     * neighbouring indices overlapping (shifted) splitmix streams */
    uint64_t x = index + 1;
    cnn_rng_seed(r, key ^ splitmix64(&x));
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t cnn_rng_u64(cnn_rng *r)
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

float cnn_rng_uniform(cnn_rng *r)
{
    return (float)(cnn_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

uint64_t cnn_rng_below(cnn_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    /* Rejects the top sliver of the 64-bit range so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = cnn_rng_u64(r);
    while (x >= limit);
    return x % n;
}

float cnn_rng_normal(cnn_rng *r)
{
    /* One Box-Muller value per call (the pair's second is dropped) so the whole
     * state stays the four words.  u1 is in (0, 1] so the log is finite. */
    double u1 = ((double)(cnn_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(cnn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void cnn_rng_shuffle(cnn_rng *r, uint32_t *idx, uint64_t n)
{
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = cnn_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
