/* align (face/): face alignment, the similarity transform (rotation, uniform scale,
 * translation) that best maps five face points (eye centres, nose tip, mouth corners; from the
 * 68 landmarks by fs_landmarks_five) onto a canonical template, and the warp that cuts the
 * aligned crop out of the image with bilinear sampling.
 *
 * Fitting is least squares over similarities without reflection (Umeyama 1991; in 2-D the
 * closed form of a complex linear regression): with both point sets centred on their means,
 * a = sum(s . d) / sum|s|^2 and b = sum(s x d) / sum|s|^2. The template is InsightFace's
 * five-point ArcFace template for 112 x 112 crops, scaled to the output size and shrunk about
 * the centre by a margin (docs/faces.md, "Alignment").
 *
 * Points are in pixel units with pixel centres at +0.5 (the first pixel spans [0, 1)), as the
 * landmarks are. Everything here is pure: no state, any thread. fs_align_warp and
 * fs_align_face fill a new image the caller frees with fs_image_free. */
#ifndef FAKESCOPE_ALIGN_H
#define FAKESCOPE_ALIGN_H

#include <stddef.h>

#include "fakescope/core.h"
#include "fakescope/image.h"

typedef struct fs_point2f {
    float x, y;
} fs_point2f;

/* x' = a x - b y + tx, y' = b x + a y + ty: a rotation by atan2(b, a) and a scale of
 * hypot(a, b), then a translation. */
typedef struct fs_similarity {
    double a, b, tx, ty;
} fs_similarity;

#define FS_ALIGN_MIN_SPREAD 1e-3 /* source points closer than this (rms, pixels) are degenerate */
#define FS_ALIGN_MAX_SIDE 4096   /* largest aligned crop side */
#define FS_ALIGN_MAX_MARGIN 2.0f
#define FS_ALIGN_MAX_SUPERSAMPLE 8

typedef enum {
    FS_BORDER_CONSTANT = 0, /* outside the image reads black */
    FS_BORDER_REPLICATE     /* outside the image reads the nearest edge pixel */
} fs_border;

/* The least-squares similarity mapping src[i] onto dst[i] (n >= 2 pairs). FS_ERR_INVALID when
 * n < 2, a coordinate is not finite, the source points coincide (rms spread below
 * FS_ALIGN_MIN_SPREAD) or the fit collapses them (scale 0: the destination points coincide);
 * *out is untouched then. */
fs_err fs_similarity_fit(const fs_point2f *src, const fs_point2f *dst, size_t n,
                         fs_similarity *out, fs_msg *msg);
fs_point2f fs_similarity_apply(fs_similarity t, fs_point2f p);
/* The inverse transform; t must have a non-zero scale. */
fs_similarity fs_similarity_invert(fs_similarity t);

/* The five template points (eye on the image's left, other eye, nose tip, mouth corner on the
 * image's left, the other) for a side x side crop: the ArcFace 112 x 112 template scaled by
 * side / 112 and shrunk about the crop's centre by 1 / (1 + 2 margin), so margin 0 is the
 * ArcFace crop and margin m adds m of its side on each side. */
void fs_align_template(int side, float margin, fs_point2f out[5]);

/* Samples out_w x out_h pixels of the aligned crop: output pixel centre q reads the image at
 * fs_similarity_apply(inverse of t, q), t mapping image to crop coordinates. Bilinear, with
 * k x k samples per output pixel when the crop shrinks the image (k = ceil(1 / scale), at most
 * FS_ALIGN_MAX_SUPERSAMPLE), so shrinking does not alias. FS_ERR_INVALID for an empty image,
 * sizes outside 1..FS_ALIGN_MAX_SIDE, or a transform that is not finite or has scale 0;
 * FS_ERR_NOMEM. */
fs_err fs_align_warp(const fs_image *img, fs_similarity t, int out_w, int out_h, fs_border border,
                     fs_image *out, fs_msg *msg);

/* Aligns a face: fits the five points (fs_landmarks_five order) to fs_align_template(side,
 * margin) and warps a side x side crop. *t (if non-NULL) receives the image-to-crop transform.
 * FS_ERR_INVALID as fs_similarity_fit and fs_align_warp, for margin outside
 * [0, FS_ALIGN_MAX_MARGIN], and for eye centres less than one pixel apart. */
fs_err fs_align_face(const fs_image *img, const fs_point2f five[5], int side, float margin,
                     fs_border border, fs_image *out, fs_similarity *t, fs_msg *msg);

#endif
