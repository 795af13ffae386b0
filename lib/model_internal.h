/* Internal to the model loader (model.c): the cnn_cfg view of a JSON object
 * and its field readers.  cJSON never leaves the loader and the Keras front
 * end (model_keras.h). */
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

#endif
