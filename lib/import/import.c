/* Importing Keras and TensorFlow.js models (see import.h). */
#include "import.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "fileio.h"
#include "h5.h"
#include "load_limits.h"
#include "layer.h"

enum form { K2_MODEL, K2_WEIGHTS, K3_ARCHIVE, K3_WEIGHTS, TFJS };

static const char *const form_names[] = {
    "Keras 2 HDF5 model", "Keras 2 HDF5 weights", "Keras 3 archive", "Keras 3 weights",
    "TensorFlow.js layers model",
};

/* One weight listed in a TensorFlow.js manifest. */
typedef struct tfjs_weight {
    char *name;
    int rank;
    long long dims[8];
    size_t offset; /* bytes into the concatenated shards */
    size_t count;  /* floats */
    int used;
} tfjs_weight;

/* Where the weights come from. */
typedef struct source {
    enum form form;
    const char *file; /* the weights file, for messages */
    h5_id h5;
    void *image;      /* an HDF5 file image read from a zip archive */
    char k2_root[32]; /* "model_weights" or "." */
    h5_id k2_group;   /* that group, open */
    char **k2_layers; /* the file's layer_names */
    int nk2;
    const char *k3_root; /* "layers" (or tf.keras 2.13's "_layer_checkpoint_dependencies") */
    tfjs_weight *tw;
    int ntw;
    unsigned char *data; /* TF.js: the shards, concatenated */
    size_t ndata;
    char version[64];
    char **shards; /* TF.js: the shard files read */
    int nshards;
} source;

/* ---- reading the files ---------------------------------------------------- */

/* The first bytes of a file, which tell its form. */
static int sniff(const char *path, unsigned char *head, size_t n, size_t *got, cnn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_errorf(err, "%s: %s", path, strerror(errno));
    *got = fread(head, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) return cnn_errorf(err, "%s: read error", path);
    return 0;
}

/* One member of a zip archive, whole (libzip checks its CRC), at most max bytes. */
static int zip_member(zip_t *z, const char *zname, const char *name, size_t max, char **buf,
                      size_t *len, cnn_error *err)
{
    zip_int64_t i = zip_name_locate(z, name, 0);
    if (i < 0) return 1;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) || !(st.valid & ZIP_STAT_SIZE))
        return cnn_errorf(err, "%s: %s: cannot read its size", zname, name);
    if (st.size > max)
        return cnn_errorf(err, "%s: %s is %llu bytes, over the limit of %zu (raise it with "
                          "--max-file-size)", zname, name, (unsigned long long)st.size, max);
    *buf = malloc((size_t)st.size + 1);
    if (!*buf) return cnn_errorf(err, "%s: out of memory", zname);
    zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
    zip_int64_t r = f ? zip_fread(f, *buf, st.size) : -1;
    char extra;
    zip_int64_t more = f && r == (zip_int64_t)st.size ? zip_fread(f, &extra, 1) : 0;
    int closed = f ? zip_fclose(f) : -1;
    if (r != (zip_int64_t)st.size || more != 0 || closed != 0) {
        free(*buf);
        *buf = NULL;
        return cnn_errorf(err, "%s: %s is damaged (%s)", zname, name,
                          f ? zip_strerror(z) : "cannot open it");
    }
    (*buf)[st.size] = 0;
    *len = (size_t)st.size;
    return 0;
}

/* Reads a .keras archive: config.json's text into *config, and opens
 * model.weights.h5 from memory. */
