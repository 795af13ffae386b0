/* Tests for the safetensors reader and writer (lib/safetensors.c): a byte-exact
 * comparison with a file built by hand, round trips, metadata, F64/F16/BF16
 * conversion, and every malformed header we refuse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"
#include "safetensors.h"

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    static char buf[4][128];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    return p;
}

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

/* An 8-byte little-endian length, the JSON as given (no padding), the data. */
static bytes st_file(const char *json, const void *data, size_t dlen)
{
    size_t h = strlen(json);
    bytes b = {malloc(8 + h + dlen + 1), 8 + h + dlen};
    for (int i = 0; i < 8; i++) b.p[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b.p + 8, json, h);
    if (dlen) memcpy(b.p + 8 + h, data, dlen);
    return b;
}

static void expect_fail(const char *json, const void *data, size_t dlen, const char *want)
{
    bytes b = st_file(json, data, dlen);
    cnn_st_file *f = (cnn_st_file *)1;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_st_load_mem(b.p, b.n, "w.safetensors", &f, &err));
    CHECK(f == NULL);
    CHECK_CONTAINS(err.msg, "w.safetensors: ");
    CHECK_CONTAINS(err.msg, want);
    free(b.p);
}

static unsigned char zeros[1024];

/* ------------------------------------------------------------ writing */

static void st_write_matches_hand_built_file(void)
{
    float w[2] = {1.0f, -2.0f}, bias[1] = {0.5f};
    cnn_st_tensor ts[2] = {
        {.name = "w", .rank = 1, .shape = {2}, .data = w, .count = 2},
        {.name = "b", .rank = 1, .shape = {1}, .data = bias, .count = 1},
    };
    const char *keys[1] = {"format"}, *vals[1] = {"pt"};
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_write(tmp_path("w.st"), ts, 2, keys, vals, 1, &err));

    /* Tensors in name order, "__metadata__" first, compact JSON padded with 5
     * spaces to 144 bytes (a multiple of 8), then b's and w's little-endian floats. */
    static const char json[] =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}     ";
    bytes want = {0};
    want.n = 8 + 144 + 12;
    want.p = calloc(1, want.n);
    want.p[0] = 144;
    CHECK_INT_EQ(144, strlen(json));
    memcpy(want.p + 8, json, 144);
    static const unsigned char data[12] = {0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3f,
                                           0x00, 0x00, 0x00, 0xc0};
    memcpy(want.p + 152, data, 12);

    char *got = NULL;
    size_t n = 0;
    CHECK_INT_EQ(0, cnn_read_file(tmp_path("w.st"), 1 << 20, &got, &n, &err));
    CHECK_INT_EQ(want.n, n);
    CHECK(got && n == want.n && memcmp(got, want.p, n) == 0);
    if (got && n == want.n && memcmp(got, want.p, n) != 0) fprintf(stderr, "got: %.*s\n",
                                                                   (int)n - 8, got + 8);
    free(got);
    free(want.p);
    unlink(tmp_path("w.st"));
}

static void st_write_without_metadata_omits_it(void)
{
    float v[1] = {2.0f};
    cnn_st_tensor t = {.name = "x", .rank = 0, .data = v, .count = 1};
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_write(tmp_path("nm.st"), &t, 1, NULL, NULL, 0, &err));
    char *got = NULL;
    size_t n = 0;
    CHECK_INT_EQ(0, cnn_read_file(tmp_path("nm.st"), 1 << 20, &got, &n, &err));
    static const char json[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
    /* 53 bytes of JSON, padded to 56 */
    CHECK_INT_EQ(53, strlen(json));
    CHECK_INT_EQ(8 + 56 + 4, n);
    if (got && n == 68) {
        CHECK_INT_EQ(56, (unsigned char)got[0]);
        CHECK(memcmp(got + 8, json, 53) == 0);
        CHECK(memcmp(got + 61, "   ", 3) == 0);
    }
    free(got);
    unlink(tmp_path("nm.st"));
}

