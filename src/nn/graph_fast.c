/* graph_fast.c: the op graph's forward and backward passes on the fast kernels
 * (graph_kernels.h) and the graph's threads. The pool runs one function for the whole pass:
 * every thread walks the nodes in order, takes its share of each and meets the others at a
 * barrier after it (a wake-up per node would cost more than a small node's work). Shares are
 * contiguous ranges of pixels, rows or channels, so each thread writes only its part of an
 * output; sums over the batch (batch-norm statistics, weight gradients of depthwise and k x k
 * convolutions) are kept per thread and added in thread order, so two runs with the same
 * thread count give the same bits.
 *
 *  - a pointwise convolution is one GEMM over every pixel of the batch (forward, input
 *    gradient) or over the channels (weight gradient), bias and activation in its epilogue;
 *  - a k x k convolution is a GEMM per band of im2col rows;
 *  - a depthwise convolution (k <= 7) sums taps through a table of pointers per output row
 *    (zeros where a tap falls in the padding), its input gradient the same sum gathered per
 *    input row, its weight gradient the transposed sum;
 *  - batch norm, add and the activations' backward are split by pixels;
 *  - a dense layer is a GEMM over the batch, split by items;
 *  - the rest (pooling, softmax, squeeze-and-excitation) is small and runs the
 *    portable code on thread 0. */
#include <math.h>
#include <string.h>

#include "fakescope/nn.h"
#include "graph_internal.h"
#include "graph_kernels.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2", "tree-vectorize")
#endif

#define PACK_BYTES (FS_GK_GEMM_SCRATCH * sizeof(float))
#define BAND_FLOATS 65536     /* im2col rows per band: 256 KB a thread */
#define BAND_MAX 240          /* pixels a band */
#define PARTIAL_MAX (1 << 20) /* floats of a k x k convolution's weight gradient per thread */
#define MAX_TAPS 49           /* depthwise kernels up to 7 x 7 */

typedef struct job {
    fs_graph *g;
    int n, training;
    const float *dout;
} job;

static float *act_of(const fs_graph *g, const node *nd) { return g->arena + nd->offset; }
static float *grad_of(const fs_graph *g, const node *nd) { return g->tarena + nd->goff; }
/* Node nd's output from item `item` on. A shared node (fs_graph_share) holds one item in each
 * thread's lane: the leading item-wise run gives a thread whole items (nt == 1 in the kernels
 * below: lane `me`), or has all threads share one item at a time (lane 0). */
static float *at(const fs_graph *g, const node *nd, size_t item, int me, int nt) {
    if (nd->shared) return g->lanes + g->lane_floats * (size_t)(nt == 1 ? me : 0) + nd->offset;
    return act_of(g, nd) + item * fs_graph_node_floats(nd);
}
static char *work_of(const fs_graph *g, int tid) { return (char *)g->work + g->work_per * (size_t)tid; }
static float *pack_of(const fs_graph *g, int tid) { return (float *)work_of(g, tid); }
static char *extra_of(const fs_graph *g, int tid) { return work_of(g, tid) + PACK_BYTES; }

/* Thread tid's share [lo, hi) of total items. */
static void span(size_t total, int tid, int nt, size_t *lo, size_t *hi) {
    *lo = total * (size_t)tid / (size_t)nt;
    *hi = total * (size_t)(tid + 1) / (size_t)nt;
}

static float *pgrad(const fs_graph *g, const node *nd, int j) {
    if (j >= nd->np) return NULL;
    const fs_tparam *p = &g->params[nd->p0 + j];
    return p->grad && !p->frozen ? p->grad : NULL;
}

static int pointwise(const node *nd) {
    return nd->op == FS_OP_CONV && nd->k == 1 && nd->stride == 1 && nd->pad_top == 0 &&
           nd->pad_left == 0;
}
static int general_conv(const node *nd) { return nd->op == FS_OP_CONV && !pointwise(nd); }
static int dw_fast(const node *nd) { return nd->op == FS_OP_DWCONV && nd->k * nd->k <= MAX_TAPS; }

/* The depth of a convolution's or dense layer's GEMM (rows of its [k][k][cin][cout] or
 * [in][out] weights). */
static int gemm_k(const node *nd, const node *src) {
    return nd->op == FS_OP_DENSE ? src->c : nd->k * nd->k * src->c;
}

