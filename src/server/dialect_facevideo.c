/* dialect_facevideo.c: the face-video deepfake check (seed 002):
 *   POST /face/v1/deepfake          multipart, the video in field `video` (at most 6 MB by default)
 *   POST /face/v1/deepfake/images   JSON {"frames": [base64, ...]} (at most 6 MB decoded in total)
 * Both answer {"read":{"deepfake":{"confidence":P,"value":"real"|"fake"}},"reason":...,
 * "status":"SUCCESS"}, where confidence is the media's P(fake) (the seed's "real" example carries
 * 0.064): the p_fake of the scan's whole-media Average verdict (docs/verdicts.md says whose
 * scores that pools).
 * Statuses: NO_FILE (400), FILE_INVALID_FORMAT (400; 413 past the size limit), NO_FACE (200:
 * the media was read but has no face to judge, so no guess is made), FAILED (500; 503 with
 * Retry-After when the queue is full; 504 past the request deadline).
 *
 * The handler stores the upload, queues (or joins) its scan task and waits for it with the
 * request's deadline, so to the client the call is synchronous while the job workers do the
 * work. Query options: ?models=A,B, ?frames=N (video frames sampled; default 8, since a 10 s
 * 1080p clip costs about 1.5 s of one core at 8), ?detail=1 (per-person and per-frame scores
 * under "detail"). */
#include "server/scan_submit.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define FACEVIDEO_FRAMES_DEFAULT 8
#define FACEVIDEO_VERDICT "Average"
#define DATA_URI_MARK ";base64,"

/* One answer in the seed's shape; read may be NULL (stolen). */
static void reply(fs_req *r, unsigned http, const char *status, const char *reason, json_t *read) {
    char text[FS_MSG_MAX];
    snprintf(text, sizeof text, "%s", reason);
    fs_utf8_sanitize(text); /* a reason may quote the client's bytes */
    json_t *o = json_pack("{s:s,s:s}", "reason", text, "status", status);
    if (o && read) json_object_set_new(o, "read", read);
    else json_decref(read);
    if (http == 503) fs_reply_queue_full(r, o);
    else fs_reply_json(r, http, o);
}

/* Maps a failure of submitting or scanning to the dialect's answer. */
static void reply_error(fs_req *r, fs_err e, const char *text) {
    switch (e) {
    case FS_ERR_FORMAT:
    case FS_ERR_UNSUPPORTED: reply(r, 400, "FILE_INVALID_FORMAT", text, NULL); return;
    case FS_ERR_LIMIT: reply(r, 413, "FILE_INVALID_FORMAT", text, NULL); return;
    case FS_ERR_NOTFOUND:
    case FS_ERR_INVALID: reply(r, 400, "FAILED", text, NULL); return;
    case FS_ERR_TIMEOUT: reply(r, 504, "FAILED", text, NULL); return;
    case FS_ERR_DECODER: reply(r, 422, "FAILED", text, NULL); return;
    default: reply(r, 500, "FAILED", text, NULL); return;
    }
}

