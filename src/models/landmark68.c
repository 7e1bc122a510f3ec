/* landmark68.c: the architecture of face-api's 68-point landmark network (include/fakescope/
 * landmarks.h): the conversion of its TF.js tensors into PyTorch names and layouts, the check of
 * a weight set and the graph. Running it on faces (crop, output mapping) is face/landmarks.c.
 *
 * The architecture was read from face-api's source (FaceFeatureExtractor, denseBlock4,
 * depthwiseSeparableConv, FaceLandmark68Net); tests/tools/landmarks68_ref.py re-implements it
 * in numpy from the same TF.js files and tests/unit/test_landmarks.c holds the two together.
 * The graph has no ReLU op of its own, so each ReLU of a sum is a second add node with the
 * activation fused (adding 32-256 channels twice costs nothing next to the convolutions). */
#include "fakescope/landmarks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define BLOCKS 4
#define CONVS 4
#define FC_IN 256
#define FC_OUT (2 * FS_LANDMARKS_POINTS)
#define NAME_CAP 64

static const int block_channels[BLOCKS] = {32, 64, 128, 256};

/* ---- expected tensors ---------------------------------------------------------------- */

typedef struct spec {
    char name[NAME_CAP];
    int ndim;
    int64_t shape[4];
} spec;

static int specs(spec *s) {
    int n = 0, cin = 3;
#define ADD(nd, a, b, c, d, ...)                                                              \
    do {                                                                                     \
        snprintf(s[n].name, NAME_CAP, __VA_ARGS__);                                          \
        s[n].ndim = nd, s[n].shape[0] = a, s[n].shape[1] = b, s[n].shape[2] = c,             \
        s[n].shape[3] = d;                                                                   \
        n++;                                                                                 \
    } while (0)
    for (int b = 0; b < BLOCKS; b++) {
        int c = block_channels[b];
        for (int k = 0; k < CONVS; k++) {
            int ci = k == 0 ? cin : c;
            if (b == 0 && k == 0) {
                ADD(4, c, 3, 3, 3, "dense0.conv0.weight");
                ADD(1, c, 0, 0, 0, "dense0.conv0.bias");
                continue;
            }
            ADD(4, ci, 1, 3, 3, "dense%d.conv%d.depthwise.weight", b, k);
            ADD(4, c, ci, 1, 1, "dense%d.conv%d.pointwise.weight", b, k);
            ADD(1, c, 0, 0, 0, "dense%d.conv%d.pointwise.bias", b, k);
        }
        cin = c;
    }
    ADD(2, FC_OUT, FC_IN, 0, 0, "fc.weight");
    ADD(1, FC_OUT, 0, 0, 0, "fc.bias");
#undef ADD
    return n;
}
#define NSPECS (2 + 15 * 3 + 2)

static int same_shape(const fs_weight *t, const spec *s) {
    if (t->ndim != s->ndim) return 0;
    for (int d = 0; d < s->ndim; d++)
        if (t->shape[d] != s->shape[d]) return 0;
    return 1;
}

fs_err fs_landmark68_check(const fs_weights *w, fs_msg *msg) {
    spec s[NSPECS];
    int n = specs(s);
    for (int i = 0; i < n; i++) {
        const fs_weight *t = fs_weights_get(w, s[i].name);
        char want[64], have[64];
        if (!t) return fs_fail(msg, FS_ERR_FORMAT, "landmark68: tensor %s is missing", s[i].name);
        if (!same_shape(t, &s[i])) {
            fs_weights_format_shape(s[i].ndim, s[i].shape, want, sizeof want);
            fs_weights_format_shape(t->ndim, t->shape, have, sizeof have);
            return fs_fail(msg, FS_ERR_FORMAT, "landmark68: %s expects %s, the weights have %s",
                           s[i].name, want, have);
        }
    }
    if (w->count != (size_t)n) {
        for (size_t i = 0; i < w->count; i++) {
            int known = 0;
            for (int k = 0; k < n && !known; k++) known = !strcmp(w->items[i].name, s[k].name);
            if (!known)
                return fs_fail(msg, FS_ERR_FORMAT, "landmark68: unexpected tensor %s",
                               w->items[i].name);
        }
    }
    return FS_OK;
}

/* ---- from TF.js ---------------------------------------------------------------------- */

/* The TF.js tensor `name` of the given shape, or FS_ERR_FORMAT. */
static fs_err tf_get(const fs_weights *tf, const char *name, int ndim, const int64_t *shape,
                     const fs_weight **out, fs_msg *msg) {
    const fs_weight *t = fs_weights_get(tf, name);
    if (!t) return fs_fail(msg, FS_ERR_FORMAT, "the TF.js weights have no tensor %s", name);
    spec s = {.ndim = ndim};
    memcpy(s.shape, shape, sizeof(int64_t) * (size_t)ndim);
    if (!same_shape(t, &s)) {
        char want[64], have[64];
        fs_weights_format_shape(ndim, shape, want, sizeof want);
        fs_weights_format_shape(t->ndim, t->shape, have, sizeof have);
        return fs_fail(msg, FS_ERR_FORMAT, "TF.js tensor %s should be %s, it is %s", name, want,
                       have);
    }
    *out = t;
    return FS_OK;
}

