/* dialect_imagecheck.c: the image check API (seed 001): one POST that says whether a picture
 * is "Artificial" or "Genuine", and a list of the model names it accepts.
 *
 *   POST /api/1.1/wf/api-deepfake-detection
 *     JSON {"imageUrl", "modelName", "token"[, "crop"]}, or multipart/form-data with the file
 *     in field "image" or "file" and modelName, token (and crop) as form fields.
 *     imageUrl: http(s) (fetched through fetch.h, its limits and address policy) or data:.
 *   GET /api/models
 *
 * Credentials: the seed has two, a Bearer token and an endpoint token in the body. Both are
 * fakescope API keys: the Authorization header (or X-API-KEY) must carry a valid key, and the
 * body's "token" must be a valid key too, the same one or another (a separate key lets an
 * operator revoke this endpoint's access without touching the client's other access).
 * Errors take the seed's shapes: 401 {"error_class": "Unauthorized", "args": {"code"},
 * "message": null, "translation"}, everything else {"statusCode", "message": "Error: ..."},
 * for the server's own early answers (413 body too large) too.
 *
 * The model judges the whole picture resized to its input (synthetic-image detection), or the
 * faces in it with "crop": "faces" (the most suspicious face decides). "crop" defaults to
 * "faces" for a model whose card says "picture_input": "faces" (it learned face crops).
 *
 * ?explain=1 adds one object beside the seed's fields, "explanation": the Grad-CAM of every
 * judged crop (detect/explain.c) as a PNG data: URL with the crop's box, so a client sees where
 * the network looked (docs/explain.md). The seed's fields are the same with or without it.
 *
 * Beside the seed's fields, never inside them, every success carries "provenance": the
 * picture's Content Credentials and unsigned generator hints (fs_prov_report_json,
 * docs/provenance.md), judged against the server's --c2pa-trust list. The score is the
 * network's alone. */
#include "fakescope/media_worker.h"
#include "server/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "fakescope/fetch.h"
#include "fakescope/provenance.h"
#include "fakescope/sha256.h"

#define IC_PATH "/api/1.1/wf/api-deepfake-detection"
#define IC_TOKEN_SHOWN 12 /* characters of a refused token echoed back (the key's display prefix) */
static const char *const ic_labels[2] = {"Artificial", "Genuine"};

/* The seed's 401: a code made of the time in ms and 19 digits derived from the request id. */
static json_t *unauthorized_body(fs_req *r, const char *translation) {
    uint8_t h[FS_SHA256_BYTES] = {0};
    const char *id = fs_req_id(r);
    fs_sha256(id, strlen(id), h);
    uint64_t digits = 0;
    for (int i = 0; i < 8; i++) digits = digits << 8 | h[i];
    char code[64];
    snprintf(code, sizeof code, "%lldx%019llu", (long long)fs_unix_time() * 1000,
             (unsigned long long)(digits % 10000000000000000000ull));
    return json_pack("{s:s, s:{s:s}, s:n, s:s}", "error_class", "Unauthorized", "args", "code", code,
                     "message", "translation", translation);
}

static json_t *ic_shape(fs_req *r, unsigned status, const char *code, const char *message) {
    (void)code;
    if (status == 401) return unauthorized_body(r, message);
    char text[FS_MSG_MAX + 8];
    snprintf(text, sizeof text, "%s%s", strncmp(message, "Error: ", 7) ? "Error: " : "", message);
    return json_pack("{s:i, s:s}", "statusCode", (int)status, "message", text);
}

/* Verifies one presented key; on failure answers 401 and returns 0. */
static int key_ok(fs_req *r, const char *key, const char *what) {
    char shown[IC_TOKEN_SHOWN + 4];
    snprintf(shown, sizeof shown, "%.*s%s", IC_TOKEN_SHOWN, key ? key : "",
             key && strlen(key) > IC_TOKEN_SHOWN ? "..." : "");
    if (!key || !*key) {
        fs_reply_error(r, 401, "unauthorized", "Invalid or expired token: (no %s given)", what);
        return 0;
    }
    fs_key_info k;
    fs_msg msg;
    fs_err e = fs_store_key_verify(fs_server_store(fs_req_server(r)), key, &k, &msg);
    if (e == FS_OK) return 1;
    if (e == FS_ERR_AUTH) fs_reply_error(r, 401, "unauthorized", "Invalid or expired token: %s", shown);
    else fs_reply_error(r, 503, "store_unavailable", "cannot check the token: %s", msg.text);
    return 0;
}

/* A request's fields, from JSON or from a form (strings borrowed from the request). */
typedef struct ic_input {
    const char *image_url, *model, *token, *crop;
    const uint8_t *file;
    size_t file_len;
} ic_input;

