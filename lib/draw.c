/* Pictures drawn with cairo (see draw.h).  Tile pixels are copied into the
 * cairo surface as blocks of scale x scale pixels; frames, crosses, text and
 * colour bars are cairo paths and cairo text. */
#include "draw.h"
#include "image.h"

#include "cairo_load.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "DejaVu Sans"
#define LABEL_PX 11.0   /* label font size */
#define LABEL_H 14      /* height of the strip above a tile that holds its label */
#define TITLE_H 20      /* height of the title strip */
#define BAR_W 14        /* colour bar width */
#define BAR_SPACE 70    /* room on the right for the colour bar and its numbers */
#define MAX_SIDE CNN_CANVAS_MAX_SIDE

/* ======================================================================== */
/* Canvas                                                                   */
/* ======================================================================== */

int cnn_canvas_new(cnn_canvas *cv, int w, int h, cnn_error *err)
{
    memset(cv, 0, sizeof *cv);
    if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE || (double)w * h > 2e8)
        return cnn_errorf(err, "the picture would be %d x %d pixels: too large", w, h);
    if (cnn_cairo_load(err)) return -1;
    cv->s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(cv->s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(cv->s);
        cv->s = NULL;
        return cnn_errorf(err, "cannot create a %d x %d picture: out of memory", w, h);
    }
    cv->cr = cairo_create(cv->s);
    cv->w = w, cv->h = h;
    cairo_set_source_rgb(cv->cr, 1, 1, 1);
    cairo_paint(cv->cr);
    cairo_select_font_face(cv->cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    /* grey-scale anti-aliasing and no hinting: the same bytes on every screen setup */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options(cv->cr, fo);
    cairo_font_options_destroy(fo);
    return 0;
}

void cnn_canvas_free(cnn_canvas *cv)
{
    if (cv->cr) cairo_destroy(cv->cr);
    if (cv->s) cairo_surface_destroy(cv->s);
    memset(cv, 0, sizeof *cv);
}

/* Raw pixel access between cairo drawing: begin flushes cairo's pending work,
 * end tells cairo the pixels changed. */
uint32_t *cnn_canvas_pixels(cnn_canvas *cv, int *stride)
{
    cairo_surface_flush(cv->s);
    *stride = cairo_image_surface_get_stride(cv->s) / 4;
    return (uint32_t *)cairo_image_surface_get_data(cv->s);
}

void cnn_canvas_pixels_done(cnn_canvas *cv)
{
    cairo_surface_mark_dirty(cv->s);
}

void cnn_canvas_fill(uint32_t *px, int stride, int x0, int y0, int w, int h,
                       const unsigned char rgb[3])
{
    uint32_t v = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) px[(size_t)y * stride + x] = v;
}

/* Writes the canvas as an RGB PNG, or a grey one when gray is set (every
 * pixel then has r = g = b). */
int cnn_canvas_write(cnn_canvas *cv, const char *path, int gray, cnn_error *err)
{
    int stride;
    const uint32_t *px = cnn_canvas_pixels(cv, &stride);
    int ch = gray ? 1 : 3;
    unsigned char *out = malloc((size_t)cv->w * cv->h * ch);
    if (!out) return cnn_errorf(err, "%s: out of memory", path);
    for (int y = 0; y < cv->h; y++)
        for (int x = 0; x < cv->w; x++) {
            uint32_t v = px[(size_t)y * stride + x];
            unsigned char *o = out + ((size_t)y * cv->w + x) * ch;
            if (gray) {
                o[0] = (unsigned char)(v >> 8); /* green; r = g = b */
            } else {
                o[0] = (unsigned char)(v >> 16), o[1] = (unsigned char)(v >> 8);
                o[2] = (unsigned char)v;
            }
        }
    int rc = cnn_png_write(path, cv->w, cv->h, ch, out, err);
    free(out);
    return rc;
}

/* Text with its left edge at x (align 0), centre (1) or right edge (2), its
 * baseline at y, clipped to nothing: callers size their strips. */
void cnn_canvas_text(cnn_canvas *cv, double x, double y, double size, int align, const char *s)
{
    cairo_set_font_size(cv->cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cv->cr, s, &e);
    double dx = align == 0 ? 0 : align == 1 ? -e.x_advance / 2 : -e.x_advance;
    cairo_move_to(cv->cr, round(x + dx), y);
    cairo_show_text(cv->cr, s);
}

/* ======================================================================== */
/* Colour maps                                                              */
/* ======================================================================== */

/* Blue (negative) - grey (zero) - red (positive), ColorBrewer RdBu's ends. */
static const unsigned char NEG[3] = {5, 48, 160}, MID[3] = {128, 128, 128},
                           POS[3] = {178, 0, 24};

