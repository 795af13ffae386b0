/* Tests for lib/image.c: PNG decoding of every colour type and bit depth, bad
 * input, size limits, bilinear resizing, and atomic, deterministic PNG writing.
 *
 * Fixtures are encoded here with libpng from raw samples; the expected float
 * values are computed independently from the same samples (v / (2^d - 1),
 * palette lookup, alpha on black, BT.601 luminance).  JPEG colour rules: flat
 * JPEGs encoded here by libjpeg at quality 100, expected values from JFIF's
 * YCbCr formulas by hand (tests/cli/data.sh compares whole images with djpeg). */
#include <dirent.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>
#include <math.h>

#include "check.h"
#include "error.h"
#include "image.h"

static char tmpdir[64];

/* ------------------------------------------------------------------------ */
/* Helpers: temp files, PNG fixtures                                         */
/* ------------------------------------------------------------------------ */

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t put = len ? fwrite(data, 1, len, fp) : 0;
    return (fclose(fp) == 0 && put == len) ? 0 : -1;
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        if (got == 0) break;
        n += got;
    }
    fclose(fp);
    *len = n;
    return buf;
}

/* Entries in a folder, not counting . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

typedef struct membuf {
    unsigned char *p;
    size_t len, cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap < m->len + n) cap *= 2;
        unsigned char *nb = realloc(m->p, cap);
        if (!nb) png_error(png, "test: out of memory");
        m->p = nb;
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

/* What a fixture holds: PNG colour type, bit depth, interlace, and tRNS. */
typedef struct fixture {
    int w, h;
    int color, depth, interlace;
    int trns;                  /* write a tRNS chunk */
    const unsigned *samples;   /* (h, w, spp) sample values, or palette indices */
    png_color palette[256];
    int npalette;
    unsigned char trans[256];  /* palette alpha */
    int ntrans;
    png_color_16 trans_color;  /* gray / RGB colour key */
} fixture;

static int samples_per_pixel(int color)
{
    switch (color) {
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1; /* gray, palette */
    }
}

/* Packs one row of samples the way PNG stores them: sub-byte depths MSB
 * first, 16-bit big-endian. */
static void pack_row(unsigned char *out, const unsigned *s, size_t n, int depth)
{
    size_t bytes = (n * (size_t)depth + 7) / 8;
    memset(out, 0, bytes);
    for (size_t i = 0; i < n; i++) {
        if (depth == 16) {
            out[2 * i] = (unsigned char)(s[i] >> 8);
            out[2 * i + 1] = (unsigned char)s[i];
        } else if (depth == 8) {
            out[i] = (unsigned char)s[i];
        } else {
            size_t bit = i * (size_t)depth;
            out[bit / 8] |= (unsigned char)(s[i] << (8 - depth - (int)(bit % 8)));
        }
    }
}

/* The libpng calls for encode_fixture, kept apart so that the function that
 * calls setjmp has no local changed between setjmp and longjmp. */
