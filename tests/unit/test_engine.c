/* fs_engine: shared models, scanner reuse, removal while in use, concurrent scans. */
#include "fs_test.h"

#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "fakescope/engine.h"
#include "fakescope/model.h"

static char weights_path[512], image_path[512];
static char empty_dir[] = "/tmp/fs_engine_XXXXXX";

static int have_data(void) {
    char buf[512];
    if (!fs_test_shared("mesonet/weights/Meso4_DF.h5", buf, sizeof buf)) return 0;
    snprintf(weights_path, sizeof weights_path, "%s", buf);
    if (!fs_test_shared("mesonet/test_images/df/df00204.jpg", buf, sizeof buf)) return 0;
    snprintf(image_path, sizeof image_path, "%s", buf);
    return 1;
}

static fs_engine *make_engine(void) {
    const char *dirs[] = {empty_dir};
    fs_engine_config cfg = {.model_dirs = dirs, .n_model_dirs = 1, .threads_per_scan = 1};
    fs_engine *e = NULL;
    fs_msg m;
    assert_int_equal(fs_engine_create(&cfg, &e, &m), FS_OK);
    fs_weights w = {0};
    assert_int_equal(fs_weights_import_keras(weights_path, "meso4", &w, &m), FS_OK);
    assert_int_equal(fs_engine_add(e, "m4", &w, "meso4", 0, &m), FS_OK);
    assert_int_equal(fs_engine_add(e, "m4", &w, "meso4", 0, &m), FS_ERR_CONFLICT);
    fs_weights_free(&w);
    return e;
}

static double scan_once(fs_engine *e, fs_scanner **used) {
    const char *names[] = {"m4"};
    fs_scanner *s = NULL;
    fs_msg m;
    assert_int_equal(fs_engine_acquire(e, names, 1, &s, &m), FS_OK);
    fs_scan_opts o = fs_scan_opts_default();
    fs_scan_result r;
    assert_int_equal(fs_scan_file(s, image_path, &o, &r, &m), FS_OK);
    assert_int_equal(r.overall.status, FS_VERDICT_OK);
    double p = r.overall.verdicts[FS_H_AVERAGE].p_fake;
    fs_scan_result_free(&r);
    if (used) *used = s;
    fs_engine_release(e, s);
    return p;
}

static void reuses_scanners_and_matches_direct_net(void **state) {
    (void)state;
    if (!have_data()) skip();
    fs_engine *e = make_engine();
    fs_scanner *a = NULL, *b = NULL;
    double p1 = scan_once(e, &a), p2 = scan_once(e, &b);
    assert_ptr_equal(a, b); /* the idle scanner came back */
    assert_true(p1 == p2);
    /* The df test image is a deepfake the original Meso4_DF weights recognise. */
    assert_true(p1 > 0.9);
    fs_engine_model info;
    fs_msg m;
    assert_int_equal(fs_engine_lookup(e, "m4", &info, &m), FS_OK);
    assert_string_equal(info.arch, "meso4");
    /* a run-time model carries its weights' digest: the same weights under another name give
     * the same digest, one changed value another (results are keyed by it) */
    assert_int_equal(strlen(info.digest), 16);
    fs_weights w = {0};
    assert_int_equal(fs_weights_import_keras(weights_path, "meso4", &w, &m), FS_OK);
    assert_int_equal(fs_engine_add(e, "same", &w, "meso4", 0, &m), FS_OK);
    w.items[0].data[0] += 0.5f;
    assert_int_equal(fs_engine_add(e, "changed", &w, "meso4", 0, &m), FS_OK);
    fs_weights_free(&w);
    fs_engine_model same, changed;
    assert_int_equal(fs_engine_lookup(e, "same", &same, &m), FS_OK);
    assert_int_equal(fs_engine_lookup(e, "changed", &changed, &m), FS_OK);
    assert_string_equal(same.digest, info.digest);
    assert_string_not_equal(changed.digest, info.digest);
    assert_int_equal(fs_engine_remove(e, "same", &m), FS_OK);
    assert_int_equal(fs_engine_remove(e, "changed", &m), FS_OK);
    assert_int_equal(fs_engine_lookup(e, "nope", &info, &m), FS_ERR_NOTFOUND);
    char **names;
    size_t n;
    assert_int_equal(fs_engine_names(e, &names, &n, &m), FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "m4");
    free(names);
    fs_engine_free(e);
}

static void removal_waits_for_running_scans(void **state) {
    (void)state;
    if (!have_data()) skip();
    fs_engine *e = make_engine();
    const char *names[] = {"m4"};
    fs_scanner *s = NULL;
    fs_msg m;
    assert_int_equal(fs_engine_acquire(e, names, 1, &s, &m), FS_OK);
    const fs_net *net = NULL;
    assert_int_equal(fs_engine_net(e, "m4", &net, &m), FS_OK);
    assert_int_equal(fs_engine_remove(e, "m4", &m), FS_OK);
    assert_int_equal(fs_engine_remove(e, "m4", &m), FS_ERR_NOTFOUND);
    /* The scanner taken before the removal still works (ASan catches a use after free). */
    fs_scan_opts o = fs_scan_opts_default();
    fs_scan_result r;
    assert_int_equal(fs_scan_file(s, image_path, &o, &r, &m), FS_OK);
    fs_scan_result_free(&r);
    assert_non_null(fs_net_arch(net));
    fs_engine_release(e, s);
    fs_engine_net_release(e, net);
    fs_scanner *s2 = NULL;
    assert_int_equal(fs_engine_acquire(e, names, 1, &s2, &m), FS_ERR_NOTFOUND);
    assert_null(s2);
    fs_engine_free(e);
}

static void *worker(void *arg) {
    fs_engine *e = arg;
    double first = scan_once(e, NULL);
    for (int i = 0; i < 3; i++)
        if (scan_once(e, NULL) != first) return (void *)1;
    return NULL;
}

static void concurrent_scans_agree(void **state) {
    (void)state;
    if (!have_data()) skip();
    fs_engine *e = make_engine();
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, e), 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    fs_engine_free(e);
}

int main(void) {
    assert_non_null(mkdtemp(empty_dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reuses_scanners_and_matches_direct_net),
        cmocka_unit_test(removal_waits_for_running_scans),
        cmocka_unit_test(concurrent_scans_agree),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(empty_dir);
    return rc;
}
