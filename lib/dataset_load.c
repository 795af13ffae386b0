/* Labelled sets from one path: class folders, list files, CSV, IDX (see
 * dataset.h, cnn_dataset_open).  Image files are listed first, then decoded
 * once, in parallel over libcnn's threads, straight into the set's bytes. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dataset.h"
#include "fileio.h"
#include "image.h"
#include "threads.h"

#define FORMS                                                                            \
    "a labelled set is class folders (ROOT/CLASS/*.png|jpg|jpeg), a list file (PATH<TAB>" \
    "LABEL lines), a CSV (label,pixel0,...) or an IDX images file (with its labels file "  \
    "beside it, \"images\" in the name replaced by \"labels\")"

/* ---- a growing list of files ------------------------------------------- */

typedef struct {
    char **path;
    int *label;
    size_t n, cap;
} files;

static int files_add(files *f, char *path, int label)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        char **p = realloc(f->path, sizeof *p * cap);
        if (!p) return -1;
        f->path = p;
        int *l = realloc(f->label, sizeof *l * cap);
        if (!l) return -1;
        f->label = l;
        f->cap = cap;
    }
    f->path[f->n] = path;
    f->label[f->n++] = label;
    return 0;
}

static void files_free(files *f)
{
    for (size_t i = 0; i < f->n; i++) free(f->path[i]);
    free(f->path);
    free(f->label);
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg"));
}

/* The entries of dir, sorted by name (bytewise), without "." and "..", and
 * without hidden files (names starting with '.', like .DS_Store). */
static int list_dir(const char *dir, char ***names, size_t *n, cnn_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return cnn_errorf(err, "%s: %s", dir, strerror(errno));
    char **v = NULL;
    size_t k = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (k == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, sizeof *nv * cap);
            if (!nv) goto oom;
            v = nv;
        }
        if (!(v[k] = strdup(e->d_name))) goto oom;
        k++;
    }
    closedir(d);
    if (k) qsort(v, k, sizeof *v, by_name);
    *names = v, *n = k;
    return 0;
oom:
    closedir(d);
    for (size_t i = 0; i < k; i++) free(v[i]);
    free(v);
    return cnn_errorf(err, "%s: out of memory listing the folder", dir);
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Adds every image file under dir (recursively, sorted by name at each level)
 * with `label`.  Other files are errors, or skipped with a warning. */
static int walk(const char *dir, int label, const cnn_dataset_opts *o, files *f, int depth,
                cnn_error *err)
{
    if (depth > 64) return cnn_errorf(err, "%s: folders nested more than 64 deep", dir);
    char **names;
    size_t n;
    if (list_dir(dir, &names, &n, err)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char *p = join(dir, names[i]);
        struct stat st;
        if (!p) {
            rc = cnn_errorf(err, "%s: out of memory", dir);
        } else if (stat(p, &st)) {
            rc = cnn_errorf(err, "%s: %s", p, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(p, label, o, f, depth + 1, err);
        } else if (!has_image_ext(names[i])) {
            if (o->skip_bad) {
                if (o->on_skip) {
                    char msg[CNN_ERROR_MAX];
                    snprintf(msg, sizeof msg, "%s: not an image file name (.png, .jpg, .jpeg)", p);
                    o->on_skip(o->ctx, msg);
                }
            } else {
                rc = cnn_errorf(err, "%s: not an image file name (.png, .jpg, .jpeg); move it "
                                     "out of the class folders, or give --skip-bad", p);
            }
        } else if (files_add(f, p, label)) {
            rc = cnn_errorf(err, "%s: out of memory", dir);
        } else {
            p = NULL; /* owned by f */
        }
        free(p);
    }
    free_list(names, n);
    return rc;
}

/* ---- class folders ------------------------------------------------------- */

static int scan_folders(const char *root, const cnn_dataset_opts *o, files *f, char ***classes,
                        int *nclasses, cnn_error *err)
{
    char **names;
    size_t n;
    if (list_dir(root, &names, &n, err)) return -1;
    char **cls = calloc(n + 1, sizeof *cls);
    int nc = 0, rc = 0;
    if (!cls) rc = cnn_errorf(err, "%s: out of memory", root);
    for (size_t i = 0; i < n && !rc; i++) {
        char *p = join(root, names[i]);
        struct stat st;
        if (!p) {
            rc = cnn_errorf(err, "%s: out of memory", root);
        } else if (stat(p, &st)) {
            rc = cnn_errorf(err, "%s: %s", p, strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            /* Other files beside the class folders (a README, a list file) are
             * left alone; an image there has no class. */
            if (has_image_ext(names[i]))
                rc = cnn_errorf(err, "%s: an image outside the class folders; %s holds one "
                                     "folder per class (ROOT/CLASS/*.png|jpg|jpeg)", p, root);
        } else if (nc == INT_MAX - 1) {
            rc = cnn_errorf(err, "%s: too many classes", root);
        } else {
            size_t before = f->n;
            rc = walk(p, nc, o, f, 0, err);
            if (!rc && f->n == before)
                rc = cnn_errorf(err, "%s: an empty class folder (no .png, .jpg or .jpeg file)",
                                p);
            if (!rc) cls[nc++] = names[i], names[i] = NULL;
        }
        free(p);
    }
    if (!rc && nc == 0)
        rc = cnn_errorf(err, "%s: no class folders (ROOT/CLASS/*.png|jpg|jpeg)", root);
    free_list(names, n);
    if (rc) {
        free_list(cls, (size_t)nc);
        return -1;
    }
    *classes = cls, *nclasses = nc;
    return 0;
}

/* ---- list files ----------------------------------------------------------- */

static int parse_index(const char *s, int *v)
{
    if (!*s) return 0;
    long x = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) return 0;
        x = x * 10 + (*p - '0');
        if (x > INT_MAX - 1) return 0;
    }
    *v = (int)x;
    return 1;
}

