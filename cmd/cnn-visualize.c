/* cnn-visualize: what a trained CNN learns, as PNG pictures: the inputs that
 * maximize filters, neurons and class logits (gradient ascent on the image),
 * the first layer's weights, and one image's feature maps. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cnn.h"
#include "draw.h"
#include "threads.h"
#include "image.h"
#include "infer.h"
#include "visualize.h"
#include "weights.h"

#define MAX_THREADS CNN_MAX_THREADS /* the library's one limit (threads.h) */
#define MAX_BATCH 64

static const char usage[] =
    "usage: cnn-visualize -w WEIGHTS.safetensors [MODEL.json] --layer NAME [--units LIST]\n"
    "                     (-o GRID.png | --each DIR) [options]\n"
    "       cnn-visualize -w WEIGHTS.safetensors [MODEL.json] --kernels [--layer NAME] -o F.png\n"
    "       cnn-visualize -w WEIGHTS.safetensors [MODEL.json] --layer NAME --feature-maps IMAGE\n"
    "                     -o F.png\n"
    "       cnn-visualize -w WEIGHTS.safetensors [MODEL.json] --saliency IMAGE [--class K]\n"
    "                     (-o F.png | --json)\n"
    "       cnn-visualize -w WEIGHTS.safetensors [MODEL.json] --gradcam IMAGE --layer NAME\n"
    "                     [--class K] (-o F.png | --json)\n";

static const char help[] =
    "Draws what a trained network's units respond to.  By default, for every unit of\n"
    "--layer (a channel of a Conv2D or pooling layer, a neuron of a Dense layer, a class\n"
    "of the output layer) it finds the input image that maximizes the unit by gradient\n"
    "ascent on the image, the weights fixed, and draws the images as one grid.\n"
    "\n"
    "  -w, --weights FILE       trained weights (the model is read from them)\n"
    "  -m, --model FILE         a model JSON, which must describe the same architecture\n"
    "                           (also accepted as the one operand MODEL.json)\n"
    "  -l, --layer NAME         the layer (names as cnn-summary prints them)\n"
    "  -u, --units LIST         units to draw, e.g. 0-11,17 (default: all)\n"
    "  -o, --output FILE        the grid as PNG (written atomically; - for standard output)\n"
    "      --each DIR           one PNG per unit, DIR/LAYER-UNIT.png (DIR is created; UNIT\n"
    "                           zero-padded to the layer's last unit: dense-007.png)\n"
    "      --json               one JSON line per unit on stdout: its final objective value\n"
    "\n"
    "Objective:\n"
    "      --reduce HOW         a channel's mean (default), sum (the lecture's a^k) or center\n"
    "      --center             the same as --reduce center: the single centre unit\n"
    "      --pre-activation     before the layer's activation (a softmax is always stripped:\n"
    "                           output classes maximize their logit)\n"
    "\n"
    "Optimization (on the input image):\n"
    "      --optimizer NAME     normalized (step / RMS of the gradient, default) or adam\n"
    "      --steps N            ascent steps per unit (default 200)\n"
    "      --step-size X        step size, or Adam's learning rate (default 0.02)\n"
    "      --seed N             seed for the random starts and jitter (default 1)\n"
    "      --range LO,HI        the input range pixels are clipped to (default 0,1)\n"
    "      --restarts N         random starts before a unit with zero gradient is reported\n"
    "                           dead (default 4)\n"
    "\n"
    "Regularizers (the ascent maximizes objective - penalties):\n"
    "      --l1 X               X * sum |x|, the lecture's (default 0)\n"
    "      --l2 X               X * sum x^2 (default 0)\n"
    "      --tv X               X * total variation, sum of squared neighbour differences\n"
    "                           (default 0)\n"
    "      --blur SIGMA         Gaussian blur of the image every --blur-every steps, in\n"
    "                           pixels (default 0.5; 0 turns it off)\n"
    "      --blur-every K       (default 4)\n"
    "      --jitter N           shift the image by up to N pixels at every step (default 1)\n"
    "\n"
    "Other views:\n"
    "      --kernels            draw the filters of the first layer (or of --layer) themselves,\n"
    "                           zero mid-grey, positive red, negative blue, with a colour bar\n"

    "      --feature-maps IMG   draw every channel of --layer's output for the image IMG (PNG, JPEG)\n"
    "      --invert             with --feature-maps: invert IMG (dark digits on white)\n"
    "      --resize             with --feature-maps: resize IMG to the model's input size\n"
    "      --saliency IMG       which pixels of the image IMG drove the class: |d logit / d pixel|\n"
    "                           (max over channels), drawn beside and over the image\n"
    "      --gradcam IMG        Grad-CAM of IMG at --layer (a spatial layer), upsampled to the\n"
    "                           image and drawn beside and over it\n"
    "      --class K            with --saliency or --gradcam: the class (a number or a class\n"
    "                           name stored in the weights; default: the predicted class)\n"
    "      --start IMG          start the ascent from the image IMG instead of noise (what the\n"
    "                           network sees in this picture)\n"
    "\n"
    "Picture:\n"
    "      --sort               tiles by final value, largest first (dead units last)\n"
    "      --normalize HOW      tile (each tile stretched to black..white, default), global\n"
    "                           (one stretch for all tiles) or none; for --kernels: global\n"
    "                           (one colour scale, default), tile (each by its own max |w|)\n"
    "      --cols N             tiles per row (default: a square grid)\n"
    "      --scale N            enlarge every pixel to N x N (default: tiles up to 96 pixels)\n"
    "      --margin N           white pixels between framed tiles (default 2)\n"
    "\n"
    "      --threads N          threads for the math (default: all cores; the ascent's\n"
    "                           results depend on it in the last bits)\n"
    "  -q, --quiet              no progress and no warnings\n"
    CLI_LIMIT_HELP
    "  -h, --help               this help\n"
    "  -V, --version            the version\n"
    "\n"
    "Old spellings, still accepted with a note on stderr: --weights-file FILE (now\n"
    "-w/--weights FILE) and a bare --weights (now --kernels).  --weights is read in\n"
    "the old sense only when no word follows it, the next word starts with '-', or\n"
    "the next word is an existing file that is not a safetensors file.\n";

