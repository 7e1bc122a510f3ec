/* graph.c: the op graph of graph.h with portable forward kernels. Weights are repacked at build
 * time so every inner loop runs over contiguous output channels (NHWC): a convolution adds
 * in[y][x][ci] * W[ky][kx][ci][:] to the output pixel's channel vector, a depthwise one
 * in[..][c] * W[ky][kx][c] for all c at once. The compiler vectorises those loops; the planned
 * buffers are 64-byte aligned. These kernels define the answer; faster ones must match them.
 * Activations are applied after an op's values are complete, so a training forward can keep
 * the values before a hard-swish; the backward pass is in graph_train.c. */
#include "fakescope/graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/nn.h"
#include "graph_internal.h"

/* The kernels are optimised in debug builds too, so the sanitizer suite stays fast (the
 * sanitizers instrument optimised code all the same), as in train_graph.c. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2", "tree-vectorize")
#endif

fs_err fs_graph_create(int h, int w, int c, fs_graph **out, fs_msg *msg) {
    *out = NULL;
    if (h < 1 || w < 1 || c < 1 || h > FS_GRAPH_MAX_SIDE || w > FS_GRAPH_MAX_SIDE ||
        c > FS_GRAPH_MAX_CHANNELS)
        return fs_fail(msg, FS_ERR_INVALID, "graph input %dx%dx%d out of range", h, w, c);
    fs_graph *g = calloc(1, sizeof *g);
    if (!g) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    g->cap = 64;
    g->nodes = calloc((size_t)g->cap, sizeof *g->nodes);
    if (!g->nodes) {
        free(g);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    node *in = &g->nodes[g->n++];
    in->op = FS_OP_INPUT;
    snprintf(in->name, sizeof in->name, "input");
    in->in0 = in->in1 = -1;
    in->h = h, in->w = w, in->c = c;
    g->isa = fs_nn_isa_best();
    g->threads = 1;
    *out = g;
    return FS_OK;
}

void fs_graph_free(fs_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        node *nd = &g->nodes[i];
        free(nd->weight), free(nd->bias), free(nd->rmean), free(nd->rvar), free(nd->w2), free(nd->b2);
    }
    fs_graph_drop_params(g);
    free(g->nodes);
    free(g->arena);
    free(g->tarena);
    free(g->lanes);
    free(g->work);
    free(g->wpack);
    fs_pool_free(g->pool);
    free(g);
}

fs_err fs_graph_set_threads(fs_graph *g, int threads, fs_msg *msg) {
    if (threads < 1 || threads > FS_NN_MAX_THREADS)
        return fs_fail(msg, FS_ERR_INVALID, "threads must be 1..%d, not %d", FS_NN_MAX_THREADS, threads);
    if (threads == g->threads) return FS_OK;
    fs_pool *pool = NULL;
    if (threads > 1) {
        fs_err e = fs_pool_create(threads, &pool, msg);
        if (e) return e;
    }
    fs_pool_free(g->pool);
    g->pool = pool;
    g->threads = threads;
    return FS_OK;
}

int fs_graph_threads(const fs_graph *g) { return g->threads; }

void fs_graph_set_isa(fs_graph *g, fs_isa isa) {
    fs_isa best = fs_nn_isa_best();
    g->isa = isa < best ? isa : best;
}

fs_isa fs_graph_isa(const fs_graph *g) { return g->isa; }

void fs_graph_share(fs_graph *g, int on) { g->share = on != 0; }

fs_err fs_graph_error(const fs_graph *g, fs_msg *msg) {
    if (g->err && msg) *msg = g->msg;
    return g->err;
}

int fs_graph_fail(fs_graph *g, fs_err e, const char *fmt, ...) {
    if (!g->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->msg.text, sizeof g->msg.text, fmt, ap);
        va_end(ap);
        g->err = e;
    }
    return -1;
}

#define fail fs_graph_fail
#define add_node fs_graph_add_node
#define window fs_graph_window

/* A new node reading `in` (checked), or NULL after recording the error. */
node *fs_graph_add_node(fs_graph *g, fs_op op, int in, const char *name) {
    if (g->err) return NULL;
    if (in < 0 || in >= g->n) {
        fail(g, FS_ERR_INVALID, "%s: no node %d to read", name ? name : "?", in);
        return NULL;
    }
    if (g->n == FS_GRAPH_MAX_NODES) {
        fail(g, FS_ERR_LIMIT, "a graph holds at most %d nodes", FS_GRAPH_MAX_NODES);
        return NULL;
    }
    if (g->n == g->cap) {
        node *p = realloc(g->nodes, sizeof *p * (size_t)g->cap * 2);
        if (!p) {
            fail(g, FS_ERR_NOMEM, "out of memory");
            return NULL;
        }
        g->nodes = p;
        g->cap *= 2;
    }
    free(g->arena); /* the plan and the parameter list no longer hold */
    free(g->tarena);
    free(g->lanes);
    g->lanes = NULL;
    g->lane_floats = 0;
    g->planned_lanes = 0;
    g->planned_share = 0;
    free(g->work), free(g->wpack);
    g->arena = g->tarena = NULL;
    g->work = NULL;
    g->wpack = NULL;
    g->planned_n = g->trained_n = 0;
    fs_graph_drop_params(g);
    node *nd = &g->nodes[g->n++];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->in0 = in;
    nd->in1 = -1;
    snprintf(nd->name, sizeof nd->name, "%s", name ? name : "");
    return nd;
}

