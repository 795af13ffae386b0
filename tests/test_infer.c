/* Tests for lib/infer.c: PNG fixtures of every colour type and bit depth
 * (written here with libpng) to input tensors, predictions of tiny models
 * whose weights are chosen so the answer is known in closed form, the same
 * image as PNG / IDX record / memory, bad files and mismatched weights, output
 * lines, class names, and evaluation figures worked out by hand.
 *
 * `test_infer --write-fixtures DIR` writes the fixtures (PNGs, weights, models,
 * IDX files) for tests/cli/infer.sh; `test_infer --write-digits IDX N DIR`
 * writes the first N records of an IDX image file as 8-bit PNGs;
 * `test_infer --write-drawing IDX OUT.png` writes record 0 inverted at twice
 * the size; `test_infer --write-subset IMAGES LABELS N DIR` writes the first N
 * records of both as DIR/sub-images.idx and DIR/sub-labels.idx. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cnn.h"
#include "infer.h"
#include "layer.h"
#include "fileio.h"
#include "safetensors.h" /* internal: the layer-extension API */

static char tmpdir[64];

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t put = len ? fwrite(data, 1, len, fp) : 0;
    return (fclose(fp) == 0 && put == len) ? 0 : -1;
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    cnn_error err;
    char *buf;
    if (cnn_read_file(path, (size_t)1 << 30, &buf, len, &err)) return NULL;
    return (unsigned char *)buf;
}

/* ======================================================================== */
/* PNG fixtures                                                             */
/* ======================================================================== */

/* A 2x2 PNG: colour type, depth, samples (4 pixels x samples per pixel, or
 * palette indices), palette and tRNS. */
typedef struct fixture {
    const char *name;
    int color, depth;
    unsigned s[16];
    int npal;
    unsigned char pal[4][3];
    int ntrans;               /* palette alpha entries */
    unsigned char trans[4];
    int key;                  /* gray / RGB colour key in tRNS: 1 + gray value */
} fixture;

#define G PNG_COLOR_TYPE_GRAY
#define GA PNG_COLOR_TYPE_GRAY_ALPHA
#define RGB PNG_COLOR_TYPE_RGB
#define RGBA PNG_COLOR_TYPE_RGB_ALPHA
#define PAL PNG_COLOR_TYPE_PALETTE

static const fixture fixtures[] = {
    {.name = "gray1", .color = G, .depth = 1, .s = {1, 0, 0, 1}},
    {.name = "gray2", .color = G, .depth = 2, .s = {3, 1, 2, 0}},
    {.name = "gray4", .color = G, .depth = 4, .s = {15, 5, 10, 0}},
    {.name = "gray8", .color = G, .depth = 8, .s = {255, 51, 102, 0}},
    {.name = "gray8-key", .color = G, .depth = 8, .s = {255, 51, 102, 0}, .key = 1 + 51},
    {.name = "gray16", .color = G, .depth = 16, .s = {65535, 13107, 0x8000, 1}},
    {.name = "graya8", .color = GA, .depth = 8, .s = {255, 255, 200, 51, 0, 255, 100, 0}},
    {.name = "graya16", .color = GA, .depth = 16,
     .s = {65535, 65535, 0x8000, 0xFFFF, 1000, 0x8000, 7, 0}},
    {.name = "rgb8", .color = RGB, .depth = 8,
     .s = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255}},
    {.name = "rgb16", .color = RGB, .depth = 16,
     .s = {65535, 0, 0, 0, 65535, 0, 0, 0, 65535, 0x8000, 0x4000, 0x2000}},
    {.name = "rgba8", .color = RGBA, .depth = 8,
     .s = {255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 255, 255, 255, 255}},
    {.name = "rgba16", .color = RGBA, .depth = 16,
     .s = {65535, 0, 0, 65535, 0, 65535, 0, 0x8000, 0, 0, 65535, 0, 0x4000, 0x4000, 0x4000,
           65535}},
    {.name = "pal1", .color = PAL, .depth = 1, .s = {1, 0, 0, 1}, .npal = 2,
     .pal = {{0, 0, 0}, {255, 128, 0}}},
    {.name = "pal2", .color = PAL, .depth = 2, .s = {3, 1, 2, 0}, .npal = 4,
     .pal = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {10, 20, 30}}},
    {.name = "pal4", .color = PAL, .depth = 4, .s = {2, 1, 0, 2}, .npal = 3,
     .pal = {{200, 100, 50}, {0, 0, 255}, {255, 255, 255}}},
    {.name = "pal8-trns", .color = PAL, .depth = 8, .s = {0, 1, 2, 3}, .npal = 4,
     .pal = {{255, 255, 255}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}}, .ntrans = 3,
     .trans = {255, 128, 0}},
};
#define NFIX (sizeof fixtures / sizeof fixtures[0])

static int spp(int color)
{
    return color == GA ? 2 : color == RGB ? 3 : color == RGBA ? 4 : 1;
}

/* Writes f with libpng (setjmp kept in a function with no locals changed
 * after it). */
