/* Internal to the model loader (model.c, model_keras.c): the cnn_cfg view of a
 * JSON object and the steps shared by our format and the Keras importers.
 * cJSON never leaves these files. */
#ifndef CNN_MODEL_INTERNAL_H
#define CNN_MODEL_INTERNAL_H

#include <cjson/cJSON.h>

#include "model.h"

struct cnn_cfg {
    const cJSON *obj;  /* the layer's JSON object (or its Keras "config") */
    const char *file;  /* for messages */
    char path[256];    /* "layers[2]" or "config.layers[3].config" */
    unsigned char *seen; /* strict mode: one flag per member, set when read */
};

/* Appends a layer of kind `type` configured from cfg (name, activation and the
 * kind's own fields).  In strict mode (cfg->seen non-NULL) every member of the
 * object must be one the kind reads; `skip` lists members the caller handled. */
int cnn_model_add_layer(cnn_model *m, const char *type, cnn_cfg *cfg, cnn_error *err);

/* After the layers are added: automatic names, uniqueness, shape inference,
 * the softmax-last rule, parameter offsets and totals.  Messages start with
 * the file name. */
int cnn_model_finish(cnn_model *m, const char *file, cnn_error *err);

/* 1 when root looks like a Keras model.to_json() export. */
int cnn_keras_detect(const cJSON *root);

/* Fills m (name, input, layers) from a Keras Sequential export. */
int cnn_keras_import(const cJSON *root, const char *file, cnn_model *m, cnn_error *err);

#endif
