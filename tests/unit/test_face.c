/* Unit tests of face/: cascade validation, the detector's building blocks against hand-worked
 * values, groupRectangles, NMS, crops, the tracker, and detection on a real photo from several
 * threads at once. */
#include "fs_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "face/cascade.h"
#include "fakescope/face.h"

/* ---- cascade XML ---- */

/* A one-stage, one-stump Haar cascade on a 6x6 window: value = (right half - left half) / std,
 * accepted when > 0, i.e. the window's left half is darker. FEATURE_IDX and RECTS are filled in
 * by each test. */
#define CASCADE_FMT                                                                              \
    "<?xml version=\"1.0\"?>\n<opencv_storage>\n<cascade type_id=\"opencv-cascade-classifier\">" \
    "<stageType>BOOST</stageType><featureType>HAAR</featureType>"                               \
    "<height>6</height><width>6</width>"                                                          \
    "<stageParams><maxWeakCount>1</maxWeakCount></stageParams>"                                   \
    "<featureParams><maxCatCount>0</maxCatCount></featureParams><stageNum>1</stageNum>"           \
    "%s"                                                                                          \
    "<features><_><rects><_>0 0 3 6 -1.</_><_>%s</_></rects><tilted>0</tilted></_></features>"    \
    "</cascade></opencv_storage>\n"
#define STAGES_OK                                                                                \
    "<stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold>"              \
    "<weakClassifiers><_><internalNodes>0 -1 0 0.</internalNodes>"                               \
    "<leafValues>-1. 1.</leafValues></_></weakClassifiers></_></stages>"

static fs_err parse(const char *stages, const char *rect2, fs_cascade **c, fs_msg *msg) {
    char xml[4096];
    snprintf(xml, sizeof xml, CASCADE_FMT, stages, rect2);
    return fs_cascade_parse(xml, strlen(xml), "test.xml", c, msg);
}

static void test_cascade_valid(void **state) {
    (void)state;
    fs_cascade *c = NULL;
    fs_msg msg = {{0}};
    assert_int_equal(parse(STAGES_OK, "3 0 3 6 1.", &c, &msg), FS_OK);
    assert_non_null(c);
    assert_int_equal(fs_cascade_window_w(c), 6);
    assert_int_equal(fs_cascade_window_h(c), 6);
    assert_int_equal(fs_cascade_stage_count(c), 1);
    assert_int_equal(fs_cascade_feature_type(c), FS_CASCADE_HAAR);
    /* OpenCV lowers stage thresholds by 1e-5 */
    assert_true(c->stages[0].threshold == 0.f - 1e-5f);
    fs_cascade_free(c);
}

static void expect_error(const char *xml, fs_err want, const char *needle) {
    fs_cascade *c = (fs_cascade *)1;
    fs_msg msg = {{0}};
    fs_err err = fs_cascade_parse(xml, strlen(xml), "test.xml", &c, &msg);
    if (err != want || !strstr(msg.text, needle))
        fail_msg("wanted %s containing '%s', got %s: %s", fs_err_name(want), needle,
                 fs_err_name(err), msg.text);
    assert_null(c);
}

static void expect_parse_error(const char *stages, const char *rect2, fs_err want,
                               const char *needle) {
    char xml[4096];
    snprintf(xml, sizeof xml, CASCADE_FMT, stages, rect2);
    expect_error(xml, want, needle);
}

static void test_cascade_errors(void **state) {
    (void)state;
    expect_error("<opencv_storage><cascade><stageType>BOOST</stageType>", FS_ERR_FORMAT,
                 "malformed XML");
    expect_error("", FS_ERR_FORMAT, "malformed XML");
    expect_error("<opencv_storage><cascade></cascade></opencv_storage>", FS_ERR_FORMAT,
                 "<stageType> is missing");
    expect_error("<opencv_storage><c type_id=\"opencv-haar-classifier\"><size>20 20</size></c>"
                 "</opencv_storage>",
                 FS_ERR_UNSUPPORTED, "old-style");
    expect_parse_error("", "3 0 3 6 1.", FS_ERR_FORMAT, "<stages> is missing");
    expect_parse_error("<stages></stages>", "3 0 3 6 1.", FS_ERR_FORMAT, "<stages> is empty");
    /* feature 7 does not exist */
    expect_parse_error("<stages><_><stageThreshold>0</stageThreshold><weakClassifiers><_>"
                       "<internalNodes>0 -1 7 0.</internalNodes><leafValues>-1 1</leafValues>"
                       "</_></weakClassifiers></_></stages>",
                       "3 0 3 6 1.", FS_ERR_FORMAT, "uses feature 7 but only 1 features");
    expect_parse_error("<stages><_><stageThreshold>0</stageThreshold><weakClassifiers><_>"
                       "<internalNodes>0 -1 0</internalNodes><leafValues>-1 1</leafValues>"
                       "</_></weakClassifiers></_></stages>",
                       "3 0 3 6 1.", FS_ERR_FORMAT, "internalNodes has 3 numbers");
    expect_parse_error("<stages><_><stageThreshold>0</stageThreshold><weakClassifiers><_>"
                       "<internalNodes>0 -1 0 0.5</internalNodes><leafValues>-1</leafValues>"
                       "</_></weakClassifiers></_></stages>",
                       "3 0 3 6 1.", FS_ERR_FORMAT, "leafValues has 1 values");
    /* a child pointing back at its parent would loop forever */
    expect_parse_error("<stages><_><stageThreshold>0</stageThreshold><weakClassifiers><_>"
                       "<internalNodes>1 -1 0 0.5 1 -2 0 0.5</internalNodes>"
                       "<leafValues>1 2 3</leafValues></_></weakClassifiers></_></stages>",
                       "3 0 3 6 1.", FS_ERR_FORMAT, "node 1 has children");
    expect_parse_error("<stages><_><stageThreshold>abc</stageThreshold><weakClassifiers><_>"
                       "<internalNodes>0 -1 0 0.5</internalNodes><leafValues>-1 1</leafValues>"
                       "</_></weakClassifiers></_></stages>",
                       "3 0 3 6 1.", FS_ERR_FORMAT, "'abc' is not a number");
    expect_parse_error("<stages><_><stageThreshold>0</stageThreshold></_></stages>", "3 0 3 6 1.",
                       FS_ERR_FORMAT, "<weakClassifiers> is missing");
    /* rectangles must stay inside the 6x6 window */
    expect_parse_error(STAGES_OK, "4 0 3 6 1.", FS_ERR_FORMAT, "leaves the 6x6 window");
    expect_parse_error(STAGES_OK, "3 0 3 6", FS_ERR_FORMAT, "must be 'x y w h weight'");
}

