/* Tests for lib/visualize.c: maximizers with answers known in closed form, the
 * input gradient against central finite differences, and the tile grid. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnn.h"
#include "visualize.h"
#include "layer.h" /* internal: the layer-extension API */

/* ---- helpers ------------------------------------------------------------- */

static cnn_net *build(const char *json, cnn_model **m, int batch)
{
    cnn_error err;
    cnn_net *net = NULL;
    *m = NULL;
    if (cnn_model_parse(json, strlen(json), "test.json", m, &err)) {
        CHECK_FAIL_("model: %s", err.msg);
        return NULL;
    }
    if (cnn_net_new(*m, batch, &net, &err)) {
        CHECK_FAIL_("net: %s", err.msg);
        cnn_model_free(*m);
        *m = NULL;
        return NULL;
    }
    memset(cnn_net_params(net), 0, (*m)->nparams * sizeof(float));
    return net;
}

/* Options for the closed-form cases: no blur, no jitter, enough steps to reach
 * the box corners from the middle. */
static cnn_vis_opts exact_opts(int layer, int reduce)
{
    cnn_vis_opts o;
    cnn_vis_opts_default(&o);
    o.obj.layer = layer;
    o.obj.reduce = reduce;
    o.steps = 400;
    o.step = 0.05f;
    o.blur = 0;
    o.jitter = 0;
    return o;
}

static int maximize1(cnn_net *net, const cnn_vis_opts *o, int unit, float *x, float *value,
                     int *dead)
{
    cnn_error err;
    if (cnn_vis_maximize(net, o, &unit, 1, x, value, dead, NULL, NULL, &err)) {
        CHECK_FAIL_("maximize: %s", err.msg);
        return -1;
    }
    return 0;
}

/* ---- a linear valid conv: the gradient of the sum is constant ------------- */

static const char conv_json[] =
    "{\"name\": \"conv\", \"input_shape\": [5, 5, 1], \"layers\": ["
    "{\"type\": \"Conv2D\", \"filters\": 1, \"kernel_size\": 3}]}";

/* Hand-chosen so that no pixel of g is near 0, none near lambda = 0.6, and
 * some lie between 0 and lambda. */
static const float conv_filter[3][3] = {
    {1.5f, -0.75f, 1.0f},
    {1.5f, 1.0f, 0.5f},
    {-1.25f, -1.0f, -1.25f},
};

/* g = the full convolution of the 3x3 map of ones (the output) with the filter:
 * g[i][j] = sum over output positions (p, q) with 0 <= i-p, j-q < 3 of f[i-p][j-q]. */
static void conv_expected_g(double g[5][5])
{
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            g[i][j] = 0;
            for (int p = 0; p < 3; p++)
                for (int q = 0; q < 3; q++)
                    if (i - p >= 0 && i - p < 3 && j - q >= 0 && j - q < 3)
                        g[i][j] += conv_filter[i - p][j - q];
        }
}

static cnn_net *conv_net(cnn_model **m)
{
    cnn_net *net = build(conv_json, m, 4);
    if (!net) return NULL;
    float *p = cnn_net_params(net); /* kernel (1, 1, 3, 3), bias (1) */
    memcpy(p, conv_filter, sizeof conv_filter);
    p[9] = 0.3f;
    return net;
}

static void conv_sum_gradient_is_full_convolution_of_ones(void)
{
    cnn_model *m;
    cnn_net *net = conv_net(&m);
    if (!net) return;
    double g[5][5];
    conv_expected_g(g);
    float x[25], grad[25], v;
    for (int i = 0; i < 25; i++) x[i] = (float)(i % 7) / 7.0f;
    cnn_vis_objective obj = {.layer = 0, .reduce = CNN_VIS_SUM, .pre = 0};
    int unit = 0;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_vis_gradient(net, &obj, &unit, 1, x, &v, grad, &err));
    for (int i = 0; i < 25; i++) CHECK_NEAR(g[i / 5][i % 5], grad[i], 1e-6);
    /* and the value is the sum of the outputs: sum_i g_i x_i + 9 * bias */
    double want = 9 * 0.3;
    for (int i = 0; i < 25; i++) want += g[i / 5][i % 5] * x[i];
    CHECK_NEAR(want, v, 1e-5);
    cnn_net_free(net);
    cnn_model_free(m);
}

