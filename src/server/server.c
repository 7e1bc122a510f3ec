/* server.c: the HTTP machinery under every dialect. libmicrohttpd calls on_request several times
 * per request: first with the headers (we route, check Content-Length against the body limit
 * and may answer at once, before any body is read), then with each chunk of body (kept in
 * memory up to the limit, or fed to the multipart parser), then once more with no data (we run
 * the handler). on_completed logs the request, counts it and frees its context.
 *
 * Graceful shutdown: MHD_quiesce_daemon closes the listening socket to new connections while
 * requests in flight (counted from first call to completion) are allowed to finish, then
 * MHD_stop_daemon closes idle keep-alive connections. */
#include "server_internal.h"

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fakescope/json.h"

#define SERVER_MAX_ROUTES 128
#define SERVER_POST_BUFFER 65536   /* libmicrohttpd post-processor buffer */
#define SERVER_CONNECTION_LIMIT 1024
#define SERVER_LOG_PATH_MAX 512    /* longer paths are cut in the log line */
/* Past the body limit a chunked upload is read and dropped for this much more so the client can
 * be told 413; beyond it the connection is closed. */
#define SERVER_DISCARD_SLACK ((uint64_t)8 << 20)

typedef struct handler_slot {
    fs_handler fn;
    fs_error_shape shape; /* NULL: the server's error shape */
} handler_slot;

struct fs_server {
    fs_server_config cfg;
    void *app; /* the dialects' shared state (fs_server_set_app), borrowed */
    char *strings[8]; /* owned copies of cfg's strings */
    fs_store *store;
    fs_metrics *metrics;
    fs_router *router;
    handler_slot handlers[SERVER_MAX_ROUTES];
    int nhandlers;
    struct MHD_Daemon *daemon;
    int port;
    atomic_int in_flight;
    int stopped;
};

struct fs_req {
    fs_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    char id[FS_REQUEST_ID_MAX + 1];
    const char *route_name;
    fs_handler handler;
    fs_error_shape shape;
    fs_route_params params;
    char allow[64];
    double start_ms, deadline_ms;
    /* body */
    uint8_t *body;
    size_t body_len, body_cap;
    uint64_t received;
    int too_large, bad_body;
    struct MHD_PostProcessor *pp;
    int keep_raw; /* urlencoded: clients (curl -d) send JSON under that type, so keep the bytes */
    fs_form_field *fields;
    size_t nfields;
    json_t *json;
    /* answer */
    struct MHD_Response *resp;
    unsigned status;
    uint64_t resp_bytes;
    int queued;
};

void fs_server_config_defaults(fs_server_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = FS_SERVER_DEFAULT_HOST;
    cfg->port = FS_SERVER_DEFAULT_PORT;
    cfg->workers = 0;
    cfg->max_body = FS_SERVER_DEFAULT_MAX_BODY;
    cfg->request_timeout_s = FS_SERVER_DEFAULT_TIMEOUT_S;
    /* A build run from its source tree finds its page and API description there; an installed
     * one is told where they are (--web, FAKESCOPE_OPENAPI). */
    struct stat st;
    cfg->openapi_path = FS_SOURCE_DIR "/docs/openapi.yaml";
    cfg->web_dir = stat(FS_SOURCE_DIR "/web", &st) == 0 && S_ISDIR(st.st_mode) ? FS_SOURCE_DIR "/web" : NULL;
}

unsigned fs_http_status_for(fs_err err) {
    switch (err) {
    case FS_OK: return 200;
    case FS_ERR_NOTFOUND: return 404;
    case FS_ERR_FORMAT:
    case FS_ERR_INVALID:
    case FS_ERR_NOFACE: return 400;
    case FS_ERR_UNSUPPORTED: return 415;
    case FS_ERR_LIMIT: return 413;
    case FS_ERR_CONFLICT: return 409;
    case FS_ERR_AUTH: return 401;
    case FS_ERR_TIMEOUT: return 504;
    case FS_ERR_DECODER: return 422;
    case FS_ERR_NOMEM: return 503;
    case FS_ERR_IO:
    case FS_ERR_INTERNAL: break;
    }
    return 500;
}

