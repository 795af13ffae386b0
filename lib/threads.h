/* Internal: the thread count libcnn's own loops and OpenBLAS use, and a
 * parallel-for over index ranges for the layer kernels. */
#ifndef CNN_THREADS_H
#define CNN_THREADS_H

#include <stddef.h>

/* Calls fn(arg, lo, hi) over disjoint ranges covering [0, n), on up to
 * cnn_get_threads() threads (the calling thread takes the first range).  With
 * one thread, or n < 2, it is a plain call fn(arg, 0, n).  The ranges depend
 * only on n and the thread count, so results do not vary from run to run. */
void cnn_parallel_for(size_t n, void (*fn)(void *arg, size_t lo, size_t hi), void *arg);

#endif
