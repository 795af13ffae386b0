/* Checkpoints: reading and checking the training state a checkpoint carries
 * (see checkpoint.h).  Every field is parsed strictly (an integer is digits,
 * a number is finite and in range), then checked against the other fields:
 * nothing read from the file reaches a cast, an index or a loop bound before
 * it has been. */
#include "checkpoint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* Longest history row (train.c writes them into 256 bytes) and path. */
enum { ROW_MAX = 256, PATH_MAX_LEN = 4096 };

/* ======================================================================== */
/* Strict field parsers                                                     */
/* ======================================================================== */

/* Shortened copy of a field's value for messages (the value may be huge). */
static const char *shown(const char *v, char *buf, size_t n)
{
    size_t len = strlen(v), k = 0;
    for (size_t i = 0; i < len && k + 8 < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '\n') buf[k++] = '\\', buf[k++] = 'n';
        else if (ch < 0x20 || ch == 0x7f) k += (size_t)snprintf(buf + k, n - k, "\\x%02x", ch);
        else buf[k++] = (char)ch;
    }
    if (k + 8 >= n || strlen(v) > k) {
        if (k + 4 > n) k = n - 4;
        memcpy(buf + k, "...", 4);
    } else {
        buf[k] = 0;
    }
    return buf;
}

static int bad_field(cnn_error *err, const char *path, const char *key, const char *want,
                     const char *v)
{
    char b[80];
    return cnn_errorf(err, "%s: checkpoint field %s: expected %s, found \"%s\"", path, key, want,
                      shown(v, b, sizeof b));
}

static const char *field(const cnn_weights *w, const char *key, cnn_error *err)
{
    const char *v = cnn_st_meta(w->st, key);
    if (!v) cnn_errorf(err, "%s: checkpoint field %s is missing", w->path, key);
    return v;
}

/* A decimal integer in [lo, hi]: an optional '-' and 1 to 19 digits, nothing else. */
static int parse_int(const char *v, long long lo, long long hi, long long *out)
{
    const char *p = v + (*v == '-');
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 18 || p[nd]) return 0;
    long long x = strtoll(v, NULL, 10);
    if (x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int get_int(const cnn_weights *w, const char *key, long long lo, long long hi,
                   long long *out, cnn_error *err)
{
    const char *v = field(w, key, err);
    if (!v) return -1;
    if (!parse_int(v, lo, hi, out)) {
        char want[96];
        snprintf(want, sizeof want, "an integer in [%lld, %lld]", lo, hi);
        return bad_field(err, w->path, key, want, v);
    }
    return 0;
}

/* The grammar of a JSON number (what the log writer may copy out verbatim). */
static int json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n || s[i] < '0' || s[i] > '9') return 0;
    if (s[i] == '0') i++;
    else while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    return i == n;
}

