/* Inside libcnn: converting records, and sets whose images are read from
 * their file at each pass (cnn_dataset_load_streamed; lib/dataset.c). */
#ifndef CNN_DATASET_INTERNAL_H
#define CNN_DATASET_INTERNAL_H

#include "dataset.h"

/* Record i of `images` (d's images, or a batch of them read from d's file)
 * as floats (C, H, W) into dst, as cnn_dataset_batch converts it. */
void cnn_dataset_record_nchw(const cnn_dataset *d, const cnn_idx *images, size_t i, float *dst);

/* Reads and checks the images file at path once (header through `check`, then
 * every byte), and makes d a streamed set: d->images the header, d->stream
 * the file's identity and CRC-32.  The messages are cnn_idx_load_checked's. */
int cnn_dataset_stream_attach(cnn_dataset *d, const char *path, size_t max_bytes,
                              cnn_idx_check_fn check, void *ctx, cnn_error *err);

/* A pass over a streamed set: begin opens the file again (an error when it
 * changed) and skips the records before `first`; next converts the next n
 * records into x as cnn_dataset_batch would; end (ok != 0) reads the rest and
 * compares the CRC-32 with the first pass's (an error naming the file when
 * they differ), or (ok == 0) just closes the file. */
int cnn_dataset_stream_begin(const cnn_dataset *d, size_t first, cnn_error *err);
int cnn_dataset_stream_next(const cnn_dataset *d, int n, float *x, cnn_error *err);
int cnn_dataset_stream_end(const cnn_dataset *d, int ok, cnn_error *err);

void cnn_dataset_stream_free(struct cnn_dataset_stream *s);

#endif
