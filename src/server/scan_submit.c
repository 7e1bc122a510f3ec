/* scan_submit.c: the path from an upload to a stored scan result, shared by the dialects that
 * hand detection to the job queue. Media is stored once by its SHA-256, the result is looked up
 * by (sha256, settings) before any task is made, and a task already queued or running for the
 * same input is joined, so identical requests cost one computation. */
#include "server/scan_submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the picked models are, line by line (name, weights digest, decision): hashed into the
 * spec's tag, so a result is stored and found under the models it was computed with. */
typedef struct identity {
    char text[FS_DETECT_MAX_MODELS * 192];
    size_t at;
} identity;

static fs_err pick_models(fs_app *app, const char *list, fs_scan_job_spec *spec, identity *id,
                          fs_msg *msg);

static fs_err add_model(fs_app *app, fs_scan_job_spec *spec, identity *id, const char *name, size_t n,
                        fs_msg *msg) {
    char buf[FS_DETECT_NAME_MAX];
    if (n == 0) return fs_fail(msg, FS_ERR_INVALID, "empty model name in the list");
    if (n >= sizeof buf) return fs_fail(msg, FS_ERR_NOTFOUND, "no model named '%.*s...'", 32, name);
    memcpy(buf, name, n);
    buf[n] = 0;
    if (spec->n_models == FS_DETECT_MAX_MODELS)
        return fs_fail(msg, FS_ERR_LIMIT, "at most %d models per request", FS_DETECT_MAX_MODELS);
    fs_engine_model m;
    fs_err e = fs_engine_lookup(app->engine, buf, &m, msg);
    if (e != FS_OK) return e;
    for (int i = 0; i < spec->n_models; i++)
        if (!strcmp(spec->models[i], m.name)) return FS_OK; /* listed twice: once is enough */
    snprintf(spec->models[spec->n_models++], FS_DETECT_NAME_MAX, "%s", m.name);
    /* a registry model: its card's weights digest, decision and face crop (an aligned one only,
     * so box models keep the tags they had); a run-time one: its weights' digest */
    const fs_card *c = m.entry ? &m.entry->card : NULL;
    char crop[48] = "";
    if (c && c->face_crop.aligned) snprintf(crop, sizeof crop, " aligned %.17g", c->face_crop.margin);
    id->at += (size_t)snprintf(id->text + id->at, sizeof id->text - id->at, "%s %s %.17g %.17g %.17g%s\n",
                               m.name, c ? c->sha256 : m.digest, c ? fs_card_threshold(c) : 0.5,
                               c && c->decision.present ? c->decision.lo : 0.5,
                               c && c->decision.present ? c->decision.hi : 0.5, crop);
    if (id->at >= sizeof id->text) return fs_fail(msg, FS_ERR_LIMIT, "the model names are too long");
    return FS_OK;
}

fs_err fs_scan_pick_models(fs_app *app, const char *list, fs_scan_job_spec *spec, fs_msg *msg) {
    identity id = {.at = 0};
    fs_err e = pick_models(app, list, spec, &id, msg);
    if (e != FS_OK) return e;
    char hex[FS_SHA256_HEX];
    if ((e = fs_sha256_hex(id.text, id.at, hex)) != FS_OK)
        return fs_fail(msg, e, "cannot hash the models' identity");
    memcpy(spec->tag, hex, 16);
    spec->tag[16] = 0;
    return FS_OK;
}

