/* nn: float32 NHWC tensors, the layers MesoNet needs with Keras 2 / TensorFlow inference
 * semantics, fused convolution kernels (AVX2+FMA and portable) and a persistent thread pool.
 *
 * Two levels:
 *  - Reference layers (fs_nn_*): plain, general (any kernel, stride, dilation, odd sizes) and
 *    slow. They define the right answer and serve tests and feature-map extraction.
 *  - The fused convolution (fs_fconv): stride-1 'same' convolution + bias + ReLU + batch norm
 *    + 'same' max pooling in one pass over a band of rows, reading from and writing to strided
 *    views of buffers that the caller planned once. This is what a forward pass runs.
 *
 * Semantics (TensorFlow 'same'): out = ceil(in / stride);
 * pad_total = max((out-1)*stride + (k-1)*dil + 1 - in, 0); pad_before = pad_total/2, the odd
 * one after. Max pooling pads with -inf (padded cells never win). Batch norm in inference
 * mode: y = gamma*(x-mean)/sqrt(var+eps)+beta, evaluated as x*s + (beta - mean*s) with
 * s = gamma/sqrt(var+eps) in float32, as TensorFlow does.
 *
 * Ownership: an fs_tensor made by fs_tensor_alloc owns its data (fs_tensor_free releases it,
 * safe on a zeroed tensor); reference layers write into caller-allocated outputs of the shape
 * the fs_nn_*_shape helpers give. An fs_fconv owns its packed weights (fs_fconv_free). */
#ifndef FAKESCOPE_NN_H
#define FAKESCOPE_NN_H

#include "fakescope/core.h"

#include <stddef.h>

#define FS_NN_BN_EPS 1e-3f     /* Keras BatchNormalization default */
#define FS_NN_LEAKY_SLOPE 0.1f /* MesoNet's LeakyReLU(alpha=0.1) */
#define FS_NN_ALIGN 64         /* byte alignment of planned buffers */
#define FS_NN_MAX_THREADS 256

/* ---- tensors ---- */
typedef struct fs_tensor {
    int n, h, w, c; /* NHWC; a dense layer's activations are n x 1 x 1 x features */
    float *data;
} fs_tensor;

fs_err fs_tensor_alloc(fs_tensor *t, int n, int h, int w, int c, fs_msg *msg); /* zeroed */
void fs_tensor_free(fs_tensor *t);
size_t fs_tensor_count(const fs_tensor *t);
#define FS_AT(t, b, y, x, ch) \
    ((t)->data[(((size_t)(b) * (t)->h + (y)) * (t)->w + (x)) * (t)->c + (ch)])

/* 64-byte aligned allocation for kernels; free with free(). NULL on failure. */
void *fs_nn_alloc(size_t bytes);

/* ---- 'same' padding arithmetic ---- */
int fs_nn_same_out(int in, int stride);
int fs_nn_same_pad_total(int in, int k, int stride, int dil);
static inline int fs_nn_same_pad_before(int in, int k, int stride, int dil) {
    return fs_nn_same_pad_total(in, k, stride, dil) / 2;
}

/* ---- reference layers ---- */
typedef struct fs_conv2d {
    int cin, cout, kh, kw;
    int stride_h, stride_w, dil_h, dil_w; /* >= 1 */
    const float *weight;                  /* PyTorch layout [cout][cin][kh][kw] */
    const float *bias;                    /* [cout] or NULL */
} fs_conv2d;

/* Output shape of a 'same' convolution of in. */
void fs_nn_conv2d_shape(const fs_conv2d *p, const fs_tensor *in, int *h, int *w);
/* out must be in->n x shape x p->cout. */
void fs_nn_conv2d(const fs_conv2d *p, const fs_tensor *in, fs_tensor *out);
void fs_nn_relu(fs_tensor *t);
void fs_nn_leaky_relu(fs_tensor *t, float slope);
/* Per-channel inference batch norm, in place; arrays have t->c entries. */
void fs_nn_batchnorm(fs_tensor *t, const float *gamma, const float *beta, const float *mean,
                     const float *var, float eps);
/* Max pooling, window pool x pool, stride, 'same' padding; out is n x ceil(h/s) x ceil(w/s) x c. */
void fs_nn_maxpool(const fs_tensor *in, int pool, int stride, fs_tensor *out);
/* Flattens n x h x w x c into n x 1 x 1 x (h*w*c) in NHWC order (h, then w, then c). */
void fs_nn_flatten(const fs_tensor *in, fs_tensor *out);
/* out[b][o] = bias[o] + sum_i weight[o][i] * in[b][i] (PyTorch layout [out][in]). */
void fs_nn_dense(const fs_tensor *in, const float *weight, const float *bias, int out_features,
                 fs_tensor *out);
