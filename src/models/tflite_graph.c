/* tflite_graph.c: a TFLite model (tflite.h) as an fs_graph (graph.h), op by op, with every
 * weight dequantized to float32. The graph runs in float, so quantization steps between ops
 * (QUANTIZE, DEQUANTIZE of activations) are the identity here, and an 8-bit input becomes the
 * float it stands for: the caller scales pixels by the input's own quantization (x = scale *
 * (pixel - zero_point)), which fs_tflite_graph_input reports.
 *
 * What is translated: CONV_2D, DEPTHWISE_CONV_2D (depth multiplier 1), ADD, AVERAGE_POOL_2D and
 * MEAN over the whole picture (global average pooling), SQUEEZE of a 1 x 1 x C tensor, RESHAPE
 * (to at most 4 dimensions, batch 1: [1, h, w, c], [1, w, c] seen as 1 x w x c, [1, c] as
 * 1 x 1 x c), FULLY_CONNECTED, SOFTMAX, QUANTIZE and DEQUANTIZE, MAX_POOL_2D, PAD (constant
 * zeros, not on the batch), CONCATENATION, RESIZE_BILINEAR, and RELU / RELU6 as ops (fused into
 * the op before when nothing else reads its value) or fused. Anything else is
 * FS_ERR_UNSUPPORTED naming the op, never a silent skip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/graph.h"
#include "fakescope/tflite.h"

static fs_act act_of(int a, int *ok) {
    *ok = 1;
    switch (a) {
    case FS_TFLITE_ACT_NONE: return FS_ACT_NONE;
    case FS_TFLITE_ACT_RELU: return FS_ACT_RELU;
    case FS_TFLITE_ACT_RELU6: return FS_ACT_RELU6;
    }
    *ok = 0;
    return FS_ACT_NONE;
}

/* The float values of constant tensor t, checked to hold `want` values (0: any). */
static float *const_floats(const fs_tflite_model *m, int t, size_t want, fs_msg *msg) {
    if (t < 0 || t >= m->ntensors || !m->tensors[t].data) {
        fs_fail(msg, FS_ERR_UNSUPPORTED, "tensor %d is not a constant", t);
        return NULL;
    }
    float *v = NULL;
    size_t n = 0;
    if (fs_tflite_tensor_float(m, t, &v, &n, msg) != FS_OK) return NULL;
    if (want && n != want) {
        free(v);
        fs_fail(msg, FS_ERR_FORMAT, "tensor %d holds %zu values, %zu expected", t, n, want);
        return NULL;
    }
    return v;
}

/* The graph side of a tensor's shape: [1, h, w, c], [1, w, c] as 1 x w x c, [1, c] as 1 x 1 x c. */
static int shape_hwc(const fs_tflite_tensor *t, int *h, int *w, int *c) {
    if (t->ndim < 2 || t->ndim > 4 || t->shape[0] != 1) return 0;
    *h = t->ndim == 4 ? t->shape[1] : 1;
    *w = t->ndim >= 3 ? t->shape[t->ndim - 2] : 1;
    *c = t->shape[t->ndim - 1];
    return *h >= 1 && *w >= 1 && *c >= 1;
}

/* The activation node id applies. */
static fs_act node_act(const fs_graph *g, int id) {
    fs_graph_node_info info;
    fs_graph_node(g, id, &info);
    return info.act;
}

