/* augment.c: the random variations a training image goes through before it reaches a network,
 * so a detector learns the face and its blending artefacts rather than one camera, one JPEG
 * quality or one framing. Each operation is a plain deterministic function of its arguments;
 * randomness lives only in fs_aug_apply, which draws every parameter from a caller-owned
 * xoshiro256** state, always the same number of draws, so a seed fixes the output bytes.
 *
 * Pixel arithmetic is done in float and rounded once at the end of each operation, which makes
 * the neutral settings (no rotation, +0 brightness, factor 1) exact identities. Scratch memory
 * comes from an fs_aug_work the caller keeps across images, so a steady training loop does not
 * allocate except inside the JPEG codec and the resizer. */
#include "fakescope/augment.h"
#include "train/train_internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLUR_MAX_SIGMA 64.0 /* keeps the kernel (6 sigma + 1 taps) small and bounded */
#define AFFINE_MIN_SCALE 0.05
#define RESCALE_MIN_FACTOR 0.01

/* ---- random numbers ---------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fs_rng_seed(fs_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t fs_rng_next(fs_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double fs_rng_uniform(fs_rng *rng) { return (double)(fs_rng_next(rng) >> 11) * 0x1.0p-53; }

double fs_rng_range(fs_rng *rng, double lo, double hi) {
    return lo + (hi - lo) * fs_rng_uniform(rng);
}

int fs_rng_below(fs_rng *rng, int n) {
    assert(n >= 1);
    return (int)(fs_rng_uniform(rng) * n);
}

double fs_rng_normal(fs_rng *rng) {
    double u1 = fs_rng_uniform(rng), u2 = fs_rng_uniform(rng);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

uint64_t fs_seed_mix(uint64_t a, uint64_t b) {
    uint64_t x = a ^ rotl(b, 32) ^ 0xD1B54A32D192ED03ull;
    uint64_t y = splitmix64(&x) ^ b;
    return splitmix64(&y);
}

/* ---- scratch ------------------------------------------------------------------------------ */

void fs_aug_work_free(fs_aug_work *work) {
    if (!work) return;
    free(work->bytes);
    free(work->floats);
    memset(work, 0, sizeof *work);
}

float *fs_work_floats(fs_aug_work *work, size_t n, float **owned) {
    *owned = NULL;
    if (!work) return *owned = malloc(n * sizeof(float));
    if (work->floats_cap < n) {
        float *p = realloc(work->floats, n * sizeof(float));
        if (!p) return NULL;
        work->floats = p;
        work->floats_cap = n;
    }
    return work->floats;
}

uint8_t *fs_work_bytes(fs_aug_work *work, size_t n, uint8_t **owned) {
    *owned = NULL;
    if (!work) return *owned = malloc(n);
    if (work->bytes_cap < n) {
        uint8_t *p = realloc(work->bytes, n);
        if (!p) return NULL;
        work->bytes = p;
        work->bytes_cap = n;
    }
    return work->bytes;
}

static inline uint8_t clamp_byte(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}

static inline size_t npix(const fs_image *img) { return (size_t)img->w * (size_t)img->h; }

/* ---- single operations ------------------------------------------------------------------- */

void fs_aug_flip(fs_image *img) {
    assert(img && img->rgb);
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = img->rgb + (size_t)y * img->w * 3;
        for (int a = 0, b = img->w - 1; a < b; a++, b--) {
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[a * 3 + c];
                row[a * 3 + c] = row[b * 3 + c];
                row[b * 3 + c] = t;
            }
        }
    }
}

