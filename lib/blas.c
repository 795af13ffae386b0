/* OpenBLAS loaded at the first GEMM (blas.h says why and which file).
 *
 * The functions are resolved once, under pthread_once; afterwards the pointers
 * only are read.  A pass's worker threads get them through the pool's mutex
 * hand-over, after the loading thread stored them.  The library is never
 * closed: OpenBLAS's threads and buffers live until the process exits. */
#include "blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CNN_OPENBLAS_PATH
#define CNN_OPENBLAS_PATH "libopenblas.so.0"
#endif
#define SONAME "libopenblas.so.0"

static __typeof__(&cblas_sgemm) sgemm;
static __typeof__(&openblas_get_num_threads) get_threads;
static __typeof__(&openblas_set_num_threads) set_threads;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[CNN_ERROR_MAX]; /* the loading failure, for every caller */

/* Opens `name` (with RTLD_NOLOAD: only if the process has it already); a
 * failure's reason is appended to tried.  Lazy binding, as a linked library
 * would have: OpenBLAS has thousands of functions and libcnn calls three. */
static void *open_lib(const char *name, int noload, char *tried, size_t len)
{
    void *h = dlopen(name, RTLD_LAZY | RTLD_LOCAL | (noload ? RTLD_NOLOAD : 0));
    const char *e = dlerror();
    if (!h && !noload) {
        size_t at = strlen(tried);
        snprintf(tried + at, len - at, "%s%s", at ? "; " : "", e ? e : name);
    }
    return h;
}

static void load(void)
{
    char tried[CNN_ERROR_MAX / 2] = "";
    const char *name = getenv("CNN_OPENBLAS");
    void *h;
    if (name && *name)
        h = open_lib(name, 0, tried, sizeof tried);
    else if (!(h = open_lib(name = SONAME, 1, tried, sizeof tried)) &&
             !(h = open_lib(name = CNN_OPENBLAS_PATH, 0, tried, sizeof tried)))
        h = open_lib(name = SONAME, 0, tried, sizeof tried);
    if (!h) {
        snprintf(why, sizeof why,
                 "cannot load OpenBLAS (%s); install Debian's libopenblas0-pthread, or name "
                 "the library in CNN_OPENBLAS", tried);
        return;
    }
    /* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
    *(void **)&sgemm = dlsym(h, "cblas_sgemm");
    *(void **)&get_threads = dlsym(h, "openblas_get_num_threads");
    *(void **)&set_threads = dlsym(h, "openblas_set_num_threads");
    const char *missing = !sgemm         ? "cblas_sgemm"
                          : !get_threads ? "openblas_get_num_threads"
                          : !set_threads ? "openblas_set_num_threads"
                                         : NULL;
    if (missing) {
        snprintf(why, sizeof why, "%s is not OpenBLAS: it has no %s", name, missing);
        sgemm = NULL;
    }
}

int cnn_blas_enter(int *host, cnn_error *err)
{
    *host = 1;
    pthread_once(&once, load);
    if (!sgemm) return cnn_errorf(err, "%s", why);
    *host = get_threads();
    if (*host != 1) set_threads(1);
    return 0;
}

void cnn_blas_leave(int host)
{
    if (host != 1 && host > 0 && set_threads) set_threads(host);
}

void cnn_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m,
               int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc)
{
    sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