/* Concatenates along channels, in the order given; all inputs share n, h, w. */
void fs_nn_concat(const fs_tensor *const *ins, int n_in, fs_tensor *out);
float fs_nn_sigmoid(float x);
/* Dropout is the identity at inference: there is deliberately no function for it. */

/* ---- kernel selection ---- */
/* Kernel sets, each a superset of the one before: FS_ISA_AVX512 runs the channel-vectorised
 * MesoNet layers with 512-bit vectors and everything else as FS_ISA_AVX2 does. */
typedef enum { FS_ISA_PORTABLE = 0, FS_ISA_AVX2 = 1, FS_ISA_AVX512 = 2 } fs_isa;
/* AVX2+FMA when the CPU has it (and FAKESCOPE_PORTABLE is not 1), else portable. */
fs_isa fs_nn_isa_best(void);
const char *fs_nn_isa_name(fs_isa isa);

/* ---- fused convolution ---- */
/* A strided view of an activation buffer. p points at element (0, 0, 0) of the interior;
 * element (y, x, ch) is p[y*ys + x*xs + ch*cs]. halo rows/columns of zeros surround the
 * interior on every side (readable at negative offsets), enough for the padding of the
 * convolution that reads the view. NHWC: xs = c, cs = 1. Planar: xs = 1, cs = plane size. */
typedef struct fs_view {
    float *p;
    int h, w, c, halo;
    ptrdiff_t ys, xs, cs;
} fs_view;

typedef enum {
    FS_FCONV_CHANNELS = 0, /* vectorised over output channels: NHWC input (xs = cin, cs = 1) */
    FS_FCONV_PIXELS = 1    /* vectorised over pixels: planar input (xs = 1), few channels */
} fs_fconv_kind;

typedef struct fs_fconv_desc {
    fs_fconv_kind kind;
    int cin, cout, k, dil; /* square kernel k x k, stride 1, 'same' padding */
    int relu;              /* ReLU after the bias */
    int pool;              /* 1 (none), or max pool pool x pool stride pool, 'same' */
    const float *weight;   /* PyTorch layout [cout][cin][k][k] */
    const float *bias;     /* [cout] or NULL */
    /* Batch norm after the ReLU (all four NULL = none), eps as given. */
    const float *bn_gamma, *bn_beta, *bn_mean, *bn_var;
    float bn_eps;
} fs_fconv_desc;

typedef struct fs_fconv {
    fs_fconv_kind kind;
    int cin, cout, cout_pad, k, dil, relu, pool, has_bn;
    float *w;            /* packed weights (layout depends on kind), aligned */
    float *wpair;        /* channels kind with 8 output channels: weights by input channel
                            pair for the AVX-512 kernels, else NULL */
    float *bias;         /* [cout_pad], zeros when absent */
    float *scale, *shift; /* batch norm as x*scale + shift, [cout_pad] */
} fs_fconv;

fs_err fs_fconv_init(fs_fconv *op, const fs_fconv_desc *d, fs_msg *msg);
void fs_fconv_free(fs_fconv *op);
/* Floats of scratch one call of fs_fconv_rows needs for an input width w. */
size_t fs_fconv_scratch(const fs_fconv *op, int w);
/* Halo an input view needs for this convolution. */
int fs_fconv_halo(const fs_fconv *op);
/* Computes pooled output rows [oy0, oy1) of out from in (in->h x in->w; out has the pooled
 * size). Reads only in (with its halo), writes only those rows of out. scratch holds
 * fs_fconv_scratch floats, 32-byte aligned. Threads may run disjoint row ranges at once. */
void fs_fconv_rows(const fs_fconv *op, fs_isa isa, const fs_view *in, const fs_view *out,
                   int oy0, int oy1, float *scratch);
/* Multiply-adds of the convolution over an h x w input (for GFLOP/s figures). */
double fs_fconv_macs(const fs_fconv *op, int h, int w);

/* ---- thread pool ---- */
/* A fixed set of threads that run one function together: fs_pool_run(pool, fn, arg) calls
 * fn(arg, tid, n) on every thread, the caller being tid 0, and returns when all have returned.
 * Inside fn, fs_pool_barrier waits for all n threads. A pool serves one caller at a time. */
typedef struct fs_pool fs_pool;
typedef void (*fs_pool_fn)(void *arg, int tid, int nthreads);
/* threads <= 0 means all online CPUs; clamped to FS_NN_MAX_THREADS. */
fs_err fs_pool_create(int threads, fs_pool **out, fs_msg *msg);
void fs_pool_free(fs_pool *pool);
int fs_pool_threads(const fs_pool *pool);
void fs_pool_run(fs_pool *pool, fs_pool_fn fn, void *arg);
void fs_pool_barrier(fs_pool *pool);

/* ---- machine ---- */
/* Measures the single-thread FMA peak in GFLOP/s (independent FMA chains, ~ms seconds). */
double fs_nn_fma_peak_gflops(fs_isa isa, double seconds);

#endif
