/* The layer registry, arithmetic shared by the windowed layer kinds, default
 * initialization and the activations the net applies after each layer. */
#include "layer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "avx512.h"
#include "rng.h"
#include "threads.h"

/* The registry: one line per layer kind, in the order messages list them. */
#define CNN_LAYER_KINDS(X)       \
    X(cnn_conv2d_ops)            \
    X(cnn_maxpool2d_ops)         \
    X(cnn_avgpool2d_ops)         \
    X(cnn_global_maxpool2d_ops)  \
    X(cnn_global_avgpool2d_ops)  \
    X(cnn_flatten_ops)           \
    X(cnn_dense_ops)             \
    X(cnn_dropout_ops)           \
    X(cnn_activation_ops)        \
    X(cnn_batchnorm_ops)         \
    X(cnn_upsampling2d_ops)

#define DECLARE_KIND(ops) extern const cnn_layer_ops ops;
#define LIST_KIND(ops) &ops,
CNN_LAYER_KINDS(DECLARE_KIND)
const cnn_layer_ops *const cnn_layer_kinds[] = {CNN_LAYER_KINDS(LIST_KIND) NULL};

const char *const cnn_activation_names[] = {"linear", "relu", "sigmoid", "tanh", "softmax", NULL};
const char *const cnn_padding_names[] = {"valid", "same", NULL};

const char *cnn_layer_type(const cnn_layer *L)
{
    return L->ops->type;
}

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

/* ======================================================================== */
/* Field tables                                                             */
/* ======================================================================== */

const cnn_field *cnn_layer_field(const cnn_layer_ops *ops, const char *key)
{
    for (const cnn_field *f = ops->fields; f && f->key; f++)
        if (strcmp(f->key, key) == 0) return f;
    return NULL;
}

int cnn_layer_has_activation(const cnn_layer_ops *ops)
{
    return cnn_layer_field(ops, "activation") != NULL;
}

static const void *field_ptr(const cnn_field *f, const cnn_layer *L)
{
    return (const unsigned char *)L + f->at;
}

int cnn_field_int(const cnn_field *f, const cnn_layer *L)
{
    int v;
    memcpy(&v, field_ptr(f, L), sizeof v);
    return v;
}

int cnn_field_equal(const cnn_field *f, const cnn_layer *a, const cnn_layer *b)
{
    if (f->at == CNN_NOWHERE || f->input_only) return 1;
    if (f->type == CNN_FIELD_FLOAT) {
        float x, y;
        memcpy(&x, field_ptr(f, a), sizeof x);
        memcpy(&y, field_ptr(f, b), sizeof y);
        return x == y;
    }
    size_t size = (f->type == CNN_FIELD_PAIR ? 2 : 1) * sizeof(int);
    return memcmp(field_ptr(f, a), field_ptr(f, b), size) == 0;
}

int cnn_layer_kernel_rank(const cnn_layer *L)
{
    cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
    int nt = cnn_layer_tensors(L, t);
    for (int k = 0; k < nt; k++)
        if (t[k].role == CNN_ROLE_KERNEL) return t[k].rank;
    return 0;
}