static int open_keras3_archive(const char *path, source *s, char **config, cnn_error *err)
{
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        cnn_errorf(err, "%s: not a readable zip archive (%s)", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }
    size_t len, wlen;
    char *w = NULL;
    int rc = zip_member(z, path, "config.json", CNN_MODEL_MAX_FILE, config, &len, err);
    if (rc > 0)
        cnn_errorf(err, "%s: no config.json in the archive (a Keras 3 .keras file has "
                        "config.json and model.weights.h5)", path);
    if (rc == 0) {
        rc = zip_member(z, path, "model.weights.h5", cnn_limits_get()->max_weights_bytes, &w,
                        &wlen, err);
        if (rc > 0)
            cnn_errorf(err, "%s: no model.weights.h5 in the archive%s", path,
                       zip_name_locate(z, "model.weights.npz", 0) >= 0
                           ? " (weights saved as .npz are not supported; save with the "
                             "default h5 format)" : "");
    }
    zip_discard(z);
    if (rc) {
        free(*config);
        *config = NULL;
        free(w);
        return -1;
    }
    char name[4200];
    snprintf(name, sizeof name, "%s: model.weights.h5", path);
    if (h5_open_image(w, wlen, name, &s->h5, err)) {
        free(w);
        free(*config);
        *config = NULL;
        return -1;
    }
    s->image = w;
    return 0;
}

/* Joins dir and a relative name into out. */
static void join(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* Appends weight group g's shards (paths, relative to dir) to s->data, at
 * most max bytes with the *total read so far. */
static int read_shards(const char *path, const char *dir, int g, const cJSON *paths, source *s,
                       size_t max, size_t *total, cnn_error *err)
{
    int p = 0;
    const cJSON *pv;
    cJSON_ArrayForEach(pv, paths) {
        if (!cJSON_IsString(pv) || !pv->valuestring[0] || pv->valuestring[0] == '/' ||
            strstr(pv->valuestring, "..") || strlen(pv->valuestring) > 1024)
            return cnn_errorf(err, "%s: weightsManifest[%d].paths[%d]: expected a file name "
                              "relative to the model's folder", path, g, p);
        char shard[5200];
        join(shard, sizeof shard, dir, pv->valuestring);
        char **grown_names = realloc(s->shards, (size_t)(s->nshards + 1) * sizeof *grown_names);
        if (!grown_names) return cnn_errorf(err, "%s: out of memory", path);
        s->shards = grown_names;
        if (!(s->shards[s->nshards] = strdup(shard)))
            return cnn_errorf(err, "%s: out of memory", path);
        s->nshards++;
        char *buf;
        size_t len;
        if (cnn_read_file(shard, max - *total, &buf, &len, err)) return -1;
        unsigned char *grown = realloc(s->data, s->ndata + len + 1);
        if (!grown) {
            free(buf);
            return cnn_errorf(err, "%s: out of memory", shard);
        }
        s->data = grown;
        memcpy(s->data + s->ndata, buf, len);
        s->ndata += len;
        *total += len;
        free(buf);
        p++;
    }
    return 0;
}

/* Weight group g's list of weights (ws), laid out in its shards from
 * group_start on: float32 only, and exactly filling the shards. */
static int read_group_weights(const char *path, int g, const cJSON *ws, size_t group_start,
                              source *s, cnn_error *err)
{
    size_t off = group_start;
    int k = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, ws) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
        if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsString(dtype) ||
            cJSON_GetArraySize(shape) > 8)
            return cnn_errorf(err, "%s: weightsManifest[%d].weights[%d]: expected name, "
                              "shape (at most 8 sizes) and dtype", path, g, k);
        if (cJSON_GetObjectItemCaseSensitive(w, "quantization"))
            return cnn_errorf(err, "%s: weight %s is quantized; only float32 weights are "
                              "supported (convert without quantization)", path,
                              name->valuestring);
        if (strcmp(dtype->valuestring, "float32") != 0)
            return cnn_errorf(err, "%s: weight %s has dtype %s; only float32 is supported",
                              path, name->valuestring, dtype->valuestring);
        tfjs_weight t = {.rank = cJSON_GetArraySize(shape), .offset = off, .count = 1};
        int d = 0;
        const cJSON *dv;
        cJSON_ArrayForEach(dv, shape) {
            double v = cJSON_IsNumber(dv) ? dv->valuedouble : -1;
            if (!(v >= 0 && v <= 1e12 && v == floor(v)))
                return cnn_errorf(err, "%s: weight %s: shape sizes must be whole numbers",
                                  path, name->valuestring);
            t.dims[d++] = (long long)v;
            if (t.count > (size_t)1 << 40) break;
            t.count *= (size_t)v;
        }
        if (t.count > (s->ndata - off) / 4)
            return cnn_errorf(err, "%s: weight %s needs %zu bytes but its shards hold only "
                              "%zu more", path, name->valuestring, t.count * 4,
                              s->ndata - off);
        off += t.count * 4;
        tfjs_weight *grown = realloc(s->tw, (size_t)(s->ntw + 1) * sizeof *grown);
        if (!grown || !(t.name = strdup(name->valuestring))) {
            if (grown) s->tw = grown;
            return cnn_errorf(err, "%s: out of memory", path);
        }
        s->tw = grown;
        s->tw[s->ntw++] = t;
        k++;
    }
    if (off != s->ndata)
        return cnn_errorf(err, "%s: weightsManifest[%d]: the shards hold %zu bytes but the "
                          "weights listed take %zu", path, g, s->ndata - group_start,
                          off - group_start);
    return 0;
}