static void conv_sum_maximizer_is_one_where_g_positive(void)
{
    cnn_model *m;
    cnn_net *net = conv_net(&m);
    if (!net) return;
    double g[5][5];
    conv_expected_g(g);
    cnn_vis_opts o = exact_opts(0, CNN_VIS_SUM);
    for (int method = 0; method < 2; method++) {
        o.method = method;
        float x[25], v;
        int dead = -1;
        if (maximize1(net, &o, 0, x, &v, &dead)) break;
        CHECK_INT_EQ(0, dead);
        for (int i = 0; i < 25; i++) {
            CHECK(fabs(g[i / 5][i % 5]) > 0.1);
            float want = g[i / 5][i % 5] > 0 ? 1.0f : 0.0f;
            if (x[i] != want)
                CHECK_FAIL_("method %d pixel (%d,%d): g %g, expected %g, got %g", method, i / 5,
                            i % 5, g[i / 5][i % 5], want, x[i]);
        }
    }
    cnn_net_free(net);
    cnn_model_free(m);
}

static void conv_sum_maximizer_with_l1_is_one_where_g_above_lambda(void)
{
    cnn_model *m;
    cnn_net *net = conv_net(&m);
    if (!net) return;
    double g[5][5];
    conv_expected_g(g);
    cnn_vis_opts o = exact_opts(0, CNN_VIS_SUM);
    o.l1 = 0.6f;
    int between = 0; /* pixels the L1 term turns off: the case must not be vacuous */
    for (int i = 0; i < 25; i++) between += g[i / 5][i % 5] > 0 && g[i / 5][i % 5] < o.l1;
    CHECK(between >= 2);
    float x[25], v;
    int dead;
    if (!maximize1(net, &o, 0, x, &v, &dead)) {
        for (int i = 0; i < 25; i++) {
            CHECK(fabs(g[i / 5][i % 5] - o.l1) > 0.1);
            float want = g[i / 5][i % 5] > o.l1 ? 1.0f : 0.0f;
            if (x[i] != want)
                CHECK_FAIL_("pixel (%d,%d): g %g, lambda %g, expected %g, got %g", i / 5, i % 5,
                            g[i / 5][i % 5], (double)o.l1, want, x[i]);
        }
    }
    cnn_net_free(net);
    cnn_model_free(m);
}

/* ---- a dense neuron ------------------------------------------------------ */

static void dense_neuron_maximizer_is_one_where_weight_positive(void)
{
    cnn_model *m;
    cnn_net *net = build("{\"input_shape\": [2, 3, 1], \"layers\": [{\"type\": \"Flatten\"},"
                         "{\"type\": \"Dense\", \"units\": 3}]}",
                         &m, 2);
    if (!net) return;
    /* kernel (3 units, 6 inputs), bias (3); unit 1 has mixed signs */
    static const float w1[6] = {0.7f, -0.2f, 0.05f, -1.0f, 0.3f, -0.01f};
    float *p = cnn_net_params(net);
    for (int i = 0; i < 6; i++) p[0 * 6 + i] = 1, p[1 * 6 + i] = w1[i], p[2 * 6 + i] = -1;
    cnn_vis_opts o = exact_opts(1, CNN_VIS_MEAN);
    float x[6], v;
    int dead;
    if (!maximize1(net, &o, 1, x, &v, &dead)) {
        double want_v = 0;
        for (int i = 0; i < 6; i++) { /* one channel: flat index = row * 3 + column */
            CHECK_NEAR(w1[i] > 0 ? 1.0 : 0.0, x[i], 0);
            want_v += w1[i] > 0 ? w1[i] : 0;
        }
        CHECK_NEAR(want_v, v, 1e-6);
    }
    cnn_net_free(net);
    cnn_model_free(m);
}

/* ---- Flatten -> Dense(1): the flat index means one pixel ------------------ */

