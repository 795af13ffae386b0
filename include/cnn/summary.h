/* Model summaries: the text Keras' model.summary() prints (Keras 3's rich
 * table or tf.keras 2.x's ruled layout), a JSON form for scripts, and two
 * additions: multiply-accumulates per layer, and what each convolution would
 * cost as a fully connected layer.
 *
 * The summary is built in memory (a malloc'd string the caller frees), so a
 * tool prints all of it or nothing. */
#ifndef CNN_SUMMARY_H
#define CNN_SUMMARY_H

#include <stddef.h>

#include "model.h"
#include "api.h"

CNN_BEGIN_DECLS

enum cnn_summary_layout {
    CNN_SUMMARY_KERAS3, /* Keras 3: box-drawing table, "Param #" with separators */
    CNN_SUMMARY_KERAS2, /* tf.keras 2.x: 65 columns, "_" and "=" rules */
    CNN_SUMMARY_JSON,   /* one JSON object on one line */
};

typedef struct cnn_summary_opts {
    int layout;        /* enum cnn_summary_layout */
    int line_length;   /* Keras 3 table width; 0 means 76 (what Keras prints when piped) */
    int flops;         /* add MACs (multiply-accumulates) and FLOPs (2 x MACs) per image */
    int compare_dense; /* add, per Conv2D, the parameters of an equivalent Dense layer */
} cnn_summary_opts;

/* Keras 3's table width for a terminal `columns` wide: min(88, columns - 4),
 * as summary_utils.py computes it from shutil.get_terminal_size(); columns <= 0
 * (not a terminal) gives 76, from shutil's fallback of 80. */
CNN_API int cnn_summary_line_length(int columns);

/* The summary of m as a NUL-terminated malloc'd string; NULL when out of
 * memory.  opts may be NULL (Keras 3 layout, 76 columns). */
CNN_API char *cnn_summary(const cnn_model *m, const cnn_summary_opts *opts);

/* Parameters of a Dense layer mapping L's input to its output, both flattened
 * (in*out + out): what a Conv2D saves by sharing weights. */
CNN_API double cnn_summary_dense_equivalent(const cnn_layer *L);

CNN_END_DECLS

#endif
