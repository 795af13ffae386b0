/* Inference: turning images into the model's input tensor, batched prediction
 * from a weights file, and evaluation statistics (accuracy with a confidence
 * interval, per-class precision and recall, the confusion matrix) rendered as
 * a text table or JSON.  The library half of cnn-infer.
 *
 * Probabilities are the output of the model's last layer when its activation is
 * softmax.  When it is not (a linear, sigmoid, ... last layer), the predictor
 * applies a softmax over the last layer's output itself, treating the outputs
 * as logits, so the figures printed are still a distribution that sums to 1 and
 * keeps the same ranking (cnn_predictor_added_softmax says when it does).
 *
 * Ownership: cnn_predictor_open, cnn_eval_new and cnn_class_names_load return
 * objects the caller frees with cnn_predictor_free, cnn_eval_free and
 * cnn_class_names_free (all accept NULL).  Rendering functions return malloc'd
 * strings the caller frees with free(). */
#ifndef CNN_INFER_H
#define CNN_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "error.h"
#include "image.h"
#include "model.h"
#include "strbuf.h"
#include "weights.h"
#include "api.h"

CNN_BEGIN_DECLS

/* ------------------------------------------------------------------------ */
/* Images to input tensors                                                   */
/* ------------------------------------------------------------------------ */

typedef struct cnn_input_opts {
    int invert;                   /* 1: every value v becomes 1 - v (dark-on-light drawings) */
    int resize;                   /* 1: bilinear resize to the model's size; 0: a different
                                     size is an error naming both sizes */
    const cnn_png_limits *limits; /* decoding limits, NULL for the defaults */
} cnn_input_opts;

/* Checks that images can be fed to a model with input shape `in`: a spatial
 * input with 1 (luminance) or 3 (RGB) channels.  Fails with a message saying
 * what the model takes otherwise. */
CNN_API int cnn_input_check(cnn_shape in, cnn_error *err);

/* Writes img as the input tensor x, (in.c, in.h, in.w) floats.  img must have
 * in.c channels (cnn_png_load converts).  A different width or height is
 * resized bilinearly when o->resize is set and is otherwise an error
 * "NAME: the image is WxH but the model takes WxH (use --resize)".  With
 * o->invert the values are inverted after resizing.  o may be NULL (no
 * options); name is used in messages. */
CNN_API int cnn_image_to_input(const cnn_image *img, cnn_shape in, const cnn_input_opts *o,
                       const char *name, float *x, cnn_error *err);

/* Decodes the PNG or JPEG file at path (recognised by its first bytes, as
 * cnn_image_load_mem: any PNG colour type and bit depth, baseline or progressive
 * JPEG; image.h) into in.c channels and converts it with cnn_image_to_input.
 * Without o->resize, a size other than the model's is refused from the file's
 * header, before any pixel is decoded.  The file is read whole (at most what
 * o->limits allow).  Errors start with the path.  (The name is older than JPEG
 * support.) */
CNN_API int cnn_png_to_input(const char *path, cnn_shape in, const cnn_input_opts *o, float *x,
                     cnn_error *err);

/* The same for a PNG or JPEG in memory (len bytes, borrowed); name is used in
 * messages. */
CNN_API int cnn_png_mem_to_input(const void *buf, size_t len, const char *name, cnn_shape in,
                         const cnn_input_opts *o, float *x, cnn_error *err);

/* ------------------------------------------------------------------------ */
/* Prediction                                                                */
/* ------------------------------------------------------------------------ */

typedef struct cnn_predictor cnn_predictor;

/* Opens a weights file and builds the network for batches of up to max_batch
 * images.  model_path is optional: without it the model stored in the weights
 * file is used; with it, both must describe the same architecture (else an
 * error saying how they differ).  Weights whose tensors do not fit the model
 * (missing, or another shape) are an error naming the tensor and both shapes.
 * The model must end in a flat class vector. */
CNN_API int cnn_predictor_open(const char *weights_path, const char *model_path, int max_batch,
                       cnn_predictor **out, cnn_error *err);
/* The same from weights already opened (cnn_weights_open_stream, say): w is
 * only borrowed and may be freed once this returns. */
CNN_API int cnn_predictor_new(const cnn_weights *w, const char *model_path, int max_batch,
                              cnn_predictor **out, cnn_error *err);
/* The same with the model already read (cnn_model_parse of standard input,
 * say), which must agree with the weights as a model file must: m is taken
 * (freed on failure too); `name` stands for its file in messages. */
CNN_API int cnn_predictor_new_model(const cnn_weights *w, cnn_model *m, const char *name,
                                    int max_batch, cnn_predictor **out, cnn_error *err);
CNN_API void cnn_predictor_free(cnn_predictor *p);

CNN_API const cnn_model *cnn_predictor_model(const cnn_predictor *p);
CNN_API int cnn_predictor_classes(const cnn_predictor *p);
CNN_API int cnn_predictor_max_batch(const cnn_predictor *p);
/* 1 when the last layer has no softmax and the predictor applies one (above). */
CNN_API int cnn_predictor_added_softmax(const cnn_predictor *p);
/* The class names stored with the weights (metadata cnn.class_names), read by
 * cnn_predictor_open, so the file need not be read again: *names is NULL when
 * there are none, else (classes) names owned by p, valid until
 * cnn_predictor_free.  -1 with err filled (and *names NULL) when the stored
 * names do not fit the model. */
CNN_API int cnn_predictor_class_names(const cnn_predictor *p, const char *const **names,
                                      cnn_error *err);

