/* fconv_avx2.c: AVX2+FMA kernels of the fused convolution (compiled with -mavx2 -mfma; only
 * called after fs_cpu_has_avx2_fma()). They compute what the portable kernels in fconv.c
 * compute, in a different summation order (within 1e-5).
 *
 * Channels kind: one output pixel's 8 or 16 channels live in 1 or 2 registers; a block of
 * pixels shares each weight load, and every input value is broadcast once per block row.
 * Pixels kind (layers with 1-4 output channels, planar input): a register holds 8 adjacent
 * output pixels of one channel; a block of channels shares each input load. Blocks are
 * compile-time sizes (always_inline with constant arguments) so accumulators stay in
 * registers. */
#include "nn/fconv_impl.h"

#include <immintrin.h>
#include <assert.h>
#include <math.h>

#define INLINE static inline __attribute__((always_inline))

INLINE __m256 epi8(const fs_fconv *op, __m256 v, int c) {
    if (op->relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    if (op->has_bn) v = _mm256_fmadd_ps(v, _mm256_loadu_ps(op->scale + c), _mm256_loadu_ps(op->shift + c));
    return v;
}

/* PB pixels starting at x, NV*8 output channels starting at g. */
INLINE void cv_block(const fs_fconv *op, const fs_view *in, int y, int x, int g, float *dst,
                     const int PB, const int NV) {
    int k = op->k, dil = op->dil, cin = op->cin, cp = op->cout_pad;
    int pad = (k - 1) * dil / 2;
    __m256 acc[PB][NV];
    #pragma GCC unroll 16
    for (int j = 0; j < NV; j++) {
        __m256 b = _mm256_loadu_ps(op->bias + g + 8 * j);
        #pragma GCC unroll 16
        for (int p = 0; p < PB; p++) acc[p][j] = b;
    }
    ptrdiff_t xs = in->xs;
    const float *base = in->p + (ptrdiff_t)(y - pad) * in->ys + (ptrdiff_t)(x - pad) * xs;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            const float *ip = base + (ptrdiff_t)ky * dil * in->ys + (ptrdiff_t)kx * dil * xs;
            const float *wk = op->w + ((size_t)ky * k + kx) * cin * cp + g;
            for (int ci = 0; ci < cin; ci++) {
                __m256 wv[NV];
                #pragma GCC unroll 16
                for (int j = 0; j < NV; j++) wv[j] = _mm256_load_ps(wk + (size_t)ci * cp + 8 * j);
                #pragma GCC unroll 16
                for (int p = 0; p < PB; p++) {
                    __m256 b = _mm256_broadcast_ss(ip + p * xs + ci);
                    #pragma GCC unroll 16
                    for (int j = 0; j < NV; j++) acc[p][j] = _mm256_fmadd_ps(b, wv[j], acc[p][j]);
                }
            }
        }
    #pragma GCC unroll 16
    for (int p = 0; p < PB; p++)
        #pragma GCC unroll 16
        for (int j = 0; j < NV; j++)
            _mm256_storeu_ps(dst + (size_t)(x + p) * cp + g + 8 * j, epi8(op, acc[p][j], g + 8 * j));
}

void fs_fconv_row_channels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst) {
    int w = in->w, cp = op->cout_pad;
    int g = 0;
    for (; g + 16 <= cp; g += 16) {
        int x = 0;
        for (; x + 6 <= w; x += 6) cv_block(op, in, y, x, g, dst, 6, 2);
        for (; x + 2 <= w; x += 2) cv_block(op, in, y, x, g, dst, 2, 2);
        for (; x < w; x++) cv_block(op, in, y, x, g, dst, 1, 2);
    }
    for (; g < cp; g += 8) {
        int x = 0;
        for (; x + 12 <= w; x += 12) cv_block(op, in, y, x, g, dst, 12, 1);
        for (; x + 4 <= w; x += 4) cv_block(op, in, y, x, g, dst, 4, 1);
        for (; x < w; x++) cv_block(op, in, y, x, g, dst, 1, 1);
    }
}

