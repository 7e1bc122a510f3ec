/* server: fakescope's HTTP front door on libmicrohttpd: routing, request context, body and
 * multipart handling with size limits, JSON and file responses, request ids, access log, auth,
 * metrics and graceful shutdown. API dialects (one source file each in src/server/) register
 * routes and translate between their wire format and the core; no inference happens here.
 *
 * Threads: libmicrohttpd runs an internal epoll loop with a pool of `workers` threads; a
 * handler runs on one of them and may block (inference) up to its deadline. The server, its
 * store and metrics are shared read-mostly; a fs_req belongs to one thread.
 *
 * Every answer carries a Request-Id header and produces one stderr log line:
 *   METHOD PATH STATUS BYTES MS id=REQUEST_ID     (never credentials, never the query string) */
#ifndef FAKESCOPE_SERVER_H
#define FAKESCOPE_SERVER_H

#include <jansson.h>

#include "fakescope/core.h"
#include "fakescope/http.h"
#include "fakescope/metrics.h"
#include "fakescope/store.h"

/* Limits and defaults, overridable through fs_server_config. */
#define FS_SERVER_DEFAULT_PORT 8080
#define FS_SERVER_DEFAULT_HOST "127.0.0.1"
#define FS_SERVER_DEFAULT_MAX_BODY ((size_t)16 << 20) /* 16 MiB */
#define FS_SERVER_DEFAULT_TIMEOUT_S 120               /* per-request deadline */
#define FS_SERVER_IDLE_TIMEOUT_S 30                   /* MHD connection inactivity timeout */
#define FS_SERVER_MAX_WORKERS 256
#define FS_SERVER_SHUTDOWN_GRACE_MS 30000
#define FS_SERVER_MAX_FORM_FIELDS 64
#define FS_SERVER_DEFAULT_MAX_CONCURRENT 128 /* requests in progress; more: 503 + Retry-After */
#define FS_SERVER_MAX_CONCURRENT_LIMIT 4096
#define FS_SERVER_BUSY_RETRY_AFTER_S 1
/* A JSON body nested deeper than this is refused (400) before jansson builds it; its size is
 * bounded by the body limit. No API shape needs more than a few levels. */
#define FS_SERVER_MAX_JSON_DEPTH 32

typedef struct fs_server_config {
    const char *host;          /* address to bind, IPv4 dotted quad or IPv6 literal */
    int port;                  /* 0 picks a free port; fs_server_port tells which */
    int workers;               /* request threads; 0 means one per CPU */
    size_t max_body;           /* largest request body accepted, bytes */
    int request_timeout_s;     /* deadline handlers check through fs_req_expired */
    const char *data_dir;      /* the store's directory */
    const char *dataset_dir;   /* images the explorer dialect serves (may be NULL) */
    const char *models_dir;    /* trained models (may be NULL) */
    const char *web_dir;       /* static files served at / (NULL: none) */
    const char *openapi_path;  /* served at GET /openapi.yaml (NULL: 404) */
    int allow_private_urls;    /* let imageUrl fetches reach private addresses */
    int fetch_timeout_s;       /* imageUrl download time limit (0: FS_FETCH_TIMEOUT_MS_DEFAULT) */
    size_t fetch_max_bytes;    /* imageUrl download size limit (0: FS_FETCH_MAX_BYTES_DEFAULT) */
    int require_key_for_explorer;
    int max_concurrent;        /* requests in progress at once; 0: FS_SERVER_DEFAULT_MAX_CONCURRENT */
    /* Tests only (FAKESCOPE_TEST_FETCH_FIRST_HOP, no flag): "IP:PORT" an imageUrl fetch may
     * connect to as its first connection despite the address policy; redirects stay checked. */
    const char *fetch_first_hop;
} fs_server_config;

void fs_server_config_defaults(fs_server_config *cfg);

typedef struct fs_server fs_server;
typedef struct fs_req fs_req;
/* A route handler: reads the request, answers with exactly one fs_reply_* call. A handler that
 * returns without answering produces a 500. */
typedef void (*fs_handler)(fs_req *req);

/* A dialect's error shape: the JSON body (new reference) of an error answer on its routes, from
 * the status, a short code ("payload_too_large") and the message. Once a route has one, every
 * error on it takes that shape: fs_reply_error from the handler and the server's own early
 * answers (413 body too large, 400 malformed form body, 401 from fs_req_authenticate). */
typedef json_t *(*fs_error_shape)(fs_req *r, unsigned status, const char *code, const char *message);

/* Creates a server (not yet listening) with the infrastructure routes registered: GET /healthz,
 * GET /metrics, GET /openapi.yaml, the admin keys API and, when web_dir is set, static files.
 * The store is borrowed and must outlive the server. cfg's strings are copied. */
fs_err fs_server_create(const fs_server_config *cfg, fs_store *store, fs_server **out, fs_msg *msg);
/* Registers a route (before fs_server_start). See fakescope/http.h for pattern syntax. */
fs_err fs_server_route(fs_server *s, const char *method, const char *pattern, const char *name,
                       fs_handler handler, fs_msg *msg);
