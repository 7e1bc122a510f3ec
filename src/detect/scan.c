/* scan.c: the detection pipeline. A scan walks the media frame by frame (one frame for an
 * image), finds faces, links them into people with the tracker, crops each face to every
 * model's input, runs the models on the frame's faces as one batch, and finally aggregates the
 * scores per person and for the whole media with the verdict heuristics.
 *
 * Frames are handled as the decoder produces them and then dropped (a 1080p frame is 6 MB),
 * so memory stays bounded by FS_DETECT_MAX_FACES crops per model plus optional thumbnails,
 * whatever the length of the video. */
#include "fakescope/detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/align.h"
#include "fakescope/blazeface.h"
#include "fakescope/landmarks.h"
#include "fakescope/model.h"
#include "detect/scan_internal.h"

typedef struct detector_model {
    char name[FS_DETECT_NAME_MAX];
    const fs_net *net;
    int owns_net;
    int output_is_fake; /* 1: the sigmoid is P(fake); 0: it is P(real) */
    fs_decision rule;   /* its card's decision; threshold 0: the scan's threshold */
    float align_margin; /* its card's face crop: < 0 the box crop, else aligned with this margin */
} detector_model;

struct fs_detector {
    int n_models;
    detector_model models[FS_DETECT_MAX_MODELS];
    const fs_cascade *cascade;
    int owns_cascade;
    fs_blazeface *bf; /* the learned face detector; when set, the cascade is not used */
    int owns_bf;
    fs_landmarks *lm; /* 68 landmarks of each learned-detector face, when loaded (owned) */
};

struct fs_scanner {
    fs_detector *det;
    fs_net_ctx *ctx[FS_DETECT_MAX_MODELS];
    float *input;   /* FS_DETECT_MAX_FACES model inputs of the largest model */
    size_t input_floats;
    fs_tracker *tracker;
};

fs_err fs_detector_create(fs_detector **out, fs_msg *msg) {
    *out = calloc(1, sizeof **out);
    return *out ? FS_OK : fs_fail(msg, FS_ERR_NOMEM, "out of memory");
}

void fs_detector_free(fs_detector *d) {
    if (!d) return;
    for (int i = 0; i < d->n_models; i++)
        if (d->models[i].owns_net) fs_net_free((fs_net *)d->models[i].net);
    if (d->owns_cascade) fs_cascade_free((fs_cascade *)d->cascade);
    if (d->owns_bf) fs_blazeface_free(d->bf);
    fs_landmarks_free(d->lm);
    free(d);
}

