/* Tests of the model registry: scanning folders, skipping bad cards with warnings, lookups,
 * the FAKESCOPE_MODELS folders and the checked load of a model's weights. */
#include "fs_test.h"
#include "fakescope/card.h"

#include <ctype.h>
#include <pthread.h>
#include <unistd.h>

static char root[64], dir_a[96], dir_b[96];

/* Writes NAME.safetensors (one tensor, arch "tiny") and, if card_weights is non-NULL, a card
 * NAME.json naming card_weights; returns the card's id in id. */
static void make_model(const char *dir, const char *file_stem, const char *name,
                       const char *card_weights, char id[FS_UUID_BUF]) {
    fs_msg m;
    fs_weights w = {0};
    float v[3] = {1, 2, 3};
    int64_t s[1] = {3};
    assert_int_equal(fs_weights_add(&w, "x.weight", 1, s, v, &m), FS_OK);
    assert_int_equal(fs_weights_set_meta(&w, "arch", "tiny", &m), FS_OK);
    char wpath[256], cpath[256], wfile[128];
    snprintf(wfile, sizeof wfile, "%s.safetensors", file_stem);
    snprintf(wpath, sizeof wpath, "%s/%s", dir, wfile);
    snprintf(cpath, sizeof cpath, "%s/%s.json", dir, file_stem);
    assert_int_equal(fs_weights_save_safetensors(&w, wpath, &m), FS_OK);
    fs_weights_free(&w);
    fs_card c = {0};
    assert_int_equal(fs_uuid_v4(c.id, &m), FS_OK);
    assert_int_equal(fs_sha256_file(wpath, c.sha256, &m), FS_OK);
    c.name = (char *)name;
    c.description = "test model";
    c.architecture = "tiny";
    c.labels[0] = "real";
    c.labels[1] = "fake";
    c.fake_label = "fake";
    c.output = "p_fake";
    c.input_width = c.input_height = 256;
    c.preprocessing = "rgb/255";
    c.weights = (char *)(card_weights ? card_weights : wfile);
    assert_int_equal(fs_card_save(&c, cpath, &m), FS_OK);
    if (id) memcpy(id, c.id, FS_UUID_BUF);
}

static void write_text(const char *dir, const char *file, const char *text) {
    char path[256];
    fs_msg m;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    assert_int_equal(fs_write_file(path, text, strlen(text), &m), FS_OK);
}

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/fs_registry_XXXXXX");
    if (!mkdtemp(root)) return -1;
    snprintf(dir_a, sizeof dir_a, "%s/a", root);
    snprintf(dir_b, sizeof dir_b, "%s/b", root);
    fs_msg m;
    return fs_mkdirs(dir_a, &m) || fs_mkdirs(dir_b, &m);
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd);
}

static char id_alpha[FS_UUID_BUF], id_beta[FS_UUID_BUF];

static void *lookups(void *arg) {
    const fs_registry *r = arg;
    for (int i = 0; i < 2000; i++)
        if (!fs_registry_find(r, "alpha") || !fs_registry_find(r, id_beta)) return (void *)1;
    return NULL;
}

