/* Tests of saliency and Grad-CAM (lib/visualize.c) against closed forms:
 *   Flatten -> Dense: the logit of class K is W[K] . x + b, so the saliency is
 *   |W[K]| in the input's shape (the largest over channels for RGB);
 *   Conv2D 1x1 (linear, no bias) -> GlobalAveragePooling2D -> Dense: A_c =
 *   sum_j a[c][j] x_j, logit_K = sum_c W[K][c] mean(A_c) + b_K, so alpha_c =
 *   W[K][c] / (h w) and Grad-CAM is ReLU(sum_c W[K][c] sum_j a[c][j] x_j) / (h w).
 * The expected maps are computed here by those formulas, never by the code
 * under test.  Also the bilinear upsampling on hand-made cases.
 *
 * `test_attribution --write-fixtures DIR` writes the two models' weights and
 * an RGB image for tests/cli/pictures.sh; `--check-saliency DIR K FILE` and
 * `--check-gradcam DIR K FILE` check cnn-visualize's --json output in FILE
 * number by number against the closed forms; `--logit K V` checks that V is
 * the Flatten -> Dense model's logit K at the image. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnn.h"
#include "layer.h" /* internal: the layer-extension API (tensor offsets) */
#include "visualize.h"
#include "weights.h"

/* The saliency model: a 3 x 4 RGB input, flattened, 3 classes. */
static const char fd_json[] =
    "{\"name\": \"fd\", \"input_shape\": [3, 4, 3], \"layers\": [{\"type\": \"Flatten\"}, "
    "{\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}";
#define FD_IN 36 /* 3 channels x 3 x 4 */

/* The Grad-CAM model: 3 x 4 RGB, a 1x1 convolution to 2 channels, linear and
 * without bias, global average pooling, 3 classes. */
static const char gc_json[] =
    "{\"name\": \"gc\", \"input_shape\": [3, 4, 3], \"layers\": ["
    "{\"type\": \"Conv2D\", \"name\": \"mix\", \"filters\": 2, \"kernel_size\": 1, "
    "\"activation\": \"linear\", \"use_bias\": false}, "
    "{\"type\": \"GlobalAveragePooling2D\"}, "
    "{\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}";

/* Weights with both signs, from a formula. */
static float fd_w(int k, int i) { return (float)(((k * 7 + i * 5) % 11) - 5) / 4.0f; }
static float fd_b(int k) { return 0.1f * (float)k; }
static float gc_a(int c, int j) { return c == 0 ? (j == 0 ? 1.0f : j == 1 ? -0.5f : 0.25f)
                                                : (j == 0 ? -1.0f : j == 1 ? 0.75f : 0.5f); }
static float gc_w(int k, int c) { return k == 0 ? (c ? -1.0f : 2.0f) : k == 1 ? (c ? 1.5f : -0.5f)
                                                                  : (c ? 0.5f : 0.5f); }

/* The image: x[j][y][x] = a byte pattern / 255 (so a PNG holds it exactly). */
static unsigned char px_byte(int j, int y, int x) { return (unsigned char)((j * 97 + y * 61 + x * 29 + 13) % 256); }
static float px(int j, int y, int x) { return (float)px_byte(j, y, x) / 255.0f; }

static cnn_model *parse(const char *json)
{
    cnn_model *m = NULL;
    cnn_error err;
    if (cnn_model_parse(json, strlen(json), "test.json", &m, &err)) CHECK_FAIL_("model: %s", err.msg);
    return m;
}

