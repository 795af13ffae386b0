/* Weights files (see weights.h). */
#include "weights.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "load_limits.h"
#include "layer.h"

/* The model in w's metadata, if any, parsed into w->model. */
static int parse_model_meta(cnn_weights *w, cnn_error *err)
{
    const char *json = cnn_st_meta(w->st, "cnn.model");
    if (!json) return 0;
    char name[1200];
    snprintf(name, sizeof name, "%s (metadata cnn.model)", w->path);
    return cnn_model_parse(json, strlen(json), name, &w->model, err);
}

int cnn_weights_open_mem(const void *buf, size_t len, const char *name, cnn_weights **out,
                         cnn_error *err)
{
    *out = NULL;
    if (!buf && len) return cnn_errorf(err, "cnn_weights_open_mem: NULL buffer");
    if (!name) name = "(memory)";
    cnn_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(name))) {
        free(w);
        return cnn_errorf(err, "%s: out of memory", name);
    }
    if (len > cnn_limits_get()->max_weights_bytes) {
        cnn_errorf(err, "%s: %zu bytes, over the limit of %zu for a weights file", name, len,
                   cnn_limits_get()->max_weights_bytes);
        goto fail;
    }
    if (cnn_st_load_mem(buf, len, name, &w->st, err) || parse_model_meta(w, err)) goto fail;
    *out = w;
    return 0;
fail:
    cnn_weights_free(w);
    return -1;
}

/* A weights object named `name`: the file at that path, or read from fp (the
 * regular file's size, or -1), all of it or only the header. */
static int open_with(const char *name, FILE *fp, long long size, const void *prefix, size_t plen,
                     int header_only, cnn_weights **out, cnn_error *err)
{
    *out = NULL;
    cnn_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(name))) {
        free(w);
        return cnn_errorf(err, "%s: out of memory", name);
    }
    size_t max = cnn_limits_get()->max_weights_bytes;
    int rc = fp ? cnn_st_load_fp(fp, name, size, max, prefix, plen, header_only, &w->st, err)
         : header_only ? cnn_st_load_header(name, max, &w->st, err)
                       : cnn_st_load(name, max, &w->st, err);
    if (rc || parse_model_meta(w, err)) {
        cnn_weights_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int cnn_weights_open(const char *path, cnn_weights **out, cnn_error *err)
{
    return open_with(path, NULL, -1, NULL, 0, 0, out, err);
}

int cnn_weights_open_deferred(const char *path, cnn_weights **out, cnn_error *err)
{
    *out = NULL;
    long long size;
    FILE *fp = cnn_open_input(path, cnn_limits_get()->max_weights_bytes, &size, err);
    if (!fp) return -1;
    /* a FIFO is read whole; a regular file, its header now */
    int rc = open_with(path, fp, size, NULL, 0, size >= 0, out, err);
    if (rc == 0 && size >= 0) {
        (*out)->values = fp;
        (*out)->size = size;
    } else {
        fclose(fp);
    }
    return rc;
}

int cnn_weights_open_header(const char *path, cnn_weights **out, cnn_error *err)
{
    return open_with(path, NULL, -1, NULL, 0, 1, out, err);
}

int cnn_weights_open_stream(FILE *fp, const char *name, const void *prefix, size_t plen,
                            int header_only, cnn_weights **out, cnn_error *err)
{
    *out = NULL;
    if (!fp) return cnn_errorf(err, "cnn_weights_open_stream: NULL stream");
    if (plen > 9 || (plen && !prefix))
        return cnn_errorf(err, "cnn_weights_open_stream: prefix of %zu bytes (at most 9)", plen);
    /* A regular file (stdin redirected from one) has a size: from where the
     * file started (before the prefix) to its end. */
    struct stat st;
    off_t pos;
    long long size = -1;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && (pos = ftello(fp)) >= 0 &&
        (unsigned long long)pos >= plen && st.st_size >= pos)
        size = (long long)(st.st_size - pos + (off_t)plen);
    return open_with(name ? name : "(stream)", fp, size, prefix, plen, header_only, out, err);
}

void cnn_weights_free(cnn_weights *w)
{
    if (!w) return;
    if (w->values) fclose(w->values);
    cnn_st_free(w->st);
    cnn_model_free(w->model);
    free(w->path);
    free(w);
}

int cnn_weights_resolve_model(const cnn_weights *w, const char *model_path, cnn_model **m,
                              cnn_error *err)
{
    *m = NULL;
    if (!model_path) {
        if (!w->model)
            return cnn_errorf(err, "%s: the weights file holds no model description (metadata "
                                   "\"cnn.model\"); give the model JSON file too", w->path);
        /* the caller's own copy (printed as JSON and parsed, it cost more than
         * the parse: cJSON reads back every number it prints) */
        *m = cnn_model_copy(w->model);
        int rc = *m ? 0 : cnn_errorf(err, "out of memory");
        /* The model's size is only a claim until the tensors are there: check them
         * before a caller allocates a net of that size. */
        if (rc == 0 && cnn_weights_read_params(w, "", *m, NULL, err)) {
            cnn_model_free(*m);
            *m = NULL;
            return -1;
        }
        return rc;
    }
    if (cnn_model_load(model_path, m, err)) return -1;
    if (cnn_weights_check_model(w, *m, model_path, err)) {
        cnn_model_free(*m);
        *m = NULL;
        return -1;
    }
    return 0;
}