/* The per-person and per-frame view of a stored scan result (?detail=1). */
static json_t *detail_of(json_t *res) {
    json_t *frames = json_array(), *people = json_array();
    size_t i, k;
    json_t *f, *face, *pe;
    json_array_foreach(json_object_get(res, "frames"), i, f) {
        json_t *faces = json_array();
        json_array_foreach(json_object_get(f, "faces"), k, face) {
            json_t *scores = json_object(), *v;
            const char *model;
            json_object_foreach(json_object_get(face, "scores"), model, v)
                json_object_set(scores, model, json_object_get(v, "p_fake"));
            json_array_append_new(faces, json_pack("{s:O,s:O,s:o,s:O?}", "person", json_object_get(face, "person"),
                                                   "box", json_object_get(face, "box"), "p_fake", scores,
                                                   "keypoints", json_object_get(face, "keypoints")));
        }
        json_array_append_new(frames, json_pack("{s:O,s:O,s:o}", "index", json_object_get(f, "index"), "time",
                                                json_object_get(f, "time"), "faces", faces));
    }
    json_array_foreach(json_object_get(res, "people"), i, pe) {
        json_t *models = json_array(), *m;
        json_array_foreach(json_object_get(pe, "models"), k, m)
            json_array_append_new(models, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O?,s:O?}", "model", json_object_get(m, "model"),
                                                    "mean", json_object_get(m, "mean"), "std",
                                                    json_object_get(m, "std"), "classification",
                                                    json_object_get(m, "classification"), "confidence",
                                                    json_object_get(m, "confidence"), "threshold",
                                                    json_object_get(m, "threshold"), "uncertain",
                                                    json_object_get(m, "uncertain")));
        json_t *avg = NULL, *v;
        json_array_foreach(json_object_get(pe, "verdicts"), k, v)
            if (!strcmp(json_string_value(json_object_get(v, "heuristic")) ?: "", FACEVIDEO_VERDICT)) avg = v;
        json_array_append_new(people, json_pack("{s:O,s:O,s:o,s:O?,s:O?,s:O?}", "person", json_object_get(pe, "person"),
                                                "frames", json_object_get(pe, "frames"), "models", models,
                                                "p_fake", avg ? json_object_get(avg, "p_fake") : NULL,
                                                "value", avg ? json_object_get(avg, "classification") : NULL,
                                                "uncertain", avg ? json_object_get(avg, "uncertain") : NULL));
    }
    return json_pack("{s:O,s:O?,s:o,s:o}", "models", json_object_get(res, "models"), "main_person",
                     json_object_get(res, "main_person"), "people", people, "frames", frames);
}

/* Answers from a stored scan result. */
static void reply_result(fs_req *r, json_t *res) {
    const char *st = json_string_value(json_object_get(res, "status"));
    if (st && !strcmp(st, "no_face")) {
        reply(r, 200, "NO_FACE", "No face was found in the media, so there is nothing to judge", NULL);
        return;
    }
    json_t *avg = NULL, *v;
    size_t i;
    json_array_foreach(json_object_get(res, "verdicts"), i, v)
        if (!strcmp(json_string_value(json_object_get(v, "heuristic")) ?: "", FACEVIDEO_VERDICT)) avg = v;
    json_t *p = avg ? json_object_get(avg, "p_fake") : NULL;
    if (!st || strcmp(st, "ok") || !json_is_number(p)) {
        reply(r, 500, "FAILED", "The models gave no valid score for this media", NULL);
        return;
    }
    double pf = json_number_value(p);
    /* The verdict's call follows the models' decision thresholds (their cards). */
    const char *cls = json_string_value(json_object_get(avg, "classification"));
    json_t *read = json_pack("{s:{s:f,s:s}}", "deepfake", "confidence", pf, "value",
                             cls && !strcmp(cls, "fake") ? "fake" : "real");
    const char *d = fs_req_query(r, "detail");
    if (read && d && strcmp(d, "0") && strcmp(d, "false")) json_object_set_new(read, "detail", detail_of(res));
    reply(r, 200, "SUCCESS", "File Successfully Read", read);
}

/* Common tail: pick models and frames from the query, submit, wait, answer. */
static void run_scan(fs_req *r, const uint8_t *data, size_t len, const char *mime, int frames_src) {
    fs_app *app = fs_req_app(r);
    fs_scan_job_spec spec = {.frames_src = frames_src, .frames = frames_src ? 1 : FACEVIDEO_FRAMES_DEFAULT};
    fs_msg msg;
    const char *fq = fs_req_query(r, "frames");
    if (fq && !frames_src) {
        char *end;
        long n = strtol(fq, &end, 10);
        if (!*fq || *end || n < 1 || n > FS_SCAN_MAX_FRAMES) {
            fs_fail(&msg, FS_ERR_INVALID, "frames must be a whole number in [1, %d]", FS_SCAN_MAX_FRAMES);
            reply(r, 400, "FAILED", msg.text, NULL);
            return;
        }
        spec.frames = (int)n;
    }
    fs_err e = fs_scan_pick_models(app, fs_req_query(r, "models"), &spec, &msg);
    if (e != FS_OK) {
        reply(r, e == FS_ERR_UNSUPPORTED ? 503 : 400, "FAILED", msg.text, NULL);
        return;
    }
    char task_id[FS_TASK_ID_LEN + 1];
    json_t *res = NULL;
    e = fs_scan_submit(app, data, len, mime, &spec, task_id, &res, &msg);
    if (e == FS_ERR_LIMIT) {
        reply(r, 503, "FAILED", msg.text, NULL);
        return;
    }
    fs_task t;
    if (e == FS_OK && !res) e = fs_scan_wait(app, task_id, fs_req_remaining_ms(r), &t, &res, &msg);
    if (e == FS_ERR_TIMEOUT)
        fs_fail(&msg, FS_ERR_TIMEOUT, "The check did not finish within the request deadline; task %s goes on",
                task_id);
    if (e != FS_OK) {
        reply_error(r, e, msg.text);
        return;
    }
    reply_result(r, res);
    json_decref(res);
}

