/* Conv2D: configuration and shape inference; forward and backward as im2col
 * and a GEMM image by image (each image's product lands in NCHW order
 * directly), the batch shared out over libcnn's threads.  The GEMMs: libxsmm's
 * JIT kernels for the image's shape where there are (xsmm.h), else OpenBLAS. */
#include "layer.h"

#include <stdint.h>
#include <string.h>

#include "avx512.h"
#include "blas.h"
#include "threads.h"
#include "xsmm.h"

static const char *const channels_last[] = {"channels_last", NULL};

static const cnn_field conv2d_fields[] = {
    {"filters", CNN_FIELD_INT, CNN_AT(units), CNN_REQUIRED, 1, 0, NULL, NULL, 0, NULL},
    {"kernel_size", CNN_FIELD_PAIR, CNN_AT(kernel), CNN_REQUIRED, 1, 0, NULL, NULL, 0, NULL},
    {"strides", CNN_FIELD_PAIR, CNN_AT(stride), 1, 1, 0, NULL, NULL, 0, NULL},
    {"padding", CNN_FIELD_ENUM, CNN_AT(padding), CNN_PAD_VALID, 0, 0, cnn_padding_names, NULL, 0,
     NULL},
    {"use_bias", CNN_FIELD_BOOL, CNN_AT(use_bias), 1, 0, 0, NULL, NULL, 0, NULL},
    {"data_format", CNN_FIELD_ENUM, CNN_NOWHERE, 0, 0, 0, channels_last, NULL, 0, NULL},
    {"dilation_rate", CNN_FIELD_PAIR, CNN_NOWHERE, 1, 1, 0, NULL, NULL, 0,
     "dilated convolution is not supported (only 1)"},
    {"groups", CNN_FIELD_INT, CNN_NOWHERE, 1, 1, 0, NULL, NULL, 0,
     "grouped convolution is not supported (only 1)"},
    {"activation", CNN_FIELD_ENUM, CNN_AT(activation), CNN_ACT_LINEAR, 0, 0, cnn_activation_names,
     NULL, 0, NULL},
    {NULL},
};

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
    t[0] = (cnn_tensor_info){
        "kernel", 4, {L->units, L->in.c, L->kernel[0], L->kernel[1]}, 0, nk, 1, CNN_ROLE_KERNEL};
    if (!L->use_bias) return 1;
    t[1] = (cnn_tensor_info){"bias", 1, {L->units}, nk, (size_t)L->units, 1, CNN_ROLE_BIAS};
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

/* Per-thread slots of the scratch: partial kernel and bias gradients
 * (backward; the kernel's transposed, (K, OC)), one image's columns (forward:
 * im2col; backward: im2col again, then the column gradient in the same place)
 * and, backward, the image's output gradient transposed (OHW, OC) and its
 * kernel gradient (K, OC).  Backward recomputes the columns instead of keeping
 * the forward's for the whole batch: that kept (n, K, OH*OW) floats, 8.5 MB of
 * the lecture model's 40 MB at batch 64, for an im2col pass per image in
 * backward. */
static size_t slot_size(const cnn_layer *L)
{
    size_t ohw = (size_t)L->out.h * L->out.w, OC = (size_t)L->units, K = conv_k(L);
    return OC * K + OC + K * ohw + OC * ohw + OC * K;
}

