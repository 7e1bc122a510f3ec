/* Private to the training layers (src/nn/train_*.c, grad_*.c): the SGEMM kernels and the
 * worker pool the graph runs its batch slices on. */
#ifndef FAKESCOPE_TRAIN_INTERNAL_H
#define FAKESCOPE_TRAIN_INTERNAL_H

#include "fakescope/train.h"

void fs_sgemm_scale(int m, int n, float beta, float *c, int ldc);
void fs_sgemm_avx2(int trans_a, int m, int n, int k, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc);

/* A fixed set of workers: fs_tpool_run calls fn(arg, t) once for every t < threads (t = 0 on
 * the caller's thread) and returns when all have returned. */
typedef struct fs_tpool fs_tpool;
typedef void (*fs_tpool_fn)(void *arg, int t);
fs_err fs_tpool_create(int threads, fs_tpool **out, fs_msg *msg);
void fs_tpool_free(fs_tpool *p);
void fs_tpool_run(fs_tpool *p, fs_tpool_fn fn, void *arg);

#endif