static void test_cascade_load_missing(void **state) {
    (void)state;
    fs_cascade *c = NULL;
    fs_msg msg = {{0}};
    assert_int_not_equal(fs_cascade_load("/nonexistent/cascade.xml", &c, &msg), FS_OK);
    assert_null(c);
    assert_int_equal(fs_cascade_find("/nonexistent/x.xml", (char[64]){0}, 64, &msg),
                     FS_ERR_NOTFOUND);
}

/* Every cascade Debian ships in the new format loads. */
static void test_cascade_debian_files(void **state) {
    (void)state;
    const char *names[] = {"haarcascade_frontalface_default", "haarcascade_frontalface_alt2.xml",
                           "haarcascade_eye_tree_eyeglasses", "haarcascade_upperbody",
                           "lbpcascade_frontalface_improved"};
    char path[512];
    fs_msg msg = {{0}};
    if (fs_cascade_find(names[0], path, sizeof path, &msg)) {
        printf("skipped: %s\n", msg.text);
        skip();
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fs_cascade *c = NULL;
        assert_int_equal(fs_cascade_find(names[i], path, sizeof path, &msg), FS_OK);
        if (fs_cascade_load(path, &c, &msg)) fail_msg("%s", msg.text);
        assert_true(fs_cascade_stage_count(c) > 10);
        fs_cascade_free(c);
    }
}

/* Truncated and corrupted copies of a real cascade are refused or loaded, never crash (the
 * sanitizer build turns any bad read into a failure). */
static void test_cascade_corrupt(void **state) {
    (void)state;
    char path[512];
    fs_msg msg = {{0}};
    if (fs_cascade_find("haarcascade_frontalface_alt2.xml", path, sizeof path, &msg)) skip();
    uint8_t *xml = NULL;
    size_t len = 0;
    assert_int_equal(fs_read_file(path, FS_CASCADE_MAX_BYTES, &xml, &len, &msg), FS_OK);
    srand(11);
    for (int trial = 0; trial < 24; trial++) {
        size_t cut = (size_t)rand() % len;
        fs_cascade *c = NULL;
        /* a cut file is malformed XML (the root is never closed) */
        assert_int_equal(fs_cascade_parse((const char *)xml, cut, "cut.xml", &c, &msg),
                         FS_ERR_FORMAT);
        assert_null(c);
        /* flip a few digits or signs into other characters */
        uint8_t *copy = malloc(len);
        memcpy(copy, xml, len);
        for (int k = 0; k < 8; k++) {
            size_t at = (size_t)rand() % len;
            copy[at] = (uint8_t)"-9 .e<0"[rand() % 7];
        }
        fs_err err = fs_cascade_parse((const char *)copy, len, "flip.xml", &c, &msg);
        if (err == FS_OK) {
            uint8_t img[64 * 48];
            for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(i * 37);
            fs_face *f = NULL;
            size_t n = 0;
            fs_face_params p = fs_face_params_default();
            p.min_neighbors = 0;
            assert_int_equal(fs_face_detect_gray(c, img, 64, 48, 64, &p, &f, &n, &msg), FS_OK);
            free(f);
            fs_cascade_free(c);
        } else {
            assert_null(c);
            assert_true(msg.text[0] != 0);
        }
        free(copy);
    }
    free(xml);
}

/* ---- building blocks ---- */

