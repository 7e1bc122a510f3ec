/* scan_plot.c: the pictures a person looks at to check a verdict: a P(fake) timeline per model
 * and a contact sheet of the sampled frames with the faces that were judged. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/detect.h"
#include "fakescope/plot.h"

fs_err fs_scan_timeline(const fs_scan_result *r, const char *title, double threshold,
                        fs_image *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (r->n_frames == 0) return fs_fail(msg, FS_ERR_INVALID, "no frames to draw");
    int nf = r->n_frames, nm = r->n_models;
    double *x = malloc((size_t)nf * sizeof *x);
    double *y = malloc((size_t)nf * (size_t)nm * sizeof *y);
    fs_series series[FS_DETECT_MAX_MODELS];
    if (!x || !y) {
        free(x);
        free(y);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    /* Videos are drawn against time; images and frame lists against the frame number. */
    int by_time = r->is_video;
    for (int f = 0; f < nf; f++) x[f] = by_time ? r->frames[f].time_s : (double)f;
    for (int m = 0; m < nm; m++) {
        for (int f = 0; f < nf; f++) {
            /* the main person's face (a gap where they are not seen); other people are not
             * this video's verdict, so they do not draw its line */
            const fs_scan_frame *fr = &r->frames[f];
            double v = NAN;
            for (int i = 0; i < fr->n_faces; i++)
                if (fr->faces[i].track == r->main_person || r->main_person < 0)
                    if (isnan(v) || fr->faces[i].p_fake[m] > v) v = fr->faces[i].p_fake[m];
            y[(size_t)m * nf + f] = v;
        }
        series[m] = (fs_series){.name = r->models[m], .x = x, .y = y + (size_t)m * nf, .n = (size_t)nf,
                                .markers = true};
    }
    fs_chart c = {.title = title ? title : "P(fake) per sampled frame",
                  .x_label = by_time ? "time (s)" : "frame",
                  .y_label = "P(fake)",
                  .series = series,
                  .n_series = (size_t)nm,
                  .fix_y = true,
                  .y_min = 0,
                  .y_max = 1,
                  .hline = true,
                  .hline_y = threshold > 0 ? threshold : FS_VERDICT_THRESHOLD_DEFAULT,
                  .hline_label = "threshold"};
    if (by_time && r->video.duration_s > 0) {
        c.fix_x = true;
        c.x_min = 0;
        c.x_max = r->video.duration_s;
    }
    fs_plot *p = NULL;
    fs_err err = fs_plot_chart(&c, &p, msg);
    if (!err) err = fs_plot_image(p, out, msg);
    fs_plot_free(p);
    free(x);
    free(y);
    return err;
}

fs_err fs_scan_sheet(const fs_scan_result *r, const char *title, fs_image *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (r->n_frames == 0) return fs_fail(msg, FS_ERR_INVALID, "no frames to draw");
    if (!r->frames[0].thumb.rgb)
        return fs_fail(msg, FS_ERR_INVALID, "the scan kept no frame pictures (keep_thumbs)");
    int nf = r->n_frames;
    fs_image *tiles = calloc((size_t)nf, sizeof *tiles);
    char (*captions)[48] = calloc((size_t)nf, sizeof *captions);
    const char **cap_ptrs = calloc((size_t)nf, sizeof *cap_ptrs);
    fs_err err = tiles && captions && cap_ptrs ? FS_OK : fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (int f = 0; !err && f < nf; f++) {
        const fs_scan_frame *fr = &r->frames[f];
        fs_image *t = &tiles[f];
        err = fs_image_alloc(t, fr->thumb.w, fr->thumb.h, msg);
        if (err) break;
        memcpy(t->rgb, fr->thumb.rgb, (size_t)t->w * t->h * 3);
        fs_draw_box boxes[FS_DETECT_MAX_FACES];
        char labels[FS_DETECT_MAX_FACES][32];
        float k = fr->thumb_scale;
        for (int i = 0; i < fr->n_faces; i++) {
            const fs_scan_face *face = &fr->faces[i];
            /* the main person by number; everyone else marked as another person */
            snprintf(labels[i], sizeof labels[i], "%s#%d %.2f",
                     face->track == r->main_person ? "" : "other ", face->track,
                     r->n_models ? (double)face->p_fake[0] : 0.0);
            boxes[i] = (fs_draw_box){.x = face->box.x * k, .y = face->box.y * k,
                                     .w = face->box.w * k, .h = face->box.h * k,
                                     .track_id = face->track, .label = labels[i],
                                     .nkp = face->nlm ? face->nlm : face->nkp};
            /* the 68 landmarks when the scan has them, else the detector's keypoints */
            for (int q = 0; q < boxes[i].nkp && q < 68; q++) {
                const float *pt = face->nlm ? face->lm[q] : face->kp[q];
                boxes[i].kp[q][0] = pt[0] * k, boxes[i].kp[q][1] = pt[1] * k;
            }
        }
        err = fs_draw_boxes(t, boxes, (size_t)fr->n_faces, 2, msg);
        if (r->is_video)
            snprintf(captions[f], sizeof captions[f], "t=%.1fs  %d face%s", fr->time_s, fr->n_faces,
                     fr->n_faces == 1 ? "" : "s");
        else
            snprintf(captions[f], sizeof captions[f], "frame %d  %d face%s", f, fr->n_faces,
                     fr->n_faces == 1 ? "" : "s");
        cap_ptrs[f] = captions[f];
    }
    if (!err) err = fs_contact_sheet(tiles, cap_ptrs, (size_t)nf, 0, 320, title, out, msg);
    for (int f = 0; tiles && f < nf; f++) fs_image_free(&tiles[f]);
    free(tiles);
    free(captions);
    free(cap_ptrs);
    return err;
}
