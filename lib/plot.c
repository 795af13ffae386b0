/* Plots (see plot.h): the confusion matrix as a heat map and the training
 * curves.  Cells and colour bars are pixel blocks on the canvas; axes, ticks,
 * curves and text are cairo paths and cairo text (lib/draw.c's canvas). */
#include "plot.h"
#include "draw.h"

#include "cairo_load.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_CHARS 24 /* longest class name drawn (bytes); longer ones end in "..." */

const unsigned char cnn_plot_train_rgb[3] = {31, 119, 180}; /* blue */
const unsigned char cnn_plot_val_rgb[3] = {230, 97, 1};     /* orange */
const unsigned char cnn_plot_best_rgb[3] = {60, 60, 60};    /* dark grey */

static void set_rgb(cairo_t *cr, const unsigned char c[3])
{
    cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
}

static double text_width(cnn_canvas *cv, double size, const char *s)
{
    cairo_set_font_size(cv->cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cv->cr, s, &e);
    return e.x_advance;
}

/* A class's label: its name (cut to NAME_CHARS bytes at a UTF-8 boundary) or
 * its number. */
static void class_label(char *buf, size_t size, const char *const *names, int k)
{
    if (!names || !names[k]) {
        snprintf(buf, size, "%d", k);
        return;
    }
    size_t len = strlen(names[k]);
    if (len <= NAME_CHARS) {
        snprintf(buf, size, "%s", names[k]);
        return;
    }
    size_t cut = NAME_CHARS - 3;
    while (cut > 0 && ((unsigned char)names[k][cut] & 0xC0) == 0x80) cut--;
    snprintf(buf, size, "%.*s...", (int)cut, names[k]);
}

/* ======================================================================== */
/* Confusion matrix                                                         */
/* ======================================================================== */

/* ColorBrewer "Blues": white at 0, dark blue at 1; darker as t grows. */
static void blues(float t, unsigned char rgb[3])
{
    static const float stops[9][3] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239},
                                      {158, 202, 225}, {107, 174, 214}, {66, 146, 198},
                                      {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    float p = t * 8;
    int i = (int)p;
    if (i > 7) i = 7;
    float f = p - (float)i;
    for (int k = 0; k < 3; k++)
        rgb[k] = (unsigned char)lrintf(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
}

/* Where a confusion matrix's parts go: cells of `cell` pixels from (left,
 * top), mw = n * cell wide; the recall column, then the colour bar (bh high)
 * at bar_x; class names below the cells in names_h (rotated when wider than
 * a cell) in font size fs. */
typedef struct confusion_geom {
    int n, cell, left, top, mw, names_h, recall_w, bar_x, bh, W, H;
    int show_counts, rotate;
    double fs;
    size_t mx, total, correct; /* the largest count, all images, the diagonal */
} confusion_geom;

/* Measures the labels and counts and lays the picture out. */
static int confusion_layout(const size_t *counts, int n, const char *const *names,
                            confusion_geom *g, cnn_error *err)
{
    /* Measure the labels on a scratch canvas. */
    cnn_canvas cv;
    if (cnn_canvas_new(&cv, 1, 1, err)) return -1;
    char buf[64];
    double name_w = 0;
    for (int k = 0; k < n; k++) {
        class_label(buf, sizeof buf, names, k);
        double tw = text_width(&cv, 11, buf);
        if (tw > name_w) name_w = tw;
    }
    size_t mx = 0, total = 0, correct = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t v = counts[(size_t)i * n + j];
            if (v > mx) mx = v;
            total += v;
            if (i == j) correct += v;
        }
    snprintf(buf, sizeof buf, "%zu", mx);
    double count_w = text_width(&cv, 10, buf);
    cnn_canvas_free(&cv);

    /* Cells hold their count when there is room; large matrices shrink to ~900 px. */
    int cell = (int)ceil(count_w) + 10;
    if (cell < 34) cell = 34;
    if ((long)cell * n > 900) cell = 900 / n;
    if (cell < 4) cell = 4;
    *g = (confusion_geom){.n = n, .cell = cell, .mx = mx, .total = total, .correct = correct};
    g->show_counts = count_w + 2 <= cell;
    g->rotate = name_w + 6 > cell; /* column names drawn vertically */
    g->left = 28 + (int)ceil(name_w) + 8;          /* "true class", row names */
    g->top = 48;                                   /* title, "recall" */
    g->mw = cell * n;
    g->names_h = g->rotate ? (int)ceil(name_w) + 10 : 20;
    int bottom = g->names_h + 24;
    g->recall_w = 70;
    g->bar_x = g->left + g->mw + g->recall_w + 16;
    int right = 60 + 14 + 16;
    g->W = g->bar_x + right, g->H = g->top + g->mw + bottom;
    if (g->H < g->top + 160 + bottom / 2) g->H = g->top + 160 + bottom / 2;
    if (g->W < 360) g->W = 360;
    g->bh = g->mw < 240 ? g->mw : 240;
    if (g->bh < 100) g->bh = 100;
    g->fs = cell >= 14 ? 11 : cell >= 9 ? 8 : 6;
    return 0;
}