static size_t band_rows(const node *nd, const node *src) {
    const size_t row = (size_t)nd->k * nd->k * (size_t)src->c;
    size_t b = BAND_FLOATS / row / 6 * 6;
    return b < 6 ? 6 : b > BAND_MAX ? BAND_MAX : b;
}
static size_t band_bytes(const node *nd, const node *src) {
    size_t b = band_rows(nd, src) * (size_t)nd->k * nd->k * (size_t)src->c * sizeof(float);
    return (b + FS_NN_ALIGN - 1) / FS_NN_ALIGN * FS_NN_ALIGN;
}
static size_t conv_wfloats(const node *nd, const node *src) {
    return (size_t)nd->k * nd->k * (size_t)src->c * (size_t)nd->c;
}
static size_t table_bytes(const node *nd, const node *src) {
    const size_t w = (size_t)(nd->w > src->w ? nd->w : src->w);
    size_t b = w * (size_t)nd->k * nd->k * sizeof(const float *);
    return (b + FS_NN_ALIGN - 1) / FS_NN_ALIGN * FS_NN_ALIGN;
}

void fs_graph_fast_work(fs_graph *g, size_t *per_thread, size_t *zeros, size_t *wpack) {
    size_t extra = 0, z = 16, wp = 0;
    for (int i = 1; i < g->n; i++) {
        node *nd = &g->nodes[i];
        const node *src = &g->nodes[nd->in0];
        size_t e = 0;
        if (nd->op == FS_OP_CONV || nd->op == FS_OP_DENSE) {
            nd->wpoff = wp;
            wp += fs_gk_packed_floats(gemm_k(nd, src), nd->c);
            wp = (wp + 15) / 16 * 16;
        }
        if (general_conv(nd)) {
            e = band_bytes(nd, src);
            if (g->training && conv_wfloats(nd, src) <= PARTIAL_MAX)
                e += conv_wfloats(nd, src) * sizeof(float);
        } else if (dw_fast(nd)) {
            e = table_bytes(nd, src) + (g->training ? (size_t)nd->k * nd->k * nd->c * sizeof(float) : 0);
            z = (size_t)nd->c + 16 > z ? (size_t)nd->c + 16 : z;
        } else if (nd->op == FS_OP_BN) {
            e = 2 * (size_t)nd->c * sizeof(double);
        }
        extra = e > extra ? e : extra;
    }
    *per_thread = PACK_BYTES + extra;
    *zeros = (z + 15) / 16 * 16;
    *wpack = wp ? wp : 16;
}

void fs_gk_pack_b(const float *b, size_t sp, size_t sj, int k, int n, float *bp, int j0, int j1) {
    for (int jp = j0; jp < j1; jp++) {
        float *d = bp + (size_t)jp * 16 * (size_t)k;
        const int j = jp * 16, nw = n - j < 16 ? n - j : 16;
        for (int p = 0; p < k; p++, d += 16) {
            const float *s = b + (size_t)p * sp + (size_t)j * sj;
            int q = 0;
            for (; q < nw; q++) d[q] = s[(size_t)q * sj];
            for (; q < 16; q++) d[q] = 0;
        }
    }
}

/* Every convolution's weights into wpack, each thread its panels (when a parameter list
 * exists the weights may have changed since the last pass, so they are packed every time). */
static void pack_weights(fs_graph *g, int tid, int nt) {
    for (int i = 1; i < g->n; i++) {
        const node *nd = &g->nodes[i];
        if (nd->op != FS_OP_CONV && nd->op != FS_OP_DENSE) continue;
        const int k = gemm_k(nd, &g->nodes[nd->in0]), panels = (nd->c + 15) / 16;
        size_t lo, hi;
        span((size_t)panels, tid, nt, &lo, &hi);
        fs_gk_pack_b(nd->weight, (size_t)nd->c, 1, k, nd->c, g->wpack + nd->wpoff, (int)lo, (int)hi);
    }
}

/* The activation a kernel applies itself: all but a training hard-swish, whose input the
 * backward pass needs (finish keeps it, then applies the activation). */
static fs_act kernel_act(const node *nd, int training) {
    return training && nd->act == FS_ACT_HSWISH ? FS_ACT_NONE : nd->act;
}
static void finish(const fs_graph *g, const node *nd, size_t lo, size_t hi, int training) {
    if (!(training && nd->act == FS_ACT_HSWISH) || hi <= lo) return; /* training: item 0 on */
    float *y = act_of(g, nd) + lo;
    memcpy(g->tarena + nd->zoff + lo, y, sizeof(float) * (hi - lo));
    for (size_t j = 0; j < hi - lo; j++) y[j] = fs_graph_act(FS_ACT_HSWISH, y[j]);
}

/* Rows [p0, p0 + nb) of the im2col matrix (over the whole batch) into col: per output pixel
 * its k x k x cin input window, zeros in the padding, in the weights' [ky][kx][cin] order. */
