/* libcnn and its host's global state: a forward or backward pass gives the
 * host's OpenBLAS thread setting back, the thread count is what was set (or
 * the number of cores by default), and cnn_threads_shutdown joins every worker
 * libcnn started (counted in /proc/self/task), after which the pool starts
 * again on demand. */
#include <cblas.h>
#include <dirent.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cnn.h"

static const char *MODEL =
    "{\"name\": \"t\", \"input_shape\": [12, 12, 1], \"layers\": ["
    "{\"type\": \"Conv2D\", \"filters\": 4, \"kernel_size\": 3, \"activation\": \"relu\"},"
    "{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]}";

static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* The thread count once it reaches want, or after 2 s: a joined thread's
 * /proc/self/task entry can outlive pthread_join by a moment (the kernel reaps
 * it after the join returns), which made a loaded machine count one thread too
 * many now and then.  This bounds a wait; it times nothing. */
static int threads_settle(int want)
{
    int n = threads_now();
    for (int i = 0; i < 200 && n != want; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        n = threads_now();
    }
    return n;
}

static cnn_model *m;
static cnn_net *net;
static float x[16 * 144];

static int pass(void)
{
    cnn_error err;
    if (cnn_net_forward(net, x, sizeof x / sizeof *x, 16, 1, NULL, &err)) return -1;
    int labels[16] = {0};
    cnn_net_zero_grads(net);
    (void)cnn_net_loss(net, labels, 16, CNN_LOSS_CROSSENTROPY, NULL);
    return cnn_net_backward(net, 16, m->nlayers - 1, 0, NULL, 0, &err);
}

static void default_thread_count_is_the_number_of_cores(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT_EQ(cores < 1 ? 1 : cores > 64 ? 64 : cores, cnn_get_threads());
    cnn_set_threads(0);
    CHECK_INT_EQ(1, cnn_get_threads());
    cnn_set_threads(1000);
    CHECK_INT_EQ(64, cnn_get_threads());
}

static void a_pass_gives_the_host_its_openblas_setting_back(void)
{
    openblas_set_num_threads(3);
    int before = openblas_get_num_threads(); /* 3, or fewer on a build with a lower cap */
    cnn_set_threads(2);
    CHECK_INT_EQ(0, pass());
    CHECK_INT_EQ(before, openblas_get_num_threads());
    openblas_set_num_threads(1);
    CHECK_INT_EQ(0, pass());
    CHECK_INT_EQ(1, openblas_get_num_threads());
    /* merely asking for the thread count changes nothing either */
    openblas_set_num_threads(2);
    int two = openblas_get_num_threads();
    cnn_set_threads(4);
    (void)cnn_get_threads();
    CHECK_INT_EQ(two, openblas_get_num_threads());
}

static void shutdown_joins_the_workers_and_the_pool_restarts(void)
{
    cnn_threads_shutdown();
    int base = threads_now();
    cnn_set_threads(3);
    CHECK_INT_EQ(0, pass());
    CHECK_INT_EQ(base + 2, threads_settle(base + 2)); /* two workers beside the caller */
    cnn_threads_shutdown();
    CHECK_INT_EQ(base, threads_settle(base));
    cnn_threads_shutdown(); /* twice is fine */
    CHECK_INT_EQ(0, pass());
    CHECK_INT_EQ(base + 2, threads_settle(base + 2));
    cnn_threads_shutdown();
    CHECK_INT_EQ(base, threads_settle(base));
}

int main(void)
{
    cnn_error err;
    if (cnn_model_parse(MODEL, strlen(MODEL), "t.json", &m, &err) || cnn_net_new(m, 16, &net, &err))
        return 1;
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    cnn_net_init(net, 0, &r);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)(i % 7) / 7.0f;
    RUN(default_thread_count_is_the_number_of_cores);
    RUN(a_pass_gives_the_host_its_openblas_setting_back);
    RUN(shutdown_joins_the_workers_and_the_pool_restarts);
    cnn_net_free(net);
    cnn_model_free(m);
    return check_report();
}
