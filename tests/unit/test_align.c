/* Face alignment (include/fakescope/align.h): the similarity fit recovers a known transform
 * exactly and is least squares under noise; degenerate points are refused; a synthetic face
 * drawn rotated, scaled and moved in a large picture is mapped back onto the template, pixel for
 * pixel, by fs_align_face; border modes read black or the edge outside the picture. */
#include "fs_test.h"

#include <math.h>

#include "fakescope/align.h"
#include "fakescope/landmarks.h"

static fs_similarity make(double angle_deg, double scale, double tx, double ty) {
    double r = angle_deg * M_PI / 180;
    return (fs_similarity){scale * cos(r), scale * sin(r), tx, ty};
}

static void test_fit_exact_and_inverse(void **state) {
    (void)state;
    fs_point2f src[7], dst[7];
    fs_similarity t = make(-37, 0.42, 310.5, -12.25), got;
    srand(7);
    for (int i = 0; i < 7; i++) {
        src[i] = (fs_point2f){(float)(rand() % 1000), (float)(rand() % 700)};
        dst[i] = fs_similarity_apply(t, src[i]);
    }
    fs_msg m;
    assert_int_equal(fs_similarity_fit(src, dst, 7, &got, &m), FS_OK);
    assert_true(fabs(got.a - t.a) < 1e-6 && fabs(got.b - t.b) < 1e-6);
    assert_true(fabs(got.tx - t.tx) < 1e-3 && fabs(got.ty - t.ty) < 1e-3);
    /* two points determine it too */
    assert_int_equal(fs_similarity_fit(src, dst, 2, &got, &m), FS_OK);
    assert_true(fabs(got.a - t.a) < 1e-6 && fabs(got.b - t.b) < 1e-6);
    /* the inverse undoes it */
    fs_similarity inv = fs_similarity_invert(t);
    for (int i = 0; i < 7; i++) {
        fs_point2f back = fs_similarity_apply(inv, dst[i]);
        assert_true(fabsf(back.x - src[i].x) < 1e-3f && fabsf(back.y - src[i].y) < 1e-3f);
    }
}

/* Under noise the fit is the least-squares one: nudging any parameter raises the residual. */
static void test_fit_least_squares(void **state) {
    (void)state;
    fs_point2f src[5], dst[5];
    fs_align_template(112, 0, src);
    fs_similarity t = make(12, 1.7, 5, 9), got;
    const float noise[5][2] = {{0.8f, -0.3f}, {-0.5f, 0.9f}, {0.2f, 0.4f}, {-1.1f, -0.2f},
                               {0.6f, -0.7f}};
    for (int i = 0; i < 5; i++) {
        dst[i] = fs_similarity_apply(t, src[i]);
        dst[i].x += noise[i][0], dst[i].y += noise[i][1];
    }
    fs_msg m;
    assert_int_equal(fs_similarity_fit(src, dst, 5, &got, &m), FS_OK);
    for (int p = 0; p < 4; p++)
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            double r0 = 0, r1 = 0;
            fs_similarity moved = got;
            double *mp[4] = {&moved.a, &moved.b, &moved.tx, &moved.ty};
            *mp[p] += sgn * (p < 2 ? 1e-3 : 1e-1);
            for (int i = 0; i < 5; i++) {
                fs_point2f a = fs_similarity_apply(got, src[i]), b = fs_similarity_apply(moved, src[i]);
                r0 += pow(a.x - dst[i].x, 2) + pow(a.y - dst[i].y, 2);
                r1 += pow(b.x - dst[i].x, 2) + pow(b.y - dst[i].y, 2);
            }
            assert_true(r1 > r0);
        }
}

