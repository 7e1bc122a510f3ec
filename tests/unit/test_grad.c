/* Unit tests of the training layers: every layer's backward pass against central finite
 * differences (loss = sum(out * r) for a fixed random r, accumulated in double), the forward
 * pass of convolution and max pooling against naive double-precision references with
 * TensorFlow 'same' padding, the losses, and the AVX2 SGEMM against the portable one. */
#include "fs_test.h"

#include "fakescope/train.h"

#include <math.h>

static uint64_t rng_state = 12345;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}
static void fill(float *x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * urand());
}

typedef struct {
    fs_tnet *net;
    int batch, training, in_size, out_size;
    float *x, *r;
} gcase;

/* Which activations are positive, over every node: a perturbation that flips one crossed a
 * kink (ReLU, LeakyReLU) where the finite difference does not measure the derivative. */
static uint64_t kink_signature(gcase *g) {
    uint64_t h = 1469598103934665603ull;
    for (int id = 1; id < fs_tnet_node_count(g->net); id++) {
        const char *kind = fs_tnet_node_kind(g->net, id);
        if (strcmp(kind, "conv+relu") && strcmp(kind, "relu") && strcmp(kind, "leaky")) continue;
        int hh, ww, cc;
        fs_tnet_node_shape(g->net, id, &hh, &ww, &cc);
        const float *o = fs_tnet_node_output(g->net, id);
        for (size_t i = 0; i < (size_t)g->batch * hh * ww * cc; i++) h = (h ^ (o[i] > 0.0f)) * 1099511628211ull;
    }
    return h;
}

static uint64_t last_sig;

static double loss_of(gcase *g) {
    const float *out;
    fs_msg msg;
    assert_int_equal(fs_tnet_forward(g->net, g->x, g->batch, g->training, &out, &msg), FS_OK);
    last_sig = kink_signature(g);
    double s = 0.0;
    for (int i = 0; i < g->batch * g->out_size; i++) s += (double)out[i] * g->r[i];
    return s;
}

static size_t n_checked, n_kinks;

/* |analytic - numeric| <= atol + rtol * |numeric| for every checked coordinate whose two
 * perturbations kept the pattern of positive activations (the others are counted). */
static void check_one(const char *what, size_t idx, double a, double n, double atol, double rtol,
                      int kink) {
    n_checked++;
    if (kink) {
        n_kinks++;
        return;
    }
    if (getenv("GRAD_VERBOSE")) printf("%s[%zu] %g %g\n", what, idx, a, n);
    if (fabs(a - n) > atol + rtol * fabs(n)) {
        print_error("%s[%zu]: analytic %.6g numeric %.6g\n", what, idx, a, n);
        fail();
    }
}

