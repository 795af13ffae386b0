/* libFuzzer harness for cnn-import's readers (lib/import/): the input is
 * written to a file and imported as cnn-import does, once alone and once with
 * an architecture given (so the weights-only HDF5 forms reach their weight
 * reads too).  The file sits in a folder holding the reference RGB model's
 * TensorFlow.js shards, so a mutated model.json reads real shards.  Seeds: the
 * small reference models of tests/import in every form.
 *
 * HDF5, libzip and cJSON are not instrumented; what is checked is that our
 * code never trusts a size it read, and that a failure always says why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[128];

static void copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out) abort();
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) abort();
    fclose(in);
    if (fclose(out)) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fuzz-import.XXXXXX");
    if (!mkdtemp(dir)) abort();
    static const char *const shards[] = {"group1-shard1of3.bin", "group1-shard2of3.bin",
                                         "group1-shard3of3.bin"};
    for (int i = 0; i < 3; i++) {
        char from[256], to[256];
        snprintf(from, sizeof from, "tests/import/rgb/%s", shards[i]);
        snprintf(to, sizeof to, "%s/%s", dir, shards[i]);
        copy(from, to);
    }
    snprintf(path, sizeof path, "%s/model.json", dir);
    return 0;
}

static void one(const char *arch)
{
    cnn_import im;
    cnn_error err;
    err.msg[0] = 0;
    if (cnn_import_load(path, arch, &im, &err) == 0) {
        if (!im.model || !im.params) abort();
        cnn_import_free(&im);
    } else if (!err.msg[0] || im.model || im.params) {
        fprintf(stderr, "cnn_import_load failed without a message or left output\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    one(NULL);
    one("tests/import/rgb/arch.json");
    return 0;
}