/* The cells in shades of blue, the colour bar, grid lines and frames. */
static void confusion_cells(cnn_canvas *cv, const size_t *counts, const confusion_geom *g)
{
    int n = g->n, cell = g->cell, left = g->left, top = g->top, mw = g->mw;
    int stride;
    uint32_t *px = cnn_canvas_pixels(cv, &stride);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            unsigned char rgb[3];
            blues(g->mx ? (float)counts[(size_t)i * n + j] / (float)g->mx : 0, rgb);
            cnn_canvas_fill(px, stride, left + j * cell, top + i * cell, cell, cell, rgb);
        }
    /* the colour bar: counts 0..max */
    for (int r = 0; r < g->bh; r++) {
        unsigned char rgb[3];
        blues(g->bh > 1 ? 1.0f - (float)r / (float)(g->bh - 1) : 1, rgb);
        cnn_canvas_fill(px, stride, g->bar_x, top + r, 14, 1, rgb);
    }
    cnn_canvas_pixels_done(cv);

    /* grid lines between cells (when cells are big enough to tell apart) and a frame */
    cairo_t *cr = cv->cr;
    cairo_set_line_width(cr, 1);
    if (cell >= 12) {
        cairo_set_source_rgb(cr, 1, 1, 1);
        for (int k = 1; k < n; k++) {
            cairo_move_to(cr, left + k * cell + 0.5, top);
            cairo_line_to(cr, left + k * cell + 0.5, top + mw);
            cairo_move_to(cr, left, top + k * cell + 0.5);
            cairo_line_to(cr, left + mw, top + k * cell + 0.5);
        }
        cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, left - 0.5, top - 0.5, mw + 1, mw + 1);
    cairo_rectangle(cr, g->bar_x - 0.5, top - 0.5, 15, g->bh + 1);
    cairo_stroke(cr);
}

/* Each cell's count, in white on dark cells (when they fit). */
static void confusion_counts(cnn_canvas *cv, const size_t *counts, const confusion_geom *g)
{
    if (!g->show_counts) return;
    char buf[64];
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->n; j++) {
            size_t v = counts[(size_t)i * g->n + j];
            float t = g->mx ? (float)v / (float)g->mx : 0;
            if (t > 0.55f) cairo_set_source_rgb(cv->cr, 1, 1, 1);
            else cairo_set_source_rgb(cv->cr, 0.1, 0.1, 0.1);
            snprintf(buf, sizeof buf, "%zu", v);
            cnn_canvas_text(cv, g->left + j * g->cell + g->cell / 2.0,
                            g->top + i * g->cell + g->cell / 2.0 + 4, 10, 1, buf);
        }
}

