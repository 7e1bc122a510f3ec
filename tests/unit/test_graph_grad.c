/* Training the op graph (nn/graph.h): the backward pass of every op against central finite
 * differences (convolutions with every padding, strides 1 and 2, dilation, pointwise and
 * depthwise; ReLU, ReLU6, hard-swish; residual add; global pooling; dense; softmax; batch norm
 * with batch statistics and frozen; squeeze-and-excitation with both gates; binary
 * cross-entropy), the running statistics, freezing and learning-rate groups, a small
 * MobileNetV2-style network that learns 32 images to a near-zero loss, bit-identical weights
 * from two runs with one seed, and the ImageNet MobileNetV2 of ../shared/data in training form
 * (batch norm unfolded, a one-logit head) agreeing with the folded inference graph, learning,
 * and its gradients checked along their own directions through the whole network. */
#include "fs_test.h"
#include "fakescope/graph.h"
#include "fakescope/mobilenet.h"
#include "fakescope/tflite.h"
#include "fakescope/train.h"

#include <malloc.h>
#include <math.h>
#include <time.h>

static uint64_t rng_state = 1;
static void seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}
/* n values uniform in [-scale, scale) + offset; the test frees them. */
static float *rnd(size_t n, float scale, float offset) {
    float *a = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(a);
    for (size_t i = 0; i < n; i++) a[i] = frand() * scale + offset;
    return a;
}

/* Weight arrays handed to builders, freed at the end of a test. */
#define MAX_KEEP 256
static float *kept[MAX_KEEP];
static int nkept;
static float *keep(float *p) {
    assert_true(nkept < MAX_KEEP);
    return kept[nkept++] = p;
}
static void free_kept(void) {
    while (nkept) free(kept[--nkept]);
}
static const float *W(size_t n, float scale) { return keep(rnd(n, scale, 0)); }

static size_t out_size(const fs_graph *g) {
    fs_graph_node_info o;
    fs_graph_node(g, fs_graph_output(g), &o);
    return (size_t)o.h * o.w * o.c;
}

/* L = sum r . output, in double, after a training forward. */
static double objective(fs_graph *g, const float *x, int n, const float *r, float *out) {
    fs_msg msg;
    if (fs_graph_forward_train(g, x, n, out, &msg)) fail_msg("forward: %s", msg.text);
    double l = 0;
    for (size_t i = 0; i < out_size(g) * (size_t)n; i++) l += (double)r[i] * out[i];
    return l;
}

/* Central difference of L at *v with step h (restores *v). */
static double numeric(fs_graph *g, float *v, float h, const float *x, int n, const float *r, float *out) {
    const float keepv = *v;
    *v = keepv + h;
    double lp = objective(g, x, n, r, out);
    *v = keepv - h;
    double lm = objective(g, x, n, r, out);
    *v = keepv;
    return (lp - lm) / (2.0 * (double)h);
}

typedef struct check_stats {
    int checked;  /* against a central difference */
    int one_sided; /* on a kink: against one of the one-sided differences */
    int skipped;  /* neither (two kinks in reach) */
    double worst; /* largest |analytic - numeric| / max(|analytic|, |numeric|) among checked */
} check_stats;

/* |a - b| within the tolerance: 1e-2 max(|a|, |b|) + 1e-3 amax (amax the largest analytic
 * value of the tensor, for elements whose gradient is tiny next to the tensor's, where float
 * rounding of the loss dominates). */
static int agree(double a, double b, double amax) {
    const double big = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= 1e-2 * big + 1e-3 * amax + 1e-6;
}

/* Compares analytic gradients a (count values, of the tensor at v) with finite differences on
 * up to 48 of its elements. Central differences with steps h and h/2 that agree with each other
 * and with a settle it. Otherwise the element may sit near a kink (ReLU, ReLU6, hard-swish,
 * hard-sigmoid): with a step of h/8, forward and backward differences that agree must agree
 * with a too (the kink was farther away than h/8); if they differ, a kink lies within h/8 and
 * the analytic value must be one of the two one-sided derivatives. Anything else fails. */
static void check_tensor(fs_graph *g, const char *what, float *v, const float *a, size_t count,
                         const float *x, int n, const float *r, float *out, check_stats *st) {
    double amax = 0;
    for (size_t j = 0; j < count; j++) amax = fabs(a[j]) > amax ? fabs(a[j]) : amax;
    const size_t step = count > 48 ? count / 48 : 1;
    for (size_t j = 0; j < count; j += step) {
        const float h = 1e-2f * (fabsf(v[j]) > 1 ? fabsf(v[j]) : 1);
        const double d1 = numeric(g, &v[j], h, x, n, r, out);
        const double d2 = numeric(g, &v[j], h / 2, x, n, r, out);
        const double an = a[j];
        if (agree(d1, d2, amax) && agree(an, d2, amax)) {
            const double big = fabs(an) > fabs(d2) ? fabs(an) : fabs(d2);
            if (big > 1e-3 * amax && big > 0) {
                double rel = fabs(an - d2) / big;
                st->worst = rel > st->worst ? rel : st->worst;
            }
            st->checked++;
            continue;
        }
        const float hs = h / 8, keepv = v[j];
        const double f0 = objective(g, x, n, r, out);
        v[j] = keepv + hs;
        const double fp = objective(g, x, n, r, out);
        v[j] = keepv - hs;
        const double fm = objective(g, x, n, r, out);
        v[j] = keepv;
        const double fwd = (fp - f0) / hs, bwd = (f0 - fm) / hs, cen = (fp - fm) / (2.0 * hs);
        if (agree(fwd, bwd, amax)) {
            if (!agree(an, cen, amax))
                fail_msg("%s[%zu]: analytic %.6g, finite differences %.6g (h %.3g), %.6g (h/2), "
                         "%.6g (h/8)", what, j, an, d1, (double)h, d2, cen);
            st->checked++;
        } else if (agree(an, fwd, amax) || agree(an, bwd, amax)) {
            st->one_sided++;
        } else {
            st->skipped++;
        }
    }
}

/* Gradient check of every trainable parameter and of the input of g on a batch of n random
 * items; at least half of the elements are settled by central differences, at most 1 in 20
 * skipped. (A pre-activation a hair from a kink puts every element that moves it by h/8 on
 * the kink: 1.2e-4 in one conv case here, 30 of 109 elements.) */
