/* eval.c: `fakescope eval`, the figures of one network on labelled data. The data are dataset
 * folders (dataset.h: class sub-folders), optionally narrowed to one split of a split policy,
 * or manifests written by the trainer (optionally narrowed to one of their splits). Images are
 * judged whole, resized to the network input (the datasets hold face crops), unless --faces;
 * videos go through the scan pipeline (detect.h): N sampled frames, the faces of the main
 * person judged. Every image and every judged face of a video is one sample of the primary
 * figures; a video's mean face score is one sample of the video-level figures.
 *
 * The figures are those of binary_metrics.h (scikit-learn's definitions): classification
 * report, confusion matrix, accuracy, ROC AUC, average precision, EER, per source and, when
 * videos were given, per video. A file that cannot be judged is reported and left out; the
 * exit status is then 1. */
#include "cli/cli.h"
#include "fakescope/binary_metrics.h"
#include "fakescope/card.h"
#include "fakescope/dataset.h"
#include "fakescope/json.h"
#include "fakescope/detect.h"
#include "fakescope/model.h"
#include "fakescope/plot.h"
#include "fakescope/weights.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EVAL_PATH_CAP 4096
#define EVAL_MAX_DATA 32
#define EVAL_FRAMES_DEFAULT 16
#define EVAL_MAX_FRAMES 256
#define EVAL_ROC_SIDE 640

static const char *const CLASS_NAMES[2] = {"real", "fake"};

typedef struct {
    const char *arg;
    char path[EVAL_PATH_CAP];
    char policy[64];
    int split;       /* -1: every item */
    int is_manifest; /* else a folder */
} data_arg;

/* The samples gathered so far: one per image, one per judged face of a video. */
typedef struct {
    int *labels;
    double *scores;
    const char **ids;     /* the video's path for a face of a video, else NULL */
    const char **sources; /* the item's source */
    const char **paths;   /* the item's path */
    size_t n, cap;
} samples;

static void usage(FILE *out) {
    fprintf(out,
            "usage: fakescope eval (--model NAME [--dir DIR]... | --weights FILE --arch ARCH)\n"
            "                      [--json] [--out FILE.json] [--roc FILE.png] [--frames N]\n"
            "                      [--faces] [--threads N] [--seed S] [--val-fraction F]\n"
            "                      [--test-fraction F] [--root DIR] [--items] [--scale F]\n"
            "                      [--jpeg Q] [--threshold P | --calibrate\n"
            "                      [--target-accuracy A]] DATA...\n\n"
            "Evaluates one network on labelled data and prints the classification report,\n"
            "confusion matrix, accuracy, ROC AUC, average precision, equal error rate and a\n"
            "breakdown per source; with videos, the same figures per video (video_*).\n\n"
            "DATA is one of\n"
            "  FOLDER                 a dataset folder whose first-level sub-folders name the\n"
            "                         class (real; fake, df or ai), images or videos at any depth\n"
            "  FOLDER:POLICY:SPLIT    only one split (train, val, test) of the folder under a\n"
            "                         split policy (hash, ffpp-suggested, ffpp-val), computed as the trainer\n"
            "                         does from --seed, --val-fraction and --test-fraction\n"
            "  MANIFEST[:SPLIT]       a manifest written by `fakescope train` (paths relative to\n"
            "                         --root, default the manifest's folder), or one of its splits\n\n"
            "  --model NAME     a model of the registry, by name or id\n"
            "  --dir DIR        registry folder to search instead of the defaults (repeatable)\n"
            "  --weights FILE   a weights file (.safetensors, or an original Keras .h5)\n"
            "  --arch ARCH      meso4, mesoinception4 or mobilenetv2 (with --weights)\n"
            "  --json           print the figures as one JSON object\n"
            "  --out FILE       also write that JSON object to FILE\n"
            "  --items          include every judged file and its score in the JSON\n"
            "  --roc FILE       draw the ROC curve (PNG)\n"
            "  --reliability FILE  draw the reliability diagram (PNG): share of fakes against\n"
            "                   mean P(fake) in ten bins, each marked with its count, with\n"
            "                   videos per video too\n"
            "  --frames N       frames sampled per video (default %d)\n"
            "  --faces          judge the faces found in images instead of the whole picture\n"
            "                   (the default for a model whose card has picture_input faces)\n"
            "  --face-detector D  blazeface (default) or haar: what finds the faces of videos\n"
            "                   and of --faces images\n"
            "                   (an image without a face is left out and counted)\n"
            "  --scale F        robustness: shrink every frame and picture by F (0.05..1)\n"
            "                   before anything else (0.5 halves the resolution)\n"
            "  --jpeg Q         robustness: then re-encode it as JPEG at quality Q (1..100)\n"
            "  --threads N      threads for the network (default: all CPUs)\n"
            "  --seed S, --val-fraction F, --test-fraction F\n"
            "                   the split of FOLDER:POLICY:SPLIT (defaults 1, 0.15, 0: the\n"
            "                   trainer's)\n\n"
            "  --threshold P    a sample is fake when P(fake) >= P (default: the model card's\n"
            "                   decision threshold, or 0.5)\n"
            "  --calibrate      choose the model's decision threshold on DATA (validation data,\n"
            "                   never the test split) and write it into its card: the highest\n"
            "                   balanced accuracy (per video when DATA has videos), and an\n"
            "                   uncertain band around it, the narrowest outside which the calls\n"
            "                   are right --target-accuracy of the time (default 0.9) while at\n"
            "                   least half the data stay outside; the figures are then printed\n"
            "                   at that threshold\n\n"
            "Exit status: 0 every file judged, 1 some file or the model failed, 2 usage error.\n",
            EVAL_FRAMES_DEFAULT);
}