/* Reads the fields; answers 400 and returns 0 on a malformed body. */
static int read_input(fs_req *r, ic_input *in) {
    memset(in, 0, sizeof *in);
    /* Form fields only from a multipart body: `curl -d '{...}'` labels JSON as urlencoded. */
    const char *ct = fs_req_header(r, "Content-Type");
    if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
        const fs_form_field *f;
        if ((f = fs_req_form(r, "image")) || (f = fs_req_form(r, "file"))) {
            in->file = f->data ? f->data : (const uint8_t *)"";
            in->file_len = f->len;
        }
        if ((f = fs_req_form(r, "imageUrl"))) in->image_url = (const char *)f->data;
        if ((f = fs_req_form(r, "modelName"))) in->model = (const char *)f->data;
        if ((f = fs_req_form(r, "token"))) in->token = (const char *)f->data;
        if ((f = fs_req_form(r, "crop"))) in->crop = (const char *)f->data;
        return 1;
    }
    fs_msg msg;
    json_t *body = fs_req_json(r, &msg);
    if (!body) {
        fs_reply_error(r, 400, "bad_request", "%s", msg.text);
        return 0;
    }
    if (!json_is_object(body)) {
        fs_reply_error(r, 400, "bad_request", "the body must be a JSON object");
        return 0;
    }
    static const char *const names[] = {"imageUrl", "modelName", "token", "crop"};
    const char **slots[] = {&in->image_url, &in->model, &in->token, &in->crop};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *v = json_object_get(body, names[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v)) {
            fs_reply_error(r, 400, "bad_request", "%s must be a string", names[i]);
            return 0;
        }
        *slots[i] = json_string_value(v);
    }
    return 1;
}

/* ?explain: absent, 0/false -> 0; 1/true -> 1; else 400 and -1. */
static int explain_flag(fs_req *r) {
    const char *v = fs_req_query(r, "explain");
    if (!v || !strcmp(v, "0") || !strcasecmp(v, "false")) return 0;
    if (!strcmp(v, "1") || !strcasecmp(v, "true")) return 1;
    fs_reply_error(r, 400, "bad_request", "explain must be 1 or 0");
    return -1;
}

static json_t *box_json(fs_box b) {
    return json_pack("{s:i, s:i, s:i, s:i}", "x", b.x, "y", b.y, "w", b.w, "h", b.h);
}

