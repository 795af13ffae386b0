/* The network: arenas sized once from the model, the forward and backward
 * passes over the layer kinds' operations tables, the losses, the optimizers
 * and the learning-rate schedules. */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "blas.h"
#include "net_internal.h"
#include "comm.h"
#include "threads.h"
#include "layer.h"

struct cnn_net {
    const cnn_model *m;
    int max_batch;

    /* One block of 4 * nparams floats with named pointers into it (and, in a
     * net not made for training, the activations' block too: see net_new). */
    float *param_block; /* cnn_big_calloc: param_mapped bytes */
    size_t param_mapped;
    float *params; /* (nparams) in model order */
    float *grads;  /* (nparams) same layout */
    float *opt_m;  /* (nparams) SGD velocity / Adam first moment */
    float *opt_v;  /* (nparams) Adam second moment */

    /* One block for activations, their gradients and the layers' state, per
     * layer (max_batch, out) each.  post == pre and dpost == dpre when the
     * layer's activation is linear; dpost == dpre also under relu, whose
     * backward goes elementwise in place (the lecture model's first
     * convolution alone saves 4.3 MB at batch 64: bench/README.md). */
    float *act_block; /* cnn_big_calloc: act_mapped bytes (NULL: in param_block) */
    size_t act_mapped;
    float *input; /* (max_batch, C, H, W): a copy of the last forward's x, which
                   * layer 0's backward reads */
    float **pre, **post, **dpre, **dpost, **state;
    float *scratch; /* shared by all layers, sized for the largest need */

    /* Trainable ranges of the parameter vector, for the optimizers. */
    int nranges;
    size_t *range_off, *range_len;

    int lean;          /* cnn_net_new_training: a relu layer's output overwrites
                        * its pre-activation (pre[i] == post[i]) */
    int check;         /* check every output for NaN / infinity */
    int last_n;        /* batch size of the last forward (0: none yet) */
    int last_training; /* its mode, which backward must match */
    int loss_seed;     /* 0, or where cnn_net_loss put the last layer's gradient:
                        * SEED_PRE (dpre) or SEED_POST (dpost) */

    /* Data-parallel training (cnn_net_set_comm, cnn_net_set_slice). */
    const cnn_comm *comm; /* NULL: one process */
    int first, total;     /* this slice's first image in the global batch, and
                           * that batch's size (0: the slice is the batch) */
};

enum { SEED_NONE, SEED_PRE, SEED_POST };

/* ======================================================================== */
/* Building                                                                 */
/* ======================================================================== */

static int net_new(const cnn_model *m, int max_batch, int lean, cnn_net **out, cnn_error *err);

int cnn_net_new(const cnn_model *m, int max_batch, cnn_net **out, cnn_error *err)
{
    return net_new(m, max_batch, 0, out, err);
}

int cnn_net_new_training(const cnn_model *m, int max_batch, cnn_net **out, cnn_error *err)
{
    return net_new(m, max_batch, 1, out, err);
}

