/* Store: migrations, keys, blobs, media, results, models, tasks on a temporary data dir. */
#include "fs_test.h"
#include "fs_test_store.h"
#include "fakescope/sha256.h"
#include "fakescope/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state) {
    (void)state;
    return fs_test_mkdtemp(dir, sizeof dir, "store");
}

static int teardown(void **state) {
    (void)state;
    return fs_test_rmtree(dir);
}

static int count_rows(const char *sql) {
    long long n = fs_test_store_sql(dir, sql);
    assert_true(n >= 0);
    return (int)n;
}

static void migrations_idempotent_on_reopen(void **state) {
    (void)state;
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    assert_int_equal(fs_store_schema_version(s), fs_store_schema_latest());
    assert_true(fs_store_schema_latest() >= 1);
    fs_store_close(s);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
        assert_int_equal(fs_store_schema_version(s), fs_store_schema_latest());
        fs_store_close(s);
    }
    /* One row per applied migration, none applied twice. */
    assert_int_equal(count_rows("SELECT COUNT(*) FROM schema_version"), fs_store_schema_latest());
    assert_int_equal(count_rows(fs_test_pg_admin()
                                    ? "SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN "
                                      "('models','api_keys','media','results','tasks')"
                                    : "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                                      "('models','api_keys','media','results','tasks')"), 5);
}

static void journal_is_wal(void **state) {
    (void)state;
    if (fs_test_pg_admin()) skip(); /* SQLite's journal */
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    fs_store_close(s);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, FS_STORE_DB_NAME);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void newer_schema_refused(void **state) {
    (void)state;
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    fs_store_close(s);
    assert_int_equal(fs_test_store_sql(dir, "INSERT INTO schema_version VALUES (999)"), 0);
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_ERR_UNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(m.text, "999"));
}