static int split_from_name(const char *s) {
    for (int i = 0; i < FS_SPLIT_COUNT; i++)
        if (strcmp(s, fs_split_name((fs_split)i)) == 0) return i;
    return -1;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}
static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* FOLDER, FOLDER:POLICY:SPLIT, MANIFEST or MANIFEST:SPLIT. A path that exists as given wins
 * over reading colons in it. */
static int parse_data(const char *arg, data_arg *d) {
    memset(d, 0, sizeof *d);
    d->arg = arg;
    d->split = -1;
    if (strlen(arg) >= sizeof d->path) return -1;
    snprintf(d->path, sizeof d->path, "%s", arg);
    if (!exists(d->path)) {
        char *last = strrchr(d->path, ':');
        if (!last) return 0; /* the scan reports the missing path */
        *last = '\0';
        if ((d->split = split_from_name(last + 1)) < 0) return -1;
        if (!is_file(d->path)) {
            char *pol = strrchr(d->path, ':');
            if (!pol || strlen(pol + 1) >= sizeof d->policy) return -1;
            *pol = '\0';
            snprintf(d->policy, sizeof d->policy, "%s", pol + 1);
        }
    }
    d->is_manifest = is_file(d->path);
    return 0;
}

static int push(samples *s, int label, double score, const char *id, const char *source,
                const char *path) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        int *l = realloc(s->labels, cap * sizeof *l);
        if (l) s->labels = l;
        double *sc = realloc(s->scores, cap * sizeof *sc);
        if (sc) s->scores = sc;
        const char **i = realloc(s->ids, cap * sizeof *i);
        if (i) s->ids = i;
        const char **so = realloc(s->sources, cap * sizeof *so);
        if (so) s->sources = so;
        const char **pa = realloc(s->paths, cap * sizeof *pa);
        if (pa) s->paths = pa;
        if (!l || !sc || !i || !so || !pa) return -1;
        s->cap = cap;
    }
    s->labels[s->n] = label, s->scores[s->n] = score;
    s->ids[s->n] = id, s->sources[s->n] = source, s->paths[s->n] = path;
    s->n++;
    return 0;
}

static void samples_free(samples *s) {
    free(s->labels), free(s->scores), free(s->ids), free(s->sources), free(s->paths);
    memset(s, 0, sizeof *s);
}

/* Scores of the main person's faces in a scan (all faces when the picture was judged whole).
 * Returns how many were pushed, -1 on allocation failure. */
static int push_scan(samples *s, const fs_scan_result *r, const fs_item *it) {
    int pushed = 0;
    for (int f = 0; f < r->n_frames; f++) {
        const fs_scan_frame *fr = &r->frames[f];
        for (int k = 0; k < fr->n_faces; k++) {
            const fs_scan_face *face = &fr->faces[k];
            if (!r->whole_image && face->track != r->main_person) continue;
            if (push(s, it->label, face->p_fake[0], it->kind == FS_ITEM_VIDEO ? it->path : NULL,
                     it->source, it->path))
                return -1;
            pushed++;
        }
    }
    return pushed;
}

/* Loads every DATA argument into one dataset, keeping only the asked splits. */
static fs_err load_data(const data_arg *args, int nargs, const char *root, uint64_t seed,
                        double val, double test, fs_dataset *out, unsigned char **keep,
                        fs_msg *msg) {
    fs_err e = FS_OK;
    for (int i = 0; i < nargs && !e; i++) {
        const data_arg *d = &args[i];
        if (d->is_manifest) {
            fs_dataset m = {0};
            char dir[EVAL_PATH_CAP];
            if (root) {
                snprintf(dir, sizeof dir, "%s", root);
            } else {
                snprintf(dir, sizeof dir, "%s", d->path);
                char *slash = strrchr(dir, '/');
                if (slash) *slash = '\0';
                else snprintf(dir, sizeof dir, ".");
            }
            e = fs_manifest_read(&m, d->path, dir, NULL, msg);
            if (e) return e;
            if (nargs > 1) {
                fs_dataset_free(&m);
                return fs_fail(msg, FS_ERR_INVALID,
                               "a manifest is evaluated alone (give it as the only DATA)");
            }
            *out = m;
            *keep = malloc(m.count ? m.count : 1);
            if (!*keep) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            for (size_t k = 0; k < m.count; k++)
                (*keep)[k] = d->split < 0 || (int)m.items[k].split == d->split;
            return FS_OK;
        }
        e = fs_dataset_scan(out, d->path, NULL, msg);
    }
    if (e) return e;
    /* Folders: each keeps its split under its own policy; split the whole set once per
     * policy in use and remember each item's split under the policy of its folder. */
    const size_t n = out->count;
    *keep = calloc(n ? n : 1, 1);
    if (!*keep) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < nargs; i++) {
        const data_arg *d = &args[i];
        /* the source name fs_dataset_scan gave: the last component, trailing '/' ignored */
        char base_buf[EVAL_PATH_CAP];
        snprintf(base_buf, sizeof base_buf, "%s", d->path);
        size_t len = strlen(base_buf);
        while (len > 1 && base_buf[len - 1] == '/') base_buf[--len] = '\0';
        const char *base = strrchr(base_buf, '/');
        base = base ? base + 1 : base_buf;
        if (d->split >= 0) {
            fs_split_config sc = {1.0 - val - test, val, test, seed, d->policy};
            e = fs_dataset_split(out, &sc, msg);
            if (e) break;
        }
        for (size_t k = 0; k < n; k++)
            if (strcmp(out->items[k].source, base) == 0)
                (*keep)[k] = d->split < 0 || (int)out->items[k].split == d->split;
    }
    return e;
}

