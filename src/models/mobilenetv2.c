/* mobilenetv2.c: the MobileNetV2 architecture as a short list of fs_graph calls, and the
 * ImageNet TFLite files turned into its named weights (mobilenet.h). */
#include "fakescope/mobilenet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inverted residual stages of width 1.0: expansion t, channels c, blocks n, first stride s. */
static const struct { int t, c, n, s; } stages[] = {
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};
#define N_STAGES (sizeof stages / sizeof stages[0])

/* One block's layout, in order: 1..17. */
typedef struct block {
    int t, cin, cout, stride;
} block;

static int blocks(block *b) {
    int n = 0, cin = 32;
    for (size_t s = 0; s < N_STAGES; s++)
        for (int i = 0; i < stages[s].n; i++) {
            b[n].t = stages[s].t;
            b[n].cin = cin;
            b[n].cout = stages[s].c;
            b[n].stride = i == 0 ? stages[s].s : 1;
            cin = stages[s].c;
            n++;
        }
    return n;
}

/* The tensor name.weight / name.bias checked against a shape; NULL after filling msg. */
static const float *tensor(const fs_weights *w, const char *name, const char *part, int ndim,
                           const int64_t *shape, fs_msg *msg) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", name, part);
    const fs_weight *t = fs_weights_get(w, full);
    int ok = t && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[64], got[64] = "missing";
        fs_weights_format_shape(ndim, shape, want, sizeof want);
        if (t) fs_weights_format_shape(t->ndim, t->shape, got, sizeof got);
        fs_fail(msg, FS_ERR_FORMAT, "%s: expected %s, found %s", full, want, got);
        return NULL;
    }
    return t->data;
}

/* Adds conv `name` (k x k, groups 1 or depthwise) with its folded bias to g. -1 on failure. */
static int conv(fs_graph *g, const fs_weights *w, const char *name, int in, int cin, int cout,
                int k, int stride, int dw, fs_pad pad, fs_act act, fs_msg *msg) {
    int64_t ws[4] = {cout, dw ? 1 : cin, k, k}, bs[1] = {cout};
    const float *wt = tensor(w, name, "weight", 4, ws, msg);
    const float *b = wt ? tensor(w, name, "bias", 1, bs, msg) : NULL;
    if (!b) return -1;
    int id = dw ? fs_graph_dwconv(g, in, k, stride, 1, pad, wt, b, act, name)
                : fs_graph_conv(g, in, cout, k, stride, 1, pad, wt, b, act, name);
    if (id < 0) fs_graph_error(g, msg);
    return id;
}

