/* What a CNN learns: activation maximization by gradient ascent on the input,
 * first-layer weights and feature maps as tiles, and the tile grid.  See
 * visualize.h for the conventions. */
#include "visualize.h"
#include "layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const cnn_vis_reduce_names[] = {"mean", "sum", "center", NULL};
const char *const cnn_vis_method_names[] = {"normalized", "adam", NULL};
const char *const cnn_vis_norm_names[] = {"tile", "global", "none", NULL};

/* ======================================================================== */
/* Objectives                                                               */
/* ======================================================================== */

static int is_spatial(const cnn_layer *L)
{
    return !L->out.flat;
}

int cnn_vis_units(const cnn_model *m, int layer)
{
    if (layer < 0 || layer >= m->nlayers) return 0;
    const cnn_layer *L = &m->layers[layer];
    return is_spatial(L) ? L->out.c : (int)cnn_shape_size(L->out);
}

int cnn_vis_uses_preact(const cnn_model *m, const cnn_vis_objective *obj)
{
    if (obj->layer < 0 || obj->layer >= m->nlayers) return obj->pre;
    return obj->pre || m->layers[obj->layer].activation == CNN_ACT_SOFTMAX;
}

int cnn_vis_gradient(cnn_net *net, const cnn_vis_objective *obj, const int *units, int n,
                     const float *x, float *values, float *grad, cnn_error *err)
{
    const cnn_model *m = cnn_net_model(net);
    if (obj->layer < 0 || obj->layer >= m->nlayers)
        return cnn_errorf(err, "layer %d: the model has layers 0 to %d", obj->layer,
                          m->nlayers - 1);
    const cnn_layer *L = &m->layers[obj->layer];
    int nunits = cnn_vis_units(m, obj->layer);
    for (int b = 0; b < n; b++)
        if (units[b] < 0 || units[b] >= nunits)
            return cnn_errorf(err, "layer %s has units 0 to %d, not %d", L->name, nunits - 1,
                              units[b]);
    if (obj->reduce < CNN_VIS_MEAN || obj->reduce > CNN_VIS_CENTER)
        return cnn_errorf(err, "unknown reduction %d", obj->reduce);
    if (cnn_net_forward(net, x, (size_t)n * cnn_net_input_size(net), n, 0, NULL, err)) return -1;

    int pre = cnn_vis_uses_preact(m, obj);
    const float *out = pre ? cnn_net_preact(net, obj->layer) : cnn_net_output(net, obj->layer);
    size_t per = cnn_shape_size(L->out);
    int spatial = is_spatial(L);
    size_t hw = (size_t)L->out.h * (size_t)L->out.w;
    size_t centre = (size_t)(L->out.h / 2) * (size_t)L->out.w + (size_t)(L->out.w / 2);
    float *seed = grad ? cnn_net_grad_at(net, obj->layer, pre) : NULL;
    if (seed) memset(seed, 0, (size_t)n * per * sizeof *seed);

    for (int b = 0; b < n; b++) {
        const float *o = out + (size_t)b * per;
        float *s = seed ? seed + (size_t)b * per : NULL;
        size_t u = (size_t)units[b];
        double v;
        if (!spatial) {
            v = o[u];
            if (s) s[u] = 1;
        } else if (obj->reduce == CNN_VIS_CENTER) {
            v = o[u * hw + centre];
            if (s) s[u * hw + centre] = 1;
        } else {
            double sum = 0;
            for (size_t i = 0; i < hw; i++) sum += o[u * hw + i];
            float w = obj->reduce == CNN_VIS_SUM ? 1.0f : 1.0f / (float)hw;
            v = obj->reduce == CNN_VIS_SUM ? sum : sum / (double)hw;
            if (s)
                for (size_t i = 0; i < hw; i++) s[u * hw + i] = w;
        }
        if (values) values[b] = (float)v;
    }
    if (!grad) return 0;
    cnn_net_zero_grads(net); /* the parameter gradients are a by-product; keep them bounded */
    return cnn_net_backward(net, n, obj->layer, pre, grad, (size_t)n * cnn_net_input_size(net),
                            err);
}

