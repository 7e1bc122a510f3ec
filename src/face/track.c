/* track.c: what happens to boxes after detection: overlap (IoU), non-maximum suppression for
 * model post-processing, the square crops fed to the models, and the IoU tracker that gives each
 * person in a video a stable id so that scores can be pooled per person.
 *
 * The tracker is deliberately simple (greedy IoU matching against each track's last box, then
 * greedy matching of what is left by centre distance, landmarks' centres where both faces have
 * landmarks, then mutual nearest neighbours between consecutive samples): the frames it sees
 * are sparse samples, motion models would overfit them, and a wrong merge is visible in the
 * per-person report rather than silently averaged away. */
#include "fakescope/face.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- overlap ---- */

float fs_rectf_iou(fs_rectf a, fs_rectf b) {
    if (!(a.w > 0 && a.h > 0 && b.w > 0 && b.h > 0)) return 0.f;
    float x0 = fmaxf(a.x, b.x), y0 = fmaxf(a.y, b.y);
    float x1 = fminf(a.x + a.w, b.x + b.w), y1 = fminf(a.y + a.h, b.y + b.h);
    if (x1 <= x0 || y1 <= y0) return 0.f;
    float inter = (x1 - x0) * (y1 - y0);
    return inter / (a.w * a.h + b.w * b.h - inter);
}

float fs_box_iou(fs_box a, fs_box b) {
    if (a.w <= 0 || a.h <= 0 || b.w <= 0 || b.h <= 0) return 0.f;
    long x0 = a.x > b.x ? a.x : b.x, y0 = a.y > b.y ? a.y : b.y;
    long x1 = (long)a.x + a.w < (long)b.x + b.w ? (long)a.x + a.w : (long)b.x + b.w;
    long y1 = (long)a.y + a.h < (long)b.y + b.h ? (long)a.y + a.h : (long)b.y + b.h;
    if (x1 <= x0 || y1 <= y0) return 0.f;
    double inter = (double)(x1 - x0) * (y1 - y0);
    return (float)(inter / ((double)a.w * a.h + (double)b.w * b.h - inter));
}

/* ---- non-maximum suppression ---- */

static int by_score_desc(const void *pa, const void *pb, void *ctx) {
    const float *scores = ctx;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    /* NaN scores sort last */
    int na = isnan(scores[a]), nb = isnan(scores[b]);
    if (na != nb) return na - nb;
    if (!na && scores[a] != scores[b]) return scores[a] > scores[b] ? -1 : 1;
    return (a > b) - (a < b);
}

size_t fs_nms(const fs_rectf *boxes, const float *scores, size_t n, float iou_threshold,
              size_t *keep) {
    for (size_t i = 0; i < n; i++) keep[i] = i;
    qsort_r(keep, n, sizeof *keep, by_score_desc, (void *)scores);
    /* keep[0..kept) are the survivors so far; kept <= i, so the array is compacted in place */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t cand = keep[i];
        int suppressed = 0;
        for (size_t j = 0; j < kept && !suppressed; j++)
            suppressed = fs_rectf_iou(boxes[keep[j]], boxes[cand]) > iou_threshold;
        if (!suppressed) keep[kept++] = cand;
    }
    return kept;
}

/* ---- crops ---- */

static long floor_half(long v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

fs_box fs_face_crop_box(fs_box face, float margin, int frame_w, int frame_h) {
    if (!(margin >= 0)) margin = 0;
    int side0 = face.w > face.h ? face.w : face.h;
    long side = lrint(side0 * (1.0 + margin));
    /* centre kept in doubled coordinates to stay exact for odd sizes */
    long cx2 = 2L * face.x + face.w, cy2 = 2L * face.y + face.h;
    long x0 = floor_half(cx2 - side), y0 = floor_half(cy2 - side);
    long x1 = x0 + side, y1 = y0 + side;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > frame_w) x1 = frame_w;
    if (y1 > frame_h) y1 = frame_h;
    if (x1 < x0) x1 = x0;
    if (y1 < y0) y1 = y0;
    return (fs_box){(int)x0, (int)y0, (int)(x1 - x0), (int)(y1 - y0)};
}

fs_err fs_face_crop(const fs_image *frame, fs_box face, float margin, int out_w, int out_h,
                    fs_image *out, fs_box *used, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (!frame || !frame->rgb || out_w <= 0 || out_h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "face crop needs a frame and an output size");
    fs_box b = fs_face_crop_box(face, margin, frame->w, frame->h);
    if (used) *used = b;
    if (b.w <= 0 || b.h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "face box (%d, %d, %d, %d) is outside the %dx%d frame",
                       face.x, face.y, face.w, face.h, frame->w, frame->h);
    fs_image cut = {0};
    fs_err err = fs_image_crop(frame, b.x, b.y, b.w, b.h, &cut, msg);
    if (err) return err;
    err = fs_image_resize(&cut, out_w, out_h, out, msg);
    fs_image_free(&cut);
    return err;
}

/* ---- tracking ---- */

