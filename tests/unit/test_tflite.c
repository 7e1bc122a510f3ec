/* test_tflite: the TFLite reader (models/tflite.c) on the generated seeds of
 * tests/fuzz/seeds/tflite (tests/tools/make_tflite_seeds.py writes them; every expected value
 * below is a value written there), on the two ImageNet MobileNetV2 files of the shared data, and
 * on hostile edits of both: truncations, byte flips and single fields made wrong on purpose. */
#include "fs_test.h"

#include <math.h>

#include "fakescope/tflite.h"

#define SEED_DIR FS_SOURCE_DIR "/tests/fuzz/seeds/tflite/"
#define MOBILENET_U8 "imagenet-mobilenet/mobilenet_v2_1.0_224_quant.tflite"
#define MOBILENET_I8 "imagenet-mobilenet/tf2_mobilenet_v2_1.0_224_ptq.tflite"
#define FLIP_SEED 0x7f4a7c15u
#define TINY_MUTANTS 50000
#define MOBILENET_MUTANTS 2000
#define MOBILENET_CUTS 600
#define MOBILENET_CHECKED_VALUES 4096

static uint8_t *load(const char *path, size_t *len) {
    uint8_t *d;
    fs_msg m;
    if (fs_read_file(path, FS_TFLITE_MAX_FILE, &d, len, &m)) fail_msg("%s: %s", path, m.text);
    return d;
}

static fs_tflite_model *parse_ok(const uint8_t *d, size_t len) {
    fs_tflite_model *m = NULL;
    fs_msg msg;
    fs_err e = fs_tflite_parse(d, len, &m, &msg);
    if (e) fail_msg("parse: %s (%s)", msg.text, fs_err_name(e));
    return m;
}

static void assert_shape(const fs_tflite_tensor *t, int ndim, const int32_t *dims) {
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(t->shape[i], dims[i]);
}
#define ASSERT_SHAPE(t, ...)                                                                   \
    do {                                                                                       \
        const int32_t dims_[] = {__VA_ARGS__};                                                 \
        assert_shape((t), (int)(sizeof dims_ / sizeof dims_[0]), dims_);                       \
    } while (0)

static float *values(const fs_tflite_model *m, int tensor, size_t expect_n) {
    float *v;
    size_t n;
    fs_msg msg;
    fs_err e = fs_tflite_tensor_float(m, tensor, &v, &n, &msg);
    if (e) fail_msg("tensor %d: %s", tensor, msg.text);
    assert_int_equal(n, expect_n);
    return v;
}

