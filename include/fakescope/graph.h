/* graph (nn/): a network as a list of ops over NHWC float32 tensors, built once and run many
 * times: so that a new architecture is a short file of fs_graph_* calls (as in ggml), and an
 * importer (TFLite, safetensors) only has to translate ops one by one.
 *
 * Building: fs_graph_create makes the input node (id 0) of an H x W x C picture; each builder
 * adds one node that reads earlier nodes by id and returns the new node's id, its output shape
 * worked out at once. A builder that fails (bad id, shape mismatch, no memory) returns -1 and
 * records the first error in the graph, which fs_graph_error returns, so a file of builder
 * calls checks once at the end. Weights are copied into the graph (repacked for the kernels).
 *
 * Ops (forward; the portable kernels here define the answer):
 *  - conv: k x k, stride, dilation, groups 1; padding as TensorFlow's SAME (the odd extra row
 *    and column at the bottom and right), VALID, or symmetric k/2 as PyTorch's padding=k//2;
 *    bias and a fused activation (none, ReLU, ReLU6, hard-swish);
 *  - dwconv: depthwise k x k, one filter per channel, same options;
 *  - add: two nodes of one shape, then an activation;
 *  - gap: global average pooling to 1 x 1 x C;
 *  - dense: on a 1 x 1 x C node (out = W x + b, PyTorch layout [out][in]);
 *  - softmax over channels;
 *  - bn: batch norm per channel, then an activation (running statistics at inference, batch
 *    statistics in training unless frozen);
 *  - se: squeeze-and-excitation, x scaled per channel by gate(W2 relu(W1 gap(x) + b1) + b2);
 *  - forward only (graph_shape.c; fs_graph_train refuses a graph holding one): maxpool (k x k
 *    window, stride, SAME or VALID; padding never wins a maximum), pad (zeros around the
 *    picture and after or before the channels), reshape (the same values in another h x w x c),
 *    concat (two nodes along height, width or channels), resize (bilinear, TensorFlow's
 *    align_corners and half_pixel_centers conventions).
 * Weight layouts are PyTorch's: conv [cout][cin][k][k], depthwise [c][1][k][k].
 *
 * Running: fs_graph_plan(g, n) sizes every activation buffer for a batch of n once (one
 * allocation, plus the fast kernels' per-thread scratch); fs_graph_forward then never
 * allocates. A graph runs one batch at a time; build one per caller thread (an inference run
 * changes no weight, a training one batch-norm statistics).
 *
 * Kernels and threads: by default a graph runs the fastest kernels the CPU has (AVX2+FMA,
 * 512-bit GEMMs and depthwise sums with AVX-512: pointwise and k x k convolutions and dense
 * layers as packed GEMMs, depthwise ones vectorised over channels, forward and backward) on
 * the caller's thread; fs_graph_set_threads(g, t) splits every pass
 * over t threads of a pool the graph owns. FS_ISA_PORTABLE runs the portable per-node code
 * that defines the answer, on one thread whatever the thread count. The fast kernels agree
 * with it to float rounding (sums in another order); with a fixed thread count two runs give
 * the same bits.
 *
 * Training: fs_graph_train(g, 1) lists the parameters (fs_tparam records named "<node>.weight",
 * "<node>.bias", "<node>.running_mean", ...) with one gradient buffer each; from then on a plan
 * also sizes a gradient buffer per node and what the backward pass keeps (pre-activations of
 * hard-swish, batch statistics, the squeeze-and-excitation vectors), still one allocation.
 * A training forward uses and updates batch statistics; fs_graph_backward then overwrites every
 * parameter gradient (not accumulated across calls). A frozen parameter keeps its value and
 * gets no gradient; a node no trainable parameter depends on passes no gradient on.
 * Ownership: fs_graph_create makes, fs_graph_free releases everything, parameters and
 * gradients included. */
#ifndef FAKESCOPE_GRAPH_H
#define FAKESCOPE_GRAPH_H

#include "fakescope/core.h"
#include "fakescope/nn.h"
#include "fakescope/train.h"
#include "fakescope/weights.h"