static void test_integral_hand(void **state) {
    (void)state;
    const uint8_t img[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    uint32_t sum[16], sq[16], t[16];
    fs_face_integral(img, 3, 3, 3, sum, sq, t, 4);
    assert_int_equal(sum[0], 0);
    assert_int_equal(sum[1 * 4 + 1], 1);
    assert_int_equal(sum[2 * 4 + 2], 1 + 2 + 4 + 5);
    assert_int_equal(sum[3 * 4 + 3], 45);
    assert_int_equal(sum[3 * 4 + 1], 1 + 4 + 7);
    assert_int_equal(sq[3 * 4 + 3], 285);
    assert_int_equal(sq[2 * 4 + 3], 1 + 4 + 9 + 16 + 25 + 36);
    /* tilted (x=2, y=2): row 0 pixels 0..2 (1+2+3) and row 1 pixel 1 (5) */
    assert_int_equal(t[2 * 4 + 2], 11);
    assert_int_equal(t[1 * 4 + 1], 1); /* apex (0, 0) */
    assert_int_equal(t[2 * 4 + 0], 1); /* apex (-1, 1): only pixel (0, 0) */
}

/* The tilted integral against its definition on random images of odd shapes. */
static void test_integral_tilted_definition(void **state) {
    (void)state;
    srand(7);
    for (int trial = 0; trial < 20; trial++) {
        int w = 1 + rand() % 13, h = 1 + rand() % 11, stride = w + 1 + trial % 3;
        uint8_t img[13 * 11];
        for (int i = 0; i < w * h; i++) img[i] = (uint8_t)(rand() & 255);
        uint32_t sum[12 * 17], sq[12 * 17], t[12 * 17];
        fs_face_integral(img, w, h, w, sum, sq, t, stride);
        for (int y = 0; y <= h; y++)
            for (int x = 0; x <= w; x++) {
                uint32_t want = 0, want_sum = 0;
                for (int yy = 0; yy < h; yy++)
                    for (int xx = 0; xx < w; xx++) {
                        if (yy < y && abs(xx - x + 1) <= y - 1 - yy) want += img[yy * w + xx];
                        if (yy < y && xx < x) want_sum += img[yy * w + xx];
                    }
                assert_int_equal(t[y * stride + x], want);
                assert_int_equal(sum[y * stride + x], want_sum);
            }
    }
}

static void test_resize_hand(void **state) {
    (void)state;
    /* 3 -> 2 pixels: source positions 0.25 and 1.75, weights in 1/256 */
    const uint8_t row[3] = {0, 100, 200};
    uint8_t out[4];
    assert_int_equal(fs_face_resize_linear(row, 3, 1, 3, out, 2, 1), FS_OK);
    assert_int_equal(out[0], 25);  /* (192*0 + 64*100 + 128) >> 8 */
    assert_int_equal(out[1], 175); /* (64*100 + 192*200 + 128) >> 8 */
    const uint8_t sq[9] = {0, 100, 200, 50, 150, 250, 10, 20, 30};
    assert_int_equal(fs_face_resize_linear(sq, 3, 3, 3, out, 2, 2), FS_OK);
    assert_int_equal(out[0], 38); /* (6400*192 + 19200*64 + 2^15) >> 16 */
    assert_int_equal(out[3], 77);
    /* an exact halving averages 2x2 blocks, rounding half up */
    const uint8_t q[8] = {0, 1, 10, 20, 1, 1, 30, 41};
    assert_int_equal(fs_face_resize_linear(q, 4, 2, 4, out, 2, 1), FS_OK);
    assert_int_equal(out[0], 1);  /* (0+1+1+1+2)>>2 */
    assert_int_equal(out[1], 25); /* (10+20+30+41+2)>>2 */
    /* a flat image stays flat at any size */
    uint8_t flat[40 * 30], small[17 * 11];
    memset(flat, 77, sizeof flat);
    assert_int_equal(fs_face_resize_linear(flat, 40, 30, 40, small, 17, 11), FS_OK);
    for (size_t i = 0; i < sizeof small; i++) assert_int_equal(small[i], 77);
}

static void test_gray_weights(void **state) {
    (void)state;
    uint8_t px[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30};
    fs_image img = {4, 1, px};
    uint8_t g[4];
    fs_face_gray(&img, g);
    assert_int_equal(g[0], 76);  /* (9798*255 + 16384) >> 15 */
    assert_int_equal(g[1], 150); /* (19235*255 + 16384) >> 15 */
    assert_int_equal(g[2], 29);
    assert_int_equal(g[3], (10 * 9798 + 200 * 19235 + 30 * 3735 + 16384) >> 15);
}

/* The toy cascade accepts windows whose left half is darker than the right: on an image with one
 * vertical dark|bright edge every accepted window must straddle the edge. */
static void test_toy_cascade_detects_edges(void **state) {
    (void)state;
    fs_cascade *c = NULL;
    fs_msg msg = {{0}};
    assert_int_equal(parse(STAGES_OK, "3 0 3 6 1.", &c, &msg), FS_OK);
    enum { W = 24, H = 16, EDGE = 11 };
    uint8_t img[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) img[y * W + x] = x < EDGE ? 20 : 230;
    fs_box *cand = NULL;
    size_t n = 0;
    assert_int_equal(fs_face_candidates(c, img, W, H, W, 1.25, 0, 0, &cand, &n, &msg), FS_OK);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(cand[i].x < EDGE);
        assert_true(cand[i].x + cand[i].w > EDGE);
    }
    free(cand);
    /* a flat image has no variance: nothing is accepted */
    memset(img, 128, sizeof img);
    assert_int_equal(fs_face_candidates(c, img, W, H, W, 1.25, 0, 0, &cand, &n, &msg), FS_OK);
    assert_int_equal(n, 0);
    free(cand);
    /* the mirrored image (bright | dark) is rejected everywhere */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) img[y * W + x] = x < EDGE ? 230 : 20;
    assert_int_equal(fs_face_candidates(c, img, W, H, W, 1.25, 0, 0, &cand, &n, &msg), FS_OK);
    assert_int_equal(n, 0);
    free(cand);
    fs_cascade_free(c);
}

