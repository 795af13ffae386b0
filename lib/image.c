/* Planar float images, bilinear resizing, and PNG decoding/encoding with libpng
 * (see image.h for the conversion rules). */
#include "image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"
#include "load_limits.h"

/* ======================================================================== */
/* Images                                                                    */
/* ======================================================================== */

cnn_image *cnn_image_new(int width, int height, int channels)
{
    if (width <= 0 || height <= 0 || channels <= 0) return NULL;
    size_t n = (size_t)width * (size_t)height;
    if (n > SIZE_MAX / sizeof(float) / (size_t)channels) return NULL;
    n *= (size_t)channels;
    cnn_image *img = malloc(sizeof *img);
    if (!img) return NULL;
    img->px = calloc(n, sizeof(float));
    if (!img->px) {
        free(img);
        return NULL;
    }
    img->width = width;
    img->height = height;
    img->channels = channels;
    return img;
}

void cnn_image_free(cnn_image *img)
{
    if (!img) return;
    free(img->px);
    free(img);
}

/* Where output index `d` samples the source along one axis, with half-pixel
 * centres: s = (d + 0.5) * src/dst - 0.5, clamped to [0, src - 1]. */
static void sample_pos(int d, int src_n, int dst_n, int *i0, int *i1, float *frac)
{
    double s = ((double)d + 0.5) * (double)src_n / (double)dst_n - 0.5;
    if (s < 0) s = 0;
    int i = (int)s;
    if (i >= src_n - 1) {
        *i0 = *i1 = src_n - 1;
        *frac = 0;
        return;
    }
    *i0 = i;
    *i1 = i + 1;
    *frac = (float)(s - i);
}

cnn_image *cnn_image_resize_bilinear(const cnn_image *src, int width, int height)
{
    if (!src || !src->px) return NULL;
    cnn_image *dst = cnn_image_new(width, height, src->channels);
    if (!dst) return NULL;
    size_t splane = (size_t)src->width * (size_t)src->height;
    size_t dplane = (size_t)width * (size_t)height;
    for (int c = 0; c < src->channels; c++) {
        const float *s = src->px + (size_t)c * splane; /* (H_src, W_src) */
        float *d = dst->px + (size_t)c * dplane;        /* (H, W) */
        for (int y = 0; y < height; y++) {
            int y0, y1;
            float fy;
            sample_pos(y, src->height, height, &y0, &y1, &fy);
            const float *r0 = s + (size_t)y0 * (size_t)src->width;
            const float *r1 = s + (size_t)y1 * (size_t)src->width;
            for (int x = 0; x < width; x++) {
                int x0, x1;
                float fx;
                sample_pos(x, src->width, width, &x0, &x1, &fx);
                float top = r0[x0] + (r0[x1] - r0[x0]) * fx;
                float bot = r1[x0] + (r1[x1] - r1[x0]) * fx;
                d[(size_t)y * (size_t)width + (size_t)x] = top + (bot - top) * fy;
            }
        }
    }
    return dst;
}

void cnn_image_invert(cnn_image *img)
{
    if (!img || !img->px) return;
    size_t n = (size_t)img->width * (size_t)img->height * (size_t)img->channels;
    for (size_t i = 0; i < n; i++) img->px[i] = 1.0f - img->px[i];
}

/* ======================================================================== */
/* libpng error capture (shared by reading and writing)                      */
/* ======================================================================== */

/* libpng reports errors through a callback that must not return; ours records
 * the message and longjmps back to the setjmp in decode()/encode().  Warnings
 * are recorded (the first one) instead of going to stderr. */
typedef struct png_msgs {
    char error[256];
    char warning[256];
} png_msgs;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_msgs *m = png_get_error_ptr(png);
    snprintf(m->error, sizeof m->error, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    png_msgs *m = png_get_error_ptr(png);
    if (!m->warning[0]) snprintf(m->warning, sizeof m->warning, "%s", msg ? msg : "?");
}

/* ======================================================================== */
/* PNG decoding                                                              */
/* ======================================================================== */

/* Signature (8) + IHDR length and type (8) + IHDR data (13) + CRC (4). */
#define PNG_HEAD_BYTES 33

