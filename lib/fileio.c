/* Whole-file reads with a size limit, and atomic writes (see fileio.h). */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cnn_read_stream(FILE *fp, const char *name, size_t max_bytes, char **buf, size_t *len,
                    cnn_error *err)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    if (!b) return cnn_errorf(err, "%s: out of memory", name);
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) break;
            size_t ncap = cap * 2;
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

int cnn_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, cnn_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return cnn_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return cnn_errorf(err, "%s: is a directory", path);
    }
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max_bytes) {
        fclose(fp);
        return cnn_errorf(err, "%s: %lld bytes is larger than the limit of %zu bytes", path,
                          (long long)st.st_size, max_bytes);
    }
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

int cnn_atomic_open(cnn_atomic_file *af, const char *path, cnn_error *err)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = strdup(path);
    af->tmp_path = malloc(n + 16);
    if (!af->path || !af->tmp_path) {
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
    /* mkstemp makes 0600; give the file the usual permissions under the umask. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) { /* not fatal: the data is what matters */ }
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
    if (af->fp) fclose(af->fp);
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
