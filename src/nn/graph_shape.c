/* graph_shape.c: the forward-only ops of graph.h, which move or pick values rather than
 * compute new ones: max pooling, zero padding, reshape, concatenation and bilinear resize.
 * Imported detectors (BlazeFace) need them; no network we train does, so they have no backward
 * pass and fs_graph_train refuses a graph that holds one. Portable C: they cost little next
 * to the convolutions around them. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "graph_internal.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2", "tree-vectorize")
#endif

static int side_ok(int v) { return v >= 1 && v <= FS_GRAPH_MAX_SIDE; }

int fs_graph_maxpool(fs_graph *g, int in, int k, int stride, fs_pad pad, const char *name) {
    node *nd = fs_graph_add_node(g, FS_OP_MAXPOOL, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    if (k < 1 || k > 64 || stride < 1 || stride > 64 || pad == FS_PAD_SYMMETRIC)
        return g->n--, fs_graph_fail(g, FS_ERR_INVALID, "%s: bad max pooling (k %d, stride %d)",
                                     nd->name, k, stride);
    nd->k = k, nd->stride = stride, nd->dil = 1, nd->c = src->c, nd->padmode = pad;
    nd->h = fs_graph_window(pad, src->h, k, stride, 1, &nd->pad_top);
    nd->w = fs_graph_window(pad, src->w, k, stride, 1, &nd->pad_left);
    if (nd->h < 1 || nd->w < 1)
        return g->n--, fs_graph_fail(g, FS_ERR_INVALID, "%s: a %dx%d window does not fit %dx%d",
                                     nd->name, k, k, src->h, src->w);
    nd->macs = (double)nd->h * nd->w * nd->c * k * k;
    return g->n - 1;
}

int fs_graph_pad(fs_graph *g, int in, int top, int bottom, int left, int right, int c_before,
                 int c_after, const char *name) {
    node *nd = fs_graph_add_node(g, FS_OP_PAD, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    const long h = (long)src->h + top + bottom, w = (long)src->w + left + right,
               c = (long)src->c + c_before + c_after;
    if (top < 0 || bottom < 0 || left < 0 || right < 0 || c_before < 0 || c_after < 0 ||
        h > FS_GRAPH_MAX_SIDE || w > FS_GRAPH_MAX_SIDE || c > FS_GRAPH_MAX_CHANNELS)
        return g->n--, fs_graph_fail(g, FS_ERR_INVALID, "%s: bad padding", nd->name);
    nd->h = (int)h, nd->w = (int)w, nd->c = (int)c;
    nd->pad_top = top, nd->pad_left = left, nd->pad_c = c_before;
    return g->n - 1;
}

int fs_graph_reshape(fs_graph *g, int in, int h, int w, int c, const char *name) {
    node *nd = fs_graph_add_node(g, FS_OP_RESHAPE, in, name);
    if (!nd) return -1;
    const node *src = &g->nodes[in];
    if (!side_ok(h) || w < 1 || c < 1 || c > FS_GRAPH_MAX_CHANNELS ||
        (size_t)h * w * c != fs_graph_node_floats(src))
        return g->n--, fs_graph_fail(g, FS_ERR_INVALID, "%s: %dx%dx%d cannot be seen as %dx%dx%d",
                                     nd->name, src->h, src->w, src->c, h, w, c);
    nd->h = h, nd->w = w, nd->c = c;
    return g->n - 1;
}

int fs_graph_concat(fs_graph *g, int a, int b, int axis, const char *name) {
    node *nd = fs_graph_add_node(g, FS_OP_CONCAT, a, name);
    if (!nd) return -1;
    if (b < 0 || b >= g->n - 1)
        return g->n--, fs_graph_fail(g, FS_ERR_INVALID, "%s: no node %d", nd->name, b);
    const node *x = &g->nodes[a], *y = &g->nodes[b];
    const int same = axis == 0 ? x->w == y->w && x->c == y->c
                     : axis == 1 ? x->h == y->h && x->c == y->c
                     : axis == 2 ? x->h == y->h && x->w == y->w : 0;
    const long sum = axis == 0 ? (long)x->h + y->h : axis == 1 ? (long)x->w + y->w : (long)x->c + y->c;
    if (!same || sum > (axis == 2 ? FS_GRAPH_MAX_CHANNELS : FS_GRAPH_MAX_SIDE))
        return g->n--, fs_graph_fail(g, FS_ERR_INVALID, "%s: cannot join %dx%dx%d and %dx%dx%d "
                                     "along axis %d", nd->name, x->h, x->w, x->c, y->h, y->w, y->c, axis);
    nd->in1 = b, nd->axis = axis;
    nd->h = x->h, nd->w = x->w, nd->c = x->c;
    if (axis == 0) nd->h = (int)sum;
    else if (axis == 1) nd->w = (int)sum;
    else nd->c = (int)sum;
    return g->n - 1;
}

int fs_graph_resize(fs_graph *g, int in, int h, int w, int align_corners, int half_pixel_centers,
                    const char *name) {
    node *nd = fs_graph_add_node(g, FS_OP_RESIZE, in, name);
    if (!nd) return -1;
    if (!side_ok(h) || !side_ok(w) || (align_corners && half_pixel_centers))
        return g->n--, fs_graph_fail(g, FS_ERR_INVALID, "%s: bad resize to %dx%d", nd->name, h, w);
    nd->h = h, nd->w = w, nd->c = g->nodes[in].c;
    nd->align_corners = !!align_corners, nd->half_pixel = !!half_pixel_centers;
    nd->macs = 4.0 * h * w * nd->c;
    return g->n - 1;
}

int fs_graph_fuse_act(fs_graph *g, int id, fs_act act) {
    if (g->err) return -1;
    if (id < 1 || id >= g->n) return fs_graph_fail(g, FS_ERR_INVALID, "no node %d to activate", id);
    node *nd = &g->nodes[id];
    if (nd->act != FS_ACT_NONE && nd->act != act)
        return fs_graph_fail(g, FS_ERR_INVALID, "%s: already has an activation", nd->name);
    /* bn's activation is applied by the forward loop like any other; every op takes one */
    nd->act = act;
    return id;
}

