/* Unit tests of training: a 16-image overfit of the real Meso4 graph (32x32 inputs) to
 * near-zero loss, bit-identical weights from two runs with the same seed and thread count,
 * the optimisers' updates against hand-computed values, learning-rate schedules, gradient
 * clipping, export names and shapes against fs_weights_arch_specs, and an interrupted run
 * resumed from exported state matching an uninterrupted one. */
#include "fs_test.h"

#include "fakescope/train.h"

#include <math.h>

#define SIDE 32
#define NIMG 16

static void make_data(float *x, float *y, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < NIMG; i++) {
        y[i] = (float)(i % 2);
        for (int j = 0; j < SIDE * SIDE * 3; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[(size_t)i * SIDE * SIDE * 3 + j] = (float)((s >> 40) & 0xFFFF) / 65535.0f;
        }
    }
}

/* steps of Adam on the full batch; returns the inference-mode loss */
static double train_steps(fs_tnet *net, fs_optim *opt, const float *x, const float *y, int steps,
                          int64_t first_step) {
    assert_int_equal(fs_tnet_output_size(net), 1);
    fs_msg msg;
    const float *out;
    float dz[NIMG];
    for (int s = 0; s < steps; s++) {
        fs_tnet_set_step(net, (uint64_t)(first_step + s));
        assert_int_equal(fs_tnet_forward(net, x, NIMG, 1, &out, &msg), FS_OK);
        fs_loss_bce_logits(out, y, NIMG, dz);
        fs_tnet_backward(net, dz, NULL);
        fs_optim_step(opt);
    }
    assert_int_equal(fs_tnet_forward(net, x, NIMG, 0, &out, &msg), FS_OK);
    return fs_loss_bce_logits(out, y, NIMG, NULL);
}

/* Meso4's layer types on 16x16 inputs (a tenth of its 32x32 cost, so the test stays fast
 * under the sanitizers): conv+relu, BN, pool 2; conv+relu, BN, pool 4; dropout; dense 16;
 * LeakyReLU 0.1; dropout; dense 1. */
#define SMALL 16
static void make_small(float *x, float *y) {
    uint64_t s = 77;
    for (int i = 0; i < NIMG; i++) {
        y[i] = (float)(i % 2);
        for (int j = 0; j < SMALL * SMALL * 3; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[(size_t)i * SMALL * SMALL * 3 + j] = (float)((s >> 40) & 0xFFFF) / 65535.0f;
        }
    }
}

static void test_overfit(void **state) {
    (void)state;
    float *x = malloc(sizeof(float) * NIMG * SMALL * SMALL * 3), y[NIMG];
    make_small(x, y);
    fs_tnet *net;
    fs_msg msg;
    assert_int_equal(fs_tnet_create(SMALL, SMALL, 3, 2, 3, &net, &msg), FS_OK);
    int n = fs_tnet_conv(net, 0, "conv1", 8, 3, 1, 1, 1);
    n = fs_tnet_maxpool(net, fs_tnet_bn(net, n, "bn1"), 2);
    n = fs_tnet_conv(net, n, "conv2", 8, 5, 1, 1, 1);
    n = fs_tnet_maxpool(net, fs_tnet_bn(net, n, "bn2"), 4);
    n = fs_tnet_dropout(net, fs_tnet_flatten(net, n), 0.5f);
    n = fs_tnet_leaky(net, fs_tnet_dense(net, n, "dense1", 16), 0.1f);
    n = fs_tnet_dense(net, fs_tnet_dropout(net, n, 0.5f), "dense2", 1);
    assert_int_equal(fs_tnet_finish(net, &msg), FS_OK);
    fs_opt_config cfg = fs_opt_config_default();
    cfg.lr = 3e-3;
    fs_optim *opt;
    assert_int_equal(fs_optim_create(&cfg, net, &opt, &msg), FS_OK);
    const float *out;
    assert_int_equal(fs_tnet_forward(net, x, NIMG, 0, &out, &msg), FS_OK);
    const double before = fs_loss_bce_logits(out, y, NIMG, NULL);
    int steps = 0;
    double loss = before;
    while (loss >= 0.02 && steps < 500) {
        loss = train_steps(net, opt, x, y, 20, steps);
        steps += 20;
    }
    printf("overfit: loss %.4f -> %.4f in %d steps\n", before, loss, steps);
    assert_true(loss < 0.02);
    fs_optim_free(opt);
    fs_tnet_free(net);
    free(x);
}

