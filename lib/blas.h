/* Internal: OpenBLAS, loaded at the first GEMM instead of at process start.
 *
 * Loading the pthread build of OpenBLAS costs a program that never multiplies
 * a matrix (cnn-summary, cnn-data info) several times its own run time: its
 * dynamic-arch initialization and relocations, libgfortran, and a worker
 * thread started at load.  So libcnn does not link it: cnn_blas_enter
 * dlopen()s it once (pthread_once) and resolves the few functions libcnn uses,
 * and the net calls cnn_blas_enter only around a pass with a layer that may
 * call cnn_sgemm (the layer ops' uses_blas): a prediction through kernels of
 * libcnn's own (Dense, and Conv2D with libxsmm) never loads it.
 *
 * Which file: the environment variable CNN_OPENBLAS when set (a path or a
 * soname, for an OpenBLAS of one's own); else the libopenblas.so.0 the
 * process has loaded already (a host that links OpenBLAS keeps its one copy
 * and its settings); else the one pkg-config's openblas named at build time
 * (CNN_OPENBLAS_PATH); else the soname libopenblas.so.0 from the loader's
 * search path. */
#ifndef CNN_BLAS_H
#define CNN_BLAS_H

#include <cblas.h>

#include "error.h"

/* Around a pass that calls cnn_sgemm from libcnn's threads: loads OpenBLAS
 * the first time, sets it to one thread and stores the host's setting in
 * *host, which cnn_blas_leave restores.  0, or -1 with err filled when
 * OpenBLAS cannot be loaded (then nothing is to be left). */
int cnn_blas_enter(int *host, cnn_error *err);
void cnn_blas_leave(int host);

/* cblas_sgemm of the loaded OpenBLAS.  Only between a successful
 * cnn_blas_enter and its cnn_blas_leave. */
void cnn_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m,
               int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc);

#endif
