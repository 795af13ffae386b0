/* The model loader: our JSON format, the cnn_cfg field readers, shape
 * inference, and writing a model back as JSON.  A Keras export is first
 * translated into our format (model_keras.c) and then read like any other. */
#include "model_internal.h"

#include <ctype.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "load_limits.h"
#include "layer.h"
#include "model_keras.h"

const char *const cnn_optimizer_names[] = {"sgd", "adam", NULL};
const char *const cnn_loss_names[] = {"categorical_crossentropy", "mse", NULL};
const char *const cnn_schedule_names[] = {"constant", "step", "cosine", NULL};

/* ======================================================================== */
/* Field readers                                                            */
/* ======================================================================== */

const char *cnn_cfg_path(const cnn_cfg *c, const char *key, char *buf, size_t n)
{
    if (c->path[0])
        snprintf(buf, n, "%s.%s", c->path, key);
    else
        snprintf(buf, n, "%s", key);
    return buf;
}

/* Finds a member case-sensitively and marks it read. */
static const cJSON *cfg_get(const cnn_cfg *c, const char *key)
{
    int i = 0;
    for (const cJSON *it = c->obj ? c->obj->child : NULL; it; it = it->next, i++) {
        if (it->string && strcmp(it->string, key) == 0) {
            if (c->seen) c->seen[i] = 1;
            return cJSON_IsNull(it) ? NULL : it;
        }
    }
    return NULL;
}

/* A short rendering of a JSON value for "found ..." in messages. */
static const char *json_brief(const cJSON *v, char *buf, size_t n)
{
    /* cJSON prints an overflowing literal such as 1e999 as null. */
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
        snprintf(buf, n, "a number out of range (%s)", v->valuedouble > 0 ? "+inf" : "-inf");
        return buf;
    }
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        snprintf(buf, n, "?");
        return buf;
    }
    if (strlen(s) > 40)
        snprintf(buf, n, "%.37s...", s);
    else
        snprintf(buf, n, "%s", s);
    free(s);
    return buf;
}

static int cfg_bad(const cnn_cfg *c, const char *key, const cJSON *v, const char *expected,
                   cnn_error *err)
{
    char path[256], found[64];
    return cnn_errorf(err, "%s: %s: expected %s, found %s", c->file,
                      cnn_cfg_path(c, key, path, sizeof path), expected,
                      json_brief(v, found, sizeof found));
}

static int cfg_missing(const cnn_cfg *c, const char *key, const char *expected, cnn_error *err)
{
    char path[256];
    return cnn_errorf(err, "%s: %s: missing (expected %s)", c->file,
                      cnn_cfg_path(c, key, path, sizeof path), expected);
}

/* A JSON number that is an integer in [min, INT_MAX]. */
static int json_int(const cJSON *v, int min, int *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < min || d > INT_MAX) return 0;
    *out = (int)d;
    return 1;
}

int cnn_cfg_has(const cnn_cfg *c, const char *key)
{
    return cfg_get(c, key) != NULL;
}

int cnn_cfg_int(const cnn_cfg *c, const char *key, int def, int min, int *out, cnn_error *err)
{
    char expected[64];
    snprintf(expected, sizeof expected, "an integer >= %d", min);
    const cJSON *v = cfg_get(c, key);
    if (!v) {
        if (def == CNN_REQUIRED) return cfg_missing(c, key, expected, err);
        *out = def;
        return 0;
    }
    if (!json_int(v, min, out)) return cfg_bad(c, key, v, expected, err);
    return 0;
}

int cnn_cfg_pair(const cnn_cfg *c, const char *key, const int *def, int min, int out[2],
                 cnn_error *err)
{
    char expected[96];
    snprintf(expected, sizeof expected, "an integer >= %d or [height, width]", min);
    const cJSON *v = cfg_get(c, key);
    if (!v) {
        if (def && def[0] == CNN_REQUIRED) return cfg_missing(c, key, expected, err);
        if (def) {
            out[0] = def[0];
            out[1] = def[1];
        }
        return 0;
    }
    int a, b;
    if (json_int(v, min, &a)) {
        out[0] = out[1] = a;
        return 0;
    }
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 && json_int(v->child, min, &a) &&
        json_int(v->child->next, min, &b)) {
        out[0] = a;
        out[1] = b;
        return 0;
    }
    return cfg_bad(c, key, v, expected, err);
}