/* TensorFlow's ResizeBilinear source position of output index d, its two neighbours and the
 * weight of the second. */
static void resize_coord(const node *nd, int d, int in, int out, int *i0, int *i1, float *t) {
    float scale = nd->align_corners && out > 1 ? (float)(in - 1) / (float)(out - 1)
                                               : (float)in / (float)out;
    float v = nd->half_pixel ? ((float)d + 0.5f) * scale - 0.5f : (float)d * scale;
    float fl = floorf(v);
    int lo = (int)fl, hi = (int)ceilf(v);
    *i0 = lo < 0 ? 0 : lo > in - 1 ? in - 1 : lo;
    *i1 = hi > in - 1 ? in - 1 : hi < 0 ? 0 : hi;
    *t = v - (float)*i0;
}

void fs_graph_run_shape(const fs_graph *g, const node *nd, const float *x, const float *z, float *y) {
    const node *src = &g->nodes[nd->in0];
    const int c = nd->c;
    switch (nd->op) {
    case FS_OP_MAXPOOL:
        for (int oy = 0; oy < nd->h; oy++)
            for (int ox = 0; ox < nd->w; ox++) {
                float *o = y + ((size_t)oy * nd->w + ox) * c;
                for (int ch = 0; ch < c; ch++) o[ch] = -FLT_MAX;
                for (int ky = 0; ky < nd->k; ky++) {
                    const int iy = oy * nd->stride + ky - nd->pad_top;
                    if (iy < 0 || iy >= src->h) continue;
                    for (int kx = 0; kx < nd->k; kx++) {
                        const int ix = ox * nd->stride + kx - nd->pad_left;
                        if (ix < 0 || ix >= src->w) continue;
                        const float *p = x + ((size_t)iy * src->w + ix) * c;
                        for (int ch = 0; ch < c; ch++) o[ch] = p[ch] > o[ch] ? p[ch] : o[ch];
                    }
                }
            }
        break;
    case FS_OP_PAD:
        memset(y, 0, sizeof(float) * fs_graph_node_floats(nd));
        for (int iy = 0; iy < src->h; iy++)
            for (int ix = 0; ix < src->w; ix++)
                memcpy(y + ((size_t)(iy + nd->pad_top) * nd->w + (size_t)(ix + nd->pad_left)) * c + nd->pad_c,
                       x + ((size_t)iy * src->w + ix) * src->c, sizeof(float) * (size_t)src->c);
        break;
    case FS_OP_RESHAPE: memcpy(y, x, sizeof(float) * fs_graph_node_floats(nd)); break;
    case FS_OP_CONCAT: {
        const node *b = &g->nodes[nd->in1];
        if (nd->axis == 0) {
            memcpy(y, x, sizeof(float) * fs_graph_node_floats(src));
            memcpy(y + fs_graph_node_floats(src), z, sizeof(float) * fs_graph_node_floats(b));
        } else {
            /* rows (axis 1) or pixels (axis 2) of a then b, one after the other */
            const size_t runs = nd->axis == 1 ? (size_t)nd->h : (size_t)nd->h * nd->w;
            const size_t na = nd->axis == 1 ? (size_t)src->w * c : (size_t)src->c;
            const size_t nb = nd->axis == 1 ? (size_t)b->w * c : (size_t)b->c;
            for (size_t r = 0; r < runs; r++) {
                memcpy(y + r * (na + nb), x + r * na, sizeof(float) * na);
                memcpy(y + r * (na + nb) + na, z + r * nb, sizeof(float) * nb);
            }
        }
        break;
    }
    case FS_OP_RESIZE:
        for (int oy = 0; oy < nd->h; oy++) {
            int y0, y1;
            float ty;
            resize_coord(nd, oy, src->h, nd->h, &y0, &y1, &ty);
            for (int ox = 0; ox < nd->w; ox++) {
                int x0, x1;
                float tx;
                resize_coord(nd, ox, src->w, nd->w, &x0, &x1, &tx);
                const float *a = x + ((size_t)y0 * src->w + x0) * c, *b = x + ((size_t)y0 * src->w + x1) * c;
                const float *d = x + ((size_t)y1 * src->w + x0) * c, *e = x + ((size_t)y1 * src->w + x1) * c;
                float *o = y + ((size_t)oy * nd->w + ox) * c;
                for (int ch = 0; ch < c; ch++) {
                    const float top = a[ch] + (b[ch] - a[ch]) * tx, bot = d[ch] + (e[ch] - d[ch]) * tx;
                    o[ch] = top + (bot - top) * ty;
                }
            }
        }
        break;
    default: break;
    }
}
