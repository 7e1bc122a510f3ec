/* dialect_explorer.c: the model explorer API (seed 000): a labelled image folder on the server
 * (serve --dataset DIR), the registry's models with figures measured on that folder, and
 * predictions on random images of it with feature-map plots of chosen convolution layers.
 *
 *   GET /api/dataset-size/                          {"size": N}
 *   GET /api/available-models/                      [{model_id, model_name, model_desc,
 *                                                     loss_curve, accuracy, clr, conv_layers}]
 *   GET /api/predictions/:modelID/:numImgs[/:convIdx]/
 *   GET /media/data/<path>  /media/plots/<file>  /media/loss_curves/<model>.png
 *
 * Figures (accuracy in percent, classification report with rows "real" and "deepfake") are
 * measured before the server listens: each model judges every image of the dataset whole,
 * resized to its input, the way MesoNet's own face-crop dataset is judged (about 2-4 ms an
 * image for the MesoNet models), or by the faces found in it for a model whose card says
 * "picture_input": "faces" (an image without a face is skipped and counted as failed), each image called fake at its model card's decision threshold
 * (0.5 without one), as are the predictions. They are cached in the store's results table under
 * (dataset digest, weights digest and threshold), so a restart with the same folder and models
 * measures nothing again. The seed's accuracy is always a number and its clr always an object: without a
 * dataset, or when measuring a model fails, the card's held-out figures stand in
 * ("metrics_status" "no_dataset" or "failed"), and a model with neither is left out.
 *
 * Plots are PNG files in DATA/plots named by a digest of (weights, image, size, mtime, layer),
 * so asking twice reuses the file and the folder is bounded by models x images x layers.
 * The routes are public unless the server runs with --require-key-for-explorer. */
#include "server/app.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakescope/binary_metrics.h"
#include "fakescope/dataset.h"
#include "fakescope/json.h"
#include "fakescope/model.h"
#include "fakescope/sha256.h"
#include "server/explorer_plot.h"

#define EX_MAX_PLOTS 64          /* plots one prediction request may draw (numImgs x layers) */
/* the figures' results key: the crop, the card's decision threshold and the weights' digest */
#define EX_METRICS_KEY "explorer-metrics-v2 crop=%s threshold=%.17g weights=%s"
#define EX_PROGRESS_MS 5000.0  /* a progress line this often while measuring */
static const char *const ex_class_names[2] = {"real", "deepfake"};

typedef struct fs_explorer fs_explorer;

/* Where a model's figures come from; EX_NONE: it has none and is not listed. */
typedef enum { EX_NONE = 0, EX_MEASURED, EX_CARD } ex_state;

typedef struct ex_model {
    ex_state state;
    double accuracy;         /* percent */
    json_t *clr;             /* the report, owned */
    json_t *conv;            /* conv_layers, owned (read from the network at start) */
    char error[FS_MSG_MAX];  /* why measuring failed ("" when it did not) */
} ex_model;

typedef struct ex_image {
    const fs_item *item;
    const char *rel; /* path below the dataset root */
    int64_t size, mtime_ns;
} ex_image;

struct fs_explorer {
    char root[PATH_MAX];       /* real path of the dataset folder; "" when none */
    fs_dataset ds;
    ex_image *images;
    size_t n_images;
    char digest[FS_SHA256_HEX]; /* of every image's path, label, size and mtime */
    char plots_dir[PATH_MAX];
    const fs_registry *reg;
    ex_model *models;          /* one per registry entry, same order; read-only once listening */
    atomic_int drew; /* a plot was drawn: font caches to release at the end */
    fs_app *app;
};

/* ---------------------------------------------------------------- helpers */

static void ex_reply(fs_req *r, unsigned status, json_t *body) {
    char *text = body ? fs_json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        fs_reply_error(r, 500, "internal", "cannot encode the answer");
        return;
    }
    fs_reply_bytes(r, status, "application/json", text, strlen(text));
    free(text);
}

/* 0 (after answering 401) when the explorer needs a key and the request has no valid one. */
static int ex_allowed(fs_req *r) {
    fs_app *app = fs_req_app(r);
    if (!app->cfg->require_key_for_explorer) return 1;
    return fs_req_authenticate(r, NULL, 0, NULL) == FS_OK;
}

static double round_to(double v, double scale) { return (double)llround(v * scale) / scale; }

