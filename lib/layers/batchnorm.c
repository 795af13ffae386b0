/* BatchNormalization over the channel axis (Keras axis=-1, channels-last),
 * i.e. per channel C of a (C, H, W) or (C) input.  Parameters gamma, beta
 * (trainable) and moving_mean, moving_variance (not trainable), 4*C in all. */
#include "layer.h"

#include <math.h>
#include <stdint.h>

#include "comm.h"

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

/* Per-channel sums in double for the statistics: (2*C + 1). */
static size_t batchnorm_scratch_size(const cnn_layer *L, int max_batch)
{
    (void)max_batch;
    return 2 * (2 * (size_t)L->in.c + 1) + 2; /* 2*C + 1 doubles, and room to align them */
}

static double *sums_in(float *scratch)
{
    uintptr_t p = (uintptr_t)scratch;
    return (double *)(p + (sizeof(double) - p % sizeof(double)) % sizeof(double));
}

/* Sums over the ranks of a data-parallel run (comm.h): the batch statistics
 * are those of the global batch, as in one process.  A failed transport
 * leaves the local sums (the trainer learns of the failure at its next
 * agreement). */
static void sum_ranks(const cnn_layer_ctx *ctx, double *v, size_t n)
{
    if (ctx->comm) (void)ctx->comm->sum_double(ctx->comm->ctx, v, n);
}

/* Training: per channel over (n, H, W), normalized with the batch mean and the
 * biased batch variance, epsilon inside the square root; the moving averages
 * become moving * momentum + batch * (1 - momentum), with the biased variance
 * (Keras 3; tf.keras 2's fused kernel used the unbiased one there).
 * Two passes (the mean, then the squared deviations from it), each summed over
 * the ranks when the batch is split.  Inference: the moving statistics. */
static void batchnorm_forward(const cnn_layer *L, float *out, const float *in, float *params,
                              const cnn_layer_ctx *ctx)
{
    int n = ctx->n, C = L->in.c;
    size_t hw = (size_t)L->in.h * L->in.w;
    const float *gamma = params, *beta = params + C;
    float *mmean = params + 2 * C, *mvar = params + 3 * C;
    float *mean = ctx->state, *istd = ctx->state + C; /* (C) each */
    if (ctx->training) {
        double *s1 = sums_in(ctx->scratch), *s2 = s1 + C + 1; /* (C + 1) sums, count; (C) */
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int b = 0; b < n; b++) {
                const float *x = in + ((size_t)b * C + c) * hw;
                for (size_t i = 0; i < hw; i++) s += x[i];
            }
            s1[c] = s;
        }
        s1[C] = (double)n * hw;
        sum_ranks(ctx, s1, (size_t)C + 1);
        double total = s1[C];
        for (int c = 0; c < C; c++) {
            double m = s1[c] / total, ss = 0.0;
            for (int b = 0; b < n; b++) {
                const float *x = in + ((size_t)b * C + c) * hw;
                for (size_t i = 0; i < hw; i++) ss += (x[i] - m) * (x[i] - m);
            }
            s2[c] = ss;
        }
        sum_ranks(ctx, s2, (size_t)C);
        for (int c = 0; c < C; c++) {
            double m = s1[c] / total, var = s2[c] / total;
            mean[c] = (float)m;
            istd[c] = (float)(1.0 / sqrt(var + L->epsilon));
            float keep = ctx->stat_weight > 0 ? 1.0f - ctx->stat_weight : L->momentum;
            mmean[c] = mmean[c] * keep + (float)m * (1.0f - keep);
            mvar[c] = mvar[c] * keep + (float)var * (1.0f - keep);
        }
    } else {
        for (int c = 0; c < C; c++) {
            mean[c] = mmean[c];
            istd[c] = 1.0f / sqrtf(mvar[c] + L->epsilon);
        }
    }
    for (int c = 0; c < C; c++) {
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
    const float *gamma = params;
    float *dgamma = dparams, *dbeta = dparams + C;
    const float *mean = ctx->state, *istd = ctx->state + C;
    double *sdy = sums_in(ctx->scratch), *sdyx = sdy + C; /* (C) sum(dy), (C) sum(dy * xhat) */
    for (int c = 0; c < C; c++) {
        double a = 0.0, b2 = 0.0;
        for (int b = 0; b < n; b++) {
            const float *x = in + ((size_t)b * C + c) * hw, *dy = dout + ((size_t)b * C + c) * hw;
            for (size_t i = 0; i < hw; i++) {
                a += dy[i];
                b2 += dy[i] * ((x[i] - mean[c]) * istd[c]);
            }
        }
        sdy[c] = a;
        sdyx[c] = b2;
        /* this rank's share; the trainer sums parameter gradients over ranks */
        dgamma[c] += (float)b2;
        dbeta[c] += (float)a;
    }
    if (!din) return;
    double m = (double)n * hw;
    if (ctx->training && ctx->comm) {
        /* the means below are over the global batch, as its statistics were */
        sdy[2 * C] = m;
        sum_ranks(ctx, sdy, 2 * (size_t)C + 1);
        m = sdy[2 * C];
    }
    for (int c = 0; c < C; c++) {
        float a = gamma[c] * istd[c];
        /* training: dx = gamma*istd * (dy - mean(dy) - xhat * mean(dy * xhat)),
         * since the batch mean and variance depend on x too */
        float mdy = ctx->training ? (float)(sdy[c] / m) : 0.0f;
        float mdyx = ctx->training ? (float)(sdyx[c] / m) : 0.0f;
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
    .scratch_size = batchnorm_scratch_size,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
};
