/* Model summaries (summary.h): Keras 3's rich table, tf.keras 2.x's ruled
 * layout, JSON, and the --flops / --compare-dense additions.
 *
 * The two Keras layouts follow their Python sources rule for rule:
 * keras/src/utils/summary_utils.py with the `rich` table it renders (Keras 3)
 * and print_summary() in tf.keras 2.x's layer_utils.py. */
#include "summary.h"
#include "layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* ======================================================================== */
/* Shared formatting                                                        */
/* ======================================================================== */

/* An integer with Python's "{:,}" thousands separators. */
static const char *commas(double v, char *buf, size_t n)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

/* Keras' output shape notation: (None, 26, 26, 25) or (None, 1250). */
static const char *shape_str(cnn_shape s, char *buf, size_t n)
{
    if (s.flat)
        snprintf(buf, n, "(None, %d)", s.c);
    else
        snprintf(buf, n, "(None, %d, %d, %d)", s.h, s.w, s.c);
    return buf;
}

static const char *layer_label(const cnn_layer *L, char *buf, size_t n)
{
    snprintf(buf, n, "%s (%s)", L->name, L->ops->type);
    return buf;
}

/* Keras 3's readable_memory_size(): float32 weights, 1024-based units. */
static const char *memory_size(size_t count, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    double size = (double)count * 4.0;
    for (int i = 0; i < 6; i++) {
        if (size / 1024 < 1) {
            snprintf(buf, n, "%.2f %s", size, units[i]);
            return buf;
        }
        size /= 1024;
    }
    snprintf(buf, n, "%.2f %s", size, units[5]);
    return buf;
}

double cnn_summary_dense_equivalent(const cnn_layer *L)
{
    double in = (double)cnn_shape_size(L->in), out = (double)cnn_shape_size(L->out);
    return in * out + out;
}

int cnn_summary_line_length(int columns)
{
    if (columns <= 0) return 76;
    int n = columns - 4;
    if (n > 88) n = 88;
    /* Keras refuses columns narrower than 4; keep a usable table instead. */
    if (n < 40) n = 40;
    return n;
}

/* ======================================================================== */
/* Keras 3: a rich.table.Table(show_lines=True) in the HEAVY_HEAD box       */
/* ======================================================================== */

#define CELL_LINES 16
#define CELL_BYTES 512

/* One cell's text wrapped the way rich does it (rich.text.Text.wrap with
 * overflow "ellipsis"): break before a word that does not fit, put a word
 * longer than the width on its own line and cut it with "…", then pad each
 * line to the width (left) or pad before it (right).  Returns the number of
 * lines. */
static int rich_wrap(const char *text, int width, int right, char lines[][CELL_BYTES])
{
    int len = (int)strlen(text), breaks[CELL_LINES], nb = 0, offset = 0, i = 0;
    while (i < len) {
        int start = i;
        while (i < len && text[i] == ' ') i++;
        if (i == len) break;
        while (i < len && text[i] != ' ') i++;
        int word_length = i - start;
        while (i < len && text[i] == ' ') i++;
        int word_cells = i - start;
        if (width - offset >= word_length) {
            offset += word_cells;
        } else if (word_length > width) {
            if (start && nb < CELL_LINES - 1) breaks[nb++] = start;
            offset = word_cells;
        } else if (offset && start) {
            if (nb < CELL_LINES - 1) breaks[nb++] = start;
            offset = word_cells;
        }
    }
    breaks[nb] = len;
    int nlines = 0, from = 0;
    for (int k = 0; k <= nb; k++) {
        int n = breaks[k] - from;
        const char *s = text + from;
        from = breaks[k];
        if (n > CELL_BYTES - 8) n = CELL_BYTES - 8;
        /* rstrip_end: drop trailing spaces that reach past the width */
        if (n > width) {
            int ws = 0;
            while (ws < n && s[n - 1 - ws] == ' ') ws++;
            n -= ws < n - width ? ws : n - width;
        }
        if (right)
            while (n > 0 && s[n - 1] == ' ') n--;
        char *out = lines[nlines++];
        int cells;
        if (n > width) {
            int keep = width - 1 > 0 ? width - 1 : 0;
            memcpy(out, s, (size_t)keep);
            memcpy(out + keep, "\xe2\x80\xa6", 4); /* "…" */
            cells = width;
        } else {
            memcpy(out, s, (size_t)n);
            out[n] = 0;
            cells = n;
        }
        if (cells < width) {
            char tmp[CELL_BYTES];
            int pad = width - cells;
            if (right) {
                memset(tmp, ' ', (size_t)pad);
                snprintf(tmp + pad, sizeof tmp - (size_t)pad, "%s", out);
            } else {
                snprintf(tmp, sizeof tmp, "%s%*s", out, pad, "");
            }
            memcpy(out, tmp, sizeof tmp);
        }
    }
    return nlines;
}