static void gradcheck(fs_graph *g, int n, const char *label) {
    fs_msg msg;
    if (fs_graph_train(g, 1, &msg)) fail_msg("%s: %s", label, msg.text);
    fs_graph_node_info in;
    fs_graph_node(g, 0, &in);
    const size_t nin = (size_t)in.h * in.w * in.c * (size_t)n, nout = out_size(g) * (size_t)n;
    float *x = rnd(nin, 1.5f, 0.2f), *r = rnd(nout, 1, 0), *out = malloc(sizeof(float) * nout),
          *dx = malloc(sizeof(float) * nin);
    objective(g, x, n, r, out);
    assert_int_equal(fs_graph_backward(g, r, dx, &msg), FS_OK);
    check_stats st = {0};
    size_t np = fs_graph_param_count(g);
    fs_tparam *p = fs_graph_params(g);
    float **analytic = calloc(np, sizeof *analytic);
    for (size_t i = 0; i < np; i++)
        if (p[i].grad) {
            analytic[i] = malloc(sizeof(float) * p[i].count);
            memcpy(analytic[i], p[i].grad, sizeof(float) * p[i].count);
        }
    for (size_t i = 0; i < np; i++)
        if (analytic[i]) check_tensor(g, p[i].name, p[i].data, analytic[i], p[i].count, x, n, r, out, &st);
    check_tensor(g, "input", x, dx, nin, x, n, r, out, &st);
    printf("%s: %d gradients agree with central differences (worst relative error %.2g), %d on "
           "a kink with a one-sided one, %d skipped\n", label, st.checked, st.worst,
           st.one_sided, st.skipped);
    assert_true(st.checked > 0);
    assert_true(st.skipped * 20 <= st.checked);
    assert_true(st.one_sided + st.skipped <= st.checked);
    for (size_t i = 0; i < np; i++) free(analytic[i]);
    free(analytic), free(x), free(r), free(out), free(dx);
}

static fs_graph *new_graph(int h, int w, int c) {
    fs_graph *g;
    fs_msg msg;
    assert_int_equal(fs_graph_create(h, w, c, &g, &msg), FS_OK);
    return g;
}

static void built(fs_graph *g) {
    fs_msg msg;
    if (fs_graph_error(g, &msg)) fail_msg("build: %s", msg.text);
}

/* conv of every padding, stride, dilation and kernel size, each activation */
static void test_conv_grad(void **state) {
    (void)state;
    static const struct { int k, stride, dil; fs_pad pad; fs_act act; } cases[] = {
        {3, 1, 1, FS_PAD_SAME, FS_ACT_NONE},      {3, 2, 1, FS_PAD_SAME, FS_ACT_NONE},
        {3, 2, 1, FS_PAD_SYMMETRIC, FS_ACT_RELU}, {3, 1, 2, FS_PAD_SAME, FS_ACT_RELU6},
        {2, 2, 1, FS_PAD_SAME, FS_ACT_HSWISH},    {3, 1, 1, FS_PAD_VALID, FS_ACT_NONE},
        {1, 1, 1, FS_PAD_SAME, FS_ACT_NONE},      {1, 2, 1, FS_PAD_SAME, FS_ACT_HSWISH},
        {5, 2, 1, FS_PAD_SAME, FS_ACT_NONE},
    };
    seed(1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int cin = 3, cout = 4, k = cases[i].k;
        fs_graph *g = new_graph(7, 6, cin);
        fs_graph_conv(g, 0, cout, k, cases[i].stride, cases[i].dil, cases[i].pad,
                      W((size_t)cout * cin * k * k, 0.5f), W(cout, 0.5f), cases[i].act, "conv");
        built(g);
        char label[64];
        snprintf(label, sizeof label, "conv %dx%d stride %d dilation %d pad %d act %d", k, k,
                 cases[i].stride, cases[i].dil, (int)cases[i].pad, (int)cases[i].act);
        gradcheck(g, 2, label);
        fs_graph_free(g);
    }
    /* without a bias */
    fs_graph *g = new_graph(5, 5, 2);
    fs_graph_conv(g, 0, 3, 3, 1, 1, FS_PAD_SAME, W(2 * 3 * 9, 0.5f), NULL, FS_ACT_NONE, "nobias");
    built(g);
    gradcheck(g, 1, "conv without bias");
    assert_int_equal(fs_graph_param_count(g), 1);
    fs_graph_free(g);
    free_kept();
}

static void test_dwconv_grad(void **state) {
    (void)state;
    static const struct { int k, stride, dil; fs_pad pad; fs_act act; } cases[] = {
        {3, 1, 1, FS_PAD_SAME, FS_ACT_NONE},      {3, 2, 1, FS_PAD_SAME, FS_ACT_RELU6},
        {3, 2, 1, FS_PAD_SYMMETRIC, FS_ACT_NONE}, {3, 1, 2, FS_PAD_SAME, FS_ACT_HSWISH},
        {5, 2, 1, FS_PAD_SAME, FS_ACT_NONE},      {3, 1, 1, FS_PAD_VALID, FS_ACT_RELU},
    };
    seed(2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int c = 5, k = cases[i].k;
        fs_graph *g = new_graph(7, 8, c);
        fs_graph_dwconv(g, 0, k, cases[i].stride, cases[i].dil, cases[i].pad,
                        W((size_t)c * k * k, 0.5f), W(c, 0.5f), cases[i].act, "dw");
        built(g);
        char label[64];
        snprintf(label, sizeof label, "depthwise %dx%d stride %d dilation %d pad %d act %d", k, k,
                 cases[i].stride, cases[i].dil, (int)cases[i].pad, (int)cases[i].act);
        gradcheck(g, 2, label);
        fs_graph_free(g);
    }
    free_kept();
}

/* residual add (the input read twice), global pooling, dense, softmax */
static void test_add_gap_dense_grad(void **state) {
    (void)state;
    seed(3);
    const int c = 4;
    fs_graph *g = new_graph(5, 4, c);
    int a = fs_graph_conv(g, 0, c, 1, 1, 1, FS_PAD_SAME, W(c * c, 0.6f), W(c, 0.3f), FS_ACT_NONE, "a");
    int s = fs_graph_add(g, a, 0, FS_ACT_RELU6, "sum");
    int b = fs_graph_dwconv(g, s, 3, 1, 1, FS_PAD_SAME, W(c * 9, 0.5f), W(c, 0.3f), FS_ACT_NONE, "b");
    int s2 = fs_graph_add(g, b, s, FS_ACT_HSWISH, "sum2");
    int p = fs_graph_gap(g, s2, "pool");
    int d = fs_graph_dense(g, p, 6, W(6 * c, 0.7f), W(6, 0.2f), "dense");
    fs_graph_softmax(g, d, "softmax");
    built(g);
    gradcheck(g, 3, "add, gap, dense, softmax");
    fs_graph_free(g);
    /* dense without bias, straight on the pooled input */
    g = new_graph(3, 3, 5);
    fs_graph_dense(g, fs_graph_gap(g, 0, "pool"), 2, W(10, 0.7f), NULL, "dense");
    built(g);
    gradcheck(g, 2, "dense without bias");
    fs_graph_free(g);
    free_kept();
}

