/* align.c: similarity fit of five face points onto a template and the warp of the aligned crop
 * (include/fakescope/align.h). Sums are in double: the points are image coordinates up to a
 * few thousand pixels and the fit divides by their spread. */
#include "fakescope/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* InsightFace's ArcFace template for 112 x 112 crops (eyes, nose tip, mouth corners). */
static const float arcface112[5][2] = {{38.2946f, 51.6963f},
                                       {73.5318f, 51.5014f},
                                       {56.0252f, 71.7366f},
                                       {41.5493f, 92.3655f},
                                       {70.7299f, 92.2041f}};

fs_err fs_similarity_fit(const fs_point2f *src, const fs_point2f *dst, size_t n,
                         fs_similarity *out, fs_msg *msg) {
    if (!src || !dst || n < 2)
        return fs_fail(msg, FS_ERR_INVALID, "alignment needs at least 2 point pairs, got %zu", n);
    double msx = 0, msy = 0, mdx = 0, mdy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(src[i].x) || !isfinite(src[i].y) || !isfinite(dst[i].x) ||
            !isfinite(dst[i].y))
            return fs_fail(msg, FS_ERR_INVALID, "alignment: point %zu is not finite", i);
        msx += src[i].x, msy += src[i].y, mdx += dst[i].x, mdy += dst[i].y;
    }
    msx /= (double)n, msy /= (double)n, mdx /= (double)n, mdy /= (double)n;
    double ss = 0, dot = 0, cross = 0;
    for (size_t i = 0; i < n; i++) {
        double sx = src[i].x - msx, sy = src[i].y - msy;
        double dx = dst[i].x - mdx, dy = dst[i].y - mdy;
        ss += sx * sx + sy * sy;
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
    }
    if (!(sqrt(ss / (double)n) >= FS_ALIGN_MIN_SPREAD))
        return fs_fail(msg, FS_ERR_INVALID,
                       "alignment: the source points coincide (spread %.3g px)",
                       sqrt(ss / (double)n));
    double a = dot / ss, b = cross / ss;
    if (!(hypot(a, b) > 1e-9) || !isfinite(a) || !isfinite(b))
        return fs_fail(msg, FS_ERR_INVALID,
                       "alignment: the fit maps every point to one (destination points coincide)");
    out->a = a, out->b = b;
    out->tx = mdx - (a * msx - b * msy);
    out->ty = mdy - (b * msx + a * msy);
    return FS_OK;
}

fs_point2f fs_similarity_apply(fs_similarity t, fs_point2f p) {
    return (fs_point2f){(float)(t.a * p.x - t.b * p.y + t.tx),
                        (float)(t.b * p.x + t.a * p.y + t.ty)};
}

fs_similarity fs_similarity_invert(fs_similarity t) {
    /* (a + ib)^-1 = (a - ib) / (a^2 + b^2); then minus the transformed translation */
    double d = t.a * t.a + t.b * t.b;
    fs_similarity r = {t.a / d, -t.b / d, 0, 0};
    r.tx = -(r.a * t.tx - r.b * t.ty);
    r.ty = -(r.b * t.tx + r.a * t.ty);
    return r;
}

void fs_align_template(int side, float margin, fs_point2f out[5]) {
    const double s = (double)side / 112.0, c = side / 2.0, shrink = 1.0 / (1.0 + 2.0 * margin);
    for (int i = 0; i < 5; i++) {
        out[i].x = (float)(c + (arcface112[i][0] * s - c) * shrink);
        out[i].y = (float)(c + (arcface112[i][1] * s - c) * shrink);
    }
}