static uint32_t xorshift(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

/* Everything a parsed model hands out must stay inside the model or the caller's buffer, and
 * every constant of at most max_values values must read back; run on each mutant that still
 * parses (the bound keeps 2000 MobileNet mutants from dequantizing 3.5 M weights each). */
static void check_consistent(const fs_tflite_model *m, const uint8_t *d, size_t len,
                             int64_t max_values) {
    for (int i = 0; i < m->ntensors; i++) {
        const fs_tflite_tensor *t = &m->tensors[i];
        assert_true(t->ndim >= 0 && t->ndim <= FS_TFLITE_MAX_DIMS);
        const uint8_t *name = (const uint8_t *)t->name;
        if (*t->name) /* a name from the file ("" is the reader's own when the file has none) */
            assert_true(name >= d && name < d + len && memchr(name, 0, (size_t)(d + len - name)));
        if (t->data) assert_true(t->data >= d && t->nbytes <= (size_t)(d + len - t->data));
        if (t->quant.count > 1) assert_int_equal(t->shape[t->quant.dim], t->quant.count);
        float *v;
        size_t n;
        fs_msg msg;
        if (t->count <= max_values && fs_tflite_tensor_float(m, i, &v, &n, &msg) == FS_OK) {
            volatile float sink = 0;
            for (size_t k = 0; k < n; k++) sink += v[k];
            (void)sink;
            free(v);
        }
    }
    for (int i = 0; i < m->nops; i++) {
        const fs_tflite_op *op = &m->ops[i];
        assert_non_null(op->name);
        for (int k = 0; k < op->ninputs; k++)
            assert_true(op->inputs[k] >= -1 && op->inputs[k] < m->ntensors);
        for (int k = 0; k < op->noutputs; k++)
            assert_true(op->outputs[k] >= 0 && op->outputs[k] < m->ntensors);
        if (op->code == FS_TFLITE_OP_CONV_2D || op->code == FS_TFLITE_OP_DEPTHWISE_CONV_2D)
            assert_true(op->opt.stride_w >= 1 && op->opt.stride_h >= 1 &&
                        op->opt.dilation_w >= 1 && op->opt.dilation_h >= 1);
    }
    for (int i = 0; i < m->ninputs; i++) assert_true(m->inputs[i] >= 0 && m->inputs[i] < m->ntensors);
    for (int i = 0; i < m->noutputs; i++) assert_true(m->outputs[i] >= 0 && m->outputs[i] < m->ntensors);
}

/* ---- the generated seeds --------------------------------------------------------------- */

static void tiny_seed_reads_back(void **state) {
    (void)state;
    size_t len;
    uint8_t *d = load(SEED_DIR "tiny.tflite", &len);
    fs_tflite_model *m = parse_ok(d, len);
    assert_int_equal(m->version, 3);
    assert_string_equal(m->description, "fakescope tflite seed");
    assert_int_equal(m->nsubgraphs, 1);
    assert_string_equal(m->graph_name, "main");
    assert_int_equal(m->ntensors, 18);
    assert_int_equal(m->nops, 13);
    assert_int_equal(m->ninputs, 1);
    assert_int_equal(m->inputs[0], 0);
    assert_int_equal(m->noutputs, 2);
    assert_int_equal(m->outputs[0], 16), assert_int_equal(m->outputs[1], 13);

    const fs_tflite_tensor *in = &m->tensors[0];
    assert_string_equal(in->name, "input");
    assert_int_equal(in->type, FS_TFLITE_INT8);
    ASSERT_SHAPE(in, 1, 4, 4, 2);
    assert_int_equal(in->count, 32);
    assert_null(in->data);
    assert_int_equal(in->quant.count, 1);
    assert_true(in->quant.scale[0] == 0.5f);
    assert_int_equal(in->quant.zero_point[0], -1);
    const fs_tflite_tensor *w = &m->tensors[1];
    assert_string_equal(w->name, "conv/weights");
    ASSERT_SHAPE(w, 3, 1, 1, 2);
    assert_non_null(w->data);
    assert_int_equal(w->nbytes, 6);
    assert_int_equal(w->quant.count, 3);
    assert_int_equal(w->quant.dim, 0);
    assert_int_equal(w->quant.zero_point[2], -2);
    assert_int_equal(m->tensors[10].quant.dim, 3);
    assert_int_equal(m->tensors[8].quant.count, 0);
    assert_int_equal(m->tensors[17].nbytes, 8); /* the buffer stored after the FlatBuffer */

    /* Operators: codes from the old byte field, the new int field, both, and past both. */
    static const int32_t codes[] = {3, 4, 0, 1, 17, 40, 22, 9, 25, 2, 34, 32, 300};
    for (int i = 0; i < 13; i++) assert_int_equal(m->ops[i].code, codes[i]);
    assert_string_equal(m->ops[0].name, "CONV_2D");
    assert_int_equal(m->ops[1].version, 2);
    assert_string_equal(m->ops[11].name, "FakescopeOp");
    assert_string_equal(m->ops[11].custom_code, "FakescopeOp");
    assert_int_equal(m->ops[11].inputs[0], -1);
    assert_string_equal(m->ops[12].name, "UNKNOWN");
    assert_null(m->ops[12].custom_code);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_CONV_2D), 1);
    assert_int_equal(fs_tflite_count_ops(m, 300), 1);

    const fs_tflite_options *o = &m->ops[0].opt; /* CONV_2D: dilations left to the default */
    assert_int_equal(o->padding, FS_TFLITE_PADDING_SAME);
    assert_int_equal(o->stride_w, 2), assert_int_equal(o->stride_h, 2);
    assert_int_equal(o->dilation_w, 1), assert_int_equal(o->dilation_h, 1);
    assert_int_equal(o->activation, FS_TFLITE_ACT_RELU6);
    o = &m->ops[1].opt; /* DEPTHWISE_CONV_2D */
    assert_int_equal(o->stride_w, 1), assert_int_equal(o->depth_multiplier, 1);
    assert_int_equal(o->dilation_w, 2), assert_int_equal(o->dilation_h, 2);
    assert_int_equal(o->activation, FS_TFLITE_ACT_RELU);
    assert_int_equal(m->ops[1].inputs[2], -1); /* no bias */
    assert_int_equal(m->ops[2].opt.activation, FS_TFLITE_ACT_RELU); /* ADD */
    o = &m->ops[3].opt; /* AVERAGE_POOL_2D */
    assert_int_equal(o->padding, FS_TFLITE_PADDING_VALID);
    assert_int_equal(o->filter_w, 2), assert_int_equal(o->filter_h, 2);
    assert_int_equal(o->stride_w, 1);
    o = &m->ops[4].opt; /* MAX_POOL_2D */
    assert_int_equal(o->stride_h, 2), assert_int_equal(o->filter_h, 3);
    assert_int_equal(m->ops[5].opt.keep_dims, 1); /* MEAN */
    o = &m->ops[6].opt; /* RESHAPE */
    assert_int_equal(o->ndims, 2), assert_int_equal(o->dims[0], 1), assert_int_equal(o->dims[1], 12);
    assert_int_equal(m->ops[7].opt.activation, FS_TFLITE_ACT_RELU_N1_TO_1);
    assert_int_equal(m->ops[7].opt.keep_num_dims, 1);
    assert_true(m->ops[8].opt.beta == 1.0f); /* SOFTMAX */
    assert_int_equal(m->ops[9].opt.axis, -1); /* CONCATENATION */
    assert_int_equal(m->ops[10].opt.kind, 0); /* PAD: no options, paddings are input 1 */
    fs_tflite_free(m);
    free(d);

    d = load(SEED_DIR "min.tflite", &len);
    m = parse_ok(d, len);
    assert_int_equal(m->ntensors, 1), assert_int_equal(m->nops, 0);
    assert_string_equal(m->description, "");
    assert_string_equal(m->tensors[0].name, "x");
    fs_tflite_free(m);
    free(d);
    fs_tflite_free(NULL);
}

