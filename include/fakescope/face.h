/* face (face/): finds faces with OpenCV's boosted cascade files (Haar and LBP features) without
 * OpenCV at run time, links the boxes of successive frames into per-person tracks, cuts square
 * crops for the models, and offers the box helpers (IoU, non-maximum suppression) that model
 * post-processing needs.
 *
 * Detection reproduces cv::CascadeClassifier::detectMultiScale (OpenCV 4): OpenCV's grey
 * weights, an image pyramid made with OpenCV's fixed-point bilinear resize, integral images,
 * variance-normalised features, stage thresholds and groupRectangles. On the same 8-bit input
 * and parameters it returns the same boxes (docs/faces.md gives the measured agreement).
 *
 * Ownership: fs_cascade_load returns a cascade the caller releases with fs_cascade_free. A loaded
 * cascade is immutable, so any number of threads may call fs_face_detect on it at once (each call
 * allocates its own buffers). Arrays returned through `fs_face **faces` are malloc'd: free(). */
#ifndef FAKESCOPE_FACE_H
#define FAKESCOPE_FACE_H

#include "fakescope/core.h"
#include "fakescope/image.h"

/* ---- boxes ---- */
typedef struct fs_box {
    int x, y, w, h; /* pixels, top-left corner and size */
} fs_box;

typedef struct fs_rectf {
    float x, y, w, h;
} fs_rectf;

/* Intersection over union; 0 when either box is empty. */
float fs_box_iou(fs_box a, fs_box b);
float fs_rectf_iou(fs_rectf a, fs_rectf b);

/* Greedy non-maximum suppression: visits boxes by decreasing score (ties by index) and keeps a box
 * unless its IoU with an already kept box exceeds iou_threshold. Writes the kept indices, best
 * first, into keep (room for n) and returns how many were kept. Boxes are not modified. */
size_t fs_nms(const fs_rectf *boxes, const float *scores, size_t n, float iou_threshold,
              size_t *keep);

/* ---- cascades ---- */
typedef struct fs_cascade fs_cascade;

typedef enum { FS_CASCADE_HAAR = 0, FS_CASCADE_LBP = 1 } fs_cascade_type;

#define FS_CASCADE_MAX_BYTES ((size_t)64 << 20) /* larger files are refused (FS_ERR_LIMIT) */
#define FS_CASCADE_DEFAULT_NAME "haarcascade_frontalface_default.xml"

/* Loads a cascade in OpenCV's new XML format (<cascade><stageType>BOOST ...; the pre-2.4
 * "opencv-haar-classifier" layout is refused with FS_ERR_UNSUPPORTED). Every index and rectangle is
 * checked: errors are FS_ERR_IO / FS_ERR_NOTFOUND for the file, FS_ERR_FORMAT for malformed XML or
 * a missing or inconsistent field (the message names it), FS_ERR_LIMIT past FS_CASCADE_MAX_BYTES. */
fs_err fs_cascade_load(const char *path, fs_cascade **out, fs_msg *msg);
/* The same from a buffer; `name` is used in messages only. */
fs_err fs_cascade_parse(const char *xml, size_t len, const char *name, fs_cascade **out,
                        fs_msg *msg);
void fs_cascade_free(fs_cascade *c);

/* Resolves a cascade name: an existing path is returned as is; otherwise a file name such as
 * "haarcascade_frontalface_alt2.xml" (".xml" may be left out) is looked for in $FAKESCOPE_CASCADE_DIR,
 * then Debian's opencv-data folders (/usr/share/opencv4/haarcascades, .../lbpcascades, and the
 * /usr/share/opencv equivalents). NULL name means FS_CASCADE_DEFAULT_NAME, or the file named by
 * $FAKESCOPE_CASCADE when set. Writes the path into buf; FS_ERR_NOTFOUND names where it looked. */
fs_err fs_cascade_find(const char *name, char *buf, size_t cap, fs_msg *msg);

fs_cascade_type fs_cascade_feature_type(const fs_cascade *c);
int fs_cascade_window_w(const fs_cascade *c);
int fs_cascade_window_h(const fs_cascade *c);
int fs_cascade_stage_count(const fs_cascade *c);

/* ---- detection ---- */
#define FS_FACE_KEYPOINTS 6
typedef struct fs_face {
    fs_box box;    /* in the coordinates of the image given to fs_face_detect */
    int neighbors; /* cascade: raw windows merged into this box, its confidence; 0 otherwise */
    float score;   /* learned detector (blazeface.h): its score, 0..1; 0 for the cascade */
    int nkp;       /* keypoints given: FS_FACE_KEYPOINTS (learned detector) or 0 (cascade) */
    float kp[FS_FACE_KEYPOINTS][2]; /* x, y in the image, in blazeface.h's order */
} fs_face;

typedef struct fs_face_params {
    double scale_factor; /* pyramid step, > 1 (OpenCV scaleFactor); default 1.1 */
    int min_neighbors;   /* keep groups of more than this many raw windows; 0 returns the raw
                          * windows ungrouped (OpenCV minNeighbors); default 5 */
    int min_size;        /* smallest face side in input pixels; 0 = the cascade window */
    double min_share;    /* smallest face side as a share of the image's shorter side, in
                          * [0, 1); the larger of this and min_size applies; default 0 */
    int max_size;        /* largest face side in input pixels; 0 = no limit */
    int max_side;        /* frames whose longest side exceeds this are shrunk to it first and the
                          * boxes mapped back; 0 = detect at full resolution; default 640 */
} fs_face_params;

