/* graph_avx512.c: the op graph's GEMM with 512-bit vectors (graph_kernels.h), for CPUs whose
 * AVX-512 units do a full 16-lane FMA per cycle per pipe (twice the 8-lane AVX2 rate). It
 * reads the same packed panels of 16 columns as the AVX2 kernel: one zmm per row of a 12 x 16
 * tile of C (12 accumulators), one aligned load of the panel and 12 broadcasts of A per k;
 * a __mmask16 covers the columns past n. Blocking, bias and activation as in graph_avx2.c.
 * The depthwise tap sums likewise run 16 channels a vector, four vectors per tap pointer.
 * Only called after fs_nn_isa_best() reported FS_ISA_AVX512. */
#include <immintrin.h>
#include <string.h>

#include "graph_kernels.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

#define KC 256
#define MC 240 /* a multiple of 12 */

typedef struct tail_op {
    int acc, fin;
    const float *bias;
    fs_act act;
} tail_op;

static inline __m512 act16(fs_act act, __m512 v) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    switch (act) {
    case FS_ACT_RELU: return _mm512_max_ps(v, zero);
    case FS_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(v, zero), six);
    case FS_ACT_HSWISH: {
        __m512 r = _mm512_add_ps(v, _mm512_set1_ps(3.0f));
        r = _mm512_min_ps(_mm512_max_ps(r, zero), six);
        return _mm512_div_ps(_mm512_mul_ps(v, r), six);
    }
    case FS_ACT_NONE: break;
    }
    return v;
}

static inline void store16(float *c, __m512 v, __mmask16 m, const tail_op *t) {
    if (t->acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    if (t->fin) {
        if (t->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, t->bias));
        v = act16(t->act, v);
    }
    _mm512_mask_storeu_ps(c, m, v);
}

#define ROW(r, base, off) acc##r = _mm512_fmadd_ps(_mm512_set1_ps(base[off]), b, acc##r)

/* Twelve rows of C, columns under m, from the packed panel bp (kk x 16). */
static void tile12(int kk, const float *a, size_t sai, size_t sak, const float *bp, float *c,
                   size_t ldc, __mmask16 m, const tail_op *t) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0;
    __m512 acc6 = acc0, acc7 = acc0, acc8 = acc0, acc9 = acc0, acc10 = acc0, acc11 = acc0;
    const float *p0 = a, *p1 = a + 6 * sai;
    const size_t o1 = sai, o2 = 2 * sai, o3 = 3 * sai, o4 = 4 * sai, o5 = 5 * sai;
    for (int p = 0; p < kk; p++, bp += 16, p0 += sak, p1 += sak) {
        const __m512 b = _mm512_load_ps(bp);
        ROW(0, p0, 0);
        ROW(1, p0, o1);
        ROW(2, p0, o2);
        ROW(3, p0, o3);
        ROW(4, p0, o4);
        ROW(5, p0, o5);
        ROW(6, p1, 0);
        ROW(7, p1, o1);
        ROW(8, p1, o2);
        ROW(9, p1, o3);
        ROW(10, p1, o4);
        ROW(11, p1, o5);
    }
    store16(c, acc0, m, t);
    store16(c + ldc, acc1, m, t);
    store16(c + 2 * ldc, acc2, m, t);
    store16(c + 3 * ldc, acc3, m, t);
    store16(c + 4 * ldc, acc4, m, t);
    store16(c + 5 * ldc, acc5, m, t);
    store16(c + 6 * ldc, acc6, m, t);
    store16(c + 7 * ldc, acc7, m, t);
    store16(c + 8 * ldc, acc8, m, t);
    store16(c + 9 * ldc, acc9, m, t);
    store16(c + 10 * ldc, acc10, m, t);
    store16(c + 11 * ldc, acc11, m, t);
}

/* Fewer than twelve rows: two at a time where possible. */
static void tile_n(int rows, int kk, const float *a, size_t sai, size_t sak, const float *bp,
                   float *c, size_t ldc, __mmask16 m, const tail_op *t) {
    int r = 0;
    for (; r + 2 <= rows; r += 2) {
        __m512 v0 = _mm512_setzero_ps(), v1 = v0;
        const float *a0 = a + (size_t)r * sai, *a1 = a0 + sai, *q = bp;
        for (int p = 0; p < kk; p++, q += 16, a0 += sak, a1 += sak) {
            const __m512 b = _mm512_load_ps(q);
            v0 = _mm512_fmadd_ps(_mm512_set1_ps(*a0), b, v0);
            v1 = _mm512_fmadd_ps(_mm512_set1_ps(*a1), b, v1);
        }
        store16(c + (size_t)r * ldc, v0, m, t);
        store16(c + (size_t)(r + 1) * ldc, v1, m, t);
    }
    if (r < rows) {
        __m512 v0 = _mm512_setzero_ps();
        const float *a0 = a + (size_t)r * sai, *q = bp;
        for (int p = 0; p < kk; p++, q += 16, a0 += sak)
            v0 = _mm512_fmadd_ps(_mm512_set1_ps(*a0), _mm512_load_ps(q), v0);
        store16(c + (size_t)r * ldc, v0, m, t);
    }
}

/* C rows [0, m) against B, panel by panel: packed B (bp, scratch NULL) or B read through ldb
 * and packed per block into scratch. */