/* ---------------------------------------------------------------- request accessors */

fs_server *fs_req_server(fs_req *r) { return r->srv; }
const char *fs_req_method(const fs_req *r) { return r->method; }
const char *fs_req_path(const fs_req *r) { return r->path; }
const char *fs_req_id(const fs_req *r) { return r->id; }
const char *fs_req_route(const fs_req *r) { return r->route_name; }
const char *fs_req_param(const fs_req *r, const char *name) { return fs_route_param(&r->params, name); }

const char *fs_req_header(fs_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *fs_req_query(fs_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const uint8_t *fs_req_body(const fs_req *r, size_t *len) {
    /* empty for multipart bodies, whose parts are in the form fields */
    if (len) *len = r->body_len;
    return r->body ? r->body : (const uint8_t *)"";
}

/* The deepest nesting of arrays and objects in a JSON text, counted without parsing (brackets
 * inside strings do not count), stopping once past limit. jansson recurses per level, so a
 * body of a million '[' must be refused before it reaches the parser. */
static int json_depth_over(const uint8_t *p, size_t n, int limit) {
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return 1;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

json_t *fs_req_json(fs_req *r, fs_msg *msg) {
    if (r->json) return r->json;
    if (!r->body_len) {
        fs_fail(msg, FS_ERR_FORMAT, "the request body is empty; a JSON object was expected");
        return NULL;
    }
    /* Size: the body limit already bounds it (the body reader). Depth: checked here. */
    if (json_depth_over(r->body, r->body_len, FS_SERVER_MAX_JSON_DEPTH)) {
        fs_fail(msg, FS_ERR_FORMAT, "the JSON body is nested deeper than %d levels", FS_SERVER_MAX_JSON_DEPTH);
        return NULL;
    }
    json_error_t err;
    r->json = json_loadb((const char *)r->body, r->body_len, 0, &err);
    if (!r->json) fs_fail(msg, FS_ERR_FORMAT, "body is not JSON: %s (line %d)", err.text, err.line);
    return r->json;
}

double fs_req_remaining_ms(const fs_req *r) { return r->deadline_ms - fs_now_ms(); }
int fs_req_expired(const fs_req *r) { return fs_req_remaining_ms(r) <= 0; }

size_t fs_req_form_count(const fs_req *r) { return r->nfields; }
const fs_form_field *fs_req_form_at(const fs_req *r, size_t i) { return i < r->nfields ? &r->fields[i] : NULL; }
const fs_form_field *fs_req_form(const fs_req *r, const char *name) {
    for (size_t i = 0; i < r->nfields; i++)
        if (!strcmp(r->fields[i].name, name)) return &r->fields[i];
    return NULL;
}

/* ---------------------------------------------------------------- answers */

/* Installs resp as the answer; a second answer to the same request is a handler bug. */
static void set_response(fs_req *r, unsigned status, struct MHD_Response *resp, uint64_t bytes,
                         const char *content_type) {
    if (r->resp) {
        fs_log(FS_LOG_ERROR, "route %s answered twice; keeping the first answer", r->route_name);
        if (resp) MHD_destroy_response(resp);
        return;
    }
    if (!resp) return; /* out of memory: the completion path answers 500 */
    if (content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    r->resp = resp;
    r->status = status;
    r->resp_bytes = bytes;
}

void fs_reply_bytes(fs_req *r, unsigned status, const char *content_type, const void *data, size_t len) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    set_response(r, status, resp, len, content_type);
}

void fs_reply_json(fs_req *r, unsigned status, json_t *body) {
    char *text = body ? fs_json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the answer\"}}";
        fs_reply_bytes(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t len = strlen(text);
    /* fs_json_dumps allocates with malloc, so MHD may free() it after sending. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(text);
    set_response(r, status, resp, len, "application/json");
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (n == 0 || c > 0xf4 || c == 0xc0 || c == 0xc1) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
    if (c == 0xed && s[1] > 0x9f) return 0; /* surrogates */
    if (c == 0xf0 && s[1] < 0x90) return 0; /* overlong */
    if (c == 0xf4 && s[1] > 0x8f) return 0; /* past U+10FFFF */
    return n;
}

void fs_utf8_sanitize(char *s) {
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq(p);
        if (n == 0) *p++ = '?';
        else p += n;
    }
}

void fs_reply_error(fs_req *r, unsigned status, const char *code, const char *fmt, ...) {
    char message[FS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* A message may quote what the client sent (a name, a path, cut at a byte count): JSON
     * wants UTF-8, and an answer that cannot be encoded would become a 500. */
    fs_utf8_sanitize(message);
    if (r->shape) {
        json_t *body = r->shape(r, status, code, message);
        if (body) {
            fs_reply_json(r, status, body);
            return;
        }
    }
    fs_reply_json(r, status, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code, "message",
                                       message, "request_id", r->id));
}

void fs_reply_file(fs_req *r, const char *path, const char *content_type) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        fs_reply_error(r, 404, "not_found", "no such file");
        return;
    }
    /* MHD closes fd when the response is destroyed. */
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) close(fd);
    set_response(r, 200, resp, (uint64_t)st.st_size, content_type ? content_type : fs_content_type(path));
}

