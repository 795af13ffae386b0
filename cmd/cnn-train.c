/* cnn-train: trains a model described in JSON on IDX image and label files.
 * cnn-train-mpi (cnn-train-mpi.c) runs the same program on every rank of an
 * MPI job: built with CNN_TRAIN_NO_MAIN, it calls cnn_train_cli with its
 * communicator. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "cnn.h"
#include "comm.h"
#include "data_cli.h"
#include "threads.h"
#include "dataset.h"
#include "train.h"
#include "plot.h"
#include "train_cli.h"
#include "weights.h"

#define MAX_THREADS CNN_MAX_THREADS /* the library's one limit (threads.h) */

static const char usage[] =
    "usage: cnn-train MODEL.json (--train SET | --train-images F --train-labels F)\n"
    "                 [--test SET | --test-images F --test-labels F | --val-split FRACTION]\n"
    "                 -o WEIGHTS.safetensors [options]\n"
    "       cnn-train --resume CHECKPOINT [options]\n";

static const char help[] =
    "Trains the model on a labelled set and writes its weights as safetensors.\n"
    "Defaults come from the model's \"training\" object.  A SET is class folders\n"
    "(ROOT/CLASS/*.png|jpg|jpeg), a list file (PATH<TAB>LABEL lines), a CSV\n"
    "(label,pixel0,...) or an IDX images file with its labels file beside it.\n"
    "\n"
    "  -m, --model FILE          the model JSON (also accepted as the operand MODEL.json)\n"
    "      --train SET           the training set\n"
    "      --test SET            a held-out set evaluated after every epoch\n"
    "      --resize              resize images of another size (bilinear)\n"
    "      --invert              invert images (dark-on-light drawings)\n"
    "      --skip-bad            skip unreadable images with a warning each\n"
    "  -o, --output FILE         final weights (the best ones with --patience); - for\n"
    "                            standard output (then no checkpoint unless named)\n"
    "      --train-images FILE   training images, N x H x W or N x H x W x C\n"
    "      --train-labels FILE   training labels, N integers\n"
    "      --test-images FILE    held-out images evaluated after every epoch\n"
    "      --test-labels FILE    their labels\n"
    "      --val-split F         hold out this fraction of the training set instead\n"
    "                            (named \"val\" in the output; a --test set \"test\")\n"
    "      --epochs N            number of epochs\n"
    "      --batch-size N        images per update\n"
    "      --optimizer NAME      sgd or adam\n"
    "      --learning-rate X     learning rate\n"
    "      --momentum X          SGD momentum\n"
    "      --nesterov            Nesterov momentum (SGD)\n"
    "      --schedule NAME       constant, step or cosine\n"
    "      --step-epochs N       step schedule: multiply by --step-gamma every N epochs\n"
    "      --step-gamma X        step schedule factor\n"
    "      --loss NAME           categorical_crossentropy or mse\n"
    "      --seed N              seed for initialization, shuffling, dropout, shifts\n"
    "      --init NAME           glorot (Keras' default) or he\n"
    "      --shift N             augment by random shifts of up to N pixels\n"
    "      --bn-images N         recompute BatchNormalization statistics from N training\n"
    "                            images after every epoch (default 4096; 0 = off)\n"
    "      --rotate DEG          augment by random rotations within +-DEG degrees\n"
    "      --flip                augment by random horizontal flips\n"
    "      --zoom F              augment by random zoom in [1-F, 1+F] (F < 0.9)\n"
    "      --patience N          stop after N epochs without a better validation loss\n"
    "      --threads N           threads for the math (default: all cores)\n"
    "      --checkpoint FILE     per-epoch checkpoint (default: OUTPUT.ckpt)\n"
    "      --resume FILE         continue from a checkpoint; its model, data, outputs and\n"
    "                            settings are used unless given (only --epochs,\n"
    "                            --patience, --log, -o, --checkpoint, the data paths\n"
    "                            and --threads may differ); --resume - reads it\n"
    "                            from stdin\n"
    "      --log FILE            per-epoch figures as CSV, or JSON lines for .jsonl\n"
    "      --plot FILE           training curves (loss, accuracy) as a PNG, rewritten\n"
    "                            after every epoch\n"
    "      --json                print the final metrics as one JSON object on stdout\n"
    "      --check-finite        stop at the first layer that produces NaN or infinity\n"

    "  -q, --quiet               no per-epoch lines or progress bar\n"
    CLI_LIMIT_HELP
    "  -h, --help                this help\n"
    "  -V, --version             the version\n"
    "\n"
    "Each epoch line gives the training figures and, with a held-out set, its loss\n"
    "and accuracy; a * marks the lowest held-out loss so far (the epoch whose\n"
    "weights --patience keeps).  --json and --log call the held-out figures val_*.\n"
    "\n"
    "SIGINT or SIGTERM finishes the current batch, writes the checkpoint and exits\n"
    "with status 130; --resume continues from it.\n";