static int bn_layer(fs_graph *g, int in, int c, fs_act act, const char *name) {
    const float *gamma = keep(rnd((size_t)c, 0.3f, 1.0f)), *beta = W((size_t)c, 0.3f);
    const float *mean = W((size_t)c, 0.2f), *var = keep(rnd((size_t)c, 0.2f, 1.0f));
    return fs_graph_bn(g, in, gamma, beta, mean, var, 1e-3f, 0.9f, act, name);
}

static void test_bn_grad(void **state) {
    (void)state;
    seed(4);
    for (int frozen = 0; frozen < 2; frozen++) {
        const int c = 3;
        fs_graph *g = new_graph(4, 5, 2);
        int cv = fs_graph_conv(g, 0, c, 3, 2, 1, FS_PAD_SAME, W(2 * c * 9, 0.5f), NULL, FS_ACT_NONE, "conv");
        int bn = bn_layer(g, cv, c, FS_ACT_NONE, "bn");
        /* a nonlinear reader, so the loss is not linear in the normalised values */
        fs_graph_dwconv(g, bn, 1, 1, 1, FS_PAD_SAME, W(c, 0.8f), W(c, 1.0f), FS_ACT_HSWISH, "after");
        built(g);
        fs_msg msg;
        assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
        assert_int_equal(fs_graph_bn_freeze(g, "bn", frozen), 1);
        gradcheck(g, 3, frozen ? "batch norm, frozen statistics" : "batch norm, batch statistics");
        fs_graph_free(g);
    }
    /* with a fused ReLU6 */
    fs_graph *g = new_graph(3, 3, 4);
    bn_layer(g, 0, 4, FS_ACT_RELU6, "bn");
    built(g);
    gradcheck(g, 4, "batch norm + ReLU6");
    fs_graph_free(g);
    free_kept();
}

/* running statistics: momentum update with the unbiased variance; frozen ones stay and give
 * the inference answer */
static void test_bn_statistics(void **state) {
    (void)state;
    seed(5);
    const int h = 3, w = 2, c = 2, n = 4;
    float gamma[2] = {1.5f, 0.5f}, beta[2] = {0.1f, -0.2f}, mean[2] = {0.3f, -0.1f}, var[2] = {2, 0.5f};
    fs_graph *g = new_graph(h, w, c);
    fs_graph_bn(g, 0, gamma, beta, mean, var, 1e-3f, 0.9f, FS_ACT_NONE, "bn");
    built(g);
    fs_msg msg;
    float *x = keep(rnd((size_t)n * h * w * c, 2, 0.5f)), out[48], inf[48];
    assert_int_equal(fs_graph_forward(g, x, n, inf, &msg), FS_OK);
    for (int i = 0; i < n * h * w * c; i++) {
        int ch = i % c;
        float s = gamma[ch] / sqrtf(var[ch] + 1e-3f);
        assert_true(fabsf(inf[i] - (x[i] * s + (beta[ch] - mean[ch] * s))) < 1e-5f);
    }
    assert_int_equal(fs_graph_forward_train(g, x, n, out, &msg), FS_ERR_INVALID); /* not training */
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    assert_int_equal(fs_graph_forward_train(g, x, n, out, &msg), FS_OK);
    const fs_tparam *rm = fs_graph_param_find(g, "bn.running_mean"), *rv = fs_graph_param_find(g, "bn.running_var");
    assert_non_null(rm), assert_non_null(rv);
    assert_null(rm->grad), assert_null(rv->grad);
    const int m = n * h * w;
    for (int ch = 0; ch < c; ch++) {
        double s = 0, ss = 0;
        for (int i = 0; i < m; i++) s += x[i * c + ch];
        double mu = s / m;
        for (int i = 0; i < m; i++) ss += (x[i * c + ch] - mu) * (x[i * c + ch] - mu);
        assert_true(fabs(rm->data[ch] - (0.9 * mean[ch] + 0.1 * mu)) < 1e-5);
        assert_true(fabs(rv->data[ch] - (0.9 * var[ch] + 0.1 * ss / (m - 1))) < 1e-5);
        /* the output is normalised by the batch: mean beta, variance gamma^2 (biased) */
        double om = 0, ov = 0;
        for (int i = 0; i < m; i++) om += out[i * c + ch];
        om /= m;
        for (int i = 0; i < m; i++) ov += (out[i * c + ch] - om) * (out[i * c + ch] - om);
        ov /= m;
        assert_true(fabs(om - beta[ch]) < 1e-5);
        assert_true(fabs(ov - gamma[ch] * gamma[ch] * (ss / m) / (ss / m + 1e-3)) < 1e-4);
    }
    /* frozen: running statistics kept, the answer is the inference one with them */
    float rmean[2] = {rm->data[0], rm->data[1]}, rvar[2] = {rv->data[0], rv->data[1]};
    assert_int_equal(fs_graph_bn_freeze(g, "", 1), 1);
    assert_int_equal(fs_graph_forward_train(g, x, n, out, &msg), FS_OK);
    assert_memory_equal(rm->data, rmean, sizeof rmean);
    assert_memory_equal(rv->data, rvar, sizeof rvar);
    assert_int_equal(fs_graph_forward(g, x, n, inf, &msg), FS_OK);
    assert_memory_equal(out, inf, sizeof(float) * (size_t)n * h * w * c);
    assert_int_equal(fs_graph_bn_freeze(g, "nothing", 1), 0);
    fs_graph_free(g);
    /* builder checks */
    g = new_graph(2, 2, 2);
    assert_int_equal(fs_graph_bn(g, 0, gamma, beta, mean, NULL, 1e-3f, 0.9f, FS_ACT_NONE, "bn"), -1);
    assert_int_equal(fs_graph_error(g, &msg), FS_ERR_INVALID);
    fs_graph_free(g);
    g = new_graph(2, 2, 2);
    assert_int_equal(fs_graph_bn(g, 0, gamma, beta, mean, var, 1e-3f, 1.0f, FS_ACT_NONE, "bn"), -1);
    fs_graph_free(g);
    free_kept();
}

