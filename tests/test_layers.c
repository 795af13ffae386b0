/* Each fast layer against a plain nested-loop reference (in double, here in
 * the test only): forward, and backward for the input and parameter
 * gradients, on random inputs of various shapes, to 1e-5 relative (the
 * largest difference over the largest reference value of the tensor). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnn.h"
#include "xsmm.h" /* internal: which kernels the conv layers use */

#if defined(__has_include)
#if __has_include(<libxsmm.h>)
#include <libxsmm.h>
#define HAVE_LIBXSMM_H 1
#endif
#endif

#define TOL 1e-5

static cnn_rng rng;

static float *rand_buf(size_t n, double lo, double hi)
{
    float *x = malloc((n + 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * cnn_rng_uniform(&rng));
    return x;
}

static double *zeros(size_t n)
{
    return calloc(n + 1, sizeof(double));
}

/* max |a - e| / max(max |e|, 1e-30) */
static double rel_err(const float *a, const double *e, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - e[i]));
        s = fmax(s, fabs(e[i]));
    }
    return d / fmax(s, 1e-30);
}

#define CHECK_REL(what, a, e, n)                                                           \
    do {                                                                                   \
        double r_ = rel_err(a, e, n);                                                      \
        if (!(r_ <= TOL)) CHECK_FAIL_("%s: %s differs from the reference by %.3g relative", \
                                      desc, what, r_);                                     \
    } while (0)

/* The padding before the first row/column, from Keras' rule, computed here
 * independently of the library. */
static int pad_before(int in, int k, int s, int same)
{
    if (!same) return 0;
    int out = (in + s - 1) / s;
    int total = (out - 1) * s + k - in;
    return total > 0 ? total / 2 : 0;
}

/* A one-layer net from a layer's JSON, batch n, run forward on random input,
 * then backward from the pre-activation seeded with random dout. */
typedef struct {
    cnn_model *m;
    cnn_net *net;
    const cnn_layer *L;
    int n;
    size_t nin, nout;
    float *x, *dout, *dx, *params, *grads;
} one;

static int one_new(one *o, const char *input, const char *layer, int n, int training)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"input_shape\": %s, \"layers\": [%s]}", input, layer);
    cnn_error err;
    memset(o, 0, sizeof *o);
    if (cnn_model_parse(text, strlen(text), "layers.json", &o->m, &err) ||
        cnn_net_new(o->m, n, &o->net, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    o->L = &o->m->layers[0];
    o->n = n;
    o->nin = cnn_shape_size(o->L->in) * n;
    o->nout = cnn_shape_size(o->L->out) * n;
    cnn_net_init(o->net, CNN_INIT_GLOROT_UNIFORM, &rng);
    o->params = cnn_net_params(o->net);
    for (size_t i = 0; i < o->m->nparams; i++)
        o->params[i] = (float)(2.0 * cnn_rng_uniform(&rng) - 1.0);
    o->x = rand_buf(o->nin, -1, 1);
    o->dout = rand_buf(o->nout, -1, 1);
    o->dx = malloc(o->nin * sizeof(float));
    cnn_rng drop;
    cnn_rng_seed(&drop, 5);
    if (cnn_net_forward(o->net, o->x, (size_t)n * cnn_net_input_size(o->net), n, training, &drop,
                        &err))
        return -1;
    cnn_net_zero_grads(o->net);
    memcpy(cnn_net_grad_at(o->net, 0, 1), o->dout, o->nout * sizeof(float));
    if (cnn_net_backward(o->net, n, 0, 1, o->dx, (size_t)n * cnn_net_input_size(o->net), &err))
        return -1;
    o->grads = cnn_net_grads(o->net);
    return 0;
}

static void one_free(one *o)
{
    free(o->x);
    free(o->dout);
    free(o->dx);
    cnn_net_free(o->net);
    cnn_model_free(o->m);
}

/* ---- Conv2D ---------------------------------------------------------------- */

static void conv_case(const char *input, const char *layer, int n)
{
    one o;
    const char *desc = layer;
    if (one_new(&o, input, layer, n, 0)) {
        CHECK_FAIL_("%s: could not build", layer);
        return;
    }
    const cnn_layer *L = o.L;
    int C = L->in.c, H = L->in.h, W = L->in.w, O = L->units, KH = L->kernel[0], KW = L->kernel[1];
    int SH = L->stride[0], SW = L->stride[1], OH = L->out.h, OW = L->out.w;
    int same = L->padding == CNN_PAD_SAME;
    int PT = pad_before(H, KH, SH, same), PL = pad_before(W, KW, SW, same);
    const float *w = o.params, *bias = L->use_bias ? o.params + (size_t)O * C * KH * KW : NULL;
    double *out = zeros(o.nout), *dx = zeros(o.nin), *dw = zeros((size_t)O * C * KH * KW),
           *db = zeros((size_t)O);
    for (int b = 0; b < n; b++)
        for (int oc = 0; oc < O; oc++)
            for (int y = 0; y < OH; y++)
                for (int x = 0; x < OW; x++) {
                    size_t oi = (((size_t)b * O + oc) * OH + y) * OW + x;
                    double s = bias ? bias[oc] : 0, g = o.dout[oi];
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < KH; ky++)
                            for (int kx = 0; kx < KW; kx++) {
                                int iy = y * SH - PT + ky, ix = x * SW - PL + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t ii = (((size_t)b * C + c) * H + iy) * W + ix;
                                size_t wi = (((size_t)oc * C + c) * KH + ky) * KW + kx;
                                s += (double)w[wi] * o.x[ii];
                                dx[ii] += g * w[wi];
                                dw[wi] += g * o.x[ii];
                            }
                    out[oi] = s;
                    db[oc] += g;
                }
    CHECK_REL("output", cnn_net_preact(o.net, 0), out, o.nout);
    CHECK_REL("input gradient", o.dx, dx, o.nin);
    CHECK_REL("kernel gradient", o.grads, dw, (size_t)O * C * KH * KW);
    if (bias) CHECK_REL("bias gradient", o.grads + (size_t)O * C * KH * KW, db, (size_t)O);
    free(out), free(dx), free(dw), free(db);
    one_free(&o);
}

