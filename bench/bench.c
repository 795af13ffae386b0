/* Benchmark: the machine's cblas_sgemm rate on a 1024^3 product, then a
 * training step (forward, backward, Adam update) and inference of the
 * lecture's model at batch 64 (or MODEL BATCH [THREADS] from the command
 * line; BENCH_REPS=N repetitions, default 7).  Prints medians of several repetitions as
 * "key value" lines (bench/run.sh reads them); sgemm is timed between the
 * repetitions too, so its median covers the same stretch of time.
 * With BENCH_SMOKE=1 in the environment it does one repetition of one step
 * on a 256^3 sgemm: CI runs that (bench/smoke.sh) so the benchmark cannot
 * silently break; its figures mean nothing. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cnn.h"
#include "layer.h"   /* internal: the layer-extension API */
#include "xsmm.h"    /* internal: which kernels the conv layers use */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_REPS 7
static int REPS = MAX_REPS, N = 1024;

static float *a, *b, *c; /* (N, N) each */

/* GFLOP/s of one N^3 cblas_sgemm on `threads` of OpenBLAS's own threads: the
 * machine's best matrix product, the yardstick every fraction is taken of.
 * (libcnn holds OpenBLAS to one thread only inside its own passes.) */
static double sgemm_rate(int threads)
{
    /* libcnn's idle workers poll for up to 0.2 ms before they sleep
     * (lib/threads.c): let them sleep, so the yardstick has the cores. */
    nanosleep(&(struct timespec){0, 2000000}, NULL);
    openblas_set_num_threads(threads);
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, a, N, b, N, 0, c, N);
    double dt = now() - t0;
    return 2.0 * N * N * N / dt / 1e9;
}

