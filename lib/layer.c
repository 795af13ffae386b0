/* The layer registry, and arithmetic shared by the windowed layer kinds. */
#include "layer.h"

#include <stdio.h>
#include <string.h>

extern const cnn_layer_ops cnn_conv2d_ops, cnn_maxpool2d_ops, cnn_avgpool2d_ops,
    cnn_global_maxpool2d_ops, cnn_global_avgpool2d_ops, cnn_flatten_ops, cnn_dense_ops,
    cnn_dropout_ops, cnn_activation_ops, cnn_batchnorm_ops;

/* The registry: one line per layer kind. */
const cnn_layer_ops *const cnn_layer_kinds[] = {
    &cnn_conv2d_ops,
    &cnn_maxpool2d_ops,
    &cnn_avgpool2d_ops,
    &cnn_global_maxpool2d_ops,
    &cnn_global_avgpool2d_ops,
    &cnn_flatten_ops,
    &cnn_dense_ops,
    &cnn_dropout_ops,
    &cnn_activation_ops,
    &cnn_batchnorm_ops,
    NULL,
};

const char *const cnn_activation_names[] = {"linear", "relu", "sigmoid", "tanh", "softmax", NULL};
const char *const cnn_padding_names[] = {"valid", "same", NULL};

const cnn_layer_ops *cnn_layer_kind(const char *type)
{
    for (int i = 0; cnn_layer_kinds[i]; i++)
        if (strcmp(cnn_layer_kinds[i]->type, type) == 0) return cnn_layer_kinds[i];
    return NULL;
}

const char *cnn_layer_kind_list(void)
{
    static char list[512];
    if (!list[0]) {
        size_t n = 0;
        for (int i = 0; cnn_layer_kinds[i]; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                                  cnn_layer_kinds[i]->type);
    }
    return list;
}

int cnn_window_out(int in, int k, int s, int padding, int *pad_before, int *pad_after)
{
    if (padding == CNN_PAD_SAME) {
        int out = (in + s - 1) / s;
        int total = (out - 1) * s + k - in;
        if (total < 0) total = 0;
        *pad_before = total / 2;
        *pad_after = total - *pad_before;
        return out;
    }
    *pad_before = *pad_after = 0;
    if (in < k) return 0;
    return (in - k) / s + 1;
}

int cnn_window_infer(cnn_layer *L, int out_channels, cnn_error *err)
{
    const char *what = L->ops == cnn_layer_kind("Conv2D") ? "kernel_size" : "pool_size";
    if (L->in.flat)
        return cnn_errorf(err, "%s needs a spatial input (height, width, channels), got (None, %d)",
                          L->ops->type, L->in.c);
    int oh = cnn_window_out(L->in.h, L->kernel[0], L->stride[0], L->padding, &L->pad_top,
                            &L->pad_bottom);
    int ow = cnn_window_out(L->in.w, L->kernel[1], L->stride[1], L->padding, &L->pad_left,
                            &L->pad_right);
    if (oh < 1 || ow < 1)
        return cnn_errorf(err,
                          "%s %dx%d is larger than the input (None, %d, %d, %d) with \"valid\" "
                          "padding",
                          what, L->kernel[0], L->kernel[1], L->in.h, L->in.w, L->in.c);
    L->out = (cnn_shape){.c = out_channels, .h = oh, .w = ow, .flat = 0};
    return 0;
}
