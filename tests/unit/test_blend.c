/* Unit tests of train/'s self-blended pseudo-fakes: exact copy outside the mask, a visible
 * change inside, mask range and placement, determinism per seed, refusals; with the shared
 * data present, blends of real MesoNet crops are written as a contact sheet to
 * tests/artifacts/blend_samples.png (original | blend | mask | 4x difference per row). */
#include "fs_test.h"

#include "fakescope/augment.h"

#include <math.h>

static uint8_t face_like(int x, int y, int c) {
    /* smooth shading plus texture, so colour, blur and shift perturbations all show */
    double v = 120 + 50 * sin(x * 0.09 + c) * cos(y * 0.05) + ((x * 7 + y * 13 + c * 5) % 17);
    return (uint8_t)v;
}

static fs_image make_image(int w, int h) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, w, h, &msg), FS_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) img.rgb[((size_t)y * w + x) * 3 + c] = face_like(x, y, c);
    return img;
}

/* Checks the blend invariants for one sample; returns the mean |out - in| where mask > 0.5. */
static double check_sample(const fs_image *in, const fs_image *out, const float *mask) {
    assert_int_equal(out->w, in->w);
    assert_int_equal(out->h, in->h);
    size_t n = (size_t)in->w * in->h, zeros = 0, inside = 0;
    double diff_inside = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(mask[i] >= 0.0f && mask[i] <= 1.0f);
        if (mask[i] == 0.0f) {
            zeros++;
            assert_memory_equal(out->rgb + i * 3, in->rgb + i * 3, 3);
        } else if (mask[i] > 0.5f) {
            inside++;
            for (int c = 0; c < 3; c++) diff_inside += abs((int)out->rgb[i * 3 + c] - (int)in->rgb[i * 3 + c]);
        }
    }
    assert_true(zeros > n / 10); /* the mask has a real outside (the corners at least) */
    /* all four corners are outside the face */
    assert_true(mask[0] == 0.0f && mask[in->w - 1] == 0.0f && mask[n - in->w] == 0.0f &&
                mask[n - 1] == 0.0f);
    return inside ? diff_inside / (3.0 * inside) : 0.0;
}

static void test_blend_invariants(void **state) {
    (void)state;
    fs_msg msg;
    fs_aug_work work = {0};
    fs_image in = make_image(128, 128);
    float *mask = malloc(128 * 128 * sizeof *mask);
    int with_inside = 0;
    for (uint64_t seed = 0; seed < 24; seed++) {
        fs_rng rng;
        fs_rng_seed(&rng, seed);
        fs_image out;
        assert_int_equal(fs_blend_self(&in, NULL, NULL, &rng, &work, &out, mask, &msg), FS_OK);
        double d = check_sample(&in, &out, mask);
        /* the centre of the face is always blended */
        assert_true(mask[64 * 128 + 64] > 0.2f);
        if (d > 0) {
            with_inside++;
            assert_true(d > 1.0); /* a visible change where the mask is strong */
        }
        fs_image_free(&out);
    }
    assert_true(with_inside >= 12); /* blend ratios below 0.5 have no "inside" */
    fs_image_free(&in);
    free(mask);
    fs_aug_work_free(&work);
}

static void test_blend_deterministic(void **state) {
    (void)state;
    fs_msg msg;
    fs_image in = make_image(96, 112);
    float *m1 = malloc(96 * 112 * sizeof *m1), *m2 = malloc(96 * 112 * sizeof *m2);
    fs_rng a, b, c;
    fs_rng_seed(&a, 5);
    fs_rng_seed(&b, 5);
    fs_rng_seed(&c, 6);
    fs_image o1, o2, o3;
    fs_aug_work work = {0};
    assert_int_equal(fs_blend_self(&in, NULL, NULL, &a, &work, &o1, m1, &msg), FS_OK);
    assert_int_equal(fs_blend_self(&in, NULL, NULL, &b, NULL, &o2, m2, &msg), FS_OK);
    assert_memory_equal(o1.rgb, o2.rgb, 96 * 112 * 3);
    assert_memory_equal(m1, m2, 96 * 112 * sizeof *m1);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(fs_blend_self(&in, NULL, NULL, &c, &work, &o3, NULL, &msg), FS_OK);
    assert_true(memcmp(o1.rgb, o3.rgb, 96 * 112 * 3) != 0);
    fs_image_free(&o1);
    fs_image_free(&o2);
    fs_image_free(&o3);
    fs_image_free(&in);
    free(m1);
    free(m2);
    fs_aug_work_free(&work);
}