enum {
    OPT_TRAIN_IMAGES = 256, OPT_TRAIN_LABELS, OPT_TEST_IMAGES, OPT_TEST_LABELS, OPT_VAL_SPLIT,
    OPT_EPOCHS, OPT_BATCH, OPT_OPTIMIZER, OPT_LR, OPT_MOMENTUM, OPT_NESTEROV, OPT_SCHEDULE,
    OPT_STEP_EPOCHS, OPT_STEP_GAMMA, OPT_LOSS, OPT_SEED, OPT_INIT, OPT_SHIFT, OPT_BN_IMAGES,
    OPT_PATIENCE, OPT_THREADS, OPT_CHECKPOINT, OPT_RESUME, OPT_LOG, OPT_JSON, OPT_CHECK_FINITE,
    OPT_PLOT,
    OPT_TRAIN, OPT_TEST, OPT_RESIZE, OPT_INVERT, OPT_SKIP_BAD, OPT_ROTATE, OPT_FLIP, OPT_ZOOM,
};

static const struct option options[] = {
    {"output", required_argument, NULL, 'o'},
    {"model", required_argument, NULL, 'm'},
    {"train-images", required_argument, NULL, OPT_TRAIN_IMAGES},
    {"train-labels", required_argument, NULL, OPT_TRAIN_LABELS},
    {"test-images", required_argument, NULL, OPT_TEST_IMAGES},
    {"test-labels", required_argument, NULL, OPT_TEST_LABELS},
    {"val-split", required_argument, NULL, OPT_VAL_SPLIT},
    {"train", required_argument, NULL, OPT_TRAIN},
    {"test", required_argument, NULL, OPT_TEST},
    {"resize", no_argument, NULL, OPT_RESIZE},
    {"invert", no_argument, NULL, OPT_INVERT},
    {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},
    {"rotate", required_argument, NULL, OPT_ROTATE},
    {"flip", no_argument, NULL, OPT_FLIP},
    {"zoom", required_argument, NULL, OPT_ZOOM},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"batch-size", required_argument, NULL, OPT_BATCH},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"learning-rate", required_argument, NULL, OPT_LR},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"nesterov", no_argument, NULL, OPT_NESTEROV},
    {"schedule", required_argument, NULL, OPT_SCHEDULE},
    {"step-epochs", required_argument, NULL, OPT_STEP_EPOCHS},
    {"step-gamma", required_argument, NULL, OPT_STEP_GAMMA},
    {"loss", required_argument, NULL, OPT_LOSS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"init", required_argument, NULL, OPT_INIT},
    {"shift", required_argument, NULL, OPT_SHIFT},
    {"bn-images", required_argument, NULL, OPT_BN_IMAGES},
    {"patience", required_argument, NULL, OPT_PATIENCE},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"log", required_argument, NULL, OPT_LOG},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"json", no_argument, NULL, OPT_JSON},
    {"check-finite", no_argument, NULL, OPT_CHECK_FINITE},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* ---- output -------------------------------------------------------------- */

typedef struct ui {
    int quiet, tty;
    const char *held; /* the held-out set's one name: "test" (--test) or "val" (--val-split) */
    int legend_done;  /* the '*' explained once */
    const char *log;
    int log_failed;
    const char *plot, *title; /* --plot, and the model's name drawn on it */
    int plot_failed;
    double last_draw;
} ui;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_batch(void *ctx, const cnn_batch_progress *p)
{
    ui *u = ctx;
    if (u->quiet || !u->tty) return;
    double t = now_seconds();
    if (t - u->last_draw < 0.1 && p->batch != p->batches) return;
    u->last_draw = t;
    int width = 30, done = (int)(width * p->batch / p->batches);
    double eta = p->batch ? p->epoch_elapsed * (double)(p->batches - p->batch) / (double)p->batch : 0;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '=' : (i == done ? '>' : ' ');
    bar[width] = 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %3d%%  loss %.4f  acc %.4f  ETA %.0fs", p->epoch,
            p->epochs, bar, (int)(100 * p->batch / p->batches), p->loss, p->acc, eta);
    fflush(stderr);
}

/* Rewrites the whole log atomically from the history (CSV rows). */
static void write_log(ui *u, const char *history)
{
    size_t n = strlen(history);
    int jsonl = strlen(u->log) > 6 && strcmp(u->log + strlen(u->log) - 6, ".jsonl") == 0;
    /* Each row becomes at most itself plus the eight keys and "null"s. */
    size_t rows = 1;
    for (const char *p = history; *p; p++) rows += *p == '\n';
    char *out = malloc(2 * n + 512 + 200 * rows);
    if (!out) return;
    size_t k = 0;
    if (!jsonl) {
        k += (size_t)sprintf(out, "%s", CNN_HISTORY_HEADER);
        memcpy(out + k, history, n);
        k += n;
    } else {
        static const char *const cols[] = {"epoch", "train_loss", "train_accuracy", "val_loss",
                                           "val_accuracy", "learning_rate", "images_per_second",
                                           "elapsed_seconds"};
        for (const char *line = history; *line;) {
            const char *eol = strchr(line, '\n');
            if (!eol) break;
            out[k++] = '{';
            const char *f = line;
            for (int c = 0; c < 8; c++) {
                const char *comma = c < 7 ? memchr(f, ',', (size_t)(eol - f)) : eol;
                if (!comma) comma = eol;
                int len = (int)(comma - f);
                k += (size_t)sprintf(out + k, "%s\"%s\": %.*s", c ? ", " : "", cols[c],
                                     len ? len : 4, len ? f : "null");
                f = comma + 1;
            }
            k += (size_t)sprintf(out + k, "}\n");
            line = eol + 1;
        }
    }
    cnn_error err;
    if (cnn_write_file_atomic(u->log, out, k, &err) != 0 && !u->log_failed) {
        cli_warning("%s", err.msg);
        u->log_failed = 1;
    }
    free(out);
}

