/* cnn-train-mpi: cnn-train on every rank of an MPI job (mpirun -n N), training
 * one model data-parallel: --batch-size is the global batch, each rank
 * computes its slice, the gradients are summed over the ranks (comm.h,
 * lib/mpi/comm_mpi.c).  Same flags and files as cnn-train. */
#include <stdio.h>
#include <stdlib.h>

#include "comm_mpi.h"
#include "train_cli.h"

static cnn_comm comm;

/* Misuse exits at once (exit 2) on every rank alike: finalize MPI on the way
 * out so that mpirun sees an orderly end. */
static void finalize(void)
{
    cnn_comm_mpi_finalize(&comm);
}

int main(int argc, char **argv)
{
    cnn_error err;
    if (cnn_comm_mpi_init(&argc, &argv, &comm, &err)) {
        fprintf(stderr, "cnn-train-mpi: error: %s\n", err.msg); /* escaped by cnn_errorf */
        return 1;
    }
    atexit(finalize);
    int status = cnn_train_cli(argc, argv, &comm);
    /* The communication fraction, for the benchmark (bench/run.sh). */
    if (getenv("CNN_MPI_TIMING"))
        fprintf(stderr, "cnn-train-mpi: rank %d: %.3f s in communication\n", comm.rank,
                cnn_comm_mpi_seconds(&comm));
    return status;
}
