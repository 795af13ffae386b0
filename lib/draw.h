/* Pictures drawn with cairo: labelled tile grids, diverging kernel views with a
 * colour bar, and heat maps over images.  Every picture is rendered into an
 * in-memory cairo image surface and written through cnn_png_write, i.e.
 * atomically (lib/fileio.c), "-" meaning standard output.  Text goes through
 * cairo's font machinery (fontconfig, DejaVu Sans); nothing here rasterizes
 * glyphs or lines by hand.  Output is deterministic: the same inputs give the
 * same PNG bytes.  Internal to libcnn (not in include/cnn/). */
#ifndef CNN_DRAW_H
#define CNN_DRAW_H

#include "error.h"

#include <cairo.h>
#include <stdint.h>

/* How tile values become colours. */
enum cnn_draw_map {
    CNN_DRAW_GRAY,      /* values in 0..1 (already normalized): black..white or RGB */
    CNN_DRAW_DIVERGING, /* raw values: 0 is mid-grey (128,128,128), -limit blue, +limit red */
};

typedef struct cnn_draw_grid_opts {
    int cols;     /* tiles per row; 0 means ceil(sqrt(n)) */
    int scale;    /* each tile pixel becomes scale x scale pixels */
    int margin;   /* pixels between cells and around the grid */
    int map;      /* enum cnn_draw_map */
    int per_tile; /* diverging: each tile by its own max |v| (else one limit for all) */
    float limit;  /* diverging, not per_tile: this limit (0: max |v| over all tiles) */
    const char *title; /* drawn above the grid (NULL: none) */
} cnn_draw_grid_opts;

/* Writes n tiles (c, h, w), c = 1 or 3, as a grid: the tile at position k is
 * tiles[order[k]] (order NULL: 0..n-1), labelled labels[order[k]] above it
 * (labels NULL: no labels), framed by a thin dark line; dead tiles are grey and
 * crossed.  With CNN_DRAW_DIVERGING, a colour bar with its limits is drawn on
 * the right. */
int cnn_draw_grid(const char *path, const float *tiles, int n, int c, int h, int w,
                  const int *order, const int *dead, char *const *labels,
                  const cnn_draw_grid_opts *o, cnn_error *err);

/* The diverging colour of v in [-limit, limit] (clipped): rgb[3] bytes. */
void cnn_draw_diverging(float v, float limit, unsigned char rgb[3]);

/* Writes image (c, h, w) values in 0..1 beside a heat map of map (h, w) values
 * >= 0 and the map overlaid on the image, scaled by `scale`, with `title`
 * above and a colour bar from 0 to max(map). */
int cnn_draw_heatmap(const char *path, const float *image, int c, int h, int w,
                     const float *map, int scale, const char *title, cnn_error *err);

/* ---- the canvas the pictures share (lib/draw.c, lib/plot.c) ---------------- */

/* A white RGB picture with cairo's context on it and the fixed font setup
 * (DejaVu Sans, grey anti-aliasing, no hinting: the same bytes everywhere). */
typedef struct cnn_canvas {
    cairo_surface_t *s;
    cairo_t *cr;
    int w, h;
} cnn_canvas;

#define CNN_CANVAS_MAX_SIDE 20000 /* largest picture side we draw */

/* Fails (naming the size) on a side out of 1..CNN_CANVAS_MAX_SIDE or out of memory. */
int cnn_canvas_new(cnn_canvas *cv, int w, int h, cnn_error *err);
void cnn_canvas_free(cnn_canvas *cv);

/* Raw pixels between cairo drawing: 0x00RRGGBB words, `*stride` words a row.
 * cnn_canvas_pixels flushes cairo's pending work; cnn_canvas_pixels_done tells
 * cairo the pixels changed. */
uint32_t *cnn_canvas_pixels(cnn_canvas *cv, int *stride);
void cnn_canvas_pixels_done(cnn_canvas *cv);
void cnn_canvas_fill(uint32_t *px, int stride, int x0, int y0, int w, int h,
                     const unsigned char rgb[3]);

/* Text of `size` pixels with its left edge (align 0), centre (1) or right
 * edge (2) at x and its baseline at y, in the current source colour. */
void cnn_canvas_text(cnn_canvas *cv, double x, double y, double size, int align, const char *s);

/* A vertical colour bar at (x, y), h pixels high, numbered lo..hi (and 0 for a
 * diverging bar), with an optional caption below. */
void cnn_canvas_colour_bar(cnn_canvas *cv, int x, int y, int h, int diverging, float lo,
                           float hi, const char *caption);

/* Writes the canvas as an RGB PNG (or a grey one when gray is set and every
 * pixel is grey) through cnn_png_write: atomic, "-" for standard output. */
int cnn_canvas_write(cnn_canvas *cv, const char *path, int gray, cnn_error *err);

/* The heat colour (black, purple, red, orange, pale yellow) of t in 0..1. */
void cnn_draw_heat(float t, unsigned char rgb[3]);

/* v in 0..1 as a byte (clipped; NaN is 0). */
unsigned char cnn_draw_byte01(float v);

#endif
