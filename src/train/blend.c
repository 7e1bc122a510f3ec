/* blend.c: self-blended pseudo-fakes. A face swap leaves traces where a foreign face was pasted
 * into a frame: a boundary of slightly different colour, sharpness and position. These can be
 * made without any fake at all by blending a perturbed copy of a real face back into itself
 * (the self-blended-images idea), which gives a detector an unlimited supply of hard, generic
 * forgeries whose only cue is the blend itself.
 *
 * Procedure (ranges in fs_blend_params, documented in docs/training-data.md):
 *  1. source = a copy of the crop, perturbed: small scale/translation, colour (hue, saturation,
 *     value, contrast, per-channel gains), then blur or sharpen;
 *  2. mask = an ellipse over the face box with random radii and centre, its boundary radius
 *     deformed by low-frequency harmonics, blurred by a random Gaussian, times a blend ratio
 *     drawn from {0.25, 0.5, 0.75, 1, 1, 1};
 *  3. out = mask * source + (1 - mask) * crop, rounded once.
 * The Gaussian is truncated at 3 sigma, so the mask is exactly 0 away from the ellipse and the
 * output there equals the input byte for byte. The number of rng draws is fixed per call. */
#include "fakescope/augment.h"
#include "train/train_internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MASK_HARMONICS 4    /* boundary radius deformed by cos(k theta), k = 2 .. 5 */
#define SHARPEN_SIGMA 1.0   /* the blur the unsharp mask subtracts */
#define MIN_FACE_SIDE 8     /* smaller crops cannot hold a meaningful mask */

/* Default face box of a crop with the face roughly centred (fractions of the crop). */
#define DEFAULT_BOX_X 0.15
#define DEFAULT_BOX_Y 0.12
#define DEFAULT_BOX_W 0.70
#define DEFAULT_BOX_H 0.80

static const double BLEND_RATIOS[] = {0.25, 0.5, 0.75, 1.0, 1.0, 1.0};

fs_blend_params fs_blend_params_default(void) {
    return (fs_blend_params){
        .hue_shift = 0.02, .sat_shift = 0.15, .val_shift = 0.15, .contrast_shift = 0.15,
        .channel_gain = 0.05,
        .p_blur = 0.35, .blur_sigma_min = 0.6, .blur_sigma_max = 1.8,
        .p_sharpen = 0.35, .sharpen_min = 0.3, .sharpen_max = 1.2,
        .scale_min = 0.95, .scale_max = 1.05, .shift = 0.03,
        .mask_rx_min = 0.30, .mask_rx_max = 0.45,
        .mask_ry_min = 0.35, .mask_ry_max = 0.50,
        .mask_offset = 0.05, .mask_deform = 0.08,
        .mask_sigma_min = 0.01, .mask_sigma_max = 0.04,
    };
}

static fs_err check_params(const fs_blend_params *p, fs_msg *msg) {
    int ok = p->hue_shift >= 0 && p->hue_shift <= 0.5 && p->sat_shift >= 0 && p->sat_shift < 1 &&
             p->val_shift >= 0 && p->val_shift < 1 && p->contrast_shift >= 0 &&
             p->contrast_shift < 1 && p->channel_gain >= 0 && p->channel_gain < 1 &&
             p->p_blur >= 0 && p->p_sharpen >= 0 && p->p_blur + p->p_sharpen <= 1 &&
             p->blur_sigma_min > 0 && p->blur_sigma_min <= p->blur_sigma_max &&
             p->blur_sigma_max <= 16 && p->sharpen_min >= 0 && p->sharpen_min <= p->sharpen_max &&
             p->scale_min >= 0.5 && p->scale_min <= p->scale_max && p->scale_max <= 2 &&
             p->shift >= 0 && p->shift <= 0.25 && p->mask_rx_min > 0 &&
             p->mask_rx_min <= p->mask_rx_max && p->mask_ry_min > 0 &&
             p->mask_ry_min <= p->mask_ry_max && p->mask_rx_max <= 1 && p->mask_ry_max <= 1 &&
             p->mask_offset >= 0 && p->mask_offset <= 0.5 && p->mask_deform >= 0 &&
             p->mask_deform <= 0.5 && p->mask_sigma_min >= 0 &&
             p->mask_sigma_min <= p->mask_sigma_max && p->mask_sigma_max <= 0.25;
    return ok ? FS_OK
              : fs_fail(msg, FS_ERR_INVALID,
                        "self-blend parameters out of range (see fs_blend_params in augment.h)");
}

/* ---- colour in HSV ------------------------------------------------------------------------ */

static void rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v) {
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), d = mx - mn;
    *v = mx;
    *s = mx > 0 ? d / mx : 0;
    if (d <= 0) {
        *h = 0;
        return;
    }
    float hh;
    if (mx == r) hh = (g - b) / d;
    else if (mx == g) hh = 2.0f + (b - r) / d;
    else hh = 4.0f + (r - g) / d;
    hh /= 6.0f;
    *h = hh < 0 ? hh + 1.0f : hh;
}