/* A finite number in [lo, hi] written as JSON writes numbers. */
static int parse_num(const char *v, size_t n, double lo, double hi, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf || !json_number(v, n)) return 0;
    memcpy(buf, v, n);
    buf[n] = 0;
    double x = strtod(buf, NULL);
    if (!isfinite(x) || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int get_num(const cnn_weights *w, const char *key, double lo, double hi, double *out,
                   cnn_error *err)
{
    const char *v = field(w, key, err);
    if (!v) return -1;
    if (!parse_num(v, strlen(v), lo, hi, out)) {
        char want[96];
        snprintf(want, sizeof want, "a finite number in [%g, %g]", lo, hi);
        return bad_field(err, w->path, key, want, v);
    }
    return 0;
}

/* Exactly four 16-digit lowercase hexadecimal words, not all zero (xoshiro's
 * one state that never leaves zero). */
static int get_rng(const cnn_weights *w, const char *key, cnn_rng *r, cnn_error *err)
{
    const char *v = field(w, key, err);
    if (!v) return -1;
    int ok = strlen(v) == 67;
    uint64_t any = 0;
    for (int k = 0; ok && k < 4; k++) {
        const char *p = v + 17 * k;
        if (strspn(p, "0123456789abcdef") < 16 || (k < 3 && p[16] != ' ')) ok = 0;
        else r->s[k] = strtoull(p, NULL, 16), any |= r->s[k];
    }
    if (!ok || !any)
        return bad_field(err, w->path, key,
                         ok ? "a generator state that is not all zero"
                            : "four 16-digit hexadecimal words (a generator state)",
                         v);
    return 0;
}

/* An optional path: absent is fine (NULL); present, it is a non-empty string
 * of printable characters no longer than PATH_MAX_LEN. */
static int get_path(const cnn_weights *w, const char *key, char **out, cnn_error *err)
{
    const char *v = cnn_st_meta(w->st, key);
    *out = NULL;
    if (!v) return 0;
    size_t n = strlen(v);
    int ok = n > 0 && n <= PATH_MAX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ok = 0;
    if (!ok) return bad_field(err, w->path, key, "a file name (printable, 1 to 4096 bytes)", v);
    if (!(*out = strdup(v))) return cnn_errorf(err, "out of memory");
    return 0;
}

/* ======================================================================== */
/* The history                                                              */
/* ======================================================================== */

/* Checks the per-epoch history: exactly `epochs` rows of CNN_HISTORY_HEADER's
 * eight columns, each ending in a newline, numbered 1, 2, ..., with finite
 * JSON numbers (the validation columns both empty or both numbers, the same in
 * every row).  Sets *has_val (-1 when there are no rows). */
static int check_history(const char *path, const char *h, int epochs, int *has_val,
                         cnn_error *err)
{
    static const char *const cols[8] = {"epoch",         "train_loss",   "train_accuracy",
                                        "val_loss",      "val_accuracy", "learning_rate",
                                        "images_per_second", "elapsed_seconds"};
    *has_val = -1;
    int row = 0;
    for (const char *line = h; *line; row++) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (row >= epochs)
            return cnn_errorf(err, "%s: checkpoint field cnn.history: more rows than the %d "
                                   "finished epochs (cnn.epoch)", path, epochs);
        if (!eol)
            return cnn_errorf(err, "%s: checkpoint field cnn.history: row %d does not end "
                                   "in a newline", path, row + 1);
        if (len >= ROW_MAX)
            return cnn_errorf(err, "%s: checkpoint field cnn.history: row %d is %zu bytes "
                                   "long (at most %d)", path, row + 1, len, ROW_MAX - 1);
        const char *f = line;
        int val = 0;
        for (int c = 0; c < 8; c++) {
            const char *end = c < 7 ? memchr(f, ',', (size_t)(eol - f)) : eol;
            if (!end)
                return cnn_errorf(err, "%s: checkpoint field cnn.history: row %d has %d "
                                       "columns, expected 8", path, row + 1, c + 1);
            size_t n = (size_t)(end - f);
            double x;
            int ok;
            if (c == 0) ok = n < 8 && parse_num(f, n, 1, CNN_CKPT_MAX_EPOCHS, &x) &&
                             x == (double)(row + 1) && strspn(f, "0123456789") == n;
            else if ((c == 3 || c == 4) && n == 0) ok = 1;
            else ok = parse_num(f, n, c == 1 || c == 3 ? 0 : (c == 5 ? -1e30 : 0),
                                c == 2 || c == 4 ? 1 : 1e30, &x);
            if (c == 3) val = n > 0;
            if (c == 4 && (n > 0) != val) ok = 0;
            if (!ok) {
                char b[80], v[ROW_MAX];
                memcpy(v, f, n);
                v[n] = 0;
                return cnn_errorf(err, "%s: checkpoint field cnn.history: row %d, column %s: "
                                       "\"%s\" is not %s", path, row + 1, cols[c],
                                  shown(v, b, sizeof b),
                                  c == 0 ? "the row's epoch number"
                                  : c == 4 ? "given exactly when val_loss is"
                                           : "a finite number in range");
            }
            f = end + 1;
        }
        if (*has_val >= 0 && *has_val != val)
            return cnn_errorf(err, "%s: checkpoint field cnn.history: row %d %s validation "
                                   "figures, the rows before it %s", path, row + 1,
                              val ? "has" : "has no", val ? "do not" : "do");
        *has_val = val;
        line = eol + 1;
    }
    if (row != epochs)
        return cnn_errorf(err, "%s: checkpoint field cnn.history: %d rows for %d finished "
                               "epochs (cnn.epoch)", path, row, epochs);
    return 0;
}

