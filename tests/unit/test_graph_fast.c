/* The op graph's fast kernels (nn/graph_fast.c, graph_avx2.c) against its portable code, which
 * defines the answer: the same graph built twice from the same weights, one with
 * FS_ISA_PORTABLE, one with each kernel set the CPU has (AVX2+FMA; AVX-512 GEMMs) on 1, 2 and
 * 3 threads, over odd shapes
 * (sides 1..17, channels that are no multiple of 8, batches 1..3, strides 1 and 2, SAME,
 * symmetric and dilated padding, sums longer than one 256-deep GEMM block). Compared: every
 * node's activation at inference, then in training mode every activation, every parameter
 * gradient, the input gradient and the running statistics. Also: two fast runs on the same
 * thread count give the same bits.
 *
 * Tolerance: |fast - portable| <= 1e-4 x (the largest |portable| of that tensor) + 1e-5. Both
 * compute the same float32 sums in another order (GEMM blocks, FMA contraction, batch sums
 * split by thread), which moves each result by a few ulps per term: ~1e-6 relative for the
 * few hundred terms here; a dozen layers and batch norm's division by the batch deviation
 * grow it by at most 10x. The absolute 1e-5 is for gradients that vanish exactly (a bias
 * right before batch norm with batch statistics), which both sides leave as rounding noise
 * of ~1e-7; every value here is O(0.1..10), so it is still four orders below their scale. An
 * indexing or padding mistake changes values by O(1) of the tensor's scale. */
#include "fs_test.h"
#include "fakescope/graph.h"
#include "fakescope/mobilenet.h"

#include <math.h>
#include <string.h>

static uint64_t rng_state = 1;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

#define MAX_KEEP 64
static float *kept[MAX_KEEP];
static int nkept;
static const float *R(size_t n, float scale, float offset) {
    float *a = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(a);
    for (size_t i = 0; i < n; i++) a[i] = frand() * scale + offset;
    assert_true(nkept < MAX_KEEP);
    return kept[nkept++] = a;
}
static void free_kept(void) {
    while (nkept) free(kept[--nkept]);
}

typedef struct spec {
    int h, w, c, n; /* input and batch */
    int m, e;       /* channels after the stem, of the expansion */
} spec;

/* A MobileNet-like graph with every kind of node the fast kernels take, from weights drawn
 * from seed s (so two builds have the same weights). */
static fs_graph *build(const spec *sp, uint64_t s) {
    rng_state = s;
    fs_graph *g;
    fs_msg msg;
    assert_int_equal(fs_graph_create(sp->h, sp->w, sp->c, &g, &msg), FS_OK);
    const int c = sp->c, m = sp->m, e = sp->e;
    int x = fs_graph_conv(g, 0, m, 3, 2, 1, FS_PAD_SAME, R((size_t)m * c * 9, 0.4f, 0), NULL,
                          FS_ACT_NONE, "stem");
    x = fs_graph_bn(g, x, R(m, 0.3f, 1), R(m, 0.2f, 0), R(m, 0.1f, 0), R(m, 0.3f, 1), 1e-3f, 0.9f,
                    FS_ACT_RELU6, "stem.bn");
    int a = fs_graph_conv(g, x, e, 1, 1, 1, FS_PAD_SAME, R((size_t)e * m, 0.3f, 0), R(e, 0.1f, 0),
                          FS_ACT_RELU6, "expand");
    a = fs_graph_dwconv(g, a, 3, 1, 1, FS_PAD_SAME, R((size_t)e * 9, 0.4f, 0), R(e, 0.1f, 0),
                        FS_ACT_HSWISH, "dw1");
    a = fs_graph_conv(g, a, m, 1, 1, 1, FS_PAD_VALID, R((size_t)m * e, 0.3f, 0), R(m, 0.1f, 0),
                      FS_ACT_NONE, "project");
    x = fs_graph_add(g, a, x, FS_ACT_NONE, "add");
    x = fs_graph_dwconv(g, x, 3, 2, 1, FS_PAD_SAME, R((size_t)m * 9, 0.4f, 0), NULL, FS_ACT_RELU, "dw2");
    x = fs_graph_dwconv(g, x, 5, 1, 2, FS_PAD_SYMMETRIC, R((size_t)m * 25, 0.3f, 0), R(m, 0.1f, 0),
                        FS_ACT_NONE, "dw3");
    x = fs_graph_bn(g, x, R(m, 0.3f, 1), R(m, 0.2f, 0), R(m, 0.1f, 0), R(m, 0.3f, 1), 1e-3f, 0.9f,
                    FS_ACT_HSWISH, "dw3.bn");
    x = fs_graph_conv(g, x, 7, 3, 1, 1, FS_PAD_SYMMETRIC, R((size_t)7 * m * 9, 0.3f, 0), R(7, 0.1f, 0),
                      FS_ACT_RELU, "conv3");
    x = fs_graph_gap(g, x, "pool");
    x = fs_graph_dense(g, x, 3, R(21, 0.5f, 0), R(3, 0.1f, 0), "fc");
    assert_true(x > 0);
    assert_int_equal(fs_graph_error(g, &msg), FS_OK);
    free_kept();
    return g;
}

