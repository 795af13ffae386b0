/* Tests for in-memory datasets (dataset.h): a set built byte by byte in memory
 * converts and trains exactly as the IDX file holding the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "idx.h"
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

/* ---- streamed sets (cnn_dataset_load_streamed) ---- */

/* Loss, accuracy and predictions of a net with batches of 7 on d[lo..hi). */
typedef struct eval_out {
    double loss, acc;
    int pred[64];
    int rc;
} eval_out;

static eval_out eval_slice(cnn_net *net, const cnn_dataset *d, size_t lo, size_t hi,
                           cnn_error *err)
{
    eval_out e = {0};
    uint32_t idx[64];
    for (size_t i = lo; i < hi; i++) idx[i - lo] = (uint32_t)i;
    e.rc = cnn_evaluate(net, d, idx, hi - lo, CNN_LOSS_CROSSENTROPY, &e.loss, &e.acc, e.pred,
                        err);
    return e;
}

/* A 4x4x3 model of 3 classes, initialized from seed 3, with batches of 7. */
static cnn_net *small_net(cnn_model **m)
{
    static const char json[] =
        "{\"name\": \"rgb\", \"input_shape\": [4, 4, 3], \"layers\": [{\"type\": \"Flatten\"},"
        " {\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}";
    cnn_error err = {{0}};
    cnn_net *net = NULL;
    if (cnn_model_parse(json, sizeof json - 1, "rgb", m, &err) || cnn_net_new(*m, 7, &net, &err)) {
        CHECK_FAIL_("small_net: %s", err.msg);
        return NULL;
    }
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    return net;
}

/* 40 images of 4x4x3 (u8, or f32 in [0, 1]) and their labels 0..2 as IDX
 * files images/labels in dir. */
static void write_rgb_set(const char *images, const char *labels, int f32, int gzip, int salt)
{
    static unsigned char px[40 * 48];
    static float fx[40 * 48];
    static unsigned char lab[40];
    for (int i = 0; i < 40 * 48; i++) {
        px[i] = (unsigned char)((i * 37 + salt) % 256);
        fx[i] = (float)px[i] / 200.0f;
    }
    for (int i = 0; i < 40; i++) lab[i] = (unsigned char)(i * 7 % 3);
    size_t dims[4] = {40, 4, 4, 3}, ldims[1] = {40};
    cnn_error err = {{0}};
    if (cnn_idx_write(images, f32 ? CNN_IDX_F32 : CNN_IDX_U8, 4, dims,
                      f32 ? (const void *)fx : (const void *)px, gzip, &err) ||
        cnn_idx_write(labels, CNN_IDX_U8, 1, ldims, lab, 0, &err))
        CHECK_FAIL_("write_rgb_set: %s", err.msg);
}

/* Makes the folder dir (a mkdtemp template) and names an images and a labels
 * file in it (64 bytes each). */
static void temp_set_paths(char *dir, char *im, char *lb)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(im, 64, "%s/images", dir);
    snprintf(lb, 64, "%s/labels", dir);
}

static void same_eval(const eval_out *a, const eval_out *b, size_t n, const char *what)
{
    if (a->rc || b->rc || a->loss != b->loss || a->acc != b->acc ||
        memcmp(a->pred, b->pred, sizeof *a->pred * n) != 0)
        CHECK_FAIL_("%s: rc %d/%d, loss %.17g/%.17g, acc %.17g/%.17g", what, a->rc, b->rc,
                    a->loss, b->loss, a->acc, b->acc);
}

static void streamed_sets_evaluate_as_loaded_sets_bit_for_bit(void)
{
    char dir[] = "/tmp/test_dataset_XXXXXX", im[64], lb[64];
    temp_set_paths(dir, im, lb);
    cnn_model *m = NULL;
    cnn_net *net = small_net(&m);
    for (int k = 0; net && k < 4; k++) {
        write_rgb_set(im, lb, k & 1, k >> 1, 0);
        cnn_error err = {{0}};
        cnn_dataset *mem = NULL, *str = NULL;
        CHECK(cnn_dataset_load(im, lb, m, CNN_IDX_MAX_BYTES, &mem, &err) == 0);
        CHECK(cnn_dataset_load_streamed(im, lb, m, CNN_IDX_MAX_BYTES, &str, &err) == 0);
        if (!mem || !str) continue;
        CHECK(str->stream != NULL && str->images->data == NULL && str->count == 40);
        CHECK(cnn_dataset_pixels(str) == NULL);
        uint32_t one = 0;
        float x[48];
        CHECK_INT_EQ(-1, cnn_dataset_batch(str, &one, 1, x));
        /* all of it, twice; a slice as an MPI rank evaluates; an empty one */
        size_t lo[4] = {0, 0, 13, 5}, hi[4] = {40, 40, 40, 5};
        for (int t = 0; t < 4; t++) {
            eval_out a = eval_slice(net, mem, lo[t], hi[t], &err);
            eval_out b = eval_slice(net, str, lo[t], hi[t], &err);
            same_eval(&a, &b, hi[t] - lo[t], k & 1 ? "f32" : "u8");
        }
        uint32_t gap[3] = {0, 1, 3};
        double l, acc;
        CHECK(cnn_evaluate(net, str, gap, 3, 0, &l, &acc, NULL, &err) == -1);
        CHECK_CONTAINS(err.msg, "is read from its file in order, but index 2 is record 3");
        cnn_dataset_free(mem);
        cnn_dataset_free(str);
    }
    cnn_net_free(net);
    cnn_model_free(m);
    unlink(im), unlink(lb), rmdir(dir);
}

