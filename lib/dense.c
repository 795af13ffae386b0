/* Dense: a fully connected layer over a flat input; kernel (units, inputs). */
#include "layer.h"

static int dense_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    return cnn_cfg_int(cfg, "units", CNN_REQUIRED, 1, &L->units, err) ||
                   cnn_cfg_bool(cfg, "use_bias", 1, &L->use_bias, err)
               ? -1
               : 0;
}

static int dense_infer(cnn_layer *L, cnn_error *err)
{
    if (!L->in.flat)
        return cnn_errorf(err,
                          "Dense needs a flat input but gets (None, %d, %d, %d): add Flatten "
                          "(or a global pooling layer) before it",
                          L->in.h, L->in.w, L->in.c);
    L->out = (cnn_shape){.c = L->units, .h = 1, .w = 1, .flat = 1};
    L->nparams = (size_t)L->in.c * L->units + (L->use_bias ? (size_t)L->units : 0);
    L->ntrainable = L->nparams;
    return 0;
}

static int dense_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    size_t nk = (size_t)L->in.c * L->units;
    t[0] = (cnn_tensor_info){"kernel", 2, {L->units, L->in.c}, 0, nk, 1};
    if (!L->use_bias) return 1;
    t[1] = (cnn_tensor_info){"bias", 1, {L->units}, nk, (size_t)L->units, 1};
    return 2;
}

static double dense_macs(const cnn_layer *L)
{
    return (double)L->in.c * L->units;
}

const cnn_layer_ops cnn_dense_ops = {
    .type = "Dense",
    .auto_name = "dense",
    .has_activation = 1,
    .configure = dense_configure,
    .infer = dense_infer,
    .tensors = dense_tensors,
    .macs = dense_macs,
};
