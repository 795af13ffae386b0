/* The whole network on the lecture's model (models/lee-mnist.json): an SGD step
 * lowers the loss, the loss gradient matches central differences along random
 * directions, cross-entropy stays finite for huge logits, a NaN is reported by
 * the first layer that meets it, runs are bit-identical with one thread; and
 * the generator, the optimizers and the schedules against hand-computed values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnn.h"
#include "bigmem.h" /* internal: the net's blocks */
#include "layer.h"  /* internal: the layer-extension API */

#define LECTURE "models/lee-mnist.json"
#define BATCH 16

static cnn_model *lecture(void)
{
    cnn_model *m = NULL;
    cnn_error err;
    if (cnn_model_load(LECTURE, &m, &err)) fprintf(stderr, "%s\n", err.msg);
    return m;
}

static cnn_model *parse(const char *text)
{
    cnn_model *m = NULL;
    cnn_error err;
    if (cnn_model_parse(text, strlen(text), "t.json", &m, &err)) fprintf(stderr, "%s\n", err.msg);
    return m;
}

/* A fixed batch: images in [0, 1) and labels 0..9. */
static void fixed_batch(float *x, int *labels, size_t per, int n, uint64_t seed)
{
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (size_t i = 0; i < per * n; i++) x[i] = cnn_rng_uniform(&r);
    for (int b = 0; b < n; b++) labels[b] = (int)cnn_rng_below(&r, 10);
}

static float loss_at(cnn_net *net, const float *x, const int *labels, int n, int loss)
{
    cnn_error err;
    if (cnn_net_forward(net, x, (size_t)n * cnn_net_input_size(net), n, 0, NULL, &err)) return NAN;
    return cnn_net_loss(net, labels, n, loss, NULL);
}

static void sgd_step_lowers_the_loss_on_the_lecture_model(void)
{
    cnn_model *m = lecture();
    CHECK(m != NULL);
    if (!m) return;
    CHECK_INT_EQ(137660, m->nparams);
    cnn_net *net;
    cnn_error err;
    CHECK(cnn_net_new(m, BATCH, &net, &err) == 0);
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    float x[784 * BATCH];
    int labels[BATCH];
    fixed_batch(x, labels, 784, BATCH, 3);
    float before = loss_at(net, x, labels, BATCH, CNN_LOSS_CROSSENTROPY);
    CHECK(before > 1.0f && before < 5.0f); /* about ln 10 at the start */
    cnn_net_zero_grads(net);
    CHECK(cnn_net_backward(net, BATCH, m->nlayers - 1, 0, NULL, 0, &err) == 0);
    cnn_optim o = {.kind = CNN_OPT_SGD};
    cnn_net_step(net, &o, 0.05f, 1);
    float after = loss_at(net, x, labels, BATCH, CNN_LOSS_CROSSENTROPY);
    printf("lecture model: loss %.5f -> %.5f after one SGD step\n", before, after);
    CHECK(after < before - 1e-3);
    cnn_net_free(net);
    cnn_model_free(m);
}

/* d/dt loss(theta + t v) at 0 vs the gradient's dot product with v, for
 * random unit directions v over the parameters and over the input. */
