/* augment (train/): seeded random variations of RGB8 images for training, and self-blended
 * pseudo-fakes made from real face crops.
 *
 * Determinism: every random choice comes from an fs_rng the caller owns and passes in; there is
 * no global state, so the same seed gives the same bytes on any thread and in any order.
 *
 * Ownership: operations that work in place change img->rgb (and may replace the buffer, keeping
 * w and h); operations that produce a new image write a fresh fs_image the caller frees with
 * fs_image_free. An fs_aug_work holds scratch buffers reused across calls (pass NULL to let
 * the call allocate and free its own); release it with fs_aug_work_free. On failure an image
 * given in place is left unchanged and a new image is zeroed. */
#ifndef FAKESCOPE_AUGMENT_H
#define FAKESCOPE_AUGMENT_H

#include "fakescope/image.h"

/* ---- random numbers: xoshiro256** seeded through splitmix64 ---- */
typedef struct fs_rng {
    uint64_t s[4];
} fs_rng;

void fs_rng_seed(fs_rng *rng, uint64_t seed);
uint64_t fs_rng_next(fs_rng *rng);
double fs_rng_uniform(fs_rng *rng);                    /* [0, 1), 53 random bits */
double fs_rng_range(fs_rng *rng, double lo, double hi); /* [lo, hi) */
int fs_rng_below(fs_rng *rng, int n);                   /* 0 .. n-1, n >= 1 */
double fs_rng_normal(fs_rng *rng);                      /* standard normal */
/* Mixes values into one seed (order matters): fs_seed_mix(fs_seed_mix(seed, epoch), index). */
uint64_t fs_seed_mix(uint64_t a, uint64_t b);

/* ---- scratch space ---- */
typedef struct fs_aug_work {
    uint8_t *bytes;
    size_t bytes_cap;
    float *floats;
    size_t floats_cap;
} fs_aug_work;
void fs_aug_work_free(fs_aug_work *work);

/* ---- single operations (deterministic; no randomness inside) ---- */
/* Mirrors left-right in place. */
void fs_aug_flip(fs_image *img);
/* One affine warp about the image centre: rotate by angle_deg (counter-clockwise on screen),
 * scale (>1 enlarges the content), then shift by (tx, ty) in fractions of the width and height.
 * Bilinear sampling, border pixels replicated. (0, 1, 0, 0) leaves the image unchanged. */
fs_err fs_aug_affine(fs_image *img, double angle_deg, double scale, double tx, double ty,
                     fs_aug_work *work, fs_msg *msg);
/* brightness: added, in units of full scale (0.1 = +25.5 levels); contrast: factor about the
 * image's mean luma; saturation: factor about each pixel's luma (0 = grey). (0, 1, 1) is the
 * identity. Results are rounded and clamped to 0..255. */
void fs_aug_color(fs_image *img, double brightness, double contrast, double saturation);
/* Replaces each pixel by its luma (R = G = B). */
void fs_aug_grayscale(fs_image *img);
/* Separable Gaussian blur with radius ceil(3 sigma), border replicated; sigma <= 0 is a no-op. */
fs_err fs_aug_blur(fs_image *img, double sigma, fs_aug_work *work, fs_msg *msg);
/* Re-encodes as JPEG at quality 1..100 and decodes it back. */
fs_err fs_aug_jpeg(fs_image *img, int quality, fs_msg *msg);
/* Shrinks by factor (0 < factor <= 1) and resizes back to the original size. */
fs_err fs_aug_rescale(fs_image *img, double factor, fs_msg *msg);

/* ---- random chains ---- */
/* Each op runs with its probability p_*, its parameters drawn uniformly from [min, max]. */
typedef struct fs_aug_policy {
    double p_flip;
    double p_affine, rotate_deg, scale_min, scale_max, shift; /* angle in [-rotate_deg, +]; shift in [-shift, +shift] of the size */
    double p_color, brightness, contrast_min, contrast_max, saturation_min, saturation_max;
    double p_grayscale;
    double p_blur, sigma_min, sigma_max;
    double p_jpeg;
    int quality_min, quality_max;
    double p_rescale, rescale_min, rescale_max;
} fs_aug_policy;

/* The documented defaults (docs/training-data.md). */
fs_aug_policy fs_aug_policy_default(void);
/* All probabilities zero: fs_aug_apply leaves images unchanged. */
fs_aug_policy fs_aug_policy_none(void);
/* FS_ERR_INVALID (with the field named) for probabilities outside [0,1] or bad ranges. */
fs_err fs_aug_policy_check(const fs_aug_policy *policy, fs_msg *msg);

/* Applies a random chain in this order: flip, affine, colour, grayscale, blur, rescale, JPEG
 * (geometry first, then appearance, compression last as in real uploads). The rng advances by
 * the same number of draws whatever is chosen, so later draws do not depend on earlier coin
 * flips. Changes img in place; on failure (only a bad policy or out of memory) img is still a
 * valid image of the same size but may hold the first steps of the chain. */
fs_err fs_aug_apply(fs_image *img, const fs_aug_policy *policy, fs_rng *rng, fs_aug_work *work,
                    fs_msg *msg);

