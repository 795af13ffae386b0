/* Inference (see infer.h): images to input tensors, the predictor, output
 * lines, class names and evaluation statistics. */
#include "infer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "image_internal.h"
#include "net.h"
#include "weights.h"
#include "layer.h"

/* ======================================================================== */
/* Images to input tensors                                                  */
/* ======================================================================== */

int cnn_input_check(cnn_shape in, cnn_error *err)
{
    if (in.flat)
        return cnn_errorf(err, "the model's input is a flat vector of %d values; images need a "
                               "model whose input_shape is [height, width, channels]", in.c);
    if (in.c != 1 && in.c != 3)
        return cnn_errorf(err, "the model takes %dx%d images with %d channels; images can be "
                               "given to models with 1 (grayscale) or 3 (RGB) channels",
                          in.w, in.h, in.c);
    return 0;
}

int cnn_image_to_input(const cnn_image *img, cnn_shape in, const cnn_input_opts *o,
                       const char *name, float *x, cnn_error *err)
{
    static const cnn_input_opts none = {0};
    if (!o) o = &none;
    if (cnn_input_check(in, err)) return cnn_error_prefix(err, "%s", name);
    if (img->channels != in.c)
        return cnn_errorf(err, "%s: the image has %d channels but the model takes %d", name,
                          img->channels, in.c);
    cnn_image *resized = NULL;
    if (img->width != in.w || img->height != in.h) {
        if (!o->resize)
            return cnn_errorf(err, "%s: the image is %dx%d but the model takes %dx%d (use "
                                   "--resize to scale it)", name, img->width, img->height,
                              in.w, in.h);
        resized = cnn_image_resize_bilinear(img, in.w, in.h);
        if (!resized) return cnn_errorf(err, "%s: out of memory", name);
        img = resized;
    }
    size_t n = cnn_shape_size(in);
    for (size_t i = 0; i < n; i++) x[i] = o->invert ? 1.0f - img->px[i] : img->px[i];
    cnn_image_free(resized);
    return 0;
}

/* The size a PNG or JPEG header declares, compared with the model's input
 * before anything is decoded: a small file can claim an image of gigabytes,
 * which only the limits would stop otherwise. */
static int check_header_size(const void *buf, size_t len, const char *name, cnn_shape in,
                             const cnn_input_opts *o, cnn_error *err)
{
    uint32_t w, h;
    if ((o && o->resize) || cnn_image_header_size(buf, len, &w, &h) || w == 0 || h == 0 ||
        (w == (uint32_t)in.w && h == (uint32_t)in.h))
        return 0;
    return cnn_errorf(err, "%s: the image is %lux%lu but the model takes %dx%d (use --resize to "
                           "scale it)", name, (unsigned long)w, (unsigned long)h, in.w, in.h);
}

int cnn_png_to_input(const char *path, cnn_shape in, const cnn_input_opts *o, float *x,
                     cnn_error *err)
{
    if (cnn_input_check(in, err)) return cnn_error_prefix(err, "%s", path);
    char *buf = NULL;
    size_t len = 0;
    if (cnn_read_file(path, cnn_image_file_cap(o ? o->limits : NULL), &buf, &len, err)) return -1;
    int rc = cnn_png_mem_to_input(buf, len, path, in, o, x, err);
    free(buf);
    return rc;
}

int cnn_png_mem_to_input(const void *buf, size_t len, const char *name, cnn_shape in,
                         const cnn_input_opts *o, float *x, cnn_error *err)
{
    if (cnn_input_check(in, err)) return cnn_error_prefix(err, "%s", name);
    if (check_header_size(buf, len, name, in, o, err)) return -1;
    cnn_image *img;
    if (cnn_image_load_mem(buf, len, name, in.c, o ? o->limits : NULL, &img, err)) return -1;
    int rc = cnn_image_to_input(img, in, o, name, x, err);
    cnn_image_free(img);
    return rc;
}

/* ======================================================================== */
/* The predictor                                                            */
/* ======================================================================== */

struct cnn_predictor {
    cnn_model *m;
    cnn_net *net;
    int classes;
    int max_batch;
    int add_softmax; /* the last layer has no softmax: apply one to its output */
    float *x;        /* (max_batch, C, H, W) */
    float *probs;    /* (max_batch, classes) */
    char **names;    /* stored with the weights, or NULL */
    int names_bad;   /* the stored names do not fit: names_err says why */
    cnn_error names_err;
};

