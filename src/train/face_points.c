/* face_points.c: the 68 landmarks of every real training picture, which self-blending as
 * published needs to draw its mask along the face's own outline (fs_blend_sbi).
 *
 * Training pictures are mostly face crops: the face fills the frame, where a detector trained
 * on scenes is least sure. So a picture without a face at first is looked at again inside a
 * black border of half its size on each side, and the box mapped back. The best face wins; its
 * box goes to the landmark network. Results are shares of the picture's width and height, so
 * the loader can place them on the picture at any input size.
 *
 * The pass costs a few tens of milliseconds a picture: its result is cached as CSV (path and
 * 136 numbers a line) and read back by the next run over the same dataset. */
#include "fakescope/blazeface.h"
#include "fakescope/dataset.h"
#include "fakescope/landmarks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_HEADER "# fakescope landmarks v1: path, then x0 y0 .. x67 y67 as shares of width, height"
#define LINE_CAP (4096 + FS_ITEM_LANDMARKS * 16)

static int wanted(const fs_item *it) { return it->label == 0 && it->kind == FS_ITEM_IMAGE; }

/* Item indices of ds ordered by path, so the cache can be looked up whatever order the items
 * are in (video crops are appended after the pictures). */
static int by_path(const void *a, const void *b, void *ctx) {
    const fs_dataset *ds = ctx;
    return strcmp(ds->items[*(const size_t *)a].path, ds->items[*(const size_t *)b].path);
}

/* Index of path in ds through order (from by_path), or -1. */
static long find_item(const fs_dataset *ds, const size_t *order, const char *path) {
    size_t lo = 0, hi = ds->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ds->items[order[mid]].path, path);
        if (!c) return (long)order[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Fills lm from the cache; marks each item read in done. Missing or foreign files read as
 * empty: the pass then looks at every picture again. */
static void read_cache(const fs_dataset *ds, const char *path, float *lm, unsigned char *done,
                       size_t *cached) {
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return;
    char *line = malloc(LINE_CAP);
    size_t *order = malloc((ds->count + 1) * sizeof *order);
    for (size_t i = 0; order && i < ds->count; i++) order[i] = i;
    if (order) qsort_r(order, ds->count, sizeof *order, by_path, (void *)ds);
    if (line && order && fgets(line, LINE_CAP, f) && !strncmp(line, CACHE_HEADER, strlen(CACHE_HEADER))) {
        while (fgets(line, LINE_CAP, f)) {
            char *comma = strchr(line, ',');
            if (!comma) continue;
            *comma = 0;
            long i = find_item(ds, order, line);
            if (i < 0 || done[i]) continue;
            float v[FS_ITEM_LANDMARKS];
            char *p = comma + 1, *end;
            int k = 0;
            for (; k < FS_ITEM_LANDMARKS; k++, p = end + (*end == ',')) {
                v[k] = strtof(p, &end);
                if (end == p) break;
            }
            if (k != FS_ITEM_LANDMARKS) continue;
            memcpy(lm + (size_t)i * FS_ITEM_LANDMARKS, v, sizeof v);
            done[i] = 1;
            if (!isnan(v[0])) (*cached)++;
        }
    }
    free(order);
    free(line);
    fclose(f);
}

static fs_err write_cache(const fs_dataset *ds, const char *path, const float *lm,
                          const unsigned char *done, fs_msg *msg) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%.4000s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return fs_fail(msg, FS_ERR_IO, "cannot write %s", tmp);
    fprintf(f, "%s\n", CACHE_HEADER);
    for (size_t i = 0; i < ds->count; i++) {
        if (!done[i]) continue;
        fputs(ds->items[i].path, f);
        for (int k = 0; k < FS_ITEM_LANDMARKS; k++)
            fprintf(f, ",%.6g", (double)lm[i * FS_ITEM_LANDMARKS + k]);
        fputc('\n', f);
    }
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return fs_fail(msg, FS_ERR_IO, "cannot write %s", path);
    }
    return FS_OK;
}

