/* JPEG decoding through libjpeg-turbo, and image loading by content (PNG or
 * JPEG recognised by their first bytes, never by the file name); see image.h.
 *
 * libjpeg is loaded at the first JPEG (dynload.h), not linked: a run on PNGs
 * or IDX files never maps it.  Its functions are called through the table
 * below under their own names. */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include <zlib.h>

#include "dynload.h"
#include "fileio.h"
#include "image.h"
#include "image_internal.h"

/* Every libjpeg function called here (jpeg_create_decompress is a macro for
 * jpeg_CreateDecompress). */
#define JPEG_FUNCS(X) \
    X(jpeg_std_error) \
    X(jpeg_CreateDecompress) \
    X(jpeg_mem_src) \
    X(jpeg_read_header) \
    X(jpeg_start_decompress) \
    X(jpeg_read_scanlines) \
    X(jpeg_finish_decompress) \
    X(jpeg_destroy_decompress)

#define FIELD(f) __typeof__(&f) f;
static struct {
    JPEG_FUNCS(FIELD)
} jpeg;
#undef FIELD

static pthread_once_t jpeg_once = PTHREAD_ONCE_INIT;
static char jpeg_why[CNN_ERROR_MAX]; /* the loading failure, for every caller */

static void jpeg_resolve(void)
{
#define NAME(f) #f,
    static const char *const names[] = {JPEG_FUNCS(NAME)};
#undef NAME
    void *fns[sizeof names / sizeof *names];
    if (cnn_dl_resolve("libjpeg.so.62", "libjpeg", "decode a JPEG", "libjpeg62-turbo", names,
                       fns, (int)(sizeof names / sizeof *names), jpeg_why, sizeof jpeg_why))
        return;
    int i = 0;
#define SET(f) *(void **)&jpeg.f = fns[i++];
    JPEG_FUNCS(SET)
#undef SET
}

/* 0 once libjpeg is loaded; -1 with err (prefixed by name) when it cannot be. */
static int jpeg_load(const char *name, cnn_error *err)
{
    pthread_once(&jpeg_once, jpeg_resolve);
    return jpeg_why[0] ? cnn_errorf(err, "%s: %s", name, jpeg_why) : 0;
}

#define jpeg_std_error (jpeg.jpeg_std_error)
#define jpeg_CreateDecompress (jpeg.jpeg_CreateDecompress)
#define jpeg_mem_src (jpeg.jpeg_mem_src)
#define jpeg_read_header (jpeg.jpeg_read_header)
#define jpeg_start_decompress (jpeg.jpeg_start_decompress)
#define jpeg_read_scanlines (jpeg.jpeg_read_scanlines)
#define jpeg_finish_decompress (jpeg.jpeg_finish_decompress)
#define jpeg_destroy_decompress (jpeg.jpeg_destroy_decompress)

/* libjpeg reports errors through error_exit, which must not return: jump back
 * to the decoder with the library's message. */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jerr_mgr;