typedef struct track {
    fs_box last;
    float cx, cy; /* the face's centre in its last frame: landmarks' mean, or the box centre */
    int has_lm;   /* the centre came from landmarks */
    int last_frame;
    int id;
} track;

struct fs_tracker {
    float iou_threshold;
    int max_gap;
    int next_id;
    int last_frame;
    track *tracks; /* live tracks */
    size_t n, cap;
};

#define TRACK_NEAR 0.75       /* centre distance, as a share of the larger box side */
#define TRACK_FAR 2.0         /* the same, for a face and a track of the previous frame that are
                               * each other's nearest (third stage) */
#define TRACK_SIZE_RATIO 1.6  /* larger side over smaller side */

typedef struct pair {
    float iou;
    size_t box, track;
} pair;

fs_err fs_tracker_create(float iou_threshold, int max_gap, fs_tracker **out, fs_msg *msg) {
    *out = NULL;
    if (!(iou_threshold > 0 && iou_threshold <= 1) || max_gap < 0)
        return fs_fail(msg, FS_ERR_INVALID, "tracker needs 0 < IoU threshold <= 1 and max gap >= 0");
    fs_tracker *t = calloc(1, sizeof *t);
    if (!t) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a tracker");
    t->iou_threshold = iou_threshold;
    t->max_gap = max_gap;
    t->last_frame = -1;
    *out = t;
    return FS_OK;
}

void fs_tracker_free(fs_tracker *t) {
    if (!t) return;
    free(t->tracks);
    free(t);
}

int fs_tracker_count(const fs_tracker *t) { return t->next_id; }

static int by_iou_desc(const void *pa, const void *pb) {
    const pair *a = pa, *b = pb;
    if (a->iou != b->iou) return a->iou > b->iou ? -1 : 1;
    if (a->track != b->track) return a->track < b->track ? -1 : 1;
    return (a->box > b->box) - (a->box < b->box);
}

/* A face of this frame as the matching sees it: its box and its centre, found once. */
typedef struct place {
    fs_box box;
    float cx, cy; /* the mean of its landmarks when it has them (they mark the face itself,
                   * where a box moves with the detector's framing: hair, a hand, a turned
                   * head), else its box centre */
    int has_lm;
} place;

static place place_of(const fs_track_face *f) {
    place p = {f->box, f->box.x + f->box.w / 2.0f, f->box.y + f->box.h / 2.0f, f->lm != NULL};
    if (f->lm) {
        double sx = 0, sy = 0;
        for (int i = 0; i < FS_TRACK_LANDMARKS; i++) sx += f->lm[i][0], sy += f->lm[i][1];
        p.cx = (float)(sx / FS_TRACK_LANDMARKS), p.cy = (float)(sy / FS_TRACK_LANDMARKS);
    }
    return p;
}

/* How far face f is from track k's last face, in units of the larger box side: centre to
 * centre, by landmarks when both have them, by boxes otherwise. Negative when the sizes
 * differ by more than TRACK_SIZE_RATIO (someone else). */
static double face_distance(const place *f, const track *k) {
    const fs_box a = f->box, l = k->last;
    if (a.w <= 0 || l.w <= 0) return -1;
    const double sa = a.w > a.h ? a.w : a.h, sl = l.w > l.h ? l.w : l.h;
    const double side = sa > sl ? sa : sl, ratio = sa > sl ? sa / sl : sl / sa;
    if (ratio > TRACK_SIZE_RATIO) return -1;
    double dx, dy;
    if (f->has_lm && k->has_lm) {
        dx = f->cx - k->cx, dy = f->cy - k->cy;
    } else {
        dx = (a.x + a.w / 2.0) - (l.x + l.w / 2.0), dy = (a.y + a.h / 2.0) - (l.y + l.h / 2.0);
    }
    return sqrt(dx * dx + dy * dy) / side;
}

/* Matches what pairs (sorted best first) allow, one box per track. */
static void take_pairs(const pair *pairs, size_t np, char *box_used, char *track_used,
                       const fs_tracker *t, int *ids) {
    for (size_t i = 0; i < np; i++) {
        pair p = pairs[i];
        if (box_used[p.box] || track_used[p.track]) continue;
        box_used[p.box] = track_used[p.track] = 1;
        ids[p.box] = t->tracks[p.track].id;
    }
}

