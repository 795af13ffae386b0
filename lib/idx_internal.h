/* An IDX file read front to back, a few records at a time (lib/idx.c): for
 * a set read again at every pass instead of kept in memory.  Not public.
 *
 * The checks are cnn_idx_load_checked's, with its messages: the header before
 * anything else, then truncation, trailing bytes, a gzip stream without its
 * trailer and (cnn_idx_stream_finish) NaN or infinity in float data. */
#ifndef CNN_IDX_INTERNAL_H
#define CNN_IDX_INTERNAL_H

#include <stdint.h>
#include <sys/stat.h>

#include "idx.h"

typedef struct cnn_idx_stream cnn_idx_stream;

/* Opens path and reads and checks its header (then `check`, when non-NULL),
 * leaving the stream at the first record.  *out is freed with
 * cnn_idx_stream_close. */
int cnn_idx_stream_open(const char *path, size_t max_bytes, cnn_idx_check_fn check, void *ctx,
                        cnn_idx_stream **out, cnn_error *err);

/* The header (data NULL), and the file as fstat saw it when opened. */
const cnn_idx *cnn_idx_stream_header(const cnn_idx_stream *s);
const struct stat *cnn_idx_stream_stat(const cnn_idx_stream *s);

/* The next n records into dst (n * record * elem_size bytes, host byte order),
 * or read and dropped when dst is NULL.  Asking for more records than are
 * left is an error. */
int cnn_idx_stream_read(cnn_idx_stream *s, void *dst, size_t n, cnn_error *err);

/* Reads (and drops) the records left, then makes the end checks; *crc (when
 * non-NULL) receives the CRC-32 (zlib's crc32) of every byte of the file's
 * (decompressed) IDX data, header included. */
int cnn_idx_stream_finish(cnn_idx_stream *s, uint32_t *crc, cnn_error *err);

/* Closes the file.  NULL is fine. */
void cnn_idx_stream_close(cnn_idx_stream *s);

#endif