static size_t conv2d_scratch_size(const cnn_layer *L, int max_batch)
{
    size_t slots = max_batch < CNN_MAX_THREADS ? (size_t)max_batch : CNN_MAX_THREADS;
    return slots * slot_size(L);
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

/* Rows of a few floats (11 for the lecture's second conv) copied and added
 * four at a time: a memcpy call per row cost more than the copy. */
typedef float v4f __attribute__((vector_size(16)));

static inline void copy_row(float *d, const float *s, int len)
{
    int i = 0;
    for (; i + 4 <= len; i += 4) {
        v4f x;
        memcpy(&x, s + i, sizeof x);
        memcpy(d + i, &x, sizeof x);
    }
    for (; i < len; i++) d[i] = s[i];
}

static inline void add_row(float *d, const float *s, int len)
{
    int i = 0;
    for (; i + 4 <= len; i += 4) {
        v4f x, y;
        memcpy(&x, s + i, sizeof x);
        memcpy(&y, d + i, sizeof y);
        y += x;
        memcpy(d + i, &y, sizeof y);
    }
    for (; i < len; i++) d[i] += s[i];
}

#if CNN_AVX512
/* ---- AVX-512 (avx512.h): stride 1 across, rows in masked pieces of 16 ---- */

/* One row of the columns, d[0, len) = s[x] for x in [lo, hi) and 0 elsewhere,
 * as nch masked loads (lm: the lanes [lo, hi) of each 16; a masked lane reads
 * as 0 and is not read) and whole stores of 16 floats: up to 15 past len are
 * written too, junk that the rows after overwrite (rows are written in
 * address order), unless that would pass end, the end of the columns (then
 * the store is masked to the row).  Masked stores cost more than whole ones
 * on the AMD cores here, and a row of 11 floats needs one store. */
CNN_TARGET_AVX512 static inline void gather_row_512(float *d, uintptr_t s, const __mmask16 *lm,
                                                    int nch, int len, const float *end)
{
    for (int k = 0; k < nch; k++) {
        __m512 v = _mm512_maskz_loadu_ps(lm[k], (const float *)(s + 16 * sizeof(float) * (unsigned)k));
        if (end - (d + 16 * k) < 16)
            _mm512_mask_storeu_ps(d + 16 * k, (__mmask16)cnn_lanes(0, len - 16 * k), v);
        else
            _mm512_storeu_ps(d + 16 * k, v);
    }
}

/* Rows [0, n) of d (OW >= 8 floats each) = the rows of s, sw floats apart:
 * loads and stores of eight floats, the last eight of a row overlapping the
 * ones before (nothing past a row is read or written). */
CNN_TARGET_AVX512 static void copy_rows_512(float *d, const float *s, size_t sw, int OW, int n)
{
    if (OW <= 16) { /* the lecture's conv2: 11 */
        for (int i = 0; i < n; i++, d += OW, s += sw) {
            __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + OW - 8);
            _mm256_storeu_ps(d, a);
            _mm256_storeu_ps(d + OW - 8, b);
        }
        return;
    }
    for (int i = 0; i < n; i++, d += OW, s += sw) {
        for (int x = 0; x + 8 < OW; x += 8) _mm256_storeu_ps(d + x, _mm256_loadu_ps(s + x));
        _mm256_storeu_ps(d + OW - 8, _mm256_loadu_ps(s + OW - 8));
    }
}

/* im2col_image for SW = 1 and OW <= 64: per row of the kernel, the output
 * rows whose input row is outside zeroed, the rest copied, masks made once. */
CNN_TARGET_AVX512 static void im2col_image_512(const cnn_layer *L, float *col, const float *src)
{
    int H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OH = L->out.h, OW = L->out.w, SH = L->stride[0], nch = (OW + 15) / 16;
    size_t ohw = (size_t)OH * OW, K = conv_k(L);
    const float *end = col + K * ohw;
    const __mmask16 none[4] = {0};
    for (size_t r = 0; r < K; r++) {
        int c = (int)(r / ((size_t)KH * KW)), ky = (int)(r / KW % KH), kx = (int)(r % KW);
        int off = kx - L->pad_left, lo, hi, ylo, yhi;
        inside_cols(OW, 1, off, W, &lo, &hi);
        inside_cols(OH, SH, ky - L->pad_top, H, &ylo, &yhi); /* the same rule for rows */
        __mmask16 lm[4];
        for (int k = 0; k < nch; k++) lm[k] = (__mmask16)cnn_lanes(lo - 16 * k, hi - 16 * k);
        /* (OH, W) from row ylo of the plane: input row iy = oy * SH - pad_top + ky.
         * An address, not a pointer: with off < 0, or no row inside, it lies
         * outside src, where only masked lanes point (a pointer there would be
         * undefined in C even unread). */
        uintptr_t s = (uintptr_t)src + (uintptr_t)((((intptr_t)c * H + ylo * SH - L->pad_top + ky) *
                                                        W + off) * (intptr_t)sizeof(float));
        uintptr_t row = (uintptr_t)SH * (uintptr_t)W * sizeof(float);
        float *dst = col + r * ohw;      /* (OH, OW) */
        for (int oy = 0; oy < ylo; oy++) /* all lanes masked: zeros */
            gather_row_512(dst + (size_t)oy * OW, (uintptr_t)src, none, nch, OW, end);
        if (lo == 0 && hi == OW && OW >= 8) /* (rows inside: s is in src) */
            copy_rows_512(dst + (size_t)ylo * OW, (const float *)s, (size_t)SH * W, OW, yhi - ylo);
        else
            for (int oy = ylo; oy < yhi; oy++)
                gather_row_512(dst + (size_t)oy * OW, s + (uintptr_t)(oy - ylo) * row, lm, nch, OW,
                               end);
        for (int oy = yhi; oy < OH; oy++)
            gather_row_512(dst + (size_t)oy * OW, (uintptr_t)src, none, nch, OW, end);
    }
}
#endif