static int net_new(const cnn_model *m, int max_batch, int lean, cnn_net **out, cnn_error *err)
{
    *out = NULL;
    if (max_batch < 1) return cnn_errorf(err, "batch size must be at least 1, got %d", max_batch);
    int nl = m->nlayers;
    cnn_net *net = calloc(1, sizeof *net);
    if (!net) return cnn_errorf(err, "out of memory");
    net->m = m;
    net->max_batch = max_batch;
    net->lean = lean;

    net->pre = calloc((size_t)nl, sizeof(float *));
    net->post = calloc((size_t)nl, sizeof(float *));
    net->dpre = calloc((size_t)nl, sizeof(float *));
    net->dpost = calloc((size_t)nl, sizeof(float *));
    net->state = calloc((size_t)nl, sizeof(float *));
    net->range_off = calloc((size_t)nl * CNN_MAX_LAYER_TENSORS + 1, sizeof(size_t));
    net->range_len = calloc((size_t)nl * CNN_MAX_LAYER_TENSORS + 1, sizeof(size_t));
    if (!net->pre || !net->post || !net->dpre || !net->dpost || !net->state ||
        !net->range_off || !net->range_len)
        goto oom;

    /* activations, gradients and state: sized first */
    double total = (double)cnn_shape_size(m->input) * max_batch, scratch = 0;
    for (int i = 0; i < nl; i++) {
        const cnn_layer *L = &m->layers[i];
        double sz = (double)cnn_shape_size(L->out) * max_batch;
        int act = L->activation != CNN_ACT_LINEAR;
        /* pre, dpre; post and dpost unless shared: relu's backward needs only
         * its output, and goes in place (dpost = dpre) */
        total += sz * (act ? L->activation == CNN_ACT_RELU ? 3 - lean : 4 : 2);
        if (L->ops->state_size) total += (double)L->ops->state_size(L, max_batch);
        if (L->ops->scratch_size) {
            double s = (double)L->ops->scratch_size(L, max_batch);
            if (s > scratch) scratch = s;
        }
    }
    total += scratch;
    if (total * sizeof(float) > (double)SIZE_MAX / 2)
        return cnn_net_free(net), cnn_errorf(err, "the activations for batch %d do not fit in "
                                                  "memory", max_batch);
    /* Parameters, gradients and optimizer state in one block, the activations
     * in another, each zeroed by the kernel, not by memset: pages no pass
     * writes (the scratch slots of threads that do not run, a batch smaller
     * than max_batch, gradients in a prediction) then never count in the RSS
     * (to 2 MiB, bigmem.h).  A net not made for training has them in one
     * block, parameters and activations side by side and first: a prediction
     * of one image then touches one 2 MiB page where two blocks took two, each
     * ~130 us to zero (bench/README.md, "Start-up").  (Training keeps two: in
     * one block its gradients' tail took a 2 MiB page of its own, and
     * Fashion-MNIST's peak RSS rose from 69.8 to 72.4 MiB.) */
    size_t np = m->nparams, acts = (size_t)total + 1;
    net->param_block = cnn_big_calloc((4 * np + (lean ? 1 : acts)) * sizeof(float), 0,
                                      &net->param_mapped);
    if (lean && net->param_block)
        net->act_block = cnn_big_calloc(acts * sizeof(float), 0, &net->act_mapped);
    if (!net->param_block || (lean && !net->act_block)) {
        cnn_net_free(net);
        return cnn_errorf(err, "out of memory: %.0f MB of parameters and activations for "
                               "batch size %d", (4.0 * np + acts) * sizeof(float) / 1e6,
                          max_batch);
    }
    net->params = net->param_block;
    float *p = lean ? net->act_block : net->params + np;
    net->grads = lean ? net->params + np : p + acts;
    net->opt_m = net->grads + np;
    net->opt_v = net->opt_m + np;
    net->input = p, p += cnn_shape_size(m->input) * (size_t)max_batch;
    for (int i = 0; i < nl; i++) {
        const cnn_layer *L = &m->layers[i];
        size_t sz = cnn_shape_size(L->out) * (size_t)max_batch;
        int act = L->activation != CNN_ACT_LINEAR;
        net->pre[i] = p, p += sz;
        net->dpre[i] = p, p += sz;
        if (act) {
            if (lean && L->activation == CNN_ACT_RELU)
                net->post[i] = net->pre[i];
            else
                net->post[i] = p, p += sz;
            if (L->activation == CNN_ACT_RELU)
                net->dpost[i] = net->dpre[i];
            else
                net->dpost[i] = p, p += sz;
        } else {
            net->post[i] = net->pre[i];
            net->dpost[i] = net->dpre[i];
        }
        if (L->ops->state_size) net->state[i] = p, p += L->ops->state_size(L, max_batch);
    }
    net->scratch = p;

    for (int i = 0; i < nl; i++) {
        const cnn_layer *L = &m->layers[i];
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(L, t);
        for (int k = 0; k < nt; k++) {
            if (!t[k].trainable) continue;
            net->range_off[net->nranges] = L->param_offset + t[k].offset;
            net->range_len[net->nranges] = t[k].count;
            net->nranges++;
        }
    }
    *out = net;
    return 0;
oom:
    cnn_net_free(net);
    return cnn_errorf(err, "out of memory");
}