/* The same with the dialect's error shape (NULL: the server's own). */
fs_err fs_server_route_shaped(fs_server *s, const char *method, const char *pattern,
                              const char *name, fs_handler handler, fs_error_shape shape,
                              fs_msg *msg);
/* Binds and starts serving. */
fs_err fs_server_start(fs_server *s, fs_msg *msg);
/* The bound port (useful after port 0). */
int fs_server_port(const fs_server *s);
const fs_server_config *fs_server_config_of(const fs_server *s);
fs_store *fs_server_store(fs_server *s);
/* The dialects' shared state (models, jobs, ...), set before fs_server_start and borrowed:
 * handlers reach it through fs_server_app(fs_req_server(req)). */
void fs_server_set_app(fs_server *s, void *app);
void *fs_server_app(fs_server *s);
fs_metrics *fs_server_metrics(fs_server *s);
/* Stops accepting connections, lets requests in flight finish for up to grace_ms, then stops.
 * Returns the number of requests still running when the grace period ended (0 normally). */
int fs_server_shutdown(fs_server *s, int grace_ms);
/* Frees a server (shutting it down first if needed). */
void fs_server_free(fs_server *s);

/* ---- the request, as a handler sees it (all strings borrowed, valid during the call) ---- */
fs_server *fs_req_server(fs_req *r);
const char *fs_req_method(const fs_req *r);
const char *fs_req_path(const fs_req *r);
const char *fs_req_id(const fs_req *r);
const char *fs_req_route(const fs_req *r);                    /* route name */
const char *fs_req_param(const fs_req *r, const char *name);  /* path parameter */
const char *fs_req_header(fs_req *r, const char *name);       /* case-insensitive */
const char *fs_req_query(fs_req *r, const char *name);        /* decoded query argument */
const uint8_t *fs_req_body(const fs_req *r, size_t *len);     /* raw body; empty for multipart */
/* The body parsed as JSON (cached; borrowed). NULL with msg filled when it is not JSON. */
json_t *fs_req_json(fs_req *r, fs_msg *msg);
/* Milliseconds left before the request's deadline (negative once passed). */
double fs_req_remaining_ms(const fs_req *r);
int fs_req_expired(const fs_req *r);

typedef struct fs_form_field {
    char *name;
    char *filename;     /* NULL for a plain field */
    char *content_type; /* NULL when the client sent none */
    uint8_t *data;      /* NUL-terminated for convenience; len excludes the NUL */
    size_t len;
    size_t cap;         /* bytes allocated at data (the server's, while the body arrives) */
} fs_form_field;
/* multipart/form-data or urlencoded fields, in arrival order. */
size_t fs_req_form_count(const fs_req *r);
const fs_form_field *fs_req_form_at(const fs_req *r, size_t i);
const fs_form_field *fs_req_form(const fs_req *r, const char *name); /* first with that name */

/* ---- answers ---- */
/* JSON body; steals the reference to body. */
void fs_reply_json(fs_req *r, unsigned status, json_t *body);
/* Bytes copied into the response. */
void fs_reply_bytes(fs_req *r, unsigned status, const char *content_type, const void *data, size_t len);
/* {"error": {"code": code, "message": ..., "request_id": ...}}, or the route's error shape. */
void fs_reply_error(fs_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A file streamed from disk (content type from its extension when content_type is NULL).
 * Answers 404 itself when the file cannot be opened. */
void fs_reply_file(fs_req *r, const char *path, const char *content_type);
/* A file below root named by rel (a route's tail parameter), through fs_static_resolve:
 * 403 for a path that tries to leave root, 404 when absent, else the file. For /media/...,
 * web/ and any other folder a dialect serves. */
void fs_reply_static(fs_req *r, const char *root, const char *rel);
/* Replaces each byte of s that is not part of valid UTF-8 with '?', in place. For text that
 * quotes a client's bytes before it goes into a JSON answer (fs_reply_error does it itself). */
void fs_utf8_sanitize(char *s);
/* Adds a header to the answer; call after fs_reply_*. */
void fs_reply_header(fs_req *r, const char *name, const char *value);
/* Maps an fs_err to the HTTP status dialects use by default (FS_ERR_LIMIT -> 413, ...). */
unsigned fs_http_status_for(fs_err err);

/* ---- auth ---- */
/* Extracts credentials (see fs_credentials_parse; body_token from the dialect, may be NULL). */
fs_cred_source fs_req_credentials(fs_req *r, const char *body_token, char *out, size_t cap);
/* Verifies the request's key. On success returns FS_OK and fills info (may be NULL). On
 * failure answers 401 (missing, unknown or revoked key) or 403 (need_admin but not admin) and
 * returns FS_ERR_AUTH: the handler must then return without replying again. */
fs_err fs_req_authenticate(fs_req *r, const char *body_token, int need_admin, fs_key_info *info);

#endif
