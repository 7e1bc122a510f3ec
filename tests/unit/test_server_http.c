/* Server helpers without sockets: router patterns, request ids, credential extraction, static
 * path safety, content types, base64, metrics exposition. */
#include "fs_test.h"
#include "fakescope/base64.h"
#include "fakescope/http.h"
#include "fakescope/metrics.h"

#include <limits.h>
#include <unistd.h>

static int A, B, C, D, S;

static fs_router *make_router(void) {
    fs_router *r = fs_router_create();
    fs_msg m;
    assert_int_equal(fs_router_add(r, "GET", "/healthz", "healthz", &A, &m), FS_OK);
    assert_int_equal(fs_router_add(r, "POST", "/api/predictions/:modelID/:numImgs/:convIdx/", "pred", &B, &m), FS_OK);
    assert_int_equal(fs_router_add(r, "GET", "/admin/keys", "keys_list", &C, &m), FS_OK);
    assert_int_equal(fs_router_add(r, "DELETE", "/admin/keys/:id", "keys_revoke", &D, &m), FS_OK);
    assert_int_equal(fs_router_add(r, "POST", "/admin/keys", "keys_create", &C, &m), FS_OK);
    assert_int_equal(fs_router_add(r, "GET", "/*path", "static", &S, &m), FS_OK);
    return r;
}