/* ---- groupRectangles ---- */

static void test_group_rectangles(void **state) {
    (void)state;
    fs_face out[16];
    /* four near-identical windows and one far away */
    fs_box a[] = {{10, 10, 40, 40}, {11, 10, 40, 40}, {10, 12, 40, 40}, {12, 11, 42, 42},
                  {200, 200, 40, 40}};
    long n = fs_face_group(a, 5, 2, 0.2, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].neighbors, 4);
    /* averages (43/4, 43/4, 162/4, 162/4) rounded half to even */
    assert_int_equal(out[0].box.x, 11);
    assert_int_equal(out[0].box.y, 11);
    assert_int_equal(out[0].box.w, 40);
    assert_int_equal(out[0].box.h, 40);
    /* threshold 0: the raw windows come back with one neighbour each */
    n = fs_face_group(a, 5, 0, 0.2, out);
    assert_int_equal(n, 5);
    assert_int_equal(out[4].box.x, 200);
    assert_int_equal(out[4].neighbors, 1);
    /* similarity is transitive: a chain of small shifts becomes one group */
    fs_box chain[] = {{0, 0, 50, 50}, {9, 0, 50, 50}, {18, 0, 50, 50}, {27, 0, 50, 50}};
    n = fs_face_group(chain, 4, 1, 0.2, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].neighbors, 4);
    /* a weaker small group inside a stronger big one is dropped */
    fs_box nest[] = {{100, 100, 100, 100}, {101, 100, 100, 100}, {100, 101, 100, 100},
                     {102, 102, 100, 100}, {100, 100, 100, 100}, {130, 130, 30, 30},
                     {131, 130, 30, 30}, {130, 131, 30, 30}};
    n = fs_face_group(nest, 8, 2, 0.2, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].neighbors, 5);
    assert_int_equal(out[0].box.w, 100);
    /* ... unless it is the stronger one */
    n = fs_face_group(nest + 2, 6, 1, 0.2, out); /* big group of 3, small of 3 */
    assert_int_equal(n, 2);
}

/* ---- NMS and IoU ---- */

static void test_iou_and_nms(void **state) {
    (void)state;
    assert_float_equal(fs_box_iou((fs_box){0, 0, 10, 10}, (fs_box){5, 0, 10, 10}), 50.f / 150.f,
                       1e-6);
    assert_float_equal(fs_box_iou((fs_box){0, 0, 10, 10}, (fs_box){10, 0, 10, 10}), 0.f, 0);
    assert_float_equal(fs_box_iou((fs_box){0, 0, 0, 10}, (fs_box){0, 0, 0, 10}), 0.f, 0);
    assert_float_equal(fs_rectf_iou((fs_rectf){0, 0, 2, 2}, (fs_rectf){1, 1, 2, 2}), 1.f / 7.f,
                       1e-6);
    fs_rectf b[] = {{0, 0, 10, 10}, {1, 1, 10, 10}, {50, 50, 10, 10}, {0, 0, 10, 10},
                    {52, 50, 10, 10}};
    float s[] = {0.5f, 0.9f, 0.7f, 0.9f, 0.2f};
    size_t keep[5];
    size_t k = fs_nms(b, s, 5, 0.5f, keep);
    /* 1 and 3 tie at 0.9: the lower index wins; 3 (IoU 0.68 with 1) and 0 go; 4 overlaps 2 by 0.67 */
    assert_int_equal(k, 2);
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 2);
    /* a threshold above every overlap keeps everything, best first */
    k = fs_nms(b, s, 5, 0.99f, keep);
    assert_int_equal(k, 4); /* 3 equals 0 exactly (IoU 1) */
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 3);
    assert_int_equal(keep[2], 2);
    assert_int_equal(keep[3], 4);
    assert_int_equal(fs_nms(b, s, 0, 0.5f, keep), 0);
}

/* ---- crops ---- */

