/* faces.c: `fakescope faces`, the face finder on its own: prints the boxes found in each image,
 * as text or one JSON object per line, with the learned detector (BlazeFace, its keypoints and
 * scores) or an OpenCV cascade. Also what the agreement tests (OpenCV, the BlazeFace reference)
 * drive. */
#include "cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fakescope/blazeface.h"
#include "fakescope/face.h"
#include "fakescope/landmarks.h"
#include "fakescope/image.h"
#include "fakescope/json.h"

static void faces_usage(FILE *out) {
    fprintf(out,
            "usage: fakescope faces [OPTIONS] IMAGE...\n\n"
            "Finds faces and prints them: by default with the learned detector (BlazeFace,\n"
            "with 6 keypoints per face), or with an OpenCV cascade (same boxes as\n"
            "cv2.CascadeClassifier's detectMultiScale with the same parameters).\n\n"
            "options:\n"
            "  --face-detector D  blazeface (default) or haar\n"
            "  --face-model M   the imported BlazeFace network: a name looked up in\n"
            "                   $FAKESCOPE_FACE_MODELS, the face-models folder beside the\n"
            "                   binary, ~/.local/share/fakescope/face-models, or a path to its\n"
            "                   .safetensors (default %s)\n"
            "  --min-score F    BlazeFace: smallest score kept, 0..1 (default 0.5); a picture\n"
            "                   without a face is looked at again shrunk to half the input,\n"
            "                   for close-ups, as a scan of a picture does\n"
            "  --landmarks      BlazeFace: also the 68 iBUG landmarks of each face\n"
            "                   (face-api's network, set up beside the detector), as\n"
            "                   \"landmarks\": [[x, y] x 68] in --json\n"
            "  --cascade X      cascade XML file or name in /usr/share/opencv4/{haar,lbp}cascades\n"
            "                   (this option and the four below imply --face-detector haar)\n"
            "                   (default %s, or $FAKESCOPE_CASCADE)\n"
            "  --scale F        pyramid scale factor, %g..%g (default %g)\n"
            "  --neighbors N    minimum neighbours; 0 prints raw windows (default %d)\n"
            "  --min-size S     smallest face side in pixels (default: the cascade window)\n"
            "  --max-size S     largest face side in pixels (default: no limit)\n"
            "  --max-side N     shrink images whose longest side exceeds N before detecting,\n"
            "                   boxes are given in original pixels; 0 = full resolution\n"
            "                   (default %d)\n"
            "  --crops DIR      also save each face as DIR/<image>_face<N>.png: a square %.0f%%\n"
            "                   larger than the box (see --margin), clipped to the frame,\n"
            "                   resized to --crop-size\n"
            "  --margin F       crop margin as a fraction of the face side (default %.1f)\n"
            "  --crop-size N    crop side in pixels (default 256)\n"
            "  --json           one JSON object per image: {\"file\", \"width\", \"height\", \"ms\",\n"
            "                   \"detector\", \"faces\": [...]} or {\"file\", \"error\"}; a face is\n"
            "                   {\"x\", \"y\", \"w\", \"h\", \"score\", \"keypoints\": [[x, y] x 6]}\n"
            "                   (blazeface: right eye, left eye, nose, mouth, right ear, left ear\n"
            "                   of the subject) or {\"x\", \"y\", \"w\", \"h\", \"neighbors\"} (haar)\n"
            "  -h, --help       this text\n\n"
            "Exit status: 0 success, 1 some image could not be read, 2 usage error.\n",
            FS_BLAZEFACE_DEFAULT_NAME, FS_CASCADE_DEFAULT_NAME, FS_FACE_SCALE_MIN, FS_FACE_SCALE_MAX, FS_FACE_SCALE_DEFAULT,
            FS_FACE_NEIGHBORS_DEFAULT, FS_FACE_MAX_SIDE_DEFAULT, FS_FACE_MARGIN_DEFAULT * 100,
            FS_FACE_MARGIN_DEFAULT);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static void print_error(int json, const char *file, const fs_msg *msg) {
    if (json) {
        json_t *o = json_pack("{s:s, s:s}", "file", file, "error", msg->text);
        if (o) {
            char *s = fs_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s) puts(s);
            free(s);
            json_decref(o);
        }
    } else {
        fprintf(stderr, "fakescope faces: %s\n", msg->text);
    }
}

