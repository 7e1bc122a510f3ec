/* blazeface.c: MediaPipe's BlazeFace on the op graph (blazeface.h). The anchor layouts and the
 * decoding constants are those of MediaPipe's face_detection_short_range and
 * face_detection_full_range graphs (SsdAnchorsCalculator and TensorsToDetectionsCalculator
 * options); they are not in the TFLite files, so they live here, one table per variant. */
#include "fakescope/blazeface.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakescope/graph.h"
#include "fakescope/tflite.h"

/* Anchors: feature maps of side input/stride, `per` anchors per cell, all of size 1 (MediaPipe's
 * fixed_anchor_size), centred on the cell (anchor_offset 0.5). Layers of one stride are merged,
 * as the calculator does: short range has strides 8, 16, 16, 16 with 2 anchors each. */
typedef struct variant {
    const char *name;
    int side, anchors;
    int nlayers;
    int stride[2], per[2];
} variant;

static const variant variants[] = {
    {"short", 128, 896, 2, {8, 16}, {2, 6}},
    {"full", 192, 2304, 1, {4, 0}, {1, 0}},
};

#define NVALUES 16 /* per anchor: x, y, w, h, then 6 keypoints (x, y) */

/* One runnable copy of the network: a graph plans its buffers for one caller at a time. */
typedef struct instance {
    fs_graph *g;
    float *input; /* side x side x 3 */
    struct instance *next;
} instance;

#define MAX_INSTANCES 16 /* concurrent callers beyond this wait for a free copy */

struct fs_blazeface {
    fs_blazeface_kind kind;
    const variant *v;
    fs_weights w;            /* kept to build a copy for each concurrent caller */
    int out_reg, out_score;  /* graph nodes of the two outputs */
    float *anchors;          /* x, y per anchor */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    instance *idle;          /* copies not in use */
    int instances;           /* made so far */
};

static void instance_free(instance *in) {
    if (!in) return;
    fs_graph_free(in->g);
    free(in->input);
    free(in);
}

static fs_err instance_new(const fs_blazeface *d, instance **out, fs_msg *msg) {
    instance *in = calloc(1, sizeof *in);
    fs_err e = in ? fs_graph_load(&d->w, &in->g, msg) : fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (!e) fs_graph_share(in->g, 1); /* its outputs end the graph: kept (checked per run) */
    if (!e) e = fs_graph_plan(in->g, 1, msg);
    if (!e && !(in->input = malloc(sizeof(float) * 3 * (size_t)d->v->side * d->v->side)))
        e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (e) {
        instance_free(in);
        return e;
    }
    *out = in;
    return FS_OK;
}

/* A free copy, made when none is idle (up to MAX_INSTANCES; then waits for one). */
static fs_err instance_take(fs_blazeface *d, instance **out, fs_msg *msg) {
    pthread_mutex_lock(&d->lock);
    while (!d->idle && d->instances >= MAX_INSTANCES) pthread_cond_wait(&d->freed, &d->lock);
    instance *in = d->idle;
    if (in) d->idle = in->next;
    else d->instances++;
    pthread_mutex_unlock(&d->lock);
    if (in) {
        *out = in;
        return FS_OK;
    }
    fs_err e = instance_new(d, out, msg);
    if (e) {
        pthread_mutex_lock(&d->lock);
        d->instances--;
        pthread_cond_signal(&d->freed);
        pthread_mutex_unlock(&d->lock);
    }
    return e;
}

static void instance_give(fs_blazeface *d, instance *in) {
    pthread_mutex_lock(&d->lock);
    in->next = d->idle;
    d->idle = in;
    pthread_cond_signal(&d->freed);
    pthread_mutex_unlock(&d->lock);
}

void fs_blazeface_params_default(fs_blazeface_params *p) {
    p->min_score = 0.5f;
    p->nms_iou = 0.3f;
    p->pad = 0.0f;
}

