/* Training graph (nn/): the layers of the MesoNet family with a forward pass that keeps what
 * the backward pass needs, and that backward pass, on float32 NHWC batches.
 *
 * Layout: every node owns an output and a gradient buffer of batch x its size. Convolutions
 * keep their weights as [kh][kw][in][out] so a band of output rows is one SGEMM of its im2col
 * rows by the weights; the backward pass rebuilds the same im2col band (cheaper than keeping
 * it) for the weight gradient and scatters the input gradient back with col2im. A ReLU after a
 * convolution is fused into it (its output decides the mask). Batch norm keeps only the batch
 * mean and inverse deviation and recomputes the normalised input from its input node.
 *
 * Determinism: worker t always takes images [N*t/T, N*(t+1)/T); parameter gradients gather in
 * per-worker buffers summed in worker order, batch-norm sums likewise (in double), and dropout
 * masks come from a counter-based generator keyed by (seed, step, node, image). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* The element-wise loops below are written to vectorise; GCC does so at -O2 only when asked.
 * The kernels are optimised in debug builds too, so the sanitizer suite stays fast (the
 * sanitizers instrument optimised code all the same). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2", "tree-vectorize")
#endif

#define BAND_FLOATS 16384 /* im2col floats per band: a band of rows stays in L2 */

typedef enum {
    OP_INPUT,
    OP_CONV,
    OP_RELU,
    OP_LEAKY,
    OP_BN,
    OP_POOL,
    OP_FLATTEN,
    OP_DENSE,
    OP_DROPOUT,
    OP_CONCAT
} op_kind;

typedef struct node {
    op_kind op;
    int in[FS_TNET_MAX_CONCAT], nin;
    int h, w, c;  /* output per image */
    size_t size;  /* h * w * c */
    /* conv */
    int k, stride, dil, relu, pad_t, pad_l, band_rows, kdim;
    /* leaky, dropout, pool */
    float slope, rate;
    int pool, pool_pt, pool_pl;
    int pw, pb, pvar, pmean; /* parameter indices: weight/gamma, bias/beta, running stats */
    float *out, *grad;
    int32_t *arg;            /* pool: input offset of each maximum */
    float *mask;             /* dropout: 0 or 1/(1-rate) */
    float *bmean, *binv;     /* bn: batch mean, 1/sqrt(var+eps) used by the last forward */
    float *wt;               /* conv: weights transposed [out][k*k*in] for the input gradient */
} node;

struct fs_tnet {
    int h, w, c, threads;
    uint64_t seed, step;
    node nodes[FS_TNET_MAX_NODES];
    int nn;
    fs_tparam params[FS_TNET_MAX_PARAMS];
    float **partial[FS_TNET_MAX_PARAMS]; /* [param][thread] gradient buffers */
    int np;
    fs_err err;
    fs_msg emsg;
    int finished, cap, batch, training, want_dx;
    fs_tpool *pool;
    float *scratch[FS_TNET_MAX_THREADS]; /* im2col + dcol band per worker */
    size_t scratch_floats;
    double *red[FS_TNET_MAX_THREADS]; /* per-worker channel sums */
    int max_c;
};

/* ---- small helpers ---- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t *s) { return (double)(splitmix(s) >> 11) * 0x1.0p-53; }
static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t s = a ^ (b * 0xD6E8FEB86659FD93ull);
    return splitmix(&s);
}

static int same_out(int in, int stride) { return (in + stride - 1) / stride; }
static int same_pad_before(int in, int k, int stride, int dil) {
    int total = (same_out(in, stride) - 1) * stride + (k - 1) * dil + 1 - in;
    return total > 0 ? total / 2 : 0;
}

static void slice(int n, int threads, int t, int *b0, int *b1) {
    *b0 = (int)((int64_t)n * t / threads);
    *b1 = (int)((int64_t)n * (t + 1) / threads);
}

static int fail_build(fs_tnet *net, const char *fmt, const char *what) {
    if (!net->err) {
        net->err = FS_ERR_INVALID;
        snprintf(net->emsg.text, sizeof net->emsg.text, fmt, what);
    }
    return -1;
}

static node *new_node(fs_tnet *net, op_kind op, int in, int *id) {
    if (net->err) return NULL;
    if (net->finished) return fail_build(net, "%s: the graph is already finished", "build"), NULL;
    if (net->nn >= FS_TNET_MAX_NODES) return fail_build(net, "%s: too many nodes", "build"), NULL;
    if (op != OP_INPUT && (in < 0 || in >= net->nn))
        return fail_build(net, "%s: input node does not exist", "build"), NULL;
    node *n = &net->nodes[net->nn];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->in[0] = in;
    n->nin = op == OP_INPUT ? 0 : 1;
    n->pw = n->pb = n->pvar = n->pmean = -1;
    if (op != OP_INPUT) {
        const node *src = &net->nodes[in];
        n->h = src->h, n->w = src->w, n->c = src->c;
    }
    *id = net->nn++;
    return n;
}

static void finish_shape(node *n) { n->size = (size_t)n->h * n->w * n->c; }

static int add_param(fs_tnet *net, const char *layer, const char *suffix, int ndim, int64_t d0,
                     int64_t d1, int64_t d2, int64_t d3, int trainable, int decay) {
    if (net->np >= FS_TNET_MAX_PARAMS) return fail_build(net, "%s: too many parameters", layer);
    fs_tparam *p = &net->params[net->np];
    memset(p, 0, sizeof *p);
    if (snprintf(p->name, sizeof p->name, "%s.%s", layer, suffix) >= (int)sizeof p->name)
        return fail_build(net, "layer name '%s' is too long", layer);
    for (int i = 0; i < net->np; i++)
        if (!strcmp(net->params[i].name, p->name))
            return fail_build(net, "parameter '%s' appears twice", p->name);
    int64_t d[4] = {d0, d1, d2, d3};
    p->ndim = ndim;
    p->count = 1;
    for (int i = 0; i < ndim; i++) p->shape[i] = d[i], p->count *= (size_t)d[i];
    p->data = calloc(p->count, sizeof(float));
    if (trainable) p->grad = calloc(p->count, sizeof(float));
    p->decay = decay;
    if (!p->data || (trainable && !p->grad)) {
        free(p->data), free(p->grad);
        net->err = FS_ERR_NOMEM;
        snprintf(net->emsg.text, sizeof net->emsg.text, "out of memory for %s", p->name);
        return -1;
    }
    return net->np++;
}

/* ---- building ---- */