/* Reads a TensorFlow.js model.json: the topology (printed into *topology)
 * and the weights manifest with its shards. */
static int open_tfjs(const char *path, cJSON *root, source *s, char **topology, cnn_error *err)
{
    const cJSON *topo = cJSON_GetObjectItemCaseSensitive(root, "modelTopology");
    const cJSON *man = cJSON_GetObjectItemCaseSensitive(root, "weightsManifest");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "layers-model") != 0)
        return cnn_errorf(err, "%s: format \"%s\" is a TensorFlow.js graph model; only layers "
                          "models (Keras) can be imported", path, fmt->valuestring);
    if (!cJSON_IsObject(topo))
        return cnn_errorf(err, "%s: modelTopology: expected the Keras model as an object", path);
    /* The converter nests the model as modelTopology.model_config. */
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(topo, "model_config");
    if (cJSON_IsObject(mc)) topo = mc;
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(root, "generatedBy");
    if (cJSON_IsString(gen)) snprintf(s->version, sizeof s->version, "%s", gen->valuestring);
    if (!cJSON_IsArray(man) || cJSON_GetArraySize(man) < 1)
        return cnn_errorf(err, "%s: weightsManifest: expected a list of weight groups", path);

    /* The folder of model.json: shard paths are relative to it. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");

    size_t max = cnn_limits_get()->max_weights_bytes, total = 0;
    int g = 0;
    const cJSON *group;
    cJSON_ArrayForEach(group, man) {
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(group, "paths");
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(group, "weights");
        if (!cJSON_IsArray(paths) || !cJSON_IsArray(ws))
            return cnn_errorf(err, "%s: weightsManifest[%d]: expected \"paths\" and \"weights\" "
                              "lists", path, g);
        /* The group's shards, concatenated, then its weights laid out in them. */
        size_t group_start = s->ndata;
        if (read_shards(path, dir, g, paths, s, max, &total, err) ||
            read_group_weights(path, g, ws, group_start, s, err))
            return -1;
        g++;
    }
    *topology = cJSON_PrintUnformatted(topo);
    if (!*topology) return cnn_errorf(err, "%s: out of memory", path);
    return 0;
}

/* Opens the weights at path and tells their form; *config gets the
 * architecture text the file carries (NULL for the weights-only forms) and
 * *config_name what to call it in messages. */
