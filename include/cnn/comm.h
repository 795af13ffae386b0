/* The communicator a data-parallel training run goes through.
 *
 * libcnn itself knows nothing of MPI: cnn_train (train.h) and the net
 * (net.h) call these few operations, and a NULL communicator means one
 * process.  lib/mpi/comm_mpi.c implements them over Open MPI and is linked
 * only into cnn-train-mpi.
 *
 * Every operation is collective: all ranks call it, in the same order, with
 * the same sizes.  The sums are exact reductions of the ranks' buffers, so
 * every rank receives the same values and applies the same update. */
#ifndef CNN_COMM_H
#define CNN_COMM_H

#include <stddef.h>

typedef struct cnn_comm {
    int rank, size; /* this process, of size; rank 0 writes files and prints */
    void *ctx;      /* the implementation's state */

    /* buf[0..n) becomes the sum over ranks, in place.  0, or -1 when the
     * transport failed. */
    int (*sum_float)(void *ctx, float *buf, size_t n);
    int (*sum_double)(void *ctx, double *buf, size_t n);

    /* Starts summing buf[0..n) in place without waiting (a layer's gradients,
     * as soon as backward has produced them); wait_all completes every sum
     * started since the last wait_all.  May be NULL: then sum_float at once. */
    int (*start_sum)(void *ctx, float *buf, size_t n);
    int (*wait_all)(void *ctx);

    /* The agreement every rank reaches: the maximum of `flag` over ranks.
     * A rank that failed passes 1 and the others learn of it, so all stop
     * together instead of waiting for it forever. */
    int (*any)(void *ctx, int flag);
} cnn_comm;

/* This rank's share [*lo, *hi) of n items: the ranks take consecutive,
 * nearly equal slices (the first n % size ranks one item more). */
static inline void cnn_comm_slice(const cnn_comm *c, size_t n, size_t *lo, size_t *hi)
{
    size_t r = c ? (size_t)c->rank : 0, k = c ? (size_t)c->size : 1;
    *lo = n / k * r + (r < n % k ? r : n % k);
    *hi = *lo + n / k + (r < n % k);
}

#endif
