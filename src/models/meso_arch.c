/* meso_arch.c: what each MesoNet architecture expects of its weights (tensor names and
 * PyTorch-layout shapes), its convolution layers for the model explorer, and the check that
 * an fs_weights fits. The importers (safetensors, Keras HDF5) call fs_arch_validate so a wrong
 * or truncated file is refused with the name of the first tensor that does not fit. */
#include "fakescope/model.h"

#include "fakescope/graph.h"
#include "fakescope/mobilenet.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define T1(n, a) {n, 1, {a}}
#define T2(n, a, b) {n, 2, {a, b}}
#define T4(n, a, b, c, d) {n, 4, {a, b, c, d}}
#define CONV(n, o, i, k) T4(n ".weight", o, i, k, k), T1(n ".bias", o)
#define BN(n, c) T1(n ".weight", c), T1(n ".bias", c), T1(n ".running_mean", c), T1(n ".running_var", c)

static const fs_arch_tensor meso4_tensors[] = {
    CONV("conv1", 8, 3, 3),   BN("bn1", 8),
    CONV("conv2", 8, 8, 5),   BN("bn2", 8),
    CONV("conv3", 16, 8, 5),  BN("bn3", 16),
    CONV("conv4", 16, 16, 5), BN("bn4", 16),
    T2("dense1.weight", 16, 1024), T1("dense1.bias", 16),
    T2("dense2.weight", 1, 16),    T1("dense2.bias", 1),
};

static const fs_arch_conv meso4_convs[] = {
    {"conv1", 8, 3, 3, 1, 256, 256},
    {"conv2", 8, 5, 5, 1, 128, 128},
    {"conv3", 16, 5, 5, 1, 64, 64},
    {"conv4", 16, 5, 5, 1, 32, 32},
};

#define INCEPTION(p, cin, a, b, c, d)                                                      \
    CONV(p ".b1", a, cin, 1), CONV(p ".b2a", b, cin, 1), CONV(p ".b2b", b, b, 3),          \
        CONV(p ".b3a", c, cin, 1), CONV(p ".b3b", c, c, 3), CONV(p ".b4a", d, cin, 1),     \
        CONV(p ".b4b", d, d, 3)

static const fs_arch_tensor inception_tensors[] = {
    INCEPTION("inc1", 3, 1, 4, 4, 2),  BN("bn1", 11),
    INCEPTION("inc2", 11, 2, 4, 4, 2), BN("bn2", 12),
    CONV("conv3", 16, 12, 5), BN("bn3", 16),
    CONV("conv4", 16, 16, 5), BN("bn4", 16),
    T2("dense1.weight", 16, 1024), T1("dense1.bias", 16),
    T2("dense2.weight", 1, 16),    T1("dense2.bias", 1),
};

#define INC_CONVS(p, a, b, c, d, s)                                                        \
    {p ".b1", a, 1, 1, 1, s, s}, {p ".b2a", b, 1, 1, 1, s, s}, {p ".b2b", b, 3, 3, 1, s, s}, \
        {p ".b3a", c, 1, 1, 1, s, s}, {p ".b3b", c, 3, 3, 2, s, s},                        \
        {p ".b4a", d, 1, 1, 1, s, s}, {p ".b4b", d, 3, 3, 3, s, s}

