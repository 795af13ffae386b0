/* cairo, loaded at the first picture rather than linked: with its fonts and X
 * libraries it is 17 shared libraries, some 5 ms of CPU at each start of
 * cnn-infer, cnn-train and cnn-visualize (measured under load with perf stat;
 * bench/README.md), paid even by runs that draw nothing.  lib/draw.c's
 * cnn_canvas_new loads it (cnn_cairo_load) before any other cairo call;
 * lib/draw.c and lib/plot.c include this header after <cairo.h>, and their
 * calls go through the table below under cairo's own names.  Internal. */
#ifndef CNN_CAIRO_LOAD_H
#define CNN_CAIRO_LOAD_H

#include "error.h"

#include <cairo.h>

/* Every cairo function libcnn calls. */
#define CNN_CAIRO_FUNCS(X) \
    X(cairo_arc) \
    X(cairo_clip) \
    X(cairo_create) \
    X(cairo_destroy) \
    X(cairo_fill) \
    X(cairo_font_options_create) \
    X(cairo_font_options_destroy) \
    X(cairo_font_options_set_antialias) \
    X(cairo_font_options_set_hint_metrics) \
    X(cairo_font_options_set_hint_style) \
    X(cairo_image_surface_create) \
    X(cairo_image_surface_get_data) \
    X(cairo_image_surface_get_stride) \
    X(cairo_line_to) \
    X(cairo_move_to) \
    X(cairo_paint) \
    X(cairo_rectangle) \
    X(cairo_restore) \
    X(cairo_rotate) \
    X(cairo_save) \
    X(cairo_select_font_face) \
    X(cairo_set_dash) \
    X(cairo_set_font_options) \
    X(cairo_set_font_size) \
    X(cairo_set_line_join) \
    X(cairo_set_line_width) \
    X(cairo_set_source_rgb) \
    X(cairo_show_text) \
    X(cairo_stroke) \
    X(cairo_surface_destroy) \
    X(cairo_surface_flush) \
    X(cairo_surface_mark_dirty) \
    X(cairo_surface_status) \
    X(cairo_text_extents) \
    X(cairo_translate)

#define CNN_CAIRO_FIELD(f) __typeof__(&f) f;
typedef struct cnn_cairo_fns {
    CNN_CAIRO_FUNCS(CNN_CAIRO_FIELD)
} cnn_cairo_fns;
#undef CNN_CAIRO_FIELD

extern cnn_cairo_fns cnn_cairo;

/* Loads libcairo.so.2 and resolves the table, once per process (later calls
 * return the first outcome).  Fails, saying which library or function is
 * missing and which package to install. */
int cnn_cairo_load(cnn_error *err);

#ifndef CNN_CAIRO_LOADER
#define cairo_arc (cnn_cairo.cairo_arc)
#define cairo_clip (cnn_cairo.cairo_clip)
#define cairo_create (cnn_cairo.cairo_create)
#define cairo_destroy (cnn_cairo.cairo_destroy)
#define cairo_fill (cnn_cairo.cairo_fill)
#define cairo_font_options_create (cnn_cairo.cairo_font_options_create)
#define cairo_font_options_destroy (cnn_cairo.cairo_font_options_destroy)
#define cairo_font_options_set_antialias (cnn_cairo.cairo_font_options_set_antialias)
#define cairo_font_options_set_hint_metrics (cnn_cairo.cairo_font_options_set_hint_metrics)
#define cairo_font_options_set_hint_style (cnn_cairo.cairo_font_options_set_hint_style)
#define cairo_image_surface_create (cnn_cairo.cairo_image_surface_create)
#define cairo_image_surface_get_data (cnn_cairo.cairo_image_surface_get_data)
#define cairo_image_surface_get_stride (cnn_cairo.cairo_image_surface_get_stride)
#define cairo_line_to (cnn_cairo.cairo_line_to)
#define cairo_move_to (cnn_cairo.cairo_move_to)
#define cairo_paint (cnn_cairo.cairo_paint)
#define cairo_rectangle (cnn_cairo.cairo_rectangle)
#define cairo_restore (cnn_cairo.cairo_restore)
#define cairo_rotate (cnn_cairo.cairo_rotate)
#define cairo_save (cnn_cairo.cairo_save)
#define cairo_select_font_face (cnn_cairo.cairo_select_font_face)
#define cairo_set_dash (cnn_cairo.cairo_set_dash)
#define cairo_set_font_options (cnn_cairo.cairo_set_font_options)
#define cairo_set_font_size (cnn_cairo.cairo_set_font_size)
#define cairo_set_line_join (cnn_cairo.cairo_set_line_join)
#define cairo_set_line_width (cnn_cairo.cairo_set_line_width)
#define cairo_set_source_rgb (cnn_cairo.cairo_set_source_rgb)
#define cairo_show_text (cnn_cairo.cairo_show_text)
#define cairo_stroke (cnn_cairo.cairo_stroke)
#define cairo_surface_destroy (cnn_cairo.cairo_surface_destroy)
#define cairo_surface_flush (cnn_cairo.cairo_surface_flush)
#define cairo_surface_mark_dirty (cnn_cairo.cairo_surface_mark_dirty)
#define cairo_surface_status (cnn_cairo.cairo_surface_status)
#define cairo_text_extents (cnn_cairo.cairo_text_extents)
#define cairo_translate (cnn_cairo.cairo_translate)
#endif

#endif