/* A path is "outside" the list's folder when it is absolute or climbs with "..". */
static int climbs_out(const char *p)
{
    if (p[0] == '/') return 1;
    int depth = 0;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (--depth < 0) return 1;
        } else if (len && !(len == 1 && s[0] == '.')) {
            depth++;
        }
        s += len + (e ? 1 : 0);
    }
    return 0;
}

static int scan_list(const char *path, char *text, files *f, char ***classes, int *nclasses,
                     cnn_error *err)
{
    char *dir = strdup(path);
    if (!dir) return cnn_errorf(err, "%s: out of memory", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = '\0';
    else strcpy(dir, "./");
    char **labels = NULL; /* the label text of each line, parallel to f */
    size_t cap = 0;
    int all_index = 1, rc = 0;
    long lineno = 0;
    for (char *line = text, *next; line && !rc; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        if (!len || line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab || strchr(tab + 1, '\t') || tab == line || !tab[1]) {
            rc = cnn_errorf(err, "%s:%ld: a line is PATH<TAB>LABEL", path, lineno);
            break;
        }
        *tab = '\0';
        if (climbs_out(line)) {
            rc = cnn_errorf(err, "%s:%ld: %s is outside the list file's folder", path, lineno,
                            line);
            break;
        }
        int v;
        if (!parse_index(tab + 1, &v)) all_index = 0;
        char *p = join(dir, line);
        if (f->n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nl = realloc(labels, sizeof *nl * cap);
            if (!nl) {
                free(p);
                rc = cnn_errorf(err, "%s: out of memory", path);
                break;
            }
            labels = nl;
        }
        if (!p || files_add(f, p, 0)) {
            free(p);
            rc = cnn_errorf(err, "%s: out of memory", path);
            break;
        }
        labels[f->n - 1] = tab + 1;
    }
    if (!rc && f->n == 0) rc = cnn_errorf(err, "%s: a list file without any PATH<TAB>LABEL line", path);
    if (!rc && all_index) {
        /* Indices: the set is unnamed; the model gives the class count. */
        for (size_t i = 0; i < f->n; i++) parse_index(labels[i], &f->label[i]);
        *classes = NULL, *nclasses = 0;
    } else if (!rc) {
        /* Names: classes sorted by name, as class folders are. */
        char **sorted = malloc(sizeof *sorted * f->n);
        char **cls = sorted ? calloc(f->n + 1, sizeof *cls) : NULL;
        if (!cls) {
            free(sorted);
            rc = cnn_errorf(err, "%s: out of memory", path);
        } else {
            memcpy(sorted, labels, sizeof *sorted * f->n);
            qsort(sorted, f->n, sizeof *sorted, by_name);
            int nc = 0;
            for (size_t i = 0; i < f->n && !rc; i++)
                if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
                    if (!(cls[nc++] = strdup(sorted[i]))) rc = cnn_errorf(err, "out of memory");
            for (size_t i = 0; i < f->n && !rc; i++) {
                char **hit = bsearch(&labels[i], cls, (size_t)nc, sizeof *cls, by_name);
                f->label[i] = (int)(hit - cls);
            }
            free(sorted);
            if (rc) free_list(cls, (size_t)nc);
            else *classes = cls, *nclasses = nc;
        }
    }
    free(labels);
    free(dir);
    return rc;
}

/* ---- decoding ------------------------------------------------------------- */

typedef struct {
    const files *f;
    const cnn_dataset_opts *o;
    uint8_t *px;
    size_t rec;
    char **errors; /* per file: NULL, or its message */
    atomic_size_t done;
} decode_job;

static int decode_one(decode_job *j, size_t i, cnn_error *err)
{
    const cnn_dataset_opts *o = j->o;
    cnn_image *img = NULL;
    if (cnn_image_load(j->f->path[i], o->c, o->lim, &img, err)) return -1;
    if (img->width != o->w || img->height != o->h) {
        if (!o->resize) {
            int rc = cnn_errorf(err, "%s: image is %dx%d but the model takes %dx%d (--resize "
                                     "scales it)", j->f->path[i], img->width, img->height,
                                o->w, o->h);
            cnn_image_free(img);
            return rc;
        }
        cnn_image *r = cnn_image_resize_bilinear(img, o->w, o->h);
        cnn_image_free(img);
        if (!r) return cnn_errorf(err, "%s: out of memory resizing", j->f->path[i]);
        img = r;
    }
    if (o->invert) cnn_image_invert(img);
    uint8_t *dst = j->px + i * j->rec;
    size_t plane = (size_t)o->w * (size_t)o->h;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < o->c; c++) {
            float v = img->px[(size_t)c * plane + p] * 255.0f;
            dst[p * (size_t)o->c + (size_t)c] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : lrintf(v));
        }
    cnn_image_free(img);
    return 0;
}

