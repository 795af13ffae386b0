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
    "                          argument ending in .json is taken as this too)\n"
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
    fprintf(stderr, "cnn-infer: error: %s\n", err->msg);
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

int main(int argc, char **argv)
{
    cli_prog = "cnn-infer";
    cli_usage = usage;
    const char *weights = NULL, *model = NULL, *images = NULL, *labels = NULL,
               *class_names = NULL, *eval = NULL;
    int png_stdin = 0, predictions = 0, quiet = 0, threads = 0;
    long batch = DEFAULT_BATCH, top = 1;
    run r = {0};

    int c;
    while ((c = getopt_long(argc, argv, ":w:m:0qhV", options, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case '0': name_end = '\0'; break;
        case 'm': model = optarg; break;
        case OPT_PNG_STDIN: png_stdin = 1; break;
        case OPT_IMAGES: images = optarg; break;
        case OPT_LABELS: labels = optarg; break;
        case OPT_EVAL: eval = optarg; break;
        case OPT_PREDICTIONS: predictions = 1; break;
        case OPT_CONFUSION: r.confusion = optarg; break;
        case OPT_TOP: top = cli_long("--top", optarg, 1, 1000000); break;
        case OPT_PROBS: r.fmt.probs = 1; break;
        case OPT_JSON: r.fmt.json = 1; break;
        case OPT_CLASS_NAMES: class_names = optarg; break;
        case OPT_INVERT: r.in_opts.invert = 1; break;
        case OPT_RESIZE: r.in_opts.resize = 1; break;
        case OPT_BATCH: batch = cli_long("--batch-size", optarg, 1, 65536); break;
        case OPT_THREADS: threads = (int)cli_long("--threads", optarg, 1, MAX_THREADS); break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); fputs(help, stdout); return cli_stdout_status();
        case 'V': printf("cnn-infer %s\n", CNN_VERSION); return cli_stdout_status();
        default: cli_other_option(c, argv);
        }
    }
    if (!weights) cli_misuse("-w WEIGHTS.safetensors is required");
    int first = optind;
    if (!model && first < argc && ends_with_json(argv[first])) model = argv[first++];
    int nfiles = argc - first, dashes = 0;
    for (int i = first; i < argc; i++) dashes += strcmp(argv[i], "-") == 0;
    int kinds = (nfiles > 0) + png_stdin + (images != NULL) + (eval != NULL);
    if (kinds == 0) cli_misuse("no input: give images or folders, - (names on stdin), --png-stdin, --images or --eval");
    if (kinds > 1) cli_misuse("give only one kind of input: images, folders or -, --png-stdin, --images, or --eval");
    if (dashes > 1) cli_misuse("- (file names from stdin) can be given only once");
    if (!name_end && !dashes) cli_misuse("-0 goes with - (file names from stdin)");
    if (labels && !images) cli_misuse("--labels needs --images");
    if (predictions && !labels && !eval) cli_misuse("--predictions goes with --labels");
    if (r.confusion && !labels && !eval) cli_misuse("--confusion goes with --labels or --eval");
    if (r.confusion && strcmp(r.confusion, "-") == 0 && (r.fmt.json || predictions))
        cli_misuse("--confusion - and --json or --predictions would both write to standard output");
    if (images && r.in_opts.resize) cli_misuse("--resize applies to PNG and JPEG input, not to --images");
    const cnn_file_role stdin_users[] = {{"-w -", weights, NULL},
                                         {"- (file names)", dashes ? "-" : NULL, NULL},
                                         {"--png-stdin", png_stdin ? "-" : NULL, NULL}};
    cli_stdin_once(stdin_users, sizeof stdin_users / sizeof *stdin_users);

    cnn_error err;
    char **names = NULL;
    int status = 1;
    if (r.confusion) {
        const cnn_file_role ins[] = {{"-w", weights, NULL}, {"--model", model, NULL},
                                     {"--images", images, NULL}, {"--labels", labels, NULL}};
        const cnn_file_role outs[] = {{"--confusion", r.confusion, NULL}};
        cli_check_files(ins, sizeof ins / sizeof *ins, outs, 1);
        cnn_atomic_file af; /* a picture that cannot be written is found out before the work */
        if (cnn_atomic_open(&af, r.confusion, &err)) goto fail;
        cnn_atomic_abort(&af);
    }
    if (threads) cnn_set_threads(threads);
    else {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cnn_set_threads(cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores);
    }
    /* No bigger a batch than there are inputs: a single image does not pay for
     * arenas sized for 128. */
    if (png_stdin) batch = 1;
    else if (nfiles > 0 && !dashes && nfiles < batch) {
        int dirs = 0;
        for (int i = first; i < argc; i++) dirs += is_dir(argv[i]);
        if (!dirs) batch = nfiles;
    }
    if (images) { /* the set's size from its header alone; a bad file is reported below */
        cnn_idx *h = NULL;
        if (cnn_idx_read_header(images, cnn_limits_get()->max_file_bytes, &h, &err) == 0 &&
            h->count < (size_t)batch)
            batch = (long)h->count;
        cnn_idx_free(h);
    }
    cnn_weights *w = NULL;
    int opened = cli_weights_open(weights, 0, &w, &err) == 0 &&
                 cnn_predictor_new(w, model, (int)batch, &r.p, &err) == 0;
    cnn_weights_free(w);
    if (!opened) goto fail;
    r.classes = cnn_predictor_classes(r.p);
    r.in = cnn_predictor_model(r.p)->input;
    if (top > r.classes) {
        fprintf(stderr, "cnn-infer: --top %ld: the model has only %d classes\n", top, r.classes);
        status = 2;
        goto done;
    }
    r.fmt.top = (int)top;
    if (class_names) {
        if (cnn_class_names_load(class_names, r.classes, &names, &err)) goto fail;
        r.fmt.names = (const char *const *)names;
    } else if (cnn_predictor_class_names(r.p, &r.fmt.names, &err)) { /* stored with the weights */
        goto fail;
    }
    if (!images && cnn_input_check(r.in, &err)) {
        cnn_error_prefix(&err, "%s", model ? model : weights);
        goto fail;
    }
    if (!(r.sources = calloc((size_t)batch, sizeof *r.sources))) {
        cnn_errorf(&err, "out of memory");
        goto fail;
    }

    int rc = 0;
    if (images) {
        rc = idx_set(&r, images, labels, predictions, quiet);
    } else if (eval) {
        rc = path_set(&r, eval, 1, predictions, quiet);
    } else if (png_stdin) {
        rc = png_from_stdin(&r);
    } else {
        for (int i = first; i < argc && rc == 0; i++)
            rc = strcmp(argv[i], "-") == 0 ? names_from_stdin(&r)
                 : is_dir(argv[i]) ? (flush_batch(&r) ? -1 : path_set(&r, argv[i], 0, 0, quiet))
                                   : add_png(&r, argv[i]);
        if (rc == 0) rc = flush_batch(&r);
    }
    status = rc || r.failed ? 1 : 0;
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