void fs_reply_static(fs_req *r, const char *root, const char *rel) {
    char path[PATH_MAX];
    fs_msg msg;
    fs_err e = root ? fs_static_resolve(root, rel ? rel : "", path, sizeof path, &msg) : FS_ERR_NOTFOUND;
    if (e == FS_ERR_INVALID) fs_reply_error(r, 403, "forbidden", "%s", msg.text);
    else if (e != FS_OK) fs_reply_error(r, 404, "not_found", "no route or file for %s", r->path);
    else fs_reply_file(r, path, NULL);
}

void fs_reply_header(fs_req *r, const char *name, const char *value) {
    if (r->resp) MHD_add_response_header(r->resp, name, value);
}

/* ---------------------------------------------------------------- auth */

fs_cred_source fs_req_credentials(fs_req *r, const char *body_token, char *out, size_t cap) {
    return fs_credentials_parse(fs_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION),
                                fs_req_header(r, "X-API-KEY"), body_token, out, cap);
}

fs_err fs_req_authenticate(fs_req *r, const char *body_token, int need_admin, fs_key_info *info) {
    char key[FS_CRED_MAX];
    if (fs_req_credentials(r, body_token, key, sizeof key) == FS_CRED_NONE) {
        fs_reply_error(r, 401, "unauthorized", "an API key is required (Authorization: Bearer KEY or X-API-KEY)");
        fs_reply_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"fakescope\"");
        return FS_ERR_AUTH;
    }
    fs_key_info k;
    fs_msg msg;
    fs_err e = fs_store_key_verify(r->srv->store, key, &k, &msg);
    memset(key, 0, sizeof key);
    if (e == FS_ERR_AUTH) {
        fs_reply_error(r, 401, "unauthorized", "%s", msg.text);
        fs_reply_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"fakescope\", error=\"invalid_token\"");
        return FS_ERR_AUTH;
    }
    if (e != FS_OK) {
        fs_reply_error(r, 503, "store_unavailable", "cannot check the API key: %s", msg.text);
        return FS_ERR_AUTH;
    }
    if (need_admin && !k.is_admin) {
        fs_reply_error(r, 403, "forbidden", "this needs an admin API key");
        return FS_ERR_AUTH;
    }
    if (info) *info = k;
    return FS_OK;
}

/* ---------------------------------------------------------------- body handling */

