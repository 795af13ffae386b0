/* libFuzzer harness for checkpoints: mutated checkpoints through the resume
 * path of cnn_train, as `cnn-train --resume CKPT` takes it.
 *
 * The input is written to a temporary file, then read as cnn-train does when
 * only --resume is given: cnn_weights_open, cnn_checkpoint_read for the run's
 * settings, and cnn_train resuming from it, on tests/train/tiny.json's model
 * and a fixed set of 20 generated images (10 of them as the validation set).
 * A checkpoint that survives every check trains the epochs it has left, capped
 * at two so that no input costs more than a few milliseconds.
 *
 * Seeds: FUZZ_CHECKPOINT_SEEDS=DIR build-fuzz/fuzz_checkpoint writes
 * checkpoints of this model and data to DIR (after one and two epochs, with
 * early stopping, with shifts, interrupted within an epoch) and exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dataset.h"
#include "idx.h"
#include "train.h"
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum { N = 20, NVAL = 10 };

static const char tiny_json[] =
    "{\"name\": \"tiny\", \"input_shape\": [28, 28, 1],\n"
    " \"layers\": [\n"
    "  {\"type\": \"Conv2D\", \"filters\": 4, \"kernel_size\": 5, \"strides\": 2, \"activation\": "
    "\"relu\"},\n"
    "  {\"type\": \"MaxPooling2D\", \"pool_size\": 2},\n"
    "  {\"type\": \"Flatten\"},\n"
    "  {\"type\": \"Dropout\", \"rate\": 0.2},\n"
    "  {\"type\": \"Dense\", \"units\": 10, \"activation\": \"softmax\"}],\n"
    " \"training\": {\"optimizer\": \"adam\", \"learning_rate\": 0.003, \"batch_size\": 8, "
    "\"epochs\": 2, \"seed\": 7}}\n";

static cnn_model *model;
static cnn_dataset set;
static uint32_t idx[N];
static char path[64] = "/tmp/fuzz_checkpoint.XXXXXX";

static void die(const char *what, const cnn_error *err)
{
    fprintf(stderr, "fuzz_checkpoint: %s: %s\n", what, err ? err->msg : "");
    abort();
}

/* 20 images of 28x28 bytes from a fixed generator, labels 0..9 twice. */
static void make_data(void)
{
    cnn_error err;
    if (cnn_model_parse(tiny_json, strlen(tiny_json), "tiny.json", &model, &err)) die("model", &err);
    static uint8_t buf[16 + N * 28 * 28];
    const uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, N, 0, 0, 0, 28, 0, 0, 0, 28};
    memcpy(buf, hdr, 16);
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    for (size_t i = 16; i < sizeof buf; i++) buf[i] = (uint8_t)cnn_rng_below(&r, 256);
    if (cnn_idx_load_mem(buf, sizeof buf, "images", sizeof buf, &set.images, &err)) die("idx", &err);
    static int labels[N];
    for (int i = 0; i < N; i++) labels[i] = i % 10, idx[i] = (uint32_t)i;
    set.labels = labels;
    set.count = N;
    set.h = set.w = 28;
    set.c = 1;
    set.nclasses = 10;
    static float staging[28 * 28];
    set.staging = staging;
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp", NULL);
    close(fd);
}

static volatile sig_atomic_t stop;
static long stop_after; /* seeds: interrupt after this many batches (0: never) */
static int stop_epoch;  /* seeds: interrupt after this epoch (0: never) */

static void on_batch(void *ctx, const cnn_batch_progress *p)
{
    (void)ctx;
    if (stop_after && p->batch == stop_after) stop = 1;
}

static void on_epoch(void *ctx, const cnn_epoch_stats *s, const char *history)
{
    (void)ctx;
    /* The history handed out has one newline-terminated row per epoch. */
    int rows = 0;
    for (const char *h = history; *h; h++) rows += *h == '\n';
    if (rows != s->epoch || (*history && history[strlen(history) - 1] != '\n')) {
        fprintf(stderr, "fuzz_checkpoint: history has %d rows after epoch %d\n", rows, s->epoch);
        abort();
    }
    if (stop_epoch && s->epoch == stop_epoch) stop = 1;
}

static void seed(const char *dir, const char *name, int epochs, int patience, int shift,
                 long stop_at, int stop_at_epoch)
{
    char out[4096];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    cnn_train_opts o = {.t = model->training, .patience = patience, .shift = shift,
                        .checkpoint = out, .stop = &stop,
                        .on_batch = on_batch, .on_epoch = on_epoch, .bn_images = 16,
                        .train_images = "/data/train-images.idx", .train_labels = "/data/l.idx",
                        .test_images = patience ? "/data/test-images.idx" : NULL,
                        .test_labels = patience ? "/data/test-labels.idx" : NULL};
    o.t.epochs = epochs;
    stop = 0;
    stop_after = stop_at;
    stop_epoch = stop_at_epoch;
    cnn_train_result r;
    cnn_error err;
    if (cnn_train(model, &set, idx, N, patience ? &set : NULL, idx, NVAL, &o, &r, &err))
        die(name, &err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    make_data();
    const char *dir = getenv("FUZZ_CHECKPOINT_SEEDS");
    if (!dir) return 0;
    /* 20 images in batches of 8: 3 batches per epoch. */
    seed(dir, "epoch1.ckpt", 2, 0, 0, 0, 1);       /* between epochs 1 and 2 */
    seed(dir, "finished.ckpt", 1, 0, 0, 0, 0);     /* a finished run */
    seed(dir, "patience.ckpt", 3, 1, 0, 0, 2);     /* best.* and validation figures */
    seed(dir, "shift.ckpt", 2, 0, 2, 0, 1);
    seed(dir, "interrupted.ckpt", 2, 0, 0, 2, 0);  /* within the first epoch */
    seed(dir, "last-batch.ckpt", 2, 0, 0, 3, 0);   /* after its last batch */
    unlink(path);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) die("writing the input", NULL);

    cnn_error err;
    err.msg[0] = 0;
    cnn_weights *w = NULL;
    if (cnn_weights_open(path, &w, &err)) {
        if (w || !err.msg[0]) die("cnn_weights_open failed without a message", NULL);
        return 0;
    }
    cnn_checkpoint c;
    if (!w->model || cnn_checkpoint_read(w, &c, &err)) {
        if (w->model && !err.msg[0]) die("cnn_checkpoint_read failed without a message", NULL);
        if (w->model) cnn_checkpoint_clear(&c);
        cnn_weights_free(w);
        return 0;
    }
    /* What cnn-train takes from the checkpoint when given only --resume. */
    cnn_train_opts o = {.t = c.training, .patience = c.patience, .shift = c.shift,
                        .init = c.init, .bn_images = c.bn_images < 0 ? 0 : c.bn_images,
                        .val_split = c.val_split, .resume = path, .on_epoch = on_epoch,
                        .stop = &stop};
    if (o.t.epochs > c.s.epoch + 2) o.t.epochs = c.s.epoch + 2;
    int has_val = c.has_val == 1 || c.patience;
    stop = 0;
    stop_after = 0;
    stop_epoch = 0;
    cnn_train_result r;
    err.msg[0] = 0;
    if (cnn_train(model, &set, idx, N, has_val ? &set : NULL, idx, NVAL, &o, &r, &err) &&
        !err.msg[0])
        die("cnn_train failed without a message", NULL);
    cnn_checkpoint_clear(&c);
    cnn_weights_free(w);
    return 0;
}
