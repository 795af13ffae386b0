/* Dense: a fully connected layer over a flat input; kernel (units, inputs).
 * The forward pass is a kernel of ours (below: each output's arithmetic is
 * the same whatever the batch and the thread count); the backward pass is
 * GEMMs over the whole batch.  Both are shared out over libcnn's threads. */
#include "layer.h"

#include <string.h>

#include "cpu.h"
#include "avx512.h"
#include "blas.h"
#include "threads.h"

static const cnn_field dense_fields[] = {
    {"units", CNN_FIELD_INT, CNN_AT(units), CNN_REQUIRED, 1, 0, NULL, NULL, 0, NULL},
    {"use_bias", CNN_FIELD_BOOL, CNN_AT(use_bias), 1, 0, 0, NULL, NULL, 0, NULL},
    {"activation", CNN_FIELD_ENUM, CNN_AT(activation), CNN_ACT_LINEAR, 0, 0,
     cnn_activation_names, NULL, 0, NULL},
    {NULL},
};

static int dense_infer(cnn_layer *L, cnn_error *err)
{
    if (!L->in.flat)
        return cnn_errorf(err,
                          "Dense needs a flat input but gets (None, %d, %d, %d): add Flatten "
                          "(or a global pooling layer) before it",
                          L->in.h, L->in.w, L->in.c);
    L->out = (cnn_shape){.c = L->units, .h = 1, .w = 1, .flat = 1};
    L->nparams = (size_t)L->in.c * L->units + (L->use_bias ? (size_t)L->units : 0);
    L->ntrainable = L->nparams;
    return 0;
}

static int dense_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    size_t nk = (size_t)L->in.c * L->units;
    t[0] = (cnn_tensor_info){"kernel", 2, {L->units, L->in.c}, 0, nk, 1, CNN_ROLE_KERNEL};
    if (!L->use_bias) return 1;
    t[1] = (cnn_tensor_info){"bias", 1, {L->units}, nk, (size_t)L->units, 1, CNN_ROLE_BIAS};
    return 2;
}

static double dense_macs(const cnn_layer *L)
{
    return (double)L->in.c * L->units;
}

/* ---- math ------------------------------------------------------------------ */

/* One pass over a batch, shared out over libcnn's threads: by images for the
 * output and the input gradient, by units for the parameter gradients (so
 * each thread writes its own rows and nothing needs combining). */
typedef struct {
    const cnn_layer *L;
    int n;
    float *out, *din, *dw, *db;
    const float *in, *dout, *w, *bias;
} dense_job;

/* ---- forward kernel ---------------------------------------------------------
 * out[b][u] = bias[u] + in[b] . w[u], each dot product summed in one fixed
 * order: eight partial sums over k mod 8, added pairwise, then the k left
 * over one by one.  An answer so depends only on its image and the weights,
 * never on the batch around it or on how the batch is shared out, so one
 * image alone, in a batch, and with any --threads gives the same bits.
 * OpenBLAS's sgemm does not: its kernels round a row differently with the
 * number of rows (measured with OPENBLAS_CORETYPE=Haswell: 648 of 10,000
 * MNIST answers changed between one and two threads).
 *
 * Blocks of 4 images x 2 units share their loads; the edges run the same
 * arithmetic one output at a time.  On x86-64 a second copy is compiled for
 * AVX2 (x86-64-v3) and picked at run time (cpu.h); -std=c11 keeps the compiler from
 * fusing a*b+c, so each copy rounds as written. */
typedef float v8f __attribute__((vector_size(32)));

/* (A macro: a function returning a v8f would change the ABI without AVX.) */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8f))