/* Adds a network; with owns set, the detector frees it (also when adding fails). */
static fs_err add_net(fs_detector *d, const char *name, const fs_net *net, int owns,
                      int output_is_fake, fs_msg *msg) {
    fs_err err = FS_OK;
    if (d->n_models >= FS_DETECT_MAX_MODELS)
        err = fs_fail(msg, FS_ERR_LIMIT, "at most %d models per scan", FS_DETECT_MAX_MODELS);
    for (int i = 0; !err && i < d->n_models; i++)
        if (!strcmp(d->models[i].name, name))
            err = fs_fail(msg, FS_ERR_INVALID, "model '%s' given twice", name);
    if (err) {
        if (owns) fs_net_free((fs_net *)net);
        return err;
    }
    detector_model *m = &d->models[d->n_models++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->net = net;
    m->owns_net = owns;
    m->output_is_fake = output_is_fake;
    m->align_margin = -1.0f;
    return FS_OK;
}

fs_err fs_detector_add_net(fs_detector *d, const char *name, const fs_net *net,
                           int output_is_fake, fs_msg *msg) {
    return add_net(d, name, net, 0, output_is_fake, msg);
}

void fs_detector_set_cascade(fs_detector *d, const fs_cascade *c) {
    if (d->owns_cascade) fs_cascade_free((fs_cascade *)d->cascade);
    d->cascade = c;
    d->owns_cascade = 0;
}

fs_err fs_detector_add_entry(fs_detector *d, const fs_model_entry *e, fs_msg *msg) {
    fs_weights w = {0};
    fs_err err = fs_model_load_weights(e, &w, msg);
    if (err) return err;
    fs_net *net = NULL;
    err = fs_net_create(&w, e->card.architecture, &net, msg);
    fs_weights_free(&w);
    if (err) {
        fs_msg_prefix(msg, "model %s: ", e->card.name);
        return err;
    }
    /* The card is the authority on what the output means, and on where a call falls. */
    int is_fake = fs_card_p_fake(&e->card, 1.0) > 0.5;
    err = add_net(d, e->card.name, net, 1, is_fake, msg);
    if (!err) fs_detector_set_card(d, d->n_models - 1, &e->card);
    return err;
}

void fs_detector_set_card(fs_detector *d, int i, const fs_card *c) {
    if (i < 0 || i >= d->n_models) return;
    const fs_card_decision *cd = c ? &c->decision : NULL;
    d->models[i].rule = cd && cd->present ? (fs_decision){cd->threshold, cd->lo, cd->hi}
                                          : (fs_decision){0, 0, 0};
    d->models[i].align_margin = c && c->face_crop.aligned ? (float)c->face_crop.margin : -1.0f;
}

fs_err fs_detector_add_weights(fs_detector *d, const char *name, const fs_weights *w,
                               const char *arch, fs_msg *msg) {
    fs_net *net = NULL;
    fs_err err = fs_net_create(w, arch, &net, msg);
    if (err) return err;
    return add_net(d, name, net, 1, fs_net_output_is_fake(net), msg);
}

fs_err fs_detector_load_cascade(fs_detector *d, const char *cascade, fs_msg *msg) {
    char path[4096];
    fs_err err = fs_cascade_find(cascade, path, sizeof path, msg);
    if (err) return err;
    fs_cascade *c = NULL;
    err = fs_cascade_load(path, &c, msg);
    if (err) return err;
    if (d->owns_cascade) fs_cascade_free((fs_cascade *)d->cascade);
    d->cascade = c;
    d->owns_cascade = 1;
    return FS_OK;
}

fs_err fs_detector_load_blazeface(fs_detector *d, const char *name, fs_msg *msg) {
    char path[4096];
    fs_err err = fs_blazeface_find(name, path, sizeof path, msg);
    if (err) return err;
    fs_blazeface *b = NULL;
    if ((err = fs_blazeface_load(path, &b, msg))) return err;
    if (d->owns_bf) fs_blazeface_free(d->bf);
    d->bf = b;
    d->owns_bf = 1;
    return FS_OK;
}

void fs_detector_set_blazeface(fs_detector *d, fs_blazeface *b, int owns) {
    if (d->owns_bf && d->bf != b) fs_blazeface_free(d->bf);
    d->bf = b;
    d->owns_bf = owns;
}

int fs_detector_has_face_finder(const fs_detector *d) { return d->bf || d->cascade; }

fs_err fs_detector_load_landmarks(fs_detector *d, const char *name, fs_msg *msg) {
    char path[4096];
    fs_err err = fs_face_model_find(name ? name : FS_LANDMARKS_DEFAULT_NAME, "json", path,
                                    sizeof path, msg);
    fs_landmarks *m = NULL;
    if (!err) err = fs_landmarks_load(path, &m, msg);
    if (err) return err;
    fs_landmarks_free(d->lm);
    d->lm = m;
    return FS_OK;
}

int fs_detector_model_count(const fs_detector *d) { return d->n_models; }
const char *fs_detector_model_name(const fs_detector *d, int i) {
    return i >= 0 && i < d->n_models ? d->models[i].name : NULL;
}
const char *fs_detector_model_arch(const fs_detector *d, int i) {
    return i >= 0 && i < d->n_models ? fs_net_arch(d->models[i].net)->name : NULL;
}

const fs_net *fs_scanner_net(const fs_scanner *s, int i) {
    return i >= 0 && i < s->det->n_models ? s->det->models[i].net : NULL;
}

fs_scan_opts fs_scan_opts_default(void) {
    fs_scan_opts o;
    memset(&o, 0, sizeof o);
    o.sampling = fs_video_sampling_default();
    o.video_limits = fs_video_limits_default();
    o.image_limits = fs_image_limits_default();
    o.face = fs_face_params_default();
    o.face.min_share = FS_SCAN_MIN_FACE_SHARE;
    o.margin = FS_FACE_MARGIN_DEFAULT;
    o.align_margin = -1.0f;
    o.crop = FS_CROP_FACES;
    o.threshold = 0; /* each card's decision (0.5 without one) */
    return o;
}

fs_err fs_scanner_create(fs_detector *d, int threads, fs_scanner **out, fs_msg *msg) {
    *out = NULL;
    fs_scanner *s = calloc(1, sizeof *s);
    if (!s) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    s->det = d;
    fs_net_opts no = {.threads = threads, .max_batch = FS_DETECT_MAX_FACES, .portable = 0};
    for (int i = 0; i < d->n_models; i++) {
        fs_err err = fs_net_ctx_create(d->models[i].net, &no, &s->ctx[i], msg);
        if (err) {
            fs_scanner_free(s);
            return err;
        }
        const fs_arch *a = fs_net_arch(d->models[i].net);
        size_t n = (size_t)a->input_h * a->input_w * a->input_c * FS_DETECT_MAX_FACES;
        if (n > s->input_floats) s->input_floats = n;
    }
    /* a crops-only scanner (no model) needs no input buffer */
    s->input = s->input_floats ? malloc(s->input_floats * sizeof *s->input) : NULL;
    if (s->input_floats && !s->input) {
        fs_scanner_free(s);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return FS_OK;
}

void fs_scanner_free(fs_scanner *s) {
    if (!s) return;
    for (int i = 0; i < FS_DETECT_MAX_MODELS; i++) fs_net_ctx_free(s->ctx[i]);
    free(s->input);
    fs_tracker_free(s->tracker);
    free(s);
}

void fs_scan_result_free(fs_scan_result *r) {
    if (!r) return;
    for (int f = 0; f < r->n_frames; f++) {
        fs_scan_frame *fr = &r->frames[f];
        for (int i = 0; i < fr->n_faces; i++) fs_image_free(&fr->faces[i].crop_img);
        free(fr->faces);
        fs_image_free(&fr->thumb);
    }
    free(r->frames);
    free(r->people);
    memset(r, 0, sizeof *r);
}

/* ---- one frame ---------------------------------------------------------------------------- */


static int face_area_desc(const void *a, const void *b) {
    const fs_face *x = a, *y = b;
    long ax = (long)x->box.w * x->box.h, ay = (long)y->box.w * y->box.h;
    return ax < ay ? 1 : ax > ay ? -1 : 0;
}

static fs_err make_thumb(const fs_image *img, int side, fs_image *out, float *scale,
                         fs_msg *msg) {
    if (side <= 0) side = 320;
    int longest = img->w > img->h ? img->w : img->h;
    float k = longest > side ? (float)side / (float)longest : 1.0f;
    int w = (int)lroundf((float)img->w * k), h = (int)lroundf((float)img->h * k);
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    *scale = (float)w / (float)img->w;
    return fs_image_resize(img, w, h, out, msg);
}

/* Runs every model on the faces of one frame. Caller guarantees 1 <= n <= FS_DETECT_MAX_FACES. */
/* The crop a model of side x side input sees of one face: the whole frame in whole-image
 * scans; the face aligned on its landmarks when align_margin >= 0 and the face has them; else
 * the square around the box. *region (if non-NULL) gets the frame region it came from. */
static fs_err cut_face(const scan_run *run, const fs_image *img, const fs_scan_face *face, float align_margin,
                       int w, int h, fs_image *out, fs_box *region, fs_msg *msg) {
    if (run->o->crop == FS_CROP_WHOLE || run->r->whole_image) return fs_image_resize(img, w, h, out, msg);
    if (align_margin < 0 || face->nlm != FS_LANDMARKS_POINTS || w != h)
        return fs_face_crop(img, face->box, run->o->margin, w, h, out, region, msg);
    fs_point2f pts[FS_LANDMARKS_POINTS], five[5];
    for (int k = 0; k < FS_LANDMARKS_POINTS; k++) pts[k] = (fs_point2f){face->lm[k][0], face->lm[k][1]};
    fs_landmarks_five(pts, five);
    fs_similarity t;
    fs_err err = fs_align_face(img, five, w, align_margin, FS_BORDER_REPLICATE, out, &t, msg);
    if (err) return err;
    /* the frame region under the crop: the box around its four corners, clipped */
    const fs_similarity inv = fs_similarity_invert(t);
    const fs_point2f corner[4] = {{0, 0}, {(float)w, 0}, {0, (float)h}, {(float)w, (float)h}};
    float x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int k = 0; k < 4; k++) {
        fs_point2f q = fs_similarity_apply(inv, corner[k]);
        x0 = fminf(x0, q.x), y0 = fminf(y0, q.y), x1 = fmaxf(x1, q.x), y1 = fmaxf(y1, q.y);
    }
    int bx0 = (int)fmaxf(0, floorf(x0)), by0 = (int)fmaxf(0, floorf(y0));
    int bx1 = (int)fminf((float)img->w, ceilf(x1)), by1 = (int)fminf((float)img->h, ceilf(y1));
    if (region) *region = (fs_box){bx0, by0, bx1 > bx0 ? bx1 - bx0 : 0, by1 > by0 ? by1 - by0 : 0};
    return FS_OK;
}

static fs_err judge_faces(scan_run *run, const fs_image *img, fs_scan_frame *fr, fs_msg *msg) {
    fs_scanner *s = run->s;
    fs_detector *d = s->det;
    if (d->n_models == 0) {
        /* crops only: the same crop a model of FS_DETECT_CROP_SIDE input would be given */
        for (int i = 0; run->o->keep_crops && i < fr->n_faces; i++) {
            fs_scan_face *face = &fr->faces[i];
            fs_err err = cut_face(run, img, face, run->o->align_margin, FS_DETECT_CROP_SIDE,
                                  FS_DETECT_CROP_SIDE, &face->crop_img, &face->crop, msg);
            if (err) return err;
        }
        return FS_OK;
    }
    for (int m = 0; m < d->n_models; m++) {
        const fs_arch *a = fs_net_arch(d->models[m].net);
        size_t per = (size_t)a->input_h * a->input_w * a->input_c;
        for (int i = 0; i < fr->n_faces; i++) {
            fs_scan_face *face = &fr->faces[i];
            fs_image crop = {0};
            /* the region shown is the first model's, whose crop is kept too */
            fs_err err = cut_face(run, img, face, d->models[m].align_margin, a->input_w, a->input_h,
                                  &crop, m == 0 ? &face->crop : NULL, msg);
            if (err) return err;
            fs_image_to_float(&crop, a->input_scale, s->input + per * (size_t)i);
            if (run->o->keep_crops && m == 0)
                face->crop_img = crop; /* kept at the first model's input size */
            else
                fs_image_free(&crop);
        }
        float raw[FS_DETECT_MAX_FACES];
        double t0 = fs_now_ms();
        fs_err err = fs_net_forward(s->ctx[m], s->input, fr->n_faces, raw, NULL, msg);
        fr->model_ms[m] = fs_now_ms() - t0;
        run->r->timing.inference_ms += fr->model_ms[m];
        if (err) return err;
        for (int i = 0; i < fr->n_faces; i++) {
            fr->faces[i].raw[m] = raw[i];
            fr->faces[i].p_fake[m] = d->models[m].output_is_fake ? raw[i] : 1.0f - raw[i];
        }
    }
    return FS_OK;
}

/* Records one frame whose faces are already found (found: malloc'd, taken; NULL when n is 0),
 * links them into people and judges them. Frames must come in order: the tracker and the
 * result's frame list both depend on it. */
fs_err fs_scan_frame_found(scan_run *run, const fs_image *img, int64_t index, double time_s,
                           fs_face *found, size_t n, double faces_ms, fs_msg *msg) {
    fs_scan_result *r = run->r;
    if (r->n_frames == run->cap_frames) {
        int cap = run->cap_frames ? run->cap_frames * 2 : 32;
        fs_scan_frame *nf = realloc(r->frames, (size_t)cap * sizeof *nf);
        if (!nf) {
            free(found);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        }
        r->frames = nf;
        run->cap_frames = cap;
    }
    fs_scan_frame *fr = &r->frames[r->n_frames++];
    memset(fr, 0, sizeof *fr);
    fr->index = index;
    fr->time_s = time_s;
    fr->faces_ms = faces_ms;
    r->timing.faces_ms += faces_ms;
    if (r->width == 0) {
        r->width = img->w;
        r->height = img->h;
    }
    if (run->o->keep_thumbs) {
        fs_err err = make_thumb(img, run->o->thumb_side, &fr->thumb, &fr->thumb_scale, msg);
        if (err) {
            free(found);
            return err;
        }
    }
    if (n > FS_DETECT_MAX_FACES) {
        qsort(found, n, sizeof *found, face_area_desc);
        n = FS_DETECT_MAX_FACES;
    }
    int whole = run->o->crop == FS_CROP_WHOLE ||
                (run->o->crop == FS_CROP_FACES_OR_WHOLE && n == 0 && !r->is_video && !run->clip);
    if (whole) {
        r->whole_image = 1;
        n = 1;
    }
    if (n == 0) {
        free(found);
        return FS_OK;
    }
    fr->faces = calloc(n, sizeof *fr->faces);
    if (!fr->faces) {
        free(found);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    fr->n_faces = (int)n;
    fs_track_face tf[FS_DETECT_MAX_FACES];
    for (size_t i = 0; i < n; i++) {
        fs_box b = whole ? (fs_box){0, 0, img->w, img->h} : found[i].box;
        fr->faces[i].box = b;
        fr->faces[i].crop = b;
        fr->faces[i].neighbors = whole ? 0 : found[i].neighbors;
        if (!whole) {
            fr->faces[i].score = found[i].score;
            fr->faces[i].nkp = found[i].nkp;
            memcpy(fr->faces[i].kp, found[i].kp, sizeof found[i].kp);
        }
        if (!whole && found[i].nkp && run->s->det->lm) {
            fs_point2f pts[FS_LANDMARKS_POINTS];
            const fs_rectf r = {(float)b.x, (float)b.y, (float)b.w, (float)b.h};
            fs_err lerr = fs_landmarks_run(run->s->det->lm, img, r, pts, msg);
            if (lerr) {
                free(found);
                return lerr;
            }
            fr->faces[i].nlm = FS_LANDMARKS_POINTS;
            for (int k = 0; k < FS_LANDMARKS_POINTS; k++)
                fr->faces[i].lm[k][0] = pts[k].x, fr->faces[i].lm[k][1] = pts[k].y;
        }
        tf[i] = (fs_track_face){b, fr->faces[i].nlm == FS_TRACK_LANDMARKS ? fr->faces[i].lm : NULL};
    }
    free(found);
    int ids[FS_DETECT_MAX_FACES];
    fs_err err = fs_tracker_update_faces(run->s->tracker, (int)(r->n_frames - 1), tf, n, ids, msg);
    if (err) return err;
    for (size_t i = 0; i < n; i++) fr->faces[i].track = ids[i];
    return judge_faces(run, img, fr, msg);
}

fs_err fs_scan_find_faces(const scan_run *run, const fs_image *img, fs_face **found, size_t *n,
                          double *ms, fs_msg *msg) {
    *found = NULL;
    *n = 0;
    *ms = 0;
    if (run->o->crop == FS_CROP_WHOLE) return FS_OK;
    double t0 = fs_now_ms();
    fs_err err;
    if (run->s->det->bf) {
        fs_face_det *dets = NULL;
        size_t nd = 0;
        /* a still picture gets the close-up second look, a video frame does not */
        err = !run->r->is_video && !run->clip
                  ? fs_blazeface_detect_picture(run->s->det->bf, img, NULL, &dets, &nd, msg)
                  : fs_blazeface_detect(run->s->det->bf, img, NULL, &dets, &nd, msg);
        /* the scan's size floor (min_size, min_share of the shorter side) as for the cascade */
        const fs_face_params *p = &run->o->face;
        const int shorter = img->w < img->h ? img->w : img->h;
        double floor_px = p->min_size;
        if (p->min_share * shorter > floor_px) floor_px = p->min_share * shorter;
        fs_face *f = !err && nd ? calloc(nd, sizeof *f) : NULL;
        if (!err && nd && !f) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; !err && i < nd; i++) {
            const fs_rectf b = dets[i].box;
            if ((b.w > b.h ? b.w : b.h) < floor_px) continue;
            /* clipped to the frame: a face at the edge is still a face */
            int x0 = (int)lroundf(b.x), y0 = (int)lroundf(b.y);
            int x1 = (int)lroundf(b.x + b.w), y1 = (int)lroundf(b.y + b.h);
            x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
            x1 = x1 > img->w ? img->w : x1, y1 = y1 > img->h ? img->h : y1;
            if (x1 - x0 < 2 || y1 - y0 < 2) continue;
            f[k].box = (fs_box){x0, y0, x1 - x0, y1 - y0};
            f[k].score = dets[i].score;
            f[k].nkp = FS_FACE_KEYPOINTS;
            memcpy(f[k].kp, dets[i].kp, sizeof f[k].kp);
            k++;
        }
        free(dets);
        if (err || !k) free(f), f = NULL, k = 0;
        *found = f;
        *n = k;
    } else {
        err = fs_face_detect(run->s->det->cascade, img, &run->o->face, found, n, msg);
    }
    *ms = fs_now_ms() - t0;
    return err;
}

static fs_err scan_frame(scan_run *run, const fs_image *img, int64_t index, double time_s,
                         fs_msg *msg) {
    fs_face *found = NULL;
    size_t n = 0;
    double ms = 0;
    fs_err err = fs_scan_find_faces(run, img, &found, &n, &ms, msg);
    if (err) {
        run->r->timing.faces_ms += ms;
        return err;
    }
    return fs_scan_frame_found(run, img, index, time_s, found, n, ms, msg);
}

/* ---- aggregation ---------------------------------------------------------------------------- */

/* Fills a verdict report from the frames; track < 0 pools the highest score per frame and model
 * over all faces, track >= 0 takes that person's face in each frame. */
static fs_err aggregate(const fs_scan_result *r, int track, double threshold,
                        const fs_decision *rules, fs_verdict_report *out, int *frames_with,
                        fs_msg *msg) {
    int nf = r->n_frames, nm = r->n_models;
    if (nm == 0) { /* crops only: no scores to judge, only the frames a person appears in */
        memset(out, 0, sizeof *out);
        int with = 0;
        for (int f = 0; f < nf; f++) {
            int has = 0;
            for (int i = 0; i < r->frames[f].n_faces; i++)
                has |= track < 0 || r->frames[f].faces[i].track == track;
            with += has;
        }
        if (frames_with) *frames_with = with;
        return FS_OK;
    }
    double *scores = calloc((size_t)(nf > 0 ? nf : 1) * (size_t)nm, sizeof *scores);
    unsigned char *has = calloc((size_t)(nf > 0 ? nf : 1), 1);
    if (!scores || !has) {
        free(scores);
        free(has);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    const char *names[FS_DETECT_MAX_MODELS];
    for (int m = 0; m < nm; m++) names[m] = r->models[m];
    int with = 0;
    for (int f = 0; f < nf; f++) {
        const fs_scan_frame *fr = &r->frames[f];
        for (int i = 0; i < fr->n_faces; i++) {
            const fs_scan_face *face = &fr->faces[i];
            if (track >= 0 && face->track != track) continue;
            for (int m = 0; m < nm; m++) {
                double p = face->p_fake[m];
                double *slot = &scores[(size_t)f * nm + m];
                if (!has[f] || p > *slot) *slot = p;
            }
            has[f] = 1;
        }
        with += has[f];
    }
    fs_verdict_input in = {.n_frames = nf,
                           .n_models = nm,
                           .models = names,
                           .scores = scores,
                           .has_face = has,
                           .threshold = threshold,
                           .decisions = rules};
    fs_err err = fs_verdict_compute(&in, out, msg);
    free(scores);
    free(has);
    if (frames_with) *frames_with = with;
    return err;
}

static fs_err finish(scan_run *run, double t_start, fs_msg *msg) {
    fs_scan_result *r = run->r;
    double thr = run->o->threshold > 0 ? run->o->threshold : FS_VERDICT_THRESHOLD_DEFAULT;
    /* Each model's card decides where its calls fall, unless the caller set one threshold. */
    fs_decision rules[FS_DETECT_MAX_MODELS];
    const fs_detector *d = run->s->det;
    for (int m = 0; m < d->n_models; m++)
        rules[m] = run->o->threshold > 0 ? (fs_decision){thr, thr, thr} : d->models[m].rule;
    const fs_decision *rp = d->n_models > 0 ? rules : NULL;
    int tracks = fs_tracker_count(run->s->tracker);
    if (tracks > 0) {
        r->people = calloc((size_t)tracks, sizeof *r->people);
        if (!r->people) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    for (int t = 0; t < tracks; t++) {
        fs_scan_person *p = &r->people[r->n_people];
        p->track = t;
        fs_err err = aggregate(r, t, thr, rp, &p->report, &p->n_frames, msg);
        if (err) return err;
        if (p->n_frames > 0) r->n_people++;
    }
    /* The media's verdict is its main person's: the track with the largest total detection
     * strength (1 per frame plus the cascade's neighbours, or 20 x the learned detector's
     * score, summed over frames). A stray detection on a shirt or a poster is weak and
     * short-lived, so it cannot decide a video; every person still gets their own verdict.
     * Whole-picture judgements have a single track. */
    int main_track = -1;
    long best = -1;
    for (int t = 0; t < tracks; t++) {
        long strength = 0;
        for (int f = 0; f < r->n_frames; f++)
            for (int i = 0; i < r->frames[f].n_faces; i++)
                if (r->frames[f].faces[i].track == t)
                    strength += 1 + r->frames[f].faces[i].neighbors +
                                lroundf(20 * r->frames[f].faces[i].score);
        if (strength > best) {
            best = strength;
            main_track = t;
        }
    }
    r->main_person = main_track;
    fs_err err = aggregate(r, main_track, thr, rp, &r->overall, NULL, msg);
    if (err) return err;
    r->timing.total_ms = fs_now_ms() - t_start;
    /* Serially, decoding is whatever the scan did besides finding faces and running models;
     * pipelined, the decoding thread timed its own work (the stages overlap). */
    double rest = r->timing.total_ms - r->timing.faces_ms - r->timing.inference_ms;
    r->timing.decode_ms = run->pipelined ? run->decode_ms : rest > 0 ? rest : 0;
    return FS_OK;
}

static fs_err begin(fs_scanner *s, const fs_scan_opts *o, fs_scan_result *out, scan_run *run,
                    fs_msg *msg) {
    memset(out, 0, sizeof *out);
    memset(run, 0, sizeof *run);
    run->s = s;
    run->o = o;
    run->r = out;
    fs_detector *d = s->det;
    out->n_models = d->n_models;
    for (int m = 0; m < d->n_models; m++)
        snprintf(out->models[m], sizeof out->models[m], "%s", d->models[m].name);
    if (o->crop != FS_CROP_WHOLE && !d->cascade && !d->bf) {
        /* Lazy load of the default, the learned detector (never a silent fall back to the
         * cascade: its absence is an error naming the set-up); a detector shared by threads
         * must have its face finder loaded up front. */
        fs_err err = fs_detector_load_blazeface(d, NULL, msg);
        if (err) return err;
    }
    int aligned = o->align_margin >= 0;
    for (int m = 0; m < d->n_models; m++) {
        aligned |= d->models[m].align_margin >= 0;
        /* the cascade gives no landmarks: such a model gets the box crop, and the result says so */
        _Static_assert(FS_DETECT_MAX_MODELS <= 32, "box_not_aligned is a 32-bit mask");
        if (d->models[m].align_margin >= 0 && o->crop != FS_CROP_WHOLE && d->cascade && !d->bf)
            out->box_not_aligned |= 1u << m;
    }
    if (aligned && o->crop != FS_CROP_WHOLE && d->bf && !d->lm) {
        /* aligned crops need the landmarks; loaded once, as the face finder above */
        fs_err err = fs_detector_load_landmarks(d, NULL, msg);
        if (err) return err;
    }
    fs_tracker_free(s->tracker);
    s->tracker = NULL;
    return fs_tracker_create(FS_TRACK_IOU_DEFAULT, 0, &s->tracker, msg);
}

void fs_scan_progress(scan_run *run, const char *stage, int done, int total) {
    if (run->o->progress) run->o->progress(run->o->progress_ctx, stage, done, total);
}

fs_err fs_scan_degrade(const scan_run *run, fs_image *img, fs_msg *msg) {
    const double k = run->o->degrade_scale;
    fs_err err = FS_OK;
    if (k > 0 && k < 1) {
        const int w = (int)lround(img->w * k), h = (int)lround(img->h * k);
        fs_image small = {0};
        err = fs_image_resize(img, w > 0 ? w : 1, h > 0 ? h : 1, &small, msg);
        if (err) return err;
        fs_image_free(img);
        *img = small;
    }
    if (run->o->degrade_jpeg > 0) {
        uint8_t *jpg = NULL;
        size_t len = 0;
        fs_image back = {0};
        err = fs_image_encode_jpeg(img, run->o->degrade_jpeg, &jpg, &len, msg);
        if (!err) err = fs_image_decode(jpg, len, &run->o->image_limits, &back, msg);
        free(jpg);
        if (err) return err;
        fs_image_free(img);
        *img = back;
    }
    return err;
}

static fs_err on_video_frame(void *ctx, fs_video_frame *frame, fs_msg *msg) {
    scan_run *run = ctx;
    fs_err err = fs_scan_degrade(run, &frame->image, msg);
    if (err) return err;
    err = scan_frame(run, &frame->image, frame->index, frame->time_s, msg);
    fs_scan_progress(run, "frames", run->r->n_frames, run->total_frames);
    return err;
}

static fs_err sample_local(void *v, const fs_video_sampling *s, fs_video_frame_fn on_frame,
                           void *ctx, fs_msg *msg) {
    return fs_video_sample(v, s, on_frame, ctx, msg);
}

/* Samples an opened video (through `sample`, with its facts in *info) into the run. */
static fs_err scan_video(scan_run *run, scan_sample_fn sample, void *v, const fs_video_info *info,
                         double t0, fs_msg *msg) {
    run->r->is_video = 1;
    run->r->video = *info;
    run->r->width = run->r->video.w;
    run->r->height = run->r->video.h;
    const fs_video_sampling *sp = &run->o->sampling;
    if (sp->mode == FS_VIDEO_SAMPLE_COUNT)
        run->total_frames = sp->count > 0 ? sp->count : FS_VIDEO_SAMPLE_COUNT_DEFAULT;
    else if (run->r->video.duration_s > 0 && sp->every_s > 0)
        run->total_frames = (int)ceil(run->r->video.duration_s / sp->every_s);
    int threads = run->o->threads > 0 ? run->o->threads : fs_cpu_count();
    if (threads > FS_SCAN_MAX_THREADS) threads = FS_SCAN_MAX_THREADS;
    fs_err err = threads > 1 ? fs_scan_video_pipelined(run, sample, v, sp, threads, msg)
                             : sample(v, sp, on_video_frame, run, msg);
    if (err) return err;
    return finish(run, t0, msg);
}

static fs_err scan_image(scan_run *run, const fs_image *img, double t0, fs_msg *msg) {
    fs_err err;
    if (run->o->degrade_jpeg > 0 || (run->o->degrade_scale > 0 && run->o->degrade_scale < 1)) {
        fs_image copy = {0};
        err = fs_image_alloc(&copy, img->w, img->h, msg);
        if (err) return err;
        memcpy(copy.rgb, img->rgb, (size_t)img->w * img->h * 3);
        err = fs_scan_degrade(run, &copy, msg);
        if (!err) err = scan_frame(run, &copy, 0, 0.0, msg);
        fs_image_free(&copy);
    } else {
        err = scan_frame(run, img, 0, 0.0, msg);
    }
    if (err) return err;
    fs_scan_progress(run, "frames", 1, 1);
    return finish(run, t0, msg);
}

fs_err fs_scan_memory(fs_scanner *s, const uint8_t *data, size_t len, const fs_scan_opts *o,
                      fs_scan_result *out, fs_msg *msg) {
    double t0 = fs_now_ms();
    scan_run run;
    fs_err err = begin(s, o, out, &run, msg);
    const fs_media_decoder *dec = o->decoder;
    if (!err && fs_image_sniff(data, len) != FS_IMAGE_UNKNOWN) {
        fs_image img = {0};
        err = dec ? dec->decode_image(dec->ctx, data, len, &o->image_limits, &img, msg)
                  : fs_image_decode(data, len, &o->image_limits, &img, msg);
        if (!err) err = scan_image(&run, &img, t0, msg);
        fs_image_free(&img);
    } else if (!err && dec) {
        void *v = NULL;
        fs_video_info info;
        err = dec->video_open(dec->ctx, data, len, &o->video_limits, &v, &info, msg);
        if (!err) err = scan_video(&run, dec->video_sample, v, &info, t0, msg);
        dec->video_close(v);
    } else if (!err) {
        fs_video *v = NULL;
        err = fs_video_open_memory(data, len, &o->video_limits, &v, msg);
        if (!err) err = scan_video(&run, sample_local, v, fs_video_get_info(v), t0, msg);
        fs_video_close(v);
    }
    if (err) fs_scan_result_free(out);
    return err;
}

fs_err fs_scan_file(fs_scanner *s, const char *path, const fs_scan_opts *o, fs_scan_result *out,
                    fs_msg *msg) {
    /* Sniff the first bytes: images are read whole, videos are streamed by the demuxer. */
    uint8_t head[16] = {0};
    size_t got = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        got = fread(head, 1, sizeof head, f);
        fclose(f);
    }
    if (f && fs_image_sniff(head, got) != FS_IMAGE_UNKNOWN) {
        double t0 = fs_now_ms();
        scan_run run;
        fs_err err = begin(s, o, out, &run, msg);
        fs_image img = {0};
        if (!err) err = fs_image_load(path, &o->image_limits, &img, msg);
        if (!err) err = scan_image(&run, &img, t0, msg);
        fs_image_free(&img);
        if (err) fs_scan_result_free(out);
        return err;
    }
    double t0 = fs_now_ms();
    scan_run run;
    fs_err err = begin(s, o, out, &run, msg);
    fs_video *v = NULL;
    if (!err) err = fs_video_open_file(path, &o->video_limits, &v, msg);
    if (!err) err = scan_video(&run, sample_local, v, fs_video_get_info(v), t0, msg);
    fs_video_close(v);
    if (err) fs_scan_result_free(out);
    return err;
}

fs_err fs_scan_images(fs_scanner *s, const fs_image *frames, int n, const fs_scan_opts *o,
                      fs_scan_result *out, fs_msg *msg) {
    double t0 = fs_now_ms();
    scan_run run;
    fs_err err = begin(s, o, out, &run, msg);
    if (!err && n <= 0) err = fs_fail(msg, FS_ERR_INVALID, "no frames given");
    /* A frame list is a clip: no whole-image fallback, as for a video. */
    run.clip = n > 1;
    run.total_frames = n;
    for (int i = 0; !err && i < n; i++) {
        err = scan_frame(&run, &frames[i], i, 0.0, msg);
        if (err) fs_msg_prefix(msg, "frame %d: ", i);
        fs_scan_progress(&run, "frames", i + 1, n);
    }
    if (!err) err = finish(&run, t0, msg);
    if (err) fs_scan_result_free(out);
    return err;
}
