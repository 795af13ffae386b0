/* Dropout: inverted dropout, active only in training. */
#include "layer.h"

static int dropout_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    int seed;
    return cnn_cfg_float(cfg, "rate", CNN_REQUIRED, 0.0, 0.999999, &L->rate, err) ||
                   cnn_cfg_int(cfg, "seed", 0, INT32_MIN + 1, &seed, err)
               ? -1
               : 0;
}

static int dropout_infer(cnn_layer *L, cnn_error *err)
{
    (void)err;
    L->out = L->in;
    return 0;
}

static int dropout_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    (void)L;
    (void)t;
    return 0;
}

static double dropout_macs(const cnn_layer *L)
{
    (void)L;
    return 0;
}

const cnn_layer_ops cnn_dropout_ops = {
    .type = "Dropout",
    .auto_name = "dropout",
    .configure = dropout_configure,
    .infer = dropout_infer,
    .tensors = dropout_tensors,
    .macs = dropout_macs,
};
