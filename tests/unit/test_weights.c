/* Tests of the weights container, the safetensors reader/writer (including hostile headers)
 * and the Keras HDF5 import of the original MesoNet files. */
#include "fs_test.h"
#include "fakescope/weights.h"

#include <math.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------- */

static char tmpdir[64];

static int setup_dir(void **state) {
    (void)state;
    return fs_test_mkdtemp(tmpdir, sizeof tmpdir, "weights");
}

static int remove_dir(void **state) {
    (void)state;
    return fs_test_rmtree(tmpdir);
}

/* A safetensors buffer from a header text and raw data bytes. */
static uint8_t *make_st(const char *header, const void *data, size_t dlen, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + dlen;
    uint8_t *buf = malloc(*len);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    if (dlen) memcpy(buf + 8 + h, data, dlen);
    return buf;
}

/* Expects FS_ERR_FORMAT with a message containing want; out must be left empty. */
static void expect_format(const uint8_t *buf, size_t len, const char *want) {
    fs_weights w;
    fs_msg m = {""};
    fs_err err = fs_weights_read_safetensors(buf, len, &w, &m);
    if (err != FS_ERR_FORMAT || !strstr(m.text, want))
        fail_msg("want format error containing \"%s\", got %s: %s", want, fs_err_name(err), m.text);
    assert_int_equal(w.count, 0);
    assert_null(w.items);
    assert_int_equal(w.meta_count, 0);
}

static void expect_header_format(const char *header, size_t dlen, const char *want) {
    uint8_t zeros[256] = {0};
    assert_true(dlen <= sizeof zeros);
    size_t len;
    uint8_t *buf = make_st(header, zeros, dlen, &len);
    expect_format(buf, len, want);
    free(buf);
}

/* ---- container ------------------------------------------------------------------------- */

static void container_add_get_meta(void **state) {
    (void)state;
    fs_weights w = {0};
    fs_msg m;
    fs_weights_free(&w); /* safe on a zeroed struct */
    float d[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    assert_int_equal(fs_weights_add(&w, "a.weight", 2, shape, d, &m), FS_OK);
    d[0] = 99; /* the container holds a copy */
    const fs_weight *t = fs_weights_get(&w, "a.weight");
    assert_non_null(t);
    assert_int_equal(t->count, 6);
    assert_true(t->data[0] == 1.0f && t->data[5] == 6.0f);
    assert_int_equal(fs_weights_add(&w, "a.weight", 2, shape, d, &m), FS_ERR_CONFLICT);
    assert_non_null(strstr(m.text, "a.weight"));
    int64_t neg[1] = {-1};
    assert_int_equal(fs_weights_add(&w, "neg", 1, neg, d, &m), FS_ERR_FORMAT);
    int64_t five[5] = {1, 1, 1, 1, 1};
    assert_int_equal(fs_weights_add(&w, "five", 5, five, d, &m), FS_ERR_FORMAT);
    assert_null(fs_weights_get(&w, "missing"));
    assert_int_equal(fs_weights_set_meta(&w, "arch", "meso4", &m), FS_OK);
    assert_int_equal(fs_weights_set_meta(&w, "arch", "mesoinception4", &m), FS_OK);
    assert_int_equal(w.meta_count, 1);
    assert_string_equal(fs_weights_meta(&w, "arch"), "mesoinception4");
    assert_null(fs_weights_meta(&w, "nope"));
    fs_weights_free(&w);
    assert_int_equal(w.count, 0);
}

/* ---- safetensors ----------------------------------------------------------------------- */

static void fill_sample(fs_weights *w) {
    fs_msg m;
    float a[24], b[3] = {-1.5f, 0.0f, 3.25e-8f}, s = 42.0f;
    for (int i = 0; i < 24; i++) a[i] = (float)i * 0.5f - 3.0f;
    int64_t sa[4] = {2, 3, 2, 2}, sb[1] = {3}, se[2] = {0, 5};
    /* Inserted out of name order: the writer sorts. */
    assert_int_equal(fs_weights_add(w, "zeta.weight", 4, sa, a, &m), FS_OK);
    assert_int_equal(fs_weights_add(w, "alpha.bias", 1, sb, b, &m), FS_OK);
    assert_int_equal(fs_weights_add(w, "scalar", 0, NULL, &s, &m), FS_OK);
    assert_int_equal(fs_weights_add(w, "empty", 2, se, NULL, &m), FS_OK);
    assert_int_equal(fs_weights_set_meta(w, "arch", "test-net", &m), FS_OK);
    assert_int_equal(fs_weights_set_meta(w, "note", "quotes \" and \\ and ünïcode", &m), FS_OK);
}

static void assert_same_weights(const fs_weights *a, const fs_weights *b) {
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        const fs_weight *x = &a->items[i], *y = fs_weights_get(b, x->name);
        assert_non_null(y);
        assert_int_equal(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++) assert_int_equal(x->shape[d], y->shape[d]);
        assert_int_equal(x->count, y->count);
        if (x->count) assert_memory_equal(x->data, y->data, (size_t)x->count * sizeof(float));
    }
    assert_int_equal(a->meta_count, b->meta_count);
    for (size_t i = 0; i < a->meta_count; i++)
        assert_string_equal(fs_weights_meta(b, a->meta_keys[i]), a->meta_values[i]);
}

