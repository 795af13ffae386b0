/* The public API called with the wrong sizes: every entry point that takes a
 * buffer, a count or an index checks it and returns an error (or NULL) instead
 * of reading or writing past the caller's memory.  Buffers are malloc'd to the
 * exact size the caller claims, so under `make asan` an unchecked access is a
 * heap-buffer-overflow, not a silent pass.  The first case is the outside
 * report: a 10x10 image given to cnn_net_forward for a 28x28 model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cnn.h"

static const char *MODEL28 =
    "{\"name\": \"m28\", \"input_shape\": [28, 28, 1], \"layers\": ["
    "{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": 3, \"activation\": \"relu\"},"
    "{\"type\": \"Flatten\"},"
    "{\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}";
static const char *MODEL10 =
    "{\"name\": \"m10\", \"input_shape\": [10, 10, 1], \"layers\": ["
    "{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}";

static char tmpdir[] = "/tmp/cnn-api-sizes.XXXXXX";

static cnn_model *model(const char *json)
{
    cnn_model *m = NULL;
    cnn_error err;
    if (cnn_model_parse(json, strlen(json), "model.json", &m, &err)) {
        fprintf(stderr, "model: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static cnn_net *net_for(const cnn_model *m, int max_batch)
{
    cnn_net *net = NULL;
    cnn_error err;
    if (cnn_net_new(m, max_batch, &net, &err)) {
        fprintf(stderr, "net: %s\n", err.msg);
        exit(1);
    }
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    cnn_net_init(net, 0, &r);
    return net;
}

/* A floats, malloc'd to exactly n (so ASan sees any access past it). */
static float *floats(size_t n, float v)
{
    float *x = malloc(sizeof *x * n);
    for (size_t i = 0; i < n; i++) x[i] = v;
    return x;
}

static void forward_refuses_a_10x10_image_for_a_28x28_model(void)
{
    cnn_model *m = model(MODEL28);
    cnn_net *net = net_for(m, 2);
    cnn_error err = {{0}};
    CHECK_INT_EQ(784, cnn_net_input_size(net));
    float *small = floats(100, 0.5f);
    CHECK_INT_EQ(-1, cnn_net_forward(net, small, 100, 1, 0, NULL, &err));
    CHECK(strstr(err.msg, "100 floats") && strstr(err.msg, "784"));
    /* two images' worth minus one float, and a buffer for 3 images with n = 2 */
    float *two = floats(2 * 784 - 1, 0.5f);
    CHECK_INT_EQ(-1, cnn_net_forward(net, two, 2 * 784 - 1, 2, 0, NULL, &err));
    CHECK(strstr(err.msg, "1568 in all") != NULL);
    float *ok = floats(2 * 784, 0.5f);
    CHECK_INT_EQ(-1, cnn_net_forward(net, ok, 2 * 784, 1, 0, NULL, &err));
    CHECK_INT_EQ(-1, cnn_net_forward(net, ok, 2 * 784, 3, 0, NULL, &err)); /* > max batch */
    CHECK_INT_EQ(-1, cnn_net_forward(net, NULL, 0, 1, 0, NULL, &err));
    CHECK_INT_EQ(-1, cnn_net_forward(NULL, ok, 784, 1, 0, NULL, &err));
    CHECK_INT_EQ(0, cnn_net_forward(net, ok, 2 * 784, 2, 0, NULL, &err));
    free(small);
    free(two);
    free(ok);
    cnn_net_free(net);
    cnn_model_free(m);
}

static void backward_refuses_a_short_input_gradient_buffer(void)
{
    cnn_model *m = model(MODEL28);
    cnn_net *net = net_for(m, 2);
    cnn_error err = {{0}};
    float *x = floats(784, 0.25f);
    CHECK_INT_EQ(0, cnn_net_forward(net, x, 784, 1, 0, NULL, &err));
    int labels[1] = {1};
    (void)cnn_net_loss(net, labels, 1, CNN_LOSS_CROSSENTROPY, NULL);
    float *dx = floats(100, 0);
    CHECK_INT_EQ(-1, cnn_net_backward(net, 1, m->nlayers - 1, 0, dx, 100, &err));
    CHECK(strstr(err.msg, "input gradient of 100 floats") != NULL);
    float *dx_ok = floats(784, 0);
    CHECK_INT_EQ(0, cnn_net_backward(net, 1, m->nlayers - 1, 0, dx_ok, 784, &err));
    CHECK_INT_EQ(-1, cnn_net_backward(NULL, 1, 0, 0, NULL, 0, &err));
    free(x);
    free(dx);
    free(dx_ok);
    cnn_net_free(net);
    cnn_model_free(m);
}

