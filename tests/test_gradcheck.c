/* Gradient check over the layer registry: for every kind in cnn_layer_kinds,
 * small random models built through JSON and cnn_model_parse, the analytic
 * gradients of a random linear objective of the output with respect to the
 * input and every trainable parameter against central differences.  A kind
 * with no case below fails the test, so a new kind is checked the day it is
 * added. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnn.h"
#include "layer.h" /* internal: the layer-extension API */

typedef struct {
    const char *type;   /* the kind under test */
    const char *input;  /* "[H, W, C]" */
    const char *layers; /* the JSON list of layers */
    int training;
    int n;              /* batch */
} gc_case;

static const gc_case cases[] = {
    /* Conv2D: non-square kernels, strides 2, "same" with odd sizes, 3 channels, every activation */
    {"Conv2D", "[5, 6, 3]",
     "[{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": [2, 3], \"strides\": [2, 1],"
     " \"padding\": \"same\", \"activation\": \"relu\"}]", 0, 3},
    {"Conv2D", "[7, 5, 3]",
     "[{\"type\": \"Conv2D\", \"filters\": 3, \"kernel_size\": 3, \"strides\": 2,"
     " \"activation\": \"tanh\"}]", 0, 2},
    {"Conv2D", "[5, 5, 1]",
     "[{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": [3, 1], \"strides\": [1, 2],"
     " \"padding\": \"same\", \"use_bias\": false, \"activation\": \"sigmoid\"}]", 0, 2},
    {"Conv2D", "[7, 7, 2]",
     "[{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": 4, \"padding\": \"same\"}]", 0, 2},
    {"Conv2D", "[4, 5, 3]",
     "[{\"type\": \"Conv2D\", \"filters\": 3, \"kernel_size\": [2, 2],"
     " \"activation\": \"softmax\"}]", 0, 2},
    {"Conv2D", "[6, 6, 2]",
     "[{\"type\": \"Conv2D\", \"filters\": 3, \"kernel_size\": 3, \"activation\": \"relu\"},"
     " {\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": [1, 2], \"strides\": [2, 2],"
     " \"padding\": \"same\", \"activation\": \"tanh\"}]", 0, 2},
    /* pooling: windows that do not tile the input, strides unlike the pool, "same" */
    {"MaxPooling2D", "[5, 7, 2]", "[{\"type\": \"MaxPooling2D\", \"pool_size\": 2}]", 0, 2},
    {"MaxPooling2D", "[5, 5, 3]",
     "[{\"type\": \"MaxPooling2D\", \"pool_size\": [3, 2], \"strides\": [1, 2],"
     " \"padding\": \"same\"}]", 0, 2},
    {"MaxPooling2D", "[6, 5, 1]",
     "[{\"type\": \"MaxPooling2D\", \"pool_size\": 3, \"strides\": 2, \"padding\": \"same\"}]",
     0, 2},
    {"MaxPooling2D", "[7, 7, 2]",
     "[{\"type\": \"MaxPooling2D\", \"pool_size\": 2, \"strides\": 3}]", 0, 2},
    {"AveragePooling2D", "[5, 7, 2]", "[{\"type\": \"AveragePooling2D\", \"pool_size\": 2}]", 0,
     2},
    {"AveragePooling2D", "[5, 5, 3]",
     "[{\"type\": \"AveragePooling2D\", \"pool_size\": [3, 2], \"strides\": [1, 2],"
     " \"padding\": \"same\"}]", 0, 2},
    {"AveragePooling2D", "[6, 5, 1]",
     "[{\"type\": \"AveragePooling2D\", \"pool_size\": 3, \"strides\": 2,"
     " \"padding\": \"same\"}]", 0, 2},
    {"AveragePooling2D", "[7, 7, 2]",
     "[{\"type\": \"AveragePooling2D\", \"pool_size\": 2, \"strides\": 3}]", 0, 2},
    {"GlobalMaxPooling2D", "[3, 4, 3]", "[{\"type\": \"GlobalMaxPooling2D\"}]", 0, 2},
    {"GlobalAveragePooling2D", "[5, 3, 2]", "[{\"type\": \"GlobalAveragePooling2D\"}]", 0, 2},
    {"Flatten", "[3, 4, 2]", "[{\"type\": \"Flatten\"}]", 0, 2},
    /* Dense after Flatten, every activation */
    {"Dense", "[2, 3, 2]",
     "[{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 4}]", 0, 3},
    {"Dense", "[2, 2, 3]",
     "[{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 5, \"activation\": \"relu\"}]", 0,
     3},
    {"Dense", "[1, 3, 3]",
     "[{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 3, \"activation\": \"sigmoid\","
     " \"use_bias\": false}]", 0, 2},
    {"Dense", "[3, 1, 2]",
     "[{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 4, \"activation\": \"tanh\"},"
     " {\"type\": \"Dense\", \"units\": 3, \"activation\": \"softmax\"}]", 0, 3},
    /* Dropout: a fixed mask (the generator is reseeded before every forward), and rate 0 */
    {"Dropout", "[3, 3, 2]", "[{\"type\": \"Dropout\", \"rate\": 0.5}]", 1, 2},
    {"Dropout", "[2, 3, 2]",
     "[{\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 3, \"activation\": \"tanh\"},"
     " {\"type\": \"Dropout\", \"rate\": 0.3}, {\"type\": \"Dense\", \"units\": 2}]", 1, 3},
    {"Dropout", "[2, 2, 2]", "[{\"type\": \"Dropout\", \"rate\": 0}]", 1, 2},
    {"Activation", "[3, 3, 2]", "[{\"type\": \"Activation\", \"activation\": \"relu\"}]", 0, 2},
    {"Activation", "[3, 3, 2]", "[{\"type\": \"Activation\", \"activation\": \"sigmoid\"}]", 0, 2},
    {"Activation", "[3, 3, 2]", "[{\"type\": \"Activation\", \"activation\": \"tanh\"}]", 0, 2},
    {"Activation", "[3, 3, 2]", "[{\"type\": \"Activation\", \"activation\": \"linear\"}]", 0, 2},
    {"Activation", "[2, 2, 4]",
     "[{\"type\": \"Flatten\"}, {\"type\": \"Activation\", \"activation\": \"softmax\"}]", 0, 2},
    /* BatchNormalization in training (batch statistics) and in inference */
    {"BatchNormalization", "[3, 4, 3]", "[{\"type\": \"BatchNormalization\"}]", 1, 4},
    {"BatchNormalization", "[2, 2, 3]",
     "[{\"type\": \"Flatten\"}, {\"type\": \"BatchNormalization\", \"epsilon\": 0.01}]", 1, 5},
    {"BatchNormalization", "[3, 3, 2]",
     "[{\"type\": \"Conv2D\", \"filters\": 3, \"kernel_size\": 2},"
     " {\"type\": \"BatchNormalization\"}, {\"type\": \"Activation\", \"activation\": \"tanh\"}]",
     1, 3},
    {"BatchNormalization", "[3, 4, 3]", "[{\"type\": \"BatchNormalization\"}]", 0, 2},
    /* UpSampling2D: unequal factors, both interpolations, clamped bilinear edges */
    {"UpSampling2D", "[3, 2, 2]", "[{\"type\": \"UpSampling2D\", \"size\": [2, 3]}]", 0, 2},
    {"UpSampling2D", "[3, 4, 2]",
     "[{\"type\": \"UpSampling2D\", \"size\": [3, 2], \"interpolation\": \"bilinear\"}]", 0,
     2},
    {"UpSampling2D", "[2, 3, 1]",
     "[{\"type\": \"Conv2D\", \"filters\": 2, \"kernel_size\": 2, \"activation\": \"tanh\"},"
     " {\"type\": \"UpSampling2D\", \"interpolation\": \"bilinear\"}]", 0, 2},
};

