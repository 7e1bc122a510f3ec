/* graph_train.c: the training half of the op graph (graph.h): the parameter list and its
 * gradients, the training buffers of a plan, the backward pass of every op, the binary
 * cross-entropy head and the export of parameters in PyTorch layout.
 *
 * The backward pass walks the nodes from the output to the input. A node's gradient buffer
 * receives the sum of what its readers pass back (a residual input is read twice), so the
 * buffers start at zero and each op adds into its inputs' buffers; once its readers are done
 * (they all come later), a node first turns the gradient of its output into that of the value
 * before its activation, in place, then passes it on. Nodes that nothing trainable depends on
 * are skipped, so training only a head costs only the head. The code here is the portable
 * definition (FS_ISA_PORTABLE); graph_fast.c runs the same passes on the fast kernels and the
 * graph's threads, in a fixed order for a thread count, so two runs give the same bits. */
#include <math.h>
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

static const float *act_of(const fs_graph *g, const node *nd) { return g->arena + nd->offset; }

void fs_graph_drop_params(fs_graph *g) {
    free(g->params);
    free(g->grads);
    g->params = NULL;
    g->grads = NULL;
    g->nparams = 0;
    g->training = 0;
}

static size_t aligned(size_t f) {
    const size_t a = FS_NN_ALIGN / sizeof(float);
    return (f + a - 1) / a * a;
}

static size_t round16(size_t v) { return (v + 15) / 16 * 16; }

size_t fs_graph_train_layout(fs_graph *g, int n) {
    size_t total = 0, scratch = 0;
    for (int i = 0; i < g->n; i++) {
        node *nd = &g->nodes[i];
        const size_t f = fs_graph_node_floats(nd) * (size_t)n;
        nd->goff = total;
        total += aligned(f);
        nd->zoff = total;
        if (nd->act == FS_ACT_HSWISH) total += aligned(f);
        size_t s = nd->op == FS_OP_BN ? 4 * (size_t)nd->c /* 2c doubles */
                   : nd->op == FS_OP_SE ? 2 * (size_t)nd->c + (size_t)nd->hidden
                   : nd->op == FS_OP_CONV ? (size_t)nd->k * nd->k * round16((size_t)g->nodes[nd->in0].c) *
                                                round16((size_t)nd->c)
                   : 0; /* conv: its weights transposed (and packed in panels of 16) */
        scratch = s > scratch ? s : scratch;
    }
    g->scratch = total;
    total += aligned(scratch);
    g->dout = total;
    total += aligned(fs_graph_node_floats(&g->nodes[g->n - 1]) * (size_t)n);
    return total;
}

/* ---- the parameter list ---- */

/* Adds parameter `suffix` of node nd over data (PyTorch shape). */
static fs_err add_param(fs_graph *g, size_t *cap, node *nd, const char *suffix, float *data,
                     int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int trainable,
                     int decay, fs_msg *msg) {
    if (g->nparams == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        fs_tparam *p = realloc(g->params, nc * sizeof *p);
        if (!p) return fs_fail(msg, FS_ERR_NOMEM, "out of memory listing parameters");
        g->params = p, *cap = nc;
    }
    fs_tparam *p = &g->params[g->nparams];
    memset(p, 0, sizeof *p);
    char unnamed[24]; /* a node built without a name: "node<id>" */
    snprintf(unnamed, sizeof unnamed, "node%d", (int)(nd - g->nodes));
    const char *base = nd->name[0] ? nd->name : unnamed;
    if (snprintf(p->name, sizeof p->name, "%s.%s", base, suffix) >= (int)sizeof p->name)
        return fs_fail(msg, FS_ERR_INVALID, "parameter name %s.%s is longer than %zu characters",
                       base, suffix, sizeof p->name - 1);
    for (size_t i = 0; i < g->nparams; i++)
        if (!strcmp(g->params[i].name, p->name))
            return fs_fail(msg, FS_ERR_INVALID, "two parameters are named %s (two nodes share "
                           "the name %s)", p->name, base);
    int64_t d[4] = {d0, d1, d2, d3};
    p->ndim = ndim;
    p->count = 1;
    for (int i = 0; i < ndim; i++) p->shape[i] = d[i], p->count *= (size_t)d[i];
    p->data = data;
    p->grad = trainable ? data : NULL; /* marks it; pointed at the gradients below */
    p->decay = decay;
    if (nd->np == 0) nd->p0 = (int)g->nparams;
    nd->np++;
    g->nparams++;
    return FS_OK;
}

