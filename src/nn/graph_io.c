/* graph_io.c: a graph to and from named tensors (graph.h, "storage"). The description is plain
 * text, one line per node, so a person can read what a converted network is:
 *
 *   <op> <in0> <in1> <h> <w> <c> <k> <stride> <dil> <padmode> <act> <top> <bottom> <left>
 *   <right> <c_before> <c_after> <axis> <align_corners> <half_pixel> <hidden> <gate> <eps>
 *   <momentum> <name>
 *
 * Fields an op does not use are 0. Loading calls the builders of graph.h with what each line
 * says and then checks that the node they made has the shape the line records, so a file can
 * describe nothing the builders would not accept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

static const char *const op_names[] = {"input", "conv", "dwconv", "add", "gap", "dense",
                                       "softmax", "bn", "se", "maxpool", "pad", "reshape",
                                       "concat", "resize"};
#define NOPS (int)(sizeof op_names / sizeof op_names[0])

#define LINE_CAP (FS_GRAPH_NAME_MAX + 256)

static fs_err put(fs_weights *w, int id, const char *what, int ndim, int64_t a, int64_t b,
                  int64_t c, int64_t d, float *data, fs_msg *msg) {
    char name[48];
    snprintf(name, sizeof name, "n%d.%s", id, what);
    const int64_t shape[4] = {a, b, c, d};
    return fs_weights_add_owned(w, name, ndim, shape, data, msg);
}

/* A copy of n floats of p saved as n<id>.<what>. */
static fs_err put_copy(fs_weights *w, int id, const char *what, int ndim, int64_t a, int64_t b,
                       const float *p, size_t n, fs_msg *msg) {
    float *q = malloc(sizeof(float) * (n ? n : 1));
    if (!q) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    memcpy(q, p, sizeof(float) * n);
    return put(w, id, what, ndim, a, b, 0, 0, q, msg);
}

/* Node i's arrays into w in PyTorch layout. */
static fs_err save_arrays(const fs_graph *g, int i, fs_weights *w, fs_msg *msg) {
    const node *nd = &g->nodes[i], *src = &g->nodes[nd->in0];
    const size_t c = (size_t)nd->c, k = (size_t)nd->k, kk = k * k;
    float *t = NULL;
    fs_err e = FS_OK;
    switch (nd->op) {
    case FS_OP_CONV: {
        const size_t cin = (size_t)src->c;
        if (!(t = malloc(sizeof(float) * kk * cin * c))) break;
        for (size_t o = 0; o < c; o++) /* [ky][kx][cin][cout] -> [cout][cin][ky][kx] */
            for (size_t ci = 0; ci < cin; ci++)
                for (size_t p = 0; p < kk; p++) t[(o * cin + ci) * kk + p] = nd->weight[(p * cin + ci) * c + o];
        e = put(w, i, "weight", 4, (int64_t)c, (int64_t)cin, (int64_t)k, (int64_t)k, t, msg);
        break;
    }
    case FS_OP_DWCONV:
        if (!(t = malloc(sizeof(float) * kk * c))) break;
        for (size_t ch = 0; ch < c; ch++) /* [ky][kx][c] -> [c][1][ky][kx] */
            for (size_t p = 0; p < kk; p++) t[ch * kk + p] = nd->weight[p * c + ch];
        e = put(w, i, "weight", 4, (int64_t)c, 1, (int64_t)k, (int64_t)k, t, msg);
        break;
    case FS_OP_DENSE: {
        const size_t cin = (size_t)src->c;
        if (!(t = malloc(sizeof(float) * cin * c))) break;
        for (size_t o = 0; o < c; o++) /* [in][out] -> [out][in] */
            for (size_t j = 0; j < cin; j++) t[o * cin + j] = nd->weight[j * c + o];
        e = put(w, i, "weight", 2, (int64_t)c, (int64_t)cin, 0, 0, t, msg);
        break;
    }
    case FS_OP_BN:
        e = put_copy(w, i, "weight", 1, (int64_t)c, 0, nd->weight, c, msg);
        if (!e) e = put_copy(w, i, "running_mean", 1, (int64_t)c, 0, nd->rmean, c, msg);
        if (!e) e = put_copy(w, i, "running_var", 1, (int64_t)c, 0, nd->rvar, c, msg);
        break;
    case FS_OP_SE: {
        const size_t hd = (size_t)nd->hidden;
        e = put_copy(w, i, "weight", 2, (int64_t)hd, (int64_t)c, nd->weight, hd * c, msg);
        if (!e) e = put_copy(w, i, "fc2.weight", 2, (int64_t)c, (int64_t)hd, nd->w2, hd * c, msg);
        if (!e) e = put_copy(w, i, "fc2.bias", 1, (int64_t)c, 0, nd->b2, c, msg);
        break;
    }
    default: return FS_OK;
    }
    if (!e && !t && (nd->op == FS_OP_CONV || nd->op == FS_OP_DWCONV || nd->op == FS_OP_DENSE))
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory saving %s", nd->name);
    /* the bias: bn's beta and se's b1 always, a conv's or dense layer's when it has one */
    if (!e && nd->bias) {
        const size_t nb = nd->op == FS_OP_SE ? (size_t)nd->hidden : c;
        e = put_copy(w, i, "bias", 1, (int64_t)nb, 0, nd->bias, nb, msg);
    }
    return e;
}

