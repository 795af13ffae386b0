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
    "  -w, --weights FILE       trained weights (the model is read from them);\n"
    "                           -w - reads them from stdin\n"
    "  -m, --model FILE         a model JSON, which must describe the same architecture\n"
    "                           (also accepted as the one operand MODEL.json);\n"
    "                           -m - reads it from stdin\n"
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
    "the old sense only when no word follows it, the next word is an option, or\n"
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
    CLI_COMMON_OPTIONS,
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
 * follows it, when the next word starts with '-' (another option; "-" alone is
 * standard input, the new flag's value), or when the
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
            if (!next || (next[0] == '-' && next[1]) || other_than_safetensors(next)) {
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
    cli_note("--range: expected LO,HI with LO < HI, got \"%s\"", s);
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
            free(u);
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
bad: /* (u freed: Valgrind counts a block only the exiting frame holds as lost) */
    free(u);
    cli_note("--units: expected a list like 0-11,17, got \"%s\"", s);
    exit(2);
oom:
    free(u);
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
            cli_report(&err);
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
        cli_note("--class %s: the model has classes 0 to %d", s, K - 1);
        exit(2);
    }
    for (int k = 0; names && k < K; k++)
        if (strcmp(names[k], s) == 0) return k;
    cli_note("--class %s: not a class number (0 to %d)%s", s, K - 1,
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

/* ---- the command line ---------------------------------------------------- */

/* What the command line says. */
typedef struct vis_args {
    const char *weights_path, *model_path, *layer_name, *units_arg, *out, *each, *fmap_path;
    const char *saliency, *gradcam, *class_arg, *start_path;
    const char *attr_image; /* --saliency or --gradcam IMAGE, or NULL */
    int json, weights_view, sort, quiet, threads, scale, margin;
    int old_kernels, old_weights_file; /* the deprecated spellings were used */
    int normalize, cols;               /* normalize -1: the view's default */
    cnn_input_opts in_opts;            /* --invert, --resize */
    cnn_vis_opts o;                    /* the objective and the ascent */
} vis_args;

/* Reads the flags into *a.  Returns -1 to go on, or the exit status once
 * --help or --version is done (misuse exits 2). */
static int parse_args(int argc, char **argv, vis_args *a)
{
    *a = (vis_args){.margin = 2, .normalize = -1};
    cnn_vis_opts_default(&a->o);
    cnn_vis_opts *o = &a->o;
    a->old_kernels = old_weights_flag(argc, argv);
    int c;
    while ((c = getopt_long(argc, argv, ":w:m:l:u:o:qhV", options, NULL)) != -1) {
        switch (c) {
        case 'w': a->weights_path = optarg; break;
        case OPT_WEIGHTS_FILE: a->weights_path = optarg, a->old_weights_file = 1; break;
        case 'm': a->model_path = optarg; break;
        case 'l': a->layer_name = optarg; break;
        case 'u': a->units_arg = optarg; break;
        case 'o': a->out = optarg; break;
        case OPT_EACH: a->each = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_REDUCE: o->obj.reduce = cli_name("--reduce", optarg, cnn_vis_reduce_names); break;
        case OPT_CENTER: o->obj.reduce = CNN_VIS_CENTER; break;
        case OPT_PRE: o->obj.pre = 1; break;
        case OPT_OPTIMIZER: o->method = cli_name("--optimizer", optarg, cnn_vis_method_names); break;
        case OPT_STEPS: o->steps = (int)cli_long("--steps", optarg, 0, 1000000); break;
        case OPT_STEP_SIZE: o->step = (float)cli_double("--step-size", optarg, 0, 1e6, 1); break;
        case OPT_SEED: o->seed = (uint64_t)cli_long("--seed", optarg, 0, 2147483647L); break;
        case OPT_RANGE: parse_range(optarg, &o->lo, &o->hi); break;
        case OPT_RESTARTS: o->restarts = (int)cli_long("--restarts", optarg, 1, 1000); break;
        case OPT_L1: o->l1 = (float)cli_double("--l1", optarg, 0, 1e6, 0); break;
        case OPT_L2: o->l2 = (float)cli_double("--l2", optarg, 0, 1e6, 0); break;
        case OPT_TV: o->tv = (float)cli_double("--tv", optarg, 0, 1e6, 0); break;
        case OPT_BLUR: o->blur = (float)cli_double("--blur", optarg, 0, 20, 0); break;
        case OPT_BLUR_EVERY: o->blur_every = (int)cli_long("--blur-every", optarg, 1, 1000000); break;
        case OPT_JITTER: o->jitter = (int)cli_long("--jitter", optarg, 0, 1000); break;
        case OPT_WEIGHTS: a->weights_view = 1; break;
        case OPT_FEATURE_MAPS: a->fmap_path = optarg; break;
        case OPT_SALIENCY: a->saliency = optarg; break;
        case OPT_GRADCAM: a->gradcam = optarg; break;
        case OPT_CLASS: a->class_arg = optarg; break;
        case OPT_START: a->start_path = optarg; break;
        case OPT_INVERT: a->in_opts.invert = 1; break;
        case OPT_RESIZE: a->in_opts.resize = 1; break;
        case OPT_SORT: a->sort = 1; break;
        case OPT_NORMALIZE: a->normalize = cli_name("--normalize", optarg, cnn_vis_norm_names); break;
        case OPT_SCALE: a->scale = (int)cli_long("--scale", optarg, 1, 1000); break;
        case OPT_COLS: a->cols = (int)cli_long("--cols", optarg, 1, 100000); break;
        case OPT_MARGIN: a->margin = (int)cli_long("--margin", optarg, 0, 1000); break;
        case OPT_THREADS: a->threads = (int)cli_long("--threads", optarg, 1, MAX_THREADS); break;
        case 'q': a->quiet = 1; break;
        case 'h': fputs(usage, stdout); fputs(help, stdout); return cli_stdout_status();
        case 'V': printf("cnn-visualize %s\n", CNN_VERSION); return cli_stdout_status();
        default: cli_other_option(c, argv);
        }
    }
    return -1;
}

/* The deprecation notes, then misuse (exits 2); takes the MODEL.json operand
 * into a->model_path and sets a->attr_image. */
static void check_usage(vis_args *a, int argc, char **argv)
{
    if (a->old_weights_file && !a->quiet)
        fputs("cnn-visualize: note: --weights-file is deprecated; use -w/--weights FILE\n", stderr);
    if (a->old_kernels && !a->quiet)
        fputs("cnn-visualize: note: --weights as the kernel view is deprecated; use --kernels "
              "(--weights FILE names the weights file)\n", stderr);
    if (optind < argc - 1)
        cli_misuse("at most one model file expected, also got \"%s\"", argv[optind + 1]);
    if (optind < argc && a->model_path)
        cli_misuse("the model is given twice: -m %s and \"%s\"", a->model_path, argv[optind]);
    int model_operand = optind < argc;
    if (model_operand) a->model_path = argv[optind];
    if (!a->weights_path) cli_misuse("-w WEIGHTS.safetensors is required");
    const cnn_file_role stdin_users[] = {{"-w -", a->weights_path, NULL},
                                         {model_operand ? "MODEL -" : "-m -", a->model_path, NULL}};
    cli_stdin_once(stdin_users, sizeof stdin_users / sizeof *stdin_users);
    const char *attr_image = a->attr_image = a->saliency ? a->saliency : a->gradcam;
    if (a->saliency && a->gradcam) cli_misuse("use either --saliency or --gradcam");
    if (attr_image && (a->weights_view || a->fmap_path || a->each || a->start_path ||
                       a->units_arg || a->sort))
        cli_misuse("--%s goes without --kernels, --feature-maps, --each, --start, --units and "
                   "--sort", a->saliency ? "saliency" : "gradcam");
    if (a->class_arg && !attr_image) cli_misuse("--class goes with --saliency or --gradcam");
    if (a->saliency && a->layer_name) cli_misuse("--saliency is of the input: it takes no --layer");
    if (attr_image && !a->out && !a->json) cli_misuse("-o FILE.png or --json is required");
    if (!attr_image && !a->out && !a->each) cli_misuse("-o FILE.png or --each DIR is required");
    if (a->weights_view && a->fmap_path) cli_misuse("use either --kernels or --feature-maps");
    if (a->start_path && (a->weights_view || a->fmap_path))
        cli_misuse("--start goes with the ascent, not with --kernels or --feature-maps");
    if (!a->layer_name && !a->weights_view && !a->saliency) cli_misuse("--layer NAME is required");
    if ((a->in_opts.invert || a->in_opts.resize) && !a->fmap_path && !attr_image && !a->start_path)
        cli_misuse("--invert and --resize go with --feature-maps, --saliency, --gradcam or "
                   "--start");
    if (a->out && strcmp(a->out, "-") == 0 && a->json)
        cli_misuse("-o - and --json would both write to standard output");
}

/* ---- the views ----------------------------------------------------------- */

/* The layer drawn: --layer, the output layer for --saliency, else the first
 * layer with weights. */
static int choose_layer(const vis_args *a, const cnn_model *m, int *layer, cnn_error *err)
{
    if (a->layer_name) {
        *layer = cnn_model_find_layer(m, a->layer_name);
        if (*layer < 0) {
            char list[CNN_ERROR_MAX / 2];
            size_t k = 0;
            list[0] = 0;
            for (int i = 0; i < m->nlayers && k + 4 < sizeof list; i++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                                      m->layers[i].name);
            return cnn_errorf(err, "the model has no layer \"%s\" (its layers: %s)",
                              a->layer_name, list);
        }
    } else if (a->saliency) {
        *layer = m->nlayers - 1;
    } else {
        *layer = cnn_vis_first_weights_layer(m);
        if (*layer < 0)
            return cnn_errorf(err, "the model's first layer with weights is not a Conv2D or "
                                   "Dense layer on the image; name one with --layer");
    }
    return 0;
}

/* The tiles of a unit view: n units' pictures of c x h x w each, with the
 * value --sort orders them by and whether the unit is dead. */
typedef struct tileset {
    int *units;    /* (n) the unit numbers drawn */
    int n, count;  /* units drawn, units the view has */
    float *tiles;  /* (n, c, h, w) */
    float *values; /* (n) */
    int *dead;     /* (n) */
    int *order;    /* (n) the drawing order */
    int c, h, w;
} tileset;

static void tileset_free(tileset *t)
{
    free(t->tiles);
    free(t->values);
    free(t->order);
    free(t->dead);
    free(t->units);
}

/* How many units the view of layer has (t->count), then the units drawn:
 * --units read against it, or all. */
static int choose_units(const vis_args *a, const cnn_model *m, int layer, tileset *t,
                        cnn_error *err)
{
    const cnn_layer *L = &m->layers[layer];
    if (a->weights_view) {
        t->count = L->units;
    } else if (a->fmap_path) {
        if (L->out.flat)
            return cnn_errorf(err, "layer %s (%s) is flat; feature maps need a spatial layer "
                                   "(Conv2D, pooling)", L->name, cnn_layer_type(L));
        t->count = L->out.c;
    } else {
        t->count = cnn_vis_units(m, layer);
        if (cnn_input_check(m->input, err)) return -1;
    }
    if (a->units_arg) {
        t->units = parse_units(a->units_arg, t->count, L->name, &t->n);
    } else {
        t->n = t->count;
        t->units = malloc(sizeof *t->units * (size_t)(t->count > 0 ? t->count : 1));
        if (!t->units) return cnn_errorf(err, "out of memory");
        for (int i = 0; i < t->count; i++) t->units[i] = i;
    }
    return 0;
}

/* --kernels: the units' filters, valued by their L2 norm. */
static int kernel_tiles(cnn_net *net, int layer, tileset *t, cnn_error *err)
{
    float *all;
    int n;
    if (cnn_vis_layer_weights(net, layer, &all, &n, &t->c, &t->h, &t->w, err)) return -1;
    size_t per = (size_t)t->c * t->h * t->w;
    t->tiles = malloc(sizeof *t->tiles * per * (size_t)t->n);
    if (!t->tiles) {
        free(all);
        return cnn_errorf(err, "out of memory");
    }
    for (int i = 0; i < t->n; i++) {
        float *tile = t->tiles + (size_t)i * per;
        memcpy(tile, all + (size_t)t->units[i] * per, per * sizeof *tile);
        double ss = 0; /* sorted by the filter's L2 norm */
        for (size_t j = 0; j < per; j++) ss += (double)tile[j] * tile[j];
        t->values[i] = (float)sqrt(ss);
    }
    free(all);
    return 0;
}

/* --feature-maps IMG: the units' channels of the layer's output for the image,
 * valued by their mean activation. */
static int fmap_tiles(cnn_net *net, const cnn_model *m, int layer, const vis_args *a,
                      tileset *t, cnn_error *err)
{
    const cnn_layer *L = &m->layers[layer];
    size_t hw = (size_t)L->out.h * L->out.w;
    float *x = malloc(sizeof *x * cnn_shape_size(m->input));
    float *maps = malloc(sizeof *maps * cnn_shape_size(L->out));
    t->tiles = malloc(sizeof *t->tiles * hw * (size_t)t->n);
    int rc = -1;
    if (!x || !maps || !t->tiles) {
        cnn_errorf(err, "out of memory");
        goto done;
    }
    if (cnn_png_to_input(a->fmap_path, m->input, &a->in_opts, x, err) ||
        cnn_vis_feature_maps(net, layer, a->o.obj.pre, x, maps, err))
        goto done;
    for (int i = 0; i < t->n; i++) {
        float *tile = t->tiles + (size_t)i * hw;
        memcpy(tile, maps + (size_t)t->units[i] * hw, hw * sizeof *tile);
        double s = 0; /* sorted by the mean activation */
        for (size_t j = 0; j < hw; j++) s += tile[j];
        t->values[i] = (float)(s / (double)hw);
    }
    t->c = 1, t->h = L->out.h, t->w = L->out.w;
    rc = 0;
done:
    free(maps);
    free(x);
    return rc;
}

/* The default view: for each unit, the input that maximizes it (gradient
 * ascent from noise or --start), valued by the final objective; dead units
 * are named in a warning. */
static int ascent_tiles(cnn_net *net, const cnn_model *m, const cnn_layer *L, const vis_args *a,
                        tileset *t, cnn_error *err)
{
    cnn_vis_opts o = a->o;
    float *x = NULL;
    int rc = -1;
    t->c = m->input.c, t->h = m->input.h, t->w = m->input.w;
    t->tiles = malloc(sizeof *t->tiles * cnn_shape_size(m->input) * (size_t)t->n);
    if (!t->tiles) {
        cnn_errorf(err, "out of memory");
        goto done;
    }
    if (a->start_path) {
        if (!(x = malloc(sizeof *x * cnn_shape_size(m->input)))) {
            cnn_errorf(err, "out of memory");
            goto done;
        }
        if (cnn_png_to_input(a->start_path, m->input, &a->in_opts, x, err)) goto done;
        o.start = x;
    }
    int tty = !a->quiet && isatty(STDERR_FILENO);
    if (cnn_vis_maximize(net, &o, t->units, t->n, t->tiles, t->values, t->dead,
                         tty ? on_progress : NULL, (void *)L->name, err))
        goto done;
    int ndead = 0;
    for (int i = 0; i < t->n; i++) ndead += t->dead[i];
    if (ndead && !a->quiet) {
        fprintf(stderr, "cnn-visualize: warning: %s: %d dead unit%s (zero gradient at all %d "
                        "random starts), drawn crossed out:", L->name, ndead,
                ndead > 1 ? "s" : "", o.restarts);
        for (int i = 0; i < t->n; i++)
            if (t->dead[i]) fprintf(stderr, " %d", t->units[i]);
        fputc('\n', stderr);
    }
    rc = 0;
done:
    free(x);
    return rc;
}

/* --json: one line per unit in drawing order. */
static int print_values(const cnn_layer *L, const tileset *t, cnn_error *err)
{
    for (int k = 0; k < t->n; k++) {
        int i = t->order[k];
        printf("{\"layer\": \"%s\", \"unit\": %d, ", L->name, t->units[i]);
        if (isfinite(t->values[i])) printf("\"value\": %.9g", t->values[i]);
        else printf("\"value\": null");
        printf(", \"dead\": %s}\n", t->dead[i] ? "true" : "false");
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        return cnn_errorf(err, "writing to stdout: %s", strerror(errno));
    return 0;
}

/* -o's grid and --each's files (the tiles are normalized in place for them). */
static int write_pictures(const vis_args *a, const cnn_model *m, int layer, char *const *names,
                          tileset *t, cnn_error *err)
{
    const cnn_layer *L = &m->layers[layer];
    int scale = a->scale ? a->scale : cnn_vis_auto_scale(t->h, t->w);
    int normalize = a->normalize;
    if (a->out && write_grid(a->out, L, a->weights_view, a->fmap_path != NULL, t->tiles,
                             t->units, t->n, t->c, t->h, t->w, t->order, t->dead, normalize,
                             a->cols, scale, a->margin, layer == m->nlayers - 1 ? names : NULL,
                             err))
        return -1;
    if (normalize < 0) normalize = a->weights_view ? CNN_VIS_NORM_GLOBAL : CNN_VIS_NORM_TILE;
    cnn_vis_normalize(t->tiles, t->n, (size_t)t->c * t->h * t->w, normalize, t->dead);
    if (a->each && write_each(a->each, L->name, t->tiles, t->units, t->n, t->count, t->c, t->h,
                              t->w, t->dead, scale, err))
        return -1;
    return 0;
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cli_prog = "cnn-visualize";
    cli_usage = usage;
    vis_args a;
    int status = parse_args(argc, argv, &a);
    if (status >= 0) return status;
    check_usage(&a, argc, argv);
    const cnn_file_role ins[] = {{"-w", a.weights_path, NULL},
                                 {"MODEL", a.model_path, NULL},
                                 {"--feature-maps", a.fmap_path, NULL},
                                 {"--saliency", a.saliency, NULL},
                                 {"--gradcam", a.gradcam, NULL},
                                 {"--start", a.start_path, NULL}};
    const size_t nins = sizeof ins / sizeof *ins;
    const cnn_file_role outs[] = {{"-o", a.out, NULL}};
    cli_check_files(ins, nins, outs, 1);
    struct stat each_st;
    if (a.each && stat(a.each, &each_st) == 0 && !S_ISDIR(each_st.st_mode)) {
        cli_error("--each %s: exists and is not a folder", a.each);
        return 2;
    }

    cnn_error err;
    cnn_weights *wf = NULL;
    cnn_model *m = NULL;
    cnn_net *net = NULL;
    tileset t = {0};
    char **names = NULL;
    int names_failed, layer;
    status = 1;
    if (a.threads) cnn_set_threads(a.threads); /* else the library's default: all cores */
    if (cli_weights_open(a.weights_path, CLI_VALUES, &wf, &err) ||
        cli_resolve_model(wf, a.model_path, &m, &err))
        goto fail;
    names = stored_class_names(wf, m, &err, &names_failed);
    if (names_failed || choose_layer(&a, m, &layer, &err)) goto fail;
    const cnn_layer *L = &m->layers[layer];
    a.o.obj.layer = layer;
    if (a.attr_image) {
        attrib at = {.image = a.attr_image, .gradcam = a.gradcam != NULL, .layer = layer,
                     .class_arg = a.class_arg, .out = a.out, .json = a.json, .scale = a.scale,
                     .in = &a.in_opts};
        if (cnn_net_new(m, 1, &net, &err) ||
            cnn_weights_read_params(wf, "", m, cnn_net_params(net), &err) ||
            attribution(net, m, names, &at, &err))
            goto fail;
        status = 0;
        goto done;
    }

    if (choose_units(&a, m, layer, &t, &err)) goto fail;
    if (a.each) check_each(a.each, L->name, t.units, t.n, t.count, ins, nins, a.out);
    t.dead = calloc((size_t)t.n, sizeof *t.dead);
    t.values = calloc((size_t)t.n, sizeof *t.values);
    t.order = malloc(sizeof *t.order * (size_t)t.n);
    if (!t.dead || !t.values || !t.order) {
        cnn_errorf(&err, "out of memory");
        goto fail;
    }
    int batch = t.n < MAX_BATCH ? t.n : MAX_BATCH;
    if (cnn_net_new(m, a.fmap_path || a.weights_view ? 1 : batch, &net, &err) ||
        cnn_weights_read_params(wf, "", m, cnn_net_params(net), &err))
        goto fail;
    if (a.weights_view ? kernel_tiles(net, layer, &t, &err)
        : a.fmap_path  ? fmap_tiles(net, m, layer, &a, &t, &err)
                       : ascent_tiles(net, m, L, &a, &t, &err))
        goto fail;

    if (a.sort) {
        cnn_vis_sort_order(t.values, t.dead, t.n, t.order);
    } else {
        for (int i = 0; i < t.n; i++) t.order[i] = i;
    }
    if ((a.json && print_values(L, &t, &err)) || write_pictures(&a, m, layer, names, &t, &err))
        goto fail;
    status = 0;
    goto done;
fail:
    cli_report(&err);
done:
    tileset_free(&t);
    cnn_net_free(net);
    cnn_class_names_free(names);
    cnn_model_free(m);
    cnn_weights_free(wf);
    return status;
}
