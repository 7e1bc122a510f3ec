/* fetch: the address policy on every kind of address, data: URLs, and what is refused before
 * any network (schemes, malformed URLs). Transfers over sockets are covered by the image check
 * integration test, against a local server. */
#include "fs_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "fakescope/fetch.h"

static int refused(const char *text) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &a->sin_addr), 1);
    }
    return fs_fetch_address_refused((struct sockaddr *)&ss);
}

static void test_policy(void **state) {
    (void)state;
    static const char *const bad[] = {
        "0.0.0.0", "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255",
        "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.255",
        "192.0.0.8", "198.18.0.1", "198.19.255.255", "224.0.0.1", "239.1.1.1", "240.0.0.1",
        "255.255.255.255", "::", "::1", "fe80::1", "fec0::1", "fc00::1", "fd00:ec2::254", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "::10.0.0.1",
    };
    static const char *const good[] = {
        "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
        "169.253.1.1", "192.0.1.1", "192.169.0.1", "198.17.255.255", "198.20.0.1", "223.255.255.255",
        "11.0.0.1", "2001:4860:4860::8888", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!refused(bad[i])) fail_msg("%s should be refused", bad[i]);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (refused(good[i])) fail_msg("%s should be allowed", good[i]);
    }
    struct sockaddr other = {.sa_family = AF_UNIX};
    assert_true(fs_fetch_address_refused(&other));
    assert_true(fs_fetch_address_refused(NULL));
}

static void test_data_urls(void **state) {
    (void)state;
    uint8_t *d;
    size_t n;
    fs_msg msg;
    assert_int_equal(fs_fetch("data:image/png;base64,aGVsbG8=", NULL, &d, &n, &msg), FS_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(d, "hello", 5);
    free(d);
    /* unpadded, upper-case scheme */
    assert_int_equal(fs_fetch("DATA:text/plain;base64,aGVsbG8", NULL, &d, &n, &msg), FS_OK);
    assert_int_equal(n, 5);
    free(d);
    /* larger than core's credential decoder takes: 300 kB */
    size_t big = 300000;
    char *url = malloc(big / 3 * 4 + 64);
    assert_non_null(url);
    strcpy(url, "data:application/octet-stream;base64,");
    size_t off = strlen(url);
    for (size_t i = 0; i < big / 3; i++) memcpy(url + off + 4 * i, "AAEC", 4);
    url[off + big / 3 * 4] = '\0';
    assert_int_equal(fs_fetch(url, NULL, &d, &n, &msg), FS_OK);
    assert_int_equal(n, big);
    assert_int_equal(d[0], 0);
    assert_int_equal(d[1], 1);
    assert_int_equal(d[2], 2);
    free(d);
    fs_fetch_opts o = fs_fetch_opts_default();
    o.max_bytes = 1000;
    assert_int_equal(fs_fetch(url, &o, &d, &n, &msg), FS_ERR_LIMIT);
    assert_null(d);
    free(url);
    assert_int_equal(fs_fetch("data:image/png;base64,a", NULL, &d, &n, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_fetch("data:image/png;base64,@@@@", NULL, &d, &n, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_fetch("data:image/png;base64,", NULL, &d, &n, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_fetch("data:image/png,plain", NULL, &d, &n, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_fetch("data:image/png;base64", NULL, &d, &n, &msg), FS_ERR_INVALID);
}

static void test_refused_before_network(void **state) {
    (void)state;
    uint8_t *d;
    size_t n;
    fs_msg msg;
    static const char *const urls[] = {"", "ftp://example.com/a.jpg", "file:///etc/passwd",
                                       "gopher://x/", "not a url", "http://", "//example.com/a.jpg"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        fs_err e = fs_fetch(urls[i], NULL, &d, &n, &msg);
        if (e != FS_ERR_INVALID) fail_msg("'%s' gave %s: %s", urls[i], fs_err_name(e), msg.text);
        assert_null(d);
    }
    /* loopback by number and by name, with the default policy: refused at connect time */
    assert_int_equal(fs_fetch("http://127.0.0.1:9/x.jpg", NULL, &d, &n, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "127.0.0.1"));
    assert_int_equal(fs_fetch("http://localhost:9/x.jpg", NULL, &d, &n, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_fetch("http://[::1]:9/x.jpg", NULL, &d, &n, &msg), FS_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_data_urls),
        cmocka_unit_test(test_refused_before_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