/* Appends bytes to dst, growing geometrically. */
static int append(uint8_t **dst, size_t *len, size_t *cap, const char *src, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 4096;
        while (nc < *len + n + 1) nc *= 2;
        uint8_t *p = realloc(*dst, nc);
        if (!p) return 0;
        *dst = p;
        *cap = nc;
    }
    memcpy(*dst + *len, src, n);
    *len += n;
    (*dst)[*len] = '\0';
    return 1;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static enum MHD_Result on_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data, uint64_t off,
                                     size_t size) {
    (void)kind;
    (void)transfer_encoding;
    fs_req *r = cls;
    fs_form_field *f = NULL;
    /* A field arrives in pieces; off > 0 continues the last field of that name. */
    if (off > 0 && r->nfields && !strcmp(r->fields[r->nfields - 1].name, key)) {
        f = &r->fields[r->nfields - 1];
    } else {
        if (r->nfields >= FS_SERVER_MAX_FORM_FIELDS) {
            r->bad_body = 1;
            return MHD_NO;
        }
        fs_form_field *p = realloc(r->fields, (r->nfields + 1) * sizeof *p);
        if (!p) return MHD_NO;
        r->fields = p;
        f = &r->fields[r->nfields++];
        memset(f, 0, sizeof *f);
        f->name = strdup(key ? key : "");
        f->filename = dup_or_null(filename);
        f->content_type = dup_or_null(content_type);
        if (!f->name) return MHD_NO;
    }
    /* Geometric growth: an upload arrives in pieces of a few KB, and growing by the piece made
     * receiving a file quadratic in its size (seconds for 2.5 MB where realloc cannot grow in
     * place, as under ASan). */
    if (!append(&f->data, &f->len, &f->cap, data ? data : "", size)) return MHD_NO;
    return MHD_YES;
}

static void req_free(fs_req *r) {
    if (!r) return;
    if (r->pp) MHD_destroy_post_processor(r->pp);
    for (size_t i = 0; i < r->nfields; i++) {
        free(r->fields[i].name);
        free(r->fields[i].filename);
        free(r->fields[i].content_type);
        free(r->fields[i].data);
    }
    free(r->fields);
    free(r->body);
    json_decref(r->json);
    if (r->resp) MHD_destroy_response(r->resp);
    free(r->path);
    free(r);
}

static int content_type_is(const char *ct, const char *want) {
    return ct && !strncasecmp(ct, want, strlen(want));
}

/* Sends the answer (or a 500 if the handler gave none) with the headers every answer carries. */
static enum MHD_Result queue(fs_req *r) {
    if (!r->resp) fs_reply_error(r, 500, "internal", "the handler did not answer");
    if (!r->resp) return MHD_NO; /* no memory even for the error */
    MHD_add_response_header(r->resp, "Request-Id", r->id);
    if (r->status == 405 && r->allow[0]) MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    r->queued = 1;
    enum MHD_Result ok = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ok;
}

