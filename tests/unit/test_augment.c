/* Unit tests of train/'s augmentations: the rng, each operation on cases that can be checked
 * by hand (identities, exact pixel moves, constants, means), and the seeded random chain. */
#include "fs_test.h"

#include "fakescope/augment.h"

#include <math.h>

static fs_image make_image(int w, int h, uint8_t (*f)(int x, int y, int c)) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, w, h, &msg), FS_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) img.rgb[((size_t)y * w + x) * 3 + c] = f(x, y, c);
    return img;
}

static uint8_t noise(int x, int y, int c) {
    uint32_t v = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)c * 83492791u;
    v ^= v >> 13;
    v *= 0x5bd1e995u;
    return (uint8_t)(v >> 24);
}

static uint8_t smooth(int x, int y, int c) {
    return (uint8_t)(128 + 60 * sin(x * 0.11 + c) * cos(y * 0.07 - c));
}

static uint8_t constant(int x, int y, int c) {
    (void)x, (void)y;
    return (uint8_t)(100 + c * 20);
}

static fs_image copy(const fs_image *src) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, src->w, src->h, &msg), FS_OK);
    memcpy(img.rgb, src->rgb, (size_t)src->w * src->h * 3);
    return img;
}

static int max_diff(const fs_image *a, const fs_image *b) {
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->h, b->h);
    int m = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h * 3; i++) {
        int d = abs((int)a->rgb[i] - (int)b->rgb[i]);
        if (d > m) m = d;
    }
    return m;
}

static double mean_abs_diff(const fs_image *a, const fs_image *b) {
    double s = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) s += abs((int)a->rgb[i] - (int)b->rgb[i]);
    return s / (double)n;
}

static double mean(const fs_image *a) {
    double s = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) s += a->rgb[i];
    return s / (double)n;
}

static const uint8_t *px(const fs_image *img, int x, int y) {
    return img->rgb + ((size_t)y * img->w + x) * 3;
}

/* ---- rng -------------------------------------------------------------------------------- */

static void test_rng(void **state) {
    (void)state;
    fs_rng a, b, c;
    fs_rng_seed(&a, 1);
    fs_rng_seed(&b, 1);
    fs_rng_seed(&c, 2);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = fs_rng_next(&a), y = fs_rng_next(&b), z = fs_rng_next(&c);
        assert_true(x == y);
        differ += x != z;
    }
    assert_true(differ > 95);
    double sum = 0;
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = fs_rng_uniform(&a);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        int k = fs_rng_below(&a, 10);
        assert_in_range(k, 0, 9);
        hist[k]++;
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.01);
    for (int k = 0; k < 10; k++) assert_in_range(hist[k], 9500, 10500);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double g = fs_rng_normal(&a);
        s += g;
        s2 += g * g;
    }
    assert_true(fabs(s / 100000) < 0.02);
    assert_true(fabs(s2 / 100000 - 1.0) < 0.03);
    assert_true(fs_seed_mix(1, 2) != fs_seed_mix(2, 1));
    assert_true(fs_seed_mix(1, 2) == fs_seed_mix(1, 2));
    assert_true(fs_seed_mix(fs_seed_mix(5, 0), 1) != fs_seed_mix(fs_seed_mix(5, 1), 0));
}

/* ---- single operations ------------------------------------------------------------------ */

static void test_flip(void **state) {
    (void)state;
    fs_image a = make_image(37, 20, noise), b = copy(&a);
    fs_aug_flip(&b);
    assert_true(max_diff(&a, &b) > 0);
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 37; x++) assert_memory_equal(px(&b, x, y), px(&a, 36 - x, y), 3);
    fs_aug_flip(&b);
    assert_int_equal(max_diff(&a, &b), 0);
    fs_image_free(&a);
    fs_image_free(&b);
}