static void decode_range(void *arg, size_t lo, size_t hi)
{
    decode_job *j = arg;
    for (size_t i = lo; i < hi; i++) {
        cnn_error e;
        if (decode_one(j, i, &e)) j->errors[i] = strdup(e.msg[0] ? e.msg : "unreadable");
        size_t d = atomic_fetch_add(&j->done, 1) + 1;
        /* Only the calling thread (range 0) reports progress. */
        if (lo == 0 && j->o->on_progress && (d % 256 == 0))
            j->o->on_progress(j->o->ctx, atomic_load(&j->done), j->f->n);
    }
}

static int decode_all(const char *path, files *f, const cnn_dataset_opts *oo, char **classes,
                      int nclasses, cnn_dataset **out, cnn_error *err)
{
    cnn_dataset_opts sized = *oo;
    const cnn_dataset_opts *o = &sized;
    if (sized.h == 0 && f->n) { /* the size of the first image */
        cnn_image *img;
        if (cnn_image_load(f->path[0], sized.c, sized.lim, &img, err)) return -1;
        sized.h = img->height, sized.w = img->width;
        cnn_image_free(img);
    }
    size_t rec = (size_t)o->h * (size_t)o->w * (size_t)o->c;
    size_t max = o->max_bytes ? o->max_bytes : CNN_IDX_MAX_BYTES;
    if (f->n && rec > max / f->n)
        return cnn_errorf(err, "%s: %zu images of %dx%dx%d need %.0f bytes, over the limit "
                               "of %zu (--max-file-size raises it)", path, f->n, o->h, o->w,
                          o->c, (double)f->n * (double)rec, max);
    decode_job j = {.f = f, .o = o, .rec = rec};
    cnn_dataset *d = NULL;
    if (cnn_dataset_new(f->n, o->h, o->w, o->c, 1, max, &d, err)) return -1;
    j.px = cnn_dataset_pixels(d);
    j.errors = calloc(f->n ? f->n : 1, sizeof *j.errors);
    if (o->keep_paths && j.errors && !(d->files = calloc(f->n + 1, sizeof *d->files))) {
        free(j.errors);
        j.errors = NULL;
    }
    if (!j.errors) {
        cnn_dataset_free(d);
        return cnn_errorf(err, "%s: out of memory", path);
    }
    atomic_init(&j.done, 0);
    cnn_parallel_for(f->n, 1, decode_range, &j);
    if (o->on_progress) o->on_progress(o->ctx, f->n, f->n);
    /* Errors in file order, whatever the threads' order was. */
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (j.errors[i]) {
            if (!o->skip_bad) {
                if (!rc) rc = cnn_errorf(err, "%s", j.errors[i]);
                continue;
            }
            if (o->on_skip) o->on_skip(o->ctx, j.errors[i]);
            continue;
        }
        if (kept != i) memcpy(j.px + kept * rec, j.px + i * rec, rec);
        d->labels[kept] = f->label[i];
        if (!rc && o->keep_paths) {
            /* d->files takes the path over from f. */
            d->files[kept] = f->path[i];
            f->path[i] = NULL;
        }
        kept++;
    }
    for (size_t i = 0; i < f->n; i++) free(j.errors[i]);
    free(j.errors);
    if (!rc && kept == 0) rc = cnn_errorf(err, "%s: every image was unreadable", path);
    if (!rc) {
        d->count = d->images->count = d->images->dims[0] = kept;
        if (classes && cnn_dataset_set_classes(d, nclasses, (const char *const *)classes, err))
            rc = -1;
    }
    if (rc) {
        cnn_dataset_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

/* ---- CSV (the Kaggle MNIST layout) ----------------------------------------- */

/* Reads one integer field ending at ',' or the line's end; 0 on success. */
static int csv_int(const char **s, long *v)
{
    const char *p = *s;
    while (*p == ' ') p++;
    if (!isdigit((unsigned char)*p)) return -1;
    long x = 0;
    while (isdigit((unsigned char)*p)) {
        x = x * 10 + (*p++ - '0');
        if (x > 1000000000L) return -1;
    }
    while (*p == ' ') p++;
    if (*p && *p != ',') return -1;
    *v = x;
    *s = p;
    return 0;
}

static int load_csv(const char *path, char *text, const cnn_dataset_opts *oo,
                    cnn_dataset **out, cnn_error *err)
{
    cnn_dataset_opts sized = *oo;
    const cnn_dataset_opts *o = &sized;
    char *line = text, *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    /* The header names the columns; a first column "label" means labelled. */
    size_t cols = 1;
    for (const char *p = line; *p; p++) cols += *p == ',';
    int labelled = strncmp(line, "label", 5) == 0 && (line[5] == ',' || line[5] == '\r' ||
                                                      !line[5]);
    if (sized.h == 0) { /* square images, one channel per pixel column */
        size_t px = (cols - (size_t)labelled) / (size_t)sized.c;
        int side = (int)lrint(sqrt((double)px));
        if (side < 1 || (size_t)side * (size_t)side != px)
            return cnn_errorf(err, "%s:1: %zu pixel columns are not a square image; give the "
                                   "size", path, px);
        sized.h = sized.w = side;
    }
    size_t rec = (size_t)o->h * (size_t)o->w * (size_t)o->c;
    if (cols != rec + (size_t)labelled)
        return cnn_errorf(err, "%s:1: %zu columns, but the model's %dx%dx%d images need %zu "
                               "(%s%zu pixels)", path, cols, o->h, o->w, o->c,
                          rec + (size_t)labelled, labelled ? "label and " : "", rec);
    if (o->labelled && !labelled)
        return cnn_errorf(err, "%s: no label column (the header does not start with \"label\"); "
                               "a CSV without labels can only be predicted", path);
    /* Count the records first, so the set is allocated once. */
    size_t n = 0;
    for (const char *p = next; p && *p; ) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && !(len == 1 && p[0] == '\r')) n++;
        p = e ? e + 1 : NULL;
    }
    size_t max = o->max_bytes ? o->max_bytes : CNN_IDX_MAX_BYTES;
    if (n && rec > max / n)
        return cnn_errorf(err, "%s: %zu images of %dx%dx%d need %.0f bytes, over the limit "
                               "of %zu (--max-file-size raises it)", path, n, o->h, o->w, o->c,
                          (double)n * (double)rec, max);
    if (n == 0) return cnn_errorf(err, "%s: a header but no records", path);
    cnn_dataset *d = NULL;
    if (cnn_dataset_new(n, o->h, o->w, o->c, labelled, max, &d, err)) return -1;
    uint8_t *px = cnn_dataset_pixels(d);
    size_t i = 0;
    long lineno = 1;
    for (char *l = next; l && *l; l = next) {
        lineno++;
        next = strchr(l, '\n');
        if (next) *next++ = '\0';
        size_t len = strlen(l);
        if (len && l[len - 1] == '\r') l[--len] = '\0';
        if (!len) continue;
        size_t got = 1;
        for (const char *p = l; *p; p++) got += *p == ',';
        if (got != cols) {
            cnn_dataset_free(d);
            return cnn_errorf(err, "%s:%ld: %zu columns, the header has %zu", path, lineno, got,
                              cols);
        }
        const char *p = l;
        for (size_t k = 0; k < cols; k++) {
            long v;
            if (k) p++; /* the comma */
            if (csv_int(&p, &v) || (labelled && k == 0 ? v > INT_MAX - 1 : v > 255)) {
                cnn_dataset_free(d);
                return cnn_errorf(err, "%s:%ld: column %zu is not %s", path, lineno, k + 1,
                                  labelled && k == 0 ? "a class index (0, 1, ...)"
                                                     : "a pixel value 0 to 255");
            }
            if (labelled && k == 0) d->labels[i] = (int)v;
            else px[i * rec + k - (size_t)labelled] = (uint8_t)(o->invert ? 255 - v : v);
        }
        i++;
    }
    *out = d;
    return 0;
}