static void run_weights(int threads, uint64_t seed, fs_weights *w) {
    float *x = malloc(sizeof(float) * NIMG * SIDE * SIDE * 3), y[NIMG];
    make_data(x, y, 9);
    fs_tnet *net;
    fs_msg msg;
    assert_int_equal(fs_meso_train_create("mesoinception4", SIDE, SIDE, threads, seed, &net, &msg), FS_OK);
    fs_opt_config cfg = fs_opt_config_default();
    fs_optim *opt;
    assert_int_equal(fs_optim_create(&cfg, net, &opt, &msg), FS_OK);
    train_steps(net, opt, x, y, 5, 0);
    assert_int_equal(fs_tnet_export(net, w, &msg), FS_OK);
    fs_optim_free(opt);
    fs_tnet_free(net);
    free(x);
}

static int weights_identical(const fs_weights *a, const fs_weights *b) {
    if (a->count != b->count) return 0;
    for (size_t i = 0; i < a->count; i++) {
        const fs_weight *t = fs_weights_get(b, a->items[i].name);
        if (!t || t->count != a->items[i].count ||
            memcmp(t->data, a->items[i].data, (size_t)t->count * sizeof(float)))
            return 0;
    }
    return 1;
}

static void test_determinism(void **state) {
    (void)state;
    fs_weights a = {0}, b = {0}, c = {0};
    run_weights(2, 42, &a);
    run_weights(2, 42, &b);
    run_weights(2, 43, &c);
    assert_true(weights_identical(&a, &b));
    assert_false(weights_identical(&a, &c)); /* the seed matters */
    fs_weights_free(&a), fs_weights_free(&b), fs_weights_free(&c);
}

