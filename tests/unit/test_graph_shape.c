/* The forward-only graph ops (graph_shape.c) against loops written from their definitions: max
 * pooling (SAME, VALID, a window hanging over the edge), zero padding of sides and channels,
 * reshape, concatenation along each axis, bilinear resize in TensorFlow's three conventions;
 * fs_graph_train refusing a graph that holds one; and graph storage (graph_io.c): a graph with
 * every op saved and loaded gives bit-identical outputs, and damaged descriptions are refused
 * with FS_ERR_FORMAT. */
#include "fs_test.h"
#include "fakescope/graph.h"

#include <float.h>
#include <math.h>

static uint32_t rng = 777;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

#define H 7
#define W 6
#define C 3

static float X[H * W * C];
static float at(int y, int x, int c) { return X[((size_t)y * W + x) * C + c]; }

static fs_graph *make(void) {
    for (size_t i = 0; i < sizeof X / sizeof X[0]; i++) X[i] = frand();
    fs_graph *g = NULL;
    fs_msg msg;
    assert_int_equal(fs_graph_create(H, W, C, &g, &msg), FS_OK);
    return g;
}

static const float *run(fs_graph *g, int node) {
    fs_msg msg;
    assert_int_equal(fs_graph_forward(g, X, 1, NULL, &msg), FS_OK);
    return fs_graph_activation(g, node);
}

static void test_maxpool(void **state) {
    (void)state;
    fs_graph *g = make();
    /* SAME, k 3 stride 2 on 7x6: 4x3; padding totals 2 rows (1 before) and 1 column (0
     * before: TensorFlow puts the odd one after) */
    int a = fs_graph_maxpool(g, 0, 3, 2, FS_PAD_SAME, "same");
    int b = fs_graph_maxpool(g, 0, 2, 2, FS_PAD_VALID, "valid");
    fs_graph_node_info ia, ib;
    fs_graph_node(g, a, &ia), fs_graph_node(g, b, &ib);
    assert_true(ia.h == 4 && ia.w == 3 && ib.h == 3 && ib.w == 3);
    const float *ya = run(g, a), *yb = fs_graph_activation(g, b);
    for (int oy = 0; oy < 4; oy++)
        for (int ox = 0; ox < 3; ox++)
            for (int c = 0; c < C; c++) {
                float m = -FLT_MAX, m2 = -FLT_MAX;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int y = oy * 2 + ky - 1, x = ox * 2 + kx;
                        if (y >= 0 && y < H && x >= 0 && x < W && at(y, x, c) > m) m = at(y, x, c);
                    }
                assert_float_equal(ya[(oy * 3 + ox) * C + c], m, 0);
                if (oy < 3)
                    for (int ky = 0; ky < 2; ky++)
                        for (int kx = 0; kx < 2; kx++)
                            if (at(oy * 2 + ky, ox * 2 + kx, c) > m2) m2 = at(oy * 2 + ky, ox * 2 + kx, c);
                if (oy < 3) assert_float_equal(yb[(oy * 3 + ox) * C + c], m2, 0);
            }
    fs_graph_free(g);
}

