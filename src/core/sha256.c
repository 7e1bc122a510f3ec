/* sha256.c: thin wrappers over OpenSSL EVP SHA-256. The store names every blob by this digest and
 * keeps API keys only as digests, so one small, obviously-correct helper serves both. */
#include "fakescope/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define SHA256_FILE_BLOCK 65536

static void to_hex(const uint8_t *raw, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * n] = '\0';
}

fs_err fs_sha256(const void *data, size_t len, uint8_t out[FS_SHA256_BYTES]) {
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != FS_SHA256_BYTES)
        return FS_ERR_INTERNAL;
    return FS_OK;
}

fs_err fs_sha256_hex(const void *data, size_t len, char out[FS_SHA256_HEX]) {
    uint8_t raw[FS_SHA256_BYTES];
    fs_err e = fs_sha256(data, len, raw);
    if (e != FS_OK) return e;
    to_hex(raw, sizeof raw, out);
    return FS_OK;
}

fs_err fs_sha256_file_hex(const char *path, char out[FS_SHA256_HEX], fs_msg *msg) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return fs_fail(msg, errno == ENOENT ? FS_ERR_NOTFOUND : FS_ERR_IO, "cannot open %s: %s",
                       path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    fs_err err = FS_OK;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        err = fs_fail(msg, FS_ERR_INTERNAL, "sha256: OpenSSL digest init failed");
        goto done;
    }
    static _Thread_local uint8_t block[SHA256_FILE_BLOCK];
    size_t got;
    while ((got = fread(block, 1, sizeof block, f)) > 0) {
        if (!EVP_DigestUpdate(ctx, block, got)) {
            err = fs_fail(msg, FS_ERR_INTERNAL, "sha256: OpenSSL digest update failed");
            goto done;
        }
    }
    if (ferror(f)) {
        err = fs_fail(msg, FS_ERR_IO, "cannot read %s", path);
        goto done;
    }
    uint8_t raw[FS_SHA256_BYTES];
    unsigned int n = 0;
    if (!EVP_DigestFinal_ex(ctx, raw, &n) || n != FS_SHA256_BYTES) {
        err = fs_fail(msg, FS_ERR_INTERNAL, "sha256: OpenSSL digest final failed");
        goto done;
    }
    to_hex(raw, sizeof raw, out);
done:
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return err;
}

int fs_sha256_hex_valid(const char *s) {
    if (!s) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[64] == '\0';
}
