/* train.c: `fakescope train`, the trainer. It scans the dataset folders (dataset.h), splits
 * them by group, writes the manifest, then runs epochs of shuffled mini-batches from the
 * parallel loader (augmentations, self-blended pseudo-fakes) through a training graph
 * (train.h) with Adam or SGD, evaluates the validation split after each epoch, and writes a
 * checkpoint per epoch so --resume continues exactly where the last completed epoch ended.
 * At the end it writes NAME.safetensors, the model card NAME.json and the loss curve
 * NAME_loss.png.
 *
 * Every random choice derives from the seed: the split from (seed, group), the epoch order
 * from (seed, epoch), each item's augmentation from (seed, epoch, item), dropout masks from
 * (seed, step). A checkpoint therefore needs only weights, optimiser state, the epoch and the
 * step to resume bit-exactly (for the same thread count).
 *
 * --arch mobilenetv2 fine-tunes the MobileNetV2 of --init FILE (ImageNet TFLite or named
 * weights) as an op graph (graph.h) in training form: batch norm unfolded and calibrated on the
 * first training batch, a new one-logit head, the backbone at --backbone-lr x the learning rate.
 * The op graph runs on --threads threads; its output weights are folded back (mobilenet.h). */
#include "cli/cli.h"
#include "fakescope/binary_metrics.h"
#include "fakescope/card.h"
#include "fakescope/dataset.h"
#include "fakescope/graph.h"
#include "fakescope/json.h"
#include "fakescope/mobilenet.h"
#include "fakescope/plot.h"
#include "fakescope/tflite.h"
#include "fakescope/train.h"
#include "fakescope/uuid.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TRAIN_SIDE 256        /* the weights format fixes the input: 256x256x3 */
#define TRAIN_MAX_SPECS 32
#define TRAIN_MAX_EPOCHS 10000
#define TRAIN_MAX_BATCH 1024
#define TRAIN_PATH_CAP 4096
#define CKPT_SUFFIX "_checkpoint"

typedef struct {
    char folder[TRAIN_PATH_CAP];
    char source[128];
    char policy[64];
} data_spec;

typedef struct {
    const char *arch, *out, *name, *aug, *init;
    data_spec specs[TRAIN_MAX_SPECS];
    int nspecs;
    int epochs, batch, threads, resume, video_frames;
    const char *face_detector; /* of the video crops: "blazeface" or "haar" */
    int face_aligned;          /* video crops aligned on the landmarks (--face-crop aligned) */
    double face_margin;        /* their margin */
    int picture_faces;         /* pictures become their main face's crop (--picture-faces) */
    const char *sbi_mask;      /* "ellipse" (fs_blend_self) or "landmarks" (fs_blend_sbi) */
    const char *sbi_preview;   /* a contact sheet of pseudo-fakes, written before training */
    int sbi_pairs;             /* every real training item twice: kept, and self-blended */
    long max_train;
    double lr, val_fraction, test_fraction, sbi, weight_decay, clip, backbone_lr;
    int freeze_bn;
    uint64_t seed;
    const char *optimizer, *schedule;
    long warmup;
    char command[8192];
} train_opts;

typedef struct {
    double *train_loss, *val_loss, *train_acc, *val_acc, *seconds;
    int n;
} history;

static void usage(FILE *out) {
    fprintf(out,
            "usage: fakescope train --arch ARCH --data SPEC [--data SPEC]... --out DIR\n"
            "                       [--name NAME] [--epochs N] [--batch B] [--lr X] [--seed S]\n"
            "                       [--threads T] [--resume] [--val-fraction F]\n"
            "                       [--test-fraction F] [--sbi P] [--aug POLICY]\n"
            "                       [--optimizer adam|sgd] [--weight-decay W] [--clip C]\n"
            "                       [--schedule constant|cosine|step] [--warmup STEPS]\n"
            "                       [--max-train N] [--video-frames N]\n"
            "                       [--init FILE [--backbone-lr F] [--freeze-bn]]\n"
            "\n"
            "Trains a MesoNet detector on 256x256 RGB inputs (rgb/255), or fine-tunes a\n"
            "pretrained MobileNetV2 with a new one-logit head, and writes\n"
            "DIR/NAME.safetensors, its model card DIR/NAME.json, the loss curve\n"
            "DIR/NAME_loss.png, the manifest DIR/NAME_manifest.csv and, after each epoch, the\n"
            "checkpoint DIR/NAME_checkpoint.safetensors (+ .json).\n"
            "\n"
            "  --arch ARCH          meso4, mesoinception4 or mobilenetv2 (needs --init)\n"
            "  --init FILE          mobilenetv2: the pretrained network, an ImageNet MobileNetV2\n"
            "                       TFLite file or safetensors weights in torchvision's names\n"
            "  --backbone-lr F      mobilenetv2: the backbone learns at F x --lr (default 0.1;\n"
            "                       0 freezes it and trains the head alone)\n"
            "  --freeze-bn          mobilenetv2: batch norm keeps its running statistics\n"
            "  --data SPEC          FOLDER[:SOURCE[:POLICY]]: a dataset folder whose first-level\n"
            "                       sub-folders name the class (real; fake, df or ai), with an\n"
            "                       optional source name (default: the folder's name, which picks\n"
            "                       the grouping rule) and split policy (hash, ffpp-suggested,\n"
            "                       ffpp-val: ffpp-suggested with pair 469/481 and actors 08-09\n"
            "                       as validation);\n"
            "                       repeatable. A video gives the main person's face crop of\n"
            "                       each of --video-frames sampled frames (as `fakescope eval`\n"
            "                       judges it), all on the video's side of the split.\n"
            "  --out DIR            output folder (created)\n"
            "  --name NAME          model name and file stem (default: ARCH)\n"
            "  --epochs N           passes over the training split (default 10)\n"
            "  --batch B            images per step (default 32)\n"
            "  --lr X               peak learning rate (default 0.001)\n"
            "  --seed S             seed of every random choice (default 1)\n"
            "  --threads T          worker threads for the loader and the network (default: CPUs)\n"
            "  --resume             continue from DIR/NAME_checkpoint.* (same options)\n"
            "  --val-fraction F     share of groups held out for validation (default 0.15)\n"
            "  --test-fraction F    share of groups held out for the final metrics (default 0:\n"
            "                       the card reports the validation split)\n"
            "  --sbi P              a real image becomes its self-blended pseudo-fake (label\n"
            "                       fake) with probability P (default 0); in the held-out splits\n"
            "                       the choice is fixed per image\n"
            "  --sbi-mask M         ellipse (default: a deformed ellipse over the crop's centre)\n"
            "                       or landmarks (the published recipe: the hull of the face's\n"
            "                       68 landmarks, found once per real picture and cached in\n"
            "                       DIR/NAME_landmarks.csv; pictures without a face use the\n"
            "                       ellipse)\n"
            "  --sbi-pairs          every real training picture comes twice in its batch: as\n"
            "                       it is and self-blended, with the same augmentation (the\n"
            "                       published recipe; the held-out splits still use --sbi P)\n"
            "  --sbi-preview PNG    first write a sheet of 8 real training pictures: picture,\n"
            "                       its pseudo-fake, the blend mask, 4x their difference\n"
            "  --aug POLICY         none or default (flip, affine, colour, blur, JPEG, rescale;\n"
            "                       default: default)\n"
            "  --optimizer O        adam (default) or sgd (momentum 0.9)\n"
            "  --weight-decay W     decoupled weight decay on conv/dense weights (default 0)\n"
            "  --clip C             clip the global gradient norm at C (default 0: off)\n"
            "  --schedule S         constant (default), cosine (to 1%% of lr), step (x0.1 at\n"
            "                       each third of the run)\n"
            "  --warmup STEPS       linear warm-up steps (default 0)\n"
            "  --max-train N        use at most N training items (a quick run)\n"
            "  --video-frames N     frames sampled per video (default 16); the crops are cached\n"
            "                       in DIR/video_crops/ and listed in DIR/NAME_crops.csv\n"
            "  --face-detector D    what finds the faces of videos: blazeface (default) or haar\n"
            "  --face-crop C        how video faces are cut: box (default: the square around\n"
            "                       the face's box, 30%% margin) or aligned[:M] (eyes, nose and\n"
            "                       mouth fitted onto a template with margin M, default 0.1;\n"
            "                       blazeface only); the card's face_crop makes every scan cut\n"
            "                       the model's faces the same way\n"
            "  --picture-faces      pictures are judged by their faces too: each picture's main\n"
            "                       face is cut as the videos' are (pictures without a face are\n"
            "                       left out and counted); the card's picture_input \"faces\"\n"
            "                       makes the image check and eval judge the faces they find\n"
            "\n"
            "Progress (loss, accuracy, images/s, ETA) is drawn on stderr when it is a terminal,\n"
            "one line per epoch otherwise. Results are deterministic for a given seed and\n"
            "thread count.\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int parse_spec(const char *arg, data_spec *s) {
    memset(s, 0, sizeof *s);
    char buf[TRAIN_PATH_CAP];
    if (strlen(arg) >= sizeof buf) return -1;
    strcpy(buf, arg);
    char *src = strchr(buf, ':');
    char *pol = NULL;
    if (src) {
        *src++ = '\0';
        pol = strchr(src, ':');
        if (pol) *pol++ = '\0';
        if (strlen(src) >= sizeof s->source || (pol && strlen(pol) >= sizeof s->policy)) return -1;
        strcpy(s->source, src);
        if (pol) strcpy(s->policy, pol);
    }
    if (!buf[0]) return -1;
    if (!realpath(buf, s->folder)) {
        snprintf(s->folder, sizeof s->folder, "%s", buf); /* the scan reports it */
    }
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}
static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- progress ---- */

static void fmt_time(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 359999) s = 0;
    const long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static void progress(int tty, int epoch, int epochs, size_t done, size_t total, double loss,
                     double acc, double ips, double eta, size_t batch) {
    enum { BAR = 24, LOG_PARTS = 10 };
    if (!tty) { /* a log file gets a line at every tenth of an epoch */
        const size_t part = total / LOG_PARTS > batch ? total / LOG_PARTS : batch;
        if (done >= total || (done / part) == ((done - (done < batch ? done : batch)) / part)) return;
        char etas[32];
        fmt_time(eta, etas, sizeof etas);
        fprintf(stderr, "epoch %d/%d %zu/%zu loss %.4f acc %.3f %.1f img/s ETA %s\n", epoch, epochs,
                done, total, loss, acc, ips, etas);
        return;
    }
    char bar[BAR + 1], etas[32];
    const int fill = total ? (int)((double)done / total * BAR) : BAR;
    for (int i = 0; i < BAR; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR] = '\0';
    fmt_time(eta, etas, sizeof etas);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %zu/%zu loss %.4f acc %.3f %.1f img/s ETA %s", epoch,
            epochs, bar, done, total, loss, acc, ips, etas);
    fflush(stderr);
}

