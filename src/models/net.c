/* net.c: a MesoNet network as a short program of fused convolutions over planned buffers,
 * and its batched forward pass.
 *
 * Building (fs_net_create) copies the weights, packs them into fused ops and decides each
 * activation buffer's layout: Meso4's layers (8-16 channels) run channel-vectorised on NHWC
 * buffers; MesoInception's inception blocks (branches of 1-4 channels) run pixel-vectorised
 * on planar buffers. Concatenation costs nothing: each branch writes its channels of the
 * concatenated buffer, already batch-normed and pooled (batch norm and pooling act per
 * channel, so they distribute over the concat). The four 1x1 convolutions of a block that
 * feed 3x3 convolutions share one op.
 *
 * Running (fs_net_forward) uses a context planned once: per thread one set of activation
 * buffers (halos zeroed once, never written) and one band scratch, all in one allocation.
 * Whole rounds of images go one per thread with no synchronisation; leftover images (batch 1
 * on two threads) are split by rows, with a barrier between phases. */
#include "models/net_impl.h"

#include "fakescope/graph.h"

#include <math.h>

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building ---- */

const float *fs_net_tensor(const fs_net *net, const char *name) {
    for (size_t i = 0; i < net->n_tensors; i++)
        if (!strcmp(net->tensors[i].name, name)) return net->tensors[i].data;
    assert(!"tensor required by the architecture table");
    return NULL;
}

static const char *meta(const fs_weights *w, const char *key) {
    for (size_t i = 0; i < w->meta_count; i++)
        if (!strcmp(w->meta_keys[i], key)) return w->meta_values[i];
    return NULL;
}

static int add_buf(fs_net *net, int h, int w, int c, int planar) {
    assert(net->n_bufs < NET_MAX_BUFS);
    net->bufs[net->n_bufs] = (net_buf){h, w, c, 0, planar};
    return net->n_bufs++;
}

typedef struct op_spec {
    fs_fconv_kind kind;
    const float *weight, *bias;
    int cin, cout, k, dil, pool;
    const char *bn;  /* batch norm tensor prefix or NULL */
    int bn_ch;       /* first channel of this op in the batch norm */
    int in_buf, in_ch, out_buf, out_ch, phase;
} op_spec;

static fs_err add_op(fs_net *net, const op_spec *s, fs_msg *msg) {
    assert(net->n_ops < NET_MAX_OPS);
    net_op *op = &net->ops[net->n_ops];
    fs_fconv_desc d = {.kind = s->kind, .cin = s->cin, .cout = s->cout, .k = s->k,
                       .dil = s->dil, .relu = 1, .pool = s->pool, .weight = s->weight,
                       .bias = s->bias, .bn_eps = net->bn_eps};
    if (s->bn) {
        char name[64];
        snprintf(name, sizeof name, "%s.weight", s->bn);
        d.bn_gamma = fs_net_tensor(net, name) + s->bn_ch;
        snprintf(name, sizeof name, "%s.bias", s->bn);
        d.bn_beta = fs_net_tensor(net, name) + s->bn_ch;
        snprintf(name, sizeof name, "%s.running_mean", s->bn);
        d.bn_mean = fs_net_tensor(net, name) + s->bn_ch;
        snprintf(name, sizeof name, "%s.running_var", s->bn);
        d.bn_var = fs_net_tensor(net, name) + s->bn_ch;
    }
    fs_err e = fs_fconv_init(&op->conv, &d, msg);
    if (e) return e;
    op->in_buf = s->in_buf, op->in_ch = s->in_ch;
    op->out_buf = s->out_buf, op->out_ch = s->out_ch, op->phase = s->phase;
    net->n_ops++;
    if (s->phase + 1 > net->n_phases) net->n_phases = s->phase + 1;
    /* the reader decides the halo its input needs */
    int halo = fs_fconv_halo(&op->conv);
    if (net->bufs[s->in_buf].halo < halo) net->bufs[s->in_buf].halo = halo;
    assert(s->in_ch + s->cin <= net->bufs[s->in_buf].c);
    assert(s->out_ch + s->cout <= net->bufs[s->out_buf].c);
    return FS_OK;
}

