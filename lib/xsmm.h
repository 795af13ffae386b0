/* Internal: small-GEMM kernels JIT-compiled by libxsmm (Debian libxsmm-dev) for
 * the per-image products of the conv layers, with OpenBLAS (blas.h) behind them.
 *
 * libxsmm generates, at run time, a kernel for one GEMM shape and the CPU it
 * runs on; libcnn uses them on AVX-512 CPUs (elsewhere OpenBLAS's own run-time
 * dispatch picks its AVX2 or SSE kernels).  A shape's kernel is made once per
 * process and kept (lib/xsmm.c), so the same shape gets the same kernel and
 * the same bits whatever the batch around an image or the thread count.
 *
 * Built without libxsmm (no libxsmm.h at build time: CNN_HAVE_XSMM undefined),
 * or when libxsmm declines a shape, cnn_gemm_kernel returns NULL and the caller
 * uses cnn_sgemm.  Measurements: bench/README.md ("Conv kernels"). */
#ifndef CNN_XSMM_H
#define CNN_XSMM_H

/* A column-major kernel C (m x n) = A (m x k) op(B) + beta C, B (k x n), or
 * (n x k) stored when trans_b, leading dimensions lda, ldb, ldc; alpha 1. */
typedef struct {
    void *fn; /* the kernel, NULL: use cnn_sgemm */
} cnn_gemm_kernel;

/* The kernel of this shape, or {NULL} (no libxsmm, no AVX-512, beta other
 * than 0 or 1, or a shape libxsmm declines).  Thread-safe (a mutex). */
cnn_gemm_kernel cnn_gemm_kernel_get(int m, int n, int k, int lda, int ldb, int ldc, float beta,
                                    int trans_b);

/* Runs a kernel cnn_gemm_kernel_get returned (fn not NULL) on a, b, c. */
void cnn_gemm_kernel_run(cnn_gemm_kernel kern, const float *a, const float *b, float *c);

/* "libxsmm <version> (<arch>)", or which fallback is used and why. */
const char *cnn_gemm_kernel_name(void);

#endif
