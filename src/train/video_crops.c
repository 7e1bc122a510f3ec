/* video_crops.c: turns the video items of a dataset into face-crop images a trainer can load,
 * cut exactly as the scan pipeline cuts them at inference. Each video goes through a
 * crops-only scan (detect.h: N evenly sampled frames, the scan's face finder (the learned
 * detector unless face_detector is "haar", the cascade with its default parameters),
 * the tracker, the main-person rule, the 30% margin or the face aligned on its landmarks
 * (align_margin), resize to 256x256), and the main person's
 * crop of every sampled frame becomes one image item that inherits the video's label, source,
 * group and split: a video's crops can never land on two sides of a split.
 *
 * Decoding and face finding cost a few hundred milliseconds per frame, so the crops are cached
 * as PNG (lossless: the crop keeps the video's own compression artefacts) in one folder per
 * (video path, frame count), with an index file written last: a folder without its index is
 * an interrupted extraction and is redone. Videos are spread over worker threads, each with its
 * own scanner on one shared read-only detector; results are gathered per video and added in
 * video order, so the crop list does not depend on thread timing.
 *
 * With pictures set, a picture is a one-frame video: its main face becomes its one crop, cut
 * as the scan of that picture cuts it, so a model trained on faces found in pictures sees at
 * inference the very crop it learned from. */
#include "fakescope/blazeface.h"
#include "fakescope/dataset.h"
#include "fakescope/detect.h"
#include "fakescope/sha256.h"
#include "train/dataset_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CROPS_MAX_FRAMES 1024
#define CROPS_MAX_THREADS 16
#define CROPS_PATH_CAP 4096
#define CROPS_DIR_CAP (CROPS_PATH_CAP - 64) /* room for the file name after the folder */
#define CROPS_INDEX "crops.txt"
#define CROPS_INDEX_MAX (1u << 20)

typedef struct video_out {
    int n;           /* crops of the main person */
    int *frame;      /* sampled-frame ordinal of each crop */
    int no_face;     /* 1 when no frame had a face */
    int cached;
    fs_err err;
    char error[FS_MSG_MAX];
} video_out;

typedef struct crops_job {
    const fs_dataset *ds;
    const fs_video_crops_config *cfg;
    fs_detector *det;
    const size_t *videos; /* item indices of the videos */
    size_t nvideos;
    video_out *out;
    pthread_mutex_t mu;
    size_t next;
} crops_job;

/* The cache folder of one video: <cache>/<stem>-<16 hex of sha256(path, frames)>. The folder
 * names order the crops manifest, so they stay put; the scan parameters the crops were cut
 * with are checked through the index instead (scan_params). */
static void video_dir(const fs_video_crops_config *cfg, const fs_item *it, char *dir, size_t cap) {
    char key[CROPS_PATH_CAP + 32], hex[FS_SHA256_HEX];
    const char *path = it->path;
    /* box crops of videos keep the key they always had, so their caches stay valid; a picture
     * is keyed as 0 frames, which no video has */
    const int frames = it->kind == FS_ITEM_VIDEO ? cfg->frames : 0;
    int n = !cfg->aligned ? snprintf(key, sizeof key, "%s\n%d", path, frames)
                                  : snprintf(key, sizeof key, "%s\n%d\naligned %.9g", path, frames,
                                             (double)cfg->align_margin);
    if (fs_sha256_hex(key, (size_t)(n > 0 ? n : 0), hex)) hex[0] = '\0';
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
    if (stem > 64) stem = 64;
    snprintf(dir, cap, "%.*s/%.*s-%.16s", (int)(CROPS_DIR_CAP - 96), cfg->cache_dir, stem, base, hex);
}

/* The index's second line: the face and crop parameters of fs_scan_opts_default(). A cache cut
 * with other defaults (or before this line existed) does not match and is cut again. */
static void scan_params(const fs_video_crops_config *cfg, char *out, size_t cap) {
    const fs_scan_opts o = fs_scan_opts_default();
    snprintf(out, cap, "scan %s %.17g %d %d %d %.17g %d %.9g",
             cfg->face_detector && !strcmp(cfg->face_detector, "haar") ? "haar" : "blazeface",
             o.face.scale_factor,
             o.face.min_neighbors, o.face.min_size, o.face.max_size, o.face.min_share,
             o.face.max_side, (double)o.margin);
    if (cfg->aligned) {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, " aligned %.9g", (double)cfg->align_margin);
    }
    if (cfg->pictures) { /* pictures get a second look for close-ups */
        size_t used = strlen(out);
        snprintf(out + used, cap - used, " closeup %.9g", (double)FS_BLAZEFACE_CLOSEUP_PAD);
    }
}

static void crop_path(const char *dir, int frame, char *out, size_t cap) {
    snprintf(out, cap, "%s/f%04d.png", dir, frame);
}

/* Reads a finished cache folder's index ("frames N", the scan_params line, then one ordinal
 * per line). 0 when usable. */
