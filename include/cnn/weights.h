/* Weights files: safetensors holding a model's parameters under their layer
 * names ("conv2d.kernel", "conv2d.bias", ... in PyTorch's layout) with the
 * model description in the header's __metadata__ ("cnn.model"), so a weights
 * file describes itself and loads in PyTorch or NumPy without libcnn.
 * Checkpoints add optimizer state ("optimizer.m.<name>", "optimizer.v.<name>")
 * and training state in more metadata keys.
 *
 * Ownership: cnn_weights_open returns an object freed with cnn_weights_free
 * (NULL is fine). */
#ifndef CNN_WEIGHTS_H
#define CNN_WEIGHTS_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "load_limits.h"
#include "model.h"
#include "api.h"

CNN_BEGIN_DECLS
typedef struct cnn_st_file cnn_st_file; /* internal (lib/safetensors.h) */

/* Largest weights file read by default. */
#define CNN_WEIGHTS_MAX_FILE CNN_DEFAULT_MAX_WEIGHTS_BYTES

typedef struct cnn_weights {
    char *path;
    cnn_st_file *st;
    cnn_model *model; /* parsed from "cnn.model", or NULL when the file has none */
    FILE *values;     /* cnn_weights_open_deferred: the file the values are read from */
    long long size;   /* and its size when the header was read */
} cnn_weights;

CNN_API int cnn_weights_open(const char *path, cnn_weights **out, cnn_error *err);
CNN_API void cnn_weights_free(cnn_weights *w);

/* cnn_weights_open, but the values of a regular file are read only when
 * cnn_weights_read_params asks for them, from the file (kept open until
 * cnn_weights_free) straight into its params: a prediction's start then makes
 * no copy of the file (bench/README.md, "Start-up").  They are checked then as
 * cnn_weights_open checks them (non-finite values are refused), and a file
 * whose size changed since it was opened is refused.  Another kind of path (a
 * FIFO) is read whole, as by cnn_weights_open. */
CNN_API int cnn_weights_open_deferred(const char *path, cnn_weights **out, cnn_error *err);

/* Only what the header holds: the model (w->model) and the tensors' names and
 * shapes, checked as cnn_weights_open checks them, but not their values: the
 * cost is that of the header (at most 100 MB), whatever the file's size, so
 * the limits' max_weights_bytes applies only when path is not a regular file
 * (a FIFO, whose data is read to its end but not kept).  For a tool that
 * describes a file (cnn-summary).  cnn_weights_read_params with params not
 * NULL is an error on such an object; with NULL it checks names and shapes. */
CNN_API int cnn_weights_open_header(const char *path, cnn_weights **out, cnn_error *err);

/* A weights file from an open stream (a pipe, standard input), read to its end
 * with the limits' max_weights_bytes (one byte past it is an error; a stream
 * whose first 9 bytes cannot begin a weights file is refused after them).
 * `name` (NULL: "(stream)") stands for the path in messages and in w->path.
 * prefix: the first plen (at most 9) bytes of the file, when they were already
 * read from fp (to tell what kind of file it is), else NULL and 0.
 * header_only: as cnn_weights_open_header (the rest of the stream is read but
 * not kept).  fp is not closed. */
CNN_API int cnn_weights_open_stream(FILE *fp, const char *name, const void *prefix, size_t plen,
                                    int header_only, cnn_weights **out, cnn_error *err);

/* The same for a weights file already in memory (read from a pipe, say): buf
 * holds len bytes and is only borrowed; `name` (NULL: "(memory)") stands for
 * the path in messages and in w->path.  More than the limits' max_weights_bytes
 * is refused. */
CNN_API int cnn_weights_open_mem(const void *buf, size_t len, const char *name,
                                 cnn_weights **out, cnn_error *err);

/* The model for a tool given a weights file and an optional model file: with
 * both, they must describe the same architecture (else an error saying how
 * they differ); with only the weights, the model stored in them, after checking
 * that the file holds every tensor it needs (so a tiny file claiming a huge
 * model is refused before anything of that size is allocated).  On success *m
 * is the caller's. */
CNN_API int cnn_weights_resolve_model(const cnn_weights *w, const char *model_path, cnn_model **m,
                              cnn_error *err);

/* The check cnn_weights_resolve_model makes of a model file, for a model
 * already read (from standard input, say; `name` stands for its file in
 * messages): it must describe the architecture stored in w, if any, and w must
 * hold every tensor it needs, in its shape. */
CNN_API int cnn_weights_check_model(const cnn_weights *w, const cnn_model *m, const char *name,
                                    cnn_error *err);

/* Copies the tensors "<prefix><layer>.<tensor>" of every layer of m into params
 * (m->nparams floats, model order).  A missing tensor or a shape that differs
 * is an error naming the tensor and both shapes.  params NULL only checks.
 * With w of cnn_weights_open_deferred, the values are read from the file here
 * (and may fail as cnn_weights_open would have). */
CNN_API int cnn_weights_read_params(const cnn_weights *w, const char *prefix, const cnn_model *m,
                            float *params, cnn_error *err);

/* One named parameter vector for cnn_weights_save: `prefix` + each tensor name. */
typedef struct cnn_param_set {
    const char *prefix; /* "" for the weights themselves, "optimizer.m.", ... */
    const float *params;
} cnn_param_set;

/* Writes sets of m's parameter vectors and metadata (plus "cnn.model", the
 * model in our JSON format, and "format": "pt") atomically to path. */
CNN_API int cnn_weights_save(const char *path, const cnn_model *m, const cnn_param_set *sets, int nsets,
                     const char *const *meta_keys, const char *const *meta_values, int nmeta,
                     cnn_error *err);

/* The class names stored in w (metadata "cnn.class_names", one name per line,
 * written by cnn_train when the training set has names): *names is NULL when
 * there are none, else nclasses names the caller frees with
 * cnn_class_names_free (infer.h).  A count that is not nclasses is an error. */
CNN_API int cnn_weights_class_names(const cnn_weights *w, int nclasses, char ***names,
                                    cnn_error *err);

CNN_END_DECLS

#endif
