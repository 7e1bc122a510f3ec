/* MesoNet training graphs (models/): Meso4 and MesoInception4 built from the training layers
 * exactly as the original Keras models are (conv + ReLU, batch norm, 'same' max pooling,
 * dropout 0.5, a 16-unit dense layer with LeakyReLU 0.1, one logit), with the parameter names
 * of fs_weights_arch_specs so an export loads straight into the inference engine. The graph
 * ends at the logit: the sigmoid lives in the loss (fs_loss_bce_logits) and in inference.
 * A variant with the last ReLU unfused serves Grad-CAM (models/gradcam.c). */
#include <stdio.h>
#include <string.h>

#include "fakescope/train.h"

static int inception(fs_tnet *net, int x, const char *name, int a, int b, int c, int d) {
    char l[32];
    int br[4];
    snprintf(l, sizeof l, "%s.b1", name), br[0] = fs_tnet_conv(net, x, l, a, 1, 1, 1, 1);
    snprintf(l, sizeof l, "%s.b2a", name), br[1] = fs_tnet_conv(net, x, l, b, 1, 1, 1, 1);
    snprintf(l, sizeof l, "%s.b2b", name), br[1] = fs_tnet_conv(net, br[1], l, b, 3, 1, 1, 1);
    snprintf(l, sizeof l, "%s.b3a", name), br[2] = fs_tnet_conv(net, x, l, c, 1, 1, 1, 1);
    snprintf(l, sizeof l, "%s.b3b", name), br[2] = fs_tnet_conv(net, br[2], l, c, 3, 1, 2, 1);
    snprintf(l, sizeof l, "%s.b4a", name), br[3] = fs_tnet_conv(net, x, l, d, 1, 1, 1, 1);
    snprintf(l, sizeof l, "%s.b4b", name), br[3] = fs_tnet_conv(net, br[3], l, d, 3, 1, 3, 1);
    return fs_tnet_concat(net, br, 4);
}

/* Builds either graph; split: the last convolution's ReLU as its own node, its id in *features. */
static fs_err build(const char *arch, int h, int w, int threads, uint64_t seed, int split,
                    int leaky, fs_tnet **out, int *features, fs_msg *msg) {
    *out = NULL;
    const int meso4 = arch && !strcmp(arch, "meso4");
    if (!meso4 && !(arch && !strcmp(arch, "mesoinception4")))
        return fs_fail(msg, FS_ERR_INVALID, "unknown architecture '%s' (meso4, mesoinception4)",
                       arch ? arch : "(null)");
    if (h < 32 || w < 32 || h % 32 || w % 32)
        return fs_fail(msg, FS_ERR_INVALID, "input %dx%d: sides must be multiples of 32", w, h);
    fs_tnet *net;
    fs_err err = fs_tnet_create(h, w, 3, threads, seed, &net, msg);
    if (err) return err;
    int x = 0;
    if (meso4) {
        x = fs_tnet_conv(net, x, "conv1", 8, 3, 1, 1, 1);
        x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn1"), 2);
        x = fs_tnet_conv(net, x, "conv2", 8, 5, 1, 1, 1);
        x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn2"), 2);
    } else {
        x = inception(net, x, "inc1", 1, 4, 4, 2);
        x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn1"), 2);
        x = inception(net, x, "inc2", 2, 4, 4, 2);
        x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn2"), 2);
    }
    x = fs_tnet_conv(net, x, "conv3", 16, 5, 1, 1, 1);
    x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn3"), 2);
    x = fs_tnet_conv(net, x, "conv4", 16, 5, 1, 1, !split);
    if (split) x = *features = fs_tnet_relu(net, x);
    x = fs_tnet_maxpool(net, fs_tnet_bn(net, x, "bn4"), 4);
    x = fs_tnet_dropout(net, fs_tnet_flatten(net, x), 0.5f);
    x = fs_tnet_dense(net, x, "dense1", 16);
    if (leaky) x = fs_tnet_leaky(net, x, 0.1f);
    x = fs_tnet_dropout(net, x, 0.5f);
    fs_tnet_dense(net, x, "dense2", 1);
    err = fs_tnet_finish(net, msg);
    if (err) {
        fs_tnet_free(net);
        return err;
    }
    *out = net;
    return FS_OK;
}

fs_err fs_meso_train_create(const char *arch, int h, int w, int threads, uint64_t seed,
                            fs_tnet **out, fs_msg *msg) {
    return build(arch, h, w, threads, seed, 0, 1, out, NULL, msg);
}

fs_err fs_meso_gradcam_graph(const char *arch, int h, int w, int leaky, fs_tnet **out,
                             int *features, fs_msg *msg) {
    *features = -1;
    return build(arch, h, w, 1, 0, 1, leaky, out, features, msg);
}

fs_err fs_meso_train_export(const fs_tnet *net, const char *arch, fs_weights *w, fs_msg *msg) {
    fs_err err = fs_tnet_export(net, w, msg);
    if (!err) err = fs_weights_set_meta(w, "arch", arch, msg);
    if (!err) err = fs_weights_set_meta(w, "output", "p_fake", msg);
    if (!err) err = fs_weights_set_meta(w, "dense_leaky", "true", msg);
    if (!err) err = fs_weights_set_meta(w, "bn_eps", "0.001", msg);
    return err;
}
