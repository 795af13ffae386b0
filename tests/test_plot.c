/* Tests of lib/plot.c: the confusion matrix and the training curves are read
 * back as PNGs and checked for size, colour type and the pixels that carry
 * meaning (a larger count is a darker cell; the curves are drawn in the
 * colours their legend shows, and only the curves the history has); the same
 * inputs give the same bytes. */
#include "check.h"
#include "fileio.h"
#include "image.h"
#include "png_test.h"
#include "plot.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn-test-plot-XXXXXX";

/* Rec. 709 luma: lower is darker. */
static double luma(const int rgb[3])
{
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
}

/* Rows are true classes: class 1's diagonal (30) is darker than its
 * off-diagonal 10, and class 0's diagonal 50 darker than every other cell;
 * the zero cell is the lightest. */
static void confusion_larger_count_is_darker_cell(void)
{
    size_t counts[9] = {50, 2, 0, 10, 30, 1, 4, 5, 40};
    const char *names[3] = {"cat", "dog", "bird"};
    cnn_plot_layout lay;
    cnn_error err;
    const char *p = path_in("cm.png");
    CHECK_INT_EQ(0, cnn_plot_confusion(p, counts, 3, names, "test", &lay, &err));
    CHECK_INT_EQ(2, colour_type(p)); /* RGB */
    cnn_image *im = NULL;
    CHECK_INT_EQ(0, cnn_png_load(p, 3, NULL, &im, &err));
    if (!im) return;
    CHECK_INT_EQ(lay.width, im->width);
    CHECK_INT_EQ(lay.height, im->height);
    CHECK(lay.cell >= 20);
    CHECK(lay.cells_x + 3 * lay.cell < im->width && lay.cells_y + 3 * lay.cell < im->height);
    /* a pixel near each cell's top-left corner (away from its count) */
    double l[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int rgb[3];
            rgb_at(im, lay.cells_x + j * lay.cell + 3, lay.cells_y + i * lay.cell + 3, rgb);
            l[i][j] = luma(rgb);
        }
    CHECK(l[1][1] < l[1][0]);          /* 30 darker than 10, same row */
    CHECK(l[2][2] < l[1][0]);          /* 40 darker than 10 */
    CHECK(l[1][0] < l[2][1]);          /* 10 darker than 5 */
    CHECK(l[2][1] < l[0][1]);          /* 5 darker than 2 */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i || j) CHECK(l[0][0] < l[i][j]); /* 50, the largest, darkest */
    CHECK(l[0][2] > 240);              /* 0 is near white */
    cnn_image_free(im);
    const char *q = path_in("cm2.png");
    CHECK_INT_EQ(0, cnn_plot_confusion(q, counts, 3, names, "test", NULL, &err));
    CHECK(same_bytes(p, q));
}

/* The count is written in the cell: a dark diagonal cell holds light pixels
 * (white digits) near its centre, a zero cell dark ones. */
static void confusion_cells_hold_their_counts(void)
{
    size_t counts[4] = {900, 0, 0, 900};
    cnn_plot_layout lay;
    cnn_error err;
    const char *p = path_in("cm3.png");
    CHECK_INT_EQ(0, cnn_plot_confusion(p, counts, 2, NULL, NULL, &lay, &err));
    cnn_image *im = NULL;
    CHECK_INT_EQ(0, cnn_png_load(p, 3, NULL, &im, &err));
    if (!im) return;
    int light = 0, dark = 0;
    for (int y = lay.cells_y + lay.cell / 4; y < lay.cells_y + 3 * lay.cell / 4; y++)
        for (int x = lay.cells_x + 2; x < lay.cells_x + lay.cell - 2; x++) {
            int rgb[3];
            rgb_at(im, x, y, rgb);
            light += luma(rgb) > 200; /* in the dark (0, 0) cell */
            rgb_at(im, x + lay.cell, y, rgb);
            dark += luma(rgb) < 100; /* in the white (0, 1) cell */
        }
    CHECK(light > 10);
    CHECK(dark > 5);
    cnn_image_free(im);
}

static void confusion_refuses_no_classes(void)
{
    cnn_error err;
    size_t c = 0;
    CHECK_INT_EQ(-1, cnn_plot_confusion(path_in("none.png"), &c, 0, NULL, NULL, NULL, &err));
    CHECK_CONTAINS(err.msg, "0 classes");
    CHECK(access(path_in("none.png"), F_OK) != 0);
}

/* Pixels of exactly colour c inside box (x, y, w, h). */
static int count_colour(const cnn_image *im, const int *box, const unsigned char c[3])
{
    int k = 0;
    for (int y = box[1]; y < box[1] + box[3]; y++)
        for (int x = box[0]; x < box[0] + box[2]; x++) {
            int rgb[3];
            rgb_at(im, x, y, rgb);
            k += rgb[0] == c[0] && rgb[1] == c[1] && rgb[2] == c[2];
        }
    return k;
}