/* The eight partial sums added pairwise, then the tail x[k] w[k], k >= k8. */
/* always_inline, here and below: compiled into each copy (dense_rows,
 * dense_rows_v3, dense_rows_512), not called as the default x86-64 code. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE float finish_dot(const v8f *acc, const float *x, const float *w, int k8, int n)
{
    float l[8];
    memcpy(l, acc, sizeof l);
    float s = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
    for (int k = k8; k < n; k++) s += x[k] * w[k];
    return s;
}

/* out (4 rows of nu) for the images at x (4 rows of ni) and units w0, w1. */
static ALWAYS_INLINE void dot_4x2(float *out, int nu, const float *x, int ni, const float *w0,
                           const float *b2)
{
    const float *w1 = w0 + ni, *xs[4] = {x, x + ni, x + 2 * (size_t)ni, x + 3 * (size_t)ni};
    int k8 = ni & ~7;
    v8f a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
    for (int k = 0; k < k8; k += 8) {
        v8f p, q, v;
        LOAD8(p, w0 + k), LOAD8(q, w1 + k);
        LOAD8(v, xs[0] + k), a00 += v * p, a01 += v * q;
        LOAD8(v, xs[1] + k), a10 += v * p, a11 += v * q;
        LOAD8(v, xs[2] + k), a20 += v * p, a21 += v * q;
        LOAD8(v, xs[3] + k), a30 += v * p, a31 += v * q;
    }
    v8f acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            out[(size_t)i * nu + j] = b2[j] + finish_dot(&acc[i][j], xs[i], j ? w1 : w0, k8, ni);
}

static ALWAYS_INLINE float dot_1x1(const float *x, const float *w, int ni)
{
    int k8 = ni & ~7;
    v8f a = {0}, v, p;
    for (int k = 0; k < k8; k += 8) LOAD8(v, x + k), LOAD8(p, w + k), a += v * p;
    return finish_dot(&a, x, w, k8, ni);
}

/* The edges both kernels share: units [u, nu) of the 4 images at x (out at
 * their first output), two at a time and then one. */
static ALWAYS_INLINE void units_4(float *out, const float *x,
                                                          const float *w, const float *bias,
                                                          int u, int ni, int nu)
{
    for (; u + 2 <= nu; u += 2) {
        float b2[2] = {bias ? bias[u] : 0.0f, bias ? bias[u + 1] : 0.0f};
        dot_4x2(out + u, nu, x, ni, w + (size_t)u * ni, b2);
    }
    for (; u < nu; u++)
        for (size_t i = 0; i < 4; i++)
            out[i * nu + u] = (bias ? bias[u] : 0.0f) + dot_1x1(x + i * ni, w + (size_t)u * ni, ni);
}

/* n images one at a time, every unit. */
static ALWAYS_INLINE void rows_1(float *out, const float *in,
                                                         const float *w, const float *bias,
                                                         size_t n, int ni, int nu)
{
    for (size_t b = 0; b < n; b++)
        for (int u = 0; u < nu; u++)
            out[b * nu + u] = (bias ? bias[u] : 0.0f) + dot_1x1(in + b * ni, w + (size_t)u * ni, ni);
}

static ALWAYS_INLINE void rows_4_then_1(float *out, const float *in, const float *w,
                                        const float *bias, size_t n, int ni, int nu)
{
    size_t b = 0;
    for (; b + 4 <= n; b += 4) units_4(out + b * nu, in + b * ni, w, bias, 0, ni, nu);
    rows_1(out + b * nu, in + b * ni, w, bias, n - b, ni, nu);
}

static void dense_rows(float *out, const float *in, const float *w, const float *bias, size_t n,
                       int ni, int nu)
{
    rows_4_then_1(out, in, w, bias, n, ni, nu);
}

#if defined(__x86_64__) && defined(__GNUC__) /* (also with -DCNN_NO_AVX512) */
#define DENSE_V3 1
__attribute__((target("arch=x86-64-v3"))) static void dense_rows_v3(
    float *out, const float *in, const float *w, const float *bias, size_t n, int ni, int nu)
{
    rows_4_then_1(out, in, w, bias, n, ni, nu);
}
#endif

