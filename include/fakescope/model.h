/* model (models/): the MesoNet architectures (Meso4, MesoInception4) built on nn/, their
 * expected weight tensors, and fast batched inference.
 *
 * Three objects:
 *  - fs_arch: a static description of an architecture (input size, expected tensors and
 *    shapes, convolution layers for the model explorer). Never freed.
 *  - fs_net: one loaded network. Built from an fs_weights (copied: the weights may be freed
 *    afterwards), immutable after fs_net_create, so any number of threads may share it.
 *  - fs_net_ctx: what one caller thread needs to run a net: a memory plan (one work buffer
 *    sized up front for max_batch images; nothing is allocated per image) and, when threads
 *    > 1, its own thread pool. One ctx serves one caller at a time; make one per worker.
 *
 * Output: the network's sigmoid output ("raw") and its logit. The original Keras MesoNet
 * files answer P(real) (class 1 = real); whether a raw output means P(real) or P(fake) is a
 * fact of the weights (fs_net_output_is_fake), so P(fake) = raw or 1 - raw. */
#ifndef FAKESCOPE_MODEL_H
#define FAKESCOPE_MODEL_H

#include "fakescope/core.h"
#include "fakescope/nn.h"
#include "fakescope/weights.h"

#define FS_ARCH_MAX_DIMS 4
#define FS_NET_MAX_BATCH 4096

typedef struct fs_arch_tensor {
    const char *name; /* "conv1.weight" */
    int ndim;
    int64_t shape[FS_ARCH_MAX_DIMS];
} fs_arch_tensor;

typedef struct fs_arch_conv {
    const char *name; /* layer name as fs_net_activation takes it: "conv1", "inc1.b2b" */
    int filters, kh, kw, dilation;
    int out_h, out_w; /* size of its activation for the architecture's input */
} fs_arch_conv;

struct fs_graph;

typedef struct fs_arch {
    const char *name;  /* "meso4", "mesoinception4", "mobilenetv2" */
    const char *title; /* "Meso4" */
    int input_h, input_w, input_c;
    float input_scale; /* pixel byte -> network input: 1/255 */
    const fs_arch_tensor *tensors;
    size_t n_tensors;
    const fs_arch_conv *conv_layers;
    size_t n_conv_layers;
    /* An architecture that runs as an op graph (graph.h) names its builder here instead of a
     * tensor table: it checks the weights' names and shapes itself, so validation builds the
     * graph once. Its network has one logit; the weights' metadata "input_scale" and
     * "input_zero_point" say how a byte enters it (scale x (byte - zero point)). random makes
     * weights of the right shapes (for fs_arch_flops and benchmarks). NULL for MesoNet. */
    fs_err (*graph)(const fs_weights *w, int side, struct fs_graph **out, fs_msg *msg);
    fs_err (*random)(fs_weights *out, int classes, uint64_t seed, fs_msg *msg);
} fs_arch;

/* NULL when unknown. Names are case-insensitive; "mesoinception" is accepted too. */
const fs_arch *fs_arch_find(const char *name);
/* All architectures, NULL-terminated. */
const fs_arch *const *fs_arch_list(void);
/* FS_OK when w holds exactly the tensors arch expects with the expected shapes; otherwise
 * FS_ERR_FORMAT naming the first missing, misshapen or unexpected tensor. A graph
 * architecture: its graph builds from w and ends in one value. */
fs_err fs_arch_validate(const fs_arch *arch, const fs_weights *w, fs_msg *msg);
/* Floating-point operations (2 per multiply-add) of one forward pass of one image. */
double fs_arch_flops(const fs_arch *arch);

/* ---- a loaded network ---- */
typedef struct fs_net fs_net;

/* arch_name NULL: taken from the weights' "arch" metadata. Validates the weights against the
 * architecture. The LeakyReLU after dense1 follows metadata "dense_leaky" ("true"). */
fs_err fs_net_create(const fs_weights *w, const char *arch_name, fs_net **out, fs_msg *msg);
void fs_net_free(fs_net *net);
const fs_arch *fs_net_arch(const fs_net *net);
/* The network's convolution layers in order (depthwise ones included), as (filters, kernel
 * side): the architecture's table for the MesoNets, the graph's convolution nodes for a graph
 * network. Writes at most cap of them and returns how many there are; -1 when the graph cannot
 * be built (msg says why). */
