/* The registry test: for every layer kind in cnn_layer_kinds, a model with a
 * non-default value in every field its table keeps, chosen from the table
 * (so a new kind is covered the day it is added).  The model must come back
 * unchanged, every configuration byte of every layer, through
 *   - our JSON (cnn_model_to_json, then the loader),
 *   - a weights file's metadata (cnn_weights_save, cnn_weights_open),
 *   - a checkpoint written by cnn_train,
 *   - a Keras to_json() export of it (the Keras importer).
 * A kind whose writer drops a field (the UpSampling2D "size" that reloaded as
 * 2x2) fails here: the reloaded layer differs from the original. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cnn.h"
#include "layer.h" /* internal: the layer-extension API */

/* ---- a JSON text built up in a fixed buffer -------------------------------- */

typedef struct {
    char s[8192];
    size_t n;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
    va_end(ap);
    if (k > 0) t->n += (size_t)k;
    if (t->n >= sizeof t->s) t->n = sizeof t->s - 1;
}

/* ---- non-default values, chosen from the table alone ------------------------ */

static int kept(const cnn_field *f)
{
    return f->at != CNN_NOWHERE && !f->input_only;
}

static int count_names(const char *const *names)
{
    int n = 0;
    while (names[n]) n++;
    return n;
}

/* Appends `"key": value` with a value other than the field's default.
 * Activations stay away from softmax (only allowed last; a Dense follows). */
static void add_field(text *t, const cnn_field *f)
{
    int req = f->def == CNN_REQUIRED;
    int d = req ? 0 : (int)f->def;
    add(t, ", \"%s\": ", f->key);
    switch (f->type) {
    case CNN_FIELD_INT:
        add(t, "%d", req ? (int)f->min + 2 : d + 1);
        break;
    case CNN_FIELD_PAIR:
        if (req || f->def_from)
            add(t, "[%d, %d]", (int)f->min + 1, (int)f->min + 2);
        else
            add(t, "[%d, %d]", d + 1, d + 2);
        break;
    case CNN_FIELD_FLOAT:
        /* halfway between the default and the far end of the range */
        add(t, "%.9g", req ? (f->min + f->max) / 2
                       : f->def - f->min > f->max - f->def ? (f->def + f->min) / 2
                                                            : (f->def + f->max) / 2);
        break;
    case CNN_FIELD_BOOL:
        add(t, "%s", d ? "false" : "true");
        break;
    case CNN_FIELD_ENUM: {
        int n = count_names(f->names), v = req ? 1 % n : (d + 1) % n;
        add(t, "\"%s\"", f->names[v]);
        break;
    }
    case CNN_FIELD_AXIS:
        add(t, "%d", d);
        break;
    }
}

/* The kind's layer object's members after "type"/"class_name" (name and every
 * kept field; with required_only, only the required ones). */
static void add_fields(text *t, const cnn_layer_ops *ops, int required_only)
{
    add(t, "\"name\": \"under_test\"");
    for (const cnn_field *f = ops->fields; f && f->key; f++)
        if (kept(f) && (!required_only || f->def == CNN_REQUIRED)) add_field(t, f);
}

/* The spatial input every kind gets, and what follows it so that the model
 * ends in class scores (Flatten also takes a flat input). */
#define INPUT_H 9
#define INPUT_W 10
#define INPUT_C 3

/* Our format: [kind] on a spatial input, or [Flatten, kind] when the kind needs
 * a flat one; then Flatten and a Dense of 2 classes. */
static cnn_model *build_ours(const cnn_layer_ops *ops, int required_only, int flat_first,
                             text *t, cnn_error *err)
{
    t->n = 0;
    add(t, "{\"input_shape\": [%d, %d, %d], \"layers\": [", INPUT_H, INPUT_W, INPUT_C);
    if (flat_first) add(t, "{\"type\": \"Flatten\", \"name\": \"before\"}, ");
    add(t, "{\"type\": \"%s\", ", ops->type);
    add_fields(t, ops, required_only);
    add(t, "}, {\"type\": \"Flatten\", \"name\": \"after\"}, "
           "{\"type\": \"Dense\", \"name\": \"classes\", \"units\": 2, \"activation\": "
           "\"softmax\"}]}");
    cnn_model *m = NULL;
    cnn_model_parse(t->s, t->n, "registry.json", &m, err);
    return m;
}