static fs_err list_params(fs_graph *g, fs_msg *msg) {
    size_t cap = 0;
    fs_err bad = FS_OK;
    for (int i = 1; i < g->n && !bad; i++) {
        node *nd = &g->nodes[i];
        const node *src = &g->nodes[nd->in0];
        const int64_t c = nd->c, k = nd->k;
        nd->np = 0;
        switch (nd->op) {
        case FS_OP_CONV:
        case FS_OP_DWCONV:
            bad = add_param(g, &cap, nd, "weight", nd->weight, 4, c, nd->op == FS_OP_CONV ? src->c : 1,
                            k, k, 1, 1, msg);
            if (!bad && nd->bias) bad = add_param(g, &cap, nd, "bias", nd->bias, 1, c, 0, 0, 0, 1, 0, msg);
            break;
        case FS_OP_DENSE:
            bad = add_param(g, &cap, nd, "weight", nd->weight, 2, c, src->c, 0, 0, 1, 1, msg);
            if (!bad && nd->bias) bad = add_param(g, &cap, nd, "bias", nd->bias, 1, c, 0, 0, 0, 1, 0, msg);
            break;
        case FS_OP_BN:
            bad = add_param(g, &cap, nd, "weight", nd->weight, 1, c, 0, 0, 0, 1, 0, msg);
            if (!bad) bad = add_param(g, &cap, nd, "bias", nd->bias, 1, c, 0, 0, 0, 1, 0, msg);
            if (!bad) bad = add_param(g, &cap, nd, "running_mean", nd->rmean, 1, c, 0, 0, 0, 0, 0, msg);
            if (!bad) bad = add_param(g, &cap, nd, "running_var", nd->rvar, 1, c, 0, 0, 0, 0, 0, msg);
            break;
        case FS_OP_SE:
            bad = add_param(g, &cap, nd, "fc1.weight", nd->weight, 2, nd->hidden, c, 0, 0, 1, 1, msg);
            if (!bad) bad = add_param(g, &cap, nd, "fc1.bias", nd->bias, 1, nd->hidden, 0, 0, 0, 1, 0, msg);
            if (!bad) bad = add_param(g, &cap, nd, "fc2.weight", nd->w2, 2, c, nd->hidden, 0, 0, 1, 1, msg);
            if (!bad) bad = add_param(g, &cap, nd, "fc2.bias", nd->b2, 1, c, 0, 0, 0, 1, 0, msg);
            break;
        default: break;
        }
    }
    size_t total = 0;
    for (size_t i = 0; !bad && i < g->nparams; i++)
        if (g->params[i].grad) total += aligned(g->params[i].count);
    if (!bad && total && !(g->grads = fs_nn_alloc(total * sizeof(float))))
        bad = fs_fail(msg, FS_ERR_NOMEM, "out of memory for %zu MB of gradients",
                      total * sizeof(float) >> 20);
    if (bad) {
        fs_graph_drop_params(g);
        for (int i = 0; i < g->n; i++) g->nodes[i].np = 0;
        return bad;
    }
    if (total) memset(g->grads, 0, total * sizeof(float));
    total = 0;
    for (size_t i = 0; i < g->nparams; i++)
        if (g->params[i].grad) {
            g->params[i].grad = g->grads + total;
            total += aligned(g->params[i].count);
        }
    return FS_OK;
}

fs_err fs_graph_train(fs_graph *g, int on, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    for (int i = 1; on && i < g->n; i++)
        if (fs_graph_op_forward_only(g->nodes[i].op))
            return fs_fail(msg, FS_ERR_UNSUPPORTED, "%s: this op has no backward pass, so the "
                           "graph cannot train", g->nodes[i].name);
    if (on && !g->params) {
        fs_err e = list_params(g, msg);
        if (e) return e;
    }
    g->training = on ? 1 : 0;
    g->trained_n = 0;
    return FS_OK;
}

size_t fs_graph_param_count(const fs_graph *g) { return g->nparams; }
fs_tparam *fs_graph_params(fs_graph *g) { return g->params; }

fs_tparam *fs_graph_param_find(fs_graph *g, const char *name) {
    for (size_t i = 0; i < g->nparams; i++)
        if (!strcmp(g->params[i].name, name)) return &g->params[i];
    return NULL;
}

