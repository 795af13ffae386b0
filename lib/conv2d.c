/* Conv2D: configuration and shape inference; forward and backward as im2col
 * over the whole batch and one cblas_sgemm per pass. */
#include "layer.h"

#include <cblas.h>
#include <string.h>

#include "threads.h"

static int conv2d_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    static const int one[2] = {1, 1}, req[2] = {CNN_REQUIRED, CNN_REQUIRED};
    static const char *const formats[] = {"channels_last", NULL};
    int fmt, groups, dil[2];
    if (cnn_cfg_int(cfg, "filters", CNN_REQUIRED, 1, &L->units, err) ||
        cnn_cfg_pair(cfg, "kernel_size", req, 1, L->kernel, err) ||
        cnn_cfg_pair(cfg, "strides", one, 1, L->stride, err) ||
        cnn_cfg_enum(cfg, "padding", cnn_padding_names, CNN_PAD_VALID, &L->padding, err) ||
        cnn_cfg_bool(cfg, "use_bias", 1, &L->use_bias, err) ||
        cnn_cfg_enum(cfg, "data_format", formats, 0, &fmt, err) ||
        cnn_cfg_pair(cfg, "dilation_rate", one, 1, dil, err) ||
        cnn_cfg_int(cfg, "groups", 1, 1, &groups, err))
        return -1;
    char path[256];
    if (dil[0] != 1 || dil[1] != 1)
        return cnn_errorf(err, "%s: dilated convolution is not supported (only 1)",
                          cnn_cfg_path(cfg, "dilation_rate", path, sizeof path));
    if (groups != 1)
        return cnn_errorf(err, "%s: grouped convolution is not supported (only 1)",
                          cnn_cfg_path(cfg, "groups", path, sizeof path));
    return 0;
}

static int conv2d_infer(cnn_layer *L, cnn_error *err)
{
    if (cnn_window_infer(L, L->units, err)) return -1;
    L->nparams = (size_t)L->kernel[0] * L->kernel[1] * L->in.c * L->units +
                 (L->use_bias ? (size_t)L->units : 0);
    L->ntrainable = L->nparams;
    return 0;
}

static int conv2d_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    size_t nk = (size_t)L->kernel[0] * L->kernel[1] * L->in.c * L->units;
    t[0] = (cnn_tensor_info){"kernel", 4, {L->units, L->in.c, L->kernel[0], L->kernel[1]}, 0,
                             nk, 1};
    if (!L->use_bias) return 1;
    t[1] = (cnn_tensor_info){"bias", 1, {L->units}, nk, (size_t)L->units, 1};
    return 2;
}

static double conv2d_macs(const cnn_layer *L)
{
    return (double)L->out.h * L->out.w * L->units * L->kernel[0] * L->kernel[1] * L->in.c;
}

/* ---- math ------------------------------------------------------------------ */

/* Rows of the im2col matrix: one per (in_ch, ky, kx), in the kernel's order. */
static size_t conv_k(const cnn_layer *L)
{
    return (size_t)L->in.c * L->kernel[0] * L->kernel[1];
}

static size_t conv2d_state_size(const cnn_layer *L, int max_batch)
{
    /* the im2col columns of the last forward, reused by backward */
    return conv_k(L) * (size_t)max_batch * L->out.h * L->out.w;
}

static size_t conv2d_scratch_size(const cnn_layer *L, int max_batch)
{
    size_t p = (size_t)max_batch * L->out.h * L->out.w;
    return (size_t)L->units * p + conv_k(L) * p; /* (OC, P) output/gradient + (K, P) dcol */
}

/* The output columns [*lo, *hi) whose input column ox*SW + off lies in [0, W). */
static void inside_cols(int OW, int SW, int off, int W, int *lo, int *hi)
{
    int a = 0, b = OW;
    while (a < OW && a * SW + off < 0) a++;
    while (b > a && (b - 1) * SW + off >= W) b--;
    *lo = a;
    *hi = b;
}

typedef struct {
    const cnn_layer *L;
    float *dst;
    const float *src;
    int n;
} conv_job;