/* Class names (rows on the left, columns below) and the axis titles. */
static void confusion_names(cnn_canvas *cv, const char *const *names, const confusion_geom *g)
{
    cairo_t *cr = cv->cr;
    int cell = g->cell, left = g->left, top = g->top, mw = g->mw;
    double fs = g->fs;
    char buf[64];
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int k = 0; k < g->n; k++) {
        class_label(buf, sizeof buf, names, k);
        cnn_canvas_text(cv, left - 6, top + k * cell + cell / 2.0 + fs / 3, fs, 2, buf);
        if (g->rotate) {
            cairo_save(cr);
            cairo_translate(cr, left + k * cell + cell / 2.0 + fs / 3, top + mw + 6);
            cairo_rotate(cr, M_PI / 2);
            cnn_canvas_text(cv, 0, 0, fs, 0, buf);
            cairo_restore(cr);
        } else {
            cnn_canvas_text(cv, left + k * cell + cell / 2.0, top + mw + 16, fs, 1, buf);
        }
    }
    cnn_canvas_text(cv, left + mw / 2.0, top + mw + g->names_h + 16, 12, 1, "predicted class");
    cairo_save(cr);
    cairo_translate(cr, 16, top + mw / 2.0);
    cairo_rotate(cr, -M_PI / 2);
    cnn_canvas_text(cv, 0, 0, 12, 1, "true class");
    cairo_restore(cr);
}

/* Per-class recall: a grey bar and the percentage beside each row. */
static void confusion_recall(cnn_canvas *cv, const size_t *counts, const confusion_geom *g)
{
    cairo_t *cr = cv->cr;
    int n = g->n, cell = g->cell, top = g->top, recall_w = g->recall_w;
    int rx = g->left + g->mw + 8;
    char buf[64];
    cnn_canvas_text(cv, rx + recall_w / 2.0, top - 6, 11, 1, "recall");
    for (int i = 0; i < n; i++) {
        size_t row = 0;
        for (int j = 0; j < n; j++) row += counts[(size_t)i * n + j];
        double rec = row ? (double)counts[(size_t)i * n + i] / (double)row : -1;
        if (rec >= 0 && cell >= 6) {
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
            cairo_rectangle(cr, rx, top + i * cell + 1, (recall_w - 4) * rec, cell - 2);
            cairo_fill(cr);
        }
        if (g->fs >= 8 || cell >= 9) {
            cairo_set_source_rgb(cr, 0, 0, 0);
            if (rec >= 0) snprintf(buf, sizeof buf, "%.1f%%", 100 * rec);
            else snprintf(buf, sizeof buf, "-");
            cnn_canvas_text(cv, rx + recall_w - 6, top + i * cell + cell / 2.0 + g->fs / 3,
                            g->fs, 2, buf);
        }
    }
}

int cnn_plot_confusion(const char *path, const size_t *counts, int n, const char *const *names,
                       const char *title, cnn_plot_layout *lay, cnn_error *err)
{
    if (n < 1 || n > 1000)
        return cnn_errorf(err, "%s: a confusion matrix of %d classes cannot be drawn (1 to 1000)",
                          path, n);
    confusion_geom g;
    cnn_canvas cv;
    if (confusion_layout(counts, n, names, &g, err)) return -1;
    if (cnn_canvas_new(&cv, g.W, g.H, err)) return cnn_error_prefix(err, "%s", path), -1;
    confusion_cells(&cv, counts, &g);
    confusion_counts(&cv, counts, &g);
    confusion_names(&cv, names, &g);
    confusion_recall(&cv, counts, &g);

    /* colour bar numbers */
    char buf[64];
    cairo_set_source_rgb(cv.cr, 0, 0, 0);
    snprintf(buf, sizeof buf, "%zu", g.mx);
    cnn_canvas_text(&cv, g.bar_x + 18, g.top + 8, 10, 0, buf);
    cnn_canvas_text(&cv, g.bar_x + 18, g.top + g.bh, 10, 0, "0");
    cnn_canvas_text(&cv, g.bar_x, g.top + g.bh + 14, 10, 0, "images");

    /* title: the caller's, then the accuracy */
    char head[512];
    snprintf(head, sizeof head, "%s%s%zu images, accuracy %.2f%%%s", title ? title : "",
             title ? ": " : "", g.total,
             g.total ? 100.0 * (double)g.correct / (double)g.total : 0.0,
             g.show_counts ? "" : " (cells too small for counts)");
    cnn_canvas_text(&cv, 8, 20, 13, 0, head);

    if (lay) {
        memset(lay, 0, sizeof *lay);
        lay->width = g.W, lay->height = g.H;
        lay->cells_x = g.left, lay->cells_y = g.top, lay->cell = g.cell;
    }
    int rc = cnn_canvas_write(&cv, path, 0, err);
    cnn_canvas_free(&cv);
    return rc;
}

