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

/* The colour shift's draws, in a fixed order (runs are reproducible for a seed). */
static colour_shift draw_colour_shift(fs_rng *rng, const fs_blend_params *p) {
    colour_shift cs;
    cs.dh = (float)fs_rng_range(rng, -p->hue_shift, p->hue_shift);
    cs.ks = (float)(1.0 + fs_rng_range(rng, -p->sat_shift, p->sat_shift));
    cs.kv = (float)(1.0 + fs_rng_range(rng, -p->val_shift, p->val_shift));
    cs.contrast = (float)(1.0 + fs_rng_range(rng, -p->contrast_shift, p->contrast_shift));
    for (int c = 0; c < 3; c++)
        cs.gain[c] = (float)(1.0 + fs_rng_range(rng, -p->channel_gain, p->channel_gain));
    return cs;
}

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
    const colour_shift cs = draw_colour_shift(rng, p);
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

/* ---- self-blended images from landmarks ------------------------------------------------- */

#define SBI_POINTS 68
#define SBI_MAX_HULL (SBI_POINTS + 10) /* the 68 points and ten forehead points */

fs_sbi_params fs_sbi_params_default(void) {
    fs_sbi_params p = {.base = fs_blend_params_default()};
    p.base.p_blur = 0.0, p.base.p_sharpen = 0.5; /* frequency: sharpen, else down-and-up */
    p.p_forehead = 0.75, p.forehead_min = 0.25, p.forehead_max = 0.45;
    p.p_target = 0.5;
    p.p_downscale = 0.5, p.downscale_min = 0.25, p.downscale_max = 0.5;
    p.elastic_alpha = 0.2, p.elastic_sigma = 0.03;
    p.blur1_min = 0.005, p.blur1_max = 0.02;
    p.blur2_min = 0.01, p.blur2_max = 0.04;
    return p;
}

static fs_err check_sbi(const fs_sbi_params *p, fs_msg *msg) {
    fs_err e = check_params(&p->base, msg);
    if (e) return e;
    int ok = p->p_forehead >= 0 && p->p_forehead <= 1 && p->forehead_min >= 0 &&
             p->forehead_min <= p->forehead_max && p->forehead_max <= 1 && p->p_target >= 0 &&
             p->p_target <= 1 && p->p_downscale >= 0 && p->base.p_sharpen + p->p_downscale <= 1 &&
             p->downscale_min >= 0.1 && p->downscale_min <= p->downscale_max &&
             p->downscale_max <= 1 && p->elastic_alpha >= 0 && p->elastic_alpha <= 1 &&
             p->elastic_sigma > 0 && p->elastic_sigma <= 0.25 && p->blur1_min >= 0 &&
             p->blur1_min <= p->blur1_max && p->blur1_max <= 0.25 && p->blur2_min >= 0 &&
             p->blur2_min <= p->blur2_max && p->blur2_max <= 0.25;
    return ok ? FS_OK
              : fs_fail(msg, FS_ERR_INVALID,
                        "self-blend parameters out of range (see fs_sbi_params in augment.h)");
}

static double cross(const double *o, const double *a, const double *b) {
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

static int by_x_then_y(const void *a, const void *b) {
    const double *p = a, *q = b;
    return p[0] < q[0] ? -1 : p[0] > q[0] ? 1 : p[1] < q[1] ? -1 : p[1] > q[1];
}

/* Convex hull of n points (sorted in place) by the monotone chain, counter-clockwise in hull
 * (2 * (n + 1) doubles); returns its size. */
static int convex_hull(double (*pt)[2], int n, double (*hull)[2]) {
    qsort(pt, (size_t)n, sizeof pt[0], by_x_then_y);
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross(hull[k - 2], hull[k - 1], pt[i]) <= 0) k--;
        hull[k][0] = pt[i][0], hull[k][1] = pt[i][1], k++;
    }
    for (int i = n - 2, lo = k + 1; i >= 0; i--) {
        while (k >= lo && cross(hull[k - 2], hull[k - 1], pt[i]) <= 0) k--;
        hull[k][0] = pt[i][0], hull[k][1] = pt[i][1], k++;
    }
    return k - 1; /* the last point repeats the first */
}

/* 1 inside the convex polygon (pixel centres), 0 outside. */
static void fill_hull(float *m, int w, int h, double (*hull)[2], int n) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const double p[2] = {x, y};
            int in = n >= 3;
            for (int i = 0; i < n && in; i++) in = cross(hull[i], hull[(i + 1) % n], p) >= 0;
            m[(size_t)y * w + x] = in ? 1.0f : 0.0f;
        }
}

