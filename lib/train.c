/* Training loop, evaluation, checkpoints and resuming (see train.h). */
#include "augment.h"
#include "train.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "comm.h"
#include "dataset_internal.h"
#include "fileio.h"
#include "weights.h"
#include "safetensors.h"
#include "layer.h"
#include "net_internal.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ======================================================================== */
/* Evaluation                                                               */
/* ======================================================================== */

/* A data set given to cnn_evaluate or cnn_train fits the model: its images have the input
 * shape, it has labels of the model's classes, and every index is a record. */
static int check_set(const cnn_model *m, const cnn_dataset *d, const uint32_t *idx, size_t n,
                     const char *what, cnn_error *err)
{
    cnn_shape in = m->input;
    if (!d || !idx) return cnn_errorf(err, "the %s set is NULL", what);
    if (d->c != in.c || d->h != in.h || d->w != in.w)
        return cnn_errorf(err, "the %s images are (%d, %d, %d) but the model takes (%d, %d, %d)",
                          what, d->c, d->h, d->w, in.c, in.h, in.w);
    if (!d->labels) return cnn_errorf(err, "the %s set has no labels", what);
    if (d->nclasses != cnn_model_classes(m))
        return cnn_errorf(err, "the %s set has %d classes but the model has %d", what, d->nclasses,
                          cnn_model_classes(m));
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= d->count)
            return cnn_errorf(err, "the %s index %zu is record %u, but the set has %zu", what, i,
                              idx[i], d->count);
    return 0;
}

/* A streamed set (cnn_dataset_load_streamed) is read in file order: its
 * indices must be consecutive. */
static int check_stream_order(const cnn_dataset *d, const uint32_t *idx, size_t n,
                              cnn_error *err)
{
    for (size_t i = 1; d->stream && i < n; i++)
        if (idx[i] != idx[0] + i)
            return cnn_errorf(err, "the evaluation set %s is read from its file in order, but "
                                   "index %zu is record %u, not %zu", d->images->name, i, idx[i],
                              (size_t)idx[0] + i);
    return 0;
}

/* The batch of records idx[at..at+b) into x: from memory, or the next ones of
 * a streamed set's pass (started at the first batch). */
static int eval_batch(const cnn_dataset *d, const uint32_t *idx, size_t at, int b, float *x,
                      cnn_error *err)
{
    if (!d->stream)
        return cnn_dataset_batch(d, idx + at, b, x)
                   ? cnn_errorf(err, "the evaluation batch at %zu is not in the set", at)
                   : 0;
    if (at == 0 && cnn_dataset_stream_begin(d, idx[0], err)) return -1;
    return cnn_dataset_stream_next(d, b, x, err);
}

int cnn_evaluate(cnn_net *net, const cnn_dataset *d, const uint32_t *idx, size_t n, int loss,
                 double *mean_loss, double *acc, int *pred, cnn_error *err)
{
    if (!net) return cnn_errorf(err, "the network is NULL");
    const cnn_model *m = cnn_net_model(net);
    if (check_set(m, d, idx, n, "evaluation", err) || check_stream_order(d, idx, n, err))
        return -1;
    int last = m->nlayers - 1, nb = cnn_net_max_batch(net);
    int classes = m->layers[last].out.c;
    size_t rec = cnn_shape_size(m->input);
    float *x = malloc(sizeof *x * rec * (size_t)nb);
    int *y = malloc(sizeof *y * (size_t)nb);
    if (!x || !y) {
        free(x);
        free(y);
        return cnn_errorf(err, "out of memory");
    }
    double sum = 0;
    size_t correct = 0;
    int rc = 0;
    for (size_t at = 0; at < n; at += (size_t)nb) {
        int b = n - at < (size_t)nb ? (int)(n - at) : nb;
        if (eval_batch(d, idx, at, b, x, err) ||
            cnn_net_forward(net, x, (size_t)b * cnn_net_input_size(net), b, 0, NULL, err)) {
            rc = -1;
            break;
        }
        if (d->labels) {
            for (int i = 0; i < b; i++) y[i] = d->labels[idx[at + (size_t)i]];
            int c;
            sum += (double)cnn_net_loss(net, y, b, loss, &c) * b;
            correct += (size_t)c;
        }
        if (pred) {
            const float *out = cnn_net_output(net, last);
            for (int i = 0; i < b; i++) {
                const float *p = out + (size_t)i * classes;
                int best = 0;
                for (int k = 1; k < classes; k++)
                    if (p[k] > p[best]) best = k;
                pred[at + (size_t)i] = best;
            }
        }
    }
    if (d->stream && n && cnn_dataset_stream_end(d, rc == 0, err)) rc = -1;
    free(x);
    free(y);
    if (rc) return rc;
    *mean_loss = n ? sum / (double)n : 0;
    *acc = n ? (double)correct / (double)n : 0;
    return 0;
}

