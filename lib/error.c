/* Error messages: formatting and prefixing (see error.h). */
#include "error.h"

#include <stdio.h>
#include <string.h>

#include "strbuf.h"

/* Names in a message (file names, names read from files) are shown escaped
 * (cnn_strbuf_message): a message is one line and drives no terminal. */
static void escape_msg(cnn_error *err)
{
    const unsigned char *p = (const unsigned char *)err->msg;
    while (*p && *p >= 0x20 && *p < 0x7f) p++;
    if (!*p) return; /* plain ASCII: nothing to do */
    cnn_strbuf b = {0};
    cnn_strbuf_message(&b, err->msg);
    if (b.s && !b.oom) snprintf(err->msg, sizeof err->msg, "%s", b.s);
    cnn_strbuf_free(&b);
}

int cnn_verrorf(cnn_error *err, const char *fmt, va_list ap)
{
    if (!err) return -1;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    escape_msg(err);
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
    escape_msg(err);
    return -1;
}
