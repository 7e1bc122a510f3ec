/* Unit tests of train/'s datasets: folder scanning (classes, kinds, sorting, refusals), the
 * grouping rule of each source set (FF++ pairs joined through union-find), deterministic and
 * stable splits with the ffpp-suggested overrides, and manifests written and read back to the
 * byte. Folder trees are made here from empty files; the shared data sets are scanned in place
 * when present, with their timing and counts printed. */
#define _XOPEN_SOURCE 700
#include "fs_test.h"

#include "fakescope/augment.h"
#include "fakescope/dataset.h"

#include <ftw.h>
#include <openssl/evp.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static void touch(const char *root, const char *rel) {
    char path[1024], dir[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    fs_msg msg;
    assert_int_equal(fs_mkdirs(dir, &msg), FS_OK);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *root) { nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *make_tmp(void) {
    char *t = strdup("/tmp/fs_dataset_XXXXXX");
    assert_non_null(mkdtemp(t));
    return t;
}

static const fs_item *find(const fs_dataset *ds, const char *suffix) {
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < ds->count; i++) {
        size_t pl = strlen(ds->items[i].path);
        if (pl >= sl && strcmp(ds->items[i].path + pl - sl, suffix) == 0) return &ds->items[i];
    }
    fail_msg("no item ends with %s", suffix);
    return NULL;
}

/* ---- scanning --------------------------------------------------------------------------- */

static void test_scan_classes_kinds_and_order(void **state) {
    (void)state;
    char *root = make_tmp();
    char set[1100];
    snprintf(set, sizeof set, "%s/myset", root);
    const char *files[] = {"real/b.JPG", "real/deep/er/a.png", "fake/z.webp", "DF/v.mp4",
                           "ai/x.jpeg", "ai/notes.txt", "real/.hidden.jpg", "fake/clip.MKV",
                           "LICENSE", "real/c.mov"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch(set, files[i]);
    fs_dataset ds = {0};
    fs_msg msg;
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    assert_int_equal(ds.count, 7);
    for (size_t i = 1; i < ds.count; i++)
        assert_true(strcmp(ds.items[i - 1].path, ds.items[i].path) < 0);
    assert_int_equal(find(&ds, "/real/b.JPG")->label, 0);
    assert_int_equal(find(&ds, "/real/deep/er/a.png")->kind, FS_ITEM_IMAGE);
    assert_int_equal(find(&ds, "/DF/v.mp4")->label, 1);
    assert_int_equal(find(&ds, "/DF/v.mp4")->kind, FS_ITEM_VIDEO);
    assert_int_equal(find(&ds, "/ai/x.jpeg")->label, 1);
    assert_int_equal(find(&ds, "/fake/clip.MKV")->kind, FS_ITEM_VIDEO);
    assert_int_equal(find(&ds, "/real/c.mov")->label, 0);
    assert_string_equal(find(&ds, "/fake/z.webp")->source, "myset");
    /* default rule: parent folder + stem */
    assert_string_equal(find(&ds, "/real/deep/er/a.png")->group, "myset:er/a");
    assert_string_equal(fs_dataset_group_rule("myset"), "default");

    /* a link back to an ancestor folder is not followed round the loop */
    char link[1200];
    snprintf(link, sizeof link, "%s/real/deep/er/loop", set);
    assert_int_equal(symlink("../..", link), 0);
    fs_dataset looped = {0};
    assert_int_equal(fs_dataset_scan(&looped, set, NULL, &msg), FS_OK);
    assert_int_equal(looped.count, 7);
    fs_dataset_free(&looped);
    unlink(link);

    /* the same source twice is a conflict, and leaves the dataset alone */
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_ERR_CONFLICT);
    assert_int_equal(ds.count, 7);
    /* a second source under another name is added and sorted in */
    assert_int_equal(fs_dataset_scan(&ds, set, "again", &msg), FS_OK);
    assert_int_equal(ds.count, 14);
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

static void test_scan_refusals(void **state) {
    (void)state;
    char *root = make_tmp();
    char set[1100];
    fs_dataset ds = {0};
    fs_msg msg;
    snprintf(set, sizeof set, "%s/bad", root);
    touch(set, "real/a.jpg");
    touch(set, "synthetic/b.jpg");
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, "synthetic"));
    assert_int_equal(ds.count, 0);

    snprintf(set, sizeof set, "%s/empty", root);
    touch(set, "real/readme.txt");
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, "no images"));

    snprintf(set, sizeof set, "%s/absent", root);
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_ERR_NOTFOUND);
    snprintf(set, sizeof set, "%s/empty/real/readme.txt", root);
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_ERR_INVALID);
    snprintf(set, sizeof set, "%s/empty", root);
    assert_int_equal(fs_dataset_scan(&ds, set, "a:b", &msg), FS_ERR_INVALID);
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