/* ======================================================================== */
/* Reading and checking                                                     */
/* ======================================================================== */

void cnn_checkpoint_clear(cnn_checkpoint *c)
{
    if (!c) return;
    free(c->s.history);
    free(c->train_images);
    free(c->train_labels);
    free(c->test_images);
    free(c->test_labels);
    free(c->output);
    free(c->log);
    memset(c, 0, sizeof *c);
}

/* The position and the run's numeric settings, each in its range. */
static int read_numbers(const cnn_weights *w, cnn_checkpoint *c, cnn_error *err)
{
    cnn_ckpt_state *s = &c->s;
    long long epoch, batch, step, correct, seen, best_epoch, bad, ntrain, shift, patience, init;
    long long bn = -1;
    double val_split = 0;
    if (get_int(w, "cnn.epoch", 0, CNN_CKPT_MAX_EPOCHS, &epoch, err) ||
        get_int(w, "cnn.ntrain", 1, UINT32_MAX, &ntrain, err) ||
        get_int(w, "cnn.batch", 0, ntrain, &batch, err) ||
        get_int(w, "cnn.step", 0, (long long)CNN_CKPT_MAX_EPOCHS * ntrain, &step, err) ||
        get_rng(w, "cnn.rng_epoch", &s->epoch_rng, err) ||
        get_rng(w, "cnn.rng_work", &s->work_rng, err) ||
        get_num(w, "cnn.sum_loss", 0, 1e300, &s->sum_loss, err) ||
        get_int(w, "cnn.seen", 0, ntrain, &seen, err) ||
        get_int(w, "cnn.sum_correct", 0, seen, &correct, err) ||
        get_int(w, "cnn.best_epoch", 0, epoch, &best_epoch, err) ||
        get_int(w, "cnn.bad_epochs", 0, epoch, &bad, err) ||
        get_num(w, "cnn.elapsed", 0, 1e12, &s->elapsed, err) ||
        get_int(w, "cnn.shift", 0, CNN_CKPT_MAX_SHIFT, &shift, err) ||
        get_int(w, "cnn.patience", 0, CNN_CKPT_MAX_EPOCHS, &patience, err) ||
        get_int(w, "cnn.init", 0, 1, &init, err))
        return -1;
    if (cnn_st_meta(w->st, "cnn.bn_images") &&
        get_int(w, "cnn.bn_images", 0, CNN_CKPT_MAX_BN_IMAGES, &bn, err))
        return -1;
    if (cnn_st_meta(w->st, "cnn.val_split") && get_num(w, "cnn.val_split", 0, 0.9, &val_split, err))
        return -1;
    /* Written only when set (a run without them keeps the older layout). */
    double rotate = 0, zoom = 0;
    long long flip = 0, resize = 0, invert = 0;
    if ((cnn_st_meta(w->st, "cnn.rotate") && get_num(w, "cnn.rotate", 0, 180, &rotate, err)) ||
        (cnn_st_meta(w->st, "cnn.zoom") && get_num(w, "cnn.zoom", 0, 0.9, &zoom, err)) ||
        (cnn_st_meta(w->st, "cnn.flip") && get_int(w, "cnn.flip", 0, 1, &flip, err)) ||
        (cnn_st_meta(w->st, "cnn.resize") && get_int(w, "cnn.resize", 0, 1, &resize, err)) ||
        (cnn_st_meta(w->st, "cnn.invert") && get_int(w, "cnn.invert", 0, 1, &invert, err)))
        return -1;
    c->rotate = (float)rotate;
    c->zoom = (float)zoom;
    c->flip = (int)flip;
    c->resize = (int)resize;
    c->invert = (int)invert;
    s->epoch = (int)epoch;
    s->batch = (long)batch;
    s->step = (long)step;
    s->sum_correct = (long)correct;
    s->seen = (long)seen;
    s->best_epoch = (int)best_epoch;
    s->bad_epochs = (int)bad;
    c->ntrain = (size_t)ntrain;
    c->shift = (int)shift;
    c->patience = (int)patience;
    c->init = (int)init;
    c->bn_images = (long)bn;
    c->val_split = val_split;
    return 0;
}

