/* libFuzzer harness for image decoding: cnn_image_load_mem, which recognises a
 * PNG (cnn_png_load_mem) or a JPEG (cnn_jpeg_load_mem) by its first bytes, as
 * every tool reads image files and images on stdin, converting to 1 and to 3
 * channels; and cnn_image_header_size, which sizes an image from its header
 * before decoding: a decoded image must have the size its header declared.
 *
 * Small limits (1024 pixels per side, 256 Ki pixels in all) keep each run
 * fast and check that larger claims are refused before pixels are allocated. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "image.h"
#include "image_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const uint8_t *data, size_t size, int channels)
{
    const cnn_png_limits lim = {1024, 1024, (uint64_t)1 << 18};
    cnn_image *img = NULL;
    cnn_error err;
    err.msg[0] = 0;
    if (cnn_image_load_mem(data, size, "fuzz.png", channels, &lim, &img, &err) != 0) {
        if (img || !err.msg[0]) {
            fprintf(stderr, "cnn_image_load_mem failed without a message or set *out\n");
            abort();
        }
        return;
    }
    if (img->channels != channels || img->width < 1 || img->height < 1 || img->width > 1024 ||
        img->height > 1024 || (uint64_t)img->width * (uint64_t)img->height > lim.max_pixels)
        abort();
    uint32_t w, h;
    if (cnn_image_header_size(data, size, &w, &h) == 0 &&
        (w != (uint32_t)img->width || h != (uint32_t)img->height)) {
        fprintf(stderr, "header says %ux%u, decoded %dx%d\n", (unsigned)w, (unsigned)h,
                img->width, img->height);
        abort();
    }
    size_t n = (size_t)img->width * (size_t)img->height * (size_t)channels;
    for (size_t i = 0; i < n; i++)
        if (!(img->px[i] >= 0.0f && img->px[i] <= 1.0f)) {
            fprintf(stderr, "pixel %zu is %g, outside [0, 1]\n", i, (double)img->px[i]);
            abort();
        }
    cnn_image_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size, 1);
    decode(data, size, 3);
    return 0;
}
