/* MaxPooling2D and AveragePooling2D: configuration and shape inference.
 * With "same" padding, padded cells never win a max and are not counted in an
 * average (TensorFlow's behaviour, which Keras uses). */
#include "layer.h"

#include <stdint.h>
#include <string.h>

#include "avx512.h"
#include "threads.h"

static const char *const channels_last[] = {"channels_last", NULL};

static const cnn_field pool2d_fields[] = {
    {"pool_size", CNN_FIELD_PAIR, CNN_AT(kernel), 2, 1, 0, NULL, NULL, 0, NULL},
    {"strides", CNN_FIELD_PAIR, CNN_AT(stride), 0, 1, 0, NULL, "pool_size", 0, NULL},
    {"padding", CNN_FIELD_ENUM, CNN_AT(padding), CNN_PAD_VALID, 0, 0, cnn_padding_names, NULL,
     0, NULL},
    {"data_format", CNN_FIELD_ENUM, CNN_NOWHERE, 0, 0, 0, channels_last, NULL, 0, NULL},
    {NULL},
};

static int pool2d_infer(cnn_layer *L, cnn_error *err)
{
    return cnn_window_infer(L, L->in.c, err);
}

/* ---- math ------------------------------------------------------------------ */

/* The window of output (oy, ox) clipped to the input: rows [y0, y1), columns
 * [x0, x1).  Never empty (see cnn_window_out). */
static void pool_window(const cnn_layer *L, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
    int ys = oy * L->stride[0] - L->pad_top, xs = ox * L->stride[1] - L->pad_left;
    *y0 = ys < 0 ? 0 : ys;
    *x0 = xs < 0 ? 0 : xs;
    *y1 = ys + L->kernel[0] > L->in.h ? L->in.h : ys + L->kernel[0];
    *x1 = xs + L->kernel[1] > L->in.w ? L->in.w : xs + L->kernel[1];
}

/* Index in the (H, W) plane of the window's largest value; the first one on ties. */
static int window_argmax(const float *plane, int W, int y0, int y1, int x0, int x1)
{
    int best = y0 * W + x0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (plane[y * W + x] > plane[best]) best = y * W + x;
    return best;
}

/* The common 2x2, stride 2, "valid" case: every window is inside the input. */
static int is_2x2(const cnn_layer *L)
{
    return L->kernel[0] == 2 && L->kernel[1] == 2 && L->stride[0] == 2 && L->stride[1] == 2 &&
           L->padding == CNN_PAD_VALID;
}

/* Offset within the 2x2 window at s (row stride W) of its first largest value,
 * written as selects (the comparisons are unpredictable after a relu). */
static inline int argmax_2x2(const float *s, int W)
{
    float v = s[0];
    int best = 0;
    best = s[1] > v ? 1 : best;
    v = s[1] > v ? s[1] : v;
    best = s[W] > v ? W : best;
    v = s[W] > v ? s[W] : v;
    best = s[W + 1] > v ? W + 1 : best;
    return best;
}

typedef struct {
    const cnn_layer *L;
    float *dst;
    const float *src, *g;
    unsigned char *arg; /* (planes, OH, OW) window offsets: 0, 1, 2 (next row), 3 */
} pool_job;

#if CNN_AVX512
/* ---- AVX-512 (avx512.h): 16 windows at a time ------------------------------
 * The same comparisons, in the same order, as the portable loops below.  Rows
 * are stored whole (16 lanes) in address order, the overhang overwritten by
 * the rows after it; masked only where it would pass the end of the share's
 * planes (masked stores cost more on the AMD cores here). */

/* 16 floats at d, or the first n of them where d + 16 passes end. */
CNN_TARGET_AVX512 static inline void store16(float *d, __m512 v, int n, const float *end)
{
    if (end - d >= 16)
        _mm512_storeu_ps(d, v);
    else
        _mm512_mask_storeu_ps(d, (__mmask16)cnn_lanes(0, n), v);
}

