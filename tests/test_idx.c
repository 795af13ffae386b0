/* Tests for the IDX reader and writer (lib/idx.c): every element type, ranks 1
 * to 4, plain and gzip fixtures built by hand here, round trips, every malformed
 * header or stream we can think of, and the MNIST subset shipped in data/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "fileio.h"
#include "idx.h"

static char tmpdir[64];

/* ------------------------------------------------------------- helpers */

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32be(bytes *b, uint32_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, q, 4);
}

/* The 4 + 4*rank header bytes, written out by hand. */
static bytes idx_header(int type, int rank, const uint32_t *dims)
{
    bytes b = {0};
    unsigned char magic[4] = {0, 0, (unsigned char)type, (unsigned char)rank};
    put(&b, magic, 4);
    for (int i = 0; i < rank; i++) put_u32be(&b, dims[i]);
    return b;
}

/* gzip-compresses with zlib, independently of lib/idx.c. */
static bytes gzip_of(const bytes *in)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    bytes out = {0};
    out.p = malloc(deflateBound(&zs, in->n) + 64);
    zs.next_in = in->p;
    zs.avail_in = (uInt)in->n;
    zs.next_out = out.p;
    zs.avail_out = (uInt)(deflateBound(&zs, in->n) + 64);
    deflate(&zs, Z_FINISH);
    out.n = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static char *tmp_path(const char *name)
{
    static char buf[4][128];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const bytes *b)
{
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp) return;
    CHECK(fwrite(b->p, 1, b->n, fp) == b->n);
    fclose(fp);
}

/* Loads from memory and expects failure with a message containing `want`. */
static void expect_fail_mem(const bytes *b, size_t max_bytes, const char *want)
{
    cnn_idx *x = (cnn_idx *)1;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_idx_load_mem(b->p, b->n, "t.idx", max_bytes, &x, &err));
    CHECK(x == NULL);
    CHECK_CONTAINS(err.msg, "t.idx: ");
    CHECK_CONTAINS(err.msg, want);
}

/* ------------------------------------------------------------- loading */

static void idx_u8_images_load_with_shape_and_scaling(void)
{
    uint32_t dims[3] = {2, 2, 3};
    bytes b = idx_header(CNN_IDX_U8, 3, dims);
    unsigned char px[12] = {0, 255, 51, 1, 2, 3, 10, 20, 30, 40, 50, 60};
    put(&b, px, 12);
    cnn_idx *x = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_idx_load_mem(b.p, b.n, "img", CNN_IDX_MAX_BYTES, &x, &err));
    if (!x) { fprintf(stderr, "%s\n", err.msg); free(b.p); return; }
    CHECK_INT_EQ(CNN_IDX_U8, x->type);
    CHECK_INT_EQ(3, x->rank);
    CHECK_INT_EQ(2, x->dims[0]);
    CHECK_INT_EQ(2, x->dims[1]);
    CHECK_INT_EQ(3, x->dims[2]);
    CHECK_INT_EQ(2, x->count);
    CHECK_INT_EQ(6, x->record);
    CHECK_INT_EQ(1, x->elem_size);
    CHECK(memcmp(x->data, px, 12) == 0);
    float f[6];
    cnn_idx_record_float(x, 0, f);
    CHECK_NEAR(0.0, f[0], 0);
    CHECK_NEAR(1.0, f[1], 0);
    CHECK_NEAR(0.2, f[2], 1e-7);
    cnn_idx_record_float(x, 1, f);
    CHECK_NEAR(60.0 / 255.0, f[5], 1e-7);
    cnn_idx_free(x);
    free(b.p);
}

