/* Thread count for libcnn's loops, and the persistent worker pool behind
 * cnn_parallel_run / cnn_parallel_for.
 *
 * The pool: workers created on first use sleep on a condition variable; a run
 * publishes the task and bumps a generation number, each worker i < t runs its
 * share and counts itself done, and the caller waits for the count.  A run that
 * finds the pool busy (a nested or concurrent call) does its work serially in
 * the caller instead, so results never depend on who got the pool. */
#include "threads.h"

#include <cblas.h>
#include <pthread.h>
#include <unistd.h>

static int threads; /* 0: not set yet, use the number of cores */

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > CNN_MAX_THREADS ? CNN_MAX_THREADS : (int)n;
}

void cnn_set_threads(int n)
{
    if (n < 1) n = 1;
    if (n > CNN_MAX_THREADS) n = CNN_MAX_THREADS;
    threads = n;
    /* libcnn splits the work; each of its threads calls OpenBLAS serially */
    openblas_set_num_threads(1);
}

int cnn_get_threads(void)
{
    if (!threads) cnn_set_threads(default_threads());
    return threads;
}

/* ---- the pool -------------------------------------------------------------- */

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER; /* held by the running caller */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards the fields below */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done_cond = PTHREAD_COND_INITIALIZER;
static int nworkers;           /* workers started (worker w runs share w + 1) */
static unsigned long gen;      /* bumped once per run */
static int run_t;              /* shares in the current run */
static int pending;            /* worker shares of the current run not yet done */
static void (*run_fn)(void *, int, int);
static void *run_arg;

static void *worker(void *p)
{
    int me = (int)(size_t)p;
    unsigned long seen = 0;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (gen == seen) pthread_cond_wait(&wake, &lock);
        seen = gen;
        if (me >= run_t) continue;
        void (*fn)(void *, int, int) = run_fn;
        void *arg = run_arg;
        int t = run_t;
        pthread_mutex_unlock(&lock);
        fn(arg, me, t);
        pthread_mutex_lock(&lock);
        if (--pending == 0) pthread_cond_signal(&done_cond);
    }
    return NULL;
}

/* Starts workers until shares 1..t-1 have one; returns how many shares can run. */
static int grow(int t)
{
    while (nworkers < t - 1) {
        pthread_t tid;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int bad = pthread_create(&tid, &attr, worker, (void *)(size_t)(nworkers + 1));
        pthread_attr_destroy(&attr);
        if (bad) break;
        nworkers++;
    }
    return nworkers + 1 < t ? nworkers + 1 : t;
}

void cnn_parallel_run(int max_t, void (*fn)(void *arg, int i, int t), void *arg)
{
    int t = cnn_get_threads();
    if (t > max_t) t = max_t;
    if (t <= 1) {
        fn(arg, 0, 1);
        return;
    }
    if (pthread_mutex_trylock(&busy) != 0) {
        for (int i = 0; i < t; i++) fn(arg, i, t); /* nested or concurrent: serially */
        return;
    }
    pthread_mutex_lock(&lock);
    int can = grow(t);
    run_fn = fn, run_arg = arg, run_t = t, pending = can - 1;
    gen++;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    fn(arg, 0, t);
    for (int i = can; i < t; i++) fn(arg, i, t); /* shares without a worker */
    pthread_mutex_lock(&lock);
    while (pending > 0) pthread_cond_wait(&done_cond, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&busy);
}

typedef struct {
    void (*fn)(void *, size_t, size_t);
    void *arg;
    size_t n;
} for_job;

static void for_share(void *p, int i, int t)
{
    const for_job *j = p;
    size_t lo, hi;
    cnn_share(j->n, i, t, &lo, &hi);
    if (lo < hi) j->fn(j->arg, lo, hi);
}

void cnn_parallel_for(size_t n, void (*fn)(void *arg, size_t lo, size_t hi), void *arg)
{
    if (n < 2 || cnn_get_threads() <= 1) {
        fn(arg, 0, n);
        return;
    }
    for_job j = {fn, arg, n};
    cnn_parallel_run(n < CNN_MAX_THREADS ? (int)n : CNN_MAX_THREADS, for_share, &j);
}
