/* Tests for model descriptions: parameter totals of every shipped model
 * (worked out by hand here), shape inference including "same" padding with
 * odd sizes and strides, the three Keras export forms, round trips through
 * cnn_model_to_json, and the summary's table width rule. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnn.h"
#include "summary.h"
#include "layer.h" /* internal: the layer-extension API */

static cnn_model *load(const char *path)
{
    cnn_model *m = NULL;
    cnn_error err = {{0}};
    if (cnn_model_load(path, &m, &err)) CHECK_FAIL_("%s: %s", path, err.msg);
    return m;
}

static cnn_model *parse(const char *text, cnn_error *err)
{
    cnn_model *m = NULL;
    if (cnn_model_parse(text, strlen(text), "test.json", &m, err)) return NULL;
    return m;
}

static void check_total(const char *path, long long total, long long trainable)
{
    cnn_model *m = load(path);
    if (!m) return;
    CHECK_INT_EQ(total, m->nparams);
    CHECK_INT_EQ(trainable, m->ntrainable);
    long long sum = 0;
    for (int i = 0; i < m->nlayers; i++) sum += (long long)m->layers[i].nparams;
    CHECK_INT_EQ(total, sum);
    cnn_model_free(m);
}

/* ---- parameter totals, by hand from each architecture ---------------------- */

static void lee_mnist_has_137660_parameters(void)
{
    long long t = (3 * 3 * 1 * 25 + 25) + (3 * 3 * 25 * 50 + 50) + (5 * 5 * 50 * 100 + 100) +
                  (100 * 10 + 10);
    CHECK_INT_EQ(137660, t);
    check_total("models/lee-mnist.json", t, t);
}

/* A copy is the same architecture as a model parsed again, and outlives the
 * original. */
static void a_copy_outlives_its_model_and_describes_the_same_one(void)
{
    cnn_model *m = load("models/cifar-cnn.json"), *again = load("models/cifar-cnn.json");
    if (!m || !again) return;
    cnn_model *c = cnn_model_copy(m);
    CHECK(c != NULL && c->layers != m->layers);
    cnn_model_free(m);
    char why[256] = "";
    CHECK(c && cnn_model_same(c, again, why, sizeof why));
    CHECK_STR_EQ("", why);
    CHECK(c && c->nparams == again->nparams && c->nlayers == again->nlayers &&
          strcmp(c->layers[c->nlayers - 1].name, again->layers[again->nlayers - 1].name) == 0);
    cnn_model_free(c);
    cnn_model_free(again);
}

static void lenet5_parameters(void)
{
    long long t = (5 * 5 * 1 * 6 + 6) + (5 * 5 * 6 * 16 + 16) + (5 * 5 * 16 * 120 + 120) +
                  (120 * 84 + 84) + (84 * 10 + 10);
    check_total("models/lenet5.json", t, t);
}

static void cifar_parameters(void)
{
    /* 32 -same-> 32 -valid-> 30 -pool-> 15 -same-> 15 -valid-> 13 -pool-> 6 */
    long long t = (3 * 3 * 3 * 32 + 32) + (3 * 3 * 32 * 32 + 32) + (3 * 3 * 32 * 64 + 64) +
                  (3 * 3 * 64 * 64 + 64) + (6 * 6 * 64 * 512 + 512) + (512 * 10 + 10);
    check_total("models/cifar-cnn.json", t, t);
}

static void alphago_policy_parameters(void)
{
    long long t = (5 * 5 * 48 * 192 + 192) + 11LL * (3 * 3 * 192 * 192 + 192) + (192 + 1);
    check_total("models/alphago-policy.json", t, t);
    cnn_model *m = load("models/alphago-policy.json");
    if (!m) return;
    CHECK_INT_EQ(15, m->nlayers); /* 13 Conv2D, Flatten, Activation */
    for (int i = 0; i < 13; i++) {
        CHECK_INT_EQ(19, m->layers[i].out.h);
        CHECK_INT_EQ(19, m->layers[i].out.w);
    }
    CHECK_INT_EQ(361, m->layers[m->nlayers - 1].out.c);
    CHECK_INT_EQ(CNN_ACT_SOFTMAX, m->layers[m->nlayers - 1].activation);
    cnn_model_free(m);
}

