/* Internal to the model loader (model.c, model_keras.c): the cnn_cfg view of a
 * JSON object and the steps shared by our format and the Keras importers.
 * cJSON never leaves these files. */
#ifndef CNN_MODEL_INTERNAL_H
#define CNN_MODEL_INTERNAL_H

#include <cjson/cJSON.h>

#include "model.h"

typedef struct cnn_cfg {
    const cJSON *obj;  /* the layer's JSON object (or its Keras "config") */
    const char *file;  /* for messages */
    char path[256];    /* "layers[2]" or "config.layers[3].config" */
    unsigned char *seen; /* strict mode: one flag per member, set when read */
} cnn_cfg;

/* ---- field readers ---------------------------------------------------------- */

/* Each getter treats an absent field or JSON null as "use the default"; a
 * required field (def CNN_REQUIRED) that is absent, a wrong type or an
 * out-of-range value is an error naming the field's path (e.g.
 * "layers[2].kernel_size").  min is the smallest accepted value. */
int cnn_cfg_int(const cnn_cfg *c, const char *key, int def, int min, int *out, cnn_error *err);
/* An int or a [height, width] pair; def[0] == CNN_REQUIRED makes it required.
 * If def is NULL and the field is absent, out is left untouched. */
int cnn_cfg_pair(const cnn_cfg *c, const char *key, const int *def, int min, int out[2],
                 cnn_error *err);
int cnn_cfg_float(const cnn_cfg *c, const char *key, double def, double lo, double hi,
                  float *out, cnn_error *err);
int cnn_cfg_bool(const cnn_cfg *c, const char *key, int def, int *out, cnn_error *err);
/* One of the NULL-terminated names; out gets its index. */
int cnn_cfg_enum(const cnn_cfg *c, const char *key, const char *const *names, int def,
                 int *out, cnn_error *err);
/* 1 when the field is present and not null. */
int cnn_cfg_has(const cnn_cfg *c, const char *key);
/* Formats the path of a field for a message ("layers[2].pool_size"). */
const char *cnn_cfg_path(const cnn_cfg *c, const char *key, char *buf, size_t n);

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