int cnn_predictor_open(const char *weights_path, const char *model_path, int max_batch,
                       cnn_predictor **out, cnn_error *err)
{
    *out = NULL;
    cnn_weights *w = NULL;
    if (cnn_weights_open_deferred(weights_path, &w, err)) return -1;
    int rc = cnn_predictor_new(w, model_path, max_batch, out, err);
    cnn_weights_free(w);
    return rc;
}

/* The predictor for the checked model m (taken); `name` names the model in
 * messages. */
static int predictor_build(const cnn_weights *w, cnn_model *m, const char *name, int max_batch,
                           cnn_predictor **out, cnn_error *err)
{
    cnn_predictor *p = calloc(1, sizeof *p);
    if (!p) {
        cnn_model_free(m);
        return cnn_errorf(err, "out of memory");
    }
    p->m = m;
    p->classes = cnn_model_classes(p->m);
    if (p->classes < 1) {
        const cnn_layer *L = &p->m->layers[p->m->nlayers - 1];
        cnn_errorf(err, "%s: the model's last layer (%s) gives %dx%dx%d values, not a flat "
                        "vector of class scores", name, L->name, L->out.h, L->out.w, L->out.c);
        goto fail;
    }
    if (cnn_net_new(p->m, max_batch, &p->net, err) ||
        cnn_weights_read_params(w, "", p->m, cnn_net_params(p->net), err))
        goto fail;
    p->max_batch = max_batch;
    p->add_softmax = p->m->layers[p->m->nlayers - 1].activation != CNN_ACT_SOFTMAX;
    p->x = malloc(sizeof *p->x * cnn_shape_size(p->m->input) * (size_t)max_batch);
    p->probs = malloc(sizeof *p->probs * (size_t)p->classes * (size_t)max_batch);
    if (!p->x || !p->probs) {
        cnn_errorf(err, "out of memory");
        goto fail;
    }
    p->names_bad = cnn_weights_class_names(w, p->classes, &p->names, &p->names_err) != 0;
    *out = p;
    return 0;
fail:
    cnn_predictor_free(p);
    return -1;
}

int cnn_predictor_new(const cnn_weights *w, const char *model_path, int max_batch,
                      cnn_predictor **out, cnn_error *err)
{
    *out = NULL;
    if (!w) return cnn_errorf(err, "cnn_predictor_new: NULL weights");
    cnn_model *m = NULL;
    if (cnn_weights_resolve_model(w, model_path, &m, err)) return -1;
    return predictor_build(w, m, model_path ? model_path : w->path, max_batch, out, err);
}

int cnn_predictor_new_model(const cnn_weights *w, cnn_model *m, const char *name,
                            int max_batch, cnn_predictor **out, cnn_error *err)
{
    *out = NULL;
    if (!w || !m) {
        cnn_model_free(m);
        return cnn_errorf(err, "cnn_predictor_new_model: NULL %s", w ? "model" : "weights");
    }
    if (!name) name = "(model)";
    if (cnn_weights_check_model(w, m, name, err)) {
        cnn_model_free(m);
        return -1;
    }
    return predictor_build(w, m, name, max_batch, out, err);
}

void cnn_predictor_free(cnn_predictor *p)
{
    if (!p) return;
    cnn_net_free(p->net);
    cnn_model_free(p->m);
    free(p->x);
    free(p->probs);
    cnn_class_names_free(p->names);
    free(p);
}

int cnn_predictor_class_names(const cnn_predictor *p, const char *const **names, cnn_error *err)
{
    *names = NULL;
    if (p->names_bad) return cnn_errorf(err, "%s", p->names_err.msg);
    *names = (const char *const *)p->names;
    return 0;
}

const cnn_model *cnn_predictor_model(const cnn_predictor *p) { return p->m; }
int cnn_predictor_classes(const cnn_predictor *p) { return p->classes; }
int cnn_predictor_max_batch(const cnn_predictor *p) { return p->max_batch; }
int cnn_predictor_added_softmax(const cnn_predictor *p) { return p->add_softmax; }
float *cnn_predictor_input(cnn_predictor *p) { return p->x; }
const float *cnn_predictor_probs(const cnn_predictor *p) { return p->probs; }