static void st_round_trip_keeps_shapes_values_and_metadata(void)
{
    float a[24], s[1] = {3.25f}, c[5];
    for (int i = 0; i < 24; i++) a[i] = (float)i * 0.37f - 4.0f;
    for (int i = 0; i < 5; i++) c[i] = 1.0f / (float)(i + 1);
    cnn_st_tensor ts[4] = {
        {.name = "conv.kernel", .rank = 4, .shape = {2, 3, 2, 2}, .data = a, .count = 24},
        {.name = "scalar", .rank = 0, .data = s, .count = 1},
        {.name = "empty", .rank = 2, .shape = {0, 7}, .data = NULL, .count = 0},
        {.name = "dense.bias", .rank = 1, .shape = {5}, .data = c, .count = 5},
    };
    const char *keys[3] = {"format", "quote\"back\\slash", "note"};
    const char *vals[3] = {"cnn", "line\nbreak\ttab\x01", "caf\xc3\xa9"};
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_write(tmp_path("rt.st"), ts, 4, keys, vals, 3, &err));
    cnn_st_file *f = NULL;
    CHECK_INT_EQ(0, cnn_st_load(tmp_path("rt.st"), 1 << 20, &f, &err));
    if (!f) { fprintf(stderr, "%s\n", err.msg); return; }
    CHECK_INT_EQ(4, cnn_st_count(f));
    /* header order is name order */
    CHECK_STR_EQ("conv.kernel", cnn_st_tensor_at(f, 0)->name);
    CHECK_STR_EQ("dense.bias", cnn_st_tensor_at(f, 1)->name);
    CHECK_STR_EQ("empty", cnn_st_tensor_at(f, 2)->name);
    CHECK_STR_EQ("scalar", cnn_st_tensor_at(f, 3)->name);
    CHECK(cnn_st_tensor_at(f, 4) == NULL);
    CHECK(cnn_st_tensor_at(f, -1) == NULL);
    for (int i = 0; i < 4; i++) {
        const cnn_st_tensor *t = cnn_st_find(f, ts[i].name);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK_INT_EQ(ts[i].rank, t->rank);
        CHECK_INT_EQ(ts[i].count, t->count);
        for (int k = 0; k < ts[i].rank; k++) CHECK_INT_EQ(ts[i].shape[k], t->shape[k]);
        if (ts[i].count) CHECK(memcmp(ts[i].data, t->data, ts[i].count * 4) == 0);
        CHECK_STR_EQ("F32", cnn_st_dtype(f, ts[i].name));
    }
    CHECK(cnn_st_find(f, "nope") == NULL);
    CHECK(cnn_st_dtype(f, "nope") == NULL);
    CHECK_INT_EQ(3, cnn_st_meta_count(f));
    for (int i = 0; i < 3; i++) CHECK_STR_EQ(vals[i], cnn_st_meta(f, keys[i]));
    const char *k = NULL, *v = NULL;
    CHECK_INT_EQ(0, cnn_st_meta_at(f, 1, &k, &v));
    CHECK_STR_EQ(keys[1], k);
    CHECK_STR_EQ(vals[1], v);
    CHECK_INT_EQ(-1, cnn_st_meta_at(f, 3, &k, &v));
    CHECK(cnn_st_meta(f, "absent") == NULL);
    cnn_st_free(f);
    cnn_st_free(NULL);
    unlink(tmp_path("rt.st"));
}

static void st_write_refuses_bad_tensors(void)
{
    float v[4] = {0};
    cnn_error err = {{0}};
    cnn_st_tensor dup[2] = {
        {.name = "a", .rank = 1, .shape = {4}, .data = v, .count = 4},
        {.name = "a", .rank = 1, .shape = {4}, .data = v, .count = 4},
    };
    CHECK_INT_EQ(-1, cnn_st_write(tmp_path("bad.st"), dup, 2, NULL, NULL, 0, &err));
    CHECK_CONTAINS(err.msg, "bad.st: tensor name \"a\" given twice");
    cnn_st_tensor wrong = {.name = "a", .rank = 2, .shape = {2, 3}, .data = v, .count = 4};
    CHECK_INT_EQ(-1, cnn_st_write(tmp_path("bad.st"), &wrong, 1, NULL, NULL, 0, &err));
    CHECK_CONTAINS(err.msg, "tensor a: count 4, but the shape holds 6 values");
    cnn_st_tensor neg = {.name = "a", .rank = 1, .shape = {-4}, .data = v, .count = 4};
    CHECK_INT_EQ(-1, cnn_st_write(tmp_path("bad.st"), &neg, 1, NULL, NULL, 0, &err));
    CHECK_CONTAINS(err.msg, "shape[0] is -4");
    cnn_st_tensor md = {.name = "__metadata__", .rank = 1, .shape = {4}, .data = v, .count = 4};
    CHECK_INT_EQ(-1, cnn_st_write(tmp_path("bad.st"), &md, 1, NULL, NULL, 0, &err));
    CHECK_CONTAINS(err.msg, "reserved");
    const char *keys[2] = {"k", "k"}, *vals[2] = {"1", "2"};
    CHECK_INT_EQ(-1, cnn_st_write(tmp_path("bad.st"), dup, 1, keys, vals, 2, &err));
    CHECK_CONTAINS(err.msg, "metadata key \"k\" given twice");
    cnn_st_tensor latin1 = {.name = "caf\xe9", .rank = 1, .shape = {4}, .data = v, .count = 4};
    CHECK_INT_EQ(-1, cnn_st_write(tmp_path("bad.st"), &latin1, 1, NULL, NULL, 0, &err));
    CHECK_CONTAINS(err.msg, "tensor 0: name is not valid UTF-8");
    CHECK(access(tmp_path("bad.st"), F_OK) != 0);
}