#define H 1e-2 /* the central-difference step */
#define TOL 2e-2

/* Everything one check needs. */
typedef struct {
    cnn_model *m;
    cnn_net *net;
    float *x;     /* (n, in) */
    double *r;    /* (n, out): the objective is sum(r * output) */
    int n, training;
    size_t nin, nout;
} gc_net;

static double objective(gc_net *g)
{
    cnn_rng rng;
    cnn_rng_seed(&rng, 99); /* the same dropout mask every time */
    cnn_error err;
    if (cnn_net_forward(g->net, g->x, (size_t)g->n * cnn_net_input_size(g->net), g->n, g->training,
                        &rng, &err))
        return NAN;
    const float *y = cnn_net_output(g->net, g->m->nlayers - 1);
    double s = 0;
    for (size_t i = 0; i < g->nout; i++) s += g->r[i] * y[i];
    return s;
}

/* Central difference of the objective along v[j], with step h. */
static double numeric(gc_net *g, float *v, size_t j, double h)
{
    float keep = v[j];
    v[j] = (float)(keep + h);
    float hi = v[j];
    double fp = objective(g);
    v[j] = (float)(keep - h);
    float lo = v[j];
    double fm = objective(g);
    v[j] = keep;
    return (fp - fm) / ((double)hi - lo);
}