void cnn_net_free(cnn_net *net)
{
    if (!net) return;
    cnn_big_free(net->param_block, net->param_mapped);
    cnn_big_free(net->act_block, net->act_mapped);
    free(net->pre);
    free(net->post);
    free(net->dpre);
    free(net->dpost);
    free(net->state);
    free(net->range_off);
    free(net->range_len);
    free(net);
}

const cnn_model *cnn_net_model(const cnn_net *net)
{
    return net->m;
}

int cnn_net_max_batch(const cnn_net *net)
{
    return net->max_batch;
}

float *cnn_net_params(cnn_net *net)
{
    return net->params;
}

float *cnn_net_grads(cnn_net *net)
{
    return net->grads;
}

void cnn_net_zero_grads(cnn_net *net)
{
    memset(net->grads, 0, net->m->nparams * sizeof(float));
}

void cnn_net_init(cnn_net *net, int init, cnn_rng *rng)
{
    for (int i = 0; i < net->m->nlayers; i++) {
        const cnn_layer *L = &net->m->layers[i];
        float *p = net->params + L->param_offset;
        if (L->ops->init)
            L->ops->init(L, p, init, rng);
        else
            cnn_layer_init_default(L, p, init, rng);
    }
    memset(net->opt_m, 0, 2 * net->m->nparams * sizeof(float));
}

/* ======================================================================== */
/* Forward and backward                                                     */
/* ======================================================================== */

void cnn_net_check_finite(cnn_net *net, int on)
{
    net->check = on;
}