fs_err fs_tnet_create(int h, int w, int c, int threads, uint64_t seed, fs_tnet **out, fs_msg *msg) {
    *out = NULL;
    if (h < 1 || w < 1 || c < 1 || h > 8192 || w > 8192 || c > 4096)
        return fs_fail(msg, FS_ERR_INVALID, "input %dx%dx%d is out of range", h, w, c);
    fs_tnet *net = calloc(1, sizeof *net);
    if (!net) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a training graph");
    fs_err err = fs_tpool_create(threads, &net->pool, msg);
    if (err) {
        free(net);
        return err;
    }
    net->h = h, net->w = w, net->c = c, net->threads = threads, net->seed = seed;
    int id;
    node *in = new_node(net, OP_INPUT, -1, &id);
    in->h = h, in->w = w, in->c = c;
    finish_shape(in);
    *out = net;
    return FS_OK;
}

int fs_tnet_conv(fs_tnet *net, int in, const char *name, int cout, int k, int stride, int dil,
                 int relu) {
    int id;
    node *n = new_node(net, OP_CONV, in, &id);
    if (!n) return -1;
    if (cout < 1 || k < 1 || stride < 1 || dil < 1 || k > 15 || stride > 8 || dil > 8)
        return fail_build(net, "conv '%s': bad channels, kernel, stride or dilation", name);
    const int cin = n->c, hin = n->h, win = n->w;
    n->k = k, n->stride = stride, n->dil = dil, n->relu = relu != 0;
    n->pad_t = same_pad_before(hin, k, stride, dil);
    n->pad_l = same_pad_before(win, k, stride, dil);
    n->h = same_out(hin, stride), n->w = same_out(win, stride), n->c = cout;
    n->kdim = k * k * cin;
    int rows = BAND_FLOATS / (n->w * n->kdim);
    n->band_rows = rows < 1 ? 1 : rows > n->h ? n->h : rows;
    finish_shape(n);
    n->pw = add_param(net, name, "weight", 4, cout, cin, k, k, 1, 1);
    n->pb = add_param(net, name, "bias", 1, cout, 0, 0, 0, 1, 0);
    n->wt = malloc((size_t)n->kdim * cout * sizeof(float));
    if (!n->wt) {
        net->err = FS_ERR_NOMEM;
        return -1;
    }
    return n->pw < 0 || n->pb < 0 ? -1 : id;
}

int fs_tnet_relu(fs_tnet *net, int in) {
    int id;
    node *n = new_node(net, OP_RELU, in, &id);
    if (!n) return -1;
    finish_shape(n);
    return id;
}

int fs_tnet_leaky(fs_tnet *net, int in, float slope) {
    int id;
    node *n = new_node(net, OP_LEAKY, in, &id);
    if (!n) return -1;
    n->slope = slope;
    finish_shape(n);
    return id;
}

int fs_tnet_bn(fs_tnet *net, int in, const char *name) {
    int id;
    node *n = new_node(net, OP_BN, in, &id);
    if (!n) return -1;
    finish_shape(n);
    n->pw = add_param(net, name, "weight", 1, n->c, 0, 0, 0, 1, 0);
    n->pb = add_param(net, name, "bias", 1, n->c, 0, 0, 0, 1, 0);
    n->pmean = add_param(net, name, "running_mean", 1, n->c, 0, 0, 0, 0, 0);
    n->pvar = add_param(net, name, "running_var", 1, n->c, 0, 0, 0, 0, 0);
    n->bmean = calloc((size_t)n->c, sizeof(float));
    n->binv = calloc((size_t)n->c, sizeof(float));
    if (!n->bmean || !n->binv) {
        net->err = FS_ERR_NOMEM;
        return -1;
    }
    return n->pvar < 0 ? -1 : id;
}

int fs_tnet_maxpool(fs_tnet *net, int in, int pool) {
    int id;
    node *n = new_node(net, OP_POOL, in, &id);
    if (!n) return -1;
    if (pool < 1 || pool > 16) return fail_build(net, "%s: pool size must be 1..16", "maxpool");
    const int hin = n->h, win = n->w;
    n->pool = pool;
    n->h = same_out(hin, pool), n->w = same_out(win, pool);
    n->pool_pt = same_pad_before(hin, pool, pool, 1);
    n->pool_pl = same_pad_before(win, pool, pool, 1);
    finish_shape(n);
    return id;
}

