/* cnn-infer: predictions for PNG and JPEG files, one image on standard input or IDX image sets,
 * one line per input on stdout; evaluation against labels. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cnn.h"
#include "data_cli.h"
#include "threads.h"
#include "infer.h"
#include "plot.h"

#define MAX_THREADS CNN_MAX_THREADS /* the library's one limit (threads.h) */
#define DEFAULT_BATCH 128
#define MAX_STDIN_PNG ((size_t)256 << 20)

static const char usage[] =
    "usage: cnn-infer -w WEIGHTS.safetensors [MODEL.json] [options] IMAGE... | -\n"
    "       cnn-infer -w WEIGHTS.safetensors [MODEL.json] [options] --png-stdin\n"
    "       cnn-infer -w WEIGHTS.safetensors [MODEL.json] [options] --images F [--labels F]\n"
    "       cnn-infer -w WEIGHTS.safetensors [MODEL.json] [options] --eval SET\n";

static const char help[] =
    "Prints one prediction per input on stdout, in input order: the source (file name\n"
    "or IDX index), the predicted class and its probability, tab-separated.\n"
    "\n"
    "  -w, --weights FILE      weights (safetensors with the model in its metadata);\n"
    "                          -w - reads them from stdin\n"
    "  -m, --model FILE        model JSON; must agree with the weights (a first\n"
    "                          argument ending in .json is taken as this too);\n"
    "                          -m - reads it from stdin\n"
    "  FOLDER                  every PNG and JPEG under it, in sorted order\n"
    "  -                       read image file names from stdin, one per line\n"
    "  -0, --null              with -: the names end with a NUL byte instead of a\n"
    "                          newline (find -print0, xargs -0)\n"
    "      --png-stdin         read one PNG or JPEG image from stdin\n"
    "      --images FILE       an IDX image set (plain or gzip), run in batches\n"
    "      --labels FILE       its labels: evaluate (table on stderr; JSON with --json)\n"
    "      --eval SET          evaluate on a labelled set: class folders, a list\n"
    "                          file, a CSV or IDX (see cnn-data(1))\n"
    "      --predictions       with --labels or --eval, also print each prediction and its label\n"
    "      --confusion FILE    with --labels or --eval, draw the confusion matrix as a PNG\n"
    "                          (counts, class names, per-class recall; - for stdout)\n"
    "      --top K             also the next K-1 classes and their probabilities\n"
    "      --probs             also every class probability, in class order\n"
    "      --json              JSON lines instead of TSV\n"
    "      --class-names FILE  class names, one per line, instead of indices\n"
    "      --invert            use 1 - v for every pixel (dark-on-light images)\n"
    "      --resize            resize PNG and JPEG images to the model's input (bilinear)\n"
    "      --batch-size N      images per forward pass (default 128)\n"
    "      --threads N         threads for the math (default: all cores)\n"
    "  -q, --quiet             no evaluation table on stderr\n"
    CLI_LIMIT_HELP
    "  -h, --help              this help\n"
    "  -V, --version           the version\n"
    "\n"
    "An input that cannot be read or decoded gives an error line on stderr and\n"
    "nothing on stdout; the others are still processed and the exit status is 1.\n";

enum {
    OPT_PNG_STDIN = 256, OPT_IMAGES, OPT_LABELS, OPT_PREDICTIONS, OPT_TOP, OPT_PROBS, OPT_JSON,
    OPT_CLASS_NAMES, OPT_INVERT, OPT_RESIZE, OPT_BATCH, OPT_THREADS, OPT_EVAL, OPT_CONFUSION,
};

static char name_end = '\n'; /* what ends a file name on stdin: '\0' with -0 */

static const struct option options[] = {
    {"weights", required_argument, NULL, 'w'},
    {"model", required_argument, NULL, 'm'},
    {"png-stdin", no_argument, NULL, OPT_PNG_STDIN},
    {"null", no_argument, NULL, '0'},
    {"images", required_argument, NULL, OPT_IMAGES},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"eval", required_argument, NULL, OPT_EVAL},
    {"predictions", no_argument, NULL, OPT_PREDICTIONS},
    {"confusion", required_argument, NULL, OPT_CONFUSION},
    {"top", required_argument, NULL, OPT_TOP},
    {"probs", no_argument, NULL, OPT_PROBS},
    {"json", no_argument, NULL, OPT_JSON},
    {"class-names", required_argument, NULL, OPT_CLASS_NAMES},
    {"invert", no_argument, NULL, OPT_INVERT},
    {"resize", no_argument, NULL, OPT_RESIZE},
    {"batch-size", required_argument, NULL, OPT_BATCH},
    {"threads", required_argument, NULL, OPT_THREADS},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static int ends_with_json(const char *s)
{
    size_t n = strlen(s);
    return n > 5 && strcasecmp(s + n - 5, ".json") == 0;
}