/* squeeze-and-excitation: forward from the definition, then gradients with both gates */
static void test_se(void **state) {
    (void)state;
    seed(6);
    const int h = 3, w = 4, c = 6, hd = 2;
    for (int gate = 0; gate < 2; gate++) {
        const float *w1 = W((size_t)hd * c, 0.8f), *b1 = W(hd, 0.5f), *w2 = W((size_t)c * hd, 0.8f),
                    *b2 = W(c, 0.5f);
        fs_graph *g = new_graph(h, w, c);
        int cv = fs_graph_conv(g, 0, c, 1, 1, 1, FS_PAD_SAME, W(c * c, 0.5f), W(c, 0.2f), FS_ACT_RELU, "conv");
        fs_graph_se(g, cv, hd, w1, b1, w2, b2, gate ? FS_GATE_SIGMOID : FS_GATE_HSIGMOID, "se");
        built(g);
        float *x = keep(rnd((size_t)h * w * c, 1, 0.3f)), out[72];
        fs_msg msg;
        assert_int_equal(fs_graph_forward(g, x, 1, out, &msg), FS_OK);
        const float *a = fs_graph_activation(g, cv);
        double s[6] = {0}, hh[2], e[6];
        for (int p = 0; p < h * w; p++)
            for (int ch = 0; ch < c; ch++) s[ch] += a[p * c + ch] / (double)(h * w);
        for (int j = 0; j < hd; j++) {
            hh[j] = b1[j];
            for (int ch = 0; ch < c; ch++) hh[j] += w1[j * c + ch] * s[ch];
            hh[j] = hh[j] > 0 ? hh[j] : 0;
        }
        for (int ch = 0; ch < c; ch++) {
            double v = b2[ch];
            for (int j = 0; j < hd; j++) v += w2[ch * hd + j] * hh[j];
            e[ch] = gate ? 1 / (1 + exp(-v)) : fmin(fmax(v + 3, 0), 6) / 6;
        }
        for (int p = 0; p < h * w; p++)
            for (int ch = 0; ch < c; ch++)
                assert_true(fabs(out[p * c + ch] - a[p * c + ch] * e[ch]) < 1e-5);
        gradcheck(g, 2, gate ? "squeeze-and-excitation, sigmoid" : "squeeze-and-excitation, hard-sigmoid");
        fs_graph_free(g);
    }
    free_kept();
}

/* the one-logit head: loss and gradient against the definition and finite differences */
static void test_bce(void **state) {
    (void)state;
    seed(7);
    const int c = 5, n = 4;
    fs_graph *g = new_graph(2, 2, c);
    fs_graph_dense(g, fs_graph_gap(g, 0, "pool"), 1, W(c, 1), W(1, 1), "head");
    built(g);
    fs_msg msg;
    float labels[4] = {0, 1, 1, 0}, *x = keep(rnd((size_t)n * 4 * c, 2, 0)), z[4];
    double loss;
    assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_ERR_INVALID); /* not training */
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_OK);
    double want = 0;
    for (int i = 0; i < n; i++) {
        double p = 1 / (1 + exp(-(double)z[i]));
        want -= (labels[i] * log(p) + (1 - labels[i]) * log(1 - p)) / n;
    }
    assert_true(fabs(loss - want) < 1e-6);
    fs_tparam *b = fs_graph_param_find(g, "head.bias");
    double gb = b->grad[0], h = 1e-3, lp, lm;
    b->data[0] += (float)h;
    fs_graph_forward_train(g, x, n, z, &msg);
    fs_graph_backward_bce(g, labels, &lp, &msg);
    b->data[0] -= (float)(2 * h);
    fs_graph_forward_train(g, x, n, z, &msg);
    fs_graph_backward_bce(g, labels, &lm, &msg);
    assert_true(fabs((lp - lm) / (2 * h) - gb) < 1e-3 * fmax(1, fabs(gb)));
    labels[2] = 2;
    assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_ERR_INVALID);
    fs_graph_free(g);
    /* more than one output value */
    g = new_graph(2, 2, c);
    fs_graph_dense(g, fs_graph_gap(g, 0, "pool"), 2, W(2 * c, 1), NULL, "head");
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    assert_int_equal(fs_graph_forward_train(g, x, 1, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_ERR_INVALID);
    fs_graph_free(g);
    free_kept();
}

/* freezing: no gradient for frozen parameters nor for nodes nothing trainable depends on; the
 * optimiser leaves frozen parameters and those of a learning-rate scale of 0, and scales the
 * step of the others */
static void test_freeze_and_groups(void **state) {
    (void)state;
    seed(8);
    const int c = 3, n = 2;
    fs_graph *g = new_graph(4, 4, c);
    int a = fs_graph_conv(g, 0, c, 3, 1, 1, FS_PAD_SAME, W(c * c * 9, 0.5f), W(c, 0.1f), FS_ACT_RELU6, "body.a");
    int b = fs_graph_conv(g, a, c, 1, 1, 1, FS_PAD_SAME, W(c * c, 0.5f), W(c, 0.1f), FS_ACT_NONE, "body.b");
    int head = fs_graph_dense(g, fs_graph_gap(g, b, "pool"), 1, W(c, 1), W(1, 1), "head");
    built(g);
    fs_msg msg;
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    assert_int_equal(fs_graph_param_count(g), 6);
    assert_int_equal(fs_graph_freeze(g, "body.", 1), 4);
    float *x = keep(rnd((size_t)n * 16 * c, 1, 0.5f)), z[2], labels[2] = {1, 0};
    double loss;
    assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_OK);
    fs_tparam *aw = fs_graph_param_find(g, "body.a.weight"), *hw = fs_graph_param_find(g, "head.weight");
    for (size_t j = 0; j < aw->count; j++) assert_true(aw->grad[j] == 0.0f);
    double hn = 0;
    for (size_t j = 0; j < hw->count; j++) hn += fabs(hw->grad[j]);
    assert_true(hn > 0);
    assert_null(fs_graph_gradient(g, a)), assert_null(fs_graph_gradient(g, b)); /* not reached */
    assert_non_null(fs_graph_gradient(g, head));
    /* thawed: gradients reach the first conv and its input node's reader */
    assert_int_equal(fs_graph_freeze(g, "body.a", 0), 2);
    assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_OK);
    assert_non_null(fs_graph_gradient(g, b));
    double an = 0;
    for (size_t j = 0; j < aw->count; j++) an += fabs(aw->grad[j]);
    assert_true(an > 0);
    for (size_t j = 0; j < fs_graph_param_find(g, "body.b.weight")->count; j++)
        assert_true(fs_graph_param_find(g, "body.b.weight")->grad[j] == 0.0f); /* still frozen */
    /* SGD, momentum 0: head at lr, body.a at lr / 2, body.b frozen, head bias at scale 0 */
    fs_opt_config cfg = fs_opt_config_default();
    cfg.kind = FS_OPT_SGD, cfg.momentum = 0, cfg.lr = 0.1;
    fs_optim *opt;
    assert_int_equal(fs_optim_create_params(&cfg, fs_graph_params(g), fs_graph_param_count(g), &opt, &msg), FS_OK);
    assert_int_equal(fs_optim_lr_scale(opt, "body.", 0.5), 4);
    assert_int_equal(fs_optim_lr_scale(opt, "head.bias", 0), 1);
    fs_tparam *bw = fs_graph_param_find(g, "body.b.weight"), *hb = fs_graph_param_find(g, "head.bias");
    float *a0 = keep(malloc(sizeof(float) * aw->count)), *b0 = keep(malloc(sizeof(float) * bw->count));
    float h0[3], hb0 = hb->data[0];
    memcpy(a0, aw->data, sizeof(float) * aw->count);
    memcpy(b0, bw->data, sizeof(float) * bw->count);
    memcpy(h0, hw->data, sizeof h0);
    fs_optim_step(opt);
    int moved = 0;
    for (size_t j = 0; j < aw->count; j++) {
        assert_true(fabsf(aw->data[j] - (a0[j] - 0.05f * aw->grad[j])) <= 1e-6f * (1 + fabsf(a0[j])));
        moved += aw->data[j] != a0[j];
    }
    assert_true(moved > 0);
    assert_memory_equal(bw->data, b0, sizeof(float) * bw->count);
    for (int j = 0; j < 3; j++)
        assert_true(fabsf(hw->data[j] - (h0[j] - 0.1f * hw->grad[j])) <= 1e-6f * (1 + fabsf(h0[j])));
    assert_true(hb->data[0] == hb0);
    fs_optim_free(opt);
    fs_graph_free(g);
    free_kept();
}

