/* Recognition records in the store: specs, networks and versions round-trip, lists page and
 * count, foreign keys refuse deleting what a version uses, and a network's blob goes with the
 * last network that uses its bytes. */
#include "fs_test.h"
#include "fs_test_store.h"
#include "fakescope/recognition.h"
#include "fakescope/store.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state) {
    (void)state;
    return fs_test_mkdtemp(dir, sizeof dir, "rec");
}

static int teardown(void **state) {
    (void)state;
    return fs_test_rmtree(dir);
}

static int64_t make_spec(fs_store *s, const char *name, int detection) {
    fs_rec_spec r = {.name = (char *)name, .description = "d", .detection = detection,
                     .labels_json = "[\"real\",\"fake\"]"};
    fs_msg msg;
    assert_int_equal(fs_rec_spec_create(s, &r, &msg), FS_OK);
    assert_true(r.id > 0);
    return r.id;
}

static int64_t make_network(fs_store *s, const char *name, const char *bytes) {
    fs_rec_network r = {.name = (char *)name, .architecture = "meso4",
                        .preprocessing_json = "{}", .output = "p_real", .input_h = 256,
                        .input_w = 256, .input_c = 3, .size = (int64_t)strlen(bytes)};
    fs_msg msg;
    assert_int_equal(fs_store_blob_put(s, bytes, strlen(bytes), r.sha256, &msg), FS_OK);
    assert_int_equal(fs_rec_network_create(s, &r, &msg), FS_OK);
    return r.id;
}

static int blob_exists(fs_store *s, const char *hex) {
    char path[2048];
    assert_int_equal(fs_store_blob_path(s, hex, path, sizeof path, NULL), FS_OK);
    struct stat st;
    return stat(path, &st) == 0;
}

static void specs_roundtrip_update_and_page(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    int64_t ids[7];
    for (int i = 0; i < 7; i++) {
        char name[16];
        snprintf(name, sizeof name, "spec%d", i);
        ids[i] = make_spec(s, name, i % 2);
    }
    fs_rec_spec r;
    assert_int_equal(fs_rec_spec_get(s, ids[3], &r, &msg), FS_OK);
    assert_string_equal(r.name, "spec3");
    assert_int_equal(r.detection, 1);
    assert_string_equal(r.labels_json, "[\"real\",\"fake\"]");
    int64_t created = r.created_us;
    fs_rec_spec_clear(&r);
    assert_int_equal(fs_rec_spec_update(s, ids[3], NULL, "new", &msg), FS_OK);
    assert_int_equal(fs_rec_spec_get(s, ids[3], &r, &msg), FS_OK);
    assert_string_equal(r.name, "spec3"); /* NULL keeps it */
    assert_string_equal(r.description, "new");
    assert_true(r.updated_us >= created);
    fs_rec_spec_clear(&r);
    assert_int_equal(fs_rec_spec_update(s, 999, "x", NULL, &msg), FS_ERR_NOTFOUND);
    assert_int_equal(fs_rec_spec_get(s, 999, &r, &msg), FS_ERR_NOTFOUND);

    fs_rec_spec *rows;
    size_t n;
    int64_t total;
    assert_int_equal(fs_rec_spec_list(s, 3, 5, &rows, &n, &total, &msg), FS_OK);
    assert_int_equal(total, 7);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, ids[5]);
    assert_int_equal(rows[1].id, ids[6]);
    fs_rec_spec_list_free(rows, n);
    assert_int_equal(fs_rec_spec_list(s, 3, 70, &rows, &n, &total, &msg), FS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, 7);
    fs_rec_spec_list_free(rows, n);
    assert_int_equal(fs_rec_spec_list(s, -1, 0, &rows, &n, &total, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_rec_spec_delete(s, ids[0], &msg), FS_OK);
    assert_int_equal(fs_rec_spec_delete(s, ids[0], &msg), FS_ERR_NOTFOUND);
    fs_store_close(s);
}