/* Appends rel to out as a URL path, percent-encoding all but unreserved bytes and '/'. */
static void url_path(char *out, size_t cap, const char *prefix, const char *rel) {
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)rel; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

/* P(fake) of one dataset image under a scanner, judged whole, or (faces: a model whose card has
 * picture_input faces) by the faces found in it, the most suspicious one deciding as in the
 * image check; with keep, the model input too. */
static fs_err judge_image(fs_scanner *sc, const ex_image *im, int faces, int keep, double *p_fake,
                          fs_image *input, fs_msg *msg) {
    fs_scan_opts o = fs_scan_opts_default();
    o.crop = faces ? FS_CROP_FACES : FS_CROP_WHOLE;
    o.keep_crops = keep;
    fs_scan_result res = {0};
    fs_err e = fs_scan_file(sc, im->item->path, &o, &res, msg);
    if (!e && (res.n_frames < 1 || res.frames[0].n_faces < 1))
        e = fs_fail(msg, FS_ERR_FORMAT, "%s: nothing was judged%s", im->rel, faces ? " (no face)" : "");
    if (!e) {
        int best = 0;
        for (int k = 1; k < res.frames[0].n_faces; k++)
            if (res.frames[0].faces[k].p_fake[0] > res.frames[0].faces[best].p_fake[0]) best = k;
        *p_fake = res.frames[0].faces[best].p_fake[0];
        if (keep && input) {
            *input = res.frames[0].faces[best].crop_img;
            res.frames[0].faces[best].crop_img = (fs_image){0};
        }
    }
    fs_scan_result_free(&res);
    return e;
}

/* ---------------------------------------------------------------- figures (at start) */

static json_t *metrics_from_scores(const int *labels, const double *scores, size_t n, size_t failed,
                                   double threshold, fs_msg *msg) {
    fs_binary_metrics m;
    if (fs_binary_metrics_compute(labels, scores, n, threshold, &m, msg)) return NULL;
    json_t *clr = fs_report_json(&m.report, ex_class_names, FS_REPORT_DECIMALS);
    if (!clr) return NULL;
    return json_pack("{s:f, s:o, s:I, s:I}", "accuracy", round_to(100.0 * m.accuracy, 100.0), "clr", clr,
                     "images", (json_int_t)n, "failed", (json_int_t)failed);
}

/* Measures one model on the whole dataset; the figures' JSON text (caller frees) or NULL.
 * Logs its progress every EX_PROGRESS_MS; gives up when a stop signal is pending. */
static char *measure(fs_explorer *ex, const fs_model_entry *en, fs_msg *msg) {
    const char *names[1] = {en->card.name};
    fs_scanner *sc = NULL;
    if (fs_engine_acquire(ex->app->engine, names, 1, &sc, msg)) return NULL;
    int *labels = malloc(ex->n_images * sizeof *labels);
    double *scores = malloc(ex->n_images * sizeof *scores);
    size_t n = 0, failed = 0;
    char *text = NULL;
    if (!labels || !scores) {
        fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        goto out;
    }
    double last_log = fs_now_ms();
    for (size_t i = 0; i < ex->n_images; i++) {
        if (ex->app->stop_requested && ex->app->stop_requested()) {
            fs_fail(msg, FS_ERR_INTERNAL, "stopped while measuring the figures of %s", en->card.name);
            goto out;
        }
        fs_msg m;
        double p;
        if (judge_image(sc, &ex->images[i], en->card.picture_faces, 0, &p, NULL, &m) == FS_OK) {
            labels[n] = ex->images[i].item->label;
            scores[n++] = p;
        } else {
            failed++;
            fs_log(FS_LOG_WARN, "explorer: %s skipped: %s", ex->images[i].rel, m.text);
        }
        if (fs_now_ms() - last_log >= EX_PROGRESS_MS) {
            fs_log(FS_LOG_INFO, "explorer: measuring %s: %zu of %zu images", en->card.name, i + 1, ex->n_images);
            last_log = fs_now_ms();
        }
    }
    if (n == 0) {
        fs_fail(msg, FS_ERR_FORMAT, "none of the %zu images could be judged (the server log says why)", ex->n_images);
        goto out;
    }
    json_t *j = metrics_from_scores(labels, scores, n, failed, fs_card_threshold(&en->card), msg);
    if (j) text = fs_json_dumps(j, JSON_COMPACT);
    json_decref(j);
out:
    fs_engine_release(ex->app->engine, sc);
    free(labels);
    free(scores);
    return text;
}

