/* The op graph (nn/graph.h) against the reference layers and definitions: convolutions with
 * TensorFlow's SAME padding (strides 1 and 2, dilation) against fs_nn_conv2d, depthwise
 * convolutions, PyTorch-style symmetric and VALID padding, fused activations, residual adds,
 * global pooling, dense and softmax against loops written from their definitions; builder
 * errors; and the ImageNet MobileNetV2 of ../shared/data imported from TFLite (both the uint8
 * and the int8 per-channel file) putting the cat picture in the cat classes, top 5. */
#include "fs_test.h"
#include "fakescope/graph.h"
#include "fakescope/nn.h"
#include "fakescope/mobilenet.h"
#include "fakescope/tflite.h"

#include <math.h>

static uint32_t rng = 12345;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}
static float *rand_array(size_t n) {
    float *a = malloc(sizeof(float) * n);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++) a[i] = frand();
    return a;
}

static void expect_close(const float *a, const float *b, size_t n, float tol) {
    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > tol * (1 + fabsf(b[i])))
            fail_msg("element %zu: %.7g vs %.7g", i, (double)a[i], (double)b[i]);
}

/* conv (TF SAME) against fs_nn_conv2d, then ReLU6 */
static void check_conv(int h, int w, int cin, int cout, int k, int stride, int dil) {
    float *x = rand_array((size_t)h * w * cin), *wt = rand_array((size_t)cout * cin * k * k),
          *b = rand_array((size_t)cout);
    fs_conv2d p = {cin, cout, k, k, stride, stride, dil, dil, wt, b};
    fs_tensor in = {1, h, w, cin, x}, ref;
    int oh, ow;
    fs_nn_conv2d_shape(&p, &in, &oh, &ow);
    fs_msg msg;
    assert_int_equal(fs_tensor_alloc(&ref, 1, oh, ow, cout, &msg), FS_OK);
    fs_nn_conv2d(&p, &in, &ref);
    for (size_t i = 0; i < fs_tensor_count(&ref); i++)
        ref.data[i] = ref.data[i] < 0 ? 0 : ref.data[i] > 6 ? 6 : ref.data[i];
    fs_graph *g;
    assert_int_equal(fs_graph_create(h, w, cin, &g, &msg), FS_OK);
    int y = fs_graph_conv(g, 0, cout, k, stride, dil, FS_PAD_SAME, wt, b, FS_ACT_RELU6, "c");
    assert_int_equal(y, 1);
    fs_graph_node_info ni;
    fs_graph_node(g, y, &ni);
    assert_int_equal(ni.h, oh), assert_int_equal(ni.w, ow);
    float *out = malloc(sizeof(float) * fs_tensor_count(&ref));
    assert_int_equal(fs_graph_forward(g, x, 1, out, &msg), FS_OK);
    expect_close(out, ref.data, fs_tensor_count(&ref), 1e-5f);
    free(out), free(x), free(wt), free(b);
    fs_tensor_free(&ref);
    fs_graph_free(g);
}

static void test_conv_same(void **state) {
    (void)state;
    check_conv(9, 11, 5, 7, 3, 1, 1);
    check_conv(9, 11, 5, 7, 3, 2, 1);  /* odd: TF pads one more at the bottom and right */
    check_conv(10, 12, 4, 6, 3, 2, 1); /* even */
    check_conv(8, 8, 3, 4, 3, 1, 2);
    check_conv(7, 5, 6, 3, 1, 1, 1);   /* pointwise */
    check_conv(14, 14, 3, 8, 5, 2, 1);
}

