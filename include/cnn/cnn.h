/* libcnn: convolutional neural networks from JSON model descriptions.
 *
 * The umbrella header: `#include <cnn/cnn.h>` and link with
 * `pkg-config --libs cnn` (add --static for libcnn.a).  Everything a program
 * uses is declared under include/cnn/ and reached from here; the
 * layer-extension API (lib/layers/layer.h), file I/O and safetensors
 * internals are not public.
 *
 * Conventions, once for the whole library:
 * - Functions that can fail return 0 on success and -1 on failure and fill a
 *   caller-provided cnn_error (error.h) whose message names the file, field or
 *   byte offset and says what was expected and what was found.  The library
 *   never prints, never exits and never aborts.
 * - Ownership: cnn_X_new / cnn_X_load return an object the caller owns and
 *   releases with cnn_X_free, which accepts NULL.  Pointer arguments marked
 *   const are borrowed and not kept unless the function says so.
 * - Tensors are float32, NCHW; parameters use PyTorch's layout (conv kernels
 *   (out_ch, in_ch, kh, kw), dense kernels (units, inputs)).
 * - Randomness comes only from an explicit cnn_rng (rng.h). */
#ifndef CNN_H
#define CNN_H

#include "api.h"
#include "version.h"

#include "checkpoint.h"
#include "dataset.h"
#include "error.h"
#include "idx.h"
#include "image.h"
#include "infer.h"
#include "layer_desc.h"
#include "load_limits.h"
#include "model.h"
#include "net.h"
#include "rng.h"
#include "strbuf.h"
#include "summary.h"
#include "train.h"
#include "visualize.h"
#include "weights.h"

#endif