static void on_epoch(void *ctx, const cnn_epoch_stats *s, const char *history)
{
    ui *u = ctx;
    if (u->log) write_log(u, history);
    cnn_error err;
    if (u->plot && cnn_plot_history(u->plot, history, u->title, NULL, &err) && !u->plot_failed) {
        cli_warning("%s", err.msg);
        u->plot_failed = 1;
    }
    if (u->quiet) return;
    if (u->tty) fputs("\r\033[K", stderr);
    fprintf(stderr, "epoch %d/%d  train loss %.4f acc %.4f", s->epoch, s->epochs, s->train_loss,
            s->train_acc);
    if (s->has_val)
        fprintf(stderr, "  %s loss %.4f acc %.4f%s", u->held, s->val_loss, s->val_acc,
                s->best ? " *" : "");
    fprintf(stderr, "  lr %.3g  %.0f img/s  %.1fs\n", s->lr, s->images_per_s, s->elapsed);
    if (s->has_val && s->best && !u->legend_done) {
        fprintf(stderr, "  (*: the lowest %s loss so far; with --patience, the last * marks "
                        "the weights kept)\n", u->held);
        u->legend_done = 1;
    }
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    stop_flag = 1;
    signal(sig, SIG_DFL); /* a second signal ends the process at once */
}

/* ---- resuming ------------------------------------------------------------ */

/* An absolute form of a path as given (the checkpoint records it, and a resume
 * may start in another folder); NULL stays NULL, "-" is not recorded. */
static char *absolute(const char *p)
{
    if (!p || strcmp(p, "-") == 0) return NULL;
    char cwd[4096];
    if (p[0] == '/' || !getcwd(cwd, sizeof cwd)) return strdup(p);
    size_t n = strlen(cwd) + strlen(p) + 2;
    char *a = malloc(n);
    if (a) snprintf(a, n, "%s/%s", cwd, p);
    return a;
}