int fs_graph_freeze(fs_graph *g, const char *prefix, int frozen) {
    int count = 0;
    const size_t len = strlen(prefix);
    for (size_t i = 0; i < g->nparams; i++)
        if (!strncmp(g->params[i].name, prefix, len) && g->params[i].grad) {
            g->params[i].frozen = frozen ? 1 : 0;
            memset(g->params[i].grad, 0, g->params[i].count * sizeof(float));
            count++;
        }
    return count;
}

int fs_graph_bn_freeze(fs_graph *g, const char *prefix, int frozen) {
    int count = 0;
    const size_t len = strlen(prefix);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == FS_OP_BN && !strncmp(g->nodes[i].name, prefix, len)) {
            g->nodes[i].bn_frozen = frozen ? 1 : 0;
            count++;
        }
    return count;
}

fs_err fs_graph_bn_calibrate(fs_graph *g, const float *input, int n, fs_msg *msg) {
    fs_err e = fs_graph_forward(g, input, n, NULL, msg);
    if (e) return e;
    /* every node's input is unchanged by the calibration of the ones before it (inference
     * answers stay), so one forward serves them all */
    for (int i = 1; i < g->n; i++) {
        node *nd = &g->nodes[i];
        if (nd->op != FS_OP_BN) continue;
        const int c = nd->c;
        const float *x = act_of(g, &g->nodes[nd->in0]);
        double *dm = (double *)(g->arena + nd->aux), *dv = dm + c;
        fs_graph_channel_stats(x, (size_t)nd->h * nd->w * (size_t)n, c, dm, dv);
        for (int ch = 0; ch < c; ch++) {
            const double m = dm[ch], v = dv[ch];
            const double sc = nd->weight[ch] / sqrt((double)nd->rvar[ch] + nd->eps);
            nd->bias[ch] = (float)(nd->bias[ch] + (m - nd->rmean[ch]) * sc);
            nd->weight[ch] = (float)(sc * sqrt(v + nd->eps));
            nd->rmean[ch] = (float)m;
            nd->rvar[ch] = (float)v;
        }
    }
    return FS_OK;
}

/* ---- backward ---- */

/* The gradient of node nd's parameter j when it is to be computed, else NULL. */
static float *pgrad(const fs_graph *g, const node *nd, int j) {
    if (j >= nd->np) return NULL;
    const fs_tparam *p = &g->params[nd->p0 + j];
    return p->grad && !p->frozen ? p->grad : NULL;
}

static int trainable(const fs_graph *g, const node *nd) {
    for (int j = 0; j < nd->np; j++)
        if (pgrad(g, nd, j)) return 1;
    return 0;
}

static float *grad_of(const fs_graph *g, const node *nd) { return g->tarena + nd->goff; }

/* gy (the gradient of a node's output) becomes that of the value before its activation.
 * ReLU and ReLU6 read the output y: it is 0 (or 6) exactly where the input was clipped; z is
 * the value before a hard-swish. */
void fs_graph_act_back(fs_act act, const float *y, const float *z, float *gy, size_t count) {
    switch (act) {
    case FS_ACT_RELU:
        for (size_t j = 0; j < count; j++) gy[j] = y[j] > 0 ? gy[j] : 0;
        break;
    case FS_ACT_RELU6:
        for (size_t j = 0; j < count; j++) gy[j] = y[j] > 0 && y[j] < 6 ? gy[j] : 0;
        break;
    case FS_ACT_HSWISH: /* d/dz z ReLU6(z + 3) / 6 */
        for (size_t j = 0; j < count; j++)
            gy[j] *= z[j] < -3 ? 0.0f : z[j] > 3 ? 1.0f : (2 * z[j] + 3) / 6;
        break;
    case FS_ACT_NONE: break;
    }
}

/* One item of a convolution: gradient go of its output; adds to gx (input gradient), gw, gb
 * (each may be NULL). wt: a conv's weights as [k][k][cout][cin], so that the input gradient
 * too is a sum of contiguous vectors (W[tap][c][:] * go[c]) rather than of dot products. */