static void conv2d_matches_reference(void)
{
    conv_case("[28, 28, 1]", "{\"type\": \"Conv2D\", \"filters\": 25, \"kernel_size\": 3}", 4);
    conv_case("[13, 13, 25]", "{\"type\": \"Conv2D\", \"filters\": 50, \"kernel_size\": 3}", 3);
    conv_case("[9, 8, 3]", "{\"type\": \"Conv2D\", \"filters\": 4, \"kernel_size\": [2, 5],"
                           " \"strides\": [2, 1], \"padding\": \"same\"}", 2);
    conv_case("[7, 11, 2]", "{\"type\": \"Conv2D\", \"filters\": 3, \"kernel_size\": [4, 3],"
                            " \"strides\": [3, 2], \"padding\": \"same\", \"use_bias\": false}",
              3);
    conv_case("[6, 5, 3]", "{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": [1, 1],"
                           " \"strides\": 2}", 2);
}

/* An image's pre-activations in `layer` of the model `text` (input `in`
 * floats, layer output `out` floats) are the same bits alone as in a batch of
 * n, on 1, 2 and 3 threads. */
static void batch_agrees_with_alone(const char *text, int n, size_t in, size_t out, int layer)
{
    cnn_model *m;
    cnn_net *batch, *alone;
    cnn_error err;
    if (cnn_model_parse(text, strlen(text), "b.json", &m, &err) ||
        cnn_net_new(m, n, &batch, &err) || cnn_net_new(m, 1, &alone, &err)) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    float *p = cnn_net_params(batch);
    for (size_t i = 0; i < m->nparams; i++) p[i] = (float)(2.0 * cnn_rng_uniform(&rng) - 1.0);
    memcpy(cnn_net_params(alone), p, m->nparams * sizeof(float));
    float *x = rand_buf((size_t)n * in, -1, 1), *want = malloc((size_t)n * out * sizeof *want);
    int saved = cnn_get_threads();
    for (int b = 0; b < n; b++) {
        CHECK(cnn_net_forward(alone, x + (size_t)b * in, in, 1, 0, NULL, &err) == 0);
        memcpy(want + (size_t)b * out, cnn_net_preact(alone, layer), out * sizeof *want);
    }
    for (int t = 1; t <= 3; t++) {
        cnn_set_threads(t);
        CHECK(cnn_net_forward(batch, x, (size_t)n * in, n, 0, NULL, &err) == 0);
        const float *got = cnn_net_preact(batch, layer);
        int differ = 0;
        for (int b = 0; b < n; b++)
            differ += memcmp(want + (size_t)b * out, got + (size_t)b * out, out * sizeof *got) != 0;
        if (differ)
            CHECK_FAIL_("%d threads: %d of %d images differ from the image alone", t, differ, n);
    }
    cnn_set_threads(saved);
    free(x);
    free(want);
    cnn_net_free(batch);
    cnn_net_free(alone);
    cnn_model_free(m);
}