/* Takes measured figures (JSON text, from measure or the store's cache) into a model. */
static int take_figures(ex_model *m, const char *text) {
    json_t *j = json_loads(text, 0, NULL);
    json_t *acc = json_object_get(j, "accuracy"), *clr = json_object_get(j, "clr");
    int ok = json_is_number(acc) && json_is_object(clr);
    if (ok) {
        m->state = EX_MEASURED;
        m->accuracy = json_number_value(acc);
        m->clr = json_incref(clr);
    }
    json_decref(j);
    return ok;
}

/* Rounds as the measured report does (the decimal nearest to the binary value). */
static double round_decimals(double x, int decimals) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", decimals, x);
    return strtod(buf, NULL);
}

/* The card's held-out figures in the explorer's shape: accuracy in percent (2 decimals) and its
 * report with 2 decimals, the fake class's row named "deepfake" and the other class's "real".
 * 0 when the card has none. */
static int card_figures(ex_model *m, const fs_card *c) {
    const fs_card_metrics *cm = &c->metrics;
    if (!cm->present || !cm->nrows || !isfinite(cm->accuracy)) return 0;
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < cm->nrows; i++) {
        const fs_card_report_row *row = &cm->rows[i];
        const char *name = row->label;
        if (c->fake_label && !strcmp(name, c->fake_label)) name = ex_class_names[1];
        else if (c->labels[0] && c->labels[1] && (!strcmp(name, c->labels[0]) || !strcmp(name, c->labels[1])))
            name = ex_class_names[0];
        const double cell[3] = {row->precision, row->recall, row->f1};
        json_t *r = json_pack("[s]", name);
        for (int k = 0; r && k < 3; k++)
            json_array_append_new(r, isfinite(cell[k]) ? json_real(round_decimals(cell[k], FS_REPORT_DECIMALS))
                                                       : json_string(""));
        if (r) json_array_append_new(r, json_integer((json_int_t)row->support));
        json_array_append_new(rows, r);
    }
    json_t *clr = rows ? json_pack("{s:o, s:[s,s,s,s,s]}", "rows", rows, "columns", "", "precision", "recall",
                                   "f1-score", "support")
                       : NULL;
    if (!clr) return 0;
    m->state = EX_CARD;
    m->accuracy = round_to(100.0 * cm->accuracy, 100.0);
    m->clr = clr;
    return 1;
}

/* The seed's conv_layers, [[filters, [kh, kw]], ...]: a MesoNet's architecture table, or a graph
 * network's convolution nodes (depthwise ones included; the network is loaded once for it); an
 * empty list when it cannot be read. */
static json_t *conv_layers_json(fs_explorer *ex, const fs_model_entry *en) {
    json_t *arr = json_array();
    const fs_arch *a = fs_arch_find(en->card.architecture);
    if (arr && a && !a->graph) { /* a MesoNet: its architecture's table, no network to load */
        for (size_t i = 0; i < a->n_conv_layers; i++) {
            const fs_arch_conv *c = &a->conv_layers[i];
            json_array_append_new(arr, json_pack("[i, [i, i]]", c->filters, c->kh, c->kw));
        }
        return arr;
    }
    const fs_net *net = NULL;
    fs_msg msg;
    if (!arr || fs_engine_net(ex->app->engine, en->card.name, &net, &msg)) {
        if (arr) fs_log(FS_LOG_WARN, "explorer: %s: no convolution layers listed: %s", en->card.name, msg.text);
        return arr;
    }
    enum { CAP = 512 };
    int filters[CAP], kernel[CAP];
    int n = fs_net_conv_shapes(net, filters, kernel, CAP, &msg);
    fs_engine_net_release(ex->app->engine, net);
    if (n < 0) fs_log(FS_LOG_WARN, "explorer: %s: no convolution layers listed: %s", en->card.name, msg.text);
    for (int i = 0; i < n && i < CAP; i++)
        json_array_append_new(arr, json_pack("[i, [i, i]]", filters[i], kernel[i], kernel[i]));
    return arr;
}

/* Every model's figures, before the server listens: from the store's cache, else measured on
 * the dataset (and cached), else (no dataset, or measuring failed) the card's held-out
 * figures. A model with none of these is left out of the list. Only a pending stop signal
 * makes this fail. */