/* the training contract: names, the order of calls, a graph changed after listing, and no
 * allocation in a training step */
static void test_train_contract(void **state) {
    (void)state;
    seed(9);
    fs_msg msg;
    fs_graph *g = new_graph(4, 4, 2);
    int a = fs_graph_conv(g, 0, 2, 3, 1, 1, FS_PAD_SAME, W(36, 0.5f), W(2, 0.1f), FS_ACT_RELU, "same");
    fs_graph_conv(g, a, 2, 1, 1, 1, FS_PAD_SAME, W(4, 0.5f), NULL, FS_ACT_NONE, "same");
    built(g);
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_ERR_INVALID); /* two nodes named "same" */
    assert_non_null(strstr(msg.text, "same.weight"));
    assert_int_equal(fs_graph_param_count(g), 0);
    fs_graph_free(g);

    g = new_graph(4, 4, 2);
    a = fs_graph_conv(g, 0, 2, 3, 1, 1, FS_PAD_SAME, W(36, 0.5f), W(2, 0.1f), FS_ACT_RELU, NULL);
    int head = fs_graph_dense(g, fs_graph_gap(g, a, "pool"), 1, W(2, 1), W(1, 1), "head");
    built(g);
    float *x = keep(rnd(4 * 32, 1, 0)), z[4], labels[4] = {0, 1, 1, 0}, dout[4] = {1, 1, 1, 1};
    assert_int_equal(fs_graph_backward(g, dout, NULL, &msg), FS_ERR_INVALID); /* not training */
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    assert_non_null(fs_graph_param_find(g, "node1.weight")); /* unnamed: by its id */
    assert_int_equal(fs_graph_backward(g, dout, NULL, &msg), FS_ERR_INVALID); /* no forward yet */
    assert_int_equal(fs_graph_forward(g, x, 4, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward(g, dout, NULL, &msg), FS_ERR_INVALID); /* inference forward */
    double l1, l2;
    assert_int_equal(fs_graph_forward_train(g, x, 4, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward_bce(g, labels, &l1, &msg), FS_OK);
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fs_graph_forward_train(g, x, i + 1, z, &msg), FS_OK); /* within the plan */
        assert_int_equal(fs_graph_backward_bce(g, labels, &l2, &msg), FS_OK);
    }
    struct mallinfo2 after = mallinfo2();
    assert_int_equal(before.uordblks, after.uordblks); /* no heap growth in a training step */
    assert_true(l1 != l2);                              /* other batch sizes, other losses */
    assert_int_equal(fs_graph_forward_train(g, x, 4, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward_bce(g, labels, &l2, &msg), FS_OK);
    assert_true(l1 == l2);
    /* a node added afterwards: the list is gone, training mode with it */
    assert_true(fs_graph_softmax(g, head, "more") > 0);
    assert_int_equal(fs_graph_param_count(g), 0);
    assert_int_equal(fs_graph_forward_train(g, x, 4, z, &msg), FS_ERR_INVALID);
    fs_weights w = {0};
    assert_int_equal(fs_graph_export(g, &w, &msg), FS_ERR_INVALID);
    fs_graph_free(g);
    free_kept();
}

/* ---- a small MobileNetV2-style network that learns ---- */

/* conv (no bias) + batch norm + activation, as MobileNetV2's blocks are trained */
static int conv_bn(fs_graph *g, int in, int cin, int cout, int k, int stride, int dw, fs_act act,
                   const char *name) {
    char cn[64], bn[64];
    snprintf(cn, sizeof cn, "%s.0", name), snprintf(bn, sizeof bn, "%s.1", name);
    const float scale = sqrtf(6.0f / (float)(k * k * (dw ? 1 : cin))); /* He uniform */
    int x = dw ? fs_graph_dwconv(g, in, k, stride, 1, FS_PAD_SAME, W((size_t)cout * k * k, scale), NULL, FS_ACT_NONE, cn)
               : fs_graph_conv(g, in, cout, k, stride, 1, FS_PAD_SAME,
                               W((size_t)cout * cin * k * k, scale), NULL, FS_ACT_NONE, cn);
    float *one = keep(malloc(sizeof(float) * (size_t)cout)), *zero = keep(calloc((size_t)cout, sizeof(float)));
    for (int i = 0; i < cout; i++) one[i] = 1;
    return fs_graph_bn(g, x, one, zero, zero, one, 1e-3f, 0.9f, act, bn);
}

/* 24x24x3 -> stem 3x3/2 (8) -> inverted residual t=3 8->8 with SE -> inverted residual t=3
 * stride 2 8->16 (hard-swish) -> 1x1 32 -> pool -> one logit */
