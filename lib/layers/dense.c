/* Dense: a fully connected layer over a flat input; kernel (units, inputs).
 * Forward and backward are GEMMs over the whole batch, shared out over
 * libcnn's threads. */
#include "layer.h"

#include "blas.h"
#include "threads.h"

static const cnn_field dense_fields[] = {
    {"units", CNN_FIELD_INT, CNN_AT(units), CNN_REQUIRED, 1, 0, NULL, NULL, 0, NULL},
    {"use_bias", CNN_FIELD_BOOL, CNN_AT(use_bias), 1, 0, 0, NULL, NULL, 0, NULL},
    {"activation", CNN_FIELD_ENUM, CNN_AT(activation), CNN_ACT_LINEAR, 0, 0,
     cnn_activation_names, NULL, 0, NULL},
    {NULL},
};

static int dense_infer(cnn_layer *L, cnn_error *err)
{
    if (!L->in.flat)
        return cnn_errorf(err,
                          "Dense needs a flat input but gets (None, %d, %d, %d): add Flatten "
                          "(or a global pooling layer) before it",
                          L->in.h, L->in.w, L->in.c);
    L->out = (cnn_shape){.c = L->units, .h = 1, .w = 1, .flat = 1};
    L->nparams = (size_t)L->in.c * L->units + (L->use_bias ? (size_t)L->units : 0);
    L->ntrainable = L->nparams;
    return 0;
}

static int dense_tensors(const cnn_layer *L, cnn_tensor_info *t)
{
    size_t nk = (size_t)L->in.c * L->units;
    t[0] = (cnn_tensor_info){"kernel", 2, {L->units, L->in.c}, 0, nk, 1, CNN_ROLE_KERNEL};
    if (!L->use_bias) return 1;
    t[1] = (cnn_tensor_info){"bias", 1, {L->units}, nk, (size_t)L->units, 1, CNN_ROLE_BIAS};
    return 2;
}

static double dense_macs(const cnn_layer *L)
{
    return (double)L->in.c * L->units;
}

/* ---- math ------------------------------------------------------------------ */

/* One pass over a batch, shared out over libcnn's threads: by images for the
 * output and the input gradient, by units for the parameter gradients (so
 * each thread writes its own rows and nothing needs combining). */
typedef struct {
    const cnn_layer *L;
    int n;
    float *out, *din, *dw, *db;
    const float *in, *dout, *w, *bias;
} dense_job;

/* out[b0:b1] (rows, NU) = in[b0:b1] (rows, NI) x w^T (NI, NU) + bias */
static void forward_share(void *arg, int i, int t)
{
    const dense_job *j = arg;
    int NI = j->L->in.c, NU = j->L->units;
    size_t b0, b1;
    cnn_share((size_t)j->n, i, t, &b0, &b1);
    if (b0 == b1) return;
    for (size_t b = b0; b < b1; b++)
        for (int u = 0; u < NU; u++) j->out[b * NU + u] = j->bias ? j->bias[u] : 0.0f;
    cnn_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(b1 - b0), NU, NI, 1.0f,
              j->in + b0 * NI, NI, j->w, NI, 1.0f, j->out + b0 * NU, NU);
}

static void dense_forward(const cnn_layer *L, float *out, const float *in, float *params,
                          const cnn_layer_ctx *ctx)
{
    int NI = L->in.c, NU = L->units;
    dense_job j = {.L = L, .n = ctx->n, .out = out, .in = in,
                   .w = params,                                             /* (NU, NI) */
                   .bias = L->use_bias ? params + (size_t)NU * NI : NULL}; /* (NU) */
    cnn_parallel_run(ctx->n, forward_share, &j);
}

/* dw[u0:u1] (rows, NI) += dout[:, u0:u1]^T (rows, n) x in (n, NI), db[u0:u1];
 * din[b0:b1] (rows, NI) = dout[b0:b1] (rows, NU) x w (NU, NI). */
static void backward_share(void *arg, int i, int t)
{
    const dense_job *j = arg;
    int n = j->n, NI = j->L->in.c, NU = j->L->units;
    size_t u0, u1, b0, b1;
    cnn_share((size_t)NU, i, t, &u0, &u1);
    if (u0 < u1) {
        cnn_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(u1 - u0), NI, n, 1.0f,
                  j->dout + u0, NU, j->in, NI, 1.0f, j->dw + u0 * NI, NI);
        if (j->db)
            for (int b = 0; b < n; b++)
                for (size_t u = u0; u < u1; u++) j->db[u] += j->dout[(size_t)b * NU + u];
    }
    cnn_share((size_t)n, i, t, &b0, &b1);
    if (j->din && b0 < b1)
        cnn_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(b1 - b0), NI, NU, 1.0f,
                  j->dout + b0 * NU, NU, j->w, NI, 0.0f, j->din + b0 * NI, NI);
}

static void dense_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                           const float *in, const float *out, const float *params,
                           const cnn_layer_ctx *ctx)
{
    (void)out;
    int NI = L->in.c, NU = L->units;
    dense_job j = {.L = L, .n = ctx->n, .din = din, .in = in, .dout = dout,
                   .w = params,                                            /* (NU, NI) */
                   .dw = dparams,                                          /* (NU, NI) */
                   .db = L->use_bias ? dparams + (size_t)NU * NI : NULL}; /* (NU) */
    cnn_parallel_run(ctx->n > NU ? ctx->n : NU, backward_share, &j);
}

const cnn_layer_ops cnn_dense_ops = {
    .type = "Dense",
    .auto_name = "dense",
    .fields = dense_fields,
    .infer = dense_infer,
    .tensors = dense_tensors,
    .macs = dense_macs,
    .forward = dense_forward,
    .backward = dense_backward,
};
