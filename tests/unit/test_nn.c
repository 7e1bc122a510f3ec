/* Layers on small hand-checked cases, the fused convolution against the reference layers on
 * every shape the two MesoNets use (both kernel paths), and the thread pool. */
#include "fs_test.h"
#include "fakescope/nn.h"

#include <math.h>
#include <stdatomic.h>

static fs_tensor tensor(int n, int h, int w, int c) {
    fs_tensor t;
    assert_int_equal(fs_tensor_alloc(&t, n, h, w, c, NULL), FS_OK);
    return t;
}

static void fill_iota(fs_tensor *t) {
    for (size_t i = 0; i < fs_tensor_count(t); i++) t->data[i] = (float)(i + 1);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* xorshift, uniform in [-1, 1) */
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

static void same_padding_arithmetic(void **state) {
    (void)state;
    assert_int_equal(fs_nn_same_out(5, 1), 5);
    assert_int_equal(fs_nn_same_out(5, 2), 3);
    assert_int_equal(fs_nn_same_out(256, 4), 64);
    assert_int_equal(fs_nn_same_pad_total(5, 3, 1, 1), 2);
    assert_int_equal(fs_nn_same_pad_before(5, 3, 1, 1), 1);
    assert_int_equal(fs_nn_same_pad_total(5, 4, 1, 1), 3); /* even kernel: 1 before, 2 after */
    assert_int_equal(fs_nn_same_pad_before(5, 4, 1, 1), 1);
    assert_int_equal(fs_nn_same_pad_total(6, 3, 2, 1), 1); /* stride 2: 0 before, 1 after */
    assert_int_equal(fs_nn_same_pad_before(6, 3, 2, 1), 0);
    assert_int_equal(fs_nn_same_pad_total(5, 3, 2, 1), 2);
    assert_int_equal(fs_nn_same_pad_total(9, 3, 1, 3), 6); /* dilation 3 */
    assert_int_equal(fs_nn_same_pad_total(4, 1, 1, 1), 0);
    assert_int_equal(fs_nn_same_pad_total(5, 2, 2, 1), 1); /* pooling 2/2 on odd size */
    assert_int_equal(fs_nn_same_pad_before(5, 4, 4, 1), 1);
}

/* Single-channel conv of in (h x w) with kernel ker (k x k), checked against a hand sum. */
static float hand_conv(const fs_tensor *in, const float *ker, int k, int s, int d, int oy, int ox) {
    int pt = fs_nn_same_pad_before(in->h, k, s, d), pl = fs_nn_same_pad_before(in->w, k, s, d);
    float acc = 0;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int y = oy * s - pt + ky * d, x = ox * s - pl + kx * d;
            if (y >= 0 && y < in->h && x >= 0 && x < in->w) acc += ker[ky * k + kx] * FS_AT(in, 0, y, x, 0);
        }
    return acc;
}