static void test_blend_box_and_refusals(void **state) {
    (void)state;
    fs_msg msg;
    fs_image in = make_image(160, 120);
    float *mask = malloc(160 * 120 * sizeof *mask);
    /* a face in the top-left quarter: the mask stays near it */
    const int box[4] = {10, 10, 50, 50};
    fs_rng rng;
    fs_rng_seed(&rng, 11);
    fs_image out;
    assert_int_equal(fs_blend_self(&in, box, NULL, &rng, NULL, &out, mask, &msg), FS_OK);
    check_sample(&in, &out, mask);
    assert_true(mask[35 * 160 + 35] > 0.2f);
    for (int y = 0; y < 120; y++)
        for (int x = 0; x < 160; x++)
            if (x > 100 || y > 100) assert_true(mask[y * 160 + x] == 0.0f);
    fs_image_free(&out);

    const int outside[4] = {200, 10, 20, 20};
    assert_int_equal(fs_blend_self(&in, outside, NULL, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    assert_null(out.rgb);
    fs_blend_params p = fs_blend_params_default();
    p.scale_min = 1.2;
    p.scale_max = 1.1;
    assert_int_equal(fs_blend_self(&in, NULL, &p, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    /* the smallest accepted crop and a thin one, with every range at its widest */
    fs_blend_params wide = fs_blend_params_default();
    wide.mask_rx_max = wide.mask_ry_max = 1.0;
    wide.mask_deform = 0.5;
    wide.mask_sigma_max = 0.25;
    wide.shift = 0.25;
    wide.blur_sigma_max = 16;
    const int shapes[][2] = {{8, 8}, {8, 200}, {300, 9}};
    for (size_t i = 0; i < 3; i++) {
        fs_image small = make_image(shapes[i][0], shapes[i][1]);
        float *m = malloc((size_t)shapes[i][0] * shapes[i][1] * sizeof *m);
        for (uint64_t seed = 0; seed < 10; seed++) {
            fs_rng_seed(&rng, seed);
            assert_int_equal(fs_blend_self(&small, NULL, &wide, &rng, NULL, &out, m, &msg), FS_OK);
            for (size_t k = 0; k < (size_t)shapes[i][0] * shapes[i][1]; k++) {
                assert_true(m[k] >= 0.0f && m[k] <= 1.0f);
                if (m[k] == 0.0f) assert_memory_equal(out.rgb + k * 3, small.rgb + k * 3, 3);
            }
            fs_image_free(&out);
        }
        free(m);
        fs_image_free(&small);
    }
    fs_image tiny = make_image(4, 4);
    assert_int_equal(fs_blend_self(&tiny, NULL, NULL, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    fs_image_free(&tiny);
    fs_image_free(&in);
    free(mask);
}

/* ---- real crops and the contact sheet --------------------------------------------------- */

#define CELL 160
#define SAMPLES 6

static void put(fs_image *sheet, const fs_image *img, int col, int row) {
    for (int y = 0; y < CELL; y++)
        memcpy(sheet->rgb + ((size_t)(row * CELL + y) * sheet->w + col * CELL) * 3,
               img->rgb + (size_t)y * CELL * 3, CELL * 3);
}

static void test_blend_real_crops(void **state) {
    (void)state;
    static const char *const crops[SAMPLES] = {"100_0.jpg", "47_108.jpg", "60_0.jpg",
                                               "71_10.jpg", "88_0.jpg", "36_12.jpg"};
    char buf[1024], rel[256];
    if (!fs_test_shared("mesonet-real-faces/real", buf, sizeof buf)) skip();
    fs_msg msg;
    fs_image sheet;
    assert_int_equal(fs_image_alloc(&sheet, 4 * CELL, SAMPLES * CELL, &msg), FS_OK);
    fs_aug_work work = {0};
    float *mask = malloc(CELL * CELL * sizeof *mask);
    for (int i = 0; i < SAMPLES; i++) {
        snprintf(rel, sizeof rel, "mesonet-real-faces/real/%s", crops[i]);
        assert_non_null(fs_test_shared(rel, buf, sizeof buf));
        fs_image raw, face, out, m, d;
        assert_int_equal(fs_image_load(buf, NULL, &raw, &msg), FS_OK);
        assert_int_equal(fs_image_resize(&raw, CELL, CELL, &face, &msg), FS_OK);
        fs_rng rng;
        fs_rng_seed(&rng, 1000 + (uint64_t)i);
        assert_int_equal(fs_blend_self(&face, NULL, NULL, &rng, &work, &out, mask, &msg), FS_OK);
        check_sample(&face, &out, mask);
        assert_int_equal(fs_image_alloc(&m, CELL, CELL, &msg), FS_OK);
        assert_int_equal(fs_image_alloc(&d, CELL, CELL, &msg), FS_OK);
        for (size_t p = 0; p < CELL * CELL; p++)
            for (int c = 0; c < 3; c++) {
                m.rgb[p * 3 + c] = (uint8_t)lrintf(mask[p] * 255.0f);
                int diff = 4 * abs((int)out.rgb[p * 3 + c] - (int)face.rgb[p * 3 + c]);
                d.rgb[p * 3 + c] = (uint8_t)(diff > 255 ? 255 : diff);
            }
        put(&sheet, &face, 0, i);
        put(&sheet, &out, 1, i);
        put(&sheet, &m, 2, i);
        put(&sheet, &d, 3, i);
        fs_image *imgs[] = {&raw, &face, &out, &m, &d};
        for (size_t k = 0; k < 5; k++) fs_image_free(imgs[k]);
    }
    snprintf(buf, sizeof buf, "%s/tests/artifacts", FS_SOURCE_DIR);
    assert_int_equal(fs_mkdirs(buf, &msg), FS_OK);
    snprintf(buf, sizeof buf, "%s/tests/artifacts/blend_samples.png", FS_SOURCE_DIR);
    assert_int_equal(fs_image_save(&sheet, buf, &msg), FS_OK);
    printf("wrote %s\n", buf);
    fs_image_free(&sheet);
    free(mask);
    fs_aug_work_free(&work);
}

/* ---- self-blended images from landmarks ---- */

/* A plausible 68-point face in a 128 x 128 crop (iBUG order). */
static void face_points(float *pt) {
    for (int i = 0; i <= 16; i++) { /* jaw: the lower half of an ellipse */
        double t = M_PI * i / 16.0;
        pt[2 * i] = (float)(64 - 34 * cos(t)), pt[2 * i + 1] = (float)(60 + 52 * sin(t));
    }
    for (int i = 0; i < 5; i++) {
        pt[2 * (17 + i)] = (float)(36 + 5.5 * i), pt[2 * (17 + i) + 1] = 42;
        pt[2 * (22 + i)] = (float)(70 + 5.5 * i), pt[2 * (22 + i) + 1] = 42;
    }
    for (int i = 0; i < 4; i++) pt[2 * (27 + i)] = 64, pt[2 * (27 + i) + 1] = (float)(50 + 7.3 * i);
    for (int i = 0; i < 5; i++) pt[2 * (31 + i)] = (float)(56 + 4 * i), pt[2 * (31 + i) + 1] = 76;
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 6; i++) {
            double t = 2 * M_PI * i / 6.0;
            pt[2 * (36 + 6 * e + i)] = (float)((e ? 82 : 46) + 7 * cos(t));
            pt[2 * (36 + 6 * e + i) + 1] = (float)(52 + 3 * sin(t));
        }
    for (int i = 0; i < 12; i++) {
        double t = 2 * M_PI * i / 12.0;
        pt[2 * (48 + i)] = (float)(64 + 14 * cos(t)), pt[2 * (48 + i) + 1] = (float)(92 + 6 * sin(t));
    }
    for (int i = 0; i < 8; i++) {
        double t = 2 * M_PI * i / 8.0;
        pt[2 * (60 + i)] = (float)(64 + 9 * cos(t)), pt[2 * (60 + i) + 1] = (float)(92 + 2 * sin(t));
    }
}

static float mask_max(const float *m, size_t n) {
    float mx = 0;
    for (size_t i = 0; i < n; i++) mx = m[i] > mx ? m[i] : mx;
    return mx;
}

/* Source-side perturbation: the crop is untouched wherever the mask is 0, the mask covers the
 * face (its maximum at the nose, a blend ratio) and never the top of the crop or the corners;
 * the forehead variant reaches above the brows; same seed, same bytes. */
static void test_sbi_landmark_mask(void **state) {
    (void)state;
    fs_msg msg;
    fs_aug_work work = {0};
    fs_image in = make_image(128, 128);
    float pt[136], *mask = malloc(128 * 128 * sizeof *mask), *mask2 = malloc(128 * 128 * sizeof *mask);
    face_points(pt);
    fs_sbi_params p = fs_sbi_params_default();
    p.p_target = 0;
    double above_with = 0, above_without = 0;
    for (uint64_t seed = 0; seed < 16; seed++) {
        fs_rng rng;
        fs_image out, out2;
        for (int fh = 0; fh < 2; fh++) {
            p.p_forehead = fh;
            fs_rng_seed(&rng, seed);
            assert_int_equal(fs_blend_sbi(&in, pt, &p, &rng, &work, &out, mask, &msg), FS_OK);
            check_sample(&in, &out, mask);
            const float mx = mask_max(mask, 128 * 128);
            assert_true(fabsf(mx - 0.25f) < 1e-6f || fabsf(mx - 0.5f) < 1e-6f ||
                        fabsf(mx - 0.75f) < 1e-6f || fabsf(mx - 1.0f) < 1e-6f);
            assert_true(mask[72 * 128 + 64] > 0.99f * mx); /* the nose tip is deep inside */
            for (int x = 0; x < 128; x++) assert_true(mask[2 * 128 + x] == 0.0f);
            double above = 0; /* rows 18-34: between the lifted brows and the brows */
            for (int y = 18; y < 34; y++)
                for (int x = 50; x < 78; x++) above += mask[y * 128 + x] / mx;
            if (fh) above_with += above;
            else above_without += above;
            /* the same seed again gives the same bytes */
            fs_rng_seed(&rng, seed);
            assert_int_equal(fs_blend_sbi(&in, pt, &p, &rng, &work, &out2, mask2, &msg), FS_OK);
            assert_memory_equal(out.rgb, out2.rgb, 128 * 128 * 3);
            assert_memory_equal(mask, mask2, 128 * 128 * sizeof *mask);
            fs_image_free(&out), fs_image_free(&out2);
        }
    }
    if (!(above_with > 4 * above_without + 50))
        fail_msg("forehead: %.1f above the brows with it, %.1f without", above_with, above_without);
    free(mask), free(mask2);
    fs_image_free(&in);
    fs_aug_work_free(&work);
}

/* Target-side perturbation changes the crop outside the face too; bad landmarks are refused. */
static void test_sbi_target_and_refusals(void **state) {
    (void)state;
    fs_msg msg;
    fs_image in = make_image(128, 128), out;
    float pt[136];
    face_points(pt);
    fs_sbi_params p = fs_sbi_params_default();
    p.p_target = 1;
    int changed = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        fs_rng rng;
        fs_rng_seed(&rng, seed);
        assert_int_equal(fs_blend_sbi(&in, pt, &p, &rng, NULL, &out, NULL, &msg), FS_OK);
        changed += memcmp(out.rgb, in.rgb, 3 * 128) != 0; /* the top row, outside any mask */
        fs_image_free(&out);
    }
    assert_true(changed >= 6);
    fs_rng rng;
    fs_rng_seed(&rng, 1);
    assert_int_equal(fs_blend_sbi(&in, NULL, NULL, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "landmarks"));
    float bad[136];
    memcpy(bad, pt, sizeof bad);
    bad[2 * 30 + 1] = NAN;
    assert_int_equal(fs_blend_sbi(&in, bad, NULL, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "landmark 30"));
    bad[2 * 30 + 1] = 500;
    assert_int_equal(fs_blend_sbi(&in, bad, NULL, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    for (int i = 0; i < 136; i++) bad[i] = 64; /* one point: no area */
    assert_int_equal(fs_blend_sbi(&in, bad, NULL, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "no pixel"));
    p = fs_sbi_params_default();
    p.p_downscale = 0.9; /* with p_sharpen 0.5: more than certain */
    assert_int_equal(fs_blend_sbi(&in, pt, &p, &rng, NULL, &out, NULL, &msg), FS_ERR_INVALID);
    assert_null(out.rgb);
    fs_image_free(&in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blend_invariants),
        cmocka_unit_test(test_blend_deterministic),
        cmocka_unit_test(test_blend_box_and_refusals),
        cmocka_unit_test(test_blend_real_crops),
        cmocka_unit_test(test_sbi_landmark_mask),
        cmocka_unit_test(test_sbi_target_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