enum {
    OPT_EACH = 256, OPT_JSON, OPT_REDUCE, OPT_CENTER, OPT_PRE, OPT_OPTIMIZER, OPT_STEPS,
    OPT_STEP_SIZE, OPT_SEED, OPT_RANGE, OPT_RESTARTS, OPT_L1, OPT_L2, OPT_TV, OPT_BLUR,
    OPT_BLUR_EVERY, OPT_JITTER, OPT_WEIGHTS, OPT_FEATURE_MAPS, OPT_INVERT, OPT_RESIZE, OPT_SORT,
    OPT_NORMALIZE, OPT_SCALE, OPT_MARGIN, OPT_THREADS, OPT_COLS, OPT_WEIGHTS_FILE,
    OPT_SALIENCY, OPT_GRADCAM, OPT_CLASS, OPT_START,
};

static const struct option options[] = {
    {"weights", required_argument, NULL, 'w'},
    {"model", required_argument, NULL, 'm'},
    {"weights-file", required_argument, NULL, OPT_WEIGHTS_FILE},
    {"layer", required_argument, NULL, 'l'},
    {"units", required_argument, NULL, 'u'},
    {"output", required_argument, NULL, 'o'},
    {"each", required_argument, NULL, OPT_EACH},
    {"json", no_argument, NULL, OPT_JSON},
    {"reduce", required_argument, NULL, OPT_REDUCE},
    {"center", no_argument, NULL, OPT_CENTER},
    {"pre-activation", no_argument, NULL, OPT_PRE},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"step-size", required_argument, NULL, OPT_STEP_SIZE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"range", required_argument, NULL, OPT_RANGE},
    {"restarts", required_argument, NULL, OPT_RESTARTS},
    {"l1", required_argument, NULL, OPT_L1},
    {"l2", required_argument, NULL, OPT_L2},
    {"tv", required_argument, NULL, OPT_TV},
    {"blur", required_argument, NULL, OPT_BLUR},
    {"blur-every", required_argument, NULL, OPT_BLUR_EVERY},
    {"jitter", required_argument, NULL, OPT_JITTER},
    {"kernels", no_argument, NULL, OPT_WEIGHTS},
    {"cols", required_argument, NULL, OPT_COLS},
    {"feature-maps", required_argument, NULL, OPT_FEATURE_MAPS},
    {"saliency", required_argument, NULL, OPT_SALIENCY},
    {"gradcam", required_argument, NULL, OPT_GRADCAM},
    {"class", required_argument, NULL, OPT_CLASS},
    {"start", required_argument, NULL, OPT_START},
    {"invert", no_argument, NULL, OPT_INVERT},
    {"resize", no_argument, NULL, OPT_RESIZE},
    {"sort", no_argument, NULL, OPT_SORT},
    {"normalize", required_argument, NULL, OPT_NORMALIZE},
    {"scale", required_argument, NULL, OPT_SCALE},
    {"margin", required_argument, NULL, OPT_MARGIN},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    CLI_LIMIT_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* ---- option parsing ------------------------------------------------------ */

/* Whether path names a regular file that does not begin as a safetensors file
 * does: an 8-byte little-endian header length that fits the file, then '{'. */
static int other_than_safetensors(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    unsigned char b[9];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n < sizeof b || b[8] != '{') return 1;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | b[i];
    return len > (uint64_t)st.st_size - 8;
}

/* The old bare --weights (the kernel view, now --kernels), told apart from the
 * new --weights FILE before getopt sees it: it is the old flag when nothing
 * follows it, when the next word starts with '-' (another option), or when the
 * next word is an existing file that is not a safetensors file (the old
 * MODEL.json operand).  A next word naming a safetensors file, or no file at
 * all, is the weights file (a missing file is then reported as such).  Rewrites
 * the old flag to --kernels; returns whether it did. */