/* Checks the gradients of at most max_coords coordinates of every parameter and of the input. */
static void gradcheck(gcase *g, double h, double atol, double rtol, size_t max_coords) {
    fs_tnet *net = g->net;
    const size_t nin = (size_t)g->batch * g->in_size;
    float *dx = malloc(nin * sizeof(float));
    float **grads = calloc(fs_tnet_param_count(net), sizeof(float *));
    (void)loss_of(g);
    const uint64_t base = last_sig;
    n_checked = n_kinks = 0;
    fs_tnet_backward(net, g->r, dx);
    for (size_t i = 0; i < fs_tnet_param_count(net); i++) {
        fs_tparam *p = fs_tnet_param(net, i);
        if (!p->grad) continue;
        grads[i] = malloc(p->count * sizeof(float));
        memcpy(grads[i], p->grad, p->count * sizeof(float));
    }
    for (size_t i = 0; i < fs_tnet_param_count(net); i++) {
        fs_tparam *p = fs_tnet_param(net, i);
        if (!p->grad) continue;
        const size_t step = p->count > max_coords ? p->count / max_coords + 1 : 1;
        for (size_t j = 0; j < p->count; j += step) {
            const float keep = p->data[j];
            p->data[j] = keep + (float)h;
            const double up = loss_of(g);
            const uint64_t s1 = last_sig;
            p->data[j] = keep - (float)h;
            const double down = loss_of(g);
            p->data[j] = keep;
            check_one(p->name, j, grads[i][j], (up - down) / (2 * h), atol, rtol,
                      s1 != base || last_sig != base);
        }
        free(grads[i]);
    }
    const size_t step = nin > max_coords ? nin / max_coords + 1 : 1;
    for (size_t j = 0; j < nin; j += step) {
        const float keep = g->x[j];
        g->x[j] = keep + (float)h;
        const double up = loss_of(g);
        const uint64_t s1 = last_sig;
        g->x[j] = keep - (float)h;
        const double down = loss_of(g);
        g->x[j] = keep;
        check_one("input", j, dx[j], (up - down) / (2 * h), atol, rtol,
                  s1 != base || last_sig != base);
    }
    free(grads), free(dx);
    /* kinks are rare: a broken mask would show as many of them */
    if (getenv("GRAD_VERBOSE")) printf("kinks %zu of %zu\n", n_kinks, n_checked);
    assert_true(n_kinks * 10 <= n_checked);
}

static void setup_case(gcase *g, fs_tnet *net, int batch, int training) {
    fs_msg msg;
    assert_int_equal(fs_tnet_finish(net, &msg), FS_OK);
    int h, w, c;
    fs_tnet_node_shape(net, 0, &h, &w, &c);
    g->net = net, g->batch = batch, g->training = training;
    g->in_size = h * w * c;
    g->out_size = fs_tnet_output_size(net);
    g->x = malloc((size_t)batch * g->in_size * sizeof(float));
    g->r = malloc((size_t)batch * g->out_size * sizeof(float));
    fill(g->x, (size_t)batch * g->in_size, -1, 1);
    fill(g->r, (size_t)batch * g->out_size, -1, 1);
    /* parameters away from symmetric values so no gradient vanishes by accident */
    for (size_t i = 0; i < fs_tnet_param_count(net); i++) {
        fs_tparam *p = fs_tnet_param(net, i);
        if (strstr(p->name, "running_var")) fill(p->data, p->count, 0.5, 1.5);
        else if (p->ndim == 1) fill(p->data, p->count, -0.5, 0.5);
    }
}

static void free_case(gcase *g) {
    fs_tnet_free(g->net);
    free(g->x), free(g->r);
}

static fs_tnet *new_net(int h, int w, int c, int threads) {
    fs_tnet *net;
    fs_msg msg;
    assert_int_equal(fs_tnet_create(h, w, c, threads, 7, &net, &msg), FS_OK);
    return net;
}

/* ---- naive references ---- */

static int same_out(int in, int s) { return (in + s - 1) / s; }
static int pad_before(int in, int k, int s, int d) {
    int t = (same_out(in, s) - 1) * s + (k - 1) * d + 1 - in;
    return t > 0 ? t / 2 : 0;
}