/* ---- grouping rules --------------------------------------------------------------------- */

static void test_group_rules(void **state) {
    (void)state;
    char *root = make_tmp();
    char set[1100];
    fs_dataset ds = {0};
    fs_msg msg;

    snprintf(set, sizeof set, "%s/mesonet-real-faces", root);
    touch(set, "real/100_0.jpg");
    touch(set, "real/100_124.jpg");
    touch(set, "real/7_3.jpg");
    touch(set, "real/odd.jpg");
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    assert_string_equal(find(&ds, "/100_0.jpg")->group, "mesonet-real-faces:100");
    assert_string_equal(find(&ds, "/100_124.jpg")->group, "mesonet-real-faces:100");
    assert_string_equal(find(&ds, "/7_3.jpg")->group, "mesonet-real-faces:7");
    assert_string_equal(find(&ds, "/odd.jpg")->group, "mesonet-real-faces:real/odd");

    snprintf(set, sizeof set, "%s/rmfd-real-faces", root);
    touch(set, "real/0_0_aidai_0014.jpg");
    touch(set, "real/1_0_aidai_0099.jpg");
    touch(set, "real/0_0_liu_de_hua_0001.jpg");
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    assert_string_equal(find(&ds, "/0_0_aidai_0014.jpg")->group, "rmfd-real-faces:aidai");
    assert_string_equal(find(&ds, "/1_0_aidai_0099.jpg")->group, "rmfd-real-faces:aidai");
    assert_string_equal(find(&ds, "/0_0_liu_de_hua_0001.jpg")->group, "rmfd-real-faces:liu_de_hua");

    snprintf(set, sizeof set, "%s/web-real-faces", root);
    touch(set, "real/12.jpg");
    touch(set, "real/augmented_image_3.jpg");
    touch(set, "real/augmented_image_40.jpg");
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    assert_string_equal(find(&ds, "/12.jpg")->group, "web-real-faces:12");
    assert_string_equal(find(&ds, "/augmented_image_3.jpg")->group, "web-real-faces:augmented");
    assert_string_equal(find(&ds, "/augmented_image_40.jpg")->group, "web-real-faces:augmented");

    snprintf(set, sizeof set, "%s/hardfake-vs-real", root);
    touch(set, "real/1.jpg");
    touch(set, "fake/fake_1.jpg");
    touch(set, "fake/sub/1.jpg");
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    assert_string_equal(find(&ds, "hardfake-vs-real/real/1.jpg")->group, "hardfake-vs-real:real/1");
    assert_string_equal(find(&ds, "hardfake-vs-real/fake/sub/1.jpg")->group,
                        "hardfake-vs-real:fake/sub/1");
    assert_string_equal(fs_dataset_group_rule("basemax-fakefaces"), "file");
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

static void test_group_ffpp_union_find(void **state) {
    (void)state;
    char *root = make_tmp();
    char set[1100];
    snprintf(set, sizeof set, "%s/ffpp-c40", root);
    const char *files[] = {
        "real/youtube/183.mp4", "real/youtube/253.mp4", "fake/Deepfakes/253_183.mp4",
        "fake/FaceSwap/183_253.mp4",
        /* a chain: 30_20 and 20_10 join 10, 20 and 30, named by the smallest (10, numerically) */
        "real/youtube/30.mp4", "fake/Deepfakes/30_20.mp4", "fake/Face2Face/20_100.mp4",
        "fake/NeuralTextures/100_10.mp4",
        /* a lone original */
        "real/youtube/866.mp4",
        "real/actors/01__kitchen_pan.mp4", "real/actors/01__podium_speech_happy.mp4",
        "real/actors/13__talking_against_wall.mp4", "NO_LICENSE_NOTE.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch(set, files[i]);
    fs_dataset ds = {0};
    fs_msg msg;
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    assert_int_equal(ds.count, 12);
    assert_string_equal(fs_dataset_group_rule("ffpp-c40"), "ffpp-identity");
    const char *pair[] = {"/183.mp4", "/253.mp4", "/253_183.mp4", "/183_253.mp4"};
    for (int i = 0; i < 4; i++) assert_string_equal(find(&ds, pair[i])->group, "ffpp-c40:183");
    const char *chain[] = {"/30.mp4", "/30_20.mp4", "/20_100.mp4", "/100_10.mp4"};
    for (int i = 0; i < 4; i++) assert_string_equal(find(&ds, chain[i])->group, "ffpp-c40:10");
    assert_string_equal(find(&ds, "/866.mp4")->group, "ffpp-c40:866");
    assert_string_equal(find(&ds, "/01__kitchen_pan.mp4")->group, "ffpp-c40:actor01");
    assert_string_equal(find(&ds, "/01__podium_speech_happy.mp4")->group, "ffpp-c40:actor01");
    assert_string_equal(find(&ds, "/13__talking_against_wall.mp4")->group, "ffpp-c40:actor13");
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

/* ---- splits ----------------------------------------------------------------------------- */

/* A dataset of n groups with 3 files each (mesonet naming), scanned from disk. */
static void make_groups(const char *set, int first, int n) {
    char rel[64];
    for (int g = first; g < first + n; g++)
        for (int f = 0; f < 3; f++) {
            snprintf(rel, sizeof rel, "real/%d_%d.jpg", g, f);
            touch(set, rel);
        }
}

static void test_split_by_group_stable_and_fractions(void **state) {
    (void)state;
    char *root = make_tmp();
    char set[1100];
    snprintf(set, sizeof set, "%s/mesonet-real-faces", root);
    make_groups(set, 0, 400);
    fs_dataset ds = {0};
    fs_msg msg;
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    fs_split_config cfg = {.train = 0.7, .val = 0.1, .test = 0.2, .seed = 42};
    assert_int_equal(fs_dataset_split(&ds, &cfg, &msg), FS_OK);
    fs_dataset_stats st;
    assert_int_equal(fs_dataset_stats_get(&ds, &st, &msg), FS_OK);
    assert_int_equal(st.groups, 400);
    /* no group on two sides: per-split group counts add up to the groups */
    assert_int_equal(st.groups_by_split[0] + st.groups_by_split[1] + st.groups_by_split[2], 400);
    /* fractions within a few binomial standard deviations (sd of 0.7*400 is ~9 groups) */
    assert_in_range(st.groups_by_split[FS_SPLIT_TRAIN], 250, 310);
    assert_in_range(st.groups_by_split[FS_SPLIT_VAL], 22, 60);
    assert_in_range(st.groups_by_split[FS_SPLIT_TEST], 55, 105);

    /* remember the split of every file, add 100 groups, and check nothing old moved */
    size_t n0 = ds.count;
    char **paths = calloc(n0, sizeof *paths);
    fs_split *splits = calloc(n0, sizeof *splits);
    for (size_t i = 0; i < n0; i++) paths[i] = strdup(ds.items[i].path), splits[i] = ds.items[i].split;
    fs_dataset_free(&ds);
    make_groups(set, 400, 100);
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    assert_int_equal(fs_dataset_split(&ds, &cfg, &msg), FS_OK);
    assert_int_equal(ds.count, n0 + 300);
    for (size_t i = 0; i < n0; i++) {
        assert_int_equal(find(&ds, paths[i])->split, splits[i]);
        free(paths[i]);
    }
    free(paths);

    /* another seed gives another split; the same seed the same */
    fs_split_config other = cfg;
    other.seed = 43;
    size_t moved = 0;
    fs_split *before = calloc(ds.count, sizeof *before);
    for (size_t i = 0; i < ds.count; i++) before[i] = ds.items[i].split;
    assert_int_equal(fs_dataset_split(&ds, &other, &msg), FS_OK);
    for (size_t i = 0; i < ds.count; i++) moved += before[i] != ds.items[i].split;
    assert_true(moved > ds.count / 5);
    assert_int_equal(fs_dataset_split(&ds, &cfg, &msg), FS_OK);
    for (size_t i = 0; i < ds.count; i++) assert_int_equal(before[i], ds.items[i].split);
    free(before);
    free(splits);

    /* a zero fraction is never used; bad configurations are refused */
    fs_split_config no_test = {.train = 0.5, .val = 0.5, .test = 0, .seed = 1};
    assert_int_equal(fs_dataset_split(&ds, &no_test, &msg), FS_OK);
    for (size_t i = 0; i < ds.count; i++) assert_int_not_equal(ds.items[i].split, FS_SPLIT_TEST);
    fs_split_config bad = {.train = 0.5, .val = 0.1, .test = 0.1};
    assert_int_equal(fs_dataset_split(&ds, &bad, &msg), FS_ERR_INVALID);
    fs_split_config neg = {.train = 1.2, .val = -0.2, .test = 0};
    assert_int_equal(fs_dataset_split(&ds, &neg, &msg), FS_ERR_INVALID);
    fs_split_config unknown = {.train = 1, .policy = "by-moon-phase"};
    assert_int_equal(fs_dataset_split(&ds, &unknown, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "by-moon-phase"));
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

static void test_split_ffpp_suggested(void **state) {
    (void)state;
    assert_int_equal(fs_split_override("ffpp-suggested", "ffpp-c40:183"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("ffpp-suggested", "ffpp-c40:469"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("ffpp-suggested", "ffpp-c40:585"), FS_SPLIT_TEST);
    assert_int_equal(fs_split_override("ffpp-suggested", "ffpp-c40:672"), FS_SPLIT_TEST);
    assert_int_equal(fs_split_override("ffpp-suggested", "ffpp-c40:actor09"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("ffpp-suggested", "ffpp-c40:actor10"), FS_SPLIT_TEST);
    assert_int_equal(fs_split_override("ffpp-suggested", "ffpp-c40:866"), -1);
    assert_int_equal(fs_split_override("ffpp-suggested", "mesonet-real-faces:183"), -1);
    assert_int_equal(fs_split_override("hash", "ffpp-c40:183"), -1);
    /* pinned under every policy */
    assert_int_equal(fs_split_override(NULL, "web-real-faces:augmented"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("hash", "web-real-faces:augmented"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("ffpp-suggested", "web-real-faces:augmented"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("hash", "web-real-faces:12"), -1);
    assert_int_equal(fs_split_override(NULL, "ffpp-c40:183"), -1);
    /* ffpp-val: the same test side; pair 469/481 and actors 08-09 move to validation */
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:183"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:469"), FS_SPLIT_VAL);
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:481"), FS_SPLIT_VAL);
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:585"), FS_SPLIT_TEST);
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:actor07"), FS_SPLIT_TRAIN);
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:actor08"), FS_SPLIT_VAL);
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:actor09"), FS_SPLIT_VAL);
    assert_int_equal(fs_split_override("ffpp-val", "ffpp-c40:actor13"), FS_SPLIT_TEST);
    assert_int_equal(fs_split_override("ffpp-val", "mesonet-real-faces:183"), -1);

    char *root = make_tmp();
    char set[1100];
    snprintf(set, sizeof set, "%s/ffpp-c40", root);
    const char *files[] = {"real/youtube/183.mp4", "real/youtube/253.mp4", "fake/DF/183_253.mp4",
                           "fake/DF/253_183.mp4", "real/youtube/585.mp4", "fake/DF/599_585.mp4",
                           "real/youtube/599.mp4", "real/youtube/672.mp4", "fake/DF/720_672.mp4",
                           "real/actors/02__x.mp4", "real/actors/13__y.mp4"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch(set, files[i]);
    fs_dataset ds = {0};
    fs_msg msg;
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    /* fractions that would put everything in train: the overrides must still hold out */
    fs_split_config cfg = {.train = 1, .seed = 7, .policy = "ffpp-suggested"};
    assert_int_equal(fs_dataset_split(&ds, &cfg, &msg), FS_OK);
    for (size_t i = 0; i < ds.count; i++) {
        const fs_item *it = &ds.items[i];
        int held = strstr(it->path, "585") || strstr(it->path, "599") || strstr(it->path, "672") ||
                   strstr(it->path, "720") || strstr(it->path, "13__");
        assert_int_equal(it->split, held ? FS_SPLIT_TEST : FS_SPLIT_TRAIN);
    }
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

/* ---- manifests -------------------------------------------------------------------------- */

static void assert_same_items(const fs_dataset *a, const fs_dataset *b) {
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        assert_string_equal(a->items[i].path, b->items[i].path);
        assert_string_equal(a->items[i].source, b->items[i].source);
        assert_string_equal(a->items[i].group, b->items[i].group);
        assert_int_equal(a->items[i].label, b->items[i].label);
        assert_int_equal(a->items[i].kind, b->items[i].kind);
        assert_int_equal(a->items[i].split, b->items[i].split);
    }
}

static void test_manifest_round_trip(void **state) {
    (void)state;
    char *root = make_tmp();
    char set[1100], man[1100], moved[1100];
    snprintf(set, sizeof set, "%s/data/odd set", root);
    /* names that need CSV quoting */
    const char *files[] = {"real/a,b.jpg", "real/say \"cheese\".png", "fake/plain.jpg",
                           "fake/line\nbreak.jpg", "df/v.webm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch(set, files[i]);
    fs_dataset ds = {0}, back = {0};
    fs_msg msg;
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    fs_split_config cfg = {.train = 0.5, .val = 0.25, .test = 0.25, .seed = 3};
    assert_int_equal(fs_dataset_split(&ds, &cfg, &msg), FS_OK);

    char data_root[1100];
    snprintf(data_root, sizeof data_root, "%s/data/", root); /* trailing slash is fine */
    snprintf(man, sizeof man, "%s/m.csv", root);
    char d1[65], d2[65], d3[65];
    assert_int_equal(fs_manifest_write(&ds, man, data_root, d1, &msg), FS_OK);
    assert_int_equal(strlen(d1), 64);
    assert_int_equal(fs_manifest_read(&back, man, data_root, d2, &msg), FS_OK);
    assert_string_equal(d1, d2);
    assert_same_items(&ds, &back);

    /* the text: relative paths, header on line 2 */
    uint8_t *text;
    size_t len;
    assert_int_equal(fs_read_file(man, 1 << 20, &text, &len, &msg), FS_OK);
    assert_memory_equal(text, "# fakescope-manifest v1 sha256=", 31);
    assert_non_null(strstr((char *)text, "\npath,label,kind,source,group,split\n"));
    assert_non_null(strstr((char *)text, "\"odd set/real/a,b.jpg\",0,image,odd set,"));
    assert_non_null(strstr((char *)text, "\"odd set/real/say \"\"cheese\"\".png\""));
    assert_null(strstr((char *)text, root));

    /* reading under another root moves every path; writing again gives the same bytes */
    snprintf(moved, sizeof moved, "/elsewhere");
    fs_dataset_free(&back);
    assert_int_equal(fs_manifest_read(&back, man, moved, NULL, &msg), FS_OK);
    assert_string_equal(back.items[0].path + strlen(moved), ds.items[0].path + strlen(data_root) - 1);
    char *again;
    size_t again_len;
    assert_int_equal(fs_manifest_format(&back, moved, &again, &again_len, d3, &msg), FS_OK);
    assert_string_equal(d1, d3);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, text, len);
    free(again);

    /* one changed byte breaks the digest */
    char *edit = strstr((char *)text, ",train\n") ? strstr((char *)text, ",train\n")
                                                  : strstr((char *)text, ",test\n");
    assert_non_null(edit);
    edit[1] = edit[1] == 't' ? 'T' : 't';
    char tampered[1100];
    snprintf(tampered, sizeof tampered, "%s/t.csv", root);
    assert_int_equal(fs_write_file(tampered, text, len, &msg), FS_OK);
    fs_dataset_free(&back);
    assert_int_equal(fs_manifest_read(&back, tampered, data_root, NULL, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, "digest"));
    assert_int_equal(back.count, 0);
    free(text);

    /* items outside the root are refused */
    assert_int_equal(fs_manifest_write(&ds, man, "/nowhere", NULL, &msg), FS_ERR_INVALID);
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

/* A manifest with a valid digest but bad rows is refused with the line number. */
static void test_manifest_bad_rows(void **state) {
    (void)state;
    char *root = make_tmp();
    char path[1100];
    snprintf(path, sizeof path, "%s/bad.csv", root);
    const char *bodies[] = {
        "path,label,kind,source,group,split\na.jpg,0,image,s,s:a,train\nb.jpg,2,image,s,s:b,train\n",
        "path,label,kind,source,group,split\na.jpg,0,image,s,s:a\n",
        "path,label,kind,source,group,split\n\"a.jpg,0,image,s,s:a,train\n",
        "path,label,kind,source,group,split\na.jpg,0,picture,s,s:a,train\n",
        "path,label,kind,source,group,split\na.jpg,0,image,s,s:a,holdout\n",
        "path,label,kind\na.jpg,0,image\n",
    };
    fs_dataset ds = {0};
    fs_msg msg;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        /* signed with coreutils' sha256sum, independent of the code under test */
        char cmd[4096];
        char body_path[1100];
        snprintf(body_path, sizeof body_path, "%s/body", root);
        fs_msg m;
        assert_int_equal(fs_write_file(body_path, bodies[i], strlen(bodies[i]), &m), FS_OK);
        snprintf(cmd, sizeof cmd,
                 "(printf '# fakescope-manifest v1 sha256=%%s\\n' $(sha256sum < '%s' | cut -c1-64);"
                 " cat '%s') > '%s'",
                 body_path, body_path, path);
        assert_int_equal(system(cmd), 0);
        fs_err err = fs_manifest_read(&ds, path, NULL, NULL, &msg);
        assert_int_equal(err, FS_ERR_FORMAT);
        if (i == 0) assert_non_null(strstr(msg.text, "line 4"));
        assert_int_equal(ds.count, 0);
    }
    /* and the well-formed version of the first one reads */
    const char *good = "path,label,kind,source,group,split\na.jpg,0,image,s,s:a,train\n";
    char body_path[1100], cmd[4096];
    snprintf(body_path, sizeof body_path, "%s/body", root);
    assert_int_equal(fs_write_file(body_path, good, strlen(good), &msg), FS_OK);
    snprintf(cmd, sizeof cmd,
             "(printf '# fakescope-manifest v1 sha256=%%s\\n' $(sha256sum < '%s' | cut -c1-64);"
             " cat '%s') > '%s'",
             body_path, body_path, path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fs_manifest_read(&ds, path, "/r", NULL, &msg), FS_OK);
    assert_int_equal(ds.count, 1);
    assert_string_equal(ds.items[0].path, "/r/a.jpg");
    fs_dataset_free(&ds);
    rm_tree(root);
    free(root);
}

/* Mutated manifests, re-signed so the parser (not the digest) sees them: every outcome is a
 * clean read or a clean refusal (the sanitizer build checks the memory side). */
static void test_manifest_mutations(void **state) {
    (void)state;
    static const char body[] =
        "path,label,kind,source,group,split\n"
        "\"a,b.jpg\",0,image,s,s:a,train\n"
        "c/d.png,1,video,s,\"s:\"\"q\"\"\",val\n"
        "e.webp,0,image,s,s:e,test\n";
    static const char alphabet[] = ",\"\n\r01a:";
    char *root = make_tmp();
    char path[1100];
    snprintf(path, sizeof path, "%s/m.csv", root);
    fs_rng rng;
    fs_rng_seed(&rng, 2024);
    char mutated[sizeof body + 8];
    int ok = 0, refused = 0;
    for (int round = 0; round < 3000; round++) {
        size_t len = sizeof body - 1;
        memcpy(mutated, body, len);
        int edits = 1 + fs_rng_below(&rng, 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = (size_t)fs_rng_below(&rng, (int)len);
            switch (fs_rng_below(&rng, 3)) {
            case 0: mutated[at] = alphabet[fs_rng_below(&rng, (int)sizeof alphabet - 1)]; break;
            case 1: memmove(mutated + at, mutated + at + 1, len - at - 1), len--; break;
            default: len = at; break; /* truncate */
            }
        }
        unsigned char md[32];
        unsigned int mdlen = 0;
        assert_true(EVP_Digest(mutated, len, md, &mdlen, EVP_sha256(), NULL));
        char file[sizeof body + 128];
        int n = snprintf(file, sizeof file, "# fakescope-manifest v1 sha256=");
        for (int i = 0; i < 32; i++) n += snprintf(file + n, sizeof file - (size_t)n, "%02x", md[i]);
        file[n++] = '\n';
        memcpy(file + n, mutated, len);
        fs_msg msg;
        FILE *f = fopen(path, "wb"); /* plain stdio: no fsync per round */
        assert_non_null(f);
        assert_int_equal(fwrite(file, 1, (size_t)n + len, f), (size_t)n + len);
        fclose(f);
        fs_dataset ds = {0};
        msg.text[0] = '\0';
        if (fs_manifest_read(&ds, path, "/r", NULL, &msg) == FS_OK) {
            ok++;
            for (size_t i = 0; i < ds.count; i++) {
                assert_true(strncmp(ds.items[i].path, "/r/", 3) == 0 && ds.items[i].path[3]);
                assert_true(ds.items[i].source[0] && ds.items[i].group[0]);
                assert_in_range(ds.items[i].label, 0, 1);
                assert_in_range(ds.items[i].split, 0, FS_SPLIT_COUNT - 1);
            }
        } else {
            refused++;
            assert_true(msg.text[0] != '\0');
            assert_int_equal(ds.count, 0);
        }
        fs_dataset_free(&ds);
    }
    assert_true(ok > 0 && refused > 0);
    rm_tree(root);
    free(root);
}

/* ---- the shared data -------------------------------------------------------------------- */

static void test_shared_sets(void **state) {
    (void)state;
    static const char *const sets[] = {"mesonet-real-faces", "rmfd-real-faces", "web-real-faces",
                                       "hardfake-vs-real", "basemax-fakefaces", "ffpp-c40"};
    /* counts from the shared data README */
    static const size_t items[] = {4259, 1250, 635, 1289, 901, 48};
    char buf[1024];
    if (!fs_test_shared("ffpp-c40", buf, sizeof buf)) skip();
    fs_dataset ds = {0};
    fs_msg msg;
    double t0 = fs_now_ms();
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        snprintf(buf, sizeof buf, "%s/%s", FS_SHARED_DATA, sets[i]);
        size_t before = ds.count;
        assert_int_equal(fs_dataset_scan(&ds, buf, NULL, &msg), FS_OK);
        assert_int_equal(ds.count - before, items[i]);
    }
    double t_scan = fs_now_ms() - t0;
    fs_split_config cfg = {.train = 0.8, .val = 0, .test = 0.2, .seed = 20240601,
                           .policy = "ffpp-suggested"};
    assert_int_equal(fs_dataset_split(&ds, &cfg, &msg), FS_OK);
    fs_dataset_stats st;
    assert_int_equal(fs_dataset_stats_get(&ds, &st, &msg), FS_OK);
    printf("scan of %zu sets: %zu items (%zu images, %zu videos), %zu groups in %.1f ms\n",
           st.sources, st.items, st.images, st.videos, st.groups, t_scan);
    for (int s = 0; s < FS_SPLIT_COUNT; s++)
        printf("  %-5s %5zu real %5zu fake %4zu groups\n", fs_split_name((fs_split)s),
               st.by_split[s][0], st.by_split[s][1], st.groups_by_split[s]);
    assert_int_equal(st.sources, 6);
    assert_int_equal(st.videos, 48);

    /* per-set group counts the README implies */
    size_t g_meso = 0, g_rmfd = 0, g_ffpp = 0;
    for (size_t i = 0; i < ds.count; i++) {
        const char *g = ds.items[i].group;
        int first = 1; /* count a group at its first item (groups are not contiguous by path) */
        for (size_t j = 0; j < i && first; j++) first = strcmp(ds.items[j].group, g) != 0;
        if (!first) continue;
        g_meso += strncmp(g, "mesonet-real-faces:", 19) == 0;
        g_rmfd += strncmp(g, "rmfd-real-faces:", 16) == 0;
        g_ffpp += strncmp(g, "ffpp-c40:", 9) == 0;
    }
    assert_int_equal(g_meso, 69);
    assert_int_equal(g_rmfd, 99);
    assert_int_equal(g_ffpp, 4 + 6); /* 4 pairs, actors 01 06 07 08 09 13 */
    /* a group on two sides of the split would show as more split-groups than groups */
    assert_int_equal(st.groups_by_split[0] + st.groups_by_split[1] + st.groups_by_split[2],
                     st.groups);
    /* the FF++ overrides */
    for (size_t i = 0; i < ds.count; i++) {
        const fs_item *it = &ds.items[i];
        if (strcmp(it->source, "ffpp-c40") != 0) continue;
        int held = strstr(it->path, "585") || strstr(it->path, "599") ||
                   strstr(it->path, "672") || strstr(it->path, "720") || strstr(it->path, "/13__");
        assert_int_equal(it->split, held ? FS_SPLIT_TEST : FS_SPLIT_TRAIN);
    }

    /* manifest of everything, relative to the shared data root, read back identically */
    char man[] = "/tmp/fs_manifest_XXXXXX";
    int fd = mkstemp(man);
    assert_true(fd >= 0);
    close(fd);
    char d1[65], d2[65];
    t0 = fs_now_ms();
    assert_int_equal(fs_manifest_write(&ds, man, FS_SHARED_DATA, d1, &msg), FS_OK);
    double t_write = fs_now_ms() - t0;
    fs_dataset back = {0};
    t0 = fs_now_ms();
    assert_int_equal(fs_manifest_read(&back, man, FS_SHARED_DATA, d2, &msg), FS_OK);
    double t_read = fs_now_ms() - t0;
    printf("manifest sha256=%s, write %.1f ms, read %.1f ms\n", d1, t_write, t_read);
    assert_string_equal(d1, d2);
    assert_same_items(&ds, &back);
    fs_dataset_free(&back);
    unlink(man);
    fs_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_classes_kinds_and_order),
        cmocka_unit_test(test_scan_refusals),
        cmocka_unit_test(test_group_rules),
        cmocka_unit_test(test_group_ffpp_union_find),
        cmocka_unit_test(test_split_by_group_stable_and_fractions),
        cmocka_unit_test(test_split_ffpp_suggested),
        cmocka_unit_test(test_manifest_round_trip),
        cmocka_unit_test(test_manifest_bad_rows),
        cmocka_unit_test(test_manifest_mutations),
        cmocka_unit_test(test_shared_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