static void im2col(const node *nd, const node *src, const float *x, size_t p0, size_t nb, float *col) {
    const int k = nd->k, cin = src->c;
    const size_t per = (size_t)nd->h * nd->w, row = (size_t)k * k * cin, fi = fs_graph_node_floats(src);
    for (size_t q = 0; q < nb; q++) {
        const size_t pg = p0 + q, b = pg / per, r = pg % per;
        const int oy = (int)(r / (size_t)nd->w), ox = (int)(r % (size_t)nd->w);
        const float *xb = x + b * fi;
        float *d = col + q * row;
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy * nd->stride + ky * nd->dil - nd->pad_top;
            for (int kx = 0; kx < k; kx++, d += cin) {
                const int ix = ox * nd->stride + kx * nd->dil - nd->pad_left;
                if (iy < 0 || iy >= src->h || ix < 0 || ix >= src->w)
                    memset(d, 0, sizeof(float) * (size_t)cin);
                else
                    memcpy(d, xb + ((size_t)iy * src->w + ix) * cin, sizeof(float) * (size_t)cin);
            }
        }
    }
}

/* The input pixel each tap of output row oy reads (ow x kk pointers into xb, item-relative). */
static void dw_table_fwd(const fs_graph *g, const node *nd, const node *src, const float *xb,
                         int oy, const float **t) {
    const int k = nd->k, c = nd->c;
    for (int ox = 0; ox < nd->w; ox++)
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy * nd->stride + ky * nd->dil - nd->pad_top;
            for (int kx = 0; kx < k; kx++) {
                const int ix = ox * nd->stride + kx * nd->dil - nd->pad_left;
                *t++ = iy < 0 || iy >= src->h || ix < 0 || ix >= src->w
                           ? g->zeros
                           : xb + ((size_t)iy * src->w + ix) * c;
            }
        }
}

/* For input row iy: per input pixel and tap, the output pixel whose gradient flows back
 * through that tap (zeros where none does). */
static void dw_table_back(const fs_graph *g, const node *nd, const node *src, const float *gyb,
                          int iy, const float **t) {
    const int k = nd->k, c = nd->c, s = nd->stride;
    for (int ix = 0; ix < src->w; ix++)
        for (int ky = 0; ky < k; ky++) {
            const int ny = iy + nd->pad_top - ky * nd->dil, oy = ny / s;
            const int vy = ny >= 0 && ny % s == 0 && oy < nd->h;
            for (int kx = 0; kx < k; kx++) {
                const int nx = ix + nd->pad_left - kx * nd->dil, ox = nx / s;
                *t++ = vy && nx >= 0 && nx % s == 0 && ox < nd->w
                           ? gyb + ((size_t)oy * nd->w + ox) * c
                           : g->zeros;
            }
        }
}

/* The GEMMs of graph_kernels.h with the graph's vector width. */
static void gemm_plain(const fs_graph *g, int m, int n, int k, const float *a, size_t sai, size_t sak,
                       const float *b, size_t ldb, float *c, size_t ldc, int accumulate,
                       const float *bias, fs_act act, float *scratch) {
    if (g->isa >= FS_ISA_AVX512)
        fs_gk_gemm_avx512(m, n, k, a, sai, sak, b, ldb, c, ldc, accumulate, bias, act, scratch);
    else
        fs_gk_gemm_avx2(m, n, k, a, sai, sak, b, ldb, c, ldc, accumulate, bias, act, scratch);
}
static void gemm_packed(const fs_graph *g, int m, int n, int k, const float *a, size_t sai,
                        size_t sak, const float *bp, float *c, size_t ldc, int accumulate,
                        const float *bias, fs_act act) {
    if (g->isa >= FS_ISA_AVX512)
        fs_gk_gemm_packed_avx512(m, n, k, a, sai, sak, bp, c, ldc, accumulate, bias, act);
    else
        fs_gk_gemm_packed_avx2(m, n, k, a, sai, sak, bp, c, ldc, accumulate, bias, act);
}

static void taps(const fs_graph *g, int npix, int kk, int c, const float *const *src, const float *w,
                 const float *bias, int accumulate, fs_act act, float *out) {
    if (g->isa >= FS_ISA_AVX512) fs_gk_taps_avx512(npix, kk, c, src, w, bias, accumulate, act, out);
    else fs_gk_taps_avx2(npix, kk, c, src, w, bias, accumulate, act, out);
}
static void taps_wgrad(const fs_graph *g, int npix, int kk, int c, const float *const *src,
                       const float *go, float *gw) {
    if (g->isa >= FS_ISA_AVX512) fs_gk_taps_wgrad_avx512(npix, kk, c, src, go, gw);
    else fs_gk_taps_wgrad_avx2(npix, kk, c, src, go, gw);
}