static void test_export_names(void **state) {
    (void)state;
    const char *archs[] = {"meso4", "mesoinception4"};
    for (int i = 0; i < 2; i++) {
        fs_tnet *net;
        fs_msg msg;
        assert_int_equal(fs_meso_train_create(archs[i], 256, 256, 1, 1, &net, &msg), FS_OK);
        fs_weights w = {0};
        assert_int_equal(fs_meso_train_export(net, archs[i], &w, &msg), FS_OK);
        assert_int_equal(fs_weights_check_arch(&w, archs[i], &msg), FS_OK);
        assert_string_equal(fs_weights_meta(&w, "output"), "p_fake");
        assert_string_equal(fs_weights_meta(&w, "dense_leaky"), "true");
        assert_string_equal(fs_weights_meta(&w, "bn_eps"), "0.001");
        assert_string_equal(fs_weights_meta(&w, "arch"), archs[i]);
        /* Glorot uniform bound, zero biases, BN gamma 1 */
        const fs_weight *c = fs_weights_get(&w, i ? "conv3.weight" : "conv1.weight");
        const double lim = i ? sqrt(6.0 / (25 * 12 + 25 * 16)) : sqrt(6.0 / (27 + 72));
        double mx = 0;
        for (int64_t j = 0; j < c->count; j++) mx = fmax(mx, fabs(c->data[j]));
        assert_true(mx <= lim && mx > 0.8 * lim);
        assert_true(fs_weights_get(&w, "dense1.bias")->data[3] == 0.0f);
        assert_true(fs_weights_get(&w, "bn2.weight")->data[0] == 1.0f);
        /* import brings the same values back (conv layout transposed both ways) */
        fs_tnet *net2;
        assert_int_equal(fs_meso_train_create(archs[i], 256, 256, 1, 99, &net2, &msg), FS_OK);
        assert_int_equal(fs_tnet_import(net2, &w, &msg), FS_OK);
        fs_weights w2 = {0};
        assert_int_equal(fs_tnet_export(net2, &w2, &msg), FS_OK);
        assert_true(weights_identical(&w2, &w));
        fs_weights_free(&w2);
        fs_tnet_free(net2);
        fs_weights_free(&w);
        fs_tnet_free(net);
    }
    fs_tnet *net;
    fs_msg msg;
    assert_int_equal(fs_meso_train_create("meso5", 256, 256, 1, 1, &net, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_meso_train_create("meso4", 100, 256, 1, 1, &net, &msg), FS_ERR_INVALID);
}

/* One parameter, gradient set by hand. */
static void test_optimisers(void **state) {
    (void)state;
    fs_tnet *net;
    fs_msg msg;
    assert_int_equal(fs_tnet_create(1, 1, 2, 1, 0, &net, &msg), FS_OK);
    fs_tnet_dense(net, 0, "d", 1);
    assert_int_equal(fs_tnet_finish(net, &msg), FS_OK);
    fs_tparam *w = fs_tnet_param_find(net, "d.weight"), *b = fs_tnet_param_find(net, "d.bias");
    w->data[0] = 1.0f, w->data[1] = -2.0f, b->data[0] = 0.5f;

    fs_opt_config cfg = fs_opt_config_default();
    cfg.lr = 0.1;
    fs_optim *opt;
    assert_int_equal(fs_optim_create(&cfg, net, &opt, &msg), FS_OK);
    /* Adam: the first step moves each weight by lr * sign(g) (bias-corrected m/sqrt(v) = +-1) */
    w->grad[0] = 0.3f, w->grad[1] = -4.0f, b->grad[0] = 0.0f;
    fs_optim_step(opt);
    assert_float_equal(w->data[0], 0.9, 1e-6);
    assert_float_equal(w->data[1], -1.9, 1e-6);
    assert_float_equal(b->data[0], 0.5, 1e-9);
    /* second step with g2: m = .9*.1 g1 + .1 g2 over (1-.81), v likewise over (1-.998001) */
    w->grad[0] = 0.1f, w->grad[1] = -4.0f;
    fs_optim_step(opt);
    const double m = (0.9 * 0.1 * 0.3 + 0.1 * 0.1) / (1 - 0.81);
    const double v = (0.999 * 0.001 * 0.09 + 0.001 * 0.01) / (1 - 0.998001);
    assert_float_equal(w->data[0], 0.9 - 0.1 * m / (sqrt(v) + 1e-7), 1e-5);
    assert_int_equal(fs_optim_steps(opt), 2);
    fs_optim_free(opt);

    /* SGD with momentum and decoupled weight decay */
    cfg.kind = FS_OPT_SGD, cfg.momentum = 0.5, cfg.weight_decay = 0.1;
    w->data[0] = 1.0f;
    assert_int_equal(fs_optim_create(&cfg, net, &opt, &msg), FS_OK);
    w->grad[0] = 2.0f, b->grad[0] = 1.0f;
    fs_optim_step(opt); /* w = 1*(1-0.01) - 0.1*2 ; bias not decayed */
    assert_float_equal(w->data[0], 0.99 - 0.2, 1e-6);
    assert_float_equal(b->data[0], 0.5 - 0.1, 1e-6);
    fs_optim_step(opt); /* momentum buffer 0.5*2 + 2 = 3 */
    assert_float_equal(w->data[0], 0.79 * 0.99 - 0.3, 1e-6);
    fs_optim_free(opt);

    /* clipping: global norm 5 clipped to 1 */
    cfg.weight_decay = 0, cfg.momentum = 0, cfg.clip_norm = 1.0;
    assert_int_equal(fs_optim_create(&cfg, net, &opt, &msg), FS_OK);
    w->data[0] = 0.0f, w->data[1] = 0.0f, b->data[0] = 0.0f;
    w->grad[0] = 3.0f, w->grad[1] = 4.0f, b->grad[0] = 0.0f;
    assert_float_equal(fs_optim_step(opt), 5.0, 1e-6);
    assert_float_equal(w->data[0], -0.1 * 0.6, 1e-7);
    assert_float_equal(w->data[1], -0.1 * 0.8, 1e-7);
    fs_optim_free(opt);

    cfg.lr = -1;
    assert_int_equal(fs_optim_create(&cfg, net, &opt, &msg), FS_ERR_INVALID);
    fs_tnet_free(net);
}

static void test_schedules(void **state) {
    (void)state;
    fs_opt_config c = fs_opt_config_default();
    c.lr = 1.0;
    assert_float_equal(fs_lr_at(&c, 1000), 1.0, 0);
    c.schedule = FS_LR_STEP, c.step_every = 10, c.step_gamma = 0.5;
    assert_float_equal(fs_lr_at(&c, 9), 1.0, 1e-12);
    assert_float_equal(fs_lr_at(&c, 25), 0.25, 1e-12);
    c.schedule = FS_LR_COSINE, c.warmup_steps = 10, c.total_steps = 110, c.min_lr_frac = 0.1;
    assert_float_equal(fs_lr_at(&c, 0), 0.1, 1e-12);  /* warm-up 1/10 */
    assert_float_equal(fs_lr_at(&c, 9), 1.0, 1e-12);
    assert_float_equal(fs_lr_at(&c, 10), 1.0, 1e-12);
    assert_float_equal(fs_lr_at(&c, 60), 0.55, 1e-12); /* halfway: (1 + 0.1) / 2 */
    assert_float_equal(fs_lr_at(&c, 110), 0.1, 1e-12);
    assert_float_equal(fs_lr_at(&c, 500), 0.1, 1e-12);
}

/* 3 + 3 steps with the state passed through fs_weights equal 6 steps straight. */
static void test_resume_exact(void **state) {
    (void)state;
    float *x = malloc(sizeof(float) * NIMG * SIDE * SIDE * 3), y[NIMG];
    make_data(x, y, 5);
    fs_msg msg;
    fs_opt_config cfg = fs_opt_config_default();
    fs_tnet *a, *b;
    fs_optim *oa, *ob;
    assert_int_equal(fs_meso_train_create("meso4", SIDE, SIDE, 2, 8, &a, &msg), FS_OK);
    assert_int_equal(fs_optim_create(&cfg, a, &oa, &msg), FS_OK);
    train_steps(a, oa, x, y, 6, 0);

    assert_int_equal(fs_meso_train_create("meso4", SIDE, SIDE, 2, 8, &b, &msg), FS_OK);
    assert_int_equal(fs_optim_create(&cfg, b, &ob, &msg), FS_OK);
    train_steps(b, ob, x, y, 3, 0);
    fs_weights ck = {0};
    assert_int_equal(fs_tnet_export(b, &ck, &msg), FS_OK);
    assert_int_equal(fs_optim_export(ob, &ck, &msg), FS_OK);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(fs_weights_write_safetensors(&ck, &bytes, &len, &msg), FS_OK);
    fs_weights_free(&ck);
    fs_optim_free(ob);
    fs_tnet_free(b);

    fs_weights back = {0};
    assert_int_equal(fs_weights_read_safetensors(bytes, len, &back, &msg), FS_OK);
    free(bytes);
    /* same seed: dropout masks are keyed by (seed, step) */
    assert_int_equal(fs_meso_train_create("meso4", SIDE, SIDE, 2, 8, &b, &msg), FS_OK);
    assert_int_equal(fs_optim_create(&cfg, b, &ob, &msg), FS_OK);
    assert_int_equal(fs_tnet_import(b, &back, &msg), FS_OK);
    assert_int_equal(fs_optim_import(ob, &back, &msg), FS_OK);
    assert_int_equal(fs_optim_steps(ob), 3);
    fs_weights_free(&back);
    train_steps(b, ob, x, y, 3, 3);

    fs_weights wa = {0}, wb = {0};
    assert_int_equal(fs_tnet_export(a, &wa, &msg), FS_OK);
    assert_int_equal(fs_tnet_export(b, &wb, &msg), FS_OK);
    assert_true(weights_identical(&wa, &wb));
    fs_weights_free(&wa), fs_weights_free(&wb);
    /* a checkpoint without optimiser state is refused */
    assert_int_equal(fs_tnet_export(a, &wa, &msg), FS_OK);
    assert_int_equal(fs_optim_import(ob, &wa, &msg), FS_ERR_FORMAT);
    fs_weights_free(&wa);
    fs_optim_free(oa), fs_optim_free(ob);
    fs_tnet_free(a), fs_tnet_free(b);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimisers),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_export_names),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_resume_exact),
        cmocka_unit_test(test_overfit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