/* depthwise, any padding, from the definition */
static void check_dw(int h, int w, int c, int k, int stride, fs_pad pad) {
    float *x = rand_array((size_t)h * w * c), *wt = rand_array((size_t)c * k * k), *b = rand_array((size_t)c);
    int oh, ow, pt, pl;
    if (pad == FS_PAD_VALID) oh = (h - k) / stride + 1, ow = (w - k) / stride + 1, pt = pl = 0;
    else if (pad == FS_PAD_SYMMETRIC) oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1, pt = pl = k / 2;
    else {
        oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
        int th = (oh - 1) * stride + k - h, tw = (ow - 1) * stride + k - w;
        pt = th > 0 ? th / 2 : 0, pl = tw > 0 ? tw / 2 : 0;
    }
    float *ref = calloc((size_t)oh * ow * c, sizeof(float));
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int ch = 0; ch < c; ch++) {
                float s = b[ch];
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = oy * stride + ky - pt, ix = ox * stride + kx - pl;
                        if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
                        s += x[((size_t)iy * w + ix) * c + ch] * wt[((size_t)ch * k + ky) * k + kx];
                    }
                ref[((size_t)oy * ow + ox) * c + ch] = s > 0 ? s : 0;
            }
    fs_graph *g;
    fs_msg msg;
    assert_int_equal(fs_graph_create(h, w, c, &g, &msg), FS_OK);
    assert_int_equal(fs_graph_dwconv(g, 0, k, stride, 1, pad, wt, b, FS_ACT_RELU, "d"), 1);
    fs_graph_node_info ni;
    fs_graph_node(g, 1, &ni);
    assert_int_equal(ni.h, oh), assert_int_equal(ni.w, ow), assert_int_equal(ni.c, c);
    float *out = malloc(sizeof(float) * (size_t)oh * ow * c);
    assert_int_equal(fs_graph_forward(g, x, 1, out, &msg), FS_OK);
    expect_close(out, ref, (size_t)oh * ow * c, 1e-5f);
    free(out), free(ref), free(x), free(wt), free(b);
    fs_graph_free(g);
}

static void test_depthwise(void **state) {
    (void)state;
    check_dw(9, 11, 5, 3, 1, FS_PAD_SAME);
    check_dw(9, 11, 5, 3, 2, FS_PAD_SAME);
    check_dw(10, 10, 8, 3, 2, FS_PAD_SAME);
    check_dw(9, 11, 5, 3, 2, FS_PAD_SYMMETRIC);
    check_dw(9, 11, 5, 3, 1, FS_PAD_VALID);
    check_dw(12, 7, 16, 5, 2, FS_PAD_SAME);
}

static void test_add_gap_dense_softmax(void **state) {
    (void)state;
    const int h = 4, w = 3, c = 6, o = 5, n = 2;
    float *x = rand_array((size_t)n * h * w * c), *wd = rand_array((size_t)o * c), *bd = rand_array(o);
    float *one = calloc((size_t)c, sizeof(float));
    one[0] = 1; /* a 1x1 identity-ish conv: channel 0 copied to every output */
    float *pw = calloc((size_t)c * c, sizeof(float));
    for (int i = 0; i < c; i++) pw[(size_t)i * c + i] = 1; /* identity 1x1 conv */
    fs_graph *g;
    fs_msg msg;
    assert_int_equal(fs_graph_create(h, w, c, &g, &msg), FS_OK);
    int id = fs_graph_conv(g, 0, c, 1, 1, 1, FS_PAD_SAME, pw, NULL, FS_ACT_NONE, "identity");
    int sum = fs_graph_add(g, id, 0, FS_ACT_HSWISH, "sum"); /* 2x, then hard-swish */
    int gap = fs_graph_gap(g, sum, "gap");
    int d = fs_graph_dense(g, gap, o, wd, bd, "dense");
    int sm = fs_graph_softmax(g, d, "softmax");
    assert_int_equal(sm, 5);
    assert_int_equal(fs_graph_error(g, &msg), FS_OK);
    float out[2 * 5];
    assert_int_equal(fs_graph_forward(g, x, n, out, &msg), FS_OK);
    for (int b = 0; b < n; b++) {
        double mean[6] = {0};
        for (int p = 0; p < h * w; p++)
            for (int ch = 0; ch < c; ch++) {
                float v = 2 * x[((size_t)b * h * w + p) * c + ch], r = v + 3;
                r = r < 0 ? 0 : r > 6 ? 6 : r;
                mean[ch] += v * r / 6 / (h * w);
            }
        double logit[5], mx = -1e30, s = 0;
        for (int k = 0; k < o; k++) {
            logit[k] = bd[k];
            for (int ch = 0; ch < c; ch++) logit[k] += wd[(size_t)k * c + ch] * mean[ch];
            mx = logit[k] > mx ? logit[k] : mx;
        }
        for (int k = 0; k < o; k++) s += exp(logit[k] - mx);
        double total = 0;
        for (int k = 0; k < o; k++) {
            double p = exp(logit[k] - mx) / s;
            assert_true(fabs(out[b * o + k] - p) < 1e-5);
            total += out[b * o + k];
        }
        assert_true(fabs(total - 1) < 1e-5);
    }
    /* the activation of an inner node stays readable after the run */
    assert_non_null(fs_graph_activation(g, gap));
    free(x), free(wd), free(bd), free(one), free(pw);
    fs_graph_free(g);
}

