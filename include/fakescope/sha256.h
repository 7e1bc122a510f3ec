/* sha256: SHA-256 digests through OpenSSL's EVP interface, as lowercase hex.
 * Used to name media and blobs by content and to store API keys as hashes, never as secrets. */
#ifndef FAKESCOPE_SHA256_H
#define FAKESCOPE_SHA256_H

#include "fakescope/core.h"

#define FS_SHA256_BYTES 32
#define FS_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* Raw 32-byte digest of a buffer. Returns FS_ERR_INTERNAL only if OpenSSL fails. */
fs_err fs_sha256(const void *data, size_t len, uint8_t out[FS_SHA256_BYTES]);
/* Hex digest of a buffer into out (65 bytes, NUL-terminated). */
fs_err fs_sha256_hex(const void *data, size_t len, char out[FS_SHA256_HEX]);
/* Hex digest of a file's contents, streamed in blocks (any size). FS_ERR_NOTFOUND/IO on errors. */
fs_err fs_sha256_file_hex(const char *path, char out[FS_SHA256_HEX], fs_msg *msg);
/* 1 when s is exactly 64 lowercase hex digits. */
int fs_sha256_hex_valid(const char *s);

#endif