void fs_graph_conv_back_item(const node *nd, const node *src, const float *x, const float *go_all,
                             const float *wt_t, float *gx, float *gw, float *gb) {
    const int cin = src->c, cout = nd->c, k = nd->k, dw = nd->op == FS_OP_DWCONV;
    for (int oy = 0; oy < nd->h; oy++)
        for (int ox = 0; ox < nd->w; ox++) {
            const float *go = go_all + ((size_t)oy * nd->w + ox) * cout;
            if (gb)
                for (int c = 0; c < cout; c++) gb[c] += go[c];
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * nd->stride + ky * nd->dil - nd->pad_top;
                if (iy < 0 || iy >= src->h) continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * nd->stride + kx * nd->dil - nd->pad_left;
                    if (ix < 0 || ix >= src->w) continue;
                    const size_t px = ((size_t)iy * src->w + ix) * cin;
                    const float *xp = x + px;
                    float *gxp = gx ? gx + px : NULL;
                    const size_t tap = ((size_t)ky * k + kx) * (size_t)(dw ? cout : cin * cout);
                    const float *wt = nd->weight + tap;
                    if (dw) {
                        if (gw)
                            for (int c = 0; c < cout; c++) gw[tap + c] += xp[c] * go[c];
                        if (gxp)
                            for (int c = 0; c < cout; c++) gxp[c] += wt[c] * go[c];
                        continue;
                    }
                    if (gw)
                        for (int i = 0; i < cin; i++) {
                            float *gr = gw + tap + (size_t)i * cout;
                            const float xi = xp[i];
                            for (int c = 0; c < cout; c++) gr[c] += xi * go[c];
                        }
                    if (gxp)
                        for (int c = 0; c < cout; c++) {
                            const float *wr = wt_t + tap + (size_t)c * cin;
                            const float gc = go[c];
                            for (int i = 0; i < cin; i++) gxp[i] += wr[i] * gc;
                        }
                }
            }
        }
}

/* Batch norm over the whole batch (count = n x pixels values per channel). */
static void bn_back(const fs_graph *g, const node *nd, const node *src, const float *gy,
                    float *gx, size_t count) {
    const int c = nd->c;
    const float *x = act_of(g, src), *mean = fs_graph_bn_mean(g, nd), *inv = mean + c;
    double *sg = (double *)(g->tarena + g->scratch), *sgx = sg + c;
    for (int ch = 0; ch < c; ch++) sg[ch] = sgx[ch] = 0;
    for (size_t p = 0; p < count; p++)
        for (int ch = 0; ch < c; ch++) {
            const float d = gy[p * c + ch];
            sg[ch] += d;
            sgx[ch] += (double)d * ((x[p * c + ch] - mean[ch]) * inv[ch]);
        }
    float *gg = pgrad(g, nd, 0), *gb = pgrad(g, nd, 1);
    for (int ch = 0; ch < c; ch++) {
        if (gg) gg[ch] += (float)sgx[ch];
        if (gb) gb[ch] += (float)sg[ch];
    }
    if (!gx) return;
    if (!nd->used_batch) {
        for (size_t p = 0; p < count; p++)
            for (int ch = 0; ch < c; ch++) gx[p * c + ch] += gy[p * c + ch] * nd->weight[ch] * inv[ch];
        return;
    }
    /* dx = gamma inv (dy - mean(dy) - xhat mean(dy xhat)) */
    for (int ch = 0; ch < c; ch++) sg[ch] /= (double)count, sgx[ch] /= (double)count;
    for (size_t p = 0; p < count; p++)
        for (int ch = 0; ch < c; ch++) {
            const float xh = (x[p * c + ch] - mean[ch]) * inv[ch];
            gx[p * c + ch] += nd->weight[ch] * inv[ch] *
                              (gy[p * c + ch] - (float)sg[ch] - xh * (float)sgx[ch]);
        }
}

