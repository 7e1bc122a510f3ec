/* tfjs.c: the TensorFlow.js weights reader (include/fakescope/tfjs.h). A manifest is parsed with
 * jansson in two passes: the first checks every entry and adds up the bytes it needs, so a shard
 * of the wrong size is refused before any tensor is decoded; the second decodes. The manifest
 * is untrusted input (it comes with a downloaded package): fuzz_tfjs feeds it random bytes. */
#include "fakescope/tfjs.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE FS_WEIGHTS_MAX_FILE

typedef enum { DT_F32, DT_I32, DT_U8, DT_U16 } stored_type;

typedef struct entry {
    const char *name;
    int ndim;
    int64_t shape[FS_WEIGHT_MAX_DIMS];
    int64_t count;
    stored_type stored;
    double scale, min; /* quantized only */
    size_t bytes;
} entry;

static size_t stored_size(stored_type t) {
    return t == DT_U8 ? 1 : t == DT_U16 ? 2 : 4;
}

static fs_err parse_root(const char *json, size_t len, json_t **root, fs_msg *msg) {
    if (len > FS_TFJS_MAX_MANIFEST)
        return fs_fail(msg, FS_ERR_LIMIT, "manifest of %zu bytes (at most %zu)", len,
                       FS_TFJS_MAX_MANIFEST);
    json_error_t jerr;
    *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root)
        return fs_fail(msg, FS_ERR_FORMAT, "manifest is not JSON (line %d: %s)", jerr.line,
                       jerr.text);
    if (!json_is_array(*root) || json_array_size(*root) == 0) {
        json_decref(*root);
        *root = NULL;
        return fs_fail(msg, FS_ERR_FORMAT, "manifest must be a non-empty array of groups");
    }
    return FS_OK;
}

static int plain_name(const char *s) {
    return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") &&
           strlen(s) <= FS_TFJS_NAME_MAX;
}

