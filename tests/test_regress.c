/* Replays the fuzzing regression corpus: every file in tests/regress/HARNESS/
 * goes through the same code as the libFuzzer harness tests/fuzz/HARNESS.c (the
 * harness sources are included here), which aborts on any broken promise (a
 * failure without a message, an output left set, a model that does not
 * survive its own JSON round trip...).  Under `make asan` the sanitizers check
 * memory as in fuzzing.  Then the size limits: each hostile size field is
 * refused with a message naming the limit, before anything of that size is
 * allocated. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cnn.h"

#define LLVMFuzzerTestOneInput regress_model_one
#include "fuzz/fuzz_model.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_idx_one
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_png_one
#include "fuzz/fuzz_png.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_safetensors_one
#include "fuzz/fuzz_safetensors.c"
#include "layer.h"
#include "fileio.h"
#include "safetensors.h" /* internal: the layer-extension API */
#undef LLVMFuzzerTestOneInput

#define REGRESS_DIR "tests/regress"

/* The input being replayed, named on stderr if it kills the program. */
static char current[512];

static void on_crash(int sig)
{
    static const char msg[] = "test_regress: crashed while replaying ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, current, strlen(current));
    w = write(2, "\n", 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static int read_input(const char *path, char **buf, size_t *len)
{
    cnn_error err;
    if (cnn_read_file(path, (size_t)64 << 20, buf, len, &err) != 0) {
        CHECK_FAIL_("%s", err.msg);
        return -1;
    }
    return 0;
}

/* Replays every file of tests/regress/<harness>; returns how many there were. */
static int replay(const char *harness, int (*one)(const uint8_t *, size_t))
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", REGRESS_DIR, harness);
    DIR *d = opendir(dir);
    if (!d) {
        CHECK_FAIL_("cannot open %s", dir);
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(current, sizeof current, "%s/%s", dir, e->d_name);
        char *buf;
        size_t len;
        if (read_input(current, &buf, &len) != 0) continue;
        /* An exact-size copy, as libFuzzer passes it (no NUL after the data). */
        uint8_t *copy = malloc(len ? len : 1);
        CHECK(copy != NULL);
        if (copy) {
            memcpy(copy, buf, len);
            CHECK_INT_EQ(0, one(copy, len));
            free(copy);
        }
        free(buf);
        n++;
    }
    closedir(d);
    current[0] = 0;
    return n;
}

static void regress_model_inputs_replay_cleanly(void)
{
    CHECK(replay("fuzz_model", regress_model_one) >= 1);
}

static void regress_idx_inputs_replay_cleanly(void)
{
    CHECK(replay("fuzz_idx", regress_idx_one) >= 1);
}

static void regress_png_inputs_replay_cleanly(void)
{
    CHECK(replay("fuzz_png", regress_png_one) >= 1);
}

static void regress_safetensors_inputs_replay_cleanly(void)
{
    CHECK(replay("fuzz_safetensors", regress_safetensors_one) >= 1);
}

/* ---- limits: hostile sizes are refused with a message naming the limit ---- */

/* Loads tests/regress/<harness>/<name> (minus `skip` leading bytes) into *buf. */
static size_t load(const char *harness, const char *name, size_t skip, char **buf)
{
    snprintf(current, sizeof current, "%s/%s/%s", REGRESS_DIR, harness, name);
    size_t len = 0;
    *buf = NULL;
    if (read_input(current, buf, &len) != 0) return 0;
    CHECK(len >= skip);
    memmove(*buf, *buf + skip, len - skip);
    return len - skip;
}

static void idx_header_claiming_gigabytes_is_refused(void)
{
    static const char *const files[] = {"limit-header-claims-gigabytes",
                                        "limit-header-claims-gigabytes-gzip"};
    for (int i = 0; i < 2; i++) {
        char *buf;
        size_t len = load("fuzz_idx", files[i], 1, &buf);
        cnn_idx *x = NULL;
        cnn_error err;
        CHECK_INT_EQ(-1, cnn_idx_load_mem(buf, len, "big.idx", CNN_IDX_MAX_BYTES, &x, &err));
        CHECK(x == NULL);
        CHECK_CONTAINS(err.msg, "big.idx: header says 60000000×28×28 u8 = 47040000000 data "
                                "bytes, more than the limit of 1073741824 bytes");
        free(buf);
    }
}

static void idx_dims_whose_product_overflows_are_refused(void)
{
    char *buf;
    size_t len = load("fuzz_idx", "limit-dims-product-overflows", 1, &buf);
    cnn_idx *x = NULL;
    cnn_error err;
    CHECK_INT_EQ(-1, cnn_idx_load_mem(buf, len, "o.idx", CNN_IDX_MAX_BYTES, &x, &err));
    CHECK_CONTAINS(err.msg, "overflow the size of memory");
    free(buf);
}

/* Found by fuzz_idx: an f32 label of 2^63 passed the range check (LONG_MAX
 * rounds up to 2^63 as a double) and was converted to long: undefined. */
static void idx_label_of_2_pow_63_is_not_an_integer_label(void)
{
    char *buf;
    size_t len = load("fuzz_idx", "f32-label-2-pow-63", 1, &buf);
    cnn_idx *x = NULL;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_idx_load_mem(buf, len, "l.idx", CNN_IDX_MAX_BYTES, &x, &err));
    if (x) {
        long v = 0;
        CHECK_INT_EQ(-1, cnn_idx_label(x, 0, &v, &err));
        CHECK_STR_EQ("l.idx: label 0 is 9.22337e+18, expected an integer", err.msg);
    }
    cnn_idx_free(x);
    free(buf);
}