int cnn_cfg_float(const cnn_cfg *c, const char *key, double def, double lo, double hi,
                  float *out, cnn_error *err)
{
    char expected[96];
    snprintf(expected, sizeof expected, "a number in [%g, %g]", lo, hi);
    const cJSON *v = cfg_get(c, key);
    if (!v) {
        if (def == CNN_REQUIRED) return cfg_missing(c, key, expected, err);
        *out = (float)def;
        return 0;
    }
    /* Compared as the float it is stored as: a bound written by a tool (1e-12
     * becomes 9.99999996e-13) reads back. */
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(d) || d < -FLT_MAX || d > FLT_MAX || (float)d < (float)lo ||
        (float)d > (float)hi)
        return cfg_bad(c, key, v, expected, err);
    *out = (float)d;
    return 0;
}

int cnn_cfg_bool(const cnn_cfg *c, const char *key, int def, int *out, cnn_error *err)
{
    const cJSON *v = cfg_get(c, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) return cfg_bad(c, key, v, "true or false", err);
    *out = cJSON_IsTrue(v);
    return 0;
}

int cnn_cfg_enum(const cnn_cfg *c, const char *key, const char *const *names, int def,
                 int *out, cnn_error *err)
{
    char expected[256];
    size_t n = (size_t)snprintf(expected, sizeof expected, "one of");
    for (int i = 0; names[i] && n < sizeof expected; i++)
        n += (size_t)snprintf(expected + n, sizeof expected - n, "%s \"%s\"", i ? "," : "",
                              names[i]);
    const cJSON *v = cfg_get(c, key);
    if (!v) {
        if (def == CNN_REQUIRED) return cfg_missing(c, key, expected, err);
        *out = def;
        return 0;
    }
    if (cJSON_IsString(v))
        for (int i = 0; names[i]; i++)
            if (strcmp(names[i], v->valuestring) == 0) {
                *out = i;
                return 0;
            }
    return cfg_bad(c, key, v, expected, err);
}

/* An integer or a one-element list of one (Keras' "axis": -1 or [3]). */
static int cfg_axis(const cnn_cfg *c, const char *key, int def, int *out, cnn_error *err)
{
    const cJSON *v = cfg_get(c, key);
    if (!v) {
        *out = def;
        return 0;
    }
    const cJSON *a = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 ? v->child : v;
    if (!json_int(a, -4, out)) return cfg_bad(c, key, v, "an axis: an integer or [integer]", err);
    return 0;
}

/* Reads one field of the table into L (or into a scratch value when the
 * field is not kept). */
static int read_field(cnn_layer *L, const cnn_field *f, const cnn_cfg *cfg, cnn_error *err)
{
    union {
        int i[2];
        float x;
    } tmp = {{0, 0}};
    void *at = f->at == CNN_NOWHERE ? (void *)&tmp : (unsigned char *)L + f->at;
    int def = f->def == CNN_REQUIRED ? CNN_REQUIRED : (int)f->def;
    int rc = 0;
    switch (f->type) {
    case CNN_FIELD_INT:
        rc = cnn_cfg_int(cfg, f->key, def, (int)f->min, at, err);
        break;
    case CNN_FIELD_PAIR: {
        int pair[2] = {def, def};
        if (f->def_from) {
            const cnn_field *from = cnn_layer_field(L->ops, f->def_from);
            memcpy(pair, (unsigned char *)L + from->at, sizeof pair);
        }
        rc = cnn_cfg_pair(cfg, f->key, pair, (int)f->min, at, err);
        break;
    }
    case CNN_FIELD_FLOAT:
        rc = cnn_cfg_float(cfg, f->key, f->def, f->min, f->max, at, err);
        break;
    case CNN_FIELD_BOOL:
        rc = cnn_cfg_bool(cfg, f->key, def, at, err);
        break;
    case CNN_FIELD_ENUM:
        rc = cnn_cfg_enum(cfg, f->key, f->names, def, at, err);
        break;
    case CNN_FIELD_AXIS:
        rc = cfg_axis(cfg, f->key, def, at, err);
        break;
    }
    if (rc || !f->only) return rc;
    /* A field we accept only at its default. */
    int v[2];
    memcpy(v, at, f->type == CNN_FIELD_PAIR ? sizeof v : sizeof v[0]);
    if (v[0] != def || (f->type == CNN_FIELD_PAIR && v[1] != def)) {
        char path[256];
        return cnn_errorf(err, "%s: %s", cnn_cfg_path(cfg, f->key, path, sizeof path), f->only);
    }
    return 0;
}