static void test_crop_box(void **state) {
    (void)state;
    /* centred square, 30% larger than the longer side */
    fs_box b = fs_face_crop_box((fs_box){100, 100, 100, 80}, 0.3f, 640, 480);
    assert_int_equal(b.w, 130);
    assert_int_equal(b.h, 130);
    assert_int_equal(b.x, 85);
    assert_int_equal(b.y, 75);
    /* clipped at the top-left corner */
    b = fs_face_crop_box((fs_box){0, 0, 10, 10}, 0.3f, 640, 480);
    assert_int_equal(b.x, 0);
    assert_int_equal(b.y, 0);
    assert_int_equal(b.w, 11); /* side 13 around centre 5: [-2, 11) clipped to [0, 11) */
    assert_int_equal(b.h, 11);
    /* clipped at the bottom-right corner */
    b = fs_face_crop_box((fs_box){600, 440, 40, 40}, 0.5f, 640, 480);
    assert_int_equal(b.x, 590);
    assert_int_equal(b.y, 430);
    assert_int_equal(b.w, 50);
    assert_int_equal(b.h, 50);
    /* no margin: the face itself */
    b = fs_face_crop_box((fs_box){5, 6, 20, 20}, 0.f, 100, 100);
    assert_memory_equal(&b, (&(fs_box){5, 6, 20, 20}), sizeof b);
}

static void test_crop_image(void **state) {
    (void)state;
    fs_image frame = {0}, out = {0};
    fs_msg msg = {{0}};
    assert_int_equal(fs_image_alloc(&frame, 64, 48, &msg), FS_OK);
    /* left half red, right half blue */
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = frame.rgb + (y * 64 + x) * 3;
            p[0] = x < 32 ? 255 : 0, p[1] = 0, p[2] = x < 32 ? 0 : 255;
        }
    fs_box used;
    assert_int_equal(fs_face_crop(&frame, (fs_box){0, 10, 20, 20}, 0.3f, 16, 16, &out, &used, &msg),
                     FS_OK);
    assert_int_equal(out.w, 16);
    assert_int_equal(out.h, 16);
    assert_int_equal(used.x, 0); /* clipped at the left edge */
    assert_int_equal(used.w, 23);
    for (int i = 0; i < 16 * 16; i++) assert_int_equal(out.rgb[i * 3], 255); /* all red */
    fs_image_free(&out);
    assert_int_equal(fs_face_crop(&frame, (fs_box){500, 500, 20, 20}, 0.3f, 16, 16, &out, NULL,
                                  &msg),
                     FS_ERR_INVALID);
    fs_image_free(&frame);
}

/* ---- tracker ---- */

static void test_tracker_crossing(void **state) {
    (void)state;
    fs_tracker *t = NULL;
    fs_msg msg = {{0}};
    assert_int_equal(fs_tracker_create(FS_TRACK_IOU_DEFAULT, 0, &t, &msg), FS_OK);
    /* A walks right, B walks left a little lower; they pass each other around frame 10 with
     * their boxes overlapping by up to 0.5 IoU. Each moves 6 px per frame with 60 px boxes, so a
     * box overlaps its own previous box more than the other person's: the ids must survive. */
    int idA = -1, idB = -1;
    for (int f = 0; f <= 20; f++) {
        fs_box boxes[2] = {{40 + 6 * f, 100, 60, 60}, {163 - 6 * f, 120, 60, 60}};
        int ids[2];
        /* give the boxes in alternating order so that position in the list means nothing */
        if (f % 2) {
            fs_box tmp = boxes[0];
            boxes[0] = boxes[1], boxes[1] = tmp;
        }
        assert_int_equal(fs_tracker_update(t, f, boxes, 2, ids, &msg), FS_OK);
        int a = f % 2 ? ids[1] : ids[0], b = f % 2 ? ids[0] : ids[1];
        if (f == 0) idA = a, idB = b;
        assert_int_equal(a, idA);
        assert_int_equal(b, idB);
    }
    assert_int_equal(fs_tracker_count(t), 2);
    /* a new person far away gets a new id; a frame without anyone keeps the tracks */
    int id;
    assert_int_equal(fs_tracker_update(t, 21, NULL, 0, NULL, &msg), FS_OK);
    assert_int_equal(fs_tracker_update(t, 25, &(fs_box){500, 400, 50, 50}, 1, &id, &msg), FS_OK);
    assert_int_equal(id, 2);
    /* frames may skip: A's last box (frame 20) still links at frame 30 */
    assert_int_equal(fs_tracker_update(t, 30, &(fs_box){162, 100, 60, 60}, 1, &id, &msg), FS_OK);
    assert_int_equal(id, idA);
    /* a head that moved past its box between two samples (no overlap left) keeps its id when
     * its size held; one of twice the size nearby is someone else */
    assert_int_equal(fs_tracker_update(t, 31, &(fs_box){205, 110, 58, 58}, 1, &id, &msg), FS_OK);
    assert_int_equal(id, idA);
    assert_int_equal(fs_tracker_update(t, 32, &(fs_box){240, 100, 130, 130}, 1, &id, &msg), FS_OK);
    assert_int_not_equal(id, idA);
    /* going back in time is refused */
    assert_int_equal(fs_tracker_update(t, 3, &(fs_box){0, 0, 5, 5}, 1, &id, &msg), FS_ERR_INVALID);
    fs_tracker_free(t);
}

