/* keras.c: imports the original MesoNet Keras 2 HDF5 weight files (Meso4 and MesoInception4)
 * into fs_weights, renamed and transposed to the PyTorch layout of weights.h.
 *
 * A Keras weight file stores, at its root (or under /model_weights for a whole saved model),
 * the attribute layer_names; each layer group carries weight_names, the paths of its datasets
 * relative to the group. We follow that list, as Keras itself does when loading, and never
 * guess from the tree: the list is also where we learn whether the file's graph has a
 * LeakyReLU after the 16-unit dense layer (MesoInception files do, Meso4 files do not).
 *
 * Keras numbers layers per session (conv2d_5 may be a file's first convolution), so layers are
 * matched to our names by position: Meso4 in layer-list order; MesoInception4 by the numeric
 * suffix, because its layer list is in topological order (branches interleaved) while the
 * suffixes follow the order in which the model code created the layers. Every mapped tensor is
 * checked against the expected shapes, which is what turns "wrong --arch" into a clear message.
 *
 * libhdf5 is not hardened against hostile files, so only trusted files should be imported;
 * its own error printing is silenced and its error stack is turned into fs_msg text. */
#include "fakescope/weights.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KERAS_MAX_LAYERS 1024        /* entries of layer_names we accept */
#define KERAS_MAX_LAYER_WEIGHTS 16   /* entries of one layer's weight_names */
#define KERAS_MAX_STRING 4096        /* bytes of one fixed-length string attribute element */
#define KERAS_NAME_MAX 256

typedef enum { K_OTHER, K_CONV, K_BN, K_DENSE } klayer_kind;

typedef struct kweight {
    char path[KERAS_NAME_MAX]; /* as in weight_names, for messages */
    char role[64];             /* "kernel", "bias", "gamma", ... */
    int ndim;
    int64_t shape[FS_WEIGHT_MAX_DIMS];
    int64_t count;
    float *data;
} kweight;

typedef struct klayer {
    char name[KERAS_NAME_MAX];
    klayer_kind kind;
    long num;   /* numeric suffix of the Keras name, -1 when there is none */
    size_t pos; /* position in layer_names */
    size_t nweights;
    kweight w[KERAS_MAX_LAYER_WEIGHTS];
} klayer;

typedef struct kfile {
    klayer *layers; /* only layers that have weights */
    size_t nlayers;
    int leaky;
    char keras_version[64];
} kfile;

static void kfile_free(kfile *k) {
    for (size_t i = 0; i < k->nlayers; i++)
        for (size_t j = 0; j < k->layers[i].nweights; j++) free(k->layers[i].w[j].data);
    free(k->layers);
    memset(k, 0, sizeof *k);
}

/* ---- HDF5 error text ------------------------------------------------------------------- */

typedef struct h5_detail {
    char text[256];
} h5_detail;

static herr_t take_innermost(unsigned n, const H5E_error2_t *e, void *data) {
    h5_detail *d = data;
    if (n == 0) {
        char minor[128] = "";
        H5Eget_msg(e->min_num, NULL, minor, sizeof minor);
        snprintf(d->text, sizeof d->text, "%s%s%s", e->desc ? e->desc : "",
                 e->desc && minor[0] ? ": " : "", minor);
    }
    return 0;
}

/* Fails with code and "what (libhdf5: innermost error)", then clears the error stack. */
static fs_err h5_fail(fs_msg *msg, fs_err code, const char *what) {
    h5_detail d = {""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &d);
    H5Eclear2(H5E_DEFAULT);
    if (d.text[0]) return fs_fail(msg, code, "%s (libhdf5: %s)", what, d.text);
    return fs_fail(msg, code, "%s", what);
}

/* ---- attributes ------------------------------------------------------------------------ */