static void test_conv_forward_reference(void **state) {
    (void)state;
    const int cfg[][6] = {/* h, w, k, stride, dil, cout */
                          {7, 9, 3, 1, 1, 4}, {8, 7, 3, 2, 1, 3}, {9, 9, 3, 1, 2, 2},
                          {10, 7, 3, 1, 3, 5}, {8, 8, 4, 2, 1, 3}, {6, 7, 5, 1, 1, 17},
                          {5, 6, 1, 1, 1, 3}, {7, 7, 2, 3, 1, 2}};
    for (size_t ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
        const int h = cfg[ci][0], w = cfg[ci][1], k = cfg[ci][2], s = cfg[ci][3], d = cfg[ci][4];
        const int co = cfg[ci][5], cin = 3, batch = 2;
        fs_tnet *net = new_net(h, w, cin, 2);
        assert_int_equal(fs_tnet_conv(net, 0, "c", co, k, s, d, 0), 1);
        gcase g;
        setup_case(&g, net, batch, 1);
        const float *out;
        fs_msg msg;
        assert_int_equal(fs_tnet_forward(net, g.x, batch, 1, &out, &msg), FS_OK);
        const fs_tparam *wp = fs_tnet_param_find(net, "c.weight"), *bp = fs_tnet_param_find(net, "c.bias");
        assert_non_null(wp);
        /* export layout [out][in][kh][kw], as a PyTorch user would read it */
        fs_weights wts = {0};
        assert_int_equal(fs_tnet_export(net, &wts, &msg), FS_OK);
        const float *W = fs_weights_get(&wts, "c.weight")->data;
        const int oh = same_out(h, s), ow = same_out(w, s);
        int hh, ww, cc;
        fs_tnet_node_shape(net, 1, &hh, &ww, &cc);
        assert_int_equal(hh, oh), assert_int_equal(ww, ow), assert_int_equal(cc, co);
        const int pt = pad_before(h, k, s, d), pl = pad_before(w, k, s, d);
        for (int b = 0; b < batch; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int o = 0; o < co; o++) {
                        double acc = bp->data[o];
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                                for (int i = 0; i < cin; i++) {
                                    const int iy = oy * s - pt + ky * d, ix = ox * s - pl + kx * d;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    acc += (double)W[((o * cin + i) * k + ky) * k + kx] *
                                           g.x[(((size_t)b * h + iy) * w + ix) * cin + i];
                                }
                        const float got = out[(((size_t)b * oh + oy) * ow + ox) * co + o];
                        assert_float_equal(got, acc, 1e-5);
                    }
        fs_weights_free(&wts);
        free_case(&g);
    }
}

static void test_pool_forward_reference(void **state) {
    (void)state;
    const int cfg[][3] = {{7, 9, 2}, {5, 5, 4}, {9, 6, 4}, {8, 8, 2}, {3, 2, 4}};
    for (size_t ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
        const int h = cfg[ci][0], w = cfg[ci][1], p = cfg[ci][2], c = 3;
        fs_tnet *net = new_net(h, w, c, 1);
        assert_int_equal(fs_tnet_maxpool(net, 0, p), 1);
        gcase g;
        setup_case(&g, net, 2, 1);
        const float *out;
        fs_msg msg;
        assert_int_equal(fs_tnet_forward(net, g.x, 2, 1, &out, &msg), FS_OK);
        const int oh = same_out(h, p), ow = same_out(w, p);
        const int pt = pad_before(h, p, p, 1), pl = pad_before(w, p, p, 1);
        for (int b = 0; b < 2; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int ch = 0; ch < c; ch++) {
                        float best = -INFINITY;
                        for (int y = oy * p - pt; y < oy * p - pt + p; y++)
                            for (int x = ox * p - pl; x < ox * p - pl + p; x++)
                                if (y >= 0 && y < h && x >= 0 && x < w) {
                                    float v = g.x[(((size_t)b * h + y) * w + x) * c + ch];
                                    if (v > best) best = v;
                                }
                        assert_true(out[(((size_t)b * oh + oy) * ow + ox) * c + ch] == best);
                    }
        free_case(&g);
    }
}

/* ---- gradient checks, layer by layer ---- */