/* The fields must fit each other and the model's training.epochs. */
static int check_consistent(const char *path, const cnn_checkpoint *c, cnn_error *err)
{
    const cnn_training *t = &c->training;
    const cnn_ckpt_state *s = &c->s;
    if (s->epoch > t->epochs)
        return cnn_errorf(err, "%s: checkpoint field cnn.epoch: %d epochs finished, but the "
                               "run had %d (the model's training.epochs)", path, s->epoch,
                          t->epochs);
    if (s->epoch == t->epochs && s->batch > 0)
        return cnn_errorf(err, "%s: checkpoint field cnn.batch: %ld batches into epoch %d of a "
                               "run of %d epochs", path, s->batch, s->epoch + 1, t->epochs);
    if (c->has_val == 1 ? s->best_epoch + s->bad_epochs != s->epoch
                        : s->best_epoch != 0 || s->bad_epochs != 0)
        return cnn_errorf(err, "%s: checkpoint fields cnn.best_epoch %d and cnn.bad_epochs %d "
                               "do not fit %d finished epochs %s validation", path,
                          s->best_epoch, s->bad_epochs, s->epoch,
                          c->has_val == 1 ? "with" : "without");
    if (c->patience && c->has_val == 0)
        return cnn_errorf(err, "%s: checkpoint field cnn.patience is %d but the history has no "
                               "validation figures", path, c->patience);
    return 0;
}

/* The run's data and output paths, which must fit its validation figures. */
static int read_paths(const cnn_weights *w, cnn_checkpoint *c, cnn_error *err)
{
    const char *path = w->path;
    if (get_path(w, "cnn.train_images", &c->train_images, err) ||
        get_path(w, "cnn.train_labels", &c->train_labels, err) ||
        get_path(w, "cnn.test_images", &c->test_images, err) ||
        get_path(w, "cnn.test_labels", &c->test_labels, err) ||
        get_path(w, "cnn.output", &c->output, err) || get_path(w, "cnn.log", &c->log, err))
        return -1;
    /* Images without labels: a set given by one path (class folders, a list, a
     * CSV, IDX found by name); labels without images mean nothing. */
    if ((c->train_labels && !c->train_images) || (c->test_labels && !c->test_images))
        return cnn_errorf(err, "%s: checkpoint field cnn.%s_labels without cnn.%s_images", path,
                          c->train_labels && !c->train_images ? "train" : "test",
                          c->train_labels && !c->train_images ? "train" : "test");
    if (c->test_images && c->val_split > 0)
        return cnn_errorf(err, "%s: checkpoint fields cnn.test_images and cnn.val_split: both "
                               "given", path);
    if (c->train_images && c->has_val >= 0 && c->has_val != (c->test_images || c->val_split > 0))
        return cnn_errorf(err, "%s: checkpoint field cnn.history %s validation figures, but "
                               "the run %s a validation set", path,
                          c->has_val ? "has" : "has no", c->has_val ? "had no" : "had");
    return 0;
}