fs_err fs_graph_save(const fs_graph *g, fs_weights *w, fs_msg *msg) {
    if (g->err) return fs_graph_error(g, msg);
    size_t cap = (size_t)g->n * LINE_CAP + 1, len = 0;
    char *text = malloc(cap);
    if (!text) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    fs_err e = FS_OK;
    for (int i = 0; i < g->n && !e; i++) {
        const node *nd = &g->nodes[i];
        const node *src = i ? &g->nodes[nd->in0] : nd;
        int bottom = 0, right = 0, c_after = 0;
        if (nd->op == FS_OP_PAD) {
            bottom = nd->h - src->h - nd->pad_top, right = nd->w - src->w - nd->pad_left;
            c_after = nd->c - src->c - nd->pad_c;
        }
        char name[FS_GRAPH_NAME_MAX];
        snprintf(name, sizeof name, "%s", nd->name[0] ? nd->name : "-");
        for (char *p = name; *p; p++)
            if (*p == ' ' || *p == '\n' || *p == '\t') *p = '_';
        const int pt = nd->op == FS_OP_PAD ? nd->pad_top : 0, pl = nd->op == FS_OP_PAD ? nd->pad_left : 0;
        len += (size_t)snprintf(text + len, cap - len,
                                "%s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d "
                                "%.9g %.9g %s\n",
                                op_names[nd->op], nd->in0, nd->in1, nd->h, nd->w, nd->c, nd->k,
                                nd->stride, nd->dil, (int)nd->padmode, (int)nd->act, pt, bottom,
                                pl, right, nd->pad_c, c_after, nd->axis, nd->align_corners,
                                nd->half_pixel, nd->hidden, (int)nd->gate, (double)nd->eps,
                                (double)nd->momentum, name);
        if (i) e = save_arrays(g, i, w, msg);
    }
    if (!e) e = fs_weights_set_meta(w, "graph", text, msg);
    free(text);
    return e;
}

/* Tensor n<id>.<what> with `count` values, or NULL (required: FS_ERR_FORMAT recorded). */
static const float *get(const fs_weights *w, int id, const char *what, size_t count, int required,
                        fs_err *e, fs_msg *msg) {
    char name[48];
    snprintf(name, sizeof name, "n%d.%s", id, what);
    const fs_weight *t = fs_weights_get(w, name);
    if (!t && !required) return NULL;
    if (!t || (size_t)t->count != count) {
        if (!*e) *e = fs_fail(msg, FS_ERR_FORMAT, "graph: tensor %s %s", name,
                              t ? "has the wrong size" : "is missing");
        return NULL;
    }
    return t->data;
}