/* One item of a squeeze-and-excitation (sv: its s, h, v, e from the forward). */
static void se_back(const fs_graph *g, const node *nd, const float *x, const float *gy,
                    const float *sv, float *gx) {
    const int c = nd->c, hd = nd->hidden;
    const size_t px = (size_t)nd->h * nd->w;
    const float *s = sv, *h = s + c, *v = h + hd, *e = v + c;
    float *gv = g->tarena + g->scratch, *gh = gv + c, *gs = gh + hd;
    for (int ch = 0; ch < c; ch++) {
        double a = 0;
        for (size_t p = 0; p < px; p++) a += (double)gy[p * c + ch] * x[p * c + ch];
        gv[ch] = (float)a * (nd->gate == FS_GATE_SIGMOID ? e[ch] * (1 - e[ch])
                             : v[ch] > -3 && v[ch] < 3 ? 1.0f / 6 : 0.0f);
    }
    float *gw1 = pgrad(g, nd, 0), *gb1 = pgrad(g, nd, 1), *gw2 = pgrad(g, nd, 2), *gb2 = pgrad(g, nd, 3);
    for (int j = 0; j < hd; j++) gh[j] = 0;
    for (int ch = 0; ch < c; ch++) {
        const float *wr = nd->w2 + (size_t)ch * hd;
        if (gb2) gb2[ch] += gv[ch];
        if (gw2)
            for (int j = 0; j < hd; j++) gw2[(size_t)ch * hd + j] += gv[ch] * h[j];
        for (int j = 0; j < hd; j++) gh[j] += wr[j] * gv[ch];
    }
    for (int j = 0; j < hd; j++) gh[j] = h[j] > 0 ? gh[j] : 0;
    for (int ch = 0; ch < c; ch++) gs[ch] = 0;
    for (int j = 0; j < hd; j++) {
        const float *wr = nd->weight + (size_t)j * c;
        if (gb1) gb1[j] += gh[j];
        if (gw1)
            for (int ch = 0; ch < c; ch++) gw1[(size_t)j * c + ch] += gh[j] * s[ch];
        for (int ch = 0; ch < c; ch++) gs[ch] += wr[ch] * gh[j];
    }
    if (!gx) return;
    for (size_t p = 0; p < px; p++)
        for (int ch = 0; ch < c; ch++)
            gx[p * c + ch] += gy[p * c + ch] * e[ch] + gs[ch] / (float)px;
}

/* Node nd's backward over the batch of n items: its gradient (already complete) into its
 * parameters' and its inputs' gradients. */
void fs_graph_node_back(fs_graph *g, node *nd, int n) {
    const node *src = &g->nodes[nd->in0];
    const size_t fo = fs_graph_node_floats(nd), fi = fs_graph_node_floats(src);
    float *gy = grad_of(g, nd);
    fs_graph_act_back(nd->act, act_of(g, nd), g->tarena + nd->zoff, gy, fo * (size_t)n);
    float *gx = src->need ? grad_of(g, src) : NULL;
    const float *x = act_of(g, src);
    switch (nd->op) {
    case FS_OP_CONV:
    case FS_OP_DWCONV: {
        float *gw = pgrad(g, nd, 0), *gb = nd->bias ? pgrad(g, nd, 1) : NULL, *wt_t = NULL;
        if (gx && nd->op == FS_OP_CONV) { /* [t][cin][cout] -> [t][cout][cin] */
            const size_t cin = (size_t)src->c, co = (size_t)nd->c, kk = (size_t)nd->k * nd->k;
            wt_t = g->tarena + g->scratch;
            for (size_t t = 0; t < kk; t++)
                for (size_t i = 0; i < cin; i++)
                    for (size_t c = 0; c < co; c++)
                        wt_t[(t * co + c) * cin + i] = nd->weight[(t * cin + i) * co + c];
        }
        for (int b = 0; b < n; b++)
            fs_graph_conv_back_item(nd, src, x + fi * (size_t)b, gy + fo * (size_t)b, wt_t,
                      gx ? gx + fi * (size_t)b : NULL, gw, gb);
        break;
    }
    case FS_OP_ADD: {
        const node *other = &g->nodes[nd->in1];
        const size_t all = fo * (size_t)n;
        if (gx)
            for (size_t j = 0; j < all; j++) gx[j] += gy[j];
        if (other->need) {
            float *go = grad_of(g, other);
            for (size_t j = 0; j < all; j++) go[j] += gy[j];
        }
        break;
    }
    case FS_OP_GAP: {
        if (!gx) break;
        const int c = nd->c;
        const size_t px = (size_t)src->h * src->w;
        for (int b = 0; b < n; b++)
            for (size_t p = 0; p < px; p++)
                for (int ch = 0; ch < c; ch++)
                    gx[(size_t)b * fi + p * c + ch] += gy[(size_t)b * c + ch] / (float)px;
        break;
    }
    case FS_OP_DENSE: {
        const int cin = src->c, co = nd->c;
        float *gw = pgrad(g, nd, 0), *gb = nd->bias ? pgrad(g, nd, 1) : NULL;
        for (int b = 0; b < n; b++) {
            const float *xb = x + (size_t)b * cin, *go = gy + (size_t)b * co;
            if (gb)
                for (int o = 0; o < co; o++) gb[o] += go[o];
            for (int j = 0; j < cin; j++) {
                const float *wr = nd->weight + (size_t)j * co;
                if (gw)
                    for (int o = 0; o < co; o++) gw[(size_t)j * co + o] += xb[j] * go[o];
                if (gx) {
                    float s = 0;
                    for (int o = 0; o < co; o++) s += wr[o] * go[o];
                    gx[(size_t)b * cin + j] += s;
                }
            }
        }
        break;
    }
    case FS_OP_SOFTMAX: {
        if (!gx) break;
        const int c = nd->c;
        const float *y = act_of(g, nd);
        for (size_t p = 0; p < fo * (size_t)n / (size_t)c; p++) {
            double dot = 0;
            for (int ch = 0; ch < c; ch++) dot += (double)gy[p * c + ch] * y[p * c + ch];
            for (int ch = 0; ch < c; ch++)
                gx[p * c + ch] += y[p * c + ch] * (gy[p * c + ch] - (float)dot);
        }
        break;
    }
    case FS_OP_BN: bn_back(g, nd, src, gy, gx, (size_t)nd->h * nd->w * (size_t)n); break;
    case FS_OP_SE:
        for (int b = 0; b < n; b++)
            se_back(g, nd, x + fi * (size_t)b, gy + fo * (size_t)b,
                    g->arena + nd->aux + (3 * (size_t)nd->c + (size_t)nd->hidden) * (size_t)b,
                    gx ? gx + fi * (size_t)b : NULL);
        break;
    case FS_OP_INPUT: break;
    default: break; /* forward-only ops: fs_graph_train refused the graph */
    }
}