static void test_grad_conv(void **state) {
    (void)state;
    const int cfg[][7] = {/* h, w, k, stride, dil, cout, relu */
                          {6, 7, 3, 1, 1, 4, 0}, {7, 8, 3, 2, 1, 3, 0}, {8, 7, 3, 1, 2, 2, 0},
                          {9, 9, 3, 1, 3, 3, 0}, {6, 6, 4, 1, 1, 2, 0}, {7, 6, 4, 2, 1, 3, 0},
                          {5, 6, 5, 1, 1, 18, 0}, {5, 5, 1, 1, 1, 3, 0}, {6, 5, 3, 1, 1, 3, 1},
                          {5, 7, 1, 1, 1, 9, 1}};
    for (size_t ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
        fs_tnet *net = new_net(cfg[ci][0], cfg[ci][1], 3, 2);
        fs_tnet_conv(net, 0, "c", cfg[ci][5], cfg[ci][2], cfg[ci][3], cfg[ci][4], cfg[ci][6]);
        gcase g;
        setup_case(&g, net, 3, 1);
        /* a linear layer takes a large h; with the ReLU, a small one so few outputs cross 0 */
        gradcheck(&g, cfg[ci][6] ? 1e-3 : 1e-2, 2e-3, 1e-2, 400);
        free_case(&g);
    }
}

static void test_grad_bn(void **state) {
    (void)state;
    for (int training = 0; training <= 1; training++) {
        fs_tnet *net = new_net(4, 5, 3, 2);
        fs_tnet_bn(net, 0, "bn");
        gcase g;
        setup_case(&g, net, 3, training);
        gradcheck(&g, 1e-2, 2e-3, 2e-2, 1000);
        free_case(&g);
    }
}

static void test_bn_statistics(void **state) {
    (void)state;
    fs_tnet *net = new_net(3, 3, 2, 2);
    fs_tnet_bn(net, 0, "bn");
    gcase g;
    setup_case(&g, net, 4, 1);
    fs_tparam *gamma = fs_tnet_param_find(net, "bn.weight"), *beta = fs_tnet_param_find(net, "bn.bias");
    fs_tparam *rm = fs_tnet_param_find(net, "bn.running_mean"), *rv = fs_tnet_param_find(net, "bn.running_var");
    const float rm0[2] = {rm->data[0], rm->data[1]}, rv0[2] = {rv->data[0], rv->data[1]};
    const float *out;
    fs_msg msg;
    assert_int_equal(fs_tnet_forward(net, g.x, 4, 1, &out, &msg), FS_OK);
    for (int ch = 0; ch < 2; ch++) {
        double s = 0, ss = 0, os = 0, oss = 0;
        const int m = 4 * 9;
        for (int i = 0; i < m; i++) {
            const double v = g.x[i * 2 + ch], o = (out[i * 2 + ch] - beta->data[ch]) / gamma->data[ch];
            s += v, ss += v * v, os += o, oss += o * o;
        }
        const double mean = s / m, var = ss / m - mean * mean;
        assert_float_equal(os / m, 0.0, 1e-5); /* normalised: zero mean, variance var/(var+eps) */
        assert_float_equal(oss / m, var / (var + 1e-3), 1e-4);
        assert_float_equal(rm->data[ch], 0.99 * rm0[ch] + 0.01 * mean, 1e-6);
        assert_float_equal(rv->data[ch], 0.99 * rv0[ch] + 0.01 * var * m / (m - 1), 1e-6);
    }
    /* inference mode uses the running averages and leaves them alone */
    const float keep = rm->data[0];
    assert_int_equal(fs_tnet_forward(net, g.x, 4, 0, &out, &msg), FS_OK);
    assert_true(rm->data[0] == keep);
    const double want = gamma->data[0] * (g.x[0] - rm->data[0]) / sqrt(rv->data[0] + 1e-3) + beta->data[0];
    assert_float_equal(out[0], want, 1e-5);
    free_case(&g);
}

static void test_grad_pool(void **state) {
    (void)state;
    const int cfg[][3] = {{7, 9, 2}, {5, 5, 4}, {9, 6, 4}, {6, 6, 2}};
    for (size_t ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
        fs_tnet *net = new_net(cfg[ci][0], cfg[ci][1], 2, 2);
        fs_tnet_maxpool(net, 0, cfg[ci][2]);
        gcase g;
        setup_case(&g, net, 2, 1);
        /* h far below the spacing of random values, so no perturbation changes a maximum */
        gradcheck(&g, 1e-4, 1e-3, 1e-2, 1000);
        free_case(&g);
    }
}