static fs_graph *small_mobilenet(uint64_t s) {
    seed(s);
    fs_graph *g = new_graph(24, 24, 3);
    int x = conv_bn(g, 0, 3, 8, 3, 2, 0, FS_ACT_RELU6, "stem");
    int in = x;
    x = conv_bn(g, x, 8, 24, 1, 1, 0, FS_ACT_RELU6, "b1.expand");
    x = conv_bn(g, x, 24, 24, 3, 1, 1, FS_ACT_RELU6, "b1.dw");
    x = fs_graph_se(g, x, 6, W(6 * 24, 0.4f), keep(calloc(6, sizeof(float))), W(24 * 6, 0.4f),
                    keep(calloc(24, sizeof(float))), FS_GATE_HSIGMOID, "b1.se");
    x = conv_bn(g, x, 24, 8, 1, 1, 0, FS_ACT_NONE, "b1.project");
    x = fs_graph_add(g, x, in, FS_ACT_NONE, "b1.add");
    x = conv_bn(g, x, 8, 24, 1, 1, 0, FS_ACT_HSWISH, "b2.expand");
    x = conv_bn(g, x, 24, 24, 3, 2, 1, FS_ACT_HSWISH, "b2.dw");
    x = conv_bn(g, x, 24, 16, 1, 1, 0, FS_ACT_NONE, "b2.project");
    x = conv_bn(g, x, 16, 32, 1, 1, 0, FS_ACT_RELU6, "last");
    x = fs_graph_gap(g, x, "pool");
    fs_graph_dense(g, x, 1, W(32, 0.3f), keep(calloc(1, sizeof(float))), "head");
    built(g);
    return g;
}

/* Trains a fresh small network (weights from seed s) on 32 fixed images for `steps` full-batch
 * Adam steps; returns the last loss, the exported weights in *w. */
static double train_small(uint64_t s, int steps, fs_weights *w, int verbose) {
    fs_graph *g = small_mobilenet(s);
    fs_msg msg;
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    const int n = 32;
    seed(1000); /* the data are the same for every weight seed */
    float *x = keep(rnd((size_t)n * 24 * 24 * 3, 1, 0)), labels[32], z[32];
    for (int i = 0; i < n; i++) labels[i] = (float)((i * 7 + 3) % 5 < 2); /* no pattern to find */
    fs_opt_config cfg = fs_opt_config_default();
    cfg.lr = 0.01;
    fs_optim *opt;
    assert_int_equal(fs_optim_create_params(&cfg, fs_graph_params(g), fs_graph_param_count(g), &opt, &msg), FS_OK);
    double loss = 0;
    for (int step = 0; step < steps; step++) {
        assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
        assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_OK);
        if (verbose && (step % 25 == 0 || step == steps - 1)) printf("step %d: loss %.5f\n", step, loss);
        fs_optim_step(opt);
    }
    if (w) assert_int_equal(fs_graph_export(g, w, &msg), FS_OK);
    fs_optim_free(opt);
    fs_graph_free(g);
    return loss;
}

static void test_overfit_and_determinism(void **state) {
    (void)state;
    clock_t t0 = clock();
    fs_weights a = {0}, b = {0}, c = {0};
    double la = train_small(42, 150, &a, 1);
    printf("32 images, 150 steps: loss %.5f (%.1f s CPU)\n", la, (double)(clock() - t0) / CLOCKS_PER_SEC);
    assert_true(la < 0.02);
    double lb = train_small(42, 150, &b, 0);
    assert_true(la == lb);
    assert_int_equal(a.count, b.count);
    size_t scalars = 0;
    for (size_t i = 0; i < a.count; i++) {
        assert_string_equal(a.items[i].name, b.items[i].name);
        assert_memory_equal(a.items[i].data, b.items[i].data, sizeof(float) * (size_t)a.items[i].count);
        scalars += (size_t)a.items[i].count;
    }
    printf("two runs with seed 42: %zu tensors, %zu values, bit-identical\n", a.count, scalars);
    /* another seed starts elsewhere and ends elsewhere */
    train_small(43, 3, &c, 0);
    int differ = 0;
    for (size_t i = 0; i < c.count; i++)
        differ |= memcmp(a.items[i].data, c.items[i].data, sizeof(float) * (size_t)a.items[i].count) != 0;
    assert_true(differ);
    /* a checkpoint: imported into a fresh graph, exported again, the same values */
    fs_graph *g = small_mobilenet(99);
    fs_msg msg;
    fs_weights d = {0};
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    assert_int_equal(fs_graph_import(g, &a, &msg), FS_OK);
    assert_int_equal(fs_graph_export(g, &d, &msg), FS_OK);
    assert_int_equal(d.count, a.count);
    for (size_t i = 0; i < a.count; i++)
        assert_memory_equal(a.items[i].data, d.items[i].data, sizeof(float) * (size_t)a.items[i].count);
    fs_weights cut = {0}; /* one missing: refused by name, nothing changed */
    for (size_t i = 0; i < c.count; i++)
        if (strcmp(c.items[i].name, "b1.se.fc2.weight"))
            fs_weights_add(&cut, c.items[i].name, c.items[i].ndim, c.items[i].shape, c.items[i].data, &msg);
    assert_int_equal(fs_graph_import(g, &cut, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, "b1.se.fc2.weight"));
    fs_weights e = {0};
    assert_int_equal(fs_graph_export(g, &e, &msg), FS_OK);
    for (size_t i = 0; i < a.count; i++)
        assert_memory_equal(a.items[i].data, e.items[i].data, sizeof(float) * (size_t)a.items[i].count);
    fs_graph_free(g);
    fs_weights_free(&cut), fs_weights_free(&d), fs_weights_free(&e);
    fs_weights_free(&a), fs_weights_free(&b), fs_weights_free(&c);
    free_kept();
}

/* ---- MobileNetV2 in training form, from the ImageNet weights of the shared data ---- */

static int node_named(const fs_graph *g, const char *name) {
    for (int i = 0; i < fs_graph_nodes(g); i++) {
        fs_graph_node_info ni;
        fs_graph_node(g, i, &ni);
        if (!strcmp(ni.name, name)) return i;
    }
    fail_msg("no node %s", name);
    return -1;
}

