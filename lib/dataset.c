/* Labelled image sets, built in memory or from IDX files (see dataset.h). */
#include "dataset.h"
#include "dataset_internal.h"

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