int fs_tnet_flatten(fs_tnet *net, int in) {
    int id;
    node *n = new_node(net, OP_FLATTEN, in, &id);
    if (!n) return -1;
    n->c = n->h * n->w * n->c, n->h = n->w = 1;
    finish_shape(n);
    return id;
}

int fs_tnet_dense(fs_tnet *net, int in, const char *name, int out) {
    int id;
    node *n = new_node(net, OP_DENSE, in, &id);
    if (!n) return -1;
    if (out < 1) return fail_build(net, "dense '%s': needs at least one output", name);
    const int64_t fin = (int64_t)n->h * n->w * n->c;
    n->h = n->w = 1, n->c = out;
    finish_shape(n);
    n->pw = add_param(net, name, "weight", 2, out, fin, 0, 0, 1, 1);
    n->pb = add_param(net, name, "bias", 1, out, 0, 0, 0, 1, 0);
    return n->pb < 0 ? -1 : id;
}

int fs_tnet_dropout(fs_tnet *net, int in, float rate) {
    int id;
    node *n = new_node(net, OP_DROPOUT, in, &id);
    if (!n) return -1;
    if (!(rate >= 0.0f && rate < 1.0f)) return fail_build(net, "%s: rate must be in [0, 1)", "dropout");
    n->rate = rate;
    finish_shape(n);
    return id;
}

int fs_tnet_concat(fs_tnet *net, const int *ins, int count) {
    if (count < 1 || count > FS_TNET_MAX_CONCAT)
        return fail_build(net, "%s: 1..8 inputs", "concat");
    int id;
    node *n = new_node(net, OP_CONCAT, ins[0], &id);
    if (!n) return -1;
    n->nin = count;
    n->c = 0;
    for (int i = 0; i < count; i++) {
        if (ins[i] < 0 || ins[i] >= id) return fail_build(net, "%s: input node does not exist", "concat");
        const node *s = &net->nodes[ins[i]];
        if (s->h != n->h || s->w != n->w)
            return fail_build(net, "%s: inputs differ in height or width", "concat");
        n->in[i] = ins[i];
        n->c += s->c;
    }
    finish_shape(n);
    return id;
}

static void glorot(float *w, size_t count, double fan_in, double fan_out, uint64_t *rng) {
    const double limit = sqrt(6.0 / (fan_in + fan_out));
    for (size_t i = 0; i < count; i++) w[i] = (float)((2.0 * uniform01(rng) - 1.0) * limit);
}

fs_err fs_tnet_finish(fs_tnet *net, fs_msg *msg) {
    if (net->err) return fs_fail(msg, net->err, "%s", net->emsg.text);
    if (net->nn < 2) return fs_fail(msg, FS_ERR_INVALID, "the graph has no layers");
    uint64_t rng = mix(net->seed, 0x1417);
    size_t scratch = 0;
    net->max_c = 1;
    for (int i = 0; i < net->nn; i++) {
        node *n = &net->nodes[i];
        if (n->c > net->max_c) net->max_c = n->c;
        if (n->op == OP_CONV) {
            const int cin = net->nodes[n->in[0]].c;
            glorot(net->params[n->pw].data, net->params[n->pw].count, (double)n->k * n->k * cin,
                   (double)n->k * n->k * n->c, &rng);
            size_t band = (size_t)n->band_rows * n->w * n->kdim;
            if (2 * band > scratch) scratch = 2 * band;
        } else if (n->op == OP_DENSE) {
            const fs_tparam *p = &net->params[n->pw];
            glorot(p->data, p->count, (double)p->shape[1], (double)p->shape[0], &rng);
        } else if (n->op == OP_BN) {
            for (int ch = 0; ch < n->c; ch++)
                net->params[n->pw].data[ch] = 1.0f, net->params[n->pvar].data[ch] = 1.0f;
        }
    }
    net->scratch_floats = scratch;
    (void)fs_sgemm_uses_avx2(); /* decide the kernel here, before workers race to */
    for (int t = 0; t < net->threads; t++) {
        net->scratch[t] = scratch ? malloc(scratch * sizeof(float)) : NULL;
        net->red[t] = malloc((size_t)net->max_c * 2 * sizeof(double));
        if ((scratch && !net->scratch[t]) || !net->red[t])
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory for training scratch");
    }
    for (int i = 0; i < net->np; i++) {
        fs_tparam *p = &net->params[i];
        int direct = 0; /* batch-norm gamma and beta come from the reduced sums */
        for (int id = 1; id < net->nn; id++)
            if (net->nodes[id].op == OP_BN && (net->nodes[id].pw == i || net->nodes[id].pb == i)) direct = 1;
        if (!p->grad || direct) continue;
        net->partial[i] = calloc((size_t)net->threads, sizeof(float *));
        if (!net->partial[i]) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for gradients");
        for (int t = 0; t < net->threads; t++) {
            net->partial[i][t] = calloc(p->count, sizeof(float));
            if (!net->partial[i][t]) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for gradients");
        }
    }
    net->finished = 1;
    return FS_OK;
}

void fs_tnet_free(fs_tnet *net) {
    if (!net) return;
    fs_tpool_free(net->pool);
    for (int i = 0; i < net->nn; i++) {
        node *n = &net->nodes[i];
        free(n->out), free(n->grad), free(n->arg), free(n->mask);
        free(n->bmean), free(n->binv), free(n->wt);
    }
    for (int i = 0; i < net->np; i++) {
        free(net->params[i].data), free(net->params[i].grad);
        if (net->partial[i])
            for (int t = 0; t < net->threads; t++) free(net->partial[i][t]);
        free(net->partial[i]);
    }
    for (int t = 0; t < FS_TNET_MAX_THREADS; t++) free(net->scratch[t]), free(net->red[t]);
    free(net);
}

