/* Class names in weights files: the metadata key "cnn.class_names" holds the
 * names one per line, in class order (the format of --class-names files). */
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "safetensors.h"
#include "strbuf.h"
#include "weights.h"

char *cnn_class_names_join(const char *const *names, int n)
{
    cnn_strbuf b = {0};
    for (int i = 0; i < n; i++) {
        cnn_strbuf_puts(&b, names[i]);
        if (i + 1 < n) cnn_strbuf_putc(&b, '\n');
    }
    return cnn_strbuf_take(&b);
}

int cnn_weights_class_names(const cnn_weights *w, int nclasses, char ***names, cnn_error *err)
{
    *names = NULL;
    const char *v = cnn_st_meta(w->st, "cnn.class_names");
    if (!v) return 0;
    size_t len = strlen(v);
    int lines = 1;
    for (const char *p = v; *p; p++) lines += *p == '\n';
    if (lines != nclasses)
        return cnn_errorf(err, "%s: metadata cnn.class_names has %d names for %d classes",
                          w->path, lines, nclasses);
    /* One block, as cnn_class_names_load returns: the pointers, then the text. */
    char **out = malloc(sizeof *out * ((size_t)nclasses + 1) + len + 1);
    if (!out) return cnn_errorf(err, "%s: out of memory", w->path);
    char *s = (char *)(out + nclasses + 1);
    memcpy(s, v, len + 1);
    for (int i = 0; i < nclasses; i++) {
        out[i] = s;
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0', s = nl + 1;
        if (!out[i][0]) {
            free(out);
            return cnn_errorf(err, "%s: metadata cnn.class_names: class %d has an empty name",
                              w->path, i);
        }
        for (const unsigned char *p = (const unsigned char *)out[i]; *p; p++)
            if (*p < 0x20 || *p == 0x7f) {
                int c = *p;
                free(out);
                return cnn_errorf(err, "%s: metadata cnn.class_names: the name of class %d "
                                       "holds a control character (byte 0x%02x)", w->path, i, c);
            }
    }
    out[nclasses] = NULL;
    *names = out;
    return 0;
}