/* The lecture model's second convolution: an image's output is the same bits
 * alone as in a batch of 7 on 1 to 3 threads (one kernel per image shape,
 * whichever GEMM library runs it). */
static void conv2d_answers_do_not_depend_on_the_batch(void)
{
    batch_agrees_with_alone("{\"input_shape\": [13, 13, 25], \"layers\": [{\"type\": \"Conv2D\", "
                            "\"filters\": 50, \"kernel_size\": 3, \"activation\": \"relu\"}]}",
                            7, 13 * 13 * 25, 11 * 11 * 50, 0);
}

/* ---- pooling ----------------------------------------------------------------- */

static void pool_case(const char *input, const char *layer, int n)
{
    one o;
    const char *desc = layer;
    if (one_new(&o, input, layer, n, 0)) {
        CHECK_FAIL_("%s: could not build", layer);
        return;
    }
    const cnn_layer *L = o.L;
    int is_max = strstr(layer, "Max") != NULL;
    int C = L->in.c, H = L->in.h, W = L->in.w, KH = L->kernel[0], KW = L->kernel[1];
    int SH = L->stride[0], SW = L->stride[1], OH = L->out.h, OW = L->out.w;
    int same = L->padding == CNN_PAD_SAME;
    int PT = pad_before(H, KH, SH, same), PL = pad_before(W, KW, SW, same);
    double *out = zeros(o.nout), *dx = zeros(o.nin);
    for (int b = 0; b < n; b++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < OH; y++)
                for (int x = 0; x < OW; x++) {
                    size_t oi = (((size_t)b * C + c) * OH + y) * OW + x;
                    double best = -INFINITY, sum = 0;
                    size_t arg = 0;
                    int count = 0;
                    for (int ky = 0; ky < KH; ky++)
                        for (int kx = 0; kx < KW; kx++) {
                            int iy = y * SH - PT + ky, ix = x * SW - PL + kx;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            size_t ii = (((size_t)b * C + c) * H + iy) * W + ix;
                            if (o.x[ii] > best) best = o.x[ii], arg = ii;
                            sum += o.x[ii];
                            count++;
                        }
                    if (is_max) {
                        out[oi] = best;
                        dx[arg] += o.dout[oi];
                    } else {
                        out[oi] = sum / count;
                        for (int ky = 0; ky < KH; ky++)
                            for (int kx = 0; kx < KW; kx++) {
                                int iy = y * SH - PT + ky, ix = x * SW - PL + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                dx[(((size_t)b * C + c) * H + iy) * W + ix] +=
                                    (double)o.dout[oi] / count;
                            }
                    }
                }
    CHECK_REL("output", cnn_net_preact(o.net, 0), out, o.nout);
    CHECK_REL("input gradient", o.dx, dx, o.nin);
    free(out), free(dx);
    one_free(&o);
}

static void pooling_matches_reference(void)
{
    const char *kinds[] = {"MaxPooling2D", "AveragePooling2D"};
    for (int k = 0; k < 2; k++) {
        char l[256];
        snprintf(l, sizeof l, "{\"type\": \"%s\", \"pool_size\": 2}", kinds[k]);
        pool_case("[26, 26, 25]", l, 3);
        pool_case("[11, 11, 50]", l, 2);
        snprintf(l, sizeof l, "{\"type\": \"%s\", \"pool_size\": [3, 2], \"strides\": [2, 3],"
                              " \"padding\": \"same\"}", kinds[k]);
        pool_case("[9, 10, 3]", l, 2);
        snprintf(l, sizeof l, "{\"type\": \"%s\", \"pool_size\": 3, \"strides\": 1,"
                              " \"padding\": \"same\"}", kinds[k]);
        pool_case("[5, 4, 2]", l, 2);
        snprintf(l, sizeof l, "{\"type\": \"%s\", \"pool_size\": [2, 4], \"strides\": 3}",
                 kinds[k]);
        pool_case("[8, 9, 2]", l, 2);
    }
}