/* ======================================================================== */
/* Building a model                                                         */
/* ======================================================================== */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CNN_NAME_MAX) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') return 0;
    return 1;
}

/* Appends a layer of kind `type` configured from cfg (name and the kind's
 * fields).  In strict mode (cfg->seen non-NULL) every member of the object
 * must be one the kind reads. */
static int add_layer(cnn_model *m, const char *type, cnn_cfg *cfg, cnn_error *err)
{
    const cnn_layer_ops *ops = cnn_layer_kind(type);
    if (!ops)
        return cnn_errorf(err, "%s: %s: unknown layer type \"%s\" (known: %s)", cfg->file,
                          cfg->path, type, cnn_layer_kind_list());
    if (m->nlayers >= CNN_MODEL_MAX_LAYERS)
        return cnn_errorf(err, "%s: more than %d layers", cfg->file, CNN_MODEL_MAX_LAYERS);
    cnn_layer *grown = realloc(m->layers, sizeof *grown * (size_t)(m->nlayers + 1));
    if (!grown) return cnn_errorf(err, "%s: out of memory", cfg->file);
    m->layers = grown;
    cnn_layer *L = &m->layers[m->nlayers];
    memset(L, 0, sizeof *L);
    L->ops = ops;
    L->index = m->nlayers;

    const cJSON *name = cfg_get(cfg, "name");
    if (name) {
        if (!cJSON_IsString(name) || !valid_name(name->valuestring))
            return cfg_bad(cfg, "name", name,
                           "a name of 1 to 127 letters, digits, '_' or '-'", err);
        snprintf(L->name, sizeof L->name, "%s", name->valuestring);
    }
    L->activation = CNN_ACT_LINEAR;
    for (const cnn_field *f = ops->fields; f && f->key; f++)
        if (read_field(L, f, cfg, err)) return -1;

    if (cfg->seen) {
        int i = 0;
        for (const cJSON *it = cfg->obj->child; it; it = it->next, i++)
            if (!cfg->seen[i] && strcmp(it->string, "type") != 0)
                return cnn_errorf(err, "%s: %s: unknown field \"%s\" for %s", cfg->file,
                                  cfg->path, it->string, type);
    }
    m->nlayers++;
    return 0;
}

static void shape_str(cnn_shape s, char *buf, size_t n)
{
    if (s.flat)
        snprintf(buf, n, "(None, %d)", s.c);
    else
        snprintf(buf, n, "(None, %d, %d, %d)", s.h, s.w, s.c);
}

/* After the layers are added: automatic names, uniqueness, shape inference,
 * the softmax-last rule, parameter offsets and totals.  Messages start with
 * the file name. */