/* A conv layer named name ("conv3") with its weights in PyTorch layout. */
static op_spec conv_spec(const fs_net *net, const char *name, const fs_arch_tensor **shape) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    const fs_arch_tensor *t = NULL;
    for (size_t i = 0; i < net->arch->n_tensors && !t; i++)
        if (!strcmp(net->arch->tensors[i].name, wn)) t = &net->arch->tensors[i];
    assert(t);
    if (shape) *shape = t;
    return (op_spec){.weight = fs_net_tensor(net, wn), .bias = fs_net_tensor(net, bn),
                     .cout = (int)t->shape[0], .cin = (int)t->shape[1], .k = (int)t->shape[2],
                     .dil = 1, .pool = 1};
}

static fs_err build_meso4(fs_net *net, fs_msg *msg) {
    static const char *const names[4] = {"conv1", "conv2", "conv3", "conv4"};
    static const char *const bns[4] = {"bn1", "bn2", "bn3", "bn4"};
    static const int pools[4] = {2, 2, 2, 4};
    int h = net->arch->input_h, w = net->arch->input_w;
    int prev = add_buf(net, h, w, net->arch->input_c, 0);
    for (int i = 0; i < 4; i++) {
        op_spec s = conv_spec(net, names[i], NULL);
        h = fs_nn_same_out(h, pools[i]), w = fs_nn_same_out(w, pools[i]);
        int out = add_buf(net, h, w, s.cout, 0);
        s.kind = FS_FCONV_CHANNELS, s.pool = pools[i], s.bn = bns[i];
        s.in_buf = prev, s.out_buf = out, s.phase = i;
        fs_err e = add_op(net, &s, msg);
        if (e) return e;
        prev = out;
    }
    net->head_buf = prev;
    return FS_OK;
}

/* One inception block (b1 | b2a->b2b | b3a->b3b | b4a->b4b), followed by batch norm bn and
 * 2x2 pooling, from in_buf into out_buf; uses tmp_buf for the 1x1 outputs that feed 3x3s. */
static fs_err build_inception(fs_net *net, const char *p, const char *bn, int in_buf,
                              int tmp_buf, int out_buf, int phase, fs_msg *msg) {
    char name[64];
    fs_err e;
    snprintf(name, sizeof name, "%s.b1", p);
    op_spec b1 = conv_spec(net, name, NULL);
    b1.kind = FS_FCONV_PIXELS, b1.pool = 2, b1.bn = bn, b1.bn_ch = 0;
    b1.in_buf = in_buf, b1.out_buf = out_buf, b1.out_ch = 0, b1.phase = phase;
    if ((e = add_op(net, &b1, msg))) return e;

    /* b2a, b3a, b4a stacked into one 1x1 convolution. */
    static const char *const sfx[3][2] = {{"b2a", "b2b"}, {"b3a", "b3b"}, {"b4a", "b4b"}};
    static const int dils[3] = {1, 2, 3};
    op_spec a[3];
    int total = 0, cin = b1.cin;
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s.%s", p, sfx[i][0]);
        a[i] = conv_spec(net, name, NULL);
        total += a[i].cout;
    }
    float w[64 * 16], b[16];
    assert(total <= 16 && cin <= 64);
    for (int i = 0, at = 0; i < 3; i++) {
        memcpy(w + (size_t)at * cin, a[i].weight, (size_t)a[i].cout * cin * sizeof(float));
        memcpy(b + at, a[i].bias, (size_t)a[i].cout * sizeof(float));
        at += a[i].cout;
    }
    op_spec stacked = {.kind = FS_FCONV_PIXELS, .weight = w, .bias = b, .cin = cin,
                       .cout = total, .k = 1, .dil = 1, .pool = 1, .in_buf = in_buf,
                       .out_buf = tmp_buf, .phase = phase};
    if ((e = add_op(net, &stacked, msg))) return e;

    int tmp_ch = 0, out_ch = b1.cout;
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s.%s", p, sfx[i][1]);
        op_spec s = conv_spec(net, name, NULL);
        s.kind = FS_FCONV_PIXELS, s.dil = dils[i], s.pool = 2, s.bn = bn, s.bn_ch = out_ch;
        s.in_buf = tmp_buf, s.in_ch = tmp_ch, s.out_buf = out_buf, s.out_ch = out_ch;
        s.phase = phase + 1;
        if ((e = add_op(net, &s, msg))) return e;
        tmp_ch += s.cin, out_ch += s.cout;
    }
    assert(out_ch == net->bufs[out_buf].c);
    return FS_OK;
}

