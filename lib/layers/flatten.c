/* Flatten: (C, H, W) -> (C*H*W), in channel-major order (PyTorch's), so a
 * flat index i means channel i / (H*W), row (i / W) % H, column i % W. */
#include "layer.h"


static int flatten_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    static const char *const formats[] = {"channels_last", NULL};
    int fmt;
    (void)L;
    return cnn_cfg_enum(cfg, "data_format", formats, 0, &fmt, err);
}

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
    .configure = flatten_configure,
    .infer = flatten_infer,
    .forward = cnn_identity_forward,
    .backward = cnn_identity_backward,
};