/* ======================================================================== */
/* Training state and checkpoints                                           */
/* ======================================================================== */

/* The position a resume starts from (checkpoint.h). */
typedef cnn_ckpt_state train_state;

/* The figures of history row `epoch` (1-based) of a checkpoint (checked by
 * cnn_checkpoint_read); -1 when there is no such row. */
static int history_row(const char *history, int epoch, cnn_epoch_stats *e)
{
    memset(e, 0, sizeof *e);
    const char *line = history;
    for (int r = 1; r < epoch && line; r++) {
        line = strchr(line, '\n');
        if (line) line++;
    }
    if (epoch < 1 || !line || !*line) return -1;
    double v[8] = {0};
    int given[8] = {0};
    const char *f = line;
    for (int c = 0; c < 8; c++) {
        char *end;
        if (*f != ',' && *f != '\n') v[c] = strtod(f, &end), given[c] = end != f, f = end;
        if (*f != (c < 7 ? ',' : '\n')) return -1;
        f++;
    }
    e->epoch = (int)v[0];
    e->train_loss = v[1];
    e->train_acc = v[2];
    e->has_val = given[3] && given[4];
    e->val_loss = v[3];
    e->val_acc = v[4];
    e->lr = (float)v[5];
    e->images_per_s = v[6];
    e->elapsed = v[7];
    return e->epoch == epoch ? 0 : -1;
}

static int save_checkpoint(const char *path, const cnn_model *m, const cnn_train_opts *o,
                           cnn_net *net, const float *best, size_t ntrain,
                           const train_state *s, cnn_error *err)
{
    cnn_checkpoint c = {.s = *s, .ntrain = ntrain, .shift = o->shift, .patience = o->patience,
                        .init = o->init, .bn_images = o->bn_images, .val_split = o->val_split,
                        .rotate = o->rotate, .zoom = o->zoom, .flip = o->flip,
                        .resize = o->resize, .invert = o->invert};
    c.train_images = (char *)o->train_images;
    c.train_labels = (char *)o->train_labels;
    c.test_images = (char *)o->test_images;
    c.test_labels = (char *)o->test_labels;
    c.output = (char *)o->record_output;
    c.log = (char *)o->log;
    cnn_param_set sets[4];
    int n = 0;
    sets[n++] = (cnn_param_set){"", cnn_net_params(net)};
    sets[n++] = (cnn_param_set){"optimizer.m.", cnn_net_opt_state(net, 0)};
    if (cnn_net_opt_state(net, 1)) sets[n++] = (cnn_param_set){"optimizer.v.", cnn_net_opt_state(net, 1)};
    if (best && s->best_epoch) sets[n++] = (cnn_param_set){"best.", best};
    return cnn_checkpoint_save(path, m, sets, n, &c, err);
}

/* Reads the checkpoint into net, best and s after checking every field of it
 * (checkpoint.c) and that this run may continue it: the same model, training
 * images and fixed settings, and epochs left to train. */
static int load_checkpoint(const char *path, const cnn_model *m, const cnn_train_opts *o,
                           cnn_net *net, float *best, size_t ntrain, int bs, train_state *s,
                           cnn_error *err)
{
    cnn_weights *opened = NULL;
    if (!o->resume_weights && cnn_weights_open(path, &opened, err)) return -1;
    const cnn_weights *w = o->resume_weights ? o->resume_weights : opened;
    int rc = -1;
    char why[512];
    cnn_checkpoint c;
    if (cnn_checkpoint_read(w, &c, err)) goto done;
    if (!cnn_model_same(m, w->model, why, sizeof why)) {
        cnn_errorf(err, "%s: the checkpoint is for a different model: %s", path, why);
        goto done;
    }
    if (cnn_checkpoint_check_run(&c, path, ntrain, bs, err)) goto done;
    const char *fixed = cnn_checkpoint_fixed_setting_differs(&c.training, &o->t);
    if (fixed) {
        cnn_errorf(err, "%s: the checkpoint was made with other %s; it cannot change on resume",
                   path, fixed + 2);
        goto done;
    }
    if (c.shift != o->shift || (c.bn_images >= 0 && c.bn_images != o->bn_images)) {
        cnn_errorf(err, "%s: the checkpoint was made with --shift %d --bn-images %ld; these "
                        "cannot change on resume", path, c.shift,
                   c.bn_images >= 0 ? c.bn_images : o->bn_images);
        goto done;
    }
    if (c.rotate != o->rotate || c.zoom != o->zoom || c.flip != o->flip ||
        c.resize != o->resize || c.invert != o->invert) {
        cnn_errorf(err, "%s: the checkpoint was made with --rotate %g --zoom %g%s%s%s; these "
                        "cannot change on resume", path, c.rotate, c.zoom, c.flip ? " --flip" : "",
                   c.resize ? " --resize" : "", c.invert ? " --invert" : "");
        goto done;
    }
    if (o->patience && !c.patience && c.s.best_epoch) {
        cnn_errorf(err, "%s: the checkpoint was made without --patience and holds no best "
                        "weights; --patience cannot be turned on when resuming", path);
        goto done;
    }
    if (cnn_weights_read_params(w, "", m, cnn_net_params(net), err) ||
        cnn_weights_read_params(w, "optimizer.m.", m, cnn_net_opt_state(net, 0), err) ||
        (cnn_net_opt_state(net, 1) &&
         cnn_weights_read_params(w, "optimizer.v.", m, cnn_net_opt_state(net, 1), err)))
        goto done;
    if (best && c.s.best_epoch && cnn_weights_read_params(w, "best.", m, best, err)) goto done;
    free(s->history);
    *s = c.s;
    c.s.history = NULL; /* now s's */
    rc = 0;
done:
    cnn_checkpoint_clear(&c);
    cnn_weights_free(opened);
    return rc;
}