void cnn_draw_diverging(float v, float limit, unsigned char rgb[3])
{
    float t = limit > 0 ? v / limit : 0;
    if (!(t == t)) t = 0;
    if (t > 1) t = 1;
    if (t < -1) t = -1;
    const unsigned char *end = t < 0 ? NEG : POS;
    float a = fabsf(t);
    for (int i = 0; i < 3; i++)
        rgb[i] = (unsigned char)lrintf((float)MID[i] + a * ((float)end[i] - (float)MID[i]));
}

/* A perceptually ordered heat map for values in 0..1: black, purple, red,
 * orange, pale yellow (an approximation of matplotlib's "inferno"). */
void cnn_draw_heat(float t, unsigned char rgb[3])
{
    static const float stops[6][3] = {{0, 0, 4},       {40, 11, 84},   {101, 21, 110},
                                      {188, 55, 84},   {249, 142, 9},  {252, 255, 164}};
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    float p = t * 5;
    int i = (int)p;
    if (i > 4) i = 4;
    float f = p - (float)i;
    for (int k = 0; k < 3; k++)
        rgb[k] = (unsigned char)lrintf(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
}

unsigned char cnn_draw_byte01(float v)
{
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (unsigned char)lrintf(v * 255.0f);
}

/* A vertical colour bar at (x, y) of height h, `top` at the top, `bottom` at
 * the bottom, numbered at both ends (and at zero for a diverging bar). */
void cnn_canvas_colour_bar(cnn_canvas *cv, int x, int y, int h, int diverging, float lo, float hi,
                       const char *caption)
{
    int stride;
    uint32_t *px = cnn_canvas_pixels(cv, &stride);
    for (int r = 0; r < h; r++) {
        float t = h > 1 ? 1.0f - (float)r / (float)(h - 1) : 1; /* 1 at the top */
        unsigned char rgb[3];
        if (diverging) cnn_draw_diverging(2 * t - 1, 1, rgb);
        else cnn_draw_heat(t, rgb);
        cnn_canvas_fill(px, stride, x, y + r, BAR_W, 1, rgb);
    }
    cnn_canvas_pixels_done(cv);
    cairo_t *cr = cv->cr;
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x - 0.5, y - 0.5, BAR_W + 1, h + 1);
    cairo_stroke(cr);
    char buf[32];
    cairo_set_source_rgb(cr, 0, 0, 0);
    snprintf(buf, sizeof buf, "%+.3g", (double)hi);
    cnn_canvas_text(cv, x + BAR_W + 4, y + 8, 10, 0, diverging ? buf : buf + (hi >= 0));
    snprintf(buf, sizeof buf, "%+.3g", (double)lo);
    cnn_canvas_text(cv, x + BAR_W + 4, y + h, 10, 0, diverging ? buf : buf + (lo >= 0));
    if (diverging) {
        cnn_canvas_text(cv, x + BAR_W + 4, y + h / 2.0 + 4, 10, 0, "0");
        cairo_move_to(cr, x + BAR_W, y + (h - 1) / 2.0 + 0.5);
        cairo_line_to(cr, x + BAR_W + 3, y + (h - 1) / 2.0 + 0.5);
        cairo_stroke(cr);
    }
    if (caption) cnn_canvas_text(cv, x, y + h + 14, 10, 0, caption);
}

/* ======================================================================== */
/* Grids                                                                    */
/* ======================================================================== */

static float max_abs(const float *t, size_t len)
{
    float m = 0;
    for (size_t i = 0; i < len; i++)
        if (fabsf(t[i]) > m) m = fabsf(t[i]);
    return m;
}

/* Where a grid's tiles go: cols per row, cells of cw x chh (a label strip of
 * lh, then the tile of tw x th) with gap pixels between them, below a title
 * strip of top; the picture is W x H. */
typedef struct grid_geom {
    int cols;
    long tw, th, lh, top, cw, chh, gap, W, H;
} grid_geom;

/* The top-left corner of the k-th tile drawn. */
static void tile_origin(const grid_geom *g, int k, long *ox, long *oy)
{
    *ox = g->gap + (k % g->cols) * (g->cw + g->gap);
    *oy = g->top + g->gap + (k / g->cols) * (g->chh + g->gap) + g->lh;
}

/* The tiles' pixels: grey, the diverging map (limit: the common scale), or
 * RGB; dead tiles mid-grey. */
