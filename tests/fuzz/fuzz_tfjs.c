/* fuzz_tfjs: libFuzzer target for the TF.js weights reader (fs_tfjs_manifest_paths and
 * fs_tfjs_decode), which `fakescope models import --arch landmark68` runs on a downloaded
 * package's manifest and .bin. The input is the manifest's JSON, a NUL byte, then the shard
 * bytes (no NUL: all JSON, no data). A set that decodes must keep the manifest's promises: every
 * tensor findable by its name, at most FS_WEIGHT_MAX_DIMS dimensions, its count the product of
 * its shape; shard names plain file names. Breaking a promise aborts, so it counts as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/tfjs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    const uint8_t *bin = nul ? nul + 1 : data + size;
    size_t blen = nul ? size - jlen - 1 : 0;
    fs_msg msg;
    char **paths = (char **)&size; /* must come back NULL on failure */
    size_t n = 7;
    if (fs_tfjs_manifest_paths((const char *)data, jlen, &paths, &n, &msg) == FS_OK) {
        if (n == 0 || n > FS_TFJS_MAX_SHARDS) abort();
        for (size_t i = 0; i < n; i++)
            if (!paths[i][0] || strchr(paths[i], '/') || !strcmp(paths[i], "..")) abort();
        fs_tfjs_paths_free(paths, n);
    } else if (paths || n) {
        abort();
    }
    fs_weights w = {0};
    fs_err e = fs_tfjs_decode((const char *)data, jlen, bin, blen, &w, &msg);
    if (e != FS_OK) {
        if (w.count || w.items) abort();
        if (e != FS_ERR_FORMAT && e != FS_ERR_LIMIT && e != FS_ERR_NOMEM) abort();
        return 0;
    }
    if (w.count == 0) abort();
    for (size_t i = 0; i < w.count; i++) {
        const fs_weight *t = &w.items[i];
        if (fs_weights_get(&w, t->name) != t) abort();
        if (t->ndim < 0 || t->ndim > FS_WEIGHT_MAX_DIMS) abort();
        int64_t c = 1;
        for (int d = 0; d < t->ndim; d++) c *= t->shape[d];
        if (c != t->count) abort();
        if (t->count > (int64_t)blen) abort(); /* at least one byte per value */
    }
    fs_weights_free(&w);
    return 0;
}