void fs_tnet_node_shape(const fs_tnet *net, int id, int *h, int *w, int *c) {
    assert(id >= 0 && id < net->nn);
    *h = net->nodes[id].h, *w = net->nodes[id].w, *c = net->nodes[id].c;
}
int fs_tnet_output_size(const fs_tnet *net) { return (int)net->nodes[net->nn - 1].size; }
int fs_tnet_threads(const fs_tnet *net) { return net->threads; }
int fs_tnet_node_count(const fs_tnet *net) { return net->nn; }
const char *fs_tnet_node_kind(const fs_tnet *net, int id) {
    static const char *const names[] = {"input",   "conv",  "relu",    "leaky",   "bn",
                                        "maxpool", "flatten", "dense", "dropout", "concat"};
    assert(id >= 0 && id < net->nn);
    const node *n = &net->nodes[id];
    return n->op == OP_CONV && n->relu ? "conv+relu" : names[n->op];
}
size_t fs_tnet_param_count(const fs_tnet *net) { return (size_t)net->np; }
fs_tparam *fs_tnet_param(fs_tnet *net, size_t i) {
    return i < (size_t)net->np ? &net->params[i] : NULL;
}
fs_tparam *fs_tnet_param_find(fs_tnet *net, const char *name) {
    for (int i = 0; i < net->np; i++)
        if (!strcmp(net->params[i].name, name)) return &net->params[i];
    return NULL;
}
size_t fs_tnet_scalar_count(const fs_tnet *net) {
    size_t s = 0;
    for (int i = 0; i < net->np; i++)
        if (net->params[i].grad) s += net->params[i].count;
    return s;
}
void fs_tnet_set_step(fs_tnet *net, uint64_t step) { net->step = step; }
const float *fs_tnet_node_output(const fs_tnet *net, int id) {
    assert(id >= 0 && id < net->nn);
    return net->nodes[id].out;
}

const float *fs_tnet_node_grad(const fs_tnet *net, int id) {
    assert(id >= 0 && id < net->nn);
    return net->nodes[id].grad;
}

static fs_err reserve(fs_tnet *net, int batch, fs_msg *msg) {
    if (batch <= net->cap) return FS_OK;
    for (int i = 0; i < net->nn; i++) {
        node *n = &net->nodes[i];
        const size_t count = (size_t)batch * n->size;
        free(n->out), free(n->grad), free(n->arg), free(n->mask);
        n->out = malloc(count * sizeof(float));
        n->grad = malloc(count * sizeof(float));
        n->arg = n->op == OP_POOL ? malloc(count * sizeof(int32_t)) : NULL;
        n->mask = n->op == OP_DROPOUT ? malloc(count * sizeof(float)) : NULL;
        if (!n->out || !n->grad || (n->op == OP_POOL && !n->arg) ||
            (n->op == OP_DROPOUT && !n->mask)) {
            net->cap = 0;
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a batch of %d", batch);
        }
    }
    net->cap = batch;
    return FS_OK;
}

/* ---- convolution ---- */

/* im2col rows of output rows [r0, r1) of one image: col[p][(ky*k+kx)*cin + ci]. Where a
 * stride-1, undilated window row lies inside the image its k*cin values are contiguous in the
 * input and move as one run. */
static void im2col(const node *n, int hin, int win, int cin, const float *in, int r0, int r1,
                   float *col) {
    const int k = n->k, run = n->stride == 1 && n->dil == 1;
    for (int oy = r0; oy < r1; oy++)
        for (int ox = 0; ox < n->w; ox++) {
            float *dst = col + ((size_t)(oy - r0) * n->w + ox) * n->kdim;
            const int ix0 = ox * n->stride - n->pad_l;
            for (int ky = 0; ky < k; ky++) {
                const int iy = oy * n->stride - n->pad_t + ky * n->dil;
                if (run && iy >= 0 && iy < hin && ix0 >= 0 && ix0 + k <= win) {
                    const float *src = in + ((size_t)iy * win + ix0) * cin;
                    for (int i = 0; i < k * cin; i++) dst[i] = src[i];
                    dst += k * cin;
                    continue;
                }
                for (int kx = 0; kx < k; kx++, dst += cin) {
                    const int ix = ix0 + kx * n->dil;
                    if (iy < 0 || iy >= hin || ix < 0 || ix >= win) {
                        for (int ci = 0; ci < cin; ci++) dst[ci] = 0.0f;
                    } else {
                        const float *src = in + ((size_t)iy * win + ix) * cin;
                        for (int ci = 0; ci < cin; ci++) dst[ci] = src[ci];
                    }
                }
            }
        }
}