/* ======================================================================== */
/* Image operations                                                         */
/* ======================================================================== */

#define BLUR_MAX_RADIUS 64

void cnn_vis_blur(float *img, int c, int h, int w, float sigma, float *tmp)
{
    if (!(sigma > 0)) return;
    int r = (int)ceilf(3 * sigma);
    if (r > BLUR_MAX_RADIUS) r = BLUR_MAX_RADIUS;
    float k[2 * BLUR_MAX_RADIUS + 1];
    double total = 0;
    for (int i = -r; i <= r; i++) total += exp(-(double)i * i / (2.0 * sigma * sigma));
    for (int i = -r; i <= r; i++)
        k[i + r] = (float)(exp(-(double)i * i / (2.0 * sigma * sigma)) / total);
    for (int ch = 0; ch < c; ch++) {
        float *p = img + (size_t)ch * h * w; /* (h, w) */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float s = 0;
                for (int i = -r; i <= r; i++) {
                    int xx = x + i < 0 ? 0 : (x + i >= w ? w - 1 : x + i);
                    s += k[i + r] * p[y * w + xx];
                }
                tmp[y * w + x] = s;
            }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float s = 0;
                for (int i = -r; i <= r; i++) {
                    int yy = y + i < 0 ? 0 : (y + i >= h ? h - 1 : y + i);
                    s += k[i + r] * tmp[yy * w + x];
                }
                p[y * w + x] = s;
            }
    }
}

static int wrap(int v, int n)
{
    v %= n;
    return v < 0 ? v + n : v;
}

void cnn_vis_roll(float *dst, const float *src, int c, int h, int w, int dy, int dx)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++) {
            const float *s = src + ((size_t)ch * h + (size_t)wrap(y - dy, h)) * w;
            float *d = dst + ((size_t)ch * h + (size_t)y) * w;
            for (int x = 0; x < w; x++) d[x] = s[wrap(x - dx, w)];
        }
}

/* ======================================================================== */
/* Maximization                                                             */
/* ======================================================================== */

void cnn_vis_opts_default(cnn_vis_opts *o)
{
    *o = (cnn_vis_opts){
        .obj = {.layer = 0, .reduce = CNN_VIS_MEAN, .pre = 0},
        .method = CNN_VIS_NORMALIZED,
        .steps = 200,
        .step = 0.02f,
        .lo = 0,
        .hi = 1,
        .l1 = 0,
        .l2 = 0,
        .tv = 0,
        .blur = 0.5f,
        .blur_every = 4,
        .jitter = 1,
        .restarts = 4,
        .seed = 1,
    };
}

/* Unit u's own generator: its images do not depend on which other units run
 * in the same batch. */
static void unit_rng(cnn_rng *r, uint64_t seed, int unit)
{
    cnn_rng_seed(r, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(unit + 1)));
}

/* A random start: near the middle of the range on the first try, anywhere in
 * it on the later ones (to wake units that are off around the middle). */
static void random_start(float *x, size_t per, const cnn_vis_opts *o, int attempt, cnn_rng *r)
{
    if (o->start && attempt == 0) { /* --start: a real image, clipped to the range */
        for (size_t i = 0; i < per; i++)
            x[i] = o->start[i] < o->lo ? o->lo : o->start[i] > o->hi ? o->hi : o->start[i];
        return;
    }
    float span = o->hi - o->lo;
    for (size_t i = 0; i < per; i++) {
        float u = cnn_rng_uniform(r);
        x[i] = attempt == 0 ? o->lo + span * (0.45f + 0.1f * u) : o->lo + span * u;
    }
}

static int all_zero(const float *g, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (g[i] != 0) return 0;
    return 1;
}

/* d = the ascent direction of objective - regularizers at x, given the
 * objective's gradient g; one image (c, h, w).  The L1 term uses its
 * smallest-norm supergradient at 0, so a pixel at 0 whose pull is weaker than
 * l1 stays there exactly. */
