/* fconv.c: the fused convolution every forward pass runs: stride-1 'same' convolution, bias,
 * ReLU, inference batch norm and 'same' max pooling, computed one pooling band of rows at a
 * time so each activation is written to memory once, already pooled.
 *
 * Batch norm sits after the ReLU in MesoNet, so it cannot be folded into the weights; it
 * costs one multiply-add per convolution output here. Inputs come as views with a zero halo
 * wide enough for the padding, so the inner loops never test borders. This file holds the
 * driver, weight packing and the portable kernels, which define the answer the AVX2 kernels
 * (fconv_avx2.c) must reproduce. */
#include "nn/fconv_impl.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FCONV_MAX_K 15
#define FCONV_MAX_DIL 8
#define FCONV_MAX_POOL 8
#define FCONV_MAX_CH 1024

static int round8(int n) { return (n + 7) / 8 * 8; }

fs_err fs_fconv_init(fs_fconv *op, const fs_fconv_desc *d, fs_msg *msg) {
    memset(op, 0, sizeof *op);
    if (d->k < 1 || d->k > FCONV_MAX_K || d->dil < 1 || d->dil > FCONV_MAX_DIL)
        return fs_fail(msg, FS_ERR_INVALID, "fused conv: kernel %d / dilation %d out of range",
                       d->k, d->dil);
    if (d->cin < 1 || d->cin > FCONV_MAX_CH || d->cout < 1 || d->cout > FCONV_MAX_CH)
        return fs_fail(msg, FS_ERR_INVALID, "fused conv: %d -> %d channels out of range",
                       d->cin, d->cout);
    if (d->pool < 1 || d->pool > FCONV_MAX_POOL)
        return fs_fail(msg, FS_ERR_INVALID, "fused conv: pool %d out of range", d->pool);
    if (!d->weight) return fs_fail(msg, FS_ERR_INVALID, "fused conv: no weights");
    int has_bn = d->bn_gamma || d->bn_beta || d->bn_mean || d->bn_var;
    if (has_bn && !(d->bn_gamma && d->bn_beta && d->bn_mean && d->bn_var))
        return fs_fail(msg, FS_ERR_INVALID, "fused conv: batch norm needs all four arrays");

    op->kind = d->kind;
    op->cin = d->cin, op->cout = d->cout, op->k = d->k, op->dil = d->dil;
    op->relu = d->relu, op->pool = d->pool, op->has_bn = has_bn;
    op->cout_pad = round8(d->cout);
    int k = d->k, cin = d->cin, cout = d->cout, cp = op->cout_pad;
    size_t nw = (size_t)k * k * cin * cp;
    op->w = fs_nn_alloc(nw * sizeof(float));
    op->bias = fs_nn_alloc((size_t)cp * sizeof(float));
    op->scale = fs_nn_alloc((size_t)cp * sizeof(float));
    op->shift = fs_nn_alloc((size_t)cp * sizeof(float));
    int pairs = (k * cin + 1) / 2; /* per kernel row, over the taps (kx, ci) in that order */
    size_t nwp = (size_t)k * pairs * 16;
    if (op->kind == FS_FCONV_CHANNELS && cp == 8) op->wpair = fs_nn_alloc(nwp * sizeof(float));
    if (!op->w || !op->bias || !op->scale || !op->shift ||
        (op->kind == FS_FCONV_CHANNELS && cp == 8 && !op->wpair)) {
        fs_fconv_free(op);
        return fs_fail(msg, FS_ERR_NOMEM, "fused conv: out of memory for weights");
    }
    memset(op->w, 0, nw * sizeof(float));
    if (op->wpair) memset(op->wpair, 0, nwp * sizeof(float));
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    float v = d->weight[(((size_t)co * cin + ci) * k + ky) * k + kx];
                    size_t at = op->kind == FS_FCONV_CHANNELS
                                    ? (((size_t)ky * k + kx) * cin + ci) * cp + co
                                    : (((size_t)co * cin + ci) * k + ky) * k + kx;
                    op->w[at] = v;
                    /* [ky][pair][16]: tap f = kx*cin + ci in pair f/2, lane 2*co + f%2; see
                     * fconv_avx512.c */
                    int f = kx * cin + ci;
                    if (op->wpair)
                        op->wpair[((size_t)ky * pairs + f / 2) * 16 + 2 * co + f % 2] = v;
                }
    for (int c = 0; c < cp; c++) {
        op->bias[c] = (c < cout && d->bias) ? d->bias[c] : 0.0f;
        op->scale[c] = 1.0f, op->shift[c] = 0.0f;
        if (has_bn && c < cout) {
            /* float32 as TensorFlow: s = gamma * rsqrt(var + eps); shift = beta - mean * s. */
            float s = d->bn_gamma[c] / sqrtf(d->bn_var[c] + d->bn_eps);
            op->scale[c] = s;
            op->shift[c] = d->bn_beta[c] - d->bn_mean[c] * s;
        }
    }
    return FS_OK;
}