/* Full-precision figures, the report rounded as in the model cards. */
static json_t *figures_json(const fs_binary_metrics *m) {
    json_t *j = fs_binary_metrics_json(m, CLASS_NAMES, FS_REPORT_FULL);
    if (j) json_object_set_new(j, "report", fs_report_json(&m->report, CLASS_NAMES,
                                                           FS_REPORT_DECIMALS));
    return j;
}

static json_t *metrics_json(const samples *s, double thr, fs_binary_metrics *m, fs_msg *msg) {
    if (fs_binary_metrics_compute(s->labels, s->scores, s->n, thr, m, msg)) return NULL;
    return figures_json(m);
}

/* The videos of s: each video's mean face score (images are left out). FS_ERR_NOTFOUND when s
 * holds no face of a video. */
static fs_err video_groups(const samples *s, fs_groups *g, fs_msg *msg) {
    memset(g, 0, sizeof *g);
    const char **ids = malloc((s->n + 1) * sizeof *ids);
    int *labels = malloc((s->n + 1) * sizeof *labels);
    double *scores = malloc((s->n + 1) * sizeof *scores);
    size_t nv = 0;
    fs_err e = ids && labels && scores ? FS_OK : fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !e && i < s->n; i++)
        if (s->ids[i]) ids[nv] = s->ids[i], labels[nv] = s->labels[i], scores[nv++] = s->scores[i];
    if (!e && nv == 0) e = fs_fail(msg, FS_ERR_NOTFOUND, "no video was judged");
    if (!e) e = fs_groups_mean(ids, labels, scores, nv, g, msg);
    free(ids), free(labels), free(scores);
    return e;
}

/* Per source: n, accuracy and the ranking figures (null for a one-class source). */
static json_t *sources_json(const samples *s, double thr) {
    json_t *out = json_object();
    for (size_t i = 0; out && i < s->n; i++) {
        const char *src = s->sources[i];
        if (json_object_get(out, src)) continue;
        samples sub = {0};
        for (size_t k = i; k < s->n; k++)
            if (strcmp(s->sources[k], src) == 0 &&
                push(&sub, s->labels[k], s->scores[k], NULL, src, s->paths[k])) {
                samples_free(&sub);
                json_decref(out);
                return NULL;
            }
        fs_binary_metrics m;
        fs_msg msg;
        json_t *j = metrics_json(&sub, thr, &m, &msg);
        samples_free(&sub);
        if (!j) {
            json_decref(out);
            return NULL;
        }
        json_object_del(j, "report");
        json_object_set_new(out, src, j);
    }
    return out;
}

/* The manipulation method of a fake in a class folder with sub-folders (FF++'s
 * fake/Deepfakes/..., fake/Face2Face/...): the folder under the class one, into buf; 0 if none. */
static int method_of(const char *path, char *buf, size_t cap) {
    static const char *const classes[] = {"/fake/", "/df/", "/ai/"};
    const char *at = NULL;
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++)
        for (const char *p = strstr(path, classes[c]); p; p = strstr(p + 1, classes[c]))
            if (!at || p > at) at = p + strlen(classes[c]);
    const char *slash = at ? strchr(at, '/') : NULL;
    if (!slash || slash == at || (size_t)(slash - at) >= cap) return 0;
    memcpy(buf, at, (size_t)(slash - at));
    buf[slash - at] = 0;
    return 1;
}

/* Per manipulation method: its fakes against every real sample, frame and video level (the
 * video figures over videos only). NULL when no fake sits in a method folder. */
static void merge_prefixed(json_t *dst, json_t *src, const char *prefix);