static void tiny_seed_dequantizes(void **state) {
    (void)state;
    size_t len;
    uint8_t *d = load(SEED_DIR "tiny.tflite", &len);
    fs_tflite_model *m = parse_ok(d, len);

    /* conv/weights [3,1,1,2], per channel along 0: q = 1,-1 | 2,3 | -4,127, scales 0.5, 0.25,
     * 2.0, zero points 0, 1, -2. */
    float *v = values(m, 1, 6);
    const float w[] = {0.5f, -0.5f, 0.25f, 0.5f, -4.0f, 258.0f};
    for (int i = 0; i < 6; i++) assert_float_equal(v[i], w[i], 0);
    free(v);
    /* dw/weights [1,3,3,3], per channel along 3 (the last), zero points absent: q = i - 13. */
    v = values(m, 10, 27);
    const float s[] = {0.1f, 0.2f, 0.3f};
    for (int i = 0; i < 27; i++) assert_float_equal(v[i], s[i % 3] * (float)(i - 13), 1e-6);
    free(v);
    /* conv/bias INT32 with per-channel scales. */
    v = values(m, 2, 3);
    assert_float_equal(v[0], 1.0f, 0), assert_float_equal(v[1], -1.0f, 0);
    assert_float_equal(v[2], 100.0f, 0);
    free(v);
    v = values(m, 4, 4); /* FLOAT16: 1, -2, the largest half, the smallest subnormal */
    assert_float_equal(v[0], 1.0f, 0), assert_float_equal(v[1], -2.0f, 0);
    assert_float_equal(v[2], 65504.0f, 0), assert_float_equal(v[3], ldexpf(1.0f, -24), 0);
    free(v);
    v = values(m, 5, 2);
    assert_float_equal(v[0], 1.5f, 0), assert_float_equal(v[1], -0.25f, 0);
    free(v);
    v = values(m, 6, 4); /* UINT8 per tensor: 0.5 * (q - 128) */
    assert_float_equal(v[0], -64.0f, 0), assert_float_equal(v[1], 0.0f, 0);
    assert_float_equal(v[2], 63.5f, 0), assert_float_equal(v[3], 1.0f, 0);
    free(v);
    v = values(m, 7, 2); /* INT32 without quantization: plain numbers */
    assert_float_equal(v[0], 1.0f, 0), assert_float_equal(v[1], 12.0f, 0);
    free(v);
    v = values(m, 17, 2); /* external buffer */
    assert_float_equal(v[0], 3.0f, 0), assert_float_equal(v[1], -4.0f, 0);
    free(v);

    float *out = (float *)1;
    size_t n = 7;
    fs_msg msg;
    assert_int_equal(fs_tflite_tensor_float(m, 0, &out, &n, &msg), FS_ERR_INVALID); /* activation */
    assert_null(out), assert_int_equal(n, 0);
    assert_int_equal(fs_tflite_tensor_float(m, 18, &out, &n, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_tflite_tensor_float(m, -1, &out, &n, &msg), FS_ERR_INVALID);
    fs_tflite_free(m);
    free(d);
}

static void names(void **state) {
    (void)state;
    assert_string_equal(fs_tflite_op_name(FS_TFLITE_OP_CONV_2D), "CONV_2D");
    assert_string_equal(fs_tflite_op_name(FS_TFLITE_OP_DEPTHWISE_CONV_2D), "DEPTHWISE_CONV_2D");
    assert_string_equal(fs_tflite_op_name(FS_TFLITE_OP_MEAN), "MEAN");
    assert_string_equal(fs_tflite_op_name(FS_TFLITE_OP_HARD_SWISH), "HARD_SWISH");
    assert_string_equal(fs_tflite_op_name(FS_TFLITE_OP_DENSIFY), "DENSIFY");
    assert_string_equal(fs_tflite_op_name(FS_TFLITE_OP_REDUCE_ALL), "REDUCE_ALL");
    assert_string_equal(fs_tflite_op_name(FS_TFLITE_OP_LAST_NAMED), "STABLEHLO_CASE");
    assert_null(fs_tflite_op_name(FS_TFLITE_OP_LAST_NAMED + 1));
    assert_null(fs_tflite_op_name(-1));
    assert_string_equal(fs_tflite_type_name(FS_TFLITE_INT8), "INT8");
    assert_string_equal(fs_tflite_type_name(FS_TFLITE_FLOAT16), "FLOAT16");
    assert_null(fs_tflite_type_name(99));
    assert_int_equal(fs_tflite_type_size(FS_TFLITE_INT64), 8);
    assert_int_equal(fs_tflite_type_size(FS_TFLITE_STRING), 0);
    assert_string_equal(fs_tflite_act_name(FS_TFLITE_ACT_RELU6), "RELU6");
    assert_string_equal(fs_tflite_padding_name(FS_TFLITE_PADDING_VALID), "VALID");
}

/* ---- the shared MobileNetV2 files ---------------------------------------------------------
 * MobileNetV2 1.0 (Sandler et al. 2018): a stride-2 3x3 conv to 32 channels, 17 inverted
 * residual blocks (expansion t = 1 for the first, 6 for the others: so 16 expanding 1x1
 * convs), each with one 3x3 depthwise conv and one projecting 1x1 conv, a 1x1 conv to 1280,
 * global average pooling, then the 1001-way classifier (class 0 = background), written by
 * both converters as a 1x1 conv. Convs: 1 + 16 + 17 + 1 + 1 = 36; depthwise: 17. A residual
 * add joins blocks whose input and output shapes agree (stride 1, same width): 1 in the
 * 24-channel stage, 2 in the 32, 3 in the 64, 2 in the 96, 2 in the 160, none in the
 * 16 and 320 stages: 10. Stride 2: the first conv and the depthwise convs opening the 24,
 * 32, 64 and 160 stages: 5. */
#define MNV2_CONVS 36
#define MNV2_DEPTHWISE 17
#define MNV2_ADDS 10
#define MNV2_STRIDE2 5

static void check_mobilenet_common(const fs_tflite_model *m) {
    assert_int_equal(m->version, 3);
    assert_int_equal(m->nsubgraphs, 1);
    assert_int_equal(m->ninputs, 1), assert_int_equal(m->noutputs, 1);
    const fs_tflite_tensor *in = &m->tensors[m->inputs[0]];
    ASSERT_SHAPE(in, 1, 224, 224, 3);
    /* Both files keep uint8 pixels at the input: the int8 one converts with a QUANTIZE op. */
    assert_int_equal(in->type, FS_TFLITE_UINT8);
    assert_int_equal(in->quant.count, 1);
    const fs_tflite_tensor *out = &m->tensors[m->outputs[0]];
    ASSERT_SHAPE(out, 1, 1001);
    assert_int_equal(out->type, FS_TFLITE_UINT8);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_CONV_2D), MNV2_CONVS);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_DEPTHWISE_CONV_2D), MNV2_DEPTHWISE);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_ADD), MNV2_ADDS);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_RESHAPE), 1);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_SOFTMAX), 1);
    int stride2 = 0, first_conv = -1;
    for (int i = 0; i < m->nops; i++) {
        const fs_tflite_op *op = &m->ops[i];
        if (op->code == FS_TFLITE_OP_SOFTMAX) assert_float_equal(op->opt.beta, 1.0f, 0);
        if (op->code != FS_TFLITE_OP_CONV_2D && op->code != FS_TFLITE_OP_DEPTHWISE_CONV_2D)
            continue;
        if (first_conv < 0) first_conv = i;
        assert_int_equal(op->ninputs, 3); /* input, weights, bias */
        assert_int_equal(op->opt.padding, FS_TFLITE_PADDING_SAME);
        assert_int_equal(op->opt.stride_w, op->opt.stride_h);
        assert_int_equal(op->opt.dilation_w, 1);
        stride2 += op->opt.stride_w == 2;
        if (op->code == FS_TFLITE_OP_DEPTHWISE_CONV_2D) {
            assert_int_equal(op->opt.activation, FS_TFLITE_ACT_RELU6);
            assert_int_equal(op->opt.depth_multiplier, 1);
        }
        const fs_tflite_tensor *w = &m->tensors[op->inputs[1]], *b = &m->tensors[op->inputs[2]];
        assert_non_null(w->data), assert_non_null(b->data);
        assert_int_equal(b->type, FS_TFLITE_INT32);
        int cout = op->code == FS_TFLITE_OP_CONV_2D ? w->shape[0] : w->shape[3];
        ASSERT_SHAPE(b, cout);
    }
    assert_int_equal(stride2, MNV2_STRIDE2);
    const fs_tflite_op *c0 = &m->ops[first_conv];
    assert_int_equal(c0->code, FS_TFLITE_OP_CONV_2D);
    assert_int_equal(c0->opt.stride_w, 2), assert_int_equal(c0->opt.stride_h, 2);
    assert_int_equal(c0->opt.activation, FS_TFLITE_ACT_RELU6);
    ASSERT_SHAPE(&m->tensors[c0->inputs[1]], 32, 3, 3, 3);
}

