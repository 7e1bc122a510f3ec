/* graph.c: the op graph of graph.h with portable forward kernels. Weights are repacked at build
 * time so every inner loop runs over contiguous output channels (NHWC): a convolution adds
 * in[y][x][ci] * W[ky][kx][ci][:] to the output pixel's channel vector, a depthwise one
 * in[..][c] * W[ky][kx][c] for all c at once. The compiler vectorises those loops; the planned
 * buffers are 64-byte aligned. These kernels define the answer; faster ones must match them. */
#include "fakescope/graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/nn.h"

typedef struct node {
    fs_op op;
    char name[FS_GRAPH_NAME_MAX];
    int in0, in1;
    int h, w, c;
    /* conv, dwconv */
    int k, stride, dil, pad_top, pad_left;
    fs_act act;
    float *weight; /* conv [k][k][cin][cout]; dwconv [k][k][c]; dense [in][out] */
    float *bias;   /* [c] or NULL */
    double macs;
    size_t offset; /* of its activation in the arena, in floats */
} node;

struct fs_graph {
    node *nodes;
    int n, cap;
    fs_err err;
    fs_msg msg;
    int planned_n;
    float *arena;
};

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
    *out = g;
    return FS_OK;
}

void fs_graph_free(fs_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        free(g->nodes[i].weight);
        free(g->nodes[i].bias);
    }
    free(g->nodes);
    free(g->arena);
    free(g);
}

fs_err fs_graph_error(const fs_graph *g, fs_msg *msg) {
    if (g->err && msg) *msg = g->msg;
    return g->err;
}

static int fail(fs_graph *g, fs_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(fs_graph *g, fs_err e, const char *fmt, ...) {
    if (!g->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->msg.text, sizeof g->msg.text, fmt, ap);
        va_end(ap);
        g->err = e;
    }
    return -1;
}

/* A new node reading `in` (checked), or NULL after recording the error. */
static node *add_node(fs_graph *g, fs_op op, int in, const char *name) {
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
    free(g->arena); /* the plan no longer holds */
    g->arena = NULL;
    g->planned_n = 0;
    node *nd = &g->nodes[g->n++];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->in0 = in;
    nd->in1 = -1;
    snprintf(nd->name, sizeof nd->name, "%s", name ? name : "");
    return nd;
}

/* Output size and leading padding of a k x k window over `size` pixels. */
static int window(fs_pad pad, int size, int k, int stride, int dil, int *before) {
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
    nd->k = k, nd->stride = stride, nd->dil = dil, nd->act = act, nd->c = cout;
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

int fs_graph_nodes(const fs_graph *g) { return g->n; }
int fs_graph_output(const fs_graph *g) { return g->n - 1; }

void fs_graph_node(const fs_graph *g, int i, fs_graph_node_info *o) {
    const node *nd = &g->nodes[i];
    o->op = nd->op;
    o->name = nd->name;
    o->h = nd->h, o->w = nd->w, o->c = nd->c;
    o->in0 = nd->in0, o->in1 = nd->in1;
    o->macs = nd->macs;
}

static size_t node_floats(const node *nd) { return (size_t)nd->h * nd->w * nd->c; }

fs_err fs_graph_plan(fs_graph *g, int n, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    if (n < 1) return fs_fail(msg, FS_ERR_INVALID, "a batch holds at least one item");
    if (g->arena && g->planned_n >= n) return FS_OK;
    /* Every node its own buffer, each aligned: simple, and the activations a feature map or a
     * backward pass needs stay readable after the run. */
    size_t total = 0, align = FS_NN_ALIGN / sizeof(float);
    for (int i = 0; i < g->n; i++) {
        g->nodes[i].offset = total;
        size_t f = node_floats(&g->nodes[i]) * (size_t)n;
        total += (f + align - 1) / align * align;
    }
    float *a = fs_nn_alloc(total * sizeof(float));
    if (!a) return fs_fail(msg, FS_ERR_NOMEM, "out of memory planning %zu MB of activations",
                           total * sizeof(float) >> 20);
    free(g->arena);
    g->arena = a;
    g->planned_n = n;
    return FS_OK;
}

static inline float activate(fs_act a, float v) {
    switch (a) {
    case FS_ACT_RELU: return v > 0 ? v : 0;
    case FS_ACT_RELU6: return v < 0 ? 0 : v > 6 ? 6 : v;
    case FS_ACT_HSWISH: {
        float r = v + 3;
        r = r < 0 ? 0 : r > 6 ? 6 : r;
        return v * r / 6;
    }
    case FS_ACT_NONE: break;
    }
    return v;
}

static float *act_of(const fs_graph *g, const node *nd) { return g->arena + nd->offset; }

/* One item of a convolution or depthwise convolution. */
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
            if (nd->act != FS_ACT_NONE)
                for (int c = 0; c < cout; c++) o[c] = activate(nd->act, o[c]);
        }
}

fs_err fs_graph_forward(fs_graph *g, const float *input, int n, float *out, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    if (n < 1) return fs_fail(msg, FS_ERR_INVALID, "a batch holds at least one item");
    if (!g->arena || g->planned_n < n) {
        fs_err e = fs_graph_plan(g, n, msg);
        if (e) return e;
    }
    memcpy(act_of(g, &g->nodes[0]), input, sizeof(float) * node_floats(&g->nodes[0]) * (size_t)n);
    for (int i = 1; i < g->n; i++) {
        const node *nd = &g->nodes[i], *src = &g->nodes[nd->in0];
        const size_t fo = node_floats(nd), fi = node_floats(src);
        for (int b = 0; b < n; b++) {
            const float *x = act_of(g, src) + fi * (size_t)b;
            float *y = act_of(g, nd) + fo * (size_t)b;
            switch (nd->op) {
            case FS_OP_CONV:
            case FS_OP_DWCONV: run_conv(nd, src, x, y); break;
            case FS_OP_ADD: {
                const float *z = act_of(g, &g->nodes[nd->in1]) + fo * (size_t)b;
                for (size_t j = 0; j < fo; j++) y[j] = activate(nd->act, x[j] + z[j]);
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
            case FS_OP_INPUT: break;
            }
        }
    }
    const node *last = &g->nodes[g->n - 1];
    memcpy(out, act_of(g, last), sizeof(float) * node_floats(last) * (size_t)n);
    return FS_OK;
}

const float *fs_graph_activation(const fs_graph *g, int i) {
    return g->arena && i >= 0 && i < g->n ? act_of(g, &g->nodes[i]) : NULL;
}