static void regularize(float *d, const float *g, const float *x, int c, int h, int w,
                       const cnn_vis_opts *o)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                size_t i = ((size_t)ch * h + (size_t)y) * w + (size_t)xx;
                float s = g[i] - 2 * o->l2 * x[i];
                if (o->tv != 0) {
                    float t = 0;
                    if (xx + 1 < w) t += x[i] - x[i + 1];
                    if (xx > 0) t += x[i] - x[i - 1];
                    if (y + 1 < h) t += x[i] - x[i + (size_t)w];
                    if (y > 0) t += x[i] - x[i - (size_t)w];
                    s -= 2 * o->tv * t;
                }
                if (o->l1 != 0) {
                    if (x[i] > 0) s -= o->l1;
                    else if (x[i] < 0) s += o->l1;
                    else s = s > o->l1 ? s - o->l1 : (s < -o->l1 ? s + o->l1 : 0);
                }
                d[i] = s;
            }
}

static void clip(float *x, size_t len, float lo, float hi)
{
    for (size_t i = 0; i < len; i++) x[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
}

/* The state of one batch of ascents. */
typedef struct ascent {
    cnn_net *net;
    const cnn_vis_opts *o;
    const int *u;  /* (k) units */
    int k, C, H, W;
    size_t per;    /* C*H*W */
    float *x;      /* (k, C, H, W) the images */
    float *xs, *gs, *d, *am, *av; /* (k, C, H, W) each: shifted input, its gradient,
                                   * the ascent direction, Adam's moments */
    float *tmp;    /* (H, W) blur scratch */
    int *shift;    /* (k, 2) this step's jitter */
    cnn_rng *rng;  /* (k) one generator per unit */
} ascent;

/* `steps` regularized ascent steps on obj for the images with active[b] set. */
static int ascend(ascent *a, const cnn_vis_objective *obj, const int *active, int steps,
                  cnn_error *err)
{
    const cnn_vis_opts *o = a->o;
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f; /* Adam */
    size_t per = a->per;
    memset(a->am, 0, (size_t)a->k * per * sizeof *a->am);
    memset(a->av, 0, (size_t)a->k * per * sizeof *a->av);
    for (int t = 1; t <= steps; t++) {
        for (int b = 0; b < a->k; b++) {
            int dy = 0, dx = 0;
            if (o->jitter > 0 && active[b]) {
                dy = (int)cnn_rng_below(&a->rng[b], 2 * (uint64_t)o->jitter + 1) - o->jitter;
                dx = (int)cnn_rng_below(&a->rng[b], 2 * (uint64_t)o->jitter + 1) - o->jitter;
            }
            a->shift[2 * b] = dy, a->shift[2 * b + 1] = dx;
            cnn_vis_roll(a->xs + (size_t)b * per, a->x + (size_t)b * per, a->C, a->H, a->W, dy,
                         dx);
        }
        if (cnn_vis_gradient(a->net, obj, a->u, a->k, a->xs, NULL, a->gs, err)) return -1;
        for (int b = 0; b < a->k; b++) {
            if (!active[b]) continue;
            float *xb = a->x + (size_t)b * per, *db = a->d + (size_t)b * per;
            float *gb = a->gs + (size_t)b * per;
            float *mb = a->am + (size_t)b * per, *vb = a->av + (size_t)b * per;
            /* back to the unshifted frame: g(y, x) = gs(y + dy, x + dx) */
            cnn_vis_roll(db, gb, a->C, a->H, a->W, -a->shift[2 * b], -a->shift[2 * b + 1]);
            memcpy(gb, db, per * sizeof *db);
            regularize(db, gb, xb, a->C, a->H, a->W, o);
            /* Project: a pixel at a bound pushed outwards stays put, so it must
             * not count in the RMS (or slow the free pixels down). */
            for (size_t i = 0; i < per; i++)
                if ((xb[i] >= o->hi && db[i] > 0) || (xb[i] <= o->lo && db[i] < 0)) db[i] = 0;
            if (o->method == CNN_VIS_ADAM) {
                float c1 = 1 - powf(b1, (float)t), c2 = 1 - powf(b2, (float)t);
                for (size_t i = 0; i < per; i++) {
                    mb[i] = b1 * mb[i] + (1 - b1) * db[i];
                    vb[i] = b2 * vb[i] + (1 - b2) * db[i] * db[i];
                    xb[i] += o->step * (mb[i] / c1) / (sqrtf(vb[i] / c2) + eps);
                }
            } else {
                double ss = 0;
                for (size_t i = 0; i < per; i++) ss += (double)db[i] * db[i];
                float rms = (float)sqrt(ss / (double)per);
                if (rms > 0)
                    for (size_t i = 0; i < per; i++) xb[i] += o->step * db[i] / rms;
            }
            clip(xb, per, o->lo, o->hi);
            if (o->blur > 0 && o->blur_every > 0 && t % o->blur_every == 0) {
                cnn_vis_blur(xb, a->C, a->H, a->W, o->blur, a->tmp);
                clip(xb, per, o->lo, o->hi);
            }
        }
    }
    return 0;
}

int cnn_vis_maximize(cnn_net *net, const cnn_vis_opts *o, const int *units, int n, float *images,
                     float *values, int *dead, cnn_vis_progress progress, void *ctx,
                     cnn_error *err)
{
    const cnn_model *m = cnn_net_model(net);
    if (o->steps < 0 || o->restarts < 1 || !(o->hi > o->lo) || o->jitter < 0 ||
        o->blur_every < 0 || !(o->step > 0))
        return cnn_errorf(err, "visualization options out of range");
    if (o->obj.layer < 0 || o->obj.layer >= m->nlayers)
        return cnn_errorf(err, "layer %d: the model has layers 0 to %d", o->obj.layer,
                          m->nlayers - 1);
    size_t per = cnn_shape_size(m->input);
    int nb = cnn_net_max_batch(net);
    /* A ReLU-like unit that is off at a random start can often be woken by
     * first raising its pre-activation for a while (the later restarts do). */
    cnn_vis_objective wake = o->obj;
    wake.pre = 1;
    int can_wake = !cnn_vis_uses_preact(m, &o->obj) &&
                   m->layers[o->obj.layer].activation != CNN_ACT_LINEAR;
    int wake_steps = o->steps / 4 > 10 ? o->steps / 4 : 10;

    float *block = calloc(5 * (size_t)nb * per + (size_t)m->input.h * m->input.w, sizeof(float));
    cnn_rng *rng = calloc((size_t)nb, sizeof *rng);
    int *alive = calloc((size_t)nb, sizeof *alive);
    int *trying = calloc((size_t)nb, sizeof *trying);
    int *shift = calloc(2 * (size_t)nb, sizeof *shift);
    if (!block || !rng || !alive || !trying || !shift) {
        free(block), free(rng), free(alive), free(trying), free(shift);
        return cnn_errorf(err, "out of memory");
    }
    ascent a = {.net = net, .o = o, .C = m->input.c, .H = m->input.h, .W = m->input.w,
                .per = per, .shift = shift, .rng = rng};
    a.xs = block;                       /* (nb, C, H, W) */
    a.gs = a.xs + (size_t)nb * per;     /* (nb, C, H, W) */
    a.d = a.gs + (size_t)nb * per;      /* (nb, C, H, W) */
    a.am = a.d + (size_t)nb * per;      /* (nb, C, H, W) */
    a.av = a.am + (size_t)nb * per;     /* (nb, C, H, W) */
    a.tmp = a.av + (size_t)nb * per;    /* (H, W) */
    int status = -1;

    for (int s = 0; s < n; s += nb) {
        a.k = n - s < nb ? n - s : nb;
        a.u = units + s;
        a.x = images + (size_t)s * per;
        for (int b = 0; b < a.k; b++) {
            unit_rng(&rng[b], o->seed, a.u[b]);
            alive[b] = 0;
        }

        /* Starts: retry every unit whose objective is flat at its start. */
        for (int attempt = 0; attempt < o->restarts; attempt++) {
            int left = 0;
            for (int b = 0; b < a.k; b++) {
                trying[b] = !alive[b];
                if (trying[b]) random_start(a.x + (size_t)b * per, per, o, attempt, &rng[b]), left++;
            }
            if (!left) break;
            if (attempt > 0 && can_wake && ascend(&a, &wake, trying, wake_steps, err)) goto done;
            if (cnn_vis_gradient(net, &o->obj, a.u, a.k, a.x, NULL, a.gs, err)) goto done;
            for (int b = 0; b < a.k; b++)
                if (trying[b] && !all_zero(a.gs + (size_t)b * per, per)) alive[b] = 1;
        }
        if (ascend(&a, &o->obj, alive, o->steps, err)) goto done;
        if (cnn_vis_gradient(net, &o->obj, a.u, a.k, a.x, values + s, NULL, err)) goto done;
        for (int b = 0; b < a.k; b++) dead[s + b] = !alive[b];
        if (progress) progress(ctx, s + a.k, n);
    }
    status = 0;
done:
    free(block);
    free(rng);
    free(alive);
    free(trying);
    free(shift);
    return status;
}

/* ======================================================================== */
/* Weights and feature maps                                                 */
/* ======================================================================== */

/* 1 when layer i is a fully connected layer reading the model input through
 * pass-through layers (Flatten) only (so its weights have the input's shape). */
static int dense_on_input(const cnn_model *m, int i)
{
    const cnn_layer *L = &m->layers[i];
    if (cnn_layer_kernel_rank(L) != 2) return 0;
    for (int j = 0; j < i; j++)
        if (!cnn_layer_is_passthrough(&m->layers[j])) return 0;
    return cnn_shape_size(L->in) == cnn_shape_size(m->input);
}

static int conv_on_pixels(const cnn_model *m, int i)
{
    const cnn_layer *L = &m->layers[i];
    return cnn_layer_kernel_rank(L) == 4 && (L->in.c == 1 || L->in.c == 3);
}

int cnn_vis_first_weights_layer(const cnn_model *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        if (conv_on_pixels(m, i) || dense_on_input(m, i)) return i;
        if (m->layers[i].nparams) return -1;
    }
    return -1;
}