/* ---- forward ---- */

static void fwd_pointwise(const fs_graph *g, const node *nd, int n, int training, size_t item, int me,
                          int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    const int cin = src->c, co = nd->c;
    size_t lo, hi;
    span((size_t)n * nd->h * nd->w, tid, nt, &lo, &hi);
    gemm_packed(g, (int)(hi - lo), co, cin, at(g, src, item, me, nt) + lo * cin, (size_t)cin, 1,
                           g->wpack + nd->wpoff, at(g, nd, item, me, nt) + lo * co, (size_t)co, 0, nd->bias,
                           kernel_act(nd, training));
    finish(g, nd, lo * co, hi * co, training);
}

static void fwd_conv(const fs_graph *g, const node *nd, int n, int training, size_t item, int me,
                     int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    const size_t row = (size_t)nd->k * nd->k * src->c, band = band_rows(nd, src), co = (size_t)nd->c;
    float *col = (float *)extra_of(g, me), *y = at(g, nd, item, me, nt);
    size_t lo, hi;
    span((size_t)n * nd->h * nd->w, tid, nt, &lo, &hi);
    for (size_t p0 = lo; p0 < hi; p0 += band) {
        const size_t nb = hi - p0 < band ? hi - p0 : band;
        im2col(nd, src, at(g, src, item, me, nt), p0, nb, col);
        gemm_packed(g, (int)nb, (int)co, (int)row, col, row, 1, g->wpack + nd->wpoff,
                               y + p0 * co, co, 0, nd->bias, kernel_act(nd, training));
    }
    finish(g, nd, lo * co, hi * co, training);
}

static void fwd_dw(const fs_graph *g, const node *nd, int n, int training, size_t item, int me,
                   int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    const int kk = nd->k * nd->k, c = nd->c;
    const size_t fi = fs_graph_node_floats(src), rowf = (size_t)nd->w * c;
    const float **t = (const float **)extra_of(g, me);
    size_t lo, hi;
    span((size_t)n * nd->h, tid, nt, &lo, &hi);
    for (size_t r = lo; r < hi; r++) {
        const size_t b = r / (size_t)nd->h;
        dw_table_fwd(g, nd, src, at(g, src, item, me, nt) + b * fi, (int)(r % (size_t)nd->h), t);
        taps(g, nd->w, kk, c, t, nd->weight, nd->bias, 0, kernel_act(nd, training),
                        at(g, nd, item, me, nt) + r * rowf);
    }
    finish(g, nd, lo * rowf, hi * rowf, training);
}

static void fwd_add(const fs_graph *g, const node *nd, int n, int training, size_t item, int me,
                    int tid, int nt) {
    const float *x = at(g, &g->nodes[nd->in0], item, me, nt), *z = at(g, &g->nodes[nd->in1], item, me, nt);
    float *y = at(g, nd, item, me, nt);
    size_t lo, hi;
    span(fs_graph_node_floats(nd) * (size_t)n, tid, nt, &lo, &hi);
    const fs_act a = kernel_act(nd, training);
    for (size_t j = lo; j < hi; j++) y[j] = x[j] + z[j];
    if (a != FS_ACT_NONE)
        for (size_t j = lo; j < hi; j++) y[j] = fs_graph_act(a, y[j]);
    finish(g, nd, lo, hi, training);
}

/* A dense layer = GEMM of the batch's inputs (n x cin) by its packed weights, each thread its
 * items. */
static void fwd_dense(const fs_graph *g, const node *nd, int n, int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    size_t lo, hi;
    span((size_t)n, tid, nt, &lo, &hi);
    gemm_packed(g, (int)(hi - lo), nd->c, src->c, act_of(g, src) + lo * src->c, (size_t)src->c, 1,
                g->wpack + nd->wpoff, act_of(g, nd) + lo * nd->c, (size_t)nd->c, 0, nd->bias,
                FS_ACT_NONE);
}

