/* cnn-import: a trained Keras or TensorFlow.js model in, one of our weights
 * files out (the model description in its metadata, PyTorch's layout), so
 * every cnn-* tool can summarize, evaluate and visualize it.  The only binary
 * that links HDF5 and libzip (lib/import/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cnn.h"
#include "import.h"

static const char usage[] =
    "usage: cnn-import KERAS.h5 | MODEL.keras | TFJS/model.json -o OUT.safetensors\n"
    "       cnn-import [-w] WEIGHTS.h5 -m ARCH.json -o OUT.safetensors\n";

static const char help[] =
    "Imports a trained Keras or TensorFlow.js model into a weights file every\n"
    "cnn-* tool reads (the model description in its metadata).\n"
    "\n"
    "  -o, --output FILE     the weights file to write (atomically)\n"
    "  -w, --weights FILE    the file to import (instead of the operand)\n"
    "  -m, --model FILE      the architecture, for weights-only files (Keras\n"
    "                        model.to_json(), a Keras 3 config.json, or our format);\n"
    "                        with a file that carries its own, both must agree\n"
    "  -q, --quiet           no summary line on stderr\n"
    CLI_LIMIT_HELP
    "  -h, --help            this help\n"
    "  -V, --version         the version\n"
    "\n"
    "Reads Keras 2 / tf.keras HDF5 models (model.save('m.h5')) and weights\n"
    "(save_weights), Keras 3 .keras archives and .weights.h5 files, and\n"
    "TensorFlow.js layers models (model.json with its weight shards).  Conv\n"
    "kernels, dense kernels and the rows after a Flatten are moved into our\n"
    "layout.  See cnn-import(1).\n";

static const struct option options[] = {
    {"output", required_argument, NULL, 'o'},
    {"weights", required_argument, NULL, 'w'},
    {"model", required_argument, NULL, 'm'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    CLI_LIMIT_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* 1 when a and b name the same existing file. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int main(int argc, char **argv)
{
    cli_prog = "cnn-import";
    cli_usage = usage;
    const char *in = NULL, *arch = NULL, *outp = NULL;
    int quiet = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:w:m:qhV", options, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'w': in = optarg; break;
        case 'm': arch = optarg; break;
        case 'q': quiet = 1; break;
        case 'h':
            if (fputs(usage, stdout) < 0 || fputs(help, stdout) < 0 || fflush(stdout)) return 1;
            return 0;
        case 'V':
            if (printf("cnn-import %s\n", CNN_VERSION) < 0 || fflush(stdout)) return 1;
            return 0;
        default: cli_other_option(c, argv);
        }
    }
    if (optind < argc) {
        if (in) cli_misuse("give the file to import once (operand or --weights)");
        in = argv[optind++];
    }
    if (optind < argc) cli_misuse("one file to import at a time (got '%s' too)", argv[optind]);
    if (!in) cli_misuse("no file to import given");
    if (!outp) cli_misuse("no output given (-o OUT.safetensors)");
    if (same_file(outp, in) || same_file(outp, arch))
        cli_misuse("-o %s names an input; choose another output file", outp);
    struct stat st;
    if (stat(outp, &st) == 0 && !S_ISREG(st.st_mode))
        cli_misuse("-o %s exists and is not a regular file", outp);

    cnn_import im;
    cnn_error err;
    if (cnn_import_load(in, arch, &im, &err)) {
        fprintf(stderr, "cnn-import: error: %s\n", err.msg);
        return 1;
    }
    char from[4400];
    snprintf(from, sizeof from, "%s (%s)", in, im.form);
    const char *keys[] = {"cnn.imported_from"}, *vals[] = {from};
    cnn_param_set set = {"", im.params};
    int rc = cnn_weights_save(outp, im.model, &set, 1, keys, vals, 1, &err);
    if (rc) {
        fprintf(stderr, "cnn-import: error: %s\n", err.msg);
    } else if (!quiet) {
        fprintf(stderr, "cnn-import: %s: %s, %d layers, %zu parameters, from a %s -> %s\n", in,
                im.model->name, im.model->nlayers, im.model->nparams, im.form, outp);
    }
    cnn_import_free(&im);
    return rc ? 1 : 0;
}