/* ---- IDX ------------------------------------------------------------------- */

/* "X-images-idx3-ubyte.gz" -> "X-labels-idx1-ubyte.gz": the last "images" in
 * the file name becomes "labels", and "idx3"/"idx4" becomes "idx1". */
static char *labels_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *hit = NULL;
    for (const char *p = base; (p = strstr(p, "images")); p++) hit = p;
    if (!hit) return NULL;
    char *s = strdup(path);
    if (!s) return NULL;
    memcpy(s + (hit - path), "labels", 6);
    char *idx = strstr(s + (hit - path), "idx");
    if (idx && (idx[3] == '3' || idx[3] == '4')) idx[3] = '1';
    return s;
}

static int load_idx(const char *path, const cnn_dataset_opts *o, cnn_dataset **out,
                    cnn_error *err)
{
    size_t max = o->max_bytes ? o->max_bytes : CNN_IDX_MAX_BYTES;
    cnn_idx *x = NULL, *lab = NULL;
    cnn_dataset *d = NULL;
    char *lp = NULL;
    if (cnn_idx_load(path, max, &x, err)) return -1;
    int h = x->rank >= 3 ? (int)x->dims[1] : 0, w = x->rank >= 3 ? (int)x->dims[2] : 0;
    int c = x->rank == 4 ? (int)x->dims[3] : 1;
    if (x->rank < 3 || x->rank > 4) {
        cnn_errorf(err, "%s: an image file must be N x H x W or N x H x W x C, but this one "
                        "has rank %d", path, x->rank);
        goto fail;
    }
    if (!(d = calloc(1, sizeof *d)) ||
        !(d->staging = malloc(sizeof *d->staging * (size_t)h * (size_t)w * (size_t)c))) {
        cnn_errorf(err, "%s: out of memory", path);
        goto fail;
    }
    d->images = x, x = NULL;
    d->count = d->images->count;
    d->h = h, d->w = w, d->c = c;
    if (o->labelled) {
        lp = labels_name(path);
        struct stat st;
        if (!lp || stat(lp, &st)) {
            cnn_errorf(err, "%s: an IDX images file, but its labels file %s is missing", path,
                       lp ? lp : "(no \"images\" in the name)");
            goto fail;
        }
        if (cnn_idx_load(lp, max, &lab, err)) goto fail;
        if (lab->rank != 1 || lab->count != d->count) {
            cnn_errorf(err, "%s: %zu labels for %zu images in %s", lp, lab->count, d->count,
                       path);
            goto fail;
        }
        if (!(d->labels = malloc(sizeof *d->labels * d->count))) {
            cnn_errorf(err, "%s: out of memory", lp);
            goto fail;
        }
        for (size_t i = 0; i < d->count; i++) {
            long v;
            if (cnn_idx_label(lab, i, &v, err)) goto fail;
            if (v < 0 || v > INT_MAX - 1) {
                cnn_errorf(err, "%s: label %ld at index %zu is negative", lp, v, i);
                goto fail;
            }
            d->labels[i] = (int)v;
        }
    }
    cnn_idx_free(lab);
    free(lp);
    *out = d;
    return 0;
fail:
    cnn_idx_free(x);
    cnn_idx_free(lab);
    cnn_dataset_free(d);
    free(lp);
    return -1;
}