static int finish(cnn_model *m, const char *file, cnn_error *err)
{
    if (m->nlayers == 0) return cnn_errorf(err, "%s: layers: the model has no layers", file);

    /* Keras' automatic names: the first unnamed conv2d is "conv2d", then "conv2d_1", ...
     * (explicitly named layers do not use up a number, as in Keras). */
    int counts[64] = {0};
    for (int i = 0; i < m->nlayers; i++) {
        cnn_layer *L = &m->layers[i];
        if (L->name[0]) continue;
        int kind = 0;
        while (cnn_layer_kinds[kind] != L->ops) kind++;
        if (counts[kind] == 0)
            snprintf(L->name, sizeof L->name, "%s", L->ops->auto_name);
        else
            snprintf(L->name, sizeof L->name, "%s_%d", L->ops->auto_name, counts[kind]);
        counts[kind]++;
    }
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(m->layers[i].name, m->layers[j].name) == 0)
                return cnn_errorf(err, "%s: layers[%d]: name \"%s\" is already used by layers[%d]",
                                  file, i, m->layers[i].name, j);

    cnn_shape s = m->input;
    size_t offset = 0;
    m->nparams = m->ntrainable = 0;
    for (int i = 0; i < m->nlayers; i++) {
        cnn_layer *L = &m->layers[i];
        if (L->activation == CNN_ACT_SOFTMAX && i != m->nlayers - 1)
            return cnn_errorf(err,
                              "%s: layers[%d] (%s): softmax is only allowed on the last layer",
                              file, i, L->name);
        if (L->kernel[0] > 65536 || L->kernel[1] > 65536 || L->stride[0] > 65536 ||
            L->stride[1] > 65536)
            return cnn_errorf(err, "%s: layers[%d] (%s): window sizes above 65536 are not "
                                   "supported", file, i, L->name);
        L->in = s;
        if (L->ops->infer(L, err)) return cnn_error_prefix(err, "%s: layers[%d] (%s)", file, i,
                                                           L->name);
        double size = (double)L->out.c * L->out.h * L->out.w;
        char shape[64];
        shape_str(L->out, shape, sizeof shape);
        if (size < 1)
            return cnn_errorf(err, "%s: layers[%d] (%s): output shape %s is empty", file, i,
                              L->name, shape);
        if (size > (double)CNN_MODEL_MAX_ACTIVATION)
            return cnn_errorf(err, "%s: layers[%d] (%s): output shape %s exceeds the limit of "
                                   "%zu values per image", file, i, L->name, shape,
                              (size_t)CNN_MODEL_MAX_ACTIVATION);
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(L, t);
        double np = 0;
        for (int k = 0; k < nt; k++) {
            double c = 1;
            for (int d = 0; d < t[k].rank; d++) c *= t[k].dims[d];
            np += c;
        }
        size_t max_params = cnn_limits_get()->max_params;
        if (np + (double)offset > (double)max_params)
            return cnn_errorf(err, "%s: layers[%d] (%s): the model exceeds the limit of %zu "
                                   "parameters", file, i, L->name, max_params);
        L->param_offset = offset;
        offset += L->nparams;
        m->nparams += L->nparams;
        m->ntrainable += L->ntrainable;
        s = L->out;
    }
    return 0;
}

/* ======================================================================== */
/* Our format                                                               */
/* ======================================================================== */

/* Checks an object's members against the allowed keys. */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *file,
                      const char *where, cnn_error *err)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; allowed[i]; i++) ok |= strcmp(it->string, allowed[i]) == 0;
        if (!ok) {
            char list[256];
            size_t n = 0;
            list[0] = 0;
            for (int i = 0; allowed[i] && n < sizeof list; i++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                                      allowed[i]);
            return cnn_errorf(err, "%s: %s%sunknown field \"%s\" (known: %s)", file, where,
                              where[0] ? ": " : "", it->string, list);
        }
    }
    return 0;
}

/* cnn_cfg_int with an upper bound too (the training settings' shared ranges). */
static int cfg_int_max(const cnn_cfg *c, const char *key, int def, int min, int max, int *out,
                       cnn_error *err)
{
    if (cnn_cfg_int(c, key, def, min, out, err)) return -1;
    if (*out <= max) return 0;
    char expected[64];
    snprintf(expected, sizeof expected, "an integer from %d to %d", min, max);
    return cfg_bad(c, key, cfg_get(c, key), expected, err);
}