static void global_case(const char *input, int is_max, int n)
{
    one o;
    const char *desc = is_max ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D";
    char layer[128];
    snprintf(layer, sizeof layer, "{\"type\": \"%s\"}", desc);
    if (one_new(&o, input, layer, n, 0)) {
        CHECK_FAIL_("%s: could not build", layer);
        return;
    }
    size_t hw = (size_t)o.L->in.h * o.L->in.w, planes = (size_t)n * o.L->in.c;
    double *out = zeros(o.nout), *dx = zeros(o.nin);
    for (size_t p = 0; p < planes; p++) {
        double best = -INFINITY, sum = 0;
        size_t arg = 0;
        for (size_t i = 0; i < hw; i++) {
            if (o.x[p * hw + i] > best) best = o.x[p * hw + i], arg = i;
            sum += o.x[p * hw + i];
        }
        out[p] = is_max ? best : sum / hw;
        for (size_t i = 0; i < hw; i++)
            dx[p * hw + i] = is_max ? (i == arg ? o.dout[p] : 0) : o.dout[p] / (double)hw;
    }
    CHECK_REL("output", cnn_net_preact(o.net, 0), out, o.nout);
    CHECK_REL("input gradient", o.dx, dx, o.nin);
    free(out), free(dx);
    one_free(&o);
}

static void global_pooling_matches_reference(void)
{
    global_case("[5, 7, 3]", 1, 3);
    global_case("[5, 7, 3]", 0, 3);
    global_case("[1, 1, 4]", 1, 2);
    global_case("[11, 11, 50]", 0, 2);
}

/* ---- Dense, Flatten -------------------------------------------------------------- */

static void dense_case(int inputs, int units, int use_bias, int n)
{
    one o;
    char input[64], layer[128];
    snprintf(input, sizeof input, "[1, 1, %d]", inputs);
    snprintf(layer, sizeof layer, "{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": %d,"
                                  " \"use_bias\": %s}", units, use_bias ? "true" : "false");
    const char *desc = layer;
    /* the Dense is layer 1 here; run it from its pre-activation */
    char text[512];
    snprintf(text, sizeof text, "{\"input_shape\": %s, \"layers\": [%s]}", input, layer);
    cnn_error err;
    memset(&o, 0, sizeof o);
    if (cnn_model_parse(text, strlen(text), "d.json", &o.m, &err) ||
        cnn_net_new(o.m, n, &o.net, &err)) {
        CHECK_FAIL_("%s: %s", layer, err.msg);
        return;
    }
    float *p = cnn_net_params(o.net);
    for (size_t i = 0; i < o.m->nparams; i++) p[i] = (float)(2.0 * cnn_rng_uniform(&rng) - 1.0);
    size_t nin = (size_t)n * inputs, nout = (size_t)n * units;
    float *x = rand_buf(nin, -1, 1), *dout = rand_buf(nout, -1, 1), *dxa = malloc(nin * 4);
    CHECK(cnn_net_forward(o.net, x, (size_t)n * cnn_net_input_size(o.net), n, 0, NULL, &err) == 0);
    cnn_net_zero_grads(o.net);
    memcpy(cnn_net_grad_at(o.net, 1, 1), dout, nout * sizeof(float));
    CHECK(cnn_net_backward(o.net, n, 1, 1, dxa, (size_t)n * cnn_net_input_size(o.net), &err) == 0);
    const float *g = cnn_net_grads(o.net);
    double *out = zeros(nout), *dx = zeros(nin), *dw = zeros((size_t)units * inputs),
           *db = zeros((size_t)units);
    for (int b = 0; b < n; b++)
        for (int u = 0; u < units; u++) {
            double s = use_bias ? p[(size_t)units * inputs + u] : 0;
            for (int i = 0; i < inputs; i++) {
                s += (double)p[(size_t)u * inputs + i] * x[(size_t)b * inputs + i];
                dx[(size_t)b * inputs + i] +=
                    (double)dout[(size_t)b * units + u] * p[(size_t)u * inputs + i];
                dw[(size_t)u * inputs + i] +=
                    (double)dout[(size_t)b * units + u] * x[(size_t)b * inputs + i];
            }
            out[(size_t)b * units + u] = s;
            db[u] += dout[(size_t)b * units + u];
        }
    CHECK_REL("output", cnn_net_preact(o.net, 1), out, nout);
    CHECK_REL("input gradient", dxa, dx, nin);
    CHECK_REL("kernel gradient", g, dw, (size_t)units * inputs);
    if (use_bias) CHECK_REL("bias gradient", g + (size_t)units * inputs, db, (size_t)units);
    free(x), free(dout), free(dxa), free(out), free(dx), free(dw), free(db);
    cnn_net_free(o.net);
    cnn_model_free(o.m);
}