/* ======================================================================== */
/* The loop                                                                 */
/* ======================================================================== */

/* Shifts each image of x (n, C, H, W) by up to `shift` pixels in each direction,
 * filling with zeros; image i's shift comes from a generator keyed by `key` and
 * its index first + i in the global batch.  tmp holds one image. */
static void augment_shift(float *x, int n, cnn_shape in, int shift, uint64_t key, int first,
                          float *tmp)
{
    size_t plane = (size_t)in.h * in.w, rec = plane * in.c;
    for (int i = 0; i < n; i++) {
        cnn_rng rng;
        cnn_rng_seed_at(&rng, key, (uint64_t)(first + i));
        int dy = (int)cnn_rng_below(&rng, 2 * (uint64_t)shift + 1) - shift;
        int dx = (int)cnn_rng_below(&rng, 2 * (uint64_t)shift + 1) - shift;
        float *img = x + (size_t)i * rec;
        memcpy(tmp, img, sizeof *tmp * rec);
        for (int c = 0; c < in.c; c++)
            for (int y = 0; y < in.h; y++)
                for (int xx = 0; xx < in.w; xx++) {
                    int sy = y - dy, sx = xx - dx;
                    img[c * plane + (size_t)y * in.w + xx] =
                        sy >= 0 && sy < in.h && sx >= 0 && sx < in.w
                            ? tmp[c * plane + (size_t)sy * in.w + sx]
                            : 0.0f;
                }
    }
}

/* ---- data-parallel helpers (comm.h); one process when c is NULL ---------- */

/* The agreement of all ranks: 1 when any passed a non-zero flag.  A transport
 * failure counts as a failure. */
static int agree(const cnn_comm *c, int flag)
{
    if (!c || c->size < 2) return flag != 0;
    int r = c->any(c->ctx, flag != 0);
    return r != 0;
}

/* After agree() said some rank failed: this rank's own message stands; a rank
 * that did not fail says so and is marked, so the program stays quiet. */
static int peer_failed(int self_failed, cnn_train_result *res, cnn_error *err)
{
    if (!self_failed) {
        res->peer_failed = 1;
        cnn_errorf(err, "another rank failed");
    }
    return -1;
}

static int sum_doubles(const cnn_comm *c, double *v, size_t n)
{
    return c && c->size > 1 ? c->sum_double(c->ctx, v, n) : 0;
}

static int append_history(train_state *s, const cnn_epoch_stats *e)
{
    char row[256];
    if (e->has_val)
        snprintf(row, sizeof row, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.1f,%.3f\n", e->epoch,
                 e->train_loss, e->train_acc, e->val_loss, e->val_acc, e->lr, e->images_per_s,
                 e->elapsed);
    else
        snprintf(row, sizeof row, "%d,%.6f,%.6f,,,%.6g,%.1f,%.3f\n", e->epoch, e->train_loss,
                 e->train_acc, e->lr, e->images_per_s, e->elapsed);
    size_t a = s->history ? strlen(s->history) : 0, b = strlen(row);
    char *h = realloc(s->history, a + b + 1);
    if (!h) return -1;
    memcpy(h + a, row, b + 1);
    s->history = h;
    return 0;
}