fs_blazeface_kind fs_blazeface_variant(const fs_blazeface *d) { return d->kind; }
int fs_blazeface_input_side(const fs_blazeface *d) { return d->v->side; }

/* The two output nodes: the one of 16 values per anchor and the one of 1, both anchors long. */
static int find_outputs(const fs_graph *g, const variant *v, const int *ids, int nids, int *reg,
                        int *score) {
    *reg = *score = -1;
    for (int i = 0; i < nids; i++) {
        fs_graph_node_info in;
        fs_graph_node(g, ids[i], &in);
        if (in.h * in.w != v->anchors) continue;
        if (in.c == NVALUES) *reg = ids[i];
        else if (in.c == 1) *score = ids[i];
    }
    return *reg >= 0 && *score >= 0;
}

fs_err fs_blazeface_from_tflite(const fs_tflite_model *m, fs_weights *out, fs_msg *msg) {
    fs_graph *g = NULL;
    fs_tflite_graph_input gin;
    fs_err e = fs_tflite_to_graph(m, &g, &gin, msg);
    if (e) return e;
    const variant *v = NULL;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (gin.h == variants[i].side && gin.w == variants[i].side && gin.c == 3) v = &variants[i];
    int reg, score;
    if (!v || gin.scale != 1.0f || gin.zero_point != 0.0f ||
        !find_outputs(g, v, gin.outputs, gin.noutputs, &reg, &score)) {
        fs_graph_free(g);
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "not a BlazeFace network: a float %dx%dx%d input "
                       "and outputs of 16 values and a score per anchor expected", gin.h, gin.w, gin.c);
    }
    char buf[32];
    e = fs_graph_save(g, out, msg);
    if (!e) e = fs_weights_set_meta(out, "arch", "blazeface", msg);
    if (!e) e = fs_weights_set_meta(out, "variant", v->name, msg);
    if (!e) snprintf(buf, sizeof buf, "%d", reg), e = fs_weights_set_meta(out, "output_regressors", buf, msg);
    if (!e) snprintf(buf, sizeof buf, "%d", score), e = fs_weights_set_meta(out, "output_scores", buf, msg);
    fs_graph_free(g);
    return e;
}

fs_err fs_blazeface_from_weights(const fs_weights *w, fs_blazeface **out, fs_msg *msg) {
    *out = NULL;
    const char *arch = fs_weights_meta(w, "arch"), *vn = fs_weights_meta(w, "variant");
    const char *rs = fs_weights_meta(w, "output_regressors"), *ss = fs_weights_meta(w, "output_scores");
    if (!arch || strcmp(arch, "blazeface") || !vn || !rs || !ss)
        return fs_fail(msg, FS_ERR_FORMAT, "not BlazeFace weights (metadata arch, variant and "
                       "outputs expected)");
    const variant *v = NULL;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (!strcmp(vn, variants[i].name)) v = &variants[i];
    if (!v) return fs_fail(msg, FS_ERR_FORMAT, "unknown BlazeFace variant '%s'", vn);
    fs_blazeface *d = calloc(1, sizeof *d);
    if (!d) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    d->v = v;
    d->kind = v == &variants[0] ? FS_BLAZEFACE_SHORT : FS_BLAZEFACE_FULL;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->freed, NULL);
    /* a private copy of the weights, from which each concurrent caller's graph is built */
    fs_err e = FS_OK;
    for (size_t i = 0; !e && i < w->count; i++)
        e = fs_weights_add(&d->w, w->items[i].name, w->items[i].ndim, w->items[i].shape,
                           w->items[i].data, msg);
    for (size_t i = 0; !e && i < w->meta_count; i++)
        e = fs_weights_set_meta(&d->w, w->meta_keys[i], w->meta_values[i], msg);
    /* the first copy checks the stored graph */
    instance *first = NULL;
    if (!e) e = instance_new(d, &first, msg);
    if (!e) {
        fs_graph_node_info in;
        fs_graph_node(first->g, 0, &in);
        const int ids[2] = {atoi(rs), atoi(ss)};
        const int n = fs_graph_nodes(first->g);
        if (in.h != v->side || in.w != v->side || in.c != 3 || ids[0] < 1 || ids[0] >= n ||
            ids[1] < 1 || ids[1] >= n || !find_outputs(first->g, v, ids, 2, &d->out_reg, &d->out_score))
            e = fs_fail(msg, FS_ERR_FORMAT, "the stored graph does not have BlazeFace's input "
                        "and outputs");
    }
    if (!e && !(d->anchors = malloc(sizeof(float) * 2 * (size_t)v->anchors)))
        e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (e) {
        instance_free(first);
        d->idle = NULL;
        fs_blazeface_free(d);
        return e;
    }
    d->idle = first;
    d->instances = 1;
    int a = 0;
    for (int l = 0; l < v->nlayers; l++) {
        const int fm = v->side / v->stride[l];
        for (int y = 0; y < fm; y++)
            for (int x = 0; x < fm; x++)
                for (int k = 0; k < v->per[l]; k++, a++) {
                    d->anchors[2 * a] = ((float)x + 0.5f) / (float)fm;
                    d->anchors[2 * a + 1] = ((float)y + 0.5f) / (float)fm;
                }
    }
    *out = d;
    return FS_OK;
}

