/* Architectures and networks: the weight table check, the fused forward against the reference
 * forward on random weights (both kernel paths, 1 and 2 threads, odd batches), plan reuse
 * without allocation, feature-map activations, and, when the shared data is there, the four
 * original Keras MesoNet files against the reference outputs. */
#include "fs_test.h"
#include "fakescope/image.h"
#include "fakescope/model.h"
#include "fakescope/graph.h"

#include <jansson.h>

#include <malloc.h>
#include <math.h>
#include <strings.h>

static uint64_t rng = 0x243F6A8885A308D3ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

/* Weights for arch with random values of a sensible scale (running variances positive). */
static void random_weights(const fs_arch *a, int leaky, fs_weights *w) {
    memset(w, 0, sizeof *w);
    for (size_t i = 0; i < a->n_tensors; i++) {
        const fs_arch_tensor *t = &a->tensors[i];
        int64_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= t->shape[d];
        float *data = malloc((size_t)count * sizeof(float));
        int fan_in = t->ndim == 4 ? (int)(t->shape[1] * t->shape[2] * t->shape[3])
                                  : t->ndim == 2 ? (int)t->shape[1] : 1;
        const char *n = t->name;
        for (int64_t j = 0; j < count; j++) {
            float r = frand();
            if (strstr(n, "running_var")) r = 0.5f + 0.5f * fabsf(r);
            else if (strstr(n, "bn") && strstr(n, ".weight")) r = 0.8f + 0.4f * fabsf(r);
            else if (strstr(n, "running_mean") || strstr(n, ".bias")) r *= 0.1f;
            else r *= sqrtf(6.0f / (float)fan_in);
            data[j] = r;
        }
        assert_int_equal(fs_weights_add(w, t->name, t->ndim, t->shape, data, NULL), FS_OK);
        free(data);
    }
    assert_int_equal(fs_weights_set_meta(w, "arch", a->name, NULL), FS_OK);
    assert_int_equal(fs_weights_set_meta(w, "dense_leaky", leaky ? "true" : "false", NULL), FS_OK);
}

static void free_weights(fs_weights *w) { fs_weights_free(w); }

static float *random_images(const fs_arch *a, int n) {
    size_t count = (size_t)n * a->input_h * a->input_w * a->input_c;
    float *x = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) x[i] = (frand() + 1.0f) * 0.5f; /* [0, 1) as pixels */
    return x;
}

static void arch_table_and_validation(void **state) {
    (void)state;
    const fs_arch *m4 = fs_arch_find("meso4"), *mi = fs_arch_find("MesoInception4");
    assert_non_null(m4), assert_non_null(mi);
    assert_ptr_equal(fs_arch_find("mesoinception"), mi);
    assert_null(fs_arch_find("resnet"));
    assert_int_equal(m4->input_h, 256), assert_int_equal(m4->n_conv_layers, 4);
    assert_int_equal(mi->n_conv_layers, 16);
    assert_int_equal(m4->conv_layers[1].filters, 8), assert_int_equal(m4->conv_layers[1].kh, 5);
    /* the figures the benchmark quotes: 0.120 and 0.114 GFLOP per image */
    assert_float_equal(fs_arch_flops(m4) / 1e9, 0.120, 0.0015);
    assert_float_equal(fs_arch_flops(mi) / 1e9, 0.114, 0.0015);
    size_t n = 0;
    for (const fs_arch *const *a = fs_arch_list(); *a; a++) n++;
    assert_int_equal(n, 3);
    const fs_arch *mb = fs_arch_find("MobileNetV2");
    assert_non_null(mb), assert_non_null(mb->graph);
    /* 0.60 GFLOP at 224x224, times (256/224)^2 */
    assert_float_equal(fs_arch_flops(mb) / 1e9, 0.60 * 256.0 * 256.0 / (224.0 * 224.0), 0.03);

    fs_weights w;
    fs_msg m;
    random_weights(m4, 0, &w);
    assert_int_equal(fs_arch_validate(m4, &w, &m), FS_OK);
    assert_int_equal(fs_arch_validate(mi, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "MesoInception4"));
    /* wrong shape */
    w.items[2].shape[0] = 7;
    assert_int_equal(fs_arch_validate(m4, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "bn1.weight has shape [7], expected [8]"));
    w.items[2].shape[0] = 8;
    /* missing (dense2.bias is last), then unexpected */
    w.count--;
    assert_int_equal(fs_arch_validate(m4, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "dense2.bias [1] is missing"));
    w.count++;
    free(w.items[0].name);
    w.items[0].name = strdup("conv0.weight");
    assert_int_equal(fs_arch_validate(m4, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "conv1.weight"));
    fs_net *net;
    assert_int_equal(fs_net_create(&w, NULL, &net, &m), FS_ERR_FORMAT);
    assert_null(net);
    assert_int_equal(fs_net_create(&w, "vgg", &net, &m), FS_ERR_NOTFOUND);
    free_weights(&w);
}