/* ---- running batches ----------------------------------------------------- */

typedef struct run {
    cnn_predictor *p;
    cnn_pred_format fmt;
    cnn_input_opts in_opts;
    cnn_shape in;
    int classes;
    int failed;     /* some input failed: exit 1 at the end */
    int count;      /* images waiting in the predictor's input */
    char **sources; /* (max_batch) their names, owned */
    cnn_strbuf out;
    int out_failed; /* writing stdout failed: nothing more is written */
    const char *confusion; /* --confusion: the PNG to draw, or NULL */
} run;

static void report(const cnn_error *err)
{
    cli_report(err);
}

/* Writes the output buffered so far.  A write error (disk full, closed pipe
 * with SIGPIPE ignored) ends the run. */
static int write_out(run *r)
{
    if (r->out.oom) {
        fputs("cnn-infer: error: out of memory\n", stderr);
        return -1;
    }
    if (r->out.len && fwrite(r->out.s, 1, r->out.len, stdout) != r->out.len) goto fail;
    r->out.len = 0;
    if (fflush(stdout) == 0) return 0;
fail:
    fprintf(stderr, "cnn-infer: error: writing standard output: %s\n", strerror(errno));
    r->out_failed = 1;
    return -1;
}

/* Runs the images waiting in the input and prints their lines. */
static int flush_batch(run *r)
{
    if (r->count == 0) return 0;
    cnn_error err;
    if (cnn_predictor_run(r->p, r->count, &err)) {
        report(&err);
        return -1;
    }
    const float *probs = cnn_predictor_probs(r->p);
    for (int i = 0; i < r->count; i++) {
        cnn_format_prediction(&r->out, &r->fmt, r->sources[i], 0,
                              probs + (size_t)i * r->classes, r->classes, -1);
        free(r->sources[i]);
        r->sources[i] = NULL;
    }
    r->count = 0;
    return write_out(r);
}

/* Decodes one PNG or JPEG file into the next input slot; a bad file is reported and
 * skipped.  Returns -1 only for errors that end the run. */
static int add_png(run *r, const char *path)
{
    float *x = cnn_predictor_input(r->p) + (size_t)r->count * cnn_shape_size(r->in);
    cnn_error err;
    if (cnn_png_to_input(path, r->in, &r->in_opts, x, &err)) {
        report(&err);
        r->failed = 1;
        return 0;
    }
    if (!(r->sources[r->count] = strdup(path))) {
        fputs("cnn-infer: error: out of memory\n", stderr);
        return -1;
    }
    if (++r->count == cnn_predictor_max_batch(r->p)) return flush_batch(r);
    return 0;
}

/* File names from stdin.  Read with read(2) into our own buffer, so that
 * before blocking for more names we can tell whether a full line is already
 * here: if not, the images waiting are run first and a slow producer (a shell
 * loop, a file watcher) sees each result as soon as its name is complete.
 * A name is at most PATH_MAX bytes: the buffer never grows, and each byte is
 * scanned once (`scanned`), however the input is cut into reads. */
#define NAME_MAX_LINE PATH_MAX

typedef struct line_reader {
    char buf[2 * NAME_MAX_LINE + 2];
    size_t start, scanned, end;
    unsigned long lineno;
    int eof;
} line_reader;

