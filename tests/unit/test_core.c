#include "fs_test.h"
#include "fakescope/core.h"
#include <unistd.h>

static void fail_formats_and_returns_code(void **state) {
    (void)state;
    fs_msg m;
    assert_int_equal(fs_fail(&m, FS_ERR_FORMAT, "bad %s at %d", "header", 7), FS_ERR_FORMAT);
    assert_string_equal(m.text, "bad header at 7");
    fs_msg_prefix(&m, "%s: ", "a.jpg");
    assert_string_equal(m.text, "a.jpg: bad header at 7");
    assert_int_equal(fs_fail(NULL, FS_ERR_IO, "ignored"), FS_ERR_IO);
    assert_string_equal(fs_err_name(FS_ERR_LIMIT), "limit");
}

static void read_write_roundtrip_and_limits(void **state) {
    (void)state;
    char dir[] = "/tmp/fs_core_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[256], path[300];
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    fs_msg m;
    assert_int_equal(fs_mkdirs(sub, &m), FS_OK);
    snprintf(path, sizeof path, "%s/file.bin", sub);
    assert_int_equal(fs_write_file(path, "hello", 5, &m), FS_OK);
    uint8_t *data;
    size_t len;
    assert_int_equal(fs_read_file(path, 100, &data, &len, &m), FS_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(fs_read_file(path, 4, &data, &len, &m), FS_ERR_LIMIT);
    assert_null(data);
    assert_int_equal(fs_read_file("/nonexistent/x", 4, &data, &len, &m), FS_ERR_NOTFOUND);
    assert_non_null(strstr(m.text, "/nonexistent/x"));
    assert_int_equal(fs_read_file(sub, 4, &data, &len, &m), FS_ERR_INVALID);
    unlink(path);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void clocks_advance(void **state) {
    (void)state;
    double a = fs_now_ms();
    usleep(2000);
    assert_true(fs_now_ms() - a >= 1.5);
    assert_true(fs_unix_time() > 1700000000);
    assert_true(fs_cpu_count() >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fail_formats_and_returns_code),
        cmocka_unit_test(read_write_roundtrip_and_limits),
        cmocka_unit_test(clocks_advance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
