/* Labelled image sets, built in memory or from IDX files (see dataset.h). */
#include "dataset.h"
#include "dataset_internal.h"
#include "idx_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- sets in memory ---------------------------------------------------- */

int cnn_dataset_new(size_t count, int h, int w, int c, int labelled, size_t max_bytes,
                    cnn_dataset **out, cnn_error *err)
{
    *out = NULL;
    if (h < 1 || w < 1 || c < 1)
        return cnn_errorf(err, "a dataset's images need a positive size, got %dx%dx%d", h, w, c);
    if (!max_bytes) max_bytes = CNN_IDX_MAX_BYTES;
    size_t rec = (size_t)h * (size_t)w;
    if (rec > SIZE_MAX / (size_t)c) return cnn_errorf(err, "a dataset's image size overflows");
    rec *= (size_t)c;
    if (count && rec > max_bytes / count)
        return cnn_errorf(err, "%zu images of %dx%dx%d are more than the limit of %zu bytes",
                          count, h, w, c, max_bytes);
    cnn_dataset *d = calloc(1, sizeof *d);
    cnn_idx *x = d ? calloc(1, sizeof *x) : NULL;
    if (d) d->images = x;
    if (!x || !(x->name = strdup("<memory>")) ||
        !(x->data = calloc(count ? count * rec : 1, 1)) ||
        !(d->staging = malloc(sizeof *d->staging * rec)) ||
        (labelled && !(d->labels = calloc(count ? count : 1, sizeof *d->labels)))) {
        cnn_dataset_free(d);
        return cnn_errorf(err, "out of memory for %zu images of %dx%dx%d", count, h, w, c);
    }
    x->type = CNN_IDX_U8;
    x->rank = 4;
    x->dims[0] = count, x->dims[1] = (size_t)h, x->dims[2] = (size_t)w, x->dims[3] = (size_t)c;
    x->count = count;
    x->record = rec;
    x->elem_size = 1;
    d->count = count;
    d->h = h, d->w = w, d->c = c;
    *out = d;
    return 0;
}

uint8_t *cnn_dataset_pixels(cnn_dataset *d)
{
    return d && d->images && d->images->type == CNN_IDX_U8 ? d->images->data : NULL;
}

static void free_names(char **names)
{
    if (!names) return;
    for (char **p = names; *p; p++) free(*p);
    free(names);
}

int cnn_dataset_set_classes(cnn_dataset *d, int n, const char *const *names, cnn_error *err)
{
    if (n < 1) return cnn_errorf(err, "a dataset needs at least one class, got %d", n);
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0]) return cnn_errorf(err, "class %d has an empty name", i);
        for (const char *p = names[i]; *p; p++)
            if ((unsigned char)*p < 0x20)
                return cnn_errorf(err, "class name \"%s\" holds a control character (a tab or "
                                       "a line break)", names[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return cnn_errorf(err, "class name \"%s\" is given twice (classes %d and %d)",
                                  names[i], j, i);
    }
    if (d->labels)
        for (size_t i = 0; i < d->count; i++)
            if (d->labels[i] < 0 || d->labels[i] >= n)
                return cnn_errorf(err, "label %d of image %zu is not one of the %d classes",
                                  d->labels[i], i, n);
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) return cnn_errorf(err, "out of memory");
    for (int i = 0; i < n; i++)
        if (!(v[i] = strdup(names[i]))) {
            free_names(v);
            return cnn_errorf(err, "out of memory");
        }
    free_names(d->class_names);
    d->class_names = v;
    d->nclasses = n;
    return 0;
}

int cnn_dataset_check(cnn_dataset *d, const char *name, const cnn_model *m, cnn_error *err)
{
    const cnn_shape in = m->input;
    if (d->h != in.h || d->w != in.w || d->c != in.c)
        return cnn_errorf(err, "%s: images are %dx%dx%d but the model takes %dx%dx%d", name,
                          d->h, d->w, d->c, in.h, in.w, in.c);
    int mc = cnn_model_classes(m);
    if (d->labels) {
        if (mc < 1)
            return cnn_errorf(err, "%s: the model's last layer is not a flat class vector, so "
                                   "it cannot be trained or evaluated on class labels", name);
        if (d->class_names && d->nclasses > mc)
            return cnn_errorf(err, "%s: %d classes but the model has %d outputs", name,
                              d->nclasses, mc);
        for (size_t i = 0; i < d->count; i++)
            if (d->labels[i] < 0 || d->labels[i] >= mc)
                return cnn_errorf(err, "%s: label %d at index %zu is out of range: the model "
                                       "has %d classes (0 to %d)", name, d->labels[i], i, mc,
                                  mc - 1);
    }
    if (!d->class_names) d->nclasses = mc;
    return 0;
}

