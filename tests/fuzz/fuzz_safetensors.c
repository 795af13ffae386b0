/* libFuzzer harness for safetensors and weights files.
 *
 * cnn_st_load_mem is what cnn_st_load (and so cnn_weights_open) runs on the
 * file's bytes.  When the header's metadata carries a model ("cnn.model"), the
 * rest of cnn_weights_open is done in memory the same way (the metadata parsed
 * with cnn_model_parse), and then what every tool does with a weights file:
 * cnn_weights_resolve_model without a model file, and cnn_weights_read_params
 * for the weights and the optimizer state of a checkpoint.  The header-only
 * reader (cnn-summary's, cnn_st_load_fp with header_only) runs on the same
 * bytes through a stream, of known size and of unknown size: it must accept
 * every file the full reader accepts, with the same tensors, and say why when
 * it refuses one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "weights.h"

/* Parameter vectors above this many floats are not allocated (the tensor data
 * in the input is far smaller anyway, so reading them fails early). */
#define FUZZ_MAX_PARAMS ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_params(const cnn_weights *w)
{
    cnn_model *m = NULL;
    cnn_error err;
    err.msg[0] = 0;
    if (cnn_weights_resolve_model(w, NULL, &m, &err) != 0) {
        if (m || !err.msg[0]) abort();
        return;
    }
    if (m->nparams <= FUZZ_MAX_PARAMS) {
        float *params = malloc(sizeof(float) * (m->nparams ? m->nparams : 1));
        if (!params) abort();
        static const char *const prefixes[] = {"", "optimizer.m.", "optimizer.v.", "best."};
        for (int i = 0; i < 4; i++) (void)cnn_weights_read_params(w, prefixes[i], m, params, &err);
        free(params);
    }
    cnn_model_free(m);
}

static void header_only(const uint8_t *data, size_t size, const cnn_st_file *full)
{
    for (int known = 0; known < 2 && size > 0; known++) {
        FILE *fp = fmemopen((void *)data, size, "rb");
        if (!fp) abort();
        cnn_st_file *h = NULL;
        cnn_error err;
        err.msg[0] = 0;
        int rc = cnn_st_load_fp(fp, "fuzz.safetensors", known ? (long long)size : -1,
                                SIZE_MAX, NULL, 0, 1, &h, &err);
        fclose(fp);
        if (rc != 0) {
            if (h || !err.msg[0] || full) {
                fprintf(stderr, "header-only reader: %s\n", err.msg);
                abort();
            }
            continue;
        }
        if (!h) abort();
        if (full) {
            if (cnn_st_count(h) != cnn_st_count(full)) abort();
            for (int i = 0; i < cnn_st_count(h); i++) {
                const cnn_st_tensor *a = cnn_st_tensor_at(h, i), *b = cnn_st_tensor_at(full, i);
                if (a->data || strcmp(a->name, b->name) || a->rank != b->rank ||
                    a->count != b->count || memcmp(a->shape, b->shape, sizeof a->shape))
                    abort();
            }
        }
        cnn_st_free(h);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cnn_st_file *st = NULL;
    cnn_error err;
    err.msg[0] = 0;
    if (cnn_st_load_mem(data, size, "fuzz.safetensors", &st, &err) != 0) {
        if (st || !err.msg[0]) {
            fprintf(stderr, "cnn_st_load_mem failed without a message or set *out\n");
            abort();
        }
        header_only(data, size, NULL);
        return 0;
    }
    header_only(data, size, st);
    /* The accessors, on every tensor and metadata pair. */
    int n = cnn_st_count(st);
    for (int i = 0; i < n; i++) {
        const cnn_st_tensor *t = cnn_st_tensor_at(st, i);
        if (!t || cnn_st_find(st, t->name) != t || !cnn_st_dtype(st, t->name)) abort();
        volatile float sum = 0;
        for (size_t k = 0; k < t->count; k++) sum += t->data[k];
        (void)sum;
    }
    if (cnn_st_tensor_at(st, n) || cnn_st_tensor_at(st, -1)) abort();
    for (int i = 0; i < cnn_st_meta_count(st); i++) {
        const char *k, *v;
        if (cnn_st_meta_at(st, i, &k, &v) != 0 || cnn_st_meta(st, k) == NULL) abort();
    }

    /* cnn_weights_open, from memory. */
    cnn_weights w = {.path = "fuzz.safetensors", .st = st, .model = NULL};
    const char *json = cnn_st_meta(st, "cnn.model");
    if (json && cnn_model_parse(json, strlen(json), "fuzz.safetensors (metadata cnn.model)",
                                &w.model, &err) != 0) {
        cnn_st_free(st);
        return 0;
    }
    read_params(&w);
    cnn_model_free(w.model);
    cnn_st_free(st);
    return 0;
}
