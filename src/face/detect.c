/* detect.c: multi-scale cascade detection, step for step as OpenCV 4's
 * CascadeClassifier::detectMultiScale does it, so that a user who tuned parameters with OpenCV gets
 * the same boxes here.
 *
 * Per pyramid level the grey image is shrunk by the level's factor with OpenCV's bit-exact
 * INTER_LINEAR_EXACT (the window stays at the cascade size), integral images are built, and the window
 * is slid with a step of 2 pixels below factor 2 and 1 above, skipping one more step after a
 * window rejected by the first stage. Haar features are divided by the window's standard deviation
 * over the window inset by one pixel; windows of too little variance are rejected. Accepted
 * windows are grouped with groupRectangles. Arithmetic follows OpenCV's types exactly (float
 * feature sums, double stage sums, float scales, round-half-even conversions) because a single
 * flipped comparison near a threshold adds or removes a raw window and can change a group.
 *
 * A detect call owns all its buffers, so one cascade serves many threads. */
#include "face/cascade.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RESIZE_FRAC_BITS 8 /* OpenCV's ufixedpoint16 */
#define RESIZE_ONE (1 << RESIZE_FRAC_BITS)
#define CANDIDATES_MAX (1 << 22)

/* ---- grey ---- */

void fs_face_gray(const fs_image *img, uint8_t *gray) {
    size_t n = (size_t)img->w * img->h;
    const uint8_t *p = img->rgb;
    for (size_t i = 0; i < n; i++, p += 3)
        gray[i] = (uint8_t)((p[0] * 9798u + p[1] * 19235u + p[2] * 3735u + (1u << 14)) >> 15);
}

/* ---- OpenCV's bit-exact INTER_LINEAR for 8-bit, one channel ---- */

/* Per destination position: the source index and two weights with RESIZE_FRAC_BITS fractional
 * bits (summing to one). Positions before *lo repeat the first source pixel, from *hi on the
 * last. Coordinates are computed in double, as OpenCV's softdouble does. */
static void linear_coeffs(int ns, int nd, int *ofs, uint16_t *coef, int *lo, int *hi) {
    double scale = 1. / ((double)nd / ns);
    *lo = 0, *hi = nd;
    for (int d = 0; d < nd; d++) {
        double f = scale * (d + 0.5) - 0.5;
        double fi = floor(f);
        int i = (int)fi;
        ofs[d] = ns - 1, coef[2 * d] = RESIZE_ONE, coef[2 * d + 1] = 0;
        if (i >= 0 && ns > 1) {
            if (i < ns - 1) {
                double c1 = nearbyint((f - fi) * RESIZE_ONE); /* half to even, as cvRound */
                uint16_t w1 = (uint16_t)(c1 < 0 ? 0 : c1 > 65535 ? 65535 : c1);
                ofs[d] = i;
                coef[2 * d + 1] = w1;
                coef[2 * d] = (uint16_t)(w1 < RESIZE_ONE ? RESIZE_ONE - w1 : 0);
            } else if (d < *hi) {
                *hi = d;
            }
        } else if (d + 1 > *lo) {
            *lo = d + 1;
        }
    }
}

/* One row, horizontally: values with RESIZE_FRAC_BITS fractional bits. */
static void hresize(const uint8_t *row, int sw, const int *xofs, const uint16_t *coef, int lo,
                    int hi, int dw, uint32_t *out) {
    int d = 0;
    for (; d < lo && d < dw; d++) out[d] = (uint32_t)row[0] << RESIZE_FRAC_BITS;
    for (; d < hi; d++) {
        const uint8_t *p = row + xofs[d];
        out[d] = coef[2 * d] * p[0] + coef[2 * d + 1] * p[1];
    }
    for (; d < dw; d++) out[d] = (uint32_t)row[xofs[dw - 1] < sw ? xofs[dw - 1] : sw - 1] << RESIZE_FRAC_BITS;
}

static uint8_t round_frac(uint32_t v, int bits) {
    uint32_t r = (v + (1u << (bits - 1))) >> bits;
    return (uint8_t)(r > 255 ? 255 : r);
}

