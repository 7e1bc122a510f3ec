/* scan_job.c: the task that runs the detect pipeline on stored media. Its input is named by
 * content ("SHA256 SETTINGS"): the media blob and the settings key under which the result is
 * stored, so the same bytes with the same models and frame count are computed once whichever
 * API asked. The result is the fs_scan_result_json object; dialects translate it to their shape.
 *
 * A scanner is borrowed from the engine for the length of one task, so workers share the
 * loaded networks and a task never loads weights. */
#include "fakescope/jobs.h"
#include "fakescope/json.h"
#include "fakescope/media_worker.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTINGS_VERSION "scan1"

fs_err fs_scan_job_settings(const fs_scan_job_spec *spec, char *buf, size_t cap, fs_msg *msg) {
    if (spec->n_models < 1 || spec->n_models > FS_DETECT_MAX_MODELS)
        return fs_fail(msg, FS_ERR_INVALID, "a scan needs 1 to %d models", FS_DETECT_MAX_MODELS);
    if (spec->frames < 1 || spec->frames > FS_SCAN_MAX_FRAMES)
        return fs_fail(msg, FS_ERR_INVALID, "frames must be in [1, %d]", FS_SCAN_MAX_FRAMES);
    if (spec->tag[0] && (strlen(spec->tag) != 16 || strspn(spec->tag, "0123456789abcdef") != 16))
        return fs_fail(msg, FS_ERR_INVALID, "a models tag is 16 lower-case hex digits");
    int n = snprintf(buf, cap, SETTINGS_VERSION ";src=%s;f=%d;c=%s;%s%s%sm=", spec->frames_src ? "frames" : "video",
                     spec->frames, spec->whole_fallback ? "whole" : "faces", spec->tag[0] ? "t=" : "",
                     spec->tag, spec->tag[0] ? ";" : "");
    for (int i = 0; i < spec->n_models && n >= 0 && (size_t)n < cap; i++) {
        const char *m = spec->models[i];
        if (!*m || strpbrk(m, ", ;"))
            return fs_fail(msg, FS_ERR_INVALID, "model name '%s' cannot be part of a settings key", m);
        n += snprintf(buf + n, cap - (size_t)n, "%s%s", i ? "," : "", m);
    }
    if (n < 0 || (size_t)n >= cap) return fs_fail(msg, FS_ERR_LIMIT, "the model names are too long");
    return FS_OK;
}

fs_err fs_scan_job_input_ref(const fs_scan_job_spec *spec, char *buf, size_t cap, fs_msg *msg) {
    if (!fs_sha256_hex_valid(spec->sha256)) return fs_fail(msg, FS_ERR_INVALID, "not a SHA-256 digest");
    if (cap < FS_SHA256_HEX + 1) return fs_fail(msg, FS_ERR_LIMIT, "buffer too small");
    memcpy(buf, spec->sha256, FS_SHA256_HEX - 1);
    buf[FS_SHA256_HEX - 1] = ' ';
    return fs_scan_job_settings(spec, buf + FS_SHA256_HEX, cap - FS_SHA256_HEX, msg);
}

fs_err fs_scan_job_parse(const char *ref, fs_scan_job_spec *spec, fs_msg *msg) {
    memset(spec, 0, sizeof *spec);
    size_t hl = FS_SHA256_HEX - 1;
    if (!ref || strlen(ref) <= hl || ref[hl] != ' ')
        return fs_fail(msg, FS_ERR_FORMAT, "malformed scan input reference");
    memcpy(spec->sha256, ref, hl);
    spec->sha256[hl] = 0;
    if (!fs_sha256_hex_valid(spec->sha256)) return fs_fail(msg, FS_ERR_FORMAT, "malformed scan input digest");
    const char *p = ref + hl + 1;
    char src[16], crop[16];
    int frames, used = 0;
    char tag[17] = "";
    if ((sscanf(p, SETTINGS_VERSION ";src=%15[a-z];f=%d;c=%15[a-z];t=%16[0-9a-f];m=%n", src, &frames, crop, tag,
                &used) != 4 || !used || strlen(tag) != 16) &&
        ((tag[0] = 0, used = 0),
         sscanf(p, SETTINGS_VERSION ";src=%15[a-z];f=%d;c=%15[a-z];m=%n", src, &frames, crop, &used) != 3 || !used))
        return fs_fail(msg, FS_ERR_FORMAT, "malformed scan settings '%s'", p);
    memcpy(spec->tag, tag, sizeof tag);
    spec->frames_src = !strcmp(src, "frames");
    spec->whole_fallback = !strcmp(crop, "whole");
    spec->frames = frames;
    p += used;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!n || n >= FS_DETECT_NAME_MAX || spec->n_models == FS_DETECT_MAX_MODELS)
            return fs_fail(msg, FS_ERR_FORMAT, "malformed model list in scan settings");
        memcpy(spec->models[spec->n_models], p, n);
        spec->models[spec->n_models++][n] = 0;
        p += n + (end ? 1 : 0);
    }
    if (spec->n_models == 0 || frames < 1 || frames > FS_SCAN_MAX_FRAMES)
        return fs_fail(msg, FS_ERR_FORMAT, "scan settings name no model or a bad frame count");
    return FS_OK;
}