static void free_strings(char **s, size_t n) {
    for (size_t i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

/* Reads a string (scalar or 1-D array, fixed or variable length) attribute into *out (n
 * malloc'd strings). An empty non-string array (how Keras writes an empty weight_names) reads
 * as zero strings. FS_ERR_NOTFOUND when the attribute is absent. */
static fs_err read_strings(hid_t obj, const char *attr, size_t max, char ***out, size_t *n,
                           fs_msg *msg) {
    *out = NULL;
    *n = 0;
    htri_t exists = H5Aexists(obj, attr);
    if (exists < 0) return h5_fail(msg, FS_ERR_FORMAT, "cannot look up an attribute");
    if (exists == 0) return fs_fail(msg, FS_ERR_NOTFOUND, "attribute %s is absent", attr);
    hid_t a = H5Aopen(obj, attr, H5P_DEFAULT);
    if (a < 0) return h5_fail(msg, FS_ERR_FORMAT, "cannot open an attribute");
    hid_t t = H5Aget_type(a), s = H5Aget_space(a), mt = H5I_INVALID_HID;
    char **strs = NULL;
    char *raw = NULL;
    size_t count = 0;
    fs_err err = FS_OK;
    if (t < 0 || s < 0) {
        err = h5_fail(msg, FS_ERR_FORMAT, "cannot read an attribute's type");
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(s);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (rank < 0 || rank > 1 || np < 0) {
        err = fs_fail(msg, FS_ERR_FORMAT, "attribute %s is not a list", attr);
        goto done;
    }
    if ((size_t)np > max) {
        err = fs_fail(msg, FS_ERR_LIMIT, "attribute %s has %lld entries (at most %zu)", attr,
                      (long long)np, max);
        goto done;
    }
    count = (size_t)np;
    if (H5Tget_class(t) != H5T_STRING) {
        if (count == 0) goto done;
        err = fs_fail(msg, FS_ERR_FORMAT, "attribute %s does not hold strings", attr);
        goto done;
    }
    strs = calloc(count ? count : 1, sizeof *strs);
    if (!strs) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading attribute %s", attr);
        goto done;
    }
    htri_t vlen = H5Tis_variable_str(t);
    if (vlen > 0) {
        mt = H5Tcopy(H5T_C_S1);
        char **vs = calloc(count ? count : 1, sizeof *vs);
        if (mt < 0 || !vs || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, vs) < 0) {
            free(vs);
            err = h5_fail(msg, FS_ERR_FORMAT, "cannot read a string attribute");
            goto done;
        }
        for (size_t i = 0; i < count && !err; i++)
            if (!(strs[i] = strdup(vs[i] ? vs[i] : "")))
                err = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading attribute %s", attr);
        H5Dvlen_reclaim(mt, s, H5P_DEFAULT, vs);
        free(vs);
        goto done;
    }
    size_t size = H5Tget_size(t);
    if (vlen < 0 || size == 0 || size > KERAS_MAX_STRING) {
        err = fs_fail(msg, FS_ERR_FORMAT, "attribute %s has strings of unusable size", attr);
        goto done;
    }
    mt = H5Tcopy(t);
    raw = calloc(count ? count : 1, size);
    if (mt < 0 || !raw) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading attribute %s", attr);
        goto done;
    }
    if (H5Aread(a, mt, raw) < 0) {
        err = h5_fail(msg, FS_ERR_FORMAT, "cannot read a string attribute");
        goto done;
    }
    for (size_t i = 0; i < count && !err; i++) {
        /* Fixed-length strings are NUL- or space-padded: trim both. */
        size_t len = strnlen(raw + i * size, size);
        while (len && raw[i * size + len - 1] == ' ') len--;
        if (!(strs[i] = strndup(raw + i * size, len)))
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading attribute %s", attr);
    }
done:
    free(raw);
    if (mt >= 0) H5Tclose(mt);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    if (err) {
        free_strings(strs, count);
        return err;
    }
    *out = strs;
    *n = strs ? count : 0;
    return FS_OK;
}

/* ---- datasets -------------------------------------------------------------------------- */