/* Index of the first non-finite value of x[0..len), or -1. */
static long find_nonfinite(const float *x, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

/* Fails naming layer i when x (n images of per floats) holds a NaN or infinity. */
static int check_buf(const cnn_net *net, int i, const char *what, const float *x, int n,
                     size_t per, cnn_error *err)
{
    long at = find_nonfinite(x, (size_t)n * per);
    if (at < 0) return 0;
    const cnn_layer *L = &net->m->layers[i];
    return cnn_errorf(err, "layer %s (%s): %s contains %s at image %ld", L->name, L->ops->type,
                      what, isnan(x[at]) ? "NaN" : "infinity", at / (long)per);
}

static cnn_layer_ctx layer_ctx(const cnn_net *net, int i, int n, int training, cnn_rng *rng)
{
    const cnn_comm *c = net->comm && net->comm->size > 1 ? net->comm : NULL;
    return (cnn_layer_ctx){.n = n, .training = training, .rng = rng, .scratch = net->scratch,
                           .state = net->state[i], .comm = c, .first = net->first};
}

size_t cnn_net_input_size(const cnn_net *net)
{
    return net ? cnn_shape_size(net->m->input) : 0;
}

/* The caller's buffer of len floats against n images of the input shape. */
static int check_input_len(const cnn_net *net, const char *what, size_t len, int n, cnn_error *err)
{
    cnn_shape s = net->m->input;
    size_t per = cnn_shape_size(s), want = (size_t)n * per;
    if (len == want) return 0;
    if (len % per == 0 || n != 1)
        return cnn_errorf(err,
                          "%s of %zu floats for %d image%s: the model's input is (%d, %d, %d) "
                          "= %zu floats per image, %zu in all",
                          what, len, n, n == 1 ? "" : "s", s.c, s.h, s.w, per, want);
    return cnn_errorf(err, "%s of %zu floats: the model takes (%d, %d, %d) = %zu floats per image",
                      what, len, s.c, s.h, s.w, per);
}

static int forward(cnn_net *net, const float *x, size_t x_len, int n, int training, cnn_rng *rng,
                   float stat_weight, cnn_error *err);

/* cnn_blas_enter around a forward (backward 0) or backward pass, when a layer
 * of the net may call OpenBLAS in it; *host = 1 (nothing to restore) when not. */
static int blas_enter(const cnn_net *net, int backward, int *host, cnn_error *err)
{
    *host = 1;
    for (int i = 0; net && i < net->m->nlayers; i++) {
        const cnn_layer *L = &net->m->layers[i];
        if (L->ops->uses_blas && L->ops->uses_blas(L, backward)) return cnn_blas_enter(host, err);
    }
    return 0;
}

int cnn_net_forward(cnn_net *net, const float *x, size_t x_len, int n, int training, cnn_rng *rng,
                    cnn_error *err)
{
    int host;
    if (blas_enter(net, 0, &host, err)) return -1;
    int rc = forward(net, x, x_len, n, training, rng, 0, err);
    cnn_blas_leave(host);
    return rc;
}

int cnn_net_stats_forward(cnn_net *net, const float *x, size_t x_len, int n, float weight,
                          cnn_error *err)
{
    if (!(weight > 0 && weight <= 1))
        return cnn_errorf(err, "statistics pass: weight %g is not in (0, 1]", weight);
    int host;
    if (blas_enter(net, 0, &host, err)) return -1;
    int rc = forward(net, x, x_len, n, 1, NULL, weight, err);
    cnn_blas_leave(host);
    if (net) net->last_n = 0; /* no backward through a statistics pass */
    return rc;
}

int cnn_net_has_moving_stats(const cnn_net *net)
{
    if (!net) return 0;
    for (int i = 0; i < net->m->nlayers; i++) {
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(&net->m->layers[i], t);
        for (int j = 0; j < nt; j++)
            if (t[j].role == CNN_ROLE_MOVING_MEAN || t[j].role == CNN_ROLE_MOVING_VARIANCE)
                return 1;
    }
    return 0;
}

/* stat_weight > 0: a statistics pass (cnn_net_stats_forward): layers with
 * batch statistics run as in training, random ones (Dropout) as in inference. */
static int forward(cnn_net *net, const float *x, size_t x_len, int n, int training, cnn_rng *rng,
                   float stat_weight, cnn_error *err)
{
    if (!net || !x)
        return cnn_errorf(err, "forward: %s is NULL", net ? "the input" : "the network");
    const cnn_model *m = net->m;
    if (n < 1 || n > net->max_batch)
        return cnn_errorf(err, "batch of %d images: expected 1 to %d", n, net->max_batch);
    if (check_input_len(net, "input", x_len, n, err)) return -1;
    net->loss_seed = SEED_NONE;
    net->last_n = 0;
    if (training && !rng && !(stat_weight > 0))
        for (int i = 0; i < m->nlayers; i++) {
            const cnn_layer *L = &m->layers[i];
            if (L->ops->needs_rng && L->ops->needs_rng(L))
                return cnn_errorf(err, "layer %s (%s): training needs a random generator",
                                  L->name, L->ops->type);
        }
    if (net->check && check_buf(net, 0, "input", x, n, cnn_shape_size(m->input), err)) return -1;
    memcpy(net->input, x, (size_t)n * cnn_shape_size(m->input) * sizeof(float));
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        const float *in = i ? net->post[i - 1] : net->input;
        cnn_layer_ctx ctx = layer_ctx(net, i, n, training, rng);
        if (stat_weight > 0) {
            ctx.stat_weight = stat_weight;
            if (L->ops->needs_rng && L->ops->needs_rng(L)) ctx.training = 0;
        }
        /* (a lean net checking for NaN keeps the relu apart: the check reads
         * the output before relu, which would turn NaN into 0) */
        int fused = L->activation == CNN_ACT_RELU && L->ops->fuses_relu && !(net->lean && net->check);
        if (fused) ctx.post = net->post[i];
        L->ops->forward(L, net->pre[i], in, net->params + L->param_offset, &ctx);
        size_t per = cnn_shape_size(L->out);
        if (L->activation != CNN_ACT_LINEAR) {
            if (net->check && check_buf(net, i, "output", net->pre[i], n, per, err)) return -1;
            if (!fused)
                cnn_activation_apply(L->activation, net->post[i], net->pre[i], n, L->out.c,
                                     L->out.h * L->out.w);
        }
        if (net->check && check_buf(net, i, "output", net->post[i], n, per, err)) return -1;
    }
    net->last_n = n;
    net->last_training = training;
    return 0;
}