fs_err fs_tracker_update_faces(fs_tracker *t, int frame, const fs_track_face *faces, size_t n,
                               int *ids, fs_msg *msg) {
    if (frame < t->last_frame)
        return fs_fail(msg, FS_ERR_INVALID, "tracker frames must not go back (%d after %d)", frame,
                       t->last_frame);
    t->last_frame = frame;
    /* retire tracks unseen for too long */
    if (t->max_gap > 0) {
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++)
            if (frame - t->tracks[i].last_frame <= t->max_gap) t->tracks[k++] = t->tracks[i];
        t->n = k;
    }
    if (n == 0) return FS_OK;
    size_t np = 0;
    pair *pairs = malloc(n * (t->n ? t->n : 1) * sizeof *pairs);
    char *box_used = calloc(n, 1), *track_used = calloc(t->n ? t->n : 1, 1);
    place *at = malloc(n * sizeof *at);
    if (!pairs || !box_used || !track_used || !at) {
        free(pairs), free(box_used), free(track_used), free(at);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory tracking %zu boxes", n);
    }
    for (size_t b = 0; b < n; b++) at[b] = place_of(&faces[b]);
    for (size_t i = 0; i < n; i++) ids[i] = -1;
    /* First stage: overlap. */
    for (size_t b = 0; b < n; b++)
        for (size_t k = 0; k < t->n; k++) {
            /* a track already extended in this frame cannot take a second box */
            if (t->tracks[k].last_frame == frame) continue;
            float iou = fs_box_iou(at[b].box, t->tracks[k].last);
            if (iou >= t->iou_threshold) pairs[np++] = (pair){iou, b, k};
        }
    if (np) qsort(pairs, np, sizeof *pairs, by_iou_desc);
    take_pairs(pairs, np, box_used, track_used, t, ids);
    /* Second stage, for what overlap left: samples a third of a second apart let a turning or
     * moving head leave its last box entirely (measured on FF++: one person split into two
     * tracks). A face whose centre lies within TRACK_NEAR of the larger side from a free
     * track's last centre, and whose size is within TRACK_SIZE_RATIO of it, is that person. */
    np = 0;
    for (size_t b = 0; b < n; b++)
        for (size_t k = 0; k < t->n && !box_used[b]; k++) {
            if (track_used[k] || t->tracks[k].last_frame == frame) continue;
            const double d = face_distance(&at[b], &t->tracks[k]);
            /* pairs sort by decreasing "iou": store closeness 1 - d */
            if (d >= 0 && d <= TRACK_NEAR) pairs[np++] = (pair){(float)(1 - d), b, k};
        }
    if (np) qsort(pairs, np, sizeof *pairs, by_iou_desc);
    take_pairs(pairs, np, box_used, track_used, t, ids);
    /* Third stage: samples far apart (a long video's 32 frames are seconds apart) let a walking
     * person move further than that (FF++ walking clips: 0.8 to 1.4 sides between samples, and
     * each step split them). A face and a track seen in frame - 1 are linked up to
     * TRACK_FAR when each is the other's nearest among those left and their sizes agree, so
     * two people who both moved keep their ids. (Someone who leaves as another enters in the
     * same step would be merged: the per-person report shows it.) */
    if (frame > 0) {
        for (size_t b = 0; b < n; b++) {
            if (box_used[b]) continue;
            size_t best_k = SIZE_MAX;
            double best = INFINITY;
            for (size_t k = 0; k < t->n; k++) {
                if (track_used[k] || t->tracks[k].last_frame != frame - 1) continue;
                const double d = face_distance(&at[b], &t->tracks[k]);
                if (d >= 0 && d < best) best = d, best_k = k;
            }
            if (best_k == SIZE_MAX || best > TRACK_FAR) continue;
            /* mutual: no other face left is nearer to that track */
            int mutual = 1;
            for (size_t o = 0; o < n && mutual; o++) {
                if (o == b || box_used[o]) continue;
                const double d = face_distance(&at[o], &t->tracks[best_k]);
                if (d >= 0 && d < best) mutual = 0;
            }
            if (!mutual) continue;
            box_used[b] = track_used[best_k] = 1;
            ids[b] = t->tracks[best_k].id;
        }
    }
    /* apply matches after matching, so a track's face is not changed mid-frame */
    for (size_t b = 0; b < n; b++)
        if (ids[b] >= 0)
            for (size_t k = 0; k < t->n; k++)
                if (t->tracks[k].id == ids[b]) {
                    track *tk = &t->tracks[k];
                    tk->last = at[b].box;
                    tk->cx = at[b].cx, tk->cy = at[b].cy, tk->has_lm = at[b].has_lm;
                    tk->last_frame = frame;
                    break;
                }
    free(pairs), free(box_used), free(track_used);
    for (size_t b = 0; b < n; b++) {
        if (ids[b] >= 0) continue;
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 8;
            track *nt = realloc(t->tracks, cap * sizeof *nt);
            if (!nt) {
                free(at);
                return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a new track");
            }
            t->tracks = nt, t->cap = cap;
        }
        ids[b] = t->next_id++;
        t->tracks[t->n++] = (track){.last = at[b].box, .cx = at[b].cx, .cy = at[b].cy,
                                    .has_lm = at[b].has_lm, .last_frame = frame, .id = ids[b]};
    }
    free(at);
    return FS_OK;
}

fs_err fs_tracker_update(fs_tracker *t, int frame, const fs_box *boxes, size_t n, int *ids,
                         fs_msg *msg) {
    fs_track_face *faces = n ? calloc(n, sizeof *faces) : NULL;
    if (n && !faces) return fs_fail(msg, FS_ERR_NOMEM, "out of memory tracking %zu boxes", n);
    for (size_t i = 0; i < n; i++) faces[i].box = boxes[i];
    fs_err e = fs_tracker_update_faces(t, frame, faces, n, ids, msg);
    free(faces);
    return e;
}