static void conv_same_cases(void **state) {
    (void)state;
    fs_tensor in = tensor(1, 5, 5, 1);
    fill_iota(&in); /* in(y, x) = 5y + x + 1 */
    float ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    /* 3x3 box sum, pad 1 each side: corner (0,0) = 1+2+6+7 */
    fs_conv2d p = {.cin = 1, .cout = 1, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
                   .dil_h = 1, .dil_w = 1, .weight = ones};
    fs_tensor out = tensor(1, 5, 5, 1);
    fs_nn_conv2d(&p, &in, &out);
    assert_float_equal(FS_AT(&out, 0, 0, 0, 0), 1 + 2 + 6 + 7, 0);
    assert_float_equal(FS_AT(&out, 0, 2, 2, 0), 9 * 13, 0);
    assert_float_equal(FS_AT(&out, 0, 4, 4, 0), 19 + 20 + 24 + 25, 0);
    /* even kernel 2x2: pad 0 before, 1 after, so (4,4) sees only in(4,4) = 25 */
    p.kh = p.kw = 2;
    fs_nn_conv2d(&p, &in, &out);
    assert_float_equal(FS_AT(&out, 0, 0, 0, 0), 1 + 2 + 6 + 7, 0);
    assert_float_equal(FS_AT(&out, 0, 4, 4, 0), 25, 0);
    assert_float_equal(FS_AT(&out, 0, 4, 0, 0), 21 + 22, 0);
    /* even kernel 4x4: pad 1 before, 2 after */
    p.kh = p.kw = 4;
    fs_nn_conv2d(&p, &in, &out);
    assert_float_equal(FS_AT(&out, 0, 0, 0, 0), 1 + 2 + 3 + 6 + 7 + 8 + 11 + 12 + 13, 0);
    /* stride 2 on 5x5 with k 3: out 3x3, pad 1 before: (2,2) = in rows 3..4 x cols 3..4 */
    p.kh = p.kw = 3, p.stride_h = p.stride_w = 2;
    fs_tensor o3 = tensor(1, 3, 3, 1);
    int h, w;
    fs_nn_conv2d_shape(&p, &in, &h, &w);
    assert_int_equal(h, 3), assert_int_equal(w, 3);
    fs_nn_conv2d(&p, &in, &o3);
    assert_float_equal(FS_AT(&o3, 0, 0, 0, 0), 1 + 2 + 6 + 7, 0);
    assert_float_equal(FS_AT(&o3, 0, 2, 2, 0), 19 + 20 + 24 + 25, 0);
    assert_float_equal(FS_AT(&o3, 0, 1, 1, 0), 7 + 8 + 9 + 12 + 13 + 14 + 17 + 18 + 19, 0);
    /* stride 2 on 6x6: pad 0 before, 1 after */
    fs_tensor in6 = tensor(1, 6, 6, 1);
    fill_iota(&in6);
    fs_nn_conv2d(&p, &in6, &o3);
    assert_float_equal(FS_AT(&o3, 0, 0, 0, 0), 1 + 2 + 3 + 7 + 8 + 9 + 13 + 14 + 15, 0);
    assert_float_equal(FS_AT(&o3, 0, 2, 2, 0), 29 + 30 + 35 + 36, 0);
    /* dilation 2 and 3 with a non-symmetric kernel, against the hand sum */
    float ker[9] = {1, -2, 3, -4, 5, -6, 7, -8, 9};
    fs_tensor in7 = tensor(1, 7, 7, 1), o7 = tensor(1, 7, 7, 1);
    fill_iota(&in7);
    for (int d = 2; d <= 3; d++) {
        p = (fs_conv2d){.cin = 1, .cout = 1, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
                        .dil_h = d, .dil_w = d, .weight = ker};
        fs_nn_conv2d(&p, &in7, &o7);
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 7; x++)
                assert_float_equal(FS_AT(&o7, 0, y, x, 0), hand_conv(&in7, ker, 3, 1, d, y, x), 1e-4);
    }
    /* dilation 2 at the centre of 7x7 reads rows/cols 1, 3, 5 */
    p.dil_h = p.dil_w = 2;
    fs_nn_conv2d(&p, &in7, &o7);
    float want = 0;
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) want += ker[ky * 3 + kx] * (float)((1 + 2 * ky) * 7 + 1 + 2 * kx + 1);
    assert_float_equal(FS_AT(&o7, 0, 3, 3, 0), want, 1e-4);
    /* bias and channel mixing: cin 2, cout 2 with 1x1 kernel [[1,2],[3,4]] */
    fs_tensor in2 = tensor(1, 1, 1, 2), o2 = tensor(1, 1, 1, 2);
    in2.data[0] = 10, in2.data[1] = 100;
    float w2[4] = {1, 2, 3, 4}, b2[2] = {0.5f, -0.5f};
    p = (fs_conv2d){.cin = 2, .cout = 2, .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1,
                    .dil_h = 1, .dil_w = 1, .weight = w2, .bias = b2};
    fs_nn_conv2d(&p, &in2, &o2);
    assert_float_equal(o2.data[0], 210.5f, 0);
    assert_float_equal(o2.data[1], 429.5f, 0);
    fs_tensor *all[] = {&in, &out, &o3, &in6, &in7, &o7, &in2, &o2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) fs_tensor_free(all[i]);
}

static void maxpool_odd_sizes(void **state) {
    (void)state;
    fs_tensor in = tensor(1, 5, 5, 1);
    for (int i = 0; i < 25; i++) in.data[i] = -(float)(i + 1); /* all negative: padding must not win */
    fs_tensor o = tensor(1, 3, 3, 1);
    fs_nn_maxpool(&in, 2, 2, &o);
    assert_float_equal(FS_AT(&o, 0, 0, 0, 0), -1, 0);
    assert_float_equal(FS_AT(&o, 0, 2, 2, 0), -25, 0); /* the lone corner cell */
    assert_float_equal(FS_AT(&o, 0, 1, 2, 0), -15, 0);
    fs_tensor o4 = tensor(1, 2, 2, 1);
    fs_nn_maxpool(&in, 4, 4, &o4); /* pad 1 before: windows rows -1..2 and 3..6 */
    assert_float_equal(FS_AT(&o4, 0, 0, 0, 0), -1, 0);
    assert_float_equal(FS_AT(&o4, 0, 1, 1, 0), -19, 0);
    assert_float_equal(FS_AT(&o4, 0, 0, 1, 0), -4, 0);
    fs_tensor_free(&in), fs_tensor_free(&o), fs_tensor_free(&o4);
}