/* The weights module keeps its own list of expected tensors for import checks; both lists
 * must describe the same architecture. */
static void arch_tables_agree_with_weights_specs(void **state) {
    (void)state;
    for (const fs_arch *const *a = fs_arch_list(); *a; a++) {
        if ((*a)->graph) continue; /* checked by its graph builder (graph_network_*) */
        fs_weight_spec specs[FS_WEIGHTS_MAX_ARCH_TENSORS];
        size_t n = fs_weights_arch_specs((*a)->name, specs, FS_WEIGHTS_MAX_ARCH_TENSORS);
        assert_int_equal(n, (*a)->n_tensors);
        for (size_t i = 0; i < n; i++) {
            const fs_arch_tensor *t = NULL;
            for (size_t j = 0; j < n && !t; j++)
                if (!strcmp((*a)->tensors[j].name, specs[i].name)) t = &(*a)->tensors[j];
            if (!t) fail_msg("%s: %s is not in the fs_arch table", (*a)->name, specs[i].name);
            assert_int_equal(t->ndim, specs[i].ndim);
            for (int d = 0; d < t->ndim; d++) assert_int_equal(t->shape[d], specs[i].shape[d]);
        }
        /* and a weight set that passes one check passes the other */
        fs_weights w;
        random_weights(*a, 1, &w);
        assert_int_equal(fs_weights_check_arch(&w, (*a)->name, NULL), FS_OK);
        free_weights(&w);
    }
}

static double rel(double a, double b) { return fabs(a - b) / fmax(1.0, fabs(b)); }

/* The fused, planned forward equals the reference forward, for every combination of kernel
 * path, thread count and batch split. */
static void check_arch(const char *name, int leaky) {
    const fs_arch *a = fs_arch_find(name);
    fs_weights w;
    random_weights(a, leaky, &w);
    fs_net *net;
    fs_msg m;
    assert_int_equal(fs_net_create(&w, NULL, &net, &m), FS_OK);
    free_weights(&w); /* the net keeps its own copy */
    assert_int_equal(fs_net_dense_leaky(net), leaky);
    enum { B = 3 };
    float *x = random_images(a, B);
    size_t img = (size_t)a->input_h * a->input_w * a->input_c;
    float ref_raw[B], ref_logit[B];
    for (int b = 0; b < B; b++)
        assert_int_equal(fs_net_forward_ref(net, x + b * img, &ref_raw[b], &ref_logit[b], &m), FS_OK);
    for (int portable = 0; portable <= 1; portable++)
        for (int threads = 1; threads <= 2; threads++) {
            fs_net_opts o = {.threads = threads, .max_batch = B, .portable = portable};
            fs_net_ctx *ctx;
            assert_int_equal(fs_net_ctx_create(net, &o, &ctx, &m), FS_OK);
            float raw[B], logit[B];
            for (int batch = 1; batch <= B; batch += 2) {
                assert_int_equal(fs_net_forward(ctx, x, batch, raw, logit, &m), FS_OK);
                for (int b = 0; b < batch; b++) {
                    if (rel(logit[b], ref_logit[b]) > 1e-4)
                        fail_msg("%s portable=%d threads=%d batch=%d image %d: logit %.6f vs reference %.6f",
                                 name, portable, threads, batch, b, logit[b], ref_logit[b]);
                    assert_float_equal(raw[b], fs_nn_sigmoid(logit[b]), 1e-7);
                }
            }
            assert_int_equal(fs_net_forward(ctx, x, B + 1, raw, logit, &m), FS_ERR_INVALID);
            assert_int_equal(fs_net_forward(ctx, x, 0, raw, logit, &m), FS_ERR_INVALID);
            fs_net_ctx_free(ctx);
        }
    /* the logits must depend on the input: two different images, two different answers */
    assert_true(fabs(ref_logit[0] - ref_logit[1]) > 1e-6);
    free(x);
    fs_net_free(net);
}

