/* Whole-file reads with a size limit, and atomic writes (see fileio.h). */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cnn_read_stream_after(FILE *fp, const char *name, size_t max_bytes, const void *prefix,
                          size_t plen, char **buf, size_t *len, cnn_error *err)
{
    /* Never more than max_bytes + 1 bytes are held: one byte past the limit is
     * how a stream larger than it is told apart. */
    size_t limit = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : max_bytes;
    if (plen > max_bytes)
        return cnn_errorf(err, "%s: larger than the limit of %zu bytes", name, max_bytes);
    size_t cap = (size_t)1 << 16, n = plen;
    /* A regular file's size is known: room for all of it plus the byte that
     * shows the end, so it is read in one piece, without growing (and copying)
     * the buffer.  The stream is still read to its end: the size is a hint. */
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (unsigned long long)st.st_size < limit)
        cap = (size_t)st.st_size + 1;
    if (cap < plen) cap = plen;
    if (cap > limit) cap = limit;
    char *b = malloc(cap + 1);
    if (!b) return cnn_errorf(err, "%s: out of memory", name);
    if (plen) memcpy(b, prefix, plen);
    for (;;) {
        if (n == cap) {
            if (cap >= limit) break;
            size_t ncap = cap > limit / 2 ? limit : cap * 2;
            char *nb = realloc(b, ncap + 1);
            if (!nb) {
                free(b);
                return cnn_errorf(err, "%s: out of memory", name);
            }
            b = nb;
            cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        free(b);
        return cnn_errorf(err, "%s: read error: %s", name, strerror(errno));
    }
    if (n > max_bytes) {
        free(b);
        return cnn_errorf(err, "%s: larger than the limit of %zu bytes", name, max_bytes);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

int cnn_read_stream(FILE *fp, const char *name, size_t max_bytes, char **buf, size_t *len,
                    cnn_error *err)
{
    return cnn_read_stream_after(fp, name, max_bytes, NULL, 0, buf, len, err);
}

FILE *cnn_open_input(const char *path, size_t max_bytes, long long *size, cnn_error *err)
{
    *size = -1;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cnn_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(fp);
            cnn_errorf(err, "%s: is a directory", path);
            return NULL;
        }
        if (S_ISREG(st.st_mode)) *size = (long long)st.st_size;
    }
    if (*size >= 0 && (unsigned long long)*size > max_bytes) {
        fclose(fp);
        cnn_errorf(err, "%s: %lld bytes is larger than the limit of %zu bytes", path, *size,
                   max_bytes);
        return NULL;
    }
    return fp;
}

int cnn_skip_stream(FILE *fp, const char *name, size_t done, size_t max_bytes, size_t *len,
                    cnn_error *err)
{
    char chunk[1 << 16];
    size_t n = done;
    for (;;) {
        size_t got = fread(chunk, 1, sizeof chunk, fp);
        if (got == 0) break;
        n += got;
        if (n > max_bytes)
            return cnn_errorf(err, "%s: larger than the limit of %zu bytes", name, max_bytes);
    }
    if (ferror(fp)) return cnn_errorf(err, "%s: read error: %s", name, strerror(errno));
    *len = n;
    return 0;
}

int cnn_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, cnn_error *err)
{
    long long size;
    FILE *fp = cnn_open_input(path, max_bytes, &size, err);
    if (!fp) return -1;
    int rc = cnn_read_stream(fp, path, max_bytes, buf, len, err);
    fclose(fp);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* ---- what an output may be ------------------------------------------------ */

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* The file a path names once every symlink along its last component is followed
 * (the target need not exist: a dangling link is written through, creating its
 * target).  Relative link targets are relative to the link's folder. */
static char *resolve_links(const char *path, cnn_error *err)
{
    char *p = strdup(path);
    if (!p) return cnn_errorf(err, "%s: out of memory", path), NULL;
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode)) return p;
        if (hops == 40) {
            free(p);
            cnn_errorf(err, "%s: too many levels of symbolic links", path);
            return NULL;
        }
        char target[PATH_MAX];
        ssize_t n = readlink(p, target, sizeof target - 1);
        if (n < 0) return p; /* let the open report it */
        target[n] = 0;
        char *next;
        const char *slash = strrchr(p, '/');
        if (target[0] == '/' || !slash) {
            next = strdup(target);
        } else {
            size_t d = (size_t)(slash - p) + 1;
            next = malloc(d + (size_t)n + 1);
            if (next) {
                memcpy(next, p, d);
                memcpy(next + d, target, (size_t)n + 1);
            }
        }
        free(p);
        if (!(p = next)) return cnn_errorf(err, "%s: out of memory", path), NULL;
    }
}