/* ---- data ---- */

typedef struct {
    fs_dataset ds;
    size_t *train, *val, *test; /* item indices (images only) */
    size_t ntrain, nval, ntest;
    char root[TRAIN_PATH_CAP];
    char crops_digest[65]; /* of NAME_crops.csv, "" when there were no videos */
    fs_video_crops_stats crops;
} data_set;

static void data_free(data_set *d) {
    fs_dataset_free(&d->ds);
    free(d->train), free(d->val), free(d->test);
}

/* Longest common folder of the spec folders, so the manifest holds relative paths. */
static void common_root(const train_opts *o, char *root, size_t cap) {
    snprintf(root, cap, "%s", o->specs[0].folder);
    for (int i = 1; i < o->nspecs; i++) {
        size_t k = 0;
        const char *f = o->specs[i].folder;
        while (root[k] && f[k] && root[k] == f[k]) k++;
        if (!(root[k] == '\0' && (f[k] == '/' || f[k] == '\0'))) {
            while (k > 0 && root[k] != '/') k--;
        }
        root[k] = '\0';
    }
    char *slash = strrchr(root, '/');
    if (o->nspecs == 1 && slash) *slash = '\0'; /* the parent of a single folder */
    if (!root[0]) snprintf(root, cap, "/");
}

/* Videos become the face crops the scan pipeline would judge, cached under OUT/video_crops
 * (shared by the runs writing to OUT) and listed in their own manifest OUT/NAME_crops.csv
 * (paths relative to OUT); they join the dataset as images of their video's split. */
static fs_err add_video_crops(const train_opts *o, data_set *d, fs_msg *msg) {
    char cache[TRAIN_PATH_CAP], path[TRAIN_PATH_CAP];
    size_t nvideos = 0;
    for (size_t i = 0; i < d->ds.count; i++)
        nvideos += d->ds.items[i].kind == FS_ITEM_VIDEO || (o->picture_faces && d->ds.items[i].kind == FS_ITEM_IMAGE);
    if (!nvideos) return FS_OK;
    snprintf(cache, sizeof cache, "%.4000s/video_crops", o->out);
    fs_video_crops_config vc = {.frames = o->video_frames,
                                .face_detector = o->face_detector,
                                .aligned = o->face_aligned,
                                .align_margin = (float)o->face_margin,
                                .pictures = o->picture_faces,
                                .threads = o->threads < 16 ? o->threads : 16,
                                .cache_dir = cache};
    fs_dataset crops = {0};
    const double t0 = fs_now_ms();
    fs_err err = fs_dataset_video_crops(&d->ds, &vc, &crops, &d->crops, msg);
    snprintf(path, sizeof path, "%.4000s/%s_crops.csv", o->out, o->name);
    if (!err) err = fs_manifest_write(&crops, path, o->out, d->crops_digest, msg);
    if (!err && o->picture_faces) {
        /* the crops stand for every item: the pictures themselves are not trained on */
        fs_dataset_free(&d->ds);
        d->ds = crops;
        memset(&crops, 0, sizeof crops);
    } else if (!err) {
        err = fs_dataset_append(&d->ds, &crops, msg);
    }
    fs_dataset_free(&crops);
    if (err) return err;
    fprintf(stderr, "videos: %zu, pictures: %zu (%zu from the cache, %zu without a face, %zu failed): "
                    "%zu face crops, %d per video at most, %.1f s (%s)\n",
            d->crops.videos, d->crops.pictures, d->crops.cached, d->crops.no_face, d->crops.failed,
            d->crops.crops, o->video_frames, (fs_now_ms() - t0) / 1000.0, path);
    if (d->crops.failed) fprintf(stderr, "last video failure: %s\n", d->crops.last_error);
    return FS_OK;
}

static fs_err load_data(const train_opts *o, data_set *d, char digest[65], const char *manifest,
                        fs_msg *msg) {
    fs_err err = FS_OK;
    for (int i = 0; i < o->nspecs && !err; i++) {
        err = fs_dataset_scan(&d->ds, o->specs[i].folder,
                              o->specs[i].source[0] ? o->specs[i].source : NULL, msg);
        if (err) fs_msg_prefix(msg, "%s: ", o->specs[i].folder);
    }
    if (err) return err;
    const char *policy = NULL;
    for (int i = 0; i < o->nspecs; i++)
        if (o->specs[i].policy[0]) {
            if (policy && strcmp(policy, o->specs[i].policy))
                return fs_fail(msg, FS_ERR_INVALID, "one split policy per run (%s, %s)", policy,
                               o->specs[i].policy);
            policy = o->specs[i].policy;
        }
    fs_split_config sc = {1.0 - o->val_fraction - o->test_fraction, o->val_fraction,
                          o->test_fraction, o->seed, policy};
    err = fs_dataset_split(&d->ds, &sc, msg);
    if (err) return err;
    common_root(o, d->root, sizeof d->root);
    err = fs_manifest_write(&d->ds, manifest, d->root, digest, msg);
    if (err) return err;
    err = add_video_crops(o, d, msg);
    if (err) return err;
    d->train = malloc((d->ds.count + 1) * sizeof(size_t));
    d->val = malloc((d->ds.count + 1) * sizeof(size_t));
    d->test = malloc((d->ds.count + 1) * sizeof(size_t));
    if (!d->train || !d->val || !d->test) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < d->ds.count; i++) {
        const fs_item *it = &d->ds.items[i];
        if (it->kind != FS_ITEM_IMAGE) continue;
        if (it->split == FS_SPLIT_TRAIN) d->train[d->ntrain++] = i;
        else if (it->split == FS_SPLIT_VAL) d->val[d->nval++] = i;
        else d->test[d->ntest++] = i;
    }
    if (o->max_train > 0 && d->ntrain > (size_t)o->max_train) {
        /* a seeded choice, not the first N in path order (which would be one source) */
        size_t *perm = malloc(d->ntrain * sizeof *perm);
        if (!perm) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        fs_epoch_order(d->ntrain, o->seed, UINT64_MAX, perm);
        size_t *keep = malloc((size_t)o->max_train * sizeof *keep);
        if (!keep) return free(perm), fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        for (long i = 0; i < o->max_train; i++) keep[i] = d->train[perm[i]];
        memcpy(d->train, keep, (size_t)o->max_train * sizeof *keep);
        d->ntrain = (size_t)o->max_train;
        free(perm), free(keep);
    }
    if (d->ntrain < 2) return fs_fail(msg, FS_ERR_INVALID, "the training split has %zu images", d->ntrain);
    return FS_OK;
}

/* ---- the network being trained ---- */

/* A MesoNet training graph, or MobileNetV2 as an op graph in training form. */
typedef struct {
    fs_tnet *net;
    fs_graph *g;
    float in_scale, in_zero; /* graph: a pixel p (the loader's p/255) enters as scale (p - zero) */
    float *gx;               /* graph: the batch in the network's input scale */
    char padding[16], bn_eps[32];
} trainee;

