/* credentials.c: finds the API key a client presented, whichever way its dialect carries it.
 * Verification is the store's job (fs_store_key_verify); this file only extracts, and never
 * logs what it finds. */
#include "fakescope/base64.h"
#include "fakescope/http.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Copies a token into out if it is non-empty, fits and holds no whitespace or control bytes. */
static int take(const char *tok, size_t len, char *out, size_t cap) {
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) len--;
    if (len == 0 || len >= cap) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] <= 0x20 || tok[i] == 0x7f) return 0;
    memcpy(out, tok, len);
    out[len] = '\0';
    return 1;
}

static const char *after_scheme(const char *auth, const char *scheme) {
    size_t n = strlen(scheme);
    if (strncasecmp(auth, scheme, n) != 0 || (auth[n] != ' ' && auth[n] != '\t')) return NULL;
    const char *p = auth + n;
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

static int from_basic(const char *b64, char *out, size_t cap) {
    uint8_t dec[FS_CRED_MAX * 2];
    size_t n;
    size_t len = strlen(b64);
    while (len > 0 && (b64[len - 1] == ' ' || b64[len - 1] == '\t')) len--;
    if (fs_base64_decode(b64, len, dec, sizeof dec, &n) != FS_OK) return 0;
    if (memchr(dec, '\0', n)) return 0;
    char *colon = memchr(dec, ':', n);
    int ok;
    if (!colon) ok = take((char *)dec, n, out, cap);
    else if ((size_t)(colon - (char *)dec) + 1 < n) /* password present: it is the key */
        ok = take(colon + 1, n - (size_t)(colon - (char *)dec) - 1, out, cap);
    else ok = take((char *)dec, (size_t)(colon - (char *)dec), out, cap); /* "key:" */
    OPENSSL_cleanse(dec, sizeof dec);
    return ok;
}

fs_cred_source fs_credentials_parse(const char *authorization, const char *x_api_key,
                                    const char *body_token, char *out, size_t cap) {
    if (cap) out[0] = '\0';
    const char *p;
    if (authorization && (p = after_scheme(authorization, "Bearer")) && take(p, strlen(p), out, cap))
        return FS_CRED_BEARER;
    if (x_api_key) {
        const char *k = x_api_key;
        while (*k == ' ' || *k == '\t') k++;
        if (take(k, strlen(k), out, cap)) return FS_CRED_HEADER;
    }
    if (authorization && (p = after_scheme(authorization, "Basic")) && from_basic(p, out, cap))
        return FS_CRED_BASIC;
    if (body_token && take(body_token, strlen(body_token), out, cap)) return FS_CRED_BODY;
    if (cap) out[0] = '\0';
    return FS_CRED_NONE;
}

const char *fs_cred_source_name(fs_cred_source src) {
    switch (src) {
    case FS_CRED_BEARER: return "bearer";
    case FS_CRED_HEADER: return "x-api-key";
    case FS_CRED_BASIC: return "basic";
    case FS_CRED_BODY: return "body";
    case FS_CRED_NONE: break;
    }
    return "none";
}