/* 68 landmarks on a small ring around (cx, cy): what the tracker uses of them is their mean. */
static void ring_landmarks(float lm[FS_TRACK_LANDMARKS][2], float cx, float cy) {
    for (int i = 0; i < FS_TRACK_LANDMARKS; i++) {
        const double a = 2 * M_PI * i / FS_TRACK_LANDMARKS;
        lm[i][0] = (float)(cx + 20 * cos(a)), lm[i][1] = (float)(cy + 25 * sin(a));
    }
}

static void test_tracker_landmarks(void **state) {
    (void)state;
    fs_msg msg = {{0}};
    /* The same face seen twice, samples apart (frames 0 and 5); the second box is framed
     * wider and further right (hair, a shoulder), its centre 0.84 of its side from the first
     * box's centre and not overlapping it. The landmarks say the face barely moved. */
    const fs_box b0 = {100, 100, 60, 60}, b5 = {160, 90, 90, 90};
    float lm0[FS_TRACK_LANDMARKS][2], lm5[FS_TRACK_LANDMARKS][2];
    ring_landmarks(lm0, 130, 130);
    ring_landmarks(lm5, 140, 132);
    for (int with_lm = 0; with_lm <= 1; with_lm++) {
        fs_tracker *t = NULL;
        assert_int_equal(fs_tracker_create(FS_TRACK_IOU_DEFAULT, 0, &t, &msg), FS_OK);
        fs_track_face f0 = {b0, with_lm ? lm0 : NULL}, f5 = {b5, with_lm ? lm5 : NULL};
        int id0, id5;
        assert_int_equal(fs_tracker_update_faces(t, 0, &f0, 1, &id0, &msg), FS_OK);
        assert_int_equal(fs_tracker_update_faces(t, 5, &f5, 1, &id5, &msg), FS_OK);
        if (with_lm)
            assert_int_equal(id5, id0);
        else
            assert_int_not_equal(id5, id0); /* by boxes alone, too far */
        /* landmarks on one side only: boxes decide */
        fs_track_face f6 = {b5, NULL};
        int id6;
        assert_int_equal(fs_tracker_update_faces(t, 6, &f6, 1, &id6, &msg), FS_OK);
        assert_int_equal(id6, id5); /* same box as frame 5: overlap */
        fs_tracker_free(t);
    }
}

static void test_tracker_walkers(void **state) {
    (void)state;
    fs_msg msg = {{0}};
    /* Two people 900 px apart walk right, 100 px per sample with 80 px faces (1.25 sides):
     * no overlap and too far for the second stage, but each is the other's nearest. In
     * consecutive samples they keep their ids; with samples missing in between, they do not. */
    for (int step = 1; step <= 2; step++) {
        fs_tracker *t = NULL;
        assert_int_equal(fs_tracker_create(FS_TRACK_IOU_DEFAULT, 0, &t, &msg), FS_OK);
        int first[2] = {-1, -1};
        for (int i = 0; i < 6; i++) {
            fs_box boxes[2] = {{100 * i, 100, 80, 80}, {1000 + 100 * i, 120, 80, 80}};
            int ids[2];
            assert_int_equal(fs_tracker_update(t, i * step, boxes, 2, ids, &msg), FS_OK);
            if (i == 0) first[0] = ids[0], first[1] = ids[1];
            if (step == 1) {
                assert_int_equal(ids[0], first[0]);
                assert_int_equal(ids[1], first[1]);
            }
        }
        assert_int_equal(fs_tracker_count(t), step == 1 ? 2 : 12);
        fs_tracker_free(t);
    }
    /* Two faces near one track: the nearer takes it, the other is someone new; a face of
     * twice the size is someone else however near. */
    fs_tracker *t = NULL;
    assert_int_equal(fs_tracker_create(FS_TRACK_IOU_DEFAULT, 0, &t, &msg), FS_OK);
    int id, ids[2];
    assert_int_equal(fs_tracker_update(t, 0, &(fs_box){100, 100, 80, 80}, 1, &id, &msg), FS_OK);
    fs_box two[2] = {{250, 100, 80, 80}, {220, 100, 80, 80}}; /* 1.9 and 1.5 sides away */
    assert_int_equal(fs_tracker_update(t, 1, two, 2, ids, &msg), FS_OK);
    assert_int_equal(ids[1], id);
    assert_int_not_equal(ids[0], id);
    assert_int_equal(fs_tracker_update(t, 2, &(fs_box){320, 100, 160, 160}, 1, &id, &msg), FS_OK);
    assert_int_equal(id, 2);
    fs_tracker_free(t);
}