/* Output size and leading padding of a k x k window over `size` pixels. */
int fs_graph_window(fs_pad pad, int size, int k, int stride, int dil, int *before) {
    int span = (k - 1) * dil + 1;
    if (pad == FS_PAD_VALID) {
        *before = 0;
        return size >= span ? (size - span) / stride + 1 : 0;
    }
    if (pad == FS_PAD_SYMMETRIC) {
        *before = span / 2;
        return (size + 2 * (span / 2) - span) / stride + 1;
    }
    *before = fs_nn_same_pad_before(size, k, stride, dil);
    return fs_nn_same_out(size, stride);
}

static int conv_like(fs_graph *g, fs_op op, int in, int cout, int k, int stride, int dil,
                     fs_pad pad, const float *weight, const float *bias, fs_act act,
                     const char *name) {
    node *nd = add_node(g, op, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    int cin = src->c;
    if (op == FS_OP_DWCONV) cout = cin;
    if (k < 1 || k > 64 || stride < 1 || stride > 64 || dil < 1 || dil > 64 || cout < 1 ||
        cout > FS_GRAPH_MAX_CHANNELS || !weight)
        return g->n--, fail(g, FS_ERR_INVALID, "%s: bad convolution (k %d, stride %d, dilation "
                            "%d, %d channels)", nd->name, k, stride, dil, cout);
    nd->k = k, nd->stride = stride, nd->dil = dil, nd->act = act, nd->c = cout, nd->padmode = pad;
    nd->h = window(pad, src->h, k, stride, dil, &nd->pad_top);
    nd->w = window(pad, src->w, k, stride, dil, &nd->pad_left);
    if (nd->h < 1 || nd->w < 1)
        return g->n--, fail(g, FS_ERR_INVALID, "%s: a %dx%d window does not fit %dx%d", nd->name,
                            k, k, src->h, src->w);
    size_t kk = (size_t)k * k;
    size_t nw = op == FS_OP_CONV ? kk * (size_t)cin * cout : kk * cout;
    nd->weight = fs_nn_alloc(nw * sizeof(float));
    nd->bias = bias ? malloc(sizeof(float) * (size_t)cout) : NULL;
    if (!nd->weight || (bias && !nd->bias)) {
        free(nd->weight), free(nd->bias);
        return g->n--, fail(g, FS_ERR_NOMEM, "out of memory for %s", nd->name);
    }
    if (op == FS_OP_CONV) /* [cout][cin][ky][kx] -> [ky][kx][cin][cout] */
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < cin; i++)
                for (size_t t = 0; t < kk; t++)
                    nd->weight[(t * cin + (size_t)i) * cout + (size_t)o] =
                        weight[((size_t)o * cin + (size_t)i) * kk + t];
    else /* [c][1][ky][kx] -> [ky][kx][c] */
        for (int c = 0; c < cout; c++)
            for (size_t t = 0; t < kk; t++) nd->weight[t * cout + (size_t)c] = weight[(size_t)c * kk + t];
    if (bias) memcpy(nd->bias, bias, sizeof(float) * (size_t)cout);
    nd->macs = (double)nd->h * nd->w * kk * cout * (op == FS_OP_CONV ? cin : 1);
    return g->n - 1;
}

