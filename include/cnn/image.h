/* Images for the network: planar float pixels, PNG decoding and PNG encoding.
 *
 * This is the one place where pixels become network input.  A cnn_image holds
 * float32 values in [0, 1], laid out planar (channels, height, width) like the
 * rest of libcnn (NCHW with N = 1).
 *
 * Decoding accepts every PNG colour type and bit depth (grayscale 1/2/4/8/16,
 * palette with or without tRNS, RGB 8/16, gray+alpha, RGBA, Adam7 interlace)
 * and converts to the number of channels the caller wants:
 *   - sample values are scaled exactly: v / (2^depth - 1), so 16-bit input keeps
 *     full precision (v / 65535) and 8-bit input gives v / 255;
 *   - alpha (from an alpha channel or a tRNS chunk) is composited on black:
 *     each colour value becomes value * alpha;
 *   - to one channel, colour is reduced by luminance with the ITU-R BT.601
 *     weights, applied to the 0..1 values: 0.299 R + 0.587 G + 0.114 B;
 *   - to three channels, grayscale is replicated into R, G and B;
 *   - no gamma correction: gAMA, cHRM, sRGB and iCCP are ignored, values are the
 *     stored samples.
 * The image size is checked against limits (cnn_png_limits) as soon as the
 * header is read, before anything is allocated for the pixels.
 *
 * Ownership: cnn_image_new, cnn_image_resize_bilinear, cnn_png_load and
 * cnn_png_load_mem return an image the caller frees with cnn_image_free, which
 * accepts NULL.  The pixel buffer `px` belongs to the image. */
#ifndef CNN_IMAGE_H
#define CNN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "api.h"
#include "load_limits.h"

CNN_BEGIN_DECLS

typedef struct cnn_image {
    int width, height, channels;
    float *px; /* (channels, height, width), planar, values in [0, 1] */
} cnn_image;

/* Default decoding limits.  16384 x 16384 is allowed per side, but not more than
 * 64 Mi pixels in total (a 64 Mi-pixel RGB image is 768 MiB of floats). */
#define CNN_PNG_MAX_WIDTH  CNN_DEFAULT_MAX_SIDE
#define CNN_PNG_MAX_HEIGHT CNN_DEFAULT_MAX_SIDE
#define CNN_PNG_MAX_PIXELS CNN_DEFAULT_MAX_PIXELS

/* Size limits for decoding.  A field left at 0 means its default above; a NULL
 * limits pointer means all defaults.  Values above what PNG allows (2^31 - 1 per
 * side) are capped there. */
typedef struct cnn_png_limits {
    uint32_t max_width;  /* largest accepted width in pixels */
    uint32_t max_height; /* largest accepted height in pixels */
    uint64_t max_pixels; /* largest accepted width * height */
} cnn_png_limits;

/* ------------------------------------------------------------------------ */
/* Images                                                                    */
/* ------------------------------------------------------------------------ */

/* Allocates a width x height image with `channels` planes, all pixels 0.
 * Returns NULL when a size is not positive, the size overflows, or memory runs
 * out.  The caller frees it with cnn_image_free. */
CNN_API cnn_image *cnn_image_new(int width, int height, int channels);

/* Frees an image and its pixels.  NULL is allowed and does nothing. */
CNN_API void cnn_image_free(cnn_image *img);

/* Returns a new image of width x height with src's channels, resampled
 * bilinearly with half-pixel centres (align_corners = false): output pixel x
 * samples the source at sx = (x + 0.5) * src_width / width - 0.5, clamped to
 * [0, src_width - 1], interpolating between floor(sx) and the next pixel
 * (likewise for y).  This matches OpenCV's INTER_LINEAR and PyTorch's
 * interpolate(mode="bilinear", align_corners=False, antialias=False), and PIL's
 * bilinear resize when enlarging; shrinking does not low-pass filter first.
 * Same size gives an exact copy.  src is borrowed.  Returns NULL when src is
 * NULL, a size is not positive, or memory runs out; the caller frees the
 * result with cnn_image_free. */
CNN_API cnn_image *cnn_image_resize_bilinear(const cnn_image *src, int width, int height);

/* Replaces every value v by 1 - v, in place (e.g. dark-on-light drawings for a
 * network trained on light-on-dark digits).  NULL does nothing. */
