/* routes_health.c: the operator's routes: liveness (GET /healthz), Prometheus metrics
 * (GET /metrics) and the API description (GET /openapi.yaml). They need no key, so a load
 * balancer or scraper can reach them; they reveal no stored data. */
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>

/* Reads the schema version through the store, so it answers 503 while the database does not
 * (a PostgreSQL restart, a cut network): a load balancer then drops this node until the
 * store's reconnection succeeds. */
static void healthz(fs_req *r) {
    fs_server *s = fs_req_server(r);
    fs_store *store = fs_server_store(s);
    int version = fs_store_schema_version(store);
    int ok = version == fs_store_schema_latest();
    fs_reply_json(r, ok ? 200 : 503,
                  json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "status", ok ? "ok" : "degraded",
                            "version", FS_VERSION, "schema_version", version, "store",
                            version < 0 ? "unavailable" : "ok", "engine",
                            fs_store_is_shared(store) ? "postgresql" : "sqlite", "node",
                            fs_store_node_id(store)));
}

static void metrics(fs_req *r) {
    char *text = fs_metrics_render(fs_server_metrics(fs_req_server(r)));
    if (!text) {
        fs_reply_error(r, 503, "internal", "cannot render metrics");
        return;
    }
    fs_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

static void openapi(fs_req *r) {
    const char *path = fs_server_config_of(fs_req_server(r))->openapi_path;
    if (!path) {
        fs_reply_error(r, 404, "not_found", "no API description configured");
        return;
    }
    fs_reply_file(r, path, "application/yaml");
}

fs_err fs_routes_health_register(fs_server *s, fs_msg *msg) {
    fs_err e;
    if ((e = fs_server_route(s, "GET", "/healthz", "healthz", healthz, msg)) != FS_OK) return e;
    if ((e = fs_server_route(s, "GET", "/metrics", "metrics", metrics, msg)) != FS_OK) return e;
    return fs_server_route(s, "GET", "/openapi.yaml", "openapi", openapi, msg);
}