/* Fills the params of m (fd or gc) with the formulas. */
static void fill(const cnn_model *m, float *p, int gc)
{
    memset(p, 0, m->nparams * sizeof *p);
    for (int li = 0; li < m->nlayers; li++) {
        const cnn_layer *L = &m->layers[li];
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(L, t);
        for (int ti = 0; ti < nt; ti++) {
            float *d = p + L->param_offset + t[ti].offset;
            if (!gc && li == 1 && ti == 0)
                for (int k = 0; k < 3; k++)
                    for (int i = 0; i < FD_IN; i++) d[k * FD_IN + i] = fd_w(k, i);
            if (!gc && li == 1 && ti == 1)
                for (int k = 0; k < 3; k++) d[k] = fd_b(k);
            if (gc && li == 0 && ti == 0) /* (out 2, in 3, 1, 1) */
                for (int c = 0; c < 2; c++)
                    for (int j = 0; j < 3; j++) d[c * 3 + j] = gc_a(c, j);
            if (gc && li == 2 && ti == 0) /* (3, 2) */
                for (int k = 0; k < 3; k++)
                    for (int c = 0; c < 2; c++) d[k * 2 + c] = gc_w(k, c);
        }
    }
}

static void image(float *x)
{
    for (int j = 0; j < 3; j++)
        for (int y = 0; y < 3; y++)
            for (int xx = 0; xx < 4; xx++) x[(j * 3 + y) * 4 + xx] = px(j, y, xx);
}

/* The closed forms (3 x 4 maps). */
static void want_saliency(int K, float *map)
{
    for (int i = 0; i < 12; i++) {
        float v = 0;
        for (int j = 0; j < 3; j++)
            if (fabsf(fd_w(K, j * 12 + i)) > v) v = fabsf(fd_w(K, j * 12 + i));
        map[i] = v;
    }
}

static void want_gradcam(int K, float *map)
{
    for (int y = 0; y < 3; y++)
        for (int xx = 0; xx < 4; xx++) {
            double s = 0;
            for (int c = 0; c < 2; c++) {
                double a = 0;
                for (int j = 0; j < 3; j++) a += gc_a(c, j) * px(j, y, xx);
                s += gc_w(K, c) * a;
            }
            map[y * 4 + xx] = s > 0 ? (float)(s / 12) : 0;
        }
}

static cnn_net *net_for(const char *json, int gc, cnn_model **m)
{
    *m = parse(json);
    if (!*m) return NULL;
    cnn_net *net = NULL;
    cnn_error err;
    if (cnn_net_new(*m, 1, &net, &err)) {
        CHECK_FAIL_("net: %s", err.msg);
        return NULL;
    }
    fill(*m, cnn_net_params(net), gc);
    return net;
}

/* ---- library tests -------------------------------------------------------- */

static void saliency_of_flatten_dense_is_abs_weights(void)
{
    cnn_model *m;
    cnn_net *net = net_for(fd_json, 0, &m);
    if (!net) return;
    float x[FD_IN], map[12], want[12];
    image(x);
    cnn_error err;
    for (int K = 0; K < 3; K++) {
        int cls = K;
        CHECK_INT_EQ(0, cnn_vis_saliency(net, x, &cls, map, &err));
        CHECK_INT_EQ(K, cls);
        want_saliency(K, want);
        for (int i = 0; i < 12; i++) CHECK_NEAR(want[i], map[i], 1e-6);
    }
    /* the default class is the predicted one: the largest W[K] . x + b */
    int best = 0;
    double z[3];
    for (int k = 0; k < 3; k++) {
        z[k] = fd_b(k);
        for (int i = 0; i < FD_IN; i++) z[k] += fd_w(k, i) * x[i];
        if (z[k] > z[best]) best = k;
    }
    int cls = -1;
    CHECK_INT_EQ(0, cnn_vis_saliency(net, x, &cls, map, &err));
    CHECK_INT_EQ(best, cls);
    cls = 3;
    CHECK_INT_EQ(-1, cnn_vis_saliency(net, x, &cls, map, &err));
    CHECK_CONTAINS(err.msg, "classes 0 to 2");
    cnn_net_free(net);
    cnn_model_free(m);
}