static void scans_and_skips(void **state) {
    (void)state;
    make_model(dir_a, "alpha", "alpha", NULL, id_alpha);
    make_model(dir_a, "orphan", "orphan", "gone.safetensors", NULL);   /* weights missing */
    make_model(dir_a, "zz-dup", "alpha", NULL, NULL);                   /* repeats alpha */
    write_text(dir_a, "broken.json", "{\"id\": \"nope\", \"weights\": \"x.safetensors\"");
    write_text(dir_a, "badfield.json", "{\"weights\": \"alpha.safetensors\", \"name\": 3}");
    write_text(dir_a, "split.json", "{\"train\": [1, 2], \"test\": [3]}"); /* not a card */
    write_text(dir_a, "notes.txt", "not json");
    make_model(dir_b, "beta", "beta", NULL, id_beta);

    const char *dirs[] = {dir_a, dir_b};
    fs_registry *r;
    fs_msg m;
    assert_int_equal(fs_registry_open(dirs, 2, &r, &m), FS_OK);
    assert_int_equal(fs_registry_count(r), 2);
    assert_string_equal(fs_registry_at(r, 0)->card.name, "alpha");
    assert_string_equal(fs_registry_at(r, 1)->card.name, "beta");
    assert_null(fs_registry_at(r, 2));
    assert_int_equal(fs_registry_dir_count(r), 2);

    /* One warning each for the orphan, the duplicate, the broken and the ill-typed card. */
    assert_int_equal(fs_registry_warning_count(r), 4);
    int orphan = 0, dup = 0, broken = 0, badfield = 0;
    for (size_t i = 0; i < fs_registry_warning_count(r); i++) {
        const char *w = fs_registry_warning(r, i);
        orphan |= strstr(w, "orphan.json") && strstr(w, "gone.safetensors is missing");
        dup |= strstr(w, "zz-dup.json") && strstr(w, "name repeats");
        broken |= strstr(w, "broken.json") && strstr(w, "not valid JSON");
        badfield |= strstr(w, "badfield.json") && strstr(w, "field");
    }
    assert_true(orphan && dup && broken && badfield);

    const fs_model_entry *e = fs_registry_find(r, "alpha");
    assert_non_null(e);
    assert_non_null(strstr(e->weights_path, "/a/alpha.safetensors"));
    assert_non_null(strstr(e->card_path, "/a/alpha.json"));
    /* by id, in any case */
    char upper[FS_UUID_BUF];
    for (int i = 0; i < FS_UUID_BUF; i++) upper[i] = (char)toupper((unsigned char)id_beta[i]);
    e = fs_registry_find(r, upper);
    assert_non_null(e);
    assert_string_equal(e->card.name, "beta");
    assert_null(fs_registry_find(r, "orphan"));
    assert_null(fs_registry_find(r, "gamma"));

    /* Shared read-only between threads. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, lookups, r), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }

    /* Weights load after the hash check; a changed file is refused. */
    fs_weights w;
    e = fs_registry_find(r, "alpha");
    assert_int_equal(fs_model_load_weights(e, &w, &m), FS_OK);
    assert_non_null(fs_weights_get(&w, "x.weight"));
    fs_weights_free(&w);
    fs_weights other = {0};
    float v[3] = {9, 9, 9};
    int64_t s[1] = {3};
    assert_int_equal(fs_weights_add(&other, "x.weight", 1, s, v, &m), FS_OK);
    assert_int_equal(fs_weights_save_safetensors(&other, e->weights_path, &m), FS_OK);
    fs_weights_free(&other);
    assert_int_equal(fs_model_load_weights(e, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "SHA-256"));
    assert_int_equal(w.count, 0);
    fs_registry_free(r);
}

static void explicit_missing_dir(void **state) {
    (void)state;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none", root);
    const char *dirs[] = {missing};
    fs_registry *r = (fs_registry *)1;
    fs_msg m;
    assert_int_equal(fs_registry_open(dirs, 1, &r, &m), FS_ERR_NOTFOUND);
    assert_null(r);
    assert_non_null(strstr(m.text, missing));
}

static void env_folders(void **state) {
    (void)state;
    char env[512];
    snprintf(env, sizeof env, "%s:%s/none:%s", dir_b, root, dir_a);
    setenv("FAKESCOPE_MODELS", env, 1);
    fs_registry *r;
    fs_msg m;
    assert_int_equal(fs_registry_open(NULL, 0, &r, &m), FS_OK);
    unsetenv("FAKESCOPE_MODELS");
    assert_true(fs_registry_dir_count(r) >= 2);
    assert_string_equal(fs_registry_dir(r, 0), dir_b);
    assert_string_equal(fs_registry_dir(r, 1), dir_a);
    assert_non_null(fs_registry_find(r, "beta"));
    assert_non_null(fs_registry_find(r, id_alpha));
    int warned = 0;
    for (size_t i = 0; i < fs_registry_warning_count(r); i++)
        warned |= strstr(fs_registry_warning(r, i), "/none") != NULL;
    assert_true(warned);
    fs_registry_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scans_and_skips),
        cmocka_unit_test(explicit_missing_dir),
        cmocka_unit_test(env_folders),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
