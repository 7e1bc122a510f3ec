/* The server in-process on 127.0.0.1:0 with test routes, driven by libcurl: multipart fields
 * arrive byte-exact, JSON and urlencoded bodies, path/query/header access, file answers, HEAD,
 * a handler that forgets to answer, the body limit while streaming, and shutdown. */
#include "fs_test.h"
#include "fakescope/server.h"
#include "fakescope/sha256.h"

#include <curl/curl.h>
#include <pthread.h>
#include <unistd.h>

static char dir[64], file_path[128];
static fs_store *store;
static fs_server *srv;
static char base[64];

static void echo(fs_req *r) {
    json_t *o = json_object();
    json_object_set_new(o, "a", json_string(fs_req_param(r, "a")));
    json_object_set_new(o, "b", json_string(fs_req_param(r, "b")));
    const char *q = fs_req_query(r, "q"), *h = fs_req_header(r, "x-thing");
    json_object_set_new(o, "q", q ? json_string(q) : json_null());
    json_object_set_new(o, "thing", h ? json_string(h) : json_null());
    size_t len;
    fs_req_body(r, &len);
    json_object_set_new(o, "body_len", json_integer((json_int_t)len));
    json_t *fields = json_array();
    for (size_t i = 0; i < fs_req_form_count(r); i++) {
        const fs_form_field *f = fs_req_form_at(r, i);
        char hex[FS_SHA256_HEX];
        fs_sha256_hex(f->data ? (const void *)f->data : "", f->len, hex);
        json_array_append_new(fields, json_pack("{s:s, s:s?, s:s?, s:I, s:s}", "name", f->name,
                                                "filename", f->filename, "type", f->content_type,
                                                "len", (json_int_t)f->len, "sha256", hex));
    }
    json_object_set_new(o, "fields", fields);
    fs_msg m;
    json_t *j = len ? fs_req_json(r, &m) : NULL;
    json_object_set(o, "json", j ? j : json_null());
    json_object_set_new(o, "remaining_ms", json_real(fs_req_remaining_ms(r)));
    json_object_set_new(o, "expired", json_boolean(fs_req_expired(r)));
    json_object_set_new(o, "id", json_string(fs_req_id(r)));
    fs_reply_json(r, 200, o);
}

static void file(fs_req *r) { fs_reply_file(r, file_path, NULL); }
static void forgetful(fs_req *r) { (void)r; }
static void twice(fs_req *r) {
    fs_reply_bytes(r, 202, "text/plain", "first", 5);
    fs_reply_bytes(r, 200, "text/plain", "second", 6);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/fs_srv_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(file_path, sizeof file_path, "%s/page.html", dir);
    FILE *f = fopen(file_path, "w");
    fputs("<p>hello</p>", f);
    fclose(f);
    fs_msg m;
    if (fs_store_open(dir, &store, &m) != FS_OK) return -1;
    fs_server_config cfg;
    fs_server_config_defaults(&cfg);
    cfg.port = 0;
    cfg.workers = 2;
    cfg.max_body = 1 << 20;
    cfg.web_dir = NULL;
    cfg.data_dir = dir;
    if (fs_server_create(&cfg, store, &srv, &m) != FS_OK) return -1;
    if (fs_server_route(srv, "POST", "/echo/:a/:b/", "echo", echo, &m) != FS_OK) return -1;
    if (fs_server_route(srv, "GET", "/file", "file", file, &m) != FS_OK) return -1;
    if (fs_server_route(srv, "GET", "/forgetful", "forgetful", forgetful, &m) != FS_OK) return -1;
    if (fs_server_route(srv, "GET", "/twice", "twice", twice, &m) != FS_OK) return -1;
    if (fs_server_start(srv, &m) != FS_OK) return -1;
    /* Routes cannot be added once serving. */
    if (fs_server_route(srv, "GET", "/late", "late", file, &m) != FS_ERR_INVALID) return -1;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", fs_server_port(srv));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    int left = fs_server_shutdown(srv, 5000);
    fs_server_free(srv);
    fs_store_close(store);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return left == 0 && system(cmd) == 0 ? 0 : -1;
}

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t collect(char *data, size_t size, size_t n, void *ud) {
    buf *b = ud;
    char *p = realloc(b->p, b->n + size * n + 1);
    if (!p) return 0;
    memcpy(p + b->n, data, size * n);
    b->p = p;
    b->n += size * n;
    b->p[b->n] = '\0';
    return size * n;
}

