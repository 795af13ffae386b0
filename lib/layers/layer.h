/* Layer kinds: the description of one layer, and the operations table each
 * kind exports.
 *
 * Every layer kind lives in its own file (lib/conv2d.c, lib/dense.c, ...) and
 * exports one `const cnn_layer_ops`; lib/registry.c lists them.  Adding a kind
 * touches its own file and one registry line.
 *
 * Shapes are NCHW inside the library: a spatial tensor is (C, H, W) per image,
 * a flat one is (C) with H = W = 1.  Keras' channels-last notation appears only
 * where users read it (summary output, Keras JSON import). */
#ifndef CNN_LAYER_H
#define CNN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CNN_NAME_MAX 128

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
extern const char *const cnn_activation_names[]; /* indexed by cnn_activation, NULL-ended */

enum cnn_padding { CNN_PAD_VALID, CNN_PAD_SAME };
extern const char *const cnn_padding_names[]; /* "valid", "same", NULL */

typedef struct cnn_layer_ops cnn_layer_ops;
typedef struct cnn_cfg cnn_cfg;
struct cnn_rng;

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

    /* inferred when the model loads */
    cnn_shape in, out;
    int pad_top, pad_left;     /* "same" padding before the first row / column */
    int pad_bottom, pad_right; /* Keras puts the odd extra row / column here */
    size_t nparams;            /* all parameter floats, trainable or not */
    size_t ntrainable;
    size_t param_offset;       /* into the model's parameter vector */
} cnn_layer;

/* One parameter tensor of a layer, in PyTorch's layout
 * (conv kernel (out_ch, in_ch, kh, kw), dense kernel (units, inputs)). */
typedef struct cnn_tensor_info {
    const char *suffix; /* "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance" */
    int rank;
    int dims[4];
    size_t offset; /* floats from the start of the layer's parameters */
    size_t count;
    int trainable;
} cnn_tensor_info;

#define CNN_MAX_LAYER_TENSORS 4

/* What forward and backward get besides their buffers. */
typedef struct cnn_layer_ctx {
    int n;                /* images in the batch */
    int training;         /* 1: batch statistics, active dropout */
    struct cnn_rng *rng;  /* dropout's mask source in training (may be NULL otherwise) */
    float *scratch;       /* shared scratch, scratch_size floats, not kept */
    float *state;         /* the layer's own state, state_size floats, kept */
    float *post;          /* forward of a kind with fuses_relu, when the layer's
                           * activation is relu: also write relu(out) here
                           * (n, L->out); NULL otherwise */
} cnn_layer_ctx;

struct cnn_layer_ops {
    const char *type;      /* Keras class name: "Conv2D" */
    const char *auto_name; /* Keras' automatic name stem: "conv2d" */
    int has_activation;    /* accepts an "activation" field */
    int fuses_relu;        /* forward applies a relu itself when ctx->post is set
                            * (while its output is still in cache) */

    /* Reads the kind's fields from its JSON object into L (name, type and
     * activation are read by the loader).  Errors name the field path. */
    int (*configure)(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err);

    /* Given L->in, sets L->out, padding and L->nparams / L->ntrainable.  Fails
     * (message without file prefix) when the layer cannot take that shape. */
    int (*infer)(cnn_layer *L, cnn_error *err);

    /* Lists the layer's parameter tensors in storage order; returns how many
     * (at most CNN_MAX_LAYER_TENSORS).  NULL for a kind without parameters;
     * call it through cnn_layer_tensors. */
    int (*tensors)(const cnn_layer *L, cnn_tensor_info *out);

    /* Multiply-accumulates per image for the forward pass (for --flops); NULL
     * for none.  Call it through cnn_layer_macs. */
    double (*macs)(const cnn_layer *L);

    /* ---- the math half (lib/net.c calls these) ---- */

    /* Floats of the shared scratch buffer the layer needs during one forward or
     * backward call for batches of up to max_batch images (NULL: none).  The
     * scratch is shared by all layers and not kept between calls. */
    size_t (*scratch_size)(const cnn_layer *L, int max_batch);

    /* Floats of the layer's own state kept from forward to the following
     * backward (dropout mask, BN batch statistics, conv im2col columns)
     * for batches of up to max_batch images (NULL: none). */
    size_t (*state_size)(const cnn_layer *L, int max_batch);

    /* Initializes the layer's parameters (L->nparams floats at params).  NULL
     * means cnn_layer_init_default: Keras' defaults driven by the tensor list. */
    void (*init)(const cnn_layer *L, float *params, int init, struct cnn_rng *rng);

    /* out (n, L->out) = the layer's own op on in (n, L->in), before the
     * activation (the net applies it).  params is non-const because
     * BatchNormalization updates its moving averages in training.  Never
     * allocates. */
    void (*forward)(const cnn_layer *L, float *out, const float *in, float *params,
                    const cnn_layer_ctx *ctx);

    /* Given dout (n, L->out), the gradient with respect to the op's output
     * (the pre-activation), writes the input gradient into din (n, L->in),
     * overwriting, unless din is NULL (then it is not computed), and ADDS the
     * parameter gradients into dparams (L->nparams floats, zero for the
     * non-trainable ones).  in and out are those of the last forward, which
     * had the same n and ctx->training. */
    void (*backward)(const cnn_layer *L, float *din, float *dparams, const float *dout,
                     const float *in, const float *out, const float *params,
                     const cnn_layer_ctx *ctx);
};

