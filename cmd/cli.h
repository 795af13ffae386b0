/* Option parsing shared by the cnn-* binaries.  Misuse is reported as
 * "PROG: what is wrong" on stderr and exits with status 2, as every tool does.
 * Each binary sets cli_prog (and cli_usage, printed after a misuse message)
 * before parsing. */
#ifndef CNN_CMD_CLI_H
#define CNN_CMD_CLI_H

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "load_limits.h"
#include "strbuf.h"
#include "weights.h"

static const char *cli_prog = "cnn";
static const char *cli_usage = "";

/* ---- messages ------------------------------------------------------------------
 * Every message line goes through cli_vline: names in it (file names, values
 * given on the command line, names read from files) are escaped as text
 * output escapes them (cnn_strbuf_message: \n, \t, \xHH for other control
 * characters and bytes that are not UTF-8; a backslash stays one), so a name
 * can neither break the line nor drive the terminal. */

/* head (as it is), then the formatted text escaped, then a newline, on stderr. */
static inline void cli_vline(const char *head, const char *fmt, va_list ap)
{
    char small[1024], *text = small;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (text = malloc((size_t)n + 1)))
        vsnprintf(text, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (!text) text = small; /* out of memory: the message cut short */
    cnn_strbuf b = {0};
    cnn_strbuf_message(&b, text);
    fprintf(stderr, "%s%s\n", head, b.s && !b.oom ? b.s : "(out of memory)");
    cnn_strbuf_free(&b);
    if (text != small) free(text);
}

/* "PROG<tag><message>" on stderr. */
static inline void cli_vtagged(const char *tag, const char *fmt, va_list ap)
{
    char head[96];
    snprintf(head, sizeof head, "%s%s", cli_prog, tag);
    cli_vline(head, fmt, ap);
}

/* "PROG: error: <message>" on stderr. */
__attribute__((format(printf, 1, 2))) static inline void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vtagged(": error: ", fmt, ap);
    va_end(ap);
}

/* "PROG: warning: <message>" on stderr. */
__attribute__((format(printf, 1, 2))) static inline void cli_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vtagged(": warning: ", fmt, ap);
    va_end(ap);
}

/* "PROG: <message>" on stderr (misuse, notes). */
__attribute__((format(printf, 1, 2))) static inline void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vtagged(": ", fmt, ap);
    va_end(ap);
}

/* "<message>" on stderr, nothing before it (summaries of a run). */
__attribute__((format(printf, 1, 2))) static inline void cli_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vline("", fmt, ap);
    va_end(ap);
}

/* A library error: "PROG: error: <its message>". */
static inline void cli_report(const cnn_error *err) { cli_error("%s", err->msg); }

/* "PROG: <message>", the usage, exit 2. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void cli_misuse(const char *fmt,
                                                                              ...)
{
    char head[96];
    snprintf(head, sizeof head, "%s: ", cli_prog);
    va_list ap;
    va_start(ap, fmt);
    cli_vline(head, fmt, ap);
    va_end(ap);
    fputs(cli_usage, stderr);
    exit(2);
}

/* The exit status after --help or --version: 0 once what was printed reached
 * standard output, else 1 with the reason (stdout on a full disk, /dev/full,
 * a closed pipe). */
static inline int cli_stdout_status(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    fprintf(stderr, "%s: error: writing to standard output: %s\n", cli_prog,
            strerror(errno ? errno : EIO));
    return 1;
}

/* An integer flag value in [lo, hi]. */
static inline long cli_long(const char *flag, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_note("%s: expected an integer from %ld to %ld, got \"%s\"", flag, lo, hi, s);
        exit(2);
    }
    return v;
}

/* A finite number in [lo, hi], or in (lo, hi] when open_lo. */
static inline double cli_double(const char *flag, const char *s, double lo, double hi,
                                int open_lo)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi || (open_lo && v == lo)) {
        cli_note("%s: expected a number %s %g and <= %g, got \"%s\"", flag,
                 open_lo ? ">" : ">=", lo, hi, s);
        exit(2);
    }
    return v;
}

/* The index of s among the NULL-terminated names. */
static inline int cli_name(const char *flag, const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) return i;
    cnn_strbuf b = {0};
    for (int i = 0; names[i]; i++) cnn_strbuf_printf(&b, " %s", names[i]);
    cli_note("%s: unknown value \"%s\" (expected one of:%s)", flag, s, b.s ? b.s : "");
    cnn_strbuf_free(&b);
    exit(2);
}

/* ---- loader limits: the same three flags on every tool ------------------ */

enum { CLI_OPT_MAX_PARAMS = 0x1000, CLI_OPT_MAX_FILE_SIZE, CLI_OPT_MAX_PIXELS };

#define CLI_LIMIT_OPTIONS                                                    \
    {"max-params", required_argument, NULL, CLI_OPT_MAX_PARAMS},             \
    {"max-file-size", required_argument, NULL, CLI_OPT_MAX_FILE_SIZE},       \
    {"max-pixels", required_argument, NULL, CLI_OPT_MAX_PIXELS}

/* The rows that end every tool's option table: -q, -h, -V and the limits. */
#define CLI_COMMON_OPTIONS                                                   \
    {"quiet", no_argument, NULL, 'q'},                                       \
    {"help", no_argument, NULL, 'h'},                                        \
    {"version", no_argument, NULL, 'V'},                                     \
    CLI_LIMIT_OPTIONS

#define CLI_LIMIT_HELP                                                                        \
    "      --max-params N        largest model accepted, in parameters (default 2^30)\n"    \
    "      --max-file-size BYTES largest IDX data (default 1 GiB) and weights file\n"        \
    "                            (default 4 GiB) accepted\n"                                \
    "      --max-pixels N        largest PNG accepted, in pixels (default 67108864)\n"