static void mobilenet_uint8_per_tensor(void **state) {
    (void)state;
    char path[512];
    if (!fs_test_shared(MOBILENET_U8, path, sizeof path)) skip();
    size_t len;
    uint8_t *d = load(path, &len);
    fs_tflite_model *m = parse_ok(d, len);
    check_mobilenet_common(m);
    assert_int_equal(m->nops, 66);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_AVERAGE_POOL_2D), 1);
    const fs_tflite_tensor *in = &m->tensors[m->inputs[0]];
    assert_float_equal(in->quant.scale[0], 1.0f / 128, 0); /* pixels: (q - 128) / 128 */
    assert_int_equal(in->quant.zero_point[0], 128);
    for (int i = 0; i < m->nops; i++) {
        const fs_tflite_op *op = &m->ops[i];
        if (op->code == FS_TFLITE_OP_AVERAGE_POOL_2D) { /* global 7x7 pool */
            assert_int_equal(op->opt.padding, FS_TFLITE_PADDING_VALID);
            assert_int_equal(op->opt.filter_w, 7), assert_int_equal(op->opt.filter_h, 7);
        }
        if (op->code != FS_TFLITE_OP_CONV_2D && op->code != FS_TFLITE_OP_DEPTHWISE_CONV_2D)
            continue;
        const fs_tflite_tensor *w = &m->tensors[op->inputs[1]];
        assert_int_equal(w->type, FS_TFLITE_UINT8);
        assert_int_equal(w->quant.count, 1); /* per tensor: one scale for every channel */
    }

    /* The first conv's weights [32,3,3,3]: element 100 by hand, then all of them. */
    const fs_tflite_op *c0 = &m->ops[0];
    const fs_tflite_tensor *w = &m->tensors[c0->inputs[1]];
    float *v = values(m, c0->inputs[1], 864);
    float scale = w->quant.scale[0];
    int64_t zp = w->quant.zero_point[0];
    assert_float_equal(v[100], scale * (float)((int)w->data[100] - zp), 1e-7);
    for (int i = 0; i < 864; i++) assert_float_equal(v[i], scale * (float)(w->data[i] - zp), 1e-7);
    free(v);
    /* A quantized bias's scale is input scale x weight scale, so it adds to the accumulator. */
    const fs_tflite_tensor *b = &m->tensors[c0->inputs[2]];
    assert_float_equal(b->quant.scale[0], in->quant.scale[0] * scale, 1e-9);
    fs_tflite_free(m);
    free(d);
}

