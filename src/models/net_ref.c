/* net_ref.c: the reference forward pass, layer by layer through the plain nn layers, exactly
 * as the Keras graph is written (conv+ReLU, batch norm, pooling, concat, flatten, dense). It
 * is slow and allocates per call; it exists to check the fused forward and to hand out the
 * activation of any convolution layer for feature-map plots. */
#include "models/net_impl.h"

#include <stdio.h>
#include <string.h>

typedef struct ref_run {
    const fs_net *net;
    const char *want;  /* layer whose activation to keep, or NULL */
    fs_tensor *keep;   /* receives it */
    int found;
    fs_err err;
    fs_msg *msg;
} ref_run;

/* conv (same, stride 1) + ReLU from in into a new tensor; keeps a copy if it is the wanted layer. */
static fs_tensor conv_relu(ref_run *r, const char *name, int dil, const fs_tensor *in) {
    fs_tensor out = {0};
    if (r->err) return out;
    const fs_arch *arch = r->net->arch;
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    const fs_arch_tensor *t = NULL;
    for (size_t i = 0; i < arch->n_tensors && !t; i++)
        if (!strcmp(arch->tensors[i].name, wn)) t = &arch->tensors[i];
    fs_conv2d p = {.cout = (int)t->shape[0], .cin = (int)t->shape[1], .kh = (int)t->shape[2],
                   .kw = (int)t->shape[3], .stride_h = 1, .stride_w = 1, .dil_h = dil,
                   .dil_w = dil, .weight = fs_net_tensor(r->net, wn),
                   .bias = fs_net_tensor(r->net, bn)};
    int h, w;
    fs_nn_conv2d_shape(&p, in, &h, &w);
    if ((r->err = fs_tensor_alloc(&out, in->n, h, w, p.cout, r->msg))) return out;
    fs_nn_conv2d(&p, in, &out);
    fs_nn_relu(&out);
    if (r->want && !strcmp(r->want, name)) {
        if ((r->err = fs_tensor_alloc(r->keep, out.n, out.h, out.w, out.c, r->msg))) return out;
        memcpy(r->keep->data, out.data, fs_tensor_count(&out) * sizeof(float));
        r->found = 1;
    }
    return out;
}

/* Batch norm (named prefix) then 'same' max pooling; frees x. */
static fs_tensor bn_pool(ref_run *r, const char *bn, int pool, fs_tensor *x) {
    fs_tensor out = {0};
    if (r->err) {
        fs_tensor_free(x);
        return out;
    }
    char n[4][64];
    snprintf(n[0], 64, "%s.weight", bn);
    snprintf(n[1], 64, "%s.bias", bn);
    snprintf(n[2], 64, "%s.running_mean", bn);
    snprintf(n[3], 64, "%s.running_var", bn);
    fs_nn_batchnorm(x, fs_net_tensor(r->net, n[0]), fs_net_tensor(r->net, n[1]),
                    fs_net_tensor(r->net, n[2]), fs_net_tensor(r->net, n[3]), r->net->bn_eps);
    r->err = fs_tensor_alloc(&out, x->n, fs_nn_same_out(x->h, pool), fs_nn_same_out(x->w, pool),
                             x->c, r->msg);
    if (!r->err) fs_nn_maxpool(x, pool, pool, &out);
    fs_tensor_free(x);
    return out;
}

static fs_tensor inception(ref_run *r, const char *p, const fs_tensor *in) {
    static const char *const sfx[3][2] = {{"b2a", "b2b"}, {"b3a", "b3b"}, {"b4a", "b4b"}};
    char name[64];
    fs_tensor parts[4] = {{0}};
    snprintf(name, sizeof name, "%s.b1", p);
    parts[0] = conv_relu(r, name, 1, in);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s.%s", p, sfx[i][0]);
        fs_tensor a = conv_relu(r, name, 1, in);
        snprintf(name, sizeof name, "%s.%s", p, sfx[i][1]);
        if (!r->err) parts[i + 1] = conv_relu(r, name, i + 1, &a);
        fs_tensor_free(&a);
    }
    fs_tensor out = {0};
    if (!r->err) {
        int c = parts[0].c + parts[1].c + parts[2].c + parts[3].c;
        r->err = fs_tensor_alloc(&out, in->n, in->h, in->w, c, r->msg);
        const fs_tensor *ins[4] = {&parts[0], &parts[1], &parts[2], &parts[3]};
        if (!r->err) fs_nn_concat(ins, 4, &out);
    }
    for (int i = 0; i < 4; i++) fs_tensor_free(&parts[i]);
    return out;
}