static int parse_training(const cJSON *obj, const char *file, cnn_training *t, cnn_error *err)
{
    static const char *const keys[] = {"optimizer", "learning_rate", "momentum", "nesterov",
                                       "schedule", "step_epochs", "step_gamma", "batch_size",
                                       "epochs", "loss", "seed", NULL};
    if (!cJSON_IsObject(obj)) {
        char found[64];
        return cnn_errorf(err, "%s: training: expected an object, found %s", file,
                          json_brief(obj, found, sizeof found));
    }
    if (check_keys(obj, keys, file, "training", err)) return -1;
    cnn_cfg c = {.obj = obj, .file = file, .path = "training"};
    int seed;
    if (cnn_cfg_enum(&c, "optimizer", cnn_optimizer_names, t->optimizer, &t->optimizer, err) ||
        cnn_cfg_float(&c, "learning_rate", t->learning_rate, CNN_LR_MIN, CNN_LR_MAX,
                      &t->learning_rate, err) ||
        cnn_cfg_float(&c, "momentum", t->momentum, 0.0, CNN_MOMENTUM_MAX, &t->momentum, err) ||
        cnn_cfg_bool(&c, "nesterov", t->nesterov, &t->nesterov, err) ||
        cnn_cfg_enum(&c, "schedule", cnn_schedule_names, t->schedule, &t->schedule, err) ||
        cfg_int_max(&c, "step_epochs", t->step_epochs, 1, CNN_STEP_EPOCHS_MAX, &t->step_epochs,
                    err) ||
        cnn_cfg_float(&c, "step_gamma", t->step_gamma, CNN_STEP_GAMMA_MIN, CNN_STEP_GAMMA_MAX,
                      &t->step_gamma, err) ||
        cfg_int_max(&c, "batch_size", t->batch_size, 1, CNN_BATCH_MAX, &t->batch_size, err) ||
        cfg_int_max(&c, "epochs", t->epochs, 1, CNN_EPOCHS_MAX, &t->epochs, err) ||
        cnn_cfg_enum(&c, "loss", cnn_loss_names, t->loss, &t->loss, err) ||
        cfg_int_max(&c, "seed", (int)t->seed, 0, CNN_SEED_MAX, &seed, err))
        return -1;
    t->seed = (uint64_t)seed;
    return 0;
}

static int parse_input_shape(const cJSON *v, const char *file, const char *path, cnn_shape *s,
                             cnn_error *err)
{
    int d[3];
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3 || !json_int(v->child, 1, &d[0]) ||
        !json_int(v->child->next, 1, &d[1]) || !json_int(v->child->next->next, 1, &d[2])) {
        char found[64];
        if (!v) return cnn_errorf(err, "%s: %s: missing (expected [height, width, channels])",
                                  file, path);
        return cnn_errorf(err, "%s: %s: expected [height, width, channels] of positive "
                               "integers, found %s", file, path,
                          json_brief(v, found, sizeof found));
    }
    if ((double)d[0] * d[1] * d[2] > (double)CNN_MODEL_MAX_ACTIVATION)
        return cnn_errorf(err, "%s: %s: %dx%dx%d exceeds the limit of %zu values per image",
                          file, path, d[0], d[1], d[2], (size_t)CNN_MODEL_MAX_ACTIVATION);
    *s = (cnn_shape){.h = d[0], .w = d[1], .c = d[2], .flat = 0};
    return 0;
}

/* Reads our format.  paths, when non-NULL, names where each layer came from
 * (a translated Keras export), for messages; else "layers[i]". */
