/* Unit tests of train/'s parallel loader: batches identical across runs, thread counts and
 * batch compositions for one seed, different across epochs; plain loading equal to decode +
 * resize + float; self-blended reals relabelled; corrupt files and videos counted, not fatal.
 * The images are generated here and written to a temporary folder. */
#define _XOPEN_SOURCE 700
#include "fs_test.h"

#include "fakescope/dataset.h"

#include <ftw.h>
#include <math.h>
#include <unistd.h>

#define SIDE 32
#define ROW (SIDE * SIDE * 3)

static char root[64];
static fs_dataset ds;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void write_image(const char *rel, int w, int h, int seed) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, w, h, &msg), FS_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                img.rgb[((size_t)y * w + x) * 3 + c] =
                    (uint8_t)(128 + 100 * sin(x * 0.1 * (seed + 1) + c) * cos(y * 0.13 + seed));
    char path[256], dir[256];
    snprintf(path, sizeof path, "%s/set/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(fs_mkdirs(dir, &msg), FS_OK);
    assert_int_equal(fs_image_save(&img, path, &msg), FS_OK);
    fs_image_free(&img);
}

static void write_bytes(const char *rel, const char *bytes) {
    char path[256];
    fs_msg msg;
    snprintf(path, sizeof path, "%s/set/%s", root, rel);
    assert_int_equal(fs_write_file(path, bytes, strlen(bytes), &msg), FS_OK);
}

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/fs_loader_XXXXXX");
    if (!mkdtemp(root)) return -1;
    for (int i = 0; i < 6; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "real/r%d.png", i);
        write_image(rel, 40 + 9 * i, 50 + 5 * i, i);
    }
    for (int i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "fake/f%d.jpg", i);
        write_image(rel, 64, 64, 10 + i);
    }
    write_bytes("real/broken.jpg", "\xff\xd8\xff this is not a JPEG");
    write_bytes("fake/clip.mp4", "not decoded by the loader");
    char set[128];
    snprintf(set, sizeof set, "%s/set", root);
    fs_msg msg;
    memset(&ds, 0, sizeof ds);
    return fs_dataset_scan(&ds, set, NULL, &msg) == FS_OK && ds.count == 12 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fs_dataset_free(&ds);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

typedef struct batch {
    float *x, *y;
    uint8_t *ok;
} batch;

static batch run(int threads, uint64_t seed, uint64_t epoch, const fs_aug_policy *aug,
                 double blend, const size_t *index, size_t n, fs_loader_stats *st) {
    fs_loader_config cfg = fs_loader_config_default();
    cfg.width = cfg.height = SIDE;
    cfg.threads = threads;
    cfg.seed = seed;
    cfg.augment = aug;
    cfg.blend_prob = blend;
    fs_loader *ld;
    fs_msg msg;
    assert_int_equal(fs_loader_create(&cfg, &ld, &msg), FS_OK);
    batch b = {calloc(n * ROW, sizeof(float)), calloc(n, sizeof(float)), calloc(n, 1)};
    assert_int_equal(fs_loader_fill(ld, ds.items, ds.count, index, n, epoch, b.x, b.y, b.ok, &msg), FS_OK);
    if (st) fs_loader_stats_get(ld, st);
    fs_loader_free(ld);
    return b;
}

static void batch_free(batch *b) {
    free(b->x);
    free(b->y);
    free(b->ok);
}

static size_t all_items(size_t *index) {
    assert_int_equal(ds.count, 12);
    for (size_t i = 0; i < ds.count; i++) index[i] = i;
    return ds.count;
}