static void deepfake_video(fs_req *r) {
    if (fs_req_authenticate(r, NULL, 0, NULL) != FS_OK) return;
    fs_app *app = fs_req_app(r);
    const fs_form_field *f = fs_req_form(r, "video");
    if (!f || f->len == 0) {
        reply(r, 400, "NO_FILE", "No file in request body", NULL);
        return;
    }
    size_t max = app->video_max_bytes ? app->video_max_bytes : FS_VIDEO_MAX_BYTES_DEFAULT_UPLOAD;
    if (f->len > max) {
        fs_msg msg;
        fs_fail(&msg, FS_ERR_LIMIT, "The video is %zu bytes; the limit is %zu bytes", f->len, max);
        reply(r, 413, "FILE_INVALID_FORMAT", msg.text, NULL);
        return;
    }
    run_scan(r, f->data, f->len, f->content_type ? f->content_type : "application/octet-stream", 0);
}

/* Decodes one base64 frame into a new buffer. A "data:...;base64," prefix, line breaks and
 * missing padding are accepted (clients send all three); fs_base64_decode is sized for
 * credentials, so frames go straight to OpenSSL's block decoder. */
static fs_err decode_frame(const char *s, uint8_t **out, size_t *len, fs_msg *msg) {
    *out = NULL;
    *len = 0;
    const char *mark = strncmp(s, "data:", 5) ? NULL : strstr(s, DATA_URI_MARK);
    if (mark) s = mark + strlen(DATA_URI_MARK);
    size_t n = strlen(s);
    if (n > INT_MAX / 2) return fs_fail(msg, FS_ERR_LIMIT, "frame too large");
    char *clean = malloc(n + 4);
    if (!clean) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    size_t body = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (!ok || pad) { /* a letter after padding is not base64 either */
            free(clean);
            return fs_fail(msg, FS_ERR_FORMAT, "not valid base64");
        }
        clean[body++] = c;
    }
    if (body == 0 || body % 4 == 1 || pad > 2) {
        free(clean);
        return fs_fail(msg, FS_ERR_FORMAT, "not valid base64");
    }
    size_t padded = (body + 3) / 4 * 4;
    memset(clean + body, '=', padded - body);
    size_t decoded = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    *out = malloc(padded / 4 * 3 + 1);
    if (!*out) {
        free(clean);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    int got = EVP_DecodeBlock(*out, (const unsigned char *)clean, (int)padded);
    free(clean);
    if (got < 0 || (size_t)got < decoded) {
        free(*out);
        *out = NULL;
        return fs_fail(msg, FS_ERR_FORMAT, "not valid base64");
    }
    *len = decoded;
    return FS_OK;
}