/* Worst relative error over v[0..len) of analytic a against central differences.
 * Coordinates where the objective is not smooth within the step (a relu or a
 * max switching) show as differences that disagree between h and h/2; they
 * are skipped and counted in *skipped. */
static double compare(gc_net *g, float *v, const float *a, size_t len, size_t *skipped,
                      size_t *checked)
{
    double scale = 0, worst = 0;
    for (size_t j = 0; j < len; j++) scale = fmax(scale, fabs(a[j]));
    for (size_t j = 0; j < len; j++) {
        double n1 = numeric(g, v, j, H), n2 = numeric(g, v, j, H / 2);
        double floor_ = fmax(1e-2 * scale, 1e-3); /* below it float noise dominates */
        if (fabs(n1 - n2) > 0.01 * fmax(fmax(fabs(n1), fabs(n2)), floor_)) {
            (*skipped)++;
            continue;
        }
        (*checked)++;
        double rel = fabs(a[j] - n2) / fmax(fmax(fabs(a[j]), fabs(n2)), floor_);
        if (rel > worst) worst = rel;
        if (getenv("GC_DEBUG") && rel > 5e-3)
            fprintf(stderr, "  j=%zu a=%g n1=%g n2=%g\n", j, a[j], n1, n2);
    }
    return worst;
}

static double uniform(cnn_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * cnn_rng_uniform(r);
}