int cnn_output_check(const char *path, cnn_error *err)
{
    struct stat st;
    if (strcmp(path, "-") == 0) return 0;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return cnn_errorf(err, "%s: is %s; an output must be a regular file (or - for standard "
                               "output)", path, kind_of(st.st_mode));
    return 0;
}

/* A file's identity: device and inode when it exists; otherwise the folder's
 * device and inode and the name in it (two outputs not yet made can still be
 * the same file). */
typedef struct file_id {
    int exists, known;
    dev_t dev;
    ino_t ino;
    char *base; /* malloc'd, for a file that does not exist yet */
} file_id;

static void identify(const char *path, file_id *id)
{
    memset(id, 0, sizeof *id);
    struct stat st;
    if (stat(path, &st) == 0) {
        id->exists = id->known = 1;
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        return;
    }
    cnn_error ignored;
    char *t = resolve_links(path, &ignored);
    if (!t) return;
    char *dir = dir_of(t);
    const char *slash = strrchr(t, '/');
    if (dir && stat(dir, &st) == 0 && (id->base = strdup(slash ? slash + 1 : t))) {
        id->known = 1;
        id->dev = st.st_dev;
        id->ino = st.st_ino;
    }
    free(dir);
    free(t);
}

static int same_file(const file_id *a, const file_id *b)
{
    if (!a->known || !b->known || a->exists != b->exists) return 0;
    if (a->dev != b->dev || a->ino != b->ino) return 0;
    return a->exists || strcmp(a->base, b->base) == 0;
}

int cnn_check_outputs(const cnn_file_role *in, size_t nin, const cnn_file_role *out,
                      size_t nout, cnn_error *err)
{
    int rc = 0;
    file_id *ids = calloc(nin + nout + 1, sizeof *ids);
    if (!ids) return cnn_errorf(err, "out of memory");
    for (size_t i = 0; i < nin; i++)
        if (in[i].path && strcmp(in[i].path, "-") != 0) identify(in[i].path, &ids[i]);
    for (size_t j = 0; j < nout && rc == 0; j++) {
        const cnn_file_role *o = &out[j];
        if (!o->path || strcmp(o->path, "-") == 0) continue;
        file_id *oid = &ids[nin + j];
        struct stat st;
        if (stat(o->path, &st) == 0 && !S_ISREG(st.st_mode)) {
            rc = cnn_errorf(err, "%s %s: is %s; an output must be a regular file (or - for "
                                 "standard output)", o->what, o->path, kind_of(st.st_mode));
            break;
        }
        identify(o->path, oid);
        for (size_t i = 0; i < nin && rc == 0; i++) {
            if (!same_file(oid, &ids[i])) continue;
            if (in[i].may_be && strcmp(in[i].may_be, o->what) == 0) continue;
            rc = cnn_errorf(err, "%s %s: is the same file as the input %s %s; an output never "
                                 "replaces an input", o->what, o->path, in[i].what, in[i].path);
        }
        for (size_t k = 0; k < j && rc == 0; k++)
            if (out[k].path && same_file(oid, &ids[nin + k]))
                rc = cnn_errorf(err, "%s %s: is the same file as the output %s %s", o->what,
                                o->path, out[k].what, out[k].path);
    }
    for (size_t i = 0; i < nin + nout; i++) free(ids[i].base);
    free(ids);
    return rc;
}

/* ---- atomic writes ---------------------------------------------------------- */

