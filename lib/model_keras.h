/* Internal: the Keras front end.  A Keras model.to_json() export of a
 * Sequential CNN is translated, one way, into a model description in our own
 * JSON format, which the loader (model.c) then reads like any other; nothing
 * here calls back into the loader. */
#ifndef CNN_MODEL_KERAS_H
#define CNN_MODEL_KERAS_H

#include <cjson/cJSON.h>

#include "error.h"

/* Where each translated layer came from, for the loader's messages:
 * "config.layers[3].config". */
typedef char cnn_keras_path[256];

typedef struct cnn_keras_model {
    cJSON *ours;           /* {"name", "input_shape", "layers": [{"type", ...}]} */
    const char *format;    /* "keras-2.2", "tf.keras-2" or "keras-3" */
    cnn_keras_path *paths; /* one per element of ours.layers */
} cnn_keras_model;

/* 1 when root looks like a Keras model.to_json() export. */
int cnn_keras_detect(const cJSON *root);

/* Translates root into *k (freed with cnn_keras_free, also after a failure).
 * Errors name the file and the place in the export. */
int cnn_keras_translate(const cJSON *root, const char *file, cnn_keras_model *k,
                        cnn_error *err);
void cnn_keras_free(cnn_keras_model *k);

#endif