/* cnn_evaluate on all of d: 0, or -1 with the message in err. */
static int eval_all(cnn_net *net, const cnn_dataset *d, cnn_error *err)
{
    return eval_slice(net, d, 0, d->count, err).rc;
}

static void a_streamed_file_that_changes_is_refused(void)
{
    char dir[] = "/tmp/test_dataset_XXXXXX", im[64], lb[64];
    temp_set_paths(dir, im, lb);
    cnn_model *m = NULL;
    cnn_net *net = small_net(&m);
    cnn_dataset *d = NULL;
    cnn_error err = {{0}};
    write_rgb_set(im, lb, 0, 0, 0);
    CHECK(cnn_dataset_load_streamed(im, lb, m, CNN_IDX_MAX_BYTES, &d, &err) == 0);
    if (!net || !d) goto done;
    CHECK_INT_EQ(0, eval_all(net, d, &err));
    /* The same size and modification time, one byte changed in place: the CRC-32. */
    struct stat st;
    CHECK(stat(im, &st) == 0);
    int fd = open(im, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "\x7f", 1, 20 + 40 * 48 - 1) == 1);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    CHECK(fd >= 0 && futimens(fd, times) == 0);
    close(fd);
    CHECK_INT_EQ(-1, eval_all(net, d, &err));
    CHECK_CONTAINS(err.msg, im);
    CHECK_CONTAINS(err.msg, "the file changed during the run (its contents differ (CRC-32))");
    /* Put back as it was: evaluates again. */
    fd = open(im, O_WRONLY);
    unsigned char orig = (unsigned char)(((40 * 48 - 1) * 37) % 256);
    CHECK(fd >= 0 && pwrite(fd, &orig, 1, 20 + 40 * 48 - 1) == 1 && futimens(fd, times) == 0);
    close(fd);
    if (eval_all(net, d, &err)) CHECK_FAIL_("restored: %s", err.msg);
    /* Rewritten through a rename (another inode), or truncated. */
    write_rgb_set(im, lb, 0, 0, 0);
    CHECK_INT_EQ(-1, eval_all(net, d, &err));
    CHECK_CONTAINS(err.msg, "the file changed during the run (it is another file (inode))");
    cnn_dataset_free(d);
    CHECK(cnn_dataset_load_streamed(im, lb, m, CNN_IDX_MAX_BYTES, &d, &err) == 0);
    CHECK(truncate(im, 100) == 0);
    CHECK_INT_EQ(-1, eval_all(net, d, &err));
    CHECK_CONTAINS(err.msg, "the file changed during the run (its size differs)");
done:
    cnn_dataset_free(d);
    cnn_net_free(net);
    cnn_model_free(m);
    unlink(im), unlink(lb), rmdir(dir);
}

/* A bad file is refused by the streamed loader with cnn_dataset_load's message. */
static void streamed_loads_check_the_whole_file_up_front(void)
{
    char dir[] = "/tmp/test_dataset_XXXXXX", im[64], lb[64];
    temp_set_paths(dir, im, lb);
    cnn_model *m = NULL;
    cnn_net *net = small_net(&m);
    for (int k = 0; net && k < 5; k++) {
        write_rgb_set(im, lb, k < 2, k & 1, 0);
        if (k < 2) { /* a NaN in the last record of the f32 file (plain, gzip) */
            size_t dims[4] = {40, 4, 4, 3};
            float *fx = calloc(40 * 48, sizeof *fx);
            fx[39 * 48 + 5] = NAN;
            cnn_error e = {{0}};
            CHECK(fx && cnn_idx_write(im, CNN_IDX_F32, 4, dims, fx, k & 1, &e) == 0);
            free(fx);
        } else if (k == 2) {
            CHECK(truncate(im, 16 + 40 * 48 - 3) == 0);
        } else if (k == 3) {
            size_t ldims[1] = {39};
            unsigned char lab[39] = {0};
            cnn_error e = {{0}};
            CHECK(cnn_idx_write(lb, CNN_IDX_U8, 1, ldims, lab, 0, &e) == 0);
        } else {
            size_t ldims[1] = {40};
            unsigned char lab[40] = {0};
            lab[17] = 3;
            cnn_error e = {{0}};
            CHECK(cnn_idx_write(lb, CNN_IDX_U8, 1, ldims, lab, 0, &e) == 0);
        }
        cnn_error a = {{0}}, b = {{0}};
        cnn_dataset *da = NULL, *db = NULL;
        CHECK_INT_EQ(-1, cnn_dataset_load(im, lb, m, CNN_IDX_MAX_BYTES, &da, &a));
        CHECK_INT_EQ(-1, cnn_dataset_load_streamed(im, lb, m, CNN_IDX_MAX_BYTES, &db, &b));
        CHECK(a.msg[0] != '\0' && da == NULL && db == NULL);
        CHECK_STR_EQ(a.msg, b.msg);
    }
    cnn_net_free(net);
    cnn_model_free(m);
    unlink(im), unlink(lb), rmdir(dir);
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
    RUN(streamed_sets_evaluate_as_loaded_sets_bit_for_bit);
    RUN(a_streamed_file_that_changes_is_refused);
    RUN(streamed_loads_check_the_whole_file_up_front);
    return check_report();
}
