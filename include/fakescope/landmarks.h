/* landmarks (face/, models/): the 68-point facial landmark network of face-api (FaceLandmark68Net,
 * @vladmandic/face-api 1.7.15, MIT) on fakescope's op graph, its import from the TF.js weights
 * and the run on a face box of an image. Points come in the iBUG 300-W order: 0-16 jaw (the
 * image's left to right), 17-21 and 22-26 brows, 27-30 nose bridge down to the tip (30), 31-35
 * nostrils, 36-41 the eye on the image's left, 42-47 the other, 48-59 outer lips (48 and 54 the
 * mouth corners), 60-67 inner lips.
 *
 * The network: 112 x 112 RGB input as (pixel - [122.782, 117.001, 104.298]) / 255; four dense
 * blocks of four convolutions (the first a 3x3 stride-2 conv in block 0, a depthwise separable
 * stride-2 one in blocks 1-3; then three separable stride-1 ones, each fed the ReLU of the sum
 * of the block's earlier outputs; the block's output the ReLU of all four summed), 32, 64, 128
 * and 256 channels, TensorFlow SAME padding, a 7 x 7 average pool (the whole map), and a dense
 * layer to 136 values: x, y of each point as a share of the input square.
 *
 * The crop (docs/faces.md, "Landmarks"): the square of side S = max(w, h) centred on the box,
 * the image taken as black outside its borders, as face-api pads a box to a square with zeros;
 * each of the 112 x 112 input pixels is the mean of k x k bilinear samples over its footprint
 * (k = ceil(S / 112), at most FS_LANDMARKS_MAX_SUPERSAMPLE), so large faces are not aliased.
 * Boxes should frame the face as a face detector does (brows to chin); docs/faces.md gives the
 * error measured with cascade boxes.
 *
 * Weights: `fakescope models import --arch landmark68 MANIFEST.json -o DIR --licence MIT`
 * writes DIR/NAME.safetensors (PyTorch names and layouts, below) and a card DIR/NAME.json of
 * "kind": "landmarks" (docs/model-cards.md), which the model registry passes over. Tensors:
 * dense0.conv0.weight [32, 3, 3, 3] and .bias; denseB.convN.depthwise.weight [c, 1, 3, 3],
 * denseB.convN.pointwise.weight [cout, c, 1, 1] and denseB.convN.pointwise.bias for the
 * separable ones; fc.weight [136, 256], fc.bias.
 *
 * Ownership and threads: fs_landmarks_load returns a model the caller releases with
 * fs_landmarks_free. Any number of threads may call fs_landmarks_run on one model: runs on it
 * are serialised by a mutex inside (the graph's buffers are shared), so load one model per
 * thread to run in parallel. Nothing here allocates per call except the crop buffer.
 * The architecture (weights, graph) lives in models/landmark68.c, the run in face/landmarks.c. */
#ifndef FAKESCOPE_LANDMARKS_H
#define FAKESCOPE_LANDMARKS_H

#include "fakescope/align.h"
#include "fakescope/core.h"
#include "fakescope/face.h"
#include "fakescope/graph.h"
#include "fakescope/image.h"
#include "fakescope/weights.h"

#define FS_LANDMARKS_POINTS 68
#define FS_LANDMARKS_SIDE 112
#define FS_LANDMARKS_MAX_SUPERSAMPLE 8 /* k above: 64 samples a pixel at most */
#define FS_LANDMARKS_ARCH "landmark68"
/* What to run when the weights are missing or do not check. */
#define FS_LANDMARKS_SETUP                                                                    \
    "scripts/deps.sh, then make build (it runs fakescope models import --arch landmark68 "  \
    "~/.cache/fakescope/third_party/vladmandic-face-api-1.7.15/model/"                       \
    "face_landmark_68_model-weights_manifest.json -o build/face-models --licence MIT)"
/* The card looked up by fs_face_model_find (blazeface.h) when none is named. */
#define FS_LANDMARKS_DEFAULT_NAME "landmark68"

/* ---- weights ---- */
/* The network's weights in the names above from TF.js tensors (fs_tfjs_load of face-api's
 * face_landmark_68_model manifest): filters transposed to PyTorch layouts. Metadata: arch.
 * FS_ERR_FORMAT names a missing or misshapen tensor. out must be zeroed. */
fs_err fs_landmark68_from_tfjs(const fs_weights *tfjs, fs_weights *out, fs_msg *msg);
/* FS_OK when w holds exactly the network's tensors with their shapes; FS_ERR_FORMAT names the
 * first missing, misshapen or stray one. */
fs_err fs_landmark68_check(const fs_weights *w, fs_msg *msg);
/* The graph (112 x 112 x 3 in, 1 x 1 x 136 out) from checked weights. */
fs_err fs_landmark68_graph(const fs_weights *w, fs_graph **out, fs_msg *msg);

/* ---- running ---- */
typedef struct fs_landmarks fs_landmarks;

/* Loads a landmark model from its card (NAME.json written by the import): the card must be of
 * kind "landmarks" and architecture landmark68, the weights file beside it must match the
 * card's sha256 and hold the network's tensors. Errors: FS_ERR_NOTFOUND (no card or weights),
 * FS_ERR_FORMAT (a corrupt or foreign card or weights); their messages name the file and the
 * set-up commands (FS_LANDMARKS_SETUP). */
fs_err fs_landmarks_load(const char *card_path, fs_landmarks **out, fs_msg *msg);
/* The same from weights already in memory (checked; copied into the graph). */
fs_err fs_landmarks_from_weights(const fs_weights *w, fs_landmarks **out, fs_msg *msg);
void fs_landmarks_free(fs_landmarks *m);

/* The network's input for a box (x, y, w, h in image pixels, w and h > 0): 112 x 112 x 3
 * floats, normalised, into input; *x0, *y0, *side receive the square the crop covers.
 * FS_ERR_INVALID for an empty image or a box that is not finite, not positive or wider than
 * FS_GRAPH_MAX_SIDE x 4. */
fs_err fs_landmarks_input(const fs_image *img, fs_rectf box, float *input, float *x0, float *y0,
                          float *side, fs_msg *msg);
/* The 68 points of the face in box, in image pixels, into out. Errors as fs_landmarks_input,
 * and FS_ERR_NOMEM. */
fs_err fs_landmarks_run(fs_landmarks *m, const fs_image *img, fs_rectf box,
                        fs_point2f out[FS_LANDMARKS_POINTS], fs_msg *msg);

/* The five points alignment uses, from 68: the centre of the eye on the image's left (mean of
 * 36-41), the other eye's centre (42-47), the nose tip (30), the mouth corner on the image's
 * left (48) and the other (54). */
void fs_landmarks_five(const fs_point2f pts[FS_LANDMARKS_POINTS], fs_point2f five[5]);

#endif