static void safetensors_roundtrip(void **state) {
    (void)state;
    fs_weights w = {0}, r;
    fs_msg m;
    fill_sample(&w);
    uint8_t *buf;
    size_t len;
    assert_int_equal(fs_weights_write_safetensors(&w, &buf, &len, &m), FS_OK);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | buf[i];
    assert_int_equal(h % 8, 0); /* header padded to 8 bytes */
    assert_int_equal(len, 8 + h + (24 + 3 + 1) * 4);
    assert_int_equal(buf[8], '{');
    assert_int_equal(buf[8 + h - 1] == ' ' || buf[8 + h - 1] == '}', 1);
    /* Names are sorted in the header and the data follows that order. */
    char *hdr = strndup((char *)buf + 8, (size_t)h);
    char *pa = strstr(hdr, "\"alpha.bias\""), *pe = strstr(hdr, "\"empty\""),
         *ps = strstr(hdr, "\"scalar\""), *pz = strstr(hdr, "\"zeta.weight\"");
    assert_true(pa && pe && ps && pz && pa < pe && pe < ps && ps < pz);
    assert_non_null(strstr(hdr, "\"__metadata__\""));
    free(hdr);
    float first;
    memcpy(&first, buf + 8 + h, 4);
    assert_true(first == -1.5f); /* alpha.bias[0] comes first */

    assert_int_equal(fs_weights_read_safetensors(buf, len, &r, &m), FS_OK);
    assert_same_weights(&w, &r);
    /* Writing what was read gives the same bytes. */
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(fs_weights_write_safetensors(&r, &buf2, &len2, &m), FS_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf2);
    fs_weights_free(&r);

    /* Through a file and fs_weights_load. */
    char path[128];
    snprintf(path, sizeof path, "%s/sample.safetensors", tmpdir);
    assert_int_equal(fs_weights_save_safetensors(&w, path, &m), FS_OK);
    assert_int_equal(fs_weights_load(path, NULL, &r, &m), FS_OK);
    assert_same_weights(&w, &r);
    fs_weights_free(&r);
    assert_int_equal(fs_weights_load(path, "meso4", &r, &m), FS_ERR_INVALID);
    assert_non_null(strstr(m.text, "test-net"));
    assert_int_equal(r.count, 0);
    free(buf);
    fs_weights_free(&w);

    /* An empty set is a valid file too. */
    fs_weights e = {0};
    assert_int_equal(fs_weights_write_safetensors(&e, &buf, &len, &m), FS_OK);
    assert_int_equal(len, 16);
    assert_int_equal(fs_weights_read_safetensors(buf, len, &r, &m), FS_OK);
    assert_int_equal(r.count, 0);
    fs_weights_free(&r);
    free(buf);
}

