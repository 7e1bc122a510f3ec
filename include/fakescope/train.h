/* train (nn/): training graphs for float32 NHWC networks: layers with a training-mode forward
 * that keeps what the backward pass needs, the backward pass, losses, optimisers, learning
 * rate schedules and the SGEMM they run on. The inference engine (model.h) stays separate and
 * fused; a trained graph reaches it through fs_tnet_export -> fs_weights.
 *
 * A graph (fs_tnet) is built node by node: each builder call takes the id of its input node
 * and returns the new node's id (node 0 is the input). Building errors are remembered and
 * reported once by fs_tnet_finish, so a builder sequence needs one check. Parameters are held
 * in fs_tparam records named as the weights are exported (PyTorch names: "conv1.weight").
 *
 * Threads: a graph owns a pool of `threads` workers; each layer splits the batch into fixed
 * contiguous slices (one per worker) and every reduction (batch-norm statistics, parameter
 * gradients) is summed in worker order, so for a given seed and thread count results are
 * bit-identical from run to run. A graph is used by one caller at a time.
 *
 * Ownership: fs_tnet_free releases the graph, its parameters and buffers. Pointers returned
 * by fs_tnet_param / fs_tnet_output are borrowed and valid until the next forward or free. */
#ifndef FAKESCOPE_TRAIN_H
#define FAKESCOPE_TRAIN_H

#include "fakescope/core.h"
#include "fakescope/weights.h"

#define FS_TNET_MAX_NODES 128
#define FS_TNET_MAX_PARAMS 128
#define FS_TNET_MAX_THREADS 64
#define FS_TNET_MAX_CONCAT 8
#define FS_TNET_BN_MOMENTUM 0.99f /* Keras's default */
#define FS_TNET_BN_EPS 1e-3f      /* Keras's default */

/* ---- SGEMM (row-major): C = op(A) * B + beta * C, op(A) = A (M x K, lda) or, when trans_a,
 * A^T with A stored K x M (lda). B is K x N (ldb), C is M x N (ldc). The AVX2/FMA kernel is
 * used when the CPU has it and FAKESCOPE_PORTABLE is unset; fs_sgemm_portable defines the
 * answer (the two agree to float rounding). */
void fs_sgemm(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc);
void fs_sgemm_portable(int trans_a, int m, int n, int k, const float *a, int lda, const float *b,
                       int ldb, float beta, float *c, int ldc);
/* 1 when fs_sgemm takes the AVX2 path. */
int fs_sgemm_uses_avx2(void);

/* ---- graphs ---- */
typedef struct fs_tparam {
    char name[48];        /* export name, e.g. "conv1.weight", "bn1.running_mean" */
    int ndim;
    int64_t shape[4];     /* export (PyTorch) shape */
    size_t count;
    float *data;          /* internal layout: conv weights are [kh][kw][in][out] */
    float *grad;          /* NULL for buffers (running mean / variance) */
    int decay;            /* 1 for conv / dense weights (weight decay applies) */
    int frozen;           /* 1: the optimiser leaves it (and an op graph computes no gradient) */
} fs_tparam;

typedef struct fs_tnet fs_tnet;

/* An empty graph whose input is batch x h x w x c; seed drives initialisation and dropout. */
fs_err fs_tnet_create(int h, int w, int c, int threads, uint64_t seed, fs_tnet **out, fs_msg *msg);
void fs_tnet_free(fs_tnet *net);

/* Builders: return the new node id, or -1 (and remember the error) on a bad argument. */
int fs_tnet_conv(fs_tnet *net, int in, const char *name, int cout, int k, int stride, int dil,
                 int relu); /* TensorFlow 'same' padding, bias, optional fused ReLU */
int fs_tnet_relu(fs_tnet *net, int in);
int fs_tnet_leaky(fs_tnet *net, int in, float slope);
int fs_tnet_bn(fs_tnet *net, int in, const char *name);
int fs_tnet_maxpool(fs_tnet *net, int in, int pool); /* 'same', stride = pool */
int fs_tnet_flatten(fs_tnet *net, int in);           /* NHWC order */
int fs_tnet_dense(fs_tnet *net, int in, const char *name, int out);
int fs_tnet_dropout(fs_tnet *net, int in, float rate); /* inverted dropout */
int fs_tnet_concat(fs_tnet *net, const int *ins, int n); /* over channels, in order */
/* Checks the build, initialises parameters (Glorot uniform weights, zero biases, BN gamma 1,
 * beta 0, running mean 0, variance 1) and makes the last node the output. */
fs_err fs_tnet_finish(fs_tnet *net, fs_msg *msg);

/* Output shape of a node (n = batch excluded). */
void fs_tnet_node_shape(const fs_tnet *net, int node, int *h, int *w, int *c);
int fs_tnet_output_size(const fs_tnet *net); /* per image */
int fs_tnet_node_count(const fs_tnet *net);
/* "input", "conv", "conv+relu", "relu", "leaky", "bn", "maxpool", "flatten", "dense",
 * "dropout", "concat" */
const char *fs_tnet_node_kind(const fs_tnet *net, int node);
int fs_tnet_threads(const fs_tnet *net);

size_t fs_tnet_param_count(const fs_tnet *net);
fs_tparam *fs_tnet_param(fs_tnet *net, size_t i);
fs_tparam *fs_tnet_param_find(fs_tnet *net, const char *name);
size_t fs_tnet_scalar_count(const fs_tnet *net); /* trainable scalars */

/* Forward over batch images x (batch*h*w*c floats). training: batch statistics (and running
 * averages updated), dropout active. Returns the output (batch x output size), borrowed.
 * FS_ERR_NOMEM when the buffers for this batch cannot be allocated. */
