/* fuzz_http_router: libFuzzer target for route matching, the first thing every request path
 * goes through. The router holds the server's real kinds of routes (literals, parameters, a
 * tail, the root fallback); the input is "METHOD\0PATH" (a missing NUL means GET). A second
 * router is built from an input-supplied pattern to exercise pattern parsing too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fs_router *server_router(void) {
    static const char *const routes[][3] = {
        {"GET", "/healthz", "healthz"},
        {"GET", "/metrics", "metrics"},
        {"GET", "/openapi.yaml", "openapi"},
        {"POST", "/admin/keys", "keys_create"},
        {"GET", "/admin/keys", "keys_list"},
        {"DELETE", "/admin/keys/:id", "keys_revoke"},
        {"GET", "/api/models/:modelID/files/*path", "model_file"},
        {"POST", "/api/:a/:b/:c/:d/:e/:f/:g/:h", "eight_params"},
        {"GET", "/*path", "static"},
    };
    fs_router *r = fs_router_create();
    if (!r) abort();
    fs_msg msg;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (fs_router_add(r, routes[i][0], routes[i][1], routes[i][2], (void *)(i + 1), &msg) != FS_OK)
            abort();
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fs_router *r;
    if (!r) r = server_router();
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *method = "GET", *path = buf;
    char *nul = memchr(buf, '\0', size);
    if (nul && nul < buf + size) {
        method = buf;
        path = nul + 1;
    }
    void *hit = NULL;
    const char *name = NULL;
    fs_route_params params;
    char allow[64];
    fs_route_result res = fs_router_match(r, method, path, &hit, &name, &params, allow, sizeof allow);
    if (res == FS_ROUTE_FOUND) {
        if (!hit || !name || params.n < 0 || params.n > FS_ROUTE_MAX_PARAMS) abort();
        for (int i = 0; i < params.n; i++) {
            if (!memchr(params.name[i], '\0', FS_ROUTE_PARAM_NAME)) abort();
            if (!memchr(params.value[i], '\0', FS_ROUTE_PARAM_VALUE)) abort();
            if (fs_route_param(&params, params.name[i]) == NULL) abort();
        }
    } else if (res == FS_ROUTE_BAD_METHOD) {
        if (!memchr(allow, '\0', sizeof allow)) abort();
    }
    /* The path as a pattern: whatever it holds, adding and matching must stay well-behaved. */
    fs_router *p = fs_router_create();
    if (!p) abort();
    fs_msg msg;
    if (fs_router_add(p, method, path, "fuzz", (void *)1, &msg) == FS_OK)
        (void)fs_router_match(p, method, path, &hit, &name, &params, allow, sizeof allow);
    fs_router_free(p);
    free(buf);
    return 0;
}