fs_err fs_face_resize_linear(const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst, int dw,
                             int dh) {
    assert(sw > 0 && sh > 0 && dw > 0 && dh > 0);
    if (sw == dw && sh == dh) {
        for (int y = 0; y < sh; y++) memcpy(dst + (size_t)y * dw, src + (size_t)y * sstride, sw);
        return FS_OK;
    }
    double sx = 1. / ((double)dw / sw), sy = 1. / ((double)dh / sh);
    if (lrint(sx) == 2 && lrint(sy) == 2 && fabs(sx - 2) < DBL_EPSILON && fabs(sy - 2) < DBL_EPSILON) {
        /* OpenCV switches to its area filter for an exact halving */
        for (int y = 0; y < dh; y++) {
            const uint8_t *a = src + (size_t)(2 * y) * sstride, *b = a + sstride;
            for (int x = 0; x < dw; x++)
                dst[(size_t)y * dw + x] =
                    (uint8_t)((a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1] + 2) >> 2);
        }
        return FS_OK;
    }
    int *xofs = malloc(sizeof(int) * (size_t)(dw + dh));
    uint16_t *coef = malloc(sizeof(uint16_t) * 2 * (size_t)(dw + dh));
    uint32_t *rows = malloc(sizeof(uint32_t) * 2 * (size_t)dw);
    if (!xofs || !coef || !rows) {
        free(xofs), free(coef), free(rows);
        return FS_ERR_NOMEM;
    }
    int *yofs = xofs + dw;
    uint16_t *ycoef = coef + 2 * dw;
    int xlo, xhi, ylo, yhi;
    linear_coeffs(sw, dw, xofs, coef, &xlo, &xhi);
    linear_coeffs(sh, dh, yofs, ycoef, &ylo, &yhi);
    uint32_t *r[2] = {rows, rows + dw};
    int have[2] = {-1, -1}; /* source row held in r[k] */
    for (int d = 0; d < dh; d++) {
        uint8_t *out = dst + (size_t)d * dw;
        int single = d < ylo ? 0 : d >= yhi ? sh - 1 : -1;
        int want[2] = {single >= 0 ? single : yofs[d], single >= 0 ? -1 : yofs[d] + 1};
        for (int k = 0; k < 2; k++) {
            if (want[k] < 0 || have[k] == want[k]) continue;
            if (have[1 - k] == want[k]) { /* the row is in the other buffer: swap */
                uint32_t *t = r[k];
                r[k] = r[1 - k], r[1 - k] = t;
                int h = have[k];
                have[k] = have[1 - k], have[1 - k] = h;
                continue;
            }
            hresize(src + (size_t)want[k] * sstride, sw, xofs, coef, xlo, xhi, dw, r[k]);
            have[k] = want[k];
        }
        if (single >= 0) {
            for (int x = 0; x < dw; x++) out[x] = round_frac(r[0][x], RESIZE_FRAC_BITS);
        } else {
            uint32_t b0 = ycoef[2 * d], b1 = ycoef[2 * d + 1];
            for (int x = 0; x < dw; x++)
                out[x] = round_frac(r[0][x] * b0 + r[1][x] * b1, 2 * RESIZE_FRAC_BITS);
        }
    }
    free(xofs), free(coef), free(rows);
    return FS_OK;
}

/* ---- integral images ---- */

void fs_face_integral(const uint8_t *img, int w, int h, int istride, uint32_t *sum, uint32_t *sqsum,
                      uint32_t *tilted, int stride) {
    assert(stride >= w + 1);
    memset(sum, 0, sizeof *sum * (size_t)(w + 1));
    memset(sqsum, 0, sizeof *sqsum * (size_t)(w + 1));
    for (int y = 0; y < h; y++) {
        const uint8_t *row = img + (size_t)y * istride;
        uint32_t *s = sum + (size_t)(y + 1) * stride, *sp = s - stride;
        uint32_t *q = sqsum + (size_t)(y + 1) * stride, *qp = q - stride;
        uint32_t rs = 0, rq = 0;
        s[0] = q[0] = 0;
        for (int x = 0; x < w; x++) {
            uint32_t v = row[x];
            rs += v;
            rq += v * v;
            s[x + 1] = sp[x + 1] + rs;
            q[x + 1] = qp[x + 1] + rq;
        }
    }
    if (!tilted) return;
    /* T(x, y) sums the upward cone of pixels with apex (x-1, y-1). The recurrence needs cones just
     * outside the columns 0..w; those equal stored cones (see the header's definition):
     * T(-1, y) = T(1, y-2) and T(w+1, y) = T(w, y-1). */
#define T(xx, yy) tilted[(size_t)(yy) * stride + (xx)]
#define PIX(xx, yy) ((xx) >= 0 && (xx) < w && (yy) >= 0 && (yy) < h ? (uint32_t)img[(size_t)(yy) * istride + (xx)] : 0u)
    for (int x = 0; x <= w; x++) T(x, 0) = 0;
    for (int y = 1; y <= h; y++) {
        for (int x = 0; x <= w; x++) {
            uint32_t left = x - 1 >= 0 ? T(x - 1, y - 1) : (y - 3 >= 0 ? T(1 < w + 1 ? 1 : 0, y - 3) : 0);
            uint32_t right = x + 1 <= w ? T(x + 1, y - 1) : (y - 2 >= 0 ? T(w, y - 2) : 0);
            uint32_t up = y - 2 >= 0 ? T(x, y - 2) : 0;
            T(x, y) = left + right - up + PIX(x - 1, y - 1) + PIX(x - 1, y - 2);
        }
    }
#undef T
#undef PIX
}