/* Refusal of a resume that cannot go on (exit 2): the message says why and how. */
__attribute__((format(printf, 1, 2), noreturn)) static void resume_refused(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cnn-train: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* ---- the command line ---------------------------------------------------- */

/* A flag's value and whether it was given: a flag given overrides the model's
 * "training" object and the checkpoint's settings. */
typedef struct { int set; long v; } given_long;
typedef struct { int set; double v; } given_double;

/* What the command line says; with --resume, completed from the checkpoint. */
typedef struct args {
    const char *out, *train_images, *train_labels, *test_images, *test_labels, *checkpoint,
        *resume, *train_set, *test_set, *model_flag;
    data_cli dc;                 /* --resize, --invert, --skip-bad */
    double val_split;
    int json, threads;
    ui u;                        /* --quiet, --log, --plot */
    cnn_train_opts o;            /* --rotate, --flip, --zoom, --init, --shift, --patience,
                                  * --check-finite */
    given_long epochs, batch, seed, step_epochs;
    given_double lr, momentum, step_gamma;
    int optimizer, schedule, loss, nesterov; /* -1, 0: not given */
    int init_set, shift_set, patience_set, val_split_set, bn_images_set, rotate_set, zoom_set;
    long bn_images;
} args;

static const char *const init_names[] = {"glorot", "he", NULL};

/* Reads the flags into *a.  Returns -1 to go on, or the exit status once
 * --help or --version is done (misuse exits 2). */
static int parse_args(int argc, char **argv, int rank, args *a)
{
    a->optimizer = a->schedule = a->loss = -1;
    a->bn_images = CNN_BN_IMAGES_DEFAULT;
    int c;
    while ((c = getopt_long(argc, argv, ":o:m:qhV", options, NULL)) != -1) {
        switch (c) {
        case 'o': a->out = optarg; break;
        case 'm': a->model_flag = optarg; break;
        case OPT_TRAIN_IMAGES: a->train_images = optarg; break;
        case OPT_TRAIN_LABELS: a->train_labels = optarg; break;
        case OPT_TEST_IMAGES: a->test_images = optarg; break;
        case OPT_TEST_LABELS: a->test_labels = optarg; break;
        case OPT_TRAIN: a->train_set = optarg; break;
        case OPT_TEST: a->test_set = optarg; break;
        case OPT_RESIZE: a->dc.resize = 1; break;
        case OPT_INVERT: a->dc.invert = 1; break;
        case OPT_SKIP_BAD: a->dc.skip_bad = 1; break;
        case OPT_ROTATE: a->rotate_set = 1, a->o.rotate = (float)cli_double("--rotate", optarg, 0, 180, 0); break;
        case OPT_FLIP: a->o.flip = 1; break;
        case OPT_ZOOM: a->zoom_set = 1, a->o.zoom = (float)cli_double("--zoom", optarg, 0, 0.9, 0); break;
        case OPT_VAL_SPLIT: a->val_split_set = 1, a->val_split = cli_double("--val-split", optarg, 0, 0.9, 1); break;
        case OPT_EPOCHS: a->epochs.set = 1, a->epochs.v = cli_long("--epochs", optarg, 1, CNN_EPOCHS_MAX); break;
        case OPT_BATCH: a->batch.set = 1, a->batch.v = cli_long("--batch-size", optarg, 1, CNN_BATCH_MAX); break;
        case OPT_OPTIMIZER: a->optimizer = cli_name("--optimizer", optarg, cnn_optimizer_names); break;
        case OPT_LR: a->lr.set = 1, a->lr.v = cli_double("--learning-rate", optarg, CNN_LR_MIN, CNN_LR_MAX, 0); break;
        case OPT_MOMENTUM: a->momentum.set = 1, a->momentum.v = cli_double("--momentum", optarg, 0, CNN_MOMENTUM_MAX, 0); break;
        case OPT_NESTEROV: a->nesterov = 1; break;
        case OPT_SCHEDULE: a->schedule = cli_name("--schedule", optarg, cnn_schedule_names); break;
        case OPT_STEP_EPOCHS: a->step_epochs.set = 1, a->step_epochs.v = cli_long("--step-epochs", optarg, 1, CNN_STEP_EPOCHS_MAX); break;
        case OPT_STEP_GAMMA: a->step_gamma.set = 1, a->step_gamma.v = cli_double("--step-gamma", optarg, CNN_STEP_GAMMA_MIN, CNN_STEP_GAMMA_MAX, 0); break;
        case OPT_LOSS: a->loss = cli_name("--loss", optarg, cnn_loss_names); break;
        case OPT_SEED: a->seed.set = 1, a->seed.v = cli_long("--seed", optarg, 0, CNN_SEED_MAX); break;
        case OPT_INIT: a->init_set = 1, a->o.init = cli_name("--init", optarg, init_names); break;
        case OPT_BN_IMAGES: a->bn_images_set = 1, a->bn_images = cli_long("--bn-images", optarg, 0, CNN_CKPT_MAX_BN_IMAGES); break;
        case OPT_SHIFT: a->shift_set = 1, a->o.shift = (int)cli_long("--shift", optarg, 0, CNN_CKPT_MAX_SHIFT); break;
        case OPT_PATIENCE: a->patience_set = 1, a->o.patience = (int)cli_long("--patience", optarg, 0, CNN_CKPT_MAX_EPOCHS); break;
        case OPT_THREADS: a->threads = (int)cli_long("--threads", optarg, 1, MAX_THREADS); break;
        case OPT_CHECKPOINT: a->checkpoint = optarg; break;
        case OPT_RESUME: a->resume = optarg; break;
        case OPT_LOG: a->u.log = optarg; break;
        case OPT_PLOT: a->u.plot = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_CHECK_FINITE: a->o.check_finite = 1; break;
        case 'q': a->u.quiet = 1; break;
        case 'h': if (!rank) fputs(usage, stdout), fputs(help, stdout); return cli_stdout_status();
        case 'V': if (!rank) printf("%s %s\n", cli_prog, CNN_VERSION); return cli_stdout_status();
        default: cli_other_option(c, argv);
        }
    }
    return -1;
}

/* Opens and checks the --resume checkpoint; on failure says why on stderr
 * and returns -1 with nothing left to free. */
static int read_checkpoint(const char *path, cnn_weights **ckw, cnn_checkpoint *ck)
{
    cnn_error err;
    if (cli_weights_open(path, CLI_VALUES, ckw, &err) || cnn_checkpoint_read(*ckw, ck, &err)) {
        cli_report(&err);
        cnn_checkpoint_clear(ck);
        cnn_weights_free(*ckw);
        *ckw = NULL;
        return -1;
    }
    return 0;
}

/* --resume: the checkpoint's data paths, outputs and settings where no flag
 * gave them (the strings stay ck's). */
static void resume_defaults(args *a, const cnn_checkpoint *ck)
{
    /* A set given by one path (--train/--test) is recorded without labels. */
    if (!a->train_set && !a->train_images && !a->train_labels) {
        if (ck->train_labels)
            a->train_images = ck->train_images, a->train_labels = ck->train_labels;
        else
            a->train_set = ck->train_images;
    }
    if (!a->test_set && !a->test_images && !a->test_labels && !a->val_split_set) {
        if (ck->test_labels)
            a->test_images = ck->test_images, a->test_labels = ck->test_labels;
        else
            a->test_set = ck->test_images;
    }
    if (!a->val_split_set && !a->test_images && !a->test_set) a->val_split = ck->val_split;
    if (!a->out) a->out = ck->output;
    if (!a->u.log) a->u.log = ck->log;
    if (!a->patience_set) a->o.patience = ck->patience;
    if (!a->shift_set) a->o.shift = ck->shift;
    if (!a->init_set) a->o.init = ck->init;
    /* a checkpoint without the field comes from a run without recomputation */
    if (!a->bn_images_set) a->bn_images = ck->bn_images >= 0 ? ck->bn_images : 0;
    /* Augmentation and how the sets were read, as the run had them; a flag
     * given differently is refused (check_resume_unchanged). */
    if (!a->rotate_set) a->o.rotate = ck->rotate;
    if (!a->zoom_set) a->o.zoom = ck->zoom;
    if (ck->flip) a->o.flip = 1;
    if (ck->resize) a->dc.resize = 1;
    if (ck->invert) a->dc.invert = 1;
}

/* Standard input is read once: two of --resume -, a model and the data sets
 * named "-" are misuse (exits 2), and so is --resume - with several ranks
 * (each reads the checkpoint; standard input reaches one). */
static void check_stdin_once(const args *a, int argc, char **argv, int ranks)
{
    const cnn_file_role users[] = {
        {"--resume -", a->resume, NULL},
        {"-m -", a->model_flag, NULL},
        {"MODEL -", optind < argc ? argv[optind] : NULL, NULL},
        {"--train -", a->train_set, NULL},
        {"--train-images -", a->train_images, NULL},
        {"--train-labels -", a->train_labels, NULL},
        {"--test -", a->test_set, NULL},
        {"--test-images -", a->test_images, NULL},
        {"--test-labels -", a->test_labels, NULL}};
    cli_stdin_once(users, sizeof users / sizeof *users);
    if (ranks > 1 && a->resume && strcmp(a->resume, "-") == 0)
        cli_misuse("--resume -: every rank reads the checkpoint, and standard input reaches "
                   "only one; name a file");
}

/* Misuse of the operands and the data flags (exits 2). */
static void check_usage(const args *a, int argc, char **argv)
{
    if (a->model_flag && optind < argc)
        cli_misuse("the model is given twice: -m %s and \"%s\"", a->model_flag, argv[optind]);
    if (optind >= argc && !a->resume && !a->model_flag) cli_misuse("missing the model file");
    if (optind < argc - 1) cli_misuse("one model file expected, also got \"%s\"", argv[optind + 1]);
    if (a->train_set && (a->train_images || a->train_labels))
        cli_misuse("use either --train or --train-images/--train-labels");
    if (a->test_set && (a->test_images || a->test_labels))
        cli_misuse("use either --test or --test-images/--test-labels");
    if (!a->train_set && (!a->train_images || !a->train_labels))
        cli_misuse("--train SET (or --train-images and --train-labels) is required");
    if (!a->out) cli_misuse("-o WEIGHTS.safetensors is required");
    if (!a->test_images != !a->test_labels)
        cli_misuse("--test-images and --test-labels go together");
    if ((a->test_images || a->test_set) && a->val_split > 0)
        cli_misuse("use either --test (or --test-images/--test-labels) or --val-split");
    if (a->o.patience && !a->test_images && !a->test_set && a->val_split <= 0)
        cli_misuse("--patience needs --test, --test-images or --val-split");
}

/* With --resume, the settings that shape the data stream must be the run's
 * (exits 2 otherwise). */
static void check_resume_unchanged(const args *a, const cnn_checkpoint *ck)
{
    const char *resume = cli_input_name(a->resume);
    if (a->shift_set && a->o.shift != ck->shift)
        resume_refused("%s: the run used --shift %d; --shift cannot change on resume", resume,
                       ck->shift);
    if (a->init_set && a->o.init != ck->init)
        resume_refused("%s: the run used --init %s; --init cannot change on resume", resume,
                       init_names[ck->init]);
    if (fabs(a->val_split - ck->val_split) > 1e-12)
        resume_refused("%s: the run used --val-split %g; the split cannot change on resume "
                       "(the training images would differ)", resume, ck->val_split);
    if (a->o.rotate != ck->rotate || a->o.zoom != ck->zoom || a->o.flip != ck->flip ||
        a->dc.resize != ck->resize || a->dc.invert != ck->invert)
        resume_refused("%s: the run used --rotate %g --zoom %g%s%s%s; augmentation and how the "
                       "images are read cannot change on resume", resume, ck->rotate, ck->zoom,
                       ck->flip ? " --flip" : "", ck->resize ? " --resize" : "",
                       ck->invert ? " --invert" : "");
    if (ck->bn_images >= 0 && a->bn_images != ck->bn_images)
        resume_refused("%s: the run used --bn-images %ld; it cannot change on resume", resume,
                       ck->bn_images);
}

/* "-" is standard output only for -o, and not beside --json (exits 2). */
static void check_standard_output(const args *a)
{
    if (strcmp(a->out, "-") == 0 && a->json)
        cli_misuse("-o - and --json would both write to standard output");
    if (a->checkpoint && strcmp(a->checkpoint, "-") == 0)
        cli_misuse("--checkpoint -: a checkpoint is rewritten every epoch; standard output "
                   "cannot be (name a file)");
    if (a->u.plot && strcmp(a->u.plot, "-") == 0)
        cli_misuse("--plot -: the plot is rewritten every epoch; standard output cannot be "
                   "(name a file)");
    if (a->u.log && strcmp(a->u.log, "-") == 0)
        cli_misuse("--log -: the log is rewritten every epoch; standard output cannot be "
                   "(name a file)");
}

/* ---- setting up the run -------------------------------------------------- */

/* The checkpoint defaults to OUTPUT.ckpt (*ckpt, which the caller frees);
 * with -o - there is none unless named. */
static int default_checkpoint(args *a, char **ckpt, cnn_error *err)
{
    if (a->checkpoint || strcmp(a->out, "-") == 0) return 0;
    size_t len = strlen(a->out) + 6;
    if (!(*ckpt = malloc(len))) return cnn_errorf(err, "out of memory");
    snprintf(*ckpt, len, "%s.ckpt", a->out);
    a->checkpoint = *ckpt;
    return 0;
}

/* The inputs and outputs named on the command line, checked against each
 * other (cli_check_files: exits 2 on a clash). */
static void check_files(const args *a, const char *model_path)
{
    const cnn_file_role ins[] = {
        {"MODEL", model_path, NULL},                {"--train-images", a->train_images, NULL},
        {"--train-labels", a->train_labels, NULL},  {"--test-images", a->test_images, NULL},
        {"--test-labels", a->test_labels, NULL},    {"--resume", a->resume, "--checkpoint"},
        {"--train", a->train_set, NULL},            {"--test", a->test_set, NULL},
    };
    const cnn_file_role outs[] = {
        {"-o", a->out, NULL}, {"--checkpoint", a->checkpoint, NULL}, {"--log", a->u.log, NULL},
        {"--plot", a->u.plot, NULL}};
    cli_check_files(ins, sizeof ins / sizeof *ins, outs, sizeof outs / sizeof *outs);
}

/* The model: model_path, or with --resume alone a copy of the checkpoint's
 * (ckw, which cnn_train reads again); with both, they must be the same model. */
static int load_model(const char *model_path, const char *resume, const cnn_weights *ckw,
                      cnn_model **m, cnn_error *err)
{
    if (!model_path) return cnn_weights_resolve_model(ckw, NULL, m, err);
    if (cnn_model_load(model_path, m, err)) return -1;
    char why[512];
    if (resume && !cnn_model_same(*m, ckw->model, why, sizeof why))
        return cnn_errorf(err, "%s: the checkpoint is for a different model: %s",
                          cli_input_name(resume), why);
    return 0;
}

/* The hyperparameters the flags give, over the model's (or checkpoint's). */
static void apply_training_flags(const args *a, cnn_training *t)
{
    if (a->epochs.set) t->epochs = (int)a->epochs.v;
    if (a->batch.set) t->batch_size = (int)a->batch.v;
    if (a->seed.set) t->seed = (uint64_t)a->seed.v;
    if (a->lr.set) t->learning_rate = (float)a->lr.v;
    if (a->momentum.set) t->momentum = (float)a->momentum.v;
    if (a->step_epochs.set) t->step_epochs = (int)a->step_epochs.v;
    if (a->step_gamma.set) t->step_gamma = (float)a->step_gamma.v;
    if (a->optimizer >= 0) t->optimizer = a->optimizer;
    if (a->schedule >= 0) t->schedule = a->schedule;
    if (a->loss >= 0) t->loss = a->loss;
    if (a->nesterov) t->nesterov = 1;
}

/* A resume must keep the settings its saved position depends on, and must have
 * something left to do (exits 2 otherwise). */
static void check_resume_left(const args *a, const cnn_checkpoint *ck, const cnn_training *t)
{
    const char *resume = cli_input_name(a->resume), *out = a->out;
    /* Only --epochs and --patience may change; the position, optimizer state and
     * generators depend on the rest. */
    const char *fixed = cnn_checkpoint_fixed_setting_differs(&ck->training, t);
    if (fixed)
        resume_refused("%s: %s differs from the run's; it cannot change on resume (the "
                       "saved position and optimizer state depend on it); only --epochs, "
                       "--patience, --log, -o, --checkpoint and the data paths may",
                       resume, fixed);
    /* A finished run whose output exists has nothing left to do; without the
     * output (killed between the last checkpoint and the weights) the
     * resume writes it. */
    struct stat st;
    if (cnn_checkpoint_finished(ck, t->epochs, a->o.patience) &&
        (strcmp(out, "-") == 0 || stat(out, &st) == 0)) {
        if (ck->s.epoch >= t->epochs)
            resume_refused("%s: the run already finished (%d of %d epochs done) and wrote "
                           "%s; to train on, resume with a larger --epochs (e.g. --epochs "
                           "%d)", resume, ck->s.epoch, t->epochs, out, ck->s.epoch + 10);
        resume_refused("%s: the run stopped early after epoch %d (%d epochs without a "
                       "better validation loss, --patience %d) and wrote %s; to train on, "
                       "resume with a larger --patience", resume, ck->s.epoch,
                       ck->s.bad_epochs, a->o.patience, out);
    }
}

/* Reads the training set and the test set (if any) for m.  Afterwards
 * a->train_images names the training set however it was given. */
static int load_sets(args *a, const cnn_model *m, cnn_dataset **train, cnn_dataset **test,
                     cnn_error *err)
{
    a->dc.quiet = a->u.quiet;
    if (a->train_set) {
        if (data_cli_open(&a->dc, a->train_set, m, 1, 0, train, err) ||
            cnn_dataset_check(*train, a->train_set, m, err))
            return -1;
        if (!a->u.quiet) data_cli_describe(a->train_set, *train);
        a->train_images = a->train_set;
    } else if (cnn_dataset_load(a->train_images, a->train_labels, m,
                                cnn_limits_get()->max_file_bytes, train, err)) {
        return -1;
    }
    if (a->test_set) {
        if (data_cli_open(&a->dc, a->test_set, m, 1, 0, test, err) ||
            cnn_dataset_check(*test, a->test_set, m, err))
            return -1;
        if (!a->u.quiet) data_cli_describe(a->test_set, *test);
    } else if (a->test_images &&
               cnn_dataset_load_streamed(a->test_images, a->test_labels, m,
                                         cnn_limits_get()->max_file_bytes, test, err)) {
        /* read again at every evaluation, not kept in memory (issue 13) */
        return -1;
    }
    return 0;
}

/* The indices: *idx the whole training set, or a seeded --val-split of it
 * (*ntrain training indices, then *nval held out); with a test set, *vidx
 * all of it and *nval its size. */
static int split_sets(const args *a, const cnn_dataset *train, const cnn_dataset *test,
                      uint64_t seed, uint32_t **idx, size_t *ntrain, uint32_t **vidx, size_t *nval,
                      cnn_error *err)
{
    if (cnn_train_split(train->count, a->val_split, seed, idx, ntrain, nval, err)) {
        cnn_error_prefix(err, "%s: --val-split", a->train_images);
        return -1;
    }
    if (test) {
        *vidx = malloc(sizeof **vidx * (test->count ? test->count : 1));
        if (!*vidx) return cnn_errorf(err, "out of memory");
        for (size_t i = 0; i < test->count; i++) (*vidx)[i] = (uint32_t)i;
        *nval = test->count;
    }
    return 0;
}

/* A log or plot that cannot be written is found out now, not after training. */
static int check_per_epoch_files(const ui *u, int rank, cnn_error *err)
{
    const char *per_epoch[2] = {u->log, u->plot};
    for (int i = 0; i < 2; i++)
        if (per_epoch[i] && !rank) {
            cnn_atomic_file af;
            if (cnn_atomic_open(&af, per_epoch[i], err)) return -1;
            cnn_atomic_abort(&af);
        }
    return 0;
}

/* The paths the checkpoint records, made absolute into abs_paths[6] (the
 * caller frees them) and pointed at from a->o. */
static int record_paths(args *a, char *abs_paths[6], cnn_error *err)
{
    /* The checkpoint records a set given by one path (--train, --test) as its
     * images without labels. */
    const char *test_path = a->test_set ? a->test_set : a->test_images;
    if (!(abs_paths[0] = absolute(a->train_images)) ||
        (a->train_labels && !(abs_paths[1] = absolute(a->train_labels))) ||
        (test_path && !(abs_paths[2] = absolute(test_path))) ||
        (a->test_labels && !(abs_paths[3] = absolute(a->test_labels))) ||
        (strcmp(a->out, "-") != 0 && !(abs_paths[4] = absolute(a->out))) ||
        (a->u.log && !(abs_paths[5] = absolute(a->u.log))))
        return cnn_errorf(err, "out of memory");
    a->o.train_images = abs_paths[0];
    a->o.train_labels = abs_paths[1];
    a->o.test_images = abs_paths[2];
    a->o.test_labels = abs_paths[3];
    a->o.log = abs_paths[5];
    a->o.record_output = abs_paths[4];
    return 0;
}

/* The rest of cnn_train's options: outputs, the checkpoint resumed (ckw, read
 * once: standard input cannot be read again), what the checkpoint records
 * (record_paths), the stop flag, the callbacks with a->u, the communicator. */
static int set_train_opts(args *a, const cnn_comm *comm, const cnn_weights *ckw,
                          char *abs_paths[6], cnn_error *err)
{
    a->o.output = a->out;
    a->o.checkpoint = a->checkpoint;
    a->o.resume = a->resume ? cli_input_name(a->resume) : NULL;
    a->o.resume_weights = ckw;
    a->o.val_split = a->val_split;
    a->o.resize = a->dc.resize;
    a->o.invert = a->dc.invert;
    a->o.bn_images = a->bn_images;
    if (record_paths(a, abs_paths, err)) return -1;
    a->o.stop = &stop_flag;
    a->o.on_batch = on_batch;
    a->o.on_epoch = on_epoch;
    a->o.ctx = &a->u;
    a->o.comm = comm;
    return 0;
}

/* ---- reporting ----------------------------------------------------------- */

/* A run stopped by SIGINT or SIGTERM: where it can continue from. */
static void report_interrupted(const char *checkpoint)
{
    if (checkpoint)
        cli_note("interrupted; checkpoint written to %s (continue with --resume %s)",
                 checkpoint, checkpoint);
    else
        fprintf(stderr, "%s: interrupted; no checkpoint (name one with --checkpoint)\n",
                cli_prog);
}

/* The closing lines on stderr and, with --json, the JSON object on stdout, for
 * the weights written (the best epoch's with --patience). */
static void report(const args *a, const cnn_train_result *r, size_t nval)
{
    const cnn_epoch_stats *fin = a->o.patience && r->best_epoch ? &r->best : &r->last;
    const char *where = strcmp(a->out, "-") == 0 ? "standard output" : a->out;
    if (!a->u.quiet) {
        if (r->stopped_early)
            fprintf(stderr, "stopped early after epoch %d; keeping epoch %d\n", r->epochs_done,
                    r->best_epoch);
        if (fin->has_val)
            cli_line("%s accuracy %.4f (%.0f of %zu), loss %.4f; weights in %s", a->u.held,
                     fin->val_acc, fin->val_acc * (double)nval, nval, fin->val_loss, where);
        else
            cli_line("train accuracy %.4f; weights in %s", fin->train_acc, where);
    }
    if (a->json) {
        printf("{\"epochs\": %d, \"best_epoch\": %d, \"stopped_early\": %s, \"train_loss\": %.6f, "
               "\"train_accuracy\": %.6f",
               r->epochs_done, r->best_epoch, r->stopped_early ? "true" : "false",
               fin->train_loss, fin->train_acc);
        if (fin->has_val)
            printf(", \"val_loss\": %.6f, \"val_accuracy\": %.6f, \"val_images\": %zu",
                   fin->val_loss, fin->val_acc, nval);
        printf(", \"images_per_second\": %.1f, \"elapsed_seconds\": %.3f}\n",
               r->last.images_per_s, r->last.elapsed);
    }
}

/* ---- main ---------------------------------------------------------------- */

/* Sends stderr to /dev/null (ranks other than 0); returns the saved stderr. */
static int silence_stderr(void)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDERR_FILENO), close(devnull);
    return saved;
}

