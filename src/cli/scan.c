/* scan.c: `fakescope scan`: judge videos and images with one or several models, face by face,
 * frame by frame, and print the verdicts with their evidence. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "fakescope/detect.h"
#include "fakescope/json.h"
#include "fakescope/media_worker.h"
#include "fakescope/model.h"
#include "fakescope/plot.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: fakescope scan [OPTIONS] VIDEO|IMAGE...\n\n"
            "Finds the faces in each file (N evenly spaced frames of a video, or the image),\n"
            "runs every model on every face, and prints per-person and whole-file verdicts.\n\n"
            "models (default: the registry's models whose card says \"default\": true, or\n"
            "every model when none does):\n"
            "  --models A,B         registry models by name or id (see `fakescope models list`)\n"
            "  --models-dir DIR     look for model cards in DIR (repeatable; default\n"
            "                       $FAKESCOPE_MODELS, then the source tree's models/)\n"
            "  --weights FILE       a .safetensors or Keras .h5 file instead (needs --arch)\n"
            "  --arch ARCH          meso4 | mesoinception4, for --weights\n"
            "sampling:\n"
            "  --frames N           N evenly spaced frames per video (default 32, at most %d)\n"
            "  --every SEC          one frame every SEC seconds instead\n"
            "faces:\n"
            "  --face-detector D    blazeface (default: the learned detector, with keypoints;\n"
            "                       a picture without a face gets a second, close-up look)\n"
            "                       or haar (the OpenCV cascade); --cascade, --scale and\n"
            "                       --neighbors imply haar\n"
            "  --face-model M       the imported BlazeFace network, name or .safetensors path\n"
            "                       (default blazeface-full; docs/faces.md)\n"
            "  --landmarks          also the 68 landmarks of every face (BlazeFace only), in the\n"
            "                       JSON (\"landmarks\") and on the --sheet\n"
            "  --cascade FILE       OpenCV cascade XML (default: %s from opencv-data)\n"
            "  --scale F            cascade pyramid step (default %.2f)\n"
            "  --neighbors N        cascade minNeighbors (default %d)\n"
            "  --min-face-share F   smallest face side as a share of the frame's shorter\n"
            "                       side (default %.2f; 0 = down to the cascade window)\n"
            "  --min-face PX        smallest face side in pixels instead of the share\n"
            "  --margin F           crop margin around a face (default %.2f = %.0f%%)\n"
            "  --whole              judge the whole picture instead of face crops\n"
            "  --whole-if-no-face   judge a still image whole when it has no face\n"
            "output:\n"
            "  --json               one JSON object per file (frames, people, verdicts, timing)\n"
            "  --timeline OUT.png   draw P(fake) per sampled frame per model (several files:\n"
            "                       OUT-1.png, OUT-2.png, ...)\n"
            "  --sheet OUT.jpg      the sampled frames with the judged face boxes (.jpg or .png)\n"
            "  --threshold P        P(fake) at or above which every model's score says fake\n"
            "                       (default: each model card's decision threshold, chosen\n"
            "                       on validation data, or 0.5; its uncertain band is then\n"
            "                       not used)\n"
            "  --threads N          threads for the video decoder, for finding faces (beside a\n"
            "                       decoding thread) and per model (default: all cores;\n"
            "                       1 = one thread doing each step in turn)\n"
            "  --isolate            decode each file in a sandboxed worker process, as the\n"
            "                       server does with uploads (seccomp, rlimits)\n"
            "  -h, --help           this text\n\n"
            "Exit status: 0 when every file was judged (NO_FACE counts as judged), 1 when some\n"
            "file could not be read, 2 on a usage error.\n",
            FS_VIDEO_MAX_FRAMES_DEFAULT, FS_CASCADE_DEFAULT_NAME, FS_FACE_SCALE_DEFAULT,
            FS_FACE_NEIGHBORS_DEFAULT, FS_SCAN_MIN_FACE_SHARE, (double)FS_FACE_MARGIN_DEFAULT,
            (double)FS_FACE_MARGIN_DEFAULT * 100);
}

static void print_text(const fs_scan_result *r, const char *file) {
    char warning[FS_DETECT_NAME_MAX + 200];
    for (int m = 0; m < r->n_models; m++)
        if (fs_scan_box_warning(r, m, warning, sizeof warning))
            fprintf(stderr, "scan: warning: %s\n", warning);
    printf("%s: ", file);
    if (r->overall.status != FS_VERDICT_OK) {
        printf("%s (%d frames, no face found)\n",
               r->overall.status == FS_VERDICT_NO_FACE ? "NO_FACE" : "NO_SCORE", r->n_frames);
        return;
    }
    const fs_verdict *avg = &r->overall.verdicts[FS_H_AVERAGE];
    printf("%s, P(fake) %.3f (Average over %d frames with a face of %d, %d people)\n",
           fs_class_name(avg->cls), avg->p_fake, r->overall.frames_with_face, r->n_frames,
           r->n_people);
    for (int h = 0; h < FS_H_COUNT; h++) {
        const fs_verdict *v = &r->overall.verdicts[h];
        printf("  %-17s %-4s confidence %.3f%s\n", fs_heuristic_name(v->heuristic),
               fs_class_name(v->cls), v->confidence, v->uncertain ? " (uncertain)" : "");
    }
    for (int m = 0; m < r->overall.n_models; m++) {
        const fs_model_summary *s = &r->overall.models[m];
        printf("  model %-24s mean P(fake) %.3f  std %.3f  %s (threshold %.3f)%s\n", s->model,
               s->mean, s->std, fs_class_name(s->cls), s->threshold,
               s->uncertain ? " uncertain" : "");
    }
    for (int p = 0; p < r->n_people; p++) {
        const fs_scan_person *pe = &r->people[p];
        const fs_verdict *v = &pe->report.verdicts[FS_H_AVERAGE];
        printf("  person %d: %d frames, %s, P(fake) %.3f\n", pe->track, pe->n_frames,
               fs_class_name(v->cls), v->p_fake);
    }
    printf("  time: decode %.0f ms, faces %.0f ms, inference %.0f ms, total %.0f ms\n",
           r->timing.decode_ms, r->timing.faces_ms, r->timing.inference_ms, r->timing.total_ms);
}

/* OUT.png for one file; OUT-N.png for the Nth of several. */
static void numbered_path(const char *path, int nth, char *buf, size_t cap) {
    if (nth == 0) {
        snprintf(buf, cap, "%s", path);
        return;
    }
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) dot = path + strlen(path);
    snprintf(buf, cap, "%.*s-%d%s", (int)(dot - path), path, nth, dot);
}