static int write_fixture_png(png_structp png, png_infop info, const fixture *f, png_bytep *rows,
                             membuf *m)
{
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_write_fn(png, m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)f->w, (png_uint_32)f->h, f->depth, f->color,
                 f->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (f->color == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(png, info, f->palette, f->npalette);
    if (f->trns)
        png_set_tRNS(png, info, f->ntrans ? f->trans : NULL, f->ntrans,
                     f->color == PNG_COLOR_TYPE_PALETTE ? NULL : &f->trans_color);
    png_write_info(png, info);
    png_write_image(png, rows); /* handles Adam7 itself */
    png_write_end(png, NULL);
    return 0;
}

/* Encodes the fixture with libpng into a malloc'd buffer; 0 on success. */
static int encode_fixture(const fixture *f, unsigned char **buf, size_t *len)
{
    int spp = samples_per_pixel(f->color);
    size_t rowbytes = ((size_t)f->w * (size_t)spp * (size_t)f->depth + 7) / 8;
    unsigned char *data = calloc((size_t)f->h, rowbytes);
    png_bytep *rows = calloc((size_t)f->h, sizeof *rows);
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int ok = data && rows && png && info;
    if (ok) {
        for (int y = 0; y < f->h; y++) {
            rows[y] = data + (size_t)y * rowbytes;
            pack_row(rows[y], f->samples + (size_t)y * (size_t)f->w * (size_t)spp,
                     (size_t)f->w * (size_t)spp, f->depth);
        }
        ok = write_fixture_png(png, info, f, rows, &m) == 0;
    }
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    free(data);
    free(rows);
    if (!ok) {
        free(m.p);
        return -1;
    }
    *buf = m.p;
    *len = m.len;
    return 0;
}

/* The value the decoder should produce for pixel i, as (r, g, b) after alpha on
 * black, computed from the fixture's samples in double precision; *is_gray
 * says whether the source has one colour channel. */
static void expected_rgb(const fixture *f, size_t i, double rgb[3], int *is_gray)
{
    int spp = samples_per_pixel(f->color);
    const unsigned *s = f->samples + i * (size_t)spp;
    double maxv = (double)((1u << f->depth) - 1);
    double a = 1.0;
    *is_gray = 0;
    rgb[0] = rgb[1] = rgb[2] = 0.0;
    switch (f->color) {
    case PNG_COLOR_TYPE_GRAY:
        *is_gray = 1;
        rgb[0] = rgb[1] = rgb[2] = s[0] / maxv;
        if (f->trns && s[0] == f->trans_color.gray) a = 0.0;
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        *is_gray = 1;
        rgb[0] = rgb[1] = rgb[2] = s[0] / maxv;
        a = s[1] / maxv;
        break;
    case PNG_COLOR_TYPE_RGB:
        for (int k = 0; k < 3; k++) rgb[k] = s[k] / maxv;
        if (f->trns && s[0] == f->trans_color.red && s[1] == f->trans_color.green &&
            s[2] == f->trans_color.blue)
            a = 0.0;
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        for (int k = 0; k < 3; k++) rgb[k] = s[k] / maxv;
        a = s[3] / maxv;
        break;
    case PNG_COLOR_TYPE_PALETTE: {
        png_color c = f->palette[s[0]];
        rgb[0] = c.red / 255.0;
        rgb[1] = c.green / 255.0;
        rgb[2] = c.blue / 255.0;
        if (f->trns && (int)s[0] < f->ntrans) a = f->trans[s[0]] / 255.0;
        break;
    }
    }
    for (int k = 0; k < 3; k++) rgb[k] *= a;
}

/* Decodes the fixture as 1 and as 3 channels and counts pixels that differ
 * from expected_rgb (gray: the value itself; colour to 1 channel: BT.601). */
static int decode_mismatches(const fixture *f, const char *label)
{
    unsigned char *png = NULL;
    size_t len = 0;
    if (encode_fixture(f, &png, &len) != 0) {
        fprintf(stderr, "%s: could not encode fixture\n", label);
        return 1;
    }
    int bad = 0;
    for (int want = 1; want <= 3; want += 2) {
        cnn_image *img = NULL;
        cnn_error err = {{0}};
        if (cnn_png_load_mem(png, len, label, want, NULL, &img, &err) != 0) {
            fprintf(stderr, "%s: load as %d channels failed: %s\n", label, want, err.msg);
            bad++;
            continue;
        }
        if (img->width != f->w || img->height != f->h || img->channels != want) {
            fprintf(stderr, "%s: got %dx%dx%d\n", label, img->width, img->height,
                    img->channels);
            bad++;
            cnn_image_free(img);
            continue;
        }
        size_t plane = (size_t)f->w * (size_t)f->h;
        for (size_t i = 0; i < plane; i++) {
            double rgb[3];
            int gray;
            expected_rgb(f, i, rgb, &gray);
            for (int c = 0; c < want; c++) {
                double e = want == 3 ? rgb[c]
                           : gray    ? rgb[0]
                                     : 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
                double a = img->px[(size_t)c * plane + i];
                if (fabs(a - e) > 1e-6) {
                    if (bad < 3)
                        fprintf(stderr, "%s: want %d, pixel %zu channel %d: expected %.9g, got %.9g\n",
                                label, want, i, c, e, a);
                    bad++;
                }
            }
        }
        cnn_image_free(img);
    }
    free(png);
    return bad;
}

/* Fills a fixture with a deterministic pattern covering 0, the maximum and
 * values in between; palettes get distinct colours and partial alpha. */
static unsigned *make_fixture(fixture *f, int w, int h, int color, int depth, int interlace,
                              int trns)
{
    memset(f, 0, sizeof *f);
    f->w = w;
    f->h = h;
    f->color = color;
    f->depth = depth;
    f->interlace = interlace;
    f->trns = trns;
    int spp = samples_per_pixel(color);
    unsigned maxv = (1u << depth) - 1;
    size_t n = (size_t)w * (size_t)h * (size_t)spp;
    unsigned *s = malloc(n * sizeof *s);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)i * 2654435761u;
        s[i] = (x >> 7) % (maxv + 1);
    }
    s[0] = maxv; /* first sample at full scale, second at zero */
    if (n > 1) s[1] = 0;
    if (color == PNG_COLOR_TYPE_PALETTE) {
        f->npalette = (int)maxv + 1;
        for (int i = 0; i < f->npalette; i++) {
            f->palette[i].red = (png_byte)(i * 37 + 11);
            f->palette[i].green = (png_byte)(i * 91 + 3);
            f->palette[i].blue = (png_byte)(i * 53 + 200);
        }
        /* Alpha for the first three quarters of the entries (at least one); the
         * rest stay opaque, as tRNS allows. */
        f->ntrans = f->npalette * 3 / 4 > 0 ? f->npalette * 3 / 4 : 1;
        for (int i = 0; i < f->ntrans; i++) f->trans[i] = (unsigned char)(i * 71 + 5);
    } else if (trns) {
        /* Colour key = the second pixel's colour, so at least one pixel matches. */
        const unsigned *p = s + spp;
        if (spp == 1) f->trans_color.gray = (png_uint_16)p[0];
        else {
            f->trans_color.red = (png_uint_16)p[0];
            f->trans_color.green = (png_uint_16)p[1];
            f->trans_color.blue = (png_uint_16)p[2];
        }
    }
    f->samples = s;
    return s;
}

static const struct {
    int color, depth, trns;
    const char *name;
} kinds[] = {
    {PNG_COLOR_TYPE_GRAY, 1, 0, "gray 1-bit"},
    {PNG_COLOR_TYPE_GRAY, 2, 0, "gray 2-bit"},
    {PNG_COLOR_TYPE_GRAY, 4, 0, "gray 4-bit"},
    {PNG_COLOR_TYPE_GRAY, 8, 0, "gray 8-bit"},
    {PNG_COLOR_TYPE_GRAY, 16, 0, "gray 16-bit"},
    {PNG_COLOR_TYPE_GRAY, 1, 1, "gray 1-bit + tRNS"},
    {PNG_COLOR_TYPE_GRAY, 8, 1, "gray 8-bit + tRNS"},
    {PNG_COLOR_TYPE_GRAY, 16, 1, "gray 16-bit + tRNS"},
    {PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, "gray+alpha 8-bit"},
    {PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, "gray+alpha 16-bit"},
    {PNG_COLOR_TYPE_RGB, 8, 0, "RGB 8-bit"},
    {PNG_COLOR_TYPE_RGB, 16, 0, "RGB 16-bit"},
    {PNG_COLOR_TYPE_RGB, 8, 1, "RGB 8-bit + tRNS"},
    {PNG_COLOR_TYPE_RGB, 16, 1, "RGB 16-bit + tRNS"},
    {PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, "RGBA 8-bit"},
    {PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, "RGBA 16-bit"},
    {PNG_COLOR_TYPE_PALETTE, 1, 0, "palette 1-bit"},
    {PNG_COLOR_TYPE_PALETTE, 2, 0, "palette 2-bit"},
    {PNG_COLOR_TYPE_PALETTE, 4, 0, "palette 4-bit"},
    {PNG_COLOR_TYPE_PALETTE, 8, 0, "palette 8-bit"},
    {PNG_COLOR_TYPE_PALETTE, 1, 1, "palette 1-bit + tRNS"},
    {PNG_COLOR_TYPE_PALETTE, 2, 1, "palette 2-bit + tRNS"},
    {PNG_COLOR_TYPE_PALETTE, 4, 1, "palette 4-bit + tRNS"},
    {PNG_COLOR_TYPE_PALETTE, 8, 1, "palette 8-bit + tRNS"},
};