static fs_err read_dataset(hid_t group, const char *path, kweight *kw, fs_msg *msg) {
    snprintf(kw->path, sizeof kw->path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t rl = strcspn(base, ":");
    if (rl >= sizeof kw->role) rl = sizeof kw->role - 1;
    memcpy(kw->role, base, rl);
    kw->role[rl] = '\0';

    htri_t ok = H5Lexists(group, path, H5P_DEFAULT);
    if (ok <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return fs_fail(msg, FS_ERR_FORMAT, "dataset %s listed in weight_names is missing", path);
    }
    hid_t d = H5Dopen2(group, path, H5P_DEFAULT);
    if (d < 0) return h5_fail(msg, FS_ERR_FORMAT, "cannot open a weight dataset");
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    fs_err err = FS_OK;
    if (t < 0 || s < 0) {
        err = h5_fail(msg, FS_ERR_FORMAT, "cannot read a dataset's type");
        goto done;
    }
    if (H5Tget_class(t) != H5T_FLOAT) {
        err = fs_fail(msg, FS_ERR_FORMAT, "dataset %s is not floating point", path);
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(s);
    if (rank < 0 || rank > FS_WEIGHT_MAX_DIMS) {
        err = fs_fail(msg, FS_ERR_FORMAT, "dataset %s has %d dimensions (at most %d)", path, rank,
                      FS_WEIGHT_MAX_DIMS);
        goto done;
    }
    hsize_t dims[FS_WEIGHT_MAX_DIMS];
    H5Sget_simple_extent_dims(s, dims, NULL);
    kw->ndim = rank;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > (hsize_t)INT64_MAX) {
            err = fs_fail(msg, FS_ERR_FORMAT, "dataset %s is too large", path);
            goto done;
        }
        kw->shape[i] = (int64_t)dims[i];
    }
    err = fs_weights_count_elements(rank, kw->shape, &kw->count, msg);
    if (err) {
        fs_msg_prefix(msg, "dataset %s: ", path);
        goto done;
    }
    kw->data = malloc(kw->count ? (size_t)kw->count * sizeof(float) : 1);
    if (!kw->data) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    /* libhdf5 converts whatever float type the file holds to native float. */
    if (kw->count && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, kw->data) < 0)
        err = h5_fail(msg, FS_ERR_FORMAT, "cannot read a weight dataset");
done:
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    return err;
}

/* ---- the file's layer list ------------------------------------------------------------- */

static int starts_with(const char *s, const char *prefix) {
    return !strncmp(s, prefix, strlen(prefix));
}

static klayer_kind kind_of(const char *name) {
    if (starts_with(name, "conv2d")) return K_CONV;
    if (starts_with(name, "batch_normalization")) return K_BN;
    if (starts_with(name, "dense")) return K_DENSE;
    return K_OTHER;
}

static long suffix_number(const char *name) {
    const char *u = strrchr(name, '_');
    if (!u || !u[1]) return -1;
    char *end;
    long v = strtol(u + 1, &end, 10);
    return *end || v < 0 ? -1 : v;
}

/* Reads one layer group's weights into l. */
static fs_err read_layer(hid_t root, const char *name, size_t pos, klayer *l, int *has_weights,
                         fs_msg *msg) {
    memset(l, 0, sizeof *l);
    *has_weights = 0;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->kind = kind_of(name);
    l->num = suffix_number(name);
    l->pos = pos;
    htri_t ok = H5Lexists(root, name, H5P_DEFAULT);
    if (ok <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return fs_fail(msg, FS_ERR_FORMAT, "layer %s from layer_names has no group", name);
    }
    hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
    if (g < 0) return h5_fail(msg, FS_ERR_FORMAT, "cannot open a layer group");
    char **wn = NULL;
    size_t nw = 0;
    fs_err err = read_strings(g, "weight_names", KERAS_MAX_LAYER_WEIGHTS, &wn, &nw, msg);
    if (err == FS_ERR_NOTFOUND)
        err = fs_fail(msg, FS_ERR_FORMAT, "layer %s has no weight_names attribute", name);
    for (size_t i = 0; !err && i < nw; i++) {
        err = read_dataset(g, wn[i], &l->w[i], msg);
        l->nweights = i + 1; /* so a failure still frees what was read */
    }
    free_strings(wn, nw);
    H5Gclose(g);
    if (!err && nw) {
        *has_weights = 1;
        if (l->kind == K_OTHER)
            err = fs_fail(msg, FS_ERR_FORMAT,
                          "layer %s has weights but is not a conv, batch norm or dense layer: "
                          "not a MesoNet file",
                          name);
    }
    if (err) {
        for (size_t j = 0; j < l->nweights; j++) free(l->w[j].data);
        l->nweights = 0;
    }
    return err;
}

static fs_err read_root_string(hid_t obj, const char *attr, char *buf, size_t cap) {
    char **s = NULL;
    size_t n = 0;
    fs_msg ignore;
    fs_err err = read_strings(obj, attr, 1, &s, &n, &ignore);
    if (!err && n == 1) snprintf(buf, cap, "%s", s[0]);
    free_strings(s, n);
    return err;
}