static void test_degenerate_refused(void **state) {
    (void)state;
    fs_point2f tpl[5], same[5], nan5[5];
    fs_align_template(112, 0, tpl);
    for (int i = 0; i < 5; i++) same[i] = (fs_point2f){40, 50}, nan5[i] = tpl[i];
    nan5[3].y = NAN;
    fs_similarity t = {1, 0, 0, 0}, keep = t;
    fs_msg m;
    assert_int_equal(fs_similarity_fit(tpl, tpl, 1, &t, &m), FS_ERR_INVALID);
    assert_int_equal(fs_similarity_fit(same, tpl, 5, &t, &m), FS_ERR_INVALID);
    assert_non_null(strstr(m.text, "coincide"));
    assert_int_equal(fs_similarity_fit(tpl, same, 5, &t, &m), FS_ERR_INVALID);
    assert_int_equal(fs_similarity_fit(nan5, tpl, 5, &t, &m), FS_ERR_INVALID);
    assert_int_equal(fs_similarity_fit(NULL, tpl, 5, &t, &m), FS_ERR_INVALID);
    assert_memory_equal(&t, &keep, sizeof t);

    fs_image img, out;
    assert_int_equal(fs_image_alloc(&img, 32, 32, &m), FS_OK);
    memset(img.rgb, 90, 32 * 32 * 3);
    assert_int_equal(fs_align_face(&img, same, 112, 0, FS_BORDER_CONSTANT, &out, NULL, &m),
                     FS_ERR_INVALID);
    assert_null(out.rgb);
    assert_int_equal(fs_align_face(&img, nan5, 112, 0, FS_BORDER_CONSTANT, &out, NULL, &m),
                     FS_ERR_INVALID);
    fs_point2f close_eyes[5];
    memcpy(close_eyes, tpl, sizeof tpl);
    close_eyes[1] = (fs_point2f){close_eyes[0].x + 0.5f, close_eyes[0].y};
    assert_int_equal(fs_align_face(&img, close_eyes, 112, 0, FS_BORDER_CONSTANT, &out, NULL, &m),
                     FS_ERR_INVALID);
    assert_int_equal(fs_align_face(&img, tpl, 0, 0, FS_BORDER_CONSTANT, &out, NULL, &m),
                     FS_ERR_INVALID);
    assert_int_equal(fs_align_face(&img, tpl, 112, -0.1f, FS_BORDER_CONSTANT, &out, NULL, &m),
                     FS_ERR_INVALID);
    assert_int_equal(fs_align_face(&img, tpl, 112, NAN, FS_BORDER_CONSTANT, &out, NULL, &m),
                     FS_ERR_INVALID);
    assert_int_equal(fs_align_warp(&img, (fs_similarity){0, 0, 1, 1}, 8, 8, FS_BORDER_CONSTANT,
                                   &out, &m),
                     FS_ERR_INVALID);
    assert_int_equal(fs_align_warp(&img, (fs_similarity){1, 0, INFINITY, 1}, 8, 8,
                                   FS_BORDER_CONSTANT, &out, &m),
                     FS_ERR_INVALID);
    fs_image empty = {0};
    assert_int_equal(fs_align_face(&empty, tpl, 112, 0, FS_BORDER_CONSTANT, &out, NULL, &m),
                     FS_ERR_INVALID);
    fs_image_free(&img);
}

/* The canonical face: a smooth pattern of crop coordinates (u, v) in [0, 112) plus a dark spot on
 * each template point, so a wrong rotation, scale or shift shows. */
static double face_value(double u, double v, int c) {
    fs_point2f tpl[5];
    fs_align_template(112, 0, tpl);
    double val = 128 + 50 * sin(u / 9.0 + c) * cos(v / 13.0 - c);
    for (int i = 0; i < 5; i++) {
        double d2 = pow(u - tpl[i].x, 2) + pow(v - tpl[i].y, 2);
        val -= 90 * exp(-d2 / 18.0);
    }
    return val;
}