/* ------------------------------------------------------- dtypes */

static void st_f64_is_converted_to_float(void)
{
    static const unsigned char d[16] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0xc0};
    bytes b = st_file("{\"x\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", d, 16);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_load_mem(b.p, b.n, "f64", &f, &err));
    if (f) {
        const cnn_st_tensor *t = cnn_st_find(f, "x");
        CHECK_INT_EQ(2, t->count);
        CHECK_NEAR(1.0, t->data[0], 0);
        CHECK_NEAR(-2.5, t->data[1], 0);
        CHECK_STR_EQ("F64", cnn_st_dtype(f, "x"));
    }
    cnn_st_free(f);
    free(b.p);
}

static void st_f16_is_converted_to_float(void)
{
    /* 1, -2, 65504 (largest), 2^-24 (smallest subnormal), -0, 2^-14 (smallest normal) */
    static const unsigned char d[12] = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00,
                                        0x00, 0x80, 0x00, 0x04};
    bytes b = st_file("{\"h\":{\"dtype\":\"F16\",\"shape\":[6],\"data_offsets\":[0,12]}}", d, 12);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_load_mem(b.p, b.n, "f16", &f, &err));
    if (f) {
        const float *x = cnn_st_find(f, "h")->data;
        CHECK_NEAR(1.0, x[0], 0);
        CHECK_NEAR(-2.0, x[1], 0);
        CHECK_NEAR(65504.0, x[2], 0);
        CHECK(x[3] == 5.9604644775390625e-8f);
        CHECK(x[4] == 0.0f && signbit(x[4]));
        CHECK(x[5] == 6.103515625e-05f);
    }
    cnn_st_free(f);
    free(b.p);
}

static void st_non_finite_values_are_refused_naming_the_tensor(void)
{
    /* F16 1, +inf (0x7c00), NaN (0x7e00), -inf (0xfc00): the infinities and the
     * NaN convert to non-finite floats, refused with the count and the first. */
    static const unsigned char d[8] = {0x00, 0x3c, 0x00, 0x7c, 0x00, 0x7e, 0x00, 0xfc};
    bytes b = st_file("{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", d, 8);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_st_load_mem(b.p, b.n, "w.st", &f, &err));
    CHECK_STR_EQ("w.st: tensor \"h\" holds 3 non-finite values (NaN or infinity), the first at "
                 "index 1", err.msg);
    CHECK(f == NULL);
    free(b.p);
}

static void st_bf16_is_converted_to_float(void)
{
    /* 1.0 (0x3f80), -2.5 (0xc020), 3.140625 (0x4049) */
    static const unsigned char d[6] = {0x80, 0x3f, 0x20, 0xc0, 0x49, 0x40};
    bytes b = st_file("{\"__metadata__\":{},\"b\":{\"dtype\":\"BF16\",\"shape\":[3,1],"
                      "\"data_offsets\":[0,6]}}", d, 6);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_load_mem(b.p, b.n, "bf16", &f, &err));
    if (f) {
        const cnn_st_tensor *t = cnn_st_find(f, "b");
        CHECK_INT_EQ(2, t->rank);
        CHECK_NEAR(1.0, t->data[0], 0);
        CHECK_NEAR(-2.5, t->data[1], 0);
        CHECK_NEAR(3.140625, t->data[2], 0);
        CHECK_INT_EQ(0, cnn_st_meta_count(f));
    }
    cnn_st_free(f);
    free(b.p);
}