fs_err fs_frame_bundle_make(const uint8_t *const *data, const size_t *len, int n, uint8_t **out,
                            size_t *out_len, fs_msg *msg) {
    *out = NULL;
    *out_len = 0;
    if (n < 1 || n > FS_FRAME_BUNDLE_MAX)
        return fs_fail(msg, FS_ERR_LIMIT, "a frame list holds 1 to %d frames", FS_FRAME_BUNDLE_MAX);
    size_t magic = strlen(FS_FRAME_BUNDLE_MAGIC), total = magic;
    for (int i = 0; i < n; i++) {
        if (len[i] > UINT32_MAX) return fs_fail(msg, FS_ERR_LIMIT, "frame %d is too large", i);
        total += 4 + len[i];
    }
    uint8_t *b = malloc(total);
    if (!b) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    memcpy(b, FS_FRAME_BUNDLE_MAGIC, magic);
    size_t o = magic;
    for (int i = 0; i < n; i++) {
        uint32_t l = (uint32_t)len[i];
        for (int k = 0; k < 4; k++) b[o + k] = (uint8_t)(l >> (8 * k));
        memcpy(b + o + 4, data[i], len[i]);
        o += 4 + len[i];
    }
    *out = b;
    *out_len = total;
    return FS_OK;
}

fs_err fs_frame_bundle_parse(const uint8_t *b, size_t len, const uint8_t **parts, size_t *part_len,
                             int cap, int *n, fs_msg *msg) {
    *n = 0;
    size_t magic = strlen(FS_FRAME_BUNDLE_MAGIC);
    if (len < magic || memcmp(b, FS_FRAME_BUNDLE_MAGIC, magic))
        return fs_fail(msg, FS_ERR_FORMAT, "not a frame bundle");
    size_t o = magic;
    while (o < len) {
        if (len - o < 4) return fs_fail(msg, FS_ERR_FORMAT, "truncated frame bundle");
        uint32_t l = (uint32_t)b[o] | (uint32_t)b[o + 1] << 8 | (uint32_t)b[o + 2] << 16 |
                     (uint32_t)b[o + 3] << 24;
        o += 4;
        if (l > len - o) return fs_fail(msg, FS_ERR_FORMAT, "truncated frame bundle");
        if (*n == cap) return fs_fail(msg, FS_ERR_LIMIT, "more than %d frames in a bundle", cap);
        parts[*n] = b + o;
        part_len[*n] = l;
        (*n)++;
        o += l;
    }
    if (*n == 0) return fs_fail(msg, FS_ERR_FORMAT, "empty frame bundle");
    return FS_OK;
}

static void on_progress(void *ctx, const char *stage, int done, int total) {
    (void)stage;
    /* Scanning is the work; storing the result after it is quick, so stop short of 1. */
    if (total > 0) fs_job_progress(ctx, 0.95 * done / total);
}

/* Decodes a bundle's frames and scans them as one clip. Frames that are not pictures make the
 * whole request bad input (FS_ERR_FORMAT), naming the first. */
static fs_err scan_bundle(fs_scanner *sc, const uint8_t *data, size_t len, const fs_scan_opts *o,
                          fs_scan_result *res, fs_msg *msg) {
    const uint8_t *parts[FS_FRAME_BUNDLE_MAX];
    size_t lens[FS_FRAME_BUNDLE_MAX];
    int n;
    fs_err e = fs_frame_bundle_parse(data, len, parts, lens, FS_FRAME_BUNDLE_MAX, &n, msg);
    if (e != FS_OK) return e;
    fs_image *imgs = calloc((size_t)n, sizeof *imgs);
    if (!imgs) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    const fs_media_decoder *dec = o->decoder;
    for (int i = 0; i < n && e == FS_OK; i++) {
        e = dec ? dec->decode_image(dec->ctx, parts[i], lens[i], &o->image_limits, &imgs[i], msg)
                : fs_image_decode(parts[i], lens[i], &o->image_limits, &imgs[i], msg);
        if (e != FS_OK) fs_msg_prefix(msg, "frame %d: ", i);
    }
    if (e == FS_OK) e = fs_scan_images(sc, imgs, n, o, res, msg);
    for (int i = 0; i < n; i++) fs_image_free(&imgs[i]);
    free(imgs);
    return e;
}

