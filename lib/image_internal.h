/* Internal: what the image readers share with the rest of libcnn. */
#ifndef CNN_IMAGE_INTERNAL_H
#define CNN_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* The largest image file worth reading under lim (NULL: the defaults): a
 * compressed image is at most a few bytes per pixel, and PNG can be larger than
 * raw, so 8 bytes per pixel of the pixel limit, plus 64 KiB of headers. */
size_t cnn_image_file_cap(const cnn_png_limits *lim);

/* The width and height a PNG (a well-formed IHDR with a correct CRC) or a JPEG
 * (its frame header, read by libjpeg) declares, without decoding any pixels:
 * 0, or -1 when buf does not start with a readable header of either (the
 * decoder then says what is wrong). */
int cnn_image_header_size(const void *buf, size_t len, uint32_t *w, uint32_t *h);

#endif
