/* Labelled image sets from IDX files, checked against a model.
 *
 * Images stay in their stored type (u8 MNIST stays one byte per pixel) and are
 * converted to float (n, C, H, W) per batch.  Image files are N x H x W (one
 * channel) or N x H x W x C; label files hold N integers.
 *
 * Ownership: cnn_dataset_load returns a set the caller frees with
 * cnn_dataset_free (NULL is fine). */
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
    int nclasses;   /* the model's output size */
    float *staging; /* one record, for channels-last to NCHW conversion */
} cnn_dataset;

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