/* [kh][kw][cin][cout] (TF.js conv filter; depthwise has cout = multiplier 1, read as
 * [kh][kw][c]) -> [cout][cin][kh][kw] (PyTorch); for depthwise pass cin = 1, cout = c. */
static float *transpose_filter(const float *src, int k, int cin, int cout, int depthwise) {
    float *dst = malloc(sizeof(float) * (size_t)(k * k * cin * cout));
    if (!dst) return NULL;
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int y = 0; y < k; y++)
                for (int x = 0; x < k; x++) {
                    size_t from = depthwise ? ((size_t)y * k + x) * cout + o
                                            : (((size_t)y * k + x) * cin + i) * cout + o;
                    dst[(((size_t)o * cin + i) * k + y) * k + x] = src[from];
                }
    return dst;
}

static fs_err add_filter(fs_weights *out, const char *name, const float *src, int k, int cin,
                         int cout, int depthwise, fs_msg *msg) {
    float *d = transpose_filter(src, k, cin, cout, depthwise);
    if (!d) return fs_fail(msg, FS_ERR_NOMEM, "no memory");
    int64_t shape[4] = {cout, cin, k, k};
    return fs_weights_add_owned(out, name, 4, shape, d, msg);
}

fs_err fs_landmark68_from_tfjs(const fs_weights *tf, fs_weights *out, fs_msg *msg) {
    fs_weights w = {0};
    fs_err err = FS_OK;
    char tn[NAME_CAP], pn[NAME_CAP];
    const fs_weight *t;
    int cin = 3;
    for (int b = 0; b < BLOCKS && !err; b++) {
        int c = block_channels[b];
        for (int k = 0; k < CONVS && !err; k++) {
            int ci = k == 0 ? cin : c;
            int64_t bias_shape[1] = {c};
            if (b == 0 && k == 0) {
                int64_t fs[4] = {3, 3, 3, c};
                if ((err = tf_get(tf, "dense0/conv0/filters", 4, fs, &t, msg)) ||
                    (err = add_filter(&w, "dense0.conv0.weight", t->data, 3, 3, c, 0, msg)) ||
                    (err = tf_get(tf, "dense0/conv0/bias", 1, bias_shape, &t, msg)) ||
                    (err = fs_weights_add(&w, "dense0.conv0.bias", 1, bias_shape, t->data, msg)))
                    break;
                continue;
            }
            int64_t ds[4] = {3, 3, ci, 1}, ps[4] = {1, 1, ci, c};
            snprintf(tn, sizeof tn, "dense%d/conv%d/depthwise_filter", b, k);
            snprintf(pn, sizeof pn, "dense%d.conv%d.depthwise.weight", b, k);
            if ((err = tf_get(tf, tn, 4, ds, &t, msg)) ||
                (err = add_filter(&w, pn, t->data, 3, 1, ci, 1, msg)))
                break;
            snprintf(tn, sizeof tn, "dense%d/conv%d/pointwise_filter", b, k);
            snprintf(pn, sizeof pn, "dense%d.conv%d.pointwise.weight", b, k);
            if ((err = tf_get(tf, tn, 4, ps, &t, msg)) ||
                (err = add_filter(&w, pn, t->data, 1, ci, c, 0, msg)))
                break;
            snprintf(tn, sizeof tn, "dense%d/conv%d/bias", b, k);
            snprintf(pn, sizeof pn, "dense%d.conv%d.pointwise.bias", b, k);
            if ((err = tf_get(tf, tn, 1, bias_shape, &t, msg)) ||
                (err = fs_weights_add(&w, pn, 1, bias_shape, t->data, msg)))
                break;
        }
        cin = c;
    }
    if (!err) {
        /* dense: TF.js [in][out] -> PyTorch [out][in] */
        int64_t fw[2] = {FC_IN, FC_OUT}, fb[1] = {FC_OUT}, pw[2] = {FC_OUT, FC_IN};
        err = tf_get(tf, "fc/weights", 2, fw, &t, msg);
        float *d = err ? NULL : malloc(sizeof(float) * FC_IN * FC_OUT);
        if (!err && !d) err = fs_fail(msg, FS_ERR_NOMEM, "no memory");
        if (!err) {
            for (int i = 0; i < FC_IN; i++)
                for (int o = 0; o < FC_OUT; o++) d[o * FC_IN + i] = t->data[i * FC_OUT + o];
            err = fs_weights_add_owned(&w, "fc.weight", 2, pw, d, msg);
        }
        if (!err) err = tf_get(tf, "fc/bias", 1, fb, &t, msg);
        if (!err) err = fs_weights_add(&w, "fc.bias", 1, fb, t->data, msg);
    }
    if (!err && tf->count != (size_t)NSPECS)
        err = fs_fail(msg, FS_ERR_FORMAT,
                      "the TF.js weights hold %zu tensors; face_landmark_68_model has %d "
                      "(another network's manifest?)",
                      tf->count, NSPECS);
    if (!err) err = fs_weights_set_meta(&w, "arch", FS_LANDMARKS_ARCH, msg);
    if (err) {
        fs_weights_free(&w);
        return err;
    }
    *out = w;
    return FS_OK;
}