static void st_expect(const char *name, const char *msg)
{
    char *buf;
    size_t len = load("fuzz_safetensors", name, 0, &buf);
    cnn_st_file *f = NULL;
    cnn_error err;
    CHECK_INT_EQ(-1, cnn_st_load_mem(buf, len, "w.safetensors", &f, &err));
    CHECK(f == NULL);
    CHECK_CONTAINS(err.msg, msg);
    free(buf);
}

static void safetensors_hostile_sizes_are_refused(void)
{
    st_expect("limit-header-length-claims-terabyte",
              "w.safetensors: header length 1099511627776 exceeds file size 16");
    st_expect("limit-offsets-outside-file", "outside the data buffer of 4 bytes");
    st_expect("limit-shape-product-overflows", "overflows the size of memory");
}

static void weights_model_claiming_gigabytes_is_refused(void)
{
    char *buf;
    size_t len = load("fuzz_safetensors", "limit-model-claims-gigabytes-of-parameters", 0, &buf);
    cnn_st_file *f = NULL;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_st_load_mem(buf, len, "w.safetensors", &f, &err));
    const char *json = f ? cnn_st_meta(f, "cnn.model") : NULL;
    CHECK(json != NULL);
    cnn_model *m = NULL;
    if (json) {
        CHECK_INT_EQ(-1, cnn_model_parse(json, strlen(json), "w.safetensors", &m, &err));
        CHECK_CONTAINS(err.msg, "the model exceeds the limit of 1073741824 parameters");
    }
    cnn_st_free(f);
    free(buf);
}

/* A 264-byte weights file whose model claims 784 million parameters: refused
 * by cnn_weights_resolve_model (missing tensors) before a net is allocated. */
static void weights_model_without_its_tensors_is_refused_before_the_net(void)
{
    char *buf;
    size_t len = load("fuzz_safetensors", "limit-model-without-its-tensors", 0, &buf);
    cnn_weights w = {.path = "w.safetensors"};
    cnn_error err;
    CHECK_INT_EQ(0, cnn_st_load_mem(buf, len, "w.safetensors", &w.st, &err));
    const char *json = w.st ? cnn_st_meta(w.st, "cnn.model") : NULL;
    CHECK(json != NULL);
    if (json) {
        CHECK_INT_EQ(0, cnn_model_parse(json, strlen(json), "w.safetensors", &w.model, &err));
        CHECK(w.model && w.model->nparams > 700000000u);
        cnn_model *m = NULL;
        CHECK_INT_EQ(-1, cnn_weights_resolve_model(&w, NULL, &m, &err));
        CHECK(m == NULL);
        CHECK_STR_EQ("w.safetensors: tensor dense.kernel is missing (the model needs shape "
                     "(1000000, 784))", err.msg);
    }
    cnn_model_free(w.model);
    cnn_st_free(w.st);
    free(buf);
}

static void png_claiming_100000x100000_is_refused(void)
{
    char *buf;
    size_t len = load("fuzz_png", "limit-100000x100000", 0, &buf);
    cnn_image *img = NULL;
    cnn_error err;
    CHECK_INT_EQ(-1, cnn_png_load_mem(buf, len, "big.png", 1, NULL, &img, &err));
    CHECK(img == NULL);
    CHECK_STR_EQ("big.png: image is 100000x100000 pixels, larger than the limit of 16384x16384",
                 err.msg);
    free(buf);
    len = load("fuzz_png", "limit-16000x16000-too-many-pixels", 0, &buf);
    CHECK_INT_EQ(-1, cnn_png_load_mem(buf, len, "big.png", 3, NULL, &img, &err));
    CHECK_STR_EQ("big.png: image is 16000x16000 = 256000000 pixels, more than the limit of "
                 "67108864 pixels", err.msg);
    /* A caller can raise the limits (cnn_png_limits): then the size passes the
     * check and the (missing) data is what fails. */
    cnn_png_limits big = {20000, 20000, 400000000ull};
    CHECK_INT_EQ(-1, cnn_png_load_mem(buf, len, "big.png", 3, &big, &img, &err));
    CHECK(strstr(err.msg, "limit") == NULL);
    free(buf);
}

static void model_sizes_over_the_limits_are_refused(void)
{
    static const struct {
        const char *file, *msg;
    } cases[] = {
        {"limit-input-100000x100000", "100000x100000x3 exceeds the limit of 268435456 values"},
        {"limit-dense-billions-of-parameters", "the model exceeds the limit of 1073741824"},
        {"limit-too-many-layers", "more than 1000 layers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *buf;
        size_t len = load("fuzz_model", cases[i].file, 0, &buf);
        cnn_model *m = NULL;
        cnn_error err;
        CHECK_INT_EQ(-1, cnn_model_parse(buf, len, "m.json", &m, &err));
        CHECK(m == NULL);
        CHECK_CONTAINS(err.msg, cases[i].msg);
        free(buf);
    }
}

int main(void)
{
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    RUN(regress_model_inputs_replay_cleanly);
    RUN(regress_idx_inputs_replay_cleanly);
    RUN(regress_png_inputs_replay_cleanly);
    RUN(regress_safetensors_inputs_replay_cleanly);
    RUN(idx_header_claiming_gigabytes_is_refused);
    RUN(idx_dims_whose_product_overflows_are_refused);
    RUN(idx_label_of_2_pow_63_is_not_an_integer_label);
    RUN(safetensors_hostile_sizes_are_refused);
    RUN(weights_model_claiming_gigabytes_is_refused);
    RUN(weights_model_without_its_tensors_is_refused_before_the_net);
    RUN(png_claiming_100000x100000_is_refused);
    RUN(model_sizes_over_the_limits_are_refused);
    return check_report();
}