fs_err fs_aug_affine(fs_image *img, double angle_deg, double scale, double tx, double ty,
                     fs_aug_work *work, fs_msg *msg) {
    assert(img && img->rgb);
    if (!(scale >= AFFINE_MIN_SCALE) || !isfinite(angle_deg) || !isfinite(tx) || !isfinite(ty))
        return fs_fail(msg, FS_ERR_INVALID,
                       "affine warp needs a finite angle and shift and a scale >= %.2f",
                       AFFINE_MIN_SCALE);
    if (angle_deg == 0.0 && scale == 1.0 && tx == 0.0 && ty == 0.0) return FS_OK;
    const int w = img->w, h = img->h;
    uint8_t *owned;
    uint8_t *src = fs_work_bytes(work, npix(img) * 3, &owned);
    if (!src) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for an affine warp");
    memcpy(src, img->rgb, npix(img) * 3);

    /* Inverse map: for each output pixel, where it came from in the source. */
    const double th = angle_deg * M_PI / 180.0;
    const double ca = cos(th) / scale, sa = sin(th) / scale;
    const double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5;
    const double sx0 = tx * w, sy0 = ty * h;
    for (int y = 0; y < h; y++) {
        const double dy = y - cy - sy0;
        uint8_t *out = img->rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            const double dx = x - cx - sx0;
            double sx = cx + ca * dx - sa * dy;
            double sy = cy + sa * dx + ca * dy;
            sx = sx < 0 ? 0 : sx > w - 1 ? w - 1 : sx;
            sy = sy < 0 ? 0 : sy > h - 1 ? h - 1 : sy;
            int x0 = (int)sx, y0 = (int)sy;
            float fx = (float)(sx - x0), fy = (float)(sy - y0);
            int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
            const uint8_t *p00 = src + ((size_t)y0 * w + x0) * 3;
            const uint8_t *p10 = src + ((size_t)y0 * w + x1) * 3;
            const uint8_t *p01 = src + ((size_t)y1 * w + x0) * 3;
            const uint8_t *p11 = src + ((size_t)y1 * w + x1) * 3;
            for (int c = 0; c < 3; c++) {
                float top = p00[c] + fx * (p10[c] - p00[c]);
                float bot = p01[c] + fx * (p11[c] - p01[c]);
                out[x * 3 + c] = clamp_byte(top + fy * (bot - top));
            }
        }
    }
    free(owned);
    return FS_OK;
}

static inline float luma(const uint8_t *p) {
    return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
}

void fs_aug_color(fs_image *img, double brightness, double contrast, double saturation) {
    assert(img && img->rgb);
    const size_t n = npix(img);
    if (brightness != 0.0 || contrast != 1.0) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += luma(img->rgb + i * 3);
        const float mean = (float)(sum / (double)n);
        uint8_t lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = clamp_byte((float)((v - mean) * contrast + mean + brightness * 255.0));
        for (size_t i = 0; i < n * 3; i++) img->rgb[i] = lut[img->rgb[i]];
    }
    if (saturation != 1.0) {
        const float s = (float)saturation;
        for (size_t i = 0; i < n; i++) {
            uint8_t *p = img->rgb + i * 3;
            const float g = luma(p);
            for (int c = 0; c < 3; c++) p[c] = clamp_byte(g + s * (p[c] - g));
        }
    }
}

void fs_aug_grayscale(fs_image *img) {
    assert(img && img->rgb);
    for (size_t i = 0; i < npix(img); i++) {
        uint8_t *p = img->rgb + i * 3;
        p[0] = p[1] = p[2] = clamp_byte(luma(p));
    }
}

int fs_gauss_kernel(double sigma, float *k, int max_radius) {
    int r = (int)ceil(3.0 * sigma);
    if (r > max_radius) r = max_radius;
    if (r < 1) r = 1;
    double sum = 0;
    for (int i = -r; i <= r; i++) sum += exp(-0.5 * (i * i) / (sigma * sigma));
    for (int i = -r; i <= r; i++) k[i + r] = (float)(exp(-0.5 * (i * i) / (sigma * sigma)) / sum);
    return r;
}

void fs_blur_planar(float *data, int w, int h, int ch, double sigma, float *tmp) {
    float k[2 * FS_BLUR_MAX_RADIUS + 1];
    const int r = fs_gauss_kernel(sigma, k, FS_BLUR_MAX_RADIUS);
    /* horizontal: data -> tmp. Pixels within r of an edge clamp their taps; the middle runs
     * tap by tap over whole rows, a loop the compiler vectorises. */
    for (int y = 0; y < h; y++) {
        const float *restrict row = data + (size_t)y * w * ch;
        float *restrict dst = tmp + (size_t)y * w * ch;
        const int inner = w > 2 * r;
        for (int x = 0; x < w; x++) {
            if (inner && x == r) x = w - r; /* skip the middle here */
            for (int c = 0; c < ch; c++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    int xx = x + i;
                    xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
                    acc += k[i + r] * row[xx * ch + c];
                }
                dst[x * ch + c] = acc;
            }
        }
        if (inner) {
            const size_t j0 = (size_t)r * ch, j1 = (size_t)(w - r) * ch;
            for (size_t j = j0; j < j1; j++) dst[j] = 0;
            for (int i = -r; i <= r; i++) {
                const float kv = k[i + r];
                const float *restrict src = row + (ptrdiff_t)i * ch;
                for (size_t j = j0; j < j1; j++) dst[j] += kv * src[j];
            }
        }
    }
    /* vertical: tmp -> data */
    for (int y = 0; y < h; y++) {
        float *restrict dst = data + (size_t)y * w * ch;
        for (int x = 0; x < w * ch; x++) dst[x] = 0;
        for (int i = -r; i <= r; i++) {
            int yy = y + i;
            yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
            const float *restrict src = tmp + (size_t)yy * w * ch;
            const float kv = k[i + r];
            for (int x = 0; x < w * ch; x++) dst[x] += kv * src[x];
        }
    }
}