static int write_png_rows(FILE *fp, png_structp png, png_infop info, const fixture *f,
                          png_bytep *rows)
{
    if (setjmp(png_jmpbuf(png))) return -1;
    png_init_io(png, fp);
    png_set_IHDR(png, info, 2, 2, f->depth, f->color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (f->color == PAL) {
        png_color pal[4];
        for (int i = 0; i < f->npal; i++)
            pal[i].red = f->pal[i][0], pal[i].green = f->pal[i][1], pal[i].blue = f->pal[i][2];
        png_set_PLTE(png, info, pal, f->npal);
        if (f->ntrans) png_set_tRNS(png, info, f->trans, f->ntrans, NULL);
    }
    if (f->key) {
        png_color_16 key = {0};
        key.gray = (png_uint_16)(f->key - 1);
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    return 0;
}

static int write_fixture(const char *path, const fixture *f)
{
    unsigned char data[2][16] = {{0}};
    png_bytep rows[2] = {data[0], data[1]};
    int n = 2 * spp(f->color);
    for (int y = 0; y < 2; y++)
        for (int i = 0; i < n; i++) {
            unsigned v = f->s[y * n + i];
            if (f->depth == 16) {
                data[y][2 * i] = (unsigned char)(v >> 8);
                data[y][2 * i + 1] = (unsigned char)v;
            } else if (f->depth == 8) {
                data[y][i] = (unsigned char)v;
            } else {
                int bit = i * f->depth;
                data[y][bit / 8] |= (unsigned char)(v << (8 - f->depth - bit % 8));
            }
        }
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = png && info ? write_png_rows(fp, png, info, f, rows) : -1;
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    if (fclose(fp) != 0) rc = -1;
    return rc;
}

/* Pixel i of f as (r, g, b) in [0, 1] after alpha on black, in double
 * precision, straight from the samples; *gray says the source is grayscale. */
static void fixture_rgb(const fixture *f, int i, double rgb[3], int *gray)
{
    double maxv = (double)((1u << f->depth) - 1);
    const unsigned *s = f->s + i * spp(f->color);
    double a = 1;
    *gray = f->color == G || f->color == GA;
    switch (f->color) {
    case G:
        rgb[0] = rgb[1] = rgb[2] = s[0] / maxv;
        if (f->key && s[0] == (unsigned)(f->key - 1)) a = 0;
        break;
    case GA: rgb[0] = rgb[1] = rgb[2] = s[0] / maxv, a = s[1] / maxv; break;
    case RGB: rgb[0] = s[0] / maxv, rgb[1] = s[1] / maxv, rgb[2] = s[2] / maxv; break;
    case RGBA:
        rgb[0] = s[0] / maxv, rgb[1] = s[1] / maxv, rgb[2] = s[2] / maxv, a = s[3] / maxv;
        break;
    default: /* palette */
        for (int c = 0; c < 3; c++) rgb[c] = f->pal[s[0]][c] / 255.0;
        if ((int)s[0] < f->ntrans) a = f->trans[s[0]] / 255.0;
        else if (f->ntrans) a = 1;
    }
    for (int c = 0; c < 3; c++) rgb[c] *= a;
}

/* The input tensor a model with `channels` channels should get from f. */
static void fixture_tensor(const fixture *f, int channels, double *x)
{
    for (int i = 0; i < 4; i++) {
        double rgb[3];
        int gray;
        fixture_rgb(f, i, rgb, &gray);
        if (channels == 3)
            for (int c = 0; c < 3; c++) x[c * 4 + i] = rgb[c];
        else
            x[i] = gray ? rgb[0] : 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
    }
}

/* ======================================================================== */
/* Tiny models with chosen weights                                          */
/* ======================================================================== */

/* Logits: (x0, x1, x2 + x3 - 0.5) for a 2x2 gray image x. */
static const char tiny_json[] =
    "{\"name\": \"tiny\", \"input_shape\": [2, 2, 1], \"layers\": [{\"type\": \"Flatten\"}, "
    "{\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}\n";
static const float tiny_kernel[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1};
static const float tiny_bias[3] = {0, 0, -0.5f};

/* The same without the softmax. */
static const char tiny_linear_json[] =
    "{\"name\": \"tiny\", \"input_shape\": [2, 2, 1], \"layers\": [{\"type\": \"Flatten\"}, "
    "{\"type\": \"Dense\", \"units\": 3}]}\n";

/* RGB: logit c = 2 * (sum of channel c) - 1. */
static const char tiny_rgb_json[] =
    "{\"name\": \"tiny-rgb\", \"input_shape\": [2, 2, 3], \"layers\": [{\"type\": \"Flatten\"}, "
    "{\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}\n";

/* A different model: four classes. */
static const char other_json[] =
    "{\"name\": \"tiny\", \"input_shape\": [2, 2, 1], \"layers\": [{\"type\": \"Flatten\"}, "
    "{\"type\": \"Dense\", \"units\": 4, \"activation\": \"softmax\"}]}\n";

static double tiny_prob(const double *x, int c)
{
    double z[3] = {x[0], x[1], x[2] + x[3] - 0.5}, s = 0;
    for (int k = 0; k < 3; k++) s += exp(z[k]);
    return exp(z[c]) / s;
}

static double tiny_rgb_prob(const double *x, int c)
{
    double z[3], s = 0;
    for (int k = 0; k < 3; k++) z[k] = 2 * (x[k * 4] + x[k * 4 + 1] + x[k * 4 + 2] + x[k * 4 + 3]) - 1;
    for (int k = 0; k < 3; k++) s += exp(z[k]);
    return exp(z[c]) / s;
}

static cnn_model *parse_model(const char *json)
{
    cnn_model *m = NULL;
    cnn_error err;
    if (cnn_model_parse(json, strlen(json), "test", &m, &err))
        fprintf(stderr, "model: %s\n", err.msg);
    return m;
}

/* Saves weights for model json: the dense kernel and bias given. */
static int save_weights(const char *path, const char *json, const float *kernel,
                        const float *bias)
{
    cnn_model *m = parse_model(json);
    if (!m) return -1;
    const cnn_layer *L = &m->layers[1];
    float *p = calloc(m->nparams, sizeof *p);
    cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
    cnn_layer_tensors(L, t);
    memcpy(p + L->param_offset + t[0].offset, kernel, sizeof *p * t[0].count);
    memcpy(p + L->param_offset + t[1].offset, bias, sizeof *p * t[1].count);
    cnn_param_set set = {"", p};
    cnn_error err;
    int rc = cnn_weights_save(path, m, &set, 1, NULL, NULL, 0, &err);
    if (rc) fprintf(stderr, "save: %s\n", err.msg);
    free(p);
    cnn_model_free(m);
    return rc;
}

/* The tiny IDX set: four 2x2 records and labels; predicted classes 0, 1, 2, 2. */
static const unsigned char tiny_records[4][4] = {
    {255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 0}, {0, 0, 128, 128}};
static const unsigned char tiny_labels[4] = {0, 1, 2, 0};

static int write_gray_png(const char *path, int w, int h, const unsigned char *px)
{
    cnn_error err;
    int rc = cnn_png_write(path, w, h, 1, px, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

/* Everything the tests read, in dir. */
static int write_fixtures(const char *dir)
{
    char p[512];
    cnn_error err;
    for (size_t i = 0; i < NFIX; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.png", fixtures[i].name);
        path_in(p, sizeof p, dir, name);
        if (write_fixture(p, &fixtures[i])) return -1;
    }
    float rgb_kernel[36] = {0}, rgb_bias[3] = {-1, -1, -1};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 4; i++) rgb_kernel[c * 12 + c * 4 + i] = 2;
    float other_kernel[16] = {0}, other_bias[4] = {0};
    static const char models[] = "tiny.json";
    path_in(p, sizeof p, dir, models);
    if (write_bytes(p, tiny_json, strlen(tiny_json))) return -1;
    path_in(p, sizeof p, dir, "other.json");
    if (write_bytes(p, other_json, strlen(other_json))) return -1;
    path_in(p, sizeof p, dir, "tiny.safetensors");
    if (save_weights(p, tiny_json, tiny_kernel, tiny_bias)) return -1;
    path_in(p, sizeof p, dir, "tiny-linear.safetensors");
    if (save_weights(p, tiny_linear_json, tiny_kernel, tiny_bias)) return -1;
    path_in(p, sizeof p, dir, "tiny-rgb.safetensors");
    if (save_weights(p, tiny_rgb_json, rgb_kernel, rgb_bias)) return -1;
    path_in(p, sizeof p, dir, "other.safetensors");
    if (save_weights(p, other_json, other_kernel, other_bias)) return -1;
    /* No model in the metadata, and a kernel of the wrong shape for tiny. */
    cnn_st_tensor t[2] = {{"dense.kernel", 2, {4, 4}, other_kernel, 16},
                          {"dense.bias", 1, {4}, other_bias, 4}};
    path_in(p, sizeof p, dir, "bare.safetensors");
    if (cnn_st_write(p, t, 2, NULL, NULL, 0, &err)) return -1;

    /* The IDX set and the same records as PNGs. */
    size_t dims[3] = {4, 2, 2}, ldims[1] = {4};
    path_in(p, sizeof p, dir, "tiny-images.idx");
    if (cnn_idx_write(p, CNN_IDX_U8, 3, dims, tiny_records, 0, &err)) return -1;
    path_in(p, sizeof p, dir, "tiny-labels.idx");
    if (cnn_idx_write(p, CNN_IDX_U8, 1, ldims, tiny_labels, 0, &err)) return -1;
    for (int r = 0; r < 4; r++) {
        char name[32];
        snprintf(name, sizeof name, "rec%d.png", r);
        path_in(p, sizeof p, dir, name);
        if (write_gray_png(p, 2, 2, tiny_records[r])) return -1;
    }
    /* rec0 dark on light; rec0 at 4x4 (each pixel a 2x2 block); a 3x2 image. */
    unsigned char dark[4], big[16], wide[6] = {255, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) dark[i] = (unsigned char)(255 - tiny_records[0][i]);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) big[y * 4 + x] = tiny_records[0][(y / 2) * 2 + x / 2];
    path_in(p, sizeof p, dir, "dark.png");
    if (write_gray_png(p, 2, 2, dark)) return -1;
    path_in(p, sizeof p, dir, "big.png");
    if (write_gray_png(p, 4, 4, big)) return -1;
    path_in(p, sizeof p, dir, "wide.png");
    if (write_gray_png(p, 3, 2, wide)) return -1;

    /* Bad files: a flipped byte in the image data (CRC error), the first half
     * of a good file, and text. */
    unsigned char *png;
    size_t len;
    if (cnn_png_encode_mem(2, 2, 1, tiny_records[0], &png, &len, &err)) return -1;
    unsigned char *idat = NULL;
    for (size_t i = 0; i + 4 < len; i++)
        if (memcmp(png + i, "IDAT", 4) == 0) idat = png + i;
    if (!idat) return -1;
    idat[5] ^= 0x40;
    path_in(p, sizeof p, dir, "corrupt.png");
    int rc = write_bytes(p, png, len);
    idat[5] ^= 0x40;
    path_in(p, sizeof p, dir, "truncated.png");
    if (rc || write_bytes(p, png, len / 2)) rc = -1;
    free(png);
    path_in(p, sizeof p, dir, "notpng.png");
    if (rc || write_bytes(p, "hello\n", 6)) return -1;
    path_in(p, sizeof p, dir, "classes.txt");
    return write_bytes(p, "zero\none\ntwo\n", 13);
}

/* ======================================================================== */
/* Images to input tensors                                                  */
/* ======================================================================== */

static const cnn_shape gray2 = {1, 2, 2, 0}, rgb2 = {3, 2, 2, 0};

static void fixture_path(char *p, size_t n, const char *name)
{
    char file[64];
    snprintf(file, sizeof file, "%s.png", name);
    path_in(p, n, tmpdir, file);
}

static void every_colour_type_and_depth_converts_to_one_channel_by_luminance(void)
{
    for (size_t i = 0; i < NFIX; i++) {
        char p[256];
        fixture_path(p, sizeof p, fixtures[i].name);
        float x[4];
        double want[4];
        cnn_error err;
        if (cnn_png_to_input(p, gray2, NULL, x, &err)) {
            CHECK_FAIL_("%s: %s", fixtures[i].name, err.msg);
            continue;
        }
        fixture_tensor(&fixtures[i], 1, want);
        for (int k = 0; k < 4; k++)
            if (fabs(x[k] - want[k]) > 1e-6)
                CHECK_FAIL_("%s pixel %d: expected %.7f, got %.7f", fixtures[i].name, k, want[k],
                            x[k]);
    }
}

static void every_colour_type_and_depth_converts_to_three_channels(void)
{
    for (size_t i = 0; i < NFIX; i++) {
        char p[256];
        fixture_path(p, sizeof p, fixtures[i].name);
        float x[12];
        double want[12];
        cnn_error err;
        if (cnn_png_to_input(p, rgb2, NULL, x, &err)) {
            CHECK_FAIL_("%s: %s", fixtures[i].name, err.msg);
            continue;
        }
        fixture_tensor(&fixtures[i], 3, want);
        for (int k = 0; k < 12; k++)
            if (fabs(x[k] - want[k]) > 1e-6)
                CHECK_FAIL_("%s value %d: expected %.7f, got %.7f", fixtures[i].name, k, want[k],
                            x[k]);
    }
}

static void models_without_1_or_3_channel_spatial_input_are_refused(void)
{
    cnn_error err;
    cnn_shape four = {4, 2, 2, 0}, flat = {784, 1, 1, 1};
    CHECK_INT_EQ(-1, cnn_input_check(four, &err));
    CHECK_CONTAINS(err.msg, "4 channels");
    CHECK_INT_EQ(-1, cnn_input_check(flat, &err));
    CHECK_CONTAINS(err.msg, "flat vector of 784");
    CHECK_INT_EQ(0, cnn_input_check(gray2, &err));
    CHECK_INT_EQ(0, cnn_input_check(rgb2, &err));
}

static void wrong_size_is_an_error_naming_both_sizes(void)
{
    char p[256];
    path_in(p, sizeof p, tmpdir, "wide.png");
    float x[4] = {-1, -1, -1, -1};
    cnn_error err;
    CHECK_INT_EQ(-1, cnn_png_to_input(p, gray2, NULL, x, &err));
    CHECK_CONTAINS(err.msg, "wide.png: the image is 3x2 but the model takes 2x2");
    CHECK_CONTAINS(err.msg, "--resize");
    CHECK(x[0] == -1); /* nothing written */
}

static void resize_scales_bilinearly_to_the_model_size(void)
{
    /* Halving with half-pixel centres samples between pixels 2i and 2i+1: each
     * output pixel is the mean of a 2x2 block, here the blocks of rec0. */
    char p[256];
    path_in(p, sizeof p, tmpdir, "big.png");
    cnn_input_opts o = {.resize = 1};
    float x[4];
    cnn_error err;
    CHECK_INT_EQ(0, cnn_png_to_input(p, gray2, &o, x, &err));
    for (int k = 0; k < 4; k++) CHECK_NEAR(tiny_records[0][k] / 255.0, x[k], 1e-6);
    /* 3x2 -> 2x2: x samples at 0.25 and 1.75 of (1, 0, 0) and (0, 0, 0). */
    path_in(p, sizeof p, tmpdir, "wide.png");
    CHECK_INT_EQ(0, cnn_png_to_input(p, gray2, &o, x, &err));
    CHECK_NEAR(0.75, x[0], 1e-6);
    CHECK_NEAR(0.0, x[1], 1e-6);
    CHECK_NEAR(0.0, x[2], 1e-6);
}

static void invert_maps_v_to_one_minus_v(void)
{
    char p[256];
    path_in(p, sizeof p, tmpdir, "dark.png");
    cnn_input_opts o = {.invert = 1};
    float x[4];
    cnn_error err;
    CHECK_INT_EQ(0, cnn_png_to_input(p, gray2, &o, x, &err));
    for (int k = 0; k < 4; k++) CHECK_NEAR(tiny_records[0][k] / 255.0, x[k], 1e-7);
}

static void corrupt_truncated_and_non_png_files_are_errors_naming_the_file(void)
{
    static const char *const bad[] = {"corrupt.png", "truncated.png", "notpng.png", "missing.png"};
    for (int i = 0; i < 4; i++) {
        char p[256];
        path_in(p, sizeof p, tmpdir, bad[i]);
        float x[4];
        cnn_error err = {{0}};
        CHECK_INT_EQ(-1, cnn_png_to_input(p, gray2, NULL, x, &err));
        CHECK_CONTAINS(err.msg, p);
    }
    cnn_error err;
    float x[4];
    CHECK_INT_EQ(-1, cnn_png_mem_to_input("GIF89a", 6, "<stdin>", gray2, NULL, x, &err));
    CHECK_CONTAINS(err.msg, "<stdin>");
}

/* ======================================================================== */
/* Prediction                                                               */
/* ======================================================================== */

static cnn_predictor *open_predictor(const char *weights, const char *model, int batch)
{
    char w[256], m[256];
    path_in(w, sizeof w, tmpdir, weights);
    if (model) path_in(m, sizeof m, tmpdir, model);
    cnn_predictor *p = NULL;
    cnn_error err;
    if (cnn_predictor_open(w, model ? m : NULL, batch, &p, &err))
        CHECK_FAIL_("open %s: %s", weights, err.msg);
    return p;
}

static void predictor_gives_the_closed_form_softmax_for_every_fixture(void)
{
    cnn_predictor *p = open_predictor("tiny.safetensors", NULL, 1);
    cnn_predictor *q = open_predictor("tiny-rgb.safetensors", NULL, 1);
    if (!p || !q) goto done;
    CHECK_INT_EQ(3, cnn_predictor_classes(p));
    CHECK_INT_EQ(0, cnn_predictor_added_softmax(p));
    for (size_t i = 0; i < NFIX; i++) {
        char path[256];
        fixture_path(path, sizeof path, fixtures[i].name);
        double x1[4], x3[12];
        fixture_tensor(&fixtures[i], 1, x1);
        fixture_tensor(&fixtures[i], 3, x3);
        cnn_error err;
        if (cnn_png_to_input(path, gray2, NULL, cnn_predictor_input(p), &err) ||
            cnn_predictor_run(p, 1, &err) ||
            cnn_png_to_input(path, rgb2, NULL, cnn_predictor_input(q), &err) ||
            cnn_predictor_run(q, 1, &err)) {
            CHECK_FAIL_("%s: %s", fixtures[i].name, err.msg);
            continue;
        }
        for (int c = 0; c < 3; c++) {
            if (fabs(cnn_predictor_probs(p)[c] - tiny_prob(x1, c)) > 1e-6)
                CHECK_FAIL_("%s gray class %d: expected %.7f, got %.7f", fixtures[i].name, c,
                            tiny_prob(x1, c), cnn_predictor_probs(p)[c]);
            if (fabs(cnn_predictor_probs(q)[c] - tiny_rgb_prob(x3, c)) > 1e-6)
                CHECK_FAIL_("%s rgb class %d: expected %.7f, got %.7f", fixtures[i].name, c,
                            tiny_rgb_prob(x3, c), cnn_predictor_probs(q)[c]);
        }
    }
done:
    cnn_predictor_free(p);
    cnn_predictor_free(q);
}

static void last_layer_without_softmax_gets_one_applied(void)
{
    cnn_predictor *p = open_predictor("tiny-linear.safetensors", NULL, 2);
    if (!p) return;
    CHECK_INT_EQ(1, cnn_predictor_added_softmax(p));
    float *x = cnn_predictor_input(p);
    static const float in[8] = {1, 0, 0, 0, 0.25f, 0.5f, 1, 1};
    memcpy(x, in, sizeof in);
    cnn_error err;
    CHECK_INT_EQ(0, cnn_predictor_run(p, 2, &err));
    double xd[8];
    for (int i = 0; i < 8; i++) xd[i] = in[i];
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            CHECK_NEAR(tiny_prob(xd + 4 * n, c), cnn_predictor_probs(p)[n * 3 + c], 1e-6);
    cnn_predictor_free(p);
}

static void same_image_agrees_as_png_idx_record_and_memory(void)
{
    cnn_predictor *p = open_predictor("tiny.safetensors", "tiny.json", 4);
    cnn_dataset *d = NULL;
    char ip[256], lp[256];
    path_in(ip, sizeof ip, tmpdir, "tiny-images.idx");
    path_in(lp, sizeof lp, tmpdir, "tiny-labels.idx");
    cnn_error err;
    if (!p) return;
    if (cnn_dataset_load(ip, lp, cnn_predictor_model(p), CNN_IDX_MAX_BYTES, &d, &err)) {
        CHECK_FAIL_("%s", err.msg);
        cnn_predictor_free(p);
        return;
    }
    /* All four records in one batch... */
    uint32_t idx[4] = {0, 1, 2, 3};
    float batch[12];
    cnn_predictor_fill(p, d, idx, 4, 0);
    CHECK_INT_EQ(0, cnn_predictor_run(p, 4, &err));
    memcpy(batch, cnn_predictor_probs(p), sizeof batch);
    for (int r = 0; r < 4; r++) {
        char name[32], path[256];
        snprintf(name, sizeof name, "rec%d.png", r);
        path_in(path, sizeof path, tmpdir, name);
        /* ...against the PNG file alone... */
        CHECK_INT_EQ(0, cnn_png_to_input(path, gray2, NULL, cnn_predictor_input(p), &err));
        CHECK_INT_EQ(0, cnn_predictor_run(p, 1, &err));
        float file[3];
        memcpy(file, cnn_predictor_probs(p), sizeof file);
        /* ...and the same bytes from memory. */
        size_t len;
        unsigned char *buf = read_bytes(path, &len);
        CHECK(buf != NULL);
        if (!buf) continue;
        CHECK_INT_EQ(0, cnn_png_mem_to_input(buf, len, "<stdin>", gray2, NULL,
                                             cnn_predictor_input(p), &err));
        free(buf);
        CHECK_INT_EQ(0, cnn_predictor_run(p, 1, &err));
        double x[4];
        for (int k = 0; k < 4; k++) x[k] = tiny_records[r][k] / 255.0;
        for (int c = 0; c < 3; c++) {
            CHECK_NEAR(batch[r * 3 + c], file[c], 1e-6);
            CHECK_NEAR(file[c], cnn_predictor_probs(p)[c], 1e-6);
            CHECK_NEAR(tiny_prob(x, c), file[c], 1e-6);
        }
    }
    cnn_dataset_free(d);
    cnn_predictor_free(p);
}

static void weights_of_a_different_model_are_refused(void)
{
    char w[256], m[256];
    cnn_predictor *p = NULL;
    cnn_error err;
    /* No model in the file: the tensors are checked against the JSON. */
    path_in(w, sizeof w, tmpdir, "bare.safetensors");
    path_in(m, sizeof m, tmpdir, "tiny.json");
    CHECK_INT_EQ(-1, cnn_predictor_open(w, m, 1, &p, &err));
    CHECK_CONTAINS(err.msg, "dense.kernel has shape (4, 4) but the model needs (3, 4)");
    CHECK(p == NULL);
    /* ...and without the JSON there is nothing to go on. */
    CHECK_INT_EQ(-1, cnn_predictor_open(w, NULL, 1, &p, &err));
    CHECK_CONTAINS(err.msg, "holds no model description");
}

/* The predictor reads a weights file's values when it makes its net
 * (cnn_weights_open_deferred): a file that grew or shrank since it was opened
 * is refused then, naming the file; the same file unchanged gives the same
 * probabilities as one read whole. */
static void weights_that_change_after_opening_are_refused(void)
{
    char src[256], w[256];
    path_in(src, sizeof src, tmpdir, "tiny.safetensors");
    path_in(w, sizeof w, tmpdir, "changing.safetensors");
    char *buf = NULL;
    size_t len = 0;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_read_file(src, 1 << 20, &buf, &len, &err));
    for (int grow = 0; grow < 3; grow++) {
        FILE *fp = fopen(w, "wb");
        CHECK(fp && fwrite(buf, 1, len, fp) == len);
        if (fp) fclose(fp);
        cnn_weights *deferred = NULL, *whole = NULL;
        CHECK_INT_EQ(0, cnn_weights_open_deferred(w, &deferred, &err));
        CHECK_INT_EQ(0, cnn_weights_open(w, &whole, &err));
        if (grow == 1) { /* appended to */
            fp = fopen(w, "ab");
            CHECK(fp && fputc(0, fp) == 0);
            if (fp) fclose(fp);
        } else if (grow == 2) { /* cut by one byte */
            CHECK_INT_EQ(0, truncate(w, (off_t)len - 1));
        }
        cnn_predictor *p = NULL, *q = NULL;
        int rc = cnn_predictor_new(deferred, NULL, 1, &p, &err);
        if (grow == 0) {
            CHECK_INT_EQ(0, rc);
            CHECK_INT_EQ(0, cnn_predictor_new(whole, NULL, 1, &q, &err));
            if (p && q) {
                float *x = cnn_predictor_input(p), *y = cnn_predictor_input(q);
                for (int k = 0; k < 4; k++) x[k] = y[k] = 0.25f * (float)k;
                CHECK_INT_EQ(0, cnn_predictor_run(p, 1, &err));
                CHECK_INT_EQ(0, cnn_predictor_run(q, 1, &err));
                CHECK(memcmp(cnn_predictor_probs(p), cnn_predictor_probs(q), 3 * sizeof(float)) == 0);
            }
        } else {
            CHECK_INT_EQ(-1, rc);
            CHECK_CONTAINS(err.msg, "changing.safetensors: ");
            CHECK_CONTAINS(err.msg, grow == 1 ? "changed size while it was read (" : "shrank while it was read");
        }
        cnn_predictor_free(p);
        cnn_predictor_free(q);
        cnn_weights_free(deferred);
        cnn_weights_free(whole);
    }
    free(buf);
    unlink(w);
}

static void model_json_disagreeing_with_the_weights_is_refused(void)
{
    char w[256], m[256];
    cnn_predictor *p = NULL;
    cnn_error err;
    path_in(w, sizeof w, tmpdir, "other.safetensors");
    path_in(m, sizeof m, tmpdir, "tiny.json");
    CHECK_INT_EQ(-1, cnn_predictor_open(w, m, 1, &p, &err));
    CHECK_CONTAINS(err.msg, "describe different models");
    CHECK_CONTAINS(err.msg, "other.safetensors");
    CHECK(p == NULL);
    path_in(w, sizeof w, tmpdir, "missing.safetensors");
    CHECK_INT_EQ(-1, cnn_predictor_open(w, NULL, 1, &p, &err));
    CHECK_CONTAINS(err.msg, "missing.safetensors");
}

static void model_without_a_class_vector_is_refused(void)
{
    static const char conv[] =
        "{\"name\": \"c\", \"input_shape\": [2, 2, 1], \"layers\": [{\"type\": \"Conv2D\", "
        "\"filters\": 2, \"kernel_size\": 1}]}";
    char w[256];
    path_in(w, sizeof w, tmpdir, "conv.safetensors");
    cnn_model *m = parse_model(conv);
    if (!m) return;
    float *zero = calloc(m->nparams, sizeof *zero);
    cnn_param_set set = {"", zero};
    cnn_error err;
    CHECK_INT_EQ(0, cnn_weights_save(w, m, &set, 1, NULL, NULL, 0, &err));
    free(zero);
    cnn_model_free(m);
    cnn_predictor *p = NULL;
    CHECK_INT_EQ(-1, cnn_predictor_open(w, NULL, 1, &p, &err));
    CHECK_CONTAINS(err.msg, "not a flat vector of class scores");
}

static void top_k_orders_by_probability_and_lower_class_on_ties(void)
{
    static const float p[5] = {0.1f, 0.3f, 0.1f, 0.3f, 0.2f};
    int top[5];
    cnn_top_k(p, 5, 5, top);
    CHECK_INT_EQ(1, top[0]);
    CHECK_INT_EQ(3, top[1]);
    CHECK_INT_EQ(4, top[2]);
    CHECK_INT_EQ(0, top[3]);
    CHECK_INT_EQ(2, top[4]);
    static const float q[3] = {NAN, 0.1f, 0.2f};
    cnn_top_k(q, 3, 1, top);
    CHECK_INT_EQ(2, top[0]);
}

/* The reference order, written independently: sort every class with the rule
 * (higher probability first, NaN last, lower class among equals). */
static const float *ref_probs;
static int ref_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    float px = ref_probs[x], py = ref_probs[y];
    if (isnan(px) != isnan(py)) return isnan(px) ? 1 : -1;
    if (!isnan(px) && px != py) return px > py ? -1 : 1;
    return x - y;
}

