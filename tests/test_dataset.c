/* Tests for in-memory datasets (dataset.h): a set built byte by byte in memory
 * converts and trains exactly as the IDX file holding the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "model.h"
#include "net.h"
#include "train.h"
#include "augment.h"
#include "rng.h"

#define IMAGES "data/mnist-train-images-idx3-ubyte.gz"
#define LABELS "data/mnist-train-labels-idx1-ubyte.gz"
#define N 300

/* The first N MNIST training digits, copied byte by byte into a set built in
 * memory (the bytes come from the IDX reader, the labels from the label file). */
static cnn_dataset *memory_copy(const cnn_dataset *idx)
{
    cnn_error err = {{0}};
    cnn_dataset *d = NULL;
    if (cnn_dataset_new(N, 28, 28, 1, 1, 0, &d, &err)) {
        CHECK_FAIL_("cnn_dataset_new: %s", err.msg);
        return NULL;
    }
    memcpy(cnn_dataset_pixels(d), idx->images->data, (size_t)N * 28 * 28);
    memcpy(d->labels, idx->labels, sizeof *d->labels * N);
    return d;
}

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    *buf = malloc(*len ? *len : 1);
    int ok = *buf && fread(*buf, 1, *len, f) == *len;
    fclose(f);
    return ok ? 0 : -1;
}

static void memory_set_batches_equal_idx_batches_bit_for_bit(void)
{
    cnn_error err = {{0}};
    cnn_model *m = NULL;
    cnn_dataset *a = NULL, *b = NULL;
    CHECK(cnn_model_load("tests/train/tiny.json", &m, &err) == 0);
    CHECK(cnn_dataset_load(IMAGES, LABELS, m, CNN_IDX_MAX_BYTES, &a, &err) == 0);
    if (!m || !a) goto done;
    b = memory_copy(a);
    if (!b) goto done;
    CHECK(cnn_dataset_check(b, "<memory>", m, &err) == 0);
    CHECK_INT_EQ(10, b->nclasses);
    uint32_t idx[4] = {0, 7, 299, 5};
    float *x = malloc(sizeof *x * 4 * 784), *y = malloc(sizeof *y * 4 * 784);
    cnn_dataset_batch(a, idx, 4, x);
    cnn_dataset_batch(b, idx, 4, y);
    CHECK(memcmp(x, y, sizeof *x * 4 * 784) == 0);
    /* 255 is 1.0 exactly and 0 is 0.0: the conversion is v / 255. */
    cnn_dataset_pixels(b)[0] = 255, cnn_dataset_pixels(b)[1] = 51;
    cnn_dataset_batch(b, idx, 1, y);
    CHECK(y[0] == 1.0f && y[1] == 0.2f && y[2] == 0.0f);
    free(x);
    free(y);
done:
    cnn_dataset_free(a);
    cnn_dataset_free(b);
    cnn_model_free(m);
}

static void training_from_memory_gives_the_idx_weights_bit_for_bit(void)
{
    char dir[] = "/tmp/test_dataset_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char out[2][64], ckpt[2][64];
    cnn_error err = {{0}};
    cnn_model *m = NULL;
    cnn_dataset *sets[2] = {NULL, NULL};
    CHECK(cnn_model_load("tests/train/tiny.json", &m, &err) == 0);
    CHECK(cnn_dataset_load(IMAGES, LABELS, m, CNN_IDX_MAX_BYTES, &sets[0], &err) == 0);
    if (!m || !sets[0]) goto done;
    sets[1] = memory_copy(sets[0]);
    if (!sets[1] || cnn_dataset_check(sets[1], "<memory>", m, &err)) goto done;
    cnn_set_threads(1);
    uint32_t idx[N];
    for (uint32_t i = 0; i < N; i++) idx[i] = i;
    for (int k = 0; k < 2; k++) {
        snprintf(out[k], sizeof out[k], "%s/w%d.safetensors", dir, k);
        snprintf(ckpt[k], sizeof ckpt[k], "%s/w%d.ckpt", dir, k);
        cnn_train_opts o = {.t = m->training, .output = out[k], .checkpoint = ckpt[k]};
        o.t.epochs = 1;
        cnn_train_result res;
        /* 250 to train, 50 to validate, as --val-split would. */
        if (cnn_train(m, sets[k], idx, 250, sets[k], idx + 250, 50, &o, &res, &err))
            CHECK_FAIL_("train %d: %s", k, err.msg);
    }
    unsigned char *wa = NULL, *wb = NULL;
    size_t la = 0, lb = 0;
    CHECK(read_file(out[0], &wa, &la) == 0 && read_file(out[1], &wb, &lb) == 0);
    CHECK(la > 1000 && la == lb && memcmp(wa, wb, la) == 0);
    free(wa);
    free(wb);
    for (int k = 0; k < 2; k++) unlink(out[k]), unlink(ckpt[k]);
done:
    rmdir(dir);
    cnn_dataset_free(sets[0]);
    cnn_dataset_free(sets[1]);
    cnn_model_free(m);
}