static fs_err read_kfile(hid_t file, kfile *k, fs_msg *msg) {
    memset(k, 0, sizeof *k);
    /* Weights saved with model.save() sit under /model_weights; save_weights() uses the root. */
    hid_t root = H5I_INVALID_HID;
    char **names = NULL;
    size_t n = 0;
    fs_err err = FS_ERR_NOTFOUND;
    static const char *const roots[] = {"/", "/model_weights"};
    for (size_t r = 0; r < 2 && err == FS_ERR_NOTFOUND; r++) {
        if (r > 0 && H5Lexists(file, roots[r], H5P_DEFAULT) <= 0) break;
        root = H5Gopen2(file, roots[r], H5P_DEFAULT);
        if (root < 0) return h5_fail(msg, FS_ERR_FORMAT, "cannot open the root group");
        err = read_strings(root, "layer_names", KERAS_MAX_LAYERS, &names, &n, msg);
        if (err) {
            H5Gclose(root);
            root = H5I_INVALID_HID;
        }
    }
    H5Eclear2(H5E_DEFAULT);
    if (err == FS_ERR_NOTFOUND)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "an HDF5 file but not Keras weights (no layer_names attribute at / or "
                       "/model_weights)");
    if (err) return err;
    if (read_root_string(root, "keras_version", k->keras_version, sizeof k->keras_version))
        read_root_string(file, "keras_version", k->keras_version, sizeof k->keras_version);
    k->layers = calloc(n ? n : 1, sizeof *k->layers);
    if (!k->layers) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for %zu layers", n);
    for (size_t i = 0; !err && i < n; i++) {
        if (starts_with(names[i], "leaky_re_lu")) k->leaky = 1;
        int has = 0;
        err = read_layer(root, names[i], i, &k->layers[k->nlayers], &has, msg);
        if (!err && has) k->nlayers++;
    }
    free_strings(names, n);
    H5Gclose(root);
    if (err) kfile_free(k);
    return err;
}

/* ---- mapping onto our names ------------------------------------------------------------ */

static const char *const meso4_conv[] = {"conv1", "conv2", "conv3", "conv4"};
static const char *const meso_inc_conv[] = {
    "inc1.b1", "inc1.b2a", "inc1.b2b", "inc1.b3a", "inc1.b3b", "inc1.b4a", "inc1.b4b",
    "inc2.b1", "inc2.b2a", "inc2.b2b", "inc2.b3a", "inc2.b3b", "inc2.b4a", "inc2.b4b",
    "conv3",   "conv4"};
static const char *const meso_bn[] = {"bn1", "bn2", "bn3", "bn4"};
static const char *const meso_dense[] = {"dense1", "dense2"};

typedef struct kmap {
    const char *arch;
    const char *const *targets[4]; /* indexed by klayer_kind */
    size_t ntargets[4];
    int by_number; /* order layers by numeric suffix rather than layer-list position */
} kmap;

static const kmap maps[] = {
    {"meso4", {NULL, meso4_conv, meso_bn, meso_dense}, {0, 4, 4, 2}, 0},
    {"mesoinception4", {NULL, meso_inc_conv, meso_bn, meso_dense}, {0, 16, 4, 2}, 1},
};

static const char *kind_name(klayer_kind k) {
    return k == K_CONV ? "convolution" : k == K_BN ? "batch normalization" : "dense";
}

static const kweight *find_role(const klayer *l, const char *role) {
    for (size_t i = 0; i < l->nweights; i++)
        if (!strcmp(l->w[i].role, role)) return &l->w[i];
    return NULL;
}

static const fs_weight_spec *find_spec(const fs_weight_spec *specs, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(specs[i].name, name)) return &specs[i];
    return NULL;
}

/* Permutes a Keras tensor into our layout (perm[i] = source axis of our axis i), checks it
 * against the spec of target.suffix and adds it. */
