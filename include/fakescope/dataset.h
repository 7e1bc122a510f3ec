/* dataset (train/): labelled media folders scanned into item lists, grouped so that related
 * files stay on one side of a split, split deterministically, written to and read from
 * manifests, and decoded into float batches by a parallel loader.
 *
 * Folder convention: a dataset is a folder whose first-level sub-folders name the class:
 * `real` (label 0) or `fake`, `df`, `ai` (label 1), compared without case. They hold images
 * (jpg, jpeg, png, webp) or videos (mp4, mov, avi, mkv, webm) at any depth; other files and
 * hidden entries are skipped, files directly in the dataset folder (LICENSE, notes) ignored.
 * Any other first-level folder name is refused (FS_ERR_FORMAT naming it).
 *
 * Ownership: an fs_dataset owns its items and their strings (fs_dataset_free releases them,
 * and is safe on a zeroed dataset). Items point into the dataset: do not keep them past it.
 * On failure a function leaves the dataset as it was (scan) or zeroed (read). */
#ifndef FAKESCOPE_DATASET_H
#define FAKESCOPE_DATASET_H

#include "fakescope/augment.h"
#include "fakescope/image.h"

typedef enum { FS_ITEM_IMAGE = 0, FS_ITEM_VIDEO = 1 } fs_item_kind;
typedef enum { FS_SPLIT_TRAIN = 0, FS_SPLIT_VAL = 1, FS_SPLIT_TEST = 2 } fs_split;
#define FS_SPLIT_COUNT 3

typedef struct fs_item {
    const char *path;   /* as opened: the scanned folder joined with the path inside it */
    const char *source; /* source set name (the scanned folder's name unless given) */
    const char *group;  /* "source:key": items sharing it always share a split */
    int label;          /* 0 real, 1 fake (fake, df or ai) */
    fs_item_kind kind;
    fs_split split;     /* FS_SPLIT_TRAIN until fs_dataset_split */
} fs_item;

typedef struct fs_dataset {
    fs_item *items; /* sorted by path (byte order) after every scan or read */
    size_t count, cap;
    struct fs_strpool *pool; /* private: storage of the item strings */
} fs_dataset;

void fs_dataset_free(fs_dataset *ds);

/* ---- scanning ---- */
/* Adds every media file under folder to ds, then re-sorts the items and recomputes the groups
 * of that source. source NULL = the folder's last path component; the grouping rule is chosen
 * by that name (fs_dataset_group_rule). Errors: FS_ERR_NOTFOUND / FS_ERR_IO for an unreadable
 * folder, FS_ERR_FORMAT for a first-level folder that names no class or a dataset with no media,
 * FS_ERR_CONFLICT when source is already in ds. */
fs_err fs_dataset_scan(fs_dataset *ds, const char *folder, const char *source, fs_msg *msg);

/* Name of the grouping rule used for a source set name: "mesonet-video" (number before the
 * first '_'), "rmfd-person" (person name in N_N_name_NNNN), "web-stem" (file stem; all
 * augmented_image_* files together), "ffpp-identity" (FF++ ids joined over A_B pairs, actors by
 * number), "file" (one group per file: hardfake-vs-real, basemax-fakefaces), or "default"
 * (parent folder + stem). Documented in docs/training-data.md. */
const char *fs_dataset_group_rule(const char *source);

/* ---- splitting ---- */
typedef struct fs_split_config {
    double train, val, test; /* fractions, each >= 0, summing to 1 (within 1e-6) */
    uint64_t seed;
    const char *policy;      /* NULL or "hash": by group hash alone; "ffpp-suggested": hash
                                plus the FF++ overrides of the shared data README;
                                "ffpp-val": those, with pair 469/481 and actors 08-09 in
                                validation instead of train */
} fs_split_config;

/* Assigns every item a split from a hash of (seed, group) mapped onto the fractions, so a group
 * keeps its split when files are added, then applies the policy's overrides. FS_ERR_INVALID
 * for bad fractions or an unknown policy. */
fs_err fs_dataset_split(fs_dataset *ds, const fs_split_config *cfg, fs_msg *msg);
/* The override a policy imposes on a group, or -1 for none (exposed for tests and docs).
 * Every policy pins web-real-faces:augmented to train (docs/training-data.md says why). */
