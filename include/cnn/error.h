/* Error reporting for libcnn.
 *
 * Library functions that can fail return 0 on success and -1 on failure, and
 * fill a caller-provided cnn_error with one line saying where (file, field path
 * or byte offset) and what (expected vs found).  A message holds no control
 * characters: names in it (file names, names read from files) are escaped as
 * cnn_strbuf_message escapes them (\n, \t, \xHH; strbuf.h), so it stays one
 * line and cannot drive a terminal.  The library never prints and
 * never exits; the binaries decide what to show.  Every `cnn_error *` argument
 * may be NULL when the caller does not want the message. */
#ifndef CNN_ERROR_H
#define CNN_ERROR_H

#include <stdarg.h>
#include "api.h"

CNN_BEGIN_DECLS

#define CNN_ERROR_MAX 1024

typedef struct cnn_error {
    char msg[CNN_ERROR_MAX];
} cnn_error;

/* Formats a message into err (if non-NULL).  Always returns -1, so callers can
 * write `return cnn_errorf(err, "...")`. */
CNN_API int cnn_errorf(cnn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
CNN_API int cnn_verrorf(cnn_error *err, const char *fmt, va_list ap);

/* Prepends "prefix: " to the message already in err (e.g. a file name). */
CNN_API int cnn_error_prefix(cnn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

CNN_END_DECLS

#endif