/* Each type: three big-endian elements built by hand, and the values they mean. */
static void idx_every_type_decodes_big_endian(void)
{
    struct {
        int type;
        unsigned char be[24];
        double want[3];
    } cases[] = {
        {CNN_IDX_U8, {0x00, 0x80, 0xff}, {0, 128.0 / 255, 1}},
        {CNN_IDX_I8, {0x80, 0x7f, 0xff}, {-128, 127, -1}},
        {CNN_IDX_I16, {0x01, 0x02, 0xff, 0xfe, 0x80, 0x00}, {258, -2, -32768}},
        {CNN_IDX_I32, {0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff},
         {65536, -1, 2147483647.0}},
        {CNN_IDX_F32, {0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0, 0x3e, 0x80, 0, 0}, {1, -2.5, 0.25}},
        {CNN_IDX_F64, {0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0x04, 0, 0, 0, 0, 0, 0,
                       0x40, 0x59, 0, 0, 0, 0, 0, 0}, {1, -2.5, 100}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t es = cnn_idx_type_size(cases[c].type);
        for (int gz = 0; gz < 2; gz++) {
            /* Shape (3, 1) so each element is a record of one. */
            uint32_t dims[2] = {3, 1};
            bytes b = idx_header(cases[c].type, 2, dims);
            put(&b, cases[c].be, 3 * es);
            bytes z = gz ? gzip_of(&b) : b;
            cnn_idx *x = NULL;
            cnn_error err = {{0}};
            CHECK_INT_EQ(0, cnn_idx_load_mem(z.p, z.n, "t", CNN_IDX_MAX_BYTES, &x, &err));
            if (x) {
                CHECK_INT_EQ(es, x->elem_size);
                CHECK_INT_EQ(3, x->count);
                CHECK_INT_EQ(1, x->record);
                for (int i = 0; i < 3; i++) {
                    float f;
                    cnn_idx_record_float(x, (size_t)i, &f);
                    CHECK_NEAR(cases[c].want[i], f, 1e-7);
                }
            } else {
                fprintf(stderr, "type %s: %s\n", cnn_idx_type_name(cases[c].type), err.msg);
            }
            cnn_idx_free(x);
            if (gz) free(z.p);
            free(b.p);
        }
    }
}

static void idx_type_names_and_sizes(void)
{
    CHECK_STR_EQ("u8", cnn_idx_type_name(CNN_IDX_U8));
    CHECK_STR_EQ("i16", cnn_idx_type_name(CNN_IDX_I16));
    CHECK_STR_EQ("f64", cnn_idx_type_name(CNN_IDX_F64));
    CHECK_STR_EQ("unknown", cnn_idx_type_name(0x0A));
    CHECK_INT_EQ(8, cnn_idx_type_size(CNN_IDX_F64));
    CHECK_INT_EQ(0, cnn_idx_type_size(0x0A));
}

static void idx_gzip_detected_by_content(void)
{
    uint32_t dims[1] = {4};
    bytes b = idx_header(CNN_IDX_U8, 1, dims);
    unsigned char v[4] = {9, 8, 7, 6};
    put(&b, v, 4);
    bytes z = gzip_of(&b);
    /* gzip content under a plain name, plain content under a .gz name */
    write_file(tmp_path("labels.idx"), &z);
    write_file(tmp_path("labels.gz"), &b);
    const char *names[2] = {"labels.idx", "labels.gz"};
    for (int i = 0; i < 2; i++) {
        cnn_idx *x = NULL;
        cnn_error err = {{0}};
        CHECK_INT_EQ(0, cnn_idx_load(tmp_path(names[i]), 100, &x, &err));
        if (!x) { fprintf(stderr, "%s\n", err.msg); continue; }
        CHECK_INT_EQ(4, x->count);
        CHECK(memcmp(x->data, v, 4) == 0);
        long lab = -1;
        CHECK_INT_EQ(0, cnn_idx_label(x, 3, &lab, &err));
        CHECK_INT_EQ(6, lab);
        cnn_idx_free(x);
        unlink(tmp_path(names[i]));
    }
    free(b.p);
    free(z.p);
}

static void idx_gzip_concatenated_members_are_joined(void)
{
    uint32_t dims[1] = {6};
    bytes head = idx_header(CNN_IDX_U8, 1, dims);
    unsigned char v[6] = {1, 2, 3, 4, 5, 6};
    put(&head, v, 2);
    bytes tail = {0};
    put(&tail, v + 2, 4);
    bytes z1 = gzip_of(&head), z2 = gzip_of(&tail);
    put(&z1, z2.p, z2.n);
    cnn_idx *x = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_idx_load_mem(z1.p, z1.n, "cat", 100, &x, &err));
    if (x) CHECK(memcmp(x->data, v, 6) == 0);
    else fprintf(stderr, "%s\n", err.msg);
    cnn_idx_free(x);
    free(head.p); free(tail.p); free(z1.p); free(z2.p);
}

