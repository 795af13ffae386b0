/* Conv2D: configuration and shape inference. */
#include "layer.h"

static int conv2d_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    static const int one[2] = {1, 1}, req[2] = {CNN_REQUIRED, CNN_REQUIRED};
    static const char *const formats[] = {"channels_last", NULL};
    int fmt, groups, dil[2];
    if (cnn_cfg_int(cfg, "filters", CNN_REQUIRED, 1, &L->units, err) ||
        cnn_cfg_pair(cfg, "kernel_size", req, 1, L->kernel, err) ||
        cnn_cfg_pair(cfg, "strides", one, 1, L->stride, err) ||
        cnn_cfg_enum(cfg, "padding", cnn_padding_names, CNN_PAD_VALID, &L->padding, err) ||
        cnn_cfg_bool(cfg, "use_bias", 1, &L->use_bias, err) ||
        cnn_cfg_enum(cfg, "data_format", formats, 0, &fmt, err) ||
        cnn_cfg_pair(cfg, "dilation_rate", one, 1, dil, err) ||
        cnn_cfg_int(cfg, "groups", 1, 1, &groups, err))
        return -1;
    char path[256];
    if (dil[0] != 1 || dil[1] != 1)
        return cnn_errorf(err, "%s: dilated convolution is not supported (only 1)",
                          cnn_cfg_path(cfg, "dilation_rate", path, sizeof path));
    if (groups != 1)
        return cnn_errorf(err, "%s: grouped convolution is not supported (only 1)",
                          cnn_cfg_path(cfg, "groups", path, sizeof path));
    return 0;
}

static int conv2d_infer(cnn_layer *L, cnn_error *err)
{
    if (cnn_window_infer(L, L->units, err)) return -1;
    L->nparams = (size_t)L->kernel[0] * L->kernel[1] * L->in.c * L->units +
                 (L->use_bias ? (size_t)L->units : 0);
    L->ntrainable = L->nparams;
    return 0;
}

static int conv2d_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    size_t nk = (size_t)L->kernel[0] * L->kernel[1] * L->in.c * L->units;
    t[0] = (cnn_tensor_info){"kernel", 4, {L->units, L->in.c, L->kernel[0], L->kernel[1]}, 0,
                             nk, 1};
    if (!L->use_bias) return 1;
    t[1] = (cnn_tensor_info){"bias", 1, {L->units}, nk, (size_t)L->units, 1};
    return 2;
}

static double conv2d_macs(const cnn_layer *L)
{
    return (double)L->out.h * L->out.w * L->units * L->kernel[0] * L->kernel[1] * L->in.c;
}

const cnn_layer_ops cnn_conv2d_ops = {
    .type = "Conv2D",
    .auto_name = "conv2d",
    .has_activation = 1,
    .configure = conv2d_configure,
    .infer = conv2d_infer,
    .tensors = conv2d_tensors,
    .macs = conv2d_macs,
};