/* ---- one path, recognised by what it is -------------------------------------- */

static int is_idx_header(const unsigned char *b, size_t len)
{
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) return 1; /* gzip: IDX is the one */
    return len >= 4 && b[0] == 0 && b[1] == 0 && cnn_idx_type_size(b[2]) && b[3] >= 1 &&
           b[3] <= CNN_IDX_MAX_RANK;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcasecmp(s + a - b, tail) == 0;
}

int cnn_dataset_open(const char *path, const cnn_dataset_opts *o, cnn_dataset **out,
                     cnn_error *err)
{
    *out = NULL;
    if (o->h < 0 || o->w < 0 || !o->h != !o->w || (o->c != 1 && o->c != 3))
        return cnn_errorf(err, "%s: images of %dx%dx%d cannot be read (1 or 3 channels)", path,
                          o->h, o->w, o->c);
    struct stat st;
    if (stat(path, &st)) return cnn_errorf(err, "%s: %s", path, strerror(errno));
    files f = {0};
    char **classes = NULL;
    int nclasses = 0, rc;
    if (S_ISDIR(st.st_mode)) {
        if (o->labelled) {
            rc = scan_folders(path, o, &f, &classes, &nclasses, err);
        } else {
            rc = walk(path, 0, o, &f, 0, err);
            if (!rc && f.n == 0)
                rc = cnn_errorf(err, "%s: no .png, .jpg or .jpeg file under this folder", path);
        }
        if (!rc) rc = decode_all(path, &f, o, classes, nclasses, out, err);
        if (!rc && !o->labelled) {
            free((*out)->labels);
            (*out)->labels = NULL;
        }
    } else if (!S_ISREG(st.st_mode)) {
        return cnn_errorf(err, "%s: not a file or a folder; " FORMS, path);
    } else {
        size_t max = o->max_bytes ? o->max_bytes : CNN_IDX_MAX_BYTES;
        /* A CSV holds up to 4 characters per pixel byte. */
        size_t cap = max > SIZE_MAX / 5 ? SIZE_MAX : max * 5;
        unsigned char head[8] = {0};
        FILE *fp = fopen(path, "rb");
        if (!fp) return cnn_errorf(err, "%s: %s", path, strerror(errno));
        size_t hl = fread(head, 1, sizeof head, fp);
        fclose(fp);
        if (is_idx_header(head, hl)) return load_idx(path, o, out, err);
        if ((hl >= 3 && memcmp(head, "\xff\xd8\xff", 3) == 0) ||
            (hl >= 8 && memcmp(head, "\x89PNG", 4) == 0))
            return cnn_errorf(err, "%s: one image, not a set; " FORMS, path);
        char *text = NULL;
        size_t len = 0;
        if (cnn_read_file(path, cap, &text, &len, err)) return -1;
        if (memchr(text, '\0', len)) {
            free(text);
            return cnn_errorf(err, "%s: not a text file; " FORMS, path);
        }
        if (ends_with(path, ".csv")) {
            rc = load_csv(path, text, o, out, err);
        } else if (memchr(text, '\t', len)) {
            rc = scan_list(path, text, &f, &classes, &nclasses, err);
            if (!rc) rc = decode_all(path, &f, o, classes, nclasses, out, err);
        } else {
            rc = cnn_errorf(err, "%s: not a dataset; " FORMS, path);
        }
        free(text);
    }
    files_free(&f);
    if (classes) free_list(classes, (size_t)nclasses);
    return rc;
}