static int is_graph_arch(const char *arch) { return !strcmp(arch, "mobilenetv2"); }

/* The pretrained weights of --init: a TFLite file or safetensors. */
static fs_err load_init(const char *path, fs_weights *w, fs_msg *msg) {
    const size_t len = strlen(path);
    if (len < 7 || strcmp(path + len - 7, ".tflite")) return fs_weights_load_safetensors(path, w, msg);
    uint8_t *data;
    size_t n;
    fs_tflite_model *m;
    fs_err err = fs_read_file(path, (size_t)256 << 20, &data, &n, msg);
    if (err) return err;
    err = fs_tflite_parse(data, n, &m, msg);
    if (!err) {
        err = fs_mobilenetv2_from_tflite(m, w, msg);
        fs_tflite_free(m);
    }
    free(data);
    if (err) fs_msg_prefix(msg, "%s: ", path);
    return err;
}

static fs_err trainee_create(const train_opts *o, trainee *t, fs_msg *msg) {
    memset(t, 0, sizeof *t);
    if (!is_graph_arch(o->arch))
        return fs_meso_train_create(o->arch, TRAIN_SIDE, TRAIN_SIDE, o->threads, o->seed, &t->net, msg);
    fs_weights w = {0};
    fs_err err = load_init(o->init, &w, msg);
    if (!err) err = fs_mobilenetv2_train_graph(&w, TRAIN_SIDE, 1, o->seed, &t->g, msg);
    if (!err) {
        const char *sc = fs_weights_meta(&w, "input_scale"), *zp = fs_weights_meta(&w, "input_zero_point");
        const char *pad = fs_weights_meta(&w, "padding"), *eps = fs_weights_meta(&w, "bn_eps");
        /* without metadata: torchvision-style inputs in [-1, 1] */
        t->in_scale = sc ? strtof(sc, NULL) : 1.0f / 127.5f;
        t->in_zero = zp ? strtof(zp, NULL) : 127.5f;
        snprintf(t->padding, sizeof t->padding, "%s", pad && !strcmp(pad, "tf_same") ? "tf_same" : "symmetric");
        snprintf(t->bn_eps, sizeof t->bn_eps, "%s", eps ? eps : !strcmp(t->padding, "tf_same") ? "0.001" : "1e-05");
        err = fs_graph_train(t->g, 1, msg);
    }
    if (!err) err = fs_graph_set_threads(t->g, o->threads, msg);
    if (!err && o->freeze_bn) fs_graph_bn_freeze(t->g, "", 1);
    if (!err && o->backbone_lr == 0) fs_graph_freeze(t->g, "features.", 1);
    if (!err && !(t->gx = malloc(sizeof(float) * (size_t)o->batch * TRAIN_SIDE * TRAIN_SIDE * 3)))
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (!err) err = fs_graph_plan(t->g, o->batch, msg);
    fs_weights_free(&w);
    return err;
}

static void trainee_free(trainee *t) {
    fs_tnet_free(t->net);
    fs_graph_free(t->g);
    free(t->gx);
}

static fs_err trainee_optim(const train_opts *o, trainee *t, const fs_opt_config *oc, fs_optim **opt,
                            fs_msg *msg) {
    if (t->net) return fs_optim_create(oc, t->net, opt, msg);
    fs_err err = fs_optim_create_params(oc, fs_graph_params(t->g), fs_graph_param_count(t->g), opt, msg);
    if (!err) fs_optim_lr_scale(*opt, "features.", o->backbone_lr);
    return err;
}

/* m images (the loader's rgb/255) through the network; *out borrows m logits. */
static fs_err trainee_forward(trainee *t, const float *x, int m, int training, uint64_t step,
                              const float **out, fs_msg *msg) {
    if (t->net) {
        fs_tnet_set_step(t->net, step);
        return fs_tnet_forward(t->net, x, m, training, out, msg);
    }
    const size_t count = (size_t)m * TRAIN_SIDE * TRAIN_SIDE * 3;
    for (size_t i = 0; i < count; i++) t->gx[i] = t->in_scale * (x[i] * 255.0f - t->in_zero);
    fs_err err = training ? fs_graph_forward_train(t->g, t->gx, m, NULL, msg)
                          : fs_graph_forward(t->g, t->gx, m, NULL, msg);
    *out = fs_graph_activation(t->g, fs_graph_output(t->g));
    return err;
}

static fs_err trainee_backward(trainee *t, const float *dz, fs_msg *msg) {
    if (t->net) {
        fs_tnet_backward(t->net, dz, NULL);
        return FS_OK;
    }
    return fs_graph_backward(t->g, dz, NULL, msg);
}

/* Batch norm restored from folded weights starts as the identity: its statistics come from the
 * first training batch (graph.h, fs_graph_bn_calibrate). */
static fs_err trainee_calibrate(trainee *t, const float *x, int m, fs_msg *msg) {
    if (t->net) return FS_OK;
    const size_t count = (size_t)m * TRAIN_SIDE * TRAIN_SIDE * 3;
    for (size_t i = 0; i < count; i++) t->gx[i] = t->in_scale * (x[i] * 255.0f - t->in_zero);
    return fs_graph_bn_calibrate(t->g, t->gx, m, msg);
}

/* Parameters for a checkpoint (graph: the training form, batch norm unfolded). */
static fs_err trainee_export(const train_opts *o, trainee *t, fs_weights *w, fs_msg *msg) {
    if (t->net) return fs_meso_train_export(t->net, o->arch, w, msg);
    fs_err err = fs_graph_export(t->g, w, msg);
    if (!err) err = fs_weights_set_meta(w, "arch", o->arch, msg);
    return err;
}

static fs_err trainee_import(trainee *t, const fs_weights *w, fs_msg *msg) {
    return t->net ? fs_tnet_import(t->net, w, msg) : fs_graph_import(t->g, w, msg);
}

/* The weights the inference side reads (graph: folded, with the input's scale). */
static fs_err trainee_final(const train_opts *o, trainee *t, fs_weights *w, fs_msg *msg) {
    if (t->net) return fs_meso_train_export(t->net, o->arch, w, msg);
    fs_weights tw = {0};
    char v[32];
    fs_err err = fs_graph_export(t->g, &tw, msg);
    if (!err) err = fs_weights_set_meta(&tw, "padding", t->padding, msg);
    if (!err) err = fs_weights_set_meta(&tw, "bn_eps", t->bn_eps, msg);
    if (!err) err = fs_mobilenetv2_fold(&tw, w, msg);
    fs_weights_free(&tw);
    if (!err) err = fs_weights_set_meta(w, "arch", o->arch, msg);
    if (!err) err = fs_weights_set_meta(w, "architecture", o->arch, msg);
    if (!err) err = fs_weights_set_meta(w, "output", "p_fake", msg);
    snprintf(v, sizeof v, "%.9g", (double)t->in_scale);
    if (!err) err = fs_weights_set_meta(w, "input_scale", v, msg);
    snprintf(v, sizeof v, "%.9g", (double)t->in_zero);
    if (!err) err = fs_weights_set_meta(w, "input_zero_point", v, msg);
    return err;
}

/* ---- evaluation ---- */

typedef struct {
    double loss, acc;
    int *labels;
    double *scores;
    size_t n;
} eval_result;

static fs_err evaluate(trainee *net, fs_loader *ld, const data_set *d, const size_t *idx, size_t n,
                       int batch, eval_result *r, fs_msg *msg) {
    memset(r, 0, sizeof *r);
    if (n == 0) return FS_OK;
    const size_t px = (size_t)TRAIN_SIDE * TRAIN_SIDE * 3;
    float *x = malloc((size_t)batch * px * sizeof(float)), *y = malloc((size_t)batch * sizeof(float));
    uint8_t *ok = malloc((size_t)batch);
    r->labels = malloc(n * sizeof(int));
    r->scores = malloc(n * sizeof(double));
    fs_err err = FS_OK;
    if (!x || !y || !ok || !r->labels || !r->scores) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    double loss = 0;
    size_t correct = 0;
    for (size_t b = 0; b < n && !err; b += (size_t)batch) {
        const size_t nb = n - b < (size_t)batch ? n - b : (size_t)batch;
        fs_msg lmsg;
        if (fs_loader_fill(ld, d->ds.items, d->ds.count, idx + b, nb, 0, x, y, ok, &lmsg))
            continue; /* every item of the batch failed: counted by the loader */
        size_t m = 0;
        for (size_t i = 0; i < nb; i++)
            if (ok[i]) {
                if (m != i) memcpy(x + m * px, x + i * px, px * sizeof(float)), y[m] = y[i];
                m++;
            }
        if (!m) continue;
        const float *out;
        err = trainee_forward(net, x, (int)m, 0, 0, &out, msg);
        if (err) break;
        loss += fs_loss_bce_logits(out, y, (int)m, NULL) * (double)m;
        for (size_t i = 0; i < m; i++) {
            const double p = 1.0 / (1.0 + exp(-(double)out[i]));
            r->labels[r->n] = y[i] > 0.5f;
            r->scores[r->n] = p;
            correct += (p >= 0.5) == (y[i] > 0.5f);
            r->n++;
        }
    }
    free(x), free(y), free(ok);
    if (r->n) r->loss = loss / (double)r->n, r->acc = (double)correct / (double)r->n;
    return err;
}