static void idx_missing_file_names_it(void)
{
    cnn_idx *x = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_idx_load(tmp_path("nope.idx"), 100, &x, &err));
    CHECK(x == NULL);
    CHECK_CONTAINS(err.msg, "nope.idx: cannot open");
}

/* ------------------------------------------------------------ labels */

static void idx_labels_from_integer_and_float_types(void)
{
    int32_t vals[3] = {7, -3, 0};
    size_t d1[1] = {3};
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_idx_write(tmp_path("l32"), CNN_IDX_I32, 1, d1, vals, 0, &err));
    cnn_idx *x = NULL;
    CHECK_INT_EQ(0, cnn_idx_load(tmp_path("l32"), 100, &x, &err));
    long lab = 0;
    if (x) {
        CHECK_INT_EQ(0, cnn_idx_label(x, 1, &lab, &err));
        CHECK_INT_EQ(-3, lab);
        CHECK_INT_EQ(-1, cnn_idx_label(x, 3, &lab, &err));
        CHECK_CONTAINS(err.msg, "l32: label 3 out of range, the file has 3");
    }
    cnn_idx_free(x);

    float fv[2] = {4.0f, 2.5f};
    size_t d2[1] = {2};
    CHECK_INT_EQ(0, cnn_idx_write(tmp_path("lf"), CNN_IDX_F32, 1, d2, fv, 0, &err));
    x = NULL;
    CHECK_INT_EQ(0, cnn_idx_load(tmp_path("lf"), 100, &x, &err));
    if (x) {
        CHECK_INT_EQ(0, cnn_idx_label(x, 0, &lab, &err));
        CHECK_INT_EQ(4, lab);
        CHECK_INT_EQ(-1, cnn_idx_label(x, 1, &lab, &err));
        CHECK_CONTAINS(err.msg, "label 1 is 2.5, expected an integer");
    }
    cnn_idx_free(x);

    unsigned char img[8] = {0};
    size_t d3[2] = {2, 4};
    CHECK_INT_EQ(0, cnn_idx_write(tmp_path("img"), CNN_IDX_U8, 2, d3, img, 0, &err));
    x = NULL;
    CHECK_INT_EQ(0, cnn_idx_load(tmp_path("img"), 100, &x, &err));
    if (x) {
        CHECK_INT_EQ(-1, cnn_idx_label(x, 0, &lab, &err));
        CHECK_CONTAINS(err.msg, "records have 4 elements, expected 1");
    }
    cnn_idx_free(x);
    unlink(tmp_path("l32"));
    unlink(tmp_path("lf"));
    unlink(tmp_path("img"));
}

/* ------------------------------------------------------------ writing */

static void idx_write_plain_matches_hand_built_bytes(void)
{
    int16_t v[6] = {1, -1, 256, 300, -32768, 32767};
    size_t dims[2] = {2, 3};
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_idx_write(tmp_path("w.idx"), CNN_IDX_I16, 2, dims, v, 0, &err));
    static const unsigned char want[] = {
        0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 3,
        0x00, 0x01, 0xff, 0xff, 0x01, 0x00, 0x01, 0x2c, 0x80, 0x00, 0x7f, 0xff,
    };
    char *got = NULL;
    size_t n = 0;
    CHECK_INT_EQ(0, cnn_read_file(tmp_path("w.idx"), 1000, &got, &n, &err));
    CHECK_INT_EQ(sizeof want, n);
    CHECK(got && n == sizeof want && memcmp(got, want, n) == 0);
    free(got);
    unlink(tmp_path("w.idx"));
}

static void idx_write_gzip_is_deterministic_with_zero_mtime(void)
{
    unsigned char v[100];
    for (int i = 0; i < 100; i++) v[i] = (unsigned char)(i * 7);
    size_t dims[2] = {10, 10};
    cnn_error err = {{0}};
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK_INT_EQ(0, cnn_idx_write(tmp_path("a.gz"), CNN_IDX_U8, 2, dims, v, 1, &err));
    CHECK_INT_EQ(0, cnn_idx_write(tmp_path("b.gz"), CNN_IDX_U8, 2, dims, v, 1, &err));
    CHECK_INT_EQ(0, cnn_read_file(tmp_path("a.gz"), 1000, &a, &na, &err));
    CHECK_INT_EQ(0, cnn_read_file(tmp_path("b.gz"), 1000, &b, &nb, &err));
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
    if (a && na > 10) {
        CHECK_INT_EQ(0x1f, (unsigned char)a[0]);
        CHECK_INT_EQ(0x8b, (unsigned char)a[1]);
        CHECK_INT_EQ(0, a[4] | a[5] | a[6] | a[7]); /* mtime */
    }
    free(a);
    free(b);
    unlink(tmp_path("a.gz"));
    unlink(tmp_path("b.gz"));
}