static void layer_accessors_give_null_for_a_layer_out_of_range(void)
{
    cnn_model *m = model(MODEL28);
    cnn_net *net = net_for(m, 1);
    CHECK(cnn_net_output(net, -1) == NULL);
    CHECK(cnn_net_output(net, m->nlayers) == NULL);
    CHECK(cnn_net_preact(net, m->nlayers) == NULL);
    CHECK(cnn_net_grad_at(net, m->nlayers, 0) == NULL);
    CHECK(cnn_net_grad_at(net, -5, 1) == NULL);
    CHECK(cnn_net_output(net, m->nlayers - 1) != NULL);
    cnn_vis_objective obj = {m->nlayers + 3, 0, 0};
    CHECK_INT_EQ(0, cnn_vis_uses_preact(m, &obj));
    CHECK_INT_EQ(0, cnn_vis_units(m, m->nlayers));
    float *x = floats(784, 0), *maps = floats(2 * 26 * 26, 0);
    cnn_error err;
    CHECK_INT_EQ(-1, cnn_vis_feature_maps(net, m->nlayers, 0, x, maps, &err));
    free(x);
    free(maps);
    cnn_net_free(net);
    cnn_model_free(m);
}

static void top_k_and_eval_refuse_counts_out_of_range(void)
{
    float probs[3] = {0.2f, 0.5f, 0.3f};
    int classes[3] = {-7, -7, -7};
    int four[4] = {-7, -7, -7, -7};
    CHECK_INT_EQ(0, cnn_top_k(probs, 3, 0, classes));
    CHECK_INT_EQ(0, cnn_top_k(probs, 0, 2, classes));
    CHECK_INT_EQ(-7, classes[0]);
    CHECK_INT_EQ(3, cnn_top_k(probs, 3, 4, four)); /* k > n: the n classes, nothing more */
    CHECK_INT_EQ(-7, four[3]);
    CHECK_INT_EQ(2, cnn_top_k(probs, 3, 2, classes));
    CHECK_INT_EQ(1, classes[0]);
    CHECK_INT_EQ(2, classes[1]);
    CHECK_INT_EQ(-7, classes[2]);

    cnn_eval *e = NULL;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_eval_new(3, &e, &err));
    CHECK_INT_EQ(-1, cnn_eval_add(e, 3, 0));
    CHECK_INT_EQ(-1, cnn_eval_add(e, 0, -1));
    CHECK_INT_EQ(0, e->n);
    CHECK_INT_EQ(0, cnn_eval_add(e, 2, 2));
    CHECK_INT_EQ(1, e->n);
    cnn_eval_free(e);
}

/* 5 images of side x side, labels 0..2, as IDX files in tmpdir. */
static void write_set(const char *tag, int side, char *images, char *labels)
{
    size_t n = 5, dims[3] = {n, (size_t)side, (size_t)side};
    unsigned char *px = calloc(n * (size_t)side * (size_t)side, 1), lab[5] = {0, 1, 2, 0, 1};
    cnn_error err;
    snprintf(images, 256, "%s/%s-images.idx", tmpdir, tag);
    snprintf(labels, 256, "%s/%s-labels.idx", tmpdir, tag);
    if (cnn_idx_write(images, CNN_IDX_U8, 3, dims, px, 0, &err) ||
        cnn_idx_write(labels, CNN_IDX_U8, 1, dims, lab, 0, &err)) {
        fprintf(stderr, "idx: %s\n", err.msg);
        exit(1);
    }
    free(px);
}