static void check_all_kinds(int interlace)
{
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fixture f;
        /* 13 x 11: odd sizes, not a multiple of 8, so every Adam7 pass and
         * partial bytes at the end of sub-byte rows are exercised. */
        unsigned *s = make_fixture(&f, 13, 11, kinds[k].color, kinds[k].depth, interlace,
                                   kinds[k].trns);
        CHECK(s != NULL);
        if (!s) return;
        char label[96];
        snprintf(label, sizeof label, "%s%s", kinds[k].name, interlace ? " Adam7" : "");
        int bad = decode_mismatches(&f, label);
        if (bad) CHECK_FAIL_("%s: %d mismatching values", label, bad);
        free(s);
    }
}

/* Loads a hand-written fixture and returns the image (NULL on failure). */
static cnn_image *load_fixture(const fixture *f, int want)
{
    unsigned char *png = NULL;
    size_t len = 0;
    if (encode_fixture(f, &png, &len) != 0) return NULL;
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    if (cnn_png_load_mem(png, len, "fixture", want, NULL, &img, &err) != 0)
        fprintf(stderr, "load failed: %s\n", err.msg);
    free(png);
    return img;
}

/* A valid 8-bit gray PNG, 16 x 16, for corruption tests. */
static int sample_png(unsigned char **buf, size_t *len)
{
    fixture f;
    unsigned *s = make_fixture(&f, 16, 16, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0);
    if (!s) return -1;
    int rc = encode_fixture(&f, buf, len);
    free(s);
    return rc;
}

/* Offset of the first chunk of the given type, or 0 if none. */
static size_t find_chunk(const unsigned char *png, size_t len, const char *type)
{
    size_t off = 8;
    while (off + 12 <= len) {
        uint32_t n = be32(png + off);
        if (memcmp(png + off + 4, type, 4) == 0) return off;
        off += 12 + (size_t)n;
    }
    return 0;
}

/* A PNG made of the signature and an IHDR (valid CRC, via zlib's crc32)
 * claiming the given size, then nothing: no image data at all. */
static void craft_header_only(unsigned char out[33], uint32_t w, uint32_t h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, sig, 8);
    put_be32(out + 8, 13);
    memcpy(out + 12, "IHDR", 4);
    put_be32(out + 16, w);
    put_be32(out + 20, h);
    out[24] = 8; /* bit depth */
    out[25] = 0; /* gray */
    out[26] = out[27] = out[28] = 0;
    put_be32(out + 29, (uint32_t)crc32(crc32(0L, Z_NULL, 0), out + 12, 17));
}

/* ------------------------------------------------------------------------ */
/* Decoding: values                                                          */
/* ------------------------------------------------------------------------ */

static void every_colour_type_and_depth_decodes_to_expected_values(void)
{
    check_all_kinds(PNG_INTERLACE_NONE);
}

static void adam7_interlaced_images_decode_to_the_same_values(void)
{
    check_all_kinds(PNG_INTERLACE_ADAM7);
}

static void gray_low_bit_depths_scale_by_two_to_the_depth_minus_one(void)
{
    /* 2-bit 0,1,2,3 -> 0, 1/3, 2/3, 1; 4-bit 5 -> 5/15; 1-bit 1 -> 1. */
    static const unsigned two[4] = {0, 1, 2, 3};
    fixture f = {.w = 4, .h = 1, .color = PNG_COLOR_TYPE_GRAY, .depth = 2, .samples = two};
    cnn_image *img = load_fixture(&f, 1);
    CHECK(img != NULL);
    if (img) {
        CHECK_NEAR(0.0, img->px[0], 1e-7);
        CHECK_NEAR(1.0 / 3.0, img->px[1], 1e-7);
        CHECK_NEAR(2.0 / 3.0, img->px[2], 1e-7);
        CHECK_NEAR(1.0, img->px[3], 1e-7);
    }
    cnn_image_free(img);
    static const unsigned four[2] = {5, 15};
    fixture g = {.w = 2, .h = 1, .color = PNG_COLOR_TYPE_GRAY, .depth = 4, .samples = four};
    img = load_fixture(&g, 1);
    CHECK(img != NULL);
    if (img) {
        CHECK_NEAR(5.0 / 15.0, img->px[0], 1e-7);
        CHECK_NEAR(1.0, img->px[1], 1e-7);
    }
    cnn_image_free(img);
}

static void gray_16_bit_keeps_full_precision(void)
{
    static const unsigned v[4] = {0x8000, 0x0001, 0xFFFE, 0x00FF};
    fixture f = {.w = 4, .h = 1, .color = PNG_COLOR_TYPE_GRAY, .depth = 16, .samples = v};
    cnn_image *img = load_fixture(&f, 1);
    CHECK(img != NULL);
    if (!img) return;
    CHECK_NEAR(32768.0 / 65535.0, img->px[0], 1e-7);
    CHECK_NEAR(1.0 / 65535.0, img->px[1], 1e-9);
    CHECK(img->px[1] > 0.0f); /* would be 0 if reduced to 8 bits */
    CHECK_NEAR(65534.0 / 65535.0, img->px[2], 1e-7);
    CHECK(img->px[2] < 1.0f);
    CHECK_NEAR(255.0 / 65535.0, img->px[3], 1e-9);
    cnn_image_free(img);
}