/* Everything decode() touches lives here, in the caller's frame, so that after
 * libpng longjmps out of decode() the caller can still see and free it: no
 * local of the function that calls setjmp is used after the jump, so none needs
 * to be volatile. */
typedef struct reader {
    const char *name;
    /* source: a file or a memory buffer */
    FILE *fp;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    /* the first bytes, read ahead to check the header, then served to libpng */
    unsigned char head[PNG_HEAD_BYTES];
    size_t head_len, head_pos;
    size_t consumed; /* bytes handed out so far */
    int truncated;   /* the data ended before libpng was done */
    int io_errno;    /* a read from fp failed */
    /* limits, already resolved from cnn_png_limits */
    uint32_t max_w, max_h;
    uint64_t max_px;
    int want;
    /* libpng state and allocations, freed by the caller of decode() */
    png_msgs msgs;
    char own_msg[512]; /* our own complaint (limits, memory), when non-empty */
    png_structp png;
    png_infop info;
    unsigned char *rowbuf;
    png_bytep *rowptrs;
    cnn_image *img;
} reader;

/* Reads from the underlying file or buffer (not from head). */
static size_t raw_read(reader *r, unsigned char *dst, size_t n)
{
    if (r->fp) {
        size_t got = fread(dst, 1, n, r->fp);
        if (got < n && ferror(r->fp)) r->io_errno = errno ? errno : EIO;
        return got;
    }
    size_t left = r->mem_len - r->mem_pos;
    size_t got = n < left ? n : left;
    if (got) memcpy(dst, r->mem + r->mem_pos, got);
    r->mem_pos += got;
    return got;
}