static void mobilenet_int8_per_channel(void **state) {
    (void)state;
    char path[512];
    if (!fs_test_shared(MOBILENET_I8, path, sizeof path)) skip();
    size_t len;
    uint8_t *d = load(path, &len);
    fs_tflite_model *m = parse_ok(d, len);
    check_mobilenet_common(m);
    assert_int_equal(m->nops, 68);
    /* The TF2 converter pools with MEAN over axes 1, 2 and wraps the int8 graph in QUANTIZE
     * ops (uint8 in, uint8 out). */
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_MEAN), 1);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_QUANTIZE), 2);
    assert_int_equal(fs_tflite_count_ops(m, FS_TFLITE_OP_AVERAGE_POOL_2D), 0);
    int checked = 0;
    for (int i = 0; i < m->nops; i++) {
        const fs_tflite_op *op = &m->ops[i];
        if (op->code == FS_TFLITE_OP_MEAN) assert_int_equal(op->opt.keep_dims, 1);
        if (op->code != FS_TFLITE_OP_CONV_2D && op->code != FS_TFLITE_OP_DEPTHWISE_CONV_2D)
            continue;
        /* Per channel: one scale per output channel, which is dimension 0 of a conv's
         * [out, kh, kw, in] weights and dimension 3 of a depthwise conv's [1, kh, kw, out]. */
        const fs_tflite_tensor *w = &m->tensors[op->inputs[1]], *b = &m->tensors[op->inputs[2]];
        int dim = op->code == FS_TFLITE_OP_CONV_2D ? 0 : 3;
        assert_int_equal(w->type, FS_TFLITE_INT8);
        assert_int_equal(w->quant.dim, dim);
        assert_int_equal(w->quant.count, w->shape[dim]);
        assert_int_equal(b->quant.count, w->shape[dim]);
        for (int c = 0; c < w->quant.count; c++) assert_int_equal(w->quant.zero_point[c], 0);
        checked++;
    }
    assert_int_equal(checked, MNV2_CONVS + MNV2_DEPTHWISE);

    /* First conv [32,3,3,3], per channel along 0: element 27 * c + 5 belongs to channel c. */
    const fs_tflite_op *c0 = &m->ops[1];
    const fs_tflite_tensor *w = &m->tensors[c0->inputs[1]];
    float *v = values(m, c0->inputs[1], 864);
    for (int c = 0; c < 32; c++) {
        int i = 27 * c + 5;
        float want = w->quant.scale[c] * (float)((int8_t)w->data[i] - w->quant.zero_point[c]);
        assert_float_equal(v[i], want, 1e-7);
    }
    assert_true(w->quant.scale[0] != w->quant.scale[31]); /* really several scales */
    free(v);
    /* First depthwise conv [1,3,3,32], per channel along 3: element i belongs to i % 32. */
    const fs_tflite_op *dw = &m->ops[2];
    assert_int_equal(dw->code, FS_TFLITE_OP_DEPTHWISE_CONV_2D);
    w = &m->tensors[dw->inputs[1]];
    ASSERT_SHAPE(w, 1, 3, 3, 32);
    v = values(m, dw->inputs[1], 288);
    int i = 4 * 32 + 17; /* kernel centre, channel 17 */
    assert_float_equal(v[i], w->quant.scale[17] * (float)((int8_t)w->data[i] - w->quant.zero_point[17]),
                       1e-7);
    free(v);
    fs_tflite_free(m);
    free(d);
}