static void speech_filters_span_time_and_move_along_frequency(void)
{
    long long t = (11 * 8 * 1 * 64 + 64) + (11 * 64 * 128 + 128) + (128 * 48 + 48);
    check_total("models/speech-cnn.json", t, t);
    cnn_model *m = load("models/speech-cnn.json");
    if (!m) return;
    CHECK_INT_EQ(m->input.h, m->layers[0].kernel[0]); /* the whole time axis */
    CHECK_INT_EQ(1, m->layers[0].out.h);
    CHECK_INT_EQ(40 - 8 + 1, m->layers[0].out.w);
    CHECK_INT_EQ(11, m->layers[1].out.w); /* (33 - 3) / 3 + 1 */
    cnn_model_free(m);
}

static void kim_text_filters_are_as_wide_as_the_embedding(void)
{
    long long t = (3 * 300 * 1 * 100 + 100) + (100 * 2 + 2);
    check_total("models/kim-text.json", t, t);
    cnn_model *m = load("models/kim-text.json");
    if (!m) return;
    CHECK_INT_EQ(m->input.w, m->layers[0].kernel[1]);
    CHECK_INT_EQ(48, m->layers[0].out.h);
    CHECK_INT_EQ(1, m->layers[0].out.w);
    CHECK(m->layers[1].out.flat);
    CHECK_INT_EQ(100, m->layers[1].out.c);
    cnn_model_free(m);
}

static void fashion_bn_parameters_and_training(void)
{
    /* 28 -> conv 3x3 -> 26 -> pool -> 13 -> conv 3x3 -> 11 -> pool -> 5: 5*5*64 = 1600
     * inputs to the dense layer.  Convs and the first dense have no bias (the
     * BatchNormalization after each has beta); BN has 4*C, of which 2*C are not trainable. */
    long long bn = 4 * (32 + 64 + 128);
    long long t = 3 * 3 * 1 * 32 + 3 * 3 * 32 * 64 + 5 * 5 * 64 * 128 + (128 * 10 + 10) + bn;
    check_total("models/fashion-bn.json", t, t - bn / 2);
    cnn_model *m = load("models/fashion-bn.json");
    if (!m) return;
    CHECK_INT_EQ(15, m->training.epochs);
    CHECK_INT_EQ(CNN_OPT_ADAM, m->training.optimizer);
    CHECK_INT_EQ(CNN_SCHED_COSINE, m->training.schedule);
    cnn_model_free(m);
}

static void lee_mnist_training_object_is_kept(void)
{
    cnn_model *m = load("models/lee-mnist.json");
    if (!m) return;
    CHECK_INT_EQ(8, m->training.epochs);
    CHECK_INT_EQ(64, m->training.batch_size);
    CHECK_NEAR(0.001, m->training.learning_rate, 1e-9);
    cnn_model_free(m);
}

/* ---- shapes ------------------------------------------------------------------ */

static void lee_mnist_shapes_and_names(void)
{
    static const int hwc[7][3] = {{26, 26, 25}, {13, 13, 25}, {11, 11, 50}, {5, 5, 50},
                                  {1, 1, 1250}, {1, 1, 100},  {1, 1, 10}};
    static const char *const names[7] = {"conv2d",  "max_pooling2d", "conv2d_1", "max_pooling2d_1",
                                         "flatten", "dense",         "dense_1"};
    cnn_model *m = load("models/lee-mnist.json");
    if (!m) return;
    CHECK_INT_EQ(7, m->nlayers);
    for (int i = 0; i < 7 && i < m->nlayers; i++) {
        CHECK_STR_EQ(names[i], m->layers[i].name);
        CHECK_INT_EQ(hwc[i][0], m->layers[i].out.h);
        CHECK_INT_EQ(hwc[i][1], m->layers[i].out.w);
        CHECK_INT_EQ(hwc[i][2], m->layers[i].out.c);
        CHECK_INT_EQ(i >= 4, m->layers[i].out.flat);
    }
    cnn_model_free(m);
}

