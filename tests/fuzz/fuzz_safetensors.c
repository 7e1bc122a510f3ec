/* fuzz_safetensors: libFuzzer target for the safetensors reader (an 8-byte header length, a
 * JSON header of names, dtypes, shapes and offsets, then the tensor bytes), which is what a
 * user-supplied model file goes through. A file that reads must survive a write/read round
 * trip with the same tensors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fs_weights w = {0};
    fs_msg msg;
    if (fs_weights_read_safetensors(data, size, &w, &msg) != FS_OK) {
        fs_weights_free(&w);
        return 0;
    }
    for (size_t i = 0; i < w.count; i++) {
        const fs_weight *t = &w.items[i];
        if (fs_weights_get(&w, t->name) == NULL) abort();
        char shape[128];
        fs_weights_format_shape(t->ndim, t->shape, shape, sizeof shape);
    }
    (void)fs_weights_meta(&w, "arch");
    (void)fs_weights_check_arch(&w, "meso4", &msg);
    uint8_t *out = NULL;
    size_t len = 0;
    if (fs_weights_write_safetensors(&w, &out, &len, &msg) == FS_OK) {
        fs_weights back = {0};
        if (fs_weights_read_safetensors(out, len, &back, &msg) != FS_OK) abort();
        if (back.count != w.count) abort();
        for (size_t i = 0; i < w.count; i++) {
            const fs_weight *a = &w.items[i], *b = fs_weights_get(&back, a->name);
            if (!b || b->count != a->count) abort();
            /* Bitwise, so NaN payloads compare too. */
            if (a->count && memcmp(a->data, b->data, (size_t)a->count * sizeof(float)) != 0) abort();
        }
        fs_weights_free(&back);
    }
    free(out);
    fs_weights_free(&w);
    return 0;
}