static int parse_ours(const cJSON *root, const char *file, const cnn_keras_path *paths,
                      cnn_model *m, cnn_error *err)
{
    static const char *const keys[] = {"name", "description", "input_shape", "layers",
                                       "training", NULL};
    if (check_keys(root, keys, file, "", err)) return -1;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (name) {
        if (!cJSON_IsString(name) || strlen(name->valuestring) >= CNN_NAME_MAX ||
            !name->valuestring[0]) {
            char found[64];
            return cnn_errorf(err, "%s: name: expected a string of 1 to 127 characters, "
                                   "found %s", file, json_brief(name, found, sizeof found));
        }
        snprintf(m->name, sizeof m->name, "%s", name->valuestring);
    }
    if (parse_input_shape(cJSON_GetObjectItemCaseSensitive(root, "input_shape"), file,
                          "input_shape", &m->input, err))
        return -1;
    const cJSON *training = cJSON_GetObjectItemCaseSensitive(root, "training");
    if (training && parse_training(training, file, &m->training, err)) return -1;

    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!layers) return cnn_errorf(err, "%s: layers: missing (expected a list of layers)", file);
    if (!cJSON_IsArray(layers)) {
        char found[64];
        return cnn_errorf(err, "%s: layers: expected a list of layers, found %s", file,
                          json_brief(layers, found, sizeof found));
    }
    int i = 0;
    for (const cJSON *l = layers->child; l; l = l->next, i++) {
        cnn_cfg cfg = {.obj = l, .file = file};
        if (paths)
            snprintf(cfg.path, sizeof cfg.path, "%s", paths[i]);
        else
            snprintf(cfg.path, sizeof cfg.path, "layers[%d]", i);
        if (!cJSON_IsObject(l)) {
            char found[64];
            return cnn_errorf(err, "%s: %s: expected a layer object, found %s", file, cfg.path,
                              json_brief(l, found, sizeof found));
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(l, "type");
        if (!cJSON_IsString(type)) {
            if (!type)
                return cnn_errorf(err, "%s: %s.type: missing (known types: %s)", file, cfg.path,
                                  cnn_layer_kind_list());
            return cfg_bad(&cfg, "type", type, "a layer type name", err);
        }
        cfg.seen = calloc((size_t)cJSON_GetArraySize(l) + 1, 1);
        if (!cfg.seen) return cnn_errorf(err, "%s: out of memory", file);
        int rc = add_layer(m, type->valuestring, &cfg, err);
        free(cfg.seen);
        if (rc) return -1;
    }
    return 0;
}

static void training_defaults(cnn_training *t)
{
    *t = (cnn_training){.optimizer = CNN_OPT_ADAM,
                        .learning_rate = 1e-3f,
                        .momentum = 0.9f,
                        .nesterov = 0,
                        .schedule = CNN_SCHED_CONSTANT,
                        .step_epochs = 10,
                        .step_gamma = 0.1f,
                        .batch_size = 64,
                        .epochs = 10,
                        .loss = CNN_LOSS_CROSSENTROPY,
                        .seed = 1};
}

/* ======================================================================== */
/* Checks on the whole JSON text before any field is read                   */
/* ======================================================================== */

/* A NUL written as \u0000 inside a string: cJSON would end the string there
 * (a name "a\u0000b" would silently become "a").  Found in the raw text. */
static int find_escaped_nul(const char *text, size_t len, const char *file, cnn_error *err)
{
    int in_str = 0, line = 1, col = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        col++;
        if (ch == '\n') line++, col = 0;
        if (!in_str) {
            in_str = ch == '"';
            continue;
        }
        if (ch == '"') {
            in_str = 0;
        } else if (ch == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
                return cnn_errorf(err, "%s: line %d, column %d: a string holds \\u0000 (a NUL "
                                       "character), which no name or value may contain",
                                  file, line, col);
            i++, col++; /* the escaped character */
        }
    }
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Duplicate keys in any object: an error naming the key and where (Python's
 * json and Keras keep the last, cJSON's lookups find the first; neither is
 * what the author meant).  Sorting each object's keys keeps it n log n. */
static int find_duplicate_keys(const cJSON *v, char *path, size_t cap, const char *file,
                               cnn_error *err)
{
    size_t plen = strlen(path);
    int n = 0;
    for (const cJSON *c = v->child; c; c = c->next) n++;
    if (cJSON_IsObject(v) && n > 1) {
        const cJSON **keys = malloc(sizeof *keys * (size_t)n);
        if (!keys) return cnn_errorf(err, "%s: out of memory", file);
        int k = 0, rc = 0;
        for (const cJSON *c = v->child; c; c = c->next) keys[k++] = c;
        qsort(keys, (size_t)n, sizeof *keys, cmp_key);
        for (int i = 1; i < n && rc == 0; i++)
            if (strcmp(keys[i - 1]->string, keys[i]->string) == 0)
                rc = cnn_errorf(err, "%s: %s%skey \"%s\" appears twice (keys must be unique)",
                                file, path, plen ? ": " : "", keys[i]->string);
        free(keys);
        if (rc) return -1;
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c)) continue;
        if (cJSON_IsArray(v))
            snprintf(path + plen, cap - plen, "[%d]", i);
        else
            snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", c->string);
        int rc = find_duplicate_keys(c, path, cap, file, err);
        path[plen] = '\0';
        if (rc) return -1;
    }
    return 0;
}