/* NP vectors of 8 pixels starting at x, CB output channels starting at co. */
INLINE void pv_block(const fs_fconv *op, const fs_view *in, int y, int x, int co, float *dst,
                     ptrdiff_t plane, const int NP, const int CB) {
    int k = op->k, dil = op->dil, cin = op->cin;
    int pad = (k - 1) * dil / 2;
    __m256 acc[NP][CB];
    #pragma GCC unroll 16
    for (int c = 0; c < CB; c++) {
        __m256 b = _mm256_broadcast_ss(op->bias + co + c);
        #pragma GCC unroll 16
        for (int q = 0; q < NP; q++) acc[q][c] = b;
    }
    size_t kk = (size_t)k * k;
    for (int ci = 0; ci < cin; ci++) {
        const float *pl = in->p + ci * in->cs + (ptrdiff_t)(y - pad) * in->ys + (x - pad);
        const float *wc = op->w + ((size_t)co * cin + ci) * kk;
        for (int ky = 0; ky < k; ky++) {
            const float *row = pl + (ptrdiff_t)ky * dil * in->ys;
            for (int kx = 0; kx < k; kx++) {
                __m256 iv[NP];
                #pragma GCC unroll 16
                for (int q = 0; q < NP; q++) iv[q] = _mm256_loadu_ps(row + kx * dil + 8 * q);
                #pragma GCC unroll 16
                for (int c = 0; c < CB; c++) {
                    __m256 wb = _mm256_broadcast_ss(wc + c * cin * kk + ky * k + kx);
                    #pragma GCC unroll 16
                    for (int q = 0; q < NP; q++) acc[q][c] = _mm256_fmadd_ps(iv[q], wb, acc[q][c]);
                }
            }
        }
    }
    #pragma GCC unroll 16
    for (int c = 0; c < CB; c++) {
        __m256 zero = _mm256_setzero_ps();
        __m256 s = _mm256_broadcast_ss(op->scale + co + c);
        __m256 t = _mm256_broadcast_ss(op->shift + co + c);
        #pragma GCC unroll 16
        for (int q = 0; q < NP; q++) {
            __m256 v = acc[q][c];
            if (op->relu) v = _mm256_max_ps(v, zero);
            if (op->has_bn) v = _mm256_fmadd_ps(v, s, t);
            _mm256_storeu_ps(dst + (co + c) * plane + x + 8 * q, v);
        }
    }
}

/* Scalar tail for the last w % 8 pixels: same arithmetic, one pixel at a time. */
static void pv_tail(const fs_fconv *op, const fs_view *in, int y, int x0, float *dst,
                    ptrdiff_t plane) {
    int k = op->k, dil = op->dil, cin = op->cin, pad = (k - 1) * dil / 2;
    for (int co = 0; co < op->cout; co++)
        for (int x = x0; x < in->w; x++) {
            float acc = op->bias[co];
            for (int ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        acc = fmaf(in->p[ci * in->cs + (ptrdiff_t)(y - pad + ky * dil) * in->ys +
                                         (x - pad + kx * dil)],
                                   op->w[(((size_t)co * cin + ci) * k + ky) * k + kx], acc);
            if (op->relu && !(acc > 0.0f)) acc = 0.0f;
            if (op->has_bn) acc = fmaf(acc, op->scale[co], op->shift[co]);
            dst[co * plane + x] = acc;
        }
}

#define PV_CHANNELS(CB, NP)                                                            \
    do {                                                                               \
        int x = 0;                                                                     \
        for (; x + 8 * (NP) <= w; x += 8 * (NP)) pv_block(op, in, y, x, co, dst, plane, NP, CB); \
        for (; x + 8 <= w; x += 8) pv_block(op, in, y, x, co, dst, plane, 1, CB);      \
    } while (0)

void fs_fconv_row_pixels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst,
                              ptrdiff_t plane) {
    int w = in->w, co = 0;
    for (; co + 4 <= op->cout; co += 4) PV_CHANNELS(4, 2);
    switch (op->cout - co) {
    case 3: PV_CHANNELS(3, 3); break;
    case 2: PV_CHANNELS(2, 4); break;
    case 1: PV_CHANNELS(1, 4); break;
    default: break;
    }
    if (w % 8) pv_tail(op, in, y, w - w % 8, dst, plane);
}

void fs_fconv_pool_channels_avx2(const fs_fconv *op, const float *band, int nrows, int w,
                                 const fs_view *out, int oy, int pad_left) {
    int p = op->pool, cp = op->cout_pad, cout = op->cout;
    assert(out->cs == 1 && cout % 8 == 0);
    size_t rs = (size_t)w * cp;
    for (int ox = 0; ox < out->w; ox++) {
        int x0 = ox * p - pad_left, x1 = x0 + p;
        if (x0 < 0) x0 = 0;
        if (x1 > w) x1 = w;
        float *o = out->p + oy * out->ys + ox * out->xs;
        for (int c = 0; c < cout; c += 8) {
            __m256 m = _mm256_set1_ps(-INFINITY);
            for (int r = 0; r < nrows; r++)
                for (int x = x0; x < x1; x++)
                    m = _mm256_max_ps(m, _mm256_loadu_ps(band + r * rs + (size_t)x * cp + c));
            _mm256_storeu_ps(o + c, m);
        }
    }
}

double fs_nn_fma_peak_avx2(double seconds) {
    /* 12 independent chains cover FMA latency (4) x 2 pipes with room to spare, and still fit
     * the 16 registers with the two constants. */
    __m256 a[12];
    #pragma GCC unroll 16
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    double t0 = fs_now_ms(), flops = 0;
    do {
        for (int it = 0; it < 1000000; it++)
            #pragma GCC unroll 16
            for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
        flops += 2.0 * 8 * 12 * 1000000;
    } while (fs_now_ms() - t0 < seconds * 1000.0);
    __m256 s = a[0];
    #pragma GCC unroll 16
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    volatile float sink = _mm256_cvtss_f32(s);
    (void)sink;
    return flops / ((fs_now_ms() - t0) * 1e6);
}