static void on_error(j_common_ptr cinfo)
{
    jerr_mgr *e = (jerr_mgr *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings (e.g. "Premature end of JPEG file", when libjpeg pads a truncated
 * scan with grey) are errors here: a truncated photo is a corrupt image. */
static void on_warning(j_common_ptr cinfo, int level)
{
    if (level < 0) on_error(cinfo);
}

int cnn_jpeg_load_mem(const void *buf, size_t len, const char *name, int want_channels,
                      const cnn_png_limits *lim, cnn_image **out, cnn_error *err)
{
    if (want_channels != 1 && want_channels != 3)
        return cnn_errorf(err, "%s: %d channels requested; 1 or 3 expected", name,
                          want_channels);
    if (len < 3 || memcmp(buf, "\xff\xd8\xff", 3) != 0)
        return cnn_errorf(err, "%s: not a JPEG file", name);
    if (jpeg_load(name, err)) return -1;
    uint64_t max_w = lim && lim->max_width ? lim->max_width : CNN_PNG_MAX_WIDTH;
    uint64_t max_h = lim && lim->max_height ? lim->max_height : CNN_PNG_MAX_HEIGHT;
    uint64_t max_px = lim && lim->max_pixels ? lim->max_pixels : CNN_PNG_MAX_PIXELS;

    struct jpeg_decompress_struct cinfo;
    jerr_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_error;
    jerr.pub.emit_message = on_warning;
    /* volatile: assigned after setjmp and read after a longjmp. */
    cnn_image *volatile img = NULL;
    unsigned char *volatile row = NULL;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        cnn_image_free(img);
        free(row);
        return cnn_errorf(err, "%s: corrupt JPEG: %s", name, jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    /* The size is checked from the header, before the body is decoded. */
    uint64_t w = cinfo.image_width, h = cinfo.image_height;
    if (w > max_w || h > max_h || w * h > max_px) {
        jpeg_destroy_decompress(&cinfo);
        return cnn_errorf(err, "%s: image is %llux%llu, over the limit of %llux%llu and %llu "
                               "pixels (--max-pixels raises it)", name, (unsigned long long)w,
                          (unsigned long long)h, (unsigned long long)max_w,
                          (unsigned long long)max_h, (unsigned long long)max_px);
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return cnn_errorf(err, "%s: a CMYK JPEG; only grayscale and colour (YCbCr or RGB) "
                               "JPEGs are read", name);
    }
    /* libjpeg does the colour conversion (see image.h for the rules). */
    cinfo.out_color_space = want_channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW; /* djpeg's default, so the reference decodes alike */
    jpeg_start_decompress(&cinfo);
    int ow = (int)cinfo.output_width, oh = (int)cinfo.output_height;
    int nc = cinfo.output_components;
    img = cnn_image_new(ow, oh, want_channels);
    row = malloc((size_t)ow * (size_t)nc);
    if (!img || !row) {
        jpeg_destroy_decompress(&cinfo);
        cnn_image_free(img);
        free(row);
        return cnn_errorf(err, "%s: out of memory for a %dx%d image", name, ow, oh);
    }
    size_t plane = (size_t)ow * (size_t)oh;
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW r = row;
        jpeg_read_scanlines(&cinfo, &r, 1);
        for (int x = 0; x < ow; x++)
            for (int c = 0; c < nc; c++)
                img->px[(size_t)c * plane + y * (size_t)ow + (size_t)x] =
                    (float)row[(size_t)x * (size_t)nc + (size_t)c] / 255.0f;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *out = img;
    return 0;
}

int cnn_image_load_mem(const void *buf, size_t len, const char *name, int want_channels,
                       const cnn_png_limits *lim, cnn_image **out, cnn_error *err)
{
    if (len >= 3 && memcmp(buf, "\xff\xd8\xff", 3) == 0)
        return cnn_jpeg_load_mem(buf, len, name, want_channels, lim, out, err);
    if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0)
        return cnn_png_load_mem(buf, len, name, want_channels, lim, out, err);
    if (len == 0) return cnn_errorf(err, "%s: empty file: not a PNG or JPEG image", name);
    return cnn_errorf(err, "%s: not a PNG or JPEG image (by its first bytes)", name);
}

size_t cnn_image_file_cap(const cnn_png_limits *lim)
{
    uint64_t max_px = lim && lim->max_pixels ? lim->max_pixels : CNN_PNG_MAX_PIXELS;
    return max_px > (SIZE_MAX - 65536) / 8 ? SIZE_MAX : (size_t)max_px * 8 + 65536;
}

int cnn_image_load(const char *path, int want_channels, const cnn_png_limits *lim,
                   cnn_image **out, cnn_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    if (cnn_read_file(path, cnn_image_file_cap(lim), &buf, &len, err)) return -1;
    int rc = cnn_image_load_mem(buf, len, path, want_channels, lim, out, err);
    free(buf);
    return rc;
}

static int png_header_size(const unsigned char *p, size_t n, uint32_t *w, uint32_t *h)
{
    if (n < 33 || memcmp(p, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(p + 8, "\0\0\0\rIHDR", 8) != 0)
        return -1;
    uint32_t crc = (uint32_t)p[29] << 24 | (uint32_t)p[30] << 16 | (uint32_t)p[31] << 8 | p[32];
    if (crc32(crc32(0L, Z_NULL, 0), p + 12, 17) != crc) return -1;
    *w = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
    *h = (uint32_t)p[20] << 24 | (uint32_t)p[21] << 16 | (uint32_t)p[22] << 8 | p[23];
    return 0;
}

/* Silent: a header libjpeg cannot read is left to the decoder to name. */
static void header_error(j_common_ptr cinfo)
{
    longjmp(((jerr_mgr *)cinfo->err)->jump, 1);
}

static void header_warning(j_common_ptr cinfo, int level)
{
    (void)cinfo;
    (void)level;
}

int cnn_image_header_size(const void *buf, size_t len, uint32_t *w, uint32_t *h)
{
    if (!buf) return -1;
    if (len < 3 || memcmp(buf, "\xff\xd8\xff", 3) != 0) return png_header_size(buf, len, w, h);
    cnn_error ignored;
    if (jpeg_load("", &ignored)) return -1; /* the decoder names the problem */
    struct jpeg_decompress_struct cinfo;
    jerr_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = header_error;
    jerr.pub.emit_message = header_warning;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    *w = cinfo.image_width;
    *h = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