static fs_err map_tensor(const kmap *m, const fs_weight_spec *specs, size_t nspecs,
                         const klayer *l, const char *role, const char *target,
                         const char *suffix, const int *perm, int ndim, fs_weights *out,
                         fs_msg *msg) {
    const kweight *kw = find_role(l, role);
    if (!kw)
        return fs_fail(msg, FS_ERR_FORMAT, "layer %s has no %s weight", l->name, role);
    char name[64];
    snprintf(name, sizeof name, "%s.%s", target, suffix);
    const fs_weight_spec *sp = find_spec(specs, nspecs, name);
    if (!sp) return fs_fail(msg, FS_ERR_INTERNAL, "no expected shape for %s", name);
    char kshape[96], want[96];
    fs_weights_format_shape(kw->ndim, kw->shape, kshape, sizeof kshape);
    fs_weights_format_shape(sp->ndim, sp->shape, want, sizeof want);
    if (kw->ndim != ndim || sp->ndim != ndim)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "tensor %s (Keras %s): %s expects shape %s, the file has %s: wrong "
                       "architecture?",
                       name, kw->path, m->arch, want, kshape);
    int64_t shape[FS_WEIGHT_MAX_DIMS], kstride[FS_WEIGHT_MAX_DIMS];
    for (int i = 0; i < ndim; i++) shape[i] = kw->shape[perm[i]];
    for (int i = 0; i < ndim; i++)
        if (shape[i] != sp->shape[i]) {
            char got[96];
            fs_weights_format_shape(ndim, shape, got, sizeof got);
            return fs_fail(msg, FS_ERR_FORMAT,
                           "tensor %s (Keras %s %s): %s expects shape %s, the file has %s: "
                           "wrong architecture?",
                           name, kw->path, kshape, m->arch, want, got);
        }
    /* Row-major strides of the Keras tensor, then gather in our order. */
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) kstride[i] = st, st *= kw->shape[i];
    float *data = malloc(kw->count ? (size_t)kw->count * sizeof(float) : 1);
    if (!data) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for %s", name);
    int64_t idx[FS_WEIGHT_MAX_DIMS] = {0};
    for (int64_t o = 0; o < kw->count; o++) {
        int64_t src = 0;
        for (int i = 0; i < ndim; i++) src += idx[i] * kstride[perm[i]];
        data[o] = kw->data[src];
        for (int i = ndim - 1; i >= 0; i--) { /* odometer over our shape */
            if (++idx[i] < shape[i]) break;
            idx[i] = 0;
        }
    }
    return fs_weights_add_owned(out, name, ndim, shape, data, msg);
}

static fs_err map_layer(const kmap *m, const fs_weight_spec *specs, size_t nspecs,
                        const klayer *l, const char *target, fs_weights *out, fs_msg *msg) {
    static const int conv_perm[4] = {3, 2, 0, 1}; /* [kh,kw,in,out] -> [out,in,kh,kw] */
    static const int dense_perm[2] = {1, 0};      /* [in,out] -> [out,in] */
    static const int same[1] = {0};
    size_t expect = l->kind == K_BN ? 4 : 2;
    if (l->nweights != expect)
        return fs_fail(msg, FS_ERR_FORMAT, "layer %s has %zu weights, a %s layer has %zu",
                       l->name, l->nweights, kind_name(l->kind), expect);
    fs_err err;
    switch (l->kind) {
    case K_CONV:
        err = map_tensor(m, specs, nspecs, l, "kernel", target, "weight", conv_perm, 4, out, msg);
        if (!err) err = map_tensor(m, specs, nspecs, l, "bias", target, "bias", same, 1, out, msg);
        return err;
    case K_DENSE:
        err = map_tensor(m, specs, nspecs, l, "kernel", target, "weight", dense_perm, 2, out, msg);
        if (!err) err = map_tensor(m, specs, nspecs, l, "bias", target, "bias", same, 1, out, msg);
        return err;
    case K_BN: {
        static const char *const roles[4][2] = {{"gamma", "weight"},
                                                {"beta", "bias"},
                                                {"moving_mean", "running_mean"},
                                                {"moving_variance", "running_var"}};
        err = FS_OK;
        for (int i = 0; i < 4 && !err; i++)
            err = map_tensor(m, specs, nspecs, l, roles[i][0], target, roles[i][1], same, 1, out,
                             msg);
        return err;
    }
    case K_OTHER: break;
    }
    return fs_fail(msg, FS_ERR_INTERNAL, "layer %s of unknown kind", l->name);
}