/* Writes the final weights with the metrics of the epoch they come from. */
static int save_output(const char *path, const cnn_model *m, const float *params,
                       const cnn_epoch_stats *e, const cnn_dataset *train, cnn_error *err)
{
    char metrics[512];
    snprintf(metrics, sizeof metrics,
             "{\"epoch\": %d, \"train_loss\": %.6f, \"train_accuracy\": %.6f%s", e->epoch,
             e->train_loss, e->train_acc, e->has_val ? "" : "}");
    if (e->has_val) {
        size_t k = strlen(metrics);
        snprintf(metrics + k, sizeof metrics - k, ", \"val_loss\": %.6f, \"val_accuracy\": %.6f}",
                 e->val_loss, e->val_acc);
    }
    /* The training set's class names travel with the weights (classes.c). */
    static const char *const keys[] = {"cnn.kind", "cnn.metrics", "cnn.class_names"};
    char *names = NULL;
    if (train->class_names &&
        !(names = cnn_class_names_join((const char *const *)train->class_names, train->nclasses)))
        return cnn_errorf(err, "%s: out of memory", path);
    const char *vals[] = {"weights", metrics, names};
    cnn_param_set set = {"", params};
    int rc = cnn_weights_save(path, m, &set, 1, keys, vals, names ? 3 : 2, err);
    free(names);
    return rc;
}

int cnn_train_split(size_t n, double fraction, uint64_t seed, uint32_t **idx, size_t *ntrain,
                    size_t *nval, cnn_error *err)
{
    *idx = NULL;
    *ntrain = *nval = 0;
    if (!(fraction >= 0 && fraction < 1))
        return cnn_errorf(err, "validation split %g: expected a fraction in [0, 1)", fraction);
    if (n > UINT32_MAX) return cnn_errorf(err, "%zu records: too many to index", n);
    uint32_t *x = malloc(sizeof *x * (n ? n : 1));
    if (!x) return cnn_errorf(err, "out of memory");
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)i;
    size_t v = 0;
    if (fraction > 0) {
        cnn_rng split;
        cnn_rng_seed(&split, seed ^ 0x53504c4954ull); /* "SPLIT" */
        cnn_rng_shuffle(&split, x, n);
        v = (size_t)floor(fraction * (double)n);
        if (v == 0 || v == n) {
            free(x);
            return cnn_errorf(err, "a validation split of %g of %zu images leaves an empty set",
                              fraction, n);
        }
    }
    *idx = x;
    *ntrain = n - v;
    *nval = v;
    return 0;
}

/* 1 when every rank trains the same thing: a fingerprint of the data sizes and
 * the settings, compared through two agreements (its maximum and minimum). */
static int same_run(const cnn_comm *c, const cnn_model *m, size_t ntrain, size_t nval,
                    const cnn_train_opts *o)
{
    const cnn_training *t = &o->t;
    uint64_t v[] = {ntrain, nval, (uint64_t)t->batch_size, (uint64_t)t->epochs, m->nparams,
                    t->seed, (uint64_t)t->optimizer, (uint64_t)(t->learning_rate * 1e9),
                    (uint64_t)o->shift, (uint64_t)o->patience, o->resume != NULL,
                    (uint64_t)o->bn_images};
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the words */
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) h = (h ^ v[i]) * 1099511628211ull;
    int f = (int)(h >> 34); /* 30 bits: -f does not overflow */
    int hi = c->any(c->ctx, f), lo = c->any(c->ctx, -f); /* both, on every rank */
    return hi == f && lo == -f;
}

/* Mean loss and accuracy over the ranks: each evaluates its slice of idx. */
static int evaluate_split(cnn_net *net, const cnn_comm *comm, const cnn_dataset *d,
                          const uint32_t *idx, size_t n, int loss, double *mean_loss,
                          double *acc, cnn_error *err)
{
    size_t lo, hi;
    cnn_comm_slice(comm && comm->size > 1 ? comm : NULL, n, &lo, &hi);
    double ml = 0, a = 0;
    int bad = hi > lo && cnn_evaluate(net, d, idx + lo, hi - lo, loss, &ml, &a, NULL, err);
    if (!comm || comm->size < 2) {
        *mean_loss = ml;
        *acc = a;
        return bad ? -1 : 0;
    }
    double v[3] = {ml * (double)(hi - lo), round(a * (double)(hi - lo)), bad};
    if (sum_doubles(comm, v, 3)) {
        if (!bad) cnn_errorf(err, "summing the evaluation over the ranks failed");
        return -1;
    }
    if (v[2] != 0) return -1; /* the caller's agreement tells the others */
    *mean_loss = n ? v[0] / (double)n : 0;
    *acc = n ? v[1] / (double)n : 0;
    return 0;
}

/* BatchNormalization's moving statistics recomputed from the first `count`
 * training images (in index order, without augmentation), in batches of bs
 * split over the ranks as training batches are (issue 11 §5: Keras' momentum
 * of 0.99 leaves them far from the data for hundreds of steps). */