const float *cnn_net_output(const cnn_net *net, int layer)
{
    if (!net || layer < 0 || layer >= net->m->nlayers) return NULL;
    return net->post[layer];
}

const float *cnn_net_preact(const cnn_net *net, int layer)
{
    if (!net || layer < 0 || layer >= net->m->nlayers) return NULL;
    if (net->pre[layer] == net->post[layer] && net->m->layers[layer].activation != CNN_ACT_LINEAR)
        return NULL; /* a lean net's relu overwrote it */
    return net->pre[layer];
}

float *cnn_net_grad_at(cnn_net *net, int layer, int pre)
{
    if (!net || layer < 0 || layer >= net->m->nlayers) return NULL;
    net->loss_seed = SEED_NONE; /* the caller seeds from here on */
    return pre ? net->dpre[layer] : net->dpost[layer];
}

/* dpre[i] from dpost[i] through layer i's activation. */
static void activation_back(cnn_net *net, int i, int n)
{
    const cnn_layer *L = &net->m->layers[i];
    if (L->activation == CNN_ACT_LINEAR) return; /* the same buffer */
    cnn_activation_backward(L->activation, net->dpre[i], net->dpost[i], net->post[i], n, L->out.c,
                            L->out.h * L->out.w);
}

static int start_sum(const cnn_comm *c, float *buf, size_t n)
{
    return c->start_sum ? c->start_sum(c->ctx, buf, n) : c->sum_float(c->ctx, buf, n);
}

void cnn_net_set_comm(cnn_net *net, const cnn_comm *comm)
{
    net->comm = comm;
}

void cnn_net_set_slice(cnn_net *net, int first, int total)
{
    net->first = first;
    net->total = total;
}

static int backward(cnn_net *net, int n, int from, int pre, int stop, float *input_grad,
                    size_t grad_len, cnn_error *err);

int cnn_net_backward(cnn_net *net, int n, int from, int pre, float *input_grad, size_t grad_len,
                     cnn_error *err)
{
    int host;
    if (blas_enter(net, 1, &host, err)) return -1;
    int rc = backward(net, n, from, pre, -1, input_grad, grad_len, err);
    cnn_blas_leave(host);
    return rc;
}

int cnn_net_backward_to(cnn_net *net, int n, int from, int pre, int to, cnn_error *err)
{
    if (net && (to < 0 || to >= from))
        return cnn_errorf(err, "backward from layer %d to layer %d: the stop must be below", from,
                          to);
    int host;
    if (blas_enter(net, 1, &host, err)) return -1;
    int rc = backward(net, n, from, pre, to, NULL, 0, err);
    cnn_blas_leave(host);
    return rc;
}

/* stop >= 0: layers from .. stop + 1 only, leaving the gradient of layer
 * stop's output (after its activation) in dpost[stop]. */