int cnn_vis_layer_weights(cnn_net *net, int layer, float **tiles, int *n, int *c, int *h, int *w,
                          cnn_error *err)
{
    const cnn_model *m = cnn_net_model(net);
    if (layer < 0 || layer >= m->nlayers)
        return cnn_errorf(err, "layer %d: the model has layers 0 to %d", layer, m->nlayers - 1);
    const cnn_layer *L = &m->layers[layer];
    int tn, tc, th, tw;
    if (conv_on_pixels(m, layer)) {
        tn = L->units, tc = L->in.c, th = L->kernel[0], tw = L->kernel[1];
    } else if (dense_on_input(m, layer)) {
        tn = L->units, tc = m->input.c, th = m->input.h, tw = m->input.w;
        if (tc != 1 && tc != 3)
            return cnn_errorf(err, "layer %s (Dense): the input has %d channels; only 1 or 3 "
                                   "can be drawn", L->name, tc);
    } else {
        return cnn_errorf(err, "layer %s (%s): only a Conv2D layer fed by 1 or 3 channels or a "
                               "Dense layer on the flattened input can be drawn as images",
                          L->name, L->ops->type);
    }
    cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
    int nt = cnn_layer_tensors(L, t), kernel = -1;
    for (int i = 0; i < nt; i++)
        if (t[i].role == CNN_ROLE_KERNEL) kernel = i;
    size_t count = (size_t)tn * tc * th * tw;
    if (kernel < 0 || t[kernel].count != count)
        return cnn_errorf(err, "layer %s: no kernel of %zu floats", L->name, count);
    float *p = malloc(count * sizeof *p);
    if (!p) return cnn_errorf(err, "out of memory");
    /* conv (out, in, kh, kw) and dense (units, C*H*W in Flatten's channel-major
     * order) are both already one (c, h, w) tile after another */
    memcpy(p, cnn_net_params(net) + L->param_offset + t[kernel].offset, count * sizeof *p);
    *tiles = p, *n = tn, *c = tc, *h = th, *w = tw;
    return 0;
}