static void png_read_cb(png_structp png, png_bytep dst, size_t n)
{
    reader *r = png_get_io_ptr(png);
    size_t got = 0;
    while (got < n && r->head_pos < r->head_len) dst[got++] = r->head[r->head_pos++];
    if (got < n) got += raw_read(r, dst + got, n - got);
    r->consumed += got;
    if (got < n) {
        if (!r->io_errno) r->truncated = 1;
        png_error(png, r->io_errno ? "read error" : "truncated");
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int over_limits(reader *r, uint32_t w, uint32_t h)
{
    if (w > r->max_w || h > r->max_h) {
        snprintf(r->own_msg, sizeof r->own_msg,
                 "image is %lux%lu pixels, larger than the limit of %lux%lu", (unsigned long)w,
                 (unsigned long)h, (unsigned long)r->max_w, (unsigned long)r->max_h);
        return 1;
    }
    if ((uint64_t)w * h > r->max_px) {
        snprintf(r->own_msg, sizeof r->own_msg,
                 "image is %lux%lu = %llu pixels, more than the limit of %llu pixels",
                 (unsigned long)w, (unsigned long)h, (unsigned long long)w * h,
                 (unsigned long long)r->max_px);
        return 1;
    }
    return 0;
}

/* Reads the signature and IHDR ahead of libpng, so that an empty file, a file
 * that is not a PNG, and an image over the limits are reported plainly and
 * before libpng allocates anything.  Returns 0 to go on decoding, -1 with
 * own_msg set (or io_errno) to stop. */
static int check_head(reader *r)
{
    r->head_len = raw_read(r, r->head, PNG_HEAD_BYTES);
    if (r->io_errno) return -1;
    size_t n = r->head_len;
    if (n == 0) {
        snprintf(r->own_msg, sizeof r->own_msg, "empty file: not a PNG file");
        return -1;
    }
    if (png_sig_cmp(r->head, 0, n < 8 ? n : 8) != 0) {
        snprintf(r->own_msg, sizeof r->own_msg, "not a PNG file");
        return -1;
    }
    if (n < 8) {
        snprintf(r->own_msg, sizeof r->own_msg, "truncated: the data ends after %zu bytes", n);
        return -1;
    }
    /* Apply the limits only to a well-formed IHDR (length 13, good CRC); anything
     * else is left to libpng, which names the problem. */
    if (n == PNG_HEAD_BYTES && be32(r->head + 8) == 13 && memcmp(r->head + 12, "IHDR", 4) == 0 &&
        crc32(crc32(0L, Z_NULL, 0), r->head + 12, 17) == be32(r->head + 29) &&
        over_limits(r, be32(r->head + 16), be32(r->head + 20)))
        return -1;
    return 0;
}

/* Converts one decoded row (in_ch interleaved samples of `depth` bits, after
 * png_set_expand: depth is 8 or 16) into row y of the planar output. */
static void convert_row(cnn_image *img, int y, const unsigned char *row, int in_ch, int depth)
{
    int has_alpha = in_ch == 2 || in_ch == 4;
    int ncolor = in_ch - has_alpha;
    size_t plane = (size_t)img->width * (size_t)img->height;
    float *o = img->px + (size_t)y * (size_t)img->width;
    for (int x = 0; x < img->width; x++) {
        float s[4];
        for (int k = 0; k < in_ch; k++) {
            size_t i = (size_t)x * (size_t)in_ch + (size_t)k;
            if (depth == 16)
                s[k] = (float)((unsigned)row[2 * i] << 8 | row[2 * i + 1]) / 65535.0f;
            else
                s[k] = (float)row[i] / 255.0f;
        }
        float a = has_alpha ? s[ncolor] : 1.0f;
        if (ncolor == 1) {
            float g = s[0] * a;
            for (int c = 0; c < img->channels; c++) o[(size_t)c * plane + (size_t)x] = g;
        } else {
            float rr = s[0] * a, gg = s[1] * a, bb = s[2] * a;
            if (img->channels == 1) {
                o[x] = 0.299f * rr + 0.587f * gg + 0.114f * bb; /* ITU-R BT.601 luma */
            } else {
                o[x] = rr;
                o[plane + (size_t)x] = gg;
                o[2 * plane + (size_t)x] = bb;
            }
        }
    }
}

/* The libpng part of decoding.  Any libpng error longjmps back here and we
 * return -1; everything to free is in r (see struct reader). */
static int decode(reader *r)
{
    if (setjmp(png_jmpbuf(r->png))) return -1;

    png_set_user_limits(r->png, r->max_w, r->max_h);
    /* libpng allocates the length a tEXt, zTXt, iTXt, sPLT, pCAL, sCAL or eXIf
     * chunk claims before reading it (a length over its limit is only a
     * warning), so a 60-byte file claiming a 2 GB sPLT made it malloc 2 GB.  We
     * use none of the ancillary chunks but tRNS: skip them all, and unknown
     * ones; skipping reads in small pieces and allocates nothing. */
    static const png_byte unused[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0"
                                     "pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";
    png_set_keep_unknown_chunks(r->png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(r->png, PNG_HANDLE_CHUNK_NEVER, unused, (int)(sizeof unused / 5));
    png_set_read_fn(r->png, r, png_read_cb);
    png_read_info(r->png, r->info);

    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(r->png, r->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (over_limits(r, w, h)) return -1; /* normally caught by check_head already */

    /* Palette -> RGB, gray 1/2/4 -> 8 bits (v * 255 / (2^d - 1), exact), tRNS ->
     * alpha channel.  16-bit stays 16-bit. */
    png_set_expand(r->png);
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    int in_ch = png_get_channels(r->png, r->info);
    int out_depth = png_get_bit_depth(r->png, r->info);
    size_t rowbytes = png_get_rowbytes(r->png, r->info);
    if ((out_depth != 8 && out_depth != 16) || in_ch < 1 || in_ch > 4 ||
        rowbytes < (size_t)w * (size_t)in_ch * (size_t)(out_depth / 8)) {
        snprintf(r->own_msg, sizeof r->own_msg, "unexpected decoded layout (%d channels, %d bits)",
                 in_ch, out_depth);
        return -1;
    }

    r->img = cnn_image_new((int)w, (int)h, r->want);
    if (!r->img) goto oom;
    if (interlace == PNG_INTERLACE_NONE) {
        /* One row at a time: no second copy of the image. */
        r->rowbuf = malloc(rowbytes);
        if (!r->rowbuf) goto oom;
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(r->png, r->rowbuf, NULL);
            convert_row(r->img, (int)y, r->rowbuf, in_ch, out_depth);
        }
    } else {
        /* Adam7 fills rows over seven passes, so the whole image is needed. */
        if (rowbytes > SIZE_MAX / h) goto oom;
        r->rowbuf = malloc(rowbytes * h);
        r->rowptrs = malloc(sizeof *r->rowptrs * h);
        if (!r->rowbuf || !r->rowptrs) goto oom;
        for (png_uint_32 y = 0; y < h; y++) r->rowptrs[y] = r->rowbuf + (size_t)y * rowbytes;
        png_read_image(r->png, r->rowptrs);
        for (png_uint_32 y = 0; y < h; y++)
            convert_row(r->img, (int)y, r->rowptrs[y], in_ch, out_depth);
    }
    /* Reads up to IEND, so damage after the image data is reported too. */
    png_read_end(r->png, NULL);
    return 0;

oom:
    snprintf(r->own_msg, sizeof r->own_msg, "out of memory for a %lux%lu image",
             (unsigned long)w, (unsigned long)h);
    return -1;
}

/* Shared by cnn_png_load and cnn_png_load_mem once the source is set up. */
static int load(reader *r, int want_channels, const cnn_png_limits *lim, cnn_image **out,
                cnn_error *err)
{
    if (want_channels != 1 && want_channels != 3)
        return cnn_errorf(err, "%s: cannot load PNG as %d channels (1 or 3 are supported)",
                          r->name, want_channels);
    r->want = want_channels;
    const cnn_limits *pl = cnn_limits_get(); /* the process-wide defaults */
    r->max_w = lim && lim->max_width ? lim->max_width : pl->max_side;
    r->max_h = lim && lim->max_height ? lim->max_height : pl->max_side;
    r->max_px = lim && lim->max_pixels ? lim->max_pixels : pl->max_pixels;
    if (r->max_w > PNG_UINT_31_MAX) r->max_w = PNG_UINT_31_MAX;
    if (r->max_h > PNG_UINT_31_MAX) r->max_h = PNG_UINT_31_MAX;

    int rc = check_head(r);
    if (rc == 0) {
        r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r->msgs, on_png_error,
                                        on_png_warning);
        if (r->png) r->info = png_create_info_struct(r->png);
        if (!r->png || !r->info) {
            snprintf(r->own_msg, sizeof r->own_msg, "out of memory");
            rc = -1;
        } else {
            rc = decode(r);
        }
    }
    png_destroy_read_struct(r->png ? &r->png : NULL, r->info ? &r->info : NULL, NULL);
    free(r->rowbuf);
    free(r->rowptrs);
    if (rc == 0) {
        *out = r->img;
        return 0;
    }
    cnn_image_free(r->img);
    if (r->own_msg[0]) return cnn_errorf(err, "%s: %s", r->name, r->own_msg);
    if (r->io_errno) return cnn_errorf(err, "%s: read error: %s", r->name, strerror(r->io_errno));
    if (r->truncated)
        return cnn_errorf(err, "%s: truncated: the data ends after %zu bytes", r->name,
                          r->consumed);
    if (r->msgs.warning[0])
        return cnn_errorf(err, "%s: corrupt PNG: %s (%s)", r->name, r->msgs.error,
                          r->msgs.warning);
    return cnn_errorf(err, "%s: corrupt PNG: %s", r->name, r->msgs.error);
}

int cnn_png_load(const char *path, int want_channels, const cnn_png_limits *lim,
                 cnn_image **out, cnn_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return cnn_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    reader r;
    memset(&r, 0, sizeof r);
    r.name = path;
    r.fp = fp;
    int rc = load(&r, want_channels, lim, out, err);
    fclose(fp);
    return rc;
}

int cnn_png_load_mem(const void *buf, size_t len, const char *name, int want_channels,
                     const cnn_png_limits *lim, cnn_image **out, cnn_error *err)
{
    reader r;
    memset(&r, 0, sizeof r);
    r.name = name ? name : "<memory>";
    r.mem = buf;
    r.mem_len = buf ? len : 0;
    return load(&r, want_channels, lim, out, err);
}

/* ======================================================================== */
/* PNG encoding                                                              */
/* ======================================================================== */

/* As with reader: all state outside the function that calls setjmp. */
typedef struct writer {
    FILE *fp;           /* file target, or NULL for memory */
    unsigned char *buf; /* memory target */
    size_t len, cap;
    int io_errno;
    int oom;
    png_msgs msgs;
    png_structp png;
    png_infop info;
} writer;

static void png_write_cb(png_structp png, png_bytep data, size_t n)
{
    writer *w = png_get_io_ptr(png);
    if (w->fp) {
        if (fwrite(data, 1, n, w->fp) != n) {
            w->io_errno = errno ? errno : EIO;
            png_error(png, "write failed");
        }
        return;
    }
    if (n > w->cap - w->len) {
        size_t cap = w->cap > 4096 ? w->cap : 4096;
        while (cap - w->len < n && cap <= SIZE_MAX / 2) cap *= 2;
        unsigned char *nb = cap - w->len >= n ? realloc(w->buf, cap) : NULL;
        if (!nb) {
            w->oom = 1;
            png_error(png, "out of memory");
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

static void png_flush_cb(png_structp png)
{
    (void)png; /* the atomic commit flushes and fsyncs */
}

static int encode(writer *w, int width, int height, int channels, const unsigned char *pixels)
{
    if (setjmp(png_jmpbuf(w->png))) return -1;
    png_set_write_fn(w->png, w, png_write_cb, png_flush_cb);
    png_set_IHDR(w->png, w->info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(w->png, w->info);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) png_write_row(w->png, pixels + (size_t)y * stride);
    png_write_end(w->png, NULL);
    return 0;
}

static int check_write_args(const char *name, int width, int height, int channels,
                            const unsigned char *pixels, cnn_error *err)
{
    if (width <= 0 || height <= 0)
        return cnn_errorf(err, "%s: cannot write PNG: size must be positive, got %dx%d", name,
                          width, height);
    if (channels != 1 && channels != 3)
        return cnn_errorf(err, "%s: cannot write PNG: channels must be 1 or 3, got %d", name,
                          channels);
    if (!pixels) return cnn_errorf(err, "%s: cannot write PNG: no pixels", name);
    return 0;
}

/* Runs encode() with a fresh libpng write struct; fills err on failure. */
static int encode_with_png(writer *w, const char *name, int width, int height, int channels,
                           const unsigned char *pixels, cnn_error *err)
{
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->msgs, on_png_error,
                                     on_png_warning);
    if (w->png) w->info = png_create_info_struct(w->png);
    int rc = (w->png && w->info) ? encode(w, width, height, channels, pixels) : -1;
    int had_png = w->png && w->info;
    png_destroy_write_struct(w->png ? &w->png : NULL, w->info ? &w->info : NULL);
    if (rc == 0) return 0;
    if (!had_png || w->oom) return cnn_errorf(err, "%s: cannot write PNG: out of memory", name);
    if (w->io_errno)
        return cnn_errorf(err, "%s: write failed: %s", name, strerror(w->io_errno));
    if (w->msgs.warning[0])
        return cnn_errorf(err, "%s: cannot write PNG: %s (%s)", name, w->msgs.error,
                          w->msgs.warning);
    return cnn_errorf(err, "%s: cannot write PNG: %s", name, w->msgs.error);
}

int cnn_png_write(const char *path, int width, int height, int channels,
                  const unsigned char *pixels, cnn_error *err)
{
    if (check_write_args(path, width, height, channels, pixels, err) != 0) return -1;
    cnn_atomic_file af;
    if (cnn_atomic_open(&af, path, err) != 0) return -1;
    writer w;
    memset(&w, 0, sizeof w);
    w.fp = af.fp;
    if (encode_with_png(&w, path, width, height, channels, pixels, err) != 0) {
        cnn_atomic_abort(&af); /* removes the temporary: nothing half-written remains */
        return -1;
    }
    return cnn_atomic_commit(&af, err);
}

int cnn_png_encode_mem(int width, int height, int channels, const unsigned char *pixels,
                       unsigned char **buf, size_t *len, cnn_error *err)
{
    const char *name = "<memory>";
    if (check_write_args(name, width, height, channels, pixels, err) != 0) return -1;
    writer w;
    memset(&w, 0, sizeof w);
    if (encode_with_png(&w, name, width, height, channels, pixels, err) != 0) {
        free(w.buf);
        return -1;
    }
    *buf = w.buf;
    *len = w.len;
    return 0;
}
