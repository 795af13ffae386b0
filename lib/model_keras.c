/* Importing Keras model.to_json() exports of Sequential CNNs.
 *
 * Three shapes of file exist in the wild:
 *   Keras <= 2.2   {"class_name": "Sequential", "config": [ {class_name, config}, ... ]}
 *                  with batch_input_shape in the first layer's config;
 *   tf.keras 2.x   {"class_name": "Sequential", "config": {"name", "layers": [...]}},
 *                  usually starting with an InputLayer carrying batch_input_shape;
 *   Keras 3        the same nesting, plus "module" / "registered_name" wrappers,
 *                  "batch_shape" in the InputLayer and dtype policy objects.
 * The import is a one-way translation: the export becomes a model description
 * in our own format, which the one loader (model.c) then reads.  Each layer
 * keeps the members of its "config" that its kind's field table knows (Keras
 * also writes initializers, regularizers, dtype, trainable, which we ignore),
 * so the loader checks every value exactly as in our format. */
#include "model_keras.h"

#include "layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keras layer classes that are not kinds of ours: their settings are refused
 * unless they are exactly one of our activations, and they become a layer of
 * the kind with a required "activation" field. */
static const struct {
    const char *cls, *activation;
} activation_classes[] = {{"ReLU", "relu"}, {"Softmax", "softmax"}};

/* The Keras classes we read, for messages: InputLayer, every registered kind
 * (each is named by its Keras class) and the activation classes. */
static const char *supported(void)
{
    static char list[1024];
    if (!list[0]) {
        size_t n = (size_t)snprintf(list, sizeof list, "InputLayer");
        for (int i = 0; cnn_layer_kinds[i] && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, ", %s", cnn_layer_kinds[i]->type);
        for (size_t i = 0; i < sizeof activation_classes / sizeof *activation_classes; i++)
            if (n < sizeof list)
                n += (size_t)snprintf(list + n, sizeof list - n, ", %s",
                                      activation_classes[i].cls);
    }
    return list;
}

/* The kind that holds nothing but an activation (Activation). */
static const cnn_layer_ops *activation_kind(void)
{
    for (int i = 0; cnn_layer_kinds[i]; i++) {
        const cnn_field *f = cnn_layer_kinds[i]->fields;
        if (f && f[0].key && !f[1].key && strcmp(f[0].key, "activation") == 0)
            return cnn_layer_kinds[i];
    }
    return NULL;
}

int cnn_keras_detect(const cJSON *root)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "class_name")) &&
           cJSON_GetObjectItemCaseSensitive(root, "config") != NULL;
}

/* A JSON number that is a positive integer. */
static int pos_int(const cJSON *v, int *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < 1 || d > 1e9) return 0;
    *out = (int)d;
    return 1;
}

/* Reads [null, height, width, channels] (batch_input_shape / batch_shape).
 * tf.keras' SavedModel metadata writes tuples as {"class_name": "__tuple__",
 * "items": [...]}; that form is accepted too. */
static int read_batch_shape(const cJSON *v, const char *file, const char *path, cnn_shape *s,
                            cnn_error *err)
{
    if (cJSON_IsObject(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(v, "items");
        if (items) v = items;
    }
    int d[3];
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4 ||
        !(cJSON_IsNull(v->child) || pos_int(v->child, &d[0])) ||
        !pos_int(v->child->next, &d[0]) || !pos_int(v->child->next->next, &d[1]) ||
        !pos_int(v->child->next->next->next, &d[2])) {
        char *found = cJSON_PrintUnformatted(v);
        cnn_errorf(err, "%s: %s: expected [null, height, width, channels] with positive sizes, "
                        "found %.60s", file, path, found ? found : "?");
        cJSON_free(found);
        return -1;
    }
    if ((double)d[0] * d[1] * d[2] > (double)CNN_MODEL_MAX_ACTIVATION)
        return cnn_errorf(err, "%s: %s: %dx%dx%d exceeds the limit of %zu values per image",
                          file, path, d[0], d[1], d[2], (size_t)CNN_MODEL_MAX_ACTIVATION);
    *s = (cnn_shape){.h = d[0], .w = d[1], .c = d[2], .flat = 0};
    return 0;
}

/* Finds the input shape in a layer's config (batch_input_shape in Keras 2,
 * batch_shape in Keras 3).  Returns 1 found, 0 absent, -1 error. */
static int config_input_shape(const cJSON *cfg, const char *file, const char *path,
                              cnn_shape *s, cnn_error *err)
{
    static const char *const keys[] = {"batch_input_shape", "batch_shape"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[k]);
        if (v && !cJSON_IsNull(v)) {
            char p[300];
            snprintf(p, sizeof p, "%s.%s", path, keys[k]);
            return read_batch_shape(v, file, p, s, err) ? -1 : 1;
        }
    }
    return 0;
}

static const char *layer_label(const cJSON *cfg)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    return cJSON_IsString(name) ? name->valuestring : "unnamed";
}

