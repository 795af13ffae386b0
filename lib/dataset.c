/* Labelled image sets from IDX files (see dataset.h). */
#include "dataset.h"

#include <stdlib.h>
#include <string.h>

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

int cnn_dataset_load(const char *images_path, const char *labels_path, const cnn_model *m,
                     size_t max_bytes, cnn_dataset **out, cnn_error *err)
{
    *out = NULL;
    cnn_dataset *d = calloc(1, sizeof *d);
    if (!d) return cnn_errorf(err, "%s: out of memory", images_path);
    cnn_idx *lab = NULL;
    header_ctx hc = {images_path, labels_path, m, 0};
    if (cnn_idx_load_checked(images_path, max_bytes, images_header, &hc, &d->images, err))
        goto fail;
    hc.count = d->images->count;
    d->count = d->images->count;
    d->h = m->input.h, d->w = m->input.w, d->c = m->input.c;
    d->nclasses = cnn_model_classes(m);
    d->staging = malloc(sizeof *d->staging * (size_t)d->h * d->w * d->c);
    if (!d->staging) {
        cnn_errorf(err, "%s: out of memory", images_path);
        goto fail;
    }
    if (labels_path) {
        if (d->nclasses < 1) {
            cnn_errorf(err, "%s: the model's last layer is not a flat class vector, so it "
                            "cannot be trained or evaluated on class labels", labels_path);
            goto fail;
        }
        if (cnn_idx_load_checked(labels_path, max_bytes, labels_header, &hc, &lab, err))
            goto fail;
        d->labels = malloc(sizeof *d->labels * d->count);
        if (!d->labels) {
            cnn_errorf(err, "%s: out of memory", labels_path);
            goto fail;
        }
        for (size_t i = 0; i < d->count; i++) {
            long v;
            if (cnn_idx_label(lab, i, &v, err)) goto fail;
            if (v < 0 || v >= d->nclasses) {
                cnn_errorf(err, "%s: label %ld at index %zu is out of range: the model has %d "
                                "classes (0 to %d)", labels_path, v, i, d->nclasses,
                           d->nclasses - 1);
                goto fail;
            }
            d->labels[i] = (int)v;
        }
        cnn_idx_free(lab);
    }
    *out = d;
    return 0;
fail:
    cnn_idx_free(lab);
    cnn_dataset_free(d);
    return -1;
}

void cnn_dataset_free(cnn_dataset *d)
{
    if (!d) return;
    cnn_idx_free(d->images);
    free(d->labels);
    free(d->staging);
    free(d);
}

int cnn_dataset_batch(const cnn_dataset *d, const uint32_t *idx, int n, float *x)
{
    if (!d || !idx || !x || n < 0) return -1;
    for (int i = 0; i < n; i++)
        if (idx[i] >= d->count) return -1;
    size_t plane = (size_t)d->h * d->w, rec = plane * d->c;
    for (int i = 0; i < n; i++) {
        float *dst = x + (size_t)i * rec;
        if (d->c == 1) {
            cnn_idx_record_float(d->images, idx[i], dst);
            continue;
        }
        /* The file is channels-last (H, W, C); the library is (C, H, W). */
        cnn_idx_record_float(d->images, idx[i], d->staging);
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < d->c; c++) dst[(size_t)c * plane + p] = d->staging[p * d->c + c];
    }
    return 0;
}
