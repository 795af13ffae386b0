/* Labelled image sets: built in memory, or loaded from IDX files.
 *
 * A set holds its images as an IDX-shaped array (images->data, N x H x W x C,
 * channels last) in their stored type: sets built in memory and u8 IDX files
 * keep one byte per pixel, converted to float (n, C, H, W) per batch as v / 255.
 * An IDX file is therefore just one way to fill a set; cnn_dataset_new gives an
 * empty one that any loader (or a program) fills byte by byte, and cnn_train,
 * cnn_evaluate and the predictor take either alike.  Training on a u8 set built
 * in memory gives bit-identical weights to training on the IDX file with the
 * same bytes (same seed, same thread count).
 *
 * Ownership: cnn_dataset_new and cnn_dataset_load return a set the caller frees
 * with cnn_dataset_free (NULL is fine); everything it points to belongs to it. */
#ifndef CNN_DATASET_H
#define CNN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "idx.h"
#include "model.h"
#include "api.h"

CNN_BEGIN_DECLS

typedef struct cnn_dataset {
    cnn_idx *images;
    int *labels;    /* count labels, each in [0, nclasses); NULL without a label file */
    size_t count;
    int h, w, c;
    int nclasses;   /* the model's output size (IDX), or the number of classes set */
    char **class_names; /* nclasses names, NULL-terminated, or NULL when unnamed */
    float *staging; /* one record, for channels-last to NCHW conversion */
} cnn_dataset;

/* A new set of `count` images of h x w pixels with c channels, all bytes 0,
 * with room for labels when `labelled` (all 0) and without class names.  Fill
 * it through cnn_dataset_pixels and d->labels.  count may be 0.  Fails on sizes
 * that are not positive, overflow, or exceed max_bytes of pixels (0 = no limit
 * beyond CNN_IDX_MAX_BYTES). */
CNN_API int cnn_dataset_new(size_t count, int h, int w, int c, int labelled, size_t max_bytes,
                            cnn_dataset **out, cnn_error *err);

/* The pixel bytes of a set made by cnn_dataset_new (or a u8 IDX file):
 * (count, h, w, c), channels last, 0 = black, 255 = white.  NULL for an IDX
 * set of another element type. */
CNN_API uint8_t *cnn_dataset_pixels(cnn_dataset *d);

/* Gives d the class names names[0..n) (copied) and sets d->nclasses = n.
 * Fails when a name is empty or repeated, or a label is >= n. */
CNN_API int cnn_dataset_set_classes(cnn_dataset *d, int n, const char *const *names,
                                    cnn_error *err);

/* Checks a set against model m before training or evaluating on it: the image
 * shape must be the model's input and every label below the model's number of
 * classes.  `name` (the set's path) starts the messages.  Sets without class
 * names get the model's class count as nclasses. */
CNN_API int cnn_dataset_check(cnn_dataset *d, const char *name, const cnn_model *m,
                              cnn_error *err);

/* Loads images (and labels, when labels_path is non-NULL) for model m.  Fails,
 * naming the file and the numbers, when the image shape is not the model's
 * input, the counts differ, or a label is negative or >= the number of classes.
 * max_bytes limits each file's decoded size (CNN_IDX_MAX_BYTES by default). */
CNN_API int cnn_dataset_load(const char *images_path, const char *labels_path, const cnn_model *m,
                     size_t max_bytes, cnn_dataset **out, cnn_error *err);
CNN_API void cnn_dataset_free(cnn_dataset *d);

/* Converts the records idx[0..n) to floats, (n, C, H, W) into x, which holds
 * n * C * H * W floats.  -1 (nothing written) when an index is not a record. */
CNN_API int cnn_dataset_batch(const cnn_dataset *d, const uint32_t *idx, int n, float *x);

/* Number of classes a model predicts: its last layer's output size, or -1 when
 * that output is not flat (then it cannot be trained on class labels). */
CNN_API int cnn_model_classes(const cnn_model *m);

CNN_END_DECLS

#endif