/* ---- IDX files ----------------------------------------------------------- */

int cnn_model_classes(const cnn_model *m)
{
    const cnn_layer *last = &m->layers[m->nlayers - 1];
    return last->out.flat ? last->out.c : -1;
}

static int check_images(const cnn_idx *x, const char *path, const cnn_model *m, cnn_error *err)
{
    const cnn_shape in = m->input;
    int h, w, c;
    if (x->rank == 3) {
        h = (int)x->dims[1], w = (int)x->dims[2], c = 1;
    } else if (x->rank == 4) {
        h = (int)x->dims[1], w = (int)x->dims[2], c = (int)x->dims[3];
    } else {
        return cnn_errorf(err, "%s: an image file must be N x H x W or N x H x W x C, but this "
                               "one has rank %d", path, x->rank);
    }
    if (x->rank == 3 && in.c != 1)
        return cnn_errorf(err, "%s: images are %dx%d with one channel but the model takes "
                               "%dx%dx%d", path, h, w, in.h, in.w, in.c);
    if (h != in.h || w != in.w || c != in.c)
        return cnn_errorf(err, "%s: images are %dx%dx%d but the model takes %dx%dx%d", path, h,
                          w, c, in.h, in.w, in.c);
    return 0;
}

/* Header checks, made before the data is read (cnn_idx_load_checked). */
typedef struct header_ctx {
    const char *images_path, *labels_path;
    const cnn_model *m;
    size_t count; /* images, for the labels' check */
} header_ctx;

static int images_header(const cnn_idx *x, void *ctx, cnn_error *err)
{
    const header_ctx *c = ctx;
    return check_images(x, c->images_path, c->m, err);
}

static int labels_header(const cnn_idx *lab, void *ctx, cnn_error *err)
{
    const header_ctx *c = ctx;
    if (lab->rank != 1)
        return cnn_errorf(err, "%s: a label file must have rank 1 (N labels), but this one has "
                               "rank %d", c->labels_path, lab->rank);
    if (lab->count != c->count)
        return cnn_errorf(err, "%s: %zu labels for %zu images in %s", c->labels_path,
                          lab->count, c->count, c->images_path);
    return 0;
}

/* The labels file for d (d->count images of hc->images_path): every label an
 * integer in [0, d->nclasses). */
static int load_labels(cnn_dataset *d, const char *labels_path, header_ctx *hc, size_t max_bytes,
                       cnn_error *err)
{
    if (d->nclasses < 1)
        return cnn_errorf(err, "%s: the model's last layer is not a flat class vector, so it "
                               "cannot be trained or evaluated on class labels", labels_path);
    cnn_idx *lab = NULL;
    hc->count = d->count;
    if (cnn_idx_load_checked(labels_path, max_bytes, labels_header, hc, &lab, err)) return -1;
    int rc = 0;
    if (!(d->labels = malloc(sizeof *d->labels * d->count)))
        rc = cnn_errorf(err, "%s: out of memory", labels_path);
    for (size_t i = 0; !rc && i < d->count; i++) {
        long v;
        if (cnn_idx_label(lab, i, &v, err)) {
            rc = -1;
        } else if (v < 0 || v >= d->nclasses) {
            rc = cnn_errorf(err, "%s: label %ld at index %zu is out of range: the model has %d "
                                 "classes (0 to %d)", labels_path, v, i, d->nclasses,
                            d->nclasses - 1);
        } else {
            d->labels[i] = (int)v;
        }
    }
    cnn_idx_free(lab);
    return rc;
}

