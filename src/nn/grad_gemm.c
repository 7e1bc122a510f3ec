/* SGEMM for training (nn/): the matrix product under every convolution and its two backward
 * passes (im2col rows times weights, im2col columns times output gradients, output gradients
 * times transposed weights). The shapes are skinny: one side is the number of output channels
 * (1..16 in the MesoNet family), the other the pixels of a band of rows. The portable loops
 * here define the answer; grad_gemm_avx2.c holds the register-blocked FMA kernel. */
#include <stdlib.h>

#include "fakescope/train.h"
#include "train_internal.h"

/* Optimised in debug builds too, so the sanitizer suite stays fast. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

void fs_sgemm_portable(int trans_a, int m, int n, int k, const float *a, int lda, const float *b,
                       int ldb, float beta, float *c, int ldc) {
    fs_sgemm_scale(m, n, beta, c, ldc);
    const size_t sai = trans_a ? 1 : (size_t)lda, sak = trans_a ? (size_t)lda : 1;
    for (int i = 0; i < m; i++) {
        float *crow = c + (size_t)i * ldc;
        for (int p = 0; p < k; p++) {
            const float av = a[(size_t)i * sai + (size_t)p * sak];
            if (av == 0.0f) continue;
            const float *brow = b + (size_t)p * ldb;
            for (int j = 0; j < n; j++) crow[j] += av * brow[j];
        }
    }
}

void fs_sgemm_scale(int m, int n, float beta, float *c, int ldc) {
    if (beta == 1.0f) return;
    for (int i = 0; i < m; i++) {
        float *row = c + (size_t)i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) row[j] = 0.0f;
        else
            for (int j = 0; j < n; j++) row[j] *= beta;
    }
}

static int use_avx2 = -1;

int fs_sgemm_uses_avx2(void) {
    if (use_avx2 < 0) use_avx2 = fs_cpu_has_avx2_fma() ? 1 : 0;
    return use_avx2;
}

void fs_sgemm(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (fs_sgemm_uses_avx2())
        fs_sgemm_avx2(trans_a, m, n, k, a, lda, b, ldb, beta, c, ldc);
    else
        fs_sgemm_portable(trans_a, m, n, k, a, lda, b, ldb, beta, c, ldc);
}
