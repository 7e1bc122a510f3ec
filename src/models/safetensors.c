/* safetensors.c: reads and writes the safetensors weight format, the exchange format between
 * fakescope and PyTorch users.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte after the
 * header) plus an optional "__metadata__" object of strings, then the tensor bytes. Files come
 * from strangers, so the reader trusts nothing: every length, offset and shape is checked
 * before a byte of tensor data is touched, and the tensors must tile the data area exactly
 * (no gap, no overlap, no trailing bytes), as the format requires. */
#include "fakescope/weights.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_LEN_BYTES 8
#define ST_MAX_HEADER ((size_t)100 << 20) /* the format's own cap on the JSON header */
#define ST_ALIGN 8                          /* the writer pads the header to this */
#define ST_METADATA_KEY "__metadata__"

typedef enum { DT_F32, DT_F16, DT_BF16, DT_F64 } st_dtype;

static const struct {
    const char *name;
    st_dtype dtype;
    int size;
} dtypes[] = {{"F32", DT_F32, 4}, {"F16", DT_F16, 2}, {"BF16", DT_BF16, 2}, {"F64", DT_F64, 8}};

/* One tensor entry of the header, checked but not yet converted. */
typedef struct st_entry {
    const char *name; /* borrowed from the JSON document */
    st_dtype dtype;
    int dsize;
    int ndim;
    int64_t shape[FS_WEIGHT_MAX_DIMS];
    int64_t count;
    uint64_t begin, end;
} st_entry;

static uint64_t get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static float f32_from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half to float, exact for every half value (subnormals, infinities and NaN included). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        float v = ldexpf((float)mant, -24); /* subnormal or zero: mant * 2^-24 */
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* Converts count elements of dtype from little-endian bytes into floats. */
static void convert(const uint8_t *src, st_dtype dtype, int64_t count, float *dst) {
    for (int64_t i = 0; i < count; i++) {
        switch (dtype) {
        case DT_F32: {
            const uint8_t *p = src + 4 * i;
            dst[i] = f32_from_bits((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                   (uint32_t)p[3] << 24);
            break;
        }
        case DT_F16: dst[i] = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8)); break;
        case DT_BF16:
            dst[i] = f32_from_bits((uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16);
            break;
        case DT_F64: {
            uint64_t bits = get_le64(src + 8 * i);
            double d;
            memcpy(&d, &bits, sizeof d);
            dst[i] = (float)d;
            break;
        }
        }
    }
}

/* Checks one tensor entry of the header. Offsets are checked against data_len here; tiling is
 * checked once all entries are known. */
static fs_err parse_entry(const char *name, json_t *obj, uint64_t data_len, st_entry *e,
                          fs_msg *msg) {
    memset(e, 0, sizeof *e);
    e->name = name;
    if (!json_is_object(obj)) return fs_fail(msg, FS_ERR_FORMAT, "entry is not an object");
    json_t *dt = json_object_get(obj, "dtype"), *shape = json_object_get(obj, "shape"),
           *offs = json_object_get(obj, "data_offsets");
    if (!json_is_string(dt)) return fs_fail(msg, FS_ERR_FORMAT, "\"dtype\" is missing or not a string");
    size_t i;
    for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(json_string_value(dt), dtypes[i].name)) break;
    if (i == sizeof dtypes / sizeof dtypes[0])
        return fs_fail(msg, FS_ERR_FORMAT, "unsupported dtype \"%.32s\" (F32, F16, BF16, F64 are read)",
                       json_string_value(dt));
    e->dtype = dtypes[i].dtype;
    e->dsize = dtypes[i].size;

    if (!json_is_array(shape)) return fs_fail(msg, FS_ERR_FORMAT, "\"shape\" is missing or not an array");
    if (json_array_size(shape) > FS_WEIGHT_MAX_DIMS)
        return fs_fail(msg, FS_ERR_FORMAT, "%zu dimensions (at most %d are supported)",
                       json_array_size(shape), FS_WEIGHT_MAX_DIMS);
    e->ndim = (int)json_array_size(shape);
    for (int d = 0; d < e->ndim; d++) {
        json_t *v = json_array_get(shape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return fs_fail(msg, FS_ERR_FORMAT, "dimension %d is not a non-negative integer", d);
        e->shape[d] = json_integer_value(v);
    }
    /* A shape too large for any file we accept cannot match the data: a format error. */
    if (fs_weights_count_elements(e->ndim, e->shape, &e->count, msg))
        return fs_fail(msg, FS_ERR_FORMAT, "shape has more elements than a %zu-byte file holds",
                       FS_WEIGHTS_MAX_FILE);

    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
        return fs_fail(msg, FS_ERR_FORMAT, "\"data_offsets\" is not a pair of integers");
    json_int_t b = json_integer_value(json_array_get(offs, 0));
    json_int_t en = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || en < b || (uint64_t)en > data_len)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "data_offsets [%lld, %lld] lie outside the %llu data bytes", (long long)b,
                       (long long)en, (unsigned long long)data_len);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    /* count is bounded by fs_weights_count_elements, so this product cannot overflow. */
    uint64_t want = (uint64_t)e->count * (uint64_t)e->dsize;
    if (e->end - e->begin != want) {
        char shp[96];
        fs_weights_format_shape(e->ndim, e->shape, shp, sizeof shp);
        return fs_fail(msg, FS_ERR_FORMAT,
                       "%llu data bytes, but shape %s of %s needs %llu",
                       (unsigned long long)(e->end - e->begin), shp, dtypes[i].name,
                       (unsigned long long)want);
    }
    return FS_OK;
}