int fs_graph_conv(fs_graph *g, int in, int cout, int k, int stride, int dil, fs_pad pad,
                  const float *weight, const float *bias, fs_act act, const char *name) {
    return conv_like(g, FS_OP_CONV, in, cout, k, stride, dil, pad, weight, bias, act, name);
}

int fs_graph_dwconv(fs_graph *g, int in, int k, int stride, int dil, fs_pad pad,
                    const float *weight, const float *bias, fs_act act, const char *name) {
    return conv_like(g, FS_OP_DWCONV, in, 0, k, stride, dil, pad, weight, bias, act, name);
}

int fs_graph_add(fs_graph *g, int a, int b, fs_act act, const char *name) {
    node *nd = add_node(g, FS_OP_ADD, a, name);
    if (!nd) return -1;
    if (b < 0 || b >= g->n - 1) return g->n--, fail(g, FS_ERR_INVALID, "%s: no node %d", nd->name, b);
    const node *x = &g->nodes[a], *y = &g->nodes[b];
    if (x->h != y->h || x->w != y->w || x->c != y->c)
        return g->n--, fail(g, FS_ERR_INVALID, "%s: adding %dx%dx%d to %dx%dx%d", nd->name, y->h,
                            y->w, y->c, x->h, x->w, x->c);
    nd->in1 = b;
    nd->act = act;
    nd->h = x->h, nd->w = x->w, nd->c = x->c;
    return g->n - 1;
}

int fs_graph_gap(fs_graph *g, int in, const char *name) {
    node *nd = add_node(g, FS_OP_GAP, in, name);
    if (!nd) return -1;
    nd->h = nd->w = 1;
    nd->c = g->nodes[in].c;
    return g->n - 1;
}

