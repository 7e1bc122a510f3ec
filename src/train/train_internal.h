/* train_internal.h: helpers the files of train/ share and the public headers do not promise. */
#ifndef FS_TRAIN_INTERNAL_H
#define FS_TRAIN_INTERNAL_H

#include "fakescope/augment.h"

/* Widest Gaussian kernel half-width; wider sigmas are truncated there (still normalised). */
#define FS_BLUR_MAX_RADIUS 256

/* Scratch of n elements from work (reused, grown as needed), or a fresh allocation returned
 * in *owned as well when work is NULL; the caller frees *owned (free(NULL) is fine). */
float *fs_work_floats(fs_aug_work *work, size_t n, float **owned);
uint8_t *fs_work_bytes(fs_aug_work *work, size_t n, uint8_t **owned);

/* Normalised Gaussian taps k[0 .. 2r], returns r = ceil(3 sigma) clamped to [1, max_radius]. */
int fs_gauss_kernel(double sigma, float *k, int max_radius);
/* Blurs interleaved float data (w x h pixels, ch channels) in place with replicated borders;
 * tmp holds w*h*ch floats. Where every input tap is 0 the output is exactly 0. */
void fs_blur_planar(float *data, int w, int h, int ch, double sigma, float *tmp);

#endif
