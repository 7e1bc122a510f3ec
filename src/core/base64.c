/* base64.c: decodes base64 for the HTTP Basic scheme. OpenSSL's EVP_DecodeBlock does the work;
 * this file adds what it lacks: unpadded input, padding accounting and bounds on the output. */
#include "fakescope/base64.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define BASE64_MAX_INPUT 8192

static int is_b64(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

fs_err fs_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len) {
    if (out_len) *out_len = 0;
    if (n > BASE64_MAX_INPUT) return FS_ERR_LIMIT;
    size_t body = n;
    while (body > 0 && in[body - 1] == '=') body--;
    if (n - body > 2) return FS_ERR_FORMAT;
    for (size_t i = 0; i < body; i++)
        if (!is_b64(in[i])) return FS_ERR_FORMAT;
    if (body % 4 == 1) return FS_ERR_FORMAT;
    /* Re-pad to a multiple of four so EVP_DecodeBlock accepts it, then drop the pad bytes. */
    size_t padded = (body + 3) / 4 * 4;
    if (n != body && n != padded) return FS_ERR_FORMAT;
    size_t decoded = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    if (decoded + 1 > cap) return FS_ERR_LIMIT;
    char tmp[BASE64_MAX_INPUT + 4];
    memcpy(tmp, in, body);
    memset(tmp + body, '=', padded - body);
    uint8_t buf[BASE64_MAX_INPUT];
    int got = EVP_DecodeBlock(buf, (const unsigned char *)tmp, (int)padded);
    if (got < 0 || (size_t)got < decoded) return FS_ERR_FORMAT;
    memcpy(out, buf, decoded);
    out[decoded] = '\0';
    if (out_len) *out_len = decoded;
    return FS_OK;
}