fs_err fs_mobilenetv2_graph(const fs_weights *w, int side, fs_graph **out, fs_msg *msg) {
    *out = NULL;
    if (side < 32 || side % 32 || side > 2048)
        return fs_fail(msg, FS_ERR_INVALID, "MobileNetV2 takes a side that is a multiple of 32 "
                       "(32..2048), not %d", side);
    const char *padding = fs_weights_meta(w, "padding");
    fs_pad pad = padding && !strcmp(padding, "tf_same") ? FS_PAD_SAME : FS_PAD_SYMMETRIC;
    const fs_weight *cls = fs_weights_get(w, "classifier.1.weight");
    if (!cls || cls->ndim != 2 || cls->shape[1] != 1280 || cls->shape[0] < 1 ||
        cls->shape[0] > FS_GRAPH_MAX_CHANNELS)
        return fs_fail(msg, FS_ERR_FORMAT, "classifier.1.weight: expected [classes, 1280]");
    const int classes = (int)cls->shape[0];
    fs_graph *g;
    fs_err e = fs_graph_create(side, side, 3, &g, msg);
    if (e) return e;
    int x = conv(g, w, "features.0.0", 0, 3, 32, 3, 2, 0, pad, FS_ACT_RELU6, msg);
    block b[FS_MOBILENETV2_BLOCKS];
    int nb = blocks(b);
    for (int i = 0; i < nb && x >= 0; i++) {
        char n1[48], n2[48], n3[48];
        int in = x, hidden = b[i].cin * b[i].t;
        if (b[i].t == 1) {
            snprintf(n2, sizeof n2, "features.%d.conv.0.0", i + 1);
            snprintf(n3, sizeof n3, "features.%d.conv.1", i + 1);
        } else {
            snprintf(n1, sizeof n1, "features.%d.conv.0.0", i + 1);
            snprintf(n2, sizeof n2, "features.%d.conv.1.0", i + 1);
            snprintf(n3, sizeof n3, "features.%d.conv.2", i + 1);
            x = conv(g, w, n1, x, b[i].cin, hidden, 1, 1, 0, pad, FS_ACT_RELU6, msg);
        }
        if (x >= 0) x = conv(g, w, n2, x, hidden, hidden, 3, b[i].stride, 1, pad, FS_ACT_RELU6, msg);
        if (x >= 0) x = conv(g, w, n3, x, hidden, b[i].cout, 1, 1, 0, pad, FS_ACT_NONE, msg);
        if (x >= 0 && b[i].stride == 1 && b[i].cin == b[i].cout) {
            char na[48];
            snprintf(na, sizeof na, "features.%d.add", i + 1);
            x = fs_graph_add(g, x, in, FS_ACT_NONE, na);
            if (x < 0) fs_graph_error(g, msg);
        }
    }
    if (x >= 0) x = conv(g, w, "features.18.0", x, 320, 1280, 1, 1, 0, pad, FS_ACT_RELU6, msg);
    if (x >= 0) x = fs_graph_gap(g, x, "pool");
    if (x >= 0) {
        int64_t bs[1] = {classes};
        const float *bias = tensor(w, "classifier.1", "bias", 1, bs, msg);
        x = bias ? fs_graph_dense(g, x, classes, cls->data, bias, "classifier.1") : -1;
        if (bias && x < 0) fs_graph_error(g, msg);
    }
    if (x < 0) {
        fs_graph_free(g);
        return FS_ERR_FORMAT;
    }
    *out = g;
    return FS_OK;
}

/* ---- training form ---- */

/* Adds conv `cname` without its bias, then batch norm `bname` with act (see mobilenet.h for
 * where the batch norm values come from). -1 on failure. */
static int conv_bn(fs_graph *g, const fs_weights *w, const char *cname, const char *bname, int in,
                   int cin, int cout, int k, int stride, int dw, fs_pad pad, fs_act act,
                   float eps, fs_msg *msg) {
    int64_t ws[4] = {cout, dw ? 1 : cin, k, k}, bs[1] = {cout};
    const float *wt = tensor(w, cname, "weight", 4, ws, msg);
    if (!wt) return -1;
    float *bn = malloc(sizeof(float) * 4 * (size_t)cout);
    if (!bn) return fs_fail(msg, FS_ERR_NOMEM, "out of memory"), -1;
    static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
    char full[96];
    snprintf(full, sizeof full, "%s.weight", bname);
    int ok = 1;
    if (fs_weights_get(w, full)) {
        for (int i = 0; i < 4 && ok; i++) {
            const float *t = tensor(w, bname, parts[i], 1, bs, msg);
            if (t) memcpy(bn + (size_t)i * cout, t, sizeof(float) * (size_t)cout);
            ok = t != NULL;
        }
    } else {
        const float *b = tensor(w, cname, "bias", 1, bs, msg);
        ok = b != NULL;
        for (int c = 0; c < cout && ok; c++)
            bn[c] = 1, bn[cout + c] = b[c], bn[2 * cout + c] = 0, bn[3 * cout + c] = 1 - eps;
    }
    int id = -1;
    if (ok) {
        int x = dw ? fs_graph_dwconv(g, in, k, stride, 1, pad, wt, NULL, FS_ACT_NONE, cname)
                   : fs_graph_conv(g, in, cout, k, stride, 1, pad, wt, NULL, FS_ACT_NONE, cname);
        id = fs_graph_bn(g, x, bn, bn + cout, bn + 2 * cout, bn + 3 * cout, eps,
                         FS_TNET_BN_MOMENTUM, act, bname);
        if (id < 0) fs_graph_error(g, msg);
    }
    free(bn);
    return id;
}

