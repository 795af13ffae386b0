/* The communicator of comm.h over Open MPI: linked only into cnn-train-mpi,
 * so libcnn and the other tools do not depend on MPI. */
#ifndef CNN_COMM_MPI_H
#define CNN_COMM_MPI_H

#include "comm.h"
#include "error.h"

/* Initializes MPI (MPI_Init) and fills c with MPI_COMM_WORLD's rank and size
 * over a private duplicate of it.  Errors return to the caller instead of
 * aborting (MPI_ERRORS_RETURN). */
int cnn_comm_mpi_init(int *argc, char ***argv, cnn_comm *c, cnn_error *err);

/* Seconds this rank spent inside the communicator's operations (blocked in
 * sums, agreements and waits), for the communication fraction. */
double cnn_comm_mpi_seconds(const cnn_comm *c);

/* Finalizes MPI; NULL-tolerant, safe to call twice. */
void cnn_comm_mpi_finalize(cnn_comm *c);

#endif