static void grid_pixels(cnn_canvas *cv, const grid_geom *g, const float *tiles, int n, int c,
                        int h, int w, const int *order, const int *dead, float limit,
                        const cnn_draw_grid_opts *o)
{
    int div = o->map == CNN_DRAW_DIVERGING;
    size_t per = (size_t)c * h * w;
    int stride;
    uint32_t *px = cnn_canvas_pixels(cv, &stride);
    for (int k = 0; k < n; k++) {
        int i = order ? order[k] : k;
        const float *t = tiles + (size_t)i * per; /* (c, h, w) */
        long ox, oy;
        tile_origin(g, k, &ox, &oy);
        float lim = div && o->per_tile ? max_abs(t, per) : limit;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                unsigned char rgb[3];
                if (dead && dead[i]) {
                    rgb[0] = rgb[1] = rgb[2] = 128;
                } else if (c == 1) {
                    float v = t[(size_t)y * w + x];
                    if (div) cnn_draw_diverging(v, lim, rgb);
                    else rgb[0] = rgb[1] = rgb[2] = cnn_draw_byte01(v);
                } else {
                    for (int ch = 0; ch < 3; ch++) {
                        float v = t[((size_t)ch * h + y) * w + x];
                        /* RGB kernels: each channel 0 at mid-grey, +-limit at the ends */
                        rgb[ch] = div ? cnn_draw_byte01(lim > 0 ? 0.5f + 0.5f * v / lim : 0.5f)
                                      : cnn_draw_byte01(v);
                    }
                }
                cnn_canvas_fill(px, stride, (int)(ox + (long)x * o->scale),
                                (int)(oy + (long)y * o->scale), o->scale, o->scale, rgb);
            }
    }
    cnn_canvas_pixels_done(cv);
}

/* Frames, crosses over dead tiles, and the labels above the tiles. */
static void grid_frames(cnn_canvas *cv, const grid_geom *g, int n, const int *order,
                        const int *dead, char *const *labels)
{
    cairo_t *cr = cv->cr;
    double tw = (double)g->tw, th = (double)g->th, lh = (double)g->lh;
    cairo_set_line_width(cr, 1);
    for (int k = 0; k < n; k++) {
        int i = order ? order[k] : k;
        long lx, ly;
        tile_origin(g, k, &lx, &ly);
        double ox = (double)lx, oy = (double)ly;
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        cairo_rectangle(cr, ox - 0.5, oy - 0.5, tw + 1, th + 1);
        cairo_stroke(cr);
        if (dead && dead[i]) {
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, ox, oy);
            cairo_line_to(cr, ox + tw, oy + th);
            cairo_move_to(cr, ox + tw, oy);
            cairo_line_to(cr, ox, oy + th);
            cairo_stroke(cr);
            cairo_set_line_width(cr, 1);
        }
        if (labels && labels[i]) {
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_save(cr);
            cairo_rectangle(cr, ox - g->gap / 2.0, oy - lh, tw + g->gap, lh);
            cairo_clip(cr);
            cnn_canvas_text(cv, ox + tw / 2, oy - 4, LABEL_PX, 1, labels[i]);
            cairo_restore(cr);
        }
    }
}

int cnn_draw_grid(const char *path, const float *tiles, int n, int c, int h, int w,
                  const int *order, const int *dead, char *const *labels,
                  const cnn_draw_grid_opts *o, cnn_error *err)
{
    if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || o->scale < 1 || o->margin < 0 ||
        o->cols < 0)
        return cnn_errorf(err, "grid of %d tiles of %dx%dx%d (scale %d, margin %d): bad size", n,
                          c, h, w, o->scale, o->margin);
    grid_geom g;
    int cols = o->cols;
    if (!cols)
        while ((long)cols * cols < n) cols++;
    if (cols > n) cols = n;
    g.cols = cols;
    int rows = (n + cols - 1) / cols;
    int div = o->map == CNN_DRAW_DIVERGING;
    g.tw = (long)w * o->scale, g.th = (long)h * o->scale;
    g.lh = labels ? LABEL_H : 0, g.top = o->title ? TITLE_H : 0;
    g.cw = g.tw, g.chh = g.th + g.lh; /* a cell: label strip, then the tile */
    g.gap = o->margin + 2;            /* the frame takes a pixel on each side */
    g.W = cols * g.cw + (cols + 1) * g.gap + (div ? BAR_SPACE : 0);
    g.H = g.top + rows * g.chh + (rows + 1) * g.gap;
    if (div && g.H < g.top + 120) g.H = g.top + 120;
    if (g.W > MAX_SIDE || g.H > MAX_SIDE)
        return cnn_errorf(err, "the picture would be %ld x %ld pixels; use a smaller --scale or "
                               "fewer --units", g.W, g.H);
    cnn_canvas cv;
    if (cnn_canvas_new(&cv, (int)g.W, (int)g.H, err)) return -1;
    size_t per = (size_t)c * h * w;
    float limit = o->limit;
    if (div && !o->per_tile && !(limit > 0))
        for (int i = 0; i < n; i++)
            if (!dead || !dead[i]) {
                float m = max_abs(tiles + (size_t)i * per, per);
                if (m > limit) limit = m;
            }
    grid_pixels(&cv, &g, tiles, n, c, h, w, order, dead, limit, o);
    grid_frames(&cv, &g, n, order, dead, labels);
    if (o->title) {
        cairo_set_source_rgb(cv.cr, 0, 0, 0);
        cnn_canvas_text(&cv, (double)g.gap, 15, 13, 0, o->title);
    }
    if (div) {
        long bh = g.H - g.top - 2 * g.gap - 30;
        if (bh > 240) bh = 240;
        cnn_canvas_colour_bar(&cv, (int)(g.W - BAR_SPACE + 8), (int)(g.top + g.gap + g.lh),
                              (int)bh, 1, o->per_tile ? -1 : -limit, o->per_tile ? 1 : limit,
                              o->per_tile ? "\xc3\x97 tile max" : NULL);
    }
    int gray = !div && c == 1;
    int rc = cnn_canvas_write(&cv, path, gray, err);
    cnn_canvas_free(&cv);
    return rc;
}