/* The same model as a tf.keras 2 Sequential to_json() export. */
static cnn_model *build_keras(const cnn_layer_ops *ops, int flat_first, cnn_error *err)
{
    text t = {{0}, 0};
    add(&t, "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"sequential\", \"layers\": "
            "[{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
            "[null, %d, %d, %d], \"name\": \"input\"}}, ", INPUT_H, INPUT_W, INPUT_C);
    if (flat_first) add(&t, "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"before\"}}, ");
    add(&t, "{\"class_name\": \"%s\", \"config\": {", ops->type);
    add_fields(&t, ops, 0);
    add(&t, ", \"trainable\": true, \"dtype\": \"float32\"}}, "
            "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"after\"}}, "
            "{\"class_name\": \"Dense\", \"config\": {\"name\": \"classes\", \"units\": 2, "
            "\"activation\": \"softmax\"}}]}, \"keras_version\": \"2.11.0\"}");
    cnn_model *m = NULL;
    cnn_model_parse(t.s, t.n, "registry-keras.json", &m, err);
    return m;
}

/* The kind's model, on a spatial input if it takes one, else after a Flatten. */
static cnn_model *build(const cnn_layer_ops *ops, int required_only, int *flat_first, text *t)
{
    cnn_error err = {{0}};
    for (*flat_first = 0; *flat_first < 2; ++*flat_first) {
        cnn_model *m = build_ours(ops, required_only, *flat_first, t, &err);
        if (m) return m;
    }
    CHECK_FAIL_("%s: no model with every field set loads: %s\n%s", ops->type, err.msg, t->s);
    return NULL;
}

/* ---- "unchanged" ------------------------------------------------------------ */

/* Every byte of every layer (configuration, inferred shapes, offsets) and the
 * totals; the layer structs are zeroed before they are filled, so padding
 * compares equal.  Independent of the field table: a field the table misses
 * shows up here too. */
static void check_same(const cnn_model *a, const cnn_model *b, const char *kind,
                       const char *how)
{
    if (!b) {
        CHECK_FAIL_("%s: %s: no model came back", kind, how);
        return;
    }
    if (a->nlayers != b->nlayers || a->nparams != b->nparams) {
        CHECK_FAIL_("%s: %s: %d layers, %zu parameters became %d, %zu", kind, how, a->nlayers,
                    a->nparams, b->nlayers, b->nparams);
        return;
    }
    for (int i = 0; i < a->nlayers; i++) {
        cnn_layer x = a->layers[i], y = b->layers[i];
        if (memcmp(&x, &y, sizeof x) != 0) {
            char *ja = cnn_model_to_json(a), *jb = cnn_model_to_json(b);
            CHECK_FAIL_("%s: %s: layers[%d] (%s) changed:\n  %s\n  %s", kind, how, i, x.name,
                        ja ? ja : "?", jb ? jb : "?");
            free(ja);
            free(jb);
        }
    }
    char why[256];
    if (!cnn_model_same(a, b, why, sizeof why))
        CHECK_FAIL_("%s: %s: cnn_model_same: %s", kind, how, why);
}

/* ---- the tests --------------------------------------------------------------- */

/* The generated values really differ from the defaults: the model with only
 * the required fields differs from the full one in every kept optional field. */
static void every_field_gets_a_non_default_value(void)
{
    for (int k = 0; cnn_layer_kinds[k]; k++) {
        const cnn_layer_ops *ops = cnn_layer_kinds[k];
        text t;
        int flat_a, flat_b;
        cnn_model *full = build(ops, 0, &flat_a, &t);
        cnn_model *bare = build(ops, 1, &flat_b, &t);
        CHECK(full && bare);
        if (full && bare) {
            CHECK_INT_EQ(flat_a, flat_b);
            const cnn_layer *x = &full->layers[flat_a], *y = &bare->layers[flat_b];
            for (const cnn_field *f = ops->fields; f && f->key; f++)
                if (kept(f) && f->def != CNN_REQUIRED && cnn_field_equal(f, x, y))
                    CHECK_FAIL_("%s.%s: the test's value is the default", ops->type, f->key);
        }
        cnn_model_free(full);
        cnn_model_free(bare);
    }
}

