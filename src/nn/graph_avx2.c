/* graph_avx2.c: AVX2+FMA kernels of the op graph (graph_kernels.h). Only called after
 * fs_cpu_has_avx2_fma().
 *
 * GEMM: a 6 x 16 register tile of C (12 accumulators) fed by broadcasts of op(A) and two
 * aligned loads of a packed panel of B per k. B is packed 256 rows x 16 columns at a time
 * (zeros past n, so the tile always loads whole vectors and only the stores are masked) into
 * the thread's scratch, where it stays in L1 while 72 rows of A (in L2) pass over it; blocks
 * of k accumulate into C, and the bias and activation are applied to a block of rows once its
 * last k block is done, while it is still in cache. Packing also keeps a panel of B from
 * striding across the cache sets, which a panel read in place from a wide weight matrix does.
 *
 * Tap sums run over 8 channels at a time with masked loads for the last c % 8. */
#include <immintrin.h>
#include <string.h>

#include "graph_kernels.h"

/* Optimised in debug builds too, so the sanitizer suite stays fast. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

#define KC 256 /* rows of B per packed panel (FS_GK_GEMM_SCRATCH = KC x 16) */
#define MC 240 /* rows of A per block: 240 x 256 floats (240 KB) stay in L2 */

static inline __m256i tail_mask(int n) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

static inline __m256 act_vec(fs_act act, __m256 v) {
    switch (act) {
    case FS_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case FS_ACT_RELU6:
        return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
    case FS_ACT_HSWISH: {
        __m256 r = _mm256_add_ps(v, _mm256_set1_ps(3.0f));
        r = _mm256_min_ps(_mm256_max_ps(r, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
        /* v * r / 6 as the portable code divides (not a multiply by 1/6: same bits) */
        return _mm256_div_ps(_mm256_mul_ps(v, r), _mm256_set1_ps(6.0f));
    }
    case FS_ACT_NONE: break;
    }
    return v;
}

/* B rows [0, kk), columns [0, nw) into bp[kk][16], zeros in the columns past nw. */
static void pack_b(const float *b, size_t ldb, int kk, int nw, float *bp) {
    if (nw == 16) {
        for (int p = 0; p < kk; p++, bp += 16) {
            const float *s = b + (size_t)p * ldb;
            _mm256_store_ps(bp, _mm256_loadu_ps(s));
            _mm256_store_ps(bp + 8, _mm256_loadu_ps(s + 8));
        }
        return;
    }
    const int n0 = nw < 8 ? nw : 8, n1 = nw > 8 ? nw - 8 : 0;
    const __m256i m0 = tail_mask(n0), m1 = tail_mask(n1);
    for (int p = 0; p < kk; p++, bp += 16) {
        const float *s = b + (size_t)p * ldb;
        _mm256_store_ps(bp, _mm256_maskload_ps(s, m0));
        _mm256_store_ps(bp + 8, n1 ? _mm256_maskload_ps(s + 8, m1) : _mm256_setzero_ps());
    }
}

/* The end of a C row's sum: what it held (acc), then, on the last block of k (fin), the bias
 * and the activation, while the values are still in registers. */
typedef struct tail_op {
    int acc, fin;
    const float *bias; /* at this tile's first column, or NULL */
    fs_act act;
} tail_op;

static inline void store_row(float *c, __m256 v0, __m256 v1, int nw, const tail_op *t) {
    if (nw == 16) {
        if (t->acc) v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c)), v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
        if (t->fin) {
            if (t->bias)
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(t->bias)), v1 = _mm256_add_ps(v1, _mm256_loadu_ps(t->bias + 8));
            v0 = act_vec(t->act, v0), v1 = act_vec(t->act, v1);
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
        return;
    }
    const int n0 = nw < 8 ? nw : 8, n1 = nw > 8 ? nw - 8 : 0;
    const __m256i m0 = tail_mask(n0);
    if (t->acc) v0 = _mm256_add_ps(v0, _mm256_maskload_ps(c, m0));
    if (t->fin) {
        if (t->bias) v0 = _mm256_add_ps(v0, _mm256_maskload_ps(t->bias, m0));
        v0 = act_vec(t->act, v0);
    }
    _mm256_maskstore_ps(c, m0, v0);
    if (n1) {
        const __m256i m1 = tail_mask(n1);
        if (t->acc) v1 = _mm256_add_ps(v1, _mm256_maskload_ps(c + 8, m1));
        if (t->fin) {
            if (t->bias) v1 = _mm256_add_ps(v1, _mm256_maskload_ps(t->bias + 8, m1));
            v1 = act_vec(t->act, v1);
        }
        _mm256_maskstore_ps(c + 8, m1, v1);
    }
}

#define FMA_ROW(r)                                                                         \
    do {                                                                                   \
        const __m256 av = _mm256_broadcast_ss(a##r);                                       \
        c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);                                        \
        c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);                                        \
        a##r += sak;                                                                       \
    } while (0)