static int backward(cnn_net *net, int n, int from, int pre, int stop, float *input_grad,
                    size_t grad_len, cnn_error *err)
{
    if (!net) return cnn_errorf(err, "backward: the network is NULL");
    const cnn_model *m = net->m;
    if (from < 0 || from >= m->nlayers)
        return cnn_errorf(err, "backward from layer %d: the model has layers 0 to %d", from,
                          m->nlayers - 1);
    if (net->last_n == 0 || n != net->last_n)
        return cnn_errorf(err, "backward over %d images, but the last forward ran %d", n,
                          net->last_n);
    if (input_grad && check_input_len(net, "input gradient", grad_len, n, err)) return -1;
    int seed_pre = pre;
    if (from == m->nlayers - 1 && net->loss_seed != SEED_NONE)
        seed_pre = net->loss_seed == SEED_PRE;
    if (!seed_pre) activation_back(net, from, n);
    for (int i = from; i > stop; i--) {
        const cnn_layer *L = &m->layers[i];
        float *din = i ? net->dpost[i - 1] : input_grad;
        const float *in = i ? net->post[i - 1] : net->input;
        cnn_layer_ctx ctx = layer_ctx(net, i, n, net->last_training, NULL);
        L->ops->backward(L, din, net->grads + L->param_offset, net->dpre[i], in, net->pre[i],
                         net->params + L->param_offset, &ctx);
        /* Data-parallel: this layer's gradients are final; their sum over the
         * ranks runs while the layers below are back-propagated. */
        if (ctx.comm && L->nparams && net->last_training &&
            start_sum(ctx.comm, net->grads + L->param_offset, L->nparams))
            return cnn_errorf(err, "summing the gradients of layer %s over the ranks failed",
                              L->name);
        if (net->check && din &&
            check_buf(net, i, "input gradient", din, n, cnn_shape_size(L->in), err))
            return -1;
        if (i && i - 1 > stop) activation_back(net, i - 1, n);
    }
    return 0;
}

/* ======================================================================== */
/* Loss                                                                     */
/* ======================================================================== */

float cnn_net_loss(cnn_net *net, const int *labels, int n, int loss, int *correct)
{
    const cnn_model *m = net->m;
    int last = m->nlayers - 1;
    const cnn_layer *L = &m->layers[last];
    int K = (int)cnn_shape_size(L->out);
    const float *y = net->post[last]; /* (n, K) */
    if (correct) *correct = 0;
    net->loss_seed = SEED_NONE;
    if (n < 1 || n != net->last_n) return NAN;
    for (int b = 0; b < n; b++)
        if (labels[b] < 0 || labels[b] >= K) return NAN;
    if (correct)
        for (int b = 0; b < n; b++) {
            const float *yb = y + (size_t)b * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (yb[k] > yb[best]) best = k;
            *correct += best == labels[b];
        }

    double total = 0.0;
    /* The gradient is of the mean over the global batch (cnn_net_set_slice). */
    int gn = net->total > 0 ? net->total : n;
    if (loss == CNN_LOSS_MSE) {
        /* mean over the K outputs, then over the batch (Keras' "mse") */
        float *g = net->dpost[last];
        for (int b = 0; b < n; b++)
            for (int k = 0; k < K; k++) {
                size_t i = (size_t)b * K + k;
                float d = y[i] - (k == labels[b] ? 1.0f : 0.0f);
                total += (double)d * d / K;
                g[i] = 2.0f * d / ((float)K * gn);
            }
        net->loss_seed = SEED_POST;
        return (float)(total / n);
    }

    /* Cross-entropy of softmax(z): z are the logits (the pre-activations when
     * the layer's activation is softmax, the outputs otherwise).  log-sum-exp
     * with the max subtracted keeps it finite for any finite z; the gradient
     * with respect to z is (softmax(z) - onehot) / n. */
    int fused = L->activation == CNN_ACT_SOFTMAX;
    const float *z = fused ? net->pre[last] : y;
    float *g = fused ? net->dpre[last] : net->dpost[last];
    for (int b = 0; b < n; b++) {
        const float *zb = z + (size_t)b * K;
        float *gb = g + (size_t)b * K;
        float mx = zb[0];
        for (int k = 1; k < K; k++) mx = fmaxf(mx, zb[k]);
        double s = 0.0;
        for (int k = 0; k < K; k++) s += exp((double)zb[k] - mx);
        double lse = mx + log(s);
        total += lse - zb[labels[b]];
        for (int k = 0; k < K; k++)
            gb[k] = (float)((exp((double)zb[k] - lse) - (k == labels[b])) / gn);
    }
    net->loss_seed = fused ? SEED_PRE : SEED_POST;
    return (float)(total / n);
}

/* ======================================================================== */
/* Optimizers and schedules                                                 */
/* ======================================================================== */