static void top_k_matches_a_full_sort_with_ties_and_nan(void)
{
    enum { N = 257 };
    float p[N];
    int ref[N], top[N];
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 16) % 17) / 16.0f; /* many ties */
        if ((s >> 8) % 23 == 0) p[i] = NAN;
        ref[i] = i;
    }
    ref_probs = p;
    qsort(ref, N, sizeof *ref, ref_cmp);
    static const int ks[] = {1, 2, 3, 10, 128, 256, 257};
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
        int k = ks[t];
        cnn_top_k(p, N, k, top);
        for (int j = 0; j < k; j++) CHECK_INT_EQ(ref[j], top[j]);
    }
}

/* --top K over C classes is C log K, not K^2 C: 4000 of 4000 classes took
 * 3*10^10 steps (tens of seconds) before; now well under a second of CPU. */
static void top_k_costs_n_log_k(void)
{
    enum { N = 4000 };
    static float p[N];
    static int top[N];
    for (int i = 0; i < N; i++) p[i] = (float)((i * 7919) % N) / N;
    clock_t t0 = clock();
    cnn_top_k(p, N, N, top);
    double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(cpu < 2.0);
    for (int j = 1; j < N; j++) CHECK(p[top[j - 1]] >= p[top[j]]);
}

/* ======================================================================== */
/* Class names and output lines                                             */
/* ======================================================================== */