/* Handles a limit flag (returns 1), or returns 0 for any other option. */
static inline int cli_limit_option(int c, const char *arg)
{
    cnn_limits *l = cnn_limits_get();
    switch (c) {
    case CLI_OPT_MAX_PARAMS:
        l->max_params = (size_t)cli_long("--max-params", arg, 1, 1L << 40);
        return 1;
    case CLI_OPT_MAX_FILE_SIZE:
        l->max_file_bytes = l->max_weights_bytes =
            (size_t)cli_long("--max-file-size", arg, 1, 1L << 50);
        return 1;
    case CLI_OPT_MAX_PIXELS:
        l->max_pixels = (uint64_t)cli_long("--max-pixels", arg, 1, 1L << 40);
        l->max_side = l->max_pixels > INT32_MAX ? INT32_MAX : (uint32_t)l->max_pixels;
        return 1;
    }
    return 0;
}

/* getopt_long's answer for anything it does not take: the limit flags are
 * applied; a missing argument (':', with ":" leading the optstring) or an
 * unknown option is misuse, in our own words (getopt's own message would start
 * with argv[0], a full path). */
static inline void cli_other_option(int c, char **argv)
{
    if (cli_limit_option(c, optarg)) return;
    if (c == ':') cli_misuse("option '%s' needs an argument", argv[optind - 1]);
    char opt[3] = {'-', (char)optopt, 0};
    cli_misuse("unknown option '%s'", optopt > 0 && optopt < 256 ? opt : argv[optind - 1]);
}

/* ---- outputs against inputs ---------------------------------------------
 * Before any work: no output is an input or another output, and no existing
 * output is a directory, FIFO, device or socket (fileio.h).  Exit 2 if so. */
static inline void cli_check_files(const cnn_file_role *in, size_t nin,
                                   const cnn_file_role *out, size_t nout)
{
    cnn_error err;
    for (size_t i = 0; i < nout; i++)
        if (out[i].path && strcmp(out[i].path, "-") == 0 && isatty(STDOUT_FILENO)) {
            cli_error("%s -: standard output is a terminal; redirect it to a file or a pipe",
                      out[i].what);
            exit(2);
        }
    if (cnn_check_outputs(in, nin, out, nout, &err) == 0) return;
    cli_report(&err);
    exit(2);
}

/* ---- standard input ---------------------------------------------------------
 * An input named "-" is standard input, which a command can read only once. */

/* Misuse (exit 2) when more than one of the inputs is "-", naming the two
 * flags.  An entry whose path is "-" reads standard input (give a flag that
 * always does, such as --png-stdin, with path "-" when it is set). */
static inline void cli_stdin_once(const cnn_file_role *in, size_t n)
{
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].path || strcmp(in[i].path, "-") != 0) continue;
        if (first)
            cli_misuse("%s and %s would both read standard input; give one of them a file",
                       first, in[i].what);
        first = in[i].what;
    }
}

/* How messages name an input: "<stdin>" for "-", else its path. */
static inline const char *cli_input_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

/* A model description on a stream (standard input, a FIFO) whose first plen
 * bytes were read already (prefix; NULL, 0: none), read to its end with a
 * model file's size limit (CNN_MODEL_MAX_FILE); `name` stands for the file in
 * messages. */
static inline int cli_model_read_stream(FILE *fp, const char *name, const void *prefix,
                                        size_t plen, cnn_model **m, cnn_error *err)
{
    char *buf = NULL;
    size_t len;
    *m = NULL;
    int rc = cnn_read_stream_after(fp, name, CNN_MODEL_MAX_FILE, prefix, plen, &buf, &len, err);
    if (rc == 0) rc = cnn_model_parse(buf, len, name, m, err);
    free(buf);
    return rc;
}

/* The model of -m FILE: "-" reads it from standard input ("<stdin>" in
 * messages). */
static inline int cli_model_load(const char *path, cnn_model **m, cnn_error *err)
{
    if (strcmp(path, "-") == 0) return cli_model_read_stream(stdin, "<stdin>", NULL, 0, m, err);
    return cnn_model_load(path, m, err);
}

/* cnn_weights_resolve_model for -w and an optional -m FILE, where -m - reads
 * the model from standard input. */
static inline int cli_resolve_model(const cnn_weights *w, const char *model_path, cnn_model **m,
                                    cnn_error *err)
{
    if (!model_path || strcmp(model_path, "-") != 0)
        return cnn_weights_resolve_model(w, model_path, m, err);
    if (cli_model_load(model_path, m, err)) return -1;
    if (cnn_weights_check_model(w, *m, cli_input_name(model_path), err) == 0) return 0;
    cnn_model_free(*m);
    *m = NULL;
    return -1;
}

/* The weights of -w FILE: "-" reads them from standard input ("<stdin>" in
 * messages), with the same --max-file-size limit as a file.  what: CLI_VALUES
 * (everything), CLI_HEADER (only the model and tensor shapes:
 * cnn_weights_open_header) or CLI_DEFERRED (a file's values read when the
 * net's parameters are: cnn_weights_open_deferred; standard input is read
 * whole). */
enum { CLI_VALUES, CLI_HEADER, CLI_DEFERRED };
static inline int cli_weights_open(const char *path, int what, cnn_weights **w, cnn_error *err)
{
    if (strcmp(path, "-") == 0)
        return cnn_weights_open_stream(stdin, "<stdin>", NULL, 0, what == CLI_HEADER, w, err);
    return what == CLI_HEADER     ? cnn_weights_open_header(path, w, err)
           : what == CLI_DEFERRED ? cnn_weights_open_deferred(path, w, err)
                                  : cnn_weights_open(path, w, err);
}

#endif