int fs_split_override(const char *policy, const char *group);
const char *fs_split_name(fs_split s);        /* "train", "val", "test" */
const char *fs_item_kind_name(fs_item_kind k); /* "image", "video" */

/* Counts per split (and per label) and distinct groups, for reports. */
typedef struct fs_dataset_stats {
    size_t items, images, videos, groups, sources;
    size_t by_split[FS_SPLIT_COUNT][2]; /* [split][label] */
    size_t groups_by_split[FS_SPLIT_COUNT];
} fs_dataset_stats;
fs_err fs_dataset_stats_get(const fs_dataset *ds, fs_dataset_stats *st, fs_msg *msg);

/* ---- manifests ---- */
/* Format (docs/training-data.md): first line `# fakescope-manifest v1 sha256=<64 hex>`, the
 * digest of every byte after that line; then the CSV header
 * `path,label,kind,source,group,split` and one row per item, path relative to root, fields
 * quoted as RFC 4180 when needed, lines ending in \n. Items are written in their sorted order.
 * Writing refuses an item outside root (FS_ERR_INVALID). digest_hex (65 bytes, may be NULL)
 * receives the digest. */
fs_err fs_manifest_write(const fs_dataset *ds, const char *path, const char *root,
                         char digest_hex[65], fs_msg *msg);
/* The manifest text in memory (caller frees *text) and its digest. */
fs_err fs_manifest_format(const fs_dataset *ds, const char *root, char **text, size_t *len,
                          char digest_hex[65], fs_msg *msg);
/* Reads a manifest into a zeroed ds, joining root to each path. FS_ERR_FORMAT for a malformed
 * line (named by number) or a digest that does not match the contents. */
fs_err fs_manifest_read(fs_dataset *ds, const char *path, const char *root, char digest_hex[65],
                        fs_msg *msg);

/* ---- videos as face crops ---- */
typedef struct fs_video_crops_config {
    int frames;            /* frames sampled evenly per video, as `fakescope eval --frames` (1..1024) */
    int threads;           /* videos decoded at once (1..16) */
    const char *cache_dir; /* crops go to cache_dir/<stem>-<hash of path and frames>/fNNNN.png */
    const char *cascade;   /* face cascade file, NULL = the default (as the scan pipeline) */
    const char *face_detector; /* "blazeface" (NULL: the default, as the scan pipeline) or
                                * "haar"; part of the cache key */
    const char *face_model;    /* the learned detector's name or path, NULL = its default */
    int aligned;               /* 0: box crops (as the scan's default); 1: faces aligned on their
                                * landmarks with align_margin (fs_scan_opts.align_margin); part
                                * of the cache key */
    float align_margin;
    int pictures;              /* 1: picture items too, each as a one-frame video (its main
                                * face becomes one crop); 0: pictures are left out */
} fs_video_crops_config;

typedef struct fs_video_crops_stats {
    size_t videos, pictures, cached, crops, no_face, failed;
    char last_error[FS_MSG_MAX]; /* "path: reason" of the latest failed video, "" if none */
} fs_video_crops_stats;

/* Adds to crops (a zeroed or existing dataset) one image item per face crop of every video item
 * of ds (and of every picture item with cfg->pictures): the main person's face in each of
 * cfg->frames sampled frames (a picture: its one frame), cropped by the scan
 * pipeline exactly as it is at inference (detect.h, crops-only scanner: default face
 * parameters, 30% margin, 256x256). Each crop keeps its video's label, source, group and
 * split. Crops found complete in the cache (an index file is written last) are reused without
 * decoding. A video that fails is counted in st (may be NULL) and skipped; FS_ERR_FORMAT when
 * every video failed, FS_ERR_INVALID for a bad config. */
fs_err fs_dataset_video_crops(const fs_dataset *ds, const fs_video_crops_config *cfg,
                              fs_dataset *crops, fs_video_crops_stats *st, fs_msg *msg);
/* Copies every item of src into dst (strings into dst's pool) and re-sorts dst. On failure dst
 * may hold some of the items. */
fs_err fs_dataset_append(fs_dataset *dst, const fs_dataset *src, fs_msg *msg);