int fs_graph_dense(fs_graph *g, int in, int out_features, const float *weight, const float *bias,
                   const char *name) {
    node *nd = add_node(g, FS_OP_DENSE, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    if (src->h != 1 || src->w != 1 || out_features < 1 || out_features > FS_GRAPH_MAX_CHANNELS || !weight)
        return g->n--, fail(g, FS_ERR_INVALID, "%s: dense layer on a %dx%dx%d node", nd->name,
                            src->h, src->w, src->c);
    int cin = src->c;
    nd->h = nd->w = 1;
    nd->c = out_features;
    nd->weight = fs_nn_alloc(sizeof(float) * (size_t)cin * out_features);
    nd->bias = bias ? malloc(sizeof(float) * (size_t)out_features) : NULL;
    if (!nd->weight || (bias && !nd->bias)) {
        free(nd->weight), free(nd->bias);
        return g->n--, fail(g, FS_ERR_NOMEM, "out of memory for %s", nd->name);
    }
    for (int o = 0; o < out_features; o++) /* [out][in] -> [in][out] */
        for (int i = 0; i < cin; i++)
            nd->weight[(size_t)i * out_features + o] = weight[(size_t)o * cin + i];
    if (bias) memcpy(nd->bias, bias, sizeof(float) * (size_t)out_features);
    nd->macs = (double)cin * out_features;
    return g->n - 1;
}

int fs_graph_softmax(fs_graph *g, int in, const char *name) {
    node *nd = add_node(g, FS_OP_SOFTMAX, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    nd->h = src->h, nd->w = src->w, nd->c = src->c;
    return g->n - 1;
}

/* A copy of c floats, or NULL (src NULL or no memory: *bad set). */
static float *copy_floats(const float *src, size_t c, int *bad) {
    float *p = src ? malloc(sizeof(float) * c) : NULL;
    if (!p) *bad = 1;
    else memcpy(p, src, sizeof(float) * c);
    return p;
}

int fs_graph_bn(fs_graph *g, int in, const float *gamma, const float *beta, const float *mean,
                const float *var, float eps, float momentum, fs_act act, const char *name) {
    node *nd = add_node(g, FS_OP_BN, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    nd->h = src->h, nd->w = src->w, nd->c = src->c, nd->act = act;
    if (!(eps > 0) || !(momentum >= 0 && momentum < 1))
        return g->n--, fail(g, FS_ERR_INVALID, "%s: batch norm needs eps > 0 and 0 <= momentum "
                            "< 1", nd->name);
    nd->eps = eps, nd->momentum = momentum;
    int bad = 0;
    size_t c = (size_t)nd->c;
    nd->weight = copy_floats(gamma, c, &bad), nd->bias = copy_floats(beta, c, &bad);
    nd->rmean = copy_floats(mean, c, &bad), nd->rvar = copy_floats(var, c, &bad);
    if (bad) {
        int missing = !gamma || !beta || !mean || !var;
        free(nd->weight), free(nd->bias), free(nd->rmean), free(nd->rvar);
        return g->n--, missing ? fail(g, FS_ERR_INVALID, "%s: batch norm without its four arrays",
                                      nd->name)
                               : fail(g, FS_ERR_NOMEM, "out of memory for %s", nd->name);
    }
    nd->macs = (double)fs_graph_node_floats(nd);
    return g->n - 1;
}

int fs_graph_se(fs_graph *g, int in, int hidden, const float *w1, const float *b1,
                const float *w2, const float *b2, fs_gate gate, const char *name) {
    node *nd = add_node(g, FS_OP_SE, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    nd->h = src->h, nd->w = src->w, nd->c = src->c;
    if (hidden < 1 || hidden > FS_GRAPH_MAX_CHANNELS || !w1 || !b1 || !w2 || !b2 ||
        (gate != FS_GATE_HSIGMOID && gate != FS_GATE_SIGMOID))
        return g->n--, fail(g, FS_ERR_INVALID, "%s: bad squeeze-and-excitation (%d hidden units)",
                            nd->name, hidden);
    nd->hidden = hidden, nd->gate = gate;
    int bad = 0;
    size_t c = (size_t)nd->c, hc = (size_t)hidden * c;
    nd->weight = copy_floats(w1, hc, &bad), nd->bias = copy_floats(b1, (size_t)hidden, &bad);
    nd->w2 = copy_floats(w2, hc, &bad), nd->b2 = copy_floats(b2, c, &bad);
    if (bad) {
        free(nd->weight), free(nd->bias), free(nd->w2), free(nd->b2);
        return g->n--, fail(g, FS_ERR_NOMEM, "out of memory for %s", nd->name);
    }
    nd->macs = 2.0 * (double)fs_graph_node_floats(nd) + 2.0 * (double)hc;
    return g->n - 1;
}

int fs_graph_nodes(const fs_graph *g) { return g->n; }
int fs_graph_output(const fs_graph *g) { return g->n - 1; }

void fs_graph_node(const fs_graph *g, int i, fs_graph_node_info *o) {
    const node *nd = &g->nodes[i];
    o->op = nd->op;
    o->name = nd->name;
    o->h = nd->h, o->w = nd->w, o->c = nd->c;
    o->in0 = nd->in0, o->in1 = nd->in1;
    o->act = nd->act;
    o->macs = nd->macs;
    int windowed = nd->op == FS_OP_CONV || nd->op == FS_OP_DWCONV || nd->op == FS_OP_MAXPOOL;
    o->k = windowed ? nd->k : 0;
    o->stride = windowed ? nd->stride : 0;
}

/* The fast kernels' scratch for the current threads and mode (kept when it still fits). */
static fs_err plan_work(fs_graph *g, fs_msg *msg) {
    if (g->work && g->work_threads == g->threads && g->work_training == g->training) return FS_OK;
    size_t per, zeros, wp;
    fs_graph_fast_work(g, &per, &zeros, &wp);
    per = (per + FS_NN_ALIGN - 1) / FS_NN_ALIGN * FS_NN_ALIGN;
    const size_t bytes = per * (size_t)g->threads + zeros * sizeof(float);
    void *w = fs_nn_alloc(bytes);
    float *pk = fs_nn_alloc(wp * sizeof(float));
    if (!w || !pk) {
        free(w), free(pk);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for %zu MB of kernel scratch",
                       (bytes + wp * sizeof(float)) >> 20);
    }
    memset(w, 0, bytes);
    free(g->work), free(g->wpack);
    g->work = w;
    g->wpack = pk;
    g->wpacked = 0;
    g->work_per = per;
    g->work_threads = g->threads, g->work_training = g->training;
    g->zeros = (const float *)((char *)w + per * (size_t)g->threads);
    return FS_OK;
}

/* Lanes wanted: fewer than the threads that may run the leading item-wise run, or shared
 * nodes that the portable per-node code (which knows no lanes) would run, need a new plan. */
static int want_lanes(const fs_graph *g) {
    return g->share && !g->training && g->isa >= FS_ISA_AVX2;
}
/* Lanes a batch of n needs: one per thread when each thread takes whole items, else one. */
static int lanes_for(const fs_graph *g, int n) { return n >= g->threads ? g->threads : 1; }
static int lanes_stale(const fs_graph *g) {
    return g->planned_share != want_lanes(g) ||
           (g->lane_floats && g->planned_lanes < lanes_for(g, g->planned_n));
}

/* f floats rounded up to whole alignment units (every buffer starts aligned). */
static size_t aligned_floats(size_t f, size_t align) { return (f + align - 1) / align * align; }
/* Where shared node nd's buffer ends in its lane. */
static size_t lane_end(const node *nd, size_t align) {
    return nd->offset + aligned_floats(fs_graph_node_floats(nd), align);
}

/* With sharing on, at inference on the fast kernels: the nodes inside the leading item-wise
 * run whose every reader is in that run too (so not the run's last node, not an output nobody
 * reads) need one item's output per thread, not the batch's, and only until their last reader
 * has run. Each gets an offset in a lane, first fit among the buffers still to be read when it
 * is written (never its own inputs'). Returns the lane's floats (0: nothing shared). */
static size_t plan_lanes(fs_graph *g, size_t align) {
    for (int i = 0; i < g->n; i++) g->nodes[i].shared = 0;
    if (!want_lanes(g)) return 0;
    int lead = 1;
    while (lead < g->n && fs_graph_fast_item(&g->nodes[lead])) lead++;
    int *last = malloc(sizeof *last * (size_t)g->n);
    if (!last) return 0; /* nothing shared: only more memory */
    for (int i = 0; i < g->n; i++) last[i] = -1;
    for (int j = 1; j < g->n; j++) {
        const node *nd = &g->nodes[j];
        if (nd->in0 >= 0 && last[nd->in0] < j) last[nd->in0] = j;
        if (nd->in1 >= 0 && last[nd->in1] < j) last[nd->in1] = j;
    }
    size_t top = 0;
    for (int i = 1; i < lead; i++) {
        node *nd = &g->nodes[i];
        if (last[i] < 0 || last[i] >= lead) continue;
        const size_t need = aligned_floats(fs_graph_node_floats(nd), align);
        /* candidates: the lane's start and the end of every buffer still live */
        size_t best = SIZE_MAX;
        for (int c = 0; c <= i; c++) {
            size_t o;
            if (c == i) o = 0;
            else if (g->nodes[c].shared && last[c] >= i)
                o = lane_end(&g->nodes[c], align);
            else continue;
            if (o >= best) continue;
            int clash = 0;
            for (int k = 1; k < i && !clash; k++) {
                const node *q = &g->nodes[k];
                if (!q->shared || last[k] < i) continue;
                clash = o < lane_end(q, align) && q->offset < o + need;
            }
            if (!clash) best = o;
        }
        nd->shared = 1;
        nd->offset = best;
        if (best + need > top) top = best + need;
    }
    free(last);
    return top;
}

fs_err fs_graph_plan(fs_graph *g, int n, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    if (n < 1) return fs_fail(msg, FS_ERR_INVALID, "a batch holds at least one item");
    if (g->arena && g->planned_n >= n && (!g->training || g->tarena) && !lanes_stale(g))
        return plan_work(g, msg);
    /* Every node its own buffer, each aligned: simple, and the activations a feature map or a
     * backward pass needs stay readable after the run; with sharing, the leading run's inner
     * nodes in lanes instead (plan_lanes). */
    size_t total = 0, align = FS_NN_ALIGN / sizeof(float);
    const size_t lane = plan_lanes(g, align);
    const int lanes = lane ? lanes_for(g, n) : 0;
    for (int i = 0; i < g->n; i++) {
        node *nd = &g->nodes[i];
        size_t f = fs_graph_node_floats(nd) * (size_t)n;
        if (!nd->shared) {
            nd->offset = total;
            total += aligned_floats(f, align);
        }
        f = nd->op == FS_OP_BN ? 6 * (size_t)nd->c
            : nd->op == FS_OP_SE ? (3 * (size_t)nd->c + (size_t)nd->hidden) * (size_t)n : 0;
        nd->aux = total;
        total += aligned_floats(f, align);
    }
    size_t ttotal = g->training ? fs_graph_train_layout(g, n) : 0;
    float *a = fs_nn_alloc(total * sizeof(float));
    float *t = ttotal ? fs_nn_alloc(ttotal * sizeof(float)) : NULL;
    float *l = lanes ? fs_nn_alloc(lane * (size_t)lanes * sizeof(float)) : NULL;
    if (!a || (ttotal && !t) || (lanes && !l)) { /* the offsets changed: the old plan goes too */
        free(a), free(t), free(l), free(g->arena), free(g->tarena), free(g->lanes);
        g->arena = g->tarena = g->lanes = NULL;
        g->lane_floats = 0, g->planned_lanes = 0;
        g->planned_n = g->trained_n = 0;
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory planning %zu MB of activations",
                       (total + ttotal + lane * (size_t)lanes) * sizeof(float) >> 20);
    }
    if (t) memset(t, 0, ttotal * sizeof(float));
    free(g->arena), free(g->tarena), free(g->lanes);
    g->arena = a, g->tarena = t, g->lanes = l;
    g->lane_floats = lane, g->planned_lanes = lanes;
    g->planned_share = want_lanes(g);
    g->arena_floats = total, g->tarena_floats = ttotal;
    g->planned_n = n;
    g->trained_n = 0;
    return plan_work(g, msg);
}

size_t fs_graph_planned_bytes(const fs_graph *g) {
    if (!g->arena) return 0;
    return (g->arena_floats + g->tarena_floats + g->lane_floats * (size_t)g->planned_lanes) * sizeof(float) +
           g->work_per * (size_t)g->work_threads;
}

static float *act_of(const fs_graph *g, const node *nd) { return g->arena + nd->offset; }

/* One item of a convolution or depthwise convolution, before its activation. */
static void run_conv(const node *nd, const node *src, const float *in, float *out) {
    const int cin = src->c, cout = nd->c, k = nd->k, dw = nd->op == FS_OP_DWCONV;
    for (int oy = 0; oy < nd->h; oy++)
        for (int ox = 0; ox < nd->w; ox++) {
            float *o = out + ((size_t)oy * nd->w + ox) * cout;
            if (nd->bias) memcpy(o, nd->bias, sizeof(float) * (size_t)cout);
            else memset(o, 0, sizeof(float) * (size_t)cout);
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * nd->stride + ky * nd->dil - nd->pad_top;
                if (iy < 0 || iy >= src->h) continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * nd->stride + kx * nd->dil - nd->pad_left;
                    if (ix < 0 || ix >= src->w) continue;
                    const float *x = in + ((size_t)iy * src->w + ix) * cin;
                    const float *wt = nd->weight + ((size_t)ky * k + kx) * (size_t)(dw ? cout : cin * cout);
                    if (dw) {
                        for (int c = 0; c < cout; c++) o[c] += x[c] * wt[c];
                    } else {
                        for (int i = 0; i < cin; i++) {
                            const float xi = x[i];
                            const float *wr = wt + (size_t)i * cout;
                            for (int c = 0; c < cout; c++) o[c] += xi * wr[c];
                        }
                    }
                }
            }
        }
}