static void gradcam_of_linear_1x1_gap_dense_is_the_closed_form(void)
{
    cnn_model *m;
    cnn_net *net = net_for(gc_json, 1, &m);
    if (!net) return;
    float x[FD_IN], cam[12], want[12];
    image(x);
    cnn_error err;
    int nonzero = 0, zero = 0;
    for (int K = 0; K < 3; K++) {
        int cls = K;
        CHECK_INT_EQ(0, cnn_vis_gradcam(net, 0, x, &cls, cam, &err));
        want_gradcam(K, want);
        for (int i = 0; i < 12; i++) {
            CHECK_NEAR(want[i], cam[i], 1e-6);
            nonzero += want[i] > 0, zero += want[i] == 0;
        }
    }
    CHECK(nonzero > 3 && zero > 3); /* the ReLU cuts some pixels and keeps others */
    /* a flat layer, or the last one, is refused */
    int cls = 0;
    CHECK_INT_EQ(-1, cnn_vis_gradcam(net, 1, x, &cls, cam, &err));
    CHECK_CONTAINS(err.msg, "flat");
    CHECK_INT_EQ(-1, cnn_vis_gradcam(net, 2, x, &cls, cam, &err));
    CHECK_CONTAINS(err.msg, "below the last");
    cnn_net_free(net);
    cnn_model_free(m);
}

/* Grad-CAM at a ReLU layer weighs its channels by the gradient with respect
 * to the layer's output after the ReLU (Selvaraju et al.), not the masked
 * pre-activation gradient.  x = (0.2, 0.4, 0.6, 0.8); A_0 = relu(x - 0.5) =
 * (0, 0, 0.1, 0.3), A_1 = relu(x) = x; logit_0 = mean(A_0) - 0.3 mean(A_1):
 * alpha = (1/4, -0.3/4), cam = relu(A_0 / 4 - 0.075 x) = (0, 0, 0, 0.015).
 * (The masked gradient would give alpha_0 = 1/8 and an all-zero map.) */
static void gradcam_weighs_by_the_gradient_after_the_relu(void)
{
    static const char json[] =
        "{\"name\": \"r\", \"input_shape\": [2, 2, 1], \"layers\": ["
        "{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": 1, \"activation\": \"relu\"}, "
        "{\"type\": \"GlobalAveragePooling2D\"}, "
        "{\"type\": \"Dense\", \"units\": 2, \"activation\": \"softmax\", \"use_bias\": false}]}";
    cnn_model *m = parse(json);
    if (!m) return;
    cnn_net *net = NULL;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_net_new(m, 1, &net, &err));
    float *p = cnn_net_params(net);
    memset(p, 0, m->nparams * sizeof *p);
    cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
    const cnn_layer *c = &m->layers[0], *d = &m->layers[2];
    cnn_layer_tensors(c, t);
    float *k = p + c->param_offset + t[0].offset, *b = p + c->param_offset + t[1].offset;
    k[0] = 1, k[1] = 1, b[0] = -0.5f; /* (2, 1, 1, 1) and (2) */
    cnn_layer_tensors(d, t);
    float *w = p + d->param_offset + t[0].offset; /* (2, 2) */
    w[0] = 1, w[1] = -0.3f;
    float x[4] = {0.2f, 0.4f, 0.6f, 0.8f}, cam[4], want[4] = {0, 0, 0, 0.015f};
    int cls = 0;
    CHECK_INT_EQ(0, cnn_vis_gradcam(net, 0, x, &cls, cam, &err));
    for (int i = 0; i < 4; i++) CHECK_NEAR(want[i], cam[i], 1e-6);
    cnn_net_free(net);
    cnn_model_free(m);
}

/* 2x2 -> 4x4 with pixel centres aligned: rows/columns 0 and 3 are clamped to
 * the edges, 1 and 2 sit at 0.25 and 0.75 between the two source pixels. */
static void bilinear_upsampling_by_hand(void)
{
    float src[4] = {0, 4, 8, 12}, dst[16];
    cnn_vis_upsample_bilinear(src, 2, 2, dst, 4, 4);
    float want[16] = {0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12};
    for (int i = 0; i < 16; i++) CHECK_NEAR(want[i], dst[i], 1e-6);
    /* the same size is a copy; one pixel spreads everywhere */
    float same[4];
    cnn_vis_upsample_bilinear(src, 2, 2, same, 2, 2);
    for (int i = 0; i < 4; i++) CHECK_NEAR(src[i], same[i], 0);
    float one = 5, big[6];
    cnn_vis_upsample_bilinear(&one, 1, 1, big, 2, 3);
    for (int i = 0; i < 6; i++) CHECK_NEAR(5, big[i], 0);
}