/* A PNG as a data: URL (new reference), NULL on allocation failure. */
static json_t *png_data_url(const uint8_t *png, size_t len) {
    static const char head[] = "data:image/png;base64,";
    size_t cap = sizeof head + 4 * ((len + 2) / 3) + 1;
    char *s = malloc(cap);
    if (!s) return NULL;
    memcpy(s, head, sizeof head - 1);
    EVP_EncodeBlock((unsigned char *)s + sizeof head - 1, png, (int)len);
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* The "explanation" object: Grad-CAM of model 0 on every judged crop of res (kept with
 * keep_crops). NULL and *e set on failure. Caller holds the scanner. */
static json_t *explanation_json(fs_scanner *sc, const fs_scan_result *res, const char *model,
                                fs_err *e, fs_msg *msg) {
    json_t *faces = json_array();
    char layer[sizeof ((fs_gradcam *)0)->layer] = "";
    *e = faces ? FS_OK : fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (int f = 0; !*e && f < res->n_frames; f++)
        for (int i = 0; !*e && i < res->frames[f].n_faces; i++) {
            const fs_scan_face *face = &res->frames[f].faces[i];
            fs_explanation x;
            *e = fs_scanner_explain(sc, 0, &face->crop_img, &x, msg);
            if (*e) break;
            uint8_t *png = NULL;
            size_t len = 0;
            *e = fs_image_encode_png(&x.overlay, &png, &len, msg);
            json_t *url = *e ? NULL : png_data_url(png, len);
            free(png);
            if (!*e && !url) *e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            if (!*e) {
                memcpy(layer, x.cam.layer, sizeof layer);
                json_array_append_new(
                    faces, json_pack("{s:o, s:o, s:f, s:f, s:i, s:i, s:o}", "box", box_json(face->box),
                                     "crop", box_json(face->crop), "p_fake", (double)face->p_fake[0],
                                     "logit_fake", (double)x.cam.logit_fake, "width", x.overlay.w,
                                     "height", x.overlay.h, "overlay", url));
            }
            fs_explanation_free(&x);
        }
    if (*e) {
        json_decref(faces);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "method", "grad-cam", "model", model, "layer",
                     layer, "colormap", "viridis", "faces", faces, "note",
                     "where the network looked when scoring 'fake' (gradient-weighted feature maps of "
                     "its last conv block); a diagnostic, not proof of manipulation");
}

static void ic_detect(fs_req *r) {
    fs_app *app = fs_req_app(r);
    char bearer[FS_CRED_MAX];
    if (fs_req_credentials(r, NULL, bearer, sizeof bearer) == FS_CRED_NONE) bearer[0] = '\0';
    int ok = key_ok(r, bearer, "Bearer token");
    memset(bearer, 0, sizeof bearer);
    if (!ok) return;
    ic_input in;
    if (!read_input(r, &in)) return;
    if (!key_ok(r, in.token, "token")) return;
    const int explain = explain_flag(r);
    if (explain < 0) return;

    fs_engine_model model;
    fs_msg msg;
    if (!in.model || !*in.model) {
        fs_reply_error(r, 400, "bad_request", "modelName is required (GET /api/models lists them)");
        return;
    }
    if (fs_engine_lookup(app->engine, in.model, &model, &msg) != FS_OK) {
        fs_reply_error(r, 400, "bad_request", "incorrect modelName provided");
        return;
    }
    fs_scan_opts opts = fs_scan_opts_default();
    /* a model that learned faces cut from pictures judges the faces it finds; others the whole
     * picture, unless the request says */
    opts.crop = model.entry && model.entry->card.picture_faces ? FS_CROP_FACES : FS_CROP_WHOLE;
    if (in.crop && !strcmp(in.crop, "faces")) opts.crop = FS_CROP_FACES;
    else if (in.crop && !strcmp(in.crop, "whole")) opts.crop = FS_CROP_WHOLE;
    else if (in.crop) {
        fs_reply_error(r, 400, "bad_request", "crop must be \"whole\" or \"faces\"");
        return;
    }
    opts.keep_crops = explain;

    /* The picture: an uploaded file, or the bytes behind imageUrl. */
    uint8_t *fetched = NULL;
    const uint8_t *data = in.file;
    size_t len = in.file_len;
    if (!data) {
        if (!in.image_url || !*in.image_url) {
            fs_reply_error(r, 400, "bad_request", "imageUrl (or an uploaded file in field \"image\") is required");
            return;
        }
        fs_fetch_opts fo = fs_fetch_opts_default();
        if (app->cfg->fetch_max_bytes) fo.max_bytes = app->cfg->fetch_max_bytes;
        if (app->cfg->fetch_timeout_s > 0) fo.timeout_ms = app->cfg->fetch_timeout_s * 1000;
        double left = fs_req_remaining_ms(r);
        if (left < fo.timeout_ms) fo.timeout_ms = left > 1 ? (int)left : 1;
        fo.allow_private = app->cfg->allow_private_urls;
        fo.first_hop = app->cfg->fetch_first_hop;
        fs_err e = fs_fetch(in.image_url, &fo, &fetched, &len, &msg);
        if (e) {
            unsigned st = e == FS_ERR_LIMIT ? 413 : e == FS_ERR_NOMEM ? 503 : 400;
            fs_reply_error(r, st, fs_err_name(e), "imageUrl: %s", msg.text);
            return;
        }
        data = fetched;
    }
    if (fs_image_sniff(data, len) == FS_IMAGE_UNKNOWN) {
        free(fetched);
        fs_reply_error(r, 400, "bad_request", "the file is not a PNG, JPEG or WebP image");
        return;
    }

    const char *names[1] = {model.name};
    fs_scanner *sc = NULL;
    fs_scan_result res = {0};
    json_t *explained = NULL;
    char label[96];
    snprintf(label, sizeof label, "request %s", fs_req_id(r));
    fs_media_call call;
    fs_media_decoder dec;
    opts.decoder = fs_app_decoder(app, label, fs_now_ms() + fs_req_remaining_ms(r), &call, &dec);
    fs_err e = fs_engine_acquire(app->engine, names, 1, &sc, &msg);
    if (!e) {
        e = fs_scan_memory(sc, data, len, &opts, &res, &msg);
        if (!e && explain) explained = explanation_json(sc, &res, model.name, &e, &msg);
        fs_engine_release(app->engine, sc);
    }
    /* Content Credentials of the same bytes, after the picture decoded (so only images that
     * passed the decoder reach the provenance reader) */
    json_t *provenance = NULL;
    if (!e) {
        fs_prov_options po = {.trust = app->c2pa_trust};
        fs_prov_report pr;
        fs_msg pm;
        if (fs_prov_read(data, len, &po, &pr, &pm) == FS_OK) {
            provenance = fs_prov_report_json(&pr);
            fs_prov_report_free(&pr);
        } else {
            provenance = json_pack("{s:s}", "error", pm.text);
        }
    }
    free(fetched);
    if (e) {
        unsigned st = e == FS_ERR_FORMAT || e == FS_ERR_UNSUPPORTED ? 400 : fs_http_status_for(e);
        fs_reply_error(r, st, fs_err_name(e), "%s", msg.text);
        fs_scan_result_free(&res);
        json_decref(explained);
        return;
    }
    /* The most suspicious face (or the whole picture) decides; every judged crop is listed in
     * fakescope's own "crops" (the face's box, the region the model saw, its score). */
    double p_fake = -1;
    int judged = 0;
    json_t *crops = json_array();
    for (int f = 0; f < res.n_frames; f++)
        for (int i = 0; i < res.frames[f].n_faces; i++) {
            const fs_scan_face *fc = &res.frames[f].faces[i];
            judged++;
            if (fc->p_fake[0] > p_fake) p_fake = fc->p_fake[0];
            json_array_append_new(
                crops, json_pack("{s:s, s:{s:i,s:i,s:i,s:i}, s:{s:i,s:i,s:i,s:i}, s:f}", "kind",
                                 res.whole_image ? "whole" : "face", "box", "x", fc->box.x, "y", fc->box.y,
                                 "w", fc->box.w, "h", fc->box.h, "region", "x", fc->crop.x, "y", fc->crop.y,
                                 "w", fc->crop.w, "h", fc->crop.h, "p_fake", (double)fc->p_fake[0]));
        }
    fs_scan_result_free(&res);
    if (!judged) {
        json_decref(crops);
        json_decref(explained);
        json_decref(provenance);
        if (in.crop)
            fs_reply_error(r, 400, "no_face", "no face was found in the image (leave out crop to judge the whole image)");
        else
            fs_reply_error(r, 400, "no_face", "no face was found in the image, and model %s judges faces "
                           "(\"crop\": \"whole\" judges the whole picture, which it was not trained on)", model.name);
        return;
    }
    fs_metrics_inference(fs_server_metrics(fs_req_server(r)), model.name, (uint64_t)judged);
    json_t *conf = json_pack("[f, f]", p_fake, 1.0 - p_fake);
    json_t *labels = json_pack("[s, s]", ic_labels[0], ic_labels[1]);
    /* The binary result follows the model card's decision threshold; fakescope's own
     * "decision" object beside it adds the uncertain band. */
    const fs_card *card = model.entry ? &model.entry->card : NULL;
    double thr = card ? fs_card_threshold(card) : 0.5;
    const char *own_call = card ? fs_card_call(card, p_fake) : p_fake >= thr ? "fake" : "real";
    json_t *body = json_pack("{s:s, s:{s:s, s:o, s:o}, s:{s:f, s:s}}", "status", "success",
                             "response", "result", p_fake >= thr ? ic_labels[0] : ic_labels[1],
                             "labels", labels, "confidence", conf, "decision", "threshold", thr,
                             "call", own_call);
    if (body && crops) json_object_set_new(body, "crops", crops);
    else json_decref(crops);
    if (body && explained) json_object_set_new(body, "explanation", explained);
    else json_decref(explained);
    if (body && provenance) json_object_set_new(body, "provenance", provenance);
    else json_decref(provenance);
    fs_reply_json(r, 200, body);
}

static void ic_models(fs_req *r) {
    fs_app *app = fs_req_app(r);
    char **names;
    size_t n;
    fs_msg msg;
    if (fs_engine_names(app->engine, &names, &n, &msg) != FS_OK) {
        fs_reply_error(r, 503, "nomem", "%s", msg.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        fs_engine_model m;
        if (fs_engine_lookup(app->engine, names[i], &m, &msg) != FS_OK) continue; /* removed meanwhile */
        json_t *o = json_pack("{s:s, s:s}", "name", m.name, "architecture", m.arch);
        if (o && m.entry) {
            json_object_set_new(o, "id", json_string(m.entry->card.id));
            json_object_set_new(o, "description", json_string(m.entry->card.description ? m.entry->card.description : ""));
        }
        json_array_append_new(arr, o);
    }
    free(names);
    fs_reply_json(r, 200, json_pack("{s:o}", "models", arr));
}

fs_err fs_routes_imagecheck(fs_app *app, fs_msg *msg) {
    if (fs_registry_count(fs_engine_registry(app->engine)) == 0)
        fs_log(FS_LOG_INFO, "no models yet: the image check answers 400 to every modelName until one is "
                            "imported (fakescope models import ... -o DIR, then serve --models DIR)");
    fs_err e = fs_server_route_shaped(app->server, "POST", IC_PATH, "imagecheck_detect", ic_detect, ic_shape, msg);
    if (!e) e = fs_server_route(app->server, "GET", "/api/models", "imagecheck_models", ic_models, msg);
    return e;
}