static size_t node_floats(const fs_graph *g, int i, int n) {
    fs_graph_node_info o;
    fs_graph_node(g, i, &o);
    return (size_t)o.h * o.w * o.c * (size_t)n;
}

static double worst = 0; /* largest error relative to the bound, over the whole test */

static void close_enough(const float *ref, const float *got, size_t count, const char *what,
                         const spec *sp, int threads) {
    double scale = 0, diff = 0;
    for (size_t i = 0; i < count; i++) {
        scale = fmax(scale, fabs(ref[i]));
        if (!isfinite(got[i])) fail_msg("%s: value %zu is %g", what, i, (double)got[i]);
        diff = fmax(diff, fabs((double)ref[i] - got[i]));
    }
    const double bound = 1e-4 * scale + 1e-5;
    worst = fmax(worst, diff / bound);
    if (diff > bound)
        fail_msg("%s (input %dx%dx%d, batch %d, channels %d/%d, %d threads): differs by %.3g, "
                 "bound %.3g", what, sp->h, sp->w, sp->c, sp->n, sp->m, sp->e, threads, diff, bound);
}

static void compare_graphs(fs_graph *ref, fs_graph *fast, const spec *sp, int threads, const char *mode) {
    char what[160];
    for (int i = 1; i < fs_graph_nodes(ref); i++) {
        fs_graph_node_info o;
        fs_graph_node(ref, i, &o);
        snprintf(what, sizeof what, "%s %s activation", mode, o.name);
        close_enough(fs_graph_activation(ref, i), fs_graph_activation(fast, i), node_floats(ref, i, sp->n),
                     what, sp, threads);
    }
}

static void check(const spec *sp, int threads, fs_isa isa) {
    fs_msg msg;
    fs_graph *ref = build(sp, 42), *fast = build(sp, 42);
    fs_graph_set_isa(ref, FS_ISA_PORTABLE);
    fs_graph_set_isa(fast, isa);
    assert_int_equal(fs_graph_isa(fast), isa);
    assert_int_equal(fs_graph_set_threads(fast, threads, &msg), FS_OK);
    const size_t nin = (size_t)sp->h * sp->w * sp->c * (size_t)sp->n;
    rng_state = 7;
    float *x = malloc(sizeof(float) * nin);
    assert_non_null(x);
    for (size_t i = 0; i < nin; i++) x[i] = frand();
    assert_int_equal(fs_graph_forward(ref, x, sp->n, NULL, &msg), FS_OK);
    assert_int_equal(fs_graph_forward(fast, x, sp->n, NULL, &msg), FS_OK);
    compare_graphs(ref, fast, sp, threads, "inference");

    assert_int_equal(fs_graph_train(ref, 1, &msg), FS_OK);
    assert_int_equal(fs_graph_train(fast, 1, &msg), FS_OK);
    assert_int_equal(fs_graph_forward_train(ref, x, sp->n, NULL, &msg), FS_OK);
    assert_int_equal(fs_graph_forward_train(fast, x, sp->n, NULL, &msg), FS_OK);
    compare_graphs(ref, fast, sp, threads, "training");
    const size_t nout = node_floats(ref, fs_graph_output(ref), sp->n);
    float *dout = malloc(sizeof(float) * nout), *dx_ref = malloc(sizeof(float) * nin),
          *dx_fast = malloc(sizeof(float) * nin);
    assert_true(dout && dx_ref && dx_fast);
    for (size_t i = 0; i < nout; i++) dout[i] = frand();
    assert_int_equal(fs_graph_backward(ref, dout, dx_ref, &msg), FS_OK);
    assert_int_equal(fs_graph_backward(fast, dout, dx_fast, &msg), FS_OK);
    close_enough(dx_ref, dx_fast, nin, "input gradient", sp, threads);
    const fs_tparam *pr = fs_graph_params(ref), *pf = fs_graph_params(fast);
    assert_int_equal(fs_graph_param_count(ref), fs_graph_param_count(fast));
    char what[96];
    for (size_t i = 0; i < fs_graph_param_count(ref); i++) {
        assert_string_equal(pr[i].name, pf[i].name);
        snprintf(what, sizeof what, "%s", pr[i].name);
        close_enough(pr[i].data, pf[i].data, pr[i].count, what, sp, threads); /* running stats */
        if (!pr[i].grad) continue;
        snprintf(what, sizeof what, "gradient of %s", pr[i].name);
        close_enough(pr[i].grad, pf[i].grad, pr[i].count, what, sp, threads);
    }
    free(dout), free(dx_ref), free(dx_fast), free(x);
    fs_graph_free(ref);
    fs_graph_free(fast);
}