static void test_pad_reshape_concat(void **state) {
    (void)state;
    fs_graph *g = make();
    int p = fs_graph_pad(g, 0, 1, 2, 0, 1, 2, 1, "pad"); /* 10 x 7 x 6 */
    int r = fs_graph_reshape(g, 0, 1, H * W, C, "flat");
    int ch = fs_graph_concat(g, 0, 0, 2, "c");
    int hw = fs_graph_concat(g, 0, 0, 1, "w");
    int hh = fs_graph_concat(g, 0, 0, 0, "h");
    int relu = fs_graph_fuse_act(g, fs_graph_pad(g, 0, 0, 0, 0, 0, 0, 0, "relu"), FS_ACT_RELU);
    assert_true(p > 0 && r > 0 && ch > 0 && hw > 0 && hh > 0 && relu > 0);
    fs_graph_node_info ip;
    fs_graph_node(g, p, &ip);
    assert_true(ip.h == H + 3 && ip.w == W + 1 && ip.c == C + 3);
    const float *yp = run(g, p);
    for (int y = 0; y < ip.h; y++)
        for (int x = 0; x < ip.w; x++)
            for (int c = 0; c < ip.c; c++) {
                int sy = y - 1, sx = x, sc = c - 2;
                float want = sy >= 0 && sy < H && sx < W && sc >= 0 && sc < C ? at(sy, sx, sc) : 0;
                assert_float_equal(yp[((size_t)y * ip.w + x) * ip.c + c], want, 0);
            }
    assert_memory_equal(fs_graph_activation(g, r), X, sizeof X);
    const float *yc = fs_graph_activation(g, ch), *yw = fs_graph_activation(g, hw);
    const float *yh = fs_graph_activation(g, hh), *yr = fs_graph_activation(g, relu);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                assert_float_equal(yc[((size_t)y * W + x) * 2 * C + C + c], at(y, x, c), 0);
                assert_float_equal(yw[((size_t)y * 2 * W + W + x) * C + c], at(y, x, c), 0);
                assert_float_equal(yh[((size_t)(y + H) * W + x) * C + c], at(y, x, c), 0);
                assert_float_equal(yr[((size_t)y * W + x) * C + c], at(y, x, c) > 0 ? at(y, x, c) : 0, 0);
            }
    /* shapes that cannot be: errors, recorded once */
    fs_graph *bad = make();
    fs_msg msg;
    assert_int_equal(fs_graph_reshape(bad, 0, 2, 2, 2, "r"), -1);
    assert_int_equal(fs_graph_error(bad, &msg), FS_ERR_INVALID);
    fs_graph_free(bad);
    bad = make();
    int other = fs_graph_pad(bad, 0, 1, 0, 0, 0, 0, 0, "taller");
    assert_int_equal(fs_graph_concat(bad, 0, other, 2, "c"), -1);
    fs_graph_free(bad);
    /* forward-only: no training */
    assert_int_equal(fs_graph_train(g, 1, &msg), FS_ERR_UNSUPPORTED);
    fs_graph_free(g);
}

/* TensorFlow's ResizeBilinear from its definition, one channel. */
static float tf_resize(int oy, int ox, int c, int oh, int ow, int ac, int hp) {
    float sy = ac && oh > 1 ? (float)(H - 1) / (float)(oh - 1) : (float)H / (float)oh;
    float sx = ac && ow > 1 ? (float)(W - 1) / (float)(ow - 1) : (float)W / (float)ow;
    float vy = hp ? (oy + 0.5f) * sy - 0.5f : oy * sy, vx = hp ? (ox + 0.5f) * sx - 0.5f : ox * sx;
    int y0 = (int)floorf(vy), x0 = (int)floorf(vx);
    y0 = y0 < 0 ? 0 : y0, x0 = x0 < 0 ? 0 : x0;
    int y1 = (int)ceilf(vy) > H - 1 ? H - 1 : (int)ceilf(vy), x1 = (int)ceilf(vx) > W - 1 ? W - 1 : (int)ceilf(vx);
    float dy = vy - y0, dx = vx - x0;
    return at(y0, x0, c) * (1 - dy) * (1 - dx) + at(y1, x0, c) * dy * (1 - dx) +
           at(y0, x1, c) * (1 - dy) * dx + at(y1, x1, c) * dy * dx;
}

static void test_resize(void **state) {
    (void)state;
    const int conv[3][2] = {{0, 0}, {1, 0}, {0, 1}};
    for (int k = 0; k < 3; k++) {
        fs_graph *g = make();
        int id = fs_graph_resize(g, 0, 14, 11, conv[k][0], conv[k][1], "up");
        const float *y = run(g, id);
        for (int oy = 0; oy < 14; oy++)
            for (int ox = 0; ox < 11; ox++)
                for (int c = 0; c < C; c++)
                    assert_float_equal(y[((size_t)oy * 11 + ox) * C + c],
                                       tf_resize(oy, ox, c, 14, 11, conv[k][0], conv[k][1]), 1e-5);
        fs_graph_free(g);
    }
    fs_graph *g = make();
    assert_int_equal(fs_graph_resize(g, 0, 4, 4, 1, 1, "both"), -1);
    fs_graph_free(g);
}