/* Six rows of C, columns [0, nw) from the packed panel bp (kk x 16). */
static void tile6(int kk, const float *a, size_t sai, size_t sak, const float *bp, float *c,
                  size_t ldc, int nw, const tail_op *t) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = a, *a1 = a + sai, *a2 = a + 2 * sai, *a3 = a + 3 * sai, *a4 = a + 4 * sai,
                *a5 = a + 5 * sai;
    for (int p = 0; p < kk; p++, bp += 16) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        FMA_ROW(0);
        FMA_ROW(1);
        FMA_ROW(2);
        FMA_ROW(3);
        FMA_ROW(4);
        FMA_ROW(5);
    }
    store_row(c, c00, c01, nw, t);
    store_row(c + ldc, c10, c11, nw, t);
    store_row(c + 2 * ldc, c20, c21, nw, t);
    store_row(c + 3 * ldc, c30, c31, nw, t);
    store_row(c + 4 * ldc, c40, c41, nw, t);
    store_row(c + 5 * ldc, c50, c51, nw, t);
}

/* Fewer than six rows. */
static void tile_n(int rows, int kk, const float *a, size_t sai, size_t sak, const float *bp,
                   float *c, size_t ldc, int nw, const tail_op *t) {
    for (int r = 0; r < rows; r++) {
        __m256 v0 = _mm256_setzero_ps(), v1 = v0;
        const float *ar = a + (size_t)r * sai;
        const float *q = bp;
        for (int p = 0; p < kk; p++, q += 16, ar += sak) {
            const __m256 av = _mm256_broadcast_ss(ar);
            v0 = _mm256_fmadd_ps(av, _mm256_load_ps(q), v0);
            v1 = _mm256_fmadd_ps(av, _mm256_load_ps(q + 8), v1);
        }
        store_row(c + (size_t)r * ldc, v0, v1, nw, t);
    }
}

/* C rows [0, m) x [0, n): bias then act. */
static void epilogue(int m, int n, float *c, size_t ldc, const float *bias, fs_act act) {
    const int nf = n & ~7;
    const __m256i mt = tail_mask(n - nf);
    for (int i = 0; i < m; i++) {
        float *row = c + (size_t)i * ldc;
        int j = 0;
        for (; j < nf; j += 8) {
            __m256 v = _mm256_loadu_ps(row + j);
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
            _mm256_storeu_ps(row + j, act_vec(act, v));
        }
        if (j < n) {
            __m256 v = _mm256_maskload_ps(row + j, mt);
            if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias + j, mt));
            _mm256_maskstore_ps(row + j, mt, act_vec(act, v));
        }
    }
}

void fs_gk_gemm_avx2(int m, int n, int k, const float *a, size_t sai, size_t sak, const float *b,
                     size_t ldb, float *c, size_t ldc, int accumulate, const float *bias,
                     fs_act act, float *scratch) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { /* an empty sum: C keeps its values, or becomes act(bias) */
        if (accumulate) return;
        for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, sizeof(float) * (size_t)n);
        if (bias || act != FS_ACT_NONE) epilogue(m, n, c, ldc, bias, act);
        return;
    }
    for (int i0 = 0; i0 < m; i0 += MC) {
        const int mc = m - i0 < MC ? m - i0 : MC;
        for (int k0 = 0; k0 < k; k0 += KC) {
            const int kk = k - k0 < KC ? k - k0 : KC;
            const float *ak = a + (size_t)i0 * sai + (size_t)k0 * sak;
            for (int j = 0; j < n; j += 16) {
                const int nw = n - j < 16 ? n - j : 16;
                const tail_op t = {accumulate || k0 > 0, !accumulate && k0 + kk == k, bias ? bias + j : NULL, act};
                pack_b(b + (size_t)k0 * ldb + j, ldb, kk, nw, scratch);
                int i = 0;
                for (; i + 6 <= mc; i += 6)
                    tile6(kk, ak + (size_t)i * sai, sai, sak, scratch, c + (size_t)(i0 + i) * ldc + j,
                          ldc, nw, &t);
                if (i < mc)
                    tile_n(mc - i, kk, ak + (size_t)i * sai, sai, sak, scratch,
                           c + (size_t)(i0 + i) * ldc + j, ldc, nw, &t);
            }
        }
    }
}