static void batchnorm_relu_leaky_sigmoid(void **state) {
    (void)state;
    fs_tensor t = tensor(1, 1, 2, 2);
    float v[4] = {1, -2, 3, 4};
    memcpy(t.data, v, sizeof v);
    float g[2] = {2, 0.5f}, b[2] = {1, -1}, m[2] = {0.5f, 1}, var[2] = {3.999f, 0.249f};
    fs_nn_batchnorm(&t, g, b, m, var, 1e-3f);
    assert_float_equal(t.data[0], 2 * (1 - 0.5f) / 2 + 1, 1e-6);
    assert_float_equal(t.data[1], 0.5f * (-2 - 1) / 0.5f - 1, 1e-5);
    assert_float_equal(t.data[2], 2 * (3 - 0.5f) / 2 + 1, 1e-6);
    fs_nn_relu(&t);
    assert_float_equal(t.data[1], 0, 0);
    t.data[1] = -3;
    fs_nn_leaky_relu(&t, 0.1f);
    assert_float_equal(t.data[1], -0.3f, 1e-7);
    assert_float_equal(t.data[0], 1.5f, 1e-6);
    assert_float_equal(fs_nn_sigmoid(0), 0.5f, 0);
    assert_float_equal(fs_nn_sigmoid(-100), 0, 1e-40);
    assert_float_equal(fs_nn_sigmoid(2), 1 / (1 + expf(-2)), 1e-7);
    fs_tensor_free(&t);
}

static void flatten_dense_concat(void **state) {
    (void)state;
    fs_tensor in = tensor(1, 2, 2, 3), flat = tensor(1, 1, 1, 12);
    fill_iota(&in);
    fs_nn_flatten(&in, &flat);
    /* NHWC order: (h, w, c) -> index (h*2 + w)*3 + c */
    assert_float_equal(flat.data[(1 * 2 + 0) * 3 + 2], FS_AT(&in, 0, 1, 0, 2), 0);
    assert_float_equal(flat.data[5], FS_AT(&in, 0, 0, 1, 2), 0);
    float w[2 * 12], bias[2] = {1, -1};
    for (int i = 0; i < 24; i++) w[i] = i < 12 ? 1.0f : (i == 12 + 5 ? 2.0f : 0.0f);
    fs_tensor d = tensor(1, 1, 1, 2);
    fs_nn_dense(&flat, w, bias, 2, &d);
    assert_float_equal(d.data[0], 78 + 1, 0);         /* 1 + ... + 12, plus bias */
    assert_float_equal(d.data[1], 2 * 6.0f - 1, 0); /* weight 2 on input 5 (= 6) */
    fs_tensor a = tensor(1, 1, 2, 1), b = tensor(1, 1, 2, 2), cat = tensor(1, 1, 2, 3);
    a.data[0] = 1, a.data[1] = 2;
    b.data[0] = 10, b.data[1] = 11, b.data[2] = 20, b.data[3] = 21;
    const fs_tensor *parts[] = {&a, &b};
    fs_nn_concat(parts, 2, &cat);
    float want[6] = {1, 10, 11, 2, 20, 21};
    for (int i = 0; i < 6; i++) assert_float_equal(cat.data[i], want[i], 0);
    fs_tensor_free(&in), fs_tensor_free(&flat), fs_tensor_free(&d);
    fs_tensor_free(&a), fs_tensor_free(&b), fs_tensor_free(&cat);
}

/* ---- fused convolution vs reference layers ---- */

typedef struct shape {
    fs_fconv_kind kind;
    int h, w, cin, cout, k, dil, pool, bn;
} shape;