static void safetensors_hostile(void **state) {
    (void)state;
    fs_weights w = {0};
    fs_msg m;
    fill_sample(&w);
    uint8_t *good;
    size_t len;
    assert_int_equal(fs_weights_write_safetensors(&w, &good, &len, &m), FS_OK);
    fs_weights_free(&w);

    expect_format(good, 0, "shorter than the 8-byte");
    expect_format(good, 5, "shorter than the 8-byte");
    /* Truncated anywhere: in the header, or in the data. */
    expect_format(good, 20, "runs past the end");
    expect_format(good, len - 4, "outside the");
    uint8_t *big = malloc(len);
    memcpy(big, good, len);
    big[6] = 0x01; /* header length of 2^48 */
    expect_format(big, len, "runs past the end");
    big[6] = 0;
    /* Header length 8 bytes short: padding is under 8 bytes, so the JSON loses its end. */
    big[0] = (uint8_t)(big[0] - 8);
    expect_format(big, len, "not valid JSON");
    big[0] = (uint8_t)(big[0] + 7); /* a space short: the data area starts one byte early */
    expect_format(big, len, "trailing data bytes");
    free(big);
    free(good);

    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]", 4,
                         "not valid JSON");
    expect_header_format("[1, 2]", 0, "not a JSON object");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 8,
                         "outside the 8 data bytes");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 8,
                         "outside the");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                         12, "overlap");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                         " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]}}",
                         16, "belong to no tensor");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 12,
                         "trailing data bytes");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
                         "needs 12");
    expect_header_format("{\"a\": {\"dtype\": \"Q7\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
                         "unsupported dtype \"Q7\"");
    expect_header_format("{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "\"dtype\"");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8,
                         "non-negative");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,2], \"data_offsets\": [0, 8]}}",
                         8, "5 dimensions");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8,
                         "data_offsets");
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                         " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                         8, "not valid JSON"); /* duplicate key */
    expect_header_format("{\"__metadata__\": {\"arch\": 4}}", 0, "not a string");
    /* A product of dimensions that overflows is refused before any allocation. */
    expect_header_format("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], "
                         "\"data_offsets\": [0, 8]}}",
                         8, "tensor a");
}

static void safetensors_half_precision(void **state) {
    (void)state;
    /* F16: 1, -2, 0.5, 65504 (largest), 2^-24 (smallest subnormal), +inf, -0 */
    const uint8_t f16[] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b,
                           0x01, 0x00, 0x00, 0x7c, 0x00, 0x80};
    /* BF16: 1, -3.5 */
    const uint8_t bf16[] = {0x80, 0x3f, 0x60, 0xc0};
    uint8_t data[sizeof f16 + sizeof bf16];
    memcpy(data, f16, sizeof f16);
    memcpy(data + sizeof f16, bf16, sizeof bf16);
    size_t len;
    uint8_t *buf = make_st("{\"h\": {\"dtype\": \"F16\", \"shape\": [7], \"data_offsets\": [0, 14]},"
                           " \"b\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [14, 18]}}",
                           data, sizeof data, &len);
    fs_weights w;
    fs_msg m;
    assert_int_equal(fs_weights_read_safetensors(buf, len, &w, &m), FS_OK);
    const fs_weight *h = fs_weights_get(&w, "h"), *b = fs_weights_get(&w, "b");
    assert_non_null(h);
    assert_non_null(b);
    assert_true(h->data[0] == 1.0f);
    assert_true(h->data[1] == -2.0f);
    assert_true(h->data[2] == 0.5f);
    assert_true(h->data[3] == 65504.0f);
    assert_true(h->data[4] == ldexpf(1.0f, -24));
    assert_true(isinf(h->data[5]) && h->data[5] > 0);
    assert_true(h->data[6] == 0.0f && signbit(h->data[6]));
    assert_true(b->data[0] == 1.0f);
    assert_true(b->data[1] == -3.5f);
    fs_weights_free(&w);
    free(buf);
}