/* Every op in one graph, stored and loaded: the same numbers; then damaged descriptions. */
static void test_storage(void **state) {
    (void)state;
    fs_graph *g = make();
    float w1[4 * C * 3 * 3], b1[4], dw[4 * 9], wd[5 * 8], bd[5], ga[4], be[4], mu[4], va[4];
    float s1[2 * 4], sb1[2], s2[4 * 2], sb2[4];
    float *arrs[] = {w1, b1, dw, wd, bd, ga, be, mu, s1, sb1, s2, sb2};
    size_t lens[] = {sizeof w1, sizeof b1, sizeof dw, sizeof wd, sizeof bd, sizeof ga, sizeof be,
                     sizeof mu, sizeof s1, sizeof sb1, sizeof s2, sizeof sb2};
    for (size_t a = 0; a < sizeof arrs / sizeof arrs[0]; a++)
        for (size_t i = 0; i < lens[a] / sizeof(float); i++) arrs[a][i] = frand();
    for (int i = 0; i < 4; i++) va[i] = 0.5f + (float)i;
    int n = fs_graph_conv(g, 0, 4, 3, 2, 1, FS_PAD_SAME, w1, b1, FS_ACT_RELU6, "conv one");
    n = fs_graph_dwconv(g, n, 3, 1, 1, FS_PAD_SYMMETRIC, dw, NULL, FS_ACT_HSWISH, NULL);
    n = fs_graph_bn(g, n, ga, be, mu, va, 1e-3f, 0.99f, FS_ACT_RELU, "bn");
    n = fs_graph_se(g, n, 2, s1, sb1, s2, sb2, FS_GATE_HSIGMOID, "se");
    int m = fs_graph_maxpool(g, n, 2, 2, FS_PAD_SAME, "mp");
    int up = fs_graph_resize(g, m, 4, 3, 0, 1, "up");
    n = fs_graph_add(g, n, up, FS_ACT_NONE, "add");
    n = fs_graph_pad(g, n, 0, 0, 0, 0, 0, 4, "pad");
    n = fs_graph_concat(g, n, n, 1, "cat");
    int gap = fs_graph_gap(g, n, "gap");
    n = fs_graph_dense(g, gap, 5, wd, bd, "dense");
    n = fs_graph_reshape(g, n, 1, 5, 1, "r");
    fs_msg msg;
    assert_int_equal(fs_graph_error(g, &msg), FS_OK);
    fs_graph_node_info gi;
    fs_graph_node(g, gap, &gi);
    assert_int_equal(gi.c, 8);
    float want[5], got[5];
    assert_int_equal(fs_graph_forward(g, X, 1, want, &msg), FS_OK);
    fs_weights w = {0};
    assert_int_equal(fs_graph_save(g, &w, &msg), FS_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fs_weights_write_safetensors(&w, &buf, &len, &msg), FS_OK);
    fs_weights back = {0};
    assert_int_equal(fs_weights_read_safetensors(buf, len, &back, &msg), FS_OK);
    fs_graph *h = NULL;
    assert_int_equal(fs_graph_load(&back, &h, &msg), FS_OK);
    assert_int_equal(fs_graph_nodes(h), fs_graph_nodes(g));
    assert_int_equal(fs_graph_forward(h, X, 1, got, &msg), FS_OK);
    assert_memory_equal(got, want, sizeof want);
    fs_graph_free(h);

    /* damage: each must be refused as a format error, never crash */
    const char *text = fs_weights_meta(&back, "graph");
    char *copy = strdup(text);
    const char *cases[] = {
        "",                                                       /* empty */
        "input 0 0 7 6 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -\nconv 5 -1 4 3 4 3 2 1 0 3 0 0 0 0 0 0 0 0 0 0 0 0 0 x\n",
        "input 0 0 7 6 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -\nwarp 0 -1 4 3 4 3 2 1 0 3 0 0 0 0 0 0 0 0 0 0 0 0 0 x\n",
        "input 0 0 7 6 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -\ngap 0 -1 1 1 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 g\n",
        "input 0 0 7 6 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -\nmaxpool 0 -1 4 3 3 2 2 1 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 m\n",
        "input 0 0 7 6 3 0 0",
        "gap 0 -1 1 1 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(fs_weights_set_meta(&back, "graph", cases[i], &msg), FS_OK);
        h = NULL;
        fs_err e = fs_graph_load(&back, &h, &msg);
        if (e != FS_ERR_FORMAT) fail_msg("case %zu: %d (%s)", i, e, msg.text);
        assert_null(h);
    }
    /* a tensor of the wrong size */
    assert_int_equal(fs_weights_set_meta(&back, "graph", copy, &msg), FS_OK);
    fs_weight *t = (fs_weight *)fs_weights_get(&back, "n1.weight");
    assert_non_null(t);
    t->count--;
    assert_int_equal(fs_graph_load(&back, &h, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, "n1.weight"));
    t->count++;
    free(copy);
    free(buf);
    fs_weights_free(&back);
    fs_weights_free(&w);
    fs_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_pad_reshape_concat),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_storage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