static void directional_check(const char *what, cnn_model *m, int loss)
{
    cnn_net *net;
    cnn_error err;
    if (cnn_net_new(m, 8, &net, &err)) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    int n = 8;
    size_t per = cnn_shape_size(m->input), np = m->nparams;
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    float *x = malloc(per * n * sizeof *x), *dx = malloc(per * n * sizeof *dx);
    float *v = malloc((np > per * n ? np : per * n) * sizeof *v);
    float *g = malloc(np * sizeof *g), *p0 = malloc(np * sizeof *p0);
    int labels[8];
    fixed_batch(x, labels, per, n, 4);
    float *p = cnn_net_params(net);
    memcpy(p0, p, np * sizeof *p);
    loss_at(net, x, labels, n, loss);
    cnn_net_zero_grads(net);
    CHECK(cnn_net_backward(net, n, m->nlayers - 1, 0, dx, (size_t)n * cnn_net_input_size(net),
                           &err) == 0);
    memcpy(g, cnn_net_grads(net), np * sizeof *g);
    double worst = 0;
    for (int trial = 0; trial < 6; trial++) {
        int on_input = trial % 2;
        size_t len = on_input ? per * n : np;
        float *base = on_input ? x : p;
        const float *grad = on_input ? dx : g;
        double norm = 0, dot = 0;
        for (size_t i = 0; i < len; i++) v[i] = cnn_rng_normal(&r);
        if (!on_input) /* the moving statistics are not trained: no gradient for them */
            for (int l = 0; l < m->nlayers; l++) {
                cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
                int nt = cnn_layer_tensors(&m->layers[l], t);
                for (int k = 0; k < nt; k++)
                    if (!t[k].trainable)
                        memset(v + m->layers[l].param_offset + t[k].offset, 0,
                               t[k].count * sizeof *v);
            }
        /* half random, half along the analytic gradient (a wrong gradient still
         * shows), so that the derivative is well above the float noise */
        double gn = 0;
        for (size_t i = 0; i < len; i++) {
            norm += (double)v[i] * v[i];
            gn += (double)grad[i] * grad[i];
        }
        norm = sqrt(norm), gn = sqrt(gn);
        for (size_t i = 0; i < len; i++) v[i] = (float)(v[i] / norm + (gn > 0 ? grad[i] / gn : 0));
        norm = 0;
        for (size_t i = 0; i < len; i++) norm += (double)v[i] * v[i];
        norm = sqrt(norm);
        for (size_t i = 0; i < len; i++) {
            v[i] = (float)(v[i] / norm);
            dot += (double)v[i] * grad[i];
        }
        float *keep = malloc(len * sizeof *keep);
        memcpy(keep, base, len * sizeof *keep);
        /* the input direction is spread over many pixels: a larger step for the
         * same change of the loss */
        double h = on_input ? 3e-2 : 1e-2, f[2];
        for (int s = 0; s < 2; s++) {
            for (size_t i = 0; i < len; i++) base[i] = keep[i] + (float)((s ? -h : h) * v[i]);
            f[s] = loss_at(net, x, labels, n, loss);
        }
        memcpy(base, keep, len * sizeof *keep);
        free(keep);
        double num = (f[0] - f[1]) / (2 * h);
        double rel = fabs(num - dot) / fmax(fmax(fabs(num), fabs(dot)), 1e-3);
        if (rel > worst) worst = rel;
        if (rel > 2e-2)
            CHECK_FAIL_("%s: direction %d over the %s: analytic %.6g, numeric %.6g", what, trial,
                        on_input ? "input" : "parameters", dot, num);
    }
    printf("%s: worst relative error of the directional derivative %.2e\n", what, worst);
    free(x), free(dx), free(v), free(g), free(p0);
    cnn_net_free(net);
}

static void loss_gradient_matches_central_differences(void)
{
    cnn_model *m = lecture();
    if (!m) {
        CHECK(m != NULL);
        return;
    }
    directional_check("lecture model, cross-entropy", m, CNN_LOSS_CROSSENTROPY);
    directional_check("lecture model, mse", m, CNN_LOSS_MSE);
    cnn_model_free(m);
    /* cross-entropy on a non-softmax output: the outputs are taken as logits */
    m = parse("{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"Conv2D\", \"filters\": 3,"
              " \"kernel_size\": 2, \"activation\": \"tanh\"}, {\"type\": \"Flatten\"},"
              " {\"type\": \"Dense\", \"units\": 10}]}");
    if (m) directional_check("linear output, cross-entropy", m, CNN_LOSS_CROSSENTROPY);
    cnn_model_free(m);
    m = parse("{\"input_shape\": [4, 4, 2], \"layers\": [{\"type\": \"Flatten\"},"
              " {\"type\": \"BatchNormalization\"},"
              " {\"type\": \"Dense\", \"units\": 10, \"activation\": \"sigmoid\"}]}");
    if (m) directional_check("sigmoid output, mse", m, CNN_LOSS_MSE);
    cnn_model_free(m);
}

