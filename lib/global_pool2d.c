/* GlobalMaxPooling2D and GlobalAveragePooling2D: one value per channel. */
#include "layer.h"

static int gpool_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    static const char *const formats[] = {"channels_last", NULL};
    int fmt, keepdims;
    (void)L;
    if (cnn_cfg_enum(cfg, "data_format", formats, 0, &fmt, err) ||
        cnn_cfg_bool(cfg, "keepdims", 0, &keepdims, err))
        return -1;
    char path[256];
    if (keepdims)
        return cnn_errorf(err, "%s: keepdims=true is not supported",
                          cnn_cfg_path(cfg, "keepdims", path, sizeof path));
    return 0;
}

static int gpool_infer(cnn_layer *L, cnn_error *err)
{
    if (L->in.flat)
        return cnn_errorf(err, "%s needs a spatial input (height, width, channels), got (None, %d)",
                          L->ops->type, L->in.c);
    L->out = (cnn_shape){.c = L->in.c, .h = 1, .w = 1, .flat = 1};
    return 0;
}

static int gpool_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    (void)L;
    (void)t;
    return 0;
}

static double gpool_macs(const cnn_layer *L)
{
    (void)L;
    return 0;
}

const cnn_layer_ops cnn_global_maxpool2d_ops = {
    .type = "GlobalMaxPooling2D",
    .auto_name = "global_max_pooling2d",
    .configure = gpool_configure,
    .infer = gpool_infer,
    .tensors = gpool_tensors,
    .macs = gpool_macs,
};

const cnn_layer_ops cnn_global_avgpool2d_ops = {
    .type = "GlobalAveragePooling2D",
    .auto_name = "global_average_pooling2d",
    .configure = gpool_configure,
    .infer = gpool_infer,
    .tensors = gpool_tensors,
    .macs = gpool_macs,
};
