/* cnn-import: a trained Keras or TensorFlow.js model in, one of our weights
 * files out (the model description in its metadata, PyTorch's layout), so
 * every cnn-* tool can summarize, evaluate and visualize it.  The only binary
 * that links HDF5 and libzip (lib/import/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cnn.h"
#include "fileio.h"
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
    "      --max-cpu-seconds N  CPU time the reading may take (default 60 + 1 per MiB)\n"
    CLI_LIMIT_HELP
    "  -h, --help            this help\n"
    "  -V, --version         the version\n"
    "\n"
    "Reads Keras 2 / tf.keras HDF5 models (model.save('m.h5')) and weights\n"
    "(save_weights), Keras 3 .keras archives and .weights.h5 files, and\n"
    "TensorFlow.js layers models (model.json with its weight shards).  Conv\n"
    "kernels, dense kernels and the rows after a Flatten are moved into our\n"
    "layout.  See cnn-import(1).\n";

enum { OPT_MAX_CPU = 256 };

static const struct option options[] = {
    {"output", required_argument, NULL, 'o'},
    {"weights", required_argument, NULL, 'w'},
    {"model", required_argument, NULL, 'm'},
    {"max-cpu-seconds", required_argument, NULL, OPT_MAX_CPU},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The import itself: read, check, write.  Returns the exit status. */
static int import(const char *in, const char *arch, const char *outp, int quiet)
{
    cnn_import im;
    cnn_error err;
    if (cnn_import_load(in, arch, &im, &err)) {
        cli_report(&err);
        return 1;
    }
    /* TF.js shards are inputs too, known only now: none may be the output. */
    cnn_file_role outs[] = {{"-o", outp, NULL}};
    cnn_file_role *ins = calloc((size_t)im.ninputs + 1, sizeof *ins);
    if (!ins) {
        fprintf(stderr, "cnn-import: error: out of memory\n");
        cnn_import_free(&im);
        return 1;
    }
    for (int i = 0; i < im.ninputs; i++) ins[i] = (cnn_file_role){"shard", im.inputs[i], NULL};
    int bad = cnn_check_outputs(ins, (size_t)im.ninputs, outs, 1, &err);
    free(ins);
    if (bad) {
        cli_report(&err);
        cnn_import_free(&im);
        return 2;
    }
    char from[4400];
    snprintf(from, sizeof from, "%s (%s)", in, im.form);
    const char *keys[] = {"cnn.imported_from"}, *vals[] = {from};
    cnn_param_set set = {"", im.params};
    int rc = cnn_weights_save(outp, im.model, &set, 1, keys, vals, 1, &err);
    if (rc) {
        cli_report(&err);
    } else if (!quiet) {
        cli_note("%s: %s, %d layers, %zu parameters, from a %s -> %s", in, im.model->name,
                 im.model->nlayers, im.model->nparams, im.form, outp);
    }
    cnn_import_free(&im);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    cli_prog = "cnn-import";
    cli_usage = usage;
    const char *in = NULL, *arch = NULL, *outp = NULL;
    int quiet = 0, c;
    long max_cpu = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:w:m:qhV", options, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'w': in = optarg; break;
        case 'm': arch = optarg; break;
        case 'q': quiet = 1; break;
        case OPT_MAX_CPU: max_cpu = cli_long("--max-cpu-seconds", optarg, 1, 1L << 30); break;
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
    if (strcmp(in, "-") == 0)
        cli_misuse("- (standard input): cnn-import reads its input from a file (HDF5 and "
                   ".keras files are read by position, TF.js shards beside model.json); "
                   "save it to a file first");
    cnn_file_role ins[] = {{"FILE", in, NULL}, {"--model", arch, NULL}};
    cnn_file_role outs[] = {{"-o", outp, NULL}};
    cli_check_files(ins, 2, outs, 1);

    /* HDF5 is a large C library, and some damaged files make its readers loop
     * or crash (fuzzing found an endless loop in its global heap on a 20 KB
     * file).  So the import runs in a child process with a CPU-time limit, and
     * a child that dies becomes a message here.  Nothing is written before the
     * whole file has been read and checked. */
    if (max_cpu == 0) max_cpu = 60 + (long)(file_size(in) >> 20);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cnn-import: error: cannot start the reader: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        struct rlimit cpu = {(rlim_t)max_cpu, (rlim_t)max_cpu + 1};
        setrlimit(RLIMIT_CPU, &cpu);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
#define NO_ASAN 1
#elif defined(__has_feature)
#if !__has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define NO_ASAN 1
#endif
#endif
#ifdef NO_ASAN
        /* HDF5 allocates what a damaged file claims (seen: 4 GiB for a 20 KB
         * file); the weights themselves are never larger than the file. */
        rlim_t as = ((rlim_t)1 << 30) + 4 * (rlim_t)file_size(in);
        struct rlimit mem = {as, as};
        setrlimit(RLIMIT_AS, &mem);
#endif
        _exit(import(in, arch, outp, quiet));
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "cnn-import: error: lost the reader: %s\n", strerror(errno));
            return 1;
        }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    int sig = WTERMSIG(status);
    if (sig == SIGXCPU || sig == SIGKILL)
        cli_error("%s: reading it took more than %ld s of CPU time (a damaged file can make "
                  "the HDF5 library loop; raise the limit with --max-cpu-seconds); nothing was "
                  "written", in, max_cpu);
    else
        cli_error("%s: the reader died of signal %d (%s) on this file; nothing was written", in,
                  sig, strsignal(sig));
    return sig == SIGINT || sig == SIGTERM ? 130 : 1;
}
