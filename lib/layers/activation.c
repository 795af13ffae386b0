/* Activation: applies its activation and nothing else (the loader reads the
 * required "activation" field). */
#include "layer.h"


static int activation_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    (void)L;
    if (!cnn_cfg_has(cfg, "activation")) {
        char path[256];
        return cnn_errorf(err, "%s: missing (Activation needs one of linear, relu, sigmoid, "
                               "tanh, softmax)",
                          cnn_cfg_path(cfg, "activation", path, sizeof path));
    }
    return 0;
}

static int activation_infer(cnn_layer *L, cnn_error *err)
{
    (void)err;
    L->out = L->in;
    return 0;
}

/* ---- math: the layer's own op is the identity; the net applies the activation */

const cnn_layer_ops cnn_activation_ops = {
    .type = "Activation",
    .auto_name = "activation",
    .has_activation = 1,
    .configure = activation_configure,
    .infer = activation_infer,
    .forward = cnn_identity_forward,
    .backward = cnn_identity_backward,
};
