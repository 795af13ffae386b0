/* cnn-summary: prints what Keras' model.summary() prints for a model
 * description (ours or a Keras to_json() export). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "cnn.h"
#include "summary.h"

static const char usage[] = "usage: cnn-summary [--keras2 | --json] [--flops] [--compare-dense] "
                            "MODEL.json\n";

static const char help[] =
    "Prints the summary Keras' model.summary() prints for a model description\n"
    "(our JSON format or a Keras model.to_json() export).\n"
    "\n"
    "  --keras2          the tf.keras 2.x layout (65 columns, _ and = rules)\n"
    "  --json            one JSON object: layers, output shapes, parameters, totals\n"
    "  --flops           add each layer's multiply-accumulates per image and the total\n"
    "  --compare-dense   add, for each Conv2D, the parameters a fully connected layer\n"
    "                    with the same input and output sizes would need\n"
    "      --max-params N  largest model accepted, in parameters (default 2^30)\n"
    "  -h, --help        show this help\n"
    "  --version         show the version\n"
    "\n"
    "The default is Keras 3's table: 88 columns on a terminal of 92 columns or more,\n"
    "76 when the output is not a terminal.  See cnn-summary(1) and cnn-model(5).\n";

enum { OPT_KERAS2 = 256, OPT_JSON, OPT_FLOPS, OPT_DENSE, OPT_VERSION };

static const struct option options[] = {
    {"keras2", no_argument, NULL, OPT_KERAS2},
    {"json", no_argument, NULL, OPT_JSON},
    {"flops", no_argument, NULL, OPT_FLOPS},
    {"compare-dense", no_argument, NULL, OPT_DENSE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"max-params", required_argument, NULL, CLI_OPT_MAX_PARAMS},
    {NULL, 0, NULL, 0},
};

static int misuse(const char *why)
{
    if (why) fprintf(stderr, "cnn-summary: %s\n", why);
    fputs(usage, stderr);
    return 2;
}

/* Columns of the terminal on stdout, or 0 when stdout is not a terminal. */
static int terminal_columns(void)
{
    struct winsize ws;
    if (!isatty(STDOUT_FILENO)) return 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

int main(int argc, char **argv)
{
    cli_prog = "cnn-summary";
    cli_usage = usage;
    cnn_summary_opts opts = {.layout = CNN_SUMMARY_KERAS3};
    int keras2 = 0, json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case OPT_KERAS2: keras2 = 1; break;
        case OPT_JSON: json = 1; break;
        case OPT_FLOPS: opts.flops = 1; break;
        case OPT_DENSE: opts.compare_dense = 1; break;
        case 'h': fputs(usage, stdout); fputs(help, stdout); return cli_stdout_status();
        case OPT_VERSION: printf("cnn-summary %s\n", CNN_VERSION); return cli_stdout_status();
        case CLI_OPT_MAX_PARAMS: cli_limit_option(c, optarg); break;
        default: {
            char why[256];
            snprintf(why, sizeof why, "unknown option '%s'", argv[optind - 1]);
            return misuse(why);
        }
        }
    }
    if (keras2 && json) return misuse("--keras2 and --json cannot be combined");
    if (optind != argc - 1) return misuse(optind == argc ? "no model file given"
                                                         : "more than one model file given");
    if (keras2) opts.layout = CNN_SUMMARY_KERAS2;
    if (json) opts.layout = CNN_SUMMARY_JSON;
    opts.line_length = cnn_summary_line_length(terminal_columns());

    cnn_model *m;
    cnn_error err;
    if (cnn_model_load(argv[optind], &m, &err)) {
        fprintf(stderr, "cnn-summary: error: %s\n", err.msg);
        return 1;
    }
    char *text = cnn_summary(m, &opts);
    cnn_model_free(m);
    if (!text) {
        fprintf(stderr, "cnn-summary: error: out of memory\n");
        return 1;
    }
    int ok = fputs(text, stdout) >= 0 && fflush(stdout) == 0;
    free(text);
    if (!ok) {
        fprintf(stderr, "cnn-summary: error: writing the summary failed\n");
        return 1;
    }
    return 0;
}