static void class_names_are_read_one_per_line_and_checked(void)
{
    char p[256];
    char **names = NULL;
    cnn_error err;
    path_in(p, sizeof p, tmpdir, "names.txt");
    CHECK_INT_EQ(0, write_bytes(p, "T-shirt/top\r\nTrouser\nPullover", 29));
    CHECK_INT_EQ(0, cnn_class_names_load(p, 3, &names, &err));
    if (names) {
        CHECK_STR_EQ("T-shirt/top", names[0]);
        CHECK_STR_EQ("Trouser", names[1]);
        CHECK_STR_EQ("Pullover", names[2]);
        CHECK(names[3] == NULL);
    }
    cnn_class_names_free(names);
    CHECK_INT_EQ(-1, cnn_class_names_load(p, 4, &names, &err));
    CHECK_CONTAINS(err.msg, "3 class names for a model with 4 classes");
    CHECK_INT_EQ(0, write_bytes(p, "a\n\nc\n", 5));
    CHECK_INT_EQ(-1, cnn_class_names_load(p, 3, &names, &err));
    CHECK_CONTAINS(err.msg, "line 2: empty class name");
    CHECK_INT_EQ(0, write_bytes(p, "a\nb\tx\nc\n", 8));
    CHECK_INT_EQ(-1, cnn_class_names_load(p, 3, &names, &err));
    CHECK_CONTAINS(err.msg, "line 2");
    CHECK(names == NULL);
}