void fs_graph_channel_stats(const float *x, size_t px, int c, double *mean, double *var) {
    for (int ch = 0; ch < c; ch++) mean[ch] = var[ch] = 0;
    for (size_t p = 0; p < px; p++)
        for (int ch = 0; ch < c; ch++) mean[ch] += x[p * c + ch];
    for (int ch = 0; ch < c; ch++) mean[ch] /= (double)px;
    for (size_t p = 0; p < px; p++)
        for (int ch = 0; ch < c; ch++) {
            const double d = x[p * c + ch] - mean[ch];
            var[ch] += d * d;
        }
    for (int ch = 0; ch < c; ch++) var[ch] /= (double)px;
}

/* Batch norm over the batch of n items: batch statistics (training, not frozen: the running
 * ones are updated) or the running ones; keeps the mean and 1/sqrt(var + eps) it used. */
static void run_bn(fs_graph *g, node *nd, const float *x, float *y, int n, int training) {
    const int c = nd->c;
    const size_t px = (size_t)nd->h * nd->w * (size_t)n;
    double *dm = (double *)(g->arena + nd->aux), *dv = dm + c;
    float *mean = fs_graph_bn_mean(g, nd), *inv = mean + c;
    nd->used_batch = training && !nd->bn_frozen;
    if (nd->used_batch) {
        fs_graph_channel_stats(x, px, c, dm, dv);
        for (int ch = 0; ch < c; ch++) {
            const double unbiased = px > 1 ? dv[ch] * (double)px / (double)(px - 1) : dv[ch];
            mean[ch] = (float)dm[ch];
            inv[ch] = (float)(1.0 / sqrt(dv[ch] + nd->eps));
            nd->rmean[ch] = nd->momentum * nd->rmean[ch] + (1 - nd->momentum) * (float)dm[ch];
            nd->rvar[ch] = nd->momentum * nd->rvar[ch] + (1 - nd->momentum) * (float)unbiased;
        }
    } else {
        for (int ch = 0; ch < c; ch++) {
            mean[ch] = nd->rmean[ch];
            inv[ch] = 1.0f / sqrtf(nd->rvar[ch] + nd->eps);
        }
    }
    /* y = x * s + (beta - mean * s), s = gamma * inv: one multiply-add per value */
    float *sc = (float *)dm, *sh = sc + c; /* the sums are spent */
    for (int ch = 0; ch < c; ch++) {
        sc[ch] = nd->weight[ch] * inv[ch];
        sh[ch] = nd->bias[ch] - mean[ch] * sc[ch];
    }
    for (size_t p = 0; p < px; p++) {
        const float *xi = x + p * c;
        float *yi = y + p * c;
        for (int ch = 0; ch < c; ch++) yi[ch] = xi[ch] * sc[ch] + sh[ch];
    }
}