static void eval_free(eval_result *r) { free(r->labels), free(r->scores); }

/* ---- checkpoints ---- */

static fs_err save_checkpoint(const train_opts *o, trainee *net, fs_optim *opt, int epoch,
                              const history *h, fs_msg *msg) {
    char path[TRAIN_PATH_CAP], num[32];
    fs_weights w = {0};
    fs_err err = trainee_export(o, net, &w, msg);
    if (!err) err = fs_optim_export(opt, &w, msg);
    snprintf(num, sizeof num, "%d", epoch);
    if (!err) err = fs_weights_set_meta(&w, "epoch", num, msg);
    snprintf(num, sizeof num, "%llu", (unsigned long long)o->seed);
    if (!err) err = fs_weights_set_meta(&w, "seed", num, msg);
    snprintf(path, sizeof path, "%s/%s%s.safetensors", o->out, o->name, CKPT_SUFFIX);
    if (!err) err = fs_weights_save_safetensors(&w, path, msg);
    fs_weights_free(&w);
    if (err) return err;
    json_t *j = json_object(), *tl = json_array(), *vl = json_array(), *ta = json_array(),
           *va = json_array(), *sec = json_array();
    for (int i = 0; i < h->n; i++) {
        json_array_append_new(tl, json_real(h->train_loss[i]));
        json_array_append_new(vl, isfinite(h->val_loss[i]) ? json_real(h->val_loss[i]) : json_null());
        json_array_append_new(ta, json_real(h->train_acc[i]));
        json_array_append_new(va, isfinite(h->val_acc[i]) ? json_real(h->val_acc[i]) : json_null());
        json_array_append_new(sec, json_real(h->seconds[i]));
    }
    json_object_set_new(j, "arch", json_string(o->arch));
    json_object_set_new(j, "epochs_done", json_integer(epoch));
    json_object_set_new(j, "steps", json_integer(fs_optim_steps(opt)));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "threads", json_integer(o->threads));
    json_object_set_new(j, "batch", json_integer(o->batch));
    json_object_set_new(j, "train_loss", tl);
    json_object_set_new(j, "val_loss", vl);
    json_object_set_new(j, "train_accuracy", ta);
    json_object_set_new(j, "val_accuracy", va);
    json_object_set_new(j, "epoch_seconds", sec);
    char *text = fs_json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!text) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/%s%s.json", o->out, o->name, CKPT_SUFFIX);
    err = fs_write_file(path, text, strlen(text), msg);
    free(text);
    return err;
}

static int hist_push(history *h, double tl, double vl, double ta, double va, double sec) {
    double **arr[5] = {&h->train_loss, &h->val_loss, &h->train_acc, &h->val_acc, &h->seconds};
    const double v[5] = {tl, vl, ta, va, sec};
    for (int i = 0; i < 5; i++) {
        double *p = realloc(*arr[i], (size_t)(h->n + 1) * sizeof(double));
        if (!p) return -1;
        *arr[i] = p;
        p[h->n] = v[i];
    }
    h->n++;
    return 0;
}

static void hist_free(history *h) {
    free(h->train_loss), free(h->val_loss), free(h->train_acc), free(h->val_acc), free(h->seconds);
}

static double json_num(json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

static fs_err load_checkpoint(const train_opts *o, trainee *net, fs_optim *opt, int *epoch,
                              history *h, fs_msg *msg) {
    char path[TRAIN_PATH_CAP];
    snprintf(path, sizeof path, "%s/%s%s.safetensors", o->out, o->name, CKPT_SUFFIX);
    fs_weights w = {0};
    fs_err err = fs_weights_load_safetensors(path, &w, msg);
    if (err) return err;
    const char *arch = fs_weights_meta(&w, "arch"), *ep = fs_weights_meta(&w, "epoch");
    const char *seed = fs_weights_meta(&w, "seed");
    if (!arch || strcmp(arch, o->arch) || !ep || !seed)
        err = fs_fail(msg, FS_ERR_CONFLICT, "%s: not a %s checkpoint of this run", path, o->arch);
    else if (strtoull(seed, NULL, 10) != o->seed)
        err = fs_fail(msg, FS_ERR_CONFLICT, "%s: checkpoint seed %s differs from --seed", path, seed);
    if (!err) err = trainee_import(net, &w, msg);
    if (!err) err = fs_optim_import(opt, &w, msg);
    if (!err) *epoch = atoi(ep);
    fs_weights_free(&w);
    if (err) return err;
    snprintf(path, sizeof path, "%s/%s%s.json", o->out, o->name, CKPT_SUFFIX);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return fs_fail(msg, FS_ERR_FORMAT, "%s: %s", path, je.text);
    json_t *tl = json_object_get(j, "train_loss"), *vl = json_object_get(j, "val_loss");
    json_t *ta = json_object_get(j, "train_accuracy"), *va = json_object_get(j, "val_accuracy");
    json_t *sec = json_object_get(j, "epoch_seconds");
    const json_int_t threads = json_integer_value(json_object_get(j, "threads"));
    const json_int_t batch = json_integer_value(json_object_get(j, "batch"));
    if (!json_is_array(tl) || (int)json_array_size(tl) != *epoch || threads != o->threads ||
        batch != o->batch) {
        json_decref(j);
        return fs_fail(msg, FS_ERR_CONFLICT,
                       "%s: the checkpoint history does not match (same --threads and --batch "
                       "are needed to resume exactly)", path);
    }
    for (int i = 0; i < *epoch; i++)
        if (hist_push(h, json_num(json_array_get(tl, i)), json_num(json_array_get(vl, i)),
                      json_num(json_array_get(ta, i)), json_num(json_array_get(va, i)),
                      json_num(json_array_get(sec, i)))) {
            json_decref(j);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        }
    json_decref(j);
    return FS_OK;
}

/* ---- outputs ---- */

static fs_err save_plot(const train_opts *o, const history *h, fs_msg *msg) {
    char path[TRAIN_PATH_CAP], title[128];
    double *x = malloc((size_t)h->n * sizeof(double));
    if (!x) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < h->n; i++) x[i] = i + 1;
    fs_series s[2] = {{.name = "train", .x = x, .y = h->train_loss, .n = (size_t)h->n,
                       .color = FS_COLOR_AUTO, .markers = true},
                      {.name = "validation", .x = x, .y = h->val_loss, .n = (size_t)h->n,
                       .color = FS_COLOR_AUTO, .markers = true}};
    snprintf(title, sizeof title, "%s (%s): binary cross-entropy", o->name, o->arch);
    fs_chart c = {.title = title, .x_label = "epoch", .y_label = "loss", .series = s, .n_series = 2};
    fs_plot *p = NULL;
    fs_err err = fs_plot_chart(&c, &p, msg);
    snprintf(path, sizeof path, "%s/%s_loss.png", o->out, o->name);
    if (!err) err = fs_plot_save(p, path, msg);
    fs_plot_free(p);
    free(x);
    return err;
}

static char *dupstr(const char *s) {
    char *d = s ? strdup(s) : NULL;
    return d;
}

static void set_row(fs_card_report_row *r, const char *label, double p, double rc, double f1,
                    int64_t support) {
    r->label = dupstr(label);
    r->precision = p, r->recall = rc, r->f1 = f1, r->support = support;
}