#define FS_GRAPH_MAX_NODES 4096
#define FS_GRAPH_NAME_MAX 64
#define FS_GRAPH_MAX_SIDE 8192
#define FS_GRAPH_MAX_CHANNELS 65536

typedef enum { FS_OP_INPUT, FS_OP_CONV, FS_OP_DWCONV, FS_OP_ADD, FS_OP_GAP, FS_OP_DENSE,
               FS_OP_SOFTMAX, FS_OP_BN, FS_OP_SE, FS_OP_MAXPOOL, FS_OP_PAD, FS_OP_RESHAPE,
               FS_OP_CONCAT, FS_OP_RESIZE } fs_op;
typedef enum { FS_ACT_NONE, FS_ACT_RELU, FS_ACT_RELU6, FS_ACT_HSWISH } fs_act;
/* The gate of a squeeze-and-excitation: hard-sigmoid ReLU6(v + 3) / 6, or 1 / (1 + e^-v). */
typedef enum { FS_GATE_HSIGMOID, FS_GATE_SIGMOID } fs_gate;
typedef enum { FS_PAD_SAME, FS_PAD_VALID, FS_PAD_SYMMETRIC } fs_pad;

typedef struct fs_graph fs_graph;

fs_err fs_graph_create(int h, int w, int c, fs_graph **out, fs_msg *msg);
void fs_graph_free(fs_graph *g);
/* The first builder error (FS_OK if none), its text in msg. */
fs_err fs_graph_error(const fs_graph *g, fs_msg *msg);

int fs_graph_conv(fs_graph *g, int in, int cout, int k, int stride, int dil, fs_pad pad,
                  const float *weight, const float *bias, fs_act act, const char *name);
int fs_graph_dwconv(fs_graph *g, int in, int k, int stride, int dil, fs_pad pad,
                    const float *weight, const float *bias, fs_act act, const char *name);
int fs_graph_add(fs_graph *g, int a, int b, fs_act act, const char *name);
int fs_graph_gap(fs_graph *g, int in, const char *name);
int fs_graph_dense(fs_graph *g, int in, int out_features, const float *weight, const float *bias,
                   const char *name);
int fs_graph_softmax(fs_graph *g, int in, const char *name);
/* Batch norm: y = act(gamma (x - mean) / sqrt(var + eps) + beta) per channel, with the running
 * mean and var at inference (one multiply-add in float32) and the batch's (over items and
 * pixels, biased variance) in training. A training forward updates the running statistics as
 * running = momentum * running + (1 - momentum) * batch, with the unbiased batch variance
 * (Keras's convention, 0.99; PyTorch's momentum m is 1 - m here). Four arrays of c floats. */
int fs_graph_bn(fs_graph *g, int in, const float *gamma, const float *beta, const float *mean,
                const float *var, float eps, float momentum, fs_act act, const char *name);
/* Squeeze-and-excitation with `hidden` units: s = gap(x), h = ReLU(w1 s + b1), e = gate(w2 h +
 * b2), y = x * e channel by channel. w1 [hidden][c], b1 [hidden], w2 [c][hidden], b2 [c]. */
int fs_graph_se(fs_graph *g, int in, int hidden, const float *w1, const float *b1,
                const float *w2, const float *b2, fs_gate gate, const char *name);

/* ---- forward-only ops (graph_shape.c) ---- */
int fs_graph_maxpool(fs_graph *g, int in, int k, int stride, fs_pad pad, const char *name);
/* Zeros: top/bottom rows, left/right columns, c_before/c_after channels (all >= 0). */
int fs_graph_pad(fs_graph *g, int in, int top, int bottom, int left, int right, int c_before,
                 int c_after, const char *name);
/* The same per-item values (NHWC order) seen as h x w x c; the count must not change. */
int fs_graph_reshape(fs_graph *g, int in, int h, int w, int c, const char *name);
/* a then b along axis 0 (height), 1 (width) or 2 (channels); the other sides must agree. */
int fs_graph_concat(fs_graph *g, int a, int b, int axis, const char *name);
/* Bilinear resize to h x w as TensorFlow's ResizeBilinear: source coordinate (d + 0.5) s - 0.5
 * with half_pixel_centers, d s otherwise, s = in / out, or (in - 1) / (out - 1) with
 * align_corners; the two neighbours are clamped into the picture. */