/* One item of a squeeze-and-excitation; sv holds its s, h, v and e (3c + hidden floats). */
static void run_se(const node *nd, const float *x, float *y, float *sv) {
    const int c = nd->c, hd = nd->hidden;
    const size_t px = (size_t)nd->h * nd->w;
    float *s = sv, *h = s + c, *v = h + hd, *e = v + c;
    for (int ch = 0; ch < c; ch++) {
        double a = 0;
        for (size_t p = 0; p < px; p++) a += x[p * c + ch];
        s[ch] = (float)(a / (double)px);
    }
    for (int j = 0; j < hd; j++) {
        const float *wr = nd->weight + (size_t)j * c;
        float a = nd->bias[j];
        for (int ch = 0; ch < c; ch++) a += wr[ch] * s[ch];
        h[j] = a > 0 ? a : 0;
    }
    for (int ch = 0; ch < c; ch++) {
        const float *wr = nd->w2 + (size_t)ch * hd;
        float a = nd->b2[ch];
        for (int j = 0; j < hd; j++) a += wr[j] * h[j];
        v[ch] = a;
        if (nd->gate == FS_GATE_SIGMOID)
            e[ch] = a >= 0 ? 1.0f / (1.0f + expf(-a)) : expf(a) / (1.0f + expf(a));
        else
            e[ch] = (a + 3 < 0 ? 0 : a + 3 > 6 ? 6 : a + 3) / 6;
    }
    for (size_t p = 0; p < px; p++)
        for (int ch = 0; ch < c; ch++) y[p * c + ch] = x[p * c + ch] * e[ch];
}