/* cnn_dataset_load, or (streamed) cnn_dataset_load_streamed. */
static int load_set(const char *images_path, const char *labels_path, const cnn_model *m,
                    size_t max_bytes, int streamed, cnn_dataset **out, cnn_error *err)
{
    *out = NULL;
    cnn_dataset *d = calloc(1, sizeof *d);
    if (!d) return cnn_errorf(err, "%s: out of memory", images_path);
    header_ctx hc = {images_path, labels_path, m, 0};
    if (streamed ? cnn_dataset_stream_attach(d, images_path, max_bytes, images_header, &hc, err)
                 : cnn_idx_load_checked(images_path, max_bytes, images_header, &hc, &d->images,
                                        err))
        goto fail;
    d->count = d->images->count;
    d->h = m->input.h, d->w = m->input.w, d->c = m->input.c;
    d->nclasses = cnn_model_classes(m);
    d->staging = malloc(sizeof *d->staging * (size_t)d->h * d->w * d->c);
    if (!d->staging) {
        cnn_errorf(err, "%s: out of memory", images_path);
        goto fail;
    }
    if (labels_path && load_labels(d, labels_path, &hc, max_bytes, err)) goto fail;
    *out = d;
    return 0;
fail:
    cnn_dataset_free(d);
    return -1;
}

int cnn_dataset_load(const char *images_path, const char *labels_path, const cnn_model *m,
                     size_t max_bytes, cnn_dataset **out, cnn_error *err)
{
    return load_set(images_path, labels_path, m, max_bytes, 0, out, err);
}

int cnn_dataset_load_streamed(const char *images_path, const char *labels_path,
                              const cnn_model *m, size_t max_bytes, cnn_dataset **out,
                              cnn_error *err)
{
    /* A pipe cannot be read twice: it is read once, into memory. */
    struct stat st;
    int regular = stat(images_path, &st) == 0 && S_ISREG(st.st_mode);
    return load_set(images_path, labels_path, m, max_bytes, regular, out, err);
}

void cnn_dataset_free(cnn_dataset *d)
{
    if (!d) return;
    cnn_idx_free(d->images);
    free(d->labels);
    free_names(d->class_names);
    if (d->files)
        for (size_t i = 0; i < d->count; i++) free(d->files[i]);
    free(d->files);
    free(d->staging);
    cnn_dataset_stream_free(d->stream);
    free(d);
}

void cnn_dataset_record_nchw(const cnn_dataset *d, const cnn_idx *images, size_t i, float *dst)
{
    if (d->c == 1) {
        cnn_idx_record_float(images, i, dst);
        return;
    }
    /* The file is channels-last (H, W, C); the library is (C, H, W). */
    size_t plane = (size_t)d->h * d->w;
    cnn_idx_record_float(images, i, d->staging);
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < d->c; c++) dst[(size_t)c * plane + p] = d->staging[p * d->c + c];
}

int cnn_dataset_batch(const cnn_dataset *d, const uint32_t *idx, int n, float *x)
{
    if (!d || !idx || !x || n < 0 || d->stream) return -1;
    for (int i = 0; i < n; i++)
        if (idx[i] >= d->count) return -1;
    size_t rec = (size_t)d->h * d->w * d->c;
    for (int i = 0; i < n; i++) cnn_dataset_record_nchw(d, d->images, idx[i], x + (size_t)i * rec);
    return 0;
}

/* ======================================================================== */
/* Sets read from their IDX file at each pass instead of kept in memory    */
/* (cnn_dataset_load_streamed): only one batch of records and the reader's */
/* buffers are in memory during a pass.                                     */
/* ======================================================================== */

struct cnn_dataset_stream {
    char *path;
    size_t max_bytes;
    struct stat st;          /* the file when it was checked */
    uint32_t crc;            /* the CRC-32 of its IDX bytes then */
    cnn_idx_stream *pass;    /* the pass under way, or NULL */
    unsigned char *raw;      /* one batch of records as stored */
    size_t raw_cap;          /* bytes at raw */
};

void cnn_dataset_stream_free(struct cnn_dataset_stream *s)
{
    if (!s) return;
    cnn_idx_stream_close(s->pass);
    free(s->raw);
    free(s->path);
    free(s);
}

int cnn_dataset_stream_attach(cnn_dataset *d, const char *path, size_t max_bytes,
                              cnn_idx_check_fn check, void *ctx, cnn_error *err)
{
    struct cnn_dataset_stream *s = calloc(1, sizeof *s);
    cnn_idx_stream *is = NULL;
    if (!s || !(s->path = strdup(path))) {
        cnn_dataset_stream_free(s);
        return cnn_errorf(err, "%s: out of memory", path);
    }
    s->max_bytes = max_bytes;
    d->stream = s;
    if (cnn_idx_stream_open(path, max_bytes, check, ctx, &is, err) ||
        cnn_idx_stream_finish(is, &s->crc, err)) {
        cnn_idx_stream_close(is);
        return -1;
    }
    s->st = *cnn_idx_stream_stat(is);
    const cnn_idx *h = cnn_idx_stream_header(is);
    cnn_idx *x = calloc(1, sizeof *x);
    if (x) *x = *h, x->name = strdup(path);
    cnn_idx_stream_close(is);
    if (!x || !x->name) {
        free(x);
        return cnn_errorf(err, "%s: out of memory", path);
    }
    d->images = x;
    return 0;
}