/* Rows [r0, r1) of col (K, n*OH*OW) from in (n, C, H, W): row (c, ky, kx),
 * column b*OH*OW + oy*OW + ox holds in[b, c, oy*SH - pad_top + ky, ox*SW -
 * pad_left + kx], zero where the window overhangs. */
static void im2col_rows(void *arg, size_t r0, size_t r1)
{
    const conv_job *j = arg;
    const cnn_layer *L = j->L;
    int C = L->in.c, H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OH = L->out.h, OW = L->out.w, SH = L->stride[0], SW = L->stride[1];
    size_t ohw = (size_t)OH * OW, P = (size_t)j->n * ohw;
    for (size_t r = r0; r < r1; r++) {
        int c = (int)(r / ((size_t)KH * KW)), ky = (int)(r / KW % KH), kx = (int)(r % KW);
        int off = kx - L->pad_left, lo, hi;
        inside_cols(OW, SW, off, W, &lo, &hi);
        for (int b = 0; b < j->n; b++) {
            const float *src = j->src + ((size_t)b * C + c) * H * W; /* (H, W) */
            float *dst = j->dst + r * P + (size_t)b * ohw;            /* (OH, OW) */
            for (int oy = 0; oy < OH; oy++) {
                int iy = oy * SH - L->pad_top + ky;
                float *d = dst + (size_t)oy * OW;
                if (iy < 0 || iy >= H) {
                    memset(d, 0, (size_t)OW * sizeof *d);
                    continue;
                }
                const float *s = src + (size_t)iy * W;
                for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                if (SW == 1)
                    memcpy(d + lo, s + lo + off, (size_t)(hi - lo) * sizeof *d);
                else
                    for (int ox = lo; ox < hi; ox++) d[ox] = s[ox * SW + off];
                for (int ox = hi; ox < OW; ox++) d[ox] = 0.0f;
            }
        }
    }
}

static void im2col(float *col, const float *in, const cnn_layer *L, int n)
{
    conv_job j = {L, col, in, n};
    cnn_parallel_for(conv_k(L), im2col_rows, &j);
}

/* The adjoint of im2col for images [b0, b1): din (n, C, H, W) = the columns'
 * entries summed back onto the pixels they came from (overwriting din). */
static void col2im_images(void *arg, size_t b0, size_t b1)
{
    const conv_job *j = arg;
    const cnn_layer *L = j->L;
    int C = L->in.c, H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OH = L->out.h, OW = L->out.w, SH = L->stride[0], SW = L->stride[1];
    size_t ohw = (size_t)OH * OW, P = (size_t)j->n * ohw, chw = (size_t)C * H * W;
    memset(j->dst + b0 * chw, 0, (b1 - b0) * chw * sizeof *j->dst);
    for (size_t r = 0; r < (size_t)C * KH * KW; r++) {
        int c = (int)(r / ((size_t)KH * KW)), ky = (int)(r / KW % KH), kx = (int)(r % KW);
        int off = kx - L->pad_left, lo, hi;
        inside_cols(OW, SW, off, W, &lo, &hi);
        for (size_t b = b0; b < b1; b++) {
            float *dst = j->dst + b * chw + (size_t)c * H * W; /* (H, W) */
            const float *src = j->src + r * P + b * ohw;      /* (OH, OW) */
            for (int oy = 0; oy < OH; oy++) {
                int iy = oy * SH - L->pad_top + ky;
                if (iy < 0 || iy >= H) continue;
                float *d = dst + (size_t)iy * W;
                const float *s = src + (size_t)oy * OW;
                for (int ox = lo; ox < hi; ox++) d[ox * SW + off] += s[ox];
            }
        }
    }
}

static void col2im(float *din, const float *col, const cnn_layer *L, int n)
{
    conv_job j = {L, din, col, n};
    cnn_parallel_for((size_t)n, col2im_images, &j);
}

typedef struct {
    const cnn_layer *L;
    float *dst;
    const float *src, *bias;
    int n;
} transpose_job;