int cnn_predictor_fill(cnn_predictor *p, const cnn_dataset *d, const uint32_t *idx, int n,
                       int invert)
{
    if (!p || !d || !idx) return -1;
    cnn_shape in = p->m->input;
    if (n < 1 || n > p->max_batch) return -1;
    if (d->c != in.c || d->h != in.h || d->w != in.w) return -1; /* not this model's images */
    if (cnn_dataset_batch(d, idx, n, p->x)) return -1;
    if (invert) {
        size_t total = cnn_shape_size(p->m->input) * (size_t)n;
        for (size_t i = 0; i < total; i++) p->x[i] = 1.0f - p->x[i];
    }
    return 0;
}

int cnn_predictor_run(cnn_predictor *p, int n, cnn_error *err)
{
    if (cnn_net_forward(p->net, p->x, (size_t)n * cnn_net_input_size(p->net), n, 0, NULL, err))
        return -1;
    const float *y = cnn_net_output(p->net, p->m->nlayers - 1); /* (n, classes) */
    size_t total = (size_t)n * (size_t)p->classes;
    memcpy(p->probs, y, sizeof *p->probs * total);
    if (p->add_softmax) cnn_activation_forward(CNN_ACT_SOFTMAX, p->probs, n, p->classes, 1);
    return 0;
}

/* Whether class a ranks before class b: the higher probability first, NaN
 * after every number, the lower class among equals. */
static int ranks_before(const float *p, int a, int b)
{
    int na = isnan(p[a]), nb = isnan(p[b]);
    if (na != nb) return nb;
    if (!na && p[a] != p[b]) return p[a] > p[b];
    return a < b;
}

/* Restores the heap below i: classes[0] is the one ranking last of those kept. */
static void sift_down(const float *p, int *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ranks_before(p, h[w], h[l])) w = l;
        if (r < n && ranks_before(p, h[w], h[r])) w = r;
        if (w == i) return;
        int t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

int cnn_top_k(const float *probs, int n, int k, int *classes)
{
    /* A heap of the k best so far, the worst of them at its root: n log k, then
     * k log k to order them (--top 1000 of 1000 classes was k^2 n before). */
    if (k > n) k = n;
    if (k <= 0 || !probs || !classes) return 0;
    for (int c = 0; c < k; c++) classes[c] = c;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(probs, classes, k, i);
    for (int c = k; c < n; c++)
        if (ranks_before(probs, c, classes[0])) {
            classes[0] = c;
            sift_down(probs, classes, k, 0);
        }
    for (int m = k - 1; m > 0; m--) { /* the worst goes last */
        int t = classes[0];
        classes[0] = classes[m];
        classes[m] = t;
        sift_down(probs, classes, m, 0);
    }
    return k;
}

/* ======================================================================== */
/* Class names                                                              */
/* ======================================================================== */

#define CLASS_NAMES_MAX_FILE (16u << 20)

int cnn_class_names_load(const char *path, int nclasses, char ***names, cnn_error *err)
{
    *names = NULL;
    char *text;
    size_t len;
    if (cnn_read_file(path, CLASS_NAMES_MAX_FILE, &text, &len, err)) return -1;
    if (memchr(text, '\0', len)) {
        free(text);
        return cnn_errorf(err, "%s: contains a NUL byte; expected one class name per line", path);
    }
    /* Count lines: a final newline does not start another line. */
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') lines++;
    if (len && text[len - 1] != '\n') lines++;
    if (lines != nclasses) {
        free(text);
        return cnn_errorf(err, "%s: %d class names for a model with %d classes (one name per "
                               "line expected)", path, lines, nclasses);
    }
    /* One block: the pointer array, then the text. */
    char **v = malloc(sizeof *v * ((size_t)nclasses + 1) + len + 1);
    if (!v) {
        free(text);
        return cnn_errorf(err, "%s: out of memory", path);
    }
    char *s = (char *)(v + nclasses + 1);
    memcpy(s, text, len + 1);
    free(text);
    for (int i = 0; i < nclasses; i++) {
        char *eol = strchr(s, '\n');
        if (eol) *eol = '\0';
        size_t n = strlen(s);
        if (n && s[n - 1] == '\r') s[--n] = '\0';
        const char *ctl = s;
        while (*ctl && (unsigned char)*ctl >= 0x20 && *ctl != 0x7f) ctl++;
        if (n == 0 || *ctl) {
            int c = (unsigned char)*ctl;
            free(v);
            if (n == 0) return cnn_errorf(err, "%s: line %d: empty class name", path, i + 1);
            if (c == '\t')
                return cnn_errorf(err, "%s: line %d: a class name cannot contain a tab", path,
                                  i + 1);
            return cnn_errorf(err, "%s: line %d: a class name cannot contain a control character "
                                   "(byte 0x%02x)", path, i + 1, c);
        }
        v[i] = s;
        s = eol ? eol + 1 : s + n;
    }
    v[nclasses] = NULL;
    *names = v;
    return 0;
}