#define FS_FACE_SCALE_DEFAULT 1.1
#define FS_FACE_NEIGHBORS_DEFAULT 5
#define FS_FACE_MAX_SIDE_DEFAULT 640
#define FS_FACE_SCALE_MIN 1.01 /* smaller steps make thousands of pyramid levels */
#define FS_FACE_SCALE_MAX 4.0
#define FS_FACE_GROUP_EPS 0.2 /* OpenCV's GROUP_EPS */

fs_face_params fs_face_params_default(void);

/* Finds faces in an RGB8 image. *faces (malloc'd, may be NULL when *n == 0) is ordered by
 * decreasing neighbours, then top to bottom. Errors: FS_ERR_INVALID for bad parameters or an
 * empty image, FS_ERR_NOMEM. An image smaller than the cascade window gives no faces, not an error. */
fs_err fs_face_detect(const fs_cascade *c, const fs_image *img, const fs_face_params *p,
                      fs_face **faces, size_t *n, fs_msg *msg);
/* The same on an 8-bit grey image (row stride in bytes); max_side is honoured here too. */
fs_err fs_face_detect_gray(const fs_cascade *c, const uint8_t *gray, int w, int h, int stride,
                           const fs_face_params *p, fs_face **faces, size_t *n, fs_msg *msg);

/* RGB8 to grey with OpenCV's weights and rounding: (9798 R + 19235 G + 3735 B + 2^14) >> 15. */
void fs_face_gray(const fs_image *img, uint8_t *gray);

/* OpenCV's groupRectangles(rects, groupThreshold, eps) with its weights output: clusters rectangles
 * whose sides all lie within eps * (mean of the smaller sides) of each other (transitively),
 * averages each cluster, drops clusters of group_threshold members or fewer and those inside a
 * stronger cluster. With group_threshold <= 0 the input is copied with neighbours = 1. Writes at
 * most n faces into out (room for n) and returns the count; FS_ERR_NOMEM via the return of -1. */
long fs_face_group(const fs_box *rects, size_t n, int group_threshold, double eps, fs_face *out);

/* ---- crops ---- */
#define FS_FACE_MARGIN_DEFAULT 0.3f

/* The square around a face used for crops: side = max(w, h) * (1 + margin), same centre, then
 * clipped to the frame (so it is smaller, and no longer square, at the edges). */
fs_box fs_face_crop_box(fs_box face, float margin, int frame_w, int frame_h);
/* Cuts fs_face_crop_box(face, margin, ...) out of the frame and resizes it to out_w x out_h (the
 * model input). *used (if non-NULL) receives the box cut. FS_ERR_INVALID if the box misses the
 * frame. The caller frees *out with fs_image_free. */
fs_err fs_face_crop(const fs_image *frame, fs_box face, float margin, int out_w, int out_h,
                    fs_image *out, fs_box *used, fs_msg *msg);

/* ---- tracking ---- */
/* Links faces across frames, in three stages, each greedy and one face per track per frame:
 * 1. overlap: a face joins the live track whose last box overlaps its box most
 *    (IoU >= iou_threshold);
 * 2. nearness: a face left over joins a track still free whose last face has its centre within
 *    0.75 of the larger box side and a box side within 1.6x (sparse samples let a moving head
 *    leave its box). A face's centre is the mean of its 68 landmarks when both faces have them,
 *    else its box centre;
 * 3. consecutive frames: a face left over and a free track seen in frame - 1 are linked up to
 *    2 sides apart (sizes within 1.6x) when each is the other's nearest among those left
 *    (people who walk between samples seconds apart; a scan numbers its samples 0, 1, 2...).
 * Faces left after all three start new tracks. A track survives frames without a face for up
 * to max_gap frame indices (0 = forever), so sampled or missed frames do not split a person. */
typedef struct fs_tracker fs_tracker;

#define FS_TRACK_IOU_DEFAULT 0.3f
#define FS_TRACK_LANDMARKS 68 /* fs_track_face.lm: the iBUG points of landmarks.h */

/* A face to track: its box and, when known, its 68 landmarks (borrowed for the call). */
typedef struct fs_track_face {
    fs_box box;
    const float (*lm)[2]; /* FS_TRACK_LANDMARKS points, image coordinates; NULL: none */
} fs_track_face;

fs_err fs_tracker_create(float iou_threshold, int max_gap, fs_tracker **out, fs_msg *msg);
void fs_tracker_free(fs_tracker *t);
/* Feeds the faces of frame `frame` (non-decreasing across calls) and writes the track id of each
 * face into ids (room for n). Ids start at 0 and are never reused. */
fs_err fs_tracker_update_faces(fs_tracker *t, int frame, const fs_track_face *faces, size_t n,
                               int *ids, fs_msg *msg);
/* The same for faces known by their boxes alone. */
fs_err fs_tracker_update(fs_tracker *t, int frame, const fs_box *boxes, size_t n, int *ids,
                         fs_msg *msg);
int fs_tracker_count(const fs_tracker *t); /* tracks created so far */

#endif