/* ---- evaluation ---- */

typedef struct haar_opt {
    int ofs[FS_HAAR_RECTS][4];
    float w[FS_HAAR_RECTS];
    int tilted;
} haar_opt;

typedef struct lbp_opt {
    int ofs[16]; /* the 4x4 grid of corners of the 3x3 blocks, row by row */
} lbp_opt;

/* A depth-1 Haar tree with its feature and both leaf values resolved: the common case
 * (frontalface_default), evaluated without the general tree walk. */
typedef struct stump {
    const haar_opt *f;
    float threshold, left, right;
} stump;

typedef struct scan {
    const fs_cascade *c;
    stump *stumps; /* non-NULL when every tree of a Haar cascade is a single split */
    int stride;
    const uint32_t *sum, *sqsum, *tilted;
    haar_opt *haar;
    lbp_opt *lbp;
    int nofs[4];
    double norm_area;
} scan;

static inline int32_t rect_sum(const uint32_t *p, const int *o) {
    return (int32_t)(p[o[0]] - p[o[1]] - p[o[2]] + p[o[3]]);
}

static inline float haar_value(const haar_opt *f, const uint32_t *ps, const uint32_t *pt) {
    const uint32_t *p = f->tilted ? pt : ps;
    float v = f->w[0] * (float)rect_sum(p, f->ofs[0]) + f->w[1] * (float)rect_sum(p, f->ofs[1]);
    if (f->w[2] != 0.0f) v += f->w[2] * (float)rect_sum(p, f->ofs[2]);
    return v;
}

static inline int lbp_code(const lbp_opt *f, const uint32_t *p) {
    const int *o = f->ofs;
#define B(a, b, c, d) ((int32_t)(p[o[a]] - p[o[b]] - p[o[c]] + p[o[d]]))
    int32_t cv = B(5, 6, 9, 10);
    return (B(0, 1, 4, 5) >= cv ? 128 : 0) | (B(1, 2, 5, 6) >= cv ? 64 : 0) |
           (B(2, 3, 6, 7) >= cv ? 32 : 0) | (B(6, 7, 10, 11) >= cv ? 16 : 0) |
           (B(10, 11, 14, 15) >= cv ? 8 : 0) | (B(9, 10, 13, 14) >= cv ? 4 : 0) |
           (B(8, 9, 12, 13) >= cv ? 2 : 0) | (B(4, 5, 8, 9) >= cv ? 1 : 0);
#undef B
}

/* OpenCV's runAt: 1 when every stage passes, -1 for a window of too little variance, else minus
 * the index of the rejecting stage (so 0 = rejected by the first stage). */
static int run_window(const scan *S, int x, int y) {
    const fs_cascade *c = S->c;
    size_t at = (size_t)y * S->stride + x;
    const uint32_t *ps = S->sum + at, *pt = S->tilted ? S->tilted + at : NULL;
    float vnf = 1.f;
    if (c->type == FS_CASCADE_HAAR) {
        const uint32_t *pq = S->sqsum + at;
        int32_t vs = rect_sum(ps, S->nofs);
        uint32_t vq = pq[S->nofs[0]] - pq[S->nofs[1]] - pq[S->nofs[2]] + pq[S->nofs[3]];
        double nf = S->norm_area * vq - (double)vs * vs;
        if (!(nf > 0.)) return -1;
        vnf = (float)(1. / sqrt(nf));
        if (!(S->norm_area * vnf < FS_FACE_VARIANCE_MIN_RATIO)) return -1;
    }
    if (S->stumps) {
        const stump *sp = S->stumps;
        for (int si = 0; si < c->stage_count; si++) {
            const fs_cascade_stage *st = &c->stages[si];
            double sum = 0;
            for (const stump *end = sp + st->tree_count; sp < end; sp++) {
                float v = haar_value(sp->f, ps, pt) * vnf;
                sum += v < sp->threshold ? sp->left : sp->right;
            }
            if (sum < st->threshold) return -si;
        }
        return 1;
    }
    for (int si = 0; si < c->stage_count; si++) {
        const fs_cascade_stage *st = &c->stages[si];
        double sum = 0;
        for (int ti = st->first_tree; ti < st->first_tree + st->tree_count; ti++) {
            const fs_cascade_tree *t = &c->trees[ti];
            int idx = 0;
            do {
                const fs_cascade_node *nd = &c->nodes[t->first_node + idx];
                if (c->type == FS_CASCADE_HAAR) {
                    float v = haar_value(&S->haar[nd->feature], ps, pt) * vnf;
                    idx = v < nd->threshold ? nd->left : nd->right;
                } else {
                    int code = lbp_code(&S->lbp[nd->feature], ps);
                    const int32_t *sub =
                        c->subsets + (size_t)(t->first_node + idx) * c->subset_words;
                    idx = ((uint32_t)sub[code >> 5] >> (code & 31)) & 1u ? nd->left : nd->right;
                }
            } while (idx > 0);
            sum += c->leaves[t->first_leaf - idx];
        }
        if (sum < st->threshold) return -si;
    }
    return 1;
}

