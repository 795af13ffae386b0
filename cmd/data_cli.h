/* Reading datasets from the command line, shared by cnn-train and cnn-infer:
 * the options that say how images are read (--resize, --invert, --skip-bad),
 * a progress bar on a terminal, one warning per skipped file, and the start line
 * with the images, classes and per-class counts. */
#ifndef CNN_CMD_DATA_CLI_H
#define CNN_CMD_DATA_CLI_H

#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "load_limits.h"

typedef struct data_cli {
    int resize, invert, skip_bad, quiet;
    size_t skipped;
    int tty;
} data_cli;

static void data_cli_progress(void *ctx, size_t done, size_t total)
{
    data_cli *u = ctx;
    if (u->quiet || !u->tty || total < 1000) return;
    fprintf(stderr, "\r\033[Kreading images %zu/%zu", done, total);
    if (done == total) fputs("\r\033[K", stderr);
}

static void data_cli_skip(void *ctx, const char *msg)
{
    data_cli *u = ctx;
    u->skipped++;
    if (u->tty && !u->quiet) fputs("\r\033[K", stderr);
    cli_warning("skipped %s", msg);
}

/* Reads the set at path with the model's input size (see cnn_dataset_open). */
static inline int data_cli_open(data_cli *u, const char *path, const cnn_model *m, int labelled,
                                int keep_paths, cnn_dataset **out, cnn_error *err)
{
    cnn_limits *l = cnn_limits_get();
    cnn_png_limits lim = {l->max_side, l->max_side, l->max_pixels};
    cnn_dataset_opts o = {
        .h = m->input.h, .w = m->input.w, .c = m->input.c, .labelled = labelled,
        .resize = u->resize, .invert = u->invert, .skip_bad = u->skip_bad,
        .keep_paths = keep_paths, .max_bytes = l->max_file_bytes, .lim = &lim,
        .on_progress = data_cli_progress, .on_skip = data_cli_skip, .ctx = u,
    };
    u->tty = isatty(STDERR_FILENO);
    size_t before = u->skipped;
    if (cnn_dataset_open(path, &o, out, err)) return -1;
    if (u->skipped > before)
        cli_warning("%s: skipped %zu unreadable file%s", path, u->skipped - before,
                    u->skipped - before == 1 ? "" : "s");
    return 0;
}

/* "PATH: 60000 images, 10 classes (0 5923, 1 6742, ...)" on stderr, and a
 * warning when the largest class has more than 10 times the images of the
 * smallest (or a class has none). */
static inline void data_cli_describe(const char *path, const cnn_dataset *d)
{
    if (!d->labels || d->nclasses < 1) {
        cli_line("%s: %zu images", path, d->count);
        return;
    }
    size_t *n = calloc((size_t)d->nclasses, sizeof *n);
    if (!n) return;
    for (size_t i = 0; i < d->count; i++) n[d->labels[i]]++;
    cnn_strbuf list = {0};
    size_t lo = (size_t)-1, hi = 0;
    int ilo = 0, ihi = 0;
    for (int c = 0; c < d->nclasses; c++) {
        if (d->class_names)
            cnn_strbuf_printf(&list, "%s%s %zu", c ? ", " : "", d->class_names[c], n[c]);
        else
            cnn_strbuf_printf(&list, "%s%d %zu", c ? ", " : "", c, n[c]);
        if (n[c] < lo) lo = n[c], ilo = c;
        if (n[c] > hi) hi = n[c], ihi = c;
    }
    cli_line("%s: %zu images, %d classes (%s)", path, d->count, d->nclasses,
             list.s ? list.s : "");
    cnn_strbuf_free(&list);
    if (hi > 10 * lo) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%d", ihi);
        snprintf(b, sizeof b, "%d", ilo);
        cli_warning("%s: imbalanced classes: %s has %zu images, %s has %zu", path,
                    d->class_names ? d->class_names[ihi] : a, hi,
                    d->class_names ? d->class_names[ilo] : b, lo);
    }
    free(n);
}

#endif