static fs_err pick_models(fs_app *app, const char *list, fs_scan_job_spec *spec, identity *id,
                          fs_msg *msg) {
    spec->n_models = 0;
    if (!list || !*list) list = app->video_models;
    if (list && *list) {
        const char *p = list;
        for (;;) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            fs_err e = add_model(app, spec, id, p, n, msg);
            if (e != FS_OK) return e;
            if (!end) break;
            p = end + 1;
        }
        return FS_OK;
    }
    char **names = NULL;
    size_t n = 0;
    fs_err e = fs_engine_names(app->engine, &names, &n, msg);
    if (e != FS_OK) return e;
    /* The models whose card says "default": true, or every model when none does. */
    unsigned char *pick = calloc(n + 1, 1);
    if (!pick) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    int defaults = 0;
    for (size_t i = 0; i < n && e == FS_OK; i++) {
        fs_engine_model m;
        fs_msg ignore;
        if (fs_engine_lookup(app->engine, names[i], &m, &ignore) == FS_OK && m.entry)
            defaults += pick[i] = (unsigned char)m.entry->card.is_default;
    }
    for (size_t i = 0; i < n && e == FS_OK && spec->n_models < FS_DETECT_MAX_MODELS; i++)
        if (!defaults || pick[i]) e = add_model(app, spec, id, names[i], strlen(names[i]), msg);
    free(pick);
    free(names);
    if (e == FS_OK && spec->n_models == 0)
        e = fs_fail(msg, FS_ERR_UNSUPPORTED, "the server has no model loaded (start it with --models DIR)");
    return e;
}

json_t *fs_scan_result_by_ref(fs_app *app, const char *ref) {
    size_t hl = FS_SHA256_HEX - 1;
    if (!ref || strlen(ref) <= hl || ref[hl] != ' ') return NULL;
    char sha[FS_SHA256_HEX];
    memcpy(sha, ref, hl);
    sha[hl] = 0;
    char *text = NULL;
    fs_msg msg;
    if (fs_store_result_get(app->store, sha, ref + hl + 1, &text, &msg) != FS_OK) return NULL;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    return j;
}

fs_err fs_scan_submit(fs_app *app, const uint8_t *data, size_t len, const char *mime,
                      fs_scan_job_spec *spec, char task_id[FS_TASK_ID_LEN + 1], json_t **result,
                      fs_msg *msg) {
    *result = NULL;
    task_id[0] = 0;
    if (!app->jobs) return fs_fail(msg, FS_ERR_UNSUPPORTED, "background jobs are not running");
    fs_media_info info;
    fs_err e = fs_store_media_put(app->store, data, len, mime, &info, msg);
    if (e != FS_OK) return e;
    memcpy(spec->sha256, info.sha256, sizeof spec->sha256);
    char ref[256];
    if ((e = fs_scan_job_input_ref(spec, ref, sizeof ref, msg)) != FS_OK) return e;
    if ((*result = fs_scan_result_by_ref(app, ref))) return FS_OK;
    int joined = 0;
    return fs_jobs_submit(app->jobs, FS_JOB_KIND_SCAN, ref, task_id, &joined, msg);
}

fs_err fs_scan_wait(fs_app *app, const char *task_id, double timeout_ms, fs_task *task,
                    json_t **result, fs_msg *msg) {
    *result = NULL;
    fs_err e = fs_jobs_wait(app->jobs, task_id, timeout_ms, task, msg);
    if (e != FS_OK) return e;
    if (task->status == FS_TASK_FAILED) {
        const char *colon = strchr(task->error, ':');
        fs_err kind = fs_jobs_error_kind(task->error);
        return fs_fail(msg, kind, "%s", colon && kind != FS_ERR_INTERNAL ? colon + 2 : task->error);
    }
    if (!(*result = fs_scan_result_by_ref(app, task->result_ref)))
        return fs_fail(msg, FS_ERR_INTERNAL, "task %s is done but its result is missing", task_id);
    return FS_OK;
}

void fs_reply_queue_full(fs_req *r, json_t *body) {
    fs_reply_json(r, 503, body);
    char v[16];
    snprintf(v, sizeof v, "%d", FS_JOBS_RETRY_AFTER_S);
    fs_reply_header(r, "Retry-After", v);
}

fs_err fs_routes_video_checks(fs_app *app, fs_msg *msg) {
    fs_err e = fs_routes_tasks(app, msg);
    if (e == FS_OK) e = fs_routes_facevideo(app, msg);
    if (e == FS_OK) e = fs_routes_classification(app, msg);
    return e;
}