int cnn_vis_feature_maps(cnn_net *net, int layer, int pre, const float *x, float *maps,
                         cnn_error *err)
{
    const cnn_model *m = cnn_net_model(net);
    if (layer < 0 || layer >= m->nlayers)
        return cnn_errorf(err, "layer %d: the model has layers 0 to %d", layer, m->nlayers - 1);
    if (cnn_net_forward(net, x, (size_t)1 * cnn_net_input_size(net), 1, 0, NULL, err)) return -1;
    const float *o = pre ? cnn_net_preact(net, layer) : cnn_net_output(net, layer);
    memcpy(maps, o, cnn_shape_size(m->layers[layer].out) * sizeof *maps);
    return 0;
}

/* ======================================================================== */
/* Normalization, order and the grid                                        */
/* ======================================================================== */

static void stretch(float *t, size_t len, float lo, float hi)
{
    if (hi > lo) {
        float inv = 1.0f / (hi - lo);
        for (size_t i = 0; i < len; i++) t[i] = (t[i] - lo) * inv;
    } else if (!(lo >= 0 && hi <= 1)) {
        for (size_t i = 0; i < len; i++) t[i] = 0.5f;
    }
}

static void min_max(const float *t, size_t len, float *lo, float *hi)
{
    for (size_t i = 0; i < len; i++) {
        if (t[i] < *lo) *lo = t[i];
        if (t[i] > *hi) *hi = t[i];
    }
}