/* n views of the cat picture at side x side (crops and mirror images), as network input */
static float *cat_batch(int side, int n, float scale, float zero) {
    char path[512];
    if (!fs_test_shared("imagenet-mobilenet/cat_720p.jpg", path, sizeof path)) return NULL;
    fs_image img, small;
    fs_msg msg;
    fs_image_limits lim = fs_image_limits_default();
    assert_int_equal(fs_image_load(path, &lim, &img, &msg), FS_OK);
    const int big = side * 2;
    assert_int_equal(fs_image_resize(&img, big, big, &small, &msg), FS_OK);
    float *x = malloc(sizeof(float) * (size_t)n * side * side * 3);
    assert_non_null(x);
    for (int b = 0; b < n; b++) {
        /* item b: a side x side window of the picture at twice the side, mirrored when b is odd */
        const int ox = b * side / 4 % side, oy = side / 2 - (b % 3) * side / 8;
        for (int y = 0; y < side; y++)
            for (int xx = 0; xx < side; xx++) {
                int sx = b % 2 ? side - 1 - xx : xx;
                const uint8_t *px = small.rgb + ((size_t)(oy + y) * big + ox + sx) * 3;
                for (int c = 0; c < 3; c++)
                    x[(((size_t)b * side + y) * side + xx) * 3 + c] = scale * ((float)px[c] - zero);
            }
    }
    fs_image_free(&img), fs_image_free(&small);
    return x;
}

static void test_mobilenet_train_form(void **state) {
    (void)state;
    char path[512];
    if (!fs_test_shared("imagenet-mobilenet/mobilenet_v2_1.0_224_quant.tflite", path, sizeof path))
        return;
    uint8_t *data;
    size_t len;
    fs_msg msg;
    fs_tflite_model *m;
    assert_int_equal(fs_read_file(path, (size_t)64 << 20, &data, &len, &msg), FS_OK);
    assert_int_equal(fs_tflite_parse(data, len, &m, &msg), FS_OK);
    fs_weights w = {0};
    assert_int_equal(fs_mobilenetv2_from_tflite(m, &w, &msg), FS_OK);
    const float scale = strtof(fs_weights_meta(&w, "input_scale"), NULL),
                zero = strtof(fs_weights_meta(&w, "input_zero_point"), NULL);
    const int side = 64, n = 4;
    float *x = cat_batch(side, n, scale, zero);
    if (!x) { /* the picture is absent: skipped */
        fs_weights_free(&w), fs_tflite_free(m), free(data);
        return;
    }
    fs_graph *ref, *g;
    assert_int_equal(fs_mobilenetv2_graph(&w, side, &ref, &msg), FS_OK);
    if (fs_mobilenetv2_train_graph(&w, side, 1, 7, &g, &msg)) fail_msg("%s", msg.text);
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    /* 52 convolutions, each with a batch norm of 4 tensors, and the head's 2 */
    assert_int_equal(fs_graph_param_count(g), 52 + 52 * 4 + 2);
    assert_non_null(fs_graph_param_find(g, "features.17.conv.3.running_var"));
    assert_non_null(fs_graph_param_find(g, "features.1.conv.2.weight"));
    fs_tparam *hw = fs_graph_param_find(g, "classifier.1.weight");
    assert_non_null(hw);
    assert_int_equal(hw->shape[0], 1), assert_int_equal(hw->shape[1], 1280);

    /* frozen statistics: the folded network's features, pooled */
    assert_int_equal(fs_graph_bn_freeze(g, "", 1), 52);
    float z[4];
    assert_int_equal(fs_graph_forward(ref, x, n, NULL, &msg), FS_OK);
    assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
    const float *pr = fs_graph_activation(ref, node_named(ref, "pool")),
                *pg = fs_graph_activation(g, node_named(g, "pool"));
    double worst = 0;
    for (int i = 0; i < n * 1280; i++) {
        double d = fabs(pr[i] - pg[i]) / (1 + fabs(pr[i]));
        worst = d > worst ? d : worst;
    }
    printf("training form, frozen batch norm: pooled features within %.2g of the folded graph\n", worst);
    assert_true(worst < 1e-4);

    /* calibrated: inference answers unchanged, and batch statistics on that batch agree */
    assert_int_equal(fs_graph_bn_calibrate(g, x, n, &msg), FS_OK);
    assert_int_equal(fs_graph_forward(g, x, n, NULL, &msg), FS_OK);
    pg = fs_graph_activation(g, node_named(g, "pool"));
    worst = 0;
    for (int i = 0; i < n * 1280; i++) worst = fmax(worst, fabs(pr[i] - pg[i]) / (1 + fabs(pr[i])));
    printf("calibrated, inference: within %.2g\n", worst);
    assert_true(worst < 1e-4);
    assert_int_equal(fs_graph_bn_freeze(g, "", 0), 52);
    assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
    pg = fs_graph_activation(g, node_named(g, "pool"));
    worst = 0;
    for (int i = 0; i < n * 1280; i++) worst = fmax(worst, fabs(pr[i] - pg[i]) / (1 + fabs(pr[i])));
    printf("calibrated, batch statistics: within %.2g\n", worst);
    assert_true(worst < 1e-3);

    /* the head alone: nothing in the backbone is reached */
    float labels[4] = {1, 0, 1, 0};
    double loss;
    assert_int_equal(fs_graph_freeze(g, "features.", 1), 52 + 52 * 2);
    assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
    assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_OK);
    assert_null(fs_graph_gradient(g, node_named(g, "features.18.1")));
    double gn = 0;
    for (size_t j = 0; j < hw->count; j++) gn += fabs(hw->grad[j]);
    assert_true(gn > 0);

    /* everything: a few Adam steps learn the four views' labels, the backbone slower */
    assert_int_equal(fs_graph_freeze(g, "", 0), 52 + 52 * 2 + 2);
    fs_opt_config cfg = fs_opt_config_default();
    cfg.lr = 1e-3;
    fs_optim *opt;
    assert_int_equal(fs_optim_create_params(&cfg, fs_graph_params(g), fs_graph_param_count(g), &opt, &msg), FS_OK);
    assert_int_equal(fs_optim_lr_scale(opt, "features.", 0.1), 52 * 5);
    fs_tparam *first = fs_graph_param_find(g, "features.0.0.weight");
    float w0 = first->data[0];
    double loss0 = 0;
    clock_t t0 = clock();
    for (int step = 0; step < 8; step++) {
        assert_int_equal(fs_graph_forward_train(g, x, n, z, &msg), FS_OK);
        assert_int_equal(fs_graph_backward_bce(g, labels, &loss, &msg), FS_OK);
        if (!step) loss0 = loss;
        fs_optim_step(opt);
    }
    printf("MobileNetV2 %dx%d, batch %d: loss %.4f -> %.4f in 8 steps (%.2f s CPU per step)\n",
           side, side, n, loss0, loss, (double)(clock() - t0) / CLOCKS_PER_SEC / 8);
    assert_true(loss < 0.5 * loss0);
    assert_true(first->data[0] != w0);
    /* folded back for inference: the trained weights give the training graph's inference answer */
    fs_weights trained = {0}, folded = {0};
    assert_int_equal(fs_graph_export(g, &trained, &msg), FS_OK);
    assert_int_equal(fs_weights_set_meta(&trained, "padding", "tf_same", &msg), FS_OK);
    assert_int_equal(fs_weights_set_meta(&trained, "bn_eps", "0.001", &msg), FS_OK);
    if (fs_mobilenetv2_fold(&trained, &folded, &msg)) fail_msg("%s", msg.text);
    fs_graph *inf;
    assert_int_equal(fs_mobilenetv2_graph(&folded, side, &inf, &msg), FS_OK);
    float zi[4], zt[4];
    assert_int_equal(fs_graph_forward(inf, x, n, zi, &msg), FS_OK);
    assert_int_equal(fs_graph_forward(g, x, n, zt, &msg), FS_OK);
    for (int i = 0; i < n; i++) {
        printf("view %d: logit %.5f folded, %.5f training form\n", i, (double)zi[i], (double)zt[i]);
        assert_true(fabsf(zi[i] - zt[i]) < 1e-3f * (1 + fabsf(zt[i])));
    }
    fs_graph_free(inf);
    fs_weights_free(&trained), fs_weights_free(&folded);
    fs_optim_free(opt);
    fs_graph_free(g), fs_graph_free(ref);
    free(x);
    fs_weights_free(&w);
    fs_tflite_free(m);
    free(data);
}