static void corner_ofs(int *o, int x, int y, int w, int h, int stride) {
    o[0] = x + stride * y;
    o[1] = x + w + stride * y;
    o[2] = x + stride * (y + h);
    o[3] = x + w + stride * (y + h);
}

static void tilted_ofs(int *o, int x, int y, int w, int h, int stride) {
    o[0] = x + stride * y;
    o[1] = x - h + stride * (y + h);
    o[2] = x + w + stride * (y + w);
    o[3] = x + w - h + stride * (y + w + h);
}

static fs_err prepare_features(scan *S) {
    const fs_cascade *c = S->c;
    if (c->type == FS_CASCADE_HAAR) {
        S->haar = calloc((size_t)c->feature_count, sizeof *S->haar);
        if (!S->haar) return FS_ERR_NOMEM;
        for (int i = 0; i < c->feature_count; i++) {
            const fs_haar_feature *f = &c->haar[i];
            haar_opt *o = &S->haar[i];
            o->tilted = f->tilted;
            for (int r = 0; r < FS_HAAR_RECTS; r++) {
                const fs_haar_rect *hr = &f->r[r];
                o->w[r] = hr->weight;
                (f->tilted ? tilted_ofs : corner_ofs)(o->ofs[r], hr->x, hr->y, hr->w, hr->h,
                                                      S->stride);
            }
        }
        corner_ofs(S->nofs, 1, 1, c->win_w - 2, c->win_h - 2, S->stride);
        int all_stumps = 1;
        for (int i = 0; i < c->tree_count && all_stumps; i++) all_stumps = c->trees[i].node_count == 1;
        if (all_stumps) {
            S->stumps = malloc(sizeof *S->stumps * (size_t)c->tree_count);
            if (!S->stumps) return FS_ERR_NOMEM;
            for (int i = 0; i < c->tree_count; i++) {
                const fs_cascade_tree *t = &c->trees[i];
                const fs_cascade_node *nd = &c->nodes[t->first_node];
                /* a stump's children are both leaves (<= 0), checked by the loader */
                assert(nd->left <= 0 && nd->right <= 0);
                S->stumps[i] = (stump){&S->haar[nd->feature], nd->threshold,
                                       c->leaves[t->first_leaf - nd->left],
                                       c->leaves[t->first_leaf - nd->right]};
            }
        }
        S->norm_area = (double)(c->win_w - 2) * (c->win_h - 2);
    } else {
        S->lbp = calloc((size_t)c->feature_count, sizeof *S->lbp);
        if (!S->lbp) return FS_ERR_NOMEM;
        for (int i = 0; i < c->feature_count; i++) {
            const fs_lbp_feature *f = &c->lbp[i];
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 4; k++)
                    S->lbp[i].ofs[j * 4 + k] = f->x + k * f->w + S->stride * (f->y + j * f->h);
        }
    }
    return FS_OK;
}

/* The pyramid factors OpenCV would use (as floats, as it stores them), written into scales
 * (room for FS_FACE_MAX_SCALES); returns their count. */
