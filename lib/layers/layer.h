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
#include "layer_desc.h"

struct cnn_rng;

/* A kind's own configuration struct inside L->conf. */
#define CNN_LAYER_CONF(L, type) ((type *)(void *)(L)->conf)

/* ---- the field table ------------------------------------------------------- */

/* The types of a configuration field. */
enum cnn_field_type {
    CNN_FIELD_INT,   /* int: an integer >= min */
    CNN_FIELD_PAIR,  /* int[2]: an integer >= min or [height, width] */
    CNN_FIELD_FLOAT, /* float: a number in [min, max] */
    CNN_FIELD_BOOL,  /* int: true or false */
    CNN_FIELD_ENUM,  /* int: the index of one of names */
    CNN_FIELD_AXIS,  /* int: an integer or a one-element list of one */
};

/* Where a field lives: a cnn_layer member, or a member of the kind's own
 * struct in cnn_layer.conf. */
#define CNN_AT(member) ((int)offsetof(cnn_layer, member))
#define CNN_AT_CONF(type, member) ((int)(offsetof(cnn_layer, conf) + offsetof(type, member)))
/* A field Keras writes that we read and check but do not keep: it is never
 * written back or compared. */
#define CNN_NOWHERE (-1)

/* One configuration field of a layer kind, declared once: the loader reads it,
 * cnn_model_to_json writes it, cnn_model_same compares it. */
typedef struct cnn_field {
    const char *key;          /* the Keras key: "kernel_size" */
    int type;                 /* enum cnn_field_type */
    int at;                   /* CNN_AT(...), CNN_AT_CONF(...) or CNN_NOWHERE */
    double def;               /* default when absent or null; CNN_REQUIRED: must be given */
    double min, max;          /* accepted range (INT, PAIR: min only; FLOAT: both) */
    const char *const *names; /* ENUM: the accepted names, NULL-terminated */
    const char *def_from;     /* PAIR: when absent, the value of this earlier field */
    int input_only;           /* read but not kept (at may still hold it for a check):
                               * never written back or compared */
    const char *only;         /* a value other than the default is refused with this
                               * message ("dilated convolution is not supported (only 1)") */
} cnn_field;

/* The initialization role of a parameter tensor (cnn_layer_init_default). */
enum cnn_tensor_role {
    CNN_ROLE_KERNEL,          /* Glorot-uniform or He-normal */
    CNN_ROLE_BIAS,            /* zeros */
    CNN_ROLE_GAMMA,           /* ones */
    CNN_ROLE_BETA,            /* zeros */
    CNN_ROLE_MOVING_MEAN,     /* zeros */
    CNN_ROLE_MOVING_VARIANCE, /* ones */
};

/* One parameter tensor of a layer, in PyTorch's layout
 * (conv kernel (out_ch, in_ch, kh, kw), dense kernel (units, inputs)). */
typedef struct cnn_tensor_info {
    const char *suffix; /* its name after "layer.": "kernel", "bias", "gamma", ... */
    int rank;
    int dims[4];
    size_t offset; /* floats from the start of the layer's parameters */
    size_t count;
    int trainable;
    int role;      /* enum cnn_tensor_role: how it is initialized */
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
    const struct cnn_comm *comm; /* data-parallel: the other ranks hold the rest of
                                  * the batch (batch statistics are summed over
                                  * them); NULL for one process */
    int first;            /* global index of this slice's first image in the batch */
    float stat_weight;    /* 0: moving statistics follow the layer's momentum; else a
                           * statistics pass (cnn_net_stats_forward) gives this batch
                           * this weight in them */
} cnn_layer_ctx;

struct cnn_layer_ops {
    const char *type;      /* Keras class name: "Conv2D" */
    const char *auto_name; /* Keras' automatic name stem: "conv2d" */
    int fuses_relu;        /* forward applies a relu itself when ctx->post is set
                            * (while its output is still in cache) */
    const char *window_key; /* windowed kinds: the key of the window size
                             * ("kernel_size", "pool_size"), for messages */

    /* The kind's configuration fields, ending with {NULL}: read, written and
     * compared in this order (name and type are the loader's). */
    const cnn_field *fields;

    /* 1 when a training forward of L draws from ctx->rng (NULL: never). */
    int (*needs_rng)(const cnn_layer *L);

    /* 1 when L's forward (backward 0) or backward (backward 1) may call
     * cnn_sgemm (NULL: never).  The net loads OpenBLAS only around passes
     * that need it (lib/blas.h): a prediction with kernels of libcnn's own
     * never pays its loading. */
    int (*uses_blas)(const cnn_layer *L, int backward);

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

/* The rank of the layer's kernel tensor: 4 for a convolution (out, in, kh, kw),
 * 2 for a fully connected layer (units, inputs), 0 without one. */
int cnn_layer_kernel_rank(const cnn_layer *L);

/* 1 when the layer passes its input through unchanged in NCHW memory (Flatten,
 * a linear Activation). */
int cnn_layer_is_passthrough(const cnn_layer *L);

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

/* ---- the field tables ------------------------------------------------------ */

/* Sentinel default: the field is required. */
#define CNN_REQUIRED INT32_MIN

/* The field of kind ops with this key, or NULL. */
const cnn_field *cnn_layer_field(const cnn_layer_ops *ops, const char *key);
/* 1 when the kind has an "activation" field. */
int cnn_layer_has_activation(const cnn_layer_ops *ops);
/* The value of an INT, BOOL, ENUM or AXIS field of L (PAIR: the first of the two). */
int cnn_field_int(const cnn_field *f, const cnn_layer *L);
/* 1 when two layers of one kind have the same value in field f. */
int cnn_field_equal(const cnn_field *f, const cnn_layer *a, const cnn_layer *b);

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

/* Keras' default initialization from the layer's tensor list, by role: kernels
 * Glorot-uniform (init CNN_INIT_GLOROT_UNIFORM) or He-normal (truncated at two
 * standard deviations, as Keras; init CNN_INIT_HE_NORMAL), with fan_in = in_ch*kh*kw
 * (conv) or inputs (dense) and fan_out = out_ch*kh*kw or units; bias, beta and
 * moving mean zeros; gamma and moving variance ones.  Draws from rng in
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