static void prediction_lines_in_tsv_and_json(void)
{
    static const float p[3] = {0.25f, 0.5f, 0.25f};
    static const char *const names[] = {"cat", "dog \"big\"", "emu", NULL};
    cnn_strbuf b = {0};
    cnn_pred_format f = {.top = 1};
    cnn_format_prediction(&b, &f, "a\tb.png", 0, p, 3, -1);
    CHECK_STR_EQ("a\\tb.png\t1\t0.5\n", b.s);
    b.len = 0;
    f.top = 2, f.probs = 1;
    cnn_format_prediction(&b, &f, NULL, 17, p, 3, 2);
    CHECK_STR_EQ("17\t1\t0.5\t0\t0.25\t0.25\t0.5\t0.25\t2\n", b.s);
    b.len = 0;
    f.json = 1, f.names = names;
    cnn_format_prediction(&b, &f, "x.png", 0, p, 3, -1);
    CHECK_STR_EQ("{\"source\": \"x.png\", \"class\": \"dog \\\"big\\\"\", \"prob\": 0.5, "
                 "\"top\": [{\"class\": \"dog \\\"big\\\"\", \"prob\": 0.5}, {\"class\": \"cat\", "
                 "\"prob\": 0.25}], \"probs\": [0.25, 0.5, 0.25]}\n", b.s);
    b.len = 0;
    f.top = 1, f.probs = 0, f.names = NULL;
    cnn_format_prediction(&b, &f, NULL, 3, p, 3, 0);
    CHECK_STR_EQ("{\"source\": 3, \"class\": 1, \"prob\": 0.5, \"label\": 0}\n", b.s);
    CHECK_INT_EQ(0, b.oom);
    free(b.s);
}

