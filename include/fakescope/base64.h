/* base64: standard (RFC 4648 section 4) decoding through OpenSSL, for HTTP Basic credentials. */
#ifndef FAKESCOPE_BASE64_H
#define FAKESCOPE_BASE64_H

#include "fakescope/core.h"

/* Decodes n characters of padded or unpadded base64 into out (capacity cap, NUL-terminated on
 * success, so cap must exceed the decoded size by one). Whitespace is not accepted.
 * FS_ERR_FORMAT on bad input, FS_ERR_LIMIT when out is too small. */
fs_err fs_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

#endif