/* After cnn_net_loss, backward from the last layer with pre = 0 or pre = 1 gives
 * the same gradients: the loss already went through the softmax. */
static void loss_seed_is_consistent_for_pre_0_and_1(void)
{
    cnn_model *m = lecture();
    if (!m) return;
    cnn_net *net;
    cnn_error err;
    CHECK(cnn_net_new(m, 4, &net, &err) == 0);
    cnn_rng r;
    cnn_rng_seed(&r, 2);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    float x[784 * 4], dx0[784 * 4], dx1[784 * 4];
    int labels[4];
    fixed_batch(x, labels, 784, 4, 9);
    size_t np = m->nparams;
    float *g0 = malloc(np * sizeof *g0);
    for (int pre = 0; pre < 2; pre++) {
        loss_at(net, x, labels, 4, CNN_LOSS_CROSSENTROPY);
        cnn_net_zero_grads(net);
        CHECK(cnn_net_backward(net, 4, m->nlayers - 1, pre, pre ? dx1 : dx0,
                               (size_t)4 * cnn_net_input_size(net), &err) == 0);
        if (!pre) memcpy(g0, cnn_net_grads(net), np * sizeof *g0);
    }
    CHECK(memcmp(g0, cnn_net_grads(net), np * sizeof *g0) == 0);
    CHECK(memcmp(dx0, dx1, sizeof dx0) == 0);
    /* the seed is p - y on the logits, over n */
    loss_at(net, x, labels, 4, CNN_LOSS_CROSSENTROPY);
    const float *pr = cnn_net_output(net, m->nlayers - 1);
    const float *seed = cnn_net_grad_at(net, m->nlayers - 1, 1);
    CHECK_NEAR((pr[2] - (labels[0] == 2)) / 4.0, seed[2], 1e-6);
    free(g0);
    cnn_net_free(net);
    cnn_model_free(m);
}

static void cross_entropy_is_finite_for_huge_logits(void)
{
    cnn_model *m = parse("{\"input_shape\": [1, 1, 2], \"layers\": [{\"type\": \"Flatten\"},"
                         " {\"type\": \"Dense\", \"units\": 2, \"use_bias\": false,"
                         " \"activation\": \"softmax\"}]}");
    if (!m) {
        CHECK(m != NULL);
        return;
    }
    cnn_net *net;
    cnn_error err;
    CHECK(cnn_net_new(m, 2, &net, &err) == 0);
    float *p = cnn_net_params(net);
    p[0] = 1e4f, p[1] = 0, p[2] = 0, p[3] = -1e4f; /* logits (1e4, -1e4) for x = (1, 1) */
    float x[4] = {1, 1, -1, -1};                   /* and (-1e4, 1e4) */
    CHECK(cnn_net_forward(net, x, (size_t)2 * cnn_net_input_size(net), 2, 0, NULL, &err) == 0);
    int wrong[2] = {1, 0}, right[2] = {0, 1}, correct = -1;
    float l = cnn_net_loss(net, wrong, 2, CNN_LOSS_CROSSENTROPY, &correct);
    CHECK(isfinite(l));
    CHECK_NEAR(2e4, l, 1e-6);
    CHECK_INT_EQ(0, correct);
    const float *g = cnn_net_grad_at(net, 1, 1);
    for (int i = 0; i < 4; i++) CHECK(isfinite(g[i]));
    CHECK_NEAR(-0.5, g[1], 1e-6);
    CHECK(cnn_net_backward(net, 2, 1, 0, NULL, 0, &err) == 0);
    for (size_t i = 0; i < m->nparams; i++) CHECK(isfinite(cnn_net_grads(net)[i]));
    CHECK(cnn_net_forward(net, x, (size_t)2 * cnn_net_input_size(net), 2, 0, NULL, &err) == 0);
    l = cnn_net_loss(net, right, 2, CNN_LOSS_CROSSENTROPY, &correct);
    CHECK(isfinite(l) && l >= 0 && l < 1e-6);
    CHECK_INT_EQ(2, correct);
    int bad[2] = {0, 2};
    CHECK(isnan(cnn_net_loss(net, bad, 2, CNN_LOSS_CROSSENTROPY, NULL)));
    CHECK(isnan(cnn_net_loss(net, right, 1, CNN_LOSS_CROSSENTROPY, NULL))); /* n != forward's */
    cnn_net_free(net);
    cnn_model_free(m);
}