/* The widths rich gives the three columns, content only (without the one
 * space of padding on each side).  Keras asks for widths from positions
 * [0.45, 0.80, 1.0] of the line length, rich adds the padding, finds the sum
 * too wide for the table (line length minus 4 border characters) and takes
 * the excess off evenly (rich's ratio_reduce, rounding half to even as
 * Python's round() does). */
static void keras3_widths(int line_length, int w[3])
{
    static const double pos[3] = {0.45, 0.80, 1.0};
    int cell[3], cur = 0, sum = 0;
    for (int i = 0; i < 3; i++) {
        int width = (int)(pos[i] * line_length) - cur;
        cur += width;
        cell[i] = width + 2;
        sum += cell[i];
    }
    int max = line_length - 4;
    if (sum > max) {
        int remaining = sum - max, total_ratio = 3;
        for (int i = 0; i < 3; i++) {
            int d = (int)rint((double)remaining / total_ratio);
            if (d > cell[i]) d = cell[i];
            cell[i] -= d;
            remaining -= d;
            total_ratio--;
        }
    }
    for (int i = 0; i < 3; i++) w[i] = cell[i] - 2 > 1 ? cell[i] - 2 : 1;
}

static void keras3_rule(cnn_strbuf *b, const int w[3], const char *l, const char *h, const char *mid,
                        const char *r)
{
    cnn_strbuf_puts(b, l);
    for (int i = 0; i < 3; i++) {
        cnn_strbuf_repeat(b, h, w[i] + 2);
        cnn_strbuf_puts(b, i < 2 ? mid : r);
    }
    cnn_strbuf_puts(b, "\n");
}

static void keras3_row(cnn_strbuf *b, const int w[3], const char *const cells[3], const char *bar)
{
    static char lines[3][CELL_LINES][CELL_BYTES];
    int n[3], height = 0;
    for (int i = 0; i < 3; i++) {
        n[i] = rich_wrap(cells[i], w[i], i == 2, lines[i]);
        if (n[i] > height) height = n[i];
    }
    for (int k = 0; k < height; k++) {
        cnn_strbuf_puts(b, bar);
        for (int i = 0; i < 3; i++) {
            cnn_strbuf_puts(b, " ");
            if (k < n[i])
                cnn_strbuf_puts(b, lines[i][k]);
            else
                cnn_strbuf_printf(b, "%*s", w[i], "");
            cnn_strbuf_puts(b, " ");
            cnn_strbuf_puts(b, bar);
        }
        cnn_strbuf_puts(b, "\n");
    }
}