/* ======================================================================== */
/* Training curves                                                          */
/* ======================================================================== */

typedef struct row {
    double epoch, tl, ta, vl, va;
    int has_val;
} row;

/* Parses the history's rows; *out is malloc'd. */
static int parse_history(const char *csv, const char *path, row **out, int *nrows,
                         cnn_error *err)
{
    int cap = 1;
    for (const char *p = csv; *p; p++) cap += *p == '\n';
    row *r = calloc((size_t)cap, sizeof *r);
    if (!r) return cnn_errorf(err, "%s: out of memory", path);
    int n = 0;
    for (const char *line = csv; *line;) {
        double v[8] = {0};
        int given[8] = {0};
        const char *f = line;
        for (int c = 0; c < 8; c++) {
            char *end = (char *)f;
            if (*f != ',' && *f != '\n' && *f) v[c] = strtod(f, &end);
            given[c] = end != f;
            f = end;
            if (*f != (c < 7 ? ',' : '\n') && !(c == 7 && *f == '\0')) {
                free(r);
                return cnn_errorf(err, "%s: training history row %d cannot be read", path, n + 1);
            }
            if (*f) f++;
        }
        for (int c = 0; c < 5; c++)
            if (given[c] && !isfinite(v[c])) {
                free(r);
                return cnn_errorf(err, "%s: training history row %d holds a non-finite number",
                                  path, n + 1);
            }
        if (!given[0] || !given[1] || !given[2]) {
            free(r);
            return cnn_errorf(err, "%s: training history row %d lacks the training figures",
                              path, n + 1);
        }
        r[n] = (row){v[0], v[1], v[2], v[3], v[4], given[3] && given[4]};
        n++;
        line = f;
    }
    *out = r, *nrows = n;
    return 0;
}

/* A "nice" step (1, 2 or 5 times a power of ten) for about `want` intervals over span. */
static double nice_step(double span, int want)
{
    if (!(span > 0)) return 1;
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

typedef struct axis {
    double lo, hi, step;
} axis;

/* The range [lo, hi] widened to whole steps (a flat range gets some room). */
static axis make_axis(double lo, double hi, int want)
{
    if (hi - lo < 1e-12 * (fabs(hi) + 1)) {
        double d = fabs(hi) > 0 ? fabs(hi) * 0.05 : 0.5;
        lo -= d, hi += d;
    }
    double pad = (hi - lo) * 0.04; /* no point on the frame */
    lo -= pad, hi += pad;
    axis a;
    a.step = nice_step(hi - lo, want);
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    return a;
}

/* Tick label: as many decimals as the step needs. */
static void tick_label(char *buf, size_t size, double v, double step, const char *suffix)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    if (fabs(v) < step * 1e-6) v = 0;
    snprintf(buf, size, "%.*f%s", dec, v, suffix);
}

typedef struct panel {
    int x, y, w, h;
    axis xa, ya;
} panel;

/* The training curves' picture size. */
enum { HISTORY_W = 960, HISTORY_H = 460 };