static fs_err compute_figures(fs_explorer *ex, fs_msg *msg) {
    size_t count = fs_registry_count(ex->reg);
    for (size_t i = 0; i < count; i++) {
        const fs_model_entry *en = fs_registry_at(ex->reg, i);
        ex_model *m = &ex->models[i];
        if (!m->conv && !(m->conv = conv_layers_json(ex, en))) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        if (ex->n_images) {
            char settings[256];
            snprintf(settings, sizeof settings, EX_METRICS_KEY, en->card.picture_faces ? "faces" : "whole",
                     fs_card_threshold(&en->card), en->card.sha256);
            char *text = NULL;
            fs_msg m2;
            if (fs_store_result_get(ex->app->store, ex->digest, settings, &text, &m2) == FS_OK) {
                int ok = take_figures(m, text);
                free(text);
                if (ok) {
                    fs_log(FS_LOG_INFO, "explorer: figures of %s from the store", en->card.name);
                    continue;
                }
            }
            fs_log(FS_LOG_INFO, "explorer: measuring %s (model %zu of %zu) on %zu images before listening",
                   en->card.name, i + 1, count, ex->n_images);
            double t0 = fs_now_ms();
            text = measure(ex, en, &m2);
            if (!text && ex->app->stop_requested && ex->app->stop_requested())
                return fs_fail(msg, FS_ERR_INTERNAL, "%s", m2.text);
            if (text && take_figures(m, text)) {
                if (fs_store_result_put(ex->app->store, ex->digest, settings, text, &m2) != FS_OK)
                    fs_log(FS_LOG_WARN, "explorer: cannot cache the figures of %s: %s", en->card.name, m2.text);
                fs_log(FS_LOG_INFO, "explorer: measured %s on %zu images in %.0f ms", en->card.name,
                       ex->n_images, fs_now_ms() - t0);
                free(text);
                continue;
            }
            if (text) snprintf(m2.text, sizeof m2.text, "unreadable figures");
            free(text);
            snprintf(m->error, sizeof m->error, "%s", m2.text);
            fs_log(FS_LOG_WARN, "explorer: figures of %s failed: %s", en->card.name, m->error);
        }
        if (card_figures(m, &en->card)) {
            fs_log(FS_LOG_INFO, "explorer: %s shows its card's held-out figures", en->card.name);
        } else {
            m->state = EX_NONE;
            fs_log(FS_LOG_WARN, "explorer: %s is left out of /api/available-models/: %s and its card has "
                   "no held-out figures", en->card.name, ex->n_images ? "it could not be measured" : "no dataset");
        }
    }
    return FS_OK;
}

/* ---------------------------------------------------------------- routes */

static void ex_dataset_size(fs_req *r) {
    if (!ex_allowed(r)) return;
    fs_explorer *ex = fs_req_app(r)->explorer;
    ex_reply(r, 200, json_pack("{s:I}", "size", (json_int_t)ex->n_images));
}


static void ex_models(fs_req *r) {
    if (!ex_allowed(r)) return;
    fs_explorer *ex = fs_req_app(r)->explorer;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < fs_registry_count(ex->reg); i++) {
        const ex_model *m = &ex->models[i];
        if (m->state == EX_NONE) continue;
        const fs_card *c = &fs_registry_at(ex->reg, i)->card;
        char curve[FS_CARD_NAME_MAX + 64];
        snprintf(curve, sizeof curve, "/media/loss_curves/%s.png", c->name);
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:f, s:O, s:O, s:s}", "model_id", c->id, "model_name", c->name,
                              "model_desc", c->description ? c->description : "", "loss_curve",
                              c->loss_curve ? json_string(curve) : json_null(), "accuracy", m->accuracy, "clr",
                              m->clr, "conv_layers", m->conv, "metrics_status",
                              m->state == EX_MEASURED ? "ready" : ex->n_images ? "failed" : "no_dataset");
        if (!o) continue;
        if (m->error[0]) json_object_set_new(o, "metrics_error", json_string(m->error));
        json_array_append_new(arr, o);
    }
    ex_reply(r, 200, arr);
}