static void test_grad_dense_leaky_flatten(void **state) {
    (void)state;
    fs_tnet *net = new_net(3, 4, 2, 2);
    int x = fs_tnet_flatten(net, 0);
    x = fs_tnet_dense(net, x, "d1", 5);
    x = fs_tnet_leaky(net, x, 0.1f);
    fs_tnet_dense(net, x, "d2", 2);
    gcase g;
    setup_case(&g, net, 3, 1);
    gradcheck(&g, 1e-3, 1e-3, 1e-2, 1000);
    free_case(&g);
    /* relu alone */
    net = new_net(3, 3, 2, 1);
    fs_tnet_relu(net, 0);
    setup_case(&g, net, 2, 1);
    gradcheck(&g, 1e-3, 1e-3, 1e-2, 1000);
    free_case(&g);
}

static void test_grad_dropout(void **state) {
    (void)state;
    fs_tnet *net = new_net(4, 4, 3, 2);
    int x = fs_tnet_dropout(net, 0, 0.5f);
    fs_tnet_dense(net, fs_tnet_flatten(net, x), "d", 3);
    gcase g;
    setup_case(&g, net, 3, 1);
    fs_tnet_set_step(net, 5); /* the mask is fixed by the step: the same for every forward */
    gradcheck(&g, 1e-3, 1e-3, 1e-2, 1000);
    /* inverted dropout: kept values scaled by 2, about half dropped, mask changes with the step */
    const float *out;
    fs_msg msg;
    assert_int_equal(fs_tnet_forward(net, g.x, 3, 1, &out, &msg), FS_OK);
    const float *d = fs_tnet_node_output(net, 1);
    int zeros = 0;
    float first[48];
    for (int i = 0; i < 48; i++) {
        first[i] = d[i];
        if (d[i] == 0.0f) zeros++;
        else assert_float_equal(d[i], 2.0f * g.x[i], 1e-6);
    }
    assert_in_range(zeros, 12, 36);
    fs_tnet_set_step(net, 6);
    assert_int_equal(fs_tnet_forward(net, g.x, 3, 1, &out, &msg), FS_OK);
    assert_memory_not_equal(first, fs_tnet_node_output(net, 1), sizeof first);
    /* inference: identity */
    assert_int_equal(fs_tnet_forward(net, g.x, 3, 0, &out, &msg), FS_OK);
    assert_memory_equal(fs_tnet_node_output(net, 1), g.x, 48 * sizeof(float));
    free_case(&g);
}

static void test_grad_concat(void **state) {
    (void)state;
    fs_tnet *net = new_net(5, 4, 2, 2);
    int a = fs_tnet_conv(net, 0, "a", 2, 1, 1, 1, 0);
    int b = fs_tnet_conv(net, 0, "b", 3, 3, 1, 2, 0);
    int br[3] = {a, b, 0};
    int c = fs_tnet_concat(net, br, 3);
    int h, w, ch;
    fs_tnet_node_shape(net, c, &h, &w, &ch);
    assert_int_equal(ch, 7);
    gcase g;
    setup_case(&g, net, 2, 1);
    gradcheck(&g, 1e-2, 2e-3, 1e-2, 1000);
    const float *out;
    fs_msg msg;
    assert_int_equal(fs_tnet_forward(net, g.x, 2, 1, &out, &msg), FS_OK);
    /* the last two channels are the input itself */
    for (int px = 0; px < 2 * 20; px++) {
        assert_true(out[px * 7 + 5] == g.x[px * 2]);
        assert_true(out[px * 7 + 6] == g.x[px * 2 + 1]);
    }
    free_case(&g);
}

/* A whole network with every layer type, in training mode (batch norm on batch statistics,
 * dropout with the step's fixed mask). */