static void same_padding_with_odd_sizes_and_stride_2(void)
{
    cnn_error err = {{0}};
    cnn_model *m = parse(
        "{\"input_shape\": [7, 9, 3], \"layers\": ["
        "{\"type\": \"Conv2D\", \"filters\": 4, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\"},"
        "{\"type\": \"MaxPooling2D\", \"pool_size\": 2, \"padding\": \"same\"},"
        "{\"type\": \"Conv2D\", \"filters\": 5, \"kernel_size\": [1, 4], \"strides\": [1, 3], \"padding\": \"same\"}]}",
        &err);
    if (!m) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    /* conv 3x3 /2 same: ceil(7/2) = 4, ceil(9/2) = 5; padding (4-1)*2+3-7 = 2 -> 1 + 1,
     * (5-1)*2+3-9 = 2 -> 1 + 1 */
    const cnn_layer *a = &m->layers[0];
    CHECK_INT_EQ(4, a->out.h);
    CHECK_INT_EQ(5, a->out.w);
    CHECK_INT_EQ(1, a->pad_top);
    CHECK_INT_EQ(1, a->pad_bottom);
    CHECK_INT_EQ(1, a->pad_left);
    CHECK_INT_EQ(1, a->pad_right);
    CHECK_INT_EQ(3 * 3 * 3 * 4 + 4, a->nparams);
    /* pool 2 /2 same on 4x5: 2 x ceil(5/2) = 3; width padding (3-1)*2+2-5 = 1, all after */
    const cnn_layer *b = &m->layers[1];
    CHECK_INT_EQ(2, b->out.h);
    CHECK_INT_EQ(3, b->out.w);
    CHECK_INT_EQ(0, b->pad_top);
    CHECK_INT_EQ(0, b->pad_bottom);
    CHECK_INT_EQ(0, b->pad_left);
    CHECK_INT_EQ(1, b->pad_right);
    /* conv 1x4 strides (1, 3) same on 2x3: 2 x ceil(3/3) = 1; width padding 0*3+4-3 = 1 */
    const cnn_layer *c = &m->layers[2];
    CHECK_INT_EQ(2, c->out.h);
    CHECK_INT_EQ(1, c->out.w);
    CHECK_INT_EQ(0, c->pad_left);
    CHECK_INT_EQ(1, c->pad_right);
    CHECK_INT_EQ(1 * 4 * 4 * 5 + 5, c->nparams);
    cnn_model_free(m);

    /* valid, stride 2, odd size: floor((11 - 3) / 2) + 1 = 5 */
    m = parse("{\"input_shape\": [11, 13, 1], \"layers\": [{\"type\": \"Conv2D\", \"filters\": 1, "
              "\"kernel_size\": 3, \"strides\": 2}]}",
              &err);
    if (!m) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    CHECK_INT_EQ(5, m->layers[0].out.h);
    CHECK_INT_EQ(6, m->layers[0].out.w);
    cnn_model_free(m);
}

static void explicit_names_do_not_use_up_numbers(void)
{
    cnn_error err = {{0}};
    cnn_model *m = parse("{\"input_shape\": [4, 4, 1], \"layers\": [{\"type\": \"Flatten\", "
                         "\"name\": \"first\"}, {\"type\": \"Dense\", \"units\": 3, \"name\": "
                         "\"hidden\"}, {\"type\": \"Dense\", \"units\": 2}, {\"type\": \"Dense\", "
                         "\"units\": 2}]}",
                         &err);
    if (!m) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    CHECK_STR_EQ("dense", m->layers[2].name);
    CHECK_STR_EQ("dense_1", m->layers[3].name);
    cnn_model_free(m);
}

static void syntax_error_names_line_and_column(void)
{
    cnn_error err = {{0}};
    cnn_model *m = parse("{\"input_shape\": [4, 4, 1]\n  \"layers\": []}", &err);
    CHECK(m == NULL);
    CHECK_STR_EQ("test.json: JSON syntax error at line 2, column 3", err.msg);
    cnn_model_free(m);
}

/* ---- Keras exports ------------------------------------------------------------ */

/* Same kinds, configuration, shapes and parameters as the lecture model. */
static void check_like_lee_mnist(const cnn_model *k, const cnn_model *ref)
{
    CHECK_INT_EQ(ref->nlayers, k->nlayers);
    CHECK_INT_EQ(ref->nparams, k->nparams);
    CHECK_INT_EQ(ref->input.h, k->input.h);
    CHECK_INT_EQ(ref->input.w, k->input.w);
    CHECK_INT_EQ(ref->input.c, k->input.c);
    for (int i = 0; i < ref->nlayers && i < k->nlayers; i++) {
        const cnn_layer *a = &ref->layers[i], *b = &k->layers[i];
        CHECK(a->ops == b->ops);
        CHECK_INT_EQ(a->units, b->units);
        CHECK_INT_EQ(a->kernel[0], b->kernel[0]);
        CHECK_INT_EQ(a->kernel[1], b->kernel[1]);
        CHECK_INT_EQ(a->stride[0], b->stride[0]);
        CHECK_INT_EQ(a->padding, b->padding);
        CHECK_INT_EQ(a->activation, b->activation);
        CHECK_INT_EQ(a->use_bias, b->use_bias);
        CHECK_INT_EQ(a->out.c, b->out.c);
        CHECK_INT_EQ(a->out.h, b->out.h);
        CHECK_INT_EQ(a->out.w, b->out.w);
        CHECK_INT_EQ(a->nparams, b->nparams);
    }
}