static void meso4_fused_equals_reference(void **state) {
    (void)state;
    check_arch("meso4", 0);
    check_arch("meso4", 1);
}

static void mesoinception4_fused_equals_reference(void **state) {
    (void)state;
    check_arch("mesoinception4", 1);
}

static void plan_reuse_is_stable_and_does_not_allocate(void **state) {
    (void)state;
    const fs_arch *a = fs_arch_find("mesoinception4");
    fs_weights w;
    random_weights(a, 1, &w);
    fs_net *net;
    assert_int_equal(fs_net_create(&w, NULL, &net, NULL), FS_OK);
    free_weights(&w);
    fs_net_opts o = {.threads = 2, .max_batch = 4};
    fs_net_ctx *ctx;
    assert_int_equal(fs_net_ctx_create(net, &o, &ctx, NULL), FS_OK);
    assert_true(fs_net_ctx_bytes(ctx) > 0);
    float *x = random_images(a, 4);
    float r1[4], r2[4], r3[4];
    assert_int_equal(fs_net_forward(ctx, x, 4, r1, NULL, NULL), FS_OK);
    struct mallinfo2 before = mallinfo2();
    assert_int_equal(fs_net_forward(ctx, x, 4, r2, NULL, NULL), FS_OK);
    assert_int_equal(fs_net_forward(ctx, x, 1, r3, NULL, NULL), FS_OK);
    struct mallinfo2 after = mallinfo2();
    assert_int_equal(before.uordblks, after.uordblks); /* no heap growth in the hot path */
    assert_memory_equal(r1, r2, sizeof r1);            /* bit-identical on reuse */
    assert_memory_equal(r1, r3, sizeof(float));        /* row split == whole image */
    free(x);
    fs_net_ctx_free(ctx);
    fs_net_free(net);
}

static void activations_of_conv_layers(void **state) {
    (void)state;
    const fs_arch *a = fs_arch_find("meso4");
    fs_weights w;
    random_weights(a, 0, &w);
    fs_net *net;
    assert_int_equal(fs_net_create(&w, "meso4", &net, NULL), FS_OK);
    float *x = random_images(a, 1);
    fs_tensor t;
    fs_msg m;
    assert_int_equal(fs_net_activation(net, x, "conv2", &t, &m), FS_OK);
    assert_int_equal(t.h, 128), assert_int_equal(t.w, 128), assert_int_equal(t.c, 8);
    for (size_t i = 0; i < fs_tensor_count(&t); i++) assert_true(t.data[i] >= 0); /* after ReLU */
    fs_tensor_free(&t);
    /* conv1's activation is conv + bias + ReLU of the input itself */
    assert_int_equal(fs_net_activation(net, x, "conv1", &t, &m), FS_OK);
    const fs_weight *cw = &w.items[0], *cb = &w.items[1];
    assert_string_equal(cw->name, "conv1.weight");
    int yx[3][2] = {{0, 0}, {100, 37}, {255, 255}};
    for (int i = 0; i < 3; i++)
        for (int co = 0; co < 8; co++) {
            int y = yx[i][0], xx = yx[i][1];
            double acc = cb->data[co];
            for (int ci = 0; ci < 3; ci++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int iy = y - 1 + ky, ix = xx - 1 + kx;
                        if (iy < 0 || iy > 255 || ix < 0 || ix > 255) continue;
                        acc += cw->data[((co * 3 + ci) * 3 + ky) * 3 + kx] * x[(iy * 256 + ix) * 3 + ci];
                    }
            assert_float_equal(FS_AT(&t, 0, y, xx, co), acc > 0 ? acc : 0, 1e-5);
        }
    fs_tensor_free(&t);
    for (size_t i = 0; i < a->n_conv_layers; i++) {
        assert_int_equal(fs_net_activation(net, x, a->conv_layers[i].name, &t, &m), FS_OK);
        assert_int_equal(t.h, a->conv_layers[i].out_h);
        assert_int_equal(t.c, a->conv_layers[i].filters);
        fs_tensor_free(&t);
    }
    assert_int_equal(fs_net_activation(net, x, "dense1", &t, &m), FS_ERR_NOTFOUND);
    assert_null(t.data);
    free(x);
    free_weights(&w);
    fs_net_free(net);
}

