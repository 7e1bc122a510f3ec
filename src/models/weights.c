/* weights.c: the fs_weights container (named float32 tensors plus string metadata), the
 * extension-based loader, and the check of a set against the expected tensors of the two
 * MesoNet architectures.
 *
 * The container is small (tens of tensors for MesoNet, FS_WEIGHTS_MAX_TENSORS at most), so
 * lookups are linear scans: simpler than a hash table and never the bottleneck, since weights
 * are looked up once when a network is built. */
#include "fakescope/weights.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FS_WEIGHT_MAX_NAME 1024 /* longest tensor name or metadata key we accept */

void fs_weights_free(fs_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->items[i].name);
        free(w->items[i].data);
    }
    free(w->items);
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->meta_keys);
    free(w->meta_values);
    memset(w, 0, sizeof *w);
}

const fs_weight *fs_weights_get(const fs_weights *w, const char *name) {
    for (size_t i = 0; i < w->count; i++)
        if (!strcmp(w->items[i].name, name)) return &w->items[i];
    return NULL;
}

fs_err fs_weights_count_elements(int ndim, const int64_t *shape, int64_t *count, fs_msg *msg) {
    if (ndim < 0 || ndim > FS_WEIGHT_MAX_DIMS)
        return fs_fail(msg, FS_ERR_FORMAT, "%d dimensions (at most %d are supported)", ndim,
                       FS_WEIGHT_MAX_DIMS);
    /* Bounded so that count * sizeof(float) always fits the file limit and a size_t. */
    const int64_t max_elems = (int64_t)(FS_WEIGHTS_MAX_FILE / sizeof(float));
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return fs_fail(msg, FS_ERR_FORMAT, "negative dimension %lld", (long long)shape[i]);
        if (shape[i] > 0 && n > max_elems / shape[i])
            return fs_fail(msg, FS_ERR_LIMIT, "tensor of more than %lld elements",
                           (long long)max_elems);
        n *= shape[i];
    }
    *count = n;
    return FS_OK;
}

fs_err fs_weights_add_owned(fs_weights *w, const char *name, int ndim, const int64_t *shape,
                            float *data, fs_msg *msg) {
    int64_t count = 0;
    fs_err err = fs_weights_count_elements(ndim, shape, &count, msg);
    if (err) {
        free(data);
        fs_msg_prefix(msg, "tensor %s: ", name);
        return err;
    }
    if (!name[0] || strlen(name) > FS_WEIGHT_MAX_NAME) {
        free(data);
        return fs_fail(msg, FS_ERR_INVALID, "tensor name is empty or longer than %d bytes",
                       FS_WEIGHT_MAX_NAME);
    }
    if (fs_weights_get(w, name)) {
        free(data);
        return fs_fail(msg, FS_ERR_CONFLICT, "tensor %s appears twice", name);
    }
    if (w->count >= FS_WEIGHTS_MAX_TENSORS) {
        free(data);
        return fs_fail(msg, FS_ERR_LIMIT, "more than %d tensors", FS_WEIGHTS_MAX_TENSORS);
    }
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        fs_weight *items = realloc(w->items, cap * sizeof *items);
        if (!items) {
            free(data);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory adding tensor %s", name);
        }
        w->items = items;
        w->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        free(data);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory adding tensor %s", name);
    }
    fs_weight *t = &w->items[w->count++];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->count = count;
    t->data = data;
    return FS_OK;
}

fs_err fs_weights_add(fs_weights *w, const char *name, int ndim, const int64_t *shape,
                      const float *data, fs_msg *msg) {
    int64_t count = 0;
    fs_err err = fs_weights_count_elements(ndim, shape, &count, msg);
    if (err) {
        fs_msg_prefix(msg, "tensor %s: ", name);
        return err;
    }
    /* At least one byte so that an empty tensor still owns a distinct, freeable buffer. */
    size_t bytes = (size_t)count * sizeof(float);
    assert(data || bytes == 0);
    float *copy = malloc(bytes ? bytes : 1);
    if (!copy) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for tensor %s", name);
    if (bytes) memcpy(copy, data, bytes);
    return fs_weights_add_owned(w, name, ndim, shape, copy, msg);
}