static void nan_is_reported_by_the_first_layer_that_meets_it(void)
{
    cnn_model *m = lecture();
    if (!m) return;
    cnn_net *net;
    cnn_error err = {{0}};
    CHECK(cnn_net_new(m, 5, &net, &err) == 0);
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    float *x = calloc(784 * 5, sizeof *x);
    x[3 * 784 + 200] = NAN;
    CHECK(cnn_net_forward(net, x, (size_t)5 * cnn_net_input_size(net), 5, 0, NULL, &err) ==
          0); /* unchecked: no error */
    cnn_net_check_finite(net, 1);
    CHECK(cnn_net_forward(net, x, (size_t)5 * cnn_net_input_size(net), 5, 0, NULL, &err) == -1);
    CHECK_CONTAINS(err.msg, "layer conv2d (Conv2D)");
    CHECK_CONTAINS(err.msg, "NaN at image 3");
    /* a NaN born inside: a bad weight in the first Dense layer */
    x[3 * 784 + 200] = 0.5f;
    float *p = cnn_net_params(net);
    p[m->layers[5].param_offset + 17] = NAN;
    CHECK(cnn_net_forward(net, x, (size_t)5 * cnn_net_input_size(net), 5, 0, NULL, &err) == -1);
    CHECK_STR_EQ("layer dense (Dense): output contains NaN at image 0", err.msg);
    p[m->layers[5].param_offset + 17] = 0.0f;
    p[m->layers[6].param_offset + 3] = INFINITY;
    CHECK(cnn_net_forward(net, x, (size_t)5 * cnn_net_input_size(net), 5, 0, NULL, &err) == -1);
    CHECK_CONTAINS(err.msg, "layer dense_1 (Dense): output contains");
    p[m->layers[6].param_offset + 3] = 0.0f;
    CHECK(cnn_net_forward(net, x, (size_t)5 * cnn_net_input_size(net), 5, 0, NULL, &err) == 0);
    /* backward: an infinite seed is reported by the layer whose input gradient it spoils */
    float *seed = cnn_net_grad_at(net, 6, 1);
    memset(seed, 0, 5 * 10 * sizeof *seed);
    seed[2 * 10 + 1] = INFINITY;
    cnn_net_zero_grads(net);
    CHECK(cnn_net_backward(net, 5, 6, 1, NULL, 0, &err) == -1);
    CHECK_CONTAINS(err.msg, "layer dense_1 (Dense): input gradient contains");
    CHECK_CONTAINS(err.msg, "at image 2");
    free(x);
    cnn_net_free(net);
    cnn_model_free(m);
}

/* Three Adam steps with dropout from a seed; returns the parameters (malloc'd). */
static float *train_three_steps(const cnn_model *m)
{
    cnn_net *net;
    cnn_error err;
    if (cnn_net_new(m, BATCH, &net, &err)) return NULL;
    cnn_rng r;
    cnn_rng_seed(&r, 77);
    cnn_net_init(net, CNN_INIT_HE_NORMAL, &r);
    float x[784 * BATCH];
    int labels[BATCH];
    cnn_optim o;
    cnn_optim_from_training(&o, &m->training);
    for (int step = 1; step <= 3; step++) {
        fixed_batch(x, labels, 784, BATCH, (uint64_t)step);
        cnn_net_forward(net, x, (size_t)BATCH * cnn_net_input_size(net), BATCH, 1, &r, &err);
        cnn_net_loss(net, labels, BATCH, CNN_LOSS_CROSSENTROPY, NULL);
        cnn_net_zero_grads(net);
        cnn_net_backward(net, BATCH, m->nlayers - 1, 0, NULL, 0, &err);
        cnn_net_step(net, &o, 1e-3f, step);
    }
    float *out = malloc(m->nparams * sizeof *out);
    memcpy(out, cnn_net_params(net), m->nparams * sizeof *out);
    cnn_net_free(net);
    return out;
}