static void test_tracker_gap(void **state) {
    (void)state;
    fs_tracker *t = NULL;
    fs_msg msg = {{0}};
    assert_int_equal(fs_tracker_create(0.3f, 5, &t, &msg), FS_OK);
    int id0, id1, id2;
    fs_box b = {10, 10, 40, 40};
    assert_int_equal(fs_tracker_update(t, 0, &b, 1, &id0, &msg), FS_OK);
    assert_int_equal(fs_tracker_update(t, 5, &b, 1, &id1, &msg), FS_OK);
    assert_int_equal(id1, id0); /* gap of 5 is allowed */
    assert_int_equal(fs_tracker_update(t, 11, &b, 1, &id2, &msg), FS_OK);
    assert_int_not_equal(id2, id0); /* gap of 6 retired the track */
    /* two boxes on one track in one frame: only the better one joins it */
    fs_box two[2] = {{12, 10, 40, 40}, {10, 10, 40, 40}};
    int ids[2];
    assert_int_equal(fs_tracker_update(t, 12, two, 2, ids, &msg), FS_OK);
    assert_int_equal(ids[1], id2);
    assert_int_not_equal(ids[0], id2);
    assert_int_equal(fs_tracker_create(0.f, 0, &(fs_tracker *){NULL}, &msg), FS_ERR_INVALID);
    fs_tracker_free(t);
}

/* ---- real photo, several threads on one cascade ---- */

typedef struct job {
    const fs_cascade *c;
    const fs_image *img;
    fs_face *faces;
    size_t n;
    fs_err err;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    fs_face_params p = fs_face_params_default();
    p.max_side = 0;
    j->err = fs_face_detect(j->c, j->img, &p, &j->faces, &j->n, NULL);
    return NULL;
}

static void test_detect_photo_threads(void **state) {
    (void)state;
    char buf[512], path[512];
    const char *img_path = fs_test_shared("mesonet/test_images/real/real00240.jpg", buf, sizeof buf);
    fs_msg msg = {{0}};
    if (!img_path || fs_cascade_find(NULL, path, sizeof path, &msg)) skip();
    fs_cascade *c = NULL;
    fs_image img = {0};
    assert_int_equal(fs_cascade_load(path, &c, &msg), FS_OK);
    fs_image_limits lim = fs_image_limits_default();
    if (fs_image_load(img_path, &lim, &img, &msg)) fail_msg("%s", msg.text);
    enum { THREADS = 4 };
    job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job){.c = c, .img = &img};
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(jobs[i].err, FS_OK);
        assert_int_equal(jobs[i].n, 1); /* one person in this photo */
        assert_memory_equal(jobs[i].faces, jobs[0].faces, sizeof(fs_face));
    }
    /* the face is big and central in this 256x256 picture */
    fs_box f = jobs[0].faces[0].box;
    assert_true(f.w > 120 && f.x > 10 && f.x + f.w < 250);
    /* shrinking first (max_side) finds the same face within a few pixels, in original units */
    fs_face_params p = fs_face_params_default();
    p.max_side = 128;
    fs_face *small = NULL;
    size_t ns = 0;
    assert_int_equal(fs_face_detect(c, &img, &p, &small, &ns, &msg), FS_OK);
    assert_true(ns >= 1);
    assert_true(fs_box_iou(small[0].box, f) > 0.7f);
    free(small);
    /* an image smaller than the window has no faces and is no error */
    fs_image tiny = {10, 10, img.rgb};
    assert_int_equal(fs_face_detect(c, &tiny, NULL, &small, &ns, &msg), FS_OK);
    assert_int_equal(ns, 0);
    assert_null(small);
    /* a minimum share of the shorter side: just below the face's side it is still found (the
     * same face, from fewer raw windows, as with OpenCV's minSize); above it, nothing is */
    p = fs_face_params_default();
    p.max_side = 0;
    p.min_share = (f.w - 8) / 256.0;
    assert_int_equal(fs_face_detect(c, &img, &p, &small, &ns, &msg), FS_OK);
    assert_int_equal(ns, 1);
    assert_true(fs_box_iou(small[0].box, f) > 0.7f);
    assert_true(small[0].neighbors < jobs[0].faces[0].neighbors);
    free(small);
    p.min_share = (f.w + 40) / 256.0;
    assert_int_equal(fs_face_detect(c, &img, &p, &small, &ns, &msg), FS_OK);
    assert_int_equal(ns, 0);
    /* the larger of min_size and the share applies */
    p.min_share = 0.01;
    p.min_size = f.w + 40;
    assert_int_equal(fs_face_detect(c, &img, &p, &small, &ns, &msg), FS_OK);
    assert_int_equal(ns, 0);
    /* bad parameters are refused */
    p.min_size = 0;
    p.min_share = 1.0;
    assert_int_equal(fs_face_detect(c, &img, &p, &small, &ns, &msg), FS_ERR_INVALID);
    p.min_share = -0.1;
    assert_int_equal(fs_face_detect(c, &img, &p, &small, &ns, &msg), FS_ERR_INVALID);
    p.min_share = 0;
    p.scale_factor = 1.0;
    assert_int_equal(fs_face_detect(c, &img, &p, &small, &ns, &msg), FS_ERR_INVALID);
    for (int i = 0; i < THREADS; i++) free(jobs[i].faces);
    fs_image_free(&img);
    fs_cascade_free(c);
}