/* Batch norm as run_bn in graph.c, the sums split by pixels and added in thread order. */
static void fwd_bn(fs_graph *g, node *nd, int n, int training, size_t item, int tid, int nt) {
    const int c = nd->c;
    const size_t px = (size_t)nd->h * nd->w * (size_t)n;
    const float *x = at(g, &g->nodes[nd->in0], item, tid, nt); /* never shared: bn is no item op */
    double *dm = (double *)(g->arena + nd->aux), *dv = dm + c;
    float *mean = fs_graph_bn_mean(g, nd), *inv = mean + c;
    const int batch = training && !nd->bn_frozen;
    size_t lo, hi;
    span(px, tid, nt, &lo, &hi);
    if (batch) {
        double *part = (double *)extra_of(g, tid);
        for (int ch = 0; ch < c; ch++) part[ch] = 0;
        for (size_t p = lo; p < hi; p++)
            for (int ch = 0; ch < c; ch++) part[ch] += x[p * c + ch];
        fs_pool_barrier(g->pool);
        if (tid == 0)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int t = 0; t < nt; t++) s += ((double *)extra_of(g, t))[ch];
                dm[ch] = s / (double)px;
            }
        fs_pool_barrier(g->pool);
        for (int ch = 0; ch < c; ch++) part[ch] = 0;
        for (size_t p = lo; p < hi; p++)
            for (int ch = 0; ch < c; ch++) {
                const double d = x[p * c + ch] - dm[ch];
                part[ch] += d * d;
            }
        fs_pool_barrier(g->pool);
    }
    if (tid == 0) {
        nd->used_batch = batch;
        for (int ch = 0; ch < c; ch++) {
            if (batch) {
                double s = 0;
                for (int t = 0; t < nt; t++) s += ((double *)extra_of(g, t))[ch];
                dv[ch] = s / (double)px;
                const double unbiased = px > 1 ? dv[ch] * (double)px / (double)(px - 1) : dv[ch];
                mean[ch] = (float)dm[ch];
                inv[ch] = (float)(1.0 / sqrt(dv[ch] + nd->eps));
                nd->rmean[ch] = nd->momentum * nd->rmean[ch] + (1 - nd->momentum) * (float)dm[ch];
                nd->rvar[ch] = nd->momentum * nd->rvar[ch] + (1 - nd->momentum) * (float)unbiased;
            } else {
                mean[ch] = nd->rmean[ch];
                inv[ch] = 1.0f / sqrtf(nd->rvar[ch] + nd->eps);
            }
        }
        float *sc = (float *)dm, *sh = sc + c;
        for (int ch = 0; ch < c; ch++) {
            sc[ch] = nd->weight[ch] * inv[ch];
            sh[ch] = nd->bias[ch] - mean[ch] * sc[ch];
        }
    }
    fs_pool_barrier(g->pool);
    const float *sc = (const float *)dm, *sh = sc + c;
    float *y = at(g, nd, item, tid, nt);
    const fs_act a = kernel_act(nd, training);
    for (size_t p = lo; p < hi; p++) {
        const float *xi = x + p * c;
        float *yi = y + p * c;
        for (int ch = 0; ch < c; ch++) yi[ch] = xi[ch] * sc[ch] + sh[ch];
        if (a == FS_ACT_RELU6)
            for (int ch = 0; ch < c; ch++) yi[ch] = yi[ch] < 0 ? 0 : yi[ch] > 6 ? 6 : yi[ch];
        else if (a != FS_ACT_NONE)
            for (int ch = 0; ch < c; ch++) yi[ch] = fs_graph_act(a, yi[ch]);
    }
    finish(g, nd, lo * c, hi * c, training);
}

int fs_graph_fast_item(const node *nd) {
    return pointwise(nd) || general_conv(nd) || dw_fast(nd) || nd->op == FS_OP_ADD;
}

/* Node nd on items [item, item + n): thread tid of nt takes its share and meets the others
 * after it; solo: the calling thread does it all (its scratch is still thread tid's). */
static void node_fwd(fs_graph *g, node *nd, int n, int training, size_t item, int tid, int nt, int solo) {
    const int part = solo ? 0 : tid, parts = solo ? 1 : nt;
    if (pointwise(nd)) fwd_pointwise(g, nd, n, training, item, tid, part, parts);
    else if (general_conv(nd)) fwd_conv(g, nd, n, training, item, tid, part, parts);
    else if (dw_fast(nd)) fwd_dw(g, nd, n, training, item, tid, part, parts);
    else if (nd->op == FS_OP_ADD) fwd_add(g, nd, n, training, item, tid, part, parts);
    else if (nd->op == FS_OP_BN) fwd_bn(g, nd, n, training, item, tid, nt);
    else if (nd->op == FS_OP_DENSE && nd->act == FS_ACT_NONE && !solo) fwd_dense(g, nd, n, tid, nt);
    else if (tid == 0) fs_graph_node_forward(g, nd, n, training);
    if (!solo) fs_pool_barrier(g->pool);
}

/* At inference the leading run of item-wise nodes goes one item at a time, each item through
 * all of them, so its activations stay in cache from one node to the next (a whole batch
 * would not fit): with at least as many items as threads each thread takes whole items and
 * no barrier is crossed until the run ends; with fewer, the threads share each item. The rest
 * of the graph runs on the whole batch. Training needs every item of a node before the next
 * (batch statistics). */