fs_err fs_graph_backward(fs_graph *g, const float *dout, float *dx, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    if (!g->training || !g->tarena || !g->trained_n)
        return fs_fail(msg, FS_ERR_INVALID, "a backward pass needs a training forward before it");
    const int n = g->trained_n;
    for (int i = 0; i < g->n; i++) {
        node *nd = &g->nodes[i];
        nd->need = i == 0 ? dx != NULL
                          : trainable(g, nd) || g->nodes[nd->in0].need ||
                                (nd->in1 >= 0 && g->nodes[nd->in1].need);
        if (nd->need && g->isa < FS_ISA_AVX2)
            memset(grad_of(g, nd), 0, sizeof(float) * fs_graph_node_floats(nd) * (size_t)n);
    }
    for (size_t i = 0; i < g->nparams; i++)
        if (g->params[i].grad) memset(g->params[i].grad, 0, sizeof(float) * g->params[i].count);
    if (g->isa >= FS_ISA_AVX2) {
        fs_graph_fast_backward(g, n, dout);
        if (dx) memcpy(dx, grad_of(g, &g->nodes[0]), sizeof(float) * fs_graph_node_floats(&g->nodes[0]) * (size_t)n);
        return FS_OK;
    }
    node *last = &g->nodes[g->n - 1];
    if (last->need) memcpy(grad_of(g, last), dout, sizeof(float) * fs_graph_node_floats(last) * (size_t)n);
    for (int i = g->n - 1; i >= 1; i--)
        if (g->nodes[i].need) fs_graph_node_back(g, &g->nodes[i], n);
    if (dx) memcpy(dx, grad_of(g, &g->nodes[0]), sizeof(float) * fs_graph_node_floats(&g->nodes[0]) * (size_t)n);
    return FS_OK;
}

fs_err fs_graph_backward_bce(fs_graph *g, const float *labels, double *loss, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    const node *last = &g->nodes[g->n - 1];
    if (fs_graph_node_floats(last) != 1)
        return fs_fail(msg, FS_ERR_INVALID, "binary cross-entropy needs one logit per item, not "
                       "%dx%dx%d", last->h, last->w, last->c);
    if (!g->training || !g->tarena || !g->trained_n)
        return fs_fail(msg, FS_ERR_INVALID, "a backward pass needs a training forward before it");
    for (int i = 0; i < g->trained_n; i++)
        if (!(labels[i] >= 0 && labels[i] <= 1))
            return fs_fail(msg, FS_ERR_INVALID, "label %d is %g, not in [0, 1]", i, (double)labels[i]);
    float *dz = g->tarena + g->dout;
    double l = fs_loss_bce_logits(act_of(g, last), labels, g->trained_n, dz);
    if (loss) *loss = l;
    return fs_graph_backward(g, dz, NULL, msg);
}