static void idx_round_trip_every_type_ranks_1_to_4_plain_and_gzip(void)
{
    int types[6] = {CNN_IDX_U8, CNN_IDX_I8, CNN_IDX_I16, CNN_IDX_I32, CNN_IDX_F32, CNN_IDX_F64};
    size_t dims[4] = {3, 2, 4, 5};
    unsigned char src[3 * 2 * 4 * 5 * 8];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (unsigned char)(i * 37 + 11);
    /* NaN-free float payloads so a byte comparison says all there is to say */
    float *fs = malloc(sizeof src);
    double *ds = malloc(sizeof src);
    for (size_t i = 0; i < sizeof src / 8; i++) ds[i] = (double)i * -1.25 + 0.5;
    for (size_t i = 0; i < sizeof src / 4; i++) fs[i] = (float)i * 0.75f - 3.0f;
    for (int t = 0; t < 6; t++) {
        const void *payload = types[t] == CNN_IDX_F32 ? (const void *)fs
                              : types[t] == CNN_IDX_F64 ? (const void *)ds : (const void *)src;
        for (int rank = 1; rank <= 4; rank++) {
            size_t n = 1;
            for (int i = 0; i < rank; i++) n *= dims[i];
            for (int gz = 0; gz < 2; gz++) {
                cnn_error err = {{0}};
                const char *p = tmp_path("rt");
                CHECK_INT_EQ(0, cnn_idx_write(p, types[t], rank, dims, payload, gz, &err));
                cnn_idx *x = NULL;
                CHECK_INT_EQ(0, cnn_idx_load(p, 1 << 20, &x, &err));
                if (!x) { fprintf(stderr, "%s\n", err.msg); continue; }
                CHECK_INT_EQ(types[t], x->type);
                CHECK_INT_EQ(rank, x->rank);
                for (int i = 0; i < rank; i++) CHECK_INT_EQ(dims[i], x->dims[i]);
                CHECK_INT_EQ(dims[0], x->count);
                CHECK_INT_EQ(n / dims[0], x->record);
                CHECK(memcmp(x->data, payload, n * x->elem_size) == 0);
                cnn_idx_free(x);
                unlink(p);
            }
        }
    }
    free(fs);
    free(ds);
}

static void idx_write_refuses_bad_arguments(void)
{
    size_t dims[2] = {2, 0};
    unsigned char v[4] = {0};
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_idx_write(tmp_path("bad"), 0x0A, 1, dims, v, 0, &err));
    CHECK_CONTAINS(err.msg, "unknown IDX type code 0x0a");
    CHECK_INT_EQ(-1, cnn_idx_write(tmp_path("bad"), CNN_IDX_U8, 2, dims, v, 0, &err));
    CHECK_CONTAINS(err.msg, "dimension 2 = 0");
    CHECK_INT_EQ(-1, cnn_idx_write(tmp_path("bad"), CNN_IDX_U8, 0, dims, v, 0, &err));
    CHECK_CONTAINS(err.msg, "rank 0");
    CHECK(access(tmp_path("bad"), F_OK) != 0);
    CHECK_INT_EQ(-1, cnn_idx_write("/nonexistent-dir/x.idx", CNN_IDX_U8, 1, dims, v, 0, &err));
    CHECK_CONTAINS(err.msg, "/nonexistent-dir/x.idx");
}

/* ------------------------------------------------------------ malformed */

static void idx_empty_file_is_refused(void)
{
    bytes b = {0};
    put(&b, "", 0);
    expect_fail_mem(&b, 100, "empty file, expected an IDX header");
    write_file(tmp_path("empty"), &b);
    cnn_idx *x = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_idx_load(tmp_path("empty"), 100, &x, &err));
    CHECK_CONTAINS(err.msg, "empty file");
    unlink(tmp_path("empty"));
    free(b.p);
}

