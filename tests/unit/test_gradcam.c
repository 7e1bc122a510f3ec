/* Grad-CAM (models/gradcam.c) against an independent computation: the network's head from the
 * last conv block's feature maps A to the logit (batch norm 4, max pool 4, flatten, dense1,
 * optional LeakyReLU, dense2) re-evaluated here in double precision from the weights, and
 * differentiated by central finite differences.
 *
 *  - channel weights: shifting channel c of A uniformly by +-eps moves the logit by
 *    eps * sum_locations dz/dA_c, so (z(A + eps) - z(A - eps)) / (2 eps hw) is w_c. The head is
 *    piecewise linear (a uniform shift never reorders a pooling window), so the only error is
 *    float rounding of the graph's own gradient: |w_c - fd_c| <= 1e-4 * max_c |fd_c| + 1e-6.
 *  - single elements: the same for 24 locations of dz/dA (where the one-sided differences
 *    agree, i.e. not at a pooling tie) with the same tolerance.
 *  - the heat map is non-negative with maximum exactly 1 and the fake logit agrees with the
 *    reference forward (negated for P(real) weights) to 1e-3.
 * On the original Meso4_DF weights (shared data; skipped when absent) and on a randomly
 * initialised graph exported as P(fake) weights (always), so both signs are covered. */
#include "fs_test.h"

#include <math.h>

#include "fakescope/image.h"
#include "fakescope/model.h"
#include "fakescope/train.h"
#include "fakescope/weights.h"

#define FD_EPS 1e-3
#define FD_REL_TOL 1e-4
#define FD_ABS_TOL 1e-6

/* z(A) from the weights: bn4, 'same' max pool 4 (32 -> 8, no padding), NHWC flatten, dense1,
 * LeakyReLU 0.1 when leaky, dense2; the network's own logit (P(real) or P(fake)). */
static double head_logit(const fs_weights *w, int leaky, const double *a, int h, int wd, int c) {
    const float *g = fs_weights_get(w, "bn4.weight")->data, *b = fs_weights_get(w, "bn4.bias")->data;
    const float *mu = fs_weights_get(w, "bn4.running_mean")->data;
    const float *var = fs_weights_get(w, "bn4.running_var")->data;
    const fs_weight *d1 = fs_weights_get(w, "dense1.weight"), *d1b = fs_weights_get(w, "dense1.bias");
    const fs_weight *d2 = fs_weights_get(w, "dense2.weight"), *d2b = fs_weights_get(w, "dense2.bias");
    const int ph = h / 4, pw = wd / 4, fin = ph * pw * c;
    assert_int_equal(d1->shape[1], fin);
    double flat[4096];
    assert_true(fin <= 4096);
    for (int oy = 0; oy < ph; oy++)
        for (int ox = 0; ox < pw; ox++)
            for (int ch = 0; ch < c; ch++) {
                double best = -INFINITY;
                for (int y = oy * 4; y < oy * 4 + 4; y++)
                    for (int x = ox * 4; x < ox * 4 + 4; x++) {
                        double v = a[((size_t)y * wd + x) * c + ch];
                        v = (double)g[ch] * (v - mu[ch]) / sqrt((double)var[ch] + 1e-3) + b[ch];
                        if (v > best) best = v;
                    }
                flat[(oy * pw + ox) * c + ch] = best;
            }
    const int hid = (int)d1->shape[0];
    double z = d2b->data[0];
    for (int o = 0; o < hid; o++) {
        double s = d1b->data[o];
        for (int i = 0; i < fin; i++) s += (double)d1->data[(size_t)o * fin + i] * flat[i];
        if (leaky && s < 0) s *= 0.1;
        z += (double)d2->data[o] * s;
    }
    return z;
}

