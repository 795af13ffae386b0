/* Layers as a program sees them: shapes, the enums of their configuration,
 * and one layer's description in a loaded model (cnn_model.layers).  How a
 * kind computes is internal (lib/layers/layer.h, the layer-extension API).
 *
 * Shapes are NCHW inside the library: a spatial tensor is (C, H, W) per image,
 * a flat one is (C) with H = W = 1.  Keras' channels-last notation appears only
 * where users read it (summary output, Keras JSON import). */
#ifndef CNN_LAYER_DESC_H
#define CNN_LAYER_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

CNN_BEGIN_DECLS

#define CNN_NAME_MAX 128

/* The largest output a layer may have: floats per image. */
#define CNN_MODEL_MAX_ACTIVATION ((size_t)1 << 28)

typedef struct cnn_shape {
    int c, h, w; /* per image; flat shapes have h = w = 1 */
    int flat;    /* 1: a vector (Keras prints (None, C)); 0: (None, H, W, C) */
} cnn_shape;

static inline size_t cnn_shape_size(cnn_shape s)
{
    return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

enum cnn_activation {
    CNN_ACT_LINEAR,
    CNN_ACT_RELU,
    CNN_ACT_SIGMOID,
    CNN_ACT_TANH,
    CNN_ACT_SOFTMAX,
};
extern CNN_API const char *const cnn_activation_names[]; /* indexed by cnn_activation, NULL-ended */

enum cnn_padding { CNN_PAD_VALID, CNN_PAD_SAME };
extern CNN_API const char *const cnn_padding_names[]; /* "valid", "same", NULL */

/* How parameters start (cnn_net_init): Keras' Glorot-uniform default, or
 * He-normal for ReLU networks. */
enum cnn_init { CNN_INIT_GLOROT_UNIFORM, CNN_INIT_HE_NORMAL };

typedef struct cnn_layer_ops cnn_layer_ops; /* internal (lib/layers/layer.h) */

/* Bytes of a kind's own configuration block (cnn_layer.conf). */
#define CNN_LAYER_CONF_MAX 32

/* One layer of a model.  Configuration fields a kind does not use stay 0. */
typedef struct cnn_layer {
    const cnn_layer_ops *ops;
    char name[CNN_NAME_MAX];
    int index; /* position in the model's layer list */

    /* configuration, with Keras' meaning */
    int units;      /* Conv2D filters, Dense units */
    int kernel[2];  /* Conv2D kernel_size / pooling pool_size: (height, width) */
    int stride[2];  /* (height, width) */
    int padding;    /* enum cnn_padding */
    int use_bias;
    int activation; /* enum cnn_activation, applied after the layer's own op */
    float rate;     /* Dropout */
    float momentum; /* BatchNormalization */
    float epsilon;  /* BatchNormalization */
    int axis;       /* BatchNormalization: the Keras axis read (checked against the shape) */
    /* A kind's own configuration beyond the common fields above, as the kind's
     * own struct (CNN_LAYER_CONF(L, struct x)); its field table points into it. */
    _Alignas(double) unsigned char conf[CNN_LAYER_CONF_MAX];

    /* inferred when the model loads */
    cnn_shape in, out;
    int pad_top, pad_left;     /* "same" padding before the first row / column */
    int pad_bottom, pad_right; /* Keras puts the odd extra row / column here */
    size_t nparams;            /* all parameter floats, trainable or not */
    size_t ntrainable;
    size_t param_offset;       /* into the model's parameter vector */
} cnn_layer;

/* The Keras class name of L's kind ("Conv2D", "Dense", ...). */
CNN_API const char *cnn_layer_type(const cnn_layer *L);

CNN_END_DECLS

#endif