/* col (K, OH*OW) from one image src (C, H, W): row (c, ky, kx), column
 * oy*OW + ox holds src[c, oy*SH - pad_top + ky, ox*SW - pad_left + kx], zero
 * where the window overhangs. */
static void im2col_image(const cnn_layer *L, float *col, const float *src)
{
#if CNN_AVX512
    if (L->stride[1] == 1 && L->out.w <= 64 && cnn_avx512()) {
        im2col_image_512(L, col, src);
        return;
    }
#endif
    int H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OH = L->out.h, OW = L->out.w, SH = L->stride[0], SW = L->stride[1];
    size_t ohw = (size_t)OH * OW, K = conv_k(L);
    for (size_t r = 0; r < K; r++) {
        int c = (int)(r / ((size_t)KH * KW)), ky = (int)(r / KW % KH), kx = (int)(r % KW);
        int off = kx - L->pad_left, lo, hi;
        inside_cols(OW, SW, off, W, &lo, &hi);
        const float *plane = src + (size_t)c * H * W; /* (H, W) */
        float *dst = col + r * ohw;                   /* (OH, OW) */
        for (int oy = 0; oy < OH; oy++) {
            int iy = oy * SH - L->pad_top + ky;
            float *d = dst + (size_t)oy * OW;
            if (iy < 0 || iy >= H) {
                memset(d, 0, (size_t)OW * sizeof *d);
                continue;
            }
            const float *s = plane + (size_t)iy * W;
            for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
            if (SW == 1)
                copy_row(d + lo, s + lo + off, hi - lo);
            else
                for (int ox = lo; ox < hi; ox++) d[ox] = s[ox * SW + off];
            for (int ox = hi; ox < OW; ox++) d[ox] = 0.0f;
        }
    }
}

#if CNN_AVX512
/* acc + the columns' terms (row ky of the kernel, lanes m) for pixel row iy,
 * where that row's window reaches it. */
CNN_TARGET_AVX512 static inline __m512 col2im_term(__m512 acc, const cnn_layer *L, int iy, int ky,
                                                   __mmask16 m, uintptr_t s)
{
    int oy = iy + L->pad_top - ky; /* stride 1 */
    if (iy >= L->in.h || oy < 0 || oy >= L->out.h) return acc;
    const float *p = (const float *)(s + (uintptr_t)oy * (uintptr_t)L->out.w * sizeof(float));
    return _mm512_mask_add_ps(acc, m, acc, _mm512_maskz_loadu_ps(m, p));
}

/* 16 floats at d, the first n of them where d + 16 passes end. */
CNN_TARGET_AVX512 static inline void store_row_512(float *d, __m512 v, int n, const float *end)
{
    if (end - d >= 16)
        _mm512_storeu_ps(d, v);
    else
        _mm512_mask_storeu_ps(d, (__mmask16)cnn_lanes(0, n), v);
}

/* col2im_image for stride 1 and W <= 16 or a multiple of 16, turned around:
 * the pixels' sums made in registers, four rows of 16 at a time (four chains
 * of dependent adds in flight), from the column rows that reach them, then
 * stored once (no memset, no read-modify-write of dst per row).  Each
 * pixel gets the same terms in the same order as col2im_image's (kx outer,
 * then ky: its q order for one channel), added to a sum that starts at +0 as
 * the memset's does; lanes a row does not reach are left alone (masked adds).
 * Stores are whole, in address order (W <= 16: the overhang overwritten by
 * the next row), masked only at the image's end. */