static void dense_matches_reference(void)
{
    dense_case(1250, 100, 1, 8);
    dense_case(100, 10, 1, 5);
    dense_case(7, 3, 0, 1);
    dense_case(33, 17, 1, 13);
}

/* Each Dense answer depends on its image and the weights only: one image
 * alone, the same image in a batch of 29 (blocks of 4 and a tail), and the
 * batch on 1, 2 and 3 threads give the same bits.  (OpenBLAS's sgemm rounds a
 * row differently with the number of rows it is given: with
 * OPENBLAS_CORETYPE=Haswell, set for the tests, rows 4 and up of a 5-row
 * product differ from the same rows computed alone.) */
static void dense_answers_do_not_depend_on_the_batch(void)
{
    batch_agrees_with_alone("{\"input_shape\": [1, 1, 1251], \"layers\": [{\"type\": "
                            "\"Flatten\"}, {\"type\": \"Dense\", \"units\": 37}]}",
                            29, 1251, 37, 1);
}

static void flatten_is_channel_major(void)
{
    one o;
    const char *desc = "Flatten";
    if (one_new(&o, "[3, 4, 5]", "{\"type\": \"Flatten\"}", 2, 0)) {
        CHECK_FAIL_("could not build");
        return;
    }
    /* NCHW is already (C*H*W) per image, in PyTorch's flatten order */
    double *e = zeros(o.nout), *dx = zeros(o.nin);
    for (size_t i = 0; i < o.nout; i++) e[i] = o.x[i], dx[i] = o.dout[i];
    CHECK_REL("output", cnn_net_preact(o.net, 0), e, o.nout);
    CHECK_REL("input gradient", o.dx, dx, o.nin);
    free(e), free(dx);
    one_free(&o);
}

/* ---- activations ------------------------------------------------------------ */

static double ref_act(int act, double z)
{
    switch (act) {
    case CNN_ACT_RELU: return z > 0 ? z : 0;
    case CNN_ACT_SIGMOID: return 1 / (1 + exp(-z));
    case CNN_ACT_TANH: return tanh(z);
    default: return z;
    }
}

static void activations_match_reference(void)
{
    for (int act = 0; cnn_activation_names[act]; act++) {
        char layer[128];
        const char *desc = cnn_activation_names[act];
        snprintf(layer, sizeof layer, "{\"type\": \"Activation\", \"activation\": \"%s\"}",
                 cnn_activation_names[act]);
        one o;
        if (one_new(&o, "[3, 2, 4]", layer, 3, 0)) {
            CHECK_FAIL_("%s: could not build", layer);
            continue;
        }
        /* output after the activation, and the gradient through it from the output */
        const float *y = cnn_net_output(o.net, 0);
        double *e = zeros(o.nout), *dz = zeros(o.nin);
        int C = 4, HW = 6;
        for (int b = 0; b < 3; b++)
            for (int p = 0; p < HW; p++) {
                if (act == CNN_ACT_SOFTMAX) {
                    double s = 0;
                    for (int c = 0; c < C; c++) s += exp(o.x[(b * C + c) * HW + p]);
                    for (int c = 0; c < C; c++)
                        e[(b * C + c) * HW + p] = exp(o.x[(b * C + c) * HW + p]) / s;
                } else {
                    for (int c = 0; c < C; c++)
                        e[(b * C + c) * HW + p] = ref_act(act, o.x[(b * C + c) * HW + p]);
                }
            }
        CHECK_REL("output", y, e, o.nout);
        /* backward from the output: dz = J^T g */
        float *g = cnn_net_grad_at(o.net, 0, 0);
        memcpy(g, o.dout, o.nout * sizeof(float));
        cnn_error err;
        CHECK(cnn_net_backward(o.net, 3, 0, 0, o.dx, (size_t)3 * cnn_net_input_size(o.net), &err) ==
              0);
        for (int b = 0; b < 3; b++)
            for (int p = 0; p < HW; p++)
                for (int c = 0; c < C; c++) {
                    size_t i = (size_t)(b * C + c) * HW + p;
                    double z = o.x[i], d;
                    switch (act) {
                    case CNN_ACT_RELU: d = z > 0; break;
                    case CNN_ACT_SIGMOID: d = e[i] * (1 - e[i]); break;
                    case CNN_ACT_TANH: d = 1 - e[i] * e[i]; break;
                    case CNN_ACT_SOFTMAX: d = 0; break;
                    default: d = 1;
                    }
                    if (act != CNN_ACT_SOFTMAX) {
                        dz[i] = d * o.dout[i];
                    } else {
                        for (int k = 0; k < C; k++) {
                            size_t j = (size_t)(b * C + k) * HW + p;
                            dz[i] += o.dout[j] * e[j] * ((k == c) - e[i]);
                        }
                    }
                }
        CHECK_REL("input gradient", o.dx, dz, o.nin);
        free(e), free(dz);
        one_free(&o);
    }
}