static void forward_fn(void *arg, int tid, int nt) {
    job *j = arg;
    fs_graph *g = j->g;
    if (!g->wpacked) {
        pack_weights(g, tid, nt);
        fs_pool_barrier(g->pool);
    }
    int i = 1;
    if (!j->training && j->n > 1) {
        int lead = 1;
        while (lead < g->n && fs_graph_fast_item(&g->nodes[lead])) lead++;
        if (j->n >= nt) {
            size_t lo, hi;
            span((size_t)j->n, tid, nt, &lo, &hi);
            for (size_t b = lo; b < hi; b++)
                for (i = 1; i < lead; i++) node_fwd(g, &g->nodes[i], 1, 0, b, tid, nt, 1);
            fs_pool_barrier(g->pool);
        } else {
            for (int b = 0; b < j->n; b++)
                for (i = 1; i < lead; i++) node_fwd(g, &g->nodes[i], 1, 0, (size_t)b, tid, nt, 0);
        }
        i = lead;
    }
    for (; i < g->n; i++) node_fwd(g, &g->nodes[i], j->n, j->training, 0, tid, nt, 0);
}

void fs_graph_fast_forward(fs_graph *g, int n, int training) {
    job j = {g, n, training, NULL};
    if (g->params) g->wpacked = 0;
    fs_pool_run(g->pool, forward_fn, &j);
    g->wpacked = 1;
}

/* ---- backward ---- */

/* Column sums of gy (rows x c) into gb, each thread its columns, rows in order. */
static void bias_grad(const float *gy, size_t rows, int c, float *gb, int tid, int nt) {
    size_t lo, hi;
    span((size_t)c, tid, nt, &lo, &hi);
    for (size_t p = 0; p < rows; p++)
        for (size_t ch = lo; ch < hi; ch++) gb[ch] += gy[p * c + ch];
}

/* gw = the sum of every thread's partial (count floats), split by elements. */
static void reduce_partials(const fs_graph *g, size_t offset, float *gw, size_t count, int tid, int nt) {
    size_t lo, hi;
    span(count, tid, nt, &lo, &hi);
    for (size_t e = lo; e < hi; e++) {
        float s = 0;
        for (int t = 0; t < nt; t++) s += ((const float *)(extra_of(g, t) + offset))[e];
        gw[e] += s;
    }
}

/* A k x k convolution's weights as [k][k][cout][cin] in the training scratch (thread 0). */
static float *transposed_weights(const fs_graph *g, const node *nd, const node *src, int tid) {
    float *wt = g->tarena + g->scratch;
    if (tid == 0) {
        const size_t cin = (size_t)src->c, co = (size_t)nd->c, kk = (size_t)nd->k * nd->k;
        for (size_t t = 0; t < kk; t++)
            for (size_t i = 0; i < cin; i++)
                for (size_t c = 0; c < co; c++) wt[(t * co + c) * cin + i] = nd->weight[(t * cin + i) * co + c];
    }
    fs_pool_barrier(g->pool);
    return wt;
}

static void bk_pointwise(const fs_graph *g, const node *nd, int n, int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    const int cin = src->c, co = nd->c;
    const size_t px = (size_t)n * nd->h * nd->w;
    const float *gy = grad_of(g, nd), *x = act_of(g, src);
    float *gw = pgrad(g, nd, 0), *gb = nd->bias ? pgrad(g, nd, 1) : NULL;
    size_t lo, hi;
    if (gw) { /* gw[cin][co] = x^T gy, each thread its input channels */
        span((size_t)cin, tid, nt, &lo, &hi);
        gemm_plain(g, (int)(hi - lo), co, (int)px, x + lo, 1, (size_t)cin, gy, (size_t)co,
                        gw + lo * co, (size_t)co, 0, NULL, FS_ACT_NONE, pack_of(g, tid));
    }
    if (gb) bias_grad(gy, px, co, gb, tid, nt);
    if (src->need) { /* gx += gy W^T, W^T packed by panels of input channels */
        float *wt = g->tarena + g->scratch;
        span((size_t)(cin + 15) / 16, tid, nt, &lo, &hi);
        fs_gk_pack_b(nd->weight, 1, (size_t)co, co, cin, wt, (int)lo, (int)hi);
        fs_pool_barrier(g->pool);
        span(px, tid, nt, &lo, &hi);
        gemm_packed(g, (int)(hi - lo), cin, co, gy + lo * co, (size_t)co, 1, wt,
                               grad_of(g, src) + lo * cin, (size_t)cin, 1, NULL, FS_ACT_NONE);
    }
}