/* ---- fixtures and checks for tests/cli/pictures.sh ------------------------- */

static int save(const char *dir, const char *name, const char *json, int gc)
{
    cnn_model *m = parse(json);
    if (!m) return 1;
    float *p = malloc(m->nparams * sizeof *p);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fill(m, p, gc);
    cnn_param_set set = {"", p};
    cnn_error err;
    int rc = cnn_weights_save(path, m, &set, 1, NULL, NULL, 0, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    free(p);
    cnn_model_free(m);
    return rc ? 1 : 0;
}

static int write_fixtures(const char *dir)
{
    unsigned char rgb[3 * 4 * 3];
    for (int y = 0; y < 3; y++)
        for (int xx = 0; xx < 4; xx++)
            for (int j = 0; j < 3; j++) rgb[(y * 4 + xx) * 3 + j] = px_byte(j, y, xx);
    char path[512];
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    cnn_error err;
    if (cnn_png_write(path, 4, 3, 3, rgb, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    return save(dir, "fd.safetensors", fd_json, 0) || save(dir, "gc.safetensors", gc_json, 1);
}

/* The numbers after "map": in a --json line, compared with want (n of them). */
static int check_json(const char *file, const char *key, const float *want, int n)
{
    FILE *f = fopen(file, "r");
    if (!f) return fprintf(stderr, "%s: cannot open\n", file), 1;
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    if (!strstr(buf, key)) return fprintf(stderr, "%s: no %s\n", file, key), 1;
    const char *p = strstr(buf, "\"map\": ");
    if (!p) return fprintf(stderr, "%s: no map\n", file), 1;
    p += 7;
    int k = 0, bad = 0;
    while (*p && k <= n) {
        if ((*p >= '0' && *p <= '9') || *p == '-') {
            char *end;
            double v = strtod(p, &end);
            if (k < n && !(fabs(v - want[k]) <= 1e-6 * (fabs(want[k]) > 1 ? fabs(want[k]) : 1))) {
                fprintf(stderr, "map[%d] = %.9g, expected %.9g\n", k, v, want[k]);
                bad = 1;
            }
            k++;
            p = end;
        } else {
            p++;
        }
    }
    if (k != n) return fprintf(stderr, "%d numbers in the map, expected %d\n", k, n), 1;
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0) return write_fixtures(argv[2]);
    if (argc == 4 && (strcmp(argv[1], "--check-saliency") == 0 ||
                      strcmp(argv[1], "--check-gradcam") == 0)) {
        int K = atoi(argv[2]);
        float want[12];
        char key[64];
        snprintf(key, sizeof key, "\"class\": %d,", K);
        if (argv[1][8] == 's') want_saliency(K, want);
        else want_gradcam(K, want);
        return check_json(argv[3], key, want, 12);
    }
    if (argc == 4 && strcmp(argv[1], "--logit") == 0) { /* W_K . x + b_K of the fd model */
        int K = atoi(argv[2]);
        float x[FD_IN];
        image(x);
        double z = fd_b(K);
        for (int i = 0; i < FD_IN; i++) z += fd_w(K, i) * x[i];
        double got = strtod(argv[3], NULL);
        if (fabs(got - z) <= 1e-5 * (fabs(z) > 1 ? fabs(z) : 1)) return 0;
        fprintf(stderr, "logit %d: got %.9g, expected %.9g\n", K, got, z);
        return 1;
    }
    RUN(saliency_of_flatten_dense_is_abs_weights);
    RUN(gradcam_of_linear_1x1_gap_dense_is_the_closed_form);
    RUN(gradcam_weighs_by_the_gradient_after_the_relu);
    RUN(bilinear_upsampling_by_hand);
    return check_report();
}