fs_err fs_graph_load(const fs_weights *w, fs_graph **out, fs_msg *msg) {
    *out = NULL;
    const char *text = fs_weights_meta(w, "graph");
    if (!text) return fs_fail(msg, FS_ERR_FORMAT, "no \"graph\" description in the weights");
    fs_graph *g = NULL;
    fs_err e = FS_OK;
    int id = 0;
    for (const char *line = text; *line && !e; id++) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char buf[LINE_CAP], op[16], name[FS_GRAPH_NAME_MAX];
        int in0, in1, h, wd, c, k, stride, dil, padmode, act, top, bottom, left, right, c0, c1,
            axis, ac, hp, hidden, gate;
        float eps, momentum;
        if (n >= sizeof buf ||
            (memcpy(buf, line, n), buf[n] = '\0',
             sscanf(buf, "%15s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %g %g "
                         "%63s", op, &in0, &in1, &h, &wd, &c, &k, &stride, &dil, &padmode, &act,
                    &top, &bottom, &left, &right, &c0, &c1, &axis, &ac, &hp, &hidden, &gate, &eps,
                    &momentum, name) != 25)) {
            e = fs_fail(msg, FS_ERR_FORMAT, "graph: line %d does not read", id + 1);
            break;
        }
        line += n + (end ? 1 : 0);
        int o = 0;
        while (o < NOPS && strcmp(op_names[o], op)) o++;
        if (o == NOPS || (id == 0) != (o == FS_OP_INPUT) || padmode < 0 || padmode > FS_PAD_SYMMETRIC ||
            act < 0 || act > FS_ACT_HSWISH || gate < 0 || gate > FS_GATE_SIGMOID || id >= FS_GRAPH_MAX_NODES) {
            e = fs_fail(msg, FS_ERR_FORMAT, "graph: line %d: bad op or option", id + 1);
            break;
        }
        if (id == 0) {
            e = fs_graph_create(h, wd, c, &g, msg);
            continue;
        }
        if (in0 < 0 || in0 >= id || in1 >= id) {
            e = fs_fail(msg, FS_ERR_FORMAT, "graph: line %d reads a later node", id + 1);
            break;
        }
        const char *nm = strcmp(name, "-") ? name : NULL;
        fs_graph_node_info src;
        fs_graph_node(g, in0, &src);
        const size_t kk = (size_t)(k > 0 && k <= 64 ? k : 0) * (size_t)(k > 0 && k <= 64 ? k : 0);
        const size_t cc = c > 0 ? (size_t)c : 0, ci = (size_t)src.c;
        const float *wt, *b;
        int got = -1;
        switch ((fs_op)o) {
        case FS_OP_CONV:
        case FS_OP_DWCONV:
            wt = get(w, id, "weight", kk * cc * (o == FS_OP_CONV ? ci : 1), 1, &e, msg);
            b = get(w, id, "bias", cc, 0, &e, msg);
            if (wt && !e)
                got = o == FS_OP_CONV ? fs_graph_conv(g, in0, c, k, stride, dil, (fs_pad)padmode, wt, b, (fs_act)act, nm)
                                      : fs_graph_dwconv(g, in0, k, stride, dil, (fs_pad)padmode, wt, b, (fs_act)act, nm);
            break;
        case FS_OP_ADD: got = fs_graph_add(g, in0, in1, (fs_act)act, nm); break;
        case FS_OP_GAP: got = fs_graph_gap(g, in0, nm); break;
        case FS_OP_DENSE:
            wt = get(w, id, "weight", cc * ci, 1, &e, msg);
            b = get(w, id, "bias", cc, 0, &e, msg);
            if (wt && !e) got = fs_graph_dense(g, in0, c, wt, b, nm);
            break;
        case FS_OP_SOFTMAX: got = fs_graph_softmax(g, in0, nm); break;
        case FS_OP_BN: {
            const float *ga = get(w, id, "weight", cc, 1, &e, msg), *be = get(w, id, "bias", cc, 1, &e, msg);
            const float *mu = get(w, id, "running_mean", cc, 1, &e, msg), *va = get(w, id, "running_var", cc, 1, &e, msg);
            if (!e) got = fs_graph_bn(g, in0, ga, be, mu, va, eps, momentum, (fs_act)act, nm);
            break;
        }
        case FS_OP_SE: {
            const size_t hd = hidden > 0 ? (size_t)hidden : 0;
            const float *w1 = get(w, id, "weight", hd * cc, 1, &e, msg), *b1 = get(w, id, "bias", hd, 1, &e, msg);
            const float *w2 = get(w, id, "fc2.weight", hd * cc, 1, &e, msg), *b2 = get(w, id, "fc2.bias", cc, 1, &e, msg);
            if (!e) got = fs_graph_se(g, in0, hidden, w1, b1, w2, b2, (fs_gate)gate, nm);
            break;
        }
        case FS_OP_MAXPOOL: got = fs_graph_maxpool(g, in0, k, stride, (fs_pad)padmode, nm); break;
        case FS_OP_PAD: got = fs_graph_pad(g, in0, top, bottom, left, right, c0, c1, nm); break;
        case FS_OP_RESHAPE: got = fs_graph_reshape(g, in0, h, wd, c, nm); break;
        case FS_OP_CONCAT: got = fs_graph_concat(g, in0, in1, axis, nm); break;
        case FS_OP_RESIZE: got = fs_graph_resize(g, in0, h, wd, ac, hp, nm); break;
        case FS_OP_INPUT: break;
        }
        if (e) break;
        /* activations the builder does not take (pools, pads...) */
        if (got >= 0 && act != FS_ACT_NONE && o != FS_OP_CONV && o != FS_OP_DWCONV && o != FS_OP_ADD &&
            o != FS_OP_BN)
            got = fs_graph_fuse_act(g, got, (fs_act)act);
        if (got < 0) {
            fs_msg why;
            fs_graph_error(g, &why);
            e = fs_fail(msg, FS_ERR_FORMAT, "graph: line %d: %s", id + 1, why.text);
            break;
        }
        fs_graph_node_info made;
        fs_graph_node(g, got, &made);
        if (got != id || made.h != h || made.w != wd || made.c != c)
            e = fs_fail(msg, FS_ERR_FORMAT, "graph: line %d says %dx%dx%d, the op makes %dx%dx%d",
                        id + 1, h, wd, c, made.h, made.w, made.c);
    }
    if (!e && !g) e = fs_fail(msg, FS_ERR_FORMAT, "graph: empty description");
    if (e) {
        fs_graph_free(g);
        return e;
    }
    *out = g;
    return FS_OK;
}
