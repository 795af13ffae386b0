/* Conv2D: configuration and shape inference; forward and backward as im2col
 * over the whole batch and one cblas_sgemm per pass. */
#include "layer.h"

#include <cblas.h>
#include <string.h>

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

/* col (K, n*OH*OW) from in (n, C, H, W): column b*OH*OW + oy*OW + ox holds the
 * window under output pixel (oy, ox) of image b, zero where it overhangs. */
static void im2col(float *col, const float *in, const cnn_layer *L, int n)
{
    int C = L->in.c, H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OH = L->out.h, OW = L->out.w, SH = L->stride[0], SW = L->stride[1];
    size_t ohw = (size_t)OH * OW, P = (size_t)n * ohw;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < KH; ky++)
            for (int kx = 0; kx < KW; kx++) {
                float *row = col + ((size_t)(c * KH + ky) * KW + kx) * P;
                for (int b = 0; b < n; b++) {
                    const float *src = in + ((size_t)b * C + c) * H * W; /* (H, W) */
                    float *dst = row + (size_t)b * ohw;
                    for (int oy = 0; oy < OH; oy++) {
                        int iy = oy * SH - L->pad_top + ky;
                        float *d = dst + (size_t)oy * OW;
                        if (iy < 0 || iy >= H) {
                            memset(d, 0, (size_t)OW * sizeof *d);
                            continue;
                        }
                        const float *s = src + (size_t)iy * W;
                        /* columns ox in [lo, hi) read inside the row */
                        int off = kx - L->pad_left, lo = 0, hi = OW;
                        while (lo < OW && lo * SW + off < 0) lo++;
                        while (hi > lo && (hi - 1) * SW + off >= W) hi--;
                        for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                        if (SW == 1) {
                            memcpy(d + lo, s + lo + off, (size_t)(hi - lo) * sizeof *d);
                        } else {
                            for (int ox = lo; ox < hi; ox++) d[ox] = s[ox * SW + off];
                        }
                        for (int ox = hi; ox < OW; ox++) d[ox] = 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: din (n, C, H, W) = sum of the columns' entries back
 * onto the pixels they came from (din is overwritten). */
static void col2im(float *din, const float *col, const cnn_layer *L, int n)
{
    int C = L->in.c, H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OH = L->out.h, OW = L->out.w, SH = L->stride[0], SW = L->stride[1];
    size_t ohw = (size_t)OH * OW, P = (size_t)n * ohw;
    memset(din, 0, (size_t)n * C * H * W * sizeof *din);
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < KH; ky++)
            for (int kx = 0; kx < KW; kx++) {
                const float *row = col + ((size_t)(c * KH + ky) * KW + kx) * P;
                for (int b = 0; b < n; b++) {
                    float *dst = din + ((size_t)b * C + c) * H * W;
                    const float *src = row + (size_t)b * ohw;
                    for (int oy = 0; oy < OH; oy++) {
                        int iy = oy * SH - L->pad_top + ky;
                        if (iy < 0 || iy >= H) continue;
                        float *d = dst + (size_t)iy * W;
                        const float *s = src + (size_t)oy * OW;
                        int off = kx - L->pad_left, lo = 0, hi = OW;
                        while (lo < OW && lo * SW + off < 0) lo++;
                        while (hi > lo && (hi - 1) * SW + off >= W) hi--;
                        for (int ox = lo; ox < hi; ox++) d[ox * SW + off] += s[ox];
                    }
                }
            }
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
    for (int b = 0; b < n; b++)
        for (int oc = 0; oc < OC; oc++) {
            const float *s = tmp + (size_t)oc * P + (size_t)b * ohw;
            float *d = out + ((size_t)b * OC + oc) * ohw;
            float bv = bias ? bias[oc] : 0.0f;
            for (size_t i = 0; i < ohw; i++) d[i] = s[i] + bv;
        }
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
    for (int b = 0; b < n; b++)
        for (int oc = 0; oc < OC; oc++)
            memcpy(dt + (size_t)oc * P + (size_t)b * ohw, dout + ((size_t)b * OC + oc) * ohw,
                   ohw * sizeof *dt);
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