/* Runs one case; returns the worst relative error (or 1e9 on a setup failure). */
static double run_case(const gc_case *c, cnn_rng *rng, size_t *skipped, size_t *checked)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"input_shape\": %s, \"layers\": %s}", c->input, c->layers);
    gc_net g = {.n = c->n, .training = c->training};
    cnn_error err = {{0}};
    if (cnn_model_parse(text, strlen(text), "gradcheck.json", &g.m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1e9;
    }
    if (cnn_net_new(g.m, g.n, &g.net, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        cnn_model_free(g.m);
        return 1e9;
    }
    const cnn_model *m = g.m;
    int last = m->nlayers - 1;
    g.nin = cnn_shape_size(m->input) * g.n;
    g.nout = cnn_shape_size(m->layers[last].out) * g.n;
    g.x = malloc(g.nin * sizeof *g.x);
    g.r = malloc(g.nout * sizeof *g.r);
    float *dx = malloc(g.nin * sizeof *dx);
    float *grads = malloc((m->nparams + 1) * sizeof *grads);
    cnn_net_init(g.net, CNN_INIT_GLOROT_UNIFORM, rng);
    float *p = cnn_net_params(g.net);
    /* biases, beta and gamma away from their defaults so they matter */
    for (int i = 0; i < m->nlayers; i++) {
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(&m->layers[i], t);
        for (int k = 0; k < nt; k++) {
            float *q = p + m->layers[i].param_offset + t[k].offset;
            for (size_t j = 0; j < t[k].count; j++) {
                int r = t[k].role;
                if (r == CNN_ROLE_BIAS || r == CNN_ROLE_BETA || r == CNN_ROLE_MOVING_MEAN)
                    q[j] = (float)uniform(rng, -0.5, 0.5);
                else if (r == CNN_ROLE_GAMMA || r == CNN_ROLE_MOVING_VARIANCE)
                    q[j] = (float)uniform(rng, 0.5, 1.5);
                else
                    q[j] *= 2.0f; /* larger kernels: larger, better measured gradients */
            }
        }
    }
    for (size_t i = 0; i < g.nin; i++) g.x[i] = (float)uniform(rng, -1, 1);
    for (size_t i = 0; i < g.nout; i++) g.r[i] = uniform(rng, -1, 1);

    /* analytic: seed the last layer's output gradient with r */
    objective(&g);
    cnn_net_zero_grads(g.net);
    float *seed = cnn_net_grad_at(g.net, last, 0);
    for (size_t i = 0; i < g.nout; i++) seed[i] = (float)g.r[i];
    if (cnn_net_backward(g.net, g.n, last, 0, dx, (size_t)g.n * cnn_net_input_size(g.net), &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1e9;
    }
    memcpy(grads, cnn_net_grads(g.net), m->nparams * sizeof *grads);

    double worst = compare(&g, g.x, dx, g.nin, skipped, checked);
    for (int i = 0; i < m->nlayers; i++) {
        const cnn_layer *L = &m->layers[i];
        cnn_tensor_info t[CNN_MAX_LAYER_TENSORS];
        int nt = cnn_layer_tensors(L, t);
        for (int k = 0; k < nt; k++) {
            if (!t[k].trainable) continue;
            size_t off = L->param_offset + t[k].offset;
            double w = compare(&g, p + off, grads + off, t[k].count, skipped, checked);
            if (w > worst) worst = w;
        }
    }
    free(g.x);
    free(g.r);
    free(dx);
    free(grads);
    cnn_net_free(g.net);
    cnn_model_free(g.m);
    return worst;
}

static void every_kind_matches_central_differences(void)
{
    cnn_rng rng;
    cnn_rng_seed(&rng, 12345);
    for (int k = 0; cnn_layer_kinds[k]; k++) {
        const char *type = cnn_layer_kinds[k]->type;
        int ncases = 0;
        double worst = 0;
        size_t skipped = 0, checked = 0;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            if (strcmp(cases[c].type, type)) continue;
            ncases++;
            double w = run_case(&cases[c], &rng, &skipped, &checked);
            if (w > TOL)
                CHECK_FAIL_("%s case %zu: worst relative error %.3g > %g", type, c, w, TOL);
            if (w > worst) worst = w;
        }
        if (!ncases) CHECK_FAIL_("layer kind %s has no gradient-check case: add one", type);
        printf("gradcheck %-24s %d cases, %zu coordinates (%zu non-smooth skipped), worst "
               "relative error %.2e\n", type, ncases, checked, skipped, worst);
        if (skipped * 10 > checked + skipped)
            CHECK_FAIL_("%s: %zu of %zu coordinates were non-smooth", type, skipped,
                        checked + skipped);
    }
}

/* The check itself must be able to fail: a wrong gradient is caught. */
static void a_wrong_gradient_is_caught(void)
{
    cnn_rng rng;
    cnn_rng_seed(&rng, 7);
    const char *text = "{\"input_shape\": [2, 2, 1], \"layers\": [{\"type\": \"Flatten\"},"
                       " {\"type\": \"Dense\", \"units\": 2}]}";
    cnn_model *m;
    cnn_net *net;
    cnn_error err;
    CHECK(cnn_model_parse(text, strlen(text), "t.json", &m, &err) == 0);
    CHECK(cnn_net_new(m, 1, &net, &err) == 0);
    cnn_net_init(net, CNN_INIT_GLOROT_UNIFORM, &rng);
    double r[2] = {1.0, -0.5};
    float x[4] = {0.3f, -0.2f, 0.7f, 0.1f};
    gc_net g = {.m = m, .net = net, .x = x, .r = r, .n = 1, .nin = 4, .nout = 2};
    float wrong[4] = {1, 1, 1, 1};
    size_t skipped = 0, checked = 0;
    CHECK(compare(&g, x, wrong, 4, &skipped, &checked) > TOL);
    cnn_net_free(net);
    cnn_model_free(m);
}

int main(void)
{
    cnn_set_threads(1);
    RUN(every_kind_matches_central_differences);
    RUN(a_wrong_gradient_is_caught);
    return check_report();
}