int fs_net_conv_shapes(const fs_net *net, int *filters, int *kernel, int cap, fs_msg *msg);
int fs_net_dense_leaky(const fs_net *net);
/* 1 when the raw output is P(fake) (metadata "output" = "p_fake"), 0 when it is P(real), the
 * MesoNet convention and the default. */
int fs_net_output_is_fake(const fs_net *net);

/* ---- running it ---- */
typedef struct fs_net_opts {
    int threads;   /* <= 0: all online CPUs */
    int max_batch; /* <= 0: 1 */
    int portable;  /* 1: portable kernels even when AVX2+FMA is there (tests) */
} fs_net_opts;

typedef struct fs_net_ctx fs_net_ctx;

fs_err fs_net_ctx_create(const fs_net *net, const fs_net_opts *opts, fs_net_ctx **out,
                         fs_msg *msg);
void fs_net_ctx_free(fs_net_ctx *ctx);
/* The planned work memory: the MesoNet work buffer, or a graph network's input buffer and its
 * graph's plan (fs_graph_planned_bytes). */
size_t fs_net_ctx_bytes(const fs_net_ctx *ctx);
int fs_net_ctx_threads(const fs_net_ctx *ctx);
fs_isa fs_net_ctx_isa(const fs_net_ctx *ctx);

/* Runs batch images (1 <= batch <= max_batch), each input_h x input_w x input_c float32 NHWC,
 * already scaled (x = byte * input_scale), contiguous. Writes batch sigmoid outputs to raw and,
 * when logits is non-NULL, the pre-sigmoid values. */
fs_err fs_net_forward(fs_net_ctx *ctx, const float *input, int batch, float *raw, float *logits,
                      fs_msg *msg);

/* ---- reference path (slow, plain layers; for tests and feature maps) ---- */
/* Runs one image through the reference layers. */
fs_err fs_net_forward_ref(const fs_net *net, const float *input, float *raw, float *logit,
                          fs_msg *msg);
/* Activation of one convolution layer (after its ReLU, before batch norm), as a new
 * 1 x h x w x filters tensor the caller frees with fs_tensor_free. Layer names are those of
 * fs_arch.conv_layers; FS_ERR_NOTFOUND otherwise. Thread-safe: it allocates its own buffers. */
fs_err fs_net_activation(const fs_net *net, const float *input, const char *layer,
                         fs_tensor *out, fs_msg *msg);

/* ---- Grad-CAM (models/gradcam.c) ----
 * Where the network looked when it scored one image as fake: the gradient of the fake logit
 * z (the pre-sigmoid score of "fake": the network's logit, negated for P(real) weights) with
 * respect to the last conv block's feature maps A (conv4 after its ReLU, h x w x c), channel
 * weights w_c = spatial mean of dz/dA_c, heat = ReLU(sum_c w_c A_c) scaled to max 1. The
 * backward pass is the training graph's (train.h), loaded with the net's weights. A
 * diagnostic of the network's attention, not proof of manipulation. */
#define FS_GRADCAM_MAX_CHANNELS 64

typedef struct fs_gradcam {
    char layer[16];        /* "conv4" */
    int h, w, c;           /* of the feature maps */
    float logit_fake;      /* z */
    float p_fake;          /* sigmoid(z) */
    float weights[FS_GRADCAM_MAX_CHANNELS]; /* w_c */
    float *act;            /* A, h x w x c NHWC (owned) */
    float *grad;           /* dz/dA, h x w x c NHWC (owned) */
    float *heat;           /* h x w row-major in [0, 1], max 1; all 0 when no location has a
                            * positive weighted sum (heat_max says so) (owned) */
    float heat_max;        /* max of ReLU(sum_c w_c A_c) before scaling */
} fs_gradcam;

/* One image (input_h x input_w x input_c floats, scaled as for fs_net_forward). Thread-safe
 * (builds its own graph). FS_ERR_UNSUPPORTED for weights with a batch-norm epsilon other than
 * the training graph's 1e-3. *out is zeroed first
 * and released with fs_gradcam_free (safe on a zeroed struct). */
fs_err fs_net_gradcam(const fs_net *net, const float *input, fs_gradcam *out, fs_msg *msg);
void fs_gradcam_free(fs_gradcam *g);

#endif