static void test_deterministic_across_threads_and_batches(void **state) {
    (void)state;
    size_t index[12] = {0}, n = all_items(index);
    fs_aug_policy aug = fs_aug_policy_default();
    aug.p_affine = aug.p_color = aug.p_flip = 1.0;
    fs_loader_stats st;
    batch a = run(2, 7, 0, &aug, 0.5, index, n, &st);
    batch b = run(1, 7, 0, &aug, 0.5, index, n, NULL);
    batch c = run(4, 7, 0, &aug, 0.5, index, n, NULL);
    assert_memory_equal(a.x, b.x, n * ROW * sizeof(float));
    assert_memory_equal(a.x, c.x, n * ROW * sizeof(float));
    assert_memory_equal(a.y, b.y, n * sizeof(float));
    assert_memory_equal(a.ok, c.ok, n);

    /* failures: the corrupt JPEG and the video, rows zeroed, the rest loaded */
    assert_int_equal(st.failed, 2);
    assert_int_equal(st.loaded, 10);
    assert_true(strstr(st.last_error, "broken.jpg") || strstr(st.last_error, "clip.mp4"));
    for (size_t i = 0; i < n; i++) {
        int bad = strstr(ds.items[i].path, "broken") || strstr(ds.items[i].path, "clip");
        assert_int_equal(a.ok[i], bad ? 0 : 1);
        if (bad)
            for (size_t k = 0; k < ROW; k++) assert_true(a.x[i * ROW + k] == 0.0f);
        for (size_t k = 0; k < ROW; k++) assert_true(a.x[i * ROW + k] >= 0.0f && a.x[i * ROW + k] <= 1.0f);
    }

    /* another batch composition: the reversed order gives the same row per item */
    size_t rev[12];
    for (size_t i = 0; i < n; i++) rev[i] = n - 1 - i;
    batch r = run(2, 7, 0, &aug, 0.5, rev, n, NULL);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(r.x + i * ROW, a.x + (n - 1 - i) * ROW, ROW * sizeof(float));
        assert_true(r.y[i] == a.y[n - 1 - i]);
    }

    /* another epoch or seed: different augmentations */
    batch e = run(2, 7, 1, &aug, 0.5, index, n, NULL);
    batch s = run(2, 8, 0, &aug, 0.5, index, n, NULL);
    size_t differ_e = 0, differ_s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!a.ok[i]) continue;
        differ_e += memcmp(a.x + i * ROW, e.x + i * ROW, ROW * sizeof(float)) != 0;
        differ_s += memcmp(a.x + i * ROW, s.x + i * ROW, ROW * sizeof(float)) != 0;
    }
    assert_int_equal(differ_e, 10);
    assert_int_equal(differ_s, 10);
    batch *all[] = {&a, &b, &c, &r, &e, &s};
    for (size_t i = 0; i < 6; i++) batch_free(all[i]);
}

static void test_plain_loading_and_blending(void **state) {
    (void)state;
    size_t index[12] = {0}, n = all_items(index);
    /* without augmentation or blending a row is decode + resize + float */
    batch p = run(2, 1, 0, NULL, 0.0, index, n, NULL);
    fs_msg msg;
    float *want = malloc(ROW * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        if (!p.ok[i]) continue;
        fs_image img, sized;
        assert_int_equal(fs_image_load(ds.items[i].path, NULL, &img, &msg), FS_OK);
        assert_int_equal(fs_image_resize(&img, SIDE, SIDE, &sized, &msg), FS_OK);
        fs_image_to_float(&sized, 1.0f / 255.0f, want);
        assert_memory_equal(p.x + i * ROW, want, ROW * sizeof(float));
        assert_true(p.y[i] == (float)ds.items[i].label);
        fs_image_free(&img);
        fs_image_free(&sized);
    }
    /* blending every real: reals become label 1 and change; fakes are untouched */
    fs_loader_stats st;
    batch b = run(2, 1, 0, NULL, 1.0, index, n, &st);
    assert_int_equal(st.blended, 6);
    for (size_t i = 0; i < n; i++) {
        if (!b.ok[i]) continue;
        assert_true(b.y[i] == 1.0f);
        int same = memcmp(b.x + i * ROW, p.x + i * ROW, ROW * sizeof(float)) == 0;
        assert_int_equal(same, ds.items[i].label == 1);
    }
    free(want);
    batch_free(&p);
    batch_free(&b);
}

static void test_failures_and_refusals(void **state) {
    (void)state;
    size_t bad[2], nb = 0;
    for (size_t i = 0; i < ds.count; i++)
        if (strstr(ds.items[i].path, "broken") || strstr(ds.items[i].path, "clip")) bad[nb++] = i;
    assert_int_equal(nb, 2);
    fs_loader_config cfg = fs_loader_config_default();
    cfg.width = cfg.height = SIDE;
    cfg.threads = 2;
    fs_loader *ld;
    fs_msg msg;
    assert_int_equal(fs_loader_create(&cfg, &ld, &msg), FS_OK);
    float x[2 * ROW], y[2];
    assert_int_equal(fs_loader_fill(ld, ds.items, ds.count, bad, 2, 0, x, y, NULL, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, "no item"));
    assert_int_equal(fs_loader_fill(ld, ds.items, ds.count, bad, 0, 0, x, y, NULL, &msg), FS_OK);
    assert_int_equal(fs_loader_fill(ld, NULL, 0, bad, 2, 0, x, y, NULL, &msg), FS_ERR_INVALID);
    size_t beyond[1] = {ds.count};
    assert_int_equal(fs_loader_fill(ld, ds.items, ds.count, beyond, 1, 0, x, y, NULL, &msg),
                     FS_ERR_INVALID);
    fs_loader_free(ld);

    fs_loader_config c = cfg;
    c.threads = 0;
    assert_int_equal(fs_loader_create(&c, &ld, &msg), FS_ERR_INVALID);
    c = cfg;
    c.width = 0;
    assert_int_equal(fs_loader_create(&c, &ld, &msg), FS_ERR_INVALID);
    c = cfg;
    c.blend_prob = 2;
    assert_int_equal(fs_loader_create(&c, &ld, &msg), FS_ERR_INVALID);
    fs_aug_policy p = fs_aug_policy_default();
    p.p_jpeg = -1;
    c = cfg;
    c.augment = &p;
    assert_int_equal(fs_loader_create(&c, &ld, &msg), FS_ERR_INVALID);
}