/* A name shown to users and stored in weights: valid UTF-8 without control
 * characters (C0, DEL, C1), so it cannot garble a terminal or a JSON line. */
static int printable_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0) return 0;
        uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
        for (int k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (p[k] & 0x3f);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 0;
        p += n + 1;
    }
    return 1;
}

int cnn_model_parse(const char *text, size_t len, const char *name, cnn_model **out,
                    cnn_error *err)
{
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end ? (size_t)(end - text) : 0;
        if (off > len) off = len;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        if (len == 0) return cnn_errorf(err, "%s: empty file (expected a JSON model)", name);
        return cnn_errorf(err, "%s: JSON syntax error at line %d, column %d", name, line, col);
    }
    /* Trailing non-space after the value is a syntax error too. */
    if (end) {
        const char *p = end;
        while ((size_t)(p - text) < len && isspace((unsigned char)*p)) p++;
        if ((size_t)(p - text) < len) {
            cJSON_Delete(root);
            return cnn_errorf(err, "%s: JSON syntax error: unexpected text after the model at "
                                   "byte %zu", name, (size_t)(p - text));
        }
    }
    char path[512] = "";
    if (find_escaped_nul(text, len, name, err) ||
        find_duplicate_keys(root, path, sizeof path, name, err)) {
        cJSON_Delete(root);
        return -1;
    }
    cnn_model *m = calloc(1, sizeof *m);
    if (!m) {
        cJSON_Delete(root);
        return cnn_errorf(err, "%s: out of memory", name);
    }
    snprintf(m->name, sizeof m->name, "sequential");
    training_defaults(&m->training);
    int rc;
    if (!cJSON_IsObject(root)) {
        rc = cnn_errorf(err, "%s: expected a JSON object describing a model", name);
    } else if (cnn_keras_detect(root)) {
        cnn_keras_model k;
        rc = cnn_keras_translate(root, name, &k, err);
        if (rc == 0) {
            rc = parse_ours(k.ours, name, (const cnn_keras_path *)k.paths, m, err);
            m->format = k.format;
        }
        cnn_keras_free(&k);
    } else {
        m->format = "cnn";
        rc = parse_ours(root, name, NULL, m, err);
    }
    cJSON_Delete(root);
    if (rc == 0 && !printable_utf8(m->name))
        rc = cnn_errorf(err, "%s: name: the model's name must be valid UTF-8 without control "
                             "characters", name);
    if (rc == 0) rc = finish(m, name, err);
    if (rc) {
        cnn_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int cnn_model_load(const char *path, cnn_model **out, cnn_error *err)
{
    char *text;
    size_t len;
    *out = NULL;
    if (cnn_read_file(path, CNN_MODEL_MAX_FILE, &text, &len, err)) return -1;
    int rc = cnn_model_parse(text, len, path, out, err);
    free(text);
    return rc;
}

void cnn_model_free(cnn_model *m)
{
    if (!m) return;
    free(m->layers);
    free(m);
}

cnn_model *cnn_model_copy(const cnn_model *m)
{
    /* the layers are the only memory a model owns (their ops and the format
     * name are static) */
    cnn_model *c = malloc(sizeof *c);
    if (!c) return NULL;
    *c = *m;
    c->layers = malloc(sizeof *c->layers * (size_t)(m->nlayers > 0 ? m->nlayers : 1));
    if (!c->layers) {
        free(c);
        return NULL;
    }
    if (m->nlayers > 0) memcpy(c->layers, m->layers, sizeof *c->layers * (size_t)m->nlayers);
    return c;
}

int cnn_model_find_layer(const cnn_model *m, const char *name)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return i;
    return -1;
}

/* ======================================================================== */
/* Writing back                                                             */
/* ======================================================================== */

/* A float as the shortest decimal that reads back as the same float ("0.001",
 * not "0.0010000000474974513"). */
static void add_float(cJSON *obj, const char *key, float v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", v);
    for (int prec = 1; prec < 9; prec++) {
        char shorter[32];
        snprintf(shorter, sizeof shorter, "%.*g", prec, v);
        if (strtof(shorter, NULL) == v) {
            memcpy(buf, shorter, sizeof buf);
            break;
        }
    }
    cJSON_AddNumberToObject(obj, key, strtod(buf, NULL));
}

