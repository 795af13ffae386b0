/* Activation: applies its activation (a required field here) and nothing else. */
#include "layer.h"

static const cnn_field activation_fields[] = {
    {"activation", CNN_FIELD_ENUM, CNN_AT(activation), CNN_REQUIRED, 0, 0, cnn_activation_names,
     NULL, 0, NULL},
    {NULL},
};

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
    .fields = activation_fields,
    .infer = activation_infer,
    .forward = cnn_identity_forward,
    .backward = cnn_identity_backward,
};