CNN_TARGET_AVX512 static void col2im_image_512(const cnn_layer *L, float *dst, const float *col)
{
    int C = L->in.c, H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OW = L->out.w;
    size_t ohw = (size_t)L->out.h * OW;
    const float *end = dst + (size_t)C * H * W;
    for (int c = 0; c < C; c++)
        for (int iy = 0; iy < H; iy += 4)
            for (int x0 = 0; x0 < W; x0 += 16) {
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
                for (int kx = 0; kx < KW; kx++) {
                    int off = kx - L->pad_left, lo, hi;
                    inside_cols(OW, 1, off, W, &lo, &hi);
                    /* lane i is pixel x0 + i, from column x0 + i - off */
                    __mmask16 m = (__mmask16)cnn_lanes(lo + off - x0, hi + off - x0);
                    for (int ky = 0; ky < KH; ky++) {
                        /* an address: x0 - off < 0 lies before col (masked lanes only) */
                        uintptr_t s = (uintptr_t)(col + (((size_t)c * KH + ky) * KW + kx) * ohw) +
                                      (uintptr_t)((intptr_t)(x0 - off) * (intptr_t)sizeof(float));
                        a0 = col2im_term(a0, L, iy, ky, m, s);
                        a1 = col2im_term(a1, L, iy + 1, ky, m, s);
                        a2 = col2im_term(a2, L, iy + 2, ky, m, s);
                        a3 = col2im_term(a3, L, iy + 3, ky, m, s);
                    }
                }
                __m512 a[4] = {a0, a1, a2, a3};
                for (int i = 0; i < 4 && iy + i < H; i++)
                    store_row_512(dst + ((size_t)c * H + iy + i) * W + x0, a[i], W - x0, end);
            }
}
#endif

/* The adjoint of im2col_image: dst (C, H, W) = the columns' entries summed
 * back onto the pixels they came from (overwriting dst). */
static void col2im_image(const cnn_layer *L, float *dst, const float *col)
{
#if CNN_AVX512
    if (L->stride[0] == 1 && L->stride[1] == 1 && (L->in.w <= 16 || L->in.w % 16 == 0) &&
        cnn_avx512()) {
        col2im_image_512(L, dst, col);
        return;
    }
#endif
    int C = L->in.c, H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int OH = L->out.h, OW = L->out.w, SH = L->stride[0], SW = L->stride[1];
    size_t ohw = (size_t)OH * OW;
    memset(dst, 0, (size_t)C * H * W * sizeof *dst);
    /* kx outermost: rows (c, ky, kx) and (c, ky, kx + 1) add into the same
     * pixels one column apart, and adding them back to back makes every
     * vector load wait on the overlapping stores just before it */
    for (size_t q = 0; q < conv_k(L); q++) {
        int kx = (int)(q / ((size_t)C * KH)), c = (int)(q / KH % C), ky = (int)(q % KH);
        size_t r = ((size_t)c * KH + ky) * KW + kx;
        int off = kx - L->pad_left, lo, hi;
        inside_cols(OW, SW, off, W, &lo, &hi);
        float *plane = dst + (size_t)c * H * W; /* (H, W) */
        const float *src = col + r * ohw;       /* (OH, OW) */
        for (int oy = 0; oy < OH; oy++) {
            int iy = oy * SH - L->pad_top + ky;
            if (iy < 0 || iy >= H) continue;
            float *d = plane + (size_t)iy * W;
            const float *s = src + (size_t)oy * OW;
            if (SW == 1) {
                add_row(d + off + lo, s + lo, hi - lo);
            } else {
                for (int ox = lo; ox < hi; ox++) d[ox * SW + off] += s[ox];
            }
        }
    }
}

/* One pass of the layer over a batch, shared out by images. */
typedef struct {
    const cnn_layer *L;
    int n;
    float *out, *post, *din, *scratch;
    const float *in, *dout, *w, *bias;
} conv_job;

/* Slot i's column buffer, (K, OHW). */
static float *slot_cols(const cnn_layer *L, float *scratch, int i)
{
    return scratch + (size_t)i * slot_size(L) + (size_t)L->units * conv_k(L) + L->units;
}

