/* Internal: the network variant the trainer builds. */
#ifndef CNN_NET_INTERNAL_H
#define CNN_NET_INTERNAL_H

#include "error.h"
#include "model.h"

typedef struct cnn_net cnn_net;

/* cnn_net_new for training alone: a relu layer's output overwrites its
 * pre-activation instead of taking a buffer of its own (relu's backward needs
 * only the output), so cnn_net_preact returns NULL for relu layers.  For the
 * lecture model at batch 64 that is 5.9 MB less; the results are the same
 * bits. */
int cnn_net_new_training(const cnn_model *m, int max_batch, cnn_net **out, cnn_error *err);

#endif