/* First call: set up the context, route, and refuse what can be refused before the body. */
static fs_req *begin(fs_server *s, struct MHD_Connection *c, const char *url, const char *method) {
    fs_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = s;
    r->conn = c;
    r->start_ms = fs_now_ms();
    r->deadline_ms = r->start_ms + 1000.0 * s->cfg.request_timeout_s;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->path = strdup(url ? url : "/");
    if (!r->path) {
        free(r);
        return NULL;
    }
    const char *in_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-ID");
    if (fs_request_id_valid(in_id)) snprintf(r->id, sizeof r->id, "%s", in_id);
    else fs_request_id_generate(r->id);
    /* This request's own place in the count: two requests arriving together must not both
     * read the sum and both be refused. */
    int in_flight = atomic_fetch_add(&s->in_flight, 1) + 1;
    fs_metrics_in_flight(s->metrics, in_flight);

    void *data = NULL;
    const char *name = NULL;
    fs_route_result m = fs_router_match(s->router, r->method, r->path, &data, &name, &r->params,
                                        r->allow, sizeof r->allow);
    if (m == FS_ROUTE_NOT_FOUND) {
        fs_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
        return r;
    }
    if (m == FS_ROUTE_BAD_METHOD) {
        fs_reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                       r->method, r->path, r->allow);
        return r;
    }
    r->route_name = name;
    r->handler = ((handler_slot *)data)->fn;
    r->shape = ((handler_slot *)data)->shape;
    /* Concurrency: past the limit a request is refused at once, in its route's shape, so
     * clients back off instead of piling up behind busy workers. The health check stays
     * answerable so an operator can see a busy server. */
    if (in_flight > s->cfg.max_concurrent && strcmp(name, "healthz")) {
        fs_reply_error(r, 503, "busy", "the server is busy (%d requests in progress); try again shortly",
                       s->cfg.max_concurrent);
        char after[16];
        snprintf(after, sizeof after, "%d", FS_SERVER_BUSY_RETRY_AFTER_S);
        fs_reply_header(r, MHD_HTTP_HEADER_RETRY_AFTER, after);
        return r;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (n > s->cfg.max_body) {
            fs_reply_error(r, 413, "payload_too_large", "the body is %llu bytes; the limit is %zu", n,
                           s->cfg.max_body);
            return r;
        }
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->keep_raw = !content_type_is(ct, "multipart/form-data");
    if (!r->keep_raw || content_type_is(ct, "application/x-www-form-urlencoded")) {
        r->pp = MHD_create_post_processor(c, SERVER_POST_BUFFER, on_post_field, r);
        if (!r->pp) fs_reply_error(r, 400, "bad_request", "malformed %s header (missing boundary?)", MHD_HTTP_HEADER_CONTENT_TYPE);
    }
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    fs_server *s = cls;
    fs_req *r = *con_cls;
    if (!r) {
        r = begin(s, c, url, method);
        if (!r) return MHD_NO;
        *con_cls = r;
        /* An early answer (404, 405, 413, 400) is sent now; libmicrohttpd then skips the body
         * and closes the connection instead of reading it. */
        return r->resp ? queue(r) : MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        r->received += n;
        if (r->resp || r->too_large || r->bad_body) {
            /* Dropping a body we will refuse; stop reading altogether past the slack. */
            return r->received > s->cfg.max_body + SERVER_DISCARD_SLACK ? MHD_NO : MHD_YES;
        }
        if (r->received > s->cfg.max_body) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        /* A urlencoded parse error is not fatal: the raw bytes may be what the route wants. */
        if (r->pp && MHD_post_process(r->pp, upload, n) != MHD_YES && !r->keep_raw) r->bad_body = 1;
        if (r->keep_raw && !append(&r->body, &r->body_len, &r->body_cap, upload, n)) {
            r->too_large = 1; /* out of memory for this body: refuse it as too large */
        }
        return MHD_YES;
    }
    if (r->queued) return MHD_YES;
    if (r->too_large) {
        fs_reply_error(r, 413, "payload_too_large", "the body exceeds the limit of %zu bytes", s->cfg.max_body);
    } else if (r->bad_body) {
        fs_reply_error(r, 400, "bad_request", "malformed form body");
    } else if (!r->resp) {
        assert(r->handler);
        r->handler(r);
    }
    return queue(r);
}

/* Copies src into the log line's dst: control bytes masked (a client cannot forge log lines
 * with %0a) and anything shaped like an API key ("fsk_" and hex digits) cut to "fsk_***", so a
 * key a client put in the path or the request id by mistake never reaches the log. */