static void test_builder_errors(void **state) {
    (void)state;
    fs_graph *g;
    fs_msg msg;
    float w[9 * 4] = {0};
    assert_int_equal(fs_graph_create(0, 5, 3, &g, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_graph_create(6, 6, 1, &g, &msg), FS_OK);
    int a = fs_graph_conv(g, 0, 4, 3, 2, 1, FS_PAD_SAME, w, NULL, FS_ACT_NONE, "a"); /* 3x3x4 */
    assert_int_equal(a, 1);
    assert_int_equal(fs_graph_add(g, a, 0, FS_ACT_NONE, "mismatch"), -1);
    /* the first error sticks: later builders refuse too, and forward says why */
    assert_int_equal(fs_graph_gap(g, a, "later"), -1);
    assert_int_equal(fs_graph_error(g, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "mismatch"));
    float in[36] = {0}, out[4];
    assert_int_equal(fs_graph_forward(g, in, 1, out, &msg), FS_ERR_INVALID);
    fs_graph_free(g);
    assert_int_equal(fs_graph_create(4, 4, 1, &g, &msg), FS_OK);
    assert_int_equal(fs_graph_conv(g, 0, 1, 5, 1, 1, FS_PAD_VALID, w, NULL, FS_ACT_NONE, "big"), -1);
    assert_int_equal(fs_graph_dense(g, 0, 3, w, NULL, "not 1x1"), -1);
    fs_graph_free(g);
}

/* Reads and parses a shared TFLite file (*data holds its bytes, which *m borrows); 0 after
 * printing "skipped" when it or the cat picture is absent. */
static int open_tflite(const char *file, uint8_t **data, fs_tflite_model **m) {
    char p[512], img[512];
    if (!fs_test_shared(file, p, sizeof p) ||
        !fs_test_shared("imagenet-mobilenet/cat_720p.jpg", img, sizeof img))
        return 0;
    size_t len;
    fs_msg msg;
    assert_int_equal(fs_read_file(p, (size_t)64 << 20, data, &len, &msg), FS_OK);
    assert_int_equal(fs_tflite_parse(*data, len, m, &msg), FS_OK);
    return 1;
}

/* The cat picture at 224 x 224 as network input, x = scale * (pixel - zero); caller frees. */
static float *cat_input(float scale, float zero) {
    char path[512];
    assert_non_null(fs_test_shared("imagenet-mobilenet/cat_720p.jpg", path, sizeof path));
    fs_image img, small;
    fs_msg msg;
    fs_image_limits lim = fs_image_limits_default();
    assert_int_equal(fs_image_load(path, &lim, &img, &msg), FS_OK);
    assert_int_equal(fs_image_resize(&img, 224, 224, &small, &msg), FS_OK);
    float *x = malloc(sizeof(float) * 224 * 224 * 3);
    assert_non_null(x);
    for (int i = 0; i < 224 * 224 * 3; i++) x[i] = scale * ((float)small.rgb[i] - zero);
    fs_image_free(&img), fs_image_free(&small);
    return x;
}

/* The ImageNet MobileNetV2 of a TFLite file on the cat picture: index of the best class and
 * whether a cat class (282..286 with 0 = background) is in the top 5. */
static void mobilenet_cat(const char *file) {
    uint8_t *data;
    fs_tflite_model *m;
    if (!open_tflite(file, &data, &m)) return;
    fs_msg msg;
    fs_graph *g = NULL;
    fs_tflite_graph_input gin;
    fs_err e = fs_tflite_to_graph(m, &g, &gin, &msg);
    if (e) fail_msg("%s: %s", file, msg.text);
    assert_int_equal(gin.h, 224), assert_int_equal(gin.w, 224), assert_int_equal(gin.c, 3);
    fs_graph_node_info out;
    fs_graph_node(g, fs_graph_output(g), &out);
    assert_int_equal(out.c, 1001);
    float *x = cat_input(gin.scale, gin.zero_point), prob[1001];
    assert_int_equal(fs_graph_forward(g, x, 1, prob, &msg), FS_OK);
    int top[5] = {0};
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int c = 0; c < 1001; c++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= top[j] == c;
            if (!taken && (best < 0 || prob[c] > prob[best])) best = c;
        }
        top[k] = best;
    }
    int cat = 0;
    for (int k = 0; k < 5; k++) cat |= top[k] >= 282 && top[k] <= 286;
    printf("%s: top 5 %d (%.3f) %d (%.3f) %d %d %d\n", file, top[0], (double)prob[top[0]], top[1],
           (double)prob[top[1]], top[2], top[3], top[4]);
    assert_true(cat);
    free(x);
    fs_graph_free(g);
    fs_tflite_free(m);
    free(data);
}