static void idx_short_header_is_refused(void)
{
    bytes b = {0};
    unsigned char m[3] = {0, 0, 8};
    put(&b, m, 3);
    expect_fail_mem(&b, 100, "truncated header: file has 3 bytes, an IDX header needs at least 4");
    free(b.p);
    uint32_t dims[3] = {1, 2, 3};
    b = idx_header(CNN_IDX_U8, 3, dims);
    b.n = 10;
    expect_fail_mem(&b, 100, "truncated header: rank 3 needs 16 header bytes, file has 10");
    free(b.p);
}

static void idx_bad_magic_is_refused(void)
{
    uint32_t dims[1] = {1};
    bytes b = idx_header(CNN_IDX_U8, 1, dims);
    b.p[0] = 'P';
    put(&b, "x", 1);
    expect_fail_mem(&b, 100, "not an IDX file: magic starts with 0x50 0x00, expected 0x00 0x00");
    free(b.p);
}

static void idx_unknown_type_code_is_refused(void)
{
    uint32_t dims[1] = {1};
    bytes b = idx_header(0x0A, 1, dims);
    put(&b, "x", 1);
    expect_fail_mem(&b, 100, "unknown IDX type code 0x0a (known: 0x08 u8");
    free(b.p);
}

static void idx_rank_out_of_range_is_refused(void)
{
    uint32_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    bytes b = idx_header(CNN_IDX_U8, 0, dims);
    expect_fail_mem(&b, 100, "rank 0 in the IDX header, expected at least 1");
    free(b.p);
    b = idx_header(CNN_IDX_U8, 9, dims);
    put(&b, "x", 1);
    expect_fail_mem(&b, 100, "rank 9 in the IDX header is more than the 8 supported");
    free(b.p);
}

static void idx_zero_dimension_is_refused(void)
{
    uint32_t dims[3] = {5, 0, 2};
    bytes b = idx_header(CNN_IDX_U8, 3, dims);
    expect_fail_mem(&b, 100, "dimension 2 of 3 is 0 in the IDX header");
    free(b.p);
}

static void idx_dimension_product_overflow_is_refused(void)
{
    uint32_t dims[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    bytes b = idx_header(CNN_IDX_U8, 3, dims);
    expect_fail_mem(&b, SIZE_MAX, "IDX header dimensions 4294967295×4294967295×4294967295 u8"
                    " overflow the size of memory");
    free(b.p);
    /* Fits in elements, overflows once multiplied by 8 bytes per f64. */
    uint32_t d2[2] = {0xffffffffu, 0xffffffffu};
    b = idx_header(CNN_IDX_F64, 2, d2);
    expect_fail_mem(&b, SIZE_MAX, "overflow the size of memory");
    free(b.p);
}

/* The header claims 4 GiB; the limit check must come before any allocation or
 * read, so this fails at once, with the numbers, on a 12-byte input. */
static void idx_size_over_limit_fails_before_allocating(void)
{
    uint32_t dims[2] = {65536, 65536};
    bytes b = idx_header(CNN_IDX_U8, 2, dims);
    expect_fail_mem(&b, CNN_IDX_MAX_BYTES,
                    "header says 65536×65536 u8 = 4294967296 data bytes, more than the limit"
                    " of 1073741824 bytes");
    bytes z = gzip_of(&b);
    expect_fail_mem(&z, CNN_IDX_MAX_BYTES, "more than the limit of 1073741824 bytes");
    free(z.p);
    free(b.p);
    /* Under the limit but far beyond the input: refused on the size, not allocated. */
    uint32_t d3[3] = {60000, 28, 28};
    b = idx_header(CNN_IDX_U8, 3, d3);
    put(&b, "abcd", 4);
    expect_fail_mem(&b, SIZE_MAX,
                    "truncated: header says 60000×28×28 u8 = 47040016 bytes with the header,"
                    " file has 20");
    free(b.p);
}

static void idx_truncated_data_is_refused(void)
{
    uint32_t dims[2] = {2, 3};
    bytes b = idx_header(CNN_IDX_U8, 2, dims);
    put(&b, "abcde", 5);
    expect_fail_mem(&b, 100,
                    "truncated: header says 2×3 u8 = 18 bytes with the header, file has 17");
    /* Through a file too, so the size comes from fstat. */
    write_file(tmp_path("trunc"), &b);
    cnn_idx *x = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_idx_load(tmp_path("trunc"), 100, &x, &err));
    CHECK_CONTAINS(err.msg, "trunc: truncated: header says 2×3 u8 = 18 bytes with the header,"
                   " file has 17");
    unlink(tmp_path("trunc"));
    free(b.p);
}