void fs_graph_node_forward(fs_graph *g, node *nd, int n, int training) {
    const node *src = &g->nodes[nd->in0];
    const size_t fo = fs_graph_node_floats(nd), fi = fs_graph_node_floats(src);
    if (nd->op == FS_OP_BN) run_bn(g, nd, act_of(g, src), act_of(g, nd), n, training);
    for (int b = 0; b < n && nd->op != FS_OP_BN; b++) {
        const float *x = act_of(g, src) + fi * (size_t)b;
        float *y = act_of(g, nd) + fo * (size_t)b;
        switch (nd->op) {
        case FS_OP_CONV:
        case FS_OP_DWCONV: run_conv(nd, src, x, y); break;
        case FS_OP_ADD: {
            const float *z = act_of(g, &g->nodes[nd->in1]) + fo * (size_t)b;
            for (size_t j = 0; j < fo; j++) y[j] = x[j] + z[j];
            break;
        }
        case FS_OP_GAP: {
            const int c = nd->c;
            const size_t px = (size_t)src->h * src->w;
            /* sum in double: 49-3136 pixels of one channel */
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (size_t p = 0; p < px; p++) s += x[p * c + ch];
                y[ch] = (float)(s / (double)px);
            }
            break;
        }
        case FS_OP_DENSE: {
            const int cin = src->c, co = nd->c;
            if (nd->bias) memcpy(y, nd->bias, sizeof(float) * (size_t)co);
            else memset(y, 0, sizeof(float) * (size_t)co);
            for (int j = 0; j < cin; j++) {
                const float xj = x[j];
                const float *wr = nd->weight + (size_t)j * co;
                for (int o = 0; o < co; o++) y[o] += xj * wr[o];
            }
            break;
        }
        case FS_OP_SOFTMAX: {
            const int c = nd->c;
            for (size_t p = 0; p < fo / (size_t)c; p++) {
                const float *xi = x + p * c;
                float *yi = y + p * c, m = xi[0];
                for (int ch = 1; ch < c; ch++) m = xi[ch] > m ? xi[ch] : m;
                double s = 0;
                for (int ch = 0; ch < c; ch++) s += (yi[ch] = expf(xi[ch] - m));
                for (int ch = 0; ch < c; ch++) yi[ch] = (float)(yi[ch] / s);
            }
            break;
        }
        case FS_OP_MAXPOOL:
        case FS_OP_PAD:
        case FS_OP_RESHAPE:
        case FS_OP_CONCAT:
        case FS_OP_RESIZE:
            fs_graph_run_shape(g, nd, x,
                               nd->in1 >= 0 ? act_of(g, &g->nodes[nd->in1]) +
                                                  fs_graph_node_floats(&g->nodes[nd->in1]) * (size_t)b
                                            : NULL,
                               y);
            break;
        case FS_OP_SE:
            run_se(nd, x, y, g->arena + nd->aux + (3 * (size_t)nd->c + (size_t)nd->hidden) * (size_t)b);
            break;
        case FS_OP_BN:
        case FS_OP_INPUT: break;
        }
    }
    if (nd->act != FS_ACT_NONE) {
        float *y = act_of(g, nd);
        const size_t all = fo * (size_t)n;
        if (training && nd->act == FS_ACT_HSWISH)
            memcpy(g->tarena + nd->zoff, y, sizeof(float) * all);
        for (size_t j = 0; j < all; j++) y[j] = fs_graph_act(nd->act, y[j]);
    }
}