static fs_err build_mesoinception(fs_net *net, fs_msg *msg) {
    int h = net->arch->input_h, w = net->arch->input_w;
    int h2 = fs_nn_same_out(h, 2), w2 = fs_nn_same_out(w, 2);
    int h4 = fs_nn_same_out(h2, 2), w4 = fs_nn_same_out(w2, 2);
    int h8 = fs_nn_same_out(h4, 2), w8 = fs_nn_same_out(w4, 2);
    int in = add_buf(net, h, w, net->arch->input_c, 1);
    int t1 = add_buf(net, h, w, 10, 1);
    int c1 = add_buf(net, h2, w2, 11, 1);
    int t2 = add_buf(net, h2, w2, 10, 1);
    int c2 = add_buf(net, h4, w4, 12, 0);
    int b3 = add_buf(net, h8, w8, 16, 0);
    int b4 = add_buf(net, fs_nn_same_out(h8, 4), fs_nn_same_out(w8, 4), 16, 0);
    fs_err e;
    if ((e = build_inception(net, "inc1", "bn1", in, t1, c1, 0, msg))) return e;
    if ((e = build_inception(net, "inc2", "bn2", c1, t2, c2, 2, msg))) return e;
    op_spec s = conv_spec(net, "conv3", NULL);
    s.kind = FS_FCONV_CHANNELS, s.pool = 2, s.bn = "bn3", s.in_buf = c2, s.out_buf = b3;
    s.phase = 4;
    if ((e = add_op(net, &s, msg))) return e;
    s = conv_spec(net, "conv4", NULL);
    s.kind = FS_FCONV_CHANNELS, s.pool = 4, s.bn = "bn4", s.in_buf = b3, s.out_buf = b4;
    s.phase = 5;
    if ((e = add_op(net, &s, msg))) return e;
    net->head_buf = b4;
    return FS_OK;
}

/* A metadata number of a graph network; dflt when absent. */
static fs_err meta_float(const fs_weights *w, const char *key, float dflt, float *out, fs_msg *msg) {
    const char *v = meta(w, key);
    *out = dflt;
    if (!v) return FS_OK;
    char *end;
    float f = strtof(v, &end);
    if (end == v || *end || !isfinite(f))
        return fs_fail(msg, FS_ERR_FORMAT, "weights metadata %s '%s' is not a number", key, v);
    *out = f;
    return FS_OK;
}

/* A graph architecture: validated already; keeps a copy of the weights and the input's scale
 * (absent: MobileNet's [-1, 1] from 0..255). */
static fs_err create_graph_net(const fs_weights *w, const fs_arch *arch, fs_net **out,
                               fs_msg *msg) {
    fs_net *net = calloc(1, sizeof *net);
    if (!net) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a network");
    net->arch = arch;
    net->kind = NET_GRAPH;
    const char *output = meta(w, "output");
    net->output_fake = output && !strcmp(output, "p_fake");
    fs_err e = meta_float(w, "input_scale", 1.0f / 127.5f, &net->in_scale, msg);
    if (!e) e = meta_float(w, "input_zero_point", 127.5f, &net->in_zero, msg);
    for (size_t i = 0; !e && i < w->count; i++)
        e = fs_weights_add(&net->graph_weights, w->items[i].name, w->items[i].ndim,
                           w->items[i].shape, w->items[i].data, msg);
    for (size_t i = 0; !e && i < w->meta_count; i++)
        e = fs_weights_set_meta(&net->graph_weights, w->meta_keys[i], w->meta_values[i], msg);
    if (e) {
        fs_net_free(net);
        return e;
    }
    *out = net;
    return FS_OK;
}

