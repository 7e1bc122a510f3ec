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
 *  - softmax over channels.
 * Weight layouts are PyTorch's: conv [cout][cin][k][k], depthwise [c][1][k][k].
 *
 * Running: fs_graph_plan(g, n) sizes every activation buffer for a batch of n once (one
 * allocation); fs_graph_forward then never allocates. A graph runs one batch at a time; build
 * one per thread, or share the weights read-only (they are not changed by a run).
 * Ownership: fs_graph_create makes, fs_graph_free releases everything. */
#ifndef FAKESCOPE_GRAPH_H
#define FAKESCOPE_GRAPH_H

#include "fakescope/core.h"

#define FS_GRAPH_MAX_NODES 4096
#define FS_GRAPH_NAME_MAX 64
#define FS_GRAPH_MAX_SIDE 8192
#define FS_GRAPH_MAX_CHANNELS 65536

typedef enum { FS_OP_INPUT, FS_OP_CONV, FS_OP_DWCONV, FS_OP_ADD, FS_OP_GAP, FS_OP_DENSE,
               FS_OP_SOFTMAX } fs_op;
typedef enum { FS_ACT_NONE, FS_ACT_RELU, FS_ACT_RELU6, FS_ACT_HSWISH } fs_act;
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

/* Facts about node i (0 <= i < fs_graph_nodes). */
int fs_graph_nodes(const fs_graph *g);
typedef struct fs_graph_node_info {
    fs_op op;
    const char *name;
    int h, w, c;        /* output shape of one item */
    int in0, in1;       /* inputs (-1 when absent) */
    double macs;        /* multiply-adds for one item */
} fs_graph_node_info;
void fs_graph_node(const fs_graph *g, int i, fs_graph_node_info *out);
/* The node whose output a forward pass returns: the last one added. */
int fs_graph_output(const fs_graph *g);

/* Sizes the buffers for batches of up to n items. */
fs_err fs_graph_plan(fs_graph *g, int n, fs_msg *msg);
/* Runs n items (n <= the planned batch; planned at once when not yet) of input (n x H x W x C
 * floats, NHWC) and copies the output node's n x h x w x c floats to out. */
fs_err fs_graph_forward(fs_graph *g, const float *input, int n, float *out, fs_msg *msg);
/* After a forward pass: node i's output (n x h x w x c floats), borrowed until the next run. */
const float *fs_graph_activation(const fs_graph *g, int i);

#endif
