/* fuzz_data_url: libFuzzer target for the data: URL decoder behind imageUrl (fs_fetch with a
 * data: URL: RFC 2397 media type and parameters, ";base64", then base64 of any length, padded or
 * not, within the size limit). No network is involved: the target makes every input a data: URL.
 * A decoded answer must respect the size limit and agree byte for byte with core's own base64
 * decoder (fs_base64_decode) on the same text.
 *
 * Input: byte 0 sets the size limit (1 + 64 * byte, so the limit is reachable), the rest is the
 * URL after "data:" (up to the first NUL). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/base64.h"
#include "fakescope/fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t max = 1 + 64 * (size_t)data[0];
    char *url = malloc(size + 5);
    if (!url) return 0;
    memcpy(url, "data:", 5);
    memcpy(url + 5, data + 1, size - 1);
    url[size + 4] = '\0';
    fs_fetch_opts o = fs_fetch_opts_default();
    o.max_bytes = max;
    uint8_t *out = NULL;
    size_t len = 12345;
    fs_msg msg;
    fs_err e = fs_fetch(url, &o, &out, &len, &msg);
    if (e == FS_OK) {
        if (!out || len > max) abort();
        /* the same base64 through core's decoder gives the same bytes */
        const char *b64 = strchr(url, ',') + 1;
        size_t n = strlen(b64);
        uint8_t *ref = malloc(n + 1);
        size_t ref_len = 0;
        if (!ref) abort();
        if (fs_base64_decode(b64, n, ref, n + 1, &ref_len) == FS_OK && (ref_len != len || memcmp(ref, out, len)))
            abort();
        free(ref);
    } else {
        if (out || len != 0) abort(); /* a failure hands back nothing */
        if (!msg.text[0]) abort();
        if (e != FS_ERR_INVALID && e != FS_ERR_LIMIT && e != FS_ERR_NOMEM) abort();
    }
    free(out);
    free(url);
    return 0;
}
