/* cnn-summary: prints what Keras' model.summary() prints for a model
 * description (ours or a Keras to_json() export), or for the model stored in
 * a weights file; several inputs give one summary each, as ls lists several
 * folders. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cnn.h"
#include "fileio.h"
#include "summary.h"

static const char usage[] = "usage: cnn-summary [--keras2 | --json] [--flops] [--compare-dense] "
                            "FILE...\n";

static const char help[] =
    "Prints the summary Keras' model.summary() prints for each FILE: a model\n"
    "description (our JSON format or a Keras model.to_json() export), or a weights\n"
    "file (safetensors) holding its model in the metadata.  - is standard input.\n"
    "With several files, each summary follows a \"FILE:\" line, separated by a blank\n"
    "line (with --json: one object per line, each with a \"file\" key).\n"
    "\n"
    "  -m, --model FILE  a model description (the same as the operand FILE)\n"
    "  -w, --weights FILE  a weights file (the same as the operand FILE)\n"
    "      --keras2      the tf.keras 2.x layout (65 columns, _ and = rules)\n"
    "      --json        one JSON object: layers, output shapes, parameters, totals\n"
    "      --flops       add each layer's multiply-accumulates (MACs) per image and\n"
    "                    the floating-point operations they are (FLOPs = 2 x MACs)\n"
    "      --compare-dense  add, for each Conv2D, the parameters a fully connected\n"
    "                    layer with the same input and output sizes would need\n"
    CLI_LIMIT_HELP
    "  -q, --quiet       accepted for uniformity (cnn-summary prints no progress)\n"
    "  -h, --help        this help\n"
    "  -V, --version     the version\n"
    "\n"
    "The default is Keras 3's table: 88 columns on a terminal of 92 columns or more,\n"
    "76 when the output is not a terminal.  See cnn-summary(1) and cnn-model(5).\n";

enum { OPT_KERAS2 = 256, OPT_JSON, OPT_FLOPS, OPT_DENSE };

static const struct option options[] = {
    {"model", required_argument, NULL, 'm'},
    {"weights", required_argument, NULL, 'w'},
    {"keras2", no_argument, NULL, OPT_KERAS2},
    {"json", no_argument, NULL, OPT_JSON},
    {"flops", no_argument, NULL, OPT_FLOPS},
    {"compare-dense", no_argument, NULL, OPT_DENSE},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* Columns of the terminal on stdout, or 0 when stdout is not a terminal. */
static int terminal_columns(void)
{
    struct winsize ws;
    if (!isatty(STDOUT_FILENO)) return 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* ---- reading one input ---------------------------------------------------- */

/* Whether the first bytes of a file of `size` bytes (-1: unknown) are those of
 * a safetensors file: an 8-byte little-endian header length that fits, then
 * '{'.  A model description is JSON text, whose first 8 bytes would be a
 * length of more than 2^56. */
static int looks_like_safetensors(const unsigned char *b, size_t n, long long size)
{
    if (n < 9 || b[8] != '{') return 0;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | b[i];
    return size < 0 ? len < ((uint64_t)1 << 48) : len <= (uint64_t)size - 8;
}

/* Whether the first bytes may be text (JSON, which the parser then judges):
 * no control bytes but white space.  IDX, PNG and JPEG files all hold one in
 * their first bytes. */
static int may_be_json(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20 && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') return 0;
    return 1;
}

/* The model of one input: a model description, or the one a weights file
 * carries in its metadata, of which only the header is read; "-" is standard
 * input.  What the file is, is told by its first bytes; a stream (stdin, a
 * FIFO, <(...)) is opened once, and read on from there. */
static int load_input(const char *path, cnn_model **m, cnn_error *err)
{
    *m = NULL;
    cnn_weights *w = NULL;
    int from_stdin = strcmp(path, "-") == 0;
    const char *name = cli_input_name(path);
    unsigned char head[9];
    FILE *fp = from_stdin ? stdin : fopen(path, "rb");
    if (!fp) return cnn_model_load(path, m, err); /* its message: cannot open, and why */
    struct stat st;
    long long size = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)
                         ? (long long)st.st_size : -1;
    if (size < 0 && fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!from_stdin) fclose(fp);
        return cnn_model_load(path, m, err); /* its message: a directory */
    }
    size_t n = fread(head, 1, sizeof head, fp);
    int rc = 0;
    if (ferror(fp)) rc = cnn_errorf(err, "%s: cannot read: %s", name, strerror(errno));
    /* A '{' after 8 bytes that cannot begin JSON: a damaged safetensors
     * file, which its reader describes best. */
    int st_file = looks_like_safetensors(head, n, size) ||
                  (n == sizeof head && head[8] == '{' && !may_be_json(head, n));
    if (rc == 0 && !st_file && !may_be_json(head, n))
        rc = cnn_errorf(err, "%s: neither a model description (JSON) nor a weights file "
                             "(safetensors)", name);
    if (rc == 0 && size >= 0 && !from_stdin) { /* a regular file: read again, by name */
        if (!from_stdin) fclose(fp);
        fp = NULL;
        rc = st_file ? cnn_weights_open_header(path, &w, err) : cnn_model_load(path, m, err);
    } else if (rc == 0 && st_file) {
        rc = cnn_weights_open_stream(fp, name, head, n, 1, &w, err);
    } else if (rc == 0) {
        rc = cli_model_read_stream(fp, name, head, n, m, err);
    }
    if (fp && !from_stdin) fclose(fp);
    if (rc || !st_file) return rc;
    if (!w->model) {
        cnn_errorf(err, "%s: the weights file holds no model description (metadata "
                        "\"cnn.model\"); summarize the model JSON instead", name);
        cnn_weights_free(w);
        return -1;
    }
    *m = w->model;
    w->model = NULL;
    cnn_weights_free(w);
    return 0;
}