static const spec specs[] = {
    {1, 1, 3, 1, 5, 7},      {2, 3, 1, 2, 3, 9},     {5, 4, 3, 3, 11, 13},
    {7, 7, 5, 2, 13, 20},    {8, 8, 3, 1, 16, 32},   {9, 13, 2, 3, 6, 17},
    {17, 17, 3, 2, 11, 37},  {16, 15, 4, 1, 24, 40}, {5, 7, 3, 3, 270, 300},
    {12, 11, 19, 2, 9, 25},
};

static void test_fast_matches_portable(void **state) {
    (void)state;
    if (fs_nn_isa_best() == FS_ISA_PORTABLE) {
        printf("skipped: this CPU has no AVX2+FMA, so there are no fast kernels to compare\n");
        skip();
    }
    for (int isa = FS_ISA_AVX2; isa <= (int)fs_nn_isa_best(); isa++) {
        worst = 0;
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
            for (int t = 1; t <= 3; t++) check(&specs[i], t, (fs_isa)isa);
        printf("fast kernels (%s) against portable: worst error %.2f of the bound over %zu shapes\n",
               fs_nn_isa_name((fs_isa)isa), worst, sizeof specs / sizeof specs[0]);
    }
}

/* The same thread count twice: the same bits (sums split by thread are added in order). */
static void test_fast_deterministic(void **state) {
    (void)state;
    const spec sp = {17, 17, 3, 3, 11, 37};
    fs_msg msg;
    float *grads[2] = {NULL, NULL};
    size_t total = 0;
    for (int run = 0; run < 2; run++) {
        fs_graph *g = build(&sp, 5);
        assert_int_equal(fs_graph_set_threads(g, 2, &msg), FS_OK);
        assert_int_equal(fs_graph_train(g, 1, &msg), FS_OK);
        const size_t nin = (size_t)sp.h * sp.w * sp.c * (size_t)sp.n;
        rng_state = 9;
        float *x = malloc(sizeof(float) * nin), dout[9];
        assert_non_null(x);
        for (size_t i = 0; i < nin; i++) x[i] = frand();
        for (int i = 0; i < 9; i++) dout[i] = frand();
        assert_int_equal(fs_graph_forward_train(g, x, sp.n, NULL, &msg), FS_OK);
        assert_int_equal(fs_graph_backward(g, dout, NULL, &msg), FS_OK);
        const fs_tparam *p = fs_graph_params(g);
        total = 0;
        for (size_t i = 0; i < fs_graph_param_count(g); i++) total += p[i].count;
        grads[run] = malloc(sizeof(float) * total * 2);
        assert_non_null(grads[run]);
        size_t at = 0;
        for (size_t i = 0; i < fs_graph_param_count(g); i++) {
            memcpy(grads[run] + at, p[i].data, sizeof(float) * p[i].count);
            if (p[i].grad) memcpy(grads[run] + total + at, p[i].grad, sizeof(float) * p[i].count);
            else memset(grads[run] + total + at, 0, sizeof(float) * p[i].count);
            at += p[i].count;
        }
        free(x);
        fs_graph_free(g);
    }
    assert_memory_equal(grads[0], grads[1], sizeof(float) * total * 2);
    free(grads[0]), free(grads[1]);
}