static void bk_conv(const fs_graph *g, const node *nd, int n, int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    const size_t row = (size_t)nd->k * nd->k * src->c, band = band_rows(nd, src), co = (size_t)nd->c;
    const size_t px = (size_t)n * nd->h * nd->w;
    const float *gy = grad_of(g, nd), *x = act_of(g, src);
    float *gw = pgrad(g, nd, 0), *gb = nd->bias ? pgrad(g, nd, 1) : NULL;
    size_t lo, hi;
    if (gw) { /* per thread over its pixels: part = col^T gy, then the partials added */
        float *col = (float *)extra_of(g, tid);
        float *part = (float *)(extra_of(g, tid) + band_bytes(nd, src));
        span(px, tid, nt, &lo, &hi);
        if (hi <= lo) memset(part, 0, sizeof(float) * row * co);
        for (size_t p0 = lo; p0 < hi; p0 += band) {
            const size_t nb = hi - p0 < band ? hi - p0 : band;
            im2col(nd, src, x, p0, nb, col);
            gemm_plain(g, (int)row, (int)co, (int)nb, col, 1, row, gy + p0 * co, co, part, co,
                            p0 > lo, NULL, FS_ACT_NONE, pack_of(g, tid));
        }
        fs_pool_barrier(g->pool);
        reduce_partials(g, band_bytes(nd, src), gw, row * co, tid, nt);
    }
    if (gb) bias_grad(gy, px, (int)co, gb, tid, nt);
    if (src->need) { /* the portable loop, each thread its items */
        const float *wt = transposed_weights(g, nd, src, tid);
        const size_t fi = fs_graph_node_floats(src), fo = fs_graph_node_floats(nd);
        span((size_t)n, tid, nt, &lo, &hi);
        for (size_t b = lo; b < hi; b++)
            fs_graph_conv_back_item(nd, src, x + b * fi, gy + b * fo, wt, grad_of(g, src) + b * fi,
                                    NULL, NULL);
    }
}

static void bk_dw(const fs_graph *g, const node *nd, int n, int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    const int kk = nd->k * nd->k, c = nd->c;
    const size_t fi = fs_graph_node_floats(src), fo = fs_graph_node_floats(nd);
    const size_t orow = (size_t)nd->w * c, irow = (size_t)src->w * c;
    const float *gy = grad_of(g, nd), *x = act_of(g, src);
    float *gw = pgrad(g, nd, 0), *gb = nd->bias ? pgrad(g, nd, 1) : NULL;
    const float **t = (const float **)extra_of(g, tid);
    size_t lo, hi;
    if (gw) {
        float *part = (float *)(extra_of(g, tid) + table_bytes(nd, src));
        memset(part, 0, sizeof(float) * (size_t)kk * c);
        span((size_t)n * nd->h, tid, nt, &lo, &hi);
        for (size_t r = lo; r < hi; r++) {
            dw_table_fwd(g, nd, src, x + r / (size_t)nd->h * fi, (int)(r % (size_t)nd->h), t);
            taps_wgrad(g, nd->w, kk, c, t, gy + r * orow, part);
        }
        fs_pool_barrier(g->pool);
        reduce_partials(g, table_bytes(nd, src), gw, (size_t)kk * c, tid, nt);
    }
    if (gb) bias_grad(gy, (size_t)n * nd->h * nd->w, c, gb, tid, nt);
    if (src->need) {
        float *gx = grad_of(g, src);
        span((size_t)n * src->h, tid, nt, &lo, &hi);
        for (size_t r = lo; r < hi; r++) {
            dw_table_back(g, nd, src, gy + r / (size_t)src->h * fo, (int)(r % (size_t)src->h), t);
            taps(g, src->w, kk, c, t, nd->weight, NULL, 1, FS_ACT_NONE, gx + r * irow);
        }
    }
}

static void bk_add(const fs_graph *g, const node *nd, int n, int tid, int nt) {
    const node *a = &g->nodes[nd->in0], *b = &g->nodes[nd->in1];
    const float *gy = grad_of(g, nd);
    size_t lo, hi;
    span(fs_graph_node_floats(nd) * (size_t)n, tid, nt, &lo, &hi);
    if (a->need) {
        float *gx = grad_of(g, a);
        for (size_t j = lo; j < hi; j++) gx[j] += gy[j];
    }
    if (b->need) {
        float *gx = grad_of(g, b);
        for (size_t j = lo; j < hi; j++) gx[j] += gy[j];
    }
}