void fs_gk_gemm_packed_avx2(int m, int n, int k, const float *a, size_t sai, size_t sak,
                            const float *bp, float *c, size_t ldc, int accumulate,
                            const float *bias, fs_act act) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        fs_gk_gemm_avx2(m, n, k, a, sai, sak, bp, 16, c, ldc, accumulate, bias, act, NULL);
        return;
    }
    for (int i0 = 0; i0 < m; i0 += MC) {
        const int mc = m - i0 < MC ? m - i0 : MC;
        for (int k0 = 0; k0 < k; k0 += KC) {
            const int kk = k - k0 < KC ? k - k0 : KC;
            const float *ak = a + (size_t)i0 * sai + (size_t)k0 * sak;
            for (int j = 0; j < n; j += 16) {
                const int nw = n - j < 16 ? n - j : 16;
                const tail_op t = {accumulate || k0 > 0, !accumulate && k0 + kk == k, bias ? bias + j : NULL, act};
                const float *panel = bp + (size_t)j * k + (size_t)k0 * 16;
                int i = 0;
                for (; i + 6 <= mc; i += 6)
                    tile6(kk, ak + (size_t)i * sai, sai, sak, panel, c + (size_t)(i0 + i) * ldc + j,
                          ldc, nw, &t);
                if (i < mc)
                    tile_n(mc - i, kk, ak + (size_t)i * sai, sai, sak, panel,
                           c + (size_t)(i0 + i) * ldc + j, ldc, nw, &t);
            }
        }
    }
}

void fs_gk_taps_avx2(int npix, int kk, int c, const float *const *src, const float *w,
                     const float *bias, int accumulate, fs_act act, float *out) {
    const int cf = c & ~7;
    const __m256i mt = tail_mask(c - cf);
    for (int p = 0; p < npix; p++) {
        const float *const *s = src + (size_t)p * kk;
        float *o = out + (size_t)p * c;
        int cb = 0;
        for (; cb + 32 <= cf; cb += 32) { /* four independent sums share each tap's pointer */
            __m256 a0, a1, a2, a3;
            if (accumulate)
                a0 = _mm256_loadu_ps(o + cb), a1 = _mm256_loadu_ps(o + cb + 8),
                a2 = _mm256_loadu_ps(o + cb + 16), a3 = _mm256_loadu_ps(o + cb + 24);
            else if (bias)
                a0 = _mm256_loadu_ps(bias + cb), a1 = _mm256_loadu_ps(bias + cb + 8),
                a2 = _mm256_loadu_ps(bias + cb + 16), a3 = _mm256_loadu_ps(bias + cb + 24);
            else
                a0 = a1 = a2 = a3 = _mm256_setzero_ps();
            const float *wt = w + cb;
            for (int t = 0; t < kk; t++, wt += c) {
                const float *x = s[t] + cb;
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(wt), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), _mm256_loadu_ps(wt + 8), a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(wt + 16), a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), _mm256_loadu_ps(wt + 24), a3);
            }
            _mm256_storeu_ps(o + cb, act_vec(act, a0));
            _mm256_storeu_ps(o + cb + 8, act_vec(act, a1));
            _mm256_storeu_ps(o + cb + 16, act_vec(act, a2));
            _mm256_storeu_ps(o + cb + 24, act_vec(act, a3));
        }
        for (; cb < cf; cb += 8) {
            __m256 acc = accumulate ? _mm256_loadu_ps(o + cb)
                         : bias     ? _mm256_loadu_ps(bias + cb)
                                    : _mm256_setzero_ps();
            const float *wt = w + cb;
            for (int t = 0; t < kk; t++, wt += c)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(s[t] + cb), _mm256_loadu_ps(wt), acc);
            _mm256_storeu_ps(o + cb, act_vec(act, acc));
        }
        if (cb < c) {
            __m256 acc = accumulate ? _mm256_maskload_ps(o + cb, mt)
                         : bias     ? _mm256_maskload_ps(bias + cb, mt)
                                    : _mm256_setzero_ps();
            const float *wt = w + cb;
            for (int t = 0; t < kk; t++, wt += c)
                acc = _mm256_fmadd_ps(_mm256_maskload_ps(s[t] + cb, mt), _mm256_maskload_ps(wt, mt), acc);
            _mm256_maskstore_ps(o + cb, mt, act_vec(act, acc));
        }
    }
}

void fs_gk_taps_wgrad_avx2(int npix, int kk, int c, const float *const *src, const float *go,
                           float *gw) {
    const int cf = c & ~7;
    const __m256i mt = tail_mask(c - cf);
    for (int cb = 0; cb < c; cb += 8) {
        const int full = cb < cf;
        for (int t = 0; t < kk; t++) {
            float *g = gw + (size_t)t * c + cb;
            __m256 acc = full ? _mm256_loadu_ps(g) : _mm256_maskload_ps(g, mt);
            const float *const *s = src + t;
            const float *q = go + cb;
            if (full)
                for (int p = 0; p < npix; p++, s += kk, q += c)
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(*s + cb), _mm256_loadu_ps(q), acc);
            else
                for (int p = 0; p < npix; p++, s += kk, q += c)
                    acc = _mm256_fmadd_ps(_mm256_maskload_ps(*s + cb, mt), _mm256_maskload_ps(q, mt), acc);
            if (full) _mm256_storeu_ps(g, acc);
            else _mm256_maskstore_ps(g, mt, acc);
        }
    }
}