static void keras3(cnn_strbuf *b, const cnn_model *m, int line_length)
{
    int w[3];
    keras3_widths(line_length, w);
    cnn_strbuf_printf(b, "Model: \"%s\"\n", m->name);
    keras3_rule(b, w, "┏", "━", "┳", "┓");
    const char *header[3] = {"Layer (type)", "Output Shape", "Param #"};
    keras3_row(b, w, header, "┃");
    keras3_rule(b, w, "┡", "━", "╇", "┩");
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        char label[300], shape[64], params[32];
        const char *cells[3] = {layer_label(L, label, sizeof label),
                                shape_str(L->out, shape, sizeof shape),
                                commas((double)L->nparams, params, sizeof params)};
        if (i) keras3_rule(b, w, "├", "─", "┼", "┤");
        keras3_row(b, w, cells, "│");
    }
    keras3_rule(b, w, "└", "─", "┴", "┘");
    char c[32], s[32];
    size_t nontrain = m->nparams - m->ntrainable;
    cnn_strbuf_printf(b, " Total params: %s (%s)\n", commas((double)m->nparams, c, sizeof c),
              memory_size(m->nparams, s, sizeof s));
    cnn_strbuf_printf(b, " Trainable params: %s (%s)\n", commas((double)m->ntrainable, c, sizeof c),
              memory_size(m->ntrainable, s, sizeof s));
    cnn_strbuf_printf(b, " Non-trainable params: %s (%s)\n", commas((double)nontrain, c, sizeof c),
              memory_size(nontrain, s, sizeof s));
}

/* ======================================================================== */
/* tf.keras 2.x: print_summary() with line_length 65                        */
/* ======================================================================== */

#define K2_LINE 65

/* print_row(): each field is cut at its column's width (less two spaces of
 * gap, except in the last column), or just after "),", "},", "]," or "',"
 * when one occurs in the part that fits; what is left goes onto the next
 * line; every line is padded to the last position. */
static void keras2_row(cnn_strbuf *b, const char *const fields[3])
{
    static const double rel[3] = {0.45, 0.85, 1.0};
    int pos[3];
    for (int i = 0; i < 3; i++) pos[i] = (int)(K2_LINE * rel[i]);
    const char *left[3] = {fields[0], fields[1], fields[2]};
    while (*left[0] || *left[1] || *left[2]) {
        char line[512];
        int n = 0;
        for (int col = 0; col < 3; col++) {
            int start = col ? pos[col - 1] : 0;
            int space = col != 2 ? 2 : 0;
            int cutoff = pos[col] - start - space;
            int avail = (int)strlen(left[col]);
            int fit = avail < cutoff ? avail : cutoff;
            static const char *const breaks[] = {"),", "},", "],", "',"};
            int best = -1;
            for (int k = 0; k < 4; k++) {
                for (int j = 0; j + 1 < fit; j++)
                    if (left[col][j] == breaks[k][0] && left[col][j + 1] == breaks[k][1]) {
                        if (best < 0 || j + 2 < best) best = j + 2;
                        break;
                    }
            }
            if (best >= 0) {
                cutoff = best;
                fit = best;
            }
            if (col == 0) line[n++] = ' ';
            if (n + fit + space >= (int)sizeof line) break;
            memcpy(line + n, left[col], (size_t)fit);
            n += fit;
            for (int k = 0; k < space; k++) line[n++] = ' ';
            left[col] += cutoff < avail ? cutoff : avail;
            while (n < pos[col]) line[n++] = ' ';
        }
        cnn_strbuf_putn(b, line, (size_t)n);
        cnn_strbuf_puts(b, "\n");
    }
}

static void keras2(cnn_strbuf *b, const cnn_model *m)
{
    cnn_strbuf_printf(b, "Model: \"%s\"\n", m->name);
    cnn_strbuf_repeat(b, "_", K2_LINE);
    cnn_strbuf_puts(b, "\n");
    const char *header[3] = {"Layer (type)", "Output Shape", "Param #"};
    keras2_row(b, header);
    cnn_strbuf_repeat(b, "=", K2_LINE);
    cnn_strbuf_puts(b, "\n");
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        char label[300], shape[64], params[32];
        snprintf(params, sizeof params, "%zu", L->nparams);
        const char *fields[3] = {layer_label(L, label, sizeof label),
                                 shape_str(L->out, shape, sizeof shape), params};
        keras2_row(b, fields);
        cnn_strbuf_printf(b, "%*s\n", K2_LINE, "");
    }
    cnn_strbuf_repeat(b, "=", K2_LINE);
    cnn_strbuf_puts(b, "\n");
    char c[32];
    cnn_strbuf_printf(b, "Total params: %s\n", commas((double)m->nparams, c, sizeof c));
    cnn_strbuf_printf(b, "Trainable params: %s\n", commas((double)m->ntrainable, c, sizeof c));
    cnn_strbuf_printf(b, "Non-trainable params: %s\n",
              commas((double)(m->nparams - m->ntrainable), c, sizeof c));
    cnn_strbuf_repeat(b, "_", K2_LINE);
    cnn_strbuf_puts(b, "\n");
}

