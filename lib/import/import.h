/* Importing trained Keras and TensorFlow.js models: architecture and weights
 * in, our model description and parameter vector (PyTorch's layout) out.
 *
 * Forms read, told apart by content:
 *   - Keras 2 / tf.keras HDF5 model (model.save('m.h5')): the architecture in
 *     the root attribute model_config, the weights under model_weights/;
 *   - Keras 2 HDF5 weights (save_weights('w.h5')): layer groups at the root,
 *     with an architecture given apart;
 *   - Keras 3 archive (.keras): a zip of config.json and model.weights.h5;
 *   - Keras 3 weights (.weights.h5): layers/<name>/vars/<i>, with an
 *     architecture given apart;
 *   - TensorFlow.js layers model (model.json + binary weight shards).
 * The architecture goes through libcnn's one model loader (our format or any
 * Keras to_json() form); the importer itself only moves numbers: conv kernels
 * (kh, kw, in, out) -> (out, in, kh, kw), dense kernels (in, out) -> (out, in),
 * and, after a Flatten of a (H, W, C) map, the rows of what reads the flat
 * vector from Keras' (h, w, c) order into ours (c, h, w).
 *
 * HDF5 and libzip are used here only: this module is linked into cnn-import,
 * not into libcnn. */
#ifndef CNN_IMPORT_H
#define CNN_IMPORT_H

#include "error.h"
#include "model.h"

typedef struct cnn_import {
    cnn_model *model;
    float *params;   /* model->nparams floats, our layout */
    char form[160];  /* "Keras 2 HDF5 model (keras_version 2.13.1)", ... */
    char **inputs;   /* the other files read (TF.js weight shards) */
    int ninputs;
} cnn_import;

/* Reads `path` (any form above) and, for the weights-only forms, the
 * architecture at arch_path (may be NULL otherwise; when given for a form that
 * carries its own architecture, both must describe the same model).  Every
 * weight is checked for presence, shape and finiteness, and every weight in
 * the file must be used.  On success fills *out (free with cnn_import_free). */
int cnn_import_load(const char *path, const char *arch_path, cnn_import *out, cnn_error *err);
void cnn_import_free(cnn_import *im);

#endif