void fs_fconv_free(fs_fconv *op) {
    if (!op) return;
    free(op->w), free(op->wpair), free(op->bias), free(op->scale), free(op->shift);
    memset(op, 0, sizeof *op);
}

int fs_fconv_halo(const fs_fconv *op) {
    int total = (op->k - 1) * op->dil;
    return total - total / 2; /* the larger side: 'same' puts the odd cell after */
}

size_t fs_fconv_scratch(const fs_fconv *op, int w) {
    if (op->kind == FS_FCONV_CHANNELS) return (size_t)op->pool * w * op->cout_pad;
    return (size_t)op->cout * op->pool * fs_fconv_wpad(w);
}

double fs_fconv_macs(const fs_fconv *op, int h, int w) {
    return (double)h * w * op->cout * op->cin * op->k * op->k;
}

static inline float epilogue(const fs_fconv *op, float v, int c) {
    if (op->relu && !(v > 0.0f)) v = 0.0f;
    if (op->has_bn) v = v * op->scale[c] + op->shift[c];
    return v;
}

static void row_channels_portable(const fs_fconv *op, const fs_view *in, int y, float *dst) {
    int k = op->k, dil = op->dil, cin = op->cin, cp = op->cout_pad;
    int pad = (k - 1) * dil / 2;
    float acc[FCONV_MAX_CH + 8];
    for (int x = 0; x < in->w; x++) {
        for (int c = 0; c < cp; c++) acc[c] = op->bias[c];
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *ip =
                    in->p + (y - pad + ky * dil) * in->ys + (x - pad + kx * dil) * in->xs;
                const float *wk = op->w + ((size_t)ky * k + kx) * cin * cp;
                for (int ci = 0; ci < cin; ci++) {
                    float v = ip[ci * in->cs];
                    const float *wr = wk + (size_t)ci * cp;
                    for (int c = 0; c < cp; c++) acc[c] += v * wr[c];
                }
            }
        for (int c = 0; c < cp; c++) dst[(size_t)x * cp + c] = epilogue(op, acc[c], c);
    }
}

static void row_pixels_portable(const fs_fconv *op, const fs_view *in, int y, float *dst,
                                ptrdiff_t plane) {
    int k = op->k, dil = op->dil, cin = op->cin;
    int pad = (k - 1) * dil / 2;
    for (int co = 0; co < op->cout; co++)
        for (int x = 0; x < in->w; x++) {
            float acc = op->bias[co];
            for (int ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < k; ky++) {
                    const float *ip = in->p + ci * in->cs + (y - pad + ky * dil) * in->ys +
                                      (x - pad) * in->xs;
                    const float *wk = op->w + (((size_t)co * cin + ci) * k + ky) * k;
                    for (int kx = 0; kx < k; kx++) acc += wk[kx] * ip[kx * dil * in->xs];
                }
            dst[co * plane + x] = epilogue(op, acc, co);
        }
}

/* Max over the band window of each pooled cell; cells outside the input are skipped, which is
 * TensorFlow's -inf padding. */
static void pool_scalar(const fs_fconv *op, const float *band, ptrdiff_t brs, ptrdiff_t bxs,
                        ptrdiff_t bcs, int nrows, int w, const fs_view *out, int oy,
                        int pad_left) {
    int p = op->pool;
    for (int ox = 0; ox < out->w; ox++) {
        int x0 = ox * p - pad_left, x1 = x0 + p;
        if (x0 < 0) x0 = 0;
        if (x1 > w) x1 = w;
        float *o = out->p + oy * out->ys + ox * out->xs;
        for (int c = 0; c < op->cout; c++) {
            float m = -INFINITY;
            for (int r = 0; r < nrows; r++)
                for (int x = x0; x < x1; x++) {
                    float v = band[r * brs + x * bxs + c * bcs];
                    if (v > m) m = v;
                }
            o[c * out->cs] = m;
        }
    }
}

