/* dialect_classification.c: multi-model classification by content hash (seed 004):
 *   POST /api/classification_video   multipart, the file in field `file`: answers the SHA-256
 *                                    `hash` of the bytes at once and queues the work
 *   GET  /api/classification_video/{hash}
 *   POST /api/classification_image, GET /api/classification_image/{hash}: the same for one picture
 * Every route needs a key (X-Api-Key). A finished GET answers the seed's shape: hash, name,
 * results.images (one array per sampled frame that shows a face, one entry per model with
 * elapsed_time in seconds and the artificial/human label-score pairs), results.pre_process (ms of
 * decoding and face finding), results.std_deviations and results.classification_matrix (per
 * model), and verdicts (one per heuristic). While the work runs the GET answers 202 with
 * {"hash","name","status":"pending"|"running","progress"}; a failed scan answers 422 with its
 * error; an unknown hash 404.
 *
 * Which scan a hash names: each POST records (hash, "classification_video" or
 * "classification_image") -> {"name", "settings"} in the results table, so the GET finds the
 * settings of the latest upload of those bytes and from them the result or the task. Optional
 * form fields or query arguments: `frames` (video frames sampled, default 5), `models` (A,B).
 *
 * A finished image also carries "provenance" beside the seed's fields: the picture's Content
 * Credentials and unsigned hints (docs/provenance.md), read from the stored bytes at each GET
 * (after they decoded in the worker) against the server's --c2pa-trust list. */
#include "server/scan_submit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/json.h"
#include "fakescope/provenance.h"

#define CLASSIFY_VIDEO_FRAMES_DEFAULT 5
#define META_VIDEO "classification_video"
#define META_IMAGE "classification_image"
#define NAME_MAX_LEN 255

static const char *label_of(const char *cls) {
    if (!cls) return "none";
    if (!strcmp(cls, "fake")) return "artificial";
    if (!strcmp(cls, "real")) return "human";
    return cls;
}

static json_t *pair(double p_fake) {
    return json_pack("[{s:s,s:f},{s:s,s:f}]", "label", "artificial", "score", p_fake, "label", "human", "score",
                     1.0 - p_fake);
}

/* The seed's "results" and "verdicts" from a stored scan result. */
static json_t *render(const char *hash, const char *name, json_t *res) {
    json_t *images = json_array(), *f;
    json_t *models = json_object_get(res, "models");
    size_t i, k, m;
    /* The frames are the main person's (the strongest face track, whose verdict is the file's):
     * someone else in the picture is another person, not this video's score of that frame. */
    json_t *mp = json_object_get(res, "main_person");
    const json_int_t main_person = json_is_integer(mp) ? json_integer_value(mp) : -1;
    json_array_foreach(json_object_get(res, "frames"), i, f) {
        json_t *faces = json_object_get(f, "faces"), *face;
        int seen = 0;
        json_array_foreach(faces, k, face)
            seen |= main_person < 0 || json_integer_value(json_object_get(face, "person")) == main_person;
        if (!seen) continue; /* nothing of the main person was judged in this frame */
        json_t *row = json_array(), *name_j;
        json_array_foreach(models, m, name_j) {
            const char *model = json_string_value(name_j);
            double best = -1;
            /* the main person's face (one per frame); without a main person, the most
             * suspicious face */
            json_array_foreach(faces, k, face) {
                if (main_person >= 0 && json_integer_value(json_object_get(face, "person")) != main_person)
                    continue;
                json_t *p = json_object_get(json_object_get(json_object_get(face, "scores"), model), "p_fake");
                if (json_is_number(p) && json_number_value(p) > best) best = json_number_value(p);
            }
            if (best < 0) continue;
            double ms = json_number_value(json_object_get(json_object_get(f, "model_ms"), model));
            json_array_append_new(row, json_pack("{s:s,s:f,s:o}", "model", model, "elapsed_time", ms / 1000.0,
                                                 "classification", pair(best)));
        }
        json_array_append_new(images, row);
    }
    json_t *timing = json_object_get(res, "timing");
    double pre = json_number_value(json_object_get(timing, "decode")) + json_number_value(json_object_get(timing, "faces"));
    json_t *stds = json_object(), *matrix = json_object(), *s;
    json_array_foreach(json_object_get(res, "summaries"), i, s) {
        const char *model = json_string_value(json_object_get(s, "model"));
        if (!model) continue;
        json_object_set(stds, model, json_object_get(s, "std"));
        json_object_set_new(matrix, model, json_pack("{s:O,s:s}", "confidence", json_object_get(s, "confidence"),
                                                     "classification",
                                                     label_of(json_string_value(json_object_get(s, "classification")))));
    }
    json_t *verdicts = json_array(), *v;
    json_array_foreach(json_object_get(res, "verdicts"), i, v)
        json_array_append_new(verdicts, json_pack("{s:O,s:O,s:O,s:s}", "models", json_object_get(v, "models"),
                                                  "heuristic", json_object_get(v, "heuristic"), "confidence",
                                                  json_object_get(v, "confidence"), "classification",
                                                  label_of(json_string_value(json_object_get(v, "classification")))));
    json_t *o = json_pack("{s:s,s:s,s:{s:o,s:f,s:o,s:o},s:o}", "hash", hash, "name", name, "results", "images",
                          images, "pre_process", pre, "std_deviations", stds, "classification_matrix", matrix,
                          "verdicts", verdicts);
    const char *st = json_string_value(json_object_get(res, "status"));
    if (o && st && strcmp(st, "ok")) json_object_set_new(o, "status", json_string(st)); /* no_face, no_score */
    return o;
}