static void gray_loads_as_rgb_by_replication(void)
{
    static const unsigned v[2] = {51, 204};
    fixture f = {.w = 2, .h = 1, .color = PNG_COLOR_TYPE_GRAY, .depth = 8, .samples = v};
    cnn_image *img = load_fixture(&f, 3);
    CHECK(img != NULL);
    if (!img) return;
    CHECK_INT_EQ(3, img->channels);
    for (int c = 0; c < 3; c++) {
        CHECK_NEAR(0.2, img->px[c * 2 + 0], 1e-7);
        CHECK_NEAR(0.8, img->px[c * 2 + 1], 1e-7);
    }
    cnn_image_free(img);
}

static void rgb_to_one_channel_uses_bt601_luminance(void)
{
    /* pure red, green, blue, white, and (255, 102, 51) */
    static const unsigned v[15] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 255, 102, 51};
    fixture f = {.w = 5, .h = 1, .color = PNG_COLOR_TYPE_RGB, .depth = 8, .samples = v};
    cnn_image *img = load_fixture(&f, 1);
    CHECK(img != NULL);
    if (!img) return;
    CHECK_NEAR(0.299, img->px[0], 1e-6);
    CHECK_NEAR(0.587, img->px[1], 1e-6);
    CHECK_NEAR(0.114, img->px[2], 1e-6);
    CHECK_NEAR(1.0, img->px[3], 1e-6);
    CHECK_NEAR(0.299 * 1.0 + 0.587 * 0.4 + 0.114 * 0.2, img->px[4], 1e-6);
    cnn_image_free(img);
}

static void rgb_loads_planar_not_interleaved(void)
{
    static const unsigned v[6] = {255, 0, 51, 0, 102, 255};
    fixture f = {.w = 2, .h = 1, .color = PNG_COLOR_TYPE_RGB, .depth = 8, .samples = v};
    cnn_image *img = load_fixture(&f, 3);
    CHECK(img != NULL);
    if (!img) return;
    /* (C, H, W): R plane, then G plane, then B plane */
    CHECK_NEAR(1.0, img->px[0], 1e-7);
    CHECK_NEAR(0.0, img->px[1], 1e-7);
    CHECK_NEAR(0.0, img->px[2], 1e-7);
    CHECK_NEAR(0.4, img->px[3], 1e-7);
    CHECK_NEAR(0.2, img->px[4], 1e-7);
    CHECK_NEAR(1.0, img->px[5], 1e-7);
    cnn_image_free(img);
}

static void alpha_is_composited_on_black(void)
{
    /* RGBA 16-bit: white at alpha 0x8000, and red at alpha 0 */
    static const unsigned v[8] = {0xFFFF, 0xFFFF, 0xFFFF, 0x8000, 0xFFFF, 0, 0, 0};
    fixture f = {.w = 2, .h = 1, .color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 16, .samples = v};
    cnn_image *img = load_fixture(&f, 3);
    CHECK(img != NULL);
    if (img) {
        double a = 32768.0 / 65535.0;
        for (int c = 0; c < 3; c++) CHECK_NEAR(a, img->px[c * 2], 1e-6);
        for (int c = 0; c < 3; c++) CHECK_NEAR(0.0, img->px[c * 2 + 1], 1e-7);
    }
    cnn_image_free(img);
    /* gray+alpha 8-bit: 200 at alpha 51 -> 200/255 * 0.2 */
    static const unsigned ga[2] = {200, 51};
    fixture g = {.w = 1, .h = 1, .color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8, .samples = ga};
    img = load_fixture(&g, 1);
    CHECK(img != NULL);
    if (img) CHECK_NEAR(200.0 / 255.0 * 0.2, img->px[0], 1e-6);
    cnn_image_free(img);
}

static void palette_entries_and_trns_alpha_are_applied(void)
{
    static const unsigned idx[3] = {0, 1, 2};
    fixture f = {.w = 3, .h = 1, .color = PNG_COLOR_TYPE_PALETTE, .depth = 2, .samples = idx};
    f.npalette = 3;
    f.palette[0] = (png_color){255, 0, 0};
    f.palette[1] = (png_color){0, 51, 102};
    f.palette[2] = (png_color){255, 255, 255};
    f.trns = 1;
    f.ntrans = 2;
    f.trans[0] = 0;   /* red fully transparent -> black */
    f.trans[1] = 255; /* opaque */
    /* entry 2 has no tRNS entry: opaque */
    cnn_image *img = load_fixture(&f, 3);
    CHECK(img != NULL);
    if (!img) return;
    CHECK_NEAR(0.0, img->px[0], 1e-7);                /* R of entry 0 */
    CHECK_NEAR(0.0, img->px[1], 1e-7);                /* R of entry 1 */
    CHECK_NEAR(0.2, img->px[3 + 1], 1e-7);            /* G of entry 1 */
    CHECK_NEAR(0.4, img->px[6 + 1], 1e-7);            /* B of entry 1 */
    for (int c = 0; c < 3; c++) CHECK_NEAR(1.0, img->px[c * 3 + 2], 1e-7);
    cnn_image_free(img);
}

/* ------------------------------------------------------------------------ */
/* Decoding: bad input and limits                                            */
/* ------------------------------------------------------------------------ */

static void not_a_png_file_is_refused_by_name(void)
{
    char path[128];
    path_in(path, sizeof path, "hello.png");
    CHECK_INT_EQ(0, write_bytes(path, "hello, world\n", 13));
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load(path, 1, NULL, &img, &err));
    CHECK(img == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s: not a PNG file", path);
    CHECK_STR_EQ(want, err.msg);
}

static void empty_file_is_refused(void)
{
    char path[128];
    path_in(path, sizeof path, "empty.png");
    CHECK_INT_EQ(0, write_bytes(path, "", 0));
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load(path, 1, NULL, &img, &err));
    CHECK(img == NULL);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "empty file");
}

static void zero_length_buffer_is_refused(void)
{
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load_mem("", 0, "<stdin>", 3, NULL, &img, &err));
    CHECK(img == NULL);
    CHECK_STR_EQ("<stdin>: empty file: not a PNG file", err.msg);
}