/* The forward pass; training keeps the values before a hard-swish and uses batch statistics. */
static fs_err run(fs_graph *g, const float *input, int n, float *out, int training, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    if (n < 1) return fs_fail(msg, FS_ERR_INVALID, "a batch holds at least one item");
    if (!g->arena || g->planned_n < n || (g->training && !g->tarena) || !g->work || lanes_stale(g) ||
        g->work_threads != g->threads || g->work_training != g->training) {
        fs_err e = fs_graph_plan(g, n, msg);
        if (e) return e;
    }
    g->trained_n = 0;
    memcpy(act_of(g, &g->nodes[0]), input, sizeof(float) * fs_graph_node_floats(&g->nodes[0]) * (size_t)n);
    if (g->isa >= FS_ISA_AVX2)
        fs_graph_fast_forward(g, n, training);
    else
        for (int i = 1; i < g->n; i++) fs_graph_node_forward(g, &g->nodes[i], n, training);
    const node *last = &g->nodes[g->n - 1];
    if (out) memcpy(out, act_of(g, last), sizeof(float) * fs_graph_node_floats(last) * (size_t)n);
    if (training) g->trained_n = n;
    return FS_OK;
}

fs_err fs_graph_forward(fs_graph *g, const float *input, int n, float *out, fs_msg *msg) {
    return run(g, input, n, out, 0, msg);
}

fs_err fs_graph_forward_train(fs_graph *g, const float *input, int n, float *out, fs_msg *msg) {
    if (!g->training)
        return fs_fail(msg, FS_ERR_INVALID, "a training forward needs fs_graph_train(g, 1) first");
    return run(g, input, n, out, 1, msg);
}

const float *fs_graph_activation(const fs_graph *g, int i) {
    return g->arena && i >= 0 && i < g->n && !g->nodes[i].shared ? act_of(g, &g->nodes[i]) : NULL;
}
