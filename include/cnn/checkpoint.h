/* Checkpoints: what cnn_train saves after every epoch and on interruption, and
 * reads back to resume.
 *
 * A checkpoint is a weights file (weights.h) with the optimizer state, the
 * best weights so far (with patience), and the training position and the run's
 * settings in its metadata ("cnn.epoch", "cnn.history", "cnn.train_images",
 * ...).  A checkpoint is input like any other file: cnn_checkpoint_read checks
 * every field (type, range, finiteness, and consistency with the other fields
 * and the stored model) before anything uses it, and names the file and the
 * field when one is wrong.
 *
 * Ownership: cnn_checkpoint_read fills a caller-owned struct whose strings are
 * freed by cnn_checkpoint_clear (safe on a zeroed or cleared struct). */
#ifndef CNN_CHECKPOINT_H
#define CNN_CHECKPOINT_H

#include <stddef.h>

#include "api.h"
#include "error.h"
#include "model.h"
#include "rng.h"
#include "weights.h"

CNN_BEGIN_DECLS

/* The training position: where a resumed run starts. */
typedef struct cnn_ckpt_state {
    int epoch;           /* 0-based epoch in progress (= epochs finished) */
    long batch;          /* batches done in it */
    long step;           /* updates done in the whole run */
    cnn_rng epoch_rng;   /* shuffle generator before drawing this epoch's order */
    cnn_rng work_rng;    /* dropout and augmentation */
    double sum_loss;     /* over this epoch's batches so far (loss * images) */
    long sum_correct, seen;
    double best_val;     /* INFINITY while best_epoch is 0 */
    int best_epoch;      /* 1-based; 0 = none yet */
    int bad_epochs;
    double elapsed;      /* seconds in earlier parts of a resumed run */
    char *history;       /* CSV rows (CNN_HISTORY_HEADER's columns), one per finished epoch */
} cnn_ckpt_state;

/* Largest values accepted from a checkpoint (the command line's own limits). */
#define CNN_CKPT_MAX_EPOCHS CNN_EPOCHS_MAX
#define CNN_CKPT_MAX_SHIFT 64
#define CNN_CKPT_MAX_BN_IMAGES 1000000000L

typedef struct cnn_checkpoint {
    cnn_ckpt_state s;
    size_t ntrain;       /* training images of the run */
    int shift, patience, init;
    float rotate, zoom;  /* augmentation (train.h); 0 when not recorded */
    int flip, resize, invert;
    long bn_images;      /* BatchNormalization recomputation (train.h); -1: not recorded */
    int has_val;         /* the history's rows have validation figures */
    cnn_training training; /* the run's settings (from the stored model) */
    /* The run's data and outputs as given then (absolute when they could be
     * resolved); NULL when the checkpoint does not record them. */
    char *train_images, *train_labels, *test_images, *test_labels, *output, *log;
    double val_split;    /* 0 = none */
} cnn_checkpoint;

/* Reads and checks the training state of the checkpoint w (which must carry
 * its model).  Fields are checked on their own and against each other; the
 * checks that need the run (the number of training images, the batch size)
 * are in cnn_checkpoint_check_run. */
CNN_API int cnn_checkpoint_read(const cnn_weights *w, cnn_checkpoint *c, cnn_error *err);

/* Checks c against a run of ntrain images in batches of batch_size (clamped to
 * ntrain as cnn_train does): the position must lie in it and agree with the
 * update count and the running sums.  path names the file in messages. */
CNN_API int cnn_checkpoint_check_run(const cnn_checkpoint *c, const char *path, size_t ntrain,
                             int batch_size, cnn_error *err);

/* Writes a checkpoint: the parameter sets (weights.h) and c's state and run
 * settings as metadata, atomically.  Paths that are NULL are left out, as are
 * bn_images < 0 and val_split 0. */
CNN_API int cnn_checkpoint_save(const char *path, const cnn_model *m, const cnn_param_set *sets,
                        int nsets, const cnn_checkpoint *c, cnn_error *err);

/* A run whose checkpoint c is: 1 when nothing is left to train with `epochs`
 * epochs and patience `patience` (all epochs done, or stopped early). */
CNN_API int cnn_checkpoint_finished(const cnn_checkpoint *c, int epochs, int patience);

/* Frees c's strings and zeroes it. */
CNN_API void cnn_checkpoint_clear(cnn_checkpoint *c);

/* The settings of cnn_training that cannot change on resume (the saved
 * position, optimizer state and generators depend on them).  Returns the
 * name of the first one that differs between a and b, as a cnn-train flag
 * ("--batch-size", ...), or NULL when they agree. */
CNN_API const char *cnn_checkpoint_fixed_setting_differs(const cnn_training *a, const cnn_training *b);

CNN_END_DECLS

#endif
