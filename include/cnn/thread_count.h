/* The thread count the math uses: declared here only, so that the thread pool
 * (lib/threads.c) and the net (net.h includes this header) both depend on it
 * and not on each other. */
#ifndef CNN_THREAD_COUNT_H
#define CNN_THREAD_COUNT_H

#include "api.h"

CNN_BEGIN_DECLS

/* Threads used by the math: libcnn's own worker threads, n >= 1 (clamped to
 * 64).  Default: the number of online cores, until cnn_set_threads is called.
 * With one thread and a fixed seed every run gives bit-identical results.  The
 * setting is process-wide and explicit; libcnn changes no other global state:
 * OpenBLAS is held to one thread only while a forward or backward pass runs
 * (each of libcnn's threads calls it serially) and the host's OpenBLAS setting
 * is restored when the pass returns.  (A host that calls OpenBLAS from another
 * thread during a pass sees one thread for that time.) */
CNN_API void cnn_set_threads(int n);
CNN_API int cnn_get_threads(void);

/* Stops and joins libcnn's worker threads (they start again on the next
 * parallel pass).  Runs by itself at exit; call it earlier to release the
 * threads, e.g. before a leak check or a fork.  Must not be called while
 * another thread is inside libcnn: it waits for that thread's pass. */
CNN_API void cnn_threads_shutdown(void);

CNN_END_DECLS

#endif