/* The best face of img, looked for again inside a border when the crop is all face. */
static int best_face(fs_blazeface *bf, const fs_image *img, fs_rectf *box) {
    fs_face_det *faces = NULL;
    size_t n = 0;
    fs_msg msg;
    if (!fs_blazeface_detect(bf, img, NULL, &faces, &n, &msg) && n > 0) {
        *box = faces[0].box;
        free(faces);
        return 1;
    }
    free(faces);
    const int pad_x = img->w / 2, pad_y = img->h / 2;
    fs_image big = {0};
    if (fs_image_alloc(&big, img->w + 2 * pad_x, img->h + 2 * pad_y, &msg)) return 0;
    memset(big.rgb, 0, (size_t)big.w * big.h * 3);
    for (int y = 0; y < img->h; y++)
        memcpy(big.rgb + ((size_t)(y + pad_y) * big.w + pad_x) * 3, img->rgb + (size_t)y * img->w * 3,
               (size_t)img->w * 3);
    int found = 0;
    if (!fs_blazeface_detect(bf, &big, NULL, &faces, &n, &msg) && n > 0) {
        *box = faces[0].box;
        box->x -= (float)pad_x, box->y -= (float)pad_y;
        found = 1;
    }
    free(faces);
    fs_image_free(&big);
    return found;
}

fs_err fs_dataset_landmarks(const fs_dataset *ds, const char *face_model,
                            const char *landmark_model, const char *cache_path, float **out,
                            fs_landmark_stats *st, fs_msg *msg) {
    *out = NULL;
    memset(st, 0, sizeof *st);
    float *lm = malloc((ds->count ? ds->count : 1) * FS_ITEM_LANDMARKS * sizeof(float));
    unsigned char *done = calloc(ds->count ? ds->count : 1, 1);
    if (!lm || !done) {
        free(lm), free(done);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for landmarks");
    }
    for (size_t i = 0; i < ds->count * FS_ITEM_LANDMARKS; i++) lm[i] = NAN;
    read_cache(ds, cache_path, lm, done, &st->cached);

    size_t todo = 0;
    for (size_t i = 0; i < ds->count; i++) todo += wanted(&ds->items[i]) && !done[i];
    fs_blazeface *bf = NULL;
    fs_landmarks *net = NULL;
    fs_err err = FS_OK;
    if (todo) {
        char path[4096];
        err = fs_blazeface_find(face_model, path, sizeof path, msg);
        if (!err) err = fs_blazeface_load(path, &bf, msg);
        if (!err)
            err = fs_face_model_find(landmark_model ? landmark_model : FS_LANDMARKS_DEFAULT_NAME,
                                     "json", path, sizeof path, msg);
        if (!err) err = fs_landmarks_load(path, &net, msg);
    }
    const fs_image_limits limits = fs_image_limits_default();
    for (size_t i = 0; !err && i < ds->count; i++) {
        const fs_item *it = &ds->items[i];
        if (!wanted(it) || done[i]) continue;
        done[i] = 1;
        fs_image img = {0};
        fs_msg imsg;
        fs_rectf box;
        fs_point2f pts[FS_LANDMARKS_POINTS];
        if (fs_image_load(it->path, &limits, &img, &imsg)) continue; /* the loader counts it */
        if (best_face(bf, &img, &box) && !fs_landmarks_run(net, &img, box, pts, &imsg))
            for (int k = 0; k < FS_LANDMARKS_POINTS; k++) {
                lm[i * FS_ITEM_LANDMARKS + 2 * k] = pts[k].x / (float)img.w;
                lm[i * FS_ITEM_LANDMARKS + 2 * k + 1] = pts[k].y / (float)img.h;
            }
        fs_image_free(&img);
    }
    fs_blazeface_free(bf);
    fs_landmarks_free(net);
    if (!err && todo && cache_path) err = write_cache(ds, cache_path, lm, done, msg);
    for (size_t i = 0; i < ds->count; i++)
        if (wanted(&ds->items[i])) {
            st->items++;
            st->found += !isnan(lm[i * FS_ITEM_LANDMARKS]);
        }
    free(done);
    if (err) {
        free(lm);
        return err;
    }
    *out = lm;
    return FS_OK;
}