static void st_mixed_dtypes_and_padded_header_load(void)
{
    /* Header order differs from buffer order; trailing spaces pad the header. */
    static const unsigned char d[8] = {0x00, 0x3c, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00};
    bytes b = st_file("{\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]},"
                      "\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                      "\"p\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[6,8]}}   ", d, 8);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_load_mem(b.p, b.n, "mixed", &f, &err));
    if (f) {
        CHECK_STR_EQ("z", cnn_st_tensor_at(f, 0)->name);
        CHECK_NEAR(1.0, cnn_st_find(f, "a")->data[0], 0);
        /* z's bytes 00 00 80 3f at offset 2 */
        CHECK_NEAR(1.0, cnn_st_find(f, "z")->data[0], 0);
        CHECK_NEAR(0.0, cnn_st_find(f, "p")->data[0], 0);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    cnn_st_free(f);
    free(b.p);
}

static void st_empty_header_is_a_valid_empty_file(void)
{
    bytes b = st_file("{}", NULL, 0);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_load_mem(b.p, b.n, "e", &f, &err));
    if (f) CHECK_INT_EQ(0, cnn_st_count(f));
    cnn_st_free(f);
    free(b.p);
}

/* ------------------------------------------------------- malformed */

static void st_too_short_is_not_safetensors(void)
{
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_st_load_mem("abcde", 5, "w.safetensors", &f, &err));
    CHECK_CONTAINS(err.msg, "w.safetensors: not a safetensors file: 5 bytes, expected at least 8");
}

static void st_header_length_beyond_file_is_refused(void)
{
    bytes b = st_file("{}", zeros, 10);
    uint64_t big = 999999999;
    for (int i = 0; i < 8; i++) b.p[i] = (unsigned char)(big >> (8 * i));
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_st_load_mem(b.p, b.n, "w.safetensors", &f, &err));
    CHECK_CONTAINS(err.msg, "w.safetensors: header length 999999999 exceeds file size 20");
    /* 2^64 - 1: no wrap-around in the comparison */
    memset(b.p, 0xff, 8);
    CHECK_INT_EQ(-1, cnn_st_load_mem(b.p, b.n, "w.safetensors", &f, &err));
    CHECK_CONTAINS(err.msg, "header length 18446744073709551615 exceeds file size 20");
    free(b.p);
}

static void st_header_over_100mb_is_refused(void)
{
    size_t h = CNN_ST_MAX_HEADER + 8;
    unsigned char *p = calloc(1, 8 + h);
    if (!p) return;
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)h >> (8 * i));
    p[8] = '{';
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_st_load_mem(p, 8 + h, "w.safetensors", &f, &err));
    CHECK_CONTAINS(err.msg, "header length 100000008 exceeds the limit of 100000000 bytes");
    free(p);
}

static void st_non_json_header_is_refused(void)
{
    expect_fail("{\"a\": ", NULL, 0, "the header is not valid JSON (error near header byte");
    expect_fail("hello", NULL, 0, "not a safetensors file: the header does not start with '{'");
    expect_fail("[1, 2]", NULL, 0, "does not start with '{'");
    expect_fail("{} x", NULL, 0, "unexpected bytes after the JSON header at header byte 3 of 4");
    expect_fail("", NULL, 0, "does not start with '{'");
    expect_fail("{\"a\xff\":{}}", NULL, 0, "the header is not valid UTF-8 at header byte 3");
    expect_fail("{\"\xc0\xaf\":{}}", NULL, 0, "not valid UTF-8 at header byte 2"); /* overlong */
}

static void st_offsets_outside_buffer_are_refused(void)
{
    expect_fail("{\"conv2d.kernel\":{\"dtype\":\"F32\",\"shape\":[225],\"data_offsets\":[0,900]}}",
                zeros, 800,
                "tensor conv2d.kernel: data_offsets [0, 900] outside the data buffer of 800 bytes");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", zeros, 8,
                "tensor a: data_offsets [8, 4] end before they begin");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", zeros, 4,
                "data_offsets must be an array of two non-negative integers");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", zeros, 4,
                "data_offsets must be an array of two non-negative integers");
}

static void st_size_mismatch_is_refused(void)
{
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", zeros, 8,
                "tensor a: data_offsets [0, 8] hold 8 bytes, shape [3] of F32 needs 12");
    expect_fail("{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", zeros, 16,
                "shape [2, 2] of F16 needs 8");
}

