/* Flatten: (C, H, W) -> (C*H*W), in channel-major order (PyTorch's), so a
 * flat index i means channel i / (H*W), row (i / W) % H, column i % W. */
#include "layer.h"

static const char *const channels_last[] = {"channels_last", NULL};

static const cnn_field flatten_fields[] = {
    {"data_format", CNN_FIELD_ENUM, CNN_NOWHERE, 0, 0, 0, channels_last, NULL, 0, NULL},
    {NULL},
};

static int flatten_infer(cnn_layer *L, cnn_error *err)
{
    (void)err;
    size_t n = cnn_shape_size(L->in);
    L->out = (cnn_shape){.c = (int)n, .h = 1, .w = 1, .flat = 1};
    return 0;
}

/* ---- math: NCHW is already (C*H*W) per image, so both passes are copies ----- */

const cnn_layer_ops cnn_flatten_ops = {
    .type = "Flatten",
    .auto_name = "flatten",
    .fields = flatten_fields,
    .infer = flatten_infer,
    .forward = cnn_identity_forward,
    .backward = cnn_identity_backward,
};