static void missing_file_is_reported_with_reason(void)
{
    char path[128];
    path_in(path, sizeof path, "no-such.png");
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load(path, 1, NULL, &img, &err));
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "No such file");
}

static void corrupt_idat_crc_is_reported_with_libpng_reason(void)
{
    unsigned char *png = NULL;
    size_t len = 0;
    CHECK_INT_EQ(0, sample_png(&png, &len));
    if (!png) return;
    size_t off = find_chunk(png, len, "IDAT");
    CHECK(off > 0);
    if (off) png[off + 8 + be32(png + off)] ^= 0x01; /* first CRC byte */
    char path[128];
    path_in(path, sizeof path, "badcrc.png");
    CHECK_INT_EQ(0, write_bytes(path, png, len));
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load(path, 1, NULL, &img, &err));
    CHECK(img == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s: corrupt PNG: IDAT: CRC error", path);
    CHECK_STR_EQ(want, err.msg);
    free(png);
}

static void corrupt_image_data_is_an_error_not_garbage(void)
{
    unsigned char *png = NULL;
    size_t len = 0;
    CHECK_INT_EQ(0, sample_png(&png, &len));
    if (!png) return;
    size_t off = find_chunk(png, len, "IDAT");
    CHECK(off > 0);
    /* A data byte: zlib or the CRC check catches it, whichever comes first. */
    if (off) png[off + 8 + 3] ^= 0x55;
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load_mem(png, len, "x.png", 1, NULL, &img, &err));
    CHECK(img == NULL);
    CHECK_CONTAINS(err.msg, "x.png: corrupt PNG: IDAT: ");
    free(png);
}

static void file_truncated_inside_idat_is_reported(void)
{
    unsigned char *png = NULL;
    size_t len = 0;
    CHECK_INT_EQ(0, sample_png(&png, &len));
    if (!png) return;
    size_t off = find_chunk(png, len, "IDAT");
    CHECK(off > 0);
    size_t cut = off + 8 + be32(png + off) / 2; /* half-way through the data */
    char path[128];
    path_in(path, sizeof path, "cut.png");
    CHECK_INT_EQ(0, write_bytes(path, png, cut));
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load(path, 1, NULL, &img, &err));
    CHECK(img == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s: truncated: the data ends after %zu bytes", path, cut);
    CHECK_STR_EQ(want, err.msg);
    /* Cut inside the signature: a PNG start, but too short. */
    err.msg[0] = '\0';
    CHECK_INT_EQ(-1, cnn_png_load_mem(png, 5, "sig.png", 1, NULL, &img, &err));
    CHECK_STR_EQ("sig.png: truncated: the data ends after 5 bytes", err.msg);
    /* Every shorter length fails cleanly (no crash, no image, a message). */
    for (size_t n = 0; n < len; n += 7) {
        err.msg[0] = '\0';
        CHECK_INT_EQ(-1, cnn_png_load_mem(png, n, "p.png", 3, NULL, &img, &err));
        CHECK(img == NULL);
        CHECK_CONTAINS(err.msg, "p.png: ");
    }
    free(png);
}

static void huge_claimed_size_is_refused_before_allocation(void)
{
    /* 100000 x 100000 gray would need 40 GB of floats.  The file has no image
     * data, so if the loader went past the header it would fail with "out of
     * memory" or "truncated"; the limit message shows it stopped at the
     * header, before allocating the image. */
    unsigned char head[33];
    craft_header_only(head, 100000, 100000);
    char path[128];
    path_in(path, sizeof path, "huge.png");
    CHECK_INT_EQ(0, write_bytes(path, head, sizeof head));
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load(path, 1, NULL, &img, &err));
    CHECK(img == NULL);
    char want[512];
    snprintf(want, sizeof want,
             "%s: image is 100000x100000 pixels, larger than the limit of 16384x16384", path);
    CHECK_STR_EQ(want, err.msg);
    /* Raising the side limits still leaves the default pixel-count limit. */
    cnn_png_limits lim = {.max_width = 100000, .max_height = 100000};
    CHECK_INT_EQ(-1, cnn_png_load(path, 1, &lim, &img, &err));
    CHECK_CONTAINS(err.msg, "more than the limit of 67108864 pixels");
}

static void default_limits_allow_16384_per_side_but_not_more(void)
{
    unsigned char head[33];
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    /* 16385 x 1 is over the width limit. */
    craft_header_only(head, 16385, 1);
    CHECK_INT_EQ(-1, cnn_png_load_mem(head, sizeof head, "w.png", 1, NULL, &img, &err));
    CHECK_STR_EQ("w.png: image is 16385x1 pixels, larger than the limit of 16384x16384", err.msg);
    /* 8192 x 8193 is within both sides but over 64 Mi pixels. */
    craft_header_only(head, 8192, 8193);
    CHECK_INT_EQ(-1, cnn_png_load_mem(head, sizeof head, "p.png", 1, NULL, &img, &err));
    CHECK_STR_EQ("p.png: image is 8192x8193 = 67117056 pixels, more than the limit of "
                 "67108864 pixels",
                 err.msg);
    /* 16384 x 1 passes the limits and then fails only for lack of image data. */
    craft_header_only(head, 16384, 1);
    CHECK_INT_EQ(-1, cnn_png_load_mem(head, sizeof head, "ok.png", 1, NULL, &img, &err));
    CHECK_CONTAINS(err.msg, "ok.png: truncated");
    CHECK(img == NULL);
}