fs_err fs_net_create(const fs_weights *w, const char *arch_name, fs_net **out, fs_msg *msg) {
    *out = NULL;
    if (!arch_name) arch_name = meta(w, "arch");
    if (!arch_name)
        return fs_fail(msg, FS_ERR_INVALID, "the weights do not say their architecture (no "
                                            "\"arch\" metadata): name one");
    const fs_arch *arch = fs_arch_find(arch_name);
    if (!arch) return fs_fail(msg, FS_ERR_NOTFOUND, "unknown architecture '%s'", arch_name);
    fs_err e = fs_arch_validate(arch, w, msg);
    if (e) return e;
    if (arch->graph) return create_graph_net(w, arch, out, msg);
    fs_net *net = calloc(1, sizeof *net);
    if (!net) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a network");
    net->arch = arch;
    net->kind = !strcmp(arch->name, "meso4") ? NET_MESO4 : NET_INCEPTION;
    const char *leaky = meta(w, "dense_leaky");
    net->leaky = leaky && !strcmp(leaky, "true");
    const char *output = meta(w, "output");
    net->output_fake = output && !strcmp(output, "p_fake");
    e = meta_float(w, "bn_eps", FS_NN_BN_EPS, &net->bn_eps, msg);
    if (!e && !(net->bn_eps > 0.0f && net->bn_eps <= 1.0f))
        e = fs_fail(msg, FS_ERR_FORMAT, "weights metadata bn_eps '%s' is not a small positive "
                                        "number", meta(w, "bn_eps"));
    if (e) {
        free(net);
        return e;
    }
    assert(arch->n_tensors <= NET_MAX_TENSORS);
    for (size_t i = 0; i < arch->n_tensors; i++) {
        const fs_weight *src = NULL;
        for (size_t j = 0; j < w->count && !src; j++)
            if (!strcmp(w->items[j].name, arch->tensors[i].name)) src = &w->items[j];
        assert(src); /* validated above */
        net_tensor *t = &net->tensors[net->n_tensors++];
        t->name = arch->tensors[i].name;
        t->count = src->count;
        t->data = malloc((size_t)src->count * sizeof(float));
        if (!t->data) {
            fs_net_free(net);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory for weights");
        }
        memcpy(t->data, src->data, (size_t)src->count * sizeof(float));
    }
    e = net->kind == NET_MESO4 ? build_meso4(net, msg) : build_mesoinception(net, msg);
    if (e) {
        fs_net_free(net);
        return e;
    }
    *out = net;
    return FS_OK;
}

void fs_net_free(fs_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n_ops; i++) fs_fconv_free(&net->ops[i].conv);
    for (size_t i = 0; i < net->n_tensors; i++) free(net->tensors[i].data);
    fs_weights_free(&net->graph_weights);
    free(net);
}

const fs_arch *fs_net_arch(const fs_net *net) { return net->arch; }
int fs_net_conv_shapes(const fs_net *net, int *filters, int *kernel, int cap, fs_msg *msg) {
    const fs_arch *a = net->arch;
    int n = 0;
    if (!a->graph) {
        for (size_t i = 0; i < a->n_conv_layers; i++, n++)
            if (n < cap) filters[n] = a->conv_layers[i].filters, kernel[n] = a->conv_layers[i].kh;
        return n;
    }
    fs_graph *g = NULL;
    if (a->graph(&net->graph_weights, a->input_h, &g, msg)) return -1;
    for (int i = 0; i < fs_graph_nodes(g); i++) {
        fs_graph_node_info info;
        fs_graph_node(g, i, &info);
        if (info.op != FS_OP_CONV && info.op != FS_OP_DWCONV) continue;
        if (n < cap) filters[n] = info.c, kernel[n] = info.k;
        n++;
    }
    fs_graph_free(g);
    return n;
}

int fs_net_dense_leaky(const fs_net *net) { return net->leaky; }
int fs_net_output_is_fake(const fs_net *net) { return net->output_fake; }

/* ---- the plan ---- */

struct fs_net_ctx {
    const fs_net *net;
    fs_pool *pool;
    fs_isa isa;
    int threads, max_batch;
    float *mem;                   /* the one work buffer */
    size_t mem_floats, set_floats, scratch_floats;
    size_t buf_off[NET_MAX_BUFS]; /* in floats, within a set */
    /* NET_GRAPH: this context's graph (its own threads), planned for graph_batch items, and
     * the input of one such batch in the graph's scale */
    fs_graph *graph;
    int graph_batch;
    float *graph_in, *graph_out;
    /* the call in progress (set by fs_net_forward for the pool threads) */
    const float *input;
    int batch;
    float *raw, *logits;
};

#define PLAN_ROUND 16 /* floats: keeps every buffer 64-byte aligned */
#define PLAN_SLACK 16 /* floats past a buffer's end, for vector loads at the last row */

static size_t round_up(size_t n) { return (n + PLAN_ROUND - 1) / PLAN_ROUND * PLAN_ROUND; }

static size_t buf_floats(const net_buf *b) {
    return (size_t)(b->h + 2 * b->halo) * (size_t)(b->w + 2 * b->halo) * (size_t)b->c;
}

