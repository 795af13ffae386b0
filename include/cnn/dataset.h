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
#include "image.h"
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
    char **files;   /* count image paths (sets read from image files with keep_paths), or NULL */
    float *staging; /* one record, for channels-last to NCHW conversion */
    struct cnn_dataset_stream *stream; /* images read from their file at each pass
                                          (cnn_dataset_load_streamed), else NULL */
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

/* names[0..n) joined by newlines (the "cnn.class_names" metadata value), a
 * malloc'd string, or NULL when out of memory. */
CNN_API char *cnn_class_names_join(const char *const *names, int n);

/* Checks a set against model m before training or evaluating on it: the image
 * shape must be the model's input and every label below the model's number of
 * classes.  `name` (the set's path) starts the messages.  Sets without class
 * names get the model's class count as nclasses. */
CNN_API int cnn_dataset_check(cnn_dataset *d, const char *name, const cnn_model *m,
                              cnn_error *err);

/* How cnn_dataset_open reads a set. */
typedef struct cnn_dataset_opts {
    int h, w, c;        /* the images' size and channels (the model's input; c is 1 or 3);
                           h = w = 0: the first image's size (a CSV's: square) */
    int labelled;       /* 1: a labelled set (class folders, labels needed); 0: images only */
    int resize;         /* images of another size are resized bilinearly (else an error) */
    int invert;         /* v -> 255 - v (dark-on-light drawings) */
    int skip_bad;       /* unreadable images and non-image files are skipped, via on_skip */
    int keep_paths;     /* fill d->files with each image's path */
    size_t max_bytes;   /* the set's pixel bytes (and an IDX file's data); 0 = CNN_IDX_MAX_BYTES */
    const cnn_png_limits *lim; /* per-image size limits; NULL for the defaults */
    void (*on_progress)(void *ctx, size_t done, size_t total); /* images decoded so far */
    void (*on_skip)(void *ctx, const char *message);            /* one per skipped file */
    void *ctx;
} cnn_dataset_opts;

/* Reads the set at `path`, recognised by what it is:
 *   - a folder: with o->labelled, class folders ROOT/CLASS/.../NAME.png|jpg|jpeg,
 *     classes sorted by name (bytewise), files sorted by path; without, every
 *     image under it, sorted;
 *   - a file starting with an IDX header (or gzip): IDX images, with the labels
 *     file whose name has "labels" (and idx1) for the last "images" (and idx3);
 *   - a file named *.csv: the Kaggle layout, a header, then label,pixel0,...
 *     (or pixel0,... without the label column), H*W*C values 0-255 each;
 *   - a text file with tabs: a list file, lines PATH<TAB>LABEL, LABEL a class
 *     name or (when every label is) an index; paths relative to the list
 *     file's folder and never outside it; '#' comments and blank lines;
 *   - anything else is an error naming the path and these forms.
 * Images (PNG or JPEG by their bytes, converted as image.h says) are decoded
 * once, over libcnn's threads, to one byte per pixel; the set's size is checked
 * against o->max_bytes before any image is decoded.  The result is not checked
 * against a model: call cnn_dataset_check. */
CNN_API int cnn_dataset_open(const char *path, const cnn_dataset_opts *o, cnn_dataset **out,
                             cnn_error *err);

/* Loads images (and labels, when labels_path is non-NULL) for model m.  Fails,
 * naming the file and the numbers, when the image shape is not the model's
 * input, the counts differ, or a label is negative or >= the number of classes.
 * max_bytes limits each file's decoded size (CNN_IDX_MAX_BYTES by default). */
CNN_API int cnn_dataset_load(const char *images_path, const char *labels_path, const cnn_model *m,
                     size_t max_bytes, cnn_dataset **out, cnn_error *err);

/* cnn_dataset_load for a held-out set, with the same checks and messages (the
 * whole images file is read and checked once), but without keeping the images:
 * d->images holds the header only (data NULL) and the labels are in memory.
 * cnn_evaluate reads the images again from the file at every call, in order,
 * one batch at a time, so it must be given consecutive indices (idx[i] =
 * idx[0] + i); cnn_dataset_batch and cnn_dataset_pixels refuse such a set (-1,
 * NULL).  A file that changed since it was checked (its inode, size or
 * modification time, or the CRC-32 of its decompressed bytes) fails that
 * evaluation, naming the file.  A path that is not a regular file (a pipe,
 * standard input) is loaded into memory as cnn_dataset_load does. */
CNN_API int cnn_dataset_load_streamed(const char *images_path, const char *labels_path,
                                      const cnn_model *m, size_t max_bytes, cnn_dataset **out,
                                      cnn_error *err);
CNN_API void cnn_dataset_free(cnn_dataset *d);

/* Converts the records idx[0..n) to floats, (n, C, H, W) into x, which holds
 * n * C * H * W floats.  -1 (nothing written) when an index is not a record,
 * or the set is streamed (cnn_dataset_load_streamed). */
CNN_API int cnn_dataset_batch(const cnn_dataset *d, const uint32_t *idx, int n, float *x);

/* Number of classes a model predicts: its last layer's output size, or -1 when
 * that output is not flat (then it cannot be trained on class labels). */
CNN_API int cnn_model_classes(const cnn_model *m);

CNN_END_DECLS

#endif