/* True when the export carries Keras 3's serialization wrappers. */
static int is_keras3(const cJSON *root, const cJSON *layers)
{
    if (cJSON_GetObjectItemCaseSensitive(root, "module") ||
        cJSON_GetObjectItemCaseSensitive(root, "registered_name"))
        return 1;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
        if (cJSON_GetObjectItemCaseSensitive(l, "module") ||
            cJSON_GetObjectItemCaseSensitive(l, "registered_name"))
            return 1;
    return 0;
}

/* Our layer for Keras' ReLU / Softmax layer classes, whose defaults are
 * exactly our activations (other settings are refused): the kind that holds
 * only an activation. */
static cJSON *activation_class(const char *cls, const char *act, const cJSON *cfg,
                               const char *file, const char *path, cnn_error *err)
{
    if (strcmp(cls, "ReLU") == 0) {
        static const char *const keys[] = {"max_value", "negative_slope", "threshold"};
        for (int k = 0; k < 3; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[k]);
            if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0)) {
                cnn_errorf(err, "%s: %s.%s (%s): ReLU with %s is not supported (only the plain "
                                "max(x, 0))", file, path, keys[k], layer_label(cfg), keys[k]);
                return NULL;
            }
        }
    } else {
        const cJSON *axis = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
        if (axis && !cJSON_IsNull(axis) && !(cJSON_IsNumber(axis) && axis->valuedouble == -1)) {
            cnn_errorf(err, "%s: %s.axis (%s): Softmax over an axis other than -1 is not "
                            "supported", file, path, layer_label(cfg));
            return NULL;
        }
    }
    const cnn_layer_ops *kind = activation_kind();
    if (!kind) {
        cnn_errorf(err, "%s: %s: no layer kind for an activation", file, path);
        return NULL;
    }
    cJSON *obj = cJSON_CreateObject();
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (!obj || !cJSON_AddStringToObject(obj, "type", kind->type) ||
        (cJSON_IsString(name) && !cJSON_AddStringToObject(obj, "name", name->valuestring)) ||
        !cJSON_AddStringToObject(obj, "activation", act)) {
        cJSON_Delete(obj);
        cnn_errorf(err, "%s: out of memory", file);
        return NULL;
    }
    return obj;
}

/* Our layer for a Keras layer of one of our kinds: its type, name and the
 * config members the kind's field table knows. */
static cJSON *kind_layer(const cnn_layer_ops *ops, const cJSON *cfg, const char *file,
                         cnn_error *err)
{
    cJSON *obj = cJSON_CreateObject();
    int ok = obj && cJSON_AddStringToObject(obj, "type", ops->type);
    const cJSON *it;
    cJSON_ArrayForEach(it, cfg) {
        if (!ok) break;
        if (!it->string || (strcmp(it->string, "name") != 0 && !cnn_layer_field(ops, it->string)))
            continue;
        cJSON *copy = cJSON_Duplicate(it, 1);
        ok = copy && cJSON_AddItemToObject(obj, it->string, copy);
        if (!ok) cJSON_Delete(copy);
    }
    if (!ok) {
        cJSON_Delete(obj);
        cnn_errorf(err, "%s: out of memory", file);
        return NULL;
    }
    return obj;
}

void cnn_keras_free(cnn_keras_model *k)
{
    if (!k) return;
    cJSON_Delete(k->ours);
    free(k->paths);
    *k = (cnn_keras_model){0};
}

/* The layer list of a Sequential model in any of Keras' layouts (*prefix: its
 * path for messages); sets k->format and copies the model's name. */
static int find_layers(const cJSON *root, const char *file, cnn_keras_model *k,
                       const cJSON **layers, const char **prefix, cnn_error *err)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "class_name");
    if (strcmp(cls->valuestring, "Sequential") != 0)
        return cnn_errorf(err, "%s: class_name: only Keras Sequential models can be imported, "
                               "found \"%.60s\"", file, cls->valuestring);
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (cJSON_IsArray(config)) {
        *layers = config;
        *prefix = "config";
        k->format = "keras-2.2";
    } else if (cJSON_IsObject(config)) {
        *layers = cJSON_GetObjectItemCaseSensitive(config, "layers");
        if (!cJSON_IsArray(*layers))
            return cnn_errorf(err, "%s: config.layers: %s (expected the list of layers)", file,
                              *layers ? "not a list" : "missing");
        *prefix = "config.layers";
        k->format = is_keras3(root, *layers) ? "keras-3" : "tf.keras-2";
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(config, "name");
        if (cJSON_IsString(name) && name->valuestring[0] &&
            strlen(name->valuestring) < CNN_NAME_MAX &&
            !cJSON_AddStringToObject(k->ours, "name", name->valuestring))
            return cnn_errorf(err, "%s: out of memory", file);
    } else {
        return cnn_errorf(err, "%s: config: expected the model's configuration object or layer "
                               "list", file);
    }
    return 0;
}

/* The input shape from the first layer that is not an InputLayer: its
 * batch_input_shape/batch_shape, or Keras 3's build_config.input_shape. */