/* Every convolution of Meso4 and MesoInception4 (full size), plus odd sizes. */
static const shape shapes[] = {
    {FS_FCONV_CHANNELS, 256, 256, 3, 8, 3, 1, 2, 1},    /* meso4 conv1 */
    {FS_FCONV_CHANNELS, 128, 128, 8, 8, 5, 1, 2, 1},    /* meso4 conv2 */
    {FS_FCONV_CHANNELS, 64, 64, 8, 16, 5, 1, 2, 1},     /* meso4 conv3 */
    {FS_FCONV_CHANNELS, 32, 32, 16, 16, 5, 1, 4, 1},    /* conv4 (both) */
    {FS_FCONV_CHANNELS, 64, 64, 12, 16, 5, 1, 2, 1},    /* inception conv3 */
    {FS_FCONV_PIXELS, 256, 256, 3, 1, 1, 1, 2, 1},      /* inc1.b1 */
    {FS_FCONV_PIXELS, 256, 256, 3, 10, 1, 1, 1, 0},     /* inc1 b2a+b3a+b4a */
    {FS_FCONV_PIXELS, 256, 256, 4, 4, 3, 1, 2, 1},      /* inc1.b2b */
    {FS_FCONV_PIXELS, 256, 256, 4, 4, 3, 2, 2, 1},      /* inc1.b3b */
    {FS_FCONV_PIXELS, 256, 256, 2, 2, 3, 3, 2, 1},      /* inc1.b4b */
    {FS_FCONV_PIXELS, 128, 128, 11, 2, 1, 1, 2, 1},     /* inc2.b1 */
    {FS_FCONV_PIXELS, 128, 128, 11, 10, 1, 1, 1, 0},    /* inc2 stacked 1x1 */
    /* the pooled-row kernels: wide and 4-pixel blocks, every pool, a short last band */
    {FS_FCONV_CHANNELS, 20, 36, 8, 8, 5, 1, 4, 1},      /* 8 ch pairs, pool 4, 32 + 4 px */
    {FS_FCONV_CHANNELS, 10, 20, 3, 8, 3, 1, 1, 1},      /* first layer unpooled, 16/12 + 4 */
    {FS_FCONV_CHANNELS, 11, 24, 3, 8, 3, 1, 4, 1},      /* first layer, pool 4, 3-row band */
    {FS_FCONV_CHANNELS, 9, 12, 16, 16, 5, 1, 2, 0},     /* 16 ch, 4-pixel blocks only */
    {FS_FCONV_CHANNELS, 7, 8, 8, 16, 5, 1, 1, 1},       /* 16 ch unpooled */
    {FS_FCONV_CHANNELS, 6, 16, 8, 8, 5, 1, 1, 1},       /* 8 ch unpooled */
    {FS_FCONV_CHANNELS, 13, 11, 5, 24, 3, 2, 2, 1},     /* odd sizes, 3 channel groups */
    {FS_FCONV_CHANNELS, 9, 7, 3, 5, 4, 1, 4, 0},        /* even kernel, cout < 8 */
    {FS_FCONV_PIXELS, 11, 21, 3, 3, 3, 3, 2, 1},        /* odd width: scalar tail */
    {FS_FCONV_PIXELS, 7, 13, 2, 5, 5, 1, 1, 1},
};

typedef struct fused_case {
    fs_fconv op;
    fs_tensor in, want;
    float *buf, *outbuf, *scratch;
    fs_view vin, vout;
} fused_case;

/* Runs the fused op for shape s on random input and returns max |fused - reference| relative
 * to max(1, |reference|). */