static void idx_trailing_bytes_are_refused(void)
{
    uint32_t dims[2] = {2, 3};
    bytes b = idx_header(CNN_IDX_U8, 2, dims);
    put(&b, "abcdefgh", 8);
    expect_fail_mem(&b, 100, "trailing bytes after the data: header says 2×3 u8 = 18 bytes with"
                    " the header, file has 20");
    bytes z = gzip_of(&b);
    expect_fail_mem(&z, 100, "trailing bytes after the data: header says 2×3 u8 = 18 bytes with"
                    " the header, gzip data decompresses to more");
    free(z.p);
    free(b.p);
}

static void idx_gzip_decompressing_short_is_refused(void)
{
    uint32_t dims[2] = {2, 3};
    bytes b = idx_header(CNN_IDX_U8, 2, dims);
    put(&b, "abcd", 4);
    bytes z = gzip_of(&b);
    expect_fail_mem(&z, 100, "truncated: header says 2×3 u8 = 18 bytes with the header, gzip"
                    " data decompresses to 16");
    free(z.p);
    b.n = 2;
    z = gzip_of(&b);
    expect_fail_mem(&z, 100, "truncated header: gzip data decompresses to 2 bytes");
    free(z.p);
    b.n = 0;
    z = gzip_of(&b);
    expect_fail_mem(&z, 100, "empty gzip data");
    free(z.p);
    free(b.p);
}

static void idx_truncated_gzip_is_refused(void)
{
    uint32_t dims[2] = {50, 40};
    bytes b = idx_header(CNN_IDX_U8, 2, dims);
    unsigned char v[2000];
    for (int i = 0; i < 2000; i++) v[i] = (unsigned char)(i * i);
    put(&b, v, 2000);
    bytes z = gzip_of(&b);
    size_t full = z.n;
    z.n = full / 2;
    expect_fail_mem(&z, 1 << 20, "truncated gzip stream: it ends after");
    /* All data present, only the CRC/length trailer missing. */
    z.n = full - 4;
    expect_fail_mem(&z, 1 << 20, "before its trailer");
    z.n = 5;
    expect_fail_mem(&z, 1 << 20, "truncated gzip stream");
    free(z.p);
    free(b.p);
}

static void idx_corrupt_gzip_is_refused(void)
{
    uint32_t dims[2] = {50, 40};
    bytes b = idx_header(CNN_IDX_U8, 2, dims);
    unsigned char v[2000];
    for (int i = 0; i < 2000; i++) v[i] = (unsigned char)(i * i);
    put(&b, v, 2000);
    bytes z = gzip_of(&b);
    /* A wrong CRC in the trailer. */
    z.p[z.n - 6] ^= 0x55;
    expect_fail_mem(&z, 1 << 20, "corrupt gzip data near compressed byte");
    z.p[z.n - 6] ^= 0x55;
    /* A bad compression method in the gzip header. */
    z.p[2] = 7;
    expect_fail_mem(&z, 1 << 20, "corrupt gzip data");
    z.p[2] = 8;
    /* Garbage after a complete member. */
    put(&z, "garbage!", 8);
    expect_fail_mem(&z, 1 << 20, "corrupt gzip data");
    /* Flipped bits in the deflate data: zlib or the CRC catches it. */
    z.n -= 8;
    for (size_t i = 12; i < z.n - 8; i += 7) z.p[i] ^= 0xa5;
    expect_fail_mem(&z, 1 << 20, "gzip");
    free(z.p);
    free(b.p);
}

/* ------------------------------------------------------- shipped MNIST */

static int cmp_rec(const void *a, const void *b)
{
    return memcmp(a, b, 784);
}