/* The layer's parameter tensors (0 for a kind without any). */
static inline int cnn_layer_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    return L->ops->tensors ? L->ops->tensors(L, t) : 0;
}

/* Multiply-accumulates per image of the layer's forward pass. */
static inline double cnn_layer_macs(const cnn_layer *L)
{
    return L->ops->macs ? L->ops->macs(L) : 0;
}

/* The forward and backward of a layer whose own op is the identity on NCHW data
 * (Activation, whose activation the net applies; Flatten, since NCHW is
 * already channel-major per image): copies. */
void cnn_identity_forward(const cnn_layer *L, float *out, const float *in, float *params,
                          const cnn_layer_ctx *ctx);
void cnn_identity_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                           const float *in, const float *out, const float *params,
                           const cnn_layer_ctx *ctx);

/* ---- the registry ---------------------------------------------------------- */

/* Finds a kind by its Keras class name; NULL when unknown. */
const cnn_layer_ops *cnn_layer_kind(const char *type);
/* Comma-separated list of the known kinds, for messages. */
const char *cnn_layer_kind_list(void);
/* NULL-terminated array of every kind (for tests that walk the registry). */
extern const cnn_layer_ops *const cnn_layer_kinds[];

/* ---- reading a layer's JSON object (implemented by the model loader) ------- */

/* Sentinel default: the field is required. */
#define CNN_REQUIRED INT32_MIN

/* Each getter treats an absent field or JSON null as "use the default"; a
 * required field that is absent, a wrong type or an out-of-range value is an
 * error naming the field's path (e.g. "layers[2].kernel_size").  min is the
 * smallest accepted value. */
int cnn_cfg_int(const cnn_cfg *c, const char *key, int def, int min, int *out, cnn_error *err);
/* An int or a [height, width] pair; def[0] == CNN_REQUIRED makes it required.
 * If def is NULL and the field is absent, out is left untouched. */
int cnn_cfg_pair(const cnn_cfg *c, const char *key, const int *def, int min, int out[2],
                 cnn_error *err);
int cnn_cfg_float(const cnn_cfg *c, const char *key, double def, double lo, double hi,
                  float *out, cnn_error *err);
int cnn_cfg_bool(const cnn_cfg *c, const char *key, int def, int *out, cnn_error *err);
/* One of the NULL-terminated names; out gets its index. */
int cnn_cfg_enum(const cnn_cfg *c, const char *key, const char *const *names, int def,
                 int *out, cnn_error *err);
/* 1 when the field is present and not null. */
int cnn_cfg_has(const cnn_cfg *c, const char *key);
/* Formats the path of a field for a message ("layers[2].pool_size"). */
const char *cnn_cfg_path(const cnn_cfg *c, const char *key, char *buf, size_t n);

/* ---- helpers shared by the layer kinds ------------------------------------- */

/* Keras' output size along one axis: valid = floor((in - k) / s) + 1,
 * same = ceil(in / s) with the padding split so the extra goes after.
 * Returns the size (< 1 when the window does not fit) and sets *pad_before,
 * *pad_after. */
int cnn_window_out(int in, int k, int s, int padding, int *pad_before, int *pad_after);

/* Shared infer step for windowed layers (Conv2D, pooling): checks the input is
 * spatial, computes out h/w and padding into L, fails naming the shapes. */
int cnn_window_infer(cnn_layer *L, int out_channels, cnn_error *err);

/* ---- math shared by the layer kinds (lib/layer.c) -------------------------- */

/* Keras' default initialization from the layer's tensor list: "kernel" tensors
 * Glorot-uniform (init CNN_INIT_GLOROT_UNIFORM) or He-normal (truncated at two
 * standard deviations, as Keras; init CNN_INIT_HE_NORMAL), with fan_in = in_ch*kh*kw
 * (conv) or inputs (dense) and fan_out = out_ch*kh*kw or units; "bias", "beta",
 * "moving_mean" zeros; "gamma", "moving_variance" ones.  Draws from rng in
 * storage order. */
void cnn_layer_init_default(const cnn_layer *L, float *params, int init, struct cnn_rng *rng);

/* Applies activation act to x in place: n images of c channels and hw positions
 * each ((n, c, hw) layout); softmax is over the channels at each position. */
void cnn_activation_forward(int act, float *x, int n, int c, int hw);
/* out[i] = max(in[i], 0) for i < n (a NaN becomes 0); out may equal in. */
void cnn_relu(float *out, const float *in, size_t n);
/* Same, out of place: out = act(in) (out may equal in). */
void cnn_activation_apply(int act, float *out, const float *in, int n, int c, int hw);

/* dpre = dpost through activation act, given its output y; dpre may equal
 * dpost (in place).  Softmax uses the Jacobian-vector product
 * y * (dpost - sum_c(dpost * y)). */
void cnn_activation_backward(int act, float *dpre, const float *dpost, const float *y, int n,
                             int c, int hw);

#endif