/* ---- BatchNormalization, Dropout -------------------------------------------------- */

static void bn_case(const char *input, int n, int training)
{
    one o;
    const char *desc = training ? "BatchNormalization (training)" : "BatchNormalization";
    if (one_new(&o, input, "{\"type\": \"BatchNormalization\"}", n, training)) {
        CHECK_FAIL_("could not build");
        return;
    }
    int C = o.L->in.c;
    size_t hw = (size_t)o.L->in.h * o.L->in.w;
    double M = (double)n * hw, eps = 1e-3;
    /* the parameters before the forward's moving-average update */
    const float *P = o.params;
    double *out = zeros(o.nout), *dx = zeros(o.nin), *dg = zeros(C), *dbt = zeros(C);
    for (int c = 0; c < C; c++) {
        double mean = 0, var = 0;
        if (training) {
            for (int b = 0; b < n; b++)
                for (size_t i = 0; i < hw; i++) mean += o.x[((size_t)b * C + c) * hw + i];
            mean /= M;
            for (int b = 0; b < n; b++)
                for (size_t i = 0; i < hw; i++) {
                    double d = o.x[((size_t)b * C + c) * hw + i] - mean;
                    var += d * d;
                }
            var /= M;
        } else {
            mean = P[2 * C + c];
            var = P[3 * C + c];
        }
        double istd = 1 / sqrt(var + eps), gamma = P[c], beta = P[C + c];
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < hw; i++) {
                size_t k = ((size_t)b * C + c) * hw + i;
                double xh = (o.x[k] - mean) * istd;
                out[k] = gamma * xh + beta;
                sdy += o.dout[k];
                sdyx += o.dout[k] * xh;
            }
        dg[c] = sdyx;
        dbt[c] = sdy;
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < hw; i++) {
                size_t k = ((size_t)b * C + c) * hw + i;
                double xh = (o.x[k] - mean) * istd;
                dx[k] = training ? gamma * istd * (o.dout[k] - sdy / M - xh * sdyx / M)
                                 : gamma * istd * o.dout[k];
            }
    }
    CHECK_REL("output", cnn_net_preact(o.net, 0), out, o.nout);
    CHECK_REL("input gradient", o.dx, dx, o.nin);
    CHECK_REL("gamma gradient", o.grads, dg, (size_t)C);
    CHECK_REL("beta gradient", o.grads + C, dbt, (size_t)C);
    free(out), free(dx), free(dg), free(dbt);
    one_free(&o);
}

static void batchnorm_matches_reference(void)
{
    bn_case("[4, 5, 3]", 6, 1);
    bn_case("[1, 1, 7]", 9, 1);
    bn_case("[13, 13, 25]", 3, 1);
    /* inference: moving variance must be positive, so build the case by hand */
    one o;
    const char *desc = "BatchNormalization (inference)";
    if (one_new(&o, "[3, 3, 2]", "{\"type\": \"BatchNormalization\"}", 2, 0) == 0) {
        float *p = o.params;
        p[6] = 0.5f, p[7] = 2.0f; /* moving variance */
        cnn_error err;
        CHECK(cnn_net_forward(o.net, o.x, (size_t)2 * cnn_net_input_size(o.net), 2, 0, NULL,
                              &err) == 0);
        double *e = zeros(o.nout);
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++)
                for (int i = 0; i < 9; i++) {
                    size_t k = ((size_t)b * 2 + c) * 9 + i;
                    e[k] = p[c] * (o.x[k] - p[4 + c]) / sqrt(p[6 + c] + 1e-3) + p[2 + c];
                }
        CHECK_REL("output", cnn_net_preact(o.net, 0), e, o.nout);
        free(e);
        one_free(&o);
    }
}