static void one_thread_runs_are_bit_identical(void)
{
    cnn_model *m = parse(
        "{\"input_shape\": [28, 28, 1], \"layers\": ["
        "{\"type\": \"Conv2D\", \"filters\": 8, \"kernel_size\": 3, \"activation\": \"relu\"},"
        "{\"type\": \"BatchNormalization\"}, {\"type\": \"MaxPooling2D\"},"
        "{\"type\": \"Flatten\"}, {\"type\": \"Dropout\", \"rate\": 0.3},"
        "{\"type\": \"Dense\", \"units\": 10, \"activation\": \"softmax\"}]}");
    if (!m) {
        CHECK(m != NULL);
        return;
    }
    int saved = cnn_get_threads();
    cnn_set_threads(1);
    CHECK_INT_EQ(1, cnn_get_threads());
    float *a = train_three_steps(m), *b = train_three_steps(m);
    CHECK(a && b && memcmp(a, b, m->nparams * sizeof *a) == 0);
    cnn_set_threads(saved);
    free(a), free(b);
    cnn_model_free(m);
}

static void rng_matches_xoshiro256starstar(void)
{
    /* splitmix64-seeded xoshiro256** from seed 1, computed independently */
    cnn_rng r, s;
    cnn_rng_seed(&r, 1);
    CHECK(cnn_rng_u64(&r) == 0xb3f2af6d0fc710c5ull);
    CHECK(cnn_rng_u64(&r) == 0x853b559647364ceaull);
    CHECK(cnn_rng_u64(&r) == 0x92f89756082a4514ull);
    cnn_rng_seed(&r, 42);
    cnn_rng_seed(&s, 42);
    int same = 1;
    double sum = 0, sq = 0;
    for (int i = 0; i < 10000; i++) {
        float u = cnn_rng_uniform(&r);
        same &= u == cnn_rng_uniform(&s);
        CHECK(u >= 0.0f && u < 1.0f);
        uint64_t k = cnn_rng_below(&r, 7);
        same &= k == cnn_rng_below(&s, 7);
        CHECK(k < 7);
        float z = cnn_rng_normal(&r);
        same &= z == cnn_rng_normal(&s);
        sum += z, sq += (double)z * z;
    }
    CHECK(same);
    CHECK(fabs(sum / 10000) < 0.05);
    CHECK(fabs(sq / 10000 - 1) < 0.05);
    cnn_rng_seed(&s, 43);
    CHECK(cnn_rng_u64(&r) != cnn_rng_u64(&s));
    uint32_t idx[50];
    for (int i = 0; i < 50; i++) idx[i] = (uint32_t)i;
    cnn_rng_shuffle(&r, idx, 50);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) seen[idx[i]]++, moved += idx[i] != (uint32_t)i;
    for (int i = 0; i < 50; i++) CHECK_INT_EQ(1, seen[i]);
    CHECK(moved > 25);
}

/* A one-weight model: w starts at 1 and gets the gradients written by hand. */
static void optimizer_case(const cnn_optim *o, const float *gs, const double *expect, int steps)
{
    cnn_model *m = parse("{\"input_shape\": [1, 1, 1], \"layers\": [{\"type\": \"Flatten\"},"
                         " {\"type\": \"Dense\", \"units\": 1, \"use_bias\": false},"
                         " {\"type\": \"BatchNormalization\"}]}");
    if (!m) {
        CHECK(m != NULL);
        return;
    }
    cnn_net *net;
    cnn_error err;
    CHECK(cnn_net_new(m, 1, &net, &err) == 0);
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    float *p = cnn_net_params(net), *g = cnn_net_grads(net);
    p[0] = 1.0f;
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < 5; i++) g[i] = gs[t]; /* w, gamma, beta, moving mean, moving var */
        cnn_net_step(net, o, 0.1f, t + 1);
        CHECK_NEAR(expect[t], p[0], 2e-7);
    }
    CHECK(p[3] == 0.0f && p[4] == 1.0f); /* moving statistics are not trained */
    CHECK(p[1] != 1.0f && p[2] != 0.0f);  /* gamma and beta are */
    cnn_net_free(net);
    cnn_model_free(m);
}