typedef struct scan_handler {
    fs_engine *engine;
    fs_media_pool *media;
    double media_timeout_ms;
} scan_handler;

static fs_err scan_task(void *ctx, fs_job_run *run, const fs_task *task, char result_ref[256],
                        fs_msg *msg) {
    scan_handler *h = ctx;
    fs_engine *engine = h->engine;
    fs_scan_job_spec spec;
    fs_err e = fs_scan_job_parse(task->input_ref, &spec, msg);
    if (e != FS_OK) return fs_fail(msg, FS_ERR_INVALID, "%s", msg->text);
    const char *settings = task->input_ref + FS_SHA256_HEX;
    fs_store *store = fs_job_store(run);

    /* Another node, or an earlier attempt that died after storing, may have the result. */
    char *json = NULL;
    if (fs_store_result_get(store, spec.sha256, settings, &json, msg) == FS_OK) {
        free(json);
        snprintf(result_ref, 256, "%s", task->input_ref);
        return FS_OK;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if ((e = fs_store_blob_get(store, spec.sha256, (size_t)1 << 31, &data, &len, msg)) != FS_OK)
        return e == FS_ERR_NOTFOUND ? fs_fail(msg, FS_ERR_INVALID, "the media is no longer stored") : e;

    const char *names[FS_DETECT_MAX_MODELS];
    for (int i = 0; i < spec.n_models; i++) names[i] = spec.models[i];
    fs_scanner *sc = NULL;
    if ((e = fs_engine_acquire(engine, names, spec.n_models, &sc, msg)) != FS_OK) {
        free(data);
        /* A model that is gone will not come back by retrying. */
        return e == FS_ERR_NOTFOUND ? fs_fail(msg, FS_ERR_INVALID, "%s", msg->text) : e;
    }
    fs_scan_opts o = fs_scan_opts_default();
    o.sampling.count = spec.frames;
    if (spec.whole_fallback) o.crop = FS_CROP_FACES_OR_WHOLE;
    /* One decoder thread per scan (the job workers run scans side by side); the scan still
     * finds faces on every core while that thread decodes, so one upload on an idle server
     * is answered as fast as the machine allows. */
    o.sampling.threads = 1;
    double left = fs_job_remaining_ms(run);
    o.video_limits.max_decode_ms = left > 1 ? left : 1;
    o.progress = on_progress;
    o.progress_ctx = run;
    fs_media_call call = {0};
    fs_media_decoder dec;
    if (h->media) {
        call.pool = h->media;
        snprintf(call.label, sizeof call.label, "task %s", task->id);
        call.deadline_ms = fs_now_ms() + (left < h->media_timeout_ms ? left : h->media_timeout_ms);
        /* jobs retry only errors that may pass (a first crash is FS_ERR_INTERNAL): from the
         * second attempt on, a crash is the media's and final */
        call.crashes_before = fs_job_attempt(run) > 1;
        dec = fs_media_pool_decoder(&call);
        o.decoder = &dec;
    }
    fs_scan_result res = {0};
    e = spec.frames_src ? scan_bundle(sc, data, len, &o, &res, msg)
                        : fs_scan_memory(sc, data, len, &o, &res, msg);
    fs_engine_release(engine, sc);
    free(data);
    if (e == FS_OK) {
        fs_metrics *m = fs_job_metrics(run);
        for (int k = 0; m && k < res.n_models; k++) {
            uint64_t n = 0;
            for (int f = 0; f < res.n_frames; f++) n += (uint64_t)res.frames[f].n_faces;
            if (res.whole_image) n = (uint64_t)res.n_frames;
            if (n) fs_metrics_inference(m, res.models[k], n);
        }
        json_t *j = fs_scan_result_json(&res, NULL);
        char *text = j ? fs_json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory writing the result");
        else e = fs_store_result_put_once(store, spec.sha256, settings, text, NULL, msg); /* a rerun after a lost lease keeps the first */
        free(text);
    }
    fs_scan_result_free(&res);
    if (e == FS_OK) snprintf(result_ref, 256, "%s", task->input_ref);
    return e;
}

fs_err fs_jobs_add_scan(fs_jobs *j, fs_engine *engine, fs_media_pool *media,
                        double media_timeout_ms, fs_msg *msg) {
    if (!engine) return fs_fail(msg, FS_ERR_INVALID, "scan tasks need an engine");
    scan_handler *h = calloc(1, sizeof *h);
    if (!h) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    h->engine = engine;
    h->media = media;
    h->media_timeout_ms = media_timeout_ms > 0 ? media_timeout_ms : FS_MEDIA_WORKER_TIMEOUT_MS_DEFAULT;
    fs_err e = fs_jobs_handle_owned(j, FS_JOB_KIND_SCAN, scan_task, h, free, msg);
    if (e) free(h);
    return e;
}