/* ======================================================================== */
/* Additions: multiply-accumulates and the fully connected comparison       */
/* ======================================================================== */

static int is_conv(const cnn_layer *L)
{
    return cnn_layer_kernel_rank(L) == 4;
}

/* Multiply-accumulates (MACs), and the floating-point operations they are
 * (FLOPs = 2 x MACs: a multiply and an add), per layer and in total. */
static void flops_section(cnn_strbuf *b, const cnn_model *m)
{
    char label[300], num[32], num2[32];
    int lw = (int)strlen("Layer (type)"), nw = (int)strlen("MACs per image");
    int fw = (int)strlen("FLOPs per image");
    double total = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        int a = (int)strlen(layer_label(L, label, sizeof label));
        int c = (int)strlen(commas(cnn_layer_macs(L), num, sizeof num));
        int f = (int)strlen(commas(2 * cnn_layer_macs(L), num, sizeof num));
        if (a > lw) lw = a;
        if (c > nw) nw = c;
        if (f > fw) fw = f;
        total += cnn_layer_macs(L);
    }
    cnn_strbuf_puts(b, "\nCost per image, forward pass (MACs: multiply-accumulates; "
                       "FLOPs = 2 x MACs):\n");
    cnn_strbuf_printf(b, " %-*s  %*s  %*s\n", lw, "Layer (type)", nw, "MACs per image", fw,
                      "FLOPs per image");
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        cnn_strbuf_printf(b, " %-*s  %*s  %*s\n", lw, layer_label(L, label, sizeof label), nw,
                          commas(cnn_layer_macs(L), num, sizeof num), fw,
                          commas(2 * cnn_layer_macs(L), num2, sizeof num2));
    }
    cnn_strbuf_printf(b, " Total MACs per image: %s\n", commas(total, num, sizeof num));
    cnn_strbuf_printf(b, " Total FLOPs per image: %s\n", commas(2 * total, num, sizeof num));
}

/* A ratio with one decimal and thousands separators: "53,066.0x". */
static const char *ratio_str(double ratio, char *buf, size_t n)
{
    char fixed[64], whole[48];
    snprintf(fixed, sizeof fixed, "%.1f", ratio);
    char *dot = strchr(fixed, '.');
    if (!dot) return snprintf(buf, n, "%sx", fixed), buf;
    *dot = 0;
    commas(strtod(fixed, NULL), whole, sizeof whole);
    snprintf(buf, n, "%s.%sx", whole, dot + 1);
    return buf;
}

