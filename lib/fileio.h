/* File input and atomic file output.
 *
 * Every file libcnn writes goes through cnn_atomic_*: the data is written to a
 * uniquely named temporary file in the destination's folder, flushed, fsync'd
 * and renamed over the destination, and the folder is fsync'd.  A crash at any
 * moment leaves either the previous complete file or the new complete file;
 * a failed write leaves the previous file untouched and removes the temporary.
 * A process killed mid-write cannot remove its temporary: the next successful
 * write of the same destination removes it (temporaries no live writer holds). */
#ifndef CNN_FILEIO_H
#define CNN_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

/* Opens an input file for reading: a folder is refused, and a regular file
 * larger than max_bytes is refused with a message naming the limit, before
 * anything is read.  *size is the regular file's size, -1 for a stream (a
 * pipe, a device).  NULL on error. */
FILE *cnn_open_input(const char *path, size_t max_bytes, long long *size, cnn_error *err);

/* Reads a whole file ("-" is not special) into a NUL-terminated malloc'd buffer.
 * Refuses files larger than max_bytes with a message naming the limit.
 * On success *buf is owned by the caller (free()). */
int cnn_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, cnn_error *err);

/* Reads all of a stream (e.g. stdin) the same way; `name` is used in messages.
 * At most max_bytes + 1 bytes are ever held, whatever the stream's length. */
int cnn_read_stream(FILE *fp, const char *name, size_t max_bytes, char **buf, size_t *len,
                    cnn_error *err);

/* The same, for a stream whose first `plen` bytes were already read (into
 * `prefix`, copied): *buf holds prefix and the rest; max_bytes counts both. */
int cnn_read_stream_after(FILE *fp, const char *name, size_t max_bytes, const void *prefix,
                          size_t plen, char **buf, size_t *len, cnn_error *err);

/* Reads the rest of a stream to its end without keeping it (64 KiB at a time),
 * `done` bytes of it having been read already: *len is the stream's length.
 * Longer than max_bytes is an error, found within 64 KiB past the limit. */
int cnn_skip_stream(FILE *fp, const char *name, size_t done, size_t max_bytes, size_t *len,
                    cnn_error *err);

typedef struct cnn_atomic_file {
    FILE *fp;        /* write here between open and commit */
    char *path;      /* destination */
    char *tmp_path;  /* temporary in the same folder */
    int is_stdout;   /* "-": fp is stdout, commit only flushes it */
} cnn_atomic_file;

/* Creates the temporary file for `path`.  Fails (with the reason) when the folder
 * is missing or not writable, or when `path` exists and is not a regular file
 * (a directory, FIFO, device or socket is never replaced).  A symlink is written
 * through: the temporary is made in the target's folder and renamed over the
 * target.  A file replaced keeps its permission bits.  "-" is standard output:
 * written as it comes, and commit flushes it. */
int cnn_atomic_open(cnn_atomic_file *af, const char *path, cnn_error *err);

/* Flushes, fsyncs, closes and renames into place; checks every step.  On
 * failure the temporary is removed and the destination is left as it was.
 * Either way af is released. */
int cnn_atomic_commit(cnn_atomic_file *af, cnn_error *err);

/* Abandons the write: closes and removes the temporary.  Safe on a zeroed or
 * already released af. */
void cnn_atomic_abort(cnn_atomic_file *af);

/* ---- outputs against inputs -------------------------------------------------
 * The rules every tool follows before any work (documented in cnn-model(5),
 * FILES): an output that is the same file as an input (device and inode, after
 * following symlinks; hard links included) is refused; two outputs that are the
 * same file are refused; an existing output that is not a regular file is
 * refused.  "-" (standard input/output) is never compared. */
typedef struct cnn_file_role {
    const char *what;   /* the flag that named it, for messages ("-o", "--log") */
    const char *path;   /* NULL: not given */
    const char *may_be; /* for an input: the `what` of an output allowed to replace
                         * it (cnn-train's --resume CKPT with --checkpoint CKPT) */
} cnn_file_role;

int cnn_check_outputs(const cnn_file_role *in, size_t nin, const cnn_file_role *out,
                      size_t nout, cnn_error *err);

/* Only the "not a regular file" rule, for one output path. */
int cnn_output_check(const char *path, cnn_error *err);

/* Convenience: writes `len` bytes atomically to `path`. */
int cnn_write_file_atomic(const char *path, const void *data, size_t len, cnn_error *err);

#endif