void fs_fconv_rows(const fs_fconv *op, fs_isa isa, const fs_view *in, const fs_view *out,
                   int oy0, int oy1, float *scratch) {
    int p = op->pool, h = in->h, w = in->w;
    assert(in->c >= op->cin && out->c >= op->cout);
    assert(in->halo >= fs_fconv_halo(op));
    assert(out->h == fs_nn_same_out(h, p) && out->w == fs_nn_same_out(w, p));
    assert(op->kind != FS_FCONV_CHANNELS || in->cs == 1);
    assert(op->kind != FS_FCONV_PIXELS || in->xs == 1);
    assert(0 <= oy0 && oy0 <= oy1 && oy1 <= out->h);
    int pad_top = fs_nn_same_pad_before(h, p, p, 1), pad_left = fs_nn_same_pad_before(w, p, p, 1);
    int wpad = fs_fconv_wpad(w);
    /* 1: AVX-512 pooled band, 2: AVX2 pooled band, 0: band scratch then pooling */
    int pooled = isa == FS_ISA_AVX512 && fs_fconv_pooled_ok_avx512(op, in, out) ? 1
                 : isa >= FS_ISA_AVX2 && fs_fconv_pooled_ok_avx2(op, in, out) ? 2
                                                                               : 0;
    for (int oy = oy0; oy < oy1; oy++) {
        int y0 = oy * p - pad_top, y1 = y0 + p;
        if (y0 < 0) y0 = 0;
        if (y1 > h) y1 = h;
        int nrows = y1 - y0;
        if (pooled == 1) {
            fs_fconv_band_pooled_avx512(op, in, y0, nrows, out, oy);
        } else if (pooled == 2) {
            fs_fconv_band_pooled_avx2(op, in, y0, nrows, out, oy);
        } else if (op->kind == FS_FCONV_CHANNELS) {
            size_t rs = (size_t)w * op->cout_pad;
            for (int r = 0; r < nrows; r++) {
                if (isa >= FS_ISA_AVX2 && r + 1 < nrows) {
                    fs_fconv_rows2_channels_avx2(op, in, y0 + r, scratch + r * rs,
                                                 scratch + (r + 1) * rs);
                    r++;
                } else if (isa >= FS_ISA_AVX2) {
                    fs_fconv_row_channels_avx2(op, in, y0 + r, scratch + r * rs);
                } else {
                    row_channels_portable(op, in, y0 + r, scratch + r * rs);
                }
            }
            if (isa >= FS_ISA_AVX2 && out->cs == 1 && op->cout % 8 == 0)
                fs_fconv_pool_channels_avx2(op, scratch, nrows, w, out, oy, pad_left);
            else
                pool_scalar(op, scratch, (ptrdiff_t)rs, op->cout_pad, 1, nrows, w, out, oy,
                            pad_left);
        } else if (p == 1 && out->xs == 1) {
            /* unpooled planar output: the kernel writes straight into it */
            float *dst = out->p + (ptrdiff_t)oy * out->ys;
            if (isa >= FS_ISA_AVX2)
                fs_fconv_row_pixels_avx2(op, in, oy, dst, out->cs);
            else
                row_pixels_portable(op, in, oy, dst, out->cs);
        } else {
            ptrdiff_t plane = (ptrdiff_t)p * wpad;
            for (int r = 0; r < nrows; r++) {
                if (isa >= FS_ISA_AVX2)
                    fs_fconv_row_pixels_avx2(op, in, y0 + r, scratch + r * wpad, plane);
                else
                    row_pixels_portable(op, in, y0 + r, scratch + r * wpad, plane);
            }
            if (isa >= FS_ISA_AVX2 && p == 2 && w % 2 == 0)
                fs_fconv_pool_pixels2_avx2(op, scratch, plane, wpad, nrows, w, out, oy);
            else
                pool_scalar(op, scratch, wpad, 1, plane, nrows, w, out, oy, pad_left);
        }
    }
}

/* FAKESCOPE_NO_AVX512=1 keeps the AVX2 kernels on an AVX-512 machine (for comparisons). The
 * compiler's CPU check also asks the OS whether it saves the 512-bit registers. */
static int has_avx512(void) {
    const char *off = getenv("FAKESCOPE_NO_AVX512");
    if (off && off[0] == '1') return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

fs_isa fs_nn_isa_best(void) {
    if (!fs_cpu_has_avx2_fma()) return FS_ISA_PORTABLE;
    return has_avx512() ? FS_ISA_AVX512 : FS_ISA_AVX2;
}

const char *fs_nn_isa_name(fs_isa isa) {
    return isa == FS_ISA_AVX512 ? "avx512" : isa == FS_ISA_AVX2 ? "avx2+fma" : "portable";
}

/* Eight independent multiply-add chains: enough to keep scalar pipelines busy; the figure is
 * the portable path's ceiling, not the machine's. */
static double fma_peak_portable(double seconds) {
    /* distinct starting values: identical chains would be merged into one */
    float a[8] = {1.0f, 1.001f, 1.002f, 1.003f, 1.004f, 1.005f, 1.006f, 1.007f};
    const float m = 0.999999f, c = 1e-6f;
    double t0 = fs_now_ms(), flops = 0;
    do {
        for (int i = 0; i < 1000000; i++)
            for (int j = 0; j < 8; j++) a[j] = a[j] * m + c;
        flops += 2.0 * 8 * 1000000;
    } while (fs_now_ms() - t0 < seconds * 1000.0);
    volatile float sink = a[0] + a[7];
    (void)sink;
    return flops / ((fs_now_ms() - t0) * 1e6);
}

double fs_nn_fma_peak_gflops(fs_isa isa, double seconds) {
    if (seconds <= 0) seconds = 0.2;
    if (isa == FS_ISA_AVX512) return fs_nn_fma_peak_avx512(seconds);
    return isa == FS_ISA_AVX2 ? fs_nn_fma_peak_avx2(seconds) : fma_peak_portable(seconds);
}