/* A graph network's plan holds, per image, the outputs the backbone's leading run does not
 * share (fs_graph_share: its last node's and what follows; every node's, about 20 MB an image
 * for MobileNetV2 at 256x256, on the portable code), so larger batches run in chunks of this
 * many. */
#define GRAPH_MAX_CHUNK 8

static fs_err graph_ctx(fs_net_ctx *ctx, fs_msg *msg) {
    const fs_net *net = ctx->net;
    const fs_arch *a = net->arch;
    fs_err e = a->graph(&net->graph_weights, a->input_h, &ctx->graph, msg);
    if (e) return e;
    fs_graph_set_isa(ctx->graph, ctx->isa);
    fs_graph_share(ctx->graph, 1); /* only the output is read */
    ctx->graph_batch = ctx->max_batch < GRAPH_MAX_CHUNK ? ctx->max_batch : GRAPH_MAX_CHUNK;
    e = fs_graph_set_threads(ctx->graph, ctx->threads, msg);
    if (!e) e = fs_graph_plan(ctx->graph, ctx->graph_batch, msg);
    if (e) return e;
    ctx->mem_floats = (size_t)ctx->graph_batch * (size_t)a->input_h * a->input_w * a->input_c;
    ctx->graph_in = malloc(ctx->mem_floats * sizeof(float));
    ctx->graph_out = malloc((size_t)ctx->graph_batch * sizeof(float));
    if (!ctx->graph_in || !ctx->graph_out)
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a network context");
    return FS_OK;
}

static fs_err graph_forward(fs_net_ctx *ctx, const float *input, int batch, float *raw,
                            float *logits, fs_msg *msg) {
    const fs_net *net = ctx->net;
    const fs_arch *a = net->arch;
    const size_t per = (size_t)a->input_h * a->input_w * a->input_c;
    /* x = byte * input_scale (1/255) back to the byte, then into the graph's scale */
    const float to_byte = 1.0f / a->input_scale;
    for (int b0 = 0; b0 < batch; b0 += ctx->graph_batch) {
        const int n = batch - b0 < ctx->graph_batch ? batch - b0 : ctx->graph_batch;
        const float *x = input + per * (size_t)b0;
        for (size_t i = 0; i < per * (size_t)n; i++)
            ctx->graph_in[i] = net->in_scale * (x[i] * to_byte - net->in_zero);
        fs_err e = fs_graph_forward(ctx->graph, ctx->graph_in, n, ctx->graph_out, msg);
        if (e) return e;
        for (int i = 0; i < n; i++) {
            raw[b0 + i] = fs_nn_sigmoid(ctx->graph_out[i]);
            if (logits) logits[b0 + i] = ctx->graph_out[i];
        }
    }
    return FS_OK;
}

fs_err fs_net_ctx_create(const fs_net *net, const fs_net_opts *opts, fs_net_ctx **out,
                         fs_msg *msg) {
    *out = NULL;
    fs_net_opts o = opts ? *opts : (fs_net_opts){0};
    if (o.threads <= 0) o.threads = fs_cpu_count();
    if (o.threads > FS_NN_MAX_THREADS) o.threads = FS_NN_MAX_THREADS;
    if (o.max_batch <= 0) o.max_batch = 1;
    if (o.max_batch > FS_NET_MAX_BATCH)
        return fs_fail(msg, FS_ERR_LIMIT, "batch %d is above the limit of %d", o.max_batch,
                       FS_NET_MAX_BATCH);
    fs_net_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a network context");
    ctx->net = net;
    ctx->threads = o.threads;
    ctx->max_batch = o.max_batch;
    ctx->isa = o.portable ? FS_ISA_PORTABLE : fs_nn_isa_best();
    if (net->kind == NET_GRAPH) {
        fs_err e = graph_ctx(ctx, msg);
        if (e) {
            fs_net_ctx_free(ctx);
            return e;
        }
        *out = ctx;
        return FS_OK;
    }

    size_t off = 0;
    for (int i = 0; i < net->n_bufs; i++) {
        ctx->buf_off[i] = off;
        off += round_up(buf_floats(&net->bufs[i]) + PLAN_SLACK);
    }
    ctx->set_floats = off;
    size_t scratch = 0;
    for (int i = 0; i < net->n_ops; i++) {
        size_t s = fs_fconv_scratch(&net->ops[i].conv, net->bufs[net->ops[i].in_buf].w);
        if (s > scratch) scratch = s;
    }
    ctx->scratch_floats = round_up(scratch + PLAN_SLACK);
    /* One buffer set per thread: whole images run one per thread. */
    ctx->mem_floats = (size_t)o.threads * (ctx->set_floats + ctx->scratch_floats);
    ctx->mem = fs_nn_alloc(ctx->mem_floats * sizeof(float));
    if (!ctx->mem) {
        size_t mib = ctx->mem_floats * sizeof(float) >> 20;
        fs_net_ctx_free(ctx);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %zu MiB inference plan", mib);
    }
    memset(ctx->mem, 0, ctx->mem_floats * sizeof(float)); /* the halos stay zero from now on */
    if (o.threads > 1) {
        fs_err e = fs_pool_create(o.threads, &ctx->pool, msg);
        if (e) {
            fs_net_ctx_free(ctx);
            return e;
        }
    }
    *out = ctx;
    return FS_OK;
}

