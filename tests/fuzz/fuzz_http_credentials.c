/* fuzz_http_credentials: libFuzzer target for the client-supplied strings of the HTTP layer
 * that are parsed without a socket: the API key sources (Authorization Bearer/Basic with its
 * base64, X-API-KEY, a body token) and X-Request-ID validation. The input is split at NUL
 * bytes into authorization, x_api_key and body_token; a missing part is absent (NULL). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *part[3] = {NULL, NULL, NULL};
    char *p = buf, *end = buf + size;
    for (int i = 0; i < 3 && p <= end; i++) {
        part[i] = p;
        p += strlen(p) + 1;
    }
    /* A too-small buffer size comes from the first byte, so truncation paths are reached. */
    size_t cap = size ? 1 + (uint8_t)buf[0] % (FS_CRED_MAX + 8) : FS_CRED_MAX;
    char *out = malloc(cap);
    if (!out) abort();
    fs_cred_source src = fs_credentials_parse(part[0], part[1], part[2], out, cap);
    if (src != FS_CRED_NONE) {
        if (!memchr(out, '\0', cap)) abort(); /* a key handed back is a terminated string */
        if (!fs_cred_source_name(src)) abort();
    }
    int valid = fs_request_id_valid(part[0]);
    if (valid) { /* the stated rule: 1..128 bytes of 0x21-0x7e */
        size_t n = strlen(part[0]);
        if (n < 1 || n > FS_REQUEST_ID_MAX) abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)part[0][i] < 0x21 || (unsigned char)part[0][i] > 0x7e) abort();
    }
    free(out);
    free(buf);
    return 0;
}
