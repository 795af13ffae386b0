/* libFuzzer harness for PNG decoding: cnn_png_load_mem (cnn-infer reads PNG
 * files and PNGs on stdin through it), converting to 1 and to 3 channels.
 *
 * Small limits (1024 pixels per side, 256 Ki pixels in all) keep each run
 * fast and check that larger claims are refused before pixels are allocated. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const uint8_t *data, size_t size, int channels)
{
    const cnn_png_limits lim = {1024, 1024, (uint64_t)1 << 18};
    cnn_image *img = NULL;
    cnn_error err;
    err.msg[0] = 0;
    if (cnn_png_load_mem(data, size, "fuzz.png", channels, &lim, &img, &err) != 0) {
        if (img || !err.msg[0]) {
            fprintf(stderr, "cnn_png_load_mem failed without a message or set *out\n");
            abort();
        }
        return;
    }
    if (img->channels != channels || img->width < 1 || img->height < 1 || img->width > 1024 ||
        img->height > 1024 || (uint64_t)img->width * (uint64_t)img->height > lim.max_pixels)
        abort();
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