/* Checks one weights entry (group g, index i) and fills e; name borrowed from the JSON. */
static fs_err check_entry(const json_t *w, size_t g, size_t i, entry *e, fs_msg *msg) {
    memset(e, 0, sizeof *e);
    if (!json_is_object(w))
        return fs_fail(msg, FS_ERR_FORMAT, "group %zu weight %zu is not an object", g, i);
    const json_t *name = json_object_get(w, "name"), *shape = json_object_get(w, "shape");
    const json_t *dtype = json_object_get(w, "dtype"), *q = json_object_get(w, "quantization");
    if (!json_is_string(name) || !json_string_length(name) ||
        json_string_length(name) > FS_TFJS_NAME_MAX ||
        strlen(json_string_value(name)) != json_string_length(name))
        return fs_fail(msg, FS_ERR_FORMAT,
                       "group %zu weight %zu: \"name\" must be a string of 1-%d bytes", g, i,
                       FS_TFJS_NAME_MAX);
    e->name = json_string_value(name);
    if (!json_is_array(shape) || json_array_size(shape) > FS_WEIGHT_MAX_DIMS)
        return fs_fail(msg, FS_ERR_FORMAT, "%s: \"shape\" must be an array of at most %d sizes",
                       e->name, FS_WEIGHT_MAX_DIMS);
    e->ndim = (int)json_array_size(shape);
    for (int d = 0; d < e->ndim; d++) {
        const json_t *v = json_array_get(shape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return fs_fail(msg, FS_ERR_FORMAT, "%s: shape[%d] is not a size", e->name, d);
        e->shape[d] = json_integer_value(v);
    }
    fs_err err = fs_weights_count_elements(e->ndim, e->shape, &e->count, msg);
    if (err) {
        fs_msg_prefix(msg, "%s: ", e->name);
        return err;
    }
    if (!json_is_string(dtype) || (strcmp(json_string_value(dtype), "float32") &&
                                   strcmp(json_string_value(dtype), "int32")))
        return fs_fail(msg, FS_ERR_FORMAT, "%s: \"dtype\" must be \"float32\" or \"int32\"",
                       e->name);
    e->stored = strcmp(json_string_value(dtype), "float32") ? DT_I32 : DT_F32;
    if (q) {
        const json_t *qd = json_object_get(q, "dtype"), *sc = json_object_get(q, "scale");
        const json_t *mn = json_object_get(q, "min");
        if (!json_is_object(q) || !json_is_string(qd))
            return fs_fail(msg, FS_ERR_FORMAT, "%s: \"quantization\" needs a \"dtype\"", e->name);
        if (!strcmp(json_string_value(qd), "uint8")) e->stored = DT_U8;
        else if (!strcmp(json_string_value(qd), "uint16")) e->stored = DT_U16;
        else
            return fs_fail(msg, FS_ERR_FORMAT,
                           "%s: quantization dtype \"%s\" is not supported (uint8, uint16)",
                           e->name, json_string_value(qd));
        if (!json_is_number(sc) || !json_is_number(mn) || !isfinite(json_number_value(sc)) ||
            !isfinite(json_number_value(mn)))
            return fs_fail(msg, FS_ERR_FORMAT,
                           "%s: quantization needs finite numbers \"scale\" and \"min\"", e->name);
        e->scale = json_number_value(sc);
        e->min = json_number_value(mn);
    }
    e->bytes = (size_t)e->count * stored_size(e->stored);
    return FS_OK;
}

/* Walks every entry: checks it and adds its bytes to *total (bounded by MAX_FILE). With out
 * non-NULL, also decodes it from data (whose size the caller checked against *total). */
static fs_err walk(const json_t *root, const uint8_t *data, size_t *total, size_t *entries,
                   fs_weights *out, fs_msg *msg) {
    size_t off = 0, g, i, count = 0;
    const json_t *group;
    json_array_foreach(root, g, group) {
        const json_t *ws = json_is_object(group) ? json_object_get(group, "weights") : NULL;
        if (!json_is_array(ws))
            return fs_fail(msg, FS_ERR_FORMAT, "group %zu has no \"weights\" array", g);
        const json_t *w;
        json_array_foreach(ws, i, w) {
            entry e;
            fs_err err = check_entry(w, g, i, &e, msg);
            if (err) return err;
            if (e.bytes > MAX_FILE - off)
                return fs_fail(msg, FS_ERR_LIMIT, "the tensors need more than %zu bytes",
                               (size_t)MAX_FILE);
            if (out) {
                if (fs_weights_get(out, e.name))
                    return fs_fail(msg, FS_ERR_FORMAT, "tensor \"%s\" appears twice", e.name);
                float *v = malloc(sizeof(float) * (size_t)(e.count ? e.count : 1));
                if (!v) return fs_fail(msg, FS_ERR_NOMEM, "no memory for %s", e.name);
                const uint8_t *p = data + off;
                for (int64_t k = 0; k < e.count; k++) {
                    switch (e.stored) {
                    case DT_U8: v[k] = (float)(p[k] * e.scale + e.min); break;
                    case DT_U16: {
                        unsigned q = p[2 * k] | (unsigned)p[2 * k + 1] << 8;
                        v[k] = (float)(q * e.scale + e.min);
                        break;
                    }
                    case DT_F32: {
                        uint32_t u = p[4 * k] | (uint32_t)p[4 * k + 1] << 8 |
                                     (uint32_t)p[4 * k + 2] << 16 | (uint32_t)p[4 * k + 3] << 24;
                        memcpy(&v[k], &u, sizeof u);
                        break;
                    }
                    case DT_I32: {
                        uint32_t u = p[4 * k] | (uint32_t)p[4 * k + 1] << 8 |
                                     (uint32_t)p[4 * k + 2] << 16 | (uint32_t)p[4 * k + 3] << 24;
                        v[k] = (float)(int32_t)u;
                        break;
                    }
                    }
                }
                err = fs_weights_add_owned(out, e.name, e.ndim, e.shape, v, msg);
                if (err) return err;
            }
            off += e.bytes;
            count++;
        }
    }
    *total = off;
    *entries = count;
    return FS_OK;
}

fs_err fs_tfjs_manifest_paths(const char *json, size_t len, char ***paths, size_t *n,
                              fs_msg *msg) {
    *paths = NULL;
    *n = 0;
    json_t *root;
    fs_err err = parse_root(json, len, &root, msg);
    if (err) return err;
    size_t count = 0, g;
    const json_t *group;
    json_array_foreach(root, g, group) {
        const json_t *ps = json_is_object(group) ? json_object_get(group, "paths") : NULL;
        if (!json_is_array(ps)) {
            json_decref(root);
            return fs_fail(msg, FS_ERR_FORMAT, "group %zu has no \"paths\" array", g);
        }
        count += json_array_size(ps);
    }
    if (count == 0 || count > FS_TFJS_MAX_SHARDS) {
        json_decref(root);
        return fs_fail(msg, FS_ERR_FORMAT, "manifest names %zu shard files (1-%d)", count,
                       FS_TFJS_MAX_SHARDS);
    }
    char **out = calloc(count, sizeof *out);
    size_t k = 0;
    err = out ? FS_OK : fs_fail(msg, FS_ERR_NOMEM, "no memory");
    json_array_foreach(root, g, group) {
        const json_t *ps = json_object_get(group, "paths"), *p;
        size_t i;
        json_array_foreach(ps, i, p) {
            if (err) break;
            if (!json_is_string(p) || strlen(json_string_value(p)) != json_string_length(p) ||
                !plain_name(json_string_value(p))) {
                err = fs_fail(msg, FS_ERR_FORMAT,
                              "group %zu path %zu must be a plain file name (no '/')", g, i);
                break;
            }
            out[k] = strdup(json_string_value(p));
            if (!out[k++]) err = fs_fail(msg, FS_ERR_NOMEM, "no memory");
        }
    }
    json_decref(root);
    if (err) {
        fs_tfjs_paths_free(out, count);
        return err;
    }
    *paths = out;
    *n = count;
    return FS_OK;
}

void fs_tfjs_paths_free(char **paths, size_t n) {
    if (!paths) return;
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

fs_err fs_tfjs_decode(const char *json, size_t len, const uint8_t *data, size_t dlen,
                      fs_weights *out, fs_msg *msg) {
    json_t *root;
    fs_err err = parse_root(json, len, &root, msg);
    if (err) return err;
    size_t need = 0, entries = 0;
    err = walk(root, NULL, &need, &entries, NULL, msg);
    if (!err && entries == 0) err = fs_fail(msg, FS_ERR_FORMAT, "manifest lists no tensors");
    if (!err && need != dlen)
        err = fs_fail(msg, FS_ERR_FORMAT,
                      "the weight data has %zu bytes but the manifest's tensors need %zu (%s)",
                      dlen, need, dlen < need ? "truncated" : "extra bytes: another version?");
    fs_weights w = {0};
    if (!err) err = walk(root, data, &need, &entries, &w, msg);
    json_decref(root);
    if (err) {
        fs_weights_free(&w);
        return err;
    }
    *out = w;
    return FS_OK;
}

fs_err fs_tfjs_load(const char *manifest_path, fs_weights *out, fs_msg *msg) {
    uint8_t *json = NULL, *data = NULL;
    size_t len = 0, dlen = 0, n = 0;
    char **paths = NULL;
    fs_err err = fs_read_file(manifest_path, FS_TFJS_MAX_MANIFEST, &json, &len, msg);
    if (!err) err = fs_tfjs_manifest_paths((const char *)json, len, &paths, &n, msg);
    if (err) goto done;
    /* the shards, read beside the manifest and concatenated */
    const char *slash = strrchr(manifest_path, '/');
    int dirlen = slash ? (int)(slash - manifest_path) : 1;
    const char *dir = slash ? manifest_path : ".";
    for (size_t i = 0; i < n && !err; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%.*s/%s", dirlen, dir, paths[i]) >= (int)sizeof path) {
            err = fs_fail(msg, FS_ERR_INVALID, "path too long");
            break;
        }
        uint8_t *part = NULL;
        size_t plen = 0;
        err = fs_read_file(path, MAX_FILE - dlen, &part, &plen, msg);
        if (err) break;
        uint8_t *grown = realloc(data, dlen + plen + 1);
        if (!grown) {
            free(part);
            err = fs_fail(msg, FS_ERR_NOMEM, "no memory for %s", path);
            break;
        }
        data = grown;
        memcpy(data + dlen, part, plen);
        dlen += plen;
        free(part);
    }
    if (!err) err = fs_tfjs_decode((const char *)json, len, data ? data : (const uint8_t *)"", dlen,
                                   out, msg);
done:
    if (err) fs_msg_prefix(msg, "%s: ", manifest_path);
    fs_tfjs_paths_free(paths, n);
    free(json);
    free(data);
    return err;
}
