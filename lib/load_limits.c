/* Process-wide loader limits (see load_limits.h). */
#include "load_limits.h"

static cnn_limits limits = {
    .max_params = CNN_DEFAULT_MAX_PARAMS,
    .max_file_bytes = CNN_DEFAULT_MAX_FILE_BYTES,
    .max_weights_bytes = CNN_DEFAULT_MAX_WEIGHTS_BYTES,
    .max_pixels = CNN_DEFAULT_MAX_PIXELS,
    .max_side = CNN_DEFAULT_MAX_SIDE,
};

cnn_limits *cnn_limits_get(void)
{
    return &limits;
}