void cnn_vis_normalize(float *tiles, int n, size_t per, int mode, const int *skip)
{
    if (mode == CNN_VIS_NORM_NONE) {
        clip(tiles, (size_t)n * per, 0, 1);
        return;
    }
    float glo = INFINITY, ghi = -INFINITY;
    if (mode == CNN_VIS_NORM_GLOBAL)
        for (int i = 0; i < n; i++)
            if (!skip || !skip[i]) min_max(tiles + (size_t)i * per, per, &glo, &ghi);
    for (int i = 0; i < n; i++) {
        if (skip && skip[i]) continue;
        float *t = tiles + (size_t)i * per;
        float lo = glo, hi = ghi;
        if (mode == CNN_VIS_NORM_TILE) {
            lo = INFINITY, hi = -INFINITY;
            min_max(t, per, &lo, &hi);
        }
        stretch(t, per, lo, hi);
    }
}

typedef struct rank {
    float v;
    int dead, idx;
} rank;

static int rank_cmp(const void *pa, const void *pb)
{
    const rank *a = pa, *b = pb;
    if (a->dead != b->dead) return a->dead - b->dead;
    int an = isnan(a->v), bn = isnan(b->v);
    if (an != bn) return an - bn;
    if (!an && a->v != b->v) return a->v > b->v ? -1 : 1;
    return a->idx - b->idx;
}

void cnn_vis_sort_order(const float *values, const int *dead, int n, int *order)
{
    rank *r = malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    if (!r) { /* keep unit order rather than fail a cosmetic step */
        for (int i = 0; i < n; i++) order[i] = i;
        return;
    }
    for (int i = 0; i < n; i++) r[i] = (rank){values[i], dead ? dead[i] != 0 : 0, i};
    qsort(r, (size_t)n, sizeof *r, rank_cmp);
    for (int i = 0; i < n; i++) order[i] = r[i].idx;
    free(r);
}

int cnn_vis_auto_scale(int h, int w)
{
    int side = h > w ? h : w;
    int s = side > 0 ? 96 / side : 1;
    return s < 1 ? 1 : s;
}

static unsigned char to_byte(float v)
{
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (unsigned char)lrintf(v * 255.0f);
}

