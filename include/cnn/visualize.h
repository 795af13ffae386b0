/* What a CNN learns: activation maximization (the input image that maximizes a
 * filter, a neuron or a class logit, found by gradient ascent on the input with
 * the weights fixed), a network's first-layer weights and one image's feature
 * maps, and the composition of such tiles into one picture.
 *
 * Units: a layer with a spatial output (C, H, W) has C units, one per channel
 * (filter); a flat layer has one unit per neuron.  A unit's objective is taken
 * from the layer's output after its activation, or before it on request; a
 * softmax is always stripped (the objective is the logit), because a softmax
 * probability can be raised by pushing the other classes down.
 *
 * Images are float32 (C, H, W) like the network's input; tiles are float32
 * (c, h, w) with c = 1 (grayscale) or 3 (RGB).
 *
 * Ownership: functions that return a buffer through a `**` argument malloc it;
 * the caller frees it with free().  Nets and options are borrowed. */
#ifndef CNN_VISUALIZE_H
#define CNN_VISUALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "net.h"
#include "api.h"

CNN_BEGIN_DECLS

/* ---- objectives ------------------------------------------------------------ */

/* How a channel of a spatial layer becomes one number. */
enum cnn_vis_reduce {
    CNN_VIS_MEAN,   /* the mean of the channel's feature map */
    CNN_VIS_SUM,    /* the sum (the lecture's a^k = sum_ij a^k_ij) */
    CNN_VIS_CENTER, /* the single unit at row H/2, column W/2 */
};
extern CNN_API const char *const cnn_vis_reduce_names[]; /* "mean", "sum", "center", NULL */

typedef struct cnn_vis_objective {
    int layer;  /* index into the model's layers */
    int reduce; /* enum cnn_vis_reduce; ignored for flat layers */
    int pre;    /* 1: before the layer's activation (forced for softmax) */
} cnn_vis_objective;

/* Number of units of layer i: its output channels (spatial) or neurons (flat). */
CNN_API int cnn_vis_units(const cnn_model *m, int layer);

/* 1 when the objective reads the pre-activation: obj->pre, or a softmax layer. */
CNN_API int cnn_vis_uses_preact(const cnn_model *m, const cnn_vis_objective *obj);

/* For n images x (n, C, H, W), n <= the net's max batch, image b scored by
 * unit units[b]: runs forward (inference mode) and backward and writes the
 * objective values (n floats) to values (if non-NULL) and the gradient of each
 * image's objective with respect to that image to grad (n, C, H, W) (if
 * non-NULL).  Fails on a unit out of range, a bad layer or batch size. */
CNN_API int cnn_vis_gradient(cnn_net *net, const cnn_vis_objective *obj, const int *units, int n,
                     const float *x, float *values, float *grad, cnn_error *err);

/* ---- maximization ---------------------------------------------------------- */

enum cnn_vis_method {
    CNN_VIS_NORMALIZED, /* x += step * g / rms(g), per image */
    CNN_VIS_ADAM,       /* Adam on the pixels, learning rate = step */
};
extern CNN_API const char *const cnn_vis_method_names[]; /* "normalized", "adam", NULL */

typedef struct cnn_vis_opts {
    cnn_vis_objective obj;
    int method;       /* enum cnn_vis_method */
    int steps;        /* updates per unit */
    float step;       /* step size (normalized) or learning rate (Adam) */
    float lo, hi;     /* the input range; every pixel is clipped to it after each step */
    /* Regularizers: the ascent maximizes
     *   objective - l1 * sum|x| - l2 * sum x^2 - tv * sum((x[i,j+1]-x[i,j])^2 + (x[i+1,j]-x[i,j])^2)
     * (L1 and L2 measured from 0, the black background of MNIST-like inputs). */
    float l1, l2, tv;
    float blur;       /* Gaussian blur with this sigma in pixels (0: none) ... */
    int blur_every;   /* ... applied after every blur_every-th step */
    int jitter;       /* each step shifts the image (cyclically) by up to this many pixels */
    int restarts;     /* random starts tried before a unit is declared dead (>= 1); the
                       * first is near mid-range, the others uniform in [lo, hi] and, for
                       * an objective after a nonlinear activation, first raised along the
                       * pre-activation for max(10, steps / 4) steps to wake the unit */
    uint64_t seed;    /* unit u's randomness comes from (seed, u) alone */
    const float *start; /* NULL, or an image (C, H, W) every unit's first start is
                         * (clipped to [lo, hi]): "what the network sees in this
                         * picture"; borrowed */
} cnn_vis_opts;

/* The defaults cnn-visualize uses (see man/cnn-visualize.1 for the reasons). */
CNN_API void cnn_vis_opts_default(cnn_vis_opts *o);

/* Progress: `done` of `total` units finished. */
typedef void (*cnn_vis_progress)(void *ctx, int done, int total);

/* Finds, for each of the n units, an input in [lo, hi] that maximizes its
 * objective, in batches of up to the net's max batch.  Writes the images to
 * images (n, C, H, W), the objective of each final image (without the
 * regularizers) to values, and to dead[b] 1 when unit b's objective had a zero
 * gradient at every one of the o->restarts starts (its image is then left at
 * the last start and should be drawn as dead, not as noise).  Unit u's
 * result depends only on the net, the options and u.  progress may be NULL. */