static int old_weights_flag(int argc, char **argv)
{
    int found = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        if (strcmp(a, "--weights") == 0) {
            const char *next = i + 1 < argc ? argv[i + 1] : NULL;
            if (!next || next[0] == '-' || other_than_safetensors(next)) {
                argv[i] = (char *)"--kernels";
                found = 1;
            } else {
                i++;
            }
            continue;
        }
        /* Skip the value of an option given as the next word. */
        if (a[0] == '-' && a[1] && a[1] != '-' && !a[2] && strchr("wmluo", a[1])) {
            i++;
        } else if (a[0] == '-' && a[1] == '-' && !strchr(a, '=')) {
            for (const struct option *o = options; o->name; o++)
                if (strcmp(a + 2, o->name) == 0 && o->has_arg == required_argument) i++;
        }
    }
    return found;
}

static void parse_range(const char *s, float *lo, float *hi)
{
    char *end;
    errno = 0;
    double a = strtod(s, &end);
    if (errno || end == s || *end != ',' || !isfinite(a)) goto bad;
    const char *t = end + 1;
    double b = strtod(t, &end);
    if (errno || end == t || *end || !isfinite(b) || !(b > a)) goto bad;
    *lo = (float)a, *hi = (float)b;
    return;
bad:
    fprintf(stderr, "cnn-visualize: --range: expected LO,HI with LO < HI, got \"%s\"\n", s);
    exit(2);
}

/* Reads "0-11,17" into a malloc'd list checked against [0, count). */
static int *parse_units(const char *s, int count, const char *layer, int *n)
{
    int cap = 16, k = 0;
    int *u = malloc(sizeof *u * (size_t)cap);
    if (!u) goto oom;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b;
        if (errno || end == p || *p == '-' || *p == '+' || *p == ' ') goto bad;
        p = end;
        b = a;
        if (*p == '-') {
            p++;
            errno = 0;
            b = strtol(p, &end, 10);
            if (errno || end == p || *p == '-' || *p == '+' || *p == ' ' || b < a) goto bad;
            p = end;
        }
        if (*p != ',' && *p) goto bad;
        if (a < 0 || b >= count) {
            fprintf(stderr, "cnn-visualize: --units: %ld is out of range: layer %s has units 0 "
                            "to %d\n", a < 0 ? a : b, layer, count - 1);
            exit(2);
        }
        for (long v = a; v <= b; v++) {
            if (k == cap) {
                if (cap > 1 << 24) goto bad;
                int *t = realloc(u, sizeof *u * (size_t)(cap *= 2));
                if (!t) goto oom;
                u = t;
            }
            u[k++] = (int)v;
        }
        if (!*p) break;
        p++;
    }
    *n = k;
    return u;
bad:
    fprintf(stderr, "cnn-visualize: --units: expected a list like 0-11,17, got \"%s\"\n", s);
    exit(2);
oom:
    fputs("cnn-visualize: error: out of memory\n", stderr);
    exit(1);
}

/* ---- progress ------------------------------------------------------------ */