void cnn_optim_from_training(cnn_optim *o, const cnn_training *t)
{
    *o = (cnn_optim){.kind = t->optimizer,
                     .momentum = t->momentum,
                     .nesterov = t->nesterov,
                     .beta1 = 0.9f,
                     .beta2 = 0.999f,
                     .eps = 1e-7f};
}

typedef struct {
    cnn_net *net;
    const cnn_optim *o;
    float lr, alpha; /* alpha: Adam's step size with the bias corrections folded in */
} step_job;

/* Share i of every trainable range: each element's update depends on that
 * element alone, so any split gives the same result. */
static void step_share(void *arg, int i, int t)
{
    const step_job *j = arg;
    cnn_net *net = j->net;
    const cnn_optim *o = j->o;
    float lr = j->lr;
    for (int r = 0; r < net->nranges; r++) {
        size_t lo, hi;
        cnn_share(net->range_len[r], i, t, &lo, &hi);
        size_t off = net->range_off[r] + lo, len = hi - lo;
        float *w = net->params + off, *g = net->grads + off;
        float *mm = net->opt_m + off, *vv = net->opt_v + off;
        if (o->kind == CNN_OPT_ADAM) {
            float alpha = j->alpha, b1 = o->beta1, b2 = o->beta2, eps = o->eps;
            for (size_t k = 0; k < len; k++) {
                mm[k] = b1 * mm[k] + (1.0f - b1) * g[k];
                vv[k] = b2 * vv[k] + (1.0f - b2) * g[k] * g[k];
                w[k] -= alpha * mm[k] / (sqrtf(vv[k]) + eps);
            }
            continue;
        }
        /* SGD as Keras: v = momentum * v - lr * g; w += v, or with Nesterov
         * w += momentum * v - lr * g. */
        float mu = o->momentum, *v = mm;
        if (mu == 0.0f) {
            for (size_t k = 0; k < len; k++) w[k] -= lr * g[k];
        } else if (o->nesterov) {
            for (size_t k = 0; k < len; k++) {
                v[k] = mu * v[k] - lr * g[k];
                w[k] += mu * v[k] - lr * g[k];
            }
        } else {
            for (size_t k = 0; k < len; k++) {
                v[k] = mu * v[k] - lr * g[k];
                w[k] += v[k];
            }
        }
    }
}

void cnn_net_step(cnn_net *net, const cnn_optim *o, float lr, long step)
{
    step_job j = {net, o, lr, 0.0f};
    if (o->kind == CNN_OPT_ADAM) {
        /* Keras: the bias corrections fold into the step size, and epsilon is
         * added to sqrt(v) uncorrected. */
        double t = (double)(step < 1 ? 1 : step);
        j.alpha = (float)(lr * sqrt(1.0 - pow(o->beta2, t)) / (1.0 - pow(o->beta1, t)));
    }
    /* a share per 16k parameters at most: small nets are not worth a hand-over */
    size_t np = net->m->nparams;
    cnn_parallel_run((int)(np / 16384 + 1 < CNN_MAX_THREADS ? np / 16384 + 1 : CNN_MAX_THREADS),
                     step_share, &j);
}

float *cnn_net_opt_state(cnn_net *net, int which)
{
    if (which == 0) return net->opt_m;
    if (which == 1 && net->m->training.optimizer == CNN_OPT_ADAM) return net->opt_v;
    return NULL;
}

float cnn_lr_at(const cnn_training *t, int epoch, long step_in_epoch, long steps_per_epoch)
{
    double lr = t->learning_rate;
    switch (t->schedule) {
    case CNN_SCHED_STEP:
        return (float)(lr * pow(t->step_gamma, epoch / (t->step_epochs > 0 ? t->step_epochs : 1)));
    case CNN_SCHED_COSINE: {
        double total = (double)t->epochs * steps_per_epoch;
        double progress = total > 0 ? ((double)epoch * steps_per_epoch + step_in_epoch) / total : 0;
        if (progress > 1) progress = 1;
        return (float)(lr * (1.0 + cos(3.14159265358979323846 * progress)) / 2.0);
    }
    default:
        return (float)lr;
    }
}
