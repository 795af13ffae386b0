/* MaxPooling2D and AveragePooling2D: configuration and shape inference.
 * With "same" padding, padded cells never win a max and are not counted in an
 * average (TensorFlow's behaviour, which Keras uses). */
#include "layer.h"

static int pool2d_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    static const int two[2] = {2, 2};
    static const char *const formats[] = {"channels_last", NULL};
    int fmt;
    if (cnn_cfg_pair(cfg, "pool_size", two, 1, L->kernel, err)) return -1;
    L->stride[0] = L->kernel[0];
    L->stride[1] = L->kernel[1];
    if (cnn_cfg_pair(cfg, "strides", NULL, 1, L->stride, err) ||
        cnn_cfg_enum(cfg, "padding", cnn_padding_names, CNN_PAD_VALID, &L->padding, err) ||
        cnn_cfg_enum(cfg, "data_format", formats, 0, &fmt, err))
        return -1;
    return 0;
}

static int pool2d_infer(cnn_layer *L, cnn_error *err)
{
    return cnn_window_infer(L, L->in.c, err);
}

static int pool2d_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    (void)L;
    (void)t;
    return 0;
}

static double pool2d_macs(const cnn_layer *L)
{
    (void)L;
    return 0;
}

const cnn_layer_ops cnn_maxpool2d_ops = {
    .type = "MaxPooling2D",
    .auto_name = "max_pooling2d",
    .configure = pool2d_configure,
    .infer = pool2d_infer,
    .tensors = pool2d_tensors,
    .macs = pool2d_macs,
};

const cnn_layer_ops cnn_avgpool2d_ops = {
    .type = "AveragePooling2D",
    .auto_name = "average_pooling2d",
    .configure = pool2d_configure,
    .infer = pool2d_infer,
    .tensors = pool2d_tensors,
    .macs = pool2d_macs,
};