static void every_kind_round_trips_through_json(void)
{
    for (int k = 0; cnn_layer_kinds[k]; k++) {
        const cnn_layer_ops *ops = cnn_layer_kinds[k];
        text t;
        int flat;
        cnn_model *m = build(ops, 0, &flat, &t);
        if (!m) continue;
        char *json = cnn_model_to_json(m);
        CHECK(json != NULL);
        cnn_model *back = NULL;
        cnn_error err = {{0}};
        if (json && cnn_model_parse(json, strlen(json), "written.json", &back, &err))
            CHECK_FAIL_("%s: the written model does not load: %s\n%s", ops->type, err.msg, json);
        check_same(m, back, ops->type, "JSON");
        /* and it writes the same text again */
        char *again = back ? cnn_model_to_json(back) : NULL;
        if (json && again) CHECK_STR_EQ(json, again);
        free(again);
        free(json);
        cnn_model_free(back);
        cnn_model_free(m);
    }
}

static void every_kind_round_trips_through_weights_metadata(void)
{
    char path[] = "/tmp/test_registry_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    for (int k = 0; cnn_layer_kinds[k]; k++) {
        const cnn_layer_ops *ops = cnn_layer_kinds[k];
        text t;
        int flat;
        cnn_model *m = build(ops, 0, &flat, &t);
        if (!m) continue;
        float *params = calloc(m->nparams, sizeof *params);
        CHECK(params != NULL);
        cnn_error err = {{0}};
        cnn_param_set set = {"", params};
        cnn_weights *w = NULL;
        if (params && cnn_weights_save(path, m, &set, 1, NULL, NULL, 0, &err))
            CHECK_FAIL_("%s: save: %s", ops->type, err.msg);
        else if (cnn_weights_open(path, &w, &err))
            CHECK_FAIL_("%s: open: %s", ops->type, err.msg);
        else
            check_same(m, w->model, ops->type, "weights metadata");
        cnn_weights_free(w);
        free(params);
        cnn_model_free(m);
    }
    unlink(path);
}

/* Writes an uncompressed IDX file: u8 images (n, h, w, c) or labels (n). */
static int write_idx(const char *path, const unsigned char *data, int rank, const int *dims)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned char head[4] = {0, 0, 0x08, (unsigned char)rank};
    size_t count = 1;
    fwrite(head, 1, 4, f);
    for (int i = 0; i < rank; i++) {
        unsigned char d[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        fwrite(d, 1, 4, f);
        count *= (size_t)dims[i];
    }
    fwrite(data, 1, count, f);
    return fclose(f);
}