void cnn_class_names_free(char **names) { free(names); }

/* ======================================================================== */
/* Strings and output lines                                                 */
/* ======================================================================== */

/* A name in a TSV field: the library's one text escaper (\t, \n, \\, \xHH for
 * other control characters and bytes that are not UTF-8). */
static void tsv_field(cnn_strbuf *b, const char *s) { cnn_strbuf_text(b, s); }

static void put_class(cnn_strbuf *b, const cnn_pred_format *f, int c)
{
    if (!f->names) cnn_strbuf_printf(b, "%d", c);
    else if (f->json) cnn_strbuf_json_string(b, f->names[c]);
    else tsv_field(b, f->names[c]);
}

/* A probability: 9 significant digits; JSON has no NaN, so null there. */
static void put_prob(cnn_strbuf *b, const cnn_pred_format *f, float p)
{
    if (isfinite(p)) cnn_strbuf_printf(b, "%.9g", (double)p);
    else if (f->json) cnn_strbuf_printf(b, "null");
    else cnn_strbuf_printf(b, "%s", isnan(p) ? "nan" : p > 0 ? "inf" : "-inf");
}

void cnn_format_prediction(cnn_strbuf *b, const cnn_pred_format *f, const char *source,
                           size_t index, const float *probs, int nclasses, int label)
{
    int k = f->top < 1 ? 1 : f->top > nclasses ? nclasses : f->top;
    int small[16], *top = k <= 16 ? small : malloc(sizeof *top * (size_t)k);
    if (!top) {
        b->oom = 1;
        return;
    }
    cnn_top_k(probs, nclasses, k, top);
    if (f->json) {
        cnn_strbuf_printf(b, "{\"source\": ");
        if (source) cnn_strbuf_json_string(b, source);
        else cnn_strbuf_printf(b, "%zu", index);
        cnn_strbuf_printf(b, ", \"class\": ");
        put_class(b, f, top[0]);
        cnn_strbuf_printf(b, ", \"prob\": ");
        put_prob(b, f, probs[top[0]]);
        if (k > 1) {
            cnn_strbuf_printf(b, ", \"top\": [");
            for (int j = 0; j < k; j++) {
                cnn_strbuf_printf(b, "%s{\"class\": ", j ? ", " : "");
                put_class(b, f, top[j]);
                cnn_strbuf_printf(b, ", \"prob\": ");
                put_prob(b, f, probs[top[j]]);
                cnn_strbuf_putc(b, '}');
            }
            cnn_strbuf_putc(b, ']');
        }
        if (f->probs) {
            cnn_strbuf_printf(b, ", \"probs\": [");
            for (int c = 0; c < nclasses; c++) {
                if (c) cnn_strbuf_printf(b, ", ");
                put_prob(b, f, probs[c]);
            }
            cnn_strbuf_putc(b, ']');
        }
        if (label >= 0) {
            cnn_strbuf_printf(b, ", \"label\": ");
            put_class(b, f, label);
        }
        cnn_strbuf_printf(b, "}\n");
        if (top != small) free(top);
        return;
    }
    if (source) tsv_field(b, source);
    else cnn_strbuf_printf(b, "%zu", index);
    for (int j = 0; j < k; j++) {
        cnn_strbuf_putc(b, '\t');
        put_class(b, f, top[j]);
        cnn_strbuf_putc(b, '\t');
        put_prob(b, f, probs[top[j]]);
    }
    if (f->probs)
        for (int c = 0; c < nclasses; c++) {
            cnn_strbuf_putc(b, '\t');
            put_prob(b, f, probs[c]);
        }
    if (label >= 0) {
        cnn_strbuf_putc(b, '\t');
        put_class(b, f, label);
    }
    cnn_strbuf_putc(b, '\n');
    if (top != small) free(top);
}

