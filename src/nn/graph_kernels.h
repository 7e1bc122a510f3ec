/* graph_kernels.h: the fast kernels of the op graph (graph_fast.c drives them, graph_avx2.c
 * holds the AVX2+FMA code). Private to src/nn. The portable per-node code in graph.c and
 * graph_train.c defines the answer; these must agree with it to rounding.
 *
 * Two shapes of work cover MobileNet-like networks:
 *  - GEMM: C[m][n] (+)= op(A)[m][k] B[k][n], A element (i, p) at a[i*sai + p*sak] (row-major A
 *    has sai = lda, sak = 1; A transposed has sai = 1, sak = lda), B row p at b + p*ldb. A
 *    pointwise convolution, its input gradient and its weight gradient are each one GEMM over
 *    the pixels of the whole batch (NHWC keeps them contiguous), a k x k convolution a GEMM
 *    over an im2col band.
 *  - Tap sums over channels: out[c] = init[c] + sum_t src_t[c] * w_t[c], where src_t points at
 *    the channel vector of tap t (or at zeros where the tap falls outside the picture). The
 *    depthwise forward and its input gradient are such sums (the latter gathers, per input
 *    pixel, the output pixels that read it); the weight gradient is the transposed sum
 *    gw_t[c] += sum_p src_{p,t}[c] * go_p[c]. */
#ifndef FS_NN_GRAPH_KERNELS_H
#define FS_NN_GRAPH_KERNELS_H

#include <stddef.h>

#include "fakescope/graph.h"

/* Floats of scratch one thread's GEMM needs (a packed panel of B; 64-byte aligned). */
#define FS_GK_GEMM_SCRATCH (256 * 16)

/* m rows of C. accumulate = 0 overwrites C; bias (n floats, or NULL) and act are applied
 * after the sum (ignored when accumulating). scratch: FS_GK_GEMM_SCRATCH floats, 32-byte
 * aligned. */
void fs_gk_gemm_avx2(int m, int n, int k, const float *a, size_t sai, size_t sak, const float *b,
                     size_t ldb, float *c, size_t ldc, int accumulate, const float *bias,
                     fs_act act, float *scratch);

/* The same with B packed by fs_gk_pack_b: no per-block packing (weights packed once). */
void fs_gk_gemm_packed_avx2(int m, int n, int k, const float *a, size_t sai, size_t sak,
                            const float *bp, float *c, size_t ldc, int accumulate,
                            const float *bias, fs_act act);
/* The same two with 512-bit vectors (graph_avx512.c), for FS_ISA_AVX512. */
void fs_gk_gemm_avx512(int m, int n, int k, const float *a, size_t sai, size_t sak, const float *b,
                       size_t ldb, float *c, size_t ldc, int accumulate, const float *bias,
                       fs_act act, float *scratch);
void fs_gk_gemm_packed_avx512(int m, int n, int k, const float *a, size_t sai, size_t sak,
                              const float *bp, float *c, size_t ldc, int accumulate,
                              const float *bias, fs_act act);
/* Floats of B (k x n) packed: panels of 16 columns, the last padded with zeros. */
static inline size_t fs_gk_packed_floats(int k, int n) { return (size_t)(n + 15) / 16 * 16 * (size_t)k; }
/* Panels [j0, j1) of B (k x n) into bp ([panel][k][16]); B(p, j) = b[p*sp + j*sj] (row-major
 * B: sp = ldb, sj = 1; B = W^T of a row-major W: sp = 1, sj = W's row length). Portable. */
void fs_gk_pack_b(const float *b, size_t sp, size_t sj, int k, int n, float *bp, int j0, int j1);

/* npix pixels of c channels: out_p = (init_p ? init_p : bias ? bias : 0) + sum_t src[p*kk + t]
 * * w_t, w_t = w + t*c; then act. init = out (accumulate into out) when accumulate is set. */
void fs_gk_taps_avx2(int npix, int kk, int c, const float *const *src, const float *w,
                     const float *bias, int accumulate, fs_act act, float *out);
void fs_gk_taps_avx512(int npix, int kk, int c, const float *const *src, const float *w,
                       const float *bias, int accumulate, fs_act act, float *out);
/* gw_t[ch] += sum over npix pixels of src[p*kk + t][ch] * go[p*c + ch] (gw: kk x c). */
void fs_gk_taps_wgrad_avx2(int npix, int kk, int c, const float *const *src, const float *go,
                           float *gw);
void fs_gk_taps_wgrad_avx512(int npix, int kk, int c, const float *const *src, const float *go,
                             float *gw);

#endif