static void st_overlapping_offsets_are_refused(void)
{
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", zeros, 12,
                "tensors a [0, 8] and b [4, 12] overlap");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", zeros, 8,
                "overlap");
}

static void st_holes_and_uncovered_bytes_are_refused(void)
{
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", zeros, 12,
                "bytes [4, 8) of the data buffer belong to no tensor (a hole before tensor b)");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 8,
                "the data buffer has 8 bytes but the tensors cover only the first 4");
    expect_fail("{}", zeros, 4,
                "the data buffer has 4 bytes but the tensors cover only the first 0");
}

static void st_bad_shapes_are_refused(void)
{
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,0]}}", NULL, 0,
                "tensor a: shape[0] is -2, expected a non-negative integer");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", NULL, 0,
                "shape[0] is 1.5, expected a non-negative integer");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,0]}}", NULL, 0,
                "shape[0] is a string, expected a non-negative integer");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,0]}}", NULL, 0,
                "tensor a: shape is a number, expected an array");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                zeros, 4, "tensor a: rank 9 is more than the 8 supported");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                "\"data_offsets\":[0,0]}}", NULL, 0,
                "shape [4294967296, 4294967296, 4294967296] overflows the size of memory");
}

static void st_bad_entries_are_refused(void)
{
    expect_fail("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4,
                "tensor a: missing \"dtype\"");
    expect_fail("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", zeros, 8,
                "tensor a: dtype I64 is not supported (supported: F32, F64, F16, BF16)");
    expect_fail("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4,
                "tensor a: dtype is a number, expected a string");
    expect_fail("{\"a\":[1,2]}", NULL, 0, "tensor a: expected an object, found an array");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", zeros, 4,
                "tensor a: missing \"shape\"");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", zeros, 4,
                "tensor a: missing \"data_offsets\"");
}

static void st_non_string_metadata_is_refused(void)
{
    expect_fail("{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", NULL, 0,
                "__metadata__.epoch is a number, expected a string");
    expect_fail("{\"__metadata__\":[\"x\"]}", NULL, 0,
                "__metadata__ is an array, expected an object of strings");
    expect_fail("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", NULL, 0,
                "__metadata__ names \"k\" twice");
}

static void st_duplicate_tensor_is_refused(void)
{
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", zeros, 8,
                "the header names \"a\" twice");
    expect_fail("{\"__metadata__\":{},\"__metadata__\":{}}", NULL, 0,
                "the header names \"__metadata__\" twice");
}

static void st_load_respects_file_size_limit(void)
{
    float v[64] = {0};
    cnn_st_tensor t = {.name = "v", .rank = 1, .shape = {64}, .data = v, .count = 64};
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_write(tmp_path("big.st"), &t, 1, NULL, NULL, 0, &err));
    cnn_st_file *f = NULL;
    CHECK_INT_EQ(-1, cnn_st_load(tmp_path("big.st"), 100, &f, &err));
    CHECK(f == NULL);
    CHECK_CONTAINS(err.msg, "big.st");
    CHECK_CONTAINS(err.msg, "limit of 100 bytes");
    CHECK_INT_EQ(-1, cnn_st_load(tmp_path("missing.st"), 100, &f, &err));
    CHECK_CONTAINS(err.msg, "missing.st: cannot open");
    unlink(tmp_path("big.st"));
}

/* ------------------------------------------------------------ large files */

#define BIG_N 70000 /* floats per tensor: two tensors make a file over 256 KiB */

static float big_value(int tensor, size_t i)
{
    return (float)((long)(i % 4093) - 2000) * 0.25f + (float)tensor; /* exact in float */
}

/* A file of two tensors of BIG_N values, a then b: F32, or b in F16 (values
 * that F16 holds exactly: i % 8 - 4); the JSON padded with `pad` spaces, which
 * moves the data off or onto a 4-byte boundary. */