static void on_progress(void *ctx, int done, int total)
{
    const char *layer = ctx;
    fprintf(stderr, "\r\033[Kcnn-visualize: %s: %d/%d units", layer, done, total);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* ---- output -------------------------------------------------------------- */

static int write_tiles_png(const char *path, const float *tiles, int n, int c, int h, int w,
                           const int *order, const int *dead, const cnn_vis_grid_opts *g,
                           cnn_error *err)
{
    unsigned char *px;
    int W, H;
    if (cnn_vis_grid(tiles, n, c, h, w, order, dead, g, &px, &W, &H, err)) return -1;
    int rc = cnn_png_write(path, W, H, c, px, err);
    free(px);
    return rc;
}

/* The -o picture: tiles labelled with their unit numbers, framed; kernels in a
 * diverging colour map (raw weights, zero mid-grey) with a colour bar. */
static int write_grid(const char *path, const cnn_layer *L, int kernels, int fmaps, float *tiles,
                      const int *units, int n, int c, int h, int w, const int *order,
                      const int *dead, int normalize, int cols, int scale, int margin,
                      char *const *class_names, cnn_error *err)
{
    char **labels = calloc((size_t)n, sizeof *labels);
    char *text = malloc((size_t)n * 32);
    if (!labels || !text) {
        free(labels), free(text);
        return cnn_errorf(err, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        labels[i] = text + (size_t)i * 32;
        snprintf(labels[i], 32, "%d", units[i]);
        if (class_names) /* the output layer's units are classes */
            snprintf(labels[i], 32, "%.31s", class_names[units[i]]);
    }
    char title[160];
    snprintf(title, sizeof title, "%s (%s): %s", L->name, cnn_layer_type(L),
             kernels ? "kernels" : fmaps ? "feature maps" : "inputs that maximize each unit");
    cnn_draw_grid_opts g = {.cols = cols, .scale = scale, .margin = margin, .title = title};
    int rc;
    if (kernels) {
        g.map = CNN_DRAW_DIVERGING;
        g.per_tile = normalize == CNN_VIS_NORM_TILE;
        g.limit = normalize == CNN_VIS_NORM_NONE ? 1 : 0;
        rc = cnn_draw_grid(path, tiles, n, c, h, w, order, dead, labels, &g, err);
    } else {
        size_t per = (size_t)c * h * w;
        float *copy = malloc(per * (size_t)n * sizeof *copy);
        if (!copy) {
            free(labels), free(text);
            return cnn_errorf(err, "out of memory");
        }
        memcpy(copy, tiles, per * (size_t)n * sizeof *copy);
        cnn_vis_normalize(copy, n, per, normalize < 0 ? CNN_VIS_NORM_TILE : normalize, dead);
        g.map = CNN_DRAW_GRAY;
        rc = cnn_draw_grid(path, copy, n, c, h, w, order, dead, labels, &g, err);
        free(copy);
    }
    free(labels), free(text);
    return rc;
}

/* Digits of the largest unit number of a layer of `count` units: --each pads
 * UNIT to them (dense-007.png of 128 units), so the names sort in unit order
 * and a unit's file has the same name whichever --units are drawn. */
static int unit_digits(int count)
{
    int digits = 1;
    for (int v = count - 1; v >= 10; v /= 10) digits++;
    return digits;
}

static int write_each(const char *dir, const char *layer, const float *tiles, const int *units,
                      int n, int count, int c, int h, int w, const int *dead, int scale,
                      cnn_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0 && errno == ENOENT && mkdir(dir, 0777) != 0)
        return cnn_errorf(err, "%s: cannot create the folder: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cnn_errorf(err, "%s: not a folder", dir);
    int digits = unit_digits(count);
    cnn_vis_grid_opts g = {.cols = 1, .scale = scale, .margin = 0};
    size_t per = (size_t)c * h * w, len = strlen(dir) + strlen(layer) + 32;
    char *path = malloc(len);
    if (!path) return cnn_errorf(err, "out of memory");
    for (int i = 0; i < n; i++) {
        snprintf(path, len, "%s/%s-%0*d.png", dir, layer, digits, units[i]);
        if (write_tiles_png(path, tiles + (size_t)i * per, 1, c, h, w, NULL,
                            dead ? dead + i : NULL, &g, err)) {
            free(path);
            return -1;
        }
    }
    free(path);
    return 0;
}

/* The files --each will write, checked against the inputs and -o before any
 * work (exit 2), one file at a time: their names differ from each other. */
static void check_each(const char *dir, const char *layer, const int *units, int n, int count,
                       const cnn_file_role *ins, size_t nin, const char *out)
{
    size_t len = strlen(dir) + strlen(layer) + 32;
    char *path = malloc(len);
    if (!path) return; /* write_each reports it */
    int digits = unit_digits(count);
    for (int i = 0; i < n; i++) {
        snprintf(path, len, "%s/%s-%0*d.png", dir, layer, digits, units[i]);
        cnn_file_role outs[2] = {{"-o", out, NULL}, {"--each", path, NULL}};
        cnn_error err;
        if (cnn_check_outputs(ins, nin, outs, 2, &err)) {
            fprintf(stderr, "cnn-visualize: error: %s\n", err.msg);
            free(path);
            exit(2);
        }
    }
    free(path);
}

/* ---- images, class names ---------------------------------------------------- */

/* The class names stored with the weights for the model's last layer, or NULL. */
static char **stored_class_names(const cnn_weights *wf, const cnn_model *m, cnn_error *err,
                                 int *failed)
{
    const cnn_layer *last = &m->layers[m->nlayers - 1];
    char **names = NULL;
    *failed = 0;
    if (last->out.flat &&
        cnn_weights_class_names(wf, (int)cnn_shape_size(last->out), &names, err))
        *failed = 1;
    return names;
}

/* --class: a number in [0, K) or one of the stored class names; exit 2 otherwise. */
static int parse_class(const char *s, int K, char *const *names)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!errno && end != s && !*end && *s != '-' && *s != '+' && *s != ' ') {
        if (v < K) return (int)v;
        fprintf(stderr, "cnn-visualize: --class %s: the model has classes 0 to %d\n", s, K - 1);
        exit(2);
    }
    for (int k = 0; names && k < K; k++)
        if (strcmp(names[k], s) == 0) return k;
    fprintf(stderr, "cnn-visualize: --class %s: not a class number (0 to %d)%s\n", s, K - 1,
            names ? " nor a class name stored in the weights" : "");
    exit(2);
}

/* ---- saliency and Grad-CAM ----------------------------------------------------- */

typedef struct attrib {
    const char *image;     /* --saliency or --gradcam IMAGE */
    int gradcam;           /* 0: saliency */
    int layer;             /* Grad-CAM: the layer */
    const char *class_arg; /* --class, or NULL for the predicted class */
    const char *out;       /* -o, or NULL */
    int json, scale;
    const cnn_input_opts *in;
} attrib;