static double px_x(const panel *p, double v)
{
    return p->x + (v - p->xa.lo) / (p->xa.hi - p->xa.lo) * p->w;
}

static double px_y(const panel *p, double v)
{
    return p->y + p->h - (v - p->ya.lo) / (p->ya.hi - p->ya.lo) * p->h;
}

static void draw_axes(cnn_canvas *cv, const panel *p, const char *name, const char *suffix)
{
    cairo_t *cr = cv->cr;
    char buf[48];
    cairo_set_line_width(cr, 1);
    /* light grid at the ticks, then the frame */
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    for (double v = p->ya.lo; v <= p->ya.hi + p->ya.step * 1e-6; v += p->ya.step) {
        double y = floor(px_y(p, v)) + 0.5;
        cairo_move_to(cr, p->x, y);
        cairo_line_to(cr, p->x + p->w, y);
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, p->x - 0.5, p->y - 0.5, p->w + 1, p->h + 1);
    cairo_stroke(cr);
    /* ticks and their numbers */
    for (double v = p->ya.lo; v <= p->ya.hi + p->ya.step * 1e-6; v += p->ya.step) {
        double y = floor(px_y(p, v)) + 0.5;
        cairo_move_to(cr, p->x - 4, y);
        cairo_line_to(cr, p->x, y);
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, v, p->ya.step, suffix);
        cnn_canvas_text(cv, p->x - 7, y + 4, 10, 2, buf);
    }
    for (double v = ceil(p->xa.lo / p->xa.step - 1e-9) * p->xa.step; v <= p->xa.hi + 1e-9;
         v += p->xa.step) {
        if (v < 1 - 1e-9) continue; /* epochs start at 1 */
        double x = floor(px_x(p, v)) + 0.5;
        cairo_move_to(cr, x, p->y + p->h);
        cairo_line_to(cr, x, p->y + p->h + 4);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%.0f", v);
        cnn_canvas_text(cv, x, p->y + p->h + 16, 10, 1, buf);
    }
    cnn_canvas_text(cv, p->x + p->w / 2.0, p->y + p->h + 32, 11, 1, "epoch");
    cnn_canvas_text(cv, p->x, p->y - 7, 12, 0, name);
}

/* One curve: a line through the points and a dot on each (when they are not
 * crowded). */