static void dense_section(cnn_strbuf *b, const cnn_model *m)
{
    char label[300], p[32], d[32], r[32];
    int lw = (int)strlen("Layer (type)"), pw = (int)strlen("Conv params"),
        dw = (int)strlen("Dense params"), rw = (int)strlen("Dense/Conv"), any = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        if (!is_conv(L)) continue;
        any = 1;
        int a = (int)strlen(layer_label(L, label, sizeof label));
        int x = (int)strlen(commas((double)L->nparams, p, sizeof p));
        int y = (int)strlen(commas(cnn_summary_dense_equivalent(L), d, sizeof d));
        if (a > lw) lw = a;
        if (x > pw) pw = x;
        if (y > dw) dw = y;
    }
    cnn_strbuf_puts(b, "\nConvolution vs. a fully connected layer with the same input and output "
               "sizes:\n");
    if (!any) {
        cnn_strbuf_puts(b, " (no Conv2D layers)\n");
        return;
    }
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        if (!is_conv(L)) continue;
        int x = (int)strlen(ratio_str(cnn_summary_dense_equivalent(L) / (double)L->nparams, r,
                                      sizeof r));
        if (x > rw) rw = x;
    }
    cnn_strbuf_printf(b, " %-*s  %*s  %*s  %*s\n", lw, "Layer (type)", pw, "Conv params", dw,
              "Dense params", rw, "Dense/Conv");
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        if (!is_conv(L)) continue;
        double dense = cnn_summary_dense_equivalent(L);
        ratio_str(dense / (double)L->nparams, r, sizeof r);
        cnn_strbuf_printf(b, " %-*s  %*s  %*s  %*s\n", lw, layer_label(L, label, sizeof label), pw,
                  commas((double)L->nparams, p, sizeof p), dw, commas(dense, d, sizeof d), rw,
                  r);
    }
}

/* ======================================================================== */
/* JSON                                                                     */
/* ======================================================================== */

static void json_shape(cnn_strbuf *b, cnn_shape s)
{
    if (s.flat)
        cnn_strbuf_printf(b, "[null,%d]", s.c);
    else
        cnn_strbuf_printf(b, "[null,%d,%d,%d]", s.h, s.w, s.c);
}

static void json_summary(cnn_strbuf *b, const cnn_model *m, const cnn_summary_opts *o)
{
    cnn_strbuf_puts(b, "{\"name\":");
    cnn_strbuf_json_string(b, m->name);
    cnn_strbuf_puts(b, ",\"input_shape\":");
    json_shape(b, m->input);
    cnn_strbuf_puts(b, ",\"layers\":[");
    double macs = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        cnn_strbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        cnn_strbuf_json_string(b, L->name);
        cnn_strbuf_puts(b, ",\"type\":");
        cnn_strbuf_json_string(b, L->ops->type);
        cnn_strbuf_puts(b, ",\"output_shape\":");
        json_shape(b, L->out);
        cnn_strbuf_printf(b, ",\"params\":%zu,\"trainable\":%zu", L->nparams, L->ntrainable);
        if (o->flops)
            cnn_strbuf_printf(b, ",\"macs\":%.0f,\"flops\":%.0f", cnn_layer_macs(L),
                              2 * cnn_layer_macs(L));
        if (o->compare_dense && is_conv(L)) {
            double dense = cnn_summary_dense_equivalent(L);
            cnn_strbuf_printf(b, ",\"dense_params\":%.0f,\"dense_ratio\":%.6g", dense,
                      dense / (double)L->nparams);
        }
        cnn_strbuf_puts(b, "}");
        macs += cnn_layer_macs(L);
    }
    cnn_strbuf_printf(b, "],\"totals\":{\"total\":%zu,\"trainable\":%zu,\"non_trainable\":%zu",
              m->nparams, m->ntrainable, m->nparams - m->ntrainable);
    if (o->flops) cnn_strbuf_printf(b, ",\"macs\":%.0f,\"flops\":%.0f", macs, 2 * macs);
    cnn_strbuf_puts(b, "}}\n");
}

/* ======================================================================== */
/* Entry point                                                              */
/* ======================================================================== */

char *cnn_summary(const cnn_model *m, const cnn_summary_opts *opts)
{
    cnn_summary_opts o = {0};
    if (opts) o = *opts;
    cnn_strbuf b = {0};
    if (o.layout == CNN_SUMMARY_JSON) {
        json_summary(&b, m, &o);
    } else {
        if (o.layout == CNN_SUMMARY_KERAS2)
            keras2(&b, m);
        else
            keras3(&b, m, o.line_length > 0 ? o.line_length : 76);
        if (o.flops) flops_section(&b, m);
        if (o.compare_dense) dense_section(&b, m);
    }
    return cnn_strbuf_take(&b);
}