const float *fs_graph_gradient(const fs_graph *g, int i) {
    if (!g->tarena || i < 0 || i >= g->n || !g->nodes[i].need) return NULL;
    return grad_of(g, &g->nodes[i]);
}

/* ---- export ---- */

/* Parameter p of node nd between PyTorch layout (pt) and the kernels' (data). */
static void to_pytorch(const node *nd, const fs_tparam *p, float *pt) {
    const int64_t co = p->shape[0], ci = p->shape[1];
    if (p->ndim == 4) { /* [k][k][ci][co] -> [co][ci][k][k] */
        const int64_t kk = p->shape[2] * p->shape[3];
        for (int64_t o = 0; o < co; o++)
            for (int64_t c = 0; c < ci; c++)
                for (int64_t t = 0; t < kk; t++) pt[(o * ci + c) * kk + t] = p->data[(t * ci + c) * co + o];
    } else if (p->ndim == 2 && nd->op == FS_OP_DENSE) { /* [in][out] -> [out][in] */
        for (int64_t o = 0; o < co; o++)
            for (int64_t c = 0; c < ci; c++) pt[o * ci + c] = p->data[c * co + o];
    } else {
        memcpy(pt, p->data, p->count * sizeof(float));
    }
}

static void from_pytorch(const node *nd, fs_tparam *p, const float *pt) {
    const int64_t co = p->shape[0], ci = p->shape[1];
    if (p->ndim == 4) {
        const int64_t kk = p->shape[2] * p->shape[3];
        for (int64_t o = 0; o < co; o++)
            for (int64_t c = 0; c < ci; c++)
                for (int64_t t = 0; t < kk; t++) p->data[(t * ci + c) * co + o] = pt[(o * ci + c) * kk + t];
    } else if (p->ndim == 2 && nd->op == FS_OP_DENSE) {
        for (int64_t o = 0; o < co; o++)
            for (int64_t c = 0; c < ci; c++) p->data[c * co + o] = pt[o * ci + c];
    } else {
        memcpy(p->data, pt, p->count * sizeof(float));
    }
}

fs_err fs_graph_import(fs_graph *g, const fs_weights *w, fs_msg *msg) {
    if (!g->params) return fs_fail(msg, FS_ERR_INVALID, "no parameters listed (fs_graph_train)");
    for (int pass = 0; pass < 2; pass++) /* check everything before changing anything */
        for (int i = 1; i < g->n; i++) {
            const node *nd = &g->nodes[i];
            for (int j = 0; j < nd->np; j++) {
                fs_tparam *p = &g->params[nd->p0 + j];
                const fs_weight *t = fs_weights_get(w, p->name);
                int same = t && t->ndim == p->ndim;
                for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
                if (!same) {
                    char want[64], got[64] = "missing";
                    fs_weights_format_shape(p->ndim, p->shape, want, sizeof want);
                    if (t) fs_weights_format_shape(t->ndim, t->shape, got, sizeof got);
                    return fs_fail(msg, FS_ERR_FORMAT, "%s: expected %s, found %s", p->name, want, got);
                }
                if (pass) from_pytorch(nd, p, t->data);
            }
        }
    return FS_OK;
}

fs_err fs_graph_export(fs_graph *g, fs_weights *w, fs_msg *msg) {
    if (!g->params) return fs_fail(msg, FS_ERR_INVALID, "no parameters listed (fs_graph_train)");
    for (int i = 1; i < g->n; i++) {
        const node *nd = &g->nodes[i];
        for (int j = 0; j < nd->np; j++) {
            const fs_tparam *p = &g->params[nd->p0 + j];
            float *buf = malloc(p->count * sizeof(float));
            if (!buf) return fs_fail(msg, FS_ERR_NOMEM, "out of memory exporting %s", p->name);
            to_pytorch(nd, p, buf);
            fs_err e = fs_weights_add_owned(w, p->name, p->ndim, p->shape, buf, msg);
            if (e) return e;
        }
    }
    return FS_OK;
}
