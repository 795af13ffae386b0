/* Tests of lib/draw.c: the pictures are read back as PNGs and checked for
 * size, colour type and the colours that carry meaning (a kernel's zero is
 * mid-grey, its sign is red or blue); the same inputs give the same bytes. */
#include "check.h"
#include "draw.h"
#include "fileio.h"
#include "image.h"
#include "png_test.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn-test-draw-XXXXXX";

/* One 3x3 kernel: top row -1 (negative), middle row 0, bottom row +0.5, so the
 * global limit is 1: the bottom row is half-way from grey to red. */
static void kernel_view_zero_is_mid_grey_and_signs_are_blue_and_red(void)
{
    float k[9] = {-1, -1, -1, 0, 0, 0, 0.5f, 0.5f, 0.5f};
    char *labels[1] = {"0"};
    cnn_draw_grid_opts o = {.cols = 0, .scale = 10, .margin = 2, .map = CNN_DRAW_DIVERGING};
    cnn_error err;
    const char *p = path_in("k.png");
    CHECK_INT_EQ(0, cnn_draw_grid(p, k, 1, 1, 3, 3, NULL, NULL, labels, &o, &err));
    CHECK_INT_EQ(2, colour_type(p)); /* RGB */
    cnn_image *im = NULL;
    CHECK_INT_EQ(0, cnn_png_load(p, 3, NULL, &im, &err));
    if (!im) return;
    /* one tile of 30 pixels + 2 x (margin 2 + frame 2) + colour bar 70; height
     * at least 120 for the bar */
    CHECK_INT_EQ(30 + 2 * 4 + 70, im->width);
    CHECK_INT_EQ(120, im->height);
    int gap = 4, top = 14 + gap; /* label strip, then the tile */
    int rgb[3];
    rgb_at(im, gap + 15, top + 15, rgb); /* middle row: weight 0 */
    CHECK_INT_EQ(128, rgb[0]);
    CHECK_INT_EQ(128, rgb[1]);
    CHECK_INT_EQ(128, rgb[2]);
    rgb_at(im, gap + 15, top + 5, rgb); /* top row: -1, the full negative colour */
    CHECK(rgb[2] > rgb[0] + 100);
    rgb_at(im, gap + 15, top + 25, rgb); /* bottom row: +0.5, half-way to red */
    CHECK(rgb[0] > rgb[2] + 40);
    unsigned char half[3];
    cnn_draw_diverging(0.5f, 1, half);
    CHECK_INT_EQ(half[0], rgb[0]);
    CHECK_INT_EQ(half[2], rgb[2]);
    cnn_image_free(im);
}

static void grey_grid_is_grey_png_with_labels_above_tiles(void)
{
    float t[2 * 4] = {0, 0, 0, 0, 1, 1, 1, 1}; /* a black and a white 2x2 tile */
    char *labels[2] = {"7", "8"};
    cnn_draw_grid_opts o = {.cols = 2, .scale = 10, .margin = 2, .map = CNN_DRAW_GRAY};
    cnn_error err;
    const char *p = path_in("g.png");
    CHECK_INT_EQ(0, cnn_draw_grid(p, t, 2, 1, 2, 2, NULL, NULL, labels, &o, &err));
    CHECK_INT_EQ(0, colour_type(p)); /* grey */
    cnn_image *im = NULL;
    CHECK_INT_EQ(0, cnn_png_load(p, 1, NULL, &im, &err));
    if (!im) return;
    CHECK_INT_EQ(2 * 20 + 3 * 4, im->width);
    CHECK_INT_EQ(20 + 14 + 2 * 4, im->height);
    CHECK(im->px[(size_t)(4 + 14 + 10) * im->width + 4 + 10] == 0.0f);      /* black tile */
    CHECK(im->px[(size_t)(4 + 14 + 10) * im->width + 28 + 10] == 1.0f);     /* white tile */
    CHECK(im->px[(size_t)(4 + 14 + 10) * im->width + 25] == 1.0f); /* between the frames */
    CHECK(im->px[(size_t)(4 + 13) * im->width + 4 + 10] < 0.5f);  /* the frame above a tile */
    /* the label strip holds dark text pixels somewhere above each tile */
    for (int k = 0; k < 2; k++) {
        float darkest = 1;
        for (int y = 4; y < 4 + 14; y++)
            for (int x = 4 + 24 * k; x < 24 + 24 * k; x++)
                if (im->px[(size_t)y * im->width + x] < darkest)
                    darkest = im->px[(size_t)y * im->width + x];
        CHECK(darkest < 0.5f);
    }
    /* the frame: a dark line one pixel outside the tile */
    CHECK(im->px[(size_t)(4 + 14 + 10) * im->width + 3] < 0.5f);
    cnn_image_free(im);
}

static void same_inputs_give_identical_bytes(void)
{
    float k[9] = {-1, 0.2f, 0.3f, 0, 0.1f, -0.4f, 0.5f, 0.9f, -0.2f};
    char *labels[1] = {"12"};
    cnn_draw_grid_opts o = {.scale = 7, .margin = 2, .map = CNN_DRAW_DIVERGING, .title = "t"};
    cnn_error err;
    CHECK_INT_EQ(0, cnn_draw_grid(path_in("a.png"), k, 1, 1, 3, 3, NULL, NULL, labels, &o, &err));
    CHECK_INT_EQ(0, cnn_draw_grid(path_in("b.png"), k, 1, 1, 3, 3, NULL, NULL, labels, &o, &err));
    CHECK(same_bytes(path_in("a.png"), path_in("b.png")));
}

static void heatmap_hottest_pixel_is_brightest(void)
{
    float img[4] = {0, 0, 0, 0}, map[4] = {0, 0, 0, 2};
    cnn_error err;
    const char *p = path_in("h.png");
    CHECK_INT_EQ(0, cnn_draw_heatmap(p, img, 1, 2, 2, map, 10, "x", &err));
    cnn_image *im = NULL;
    CHECK_INT_EQ(0, cnn_png_load(p, 3, NULL, &im, &err));
    if (!im) return;
    int gap = 12, top = 20 + 16, tw = 20, cold[3], hot[3];
    rgb_at(im, 2 * gap + tw + 5, top + 5, cold);   /* map, value 0 */
    rgb_at(im, 2 * gap + tw + 15, top + 15, hot);  /* map, the maximum */
    CHECK(hot[0] + hot[1] + hot[2] > 600);
    CHECK(cold[0] + cold[1] + cold[2] < 30);
    cnn_image_free(im);
}

int main(void)
{
    if (scratch_make(dir)) return 1;
    RUN(kernel_view_zero_is_mid_grey_and_signs_are_blue_and_red);
    RUN(grey_grid_is_grey_png_with_labels_above_tiles);
    RUN(same_inputs_give_identical_bytes);
    RUN(heatmap_hottest_pixel_is_brightest);
    scratch_remove();
    return check_report();
}
