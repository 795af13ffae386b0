/* BatchNormalization over the channel axis (Keras axis=-1, channels-last),
 * i.e. per channel C of a (C, H, W) or (C) input.  Parameters gamma, beta
 * (trainable) and moving_mean, moving_variance (not trainable), 4*C in all. */
#include "layer.h"

static int batchnorm_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    int center, scale;
    if (cnn_cfg_float(cfg, "momentum", 0.99, 0.0, 1.0, &L->momentum, err) ||
        cnn_cfg_float(cfg, "epsilon", 1e-3, 1e-12, 1.0, &L->epsilon, err) ||
        cnn_cfg_bool(cfg, "center", 1, &center, err) ||
        cnn_cfg_bool(cfg, "scale", 1, &scale, err))
        return -1;
    char path[256];
    if (!center || !scale)
        return cnn_errorf(err, "%s: BatchNormalization without center or scale is not supported",
                          cnn_cfg_path(cfg, center ? "scale" : "center", path, sizeof path));
    return 0;
}

static int batchnorm_infer(cnn_layer *L, cnn_error *err)
{
    (void)err;
    L->out = L->in;
    L->nparams = 4 * (size_t)L->in.c;
    L->ntrainable = 2 * (size_t)L->in.c;
    return 0;
}

static int batchnorm_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    size_t c = (size_t)L->in.c;
    t[0] = (cnn_tensor_info){"gamma", 1, {L->in.c}, 0, c, 1};
    t[1] = (cnn_tensor_info){"beta", 1, {L->in.c}, c, c, 1};
    t[2] = (cnn_tensor_info){"moving_mean", 1, {L->in.c}, 2 * c, c, 0};
    t[3] = (cnn_tensor_info){"moving_variance", 1, {L->in.c}, 3 * c, c, 0};
    return 4;
}

static double batchnorm_macs(const cnn_layer *L)
{
    return (double)cnn_shape_size(L->in);
}

const cnn_layer_ops cnn_batchnorm_ops = {
    .type = "BatchNormalization",
    .auto_name = "batch_normalization",
    .configure = batchnorm_configure,
    .infer = batchnorm_infer,
    .tensors = batchnorm_tensors,
    .macs = batchnorm_macs,
};
