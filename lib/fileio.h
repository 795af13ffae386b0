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

/* Reads a whole file ("-" is not special) into a NUL-terminated malloc'd buffer.
 * Refuses files larger than max_bytes with a message naming the limit.
 * On success *buf is owned by the caller (free()). */
int cnn_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, cnn_error *err);

/* Reads all of a stream (e.g. stdin) the same way; `name` is used in messages. */
int cnn_read_stream(FILE *fp, const char *name, size_t max_bytes, char **buf, size_t *len,
                    cnn_error *err);

typedef struct cnn_atomic_file {
    FILE *fp;        /* write here between open and commit */
    char *path;      /* destination */
    char *tmp_path;  /* temporary in the same folder */
} cnn_atomic_file;

/* Creates the temporary file for `path`.  Fails (with the reason) when the folder
 * is missing or not writable. */
int cnn_atomic_open(cnn_atomic_file *af, const char *path, cnn_error *err);

/* Flushes, fsyncs, closes and renames into place; checks every step.  On
 * failure the temporary is removed and the destination is left as it was.
 * Either way af is released. */
int cnn_atomic_commit(cnn_atomic_file *af, cnn_error *err);

/* Abandons the write: closes and removes the temporary.  Safe on a zeroed or
 * already released af. */
void cnn_atomic_abort(cnn_atomic_file *af);

/* Convenience: writes `len` bytes atomically to `path`. */
int cnn_write_file_atomic(const char *path, const void *data, size_t len, cnn_error *err);

#endif