static void caller_limits_refuse_smaller_images(void)
{
    fixture f;
    unsigned *s = make_fixture(&f, 8, 2, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0);
    CHECK(s != NULL);
    if (!s) return;
    unsigned char *png = NULL;
    size_t len = 0;
    CHECK_INT_EQ(0, encode_fixture(&f, &png, &len));
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    cnn_png_limits narrow = {.max_width = 4};
    CHECK_INT_EQ(-1, cnn_png_load_mem(png, len, "a.png", 1, &narrow, &img, &err));
    CHECK_STR_EQ("a.png: image is 8x2 pixels, larger than the limit of 4x16384", err.msg);
    cnn_png_limits few = {.max_pixels = 15};
    CHECK_INT_EQ(-1, cnn_png_load_mem(png, len, "a.png", 1, &few, &img, &err));
    CHECK_CONTAINS(err.msg, "16 pixels, more than the limit of 15 pixels");
    cnn_png_limits enough = {.max_width = 8, .max_height = 2, .max_pixels = 16};
    CHECK_INT_EQ(0, cnn_png_load_mem(png, len, "a.png", 1, &enough, &img, &err));
    CHECK(img != NULL);
    cnn_image_free(img);
    free(png);
    free(s);
}

static void want_channels_other_than_1_or_3_is_refused(void)
{
    unsigned char *png = NULL;
    size_t len = 0;
    CHECK_INT_EQ(0, sample_png(&png, &len));
    cnn_image *img = NULL;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_load_mem(png, len, "a.png", 4, NULL, &img, &err));
    CHECK(img == NULL);
    CHECK_CONTAINS(err.msg, "a.png: ");
    CHECK_CONTAINS(err.msg, "1 or 3");
    free(png);
}

/* ------------------------------------------------------------------------ */
/* Images: new, resize, invert                                               */
/* ------------------------------------------------------------------------ */

static void image_new_is_zeroed_and_rejects_bad_sizes(void)
{
    cnn_image *img = cnn_image_new(3, 2, 2);
    CHECK(img != NULL);
    if (img) {
        CHECK_INT_EQ(3, img->width);
        CHECK_INT_EQ(2, img->height);
        CHECK_INT_EQ(2, img->channels);
        for (int i = 0; i < 12; i++) CHECK(img->px[i] == 0.0f);
    }
    cnn_image_free(img);
    CHECK(cnn_image_new(0, 2, 1) == NULL);
    CHECK(cnn_image_new(2, -1, 1) == NULL);
    CHECK(cnn_image_new(2, 2, 0) == NULL);
    cnn_image_free(NULL);
}

static void resize_to_same_size_is_an_exact_copy(void)
{
    cnn_image *src = cnn_image_new(5, 3, 2);
    CHECK(src != NULL);
    if (!src) return;
    for (int i = 0; i < 30; i++) src->px[i] = (float)i / 29.0f + 0.001f * (float)(i % 7);
    cnn_image *dst = cnn_image_resize_bilinear(src, 5, 3);
    CHECK(dst != NULL);
    if (dst) {
        CHECK_INT_EQ(2, dst->channels);
        CHECK(memcmp(src->px, dst->px, 30 * sizeof(float)) == 0);
    }
    cnn_image_free(dst);
    cnn_image_free(src);
}

static void resize_2x2_to_4x4_uses_half_pixel_centres(void)
{
    /* Source [[0, 1], [1, 0]].  Output x = 0..3 samples source x = (x + 0.5) / 2
     * - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to 0, 0.25, 0.75, 1 (same for y).
     * Bilinear on this source is f(u, v) = u + v - 2uv, so e.g. (0.25, 0.25) ->
     * 0.25 + 0.25 - 0.125 = 0.375.  Channel 1 holds 1 - channel 0. */
    static const double want[16] = {
        0.00, 0.25,  0.75,  1.00,
        0.25, 0.375, 0.625, 0.75,
        0.75, 0.625, 0.375, 0.25,
        1.00, 0.75,  0.25,  0.00,
    };
    cnn_image *src = cnn_image_new(2, 2, 2);
    CHECK(src != NULL);
    if (!src) return;
    const float v[4] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++) {
        src->px[i] = v[i];
        src->px[4 + i] = 1.0f - v[i];
    }
    cnn_image *dst = cnn_image_resize_bilinear(src, 4, 4);
    CHECK(dst != NULL);
    if (dst) {
        CHECK_INT_EQ(4, dst->width);
        CHECK_INT_EQ(4, dst->height);
        for (int i = 0; i < 16; i++) {
            CHECK_NEAR(want[i], dst->px[i], 1e-6);
            CHECK_NEAR(1.0 - want[i], dst->px[16 + i], 1e-6);
        }
    }
    cnn_image_free(dst);
    cnn_image_free(src);
}

static void resize_halving_averages_pixel_pairs(void)
{
    /* 4 -> 2: output x samples source x = (x + 0.5) * 2 - 0.5 = 0.5, 2.5. */
    cnn_image *src = cnn_image_new(4, 1, 1);
    CHECK(src != NULL);
    if (!src) return;
    for (int i = 0; i < 4; i++) src->px[i] = (float)i * 0.25f;
    cnn_image *dst = cnn_image_resize_bilinear(src, 2, 1);
    CHECK(dst != NULL);
    if (dst) {
        CHECK_NEAR(0.125, dst->px[0], 1e-7);
        CHECK_NEAR(0.625, dst->px[1], 1e-7);
    }
    cnn_image_free(dst);
    cnn_image_free(src);
    CHECK(cnn_image_resize_bilinear(NULL, 2, 2) == NULL);
}

static void invert_maps_v_to_one_minus_v(void)
{
    cnn_image *img = cnn_image_new(3, 1, 1);
    CHECK(img != NULL);
    if (!img) return;
    img->px[0] = 0.0f;
    img->px[1] = 0.25f;
    img->px[2] = 1.0f;
    cnn_image_invert(img);
    CHECK_NEAR(1.0, img->px[0], 1e-7);
    CHECK_NEAR(0.75, img->px[1], 1e-7);
    CHECK_NEAR(0.0, img->px[2], 1e-7);
    cnn_image_free(img);
    cnn_image_invert(NULL);
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

static void write_then_load_round_trips_gray(void)
{
    unsigned char px[5 * 3];
    for (int i = 0; i < 15; i++) px[i] = (unsigned char)(i * 17);
    char path[128];
    path_in(path, sizeof path, "gray.png");
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_png_write(path, 5, 3, 1, px, &err));
    cnn_image *img = NULL;
    CHECK_INT_EQ(0, cnn_png_load(path, 1, NULL, &img, &err));
    CHECK(img != NULL);
    if (!img) return;
    CHECK_INT_EQ(5, img->width);
    CHECK_INT_EQ(3, img->height);
    for (int i = 0; i < 15; i++) CHECK_NEAR(px[i] / 255.0, img->px[i], 1e-7);
    cnn_image_free(img);
}

