/* cnn-train's whole program, shared by cnn-train (comm NULL) and cnn-train-mpi
 * (each rank, with its communicator): the same flags, files and messages. */
#ifndef CNN_TRAIN_CLI_H
#define CNN_TRAIN_CLI_H

struct cnn_comm;

/* Parses argv, trains and writes the outputs; returns the exit status (0, 1 on
 * a runtime failure, 130 when interrupted; misuse exits 2 at once). */
int cnn_train_cli(int argc, char **argv, const struct cnn_comm *comm);

#endif