/* Draws (or finds, when drawn before) the feature-map plot of one layer for one image. */
static fs_err plot_layer(fs_explorer *ex, const fs_model_entry *en, const fs_net *net,
                         const float *input, const ex_image *im, int k, char *url, size_t cap,
                         fs_msg *msg) {
    const fs_arch_conv *layer = &fs_net_arch(net)->conv_layers[k];
    char key[PATH_MAX + 256];
    snprintf(key, sizeof key, "%s|%s|%lld|%lld|%s", en->card.sha256, im->rel, (long long)im->size,
             (long long)im->mtime_ns, layer->name);
    char hex[FS_SHA256_HEX];
    if (fs_sha256_hex(key, strlen(key), hex)) return fs_fail(msg, FS_ERR_INTERNAL, "hashing failed");
    char file[64], path[PATH_MAX + 64];
    snprintf(file, sizeof file, "plot_%.16s_conv%d.png", hex, k);
    snprintf(path, sizeof path, "%s/%s", ex->plots_dir, file);
    snprintf(url, cap, "/media/plots/%s", file);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 0) return FS_OK;
    fs_tensor t = {0};
    fs_err e = fs_net_activation(net, input, layer->name, &t, msg);
    if (e) return e;
    char title[256];
    snprintf(title, sizeof title, "%s conv %d (%s): %d filters %dx%d", en->card.name, k, layer->name,
             layer->filters, layer->kh, layer->kw);
    atomic_store(&ex->drew, 1);
    e = fs_explorer_draw_maps(t.data, t.h, t.w, t.c, title, path, msg);
    fs_tensor_free(&t);
    return e;
}

/* Parses numImgs: a whole number in [1, max]. */
static int parse_count(const char *s, size_t max, size_t *out) {
    if (!s || !*s || strlen(s) > 9) return 0;
    size_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (size_t)(*p - '0');
    }
    if (v < 1 || v > max) return 0;
    *out = v;
    return 1;
}

static void ex_predictions(fs_req *r) {
    if (!ex_allowed(r)) return;
    fs_app *app = fs_req_app(r);
    fs_explorer *ex = app->explorer;
    const char *id = fs_req_param(r, "modelID"), *num = fs_req_param(r, "numImgs");
    const char *conv = fs_req_param(r, "convIdx");
    const fs_model_entry *en = id ? fs_registry_find(ex->reg, id) : NULL;
    if (!en) {
        fs_reply_error(r, 404, "not_found", "no model with id '%s' (GET /api/available-models lists them)", id ? id : "");
        return;
    }
    size_t n;
    if (!parse_count(num, ex->n_images, &n)) {
        if (ex->n_images == 0)
            fs_reply_error(r, 400, "bad_request", "the server has no dataset (serve --dataset DIR), so there are no images to predict on");
        else
            fs_reply_error(r, 400, "bad_request", "numImgs must be a whole number from 1 to %zu (the dataset size), got '%s'",
                           ex->n_images, num ? num : "");
        return;
    }
    const fs_arch *arch = fs_arch_find(en->card.architecture);
    if (conv && *conv && (!arch || arch->n_conv_layers == 0)) {
        fs_reply_error(r, 400, "bad_request",
                       "feature maps are drawn for MesoNet layers only, and model %s is a %s: leave out convIdx",
                       en->card.name, en->card.architecture);
        return;
    }
    int layers[10], n_layers = 0;
    for (const char *p = conv ? conv : ""; *p; p++) {
        int k = *p - '0';
        if (*p < '0' || *p > '9' || !arch || (size_t)k >= arch->n_conv_layers) {
            fs_reply_error(r, 400, "bad_request", "convIdx must be digits of convolution layers 0 to %zu, got '%s'",
                           arch ? arch->n_conv_layers - 1 : 0, conv);
            return;
        }
        for (int j = 0; j < n_layers; j++)
            if (layers[j] == k) {
                fs_reply_error(r, 400, "bad_request", "convIdx names layer %d twice", k);
                return;
            }
        layers[n_layers++] = k;
    }
    if (n * (size_t)n_layers > EX_MAX_PLOTS) {
        fs_reply_error(r, 400, "bad_request", "%zu images x %d layers is %zu plots; one request draws at most %d",
                       n, n_layers, n * (size_t)n_layers, EX_MAX_PLOTS);
        return;
    }
    /* n distinct images at random: the first n of a partial Fisher-Yates shuffle. */
    size_t *order = malloc(ex->n_images * sizeof *order);
    if (!order) {
        fs_reply_error(r, 503, "nomem", "out of memory");
        return;
    }
    for (size_t i = 0; i < ex->n_images; i++) order[i] = i;
    for (size_t i = 0; i < n; i++) {
        size_t j = i + arc4random_uniform((uint32_t)(ex->n_images - i));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    const char *names[1] = {en->card.name};
    fs_scanner *sc = NULL;
    const fs_net *net = NULL;
    fs_msg msg;
    fs_err e = fs_engine_acquire(app->engine, names, 1, &sc, &msg);
    if (!e && n_layers) e = fs_engine_net(app->engine, en->card.name, &net, &msg);
    json_t *arr = json_array();
    float *input = NULL;
    if (!e && n_layers) {
        const fs_arch *a = fs_net_arch(net);
        input = malloc((size_t)a->input_h * a->input_w * a->input_c * sizeof *input);
        if (!input) e = fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
    }
    size_t judged = 0;
    for (size_t i = 0; !e && arr && i < n; i++) {
        if (fs_req_expired(r)) {
            e = fs_fail(&msg, FS_ERR_TIMEOUT, "the request deadline passed after %zu of %zu images", i, n);
            break;
        }
        const ex_image *im = &ex->images[order[i]];
        double p;
        fs_image in_img = {0};
        e = judge_image(sc, im, en->card.picture_faces, n_layers > 0, &p, &in_img, &msg);
        if (e) break;
        judged++;
        json_t *plots = json_array();
        if (n_layers) fs_image_to_float(&in_img, fs_net_arch(net)->input_scale, input);
        fs_image_free(&in_img);
        for (int j = 0; !e && j < n_layers; j++) {
            char url[128];
            e = plot_layer(ex, en, net, input, im, layers[j], url, sizeof url, &msg);
            if (!e) json_array_append_new(plots, json_string(url));
        }
        int fake = p >= fs_card_threshold(&en->card); /* the card's decision threshold */
        char img_url[PATH_MAX + 32];
        url_path(img_url, sizeof img_url, "/media/data/", im->rel);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:f, s:o}", "img_url", img_url, "true_label",
                                             ex_class_names[im->item->label != 0], "pred_label",
                                             ex_class_names[fake], "probability",
                                             round_to(100.0 * (fake ? p : 1.0 - p), 1e4), "plots", plots));
    }
    free(input);
    free(order);
    if (net) fs_engine_net_release(app->engine, net);
    if (sc) fs_engine_release(app->engine, sc);
    fs_metrics_inference(fs_server_metrics(app->server), en->card.name, judged);
    if (e) {
        json_decref(arr);
        fs_reply_error(r, e == FS_ERR_TIMEOUT ? 504 : e == FS_ERR_FORMAT ? 500 : fs_http_status_for(e),
                       fs_err_name(e), "%s", msg.text);
        return;
    }
    ex_reply(r, 200, arr);
}