static void every_kind_round_trips_through_a_checkpoint(void)
{
    char dir[] = "/tmp/test_registry_ckpt_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char images[64], labels[64], ckpt[64], out[64];
    snprintf(images, sizeof images, "%s/images", dir);
    snprintf(labels, sizeof labels, "%s/labels", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
    snprintf(out, sizeof out, "%s/run.safetensors", dir);
    enum { N = 4 };
    unsigned char pix[N * INPUT_H * INPUT_W * INPUT_C], lab[N] = {0, 1, 1, 0};
    for (size_t i = 0; i < sizeof pix; i++) pix[i] = (unsigned char)(i * 37 % 256);
    int idims[4] = {N, INPUT_H, INPUT_W, INPUT_C}, ldims[1] = {N};
    CHECK(write_idx(images, pix, 4, idims) == 0 && write_idx(labels, lab, 1, ldims) == 0);
    for (int k = 0; cnn_layer_kinds[k]; k++) {
        const cnn_layer_ops *ops = cnn_layer_kinds[k];
        text t;
        int flat;
        cnn_model *m = build(ops, 0, &flat, &t);
        if (!m) continue;
        cnn_error err = {{0}};
        cnn_dataset *d = NULL;
        cnn_weights *w = NULL;
        uint32_t idx[N] = {0, 1, 2, 3};
        cnn_train_opts o = {.t = m->training, .output = out, .checkpoint = ckpt};
        o.t.epochs = 1;
        o.t.batch_size = 2;
        cnn_train_result res;
        if (cnn_dataset_load(images, labels, m, 1 << 20, &d, &err))
            CHECK_FAIL_("%s: dataset: %s", ops->type, err.msg);
        else if (cnn_train(m, d, idx, N, NULL, NULL, 0, &o, &res, &err))
            CHECK_FAIL_("%s: train: %s", ops->type, err.msg);
        else if (cnn_weights_open(ckpt, &w, &err))
            CHECK_FAIL_("%s: open the checkpoint: %s", ops->type, err.msg);
        else
            check_same(m, w->model, ops->type, "checkpoint");
        cnn_weights_free(w);
        cnn_dataset_free(d);
        cnn_model_free(m);
        unlink(ckpt);
        unlink(out);
    }
    unlink(images);
    unlink(labels);
    rmdir(dir);
}

static void every_kind_round_trips_through_the_keras_importer(void)
{
    for (int k = 0; cnn_layer_kinds[k]; k++) {
        const cnn_layer_ops *ops = cnn_layer_kinds[k];
        text t;
        int flat;
        cnn_model *m = build(ops, 0, &flat, &t);
        if (!m) continue;
        cnn_error err = {{0}};
        cnn_model *keras = build_keras(ops, flat, &err);
        if (!keras) CHECK_FAIL_("%s: the Keras export does not import: %s", ops->type, err.msg);
        check_same(m, keras, ops->type, "Keras import");
        cnn_model_free(keras);
        cnn_model_free(m);
    }
}

/* A field dropped by the writer is caught: the same model with one field
 * removed from its JSON text (what a writer that forgets it produces) is not
 * "unchanged" by check_same's measure, for every kept field of every kind. */
static void a_dropped_field_is_noticed(void)
{
    for (int k = 0; cnn_layer_kinds[k]; k++) {
        const cnn_layer_ops *ops = cnn_layer_kinds[k];
        text t;
        int flat;
        cnn_model *m = build(ops, 0, &flat, &t);
        if (!m) continue;
        for (const cnn_field *f = ops->fields; f && f->key; f++) {
            if (!kept(f) || f->def == CNN_REQUIRED) continue;
            /* our JSON without f */
            text u = {{0}, 0};
            add(&u, "{\"input_shape\": [%d, %d, %d], \"layers\": [", INPUT_H, INPUT_W, INPUT_C);
            if (flat) add(&u, "{\"type\": \"Flatten\", \"name\": \"before\"}, ");
            add(&u, "{\"type\": \"%s\", \"name\": \"under_test\"", ops->type);
            for (const cnn_field *g = ops->fields; g->key; g++)
                if (kept(g) && g != f) add_field(&u, g);
            add(&u, "}, {\"type\": \"Flatten\", \"name\": \"after\"}, {\"type\": \"Dense\", "
                    "\"name\": \"classes\", \"units\": 2, \"activation\": \"softmax\"}]}");
            cnn_model *dropped = NULL;
            cnn_error err = {{0}};
            if (cnn_model_parse(u.s, u.n, "dropped.json", &dropped, &err) == 0) {
                const cnn_layer *x = &m->layers[flat], *y = &dropped->layers[flat];
                CHECK(memcmp(x, y, sizeof *x) != 0);
                CHECK(!cnn_model_same(m, dropped, NULL, 0));
            }
            cnn_model_free(dropped);
        }
        cnn_model_free(m);
    }
}

int main(void)
{
    cnn_set_threads(1);
    RUN(every_field_gets_a_non_default_value);
    RUN(every_kind_round_trips_through_json);
    RUN(every_kind_round_trips_through_weights_metadata);
    RUN(every_kind_round_trips_through_a_checkpoint);
    RUN(every_kind_round_trips_through_the_keras_importer);
    RUN(a_dropped_field_is_noticed);
    return check_report();
}
