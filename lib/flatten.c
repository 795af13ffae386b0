/* Flatten: (C, H, W) -> (C*H*W), in channel-major order (PyTorch's), so a
 * flat index i means channel i / (H*W), row (i / W) % H, column i % W. */
#include "layer.h"

#include <string.h>

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

static void flatten_forward(const cnn_layer *L, float *out, const float *in, float *params,
                            const cnn_layer_ctx *ctx)
{
    (void)params;
    memcpy(out, in, (size_t)ctx->n * cnn_shape_size(L->in) * sizeof *out);
}

static void flatten_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                             const float *in, const float *out, const float *params,
                             const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)in;
    (void)out;
    (void)params;
    if (din) memcpy(din, dout, (size_t)ctx->n * cnn_shape_size(L->in) * sizeof *din);
}

const cnn_layer_ops cnn_flatten_ops = {
    .type = "Flatten",
    .auto_name = "flatten",
    .configure = flatten_configure,
    .infer = flatten_infer,
    .forward = flatten_forward,
    .backward = flatten_backward,
};