static int open_source(const char *path, source *s, char **config, char *config_name, size_t n,
                       cnn_error *err)
{
    struct stat st;
    if (stat(path, &st)) return cnn_errorf(err, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cnn_errorf(err, "%s: is a folder (for a TensorFlow.js model, give its model.json)",
                          path);
    if ((size_t)st.st_size > cnn_limits_get()->max_weights_bytes)
        return cnn_errorf(err, "%s: %lld bytes, over the limit of %zu (raise it with "
                          "--max-file-size)", path, (long long)st.st_size,
                          cnn_limits_get()->max_weights_bytes);
    unsigned char head[8];
    size_t got = 0;
    if (sniff(path, head, sizeof head, &got, err)) return -1;
    static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    *config = NULL;
    s->file = path;
    if (got == 8 && memcmp(head, hdf5, 8) == 0) {
        if (h5_open(path, &s->h5, err)) return -1;
        if (h5_has_attr(s->h5, "model_config")) {
            s->form = K2_MODEL;
            snprintf(s->k2_root, sizeof s->k2_root, "model_weights");
            if (h5_attr_string(s->h5, "model_config", path, CNN_MODEL_MAX_FILE, config, err))
                return -1;
            snprintf(config_name, n, "%s: model_config", path);
        } else if (h5_has_attr(s->h5, "layer_names")) {
            s->form = K2_WEIGHTS;
            snprintf(s->k2_root, sizeof s->k2_root, ".");
        } else if (h5_exists(s->h5, "layers") || h5_exists(s->h5, "_layer_checkpoint_dependencies")) {
            s->form = K3_WEIGHTS;
        } else {
            return cnn_errorf(err, "%s: an HDF5 file, but not one Keras wrote: no model_config "
                              "or layer_names attribute and no layers group", path);
        }
    } else if (got >= 4 && memcmp(head, "PK\003\004", 4) == 0) {
        s->form = K3_ARCHIVE;
        if (open_keras3_archive(path, s, config, err)) return -1;
        snprintf(config_name, n, "%s: config.json", path);
    } else {
        size_t i = 0;
        while (i < got && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t'))
            i++;
        if (i == got || head[i] != '{')
            return cnn_errorf(err, "%s: not a Keras or TensorFlow.js model (expected an HDF5 "
                              ".h5 file, a .keras zip archive or a TensorFlow.js model.json)",
                              path);
        char *text;
        size_t len;
        if (cnn_read_file(path, CNN_MODEL_MAX_FILE, &text, &len, err)) return -1;
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
        if (!root) {
            cnn_errorf(err, "%s: JSON syntax error at byte %zu", path,
                       end ? (size_t)(end - text) : 0);
            free(text);
            return -1;
        }
        free(text);
        if (!cJSON_GetObjectItemCaseSensitive(root, "weightsManifest")) {
            cJSON_Delete(root);
            return cnn_errorf(err, "%s: a model description without weights (no "
                              "weightsManifest); give it with --model and the weights as the "
                              "file to import", path);
        }
        s->form = TFJS;
        int rc = open_tfjs(path, root, s, config, err);
        cJSON_Delete(root);
        if (rc) return -1;
        snprintf(config_name, n, "%s: modelTopology", path);
        return 0;
    }
    if (s->h5 > 0) {
        char *v = NULL;
        h5_id at = s->form == K2_MODEL || s->form == K2_WEIGHTS ? s->h5 : 0;
        if (at && h5_has_attr(at, "keras_version") &&
            h5_attr_string(at, "keras_version", path, 60, &v, NULL) == 0) {
            snprintf(s->version, sizeof s->version, "keras_version %s", v);
            free(v);
        }
        if (s->form == K2_MODEL && !h5_exists(s->h5, "model_weights"))
            return cnn_errorf(err, "%s: no model_weights group (saved without weights?)", path);
        if (s->form == K2_MODEL || s->form == K2_WEIGHTS) {
            /* layer_names sits on the group that holds the layer groups */
            if (h5_group_open(s->h5, s->k2_root, &s->k2_group) ||
                h5_attr_strings(s->k2_group, "layer_names", path, &s->k2_layers, &s->nk2, err))
                return s->k2_group > 0 ? -1 : cnn_errorf(err, "%s: %s is not a group", path,
                                                          s->k2_root);
        }
        if (s->form == K3_ARCHIVE || s->form == K3_WEIGHTS)
            s->k3_root = h5_exists(s->h5, "layers") ? "layers" : "_layer_checkpoint_dependencies";
    }
    return 0;
}

static void close_source(source *s)
{
    if (s->k2_group > 0) h5_group_close(s->k2_group);
    if (s->h5 > 0) h5_close(s->h5);
    free(s->image);
    h5_free_strings(s->k2_layers, s->nk2);
    for (int i = 0; i < s->ntw; i++) free(s->tw[i].name);
    h5_free_strings(s->shards, s->nshards);
    free(s->tw);
    free(s->data);
}

/* ---- finding one weight ----------------------------------------------------- */

/* Keras' name for a class's layer in a Keras 3 weights file: the class name in
 * snake case, numbered from the second of that class on (saving_lib names
 * container members by class, not by layer name). */
static void keras3_layer_path(const cnn_model *m, int li, const char *root, char *out, size_t n)
{
    const char *type = m->layers[li].ops->type;
    int k = 0;
    for (int i = 0; i < li; i++)
        if (strcmp(m->layers[i].ops->type, type) == 0) k++;
    char snake[CNN_NAME_MAX * 2];
    size_t j = 0;
    for (size_t i = 0; type[i] && j + 2 < sizeof snake; i++) {
        char c = type[i], prev = i ? type[i - 1] : 0, next = type[i + 1];
        int upper = c >= 'A' && c <= 'Z';
        /* keras.src.utils.naming.to_snake_case: "_" before an upper-case letter
         * that starts a capitalized word, or that follows a lower-case letter */
        if (upper && i > 0 && ((next >= 'a' && next <= 'z') || (prev >= 'a' && prev <= 'z')))
            snake[j++] = '_';
        snake[j++] = upper ? (char)(c - 'A' + 'a') : c;
    }
    snake[j] = 0;
    if (k) snprintf(out, n, "%s/%s_%d/vars", root, snake, k);
    else snprintf(out, n, "%s/%s/vars", root, snake);
}

/* The Keras variable name of a weight name: "conv2d/kernel:0" -> "kernel". */
static const char *var_name(const char *w, char *buf, size_t n)
{
    const char *slash = strrchr(w, '/');
    snprintf(buf, n, "%s", slash ? slash + 1 : w);
    char *colon = strrchr(buf, ':');
    if (colon) *colon = 0;
    return buf;
}

/* Index of the layer name in the Keras 2 file's layer_names, or -1. */
static int k2_layer_index(const source *s, const char *name)
{
    for (int i = 0; i < s->nk2; i++)
        if (strcmp(s->k2_layers[i], name) == 0) return i;
    return -1;
}

/* Reads the Keras tensor `t` (Keras shape krank/kdims) of layer li into buf.
 * `pos` is its position among the layer's variables in Keras' order
 * (trainable ones first), nt the layer's number of tensors. */
static int fetch(source *s, const cnn_model *m, int li, const cnn_tensor_info *t, int pos, int nt,
                 int krank, const int *kdims, float *buf, cnn_error *err)
{
    const cnn_layer *L = &m->layers[li];
    char what[600];
    if (s->form == K2_MODEL || s->form == K2_WEIGHTS) {
        if (k2_layer_index(s, L->name) < 0)
            return cnn_errorf(err, "%s: no weights for layer %s (the file's layer_names do not "
                              "list it)", s->file, L->name);
        h5_id g;
        if (h5_group_open(s->k2_group, L->name, &g))
            return cnn_errorf(err, "%s: no group for layer %s", s->file, L->name);
        char **names = NULL;
        int nn = 0, rc = -1;
        if (h5_attr_strings(g, "weight_names", s->file, &names, &nn, err)) goto k2_done;
        if (nn != nt) {
            cnn_errorf(err, "%s: layer %s has %d weights in the file but the architecture needs "
                       "%d", s->file, L->name, nn, nt);
            goto k2_done;
        }
        for (int i = 0; i < nn; i++) {
            char v[256];
            if (strcmp(var_name(names[i], v, sizeof v), t->suffix) != 0) continue;
            snprintf(what, sizeof what, "weight %s/%s", L->name, names[i]);
            rc = h5_read_floats(g, names[i], krank, kdims, buf, s->file, what, err);
            goto k2_done;
        }
        cnn_errorf(err, "%s: layer %s has no weight named %s", s->file, L->name, t->suffix);
    k2_done:
        h5_free_strings(names, nn);
        h5_group_close(g);
        return rc;
    }
    if (s->form == K3_ARCHIVE || s->form == K3_WEIGHTS) {
        char group[600], ds[640];
        keras3_layer_path(m, li, s->k3_root, group, sizeof group);
        long have = h5_group_size(s->h5, group);
        if (have < 0)
            return cnn_errorf(err, "%s: no weights for layer %s (expected a group %s)", s->file,
                              L->name, group);
        if (have != nt)
            return cnn_errorf(err, "%s: %s holds %ld variables but layer %s needs %d", s->file,
                              group, have, L->name, nt);
        snprintf(ds, sizeof ds, "%s/%d", group, pos);
        snprintf(what, sizeof what, "%s (%s of layer %s)", ds, t->suffix, L->name);
        return h5_read_floats(s->h5, ds, krank, kdims, buf, s->file, what, err);
    }
    /* TensorFlow.js: "<layer>/<variable>", possibly behind a scope prefix. */
    char want[CNN_NAME_MAX + 64];
    snprintf(want, sizeof want, "%s/%s", L->name, t->suffix);
    size_t wl = strlen(want);
    for (int i = 0; i < s->ntw; i++) {
        tfjs_weight *w = &s->tw[i];
        size_t nl = strlen(w->name);
        if (!(nl == wl && !strcmp(w->name, want)) &&
            !(nl > wl && w->name[nl - wl - 1] == '/' && !strcmp(w->name + nl - wl, want)))
            continue;
        int same = w->rank == krank;
        for (int d = 0; same && d < krank; d++) same = w->dims[d] == kdims[d];
        if (!same) {
            char a[200] = "(", b[200] = "(";
            for (int d = 0; d < w->rank; d++)
                snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", d ? ", " : "", w->dims[d]);
            for (int d = 0; d < krank; d++)
                snprintf(b + strlen(b), sizeof b - strlen(b), "%s%d", d ? ", " : "", kdims[d]);
            return cnn_errorf(err, "%s: weight %s has shape %s%s) but the architecture needs "
                              "%s%s)", s->file, w->name, a, w->rank == 1 ? "," : "", b,
                              krank == 1 ? "," : "");
        }
        if (w->used)
            return cnn_errorf(err, "%s: weight %s is listed twice", s->file, w->name);
        w->used = 1;
        const unsigned char *p = s->data + w->offset;
        for (size_t k = 0; k < w->count; k++, p += 4) { /* little-endian float32 */
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24;
            memcpy(&buf[k], &u, 4);
        }
        return 0;
    }
    return cnn_errorf(err, "%s: no weight %s in the manifest", s->file, want);
}

/* ---- moving the numbers into our layout ------------------------------------- */

/* After a Flatten of a (C, H, W) map, Keras' flat index of our flat index j:
 * ours is (c, h, w), Keras' (h, w, c). */
typedef struct flat_order {
    int active, c, hw;
} flat_order;

static size_t keras_index(const flat_order *f, size_t j)
{
    if (!f->active) return j;
    size_t c = j / (size_t)f->hw, r = j % (size_t)f->hw;
    return r * (size_t)f->c + c;
}

/* Keras' shape of one of our tensors. */
static int keras_shape(const cnn_tensor_info *t, int *kd)
{
    if (t->rank == 4) { /* (out, in, kh, kw) -> (kh, kw, in, out) */
        kd[0] = t->dims[2], kd[1] = t->dims[3], kd[2] = t->dims[1], kd[3] = t->dims[0];
    } else if (t->rank == 2) { /* (units, inputs) -> (inputs, units) */
        kd[0] = t->dims[1], kd[1] = t->dims[0];
    } else {
        for (int d = 0; d < t->rank; d++) kd[d] = t->dims[d];
    }
    return t->rank;
}

static void to_ours(const cnn_tensor_info *t, const flat_order *f, const float *k, float *out)
{
    if (t->rank == 4) {
        size_t O = (size_t)t->dims[0], I = (size_t)t->dims[1], KH = (size_t)t->dims[2],
               KW = (size_t)t->dims[3];
        for (size_t o = 0; o < O; o++)
            for (size_t i = 0; i < I; i++)
                for (size_t y = 0; y < KH; y++)
                    for (size_t x = 0; x < KW; x++)
                        out[((o * I + i) * KH + y) * KW + x] = k[((y * KW + x) * I + i) * O + o];
    } else if (t->rank == 2) {
        size_t U = (size_t)t->dims[0], In = (size_t)t->dims[1];
        for (size_t u = 0; u < U; u++)
            for (size_t j = 0; j < In; j++) out[u * In + j] = k[keras_index(f, j) * U + u];
    } else {
        for (size_t j = 0; j < t->count; j++) out[j] = k[keras_index(f, j)];
    }
}

/* Every weight the file holds must have been used: a file with more than the
 * architecture needs is not the model it claims to be. */
static int check_all_used(source *s, const cnn_model *m, cnn_error *err)
{
    if (s->form == TFJS) {
        for (int i = 0; i < s->ntw; i++)
            if (!s->tw[i].used)
                return cnn_errorf(err, "%s: weight %s is not used by the architecture",
                                  s->file, s->tw[i].name);
    } else if (s->form == K2_MODEL || s->form == K2_WEIGHTS) {
        for (int i = 0; i < s->nk2; i++) {
            int li = cnn_model_find_layer(m, s->k2_layers[i]);
            cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
            if (li >= 0 && cnn_layer_tensors(&m->layers[li], t) > 0) continue;
            h5_id g;
            if (h5_group_open(s->k2_group, s->k2_layers[i], &g)) continue;
            char **names = NULL;
            int nn = 0;
            int rc = h5_attr_strings(g, "weight_names", s->file, &names, &nn, NULL);
            h5_free_strings(names, nn);
            h5_group_close(g);
            if (rc == 0 && nn > 0)
                return cnn_errorf(err, "%s: layer %s has %d weights but the architecture has %s",
                                  s->file, s->k2_layers[i], nn,
                                  li < 0 ? "no layer of that name" : "no weights for it");
        }
    }
    return 0;
}

static int load_weights(source *s, const cnn_model *m, float *params, cnn_error *err)
{
    flat_order f = {0};
    float *buf = NULL;
    size_t cap = 0;
    int rc = -1;
    for (int li = 0; li < m->nlayers; li++) {
        const cnn_layer *L = &m->layers[li];
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(L, t), consumes = 0;
        if (f.active && !L->in.flat) f.active = 0;
        /* A layer with a matrix (Dense) reads the flat vector into a new one:
         * its kernel's columns follow Keras' order, its other tensors (the
         * bias) are per output.  Per-feature tensors of any other layer
         * (BatchNormalization on the vector) follow Keras' order too. */
        for (int j = 0; j < nt; j++) consumes |= t[j].rank == 2;
        flat_order none = {0};
        for (int j = 0; j < nt; j++) {
            /* Keras lists a layer's trainable variables before the others. */
            int pos = 0;
            for (int k = 0; k < nt; k++)
                if (t[k].trainable > t[j].trainable || (t[k].trainable == t[j].trainable && k < j))
                    pos++;
            int kd[4], kr = keras_shape(&t[j], kd);
            if (t[j].count > cap) {
                free(buf);
                cap = t[j].count;
                if (!(buf = malloc(cap * sizeof *buf))) {
                    cnn_errorf(err, "%s: out of memory", s->file);
                    goto done;
                }
            }
            if (fetch(s, m, li, &t[j], pos, nt, kr, kd, buf, err)) goto done;
            size_t bad = 0;
            for (size_t k = 0; k < t[j].count; k++) bad += !isfinite(buf[k]);
            if (bad) {
                cnn_errorf(err, "%s: %s.%s holds %zu non-finite values (NaN or infinity)",
                           s->file, L->name, t[j].suffix, bad);
                goto done;
            }
            to_ours(&t[j], consumes && t[j].rank == 1 ? &none : &f, buf,
                    params + L->param_offset + t[j].offset);
        }
        if (consumes) f.active = 0;
        /* A layer without parameters that turns a (C, H, W) map into a vector of
         * the same size is a Flatten: Keras' vector is in (h, w, c) order. */
        if (nt == 0 && !L->in.flat && L->out.flat && cnn_shape_size(L->in) == cnn_shape_size(L->out) &&
            L->in.h * L->in.w > 1 && L->in.c > 1)
            f = (flat_order){1, L->in.c, L->in.h * L->in.w};
    }
    rc = check_all_used(s, m, err);
done:
    free(buf);
    return rc;
}

/* ---- the whole import --------------------------------------------------------- */

int cnn_import_load(const char *path, const char *arch_path, cnn_import *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    source s = {0};
    s.h5 = s.k2_group = -1;
    char *config = NULL, config_name[4200] = "";
    cnn_model *own = NULL, *given = NULL;
    int rc = -1;
    if (open_source(path, &s, &config, config_name, sizeof config_name, err)) goto done;
    if (config && cnn_model_parse(config, strlen(config), config_name, &own, err)) goto done;
    if (arch_path && cnn_model_load(arch_path, &given, err)) goto done;
    if (!own && !given) {
        cnn_errorf(err, "%s: %s file holds no architecture; give it with --model FILE "
                   "(Keras model.to_json(), a Keras 3 config.json or our model format)", path,
                   s.form == K2_WEIGHTS ? "a Keras 2 weights" : "a Keras 3 weights");
        goto done;
    }
    if (own && given) {
        char why[512];
        if (!cnn_model_same(own, given, why, sizeof why)) {
            cnn_errorf(err, "%s and %s describe different models: %s", config_name, arch_path, why);
            goto done;
        }
    }
    cnn_model *m = given ? given : own;
    float *params = calloc(m->nparams ? m->nparams : 1, sizeof *params);
    if (!params) {
        cnn_errorf(err, "%s: out of memory for %zu parameters", path, m->nparams);
        goto done;
    }
    if (load_weights(&s, m, params, err)) {
        free(params);
        goto done;
    }
    out->model = m;
    out->params = params;
    out->inputs = s.shards;
    out->ninputs = s.nshards;
    s.shards = NULL;
    s.nshards = 0;
    if (m == given) given = NULL;
    else own = NULL;
    snprintf(out->form, sizeof out->form, "%s%s%s%s", form_names[s.form], s.version[0] ? " (" : "",
             s.version, s.version[0] ? ")" : "");
    rc = 0;
done:
    cnn_model_free(own);
    cnn_model_free(given);
    free(config);
    close_source(&s);
    return rc;
}

void cnn_import_free(cnn_import *im)
{
    if (!im) return;
    cnn_model_free(im->model);
    free(im->params);
    h5_free_strings(im->inputs, im->ninputs);
    im->inputs = NULL;
    im->ninputs = 0;
    im->model = NULL;
    im->params = NULL;
}