static void test_epoch_order(void **state) {
    (void)state;
    enum { N = 1000 };
    size_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    fs_epoch_order(N, 3, 0, a);
    fs_epoch_order(N, 3, 0, b);
    fs_epoch_order(N, 3, 1, c);
    assert_memory_equal(a, b, N * sizeof *a);
    assert_true(memcmp(a, c, N * sizeof *a) != 0);
    char *seen = calloc(N, 1);
    size_t fixed = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i] < N);
        assert_false(seen[a[i]]);
        seen[a[i]] = 1;
        fixed += a[i] == i;
    }
    assert_true(fixed < 10); /* a shuffle, not the identity */
    free(a);
    free(b);
    free(c);
    free(seen);
}

/* Self-blended pairs: a real item at two positions, kept (0) and blended (1), gets labels 0
 * and 1 whatever blend_prob says and the same augmentation: with flips only and the ellipse
 * blend (exact outside its mask), the two rows agree at the corners and differ at the face.
 * A fake is never blended, even when forced. */
static void test_forced_blend_pairs(void **state) {
    (void)state;
    fs_aug_policy flip = fs_aug_policy_none();
    flip.p_flip = 0.5;
    fs_loader_config cfg = fs_loader_config_default();
    cfg.width = cfg.height = SIDE, cfg.threads = 2, cfg.seed = 3, cfg.augment = &flip;
    cfg.blend_prob = 1.0; /* ignored where forced */
    fs_loader *ld;
    fs_msg msg;
    assert_int_equal(fs_loader_create(&cfg, &ld, &msg), FS_OK);
    size_t index[14];
    signed char blend[14];
    size_t n = 0, reals = 0, fakes = 0;
    for (size_t i = 0; i < ds.count; i++) {
        if (ds.items[i].kind != FS_ITEM_IMAGE || strstr(ds.items[i].path, "broken")) continue;
        if (ds.items[i].label == 0 && reals < 5) {
            index[n] = i, blend[n++] = 0;
            index[n] = i, blend[n++] = 1;
            reals++;
        } else if (ds.items[i].label == 1 && fakes < 2) {
            index[n] = i, blend[n++] = 1;
            fakes++;
        }
    }
    assert_int_equal(n, 12);
    float *x = calloc(n * ROW, sizeof(float)), *y = calloc(n, sizeof(float));
    uint8_t ok[14];
    assert_int_equal(fs_loader_fill_blend(ld, ds.items, ds.count, index, blend, n, 4, x, y, ok, &msg),
                     FS_OK);
    /* the unaugmented rows, to see that some pairs were flipped */
    float *plain = calloc(ROW, sizeof(float));
    int flipped = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(ok[i]);
        if (ds.items[index[i]].label == 1) {
            assert_true(y[i] == 1.0f);
            continue;
        }
        assert_true(y[i] == (float)blend[i]);
        if (blend[i] == 0) {
            const float *a = x + i * ROW, *b = x + (i + 1) * ROW;
            const size_t last = ROW - 3;
            assert_memory_equal(a, b, 3 * sizeof(float));               /* top-left pixel */
            assert_memory_equal(a + last, b + last, 3 * sizeof(float)); /* bottom-right */
            assert_memory_not_equal(a, b, ROW * sizeof(float));
            fs_image img, sized;
            assert_int_equal(fs_image_load(ds.items[index[i]].path, NULL, &img, &msg), FS_OK);
            assert_int_equal(fs_image_resize(&img, SIDE, SIDE, &sized, &msg), FS_OK);
            fs_image_to_float(&sized, 1.0f / 255.0f, plain);
            flipped += memcmp(a, plain, ROW * sizeof(float)) != 0;
            fs_image_free(&img), fs_image_free(&sized);
        }
    }
    assert_true(flipped >= 1 && flipped <= 4); /* p_flip 0.5 over five pairs, seed fixed */
    free(plain), free(x), free(y);
    fs_loader_free(ld);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_across_threads_and_batches),
        cmocka_unit_test(test_plain_loading_and_blending),
        cmocka_unit_test(test_failures_and_refusals),
        cmocka_unit_test(test_epoch_order),
        cmocka_unit_test(test_forced_blend_pairs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