static int stdin_ready(void)
{
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/* The next line (without its newline) in *line, NUL-terminated inside the
 * buffer, its length in *len; 1 for a line, 0 at the end, -1 on an error that
 * ends the run (a read error, a line longer than PATH_MAX). */
static int next_line(line_reader *lr, run *r, char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(lr->buf + lr->scanned, name_end, lr->end - lr->scanned);
        lr->scanned = nl ? (size_t)(nl - lr->buf) : lr->end;
        if (lr->scanned - lr->start > NAME_MAX_LINE) {
            fprintf(stderr, "cnn-infer: error: <stdin>: %s %lu is longer than %d bytes "
                            "(PATH_MAX): not a file name\n", name_end ? "line" : "name",
                    lr->lineno + 1, NAME_MAX_LINE);
            return -1;
        }
        if (nl || (lr->eof && lr->end > lr->start)) {
            char *s = lr->buf + lr->start;
            *len = lr->scanned - lr->start;
            lr->buf[lr->scanned] = '\0';
            lr->start = lr->scanned = nl ? lr->scanned + 1 : lr->end;
            lr->lineno++;
            *line = s;
            return 1;
        }
        if (lr->eof) return 0;
        if (r->count && !stdin_ready() && flush_batch(r)) return -1;
        /* Move the partial line (at most PATH_MAX bytes) to the front, read more. */
        memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
        lr->end -= lr->start;
        lr->scanned -= lr->start;
        lr->start = 0;
        ssize_t n = read(STDIN_FILENO, lr->buf + lr->end, sizeof lr->buf - 1 - lr->end);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fprintf(stderr, "cnn-infer: error: reading file names from stdin: %s\n",
                    strerror(errno));
            return -1;
        }
        if (n == 0) lr->eof = 1;
        lr->end += (size_t)n;
    }
}

static int names_from_stdin(run *r)
{
    line_reader *lr = calloc(1, sizeof *lr);
    char *line;
    size_t len;
    int rc;
    if (!lr) {
        fputs("cnn-infer: error: out of memory\n", stderr);
        return -1;
    }
    while ((rc = next_line(lr, r, &line, &len)) == 1) {
        if (len == 0) continue;
        if (memchr(line, '\0', len)) { /* would silently name another file */
            fprintf(stderr, "cnn-infer: error: <stdin>: line %lu: the file name holds a NUL "
                            "byte\n", lr->lineno);
            r->failed = 1;
            continue;
        }
        if (add_png(r, line)) {
            rc = -1;
            break;
        }
    }
    if (rc < 0 && !r->out_failed) flush_batch(r); /* the names before a bad line still count */
    free(lr);
    return rc;
}

static int png_from_stdin(run *r)
{
    char *buf = NULL;
    size_t len = 0;
    cnn_error err;
    if (cnn_read_stream(stdin, "<stdin>", MAX_STDIN_PNG, &buf, &len, &err) ||
        cnn_png_mem_to_input(buf, len, "<stdin>", r->in, &r->in_opts, cnn_predictor_input(r->p),
                             &err)) {
        free(buf);
        report(&err);
        r->failed = 1;
        return 0;
    }
    free(buf);
    if (!(r->sources[0] = strdup("-"))) return -1;
    r->count = 1;
    return flush_batch(r);
}

/* A whole set in batches, sources named by file (d->files) or index; with
 * labels, the evaluation.  invert: 1 - v at conversion (sets read from image
 * files are inverted while decoding). */
static int run_set(run *r, const cnn_dataset *d, int labels, int predictions, int quiet,
                   int invert)
{
    cnn_error err;
    cnn_eval *ev = NULL;
    uint32_t *idx = NULL;
    int rc = -1, nb = cnn_predictor_max_batch(r->p);
    if (labels && cnn_eval_new(r->classes, &ev, &err)) {
        report(&err);
        goto done;
    }
    if (!(idx = malloc(sizeof *idx * (size_t)nb))) {
        fputs("cnn-infer: error: out of memory\n", stderr);
        goto done;
    }
    int print = !labels || predictions;
    int top1;
    for (size_t at = 0; at < d->count; at += (size_t)nb) {
        int n = d->count - at < (size_t)nb ? (int)(d->count - at) : nb;
        for (int i = 0; i < n; i++) idx[i] = (uint32_t)(at + (size_t)i);
        cnn_predictor_fill(r->p, d, idx, n, invert);
        if (cnn_predictor_run(r->p, n, &err)) {
            report(&err);
            goto done;
        }
        const float *probs = cnn_predictor_probs(r->p);
        for (int i = 0; i < n; i++) {
            const float *pi = probs + (size_t)i * r->classes;
            int label = labels ? d->labels[at + (size_t)i] : -1;
            if (ev) {
                cnn_top_k(pi, r->classes, 1, &top1);
                cnn_eval_add(ev, label, top1);
            }
            if (print)
                cnn_format_prediction(&r->out, &r->fmt, d->files ? d->files[at + (size_t)i] : NULL,
                                      at + (size_t)i, pi, r->classes, label);
        }
        if (print && write_out(r)) goto done;
    }
    if (ev) {
        const char *const *names = r->fmt.names;
        if (!quiet) {
            char *text = cnn_eval_text(ev, names);
            if (!text) goto oom;
            fputs(text, stderr);
            free(text);
        }
        if (r->fmt.json) {
            char *json = cnn_eval_json(ev, names);
            if (!json) goto oom;
            cnn_strbuf_printf(&r->out, "%s", json);
            free(json);
            if (write_out(r)) goto done;
        }
        const char *title = cnn_predictor_model(r->p)->name;
        if (r->confusion && cnn_plot_confusion(r->confusion, ev->confusion, ev->nclasses, names,
                                               *title ? title : NULL, NULL, &err)) {
            report(&err);
            goto done;
        }
    }
    rc = 0;
    goto done;
oom:
    fputs("cnn-infer: error: out of memory\n", stderr);
done:
    free(idx);
    cnn_eval_free(ev);
    return rc;
}