CNN_API void cnn_image_invert(cnn_image *img);

/* ------------------------------------------------------------------------ */
/* PNG decoding                                                              */
/* ------------------------------------------------------------------------ */

/* Reads the PNG file at `path` and converts it to `want_channels` channels (1 =
 * grayscale, 3 = RGB) as described at the top of this header.  `lim` may be
 * NULL for the defaults.  On success stores a new image in *out (the caller
 * frees it with cnn_image_free) and returns 0.  On failure returns -1, leaves
 * *out untouched and fills err with a message starting with the path, e.g.
 * "x.png: not a PNG file", "x.png: corrupt PNG: IDAT: CRC error",
 * "x.png: truncated: the data ends after 120 bytes", or a message naming the
 * image size and the limit it exceeds. */
CNN_API int cnn_png_load(const char *path, int want_channels, const cnn_png_limits *lim,
                 cnn_image **out, cnn_error *err);

/* Same as cnn_png_load for a PNG already in memory (e.g. read from stdin with
 * cnn_read_stream).  buf (len bytes) is borrowed; `name` is used in messages
 * (e.g. "<stdin>"). */
CNN_API int cnn_png_load_mem(const void *buf, size_t len, const char *name, int want_channels,
                     const cnn_png_limits *lim, cnn_image **out, cnn_error *err);

/* ------------------------------------------------------------------------ */
/* PNG encoding                                                              */
/* ------------------------------------------------------------------------ */

/* Writes an 8-bit PNG to `path` atomically (see fileio.h): on any failure the
 * previous file, if any, is left as it was and no partial file remains.
 * `channels` is 1 (grayscale) or 3 (RGB); `pixels` holds height rows of
 * width * channels bytes, interleaved (R, G, B, R, G, B, ...), borrowed.  The
 * output is deterministic: no time or other varying chunk is written, so the
 * same pixels give byte-identical files (for a given zlib version).  libpng
 * itself refuses widths or heights over 1,000,000.  Returns 0, or -1 with err
 * naming the path and the reason. */
CNN_API int cnn_png_write(const char *path, int width, int height, int channels,
                  const unsigned char *pixels, cnn_error *err);

/* Encodes the same PNG bytes cnn_png_write would write into a new malloc'd
 * buffer.  On success *buf (owned by the caller, free()) and *len are set and 0
 * is returned; on failure -1 with err filled and *buf, *len untouched. */
CNN_API int cnn_png_encode_mem(int width, int height, int channels, const unsigned char *pixels,
                       unsigned char **buf, size_t *len, cnn_error *err);

/* ------------------------------------------------------------------------ */
/* JPEG decoding, and loading by content                                    */
/* ------------------------------------------------------------------------ */

/* Decodes a baseline or progressive JPEG (libjpeg-turbo, the accurate integer
 * IDCT, as djpeg by default) to `want_channels` channels, values v / 255:
 *   - colour (YCbCr) to 3 channels: libjpeg's YCbCr -> RGB (JFIF, full range);
 *   - colour to 1 channel: the luma Y as stored, which is JFIF's
 *     0.299 R + 0.587 G + 0.114 B (the PNG rule above), without a round trip
 *     through RGB;
 *   - grayscale to 3 channels: the gray value in R, G and B;
 *   - CMYK and YCCK JPEGs are refused.
 * The size is checked against lim (as for PNG) from the header, before the body
 * is decoded.  A truncated or corrupt body is an error ("NAME: corrupt JPEG: ..."),
 * never a grey-padded image. */
CNN_API int cnn_jpeg_load_mem(const void *buf, size_t len, const char *name, int want_channels,
                              const cnn_png_limits *lim, cnn_image **out, cnn_error *err);

/* Loads a PNG or a JPEG, recognised by its first bytes, to want_channels
 * channels by the rules above; anything else is "NAME: not a PNG or JPEG image
 * (by its first bytes)". */
CNN_API int cnn_image_load_mem(const void *buf, size_t len, const char *name, int want_channels,
                               const cnn_png_limits *lim, cnn_image **out, cnn_error *err);
CNN_API int cnn_image_load(const char *path, int want_channels, const cnn_png_limits *lim,
                           cnn_image **out, cnn_error *err);

CNN_END_DECLS

#endif
