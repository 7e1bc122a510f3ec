/* resize.c: image scaling for the face crops fed to the networks, run on every face of every
 * frame, so it is separable, table-driven and allocation-free per pixel.
 *
 * Each axis gets its own kernel, chosen by its scale factor s = src / dst:
 *  - s < 2 (enlarging, or shrinking by less than half): bilinear with pixel centres aligned,
 *    source x = (dst x + 0.5) * s - 0.5, clamped at the edges (OpenCV INTER_LINEAR, PIL
 *    BILINEAR without its antialias widening);
 *  - s >= 2: area averaging, each output pixel the mean of the source span it covers with
 *    fractional pixels weighted by coverage (OpenCV INTER_AREA), so large frames shrunk to small
 *    face inputs do not alias. At s == 2 both kernels give the same weights.
 * The weights of one output pixel are computed once per call, as 14-bit fixed point summing to
 * exactly 1.0, so a constant image stays constant and the same size is an exact copy. The
 * horizontal pass keeps 8 fractional bits in a 16-bit intermediate; the vertical pass rounds
 * to the nearest byte. All weights are non-negative, so nothing needs clamping. */
#include "media/image_internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W_BITS 14 /* weight fixed point: 1.0 == 1 << W_BITS */
#define W_ONE (1 << W_BITS)
#define MID_BITS 8 /* fractional bits kept between the passes */
#define H_SHIFT (W_BITS - MID_BITS)
#define V_SHIFT (W_BITS + MID_BITS)
#define AREA_MIN_SCALE 2.0
/* Past this, a horizontal-first intermediate (source rows x target width) is avoided. */
#define MID_MAX_BYTES ((size_t)64 << 20)

/* Weights of one axis: output i reads taps source pixels from start[i], weights in
 * weight[i * taps ...]. Padding taps have weight 0. */
typedef struct axis {
    int taps;
    int *start;
    int32_t *weight;
} axis;

static int axis_taps(int src, int dst) {
    double s = (double)src / dst;
    int taps = src == dst ? 1 : s >= AREA_MIN_SCALE ? (int)ceil(s) + 1 : 2;
    return taps < src ? taps : src;
}

/* Precondition: a->start and a->weight have room for dst and dst * a->taps entries, wf
 * (scratch) for a->taps. */
static void axis_fill(axis *a, int src, int dst, double *wf) {
    const int taps = a->taps;
    const double s = (double)src / dst;
    for (int i = 0; i < dst; i++) {
        int first; /* source index of wf[0] */
        memset(wf, 0, sizeof *wf * (size_t)taps);
        if (src == dst) {
            first = i;
            wf[0] = 1.0;
        } else if (s >= AREA_MIN_SCALE) {
            double x0 = i * s, x1 = (i + 1) * s;
            first = (int)floor(x0);
            int last = (int)ceil(x1);
            if (last > src) last = src;
            if (last - first > taps) last = first + taps; /* only a rounding sliver is lost */
            for (int j = first; j < last; j++) {
                double lo = j > x0 ? j : x0, hi = j + 1 < x1 ? j + 1 : x1;
                wf[j - first] = hi > lo ? (hi - lo) / s : 0.0;
            }
        } else {
            double x = (i + 0.5) * s - 0.5;
            first = (int)floor(x);
            double f = x - first;
            if (first < 0) first = 0, f = 0.0;
            if (first >= src - 1) first = src - 1, f = 0.0;
            wf[0] = 1.0 - f;
            if (taps > 1) wf[1] = f;
        }
        /* Slide the window left where it would run past the last source pixel. */
        int start = first;
        if (start > src - taps) start = src - taps;
        int shift = first - start;
        int32_t *w = a->weight + (size_t)i * taps;
        int32_t sum = 0;
        int big = 0;
        for (int t = 0; t < taps; t++) {
            double v = t - shift >= 0 ? wf[t - shift] : 0.0;
            w[t] = (int32_t)lround(v * W_ONE);
            sum += w[t];
            if (w[t] > w[big]) big = t;
        }
        w[big] += W_ONE - sum; /* exact unit sum: flat stays flat */
        if (w[big] < 0) {
            /* Shrinking by more than about sqrt(2 * W_ONE) = 181x (a panorama made into a
             * model input): the rounding errors of many small weights add up past the largest
             * weight. Round the running sum instead, so every weight stays non-negative and
             * they still sum to exactly W_ONE. */
            double total = 0.0, cum = 0.0;
            for (int t = shift; t < taps; t++) total += wf[t - shift];
            assert(total > 0.0);
            int32_t prev = 0;
            for (int t = 0; t < taps; t++) {
                cum += t - shift >= 0 ? wf[t - shift] : 0.0;
                int32_t next = t == taps - 1 ? W_ONE : (int32_t)lround(cum / total * W_ONE);
                w[t] = next - prev;
                prev = next;
            }
        }
        assert(w[big] >= 0);
        a->start[i] = start;
    }
}

/* One source row (sw pixels) into dw intermediate pixels with MID_BITS fraction bits. */
static void pass_h(const uint8_t *src, uint16_t *dst, int dw, const axis *a) {
    const int taps = a->taps;
    const int round = 1 << (H_SHIFT - 1);
    if (taps == 2) {
        for (int i = 0; i < dw; i++) {
            const uint8_t *p = src + (size_t)a->start[i] * 3;
            int32_t w0 = a->weight[2 * i], w1 = a->weight[2 * i + 1];
            dst[3 * i + 0] = (uint16_t)((p[0] * w0 + p[3] * w1 + round) >> H_SHIFT);
            dst[3 * i + 1] = (uint16_t)((p[1] * w0 + p[4] * w1 + round) >> H_SHIFT);
            dst[3 * i + 2] = (uint16_t)((p[2] * w0 + p[5] * w1 + round) >> H_SHIFT);
        }
        return;
    }
    for (int i = 0; i < dw; i++) {
        const uint8_t *p = src + (size_t)a->start[i] * 3;
        const int32_t *w = a->weight + (size_t)i * taps;
        int32_t r = round, g = round, b = round;
        for (int t = 0; t < taps; t++, p += 3) {
            r += p[0] * w[t];
            g += p[1] * w[t];
            b += p[2] * w[t];
        }
        dst[3 * i + 0] = (uint16_t)(r >> H_SHIFT);
        dst[3 * i + 1] = (uint16_t)(g >> H_SHIFT);
        dst[3 * i + 2] = (uint16_t)(b >> H_SHIFT);
    }
}