static void write_then_load_round_trips_rgb(void)
{
    enum { W = 4, H = 3 };
    unsigned char px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (unsigned char)(i * 29 + 7);
    char path[128];
    path_in(path, sizeof path, "rgb.png");
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_png_write(path, W, H, 3, px, &err));
    cnn_image *img = NULL;
    CHECK_INT_EQ(0, cnn_png_load(path, 3, NULL, &img, &err));
    CHECK(img != NULL);
    if (!img) return;
    /* interleaved (H, W, 3) bytes in, planar (3, H, W) floats out */
    int bad = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                if (fabs(img->px[(c * H + y) * W + x] - px[(y * W + x) * 3 + c] / 255.0) > 1e-7)
                    bad++;
    CHECK_INT_EQ(0, bad);
    cnn_image_free(img);
}

static void writing_the_same_pixels_twice_gives_identical_bytes(void)
{
    unsigned char px[7 * 5 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * i);
    char a[128], b[128];
    path_in(a, sizeof a, "det-a.png");
    path_in(b, sizeof b, "det-b.png");
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_png_write(a, 7, 5, 3, px, &err));
    CHECK_INT_EQ(0, cnn_png_write(b, 7, 5, 3, px, &err));
    size_t la = 0, lb = 0, lm = 0;
    unsigned char *da = read_bytes(a, &la), *db = read_bytes(b, &lb), *dm = NULL;
    CHECK_INT_EQ(0, cnn_png_encode_mem(7, 5, 3, px, &dm, &lm, &err));
    CHECK(da && db && dm);
    if (da && db && dm) {
        CHECK_INT_EQ(la, lb);
        CHECK_INT_EQ(la, lm);
        CHECK(la == lb && memcmp(da, db, la) == 0);
        CHECK(la == lm && memcmp(da, dm, la) == 0);
        CHECK_INT_EQ(0, (long long)find_chunk(da, la, "tIME"));
    }
    free(da);
    free(db);
    free(dm);
}

static void write_replaces_an_existing_file(void)
{
    char path[128];
    path_in(path, sizeof path, "replace.png");
    CHECK_INT_EQ(0, write_bytes(path, "old contents", 12));
    unsigned char px[4] = {0, 85, 170, 255};
    cnn_error err = {{0}};
    CHECK_INT_EQ(0, cnn_png_write(path, 2, 2, 1, px, &err));
    cnn_image *img = NULL;
    CHECK_INT_EQ(0, cnn_png_load(path, 1, NULL, &img, &err));
    if (img) CHECK_NEAR(1.0 / 3.0, img->px[1], 1e-7);
    cnn_image_free(img);
}

static void write_into_missing_folder_fails_and_creates_nothing(void)
{
    char dir[128], path[160];
    path_in(dir, sizeof dir, "missing");
    snprintf(path, sizeof path, "%s/out.png", dir);
    int before = count_entries(tmpdir);
    unsigned char px[4] = {0};
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_write(path, 2, 2, 1, px, &err));
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "No such file or directory");
    CHECK_INT_EQ(-1, access(dir, F_OK));
    CHECK_INT_EQ(before, count_entries(tmpdir));
}

static void libpng_error_while_writing_leaves_no_file(void)
{
    /* libpng refuses rows wider than its default 1,000,000-pixel limit; that
     * happens after the temporary file is created, so it must be removed. */
    char dir[128], path[160];
    path_in(dir, sizeof dir, "wide");
    CHECK_INT_EQ(0, mkdir(dir, 0700));
    snprintf(path, sizeof path, "%s/wide.png", dir);
    enum { WIDE = 2000000 };
    unsigned char *px = calloc(WIDE, 1);
    CHECK(px != NULL);
    if (!px) return;
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_write(path, WIDE, 1, 1, px, &err));
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "cannot write PNG: ");
    CHECK_INT_EQ(0, count_entries(dir));
    free(px);
}

static void write_refuses_bad_arguments_without_creating_a_file(void)
{
    char dir[128], path[160];
    path_in(dir, sizeof dir, "args");
    CHECK_INT_EQ(0, mkdir(dir, 0700));
    snprintf(path, sizeof path, "%s/x.png", dir);
    unsigned char px[8] = {0};
    cnn_error err = {{0}};
    CHECK_INT_EQ(-1, cnn_png_write(path, 2, 2, 2, px, &err));
    CHECK_CONTAINS(err.msg, "channels must be 1 or 3, got 2");
    CHECK_INT_EQ(-1, cnn_png_write(path, 0, 2, 1, px, &err));
    CHECK_CONTAINS(err.msg, "size must be positive");
    CHECK_INT_EQ(-1, cnn_png_write(path, 2, 2, 1, NULL, &err));
    CHECK_INT_EQ(0, count_entries(dir));
    unsigned char *buf = NULL;
    size_t len = 0;
    CHECK_INT_EQ(-1, cnn_png_encode_mem(2, 2, 4, px, &buf, &len, &err));
    CHECK(buf == NULL);
}

/* ------------------------------------------------------------------------ */
/* JPEG colour rules, computed by hand (JFIF)                                */
/* ------------------------------------------------------------------------ */

/* A flat w x h JPEG of one colour (RGB, or gray when gray >= 0), encoded here by
 * libjpeg at quality 100: every quantizer is 1, so a flat block's DC coefficient
 * is exact and the decoder sees the encoder's Y, Cb and Cr values unchanged. */