fs_err fs_aug_blur(fs_image *img, double sigma, fs_aug_work *work, fs_msg *msg) {
    assert(img && img->rgb);
    if (!(sigma > 0.0)) return FS_OK;
    if (sigma > BLUR_MAX_SIGMA)
        return fs_fail(msg, FS_ERR_INVALID, "blur sigma %.1f is over the limit of %.0f", sigma,
                       BLUR_MAX_SIGMA);
    const size_t n = npix(img) * 3;
    float *owned;
    float *buf = fs_work_floats(work, 2 * n, &owned);
    if (!buf) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a blur");
    for (size_t i = 0; i < n; i++) buf[i] = img->rgb[i];
    fs_blur_planar(buf, img->w, img->h, 3, sigma, buf + n);
    for (size_t i = 0; i < n; i++) img->rgb[i] = clamp_byte(buf[i]);
    free(owned);
    return FS_OK;
}

fs_err fs_aug_jpeg(fs_image *img, int quality, fs_msg *msg) {
    assert(img && img->rgb);
    if (quality < 1 || quality > 100)
        return fs_fail(msg, FS_ERR_INVALID, "JPEG quality %d is not in 1..100", quality);
    uint8_t *enc = NULL;
    size_t len = 0;
    fs_err err = fs_image_encode_jpeg(img, quality, &enc, &len, msg);
    if (err) return err;
    fs_image dec;
    err = fs_image_decode(enc, len, NULL, &dec, msg);
    free(enc);
    if (err) return err;
    if (dec.w != img->w || dec.h != img->h) {
        fs_image_free(&dec);
        return fs_fail(msg, FS_ERR_INTERNAL, "JPEG round trip changed the image size");
    }
    fs_image_free(img);
    *img = dec;
    return FS_OK;
}

fs_err fs_aug_rescale(fs_image *img, double factor, fs_msg *msg) {
    assert(img && img->rgb);
    if (!(factor >= RESCALE_MIN_FACTOR && factor <= 1.0))
        return fs_fail(msg, FS_ERR_INVALID, "rescale factor %g is not in [%.2f, 1]", factor,
                       RESCALE_MIN_FACTOR);
    int sw = (int)lround(img->w * factor), sh = (int)lround(img->h * factor);
    if (sw < 1) sw = 1;
    if (sh < 1) sh = 1;
    if (sw == img->w && sh == img->h) return FS_OK;
    fs_image small, back;
    fs_err err = fs_image_resize(img, sw, sh, &small, msg);
    if (err) return err;
    err = fs_image_resize(&small, img->w, img->h, &back, msg);
    fs_image_free(&small);
    if (err) return err;
    fs_image_free(img);
    *img = back;
    return FS_OK;
}

/* ---- random chains ----------------------------------------------------------------------- */

fs_aug_policy fs_aug_policy_default(void) {
    return (fs_aug_policy){
        .p_flip = 0.5,
        .p_affine = 0.5, .rotate_deg = 10.0, .scale_min = 0.9, .scale_max = 1.1, .shift = 0.05,
        .p_color = 0.5, .brightness = 0.1, .contrast_min = 0.8, .contrast_max = 1.2,
        .saturation_min = 0.8, .saturation_max = 1.2,
        .p_grayscale = 0.05,
        .p_blur = 0.2, .sigma_min = 0.3, .sigma_max = 1.5,
        .p_jpeg = 0.3, .quality_min = 40, .quality_max = 95,
        .p_rescale = 0.2, .rescale_min = 0.5, .rescale_max = 0.9,
    };
}

fs_aug_policy fs_aug_policy_none(void) {
    fs_aug_policy p = fs_aug_policy_default();
    p.p_flip = p.p_affine = p.p_color = p.p_grayscale = p.p_blur = p.p_jpeg = p.p_rescale = 0;
    return p;
}