static void versions_pin_specs_and_networks(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    int64_t spec = make_spec(s, "deepfake", 0), other = make_spec(s, "other", 0);
    int64_t net = make_network(s, "meso", "weights-bytes");
    fs_rec_version v = {.spec_id = spec, .network_id = net, .post_json = "[{\"classification\":{}}]"};
    assert_int_equal(fs_rec_version_create(s, &v, &msg), FS_OK);
    fs_rec_version bad = {.spec_id = 999, .network_id = net, .post_json = "[]"};
    assert_int_equal(fs_rec_version_create(s, &bad, &msg), FS_ERR_NOTFOUND);
    assert_non_null(strstr(msg.text, "spec_id"));
    bad.spec_id = spec;
    bad.network_id = 999;
    assert_int_equal(fs_rec_version_create(s, &bad, &msg), FS_ERR_NOTFOUND);
    assert_non_null(strstr(msg.text, "network_id"));

    fs_rec_version got;
    assert_int_equal(fs_rec_version_get(s, v.id, &got, &msg), FS_OK);
    assert_string_equal(got.spec_name, "deepfake");
    assert_string_equal(got.network_name, "meso");
    assert_string_equal(got.post_json, "[{\"classification\":{}}]");
    fs_rec_version_clear(&got);

    fs_rec_version *rows;
    size_t n;
    int64_t total;
    assert_int_equal(fs_rec_version_list(s, other, 10, 0, &rows, &n, &total, &msg), FS_OK);
    assert_int_equal(total, 0);
    fs_rec_version_list_free(rows, n);
    assert_int_equal(fs_rec_version_list(s, spec, 10, 0, &rows, &n, &total, &msg), FS_OK);
    assert_int_equal(total, 1);
    assert_int_equal(rows[0].id, v.id);
    fs_rec_version_list_free(rows, n);

    assert_int_equal(fs_rec_spec_delete(s, spec, &msg), FS_ERR_CONFLICT);
    assert_int_equal(fs_rec_network_delete(s, net, &msg), FS_ERR_CONFLICT);
    fs_rec_network nr;
    assert_int_equal(fs_rec_network_get(s, net, &nr, &msg), FS_OK); /* still there */
    assert_true(blob_exists(s, nr.sha256));
    fs_rec_network_clear(&nr);
    assert_int_equal(fs_rec_version_delete(s, v.id, &msg), FS_OK);
    assert_int_equal(fs_rec_version_delete(s, v.id, &msg), FS_ERR_NOTFOUND);
    /* The last id is not handed out again: a deleted version stays deleted. */
    fs_rec_version again = {.spec_id = spec, .network_id = net, .post_json = "[]"};
    assert_int_equal(fs_rec_version_create(s, &again, &msg), FS_OK);
    assert_true(again.id > v.id);
    assert_int_equal(fs_rec_version_get(s, v.id, &got, &msg), FS_ERR_NOTFOUND);
    assert_int_equal(fs_rec_version_delete(s, again.id, &msg), FS_OK);
    assert_int_equal(fs_rec_spec_delete(s, spec, &msg), FS_OK);
    assert_int_equal(fs_rec_network_delete(s, net, &msg), FS_OK);
    fs_store_close(s);
}

static void blob_goes_with_its_last_network(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    int64_t a = make_network(s, "a", "same bytes"), b = make_network(s, "b", "same bytes");
    fs_rec_network ra, rb;
    assert_int_equal(fs_rec_network_get(s, a, &ra, &msg), FS_OK);
    assert_int_equal(fs_rec_network_get(s, b, &rb, &msg), FS_OK);
    assert_string_equal(ra.sha256, rb.sha256);
    assert_int_equal(fs_rec_network_delete(s, a, &msg), FS_OK);
    assert_true(blob_exists(s, ra.sha256));
    assert_int_equal(fs_rec_network_delete(s, b, &msg), FS_OK);
    assert_false(blob_exists(s, ra.sha256));
    assert_int_equal(fs_rec_network_delete(s, b, &msg), FS_ERR_NOTFOUND);
    fs_rec_network_clear(&ra);
    fs_rec_network_clear(&rb);
    fs_store_close(s);
}

static void iso8601_format(void **state) {
    (void)state;
    char buf[48];
    fs_rec_iso8601(1520620243404610LL, buf, sizeof buf);
    assert_string_equal(buf, "2018-03-09T18:30:43.404610Z");
    fs_rec_iso8601(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iso8601_format),
        cmocka_unit_test_setup_teardown(specs_roundtrip_update_and_page, setup, teardown),
        cmocka_unit_test_setup_teardown(versions_pin_specs_and_networks, setup, teardown),
        cmocka_unit_test_setup_teardown(blob_goes_with_its_last_network, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