static const char *write_big(const char *name, int b_f16, int pad, int nan_at)
{
    char json[512];
    size_t bbytes = (size_t)BIG_N * (b_f16 ? 2 : 4);
    int h = snprintf(json, sizeof json,
                     "{\"a\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[0,%zu]},"
                     "\"b\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}}%*s",
                     BIG_N, (size_t)BIG_N * 4, b_f16 ? "F16" : "F32", BIG_N, (size_t)BIG_N * 4,
                     (size_t)BIG_N * 4 + bbytes, pad, "");
    size_t dlen = (size_t)BIG_N * 4 + bbytes;
    unsigned char *data = malloc(dlen);
    for (size_t i = 0; i < BIG_N; i++) {
        float v = big_value(0, i);
        memcpy(data + 4 * i, &v, 4); /* the test machines are little-endian */
        if (b_f16) {
            /* i % 8 - 4 in F16: sign, exponent 15 + e, mantissa */
            static const uint16_t f16[8] = {0xc400, 0xc200, 0xc000, 0xbc00,
                                            0x0000, 0x3c00, 0x4000, 0x4200};
            data[4 * BIG_N + 2 * i] = (unsigned char)(f16[i % 8] & 0xff);
            data[4 * BIG_N + 2 * i + 1] = (unsigned char)(f16[i % 8] >> 8);
        } else {
            float w = big_value(1, i);
            memcpy(data + 4 * BIG_N + 4 * i, &w, 4);
        }
    }
    if (nan_at >= 0) {
        float q = NAN;
        memcpy(data + 4 * (size_t)nan_at, &q, 4);
    }
    bytes b = st_file(json, data, dlen);
    (void)h;
    FILE *fp = fopen(tmp_path(name), "wb");
    CHECK(fp && fwrite(b.p, 1, b.n, fp) == b.n);
    if (fp) fclose(fp);
    free(b.p);
    free(data);
    return tmp_path(name);
}

static void check_big(const cnn_st_file *f, int b_f16)
{
    const cnn_st_tensor *a = cnn_st_find(f, "a"), *b = cnn_st_find(f, "b");
    CHECK(a && b);
    if (!a || !b) return;
    size_t wrong = 0;
    for (size_t i = 0; i < BIG_N; i++) {
        if (a->data[i] != big_value(0, i)) wrong++;
        if (b->data[i] != (b_f16 ? (float)((int)(i % 8) - 4) : big_value(1, i))) wrong++;
    }
    CHECK_INT_EQ(0, wrong);
}

/* Files of 256 KiB and more are read into 2 MiB pages, and used where they lie
 * when every tensor is aligned float32: the same values every way. */
static void st_large_files_load_the_same_values_aligned_or_not(void)
{
    struct { int f16, pad; } cases[] = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {1, 0}, {1, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *path = write_big("large.st", cases[c].f16, cases[c].pad, -1);
        cnn_st_file *f = NULL;
        cnn_error err = {{0}};
        CHECK_INT_EQ(0, cnn_st_load(path, 1 << 24, &f, &err));
        if (f) check_big(f, cases[c].f16);
        cnn_st_free(f);
        unlink(path);
    }
}

static void st_large_file_with_nan_is_refused(void)
{
    const char *path = write_big("nan.st", 0, 0, 12345);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_st_load(path, 1 << 24, &f, &err));
    CHECK(f == NULL);
    CHECK_CONTAINS(err.msg, "nan.st: tensor \"a\" holds 1 non-finite value (NaN or infinity), "
                            "the first at index 12345");
    unlink(path);
}

/* The size a regular file had when opened is the size read: a file that grew
 * or shrank meanwhile is an error, not a half-read weights file. */
static void st_large_file_that_changed_size_is_refused(void)
{
    const char *path = write_big("changed.st", 0, 0, -1);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    if (!fp) return;
    fseek(fp, 0, SEEK_END);
    long long size = ftell(fp);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    rewind(fp);
    CHECK_INT_EQ(-1, cnn_st_load_fp(fp, "changed.st", size - 4, 1 << 24, NULL, 0, 0, &f, &err));
    CHECK(f == NULL);
    CHECK_CONTAINS(err.msg, "changed.st: grew while it was read");
    rewind(fp);
    CHECK_INT_EQ(-1, cnn_st_load_fp(fp, "changed.st", size + 4, 1 << 24, NULL, 0, 0, &f, &err));
    CHECK_CONTAINS(err.msg, "changed.st: shrank while it was read");
    rewind(fp);
    CHECK_INT_EQ(0, cnn_st_load_fp(fp, "changed.st", size, 1 << 24, NULL, 0, 0, &f, &err));
    if (f) check_big(f, 0);
    cnn_st_free(f);
    fclose(fp);
    unlink(path);
}

/* A header-only load, then each tensor's values read from the file
 * (cnn_st_read_values, what cnn_weights_open_deferred does): the same values
 * as a full load, aligned or not, F32 or F16. */
