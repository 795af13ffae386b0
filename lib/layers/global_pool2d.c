/* GlobalMaxPooling2D and GlobalAveragePooling2D: one value per channel. */
#include "layer.h"

#include <string.h>

static const char *const channels_last[] = {"channels_last", NULL};

static const cnn_field gpool_fields[] = {
    {"data_format", CNN_FIELD_ENUM, CNN_NOWHERE, 0, 0, 0, channels_last, NULL, 0, NULL},
    {"keepdims", CNN_FIELD_BOOL, CNN_NOWHERE, 0, 0, 0, NULL, NULL, 0,
     "keepdims=true is not supported"},
    {NULL},
};

static int gpool_infer(cnn_layer *L, cnn_error *err)
{
    if (L->in.flat)
        return cnn_errorf(err, "%s needs a spatial input (height, width, channels), got (None, %d)",
                          L->ops->type, L->in.c);
    L->out = (cnn_shape){.c = L->in.c, .h = 1, .w = 1, .flat = 1};
    return 0;
}

/* ---- math: out (n, C) from in (n, C, H, W) -------------------------------- */

/* Index of the plane's largest value; the first one on ties. */
static size_t plane_argmax(const float *x, size_t hw)
{
    size_t best = 0;
    for (size_t i = 1; i < hw; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void gmaxpool_forward(const cnn_layer *L, float *out, const float *in, float *params,
                             const cnn_layer_ctx *ctx)
{
    (void)params;
    size_t hw = (size_t)L->in.h * L->in.w, planes = (size_t)ctx->n * L->in.c;
    for (size_t p = 0; p < planes; p++) out[p] = in[p * hw + plane_argmax(in + p * hw, hw)];
}

static void gmaxpool_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                              const float *in, const float *out, const float *params,
                              const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)out;
    (void)params;
    if (!din) return;
    size_t hw = (size_t)L->in.h * L->in.w, planes = (size_t)ctx->n * L->in.c;
    memset(din, 0, planes * hw * sizeof *din);
    for (size_t p = 0; p < planes; p++) din[p * hw + plane_argmax(in + p * hw, hw)] = dout[p];
}

static void gavgpool_forward(const cnn_layer *L, float *out, const float *in, float *params,
                             const cnn_layer_ctx *ctx)
{
    (void)params;
    size_t hw = (size_t)L->in.h * L->in.w, planes = (size_t)ctx->n * L->in.c;
    for (size_t p = 0; p < planes; p++) {
        float s = 0.0f;
        for (size_t i = 0; i < hw; i++) s += in[p * hw + i];
        out[p] = s / (float)hw;
    }
}

static void gavgpool_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                              const float *in, const float *out, const float *params,
                              const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)in;
    (void)out;
    (void)params;
    if (!din) return;
    size_t hw = (size_t)L->in.h * L->in.w, planes = (size_t)ctx->n * L->in.c;
    for (size_t p = 0; p < planes; p++) {
        float v = dout[p] / (float)hw;
        for (size_t i = 0; i < hw; i++) din[p * hw + i] = v;
    }
}

const cnn_layer_ops cnn_global_maxpool2d_ops = {
    .type = "GlobalMaxPooling2D",
    .auto_name = "global_max_pooling2d",
    .fields = gpool_fields,
    .infer = gpool_infer,
    .forward = gmaxpool_forward,
    .backward = gmaxpool_backward,
};

const cnn_layer_ops cnn_global_avgpool2d_ops = {
    .type = "GlobalAveragePooling2D",
    .auto_name = "global_average_pooling2d",
    .fields = gpool_fields,
    .infer = gpool_infer,
    .forward = gavgpool_forward,
    .backward = gavgpool_backward,
};
