/* landmarks.c: face-api's 68-point landmark network (include/fakescope/landmarks.h): the
 * conversion of its TF.js tensors into PyTorch names and layouts, the graph, the crop that feeds
 * it and the mapping of its output back to image pixels.
 *
 * The architecture was read from face-api's source (FaceFeatureExtractor, denseBlock4,
 * depthwiseSeparableConv, FaceLandmark68Net); tests/tools/landmarks68_ref.py re-implements it
 * in numpy from the same TF.js files and tests/unit/test_landmarks.c holds the two together.
 * The graph has no ReLU op of its own, so each ReLU of a sum is a second add node with the
 * activation fused (adding 32-256 channels twice costs nothing next to the convolutions). */
#include "fakescope/landmarks.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fakescope/card.h"

#define BLOCKS 4
#define CONVS 4
#define FC_IN 256
#define FC_OUT (2 * FS_LANDMARKS_POINTS)
#define NAME_CAP 64

static const int block_channels[BLOCKS] = {32, 64, 128, 256};
static const float input_mean[3] = {122.782f, 117.001f, 104.298f};

struct fs_landmarks {
    fs_graph *g;
    pthread_mutex_t lock; /* the graph's activation buffers are shared by its runs */
};

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
    if ((err = fs_graph_error(g, msg)) || (err = fs_graph_plan(g, 1, msg))) goto fail;
    *out = g;
    return FS_OK;
fail:
    fs_graph_free(g);
    return err;
}

/* ---- model --------------------------------------------------------------------------- */

fs_err fs_landmarks_from_weights(const fs_weights *w, fs_landmarks **out, fs_msg *msg) {
    *out = NULL;
    fs_landmarks *m = calloc(1, sizeof *m);
    if (!m) return fs_fail(msg, FS_ERR_NOMEM, "no memory");
    fs_err err = fs_landmark68_graph(w, &m->g, msg);
    if (!err && pthread_mutex_init(&m->lock, NULL)) {
        fs_graph_free(m->g);
        err = fs_fail(msg, FS_ERR_INTERNAL, "pthread_mutex_init failed");
    }
    if (err) {
        free(m);
        return err;
    }
    *out = m;
    return FS_OK;
}

