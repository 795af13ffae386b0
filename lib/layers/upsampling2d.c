/* UpSampling2D: repeats each row size[0] times and each column size[1] times
 * ("nearest"), or resizes bilinearly with TensorFlow's half-pixel centres
 * ("bilinear", what Keras' UpSampling2D does through tf.image.resize). */
#include "layer.h"

#include <math.h>
#include <string.h>

enum { NEAREST, BILINEAR };

typedef struct upsampling_conf {
    int size[2]; /* (rows, columns) factors */
    int interpolation;
} upsampling_conf;

static const char *const interpolations[] = {"nearest", "bilinear", NULL};
static const char *const channels_last[] = {"channels_last", NULL};

static const cnn_field upsampling2d_fields[] = {
    {"size", CNN_FIELD_PAIR, CNN_AT_CONF(upsampling_conf, size), 2, 1, 0, NULL, NULL, 0, NULL},
    {"interpolation", CNN_FIELD_ENUM, CNN_AT_CONF(upsampling_conf, interpolation), NEAREST, 0, 0,
     interpolations, NULL, 0, NULL},
    {"data_format", CNN_FIELD_ENUM, CNN_NOWHERE, 0, 0, 0, channels_last, NULL, 0, NULL},
    {NULL},
};

_Static_assert(sizeof(upsampling_conf) <= CNN_LAYER_CONF_MAX, "conf too large");

static int upsampling2d_infer(cnn_layer *L, cnn_error *err)
{
    const upsampling_conf *u = CNN_LAYER_CONF(L, const upsampling_conf);
    if (L->in.flat)
        return cnn_errorf(err, "UpSampling2D needs a spatial input (height, width, channels), "
                               "got (None, %d)", L->in.c);
    double h = (double)L->in.h * u->size[0], w = (double)L->in.w * u->size[1];
    if (h > 1 << 28 || w > 1 << 28)
        return cnn_errorf(err, "size %dx%d makes the output (None, %.0f, %.0f, %d) too large",
                          u->size[0], u->size[1], h, w, L->in.c);
    L->out = (cnn_shape){.c = L->in.c, .h = (int)h, .w = (int)w, .flat = 0};
    return 0;
}

/* ---- math: out (n, C, H*sy, W*sx) from in (n, C, H, W) ------------------------ */

/* Bilinear source of output position o along an axis of n inputs scaled by s:
 * TensorFlow's half-pixel centres, (o + 0.5) / s - 0.5, the lower and upper
 * inputs clamped to [0, n) and the weight of the upper one. */
static void bilinear_src(int o, int s, int n, int *lo, int *hi, float *t)
{
    float src = ((float)o + 0.5f) / (float)s - 0.5f;
    float f = floorf(src);
    *t = src - f;
    int i = (int)f;
    *lo = i < 0 ? 0 : i;
    *hi = i + 1 > n - 1 ? n - 1 : i + 1;
}

static void upsampling2d_forward(const cnn_layer *L, float *out, const float *in, float *params,
                                 const cnn_layer_ctx *ctx)
{
    (void)params;
    const upsampling_conf *u = CNN_LAYER_CONF(L, const upsampling_conf);
    int H = L->in.h, W = L->in.w, OH = L->out.h, OW = L->out.w;
    size_t planes = (size_t)ctx->n * L->in.c;
    for (size_t p = 0; p < planes; p++) {
        const float *src = in + p * H * W; /* (H, W) */
        float *dst = out + p * OH * OW;    /* (OH, OW) */
        for (int oy = 0; oy < OH; oy++) {
            if (u->interpolation == NEAREST) {
                const float *row = src + (size_t)(oy / u->size[0]) * W;
                for (int ox = 0; ox < OW; ox++) dst[(size_t)oy * OW + ox] = row[ox / u->size[1]];
                continue;
            }
            int y0, y1;
            float ty;
            bilinear_src(oy, u->size[0], H, &y0, &y1, &ty);
            for (int ox = 0; ox < OW; ox++) {
                int x0, x1;
                float tx;
                bilinear_src(ox, u->size[1], W, &x0, &x1, &tx);
                float top = src[y0 * W + x0] + (src[y0 * W + x1] - src[y0 * W + x0]) * tx;
                float bottom = src[y1 * W + x0] + (src[y1 * W + x1] - src[y1 * W + x0]) * tx;
                dst[(size_t)oy * OW + ox] = top + (bottom - top) * ty;
            }
        }
    }
}

static void upsampling2d_backward(const cnn_layer *L, float *din, float *dparams,
                                  const float *dout, const float *in, const float *out,
                                  const float *params, const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)in;
    (void)out;
    (void)params;
    if (!din) return;
    const upsampling_conf *u = CNN_LAYER_CONF(L, const upsampling_conf);
    int H = L->in.h, W = L->in.w, OH = L->out.h, OW = L->out.w;
    size_t planes = (size_t)ctx->n * L->in.c;
    memset(din, 0, planes * H * W * sizeof *din);
    for (size_t p = 0; p < planes; p++) {
        const float *g = dout + p * OH * OW; /* (OH, OW) */
        float *d = din + p * H * W;          /* (H, W) */
        for (int oy = 0; oy < OH; oy++) {
            if (u->interpolation == NEAREST) {
                float *row = d + (size_t)(oy / u->size[0]) * W;
                for (int ox = 0; ox < OW; ox++) row[ox / u->size[1]] += g[(size_t)oy * OW + ox];
                continue;
            }
            int y0, y1;
            float ty;
            bilinear_src(oy, u->size[0], H, &y0, &y1, &ty);
            for (int ox = 0; ox < OW; ox++) {
                int x0, x1;
                float tx;
                bilinear_src(ox, u->size[1], W, &x0, &x1, &tx);
                float v = g[(size_t)oy * OW + ox];
                d[y0 * W + x0] += v * (1 - ty) * (1 - tx);
                d[y0 * W + x1] += v * (1 - ty) * tx;
                d[y1 * W + x0] += v * ty * (1 - tx);
                d[y1 * W + x1] += v * ty * tx;
            }
        }
    }
}

const cnn_layer_ops cnn_upsampling2d_ops = {
    .type = "UpSampling2D",
    .auto_name = "up_sampling2d",
    .fields = upsampling2d_fields,
    .infer = upsampling2d_infer,
    .forward = upsampling2d_forward,
    .backward = upsampling2d_backward,
};