/* Precondition: img non-empty. Bilinear at (x, y), pixel centres at +0.5. */
static void sample(const fs_image *img, double x, double y, fs_border border, double rgb[3]) {
    double fx = x - 0.5, fy = y - 0.5;
    /* far outside: constant reads black; replicate clamps (keeps the casts below in range) */
    const double lim = 4.0 * FS_ALIGN_MAX_SIDE + (img->w > img->h ? img->w : img->h);
    if (fx < -lim || fx > lim || fy < -lim || fy > lim) {
        if (border == FS_BORDER_CONSTANT) {
            rgb[0] = rgb[1] = rgb[2] = 0;
            return;
        }
        fx = fx < -lim ? -lim : fx > lim ? lim : fx;
        fy = fy < -lim ? -lim : fy > lim ? lim : fy;
    }
    double x0f = floor(fx), y0f = floor(fy), tx = fx - x0f, ty = fy - y0f;
    long x0 = (long)x0f, y0 = (long)y0f;
    const double w[4] = {(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty};
    rgb[0] = rgb[1] = rgb[2] = 0;
    for (int j = 0; j < 4; j++) {
        long px = x0 + (j & 1), py = y0 + (j >> 1);
        if (px < 0 || py < 0 || px >= img->w || py >= img->h) {
            if (border == FS_BORDER_CONSTANT) continue;
            px = px < 0 ? 0 : px >= img->w ? img->w - 1 : px;
            py = py < 0 ? 0 : py >= img->h ? img->h - 1 : py;
        }
        const uint8_t *p = img->rgb + ((size_t)py * (size_t)img->w + (size_t)px) * 3;
        for (int c = 0; c < 3; c++) rgb[c] += w[j] * p[c];
    }
}

fs_err fs_align_warp(const fs_image *img, fs_similarity t, int out_w, int out_h, fs_border border,
                     fs_image *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "alignment: empty image");
    if (out_w < 1 || out_h < 1 || out_w > FS_ALIGN_MAX_SIDE || out_h > FS_ALIGN_MAX_SIDE)
        return fs_fail(msg, FS_ERR_INVALID, "alignment: crop of %dx%d (1-%d a side)", out_w,
                       out_h, FS_ALIGN_MAX_SIDE);
    double scale = hypot(t.a, t.b);
    if (!isfinite(t.a) || !isfinite(t.b) || !isfinite(t.tx) || !isfinite(t.ty) ||
        !(scale > 1e-9))
        return fs_fail(msg, FS_ERR_INVALID, "alignment: the transform is not usable");
    if (border != FS_BORDER_CONSTANT && border != FS_BORDER_REPLICATE)
        return fs_fail(msg, FS_ERR_INVALID, "alignment: unknown border mode %d", (int)border);
    fs_similarity inv = fs_similarity_invert(t);
    int k = scale < 1 ? (int)ceil(1.0 / scale - 1e-9) : 1;
    if (k > FS_ALIGN_MAX_SUPERSAMPLE) k = FS_ALIGN_MAX_SUPERSAMPLE;
    fs_err err = fs_image_alloc(out, out_w, out_h, msg);
    if (err) return err;
    const double inv_k2 = 1.0 / (k * k);
    for (int i = 0; i < out_h; i++)
        for (int j = 0; j < out_w; j++) {
            double acc[3] = {0, 0, 0}, v[3];
            for (int sy = 0; sy < k; sy++)
                for (int sx = 0; sx < k; sx++) {
                    double qx = j + (sx + 0.5) / k, qy = i + (sy + 0.5) / k;
                    double x = inv.a * qx - inv.b * qy + inv.tx;
                    double y = inv.b * qx + inv.a * qy + inv.ty;
                    sample(img, x, y, border, v);
                    acc[0] += v[0], acc[1] += v[1], acc[2] += v[2];
                }
            uint8_t *o = out->rgb + ((size_t)i * (size_t)out_w + (size_t)j) * 3;
            for (int c = 0; c < 3; c++) {
                double q = acc[c] * inv_k2 + 0.5;
                o[c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    return FS_OK;
}

fs_err fs_align_face(const fs_image *img, const fs_point2f five[5], int side, float margin,
                     fs_border border, fs_image *out, fs_similarity *t, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (!five) return fs_fail(msg, FS_ERR_INVALID, "alignment: no points");
    if (!(margin >= 0 && margin <= FS_ALIGN_MAX_MARGIN))
        return fs_fail(msg, FS_ERR_INVALID, "alignment: margin %g outside [0, %g]", margin,
                       FS_ALIGN_MAX_MARGIN);
    if (side < 1 || side > FS_ALIGN_MAX_SIDE)
        return fs_fail(msg, FS_ERR_INVALID, "alignment: crop side %d (1-%d)", side,
                       FS_ALIGN_MAX_SIDE);
    if (!(hypot((double)five[1].x - five[0].x, (double)five[1].y - five[0].y) >= 1.0))
        return fs_fail(msg, FS_ERR_INVALID,
                       "alignment: the eye centres are not finite or less than a pixel apart");
    fs_point2f tpl[5];
    fs_align_template(side, margin, tpl);
    fs_similarity s;
    fs_err err = fs_similarity_fit(five, tpl, 5, &s, msg);
    if (err) return err;
    err = fs_align_warp(img, s, side, side, border, out, msg);
    if (!err && t) *t = s;
    return err;
}