static void flatten_dense_one_hot_lights_exactly_its_pixel(void)
{
    cnn_model *m;
    /* H = 3, W = 4, C = 2: channels-first and channels-last flatten orders differ */
    cnn_net *net = build("{\"input_shape\": [3, 4, 2], \"layers\": [{\"type\": \"Flatten\"},"
                         "{\"type\": \"Dense\", \"units\": 1}]}",
                         &m, 1);
    if (!net) return;
    const int H = 3, W = 4, C = 2;
    for (int k = 0; k < H * W * C; k += 5) {
        float *p = cnn_net_params(net);
        memset(p, 0, m->nparams * sizeof *p);
        p[k] = 2.0f;
        /* Flatten is channel-major (PyTorch's order): index k is channel
         * k / (H*W), row (k / W) % H, column k % W. */
        int want_c = k / (H * W), want_y = (k / W) % H, want_x = k % W;
        cnn_vis_opts o = exact_opts(1, CNN_VIS_MEAN);
        o.l1 = 0.01f; /* pixels the neuron ignores go to 0 */
        float x[24], v;
        int dead;
        if (maximize1(net, &o, 0, x, &v, &dead)) break;
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    float got = x[(c * H + y) * W + xx];
                    float want = (c == want_c && y == want_y && xx == want_x) ? 1.0f : 0.0f;
                    if (got != want)
                        CHECK_FAIL_("index %d: pixel (c %d, y %d, x %d) expected %g, got %g", k,
                                    c, y, xx, want, got);
                }
    }
    cnn_net_free(net);
    cnn_model_free(m);
}

/* ---- softmax vs logit ---------------------------------------------------- */

static void output_class_maximizes_the_logit_not_the_probability(void)
{
    cnn_model *m;
    cnn_net *net = build("{\"input_shape\": [1, 2, 1], \"layers\": [{\"type\": \"Flatten\"},"
                         "{\"type\": \"Dense\", \"units\": 2, \"activation\": \"softmax\"}]}",
                         &m, 1);
    if (!net) return;
    /* logits z0 = 1*x0 + 0*x1, z1 = 2*x0 - 1*x1 */
    static const float w[2][2] = {{1, 0}, {2, -1}};
    memcpy(cnn_net_params(net), w, sizeof w);
    /* Closed forms: z0 is maximized by lighting the pixels of positive weight
     * w0; p0 = sigmoid(z0 - z1) by those of positive w0 - w1. */
    float logit_px[2], prob_px[2];
    for (int i = 0; i < 2; i++) {
        logit_px[i] = w[0][i] > 0 ? 1.0f : 0.0f;
        prob_px[i] = w[0][i] - w[1][i] > 0 ? 1.0f : 0.0f;
    }
    CHECK(logit_px[0] != prob_px[0] && logit_px[1] != prob_px[1]); /* the case is meaningful */
    cnn_vis_objective obj = {.layer = 1, .reduce = CNN_VIS_MEAN, .pre = 0};
    CHECK_INT_EQ(1, cnn_vis_uses_preact(m, &obj));
    cnn_vis_opts o = exact_opts(1, CNN_VIS_MEAN);
    o.l1 = 0.01f;
    float x[2], v;
    int dead;
    if (!maximize1(net, &o, 0, x, &v, &dead)) {
        CHECK_NEAR(logit_px[0], x[0], 0);
        CHECK_NEAR(logit_px[1], x[1], 0);
        CHECK_NEAR(1.0, v, 1e-6); /* the value reported is the logit, not a probability */
    }
    cnn_net_free(net);
    cnn_model_free(m);
}

/* ---- the lecture model's input gradient vs finite differences ------------- */

static double objective_at(cnn_net *net, const cnn_vis_objective *obj, int unit, const float *x)
{
    float v = NAN;
    cnn_error err;
    if (cnn_vis_gradient(net, obj, &unit, 1, x, &v, NULL, &err)) CHECK_FAIL_("%s", err.msg);
    return v;
}

