/* Process-wide loader limits (see load_limits.h). */
#include "load_limits.h"

#include "idx.h"
#include "image.h"
#include "model.h"
#include "weights.h"

static cnn_limits limits = {
    .max_params = CNN_MODEL_MAX_PARAMS,
    .max_file_bytes = CNN_IDX_MAX_BYTES,
    .max_weights_bytes = CNN_WEIGHTS_MAX_FILE,
    .max_pixels = CNN_PNG_MAX_PIXELS,
    .max_side = CNN_PNG_MAX_WIDTH,
};

cnn_limits *cnn_limits_get(void)
{
    return &limits;
}