static void keras_exports_match_the_lecture_model(void)
{
    cnn_model *ref = load("models/lee-mnist.json");
    if (!ref) return;
    static const char *const files[3] = {"tests/models/lee-mnist.keras22.json",
                                         "tests/models/lee-mnist.tfkeras2.json",
                                         "tests/models/lee-mnist.keras3.json"};
    static const char *const formats[3] = {"keras-2.2", "tf.keras-2", "keras-3"};
    for (int f = 0; f < 3; f++) {
        cnn_model *k = load(files[f]);
        if (!k) continue;
        CHECK_STR_EQ(formats[f], k->format);
        check_like_lee_mnist(k, ref);
        if (f == 0) {
            /* Keras 2.2 numbered its automatic names from 1; they are kept. */
            CHECK_STR_EQ("conv2d_1", k->layers[0].name);
            CHECK_STR_EQ("dense_2", k->layers[6].name);
        } else {
            char why[256];
            CHECK(cnn_model_same(ref, k, why, sizeof why));
            CHECK_STR_EQ("lee-mnist", k->name);
        }
        cnn_model_free(k);
    }
    cnn_model_free(ref);
}

static const char *tfkeras(const char *layers, char *buf, size_t n)
{
    snprintf(buf, n,
             "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"t\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 8, 8, 2], "
             "\"dtype\": \"float32\", \"name\": \"in\"}}, %s]}, \"keras_version\": \"2.11.0\"}",
             layers);
    return buf;
}

static void keras_batchnorm_axis(void)
{
    static const char *const good[] = {"-1", "3", "[3]", "[-1]"};
    char layer[512], text[2048];
    cnn_error err = {{0}};
    for (int i = 0; i < 4; i++) {
        snprintf(layer, sizeof layer,
                 "{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", "
                 "\"axis\": %s, \"momentum\": 0.9, \"epsilon\": 0.001, \"center\": true, "
                 "\"scale\": true, \"beta_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}}}",
                 good[i]);
        cnn_model *m = parse(tfkeras(layer, text, sizeof text), &err);
        if (!m) {
            CHECK_FAIL_("axis %s: %s", good[i], err.msg);
            continue;
        }
        CHECK_INT_EQ(4 * 2, m->nparams);
        CHECK_INT_EQ(2 * 2, m->ntrainable);
        CHECK_NEAR(0.9, m->layers[0].momentum, 1e-6);
        cnn_model_free(m);
    }
    /* after Flatten the channel axis is 1 */
    cnn_model *m = parse(
        tfkeras("{\"class_name\": \"Flatten\", \"config\": {\"name\": \"f\"}}, "
                "{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", \"axis\": [1]}}",
                text, sizeof text),
        &err);
    CHECK(m != NULL);
    if (m) CHECK_INT_EQ(4 * 128, m->nparams);
    cnn_model_free(m);
    m = parse(tfkeras("{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", "
                      "\"axis\": 2}}",
                      text, sizeof text),
              &err);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.msg, "layers[0] (bn): axis: BatchNormalization over axis 2 is not supported");
    cnn_model_free(m);
}

static void keras_relu_and_softmax_layers_become_activations(void)
{
    char text[2048];
    cnn_error err = {{0}};
    cnn_model *m = parse(
        tfkeras("{\"class_name\": \"ReLU\", \"config\": {\"name\": \"re_lu\", \"max_value\": null, "
                "\"negative_slope\": 0.0, \"threshold\": 0.0}}, {\"class_name\": \"Flatten\", "
                "\"config\": {\"name\": \"flatten\"}}, {\"class_name\": \"Softmax\", \"config\": "
                "{\"name\": \"softmax\", \"axis\": -1}}",
                text, sizeof text),
        &err);
    if (!m) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    CHECK_STR_EQ("Activation", m->layers[0].ops->type);
    CHECK_STR_EQ("re_lu", m->layers[0].name);
    CHECK_INT_EQ(CNN_ACT_RELU, m->layers[0].activation);
    CHECK_INT_EQ(CNN_ACT_SOFTMAX, m->layers[2].activation);
    cnn_model_free(m);
    m = parse(tfkeras("{\"class_name\": \"ReLU\", \"config\": {\"name\": \"r\", \"max_value\": 6.0}}",
                      text, sizeof text),
              &err);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.msg, "max_value");
    cnn_model_free(m);
}