static json_t *methods_json(const samples *s, double thr) {
    const char *const *paths = s->paths;
    json_t *out = json_object();
    char name[256], other[256];
    for (size_t i = 0; out && i < s->n; i++) {
        if (s->labels[i] != 1 || !method_of(paths[i], name, sizeof name) ||
            json_object_get(out, name))
            continue;
        samples sub = {0};
        int bad = 0;
        for (size_t k = 0; k < s->n && !bad; k++) {
            int take = s->labels[k] == 0 ||
                       (method_of(paths[k], other, sizeof other) && !strcmp(other, name));
            if (take) bad = push(&sub, s->labels[k], s->scores[k], s->ids[k], s->sources[k], s->paths[k]);
        }
        fs_binary_metrics m, vm;
        fs_msg msg;
        json_t *j = bad ? NULL : metrics_json(&sub, thr, &m, &msg);
        if (j) {
            json_object_del(j, "report");
            fs_groups g;
            if (video_groups(&sub, &g, &msg) == FS_OK) {
                if (!fs_binary_metrics_compute(g.labels, g.scores, g.n, thr, &vm, &msg)) {
                    json_t *vj = figures_json(&vm);
                    if (vj) {
                        json_object_del(vj, "report");
                        merge_prefixed(j, vj, "video_");
                    }
                    json_decref(vj);
                }
                fs_groups_free(&g);
            }
            json_object_set_new(out, name, j);
        }
        samples_free(&sub);
        if (!j) {
            json_decref(out);
            return NULL;
        }
    }
    if (out && !json_object_size(out)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static void print_figure(const char *name, double v) {
    if (isfinite(v)) printf("%-18s %.4f\n", name, v);
    else printf("%-18s n/a\n", name);
}

static void print_metrics(const char *title, const fs_binary_metrics *m) {
    const fs_report *r = &m->report;
    printf("%s (%zu samples: %lld real, %lld fake)\n\n", title, m->n, (long long)m->negatives,
           (long long)m->positives);
    printf("%14s %10s %10s %10s %10s\n", "", "precision", "recall", "f1-score", "support");
    for (int c = 0; c < 2; c++)
        printf("%14s %10.2f %10.2f %10.2f %10lld\n", CLASS_NAMES[c], r->cls[c].precision,
               r->cls[c].recall, r->cls[c].f1, (long long)r->cls[c].support);
    printf("\n%14s %10s %10s %10.2f %10lld\n", "accuracy", "", "", r->accuracy, (long long)r->total);
    printf("%14s %10.2f %10.2f %10.2f %10lld\n", "macro avg", r->macro.precision, r->macro.recall,
           r->macro.f1, (long long)r->macro.support);
    printf("%14s %10.2f %10.2f %10.2f %10lld\n\n", "weighted avg", r->weighted.precision,
           r->weighted.recall, r->weighted.f1, (long long)r->weighted.support);
    printf("confusion          [[%lld, %lld], [%lld, %lld]]  (rows true real/fake, columns "
           "predicted)\n",
           (long long)m->confusion.tn, (long long)m->confusion.fp, (long long)m->confusion.fn,
           (long long)m->confusion.tp);
    print_figure("accuracy", m->accuracy);
    print_figure("roc_auc", m->roc_auc);
    print_figure("average_precision", m->average_precision);
    print_figure("eer", m->eer);
    printf("\n");
}

static fs_err draw_roc(const samples *s, const fs_groups *g, const char *path, fs_msg *msg) {
    fs_roc a = {0}, b = {0};
    fs_err e = fs_roc_curve(s->labels, s->scores, s->n, 1, &a, msg);
    if (e) return e;
    if (g && (e = fs_roc_curve(g->labels, g->scores, g->n, 1, &b, msg))) {
        fs_roc_free(&a);
        return e;
    }
    fs_series ser[2] = {
        {.name = g ? "frames" : "samples", .x = a.fpr, .y = a.tpr, .n = a.n,
         .color = FS_COLOR_AUTO},
        {.name = "videos", .x = b.fpr, .y = b.tpr, .n = b.n, .color = FS_COLOR_AUTO},
    };
    fs_chart c = {.width = EVAL_ROC_SIDE, .height = EVAL_ROC_SIDE, .title = "ROC curve",
                  .x_label = "false positive rate", .y_label = "true positive rate",
                  .series = ser, .n_series = g ? 2 : 1, .fix_x = true, .fix_y = true,
                  .x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1, .diagonal = true};
    fs_plot *p = NULL;
    e = fs_plot_chart(&c, &p, msg);
    if (!e) e = fs_plot_save(p, path, msg);
    fs_plot_free(p);
    fs_roc_free(&a);
    fs_roc_free(&b);
    return e;
}

/* ---- calibration ---- */

#define EVAL_BINS 10

/* Reliability of the scores as probabilities: EVAL_BINS equal bins of P(fake); per bin the
 * count, the mean score and the share of fakes; the expected calibration error is the
 * count-weighted mean of |share - mean score|. A calibrated model's points lie on y = x. */
typedef struct {
    size_t n[EVAL_BINS];
    double mean_p[EVAL_BINS], share[EVAL_BINS], ece;
} reliability;

static void reliability_compute(const int *labels, const double *scores, size_t n, reliability *r) {
    memset(r, 0, sizeof *r);
    double fakes[EVAL_BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        int b = (int)(scores[i] * EVAL_BINS);
        b = b < 0 ? 0 : b >= EVAL_BINS ? EVAL_BINS - 1 : b;
        r->n[b]++, r->mean_p[b] += scores[i], fakes[b] += labels[i];
    }
    for (int b = 0; b < EVAL_BINS; b++) {
        if (!r->n[b]) {
            r->mean_p[b] = r->share[b] = NAN;
            continue;
        }
        r->mean_p[b] /= (double)r->n[b];
        r->share[b] = fakes[b] / (double)r->n[b];
        r->ece += (double)r->n[b] / (double)n * fabs(r->share[b] - r->mean_p[b]);
    }
}

static json_t *reliability_json(const reliability *r) {
    json_t *bins = json_array();
    for (int b = 0; b < EVAL_BINS; b++) {
        if (!r->n[b]) continue;
        json_array_append_new(bins, json_pack("{s:f, s:f, s:I, s:f, s:f}", "from", (double)b / EVAL_BINS,
                                              "to", (double)(b + 1) / EVAL_BINS, "n", (json_int_t)r->n[b],
                                              "mean_p_fake", r->mean_p[b], "fake_share", r->share[b]));
    }
    return json_pack("{s:o, s:f}", "bins", bins, "ece", r->ece);
}

/* Each point says how many samples its bin holds: a bin of 2 that misses the diagonal is noise,
 * a bin of 900 that misses it is a miscalibrated model. */
static void bin_labels(const reliability *r, char text[EVAL_BINS][24], const char *ptr[EVAL_BINS]) {
    for (int b = 0; b < EVAL_BINS; b++) {
        snprintf(text[b], sizeof text[b], "n=%zu", r->n[b]);
        ptr[b] = r->n[b] ? text[b] : NULL;
    }
}

static fs_err draw_reliability(const reliability *a, const reliability *v, const char *path,
                               fs_msg *msg) {
    char at[EVAL_BINS][24], vt[EVAL_BINS][24];
    const char *ap[EVAL_BINS], *vp[EVAL_BINS];
    bin_labels(a, at, ap);
    if (v) bin_labels(v, vt, vp);
    fs_series ser[2] = {
        {.name = v ? "frames" : "samples", .x = a->mean_p, .y = a->share, .n = EVAL_BINS,
         .color = FS_COLOR_AUTO, .markers = true, .point_labels = ap},
        {.name = "videos", .x = v ? v->mean_p : NULL, .y = v ? v->share : NULL, .n = EVAL_BINS,
         .color = FS_COLOR_AUTO, .markers = true, .point_labels = v ? vp : NULL},
    };
    char title[96];
    snprintf(title, sizeof title, "Reliability (ECE %.3f%s)", a->ece, v ? ", frames" : "");
    fs_chart c = {.width = EVAL_ROC_SIDE, .height = EVAL_ROC_SIDE, .title = title,
                  .x_label = "mean P(fake) in the bin", .y_label = "share of fakes",
                  .series = ser, .n_series = v ? 2 : 1, .fix_x = true, .fix_y = true,
                  .x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1, .diagonal = true};
    fs_plot *p = NULL;
    fs_err e = fs_plot_chart(&c, &p, msg);
    if (!e) e = fs_plot_save(p, path, msg);
    fs_plot_free(p);
    return e;
}

/* Copies every key of src into dst as prefix+key. */
static void merge_prefixed(json_t *dst, json_t *src, const char *prefix) {
    const char *key;
    json_t *v;
    json_object_foreach(src, key, v) {
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        json_object_set(dst, name, v);
    }
}

enum { O_WEIGHTS = 256, O_ARCH, O_DIR, O_JSON, O_OUT, O_ROC, O_FRAMES, O_FACES, O_THREADS,
       O_SEED, O_VAL, O_TEST, O_ROOT, O_ITEMS, O_MODEL, O_FACE_DETECTOR, O_SCALE, O_JPEG,
       O_RELIABILITY, O_THRESHOLD, O_CALIBRATE, O_TARGET };

/* Writes the chosen threshold and band into the card at path (atomically, the rest kept). */
static fs_err save_decision(const char *path, const fs_threshold_choice *c, double target,
                            int per_video, size_t n, const data_arg *args, int nargs, int argc,
                            char **argv, fs_msg *msg) {
    fs_card card;
    fs_err e = fs_card_load(path, &card, msg);
    if (e) return e;
    char data[2048] = "", rule[512], cmd[4096] = "fakescope";
    size_t at = 0;
    for (int i = 0; i < nargs && at < sizeof data; i++)
        at += (size_t)snprintf(data + at, sizeof data - at, "%s%s", i ? " " : "", args[i].arg);
    if (at < sizeof data)
        snprintf(data + at, sizeof data - at, " (%zu %s)", n, per_video ? "videos" : "samples");
    snprintf(rule, sizeof rule,
             "threshold: highest balanced accuracy %s (%.4f); uncertain band: the narrowest "
             "outside which %.0f%% of the calls are right, keeping at least half the %s outside "
             "(%.1f%% right on %.1f%%%s)",
             per_video ? "per video" : "per sample", c->balanced_accuracy, 100 * target,
             per_video ? "videos" : "samples", 100 * c->outside_accuracy, 100 * c->coverage,
             c->target_met ? "" : ": target not reached");
    at = strlen(cmd);
    for (int i = 0; i < argc && at < sizeof cmd; i++)
        at += (size_t)snprintf(cmd + at, sizeof cmd - at, " %s", argv[i]);
    free(card.decision.data), free(card.decision.rule), free(card.decision.command);
    card.decision = (fs_card_decision){1, c->threshold, c->lo, c->hi, strdup(data), strdup(rule),
                                       strdup(cmd)};
    e = !card.decision.data || !card.decision.rule || !card.decision.command
            ? fs_fail(msg, FS_ERR_NOMEM, "out of memory")
            : fs_card_save(&card, path, msg);
    fs_card_free(&card);
    return e;
}

int fs_cli_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},  {"weights", required_argument, 0, O_WEIGHTS},
        {"arch", required_argument, 0, O_ARCH},    {"dir", required_argument, 0, O_DIR},
        {"json", no_argument, 0, O_JSON},          {"out", required_argument, 0, O_OUT},
        {"roc", required_argument, 0, O_ROC},      {"frames", required_argument, 0, O_FRAMES},
        {"faces", no_argument, 0, O_FACES},        {"threads", required_argument, 0, O_THREADS},
        {"seed", required_argument, 0, O_SEED},    {"val-fraction", required_argument, 0, O_VAL},
        {"test-fraction", required_argument, 0, O_TEST},
        {"root", required_argument, 0, O_ROOT},    {"items", no_argument, 0, O_ITEMS},
        {"face-detector", required_argument, 0, O_FACE_DETECTOR},
        {"scale", required_argument, 0, O_SCALE},  {"jpeg", required_argument, 0, O_JPEG},
        {"reliability", required_argument, 0, O_RELIABILITY},
        {"threshold", required_argument, 0, O_THRESHOLD},
        {"calibrate", no_argument, 0, O_CALIBRATE},
        {"target-accuracy", required_argument, 0, O_TARGET},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *model = NULL, *weights = NULL, *arch = NULL, *out_path = NULL, *roc_path = NULL;
    const char *rel_path = NULL;
    const char *root = NULL, *face_detector = "blazeface";
    const char *dirs[FS_REGISTRY_MAX_DIRS];
    size_t ndirs = 0;
    int json = 0, faces = 0, threads = 0, frames = EVAL_FRAMES_DEFAULT, items = 0;
    unsigned long long seed = 1;
    double val = 0.15, test = 0, scale = 1, threshold = 0, target = 0.9;
    int jpeg = 0, calibrate = 0;
    char *end;
    optind = 0;
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_WEIGHTS: weights = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_DIR:
            if (ndirs == FS_REGISTRY_MAX_DIRS) goto bad;
            dirs[ndirs++] = optarg;
            break;
        case O_JSON: json = 1; break;
        case O_OUT: out_path = optarg; break;
        case O_ROC: roc_path = optarg; break;
        case O_RELIABILITY: rel_path = optarg; break;
        case O_ROOT: root = optarg; break;
        case O_ITEMS: items = 1; break;
        case O_FACES: faces = 1; break;
        case O_FACE_DETECTOR:
            if (strcmp(optarg, "blazeface") && strcmp(optarg, "haar")) {
                fprintf(stderr, "eval: --face-detector takes blazeface or haar\n");
                return FS_EXIT_USAGE;
            }
            face_detector = optarg;
            break;
        case O_FRAMES:
            frames = (int)strtol(optarg, &end, 10);
            if (*end || frames < 1 || frames > EVAL_MAX_FRAMES) goto bad;
            break;
        case O_THREADS:
            threads = (int)strtol(optarg, &end, 10);
            if (*end || threads < 1 || threads > FS_NN_MAX_THREADS) goto bad;
            break;
        case O_SEED:
            seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg) goto bad;
            break;
        case O_VAL:
            val = strtod(optarg, &end);
            if (*end || !(val >= 0 && val <= 0.9)) goto bad;
            break;
        case O_TEST:
            test = strtod(optarg, &end);
            if (*end || !(test >= 0 && test <= 0.9)) goto bad;
            break;
        case O_SCALE:
            scale = strtod(optarg, &end);
            if (*end || !(scale >= 0.05 && scale <= 1)) goto bad;
            break;
        case O_JPEG:
            jpeg = (int)strtol(optarg, &end, 10);
            if (*end || jpeg < 1 || jpeg > 100) goto bad;
            break;
        case O_THRESHOLD:
            threshold = strtod(optarg, &end);
            if (*end || !(threshold > 0 && threshold < 1)) goto bad;
            break;
        case O_CALIBRATE: calibrate = 1; break;
        case O_TARGET:
            target = strtod(optarg, &end);
            if (*end || !(target > 0.5 && target <= 1)) goto bad;
            break;
        case 'h': usage(stdout); return FS_EXIT_OK;
        default: goto bad;
        }
    }
    if (calibrate && (!model || threshold > 0)) {
        fprintf(stderr, "fakescope eval: --calibrate writes into a registry model's card: give "
                        "--model NAME, without --threshold\n");
        return FS_EXIT_USAGE;
    }
    if (!model == !weights || (weights && !arch) || (model && arch) || optind >= argc ||
        val + test > 0.9 || (arch && !fs_arch_find(arch)) || argc - optind > EVAL_MAX_DATA) {
        fprintf(stderr, "fakescope eval: give --model NAME or --weights FILE --arch ARCH (meso4, "
                        "mesoinception4, mobilenetv2), then up to %d DATA (see --help)\n", EVAL_MAX_DATA);
        return FS_EXIT_USAGE;
    }
    data_arg args[EVAL_MAX_DATA];
    const int nargs = argc - optind;
    for (int i = 0; i < nargs; i++)
        if (parse_data(argv[optind + i], &args[i])) {
            fprintf(stderr, "fakescope eval: bad DATA '%s' (FOLDER[:POLICY:SPLIT] or "
                            "MANIFEST[:SPLIT], SPLIT = train, val or test)\n", argv[optind + i]);
            return FS_EXIT_USAGE;
        }

    fs_msg msg;
    int status = FS_EXIT_OK;
    fs_dataset ds = {0};
    unsigned char *keep = NULL;
    fs_detector *det = NULL;
    fs_registry *reg = NULL;
    fs_scanner *scanner = NULL;
    samples s = {0};
    fs_groups groups = {0};
    int have_groups = 0;
    json_t *doc = NULL, *item_list = NULL;
    char model_name[EVAL_PATH_CAP];
    const char *card_path = NULL;
    fs_threshold_choice choice = {0};

    if (load_data(args, nargs, root, seed, val, test, &ds, &keep, &msg)) goto fatal;
    if (fs_detector_create(&det, &msg)) goto fatal;
    if (weights) {
        fs_weights w = {0};
        if (fs_weights_load(weights, arch, &w, &msg)) goto fatal;
        const char *base = strrchr(weights, '/');
        snprintf(model_name, sizeof model_name, "%s", base ? base + 1 : weights);
        fs_err err = fs_detector_add_weights(det, model_name, &w, arch, &msg);
        fs_weights_free(&w);
        if (err) goto fatal;
    } else {
        if (fs_registry_open(ndirs ? dirs : NULL, ndirs, &reg, &msg)) goto fatal;
        const fs_model_entry *ent = fs_registry_find(reg, model);
        if (!ent) {
            fs_fail(&msg, FS_ERR_NOTFOUND, "no model '%s' in the registry (see `fakescope "
                                           "models list`)", model);
            goto fatal;
        }
        snprintf(model_name, sizeof model_name, "%s", ent->card.name);
        if (fs_detector_add_entry(det, ent, &msg)) goto fatal;
        card_path = ent->card_path;
        if (!(threshold > 0)) threshold = fs_card_threshold(&ent->card);
        if (ent->card.picture_faces) faces = 1; /* it learned faces cut from pictures */
    }
    double thr = threshold > 0 ? threshold : FS_BINARY_THRESHOLD_DEFAULT;
    /* the face finder, loaded up front when faces are judged (videos, --faces): the learned
     * detector unless --face-detector haar */
    int need_faces = faces;
    for (size_t i = 0; i < ds.count && !need_faces; i++) need_faces = ds.items[i].kind == FS_ITEM_VIDEO;
    if (need_faces && (!strcmp(face_detector, "haar") ? fs_detector_load_cascade(det, NULL, &msg)
                                                      : fs_detector_load_blazeface(det, NULL, &msg)))
        goto fatal;
    if (fs_scanner_create(det, threads, &scanner, &msg)) goto fatal;

    fs_scan_opts img_opts = fs_scan_opts_default(), vid_opts = fs_scan_opts_default();
    img_opts.crop = faces ? FS_CROP_FACES : FS_CROP_WHOLE;
    img_opts.degrade_scale = vid_opts.degrade_scale = scale;
    img_opts.degrade_jpeg = vid_opts.degrade_jpeg = jpeg;
    vid_opts.sampling.mode = FS_VIDEO_SAMPLE_COUNT;
    vid_opts.sampling.count = frames;
    size_t judged = 0, failed = 0, no_face = 0, videos = 0;
    item_list = items ? json_array() : NULL;
    for (size_t i = 0; i < ds.count; i++) {
        if (!keep[i]) continue;
        const fs_item *it = &ds.items[i];
        fs_scan_result r;
        const fs_scan_opts *o = it->kind == FS_ITEM_VIDEO ? &vid_opts : &img_opts;
        if (fs_scan_file(scanner, it->path, o, &r, &msg)) {
            fprintf(stderr, "%s: error: %s\n", it->path, msg.text);
            failed++;
            continue;
        }
        const size_t before = s.n;
        int k = push_scan(&s, &r, it);
        fs_scan_result_free(&r);
        if (k < 0) {
            fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
            goto fatal;
        }
        if (k == 0) {
            no_face++;
            continue;
        }
        judged++;
        videos += it->kind == FS_ITEM_VIDEO;
        if (item_list) {
            double sum = 0;
            for (size_t j = before; j < s.n; j++) sum += s.scores[j];
            json_array_append_new(item_list,
                                  json_pack("{s:s, s:s, s:s, s:s, s:f, s:i}", "file", it->path,
                                            "label", CLASS_NAMES[it->label], "source", it->source,
                                            "kind", fs_item_kind_name(it->kind), "p_fake",
                                            sum / (double)(s.n - before), "samples", k));
        }
    }
    if (s.n == 0) {
        fs_fail(&msg, FS_ERR_INVALID, "nothing was judged (%zu files failed, %zu without a face)",
                failed, no_face);
        goto fatal;
    }

    if (calibrate) {
        /* chosen per video when there are videos (what the video checks decide on) */
        fs_groups g = {0};
        int per_video = videos > 0;
        if (per_video && video_groups(&s, &g, &msg)) goto fatal;
        fs_err e = per_video ? fs_choose_threshold(g.labels, g.scores, g.n, target, 0.5, &choice, &msg)
                             : fs_choose_threshold(s.labels, s.scores, s.n, target, 0.5, &choice, &msg);
        size_t n_chosen = per_video ? g.n : s.n;
        if (per_video) fs_groups_free(&g);
        if (e) goto fatal;
        /* four decimals: a card says 0.4367, not 0.43665524385869503 */
        choice.threshold = round(choice.threshold * 1e4) / 1e4;
        choice.lo = round(choice.lo * 1e4) / 1e4;
        choice.hi = round(choice.hi * 1e4) / 1e4;
        thr = choice.threshold;
        if (save_decision(card_path, &choice, target, per_video, n_chosen, args, nargs, argc, argv,
                          &msg))
            goto fatal;
    }

    fs_binary_metrics m = {0}, vm = {0};
    doc = metrics_json(&s, thr, &m, &msg);
    if (!doc) goto fatal;
    json_object_set_new(doc, "model", json_string(model_name));
    if (scale < 1 || jpeg)
        json_object_set_new(doc, "degraded", json_pack("{s:f, s:i}", "scale", scale, "jpeg", jpeg));
    json_object_set_new(doc, "files", json_integer((json_int_t)judged));
    json_object_set_new(doc, "failed", json_integer((json_int_t)failed));
    json_object_set_new(doc, "no_face", json_integer((json_int_t)no_face));
    json_object_set_new(doc, "videos", json_integer((json_int_t)videos));
    json_t *src = sources_json(&s, thr);
    if (src) json_object_set_new(doc, "sources", src);
    json_t *methods = methods_json(&s, thr);
    if (methods) json_object_set_new(doc, "methods", methods);
    if (videos) {
        /* video level: the mean score of each video's faces */
        if (video_groups(&s, &groups, &msg)) goto fatal;
        have_groups = 1;
        if (fs_binary_metrics_compute(groups.labels, groups.scores, groups.n, thr, &vm, &msg))
            goto fatal;
        json_t *vj = figures_json(&vm);
        if (vj) merge_prefixed(doc, vj, "video_");
        json_decref(vj);
    }
    reliability rel, vrel;
    reliability_compute(s.labels, s.scores, s.n, &rel);
    json_object_set_new(doc, "calibration", reliability_json(&rel));
    if (have_groups) {
        reliability_compute(groups.labels, groups.scores, groups.n, &vrel);
        json_object_set_new(doc, "video_calibration", reliability_json(&vrel));
    }
    if (item_list) json_object_set(doc, "items", item_list);
    if (calibrate)
        json_object_set_new(doc, "decision",
                            json_pack("{s:f, s:[f, f], s:f, s:f, s:f, s:b, s:s}", "threshold",
                                      choice.threshold, "uncertain", choice.lo, choice.hi,
                                      "balanced_accuracy", choice.balanced_accuracy,
                                      "outside_accuracy", choice.outside_accuracy, "coverage",
                                      choice.coverage, "target_met", choice.target_met, "card",
                                      card_path));

    if (json) {
        char *txt = fs_json_dumps(doc, JSON_COMPACT);
        if (txt) puts(txt);
        free(txt);
    } else {
        printf("model %s: %zu files judged, %zu failed, %zu without a face; fake when P(fake) "
               ">= %.4g\n\n", model_name, judged, failed, no_face, thr);
        if (calibrate)
            printf("decision written to %s: threshold %.4f (balanced accuracy %.4f%s), uncertain "
                   "band (%.4f, %.4f): outside it %.1f%% of the calls right on %.1f%% of the "
                   "data%s\n\n", card_path, choice.threshold, choice.balanced_accuracy,
                   videos ? " per video" : "", choice.lo, choice.hi, 100 * choice.outside_accuracy,
                   100 * choice.coverage, choice.target_met ? "" : " (target not reached)");
        print_metrics(videos ? "frame level (each judged face)" : "samples", &m);
        if (videos) print_metrics("video level (mean score per video)", &vm);
        printf("calibration: expected calibration error %.4f (%d bins)", rel.ece, EVAL_BINS);
        if (have_groups) printf(", per video %.4f", vrel.ece);
        printf("\n\n");
        const char *key;
        json_t *v;
        if (src) {
            printf("per source:\n");
            json_object_foreach(src, key, v) {
                json_t *auc = json_object_get(v, "roc_auc");
                char auc_txt[32] = "n/a";
                if (json_is_number(auc)) snprintf(auc_txt, sizeof auc_txt, "%.4f", json_number_value(auc));
                printf("  %-24s n %-6lld accuracy %.4f  roc_auc %s\n", key,
                       (long long)json_integer_value(json_object_get(v, "n")),
                       json_number_value(json_object_get(v, "accuracy")), auc_txt);
            }
        }
        if (methods) {
            printf("per manipulation method (its fakes against every real):\n");
            json_object_foreach(methods, key, v) {
                json_t *auc = json_object_get(v, "roc_auc"), *vauc = json_object_get(v, "video_roc_auc");
                char a[32] = "n/a", va[32] = "n/a";
                if (json_is_number(auc)) snprintf(a, sizeof a, "%.4f", json_number_value(auc));
                if (json_is_number(vauc)) snprintf(va, sizeof va, "%.4f", json_number_value(vauc));
                printf("  %-24s n %-6lld roc_auc %s  video n %lld video_roc_auc %s\n", key,
                       (long long)json_integer_value(json_object_get(v, "n")), a,
                       (long long)json_integer_value(json_object_get(v, "video_n")), va);
            }
        }
    }
    if (out_path && fs_json_dump_file(doc, out_path, JSON_INDENT(2), &msg)) {
        fprintf(stderr, "fakescope eval: cannot write %s: %s\n", out_path, msg.text);
        status = FS_EXIT_INPUT;
    }
    if (rel_path && draw_reliability(&rel, have_groups ? &vrel : NULL, rel_path, &msg)) {
        fprintf(stderr, "fakescope eval: %s\n", msg.text);
        status = FS_EXIT_INPUT;
    }
    if (roc_path) {
        if (m.flags) {
            fprintf(stderr, "fakescope eval: no ROC curve: the data hold one class only\n");
            status = FS_EXIT_INPUT;
        } else if (draw_roc(&s, have_groups && !vm.flags ? &groups : NULL, roc_path, &msg)) {
            fprintf(stderr, "fakescope eval: %s\n", msg.text);
            status = FS_EXIT_INPUT;
        }
    }
    if (failed) status = FS_EXIT_INPUT;
    goto done;
bad:
    usage(stderr);
    return FS_EXIT_USAGE;
fatal:
    fprintf(stderr, "fakescope eval: %s\n", msg.text);
    status = FS_EXIT_INPUT;
done:
    json_decref(doc);
    json_decref(item_list);
    if (have_groups) fs_groups_free(&groups);
    samples_free(&s);
    fs_scanner_free(scanner);
    fs_detector_free(det);
    fs_registry_free(reg);
    fs_dataset_free(&ds);
    free(keep);
    fs_plot_cleanup();
    return status;
}