/* The kernels of the three per-image products (xsmm.h), column-major:
 * forward  out^T (OHW, OC) = col^T (OHW, K) w^T (K, OC) + out^T;
 * din      dcol^T (OHW, K) = dout^T (OHW, OC) (w^T (K, OC))^T;
 * dw       dw_b^T (OC, K) = dout_t^T (OC, OHW) col^T (OHW, K), beta 0 (dw_image). */
static cnn_gemm_kernel forward_kernel(const cnn_layer *L)
{
    int OC = L->units, K = (int)conv_k(L), ohw = L->out.h * L->out.w;
    return cnn_gemm_kernel_get(ohw, OC, K, ohw, K, ohw, 1.0f, 0);
}

static cnn_gemm_kernel din_kernel(const cnn_layer *L)
{
    int OC = L->units, K = (int)conv_k(L), ohw = L->out.h * L->out.w;
    return cnn_gemm_kernel_get(ohw, K, OC, ohw, K, ohw, 0.0f, 1);
}

static cnn_gemm_kernel dw_kernel(const cnn_layer *L)
{
    int OC = L->units, K = (int)conv_k(L), ohw = L->out.h * L->out.w;
    return cnn_gemm_kernel_get(OC, K, ohw, OC, ohw, OC, 0.0f, 0);
}

/* OpenBLAS is called where a product has no kernel. */
static int conv2d_uses_blas(const cnn_layer *L, int backward)
{
    if (!backward) return !forward_kernel(L).fn;
    return !din_kernel(L).fn || !dw_kernel(L).fn;
}

#if CNN_AVX512
CNN_TARGET_AVX512 static void fill_bias_512(float *out, const float *bias, int OC, size_t ohw)
{
    for (int oc = 0; oc < OC; oc++) {
        __m512 v = _mm512_set1_ps(bias ? bias[oc] : 0.0f);
        float *o = out + (size_t)oc * ohw;
        size_t p = 0;
        for (; p + 16 <= ohw; p += 16) _mm512_storeu_ps(o + p, v);
        _mm512_mask_storeu_ps(o + p, (__mmask16)cnn_lanes(0, (int)(ohw - p)), v);
    }
}
#endif

/* out (OC, OHW): row oc = bias[oc] (0 without a bias). */
static void fill_bias(float *out, const float *bias, int OC, size_t ohw)
{
#if CNN_AVX512
    if (cnn_avx512()) {
        fill_bias_512(out, bias, OC, ohw);
        return;
    }
#endif
    for (int oc = 0; oc < OC; oc++) {
        float bv = bias ? bias[oc] : 0.0f, *o = out + (size_t)oc * ohw;
        for (size_t p = 0; p < ohw; p++) o[p] = bv;
    }
}

/* Images of share i: col_b = im2col(in_b); out_b (OC, OHW) = w (OC, K) x col_b + bias. */
static void forward_share(void *arg, int i, int t)
{
    const conv_job *j = arg;
    const cnn_layer *L = j->L;
    int OC = L->units;
    size_t K = conv_k(L), ohw = (size_t)L->out.h * L->out.w, chw = cnn_shape_size(L->in);
    size_t b0, b1;
    cnn_share((size_t)j->n, i, t, &b0, &b1);
    float *col = slot_cols(L, j->scratch, i); /* (K, OHW) */
    cnn_gemm_kernel kern = forward_kernel(L);
    for (size_t b = b0; b < b1; b++) {
        float *out = j->out + b * OC * ohw;
        im2col_image(L, col, j->in + b * chw);
        /* the bias first and beta = 1: OpenBLAS would otherwise zero out in a
         * pass of its own */
        fill_bias(out, j->bias, OC, ohw);
        if (kern.fn)
            cnn_gemm_kernel_run(kern, col, j->w, out);
        else
            cnn_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)ohw, (int)K, 1.0f, j->w,
                      (int)K, col, (int)ohw, 1.0f, out, (int)ohw);
        if (j->post) cnn_relu(j->post + b * OC * ohw, out, (size_t)OC * ohw);
    }
}