static int recompute_stats(cnn_net *net, const cnn_comm *comm, const cnn_dataset *d,
                           const uint32_t *idx, size_t count, int bs, float *x, cnn_error *err)
{
    int nranks = comm ? comm->size : 1;
    size_t per = cnn_net_input_size(net), done = 0;
    for (size_t at = 0; at < count; at += (size_t)bs) {
        int n = count - at < (size_t)bs ? (int)(count - at) : bs;
        if (n < nranks) break; /* a tail too small to split: left out */
        size_t lo, hi;
        cnn_comm_slice(comm, (size_t)n, &lo, &hi);
        int ln = (int)(hi - lo);
        if (cnn_dataset_batch(d, idx + at + lo, ln, x))
            return cnn_errorf(err, "recomputing the BatchNormalization statistics: batch at %zu "
                                   "is out of the set", at);
        cnn_net_set_slice(net, (int)lo, comm ? n : 0);
        done += (size_t)n;
        if (cnn_net_stats_forward(net, x, (size_t)ln * per, ln, (float)n / (float)done, err)) {
            cnn_error_prefix(err, "recomputing the BatchNormalization statistics");
            return -1;
        }
    }
    return 0;
}

/* ---- one run of cnn_train ------------------------------------------------- */

/* What one run of cnn_train works with: its arguments, the net and buffers it
 * builds, and its position. */
typedef struct trainer {
    cnn_model m;                /* the model as trained: its "training" object is o->t */
    const cnn_train_opts *o;
    const cnn_training *t;      /* &o->t */
    const cnn_comm *comm;       /* NULL for one process */
    int rank0, nranks;
    int bs, last;               /* batch size (at most ntrain), the last layer */
    long nb;                    /* batches per epoch */
    const cnn_dataset *train, *val;
    const uint32_t *tidx, *vidx;
    size_t ntrain, nval;
    cnn_net *net;
    float *x;                   /* (bs, C, H, W) one batch */
    float *tmp;                 /* (C, H, W) augmentation scratch */
    float *best;                /* (nparams) the best epoch's weights, with patience */
    int *y;                     /* (bs) labels */
    uint32_t *perm;             /* (ntrain) this epoch's order */
    train_state s;
    cnn_optim opt;
    double t0;                  /* start of the time not yet added to s.elapsed */
    cnn_train_result *res;
} trainer;

/* Checks the sets and outputs, builds the net and buffers, and starts from
 * the checkpoint or from a fresh initialization.  Returns 0, or -1 with err
 * set (the caller joins the ranks' agreement either way, so all stop
 * together). */
static int setup(trainer *tr, cnn_error *err)
{
    const cnn_train_opts *o = tr->o;
    const cnn_training *t = tr->t;
    cnn_model *m = &tr->m;
    int bs = tr->bs, nranks = tr->nranks;
    size_t ntrain = tr->ntrain;
    if (ntrain == 0) return cnn_errorf(err, "no training images");
    if (o->patience && !tr->val)
        return cnn_errorf(err, "early stopping (patience) needs a validation set");
    if (check_set(m, tr->train, tr->tidx, ntrain, "training", err) ||
        (tr->val && check_set(m, tr->val, tr->vidx, tr->nval, "validation", err)))
        return -1;
    /* Every slice of every batch needs an image (the last batch is the smallest). */
    size_t last_n = ntrain - (size_t)(tr->nb - 1) * (size_t)bs;
    if (last_n < (size_t)nranks)
        return cnn_errorf(err, "%d ranks need at least %d images in every batch, but the last "
                               "batch of each epoch has %zu (%zu images, batch size %d); use "
                               "fewer ranks or another batch size", nranks, nranks, last_n,
                          ntrain, bs);
    /* Find out now, not after an hour of training, that an output cannot be written. */
    const char *outs[2] = {o->output, o->checkpoint};
    for (int i = 0; tr->rank0 && i < 2; i++) {
        cnn_atomic_file af;
        if (!outs[i]) continue;
        if (cnn_atomic_open(&af, outs[i], err)) return -1;
        cnn_atomic_abort(&af);
    }
    if (cnn_net_new_training(m, (bs + nranks - 1) / nranks, &tr->net, err)) return -1;
    cnn_net_check_finite(tr->net, o->check_finite);
    cnn_net_set_comm(tr->net, tr->comm);
    size_t rec = cnn_shape_size(m->input);
    tr->x = malloc(sizeof *tr->x * rec * (size_t)bs);
    tr->tmp = malloc(sizeof *tr->tmp * rec);
    tr->y = malloc(sizeof *tr->y * (size_t)bs);
    tr->perm = malloc(sizeof *tr->perm * ntrain);
    if (o->patience) tr->best = malloc(sizeof *tr->best * (m->nparams ? m->nparams : 1));
    if (!tr->x || !tr->tmp || !tr->y || !tr->perm || (o->patience && !tr->best))
        return cnn_errorf(err, "out of memory");
    train_state *s = &tr->s;
    cnn_train_result *res = tr->res;
    if (o->resume) {
        if (load_checkpoint(o->resume, m, o, tr->net, tr->best, ntrain, bs, s, err)) return -1;
        /* The figures of the epochs before the resume, for the output's metrics. */
        if (s->epoch > 0) {
            history_row(s->history, s->epoch, &res->last);
            if (s->best_epoch) history_row(s->history, s->best_epoch, &res->best);
            res->last.epochs = res->best.epochs = t->epochs;
            res->epochs_done = s->epoch;
            res->best_epoch = s->best_epoch;
        }
    } else {
        cnn_rng init_rng;
        cnn_rng_seed(&init_rng, t->seed);
        cnn_net_init(tr->net, o->init, &init_rng);
        cnn_rng_seed(&s->epoch_rng, t->seed ^ 0x53485546464c45ull); /* "SHUFFLE" */
        cnn_rng_seed(&s->work_rng, t->seed ^ 0x574f524bull);        /* "WORK" */
        s->best_val = INFINITY;
    }
    return 0;
}

