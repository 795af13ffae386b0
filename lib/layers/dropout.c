/* Dropout: inverted dropout, active only in training. */
#include "layer.h"

#include <string.h>

#include "rng.h"

/* Keras' seed makes its masks repeatable; ours come from the trainer's
 * generator, so it is read and ignored. */
static const cnn_field dropout_fields[] = {
    {"rate", CNN_FIELD_FLOAT, CNN_AT(rate), CNN_REQUIRED, 0.0, 0.999999, NULL, NULL, 0, NULL},
    {"seed", CNN_FIELD_INT, CNN_NOWHERE, 0, INT32_MIN + 1, 0, NULL, NULL, 0, NULL},
    {NULL},
};

static int dropout_needs_rng(const cnn_layer *L)
{
    return L->rate > 0;
}

static int dropout_infer(cnn_layer *L, cnn_error *err)
{
    (void)err;
    L->out = L->in;
    return 0;
}

/* ---- math ------------------------------------------------------------------ */

static size_t dropout_state_size(const cnn_layer *L, int max_batch)
{
    return (size_t)max_batch * cnn_shape_size(L->in); /* the mask: 0 or 1 / (1 - rate) */
}

/* Training: each value is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate) (inverted dropout).  One key is drawn from ctx->rng per
 * forward; image b's mask comes from a generator seeded by that key and the
 * image's index in the global batch (ctx->first + b), one uniform per value,
 * so the masks do not depend on how a data-parallel run splits the batch.
 * Inference: the identity. */
static void dropout_forward(const cnn_layer *L, float *out, const float *in, float *params,
                            const cnn_layer_ctx *ctx)
{
    (void)params;
    size_t per = cnn_shape_size(L->in), total = (size_t)ctx->n * per;
    if (!ctx->training || L->rate <= 0.0f) {
        memcpy(out, in, total * sizeof *out);
        return;
    }
    float *mask = ctx->state;
    float scale = 1.0f / (1.0f - L->rate);
    uint64_t key = cnn_rng_u64(ctx->rng);
    for (int b = 0; b < ctx->n; b++) {
        cnn_rng r;
        cnn_rng_seed_at(&r, key, (uint64_t)(ctx->first + b));
        for (size_t i = (size_t)b * per; i < (size_t)(b + 1) * per; i++) {
            mask[i] = cnn_rng_uniform(&r) >= L->rate ? scale : 0.0f;
            out[i] = in[i] * mask[i];
        }
    }
}

static void dropout_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                             const float *in, const float *out, const float *params,
                             const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)in;
    (void)out;
    (void)params;
    if (!din) return;
    size_t total = (size_t)ctx->n * cnn_shape_size(L->in);
    if (!ctx->training || L->rate <= 0.0f) {
        memcpy(din, dout, total * sizeof *din);
        return;
    }
    const float *mask = ctx->state;
    for (size_t i = 0; i < total; i++) din[i] = dout[i] * mask[i];
}

const cnn_layer_ops cnn_dropout_ops = {
    .type = "Dropout",
    .auto_name = "dropout",
    .fields = dropout_fields,
    .needs_rng = dropout_needs_rng,
    .infer = dropout_infer,
    .state_size = dropout_state_size,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