CNN_API int cnn_vis_maximize(cnn_net *net, const cnn_vis_opts *o, const int *units, int n, float *images,
                     float *values, int *dead, cnn_vis_progress progress, void *ctx,
                     cnn_error *err);

/* ---- the other two views --------------------------------------------------- */

/* The filters of layer i drawn in input space, as tiles (n, c, h, w) in
 * *tiles: a Conv2D fed by 1 or 3 channels gives one (in_ch, kh, kw) tile per
 * filter; a Dense layer whose input is the flattened model input gives each
 * neuron's weights in the input's shape.  Other layers are an error that says
 * so. */
CNN_API int cnn_vis_layer_weights(cnn_net *net, int layer, float **tiles, int *n, int *c, int *h, int *w,
                          cnn_error *err);

/* Index of the first layer cnn_vis_layer_weights can draw, or -1. */
CNN_API int cnn_vis_first_weights_layer(const cnn_model *m);

/* Runs one image x (C, H, W) forward and copies layer i's output (after its
 * activation, or before it when pre is 1) to maps (out.c, out.h, out.w). */
CNN_API int cnn_vis_feature_maps(cnn_net *net, int layer, int pre, const float *x, float *maps,
                         cnn_error *err);

/* ---- attribution: which pixels drove a prediction --------------------------- */

/* Saliency (Simonyan et al. 2014) of one image x (C, H, W) for class *cls:
 * map (H, W) = max over channels of |d logit_cls / d x|, the logit being the
 * last layer's output (its pre-activation when that is a softmax).  *cls < 0
 * picks the predicted class (the largest output) and writes it back; a class
 * out of range is an error.  The net needs a max batch >= 1. */
CNN_API int cnn_vis_saliency(cnn_net *net, const float *x, int *cls, float *map,
                             cnn_error *err);

/* Grad-CAM (Selvaraju et al. 2017) of one image x at a spatial layer (output
 * (C, h, w)) below the last, for class *cls as above: with A the layer's output
 * after its activation, alpha_c = the spatial mean of d logit_cls / d A_c and
 * cam (h, w) = ReLU(sum_c alpha_c A_c), at the layer's resolution. */
CNN_API int cnn_vis_gradcam(cnn_net *net, int layer, const float *x, int *cls, float *cam,
                            cnn_error *err);

/* Bilinear resize of src (h, w) to dst (H, W), pixel centres aligned (source
 * coordinate (y + 0.5) h / H - 0.5, clamped at the edges), as OpenCV's resize
 * that Grad-CAM's reference code uses. */
CNN_API void cnn_vis_upsample_bilinear(const float *src, int h, int w, float *dst, int H, int W);

/* ---- image operations ------------------------------------------------------ */

/* Gaussian blur of an image (c, h, w) in place with standard deviation sigma,
 * separable, radius ceil(3 sigma), edges replicated.  tmp holds h*w floats. */
CNN_API void cnn_vis_blur(float *img, int c, int h, int w, float sigma, float *tmp);

/* Cyclic shift: dst(y, x) = src((y - dy) mod h, (x - dx) mod w) per channel. */
CNN_API void cnn_vis_roll(float *dst, const float *src, int c, int h, int w, int dy, int dx);

/* ---- composing the picture ------------------------------------------------- */

enum cnn_vis_norm {
    CNN_VIS_NORM_TILE,   /* each tile stretched from its own min..max to 0..1 */
    CNN_VIS_NORM_GLOBAL, /* all tiles stretched by the min..max over all of them */
    CNN_VIS_NORM_NONE,   /* values kept (clipped to 0..1) */
};
extern CNN_API const char *const cnn_vis_norm_names[]; /* "tile", "global", "none", NULL */

/* Maps n tiles of `per` floats each into 0..1 in place.  A tile (or a set)
 * whose values are all equal becomes 0.5, unless they already lie in 0..1.
 * Tiles marked in skip (may be NULL) are neither measured nor changed. */
CNN_API void cnn_vis_normalize(float *tiles, int n, size_t per, int mode, const int *skip);

/* The order that sorts the units by value, largest first, dead units last,
 * ties in unit order: order[k] is the index of the k-th tile. */
CNN_API void cnn_vis_sort_order(const float *values, const int *dead, int n, int *order);

typedef struct cnn_vis_grid_opts {
    int cols;   /* tiles per row; 0 means ceil(sqrt(n)) */
    int scale;  /* each tile pixel becomes scale x scale pixels (nearest neighbour) */
    int margin; /* pixels of background between tiles and around the grid */
} cnn_vis_grid_opts;

/* Integer upscaling cnn-visualize uses for an h x w tile when --scale is not
 * given: the largest that keeps the tile's longer side at most 96 pixels (at
 * least 1), so a 28 x 28 tile becomes 84 x 84. */
CNN_API int cnn_vis_auto_scale(int h, int w);

/* Draws n tiles (c, h, w), values in 0..1, in rows of g->cols (the tile at
 * grid position k is tiles[order[k]], order NULL for 0..n-1) on a white
 * background; a tile marked dead is drawn as a mid-grey square crossed by its
 * diagonals.  *px receives height rows of width * c bytes, interleaved, ready
 * for cnn_png_write. */
CNN_API int cnn_vis_grid(const float *tiles, int n, int c, int h, int w, const int *order, const int *dead,
                 const cnn_vis_grid_opts *g, unsigned char **px, int *width, int *height,
                 cnn_error *err);

CNN_END_DECLS

#endif