/* ======================================================================== */
/* Evaluation                                                               */
/* ======================================================================== */

int cnn_eval_new(int nclasses, cnn_eval **out, cnn_error *err)
{
    *out = NULL;
    if (nclasses < 1) return cnn_errorf(err, "evaluation needs at least one class, got %d", nclasses);
    cnn_eval *e = calloc(1, sizeof *e);
    if (e) e->confusion = calloc((size_t)nclasses * (size_t)nclasses, sizeof *e->confusion);
    if (!e || !e->confusion) {
        cnn_eval_free(e);
        return cnn_errorf(err, "out of memory");
    }
    e->nclasses = nclasses;
    *out = e;
    return 0;
}

void cnn_eval_free(cnn_eval *e)
{
    if (!e) return;
    free(e->confusion);
    free(e);
}

int cnn_eval_add(cnn_eval *e, int label, int pred)
{
    if (!e || label < 0 || label >= e->nclasses || pred < 0 || pred >= e->nclasses) return -1;
    e->confusion[(size_t)label * (size_t)e->nclasses + (size_t)pred]++;
    e->n++;
    e->correct += label == pred;
    return 0;
}

double cnn_eval_accuracy(const cnn_eval *e)
{
    return e->n ? (double)e->correct / (double)e->n : NAN;
}

void cnn_wilson_interval(size_t k, size_t n, double z, double *lo, double *hi)
{
    if (n == 0) {
        *lo = 0, *hi = 1;
        return;
    }
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double denom = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / denom;
    double half = z / denom * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    *lo = centre - half < 0 ? 0 : centre - half;
    *hi = centre + half > 1 ? 1 : centre + half;
    /* At k = 0 (k = n) the bound is 0 (1) exactly; rounding can leave 1e-17. */
    if (k == 0) *lo = 0;
    if (k == n) *hi = 1;
}

static size_t column_sum(const cnn_eval *e, int c)
{
    size_t s = 0;
    for (int t = 0; t < e->nclasses; t++) s += e->confusion[(size_t)t * e->nclasses + c];
    return s;
}

static size_t row_sum(const cnn_eval *e, int c)
{
    size_t s = 0;
    for (int p = 0; p < e->nclasses; p++) s += e->confusion[(size_t)c * e->nclasses + p];
    return s;
}

double cnn_eval_precision(const cnn_eval *e, int c)
{
    size_t predicted = column_sum(e, c);
    return predicted ? (double)e->confusion[(size_t)c * e->nclasses + c] / (double)predicted : NAN;
}

double cnn_eval_recall(const cnn_eval *e, int c)
{
    size_t support = row_sum(e, c);
    return support ? (double)e->confusion[(size_t)c * e->nclasses + c] / (double)support : NAN;
}

