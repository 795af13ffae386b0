/* IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
 *
 * An IDX file is a 4-byte magic (0, 0, type code, rank), then `rank` big-endian
 * u32 dimensions, then the elements in row-major order, big-endian.  Gzip is
 * recognised by its magic bytes (1f 8b), never by the file name.
 *
 * Loading checks the whole header before allocating anything: the magic, the
 * type code, the rank, that every dimension is at least 1, that the size does
 * not overflow and is within the caller's limit, and (for plain files) that the
 * file holds exactly that many bytes.  The elements keep their stored type in
 * memory (u8 images stay one byte per pixel), converted to host byte order.
 * Float data (f32, f64) holding NaN or infinity is refused, naming the record.
 *
 * Ownership: cnn_idx_load* returns a cnn_idx the caller frees with
 * cnn_idx_free (which accepts NULL); everything it points to belongs to it. */
#ifndef CNN_IDX_H
#define CNN_IDX_H

#include <stddef.h>

#include "error.h"
#include "api.h"
#include "load_limits.h"

CNN_BEGIN_DECLS

/* IDX element type codes (the third magic byte). */
enum {
    CNN_IDX_U8 = 0x08,
    CNN_IDX_I8 = 0x09,
    CNN_IDX_I16 = 0x0B,
    CNN_IDX_I32 = 0x0C,
    CNN_IDX_F32 = 0x0D,
    CNN_IDX_F64 = 0x0E,
};

#define CNN_IDX_MAX_RANK 8

/* A sensible default for max_bytes: 1 GiB of decoded element data. */
#define CNN_IDX_MAX_BYTES CNN_DEFAULT_MAX_FILE_BYTES

typedef struct cnn_idx {
    char *name;                     /* file name used in messages */
    int type;                       /* CNN_IDX_U8 ... CNN_IDX_F64 */
    int rank;                       /* 1 .. CNN_IDX_MAX_RANK */
    size_t dims[CNN_IDX_MAX_RANK];  /* dims[0] is the number of records */
    size_t count;                   /* dims[0] */
    size_t record;                  /* elements per record: dims[1] * ... * dims[rank-1]
                                       (1 for rank 1) */
    size_t elem_size;               /* bytes per element: 1, 2, 4 or 8 */
    void *data;                     /* count * record elements, host byte order */
} cnn_idx;

/* Loads an IDX file, plain or gzip.  max_bytes limits the decoded element data
 * (count * record * elem_size); a header claiming more is refused before any
 * allocation.  On success *out is owned by the caller; on failure *out is NULL
 * and err names the file and what is wrong. */
CNN_API int cnn_idx_load(const char *path, size_t max_bytes, cnn_idx **out, cnn_error *err);

/* A check of the header (type, rank, dims, count; data is NULL) made before the
 * data is read or decompressed; nonzero (with err set) stops the load. */
typedef int (*cnn_idx_check_fn)(const cnn_idx *header, void *ctx, cnn_error *err);

/* cnn_idx_load with the caller's header check (e.g. the shape against a model). */
int cnn_idx_load_checked(const char *path, size_t max_bytes, cnn_idx_check_fn check, void *ctx,
                         cnn_idx **out, cnn_error *err);

/* Only the header: *out has data NULL (free with cnn_idx_free).  Nothing past the
 * header is read, so a gzip file is decompressed only that far. */
int cnn_idx_read_header(const char *path, size_t max_bytes, cnn_idx **out, cnn_error *err);

/* The same from a memory buffer (plain or gzip); `name` is used in messages. */
CNN_API int cnn_idx_load_mem(const void *buf, size_t len, const char *name, size_t max_bytes,
                     cnn_idx **out, cnn_error *err);

/* Frees x and its data.  NULL is fine. */
CNN_API void cnn_idx_free(cnn_idx *x);

/* Writes record i (0 <= i < count) as x->record floats into dst.  u8 values are
 * scaled to [0, 1] (v / 255); every other type is converted as is.  -1 (nothing
 * written) when i is not a record. */
CNN_API int cnn_idx_record_float(const cnn_idx *x, size_t i, float *dst);

/* Reads element i of a file with one element per record (a label file) as an
 * integer.  Fails (naming the file and the index) when i is out of range, the
 * records have more than one element, or a float value is not integral. */
CNN_API int cnn_idx_label(const cnn_idx *x, size_t i, long *out, cnn_error *err);

/* "u8", "i8", "i16", "i32", "f32", "f64", or "unknown". */
CNN_API const char *cnn_idx_type_name(int type);

/* Bytes per element of a type code, 0 for an unknown code. */
CNN_API size_t cnn_idx_type_size(int type);

/* Writes an IDX file atomically (see fileio.h).  data holds dims[0] * ... *
 * dims[rank-1] elements of `type` in host byte order.  gzip != 0 compresses with
 * zlib at level 9 and a fixed header (mtime 0), so equal input gives equal bytes. */
CNN_API int cnn_idx_write(const char *path, int type, int rank, const size_t *dims, const void *data,
                  int gzip, cnn_error *err);

CNN_END_DECLS

#endif