static int read_index(const fs_video_crops_config *cfg, const char *dir, int frames, video_out *v) {
    char path[CROPS_PATH_CAP];
    snprintf(path, sizeof path, "%s/" CROPS_INDEX, dir);
    uint8_t *data = NULL;
    size_t len = 0;
    fs_msg m;
    if (fs_read_file(path, CROPS_INDEX_MAX, &data, &len, &m)) return -1;
    char *text = realloc(data, len + 1);
    if (!text) return free(data), -1;
    text[len] = '\0';
    int got_frames = -1, got_params = 0, n = 0, ok = 1;
    int *list = malloc((size_t)frames * sizeof *list + 1);
    char *save = NULL, params[160];
    scan_params(cfg, params, sizeof params);
    for (char *line = strtok_r(text, "\n", &save); line && ok && list; line = strtok_r(NULL, "\n", &save)) {
        if (got_frames < 0) {
            ok = sscanf(line, "frames %d", &got_frames) == 1 && got_frames == frames;
            continue;
        }
        if (!got_params) {
            ok = got_params = strcmp(line, params) == 0;
            continue;
        }
        int f;
        ok = sscanf(line, "%d", &f) == 1 && f >= 0 && f < frames && n < frames;
        if (ok) {
            crop_path(dir, f, path, sizeof path);
            ok = access(path, R_OK) == 0;
            list[n++] = f;
        }
    }
    free(text);
    if (!ok || !list || got_frames != frames || !got_params) return free(list), -1;
    v->frame = list, v->n = n, v->no_face = n == 0, v->cached = 1;
    return 0;
}

/* Scans one video and writes its main person's crops and then the index. */
static fs_err extract_one(fs_scanner *sc, const fs_video_crops_config *cfg, const char *path,
                          int frames, const char *dir, video_out *v, fs_msg *msg) {
    fs_scan_opts o = fs_scan_opts_default();
    o.sampling.mode = FS_VIDEO_SAMPLE_COUNT;
    o.sampling.count = frames;
    o.keep_crops = 1;
    o.align_margin = cfg->aligned ? cfg->align_margin : -1.0f;
    fs_scan_result r;
    fs_err err = fs_scan_file(sc, path, &o, &r, msg);
    if (err) return err;
    err = fs_mkdirs(dir, msg);
    v->frame = malloc(((size_t)r.n_frames + 1) * sizeof *v->frame);
    if (!err && !v->frame) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    size_t cap = 256 + (size_t)r.n_frames * 8, used = 0;
    char *index = malloc(cap), file[CROPS_PATH_CAP];
    if (!err && !index) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (!err) {
        char params[160];
        scan_params(cfg, params, sizeof params);
        used += (size_t)snprintf(index, cap, "frames %d\n%s\n", frames, params);
    }
    for (int f = 0; !err && f < r.n_frames; f++) {
        const fs_scan_frame *fr = &r.frames[f];
        for (int k = 0; !err && k < fr->n_faces; k++) {
            /* the tracker gives a person one face per frame; the eval judges the same one */
            if (fr->faces[k].track != r.main_person) continue;
            assert(fr->faces[k].crop_img.w == FS_DETECT_CROP_SIDE);
            crop_path(dir, f, file, sizeof file);
            err = fs_image_save(&fr->faces[k].crop_img, file, msg);
            v->frame[v->n++] = f;
            used += (size_t)snprintf(index + used, cap - used, "%d\n", f);
            break;
        }
    }
    fs_scan_result_free(&r);
    if (!err) {
        char ipath[CROPS_PATH_CAP];
        snprintf(ipath, sizeof ipath, "%s/" CROPS_INDEX, dir);
        err = fs_write_file(ipath, index, used, msg);
    }
    free(index);
    v->no_face = v->n == 0;
    return err;
}

static void *crops_worker(void *arg) {
    crops_job *j = arg;
    fs_scanner *sc = NULL;
    fs_msg m = {{0}};
    fs_err serr = fs_scanner_create(j->det, 1, &sc, &m);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        const size_t i = j->next < j->nvideos ? j->next++ : j->nvideos;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->nvideos) break;
        video_out *v = &j->out[i];
        const fs_item *it = &j->ds->items[j->videos[i]];
        char dir[CROPS_DIR_CAP];
        video_dir(j->cfg, it, dir, sizeof dir);
        if (read_index(j->cfg, dir, it->kind == FS_ITEM_VIDEO ? j->cfg->frames : 1, v) == 0) continue;
        fs_msg vm = {{0}};
        v->err = serr ? serr : extract_one(sc, j->cfg, it->path, it->kind == FS_ITEM_VIDEO ? j->cfg->frames : 1, dir, v, &vm);
        if (v->err) snprintf(v->error, sizeof v->error, "%.200s: %.300s", it->path, serr ? m.text : vm.text);
    }
    fs_scanner_free(sc);
    return NULL;
}