/* What a step of the loop tells it. */
enum { STEP_ON = 0, STEP_FAILED = -1, STEP_RETURN = 1, STEP_LAST = 2 };

/* The batch at s.batch of the epoch in order tr->perm: forward, the loss
 * summed over the ranks, backward, update, progress.  e0 is the epoch's
 * start, *lr receives the learning rate used.  Returns STEP_ON, STEP_RETURN
 * when a stop signal ended the run after this batch (the checkpoint is
 * written; cnn_train returns 0), or STEP_FAILED. */
static int train_batch(trainer *tr, double e0, float *lr, cnn_error *err)
{
    const cnn_train_opts *o = tr->o;
    const cnn_training *t = tr->t;
    const cnn_comm *comm = tr->comm;
    train_state *s = &tr->s;
    cnn_net *net = tr->net;
    cnn_shape in = tr->m.input;
    size_t at = (size_t)s->batch * (size_t)tr->bs, lo, hi;
    int n = tr->ntrain - at < (size_t)tr->bs ? (int)(tr->ntrain - at) : tr->bs;
    /* This rank's slice [lo, hi) of the batch (all of it in one process). */
    cnn_comm_slice(comm, (size_t)n, &lo, &hi);
    int ln = (int)(hi - lo);
    cnn_dataset_batch(tr->train, tr->perm + at + lo, ln, tr->x);
    for (int i = 0; i < ln; i++) tr->y[i] = tr->train->labels[tr->perm[at + lo + (size_t)i]];
    /* Each image's draws come from its place in the batch, so a rank draws the
     * same for an image as one process would. */
    if (o->shift)
        augment_shift(tr->x, ln, in, o->shift, cnn_rng_u64(&s->work_rng), (int)lo, tr->tmp);
    if (o->rotate > 0 || o->flip || o->zoom > 0)
        cnn_augment_batch(tr->x, ln, in.c, in.h, in.w, o->rotate, o->flip, o->zoom,
                          cnn_rng_u64(&s->work_rng), (int)lo, tr->tmp);
    cnn_net_set_slice(net, (int)lo, comm ? n : 0);
    int bad = cnn_net_forward(net, tr->x, (size_t)ln * cnn_net_input_size(net), ln, 1,
                              &s->work_rng, err);
    if (bad) cnn_error_prefix(err, "epoch %d, batch %ld", s->epoch + 1, s->batch + 1);
    int correct = 0;
    float loss = bad ? NAN : cnn_net_loss(net, tr->y, ln, t->loss, &correct);
    double sums[4] = {(double)loss * ln, correct, bad, o->stop && *o->stop};
    if (comm && sum_doubles(comm, sums, 4)) {
        cnn_errorf(err, "the ranks could not exchange the loss at epoch %d, batch %ld",
                   s->epoch + 1, s->batch + 1);
        return STEP_FAILED;
    }
    if (sums[2] != 0) {
        if (!bad) peer_failed(0, tr->res, err);
        return STEP_FAILED;
    }
    if (!isfinite(sums[0])) {
        cnn_errorf(err, "the loss became %s at epoch %d, batch %ld; stopping (the last "
                        "good checkpoint %s is kept; try a lower learning rate)",
                   isnan(sums[0]) ? "NaN" : "infinite", s->epoch + 1, s->batch + 1,
                   o->checkpoint ? o->checkpoint : "(none)");
        return STEP_FAILED;
    }
    cnn_net_zero_grads(net);
    if (cnn_net_backward(net, ln, tr->last, 1, NULL, 0, err) ||
        (comm && comm->wait_all && comm->wait_all(comm->ctx))) {
        cnn_error_prefix(err, "epoch %d, batch %ld", s->epoch + 1, s->batch + 1);
        return STEP_FAILED;
    }
    *lr = cnn_lr_at(t, s->epoch, s->batch, tr->nb);
    cnn_net_step(net, &tr->opt, *lr, ++s->step);
    s->sum_loss += sums[0];
    s->sum_correct += (long)sums[1];
    s->seen += n;
    if (o->on_batch && tr->rank0) {
        cnn_batch_progress p = {s->epoch + 1, t->epochs, s->batch + 1, tr->nb,
                                s->sum_loss / (double)s->seen,
                                (double)s->sum_correct / (double)s->seen, now_seconds() - e0};
        o->on_batch(o->ctx, &p);
    }
    if (sums[3] != 0) { /* a stop signal reached some rank */
        s->batch++;
        s->elapsed += now_seconds() - tr->t0;
        tr->t0 = now_seconds();
        tr->res->interrupted = 1;
        bad = tr->rank0 && o->checkpoint &&
              save_checkpoint(o->checkpoint, &tr->m, o, net, tr->best, tr->ntrain, s, err);
        if (agree(comm, bad)) {
            peer_failed(bad, tr->res, err);
            return STEP_FAILED;
        }
        return STEP_RETURN;
    }
    return STEP_ON;
}