static int pyramid_scales(const fs_cascade *c, int w, int h, double factor_step, int min_size,
                          int max_size, float *scales) {
    int n_all = 0;
    for (double f = 1; n_all < FS_FACE_MAX_SCALES; f *= factor_step) {
        if (lrint(c->win_w * f) > w || lrint(c->win_h * f) > h) break;
        scales[n_all++] = (float)f;
    }
    /* OpenCV's fallback when no level fits [min_size, max_size] (minSize == maxSize between two
     * levels): the level nearest to min_size */
    float closest = n_all ? scales[0] : 0.f;
    double best = -1;
    for (int i = 0; i < n_all; i++) {
        long ww = lrintf((float)c->win_w * scales[i]), wh = lrintf((float)c->win_h * scales[i]);
        double d = (double)(min_size - ww) * (min_size - ww) + (double)(min_size - wh) * (min_size - wh);
        if (best < 0 || d < best) best = d, closest = scales[i];
    }
    int max_w = max_size > 0 ? max_size : w, max_h = max_size > 0 ? max_size : h;
    int n = 0;
    for (int i = 0; i < n_all; i++) {
        float f = scales[i];
        long ww = lrintf((float)c->win_w * f), wh = lrintf((float)c->win_h * f);
        if (ww > max_w || wh > max_h) break;
        if (ww < min_size || wh < min_size) continue;
        scales[n++] = f; /* n <= i: never overwrites an unread level */
    }
    if (n == 0 && n_all > 0) scales[n++] = closest;
    return n;
}

typedef struct boxvec {
    fs_box *v;
    size_t n, cap;
} boxvec;

static int push_box(boxvec *b, fs_box r) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        if (cap > CANDIDATES_MAX) return -1;
        fs_box *nv = realloc(b->v, cap * sizeof *nv);
        if (!nv) return -1;
        b->v = nv, b->cap = cap;
    }
    b->v[b->n++] = r;
    return 0;
}

/* The flattened stumps of the vectorised evaluator, or NULL when the cascade is not made of
 * untilted stumps (then the scalar loop runs). */
static fs_face_stump *flat_stumps(const scan *S) {
    const fs_cascade *c = S->c;
    if (!S->stumps || c->has_tilted) return NULL;
    fs_face_stump *f = malloc(sizeof *f * (size_t)c->tree_count);
    if (!f) return NULL;
    for (int i = 0; i < c->tree_count; i++) {
        const stump *s = &S->stumps[i];
        memcpy(f[i].ofs, s->f->ofs, sizeof f[i].ofs);
        memcpy(f[i].w, s->f->w, sizeof f[i].w);
        f[i].threshold = s->threshold, f[i].left = s->left, f[i].right = s->right;
    }
    return f;
}

fs_err fs_face_candidates(const fs_cascade *c, const uint8_t *gray, int w, int h, int stride,
                          double scale_factor, int min_size, int max_size, fs_box **out,
                          size_t *n, fs_msg *msg) {
    *out = NULL;
    *n = 0;
    if (w < c->win_w || h < c->win_h) return FS_OK;
    float *scales = malloc(sizeof(float) * FS_FACE_MAX_SCALES);
    if (!scales) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for the image pyramid");
    int nscales = pyramid_scales(c, w, h, scale_factor, min_size, max_size, scales);
    scan S = {.c = c, .stride = w + 1};
    size_t plane = (size_t)(w + 1) * (h + 1) + FS_FACE_INTEGRAL_PAD;
    uint8_t *level = malloc((size_t)w * h);
    /* zeroed: the padding is read (and ignored) by the vectorised evaluator */
    uint32_t *sum = calloc(plane, sizeof(uint32_t));
    uint32_t *sqsum = calloc(plane, sizeof(uint32_t));
    uint32_t *tilted = c->has_tilted ? malloc(sizeof(uint32_t) * plane) : NULL;
    fs_face_stump *flat = NULL;
    int *scratch = NULL, *accepted = NULL;
    float *fscratch = NULL;
    boxvec found = {0};
    fs_err err = FS_OK;
    if (!level || !sum || !sqsum || (c->has_tilted && !tilted) || prepare_features(&S)) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
        goto done;
    }
    S.sum = sum, S.sqsum = sqsum, S.tilted = tilted;
    fs_face_plan plan = {0};
    if (fs_cpu_has_avx2_fma() && (flat = flat_stumps(&S)) != NULL) {
        scratch = malloc(sizeof(int) * (2 * (size_t)w + 16));
        fscratch = malloc(sizeof(float) * ((size_t)w + 16));
        accepted = malloc(sizeof(int) * (size_t)w);
        if (!scratch || !fscratch || !accepted) {
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
            goto done;
        }
        plan = (fs_face_plan){flat, c->stages, c->stage_count, {0}, S.norm_area};
        memcpy(plan.nofs, S.nofs, sizeof plan.nofs);
    }
    for (int i = 0; i < nscales; i++) {
        float sc = scales[i];
        int lw = (int)lrintf((float)w / sc), lh = (int)lrintf((float)h / sc);
        int ystep = sc >= 2 ? 1 : 2;
        /* windows whose corner lies in [0, level + 1 - window) */
        int nx = lw + 1 - c->win_w, ny = lh + 1 - c->win_h;
        if (nx <= 0 || ny <= 0) continue;
        if (fs_face_resize_linear(gray, w, h, stride, level, lw, lh)) {
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory resizing to %dx%d", lw, lh);
            goto done;
        }
        fs_face_integral(level, lw, lh, lw, sum, sqsum, tilted, S.stride);
        int bw = (int)lrintf((float)c->win_w * sc), bh = (int)lrintf((float)c->win_h * sc);
        for (int y = 0; y < ny; y += ystep) {
            if (flat) {
                size_t at = (size_t)y * S.stride;
                int m = (nx + ystep - 1) / ystep;
                int k = fs_face_row_avx2(&plan, sum + at, sqsum + at, m, ystep, scratch,
                                         fscratch, accepted);
                for (int j = 0; j < k; j++) {
                    fs_box b = {(int)lrintf((float)accepted[j] * sc), (int)lrintf((float)y * sc),
                                bw, bh};
                    if (push_box(&found, b)) {
                        err = fs_fail(msg, FS_ERR_NOMEM, "too many candidate windows");
                        goto done;
                    }
                }
                continue;
            }
            for (int x = 0; x < nx; x += ystep) {
                int r = run_window(&S, x, y);
                if (r > 0) {
                    fs_box b = {(int)lrintf((float)x * sc), (int)lrintf((float)y * sc), bw, bh};
                    if (push_box(&found, b)) {
                        err = fs_fail(msg, FS_ERR_NOMEM, "too many candidate windows");
                        goto done;
                    }
                }
                if (r == 0) x += ystep;
            }
        }
    }