/* The same network as named MobileNetV2 weights (fs_mobilenetv2_from_tflite), through a
 * safetensors file and back, built by the architecture file: the same probabilities as the
 * op-by-op translation, and any side that is a multiple of 32. */
static void mobilenet_weights(const char *file) {
    uint8_t *data;
    fs_tflite_model *m;
    if (!open_tflite(file, &data, &m)) return;
    fs_msg msg;
    fs_weights w = {0}, back = {0};
    if (fs_mobilenetv2_from_tflite(m, &w, &msg)) fail_msg("%s: %s", file, msg.text);
    uint8_t *st;
    size_t st_len;
    assert_int_equal(fs_weights_write_safetensors(&w, &st, &st_len, &msg), FS_OK);
    assert_int_equal(fs_weights_read_safetensors(st, st_len, &back, &msg), FS_OK);
    assert_string_equal(fs_weights_meta(&back, "padding"), "tf_same");
    fs_graph *g, *ref;
    fs_tflite_graph_input gin;
    if (fs_mobilenetv2_graph(&back, 224, &g, &msg)) fail_msg("%s: %s", file, msg.text);
    assert_int_equal(fs_tflite_to_graph(m, &ref, &gin, &msg), FS_OK);
    float *x = cat_input(strtof(fs_weights_meta(&back, "input_scale"), NULL),
                         strtof(fs_weights_meta(&back, "input_zero_point"), NULL));
    float logits[1001], prob[1001];
    assert_int_equal(fs_graph_forward(g, x, 1, logits, &msg), FS_OK);
    assert_int_equal(fs_graph_forward(ref, x, 1, prob, &msg), FS_OK);
    double mx = -1e30, s = 0;
    for (int c = 0; c < 1001; c++) mx = logits[c] > mx ? logits[c] : mx;
    for (int c = 0; c < 1001; c++) s += exp(logits[c] - mx);
    for (int c = 0; c < 1001; c++)
        if (fabs(exp(logits[c] - mx) / s - prob[c]) > 1e-5)
            fail_msg("%s class %d: %.6f vs %.6f", file, c, exp(logits[c] - mx) / s, (double)prob[c]);
    /* another side: 256 (8 x 8 before pooling) */
    fs_graph *g256;
    assert_int_equal(fs_mobilenetv2_graph(&back, 256, &g256, &msg), FS_OK);
    fs_graph_node_info last;
    fs_graph_node(g256, fs_graph_output(g256), &last);
    assert_int_equal(last.c, 1001);
    fs_graph_free(g256);
    fs_graph *odd = NULL;
    assert_int_equal(fs_mobilenetv2_graph(&back, 250, &odd, &msg), FS_ERR_INVALID); /* not x32 */
    assert_null(odd);
    /* a missing tensor is named */
    fs_weights cut = {0};
    for (size_t i = 0; i < back.count; i++)
        if (strcmp(back.items[i].name, "features.7.conv.1.0.weight"))
            fs_weights_add(&cut, back.items[i].name, back.items[i].ndim, back.items[i].shape,
                           back.items[i].data, &msg);
    fs_graph *bad = NULL;
    assert_int_equal(fs_mobilenetv2_graph(&cut, 224, &bad, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, "features.7.conv.1.0.weight"));
    fs_weights_free(&cut);
    free(x);
    fs_graph_free(g), fs_graph_free(ref);
    fs_weights_free(&w), fs_weights_free(&back);
    free(st);
    fs_tflite_free(m);
    free(data);
}

static void test_mobilenet_weights(void **state) {
    (void)state;
    mobilenet_weights("imagenet-mobilenet/mobilenet_v2_1.0_224_quant.tflite");
    mobilenet_weights("imagenet-mobilenet/tf2_mobilenet_v2_1.0_224_ptq.tflite");
}

static void test_mobilenet_cat(void **state) {
    (void)state;
    mobilenet_cat("imagenet-mobilenet/mobilenet_v2_1.0_224_quant.tflite");
    mobilenet_cat("imagenet-mobilenet/tf2_mobilenet_v2_1.0_224_ptq.tflite");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_same),
        cmocka_unit_test(test_depthwise),
        cmocka_unit_test(test_add_gap_dense_softmax),
        cmocka_unit_test(test_builder_errors),
        cmocka_unit_test(test_mobilenet_cat),
        cmocka_unit_test(test_mobilenet_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