/* A MesoNet lists its convolution layers from its architecture: Meso4's four as the paper
 * gives them (8 3x3, 8 5x5, 16 5x5, 16 5x5), MesoInception4's sixteen; cap truncates what is
 * written, never the count. */
static void conv_shapes_of_mesonets(void **state) {
    (void)state;
    fs_msg m;
    const fs_arch *a = fs_arch_find("meso4");
    fs_weights w;
    random_weights(a, 0, &w);
    fs_net *net;
    assert_int_equal(fs_net_create(&w, "meso4", &net, NULL), FS_OK);
    int filters[32], kernel[32];
    for (int i = 0; i < 32; i++) filters[i] = kernel[i] = -1;
    assert_int_equal(fs_net_conv_shapes(net, filters, kernel, 32, &m), 4);
    const int want_f[4] = {8, 8, 16, 16}, want_k[4] = {3, 5, 5, 5};
    for (int i = 0; i < 4; i++) assert_int_equal(filters[i], want_f[i]), assert_int_equal(kernel[i], want_k[i]);
    assert_int_equal(filters[4], -1);
    for (int i = 0; i < 32; i++) filters[i] = kernel[i] = -1;
    assert_int_equal(fs_net_conv_shapes(net, filters, kernel, 2, &m), 4);
    assert_int_equal(filters[1], 8), assert_int_equal(kernel[1], 5);
    assert_int_equal(filters[2], -1), assert_int_equal(kernel[2], -1);
    fs_net_free(net);
    free_weights(&w);
    a = fs_arch_find("mesoinception4");
    random_weights(a, 0, &w);
    assert_int_equal(fs_net_create(&w, "mesoinception4", &net, NULL), FS_OK);
    assert_int_equal(fs_net_conv_shapes(net, filters, kernel, 32, &m), 16);
    for (int i = 0; i < 16; i++) {
        assert_true(filters[i] >= 1 && filters[i] <= 16);
        assert_true(kernel[i] == 1 || kernel[i] == 3 || kernel[i] == 5);
    }
    assert_int_equal(filters[14], 16), assert_int_equal(kernel[14], 5); /* conv1, conv2 after */
    fs_net_free(net);
    free_weights(&w);
}

/* The four original Keras files, imported, give reference.json's outputs on the reference
 * PNGs within 1e-4, through the fused path (both kernel paths) and the reference path. */