static void hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b) {
    h = h - floorf(h);
    float f = h * 6.0f;
    int i = (int)f;
    if (i > 5) i = 5;
    f -= i;
    float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    switch (i) {
    case 0: *r = v, *g = t, *b = p; break;
    case 1: *r = q, *g = v, *b = p; break;
    case 2: *r = p, *g = v, *b = t; break;
    case 3: *r = p, *g = q, *b = v; break;
    case 4: *r = t, *g = p, *b = v; break;
    default: *r = v, *g = p, *b = q; break;
    }
}

static inline uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}

typedef struct colour_shift {
    float dh, ks, kv, contrast, gain[3];
} colour_shift;

static void perturb_colour(fs_image *img, const colour_shift *cs) {
    const size_t n = (size_t)img->w * img->h;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->rgb + i * 3;
        sum += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    }
    const float mean = (float)(sum / (double)n) / 255.0f;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->rgb + i * 3;
        float h, s, v, rgb[3];
        rgb_to_hsv(p[0] / 255.0f, p[1] / 255.0f, p[2] / 255.0f, &h, &s, &v);
        s = fminf(1.0f, s * cs->ks);
        v = fminf(1.0f, v * cs->kv);
        hsv_to_rgb(h + cs->dh, s, v, &rgb[0], &rgb[1], &rgb[2]);
        for (int c = 0; c < 3; c++)
            p[c] = to_byte(((rgb[c] - mean) * cs->contrast + mean) * cs->gain[c] * 255.0f);
    }
}

/* out = img + amount * (img - blur(img)) */
static fs_err sharpen(fs_image *img, double amount, fs_aug_work *work, fs_msg *msg) {
    const size_t n = (size_t)img->w * img->h * 3;
    float *owned;
    float *buf = fs_work_floats(work, 2 * n, &owned);
    if (!buf) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for sharpening");
    for (size_t i = 0; i < n; i++) buf[i] = img->rgb[i];
    fs_blur_planar(buf, img->w, img->h, 3, SHARPEN_SIGMA, buf + n);
    for (size_t i = 0; i < n; i++)
        img->rgb[i] = to_byte(img->rgb[i] + (float)amount * (img->rgb[i] - buf[i]));
    free(owned);
    return FS_OK;
}

/* ---- mask --------------------------------------------------------------------------------- */

typedef struct mask_shape {
    double cx, cy, rx, ry;
    double amp[MASK_HARMONICS], phase[MASK_HARMONICS];
    double sigma, ratio;
} mask_shape;