/* Thread counts out of range are refused and leave the graph as it was. */
static void test_threads_contract(void **state) {
    (void)state;
    const spec sp = {4, 4, 3, 1, 5, 7};
    fs_graph *g = build(&sp, 3);
    fs_msg msg;
    assert_int_equal(fs_graph_set_threads(g, 0, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_graph_set_threads(g, FS_NN_MAX_THREADS + 1, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_graph_threads(g), 1);
    assert_int_equal(fs_graph_set_threads(g, 2, &msg), FS_OK);
    assert_int_equal(fs_graph_threads(g), 2);
    float x[48] = {0};
    assert_int_equal(fs_graph_forward(g, x, 1, NULL, &msg), FS_OK);
    assert_int_equal(fs_graph_set_threads(g, 1, &msg), FS_OK); /* after a plan: re-sized */
    assert_int_equal(fs_graph_forward(g, x, 1, NULL, &msg), FS_OK);
    fs_graph_free(g);
}

/* Buffer sharing (fs_graph_share) on a real MobileNetV2 (64x64, random folded weights): the
 * same output bits as without it, for batches that run one item per thread (3, 5 on 2 and 3
 * threads) and items shared by the threads (1; 2 on 3 threads); inner nodes of the leading
 * run give NULL, the rest stays readable; the plan is smaller; a switch to the portable
 * kernels or to training plans again without lanes (those codes know none). */
static void test_share(void **state) {
    (void)state;
    fs_msg msg;
    fs_weights w = {0};
    assert_int_equal(fs_mobilenetv2_random(&w, 10, 5, &msg), FS_OK);
    const int side = 64, batches[] = {1, 2, 3, 5};
    for (int threads = 1; threads <= 3; threads++)
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
            const int n = batches[bi];
            fs_graph *plain = NULL, *shared = NULL;
            assert_int_equal(fs_mobilenetv2_graph(&w, side, &plain, &msg), FS_OK);
            assert_int_equal(fs_mobilenetv2_graph(&w, side, &shared, &msg), FS_OK);
            if (fs_graph_isa(shared) < FS_ISA_AVX2) { /* nothing to share on portable code */
                fs_graph_free(plain), fs_graph_free(shared);
                skip();
            }
            fs_graph_share(shared, 1);
            assert_int_equal(fs_graph_set_threads(plain, threads, &msg), FS_OK);
            assert_int_equal(fs_graph_set_threads(shared, threads, &msg), FS_OK);
            const size_t nin = (size_t)side * side * 3 * (size_t)n;
            float *x = malloc(sizeof(float) * nin), a[50], b[50];
            assert_non_null(x);
            rng_state = 11 + (uint64_t)n;
            for (size_t i = 0; i < nin; i++) x[i] = frand();
            assert_int_equal(fs_graph_forward(plain, x, n, a, &msg), FS_OK);
            assert_int_equal(fs_graph_forward(shared, x, n, b, &msg), FS_OK);
            assert_memory_equal(a, b, sizeof(float) * 10 * (size_t)n);
            /* a second run over the reused lanes gives the same again */
            assert_int_equal(fs_graph_forward(shared, x, n, b, &msg), FS_OK);
            assert_memory_equal(a, b, sizeof(float) * 10 * (size_t)n);
            assert_true(fs_graph_planned_bytes(shared) < fs_graph_planned_bytes(plain) / 2);
            int nulls = 0;
            for (int i = 0; i < fs_graph_nodes(shared); i++)
                if (!fs_graph_activation(shared, i)) nulls++;
                else if (i > 0)
                    assert_memory_equal(fs_graph_activation(plain, i), fs_graph_activation(shared, i),
                                        sizeof(float) * node_floats(shared, i, n));
            assert_true(nulls > 40); /* MobileNetV2's blocks, all but the run's last node */
            assert_non_null(fs_graph_activation(shared, fs_graph_output(shared)));
            assert_non_null(fs_graph_activation(shared, 0));
            if (threads == 2 && n == 3) {
                /* more threads than the lanes planned: planned again */
                assert_int_equal(fs_graph_set_threads(shared, 3, &msg), FS_OK);
                assert_int_equal(fs_graph_forward(shared, x, n, b, &msg), FS_OK);
                assert_memory_equal(a, b, sizeof(float) * 10 * (size_t)n);
                /* the portable code: every node its own buffer again, within its tolerance */
                fs_graph_set_isa(shared, FS_ISA_PORTABLE);
                assert_int_equal(fs_graph_forward(shared, x, n, b, &msg), FS_OK);
                for (int i = 0; i < 10 * n; i++) assert_true(fabsf(a[i] - b[i]) <= 1e-3f * (1 + fabsf(a[i])));
                for (int i = 0; i < fs_graph_nodes(shared); i++) assert_non_null(fs_graph_activation(shared, i));
            }
            free(x);
            fs_graph_free(plain), fs_graph_free(shared);
        }
    fs_weights_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_matches_portable),
        cmocka_unit_test(test_fast_deterministic),
        cmocka_unit_test(test_threads_contract),
        cmocka_unit_test(test_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