static void keras_files_match_reference_outputs(void **state) {
    (void)state;
    char refdir[512], path[1024];
    if (!fs_test_shared("mesonet/reference/reference.json", refdir, sizeof refdir)) {
        skip();
        return;
    }
    json_error_t jerr;
    json_t *ref = json_load_file(refdir, 0, &jerr);
    assert_non_null(ref);
    json_t *results = json_object_get(ref, "results");
    assert_non_null(results);
    *strrchr(refdir, '/') = '\0';
    static const char *const files[4][2] = {{"Meso4_DF.h5", "meso4"},
                                            {"Meso4_F2F.h5", "meso4"},
                                            {"MesoInception_DF.h5", "mesoinception4"},
                                            {"MesoInception_F2F.h5", "mesoinception4"}};
    int checked = 0;
    double worst = 0;
    for (int f = 0; f < 4; f++) {
        snprintf(path, sizeof path, "%s/../weights/%s", refdir, files[f][0]);
        fs_weights w = {0};
        fs_msg m;
        if (fs_weights_import_keras(path, files[f][1], &w, &m)) fail_msg("%s: %s", path, m.text);
        assert_int_equal(fs_arch_validate(fs_arch_find(files[f][1]), &w, &m), FS_OK);
        fs_net *net;
        if (fs_net_create(&w, NULL, &net, &m)) fail_msg("%s: %s", path, m.text);
        fs_weights_free(&w);
        /* the graph follows each file's layer list: no LeakyReLU in Meso4 files */
        assert_int_equal(fs_net_dense_leaky(net), f >= 2);
        assert_int_equal(fs_net_output_is_fake(net), 0);
        fs_net_ctx *fast, *portable;
        fs_net_opts o = {.threads = 2};
        assert_int_equal(fs_net_ctx_create(net, &o, &fast, &m), FS_OK);
        o.portable = 1, o.threads = 1;
        assert_int_equal(fs_net_ctx_create(net, &o, &portable, &m), FS_OK);
        json_t *per_file = json_object_get(results, files[f][0]);
        assert_non_null(per_file);
        const char *png;
        json_t *want;
        json_object_foreach(per_file, png, want) {
            snprintf(path, sizeof path, "%s/%s", refdir, png);
            float *x = fs_test_load_input256(path);
            double p_real = json_real_value(json_object_get(want, "p_real"));
            double logit = json_real_value(json_object_get(want, "logit"));
            float raw[3], lg[3];
            assert_int_equal(fs_net_forward(fast, x, 1, &raw[0], &lg[0], &m), FS_OK);
            assert_int_equal(fs_net_forward(portable, x, 1, &raw[1], &lg[1], &m), FS_OK);
            assert_int_equal(fs_net_forward_ref(net, x, &raw[2], &lg[2], &m), FS_OK);
            static const char *const how[3] = {"fused", "portable", "reference"};
            for (int i = 0; i < 3; i++) {
                double e = fmax(fabs(raw[i] - p_real), fabs(lg[i] - logit));
                if (e > worst) worst = e;
                if (e > 1e-4)
                    fail_msg("%s on %s (%s): p_real %.7f logit %.6f, expected %.7f / %.6f",
                             files[f][0], png, how[i], raw[i], lg[i], p_real, logit);
            }
            checked++;
            free(x);
        }
        fs_net_ctx_free(fast), fs_net_ctx_free(portable);
        fs_net_free(net);
    }
    assert_int_equal(checked, 20);
    printf("largest deviation from reference.json: %.2e\n", worst);
    json_decref(ref);
}

/* A MobileNetV2 detector (one logit) runs through fs_net like a MesoNet: the fast context in
 * chunks of the graph's batch, with 2 threads, agrees with the portable one and with the graph
 * run by hand on the input in the network's own scale; ImageNet heads and broken weights are
 * refused when the network is made; Grad-CAM says it does not apply. */