/* Images [b0, b1): dst (n, OC, OHW) = src (OC, n, OHW) + bias. */
static void to_nchw_images(void *arg, size_t b0, size_t b1)
{
    const transpose_job *j = arg;
    int OC = j->L->units;
    size_t ohw = (size_t)j->L->out.h * j->L->out.w, P = (size_t)j->n * ohw;
    for (size_t b = b0; b < b1; b++)
        for (int oc = 0; oc < OC; oc++) {
            const float *s = j->src + (size_t)oc * P + b * ohw;
            float *d = j->dst + (b * OC + oc) * ohw;
            float bv = j->bias ? j->bias[oc] : 0.0f;
            for (size_t i = 0; i < ohw; i++) d[i] = s[i] + bv;
        }
}

/* Images [b0, b1): dst (OC, n, OHW) = src (n, OC, OHW). */
static void from_nchw_images(void *arg, size_t b0, size_t b1)
{
    const transpose_job *j = arg;
    int OC = j->L->units;
    size_t ohw = (size_t)j->L->out.h * j->L->out.w, P = (size_t)j->n * ohw;
    for (size_t b = b0; b < b1; b++)
        for (int oc = 0; oc < OC; oc++)
            memcpy(j->dst + (size_t)oc * P + b * ohw, j->src + (b * OC + oc) * ohw,
                   ohw * sizeof *j->dst);
}

static void conv2d_forward(const cnn_layer *L, float *out, const float *in, float *params,
                           const cnn_layer_ctx *ctx)
{
    int n = ctx->n, OC = L->units;
    size_t K = conv_k(L), ohw = (size_t)L->out.h * L->out.w, P = (size_t)n * ohw;
    const float *w = params;                                /* (OC, C, KH, KW) = (OC, K) */
    const float *bias = L->use_bias ? params + OC * K : NULL; /* (OC) */
    float *col = ctx->state;                                /* (K, P) */
    float *tmp = ctx->scratch;                              /* (OC, P) */
    im2col(col, in, L, n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)P, (int)K, 1.0f, w, (int)K,
                col, (int)P, 0.0f, tmp, (int)P);
    /* (OC, n, OHW) -> (n, OC, OHW), adding the bias on the way */
    transpose_job j = {L, out, tmp, bias, n};
    cnn_parallel_for((size_t)n, to_nchw_images, &j);
}

static void conv2d_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                            const float *in, const float *out, const float *params,
                            const cnn_layer_ctx *ctx)
{
    (void)in;
    (void)out;
    int n = ctx->n, OC = L->units;
    size_t K = conv_k(L), ohw = (size_t)L->out.h * L->out.w, P = (size_t)n * ohw;
    const float *w = params;          /* (OC, K) */
    float *dw = dparams;              /* (OC, K) */
    float *db = L->use_bias ? dparams + OC * K : NULL; /* (OC) */
    const float *col = ctx->state;    /* (K, P) from the forward */
    float *dt = ctx->scratch;         /* (OC, P) */
    float *dcol = ctx->scratch + (size_t)OC * P; /* (K, P) */
    transpose_job j = {L, dt, dout, NULL, n};
    cnn_parallel_for((size_t)n, from_nchw_images, &j);
    if (db)
        for (int oc = 0; oc < OC; oc++) {
            const float *r = dt + (size_t)oc * P;
            float s = 0.0f;
            for (size_t i = 0; i < P; i++) s += r[i];
            db[oc] += s;
        }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, (int)K, (int)P, 1.0f, dt, (int)P,
                col, (int)P, 1.0f, dw, (int)K);
    if (!din) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)P, OC, 1.0f, w, (int)K, dt,
                (int)P, 0.0f, dcol, (int)P);
    col2im(din, dcol, L, n);
}

const cnn_layer_ops cnn_conv2d_ops = {
    .type = "Conv2D",
    .auto_name = "conv2d",
    .has_activation = 1,
    .configure = conv2d_configure,
    .infer = conv2d_infer,
    .tensors = conv2d_tensors,
    .macs = conv2d_macs,
    .scratch_size = conv2d_scratch_size,
    .state_size = conv2d_state_size,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
};