/* Writes s, or says why it could not. */
static int put(const char *s)
{
    if (fputs(s, stdout) >= 0) return 0;
    fprintf(stderr, "cnn-summary: error: writing the summary failed\n");
    return -1;
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cli_prog = "cnn-summary";
    cli_usage = usage;
    cnn_summary_opts opts = {.layout = CNN_SUMMARY_KERAS3};
    int keras2 = 0, json = 0, c, ninputs = 0;
    /* Inputs in the order given: -m/-w values and operands. */
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) {
        fputs("cnn-summary: error: out of memory\n", stderr);
        return 1;
    }
    /* A leading "-": operands come back as option 1, in order with -m/-w. */
    while ((c = getopt_long(argc, argv, "-:m:w:qhV", options, NULL)) != -1) {
        switch (c) {
        case 1:
        case 'm':
        case 'w': inputs[ninputs++] = optarg; break;
        case OPT_KERAS2: keras2 = 1; break;
        case OPT_JSON: json = 1; break;
        case OPT_FLOPS: opts.flops = 1; break;
        case OPT_DENSE: opts.compare_dense = 1; break;
        case 'q': break; /* nothing to silence: errors are always said */
        case 'h': free(inputs), fputs(usage, stdout), fputs(help, stdout); return cli_stdout_status();
        case 'V': free(inputs), printf("cnn-summary %s\n", CNN_VERSION); return cli_stdout_status();
        default: cli_other_option(c, argv);
        }
    }
    for (int i = optind; i < argc; i++) inputs[ninputs++] = argv[i]; /* after "--" */
    if (keras2 && json) cli_misuse("--keras2 and --json cannot be combined");
    if (ninputs == 0) cli_misuse("no model file given");
    int dashes = 0;
    for (int i = 0; i < ninputs; i++) dashes += strcmp(inputs[i], "-") == 0;
    if (dashes > 1) cli_misuse("- (standard input) can be given only once");
    if (keras2) opts.layout = CNN_SUMMARY_KERAS2;
    if (json) opts.layout = CNN_SUMMARY_JSON;
    opts.line_length = cnn_summary_line_length(terminal_columns());

    int status = 0, printed = 0;
    for (int i = 0; i < ninputs; i++) {
        cnn_model *m;
        cnn_error err;
        if (load_input(inputs[i], &m, &err)) {
            cli_report(&err);
            status = 1;
            continue;
        }
        char *text = cnn_summary(m, &opts);
        cnn_model_free(m);
        if (!text) {
            cli_error("%s: out of memory", inputs[i]);
            status = 1;
            continue;
        }
        int rc = 0;
        if (ninputs > 1 && json) {
            /* {"file":NAME, then the object's own keys */
            cnn_strbuf b = {0};
            cnn_strbuf_puts(&b, "{\"file\":");
            cnn_strbuf_json_string(&b, inputs[i]);
            cnn_strbuf_puts(&b, text[0] == '{' && text[1] != '}' ? "," : "");
            cnn_strbuf_puts(&b, text + 1);
            char *line = cnn_strbuf_take(&b);
            rc = line ? put(line) : (fputs("cnn-summary: error: out of memory\n", stderr), -1);
            free(line);
        } else if (ninputs > 1) {
            cnn_strbuf name = {0}; /* escaped: a name cannot break the "FILE:" line */
            cnn_strbuf_text(&name, inputs[i]);
            rc = (printed && put("\n")) || put(name.s ? name.s : "") || put(":\n") || put(text);
            cnn_strbuf_free(&name);
        } else {
            rc = put(text);
        }
        free(text);
        printed = 1;
        if (rc) {
            status = 1;
            break;
        }
    }
    free(inputs);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cnn-summary: error: writing the summary failed\n");
        status = 1;
    }
    return status;
}