static void optimizers_match_hand_computed_updates(void)
{
    const float gs[2] = {0.5f, 0.5f}, ga[2] = {0.5f, -0.5f};
    cnn_optim plain = {.kind = CNN_OPT_SGD};
    optimizer_case(&plain, gs, (const double[]){0.95, 0.90}, 2);
    cnn_optim mom = {.kind = CNN_OPT_SGD, .momentum = 0.9f};
    optimizer_case(&mom, gs, (const double[]){0.95, 0.855}, 2);
    cnn_optim nes = {.kind = CNN_OPT_SGD, .momentum = 0.9f, .nesterov = 1};
    optimizer_case(&nes, gs, (const double[]){0.905, 0.7695}, 2);
    cnn_optim adam;
    cnn_training t = {.optimizer = CNN_OPT_ADAM};
    cnn_optim_from_training(&adam, &t);
    CHECK_NEAR(0.9, adam.beta1, 1e-7);
    CHECK_NEAR(0.999, adam.beta2, 1e-7);
    CHECK_NEAR(1e-7, adam.eps, 1e-12);
    optimizer_case(&adam, ga, (const double[]){0.9000006324515321, 0.90526376680293}, 2);
}

static void schedules_follow_their_formulas(void)
{
    cnn_training t = {.learning_rate = 0.1f, .schedule = CNN_SCHED_CONSTANT, .epochs = 10,
                      .step_epochs = 3, .step_gamma = 0.5f};
    CHECK_NEAR(0.1, cnn_lr_at(&t, 7, 5, 100), 1e-7);
    t.schedule = CNN_SCHED_STEP;
    CHECK_NEAR(0.1, cnn_lr_at(&t, 0, 0, 100), 1e-7);
    CHECK_NEAR(0.1, cnn_lr_at(&t, 2, 99, 100), 1e-7);
    CHECK_NEAR(0.05, cnn_lr_at(&t, 3, 0, 100), 1e-7);
    CHECK_NEAR(0.025, cnn_lr_at(&t, 7, 0, 100), 1e-7);
    t.schedule = CNN_SCHED_COSINE;
    CHECK_NEAR(0.1, cnn_lr_at(&t, 0, 0, 100), 1e-7);
    CHECK_NEAR(0.05, cnn_lr_at(&t, 5, 0, 100), 1e-7);
    CHECK_NEAR(0.0853553390593, cnn_lr_at(&t, 2, 50, 100), 1e-7); /* progress 1/4 */
    CHECK_NEAR(0.0, cnn_lr_at(&t, 10, 0, 100), 1e-7);
}

static void init_follows_keras(void)
{
    cnn_model *m = lecture();
    if (!m) return;
    cnn_net *net;
    cnn_error err;
    CHECK(cnn_net_new(m, 1, &net, &err) == 0);
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    const float *p = cnn_net_params(net);
    /* conv2d_1: fan_in 25*9, fan_out 50*9: limit sqrt(6 / 675) */
    const cnn_layer *L = &m->layers[2];
    double limit = sqrt(6.0 / (225 + 450)), mx = 0, sq = 0;
    size_t nk = 50 * 25 * 9;
    for (size_t i = 0; i < nk; i++) {
        mx = fmax(mx, fabs(p[L->param_offset + i]));
        sq += (double)p[L->param_offset + i] * p[L->param_offset + i];
    }
    CHECK(mx <= limit && mx > 0.95 * limit);
    CHECK_NEAR(limit * limit / 3, sq / nk, 0.05 * limit * limit / 3 + 1e-9);
    for (int i = 0; i < 50; i++) CHECK(p[L->param_offset + nk + i] == 0.0f); /* bias */
    cnn_net_init(net, CNN_INIT_HE_NORMAL, &r);
    /* dense: fan_in 1250, stddev sqrt(2 / 1250), truncated at two stddevs */
    L = &m->layers[5];
    double sd = sqrt(2.0 / 1250);
    sq = 0, mx = 0;
    for (size_t i = 0; i < 125000; i++) {
        sq += (double)p[L->param_offset + i] * p[L->param_offset + i];
        mx = fmax(mx, fabs(p[L->param_offset + i]));
    }
    CHECK_NEAR(sd, sqrt(sq / 125000), 0.02 * sd);
    CHECK(mx <= 2 * sd / 0.87962566103423978 + 1e-6);
    cnn_net_free(net);
    cnn_model_free(m);
}

