/* The string buffer (lib/strbuf.c): growth, formatting, the JSON escaper the
 * weights headers, predictions and summaries share, and ownership. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "strbuf.h"

static void appends_grow_past_the_first_block(void)
{
    cnn_strbuf b = {0};
    for (int i = 0; i < 1000; i++) cnn_strbuf_printf(&b, "%03d,", i % 1000);
    CHECK_INT_EQ(4000, b.len);
    CHECK_INT_EQ(4000, strlen(b.s));
    CHECK(strncmp(b.s, "000,001,002,", 12) == 0);
    CHECK_STR_EQ("999,", b.s + 3996);
    cnn_strbuf_repeat(&b, "ab", 3);
    cnn_strbuf_putc(&b, '!');
    cnn_strbuf_putn(&b, "xyz", 2);
    CHECK_STR_EQ("999,ababab!xy", b.s + 3996);
    cnn_strbuf_free(&b);
    CHECK(b.s == NULL && b.len == 0);
}

/* serde_json's escapes, written out by hand: the short forms for the seven
 * it has, \u00XX for the other control characters, UTF-8 and DEL as they are. */
static void json_strings_are_escaped_as_serde_json(void)
{
    cnn_strbuf b = {0};
    cnn_strbuf_json_string(&b, "a\"b\\c\bd\fe\nf\rg\th\x01i\x1fj\x7f\xc3\xa9");
    CHECK_STR_EQ("\"a\\\"b\\\\c\\bd\\fe\\nf\\rg\\th\\u0001i\\u001fj\x7f\xc3\xa9\"", b.s);
    char *s = cnn_strbuf_take(&b);
    CHECK(b.s == NULL);
    free(s);
    cnn_strbuf_json_string(&b, "");
    CHECK_STR_EQ("\"\"", b.s);
    cnn_strbuf_free(&b);
}

/* The text escaper, written out by hand: \\ \t \n \r, \xHH for the other C0
 * controls, DEL and bytes that are not UTF-8 (a stray continuation byte, a
 * sequence cut short, an overlong form), \u0080-\u009f for C1; UTF-8 and
 * quotes as they are. */
static void text_escapes_what_could_break_a_line_or_a_terminal(void)
{
    cnn_strbuf b = {0};
    cnn_strbuf_text(&b, "a\\b\tc\nd\re\x1b[31mf\x01g\x7fh\"i\xc3\xa9j\xe2\x82\xac");
    CHECK_STR_EQ("a\\\\b\\tc\\nd\\re\\x1b[31mf\\x01g\\x7fh\"i\xc3\xa9j\xe2\x82\xac", b.s);
    cnn_strbuf_free(&b);
    cnn_strbuf_text(&b, "\xff\x80x\xc3\xc0\xafy\xc2\x9b\xc2\x80\xc2\x9f\xc2\xa0");
    CHECK_STR_EQ("\\xff\\x80x\\xc3\\xc0\\xafy\\u009b\\u0080\\u009f\xc2\xa0", b.s);
    cnn_strbuf_free(&b);
    cnn_strbuf_text(&b, "plain name.png");
    CHECK_STR_EQ("plain name.png", b.s);
    cnn_strbuf_free(&b);
}

/* Messages: the same escapes but a backslash stays one, so escaping twice
 * changes nothing (a message may already show a value escaped). */
static void message_escapes_controls_and_keeps_backslashes(void)
{
    cnn_strbuf b = {0}, c = {0};
    cnn_strbuf_message(&b, "C:\\x\n\x1b[2Jy\xff\\u0000");
    CHECK_STR_EQ("C:\\x\\n\\x1b[2Jy\\xff\\u0000", b.s);
    cnn_strbuf_message(&c, b.s);
    CHECK_STR_EQ(b.s, c.s);
    cnn_strbuf_free(&b);
    cnn_strbuf_free(&c);
}

static void take_gives_null_after_out_of_memory(void)
{
    cnn_strbuf b = {0};
    cnn_strbuf_puts(&b, "kept");
    b.oom = 1; /* as after a failed realloc */
    cnn_strbuf_puts(&b, " dropped");
    CHECK_STR_EQ("kept", b.s);
    CHECK(cnn_strbuf_take(&b) == NULL);
    CHECK(b.s == NULL && !b.oom);
    CHECK(cnn_strbuf_take(&b) == NULL); /* nothing appended */
}

int main(void)
{
    RUN(appends_grow_past_the_first_block);
    RUN(json_strings_are_escaped_as_serde_json);
    RUN(text_escapes_what_could_break_a_line_or_a_terminal);
    RUN(message_escapes_controls_and_keeps_backslashes);
    RUN(take_gives_null_after_out_of_memory);
    return check_report();
}