static void print_faces(int json, const char *file, const fs_image *img, const fs_face *f,
                        size_t n, double ms) {
    if (!json) {
        printf("%s: %zu face%s (%dx%d, %.0f ms)\n", file, n, n == 1 ? "" : "s", img->w, img->h, ms);
        for (size_t i = 0; i < n; i++)
            printf("  x=%d y=%d w=%d h=%d neighbors=%d\n", f[i].box.x, f[i].box.y, f[i].box.w,
                   f[i].box.h, f[i].neighbors);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_pack("{s:i, s:i, s:i, s:i, s:i}", "x", f[i].box.x, "y",
                                             f[i].box.y, "w", f[i].box.w, "h", f[i].box.h,
                                             "neighbors", f[i].neighbors));
    /* The time to the microsecond: finer digits are noise, and the number prints as given. */
    json_t *o = json_pack("{s:s, s:i, s:i, s:f, s:s, s:o}", "file", file, "width", img->w, "height",
                          img->h, "ms", round(ms * 1000) / 1000, "detector", "haar", "faces", arr);
    if (o) {
        char *s = fs_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(o);
    }
}

static double r2(double v) { return round(v * 100) / 100; }

/* lm: 68 points per face (NULL: not asked for) */
static void print_dets(int json, const char *file, const fs_image *img, const fs_face_det *f,
                       size_t n, const fs_point2f *lm, double ms) {
    if (!json) {
        printf("%s: %zu face%s (%dx%d, %.0f ms)\n", file, n, n == 1 ? "" : "s", img->w, img->h, ms);
        for (size_t i = 0; i < n; i++)
            printf("  x=%.1f y=%.1f w=%.1f h=%.1f score=%.3f\n", (double)f[i].box.x,
                   (double)f[i].box.y, (double)f[i].box.w, (double)f[i].box.h, (double)f[i].score);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *kp = json_array();
        for (int k = 0; kp && k < FS_BLAZEFACE_KEYPOINTS; k++)
            json_array_append_new(kp, json_pack("[f, f]", r2(f[i].kp[k][0]), r2(f[i].kp[k][1])));
        json_t *face = json_pack("{s:f, s:f, s:f, s:f, s:f, s:o}", "x", r2(f[i].box.x), "y",
                                 r2(f[i].box.y), "w", r2(f[i].box.w), "h", r2(f[i].box.h), "score",
                                 round(f[i].score * 10000) / 10000, "keypoints", kp);
        if (face && lm) {
            json_t *pts = json_array();
            for (int k = 0; pts && k < FS_LANDMARKS_POINTS; k++) {
                const fs_point2f *q = &lm[i * FS_LANDMARKS_POINTS + k];
                json_array_append_new(pts, json_pack("[f, f]", r2(q->x), r2(q->y)));
            }
            json_object_set_new(face, "landmarks", pts);
        }
        json_array_append_new(arr, face);
    }
    json_t *o = json_pack("{s:s, s:i, s:i, s:f, s:s, s:o}", "file", file, "width", img->w, "height",
                          img->h, "ms", round(ms * 1000) / 1000, "detector", "blazeface", "faces", arr);
    if (o) {
        char *s = fs_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(o);
    }
}

/* The pixel box of a detection, for crops. */
static fs_box box_of(fs_rectf r) {
    fs_box b = {(int)lroundf(r.x), (int)lroundf(r.y), (int)lroundf(r.w), (int)lroundf(r.h)};
    return b;
}

/* Saves the crops of one image's faces; returns 0 or -1 with msg set. */
static int save_crops(const char *dir, const char *file, const fs_image *img, const fs_face *f,
                      size_t n, float margin, int size, fs_msg *msg) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t stem = strcspn(base, ".");
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        fs_image crop = {0};
        if (fs_face_crop(img, f[i].box, margin, size, size, &crop, NULL, msg)) return -1;
        snprintf(path, sizeof path, "%s/%.*s_face%zu.png", dir, (int)stem, base, i);
        fs_err err = fs_image_save(&crop, path, msg);
        fs_image_free(&crop);
        if (err) return -1;
    }
    return 0;
}