static fs_err write_card(const train_opts *o, const trainee *net, const char *digest,
                         const data_set *d, const eval_result *held, const char *held_name,
                         const history *h, double seconds, fs_msg *msg) {
    fs_card c = {0};
    char path[TRAIN_PATH_CAP], buf[256];
    fs_err err = fs_uuid_v4(c.id, msg);
    if (err) return err;
    c.name = dupstr(o->name);
    snprintf(buf, sizeof buf, "%s trained by fakescope train on %d dataset folder%s", o->arch,
             o->nspecs, o->nspecs > 1 ? "s" : "");
    c.description = dupstr(buf);
    c.architecture = dupstr(o->arch);
    c.labels[0] = dupstr("real"), c.labels[1] = dupstr("fake");
    c.fake_label = dupstr("fake");
    c.output = dupstr("p_fake");
    c.input_width = c.input_height = TRAIN_SIDE;
    /* the faces it learned from are the faces every scan must give it */
    if (o->face_aligned) c.face_crop = (fs_card_face_crop){1, o->face_margin};
    c.picture_faces = o->picture_faces;
    if (net->g) {
        snprintf(buf, sizeof buf, "(rgb - %.9g) * %.9g", (double)net->in_zero, (double)net->in_scale);
        c.preprocessing = dupstr(buf);
    } else {
        c.preprocessing = dupstr("rgb/255");
    }
    snprintf(buf, sizeof buf, "%s_loss.png", o->name);
    c.loss_curve = dupstr(buf);
    snprintf(buf, sizeof buf, "%s.safetensors", o->name);
    c.weights = dupstr(buf);
    snprintf(path, sizeof path, "%s/%s", o->out, buf);
    err = fs_sha256_file(path, c.sha256, msg);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    c.created = dupstr(buf);

    json_t *t = json_object(), *data = json_array();
    for (int i = 0; i < o->nspecs; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "folder", json_string(o->specs[i].folder));
        if (o->specs[i].source[0]) json_object_set_new(s, "source", json_string(o->specs[i].source));
        if (o->specs[i].policy[0]) json_object_set_new(s, "policy", json_string(o->specs[i].policy));
        json_array_append_new(data, s);
    }
    json_object_set_new(t, "epochs", json_integer(h->n));
    json_object_set_new(t, "data", data);
    json_object_set_new(t, "manifest_sha256", json_string(digest));
    if (d->crops_digest[0]) {
        json_object_set_new(t, "video_frames", json_integer(o->video_frames));
        json_object_set_new(t, "face_detector", json_string(o->face_detector ? o->face_detector : "blazeface"));
        json_object_set_new(t, "face_crop", o->face_aligned ? json_pack("{s:s,s:f}", "mode", "aligned", "margin", o->face_margin)
                                                            : json_pack("{s:s}", "mode", "box"));
        json_object_set_new(t, "video_crops", json_pack("{s:I,s:I,s:I,s:I,s:s}", "videos",
                                                        (json_int_t)d->crops.videos, "pictures",
                                                        (json_int_t)d->crops.pictures, "no_face",
                                                        (json_int_t)d->crops.no_face, "crops",
                                                        (json_int_t)d->crops.crops,
                                                        "manifest_sha256", d->crops_digest));
    }
    json_object_set_new(t, "items", json_pack("{s:I,s:I,s:I}", "train", (json_int_t)d->ntrain,
                                              "val", (json_int_t)d->nval, "test", (json_int_t)d->ntest));
    json_object_set_new(t, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(t, "batch", json_integer(o->batch));
    json_object_set_new(t, "lr", json_real(o->lr));
    json_object_set_new(t, "optimizer", json_string(o->optimizer));
    json_object_set_new(t, "schedule", json_string(o->schedule));
    json_object_set_new(t, "weight_decay", json_real(o->weight_decay));
    json_object_set_new(t, "augmentation", json_string(o->aug));
    json_object_set_new(t, "sbi", json_real(o->sbi));
    if (o->sbi > 0) json_object_set_new(t, "sbi_mask", json_string(o->sbi_mask ? o->sbi_mask : "ellipse"));
    if (o->sbi_pairs) json_object_set_new(t, "sbi_pairs", json_true());
    json_object_set_new(t, "threads", json_integer(o->threads));
    json_object_set_new(t, "seconds", json_real(seconds));
    json_object_set_new(t, "command", json_string(o->command));
    json_t *tl = json_array(), *vl = json_array();
    for (int i = 0; i < h->n; i++) {
        json_array_append_new(tl, json_real(h->train_loss[i]));
        json_array_append_new(vl, isfinite(h->val_loss[i]) ? json_real(h->val_loss[i]) : json_null());
    }
    json_object_set_new(t, "train_loss", tl);
    json_object_set_new(t, "val_loss", vl);
    c.training_json = fs_json_dumps(t, JSON_COMPACT);
    json_decref(t);

    fs_binary_metrics m;
    fs_msg mm;
    if (held->n > 0 && !fs_binary_metrics_compute(held->labels, held->scores, held->n,
                                                  FS_BINARY_THRESHOLD_DEFAULT, &m, &mm)) {
        c.metrics.present = 1;
        c.metrics.accuracy = m.accuracy;
        c.metrics.roc_auc = m.roc_auc;
        snprintf(buf, sizeof buf, "the %s split of the manifest (%zu images)", held_name, held->n);
        c.metrics.data = dupstr(buf);
        c.metrics.rows = calloc(5, sizeof *c.metrics.rows);
        if (c.metrics.rows) {
            const fs_report *r = &m.report;
            set_row(&c.metrics.rows[0], "real", r->cls[0].precision, r->cls[0].recall, r->cls[0].f1, r->cls[0].support);
            set_row(&c.metrics.rows[1], "fake", r->cls[1].precision, r->cls[1].recall, r->cls[1].f1, r->cls[1].support);
            set_row(&c.metrics.rows[2], "accuracy", NAN, NAN, r->accuracy, r->total);
            set_row(&c.metrics.rows[3], "macro avg", r->macro.precision, r->macro.recall, r->macro.f1, r->macro.support);
            set_row(&c.metrics.rows[4], "weighted avg", r->weighted.precision, r->weighted.recall, r->weighted.f1, r->weighted.support);
            c.metrics.nrows = 5;
        }
        if (!isfinite(c.metrics.roc_auc))
            c.metrics_note = dupstr("ROC AUC is undefined: the held-out split has one class only");
    } else {
        c.metrics_note = dupstr("no held-out images (use --val-fraction or --test-fraction)");
    }
    snprintf(path, sizeof path, "%s/%s.json", o->out, o->name);
    if (!err) err = fs_card_save(&c, path, msg);
    fs_card_free(&c);
    return err;
}

/* ---- batches ---- */

/* The next batch from training position *next of order into bidx / bblend (what the loader's
 * fs_loader_fill_blend takes); returns its size and moves *next past the items it holds. With
 * --sbi-pairs a real item takes two places, kept then self-blended (the pair shares its
 * augmentation); a pair that does not fit ends the batch. */
static size_t next_batch(const train_opts *o, const data_set *d, const size_t *order, size_t *next,
                         size_t *bidx, signed char *bblend) {
    size_t nb = 0;
    while (*next < d->ntrain && nb < (size_t)o->batch) {
        const size_t it = d->train[order[*next]];
        const int pair = o->sbi_pairs && d->ds.items[it].label == 0;
        if (pair && nb + 2 > (size_t)o->batch) break;
        bidx[nb] = it, bblend[nb++] = pair ? 0 : -1;
        if (pair) bidx[nb] = it, bblend[nb++] = 1;
        (*next)++;
    }
    return nb;
}