static void test_synthetic_face_maps_back(void **state) {
    (void)state;
    /* the face drawn at scale 2.6, rotated 23 degrees, moved: picture point p shows the canonical
     * point t^-1(p), t the canonical-to-picture transform */
    const fs_similarity t = make(23, 2.6, 260, 90), inv = fs_similarity_invert(t);
    fs_image img;
    fs_msg m;
    assert_int_equal(fs_image_alloc(&img, 640, 480, &m), FS_OK);
    for (int y = 0; y < img.h; y++)
        for (int x = 0; x < img.w; x++) {
            fs_point2f q = fs_similarity_apply(inv, (fs_point2f){x + 0.5f, y + 0.5f});
            for (int c = 0; c < 3; c++) {
                double v = face_value(q.x, q.y, c);
                img.rgb[((size_t)y * img.w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
            }
        }
    fs_point2f tpl[5], five[5];
    fs_align_template(112, 0, tpl);
    for (int i = 0; i < 5; i++) five[i] = fs_similarity_apply(t, tpl[i]);
    fs_image out;
    fs_similarity got;
    assert_int_equal(fs_align_face(&img, five, 112, 0, FS_BORDER_CONSTANT, &out, &got, &m), FS_OK);
    assert_true(fabs(got.a - inv.a) < 1e-5 && fabs(got.b - inv.b) < 1e-5);
    assert_true(fabs(got.tx - inv.tx) < 1e-2 && fabs(got.ty - inv.ty) < 1e-2);
    double sum = 0, worst = 0;
    for (int y = 0; y < 112; y++)
        for (int x = 0; x < 112; x++)
            for (int c = 0; c < 3; c++) {
                double want = face_value(x + 0.5, y + 0.5, c);
                want = want < 0 ? 0 : want > 255 ? 255 : want;
                double d = fabs(out.rgb[((size_t)y * 112 + x) * 3 + c] - want);
                sum += d, worst = fmax(worst, d);
            }
    printf("  aligned crop against the canonical face: mean |diff| %.2f, worst %.0f levels\n",
           sum / (112 * 112 * 3), worst);
    assert_true(sum / (112 * 112 * 3) < 1.0);
    assert_true(worst <= 8);
    /* shifted by 3 canonical pixels, the same crop is far off: the comparison can fail */
    double off = 0;
    for (int y = 0; y < 112; y++)
        for (int x = 3; x < 112; x++)
            off += fabs(out.rgb[((size_t)y * 112 + x) * 3] - face_value(x - 3 + 0.5, y + 0.5, 0));
    assert_true(off / (112 * 109) > 5.0);
    fs_image_free(&out);

    /* margin 0.5 at 224: the template points land where fs_align_template says */
    assert_int_equal(fs_align_face(&img, five, 224, 0.5f, FS_BORDER_CONSTANT, &out, &got, &m), FS_OK);
    fs_point2f tpl2[5];
    fs_align_template(224, 0.5f, tpl2);
    for (int i = 0; i < 5; i++) {
        fs_point2f p = fs_similarity_apply(got, five[i]);
        assert_true(fabsf(p.x - tpl2[i].x) < 1e-2f && fabsf(p.y - tpl2[i].y) < 1e-2f);
    }
    assert_true(fabsf(tpl2[0].x - (112 + (38.2946f * 2 - 112) / 2)) < 1e-3f);
    fs_image_free(&out);
    fs_image_free(&img);
}

static void test_borders(void **state) {
    (void)state;
    fs_image img, out;
    fs_msg m;
    assert_int_equal(fs_image_alloc(&img, 40, 30, &m), FS_OK);
    for (int i = 0; i < 40 * 30 * 3; i++) img.rgb[i] = (uint8_t)(100 + i % 7);
    /* a crop whose left half lies outside the picture */
    fs_similarity t = {1, 0, 20, 0};
    assert_int_equal(fs_align_warp(&img, t, 40, 30, FS_BORDER_CONSTANT, &out, &m), FS_OK);
    assert_int_equal(out.rgb[(15 * 40 + 5) * 3], 0);     /* outside: black */
    assert_true(out.rgb[(15 * 40 + 30) * 3] >= 100);      /* inside: the picture */
    fs_image_free(&out);
    assert_int_equal(fs_align_warp(&img, t, 40, 30, FS_BORDER_REPLICATE, &out, &m), FS_OK);
    for (int i = 0; i < 40 * 30 * 3; i++) assert_true(out.rgb[i] >= 100);
    fs_image_free(&out);
    /* a crop far away from the picture: all black, or the nearest edge */
    t = (fs_similarity){0.5, 0.5, 1e6, -1e6};
    assert_int_equal(fs_align_warp(&img, t, 8, 8, FS_BORDER_CONSTANT, &out, &m), FS_OK);
    for (int i = 0; i < 8 * 8 * 3; i++) assert_int_equal(out.rgb[i], 0);
    fs_image_free(&out);
    assert_int_equal(fs_align_warp(&img, t, 8, 8, FS_BORDER_REPLICATE, &out, &m), FS_OK);
    for (int i = 0; i < 8 * 8 * 3; i++) assert_true(out.rgb[i] >= 100);
    fs_image_free(&out);
    /* a strong shrink is smoothed: a 1-pixel checkerboard averages to grey */
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            memset(img.rgb + ((size_t)y * 40 + x) * 3, (x + y) % 2 ? 255 : 0, 3);
    t = (fs_similarity){0.25, 0, 0, 0};
    assert_int_equal(fs_align_warp(&img, t, 10, 7, FS_BORDER_CONSTANT, &out, &m), FS_OK);
    for (int i = 0; i < 10 * 7 * 3; i++) assert_true(abs(out.rgb[i] - 128) <= 2);
    fs_image_free(&out);
    fs_image_free(&img);
}

/* The five points of 68: eye centres are the means of their six points. */
static void test_five_from_68(void **state) {
    (void)state;
    fs_point2f p[FS_LANDMARKS_POINTS], five[5];
    for (int i = 0; i < FS_LANDMARKS_POINTS; i++) p[i] = (fs_point2f){(float)i, (float)(2 * i)};
    fs_landmarks_five(p, five);
    assert_true(five[0].x == 38.5f && five[0].y == 77.0f);
    assert_true(five[1].x == 44.5f && five[1].y == 89.0f);
    assert_true(five[2].x == 30 && five[3].x == 48 && five[4].x == 54);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_exact_and_inverse), cmocka_unit_test(test_fit_least_squares),
        cmocka_unit_test(test_degenerate_refused),    cmocka_unit_test(test_synthetic_face_maps_back),
        cmocka_unit_test(test_borders),               cmocka_unit_test(test_five_from_68),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