static void log_copy(char *dst, size_t cap, const char *src) {
    size_t o = 0;
    for (size_t i = 0; src[i] && o + 1 < cap;) {
        if (!strncmp(src + i, FS_KEY_PREFIX, 4) && isxdigit((unsigned char)src[i + 4])) {
            static const char mark[] = FS_KEY_PREFIX "***";
            for (size_t k = 0; mark[k] && o + 1 < cap; k++) dst[o++] = mark[k];
            for (i += 4; isxdigit((unsigned char)src[i]); i++) {}
            continue;
        }
        unsigned char ch = (unsigned char)src[i++];
        dst[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    dst[o] = '\0';
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)c;
    fs_server *s = cls;
    fs_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double ms = fs_now_ms() - r->start_ms;
    unsigned status = r->queued ? r->status : 0;
    const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                      : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (timed out)"
                      : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? " (client closed)"
                      : " (aborted)";
    /* The path is logged without its query string (libmicrohttpd keeps them apart), so a key
     * passed as a query argument never reaches the log; decoded control bytes (%0a) are masked
     * so a client cannot forge log lines. */
    char path[SERVER_LOG_PATH_MAX], id[FS_REQUEST_ID_MAX + 1];
    log_copy(path, sizeof path, r->path);
    log_copy(id, sizeof id, r->id);
    fs_log(FS_LOG_INFO, "%s %s %u %llu %.1fms id=%s%s", r->method, path, status,
           (unsigned long long)r->resp_bytes, ms, id, how);
    fs_metrics_request(s->metrics, r->route_name ? r->route_name : "unmatched", status, ms);
    req_free(r);
    atomic_fetch_sub(&s->in_flight, 1);
    fs_metrics_in_flight(s->metrics, atomic_load(&s->in_flight));
}

/* libmicrohttpd's percent-decoding of the path and query arguments, except that %00 stays as
 * written: decoded, a NUL would cut "/x%00/../../secret" to "/x" and hide the rest of the path
 * from every check after it. Decodes in place; returns the new length. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    char *w = s;
    const char *rd = s;
    while (*rd) {
        if (rd[0] == '%' && isxdigit((unsigned char)rd[1]) && isxdigit((unsigned char)rd[2])) {
            char hex[3] = {rd[1], rd[2], 0};
            char v = (char)strtol(hex, NULL, 16);
            if (v) {
                *w++ = v;
                rd += 3;
                continue;
            }
        }
        *w++ = *rd++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* ---------------------------------------------------------------- lifecycle */

static const char *keep(fs_server *s, int slot, const char *v) {
    assert(slot < (int)(sizeof s->strings / sizeof s->strings[0]));
    if (!v) return NULL;
    s->strings[slot] = strdup(v);
    return s->strings[slot];
}

fs_err fs_server_route(fs_server *s, const char *method, const char *pattern, const char *name,
                       fs_handler handler, fs_msg *msg) {
    return fs_server_route_shaped(s, method, pattern, name, handler, NULL, msg);
}

fs_err fs_server_route_shaped(fs_server *s, const char *method, const char *pattern,
                              const char *name, fs_handler handler, fs_error_shape shape,
                              fs_msg *msg) {
    if (s->daemon) return fs_fail(msg, FS_ERR_INVALID, "routes must be added before the server starts");
    if (s->nhandlers >= SERVER_MAX_ROUTES) return fs_fail(msg, FS_ERR_LIMIT, "too many routes");
    handler_slot *slot = &s->handlers[s->nhandlers];
    slot->fn = handler;
    slot->shape = shape;
    fs_err e = fs_router_add(s->router, method, pattern, name, slot, msg);
    if (e == FS_OK) s->nhandlers++;
    return e;
}

fs_err fs_server_create(const fs_server_config *cfg, fs_store *store, fs_server **out, fs_msg *msg) {
    *out = NULL;
    fs_server *s = calloc(1, sizeof *s);
    if (!s) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    s->cfg.host = keep(s, 0, cfg->host ? cfg->host : FS_SERVER_DEFAULT_HOST);
    s->cfg.data_dir = keep(s, 1, cfg->data_dir);
    s->cfg.dataset_dir = keep(s, 2, cfg->dataset_dir);
    s->cfg.models_dir = keep(s, 3, cfg->models_dir);
    s->cfg.web_dir = keep(s, 4, cfg->web_dir);
    s->cfg.openapi_path = keep(s, 5, cfg->openapi_path);
    s->cfg.fetch_first_hop = keep(s, 6, cfg->fetch_first_hop);
    if (s->cfg.max_concurrent <= 0) s->cfg.max_concurrent = FS_SERVER_DEFAULT_MAX_CONCURRENT;
    if (s->cfg.max_concurrent > FS_SERVER_MAX_CONCURRENT_LIMIT) s->cfg.max_concurrent = FS_SERVER_MAX_CONCURRENT_LIMIT;
    if (s->cfg.workers <= 0) s->cfg.workers = fs_cpu_count();
    if (s->cfg.workers > FS_SERVER_MAX_WORKERS) s->cfg.workers = FS_SERVER_MAX_WORKERS;
    if (s->cfg.request_timeout_s <= 0) s->cfg.request_timeout_s = FS_SERVER_DEFAULT_TIMEOUT_S;
    if (s->cfg.max_body == 0) s->cfg.max_body = FS_SERVER_DEFAULT_MAX_BODY;
    s->store = store;
    s->metrics = fs_metrics_create();
    s->router = fs_router_create();
    atomic_init(&s->in_flight, 0);
    fs_err e = FS_OK;
    if (!s->metrics || !s->router || !s->cfg.host) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    if (e == FS_OK) e = fs_routes_health_register(s, msg);
    if (e == FS_OK) e = fs_routes_admin_register(s, msg);
    if (e != FS_OK) {
        fs_server_free(s);
        return e;
    }
    *out = s;
    return FS_OK;
}

fs_err fs_server_start(fs_server *s, fs_msg *msg) {
    if (s->daemon) return fs_fail(msg, FS_ERR_INVALID, "server already started");
    fs_err e;
    /* Static files last: the router treats a lone tail as a fallback anyway. */
    if (s->cfg.web_dir && (e = fs_routes_static_register(s, msg)) != FS_OK) return e;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    int rc = getaddrinfo(s->cfg.host, port, &hints, &ai);
    if (rc != 0 || !ai) return fs_fail(msg, FS_ERR_INVALID, "cannot resolve host %s: %s", s->cfg.host, gai_strerror(rc));
    /* poll, not epoll: with epoll, libmicrohttpd 0.9.75 leaves a connection whose request line
     * overflowed its memory pool open until the idle timeout (a tiny request could hold a slot
     * for 30 s); with poll it is closed at once. test_limits.sh checks it. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.workers,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FS_SERVER_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVER_CONNECTION_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) return fs_fail(msg, FS_ERR_IO, "cannot listen on %s:%d (in use or not allowed?)", s->cfg.host, s->cfg.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    return FS_OK;
}

int fs_server_port(const fs_server *s) { return s->port; }
const fs_server_config *fs_server_config_of(const fs_server *s) { return &s->cfg; }
fs_store *fs_server_store(fs_server *s) { return s->store; }
void fs_server_set_app(fs_server *s, void *app) { s->app = app; }
void *fs_server_app(fs_server *s) { return s->app; }
fs_metrics *fs_server_metrics(fs_server *s) { return s->metrics; }

int fs_server_shutdown(fs_server *s, int grace_ms) {
    if (!s->daemon || s->stopped) return 0;
    MHD_socket listen_fd = MHD_quiesce_daemon(s->daemon);
    double until = fs_now_ms() + grace_ms;
    while (atomic_load(&s->in_flight) > 0 && fs_now_ms() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->in_flight);
    if (left > 0) fs_log(FS_LOG_WARN, "shutdown: %d request(s) still running after %d ms; stopping anyway", left, grace_ms);
    MHD_stop_daemon(s->daemon);
    /* After quiescing, the listening socket is ours to close. */
    if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
    s->daemon = NULL;
    s->stopped = 1;
    return left;
}

void fs_server_free(fs_server *s) {
    if (!s) return;
    if (s->daemon) fs_server_shutdown(s, 0);
    fs_router_free(s->router);
    fs_metrics_free(s->metrics);
    for (size_t i = 0; i < sizeof s->strings / sizeof s->strings[0]; i++) free(s->strings[i]);
    free(s);
}