#if CNN_AVX512
/* With AVX-512 (avx512.h), blocks of 4 images x 4 units: a 16-lane register
 * holds two images' eight partial sums, so each lane adds the same products
 * in the same order as dot_4x2's, and the lanes are finished by finish_dot. */

/* The eight floats at a, then the eight at b. */
CNN_TARGET_AVX512 static inline __m512 load_8_8(const float *a, const float *b)
{
    __m512d lo = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a)));
    return _mm512_castpd_ps(_mm512_insertf64x4(lo, _mm256_castps_pd(_mm256_loadu_ps(b)), 1));
}

/* The eight floats at a, twice. */
CNN_TARGET_AVX512 static inline __m512 load_8_twice(const float *a)
{
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(a))));
}

/* a + x * w, rounded twice (a multiply, then an add: as the v8f code). */
CNN_TARGET_AVX512 static inline __m512 mul_add(__m512 a, __m512 x, __m512 w)
{
    return _mm512_add_ps(a, _mm512_mul_ps(x, w));
}

/* out (4 rows of nu) for the images at x (4 rows of ni) and units w (4 rows of ni). */
CNN_TARGET_AVX512 static void dot_4x4_512(float *out, int nu, const float *x, int ni,
                                          const float *w, const float *b4)
{
    const float *xs[4] = {x, x + ni, x + 2 * (size_t)ni, x + 3 * (size_t)ni};
    const float *ws[4] = {w, w + ni, w + 2 * (size_t)ni, w + 3 * (size_t)ni};
    int k8 = ni & ~7;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    for (int k = 0; k < k8; k += 8) {
        __m512 x01 = load_8_8(xs[0] + k, xs[1] + k), x23 = load_8_8(xs[2] + k, xs[3] + k), v;
        v = load_8_twice(ws[0] + k);
        a0 = mul_add(a0, x01, v), c0 = mul_add(c0, x23, v);
        v = load_8_twice(ws[1] + k);
        a1 = mul_add(a1, x01, v), c1 = mul_add(c1, x23, v);
        v = load_8_twice(ws[2] + k);
        a2 = mul_add(a2, x01, v), c2 = mul_add(c2, x23, v);
        v = load_8_twice(ws[3] + k);
        a3 = mul_add(a3, x01, v), c3 = mul_add(c3, x23, v);
    }
    float l[4][2][16]; /* [unit][image pair][lane] */
    _mm512_storeu_ps(l[0][0], a0), _mm512_storeu_ps(l[0][1], c0);
    _mm512_storeu_ps(l[1][0], a1), _mm512_storeu_ps(l[1][1], c1);
    _mm512_storeu_ps(l[2][0], a2), _mm512_storeu_ps(l[2][1], c2);
    _mm512_storeu_ps(l[3][0], a3), _mm512_storeu_ps(l[3][1], c3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            v8f acc;
            memcpy(&acc, &l[j][i / 2][8 * (i % 2)], sizeof acc);
            out[(size_t)i * nu + j] = b4[j] + finish_dot(&acc, xs[i], ws[j], k8, ni);
        }
}

/* dense_rows with 4 x 4 blocks where they fit; the edges as dense_rows does. */
CNN_TARGET_AVX512 static void dense_rows_512(float *out, const float *in, const float *w,
                                             const float *bias, size_t n, int ni, int nu)
{
    size_t b = 0;
    for (; b + 4 <= n; b += 4) {
        const float *x = in + b * ni;
        int u = 0;
        for (; u + 4 <= nu; u += 4) {
            float b4[4];
            for (int i = 0; i < 4; i++) b4[i] = bias ? bias[u + i] : 0.0f;
            dot_4x4_512(out + b * nu + u, nu, x, ni, w + (size_t)u * ni, b4);
        }
        units_4(out + b * nu, x, w, bias, u, ni, nu);
    }
    rows_1(out + b * nu, in + b * ni, w, bias, n - b, ni, nu);
}
#endif