static void lecture_model_input_gradient_matches_finite_differences(void)
{
    cnn_model *m;
    cnn_error err;
    if (cnn_model_load("models/lee-mnist.json", &m, &err)) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    cnn_net *net;
    if (cnn_net_new(m, 1, &net, &err)) {
        CHECK_FAIL_("%s", err.msg);
        cnn_model_free(m);
        return;
    }
    cnn_rng r;
    cnn_rng_seed(&r, 7);
    cnn_net_init(net, CNN_INIT_HE_NORMAL, &r);
    float *p = cnn_net_params(net); /* small positive biases keep the ReLUs awake */
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(L, t);
        for (int j = 0; j < nt; j++)
            if (strcmp(t[j].suffix, "bias") == 0)
                for (size_t k = 0; k < t[j].count; k++)
                    p[L->param_offset + t[j].offset + k] = 0.05f;
    }
    size_t per = cnn_shape_size(m->input);
    float *x = malloc(per * sizeof *x), *g = malloc(per * sizeof *g);
    if (!x || !g) goto out;
    for (size_t i = 0; i < per; i++) x[i] = cnn_rng_uniform(&r);

    struct { const char *layer; int unit, reduce, pre; } cases[] = {
        {"conv2d_1", 7, CNN_VIS_MEAN, 0}, /* a conv filter, after its ReLU */
        {"conv2d", 3, CNN_VIS_CENTER, 1}, /* a first-layer filter's centre, before it */
        {"dense", 11, CNN_VIS_MEAN, 0},   /* a dense neuron */
        {"dense_1", 4, CNN_VIS_MEAN, 0},  /* a class logit (softmax stripped) */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cnn_vis_objective obj = {cnn_model_find_layer(m, cases[c].layer), cases[c].reduce,
                                 cases[c].pre};
        CHECK(obj.layer >= 0);
        float v;
        if (cnn_vis_gradient(net, &obj, &cases[c].unit, 1, x, &v, g, &err)) {
            CHECK_FAIL_("%s", err.msg);
            continue;
        }
        /* 60 pixels spread over the image; central differences in float.  Where
         * the one-sided differences disagree, the pixel sits on a kink (a ReLU
         * at 0, a max-pool tie such as several ReLU zeros in one window) and has
         * no derivative; those few pixels are skipped. */
        double num = 0, den = 0, gmax = 0;
        for (size_t i = 0; i < per; i++) gmax = fmax(gmax, fabs(g[i]));
        CHECK(gmax > 0);
        int kinks = 0;
        const float h = 1e-3f;
        for (int k = 0; k < 60; k++) {
            size_t i = (size_t)(k * 13 + 5) % per;
            double f0 = objective_at(net, &obj, cases[c].unit, x), fd[2];
            float save = x[i];
            x[i] = save + h;
            double fp = objective_at(net, &obj, cases[c].unit, x);
            x[i] = save - h;
            double fm = objective_at(net, &obj, cases[c].unit, x);
            x[i] = save;
            fd[0] = (fp - f0) / h, fd[1] = (f0 - fm) / h;
            if (fabs(fd[0] - fd[1]) > 0.02 * gmax + 1e-3) {
                kinks++;
                continue;
            }
            fd[1] = (fp - fm) / (2.0 * (double)h);
            num += (fd[1] - g[i]) * (fd[1] - g[i]);
            den += (double)g[i] * g[i];
            if (fabs(fd[1] - g[i]) > 0.02 * gmax + 2e-4)
                CHECK_FAIL_("%s unit %d pixel %zu: finite difference %g, gradient %g",
                            cases[c].layer, cases[c].unit, i, fd[1], g[i]);
        }
        if (kinks > 15) CHECK_FAIL_("%s unit %d: %d of 60 pixels at a kink", cases[c].layer,
                                   cases[c].unit, kinks);
        if (!(sqrt(num) <= 0.02 * sqrt(den) + 1e-5))
            CHECK_FAIL_("%s unit %d: relative error %g", cases[c].layer, cases[c].unit,
                        sqrt(num) / sqrt(den));
    }
out:
    free(x);
    free(g);
    cnn_net_free(net);
    cnn_model_free(m);
}

/* ---- dead units, determinism, batches ------------------------------------ */

static void unit_with_zero_gradient_everywhere_is_dead(void)
{
    cnn_model *m;
    cnn_net *net = build("{\"input_shape\": [6, 6, 1], \"layers\": [{\"type\": \"Conv2D\","
                         "\"filters\": 2, \"kernel_size\": 3, \"activation\": \"relu\"}]}",
                         &m, 2);
    if (!net) return;
    float *p = cnn_net_params(net); /* kernel (2, 1, 3, 3), bias (2) */
    for (int i = 0; i < 9; i++) p[i] = 0.1f, p[9 + i] = -0.1f;
    p[18] = 0.0f;  /* filter 0: positive for any non-black input */
    p[19] = -0.5f; /* filter 1: negative weights and bias, off for every input in [0,1] */
    cnn_vis_opts o = exact_opts(0, CNN_VIS_MEAN);
    int units[2] = {0, 1}, dead[2] = {-1, -1};
    float x[72], v[2];
    cnn_error err;
    CHECK_INT_EQ(0, cnn_vis_maximize(net, &o, units, 2, x, v, dead, NULL, NULL, &err));
    CHECK_INT_EQ(0, dead[0]);
    CHECK_INT_EQ(1, dead[1]);
    CHECK_NEAR(0.0, v[1], 0);
    for (int i = 0; i < 36; i++) CHECK_NEAR(1.0, x[i], 0);
    cnn_net_free(net);
    cnn_model_free(m);
}