/* ---- parallel loading ---- */
typedef struct fs_loader_config {
    int width, height;    /* model input: every image is resized to this */
    int threads;          /* worker threads, >= 1 */
    uint64_t seed;
    float scale;          /* pixel value multiplier, e.g. 1/255 */
    const fs_aug_policy *augment; /* NULL = no augmentation */
    double blend_prob;    /* a real image becomes its self-blended fake (label 1) with this probability */
    const fs_blend_params *blend; /* NULL = defaults */
    /* Self-blending from landmarks (fs_blend_sbi): NULL, or FS_ITEM_LANDMARKS floats per item
     * of the items given to fs_loader_fill (same indices), each point as a share of the
     * picture's width and height, NaN for an item without a face (it is blended with the
     * ellipse of fs_blend_self); it must outlive the loader. */
    const float *landmarks;
    const fs_sbi_params *sbi; /* NULL = defaults */
    fs_image_limits limits;
} fs_loader_config;

/* Defaults: 256x256, threads = CPU count (at most 64), seed 0, scale 1/255, no augmentation, no blending. */
fs_loader_config fs_loader_config_default(void);

typedef struct fs_loader fs_loader;

/* Counters over the life of a loader. */
typedef struct fs_loader_stats {
    uint64_t loaded, failed, blended;
    char last_error[FS_MSG_MAX]; /* "path: reason" of the latest failure, "" if none */
} fs_loader_stats;

fs_err fs_loader_create(const fs_loader_config *cfg, fs_loader **out, fs_msg *msg);
void fs_loader_free(fs_loader *ld);

/* Decodes items[index[i]] for i < n (each index < nitems) into x (n * height * width * 3 floats, NHWC) and labels
 * into y (n floats: 0 or 1, 1 for a blended real); ok (n bytes, may be NULL) gets 1 per
 * decoded item, 0 for a failure (its row is zeros; videos are failures here). Each item's
 * random choices come from a seed derived from (seed, epoch, index[i]) only, so the batch is
 * the same whatever the thread timing or batch composition. Fails only on invalid arguments
 * or when every item failed (FS_ERR_FORMAT with the last reason); per-file errors are counted.
 * One caller at a time per loader (the workers are shared by its batches). */
fs_err fs_loader_fill(fs_loader *ld, const fs_item *items, size_t nitems, const size_t *index,
                      size_t n, uint64_t epoch, float *x, float *y, uint8_t *ok, fs_msg *msg);
/* The same with the self-blending decided per position: blend[i] 1 blends a real item
 * whatever blend_prob says, 0 never, -1 by probability as fs_loader_fill (blend NULL: all
 * -1). An item's augmentation depends on (seed, epoch, item) only, so the same real item at two
 * positions, once kept and once blended, gets the same flip, warp, colour and JPEG quality:
 * a real face and its pseudo-fake differ only by the blend (self-blended pairs). */
fs_err fs_loader_fill_blend(fs_loader *ld, const fs_item *items, size_t nitems,
                            const size_t *index, const signed char *blend, size_t n,
                            uint64_t epoch, float *x, float *y, uint8_t *ok, fs_msg *msg);
void fs_loader_stats_get(fs_loader *ld, fs_loader_stats *st);

/* ---- landmarks of real faces for self-blending (face_points.c) ---- */
#define FS_ITEM_LANDMARKS 136 /* 68 points, x then y, shares of the picture's width, height */

typedef struct fs_landmark_stats {
    size_t items;   /* real images looked at */
    size_t found;   /* with a face and its landmarks */
    size_t cached;  /* of those, read from the cache */
} fs_landmark_stats;

/* The 68 landmarks of the best face BlazeFace finds in each real image item (label 0, kind
 * image) of ds, for fs_loader_config.landmarks: *out gets ds->count * FS_ITEM_LANDMARKS floats
 * (NaN for items not looked at or without a face; the caller frees it). face_model and
 * landmark_model are names for fs_face_model_find (NULL: the defaults). cache_path (may be NULL)
 * is a CSV of path and 136 values per line written after the pass and read first, so a
 * resumed run does not look again. FS_ERR_NOTFOUND when a network is not installed (its
 * message names the set-up), FS_ERR_NOMEM; an image that does not decode is skipped. */
fs_err fs_dataset_landmarks(const fs_dataset *ds, const char *face_model,
                            const char *landmark_model, const char *cache_path, float **out,
                            fs_landmark_stats *st, fs_msg *msg);

/* A permutation of 0..n-1 for an epoch (Fisher-Yates from (seed, epoch)). */
void fs_epoch_order(size_t n, uint64_t seed, uint64_t epoch, size_t *order);

#endif