/* Hard deformed ellipse, then the soft edge, then the blend ratio. tmp holds w*h floats. */
static void draw_mask(float *m, float *tmp, int w, int h, const mask_shape *s) {
    double cph[MASK_HARMONICS], sph[MASK_HARMONICS];
    for (int k = 0; k < MASK_HARMONICS; k++) cph[k] = cos(s->phase[k]), sph[k] = sin(s->phase[k]);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double dx = (x - s->cx) / s->rx, dy = (y - s->cy) / s->ry;
            double rho = sqrt(dx * dx + dy * dy), bound = 1.0;
            if (rho > 0) {
                /* cos(k theta + phase) from cos/sin of theta by angle addition, no trig calls */
                const double c1 = dx / rho, s1 = dy / rho;
                double ck = c1 * c1 - s1 * s1, sk = 2 * c1 * s1; /* k = 2 */
                for (int k = 0; k < MASK_HARMONICS; k++) {
                    bound += s->amp[k] * (ck * cph[k] - sk * sph[k]);
                    const double cn = ck * c1 - sk * s1;
                    sk = sk * c1 + ck * s1;
                    ck = cn;
                }
            }
            m[(size_t)y * w + x] = rho <= bound ? 1.0f : 0.0f;
        }
    }
    if (s->sigma > 0) fs_blur_planar(m, w, h, 1, s->sigma, tmp);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        float v = m[i] * (float)s->ratio;
        m[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

/* ---- the whole procedure ------------------------------------------------------------------ */

fs_err fs_blend_self(const fs_image *face, const int box[4], const fs_blend_params *params,
                     fs_rng *rng, fs_aug_work *work, fs_image *out, float *mask, fs_msg *msg) {
    assert(face && rng && out);
    memset(out, 0, sizeof *out);
    fs_blend_params def = fs_blend_params_default();
    const fs_blend_params *p = params ? params : &def;
    fs_err err = check_params(p, msg);
    if (err) return err;
    const int w = face->w, h = face->h;
    if (!face->rgb || w < MIN_FACE_SIDE || h < MIN_FACE_SIDE)
        return fs_fail(msg, FS_ERR_INVALID, "face crop %d x %d is too small to self-blend", w, h);
    double bx = DEFAULT_BOX_X * w, by = DEFAULT_BOX_Y * h;
    double bw = DEFAULT_BOX_W * w, bh = DEFAULT_BOX_H * h;
    if (box) {
        if (box[2] < 2 || box[3] < 2 || box[0] + box[2] <= 0 || box[1] + box[3] <= 0 ||
            box[0] >= w || box[1] >= h)
            return fs_fail(msg, FS_ERR_INVALID, "face box (%d, %d, %d, %d) is outside the %dx%d crop",
                           box[0], box[1], box[2], box[3], w, h);
        bx = box[0], by = box[1], bw = box[2], bh = box[3];
    }

    /* Draw every random value up front: a fixed number of draws per call. */
    const double scale = fs_rng_range(rng, p->scale_min, p->scale_max);
    const double tx = fs_rng_range(rng, -p->shift, p->shift);
    const double ty = fs_rng_range(rng, -p->shift, p->shift);
    colour_shift cs;
    cs.dh = (float)fs_rng_range(rng, -p->hue_shift, p->hue_shift);
    cs.ks = (float)(1.0 + fs_rng_range(rng, -p->sat_shift, p->sat_shift));
    cs.kv = (float)(1.0 + fs_rng_range(rng, -p->val_shift, p->val_shift));
    cs.contrast = (float)(1.0 + fs_rng_range(rng, -p->contrast_shift, p->contrast_shift));
    for (int c = 0; c < 3; c++)
        cs.gain[c] = (float)(1.0 + fs_rng_range(rng, -p->channel_gain, p->channel_gain));
    const double freq = fs_rng_uniform(rng);
    const double blur_sigma = fs_rng_range(rng, p->blur_sigma_min, p->blur_sigma_max);
    const double sharp = fs_rng_range(rng, p->sharpen_min, p->sharpen_max);
    mask_shape ms;
    ms.rx = bw * fs_rng_range(rng, p->mask_rx_min, p->mask_rx_max);
    ms.ry = bh * fs_rng_range(rng, p->mask_ry_min, p->mask_ry_max);
    ms.cx = bx + bw * (0.5 + fs_rng_range(rng, -p->mask_offset, p->mask_offset)) - 0.5;
    ms.cy = by + bh * (0.5 + fs_rng_range(rng, -p->mask_offset, p->mask_offset)) - 0.5;
    for (int k = 0; k < MASK_HARMONICS; k++) {
        /* Higher harmonics get smaller amplitudes: a lumpy blob, not a star. */
        ms.amp[k] = p->mask_deform * fs_rng_range(rng, -1.0, 1.0) / (k + 1);
        ms.phase[k] = fs_rng_range(rng, 0.0, 2.0 * M_PI);
    }
    ms.sigma = fs_rng_range(rng, p->mask_sigma_min, p->mask_sigma_max) * (w < h ? w : h);
    ms.ratio = BLEND_RATIOS[fs_rng_below(rng, (int)(sizeof BLEND_RATIOS / sizeof BLEND_RATIOS[0]))];

    /* 1. source */
    fs_image src = {0};
    float *m = NULL, *m_owned = NULL;
    if ((err = fs_image_alloc(&src, w, h, msg))) return err;
    memcpy(src.rgb, face->rgb, (size_t)w * h * 3);
    if ((err = fs_aug_affine(&src, 0.0, scale, tx, ty, work, msg))) goto fail;
    perturb_colour(&src, &cs);
    if (freq < p->p_blur) err = fs_aug_blur(&src, blur_sigma, work, msg);
    else if (freq < p->p_blur + p->p_sharpen) err = sharpen(&src, sharp, work, msg);
    if (err) goto fail;

    /* 2. mask (in the caller's buffer when given, tmp space from work) */
    m = mask ? mask : (m_owned = malloc((size_t)w * h * sizeof(float)));
    float *t_owned;
    float *tmp = fs_work_floats(work, (size_t)w * h, &t_owned);
    if (!m || !tmp) {
        free(t_owned);
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for a blend mask");
        goto fail;
    }
    draw_mask(m, tmp, w, h, &ms);
    free(t_owned);

    /* 3. blend into the target (the untouched crop) */
    if ((err = fs_image_alloc(out, w, h, msg))) goto fail;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const float a = m[i];
        for (int c = 0; c < 3; c++) {
            const size_t j = i * 3 + c;
            out->rgb[j] = a == 0.0f ? face->rgb[j]
                                    : to_byte(a * src.rgb[j] + (1.0f - a) * face->rgb[j]);
        }
    }
    free(m_owned);
    fs_image_free(&src);
    return FS_OK;
fail:
    free(m_owned);
    fs_image_free(&src);
    return err;
}
