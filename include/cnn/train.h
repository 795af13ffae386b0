/* Training: the epoch loop, evaluation, per-epoch checkpoints and resuming.
 *
 * A checkpoint is a weights file (weights.h) that also holds the optimizer
 * state ("optimizer.m.*", "optimizer.v.*"), the best weights so far when early
 * stopping is on ("best.*"), and the training position in metadata: epoch,
 * batch within the epoch, update count, both generators' states, the running
 * sums of the epoch and the per-epoch history.  Resuming from it with one
 * thread reaches the same weights as a run that was never interrupted. */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "error.h"
#include "model.h"
#include "net.h"
#include "api.h"

CNN_BEGIN_DECLS

typedef struct cnn_epoch_stats {
    int epoch;          /* 1-based */
    int epochs;
    double train_loss, train_acc;
    int has_val;
    double val_loss, val_acc;
    float lr;
    double images_per_s; /* training images per second in this epoch */
    double elapsed;      /* seconds since the run started (over all resumed parts) */
    int best;            /* 1 when this epoch is the best so far by validation loss */
} cnn_epoch_stats;

typedef struct cnn_batch_progress {
    int epoch, epochs;   /* 1-based epoch */
    long batch, batches; /* batches done in this epoch, and per epoch */
    double loss, acc;    /* running means over the epoch so far */
    double epoch_elapsed;
} cnn_batch_progress;

/* Default of cnn_train_opts.bn_images (cnn-train --bn-images). */
#define CNN_BN_IMAGES_DEFAULT 4096

typedef struct cnn_train_opts {
    cnn_training t;        /* hyperparameters (the model's, overridden by flags) */
    int init;              /* enum cnn_init */
    int shift;             /* augmentation: random shifts of up to this many pixels */
    float rotate;          /* augmentation: random rotations within +-rotate degrees */
    int flip;              /* augmentation: random horizontal flips */
    float zoom;            /* augmentation: random zoom in [1 - zoom, 1 + zoom] */
    int resize, invert;    /* how the sets were read (cnn-train --resize, --invert); only
                            * recorded in the checkpoint, for a resume to read them alike */
    int patience;          /* stop after this many epochs without a better val loss; 0 = off */
    int check_finite;      /* NaN/infinity checks in every layer */
    const char *output;    /* final weights (the best ones with patience) */
    const char *checkpoint;/* written after every epoch and on interruption */
    const char *resume;    /* checkpoint to continue from, or NULL */
    const struct cnn_weights *resume_weights; /* that checkpoint already opened (read from
                            * standard input, say), or NULL to open `resume`, which then
                            * only names it in messages */
    /* The run as given, recorded in the checkpoint so that a resume can find it
     * again (checkpoint.h); any may be NULL. */
    const char *train_images, *train_labels, *test_images, *test_labels, *log;
    const char *record_output; /* the output as recorded (absolute); NULL: none */
    double val_split;      /* the fraction held out of the training images, or 0 */
    long bn_images;        /* BatchNormalization statistics recomputed from this many
                              training images before each evaluation and the final
                              weights; 0 = off (Keras' moving averages) */
    volatile sig_atomic_t *stop; /* when set, finish the batch, checkpoint, return */
    void (*on_batch)(void *ctx, const cnn_batch_progress *p);
    void (*on_epoch)(void *ctx, const cnn_epoch_stats *s, const char *history_csv);
    void *ctx;
    /* Data-parallel training (comm.h): NULL for one process.  Every rank calls
     * cnn_train with the same arguments; each computes its slice of every
     * batch, the gradients are summed, and all apply the same update.  Only
     * rank 0 writes the output and checkpoints and calls on_batch/on_epoch. */
    const struct cnn_comm *comm;
} cnn_train_opts;

typedef struct cnn_train_result {
    int epochs_done;
    int interrupted;      /* stopped by *stop; the checkpoint holds the position */
    int stopped_early;    /* by patience */
    int best_epoch;       /* 1-based, 0 when there is no validation set */
    int peer_failed;      /* data-parallel: the run stopped because another rank
                           * failed (that rank reports why) */
    cnn_epoch_stats last, best;
} cnn_train_result;

/* Trains m on train[tidx[0..ntrain)] and validates on val[vidx[0..nval)] after
 * every epoch (val may be NULL).  Writes the checkpoint after every epoch and
 * the output weights at the end.  On error (including a loss that becomes NaN
 * or infinite, named by epoch and batch) the last good checkpoint is kept. */
CNN_API int cnn_train(const cnn_model *m, const cnn_dataset *train, const uint32_t *tidx, size_t ntrain,
              const cnn_dataset *val, const uint32_t *vidx, size_t nval, const cnn_train_opts *o,
              cnn_train_result *res, cnn_error *err);

/* The indices of a training set of n records, optionally with a seeded
 * validation split: *idx (malloc'd, n entries, the caller frees it) holds the
 * *ntrain training indices followed by the *nval = floor(fraction * n)
 * validation ones.  fraction 0: every record for training, in order, *nval 0.
 * Otherwise a shuffle drawn from seed alone (the same seed, the same split);
 * a fraction that leaves either part empty is an error. */
CNN_API int cnn_train_split(size_t n, double fraction, uint64_t seed, uint32_t **idx,
                            size_t *ntrain, size_t *nval, cnn_error *err);

/* Mean loss and accuracy of net (inference mode) on d[idx[0..n)]; batches of up
 * to the net's max batch.  If pred is non-NULL it receives each argmax class.
 * A streamed set (cnn_dataset_load_streamed) is read from its file during the
 * call, one batch at a time: idx must be consecutive, and a file that changed
 * since it was loaded is an error naming it.  The figures are those of the
 * same set loaded with cnn_dataset_load, bit for bit. */
CNN_API int cnn_evaluate(cnn_net *net, const cnn_dataset *d, const uint32_t *idx, size_t n, int loss,
                 double *mean_loss, double *acc, int *pred, cnn_error *err);

/* The header line of the per-epoch CSV history. */
#define CNN_HISTORY_HEADER \
    "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,images_per_second," \
    "elapsed_seconds\n"

CNN_END_DECLS

#endif