int fs_graph_resize(fs_graph *g, int in, int h, int w, int align_corners, int half_pixel_centers,
                    const char *name);
/* Gives node id (which has none yet) the activation act, applied after its values: how an
 * importer fuses a separate RELU into the op before it. Returns id, or -1 (error recorded). */
int fs_graph_fuse_act(fs_graph *g, int id, fs_act act);

/* Threads of every forward and backward pass (1..FS_NN_MAX_THREADS; 1, the default, is the
 * caller alone). Set it before planning (a later plan re-sizes the scratch). FS_ERR_INVALID,
 * FS_ERR_NOMEM, FS_ERR_INTERNAL (a thread would not start; the old count stays). */
fs_err fs_graph_set_threads(fs_graph *g, int threads, fs_msg *msg);
int fs_graph_threads(const fs_graph *g);
/* Kernels: the best the CPU has at or below isa (FS_ISA_PORTABLE: the portable code). */
void fs_graph_set_isa(fs_graph *g, fs_isa isa);
/* on = 1: at inference on the fast kernels, the nodes inside the leading run of item-wise
 * nodes (convolutions, depthwise and pointwise ones, adds) that only later nodes of that run
 * read keep one item's output per thread, reused once read, instead of the batch's: the run's
 * working set stays in cache (MobileNetV2 at 224x224: 20 MB an image before) and fewer pages
 * are touched. fs_graph_activation of such a node is then NULL; the outputs, and every node
 * read after that run, stay readable. Results are the same bits. Off by default; takes effect
 * at the next plan (a forward plans again when needed). */
void fs_graph_share(fs_graph *g, int on);
fs_isa fs_graph_isa(const fs_graph *g);

/* Facts about node i (0 <= i < fs_graph_nodes). */
int fs_graph_nodes(const fs_graph *g);
typedef struct fs_graph_node_info {
    fs_op op;
    const char *name;
    int h, w, c;        /* output shape of one item */
    int in0, in1;       /* inputs (-1 when absent) */
    fs_act act;         /* applied after its values */
    double macs;        /* multiply-adds for one item */
    int k, stride;      /* window side and stride (convolutions and pooling; 0 otherwise) */
} fs_graph_node_info;
void fs_graph_node(const fs_graph *g, int i, fs_graph_node_info *out);
/* The node whose output a forward pass returns: the last one added. */
int fs_graph_output(const fs_graph *g);

/* Sizes the buffers for batches of up to n items. */
fs_err fs_graph_plan(fs_graph *g, int n, fs_msg *msg);
/* Bytes the current plan holds (activations, training buffers and per-thread work space); 0
 * before the first plan. Pages are touched only as far as runs reach, so a context planned for
 * 8 items that judges one at a time keeps far less resident. */
size_t fs_graph_planned_bytes(const fs_graph *g);
/* Runs n items (n <= the planned batch; planned at once when not yet) of input (n x H x W x C
 * floats, NHWC) and copies the output node's n x h x w x c floats to out (unless NULL). */
fs_err fs_graph_forward(fs_graph *g, const float *input, int n, float *out, fs_msg *msg);
/* After a forward pass: node i's output (n x h x w x c floats), borrowed until the next run;
 * NULL for a node whose buffer is shared (fs_graph_share). */
const float *fs_graph_activation(const fs_graph *g, int i);

/* ---- training ---- */
/* on = 1: training mode. The first call lists the parameters (named after their nodes; a node
 * built without a name is "node<id>"; two nodes of one name are refused, FS_ERR_INVALID) and
 * allocates their gradients, once: the graph must be complete (adding a node afterwards drops
 * them, pointers from fs_graph_params with them, and leaves training mode). The next plan also
 * sizes the backward buffers. on = 0: the parameters stay. FS_ERR_NOMEM. */
fs_err fs_graph_train(fs_graph *g, int on, fs_msg *msg);
/* The parameters (after fs_graph_train): data in the kernels' layout (conv [k][k][cin][cout],
 * depthwise [k][k][c], dense [in][out], the rest as given), shape the PyTorch one; grad NULL for
 * running statistics. Borrowed from the graph. */
