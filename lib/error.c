/* Error messages: formatting and prefixing (see error.h). */
#include "error.h"

#include <stdio.h>
#include <string.h>

int cnn_verrorf(cnn_error *err, const char *fmt, va_list ap)
{
    if (err) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return -1;
}

int cnn_errorf(cnn_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cnn_verrorf(err, fmt, ap);
    va_end(ap);
    return -1;
}

int cnn_error_prefix(cnn_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[CNN_ERROR_MAX], old[CNN_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return -1;
}
