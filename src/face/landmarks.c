/* landmarks.c (face/): runs the 68-point landmark network (include/fakescope/landmarks.h) on a
 * face box: the model loaded from its landmarks card, the crop face-api feeds the network
 * (docs/faces.md, "Landmarks"), and the network's output mapped back to image pixels. The
 * architecture itself is models/landmark68.c. */
#include "fakescope/landmarks.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fakescope/card.h"

#define FC_OUT (2 * FS_LANDMARKS_POINTS)

static const float input_mean[3] = {122.782f, 117.001f, 104.298f};

struct fs_landmarks {
    fs_graph *g;
    pthread_mutex_t lock; /* the graph's activation buffers are shared by its runs */
};

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
    if (k > FS_LANDMARKS_MAX_SUPERSAMPLE) k = FS_LANDMARKS_MAX_SUPERSAMPLE; /* bounded cost */
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