static void graph_network_runs_like_a_mesonet(void **state) {
    (void)state;
    fs_msg m;
    const fs_arch *a = fs_arch_find("mobilenetv2");
    fs_weights w = {0};
    assert_int_equal(a->random(&w, 1, 7, &m), FS_OK);
    /* a small head, so the logits stay in the sigmoid's useful range */
    fs_weight *head = (fs_weight *)fs_weights_get(&w, "classifier.1.weight");
    assert_non_null(head);
    for (int64_t i = 0; i < head->count; i++) head->data[i] = 0.02f * frand();
    assert_int_equal(fs_weights_set_meta(&w, "output", "p_fake", &m), FS_OK);
    assert_int_equal(fs_weights_set_meta(&w, "input_scale", "0.0078125", &m), FS_OK);
    assert_int_equal(fs_weights_set_meta(&w, "input_zero_point", "128", &m), FS_OK);
    fs_net *net = NULL;
    assert_int_equal(fs_net_create(&w, NULL, &net, &m), FS_ERR_INVALID); /* no "arch" yet */
    assert_int_equal(fs_net_create(&w, "mobilenetv2", &net, &m), FS_OK);
    assert_int_equal(fs_net_output_is_fake(net), 1);

    enum { B = 9 }; /* more than one chunk of the graph's batch */
    const size_t per = 256 * 256 * 3;
    float *x = malloc(per * B * sizeof(float)), *gx = malloc(per * sizeof(float));
    for (size_t i = 0; i < per * B; i++) /* noise over a level of its own per item */
        x[i] = (float)((i * 2654435761u >> 8) % 64 + (i / per) * 17) / 255.0f;
    fs_net_ctx *fast, *portable;
    fs_net_opts o = {.threads = 2, .max_batch = B};
    assert_int_equal(fs_net_ctx_create(net, &o, &fast, &m), FS_OK);
    o.threads = 1, o.portable = 1, o.max_batch = 1;
    assert_int_equal(fs_net_ctx_create(net, &o, &portable, &m), FS_OK);
    /* the reported memory holds the graph's plan: many activations, not only the input; the
     * fast kernels share the backbone's inner buffers (fs_graph_share), so 8 images planned
     * there take less than one on the portable code, where every node keeps its own (33 and
     * 38 MB when this was written) */
    assert_true(fs_net_ctx_bytes(fast) > 4 * per * B * sizeof(float));
    if (fs_nn_isa_best() >= FS_ISA_AVX2) assert_true(fs_net_ctx_bytes(fast) < fs_net_ctx_bytes(portable));
    float raw[B], lg[B];
    assert_int_equal(fs_net_forward(fast, x, B, raw, lg, &m), FS_OK);
    assert_int_equal(fs_net_forward(fast, x, B + 1, raw, lg, &m), FS_ERR_INVALID);
    fs_graph *g;
    assert_int_equal(a->graph(&w, 256, &g, &m), FS_OK);
    fs_graph_set_isa(g, FS_ISA_PORTABLE);
    double spread = 0;
    for (int b = 0; b < B; b += 4) { /* both chunks; the portable runs are slow */
        float r1, l1, rr, lr, lh;
        assert_int_equal(fs_net_forward(portable, x + per * b, 1, &r1, &l1, &m), FS_OK);
        assert_int_equal(fs_net_forward_ref(net, x + per * b, &rr, &lr, &m), FS_OK);
        for (size_t i = 0; i < per; i++) gx[i] = 0.0078125f * (x[per * b + i] * 255.0f - 128.0f);
        assert_int_equal(fs_graph_forward(g, gx, 1, &lh, &m), FS_OK);
        if (rel(l1, lh) > 1e-5 || rel(lr, lh) > 1e-5 || rel(lg[b], lh) > 1e-4)
            fail_msg("item %d: logits fast %.6f portable %.6f reference %.6f by hand %.6f", b,
                     lg[b], l1, lr, lh);
        assert_float_equal(raw[b], 1.0 / (1.0 + exp(-lh)), 1e-5);
        spread = fmax(spread, fabs(lh - lg[0]));
    }
    assert_true(spread > 1e-3); /* the items differ, so the check could fail */
    fs_gradcam cam;
    assert_int_equal(fs_net_gradcam(net, x, &cam, &m), FS_ERR_UNSUPPORTED);
    assert_non_null(strstr(m.text, "MobileNetV2"));
    fs_graph_free(g);
    fs_net_ctx_free(fast), fs_net_ctx_free(portable);
    fs_net_free(net);
    free(x), free(gx);
    fs_weights_free(&w);

    /* an ImageNet head (1000 classes) is a backbone, not a detector */
    assert_int_equal(a->random(&w, 1000, 7, &m), FS_OK);
    assert_int_equal(fs_net_create(&w, "mobilenetv2", &net, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "1000 values"));
    fs_weights_free(&w);
    /* a tensor of the wrong shape is named */
    assert_int_equal(a->random(&w, 1, 7, &m), FS_OK);
    fs_weight *t = (fs_weight *)fs_weights_get(&w, "features.3.conv.1.0.weight");
    assert_non_null(t);
    t->shape[0] = 7;
    assert_int_equal(fs_net_create(&w, "mobilenetv2", &net, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "features.3.conv.1.0.weight"));
    assert_null(net);
    fs_weights_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arch_table_and_validation),
        cmocka_unit_test(arch_tables_agree_with_weights_specs),
        cmocka_unit_test(meso4_fused_equals_reference),
        cmocka_unit_test(mesoinception4_fused_equals_reference),
        cmocka_unit_test(plan_reuse_is_stable_and_does_not_allocate),
        cmocka_unit_test(activations_of_conv_layers),
        cmocka_unit_test(conv_shapes_of_mesonets),
        cmocka_unit_test(keras_files_match_reference_outputs),
        cmocka_unit_test(graph_network_runs_like_a_mesonet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