static void relu_unit_off_at_the_start_is_woken_not_dead(void)
{
    cnn_model *m;
    cnn_net *net = build("{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"Flatten\"},"
                         "{\"type\": \"Dense\", \"units\": 1, \"activation\": \"relu\"}]}",
                         &m, 1);
    if (!net) return;
    float *p = cnn_net_params(net); /* only pixel 0 helps, and only past 0.9 */
    p[0] = 1.0f;
    for (int i = 1; i < 16; i++) p[i] = -1.0f;
    p[16] = -0.9f;
    cnn_vis_opts o = exact_opts(1, CNN_VIS_MEAN);
    float x[16], v;
    int dead = -1;
    if (!maximize1(net, &o, 0, x, &v, &dead)) {
        CHECK_INT_EQ(0, dead);
        CHECK_NEAR(0.1, v, 1e-6);
        CHECK_NEAR(1.0, x[0], 0);
    }
    cnn_net_free(net);
    cnn_model_free(m);
}

static void same_seed_same_images_whatever_the_batch(void)
{
    cnn_model *m;
    cnn_error err;
    if (cnn_model_load("models/lee-mnist.json", &m, &err)) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    cnn_net *net4 = NULL, *net1 = NULL;
    if (cnn_net_new(m, 4, &net4, &err) || cnn_net_new(m, 1, &net1, &err)) {
        CHECK_FAIL_("%s", err.msg);
        goto out;
    }
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    cnn_net_init(net4, CNN_INIT_GLOROT_UNIFORM, &r);
    memcpy(cnn_net_params(net1), cnn_net_params(net4), m->nparams * sizeof(float));
    cnn_vis_opts o;
    cnn_vis_opts_default(&o);
    o.obj.layer = 0;
    o.steps = 20;
    int units[3] = {2, 5, 9}, dead[3], dead2[3];
    float a[3 * 784], b[3 * 784], va[3], vb[3];
    CHECK_INT_EQ(0, cnn_vis_maximize(net4, &o, units, 3, a, va, dead, NULL, NULL, &err));
    CHECK_INT_EQ(0, cnn_vis_maximize(net4, &o, units, 3, b, vb, dead2, NULL, NULL, &err));
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* unit 5 alone, one image per batch: its randomness is its own */
    CHECK_INT_EQ(0, cnn_vis_maximize(net1, &o, units + 1, 1, b, vb, dead2, NULL, NULL, &err));
    double diff = 0;
    for (int i = 0; i < 784; i++) diff = fmax(diff, fabs(a[784 + i] - b[i]));
    CHECK_NEAR(0.0, diff, 1e-4);
    o.seed = 2;
    CHECK_INT_EQ(0, cnn_vis_maximize(net4, &o, units, 3, b, vb, dead2, NULL, NULL, &err));
    CHECK(memcmp(a, b, sizeof a) != 0);
out:
    cnn_net_free(net4);
    cnn_net_free(net1);
    cnn_model_free(m);
}

/* ---- weights and feature maps -------------------------------------------- */

static void weights_view_copies_first_conv_kernels(void)
{
    cnn_model *m;
    cnn_net *net = build("{\"input_shape\": [5, 5, 1], \"layers\": [{\"type\": \"Conv2D\","
                         "\"filters\": 2, \"kernel_size\": [2, 3]}, {\"type\": \"Flatten\"},"
                         "{\"type\": \"Dense\", \"units\": 2}]}",
                         &m, 1);
    if (!net) return;
    float *p = cnn_net_params(net);
    for (int i = 0; i < 12; i++) p[i] = (float)i;
    CHECK_INT_EQ(0, cnn_vis_first_weights_layer(m));
    float *t;
    int n, c, h, w;
    cnn_error err;
    if (cnn_vis_layer_weights(net, 0, &t, &n, &c, &h, &w, &err) == 0) {
        CHECK_INT_EQ(2, n);
        CHECK_INT_EQ(1, c);
        CHECK_INT_EQ(2, h);
        CHECK_INT_EQ(3, w);
        for (int i = 0; i < 12; i++) CHECK_NEAR(i, t[i], 0);
        free(t);
    } else {
        CHECK_FAIL_("%s", err.msg);
    }
    CHECK_INT_EQ(-1, cnn_vis_layer_weights(net, 2, &t, &n, &c, &h, &w, &err));
    CHECK_CONTAINS(err.msg, "dense");
    cnn_net_free(net);
    cnn_model_free(m);
}

