/* Unit test of the path from training to inference: Meso4 and MesoInception4 trained a few
 * steps, exported with fs_meso_train_export, written to safetensors and read back, then run by
 * the inference engine (fs_net_forward, fused kernels) must give the logits of the training
 * graph's inference-mode forward within 1e-4. */
#include "fs_test.h"

#include "fakescope/train.h"

#include <math.h>

#include "fakescope/model.h"

#define SIDE 256
#define BATCH 3

static void check_arch(const char *arch) {
    fs_msg msg;
    fs_tnet *net;
    assert_int_equal(fs_meso_train_create(arch, SIDE, SIDE, 2, 11, &net, &msg), FS_OK);
    const size_t n = (size_t)BATCH * SIDE * SIDE * 3;
    float *x = malloc(n * sizeof(float));
    uint64_t s = 3;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(s >> 40) / 16777216.0f;
    }
    /* a few steps move BN running statistics, gammas and betas away from their defaults */
    fs_opt_config cfg = fs_opt_config_default();
    cfg.lr = 1e-2;
    fs_optim *opt;
    assert_int_equal(fs_optim_create(&cfg, net, &opt, &msg), FS_OK);
    const float y[BATCH] = {0, 1, 1};
    float dz[BATCH];
    const float *out;
    for (int step = 0; step < 3; step++) {
        fs_tnet_set_step(net, (uint64_t)step);
        assert_int_equal(fs_tnet_forward(net, x, BATCH, 1, &out, &msg), FS_OK);
        fs_loss_bce_logits(out, y, BATCH, dz);
        fs_tnet_backward(net, dz, NULL);
        fs_optim_step(opt);
    }
    assert_int_equal(fs_tnet_forward(net, x, BATCH, 0, &out, &msg), FS_OK);
    float want[BATCH];
    memcpy(want, out, sizeof want);

    fs_weights w = {0}, back = {0};
    assert_int_equal(fs_meso_train_export(net, arch, &w, &msg), FS_OK);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(fs_weights_write_safetensors(&w, &bytes, &len, &msg), FS_OK);
    assert_int_equal(fs_weights_read_safetensors(bytes, len, &back, &msg), FS_OK);
    free(bytes);
    fs_net *inf;
    assert_int_equal(fs_net_create(&back, NULL, &inf, &msg), FS_OK);
    assert_true(fs_net_output_is_fake(inf));
    assert_true(fs_net_dense_leaky(inf));
    fs_net_opts o = {.threads = 2, .max_batch = BATCH};
    fs_net_ctx *ctx;
    assert_int_equal(fs_net_ctx_create(inf, &o, &ctx, &msg), FS_OK);
    float raw[BATCH], logit[BATCH];
    assert_int_equal(fs_net_forward(ctx, x, BATCH, raw, logit, &msg), FS_OK);
    for (int i = 0; i < BATCH; i++) {
        printf("%s image %d: training graph %.6f, inference engine %.6f\n", arch, i, want[i], logit[i]);
        assert_float_equal(logit[i], want[i], 1e-4);
        assert_float_equal(raw[i], 1.0 / (1.0 + exp(-(double)want[i])), 1e-5);
    }
    fs_net_ctx_free(ctx);
    fs_net_free(inf);
    fs_weights_free(&w), fs_weights_free(&back);
    fs_optim_free(opt);
    fs_tnet_free(net);
    free(x);
}

static void test_meso4(void **state) {
    (void)state;
    check_arch("meso4");
}

static void test_mesoinception4(void **state) {
    (void)state;
    check_arch("mesoinception4");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meso4),
        cmocka_unit_test(test_mesoinception4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