/* Steps of one epoch (the learning-rate schedule's length): the batches of epoch 0's order. */
static int64_t steps_per_epoch(const train_opts *o, const data_set *d, fs_msg *msg) {
    size_t *order = malloc((d->ntrain ? d->ntrain : 1) * sizeof *order);
    size_t *bidx = malloc((size_t)o->batch * sizeof *bidx);
    signed char *bblend = malloc((size_t)o->batch);
    int64_t steps = -1;
    if (order && bidx && bblend) {
        fs_epoch_order(d->ntrain, o->seed, 0, order);
        steps = 0;
        for (size_t next = 0; next < d->ntrain; steps++) next_batch(o, d, order, &next, bidx, bblend);
    } else {
        fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    free(order), free(bidx), free(bblend);
    return steps;
}

/* ---- a look at the pseudo-fakes ---- */

#define PREVIEW_ROWS 8

/* Copies img into sheet at cell (col, row) of TRAIN_SIDE squares. */
static void sheet_put(fs_image *sheet, const fs_image *img, int col, int row) {
    for (int y = 0; y < img->h; y++)
        memcpy(sheet->rgb + (((size_t)row * TRAIN_SIDE + y) * sheet->w + (size_t)col * TRAIN_SIDE) * 3,
               img->rgb + (size_t)y * img->w * 3, (size_t)img->w * 3);
}

/* The first PREVIEW_ROWS real training pictures, each as picture | pseudo-fake | mask |
 * 4 x |difference|, blended as the loader would (same parameters, seed of the row). */
static fs_err write_sbi_preview(const train_opts *o, const data_set *d, const float *landmarks,
                                fs_msg *msg) {
    fs_image sheet = {0}, cell = {0};
    fs_err err = fs_image_alloc(&sheet, 4 * TRAIN_SIDE, PREVIEW_ROWS * TRAIN_SIDE, msg);
    if (!err) err = fs_image_alloc(&cell, TRAIN_SIDE, TRAIN_SIDE, msg);
    float *mask = malloc((size_t)TRAIN_SIDE * TRAIN_SIDE * sizeof(float));
    if (!err && !mask) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for a preview");
    if (err) goto done;
    memset(sheet.rgb, 0, (size_t)sheet.w * sheet.h * 3);
    const fs_image_limits limits = fs_image_limits_default();
    int rows = 0;
    for (size_t k = 0; k < d->ntrain && rows < PREVIEW_ROWS; k++) {
        const size_t i = d->train[k];
        const fs_item *it = &d->ds.items[i];
        if (it->label != 0 || it->kind != FS_ITEM_IMAGE) continue;
        fs_image img = {0}, sized = {0}, fake = {0};
        fs_msg imsg;
        if (fs_image_load(it->path, &limits, &img, &imsg)) continue;
        fs_err e = fs_image_resize(&img, TRAIN_SIDE, TRAIN_SIDE, &sized, &imsg);
        fs_image_free(&img);
        if (e) continue;
        fs_rng rng;
        fs_rng_seed(&rng, fs_seed_mix(o->seed, (uint64_t)rows));
        const float *lm = landmarks ? landmarks + i * FS_ITEM_LANDMARKS : NULL;
        e = fs_blend_face(&sized, lm, NULL, NULL, &rng, NULL, &fake, mask, &imsg);
        if (!e) {
            sheet_put(&sheet, &sized, 0, rows);
            sheet_put(&sheet, &fake, 1, rows);
            for (size_t p = 0; p < (size_t)TRAIN_SIDE * TRAIN_SIDE; p++) {
                const uint8_t v = (uint8_t)lrintf(mask[p] * 255.0f);
                cell.rgb[3 * p] = cell.rgb[3 * p + 1] = cell.rgb[3 * p + 2] = v;
            }
            sheet_put(&sheet, &cell, 2, rows);
            for (size_t p = 0; p < (size_t)TRAIN_SIDE * TRAIN_SIDE * 3; p++) {
                const int dv = 4 * abs((int)fake.rgb[p] - (int)sized.rgb[p]);
                cell.rgb[p] = (uint8_t)(dv > 255 ? 255 : dv);
            }
            sheet_put(&sheet, &cell, 3, rows);
            rows++;
        }
        fs_image_free(&sized);
        fs_image_free(&fake);
    }
    if (!rows) err = fs_fail(msg, FS_ERR_NOTFOUND, "--sbi-preview: no real training picture to blend");
    else err = fs_image_save(&sheet, o->sbi_preview, msg);
    if (!err) fprintf(stderr, "self-blend preview: %d pictures in %s\n", rows, o->sbi_preview);
done:
    free(mask);
    fs_image_free(&cell);
    fs_image_free(&sheet);
    return err;
}

/* ---- the run ---- */

static int parse_args(int argc, char **argv, train_opts *o) {
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'},      {"data", required_argument, 0, 'd'},
        {"epochs", required_argument, 0, 'e'},    {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'},        {"seed", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},       {"name", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 't'},   {"resume", no_argument, 0, 'r'},
        {"val-fraction", required_argument, 0, 'v'}, {"test-fraction", required_argument, 0, 'T'},
        {"sbi", required_argument, 0, 'S'},       {"aug", required_argument, 0, 'A'},
        {"optimizer", required_argument, 0, 'O'}, {"weight-decay", required_argument, 0, 'w'},
        {"clip", required_argument, 0, 'c'},      {"schedule", required_argument, 0, 'C'},
        {"warmup", required_argument, 0, 'W'},    {"max-train", required_argument, 0, 'm'},
        {"video-frames", required_argument, 0, 'F'}, {"init", required_argument, 0, 'I'},
        {"backbone-lr", required_argument, 0, 'B'}, {"freeze-bn", no_argument, 0, 'Z'},
        {"face-detector", required_argument, 0, 'D'}, {"sbi-mask", required_argument, 0, 'M'},
        {"sbi-preview", required_argument, 0, 'P'}, {"sbi-pairs", no_argument, 0, 'Q'},
        {"face-crop", required_argument, 0, 'X'}, {"picture-faces", no_argument, 0, 'G'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->video_frames = 16, o->epochs = 10, o->batch = 32, o->lr = 1e-3, o->seed = 1, o->val_fraction = 0.15;
    o->threads = fs_cpu_count(), o->aug = "default", o->optimizer = "adam", o->schedule = "constant";
    o->backbone_lr = 0.1;
    size_t used = 0;
    for (int i = 0; i < argc; i++) {
        int k = snprintf(o->command + used, sizeof o->command - used, "%s%s", i ? " " : "", i ? argv[i] : "fakescope train");
        if (k < 0 || (size_t)k >= sizeof o->command - used) break;
        used += (size_t)k;
    }
    int c, li = 0;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        switch (c) {
        case 'a': o->arch = optarg; break;
        case 'd':
            if (o->nspecs >= TRAIN_MAX_SPECS || parse_spec(optarg, &o->specs[o->nspecs])) {
                fprintf(stderr, "fakescope train: bad --data '%s' (at most %d)\n", optarg, TRAIN_MAX_SPECS);
                return 2;
            }
            o->nspecs++;
            break;
        case 'e':
            if (parse_long(optarg, 1, TRAIN_MAX_EPOCHS, &v)) goto bad;
            o->epochs = (int)v;
            break;
        case 'b':
            if (parse_long(optarg, 2, TRAIN_MAX_BATCH, &v)) goto bad;
            o->batch = (int)v;
            break;
        case 'l':
            if (parse_double(optarg, 1e-9, 10, &o->lr)) goto bad;
            break;
        case 's': {
            char *end;
            o->seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end) goto bad;
            break;
        }
        case 'o': o->out = optarg; break;
        case 'n': o->name = optarg; break;
        case 't':
            if (parse_long(optarg, 1, FS_TNET_MAX_THREADS, &v)) goto bad;
            o->threads = (int)v;
            break;
        case 'r': o->resume = 1; break;
        case 'v':
            if (parse_double(optarg, 0, 0.9, &o->val_fraction)) goto bad;
            break;
        case 'T':
            if (parse_double(optarg, 0, 0.9, &o->test_fraction)) goto bad;
            break;
        case 'S':
            if (parse_double(optarg, 0, 1, &o->sbi)) goto bad;
            break;
        case 'A': o->aug = optarg; break;
        case 'M': o->sbi_mask = optarg; break;
        case 'P': o->sbi_preview = optarg; break;
        case 'Q': o->sbi_pairs = 1; break;
        case 'O': o->optimizer = optarg; break;
        case 'w':
            if (parse_double(optarg, 0, 1, &o->weight_decay)) goto bad;
            break;
        case 'c':
            if (parse_double(optarg, 0, 1e6, &o->clip)) goto bad;
            break;
        case 'C': o->schedule = optarg; break;
        case 'W':
            if (parse_long(optarg, 0, LONG_MAX / 2, &o->warmup)) goto bad;
            break;
        case 'm':
            if (parse_long(optarg, 2, LONG_MAX / 2, &o->max_train)) goto bad;
            break;
        case 'F':
            if (parse_long(optarg, 1, 1024, &v)) goto bad;
            o->video_frames = (int)v;
            break;
        case 'I': o->init = optarg; break;
        case 'D':
            if (strcmp(optarg, "blazeface") && strcmp(optarg, "haar")) goto bad;
            o->face_detector = optarg;
            break;
        case 'X':
            if (!strcmp(optarg, "box")) {
                o->face_aligned = 0;
            } else if (!strcmp(optarg, "aligned")) {
                o->face_aligned = 1, o->face_margin = 0.1; /* about the scale of the box crop (30% margin) */
            } else if (!strncmp(optarg, "aligned:", 8)) {
                o->face_aligned = 1;
                if (parse_double(optarg + 8, 0, FS_CARD_MAX_CROP_MARGIN, &o->face_margin)) goto bad;
            } else {
                goto bad;
            }
            break;
        case 'B':
            if (parse_double(optarg, 0, 100, &o->backbone_lr)) goto bad;
            break;
        case 'Z': o->freeze_bn = 1; break;
        case 'G': o->picture_faces = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        continue;
    bad:
        fprintf(stderr, "fakescope train: bad value '%s' for --%s (see --help)\n", optarg, opts[li].name);
        return 2;
    }
    const char *why = NULL;
    if (optind < argc) why = "unexpected argument";
    else if (!o->arch || (strcmp(o->arch, "meso4") && strcmp(o->arch, "mesoinception4") &&
                          !is_graph_arch(o->arch)))
        why = "--arch must be meso4, mesoinception4 or mobilenetv2";
    else if (is_graph_arch(o->arch) && !o->init) why = "--arch mobilenetv2 needs --init FILE";
    else if (!is_graph_arch(o->arch) && (o->init || o->freeze_bn))
        why = "--init and --freeze-bn are for --arch mobilenetv2";
    else if (!o->nspecs) why = "at least one --data folder is needed";
    else if (!o->out) why = "--out DIR is needed";
    else if (strcmp(o->aug, "none") && strcmp(o->aug, "default")) why = "--aug must be none or default";
    else if (o->sbi_mask && strcmp(o->sbi_mask, "ellipse") && strcmp(o->sbi_mask, "landmarks"))
        why = "--sbi-mask must be ellipse or landmarks";
    else if (o->sbi_pairs && !(o->sbi > 0)) why = "--sbi-pairs needs --sbi P > 0 (for the held-out splits)";
    else if (o->face_aligned && o->face_detector && !strcmp(o->face_detector, "haar"))
        why = "--face-crop aligned needs the landmarks of the learned face detector, not --face-detector haar";
    else if (o->picture_faces && o->face_detector && !strcmp(o->face_detector, "haar"))
        why = "--picture-faces needs the learned face detector, not --face-detector haar";
    else if (strcmp(o->optimizer, "adam") && strcmp(o->optimizer, "sgd")) why = "--optimizer must be adam or sgd";
    else if (strcmp(o->schedule, "constant") && strcmp(o->schedule, "cosine") && strcmp(o->schedule, "step"))
        why = "--schedule must be constant, cosine or step";
    else if (o->val_fraction + o->test_fraction > 0.9) why = "--val-fraction + --test-fraction must be <= 0.9";
    if (!why && !o->name) o->name = o->arch;
    if (!why && !fs_card_name_valid(o->name)) why = "--name: letters, digits, '.', '_', '-'";
    if (why) {
        fprintf(stderr, "fakescope train: %s (see --help)\n", why);
        return 2;
    }
    return -1;
}

int fs_cli_train(int argc, char **argv) {
    train_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    fs_msg msg = {{0}};
    fs_err err = fs_mkdirs(o.out, &msg);
    if (err) {
        fprintf(stderr, "fakescope train: %s\n", msg.text);
        return 1;
    }
    const int tty = isatty(STDERR_FILENO);
    char path[TRAIN_PATH_CAP], digest[65] = "";
    data_set d = {0};
    trainee tr = {0}, *net = &tr;
    fs_optim *opt = NULL;
    fs_loader *ltrain = NULL, *lval = NULL;
    history h = {0};
    float *x = NULL, *y = NULL, *dz = NULL;
    uint8_t *ok = NULL;
    float *landmarks = NULL;
    size_t *order = NULL;
    eval_result held = {0};
    const double t_start = fs_now_ms();

    snprintf(path, sizeof path, "%s/%s_manifest.csv", o.out, o.name);
    err = load_data(&o, &d, digest, path, &msg);
    if (err) goto done;
    fprintf(stderr, "data: %zu images for training, %zu validation, %zu test (manifest %s, sha256 %.12s)\n",
            d.ntrain, d.nval, d.ntest, path, digest);

    err = trainee_create(&o, &tr, &msg);
    if (err) goto done;
    const int64_t epoch_steps = steps_per_epoch(&o, &d, &msg);
    if (epoch_steps < 0) {
        err = FS_ERR_NOMEM;
        goto done;
    }
    fs_opt_config oc = fs_opt_config_default();
    oc.kind = strcmp(o.optimizer, "sgd") ? FS_OPT_ADAM : FS_OPT_SGD;
    oc.lr = o.lr, oc.weight_decay = o.weight_decay, oc.clip_norm = o.clip, oc.warmup_steps = o.warmup;
    oc.total_steps = epoch_steps * o.epochs;
    if (!strcmp(o.schedule, "cosine")) oc.schedule = FS_LR_COSINE, oc.min_lr_frac = 0.01;
    if (!strcmp(o.schedule, "step")) {
        oc.schedule = FS_LR_STEP, oc.step_gamma = 0.1;
        oc.step_every = oc.total_steps / 3 > 0 ? oc.total_steps / 3 : 1;
    }
    err = trainee_optim(&o, net, &oc, &opt, &msg);
    if (err) goto done;

    fs_aug_policy aug = strcmp(o.aug, "none") ? fs_aug_policy_default() : fs_aug_policy_none();
    fs_loader_config lc = fs_loader_config_default();
    lc.width = lc.height = TRAIN_SIDE, lc.threads = o.threads, lc.seed = o.seed;
    lc.augment = &aug, lc.blend_prob = o.sbi;
    if (o.sbi > 0 && o.sbi_mask && !strcmp(o.sbi_mask, "landmarks")) {
        fs_landmark_stats ls;
        const double t_lm = fs_now_ms();
        snprintf(path, sizeof path, "%s/%s_landmarks.csv", o.out, o.name);
        fprintf(stderr, "landmarks of the real pictures (for --sbi-mask landmarks)...\n");
        err = fs_dataset_landmarks(&d.ds, NULL, NULL, path, &landmarks, &ls, &msg);
        if (err) goto done;
        fprintf(stderr, "landmarks: %zu of %zu real pictures have a face (%zu from the cache), "
                "%.1f s (%s)\n", ls.found, ls.items, ls.cached, (fs_now_ms() - t_lm) / 1000.0, path);
        lc.landmarks = landmarks;
    }
    if (o.sbi_preview) {
        err = write_sbi_preview(&o, &d, landmarks, &msg);
        if (err) goto done;
    }
    err = fs_loader_create(&lc, &ltrain, &msg);
    if (err) goto done;
    /* held-out images are not augmented, but real ones are self-blended with the same
     * probability (fixed per item: the loader's epoch is always 0 here), so a set of real
     * faces alone still gives a two-class validation */
    lc.augment = NULL;
    err = fs_loader_create(&lc, &lval, &msg);
    if (err) goto done;

    int first_epoch = 0;
    if (o.resume) {
        snprintf(path, sizeof path, "%s/%s%s.safetensors", o.out, o.name, CKPT_SUFFIX);
        if (access(path, F_OK) == 0) {
            err = load_checkpoint(&o, net, opt, &first_epoch, &h, &msg);
            if (err) goto done;
            fprintf(stderr, "resuming after epoch %d (step %lld)\n", first_epoch, (long long)fs_optim_steps(opt));
        } else {
            fprintf(stderr, "no checkpoint at %s: starting from epoch 1\n", path);
        }
    }

    const size_t px = (size_t)TRAIN_SIDE * TRAIN_SIDE * 3;
    x = malloc((size_t)o.batch * px * sizeof(float));
    y = malloc((size_t)o.batch * sizeof(float));
    dz = malloc((size_t)o.batch * sizeof(float));
    ok = malloc((size_t)o.batch);
    order = malloc(d.ntrain * sizeof(size_t));
    size_t *bidx = malloc((size_t)o.batch * sizeof(size_t));
    signed char *bblend = malloc((size_t)o.batch);
    if (!x || !y || !dz || !ok || !order || !bidx || !bblend) {
        free(bidx), free(bblend);
        err = fs_fail(&msg, FS_ERR_NOMEM, "out of memory for a batch of %d", o.batch);
        goto done;
    }
    int calibrated = first_epoch > 0; /* a checkpoint carries its statistics */
    for (int epoch = first_epoch; epoch < o.epochs; epoch++) {
        const double t0 = fs_now_ms();
        fs_epoch_order(d.ntrain, o.seed, (uint64_t)epoch, order);
        double loss_sum = 0;
        size_t seen = 0, correct = 0;
        for (size_t b = 0, next = 0; b < d.ntrain; b = next) {
            const size_t nb = next_batch(&o, &d, order, &next, bidx, bblend);
            fs_msg lmsg;
            if (fs_loader_fill_blend(ltrain, d.ds.items, d.ds.count, bidx, bblend, nb,
                                     (uint64_t)epoch, x, y, ok, &lmsg))
                continue;
            size_t m = 0;
            for (size_t i = 0; i < nb; i++)
                if (ok[i]) {
                    if (m != i) memcpy(x + m * px, x + i * px, px * sizeof(float)), y[m] = y[i];
                    m++;
                }
            if (m < 2) continue; /* batch statistics need two images */
            const float *out;
            if (!calibrated) {
                err = trainee_calibrate(net, x, (int)m, &msg);
                if (err) break;
                calibrated = 1;
            }
            err = trainee_forward(net, x, (int)m, 1, (uint64_t)fs_optim_steps(opt), &out, &msg);
            if (err) break;
            const double loss = fs_loss_bce_logits(out, y, (int)m, dz);
            for (size_t i = 0; i < m; i++) correct += (out[i] >= 0.0f) == (y[i] > 0.5f);
            err = trainee_backward(net, dz, &msg);
            if (err) break;
            fs_optim_step(opt);
            loss_sum += loss * (double)m;
            seen += m;
            const double el = (fs_now_ms() - t0) / 1000.0;
            const double ips = el > 0 ? (double)next / el : 0;
            const double left = (double)(d.ntrain - next) + (double)(o.epochs - epoch - 1) * d.ntrain;
            progress(tty, epoch + 1, o.epochs, next, d.ntrain, loss_sum / (double)seen,
                     (double)correct / (double)seen, ips, ips > 0 ? left / ips : 0, (size_t)o.batch);
        }
        if (err) break;
        if (!seen) {
            fs_loader_stats st;
            fs_loader_stats_get(ltrain, &st);
            err = fs_fail(&msg, FS_ERR_FORMAT, "no training image could be loaded (last: %s)", st.last_error);
            break;
        }
        const double train_sec = (fs_now_ms() - t0) / 1000.0;
        eval_result ev;
        err = evaluate(net, lval, &d, d.val, d.nval, o.batch, &ev, &msg);
        if (err) break;
        const double sec = (fs_now_ms() - t0) / 1000.0;
        if (hist_push(&h, loss_sum / (double)seen, ev.n ? ev.loss : NAN, (double)correct / (double)seen,
                      ev.n ? ev.acc : NAN, sec)) {
            eval_free(&ev);
            err = fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
            break;
        }
        if (tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "epoch %d/%d: loss %.4f acc %.3f | val loss %.4f acc %.3f (%zu) | %.1f img/s, %.1f s\n",
                epoch + 1, o.epochs, h.train_loss[h.n - 1], h.train_acc[h.n - 1], h.val_loss[h.n - 1],
                h.val_acc[h.n - 1], ev.n, (double)seen / train_sec, sec);
        eval_free(&ev);
        err = save_checkpoint(&o, net, opt, epoch + 1, &h, &msg);
        if (err) break;
    }
    free(bidx), free(bblend);
    if (err) goto done;

    /* final outputs */
    fs_weights w = {0};
    err = trainee_final(&o, net, &w, &msg);
    snprintf(path, sizeof path, "%s/%s.safetensors", o.out, o.name);
    if (!err) err = fs_weights_save_safetensors(&w, path, &msg);
    fs_weights_free(&w);
    if (err) goto done;
    const int use_test = d.ntest > 0;
    err = evaluate(net, lval, &d, use_test ? d.test : d.val, use_test ? d.ntest : d.nval, o.batch,
                   &held, &msg);
    if (err) goto done;
    err = save_plot(&o, &h, &msg);
    if (err) goto done;
    err = write_card(&o, net, digest, &d, &held, use_test ? "test" : "validation", &h,
                     (fs_now_ms() - t_start) / 1000.0, &msg);
    if (err) goto done;
    fs_loader_stats st;
    fs_loader_stats_get(ltrain, &st);
    printf("%s/%s.safetensors\n%s/%s.json\n%s/%s_loss.png\n", o.out, o.name, o.out, o.name, o.out, o.name);
    if (held.n)
        fprintf(stderr, "held-out (%s, %zu images): accuracy %.4f, loss %.4f\n", use_test ? "test" : "validation",
                held.n, held.acc, held.loss);
    if (st.failed) fprintf(stderr, "%llu training images failed to load (last: %s)\n",
                           (unsigned long long)st.failed, st.last_error);

done:
    if (err) fprintf(stderr, "%sfakescope train: %s\n", tty ? "\r\033[K" : "", msg.text);
    eval_free(&held);
    free(x), free(y), free(dz), free(ok), free(order);
    hist_free(&h);
    fs_loader_free(ltrain);
    fs_loader_free(lval);
    free(landmarks); /* after the loaders that read it */
    fs_optim_free(opt);
    trainee_free(&tr);
    data_free(&d);
    fs_plot_cleanup();
    return err ? (err == FS_ERR_INVALID ? 2 : 1) : 0;
}

/* ---- `fakescope train-bench`: training throughput on random data ---- */

static void bench_usage(FILE *out) {
    fprintf(out, "usage: fakescope train-bench --arch ARCH [--batch B] [--threads T] [--steps N] [--json]\n"
                 "\n"
                 "Times full training steps (forward in training mode, sigmoid-BCE, backward, Adam)\n"
                 "on random inputs (256x256; 224x224 for mobilenetv2, on random weights with batch\n"
                 "norm in training form) after one warm-up step and prints images per second and\n"
                 "the process's peak resident memory (ru_maxrss: weights, plan, input, program).\n"
                 "  --arch ARCH    meso4, mesoinception4 or mobilenetv2\n"
                 "  --batch B      images per step (default 32)\n"
                 "  --threads T    worker threads (default: CPUs)\n"
                 "  --steps N      timed steps (default 5)\n"
                 "  --json         one object: arch, batch, threads, steps, images_per_s, isa,\n"
                 "                 max_rss_mb\n");
}

int fs_cli_train_bench(int argc, char **argv) {
    static const struct option opts[] = {{"arch", required_argument, 0, 'a'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"steps", required_argument, 0, 's'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *arch = NULL;
    long batch = 32, threads = fs_cpu_count(), steps = 5;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': arch = optarg; break;
        case 'b':
            if (parse_long(optarg, 2, TRAIN_MAX_BATCH, &batch)) goto bad;
            break;
        case 't':
            if (parse_long(optarg, 1, FS_TNET_MAX_THREADS, &threads)) goto bad;
            break;
        case 's':
            if (parse_long(optarg, 1, 100000, &steps)) goto bad;
            break;
        case 'j': json = 1; break;
        case 'h': bench_usage(stdout); return 0;
        default: bench_usage(stderr); return 2;
        }
        continue;
    bad:
        fprintf(stderr, "fakescope train-bench: bad value '%s'\n", optarg);
        return 2;
    }
    if (!arch || optind < argc) {
        bench_usage(stderr);
        return 2;
    }
    fs_msg msg;
    fs_tnet *net = NULL;
    fs_graph *g = NULL;
    fs_optim *opt = NULL;
    fs_opt_config oc = fs_opt_config_default();
    const int mobilenet = !strcmp(arch, "mobilenetv2"), side = mobilenet ? 224 : TRAIN_SIDE;
    fs_err err = FS_OK;
    if (mobilenet) {
        fs_weights w = {0};
        err = fs_mobilenetv2_random(&w, 1, 1, &msg);
        if (!err) err = fs_mobilenetv2_train_graph(&w, side, 1, 1, &g, &msg);
        fs_weights_free(&w);
        if (!err) err = fs_graph_set_threads(g, (int)threads, &msg);
        if (!err) err = fs_graph_train(g, 1, &msg);
        if (!err) err = fs_graph_plan(g, (int)batch, &msg);
        if (!err) err = fs_optim_create_params(&oc, fs_graph_params(g), fs_graph_param_count(g), &opt, &msg);
    } else {
        err = fs_meso_train_create(arch, TRAIN_SIDE, TRAIN_SIDE, (int)threads, 1, &net, &msg);
        if (!err) err = fs_optim_create(&oc, net, &opt, &msg);
    }
    const size_t n = (size_t)batch * side * side * 3;
    float *x = malloc(n * sizeof(float)), *y = malloc((size_t)batch * sizeof(float));
    float *dz = malloc((size_t)batch * sizeof(float));
    if (!err && (!x || !y || !dz)) err = fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
    double t0 = 0;
    if (!err) {
        uint64_t s = 1;
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[i] = (float)(s >> 40) / 16777216.0f;
        }
        for (long i = 0; i < batch; i++) y[i] = (float)(i % 2);
        for (long step = 0; step <= steps && !err; step++) {
            if (step == 1) t0 = fs_now_ms();
            if (mobilenet) {
                err = fs_graph_forward_train(g, x, (int)batch, NULL, &msg);
                if (!err) err = fs_graph_backward_bce(g, y, NULL, &msg);
                if (!err) fs_optim_step(opt);
                continue;
            }
            const float *out;
            fs_tnet_set_step(net, (uint64_t)step);
            err = fs_tnet_forward(net, x, (int)batch, 1, &out, &msg);
            if (err) break;
            fs_loss_bce_logits(out, y, (int)batch, dz);
            fs_tnet_backward(net, dz, NULL);
            fs_optim_step(opt);
        }
    }
    if (!err) {
        const double ips = (double)(steps * batch) / ((fs_now_ms() - t0) / 1000.0);
        const char *isa = mobilenet ? fs_nn_isa_name(fs_graph_isa(g))
                          : fs_sgemm_uses_avx2() ? "avx2" : "portable";
        struct rusage ru;
        const double rss = getrusage(RUSAGE_SELF, &ru) ? 0 : ru.ru_maxrss / 1024.0; /* KB on Linux */
        if (json)
            printf("{\"arch\": \"%s\", \"batch\": %ld, \"threads\": %ld, \"steps\": %ld, "
                   "\"images_per_s\": %.2f, \"isa\": \"%s\", \"max_rss_mb\": %.1f}\n",
                   arch, batch, threads, steps, ips, isa, rss);
        else
            printf("%s: %.1f images/s (batch %ld, %ld threads, %s), peak resident memory %.0f MB\n",
                   arch, ips, batch, threads, isa, rss);
    } else {
        fprintf(stderr, "fakescope train-bench: %s\n", msg.text);
    }
    free(x), free(y), free(dz);
    fs_optim_free(opt);
    fs_tnet_free(net);
    fs_graph_free(g);
    return err ? (err == FS_ERR_INVALID ? 2 : 1) : 0;
}