double cnn_eval_f1(const cnn_eval *e, int c)
{
    double p = cnn_eval_precision(e, c), r = cnn_eval_recall(e, c);
    if (isnan(p) || isnan(r)) return NAN;
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

static int digits(size_t v)
{
    int d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

static void put_fixed(cnn_strbuf *b, double v, int width)
{
    if (isnan(v)) cnn_strbuf_printf(b, "%*s", width, "-");
    else cnn_strbuf_printf(b, "%*.4f", width, v);
}

char *cnn_eval_text(const cnn_eval *e, const char *const *names)
{
    cnn_strbuf b = {0};
    int nc = e->nclasses;
    double lo, hi;
    cnn_wilson_interval(e->correct, e->n, CNN_Z95, &lo, &hi);
    double acc = cnn_eval_accuracy(e);
    if (e->n)
        cnn_strbuf_printf(&b, "accuracy %.4f (%zu of %zu), 95%% CI [%.4f, %.4f] (Wilson score)\n",
                          acc, e->correct, e->n, lo, hi);
    else
        cnn_strbuf_printf(&b, "accuracy - (no images)\n");

    /* Width of the class column: the longest name or index. */
    int w = 5; /* "class" */
    for (int c = 0; c < nc; c++) {
        int l = names ? (int)strlen(names[c]) : digits((size_t)c);
        if (l > w) w = l;
    }
    cnn_strbuf_printf(&b, "\n%-*s  precision  recall      f1  support  predicted\n", w, "class");
    for (int c = 0; c < nc; c++) {
        if (names) cnn_strbuf_printf(&b, "%-*s", w, names[c]);
        else cnn_strbuf_printf(&b, "%-*d", w, c);
        cnn_strbuf_printf(&b, "  ");
        put_fixed(&b, cnn_eval_precision(e, c), 9);
        cnn_strbuf_printf(&b, "  ");
        put_fixed(&b, cnn_eval_recall(e, c), 6);
        cnn_strbuf_printf(&b, "  ");
        put_fixed(&b, cnn_eval_f1(e, c), 6);
        cnn_strbuf_printf(&b, "  %7zu  %9zu\n", row_sum(e, c), column_sum(e, c));
    }

    /* Confusion matrix: columns as wide as the largest count or class label;
     * with names, the columns are numbered and the rows say which is which. */
    int cw = digits((size_t)(nc - 1));
    for (size_t i = 0; i < (size_t)nc * nc; i++)
        if (digits(e->confusion[i]) > cw) cw = digits(e->confusion[i]);
    int rw = names ? w + 3 + digits((size_t)(nc - 1)) : w;
    cnn_strbuf_printf(&b, "\nconfusion matrix (rows: true class, columns: predicted)\n%*s", rw, "");
    for (int c = 0; c < nc; c++) cnn_strbuf_printf(&b, " %*d", cw, c);
    cnn_strbuf_putc(&b, '\n');
    for (int t = 0; t < nc; t++) {
        if (names) cnn_strbuf_printf(&b, "%*d = %-*s", digits((size_t)(nc - 1)), t, w, names[t]);
        else cnn_strbuf_printf(&b, "%*d", rw, t);
        for (int p = 0; p < nc; p++)
            cnn_strbuf_printf(&b, " %*zu", cw, e->confusion[(size_t)t * nc + p]);
        cnn_strbuf_putc(&b, '\n');
    }
    return cnn_strbuf_take(&b);
}

static void json_number(cnn_strbuf *b, double v)
{
    if (isnan(v)) cnn_strbuf_printf(b, "null");
    else cnn_strbuf_printf(b, "%.6f", v);
}

char *cnn_eval_json(const cnn_eval *e, const char *const *names)
{
    cnn_strbuf b = {0};
    int nc = e->nclasses;
    double lo, hi;
    cnn_wilson_interval(e->correct, e->n, CNN_Z95, &lo, &hi);
    cnn_strbuf_printf(&b, "{\"images\": %zu, \"correct\": %zu, \"accuracy\": ", e->n, e->correct);
    json_number(&b, cnn_eval_accuracy(e));
    cnn_strbuf_printf(&b, ", \"accuracy_ci95\": {\"method\": \"wilson\", \"low\": %.6f, "
                          "\"high\": %.6f}, \"classes\": [", lo, hi);
    for (int c = 0; c < nc; c++) {
        cnn_strbuf_printf(&b, "%s{\"class\": ", c ? ", " : "");
        if (names) cnn_strbuf_json_string(&b, names[c]);
        else cnn_strbuf_printf(&b, "%d", c);
        cnn_strbuf_printf(&b, ", \"precision\": ");
        json_number(&b, cnn_eval_precision(e, c));
        cnn_strbuf_printf(&b, ", \"recall\": ");
        json_number(&b, cnn_eval_recall(e, c));
        cnn_strbuf_printf(&b, ", \"f1\": ");
        json_number(&b, cnn_eval_f1(e, c));
        cnn_strbuf_printf(&b, ", \"support\": %zu, \"predicted\": %zu}", row_sum(e, c),
                          column_sum(e, c));
    }
    cnn_strbuf_printf(&b, "], \"confusion\": [");
    for (int t = 0; t < nc; t++) {
        cnn_strbuf_printf(&b, "%s[", t ? ", " : "");
        for (int p = 0; p < nc; p++)
            cnn_strbuf_printf(&b, "%s%zu", p ? ", " : "", e->confusion[(size_t)t * nc + p]);
        cnn_strbuf_putc(&b, ']');
    }
    cnn_strbuf_printf(&b, "]}\n");
    return cnn_strbuf_take(&b);
}