void fs_net_ctx_free(fs_net_ctx *ctx) {
    if (!ctx) return;
    fs_pool_free(ctx->pool);
    fs_graph_free(ctx->graph);
    free(ctx->graph_in);
    free(ctx->graph_out);
    free(ctx->mem);
    free(ctx);
}

size_t fs_net_ctx_bytes(const fs_net_ctx *ctx) {
    return ctx->mem_floats * sizeof(float) + (ctx->graph ? fs_graph_planned_bytes(ctx->graph) : 0);
}
int fs_net_ctx_threads(const fs_net_ctx *ctx) { return ctx->threads; }
fs_isa fs_net_ctx_isa(const fs_net_ctx *ctx) { return ctx->isa; }

/* ---- running ---- */

static float *set_base(const fs_net_ctx *ctx, int set) {
    return ctx->mem + (size_t)set * ctx->set_floats;
}

static float *scratch_of(const fs_net_ctx *ctx, int tid) {
    return ctx->mem + (size_t)ctx->threads * ctx->set_floats + (size_t)tid * ctx->scratch_floats;
}

static fs_view view_of(const fs_net_ctx *ctx, int set, int buf, int ch) {
    const net_buf *b = &ctx->net->bufs[buf];
    float *base = set_base(ctx, set) + ctx->buf_off[buf];
    ptrdiff_t row = b->w + 2 * b->halo;
    fs_view v = {.h = b->h, .w = b->w, .c = b->c - ch, .halo = b->halo};
    if (b->planar) {
        v.cs = row * (b->h + 2 * b->halo), v.xs = 1, v.ys = row;
        v.p = base + ch * v.cs + b->halo * row + b->halo;
    } else {
        v.cs = 1, v.xs = b->c, v.ys = row * b->c;
        v.p = base + b->halo * v.ys + b->halo * v.xs + ch;
    }
    return v;
}

static void slice(int n_items, int tid, int n, int *a, int *b) {
    *a = (int)((long)n_items * tid / n);
    *b = (int)((long)n_items * (tid + 1) / n);
}

/* Copies image rows [r0, r1) into the input buffer's interior. */
static void load_input(const fs_net_ctx *ctx, int set, const float *img, int r0, int r1) {
    fs_view v = view_of(ctx, set, 0, 0);
    int w = v.w, c = v.c;
    for (int y = r0; y < r1; y++) {
        const float *src = img + (size_t)y * w * c;
        if (v.cs == 1) {
            memcpy(v.p + y * v.ys, src, (size_t)w * c * sizeof(float));
        } else {
            for (int ch = 0; ch < c; ch++) { /* planar: one contiguous row per channel */
                float *dst = v.p + ch * v.cs + y * v.ys;
                for (int x = 0; x < w; x++) dst[x] = src[x * c + ch];
            }
        }
    }
}

static void head(const fs_net_ctx *ctx, int set, int b) {
    const fs_net *net = ctx->net;
    fs_view v = view_of(ctx, set, net->head_buf, 0);
    assert(v.halo == 0 && v.cs == 1);
    int k = v.h * v.w * v.c;
    const float *x = v.p;
    const float *w1 = fs_net_tensor(net, "dense1.weight"), *b1 = fs_net_tensor(net, "dense1.bias");
    const float *w2 = fs_net_tensor(net, "dense2.weight"), *b2 = fs_net_tensor(net, "dense2.bias");
    float logit = b2[0];
    for (int o = 0; o < 16; o++) {
        float acc = b1[o];
        const float *wr = w1 + (size_t)o * k;
        for (int i = 0; i < k; i++) acc += wr[i] * x[i];
        if (net->leaky && acc < 0.0f) acc *= FS_NN_LEAKY_SLOPE;
        logit += w2[o] * acc;
    }
    ctx->raw[b] = fs_nn_sigmoid(logit);
    if (ctx->logits) ctx->logits[b] = logit;
}