static void st_values_read_later_are_those_of_a_full_load(void)
{
    struct { int f16, pad; } cases[] = {{0, 0}, {0, 1}, {1, 0}, {1, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *path = write_big("later.st", cases[c].f16, cases[c].pad, -1);
        cnn_st_file *f = NULL;
        cnn_error err = {{0}};
        CHECK_INT_EQ(0, cnn_st_load_header(path, 1 << 24, &f, &err));
        FILE *fp = fopen(path, "rb");
        CHECK(f && fp);
        if (!f || !fp) return;
        const cnn_st_tensor *a = cnn_st_find(f, "a"), *b = cnn_st_find(f, "b");
        CHECK(a && b && !a->data && !b->data);
        float *va = malloc(sizeof(float) * BIG_N), *vb = malloc(sizeof(float) * BIG_N);
        CHECK_INT_EQ(0, cnn_st_read_values(f, fileno(fp), "later.st", b, vb, &err));
        CHECK_INT_EQ(0, cnn_st_read_values(f, fileno(fp), "later.st", a, va, &err));
        size_t wrong = 0;
        for (size_t i = 0; i < BIG_N; i++) {
            if (va[i] != big_value(0, i)) wrong++;
            if (vb[i] != (cases[c].f16 ? (float)((int)(i % 8) - 4) : big_value(1, i))) wrong++;
        }
        CHECK_INT_EQ(0, wrong);
        free(va);
        free(vb);
        fclose(fp);
        cnn_st_free(f);
        unlink(path);
    }
}

/* Read later, a NaN is refused as a full load refuses it, and a file cut
 * short since its header was read is named, not read past. */
static void st_values_read_later_are_checked(void)
{
    const char *path = write_big("later-nan.st", 0, 0, 777);
    cnn_st_file *f = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_st_load_header(path, 1 << 24, &f, &err));
    FILE *fp = fopen(path, "rb+");
    CHECK(f && fp);
    if (!f || !fp) return;
    float *v = malloc(sizeof(float) * BIG_N);
    CHECK_INT_EQ(-1, cnn_st_read_values(f, fileno(fp), "later-nan.st", cnn_st_find(f, "a"), v,
                                        &err));
    CHECK_CONTAINS(err.msg, "later-nan.st: tensor \"a\" holds 1 non-finite value (NaN or "
                            "infinity), the first at index 777");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    CHECK_INT_EQ(0, ftruncate(fileno(fp), size - 4));
    CHECK_INT_EQ(-1, cnn_st_read_values(f, fileno(fp), "later-nan.st", cnn_st_find(f, "b"), v,
                                        &err));
    char want[128];
    snprintf(want, sizeof want, "later-nan.st: shrank while it was read (tensor b ends at byte %ld)",
             size);
    CHECK_CONTAINS(err.msg, want);
    free(v);
    fclose(fp);
    cnn_st_free(f);
    unlink(path);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_safetensors.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(st_write_matches_hand_built_file);
    RUN(st_write_without_metadata_omits_it);
    RUN(st_round_trip_keeps_shapes_values_and_metadata);
    RUN(st_write_refuses_bad_tensors);
    RUN(st_f64_is_converted_to_float);
    RUN(st_f16_is_converted_to_float);
    RUN(st_non_finite_values_are_refused_naming_the_tensor);
    RUN(st_bf16_is_converted_to_float);
    RUN(st_mixed_dtypes_and_padded_header_load);
    RUN(st_empty_header_is_a_valid_empty_file);
    RUN(st_too_short_is_not_safetensors);
    RUN(st_header_length_beyond_file_is_refused);
    RUN(st_header_over_100mb_is_refused);
    RUN(st_non_json_header_is_refused);
    RUN(st_offsets_outside_buffer_are_refused);
    RUN(st_size_mismatch_is_refused);
    RUN(st_overlapping_offsets_are_refused);
    RUN(st_holes_and_uncovered_bytes_are_refused);
    RUN(st_bad_shapes_are_refused);
    RUN(st_bad_entries_are_refused);
    RUN(st_non_string_metadata_is_refused);
    RUN(st_duplicate_tensor_is_refused);
    RUN(st_load_respects_file_size_limit);
    RUN(st_large_files_load_the_same_values_aligned_or_not);
    RUN(st_large_file_with_nan_is_refused);
    RUN(st_large_file_that_changed_size_is_refused);
    RUN(st_values_read_later_are_those_of_a_full_load);
    RUN(st_values_read_later_are_checked);
    rmdir(tmpdir);
    return check_report();
}