/* A form field or, failing that, a query argument. */
static const char *option(fs_req *r, const char *name) {
    const fs_form_field *f = fs_req_form(r, name);
    if (f && !f->filename) return (const char *)f->data;
    return fs_req_query(r, name);
}

static void post(fs_req *r, int video) {
    if (fs_req_authenticate(r, NULL, 0, NULL) != FS_OK) return;
    fs_app *app = fs_req_app(r);
    const fs_form_field *f = fs_req_form(r, "file");
    if (!f || f->len == 0) {
        fs_reply_error(r, 400, "no_file", "send the %s as multipart/form-data in the field \"file\"",
                       video ? "video" : "image");
        return;
    }
    fs_scan_job_spec spec = {.frames = video ? CLASSIFY_VIDEO_FRAMES_DEFAULT : 1, .whole_fallback = !video};
    const char *fq = option(r, "frames");
    if (fq && video) {
        char *end;
        long n = strtol(fq, &end, 10);
        if (!*fq || *end || n < 1 || n > FS_SCAN_MAX_FRAMES) {
            fs_reply_error(r, 400, "bad_request", "frames must be a whole number in [1, %d]", FS_SCAN_MAX_FRAMES);
            return;
        }
        spec.frames = (int)n;
    }
    if (!video && fs_image_sniff(f->data, f->len) == FS_IMAGE_UNKNOWN) {
        fs_reply_error(r, 415, "unsupported_media", "the file is not a JPEG, PNG or WebP picture");
        return;
    }
    fs_msg msg;
    fs_err e = fs_scan_pick_models(app, option(r, "models"), &spec, &msg);
    if (e != FS_OK) {
        fs_reply_error(r, e == FS_ERR_UNSUPPORTED ? 503 : 400, fs_err_name(e), "%s", msg.text);
        return;
    }
    char task_id[FS_TASK_ID_LEN + 1];
    json_t *res = NULL;
    e = fs_scan_submit(app, f->data, f->len, f->content_type ? f->content_type : "application/octet-stream", &spec,
                       task_id, &res, &msg);
    if (e == FS_ERR_LIMIT) {
        fs_reply_queue_full(r, json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "queue_full", "message", msg.text,
                                         "request_id", fs_req_id(r)));
        return;
    }
    if (e != FS_OK) {
        fs_reply_error(r, fs_http_status_for(e), fs_err_name(e), "%s", msg.text);
        return;
    }
    /* Remember the name and settings of this upload so GET /{hash} finds its scan. */
    char settings[256];
    fs_scan_job_settings(&spec, settings, sizeof settings, &msg);
    char name[NAME_MAX_LEN + 1];
    snprintf(name, sizeof name, "%s", f->filename && *f->filename ? f->filename : (video ? "video" : "image"));
    fs_utf8_sanitize(name); /* the client's bytes, perhaps cut mid-character, go into JSON */
    json_t *meta = json_pack("{s:s,s:s}", "name", name, "settings", settings);
    char *text = meta ? fs_json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    e = text ? fs_store_result_put(app->store, spec.sha256, video ? META_VIDEO : META_IMAGE, text, &msg)
             : fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
    free(text);
    if (e != FS_OK) {
        json_decref(res);
        fs_reply_error(r, fs_http_status_for(e), fs_err_name(e), "%s", msg.text);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:s}", "hash", spec.sha256, "name", name, "status", res ? "done" : "pending");
    if (o && !res) json_object_set_new(o, "task_id", json_string(task_id));
    json_decref(res);
    fs_reply_json(r, res ? 200 : 202, o);
}