fs_err fs_blazeface_load(const char *path, fs_blazeface **out, fs_msg *msg) {
    fs_weights w = {0};
    *out = NULL;
    fs_err e = fs_weights_load_safetensors(path, &w, msg);
    if (!e) e = fs_blazeface_from_weights(&w, out, msg);
    fs_weights_free(&w);
    if (e) {
        fs_msg why = *msg;
        fs_fail(msg, e, "face detector %s: %s (set it up again: scripts/deps.sh, then `fakescope "
                "models import --arch blazeface`; docs/faces.md)", path, why.text);
    }
    return e;
}

void fs_blazeface_free(fs_blazeface *d) {
    if (!d) return;
    while (d->idle) {
        instance *n = d->idle->next;
        instance_free(d->idle);
        d->idle = n;
    }
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->freed);
    fs_weights_free(&d->w);
    free(d->anchors);
    free(d);
}

static int by_score(const void *a, const void *b) {
    const fs_face_det *x = a, *y = b;
    return x->score > y->score ? -1 : x->score < y->score ? 1 : 0;
}

/* MediaPipe's weighted non-maximum suppression over c (sorted best first): the best box and
 * every box overlapping it by more than iou become one, coordinates averaged by score, with the
 * best one's score. Writes the merged boxes to out and returns how many. */
static size_t weighted_nms(fs_face_det *c, size_t n, float iou, fs_face_det *out, size_t cap) {
    size_t kept = 0;
    char *used = calloc(n ? n : 1, 1);
    if (!used) return 0;
    for (size_t i = 0; i < n && kept < cap; i++) {
        if (used[i]) continue;
        double sum = 0, box[4] = {0}, kp[FS_BLAZEFACE_KEYPOINTS][2] = {{0}};
        for (size_t j = i; j < n; j++) {
            if (used[j] || fs_rectf_iou(c[i].box, c[j].box) <= iou) continue;
            used[j] = 1;
            const double s = c[j].score;
            sum += s;
            box[0] += s * c[j].box.x, box[1] += s * c[j].box.y;
            box[2] += s * (c[j].box.x + c[j].box.w), box[3] += s * (c[j].box.y + c[j].box.h);
            for (int k = 0; k < FS_BLAZEFACE_KEYPOINTS; k++)
                kp[k][0] += s * c[j].kp[k][0], kp[k][1] += s * c[j].kp[k][1];
        }
        fs_face_det *o = &out[kept++];
        o->score = c[i].score;
        if (sum > 0) {
            o->box.x = (float)(box[0] / sum), o->box.y = (float)(box[1] / sum);
            o->box.w = (float)(box[2] / sum) - o->box.x, o->box.h = (float)(box[3] / sum) - o->box.y;
            for (int k = 0; k < FS_BLAZEFACE_KEYPOINTS; k++)
                o->kp[k][0] = (float)(kp[k][0] / sum), o->kp[k][1] = (float)(kp[k][1] / sum);
        } else { /* a box of no area overlaps nothing, itself included */
            *o = c[i];
            used[i] = 1;
        }
    }
    free(used);
    return kept;
}