static int by_begin(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static fs_err parse_metadata(json_t *meta, fs_weights *out, fs_msg *msg) {
    if (!json_is_object(meta)) return fs_fail(msg, FS_ERR_FORMAT, "__metadata__ is not an object");
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return fs_fail(msg, FS_ERR_FORMAT, "__metadata__ value of \"%.64s\" is not a string",
                           key);
        fs_err err = fs_weights_set_meta(out, key, json_string_value(v), msg);
        if (err) return err;
    }
    return FS_OK;
}

/* Parses and checks the header, then converts every tensor. Caller owns root and out. */
static fs_err read_checked(json_t *root, const uint8_t *base, uint64_t data_len, fs_weights *out,
                           fs_msg *msg) {
    if (!json_is_object(root)) return fs_fail(msg, FS_ERR_FORMAT, "header is not a JSON object");
    size_t n = json_object_size(root);
    json_t *meta = json_object_get(root, ST_METADATA_KEY);
    if (meta) n--;
    if (n > FS_WEIGHTS_MAX_TENSORS)
        return fs_fail(msg, FS_ERR_LIMIT, "%zu tensors (at most %d)", n, FS_WEIGHTS_MAX_TENSORS);
    if (meta) {
        fs_err err = parse_metadata(meta, out, msg);
        if (err) return err;
    }
    st_entry *es = calloc(n ? n : 1, sizeof *es);
    if (!es) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for %zu tensor entries", n);
    size_t k = 0;
    const char *key;
    json_t *v;
    fs_err err = FS_OK;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, ST_METADATA_KEY)) continue;
        assert(k < n);
        if (!key[0]) {
            err = fs_fail(msg, FS_ERR_FORMAT, "a tensor has an empty name");
            goto done;
        }
        err = parse_entry(key, v, data_len, &es[k], msg);
        if (err) {
            fs_msg_prefix(msg, "tensor %.128s: ", key);
            goto done;
        }
        k++;
    }
    assert(k == n);
    /* The tensors must tile [0, data_len) exactly. */
    qsort(es, n, sizeof *es, by_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (es[i].begin < at) {
            err = fs_fail(msg, FS_ERR_FORMAT, "tensors %.128s and %.128s overlap (bytes %llu-%llu)",
                          es[i - 1].name, es[i].name, (unsigned long long)es[i].begin,
                          (unsigned long long)at);
            goto done;
        }
        if (es[i].begin > at) {
            err = fs_fail(msg, FS_ERR_FORMAT, "data bytes %llu-%llu belong to no tensor (before %.128s)",
                          (unsigned long long)at, (unsigned long long)es[i].begin, es[i].name);
            goto done;
        }
        at = es[i].end;
    }
    if (at != data_len) {
        err = fs_fail(msg, FS_ERR_FORMAT, "%llu trailing data bytes belong to no tensor",
                      (unsigned long long)(data_len - at));
        goto done;
    }
    for (size_t i = 0; i < n && !err; i++) {
        size_t bytes = (size_t)es[i].count * sizeof(float);
        float *data = malloc(bytes ? bytes : 1);
        if (!data) {
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for tensor %.128s", es[i].name);
            break;
        }
        convert(base + es[i].begin, es[i].dtype, es[i].count, data);
        err = fs_weights_add_owned(out, es[i].name, es[i].ndim, es[i].shape, data, msg);
    }
done:
    free(es);
    return err;
}