static void get(fs_req *r, int video) {
    if (fs_req_authenticate(r, NULL, 0, NULL) != FS_OK) return;
    fs_app *app = fs_req_app(r);
    const char *hash = fs_req_param(r, "hash");
    char lower[FS_SHA256_HEX] = "";
    for (size_t i = 0; hash && hash[i] && i < FS_SHA256_HEX - 1; i++)
        lower[i] = (char)((hash[i] >= 'A' && hash[i] <= 'F') ? hash[i] + 32 : hash[i]);
    if (!hash || strlen(hash) != FS_SHA256_HEX - 1 || !fs_sha256_hex_valid(lower)) {
        fs_reply_error(r, 404, "not_found", "no %s with this hash (a hash is 64 hex digits)", video ? "video" : "image");
        return;
    }
    fs_msg msg;
    char *text = NULL;
    fs_err e = fs_store_result_get(app->store, lower, video ? META_VIDEO : META_IMAGE, &text, &msg);
    if (e != FS_OK) {
        if (e == FS_ERR_NOTFOUND) fs_reply_error(r, 404, "not_found", "no %s with hash %s was submitted", video ? "video" : "image", lower);
        else fs_reply_error(r, fs_http_status_for(e), fs_err_name(e), "%s", msg.text);
        return;
    }
    json_t *meta = json_loads(text, 0, NULL);
    free(text);
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *settings = json_string_value(json_object_get(meta, "settings"));
    if (!name || !settings) {
        json_decref(meta);
        fs_reply_error(r, 500, "internal", "the record of hash %s is damaged", lower);
        return;
    }
    char ref[320];
    snprintf(ref, sizeof ref, "%s %s", lower, settings);
    json_t *res = fs_scan_result_by_ref(app, ref);
    if (res) {
        json_t *body = render(lower, name, res);
        if (body && !video) {
            uint8_t *data = NULL;
            size_t len = 0;
            fs_msg pm;
            if (fs_store_blob_get(app->store, lower, FS_PROV_MAX_FILE, &data, &len, &pm) == FS_OK) {
                fs_prov_options po = {.trust = app->c2pa_trust};
                fs_prov_report pr;
                if (fs_prov_read(data, len, &po, &pr, &pm) == FS_OK) {
                    json_object_set_new(body, "provenance", fs_prov_report_json(&pr));
                    fs_prov_report_free(&pr);
                }
                free(data);
            }
        }
        fs_reply_json(r, 200, body);
        json_decref(res);
        json_decref(meta);
        return;
    }
    fs_task t;
    e = fs_store_task_find(app->store, FS_JOB_KIND_SCAN, ref, &t, &msg);
    if (e != FS_OK) {
        fs_reply_error(r, e == FS_ERR_NOTFOUND ? 404 : fs_http_status_for(e), "not_found", "no work is recorded for hash %s", lower);
    } else if (t.status == FS_TASK_FAILED) {
        const char *colon = strchr(t.error, ':');
        fs_reply_json(r, 422, json_pack("{s:s,s:s,s:s,s:s,s:s}", "hash", lower, "name", name, "status", "failed",
                                        "error", colon ? colon + 2 : t.error, "task_id", t.id));
    } else {
        fs_reply_json(r, 202, json_pack("{s:s,s:s,s:s,s:f,s:s}", "hash", lower, "name", name, "status",
                                        t.status == FS_TASK_RUNNING ? "running" : "pending", "progress", round(t.progress * 1000) / 1000,
                                        "task_id", t.id));
    }
    json_decref(meta);
}

static void post_video(fs_req *r) { post(r, 1); }
static void post_image(fs_req *r) { post(r, 0); }
static void get_video(fs_req *r) { get(r, 1); }
static void get_image(fs_req *r) { get(r, 0); }

fs_err fs_routes_classification(fs_app *app, fs_msg *msg) {
    fs_err e = fs_server_route(app->server, "POST", "/api/classification_video", "classification_video_post",
                               post_video, msg);
    if (!e) e = fs_server_route(app->server, "GET", "/api/classification_video/:hash", "classification_video_get",
                                get_video, msg);
    if (!e) e = fs_server_route(app->server, "POST", "/api/classification_image", "classification_image_post",
                                post_image, msg);
    if (!e) e = fs_server_route(app->server, "GET", "/api/classification_image/:hash", "classification_image_get",
                                get_image, msg);
    return e;
}