static void col2im_add(const node *n, int hin, int win, int cin, const float *col, int r0, int r1,
                       float *din) {
    const int k = n->k, run = n->stride == 1 && n->dil == 1;
    for (int oy = r0; oy < r1; oy++)
        for (int ox = 0; ox < n->w; ox++) {
            const float *src = col + ((size_t)(oy - r0) * n->w + ox) * n->kdim;
            const int ix0 = ox * n->stride - n->pad_l;
            for (int ky = 0; ky < k; ky++) {
                const int iy = oy * n->stride - n->pad_t + ky * n->dil;
                if (run && iy >= 0 && iy < hin && ix0 >= 0 && ix0 + k <= win) {
                    float *d = din + ((size_t)iy * win + ix0) * cin;
                    for (int i = 0; i < k * cin; i++) d[i] += src[i];
                    src += k * cin;
                    continue;
                }
                for (int kx = 0; kx < k; kx++, src += cin) {
                    const int ix = ix0 + kx * n->dil;
                    if (iy < 0 || iy >= hin || ix < 0 || ix >= win) continue;
                    float *d = din + ((size_t)iy * win + ix) * cin;
                    for (int ci = 0; ci < cin; ci++) d[ci] += src[ci];
                }
            }
        }
}

static int is_pointwise(const node *n) { return n->k == 1 && n->stride == 1; }

static void conv_forward(fs_tnet *net, node *n, int img, int t) {
    const node *src = &net->nodes[n->in[0]];
    const float *in = src->out + (size_t)img * src->size;
    float *out = n->out + (size_t)img * n->size;
    const float *w = net->params[n->pw].data, *bias = net->params[n->pb].data;
    const int cout = n->c;
    for (int r0 = 0; r0 < n->h; r0 += n->band_rows) {
        const int r1 = r0 + n->band_rows < n->h ? r0 + n->band_rows : n->h;
        const int p = (r1 - r0) * n->w;
        float *ob = out + (size_t)r0 * n->w * cout;
        for (int i = 0; i < p; i++)
            for (int o = 0; o < cout; o++) ob[(size_t)i * cout + o] = bias[o];
        if (is_pointwise(n)) {
            fs_sgemm(0, p, cout, n->kdim, in + (size_t)r0 * src->w * src->c, n->kdim, w, cout, 1.0f,
                     ob, cout);
        } else {
            float *col = net->scratch[t];
            im2col(n, src->h, src->w, src->c, in, r0, r1, col);
            fs_sgemm(0, p, cout, n->kdim, col, n->kdim, w, cout, 1.0f, ob, cout);
        }
        if (n->relu)
            for (size_t i = 0; i < (size_t)p * cout; i++) ob[i] = ob[i] > 0.0f ? ob[i] : 0.0f;
    }
}

static void conv_backward(fs_tnet *net, node *n, int img, int t, int need_dx) {
    node *src = &net->nodes[n->in[0]];
    const float *in = src->out + (size_t)img * src->size;
    float *din = src->grad + (size_t)img * src->size;
    float *dz = n->grad + (size_t)img * n->size;
    const float *out = n->out + (size_t)img * n->size;
    const int cout = n->c;
    if (n->relu)
        for (size_t i = 0; i < n->size; i++) dz[i] = out[i] > 0.0f ? dz[i] : 0.0f;
    float *dw = net->partial[n->pw][t], *db = net->partial[n->pb][t];
    for (size_t i = 0; i < (size_t)n->h * n->w; i++)
        for (int o = 0; o < cout; o++) db[o] += dz[i * cout + o];
    for (int r0 = 0; r0 < n->h; r0 += n->band_rows) {
        const int r1 = r0 + n->band_rows < n->h ? r0 + n->band_rows : n->h;
        const int p = (r1 - r0) * n->w;
        const float *dzb = dz + (size_t)r0 * n->w * cout;
        if (is_pointwise(n)) {
            const size_t off = (size_t)r0 * src->w * src->c;
            fs_sgemm(1, n->kdim, cout, p, in + off, n->kdim, dzb, cout, 1.0f, dw, cout);
            if (need_dx) fs_sgemm(0, p, n->kdim, cout, dzb, cout, n->wt, n->kdim, 1.0f, din + off, n->kdim);
        } else {
            float *col = net->scratch[t];
            float *dcol = col + (size_t)n->band_rows * n->w * n->kdim;
            im2col(n, src->h, src->w, src->c, in, r0, r1, col);
            fs_sgemm(1, n->kdim, cout, p, col, n->kdim, dzb, cout, 1.0f, dw, cout);
            if (need_dx) {
                fs_sgemm(0, p, n->kdim, cout, dzb, cout, n->wt, n->kdim, 0.0f, dcol, n->kdim);
                col2im_add(n, src->h, src->w, src->c, dcol, r0, r1, din);
            }
        }
    }
}

/* ---- pooling ---- */

static void pool_forward(fs_tnet *net, node *n, int img) {
    const node *src = &net->nodes[n->in[0]];
    const float *in = src->out + (size_t)img * src->size;
    float *out = n->out + (size_t)img * n->size;
    int32_t *arg = n->arg + (size_t)img * n->size;
    const int c = n->c, p = n->pool;
    for (int oy = 0; oy < n->h; oy++) {
        int y0 = oy * p - n->pool_pt, y1 = y0 + p;
        y0 = y0 < 0 ? 0 : y0, y1 = y1 > src->h ? src->h : y1;
        for (int ox = 0; ox < n->w; ox++) {
            int x0 = ox * p - n->pool_pl, x1 = x0 + p;
            x0 = x0 < 0 ? 0 : x0, x1 = x1 > src->w ? src->w : x1;
            assert(y0 < y1 && x0 < x1); /* 'same' pads less than a window: never empty */
            float *best = out + ((size_t)oy * n->w + ox) * c;
            int32_t *at = arg + ((size_t)oy * n->w + ox) * c;
            const int32_t first = (int32_t)(((size_t)y0 * src->w + x0) * c);
            for (int ch = 0; ch < c; ch++) best[ch] = in[first + ch], at[ch] = first + ch;
            /* scan order y, x: the first maximum wins ties */
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) {
                    const int32_t o = (int32_t)(((size_t)iy * src->w + ix) * c);
                    const float *v = in + o;
                    for (int ch = 0; ch < c; ch++) {
                        const int gt = v[ch] > best[ch];
                        best[ch] = gt ? v[ch] : best[ch];
                        at[ch] = gt ? o + ch : at[ch];
                    }
                }
        }
    }
}