static unsigned char *flat_jpeg(int w, int h, int r, int g, int b, int gray, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = gray >= 0 ? 1 : 3;
    c.in_color_space = gray >= 0 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    unsigned char row[3 * 64];
    for (int x = 0; x < w; x++) {
        if (gray >= 0) {
            row[x] = (unsigned char)gray;
        } else {
            row[3 * x] = (unsigned char)r;
            row[3 * x + 1] = (unsigned char)g;
            row[3 * x + 2] = (unsigned char)b;
        }
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *len = n;
    return buf;
}

static int clamp255(double v)
{
    long k = lround(v);
    return k < 0 ? 0 : k > 255 ? 255 : (int)k;
}

/* RGB -> YCbCr (encoder) and YCbCr -> RGB (decoder), JFIF's full-range rules
 * (ITU-T T.871), each rounded to 8 bits; the to-gray rule is the stored Y.  The
 * decoder's fixed-point arithmetic may round the other way: 1/255 of slack. */
static void jpeg_colours_are_jfif_ycbcr_computed_by_hand(void)
{
    static const int colours[][3] = {{200, 50, 20}, {20, 100, 200}, {255, 255, 0}, {0, 0, 0},
                                     {255, 255, 255}, {128, 64, 192}, {10, 240, 130}};
    for (size_t k = 0; k < sizeof colours / sizeof colours[0]; k++) {
        int R = colours[k][0], G = colours[k][1], B = colours[k][2];
        int Y = clamp255(0.299 * R + 0.587 * G + 0.114 * B);
        int Cb = clamp255(-0.168736 * R - 0.331264 * G + 0.5 * B + 128);
        int Cr = clamp255(0.5 * R - 0.418688 * G - 0.081312 * B + 128);
        int want[3] = {clamp255(Y + 1.402 * (Cr - 128)),
                       clamp255(Y - 0.344136 * (Cb - 128) - 0.714136 * (Cr - 128)),
                       clamp255(Y + 1.772 * (Cb - 128))};
        size_t len;
        unsigned char *jpg = flat_jpeg(16, 16, R, G, B, -1, &len);
        cnn_image *img = NULL;
        cnn_error err;
        CHECK_INT_EQ(0, cnn_image_load_mem(jpg, len, "flat.jpg", 3, NULL, &img, &err));
        if (img) {
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < 256; i += 51)
                    CHECK_NEAR(want[c] / 255.0, img->px[c * 256 + i], 1.0 / 255 + 1e-6);
            cnn_image_free(img);
        }
        CHECK_INT_EQ(0, cnn_image_load_mem(jpg, len, "flat.jpg", 1, NULL, &img, &err));
        if (img) {
            CHECK_NEAR(Y / 255.0, img->px[0], 1e-6); /* the stored luma, exactly */
            CHECK_NEAR(Y / 255.0, img->px[255], 1e-6);
            cnn_image_free(img);
        }
        free(jpg);
    }
}

static void gray_jpeg_is_its_value_and_replicates_to_rgb(void)
{
    size_t len;
    unsigned char *jpg = flat_jpeg(8, 8, 0, 0, 0, 77, &len);
    cnn_image *img = NULL;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_image_load_mem(jpg, len, "gray.jpg", 1, NULL, &img, &err));
    if (img) {
        CHECK_NEAR(77 / 255.0, img->px[0], 1e-6);
        CHECK_NEAR(77 / 255.0, img->px[63], 1e-6);
        cnn_image_free(img);
    }
    CHECK_INT_EQ(0, cnn_image_load_mem(jpg, len, "gray.jpg", 3, NULL, &img, &err));
    if (img) {
        for (int c = 0; c < 3; c++) CHECK_NEAR(77 / 255.0, img->px[c * 64 + 9], 1e-6);
        cnn_image_free(img);
    }
    free(jpg);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_image.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(every_colour_type_and_depth_decodes_to_expected_values);
    RUN(adam7_interlaced_images_decode_to_the_same_values);
    RUN(gray_low_bit_depths_scale_by_two_to_the_depth_minus_one);
    RUN(gray_16_bit_keeps_full_precision);
    RUN(gray_loads_as_rgb_by_replication);
    RUN(rgb_to_one_channel_uses_bt601_luminance);
    RUN(rgb_loads_planar_not_interleaved);
    RUN(alpha_is_composited_on_black);
    RUN(palette_entries_and_trns_alpha_are_applied);
    RUN(not_a_png_file_is_refused_by_name);
    RUN(empty_file_is_refused);
    RUN(zero_length_buffer_is_refused);
    RUN(missing_file_is_reported_with_reason);
    RUN(corrupt_idat_crc_is_reported_with_libpng_reason);
    RUN(corrupt_image_data_is_an_error_not_garbage);
    RUN(file_truncated_inside_idat_is_reported);
    RUN(huge_claimed_size_is_refused_before_allocation);
    RUN(jpeg_colours_are_jfif_ycbcr_computed_by_hand);
    RUN(gray_jpeg_is_its_value_and_replicates_to_rgb);
    RUN(default_limits_allow_16384_per_side_but_not_more);
    RUN(caller_limits_refuse_smaller_images);
    RUN(want_channels_other_than_1_or_3_is_refused);
    RUN(image_new_is_zeroed_and_rejects_bad_sizes);
    RUN(resize_to_same_size_is_an_exact_copy);
    RUN(resize_2x2_to_4x4_uses_half_pixel_centres);
    RUN(resize_halving_averages_pixel_pairs);
    RUN(invert_maps_v_to_one_minus_v);
    RUN(write_then_load_round_trips_gray);
    RUN(write_then_load_round_trips_rgb);
    RUN(writing_the_same_pixels_twice_gives_identical_bytes);
    RUN(write_replaces_an_existing_file);
    RUN(write_into_missing_folder_fails_and_creates_nothing);
    RUN(libpng_error_while_writing_leaves_no_file);
    RUN(write_refuses_bad_arguments_without_creating_a_file);
    remove_tree(tmpdir);
    return check_report();
}