fs_err fs_weights_set_meta(fs_weights *w, const char *key, const char *value, fs_msg *msg) {
    if (!key[0] || strlen(key) > FS_WEIGHT_MAX_NAME)
        return fs_fail(msg, FS_ERR_INVALID, "metadata key is empty or too long");
    char *v = strdup(value);
    if (!v) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for metadata %s", key);
    for (size_t i = 0; i < w->meta_count; i++) {
        if (!strcmp(w->meta_keys[i], key)) {
            free(w->meta_values[i]);
            w->meta_values[i] = v;
            return FS_OK;
        }
    }
    if (w->meta_count >= FS_WEIGHTS_MAX_TENSORS) {
        free(v);
        return fs_fail(msg, FS_ERR_LIMIT, "more than %d metadata entries",
                       FS_WEIGHTS_MAX_TENSORS);
    }
    char *k = strdup(key);
    char **keys = realloc(w->meta_keys, (w->meta_count + 1) * sizeof *keys);
    if (keys) w->meta_keys = keys;
    char **values = keys ? realloc(w->meta_values, (w->meta_count + 1) * sizeof *values) : NULL;
    if (values) w->meta_values = values;
    if (!k || !keys || !values) {
        free(k);
        free(v);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for metadata %s", key);
    }
    w->meta_keys[w->meta_count] = k;
    w->meta_values[w->meta_count] = v;
    w->meta_count++;
    return FS_OK;
}

const char *fs_weights_meta(const fs_weights *w, const char *key) {
    for (size_t i = 0; i < w->meta_count; i++)
        if (!strcmp(w->meta_keys[i], key)) return w->meta_values[i];
    return NULL;
}

/* ---- expected tensors of the MesoNet architectures ------------------------------------ */

/* Builds the expected tensor list of one architecture. Each conv or dense layer has
 * .weight and .bias; each batch norm has its four vectors. */
typedef struct expect_builder {
    fs_weight_spec *specs;
    size_t n, cap;
} expect_builder;

static void spec(expect_builder *b, const char *layer, const char *suffix, int ndim, int64_t d0,
                 int64_t d1, int64_t d2, int64_t d3) {
    assert(b->n < b->cap);
    fs_weight_spec *s = &b->specs[b->n++];
    snprintf(s->name, sizeof s->name, "%s.%s", layer, suffix);
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->shape[2] = d2;
    s->shape[3] = d3;
}

static void conv(expect_builder *b, const char *layer, int64_t out, int64_t in, int64_t k) {
    spec(b, layer, "weight", 4, out, in, k, k);
    spec(b, layer, "bias", 1, out, 0, 0, 0);
}

static void bn(expect_builder *b, const char *layer, int64_t c) {
    spec(b, layer, "weight", 1, c, 0, 0, 0);
    spec(b, layer, "bias", 1, c, 0, 0, 0);
    spec(b, layer, "running_mean", 1, c, 0, 0, 0);
    spec(b, layer, "running_var", 1, c, 0, 0, 0);
}

static void dense(expect_builder *b, const char *layer, int64_t out, int64_t in) {
    spec(b, layer, "weight", 2, out, in, 0, 0);
    spec(b, layer, "bias", 1, out, 0, 0, 0);
}

/* One inception block: branch 1 is a 1x1 conv (a filters); branches 2-4 are a 1x1 conv followed
 * by a 3x3 conv (dilation 1, 2, 3) with b, c, d filters. */
static void inception(expect_builder *b, const char *block, int64_t in, int64_t a, int64_t bb,
                      int64_t c, int64_t d) {
    char name[64];
    snprintf(name, sizeof name, "%s.b1", block), conv(b, name, a, in, 1);
    snprintf(name, sizeof name, "%s.b2a", block), conv(b, name, bb, in, 1);
    snprintf(name, sizeof name, "%s.b2b", block), conv(b, name, bb, bb, 3);
    snprintf(name, sizeof name, "%s.b3a", block), conv(b, name, c, in, 1);
    snprintf(name, sizeof name, "%s.b3b", block), conv(b, name, c, c, 3);
    snprintf(name, sizeof name, "%s.b4a", block), conv(b, name, d, in, 1);
    snprintf(name, sizeof name, "%s.b4b", block), conv(b, name, d, d, 3);
}

