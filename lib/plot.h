/* Plots drawn with cairo on lib/draw.c's canvas: the confusion matrix as a
 * heat map and the training curves (loss and accuracy per epoch).  Like every
 * picture, they are written through cnn_png_write: atomically, "-" meaning
 * standard output, the same inputs giving the same bytes.  Internal to libcnn
 * (not in include/cnn/); the tools include it directly. */
#ifndef CNN_PLOT_H
#define CNN_PLOT_H

#include <stddef.h>

#include "error.h"

/* Where a plot put things, for tests that read the picture back. */
typedef struct cnn_plot_layout {
    int width, height;
    /* confusion matrix: the top-left corner of cell (0, 0) and the cell side */
    int cells_x, cells_y, cell;
    /* curves: the two plot areas (loss, accuracy) as x, y, w, h ... */
    int panel[2][4];
    /* ... and the centre of each legend swatch: train, validation, best epoch
     * (x = -1 when that entry is absent) */
    int legend[3][2];
} cnn_plot_layout;

/* The colours of the curves (RGB): training and validation figures, and the
 * best epoch's mark. */
extern const unsigned char cnn_plot_train_rgb[3], cnn_plot_val_rgb[3], cnn_plot_best_rgb[3];

/* The confusion matrix counts (n, n), [true class][predicted class], as a
 * heat map: each cell coloured by its count (white at 0, dark blue at the
 * largest count) with the count written in it, class names (or numbers when
 * names is NULL) along both axes, each class's recall on the right and a
 * colour bar.  title may be NULL.  lay (may be NULL) receives the layout. */
int cnn_plot_confusion(const char *path, const size_t *counts, int n, const char *const *names,
                       const char *title, cnn_plot_layout *lay, cnn_error *err);

/* Training curves from a training history: CSV rows (no header) with
 * CNN_HISTORY_HEADER's columns, one per finished epoch (the string cnn_train's
 * on_epoch receives and checkpoints keep).  Two panels, loss and accuracy, each
 * with the training figures and, when the rows have them, the validation
 * figures; axes with ticks, a legend, `title` (e.g. the model's name) and the
 * best epoch (lowest validation loss, the first of equals) marked.  A history
 * that cannot be read is an error naming the row. */
int cnn_plot_history(const char *path, const char *history_csv, const char *title,
                     cnn_plot_layout *lay, cnn_error *err);

#endif
