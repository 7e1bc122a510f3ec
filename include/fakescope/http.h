/* http: the HTTP-independent pieces of the server, kept apart so they can be tested and reused
 * without a socket: route patterns, request ids, credential extraction, safe static paths and
 * content types. Nothing here allocates except fs_router_create/fs_router_add. */
#ifndef FAKESCOPE_HTTP_H
#define FAKESCOPE_HTTP_H

#include "fakescope/core.h"

/* ---- router ----
 * A pattern is a path of segments: literal ("api"), a parameter (":modelID", one segment) or a
 * tail ("*path", the rest of the path, last only). Trailing slashes are ignored on both sides,
 * so "/api/x/" and "/api/x" match "/api/x". A route whose pattern is a root tail (a lone "*path" segment) is
 * a fallback: it matches only when nothing else does and never turns a miss into a 405. HEAD
 * requests match GET routes. The first registered match wins. */
#define FS_ROUTE_MAX_PARAMS 8
#define FS_ROUTE_PARAM_NAME 32
#define FS_ROUTE_PARAM_VALUE 1024
#define FS_ROUTE_MAX_SEGMENTS 32

typedef struct fs_route_params {
    int n;
    char name[FS_ROUTE_MAX_PARAMS][FS_ROUTE_PARAM_NAME];
    char value[FS_ROUTE_MAX_PARAMS][FS_ROUTE_PARAM_VALUE];
} fs_route_params;

typedef enum { FS_ROUTE_FOUND = 0, FS_ROUTE_NOT_FOUND = 404, FS_ROUTE_BAD_METHOD = 405 } fs_route_result;

typedef struct fs_router fs_router;
fs_router *fs_router_create(void);
void fs_router_free(fs_router *r);
/* Adds a route; name labels it in logs and metrics; data is returned on a match (borrowed).
 * FS_ERR_INVALID for a malformed pattern (a tail not last, too many parameters or segments). */
fs_err fs_router_add(fs_router *r, const char *method, const char *pattern, const char *name,
                     void *data, fs_msg *msg);
/* Matches method + path (no query string). On FS_ROUTE_FOUND fills *data, *name and params;
 * on FS_ROUTE_BAD_METHOD writes the allowed methods ("GET, POST") into allow. */
fs_route_result fs_router_match(const fs_router *r, const char *method, const char *path,
                                void **data, const char **name, fs_route_params *params,
                                char *allow, size_t allow_cap);
/* Value of a matched parameter, or NULL. */
const char *fs_route_param(const fs_route_params *p, const char *name);

/* ---- request ids ---- */
#define FS_REQUEST_ID_MAX 128
/* 1 when an incoming X-Request-ID may be echoed: 1..128 printable ASCII bytes (0x21-0x7e). */
int fs_request_id_valid(const char *id);
/* Writes a fresh random id (32 hex digits) into out (at least 33 bytes). */
void fs_request_id_generate(char out[33]);

/* ---- credentials ----
 * Where a dialect may find an API key, first found wins in this order: Authorization: Bearer X,
 * X-API-KEY header, Authorization: Basic base64(user:pass) (the password, or the user when the
 * password is empty), a token from the JSON body (the dialect extracts it). Header names are
 * case-insensitive in HTTP; the server looks them up that way. */
typedef enum {
    FS_CRED_NONE = 0,
    FS_CRED_BEARER,
    FS_CRED_HEADER,
    FS_CRED_BASIC,
    FS_CRED_BODY
} fs_cred_source;
#define FS_CRED_MAX 256
/* Fills out (cap bytes) with the presented key and says where it came from. A malformed
 * Authorization header yields FS_CRED_NONE unless another source supplies a key. */
fs_cred_source fs_credentials_parse(const char *authorization, const char *x_api_key,
                                    const char *body_token, char *out, size_t cap);
const char *fs_cred_source_name(fs_cred_source src);

/* ---- static files ----
 * Resolves rel (an already URL-decoded path below root) to a real file path inside root.
 * FS_ERR_INVALID for anything that could escape: "..", ".", empty segments after the first,
 * backslashes, NUL or control bytes, percent signs left after decoding, and any path whose
 * real path (symlinks resolved) lies outside the real root. FS_ERR_NOTFOUND when absent.
 * A directory resolves to its index.html. */
fs_err fs_static_resolve(const char *root, const char *rel, char *out, size_t cap, fs_msg *msg);
/* Content type for a file name by extension ("text/html; charset=utf-8", ...). */
const char *fs_content_type(const char *path);

#endif