static void class_names_are_checked_and_copied(void)
{
    cnn_error err = {{0}};
    cnn_dataset *d = NULL;
    CHECK(cnn_dataset_new(3, 2, 2, 1, 1, 0, &d, &err) == 0);
    if (!d) return;
    d->labels[0] = 0, d->labels[1] = 2, d->labels[2] = 1;
    const char *two[] = {"cat", "dog"}, *dup[] = {"cat", "dog", "cat"};
    const char *three[] = {"cat", "dog", "emu"};
    CHECK(cnn_dataset_set_classes(d, 2, two, &err) == -1);
    CHECK_STR_EQ("label 2 of image 1 is not one of the 2 classes", err.msg);
    CHECK(cnn_dataset_set_classes(d, 3, dup, &err) == -1);
    CHECK_STR_EQ("class name \"cat\" is given twice (classes 0 and 2)", err.msg);
    char name[4] = "emu";
    three[2] = name;
    CHECK(cnn_dataset_set_classes(d, 3, three, &err) == 0);
    name[0] = 'X';
    CHECK_INT_EQ(3, d->nclasses);
    CHECK_STR_EQ("emu", d->class_names[2]);
    CHECK(d->class_names[3] == NULL);
    cnn_dataset_free(d);
    cnn_dataset_free(NULL);
}

static void sizes_over_the_limit_are_refused_before_allocating(void)
{
    cnn_error err = {{0}};
    cnn_dataset *d = NULL;
    CHECK(cnn_dataset_new(1000, 28, 28, 1, 0, 100000, &d, &err) == -1);
    CHECK_STR_EQ("1000 images of 28x28x1 are more than the limit of 100000 bytes", err.msg);
    CHECK(cnn_dataset_new(10, 0, 28, 1, 0, 0, &d, &err) == -1);
    CHECK_STR_EQ("a dataset's images need a positive size, got 0x28x1", err.msg);
    CHECK(d == NULL);
}

/* ---- augmentation on hand-made images ---- */

static void flip_mirrors_each_row(void)
{
    const float src[6] = {1, 2, 3, 4, 5, 6}; /* 2 rows of 3 */
    float dst[6];
    cnn_augment_affine(dst, src, 1, 2, 3, 0, 1, 1);
    const float want[6] = {3, 2, 1, 6, 5, 4};
    for (int i = 0; i < 6; i++) CHECK(fabsf(dst[i] - want[i]) < 1e-6f);
}

static void rotate_90_turns_counter_clockwise(void)
{
    const float src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float dst[9];
    cnn_augment_affine(dst, src, 1, 3, 3, 90, 0, 1);
    /* The right column comes to the top, read top to bottom as left to right. */
    const float want[9] = {3, 6, 9, 2, 5, 8, 1, 4, 7};
    for (int i = 0; i < 9; i++)
        if (fabsf(dst[i] - want[i]) > 1e-5f) CHECK_FAIL_("pixel %d: %g, want %g", i, dst[i], want[i]);
}

static void zoom_2_samples_half_way_between_pixels(void)
{
    /* 4x4, value 10 x column in every row; centre 1.5: output column x samples
     * 1.5 + (x - 1.5) / 2 = 0.75, 1.25, 1.75, 2.25 -> 7.5, 12.5, 17.5, 22.5. */
    float src[16], dst[16];
    for (int i = 0; i < 16; i++) src[i] = 10.0f * (float)(i % 4);
    cnn_augment_affine(dst, src, 1, 4, 4, 0, 0, 2);
    const float want[4] = {7.5f, 12.5f, 17.5f, 22.5f};
    for (int i = 0; i < 16; i++)
        if (fabsf(dst[i] - want[i % 4]) > 1e-5f) CHECK_FAIL_("pixel %d: %g", i, dst[i]);
    /* Zooming out leaves zeros outside.  Row 1 samples row 1.5 - 0.5 * 2 = 0.5
     * (rows are alike); its column 0 samples -1.5 (outside), column 1 0.5 -> 5.
     * Row 0 samples row -1.5: all zero. */
    cnn_augment_affine(dst, src, 1, 4, 4, 0, 0, 0.5f);
    CHECK(dst[4] == 0.0f);
    CHECK(fabsf(dst[5] - 5.0f) < 1e-5f);
    CHECK(dst[1] == 0.0f && dst[2] == 0.0f);
}

static void random_transforms_follow_the_seed(void)
{
    float a[2 * 16], b[2 * 16], c[16], tmp[16];
    for (int i = 0; i < 32; i++) a[i] = b[i] = (float)(i * 7 % 13);
    for (int i = 0; i < 16; i++) c[i] = a[16 + i];
    cnn_augment_batch(a, 2, 1, 4, 4, 30, 1, 0.2f, 5, 0, tmp);
    cnn_augment_batch(b, 2, 1, 4, 4, 30, 1, 0.2f, 5, 0, tmp);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* the second image alone, at its place in the batch: what a rank holding
     * only it draws */
    cnn_augment_batch(c, 1, 1, 4, 4, 30, 1, 0.2f, 5, 1, tmp);
    CHECK(memcmp(a + 16, c, sizeof c) == 0);
    for (int i = 0; i < 32; i++) b[i] = (float)(i * 7 % 13);
    cnn_augment_batch(b, 2, 1, 4, 4, 30, 1, 0.2f, 6, 0, tmp);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

int main(void)
{
    RUN(flip_mirrors_each_row);
    RUN(rotate_90_turns_counter_clockwise);
    RUN(zoom_2_samples_half_way_between_pixels);
    RUN(random_transforms_follow_the_seed);
    RUN(memory_set_batches_equal_idx_batches_bit_for_bit);
    RUN(training_from_memory_gives_the_idx_weights_bit_for_bit);
    RUN(class_names_are_checked_and_copied);
    RUN(sizes_over_the_limit_are_refused_before_allocating);
    return check_report();
}