static void test_affine(void **state) {
    (void)state;
    fs_msg msg;
    fs_aug_work work = {0};
    fs_image a = make_image(41, 33, noise), b = copy(&a);
    /* identity, with and without scratch space */
    assert_int_equal(fs_aug_affine(&b, 0, 1, 0, 0, &work, &msg), FS_OK);
    assert_int_equal(max_diff(&a, &b), 0);
    /* a whole-pixel shift moves every pixel and replicates the border column */
    assert_int_equal(fs_aug_affine(&b, 0, 1, 3.0 / 41, 0, NULL, &msg), FS_OK);
    for (int y = 0; y < 33; y++)
        for (int x = 0; x < 41; x++)
            assert_memory_equal(px(&b, x, y), px(&a, x >= 3 ? x - 3 : 0, y), 3);
    /* 180 degrees about the centre = mirror in both axes (odd sizes: the centre is a pixel) */
    fs_image_free(&b);
    b = copy(&a);
    assert_int_equal(fs_aug_affine(&b, 180, 1, 0, 0, &work, &msg), FS_OK);
    for (int y = 0; y < 33; y++)
        for (int x = 0; x < 41; x++) assert_memory_equal(px(&b, x, y), px(&a, 40 - x, 32 - y), 3);
    /* 90 degrees counter-clockwise on a square: the right column becomes the top row */
    fs_image s = make_image(31, 31, noise), r = copy(&s);
    assert_int_equal(fs_aug_affine(&r, 90, 1, 0, 0, &work, &msg), FS_OK);
    for (int x = 0; x < 31; x++) assert_memory_equal(px(&r, x, 0), px(&s, 30, x), 3);
    /* enlarging about the centre keeps the centre pixel */
    fs_image_free(&r);
    r = copy(&s);
    assert_int_equal(fs_aug_affine(&r, 0, 1.5, 0, 0, &work, &msg), FS_OK);
    assert_memory_equal(px(&r, 15, 15), px(&s, 15, 15), 3);
    assert_true(max_diff(&r, &s) > 0);
    /* a constant stays constant under any warp (replicated borders, weights sum to 1) */
    fs_image k = make_image(40, 30, constant), k2 = copy(&k);
    assert_int_equal(fs_aug_affine(&k2, 13.7, 0.83, 0.07, -0.04, &work, &msg), FS_OK);
    assert_int_equal(max_diff(&k, &k2), 0);
    assert_int_equal(fs_aug_affine(&k2, 0, 0, 0, 0, &work, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_aug_affine(&k2, NAN, 1, 0, 0, &work, &msg), FS_ERR_INVALID);
    fs_image *imgs[] = {&a, &b, &s, &r, &k, &k2};
    for (size_t i = 0; i < 6; i++) fs_image_free(imgs[i]);
    fs_aug_work_free(&work);
}

static void test_color(void **state) {
    (void)state;
    fs_image a = make_image(30, 20, noise), b = copy(&a);
    fs_aug_color(&b, 0, 1, 1);
    assert_int_equal(max_diff(&a, &b), 0);
    /* +0.1 brightness on a constant image adds 25.5 levels, rounded up */
    fs_image k = make_image(8, 8, constant);
    fs_aug_color(&k, 0.1, 1, 1);
    for (int c = 0; c < 3; c++) assert_int_equal(px(&k, 3, 4)[c], 100 + 20 * c + 26);
    fs_aug_color(&k, -1, 1, 1);
    assert_int_equal(px(&k, 0, 0)[2], 0); /* clamped */
    /* contrast 0: every channel value becomes the mean luma */
    fs_aug_color(&b, 0, 0, 1);
    double luma = 0;
    for (size_t i = 0; i < 600; i++)
        luma += 0.299 * a.rgb[i * 3] + 0.587 * a.rgb[i * 3 + 1] + 0.114 * a.rgb[i * 3 + 2];
    luma /= 600;
    for (size_t i = 0; i < 600 * 3; i++) assert_true(abs((int)b.rgb[i] - (int)lround(luma)) <= 1);
    /* saturation 0 is grey: R = G = B */
    fs_image_free(&b);
    b = copy(&a);
    fs_aug_color(&b, 0, 1, 0);
    for (size_t i = 0; i < 600; i++) {
        assert_int_equal(b.rgb[i * 3], b.rgb[i * 3 + 1]);
        assert_int_equal(b.rgb[i * 3], b.rgb[i * 3 + 2]);
    }
    fs_image g = copy(&a);
    fs_aug_grayscale(&g);
    assert_int_equal(max_diff(&g, &b), 0);
    fs_image_free(&a);
    fs_image_free(&b);
    fs_image_free(&g);
    fs_image_free(&k);
}

static void test_blur(void **state) {
    (void)state;
    fs_msg msg;
    fs_aug_work work = {0};
    fs_image k = make_image(25, 19, constant), k2 = copy(&k);
    assert_int_equal(fs_aug_blur(&k2, 2.5, &work, &msg), FS_OK);
    assert_int_equal(max_diff(&k, &k2), 0);
    fs_image a = make_image(64, 48, noise), b = copy(&a);
    assert_int_equal(fs_aug_blur(&b, 0, &work, &msg), FS_OK);
    assert_int_equal(max_diff(&a, &b), 0);
    assert_int_equal(fs_aug_blur(&b, 1.5, NULL, &msg), FS_OK);
    /* the mean is kept (borders replicate, so within a fraction of a level) */
    assert_true(fabs(mean(&a) - mean(&b)) < 1.0);
    /* and noise is smoothed: neighbours become much closer */
    double da = 0, db = 0;
    for (int y = 0; y < 48; y++)
        for (int x = 1; x < 64; x++) {
            da += abs(px(&a, x, y)[0] - px(&a, x - 1, y)[0]);
            db += abs(px(&b, x, y)[0] - px(&b, x - 1, y)[0]);
        }
    assert_true(db < da / 4);
    /* one bright pixel spreads symmetrically */
    fs_image dot;
    assert_int_equal(fs_image_alloc(&dot, 21, 21, &msg), FS_OK);
    memset(dot.rgb, 0, 21 * 21 * 3);
    dot.rgb[(10 * 21 + 10) * 3] = 255;
    assert_int_equal(fs_aug_blur(&dot, 1.0, &work, &msg), FS_OK);
    assert_int_equal(px(&dot, 9, 10)[0], px(&dot, 11, 10)[0]);
    assert_int_equal(px(&dot, 10, 9)[0], px(&dot, 10, 11)[0]);
    assert_true(px(&dot, 10, 10)[0] > px(&dot, 11, 10)[0]);
    assert_int_equal(px(&dot, 0, 0)[0], 0);
    assert_int_equal(fs_aug_blur(&dot, 1000, &work, &msg), FS_ERR_INVALID);
    fs_image *imgs[] = {&k, &k2, &a, &b, &dot};
    for (size_t i = 0; i < 5; i++) fs_image_free(imgs[i]);
    fs_aug_work_free(&work);
}

static void test_jpeg_and_rescale(void **state) {
    (void)state;
    fs_msg msg;
    fs_image a = make_image(96, 80, smooth), hi = copy(&a), lo = copy(&a);
    assert_int_equal(fs_aug_jpeg(&hi, 100, &msg), FS_OK);
    assert_int_equal(fs_aug_jpeg(&lo, 10, &msg), FS_OK);
    assert_int_equal(hi.w, 96);
    assert_int_equal(hi.h, 80);
    assert_true(mean_abs_diff(&a, &hi) < 1.0);
    assert_true(max_diff(&a, &hi) <= 6);
    assert_true(mean_abs_diff(&a, &lo) > 2 * mean_abs_diff(&a, &hi));
    assert_int_equal(fs_aug_jpeg(&hi, 0, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_aug_jpeg(&hi, 101, &msg), FS_ERR_INVALID);

    fs_image r = copy(&a);
    assert_int_equal(fs_aug_rescale(&r, 1.0, &msg), FS_OK);
    assert_int_equal(max_diff(&a, &r), 0);
    assert_int_equal(fs_aug_rescale(&r, 0.5, &msg), FS_OK);
    assert_int_equal(r.w, 96);
    assert_int_equal(r.h, 80);
    assert_true(mean_abs_diff(&a, &r) < 4.0); /* smooth content survives */
    fs_image n = make_image(96, 80, noise), n2 = copy(&n);
    assert_int_equal(fs_aug_rescale(&n2, 0.25, &msg), FS_OK);
    assert_true(mean_abs_diff(&n, &n2) > 20.0); /* fine detail does not */
    assert_int_equal(fs_aug_rescale(&n2, 0, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_aug_rescale(&n2, 1.5, &msg), FS_ERR_INVALID);
    fs_image *imgs[] = {&a, &hi, &lo, &r, &n, &n2};
    for (size_t i = 0; i < 6; i++) fs_image_free(imgs[i]);
}

/* ---- the random chain ------------------------------------------------------------------- */

static void test_policy_apply(void **state) {
    (void)state;
    fs_msg msg;
    fs_aug_work work = {0};
    fs_aug_policy all = fs_aug_policy_default();
    all.p_flip = all.p_affine = all.p_color = all.p_blur = all.p_jpeg = all.p_rescale = 1.0;
    fs_image a = make_image(64, 64, smooth);

    fs_image x = copy(&a), y = copy(&a), z = copy(&a);
    fs_rng r1, r2, r3;
    fs_rng_seed(&r1, 99);
    fs_rng_seed(&r2, 99);
    fs_rng_seed(&r3, 100);
    assert_int_equal(fs_aug_apply(&x, &all, &r1, &work, &msg), FS_OK);
    assert_int_equal(fs_aug_apply(&y, &all, &r2, NULL, &msg), FS_OK);
    assert_int_equal(fs_aug_apply(&z, &all, &r3, &work, &msg), FS_OK);
    assert_int_equal(max_diff(&x, &y), 0);
    assert_true(mean_abs_diff(&x, &z) > 1.0);
    assert_true(mean_abs_diff(&x, &a) > 1.0);

    /* no-op policy: identity, and the rng advanced exactly as much as with every op on */
    fs_image w = copy(&a);
    fs_aug_policy none = fs_aug_policy_none();
    fs_rng r4;
    fs_rng_seed(&r4, 99);
    assert_int_equal(fs_aug_apply(&w, &none, &r4, &work, &msg), FS_OK);
    assert_int_equal(max_diff(&w, &a), 0);
    assert_memory_equal(&r4, &r1, sizeof r1);

    /* the default policy changes some images and leaves others (p < 1) */
    int changed = 0;
    for (uint64_t s = 0; s < 40; s++) {
        fs_image v = copy(&a);
        fs_aug_policy def = fs_aug_policy_default();
        fs_rng r;
        fs_rng_seed(&r, s);
        assert_int_equal(fs_aug_apply(&v, &def, &r, &work, &msg), FS_OK);
        changed += max_diff(&v, &a) > 0;
        fs_image_free(&v);
    }
    assert_in_range(changed, 25, 40);

    fs_aug_policy bad = all;
    bad.p_blur = 1.5;
    assert_int_equal(fs_aug_policy_check(&bad, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "p_blur"));
    bad = all;
    bad.quality_min = 0;
    assert_int_equal(fs_aug_apply(&w, &bad, &r4, &work, &msg), FS_ERR_INVALID);
    bad = all;
    bad.scale_min = 1.2;
    bad.scale_max = 1.1;
    assert_int_equal(fs_aug_policy_check(&bad, &msg), FS_ERR_INVALID);
    fs_image *imgs[] = {&a, &x, &y, &z, &w};
    for (size_t i = 0; i < 5; i++) fs_image_free(imgs[i]);
    fs_aug_work_free(&work);
}

/* Every operation on degenerate sizes (one pixel, one row, one column) keeps the size. */
static void test_odd_sizes(void **state) {
    (void)state;
    static const int sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {3, 2}, {2, 300}};
    fs_aug_policy all = fs_aug_policy_default();
    all.p_flip = all.p_affine = all.p_color = all.p_grayscale = all.p_blur = all.p_jpeg =
        all.p_rescale = 1.0;
    all.sigma_max = 8.0; /* kernels far wider than the image */
    fs_aug_work work = {0};
    fs_msg msg;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (uint64_t seed = 0; seed < 8; seed++) {
            fs_image img = make_image(sizes[i][0], sizes[i][1], noise);
            fs_rng rng;
            fs_rng_seed(&rng, seed);
            assert_int_equal(fs_aug_apply(&img, &all, &rng, &work, &msg), FS_OK);
            assert_int_equal(img.w, sizes[i][0]);
            assert_int_equal(img.h, sizes[i][1]);
            fs_image_free(&img);
        }
    }
    fs_aug_work_free(&work);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),         cmocka_unit_test(test_flip),
        cmocka_unit_test(test_affine),      cmocka_unit_test(test_color),
        cmocka_unit_test(test_blur),        cmocka_unit_test(test_jpeg_and_rescale),
        cmocka_unit_test(test_policy_apply), cmocka_unit_test(test_odd_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