/* ======================================================================== */
/* Heat maps                                                                */
/* ======================================================================== */

int cnn_draw_heatmap(const char *path, const float *image, int c, int h, int w,
                     const float *map, int scale, const char *title, cnn_error *err)
{
    if ((c != 1 && c != 3) || h < 1 || w < 1 || scale < 1)
        return cnn_errorf(err, "heat map of %dx%dx%d (scale %d): bad size", c, h, w, scale);
    long tw = (long)w * scale, th = (long)h * scale, gap = 12, top = TITLE_H + 16;
    long W = 3 * tw + 4 * gap + BAR_SPACE, H = top + th + gap + 4;
    if (H < top + 120) H = top + 120;
    if (W > MAX_SIDE || H > MAX_SIDE)
        return cnn_errorf(err, "the picture would be %ld x %ld pixels; use a smaller --scale",
                          W, H);
    cnn_canvas cv;
    if (cnn_canvas_new(&cv, (int)W, (int)H, err)) return -1;
    float mx = 0;
    for (size_t i = 0; i < (size_t)h * w; i++)
        if (map[i] > mx) mx = map[i];
    int stride;
    uint32_t *px = cnn_canvas_pixels(&cv, &stride);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char img[3], hm[3], ov[3];
            for (int ch = 0; ch < 3; ch++)
                img[ch] = cnn_draw_byte01(image[((size_t)(c == 3 ? ch : 0) * h + y) * w + x]);
            float t = mx > 0 ? map[(size_t)y * w + x] / mx : 0;
            cnn_draw_heat(t, hm);
            /* overlay: the image darkened, the heat laid over it in proportion */
            float a = 0.25f + 0.6f * t;
            for (int ch = 0; ch < 3; ch++)
                ov[ch] = (unsigned char)lrintf((1 - a) * img[ch] * 0.8f + a * hm[ch]);
            int oy = (int)(top + (long)y * scale);
            cnn_canvas_fill(px, stride, (int)(gap + (long)x * scale), oy, scale, scale, img);
            cnn_canvas_fill(px, stride, (int)(2 * gap + tw + (long)x * scale), oy, scale, scale, hm);
            cnn_canvas_fill(px, stride, (int)(3 * gap + 2 * tw + (long)x * scale), oy, scale, scale, ov);
        }
    cnn_canvas_pixels_done(&cv);
    cairo_t *cr = cv.cr;
    cairo_set_source_rgb(cr, 0, 0, 0);
    const char *names[3] = {"image", "map", "overlay"};
    for (int k = 0; k < 3; k++)
        cnn_canvas_text(&cv, (double)((k + 1) * gap + k * tw) + (double)tw / 2, (double)top - 5, LABEL_PX,
             1, names[k]);
    if (title) cnn_canvas_text(&cv, (double)gap, 15, 13, 0, title);
    cnn_canvas_colour_bar(&cv, (int)(W - BAR_SPACE + 8), (int)top, (int)(th < 240 ? th : 240), 0, 0, mx,
               NULL);
    int rc = cnn_canvas_write(&cv, path, 0, err);
    cnn_canvas_free(&cv);
    return rc;
}
