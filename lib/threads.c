/* Thread count for OpenBLAS and libcnn's loops, and a small parallel-for. */
#include "threads.h"

#include <cblas.h>
#include <pthread.h>
#include <unistd.h>

#include "net.h"

#define MAX_THREADS 64

static int threads; /* 0: not set yet, use the number of cores */

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void cnn_set_threads(int n)
{
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    threads = n;
    openblas_set_num_threads(n);
}

int cnn_get_threads(void)
{
    if (!threads) cnn_set_threads(default_threads());
    return threads;
}

typedef struct {
    void (*fn)(void *, size_t, size_t);
    void *arg;
    size_t lo, hi;
} job;

static void *run_job(void *p)
{
    job *j = p;
    j->fn(j->arg, j->lo, j->hi);
    return NULL;
}

void cnn_parallel_for(size_t n, void (*fn)(void *arg, size_t lo, size_t hi), void *arg)
{
    int t = cnn_get_threads();
    if ((size_t)t > n) t = (int)n;
    if (t <= 1) {
        fn(arg, 0, n);
        return;
    }
    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 0; i < t; i++)
        jobs[i] = (job){fn, arg, n * (size_t)i / (size_t)t, n * (size_t)(i + 1) / (size_t)t};
    for (int i = 1; i < t; i++) started[i] = pthread_create(&tid[i], NULL, run_job, &jobs[i]) == 0;
    run_job(&jobs[0]);
    for (int i = 1; i < t; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            run_job(&jobs[i]); /* could not start a thread: do its share here */
    }
}
