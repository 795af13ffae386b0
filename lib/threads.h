/* Internal: a persistent pool of worker threads behind a parallel-for for the
 * layer kernels, sized by the thread count (thread_count.h).
 *
 * libcnn splits the work itself (by images, mostly) and calls OpenBLAS from
 * each of its threads with OpenBLAS held to one thread: coarse pieces need one
 * hand-over per layer instead of one per GEMM, and OpenBLAS' own workers, which
 * spin between calls, never compete with ours for the cores. */
#ifndef CNN_THREADS_H
#define CNN_THREADS_H

#include <stddef.h>

#include "thread_count.h"

/* The most threads libcnn uses; cnn_set_threads clamps to it.  Kernels that
 * keep per-thread partial results size them for min(max_batch, this). */
#define CNN_MAX_THREADS 64

/* Calls fn(arg, lo, hi) over disjoint ranges covering [0, n), on up to
 * cnn_get_threads() threads (the calling thread takes the first range), each
 * range at least `grain` items long: a job too small to be worth a hand-over
 * (one image's pooling) runs in the caller, without waking a worker or, in a
 * process's first pass, starting one (~1 ms of one PNG's prediction).  With
 * one thread, or fewer than 2 grains, it is a plain call fn(arg, 0, n).  The
 * ranges depend only on n, grain and the thread count, so results do not vary
 * from run to run. */
void cnn_parallel_for(size_t n, size_t grain, void (*fn)(void *arg, size_t lo, size_t hi),
                      void *arg);

/* Calls fn(arg, i, t) for each i in [0, t) on t threads, t = min(cnn_get_threads(),
 * max_t) (at least 1); the calling thread runs i = 0.  For kernels that keep
 * per-thread partial results (slot i) and combine them afterwards in order. */
void cnn_parallel_run(int max_t, void (*fn)(void *arg, int i, int t), void *arg);

/* A grain for cnn_parallel_for over items of `floats` floats each: about
 * 64 Ki floats (256 KiB streamed, some 10-20 us), against ~1-2 us for a
 * hand-over to a polling worker. */
static inline size_t cnn_grain(size_t floats)
{
    return floats >= 65536 ? 1 : 65536 / (floats ? floats : 1);
}

/* Range i of t equal shares of [0, n): [n*i/t, n*(i+1)/t). */
static inline void cnn_share(size_t n, int i, int t, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)i / (size_t)t;
    *hi = n * (size_t)(i + 1) / (size_t)t;
}

#endif