/* Bilinear sample of m (w x h) at (x, y); 0 outside. */
static float sample(const float *m, int w, int h, double x, double y) {
    if (!(x > -1 && y > -1 && x < w && y < h)) return 0.0f;
    const int x0 = (int)floor(x), y0 = (int)floor(y);
    const float fx = (float)(x - x0), fy = (float)(y - y0);
    float v[4] = {0, 0, 0, 0};
    for (int j = 0; j < 4; j++) {
        const int xx = x0 + (j & 1), yy = y0 + (j >> 1);
        if (xx >= 0 && yy >= 0 && xx < w && yy < h) v[j] = m[(size_t)yy * w + xx];
    }
    const float top = v[0] + fx * (v[1] - v[0]), bot = v[2] + fx * (v[3] - v[2]);
    return top + fy * (bot - top);
}

/* Scales m so its maximum is 1; 0 when it is all zero. */
static float normalise_max(float *m, size_t n) {
    float mx = 0;
    for (size_t i = 0; i < n; i++) mx = m[i] > mx ? m[i] : mx;
    if (mx > 0)
        for (size_t i = 0; i < n; i++) m[i] /= mx;
    return mx;
}

/* The colour and frequency perturbation of fs_sbi_params on img. */
typedef struct sbi_freq {
    int kind; /* 0 none, 1 sharpen, 2 down-and-up */
    double amount;
} sbi_freq;

static fs_err perturb(fs_image *img, const colour_shift *cs, const sbi_freq *f, fs_aug_work *work,
                      fs_msg *msg) {
    perturb_colour(img, cs);
    if (f->kind == 1) return sharpen(img, f->amount, work, msg);
    if (f->kind == 2) return fs_aug_rescale(img, f->amount, msg);
    return FS_OK;
}

