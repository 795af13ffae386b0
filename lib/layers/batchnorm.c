/* BatchNormalization over the channel axis (Keras axis=-1, channels-last),
 * i.e. per channel C of a (C, H, W) or (C) input.  Parameters gamma, beta
 * (trainable) and moving_mean, moving_variance (not trainable), 4*C in all. */
#include "layer.h"

#include <math.h>

static const cnn_field batchnorm_fields[] = {
    {"momentum", CNN_FIELD_FLOAT, CNN_AT(momentum), 0.99, 0.0, 1.0, NULL, NULL, 0, NULL},
    {"epsilon", CNN_FIELD_FLOAT, CNN_AT(epsilon), 1e-3, 1e-12, 1.0, NULL, NULL, 0, NULL},
    {"center", CNN_FIELD_BOOL, CNN_NOWHERE, 1, 0, 0, NULL, NULL, 0,
     "BatchNormalization without center or scale is not supported"},
    {"scale", CNN_FIELD_BOOL, CNN_NOWHERE, 1, 0, 0, NULL, NULL, 0,
     "BatchNormalization without center or scale is not supported"},
    /* Keras' axis: only the channel axis, checked against the shape in infer */
    {"axis", CNN_FIELD_AXIS, CNN_AT(axis), -1, 0, 0, NULL, NULL, 1, NULL},
    {NULL},
};

static int batchnorm_infer(cnn_layer *L, cnn_error *err)
{
    int channel_axis = L->in.flat ? 1 : 3;
    if (L->axis != -1 && L->axis != channel_axis)
        return cnn_errorf(err, "axis: BatchNormalization over axis %d is not supported (only "
                               "the channel axis: -1 or %d)", L->axis, channel_axis);
    L->out = L->in;
    L->nparams = 4 * (size_t)L->in.c;
    L->ntrainable = 2 * (size_t)L->in.c;
    return 0;
}

static int batchnorm_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    size_t c = (size_t)L->in.c;
    t[0] = (cnn_tensor_info){"gamma", 1, {L->in.c}, 0, c, 1, CNN_ROLE_GAMMA};
    t[1] = (cnn_tensor_info){"beta", 1, {L->in.c}, c, c, 1, CNN_ROLE_BETA};
    t[2] = (cnn_tensor_info){"moving_mean", 1, {L->in.c}, 2 * c, c, 0, CNN_ROLE_MOVING_MEAN};
    t[3] = (cnn_tensor_info){"moving_variance", 1, {L->in.c}, 3 * c, c, 0,
                             CNN_ROLE_MOVING_VARIANCE};
    return 4;
}

static double batchnorm_macs(const cnn_layer *L)
{
    return (double)cnn_shape_size(L->in);
}

/* ---- math ------------------------------------------------------------------ */

static size_t batchnorm_state_size(const cnn_layer *L, int max_batch)
{
    (void)max_batch;
    return 2 * (size_t)L->in.c; /* the mean and 1/sqrt(var + eps) the last forward used */
}

/* Training: per channel over (n, H, W), normalized with the batch mean and the
 * biased batch variance, epsilon inside the square root; the moving averages
 * become moving * momentum + batch * (1 - momentum), with the biased variance
 * (Keras 3; tf.keras 2's fused kernel used the unbiased one there).
 * Inference: the moving statistics. */
static void batchnorm_forward(const cnn_layer *L, float *out, const float *in, float *params,
                              const cnn_layer_ctx *ctx)
{
    int n = ctx->n, C = L->in.c;
    size_t hw = (size_t)L->in.h * L->in.w;
    const float *gamma = params, *beta = params + C;
    float *mmean = params + 2 * C, *mvar = params + 3 * C;
    float *mean = ctx->state, *istd = ctx->state + C; /* (C) each */
    for (int c = 0; c < C; c++) {
        if (ctx->training) {
            double s = 0.0, ss = 0.0, m;
            for (int b = 0; b < n; b++) {
                const float *x = in + ((size_t)b * C + c) * hw;
                for (size_t i = 0; i < hw; i++) s += x[i];
            }
            m = s / ((double)n * hw);
            for (int b = 0; b < n; b++) {
                const float *x = in + ((size_t)b * C + c) * hw;
                for (size_t i = 0; i < hw; i++) ss += (x[i] - m) * (x[i] - m);
            }
            double var = ss / ((double)n * hw);
            mean[c] = (float)m;
            istd[c] = (float)(1.0 / sqrt(var + L->epsilon));
            mmean[c] = mmean[c] * L->momentum + (float)m * (1.0f - L->momentum);
            mvar[c] = mvar[c] * L->momentum + (float)var * (1.0f - L->momentum);
        } else {
            mean[c] = mmean[c];
            istd[c] = 1.0f / sqrtf(mvar[c] + L->epsilon);
        }
        float a = gamma[c] * istd[c], sh = beta[c] - a * mean[c];
        for (int b = 0; b < n; b++) {
            const float *x = in + ((size_t)b * C + c) * hw;
            float *y = out + ((size_t)b * C + c) * hw;
            for (size_t i = 0; i < hw; i++) y[i] = a * x[i] + sh;
        }
    }
}

static void batchnorm_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                               const float *in, const float *out, const float *params,
                               const cnn_layer_ctx *ctx)
{
    (void)out;
    int n = ctx->n, C = L->in.c;
    size_t hw = (size_t)L->in.h * L->in.w;
    double m = (double)n * hw;
    const float *gamma = params;
    float *dgamma = dparams, *dbeta = dparams + C;
    const float *mean = ctx->state, *istd = ctx->state + C;
    for (int c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0; /* sum(dy), sum(dy * xhat) */
        for (int b = 0; b < n; b++) {
            const float *x = in + ((size_t)b * C + c) * hw, *dy = dout + ((size_t)b * C + c) * hw;
            for (size_t i = 0; i < hw; i++) {
                sdy += dy[i];
                sdyx += dy[i] * ((x[i] - mean[c]) * istd[c]);
            }
        }
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        if (!din) continue;
        float a = gamma[c] * istd[c];
        /* training: dx = gamma*istd * (dy - mean(dy) - xhat * mean(dy * xhat)),
         * since the batch mean and variance depend on x too */
        float mdy = ctx->training ? (float)(sdy / m) : 0.0f;
        float mdyx = ctx->training ? (float)(sdyx / m) : 0.0f;
        for (int b = 0; b < n; b++) {
            const float *x = in + ((size_t)b * C + c) * hw, *dy = dout + ((size_t)b * C + c) * hw;
            float *dx = din + ((size_t)b * C + c) * hw;
            for (size_t i = 0; i < hw; i++)
                dx[i] = a * (dy[i] - mdy - (x[i] - mean[c]) * istd[c] * mdyx);
        }
    }
}

const cnn_layer_ops cnn_batchnorm_ops = {
    .type = "BatchNormalization",
    .auto_name = "batch_normalization",
    .fields = batchnorm_fields,
    .infer = batchnorm_infer,
    .tensors = batchnorm_tensors,
    .macs = batchnorm_macs,
    .state_size = batchnorm_state_size,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
};