int fs_cli_faces(int argc, char **argv) {
    enum {
        OPT_CASCADE = 256, OPT_SCALE, OPT_NEIGHBORS, OPT_MIN, OPT_MAX, OPT_MAXSIDE, OPT_JSON,
        OPT_CROPS, OPT_MARGIN, OPT_CROPSIZE, OPT_DETECTOR, OPT_MODEL, OPT_MINSCORE, OPT_LANDMARKS
    };
    static const struct option opts[] = {
        {"cascade", required_argument, 0, OPT_CASCADE}, {"scale", required_argument, 0, OPT_SCALE},
        {"neighbors", required_argument, 0, OPT_NEIGHBORS},
        {"min-size", required_argument, 0, OPT_MIN},   {"max-size", required_argument, 0, OPT_MAX},
        {"max-side", required_argument, 0, OPT_MAXSIDE}, {"json", no_argument, 0, OPT_JSON},
        {"crops", required_argument, 0, OPT_CROPS},    {"margin", required_argument, 0, OPT_MARGIN},
        {"crop-size", required_argument, 0, OPT_CROPSIZE},
        {"face-detector", required_argument, 0, OPT_DETECTOR},
        {"face-model", required_argument, 0, OPT_MODEL},
        {"min-score", required_argument, 0, OPT_MINSCORE},
        {"landmarks", no_argument, 0, OPT_LANDMARKS},
        {"help", no_argument, 0, 'h'},                 {0, 0, 0, 0}};
    fs_face_params p = fs_face_params_default();
    const char *cascade_name = NULL, *crop_dir = NULL, *model_name = NULL;
    float margin = FS_FACE_MARGIN_DEFAULT;
    /* want: the --face-detector given (-1 none, 0 blazeface, 1 haar); cascade_opt: an option
     * only the cascade has, which alone picks it */
    int json = 0, c, crop_size = 256, want = -1, cascade_opt = 0, with_lm = 0;
    fs_blazeface_params bp;
    fs_blazeface_params_default(&bp);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case OPT_CASCADE: cascade_name = optarg, cascade_opt = 1; break;
        case OPT_DETECTOR:
            if (strcmp(optarg, "haar") && strcmp(optarg, "blazeface")) {
                fprintf(stderr, "fakescope faces: --face-detector must be blazeface or haar\n");
                return FS_EXIT_USAGE;
            }
            want = !strcmp(optarg, "haar");
            break;
        case OPT_MODEL: model_name = optarg; break;
        case OPT_LANDMARKS: with_lm = 1; break;
        case OPT_MINSCORE:
            bp.min_score = strtof(optarg, &end);
            if (end == optarg || *end || !(bp.min_score >= 0 && bp.min_score <= 1)) {
                fprintf(stderr, "fakescope faces: --min-score must be in [0, 1]\n");
                return FS_EXIT_USAGE;
            }
            break;
        case OPT_SCALE:
            cascade_opt = 1;
            p.scale_factor = strtod(optarg, &end);
            if (end == optarg || *end || !(p.scale_factor >= FS_FACE_SCALE_MIN) ||
                !(p.scale_factor <= FS_FACE_SCALE_MAX)) {
                fprintf(stderr, "fakescope faces: --scale must be in [%g, %g]\n",
                        FS_FACE_SCALE_MIN, FS_FACE_SCALE_MAX);
                return FS_EXIT_USAGE;
            }
            break;
        case OPT_NEIGHBORS:
        case OPT_MIN:
        case OPT_MAX:
        case OPT_MAXSIDE: {
            cascade_opt = 1;
            int *dst = c == OPT_NEIGHBORS ? &p.min_neighbors
                       : c == OPT_MIN     ? &p.min_size
                       : c == OPT_MAX     ? &p.max_size
                                          : &p.max_side;
            if (parse_int(optarg, 0, 1 << 20, dst)) {
                fprintf(stderr, "fakescope faces: %s needs a non-negative integer\n",
                        argv[optind - 1]);
                return FS_EXIT_USAGE;
            }
            break;
        }
        case OPT_JSON: json = 1; break;
        case OPT_CROPS: crop_dir = optarg; break;
        case OPT_MARGIN:
            margin = strtof(optarg, &end);
            if (end == optarg || *end || !(margin >= 0 && margin <= 4)) {
                fprintf(stderr, "fakescope faces: --margin must be in [0, 4]\n");
                return FS_EXIT_USAGE;
            }
            break;
        case OPT_CROPSIZE:
            if (parse_int(optarg, 8, 4096, &crop_size)) {
                fprintf(stderr, "fakescope faces: --crop-size must be in [8, 4096]\n");
                return FS_EXIT_USAGE;
            }
            break;
        case 'h': faces_usage(stdout); return FS_EXIT_OK;
        default:
            fprintf(stderr, "fakescope faces: unknown option %s\n\n", argv[optind - 1]);
            faces_usage(stderr);
            return FS_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        faces_usage(stderr);
        return FS_EXIT_USAGE;
    }
    if (want == 0 && cascade_opt) {
        fprintf(stderr, "fakescope faces: --cascade, --scale, --neighbors, --min-size, --max-size "
                        "and --max-side are the cascade's: use them with --face-detector haar\n");
        return FS_EXIT_USAGE;
    }
    const int haar = want == 1 || (want == -1 && cascade_opt);
    if (haar && with_lm) {
        fprintf(stderr, "fakescope faces: --landmarks needs the learned detector (its boxes)\n");
        return FS_EXIT_USAGE;
    }
    if (p.max_size > 0 && p.max_size < p.min_size) {
        fprintf(stderr, "fakescope faces: --max-size is smaller than --min-size\n");
        return FS_EXIT_USAGE;
    }
    fs_msg msg = {{0}};
    char path[4096];
    if (crop_dir && fs_mkdirs(crop_dir, &msg)) {
        fprintf(stderr, "fakescope faces: %s\n", msg.text);
        return FS_EXIT_USAGE;
    }
    fs_cascade *cascade = NULL;
    fs_blazeface *bf = NULL;
    if (haar ? fs_cascade_find(cascade_name, path, sizeof path, &msg) ||
                   fs_cascade_load(path, &cascade, &msg)
             : fs_blazeface_find(model_name, path, sizeof path, &msg) ||
                   fs_blazeface_load(path, &bf, &msg)) {
        fprintf(stderr, "fakescope faces: %s\n", msg.text);
        return FS_EXIT_USAGE;
    }
    fs_landmarks *lmm = NULL;
    if (with_lm && (fs_face_model_find(FS_LANDMARKS_DEFAULT_NAME, "json", path, sizeof path, &msg) ||
                    fs_landmarks_load(path, &lmm, &msg))) {
        fprintf(stderr, "fakescope faces: landmarks: %s\n", msg.text);
        fs_blazeface_free(bf);
        return FS_EXIT_USAGE;
    }
    int failed = 0;
    fs_image_limits lim = fs_image_limits_default();
    for (int i = optind; i < argc; i++) {
        fs_image img = {0};
        fs_face *faces = NULL;
        size_t n = 0;
        if (fs_image_load(argv[i], &lim, &img, &msg)) {
            print_error(json, argv[i], &msg);
            failed = 1;
            continue;
        }
        double t0 = fs_now_ms();
        if (bf) {
            fs_face_det *dets = NULL;
            if (fs_blazeface_detect_picture(bf, &img, &bp, &dets, &n, &msg)) {
                print_error(json, argv[i], &msg);
                failed = 1;
            } else {
                fs_point2f *lm = lmm && n ? malloc(sizeof *lm * FS_LANDMARKS_POINTS * n) : NULL;
                int lm_ok = !lmm || !n || lm;
                for (size_t j = 0; lm && j < n && lm_ok; j++)
                    lm_ok = !fs_landmarks_run(lmm, &img, dets[j].box, lm + j * FS_LANDMARKS_POINTS, &msg);
                if (!lm_ok) {
                    print_error(json, argv[i], lm ? &msg : &(fs_msg){.text = "out of memory"});
                    failed = 1;
                } else {
                    print_dets(json, argv[i], &img, dets, n, lm, fs_now_ms() - t0);
                }
                free(lm);
                faces = n ? malloc(sizeof *faces * n) : NULL;
                for (size_t j = 0; faces && j < n; j++) faces[j].box = box_of(dets[j].box), faces[j].neighbors = 0;
                if (crop_dir && n && (!faces || save_crops(crop_dir, argv[i], &img, faces, n, margin, crop_size, &msg))) {
                    fprintf(stderr, "fakescope faces: %s\n", faces ? msg.text : "out of memory");
                    failed = 1;
                }
            }
            free(dets);
        } else if (fs_face_detect(cascade, &img, &p, &faces, &n, &msg)) {
            print_error(json, argv[i], &msg);
            failed = 1;
        } else {
            print_faces(json, argv[i], &img, faces, n, fs_now_ms() - t0);
            if (crop_dir && save_crops(crop_dir, argv[i], &img, faces, n, margin, crop_size, &msg)) {
                fprintf(stderr, "fakescope faces: %s\n", msg.text);
                failed = 1;
            }
        }
        free(faces);
        fs_image_free(&img);
    }
    fs_cascade_free(cascade);
    fs_blazeface_free(bf);
    fs_landmarks_free(lmm);
    return failed ? FS_EXIT_INPUT : FS_EXIT_OK;
}