int cnn_layer_is_passthrough(const cnn_layer *L)
{
    return L->ops->forward == cnn_identity_forward && L->activation == CNN_ACT_LINEAR;
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
    const char *what = L->ops->window_key ? L->ops->window_key : "window";
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

/* ======================================================================== */
/* Initialization                                                           */
/* ======================================================================== */

/* Keras' truncated normal: redraws values beyond two standard deviations. */
static float truncated_normal(cnn_rng *rng)
{
    float z;
    do z = cnn_rng_normal(rng);
    while (z < -2.0f || z > 2.0f);
    return z;
}

void cnn_layer_init_default(const cnn_layer *L, float *params, int init, cnn_rng *rng)
{
    cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
    int nt = cnn_layer_tensors(L, t);
    for (int k = 0; k < nt; k++) {
        float *p = params + t[k].offset;
        if (t[k].role == CNN_ROLE_KERNEL) {
            /* (out, in, kh, kw) or (units, inputs): the receptive field is the tail. */
            double rf = 1;
            for (int d = 2; d < t[k].rank; d++) rf *= t[k].dims[d];
            double fan_out = t[k].dims[0] * rf, fan_in = t[k].dims[1] * rf;
            if (init == CNN_INIT_HE_NORMAL) {
                /* 0.8796 is the standard deviation of a unit normal truncated at +-2. */
                float sd = (float)(sqrt(2.0 / fan_in) / 0.87962566103423978);
                for (size_t i = 0; i < t[k].count; i++) p[i] = sd * truncated_normal(rng);
            } else {
                float limit = (float)sqrt(6.0 / (fan_in + fan_out));
                for (size_t i = 0; i < t[k].count; i++)
                    p[i] = limit * (2.0f * cnn_rng_uniform(rng) - 1.0f);
            }
        } else {
            int one = t[k].role == CNN_ROLE_GAMMA || t[k].role == CNN_ROLE_MOVING_VARIANCE;
            float v = one ? 1.0f : 0.0f;
            for (size_t i = 0; i < t[k].count; i++) p[i] = v;
        }
    }
}

/* ======================================================================== */
/* Activations                                                              */
/* ======================================================================== */

/* Four floats at a time (GCC/Clang vector extensions, plain SSE2 on x86-64):
 * -O2 does not vectorize the select by itself.  NaN > 0 is false, so a NaN
 * becomes 0 exactly as in the scalar form. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

#if CNN_AVX512
/* With AVX-512 (avx512.h): 16 at a time, the comparison as a mask (false on
 * NaN, as >), the rest zeroed (+0): the same bits as the four-wide code. */
CNN_TARGET_AVX512 static void relu_512(float *out, const float *in, size_t total)
{
    size_t i = 0;
    for (; i + 16 <= total; i += 16) {
        __m512 x = _mm512_loadu_ps(in + i);
        __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
        _mm512_storeu_ps(out + i, _mm512_maskz_mov_ps(keep, x));
    }
    for (; i < total; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}
#endif

void cnn_relu(float *out, const float *in, size_t total)
{
#if CNN_AVX512
    if (cnn_avx512()) {
        relu_512(out, in, total);
        return;
    }
#endif
    size_t i = 0;
    for (; i + 4 <= total; i += 4) {
        v4f x;
        memcpy(&x, in + i, sizeof x);
        v4i keep = x > (v4f){0, 0, 0, 0};
        x = (v4f)((v4i)x & keep);
        memcpy(out + i, &x, sizeof x);
    }
    for (; i < total; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

/* dpre = y > 0 ? dpost : 0, four at a time. */
static void relu_back(float *dpre, const float *dpost, const float *y, size_t total)
{
    size_t i = 0;
    for (; i + 4 <= total; i += 4) {
        v4f g, v;
        memcpy(&g, dpost + i, sizeof g);
        memcpy(&v, y + i, sizeof v);
        v4i keep = v > (v4f){0, 0, 0, 0};
        g = (v4f)((v4i)g & keep);
        memcpy(dpre + i, &g, sizeof g);
    }
    for (; i < total; i++) dpre[i] = y[i] > 0.0f ? dpost[i] : 0.0f;
}

typedef struct {
    float *out;
    const float *in, *y;
} relu_job;

/* Elements [lo, hi) in blocks of 4096 (so each thread's share stays aligned to 4). */
static void relu_blocks(void *arg, size_t lo, size_t hi)
{
    const relu_job *j = arg;
    cnn_relu(j->out + lo * 4096, j->in + lo * 4096, (hi - lo) * 4096);
}

static void relu_back_blocks(void *arg, size_t lo, size_t hi)
{
    const relu_job *j = arg;
    relu_back(j->out + lo * 4096, j->in + lo * 4096, j->y + lo * 4096, (hi - lo) * 4096);
}

void cnn_activation_apply(int act, float *out, const float *in, int n, int c, int hw)
{
    size_t total = (size_t)n * c * hw;
    if (act == CNN_ACT_RELU) {
        relu_job j = {out, in, NULL};
        size_t blocks = total / 4096;
        cnn_parallel_for(blocks, cnn_grain(4096), relu_blocks, &j);
        cnn_relu(out + blocks * 4096, in + blocks * 4096, total - blocks * 4096);
        return;
    }
    if (out != in) memcpy(out, in, total * sizeof *out);
    cnn_activation_forward(act, out, n, c, hw);
}

void cnn_activation_forward(int act, float *x, int n, int c, int hw)
{
    size_t total = (size_t)n * c * hw;
    switch (act) {
    case CNN_ACT_LINEAR:
        break;
    case CNN_ACT_RELU:
        cnn_relu(x, x, total);
        break;
    case CNN_ACT_SIGMOID:
        /* Written so that exp never overflows for large |x|. */
        for (size_t i = 0; i < total; i++) {
            if (x[i] >= 0.0f) {
                x[i] = 1.0f / (1.0f + expf(-x[i]));
            } else {
                float e = expf(x[i]);
                x[i] = e / (1.0f + e);
            }
        }
        break;
    case CNN_ACT_TANH:
        for (size_t i = 0; i < total; i++) x[i] = tanhf(x[i]);
        break;
    case CNN_ACT_SOFTMAX:
        /* Over the channels at each position; the max is subtracted first. */
        for (int b = 0; b < n; b++) {
            float *xb = x + (size_t)b * c * hw; /* (c, hw) */
            for (int p = 0; p < hw; p++) {
                float m = xb[p];
                for (int k = 1; k < c; k++) m = fmaxf(m, xb[(size_t)k * hw + p]);
                float s = 0.0f;
                for (int k = 0; k < c; k++) {
                    float e = expf(xb[(size_t)k * hw + p] - m);
                    xb[(size_t)k * hw + p] = e;
                    s += e;
                }
                float inv = 1.0f / s;
                for (int k = 0; k < c; k++) xb[(size_t)k * hw + p] *= inv;
            }
        }
        break;
    }
}

void cnn_activation_backward(int act, float *dpre, const float *dpost, const float *y, int n,
                             int c, int hw)
{
    size_t total = (size_t)n * c * hw;
    switch (act) {
    case CNN_ACT_LINEAR:
        if (dpre != dpost) memcpy(dpre, dpost, total * sizeof *dpre);
        break;
    case CNN_ACT_RELU: {
        relu_job j = {dpre, dpost, y};
        size_t blocks = total / 4096;
        cnn_parallel_for(blocks, cnn_grain(4096), relu_back_blocks, &j);
        relu_back(dpre + blocks * 4096, dpost + blocks * 4096, y + blocks * 4096,
                  total - blocks * 4096);
        break;
    }
    case CNN_ACT_SIGMOID:
        for (size_t i = 0; i < total; i++) dpre[i] = dpost[i] * y[i] * (1.0f - y[i]);
        break;
    case CNN_ACT_TANH:
        for (size_t i = 0; i < total; i++) dpre[i] = dpost[i] * (1.0f - y[i] * y[i]);
        break;
    case CNN_ACT_SOFTMAX:
        for (int b = 0; b < n; b++) {
            size_t base = (size_t)b * c * hw;
            for (int p = 0; p < hw; p++) {
                float dot = 0.0f;
                for (int k = 0; k < c; k++)
                    dot += dpost[base + (size_t)k * hw + p] * y[base + (size_t)k * hw + p];
                for (int k = 0; k < c; k++) {
                    size_t i = base + (size_t)k * hw + p;
                    dpre[i] = y[i] * (dpost[i] - dot);
                }
            }
        }
        break;
    }
}

void cnn_identity_forward(const cnn_layer *L, float *out, const float *in, float *params,
                          const cnn_layer_ctx *ctx)
{
    (void)params;
    memcpy(out, in, (size_t)ctx->n * cnn_shape_size(L->in) * sizeof *out);
}

void cnn_identity_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                           const float *in, const float *out, const float *params,
                           const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)in;
    (void)out;
    (void)params;
    if (din) memcpy(din, dout, (size_t)ctx->n * cnn_shape_size(L->in) * sizeof *din);
}