#ifndef CNN_TRAIN_NO_MAIN
int main(int argc, char **argv)
{
    return cnn_train_cli(argc, argv, NULL);
}
#endif

int cnn_train_cli(int argc, char **argv, const cnn_comm *comm)
{
    /* Ranks other than 0 run quietly: one rank prints and writes files. */
    int rank = comm ? comm->rank : 0, pre_train = 1;
    cnn_train_result r = {0};
    /* Misuse is the same on every rank: only rank 0 says so. */
    int saved_stderr = rank ? silence_stderr() : -1;
    cli_prog = comm ? "cnn-train-mpi" : "cnn-train";
    cli_usage = usage;
    args a = {0};
    int status = parse_args(argc, argv, rank, &a);
    if (status >= 0) return status;

    /* --resume: the checkpoint's model, data, outputs and settings, unless given. */
    cnn_weights *ckw = NULL;
    cnn_checkpoint ck = {0};
    cnn_error err;
    check_stdin_once(&a, argc, argv, comm ? comm->size : 1);
    if (a.resume) {
        if (read_checkpoint(a.resume, &ckw, &ck)) return 1;
        resume_defaults(&a, &ck);
    }
    check_usage(&a, argc, argv);
    if (a.resume) check_resume_unchanged(&a, &ck);
    check_standard_output(&a);
    if (saved_stderr >= 0) dup2(saved_stderr, STDERR_FILENO), close(saved_stderr);

    const char *model_path = a.model_flag ? a.model_flag : optind < argc ? argv[optind] : NULL;
    cnn_model *m = NULL;
    cnn_dataset *train = NULL, *test = NULL;
    uint32_t *idx = NULL, *vidx = NULL;
    char *ckpt = NULL, *abs_paths[6] = {NULL};
    status = 1;
    if (default_checkpoint(&a, &ckpt, &err)) goto fail;
    check_files(&a, model_path);

    if (load_model(model_path, a.resume, ckw, &m, &err)) goto fail;
    /* On resume, the run's settings come from the checkpoint. */
    if (a.resume) m->training = ck.training;
    apply_training_flags(&a, &m->training);
    a.o.t = m->training;
    if (a.resume) check_resume_left(&a, &ck, &m->training);

    size_t ntrain, nval;
    if (load_sets(&a, m, &train, &test, &err) ||
        split_sets(&a, train, test, m->training.seed, &idx, &ntrain, &vidx, &nval, &err) ||
        check_per_epoch_files(&a.u, rank, &err))
        goto fail;
    const cnn_dataset *val = test ? test : (nval ? train : NULL);

    a.u.title = m->name[0] ? m->name : NULL;
    if (a.threads) cnn_set_threads(a.threads); /* else the library's default: all cores */
    a.u.tty = isatty(STDERR_FILENO);
    if (rank) a.u.quiet = 1, a.json = 0;
    a.u.held = test ? "test" : "val";
    if (set_train_opts(&a, comm, ckw, abs_paths, &err)) goto fail;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* A file-size limit must fail the write (EFBIG), not kill the process. */
    signal(SIGXFSZ, SIG_IGN);

    pre_train = 0; /* from here on, cnn_train has joined the ranks' agreements */
    if (cnn_train(m, train, idx, ntrain, val, test ? vidx : idx + ntrain, nval, &a.o, &r, &err))
        goto fail;
    if (r.interrupted) {
        if (!rank) report_interrupted(a.checkpoint);
        status = 130;
        goto done;
    }
    report(&a, &r, nval);
    status = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: error: writing the results to standard output: %s\n", cli_prog,
                strerror(errno));
        status = 1;
    }
    goto done;
fail:
    /* A rank failing before training tells the others at the agreement that
     * cnn_train's setup ends with; a rank stopped by another stays quiet. */
    if (comm && pre_train) (void)comm->any(comm->ctx, 1);
    if (!comm)
        cli_report(&err);
    else if (pre_train || !r.peer_failed)
        cli_error("rank %d of %d: %s", rank, comm->size, err.msg);
done:
    for (int i = 0; i < 6; i++) free(abs_paths[i]);
    cnn_checkpoint_clear(&ck);
    cnn_weights_free(ckw);
    free(ckpt);
    free(vidx);
    free(idx);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    cnn_model_free(m);
    return status;
}