done:
    free(scales), free(level), free(sum), free(sqsum), free(tilted), free(S.haar), free(S.lbp), free(S.stumps);
    free(flat), free(scratch), free(fscratch), free(accepted);
    if (err) {
        free(found.v);
        return err;
    }
    *out = found.v;
    *n = found.n;
    return FS_OK;
}

/* ---- grouping (OpenCV's groupRectangles) ---- */

static int similar(fs_box a, fs_box b, double eps) {
    double delta = eps * ((a.w < b.w ? a.w : b.w) + (a.h < b.h ? a.h : b.h)) * 0.5;
    return abs(a.x - b.x) <= delta && abs(a.y - b.y) <= delta &&
           abs(a.x + a.w - b.x - b.w) <= delta && abs(a.y + a.h - b.y - b.h) <= delta;
}

static int by_left_edge(const void *pa, const void *pb, void *ctx) {
    const fs_box *rects = ctx;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int xa = rects[a].x, xb = rects[b].x;
    if (xa != xb) return xa < xb ? -1 : 1;
    return (a > b) - (a < b);
}

static size_t find_root(size_t *parent, size_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

long fs_face_group(const fs_box *rects, size_t n, int group_threshold, double eps, fs_face *out) {
    if (group_threshold <= 0 || n == 0) {
        for (size_t i = 0; i < n; i++) out[i] = (fs_face){.box = rects[i], .neighbors = 1};
        return (long)n;
    }
    size_t *parent = malloc(n * sizeof *parent);
    size_t *label = malloc(n * sizeof *label);
    long long(*acc)[5] = calloc(n, sizeof *acc); /* x, y, w, h, count per class */
    if (!parent || !label || !acc) {
        free(parent), free(label), free(acc);
        return -1;
    }
    /* Connected components of the similarity graph. Similar rectangles have left edges within
     * eps * (w + h) / 2 of each other (bounded by either one's own size), so a sweep over the
     * rectangles sorted by x compares only near neighbours instead of all n^2 pairs; the
     * components, and so the result, are the same. label[] holds the sorted order here. */
    for (size_t i = 0; i < n; i++) parent[i] = i, label[i] = i;
    qsort_r(label, n, sizeof *label, by_left_edge, (void *)rects);
    for (size_t a = 0; a < n; a++) {
        const fs_box ra = rects[label[a]];
        double reach = eps * ((double)ra.w + ra.h) * 0.5;
        for (size_t b = a + 1; b < n && rects[label[b]].x - ra.x <= reach; b++)
            if (similar(ra, rects[label[b]], eps)) {
                size_t r1 = find_root(parent, label[a]), r2 = find_root(parent, label[b]);
                if (r1 != r2) parent[r1 < r2 ? r2 : r1] = r1 < r2 ? r1 : r2;
            }
    }
    /* classes numbered by first member, as OpenCV's partition does */
    size_t nclasses = 0;
    for (size_t i = 0; i < n; i++) label[i] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t r = find_root(parent, i);
        if (label[r] == SIZE_MAX) label[r] = nclasses++;
        size_t k = label[r];
        acc[k][0] += rects[i].x, acc[k][1] += rects[i].y;
        acc[k][2] += rects[i].w, acc[k][3] += rects[i].h;
        acc[k][4]++;
    }
    free(parent);
    fs_face *avg = malloc(nclasses * sizeof *avg);
    if (!avg) {
        free(label), free(acc);
        return -1;
    }
    for (size_t k = 0; k < nclasses; k++) {
        float s = 1.f / (float)acc[k][4];
        avg[k].box = (fs_box){(int)lrintf((float)acc[k][0] * s), (int)lrintf((float)acc[k][1] * s),
                              (int)lrintf((float)acc[k][2] * s), (int)lrintf((float)acc[k][3] * s)};
        avg[k].neighbors = (int)acc[k][4];
        avg[k].score = 0, avg[k].nkp = 0;
    }
    long kept = 0;
    for (size_t i = 0; i < nclasses; i++) {
        fs_box r1 = avg[i].box;
        int n1 = avg[i].neighbors;
        if (n1 <= group_threshold) continue;
        size_t j;
        /* drop a group that lies inside a stronger one */
        for (j = 0; j < nclasses; j++) {
            int n2 = avg[j].neighbors;
            if (j == i || n2 <= group_threshold) continue;
            fs_box r2 = avg[j].box;
            int dx = (int)lrint(r2.w * eps), dy = (int)lrint(r2.h * eps);
            if (r1.x >= r2.x - dx && r1.y >= r2.y - dy && r1.x + r1.w <= r2.x + r2.w + dx &&
                r1.y + r1.h <= r2.y + r2.h + dy && (n2 > (n1 > 3 ? n1 : 3) || n1 < 3))
                break;
        }
        if (j == nclasses) out[kept++] = avg[i];
    }
    free(avg), free(label), free(acc);
    return kept;
}

