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
double fs_nn_fma_peak_avx2(double seconds);

#endif