/* ---- hostile inputs ------------------------------------------------------------------------ */

/* Parses an exact-size copy, so that a read past the end is caught by the sanitizers. */
static fs_err parse_copy(const uint8_t *d, size_t len, fs_msg *msg) {
    uint8_t *c = malloc(len ? len : 1);
    assert_non_null(c);
    memcpy(c, d, len);
    fs_tflite_model *m = (fs_tflite_model *)1;
    fs_err e = fs_tflite_parse(c, len, &m, msg);
    if (e == FS_OK) {
        check_consistent(m, c, len, INT64_MAX);
        fs_tflite_free(m);
    } else {
        assert_null(m);
    }
    free(c);
    return e;
}

static void truncated_files(void **state) {
    (void)state;
    size_t len;
    fs_msg msg;
    uint8_t *d = load(SEED_DIR "tiny.tflite", &len);
    /* The seed ends with data the reader needs, so every shorter prefix is corrupt. */
    for (size_t n = 0; n < len; n++) {
        fs_err e = parse_copy(d, n, &msg);
        if (e != FS_ERR_FORMAT) fail_msg("tiny.tflite cut at %zu: %s", n, fs_err_name(e));
    }
    assert_int_equal(parse_copy(d, len, &msg), FS_OK);
    free(d);

    char path[512];
    if (!fs_test_shared(MOBILENET_I8, path, sizeof path)) return;
    d = load(path, &len);
    fs_tflite_model *m = parse_ok(d, len);
    size_t needed = 0; /* past the last constant: a cut before it cuts a buffer short */
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].data) {
            size_t end = (size_t)(m->tensors[i].data - d) + m->tensors[i].nbytes;
            if (end > needed) needed = end;
        }
    fs_tflite_free(m);
    assert_true(needed > len / 2);
    for (int k = 0; k < MOBILENET_CUTS; k++) {
        /* Every length of the first 256 bytes (root, vtables), then spread over the file. */
        size_t n = k < 256 ? (size_t)k : (size_t)((uint64_t)needed * (size_t)(k - 256) / (MOBILENET_CUTS - 256));
        fs_tflite_model *mm = NULL;
        fs_err e = fs_tflite_parse(d, n, &mm, &msg); /* reads stay below n or ASan says so... */
        if (e != FS_ERR_FORMAT) fail_msg("mobilenet cut at %zu: %s", n, fs_err_name(e));
        assert_null(mm);
    }
    /* ...for the exact-size check, a few cuts as copies. */
    for (size_t n = needed - 3; n < needed; n++) assert_int_equal(parse_copy(d, n, &msg), FS_ERR_FORMAT);
    free(d);
}

static int acceptable(fs_err e) {
    return e == FS_OK || e == FS_ERR_FORMAT || e == FS_ERR_LIMIT || e == FS_ERR_UNSUPPORTED;
}

static void byte_flips(void **state) {
    (void)state;
    size_t len;
    fs_msg msg;
    uint32_t seed = FLIP_SEED;
    uint8_t *d = load(SEED_DIR "tiny.tflite", &len);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    int parsed = 0;
    for (int k = 0; k < TINY_MUTANTS; k++) {
        memcpy(c, d, len);
        int flips = 1 + (int)(xorshift(&seed) % 8);
        for (int f = 0; f < flips; f++) {
            size_t at = xorshift(&seed) % len;
            /* Half the time a random byte, else a value that makes offsets and counts extreme. */
            static const uint8_t extreme[] = {0x00, 0xff, 0x7f, 0x80, 0x01};
            uint32_t r = xorshift(&seed);
            c[at] = r & 1 ? (uint8_t)(r >> 8) : extreme[(r >> 8) % sizeof extreme];
        }
        fs_tflite_model *m = NULL;
        fs_err e = fs_tflite_parse(c, len, &m, &msg);
        if (!acceptable(e)) fail_msg("mutant %d: %s: %s", k, fs_err_name(e), msg.text);
        if (e == FS_OK) {
            parsed++;
            check_consistent(m, c, len, INT64_MAX);
            fs_tflite_free(m);
        }
    }
    printf("tiny.tflite: %d of %d mutants still parse\n", parsed, TINY_MUTANTS);
    assert_true(parsed > 0 && parsed < TINY_MUTANTS);
    free(c);
    free(d);

    char path[512];
    if (!fs_test_shared(MOBILENET_U8, path, sizeof path)) return;
    d = load(path, &len);
    /* Flip only bytes outside the weights, where the structure is; each mutant in place. */
    fs_tflite_model *m = parse_ok(d, len);
    uint8_t *is_data = calloc(len, 1);
    assert_non_null(is_data);
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].data)
            memset(is_data + (m->tensors[i].data - d), 1, m->tensors[i].nbytes);
    fs_tflite_free(m);
    size_t *where = malloc(len * sizeof *where), nwhere = 0;
    assert_non_null(where);
    for (size_t i = 0; i < len; i++)
        if (!is_data[i]) where[nwhere++] = i;
    parsed = 0;
    for (int k = 0; k < MOBILENET_MUTANTS; k++) {
        size_t at = where[xorshift(&seed) % nwhere];
        uint8_t old = d[at];
        d[at] ^= (uint8_t)(1 + xorshift(&seed) % 255);
        fs_tflite_model *mm = NULL;
        fs_err e = fs_tflite_parse(d, len, &mm, &msg);
        if (!acceptable(e)) fail_msg("mobilenet mutant %d: %s: %s", k, fs_err_name(e), msg.text);
        if (e == FS_OK) {
            parsed++;
            check_consistent(mm, d, len, MOBILENET_CHECKED_VALUES);
            fs_tflite_free(mm);
        }
        d[at] = old;
    }
    printf("mobilenet: %d of %d structure mutants still parse\n", parsed, MOBILENET_MUTANTS);
    free(where);
    free(is_data);
    free(d);
}

