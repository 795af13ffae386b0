/* cnn-data: looks at and converts labelled image sets (class folders, list
 * files, CSV, IDX): info, export as class folders of PNGs, convert to IDX. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cnn.h"
#include "data_cli.h"
#include "threads.h" /* CNN_MAX_THREADS, the one limit of every tool */
#include "dataset.h"
#include "fileio.h"
#include "idx.h"
#include "image.h"
#include "strbuf.h"

static const char usage[] =
    "usage: cnn-data info SET [--json]\n"
    "       cnn-data export SET DIR [--list]\n"
    "       cnn-data convert SET OUT-images-idx3-ubyte[.gz]\n";

static const char help[] =
    "Looks at and converts labelled image sets.  A SET is class folders\n"
    "(ROOT/CLASS/*.png|jpg|jpeg), a list file (PATH<TAB>LABEL lines), a CSV\n"
    "(label,pixel0,...) or an IDX images file with its labels file beside it.\n"
    "\n"
    "  info SET         images, classes, per-class counts, image size and channels\n"
    "  export SET DIR   writes DIR/CLASS/NNNNNN.png for every image (DIR must not exist)\n"
    "  convert SET OUT  writes OUT (images) and its labels file (\"images\" in the name\n"
    "                   replaced by \"labels\", idx3 by idx1); gzip when OUT ends in .gz\n"
    "\n"
    "      --json       info as one JSON object\n"
    "      --count N    only the first N images\n"
    "      --list       export also writes DIR/list.tsv, the images in the set's order\n"
    "      --channels N 1 (grayscale, the default) or 3 (RGB) for images read from files\n"
    "      --size HxW   images of this size (default: the first image's size)\n"
    "      --resize     resize images of another size (bilinear)\n"
    "      --invert     invert images\n"
    "      --skip-bad   skip unreadable images with a warning each\n"
    "      --threads N  threads for decoding (default: all cores)\n"
    CLI_LIMIT_HELP
    "  -q, --quiet      no progress bar\n"
    "  -h, --help       this help\n"
    "  -V, --version    the version\n";

enum { OPT_JSON = 256, OPT_COUNT, OPT_LIST, OPT_CHANNELS, OPT_SIZE, OPT_RESIZE, OPT_INVERT, OPT_SKIP_BAD,
       OPT_THREADS };