static void batchnorm_updates_moving_averages_as_keras(void)
{
    one o;
    const char *desc = "BatchNormalization moving averages";
    if (one_new(&o, "[2, 2, 1]", "{\"type\": \"BatchNormalization\", \"momentum\": 0.9}", 2,
                0)) {
        CHECK_FAIL_("could not build");
        return;
    }
    float *p = o.params;
    p[0] = 1, p[1] = 0, p[2] = 0.5f, p[3] = 2.0f;
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* mean 4.5, biased variance 5.25 */
    cnn_error err;
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    CHECK(cnn_net_forward(o.net, x, (size_t)2 * cnn_net_input_size(o.net), 2, 1, &r, &err) == 0);
    CHECK_NEAR(0.5 * 0.9 + 4.5 * 0.1, p[2], 1e-6);
    CHECK_NEAR(2.0 * 0.9 + 5.25 * 0.1, p[3], 1e-6);
    (void)desc;
    one_free(&o);
}

static void dropout_is_inverted_and_seeded(void)
{
    one o;
    const char *desc = "Dropout";
    if (one_new(&o, "[4, 5, 3]", "{\"type\": \"Dropout\", \"rate\": 0.25}", 4, 1)) {
        CHECK_FAIL_("could not build");
        return;
    }
    cnn_rng drop, img;
    cnn_rng_seed(&drop, 5); /* the seed one_new used */
    /* one key per forward; image b's mask from its own generator keyed by it
     * (so a data-parallel slice draws the same masks as the whole batch) */
    uint64_t key = cnn_rng_u64(&drop);
    size_t per = o.nout / 4;
    double *e = zeros(o.nout), *dx = zeros(o.nin);
    size_t kept = 0;
    for (size_t i = 0; i < o.nout; i++) {
        if (i % per == 0) cnn_rng_seed_at(&img, key, i / per);
        int keep = cnn_rng_uniform(&img) >= 0.25f;
        kept += keep;
        e[i] = keep ? o.x[i] / 0.75 : 0;
        dx[i] = keep ? o.dout[i] / 0.75 : 0;
    }
    CHECK_REL("output", cnn_net_preact(o.net, 0), e, o.nout);
    CHECK_REL("input gradient", o.dx, dx, o.nin);
    CHECK(kept > o.nout / 2 && kept < o.nout);
    /* inference: the identity */
    cnn_error err;
    CHECK(cnn_net_forward(o.net, o.x, (size_t)4 * cnn_net_input_size(o.net), 4, 0, NULL, &err) ==
          0);
    for (size_t i = 0; i < o.nout; i++) e[i] = o.x[i];
    CHECK_REL("inference output", cnn_net_preact(o.net, 0), e, o.nout);
    free(e), free(dx);
    one_free(&o);
}

/* ---- UpSampling2D --------------------------------------------------------------- */

/* TensorFlow's bilinear resize along one axis (half-pixel centres), in
 * double: output o of n*s reads input (o + 0.5) * (n / (n*s)) - 0.5, the lower
 * neighbour max(floor, 0), the upper min(ceil, n - 1). */
static void tf_bilinear(int o, int n, int s, int *lo, int *hi, double *t)
{
    double in = (o + 0.5) * ((double)n / (n * s)) - 0.5;
    *lo = (int)fmax(floor(in), 0);
    *hi = (int)fmin(ceil(in), n - 1);
    *t = in - floor(in);
}

static void upsampling_case(const char *input, int sy, int sx, int bilinear, int n)
{
    char layer[256];
    snprintf(layer, sizeof layer, "{\"type\": \"UpSampling2D\", \"size\": [%d, %d], "
             "\"interpolation\": \"%s\"}", sy, sx, bilinear ? "bilinear" : "nearest");
    const char *desc = layer;
    one o;
    if (one_new(&o, input, layer, n, 0)) {
        CHECK_FAIL_("%s: could not build", layer);
        return;
    }
    const cnn_layer *L = o.L;
    int C = L->in.c, H = L->in.h, W = L->in.w, OH = H * sy, OW = W * sx;
    CHECK_INT_EQ(OH, L->out.h);
    CHECK_INT_EQ(OW, L->out.w);
    double *out = zeros(o.nout), *dx = zeros(o.nin);
    for (int b = 0; b < n; b++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < OH; y++)
                for (int x = 0; x < OW; x++) {
                    size_t oi = (((size_t)b * C + c) * OH + y) * OW + x;
                    const float *p = o.x + ((size_t)b * C + c) * H * W;
                    double *d = dx + ((size_t)b * C + c) * H * W;
                    if (!bilinear) {
                        out[oi] = p[(y / sy) * W + x / sx];
                        d[(y / sy) * W + x / sx] += o.dout[oi];
                        continue;
                    }
                    int y0, y1, x0, x1;
                    double ty, tx;
                    tf_bilinear(y, H, sy, &y0, &y1, &ty);
                    tf_bilinear(x, W, sx, &x0, &x1, &tx);
                    double w00 = (1 - ty) * (1 - tx), w01 = (1 - ty) * tx,
                           w10 = ty * (1 - tx), w11 = ty * tx;
                    out[oi] = w00 * p[y0 * W + x0] + w01 * p[y0 * W + x1] +
                              w10 * p[y1 * W + x0] + w11 * p[y1 * W + x1];
                    d[y0 * W + x0] += w00 * o.dout[oi];
                    d[y0 * W + x1] += w01 * o.dout[oi];
                    d[y1 * W + x0] += w10 * o.dout[oi];
                    d[y1 * W + x1] += w11 * o.dout[oi];
                }
    CHECK_REL("output", cnn_net_preact(o.net, 0), out, o.nout);
    CHECK_REL("input gradient", o.dx, dx, o.nin);
    free(out), free(dx);
    one_free(&o);
}

