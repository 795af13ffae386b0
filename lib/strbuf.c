/* The library's one growable string and its one JSON string escaper
 * (include/cnn/strbuf.h). */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `more` bytes and the NUL; 0, or -1 (and oom set) when it cannot grow. */
static int reserve(cnn_strbuf *b, size_t more)
{
    if (b->oom) return -1;
    if (more > (size_t)-1 / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    if (b->len + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void cnn_strbuf_putn(cnn_strbuf *b, const char *s, size_t n)
{
    if (reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void cnn_strbuf_puts(cnn_strbuf *b, const char *s)
{
    cnn_strbuf_putn(b, s, strlen(s));
}

void cnn_strbuf_putc(cnn_strbuf *b, char c)
{
    cnn_strbuf_putn(b, &c, 1);
}

void cnn_strbuf_printf(cnn_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cnn_strbuf_repeat(cnn_strbuf *b, const char *s, int count)
{
    for (int i = 0; i < count; i++) cnn_strbuf_puts(b, s);
}

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 if the bytes
 * there are not one (a stray continuation byte, an overlong form, a surrogate,
 * a sequence cut short). */
static int utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    int n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!n) return 0;
    uint32_t cp = c & (0x7fu >> n);
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

void cnn_strbuf_json_string(cnn_strbuf *b, const char *s)
{
    cnn_strbuf_putc(b, '"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': cnn_strbuf_puts(b, "\\\""); break;
        case '\\': cnn_strbuf_puts(b, "\\\\"); break;
        case '\b': cnn_strbuf_puts(b, "\\b"); break;
        case '\f': cnn_strbuf_puts(b, "\\f"); break;
        case '\n': cnn_strbuf_puts(b, "\\n"); break;
        case '\r': cnn_strbuf_puts(b, "\\r"); break;
        case '\t': cnn_strbuf_puts(b, "\\t"); break;
        default:
            if (*c < 0x20) {
                cnn_strbuf_printf(b, "\\u%04x", *c);
            } else if (*c < 0x80) {
                cnn_strbuf_putc(b, (char)*c);
            } else {
                /* File names are bytes: one that is not UTF-8 becomes U+FFFD (as
                 * jq and from_utf8_lossy do), so the line stays valid JSON. */
                int n = utf8_seq(c);
                if (n) {
                    for (int k = 0; k < n; k++) cnn_strbuf_putc(b, (char)c[k]);
                    c += n - 1;
                } else {
                    cnn_strbuf_puts(b, "\\ufffd");
                }
            }
        }
    }
    cnn_strbuf_putc(b, '"');
}

/* The one text escaper; backslash: whether a backslash is escaped too. */
static void escape_text(cnn_strbuf *b, const char *s, int backslash)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '\\': cnn_strbuf_puts(b, backslash ? "\\\\" : "\\"); break;
        case '\t': cnn_strbuf_puts(b, "\\t"); break;
        case '\n': cnn_strbuf_puts(b, "\\n"); break;
        case '\r': cnn_strbuf_puts(b, "\\r"); break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                cnn_strbuf_printf(b, "\\x%02x", *c);
            } else if (*c < 0x80) {
                cnn_strbuf_putc(b, (char)*c);
            } else {
                int n = utf8_seq(c);
                if (n == 2 && c[0] == 0xc2 && c[1] < 0xa0) { /* C1: U+0080..U+009F */
                    cnn_strbuf_printf(b, "\\u%04x", c[1]);
                    c++;
                } else if (n) {
                    cnn_strbuf_putn(b, (const char *)c, (size_t)n);
                    c += n - 1;
                } else {
                    cnn_strbuf_printf(b, "\\x%02x", *c);
                }
            }
        }
    }
}

void cnn_strbuf_text(cnn_strbuf *b, const char *s) { escape_text(b, s, 1); }

void cnn_strbuf_message(cnn_strbuf *b, const char *s) { escape_text(b, s, 0); }

char *cnn_strbuf_take(cnn_strbuf *b)
{
    char *s = b->oom ? NULL : b->s;
    if (!s) free(b->s);
    *b = (cnn_strbuf){0};
    return s;
}

void cnn_strbuf_free(cnn_strbuf *b)
{
    free(b->s);
    *b = (cnn_strbuf){0};
}