/* What differs between the file as checked (a) and now (b), or NULL. */
static const char *changed(const struct stat *a, const struct stat *b)
{
    if (a->st_dev != b->st_dev || a->st_ino != b->st_ino) return "it is another file (inode)";
    if (a->st_size != b->st_size) return "its size differs";
    if (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
        return "its modification time differs";
    return NULL;
}

/* An error reading the file again: most likely it changed. */
static int again(const struct cnn_dataset_stream *s, cnn_error *err)
{
    return cnn_error_prefix(err, "evaluating: reading %s again (did it change during the run?)",
                            s->path);
}

#define CHANGED_FMT                                                                       \
    "%s: the file changed during the run (%s): it is read again for every evaluation and " \
    "must stay as it was when checked before training"

/* Why the file now open for a pass is not the one checked, or NULL. */
static const char *pass_differs(const struct cnn_dataset_stream *s, const cnn_idx *x)
{
    const cnn_idx *h = cnn_idx_stream_header(s->pass);
    const char *why = changed(&s->st, cnn_idx_stream_stat(s->pass));
    if (!why && (h->type != x->type || h->rank != x->rank ||
                 memcmp(h->dims, x->dims, sizeof *h->dims * (size_t)h->rank) != 0))
        why = "its IDX header differs";
    return why;
}

int cnn_dataset_stream_begin(const cnn_dataset *d, size_t first, cnn_error *err)
{
    struct cnn_dataset_stream *s = d->stream;
    cnn_idx_stream_close(s->pass);
    s->pass = NULL;
    /* Before reading: a header read first would report a changed size as damage. */
    struct stat now;
    const char *why = stat(s->path, &now) == 0 ? changed(&s->st, &now) : NULL;
    if (why) return cnn_errorf(err, CHANGED_FMT, s->path, why);
    if (cnn_idx_stream_open(s->path, s->max_bytes, NULL, NULL, &s->pass, err))
        return again(s, err);
    if ((why = pass_differs(s, d->images))) cnn_errorf(err, CHANGED_FMT, s->path, why);
    if (why || (cnn_idx_stream_read(s->pass, NULL, first, err) && again(s, err))) {
        cnn_idx_stream_close(s->pass);
        s->pass = NULL;
        return -1;
    }
    return 0;
}

int cnn_dataset_stream_next(const cnn_dataset *d, int n, float *x, cnn_error *err)
{
    struct cnn_dataset_stream *s = d->stream;
    cnn_idx view = *d->images;
    size_t rec = view.record * view.elem_size, per = (size_t)d->h * d->w * d->c;
    if (!s->pass) return cnn_errorf(err, "%s: no pass under way", s->path);
    if ((size_t)n * rec > s->raw_cap) {
        unsigned char *p = realloc(s->raw, (size_t)n * rec);
        if (!p) return cnn_errorf(err, "%s: out of memory for a batch", s->path);
        s->raw = p, s->raw_cap = (size_t)n * rec;
    }
    if (cnn_idx_stream_read(s->pass, s->raw, (size_t)n, err)) return again(s, err);
    view.data = s->raw;
    view.count = view.dims[0] = (size_t)n;
    for (int i = 0; i < n; i++) cnn_dataset_record_nchw(d, &view, (size_t)i, x + (size_t)i * per);
    return 0;
}

int cnn_dataset_stream_end(const cnn_dataset *d, int ok, cnn_error *err)
{
    struct cnn_dataset_stream *s = d->stream;
    uint32_t crc = 0;
    int rc = ok && s->pass ? cnn_idx_stream_finish(s->pass, &crc, err) : 0;
    if (rc) again(s, err);
    else if (ok && s->pass && crc != s->crc)
        rc = cnn_errorf(err, CHANGED_FMT, s->path, "its contents differ (CRC-32)");
    cnn_idx_stream_close(s->pass);
    s->pass = NULL;
    return rc;
}