static const struct option options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"list", no_argument, NULL, OPT_LIST},
    {"count", required_argument, NULL, OPT_COUNT},
    {"channels", required_argument, NULL, OPT_CHANNELS},
    {"size", required_argument, NULL, OPT_SIZE},
    {"resize", no_argument, NULL, OPT_RESIZE},
    {"invert", no_argument, NULL, OPT_INVERT},
    {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},
    {"threads", required_argument, NULL, OPT_THREADS},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* s as a JSON string (the library's one escaper). */
static void json_string(const char *s)
{
    cnn_strbuf b = {0};
    cnn_strbuf_json_string(&b, s);
    fputs(b.s && !b.oom ? b.s : "\"\"", stdout);
    cnn_strbuf_free(&b);
}

static int info(const char *path, const cnn_dataset *d, int json)
{
    int nc = d->nclasses;
    if (d->labels && !d->class_names) {
        nc = 0;
        for (size_t i = 0; i < d->count; i++)
            if (d->labels[i] + 1 > nc) nc = d->labels[i] + 1;
    }
    size_t *n = calloc(nc > 0 ? (size_t)nc : 1, sizeof *n);
    if (!n) return -1;
    if (d->labels)
        for (size_t i = 0; i < d->count; i++) n[d->labels[i]]++;
    if (json) {
        printf("{\"path\": ");
        json_string(path);
        printf(", \"images\": %zu, \"height\": %d, \"width\": %d, \"channels\": %d, "
               "\"labelled\": %s", d->count, d->h, d->w, d->c, d->labels ? "true" : "false");
        if (d->labels) {
            printf(", \"classes\": [");
            for (int c = 0; c < nc; c++) {
                printf("%s{\"name\": ", c ? ", " : "");
                if (d->class_names) json_string(d->class_names[c]);
                else printf("\"%d\"", c);
                printf(", \"index\": %d, \"images\": %zu}", c, n[c]);
            }
            putchar(']');
        }
        puts("}");
    } else {
        printf("images\t%zu\nsize\t%dx%d\nchannels\t%d\nclasses\t%d\n", d->count, d->h, d->w,
               d->c, d->labels ? nc : 0);
        for (int c = 0; d->labels && c < nc; c++) {
            if (d->class_names) {
                cnn_strbuf name = {0}; /* the one text escaper: a name stays one field */
                cnn_strbuf_text(&name, d->class_names[c]);
                printf("class\t%d\t%s\t%zu\n", c, name.s ? name.s : "", n[c]);
                cnn_strbuf_free(&name);
            }
            else printf("class\t%d\t%d\t%zu\n", c, c, n[c]);
        }
    }
    free(n);
    return 0;
}

/* Writes one file without fsync: export writes into a fresh temporary folder
 * that is renamed into place once complete, which is the atomic step. */
static int write_plain(const char *path, const void *buf, size_t len, cnn_error *err)
{
    FILE *f = fopen(path, "wbx");
    if (!f) return cnn_errorf(err, "%s: %s", path, strerror(errno));
    int ok = fwrite(buf, 1, len, f) == len;
    if (fclose(f) != 0) ok = 0;
    if (!ok) return cnn_errorf(err, "%s: %s", path, strerror(errno));
    return 0;
}

/* The names under dir, for export: CLASS/NNNNNN.png (or NNNNNN.png unlabelled). */
static void entry_name(const cnn_dataset *d, size_t i, char *buf, size_t len)
{
    char cls[32];
    if (!d->labels) {
        snprintf(buf, len, "%06zu.png", i);
        return;
    }
    snprintf(cls, sizeof cls, "%d", d->labels[i]);
    snprintf(buf, len, "%s/%06zu.png", d->class_names ? d->class_names[d->labels[i]] : cls, i);
}

static int export_set(const cnn_dataset *d, const char *dir, int list, cnn_error *err)
{
    struct stat st;
    if (lstat(dir, &st) == 0) return cnn_errorf(err, "%s: exists; export writes a new folder", dir);
    size_t len = strlen(dir) + 600;
    char *tmp = malloc(len), *p = malloc(len), *name = malloc(512);
    if (!tmp || !p || !name) {
        free(tmp), free(p), free(name);
        return cnn_errorf(err, "out of memory");
    }
    snprintf(tmp, len, "%s.partial-%ld", dir, (long)getpid());
    int rc = 0;
    if (mkdir(tmp, 0777)) rc = cnn_errorf(err, "%s: %s", tmp, strerror(errno));
    size_t rec = (size_t)d->h * d->w * d->c;
    const uint8_t *px = d->images->data;
    int nc = d->class_names ? d->nclasses : 0;
    if (!d->class_names)
        for (size_t i = 0; d->labels && i < d->count; i++)
            if (d->labels[i] + 1 > nc) nc = d->labels[i] + 1;
    for (int c = 0; c < nc && !rc; c++) {
        if (d->class_names) snprintf(p, len, "%s/%s", tmp, d->class_names[c]);
        else snprintf(p, len, "%s/%d", tmp, c);
        if (mkdir(p, 0777)) rc = cnn_errorf(err, "%s: %s", p, strerror(errno));
    }
    cnn_strbuf lb = {0};
    for (size_t i = 0; i < d->count && !rc; i++) {
        unsigned char *png = NULL;
        size_t plen = 0;
        entry_name(d, i, name, 512);
        snprintf(p, len, "%s/%s", tmp, name);
        rc = cnn_png_encode_mem(d->w, d->h, d->c, px + i * rec, &png, &plen, err);
        if (!rc) rc = write_plain(p, png, plen, err);
        free(png);
        if (!rc && list) {
            const char *tab = d->labels ? strchr(name, '/') : NULL;
            cnn_strbuf_printf(&lb, "%s\t%.*s\n", name, tab ? (int)(tab - name) : 0, name);
        }
    }
    if (!rc && list) {
        snprintf(p, len, "%s/list.tsv", tmp);
        rc = lb.oom ? cnn_errorf(err, "out of memory") : write_plain(p, lb.s ? lb.s : "", lb.len, err);
    }
    cnn_strbuf_free(&lb);
    if (!rc) {
        sync(); /* every file on disk before the folder appears under its name */
        if (rename(tmp, dir)) rc = cnn_errorf(err, "%s: %s", dir, strerror(errno));
    }
    if (rc) { /* remove what was written; nothing is left half-done */
        if (list) snprintf(p, len, "%s/list.tsv", tmp), unlink(p);
        for (size_t i = 0; i < d->count; i++) {
            entry_name(d, i, name, 512);
            snprintf(p, len, "%s/%s", tmp, name);
            unlink(p);
        }
        for (int c = 0; c < nc; c++) {
            if (d->class_names) snprintf(p, len, "%s/%s", tmp, d->class_names[c]);
            else snprintf(p, len, "%s/%d", tmp, c);
            rmdir(p);
        }
        rmdir(tmp);
    }
    free(tmp), free(p), free(name);
    return rc;
}

static char *labels_path(const char *out)
{
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    const char *hit = NULL;
    for (const char *q = base; (q = strstr(q, "images")); q++) hit = q;
    if (!hit) return NULL;
    char *s = strdup(out);
    if (!s) return NULL;
    memcpy(s + (hit - out), "labels", 6);
    char *idx = strstr(s + (hit - out), "idx");
    if (idx && (idx[3] == '3' || idx[3] == '4')) idx[3] = '1';
    return s;
}

static int convert(const cnn_dataset *d, const char *out, const char *lpath, cnn_error *err)
{
    size_t n = strlen(out);
    int gz = n > 3 && strcmp(out + n - 3, ".gz") == 0;
    size_t dims[4] = {d->count, (size_t)d->h, (size_t)d->w, (size_t)d->c};
    if (d->images->type != CNN_IDX_U8)
        return cnn_errorf(err, "%s: only byte images are converted", out);
    if (cnn_idx_write(out, CNN_IDX_U8, d->c == 1 ? 3 : 4, dims, d->images->data, gz, err))
        return -1;
    if (!d->labels) return 0;
    uint8_t *lab = malloc(d->count ? d->count : 1);
    if (!lab) return cnn_errorf(err, "out of memory");
    for (size_t i = 0; i < d->count; i++) {
        if (d->labels[i] > 255) {
            free(lab);
            return cnn_errorf(err, "%s: label %d does not fit a byte", lpath, d->labels[i]);
        }
        lab[i] = (uint8_t)d->labels[i];
    }
    int rc = cnn_idx_write(lpath, CNN_IDX_U8, 1, dims, lab, gz, err);
    free(lab);
    return rc;
}

int main(int argc, char **argv)
{
    cli_prog = "cnn-data";
    cli_usage = usage;
    long count = 0;
    int json = 0, list = 0, channels = 1, h = 0, w = 0, threads = 0;
    data_cli dc = {0};
    int c;
    while ((c = getopt_long(argc, argv, ":qhV", options, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_LIST: list = 1; break;
        case OPT_COUNT: count = cli_long("--count", optarg, 1, 2000000000L); break;
        case OPT_CHANNELS:
            channels = (int)cli_long("--channels", optarg, 1, 3);
            if (channels == 2) cli_misuse("--channels 2: 1 (grayscale) or 3 (RGB)");
            break;
        case OPT_SIZE:
            if (sscanf(optarg, "%dx%d", &h, &w) != 2 || h < 1 || w < 1 || h > 65535 || w > 65535)
                cli_misuse("--size %s: HxW expected, e.g. 28x28", optarg);
            break;
        case OPT_RESIZE: dc.resize = 1; break;
        case OPT_INVERT: dc.invert = 1; break;
        case OPT_SKIP_BAD: dc.skip_bad = 1; break;
        case OPT_THREADS: threads = (int)cli_long("--threads", optarg, 1, CNN_MAX_THREADS); break;
        case 'q': dc.quiet = 1; break;
        case 'h': fputs(usage, stdout); fputs(help, stdout); return 0;
        case 'V': printf("cnn-data %s\n", CNN_VERSION); return 0;
        default: cli_other_option(c, argv);
        }
    }
    if (optind >= argc) cli_misuse("missing the command: info, export or convert");
    const char *cmd = argv[optind++];
    int nargs = strcmp(cmd, "info") == 0 ? 1 : strcmp(cmd, "export") == 0 ||
                                                   strcmp(cmd, "convert") == 0 ? 2 : -1;
    if (nargs < 0) cli_misuse("unknown command \"%s\": info, export or convert", cmd);
    if (argc - optind != nargs)
        cli_misuse("%s takes %s", cmd, nargs == 1 ? "one SET" : cmd[0] == 'e' ? "SET DIR"
                                                                          : "SET OUT");
    if (json && cmd[0] != 'i') cli_misuse("--json goes with info");
    if (list && cmd[0] != 'e') cli_misuse("--list goes with export");
    if (dc.resize && !h) cli_misuse("--resize needs --size HxW");
    const char *path = argv[optind];
    char *lpath = NULL;
    if (cmd[0] == 'c') {
        if (!(lpath = labels_path(argv[optind + 1])))
            cli_misuse("%s: the images file's name needs \"images\" in it (its labels file "
                       "takes \"labels\" there)", argv[optind + 1]);
        const cnn_file_role ins[] = {{"SET", path, NULL}};
        const cnn_file_role outs[] = {{"OUT", argv[optind + 1], NULL}, {"OUT", lpath, NULL}};
        cli_check_files(ins, 1, outs, 2);
    }
    if (threads) cnn_set_threads(threads); /* else the library's default: all cores */
    cnn_model shape = {0};
    shape.input.h = h, shape.input.w = w, shape.input.c = channels;
    cnn_error err;
    cnn_dataset *d = NULL;
    /* A set is read labelled when it can be (IDX labels file present, class
     * folders); an unlabelled CSV or image folder is read as images only. */
    int rc = data_cli_open(&dc, path, &shape, 1, 0, &d, &err);
    if (rc) {
        cnn_error e2;
        if (data_cli_open(&dc, path, &shape, 0, 0, &d, &e2) == 0) rc = 0;
    }
    if (!rc && count && (size_t)count < d->count) {
        if (d->files)
            for (size_t i = (size_t)count; i < d->count; i++) free(d->files[i]);
        d->count = d->images->count = d->images->dims[0] = (size_t)count;
    }
    if (!rc) {
        if (cmd[0] == 'i') rc = info(path, d, json);
        else if (cmd[0] == 'e') rc = export_set(d, argv[optind + 1], list, &err);
        else rc = convert(d, argv[optind + 1], lpath, &err);
    }
    int status = 0;
    if (rc) {
        cli_report(&err);
        status = 1;
    } else if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cnn-data: error: writing to standard output: %s\n", strerror(errno));
        status = 1;
    }
    free(lpath);
    cnn_dataset_free(d);
    return status;
}