static void check_gradcam(const fs_weights *w, const float *input, const char *what) {
    fs_msg m;
    fs_net *net;
    if (fs_net_create(w, NULL, &net, &m)) fail_msg("%s: %s", what, m.text);
    const double sign = fs_net_output_is_fake(net) ? 1.0 : -1.0;
    fs_gradcam g;
    if (fs_net_gradcam(net, input, &g, &m)) fail_msg("%s: %s", what, m.text);
    assert_string_equal(g.layer, "conv4");
    assert_int_equal(g.h, 32), assert_int_equal(g.w, 32), assert_int_equal(g.c, 16);

    /* the same logit as the reference forward, and the same A as the explorer's activation */
    float raw, logit;
    assert_int_equal(fs_net_forward_ref(net, input, &raw, &logit, &m), FS_OK);
    if (fabs(g.logit_fake - sign * logit) > 1e-3)
        fail_msg("%s: fake logit %.6f, reference %.6f", what, g.logit_fake, sign * logit);
    fs_tensor act = {0};
    assert_int_equal(fs_net_activation(net, input, "conv4", &act, &m), FS_OK);
    const size_t n = (size_t)g.h * g.w * g.c;
    assert_int_equal(fs_tensor_count(&act), n);
    for (size_t i = 0; i < n; i++)
        if (fabsf(act.data[i] - g.act[i]) > 1e-3f * (1.0f + fabsf(act.data[i])))
            fail_msg("%s: A[%zu] %.6f, reference %.6f", what, i, g.act[i], act.data[i]);
    fs_tensor_free(&act);

    double *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = g.act[i];
    const int leaky = fs_net_dense_leaky(net);
    const double z0 = sign * head_logit(w, leaky, a, g.h, g.w, g.c);
    if (fabs(z0 - g.logit_fake) > 1e-3) fail_msg("%s: head z %.6f vs %.6f", what, z0, g.logit_fake);

    /* channel weights against uniform-shift finite differences */
    double fd[FS_GRADCAM_MAX_CHANNELS], top = 0, worst = 0;
    const double hw = (double)g.h * g.w;
    for (int ch = 0; ch < g.c; ch++) {
        double zp, zm;
        for (size_t i = ch; i < n; i += g.c) a[i] += FD_EPS;
        zp = sign * head_logit(w, leaky, a, g.h, g.w, g.c);
        for (size_t i = ch; i < n; i += g.c) a[i] -= 2 * FD_EPS;
        zm = sign * head_logit(w, leaky, a, g.h, g.w, g.c);
        for (size_t i = ch; i < n; i += g.c) a[i] = g.act[i];
        fd[ch] = (zp - zm) / (2 * FD_EPS * hw);
        if (fabs(fd[ch]) > top) top = fabs(fd[ch]);
    }
    assert_true(top > 0); /* a head with no gradient would make the check empty */
    for (int ch = 0; ch < g.c; ch++) {
        double e = fabs(fd[ch] - g.weights[ch]);
        if (e > worst) worst = e;
        if (e > FD_REL_TOL * top + FD_ABS_TOL)
            fail_msg("%s: w[%d] %.8g, finite difference %.8g", what, ch, g.weights[ch], fd[ch]);
    }
    /* single elements of dz/dA, where the head is linear around A (one-sided differences
     * agree: not at a pooling tie such as a window of zeros after the ReLU) */
    double gtop = 0;
    for (size_t i = 0; i < n; i++) gtop = fmax(gtop, fabs(g.grad[i]));
    const double tol = FD_REL_TOL * gtop + FD_ABS_TOL;
    uint64_t s = 12345;
    int checked = 0;
    for (int k = 0; k < 400 && checked < 24; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t i = (size_t)(s >> 33) % n;
        if (k % 2 == 0 && g.act[i] <= 0.0f) continue; /* favour active locations */
        a[i] = g.act[i] + FD_EPS;
        double zp = sign * head_logit(w, leaky, a, g.h, g.w, g.c);
        a[i] = g.act[i] - FD_EPS;
        double zm = sign * head_logit(w, leaky, a, g.h, g.w, g.c);
        a[i] = g.act[i];
        const double up = (zp - z0) / FD_EPS, down = (z0 - zm) / FD_EPS;
        if (fabs(up - down) > tol) continue;
        const double d = (zp - zm) / (2 * FD_EPS);
        if (fabs(d - g.grad[i]) > tol)
            fail_msg("%s: dz/dA[%zu] %.8g, finite difference %.8g", what, i, g.grad[i], d);
        checked++;
    }
    assert_int_equal(checked, 24);
    free(a);

    /* the heat map */
    float hmax = 0;
    for (int i = 0; i < g.h * g.w; i++) {
        assert_true(g.heat[i] >= 0.0f);
        if (g.heat[i] > hmax) hmax = g.heat[i];
    }
    assert_true(g.heat_max > 0.0f);
    assert_true(hmax == 1.0f);
    printf("%s: z_fake %.4f, max |w_c| %.3g, worst |w_c - fd_c| %.3g\n", what, g.logit_fake, top, worst);
    fs_gradcam_free(&g);
    fs_gradcam_free(&g); /* safe twice */
    fs_net_free(net);
}

static void random_graph_matches_finite_differences(void **state) {
    (void)state;
    fs_msg m;
    fs_tnet *t;
    assert_int_equal(fs_meso_train_create("meso4", 256, 256, 1, 7, &t, &m), FS_OK);
    /* batch-norm running statistics away from 0/1 so the head is not trivial */
    for (size_t i = 0; i < fs_tnet_param_count(t); i++) {
        fs_tparam *p = fs_tnet_param(t, i);
        if (strstr(p->name, "running_var"))
            for (size_t j = 0; j < p->count; j++) p->data[j] = 0.5f + 0.1f * (float)(j % 5);
        if (strstr(p->name, "running_mean"))
            for (size_t j = 0; j < p->count; j++) p->data[j] = 0.05f * (float)(j % 3);
    }
    fs_weights w = {0};
    assert_int_equal(fs_meso_train_export(t, "meso4", &w, &m), FS_OK);
    fs_tnet_free(t);
    float *x = malloc(256 * 256 * 3 * sizeof(float));
    for (int i = 0; i < 256 * 256 * 3; i++) x[i] = (float)((i * 2654435761u) >> 24) / 255.0f;
    check_gradcam(&w, x, "random meso4 (P(fake))");
    free(x);
    fs_weights_free(&w);
}

static void original_weights_match_finite_differences(void **state) {
    (void)state;
    char buf[512], png[1024], h5[1024];
    if (!fs_test_shared("mesonet/reference/df_df00204.png", buf, sizeof buf)) {
        skip();
        return;
    }
    static const char *const files[][2] = {{"Meso4_DF.h5", "meso4"},
                                           {"MesoInception_DF.h5", "mesoinception4"}};
    static const char *const pics[] = {"df_df00204.png", "real_real00240.png"};
    for (size_t f = 0; f < 2; f++) {
        snprintf(h5, sizeof h5, "%s/mesonet/weights/%s", FS_SHARED_DATA, files[f][0]);
        fs_weights w = {0};
        fs_msg m;
        if (fs_weights_import_keras(h5, files[f][1], &w, &m)) fail_msg("%s: %s", h5, m.text);
        for (size_t p = 0; p < 2; p++) {
            snprintf(png, sizeof png, "%s/mesonet/reference/%s", FS_SHARED_DATA, pics[p]);
            float *x = fs_test_load_input256(png);
            snprintf(buf, sizeof buf, "%s on %s", files[f][0], pics[p]);
            check_gradcam(&w, x, buf);
            free(x);
        }
        fs_weights_free(&w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_graph_matches_finite_differences),
        cmocka_unit_test(original_weights_match_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