static void datasets_of_another_shape_or_index_are_refused(void)
{
    char im28[256], lb28[256], im10[256], lb10[256];
    write_set("s28", 28, im28, lb28);
    write_set("s10", 10, im10, lb10);
    cnn_model *m28 = model(MODEL28), *m10 = model(MODEL10);
    cnn_dataset *d28 = NULL, *d10 = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_dataset_load(im28, lb28, m28, CNN_IDX_MAX_BYTES, &d28, &err));
    CHECK_INT_EQ(0, cnn_dataset_load(im10, lb10, m10, CNN_IDX_MAX_BYTES, &d10, &err));
    if (!d28 || !d10) return;

    uint32_t idx[2] = {0, 5}; /* 5 is past the last record */
    float *x = floats(2 * 784, 0);
    CHECK_INT_EQ(-1, cnn_dataset_batch(d28, idx, 2, x));
    CHECK_INT_EQ(0, cnn_dataset_batch(d28, idx, 1, x));
    CHECK_INT_EQ(-1, cnn_idx_record_float(d28->images, 5, x));

    /* evaluation and training on a set for another model */
    cnn_net *net = net_for(m28, 2);
    uint32_t all[5] = {0, 1, 2, 3, 4};
    double loss, acc;
    CHECK_INT_EQ(-1, cnn_evaluate(net, d10, all, 5, CNN_LOSS_CROSSENTROPY, &loss, &acc, NULL, &err));
    CHECK(strstr(err.msg, "(1, 10, 10)") && strstr(err.msg, "(1, 28, 28)"));
    CHECK_INT_EQ(-1, cnn_evaluate(net, d28, idx, 2, CNN_LOSS_CROSSENTROPY, &loss, &acc, NULL, &err));
    CHECK(strstr(err.msg, "record 5") != NULL);
    CHECK_INT_EQ(0, cnn_evaluate(net, d28, all, 5, CNN_LOSS_CROSSENTROPY, &loss, &acc, NULL, &err));

    cnn_train_opts o;
    memset(&o, 0, sizeof o);
    o.t = m28->training;
    o.t.epochs = 1;
    o.t.batch_size = 2;
    cnn_train_result res;
    CHECK_INT_EQ(-1, cnn_train(m28, d10, all, 5, NULL, NULL, 0, &o, &res, &err));
    CHECK(strstr(err.msg, "training images are (1, 10, 10)") != NULL);
    CHECK_INT_EQ(-1, cnn_train(m28, d28, all, 5, d28, idx, 2, &o, &res, &err));
    CHECK(strstr(err.msg, "validation") != NULL);

    /* the predictor: a set of another shape, a batch beyond its size, a bad index */
    cnn_param_set set = {"", cnn_net_params(net)};
    char wpath[256];
    snprintf(wpath, sizeof wpath, "%s/w.safetensors", tmpdir);
    CHECK_INT_EQ(0, cnn_weights_save(wpath, m28, &set, 1, NULL, NULL, 0, &err));
    cnn_predictor *p = NULL;
    CHECK_INT_EQ(0, cnn_predictor_open(wpath, NULL, 2, &p, &err));
    if (p) {
        CHECK_INT_EQ(-1, cnn_predictor_fill(p, d10, all, 1, 0));
        CHECK_INT_EQ(-1, cnn_predictor_fill(p, d28, all, 3, 0));
        CHECK_INT_EQ(-1, cnn_predictor_fill(p, d28, idx, 2, 0));
        CHECK_INT_EQ(0, cnn_predictor_fill(p, d28, all, 2, 0));
        CHECK_INT_EQ(-1, cnn_predictor_run(p, 3, &err));
        CHECK_INT_EQ(0, cnn_predictor_run(p, 2, &err));
    }
    /* a 10x10 PNG for the 28x28 model: an error naming both sizes */
    char png[256];
    snprintf(png, sizeof png, "%s/small.png", tmpdir);
    unsigned char px[100] = {0};
    CHECK_INT_EQ(0, cnn_png_write(png, 10, 10, 1, px, &err));
    float *in = floats(784, 0);
    CHECK_INT_EQ(-1, cnn_png_to_input(png, m28->input, NULL, in, &err));
    CHECK(strstr(err.msg, "10x10") && strstr(err.msg, "28x28"));
    free(in);
    cnn_predictor_free(p);
    unlink(png);
    unlink(wpath);
    free(x);
    cnn_net_free(net);
    cnn_dataset_free(d28);
    cnn_dataset_free(d10);
    cnn_model_free(m28);
    cnn_model_free(m10);
    unlink(im28);
    unlink(lb28);
    unlink(im10);
    unlink(lb10);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    RUN(forward_refuses_a_10x10_image_for_a_28x28_model);
    RUN(backward_refuses_a_short_input_gradient_buffer);
    RUN(layer_accessors_give_null_for_a_layer_out_of_range);
    RUN(top_k_and_eval_refuse_counts_out_of_range);
    RUN(datasets_of_another_shape_or_index_are_refused);
    rmdir(tmpdir);
    return check_report();
}
