/* libFuzzer harness for model descriptions: cnn_model_parse, the entry point of
 * cnn_model_load (every tool's model file) and of the "cnn.model" metadata in
 * weights files.  Accepts our JSON format and Keras to_json() exports.
 *
 * Besides "no crash, no leak, no sanitizer report", a model that parses must
 * survive the round trip the weights files depend on: cnn_model_to_json, parsed
 * again, describes the same architecture. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* libFuzzer's buffer is exactly `size` bytes, not NUL-terminated: any read
     * past `len` is caught by AddressSanitizer. */
    cnn_model *m = NULL;
    cnn_error err;
    if (cnn_model_parse((const char *)data, size, "fuzz.json", &m, &err) != 0) {
        if (m || !err.msg[0]) {
            fprintf(stderr, "cnn_model_parse failed without a message or left *out set\n");
            abort();
        }
        return 0;
    }
    char *json = cnn_model_to_json(m);
    if (!json) abort();
    cnn_model *again = NULL;
    if (cnn_model_parse(json, strlen(json), "round-trip.json", &again, &err) != 0) {
        fprintf(stderr, "model written by cnn_model_to_json does not parse: %s\n%s\n", err.msg,
                json);
        abort();
    }
    char why[512];
    if (!cnn_model_same(m, again, why, sizeof why)) {
        fprintf(stderr, "round trip changed the model: %s\n%s\n", why, json);
        abort();
    }
    (void)cnn_model_find_layer(m, "dense");
    free(json);
    cnn_model_free(again);
    cnn_model_free(m);
    return 0;
}