static void bad_calls_are_errors(void)
{
    cnn_model *m = lecture();
    if (!m) return;
    cnn_net *net;
    cnn_error err;
    CHECK(cnn_net_new(m, 0, &net, &err) == -1);
    CHECK(cnn_net_new(m, 2, &net, &err) == 0);
    float x[784 * 3] = {0};
    CHECK(cnn_net_forward(net, x, (size_t)3 * cnn_net_input_size(net), 3, 0, NULL, &err) == -1);
    CHECK_CONTAINS(err.msg, "expected 1 to 2");
    CHECK(cnn_net_backward(net, 1, 6, 0, NULL, 0, &err) == -1); /* no forward yet */
    CHECK(cnn_net_forward(net, x, (size_t)2 * cnn_net_input_size(net), 2, 0, NULL, &err) == 0);
    CHECK(cnn_net_backward(net, 1, 6, 0, NULL, 0, &err) == -1);
    CHECK(cnn_net_backward(net, 2, 7, 0, NULL, 0, &err) == -1);
    CHECK(cnn_net_backward(net, 2, 6, 0, NULL, 0, &err) == 0);
    cnn_net_free(net);
    cnn_net_free(NULL);
    cnn_model_free(m);
}

/* The net's large blocks: zeroed, writable, on 2 MiB boundaries from 256 KiB
 * on, their lengths as bigmem.h gives them. */
static void big_blocks_are_zeroed_and_sized_by_the_rule(void)
{
    struct { size_t bytes; int whole; size_t mapped; } cases[] = {
        {100, 0, 4096},                  /* small: 4 KiB pages */
        {300 << 10, 0, 2 << 20},         /* 256 KiB to 2 MiB: one huge page */
        {(3 << 20) + 5, 0, (3 << 20) + 4096}, /* large, kept: the tail in 4 KiB pages */
        {(3 << 20) + 5, 1, 4 << 20},     /* large, read through: whole huge pages */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t mapped = 0;
        unsigned char *p = cnn_big_calloc(cases[c].bytes, cases[c].whole, &mapped);
        CHECK(p != NULL);
        if (!p) continue;
        size_t nonzero = 0;
        for (size_t i = 0; i < cases[c].bytes; i++) nonzero += p[i] != 0;
        CHECK_INT_EQ(0, nonzero);
        memset(p, 0xab, cases[c].bytes);
#if !defined(__SANITIZE_ADDRESS__)
        CHECK_INT_EQ(cases[c].mapped, mapped);
        if (cases[c].bytes >= (256 << 10)) CHECK_INT_EQ(0, (size_t)p % (2 << 20));
#endif
        cnn_big_free(p, mapped);
    }
    cnn_big_free(NULL, 0);
}

int main(void)
{
    RUN(sgd_step_lowers_the_loss_on_the_lecture_model);
    RUN(loss_gradient_matches_central_differences);
    RUN(loss_seed_is_consistent_for_pre_0_and_1);
    RUN(cross_entropy_is_finite_for_huge_logits);
    RUN(nan_is_reported_by_the_first_layer_that_meets_it);
    RUN(one_thread_runs_are_bit_identical);
    RUN(rng_matches_xoshiro256starstar);
    RUN(optimizers_match_hand_computed_updates);
    RUN(schedules_follow_their_formulas);
    RUN(init_follows_keras);
    RUN(bad_calls_are_errors);
    RUN(big_blocks_are_zeroed_and_sized_by_the_rule);
    return check_report();
}
