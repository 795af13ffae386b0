/* Sets read from their IDX file at each pass instead of kept in memory
 * (cnn_dataset_load_streamed, dataset_internal.h): only one batch of records
 * and the reader's buffers are in memory during a pass. */
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "idx_stream.h"

struct cnn_dataset_stream {
    char *path;
    size_t max_bytes;
    struct stat st;          /* the file when it was checked */
    uint32_t crc;            /* the CRC-32 of its IDX bytes then */
    cnn_idx_stream *pass;    /* the pass under way, or NULL */
    unsigned char *raw;      /* one batch of records as stored */
    size_t raw_cap;          /* bytes at raw */
};

void cnn_dataset_stream_free(struct cnn_dataset_stream *s)
{
    if (!s) return;
    cnn_idx_stream_close(s->pass);
    free(s->raw);
    free(s->path);
    free(s);
}

int cnn_dataset_stream_attach(cnn_dataset *d, const char *path, size_t max_bytes,
                              cnn_idx_check_fn check, void *ctx, cnn_error *err)
{
    struct cnn_dataset_stream *s = calloc(1, sizeof *s);
    cnn_idx_stream *is = NULL;
    if (!s || !(s->path = strdup(path))) {
        cnn_dataset_stream_free(s);
        return cnn_errorf(err, "%s: out of memory", path);
    }
    s->max_bytes = max_bytes;
    d->stream = s;
    if (cnn_idx_stream_open(path, max_bytes, check, ctx, &is, err) ||
        cnn_idx_stream_finish(is, &s->crc, err)) {
        cnn_idx_stream_close(is);
        return -1;
    }
    s->st = *cnn_idx_stream_stat(is);
    const cnn_idx *h = cnn_idx_stream_header(is);
    cnn_idx *x = calloc(1, sizeof *x);
    if (x) *x = *h, x->name = strdup(path);
    cnn_idx_stream_close(is);
    if (!x || !x->name) {
        free(x);
        return cnn_errorf(err, "%s: out of memory", path);
    }
    d->images = x;
    return 0;
}

/* What differs between the file as checked (a) and now (b), or NULL. */
static const char *changed(const struct stat *a, const struct stat *b)
{
    if (a->st_dev != b->st_dev || a->st_ino != b->st_ino) return "it is another file (inode)";
    if (a->st_size != b->st_size) return "its size differs";
    if (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
        return "its modification time differs";
    return NULL;
}

/* An error reading the file again: most likely it changed. */
static int again(const struct cnn_dataset_stream *s, cnn_error *err)
{
    return cnn_error_prefix(err, "evaluating: reading %s again (did it change during the run?)",
                            s->path);
}

#define CHANGED_FMT                                                                       \
    "%s: the file changed during the run (%s): it is read again for every evaluation and " \
    "must stay as it was when checked before training"

/* Why the file now open for a pass is not the one checked, or NULL. */
static const char *pass_differs(const struct cnn_dataset_stream *s, const cnn_idx *x)
{
    const cnn_idx *h = cnn_idx_stream_header(s->pass);
    const char *why = changed(&s->st, cnn_idx_stream_stat(s->pass));
    if (!why && (h->type != x->type || h->rank != x->rank ||
                 memcmp(h->dims, x->dims, sizeof *h->dims * (size_t)h->rank) != 0))
        why = "its IDX header differs";
    return why;
}

int cnn_dataset_stream_begin(const cnn_dataset *d, size_t first, cnn_error *err)
{
    struct cnn_dataset_stream *s = d->stream;
    cnn_idx_stream_close(s->pass);
    s->pass = NULL;
    /* Before reading: a header read first would report a changed size as damage. */
    struct stat now;
    const char *why = stat(s->path, &now) == 0 ? changed(&s->st, &now) : NULL;
    if (why) return cnn_errorf(err, CHANGED_FMT, s->path, why);
    if (cnn_idx_stream_open(s->path, s->max_bytes, NULL, NULL, &s->pass, err))
        return again(s, err);
    if ((why = pass_differs(s, d->images))) cnn_errorf(err, CHANGED_FMT, s->path, why);
    if (why || (cnn_idx_stream_read(s->pass, NULL, first, err) && again(s, err))) {
        cnn_idx_stream_close(s->pass);
        s->pass = NULL;
        return -1;
    }
    return 0;
}

int cnn_dataset_stream_next(const cnn_dataset *d, int n, float *x, cnn_error *err)
{
    struct cnn_dataset_stream *s = d->stream;
    cnn_idx view = *d->images;
    size_t rec = view.record * view.elem_size, per = (size_t)d->h * d->w * d->c;
    if (!s->pass) return cnn_errorf(err, "%s: no pass under way", s->path);
    if ((size_t)n * rec > s->raw_cap) {
        unsigned char *p = realloc(s->raw, (size_t)n * rec);
        if (!p) return cnn_errorf(err, "%s: out of memory for a batch", s->path);
        s->raw = p, s->raw_cap = (size_t)n * rec;
    }
    if (cnn_idx_stream_read(s->pass, s->raw, (size_t)n, err)) return again(s, err);
    view.data = s->raw;
    view.count = view.dims[0] = (size_t)n;
    for (int i = 0; i < n; i++) cnn_dataset_record_nchw(d, &view, (size_t)i, x + (size_t)i * per);
    return 0;
}

int cnn_dataset_stream_end(const cnn_dataset *d, int ok, cnn_error *err)
{
    struct cnn_dataset_stream *s = d->stream;
    uint32_t crc = 0;
    int rc = ok && s->pass ? cnn_idx_stream_finish(s->pass, &crc, err) : 0;
    if (rc) again(s, err);
    else if (ok && s->pass && crc != s->crc)
        rc = cnn_errorf(err, CHANGED_FMT, s->path, "its contents differ (CRC-32)");
    cnn_idx_stream_close(s->pass);
    s->pass = NULL;
    return rc;
}
