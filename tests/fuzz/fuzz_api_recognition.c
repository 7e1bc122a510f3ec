/* fuzz_api_recognition: libFuzzer target for the model-management dialect's request parsing
 * (seed 003): the JSON bodies of spec create / update (PATCH, PUT), version create and
 * inference (inputs: base64, data: and URL sources, with no network: fuzz_server.h), the
 * multipart network upload (safetensors or cascade XML; .h5 refused) and the list routes' query
 * arguments (limit, offset, page, page_size). Specs and versions the fuzzer creates stay in the
 * store, so later inputs reach ids 1, 2, ... Inference tasks are queued (one at most) and never
 * run.
 * Input: byte 0 picks the route, the rest is the body (or the query string of a list);
 * "@K" stands for a valid API key. */
#include "fuzz_server.h"

static const struct {
    const char *method, *path, *type;
} routes[] = {
    {"POST", "/v0.7/recognition/specs", "application/json"},
    {"PATCH", "/v0.7/recognition/specs/1", "application/json"},
    {"PUT", "/v0.7/recognition/specs/1", "application/json"},
    {"POST", "/v0.7/recognition/versions", "application/json"},
    {"POST", "/v0.7/recognition/versions/1/inference", "application/json"},
    {"POST", "/v0.7/networks", "multipart/form-data; boundary=fzb"},
    {"GET", "/v0.7/recognition/specs?", NULL},
    {"GET", "/v0.7/recognition/versions?", NULL},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_start(1, 1, NULL);
    if (size < 1 || size > FUZZ_MAX_BODY) return 0;
    size_t k = data[0] % N_ROUTES;
    uint8_t *body = malloc(size * 2 + 80);
    if (!body) return 0;
    size_t n = fz_subst_key(data + 1, size - 1, body, size * 2 + 80);
    static char reply[FUZZ_REPLY_MAX + 1];
    int st;
    if (!routes[k].type) {
        char path[600];
        size_t o = (size_t)snprintf(path, sizeof path, "%s", routes[k].path);
        for (size_t i = 0; i < n && o + 1 < sizeof path; i++)
            if (body[i] > 0x20 && body[i] < 0x7f && body[i] != '#') path[o++] = (char)body[i];
        path[o] = 0;
        st = fz_request("GET", path, NULL, NULL, 0, reply, sizeof reply);
    } else {
        char headers[128];
        snprintf(headers, sizeof headers, "Content-Type: %s\r\n", routes[k].type);
        st = fz_request(routes[k].method, routes[k].path, headers, body, n, reply, sizeof reply);
    }
    free(body);
    fz_expect_status(st, routes[k].path);
    json_t *j = json_loads(reply, 0, NULL);
    if (st && !fz_truncated && st != 204 && !json_is_object(j)) {
        fprintf(stderr, "fuzz: %s answered %d with %s\n", routes[k].path, st, reply);
        abort();
    }
    json_decref(j);
    return 0;
}