fs_err fs_mobilenetv2_train_graph(const fs_weights *w, int side, int classes, uint64_t seed,
                                  fs_graph **out, fs_msg *msg) {
    *out = NULL;
    if (side < 32 || side % 32 || side > 2048)
        return fs_fail(msg, FS_ERR_INVALID, "MobileNetV2 takes a side that is a multiple of 32 "
                       "(32..2048), not %d", side);
    if (classes < 1 || classes > FS_GRAPH_MAX_CHANNELS)
        return fs_fail(msg, FS_ERR_INVALID, "%d classes", classes);
    const char *padding = fs_weights_meta(w, "padding"), *eps_meta = fs_weights_meta(w, "bn_eps");
    fs_pad pad = padding && !strcmp(padding, "tf_same") ? FS_PAD_SAME : FS_PAD_SYMMETRIC;
    float eps = eps_meta ? strtof(eps_meta, NULL) : pad == FS_PAD_SAME ? 1e-3f : 1e-5f;
    if (!(eps > 0 && eps < 1)) return fs_fail(msg, FS_ERR_FORMAT, "bn_eps %s", eps_meta);
    fs_graph *g;
    fs_err e = fs_graph_create(side, side, 3, &g, msg);
    if (e) return e;
    int x = conv_bn(g, w, "features.0.0", "features.0.1", 0, 3, 32, 3, 2, 0, pad, FS_ACT_RELU6, eps, msg);
    block b[FS_MOBILENETV2_BLOCKS];
    int nb = blocks(b);
    for (int i = 0; i < nb && x >= 0; i++) {
        char c1[48], n1[48], c2[48], n2[48], c3[48], n3[48];
        int in = x, hidden = b[i].cin * b[i].t, j = i + 1;
        if (b[i].t == 1) {
            snprintf(c2, sizeof c2, "features.%d.conv.0.0", j), snprintf(n2, sizeof n2, "features.%d.conv.0.1", j);
            snprintf(c3, sizeof c3, "features.%d.conv.1", j), snprintf(n3, sizeof n3, "features.%d.conv.2", j);
        } else {
            snprintf(c1, sizeof c1, "features.%d.conv.0.0", j), snprintf(n1, sizeof n1, "features.%d.conv.0.1", j);
            snprintf(c2, sizeof c2, "features.%d.conv.1.0", j), snprintf(n2, sizeof n2, "features.%d.conv.1.1", j);
            snprintf(c3, sizeof c3, "features.%d.conv.2", j), snprintf(n3, sizeof n3, "features.%d.conv.3", j);
            x = conv_bn(g, w, c1, n1, x, b[i].cin, hidden, 1, 1, 0, pad, FS_ACT_RELU6, eps, msg);
        }
        if (x >= 0) x = conv_bn(g, w, c2, n2, x, hidden, hidden, 3, b[i].stride, 1, pad, FS_ACT_RELU6, eps, msg);
        if (x >= 0) x = conv_bn(g, w, c3, n3, x, hidden, b[i].cout, 1, 1, 0, pad, FS_ACT_NONE, eps, msg);
        if (x >= 0 && b[i].stride == 1 && b[i].cin == b[i].cout) {
            char na[48];
            snprintf(na, sizeof na, "features.%d.add", j);
            x = fs_graph_add(g, x, in, FS_ACT_NONE, na);
            if (x < 0) fs_graph_error(g, msg);
        }
    }
    if (x >= 0) x = conv_bn(g, w, "features.18.0", "features.18.1", x, 320, 1280, 1, 1, 0, pad, FS_ACT_RELU6, eps, msg);
    if (x >= 0) x = fs_graph_gap(g, x, "pool");
    if (x >= 0) {
        const fs_weight *cw = fs_weights_get(w, "classifier.1.weight"), *cb = fs_weights_get(w, "classifier.1.bias");
        float *hw = NULL, *hb = NULL;
        if (cw && cb && cw->ndim == 2 && cw->shape[0] == classes && cw->shape[1] == 1280 &&
            cb->ndim == 1 && cb->shape[0] == classes) {
            x = fs_graph_dense(g, x, classes, cw->data, cb->data, "classifier.1");
        } else {
            hw = malloc(sizeof(float) * 1280 * (size_t)classes);
            hb = calloc((size_t)classes, sizeof(float));
            if (!hw || !hb) {
                x = -1;
                fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            } else {
                /* Glorot uniform: limit sqrt(6 / (fan_in + fan_out)), from a splitmix64 stream */
                const double limit = sqrt(6.0 / (1280.0 + classes));
                uint64_t s = seed;
                for (size_t i = 0; i < 1280 * (size_t)classes; i++) {
                    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
                    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
                    z ^= z >> 31;
                    hw[i] = (float)(((double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0) * limit);
                }
                x = fs_graph_dense(g, x, classes, hw, hb, "classifier.1");
            }
        }
        if (x < 0 && fs_graph_error(g, NULL)) fs_graph_error(g, msg);
        free(hw), free(hb);
    }
    if (x < 0) {
        fs_err ge = fs_graph_error(g, NULL);
        fs_graph_free(g);
        return ge ? ge : FS_ERR_FORMAT;
    }
    *out = g;
    return FS_OK;
}

/* Every convolution of the training form with its batch norm, in order; returns the count. */
typedef struct conv_bn_name {
    char conv[40], bn[40];
    int cin, cout, k, dw;
} conv_bn_name;

static int conv_bn_names(conv_bn_name *l) {
    int n = 0;
    l[n++] = (conv_bn_name){"features.0.0", "features.0.1", 3, 32, 3, 0};
    block b[FS_MOBILENETV2_BLOCKS];
    int nb = blocks(b);
    for (int i = 0; i < nb; i++) {
        int j = i + 1, hidden = b[i].cin * b[i].t, t1 = b[i].t == 1;
        if (!t1) {
            snprintf(l[n].conv, sizeof l[n].conv, "features.%d.conv.0.0", j);
            snprintf(l[n].bn, sizeof l[n].bn, "features.%d.conv.0.1", j);
            l[n].cin = b[i].cin, l[n].cout = hidden, l[n].k = 1, l[n].dw = 0, n++;
        }
        snprintf(l[n].conv, sizeof l[n].conv, "features.%d.conv.%d.0", j, t1 ? 0 : 1);
        snprintf(l[n].bn, sizeof l[n].bn, "features.%d.conv.%d.1", j, t1 ? 0 : 1);
        l[n].cin = l[n].cout = hidden, l[n].k = 3, l[n].dw = 1, n++;
        snprintf(l[n].conv, sizeof l[n].conv, "features.%d.conv.%d", j, t1 ? 1 : 2);
        snprintf(l[n].bn, sizeof l[n].bn, "features.%d.conv.%d", j, t1 ? 2 : 3);
        l[n].cin = hidden, l[n].cout = b[i].cout, l[n].k = 1, l[n].dw = 0, n++;
    }
    l[n++] = (conv_bn_name){"features.18.0", "features.18.1", 320, 1280, 1, 0};
    return n;
}

/* The next value of a splitmix64 stream, uniform in [-1, 1). */
static double uniform(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

fs_err fs_mobilenetv2_random(fs_weights *out, int classes, uint64_t seed, fs_msg *msg) {
    if (classes < 1 || classes > FS_GRAPH_MAX_CHANNELS)
        return fs_fail(msg, FS_ERR_INVALID, "%d classes", classes);
    conv_bn_name l[2 + 3 * FS_MOBILENETV2_BLOCKS];
    const int n = conv_bn_names(l);
    uint64_t s = seed;
    fs_err e = FS_OK;
    for (int i = 0; i < n && !e; i++) {
        const int cin = l[i].dw ? 1 : l[i].cin, cout = l[i].cout;
        const size_t per = (size_t)cin * l[i].k * l[i].k;
        int64_t ws[4] = {cout, cin, l[i].k, l[i].k}, bs[1] = {cout};
        float *w = malloc(sizeof(float) * per * (size_t)cout), *b = calloc((size_t)cout, sizeof(float));
        if (!w || !b) {
            free(w), free(b);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        }
        const double limit = sqrt(6.0 / (double)per); /* He uniform: fan_in = cin k k */
        for (size_t j = 0; j < per * (size_t)cout; j++) w[j] = (float)(uniform(&s) * limit);
        char name[96];
        snprintf(name, sizeof name, "%.39s.weight", l[i].conv);
        e = fs_weights_add_owned(out, name, 4, ws, w, msg);
        snprintf(name, sizeof name, "%.39s.bias", l[i].conv);
        if (!e) e = fs_weights_add_owned(out, name, 1, bs, b, msg);
        else free(b);
    }
    float *cw = e ? NULL : malloc(sizeof(float) * 1280 * (size_t)classes);
    float *cb = e ? NULL : calloc((size_t)classes, sizeof(float));
    if (!e && (!cw || !cb)) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (!e) {
        const double limit = sqrt(6.0 / (1280.0 + classes));
        for (size_t j = 0; j < 1280 * (size_t)classes; j++) cw[j] = (float)(uniform(&s) * limit);
        int64_t ws[2] = {classes, 1280}, bs[1] = {classes};
        e = fs_weights_add_owned(out, "classifier.1.weight", 2, ws, cw, msg);
        cw = NULL;
        if (!e) e = fs_weights_add_owned(out, "classifier.1.bias", 1, bs, cb, msg);
        cb = NULL;
    }
    free(cw), free(cb);
    if (!e) e = fs_weights_set_meta(out, "architecture", "mobilenetv2", msg);
    if (!e) e = fs_weights_set_meta(out, "padding", "tf_same", msg);
    return e;
}

fs_err fs_mobilenetv2_fold(const fs_weights *train, fs_weights *out, fs_msg *msg) {
    const char *padding = fs_weights_meta(train, "padding"), *eps_meta = fs_weights_meta(train, "bn_eps");
    const double eps = eps_meta ? strtod(eps_meta, NULL)
                       : padding && !strcmp(padding, "tf_same") ? 1e-3 : 1e-5;
    if (!(eps > 0 && eps < 1)) return fs_fail(msg, FS_ERR_FORMAT, "bn_eps %s", eps_meta);
    conv_bn_name l[2 + 3 * FS_MOBILENETV2_BLOCKS];
    const int n = conv_bn_names(l);
    fs_err e = FS_OK;
    for (int i = 0; i < n && !e; i++) {
        const int cout = l[i].cout;
        int64_t ws[4] = {cout, l[i].dw ? 1 : l[i].cin, l[i].k, l[i].k}, bs[1] = {cout};
        const float *w = tensor(train, l[i].conv, "weight", 4, ws, msg), *bn[4] = {0};
        static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
        for (int j = 0; j < 4 && w; j++)
            if (!(bn[j] = tensor(train, l[i].bn, parts[j], 1, bs, msg))) w = NULL;
        if (!w) return FS_ERR_FORMAT;
        const size_t per = (size_t)ws[1] * l[i].k * l[i].k;
        float *fw = malloc(sizeof(float) * per * (size_t)cout), *fb = malloc(sizeof(float) * (size_t)cout);
        if (!fw || !fb) {
            free(fw), free(fb);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        }
        for (int o = 0; o < cout; o++) {
            const float sc = bn[0][o] / sqrtf(bn[3][o] + (float)eps); /* as the graph's batch norm */
            for (size_t t = 0; t < per; t++) fw[(size_t)o * per + t] = w[(size_t)o * per + t] * sc;
            fb[o] = bn[1][o] - bn[2][o] * sc;
        }
        char name[96];
        snprintf(name, sizeof name, "%.39s.weight", l[i].conv);
        e = fs_weights_add_owned(out, name, 4, ws, fw, msg);
        snprintf(name, sizeof name, "%.39s.bias", l[i].conv);
        if (!e) e = fs_weights_add_owned(out, name, 1, bs, fb, msg);
        else free(fb);
    }
    const fs_weight *cw = fs_weights_get(train, "classifier.1.weight"), *cb = fs_weights_get(train, "classifier.1.bias");
    if (!e && (!cw || !cb || cw->ndim != 2 || cw->shape[1] != 1280 || cb->ndim != 1 || cb->shape[0] != cw->shape[0]))
        return fs_fail(msg, FS_ERR_FORMAT, "classifier.1: expected [classes, 1280] and [classes]");
    if (!e) e = fs_weights_add(out, "classifier.1.weight", 2, cw->shape, cw->data, msg);
    if (!e) e = fs_weights_add(out, "classifier.1.bias", 1, cb->shape, cb->data, msg);
    for (size_t i = 0; i < train->meta_count && !e; i++)
        e = fs_weights_set_meta(out, train->meta_keys[i], train->meta_values[i], msg);
    return e;
}

/* ---- from TFLite ---- */

/* The next CONV_2D or DEPTHWISE_CONV_2D op from *at on, or NULL. */
static const fs_tflite_op *next_conv(const fs_tflite_model *m, int *at) {
    for (; *at < m->nops; (*at)++) {
        const fs_tflite_op *op = &m->ops[*at];
        if (op->code == FS_TFLITE_OP_CONV_2D || op->code == FS_TFLITE_OP_DEPTHWISE_CONV_2D) {
            (*at)++;
            return op;
        }
    }
    return NULL;
}

/* Takes the next conv of the file as `name` ([cout][cin/1][k][k] + bias), checking its kind,
 * kernel, stride and channels against what MobileNetV2 has there. */
static fs_err take_conv(const fs_tflite_model *m, int *at, fs_weights *out, const char *name,
                        int dw, int cin, int cout, int k, int stride, fs_msg *msg) {
    const fs_tflite_op *op = next_conv(m, at);
    if (!op || (op->code == FS_TFLITE_OP_DEPTHWISE_CONV_2D) != dw || op->ninputs < 3 ||
        op->inputs[1] < 0 || op->inputs[2] < 0 || op->opt.stride_h != stride)
        return fs_fail(msg, FS_ERR_FORMAT, "%s: the file's op %d is not the %s convolution "
                       "MobileNetV2 has there", name, *at - 1, dw ? "depthwise" : "");
    const fs_tflite_tensor *wt = &m->tensors[op->inputs[1]];
    /* conv [cout][k][k][cin]; depthwise [1][k][k][c] */
    if (wt->ndim != 4 || wt->shape[1] != k || wt->shape[2] != k ||
        wt->shape[0] != (dw ? 1 : cout) || wt->shape[3] != (dw ? cout : cin))
        return fs_fail(msg, FS_ERR_FORMAT, "%s: weights of shape %dx%dx%dx%d", name, wt->shape[0],
                       wt->shape[1], wt->shape[2], wt->shape[3]);
    float *w = NULL, *b = NULL;
    size_t nw, nb;
    fs_err e = fs_tflite_tensor_float(m, op->inputs[1], &w, &nw, msg);
    if (!e) e = fs_tflite_tensor_float(m, op->inputs[2], &b, &nb, msg);
    if (!e && nb != (size_t)cout) e = fs_fail(msg, FS_ERR_FORMAT, "%s: %zu biases", name, nb);
    size_t kk = (size_t)k * k, ci = dw ? 1 : (size_t)cin;
    float *pt = e ? NULL : malloc(sizeof(float) * nw);
    if (!e && !pt) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (!e) {
        for (int o = 0; o < cout; o++)
            for (size_t t = 0; t < kk; t++)
                for (size_t i = 0; i < ci; i++)
                    pt[((size_t)o * ci + i) * kk + t] =
                        dw ? w[t * (size_t)cout + (size_t)o] : w[((size_t)o * kk + t) * ci + i];
        char full[96];
        int64_t shape[4] = {cout, (int64_t)ci, k, k}, bshape[1] = {cout};
        snprintf(full, sizeof full, "%s.weight", name);
        e = fs_weights_add_owned(out, full, 4, shape, pt, msg);
        pt = NULL;
        snprintf(full, sizeof full, "%s.bias", name);
        if (!e) e = fs_weights_add(out, full, 1, bshape, b, msg);
    }
    free(pt), free(w), free(b);
    return e;
}

fs_err fs_mobilenetv2_from_tflite(const fs_tflite_model *m, fs_weights *out, fs_msg *msg) {
    if (m->ninputs != 1) return fs_fail(msg, FS_ERR_FORMAT, "not a one-input network");
    int at = 0;
    fs_err e = take_conv(m, &at, out, "features.0.0", 0, 3, 32, 3, 2, msg);
    block b[FS_MOBILENETV2_BLOCKS];
    int nb = blocks(b);
    for (int i = 0; i < nb && !e; i++) {
        char n[48];
        int hidden = b[i].cin * b[i].t;
        if (b[i].t != 1) {
            snprintf(n, sizeof n, "features.%d.conv.0.0", i + 1);
            e = take_conv(m, &at, out, n, 0, b[i].cin, hidden, 1, 1, msg);
        }
        snprintf(n, sizeof n, b[i].t == 1 ? "features.%d.conv.0.0" : "features.%d.conv.1.0", i + 1);
        if (!e) e = take_conv(m, &at, out, n, 1, hidden, hidden, 3, b[i].stride, msg);
        snprintf(n, sizeof n, b[i].t == 1 ? "features.%d.conv.1" : "features.%d.conv.2", i + 1);
        if (!e) e = take_conv(m, &at, out, n, 0, hidden, b[i].cout, 1, 1, msg);
    }
    if (!e) e = take_conv(m, &at, out, "features.18.0", 0, 320, 1280, 1, 1, msg);
    if (e) return e;
    /* the classifier: a 1x1 conv (both converters) or a dense layer after the pooling */
    const fs_tflite_op *op = NULL;
    for (; at < m->nops && !op; at++)
        if (m->ops[at].code == FS_TFLITE_OP_CONV_2D || m->ops[at].code == FS_TFLITE_OP_FULLY_CONNECTED)
            op = &m->ops[at];
    if (!op || op->ninputs < 3 || op->inputs[1] < 0 || op->inputs[2] < 0)
        return fs_fail(msg, FS_ERR_FORMAT, "no classifier after the last block");
    const fs_tflite_tensor *wt = &m->tensors[op->inputs[1]];
    int64_t classes = wt->shape[0];
    if (wt->count != classes * 1280 || classes < 1)
        return fs_fail(msg, FS_ERR_FORMAT, "a classifier of %lld values", (long long)wt->count);
    float *w = NULL, *bias = NULL;
    size_t nw, nbias;
    e = fs_tflite_tensor_float(m, op->inputs[1], &w, &nw, msg);
    if (!e) e = fs_tflite_tensor_float(m, op->inputs[2], &bias, &nbias, msg);
    if (!e && nbias != (size_t)classes) e = fs_fail(msg, FS_ERR_FORMAT, "%zu classifier biases", nbias);
    int64_t ws[2] = {classes, 1280}, bs[1] = {classes};
    if (!e) e = fs_weights_add(out, "classifier.1.weight", 2, ws, w, msg); /* [o][1][1][i] = [o][i] */
    if (!e) e = fs_weights_add(out, "classifier.1.bias", 1, bs, bias, msg);
    free(w), free(bias);
    if (e) return e;
    const fs_tflite_tensor *it = &m->tensors[m->inputs[0]];
    char v[32];
    float scale = it->quant.count == 1 ? it->quant.scale[0] : 1.0f;
    float zero = it->quant.count == 1 ? (float)it->quant.zero_point[0] : 0.0f;
    e = fs_weights_set_meta(out, "architecture", "mobilenetv2", msg);
    if (!e) e = fs_weights_set_meta(out, "padding", "tf_same", msg);
    snprintf(v, sizeof v, "%.9g", (double)scale);
    if (!e) e = fs_weights_set_meta(out, "input_scale", v, msg);
    snprintf(v, sizeof v, "%.9g", (double)zero);
    if (!e) e = fs_weights_set_meta(out, "input_zero_point", v, msg);
    if (!e) e = fs_weights_set_meta(out, "source", "TFLite MobileNetV2 1.0 224 (ImageNet), "
                                    "8-bit weights dequantized, batch norm folded", msg);
    return e;
}