static void router_matches_patterns(void **state) {
    (void)state;
    fs_router *r = make_router();
    void *data;
    const char *name;
    fs_route_params p;
    char allow[64];
    assert_int_equal(fs_router_match(r, "GET", "/healthz", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    assert_ptr_equal(data, &A);
    assert_string_equal(name, "healthz");
    /* Trailing slash tolerated both ways, and HEAD follows GET. */
    assert_int_equal(fs_router_match(r, "HEAD", "/healthz/", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    assert_ptr_equal(data, &A);
    assert_int_equal(fs_router_match(r, "POST", "/api/predictions/m1/4/2/", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    assert_ptr_equal(data, &B);
    assert_string_equal(fs_route_param(&p, "modelID"), "m1");
    assert_string_equal(fs_route_param(&p, "numImgs"), "4");
    assert_string_equal(fs_route_param(&p, "convIdx"), "2");
    assert_null(fs_route_param(&p, "other"));
    assert_int_equal(fs_router_match(r, "POST", "/api/predictions/m1/4/2", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    /* Too few or too many segments do not match the parameter route. */
    assert_int_equal(fs_router_match(r, "POST", "/api/predictions/m1/4", &data, &name, &p, allow, sizeof allow), FS_ROUTE_NOT_FOUND);
    assert_int_equal(fs_router_match(r, "POST", "/api/predictions/m1/4/2/9", &data, &name, &p, allow, sizeof allow), FS_ROUTE_NOT_FOUND);
    /* Wrong method on a known path: 405 with the allowed methods. */
    assert_int_equal(fs_router_match(r, "PUT", "/admin/keys", &data, &name, &p, allow, sizeof allow), FS_ROUTE_BAD_METHOD);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(fs_router_match(r, "POST", "/healthz", &data, &name, &p, allow, sizeof allow), FS_ROUTE_BAD_METHOD);
    assert_string_equal(allow, "GET");
    assert_int_equal(fs_router_match(r, "DELETE", "/admin/keys/17", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    assert_string_equal(fs_route_param(&p, "id"), "17");
    /* The fallback serves other GETs with the whole tail, and never makes a 405. */
    assert_int_equal(fs_router_match(r, "GET", "/css/site.css", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    assert_ptr_equal(data, &S);
    assert_string_equal(fs_route_param(&p, "path"), "css/site.css");
    assert_int_equal(fs_router_match(r, "GET", "/", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    assert_string_equal(fs_route_param(&p, "path"), "");
    assert_int_equal(fs_router_match(r, "POST", "/nothing/here", &data, &name, &p, allow, sizeof allow), FS_ROUTE_NOT_FOUND);
    /* Literal segments are exact. */
    assert_int_equal(fs_router_match(r, "GET", "/healthzz", &data, &name, &p, allow, sizeof allow), FS_ROUTE_FOUND);
    assert_ptr_equal(data, &S);
    fs_router_free(r);

    fs_router *bad = fs_router_create();
    fs_msg m;
    assert_int_equal(fs_router_add(bad, "GET", "/a/*rest/b", "x", &A, &m), FS_ERR_INVALID);
    assert_int_equal(fs_router_add(bad, "GET", "no-slash", "x", &A, &m), FS_ERR_INVALID);
    assert_int_equal(fs_router_add(bad, "GET", "/a/:", "x", &A, &m), FS_ERR_INVALID);
    fs_router_free(bad);
}

static void request_ids(void **state) {
    (void)state;
    assert_true(fs_request_id_valid("abc-123_XYZ.~"));
    assert_false(fs_request_id_valid(""));
    assert_false(fs_request_id_valid(NULL));
    assert_false(fs_request_id_valid("has space"));
    assert_false(fs_request_id_valid("crlf\r\nInjected: 1"));
    assert_false(fs_request_id_valid("caf\xc3\xa9"));
    char longid[200];
    memset(longid, 'a', sizeof longid);
    longid[128] = '\0';
    assert_true(fs_request_id_valid(longid));
    longid[128] = 'a';
    longid[129] = '\0';
    assert_false(fs_request_id_valid(longid));
    char a[33], b[33];
    fs_request_id_generate(a);
    fs_request_id_generate(b);
    assert_int_equal(strlen(a), 32);
    assert_true(fs_request_id_valid(a));
    assert_string_not_equal(a, b);
}

static void credentials(void **state) {
    (void)state;
    char k[FS_CRED_MAX];
    assert_int_equal(fs_credentials_parse("Bearer fsk_abc", NULL, NULL, k, sizeof k), FS_CRED_BEARER);
    assert_string_equal(k, "fsk_abc");
    assert_int_equal(fs_credentials_parse("bearer   fsk_abc  ", NULL, NULL, k, sizeof k), FS_CRED_BEARER);
    assert_string_equal(k, "fsk_abc");
    assert_int_equal(fs_credentials_parse(NULL, "fsk_hdr", NULL, k, sizeof k), FS_CRED_HEADER);
    assert_string_equal(k, "fsk_hdr");
    /* Basic: "user:fsk_pw" -> password; "fsk_user:" -> user. */
    assert_int_equal(fs_credentials_parse("Basic dXNlcjpmc2tfcHc=", NULL, NULL, k, sizeof k), FS_CRED_BASIC);
    assert_string_equal(k, "fsk_pw");
    assert_int_equal(fs_credentials_parse("Basic ZnNrX3VzZXI6", NULL, NULL, k, sizeof k), FS_CRED_BASIC);
    assert_string_equal(k, "fsk_user");
    /* Unpadded base64 is accepted too ("user:fsk_pw" without '='). */
    assert_int_equal(fs_credentials_parse("Basic dXNlcjpmc2tfcHc", NULL, NULL, k, sizeof k), FS_CRED_BASIC);
    assert_string_equal(k, "fsk_pw");
    assert_int_equal(fs_credentials_parse("Basic !!!!", NULL, NULL, k, sizeof k), FS_CRED_NONE);
    assert_string_equal(k, "");
    assert_int_equal(fs_credentials_parse(NULL, NULL, "fsk_body", k, sizeof k), FS_CRED_BODY);
    assert_string_equal(k, "fsk_body");
    /* Order: Bearer beats the header, which beats the body. */
    assert_int_equal(fs_credentials_parse("Bearer one", "two", "three", k, sizeof k), FS_CRED_BEARER);
    assert_string_equal(k, "one");
    assert_int_equal(fs_credentials_parse("Digest x", "two", "three", k, sizeof k), FS_CRED_HEADER);
    assert_string_equal(k, "two");
    assert_int_equal(fs_credentials_parse("Bearer ", "", "", k, sizeof k), FS_CRED_NONE);
    assert_int_equal(fs_credentials_parse("Bearerfsk", NULL, NULL, k, sizeof k), FS_CRED_NONE);
    assert_int_equal(fs_credentials_parse("Bearer a b", NULL, NULL, k, sizeof k), FS_CRED_NONE);
    assert_int_equal(fs_credentials_parse(NULL, NULL, NULL, k, sizeof k), FS_CRED_NONE);
    /* Too long for the buffer: refused, not truncated into a different key. */
    char big[400];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fs_credentials_parse(NULL, big, NULL, k, sizeof k), FS_CRED_NONE);
}

static void base64_decoding(void **state) {
    (void)state;
    uint8_t out[32];
    size_t n;
    assert_int_equal(fs_base64_decode("aGVsbG8=", 8, out, sizeof out, &n), FS_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(fs_base64_decode("aGVsbG8", 7, out, sizeof out, &n), FS_OK);
    assert_int_equal(n, 5);
    assert_int_equal(fs_base64_decode("", 0, out, sizeof out, &n), FS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(fs_base64_decode("a", 1, out, sizeof out, &n), FS_ERR_FORMAT);
    assert_int_equal(fs_base64_decode("aGV$bG8=", 8, out, sizeof out, &n), FS_ERR_FORMAT);
    assert_int_equal(fs_base64_decode("aGVsbG8===", 10, out, sizeof out, &n), FS_ERR_FORMAT);
    assert_int_equal(fs_base64_decode("aGVsbG8=", 8, out, 5, &n), FS_ERR_LIMIT);
}

static char root[64], outside[64];

static int static_setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/fs_web_XXXXXX");
    snprintf(outside, sizeof outside, "/tmp/fs_out_XXXXXX");
    if (!mkdtemp(root) || !mkdtemp(outside)) return -1;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %1$s/css %1$s/sub && echo hi > %1$s/index.html && echo c > %1$s/css/site.css && "
             "echo s > %2$s/secret.txt && ln -s %2$s/secret.txt %1$s/link.txt && ln -s %2$s %1$s/outdir && "
             "ln -s css/site.css %1$s/inside.css && echo x > %1$s/sub/index.html",
             root, outside);
    return system(cmd) == 0 ? 0 : -1;
}

static int static_teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", root, outside);
    return system(cmd) == 0 ? 0 : -1;
}

static void static_paths(void **state) {
    (void)state;
    char out[PATH_MAX], real_root[PATH_MAX], want[PATH_MAX + 32];
    fs_msg m;
    assert_non_null(realpath(root, real_root));
    assert_int_equal(fs_static_resolve(root, "css/site.css", out, sizeof out, &m), FS_OK);
    snprintf(want, sizeof want, "%s/css/site.css", real_root);
    assert_string_equal(out, want);
    assert_int_equal(fs_static_resolve(root, "", out, sizeof out, &m), FS_OK);
    snprintf(want, sizeof want, "%s/index.html", real_root);
    assert_string_equal(out, want);
    assert_int_equal(fs_static_resolve(root, "sub", out, sizeof out, &m), FS_OK);
    assert_int_equal(fs_static_resolve(root, "inside.css", out, sizeof out, &m), FS_OK);
    /* Traversal in every spelling that can reach us after URL decoding. */
    const char *refused[] = {"..", "../", "../etc/passwd", "css/../../etc/passwd", "css/..",
                             "./index.html", "css/./site.css", "..%2fetc", "%2e%2e/x", "a\\..\\b",
                             "css//site.css", "link.txt", "outdir/secret.txt", "outdir", "x\x01y"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (fs_static_resolve(root, refused[i], out, sizeof out, &m) != FS_ERR_INVALID)
            fail_msg("%s was not refused", refused[i]);
    }
    /* An absolute path is taken relative to the root, never as itself. */
    assert_int_equal(fs_static_resolve(root, "/etc/passwd", out, sizeof out, &m), FS_ERR_NOTFOUND);
    assert_int_equal(fs_static_resolve(root, "missing.html", out, sizeof out, &m), FS_ERR_NOTFOUND);
    assert_int_equal(fs_static_resolve(root, "/index.html", out, sizeof out, &m), FS_OK);
}

static void content_types(void **state) {
    (void)state;
    assert_string_equal(fs_content_type("a/index.html"), "text/html; charset=utf-8");
    assert_string_equal(fs_content_type("x.JPG"), "image/jpeg");
    assert_string_equal(fs_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(fs_content_type("openapi.yaml"), "application/yaml");
    assert_string_equal(fs_content_type("dir.v2/noext"), "application/octet-stream");
    assert_string_equal(fs_content_type("trailingdot."), "application/octet-stream");
}

static void metrics_exposition(void **state) {
    (void)state;
    fs_metrics *m = fs_metrics_create();
    fs_metrics_request(m, "healthz", 200, 0.5);
    fs_metrics_request(m, "healthz", 200, 7);
    fs_metrics_request(m, "healthz", 404, 3000);
    fs_metrics_request(m, "evil\"label\n", 200, 1);
    fs_metrics_inference(m, "meso4", 3);
    fs_metrics_inference(m, "meso4", 2);
    fs_metrics_queue_depth(m, 7);
    char *t = fs_metrics_render(m);
    assert_non_null(t);
    assert_non_null(strstr(t, "fakescope_http_requests_total{route=\"healthz\",status=\"200\"} 2\n"));
    assert_non_null(strstr(t, "fakescope_http_requests_total{route=\"healthz\",status=\"404\"} 1\n"));
    assert_non_null(strstr(t, "route=\"evil_label_\""));
    assert_non_null(strstr(t, "fakescope_http_request_duration_seconds_bucket{le=\"0.001\"} 2\n"));
    assert_non_null(strstr(t, "fakescope_http_request_duration_seconds_bucket{le=\"0.01\"} 3\n"));
    assert_non_null(strstr(t, "fakescope_http_request_duration_seconds_bucket{le=\"2.5\"} 3\n"));
    assert_non_null(strstr(t, "fakescope_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(t, "fakescope_http_request_duration_seconds_count 4\n"));
    assert_non_null(strstr(t, "fakescope_inferences_total{model=\"meso4\"} 5\n"));
    assert_non_null(strstr(t, "fakescope_queue_depth 7\n"));
    free(t);
    fs_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(router_matches_patterns),
        cmocka_unit_test(request_ids),
        cmocka_unit_test(credentials),
        cmocka_unit_test(base64_decoding),
        cmocka_unit_test_setup_teardown(static_paths, static_setup, static_teardown),
        cmocka_unit_test(content_types),
        cmocka_unit_test(metrics_exposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
