/* scan_json.c: renders a scan result as the JSON object of the command-line contract
 * (`fakescope scan --json`). The HTTP dialects have their own shapes and translate from the
 * struct, not from this text. */
#include <jansson.h>
#include <math.h>

#include "fakescope/detect.h"

/* Rounds to 6 decimals so output is stable and readable; scores are float32 anyway. */
static json_t *num(double v) {
    if (!isfinite(v)) return json_null();
    return json_real(round(v * 1e6) / 1e6);
}

static json_t *box_json(fs_box b) {
    return json_pack("{s:i,s:i,s:i,s:i}", "x", b.x, "y", b.y, "w", b.w, "h", b.h);
}

static json_t *report_models_json(const fs_verdict_report *rep) {
    json_t *arr = json_array();
    for (int m = 0; m < rep->n_models; m++) {
        const fs_model_summary *s = &rep->models[m];
        json_array_append_new(
            arr, json_pack("{s:s?,s:i,s:o,s:o,s:s,s:o,s:i,s:o,s:b}", "model", s->model, "frames",
                           s->frames, "mean", s->frames ? num(s->mean) : json_null(), "std",
                           s->frames ? num(s->std) : json_null(), "classification",
                           fs_class_name(s->cls), "confidence", num(s->confidence),
                           "votes_fake", s->votes_fake, "threshold", num(s->threshold),
                           "uncertain", s->uncertain));
    }
    return arr;
}

static json_t *verdicts_json(const fs_verdict_report *rep) {
    json_t *arr = json_array();
    for (int h = 0; h < FS_H_COUNT; h++) {
        const fs_verdict *v = &rep->verdicts[h];
        json_t *models = json_array();
        for (int i = 0; i < v->n_used; i++) {
            const char *name = rep->models[v->used[i]].model;
            json_array_append_new(models, name ? json_string(name) : json_null());
        }
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:o,s:s,s:o,s:o,s:b}", "heuristic", fs_heuristic_name(v->heuristic),
                           "status", fs_verdict_status_name(v->status), "models", models,
                           "classification", fs_class_name(v->cls), "p_fake",
                           v->status == FS_VERDICT_OK ? num(v->p_fake) : json_null(),
                           "confidence", num(v->confidence), "uncertain", v->uncertain));
    }
    return arr;
}

int fs_scan_box_warning(const fs_scan_result *r, int m, char *buf, size_t cap) {
    if (m < 0 || m >= r->n_models || !(r->box_not_aligned & (1u << m))) return 0;
    snprintf(buf, cap, "%s was trained on faces aligned on their landmarks; the cascade finds no "
             "landmarks, so its faces were cut by their boxes and its scores are not what it was "
             "measured on (use the learned face finder)", r->models[m]);
    return 1;
}

json_t *fs_scan_result_json(const fs_scan_result *r, const char *file) {
    json_t *o = json_object();
    if (!o) return NULL;
    if (file) json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "status", json_string(fs_verdict_status_name(r->overall.status)));
    json_t *media = json_pack("{s:s,s:i,s:i}", "kind", r->is_video ? "video" : "image", "width",
                              r->width, "height", r->height);
    if (r->is_video) {
        json_object_set_new(media, "duration_s", num(r->video.duration_s));
        json_object_set_new(media, "fps", num(r->video.fps));
        json_object_set_new(media, "codec", json_string(r->video.codec));
    }
    json_object_set_new(media, "whole_image", json_boolean(r->whole_image));
    json_object_set_new(o, "media", media);
    json_t *models = json_array();
    for (int m = 0; m < r->n_models; m++) json_array_append_new(models, json_string(r->models[m]));
    json_object_set_new(o, "models", models);
    if (r->box_not_aligned) {
        json_t *warnings = json_array();
        char text[FS_DETECT_NAME_MAX + 200];
        for (int m = 0; m < r->n_models; m++)
            if (fs_scan_box_warning(r, m, text, sizeof text))
                json_array_append_new(warnings, json_string(text));
        json_object_set_new(o, "warnings", warnings);
    }

    json_t *frames = json_array();
    for (int f = 0; f < r->n_frames; f++) {
        const fs_scan_frame *fr = &r->frames[f];
        json_t *faces = json_array();
        for (int i = 0; i < fr->n_faces; i++) {
            const fs_scan_face *face = &fr->faces[i];
            json_t *scores = json_object();
            for (int m = 0; m < r->n_models; m++)
                json_object_set_new(scores, r->models[m],
                                    json_pack("{s:o,s:o}", "p_fake", num(face->p_fake[m]), "raw",
                                              num(face->raw[m])));
            json_t *fo = json_pack("{s:i,s:o,s:o,s:i,s:o}", "person", face->track, "box",
                                   box_json(face->box), "crop", box_json(face->crop),
                                   "neighbors", face->neighbors, "scores", scores);
            if (fo && face->nkp) { /* the learned detector's score and keypoints */
                json_t *kp = json_array();
                for (int k = 0; kp && k < face->nkp; k++)
                    json_array_append_new(kp, json_pack("[f,f]", round(face->kp[k][0] * 10) / 10,
                                                        round(face->kp[k][1] * 10) / 10));
                json_object_set_new(fo, "detector_score", num(face->score));
                json_object_set_new(fo, "keypoints", kp);
            }
            if (fo && face->nlm) { /* scan --landmarks */
                json_t *lm = json_array();
                for (int k = 0; lm && k < face->nlm; k++)
                    json_array_append_new(lm, json_pack("[f,f]", round(face->lm[k][0] * 10) / 10,
                                                        round(face->lm[k][1] * 10) / 10));
                json_object_set_new(fo, "landmarks", lm);
            }
            json_array_append_new(faces, fo);
        }
        json_t *ms = json_object();
        for (int m = 0; m < r->n_models; m++)
            json_object_set_new(ms, r->models[m], num(fr->model_ms[m]));
        json_array_append_new(frames, json_pack("{s:I,s:o,s:o,s:o,s:o}", "index",
                                                (json_int_t)fr->index, "time", num(fr->time_s),
                                                "faces", faces, "faces_ms", num(fr->faces_ms),
                                                "model_ms", ms));
    }
    json_object_set_new(o, "frames", frames);

    json_t *people = json_array();
    for (int p = 0; p < r->n_people; p++) {
        const fs_scan_person *pe = &r->people[p];
        json_array_append_new(people, json_pack("{s:i,s:i,s:o,s:o}", "person", pe->track,
                                                "frames", pe->n_frames, "models",
                                                report_models_json(&pe->report), "verdicts",
                                                verdicts_json(&pe->report)));
    }
    json_object_set_new(o, "people", people);
    json_object_set_new(o, "main_person", r->main_person >= 0 ? json_integer(r->main_person) : json_null());
    json_object_set_new(o, "summaries", report_models_json(&r->overall));
    json_object_set_new(o, "verdicts", verdicts_json(&r->overall));
    json_object_set_new(o, "timing",
                        json_pack("{s:o,s:o,s:o,s:o}", "decode", num(r->timing.decode_ms), "faces",
                                  num(r->timing.faces_ms), "inference",
                                  num(r->timing.inference_ms), "total", num(r->timing.total_ms)));
    return o;
}
