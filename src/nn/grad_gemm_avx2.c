/* AVX2/FMA SGEMM for training: a 6 x 16 register tile of C (12 accumulators) fed by broadcasts
 * of op(A) and two 8-wide loads of B per k, with masked loads and stores for the columns
 * past a multiple of 8 (output channel counts such as 1, 2 and 4). The k loop is cut into
 * blocks so the slice of A in use stays in L2 while every tile of C passes over it; tiles
 * accumulate into C, which is scaled by beta once beforehand. Only called after
 * fs_cpu_has_avx2_fma(). */
#include <immintrin.h>

#include "fakescope/train.h"
#include "train_internal.h"

/* Optimised in debug builds too, so the sanitizer suite stays fast. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

#define KC 256 /* rows of B (and of A^T) per block: 256 x 400 floats of im2col fit in L2 */
#define MR 6

static inline __m256i tail_mask(int n) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

/* C[rows, 0..nw) += op(A)[rows, k0..k1) B[k0..k1, 0..nw); nw <= 16; rows <= MR. */
static void tile(int rows, int nw, int kk, const float *a, size_t sai, size_t sak,
                 const float *b, int ldb, float *c, int ldc) {
    const int n0 = nw < 8 ? nw : 8, n1 = nw > 8 ? nw - 8 : 0;
    const __m256i m0 = tail_mask(n0), m1 = tail_mask(n1 > 0 ? n1 : 0);
    __m256 acc0[MR], acc1[MR];
    for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
    if (rows == MR && n1 > 0) {
        for (int p = 0; p < kk; p++) {
            const float *bp = b + (size_t)p * ldb;
            const __m256 b0 = _mm256_loadu_ps(bp);
            const __m256 b1 = _mm256_maskload_ps(bp + 8, m1);
            const float *ap = a + (size_t)p * sak;
            for (int r = 0; r < MR; r++) {
                const __m256 av = _mm256_broadcast_ss(ap + (size_t)r * sai);
                acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
                acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
            }
        }
    } else if (rows == MR) {
        for (int p = 0; p < kk; p++) {
            const __m256 b0 = _mm256_maskload_ps(b + (size_t)p * ldb, m0);
            const float *ap = a + (size_t)p * sak;
            for (int r = 0; r < MR; r++)
                acc0[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + (size_t)r * sai), b0, acc0[r]);
        }
    } else {
        for (int p = 0; p < kk; p++) {
            const float *bp = b + (size_t)p * ldb;
            const __m256 b0 = _mm256_maskload_ps(bp, m0);
            const __m256 b1 = n1 > 0 ? _mm256_maskload_ps(bp + 8, m1) : _mm256_setzero_ps();
            const float *ap = a + (size_t)p * sak;
            for (int r = 0; r < rows; r++) {
                const __m256 av = _mm256_broadcast_ss(ap + (size_t)r * sai);
                acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
                acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float *cr = c + (size_t)r * ldc;
        _mm256_maskstore_ps(cr, m0, _mm256_add_ps(_mm256_maskload_ps(cr, m0), acc0[r]));
        if (n1 > 0)
            _mm256_maskstore_ps(cr + 8, m1, _mm256_add_ps(_mm256_maskload_ps(cr + 8, m1), acc1[r]));
    }
}

void fs_sgemm_avx2(int trans_a, int m, int n, int k, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc) {
    fs_sgemm_scale(m, n, beta, c, ldc);
    const size_t sai = trans_a ? 1 : (size_t)lda, sak = trans_a ? (size_t)lda : 1;
    for (int k0 = 0; k0 < k; k0 += KC) {
        const int kk = k - k0 < KC ? k - k0 : KC;
        for (int i = 0; i < m; i += MR) {
            const int rows = m - i < MR ? m - i : MR;
            for (int j = 0; j < n; j += 16) {
                const int nw = n - j < 16 ? n - j : 16;
                tile(rows, nw, kk, a + (size_t)i * sai + (size_t)k0 * sak, sai, sak,
                     b + (size_t)k0 * ldb + j, ldb, c + (size_t)i * ldc + j, ldc);
            }
        }
    }
}
