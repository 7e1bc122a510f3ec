/* net_impl.h: the inside of fs_net, shared by net.c (building, planned fast forward) and
 * net_ref.c (the reference forward through plain layers). Private to src/models. */
#ifndef FS_MODELS_NET_IMPL_H
#define FS_MODELS_NET_IMPL_H

#include "fakescope/model.h"
#include "fakescope/weights.h"

#define NET_MAX_OPS 16
#define NET_MAX_BUFS 8
#define NET_MAX_TENSORS 64

typedef enum { NET_MESO4, NET_INCEPTION, NET_GRAPH } net_kind;

/* An activation buffer of one image: h x w x c with a zero halo, NHWC or planar. */
typedef struct net_buf {
    int h, w, c, halo, planar;
} net_buf;

/* One fused convolution reading channels [in_ch, in_ch + cin) of in_buf and writing
 * [out_ch, out_ch + cout) of out_buf. Ops of one phase are independent of each other. */
typedef struct net_op {
    fs_fconv conv;
    int in_buf, in_ch, out_buf, out_ch, phase;
} net_op;

typedef struct net_tensor {
    const char *name; /* from the fs_arch table */
    int64_t count;
    float *data;      /* owned copy */
} net_tensor;

struct fs_net {
    const fs_arch *arch;
    net_kind kind;
    int leaky, output_fake;
    float bn_eps; /* metadata "bn_eps", else Keras's 1e-3 */
    net_tensor tensors[NET_MAX_TENSORS];
    size_t n_tensors;
    net_buf bufs[NET_MAX_BUFS];
    int n_bufs;
    net_op ops[NET_MAX_OPS];
    int n_ops, n_phases;
    int head_buf; /* flattened into dense1 */
    /* NET_GRAPH: the weights each context builds its own graph from (a graph runs one batch at
     * a time), and how an input value x = byte / 255 enters it: in_scale (255 x - in_zero) */
    fs_weights graph_weights;
    float in_scale, in_zero;
};

/* Data of a tensor the architecture requires (present after validation). */
const float *fs_net_tensor(const fs_net *net, const char *name);

#endif
