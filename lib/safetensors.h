/* safetensors files: reading (F32, F64, F16, BF16 -> float32) and writing (F32).
 *
 * Format: an 8-byte little-endian u64 header length N, N bytes of JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * then the data buffer; offsets are relative to the buffer's start and the data
 * is little-endian, row-major.
 *
 * The reader trusts nothing: the header length against the file and a 100 MB
 * limit, the JSON, every entry's fields and types, each tensor's byte range
 * against its dtype and shape (overflow-checked) and against the buffer, and,
 * as the reference implementation requires, the ranges together covering the
 * buffer exactly with no overlap and no hole.  Duplicate names are refused and
 * metadata values must be strings.
 *
 * The writer does what the reference Python/Rust library does for float32
 * tensors: compact JSON with "__metadata__" first, tensors laid out in the
 * buffer and listed in the header in name order, the header padded with spaces
 * to a multiple of 8 bytes.  It writes atomically (see fileio.h).
 *
 * Ownership: cnn_st_load* returns a cnn_st_file the caller frees with
 * cnn_st_free (NULL is fine); tensors, names, data and metadata strings returned
 * by the accessors belong to it and live until it is freed. */
#ifndef CNN_SAFETENSORS_H
#define CNN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define CNN_ST_MAX_RANK 8

/* Largest JSON header accepted, as in the reference implementation. */
#define CNN_ST_MAX_HEADER ((size_t)100 * 1000 * 1000)

typedef struct cnn_st_tensor {
    const char *name;
    int rank;                        /* 0 (a scalar) .. CNN_ST_MAX_RANK */
    int64_t shape[CNN_ST_MAX_RANK];
    const float *data;               /* count float32 values, host order; NULL when
                                      * only the header was read */
    size_t count;                    /* product of shape (1 for a scalar) */
} cnn_st_tensor;

typedef struct cnn_st_file cnn_st_file;

/* Writes n float32 tensors and nmeta metadata pairs to path, atomically.  The
 * tensors' count must equal the product of their shape; names must be distinct
 * and not "__metadata__"; metadata keys must be distinct.  Borrowed arguments
 * are not kept. */
int cnn_st_write(const char *path, const cnn_st_tensor *tensors, int n,
                 const char *const *meta_keys, const char *const *meta_values, int nmeta,
                 cnn_error *err);

/* Reads a safetensors file of at most max_bytes bytes. */
int cnn_st_load(const char *path, size_t max_bytes, cnn_st_file **out, cnn_error *err);

/* The same from memory; `name` is used in messages.  buf is not kept. */
int cnn_st_load_mem(const void *buf, size_t len, const char *name, cnn_st_file **out,
                    cnn_error *err);

/* The same from an open stream, `name` standing for the file in messages;
 * size: the regular file's size, or -1 for a stream of unknown length (a
 * pipe).  The first plen (<= 9) bytes of the file were already read from fp
 * into prefix.  A stream whose first 9 bytes cannot begin a safetensors file is
 * refused after those 9 bytes.
 * header_only: only the 8-byte length and the JSON header are read and checked
 * (tensor entries, byte ranges and coverage against the data's length, which
 * is size - 8 - the header's length; the data of a stream of unknown size is
 * read to its end, bounded by max_bytes, but not kept; max_bytes does not
 * apply when size is known):
 * the tensors have names, shapes and counts, and data NULL.  The values are
 * then neither read nor checked (non-finite values go unnoticed). */
int cnn_st_load_fp(FILE *fp, const char *name, long long size, size_t max_bytes,
                   const void *prefix, size_t plen, int header_only, cnn_st_file **out,
                   cnn_error *err);

/* cnn_st_load with header_only: the cost is that of the header, whatever the
 * file's size.  max_bytes bounds only a path that is not a regular file (a
 * FIFO, a device), whose data is read to its end. */
int cnn_st_load_header(const char *path, size_t max_bytes, cnn_st_file **out, cnn_error *err);

/* Tensor t's values (t from f, a header-only load of the regular file open as
 * fd) read from the file into dst (t->count floats, converted to float32 in
 * host order) and checked as a full load checks them: a non-finite value, a
 * read error or a file that ends before the tensor's bytes (it shrank since
 * the header was read) fail, named.  A float32 tensor is read straight into
 * dst; fd's file position is not used. */
int cnn_st_read_values(const cnn_st_file *f, int fd, const char *fname, const cnn_st_tensor *t,
                       float *dst, cnn_error *err);

/* Number of tensors, in header order. */
int cnn_st_count(const cnn_st_file *f);

/* Tensor i (0 <= i < count), or NULL when out of range. */
const cnn_st_tensor *cnn_st_tensor_at(const cnn_st_file *f, int i);

/* The tensor with this name, or NULL. */
const cnn_st_tensor *cnn_st_find(const cnn_st_file *f, const char *name);

/* The dtype the tensor had in the file ("F32", "F64", "F16", "BF16"), or NULL. */
const char *cnn_st_dtype(const cnn_st_file *f, const char *name);

/* Number of metadata pairs, and pair i (key and value into *key / *value;
 * returns -1 when i is out of range). */
int cnn_st_meta_count(const cnn_st_file *f);
int cnn_st_meta_at(const cnn_st_file *f, int i, const char **key, const char **value);

/* The metadata value for key, or NULL. */
const char *cnn_st_meta(const cnn_st_file *f, const char *key);

/* Frees everything the file owns.  NULL is fine. */
void cnn_st_free(cnn_st_file *f);

#endif