int cnn_weights_check_model(const cnn_weights *w, const cnn_model *m, const char *name,
                            cnn_error *err)
{
    char why[512];
    if (w->model && !cnn_model_same(m, w->model, why, sizeof why))
        return cnn_errorf(err, "%s and %s describe different models: %s", name, w->path, why);
    return cnn_weights_read_params(w, "", m, NULL, err);
}

static void shape_str(char *buf, size_t n, int rank, const long long *d)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", d[i]);
    if (k < n) snprintf(buf + k, n - k, rank == 1 ? ",)" : ")");
}

int cnn_weights_read_params(const cnn_weights *w, const char *prefix, const cnn_model *m,
                            float *params, cnn_error *err)
{
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(L, t);
        for (int k = 0; k < nt; k++) {
            char name[CNN_NAME_MAX + 64];
            snprintf(name, sizeof name, "%s%s.%s", prefix, L->name, t[k].suffix);
            const cnn_st_tensor *st = cnn_st_find(w->st, name);
            long long want[4], have[CNN_ST_MAX_RANK];
            for (int d = 0; d < t[k].rank; d++) want[d] = t[k].dims[d];
            char ws[96], hs[160];
            shape_str(ws, sizeof ws, t[k].rank, want);
            if (!st)
                return cnn_errorf(err, "%s: tensor %s is missing (the model needs shape %s)",
                                  w->path, name, ws);
            int same = st->rank == t[k].rank;
            for (int d = 0; d < st->rank; d++) {
                have[d] = st->shape[d];
                if (same && st->shape[d] != t[k].dims[d]) same = 0;
            }
            if (!same) {
                shape_str(hs, sizeof hs, st->rank, have);
                return cnn_errorf(err, "%s: tensor %s has shape %s but the model needs %s",
                                  w->path, name, hs, ws);
            }
            float *dst = params ? params + L->param_offset + t[k].offset : NULL;
            if (dst && st->data) {
                memcpy(dst, st->data, sizeof(float) * t[k].count);
            } else if (dst && w->values) {
                if (cnn_st_read_values(w->st, fileno(w->values), w->path, st, dst, err))
                    return -1;
            } else if (dst) {
                return cnn_errorf(err, "%s: only the header was read (cnn_weights_open_header): "
                                       "no values for tensor %s", w->path, name);
            }
        }
    }
    struct stat now;
    if (params && w->values && fstat(fileno(w->values), &now) == 0 &&
        (long long)now.st_size != w->size)
        return cnn_errorf(err, "%s: changed size while it was read (%lld bytes, then %lld)",
                          w->path, w->size, (long long)now.st_size);
    return 0;
}

int cnn_weights_save(const char *path, const cnn_model *m, const cnn_param_set *sets, int nsets,
                     const char *const *meta_keys, const char *const *meta_values, int nmeta,
                     cnn_error *err)
{
    int per = 0;
    for (int i = 0; i < m->nlayers; i++) {
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        per += cnn_layer_tensors(&m->layers[i], t);
    }
    int n = per * nsets, rc = -1;
    cnn_st_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    char (*names)[CNN_NAME_MAX + 64] = calloc((size_t)n + 1, sizeof *names);
    const char **keys = calloc((size_t)nmeta + 2, sizeof *keys);
    const char **vals = calloc((size_t)nmeta + 2, sizeof *vals);
    char *json = cnn_model_to_json(m);
    if (!ts || !names || !keys || !vals || !json) {
        cnn_errorf(err, "%s: out of memory", path);
        goto done;
    }
    int k = 0;
    for (int s = 0; s < nsets; s++)
        for (int i = 0; i < m->nlayers; i++) {
            const cnn_layer *L = &m->layers[i];
            cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
            int nt = cnn_layer_tensors(L, t);
            for (int j = 0; j < nt; j++, k++) {
                snprintf(names[k], sizeof names[k], "%s%s.%s", sets[s].prefix, L->name,
                         t[j].suffix);
                ts[k].name = names[k];
                ts[k].rank = t[j].rank;
                for (int d = 0; d < t[j].rank; d++) ts[k].shape[d] = t[j].dims[d];
                ts[k].data = sets[s].params + L->param_offset + t[j].offset;
                ts[k].count = t[j].count;
            }
        }
    keys[0] = "format", vals[0] = "pt";
    keys[1] = "cnn.model", vals[1] = json;
    for (int i = 0; i < nmeta; i++) keys[i + 2] = meta_keys[i], vals[i + 2] = meta_values[i];
    rc = cnn_st_write(path, ts, n, keys, vals, nmeta + 2, err);
done:
    free(json);
    free(vals);
    free(keys);
    free(names);
    free(ts);
    return rc;
}