int cnn_checkpoint_read(const cnn_weights *w, cnn_checkpoint *c, cnn_error *err)
{
    memset(c, 0, sizeof *c);
    const char *path = w->path;
    const char *kind = cnn_st_meta(w->st, "cnn.kind");
    if (!kind || strcmp(kind, "checkpoint") != 0)
        return cnn_errorf(err, "%s: not a checkpoint (a weights file without training state); "
                               "use the checkpoint written during training", path);
    if (!w->model)
        return cnn_errorf(err, "%s: checkpoint field cnn.model is missing", path);
    c->training = w->model->training;
    cnn_ckpt_state *s = &c->s;
    if (read_numbers(w, c, err)) return -1;

    /* best_val is "inf" until an epoch was best, then a finite loss. */
    const char *bv = field(w, "cnn.best_val_loss", err);
    if (!bv) return -1;
    if (s->best_epoch == 0) {
        if (strcmp(bv, "inf") != 0)
            return bad_field(err, path, "cnn.best_val_loss", "inf (cnn.best_epoch is 0)", bv);
        s->best_val = INFINITY;
    } else if (get_num(w, "cnn.best_val_loss", 0, 1e300, &s->best_val, err)) {
        return -1;
    }

    const char *h = field(w, "cnn.history", err);
    if (!h || check_history(path, h, s->epoch, &c->has_val, err)) return -1;
    if (!(s->history = strdup(h))) return cnn_errorf(err, "out of memory");
    if (check_consistent(path, c, err) || read_paths(w, c, err)) return -1;
    return 0;
}

int cnn_checkpoint_check_run(const cnn_checkpoint *c, const char *path, size_t ntrain,
                             int batch_size, cnn_error *err)
{
    const cnn_ckpt_state *s = &c->s;
    if (c->ntrain != ntrain)
        return cnn_errorf(err, "%s: the checkpoint was made with %zu training images, this run "
                               "has %zu", path, c->ntrain, ntrain);
    size_t bs = batch_size < 1 ? 1 : (size_t)batch_size;
    if (bs > ntrain) bs = ntrain;
    long long nb = (long long)((ntrain + bs - 1) / bs);
    if (s->batch > nb)
        return cnn_errorf(err, "%s: checkpoint field cnn.batch: %ld, but an epoch has %lld "
                               "batches", path, s->batch, nb);
    if ((long long)s->step != (long long)s->epoch * nb + s->batch)
        return cnn_errorf(err, "%s: checkpoint field cnn.step: %ld updates, but epoch %d, batch "
                               "%ld of %lld per epoch makes %lld", path, s->step, s->epoch,
                          s->batch, nb, (long long)s->epoch * nb + s->batch);
    long long seen = (long long)s->batch * (long long)bs;
    if (seen > (long long)ntrain) seen = (long long)ntrain;
    if (s->seen != seen)
        return cnn_errorf(err, "%s: checkpoint field cnn.seen: %ld images, but %ld batches of "
                               "%zu make %lld", path, s->seen, s->batch, bs, seen);
    if (s->batch == 0 && s->sum_loss != 0)
        return cnn_errorf(err, "%s: checkpoint field cnn.sum_loss: %g before the epoch's first "
                               "batch", path, s->sum_loss);
    return 0;
}

const char *cnn_checkpoint_fixed_setting_differs(const cnn_training *a, const cnn_training *b)
{
    /* Numbers went through JSON text: equal to float precision is equal. */
#define DIFF(x, y) (fabs((double)(x) - (double)(y)) > 1e-6 * fabs((double)(x)))
    if (a->batch_size != b->batch_size) return "--batch-size";
    if (a->optimizer != b->optimizer) return "--optimizer";
    if (DIFF(a->learning_rate, b->learning_rate)) return "--learning-rate";
    if (a->optimizer == 0 && DIFF(a->momentum, b->momentum)) return "--momentum";
    if (a->optimizer == 0 && a->nesterov != b->nesterov) return "--nesterov";
    if (a->schedule != b->schedule) return "--schedule";
    if (a->schedule == 1 && a->step_epochs != b->step_epochs) return "--step-epochs";
    if (a->schedule == 1 && DIFF(a->step_gamma, b->step_gamma)) return "--step-gamma";
    if (a->loss != b->loss) return "--loss";
    if (a->seed != b->seed) return "--seed";
#undef DIFF
    return NULL;
}

