/* A network built from a model description: its parameters, gradients,
 * optimizer state and activations, and the forward and backward passes.
 *
 * Memory: every buffer lives in arenas allocated once by cnn_net_new for a
 * maximum batch size; cnn_net_forward, cnn_net_backward and cnn_net_step never
 * allocate.  Layout is NCHW float32; parameters are one vector in model order
 * (layer L's tensors start at L->param_offset, each in PyTorch's layout as
 * listed by L->ops->tensors), so weights files map onto it directly.
 *
 * Ownership: cnn_net_new returns a net the caller frees with cnn_net_free
 * (NULL is fine).  The model passed to cnn_net_new is borrowed and must outlive
 * the net. */
#ifndef CNN_NET_H
#define CNN_NET_H

#include <stddef.h>

#include "error.h"
#include "model.h"
#include "rng.h"
#include "thread_count.h"
#include "api.h"

CNN_BEGIN_DECLS

typedef struct cnn_net cnn_net;

/* Builds the net for batches of up to max_batch images. */
CNN_API int cnn_net_new(const cnn_model *m, int max_batch, cnn_net **out, cnn_error *err);
CNN_API void cnn_net_free(cnn_net *net);

CNN_API const cnn_model *cnn_net_model(const cnn_net *net);
CNN_API int cnn_net_max_batch(const cnn_net *net);

/* ---- parameters ------------------------------------------------------------ */

/* The parameter vector (model->nparams floats) and its gradient (same layout). */
CNN_API float *cnn_net_params(cnn_net *net);
CNN_API float *cnn_net_grads(cnn_net *net);

/* Keras' default initialization (Glorot-uniform kernels, zero biases, BN gamma 1,
 * beta 0, moving mean 0, moving variance 1), or He-normal kernels on request
 * (truncated normal, stddev sqrt(2 / fan_in), as Keras).  Draws from rng layer
 * by layer in storage order; also zeroes the optimizer state. */
CNN_API void cnn_net_init(cnn_net *net, int init, cnn_rng *rng);

/* ---- forward --------------------------------------------------------------- */

/* Runs the network on x (n, C, H, W) with 1 <= n <= max_batch; x holds x_len
 * floats, which must be exactly n * cnn_net_input_size(net) (so an image of the
 * wrong size is an error, never a read past the caller's buffer).  training=1
 * uses batch statistics (and updates BN running averages) and active dropout
 * drawing from rng; training=0 is inference (rng may be NULL).  x is copied
 * (the caller may reuse it before backward).  Returns -1 when net or x is NULL,
 * when n or x_len is out of range, when training with an active Dropout and
 * no rng, or when finite-value checking is on (cnn_net_check_finite) and a
 * value is a NaN or infinity: the message names the first layer that meets it,
 * e.g. "layer conv2d_1 (Conv2D): output contains NaN at image 3" (a bad x is
 * reported as the first layer's "input"). */
CNN_API int cnn_net_forward(cnn_net *net, const float *x, size_t x_len, int n, int training,
                            cnn_rng *rng, cnn_error *err);

/* A statistics pass over a batch of images: layers with moving statistics
 * (BatchNormalization) compute this batch's statistics and move their moving
 * statistics to moving * (1 - weight) + batch * weight (weight 1 replaces
 * them); random layers (Dropout) act as in inference; nothing is learned and
 * no backward may follow.  Run over the batches of a set with weight = the
 * batch's images / the images so far, it sets the statistics an inference
 * uses to their average over that set, as PyTorch's
 * torch.optim.swa_utils.update_bn does (the mean of the batches' biased
 * variances, which leaves out the spread of the batch means). */
CNN_API int cnn_net_stats_forward(cnn_net *net, const float *x, size_t x_len, int n,
                                  float weight, cnn_error *err);
/* 1 when the network has moving statistics (a BatchNormalization layer). */
CNN_API int cnn_net_has_moving_stats(const cnn_net *net);

/* Floats per image of the network's input: C * H * W of the model's input. */
CNN_API size_t cnn_net_input_size(const cnn_net *net);

/* Layer i's output after its activation, (n, out) of the last forward; NULL
 * when i is not a layer of the model (as for the two functions below). */
CNN_API const float *cnn_net_output(const cnn_net *net, int layer);
/* Layer i's output before its activation (the same buffer when the activation is
 * linear).  For the last layer with softmax these are the logits. */
CNN_API const float *cnn_net_preact(const cnn_net *net, int layer);

/* When on, forward and backward check every layer's output for NaN/infinity. */
CNN_API void cnn_net_check_finite(cnn_net *net, int on);

/* ---- loss ------------------------------------------------------------------ */

/* Loss of the last forward against integer class labels (n of them, each in
 * [0, K) where K is the size of the last layer's output per image), averaged
 * over the batch; NaN (and no seed) when a label is out of range or n is not
 * the last forward's batch size.  Writes the number of correct argmax
 * predictions to *correct when non-NULL.
 *
 * Cross-entropy is fused with a final softmax: with the logits z (the last
 * layer's pre-activation when its activation is softmax, otherwise its output
 * taken as logits) the loss is logsumexp(z) - z[label], finite for any finite
 * z, and the gradient (softmax(z) - onehot) / n is written to
 * cnn_net_grad_at(net, last, 1) (softmax) or (net, last, 0) (otherwise).
 * MSE (mean over the K outputs, then over the batch, one-hot target) writes
 * 2 (y - onehot) / (n K) to cnn_net_grad_at(net, last, 0).
 *
 * Seeding: after cnn_net_loss, call cnn_net_backward(net, n, last, 0, ...)
 * (pre = 0 or 1, it makes no difference then): backward knows where the loss
 * put the seed and does not take it through the activation a second time.
 * The loss seed stays in force until the next cnn_net_forward or
 * cnn_net_grad_at call. */