static void feature_maps_are_the_layer_output(void)
{
    cnn_model *m;
    cnn_net *net = conv_net(&m);
    if (!net) return;
    float x[25], maps[9];
    for (int i = 0; i < 25; i++) x[i] = (float)((i * 7) % 11) / 10.0f;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_vis_feature_maps(net, 0, 0, x, maps, &err));
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            double s = 0.3;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) s += conv_filter[i][j] * x[(oy + i) * 5 + ox + j];
            CHECK_NEAR(s, maps[oy * 3 + ox], 1e-5);
        }
    cnn_net_free(net);
    cnn_model_free(m);
}

/* ---- image operations and the grid --------------------------------------- */

static void roll_by_minus_shift_undoes_roll(void)
{
    float a[2 * 3 * 4], b[24], c[24];
    for (int i = 0; i < 24; i++) a[i] = (float)i;
    cnn_vis_roll(b, a, 2, 3, 4, 1, -2);
    CHECK_NEAR(a[(0 * 3 + 0) * 4 + 0], b[(0 * 3 + 1) * 4 + 2], 0); /* (0,0) went to (1,2) */
    CHECK_NEAR(a[(1 * 3 + 2) * 4 + 3], b[(1 * 3 + 0) * 4 + 1], 0); /* wraps around */
    cnn_vis_roll(c, b, 2, 3, 4, -1, 2);
    CHECK(memcmp(a, c, sizeof a) == 0);
}

static void blur_keeps_constants_and_spreads_a_point(void)
{
    float img[7 * 7], tmp[49];
    for (int i = 0; i < 49; i++) img[i] = 0.25f;
    cnn_vis_blur(img, 1, 7, 7, 1.0f, tmp);
    for (int i = 0; i < 49; i++) CHECK_NEAR(0.25, img[i], 1e-6);
    memset(img, 0, sizeof img);
    img[3 * 7 + 3] = 1;
    cnn_vis_blur(img, 1, 7, 7, 0.7f, tmp);
    double sum = 0;
    for (int i = 0; i < 49; i++) sum += img[i];
    CHECK_NEAR(1.0, sum, 1e-5); /* away from the edges nothing is lost */
    CHECK(img[3 * 7 + 3] < 1 && img[3 * 7 + 4] > 0);
    CHECK_NEAR(img[3 * 7 + 4], img[4 * 7 + 3], 1e-7);
}

static void sort_puts_largest_first_and_dead_last(void)
{
    float v[5] = {0.5f, 2.0f, 9.0f, 2.0f, -1.0f};
    int dead[5] = {0, 0, 1, 0, 0}, order[5];
    cnn_vis_sort_order(v, dead, 5, order);
    int want[5] = {1, 3, 0, 4, 2};
    for (int i = 0; i < 5; i++) CHECK_INT_EQ(want[i], order[i]);
}

static void normalize_per_tile_and_global(void)
{
    float t[6] = {1, 2, 3, 10, 20, 30};
    cnn_vis_normalize(t, 2, 3, CNN_VIS_NORM_TILE, NULL);
    CHECK_NEAR(0, t[0], 1e-7);
    CHECK_NEAR(0.5, t[1], 1e-7);
    CHECK_NEAR(1, t[5], 1e-7);
    float u[6] = {1, 2, 3, 10, 20, 31};
    cnn_vis_normalize(u, 2, 3, CNN_VIS_NORM_GLOBAL, NULL);
    CHECK_NEAR(0, u[0], 1e-7);
    CHECK_NEAR(1.0 / 30, u[1], 1e-6);
    CHECK_NEAR(1, u[5], 1e-7);
    float f[3] = {7, 7, 7};
    cnn_vis_normalize(f, 1, 3, CNN_VIS_NORM_TILE, NULL);
    CHECK_NEAR(0.5, f[0], 0);
}