static void run(ref_run *r, const float *input, float *raw, float *logit) {
    const fs_net *net = r->net;
    const fs_arch *a = net->arch;
    fs_tensor x = {0};
    if ((r->err = fs_tensor_alloc(&x, 1, a->input_h, a->input_w, a->input_c, r->msg))) return;
    memcpy(x.data, input, fs_tensor_count(&x) * sizeof(float));
    fs_tensor y;
    if (net->kind == NET_MESO4) {
        static const char *const convs[4] = {"conv1", "conv2", "conv3", "conv4"};
        static const char *const bns[4] = {"bn1", "bn2", "bn3", "bn4"};
        static const int pools[4] = {2, 2, 2, 4};
        for (int i = 0; i < 4; i++) {
            y = conv_relu(r, convs[i], 1, &x);
            fs_tensor_free(&x);
            x = bn_pool(r, bns[i], pools[i], &y);
        }
    } else {
        y = inception(r, "inc1", &x);
        fs_tensor_free(&x);
        x = bn_pool(r, "bn1", 2, &y);
        y = inception(r, "inc2", &x);
        fs_tensor_free(&x);
        x = bn_pool(r, "bn2", 2, &y);
        y = conv_relu(r, "conv3", 1, &x);
        fs_tensor_free(&x);
        x = bn_pool(r, "bn3", 2, &y);
        y = conv_relu(r, "conv4", 1, &x);
        fs_tensor_free(&x);
        x = bn_pool(r, "bn4", 4, &y);
    }
    if (!r->err && raw) {
        fs_tensor flat = {0}, d1 = {0}, d2 = {0};
        r->err = fs_tensor_alloc(&flat, 1, 1, 1, x.h * x.w * x.c, r->msg);
        if (!r->err) r->err = fs_tensor_alloc(&d1, 1, 1, 1, 16, r->msg);
        if (!r->err) r->err = fs_tensor_alloc(&d2, 1, 1, 1, 1, r->msg);
        if (!r->err) {
            fs_nn_flatten(&x, &flat);
            fs_nn_dense(&flat, fs_net_tensor(net, "dense1.weight"),
                        fs_net_tensor(net, "dense1.bias"), 16, &d1);
            if (net->leaky) fs_nn_leaky_relu(&d1, FS_NN_LEAKY_SLOPE);
            fs_nn_dense(&d1, fs_net_tensor(net, "dense2.weight"),
                        fs_net_tensor(net, "dense2.bias"), 1, &d2);
            *raw = fs_nn_sigmoid(d2.data[0]);
            if (logit) *logit = d2.data[0];
        }
        fs_tensor_free(&flat), fs_tensor_free(&d1), fs_tensor_free(&d2);
    }
    fs_tensor_free(&x);
}

fs_err fs_net_forward_ref(const fs_net *net, const float *input, float *raw, float *logit,
                          fs_msg *msg) {
    if (!input || !raw) return fs_fail(msg, FS_ERR_INVALID, "forward: no input or output");
    if (net->kind == NET_GRAPH) {
        /* the graph's portable kernels are its reference */
        fs_net_ctx *ctx = NULL;
        fs_net_opts o = {.threads = 1, .max_batch = 1, .portable = 1};
        fs_err e = fs_net_ctx_create(net, &o, &ctx, msg);
        float l = 0;
        if (!e) e = fs_net_forward(ctx, input, 1, raw, &l, msg);
        if (!e && logit) *logit = l;
        fs_net_ctx_free(ctx);
        return e;
    }
    ref_run r = {.net = net, .msg = msg};
    run(&r, input, raw, logit);
    return r.err;
}

fs_err fs_net_activation(const fs_net *net, const float *input, const char *layer,
                         fs_tensor *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    int known = 0;
    for (size_t i = 0; i < net->arch->n_conv_layers && !known; i++)
        known = layer && !strcmp(net->arch->conv_layers[i].name, layer);
    if (!known)
        return fs_fail(msg, FS_ERR_NOTFOUND, "%s has no convolution layer '%s'",
                       net->arch->title, layer ? layer : "(null)");
    if (!input) return fs_fail(msg, FS_ERR_INVALID, "activation: no input");
    ref_run r = {.net = net, .want = layer, .keep = out, .msg = msg};
    run(&r, input, NULL, NULL);
    if (r.err) {
        fs_tensor_free(out);
        return r.err;
    }
    return r.found ? FS_OK : fs_fail(msg, FS_ERR_INTERNAL, "layer %s was not reached", layer);
}