CNN_API float cnn_net_loss(cnn_net *net, const int *labels, int n, int loss, int *correct);

/* ---- backward -------------------------------------------------------------- */

/* The gradient buffer of layer i's output ((n, out) floats), to be filled by a
 * caller who starts backward at layer i (e.g. a visualization objective).
 * pre=1 gives the buffer for the gradient with respect to the pre-activation.
 * NULL when i is not a layer of the model. */
CNN_API float *cnn_net_grad_at(cnn_net *net, int layer, int pre);

/* Back-propagates from layer `from` (its output gradient seeded by
 * cnn_net_loss or the caller through cnn_net_grad_at(net, from, pre)) down to
 * the input.  pre=1: the seed is with respect to the layer's pre-activation, so
 * its activation is skipped; pre=0: the seed is with respect to its output and
 * goes through the activation first (softmax by its Jacobian-vector product).
 * After cnn_net_loss (from = last layer) pre is ignored: see cnn_net_loss.
 * Adds parameter gradients into cnn_net_grads (call cnn_net_zero_grads
 * first); when input_grad is non-NULL it receives the gradient with respect to
 * the input x, (n, C, H, W), grad_len floats that must be exactly
 * n * cnn_net_input_size(net) (input_grad NULL, grad_len 0, skips that work in
 * the first layer).  Uses the activations of the last forward (which must have
 * had the same n).  Returns -1 when `from` is out of range, n differs from the
 * last forward's, grad_len does not fit, or (checked mode) a layer's input
 * gradient holds a NaN or infinity. */
CNN_API int cnn_net_backward(cnn_net *net, int n, int from, int pre, float *input_grad,
                             size_t grad_len, cnn_error *err);

/* The same from layer `from` down to layer `to` < from only: afterwards
 * cnn_net_grad_at(net, to, 0) holds the gradient with respect to layer to's
 * output after its activation (what Grad-CAM needs), and layers to and below
 * are untouched.  Parameter gradients of the layers above are added as by
 * cnn_net_backward. */
CNN_API int cnn_net_backward_to(cnn_net *net, int n, int from, int pre, int to,
                                cnn_error *err);

CNN_API void cnn_net_zero_grads(cnn_net *net);

/* ---- data-parallel training ------------------------------------------------ */

struct cnn_comm;

/* Makes the net one of comm->size ranks training on slices of one global batch
 * (comm.h; NULL, the default, is one process).  A training forward then uses
 * BatchNormalization statistics summed over the ranks, and backward starts
 * summing each layer's parameter gradients over the ranks as soon as they are
 * ready; the caller completes those sums with comm->wait_all before
 * cnn_net_step.  The communicator is borrowed. */
CNN_API void cnn_net_set_comm(cnn_net *net, const struct cnn_comm *comm);

/* The images of the next forwards are images first.. of a global batch of
 * `total` (0: the whole batch, the default).  Dropout masks are drawn per
 * global image index, so they do not depend on how the batch is split, and
 * cnn_net_loss's gradient is that of the mean over the global batch. */
CNN_API void cnn_net_set_slice(cnn_net *net, int first, int total);

/* ---- optimization ---------------------------------------------------------- */

typedef struct cnn_optim {
    int kind;           /* enum cnn_optimizer */
    float momentum;     /* SGD */
    int nesterov;       /* SGD */
    float beta1, beta2, eps; /* Adam: 0.9, 0.999, 1e-7 (Keras' defaults) */
} cnn_optim;

/* Fills o from the model's training defaults. */
CNN_API void cnn_optim_from_training(cnn_optim *o, const cnn_training *t);

/* One update of the trainable parameters with learning rate lr, from the
 * gradients; non-trainable parameters (BN moving statistics) are untouched.
 * `step` is the 1-based update count (Adam's bias correction). */
CNN_API void cnn_net_step(cnn_net *net, const cnn_optim *o, float lr, long step);

/* Optimizer state: which=0 the SGD velocity / Adam first moment, which=1 the
 * Adam second moment, each model->nparams floats in the parameter layout
 * (which=1 gives NULL when the model's training optimizer is SGD).  Both are
 * zeroed by cnn_net_init.  For checkpoints. */
CNN_API float *cnn_net_opt_state(cnn_net *net, int which);

/* Learning rate for `epoch` (0-based) under the model's schedule:
 * constant; step (lr * gamma^(epoch / step_epochs)); cosine (lr * (1 + cos(pi *
 * progress)) / 2 with progress = (epoch*steps_per_epoch + step) /
 * (epochs*steps_per_epoch)). */
CNN_API float cnn_lr_at(const cnn_training *t, int epoch, long step_in_epoch, long steps_per_epoch);

CNN_END_DECLS

#endif