static void grid_has_ceil_sqrt_columns_and_upscales_nearest(void)
{
    /* 10 tiles of 2x3: 4 columns, 3 rows */
    float tiles[10 * 6];
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 6; j++) tiles[i * 6 + j] = (j == 4) ? 1.0f : 0.0f; /* (1,1) white */
    cnn_vis_grid_opts g = {.cols = 0, .scale = 3, .margin = 2};
    unsigned char *px;
    int W, H;
    cnn_error err;
    int dead[10] = {0};
    dead[9] = 1;
    if (cnn_vis_grid(tiles, 10, 1, 2, 3, NULL, dead, &g, &px, &W, &H, &err)) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    CHECK_INT_EQ(4 * 9 + 5 * 2, W);
    CHECK_INT_EQ(3 * 6 + 4 * 2, H);
    CHECK_INT_EQ(255, px[0]);                 /* margin */
    /* tile 5 sits at column 1, row 1: origin (2 + 11, 2 + 8) */
    int ox = 13, oy = 10;
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 9; x++) {
            int want = (y / 3 == 1 && x / 3 == 1) ? 255 : 0;
            CHECK_INT_EQ(want, px[(oy + y) * W + ox + x]);
        }
    /* tile 9 (dead) at column 1, row 2: grey with black diagonals */
    int dx = 13, dy = 2 + 2 * 8;
    CHECK_INT_EQ(0, px[dy * W + dx]);
    CHECK_INT_EQ(128, px[(dy + 0) * W + dx + 4]);
    free(px);
    /* RGB tiles interleave their planes */
    float rgb[3] = {1, 0, 0.5f};
    g = (cnn_vis_grid_opts){.cols = 0, .scale = 1, .margin = 0};
    if (cnn_vis_grid(rgb, 1, 3, 1, 1, NULL, NULL, &g, &px, &W, &H, &err) == 0) {
        CHECK_INT_EQ(1, W);
        CHECK_INT_EQ(255, px[0]);
        CHECK_INT_EQ(0, px[1]);
        CHECK_INT_EQ(128, px[2]);
        free(px);
    }
    CHECK_INT_EQ(3, cnn_vis_auto_scale(28, 28));
    CHECK_INT_EQ(32, cnn_vis_auto_scale(3, 3));
    CHECK_INT_EQ(1, cnn_vis_auto_scale(200, 100));
}

static void bad_units_and_layers_are_errors(void)
{
    cnn_model *m;
    cnn_net *net = conv_net(&m);
    if (!net) return;
    float x[25] = {0}, v;
    int unit = 1;
    cnn_error err;
    cnn_vis_objective obj = {.layer = 0};
    CHECK_INT_EQ(-1, cnn_vis_gradient(net, &obj, &unit, 1, x, &v, NULL, &err));
    CHECK_CONTAINS(err.msg, "units 0 to 0");
    obj.layer = 3;
    unit = 0;
    CHECK_INT_EQ(-1, cnn_vis_gradient(net, &obj, &unit, 1, x, &v, NULL, &err));
    CHECK_CONTAINS(err.msg, "layers 0 to 0");
    cnn_net_free(net);
    cnn_model_free(m);
}

int main(void)
{
    RUN(conv_sum_gradient_is_full_convolution_of_ones);
    RUN(conv_sum_maximizer_is_one_where_g_positive);
    RUN(conv_sum_maximizer_with_l1_is_one_where_g_above_lambda);
    RUN(dense_neuron_maximizer_is_one_where_weight_positive);
    RUN(flatten_dense_one_hot_lights_exactly_its_pixel);
    RUN(output_class_maximizes_the_logit_not_the_probability);
    RUN(lecture_model_input_gradient_matches_finite_differences);
    RUN(unit_with_zero_gradient_everywhere_is_dead);
    RUN(relu_unit_off_at_the_start_is_woken_not_dead);
    RUN(same_seed_same_images_whatever_the_batch);
    RUN(weights_view_copies_first_conv_kernels);
    RUN(feature_maps_are_the_layer_output);
    RUN(roll_by_minus_shift_undoes_roll);
    RUN(blur_keeps_constants_and_spreads_a_point);
    RUN(sort_puts_largest_first_and_dead_last);
    RUN(normalize_per_tile_and_global);
    RUN(grid_has_ceil_sqrt_columns_and_upscales_nearest);
    RUN(bad_units_and_layers_are_errors);
    return check_report();
}