static void keys_create_verify_revoke(void **state) {
    (void)state;
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    int64_t n;
    assert_int_equal(fs_store_key_count(s, &n, &m), FS_OK);
    assert_int_equal(n, 0);
    fs_key_info a, b, got;
    char sa[FS_KEY_SECRET_LEN + 1], sb[FS_KEY_SECRET_LEN + 1];
    assert_int_equal(fs_store_key_create(s, "alice", 1, &a, sa, &m), FS_OK);
    assert_int_equal(fs_store_key_create(s, "bob", 0, &b, sb, &m), FS_OK);
    assert_int_equal(strlen(sa), FS_KEY_SECRET_LEN);
    assert_memory_equal(sa, "fsk_", 4);
    assert_string_not_equal(sa, sb);
    assert_memory_equal(a.prefix, sa, FS_KEY_DISPLAY_LEN);
    assert_int_equal(fs_store_key_verify(s, sa, &got, &m), FS_OK);
    assert_int_equal(got.id, a.id);
    assert_true(got.is_admin);
    assert_int_equal(fs_store_key_verify(s, sb, &got, &m), FS_OK);
    assert_false(got.is_admin);
    /* One changed digit, a truncated key, garbage: all refused. */
    char wrong[FS_KEY_SECRET_LEN + 1];
    memcpy(wrong, sa, sizeof wrong);
    wrong[FS_KEY_SECRET_LEN - 1] = wrong[FS_KEY_SECRET_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(fs_store_key_verify(s, wrong, &got, &m), FS_ERR_AUTH);
    assert_int_equal(fs_store_key_verify(s, "fsk_short", &got, &m), FS_ERR_AUTH);
    assert_int_equal(fs_store_key_verify(s, "", &got, &m), FS_ERR_AUTH);
    assert_int_equal(fs_store_key_verify(s, NULL, &got, &m), FS_ERR_AUTH);
    /* The secret itself is nowhere in the database. */
    char sql[512], digest[FS_SHA256_HEX];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM api_keys WHERE secret_sha256 || name || prefix LIKE '%%%s%%'", sa + 4);
    fs_store_close(s);
    assert_int_equal(count_rows(sql), 0);
    /* What is kept is its SHA-256. */
    fs_sha256_hex(sa, strlen(sa), digest);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM api_keys WHERE secret_sha256 = '%s' AND is_admin = 1", digest);
    assert_int_equal(count_rows(sql), 1);
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    /* Revoke survives reopening and is refused afterwards. */
    assert_int_equal(fs_store_key_revoke(s, b.id, &m), FS_OK);
    assert_int_equal(fs_store_key_revoke(s, 9999, &m), FS_ERR_NOTFOUND);
    fs_store_close(s);
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    assert_int_equal(fs_store_key_verify(s, sb, &got, &m), FS_ERR_AUTH);
    assert_non_null(strstr(m.text, "revoked"));
    fs_key_info *list;
    size_t nl;
    assert_int_equal(fs_store_key_list(s, &list, &nl, &m), FS_OK);
    assert_int_equal(nl, 2);
    assert_string_equal(list[0].name, "alice");
    assert_int_equal(list[0].revoked_at, 0);
    assert_true(list[1].revoked_at > 0);
    free(list);
    assert_int_equal(fs_store_key_create(s, "", 0, NULL, sa, &m), FS_ERR_INVALID);
    assert_int_equal(fs_store_key_create(s, "bad\nname", 0, NULL, sa, &m), FS_ERR_INVALID);
    fs_store_close(s);
}

static void constant_time_hash_compare(void **state) {
    (void)state;
    char hex[FS_SHA256_HEX];
    assert_int_equal(fs_sha256_hex("abc", 3, hex), FS_OK);
    /* FIPS 180-2 test vector. */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(fs_key_hash_matches(hex, "abc"));
    assert_false(fs_key_hash_matches(hex, "abd"));
    assert_false(fs_key_hash_matches(hex, ""));
    assert_false(fs_key_hash_matches("nothex", "abc"));
    assert_false(fs_key_hash_matches(NULL, "abc"));
    /* A file digest equals the buffer digest, across the 64 KiB read blocks. */
    enum { N = 200001 };
    uint8_t *data = malloc(N);
    for (size_t i = 0; i < N; i++) data[i] = (uint8_t)(i ^ (i >> 9));
    char path[] = "/tmp/fs_sha_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, N), N);
    close(fd);
    char from_file[FS_SHA256_HEX], from_buf[FS_SHA256_HEX];
    fs_msg m;
    assert_int_equal(fs_sha256_file_hex(path, from_file, &m), FS_OK);
    assert_int_equal(fs_sha256_hex(data, N, from_buf), FS_OK);
    assert_string_equal(from_file, from_buf);
    assert_true(fs_sha256_hex_valid(from_file));
    unlink(path);
    assert_int_equal(fs_sha256_file_hex(path, from_file, &m), FS_ERR_NOTFOUND);
    assert_int_equal(fs_sha256_hex("", 0, from_buf), FS_OK);
    assert_string_equal(from_buf, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(data);
}

static void blob_roundtrip_and_damage(void **state) {
    (void)state;
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    const char data[] = "some media bytes";
    char hex[FS_SHA256_HEX], again[FS_SHA256_HEX], want[FS_SHA256_HEX];
    assert_int_equal(fs_store_blob_put(s, data, sizeof data - 1, hex, &m), FS_OK);
    fs_sha256_hex(data, sizeof data - 1, want);
    assert_string_equal(hex, want);
    assert_int_equal(fs_store_blob_put(s, data, sizeof data - 1, again, &m), FS_OK);
    assert_string_equal(again, hex);
    char path[1200], expect[1200];
    assert_int_equal(fs_store_blob_path(s, hex, path, sizeof path, &m), FS_OK);
    snprintf(expect, sizeof expect, "%s/blobs/%.2s/%s", dir, hex, hex + 2);
    assert_string_equal(path, expect);
    uint8_t *got;
    size_t len;
    assert_int_equal(fs_store_blob_get(s, hex, 1 << 20, &got, &len, &m), FS_OK);
    assert_int_equal(len, sizeof data - 1);
    assert_memory_equal(got, data, len);
    free(got);
    /* Damage the file: the digest no longer matches its name. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fputc('X', f);
    fclose(f);
    assert_int_equal(fs_store_blob_get(s, hex, 1 << 20, &got, &len, &m), FS_ERR_FORMAT);
    assert_null(got);
    assert_non_null(strstr(m.text, "damaged"));
    /* Names that are not digests never reach the file system. */
    assert_int_equal(fs_store_blob_get(s, "../../etc/passwd", 100, &got, &len, &m), FS_ERR_INVALID);
    assert_int_equal(fs_store_blob_path(s, "ABCDEF", path, sizeof path, &m), FS_ERR_INVALID);
    char upper[FS_SHA256_HEX];
    memcpy(upper, hex, sizeof upper);
    upper[0] = 'A';
    assert_int_equal(fs_store_blob_get(s, upper, 100, &got, &len, &m), FS_ERR_INVALID);
    char absent[FS_SHA256_HEX];
    memset(absent, '0', 64);
    absent[64] = '\0';
    assert_int_equal(fs_store_blob_get(s, absent, 100, &got, &len, &m), FS_ERR_NOTFOUND);
    fs_store_close(s);
}

static void media_and_results_roundtrip(void **state) {
    (void)state;
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    fs_media_info mi, mi2;
    assert_int_equal(fs_store_media_put(s, "jpegbytes", 9, "image/jpeg", &mi, &m), FS_OK);
    assert_int_equal(mi.size, 9);
    assert_string_equal(mi.mime, "image/jpeg");
    assert_int_equal(fs_store_media_put(s, "jpegbytes", 9, "image/jpeg", &mi2, &m), FS_OK);
    assert_string_equal(mi.sha256, mi2.sha256);
    assert_int_equal(access(mi.blob_path, R_OK), 0);
    char *json;
    assert_int_equal(fs_store_result_get(s, mi.sha256, "mesonet:v1", &json, &m), FS_ERR_NOTFOUND);
    assert_int_equal(fs_store_result_put(s, mi.sha256, "mesonet:v1", "{\"p\":0.25}", &m), FS_OK);
    assert_int_equal(fs_store_result_put(s, mi.sha256, "xception:v1", "{\"p\":0.75}", &m), FS_OK);
    assert_int_equal(fs_store_result_put(s, mi.sha256, "mesonet:v1", "{\"p\":0.5}", &m), FS_OK);
    fs_store_close(s);
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    assert_int_equal(fs_store_result_get(s, mi.sha256, "mesonet:v1", &json, &m), FS_OK);
    assert_string_equal(json, "{\"p\":0.5}");
    free(json);
    assert_int_equal(fs_store_result_get(s, mi.sha256, "xception:v1", &json, &m), FS_OK);
    assert_string_equal(json, "{\"p\":0.75}");
    free(json);
    assert_int_equal(fs_store_result_put(s, "nothex", "x", "{}", &m), FS_ERR_INVALID);
    fs_store_close(s);
    assert_int_equal(count_rows("SELECT COUNT(*) FROM results"), 2);
    assert_int_equal(count_rows("SELECT COUNT(*) FROM media"), 1);
}

static void models_and_tasks(void **state) {
    (void)state;
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    fs_model_row row = {.id = "m-1", .name = "meso4", .arch = "meso4", .card_json = "{\"a\":1}"};
    assert_int_equal(fs_store_model_put(s, &row, &m), FS_OK);
    row.card_json = "{\"a\":2}";
    assert_int_equal(fs_store_model_put(s, &row, &m), FS_OK);
    fs_model_row *rows;
    size_t n;
    assert_int_equal(fs_store_model_list(s, &rows, &n, &m), FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].card_json, "{\"a\":2}");
    fs_model_rows_free(rows, n);

    fs_task t;
    assert_int_equal(fs_store_task_claim(s, &t, &m), FS_ERR_NOTFOUND);
    char id1[FS_TASK_ID_LEN + 1], id2[FS_TASK_ID_LEN + 1];
    assert_int_equal(fs_store_task_create(s, "scan", "media:abc", id1, &m), FS_OK);
    assert_int_equal(fs_store_task_create(s, "scan", "media:def", id2, &m), FS_OK);
    assert_string_not_equal(id1, id2);
    assert_int_equal(fs_store_task_claim(s, &t, &m), FS_OK);
    assert_int_equal(t.status, FS_TASK_RUNNING);
    assert_int_equal(t.attempts, 1);
    char first[FS_TASK_ID_LEN + 1];
    memcpy(first, t.id, sizeof first);
    assert_int_equal(fs_store_task_claim(s, &t, &m), FS_OK);
    assert_string_not_equal(t.id, first);
    assert_int_equal(fs_store_task_claim(s, &t, &m), FS_ERR_NOTFOUND);
    assert_int_equal(fs_store_task_progress(s, first, 0.5, &m), FS_OK);
    assert_int_equal(fs_store_task_progress(s, first, 2.0, &m), FS_ERR_INVALID);
    assert_int_equal(fs_store_task_finish(s, first, 1, "result:1", NULL, &m), FS_OK);
    assert_int_equal(fs_store_task_get(s, first, &t, &m), FS_OK);
    assert_int_equal(t.status, FS_TASK_DONE);
    assert_true(t.progress == 1.0);
    assert_string_equal(t.result_ref, "result:1");
    assert_int_equal(fs_store_task_finish(s, "nope", 0, NULL, "x", &m), FS_ERR_NOTFOUND);
    fs_store_close(s);
}

typedef struct worker {
    fs_store *s;
    const uint8_t *data;
    size_t len;
    int ok;
} worker;

static void *put_same_blob(void *arg) {
    worker *w = arg;
    for (int i = 0; i < 8; i++) {
        char hex[FS_SHA256_HEX], name[32];
        fs_msg m;
        if (fs_store_blob_put(w->s, w->data, w->len, hex, &m) == FS_OK) w->ok++;
        snprintf(name, sizeof name, "k%d", i);
        if (fs_store_key_create(w->s, name, 0, NULL, NULL, &m) == FS_OK) w->ok++;
    }
    return NULL;
}

/* Several threads storing the same bytes and creating keys on one store. */
static void concurrent_writers(void **state) {
    (void)state;
    fs_store *s;
    fs_msg m;
    assert_int_equal(fs_test_store_open(dir, &s, &m), FS_OK);
    enum { T = 4, LEN = 1 << 20 };
    uint8_t *data = malloc(LEN);
    for (size_t i = 0; i < LEN; i++) data[i] = (uint8_t)(i * 31 + 7);
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){s, data, LEN, 0};
        pthread_create(&th[i], NULL, put_same_blob, &w[i]);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) assert_int_equal(w[i].ok, 16);
    char hex[FS_SHA256_HEX];
    fs_sha256_hex(data, LEN, hex);
    uint8_t *got;
    size_t len;
    assert_int_equal(fs_store_blob_get(s, hex, LEN, &got, &len, &m), FS_OK);
    assert_int_equal(len, LEN);
    free(got);
    int64_t n;
    assert_int_equal(fs_store_key_count(s, &n, &m), FS_OK);
    assert_int_equal(n, T * 8);
    fs_store_close(s);
    free(data);
    /* No temporary file is left beside the blob. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(find %s/blobs -name '*.tmp.*')\"", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_idempotent_on_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(journal_is_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_create_verify_revoke, setup, teardown),
        cmocka_unit_test(constant_time_hash_compare),
        cmocka_unit_test_setup_teardown(blob_roundtrip_and_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(media_and_results_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(models_and_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_writers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