static void idx_shipped_mnist_subset_is_complete_and_stratified(void)
{
    const char *files[4] = {
        "data/mnist-train-images-idx3-ubyte.gz", "data/mnist-train-labels-idx1-ubyte.gz",
        "data/mnist-test-images-idx3-ubyte.gz", "data/mnist-test-labels-idx1-ubyte.gz",
    };
    cnn_idx *x[4] = {0};
    for (int i = 0; i < 4; i++) {
        cnn_error err = {{0}};
        CHECK_INT_EQ(0, cnn_idx_load(files[i], CNN_IDX_MAX_BYTES, &x[i], &err));
        if (!x[i]) { fprintf(stderr, "%s\n", err.msg); goto out; }
        CHECK_INT_EQ(CNN_IDX_U8, x[i]->type);
    }
    size_t want[2] = {8000, 2000};
    int counts[2][10] = {{0}};
    for (int s = 0; s < 2; s++) {
        cnn_idx *img = x[2 * s], *lab = x[2 * s + 1];
        CHECK_INT_EQ(3, img->rank);
        CHECK_INT_EQ(want[s], img->count);
        CHECK_INT_EQ(28, img->dims[1]);
        CHECK_INT_EQ(28, img->dims[2]);
        CHECK_INT_EQ(1, lab->rank);
        CHECK_INT_EQ(want[s], lab->count);
        for (size_t i = 0; i < lab->count; i++) {
            long l = -1;
            cnn_error err = {{0}};
            CHECK_INT_EQ(0, cnn_idx_label(lab, i, &l, &err));
            CHECK(l >= 0 && l <= 9);
            if (l >= 0 && l <= 9) counts[s][l]++;
        }
        /* Interleaved: the first and last 10% each hold every class. */
        int head[10] = {0}, tail[10] = {0};
        size_t tenth = lab->count / 10;
        const unsigned char *L = lab->data;
        for (size_t i = 0; i < tenth; i++) {
            if (L[i] < 10) head[L[i]]++;
            if (L[lab->count - 1 - i] < 10) tail[L[lab->count - 1 - i]]++;
        }
        for (int c = 0; c < 10; c++) {
            CHECK(head[c] > 0);
            CHECK(tail[c] > 0);
        }
    }
    for (int c = 0; c < 10; c++) {
        CHECK(counts[0][c] > 0);
        CHECK(counts[1][c] > 0);
        /* Stratified: each class's test share is within one image of 20%. */
        double share = (double)counts[1][c] / (counts[0][c] + counts[1][c]);
        CHECK_NEAR(0.2, share, 0.002);
    }
    /* No test image is byte-identical to a training image. */
    unsigned char *train = malloc(8000 * 784);
    if (train && x[0]->count == 8000 && x[2]->count == 2000) {
        memcpy(train, x[0]->data, 8000 * 784);
        qsort(train, 8000, 784, cmp_rec);
        const unsigned char *test = x[2]->data;
        int dup = 0;
        for (int i = 0; i < 2000; i++)
            if (bsearch(test + (size_t)i * 784, train, 8000, 784, cmp_rec)) dup++;
        CHECK_INT_EQ(0, dup);
    }
    free(train);
out:
    for (int i = 0; i < 4; i++) cnn_idx_free(x[i]);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_idx.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(idx_u8_images_load_with_shape_and_scaling);
    RUN(idx_every_type_decodes_big_endian);
    RUN(idx_type_names_and_sizes);
    RUN(idx_gzip_detected_by_content);
    RUN(idx_gzip_concatenated_members_are_joined);
    RUN(idx_missing_file_names_it);
    RUN(idx_labels_from_integer_and_float_types);
    RUN(idx_write_plain_matches_hand_built_bytes);
    RUN(idx_write_gzip_is_deterministic_with_zero_mtime);
    RUN(idx_round_trip_every_type_ranks_1_to_4_plain_and_gzip);
    RUN(idx_write_refuses_bad_arguments);
    RUN(idx_empty_file_is_refused);
    RUN(idx_short_header_is_refused);
    RUN(idx_bad_magic_is_refused);
    RUN(idx_unknown_type_code_is_refused);
    RUN(idx_rank_out_of_range_is_refused);
    RUN(idx_zero_dimension_is_refused);
    RUN(idx_dimension_product_overflow_is_refused);
    RUN(idx_size_over_limit_fails_before_allocating);
    RUN(idx_truncated_data_is_refused);
    RUN(idx_trailing_bytes_are_refused);
    RUN(idx_gzip_decompressing_short_is_refused);
    RUN(idx_truncated_gzip_is_refused);
    RUN(idx_corrupt_gzip_is_refused);
    RUN(idx_shipped_mnist_subset_is_complete_and_stratified);
    rmdir(tmpdir);
    return check_report();
}
