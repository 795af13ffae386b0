/* The few HDF5 reads the Keras importer needs, through the HDF5 C library
 * (Debian's libhdf5-dev), with every size checked before anything of that size
 * is read.  Only cnn-import links this (HDF5 stays out of libcnn).
 *
 * Every function returns 0 on success, -1 with err filled (the message starts
 * with `file`, the name used for messages). */
#ifndef CNN_IMPORT_H5_H
#define CNN_IMPORT_H5_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef int64_t h5_id; /* an hid_t */

/* Opens a file on disk, or an HDF5 file image in memory (kept by the caller
 * until h5_close), read-only. */
int h5_open(const char *path, h5_id *file, cnn_error *err);
int h5_open_image(const void *buf, size_t len, const char *file, h5_id *out, cnn_error *err);
void h5_close(h5_id file);

/* Opens the group at path (relative to loc; "." for loc itself). */
int h5_group_open(h5_id loc, const char *path, h5_id *out);
void h5_group_close(h5_id g);

/* 1 when the object at `path` (relative to loc, "/"-separated) exists. */
int h5_exists(h5_id loc, const char *path);

/* 1 when loc has the attribute `name` or its chunked form (name0, name1, ...,
 * as Keras writes lists over 64 KiB). */
int h5_has_attr(h5_id loc, const char *name);

/* A scalar string attribute (fixed or variable length), NUL-terminated,
 * malloc'd into *out; at most max bytes. */
int h5_attr_string(h5_id loc, const char *name, const char *file, size_t max, char **out,
                   cnn_error *err);

/* A 1-D list of strings (fixed or variable length), also in Keras' chunked
 * form; an empty list may be stored as any empty array.  *out is a malloc'd
 * array of *n malloc'd strings (free with h5_free_strings). */
int h5_attr_strings(h5_id loc, const char *name, const char *file, char ***out, int *n,
                    cnn_error *err);
void h5_free_strings(char **s, int n);

/* Reads the floating-point dataset at `path`, which must have exactly the
 * given shape, as float32 into out (converting from float64 or float16 as
 * HDF5 does).  `what` names it in messages. */
int h5_read_floats(h5_id loc, const char *path, int rank, const int *dims, float *out,
                   const char *file, const char *what, cnn_error *err);

/* Number of links in the group at path (-1 if it is not a group). */
long h5_group_size(h5_id loc, const char *path);

#endif