size_t fs_weights_arch_specs(const char *arch, fs_weight_spec *out, size_t cap) {
    expect_builder b = {out, 0, cap};
    /* Both networks end in 8x8x16 = 1024 features for a 256x256 input. */
    if (!strcmp(arch, "meso4")) {
        if (cap < FS_MESO4_TENSORS) return 0;
        conv(&b, "conv1", 8, 3, 3), bn(&b, "bn1", 8);
        conv(&b, "conv2", 8, 8, 5), bn(&b, "bn2", 8);
        conv(&b, "conv3", 16, 8, 5), bn(&b, "bn3", 16);
        conv(&b, "conv4", 16, 16, 5), bn(&b, "bn4", 16);
        dense(&b, "dense1", 16, 1024), dense(&b, "dense2", 1, 16);
    } else if (!strcmp(arch, "mesoinception4")) {
        if (cap < FS_MESOINCEPTION4_TENSORS) return 0;
        inception(&b, "inc1", 3, 1, 4, 4, 2), bn(&b, "bn1", 11);
        inception(&b, "inc2", 11, 2, 4, 4, 2), bn(&b, "bn2", 12);
        conv(&b, "conv3", 16, 12, 5), bn(&b, "bn3", 16);
        conv(&b, "conv4", 16, 16, 5), bn(&b, "bn4", 16);
        dense(&b, "dense1", 16, 1024), dense(&b, "dense2", 1, 16);
    } else {
        return 0;
    }
    return b.n;
}

void fs_weights_format_shape(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

static int same_shape(int ndim_a, const int64_t *a, int ndim_b, const int64_t *b) {
    if (ndim_a != ndim_b) return 0;
    for (int i = 0; i < ndim_a; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

fs_err fs_weights_check_arch(const fs_weights *w, const char *arch, fs_msg *msg) {
    fs_weight_spec specs[FS_WEIGHTS_MAX_ARCH_TENSORS];
    size_t n = fs_weights_arch_specs(arch, specs, FS_WEIGHTS_MAX_ARCH_TENSORS);
    if (!n)
        return fs_fail(msg, FS_ERR_INVALID,
                       "unknown architecture '%s' (known: meso4, mesoinception4)", arch);
    for (size_t i = 0; i < n; i++) {
        const fs_weight *t = fs_weights_get(w, specs[i].name);
        if (!t)
            return fs_fail(msg, FS_ERR_FORMAT, "%s weights lack tensor %s", arch,
                           specs[i].name);
        if (!same_shape(t->ndim, t->shape, specs[i].ndim, specs[i].shape)) {
            char want[96], got[96];
            fs_weights_format_shape(specs[i].ndim, specs[i].shape, want, sizeof want);
            fs_weights_format_shape(t->ndim, t->shape, got, sizeof got);
            return fs_fail(msg, FS_ERR_FORMAT, "tensor %s: %s expects shape %s, the weights have %s",
                           specs[i].name, arch, want, got);
        }
    }
    /* Every tensor must be used: a stray one means the file is for another network. */
    for (size_t j = 0; j < w->count; j++) {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++) known = !strcmp(w->items[j].name, specs[i].name);
        if (!known)
            return fs_fail(msg, FS_ERR_FORMAT, "tensor %s is not part of %s", w->items[j].name,
                           arch);
    }
    return FS_OK;
}

/* ---- loading by extension ------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

fs_err fs_weights_load(const char *path, const char *arch, fs_weights *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (has_suffix(path, ".h5") || has_suffix(path, ".hdf5") || has_suffix(path, ".keras")) {
        if (!arch || !arch[0])
            return fs_fail(msg, FS_ERR_INVALID,
                           "%s: a Keras file needs an architecture (meso4 or mesoinception4)",
                           path);
        return fs_weights_import_keras(path, arch, out, msg);
    }
    if (!has_suffix(path, ".safetensors"))
        return fs_fail(msg, FS_ERR_UNSUPPORTED,
                       "%s: unknown weights extension (expected .safetensors or .h5)", path);
    fs_err err = fs_weights_load_safetensors(path, out, msg);
    if (err) return err;
    const char *file_arch = fs_weights_meta(out, "arch");
    if (arch && arch[0]) {
        if (file_arch && strcmp(file_arch, arch)) {
            fs_fail(msg, FS_ERR_INVALID, "%s: the weights are for %s, not %s", path, file_arch,
                    arch);
            fs_weights_free(out);
            return FS_ERR_INVALID;
        }
        if (!file_arch) err = fs_weights_set_meta(out, "arch", arch, msg);
    }
    /* Known architectures are checked here, once, so a network builder can trust the shapes. */
    const char *check = arch && arch[0] ? arch : file_arch;
    if (!err && check && (!strcmp(check, "meso4") || !strcmp(check, "mesoinception4")))
        err = fs_weights_check_arch(out, check, msg);
    if (err) {
        fs_msg_prefix(msg, "%s: ", path);
        fs_weights_free(out);
    }
    return err;
}