static cJSON *int_pair(const int v[2])
{
    return cJSON_CreateIntArray(v, 2);
}

char *cnn_model_to_json(const cnn_model *m)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "name", m->name);
    int shape[3] = {m->input.h, m->input.w, m->input.c};
    cJSON_AddItemToObject(root, "input_shape", cJSON_CreateIntArray(shape, 3));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; layers && i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        const cnn_layer_ops *o = L->ops;
        cJSON *l = cJSON_CreateObject();
        if (!l) break;
        cJSON_AddItemToArray(layers, l);
        cJSON_AddStringToObject(l, "type", o->type);
        cJSON_AddStringToObject(l, "name", L->name);
        for (const cnn_field *f = o->fields; f && f->key; f++) {
            if (f->at == CNN_NOWHERE || f->input_only) continue;
            const void *at = (const unsigned char *)L + f->at;
            int v[2];
            float x;
            switch (f->type) {
            case CNN_FIELD_PAIR:
                memcpy(v, at, sizeof v);
                cJSON_AddItemToObject(l, f->key, int_pair(v));
                break;
            case CNN_FIELD_FLOAT:
                memcpy(&x, at, sizeof x);
                add_float(l, f->key, x);
                break;
            case CNN_FIELD_BOOL:
                cJSON_AddBoolToObject(l, f->key, cnn_field_int(f, L));
                break;
            case CNN_FIELD_ENUM:
                cJSON_AddStringToObject(l, f->key, f->names[cnn_field_int(f, L)]);
                break;
            default: /* INT, AXIS */
                cJSON_AddNumberToObject(l, f->key, cnn_field_int(f, L));
                break;
            }
        }
    }
    const cnn_training *t = &m->training;
    cJSON *tr = cJSON_AddObjectToObject(root, "training");
    if (tr) {
        cJSON_AddStringToObject(tr, "optimizer", cnn_optimizer_names[t->optimizer]);
        add_float(tr, "learning_rate", t->learning_rate);
        add_float(tr, "momentum", t->momentum);
        cJSON_AddBoolToObject(tr, "nesterov", t->nesterov);
        cJSON_AddStringToObject(tr, "schedule", cnn_schedule_names[t->schedule]);
        cJSON_AddNumberToObject(tr, "step_epochs", t->step_epochs);
        add_float(tr, "step_gamma", t->step_gamma);
        cJSON_AddNumberToObject(tr, "batch_size", t->batch_size);
        cJSON_AddNumberToObject(tr, "epochs", t->epochs);
        cJSON_AddStringToObject(tr, "loss", cnn_loss_names[t->loss]);
        cJSON_AddNumberToObject(tr, "seed", (double)t->seed);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

int cnn_model_same(const cnn_model *a, const cnn_model *b, char *why, size_t n)
{
    char sa[64], sb[64];
    if (why && n) why[0] = 0;
    if (a->input.c != b->input.c || a->input.h != b->input.h || a->input.w != b->input.w) {
        shape_str(a->input, sa, sizeof sa);
        shape_str(b->input, sb, sizeof sb);
        if (why) snprintf(why, n, "input shape %s vs %s", sa, sb);
        return 0;
    }
    if (a->nlayers != b->nlayers) {
        if (why) snprintf(why, n, "%d layers vs %d layers", a->nlayers, b->nlayers);
        return 0;
    }
    for (int i = 0; i < a->nlayers; i++) {
        const cnn_layer *x = &a->layers[i], *y = &b->layers[i];
        const char *what = NULL;
        if (x->ops != y->ops) what = "type";
        else if (strcmp(x->name, y->name) != 0) what = "name";
        for (const cnn_field *f = x->ops->fields; !what && f && f->key; f++)
            if (!cnn_field_equal(f, x, y)) what = f->key;
        if (what) {
            if (why)
                snprintf(why, n, "layers[%d]: %s (%s) vs %s (%s): different %s", i, x->name,
                         x->ops->type, y->name, y->ops->type, what);
            return 0;
        }
    }
    return 1;
}