/* ---- per-image forward / backward of the simple layers ---- */

static void dropout_mask(fs_tnet *net, int id, node *n, int img) {
    uint64_t s = mix(mix(mix(net->seed, net->step), (uint64_t)id), (uint64_t)img);
    float *m = n->mask + (size_t)img * n->size;
    const float keep = 1.0f / (1.0f - n->rate);
    for (size_t i = 0; i < n->size; i++) m[i] = uniform01(&s) < n->rate ? 0.0f : keep;
}

static void forward_image(fs_tnet *net, int id, int img, int t) {
    node *n = &net->nodes[id];
    const node *src = &net->nodes[n->in[0]];
    const float *in = src->out + (size_t)img * src->size;
    float *out = n->out + (size_t)img * n->size;
    switch (n->op) {
    case OP_INPUT:
    case OP_BN: break;
    case OP_CONV: conv_forward(net, n, img, t); break;
    case OP_RELU:
        for (size_t i = 0; i < n->size; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
    case OP_LEAKY:
        for (size_t i = 0; i < n->size; i++) out[i] = in[i] > 0.0f ? in[i] : n->slope * in[i];
        break;
    case OP_POOL: pool_forward(net, n, img); break;
    case OP_FLATTEN: memcpy(out, in, n->size * sizeof(float)); break;
    case OP_DENSE: {
        const fs_tparam *w = &net->params[n->pw];
        const float *b = net->params[n->pb].data;
        const size_t fin = src->size;
        for (int o = 0; o < n->c; o++) {
            const float *row = w->data + (size_t)o * fin;
            float acc = 0.0f;
            for (size_t i = 0; i < fin; i++) acc += row[i] * in[i];
            out[o] = acc + b[o];
        }
        break;
    }
    case OP_DROPOUT:
        if (!net->training || n->rate == 0.0f) {
            memcpy(out, in, n->size * sizeof(float));
        } else {
            dropout_mask(net, id, n, img);
            const float *m = n->mask + (size_t)img * n->size;
            for (size_t i = 0; i < n->size; i++) out[i] = in[i] * m[i];
        }
        break;
    case OP_CONCAT: {
        int off = 0;
        for (int j = 0; j < n->nin; j++) {
            const node *s = &net->nodes[n->in[j]];
            const float *sin = s->out + (size_t)img * s->size;
            for (size_t px = 0; px < (size_t)n->h * n->w; px++)
                memcpy(out + px * n->c + off, sin + px * s->c, (size_t)s->c * sizeof(float));
            off += s->c;
        }
        break;
    }
    }
}

static void backward_image(fs_tnet *net, int id, int img, int t) {
    node *n = &net->nodes[id];
    node *src = &net->nodes[n->in[0]];
    const int need_dx = n->in[0] != 0 || net->want_dx;
    const float *in = src->out + (size_t)img * src->size;
    float *din = src->grad + (size_t)img * src->size;
    const float *dy = n->grad + (size_t)img * n->size;
    switch (n->op) {
    case OP_INPUT:
    case OP_BN: break;
    case OP_CONV: conv_backward(net, n, img, t, need_dx); break;
    case OP_RELU:
        for (size_t i = 0; i < n->size; i++) din[i] += in[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case OP_LEAKY:
        for (size_t i = 0; i < n->size; i++) din[i] += in[i] > 0.0f ? dy[i] : n->slope * dy[i];
        break;
    case OP_POOL: {
        const int32_t *arg = n->arg + (size_t)img * n->size;
        for (size_t i = 0; i < n->size; i++) din[arg[i]] += dy[i];
        break;
    }
    case OP_FLATTEN:
        for (size_t i = 0; i < n->size; i++) din[i] += dy[i];
        break;
    case OP_DENSE: {
        const fs_tparam *w = &net->params[n->pw];
        float *dw = net->partial[n->pw][t], *db = net->partial[n->pb][t];
        const size_t fin = src->size;
        for (int o = 0; o < n->c; o++) {
            const float g = dy[o];
            const float *row = w->data + (size_t)o * fin;
            float *drow = dw + (size_t)o * fin;
            db[o] += g;
            for (size_t i = 0; i < fin; i++) drow[i] += g * in[i];
            if (need_dx)
                for (size_t i = 0; i < fin; i++) din[i] += g * row[i];
        }
        break;
    }
    case OP_DROPOUT:
        if (!net->training || n->rate == 0.0f) {
            for (size_t i = 0; i < n->size; i++) din[i] += dy[i];
        } else {
            const float *m = n->mask + (size_t)img * n->size;
            for (size_t i = 0; i < n->size; i++) din[i] += dy[i] * m[i];
        }
        break;
    case OP_CONCAT: {
        int off = 0;
        for (int j = 0; j < n->nin; j++) {
            node *s = &net->nodes[n->in[j]];
            float *sd = s->grad + (size_t)img * s->size;
            for (size_t px = 0; px < (size_t)n->h * n->w; px++)
                for (int ch = 0; ch < s->c; ch++) sd[px * s->c + ch] += dy[px * n->c + off + ch];
            off += s->c;
        }
        break;
    }
    }
}

/* ---- batch norm (two phases around a reduction in worker order) ---- */

typedef struct {
    fs_tnet *net;
    int id, phase;
    const float *dout;
} task;

/* phase 0 sums over this worker's images: forward training (x, x^2), backward (dy, dy*xhat). */
static void bn_sums(fs_tnet *net, node *n, int b0, int b1, double *red, int backward) {
    const node *src = &net->nodes[n->in[0]];
    const int c = n->c;
    for (int ch = 0; ch < 2 * c; ch++) red[ch] = 0.0;
    const size_t px = (size_t)n->h * n->w;
    /* float partial sums over runs of BN_RUN pixels, gathered in double: exact enough, and
     * the inner loops vectorise over the channels */
    enum { BN_RUN = 64 };
    float s0[c], s1[c], mu[c], inv[c];
    /* forward: shift by the running mean (checkpointed state, so a resumed run sums alike);
     * backward: the batch mean of the forward, which xhat needs */
    const float *shift = backward ? n->bmean : net->params[n->pmean].data;
    for (int ch = 0; ch < c; ch++) mu[ch] = shift[ch], inv[ch] = n->binv[ch];
    for (int img = b0; img < b1; img++) {
        const float *x = src->out + (size_t)img * n->size;
        const float *dy = n->grad + (size_t)img * n->size;
        for (size_t i0 = 0; i0 < px; i0 += BN_RUN) {
            const size_t i1 = i0 + BN_RUN < px ? i0 + BN_RUN : px;
            for (int ch = 0; ch < c; ch++) s0[ch] = s1[ch] = 0.0f;
            if (!backward) {
                for (size_t i = i0; i < i1; i++)
                    for (int ch = 0; ch < c; ch++) {
                        const float v = x[i * c + ch] - mu[ch]; /* shifted: no cancellation */
                        s0[ch] += v, s1[ch] += v * v;
                    }
            } else {
                for (size_t i = i0; i < i1; i++)
                    for (int ch = 0; ch < c; ch++) {
                        const float g = dy[i * c + ch];
                        s0[ch] += g, s1[ch] += g * ((x[i * c + ch] - mu[ch]) * inv[ch]);
                    }
            }
            for (int ch = 0; ch < c; ch++) red[ch] += s0[ch], red[c + ch] += s1[ch];
        }
    }
}

static void bn_apply(fs_tnet *net, node *n, int b0, int b1) {
    const node *src = &net->nodes[n->in[0]];
    const float *g = net->params[n->pw].data, *b = net->params[n->pb].data;
    const int c = n->c;
    float scale[c], shift[c];
    for (int ch = 0; ch < c; ch++) scale[ch] = g[ch] * n->binv[ch], shift[ch] = b[ch] - n->bmean[ch] * scale[ch];
    const size_t px = (size_t)n->h * n->w;
    for (int img = b0; img < b1; img++) {
        const float *x = src->out + (size_t)img * n->size;
        float *y = n->out + (size_t)img * n->size;
        for (size_t i = 0; i < px; i++)
            for (int ch = 0; ch < c; ch++) y[i * c + ch] = x[i * c + ch] * scale[ch] + shift[ch];
    }
}

/* dx = gamma*inv/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)) with batch statistics, or
 * gamma*inv*dy when the forward used the running averages. */
static void bn_dx(fs_tnet *net, node *n, int b0, int b1, const double *tot) {
    node *src = &net->nodes[n->in[0]];
    const float *g = net->params[n->pw].data;
    const int c = n->c;
    const double m = (double)net->batch * n->h * n->w;
    const size_t px = (size_t)n->h * n->w;
    /* dx = a*dy + b*x + e per channel */
    float a[c], b[c], e[c];
    for (int ch = 0; ch < c; ch++) {
        const double k = (double)g[ch] * n->binv[ch];
        a[ch] = (float)k;
        if (net->training) {
            const double q = k * n->binv[ch] * tot[c + ch] / m;
            b[ch] = (float)-q;
            e[ch] = (float)(-k * tot[ch] / m + q * n->bmean[ch]);
        } else {
            b[ch] = e[ch] = 0.0f;
        }
    }
    for (int img = b0; img < b1; img++) {
        const float *x = src->out + (size_t)img * n->size;
        const float *dy = n->grad + (size_t)img * n->size;
        float *dx = src->grad + (size_t)img * n->size;
        for (size_t i = 0; i < px; i++)
            for (int ch = 0; ch < c; ch++) {
                const size_t o = i * c + ch;
                dx[o] += a[ch] * dy[o] + b[ch] * x[o] + e[ch];
            }
    }
}

static void forward_task(void *vp, int t) {
    task *tk = vp;
    fs_tnet *net = tk->net;
    node *n = &net->nodes[tk->id];
    int b0, b1;
    slice(net->batch, net->threads, t, &b0, &b1);
    if (n->op == OP_BN) {
        if (tk->phase == 0) bn_sums(net, n, b0, b1, net->red[t], 0);
        else bn_apply(net, n, b0, b1);
        return;
    }
    for (int img = b0; img < b1; img++) forward_image(net, tk->id, img, t);
}

static void backward_task(void *vp, int t) {
    task *tk = vp;
    fs_tnet *net = tk->net;
    int b0, b1;
    slice(net->batch, net->threads, t, &b0, &b1);
    if (tk->id < 0) { /* zero gradients and this worker's partials, seed the output gradient */
        for (int i = 0; i < net->nn; i++) {
            node *n = &net->nodes[i];
            memset(n->grad + (size_t)b0 * n->size, 0, (size_t)(b1 - b0) * n->size * sizeof(float));
        }
        for (int i = 0; i < net->np; i++)
            if (net->partial[i]) memset(net->partial[i][t], 0, net->params[i].count * sizeof(float));
        const node *last = &net->nodes[net->nn - 1];
        memcpy(last->grad + (size_t)b0 * last->size, tk->dout + (size_t)b0 * last->size,
               (size_t)(b1 - b0) * last->size * sizeof(float));
        return;
    }
    node *n = &net->nodes[tk->id];
    if (n->op == OP_BN) {
        if (tk->phase == 0) bn_sums(net, n, b0, b1, net->red[t], 1);
        else bn_dx(net, n, b0, b1, net->red[0]);
        return;
    }
    for (int img = b0; img < b1; img++) backward_image(net, tk->id, img, t);
}

/* Sums the workers' channel sums into red[0] in worker order. */
static void reduce_red(fs_tnet *net, int c) {
    for (int t = 1; t < net->threads; t++)
        for (int ch = 0; ch < 2 * c; ch++) net->red[0][ch] += net->red[t][ch];
}

fs_err fs_tnet_forward(fs_tnet *net, const float *x, int batch, int training, const float **out,
                       fs_msg *msg) {
    if (!net->finished) return fs_fail(msg, FS_ERR_INVALID, "the graph is not finished");
    if (batch < 1) return fs_fail(msg, FS_ERR_INVALID, "batch must be at least 1");
    fs_err err = reserve(net, batch, msg);
    if (err) return err;
    net->batch = batch, net->training = training != 0;
    memcpy(net->nodes[0].out, x, (size_t)batch * net->nodes[0].size * sizeof(float));
    for (int id = 1; id < net->nn; id++) {
        node *n = &net->nodes[id];
        task tk = {net, id, 0, NULL};
        if (n->op != OP_BN) {
            fs_tpool_run(net->pool, forward_task, &tk);
            continue;
        }
        const fs_tparam *rm = &net->params[n->pmean], *rv = &net->params[n->pvar];
        if (net->training) {
            fs_tpool_run(net->pool, forward_task, &tk);
            reduce_red(net, n->c);
            const double m = (double)batch * n->h * n->w;
            for (int ch = 0; ch < n->c; ch++) {
                /* the sums were of x - running mean */
                const double d = net->red[0][ch] / m, mean = rm->data[ch] + d;
                double var = net->red[0][n->c + ch] / m - d * d;
                if (var < 0.0) var = 0.0;
                n->bmean[ch] = (float)mean;
                n->binv[ch] = (float)(1.0 / sqrt(var + FS_TNET_BN_EPS));
                const double unbiased = m > 1.0 ? var * m / (m - 1.0) : var;
                rm->data[ch] = (float)(FS_TNET_BN_MOMENTUM * rm->data[ch] + (1.0 - FS_TNET_BN_MOMENTUM) * mean);
                rv->data[ch] = (float)(FS_TNET_BN_MOMENTUM * rv->data[ch] + (1.0 - FS_TNET_BN_MOMENTUM) * unbiased);
            }
        } else {
            for (int ch = 0; ch < n->c; ch++) {
                n->bmean[ch] = rm->data[ch];
                n->binv[ch] = (float)(1.0 / sqrt((double)rv->data[ch] + FS_TNET_BN_EPS));
            }
        }
        tk.phase = 1;
        fs_tpool_run(net->pool, forward_task, &tk);
    }
    *out = net->nodes[net->nn - 1].out;
    return FS_OK;
}

void fs_tnet_backward(fs_tnet *net, const float *dout, float *dx) {
    assert(net->finished && net->batch > 0);
    net->want_dx = dx != NULL;
    task tk = {net, -1, 0, dout};
    fs_tpool_run(net->pool, backward_task, &tk);
    for (int id = net->nn - 1; id >= 1; id--) {
        node *n = &net->nodes[id];
        tk.id = id, tk.phase = 0;
        if (n->op == OP_CONV) { /* transposed weights for the input gradient */
            const float *w = net->params[n->pw].data;
            for (int k = 0; k < n->kdim; k++)
                for (int o = 0; o < n->c; o++) n->wt[(size_t)o * n->kdim + k] = w[(size_t)k * n->c + o];
        }
        fs_tpool_run(net->pool, backward_task, &tk);
        if (n->op == OP_BN) {
            reduce_red(net, n->c);
            float *dg = net->params[n->pw].grad, *db = net->params[n->pb].grad;
            for (int ch = 0; ch < n->c; ch++) db[ch] = (float)net->red[0][ch], dg[ch] = (float)net->red[0][n->c + ch];
            tk.phase = 1;
            fs_tpool_run(net->pool, backward_task, &tk);
        }
    }
    for (int i = 0; i < net->np; i++) {
        if (!net->partial[i]) continue;
        fs_tparam *p = &net->params[i];
        memcpy(p->grad, net->partial[i][0], p->count * sizeof(float));
        for (int t = 1; t < net->threads; t++)
            for (size_t j = 0; j < p->count; j++) p->grad[j] += net->partial[i][t][j];
    }
    if (dx) memcpy(dx, net->nodes[0].grad, (size_t)net->batch * net->nodes[0].size * sizeof(float));
}