static fs_err write_picture(const fs_scan_result *r, const char *path, int nth, const char *file,
                            int sheet, double threshold) {
    char out[4096];
    numbered_path(path, nth, out, sizeof out);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    fs_image img = {0};
    fs_msg msg;
    /* the line drawn is the one threshold every model shares: --threshold, or one model's own */
    if (!(threshold > 0) && r->overall.n_models == 1) threshold = r->overall.models[0].threshold;
    fs_err err = sheet ? fs_scan_sheet(r, base, &img, &msg)
                       : fs_scan_timeline(r, base, threshold, &img, &msg);
    if (!err) err = fs_image_save(&img, out, &msg);
    fs_image_free(&img);
    if (err)
        fprintf(stderr, "%s: cannot write %s: %s\n", file, out, msg.text);
    return err;
}

static void on_progress(void *ctx, const char *stage, int done, int total) {
    fs_progress_update(ctx, stage, done, total);
}

static int split_models(char *list, char **names, int cap) {
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < cap; tok = strtok(NULL, ","))
        if (*tok) names[n++] = tok;
    return n;
}

int fs_cli_scan(int argc, char **argv) {
    enum { O_MODELS = 256, O_MODELS_DIR, O_WEIGHTS, O_ARCH, O_FRAMES, O_EVERY, O_CASCADE,
           O_SCALE, O_NEIGHBORS, O_MIN_FACE, O_MIN_SHARE, O_MARGIN, O_WHOLE, O_WHOLE_NF, O_JSON,
           O_THRESHOLD, O_THREADS, O_TIMELINE, O_SHEET, O_ISOLATE, O_FACE_DETECTOR, O_FACE_MODEL, O_LANDMARKS };
    static const struct option longopts[] = {
        {"models", required_argument, 0, O_MODELS}, {"models-dir", required_argument, 0, O_MODELS_DIR},
        {"weights", required_argument, 0, O_WEIGHTS}, {"arch", required_argument, 0, O_ARCH},
        {"frames", required_argument, 0, O_FRAMES}, {"every", required_argument, 0, O_EVERY},
        {"cascade", required_argument, 0, O_CASCADE}, {"scale", required_argument, 0, O_SCALE},
        {"neighbors", required_argument, 0, O_NEIGHBORS}, {"min-face", required_argument, 0, O_MIN_FACE},
        {"min-face-share", required_argument, 0, O_MIN_SHARE},
        {"margin", required_argument, 0, O_MARGIN}, {"whole", no_argument, 0, O_WHOLE},
        {"whole-if-no-face", no_argument, 0, O_WHOLE_NF}, {"json", no_argument, 0, O_JSON},
        {"threshold", required_argument, 0, O_THRESHOLD}, {"threads", required_argument, 0, O_THREADS},
        {"timeline", required_argument, 0, O_TIMELINE}, {"sheet", required_argument, 0, O_SHEET},
        {"isolate", no_argument, 0, O_ISOLATE},
        {"face-detector", required_argument, 0, O_FACE_DETECTOR},
        {"face-model", required_argument, 0, O_FACE_MODEL},
        {"landmarks", no_argument, 0, O_LANDMARKS}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    char *models_arg = NULL, *weights = NULL, *arch = NULL, *cascade = NULL, *face_model = NULL;
    int want_det = -1, cascade_opt = 0; /* --face-detector (-1 none, 0 blazeface, 1 haar) */
    int with_lm = 0;
    const char *timeline = NULL, *sheet = NULL;
    const char *dirs[FS_REGISTRY_MAX_DIRS];
    size_t ndirs = 0;
    int json = 0, threads = 0, isolate = 0;
    fs_scan_opts o = fs_scan_opts_default();
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODELS: models_arg = optarg; break;
        case O_MODELS_DIR:
            if (ndirs == FS_REGISTRY_MAX_DIRS) {
                fprintf(stderr, "scan: at most %d --models-dir\n", FS_REGISTRY_MAX_DIRS);
                return FS_EXIT_USAGE;
            }
            dirs[ndirs++] = optarg;
            break;
        case O_WEIGHTS: weights = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_FRAMES:
            o.sampling.mode = FS_VIDEO_SAMPLE_COUNT;
            o.sampling.count = (int)strtol(optarg, &end, 10);
            if (*end || o.sampling.count < 1 || o.sampling.count > FS_VIDEO_MAX_FRAMES_DEFAULT) {
                fprintf(stderr, "scan: --frames takes 1..%d\n", FS_VIDEO_MAX_FRAMES_DEFAULT);
                return FS_EXIT_USAGE;
            }
            break;
        case O_EVERY:
            o.sampling.mode = FS_VIDEO_SAMPLE_EVERY;
            o.sampling.every_s = strtod(optarg, &end);
            if (*end || !(o.sampling.every_s > 0)) {
                fprintf(stderr, "scan: --every takes a number of seconds > 0\n");
                return FS_EXIT_USAGE;
            }
            break;
        case O_CASCADE: cascade = optarg, cascade_opt = 1; break;
        case O_FACE_DETECTOR:
            if (strcmp(optarg, "blazeface") && strcmp(optarg, "haar")) {
                fprintf(stderr, "scan: --face-detector takes blazeface or haar\n");
                return FS_EXIT_USAGE;
            }
            want_det = !strcmp(optarg, "haar");
            break;
        case O_FACE_MODEL: face_model = optarg; break;
        case O_LANDMARKS: with_lm = 1; break;
        case O_SCALE:
            cascade_opt = 1;
            o.face.scale_factor = strtod(optarg, &end);
            if (*end || o.face.scale_factor < FS_FACE_SCALE_MIN ||
                o.face.scale_factor > FS_FACE_SCALE_MAX) {
                fprintf(stderr, "scan: --scale takes %.2f..%.1f\n", FS_FACE_SCALE_MIN,
                        FS_FACE_SCALE_MAX);
                return FS_EXIT_USAGE;
            }
            break;
        case O_NEIGHBORS:
            cascade_opt = 1;
            o.face.min_neighbors = (int)strtol(optarg, &end, 10);
            if (*end || o.face.min_neighbors < 0 || o.face.min_neighbors > 100) {
                fprintf(stderr, "scan: --neighbors takes 0..100\n");
                return FS_EXIT_USAGE;
            }
            break;
        case O_MIN_FACE:
            o.face.min_size = (int)strtol(optarg, &end, 10);
            if (*end || o.face.min_size < 0) {
                fprintf(stderr, "scan: --min-face takes pixels >= 0\n");
                return FS_EXIT_USAGE;
            }
            o.face.min_share = 0;
            break;
        case O_MIN_SHARE:
            o.face.min_share = strtod(optarg, &end);
            if (*end || !(o.face.min_share >= 0 && o.face.min_share < 1)) {
                fprintf(stderr, "scan: --min-face-share takes 0 <= F < 1\n");
                return FS_EXIT_USAGE;
            }
            break;
        case O_MARGIN:
            o.margin = strtof(optarg, &end);
            if (*end || !(o.margin >= 0 && o.margin <= 2)) {
                fprintf(stderr, "scan: --margin takes 0..2\n");
                return FS_EXIT_USAGE;
            }
            break;
        case O_WHOLE: o.crop = FS_CROP_WHOLE; break;
        case O_WHOLE_NF: o.crop = FS_CROP_FACES_OR_WHOLE; break;
        case O_JSON: json = 1; break;
        case O_THRESHOLD:
            o.threshold = strtod(optarg, &end);
            if (*end || !(o.threshold > 0 && o.threshold < 1)) {
                fprintf(stderr, "scan: --threshold takes a number in (0, 1)\n");
                return FS_EXIT_USAGE;
            }
            break;
        case O_THREADS:
            threads = (int)strtol(optarg, &end, 10);
            if (*end || threads < 1 || threads > 256) {
                fprintf(stderr, "scan: --threads takes 1..256\n");
                return FS_EXIT_USAGE;
            }
            break;
        case O_TIMELINE: timeline = optarg; break;
        case O_SHEET: sheet = optarg; break;
        case O_ISOLATE: isolate = 1; break;
        case 'h': usage(stdout); return FS_EXIT_OK;
        default: usage(stderr); return FS_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "scan: no file given\n\n");
        usage(stderr);
        return FS_EXIT_USAGE;
    }
    if (weights && (models_arg || !arch)) {
        fprintf(stderr, "scan: --weights needs --arch and excludes --models\n");
        return FS_EXIT_USAGE;
    }

    fs_msg msg;
    fs_detector *det = NULL;
    fs_registry *reg = NULL;
    fs_scanner *scanner = NULL;
    fs_media_pool *pool = NULL;
    fs_media_call call = {0};
    fs_media_decoder decoder;
    int status = FS_EXIT_OK;
    if (fs_detector_create(&det, &msg)) goto fatal;
    if (weights) {
        fs_weights w = {0};
        if (fs_weights_load(weights, arch, &w, &msg)) goto fatal;
        const char *base = strrchr(weights, '/');
        fs_err err = fs_detector_add_weights(det, base ? base + 1 : weights, &w, arch, &msg);
        fs_weights_free(&w);
        if (err) goto fatal;
    } else {
        if (fs_registry_open(ndirs ? dirs : NULL, ndirs, &reg, &msg)) goto fatal;
        if (models_arg) {
            char *names[FS_DETECT_MAX_MODELS + 1];
            int n = split_models(models_arg, names, FS_DETECT_MAX_MODELS + 1);
            if (n > FS_DETECT_MAX_MODELS) {
                fprintf(stderr, "scan: at most %d models\n", FS_DETECT_MAX_MODELS);
                status = FS_EXIT_USAGE;
                goto done;
            }
            for (int i = 0; i < n; i++) {
                const fs_model_entry *e = fs_registry_find(reg, names[i]);
                if (!e) {
                    fprintf(stderr, "scan: no model '%s' (see `fakescope models list`)\n", names[i]);
                    status = FS_EXIT_USAGE;
                    goto done;
                }
                if (fs_detector_add_entry(det, e, &msg)) goto fatal;
            }
        } else {
            size_t n = fs_registry_count(reg);
            if (n == 0) {
                fprintf(stderr, "scan: no model found; import one with `fakescope models import`"
                                " or give --weights FILE --arch ARCH\n");
                status = FS_EXIT_USAGE;
                goto done;
            }
            /* The cards marked "default", or every model when none is. */
            int defaults = 0;
            for (size_t i = 0; i < n; i++) defaults += fs_registry_at(reg, i)->card.is_default;
            for (size_t i = 0; i < n && fs_detector_model_count(det) < FS_DETECT_MAX_MODELS; i++)
                if ((!defaults || fs_registry_at(reg, i)->card.is_default) &&
                    fs_detector_add_entry(det, fs_registry_at(reg, i), &msg))
                    goto fatal;
        }
    }
    if (want_det == 0 && cascade_opt) {
        fprintf(stderr, "scan: --cascade, --scale and --neighbors are the cascade's: use them "
                        "with --face-detector haar\n");
        status = FS_EXIT_USAGE;
        goto done;
    }
    const int use_haar = want_det == 1 || (want_det < 0 && cascade_opt);
    if (with_lm && use_haar) {
        fprintf(stderr, "scan: --landmarks needs the learned detector (--face-detector blazeface)\n");
        status = FS_EXIT_USAGE;
        goto done;
    }
    if (o.crop != FS_CROP_WHOLE &&
        (use_haar ? fs_detector_load_cascade(det, cascade, &msg)
                  : fs_detector_load_blazeface(det, face_model, &msg)))
        goto fatal;
    if (with_lm && o.crop != FS_CROP_WHOLE && fs_detector_load_landmarks(det, NULL, &msg)) goto fatal;
    if (fs_scanner_create(det, threads, &scanner, &msg)) goto fatal;

    if (isolate) {
        fs_media_pool_config pc = {.workers = 1};
        if (fs_media_pool_create(&pc, &pool, &msg)) goto fatal;
        call.pool = pool;
        decoder = fs_media_pool_decoder(&call);
        o.decoder = &decoder;
    }
    o.keep_thumbs = sheet != NULL;
    o.threads = threads;
    o.sampling.threads = threads;
    fs_progress bar;
    fs_progress_init(&bar, stderr);
    o.progress = on_progress;
    o.progress_ctx = &bar;
    for (int i = optind; i < argc; i++) {
        fs_scan_result r;
        fs_progress_start(&bar, argv[i]);
        fs_err err;
        if (isolate) {
            uint8_t *data = NULL;
            size_t len = 0;
            snprintf(call.label, sizeof call.label, "%s", argv[i]);
            call.deadline_ms = 0;
            err = fs_read_file(argv[i], o.video_limits.max_bytes, &data, &len, &msg);
            if (!err) err = fs_scan_memory(scanner, data, len, &o, &r, &msg);
            free(data);
        } else {
            err = fs_scan_file(scanner, argv[i], &o, &r, &msg);
        }
        fs_progress_done(&bar);
        if (err) {
            status = FS_EXIT_INPUT;
            if (json) {
                json_t *e = json_pack("{s:s,s:s,s:s}", "file", argv[i], "status", "error",
                                      "error", msg.text);
                char *txt = fs_json_dumps(e, JSON_COMPACT);
                if (txt) puts(txt);
                free(txt);
                json_decref(e);
            } else {
                fprintf(stderr, "%s: error: %s\n", argv[i], msg.text);
            }
            continue;
        }
        int nth = argc - optind > 1 ? i - optind + 1 : 0;
        if (timeline && write_picture(&r, timeline, nth, argv[i], 0, o.threshold) != FS_OK)
            status = FS_EXIT_INPUT;
        if (sheet && write_picture(&r, sheet, nth, argv[i], 1, o.threshold) != FS_OK)
            status = FS_EXIT_INPUT;
        if (json) {
            json_t *j = fs_scan_result_json(&r, argv[i]);
            char *txt = j ? fs_json_dumps(j, JSON_COMPACT) : NULL;
            if (txt) puts(txt);
            free(txt);
            json_decref(j);
        } else {
            print_text(&r, argv[i]);
        }
        fflush(stdout);
        fs_scan_result_free(&r);
    }
    goto done;
fatal:
    fprintf(stderr, "scan: %s\n", msg.text);
    status = FS_EXIT_INPUT;
done:
    fs_media_pool_free(pool);
    fs_scanner_free(scanner);
    fs_detector_free(det);
    fs_registry_free(reg);
    fs_plot_cleanup();
    return status;
}
