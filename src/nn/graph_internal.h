/* Private to the op graph (src/nn/graph*.c): the node and graph records shared by the builders
 * and forward kernels (graph.c) and the training half (graph_train.c). */
#ifndef FAKESCOPE_GRAPH_INTERNAL_H
#define FAKESCOPE_GRAPH_INTERNAL_H

#include "fakescope/graph.h"
#include "fakescope/nn.h"

typedef struct node {
    fs_op op;
    char name[FS_GRAPH_NAME_MAX];
    int in0, in1;
    int h, w, c;
    /* conv, dwconv */
    int k, stride, dil, pad_top, pad_left;
    fs_pad padmode; /* conv, dwconv, maxpool: how pad_top and pad_left were found */
    fs_act act;
    float *weight; /* conv [k][k][cin][cout]; dwconv [k][k][c]; dense [in][out]; bn gamma;
                    * se w1 [hidden][c] */
    float *bias;   /* [c] or NULL; bn beta; se b1 [hidden] */
    /* bn */
    float *rmean, *rvar;
    float eps, momentum;
    int bn_frozen;  /* training forwards use the running statistics */
    int used_batch; /* the last forward normalised with batch statistics */
    /* se */
    int hidden;
    fs_gate gate;
    float *w2, *b2; /* [c][hidden], [c] */
    /* forward-only ops: pad's leading channels, concat's axis, resize's conventions */
    int pad_c, axis, align_corners, half_pixel;
    double macs;
    size_t offset; /* of its activation in the arena, in floats (in a lane when shared) */
    int shared;    /* its output lives in the per-thread lanes (fs_graph_share): one item's
                    * worth, reused by later nodes once its last reader has run */
    size_t aux;    /* in the arena too: bn 2c doubles of scratch, then the mean and
                    * 1/sqrt(var + eps) of the last forward (6c floats in all); se per item
                    * s, h, v, e (3c + hidden) */
    /* training (offsets in the training arena, in floats) */
    int p0, np;    /* its parameters are params[p0 .. p0 + np) */
    int need;      /* the last backward passed a gradient into this node */
    size_t goff;   /* gradient, n x size */
    size_t zoff;   /* hard-swish: the value before the activation, n x size */
    size_t wpoff;  /* conv: its weights packed for the GEMM, in the graph's wpack */
} node;

struct fs_graph {
    node *nodes;
    int n, cap;
    fs_err err;
    fs_msg msg;
    int planned_n;
    float *arena;
    /* training */
    int training;       /* fs_graph_train(g, 1) */
    int trained_n;      /* batch of the last training forward, 0 when none */
    fs_tparam *params;  /* listed by fs_graph_train, NULL before */
    size_t nparams;
    float *grads;       /* every parameter gradient, one allocation */
    float *tarena;      /* the training arena, planned with the activations */
    size_t scratch;     /* in it: the backward pass's per-node scratch (largest node) */
    size_t dout;        /* in it: the output gradient of fs_graph_backward_bce (n floats) */
    /* kernels and threads (graph_fast.c) */
    fs_isa isa;         /* FS_ISA_PORTABLE: the per-node code here, one thread */
    fs_pool *pool;      /* NULL: the caller's thread alone */
    int threads;
    void *work;         /* per-thread scratch of the fast kernels, then a vector of zeros */
    size_t work_per;    /* bytes per thread */
    size_t arena_floats, tarena_floats; /* the planned arenas' sizes */
    int work_threads, work_training; /* what work was sized for */
    const float *zeros; /* in work: at least as many zero floats as any node has channels */
    float *wpack;       /* convolution weights packed in panels (graph_kernels.h) */
    /* buffer sharing (fs_graph_share): the leading item-wise run's inner nodes in lanes */
    int share;
    float *lanes;       /* planned_lanes lanes of lane_floats each */
    size_t lane_floats;
    int planned_lanes;
    int planned_share;  /* the plan was made for sharing (want_lanes in graph.c) */
    int wpacked;        /* wpack holds the current weights (no parameter list to write them) */
};

/* Whether node nd's forward can run one item at a time on the fast kernels at inference
 * (graph_fast.c): the leading run of such nodes goes item by item. */
int fs_graph_fast_item(const node *nd);

/* bn node nd's mean and 1/sqrt(var + eps) of the last forward (c floats each). */
static inline float *fs_graph_bn_mean(const fs_graph *g, const node *nd) {
    return g->arena + nd->aux + 4 * (size_t)nd->c;
}
/* Per channel mean and biased variance (in double) of px pixels of c channels. */
void fs_graph_channel_stats(const float *x, size_t px, int c, double *mean, double *var);

/* graph_shape.c: node nd's builders' shared helper and its forward for one item (x the item of
 * in0, z of in1 or NULL, y its output). */
void fs_graph_run_shape(const fs_graph *g, const node *nd, const float *x, const float *z, float *y);
/* The add_node of graph.c, for graph_shape.c; NULL after recording the error. */
node *fs_graph_add_node(fs_graph *g, fs_op op, int in, const char *name);
int fs_graph_fail(fs_graph *g, fs_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fs_graph_window(fs_pad pad, int size, int k, int stride, int dil, int *before);
/* 1 for the ops with no backward pass (fs_graph_train refuses them). */
static inline int fs_graph_op_forward_only(fs_op op) {
    return op == FS_OP_MAXPOOL || op == FS_OP_PAD || op == FS_OP_RESHAPE || op == FS_OP_CONCAT ||
           op == FS_OP_RESIZE;
}

static inline size_t fs_graph_node_floats(const node *nd) { return (size_t)nd->h * nd->w * nd->c; }

/* The portable forward of node i over a batch of n, activation included (graph.c). */
void fs_graph_node_forward(fs_graph *g, node *nd, int n, int training);
/* The portable backward of node nd over the batch of n, activation included (graph_train.c). */
void fs_graph_node_back(fs_graph *g, node *nd, int n);
/* gy[0, count) (a slice of node nd's gradient) becomes the gradient before nd's activation;
 * y and z are the same slices of its output and of its value before a hard-swish. */
void fs_graph_act_back(fs_act act, const float *y, const float *z, float *gy, size_t count);
/* One item of a convolution's backward (graph_train.c, conv_back). */
void fs_graph_conv_back_item(const node *nd, const node *src, const float *x, const float *go,
                             const float *wt_t, float *gx, float *gw, float *gb);
/* Fast kernels on the graph's threads (graph_fast.c): a forward after the input is in place;
 * a backward once the need flags are set and the parameter gradients zeroed (it zeroes the
 * node gradients and starts from dout). */
void fs_graph_fast_forward(fs_graph *g, int n, int training);
void fs_graph_fast_backward(fs_graph *g, int n, const float *dout);
/* Bytes of per-thread scratch, floats of zeros and of packed weights the fast kernels need;
 * lays the packed weights out (wpoff). */
void fs_graph_fast_work(fs_graph *g, size_t *per_thread, size_t *zeros, size_t *wpack);

/* Lays the training buffers of every node (goff, zoff) out for batches of n; returns the total
 * floats of the training arena. */
size_t fs_graph_train_layout(fs_graph *g, int n);
/* Releases the parameter table and gradients (the graph changed). */
void fs_graph_drop_params(fs_graph *g);

static inline float fs_graph_act(fs_act a, float v) {
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

#endif