fs_err fs_tnet_forward(fs_tnet *net, const float *x, int batch, int training, const float **out,
                       fs_msg *msg);
/* Backward from dout (gradient of the loss w.r.t. the output of the last forward, which must
 * have been a training forward or, for checks, an inference one). Parameter gradients are
 * overwritten (not accumulated across calls). dx (may be NULL) receives d loss / d input. */
void fs_tnet_backward(fs_tnet *net, const float *dout, float *dx);
/* Dropout masks derive from (seed, step, node, image): set the step (e.g. the optimiser step)
 * to draw new masks; the same step gives the same masks. */
void fs_tnet_set_step(fs_tnet *net, uint64_t step);
/* The output of any node of the last forward (batch x node size), borrowed. */
const float *fs_tnet_node_output(const fs_tnet *net, int node);
/* The gradient of the last backward w.r.t. a node's output (batch x node size), borrowed.
 * A convolution with a fused ReLU masks its own gradient in place (zero where its output is
 * zero); a separate fs_tnet_relu node keeps the gradient w.r.t. the rectified output whole. */
const float *fs_tnet_node_grad(const fs_tnet *net, int node);

/* ---- losses: mean over n, gradient (may be NULL) w.r.t. the prediction ---- */
/* Binary cross-entropy of sigmoid(z) against y in [0, 1], computed from the logit z. */
double fs_loss_bce_logits(const float *z, const float *y, int n, float *dz);
double fs_loss_mse(const float *p, const float *t, int n, float *dp);

/* ---- optimisers ---- */
typedef enum { FS_OPT_ADAM = 0, FS_OPT_SGD = 1 } fs_opt_kind;
typedef enum { FS_LR_CONSTANT = 0, FS_LR_STEP = 1, FS_LR_COSINE = 2 } fs_lr_kind;

typedef struct fs_opt_config {
    fs_opt_kind kind;
    double lr;
    double beta1, beta2, eps; /* Adam: 0.9, 0.999, 1e-7 (Keras) */
    double momentum;          /* SGD */
    double weight_decay;      /* decoupled (AdamW style), on weights only; 0 = off */
    double clip_norm;         /* global gradient L2 norm clip; 0 = off */
    fs_lr_kind schedule;
    int64_t warmup_steps;     /* linear warm-up (cosine and step) */
    int64_t step_every;       /* step schedule: multiply by step_gamma every step_every steps */
    double step_gamma;
    int64_t total_steps;      /* cosine: decay to lr * min_lr_frac at total_steps */
    double min_lr_frac;
} fs_opt_config;

fs_opt_config fs_opt_config_default(void); /* Adam, lr 1e-3, constant */
double fs_lr_at(const fs_opt_config *cfg, int64_t step);

typedef struct fs_optim fs_optim;
fs_err fs_optim_create(const fs_opt_config *cfg, fs_tnet *net, fs_optim **out, fs_msg *msg);
/* The same over any array of n parameters (an op graph's fs_graph_params), which must stay in
 * place while the optimiser lives. Parameters without a gradient (running statistics) and
 * frozen ones are left alone. */
fs_err fs_optim_create_params(const fs_opt_config *cfg, fs_tparam *params, size_t n,
                              fs_optim **out, fs_msg *msg);
/* Parameters whose names start with prefix ("" = all) learn at scale x the learning rate
 * (weight decay scaled alike): a pretrained backbone slower than a new head; 0 leaves them
 * unchanged and out of the clipping norm. Later calls override earlier ones for the names they
 * match. Returns how many matched. */
int fs_optim_lr_scale(fs_optim *opt, const char *prefix, double scale);
void fs_optim_free(fs_optim *opt);
/* One update from the gradients of the last backward; returns the gradient norm before clip. */
double fs_optim_step(fs_optim *opt);
int64_t fs_optim_steps(const fs_optim *opt);
/* Optimiser state (step and moments, named "<param>.adam_m" / ".adam_v" / ".momentum") into or
 * from a weights set, for checkpoints. */
fs_err fs_optim_export(const fs_optim *opt, fs_weights *w, fs_msg *msg);
fs_err fs_optim_import(fs_optim *opt, const fs_weights *w, fs_msg *msg);

/* ---- weights ---- */
/* Adds every parameter in export layout (conv [out,in,kh,kw], dense [out,in] with NHWC flatten
 * order). */
fs_err fs_tnet_export(const fs_tnet *net, fs_weights *w, fs_msg *msg);
/* Loads every parameter from w (same names and shapes), FS_ERR_FORMAT naming a mismatch. */
fs_err fs_tnet_import(fs_tnet *net, const fs_weights *w, fs_msg *msg);

/* ---- the MesoNet architectures (models/meso_train.c) ---- */
/* "meso4" or "mesoinception4" for h x w x 3 inputs (h and w multiples of 32 keep the flatten at
 * (h/32)*(w/32)*16: 256x256 gives the 1024 inputs the weights format expects). */
fs_err fs_meso_train_create(const char *arch, int h, int w, int threads, uint64_t seed,
                            fs_tnet **out, fs_msg *msg);
/* Export plus the metadata the inference engine reads: arch, output=p_fake, dense_leaky=true,
 * bn_eps=0.001. */
/* The same network for Grad-CAM: the last convolution's ReLU is a node of its own, so its
 * output (the last conv block's feature maps A) and the gradient w.r.t. A stay readable after
 * a backward; *features receives that node's id. leaky 0 leaves out the LeakyReLU after dense1
 * (Keras files without it). One thread; parameters as fs_meso_train_create. */
fs_err fs_meso_gradcam_graph(const char *arch, int h, int w, int leaky, fs_tnet **out,
                             int *features, fs_msg *msg);
fs_err fs_meso_train_export(const fs_tnet *net, const char *arch, fs_weights *w, fs_msg *msg);

#endif