static void load_by_extension(void **state) {
    (void)state;
    fs_weights w;
    fs_msg m;
    assert_int_equal(fs_weights_load("x.bin", NULL, &w, &m), FS_ERR_UNSUPPORTED);
    assert_int_equal(fs_weights_load("x.h5", NULL, &w, &m), FS_ERR_INVALID);
    assert_non_null(strstr(m.text, "architecture"));
    assert_int_equal(fs_weights_load("/nonexistent/x.safetensors", NULL, &w, &m), FS_ERR_NOTFOUND);
    /* A file claiming meso4 whose tensors do not match is refused. */
    fs_weights bad = {0};
    float z[4] = {0};
    int64_t s[1] = {4};
    assert_int_equal(fs_weights_add(&bad, "conv1.bias", 1, s, z, &m), FS_OK);
    assert_int_equal(fs_weights_set_meta(&bad, "arch", "meso4", &m), FS_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    assert_int_equal(fs_weights_save_safetensors(&bad, path, &m), FS_OK);
    fs_weights_free(&bad);
    assert_int_equal(fs_weights_load(path, NULL, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "conv1.weight"));
    assert_int_equal(w.count, 0);
}

static void arch_specs(void **state) {
    (void)state;
    fs_weight_spec s[FS_WEIGHTS_MAX_ARCH_TENSORS];
    assert_int_equal(fs_weights_arch_specs("meso4", s, FS_WEIGHTS_MAX_ARCH_TENSORS),
                     FS_MESO4_TENSORS);
    assert_int_equal(fs_weights_arch_specs("mesoinception4", s, FS_WEIGHTS_MAX_ARCH_TENSORS),
                     FS_MESOINCEPTION4_TENSORS);
    assert_int_equal(fs_weights_arch_specs("resnet", s, FS_WEIGHTS_MAX_ARCH_TENSORS), 0);
    assert_int_equal(fs_weights_arch_specs("meso4", s, 10), 0);
    int64_t params = 0;
    fs_weights_arch_specs("meso4", s, FS_WEIGHTS_MAX_ARCH_TENSORS);
    for (int i = 0; i < FS_MESO4_TENSORS; i++) {
        int64_t n = 1;
        for (int d = 0; d < s[i].ndim; d++) n *= s[i].shape[d];
        if (!strstr(s[i].name, "running_")) params += n;
    }
    assert_int_equal(params, 27977); /* Meso4's trainable parameter count in the paper */
}

/* ---- Keras import ---------------------------------------------------------------------- */

/* One dataset of a tree dump: path, Keras shape and statistics. */
typedef struct tree_ds {
    char layer[64], role[32];
    int ndim;
    int64_t shape[4];
    double min, max, mean, first[4];
    int nfirst;
} tree_ds;

static int parse_tree(const char *path, tree_ds *out, int cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "DATASET /");
        if (!p || strstr(line, "SUMMARY")) continue;
        assert_true(n < cap);
        tree_ds *d = &out[n];
        memset(d, 0, sizeof *d);
        char full[256];
        assert_int_equal(sscanf(p, "DATASET %255s", full), 1);
        /* /layer/layer/role:0 */
        char *last = strrchr(full, '/');
        snprintf(d->role, sizeof d->role, "%.*s", (int)strcspn(last + 1, ":"), last + 1);
        snprintf(d->layer, sizeof d->layer, "%.*s", (int)strcspn(full + 1, "/"), full + 1);
        assert_non_null(fgets(line, sizeof line, f));
        char *s = strstr(line, "shape=(");
        assert_non_null(s);
        s += 7;
        while (*s != ')') {
            d->shape[d->ndim++] = strtoll(s, &s, 10);
            while (*s == ',' || *s == ' ') s++;
        }
        assert_non_null(fgets(line, sizeof line, f));
        s = strstr(line, "stats:");
        assert_non_null(s);
        assert_int_equal(sscanf(s, "stats: min=%lf max=%lf mean=%lf", &d->min, &d->max, &d->mean),
                         3);
        s = strstr(line, "first=[") + 7;
        while (*s != ']' && d->nfirst < 4) {
            d->first[d->nfirst++] = strtod(s, &s);
            while (*s == ',' || *s == ' ') s++;
        }
        n++;
    }
    fclose(f);
    return n;
}

static long suffix_of(const char *layer) { return strtol(strrchr(layer, '_') + 1, NULL, 10); }