int cnn_atomic_open(cnn_atomic_file *af, const char *path, cnn_error *err)
{
    memset(af, 0, sizeof *af);
    if (strcmp(path, "-") == 0) { /* standard output: written as it comes */
        if (!(af->path = strdup("<stdout>"))) return cnn_errorf(err, "out of memory");
        af->fp = stdout;
        af->is_stdout = 1;
        return 0;
    }
    /* A symlink is written through: the temporary goes next to its target and
     * replaces the target, leaving the link. */
    if (!(af->path = resolve_links(path, err))) return -1;
    struct stat old;
    int had_old = stat(af->path, &old) == 0;
    if (had_old && !S_ISREG(old.st_mode)) {
        cnn_errorf(err, "%s: is %s; an output must be a regular file (or - for standard output)",
                   path, kind_of(old.st_mode));
        cnn_atomic_abort(af);
        return -1;
    }
    path = af->path;
    size_t n = strlen(path);
    af->tmp_path = malloc(n + 16);
    if (!af->tmp_path) {
        cnn_atomic_abort(af);
        return cnn_errorf(err, "%s: out of memory", path);
    }
    /* Unique per process and call (mkstemp), so concurrent writers never collide.
     * The flock, held until the rename, tells remove_stale_temps the temporary is
     * alive; if another writer of the same file removed it before we locked it
     * (it is unlinked by then), take a new one. */
    int fd;
    for (int tries = 0;; tries++) {
        snprintf(af->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
        fd = mkstemp(af->tmp_path);
        struct stat st;
        if (fd < 0 || tries == 10 || flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0 ||
            st.st_nlink > 0)
            break;
        close(fd);
    }
    if (fd < 0) {
        int e = errno;
        char *dir = dir_of(path);
        cnn_errorf(err, "%s: cannot create a file in folder %s: %s", path, dir ? dir : "?",
                   strerror(e));
        free(dir);
        free(af->tmp_path);
        af->tmp_path = NULL;
        cnn_atomic_abort(af);
        return -1;
    }
    /* mkstemp makes 0600: a file replaced keeps its permission bits; a new one
     * gets the usual permissions under the umask. */
    mode_t mode;
    if (had_old) {
        mode = old.st_mode & 07777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    if (fchmod(fd, mode) != 0) { /* not fatal: the data is what matters */ }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        cnn_atomic_abort(af);
        return cnn_errorf(err, "%s: cannot open temporary file: %s", path, strerror(errno));
    }
    return 0;
}

/* A writer killed mid-write (SIGKILL, power loss) leaves its temporary
 * "<name>.tmp.XXXXXX" behind.  After a successful write of `path`, remove those
 * of the same destination that no live writer holds: each writer keeps an
 * flock on its temporary until the rename, and the kernel drops it when the
 * process dies. */
static void remove_stale_temps(const char *path)
{
    char *dir = dir_of(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    free(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0 ||
            strlen(n + blen + 5) != 6)
            continue;
        int fd = openat(dirfd(d), n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0)
            unlinkat(dirfd(d), n, 0);
        close(fd);
    }
    closedir(d);
}

int cnn_atomic_commit(cnn_atomic_file *af, cnn_error *err)
{
    int e = 0;
    if (af->is_stdout) {
        int bad = fflush(stdout) != 0 || ferror(stdout);
        e = errno;
        cnn_atomic_abort(af);
        if (bad) return cnn_errorf(err, "writing standard output: %s", strerror(e));
        return 0;
    }
    const char *step = NULL;
    if (fflush(af->fp) != 0) { e = errno; step = "write"; }
    else if (ferror(af->fp)) { e = EIO; step = "write"; }
    else if (fsync(fileno(af->fp)) != 0) { e = errno; step = "fsync"; }
    int lock_fd = dup(fileno(af->fp)); /* keeps the flock until after the rename */
    int close_rc = fclose(af->fp);
    af->fp = NULL;
    if (!step && close_rc != 0) { e = errno; step = "close"; }
    if (!step && rename(af->tmp_path, af->path) != 0) { e = errno; step = "rename"; }
    if (lock_fd >= 0) close(lock_fd);
    if (step) {
        cnn_errorf(err, "%s: %s failed: %s (the previous file, if any, is unchanged)", af->path,
                   step, strerror(e));
        cnn_atomic_abort(af);
        return -1;
    }
    /* Make the rename itself durable. */
    char *dir = dir_of(af->path);
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    remove_stale_temps(af->path);
    free(af->tmp_path);
    af->tmp_path = NULL;
    cnn_atomic_abort(af);
    return 0;
}

void cnn_atomic_abort(cnn_atomic_file *af)
{
    if (!af) return;
    if (af->fp && !af->is_stdout) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
}

int cnn_write_file_atomic(const char *path, const void *data, size_t len, cnn_error *err)
{
    cnn_atomic_file af;
    if (cnn_atomic_open(&af, path, err) != 0) return -1;
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        cnn_atomic_abort(&af);
        return cnn_errorf(err, "%s: write failed: %s (the previous file, if any, is unchanged)",
                          path, strerror(e));
    }
    return cnn_atomic_commit(&af, err);
}