static double fused_error(const shape *s, fs_isa isa, float *out_copy, int threads_split) {
    int k = s->k, cin = s->cin, cout = s->cout;
    float *w = malloc(sizeof(float) * cout * cin * k * k), *b = malloc(sizeof(float) * cout);
    float *g = malloc(sizeof(float) * cout), *be = malloc(sizeof(float) * cout);
    float *m = malloc(sizeof(float) * cout), *v = malloc(sizeof(float) * cout);
    for (int i = 0; i < cout * cin * k * k; i++) w[i] = frand() * 0.5f;
    for (int i = 0; i < cout; i++) b[i] = frand() * 0.1f, g[i] = frand(), be[i] = frand(),
                                   m[i] = frand() * 0.2f, v[i] = 0.5f + frand() * 0.4f;
    fs_fconv_desc d = {.kind = s->kind, .cin = cin, .cout = cout, .k = k, .dil = s->dil,
                       .relu = 1, .pool = s->pool, .weight = w, .bias = b, .bn_eps = 1e-3f};
    if (s->bn) d.bn_gamma = g, d.bn_beta = be, d.bn_mean = m, d.bn_var = v;
    fs_fconv op;
    assert_int_equal(fs_fconv_init(&op, &d, NULL), FS_OK);

    fs_tensor in = tensor(1, s->h, s->w, cin);
    for (size_t i = 0; i < fs_tensor_count(&in); i++) in.data[i] = frand();
    /* reference: conv, relu, bn, pool */
    fs_conv2d p = {.cin = cin, .cout = cout, .kh = k, .kw = k, .stride_h = 1, .stride_w = 1,
                   .dil_h = s->dil, .dil_w = s->dil, .weight = w, .bias = b};
    fs_tensor conv = tensor(1, s->h, s->w, cout);
    fs_nn_conv2d(&p, &in, &conv);
    fs_nn_relu(&conv);
    if (s->bn) fs_nn_batchnorm(&conv, g, be, m, v, 1e-3f);
    int oh = fs_nn_same_out(s->h, s->pool), ow = fs_nn_same_out(s->w, s->pool);
    fs_tensor want = tensor(1, oh, ow, cout);
    fs_nn_maxpool(&conv, s->pool, s->pool, &want);

    /* input view with halo, layout by kind; output NHWC with a channel offset of 1 inside a
     * wider buffer, to exercise strided writes */
    int halo = fs_fconv_halo(&op) + 1;
    int hh = s->h + 2 * halo, ww = s->w + 2 * halo;
    float *buf = calloc((size_t)hh * ww * cin + 64, sizeof(float));
    fs_view vin = {.h = s->h, .w = s->w, .c = cin, .halo = halo};
    if (s->kind == FS_FCONV_CHANNELS) {
        vin.cs = 1, vin.xs = cin, vin.ys = (ptrdiff_t)ww * cin;
        vin.p = buf + halo * vin.ys + halo * vin.xs;
    } else {
        vin.cs = (ptrdiff_t)hh * ww, vin.xs = 1, vin.ys = ww;
        vin.p = buf + halo * ww + halo;
    }
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++)
            for (int c = 0; c < cin; c++) vin.p[y * vin.ys + x * vin.xs + c * vin.cs] = FS_AT(&in, 0, y, x, c);
    int oc = cout + 2;
    float *outbuf = calloc((size_t)oh * ow * oc, sizeof(float));
    fs_view vout = {.p = outbuf + 1, .h = oh, .w = ow, .c = cout, .ys = (ptrdiff_t)ow * oc, .xs = oc, .cs = 1};
    float *scratch = fs_nn_alloc(fs_fconv_scratch(&op, s->w) * sizeof(float) + 64);
    /* in pieces, as threads would run it */
    int parts = threads_split, done = 0;
    for (int t = 0; t < parts; t++) {
        int r1 = oh * (t + 1) / parts;
        fs_fconv_rows(&op, isa, &vin, &vout, done, r1, scratch);
        done = r1;
    }
    double err = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            float *o = outbuf + ((size_t)y * ow + x) * oc;
            assert_float_equal(o[0], 0, 0);          /* neighbours untouched */
            assert_float_equal(o[cout + 1], 0, 0);
            for (int c = 0; c < cout; c++) {
                double r = FS_AT(&want, 0, y, x, c), f = o[1 + c];
                double e = fabs(r - f) / fmax(1.0, fabs(r));
                if (e > err) err = e;
                if (out_copy) out_copy[((size_t)y * ow + x) * cout + c] = (float)f;
            }
        }
    fs_fconv_free(&op);
    fs_tensor_free(&in), fs_tensor_free(&conv), fs_tensor_free(&want);
    free(buf), free(outbuf), free(scratch);
    free(w), free(b), free(g), free(be), free(m), free(v);
    return err;
}