/* ======================================================================== */
/* Evaluation                                                               */
/* ======================================================================== */

/* Ten predictions over four classes (class 3 never occurs):
 *   true 0: predicted 0, 0, 1      true 1: 1, 1, 1, 2      true 2: 2, 2, 1
 * Confusion (rows true, columns predicted):
 *   [2 1 0 0]   [0 3 1 0]   [0 1 2 0]   [0 0 0 0]
 * Correct 2 + 3 + 2 = 7 of 10: accuracy 0.7.
 * Precision (diagonal / column sum): 2/2 = 1, 3/5 = 0.6, 2/3, undefined.
 * Recall (diagonal / row sum): 2/3, 3/4 = 0.75, 2/3, undefined.
 * F1 = 2PR/(P+R): 2(2/3)/(5/3) = 0.8; 2(0.6)(0.75)/1.35 = 2/3; 2/3.
 * Wilson, k = 7, n = 10, z = 1.959964: z^2 = 3.841459, z^2/n = 0.3841459,
 * centre = (0.7 + 0.1920729) / 1.3841459 = 0.6444934,
 * half = (1.959964 / 1.3841459) sqrt(0.021 + 0.0096036) = 1.4160097 * 0.1749390
 *      = 0.2477153, so [0.3967781, 0.8922087]. */