fs_err fs_blend_sbi(const fs_image *face, const float *landmarks, const fs_sbi_params *params,
                    fs_rng *rng, fs_aug_work *work, fs_image *out, float *mask, fs_msg *msg) {
    assert(face && rng && out);
    memset(out, 0, sizeof *out);
    fs_sbi_params def = fs_sbi_params_default();
    const fs_sbi_params *p = params ? params : &def;
    fs_err err = check_sbi(p, msg);
    if (err) return err;
    const int w = face->w, h = face->h;
    const double side = w < h ? w : h;
    if (!face->rgb || w < MIN_FACE_SIDE || h < MIN_FACE_SIDE)
        return fs_fail(msg, FS_ERR_INVALID, "face crop %d x %d is too small to self-blend", w, h);
    if (!landmarks) return fs_fail(msg, FS_ERR_INVALID, "self-blending needs the face's landmarks");
    for (int i = 0; i < SBI_POINTS; i++) {
        const float x = landmarks[2 * i], y = landmarks[2 * i + 1];
        if (!(x >= -0.5f * w && x <= 1.5f * w && y >= -0.5f * h && y <= 1.5f * h))
            return fs_fail(msg, FS_ERR_INVALID, "landmark %d (%g, %g) is not in the %dx%d crop", i,
                           (double)x, (double)y, w, h);
    }

    /* Every random value up front; the field's draws depend only on the size. */
    const fs_blend_params *b = &p->base;
    const double scale = fs_rng_range(rng, b->scale_min, b->scale_max);
    const double tx = fs_rng_range(rng, -b->shift, b->shift);
    const double ty = fs_rng_range(rng, -b->shift, b->shift);
    const colour_shift cs = draw_colour_shift(rng, b);
    const double fcoin = fs_rng_uniform(rng);
    const double sharp = fs_rng_range(rng, b->sharpen_min, b->sharpen_max);
    const double down = fs_rng_range(rng, p->downscale_min, p->downscale_max);
    sbi_freq freq = {0, 0};
    if (fcoin < b->p_sharpen) freq = (sbi_freq){1, sharp};
    else if (fcoin < b->p_sharpen + p->p_downscale) freq = (sbi_freq){2, down};
    const int on_target = fs_rng_uniform(rng) < p->p_target;
    const int forehead = fs_rng_uniform(rng) < p->p_forehead;
    const double lift = fs_rng_range(rng, p->forehead_min, p->forehead_max);
    const double sigma1 = fs_rng_range(rng, p->blur1_min, p->blur1_max) * side;
    const double sigma2 = fs_rng_range(rng, p->blur2_min, p->blur2_max) * side;
    const double ratio =
        BLEND_RATIOS[fs_rng_below(rng, (int)(sizeof BLEND_RATIOS / sizeof BLEND_RATIOS[0]))];

    /* 1. the hull, moved as the source will be: p' = c + scale (p - c) + (tx w, ty h) */
    double pts[SBI_MAX_HULL][2], hull[2 * SBI_MAX_HULL + 2][2];
    int n = 0;
    const double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5;
    for (int i = 0; i < SBI_POINTS; i++, n++)
        pts[n][0] = landmarks[2 * i], pts[n][1] = landmarks[2 * i + 1];
    if (forehead) {
        /* the brows (17-26) lifted along the chin (8) to brow-centre line */
        const double bx = 0.5 * (landmarks[2 * 19] + landmarks[2 * 24]);
        const double by = 0.5 * (landmarks[2 * 19 + 1] + landmarks[2 * 24 + 1]);
        const double ux = bx - landmarks[2 * 8], uy = by - landmarks[2 * 8 + 1];
        for (int i = 17; i <= 26; i++, n++)
            pts[n][0] = landmarks[2 * i] + lift * ux, pts[n][1] = landmarks[2 * i + 1] + lift * uy;
    }
    for (int i = 0; i < n; i++) {
        pts[i][0] = cx + scale * (pts[i][0] - cx) + tx * w;
        pts[i][1] = cy + scale * (pts[i][1] - cy) + ty * h;
    }
    const int nh = convex_hull(pts, n, hull);

    const size_t npx = (size_t)w * h;
    float *owned;
    float *buf = fs_work_floats(work, 5 * npx, &owned);
    float *m_owned = NULL, *m = mask ? mask : (m_owned = malloc(npx * sizeof(float)));
    fs_image src = {0}, tgt = {0};
    if (!buf || !m) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for a blend mask");
        goto done;
    }
    float *hard = buf, *dx = buf + npx, *dy = buf + 2 * npx, *tmp = buf + 3 * npx;
    fill_hull(hard, w, h, hull, nh);

    /* 2. elastic deformation: uniform noise smoothed into a displacement field */
    for (size_t i = 0; i < npx; i++) dx[i] = (float)fs_rng_range(rng, -1.0, 1.0);
    for (size_t i = 0; i < npx; i++) dy[i] = (float)fs_rng_range(rng, -1.0, 1.0);
    const double es = p->elastic_sigma * side;
    fs_blur_planar(dx, w, h, 1, es, tmp);
    fs_blur_planar(dy, w, h, 1, es, tmp);
    /* uniform noise on [-1, 1] smoothed by a Gaussian of sigma s has a standard deviation of
     * sqrt(1/3) / (2 sqrt(pi) s) = 0.163 / s: scale it so the
     * typical displacement is elastic_alpha x sigma */
    const float amp = (float)(p->elastic_alpha * es * es / 0.163);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            m[i] = sample(hard, w, h, x + amp * dx[i], y + amp * dy[i]);
        }

    /* 3. two blurs: the first, cut back to where it is still 1, erodes; the second softens */
    if (sigma1 > 0) fs_blur_planar(m, w, h, 1, sigma1, tmp);
    if (normalise_max(m, npx) == 0.0f) {
        err = fs_fail(msg, FS_ERR_INVALID, "the landmarks enclose no pixel of the crop");
        goto done;
    }
    for (size_t i = 0; i < npx; i++) m[i] = m[i] >= 1.0f - 1e-6f ? 1.0f : 0.0f;
    if (normalise_max(m, npx) == 0.0f) {
        err = fs_fail(msg, FS_ERR_INVALID, "the face's outline is too thin to blend");
        goto done;
    }
    if (sigma2 > 0) fs_blur_planar(m, w, h, 1, sigma2, tmp);
    normalise_max(m, npx);
    for (size_t i = 0; i < npx; i++) {
        const float v = m[i] * (float)ratio;
        m[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }

    /* 4. source and target: the perturbation on one of them, the geometry on the source */
    if ((err = fs_image_alloc(&src, w, h, msg)) || (err = fs_image_alloc(&tgt, w, h, msg)))
        goto done;
    memcpy(src.rgb, face->rgb, npx * 3);
    memcpy(tgt.rgb, face->rgb, npx * 3);
    if ((err = perturb(on_target ? &tgt : &src, &cs, &freq, work, msg))) goto done;
    if ((err = fs_aug_affine(&src, 0.0, scale, tx, ty, work, msg))) goto done;

    /* 5. blend */
    if ((err = fs_image_alloc(out, w, h, msg))) goto done;
    for (size_t i = 0; i < npx; i++) {
        const float a = m[i];
        for (int c = 0; c < 3; c++) {
            const size_t j = i * 3 + c;
            out->rgb[j] = a == 0.0f ? tgt.rgb[j] : to_byte(a * src.rgb[j] + (1.0f - a) * tgt.rgb[j]);
        }
    }
done:
    fs_image_free(&src);
    fs_image_free(&tgt);
    free(owned);
    free(m_owned);
    return err;
}

fs_err fs_blend_face(const fs_image *face, const float *shares, const fs_sbi_params *sbi,
                     const fs_blend_params *blend, fs_rng *rng, fs_aug_work *work, fs_image *out,
                     float *mask, fs_msg *msg) {
    if (!shares || isnan(shares[0]))
        return fs_blend_self(face, NULL, blend, rng, work, out, mask, msg);
    float pts[2 * SBI_POINTS];
    for (int k = 0; k < 2 * SBI_POINTS; k += 2)
        pts[k] = shares[k] * (float)face->w, pts[k + 1] = shares[k + 1] * (float)face->h;
    return fs_blend_sbi(face, pts, sbi, rng, work, out, mask, msg);
}