fs_err fs_aug_policy_check(const fs_aug_policy *p, fs_msg *msg) {
    const struct { const char *name; double v; } probs[] = {
        {"p_flip", p->p_flip},   {"p_affine", p->p_affine}, {"p_color", p->p_color},
        {"p_grayscale", p->p_grayscale}, {"p_blur", p->p_blur}, {"p_jpeg", p->p_jpeg},
        {"p_rescale", p->p_rescale},
    };
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
        if (!(probs[i].v >= 0.0 && probs[i].v <= 1.0))
            return fs_fail(msg, FS_ERR_INVALID, "augmentation %s = %g is not a probability",
                           probs[i].name, probs[i].v);
    if (!(p->rotate_deg >= 0 && p->rotate_deg <= 180))
        return fs_fail(msg, FS_ERR_INVALID, "rotate_deg must be in [0, 180]");
    if (!(p->scale_min >= AFFINE_MIN_SCALE && p->scale_min <= p->scale_max))
        return fs_fail(msg, FS_ERR_INVALID, "scale range must satisfy %.2f <= min <= max",
                       AFFINE_MIN_SCALE);
    if (!(p->shift >= 0 && p->shift <= 1))
        return fs_fail(msg, FS_ERR_INVALID, "shift must be in [0, 1]");
    if (!(p->brightness >= 0 && p->brightness <= 1))
        return fs_fail(msg, FS_ERR_INVALID, "brightness must be in [0, 1]");
    if (!(p->contrast_min >= 0 && p->contrast_min <= p->contrast_max))
        return fs_fail(msg, FS_ERR_INVALID, "contrast range must satisfy 0 <= min <= max");
    if (!(p->saturation_min >= 0 && p->saturation_min <= p->saturation_max))
        return fs_fail(msg, FS_ERR_INVALID, "saturation range must satisfy 0 <= min <= max");
    if (!(p->sigma_min >= 0 && p->sigma_min <= p->sigma_max && p->sigma_max <= BLUR_MAX_SIGMA))
        return fs_fail(msg, FS_ERR_INVALID, "blur sigma range must satisfy 0 <= min <= max <= %.0f",
                       BLUR_MAX_SIGMA);
    if (!(p->quality_min >= 1 && p->quality_min <= p->quality_max && p->quality_max <= 100))
        return fs_fail(msg, FS_ERR_INVALID, "JPEG quality range must satisfy 1 <= min <= max <= 100");
    if (!(p->rescale_min >= RESCALE_MIN_FACTOR && p->rescale_min <= p->rescale_max &&
          p->rescale_max <= 1))
        return fs_fail(msg, FS_ERR_INVALID, "rescale range must satisfy %.2f <= min <= max <= 1",
                       RESCALE_MIN_FACTOR);
    return FS_OK;
}

fs_err fs_aug_apply(fs_image *img, const fs_aug_policy *p, fs_rng *rng, fs_aug_work *work,
                    fs_msg *msg) {
    assert(img && img->rgb && p && rng);
    fs_err err = fs_aug_policy_check(p, msg);
    if (err) return err;
    /* Every draw happens whatever the coins say (fixed consumption per image). */
    const int flip = fs_rng_uniform(rng) < p->p_flip;
    const int affine = fs_rng_uniform(rng) < p->p_affine;
    const double angle = fs_rng_range(rng, -p->rotate_deg, p->rotate_deg);
    const double scale = fs_rng_range(rng, p->scale_min, p->scale_max);
    const double tx = fs_rng_range(rng, -p->shift, p->shift);
    const double ty = fs_rng_range(rng, -p->shift, p->shift);
    const int color = fs_rng_uniform(rng) < p->p_color;
    const double bright = fs_rng_range(rng, -p->brightness, p->brightness);
    const double contrast = fs_rng_range(rng, p->contrast_min, p->contrast_max);
    const double sat = fs_rng_range(rng, p->saturation_min, p->saturation_max);
    const int gray = fs_rng_uniform(rng) < p->p_grayscale;
    const int blur = fs_rng_uniform(rng) < p->p_blur;
    const double sigma = fs_rng_range(rng, p->sigma_min, p->sigma_max);
    const int rescale = fs_rng_uniform(rng) < p->p_rescale;
    const double factor = fs_rng_range(rng, p->rescale_min, p->rescale_max);
    const int jpeg = fs_rng_uniform(rng) < p->p_jpeg;
    const int quality = p->quality_min + fs_rng_below(rng, p->quality_max - p->quality_min + 1);

    if (flip) fs_aug_flip(img);
    if (affine && (err = fs_aug_affine(img, angle, scale, tx, ty, work, msg))) return err;
    if (color) fs_aug_color(img, bright, contrast, sat);
    if (gray) fs_aug_grayscale(img);
    if (blur && (err = fs_aug_blur(img, sigma, work, msg))) return err;
    if (rescale && (err = fs_aug_rescale(img, factor, msg))) return err;
    if (jpeg && (err = fs_aug_jpeg(img, quality, msg))) return err;
    return FS_OK;
}