/* The input buffer, (max_batch, C, H, W): image i of the next batch goes at
 * cnn_predictor_input(p) + i * cnn_shape_size(model->input). */
CNN_API float *cnn_predictor_input(cnn_predictor *p);

/* -1 (nothing done) unless 1 <= n <= max_batch, d's images have the model's
 * input shape and every index is a record of d.
 * Fills input slots [0, n) from records idx[0..n) of d, inverting them when
 * invert is set. */
CNN_API int cnn_predictor_fill(cnn_predictor *p, const cnn_dataset *d, const uint32_t *idx, int n,
                               int invert);

/* Runs the network (inference mode) on the first n images of the input buffer,
 * 1 <= n <= max_batch. */
CNN_API int cnn_predictor_run(cnn_predictor *p, int n, cnn_error *err);

/* Class probabilities of the last run, (n, classes). */
CNN_API const float *cnn_predictor_probs(const cnn_predictor *p);

/* The min(k, n) most probable classes of probs[0..n), most probable first,
 * written to classes[0..min(k, n)); equal probabilities keep the lower class
 * first, NaN ranks last.  Returns how many were written (0 when k or n < 1). */
CNN_API int cnn_top_k(const float *probs, int n, int k, int *classes);

/* ------------------------------------------------------------------------ */
/* Class names and output lines                                              */
/* ------------------------------------------------------------------------ */

/* Reads one class name per line (a final newline is optional; "\r\n" endings
 * are accepted).  The file must hold exactly nclasses non-empty names without
 * tabs; errors name the file and line.  *names is a NULL-terminated array the
 * caller frees with cnn_class_names_free. */
CNN_API int cnn_class_names_load(const char *path, int nclasses, char ***names, cnn_error *err);
CNN_API void cnn_class_names_free(char **names);


typedef struct cnn_pred_format {
    int json;                  /* JSON line instead of TSV */
    int top;                   /* classes listed, >= 1 */
    int probs;                 /* also every class probability, in class order */
    const char *const *names;  /* class names, or NULL for indices */
} cnn_pred_format;

/* Appends one output line (ending in '\n') for a prediction: the source (a file
 * name; or, when source is NULL, the record index), then the top f->top
 * classes with their probabilities, then all probabilities when f->probs.
 * label >= 0 adds the true class.
 *   TSV:  source  class  prob  [class2  prob2 ...]  [p0  p1 ...]  [label]
 *         (tab, newline, carriage return and backslash in a file name are
 *         written as \t, \n, \r and \\)
 *   JSON: {"source": "a.png" | 17, "class": 3, "prob": 0.98,
 *          "top": [{"class": 3, "prob": 0.98}, ...],  (when top > 1)
 *          "probs": [...], "label": 2}                  (when asked)
 * Probabilities are printed with 9 significant digits (exact for float32). */
CNN_API void cnn_format_prediction(cnn_strbuf *b, const cnn_pred_format *f, const char *source,
                           size_t index, const float *probs, int nclasses, int label);

/* ------------------------------------------------------------------------ */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------ */

typedef struct cnn_eval {
    int nclasses;
    size_t n;          /* predictions counted */
    size_t correct;
    size_t *confusion; /* (nclasses, nclasses): [true class][predicted class] */
} cnn_eval;

/* z for a two-sided 95% interval: the 0.975 quantile of the standard normal. */
#define CNN_Z95 1.959963984540054

CNN_API int cnn_eval_new(int nclasses, cnn_eval **out, cnn_error *err);
CNN_API void cnn_eval_free(cnn_eval *e);

/* Counts one prediction; both classes must be in [0, nclasses) (else -1 and
 * nothing is counted). */
CNN_API int cnn_eval_add(cnn_eval *e, int label, int pred);

/* correct / n, or NaN when n is 0. */
CNN_API double cnn_eval_accuracy(const cnn_eval *e);

/* The Wilson score interval for k successes in n trials at normal quantile z:
 * with p = k/n, centre (p + z^2/2n) / (1 + z^2/n) and half-width
 * z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).  Unlike the normal
 * approximation it stays inside [0, 1] and is not empty at k = 0 or k = n.
 * n = 0 gives [0, 1]. */
CNN_API void cnn_wilson_interval(size_t k, size_t n, double z, double *lo, double *hi);

/* Of the images predicted as class c, the fraction that are c (NaN when none
 * was predicted as c); of the images of class c, the fraction predicted as c
 * (NaN when there are none); their harmonic mean (NaN when either is NaN, 0
 * when both are 0). */
CNN_API double cnn_eval_precision(const cnn_eval *e, int c);
CNN_API double cnn_eval_recall(const cnn_eval *e, int c);
CNN_API double cnn_eval_f1(const cnn_eval *e, int c);

/* A readable report: accuracy with its 95% Wilson interval, a per-class table
 * (precision, recall, F1, images of the class, images predicted as it; "-" for
 * undefined figures) and the confusion matrix (rows: true class, columns:
 * predicted).  names may be NULL (class indices).  NULL on out-of-memory. */
CNN_API char *cnn_eval_text(const cnn_eval *e, const char *const *names);

/* The same as one JSON object on one line, ending in '\n':
 * {"images": N, "correct": K, "accuracy": A,
 *  "accuracy_ci95": {"method": "wilson", "low": L, "high": H},
 *  "classes": [{"class": 0 | "name", "precision": P | null, "recall": R | null,
 *               "f1": F | null, "support": S, "predicted": Q}, ...],
 *  "confusion": [[...], ...]}   (rows: true class, columns: predicted) */
CNN_API char *cnn_eval_json(const cnn_eval *e, const char *const *names);

CNN_END_DECLS

#endif