static int first_layer_input(const cJSON *l, const cJSON *lcfg, const char *file,
                             const char *path, const char *cpath, cnn_shape *input,
                             cnn_error *err)
{
    int rc = config_input_shape(lcfg, file, cpath, input, err);
    if (rc < 0) return -1;
    if (rc > 0) return 0;
    /* Keras 3 records the shape a layer was built with. */
    const cJSON *bc = cJSON_GetObjectItemCaseSensitive(l, "build_config");
    const cJSON *is = bc ? cJSON_GetObjectItemCaseSensitive(bc, "input_shape") : NULL;
    char bpath[300];
    snprintf(bpath, sizeof bpath, "%s.build_config.input_shape", path);
    if (!is || cJSON_IsNull(is))
        return cnn_errorf(err, "%s: %s (%s): no input shape (expected an InputLayer "
                               "or batch_input_shape in the first layer)", file, path,
                          layer_label(lcfg));
    return read_batch_shape(is, file, bpath, input, err);
}

/* Our layer for the Keras layer of class `kind` with config lcfg, or NULL. */
static cJSON *translate_layer(const char *kind, const cJSON *lcfg, const char *file,
                              const char *path, const char *cpath, cnn_error *err)
{
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(lcfg, "data_format");
    if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "channels_first") == 0) {
        cnn_errorf(err, "%s: %s.data_format (%s): channels_first is not supported; build the "
                        "Keras model with data_format=\"channels_last\" (the default)", file,
                   cpath, layer_label(lcfg));
        return NULL;
    }
    const char *act = NULL;
    for (size_t c = 0; c < sizeof activation_classes / sizeof *activation_classes; c++)
        if (strcmp(kind, activation_classes[c].cls) == 0) act = activation_classes[c].activation;
    if (act) return activation_class(kind, act, lcfg, file, cpath, err);
    const cnn_layer_ops *ops = cnn_layer_kind(kind);
    if (!ops) {
        cnn_errorf(err, "%s: %s (%s): Keras layer class %.60s is not supported (supported: %s)",
                   file, path, layer_label(lcfg), kind, supported());
        return NULL;
    }
    return kind_layer(ops, lcfg, file, err);
}

/* Fills k from root; on failure the caller frees what k holds. */
static int translate(const cJSON *root, const char *file, cnn_keras_model *k, cnn_error *err)
{
    const cJSON *layers = NULL;
    const char *prefix = NULL;
    if (find_layers(root, file, k, &layers, &prefix, err)) return -1;
    int have_input = 0, i = 0;
    cnn_shape input = {0};
    cJSON *ours = cJSON_AddArrayToObject(k->ours, "layers");
    k->paths = calloc((size_t)cJSON_GetArraySize(layers) + 1, sizeof *k->paths);
    if (!ours || !k->paths) return cnn_errorf(err, "%s: out of memory", file);
    const cJSON *l;
    cJSON_ArrayForEach(l, layers) {
        char path[256];
        snprintf(path, sizeof path, "%s[%d]", prefix, i);
        const cJSON *lcls = cJSON_GetObjectItemCaseSensitive(l, "class_name");
        const cJSON *lcfg = cJSON_GetObjectItemCaseSensitive(l, "config");
        if (!cJSON_IsObject(l) || !cJSON_IsString(lcls) || !cJSON_IsObject(lcfg))
            return cnn_errorf(err, "%s: %s: expected a layer {\"class_name\": ..., \"config\": "
                                   "{...}}", file, path);
        const char *kind = lcls->valuestring;
        char cpath[300];
        snprintf(cpath, sizeof cpath, "%s.config", path);
        if (strcmp(kind, "InputLayer") == 0) {
            if (i != 0)
                return cnn_errorf(err, "%s: %s (%s): InputLayer is only allowed first", file,
                                  path, layer_label(lcfg));
            int rc = config_input_shape(lcfg, file, cpath, &input, err);
            if (rc < 0) return -1;
            if (rc == 0)
                return cnn_errorf(err, "%s: %s (%s): InputLayer without batch_input_shape or "
                                       "batch_shape", file, path, layer_label(lcfg));
            have_input = 1;
            i++;
            continue;
        }
        if (!have_input) {
            if (first_layer_input(l, lcfg, file, path, cpath, &input, err)) return -1;
            have_input = 1;
        }
        cJSON *layer = translate_layer(kind, lcfg, file, path, cpath, err);
        if (!layer) return -1;
        snprintf(k->paths[cJSON_GetArraySize(ours)], sizeof *k->paths, "%s", cpath);
        cJSON_AddItemToArray(ours, layer);
        i++;
    }
    if (!have_input)
        return cnn_errorf(err, "%s: %s: the model has no layers", file, prefix);
    int shape[3] = {input.h, input.w, input.c};
    if (!cJSON_AddItemToObject(k->ours, "input_shape", cJSON_CreateIntArray(shape, 3)))
        return cnn_errorf(err, "%s: out of memory", file);
    return 0;
}

int cnn_keras_translate(const cJSON *root, const char *file, cnn_keras_model *k,
                        cnn_error *err)
{
    *k = (cnn_keras_model){0};
    k->ours = cJSON_CreateObject();
    if (!k->ours) return cnn_errorf(err, "%s: out of memory", file);
    if (translate(root, file, k, err) == 0) return 0;
    cnn_keras_free(k);
    return -1;
}