/* Raw windows (OpenCV's detectMultiScaleNoGrouping) from the vectorised evaluator and from the
 * scalar loop, on grey pictures of several sizes and pyramid steps. */
static void candidates_both_ways(const fs_cascade *c, const uint8_t *g, int w, int h,
                                 double scale, int min_size, size_t *count) {
    fs_box *vec = NULL, *ref = NULL;
    size_t nv = 0, nr = 0;
    fs_msg msg = {{0}};
    unsetenv("FAKESCOPE_PORTABLE");
    assert_int_equal(fs_face_candidates(c, g, w, h, w, scale, min_size, 0, &vec, &nv, &msg), FS_OK);
    setenv("FAKESCOPE_PORTABLE", "1", 1);
    assert_int_equal(fs_face_candidates(c, g, w, h, w, scale, min_size, 0, &ref, &nr, &msg), FS_OK);
    unsetenv("FAKESCOPE_PORTABLE");
    assert_int_equal(nv, nr);
    if (nr) assert_memory_equal(vec, ref, nr * sizeof *ref);
    *count += nr;
    free(vec);
    free(ref);
}

static void test_candidates_avx2_match_scalar(void **state) {
    (void)state;
    char buf[512], path[512];
    const char *frame = fs_test_shared("dfdc/frames/real/lynaeydofd_fr0.jpg", buf, sizeof buf);
    fs_msg msg = {{0}};
    if (!frame || fs_cascade_find(NULL, path, sizeof path, &msg)) skip();
    if (!fs_cpu_has_avx2_fma()) {
        printf("skipped: no AVX2+FMA on this CPU\n");
        skip();
    }
    fs_cascade *c = NULL;
    assert_int_equal(fs_cascade_load(path, &c, &msg), FS_OK);
    fs_image img = {0};
    fs_image_limits lim = fs_image_limits_default();
    if (fs_image_load(frame, &lim, &img, &msg)) fail_msg("%s", msg.text);
    uint8_t *gray = malloc((size_t)img.w * img.h);
    assert_non_null(gray);
    fs_face_gray(&img, gray);
    size_t total = 0;
    /* the pipeline's size (two faces in this frame), and odd sizes for the row tails */
    static const int sizes[][2] = {{640, 360}, {333, 217}, {250, 141}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        uint8_t *small = malloc((size_t)w * h);
        assert_non_null(small);
        assert_int_equal(fs_face_resize_linear(gray, img.w, img.h, img.w, small, w, h), FS_OK);
        candidates_both_ways(c, small, w, h, 1.1, 0, &total);
        candidates_both_ways(c, small, w, h, 1.05, 30, &total);
        /* the first stages alone accept windows everywhere, next to windows the first stage
         * rejects: the skip of the window after those must be the same */
        int stages = c->stage_count;
        for (c->stage_count = 1; c->stage_count <= 3; c->stage_count++)
            candidates_both_ways(c, small, w, h, 1.1, 0, &total);
        c->stage_count = stages;
        free(small);
    }
    /* noise with a little structure: many windows pass the early stages */
    int w = 301, h = 187;
    uint8_t *noise = malloc((size_t)w * h);
    assert_non_null(noise);
    uint32_t x = 12345;
    for (int i = 0; i < w * h; i++) {
        x = x * 1664525u + 1013904223u;
        noise[i] = (uint8_t)((x >> 24) / 2 + ((i % w) / 4 % 2) * 100);
    }
    candidates_both_ways(c, noise, w, h, 1.1, 0, &total);
    /* flat areas: every window fails the variance test */
    memset(noise, 128, (size_t)w * h);
    candidates_both_ways(c, noise, w, h, 1.2, 0, &total);
    assert_true(total > 100); /* the comparison saw real detections */
    free(noise);
    free(gray);
    fs_image_free(&img);
    fs_cascade_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cascade_valid),
        cmocka_unit_test(test_cascade_errors),
        cmocka_unit_test(test_cascade_load_missing),
        cmocka_unit_test(test_cascade_debian_files),
        cmocka_unit_test(test_cascade_corrupt),
        cmocka_unit_test(test_integral_hand),
        cmocka_unit_test(test_integral_tilted_definition),
        cmocka_unit_test(test_resize_hand),
        cmocka_unit_test(test_gray_weights),
        cmocka_unit_test(test_toy_cascade_detects_edges),
        cmocka_unit_test(test_group_rectangles),
        cmocka_unit_test(test_iou_and_nms),
        cmocka_unit_test(test_crop_box),
        cmocka_unit_test(test_crop_image),
        cmocka_unit_test(test_tracker_crossing),
        cmocka_unit_test(test_tracker_gap),
        cmocka_unit_test(test_tracker_landmarks),
        cmocka_unit_test(test_tracker_walkers),
        cmocka_unit_test(test_detect_photo_threads),
        cmocka_unit_test(test_candidates_avx2_match_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