/* ======================================================================== */
/* Writing                                                                  */
/* ======================================================================== */

static void rng_str(const cnn_rng *r, char *buf, size_t n)
{
    snprintf(buf, n, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64, r->s[0],
             r->s[1], r->s[2], r->s[3]);
}

int cnn_checkpoint_save(const char *path, const cnn_model *m, const cnn_param_set *sets,
                        int nsets, const cnn_checkpoint *c, cnn_error *err)
{
    enum { NMAX = 36, V = 96 }; /* a generator state takes 67 characters */
    const char *keys[NMAX], *vals[NMAX];
    char v[28][V];
    int n = 0, k = 0;
    const cnn_ckpt_state *s = &c->s;
#define PUT(key, ...) (snprintf(v[k], V, __VA_ARGS__), keys[n] = key, vals[n++] = v[k++])
#define PUTS(key, str) ((str) ? (keys[n] = key, vals[n++] = (str)) : 0)
    PUT("cnn.kind", "checkpoint");
    PUT("cnn.epoch", "%d", s->epoch);
    PUT("cnn.batch", "%ld", s->batch);
    PUT("cnn.step", "%ld", s->step);
    rng_str(&s->epoch_rng, v[k], V), keys[n] = "cnn.rng_epoch", vals[n++] = v[k++];
    rng_str(&s->work_rng, v[k], V), keys[n] = "cnn.rng_work", vals[n++] = v[k++];
    PUT("cnn.sum_loss", "%.17g", s->sum_loss);
    PUT("cnn.sum_correct", "%ld", s->sum_correct);
    PUT("cnn.seen", "%ld", s->seen);
    PUT("cnn.best_val_loss", "%.17g", s->best_val);
    PUT("cnn.best_epoch", "%d", s->best_epoch);
    PUT("cnn.bad_epochs", "%d", s->bad_epochs);
    PUT("cnn.elapsed", "%.3f", s->elapsed);
    PUT("cnn.ntrain", "%zu", c->ntrain);
    PUT("cnn.shift", "%d", c->shift);
    PUT("cnn.patience", "%d", c->patience);
    PUT("cnn.init", "%d", c->init);
    if (c->bn_images >= 0) PUT("cnn.bn_images", "%ld", c->bn_images);
    if (c->val_split > 0) PUT("cnn.val_split", "%.17g", c->val_split);
    if (c->rotate > 0) PUT("cnn.rotate", "%.9g", c->rotate);
    if (c->zoom > 0) PUT("cnn.zoom", "%.9g", c->zoom);
    if (c->flip) PUT("cnn.flip", "%d", c->flip);
    if (c->resize) PUT("cnn.resize", "%d", c->resize);
    if (c->invert) PUT("cnn.invert", "%d", c->invert);
    keys[n] = "cnn.history", vals[n++] = s->history ? s->history : "";
    PUTS("cnn.train_images", c->train_images);
    PUTS("cnn.train_labels", c->train_labels);
    PUTS("cnn.test_images", c->test_images);
    PUTS("cnn.test_labels", c->test_labels);
    PUTS("cnn.output", c->output);
    PUTS("cnn.log", c->log);
#undef PUT
#undef PUTS
    return cnn_weights_save(path, m, sets, nsets, keys, vals, n, err);
}

int cnn_checkpoint_finished(const cnn_checkpoint *c, int epochs, int patience)
{
    if (c->s.batch != 0) return 0;
    return c->s.epoch >= epochs || (patience > 0 && c->s.bad_epochs >= patience);
}