/* Input rows [*a, *b) that this thread's share (tid of n) of the ops reading the input needs:
 * their pooling bands widened by the convolution's halo. */
static void input_rows(const fs_net *net, int tid, int n, int *a, int *b) {
    int h = net->bufs[0].h;
    *a = h, *b = 0;
    for (int i = 0; i < net->n_ops; i++) {
        const net_op *op = &net->ops[i];
        if (op->in_buf != 0) continue;
        int p = op->conv.pool, halo = fs_fconv_halo(&op->conv), o0, o1;
        slice(net->bufs[op->out_buf].h, tid, n, &o0, &o1);
        if (o0 == o1) continue;
        int top = fs_nn_same_pad_before(h, p, p, 1);
        int y0 = o0 * p - top - halo, y1 = o1 * p - top + halo;
        if (y0 < *a) *a = y0;
        if (y1 > *b) *b = y1;
    }
    if (*a < 0) *a = 0;
    if (*b > h) *b = h;
    if (*a > *b) *a = *b;
}

/* Runs image b in buffer set `set`, this thread doing its share (tid of n) of every phase, with
 * the band scratch of pool thread `self`. When an image is shared (n > 1) each thread copies
 * the input rows its own share reads into the input buffer of its own set `self` and reads
 * them from there: no thread waits for another's copy, and nothing is written twice. */
static void run_image(fs_net_ctx *ctx, int set, int b, int self, int tid, int n) {
    const fs_net *net = ctx->net;
    const net_buf *in = &net->bufs[0];
    size_t img_floats = (size_t)in->h * in->w * in->c;
    int r0 = 0, r1 = in->h, in_set = n > 1 ? self : set;
    if (n > 1) input_rows(net, tid, n, &r0, &r1);
    load_input(ctx, in_set, ctx->input + (size_t)b * img_floats, r0, r1);
    float *scratch = scratch_of(ctx, self);
    for (int ph = 0; ph < net->n_phases; ph++) {
        for (int i = 0; i < net->n_ops; i++) {
            const net_op *op = &net->ops[i];
            if (op->phase != ph) continue;
            fs_view vi = view_of(ctx, op->in_buf == 0 ? in_set : set, op->in_buf, op->in_ch);
            fs_view vo = view_of(ctx, set, op->out_buf, op->out_ch);
            int o0, o1;
            slice(vo.h, tid, n, &o0, &o1);
            fs_fconv_rows(&op->conv, ctx->isa, &vi, &vo, o0, o1, scratch);
        }
        if (n > 1) fs_pool_barrier(ctx->pool);
    }
    if (tid == 0) head(ctx, set, b);
}

static void forward_job(void *arg, int tid, int n) {
    fs_net_ctx *ctx = arg;
    int whole = ctx->batch / n * n;
    for (int b = tid; b < whole; b += n) run_image(ctx, tid, b, tid, 0, 1);
    if (whole == ctx->batch) return;
    /* Set 0 is free again once thread 0 has finished its own images. */
    if (n > 1 && whole > 0) fs_pool_barrier(ctx->pool);
    for (int b = whole; b < ctx->batch; b++) run_image(ctx, 0, b, tid, tid, n);
}

fs_err fs_net_forward(fs_net_ctx *ctx, const float *input, int batch, float *raw, float *logits,
                      fs_msg *msg) {
    if (batch < 1 || batch > ctx->max_batch)
        return fs_fail(msg, FS_ERR_INVALID, "batch %d outside 1..%d", batch, ctx->max_batch);
    if (!input || !raw) return fs_fail(msg, FS_ERR_INVALID, "forward: no input or output");
    if (ctx->graph) return graph_forward(ctx, input, batch, raw, logits, msg);
    ctx->input = input, ctx->batch = batch, ctx->raw = raw, ctx->logits = logits;
    fs_pool_run(ctx->pool, forward_job, ctx);
    ctx->input = NULL, ctx->raw = ctx->logits = NULL;
    return FS_OK;
}