static void ex_media_data(fs_req *r) {
    if (!ex_allowed(r)) return;
    fs_explorer *ex = fs_req_app(r)->explorer;
    const char *rel = fs_req_param(r, "path");
    /* Only the pictures of the dataset, not notes or licences lying beside them. */
    if (!ex->root[0] || !rel || strncmp(fs_content_type(rel), "image/", 6)) {
        fs_reply_error(r, 404, "not_found", "no dataset image %s", rel ? rel : "");
        return;
    }
    fs_reply_static(r, ex->root, rel);
}

static void ex_media_plots(fs_req *r) {
    if (!ex_allowed(r)) return;
    fs_reply_static(r, fs_req_app(r)->explorer->plots_dir, fs_req_param(r, "path"));
}

static void ex_media_curves(fs_req *r) {
    if (!ex_allowed(r)) return;
    fs_explorer *ex = fs_req_app(r)->explorer;
    const char *file = fs_req_param(r, "path");
    char name[FS_CARD_NAME_MAX + 1];
    size_t len = file ? strlen(file) : 0;
    const fs_model_entry *en = NULL;
    if (len > 4 && len - 4 <= FS_CARD_NAME_MAX && !strcmp(file + len - 4, ".png")) {
        snprintf(name, sizeof name, "%.*s", (int)(len - 4), file);
        en = fs_registry_find(ex->reg, name);
    }
    if (!en || !en->card.loss_curve) {
        fs_reply_error(r, 404, "not_found", "no loss curve %s", file ? file : "");
        return;
    }
    /* The card names its curve relative to the card's folder; it may not leave that folder. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", en->card_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    fs_reply_static(r, dir, en->card.loss_curve);
}

/* ---------------------------------------------------------------- set-up */

/* Scans the dataset folder and computes its digest. */
static fs_err load_dataset(fs_explorer *ex, const char *dir, fs_msg *msg) {
    if (!realpath(dir, ex->root)) return fs_fail(msg, FS_ERR_NOTFOUND, "--dataset %s: no such folder", dir);
    fs_err e = fs_dataset_scan(&ex->ds, ex->root, NULL, msg);
    if (e) {
        fs_msg_prefix(msg, "--dataset %s: ", dir);
        return e;
    }
    ex->images = calloc(ex->ds.count ? ex->ds.count : 1, sizeof *ex->images);
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    if (!ex->images || !text) {
        free(text);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    size_t root_len = strlen(ex->root);
    for (size_t i = 0; i < ex->ds.count; i++) {
        const fs_item *it = &ex->ds.items[i];
        struct stat st;
        if (it->kind != FS_ITEM_IMAGE || stat(it->path, &st) != 0) continue;
        ex_image *im = &ex->images[ex->n_images++];
        im->item = it;
        im->rel = it->path + root_len + (it->path[root_len] == '/');
        im->size = st.st_size;
        im->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        size_t need = strlen(im->rel) + 64;
        if (len + need > cap) {
            while (len + need > cap) cap *= 2;
            char *p = realloc(text, cap);
            if (!p) {
                free(text);
                return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            }
            text = p;
        }
        len += (size_t)snprintf(text + len, cap - len, "%s\t%d\t%lld\t%lld\n", im->rel, it->label,
                                (long long)im->size, (long long)im->mtime_ns);
    }
    e = fs_sha256_hex(text, len, ex->digest) ? fs_fail(msg, FS_ERR_INTERNAL, "hashing failed") : FS_OK;
    free(text);
    return e;
}

fs_err fs_routes_explorer(fs_app *app, fs_msg *msg) {
    fs_explorer *ex = calloc(1, sizeof *ex);
    if (!ex) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    atomic_init(&ex->drew, 0);
    ex->app = app;
    ex->reg = fs_engine_registry(app->engine);
    app->explorer = ex;
    ex->models = calloc(fs_registry_count(ex->reg) + 1, sizeof *ex->models);
    if (!ex->models) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    snprintf(ex->plots_dir, sizeof ex->plots_dir, "%s/plots", fs_store_dir(app->store));
    fs_err e = fs_mkdirs(ex->plots_dir, msg);
    if (!e && app->cfg->dataset_dir && *app->cfg->dataset_dir) e = load_dataset(ex, app->cfg->dataset_dir, msg);
    if (e) return e;
    if (ex->n_images)
        fs_log(FS_LOG_INFO, "explorer: dataset %s with %zu images (digest %.12s); figures of %zu model(s)",
               ex->root, ex->n_images, ex->digest, fs_registry_count(ex->reg));
    else
        fs_log(FS_LOG_INFO, "explorer: no dataset (serve --dataset DIR to explore models on labelled images)");
    if ((e = compute_figures(ex, msg))) return e;
    fs_server *s = app->server;
    if ((e = fs_server_route(s, "GET", "/api/dataset-size", "explorer_dataset_size", ex_dataset_size, msg)) ||
        (e = fs_server_route(s, "GET", "/api/available-models", "explorer_models", ex_models, msg)) ||
        (e = fs_server_route(s, "GET", "/api/predictions/:modelID/:numImgs", "explorer_predictions", ex_predictions, msg)) ||
        (e = fs_server_route(s, "GET", "/api/predictions/:modelID/:numImgs/:convIdx", "explorer_predictions", ex_predictions, msg)) ||
        (e = fs_server_route(s, "GET", "/media/data/*path", "explorer_media_data", ex_media_data, msg)) ||
        (e = fs_server_route(s, "GET", "/media/plots/*path", "explorer_media_plots", ex_media_plots, msg)) ||
        (e = fs_server_route(s, "GET", "/media/loss_curves/*path", "explorer_media_curves", ex_media_curves, msg)))
        return e;
    return FS_OK;
}

void fs_routes_explorer_release(fs_app *app) {
    fs_explorer *ex = app->explorer;
    if (!ex) return;
    for (size_t i = 0; ex->models && i < fs_registry_count(ex->reg); i++)
        json_decref(ex->models[i].clr), json_decref(ex->models[i].conv);
    free(ex->models);
    free(ex->images);
    fs_dataset_free(&ex->ds);
    /* The server has stopped: no thread draws any more. */
    if (atomic_load(&ex->drew)) fs_explorer_plot_cleanup();
    free(ex);
    app->explorer = NULL;
}