/* After an epoch's batches: BatchNormalization statistics for what follows
 * (evaluation, checkpoint, output), then the held-out figures into e and the
 * best epoch so far.  Returns 0 or -1. */
static int evaluate_epoch(trainer *tr, cnn_epoch_stats *e, cnn_error *err)
{
    const cnn_train_opts *o = tr->o;
    train_state *s = &tr->s;
    int bad;
    if (o->bn_images > 0 && cnn_net_has_moving_stats(tr->net)) {
        size_t cnt = (size_t)o->bn_images < tr->ntrain ? (size_t)o->bn_images : tr->ntrain;
        bad = recompute_stats(tr->net, tr->comm, tr->train, tr->tidx, cnt, tr->bs, tr->x, err);
        if (agree(tr->comm, bad)) return peer_failed(bad, tr->res, err);
    }
    if (tr->val) {
        e->has_val = 1;
        bad = evaluate_split(tr->net, tr->comm, tr->val, tr->vidx, tr->nval, tr->t->loss,
                             &e->val_loss, &e->val_acc, err);
        if (agree(tr->comm, bad)) return peer_failed(bad, tr->res, err);
        if (e->val_loss < s->best_val) {
            s->best_val = e->val_loss;
            s->best_epoch = e->epoch;
            s->bad_epochs = 0;
            e->best = 1;
            if (tr->best)
                memcpy(tr->best, cnn_net_params(tr->net), sizeof *tr->best * tr->m.nparams);
        } else {
            s->bad_epochs++;
        }
    }
    return 0;
}

/* The epoch e is done: its history row, the position of the next epoch (whose
 * order comes from `shuffle`), the result, the checkpoint and on_epoch.
 * Returns 0 or -1. */
static int close_epoch(trainer *tr, cnn_epoch_stats *e, const cnn_rng *shuffle, cnn_error *err)
{
    train_state *s = &tr->s;
    cnn_train_result *res = tr->res;
    s->elapsed += now_seconds() - tr->t0;
    tr->t0 = now_seconds();
    e->elapsed = s->elapsed;
    if (append_history(s, e)) return cnn_errorf(err, "out of memory");
    s->epoch_rng = *shuffle;
    s->batch = 0;
    s->sum_loss = 0;
    s->sum_correct = s->seen = 0;
    res->epochs_done = e->epoch;
    res->last = *e;
    if (e->best) res->best = *e;
    res->best_epoch = s->best_epoch;
    /* The checkpoint holds the position a resume starts from: the next epoch. */
    train_state next = *s;
    next.epoch = s->epoch + 1;
    int bad = tr->rank0 && tr->o->checkpoint &&
              save_checkpoint(tr->o->checkpoint, &tr->m, tr->o, tr->net, tr->best, tr->ntrain,
                              &next, err);
    if (agree(tr->comm, bad)) return peer_failed(bad, res, err);
    if (tr->o->on_epoch && tr->rank0) tr->o->on_epoch(tr->o->ctx, e, s->history);
    return 0;
}

/* The epoch at s.epoch, from batch s.batch on.  Returns STEP_ON, STEP_RETURN
 * (stopped inside the epoch, see train_batch), STEP_LAST when no epoch follows
 * (patience ran out, or a stop came after this epoch), or STEP_FAILED. */