size_t fs_graph_param_count(const fs_graph *g);
fs_tparam *fs_graph_params(fs_graph *g); /* the array of fs_graph_param_count records */
fs_tparam *fs_graph_param_find(fs_graph *g, const char *name);
/* Freezes (frozen = 1) or thaws the parameters whose names start with prefix ("" = all);
 * returns how many matched. A frozen parameter's gradient stays zero and the optimiser
 * (fs_optim) leaves it. */
int fs_graph_freeze(fs_graph *g, const char *prefix, int frozen);
/* Batch-norm nodes whose names start with prefix: frozen = 1 makes a training forward use and
 * keep their running statistics (as at inference; gamma and beta still learn unless frozen
 * themselves), 0 returns them to batch statistics. Returns how many matched. */
int fs_graph_bn_freeze(fs_graph *g, const char *prefix, int frozen);
/* Gives every batch-norm node the statistics of a batch (n items through an inference forward)
 * as its running ones, and moves gamma and beta so that inference answers stay the same: with
 * s = gamma / sqrt(var + eps), gamma' = s sqrt(batch var + eps), beta' = beta + (batch mean -
 * mean) s. Then training with batch statistics starts from the function the graph computed
 * (on that batch exactly), which matters for batch norm that was folded and restored as the
 * identity. */
fs_err fs_graph_bn_calibrate(fs_graph *g, const float *input, int n, fs_msg *msg);
/* Training forward: as fs_graph_forward, in training mode (FS_ERR_INVALID otherwise), keeping
 * what fs_graph_backward needs. */
fs_err fs_graph_forward_train(fs_graph *g, const float *input, int n, float *out, fs_msg *msg);
/* Backward pass for the batch of the last training forward: dout holds d loss / d output
 * (n x output size). Overwrites every trainable parameter's gradient; dx (may be NULL) receives
 * d loss / d input. FS_ERR_INVALID when no training forward came before (an inference forward
 * in between counts as none). Allocates nothing. */
fs_err fs_graph_backward(fs_graph *g, const float *dout, float *dx, fs_msg *msg);
/* Binary cross-entropy of sigmoid(logit) against labels (n values in [0, 1]) on a graph whose
 * output is one logit per item, averaged over the batch of the last training forward, then
 * the backward pass from it. *loss receives the mean. FS_ERR_INVALID for another output. */
fs_err fs_graph_backward_bce(fs_graph *g, const float *labels, double *loss, fs_msg *msg);
/* After a backward: node i's gradient (n x h x w x c), borrowed. For a node with an activation
 * it is d loss / d the value before the activation; NULL for a node no gradient reached. */
const float *fs_graph_gradient(const fs_graph *g, int i);
/* Every parameter (running statistics included) in PyTorch layout under its name, added to w
 * (after fs_graph_train). */
fs_err fs_graph_export(fs_graph *g, fs_weights *w, fs_msg *msg);
/* The reverse: every parameter from w by name (PyTorch layout; tensors w has beyond them are
 * ignored). FS_ERR_FORMAT names a missing or misshapen one, and then nothing has changed. */
fs_err fs_graph_import(fs_graph *g, const fs_weights *w, fs_msg *msg);

/* ---- storage (graph_io.c) ----
 * A whole inference graph as named tensors: metadata "graph" holds one line of text per node
 * (op, inputs, shape, options, name) and each node's arrays are tensors "n<id>.weight",
 * ".bias", ".running_mean", ".running_var", ".fc2.weight", ".fc2.bias" in PyTorch layout. So
 * a network imported from another format (TFLite) is converted once and loaded later without
 * its original file. fs_graph_save adds to w (its names must be free); fs_graph_load builds a
 * new graph from w, checking every line, index and tensor shape: FS_ERR_FORMAT says which. */
fs_err fs_graph_save(const fs_graph *g, fs_weights *w, fs_msg *msg);
fs_err fs_graph_load(const fs_weights *w, fs_graph **out, fs_msg *msg);

#endif