static void deepfake_images(fs_req *r) {
    if (fs_req_authenticate(r, NULL, 0, NULL) != FS_OK) return;
    fs_app *app = fs_req_app(r);
    fs_msg msg;
    size_t blen;
    fs_req_body(r, &blen);
    if (blen == 0) {
        reply(r, 400, "NO_FILE", "No file in request body", NULL);
        return;
    }
    json_t *body = fs_req_json(r, &msg);
    json_t *frames = body ? json_object_get(body, "frames") : NULL;
    if (!body || !json_is_object(body)) {
        reply(r, 400, "FILE_INVALID_FORMAT", body ? "The body must be a JSON object" : msg.text, NULL);
        return;
    }
    if (!json_is_array(frames) || json_array_size(frames) == 0) {
        reply(r, 400, "NO_FILE", "No frames in request body", NULL);
        return;
    }
    size_t n = json_array_size(frames);
    if (n > FS_FRAME_BUNDLE_MAX) {
        fs_fail(&msg, FS_ERR_LIMIT, "At most %d frames per request", FS_FRAME_BUNDLE_MAX);
        reply(r, 413, "FILE_INVALID_FORMAT", msg.text, NULL);
        return;
    }
    size_t max = app->video_max_bytes ? app->video_max_bytes : FS_VIDEO_MAX_BYTES_DEFAULT_UPLOAD;
    uint8_t **bufs = calloc(n, sizeof *bufs);
    size_t *lens = calloc(n, sizeof *lens);
    size_t total = 0;
    unsigned http = 0;
    const char *status = NULL;
    if (!bufs || !lens) {
        fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
        http = 500, status = "FAILED";
    }
    for (size_t i = 0; !http && i < n; i++) {
        const char *s = json_string_value(json_array_get(frames, i));
        if (!s) {
            fs_fail(&msg, FS_ERR_FORMAT, "Frame %zu is not a base64 string", i);
            http = 400, status = "FILE_INVALID_FORMAT";
        } else if (decode_frame(s, &bufs[i], &lens[i], &msg) != FS_OK) {
            fs_msg_prefix(&msg, "Frame %zu: ", i);
            http = 400, status = "FILE_INVALID_FORMAT";
        } else if ((total += lens[i]) > max) {
            fs_fail(&msg, FS_ERR_LIMIT, "The frames are over %zu bytes in total", max);
            http = 413, status = "FILE_INVALID_FORMAT";
        }
    }
    /* The size limit is checked over every frame first: too big is too big, whatever is inside. */
    for (size_t i = 0; !http && i < n; i++) {
        if (fs_image_sniff(bufs[i], lens[i]) == FS_IMAGE_UNKNOWN) {
            fs_fail(&msg, FS_ERR_FORMAT, "Frame %zu is not a JPEG, PNG or WebP picture", i);
            http = 400, status = "FILE_INVALID_FORMAT";
        }
    }
    uint8_t *bundle = NULL;
    size_t bundle_len = 0;
    if (!http && fs_frame_bundle_make((const uint8_t *const *)bufs, lens, (int)n, &bundle, &bundle_len, &msg) != FS_OK)
        http = 500, status = "FAILED";
    for (size_t i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(lens);
    if (http) {
        reply(r, http, status, msg.text, NULL);
        return;
    }
    run_scan(r, bundle, bundle_len, "application/x-fakescope-frames", 1);
    free(bundle);
}

/* The server's own answers on these routes (413 body too large, 503 busy, 400 malformed form)
 * in the seed's shape: a body past the limit is a file the check refuses. */
static json_t *fv_shape(fs_req *r, unsigned status, const char *code, const char *message) {
    (void)r;
    (void)code;
    if (status == 401 || status == 403) return NULL; /* auth answers keep the server's shape */
    const char *st = status == 413 || status == 415 ? "FILE_INVALID_FORMAT" : status == 400 ? "NO_FILE" : "FAILED";
    return json_pack("{s:s,s:s}", "reason", message, "status", st);
}

fs_err fs_routes_facevideo(fs_app *app, fs_msg *msg) {
    fs_err e = fs_server_route_shaped(app->server, "POST", "/face/v1/deepfake", "facevideo_video", deepfake_video,
                                      fv_shape, msg);
    if (e == FS_OK)
        e = fs_server_route_shaped(app->server, "POST", "/face/v1/deepfake/images", "facevideo_images",
                                   deepfake_images, fv_shape, msg);
    return e;
}
