/* layers.c: tensors and the reference layers. These loops are written for clarity, not speed:
 * they define what every fast kernel must compute (TensorFlow 'same' padding, -inf padding in
 * max pooling, NHWC flatten order) and back the tests and feature-map extraction. */
#include "fakescope/nn.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

fs_err fs_tensor_alloc(fs_tensor *t, int n, int h, int w, int c, fs_msg *msg) {
    memset(t, 0, sizeof *t);
    if (n <= 0 || h <= 0 || w <= 0 || c <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "bad tensor shape %dx%dx%dx%d", n, h, w, c);
    size_t count = (size_t)n * (size_t)h * (size_t)w * (size_t)c;
    float *d = fs_nn_alloc(count * sizeof(float));
    if (!d) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %zu-float tensor", count);
    memset(d, 0, count * sizeof(float));
    t->n = n, t->h = h, t->w = w, t->c = c, t->data = d;
    return FS_OK;
}

void fs_tensor_free(fs_tensor *t) {
    if (!t) return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

size_t fs_tensor_count(const fs_tensor *t) {
    return (size_t)t->n * (size_t)t->h * (size_t)t->w * (size_t)t->c;
}

void *fs_nn_alloc(size_t bytes) {
    void *p = NULL;
    size_t rounded = (bytes + FS_NN_ALIGN - 1) / FS_NN_ALIGN * FS_NN_ALIGN;
    if (posix_memalign(&p, FS_NN_ALIGN, rounded ? rounded : FS_NN_ALIGN) != 0) return NULL;
    return p;
}

int fs_nn_same_out(int in, int stride) {
    assert(in > 0 && stride > 0);
    return (in + stride - 1) / stride;
}

int fs_nn_same_pad_total(int in, int k, int stride, int dil) {
    int out = fs_nn_same_out(in, stride);
    int need = (out - 1) * stride + (k - 1) * dil + 1 - in;
    return need > 0 ? need : 0;
}

void fs_nn_conv2d_shape(const fs_conv2d *p, const fs_tensor *in, int *h, int *w) {
    *h = fs_nn_same_out(in->h, p->stride_h);
    *w = fs_nn_same_out(in->w, p->stride_w);
}

void fs_nn_conv2d(const fs_conv2d *p, const fs_tensor *in, fs_tensor *out) {
    int oh, ow;
    fs_nn_conv2d_shape(p, in, &oh, &ow);
    assert(in->c == p->cin && out->c == p->cout && out->n == in->n);
    assert(out->h == oh && out->w == ow);
    int pt = fs_nn_same_pad_before(in->h, p->kh, p->stride_h, p->dil_h);
    int pl = fs_nn_same_pad_before(in->w, p->kw, p->stride_w, p->dil_w);
    for (int b = 0; b < in->n; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                for (int co = 0; co < p->cout; co++) {
                    double acc = p->bias ? p->bias[co] : 0.0;
                    for (int ky = 0; ky < p->kh; ky++) {
                        int iy = y * p->stride_h - pt + ky * p->dil_h;
                        if (iy < 0 || iy >= in->h) continue;
                        for (int kx = 0; kx < p->kw; kx++) {
                            int ix = x * p->stride_w - pl + kx * p->dil_w;
                            if (ix < 0 || ix >= in->w) continue;
                            const float *w = p->weight + (size_t)co * p->cin * p->kh * p->kw +
                                             (size_t)ky * p->kw + kx;
                            for (int ci = 0; ci < p->cin; ci++)
                                acc += (double)w[(size_t)ci * p->kh * p->kw] *
                                       FS_AT(in, b, iy, ix, ci);
                        }
                    }
                    FS_AT(out, b, y, x, co) = (float)acc;
                }
}

void fs_nn_relu(fs_tensor *t) {
    size_t n = fs_tensor_count(t);
    for (size_t i = 0; i < n; i++)
        if (!(t->data[i] > 0.0f)) t->data[i] = 0.0f;
}

void fs_nn_leaky_relu(fs_tensor *t, float slope) {
    size_t n = fs_tensor_count(t);
    for (size_t i = 0; i < n; i++)
        if (t->data[i] < 0.0f) t->data[i] *= slope;
}

void fs_nn_batchnorm(fs_tensor *t, const float *gamma, const float *beta, const float *mean,
                     const float *var, float eps) {
    size_t pixels = (size_t)t->n * t->h * t->w;
    for (int c = 0; c < t->c; c++) {
        float s = gamma[c] / sqrtf(var[c] + eps);
        float sh = beta[c] - mean[c] * s;
        for (size_t i = 0; i < pixels; i++) {
            float *v = &t->data[i * t->c + c];
            *v = *v * s + sh;
        }
    }
}

void fs_nn_maxpool(const fs_tensor *in, int pool, int stride, fs_tensor *out) {
    int oh = fs_nn_same_out(in->h, stride), ow = fs_nn_same_out(in->w, stride);
    assert(out->n == in->n && out->c == in->c && out->h == oh && out->w == ow);
    int pt = fs_nn_same_pad_before(in->h, pool, stride, 1);
    int pl = fs_nn_same_pad_before(in->w, pool, stride, 1);
    for (int b = 0; b < in->n; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                for (int c = 0; c < in->c; c++) {
                    float m = -INFINITY;
                    for (int dy = 0; dy < pool; dy++) {
                        int iy = y * stride - pt + dy;
                        if (iy < 0 || iy >= in->h) continue;
                        for (int dx = 0; dx < pool; dx++) {
                            int ix = x * stride - pl + dx;
                            if (ix < 0 || ix >= in->w) continue;
                            float v = FS_AT(in, b, iy, ix, c);
                            if (v > m) m = v;
                        }
                    }
                    FS_AT(out, b, y, x, c) = m;
                }
}

void fs_nn_flatten(const fs_tensor *in, fs_tensor *out) {
    assert(out->n == in->n && out->h == 1 && out->w == 1 && out->c == in->h * in->w * in->c);
    /* NHWC memory order is already the flatten order. */
    memcpy(out->data, in->data, fs_tensor_count(in) * sizeof(float));
}

void fs_nn_dense(const fs_tensor *in, const float *weight, const float *bias, int out_features,
                 fs_tensor *out) {
    int k = in->h * in->w * in->c;
    assert(out->n == in->n && out->h * out->w * out->c == out_features);
    for (int b = 0; b < in->n; b++) {
        const float *x = in->data + (size_t)b * k;
        for (int o = 0; o < out_features; o++) {
            double acc = bias ? bias[o] : 0.0;
            const float *w = weight + (size_t)o * k;
            for (int i = 0; i < k; i++) acc += (double)w[i] * x[i];
            out->data[(size_t)b * out_features + o] = (float)acc;
        }
    }
}

void fs_nn_concat(const fs_tensor *const *ins, int n_in, fs_tensor *out) {
    size_t pixels = (size_t)out->n * out->h * out->w;
    int off = 0;
    for (int i = 0; i < n_in; i++) {
        const fs_tensor *t = ins[i];
        assert(t->n == out->n && t->h == out->h && t->w == out->w);
        for (size_t p = 0; p < pixels; p++)
            memcpy(out->data + p * out->c + off, t->data + p * t->c, (size_t)t->c * sizeof(float));
        off += t->c;
    }
    assert(off == out->c);
}

float fs_nn_sigmoid(float x) {
    /* Split by sign so neither branch overflows exp. */
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