static void upsampling2d_matches_reference(void)
{
    upsampling_case("[7, 7, 4]", 2, 2, 0, 3);
    upsampling_case("[3, 5, 2]", 3, 2, 0, 2);
    upsampling_case("[7, 7, 4]", 2, 2, 1, 3);
    upsampling_case("[4, 3, 3]", 3, 4, 1, 2);
    upsampling_case("[1, 1, 2]", 2, 3, 1, 2);
}

/* tf.image.resize([[0, 4]], (1, 4), "bilinear") is [[0, 1, 3, 4]]: the edge
 * outputs clamp, the inner ones sit a quarter and three quarters along. */
static void upsampling2d_bilinear_matches_tensorflow_by_hand(void)
{
    const char *text = "{\"input_shape\": [1, 2, 1], \"layers\": [{\"type\": \"UpSampling2D\", "
                       "\"size\": [1, 2], \"interpolation\": \"bilinear\"}]}";
    cnn_model *m = NULL;
    cnn_net *net = NULL;
    cnn_error err;
    if (cnn_model_parse(text, strlen(text), "up.json", &m, &err) || cnn_net_new(m, 1, &net, &err)) {
        CHECK_FAIL_("%s", err.msg);
        cnn_model_free(m);
        return;
    }
    const float x[2] = {0, 4};
    CHECK(cnn_net_forward(net, x, (size_t)1 * cnn_net_input_size(net), 1, 0, NULL, &err) == 0);
    const float *y = cnn_net_preact(net, 0);
    const float want[4] = {0, 1, 3, 4};
    for (int i = 0; i < 4; i++) CHECK_NEAR(want[i], y[i], 1e-6);
    cnn_net_free(net);
    cnn_model_free(m);
}

/* lib/xsmm.c reads the CPU's features from libgcc's (CPUID is a trap on a
 * virtual machine): the kernels are libxsmm's for the CPU libxsmm itself
 * detects, or OpenBLAS below the AVX-512 core. */
static void conv_kernels_target_the_cpu_libxsmm_detects(void)
{
#ifdef HAVE_LIBXSMM_H
    int cpu = libxsmm_cpuid_x86(NULL);
    char want[96];
    if (cpu >= LIBXSMM_X86_AVX512_CORE && cpu <= LIBXSMM_X86_AVX512_CPX)
        snprintf(want, sizeof want, "libxsmm %s (%s)", LIBXSMM_VERSION, libxsmm_cpuid_name(cpu));
    else
        snprintf(want, sizeof want, "OpenBLAS (libxsmm %s: no AVX-512)", LIBXSMM_VERSION);
    CHECK_STR_EQ(want, cnn_gemm_kernel_name());
#endif
}

int main(void)
{
    cnn_rng_seed(&rng, 2024);
    RUN(conv2d_matches_reference);
    RUN(conv2d_answers_do_not_depend_on_the_batch);
    RUN(conv_kernels_target_the_cpu_libxsmm_detects);
    RUN(pooling_matches_reference);
    RUN(global_pooling_matches_reference);
    RUN(dense_matches_reference);
    RUN(dense_answers_do_not_depend_on_the_batch);
    RUN(flatten_is_channel_major);
    RUN(activations_match_reference);
    RUN(batchnorm_matches_reference);
    RUN(batchnorm_updates_moving_averages_as_keras);
    RUN(dropout_is_inverted_and_seeded);
    RUN(upsampling2d_matches_reference);
    RUN(upsampling2d_bilinear_matches_tensorflow_by_hand);
    return check_report();
}