static int train_epoch(trainer *tr, cnn_error *err)
{
    const cnn_train_opts *o = tr->o;
    train_state *s = &tr->s;
    /* This epoch's order: drawn from the generator state saved before it. */
    cnn_rng shuffle = s->epoch_rng;
    memcpy(tr->perm, tr->tidx, sizeof *tr->perm * tr->ntrain);
    cnn_rng_shuffle(&shuffle, tr->perm, tr->ntrain);
    double e0 = now_seconds();
    long first_batch = s->batch;
    float lr = tr->t->learning_rate;
    for (; s->batch < tr->nb; s->batch++) {
        int step = train_batch(tr, e0, &lr, err);
        if (step != STEP_ON) return step;
    }
    double train_time = now_seconds() - e0;
    cnn_epoch_stats e = {.epoch = s->epoch + 1, .epochs = tr->t->epochs};
    e.train_loss = s->seen ? s->sum_loss / (double)s->seen : 0;
    e.train_acc = s->seen ? (double)s->sum_correct / (double)s->seen : 0;
    e.lr = lr;
    e.images_per_s = train_time > 0 ? (double)(tr->nb - first_batch) * tr->bs / train_time : 0;
    if (evaluate_epoch(tr, &e, err) || close_epoch(tr, &e, &shuffle, err)) return STEP_FAILED;
    if (o->patience && s->bad_epochs >= o->patience) {
        tr->res->stopped_early = 1;
        return STEP_LAST;
    }
    /* A stop after the last epoch is no interruption: the output follows. */
    if (agree(tr->comm, o->stop && *o->stop) && s->epoch + 1 < tr->t->epochs) {
        tr->res->interrupted = 1;
        return STEP_LAST;
    }
    return STEP_ON;
}

/* The output: with patience, the best weights; their figures are known unless
 * the best epoch was before a resume, when the last epoch's are given. */
static int save_final(trainer *tr, cnn_error *err)
{
    cnn_train_result *res = tr->res;
    int use_best = tr->best && tr->s.best_epoch;
    const cnn_epoch_stats *fe = use_best && res->best.epoch ? &res->best : &res->last;
    int bad = tr->rank0 &&
              save_output(tr->o->output, &tr->m, use_best ? tr->best : cnn_net_params(tr->net),
                          fe, tr->train, err);
    if (agree(tr->comm, bad)) return peer_failed(bad, res, err);
    return 0;
}

int cnn_train(const cnn_model *model, const cnn_dataset *train, const uint32_t *tidx,
              size_t ntrain, const cnn_dataset *val, const uint32_t *vidx, size_t nval,
              const cnn_train_opts *o, cnn_train_result *res, cnn_error *err)
{
    memset(res, 0, sizeof *res);
    trainer tr = {.m = *model, .o = o, .t = &o->t, .train = train, .val = val, .tidx = tidx,
                  .vidx = vidx, .ntrain = ntrain, .nval = nval, .res = res};
    tr.m.training = o->t;
    const cnn_training *t = &o->t;
    const cnn_comm *comm = tr.comm = o->comm && o->comm->size > 1 ? o->comm : NULL;
    tr.rank0 = !comm || comm->rank == 0;
    tr.nranks = comm ? comm->size : 1;
    tr.bs = t->batch_size, tr.last = tr.m.nlayers - 1;
    if ((size_t)tr.bs > ntrain) tr.bs = (int)ntrain;
    tr.nb = ntrain ? (long)((ntrain + (size_t)tr.bs - 1) / (size_t)tr.bs) : 0;
    cnn_optim_from_training(&tr.opt, t);
    train_state *s = &tr.s;
    int rc = -1;

    int bad = setup(&tr, err);
    if (agree(comm, bad)) {
        peer_failed(bad, res, err);
        goto done;
    }
    if (comm && !same_run(comm, &tr.m, ntrain, nval, o)) {
        if (tr.rank0)
            cnn_errorf(err, "the ranks were started with different data or settings (here %zu "
                            "training and %zu validation images, batch size %d); start every "
                            "rank with the same arguments and files", ntrain, nval, tr.bs);
        else
            peer_failed(0, res, err);
        goto done;
    }
    tr.t0 = now_seconds();

    /* A finished run (all epochs done, or stopped by its patience) only writes
     * its output: a run killed between its last checkpoint and its output. */
    int finished = o->resume && s->batch == 0 &&
                   (s->epoch >= t->epochs || (o->patience && s->bad_epochs >= o->patience));
    if (finished) res->stopped_early = s->epoch < t->epochs;
    for (; !finished && s->epoch < t->epochs; s->epoch++) {
        int step = train_epoch(&tr, err);
        if (step == STEP_FAILED) goto done;
        if (step == STEP_RETURN) {
            rc = 0;
            goto done;
        }
        if (step == STEP_LAST) break;
    }
    if (o->output && !res->interrupted && save_final(&tr, err)) goto done;
    rc = 0;
done:
    free(s->history);
    free(tr.perm);
    free(tr.y);
    free(tr.tmp);
    free(tr.x);
    free(tr.best);
    cnn_net_free(tr.net);
    return rc;
}