/* Central difference of L along direction u (count values) at v, step h (restores v). */
static double directional(fs_graph *g, float *v, const float *u, size_t count, double h,
                          const float *x, int n, const float *r, float *out) {
    float *keepv = malloc(sizeof(float) * count);
    assert_non_null(keepv);
    memcpy(keepv, v, sizeof(float) * count);
    for (size_t j = 0; j < count; j++) v[j] = keepv[j] + (float)(h * u[j]);
    const double lp = objective(g, x, n, r, out);
    for (size_t j = 0; j < count; j++) v[j] = keepv[j] - (float)(h * u[j]);
    const double lm = objective(g, x, n, r, out);
    memcpy(v, keepv, sizeof(float) * count);
    free(keepv);
    return (lp - lm) / (2 * h);
}

/* The whole ImageNet MobileNetV2 in training form at 32x32 (batch statistics, every block,
 * stride-2 SAME padding in depth). Element by element, finite differences through some 150
 * float32 ops are lost in rounding and ReLU6 kinks for the small gradients of early layers, so
 * each tensor is checked along one direction: u = its gradient / |gradient|, where the analytic
 * derivative is |gradient| and the loss moves by |gradient| x h, far above the noise. A wrong
 * sign, path or padding in part of a tensor changes the difference by a share of the whole.
 * Central differences with steps of 1e-3 and 3e-4 of the tensor's norm must each be within 5%
 * of the analytic value (measured: at most 3.3%, at the larger step). */
static void test_mobilenet_gradcheck(void **state) {
    (void)state;
    char path[512];
    if (!fs_test_shared("imagenet-mobilenet/mobilenet_v2_1.0_224_quant.tflite", path, sizeof path))
        return;
    uint8_t *data;
    size_t len;
    fs_msg msg;
    fs_tflite_model *m;
    assert_int_equal(fs_read_file(path, (size_t)64 << 20, &data, &len, &msg), FS_OK);
    assert_int_equal(fs_tflite_parse(data, len, &m, &msg), FS_OK);
    fs_weights w = {0};
    assert_int_equal(fs_mobilenetv2_from_tflite(m, &w, &msg), FS_OK);
    fs_graph *g;
    assert_int_equal(fs_mobilenetv2_train_graph(&w, 32, 1, 3, &g, &msg), FS_OK);
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
    const int n = 3;
    const size_t nin = (size_t)n * 32 * 32 * 3;
    seed(11);
    float *x = keep(rnd(nin, 1, 0)), r[3] = {1, -0.5f, 0.7f}, out[3];
    float *dx = keep(malloc(sizeof(float) * nin));
    assert_int_equal(fs_graph_bn_calibrate(g, x, n, &msg), FS_OK);
    objective(g, x, n, r, out);
    assert_int_equal(fs_graph_backward(g, r, dx, &msg), FS_OK);
    static const char *const names[] = {
        "features.0.0.weight",        "features.0.1.weight",        "features.2.conv.1.0.weight",
        "features.4.conv.0.0.weight", "features.7.conv.1.1.bias",   "features.14.conv.2.weight",
        "features.17.conv.3.weight",  "features.18.0.weight",       "classifier.1.weight",
        "input",
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const int is_input = !strcmp(names[i], "input");
        fs_tparam *p = is_input ? NULL : fs_graph_param_find(g, names[i]);
        assert_true(is_input || p);
        float *v = is_input ? x : p->data;
        const size_t count = is_input ? nin : p->count;
        const float *gr = is_input ? dx : p->grad;
        double gn = 0, wn = 0;
        for (size_t j = 0; j < count; j++) gn += (double)gr[j] * gr[j], wn += (double)v[j] * v[j];
        gn = sqrt(gn), wn = sqrt(wn);
        assert_true(gn > 0);
        float *u = keep(malloc(sizeof(float) * count));
        for (size_t j = 0; j < count; j++) u[j] = (float)(gr[j] / gn);
        const double d1 = directional(g, v, u, count, 1e-3 * wn, x, n, r, out);
        const double d2 = directional(g, v, u, count, 3e-4 * wn, x, n, r, out);
        const double e = fmax(fabs(d1 - gn), fabs(d2 - gn)) / gn;
        printf("%s: |gradient| %.5g, differences %.5g (h %.2g), %.5g (h %.2g)\n", names[i], gn, d1,
               1e-3 * wn, d2, 3e-4 * wn);
        if (e > 5e-2) fail_msg("%s: along the gradient %.5g analytic, %.5g and %.5g", names[i], gn, d1, d2);
        worst = fmax(worst, e);
    }
    printf("MobileNetV2 32x32, %zu tensors along their gradients: worst relative error %.2g\n",
           sizeof names / sizeof names[0], worst);
    fs_graph_free(g);
    fs_weights_free(&w);
    fs_tflite_free(m);
    free(data);
    free_kept();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_grad),
        cmocka_unit_test(test_dwconv_grad),
        cmocka_unit_test(test_add_gap_dense_grad),
        cmocka_unit_test(test_bn_grad),
        cmocka_unit_test(test_bn_statistics),
        cmocka_unit_test(test_se),
        cmocka_unit_test(test_bce),
        cmocka_unit_test(test_freeze_and_groups),
        cmocka_unit_test(test_train_contract),
        cmocka_unit_test(test_overfit_and_determinism),
        cmocka_unit_test(test_mobilenet_train_form),
        cmocka_unit_test(test_mobilenet_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