/* ---- public entry points ---- */

fs_face_params fs_face_params_default(void) {
    return (fs_face_params){.scale_factor = FS_FACE_SCALE_DEFAULT,
                            .min_neighbors = FS_FACE_NEIGHBORS_DEFAULT,
                            .min_size = 0,
                            .min_share = 0.0,
                            .max_size = 0,
                            .max_side = FS_FACE_MAX_SIDE_DEFAULT};
}

static int face_order(const void *pa, const void *pb) {
    const fs_face *a = pa, *b = pb;
    if (a->neighbors != b->neighbors) return a->neighbors > b->neighbors ? -1 : 1;
    if (a->box.y != b->box.y) return a->box.y < b->box.y ? -1 : 1;
    return (a->box.x > b->box.x) - (a->box.x < b->box.x);
}

/* Shrinks a grey image by an integer factor k with a k x k box average (rounded). */
static void box_shrink(const uint8_t *src, int w, int h, int stride, int k, uint8_t *dst, int dw,
                       int dh) {
    unsigned area = (unsigned)(k * k);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            unsigned s = 0;
            for (int j = 0; j < k; j++) {
                const uint8_t *r = src + (size_t)(y * k + j) * stride + (size_t)x * k;
                for (int i = 0; i < k; i++) s += r[i];
            }
            dst[(size_t)y * dw + x] = (uint8_t)((s + area / 2) / area);
        }
    (void)w, (void)h;
}