/* One row of windows: d[0, OW) the maxima of the rows s and s + W, a the offsets. */
CNN_TARGET_AVX512 static void max_2x2_row_512(float *d, unsigned char *a, const float *s, int W,
                                              int OW, const float *dend, const unsigned char *aend)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int x = 0; x < OW; x += 16) {
        __mmask16 m0 = (__mmask16)cnn_lanes(0, 2 * (OW - x)),
                  m1 = (__mmask16)cnn_lanes(0, 2 * (OW - x) - 16);
        const float *t = s + 2 * x, *b = t + W;
        __m512 t0 = _mm512_maskz_loadu_ps(m0, t), t1 = _mm512_maskz_loadu_ps(m1, t + 16);
        __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
        __m512 w1 = _mm512_permutex2var_ps(t0, od, t1), w2 = _mm512_permutex2var_ps(b0, ev, b1);
        __m512 w3 = _mm512_permutex2var_ps(b0, od, b1), v = _mm512_permutex2var_ps(t0, ev, t1);
        __m512i k = _mm512_setzero_si512();
        __mmask16 g = _mm512_cmp_ps_mask(w1, v, _CMP_GT_OQ); /* false on NaN, as > */
        v = _mm512_mask_mov_ps(v, g, w1), k = _mm512_mask_mov_epi32(k, g, _mm512_set1_epi32(1));
        g = _mm512_cmp_ps_mask(w2, v, _CMP_GT_OQ);
        v = _mm512_mask_mov_ps(v, g, w2), k = _mm512_mask_mov_epi32(k, g, _mm512_set1_epi32(2));
        g = _mm512_cmp_ps_mask(w3, v, _CMP_GT_OQ);
        v = _mm512_mask_mov_ps(v, g, w3), k = _mm512_mask_mov_epi32(k, g, _mm512_set1_epi32(3));
        store16(d + x, v, OW - x, dend);
        __m128i k8 = _mm512_cvtepi32_epi8(k);
        if (aend - (a + x) >= 16)
            _mm_storeu_si128((__m128i *)(void *)(a + x), k8);
        else
            _mm_mask_storeu_epi8(a + x, (__mmask16)cnn_lanes(0, OW - x), k8);
    }
}

CNN_TARGET_AVX512 static void max_2x2_planes_512(const pool_job *j, size_t p0, size_t p1)
{
    int H = j->L->in.h, W = j->L->in.w, OH = j->L->out.h, OW = j->L->out.w;
    const float *dend = j->dst + p1 * OH * OW;
    const unsigned char *aend = j->arg + p1 * OH * OW;
    for (size_t p = p0; p < p1; p++)
        for (int oy = 0; oy < OH; oy++) {
            size_t o = p * OH * OW + (size_t)oy * OW;
            max_2x2_row_512(j->dst + o, j->arg + o, j->src + p * H * W + (size_t)(2 * oy) * W, W,
                            OW, dend, aend);
        }
}

/* One input row d (the windows' top row: q = 0, 1; bottom: q = 2, 3) of the
 * backward: the gradient g where the offset a is q, else 0. */
CNN_TARGET_AVX512 static void max_2x2_back_row_512(float *d, const float *g, const unsigned char *a,
                                                   int OW, int q, const float *dend)
{
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __m512i q0 = _mm512_set1_epi32(q), q1 = _mm512_set1_epi32(q + 1);
    for (int x = 0; x < OW; x += 16) {
        __mmask16 m = (__mmask16)cnn_lanes(0, OW - x);
        __m512 v = _mm512_maskz_loadu_ps(m, g + x);
        __m512i k = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, a + x));
        __m512 z0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, q0), v);
        __m512 z1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, q1), v);
        store16(d + 2 * x, _mm512_permutex2var_ps(z0, lo, z1), 2 * (OW - x), dend);
        store16(d + 2 * x + 16, _mm512_permutex2var_ps(z0, hi, z1), 2 * (OW - x) - 16, dend);
    }
}