int cnn_vis_grid(const float *tiles, int n, int c, int h, int w, const int *order, const int *dead,
                 const cnn_vis_grid_opts *g, unsigned char **px, int *width, int *height,
                 cnn_error *err)
{
    if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || g->scale < 1 || g->margin < 0 ||
        g->cols < 0)
        return cnn_errorf(err, "grid of %d tiles of %dx%dx%d (scale %d, margin %d): bad size", n,
                          c, h, w, g->scale, g->margin);
    int cols = g->cols;
    if (!cols)
        while ((long)cols * cols < n) cols++;
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    long th = (long)h * g->scale, tw = (long)w * g->scale;
    long W = cols * tw + (long)(cols + 1) * g->margin;
    long H = rows * th + (long)(rows + 1) * g->margin;
    if (W > 1000000 || H > 1000000 || (double)W * (double)H * c > 1e9)
        return cnn_errorf(err, "the picture would be %ld x %ld pixels; use a smaller --scale or "
                               "fewer --units", W, H);
    size_t stride = (size_t)W * (size_t)c;
    unsigned char *p = malloc(stride * (size_t)H);
    if (!p) return cnn_errorf(err, "out of memory");
    memset(p, 255, stride * (size_t)H);
    for (int k = 0; k < n; k++) {
        int i = order ? order[k] : k;
        const float *t = tiles + (size_t)i * c * h * w; /* (c, h, w) */
        long ox = g->margin + (k % cols) * (tw + g->margin);
        long oy = g->margin + (k / cols) * (th + g->margin);
        int is_dead = dead && dead[i];
        for (long y = 0; y < th; y++) {
            unsigned char *row = p + (size_t)(oy + y) * stride + (size_t)ox * c;
            for (long x = 0; x < tw; x++)
                for (int ch = 0; ch < c; ch++) {
                    unsigned char v;
                    if (is_dead) {
                        long a = y * tw - x * th, b = (th - 1 - y) * tw - x * th;
                        long thick = th > tw ? th : tw;
                        v = (labs(a) < thick || labs(b) < thick) ? 0 : 128;
                    } else {
                        v = to_byte(t[((size_t)ch * h + (size_t)(y / g->scale)) * w +
                                      (size_t)(x / g->scale)]);
                    }
                    row[x * c + ch] = v;
                }
        }
    }
    *px = p, *width = (int)W, *height = (int)H;
    return 0;
}

/* ======================================================================== */
/* Attribution: saliency and Grad-CAM                                       */
/* ======================================================================== */

/* The class objective: the last layer's output, its logit (a softmax is
 * stripped, as for every objective). */
static cnn_vis_objective class_objective(const cnn_model *m)
{
    return (cnn_vis_objective){.layer = m->nlayers - 1, .reduce = CNN_VIS_MEAN, .pre = 0};
}

/* Runs x forward; *cls < 0 becomes the predicted class (the largest output,
 * the first of equals); a class out of range is an error. */
static int pick_class(cnn_net *net, const float *x, int *cls, cnn_error *err)
{
    const cnn_model *m = cnn_net_model(net);
    const cnn_layer *last = &m->layers[m->nlayers - 1];
    if (!last->out.flat)
        return cnn_errorf(err, "the last layer (%s) is not a flat class vector", last->name);
    int K = (int)cnn_shape_size(last->out);
    if (*cls >= K)
        return cnn_errorf(err, "class %d: the model has classes 0 to %d", *cls, K - 1);
    if (*cls >= 0) return 0;
    if (cnn_net_forward(net, x, cnn_net_input_size(net), 1, 0, NULL, err)) return -1;
    const float *y = cnn_net_output(net, m->nlayers - 1);
    int best = 0;
    for (int k = 1; k < K; k++)
        if (y[k] > y[best]) best = k;
    *cls = best;
    return 0;
}

