/* A growable string (in the spirit of sds): appends never fail outright; on
 * out-of-memory `oom` is set, later appends do nothing, and cnn_strbuf_take
 * gives NULL.  The one string buffer and the one JSON string escaper of the
 * library.
 *
 * Ownership: zero-initialize (cnn_strbuf b = {0}); the text is b.s (always
 * NUL-terminated once anything was appended); release it with
 * cnn_strbuf_free, or take it over with cnn_strbuf_take and free() it. */
#ifndef CNN_STRBUF_H
#define CNN_STRBUF_H

#include <stddef.h>

#include "api.h"

CNN_BEGIN_DECLS

typedef struct cnn_strbuf {
    char *s;
    size_t len, cap;
    int oom;
} cnn_strbuf;

CNN_API void cnn_strbuf_putn(cnn_strbuf *b, const char *s, size_t n);
CNN_API void cnn_strbuf_puts(cnn_strbuf *b, const char *s);
CNN_API void cnn_strbuf_putc(cnn_strbuf *b, char c);
CNN_API void cnn_strbuf_printf(cnn_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s appended count times. */
CNN_API void cnn_strbuf_repeat(cnn_strbuf *b, const char *s, int count);

/* s as a quoted JSON string, escaped as serde_json (the safetensors reference
 * writer) escapes: \" \\ \b \f \n \r \t, other control characters as \u00XX,
 * valid UTF-8 as it is.  A byte that is not part of valid UTF-8 (file names are
 * bytes) becomes \ufffd, so the output is always valid JSON. */
CNN_API void cnn_strbuf_json_string(cnn_strbuf *b, const char *s);

/* s as text output and messages show a name (a file name, a class name), so
 * that it can neither end a line or a TSV field nor drive the terminal: \\ \t
 * \n \r for a backslash, tab, newline and carriage return, \xHH for another
 * control character (C0, DEL) and for a byte that is not part of valid UTF-8,
 * \u0080 to \u009f for the C1 controls; everything else as it is (valid
 * UTF-8 included).  Read back, \ always starts an escape. */
CNN_API void cnn_strbuf_text(cnn_strbuf *b, const char *s);

/* The same for a message for people (an error on stderr), with backslashes
 * left as they are: escaping it again changes nothing, so a message that
 * already shows a value escaped (\x1b, \u0000) reads the same. */
CNN_API void cnn_strbuf_message(cnn_strbuf *b, const char *s);

/* The text, now the caller's (free() it); NULL after an out-of-memory or when
 * nothing was appended.  The buffer is left empty. */
CNN_API char *cnn_strbuf_take(cnn_strbuf *b);

/* Frees the text and empties the buffer. */
CNN_API void cnn_strbuf_free(cnn_strbuf *b);

CNN_END_DECLS

#endif
