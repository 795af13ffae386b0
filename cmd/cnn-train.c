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
    "                            and --threads may differ)\n"
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
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    CLI_LIMIT_OPTIONS,
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
        fprintf(stderr, "%s: warning: %s\n", cli_prog, err.msg);
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
        fprintf(stderr, "%s: warning: %s\n", cli_prog, err.msg);
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

/* ---- main ---------------------------------------------------------------- */

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
    int saved_stderr = -1;
    if (rank) {
        fflush(stderr);
        saved_stderr = dup(STDERR_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, STDERR_FILENO), close(devnull);
    }
    cli_prog = comm ? "cnn-train-mpi" : "cnn-train";
    cli_usage = usage;
    const char *out = NULL, *train_images = NULL, *train_labels = NULL, *test_images = NULL,
               *test_labels = NULL, *checkpoint = NULL, *resume = NULL, *train_set = NULL,
               *test_set = NULL, *model_flag = NULL;
    data_cli dc = {0};
    double val_split = 0;
    int json = 0, threads = 0;
    ui u = {0};
    cnn_train_opts o = {0};
    /* Flags first collected as "given" so they override the model's defaults. */
    struct { int set; long v; } epochs = {0}, batch = {0}, seed = {0}, step_epochs = {0};
    struct { int set; double v; } lr = {0}, momentum = {0}, step_gamma = {0};
    int optimizer = -1, schedule = -1, loss = -1, nesterov = 0;
    int init_set = 0, shift_set = 0, patience_set = 0, val_split_set = 0, bn_images_set = 0,
        rotate_set = 0, zoom_set = 0;
    long bn_images = CNN_BN_IMAGES_DEFAULT;
    static const char *const init_names[] = {"glorot", "he", NULL};

    int c;
    while ((c = getopt_long(argc, argv, ":o:m:qhV", options, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'm': model_flag = optarg; break;
        case OPT_TRAIN_IMAGES: train_images = optarg; break;
        case OPT_TRAIN_LABELS: train_labels = optarg; break;
        case OPT_TEST_IMAGES: test_images = optarg; break;
        case OPT_TEST_LABELS: test_labels = optarg; break;
        case OPT_TRAIN: train_set = optarg; break;
        case OPT_TEST: test_set = optarg; break;
        case OPT_RESIZE: dc.resize = 1; break;
        case OPT_INVERT: dc.invert = 1; break;
        case OPT_SKIP_BAD: dc.skip_bad = 1; break;
        case OPT_ROTATE: rotate_set = 1, o.rotate = (float)cli_double("--rotate", optarg, 0, 180, 0); break;
        case OPT_FLIP: o.flip = 1; break;
        case OPT_ZOOM: zoom_set = 1, o.zoom = (float)cli_double("--zoom", optarg, 0, 0.9, 0); break;
        case OPT_VAL_SPLIT: val_split_set = 1, val_split = cli_double("--val-split", optarg, 0, 0.9, 1); break;
        case OPT_EPOCHS: epochs.set = 1, epochs.v = cli_long("--epochs", optarg, 1, CNN_EPOCHS_MAX); break;
        case OPT_BATCH: batch.set = 1, batch.v = cli_long("--batch-size", optarg, 1, CNN_BATCH_MAX); break;
        case OPT_OPTIMIZER: optimizer = cli_name("--optimizer", optarg, cnn_optimizer_names); break;
        case OPT_LR: lr.set = 1, lr.v = cli_double("--learning-rate", optarg, CNN_LR_MIN, CNN_LR_MAX, 0); break;
        case OPT_MOMENTUM: momentum.set = 1, momentum.v = cli_double("--momentum", optarg, 0, CNN_MOMENTUM_MAX, 0); break;
        case OPT_NESTEROV: nesterov = 1; break;
        case OPT_SCHEDULE: schedule = cli_name("--schedule", optarg, cnn_schedule_names); break;
        case OPT_STEP_EPOCHS: step_epochs.set = 1, step_epochs.v = cli_long("--step-epochs", optarg, 1, CNN_STEP_EPOCHS_MAX); break;
        case OPT_STEP_GAMMA: step_gamma.set = 1, step_gamma.v = cli_double("--step-gamma", optarg, CNN_STEP_GAMMA_MIN, CNN_STEP_GAMMA_MAX, 0); break;
        case OPT_LOSS: loss = cli_name("--loss", optarg, cnn_loss_names); break;
        case OPT_SEED: seed.set = 1, seed.v = cli_long("--seed", optarg, 0, CNN_SEED_MAX); break;
        case OPT_INIT: init_set = 1, o.init = cli_name("--init", optarg, init_names); break;
        case OPT_BN_IMAGES: bn_images_set = 1, bn_images = cli_long("--bn-images", optarg, 0, CNN_CKPT_MAX_BN_IMAGES); break;
        case OPT_SHIFT: shift_set = 1, o.shift = (int)cli_long("--shift", optarg, 0, CNN_CKPT_MAX_SHIFT); break;
        case OPT_PATIENCE: patience_set = 1, o.patience = (int)cli_long("--patience", optarg, 0, CNN_CKPT_MAX_EPOCHS); break;
        case OPT_THREADS: threads = (int)cli_long("--threads", optarg, 1, MAX_THREADS); break;
        case OPT_CHECKPOINT: checkpoint = optarg; break;
        case OPT_RESUME: resume = optarg; break;
        case OPT_LOG: u.log = optarg; break;
        case OPT_PLOT: u.plot = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_CHECK_FINITE: o.check_finite = 1; break;
        case 'q': u.quiet = 1; break;
        case 'h': if (!rank) fputs(usage, stdout), fputs(help, stdout); return cli_stdout_status();
        case 'V': if (!rank) printf("%s %s\n", cli_prog, CNN_VERSION); return cli_stdout_status();
        default: cli_other_option(c, argv);
        }
    }
    /* --resume: the checkpoint's model, data, outputs and settings, unless given. */
    cnn_weights *ckw = NULL;
    cnn_checkpoint ck = {0};
    cnn_error err;
    if (resume) {
        if (cnn_weights_open(resume, &ckw, &err) || cnn_checkpoint_read(ckw, &ck, &err)) {
            fprintf(stderr, "cnn-train: error: %s\n", err.msg);
            cnn_checkpoint_clear(&ck);
            cnn_weights_free(ckw);
            return 1;
        }
        /* A set given by one path (--train/--test) is recorded without labels. */
        if (!train_set && !train_images && !train_labels) {
            if (ck.train_labels) train_images = ck.train_images, train_labels = ck.train_labels;
            else train_set = ck.train_images;
        }
        if (!test_set && !test_images && !test_labels && !val_split_set) {
            if (ck.test_labels) test_images = ck.test_images, test_labels = ck.test_labels;
            else test_set = ck.test_images;
        }
        if (!val_split_set && !test_images && !test_set) val_split = ck.val_split;
        if (!out) out = ck.output;
        if (!u.log) u.log = ck.log;
        if (!patience_set) o.patience = ck.patience;
        if (!shift_set) o.shift = ck.shift;
        if (!init_set) o.init = ck.init;
        /* a checkpoint without the field comes from a run without recomputation */
        if (!bn_images_set) bn_images = ck.bn_images >= 0 ? ck.bn_images : 0;
        /* Augmentation and how the sets were read, as the run had them; a flag
         * given differently is refused below. */
        if (!rotate_set) o.rotate = ck.rotate;
        if (!zoom_set) o.zoom = ck.zoom;
        if (ck.flip) o.flip = 1;
        if (ck.resize) dc.resize = 1;
        if (ck.invert) dc.invert = 1;
    }
    if (model_flag && optind < argc)
        cli_misuse("the model is given twice: -m %s and \"%s\"", model_flag, argv[optind]);
    if (optind >= argc && !resume && !model_flag) cli_misuse("missing the model file");
    if (optind < argc - 1) cli_misuse("one model file expected, also got \"%s\"", argv[optind + 1]);
    if (train_set && (train_images || train_labels))
        cli_misuse("use either --train or --train-images/--train-labels");
    if (test_set && (test_images || test_labels))
        cli_misuse("use either --test or --test-images/--test-labels");
    if (!train_set && (!train_images || !train_labels))
        cli_misuse("--train SET (or --train-images and --train-labels) is required");
    if (!out) cli_misuse("-o WEIGHTS.safetensors is required");
    if (!test_images != !test_labels) cli_misuse("--test-images and --test-labels go together");
    if ((test_images || test_set) && val_split > 0)
        cli_misuse("use either --test (or --test-images/--test-labels) or --val-split");
    if (o.patience && !test_images && !test_set && val_split <= 0)
        cli_misuse("--patience needs --test, --test-images or --val-split");
    if (resume && (shift_set && o.shift != ck.shift))
        resume_refused("%s: the run used --shift %d; --shift cannot change on resume", resume,
                       ck.shift);
    if (resume && init_set && o.init != ck.init)
        resume_refused("%s: the run used --init %s; --init cannot change on resume", resume,
                       init_names[ck.init]);
    if (resume && fabs(val_split - ck.val_split) > 1e-12)
        resume_refused("%s: the run used --val-split %g; the split cannot change on resume "
                       "(the training images would differ)", resume, ck.val_split);
    if (resume && (o.rotate != ck.rotate || o.zoom != ck.zoom || o.flip != ck.flip ||
                   dc.resize != ck.resize || dc.invert != ck.invert))
        resume_refused("%s: the run used --rotate %g --zoom %g%s%s%s; augmentation and how the "
                       "images are read cannot change on resume", resume, ck.rotate, ck.zoom,
                       ck.flip ? " --flip" : "", ck.resize ? " --resize" : "",
                       ck.invert ? " --invert" : "");
    if (resume && ck.bn_images >= 0 && bn_images != ck.bn_images)
        resume_refused("%s: the run used --bn-images %ld; it cannot change on resume", resume,
                       ck.bn_images);

    int out_stdout = strcmp(out, "-") == 0;
    if (out_stdout && json) cli_misuse("-o - and --json would both write to standard output");
    if (checkpoint && strcmp(checkpoint, "-") == 0)
        cli_misuse("--checkpoint -: a checkpoint is rewritten every epoch; standard output "
                   "cannot be (name a file)");
    if (u.plot && strcmp(u.plot, "-") == 0)
        cli_misuse("--plot -: the plot is rewritten every epoch; standard output cannot be "
                   "(name a file)");
    if (u.log && strcmp(u.log, "-") == 0)
        cli_misuse("--log -: the log is rewritten every epoch; standard output cannot be "
                   "(name a file)");

    if (saved_stderr >= 0) dup2(saved_stderr, STDERR_FILENO), close(saved_stderr);

    const char *model_path = model_flag ? model_flag : optind < argc ? argv[optind] : NULL;
    cnn_model *m = NULL;
    cnn_dataset *train = NULL, *test = NULL;
    uint32_t *idx = NULL, *vidx = NULL;
    char *ckpt = NULL, *abs_paths[6] = {NULL};
    int status = 1;
    /* The checkpoint defaults to OUTPUT.ckpt; with -o - there is none unless named. */
    if (!checkpoint && !out_stdout) {
        size_t len = strlen(out) + 6;
        if (!(ckpt = malloc(len))) {
            cnn_errorf(&err, "out of memory");
            goto fail;
        }
        snprintf(ckpt, len, "%s.ckpt", out);
        checkpoint = ckpt;
    }
    const cnn_file_role ins[] = {
        {"MODEL", model_path, NULL},            {"--train-images", train_images, NULL},
        {"--train-labels", train_labels, NULL}, {"--test-images", test_images, NULL},
        {"--test-labels", test_labels, NULL},   {"--resume", resume, "--checkpoint"},
        {"--train", train_set, NULL},           {"--test", test_set, NULL},
    };
    const cnn_file_role outs[] = {
        {"-o", out, NULL}, {"--checkpoint", checkpoint, NULL}, {"--log", u.log, NULL},
        {"--plot", u.plot, NULL}};
    cli_check_files(ins, sizeof ins / sizeof *ins, outs, sizeof outs / sizeof *outs);

    if (model_path) {
        if (cnn_model_load(model_path, &m, &err)) goto fail;
    } else {
        m = ckw->model; /* --resume alone: the checkpoint's model */
        ckw->model = NULL;
    }
    /* On resume, the run's settings come from the checkpoint. */
    if (resume && model_path) {
        char why[512];
        if (!cnn_model_same(m, ckw->model, why, sizeof why)) {
            cnn_errorf(&err, "%s: the checkpoint is for a different model: %s", resume, why);
            goto fail;
        }
    }
    if (resume) m->training = ck.training;
    cnn_training *t = &m->training;
    if (epochs.set) t->epochs = (int)epochs.v;
    if (batch.set) t->batch_size = (int)batch.v;
    if (seed.set) t->seed = (uint64_t)seed.v;
    if (lr.set) t->learning_rate = (float)lr.v;
    if (momentum.set) t->momentum = (float)momentum.v;
    if (step_epochs.set) t->step_epochs = (int)step_epochs.v;
    if (step_gamma.set) t->step_gamma = (float)step_gamma.v;
    if (optimizer >= 0) t->optimizer = optimizer;
    if (schedule >= 0) t->schedule = schedule;
    if (loss >= 0) t->loss = loss;
    if (nesterov) t->nesterov = 1;
    o.t = *t;
    if (resume) {
        /* Only --epochs and --patience may change; the position, optimizer state and
         * generators depend on the rest. */
        const char *fixed = cnn_checkpoint_fixed_setting_differs(&ck.training, t);
        if (fixed)
            resume_refused("%s: %s differs from the run's; it cannot change on resume (the "
                           "saved position and optimizer state depend on it); only --epochs, "
                           "--patience, --log, -o, --checkpoint and the data paths may",
                           resume, fixed);
        /* A finished run whose output exists has nothing left to do; without the
         * output (killed between the last checkpoint and the weights) the
         * resume writes it. */
        struct stat st;
        if (cnn_checkpoint_finished(&ck, t->epochs, o.patience) &&
            (out_stdout || stat(out, &st) == 0)) {
            if (ck.s.epoch >= t->epochs)
                resume_refused("%s: the run already finished (%d of %d epochs done) and wrote "
                               "%s; to train on, resume with a larger --epochs (e.g. --epochs "
                               "%d)", resume, ck.s.epoch, t->epochs, out, ck.s.epoch + 10);
            resume_refused("%s: the run stopped early after epoch %d (%d epochs without a "
                           "better validation loss, --patience %d) and wrote %s; to train on, "
                           "resume with a larger --patience", resume, ck.s.epoch,
                           ck.s.bad_epochs, o.patience, out);
        }
    }

    dc.quiet = u.quiet;
    if (train_set) {
        if (data_cli_open(&dc, train_set, m, 1, 0, &train, &err) ||
            cnn_dataset_check(train, train_set, m, &err))
            goto fail;
        if (!u.quiet) data_cli_describe(train_set, train);
        train_images = train_set;
    } else if (cnn_dataset_load(train_images, train_labels, m, cnn_limits_get()->max_file_bytes,
                                &train, &err)) {
        goto fail;
    }
    if (test_set) {
        if (data_cli_open(&dc, test_set, m, 1, 0, &test, &err) ||
            cnn_dataset_check(test, test_set, m, &err))
            goto fail;
        if (!u.quiet) data_cli_describe(test_set, test);
    } else if (test_images && cnn_dataset_load(test_images, test_labels, m,
                                               cnn_limits_get()->max_file_bytes, &test, &err)) {
        goto fail;
    }

    /* Indices: the whole training set, or a seeded split of it. */
    size_t ntrain, nval;
    if (cnn_train_split(train->count, val_split, t->seed, &idx, &ntrain, &nval, &err)) {
        cnn_error_prefix(&err, "%s: --val-split", train_images);
        goto fail;
    }
    const cnn_dataset *val = test ? test : (nval ? train : NULL);
    if (test) {
        vidx = malloc(sizeof *vidx * (test->count ? test->count : 1));
        if (!vidx) {
            cnn_errorf(&err, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < test->count; i++) vidx[i] = (uint32_t)i;
        nval = test->count;
    }

    /* a log or plot that cannot be written is found out now, not after training */
    const char *per_epoch[2] = {u.log, u.plot};
    for (int i = 0; i < 2; i++)
        if (per_epoch[i] && !rank) {
            cnn_atomic_file af;
            if (cnn_atomic_open(&af, per_epoch[i], &err)) goto fail;
            cnn_atomic_abort(&af);
        }
    u.title = m->name[0] ? m->name : NULL;
    cnn_set_threads(threads ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    u.tty = isatty(STDERR_FILENO);
    if (rank) u.quiet = 1, json = 0;
    o.output = out;
    o.checkpoint = checkpoint;
    o.resume = resume;
    o.val_split = val_split;
    o.resize = dc.resize;
    o.invert = dc.invert;
    o.bn_images = bn_images;
    /* The checkpoint records a set given by one path (--train, --test) as its
     * images without labels. */
    const char *test_path = test_set ? test_set : test_images;
    if (!(abs_paths[0] = absolute(train_images)) ||
        (train_labels && !(abs_paths[1] = absolute(train_labels))) ||
        (test_path && !(abs_paths[2] = absolute(test_path))) ||
        (test_labels && !(abs_paths[3] = absolute(test_labels))) ||
        (!out_stdout && !(abs_paths[4] = absolute(out))) ||
        (u.log && !(abs_paths[5] = absolute(u.log)))) {
        cnn_errorf(&err, "out of memory");
        goto fail;
    }
    o.train_images = abs_paths[0];
    o.train_labels = abs_paths[1];
    o.test_images = abs_paths[2];
    o.test_labels = abs_paths[3];
    o.log = abs_paths[5];
    o.record_output = abs_paths[4];
    o.stop = &stop_flag;
    o.on_batch = on_batch;
    o.on_epoch = on_epoch;
    o.ctx = &u;
    u.held = test ? "test" : "val";
    o.comm = comm;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* A file-size limit must fail the write (EFBIG), not kill the process. */
    signal(SIGXFSZ, SIG_IGN);

    pre_train = 0; /* from here on, cnn_train has joined the ranks' agreements */
    int rc = cnn_train(m, train, idx, ntrain, val, test ? vidx : idx + ntrain, nval, &o, &r, &err);
    if (rc) goto fail;
    if (r.interrupted) {
        if (rank)
            ;
        else if (checkpoint)
            fprintf(stderr, "%s: interrupted; checkpoint written to %s (continue with "
                            "--resume %s)\n", cli_prog, checkpoint, checkpoint);
        else
            fprintf(stderr, "%s: interrupted; no checkpoint (name one with --checkpoint)\n",
                    cli_prog);
        status = 130;
        goto done;
    }
    /* The figures of the weights written: the best epoch's with --patience. */
    const cnn_epoch_stats *fin = o.patience && r.best_epoch ? &r.best : &r.last;
    if (!u.quiet) {
        if (r.stopped_early)
            fprintf(stderr, "stopped early after epoch %d; keeping epoch %d\n", r.epochs_done,
                    r.best_epoch);
        if (fin->has_val)
            fprintf(stderr, "%s accuracy %.4f (%.0f of %zu), loss %.4f; weights in %s\n",
                    u.held, fin->val_acc, fin->val_acc * (double)nval,
                    nval, fin->val_loss, out_stdout ? "standard output" : out);
        else
            fprintf(stderr, "train accuracy %.4f; weights in %s\n", fin->train_acc,
                    out_stdout ? "standard output" : out);
    }
    if (json) {
        printf("{\"epochs\": %d, \"best_epoch\": %d, \"stopped_early\": %s, \"train_loss\": %.6f, "
               "\"train_accuracy\": %.6f",
               r.epochs_done, r.best_epoch, r.stopped_early ? "true" : "false", fin->train_loss,
               fin->train_acc);
        if (fin->has_val)
            printf(", \"val_loss\": %.6f, \"val_accuracy\": %.6f, \"val_images\": %zu",
                   fin->val_loss, fin->val_acc, nval);
        printf(", \"images_per_second\": %.1f, \"elapsed_seconds\": %.3f}\n",
               r.last.images_per_s, r.last.elapsed);
    }
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
        fprintf(stderr, "%s: error: %s\n", cli_prog, err.msg);
    else if (pre_train || !r.peer_failed)
        fprintf(stderr, "%s: error: rank %d of %d: %s\n", cli_prog, rank, comm->size, err.msg);
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