static void keras3_without_input_layer_uses_build_config(void)
{
    cnn_error err = {{0}};
    cnn_model *m = parse(
        "{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", "
        "\"layers\": [{\"module\": \"keras.layers\", \"class_name\": \"Conv2D\", \"config\": "
        "{\"name\": \"c\", \"filters\": 2, \"kernel_size\": [3, 3], \"dtype\": {\"module\": "
        "\"keras\", \"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"float32\"}, "
        "\"registered_name\": null}}, \"registered_name\": null, \"build_config\": "
        "{\"input_shape\": [null, 5, 6, 3]}}]}, \"registered_name\": null}",
        &err);
    if (!m) {
        CHECK_FAIL_("%s", err.msg);
        return;
    }
    CHECK_STR_EQ("keras-3", m->format);
    CHECK_INT_EQ(3, m->input.c);
    CHECK_INT_EQ(3, m->layers[0].out.h);
    CHECK_INT_EQ(4, m->layers[0].out.w);
    cnn_model_free(m);
}

/* ---- round trip --------------------------------------------------------------- */

static void every_model_round_trips_through_to_json(void)
{
    static const char *const files[] = {
        "models/lee-mnist.json",    "models/lenet5.json",         "models/cifar-cnn.json",
        "models/alphago-policy.json", "models/speech-cnn.json",   "models/kim-text.json",
        "models/fashion-bn.json",   "tests/models/lee-mnist.keras3.json"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        cnn_model *a = load(files[f]);
        if (!a) continue;
        char *json = cnn_model_to_json(a);
        CHECK(json != NULL);
        cnn_error err = {{0}};
        cnn_model *b = json ? parse(json, &err) : NULL;
        if (!b) {
            CHECK_FAIL_("%s: %s", files[f], err.msg);
        } else {
            char why[256] = "";
            if (!cnn_model_same(a, b, why, sizeof why)) CHECK_FAIL_("%s: %s", files[f], why);
            CHECK_STR_EQ(a->name, b->name);
            CHECK_INT_EQ(a->nparams, b->nparams);
            CHECK_INT_EQ(a->ntrainable, b->ntrainable);
            CHECK(memcmp(&a->training, &b->training, sizeof a->training) == 0);
        }
        cnn_model_free(b);
        free(json);
        cnn_model_free(a);
    }
}

/* ---- summary width rule --------------------------------------------------------- */

static void keras3_table_width_follows_the_terminal(void)
{
    CHECK_INT_EQ(76, cnn_summary_line_length(0)); /* not a terminal: 80 - 4 */
    CHECK_INT_EQ(88, cnn_summary_line_length(92));
    CHECK_INT_EQ(88, cnn_summary_line_length(200));
    CHECK_INT_EQ(87, cnn_summary_line_length(91));
    CHECK_INT_EQ(76, cnn_summary_line_length(80));
}

static void keras3_table_at_88_columns(void)
{
    cnn_model *m = load("models/lee-mnist.json");
    if (!m) return;
    cnn_summary_opts o = {.layout = CNN_SUMMARY_KERAS3, .line_length = 88};
    char *s = cnn_summary(m, &o);
    /* asked [39, 31, 18] + 2 padding = 98 > 84: minus 3, 4, 3 -> cells 38, 29, 17 */
    CHECK_CONTAINS(s, "\n┃ Layer (type)                         ┃ Output Shape                ┃"
                      "         Param # ┃\n");
    CHECK_CONTAINS(s, "\n│ conv2d (Conv2D)                      │ (None, 26, 26, 25)          │"
                      "             250 │\n");
    free(s);
    cnn_model_free(m);
}

int main(void)
{
    RUN(lee_mnist_has_137660_parameters);
    RUN(lenet5_parameters);
    RUN(a_copy_outlives_its_model_and_describes_the_same_one);
    RUN(cifar_parameters);
    RUN(alphago_policy_parameters);
    RUN(speech_filters_span_time_and_move_along_frequency);
    RUN(kim_text_filters_are_as_wide_as_the_embedding);
    RUN(fashion_bn_parameters_and_training);
    RUN(lee_mnist_training_object_is_kept);
    RUN(lee_mnist_shapes_and_names);
    RUN(same_padding_with_odd_sizes_and_stride_2);
    RUN(explicit_names_do_not_use_up_numbers);
    RUN(syntax_error_names_line_and_column);
    RUN(keras_exports_match_the_lecture_model);
    RUN(keras_batchnorm_axis);
    RUN(keras_relu_and_softmax_layers_become_activations);
    RUN(keras3_without_input_layer_uses_build_config);
    RUN(every_model_round_trips_through_to_json);
    RUN(keras3_table_width_follows_the_terminal);
    RUN(keras3_table_at_88_columns);
    return check_report();
}