fs_err fs_tflite_to_graph(const fs_tflite_model *m, fs_graph **out, fs_tflite_graph_input *gin,
                          fs_msg *msg) {
    *out = NULL;
    if (m->ninputs != 1 || m->noutputs < 1 || m->noutputs > FS_TFLITE_GRAPH_MAX_OUTPUTS)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "%d inputs and %d outputs: one input and 1 to %d "
                       "outputs expected", m->ninputs, m->noutputs, FS_TFLITE_GRAPH_MAX_OUTPUTS);
    const fs_tflite_tensor *it = &m->tensors[m->inputs[0]];
    if (it->ndim != 4 || it->shape[0] != 1)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "the input is not one NHWC picture");
    memset(gin, 0, sizeof *gin);
    gin->h = it->shape[1], gin->w = it->shape[2], gin->c = it->shape[3];
    gin->scale = 1.0f;
    if (it->quant.count == 1) {
        gin->scale = it->quant.scale[0];
        gin->zero_point = (float)it->quant.zero_point[0];
    }
    fs_graph *g;
    fs_err e = fs_graph_create(gin->h, gin->w, gin->c, &g, msg);
    if (e) return e;
    /* node[t]: the graph node holding tensor t, -1 while unknown */
    int *node = malloc(sizeof(int) * (size_t)m->ntensors);
    if (!node) {
        fs_graph_free(g);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    /* readers[t]: how many ops (and graph outputs) read tensor t, to know when a RELU can be
     * fused into the op that made its input */
    int *readers = calloc((size_t)m->ntensors, sizeof(int));
    if (!readers) {
        free(node);
        fs_graph_free(g);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < m->nops; i++)
        for (int j = 0; j < m->ops[i].ninputs; j++)
            if (m->ops[i].inputs[j] >= 0) readers[m->ops[i].inputs[j]]++;
    for (int j = 0; j < m->noutputs; j++) readers[m->outputs[j]]++;
    /* alias[t]: the constant a DEQUANTIZE op turns into tensor t (float16 weights), else -1 */
    int *alias = malloc(sizeof(int) * (size_t)m->ntensors);
    if (!alias) {
        free(node), free(readers);
        fs_graph_free(g);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    for (int t = 0; t < m->ntensors; t++) node[t] = alias[t] = -1;
    for (int i = 0; i < m->nops; i++) {
        const fs_tflite_op *op = &m->ops[i];
        if (op->code == FS_TFLITE_OP_DEQUANTIZE && op->ninputs >= 1 && op->noutputs >= 1 &&
            op->inputs[0] >= 0 && m->tensors[op->inputs[0]].data)
            alias[op->outputs[0]] = op->inputs[0];
    }
#define IN_T(j) (alias[op->inputs[j]] >= 0 ? alias[op->inputs[j]] : op->inputs[j])
    node[m->inputs[0]] = 0;
    for (int i = 0; i < m->nops && !e; i++) {
        const fs_tflite_op *op = &m->ops[i];
        const fs_tflite_options *o = &op->opt;
        if (op->ninputs < 1 || op->noutputs < 1 || op->inputs[0] < 0) {
            e = fs_fail(msg, FS_ERR_FORMAT, "op %d (%s) has no input or output", i, op->name);
            break;
        }
        int x = node[op->inputs[0]], y = -1, ok = 1;
        const int outt = op->outputs[0];
        if (outt >= 0 && alias[outt] >= 0) continue; /* a dequantized constant: read in place */
        if (x < 0 && op->code != FS_TFLITE_OP_DEQUANTIZE) {
            e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d (%s) reads tensor %d, which no op made", i,
                        op->name, op->inputs[0]);
            break;
        }
        fs_graph_node_info xi = {0};
        if (x >= 0) fs_graph_node(g, x, &xi);
        const fs_tflite_tensor *ot = outt >= 0 && outt < m->ntensors ? &m->tensors[outt] : NULL;
        switch (op->code) {
        case FS_TFLITE_OP_CONV_2D:
        case FS_TFLITE_OP_DEPTHWISE_CONV_2D: {
            const int dw = op->code == FS_TFLITE_OP_DEPTHWISE_CONV_2D;
            if (op->ninputs < 2 || op->inputs[1] < 0) {
                e = fs_fail(msg, FS_ERR_FORMAT, "op %d: a convolution without weights", i);
                break;
            }
            const fs_tflite_tensor *wt = &m->tensors[IN_T(1)];
            /* conv [cout][kh][kw][cin]; depthwise [1][kh][kw][c] */
            if (wt->ndim != 4 || wt->shape[1] != wt->shape[2] || o->stride_w != o->stride_h ||
                o->dilation_w != o->dilation_h || (dw && wt->shape[0] != 1) ||
                (dw && wt->shape[3] != xi.c) || (!dw && wt->shape[3] != xi.c)) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d (%s): weights %dx%dx%dx%d on %d "
                            "channels, strides %d/%d: only square kernels and strides, depth "
                            "multiplier 1", i, op->name, wt->shape[0], wt->shape[1], wt->shape[2],
                            wt->shape[3], xi.c, o->stride_h, o->stride_w);
                break;
            }
            const int k = wt->shape[1], cout = dw ? wt->shape[3] : wt->shape[0], cin = xi.c;
            fs_act a = act_of(o->activation, &ok);
            const int want_b = op->ninputs > 2 && op->inputs[2] >= 0;
            float *w = const_floats(m, IN_T(1), 0, msg), *b = NULL, *pt = NULL;
            if (w && want_b) b = const_floats(m, IN_T(2), (size_t)cout, msg);
            const int read = w && (!want_b || b);
            if (read) pt = malloc(sizeof(float) * (size_t)wt->count);
            if (!pt) {
                e = read ? fs_fail(msg, FS_ERR_NOMEM, "out of memory") : FS_ERR_FORMAT;
                free(w), free(b);
                break;
            }
            const size_t kk = (size_t)k * k;
            if (dw) /* [1][ky][kx][c] -> [c][1][ky][kx] */
                for (int c = 0; c < cout; c++)
                    for (size_t t = 0; t < kk; t++) pt[(size_t)c * kk + t] = w[t * cout + (size_t)c];
            else /* [o][ky][kx][i] -> [o][i][ky][kx] */
                for (int oc = 0; oc < cout; oc++)
                    for (size_t t = 0; t < kk; t++)
                        for (int ic = 0; ic < cin; ic++)
                            pt[((size_t)oc * cin + ic) * kk + t] = w[((size_t)oc * kk + t) * cin + ic];
            fs_pad pad = o->padding == FS_TFLITE_PADDING_VALID ? FS_PAD_VALID : FS_PAD_SAME;
            char name[FS_GRAPH_NAME_MAX];
            snprintf(name, sizeof name, "%s", ot && ot->name[0] ? ot->name : op->name);
            y = dw ? fs_graph_dwconv(g, x, k, o->stride_h, o->dilation_h, pad, pt, b, a, name)
                   : fs_graph_conv(g, x, cout, k, o->stride_h, o->dilation_h, pad, pt, b, a, name);
            free(w), free(b), free(pt);
            break;
        }
        case FS_TFLITE_OP_ADD: {
            int z = op->ninputs > 1 && op->inputs[1] >= 0 ? node[op->inputs[1]] : -1;
            fs_act a = act_of(o->activation, &ok);
            if (z < 0) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: ADD of a constant", i);
                break;
            }
            y = fs_graph_add(g, x, z, a, ot ? ot->name : "add");
            break;
        }
        case FS_TFLITE_OP_AVERAGE_POOL_2D:
            if (o->filter_h != xi.h || o->filter_w != xi.w || o->activation != FS_TFLITE_ACT_NONE) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: average pooling other than global", i);
                break;
            }
            y = fs_graph_gap(g, x, ot ? ot->name : "pool");
            break;
        case FS_TFLITE_OP_MEAN: {
            /* axes 1 and 2 of NHWC: the global average */
            float *axes = op->ninputs > 1 ? const_floats(m, IN_T(1), 2, msg) : NULL;
            int global = axes && ((axes[0] == 1 && axes[1] == 2) || (axes[0] == 2 && axes[1] == 1));
            free(axes);
            if (!global) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: MEAN over other axes than height and width", i);
                break;
            }
            y = fs_graph_gap(g, x, ot ? ot->name : "mean");
            break;
        }
        case FS_TFLITE_OP_RESHAPE: {
            int h, w, c;
            if (!ot || !shape_hwc(ot, &h, &w, &c)) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: RESHAPE to this shape", i);
                break;
            }
            y = h == xi.h && w == xi.w && c == xi.c ? x : fs_graph_reshape(g, x, h, w, c, ot->name);
            break;
        }
        case FS_TFLITE_OP_MAX_POOL_2D:
            if (o->filter_w != o->filter_h || o->stride_w != o->stride_h) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: MAX_POOL_2D with a non-square window", i);
                break;
            }
            y = fs_graph_maxpool(g, x, o->filter_h, o->stride_h,
                                 o->padding == FS_TFLITE_PADDING_VALID ? FS_PAD_VALID : FS_PAD_SAME,
                                 ot ? ot->name : "maxpool");
            if (y >= 0 && o->activation != FS_TFLITE_ACT_NONE) y = fs_graph_fuse_act(g, y, act_of(o->activation, &ok));
            break;
        case FS_TFLITE_OP_PAD: {
            float *p = op->ninputs > 1 ? const_floats(m, IN_T(1), 8, msg) : NULL;
            if (!p) {
                e = op->ninputs > 1 ? FS_ERR_UNSUPPORTED
                                    : fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: PAD without paddings", i);
                break;
            }
            if (p[0] != 0 || p[1] != 0 || (op->ninputs > 2 && op->inputs[2] >= 0)) {
                free(p);
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: PAD of the batch or with a value", i);
                break;
            }
            y = fs_graph_pad(g, x, (int)p[2], (int)p[3], (int)p[4], (int)p[5], (int)p[6], (int)p[7],
                             ot ? ot->name : "pad");
            free(p);
            break;
        }
        case FS_TFLITE_OP_CONCATENATION: {
            const int nd = ot ? ot->ndim : 0;
            const int axis = o->axis < 0 ? o->axis + nd : o->axis;
            /* NHWC [1, h, w, c]: axes 1..3; [1, w, c]: axes 1..2 (height is 1) */
            const int gaxis = nd == 4 ? axis - 1 : nd == 3 ? axis : -1;
            if (gaxis < 0 || gaxis > 2 || (nd == 3 && gaxis == 0)) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: CONCATENATION along axis %d of %d", i,
                            o->axis, nd);
                break;
            }
            y = x;
            for (int j = 1; j < op->ninputs && y >= 0; j++) {
                const int z = op->inputs[j] >= 0 ? node[op->inputs[j]] : -1;
                if (z < 0) {
                    e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: CONCATENATION of a constant", i);
                    break;
                }
                y = fs_graph_concat(g, y, z, gaxis, ot->name);
            }
            if (!e && y >= 0 && o->activation != FS_TFLITE_ACT_NONE) y = fs_graph_fuse_act(g, y, act_of(o->activation, &ok));
            break;
        }
        case FS_TFLITE_OP_RESIZE_BILINEAR:
            if (!ot || ot->ndim != 4) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: RESIZE_BILINEAR output", i);
                break;
            }
            y = fs_graph_resize(g, x, ot->shape[1], ot->shape[2], o->align_corners,
                                o->half_pixel_centers, ot->name);
            break;
        case FS_TFLITE_OP_RELU:
        case FS_TFLITE_OP_RELU6: {
            const fs_act a = op->code == FS_TFLITE_OP_RELU ? FS_ACT_RELU : FS_ACT_RELU6;
            /* fused when the op before has none and its value has no other reader; otherwise a
             * copy that applies it (a pad of nothing) */
            if (x > 0 && readers[op->inputs[0]] == 1 && node_act(g, x) == FS_ACT_NONE)
                y = fs_graph_fuse_act(g, x, a);
            else if ((y = fs_graph_pad(g, x, 0, 0, 0, 0, 0, 0, ot ? ot->name : "relu")) >= 0)
                y = fs_graph_fuse_act(g, y, a);
            break;
        }
        case FS_TFLITE_OP_SQUEEZE:
        case FS_TFLITE_OP_QUANTIZE:
        case FS_TFLITE_OP_DEQUANTIZE:
            /* a float graph keeps 1 x 1 x C as it is, and needs no requantization */
            if (op->code == FS_TFLITE_OP_SQUEEZE &&
                (xi.h != 1 || xi.w != 1)) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: %s of a %dx%dx%d tensor", i, op->name,
                            xi.h, xi.w, xi.c);
                break;
            }
            if (x < 0) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: DEQUANTIZE of a constant", i);
                break;
            }
            y = x;
            break;
        case FS_TFLITE_OP_FULLY_CONNECTED: {
            const fs_tflite_tensor *wt = op->ninputs > 1 && op->inputs[1] >= 0 ? &m->tensors[IN_T(1)] : NULL;
            fs_act a = act_of(o->activation, &ok);
            if (!wt || wt->ndim != 2 || wt->shape[1] != xi.c || xi.h != 1 || xi.w != 1 || a != FS_ACT_NONE) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: FULLY_CONNECTED of this shape", i);
                break;
            }
            float *w = const_floats(m, IN_T(1), 0, msg);
            float *b = op->ninputs > 2 && op->inputs[2] >= 0 ? const_floats(m, IN_T(2), (size_t)wt->shape[0], msg) : NULL;
            if (w) y = fs_graph_dense(g, x, wt->shape[0], w, b, ot ? ot->name : "dense");
            else e = FS_ERR_FORMAT;
            free(w), free(b);
            break;
        }
        case FS_TFLITE_OP_SOFTMAX:
            if (o->beta != 1.0f) {
                e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: softmax with beta %g", i, (double)o->beta);
                break;
            }
            y = fs_graph_softmax(g, x, ot ? ot->name : "softmax");
            break;
        default:
            e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d: %s is not supported", i, op->name);
        }
        if (!ok && !e)
            e = fs_fail(msg, FS_ERR_UNSUPPORTED, "op %d (%s): activation %s", i, op->name,
                        fs_tflite_act_name(o->activation));
        if (!e && y < 0) e = fs_graph_error(g, msg);
        if (!e) {
            if (outt < 0 || outt >= m->ntensors) e = fs_fail(msg, FS_ERR_FORMAT, "op %d: bad output", i);
            else node[outt] = y;
        }
    }
    gin->noutputs = m->noutputs;
    for (int j = 0; !e && j < m->noutputs; j++)
        if ((gin->outputs[j] = node[m->outputs[j]]) < 0)
            e = fs_fail(msg, FS_ERR_UNSUPPORTED, "output %d is made by no op", j);
    if (!e && m->noutputs == 1 && node[m->outputs[0]] != fs_graph_output(g))
        e = fs_fail(msg, FS_ERR_UNSUPPORTED, "the graph's output is not its last op");
#undef IN_T
    free(node);
    free(readers);
    free(alias);
    if (e) {
        fs_graph_free(g);
        return e;
    }
    *out = g;
    return FS_OK;
}