/* ---- graph --------------------------------------------------------------------------- */

static const float *W(const fs_weights *w, const char *fmt, int b, int k) {
    char name[NAME_CAP];
    snprintf(name, sizeof name, fmt, b, k);
    const fs_weight *t = fs_weights_get(w, name);
    return t ? t->data : NULL;
}

/* A depthwise separable convolution: depthwise 3x3 (no bias), then pointwise 1x1 with bias. */
static int sep(fs_graph *g, const fs_weights *w, int in, int b, int k, int stride, int cout) {
    char name[NAME_CAP];
    snprintf(name, sizeof name, "dense%d.conv%d.depthwise", b, k);
    int d = fs_graph_dwconv(g, in, 3, stride, 1, FS_PAD_SAME,
                            W(w, "dense%d.conv%d.depthwise.weight", b, k), NULL, FS_ACT_NONE,
                            name);
    snprintf(name, sizeof name, "dense%d.conv%d.pointwise", b, k);
    return fs_graph_conv(g, d, cout, 1, 1, 1, FS_PAD_SAME,
                         W(w, "dense%d.conv%d.pointwise.weight", b, k),
                         W(w, "dense%d.conv%d.pointwise.bias", b, k), FS_ACT_NONE, name);
}

fs_err fs_landmark68_graph(const fs_weights *w, fs_graph **out, fs_msg *msg) {
    *out = NULL;
    fs_err err = fs_landmark68_check(w, msg);
    if (err) return err;
    fs_graph *g;
    if ((err = fs_graph_create(FS_LANDMARKS_SIDE, FS_LANDMARKS_SIDE, 3, &g, msg))) return err;
    int x = 0;
    char name[NAME_CAP];
    for (int b = 0; b < BLOCKS; b++) {
        int c = block_channels[b], o1, o2, o3, o4;
        if (b == 0) {
            o1 = fs_graph_conv(g, x, c, 3, 2, 1, FS_PAD_SAME, W(w, "dense0.conv0.weight", 0, 0),
                               W(w, "dense0.conv0.bias", 0, 0), FS_ACT_RELU, "dense0.conv0");
        } else {
            char dn[NAME_CAP];
            snprintf(dn, sizeof dn, "dense%d.conv0.depthwise", b);
            int d = fs_graph_dwconv(g, x, 3, 2, 1, FS_PAD_SAME,
                                    W(w, "dense%d.conv%d.depthwise.weight", b, 0), NULL,
                                    FS_ACT_NONE, dn);
            snprintf(dn, sizeof dn, "dense%d.conv0.pointwise", b);
            o1 = fs_graph_conv(g, d, c, 1, 1, 1, FS_PAD_SAME,
                               W(w, "dense%d.conv%d.pointwise.weight", b, 0),
                               W(w, "dense%d.conv%d.pointwise.bias", b, 0), FS_ACT_RELU, dn);
        }
        o2 = sep(g, w, o1, b, 1, 1, c);
        snprintf(name, sizeof name, "dense%d.sum12", b);
        int s12 = fs_graph_add(g, o1, o2, FS_ACT_NONE, name);
        snprintf(name, sizeof name, "dense%d.in3", b);
        int in3 = fs_graph_add(g, o1, o2, FS_ACT_RELU, name);
        o3 = sep(g, w, in3, b, 2, 1, c);
        snprintf(name, sizeof name, "dense%d.sum123", b);
        int s123 = fs_graph_add(g, s12, o3, FS_ACT_NONE, name);
        snprintf(name, sizeof name, "dense%d.in4", b);
        int in4 = fs_graph_add(g, s12, o3, FS_ACT_RELU, name);
        o4 = sep(g, w, in4, b, 3, 1, c);
        snprintf(name, sizeof name, "dense%d.out", b);
        x = fs_graph_add(g, s123, o4, FS_ACT_RELU, name);
    }
    if ((err = fs_graph_error(g, msg))) goto fail;
    fs_graph_node_info info;
    fs_graph_node(g, x, &info);
    /* face-api pools 7x7 with stride 2, VALID: on the 7 x 7 map that is one window, the mean */
    if (info.h != 7 || info.w != 7) {
        err = fs_fail(msg, FS_ERR_INTERNAL, "landmark68: the features are %dx%d, not 7x7",
                      info.h, info.w);
        goto fail;
    }
    x = fs_graph_gap(g, x, "pool");
    fs_graph_dense(g, x, FC_OUT, W(w, "fc.weight", 0, 0), W(w, "fc.bias", 0, 0), "fc");
    fs_graph_share(g, 1);
    if ((err = fs_graph_error(g, msg)) || (err = fs_graph_plan(g, 1, msg))) goto fail;
    *out = g;
    return FS_OK;
fail:
    fs_graph_free(g);
    return err;
}