/* Performs a request; returns the status and the body (caller frees b->p). */
static long perform(CURL *c, const char *path, buf *b) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    b->p = NULL;
    b->n = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fail_msg("curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void multipart_fields_arrive_exactly(void **state) {
    (void)state;
    enum { IMG = 300000 };
    uint8_t *img = malloc(IMG);
    for (size_t i = 0; i < IMG; i++) img[i] = (uint8_t)(i * 2654435761u >> 13);
    char want[FS_SHA256_HEX];
    fs_sha256_hex(img, IMG, want);
    CURL *c = curl_easy_init();
    curl_mime *mime = curl_mime_init(c);
    curl_mimepart *p = curl_mime_addpart(mime);
    curl_mime_name(p, "image");
    curl_mime_filename(p, "face.jpg");
    curl_mime_type(p, "image/jpeg");
    curl_mime_data(p, (const char *)img, IMG);
    p = curl_mime_addpart(mime);
    curl_mime_name(p, "token");
    curl_mime_data(p, "abc", CURL_ZERO_TERMINATED);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    buf b;
    assert_int_equal(perform(c, "/echo/x/y?q=hello%20world", &b), 200);
    json_error_t err;
    json_t *o = json_loads(b.p, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "a")), "x");
    assert_string_equal(json_string_value(json_object_get(o, "q")), "hello world");
    json_t *fields = json_object_get(o, "fields");
    assert_int_equal(json_array_size(fields), 2);
    json_t *f0 = json_array_get(fields, 0), *f1 = json_array_get(fields, 1);
    assert_string_equal(json_string_value(json_object_get(f0, "name")), "image");
    assert_string_equal(json_string_value(json_object_get(f0, "filename")), "face.jpg");
    assert_string_equal(json_string_value(json_object_get(f0, "type")), "image/jpeg");
    assert_int_equal(json_integer_value(json_object_get(f0, "len")), IMG);
    assert_string_equal(json_string_value(json_object_get(f0, "sha256")), want);
    assert_string_equal(json_string_value(json_object_get(f1, "name")), "token");
    assert_int_equal(json_integer_value(json_object_get(f1, "len")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "body_len")), 0);
    assert_true(json_real_value(json_object_get(o, "remaining_ms")) > 1000);
    assert_false(json_is_true(json_object_get(o, "expired")));
    json_decref(o);
    free(b.p);
    curl_mime_free(mime);
    curl_easy_cleanup(c);
    free(img);
}

static void multipart_over_limit_is_413(void **state) {
    (void)state;
    enum { BIG = (1 << 20) + 4096 };
    char *big = calloc(1, BIG);
    CURL *c = curl_easy_init();
    curl_mime *mime = curl_mime_init(c);
    curl_mimepart *p = curl_mime_addpart(mime);
    curl_mime_name(p, "image");
    curl_mime_filename(p, "big.bin");
    curl_mime_data(p, big, BIG);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    buf b;
    assert_int_equal(perform(c, "/echo/x/y", &b), 413);
    assert_non_null(strstr(b.p, "payload_too_large"));
    free(b.p);
    curl_mime_free(mime);
    curl_easy_cleanup(c);
    free(big);
}

static void json_and_headers(void **state) {
    (void)state;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "X-Thing: 42");
    h = curl_slist_append(h, "X-Request-ID: inproc-1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"k\":[1,2]}");
    buf b;
    assert_int_equal(perform(c, "/echo/p/q", &b), 200);
    json_t *o = json_loads(b.p, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "thing")), "42");
    assert_string_equal(json_string_value(json_object_get(o, "id")), "inproc-1");
    assert_int_equal(json_integer_value(json_object_get(o, "body_len")), 11);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(o, "json"), "k"), 1)), 2);
    assert_true(json_is_null(json_object_get(o, "q")));
    json_decref(o);
    free(b.p);
    /* The same JSON under the urlencoded type (what `curl -d` sends) keeps its raw bytes. */
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(perform(c, "/echo/p/q", &b), 200);
    o = json_loads(b.p, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(o, "body_len")), 11);
    assert_true(json_is_object(json_object_get(o, "json")));
    json_decref(o);
    free(b.p);
    /* Real urlencoded fields are parsed too. */
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "name=bob&x=1%202");
    assert_int_equal(perform(c, "/echo/p/q", &b), 200);
    o = json_loads(b.p, 0, NULL);
    json_t *fields = json_object_get(o, "fields");
    assert_int_equal(json_array_size(fields), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 1), "name")), "x");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(fields, 1), "len")), 3);
    json_decref(o);
    free(b.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void files_head_and_handler_mistakes(void **state) {
    (void)state;
    CURL *c = curl_easy_init();
    buf b;
    assert_int_equal(perform(c, "/file", &b), 200);
    assert_string_equal(b.p, "<p>hello</p>");
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    assert_string_equal(ct, "text/html; charset=utf-8");
    free(b.p);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    assert_int_equal(perform(c, "/file", &b), 200);
    assert_null(b.p);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    assert_int_equal(perform(c, "/forgetful", &b), 500);
    assert_non_null(strstr(b.p, "did not answer"));
    free(b.p);
    assert_int_equal(perform(c, "/twice", &b), 202);
    assert_string_equal(b.p, "first");
    free(b.p);
    curl_easy_cleanup(c);
}

typedef struct hammer {
    int ok;
} hammer;

static void *hammer_run(void *arg) {
    hammer *h = arg;
    CURL *c = curl_easy_init();
    for (int i = 0; i < 50; i++) {
        buf b;
        if (perform(c, "/healthz", &b) == 200 && b.p && strstr(b.p, "\"ok\"")) h->ok++;
        free(b.p);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void concurrent_requests(void **state) {
    (void)state;
    enum { T = 4 };
    pthread_t th[T];
    hammer h[T] = {{0}};
    for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, hammer_run, &h[i]);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) assert_int_equal(h[i].ok, 50);
    /* A request is counted when libmicrohttpd reports it complete, which may be a moment after
     * the client has read the answer: wait (bounded) for the last ones. */
    int seen = 0;
    for (int tries = 0; tries < 200 && !seen; tries++) {
        char *m = fs_metrics_render(fs_server_metrics(srv));
        seen = strstr(m, "fakescope_http_requests_total{route=\"healthz\",status=\"200\"} 200\n") != NULL;
        free(m);
        if (!seen) usleep(10000);
    }
    assert_true(seen);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multipart_fields_arrive_exactly),
        cmocka_unit_test(multipart_over_limit_is_413),
        cmocka_unit_test(json_and_headers),
        cmocka_unit_test(files_head_and_handler_mistakes),
        cmocka_unit_test(concurrent_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