/* Our name for a Keras layer: rank among same-kind layers by numeric suffix. */
static void our_layer(const tree_ds *ds, int n, const tree_ds *d, int inception, char *buf,
                      size_t cap) {
    const char *prefix = strncmp(d->layer, "conv2d_", 7) == 0      ? "conv2d_"
                         : strncmp(d->layer, "dense_", 6) == 0     ? "dense_"
                                                                   : "batch_normalization_";
    long mine = suffix_of(d->layer);
    /* rank = number of distinct same-kind suffixes below ours */
    long seen[64];
    int nseen = 0, rank = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(ds[i].layer, prefix, strlen(prefix))) continue;
        long v = suffix_of(ds[i].layer);
        int dup = 0;
        for (int j = 0; j < nseen; j++) dup |= seen[j] == v;
        if (dup) continue;
        assert_true(nseen < 64);
        seen[nseen++] = v;
        if (v < mine) rank++;
    }
    static const char *const inc[] = {"inc1.b1", "inc1.b2a", "inc1.b2b", "inc1.b3a", "inc1.b3b",
                                      "inc1.b4a", "inc1.b4b", "inc2.b1", "inc2.b2a", "inc2.b2b",
                                      "inc2.b3a", "inc2.b3b", "inc2.b4a", "inc2.b4b", "conv3",
                                      "conv4"};
    if (!strcmp(prefix, "conv2d_"))
        snprintf(buf, cap, "%s", inception ? inc[rank] : (const char *[]){"conv1", "conv2", "conv3", "conv4"}[rank]);
    else if (!strcmp(prefix, "dense_"))
        snprintf(buf, cap, "dense%d", rank + 1);
    else
        snprintf(buf, cap, "bn%d", rank + 1);
}

static void check_import(const char *file, const char *arch, int ntensors, const char *leaky) {
    char rel[128], buf[512], tree[512];
    snprintf(rel, sizeof rel, "mesonet/weights/%s", file);
    const char *path = fs_test_shared(rel, buf, sizeof buf);
    if (!path) skip();
    snprintf(rel, sizeof rel, "mesonet/trees/%s.tree.txt", file);
    assert_non_null(fs_test_shared(rel, tree, sizeof tree));

    fs_weights w;
    fs_msg m = {""};
    fs_err err = fs_weights_import_keras(path, arch, &w, &m);
    if (err) fail_msg("%s: %s", file, m.text);
    assert_int_equal(w.count, ntensors);
    assert_string_equal(fs_weights_meta(&w, "arch"), arch);
    assert_string_equal(fs_weights_meta(&w, "source"), file);
    assert_string_equal(fs_weights_meta(&w, "dense_leaky"), leaky);
    assert_string_equal(fs_weights_meta(&w, "keras_version"), "2.1.5");
    assert_string_equal(fs_weights_meta(&w, "bn_eps"), "0.001");
    assert_int_equal(fs_weights_check_arch(&w, arch, &m), FS_OK);

    /* Every dataset of the dump: transposed shape, first values, min/max/mean. */
    static tree_ds ds[128];
    int n = parse_tree(tree, ds, 128);
    assert_int_equal(n, ntensors);
    int inception = !strcmp(arch, "mesoinception4");
    for (int i = 0; i < n; i++) {
        const tree_ds *d = &ds[i];
        char layer[64], name[96];
        our_layer(ds, n, d, inception, layer, sizeof layer);
        const char *suffix = !strcmp(d->role, "kernel") || !strcmp(d->role, "gamma") ? "weight"
                             : !strcmp(d->role, "bias") || !strcmp(d->role, "beta")  ? "bias"
                             : !strcmp(d->role, "moving_mean")                      ? "running_mean"
                                                                                     : "running_var";
        snprintf(name, sizeof name, "%s.%s", layer, suffix);
        const fs_weight *t = fs_weights_get(&w, name);
        if (!t) fail_msg("%s: %s/%s should be %s", file, d->layer, d->role, name);
        assert_int_equal(t->ndim, d->ndim);
        assert_int_equal(t->count, (d->ndim == 4 ? d->shape[0] * d->shape[1] * d->shape[2] * d->shape[3]
                                    : d->ndim == 2 ? d->shape[0] * d->shape[1]
                                                   : d->shape[0]));
        for (int j = 0; j < d->nfirst; j++) {
            /* Keras row-major flat index j -> our index. */
            int64_t o;
            if (d->ndim == 4) { /* [kh,kw,in,out] -> [out,in,kh,kw] */
                int64_t KH = d->shape[0], KW = d->shape[1], I = d->shape[2], O = d->shape[3];
                int64_t oc = j % O, ic = (j / O) % I, x = (j / (O * I)) % KW, y = j / (O * I * KW);
                assert_int_equal(t->shape[0], O);
                assert_int_equal(t->shape[1], I);
                assert_int_equal(t->shape[2], KH);
                assert_int_equal(t->shape[3], KW);
                o = ((oc * I + ic) * KH + y) * KW + x;
            } else if (d->ndim == 2) { /* [in,out] -> [out,in] */
                int64_t I = d->shape[0], O = d->shape[1];
                assert_int_equal(t->shape[0], O);
                assert_int_equal(t->shape[1], I);
                o = (j % O) * I + j / O;
            } else {
                o = j;
            }
            if (fabs(t->data[o] - d->first[j]) > 1e-7 * fmax(1.0, fabs(d->first[j])))
                fail_msg("%s %s[%lld] = %.9g, dump says %.9g", file, name, (long long)o,
                         t->data[o], d->first[j]);
        }
        double mn = INFINITY, mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < t->count; j++) {
            mn = fmin(mn, t->data[j]);
            mx = fmax(mx, t->data[j]);
            sum += t->data[j];
        }
        assert_true(fabs(mn - d->min) <= 1e-5 * fmax(1e-3, fabs(d->min)) + 1e-12);
        assert_true(fabs(mx - d->max) <= 1e-5 * fmax(1e-3, fabs(d->max)) + 1e-12);
        assert_true(fabs(sum / (double)t->count - d->mean) <= 1e-5 + 1e-5 * fabs(d->mean));
    }

    /* Saved as safetensors and loaded back by extension, the set is unchanged. */
    char out[128];
    snprintf(out, sizeof out, "%s/%s.safetensors", tmpdir, arch);
    assert_int_equal(fs_weights_save_safetensors(&w, out, &m), FS_OK);
    fs_weights r;
    assert_int_equal(fs_weights_load(out, arch, &r, &m), FS_OK);
    assert_same_weights(&w, &r);
    fs_weights_free(&r);
    /* And fs_weights_load imports .h5 directly. */
    assert_int_equal(fs_weights_load(path, arch, &r, &m), FS_OK);
    assert_same_weights(&w, &r);
    fs_weights_free(&r);
    fs_weights_free(&w);
}