static int by_suffix(const void *a, const void *b) {
    const klayer *const *x = a, *const *y = b;
    if ((*x)->num != (*y)->num) return (*x)->num < (*y)->num ? -1 : 1;
    return (*x)->pos < (*y)->pos ? -1 : (*x)->pos > (*y)->pos;
}

static fs_err map_kfile(const kmap *m, const kfile *k, fs_weights *out, fs_msg *msg) {
    fs_weight_spec specs[FS_WEIGHTS_MAX_ARCH_TENSORS];
    size_t nspecs = fs_weights_arch_specs(m->arch, specs, FS_WEIGHTS_MAX_ARCH_TENSORS);
    const klayer **of_kind = calloc(k->nlayers ? k->nlayers : 1, sizeof *of_kind);
    if (!of_kind) return fs_fail(msg, FS_ERR_NOMEM, "out of memory mapping layers");
    fs_err err = FS_OK;
    /* Convolutions first: their shapes are the most telling when the architecture is wrong. */
    for (int kind = K_CONV; kind <= K_DENSE && !err; kind++) {
        size_t n = 0;
        for (size_t i = 0; i < k->nlayers; i++)
            if (k->layers[i].kind == (klayer_kind)kind) of_kind[n++] = &k->layers[i];
        if (m->by_number) qsort(of_kind, n, sizeof *of_kind, by_suffix);
        size_t want = m->ntargets[kind];
        for (size_t i = 0; i < n && i < want && !err; i++)
            err = map_layer(m, specs, nspecs, of_kind[i], m->targets[kind][i], out, msg);
        if (!err && n != want)
            err = fs_fail(msg, FS_ERR_FORMAT,
                          "the file has %zu %s layers, %s has %zu: wrong architecture?", n,
                          kind_name((klayer_kind)kind), m->arch, want);
    }
    free(of_kind);
    if (!err) err = fs_weights_check_arch(out, m->arch, msg);
    return err;
}

/* ---- entry point ----------------------------------------------------------------------- */

fs_err fs_weights_import_keras(const char *path, const char *arch, fs_weights *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    const kmap *m = NULL;
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++)
        if (arch && !strcmp(arch, maps[i].arch)) m = &maps[i];
    if (!m)
        return fs_fail(msg, FS_ERR_INVALID,
                       "unknown architecture '%s' for a Keras import (meso4 or mesoinception4)",
                       arch ? arch : "(none)");
    struct stat st;
    if (stat(path, &st) != 0) return fs_fail(msg, FS_ERR_NOTFOUND, "%s: no such file", path);
    if (!S_ISREG(st.st_mode)) return fs_fail(msg, FS_ERR_INVALID, "%s: not a regular file", path);

    /* libhdf5 would print its error stack to stderr; we report errors ourselves. */
    H5E_auto2_t old_func = NULL;
    void *old_data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    fs_err err = FS_OK;
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    kfile k = {0};
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        err = fs_fail(msg, FS_ERR_FORMAT, "not an HDF5 file");
        goto done;
    }
    /* Strong close: every object still open is closed with the file, even on error paths. */
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        err = h5_fail(msg, FS_ERR_INTERNAL, "cannot set up HDF5 file access");
        goto done;
    }
    file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        err = h5_fail(msg, FS_ERR_FORMAT, "cannot open the HDF5 file");
        goto done;
    }
    err = read_kfile(file, &k, msg);
    if (!err) err = map_kfile(m, &k, out, msg);
    if (!err) {
        const char *base = strrchr(path, '/');
        err = fs_weights_set_meta(out, "arch", arch, msg);
        if (!err) err = fs_weights_set_meta(out, "source", base ? base + 1 : path, msg);
        if (!err) err = fs_weights_set_meta(out, "dense_leaky", k.leaky ? "true" : "false", msg);
        /* Weight-only files keep no layer config; MesoNet's BatchNormalization layers use the
         * Keras default epsilon, which differs from PyTorch's 1e-5. */
        if (!err) err = fs_weights_set_meta(out, "bn_eps", "0.001", msg);
        if (!err && k.keras_version[0])
            err = fs_weights_set_meta(out, "keras_version", k.keras_version, msg);
    }
done:
    kfile_free(&k);
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    if (err) {
        fs_weights_free(out);
        fs_msg_prefix(msg, "%s: ", path);
    }
    return err;
}