/* As bn_back in graph_train.c, the sums split by pixels and added in thread order. */
static void bk_bn(const fs_graph *g, const node *nd, int n, int tid, int nt) {
    const node *src = &g->nodes[nd->in0];
    const int c = nd->c;
    const size_t count = (size_t)nd->h * nd->w * (size_t)n;
    const float *x = act_of(g, src), *gy = grad_of(g, nd), *mean = fs_graph_bn_mean(g, nd), *inv = mean + c;
    double *part = (double *)extra_of(g, tid), *sg = (double *)(g->tarena + g->scratch), *sgx = sg + c;
    size_t lo, hi;
    span(count, tid, nt, &lo, &hi);
    for (int ch = 0; ch < 2 * c; ch++) part[ch] = 0;
    for (size_t p = lo; p < hi; p++)
        for (int ch = 0; ch < c; ch++) {
            const float d = gy[p * c + ch];
            part[ch] += d;
            part[c + ch] += (double)d * ((x[p * c + ch] - mean[ch]) * inv[ch]);
        }
    fs_pool_barrier(g->pool);
    if (tid == 0) {
        float *gg = pgrad(g, nd, 0), *gb = pgrad(g, nd, 1);
        for (int ch = 0; ch < c; ch++) {
            double a = 0, b = 0;
            for (int t = 0; t < nt; t++) a += ((double *)extra_of(g, t))[ch], b += ((double *)extra_of(g, t))[c + ch];
            sg[ch] = a, sgx[ch] = b;
            if (gg) gg[ch] += (float)b;
            if (gb) gb[ch] += (float)a;
            sg[ch] /= (double)count, sgx[ch] /= (double)count;
        }
    }
    fs_pool_barrier(g->pool);
    if (!src->need) return;
    float *gx = grad_of(g, src);
    if (!nd->used_batch) {
        for (size_t p = lo; p < hi; p++)
            for (int ch = 0; ch < c; ch++) gx[p * c + ch] += gy[p * c + ch] * nd->weight[ch] * inv[ch];
        return;
    }
    for (size_t p = lo; p < hi; p++)
        for (int ch = 0; ch < c; ch++) {
            const float xh = (x[p * c + ch] - mean[ch]) * inv[ch];
            gx[p * c + ch] += nd->weight[ch] * inv[ch] * (gy[p * c + ch] - (float)sg[ch] - xh * (float)sgx[ch]);
        }
}

/* Whether node nd's backward runs on the fast kernels (else thread 0 runs the portable one). */
static int fast_back(const fs_graph *g, const node *nd) {
    if (pointwise(nd) || dw_fast(nd) || nd->op == FS_OP_ADD || nd->op == FS_OP_BN) return 1;
    return general_conv(nd) &&
           (!pgrad(g, nd, 0) || conv_wfloats(nd, &g->nodes[nd->in0]) <= PARTIAL_MAX);
}

static void backward_fn(void *arg, int tid, int nt) {
    job *j = arg;
    fs_graph *g = j->g;
    const int n = j->n;
    for (int i = 0; i < g->n; i++) {
        const node *nd = &g->nodes[i];
        if (!nd->need) continue;
        size_t lo, hi;
        span(fs_graph_node_floats(nd) * (size_t)n, tid, nt, &lo, &hi);
        memset(grad_of(g, nd) + lo, 0, sizeof(float) * (hi - lo));
    }
    fs_pool_barrier(g->pool);
    const node *last = &g->nodes[g->n - 1];
    if (tid == 0 && last->need)
        memcpy(grad_of(g, last), j->dout, sizeof(float) * fs_graph_node_floats(last) * (size_t)n);
    fs_pool_barrier(g->pool);
    for (int i = g->n - 1; i >= 1; i--) {
        node *nd = &g->nodes[i];
        if (!nd->need) continue;
        if (!fast_back(g, nd)) {
            if (tid == 0) fs_graph_node_back(g, nd, n);
            fs_pool_barrier(g->pool);
            continue;
        }
        if (nd->act != FS_ACT_NONE) {
            size_t lo, hi;
            span(fs_graph_node_floats(nd) * (size_t)n, tid, nt, &lo, &hi);
            fs_graph_act_back(nd->act, act_of(g, nd) + lo, g->tarena + nd->zoff + lo, grad_of(g, nd) + lo, hi - lo);
            fs_pool_barrier(g->pool);
        }
        if (pointwise(nd)) bk_pointwise(g, nd, n, tid, nt);
        else if (general_conv(nd)) bk_conv(g, nd, n, tid, nt);
        else if (dw_fast(nd)) bk_dw(g, nd, n, tid, nt);
        else if (nd->op == FS_OP_ADD) bk_add(g, nd, n, tid, nt);
        else bk_bn(g, nd, n, tid, nt);
        fs_pool_barrier(g->pool);
    }
}

void fs_graph_fast_backward(fs_graph *g, int n, const float *dout) {
    job j = {g, n, 1, dout};
    fs_pool_run(g->pool, backward_fn, &j);
}