/* The rows in address order: all of d0, its last column, all of d1, ... */
CNN_TARGET_AVX512 static void max_2x2_back_planes_512(const pool_job *j, size_t p0, size_t p1)
{
    int H = j->L->in.h, W = j->L->in.w, OH = j->L->out.h, OW = j->L->out.w;
    const float *dend = j->dst + p1 * H * W;
    for (size_t p = p0; p < p1; p++) {
        float *d = j->dst + p * H * W;
        for (int oy = 0; oy < OH; oy++) {
            float *d0 = d + (size_t)(2 * oy) * W, *d1 = d0 + W;
            const float *g = j->g + p * OH * OW + (size_t)oy * OW;
            const unsigned char *a = j->arg + p * OH * OW + (size_t)oy * OW;
            max_2x2_back_row_512(d0, g, a, OW, 0, dend);
            if (W > 2 * OW) d0[W - 1] = 0.0f;
            max_2x2_back_row_512(d1, g, a, OW, 2, dend);
            if (W > 2 * OW) d1[W - 1] = 0.0f;
        }
        if (H > 2 * OH) memset(d + (size_t)(H - 1) * W, 0, (size_t)W * sizeof *d);
    }
}
#endif

/* Planes [p0, p1) of the 2x2 forward: the max and where it was. */
static void max_2x2_planes(void *arg, size_t p0, size_t p1)
{
    const pool_job *j = arg;
#if CNN_AVX512
    if (cnn_avx512()) {
        max_2x2_planes_512(j, p0, p1);
        return;
    }
#endif
    int H = j->L->in.h, W = j->L->in.w, OH = j->L->out.h, OW = j->L->out.w;
    for (size_t p = p0; p < p1; p++)
        for (int oy = 0; oy < OH; oy++) {
            const float *s = j->src + p * H * W + (size_t)(2 * oy) * W;
            float *d = j->dst + p * OH * OW + (size_t)oy * OW;
            unsigned char *a = j->arg + p * OH * OW + (size_t)oy * OW;
            for (int ox = 0; ox < OW; ox++) {
                /* argmax_2x2 as integer masks: GCC turns its selects into
                 * branches here, which mispredict half the time after a relu */
                const float *w = s + 2 * ox;
                float v = w[0];
                unsigned k = 0, m;
                m = -(unsigned)(w[1] > v), k = (k & ~m) | (1u & m), v = w[1] > v ? w[1] : v;
                m = -(unsigned)(w[W] > v), k = (k & ~m) | (2u & m), v = w[W] > v ? w[W] : v;
                m = -(unsigned)(w[W + 1] > v), k = (k & ~m) | (3u & m);
                v = w[W + 1] > v ? w[W + 1] : v;
                d[ox] = v;
                a[ox] = (unsigned char)k;
            }
        }
}

/* Planes [p0, p1) of the 2x2 backward: every input cell written once, the
 * gradient where the forward's max was and zero elsewhere (and in a last row
 * or column no window covers). */
static void max_2x2_back_planes(void *arg, size_t p0, size_t p1)
{
    const pool_job *j = arg;
#if CNN_AVX512
    if (cnn_avx512()) {
        max_2x2_back_planes_512(j, p0, p1);
        return;
    }
#endif
    int H = j->L->in.h, W = j->L->in.w, OH = j->L->out.h, OW = j->L->out.w;
    for (size_t p = p0; p < p1; p++) {
        float *d = j->dst + p * H * W;
        for (int oy = 0; oy < OH; oy++) {
            float *d0 = d + (size_t)(2 * oy) * W, *d1 = d0 + W;
            const float *g = j->g + p * OH * OW + (size_t)oy * OW;
            const unsigned char *a = j->arg + p * OH * OW + (size_t)oy * OW;
            for (int ox = 0; ox < OW; ox++) {
                /* the gradient's bits masked into place, without branches */
                uint32_t v, o[4];
                memcpy(&v, g + ox, sizeof v);
                unsigned k = a[ox];
                for (unsigned q = 0; q < 4; q++) o[q] = v & -(uint32_t)(k == q);
                memcpy(d0 + 2 * ox, o, 2 * sizeof *o);
                memcpy(d1 + 2 * ox, o + 2, 2 * sizeof *o);
            }
            if (W > 2 * OW) d0[W - 1] = d1[W - 1] = 0.0f;
        }
        if (H > 2 * OH) memset(d + (size_t)(H - 1) * W, 0, (size_t)W * sizeof *d);
    }
}

static size_t maxpool2d_state_size(const cnn_layer *L, int max_batch)
{
    /* the 2x2 path's window offsets, one byte per output, as floats */
    if (!is_2x2(L)) return 0;
    return (cnn_shape_size(L->out) * (size_t)max_batch + sizeof(float) - 1) / sizeof(float);
}