static void draw_curve(cnn_canvas *cv, const panel *p, const row *r, int n, int which,
                       double scale, const unsigned char rgb[3])
{
    cairo_t *cr = cv->cr;
    set_rgb(cr, rgb);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    int started = 0;
    for (int i = 0; i < n; i++) {
        if (which >= 2 && !r[i].has_val) {
            started = 0;
            continue;
        }
        double v = which == 0 ? r[i].tl : which == 1 ? r[i].ta : which == 2 ? r[i].vl : r[i].va;
        double x = px_x(p, r[i].epoch), y = px_y(p, v * scale);
        if (started) cairo_line_to(cr, x, y);
        else cairo_move_to(cr, x, y);
        started = 1;
    }
    cairo_stroke(cr);
    if (p->w / (n > 1 ? n : 1) >= 8)
        for (int i = 0; i < n; i++) {
            if (which >= 2 && !r[i].has_val) continue;
            double v = which == 0 ? r[i].tl : which == 1 ? r[i].ta : which == 2 ? r[i].vl : r[i].va;
            cairo_arc(cr, px_x(p, r[i].epoch), px_y(p, v * scale), 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
}

/* The two panels (loss, accuracy in %) with axes fitted to the history, which
 * has a validation curve (*has_val) and a best epoch (*best, a row, or -1). */
static void history_panels(const row *r, int n, panel *loss, panel *acc, int *has_val,
                           int *best)
{
    *has_val = 0, *best = -1;
    double lmin = INFINITY, lmax = -INFINITY, amin = INFINITY, amax = -INFINITY;
    double emin = r[0].epoch, emax = r[0].epoch;
    for (int i = 0; i < n; i++) {
        if (r[i].epoch < emin) emin = r[i].epoch;
        if (r[i].epoch > emax) emax = r[i].epoch;
        lmin = fmin(lmin, r[i].tl), lmax = fmax(lmax, r[i].tl);
        amin = fmin(amin, r[i].ta), amax = fmax(amax, r[i].ta);
        if (r[i].has_val) {
            *has_val = 1;
            lmin = fmin(lmin, r[i].vl), lmax = fmax(lmax, r[i].vl);
            amin = fmin(amin, r[i].va), amax = fmax(amax, r[i].va);
            if (*best < 0 || r[i].vl < r[*best].vl) *best = i;
        }
    }
    const int top = 76, ph = HISTORY_H - top - 48, pw = (HISTORY_W - 2 * 70 - 30) / 2;
    *loss = (panel){.x = 70, .y = top, .w = pw, .h = ph};
    *acc = *loss;
    acc->x = 70 + pw + 70;
    axis xa;
    if (emax - emin < 1) {
        xa.lo = emin - 0.5, xa.hi = emax + 0.5, xa.step = 1;
    } else {
        xa.step = ceil(nice_step(emax - emin, 8));
        xa.lo = emin - (emax - emin) * 0.03, xa.hi = emax + (emax - emin) * 0.03;
    }
    loss->xa = acc->xa = xa;
    loss->ya = make_axis(lmin, lmax, 5);
    if (loss->ya.lo < 0 && lmin >= 0) loss->ya.lo = 0;
    acc->ya = make_axis(100 * amin, 100 * amax, 5);
    if (acc->ya.lo < 0) acc->ya.lo = 0;
    if (acc->ya.hi > 100 && amax <= 1) acc->ya.hi = 100;
}

/* The curves, clipped to their panels; the best epoch (row best, or -1) as a
 * dashed vertical line in both panels and a ring around its validation
 * points. */
static void history_curves(cnn_canvas *cv, const panel *loss, const panel *acc, const row *r,
                           int n, int has_val, int best)
{
    cairo_t *cr = cv->cr;
    if (best >= 0) {
        const panel *ps[2] = {loss, acc};
        set_rgb(cr, cnn_plot_best_rgb);
        cairo_set_line_width(cr, 1);
        double dash[2] = {4, 3};
        cairo_set_dash(cr, dash, 2, 0);
        for (int k = 0; k < 2; k++) {
            double x = floor(px_x(ps[k], r[best].epoch)) + 0.5;
            cairo_move_to(cr, x, ps[k]->y);
            cairo_line_to(cr, x, ps[k]->y + ps[k]->h);
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    cairo_save(cr);
    cairo_rectangle(cr, loss->x, loss->y, loss->w, loss->h);
    cairo_rectangle(cr, acc->x, acc->y, acc->w, acc->h);
    cairo_clip(cr);
    draw_curve(cv, loss, r, n, 0, 1, cnn_plot_train_rgb);
    draw_curve(cv, acc, r, n, 1, 100, cnn_plot_train_rgb);
    if (has_val) {
        draw_curve(cv, loss, r, n, 2, 1, cnn_plot_val_rgb);
        draw_curve(cv, acc, r, n, 3, 100, cnn_plot_val_rgb);
    }
    if (best >= 0) {
        set_rgb(cr, cnn_plot_best_rgb);
        cairo_set_line_width(cr, 1.5);
        cairo_arc(cr, px_x(loss, r[best].epoch), px_y(loss, r[best].vl), 6, 0, 2 * M_PI);
        cairo_stroke(cr);
        cairo_arc(cr, px_x(acc, r[best].epoch), px_y(acc, 100 * r[best].va), 6, 0, 2 * M_PI);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
}

/* The title and the legend (training, validation, best epoch); legend[k]
 * receives the centre of entry k's sample, or -1, -1 when it is not drawn. */
static void history_legend(cnn_canvas *cv, const char *title, const row *r, int n, int has_val,
                           int best, int legend[3][2])
{
    cairo_t *cr = cv->cr;
    char buf[256];
    cairo_set_source_rgb(cr, 0, 0, 0);
    snprintf(buf, sizeof buf, "%s%s%d epoch%s", title ? title : "", title ? ": " : "", n,
             n == 1 ? "" : "s");
    cnn_canvas_text(cv, 12, 20, 14, 0, buf);
    int lx = 12, ly = 44;
    for (int k = 0; k < 3; k++) legend[k][0] = legend[k][1] = -1;
    const char *names[3] = {"training", "validation", NULL};
    char best_text[96];
    if (best >= 0) {
        snprintf(best_text, sizeof best_text, "best epoch %.0f (validation loss %.4g, accuracy %.2f%%)",
                 r[best].epoch, r[best].vl, 100 * r[best].va);
        names[2] = best_text;
    }
    for (int k = 0; k < 3; k++) {
        if ((k == 1 && !has_val) || (k == 2 && best < 0)) continue;
        if (k < 2) {
            set_rgb(cr, k == 0 ? cnn_plot_train_rgb : cnn_plot_val_rgb);
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, lx, ly - 4);
            cairo_line_to(cr, lx + 24, ly - 4);
            cairo_stroke(cr);
            cairo_arc(cr, lx + 12, ly - 4, 3, 0, 2 * M_PI);
            cairo_fill(cr);
        } else {
            set_rgb(cr, cnn_plot_best_rgb);
            cairo_set_line_width(cr, 1);
            double dash[2] = {4, 3};
            cairo_set_dash(cr, dash, 2, 0);
            cairo_move_to(cr, lx + 12.5, ly - 12);
            cairo_line_to(cr, lx + 12.5, ly + 4);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
        legend[k][0] = lx + 12, legend[k][1] = ly - 4;
        cairo_set_source_rgb(cr, 0, 0, 0);
        cnn_canvas_text(cv, lx + 30, ly, 11, 0, names[k]);
        lx += 30 + (int)ceil(text_width(cv, 11, names[k])) + 24;
    }
    if (!has_val) {
        cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
        cnn_canvas_text(cv, lx, ly, 11, 0, "(no validation set: no best epoch)");
    }
}

int cnn_plot_history(const char *path, const char *history_csv, const char *title,
                     cnn_plot_layout *lay, cnn_error *err)
{
    row *r = NULL;
    int n = 0;
    if (parse_history(history_csv ? history_csv : "", path, &r, &n, err)) return -1;
    if (n == 0) {
        free(r);
        return cnn_errorf(err, "%s: the training history is empty: nothing to plot", path);
    }
    panel loss, acc;
    int has_val, best;
    history_panels(r, n, &loss, &acc, &has_val, &best);
    cnn_canvas cv;
    if (cnn_canvas_new(&cv, HISTORY_W, HISTORY_H, err)) {
        free(r);
        return cnn_error_prefix(err, "%s", path), -1;
    }
    draw_axes(&cv, &loss, "loss", "");
    draw_axes(&cv, &acc, "accuracy", "%");
    history_curves(&cv, &loss, &acc, r, n, has_val, best);
    int legend[3][2];
    history_legend(&cv, title, r, n, has_val, best, legend);
    if (lay) {
        memset(lay, 0, sizeof *lay);
        lay->width = HISTORY_W, lay->height = HISTORY_H;
        const panel *ps[2] = {&loss, &acc};
        for (int k = 0; k < 2; k++) {
            lay->panel[k][0] = ps[k]->x, lay->panel[k][1] = ps[k]->y;
            lay->panel[k][2] = ps[k]->w, lay->panel[k][3] = ps[k]->h;
        }
        memcpy(lay->legend, legend, sizeof legend);
    }
    free(r);
    int rc = cnn_canvas_write(&cv, path, 0, err);
    cnn_canvas_free(&cv);
    return rc;
}