static const fs_arch_conv inception_convs[] = {
    INC_CONVS("inc1", 1, 4, 4, 2, 256),
    INC_CONVS("inc2", 2, 4, 4, 2, 128),
    {"conv3", 16, 5, 5, 1, 64, 64},
    {"conv4", 16, 5, 5, 1, 32, 32},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const fs_arch meso4 = {"meso4", "Meso4", 256, 256, 3, 1.0f / 255.0f,
                              meso4_tensors, N(meso4_tensors), meso4_convs, N(meso4_convs), NULL, NULL};
static const fs_arch mesoinception4 = {"mesoinception4", "MesoInception4", 256, 256, 3,
                                       1.0f / 255.0f, inception_tensors, N(inception_tensors),
                                       inception_convs, N(inception_convs), NULL, NULL};
/* MobileNetV2 detectors as fakescope train writes them: 256x256, one logit. */
static const fs_arch mobilenetv2 = {"mobilenetv2", "MobileNetV2", 256, 256, 3, 1.0f / 255.0f,
                                    NULL, 0, NULL, 0, fs_mobilenetv2_graph, fs_mobilenetv2_random};
static const fs_arch *const all_archs[] = {&meso4, &mesoinception4, &mobilenetv2, NULL};

const fs_arch *const *fs_arch_list(void) { return all_archs; }

const fs_arch *fs_arch_find(const char *name) {
    if (!name) return NULL;
    if (!strcasecmp(name, "mesoinception")) return &mesoinception4;
    for (size_t i = 0; all_archs[i]; i++)
        if (!strcasecmp(name, all_archs[i]->name)) return all_archs[i];
    return NULL;
}

static const fs_weight *find(const fs_weights *w, const char *name) {
    for (size_t i = 0; i < w->count; i++)
        if (!strcmp(w->items[i].name, name)) return &w->items[i];
    return NULL;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* The graph of w ends in a single value. */
static fs_err validate_graph(const fs_arch *arch, const fs_weights *w, fs_msg *msg) {
    fs_graph *g = NULL;
    fs_err e = arch->graph(w, arch->input_h, &g, msg);
    if (e) {
        fs_msg_prefix(msg, "%s weights: ", arch->title);
        return e;
    }
    fs_graph_node_info out;
    fs_graph_node(g, fs_graph_output(g), &out);
    fs_graph_free(g);
    if (out.h * out.w * out.c != 1)
        return fs_fail(msg, FS_ERR_FORMAT, "%s weights: the network ends in %d values, not one "
                       "logit (an ImageNet classifier is a backbone, not a detector)",
                       arch->title, out.h * out.w * out.c);
    return FS_OK;
}

fs_err fs_arch_validate(const fs_arch *arch, const fs_weights *w, fs_msg *msg) {
    if (arch->graph) return validate_graph(arch, w, msg);
    for (size_t i = 0; i < arch->n_tensors; i++) {
        const fs_arch_tensor *t = &arch->tensors[i];
        const fs_weight *got = find(w, t->name);
        char want[80], have[80];
        shape_str(want, sizeof want, t->ndim, t->shape);
        if (!got)
            return fs_fail(msg, FS_ERR_FORMAT, "%s weights: tensor %s %s is missing", arch->title,
                           t->name, want);
        int same = got->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = got->shape[d] == t->shape[d];
        if (!same || !got->data) {
            shape_str(have, sizeof have, got->ndim, got->shape);
            return fs_fail(msg, FS_ERR_FORMAT, "%s weights: tensor %s has shape %s, expected %s",
                           arch->title, t->name, have, want);
        }
    }
    for (size_t i = 0; i < w->count; i++) {
        int known = 0;
        for (size_t j = 0; j < arch->n_tensors && !known; j++)
            known = !strcmp(w->items[i].name, arch->tensors[j].name);
        if (!known)
            return fs_fail(msg, FS_ERR_FORMAT, "%s weights: unexpected tensor %s", arch->title,
                           w->items[i].name);
    }
    return FS_OK;
}

double fs_arch_flops(const fs_arch *arch) {
    double macs = 0;
    if (arch->graph) {
        /* speed does not depend on the values: count the graph of random weights */
        fs_weights w = {0};
        fs_graph *g = NULL;
        fs_msg msg = {{0}};
        if (!arch->random(&w, 1, 1, &msg) && !arch->graph(&w, arch->input_h, &g, &msg))
            for (int i = 0; i < fs_graph_nodes(g); i++) {
                fs_graph_node_info in;
                fs_graph_node(g, i, &in);
                macs += in.macs;
            }
        fs_graph_free(g);
        fs_weights_free(&w);
        return 2.0 * macs;
    }
    for (size_t i = 0; i < arch->n_conv_layers; i++) {
        const fs_arch_conv *c = &arch->conv_layers[i];
        const fs_arch_tensor *t = NULL;
        char name[64];
        snprintf(name, sizeof name, "%s.weight", c->name);
        for (size_t j = 0; j < arch->n_tensors && !t; j++)
            if (!strcmp(arch->tensors[j].name, name)) t = &arch->tensors[j];
        if (t) macs += (double)c->out_h * c->out_w * t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
    }
    macs += 16.0 * 1024 + 16; /* dense layers */
    return 2.0 * macs;
}