static void curves_are_drawn_in_their_legend_colours(void)
{
    const char *hist = "1,2.0,0.40,1.5,0.55,0.01,100,1\n"
                       "2,1.0,0.70,0.9,0.72,0.01,100,2\n"
                       "3,0.5,0.85,1.1,0.70,0.01,100,3\n";
    cnn_plot_layout lay;
    cnn_error err;
    const char *p = path_in("curves.png");
    CHECK_INT_EQ(0, cnn_plot_history(p, hist, "lenet", &lay, &err));
    CHECK_INT_EQ(2, colour_type(p));
    cnn_image *im = NULL;
    CHECK_INT_EQ(0, cnn_png_load(p, 3, NULL, &im, &err));
    if (!im) return;
    CHECK_INT_EQ(lay.width, im->width);
    CHECK_INT_EQ(lay.height, im->height);
    /* the legend's swatches are the curve colours */
    int rgb[3];
    rgb_at(im, lay.legend[0][0], lay.legend[0][1], rgb);
    CHECK(rgb[0] == cnn_plot_train_rgb[0] && rgb[1] == cnn_plot_train_rgb[1] &&
          rgb[2] == cnn_plot_train_rgb[2]);
    rgb_at(im, lay.legend[1][0], lay.legend[1][1], rgb);
    CHECK(rgb[0] == cnn_plot_val_rgb[0] && rgb[1] == cnn_plot_val_rgb[1] &&
          rgb[2] == cnn_plot_val_rgb[2]);
    CHECK(lay.legend[2][0] >= 0); /* the best epoch is in the legend */
    /* both colours appear in both panels */
    for (int k = 0; k < 2; k++) {
        CHECK(count_colour(im, lay.panel[k], cnn_plot_train_rgb) > 20);
        CHECK(count_colour(im, lay.panel[k], cnn_plot_val_rgb) > 20);
    }
    /* the training loss falls: its colour sits high in the panel's left part and
     * low in its right part */
    int *b = lay.panel[0], left[4] = {b[0], b[1], b[2] / 6, b[3] / 2},
        right[4] = {b[0] + b[2] - b[2] / 6, b[1] + b[3] / 2, b[2] / 6, b[3] / 2};
    CHECK(count_colour(im, left, cnn_plot_train_rgb) > 5);
    CHECK(count_colour(im, right, cnn_plot_train_rgb) > 5);
    /* the best epoch is 2 (lowest validation loss): its dashed line is in the
     * middle of the loss panel */
    int mid[4] = {b[0] + b[2] / 2 - 2, b[1], 5, b[3]};
    CHECK(count_colour(im, mid, cnn_plot_best_rgb) > 10);
    cnn_image_free(im);
    const char *q = path_in("curves2.png");
    CHECK_INT_EQ(0, cnn_plot_history(q, hist, "lenet", NULL, &err));
    CHECK(same_bytes(p, q));
}

static void curves_without_validation_have_no_validation_colour(void)
{
    const char *hist = "1,2.0,0.40,,,0.01,100,1\n2,1.0,0.70,,,0.01,100,2\n";
    cnn_plot_layout lay;
    cnn_error err;
    const char *p = path_in("curves3.png");
    CHECK_INT_EQ(0, cnn_plot_history(p, hist, NULL, &lay, &err));
    cnn_image *im = NULL;
    CHECK_INT_EQ(0, cnn_png_load(p, 3, NULL, &im, &err));
    if (!im) return;
    int all[4] = {0, 0, im->width, im->height};
    CHECK(count_colour(im, lay.panel[0], cnn_plot_train_rgb) > 20);
    CHECK_INT_EQ(0, count_colour(im, all, cnn_plot_val_rgb));
    CHECK_INT_EQ(-1, lay.legend[1][0]);
    CHECK_INT_EQ(-1, lay.legend[2][0]);
    cnn_image_free(im);
}

static void bad_history_is_an_error_naming_the_row(void)
{
    cnn_error err;
    CHECK_INT_EQ(-1, cnn_plot_history(path_in("bad.png"), "1,2,0.5,,,0.1,1,1\n2,x,0.5\n", NULL,
                                      NULL, &err));
    CHECK_CONTAINS(err.msg, "row 2");
    CHECK_INT_EQ(-1, cnn_plot_history(path_in("bad.png"), "", NULL, NULL, &err));
    CHECK_CONTAINS(err.msg, "empty");
    CHECK(access(path_in("bad.png"), F_OK) != 0);
}

/* Helpers for tests/cli/pictures.sh:
 *   --info FILE                  prints "WIDTH HEIGHT COLOUR_TYPE" of a PNG
 *   --confusion OUT TITLE N c..  draws counts c (N x N, row-major) with the
 *                                library, without class names */
static int helper(int argc, char **argv)
{
    cnn_error err;
    if (strcmp(argv[1], "--info") == 0 && argc == 3) {
        cnn_image *im = NULL;
        if (cnn_png_load(argv[2], 3, NULL, &im, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        printf("%d %d %d\n", im->width, im->height, colour_type(argv[2]));
        cnn_image_free(im);
        return 0;
    }
    if (strcmp(argv[1], "--confusion") == 0 && argc >= 5) {
        int n = atoi(argv[4]);
        if (n < 1 || argc != 5 + n * n) return 2;
        size_t *c = calloc((size_t)n * n, sizeof *c);
        for (int i = 0; i < n * n; i++) c[i] = strtoul(argv[5 + i], NULL, 10);
        int rc = cnn_plot_confusion(argv[2], c, n, NULL, argv[3][0] ? argv[3] : NULL, NULL, &err);
        free(c);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        return rc ? 1 : 0;
    }
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1) return helper(argc, argv);
    if (scratch_make(dir)) return 1;
    RUN(confusion_larger_count_is_darker_cell);
    RUN(confusion_cells_hold_their_counts);
    RUN(confusion_refuses_no_classes);
    RUN(curves_are_drawn_in_their_legend_colours);
    RUN(curves_without_validation_have_no_validation_colour);
    RUN(bad_history_is_an_error_naming_the_row);
    scratch_remove();
    return check_report();
}
