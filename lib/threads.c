/* Thread count for libcnn's loops, and the persistent worker pool behind
 * cnn_parallel_run / cnn_parallel_for.
 *
 * The pool: workers created on first use sleep on a condition variable; a run
 * publishes the task and bumps a generation number, each worker i < t runs its
 * share and counts itself done, and the caller waits for the count.  A run that
 * finds the pool busy (a nested or concurrent call) does its work serially in
 * the caller instead, so results never depend on who got the pool.
 * cnn_threads_shutdown joins the workers (and runs at exit), so no thread of
 * libcnn outlives the process's use of it.
 *
 * OpenBLAS: libcnn's threads each call it with one thread of its own, set only
 * for the duration of a pass (lib/blas.c). */
#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
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
static pthread_t tids[CNN_MAX_THREADS];
static int quit;               /* set by cnn_threads_shutdown: workers return */
static atomic_ulong gen;       /* bumped once per run (read unlocked while spinning) */
static int run_t;              /* shares in the current run */
static atomic_int pending;     /* worker shares of the current run not yet done */
static int sleepers;           /* workers waiting on `wake` */
static void (*run_fn)(void *, int, int);
static void *run_arg;

/* How long a worker waiting for the next run, or a caller waiting for its
 * workers, polls before it sleeps on a condition variable.  A step of training
 * hands work over a few dozen times, with short serial stretches between; on
 * a virtual machine a sleeping thread wakes only when the hypervisor wakes its
 * idle CPU, which measured as slow as doing the layer serially (bench/README.md,
 * "Hand-overs").  Polling is bounded so an idle pool costs no CPU. */
#ifndef CNN_SPIN_NS
#define CNN_SPIN_NS 200000
#endif

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A bounded poll: polling(&c) is 1 until CNN_SPIN_NS have passed since its
 * first call, after a pause; the clock is read every 64 calls (~1 us). */
typedef struct {
    long long until;
    unsigned calls;
} poll_clock;

static int polling(poll_clock *c)
{
    if (c->calls++ % 64 == 0) {
        long long t = now_ns();
        if (!c->until) c->until = t + CNN_SPIN_NS;
        else if (t > c->until) return 0;
    }
    cpu_pause();
    return 1;
}

static void *worker(void *p)
{
    int me = (int)(size_t)p;
    unsigned long seen = 0;
    pthread_mutex_lock(&lock);
    for (;;) {
        if (gen == seen && !quit) {
            pthread_mutex_unlock(&lock);
            poll_clock c = {0, 0};
            while (atomic_load_explicit(&gen, memory_order_relaxed) == seen && polling(&c)) {}
            pthread_mutex_lock(&lock);
        }
        sleepers++;
        while (gen == seen && !quit) pthread_cond_wait(&wake, &lock);
        sleepers--;
        if (quit) break;
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
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Starts workers until shares 1..t-1 have one; returns how many shares can run. */
static int grow(int t)
{
    while (nworkers < t - 1) {
        if (pthread_create(&tids[nworkers], NULL, worker, (void *)(size_t)(nworkers + 1))) break;
        nworkers++;
    }
    return nworkers + 1 < t ? nworkers + 1 : t;
}

void cnn_parallel_run(int max_t, void (*fn)(void *arg, int i, int t), void *arg)
{
    /* one share asks for no thread count: a single image's pass never counts
     * the cores (sysconf reads a /sys file, 0.1 ms of a one-PNG prediction) */
    int t = max_t <= 1 ? 1 : cnn_get_threads();
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
    if (sleepers) pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    fn(arg, 0, t);
    for (int i = can; i < t; i++) fn(arg, i, t); /* shares without a worker */
    poll_clock c = {0, 0};
    while (atomic_load_explicit(&pending, memory_order_acquire) > 0 && polling(&c)) {}
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

void cnn_parallel_for(size_t n, size_t grain, void (*fn)(void *arg, size_t lo, size_t hi),
                      void *arg)
{
    size_t shares = n / (grain ? grain : 1);
    if (shares < 2 || cnn_get_threads() <= 1) {
        fn(arg, 0, n);
        return;
    }
    for_job j = {fn, arg, n};
    cnn_parallel_run(shares < CNN_MAX_THREADS ? (int)shares : CNN_MAX_THREADS, for_share, &j);
}

/* ---- shutdown -------------------------------------------------------------- */

/* Stops and joins the workers; with wait 0 it gives up when a run is going on. */
static void shutdown_pool(int wait)
{
    if (wait)
        pthread_mutex_lock(&busy);
    else if (pthread_mutex_trylock(&busy) != 0)
        return;
    pthread_mutex_lock(&lock);
    int n = nworkers;
    quit = 1;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) pthread_join(tids[i], NULL);
    pthread_mutex_lock(&lock);
    nworkers = 0;
    quit = 0;
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&busy);
}

void cnn_threads_shutdown(void)
{
    shutdown_pool(1);
}

/* At exit (or when libcnn.so is unloaded) the workers are joined, so nothing of
 * theirs is left for a leak checker; skipped if another thread is mid-run. */
__attribute__((destructor)) static void shutdown_at_exit(void)
{
    shutdown_pool(0);
}
