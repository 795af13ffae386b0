/* Importing Keras model.to_json() exports of Sequential CNNs.
 *
 * Three shapes of file exist in the wild:
 *   Keras <= 2.2   {"class_name": "Sequential", "config": [ {class_name, config}, ... ]}
 *                  with batch_input_shape in the first layer's config;
 *   tf.keras 2.x   {"class_name": "Sequential", "config": {"name", "layers": [...]}},
 *                  usually starting with an InputLayer carrying batch_input_shape;
 *   Keras 3        the same nesting, plus "module" / "registered_name" wrappers,
 *                  "batch_shape" in the InputLayer and dtype policy objects.
 * Each layer's "config" object is handed to the layer kind's own reader in
 * non-strict mode (Keras writes initializers, regularizers, dtype, trainable,
 * which we ignore). */
#include "model_internal.h"
#include "layer.h"

#include <math.h>
#include <stdio.h>
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

/* Adds an Activation layer for Keras' ReLU / Softmax layer classes, whose
 * defaults are exactly our activations (other settings are refused). */
static int add_activation_class(cnn_model *m, const char *cls, const char *act,
                                const cJSON *cfg, const char *file, const char *path,
                                cnn_error *err)
{
    if (strcmp(cls, "ReLU") == 0) {
        static const char *const keys[] = {"max_value", "negative_slope", "threshold"};
        for (int k = 0; k < 3; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[k]);
            if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
                return cnn_errorf(err, "%s: %s.%s (%s): ReLU with %s is not supported (only "
                                       "the plain max(x, 0))", file, path, keys[k],
                                  layer_label(cfg), keys[k]);
        }
    } else {
        const cJSON *axis = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
        if (axis && !cJSON_IsNull(axis) && !(cJSON_IsNumber(axis) && axis->valuedouble == -1))
            return cnn_errorf(err, "%s: %s.axis (%s): Softmax over an axis other than -1 is "
                                   "not supported", file, path, layer_label(cfg));
    }
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return cnn_errorf(err, "%s: out of memory", file);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (cJSON_IsString(name) && !cJSON_AddStringToObject(obj, "name", name->valuestring)) {
        cJSON_Delete(obj);
        return cnn_errorf(err, "%s: out of memory", file);
    }
    if (!cJSON_AddStringToObject(obj, "activation", act)) {
        cJSON_Delete(obj);
        return cnn_errorf(err, "%s: out of memory", file);
    }
    cnn_cfg c = {.obj = obj, .file = file};
    snprintf(c.path, sizeof c.path, "%s", path);
    const cnn_layer_ops *kind = activation_kind();
    int rc = kind ? cnn_model_add_layer(m, kind->type, &c, err)
                  : cnn_errorf(err, "%s: %s: no layer kind for an activation", file, path);
    cJSON_Delete(obj);
    return rc;
}

int cnn_keras_import(const cJSON *root, const char *file, cnn_model *m, cnn_error *err)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "class_name");
    if (strcmp(cls->valuestring, "Sequential") != 0)
        return cnn_errorf(err, "%s: class_name: only Keras Sequential models can be imported, "
                               "found \"%.60s\"", file, cls->valuestring);
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *layers;
    const char *prefix;
    if (cJSON_IsArray(config)) {
        layers = config;
        prefix = "config";
        m->format = "keras-2.2";
    } else if (cJSON_IsObject(config)) {
        layers = cJSON_GetObjectItemCaseSensitive(config, "layers");
        if (!cJSON_IsArray(layers))
            return cnn_errorf(err, "%s: config.layers: %s (expected the list of layers)", file,
                              layers ? "not a list" : "missing");
        prefix = "config.layers";
        m->format = is_keras3(root, layers) ? "keras-3" : "tf.keras-2";
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(config, "name");
        if (cJSON_IsString(name) && name->valuestring[0] &&
            strlen(name->valuestring) < CNN_NAME_MAX)
            snprintf(m->name, sizeof m->name, "%s", name->valuestring);
    } else {
        return cnn_errorf(err, "%s: config: expected the model's configuration object or layer "
                               "list", file);
    }

    int have_input = 0, i = 0;
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
            int rc = config_input_shape(lcfg, file, cpath, &m->input, err);
            if (rc < 0) return -1;
            if (rc == 0)
                return cnn_errorf(err, "%s: %s (%s): InputLayer without batch_input_shape or "
                                       "batch_shape", file, path, layer_label(lcfg));
            have_input = 1;
            i++;
            continue;
        }
        if (!have_input) {
            int rc = config_input_shape(lcfg, file, cpath, &m->input, err);
            if (rc < 0) return -1;
            if (rc == 0) {
                /* Keras 3 records the shape a layer was built with. */
                const cJSON *bc = cJSON_GetObjectItemCaseSensitive(l, "build_config");
                const cJSON *is = bc ? cJSON_GetObjectItemCaseSensitive(bc, "input_shape") : NULL;
                char bpath[300];
                snprintf(bpath, sizeof bpath, "%s.build_config.input_shape", path);
                if (!is || cJSON_IsNull(is))
                    return cnn_errorf(err, "%s: %s (%s): no input shape (expected an InputLayer "
                                           "or batch_input_shape in the first layer)", file, path,
                                      layer_label(lcfg));
                if (read_batch_shape(is, file, bpath, &m->input, err)) return -1;
            }
            have_input = 1;
        }
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(lcfg, "data_format");
        if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "channels_first") == 0)
            return cnn_errorf(err, "%s: %s.data_format (%s): channels_first is not supported; "
                                   "build the Keras model with data_format=\"channels_last\" "
                                   "(the default)", file, cpath, layer_label(lcfg));
        const char *act = NULL;
        for (size_t k = 0; k < sizeof activation_classes / sizeof *activation_classes; k++)
            if (strcmp(kind, activation_classes[k].cls) == 0) act = activation_classes[k].activation;
        if (act) {
            if (add_activation_class(m, kind, act, lcfg, file, cpath, err)) return -1;
        } else {
            if (strcmp(kind, "InputLayer") == 0 || !cnn_layer_kind(kind))
                return cnn_errorf(err, "%s: %s (%s): Keras layer class %.60s is not supported "
                                       "(supported: %s)", file, path, layer_label(lcfg), kind,
                                  supported());
            cnn_cfg c = {.obj = lcfg, .file = file};
            snprintf(c.path, sizeof c.path, "%s", cpath);
            if (cnn_model_add_layer(m, kind, &c, err)) return -1;
        }
        i++;
    }
    if (!have_input)
        return cnn_errorf(err, "%s: %s: the model has no layers", file, prefix);
    return 0;
}