static cnn_eval *hand_checked_eval(void)
{
    static const int pairs[10][2] = {{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1},
                                     {1, 1}, {1, 2}, {2, 2}, {2, 2}, {2, 1}};
    cnn_eval *e = NULL;
    cnn_error err;
    if (cnn_eval_new(4, &e, &err)) return NULL;
    for (int i = 0; i < 10; i++) cnn_eval_add(e, pairs[i][0], pairs[i][1]);
    return e;
}

static void evaluation_figures_match_the_hand_computation(void)
{
    cnn_eval *e = hand_checked_eval();
    CHECK(e != NULL);
    if (!e) return;
    CHECK_INT_EQ(10, e->n);
    CHECK_INT_EQ(7, e->correct);
    CHECK_NEAR(0.7, cnn_eval_accuracy(e), 1e-12);
    static const size_t conf[16] = {2, 1, 0, 0, 0, 3, 1, 0, 0, 1, 2, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) CHECK_INT_EQ(conf[i], e->confusion[i]);
    CHECK_NEAR(1.0, cnn_eval_precision(e, 0), 1e-12);
    CHECK_NEAR(0.6, cnn_eval_precision(e, 1), 1e-12);
    CHECK_NEAR(2.0 / 3, cnn_eval_precision(e, 2), 1e-12);
    CHECK(isnan(cnn_eval_precision(e, 3)));
    CHECK_NEAR(2.0 / 3, cnn_eval_recall(e, 0), 1e-12);
    CHECK_NEAR(0.75, cnn_eval_recall(e, 1), 1e-12);
    CHECK_NEAR(2.0 / 3, cnn_eval_recall(e, 2), 1e-12);
    CHECK(isnan(cnn_eval_recall(e, 3)));
    CHECK_NEAR(0.8, cnn_eval_f1(e, 0), 1e-12);
    CHECK_NEAR(2.0 / 3, cnn_eval_f1(e, 1), 1e-12);
    CHECK(isnan(cnn_eval_f1(e, 3)));
    double lo, hi;
    cnn_wilson_interval(e->correct, e->n, CNN_Z95, &lo, &hi);
    CHECK_NEAR(0.3967781, lo, 1e-6);
    CHECK_NEAR(0.8922087, hi, 1e-6);
    cnn_eval_free(e);
}

static void wilson_interval_at_the_edges(void)
{
    double lo, hi;
    /* k = 0, n = 10: centre = half = 0.1920729 / 1.3841459 = 0.1387664. */
    cnn_wilson_interval(0, 10, CNN_Z95, &lo, &hi);
    CHECK(lo == 0);
    CHECK_NEAR(0.2775328, hi, 1e-6);
    cnn_wilson_interval(10, 10, CNN_Z95, &lo, &hi);
    CHECK_NEAR(0.7224672, lo, 1e-6);
    CHECK(hi == 1);
    cnn_wilson_interval(0, 0, CNN_Z95, &lo, &hi);
    CHECK(lo == 0 && hi == 1);
    /* Large n approaches the normal interval: 0.5 +- 1.96 sqrt(0.25 / 1e6). */
    cnn_wilson_interval(500000, 1000000, CNN_Z95, &lo, &hi);
    CHECK_NEAR(0.5 - 0.00097998, lo, 1e-7);
    CHECK_NEAR(0.5 + 0.00097998, hi, 1e-7);
}

static void evaluation_renders_as_a_table_and_as_json(void)
{
    cnn_eval *e = hand_checked_eval();
    if (!e) return;
    char *text = cnn_eval_text(e, NULL);
    CHECK_CONTAINS(text, "accuracy 0.7000 (7 of 10), 95% CI [0.3968, 0.8922] (Wilson score)");
    CHECK_CONTAINS(text, "class  precision  recall      f1  support  predicted\n");
    CHECK_CONTAINS(text, "\n0         1.0000  0.6667  0.8000        3          2\n");
    CHECK_CONTAINS(text, "\n3              -       -       -        0          0\n");
    CHECK_CONTAINS(text, "confusion matrix (rows: true class, columns: predicted)\n"
                         "      0 1 2 3\n    0 2 1 0 0\n    1 0 3 1 0\n");
    free(text);
    static const char *const names[] = {"ant", "bee", "cat", "dog", NULL};
    text = cnn_eval_text(e, names);
    CHECK_CONTAINS(text, "\nbee       0.6000  0.7500  0.6667        4          5\n");
    CHECK_CONTAINS(text, "1 = bee   0 3 1 0\n");
    free(text);
    char *json = cnn_eval_json(e, NULL);
    CHECK_STR_EQ(
        "{\"images\": 10, \"correct\": 7, \"accuracy\": 0.700000, \"accuracy_ci95\": "
        "{\"method\": \"wilson\", \"low\": 0.396778, \"high\": 0.892209}, \"classes\": ["
        "{\"class\": 0, \"precision\": 1.000000, \"recall\": 0.666667, \"f1\": 0.800000, "
        "\"support\": 3, \"predicted\": 2}, "
        "{\"class\": 1, \"precision\": 0.600000, \"recall\": 0.750000, \"f1\": 0.666667, "
        "\"support\": 4, \"predicted\": 5}, "
        "{\"class\": 2, \"precision\": 0.666667, \"recall\": 0.666667, \"f1\": 0.666667, "
        "\"support\": 3, \"predicted\": 3}, "
        "{\"class\": 3, \"precision\": null, \"recall\": null, \"f1\": null, "
        "\"support\": 0, \"predicted\": 0}], "
        "\"confusion\": [[2, 1, 0, 0], [0, 3, 1, 0], [0, 1, 2, 0], [0, 0, 0, 0]]}\n",
        json);
    free(json);
    json = cnn_eval_json(e, names);
    CHECK_CONTAINS(json, "{\"class\": \"dog\", \"precision\": null");
    free(json);
    cnn_eval_free(e);
}

