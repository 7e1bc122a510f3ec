/* gradcam.c: Grad-CAM for the MesoNet networks (models/). The fused inference engine has no
 * backward pass, so the explanation runs the image through the training graph
 * (fs_meso_gradcam_graph, one thread) loaded with the net's own weights: an inference-mode
 * forward (batch norm on the running averages, dropout off), a backward seeded with dz = +1 on
 * the fake logit (-1 on the network's logit when its sigmoid is P(real)), then the feature maps
 * A of the last conv block and dz/dA are read from the graph's unfused ReLU node.
 *
 * w_c = mean over locations of dz/dA_c; heat = ReLU(sum_c w_c A_c) / its max. The graph costs
 * a few MB and a few ms for a 256x256 input; building it per call keeps fs_net immutable and
 * the call thread-safe. */
#include "fakescope/model.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/train.h"
#include "net_impl.h"

#define GRADCAM_LAYER "conv4" /* the last conv block of both MesoNet architectures */

void fs_gradcam_free(fs_gradcam *g) {
    if (!g) return;
    free(g->act);
    free(g->grad);
    free(g->heat);
    memset(g, 0, sizeof *g);
}

/* The net's tensors as a weights set in export layout (shapes from the architecture). */
static fs_err net_weights(const fs_net *net, fs_weights *w, fs_msg *msg) {
    const fs_arch *a = net->arch;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const fs_arch_tensor *t = &a->tensors[i];
        fs_err err = fs_weights_add(w, t->name, t->ndim, t->shape, fs_net_tensor(net, t->name), msg);
        if (err) return err;
    }
    return FS_OK;
}

/* Weights, heat and the scaled heat from A and G (h*w locations, c channels). */
static void combine(fs_gradcam *g) {
    const size_t px = (size_t)g->h * g->w;
    const int c = g->c;
    for (int ch = 0; ch < c; ch++) {
        double s = 0.0;
        for (size_t i = 0; i < px; i++) s += g->grad[i * c + ch];
        g->weights[ch] = (float)(s / (double)px);
    }
    float top = 0.0f;
    for (size_t i = 0; i < px; i++) {
        double v = 0.0;
        for (int ch = 0; ch < c; ch++) v += (double)g->weights[ch] * g->act[i * c + ch];
        g->heat[i] = v > 0.0 ? (float)v : 0.0f;
        if (g->heat[i] > top) top = g->heat[i];
    }
    g->heat_max = top;
    if (top > 0.0f)
        for (size_t i = 0; i < px; i++) g->heat[i] /= top;
}

fs_err fs_net_gradcam(const fs_net *net, const float *input, fs_gradcam *out, fs_msg *msg) {
    assert(net && input && out);
    memset(out, 0, sizeof *out);
    if (net->kind == NET_GRAPH)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "Grad-CAM is available for the MesoNet models, "
                       "not for %s", net->arch->title);
    if (fabsf(net->bn_eps - FS_TNET_BN_EPS) > 1e-7f)
        return fs_fail(msg, FS_ERR_UNSUPPORTED,
                       "Grad-CAM needs a batch-norm epsilon of 0.001 (these weights use %g)",
                       (double)net->bn_eps);
    const fs_arch *a = net->arch;
    fs_tnet *g = NULL;
    int feat = -1;
    fs_err err = fs_meso_gradcam_graph(a->name, a->input_h, a->input_w, net->leaky, &g, &feat, msg);
    if (err) return err;
    fs_weights w = {0};
    err = net_weights(net, &w, msg);
    if (!err) err = fs_tnet_import(g, &w, msg);
    fs_weights_free(&w);
    const float *logit = NULL;
    if (!err) err = fs_tnet_forward(g, input, 1, 0, &logit, msg);
    if (err) {
        fs_tnet_free(g);
        return err;
    }
    const float sign = net->output_fake ? 1.0f : -1.0f;
    const float dz = sign;
    fs_tnet_backward(g, &dz, NULL);

    int h, wd, c;
    fs_tnet_node_shape(g, feat, &h, &wd, &c);
    assert(c <= FS_GRADCAM_MAX_CHANNELS);
    const size_t n = (size_t)h * wd * c;
    strcpy(out->layer, GRADCAM_LAYER);
    out->h = h, out->w = wd, out->c = c;
    out->logit_fake = sign * logit[0];
    out->p_fake = 1.0f / (1.0f + expf(-out->logit_fake));
    out->act = malloc(n * sizeof(float));
    out->grad = malloc(n * sizeof(float));
    out->heat = malloc((size_t)h * wd * sizeof(float));
    if (!out->act || !out->grad || !out->heat) {
        fs_tnet_free(g);
        fs_gradcam_free(out);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for the Grad-CAM maps");
    }
    memcpy(out->act, fs_tnet_node_output(g, feat), n * sizeof(float));
    memcpy(out->grad, fs_tnet_node_grad(g, feat), n * sizeof(float));
    fs_tnet_free(g);
    combine(out);
    return FS_OK;
}