static void conv2d_forward(const cnn_layer *L, float *out, const float *in, float *params,
                           const cnn_layer_ctx *ctx)
{
    int n = ctx->n, OC = L->units;
    size_t K = conv_k(L);
    conv_job j = {.L = L,
                  .n = n,
                  .out = out,
                  .post = ctx->post,
                  .in = in,
                  .w = params,                                  /* (OC, C, KH, KW) */
                  .bias = L->use_bias ? params + OC * K : NULL, /* (OC) */
                  .scratch = ctx->scratch};
    /* at most min(n, threads) shares: within the slots conv2d_scratch_size made */
    cnn_parallel_run(n < CNN_MAX_THREADS ? n : CNN_MAX_THREADS, forward_share, &j);
}

/* The sum of x[0..len) in eight interleaved partial sums (a single running sum
 * waits out the adder's latency at every element); the same order every time. */
static float row_sum(const float *x, size_t len)
{
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int k = 0; k < 8; k++) s[k] += x[i + k];
    for (; i < len; i++) s[i % 8] += x[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

#if CNN_AVX512
/* transpose()'s whole 8 x 8 tiles as eight vector loads, 24 shuffles and
 * eight vector stores (the edges stay scalar). */
CNN_TARGET_AVX512 static inline void transpose_8x8(float *dst, size_t rows, const float *src,
                                                   size_t cols)
{
    __m256 x0 = _mm256_loadu_ps(src), x1 = _mm256_loadu_ps(src + cols);
    __m256 x2 = _mm256_loadu_ps(src + 2 * cols), x3 = _mm256_loadu_ps(src + 3 * cols);
    __m256 x4 = _mm256_loadu_ps(src + 4 * cols), x5 = _mm256_loadu_ps(src + 5 * cols);
    __m256 x6 = _mm256_loadu_ps(src + 6 * cols), x7 = _mm256_loadu_ps(src + 7 * cols);
    __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
    __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
    __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
    __m256 t6 = _mm256_unpacklo_ps(x6, x7), t7 = _mm256_unpackhi_ps(x6, x7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + rows, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * rows, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * rows, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * rows, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * rows, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * rows, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * rows, _mm256_permute2f128_ps(u3, u7, 0x31));
}

CNN_TARGET_AVX512 static void transpose_512(float *dst, const float *src, size_t rows, size_t cols)
{
    size_t r8 = rows & ~(size_t)7, c8 = cols & ~(size_t)7;
    for (size_t r0 = 0; r0 < r8; r0 += 8) {
        for (size_t c0 = 0; c0 < c8; c0 += 8)
            transpose_8x8(dst + c0 * rows + r0, rows, src + r0 * cols + c0, cols);
        for (size_t r = r0; r < r0 + 8; r++)
            for (size_t c = c8; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
    }
    for (size_t r = r8; r < rows; r++)
        for (size_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}
#endif

/* dst (cols, rows) = src (rows, cols) transposed, in tiles of 8 x 8. */
static void transpose(float *dst, const float *src, size_t rows, size_t cols)
{
#if CNN_AVX512
    if (cnn_avx512()) {
        transpose_512(dst, src, rows, cols);
        return;
    }
#endif
    for (size_t r0 = 0; r0 < rows; r0 += 8)
        for (size_t c0 = 0; c0 < cols; c0 += 8) {
            size_t r1 = r0 + 8 < rows ? r0 + 8 : rows, c1 = c0 + 8 < cols ? c0 + 8 : cols;
            for (size_t r = r0; r < r1; r++)
                for (size_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
        }
}

/* Adds one image's dw^T (K, OC) = col (K, OHW) x dout^T (OHW, OC) to dwt, or
 * stores it (first image).  With the kernel: column-major, dw_b^T (OC, K) =
 * dout_t^T (OC, OHW) col^T (OHW, K), dout transposed into dout_t first (the
 * sum runs along OHW, contiguous in both operands, and libxsmm 1.17's JIT
 * declines a transposed A); the image's product into dw_b, then added, as
 * OpenBLAS does with beta 1.  (The kernel with beta 1 instead adds each of the
 * OHW terms to the running sum: on a gradient that the batch cancels out, as
 * before a batch normalization, the sum's rounding then grew ~100-fold and
 * tests/cli/mpi.sh's Adam step, which divides by |g| + 1e-7, saw it.) */
static void dw_image(const cnn_layer *L, float *dwt, const float *col, const float *dout,
                     float *dout_t, float *dw_b, cnn_gemm_kernel kern, int first)
{
    int OC = L->units, K = (int)conv_k(L), ohw = L->out.h * L->out.w;
    if (kern.fn) {
        transpose(dout_t, dout, (size_t)OC, (size_t)ohw);
        cnn_gemm_kernel_run(kern, dout_t, col, first ? dwt : dw_b);
        if (!first) add_row(dwt, dw_b, OC * K);
    } else {
        cnn_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, OC, ohw, 1.0f, col, ohw, dout, ohw,
                  first ? 0.0f : 1.0f, dwt, OC);
    }
}

/* Images of share i: slot i's partial dw^T (K, OC) and db (OC) summed over
 * them; din_b = col2im(w^T (K, OC) x dout_b (OC, OHW)). */
static void backward_share(void *arg, int i, int t)
{
    const conv_job *j = arg;
    const cnn_layer *L = j->L;
    int OC = L->units;
    size_t K = conv_k(L), ohw = (size_t)L->out.h * L->out.w, chw = cnn_shape_size(L->in);
    float *dwt = j->scratch + (size_t)i * slot_size(L); /* (K, OC) */
    float *db = dwt + (size_t)OC * K;                   /* (OC) */
    float *col = slot_cols(L, j->scratch, i);           /* (K, OHW), then dcol */
    float *dout_t = col + K * ohw;                      /* (OHW, OC) */
    float *dw_b = dout_t + (size_t)OC * ohw;            /* (K, OC) */
    size_t b0, b1;
    cnn_share((size_t)j->n, i, t, &b0, &b1);
    cnn_gemm_kernel kern = j->din ? din_kernel(L) : (cnn_gemm_kernel){NULL};
    cnn_gemm_kernel dwk = dw_kernel(L);
    for (int oc = 0; oc < OC; oc++) db[oc] = 0.0f;
    for (size_t b = b0; b < b1; b++) {
        const float *dout = j->dout + b * OC * ohw;
        im2col_image(L, col, j->in + b * chw);
        dw_image(L, dwt, col, dout, dout_t, dw_b, dwk, b == b0);
        for (int oc = 0; oc < OC; oc++) db[oc] += row_sum(dout + (size_t)oc * ohw, ohw);
        if (!j->din) continue;
        float *dcol = col; /* the columns are read: their gradient goes in their place */
        if (kern.fn)
            cnn_gemm_kernel_run(kern, dout, j->w, dcol);
        else
            cnn_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)ohw, OC, 1.0f, j->w,
                      (int)K, dout, (int)ohw, 0.0f, dcol, (int)ohw);
        col2im_image(L, j->din + b * chw, dcol);
    }
}

static void conv2d_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                            const float *in, const float *out, const float *params,
                            const cnn_layer_ctx *ctx)
{
    (void)out;
    int n = ctx->n, OC = L->units;
    size_t K = conv_k(L);
    int t = n < CNN_MAX_THREADS ? n : CNN_MAX_THREADS; /* the slots conv2d_scratch_size made */
    if (t > cnn_get_threads()) t = cnn_get_threads();
    conv_job j = {
        .L = L, .n = n, .din = din, .scratch = ctx->scratch, .dout = dout, .w = params, .in = in};
    cnn_parallel_run(t, backward_share, &j);
    /* the slots' partial sums, in slot order (the same result for a given thread count) */
    float *dw = dparams, *db = L->use_bias ? dparams + OC * K : NULL; /* (OC, K), (OC) */
    for (int i = 0; i < t; i++) {
        const float *pw = ctx->scratch + (size_t)i * slot_size(L), *pb = pw + (size_t)OC * K;
        for (int oc = 0; oc < OC; oc++)
            for (size_t k = 0; k < K; k++) dw[oc * K + k] += pw[k * OC + oc]; /* pw: (K, OC) */
        if (db)
            for (int oc = 0; oc < OC; oc++) db[oc] += pb[oc];
    }
}

const cnn_layer_ops cnn_conv2d_ops = {
    .type = "Conv2D",
    .auto_name = "conv2d",
    .fuses_relu = 1,
    .fields = conv2d_fields,
    .window_key = "kernel_size",
    .infer = conv2d_infer,
    .tensors = conv2d_tensors,
    .macs = conv2d_macs,
    .uses_blas = conv2d_uses_blas,
    .scratch_size = conv2d_scratch_size,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
};