static void import_meso4_df(void **s) { (void)s, check_import("Meso4_DF.h5", "meso4", 28, "false"); }
static void import_meso4_f2f(void **s) { (void)s, check_import("Meso4_F2F.h5", "meso4", 28, "false"); }
static void import_inception_df(void **s) {
    (void)s, check_import("MesoInception_DF.h5", "mesoinception4", 52, "true");
}
static void import_inception_f2f(void **s) {
    (void)s, check_import("MesoInception_F2F.h5", "mesoinception4", 52, "true");
}

static void import_spot_values(void **state) {
    (void)state;
    char buf[512];
    const char *path = fs_test_shared("mesonet/weights/Meso4_DF.h5", buf, sizeof buf);
    if (!path) skip();
    fs_weights w;
    fs_msg m;
    assert_int_equal(fs_weights_import_keras(path, "meso4", &w, &m), FS_OK);
    /* batch_normalization_5/beta:0 first = [0.10614664852619171, -0.0871933251619339, ...] */
    const fs_weight *b = fs_weights_get(&w, "bn1.bias");
    assert_true(b->data[0] == 0.10614664852619171f && b->data[1] == -0.0871933251619339f);
    /* conv2d_5/kernel:0 [3,3,3,8] first = [0.15786..., -0.06290..., ...]: element (0,0,0,o) */
    const fs_weight *c = fs_weights_get(&w, "conv1.weight");
    assert_true(c->data[0] == 0.15786275267601013f);
    assert_true(c->data[27] == -0.0629085972905159f);
    /* dense_4/bias:0 */
    assert_true(fs_weights_get(&w, "dense2.bias")->data[0] == -0.04849885404109955f);
    fs_weights_free(&w);

    path = fs_test_shared("mesonet/weights/MesoInception_DF.h5", buf, sizeof buf);
    assert_int_equal(fs_weights_import_keras(path, "mesoinception4", &w, &m), FS_OK);
    /* conv2d_1 (inc1.b1): kernel (1,1,3,1) = [0.0597, -0.9567, -0.6040], bias -0.0533814 */
    const fs_weight *k = fs_weights_get(&w, "inc1.b1.weight");
    assert_int_equal(k->shape[0], 1);
    assert_int_equal(k->shape[1], 3);
    assert_true(k->data[1] == -0.9567142724990845f);
    assert_true(fs_weights_get(&w, "inc1.b1.bias")->data[0] == -0.05338136479258537f);
    /* conv2d_8 is inc2.b1: two filters over 11 channels */
    const fs_weight *k8 = fs_weights_get(&w, "inc2.b1.bias");
    assert_true(k8->data[0] == 0.14941534399986267f && k8->data[1] == 0.03723212704062462f);
    fs_weights_free(&w);
}

