/* blazeface (face/): the learned face detector. MediaPipe's BlazeFace networks (short range:
 * 128 x 128 input, 896 anchors, for faces filling much of the picture; full range: 192 x 192,
 * 2304 anchors, smaller faces too), converted once from their TFLite files by `fakescope models
 * import --arch blazeface` into a graph (graph.h storage) plus a card, then run here on the
 * project's own ops.
 *
 * A detection follows MediaPipe's face-detection graph: the picture is letterboxed into the
 * square input (scaled to fit, centred, black borders, bilinear or area resize) with pixels
 * mapped to [-1, 1]; each anchor's 16 regressed values (box centre, size, 6 keypoints, in input
 * pixels relative to the anchor centre) and its score (sigmoid of the clipped logit) are
 * decoded; boxes under min_score are dropped; then weighted non-maximum suppression merges the
 * boxes that overlap the best one by more than nms_iou, averaging coordinates and keypoints
 * weighted by score. Results are in the picture's pixels, best first.
 *
 * Keypoints, as the subject sees them: 0 right eye, 1 left eye, 2 nose tip, 3 mouth centre,
 * 4 right ear tragion, 5 left ear tragion (so keypoint 0 is on the picture's left of a face
 * looking at the camera).
 *
 * Ownership and threads: fs_blazeface_load returns a detector the caller frees with
 * fs_blazeface_free. Threads may share a detector: each concurrent call runs on its own copy of
 * the network (graph and buffers), built from the kept weights the first time it is needed and
 * reused after (at most 16; further callers wait for a free one). Arrays returned through
 * `faces` are malloc'd: free(). */
#ifndef FAKESCOPE_BLAZEFACE_H
#define FAKESCOPE_BLAZEFACE_H

#include "fakescope/core.h"
#include "fakescope/face.h"
#include "fakescope/image.h"
#include "fakescope/weights.h"

#define FS_BLAZEFACE_KEYPOINTS 6
#define FS_BLAZEFACE_MAX_FACES 256 /* detections kept per picture, best first */

typedef struct fs_blazeface fs_blazeface;

typedef struct fs_face_det {
    fs_rectf box; /* pixels of the picture given to fs_blazeface_detect */
    float score;  /* 0..1 */
    float kp[FS_BLAZEFACE_KEYPOINTS][2]; /* x, y in pixels */
} fs_face_det;

typedef struct fs_blazeface_params {
    float min_score; /* default 0.5 (MediaPipe's) */
    float nms_iou;   /* default 0.3 (MediaPipe's) */
    float pad;       /* default 0: the picture fills the input (letterboxed); p > 0 shrinks it
                      * to 1 / (1 + 2p) of the input with black around it, so that a face
                      * filling a close-up looks to the network as a face further away does
                      * (the networks miss faces larger than the input); at most 4 */
} fs_blazeface_params;

void fs_blazeface_params_default(fs_blazeface_params *p);

/* The network variants, told apart by the input side and anchor count of the file. */
typedef enum { FS_BLAZEFACE_SHORT = 0, FS_BLAZEFACE_FULL = 1 } fs_blazeface_kind;

/* From weights holding a stored graph (fs_graph_load) and metadata "arch" "blazeface" and
 * "variant" "short" or "full". FS_ERR_FORMAT says what does not fit. */
fs_err fs_blazeface_from_weights(const fs_weights *w, fs_blazeface **out, fs_msg *msg);
/* The same from a safetensors file written by `models import --arch blazeface`. */
fs_err fs_blazeface_load(const char *path, fs_blazeface **out, fs_msg *msg);
void fs_blazeface_free(fs_blazeface *d);
fs_blazeface_kind fs_blazeface_variant(const fs_blazeface *d);
int fs_blazeface_input_side(const fs_blazeface *d);

/* Faces in img (params NULL: defaults), best first, at most FS_BLAZEFACE_MAX_FACES; *faces is
 * NULL when none. FS_ERR_INVALID for an empty picture, FS_ERR_NOMEM. */
fs_err fs_blazeface_detect(fs_blazeface *d, const fs_image *img, const fs_blazeface_params *params,
                           fs_face_det **faces, size_t *n, fs_msg *msg);

/* A still picture in which nothing is found is often a close-up whose face is larger than the
 * network's input: the picture detector looks once more with params->pad set to this. */
#define FS_BLAZEFACE_CLOSEUP_PAD 0.5f

/* fs_blazeface_detect for a still picture: when the first look (params as given, pad
 * included) finds nothing, a second look with pad FS_BLAZEFACE_CLOSEUP_PAD. Video frames use
 * fs_blazeface_detect alone: their faces are found in the neighbouring frames, and a second
 * look would double the cost of every empty frame. */
fs_err fs_blazeface_detect_picture(fs_blazeface *d, const fs_image *img,
                                   const fs_blazeface_params *params, fs_face_det **faces,
                                   size_t *n, fs_msg *msg);

/* The weights a TFLite BlazeFace file converts to (its graph, metadata arch, variant, source
 * sha256 left to the caller). FS_ERR_UNSUPPORTED when the file is not one of the two networks
 * (input side, outputs of 16 regressed values and one score per anchor). */
struct fs_tflite_model;
fs_err fs_blazeface_from_tflite(const struct fs_tflite_model *m, fs_weights *out, fs_msg *msg);

/* Where imported face networks (detector, landmarks) are looked for: a name with a '/' is a
 * path; otherwise NAME.EXT in $FAKESCOPE_FACE_MODELS, then the face-models folder beside the
 * running binary (build/face-models for build/fakescope: `make build` imports there), then
 * ~/.local/share/fakescope/face-models. FS_ERR_NOTFOUND names the places and the set-up. */
fs_err fs_face_model_find(const char *name, const char *ext, char *buf, size_t cap, fs_msg *msg);
/* The detector: NAME.safetensors, NULL name = FS_BLAZEFACE_DEFAULT_NAME. */
#define FS_BLAZEFACE_DEFAULT_NAME "blazeface-full"
fs_err fs_blazeface_find(const char *name, char *buf, size_t cap, fs_msg *msg);

#endif