/* The map as JSON rows: [[m00, m01, ...], ...]. */
static void json_map(cnn_strbuf *b, const float *map, int h, int w)
{
    cnn_strbuf_putc(b, '[');
    for (int y = 0; y < h; y++) {
        cnn_strbuf_puts(b, y ? ", [" : "[");
        for (int x = 0; x < w; x++)
            cnn_strbuf_printf(b, "%s%.9g", x ? ", " : "", (double)map[(size_t)y * w + x]);
        cnn_strbuf_putc(b, ']');
    }
    cnn_strbuf_putc(b, ']');
}

static int attribution(cnn_net *net, const cnn_model *m, char *const *names, const attrib *a,
                       cnn_error *err)
{
    int H = m->input.h, W = m->input.w, C = m->input.c;
    const cnn_layer *last = &m->layers[m->nlayers - 1];
    if (!last->out.flat)
        return cnn_errorf(err, "the last layer (%s) is not a flat class vector", last->name);
    int K = (int)cnn_shape_size(last->out);
    int cls = a->class_arg ? parse_class(a->class_arg, K, names) : -1;
    const cnn_layer *L = a->gradcam ? &m->layers[a->layer] : NULL;
    int mh = L ? L->out.h : H, mw = L ? L->out.w : W;
    float *x = malloc(sizeof *x * cnn_shape_size(m->input));
    float *map = malloc(sizeof *map * (size_t)mh * mw);
    float *up = malloc(sizeof *up * (size_t)H * W);
    cnn_strbuf b = {0};
    int rc = -1;
    if (!x || !map || !up) {
        cnn_errorf(err, "out of memory");
        goto done;
    }
    if (cnn_png_to_input(a->image, m->input, a->in, x, err)) goto done;
    /* the prediction, for the title and the JSON */
    if (cnn_net_forward(net, x, cnn_shape_size(m->input), 1, 0, NULL, err)) goto done;
    const float *y = cnn_net_output(net, m->nlayers - 1);
    int pred = 0;
    for (int k = 1; k < K; k++)
        if (y[k] > y[pred]) pred = k;
    if (cls < 0) cls = pred;
    if (a->gradcam ? cnn_vis_gradcam(net, a->layer, x, &cls, map, err)
                   : cnn_vis_saliency(net, x, &cls, map, err))
        goto done;
    if (a->json) {
        cnn_strbuf_puts(&b, "{\"image\": ");
        cnn_strbuf_json_string(&b, a->image);
        cnn_strbuf_printf(&b, ", \"method\": \"%s\"", a->gradcam ? "gradcam" : "saliency");
        if (L) {
            cnn_strbuf_puts(&b, ", \"layer\": ");
            cnn_strbuf_json_string(&b, L->name);
        }
        cnn_strbuf_printf(&b, ", \"class\": %d", cls);
        if (names) {
            cnn_strbuf_puts(&b, ", \"class_name\": ");
            cnn_strbuf_json_string(&b, names[cls]);
        }
        cnn_strbuf_printf(&b, ", \"predicted\": %d, \"height\": %d, \"width\": %d, \"map\": ",
                          pred, mh, mw);
        json_map(&b, map, mh, mw);
        cnn_strbuf_puts(&b, "}\n");
        if (b.oom) {
            cnn_errorf(err, "out of memory");
            goto done;
        }
        if (fwrite(b.s, 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
            cnn_errorf(err, "writing to stdout: %s", strerror(errno));
            goto done;
        }
    }
    if (a->out) {
        if (L) cnn_vis_upsample_bilinear(map, mh, mw, up, H, W);
        else memcpy(up, map, sizeof *up * (size_t)H * W);
        char title[256], cname[96] = "", pname[96] = "";
        if (names) {
            snprintf(cname, sizeof cname, " (%.80s)", names[cls]);
            snprintf(pname, sizeof pname, " (%.80s)", names[pred]);
        }
        if (L)
            snprintf(title, sizeof title, "Grad-CAM at %.60s for class %d%s; predicted %d%s",
                     L->name, cls, cname, pred, pname);
        else
            snprintf(title, sizeof title, "saliency |d logit / d pixel| for class %d%s; "
                     "predicted %d%s", cls, cname, pred, pname);
        int scale = a->scale ? a->scale : cnn_vis_auto_scale(H, W);
        if (cnn_draw_heatmap(a->out, x, C, H, W, up, scale, title, err)) goto done;
    }
    rc = 0;
done:
    free(b.s);
    free(x);
    free(map);
    free(up);
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cli_prog = "cnn-visualize";
    cli_usage = usage;
    const char *weights_path = NULL, *model_path = NULL, *layer_name = NULL, *units_arg = NULL, *out = NULL,
               *each = NULL, *fmap_path = NULL;
    const char *saliency = NULL, *gradcam = NULL, *class_arg = NULL, *start_path = NULL;
    int json = 0, weights_view = 0, sort = 0, quiet = 0, threads = 0, scale = 0, margin = 2;
    int old_kernels = old_weights_flag(argc, argv), old_weights_file = 0;
    int normalize = -1, cols = 0; /* normalize -1: the view's default */
    cnn_input_opts in_opts = {0};
    cnn_vis_opts o;
    cnn_vis_opts_default(&o);

    int c;
    while ((c = getopt_long(argc, argv, ":w:m:l:u:o:qhV", options, NULL)) != -1) {
        switch (c) {
        case 'w': weights_path = optarg; break;
        case OPT_WEIGHTS_FILE: weights_path = optarg, old_weights_file = 1; break;
        case 'm': model_path = optarg; break;
        case 'l': layer_name = optarg; break;
        case 'u': units_arg = optarg; break;
        case 'o': out = optarg; break;
        case OPT_EACH: each = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_REDUCE: o.obj.reduce = cli_name("--reduce", optarg, cnn_vis_reduce_names); break;
        case OPT_CENTER: o.obj.reduce = CNN_VIS_CENTER; break;
        case OPT_PRE: o.obj.pre = 1; break;
        case OPT_OPTIMIZER: o.method = cli_name("--optimizer", optarg, cnn_vis_method_names); break;
        case OPT_STEPS: o.steps = (int)cli_long("--steps", optarg, 0, 1000000); break;
        case OPT_STEP_SIZE: o.step = (float)cli_double("--step-size", optarg, 0, 1e6, 1); break;
        case OPT_SEED: o.seed = (uint64_t)cli_long("--seed", optarg, 0, 2147483647L); break;
        case OPT_RANGE: parse_range(optarg, &o.lo, &o.hi); break;
        case OPT_RESTARTS: o.restarts = (int)cli_long("--restarts", optarg, 1, 1000); break;
        case OPT_L1: o.l1 = (float)cli_double("--l1", optarg, 0, 1e6, 0); break;
        case OPT_L2: o.l2 = (float)cli_double("--l2", optarg, 0, 1e6, 0); break;
        case OPT_TV: o.tv = (float)cli_double("--tv", optarg, 0, 1e6, 0); break;
        case OPT_BLUR: o.blur = (float)cli_double("--blur", optarg, 0, 20, 0); break;
        case OPT_BLUR_EVERY: o.blur_every = (int)cli_long("--blur-every", optarg, 1, 1000000); break;
        case OPT_JITTER: o.jitter = (int)cli_long("--jitter", optarg, 0, 1000); break;
        case OPT_WEIGHTS: weights_view = 1; break;
        case OPT_FEATURE_MAPS: fmap_path = optarg; break;
        case OPT_SALIENCY: saliency = optarg; break;
        case OPT_GRADCAM: gradcam = optarg; break;
        case OPT_CLASS: class_arg = optarg; break;
        case OPT_START: start_path = optarg; break;
        case OPT_INVERT: in_opts.invert = 1; break;
        case OPT_RESIZE: in_opts.resize = 1; break;
        case OPT_SORT: sort = 1; break;
        case OPT_NORMALIZE: normalize = cli_name("--normalize", optarg, cnn_vis_norm_names); break;
        case OPT_SCALE: scale = (int)cli_long("--scale", optarg, 1, 1000); break;
        case OPT_COLS: cols = (int)cli_long("--cols", optarg, 1, 100000); break;
        case OPT_MARGIN: margin = (int)cli_long("--margin", optarg, 0, 1000); break;
        case OPT_THREADS: threads = (int)cli_long("--threads", optarg, 1, MAX_THREADS); break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); fputs(help, stdout); return cli_stdout_status();
        case 'V': printf("cnn-visualize %s\n", CNN_VERSION); return cli_stdout_status();
        default: cli_other_option(c, argv);
        }
    }
    if (old_weights_file && !quiet)
        fputs("cnn-visualize: note: --weights-file is deprecated; use -w/--weights FILE\n", stderr);
    if (old_kernels && !quiet)
        fputs("cnn-visualize: note: --weights as the kernel view is deprecated; use --kernels "
              "(--weights FILE names the weights file)\n", stderr);
    if (optind < argc - 1) cli_misuse("at most one model file expected, also got \"%s\"", argv[optind + 1]);
    if (optind < argc && model_path)
        cli_misuse("the model is given twice: -m %s and \"%s\"", model_path, argv[optind]);
    if (optind < argc) model_path = argv[optind];
    if (!weights_path) cli_misuse("-w WEIGHTS.safetensors is required");
    const char *attr_image = saliency ? saliency : gradcam;
    if (saliency && gradcam) cli_misuse("use either --saliency or --gradcam");
    if (attr_image && (weights_view || fmap_path || each || start_path || units_arg || sort))
        cli_misuse("--%s goes without --kernels, --feature-maps, --each, --start, --units and "
                   "--sort", saliency ? "saliency" : "gradcam");
    if (class_arg && !attr_image) cli_misuse("--class goes with --saliency or --gradcam");
    if (saliency && layer_name) cli_misuse("--saliency is of the input: it takes no --layer");
    if (attr_image && !out && !json) cli_misuse("-o FILE.png or --json is required");
    if (!attr_image && !out && !each) cli_misuse("-o FILE.png or --each DIR is required");
    if (weights_view && fmap_path) cli_misuse("use either --kernels or --feature-maps");
    if (start_path && (weights_view || fmap_path))
        cli_misuse("--start goes with the ascent, not with --kernels or --feature-maps");
    if (!layer_name && !weights_view && !saliency) cli_misuse("--layer NAME is required");
    if ((in_opts.invert || in_opts.resize) && !fmap_path && !attr_image && !start_path)
        cli_misuse("--invert and --resize go with --feature-maps, --saliency, --gradcam or "
                   "--start");
    if (out && strcmp(out, "-") == 0 && json)
        cli_misuse("-o - and --json would both write to standard output");
    const cnn_file_role ins[] = {{"-w", weights_path, NULL},
                                 {"MODEL", model_path, NULL},
                                 {"--feature-maps", fmap_path, NULL},
                                 {"--saliency", saliency, NULL},
                                 {"--gradcam", gradcam, NULL},
                                 {"--start", start_path, NULL}};
    const size_t nins = sizeof ins / sizeof *ins;
    const cnn_file_role outs[] = {{"-o", out, NULL}};
    cli_check_files(ins, nins, outs, 1);
    struct stat each_st;
    if (each && stat(each, &each_st) == 0 && !S_ISDIR(each_st.st_mode)) {
        fprintf(stderr, "cnn-visualize: error: --each %s: exists and is not a folder\n", each);
        return 2;
    }

    cnn_error err;
    cnn_weights *wf = NULL;
    cnn_model *m = NULL;
    cnn_net *net = NULL;
    int *units = NULL, *dead = NULL, *order = NULL;
    float *tiles = NULL, *values = NULL, *x = NULL;
    char **names = NULL;
    int status = 1, nunits = 0, tc = 1, th = 0, tw = 0, names_failed;

    if (threads) cnn_set_threads(threads); /* else the library's default: all cores */
    if (cnn_weights_open(weights_path, &wf, &err) ||
        cnn_weights_resolve_model(wf, model_path, &m, &err))
        goto fail;
    names = stored_class_names(wf, m, &err, &names_failed);
    if (names_failed) goto fail;

    int layer;
    if (layer_name) {
        layer = cnn_model_find_layer(m, layer_name);
        if (layer < 0) {
            char list[CNN_ERROR_MAX / 2];
            size_t k = 0;
            list[0] = 0;
            for (int i = 0; i < m->nlayers && k + 4 < sizeof list; i++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                                      m->layers[i].name);
            cnn_errorf(&err, "the model has no layer \"%s\" (its layers: %s)", layer_name, list);
            goto fail;
        }
    } else if (saliency) {
        layer = m->nlayers - 1;
    } else {
        layer = cnn_vis_first_weights_layer(m);
        if (layer < 0) {
            cnn_errorf(&err, "the model's first layer with weights is not a Conv2D or Dense layer "
                             "on the image; name one with --layer");
            goto fail;
        }
    }
    const cnn_layer *L = &m->layers[layer];
    o.obj.layer = layer;
    if (attr_image) {
        attrib a = {.image = attr_image, .gradcam = gradcam != NULL, .layer = layer,
                    .class_arg = class_arg, .out = out, .json = json, .scale = scale,
                    .in = &in_opts};
        if (cnn_net_new(m, 1, &net, &err) ||
            cnn_weights_read_params(wf, "", m, cnn_net_params(net), &err) ||
            attribution(net, m, names, &a, &err))
            goto fail;
        status = 0;
        goto done;
    }

    /* How many units the chosen view has, before reading --units against it. */
    int count;
    if (weights_view) {
        count = L->units;
    } else if (fmap_path) {
        if (L->out.flat) {
            cnn_errorf(&err, "layer %s (%s) is flat; feature maps need a spatial layer (Conv2D, "
                             "pooling)", L->name, cnn_layer_type(L));
            goto fail;
        }
        count = L->out.c;
    } else {
        count = cnn_vis_units(m, layer);
        if (cnn_input_check(m->input, &err)) goto fail;
    }
    if (units_arg) {
        units = parse_units(units_arg, count, L->name, &nunits);
    } else {
        nunits = count;
        units = malloc(sizeof *units * (size_t)(count > 0 ? count : 1));
        if (!units) goto oom;
        for (int i = 0; i < count; i++) units[i] = i;
    }
    if (each) check_each(each, L->name, units, nunits, count, ins, nins, out);
    dead = calloc((size_t)nunits, sizeof *dead);
    values = calloc((size_t)nunits, sizeof *values);
    order = malloc(sizeof *order * (size_t)nunits);
    if (!dead || !values || !order) goto oom;

    int batch = nunits < MAX_BATCH ? nunits : MAX_BATCH;
    if (cnn_net_new(m, fmap_path || weights_view ? 1 : batch, &net, &err) ||
        cnn_weights_read_params(wf, "", m, cnn_net_params(net), &err))
        goto fail;

    if (weights_view) {
        float *all;
        int n;
        if (cnn_vis_layer_weights(net, layer, &all, &n, &tc, &th, &tw, &err)) goto fail;
        size_t per = (size_t)tc * th * tw;
        tiles = malloc(sizeof *tiles * per * (size_t)nunits);
        if (!tiles) {
            free(all);
            goto oom;
        }
        for (int i = 0; i < nunits; i++) {
            memcpy(tiles + (size_t)i * per, all + (size_t)units[i] * per, per * sizeof *tiles);
            double ss = 0; /* sorted by the filter's L2 norm */
            for (size_t j = 0; j < per; j++) ss += (double)tiles[i * per + j] * tiles[i * per + j];
            values[i] = (float)sqrt(ss);
        }
        free(all);
    } else if (fmap_path) {
        size_t hw = (size_t)L->out.h * L->out.w;
        x = malloc(sizeof *x * cnn_shape_size(m->input));
        float *maps = malloc(sizeof *maps * cnn_shape_size(L->out));
        tiles = malloc(sizeof *tiles * hw * (size_t)nunits);
        if (!x || !maps || !tiles) {
            free(maps);
            goto oom;
        }
        if (cnn_png_to_input(fmap_path, m->input, &in_opts, x, &err) ||
            cnn_vis_feature_maps(net, layer, o.obj.pre, x, maps, &err)) {
            free(maps);
            goto fail;
        }
        for (int i = 0; i < nunits; i++) {
            memcpy(tiles + (size_t)i * hw, maps + (size_t)units[i] * hw, hw * sizeof *tiles);
            double s = 0; /* sorted by the mean activation */
            for (size_t j = 0; j < hw; j++) s += tiles[i * hw + j];
            values[i] = (float)(s / (double)hw);
        }
        free(maps);
        tc = 1, th = L->out.h, tw = L->out.w;
    } else {
        tc = m->input.c, th = m->input.h, tw = m->input.w;
        tiles = malloc(sizeof *tiles * cnn_shape_size(m->input) * (size_t)nunits);
        if (!tiles) goto oom;
        if (start_path) {
            if (!(x = malloc(sizeof *x * cnn_shape_size(m->input)))) goto oom;
            if (cnn_png_to_input(start_path, m->input, &in_opts, x, &err)) goto fail;
            o.start = x;
        }
        int tty = !quiet && isatty(STDERR_FILENO);
        if (cnn_vis_maximize(net, &o, units, nunits, tiles, values, dead,
                             tty ? on_progress : NULL, (void *)L->name, &err))
            goto fail;
        int ndead = 0;
        for (int i = 0; i < nunits; i++) ndead += dead[i];
        if (ndead && !quiet) {
            fprintf(stderr, "cnn-visualize: warning: %s: %d dead unit%s (zero gradient at all %d "
                            "random starts), drawn crossed out:", L->name, ndead,
                    ndead > 1 ? "s" : "", o.restarts);
            for (int i = 0; i < nunits; i++)
                if (dead[i]) fprintf(stderr, " %d", units[i]);
            fputc('\n', stderr);
        }
    }

    if (sort) {
        cnn_vis_sort_order(values, dead, nunits, order);
    } else {
        for (int i = 0; i < nunits; i++) order[i] = i;
    }
    if (json) {
        for (int k = 0; k < nunits; k++) {
            int i = order[k];
            printf("{\"layer\": \"%s\", \"unit\": %d, ", L->name, units[i]);
            if (isfinite(values[i])) printf("\"value\": %.9g", values[i]);
            else printf("\"value\": null");
            printf(", \"dead\": %s}\n", dead[i] ? "true" : "false");
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            cnn_errorf(&err, "writing to stdout: %s", strerror(errno));
            goto fail;
        }
    }

    if (!scale) scale = cnn_vis_auto_scale(th, tw);
    if (out && write_grid(out, L, weights_view, fmap_path != NULL, tiles, units, nunits, tc, th,
                          tw, order, dead, normalize, cols, scale, margin,
                          layer == m->nlayers - 1 ? names : NULL,
                          &err))
        goto fail;
    if (normalize < 0) normalize = weights_view ? CNN_VIS_NORM_GLOBAL : CNN_VIS_NORM_TILE;
    cnn_vis_normalize(tiles, nunits, (size_t)tc * th * tw, normalize, dead);
    if (each && write_each(each, L->name, tiles, units, nunits, count, tc, th, tw, dead, scale, &err))
        goto fail;
    status = 0;
    goto done;
oom:
    cnn_errorf(&err, "out of memory");
fail:
    fprintf(stderr, "cnn-visualize: error: %s\n", err.msg);
done:
    free(x);
    free(tiles);
    free(values);
    free(order);
    free(dead);
    free(units);
    cnn_net_free(net);
    cnn_class_names_free(names);
    cnn_model_free(m);
    cnn_weights_free(wf);
    return status;
}
