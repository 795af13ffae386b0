/* Dense: a fully connected layer over a flat input; kernel (units, inputs).
 * Forward and backward are one GEMM each over the whole batch. */
#include "layer.h"

#include <cblas.h>

static int dense_configure(cnn_layer *L, const cnn_cfg *cfg, cnn_error *err)
{
    return cnn_cfg_int(cfg, "units", CNN_REQUIRED, 1, &L->units, err) ||
                   cnn_cfg_bool(cfg, "use_bias", 1, &L->use_bias, err)
               ? -1
               : 0;
}

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
    t[0] = (cnn_tensor_info){"kernel", 2, {L->units, L->in.c}, 0, nk, 1};
    if (!L->use_bias) return 1;
    t[1] = (cnn_tensor_info){"bias", 1, {L->units}, nk, (size_t)L->units, 1};
    return 2;
}

static double dense_macs(const cnn_layer *L)
{
    return (double)L->in.c * L->units;
}

/* ---- math ------------------------------------------------------------------ */

static void dense_forward(const cnn_layer *L, float *out, const float *in, float *params,
                          const cnn_layer_ctx *ctx)
{
    int n = ctx->n, NI = L->in.c, NU = L->units;
    const float *w = params;                                      /* (NU, NI) */
    const float *bias = L->use_bias ? params + (size_t)NU * NI : NULL; /* (NU) */
    /* out (n, NU) = in (n, NI) x w^T (NI, NU) + bias */
    for (int b = 0; b < n; b++)
        for (int u = 0; u < NU; u++) out[(size_t)b * NU + u] = bias ? bias[u] : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, NU, NI, 1.0f, in, NI, w, NI, 1.0f, out,
                NU);
}

static void dense_backward(const cnn_layer *L, float *din, float *dparams, const float *dout,
                           const float *in, const float *out, const float *params,
                           const cnn_layer_ctx *ctx)
{
    (void)out;
    int n = ctx->n, NI = L->in.c, NU = L->units;
    const float *w = params;                                   /* (NU, NI) */
    float *dw = dparams;                                       /* (NU, NI) */
    float *db = L->use_bias ? dparams + (size_t)NU * NI : NULL;  /* (NU) */
    /* dw (NU, NI) += dout^T (NU, n) x in (n, NI) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, NU, NI, n, 1.0f, dout, NU, in, NI, 1.0f, dw,
                NI);
    if (db)
        for (int b = 0; b < n; b++)
            for (int u = 0; u < NU; u++) db[u] += dout[(size_t)b * NU + u];
    /* din (n, NI) = dout (n, NU) x w (NU, NI) */
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, NI, NU, 1.0f, dout, NU, w, NI, 0.0f,
                    din, NI);
}

const cnn_layer_ops cnn_dense_ops = {
    .type = "Dense",
    .auto_name = "dense",
    .has_activation = 1,
    .configure = dense_configure,
    .infer = dense_infer,
    .tensors = dense_tensors,
    .macs = dense_macs,
    .forward = dense_forward,
    .backward = dense_backward,
};
