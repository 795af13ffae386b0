/* comm.h over Open MPI: blocking sums with MPI_Allreduce, per-layer sums
 * started with MPI_Iallreduce during backward and completed with
 * MPI_Waitall, and the agreement as an MPI_MAX reduction. */
#include "comm_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <time.h>

typedef struct mpi_ctx {
    MPI_Comm comm;
    MPI_Request *req; /* sums started since the last wait_all */
    int nreq, cap;
    double seconds;   /* time blocked in MPI */
} mpi_ctx;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* MPI counts are ints: larger buffers go in pieces of 2^30. */
enum { PIECE = 1 << 30 };

static int sum_float(void *p, float *buf, size_t n)
{
    mpi_ctx *c = p;
    double t = now();
    int rc = MPI_SUCCESS;
    for (size_t at = 0; at < n && rc == MPI_SUCCESS; at += PIECE) {
        int k = n - at < PIECE ? (int)(n - at) : PIECE;
        rc = MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_FLOAT, MPI_SUM, c->comm);
    }
    c->seconds += now() - t;
    return rc == MPI_SUCCESS ? 0 : -1;
}

static int sum_double(void *p, double *buf, size_t n)
{
    mpi_ctx *c = p;
    double t = now();
    int rc = MPI_SUCCESS;
    for (size_t at = 0; at < n && rc == MPI_SUCCESS; at += PIECE) {
        int k = n - at < PIECE ? (int)(n - at) : PIECE;
        rc = MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_DOUBLE, MPI_SUM, c->comm);
    }
    c->seconds += now() - t;
    return rc == MPI_SUCCESS ? 0 : -1;
}

static int start_sum(void *p, float *buf, size_t n)
{
    mpi_ctx *c = p;
    double t = now();
    for (size_t at = 0; at < n; at += PIECE) {
        if (c->nreq == c->cap) { /* grows once or twice in a run, then never */
            int cap = c->cap ? 2 * c->cap : 64;
            MPI_Request *r = realloc(c->req, sizeof *r * (size_t)cap);
            if (!r) return -1;
            c->req = r;
            c->cap = cap;
        }
        int k = n - at < PIECE ? (int)(n - at) : PIECE;
        if (MPI_Iallreduce(MPI_IN_PLACE, buf + at, k, MPI_FLOAT, MPI_SUM, c->comm,
                           &c->req[c->nreq]) != MPI_SUCCESS)
            return -1;
        c->nreq++;
    }
    /* Open MPI advances non-blocking collectives only inside MPI calls: poke
     * the ones in flight so they progress while the next layer computes. */
    int done;
    MPI_Testall(c->nreq, c->req, &done, MPI_STATUSES_IGNORE);
    c->seconds += now() - t;
    return 0;
}

static int wait_all(void *p)
{
    mpi_ctx *c = p;
    double t = now();
    int rc = MPI_Waitall(c->nreq, c->req, MPI_STATUSES_IGNORE);
    c->nreq = 0;
    c->seconds += now() - t;
    return rc == MPI_SUCCESS ? 0 : -1;
}

static int any(void *p, int flag)
{
    mpi_ctx *c = p;
    double t = now();
    int out = 1;
    if (MPI_Allreduce(&flag, &out, 1, MPI_INT, MPI_MAX, c->comm) != MPI_SUCCESS) out = 1;
    c->seconds += now() - t;
    return out;
}

int cnn_comm_mpi_init(int *argc, char ***argv, cnn_comm *c, cnn_error *err)
{
    *c = (cnn_comm){0};
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return cnn_errorf(err, "MPI_Init failed");
    mpi_ctx *m = calloc(1, sizeof *m);
    if (!m) return cnn_errorf(err, "out of memory");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (MPI_Comm_dup(MPI_COMM_WORLD, &m->comm) != MPI_SUCCESS) {
        free(m);
        return cnn_errorf(err, "MPI_Comm_dup failed");
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &c->rank);
    MPI_Comm_size(m->comm, &c->size);
    c->ctx = m;
    c->sum_float = sum_float;
    c->sum_double = sum_double;
    c->start_sum = getenv("CNN_MPI_NO_OVERLAP") ? NULL : start_sum;
    c->wait_all = wait_all;
    c->any = any;
    return 0;
}

double cnn_comm_mpi_seconds(const cnn_comm *c)
{
    return c && c->ctx ? ((const mpi_ctx *)c->ctx)->seconds : 0;
}

void cnn_comm_mpi_finalize(cnn_comm *c)
{
    if (c && c->ctx) {
        mpi_ctx *m = c->ctx;
        MPI_Comm_free(&m->comm);
        free(m->req);
        free(m);
        c->ctx = NULL;
    }
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Finalize();
}