static void import_wrong_arch(void **state) {
    (void)state;
    char buf[512];
    const char *path = fs_test_shared("mesonet/weights/Meso4_DF.h5", buf, sizeof buf);
    if (!path) skip();
    fs_weights w;
    fs_msg m;
    assert_int_equal(fs_weights_import_keras(path, "mesoinception4", &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "Meso4_DF.h5"));
    assert_non_null(strstr(m.text, "inc1.b1.weight"));
    assert_non_null(strstr(m.text, "[1, 3, 1, 1]"));
    assert_non_null(strstr(m.text, "[8, 3, 3, 3]"));
    assert_int_equal(w.count, 0);

    path = fs_test_shared("mesonet/weights/MesoInception_F2F.h5", buf, sizeof buf);
    assert_int_equal(fs_weights_import_keras(path, "meso4", &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "conv1.weight"));
    assert_non_null(strstr(m.text, "[8, 3, 3, 3]"));
    assert_int_equal(fs_weights_import_keras(path, "vgg16", &w, &m), FS_ERR_INVALID);
}

static void import_not_hdf5(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/fake.h5", tmpdir);
    fs_msg m;
    assert_int_equal(fs_write_file(path, "this is not HDF5 at all\n", 24, &m), FS_OK);
    fs_weights w;
    assert_int_equal(fs_weights_import_keras(path, "meso4", &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "not an HDF5 file"));
    assert_non_null(strstr(m.text, "fake.h5"));
    assert_int_equal(fs_write_file(path, "", 0, &m), FS_OK);
    assert_int_equal(fs_weights_import_keras(path, "meso4", &w, &m), FS_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/absent.h5", tmpdir);
    assert_int_equal(fs_weights_import_keras(path, "meso4", &w, &m), FS_ERR_NOTFOUND);
    /* A safetensors file is not HDF5 either. */
    fs_weights e = {0};
    snprintf(path, sizeof path, "%s/st.h5", tmpdir);
    assert_int_equal(fs_weights_save_safetensors(&e, path, &m), FS_OK);
    assert_int_equal(fs_weights_import_keras(path, "meso4", &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "not an HDF5 file"));
}

#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
/* An HDF5 file that is not a Keras weight file, made with libhdf5 itself. */
static void import_hdf5_not_keras(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/plain.h5", tmpdir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t g = H5Gcreate2(f, "stuff", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
    fs_weights w;
    fs_msg m;
    assert_int_equal(fs_weights_import_keras(path, "meso4", &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "not Keras weights"));
}
#else
static void import_hdf5_not_keras(void **state) {
    (void)state;
    skip();
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(container_add_get_meta),
        cmocka_unit_test(safetensors_roundtrip),
        cmocka_unit_test(safetensors_hostile),
        cmocka_unit_test(safetensors_half_precision),
        cmocka_unit_test(load_by_extension),
        cmocka_unit_test(arch_specs),
        cmocka_unit_test(import_meso4_df),
        cmocka_unit_test(import_meso4_f2f),
        cmocka_unit_test(import_inception_df),
        cmocka_unit_test(import_inception_f2f),
        cmocka_unit_test(import_spot_values),
        cmocka_unit_test(import_wrong_arch),
        cmocka_unit_test(import_not_hdf5),
        cmocka_unit_test(import_hdf5_not_keras),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