/* out[b0:b1] (rows, NU) = in[b0:b1] (rows, NI) x w^T (NI, NU) + bias */
static void forward_share(void *arg, int i, int t)
{
    const dense_job *j = arg;
    int NI = j->L->in.c, NU = j->L->units;
    size_t b0, b1;
    cnn_share((size_t)j->n, i, t, &b0, &b1);
    if (b0 >= b1) return;
#if CNN_AVX512
    if (cnn_avx512()) {
        dense_rows_512(j->out + b0 * NU, j->in + b0 * NI, j->w, j->bias, b1 - b0, NI, NU);
        return;
    }
#endif
#ifdef DENSE_V3
    if (cnn_cpu_x86_64_v3()) {
        dense_rows_v3(j->out + b0 * NU, j->in + b0 * NI, j->w, j->bias, b1 - b0, NI, NU);
        return;
    }
#endif
    dense_rows(j->out + b0 * NU, j->in + b0 * NI, j->w, j->bias, b1 - b0, NI, NU);
}

static void dense_forward(const cnn_layer *L, float *out, const float *in, float *params,
                          const cnn_layer_ctx *ctx)
{
    int NI = L->in.c, NU = L->units;
    dense_job j = {.L = L, .n = ctx->n, .out = out, .in = in,
                   .w = params,                                             /* (NU, NI) */
                   .bias = L->use_bias ? params + (size_t)NU * NI : NULL}; /* (NU) */
    cnn_parallel_run(ctx->n, forward_share, &j);
}

/* dw[u0:u1] (rows, NI) += dout[:, u0:u1]^T (rows, n) x in (n, NI), db[u0:u1];
 * din[b0:b1] (rows, NI) = dout[b0:b1] (rows, NU) x w (NU, NI). */
static void backward_share(void *arg, int i, int t)
{
    const dense_job *j = arg;
    int n = j->n, NI = j->L->in.c, NU = j->L->units;
    size_t u0, u1, b0, b1;
    cnn_share((size_t)NU, i, t, &u0, &u1);
    if (u0 < u1) {
        cnn_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(u1 - u0), NI, n, 1.0f,
                  j->dout + u0, NU, j->in, NI, 1.0f, j->dw + u0 * NI, NI);
        if (j->db)
            for (int b = 0; b < n; b++)
                for (size_t u = u0; u < u1; u++) j->db[u] += j->dout[(size_t)b * NU + u];
    }
    cnn_share((size_t)n, i, t, &b0, &b1);
    if (j->din && b0 < b1)
        cnn_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(b1 - b0), NI, NU, 1.0f,
                  j->dout + b0 * NU, NU, j->w, NI, 0.0f, j->din + b0 * NI, NI);
}

static void dense_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                           const float *in, const float *out, const float *params,
                           const cnn_layer_ctx *ctx)
{
    (void)out;
    int NI = L->in.c, NU = L->units;
    dense_job j = {.L = L, .n = ctx->n, .din = din, .in = in, .dout = dout,
                   .w = params,                                            /* (NU, NI) */
                   .dw = dparams,                                          /* (NU, NI) */
                   .db = L->use_bias ? dparams + (size_t)NU * NI : NULL}; /* (NU) */
    cnn_parallel_run(ctx->n > NU ? ctx->n : NU, backward_share, &j);
}

/* The forward pass is a kernel of libcnn's own; backward uses OpenBLAS. */
static int dense_uses_blas(const cnn_layer *L, int backward)
{
    (void)L;
    return backward;
}

const cnn_layer_ops cnn_dense_ops = {
    .type = "Dense",
    .auto_name = "dense",
    .fields = dense_fields,
    .infer = dense_infer,
    .tensors = dense_tensors,
    .macs = dense_macs,
    .uses_blas = dense_uses_blas,
    .forward = dense_forward,
    .backward = dense_backward,
};