static void maxpool2d_forward(const cnn_layer *L, float *out, const float *in, float *params,
                              const cnn_layer_ctx *ctx)
{
    (void)params;
    int H = L->in.h, W = L->in.w, OH = L->out.h, OW = L->out.w;
    size_t planes = (size_t)ctx->n * L->in.c;
    if (is_2x2(L)) {
        pool_job j = {L, out, in, NULL, (unsigned char *)ctx->state};
        cnn_parallel_for(planes, cnn_grain((size_t)H * W), max_2x2_planes, &j);
        return;
    }
    for (size_t p = 0; p < planes; p++) {
        const float *src = in + p * H * W; /* (H, W) */
        float *dst = out + p * OH * OW;    /* (OH, OW) */
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int y0, y1, x0, x1;
                pool_window(L, oy, ox, &y0, &y1, &x0, &x1);
                dst[oy * OW + ox] = src[window_argmax(src, W, y0, y1, x0, x1)];
            }
    }
}

/* The gradient goes to the window's first largest value: the 2x2 path kept
 * where it was, the general path finds it again from the input. */
static void maxpool2d_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                               const float *in, const float *out, const float *params,
                               const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)out;
    (void)params;
    if (!din) return;
    int H = L->in.h, W = L->in.w, OH = L->out.h, OW = L->out.w;
    size_t planes = (size_t)ctx->n * L->in.c;
    if (is_2x2(L)) {
        pool_job j = {L, din, in, dout, (unsigned char *)ctx->state};
        cnn_parallel_for(planes, cnn_grain((size_t)H * W), max_2x2_back_planes, &j);
        return;
    }
    memset(din, 0, planes * H * W * sizeof *din);
    for (size_t p = 0; p < planes; p++) {
        const float *src = in + p * H * W;
        const float *g = dout + p * OH * OW;
        float *d = din + p * H * W;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int y0, y1, x0, x1;
                pool_window(L, oy, ox, &y0, &y1, &x0, &x1);
                d[window_argmax(src, W, y0, y1, x0, x1)] += g[oy * OW + ox];
            }
    }
}

/* Averages over the window's cells inside the input only (padding is not counted). */
static void avgpool2d_forward(const cnn_layer *L, float *out, const float *in, float *params,
                              const cnn_layer_ctx *ctx)
{
    (void)params;
    int H = L->in.h, W = L->in.w, OH = L->out.h, OW = L->out.w;
    size_t planes = (size_t)ctx->n * L->in.c;
    for (size_t p = 0; p < planes; p++) {
        const float *src = in + p * H * W;
        float *dst = out + p * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int y0, y1, x0, x1;
                pool_window(L, oy, ox, &y0, &y1, &x0, &x1);
                float s = 0.0f;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) s += src[y * W + x];
                dst[oy * OW + ox] = s / (float)((y1 - y0) * (x1 - x0));
            }
    }
}

static void avgpool2d_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                               const float *in, const float *out, const float *params,
                               const cnn_layer_ctx *ctx)
{
    (void)dparams;
    (void)in;
    (void)out;
    (void)params;
    if (!din) return;
    int H = L->in.h, W = L->in.w, OH = L->out.h, OW = L->out.w;
    size_t planes = (size_t)ctx->n * L->in.c;
    memset(din, 0, planes * H * W * sizeof *din);
    for (size_t p = 0; p < planes; p++) {
        const float *g = dout + p * OH * OW;
        float *d = din + p * H * W;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int y0, y1, x0, x1;
                pool_window(L, oy, ox, &y0, &y1, &x0, &x1);
                float v = g[oy * OW + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) d[y * W + x] += v;
            }
    }
}

const cnn_layer_ops cnn_maxpool2d_ops = {
    .type = "MaxPooling2D",
    .auto_name = "max_pooling2d",
    .fields = pool2d_fields,
    .window_key = "pool_size",
    .infer = pool2d_infer,
    .state_size = maxpool2d_state_size,
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
};

const cnn_layer_ops cnn_avgpool2d_ops = {
    .type = "AveragePooling2D",
    .auto_name = "average_pooling2d",
    .fields = pool2d_fields,
    .window_key = "pool_size",
    .infer = pool2d_infer,
    .forward = avgpool2d_forward,
    .backward = avgpool2d_backward,
};