static void test_grad_network(void **state) {
    (void)state;
    fs_tnet *net = new_net(12, 12, 3, 2);
    int x = fs_tnet_conv(net, 0, "c1", 4, 3, 1, 1, 1);
    int y = fs_tnet_conv(net, 0, "c1b", 2, 3, 1, 3, 1);
    int br[2] = {x, y};
    x = fs_tnet_concat(net, br, 2);
    x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn1"), 2);
    x = fs_tnet_conv(net, x, "c2", 4, 5, 2, 1, 1);
    x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn2"), 2);
    x = fs_tnet_dropout(net, fs_tnet_flatten(net, x), 0.25f);
    x = fs_tnet_leaky(net, fs_tnet_dense(net, x, "d1", 6), 0.1f);
    fs_tnet_dense(net, x, "d2", 1);
    gcase g;
    setup_case(&g, net, 4, 1);
    /* the sigmoid-BCE loss on top: d loss / d logit seeds the backward pass */
    const float *out;
    fs_msg msg;
    assert_int_equal(fs_tnet_forward(net, g.x, 4, 1, &out, &msg), FS_OK);
    float y4[4] = {0, 1, 1, 0}, dz[4];
    fs_loss_bce_logits(out, y4, 4, dz);
    memcpy(g.r, dz, sizeof dz); /* a linear function with the BCE gradient's weights */
    gradcheck(&g, 1e-3, 1e-4, 3e-2, 150);
    free_case(&g);
}

static void test_losses(void **state) {
    (void)state;
    const float z[6] = {-3.0f, -0.5f, 0.0f, 0.7f, 4.0f, 2.0f};
    const float y[6] = {0, 1, 1, 0, 1, 0.3f};
    float dz[6], dp[6];
    double l = fs_loss_bce_logits(z, y, 6, dz);
    double want = 0;
    for (int i = 0; i < 6; i++) {
        const double p = 1 / (1 + exp(-(double)z[i]));
        want += -(y[i] * log(p) + (1 - y[i]) * log(1 - p));
        assert_float_equal(dz[i], (p - y[i]) / 6, 1e-7);
    }
    assert_float_equal(l, want / 6, 1e-9);
    /* huge logits stay finite: log(1+e^1000) is 1000 */
    const float big[2] = {1000.0f, -1000.0f}, yy[2] = {0, 0};
    l = fs_loss_bce_logits(big, yy, 2, dz);
    assert_float_equal(l, 500.0, 1e-9);
    assert_float_equal(dz[0], 0.5, 1e-9);
    assert_float_equal(dz[1], 0.0, 1e-9);
    /* numeric derivative of both losses */
    float zz[6];
    memcpy(zz, z, sizeof zz);
    fs_loss_bce_logits(z, y, 6, dz);
    l = fs_loss_mse(z, y, 6, dp);
    for (int i = 0; i < 6; i++) {
        const float h = 1e-2f;
        zz[i] = z[i] + h;
        const double zu = zz[i]; /* the float step actually taken */
        double up = fs_loss_bce_logits(zz, y, 6, NULL), mup = fs_loss_mse(zz, y, 6, NULL);
        zz[i] = z[i] - h;
        const double zd = zz[i];
        double dn = fs_loss_bce_logits(zz, y, 6, NULL), mdn = fs_loss_mse(zz, y, 6, NULL);
        zz[i] = z[i];
        assert_float_equal(dz[i], (up - dn) / (zu - zd), 1e-5);
        assert_float_equal(dp[i], (mup - mdn) / (zu - zd), 1e-5);
    }
    double m = 0;
    for (int i = 0; i < 6; i++) m += ((double)z[i] - y[i]) * (z[i] - y[i]);
    assert_float_equal(l, m / 6, 1e-9);
}