/* A minimal FlatBuffer walker over the VALID seed, to find fields to spoil. */
static uint32_t rd32(const uint8_t *d, size_t at) {
    return (uint32_t)d[at] | (uint32_t)d[at + 1] << 8 | (uint32_t)d[at + 2] << 16 |
           (uint32_t)d[at + 3] << 24;
}
static void wr32(uint8_t *d, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) d[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}
static size_t deref(const uint8_t *d, size_t at) { return at + rd32(d, at); }
static size_t vtable_of(const uint8_t *d, size_t table) {
    return (size_t)((int64_t)table - (int32_t)rd32(d, table));
}
static size_t field(const uint8_t *d, size_t table, int id) {
    size_t vt = vtable_of(d, table);
    uint16_t off = (uint16_t)(d[vt + 4 + 2 * (size_t)id] | d[vt + 5 + 2 * (size_t)id] << 8);
    assert_true(off != 0);
    return table + off;
}
static size_t elem(const uint8_t *d, size_t vec, uint32_t i) { return deref(d, vec + 4 + 4 * (size_t)i); }

typedef struct spots {
    size_t model, subgraphs, sg, tensors, t0, t0_shape, ops, op0, op0_inputs, op0_options,
        op0_outputs, opcode0;
} spots;

static spots find_spots(const uint8_t *d) {
    spots s;
    s.model = deref(d, 0);
    s.subgraphs = deref(d, field(d, s.model, 2));
    s.sg = elem(d, s.subgraphs, 0);
    s.tensors = deref(d, field(d, s.sg, 0));
    s.t0 = elem(d, s.tensors, 0);
    s.t0_shape = deref(d, field(d, s.t0, 0));
    s.ops = deref(d, field(d, s.sg, 3));
    s.op0 = elem(d, s.ops, 0);
    s.op0_inputs = deref(d, field(d, s.op0, 1));
    s.op0_outputs = deref(d, field(d, s.op0, 2));
    s.op0_options = deref(d, field(d, s.op0, 4));
    s.opcode0 = elem(d, deref(d, field(d, s.model, 1)), 0);
    return s;
}