/* An IDX set (images, and labels to evaluate). */
static int idx_set(run *r, const char *images, const char *labels, int predictions, int quiet)
{
    cnn_error err;
    cnn_dataset *d = NULL;
    if (cnn_dataset_load(images, labels, cnn_predictor_model(r->p),
                         cnn_limits_get()->max_file_bytes, &d, &err)) {
        report(&err);
        return -1;
    }
    int rc = run_set(r, d, labels != NULL, predictions, quiet, r->in_opts.invert);
    cnn_dataset_free(d);
    return rc;
}

/* Any set cnn_dataset_open reads: a folder of images to predict (labelled 0),
 * or a labelled set to evaluate (--eval). */
static int path_set(run *r, const char *path, int labelled, int predictions, int quiet)
{
    cnn_error err;
    cnn_dataset *d = NULL;
    data_cli dc = {.resize = r->in_opts.resize, .invert = r->in_opts.invert, .quiet = quiet};
    const cnn_model *m = cnn_predictor_model(r->p);
    if (data_cli_open(&dc, path, m, labelled, 1, &d, &err) ||
        (labelled && cnn_dataset_check(d, path, m, &err))) {
        report(&err);
        cnn_dataset_free(d);
        return -1;
    }
    /* The set's class names, when the weights have none and none were given. */
    if (labelled && d->class_names && !r->fmt.names) r->fmt.names = (const char *const *)d->class_names;
    int rc = run_set(r, d, labelled, predictions, quiet, 0);
    if (r->fmt.names == (const char *const *)d->class_names) r->fmt.names = NULL;
    cnn_dataset_free(d);
    return rc;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- main ---------------------------------------------------------------- */

/* ---- the command line ---------------------------------------------------- */

/* What the command line says (with what goes straight into the run: --confusion,
 * --probs, --json, --invert, --resize). */
typedef struct infer_args {
    const char *weights, *model, *images, *labels, *class_names, *eval;
    int png_stdin, predictions, quiet, threads;
    long batch, top;
    int first, nfiles, dashes; /* the operands argv[first..]: how many, how many "-" */
} infer_args;

/* Reads the flags into *a and *r.  Returns -1 to go on, or the exit status
 * once --help or --version is done (misuse exits 2). */
static int parse_args(int argc, char **argv, infer_args *a, run *r)
{
    *a = (infer_args){.batch = DEFAULT_BATCH, .top = 1};
    int c;
    while ((c = getopt_long(argc, argv, ":w:m:0qhV", options, NULL)) != -1) {
        switch (c) {
        case 'w': a->weights = optarg; break;
        case '0': name_end = '\0'; break;
        case 'm': a->model = optarg; break;
        case OPT_PNG_STDIN: a->png_stdin = 1; break;
        case OPT_IMAGES: a->images = optarg; break;
        case OPT_LABELS: a->labels = optarg; break;
        case OPT_EVAL: a->eval = optarg; break;
        case OPT_PREDICTIONS: a->predictions = 1; break;
        case OPT_CONFUSION: r->confusion = optarg; break;
        case OPT_TOP: a->top = cli_long("--top", optarg, 1, 1000000); break;
        case OPT_PROBS: r->fmt.probs = 1; break;
        case OPT_JSON: r->fmt.json = 1; break;
        case OPT_CLASS_NAMES: a->class_names = optarg; break;
        case OPT_INVERT: r->in_opts.invert = 1; break;
        case OPT_RESIZE: r->in_opts.resize = 1; break;
        case OPT_BATCH: a->batch = cli_long("--batch-size", optarg, 1, 65536); break;
        case OPT_THREADS: a->threads = (int)cli_long("--threads", optarg, 1, MAX_THREADS); break;
        case 'q': a->quiet = 1; break;
        case 'h': fputs(usage, stdout); fputs(help, stdout); return cli_stdout_status();
        case 'V': printf("cnn-infer %s\n", CNN_VERSION); return cli_stdout_status();
        default: cli_other_option(c, argv);
        }
    }
    return -1;
}

/* Takes a MODEL.json operand, counts the other operands, and exits 2 on
 * misuse: one kind of input, flags that go together, stdin read once. */
static void check_usage(infer_args *a, const run *r, int argc, char **argv)
{
    if (!a->weights) cli_misuse("-w WEIGHTS.safetensors is required");
    a->first = optind;
    if (!a->model && a->first < argc && ends_with_json(argv[a->first]))
        a->model = argv[a->first++];
    a->nfiles = argc - a->first;
    for (int i = a->first; i < argc; i++) a->dashes += strcmp(argv[i], "-") == 0;
    int kinds = (a->nfiles > 0) + a->png_stdin + (a->images != NULL) + (a->eval != NULL);
    if (kinds == 0) cli_misuse("no input: give images or folders, - (names on stdin), --png-stdin, --images or --eval");
    if (kinds > 1) cli_misuse("give only one kind of input: images, folders or -, --png-stdin, --images, or --eval");
    if (a->dashes > 1) cli_misuse("- (file names from stdin) can be given only once");
    if (!name_end && !a->dashes) cli_misuse("-0 goes with - (file names from stdin)");
    if (a->labels && !a->images) cli_misuse("--labels needs --images");
    if (a->predictions && !a->labels && !a->eval) cli_misuse("--predictions goes with --labels");
    if (r->confusion && !a->labels && !a->eval)
        cli_misuse("--confusion goes with --labels or --eval");
    if (r->confusion && strcmp(r->confusion, "-") == 0 && (r->fmt.json || a->predictions))
        cli_misuse("--confusion - and --json or --predictions would both write to standard output");
    if (a->images && r->in_opts.resize)
        cli_misuse("--resize applies to PNG and JPEG input, not to --images");
    const cnn_file_role stdin_users[] = {{"-w -", a->weights, NULL},
                                         {"-m -", a->model, NULL},
                                         {"- (file names)", a->dashes ? "-" : NULL, NULL},
                                         {"--png-stdin", a->png_stdin ? "-" : NULL, NULL}};
    cli_stdin_once(stdin_users, sizeof stdin_users / sizeof *stdin_users);
}

/* --confusion: not over an input (exit 2), and writable before the work. */
static int check_confusion_output(const infer_args *a, const char *confusion, cnn_error *err)
{
    const cnn_file_role ins[] = {{"-w", a->weights, NULL}, {"--model", a->model, NULL},
                                 {"--images", a->images, NULL}, {"--labels", a->labels, NULL}};
    const cnn_file_role outs[] = {{"--confusion", confusion, NULL}};
    cli_check_files(ins, sizeof ins / sizeof *ins, outs, 1);
    cnn_atomic_file af; /* a picture that cannot be written is found out before the work */
    if (cnn_atomic_open(&af, confusion, err)) return -1;
    cnn_atomic_abort(&af);
    return 0;
}

/* --batch-size, but no bigger a batch than there are inputs: a single image
 * does not pay for arenas sized for 128. */
static long batch_size(const infer_args *a, char **argv)
{
    long batch = a->batch;
    if (a->png_stdin) {
        batch = 1;
    } else if (a->nfiles > 0 && !a->dashes && a->nfiles < batch) {
        int dirs = 0;
        for (int i = a->first; i < a->first + a->nfiles; i++) dirs += is_dir(argv[i]);
        if (!dirs) batch = a->nfiles;
    }
    if (a->images) { /* the set's size from its header alone; a bad file is reported later */
        cnn_idx *h = NULL;
        cnn_error err;
        if (cnn_idx_read_header(a->images, cnn_limits_get()->max_file_bytes, &h, &err) == 0 &&
            h->count < (size_t)batch)
            batch = (long)h->count;
        cnn_idx_free(h);
    }
    return batch;
}

/* The predictor for batches of `batch`, the classes (--top checked against
 * them: exit status 2) and their names (--class-names, or stored with the
 * weights; *names owns the loaded ones).  Returns 0, -1 with err set, or 2. */
static int open_predictor(const infer_args *a, long batch, run *r, char ***names,
                          cnn_error *err)
{
    cnn_weights *w = NULL;
    cnn_model *m = NULL;
    int opened = cli_weights_open(a->weights, CLI_DEFERRED, &w, err) == 0;
    if (opened && a->model && strcmp(a->model, "-") == 0) /* -m -: the model from stdin */
        opened = cli_model_load(a->model, &m, err) == 0 &&
                 cnn_predictor_new_model(w, m, "<stdin>", (int)batch, &r->p, err) == 0;
    else if (opened)
        opened = cnn_predictor_new(w, a->model, (int)batch, &r->p, err) == 0;
    cnn_weights_free(w);
    if (!opened) return -1;
    r->classes = cnn_predictor_classes(r->p);
    r->in = cnn_predictor_model(r->p)->input;
    if (a->top > r->classes) {
        fprintf(stderr, "cnn-infer: --top %ld: the model has only %d classes\n", a->top,
                r->classes);
        return 2;
    }
    r->fmt.top = (int)a->top;
    if (a->class_names) {
        if (cnn_class_names_load(a->class_names, r->classes, names, err)) return -1;
        r->fmt.names = (const char *const *)*names;
    } else if (cnn_predictor_class_names(r->p, &r->fmt.names, err)) { /* stored with the weights */
        return -1;
    }
    if (!a->images && cnn_input_check(r->in, err)) {
        cnn_error_prefix(err, "%s", cli_input_name(a->model ? a->model : a->weights));
        return -1;
    }
    if (!(r->sources = calloc((size_t)batch, sizeof *r->sources)))
        return cnn_errorf(err, "out of memory");
    return 0;
}

/* Classifies the inputs of whichever kind was given.  Returns 0 or -1. */
static int run_inputs(const infer_args *a, run *r, char **argv)
{
    if (a->images) return idx_set(r, a->images, a->labels, a->predictions, a->quiet);
    if (a->eval) return path_set(r, a->eval, 1, a->predictions, a->quiet);
    if (a->png_stdin) return png_from_stdin(r);
    int rc = 0;
    for (int i = a->first; i < a->first + a->nfiles && rc == 0; i++)
        rc = strcmp(argv[i], "-") == 0 ? names_from_stdin(r)
             : is_dir(argv[i]) ? (flush_batch(r) ? -1 : path_set(r, argv[i], 0, 0, a->quiet))
                               : add_png(r, argv[i]);
    if (rc == 0) rc = flush_batch(r);
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cli_prog = "cnn-infer";
    cli_usage = usage;
    infer_args a;
    run r = {0};
    int status = parse_args(argc, argv, &a, &r);
    if (status >= 0) return status;
    check_usage(&a, &r, argc, argv);

    cnn_error err;
    char **names = NULL;
    status = 1;
    if (r.confusion && check_confusion_output(&a, r.confusion, &err)) goto fail;
    if (a.threads) cnn_set_threads(a.threads); /* else the library's default: all cores */
    long batch = batch_size(&a, argv);
    int rc = open_predictor(&a, batch, &r, &names, &err);
    if (rc == 2) {
        status = 2;
        goto done;
    }
    if (rc) goto fail;
    status = run_inputs(&a, &r, argv) || r.failed ? 1 : 0;
    goto done;
fail:
    report(&err);
done:
    if (r.sources)
        for (int i = 0; i < r.count; i++) free(r.sources[i]);
    free(r.sources);
    free(r.out.s);
    cnn_class_names_free(names);
    cnn_predictor_free(r.p);
    return status;
}