void fs_landmarks_free(fs_landmarks *m) {
    if (!m) return;
    fs_graph_free(m->g);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* The card's string field, or NULL. */
static const char *str(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

fs_err fs_landmarks_load(const char *card_path, fs_landmarks **out, fs_msg *msg) {
    *out = NULL;
    uint8_t *text = NULL;
    size_t len = 0;
    json_t *card = NULL;
    fs_weights w = {0};
    fs_err err = fs_read_file(card_path, FS_CARD_MAX_BYTES, &text, &len, msg);
    if (err) {
        if (err == FS_ERR_IO) err = FS_ERR_NOTFOUND;
        goto done;
    }
    card = json_loadb((const char *)text, len, 0, NULL);
    const char *kind = card ? str(card, "kind") : NULL, *arch = card ? str(card, "architecture") : NULL;
    const char *wfile = card ? str(card, "weights") : NULL, *sha = card ? str(card, "sha256") : NULL;
    if (!card || !kind || strcmp(kind, "landmarks") || !arch || strcmp(arch, FS_LANDMARKS_ARCH) ||
        !wfile || !*wfile || strchr(wfile, '/') || !sha || strlen(sha) != 64) {
        err = fs_fail(msg, FS_ERR_FORMAT,
                      "not a landmark68 card (needs \"kind\": \"landmarks\", \"architecture\": "
                      "\"%s\", \"weights\" and \"sha256\")",
                      FS_LANDMARKS_ARCH);
        goto done;
    }
    char wpath[4096], hex[FS_SHA256_HEX];
    const char *slash = strrchr(card_path, '/');
    if (snprintf(wpath, sizeof wpath, "%.*s%s", slash ? (int)(slash - card_path + 1) : 0,
                 card_path, wfile) >= (int)sizeof wpath) {
        err = fs_fail(msg, FS_ERR_INVALID, "path too long");
        goto done;
    }
    if ((err = fs_sha256_file(wpath, hex, msg))) {
        if (err == FS_ERR_IO) err = FS_ERR_NOTFOUND;
        goto done;
    }
    if (strcasecmp(hex, sha)) {
        err = fs_fail(msg, FS_ERR_FORMAT, "%s does not match the card's sha256 (corrupt or "
                      "replaced)", wpath);
        goto done;
    }
    if ((err = fs_weights_load_safetensors(wpath, &w, msg))) goto done;
    const char *warch = fs_weights_meta(&w, "arch");
    if (warch && strcmp(warch, FS_LANDMARKS_ARCH)) {
        err = fs_fail(msg, FS_ERR_FORMAT, "%s holds %s weights", wpath, warch);
        goto done;
    }
    err = fs_landmarks_from_weights(&w, out, msg);
done:
    if (err) {
        fs_msg_prefix(msg, "landmark model %s: ", card_path);
        size_t l = strlen(msg->text);
        snprintf(msg->text + l, sizeof msg->text - l, " (set up with: %s)", FS_LANDMARKS_SETUP);
    }
    fs_weights_free(&w);
    json_decref(card);
    free(text);
    return err;
}

/* ---- crop and run -------------------------------------------------------------------- */

/* Bilinear sample of channel values at (x, y) in pixel units (pixel centres at +0.5), the
 * image black outside its borders. */
static void sample(const fs_image *img, float x, float y, float rgb[3]) {
    float fx = x - 0.5f, fy = y - 0.5f;
    float x0f = floorf(fx), y0f = floorf(fy);
    float tx = fx - x0f, ty = fy - y0f;
    long x0 = (long)x0f, y0 = (long)y0f;
    float wts[4] = {(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty};
    rgb[0] = rgb[1] = rgb[2] = 0;
    for (int j = 0; j < 4; j++) {
        long px = x0 + (j & 1), py = y0 + (j >> 1);
        if (px < 0 || py < 0 || px >= img->w || py >= img->h) continue;
        const uint8_t *p = img->rgb + ((size_t)py * (size_t)img->w + (size_t)px) * 3;
        for (int c = 0; c < 3; c++) rgb[c] += wts[j] * p[c];
    }
}

fs_err fs_landmarks_input(const fs_image *img, fs_rectf box, float *input, float *x0, float *y0,
                          float *side, fs_msg *msg) {
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "landmarks: empty image");
    const float limit = 4.0f * FS_GRAPH_MAX_SIDE;
    if (!isfinite(box.x) || !isfinite(box.y) || !isfinite(box.w) || !isfinite(box.h) ||
        !(box.w > 0) || !(box.h > 0) || box.w > limit || box.h > limit ||
        fabsf(box.x) > limit || fabsf(box.y) > limit)
        return fs_fail(msg, FS_ERR_INVALID,
                       "landmarks: box (%g, %g, %g, %g) is not a usable face box", box.x, box.y,
                       box.w, box.h);
    const int n = FS_LANDMARKS_SIDE;
    float s = box.w > box.h ? box.w : box.h;
    float sx = box.x + box.w / 2 - s / 2, sy = box.y + box.h / 2 - s / 2;
    int k = (int)ceilf(s / (float)n);
    if (k < 1) k = 1;
    const float step = s / (float)n, inv = 1.0f / (float)(k * k);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float acc[3] = {0, 0, 0}, v[3];
            for (int a = 0; a < k; a++) {
                float y = sy + ((float)i + ((float)a + 0.5f) / (float)k) * step;
                for (int b = 0; b < k; b++) {
                    float x = sx + ((float)j + ((float)b + 0.5f) / (float)k) * step;
                    sample(img, x, y, v);
                    acc[0] += v[0], acc[1] += v[1], acc[2] += v[2];
                }
            }
            float *o = input + ((size_t)i * n + j) * 3;
            for (int c = 0; c < 3; c++) o[c] = (acc[c] * inv - input_mean[c]) / 255.0f;
        }
    *x0 = sx, *y0 = sy, *side = s;
    return FS_OK;
}

fs_err fs_landmarks_run(fs_landmarks *m, const fs_image *img, fs_rectf box,
                        fs_point2f out[FS_LANDMARKS_POINTS], fs_msg *msg) {
    const size_t n = (size_t)FS_LANDMARKS_SIDE * FS_LANDMARKS_SIDE * 3;
    float *input = malloc(sizeof(float) * n), res[FC_OUT], x0, y0, s;
    if (!input) return fs_fail(msg, FS_ERR_NOMEM, "no memory for the landmark input");
    fs_err err = fs_landmarks_input(img, box, input, &x0, &y0, &s, msg);
    if (!err) {
        pthread_mutex_lock(&m->lock);
        err = fs_graph_forward(m->g, input, 1, res, msg);
        pthread_mutex_unlock(&m->lock);
    }
    free(input);
    if (err) return err;
    for (int i = 0; i < FS_LANDMARKS_POINTS; i++) {
        out[i].x = x0 + res[2 * i] * s;
        out[i].y = y0 + res[2 * i + 1] * s;
    }
    return FS_OK;
}

void fs_landmarks_five(const fs_point2f pts[FS_LANDMARKS_POINTS], fs_point2f five[5]) {
    for (int e = 0; e < 2; e++) {
        float x = 0, y = 0;
        for (int i = 36 + 6 * e; i < 42 + 6 * e; i++) x += pts[i].x, y += pts[i].y;
        five[e].x = x / 6, five[e].y = y / 6;
    }
    five[2] = pts[30];
    five[3] = pts[48];
    five[4] = pts[54];
}
