/* fconv_impl.h: what fconv.c (driver, portable kernels) and fconv_avx2.c (AVX2+FMA kernels)
 * share. Private to src/nn.
 *
 * A kernel "row" computes one convolution output row y over the full width into the band
 * buffer, with bias, ReLU and batch norm applied; pooling then reduces the band.
 * Band layouts: channels kind: [row][x][cout_pad]; pixels kind: [co][row][wpad]. */
#ifndef FS_NN_FCONV_IMPL_H
#define FS_NN_FCONV_IMPL_H

#include "fakescope/nn.h"

/* Row stride of the pixels-kind band: the width rounded up to whole vectors. */
static inline int fs_fconv_wpad(int w) { return (w + 7) / 8 * 8; }

void fs_fconv_row_channels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst);
/* Rows y and y+1 into dst and dst1. */
void fs_fconv_rows2_channels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst,
                                  float *dst1);
void fs_fconv_row_pixels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst,
                              ptrdiff_t plane);
/* Pools nrows band rows (channels layout) into output row oy; needs out->cs == 1 and
 * cout % 8 == 0. */
void fs_fconv_pool_channels_avx2(const fs_fconv *op, const float *band, int nrows, int w,
                                 const fs_view *out, int oy, int pad_left);
/* 2x2 pooling of a pixels-kind band (plane stride per channel, rows wpad apart) into output
 * row oy; needs an even width (no 'same' padding). */
void fs_fconv_pool_pixels2_avx2(const fs_fconv *op, const float *band, ptrdiff_t plane,
                                int wpad, int nrows, int w, const fs_view *out, int oy);
/* Whether fs_fconv_band_pooled_avx2 handles this op and these views (the Meso layers: stride
 * 1, dilation 1, 3x3 on 3 input channels or 5x5 on 8, 12 or 16; width a multiple of 4 and of
 * the pool; whole 8-channel groups; NHWC output). */
int fs_fconv_pooled_ok_avx2(const fs_fconv *op, const fs_view *in, const fs_view *out);
/* Convolves input rows y0 .. y0+nrows-1 (one pooling band) and max-pools them straight into
 * output row oy, no band scratch. */
void fs_fconv_band_pooled_avx2(const fs_fconv *op, const fs_view *in, int y0, int nrows,
                               const fs_view *out, int oy);
double fs_nn_fma_peak_avx2(double seconds);

/* The same pooled band for FS_ISA_AVX512 (fconv_avx512.c): 3x3 3->8, 5x5 8->8, 5x5 8, 12 or
 * 16 -> 16; width a multiple of 4 and of the pool; cout exactly 8 or 16; NHWC output. */
int fs_fconv_pooled_ok_avx512(const fs_fconv *op, const fs_view *in, const fs_view *out);
void fs_fconv_band_pooled_avx512(const fs_fconv *op, const fs_view *in, int y0, int nrows,
                                 const fs_view *out, int oy);
double fs_nn_fma_peak_avx512(double seconds);

#endif