int main(int argc, char **argv)
{
    /* OpenBLAS's workers poll for 2^28 cycles (~0.1 s) after each
     * multithreaded product before they sleep, so after every yardstick
     * product one of them kept a core busy through the steps timed next: at 2
     * threads training ran at the speed of one, or slower, in about half the
     * runs (bench/README.md, "Hand-overs").  libcnn itself never runs
     * OpenBLAS on more than one thread, so its workers never wake; here they
     * are told to sleep at once.  OpenBLAS reads the setting when it loads,
     * before main: so the bench starts itself again with it set. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
        execv("/proc/self/exe", argv);
        perror("bench: cannot restart itself with OPENBLAS_THREAD_TIMEOUT set");
        return 1;
    }
    const char *path = argc > 1 ? argv[1] : "models/lee-mnist.json";
    int batch = argc > 2 ? atoi(argv[2]) : 64;
    if (argc > 3) cnn_set_threads(atoi(argv[3]));
    int threads = cnn_get_threads();
    const char *smoke = getenv("BENCH_SMOKE"), *reps = getenv("BENCH_REPS");
    int steps = 20;
    if (reps && atoi(reps) >= 1 && atoi(reps) <= MAX_REPS) REPS = atoi(reps);
    if (smoke && strcmp(smoke, "0") != 0) REPS = 1, steps = 1, N = 256;

    /* ---- sgemm N^3, OpenBLAS on as many threads as libcnn uses ---- */
    a = malloc((size_t)N * N * 4), b = malloc((size_t)N * N * 4), c = malloc((size_t)N * N * 4);
    if (!a || !b || !c || batch < 1) {
        fprintf(stderr, "bench: %s\n", batch < 1 ? "batch must be at least 1" : "out of memory");
        return 1;
    }
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    for (size_t i = 0; i < (size_t)N * N; i++) {
        a[i] = cnn_rng_uniform(&r);
        b[i] = cnn_rng_uniform(&r);
    }
    double t[MAX_REPS], sg[3 * MAX_REPS];
    sgemm_rate(threads);
    for (int k = 0; k < REPS; k++) sg[k] = sgemm_rate(threads);

    /* ---- the model ---- */
    cnn_model *m;
    cnn_net *net;
    cnn_error err;
    if (cnn_model_load(path, &m, &err) || cnn_net_new(m, batch, &net, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double macs = 0;
    for (int i = 0; i < m->nlayers; i++) macs += cnn_layer_macs(&m->layers[i]);
    double fwd_flops = 2 * macs, train_flops = 3 * fwd_flops; /* backward ~ 2x forward */
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &r);
    size_t per = cnn_shape_size(m->input);
    float *x = malloc(per * batch * sizeof *x);
    int *labels = malloc(batch * sizeof *labels);
    if (!x || !labels) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < per * batch; i++) x[i] = cnn_rng_uniform(&r);
    for (int i = 0; i < batch; i++) labels[i] = (int)cnn_rng_below(&r, 10);
    cnn_optim o;
    cnn_optim_from_training(&o, &m->training);
    long step = 0;
    /* Steps per repetition: as many as fill about 0.15 s (at least 1, at most
     * 20), from one timed step, so that batch 256 or the AlphaGo network take
     * seconds, not minutes, and batch 1 still times many steps. */
    if (steps > 1) {
        double t0 = now();
        cnn_net_forward(net, x, (size_t)batch * cnn_net_input_size(net), batch, 1, &r, &err);
        cnn_net_loss(net, labels, batch, CNN_LOSS_CROSSENTROPY, NULL);
        cnn_net_zero_grads(net);
        cnn_net_backward(net, batch, m->nlayers - 1, 0, NULL, 0, &err);
        cnn_net_step(net, &o, 1e-3f, ++step);
        double one = now() - t0;
        steps = one > 0.15 / 20 ? (int)(0.15 / one) : 20;
        if (steps < 1) steps = 1;
    }
    /* Each repetition times a sgemm right before its steps: on a machine
     * shared with other jobs the load drifts, and the sgemm rate is the
     * median over the whole run (per-repetition ratios were noisier still:
     * one 1024^3 product is short enough to catch a descheduled thread). */
    for (int k = -1; k < REPS; k++) { /* k = -1: warm-up */
        double rate = sgemm_rate(threads);
        double t0 = now();
        for (int s = 0; s < steps; s++) {
            cnn_net_forward(net, x, (size_t)batch * cnn_net_input_size(net), batch, 1, &r, &err);
            cnn_net_loss(net, labels, batch, CNN_LOSS_CROSSENTROPY, NULL);
            cnn_net_zero_grads(net);
            cnn_net_backward(net, batch, m->nlayers - 1, 0, NULL, 0, &err);
            cnn_net_step(net, &o, 1e-3f, ++step);
        }
        if (k >= 0) {
            t[k] = (now() - t0) / steps;
            sg[REPS + k] = rate;
        }
    }
    double train_step = median(t, REPS);
    /* inference is about a third of a step: three times the steps */
    int isteps = steps * 3 > 60 ? 60 : steps * 3;
    if (smoke && strcmp(smoke, "0") != 0) isteps = 1;
    for (int k = -1; k < REPS; k++) {
        double rate = sgemm_rate(threads);
        double t0 = now();
        for (int s = 0; s < isteps; s++)
            cnn_net_forward(net, x, (size_t)batch * cnn_net_input_size(net), batch, 0, NULL, &err);
        if (k >= 0) {
            t[k] = (now() - t0) / isteps;
            sg[2 * REPS + k] = rate;
        }
    }
    double infer_step = median(t, REPS);
    double sgemm = median(sg, 3 * REPS);
    free(a), free(b), free(c);

    double train_ips = batch / train_step, infer_ips = batch / infer_step;
    double train_gf = train_flops * batch / train_step / 1e9;
    double infer_gf = fwd_flops * batch / infer_step / 1e9;
    printf("threads %d\n", threads);
    printf("batch %d\n", batch);
    printf("sgemm_n %d\n", N);
    printf("sgemm_gflops %.2f\n", sgemm);
    printf("conv_gemm %s\n", cnn_gemm_kernel_name());
    printf("model_mflop_per_image_forward %.3f\n", fwd_flops / 1e6);
    printf("train_images_per_s %.0f\n", train_ips);
    printf("train_gflops %.2f\n", train_gf);
    printf("train_fraction_of_sgemm %.3f\n", train_gf / sgemm);
    printf("infer_images_per_s %.0f\n", infer_ips);
    printf("infer_gflops %.2f\n", infer_gf);
    printf("infer_fraction_of_sgemm %.3f\n", infer_gf / sgemm);
    free(x), free(labels);
    cnn_net_free(net);
    cnn_model_free(m);
    return 0;
}
