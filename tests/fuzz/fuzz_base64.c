/* fuzz_base64: libFuzzer target for fs_base64_decode (HTTP Basic credentials come from any
 * client). The first byte chooses the output capacity so the FS_ERR_LIMIT path is reached;
 * a successful decode must be NUL-terminated within the capacity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t cap = 1 + data[0] % 64;
    if (data[0] & 0x80) cap = size; /* always enough: 3 bytes out per 4 in, plus the NUL */
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    /* Exact-size heap buffers so ASan catches a single byte past either end. */
    char *text = malloc(n ? n : 1);
    uint8_t *out = malloc(cap);
    if (!text || !out) abort();
    memcpy(text, in, n);
    size_t len = (size_t)-1;
    fs_err e = fs_base64_decode(text, n, out, cap, &len);
    if (e == FS_OK) {
        if (len >= cap || out[len] != '\0') abort();
        if (len > n) abort();
    }
    free(out);
    free(text);
    return 0;
}