fs_err fs_dataset_video_crops(const fs_dataset *ds, const fs_video_crops_config *cfg,
                              fs_dataset *crops, fs_video_crops_stats *st, fs_msg *msg) {
    assert(ds && cfg && crops);
    fs_video_crops_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    if (cfg->frames < 1 || cfg->frames > CROPS_MAX_FRAMES)
        return fs_fail(msg, FS_ERR_INVALID, "frames per video %d is not in 1..%d", cfg->frames,
                       CROPS_MAX_FRAMES);
    if (cfg->threads < 1 || cfg->threads > CROPS_MAX_THREADS)
        return fs_fail(msg, FS_ERR_INVALID, "threads %d is not in 1..%d", cfg->threads,
                       CROPS_MAX_THREADS);
    if (!cfg->cache_dir || !cfg->cache_dir[0])
        return fs_fail(msg, FS_ERR_INVALID, "a cache folder is needed for video crops");
    crops_job j = {.ds = ds, .cfg = cfg};
    size_t *videos = malloc((ds->count + 1) * sizeof *videos);
    if (!videos) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ds->count; i++) {
        const int video = ds->items[i].kind == FS_ITEM_VIDEO;
        if (video || (cfg->pictures && ds->items[i].kind == FS_ITEM_IMAGE)) videos[j.nvideos++] = i;
        st->videos += (size_t)video;
        st->pictures += (size_t)!video && cfg->pictures && ds->items[i].kind == FS_ITEM_IMAGE;
    }
    j.videos = videos;
    if (j.nvideos == 0) return free(videos), FS_OK;
    fs_err err = fs_mkdirs(cfg->cache_dir, msg);
    j.out = calloc(j.nvideos, sizeof *j.out);
    if (!err && !j.out) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (!err) err = fs_detector_create(&j.det, msg);
    /* loaded before the workers start: they share the detector read-only */
    if (!err)
        err = cfg->face_detector && !strcmp(cfg->face_detector, "haar")
                  ? fs_detector_load_cascade(j.det, cfg->cascade, msg)
                  : fs_detector_load_blazeface(j.det, cfg->face_model, msg);
    /* the workers share the detector: landmarks for aligned crops are loaded before they start */
    if (!err && cfg->aligned && !(cfg->face_detector && !strcmp(cfg->face_detector, "haar")))
        err = fs_detector_load_landmarks(j.det, NULL, msg);
    if (!err) {
        pthread_mutex_init(&j.mu, NULL);
        pthread_t th[CROPS_MAX_THREADS];
        int started = 0;
        const int want = (size_t)cfg->threads < j.nvideos ? cfg->threads : (int)j.nvideos;
        for (int t = 0; t < want; t++)
            if (pthread_create(&th[t], NULL, crops_worker, &j) == 0) started++;
        if (!started) crops_worker(&j); /* no thread could start: do the work here */
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        pthread_mutex_destroy(&j.mu);
    }
    for (size_t i = 0; !err && i < j.nvideos; i++) {
        const video_out *v = &j.out[i];
        const fs_item *it = &ds->items[videos[i]];
        if (v->err) {
            st->failed++;
            snprintf(st->last_error, sizeof st->last_error, "%s", v->error);
            continue;
        }
        st->cached += (size_t)v->cached;
        st->no_face += (size_t)v->no_face;
        char dir[CROPS_DIR_CAP], file[CROPS_PATH_CAP];
        video_dir(cfg, it, dir, sizeof dir);
        for (int k = 0; !err && k < v->n; k++) {
            crop_path(dir, v->frame[k], file, sizeof file);
            fs_item c = {.path = fs_pool_strdup(crops, file),
                         .source = fs_pool_strdup(crops, it->source),
                         .group = fs_pool_strdup(crops, it->group),
                         .label = it->label,
                         .kind = FS_ITEM_IMAGE,
                         .split = it->split};
            if (!c.path || !c.source || !c.group) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            if (!err) err = fs_dataset_push(crops, &c, msg);
            st->crops++;
        }
    }
    if (!err) fs_dataset_sort(crops);
    if (!err && st->failed == j.nvideos)
        err = fs_fail(msg, FS_ERR_FORMAT, "no video or picture could be cropped (last: %s)", st->last_error);
    for (size_t i = 0; j.out && i < j.nvideos; i++) free(j.out[i].frame);
    free(j.out);
    fs_detector_free(j.det);
    free(videos);
    return err;
}

fs_err fs_dataset_append(fs_dataset *dst, const fs_dataset *src, fs_msg *msg) {
    assert(dst && src && dst != src);
    for (size_t i = 0; i < src->count; i++) {
        const fs_item *s = &src->items[i];
        fs_item c = *s;
        c.path = fs_pool_strdup(dst, s->path);
        c.source = fs_pool_strdup(dst, s->source);
        c.group = fs_pool_strdup(dst, s->group);
        if (!c.path || !c.source || !c.group) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        fs_err err = fs_dataset_push(dst, &c, msg);
        if (err) return err;
    }
    fs_dataset_sort(dst);
    return FS_OK;
}