int cnn_vis_saliency(cnn_net *net, const float *x, int *cls, float *map, cnn_error *err)
{
    const cnn_model *m = cnn_net_model(net);
    if (pick_class(net, x, cls, err)) return -1;
    size_t per = cnn_net_input_size(net), hw = (size_t)m->input.h * m->input.w;
    float *g = malloc(per * sizeof *g); /* (C, H, W) */
    if (!g) return cnn_errorf(err, "out of memory");
    cnn_vis_objective obj = class_objective(m);
    if (cnn_vis_gradient(net, &obj, cls, 1, x, NULL, g, err)) {
        free(g);
        return -1;
    }
    for (size_t i = 0; i < hw; i++) {
        float v = 0;
        for (int c = 0; c < m->input.c; c++) {
            float a = fabsf(g[(size_t)c * hw + i]);
            if (a > v) v = a;
        }
        map[i] = v;
    }
    free(g);
    return 0;
}

int cnn_vis_gradcam(cnn_net *net, int layer, const float *x, int *cls, float *cam,
                    cnn_error *err)
{
    const cnn_model *m = cnn_net_model(net);
    int last = m->nlayers - 1;
    if (layer == last)
        return cnn_errorf(err, "layer %s is the output layer; Grad-CAM needs a spatial layer "
                               "below the last", m->layers[last].name);
    if (layer < 0 || layer > last)
        return cnn_errorf(err, "layer %d: Grad-CAM needs a layer below the last (0 to %d)", layer,
                          last - 1);
    const cnn_layer *L = &m->layers[layer];
    if (L->out.flat)
        return cnn_errorf(err, "layer %s (%s) is flat; Grad-CAM needs a spatial layer (Conv2D, "
                               "pooling)", L->name, cnn_layer_type(L));
    if (pick_class(net, x, cls, err)) return -1;
    if (cnn_net_forward(net, x, cnn_net_input_size(net), 1, 0, NULL, err)) return -1;
    /* Seed d logit_K at the last layer (its pre-activation for a softmax). */
    cnn_vis_objective obj = class_objective(m);
    int pre = cnn_vis_uses_preact(m, &obj);
    size_t K = cnn_shape_size(m->layers[last].out);
    float *seed = cnn_net_grad_at(net, last, pre);
    memset(seed, 0, K * sizeof *seed);
    seed[*cls] = 1;
    cnn_net_zero_grads(net);
    if (cnn_net_backward_to(net, 1, last, pre, layer, err)) return -1;
    const float *A = cnn_net_output(net, layer);      /* (C, h, w) */
    const float *dA = cnn_net_grad_at(net, layer, 0); /* (C, h, w) */
    int C = L->out.c;
    size_t hw = (size_t)L->out.h * L->out.w;
    double *acc = calloc(hw, sizeof *acc);
    if (!acc) return cnn_errorf(err, "out of memory");
    for (int c = 0; c < C; c++) {
        double wc = 0; /* alpha_c: the spatial mean of d logit / d A_c */
        for (size_t i = 0; i < hw; i++) wc += dA[(size_t)c * hw + i];
        wc /= (double)hw;
        for (size_t i = 0; i < hw; i++) acc[i] += wc * A[(size_t)c * hw + i];
    }
    for (size_t i = 0; i < hw; i++) cam[i] = acc[i] > 0 ? (float)acc[i] : 0; /* ReLU */
    free(acc);
    return 0;
}

void cnn_vis_upsample_bilinear(const float *src, int h, int w, float *dst, int H, int W)
{
    for (int y = 0; y < H; y++) {
        /* pixel centres line up: source coordinate (y + 0.5) * h / H - 0.5 */
        double sy = ((double)y + 0.5) * h / H - 0.5;
        if (sy < 0) sy = 0;
        if (sy > h - 1) sy = h - 1;
        int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : y0;
        double fy = sy - y0;
        for (int x = 0; x < W; x++) {
            double sx = ((double)x + 0.5) * w / W - 0.5;
            if (sx < 0) sx = 0;
            if (sx > w - 1) sx = w - 1;
            int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : x0;
            double fx = sx - x0;
            double top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
            double bot = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
            dst[(size_t)y * W + x] = (float)(top * (1 - fy) + bot * fy);
        }
    }
}