fs_err fs_weights_read_safetensors(const uint8_t *data, size_t len, fs_weights *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (len < ST_LEN_BYTES)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "not safetensors: %zu bytes is shorter than the 8-byte header length", len);
    uint64_t hlen = get_le64(data);
    if (hlen > len - ST_LEN_BYTES)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "header length %llu runs past the end of the %zu-byte file",
                       (unsigned long long)hlen, len);
    if (hlen > ST_MAX_HEADER)
        return fs_fail(msg, FS_ERR_LIMIT, "header of %llu bytes is over the %zu-byte limit",
                       (unsigned long long)hlen, ST_MAX_HEADER);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data + ST_LEN_BYTES, (size_t)hlen,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fs_fail(msg, FS_ERR_FORMAT, "header is not valid JSON: %s (line %d, column %d)",
                       jerr.text, jerr.line, jerr.column);
    const uint8_t *base = data + ST_LEN_BYTES + hlen;
    fs_err err = read_checked(root, base, len - ST_LEN_BYTES - hlen, out, msg);
    json_decref(root);
    if (err) fs_weights_free(out);
    return err;
}

fs_err fs_weights_load_safetensors(const char *path, fs_weights *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t len;
    fs_err err = fs_read_file(path, FS_WEIGHTS_MAX_FILE, &data, &len, msg);
    if (err) return err;
    err = fs_weights_read_safetensors(data, len, out, msg);
    free(data);
    if (err) fs_msg_prefix(msg, "%s: ", path);
    return err;
}

static int by_name(const void *a, const void *b) {
    const fs_weight *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

fs_err fs_weights_write_safetensors(const fs_weights *w, uint8_t **out, size_t *len, fs_msg *msg) {
    *out = NULL;
    *len = 0;
    const fs_weight **order = malloc((w->count ? w->count : 1) * sizeof *order);
    json_t *root = json_object();
    char *header = NULL;
    fs_err err = FS_OK;
    if (!order || !root) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory writing safetensors");
        goto done;
    }
    /* Sorted names make the file independent of insertion order, so equal sets hash equal. */
    for (size_t i = 0; i < w->count; i++) order[i] = &w->items[i];
    qsort(order, w->count, sizeof *order, by_name);
    if (w->meta_count) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, ST_METADATA_KEY, meta)) {
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory writing safetensors");
            goto done;
        }
        for (size_t i = 0; i < w->meta_count; i++)
            if (json_object_set_new(meta, w->meta_keys[i], json_string(w->meta_values[i]))) {
                err = fs_fail(msg, FS_ERR_FORMAT, "metadata %s is not valid UTF-8", w->meta_keys[i]);
                goto done;
            }
    }
    uint64_t at = 0;
    for (size_t i = 0; i < w->count; i++) {
        const fs_weight *t = order[i];
        if (!strcmp(t->name, ST_METADATA_KEY)) {
            err = fs_fail(msg, FS_ERR_INVALID, "a tensor cannot be named %s", ST_METADATA_KEY);
            goto done;
        }
        json_t *shape = json_array();
        for (int d = 0; shape && d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        uint64_t end = at + (uint64_t)t->count * 4;
        json_t *entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
                                  "data_offsets", (json_int_t)at, (json_int_t)end);
        if (!entry || json_object_set_new(root, t->name, entry)) {
            err = fs_fail(msg, FS_ERR_FORMAT, "tensor name %s is not valid UTF-8", t->name);
            goto done;
        }
        at = end;
    }
    header = json_dumps(root, JSON_COMPACT);
    if (!header) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory writing safetensors");
        goto done;
    }
    size_t hlen = strlen(header);
    size_t padded = (hlen + ST_ALIGN - 1) / ST_ALIGN * ST_ALIGN;
    size_t total = ST_LEN_BYTES + padded + (size_t)at;
    if (total > FS_WEIGHTS_MAX_FILE) {
        err = fs_fail(msg, FS_ERR_LIMIT, "weights of %zu bytes exceed the %zu-byte limit", total,
                      FS_WEIGHTS_MAX_FILE);
        goto done;
    }
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory writing %zu bytes of safetensors", total);
        goto done;
    }
    put_le64(buf, padded);
    memcpy(buf + ST_LEN_BYTES, header, hlen);
    memset(buf + ST_LEN_BYTES + hlen, ' ', padded - hlen); /* JSON whitespace, as allowed */
    uint8_t *p = buf + ST_LEN_BYTES + padded;
    for (size_t i = 0; i < w->count; i++) {
        const fs_weight *t = order[i];
        for (int64_t j = 0; j < t->count; j++, p += 4) {
            uint32_t bits;
            memcpy(&bits, &t->data[j], 4);
            for (int b = 0; b < 4; b++) p[b] = (uint8_t)(bits >> (8 * b));
        }
    }
    assert(p == buf + total);
    *out = buf;
    *len = total;
done:
    free(header);
    json_decref(root);
    free(order);
    return err;
}

fs_err fs_weights_save_safetensors(const fs_weights *w, const char *path, fs_msg *msg) {
    uint8_t *buf;
    size_t len;
    fs_err err = fs_weights_write_safetensors(w, &buf, &len, msg);
    if (err) return err;
    err = fs_write_file(path, buf, len, msg);
    free(buf);
    return err;
}
