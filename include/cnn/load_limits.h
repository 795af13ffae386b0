/* Process-wide limits on what the loaders accept from files, so hostile or
 * mistaken size fields are refused before anything that large is allocated.
 * The defaults suit MNIST-to-CIFAR work; a tool raises them from its flags
 * (--max-params, --max-file-size, --max-pixels) before it loads anything.
 * Like the thread count, the setting is process-wide. */
#ifndef CNN_LOAD_LIMITS_H
#define CNN_LOAD_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include "api.h"

CNN_BEGIN_DECLS

/* The default limits: the one place they are set (each loader's own name for
 * its limit, CNN_IDX_MAX_BYTES and the like, is defined as one of these). */
#define CNN_DEFAULT_MAX_PARAMS ((size_t)1 << 30)        /* floats */
#define CNN_DEFAULT_MAX_FILE_BYTES ((size_t)1 << 30)    /* IDX decoded data */
#define CNN_DEFAULT_MAX_WEIGHTS_BYTES ((size_t)4 << 30) /* weights, checkpoints */
#define CNN_DEFAULT_MAX_PIXELS (64ull * 1024 * 1024)    /* a PNG's width x height */
#define CNN_DEFAULT_MAX_SIDE 16384u                     /* a PNG's width or height */

typedef struct cnn_limits {
    size_t max_params;        /* parameters of a model: 2^30 floats */
    size_t max_file_bytes;    /* an IDX file's decoded data: 1 GiB */
    size_t max_weights_bytes; /* a weights or checkpoint file: 4 GiB */
    uint64_t max_pixels;      /* a PNG's width x height: 64 Mi */
    uint32_t max_side;        /* a PNG's width or height: 16384 */
} cnn_limits;

/* The limits in force; callers may change the fields. */
CNN_API cnn_limits *cnn_limits_get(void);

CNN_END_DECLS

#endif