/* ======================================================================== */

/* The first n records of an IDX image file as 8-bit PNGs dir/digit-<i>.png. */
static int write_digits(const char *idx_path, long n, const char *dir)
{
    cnn_idx *x;
    cnn_error err;
    if (cnn_idx_load(idx_path, CNN_IDX_MAX_BYTES, &x, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int rc = x->type == CNN_IDX_U8 && x->rank == 3 ? 0 : 1;
    for (long i = 0; i < n && (size_t)i < x->count && rc == 0; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/digit-%ld.png", dir, i);
        rc = write_gray_png(p, (int)x->dims[2], (int)x->dims[1],
                            (const unsigned char *)x->data + (size_t)i * x->record);
    }
    cnn_idx_free(x);
    return rc ? 1 : 0;
}

/* The first n records of an IDX image file and its labels, as plain IDX files
 * dir/sub-images.idx and dir/sub-labels.idx (a quick training set). */
static int write_subset(const char *images, const char *labels, long n, const char *dir)
{
    cnn_idx *x = NULL, *y = NULL;
    cnn_error err;
    char p[512];
    int rc = 1;
    if (cnn_idx_load(images, CNN_IDX_MAX_BYTES, &x, &err) ||
        cnn_idx_load(labels, CNN_IDX_MAX_BYTES, &y, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        goto done;
    }
    if (n < 1 || (size_t)n > x->count || (size_t)n > y->count) goto done;
    size_t dims[CNN_IDX_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[0] = (size_t)n;
    snprintf(p, sizeof p, "%s/sub-images.idx", dir);
    if (cnn_idx_write(p, x->type, x->rank, dims, x->data, 0, &err)) goto done;
    dims[0] = (size_t)n;
    snprintf(p, sizeof p, "%s/sub-labels.idx", dir);
    if (cnn_idx_write(p, y->type, 1, dims, y->data, 0, &err)) goto done;
    rc = 0;
done:
    cnn_idx_free(x);
    cnn_idx_free(y);
    return rc;
}

/* Record 0 of an IDX image file as a dark-on-light drawing at twice the size
 * (each pixel a 2x2 block), for --invert --resize. */
static int write_drawing(const char *idx_path, const char *out)
{
    cnn_idx *x;
    cnn_error err;
    if (cnn_idx_load(idx_path, CNN_IDX_MAX_BYTES, &x, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int w = (int)x->dims[2], h = (int)x->dims[1], rc = 1;
    unsigned char *px = malloc((size_t)4 * w * h);
    if (px && x->type == CNN_IDX_U8 && x->rank == 3) {
        const unsigned char *src = x->data;
        for (int y = 0; y < 2 * h; y++)
            for (int i = 0; i < 2 * w; i++)
                px[(size_t)y * 2 * w + i] = (unsigned char)(255 - src[(y / 2) * w + i / 2]);
        rc = write_gray_png(out, 2 * w, 2 * h, px) ? 1 : 0;
    }
    free(px);
    cnn_idx_free(x);
    return rc;
}

static void remove_tree(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0)
        return write_fixtures(argv[2]) ? 1 : 0;
    if (argc == 5 && strcmp(argv[1], "--write-digits") == 0)
        return write_digits(argv[2], atol(argv[3]), argv[4]);
    if (argc == 6 && strcmp(argv[1], "--write-subset") == 0)
        return write_subset(argv[2], argv[3], atol(argv[4]), argv[5]);
    if (argc == 4 && strcmp(argv[1], "--write-drawing") == 0)
        return write_drawing(argv[2], argv[3]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_infer.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (write_fixtures(tmpdir)) {
        fprintf(stderr, "could not write the fixtures to %s\n", tmpdir);
        remove_tree(tmpdir);
        return 1;
    }
    cnn_set_threads(1);
    RUN(every_colour_type_and_depth_converts_to_one_channel_by_luminance);
    RUN(every_colour_type_and_depth_converts_to_three_channels);
    RUN(models_without_1_or_3_channel_spatial_input_are_refused);
    RUN(wrong_size_is_an_error_naming_both_sizes);
    RUN(resize_scales_bilinearly_to_the_model_size);
    RUN(invert_maps_v_to_one_minus_v);
    RUN(corrupt_truncated_and_non_png_files_are_errors_naming_the_file);
    RUN(predictor_gives_the_closed_form_softmax_for_every_fixture);
    RUN(last_layer_without_softmax_gets_one_applied);
    RUN(same_image_agrees_as_png_idx_record_and_memory);
    RUN(weights_of_a_different_model_are_refused);
    RUN(weights_that_change_after_opening_are_refused);
    RUN(model_json_disagreeing_with_the_weights_is_refused);
    RUN(model_without_a_class_vector_is_refused);
    RUN(top_k_orders_by_probability_and_lower_class_on_ties);
    RUN(top_k_matches_a_full_sort_with_ties_and_nan);
    RUN(top_k_costs_n_log_k);
    RUN(class_names_are_read_one_per_line_and_checked);
    RUN(prediction_lines_in_tsv_and_json);
    RUN(evaluation_figures_match_the_hand_computation);
    RUN(wilson_interval_at_the_edges);
    RUN(evaluation_renders_as_a_table_and_as_json);
    remove_tree(tmpdir);
    return check_report();
}