/* ---- self-blended pseudo-fakes (blend.c) ---- */
/* Ranges of the self-blending procedure; see docs/training-data.md. */
typedef struct fs_blend_params {
    /* source colour perturbation */
    double hue_shift;        /* hue moved by up to +-hue_shift turns (0.5 = 180 degrees) */
    double sat_shift;        /* saturation scaled by 1 +- sat_shift */
    double val_shift;        /* value (brightness) scaled by 1 +- val_shift */
    double contrast_shift;   /* contrast factor 1 +- contrast_shift */
    double channel_gain;     /* each of R, G, B scaled by 1 +- channel_gain */
    /* source frequency perturbation: blur with probability p_blur, else sharpen with p_sharpen */
    double p_blur, blur_sigma_min, blur_sigma_max;
    double p_sharpen, sharpen_min, sharpen_max; /* unsharp-mask amount */
    /* source geometry */
    double scale_min, scale_max; /* 0.95 .. 1.05 */
    double shift;                /* translation up to +-shift of the size */
    /* mask */
    double mask_rx_min, mask_rx_max; /* ellipse half-width, fraction of the face box width */
    double mask_ry_min, mask_ry_max; /* ellipse half-height, fraction of the face box height */
    double mask_offset;              /* centre moved by up to +-mask_offset of the box size */
    double mask_deform;              /* boundary radius changed by up to about +-mask_deform */
    double mask_sigma_min, mask_sigma_max; /* soft edge: Gaussian sigma, fraction of the size */
} fs_blend_params;

fs_blend_params fs_blend_params_default(void);

/* Makes a pseudo-fake from a real face crop: a perturbed copy of the crop is blended into the
 * crop through a soft, deformed elliptical mask over the face, out = m*source + (1-m)*target.
 * box (x, y, w, h in pixels) locates the face; NULL means the central region of a crop with
 * the face roughly centred. Writes a new image to *out and, when mask is non-NULL, the blend
 * mask (face->w * face->h floats in [0,1], row-major); where the mask is 0 the output equals
 * the input exactly. params NULL = defaults. */
fs_err fs_blend_self(const fs_image *face, const int box[4], const fs_blend_params *params,
                     fs_rng *rng, fs_aug_work *work, fs_image *out, float *mask, fs_msg *msg);

/* ---- self-blended images as published, from 68 landmarks (blend.c) ----
 * The mask is the face's own outline: the convex hull of its 68 landmarks (iBUG order, crop
 * pixels), with the forehead (points above the brows) or without; moved with the source's
 * scale and shift, deformed elastically (a smooth random displacement field), then blurred
 * twice: the first blur, cut back to where it is still 1, erodes the hull; the second gives the
 * soft edge; the result is scaled to a maximum of 1 and times a blend ratio drawn from
 * {0.25, 0.5, 0.75, 1, 1, 1}. The colour and frequency perturbation (as fs_blend_params, or
 * down-and-up sampling) falls on the source or, with p_target, on the target; the source then
 * gets the small scale and shift. Sizes are fractions of the crop's shorter side. */
typedef struct fs_sbi_params {
    fs_blend_params base;              /* colour, blur/sharpen, scale and shift ranges; the
                                          ellipse fields are not used */
    double p_forehead;                 /* hull with forehead points (else the 68 points) */
    double forehead_min, forehead_max; /* their height above the brows, share of brow-to-chin */
    double p_target;                   /* perturb the target instead of the source */
    double p_downscale, downscale_min, downscale_max; /* frequency: shrink to [min, max], back */
    double elastic_alpha, elastic_sigma; /* displacement field: amplitude, smoothness */
    double blur1_min, blur1_max;       /* first (eroding) blur sigma */
    double blur2_min, blur2_max;       /* second (soft edge) blur sigma */
} fs_sbi_params;

fs_sbi_params fs_sbi_params_default(void);

/* A pseudo-fake of face from its landmarks (136 floats: x0, y0, x1, y1, ... in face's pixels,
 * every one finite and inside the crop widened by half its size). Writes a new image to *out
 * and, when mask is non-NULL, the blend mask (face->w * face->h floats in [0, 1]). When the
 * perturbation fell on the source (no p_target), the output equals face exactly where the mask
 * is 0. FS_ERR_INVALID for bad parameters, landmarks or a crop under 8 pixels; params NULL =
 * defaults. The number of rng draws depends only on the crop's size. */
fs_err fs_blend_sbi(const fs_image *face, const float *landmarks, const fs_sbi_params *params,
                    fs_rng *rng, fs_aug_work *work, fs_image *out, float *mask, fs_msg *msg);

/* The self-blended fake of one real picture as training makes it, the one choice shared by the
 * loader and `train --sbi-preview`: along its landmarks with fs_blend_sbi when shares (136
 * floats, x0, y0, ... as shares of face's width and height) is non-NULL and its first value is
 * not NaN, else the ellipse of fs_blend_self. sbi and blend NULL = defaults. */
fs_err fs_blend_face(const fs_image *face, const float *shares, const fs_sbi_params *sbi,
                     const fs_blend_params *blend, fs_rng *rng, fs_aug_work *work, fs_image *out,
                     float *mask, fs_msg *msg);

#endif
