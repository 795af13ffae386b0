/* Model descriptions: loading our JSON format (and Keras' model.to_json()
 * exports), inferring every layer's shape, and writing the description back.
 *
 * Ownership: cnn_model_load / cnn_model_parse return a model the caller frees
 * with cnn_model_free (NULL is fine). */
#ifndef CNN_MODEL_H
#define CNN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "layer_desc.h"
#include "api.h"
#include "load_limits.h"

CNN_BEGIN_DECLS

/* Largest model description file and model the loader accepts. */
#define CNN_MODEL_MAX_FILE (16u << 20)
#define CNN_MODEL_MAX_LAYERS 1000
#define CNN_MODEL_MAX_PARAMS CNN_DEFAULT_MAX_PARAMS /* floats */

enum cnn_optimizer { CNN_OPT_SGD, CNN_OPT_ADAM };
extern CNN_API const char *const cnn_optimizer_names[]; /* "sgd", "adam", NULL */
enum cnn_loss { CNN_LOSS_CROSSENTROPY, CNN_LOSS_MSE };
extern CNN_API const char *const cnn_loss_names[]; /* "categorical_crossentropy", "mse", NULL */
enum cnn_schedule { CNN_SCHED_CONSTANT, CNN_SCHED_STEP, CNN_SCHED_COSINE };
extern CNN_API const char *const cnn_schedule_names[]; /* "constant", "step", "cosine", NULL */

/* Defaults for cnn-train: the model's "training" object, with every field the
 * object leaves out set to the default given here. */
typedef struct cnn_training {
    int optimizer;       /* "adam" */
    float learning_rate; /* 0.001 */
    float momentum;      /* 0.9 (SGD only) */
    int nesterov;        /* false */
    int schedule;        /* "constant" */
    int step_epochs;     /* 10: step schedule period */
    float step_gamma;    /* 0.1: step schedule factor */
    int batch_size;      /* 64 */
    int epochs;          /* 10 */
    int loss;            /* "categorical_crossentropy" */
    uint64_t seed;       /* 1 */
} cnn_training;

/* The one range of each numeric training setting, shared by cnn-train's flags
 * and every reader of a "training" object (model files, weights, checkpoints):
 * a value the tool accepts is a value it can read back.  Float settings are
 * compared as the float they are stored as. */
#define CNN_LR_MIN 1e-12
#define CNN_LR_MAX 1e6
#define CNN_MOMENTUM_MAX 0.999999
#define CNN_STEP_GAMMA_MIN 1e-6
#define CNN_STEP_GAMMA_MAX 1.0
#define CNN_STEP_EPOCHS_MAX 1000000
#define CNN_EPOCHS_MAX 1000000
#define CNN_BATCH_MAX 65536
#define CNN_SEED_MAX 2147483647

typedef struct cnn_model {
    char name[CNN_NAME_MAX];
    cnn_shape input; /* (C, H, W); Keras' input_shape is [H, W, C] */
    int nlayers;
    cnn_layer *layers;
    cnn_training training;
    size_t nparams;    /* all parameter floats */
    size_t ntrainable;
    const char *format; /* where it came from: "cnn", "keras-2.2", "tf.keras-2", "keras-3" */
} cnn_model;

/* Loads a model description file (ours or a Keras to_json() export, told apart
 * by content).  Every error starts with the file name. */
CNN_API int cnn_model_load(const char *path, cnn_model **out, cnn_error *err);

/* Same, from memory; `name` is the file name used in messages. */
CNN_API int cnn_model_parse(const char *text, size_t len, const char *name, cnn_model **out,
                    cnn_error *err);

CNN_API void cnn_model_free(cnn_model *m);

/* A copy of m, freed with cnn_model_free; NULL when out of memory. */
CNN_API cnn_model *cnn_model_copy(const cnn_model *m);

/* The model in our own JSON format, compact, with every field explicit (the
 * form stored in weights files).  malloc'd; NULL on out-of-memory. */
CNN_API char *cnn_model_to_json(const cnn_model *m);

/* Index of the layer named `name`, or -1. */
CNN_API int cnn_model_find_layer(const cnn_model *m, const char *name);

/* 1 when a and b describe the same architecture (names, kinds, configuration,
 * shapes); otherwise 0 and, if why is non-NULL, a sentence saying the first
 * difference. */
CNN_API int cnn_model_same(const cnn_model *a, const cnn_model *b, char *why, size_t n);

CNN_END_DECLS

#endif