fs_err fs_face_detect_gray(const fs_cascade *c, const uint8_t *gray, int w, int h, int stride,
                           const fs_face_params *p, fs_face **faces, size_t *n, fs_msg *msg) {
    *faces = NULL;
    *n = 0;
    fs_face_params def = fs_face_params_default();
    if (!p) p = &def;
    if (!c || !gray || w <= 0 || h <= 0 || stride < w)
        return fs_fail(msg, FS_ERR_INVALID, "face detection needs a cascade and a non-empty image");
    if (!(p->scale_factor >= FS_FACE_SCALE_MIN && p->scale_factor <= FS_FACE_SCALE_MAX))
        return fs_fail(msg, FS_ERR_INVALID, "scale factor %g is outside [%g, %g]", p->scale_factor,
                       FS_FACE_SCALE_MIN, FS_FACE_SCALE_MAX);
    if (p->min_neighbors < 0 || p->min_size < 0 || p->max_size < 0 || p->max_side < 0 ||
        (p->max_size > 0 && p->max_size < p->min_size))
        return fs_fail(msg, FS_ERR_INVALID, "face parameters must be >= 0 and max size >= min size");
    if (!(p->min_share >= 0.0 && p->min_share < 1.0))
        return fs_fail(msg, FS_ERR_INVALID, "minimum face share %g is outside [0, 1)", p->min_share);
    int min_input = (int)ceil(p->min_share * (w < h ? w : h));
    if (min_input < p->min_size) min_input = p->min_size;
    if (p->max_size > 0 && min_input > p->max_size)
        return FS_OK; /* no face can be both: nothing to find */

    /* optional shrink of big frames: box average to within 2x, then OpenCV's linear resize */
    double s = 1.0;
    uint8_t *small = NULL, *tmp = NULL;
    const uint8_t *img = gray;
    int iw = w, ih = h, istride = stride;
    int longest = w > h ? w : h;
    if (p->max_side > 0 && longest > p->max_side) {
        s = (double)p->max_side / longest;
        int nw = (int)lrint(w * s), nh = (int)lrint(h * s);
        if (nw < 1) nw = 1;
        if (nh < 1) nh = 1;
        int k = (int)(1.0 / s / 1.5); /* leave the last <= 3x to the bilinear step */
        /* a sliver (2x4096) cannot be box-averaged below one pixel across */
        if (k > w) k = w;
        if (k > h) k = h;
        if (k < 1) k = 1;
        const uint8_t *src = gray;
        int sw = w, sh = h, ss = stride;
        if (k > 1) {
            sw = w / k, sh = h / k, ss = sw;
            tmp = malloc((size_t)sw * sh);
            if (!tmp) return fs_fail(msg, FS_ERR_NOMEM, "out of memory shrinking a frame");
            box_shrink(gray, w, h, stride, k, tmp, sw, sh);
            src = tmp;
        }
        small = malloc((size_t)nw * nh);
        if (!small || fs_face_resize_linear(src, sw, sh, ss, small, nw, nh)) {
            free(tmp), free(small);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory shrinking a frame");
        }
        free(tmp);
        img = small, iw = nw, ih = nh, istride = nw;
    }
    int min_size = (int)lrint(min_input * s), max_size = (int)lrint(p->max_size * s);
    if (p->max_size > 0 && max_size < 1) max_size = 1;

    fs_box *cand = NULL;
    size_t nc = 0;
    fs_err err = fs_face_candidates(c, img, iw, ih, istride, p->scale_factor, min_size, max_size,
                                    &cand, &nc, msg);
    free(small);
    if (err) return err;
    if (nc == 0) {
        free(cand);
        return FS_OK;
    }
    fs_face *out = malloc(nc * sizeof *out);
    long k = out ? fs_face_group(cand, nc, p->min_neighbors, FS_FACE_GROUP_EPS, out) : -1;
    free(cand);
    if (k < 0) {
        free(out);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory grouping %zu windows", nc);
    }
    long kept = 0;
    for (long i = 0; i < k; i++) {
        fs_box b = out[i].box;
        if (s != 1.0)
            b = (fs_box){(int)lrint(b.x / s), (int)lrint(b.y / s), (int)lrint(b.w / s),
                         (int)lrint(b.h / s)};
        /* OpenCV's CascadeClassifier clips the grouped boxes to the image and drops empty ones */
        int x0 = b.x > 0 ? b.x : 0, y0 = b.y > 0 ? b.y : 0;
        int x1 = b.x + b.w < w ? b.x + b.w : w, y1 = b.y + b.h < h ? b.y + b.h : h;
        if (x1 <= x0 || y1 <= y0) continue;
        out[kept].box = (fs_box){x0, y0, x1 - x0, y1 - y0};
        out[kept++].neighbors = out[i].neighbors;
    }
    k = kept;
    qsort(out, (size_t)k, sizeof *out, face_order);
    if (k == 0) {
        free(out);
        out = NULL;
    }
    *faces = out;
    *n = (size_t)k;
    return FS_OK;
}

fs_err fs_face_detect(const fs_cascade *c, const fs_image *img, const fs_face_params *p,
                      fs_face **faces, size_t *n, fs_msg *msg) {
    *faces = NULL;
    *n = 0;
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "face detection needs a non-empty image");
    uint8_t *gray = malloc((size_t)img->w * img->h);
    if (!gray) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %dx%d frame", img->w, img->h);
    fs_face_gray(img, gray);
    fs_err err = fs_face_detect_gray(c, gray, img->w, img->h, img->w, p, faces, n, msg);
    free(gray);
    return err;
}