static void spoiled_fields(void **state) {
    (void)state;
    size_t len;
    fs_msg msg;
    uint8_t *d = load(SEED_DIR "tiny.tflite", &len);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    spots s = find_spots(d);
    fs_tflite_model *m = parse_ok(d, len);
    size_t name3 = (size_t)((const uint8_t *)m->tensors[3].name - d) - 4; /* string length */
    size_t data1 = (size_t)(m->tensors[1].data - d) - 4;                  /* bytes length */
    size_t desc = (size_t)((const uint8_t *)m->description - d);
    fs_tflite_free(m);

#define SPOIL(expect, ...)                                                                     \
    do {                                                                                       \
        memcpy(c, d, len);                                                                     \
        __VA_ARGS__;                                                                           \
        fs_err e_ = parse_copy(c, len, &msg);                                                  \
        if (e_ != (expect))                                                                    \
            fail_msg("%s: got %s (%s)", #__VA_ARGS__, fs_err_name(e_), msg.text);             \
    } while (0)

    /* Lengths that point past the end of the file. */
    SPOIL(FS_ERR_FORMAT, wr32(c, name3, 0xfffffff0u));
    SPOIL(FS_ERR_FORMAT, wr32(c, name3, (uint32_t)len));
    SPOIL(FS_ERR_FORMAT, wr32(c, data1, (uint32_t)(len - data1 - 3)));
    SPOIL(FS_ERR_FORMAT, wr32(c, s.tensors, 0x7fffffffu));
    SPOIL(FS_ERR_FORMAT, wr32(c, s.ops, (uint32_t)(len / 4)));
    SPOIL(FS_ERR_FORMAT, wr32(c, s.op0_inputs, 0xffffffffu));
    /* Offsets and vtables out of the file. */
    SPOIL(FS_ERR_FORMAT, wr32(c, 0, (uint32_t)len));
    SPOIL(FS_ERR_FORMAT, wr32(c, 0, 0xfffffffcu));
    SPOIL(FS_ERR_FORMAT, wr32(c, s.model, 0x80000000u));            /* vtable before the file */
    SPOIL(FS_ERR_FORMAT, wr32(c, s.model, (uint32_t)(int32_t)-(int32_t)len)); /* after it */
    SPOIL(FS_ERR_FORMAT, c[vtable_of(d, s.model)] = 5);             /* odd vtable size */
    SPOIL(FS_ERR_FORMAT, c[vtable_of(d, s.model) + 2] = 0xff, c[vtable_of(d, s.model) + 3] = 0xff);
    SPOIL(FS_ERR_FORMAT, c[vtable_of(d, s.t0) + 4] = 0xf0);         /* shape field outside */
    SPOIL(FS_ERR_FORMAT, wr32(c, field(d, s.sg, 0), 0xfffffff0u));  /* tensors offset */
    /* Strings must end with their NUL. */
    SPOIL(FS_ERR_FORMAT, c[desc + strlen((const char *)d + desc)] = 'x');
    SPOIL(FS_ERR_FORMAT, memcpy(c + 4, "TFL2", 4));
    SPOIL(FS_ERR_FORMAT, wr32(c, s.subgraphs, 0));                  /* no subgraph */
    SPOIL(FS_ERR_UNSUPPORTED, wr32(c, field(d, s.model, 0), 2));    /* schema version 2 */
    /* Indices and shapes. */
    SPOIL(FS_ERR_FORMAT, wr32(c, s.op0_inputs + 12, 18));           /* tensor 18 of 18 */
    SPOIL(FS_ERR_FORMAT, wr32(c, s.op0_inputs + 12, (uint32_t)-2));
    SPOIL(FS_OK, wr32(c, s.op0_inputs + 12, (uint32_t)-1));         /* an absent optional input */
    SPOIL(FS_ERR_FORMAT, wr32(c, s.op0_outputs + 4, (uint32_t)-1)); /* outputs are never absent */
    SPOIL(FS_ERR_FORMAT, wr32(c, field(d, s.op0, 0), 13));          /* operator code 13 of 13 */
    SPOIL(FS_ERR_LIMIT, wr32(c, s.t0_shape, FS_TFLITE_MAX_DIMS + 1));
    SPOIL(FS_ERR_FORMAT, wr32(c, s.t0_shape + 8, (uint32_t)-4));    /* negative dimension */
    size_t t1 = elem(d, s.tensors, 1), t5 = elem(d, s.tensors, 5), t10 = elem(d, s.tensors, 10);
    SPOIL(FS_ERR_FORMAT, wr32(c, deref(d, field(d, t5, 0)) + 4, 3)); /* 3 floats in 8 bytes */
    SPOIL(FS_ERR_FORMAT, wr32(c, deref(d, field(d, t1, 0)) + 4, 4)); /* 4 channels, 3 scales */
    /* Per-channel scales must run along a dimension of their length: dw/weights [1,3,3,3]. */
    size_t q10 = deref(d, field(d, t10, 4)), q1 = deref(d, field(d, t1, 4));
    SPOIL(FS_ERR_FORMAT, wr32(c, field(d, q10, 6), 0));
    SPOIL(FS_ERR_FORMAT, wr32(c, field(d, q10, 6), 4));
    SPOIL(FS_ERR_FORMAT, wr32(c, field(d, q10, 6), (uint32_t)-1));
    SPOIL(FS_OK, wr32(c, field(d, q10, 6), 1));
    SPOIL(FS_ERR_FORMAT, wr32(c, deref(d, field(d, q1, 3)), 2));    /* 3 scales, 2 zero points */
    SPOIL(FS_ERR_FORMAT, wr32(c, deref(d, field(d, q1, 2)), 0x40000000u)); /* scales past end */
    /* Options an importer would divide by, and enum values out of range. */
    SPOIL(FS_ERR_FORMAT, wr32(c, field(d, s.op0_options, 1), 0));   /* stride_w 0 */
    SPOIL(FS_ERR_FORMAT, c[field(d, s.op0_options, 0)] = 2);        /* padding 2 */
    SPOIL(FS_ERR_FORMAT, c[field(d, s.op0_options, 3)] = 9);        /* activation 9 */
    SPOIL(FS_ERR_FORMAT, c[field(d, s.op0, 3)] = 5);                /* Pool2DOptions on a conv */
    SPOIL(FS_ERR_FORMAT, c[field(d, s.opcode0, 0)] = 0x80);         /* builtin code -128 */
#undef SPOIL

    assert_int_equal(fs_tflite_parse(d, FS_TFLITE_MAX_FILE + 1, &m, &msg), FS_ERR_LIMIT);
    assert_null(m);
    assert_int_equal(fs_tflite_parse(NULL, 0, &m, &msg), FS_ERR_FORMAT);
    assert_int_equal(fs_tflite_parse(NULL, 8, &m, &msg), FS_ERR_INVALID);
    free(c);
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_seed_reads_back),
        cmocka_unit_test(tiny_seed_dequantizes),
        cmocka_unit_test(names),
        cmocka_unit_test(mobilenet_uint8_per_tensor),
        cmocka_unit_test(mobilenet_int8_per_channel),
        cmocka_unit_test(truncated_files),
        cmocka_unit_test(byte_flips),
        cmocka_unit_test(spoiled_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