/* taps intermediate rows (row values apart) into one output row. The two-tap case (all of
 * bilinear) is written out so the compiler vectorises it; restrict tells it the rows and the
 * bytes written cannot overlap. */
static void pass_v(const uint16_t *restrict m, size_t row, const int32_t *w, int taps,
                   int32_t *restrict acc, uint8_t *restrict d) {
    const int32_t round = 1 << (V_SHIFT - 1);
    if (taps == 2) {
        const uint16_t *restrict m1 = m + row;
        const int32_t w0 = w[0], w1 = w[1];
        for (size_t k = 0; k < row; k++)
            d[k] = (uint8_t)((m[k] * w0 + m1[k] * w1 + round) >> V_SHIFT);
        return;
    }
    for (size_t k = 0; k < row; k++) acc[k] = round;
    for (int t = 0; t < taps; t++, m += row) {
        const int32_t wt = w[t];
        if (wt == 0) continue;
        for (size_t k = 0; k < row; k++) acc[k] += m[k] * wt;
    }
    for (size_t k = 0; k < row; k++) d[k] = (uint8_t)(acc[k] >> V_SHIFT);
}

static fs_err transpose(const fs_image *src, fs_image *dst, fs_msg *msg) {
    fs_err err = fs_image_alloc(dst, src->h, src->w, msg);
    if (err) return err;
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++)
            memcpy(dst->rgb + ((size_t)x * src->h + y) * 3, src->rgb + ((size_t)y * src->w + x) * 3, 3);
    return FS_OK;
}

fs_err fs_image_resize(const fs_image *src, int w, int h, fs_image *dst, fs_msg *msg) {
    assert(src && dst);
    if (src == dst) /* zeroing dst would lose src's pixels */
        return fs_fail(msg, FS_ERR_INVALID, "resize needs a destination other than its source");
    memset(dst, 0, sizeof *dst);
    if (!src->rgb || src->w <= 0 || src->h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "cannot resize an empty image");
    if (w <= 0 || h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "bad target size %d x %d", w, h);
    size_t mid_hv = (size_t)src->h * (size_t)w, mid_vh = (size_t)h * (size_t)src->w;
    if (mid_hv * 3 * sizeof(uint16_t) > MID_MAX_BYTES && mid_vh < mid_hv) {
        /* A very tall source made wide (a few bytes of PNG can declare 8 x 6,000,000): the
         * intermediate would be gigabytes and its pass seconds long. The transposed image's
         * intermediate is target rows x source width instead. */
        fs_image t = {0}, rt = {0};
        fs_err err = transpose(src, &t, msg);
        if (!err) err = fs_image_resize(&t, h, w, &rt, msg);
        fs_image_free(&t);
        if (!err) err = transpose(&rt, dst, msg);
        fs_image_free(&rt);
        return err;
    }
    fs_err err = fs_image_alloc(dst, w, h, msg);
    if (err) return err;
    if (w == src->w && h == src->h) {
        memcpy(dst->rgb, src->rgb, (size_t)w * (size_t)h * 3);
        return FS_OK;
    }

    axis ax = {axis_taps(src->w, w), NULL, NULL}, ay = {axis_taps(src->h, h), NULL, NULL};
    /* One block for the tables, the intermediate image and the row accumulator. */
    size_t row = (size_t)w * 3;
    size_t n_wx = (size_t)w * ax.taps, n_wy = (size_t)h * ay.taps;
    size_t n_wf = (size_t)(ax.taps > ay.taps ? ax.taps : ay.taps);
    size_t bytes = n_wf * sizeof(double) + (n_wx + n_wy + row) * sizeof(int32_t) +
                   ((size_t)w + h) * sizeof(int) + (size_t)src->h * row * sizeof(uint16_t);
    void *block = malloc(bytes);
    if (!block) {
        fs_image_free(dst);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory resizing %d x %d to %d x %d", src->w,
                       src->h, w, h);
    }
    double *wf = block; /* first, for its alignment */
    ax.weight = (int32_t *)(wf + n_wf);
    ay.weight = ax.weight + n_wx;
    int32_t *acc = ay.weight + n_wy;
    ax.start = (int *)(acc + row);
    ay.start = ax.start + w;
    uint16_t *mid = (uint16_t *)(ay.start + h);
    axis_fill(&ax, src->w, w, wf);
    axis_fill(&ay, src->h, h, wf);

    /* Only the source rows some output row reads. */
    int y_lo = ay.start[0], y_hi = ay.start[h - 1] + ay.taps;
    for (int y = y_lo; y < y_hi; y++)
        pass_h(src->rgb + (size_t)y * src->w * 3, mid + (size_t)y * row, w, &ax);

    for (int y = 0; y < h; y++)
        pass_v(mid + (size_t)ay.start[y] * row, row, ay.weight + (size_t)y * ay.taps, ay.taps,
               acc, dst->rgb + (size_t)y * row);
    free(block);
    return FS_OK;
}