static void gemm(int m, int n, int k, const float *a, size_t sai, size_t sak, const float *bp,
                 const float *b, size_t ldb, float *c, size_t ldc, int accumulate,
                 const float *bias, fs_act act, float *scratch) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { /* an empty sum: C keeps its values, or becomes act(bias) */
        if (accumulate) return;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j += 16) {
                const int nw = n - j < 16 ? n - j : 16;
                const tail_op t = {0, 1, bias ? bias + j : NULL, act};
                store16(c + (size_t)i * ldc + j, _mm512_setzero_ps(), (__mmask16)((1u << nw) - 1), &t);
            }
        return;
    }
    for (int i0 = 0; i0 < m; i0 += MC) {
        const int mc = m - i0 < MC ? m - i0 : MC;
        for (int k0 = 0; k0 < k; k0 += KC) {
            const int kk = k - k0 < KC ? k - k0 : KC;
            const float *ak = a + (size_t)i0 * sai + (size_t)k0 * sak;
            for (int j = 0; j < n; j += 16) {
                const int nw = n - j < 16 ? n - j : 16;
                const __mmask16 msk = (__mmask16)((1u << nw) - 1);
                const tail_op t = {accumulate || k0 > 0, !accumulate && k0 + kk == k, bias ? bias + j : NULL, act};
                const float *panel;
                if (bp) {
                    panel = bp + (size_t)j * k + (size_t)k0 * 16;
                } else {
                    fs_gk_pack_b(b + (size_t)k0 * ldb + j, ldb, 1, kk, nw, scratch, 0, 1);
                    panel = scratch;
                }
                int i = 0;
                for (; i + 12 <= mc; i += 12)
                    tile12(kk, ak + (size_t)i * sai, sai, sak, panel, c + (size_t)(i0 + i) * ldc + j, ldc, msk, &t);
                if (i < mc)
                    tile_n(mc - i, kk, ak + (size_t)i * sai, sai, sak, panel, c + (size_t)(i0 + i) * ldc + j,
                           ldc, msk, &t);
            }
        }
    }
}

void fs_gk_gemm_avx512(int m, int n, int k, const float *a, size_t sai, size_t sak, const float *b,
                       size_t ldb, float *c, size_t ldc, int accumulate, const float *bias,
                       fs_act act, float *scratch) {
    gemm(m, n, k, a, sai, sak, NULL, b, ldb, c, ldc, accumulate, bias, act, scratch);
}

void fs_gk_gemm_packed_avx512(int m, int n, int k, const float *a, size_t sai, size_t sak,
                              const float *bp, float *c, size_t ldc, int accumulate,
                              const float *bias, fs_act act) {
    gemm(m, n, k, a, sai, sak, bp, NULL, 0, c, ldc, accumulate, bias, act, NULL);
}

static inline __mmask16 chan_mask(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

void fs_gk_taps_avx512(int npix, int kk, int c, const float *const *src, const float *w,
                       const float *bias, int accumulate, fs_act act, float *out) {
    for (int p = 0; p < npix; p++) {
        const float *const *s = src + (size_t)p * kk;
        float *o = out + (size_t)p * c;
        int cb = 0;
        for (; cb + 64 <= c; cb += 64) {
            __m512 a0, a1, a2, a3;
            if (accumulate)
                a0 = _mm512_loadu_ps(o + cb), a1 = _mm512_loadu_ps(o + cb + 16),
                a2 = _mm512_loadu_ps(o + cb + 32), a3 = _mm512_loadu_ps(o + cb + 48);
            else if (bias)
                a0 = _mm512_loadu_ps(bias + cb), a1 = _mm512_loadu_ps(bias + cb + 16),
                a2 = _mm512_loadu_ps(bias + cb + 32), a3 = _mm512_loadu_ps(bias + cb + 48);
            else
                a0 = a1 = a2 = a3 = _mm512_setzero_ps();
            const float *wt = w + cb;
            for (int t = 0; t < kk; t++, wt += c) {
                const float *x = s[t] + cb;
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x), _mm512_loadu_ps(wt), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(wt + 16), a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 32), _mm512_loadu_ps(wt + 32), a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 48), _mm512_loadu_ps(wt + 48), a3);
            }
            _mm512_storeu_ps(o + cb, act16(act, a0));
            _mm512_storeu_ps(o + cb + 16, act16(act, a1));
            _mm512_storeu_ps(o + cb + 32, act16(act, a2));
            _mm512_storeu_ps(o + cb + 48, act16(act, a3));
        }
        for (; cb < c; cb += 16) {
            const __mmask16 m = chan_mask(c - cb);
            __m512 a = accumulate ? _mm512_maskz_loadu_ps(m, o + cb)
                       : bias     ? _mm512_maskz_loadu_ps(m, bias + cb)
                                  : _mm512_setzero_ps();
            const float *wt = w + cb;
            for (int t = 0; t < kk; t++, wt += c)
                a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, s[t] + cb), _mm512_maskz_loadu_ps(m, wt), a);
            _mm512_mask_storeu_ps(o + cb, m, act16(act, a));
        }
    }
}

void fs_gk_taps_wgrad_avx512(int npix, int kk, int c, const float *const *src, const float *go,
                             float *gw) {
    for (int cb = 0; cb < c; cb += 16) {
        const __mmask16 m = chan_mask(c - cb);
        for (int t = 0; t < kk; t++) {
            float *g = gw + (size_t)t * c + cb;
            __m512 acc = _mm512_maskz_loadu_ps(m, g);
            const float *const *s = src + t;
            const float *q = go + cb;
            for (int p = 0; p < npix; p++, s += kk, q += c)
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, *s + cb), _mm512_maskz_loadu_ps(m, q), acc);
            _mm512_mask_storeu_ps(g, m, acc);
        }
    }
}