static void fused_matches_reference_and_paths_agree(void **state) {
    (void)state;
    fs_isa best = fs_nn_isa_best();
    if (best == FS_ISA_PORTABLE) printf("note: no AVX2+FMA here, only the portable path is checked\n");
    if (best == FS_ISA_AVX2) printf("note: no AVX-512 here, its kernels are not checked\n");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        size_t n = (size_t)fs_nn_same_out(s->h, s->pool) * fs_nn_same_out(s->w, s->pool) * s->cout;
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        uint64_t seed = rng_state;
        double ep = fused_error(s, FS_ISA_PORTABLE, a, 1);
        if (ep > 1e-5) fail_msg("shape %zu portable vs reference: %g", i, ep);
        for (int isa = FS_ISA_AVX2; isa <= (int)best; isa++) {
            const char *name = fs_nn_isa_name((fs_isa)isa);
            rng_state = seed; /* same random data */
            double ea = fused_error(s, (fs_isa)isa, b, 3);
            if (ea > 1e-5) fail_msg("shape %zu %s vs reference: %g", i, name, ea);
            for (size_t j = 0; j < n; j++)
                if (fabs(a[j] - b[j]) > 1e-5 * fmax(1.0, fabs(a[j])))
                    fail_msg("shape %zu: %s %g vs portable %g at %zu", i, name, b[j], a[j], j);
        }
        free(a), free(b);
    }
}

static void fused_rejects_bad_descriptions(void **state) {
    (void)state;
    float w[9] = {0};
    fs_fconv op;
    fs_msg m;
    fs_fconv_desc d = {.kind = FS_FCONV_CHANNELS, .cin = 1, .cout = 1, .k = 3, .dil = 1, .pool = 1, .weight = w};
    assert_int_equal(fs_fconv_init(&op, &d, &m), FS_OK);
    assert_int_equal(fs_fconv_halo(&op), 1);
    fs_fconv_free(&op);
    d.pool = 0;
    assert_int_equal(fs_fconv_init(&op, &d, &m), FS_ERR_INVALID);
    d.pool = 2, d.k = 0;
    assert_int_equal(fs_fconv_init(&op, &d, &m), FS_ERR_INVALID);
    d.k = 3, d.bn_gamma = w; /* batch norm half given */
    assert_int_equal(fs_fconv_init(&op, &d, &m), FS_ERR_INVALID);
    assert_non_null(strstr(m.text, "batch norm"));
}

/* ---- thread pool ---- */
typedef struct pool_job {
    fs_pool *pool;
    atomic_int phase1, errors;
    int seen[8];
} pool_job;

static void pool_fn(void *arg, int tid, int n) {
    pool_job *j = arg;
    atomic_fetch_add(&j->phase1, 1);
    fs_pool_barrier(j->pool);
    if (atomic_load(&j->phase1) != n) atomic_fetch_add(&j->errors, 1); /* all arrived first */
    fs_pool_barrier(j->pool);
    j->seen[tid]++;
}

static void pool_runs_all_threads_with_barriers(void **state) {
    (void)state;
    fs_pool *pool;
    assert_int_equal(fs_pool_create(4, &pool, NULL), FS_OK);
    assert_int_equal(fs_pool_threads(pool), 4);
    for (int round = 0; round < 200; round++) {
        pool_job j = {.pool = pool};
        fs_pool_run(pool, pool_fn, &j);
        assert_int_equal(atomic_load(&j.errors), 0);
        for (int t = 0; t < 4; t++) assert_int_equal(j.seen[t], 1);
    }
    fs_pool_free(pool);
    /* one thread: runs inline */
    assert_int_equal(fs_pool_create(1, &pool, NULL), FS_OK);
    pool_job j = {.pool = pool};
    fs_pool_run(pool, pool_fn, &j);
    assert_int_equal(j.seen[0], 1);
    fs_pool_free(pool);
}

/* Only sanity: the figure depends on the build (a sanitizer build runs -O0) and on how busy
 * the machine is; the benchmark reports it. It must be a positive finite rate, measured for
 * about the time asked. */
static void fma_peak_is_positive(void **state) {
    (void)state;
    for (int isa = FS_ISA_PORTABLE; isa <= (int)fs_nn_isa_best(); isa++) {
        double t0 = fs_now_ms();
        double g = fs_nn_fma_peak_gflops((fs_isa)isa, 0.02);
        double el = fs_now_ms() - t0;
        assert_true(isfinite(g) && g > 0);
        assert_true(el >= 19.0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_padding_arithmetic),
        cmocka_unit_test(conv_same_cases),
        cmocka_unit_test(maxpool_odd_sizes),
        cmocka_unit_test(batchnorm_relu_leaky_sigmoid),
        cmocka_unit_test(flatten_dense_concat),
        cmocka_unit_test(fused_matches_reference_and_paths_agree),
        cmocka_unit_test(fused_rejects_bad_descriptions),
        cmocka_unit_test(pool_runs_all_threads_with_barriers),
        cmocka_unit_test(fma_peak_is_positive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
