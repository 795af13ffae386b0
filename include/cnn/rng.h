/* The seeded random generator every random choice in libcnn goes through
 * (initialization, dropout, shuffling, augmentation, visualization starts).
 * Its whole state is four 64-bit words, so checkpoints can save and restore it. */
#ifndef CNN_RNG_H
#define CNN_RNG_H

#include <stdint.h>
#include "api.h"

CNN_BEGIN_DECLS

typedef struct cnn_rng {
    uint64_t s[4]; /* xoshiro256** state */
} cnn_rng;

/* Seeds from one integer (expanded with splitmix64). */
CNN_API void cnn_rng_seed(cnn_rng *r, uint64_t seed);
/* Seeds the generator of item `index` of a set keyed by `key` (one draw of a
 * parent generator): each image of a batch gets its own stream, so what it
 * draws does not depend on which process or in which order it is handled. */
CNN_API void cnn_rng_seed_at(cnn_rng *r, uint64_t key, uint64_t index);
CNN_API uint64_t cnn_rng_u64(cnn_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
CNN_API float cnn_rng_uniform(cnn_rng *r);
/* Uniform integer in [0, n), unbiased. */
CNN_API uint64_t cnn_rng_below(cnn_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
CNN_API float cnn_rng_normal(cnn_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
CNN_API void cnn_rng_shuffle(cnn_rng *r, uint32_t *idx, uint64_t n);

CNN_END_DECLS

#endif