static void test_sgemm_paths(void **state) {
    (void)state;
    const int shapes[][3] = {{1, 1, 1}, {7, 8, 27}, {13, 16, 200}, {6, 4, 5}, {25, 3, 300},
                             {400, 16, 600}, {9, 17, 11}, {37, 1, 9}, {5, 33, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta <= 1; ta++)
            for (int bi = 0; bi < 3; bi++) {
                const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                const int lda = (ta ? m : k) + 3, ldb = n + 2, ldc = n + 1;
                const float beta = bi == 0 ? 0.0f : bi == 1 ? 1.0f : 0.5f;
                const size_t asz = (size_t)(ta ? k : m) * lda, bsz = (size_t)k * ldb, csz = (size_t)m * ldc;
                float *a = malloc(asz * 4), *b = malloc(bsz * 4), *c1 = malloc(csz * 4), *c2 = malloc(csz * 4);
                fill(a, asz, -1, 1), fill(b, bsz, -1, 1), fill(c1, csz, -1, 1);
                memcpy(c2, c1, csz * 4);
                fs_sgemm_portable(ta, m, n, k, a, lda, b, ldb, beta, c1, ldc);
                fs_sgemm(ta, m, n, k, a, lda, b, ldb, beta, c2, ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < ldc; j++) {
                        const size_t o = (size_t)i * ldc + j;
                        if (j >= n) { /* padding columns are untouched */
                            assert_true(c1[o] == c2[o]);
                            continue;
                        }
                        double want = beta * (double)c2[o] * 0; /* reference below */
                        (void)want;
                        assert_float_equal(c1[o], c2[o], 1e-4 * (1 + sqrt((double)k)));
                    }
                /* both against double precision */
                fill(c1, csz, -1, 1);
                memcpy(c2, c1, csz * 4);
                fs_sgemm(ta, m, n, k, a, lda, b, ldb, beta, c2, ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double acc = beta * (double)c1[(size_t)i * ldc + j];
                        for (int p = 0; p < k; p++)
                            acc += (double)(ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) * b[(size_t)p * ldb + j];
                        assert_float_equal(c2[(size_t)i * ldc + j], acc, 1e-4 * (1 + sqrt((double)k)));
                    }
                free(a), free(b), free(c1), free(c2);
            }
    printf("sgemm path: %s\n", fs_sgemm_uses_avx2() ? "avx2" : "portable");
}

static void test_build_errors(void **state) {
    (void)state;
    fs_msg msg;
    fs_tnet *net = new_net(8, 8, 3, 1);
    fs_tnet_conv(net, 0, "c", 4, 3, 1, 1, 1);
    assert_int_equal(fs_tnet_conv(net, 1, "c", 4, 3, 1, 1, 1), -1); /* name reused */
    assert_int_equal(fs_tnet_finish(net, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "c.weight"));
    fs_tnet_free(net);
    net = new_net(8, 8, 3, 1);
    assert_int_equal(fs_tnet_relu(net, 5), -1);
    assert_int_equal(fs_tnet_finish(net, &msg), FS_ERR_INVALID);
    fs_tnet_free(net);
    net = new_net(8, 8, 3, 1);
    assert_int_equal(fs_tnet_finish(net, &msg), FS_ERR_INVALID); /* no layers */
    fs_tnet_free(net);
    assert_int_equal(fs_tnet_create(0, 8, 3, 1, 0, &net, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_tnet_create(8, 8, 3, 0, 0, &net, &msg), FS_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgemm_paths),
        cmocka_unit_test(test_conv_forward_reference),
        cmocka_unit_test(test_pool_forward_reference),
        cmocka_unit_test(test_grad_conv),
        cmocka_unit_test(test_grad_bn),
        cmocka_unit_test(test_bn_statistics),
        cmocka_unit_test(test_grad_pool),
        cmocka_unit_test(test_grad_dense_leaky_flatten),
        cmocka_unit_test(test_grad_dropout),
        cmocka_unit_test(test_grad_concat),
        cmocka_unit_test(test_grad_network),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_build_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
