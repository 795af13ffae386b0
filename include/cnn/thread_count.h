/* The thread count the math uses: declared here only, so that the thread pool
 * (lib/threads.c) and the net (net.h includes this header) both depend on it
 * and not on each other. */
#ifndef CNN_THREAD_COUNT_H
#define CNN_THREAD_COUNT_H

#include "api.h"

CNN_BEGIN_DECLS

/* Threads used by the math (OpenBLAS and libcnn's own loops); n >= 1, default
 * the number of online cores.  With one thread and a fixed seed every run gives
 * bit-identical results.  Process-wide (OpenBLAS' setting is global). */
CNN_API void cnn_set_threads(int n);
CNN_API int cnn_get_threads(void);

CNN_END_DECLS

#endif