fs_err fs_blazeface_detect(fs_blazeface *d, const fs_image *img, const fs_blazeface_params *params,
                           fs_face_det **faces, size_t *n, fs_msg *msg) {
    *faces = NULL;
    *n = 0;
    if (!img || img->w < 1 || img->h < 1 || !img->rgb)
        return fs_fail(msg, FS_ERR_INVALID, "an empty picture");
    fs_blazeface_params p;
    if (params) p = *params;
    else fs_blazeface_params_default(&p);
    const int side = d->v->side;
    /* letterbox: scale to fit (shrunk by the padding), centre, black elsewhere */
    if (!(p.pad >= 0 && p.pad <= 4)) return fs_fail(msg, FS_ERR_INVALID, "padding %g is outside [0, 4]", (double)p.pad);
    const double scale = fmin((double)side / img->w, (double)side / img->h) / (1.0 + 2.0 * p.pad);
    int rw = (int)lround(img->w * scale), rh = (int)lround(img->h * scale);
    rw = rw < 1 ? 1 : rw > side ? side : rw;
    rh = rh < 1 ? 1 : rh > side ? side : rh;
    const int ox = (side - rw) / 2, oy = (side - rh) / 2;
    fs_image small = {0};
    fs_err e = fs_image_resize(img, rw, rh, &small, msg);
    if (e) return e;
    instance *ins = NULL;
    if ((e = instance_take(d, &ins, msg))) {
        fs_image_free(&small);
        return e;
    }
    for (size_t i = 0; i < (size_t)side * side * 3; i++) ins->input[i] = -1.0f;
    for (int y = 0; y < rh; y++)
        for (int x = 0; x < rw; x++)
            for (int ch = 0; ch < 3; ch++)
                ins->input[(((size_t)(y + oy) * side) + (size_t)(x + ox)) * 3 + ch] =
                    small.rgb[((size_t)y * rw + x) * 3 + ch] / 127.5f - 1.0f;
    fs_image_free(&small);
    e = fs_graph_forward(ins->g, ins->input, 1, NULL, msg);
    fs_face_det *cand = NULL;
    size_t nc = 0;
    if (!e) {
        const float *reg = fs_graph_activation(ins->g, d->out_reg);
        const float *sc = fs_graph_activation(ins->g, d->out_score);
        const int na = d->v->anchors;
        /* an output that a later node of the graph's leading run also read would be shared */
        if (!reg || !sc) e = fs_fail(msg, FS_ERR_INTERNAL, "BlazeFace: an output was not kept");
        cand = e ? NULL : malloc(sizeof *cand * (size_t)na);
        if (!e && !cand) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        /* input pixels -> picture pixels */
        const float s = (float)side, inv = (float)(1.0 / scale);
        for (int a = 0; !e && a < na; a++) {
            float logit = sc[a];
            logit = logit < -100 ? -100 : logit > 100 ? 100 : logit;
            const float score = 1.0f / (1.0f + expf(-logit));
            if (!(score >= p.min_score)) continue;
            const float *r = reg + (size_t)a * NVALUES;
            const float ax = d->anchors[2 * a], ay = d->anchors[2 * a + 1];
            const float cx = r[0] / s + ax, cy = r[1] / s + ay, w = r[2] / s, h = r[3] / s;
            fs_face_det *f = &cand[nc++];
            f->score = score;
            f->box.x = ((cx - w / 2) * s - (float)ox) * inv;
            f->box.y = ((cy - h / 2) * s - (float)oy) * inv;
            f->box.w = w * s * inv, f->box.h = h * s * inv;
            for (int k = 0; k < FS_BLAZEFACE_KEYPOINTS; k++) {
                f->kp[k][0] = ((r[4 + 2 * k] / s + ax) * s - (float)ox) * inv;
                f->kp[k][1] = ((r[5 + 2 * k] / s + ay) * s - (float)oy) * inv;
            }
        }
    }
    instance_give(d, ins);
    if (e) {
        free(cand);
        return e;
    }
    if (!nc) {
        free(cand);
        return FS_OK;
    }
    qsort(cand, nc, sizeof *cand, by_score);
    fs_face_det *res = malloc(sizeof *res * (nc < FS_BLAZEFACE_MAX_FACES ? nc : FS_BLAZEFACE_MAX_FACES));
    if (!res) {
        free(cand);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    size_t kept = weighted_nms(cand, nc, p.nms_iou, res, FS_BLAZEFACE_MAX_FACES);
    free(cand);
    if (!kept) {
        free(res);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    *faces = res;
    *n = kept;
    return FS_OK;
}

fs_err fs_blazeface_detect_picture(fs_blazeface *d, const fs_image *img,
                                   const fs_blazeface_params *params, fs_face_det **faces,
                                   size_t *n, fs_msg *msg) {
    fs_err e = fs_blazeface_detect(d, img, params, faces, n, msg);
    if (e || *n) return e;
    fs_blazeface_params closeup;
    if (params) closeup = *params;
    else fs_blazeface_params_default(&closeup);
    closeup.pad = FS_BLAZEFACE_CLOSEUP_PAD;
    return fs_blazeface_detect(d, img, &closeup, faces, n, msg);
}

static int readable(const char *path) { return access(path, R_OK) == 0; }

fs_err fs_face_model_find(const char *name, const char *ext, char *buf, size_t cap, fs_msg *msg) {
    if (strchr(name, '/')) {
        if (readable(name) && snprintf(buf, cap, "%s", name) < (int)cap) return FS_OK;
        return fs_fail(msg, FS_ERR_NOTFOUND, "%s not found", name);
    }
    const char *env = getenv("FAKESCOPE_FACE_MODELS");
    char exe[PATH_MAX], dirs[3][PATH_MAX];
    int nd = 0;
    if (env && *env) snprintf(dirs[nd++], PATH_MAX, "%s", env);
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0', snprintf(dirs[nd++], PATH_MAX, "%.*s/face-models", PATH_MAX - 16, exe);
    }
    const char *home = getenv("HOME");
    if (home && *home) snprintf(dirs[nd++], PATH_MAX, "%.*s/.local/share/fakescope/face-models", PATH_MAX - 48, home);
    for (int i = 0; i < nd; i++)
        if (snprintf(buf, cap, "%s/%s.%s", dirs[i], name, ext) < (int)cap && readable(buf))
            return FS_OK;
    return fs_fail(msg, FS_ERR_NOTFOUND,
                   "'%s' not found in %s%s%s%s%s: set it up with scripts/deps.sh and `make build` "
                   "(it runs `fakescope models import` into build/face-models; docs/faces.md)",
                   name, nd > 0 ? dirs[0] : "", nd > 1 ? ", " : "", nd > 1 ? dirs[1] : "",
                   nd > 2 ? ", " : "", nd > 2 ? dirs[2] : "");
}

fs_err fs_blazeface_find(const char *name, char *buf, size_t cap, fs_msg *msg) {
    fs_err e = fs_face_model_find(name && *name ? name : FS_BLAZEFACE_DEFAULT_NAME, "safetensors",
                                  buf, cap, msg);
    if (e) {
        fs_msg why = *msg;
        fs_fail(msg, e, "face detector %s; or use --face-detector haar", why.text);
    }
    return e;
}
