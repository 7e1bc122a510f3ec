/* Unit tests of media/'s plots: each kind renders a valid PNG that decodes back to the right
 * size, shows its data where it should (a red series gives red pixels, feature-map tiles sit
 * on the announced grid, box outlines have the box colour and leave the inside alone, an
 * overlay at alpha 0 is the identity), and bad input fails with a message rather than a crash.
 * Font rendering differs between machines, so the tests check structure, not hashes. Each
 * test also leaves an example in tests/artifacts/ for a person to look at. */
#include "fs_test.h"

#include "fakescope/image.h"
#include "fakescope/binary_metrics.h"
#include "fakescope/plot.h"

#include <math.h>

#define ARTIFACTS FS_SOURCE_DIR "/tests/artifacts"

/* ---- helpers ---------------------------------------------------------------------------- */

static const uint8_t *px(const fs_image *img, int x, int y) {
    return img->rgb + ((size_t)y * img->w + x) * 3;
}

static int is_white(const uint8_t *p) {
    return p[0] > 245 && p[1] > 245 && p[2] > 245;
}

static int near(const uint8_t *p, uint32_t rgb, int tol) {
    return abs(p[0] - (int)((rgb >> 16) & 255)) <= tol &&
           abs(p[1] - (int)((rgb >> 8) & 255)) <= tol && abs(p[2] - (int)(rgb & 255)) <= tol;
}

/* Encodes the plot as PNG, decodes it back (proving the PNG is valid), checks it equals the
 * RGB image of the plot, saves it as an artifact and returns the decoded image. */
static fs_image png_roundtrip(const fs_plot *p, const char *artifact) {
    fs_msg msg;
    uint8_t *png;
    size_t len;
    if (fs_plot_png(p, &png, &len, &msg)) fail_msg("png: %s", msg.text);
    assert_int_equal(fs_image_sniff(png, len), FS_IMAGE_PNG);
    fs_image img, direct;
    if (fs_image_decode(png, len, NULL, &img, &msg)) fail_msg("decode: %s", msg.text);
    free(png);
    assert_int_equal(img.w, fs_plot_width(p));
    assert_int_equal(img.h, fs_plot_height(p));
    assert_int_equal(fs_plot_image(p, &direct, &msg), FS_OK);
    assert_memory_equal(img.rgb, direct.rgb, (size_t)img.w * img.h * 3);
    fs_image_free(&direct);
    if (artifact) {
        char path[512];
        assert_int_equal(fs_mkdirs(ARTIFACTS, &msg), FS_OK);
        snprintf(path, sizeof path, "%s/%s", ARTIFACTS, artifact);
        if (fs_plot_save(p, path, &msg)) fail_msg("save: %s", msg.text);
        fs_image back;
        assert_int_equal(fs_image_load(path, NULL, &back, &msg), FS_OK);
        assert_memory_equal(back.rgb, img.rgb, (size_t)img.w * img.h * 3);
        fs_image_free(&back);
    }
    return img;
}

static void save_image(const fs_image *img, const char *name) {
    fs_msg msg;
    char path[512];
    assert_int_equal(fs_mkdirs(ARTIFACTS, &msg), FS_OK);
    snprintf(path, sizeof path, "%s/%s", ARTIFACTS, name);
    if (fs_image_save(img, path, &msg)) fail_msg("save: %s", msg.text);
}

static size_t count_pixels(const fs_image *img, int x0, int y0, int x1, int y1,
                           int (*pred)(const uint8_t *)) {
    size_t n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += pred(px(img, x, y)) != 0;
    return n;
}

static int is_red(const uint8_t *p) {
    return p[0] > 180 && p[1] < 70 && p[2] < 70;
}

static int is_blue(const uint8_t *p) {
    return p[2] > 180 && p[0] < 70 && p[1] < 70;
}

static int not_white(const uint8_t *p) {
    return !is_white(p);
}

/* ---- line charts ------------------------------------------------------------------------ */

static void test_chart_loss_curves(void **state) {
    (void)state;
    enum { EPOCHS = 20 };
    double ep[EPOCHS], train[EPOCHS], val[EPOCHS];
    for (int i = 0; i < EPOCHS; i++) {
        ep[i] = i + 1;
        train[i] = 0.69 * exp(-i / 6.0) + 0.05;
        val[i] = 0.69 * exp(-i / 8.0) + 0.12 + 0.01 * (i % 3);
    }
    fs_series s[2] = {
        {.name = "train loss", .x = ep, .y = train, .n = EPOCHS, .color = FS_RGB(220, 20, 20)},
        {.name = "validation loss",
         .x = ep,
         .y = val,
         .n = EPOCHS,
         .color = FS_RGB(20, 20, 220),
         .markers = true},
    };
    fs_chart c = {.title = "MesoNet training",
                  .x_label = "epoch",
                  .y_label = "binary cross-entropy",
                  .series = s,
                  .n_series = 2};
    fs_plot *p;
    fs_msg msg;
    if (fs_plot_chart(&c, &p, &msg)) fail_msg("%s", msg.text);
    fs_image img = png_roundtrip(p, "chart_loss.png");
    assert_int_equal(img.w, FS_CHART_WIDTH_DEFAULT);
    assert_int_equal(img.h, FS_CHART_HEIGHT_DEFAULT);
    /* Both series are visible, and the plot area is not blank. */
    assert_true(count_pixels(&img, 0, 0, img.w, img.h, is_red) > 200);
    assert_true(count_pixels(&img, 0, 0, img.w, img.h, is_blue) > 200);
    assert_true(count_pixels(&img, img.w / 4, img.h / 4, 3 * img.w / 4, 3 * img.h / 4, not_white) >
                500);
    /* Loss falls: red is high on the left and low on the right. */
    size_t red_top_left = count_pixels(&img, 0, 0, img.w / 3, img.h / 2, is_red);
    size_t red_top_right = count_pixels(&img, 2 * img.w / 3, 0, img.w, img.h / 2, is_red);
    assert_true(red_top_left > red_top_right);
    fs_image_free(&img);
    fs_plot_free(p);

    /* A custom size is honoured. */
    c.width = 400;
    c.height = 300;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_OK);
    assert_int_equal(fs_plot_width(p), 400);
    assert_int_equal(fs_plot_height(p), 300);
    fs_plot_free(p);
}

static void test_chart_roc(void **state) {
    (void)state;
    /* Two models' ROC curves from scores that separate the classes well and less well. */
    enum { N = 400 };
    int y[N];
    double good[N], weak[N];
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        y[i] = i % 2;
        r = r * 1103515245u + 12345u;
        double u = (r >> 8) / 16777216.0;
        good[i] = y[i] ? 0.35 + 0.65 * u : 0.65 * u;
        weak[i] = y[i] ? 0.15 + 0.85 * sqrt(u) : 0.85 * u;
    }
    fs_roc a, b;
    fs_msg msg;
    assert_int_equal(fs_roc_curve(y, good, N, 1, &a, &msg), FS_OK);
    assert_int_equal(fs_roc_curve(y, weak, N, 1, &b, &msg), FS_OK);
    double auc_a, auc_b;
    fs_roc_auc(y, good, N, &auc_a, &msg);
    fs_roc_auc(y, weak, N, &auc_b, &msg);
    char name_a[64], name_b[64];
    snprintf(name_a, sizeof name_a, "Meso4 (AUC %.3f)", auc_a);
    snprintf(name_b, sizeof name_b, "MesoInception4 (AUC %.3f)", auc_b);
    fs_series s[2] = {{.name = name_a, .x = a.fpr, .y = a.tpr, .n = a.n},
                      {.name = name_b, .x = b.fpr, .y = b.tpr, .n = b.n}};
    fs_chart c = {.title = "ROC curve",
                  .x_label = "false positive rate",
                  .y_label = "true positive rate",
                  .series = s,
                  .n_series = 2,
                  .fix_x = true,
                  .x_min = 0,
                  .x_max = 1,
                  .fix_y = true,
                  .y_min = 0,
                  .y_max = 1,
                  .diagonal = true,
                  .width = 600,
                  .height = 560};
    fs_plot *p;
    if (fs_plot_chart(&c, &p, &msg)) fail_msg("%s", msg.text);
    fs_image img = png_roundtrip(p, "chart_roc.png");
    /* The palette's first colour (blue) draws the first series. */
    uint32_t blue = fs_plot_palette(0);
    size_t n = 0;
    for (int yy = 0; yy < img.h; yy++)
        for (int xx = 0; xx < img.w; xx++) n += near(px(&img, xx, yy), blue, 30);
    assert_true(n > 200);
    fs_image_free(&img);
    fs_plot_free(p);
    fs_roc_free(&a);
    fs_roc_free(&b);
}

/* Point labels: drawn in the series' colour beside their points (a region right of each labelled
 * point changes, one without a label does not), kept inside the plot for a point at the right
 * edge, and a NULL label or a skipped point draws nothing. */
static void test_chart_point_labels(void **state) {
    (void)state;
    const double x[4] = {0.1, 0.4, NAN, 0.95}, y[4] = {0.2, 0.5, 0.5, 0.9};
    const char *labels[4] = {"n=961", NULL, "n=7", "n=377"};
    fs_series s = {.name = "samples", .x = x, .y = y, .n = 4, .markers = true};
    fs_chart c = {.series = &s, .n_series = 1, .fix_x = true, .x_min = 0, .x_max = 1, .fix_y = true,
                  .y_min = 0, .y_max = 1, .width = 400, .height = 400, .legend = FS_LEGEND_NONE};
    fs_msg msg;
    fs_plot *plain = NULL, *labelled = NULL;
    if (fs_plot_chart(&c, &plain, &msg)) fail_msg("%s", msg.text);
    s.point_labels = labels;
    if (fs_plot_chart(&c, &labelled, &msg)) fail_msg("%s", msg.text);
    fs_image a = png_roundtrip(plain, "chart_plain.png"), b = png_roundtrip(labelled, "chart_labels.png");
    assert_int_equal(a.w, b.w);
    size_t differ = 0, blue = 0;
    const uint32_t colour = fs_plot_palette(0);
    int xmin = a.w, xmax = 0;
    for (int yy = 0; yy < a.h; yy++)
        for (int xx = 0; xx < a.w; xx++)
            if (memcmp(px(&a, xx, yy), px(&b, xx, yy), 3)) {
                differ++;
                blue += near(px(&b, xx, yy), colour, 60);
                xmin = xx < xmin ? xx : xmin, xmax = xx > xmax ? xx : xmax;
            }
    assert_true(differ > 30);  /* the labels were drawn */
    assert_true(blue > 5);     /* in the series' colour */
    assert_true(xmax < a.w - 1); /* the right-edge label stayed inside */
    assert_true(xmin > 0);
    fs_image_free(&a), fs_image_free(&b);
    fs_plot_free(plain), fs_plot_free(labelled);
}

static void test_chart_timeline(void **state) {
    (void)state;
    enum { FRAMES = 40 };
    double t[FRAMES], m1[FRAMES], m2[FRAMES], m3[FRAMES];
    for (int i = 0; i < FRAMES; i++) {
        t[i] = i * 0.5;
        m1[i] = 0.5 + 0.4 * sin(i / 4.0);
        m2[i] = 0.3 + 0.2 * cos(i / 3.0);
        m3[i] = i >= 12 && i < 16 ? NAN : 0.75 + 0.2 * sin(i / 6.0); /* frames without a face */
    }
    fs_series s[3] = {{.name = "Meso4", .x = t, .y = m1, .n = FRAMES},
                      {.name = "MesoInception4", .x = t, .y = m2, .n = FRAMES},
                      {.name = "Xception", .x = t, .y = m3, .n = FRAMES}};
    fs_chart c = {.title = "P(fake) along the video",
                  .x_label = "time (s)",
                  .y_label = "P(fake)",
                  .series = s,
                  .n_series = 3,
                  .fix_y = true,
                  .y_min = 0,
                  .y_max = 1,
                  .hline = true,
                  .hline_y = 0.5,
                  .hline_label = "threshold 0.5",
                  .markers = true,
                  .width = 900,
                  .height = 420};
    fs_plot *p;
    fs_msg msg;
    if (fs_plot_chart(&c, &p, &msg)) fail_msg("%s", msg.text);
    fs_image img = png_roundtrip(p, "chart_timeline.png");
    assert_int_equal(img.w, 900);
    fs_image_free(&img);
    fs_plot_free(p);
}

static void test_chart_bad_input(void **state) {
    (void)state;
    fs_msg msg;
    fs_plot *p = (fs_plot *)&msg; /* must come back NULL */
    double x[3] = {0, 1, 2}, y[3] = {1, NAN, 3}, nan3[3] = {NAN, NAN, NAN};
    fs_chart c = {.title = "bad"};
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_ERR_INVALID);
    assert_null(p);
    assert_non_null(strstr(msg.text, "no series"));
    assert_int_equal(fs_plot_chart(NULL, &p, &msg), FS_ERR_INVALID);

    fs_series s[2] = {{.name = "ok", .x = x, .y = y, .n = 3}, {.name = "empty", .x = x, .y = y}};
    c.series = s;
    c.n_series = 2;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "\"empty\""));

    s[1] = (fs_series){.name = "nan", .x = x, .y = nan3, .n = 3};
    c.n_series = 1;
    s[0].y = nan3;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "finite"));

    /* A NaN inside a series is skipped; one constant point still gets axes. */
    s[0].y = y;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_OK);
    fs_plot_free(p);
    double one_x = 3, one_y = 7;
    fs_series single = {
        .name = "one", .x = &one_x, .y = &one_y, .n = 1, .color = FS_RGB(230, 0, 0)};
    c.series = &single;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_OK);
    fs_image img;
    assert_int_equal(fs_plot_image(p, &img, &msg), FS_OK);
    assert_true(count_pixels(&img, 0, 0, img.w, img.h, is_red) > 10); /* a lone point is a dot */
    fs_image_free(&img);
    fs_plot_free(p);

    c.width = 10;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_ERR_INVALID);
    c.width = 100000;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_ERR_INVALID);
    c.width = 0;
    c.fix_y = true;
    c.y_min = c.y_max = 1;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "y range"));
    c.fix_y = false;
    c.hline = true;
    c.hline_y = INFINITY;
    assert_int_equal(fs_plot_chart(&c, &p, &msg), FS_ERR_INVALID);

    /* Huge and tiny values do not break the axes. */
    double big_y[3] = {1e12, -3e11, 5e11};
    fs_series big = {.name = "big", .x = x, .y = big_y, .n = 3};
    fs_chart cb = {.series = &big, .n_series = 1};
    assert_int_equal(fs_plot_chart(&cb, &p, &msg), FS_OK);
    fs_plot_free(p);
    double tiny_y[3] = {1e-9, 2e-9, 1.5e-9};
    big.y = tiny_y;
    assert_int_equal(fs_plot_chart(&cb, &p, &msg), FS_OK);
    fs_plot_free(p);

    double span_x[2] = {-1e308, 1e308};
    big.x = span_x;
    big.n = 2;
    assert_int_equal(fs_plot_chart(&cb, &p, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "spans"));

    uint8_t *png = (uint8_t *)&msg;
    size_t len = 1;
    assert_int_equal(fs_plot_png(NULL, &png, &len, &msg), FS_ERR_INVALID);
    assert_null(png);
    assert_int_equal(len, 0);
}

/* Random charts, with NaN, infinities, negative and repeated values, up to 14 series (the
 * palette cycles): each renders or is refused, never more. */
static void test_chart_random(void **state) {
    (void)state;
    uint32_t r = 99;
    double xs[14][50], ys[14][50];
    fs_series s[14];
    for (int round = 0; round < 40; round++) {
        size_t ns = 1 + round % 14;
        for (size_t i = 0; i < ns; i++) {
            size_t n = 1 + (round * 7 + i) % 50;
            for (size_t k = 0; k < n; k++) {
                r = r * 1103515245u + 12345u;
                int kind = (r >> 16) % 16;
                xs[i][k] = kind == 0 ? NAN : (double)k - (round % 3) * 10;
                ys[i][k] = kind == 1 ? INFINITY : kind == 2 ? -1e-7 : ((r >> 8) % 1000) / 100.0 - 3;
            }
            s[i] = (fs_series){.name = i % 3 ? "series" : NULL,
                               .x = xs[i],
                               .y = ys[i],
                               .n = n,
                               .markers = round % 2,
                               .dashed = i % 4 == 3};
        }
        fs_chart c = {.title = "random",
                      .series = s,
                      .n_series = ns,
                      .legend = round % 3,
                      .fix_y = round % 5 == 0,
                      .y_min = -1,
                      .y_max = 1,
                      .diagonal = round % 4 == 0};
        fs_plot *p;
        fs_msg msg;
        fs_err err = fs_plot_chart(&c, &p, &msg);
        assert_true(err == FS_OK || err == FS_ERR_INVALID);
        if (err == FS_OK) {
            assert_int_equal(fs_plot_width(p), FS_CHART_WIDTH_DEFAULT);
            fs_plot_free(p);
        }
    }
}

/* ---- feature maps ----------------------------------------------------------------------- */

/* Colourful = a tile pixel (viridis is never grey); the title and note are grey text. */
static int colourful(const uint8_t *p) {
    int mx = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);
    int mn = p[0] < p[1] ? (p[0] < p[2] ? p[0] : p[2]) : (p[1] < p[2] ? p[1] : p[2]);
    return mx - mn > 40;
}

/* Runs of lines that hold some colourful pixel, along one axis: the tile bands. */
static int bands(const fs_image *img, int vertical, int *start, int *end, int cap) {
    int n = 0, in = 0;
    int len = vertical ? img->h : img->w, other = vertical ? img->w : img->h;
    for (int i = 0; i < len; i++) {
        int any = 0;
        for (int j = 0; j < other && !any; j++)
            any = colourful(vertical ? px(img, j, i) : px(img, i, j));
        if (any && !in) {
            assert_true(n < cap);
            start[n] = i;
            in = 1;
        } else if (!any && in) {
            end[n++] = i;
            in = 0;
        }
    }
    if (in) end[n++] = len;
    return n;
}

static void test_feature_maps(void **state) {
    (void)state;
    enum { H = 12, W = 16, C = 10 };
    float act[H * W * C];
    /* Channel k: a bump in the middle 4 x 4, scaled by a factor that differs by 10^4 between
     * channels: only per-channel scaling makes every centre bright. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < C; k++) {
                int centre = y >= H / 2 - 2 && y < H / 2 + 2 && x >= W / 2 - 2 && x < W / 2 + 2;
                act[(y * W + x) * C + k] = (float)((centre ? 1.0 : 0.1) * pow(3, k) - k);
            }
    act[(0 * W + W - 1) * C + 3] = NAN; /* drawn grey, ignored by the scaling */
    fs_plot *p;
    fs_msg msg;
    if (fs_plot_feature_maps(act, H, W, C, "conv1: 10 channels", &p, &msg))
        fail_msg("%s", msg.text);
    fs_image img = png_roundtrip(p, NULL);
    int cs[16], ce[16], rs[16], re[16];
    int cols = bands(&img, 0, cs, ce, 16), rows = bands(&img, 1, rs, re, 16);
    assert_int_equal(cols, 4); /* ceil(sqrt(10)) */
    assert_int_equal(rows, 3);
    uint32_t bright = fs_colormap_rgb(FS_CMAP_VIRIDIS, 1.0);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            int k = r * cols + c;
            const uint8_t *centre = px(&img, (cs[c] + ce[c]) / 2, (rs[r] + re[r]) / 2);
            if (k < C) {
                if (!near(centre, bright, 8))
                    fail_msg("tile %d centre is %d,%d,%d", k, centre[0], centre[1], centre[2]);
                /* Tiles are square-ish copies of 16 x 12: width/height = 4/3. */
                assert_int_equal((ce[c] - cs[c]) * 3, (re[r] - rs[r]) * 4);
            } else {
                assert_true(is_white(centre)); /* empty slots of the last row */
            }
        }
    fs_image_free(&img);
    fs_plot_free(p);

    /* A more natural example for people: 8 oriented stripe detectors on 64 x 64. */
    enum { N = 64, K = 8 };
    float *nat = malloc(sizeof(float) * N * N * K);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            for (int k = 0; k < K; k++) {
                double a = k * M_PI / K, r2 = (x - 32) * (x - 32) + (y - 28) * (y - 28);
                nat[(y * N + x) * K + k] =
                    (float)(sin((x * cos(a) + y * sin(a)) / 3.0) * exp(-r2 / (600.0 + 200 * k)));
            }
    if (fs_plot_feature_maps(nat, N, N, K, "Meso4 conv1 activations", &p, &msg))
        fail_msg("%s", msg.text);
    img = png_roundtrip(p, "feature_maps.png");
    fs_image_free(&img);
    fs_plot_free(p);
    free(nat);

    /* One channel, one pixel, constant values: still a picture. */
    float one = 5;
    assert_int_equal(fs_plot_feature_maps(&one, 1, 1, 1, NULL, &p, &msg), FS_OK);
    fs_plot_free(p);
    assert_int_equal(fs_plot_feature_maps(act, H, W, 0, "x", &p, &msg), FS_ERR_INVALID);
    assert_null(p);
    assert_int_equal(fs_plot_feature_maps(NULL, H, W, C, "x", &p, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_plot_feature_maps(act, 1 << 20, 1 << 20, 8, "x", &p, &msg), FS_ERR_LIMIT);
}

/* ---- colour maps, overlays, conversions --------------------------------------------------- */

static double luma(uint32_t c) {
    return 0.2126 * ((c >> 16) & 255) + 0.7152 * ((c >> 8) & 255) + 0.0722 * (c & 255);
}

static void test_colormap(void **state) {
    (void)state;
    /* Viridis' landmarks: #440154 at 0, #21918c at 0.5, #fde725 at 1. */
    uint8_t c0[3] = {0x44, 0x01, 0x54}, c5[3] = {0x21, 0x91, 0x8c}, c1[3] = {0xfd, 0xe7, 0x25};
    assert_true(near(c0, fs_colormap_rgb(FS_CMAP_VIRIDIS, 0), 6));
    assert_true(near(c5, fs_colormap_rgb(FS_CMAP_VIRIDIS, 0.5), 6));
    assert_true(near(c1, fs_colormap_rgb(FS_CMAP_VIRIDIS, 1), 6));
    /* Perceptual: brightness rises all the way (to within byte rounding between neighbours,
     * steadily over any 16 steps). */
    double l[256];
    for (int i = 0; i < 256; i++) l[i] = luma(fs_colormap_rgb(FS_CMAP_VIRIDIS, i / 255.0));
    for (int i = 1; i < 256; i++) assert_true(l[i] > l[i - 1] - 0.5);
    for (int i = 16; i < 256; i++) assert_true(l[i] > l[i - 16] + 4);
    assert_int_equal(fs_colormap_rgb(FS_CMAP_VIRIDIS, NAN), fs_colormap_rgb(FS_CMAP_VIRIDIS, 0));
    assert_int_equal(fs_colormap_rgb(FS_CMAP_VIRIDIS, 7), fs_colormap_rgb(FS_CMAP_VIRIDIS, 1));
    assert_int_equal(fs_colormap_rgb(FS_CMAP_GRAY, 1), FS_RGB(255, 255, 255));
    assert_int_equal(fs_plot_palette(10), fs_plot_palette(0));
    assert_int_equal(fs_plot_palette(-1), fs_plot_palette(9));
}

static fs_image gradient_image(int w, int h) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, w, h, &msg), FS_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w);
            p[1] = (uint8_t)(y * 255 / h);
            p[2] = (uint8_t)((x + y) % 256);
        }
    return img;
}

static void test_overlay(void **state) {
    (void)state;
    fs_msg msg;
    fs_image img = gradient_image(120, 90), out;
    float map[4 * 3];
    for (int i = 0; i < 12; i++) map[i] = (float)i / 11;
    assert_int_equal(fs_heatmap_overlay(&img, map, 4, 3, 0.0, FS_CMAP_VIRIDIS, &out, &msg), FS_OK);
    assert_memory_equal(out.rgb, img.rgb, (size_t)img.w * img.h * 3);
    fs_image_free(&out);

    /* Alpha 1 shows the map alone: a 2 x 1 map [0, 1] rises left to right. */
    float ramp[2] = {0, 1};
    assert_int_equal(fs_heatmap_overlay(&img, ramp, 2, 1, 1.0, FS_CMAP_VIRIDIS, &out, &msg), FS_OK);
    assert_true(near(px(&out, 0, 45), fs_colormap_rgb(FS_CMAP_VIRIDIS, 0), 1));
    assert_true(near(px(&out, 119, 45), fs_colormap_rgb(FS_CMAP_VIRIDIS, 1), 1));
    /* Bilinear with centres aligned: pixel x maps to (x + 0.5) / 60 - 0.5 in the map. */
    assert_true(near(px(&out, 59, 10), fs_colormap_rgb(FS_CMAP_VIRIDIS, 59.5 / 60 - 0.5), 2));
    int prev = -1;
    for (int x = 0; x < 120; x++) {
        int l = (int)luma(FS_RGB(px(&out, x, 0)[0], px(&out, x, 0)[1], px(&out, x, 0)[2]));
        assert_true(l >= prev - 1);
        prev = l;
    }
    fs_image_free(&out);

    /* Half and half is the mean. */
    float ones = 1;
    assert_int_equal(fs_heatmap_overlay(&img, &ones, 1, 1, 0.5, FS_CMAP_GRAY, &out, &msg), FS_OK);
    assert_int_equal(px(&out, 10, 20)[0], (int)lrint((px(&img, 10, 20)[0] + 255) / 2.0));
    fs_image_free(&out);

    assert_int_equal(fs_heatmap_overlay(&img, map, 4, 3, 1.5, FS_CMAP_VIRIDIS, &out, &msg),
                     FS_ERR_INVALID);
    assert_int_equal(fs_heatmap_overlay(&img, map, 4, 3, NAN, FS_CMAP_VIRIDIS, &out, &msg),
                     FS_ERR_INVALID);
    assert_int_equal(fs_heatmap_overlay(&img, NULL, 4, 3, 0.5, FS_CMAP_VIRIDIS, &out, &msg),
                     FS_ERR_INVALID);
    assert_int_equal(fs_heatmap_overlay(&img, map, 0, 3, 0.5, FS_CMAP_VIRIDIS, &out, &msg),
                     FS_ERR_INVALID);
    assert_null(out.rgb);

    /* Example: a Grad-CAM-like blob on a face-sized image. */
    fs_image face = gradient_image(256, 256);
    float cam[14 * 14];
    for (int y = 0; y < 14; y++)
        for (int x = 0; x < 14; x++)
            cam[y * 14 + x] = (float)exp(-((x - 9.0) * (x - 9.0) + (y - 5.0) * (y - 5.0)) / 8.0);
    assert_int_equal(fs_heatmap_overlay(&face, cam, 14, 14, 0.5, FS_CMAP_VIRIDIS, &out, &msg),
                     FS_OK);
    save_image(&out, "overlay.png");
    fs_image_free(&out);
    fs_image_free(&face);
    fs_image_free(&img);
}

static void test_surface_conversion(void **state) {
    (void)state;
    fs_msg msg;
    fs_image img = gradient_image(37, 23), back; /* odd width: stride != 4 * w is fine */
    cairo_surface_t *s;
    assert_int_equal(fs_image_to_surface(&img, &s, &msg), FS_OK);
    assert_int_equal(cairo_image_surface_get_width(s), 37);
    assert_int_equal(fs_image_from_surface(s, &back, &msg), FS_OK);
    assert_memory_equal(back.rgb, img.rgb, (size_t)37 * 23 * 3);
    fs_image_free(&back);
    cairo_surface_destroy(s);

    /* Half-transparent red over nothing reads as pink on white. */
    s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 2, 2);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgba(cr, 1, 0, 0, 0.5);
    cairo_paint(cr);
    cairo_destroy(cr);
    assert_int_equal(fs_image_from_surface(s, &back, &msg), FS_OK);
    assert_true(back.rgb[0] == 255 && abs(back.rgb[1] - 127) <= 1 && abs(back.rgb[2] - 127) <= 1);
    fs_image_free(&back);
    cairo_surface_destroy(s);

    s = cairo_image_surface_create(CAIRO_FORMAT_A8, 2, 2);
    assert_int_equal(fs_image_from_surface(s, &back, &msg), FS_ERR_UNSUPPORTED);
    cairo_surface_destroy(s);
    assert_int_equal(fs_image_from_surface(NULL, &back, &msg), FS_ERR_INVALID);
    fs_image empty = {0};
    assert_int_equal(fs_image_to_surface(&empty, &s, &msg), FS_ERR_INVALID);
    assert_null(s);
    fs_image_free(&img);
}

/* ---- boxes and contact sheets ------------------------------------------------------------ */

static fs_image solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, w, h, &msg), FS_OK);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        img.rgb[3 * i] = r;
        img.rgb[3 * i + 1] = g;
        img.rgb[3 * i + 2] = b;
    }
    return img;
}

static void test_boxes(void **state) {
    (void)state;
    fs_msg msg;
    fs_image img = solid(200, 150, 100, 100, 100);
    uint32_t red = FS_RGB(255, 0, 0);
    fs_draw_box boxes[3] = {
        {.x = 40, .y = 50, .w = 60, .h = 70, .color = red, .label = "person 1: 0.93"},
        {.x = 150, .y = 100, .w = 80, .h = 80, .track_id = 2}, /* runs off the image */
        {.x = 500, .y = 500, .w = 10, .h = 10},                /* wholly outside: skipped */
    };
    uint8_t *buffer = img.rgb;
    assert_int_equal(fs_draw_boxes(&img, boxes, 3, 3, &msg), FS_OK);
    assert_int_equal(img.w, 200);
    assert_ptr_equal(img.rgb, buffer); /* drawn in place */
    /* Outline: 3 pixels inside each edge of [40, 100) x [50, 120). */
    for (int t = 0; t < 3; t++) {
        assert_true(near(px(&img, 40 + t, 80), red, 0));
        assert_true(near(px(&img, 99 - t, 80), red, 0));
        assert_true(near(px(&img, 70, 50 + t), red, 0));
        assert_true(near(px(&img, 70, 119 - t), red, 0));
    }
    /* Inside and just outside are untouched. */
    for (int y = 53; y < 117; y++)
        for (int x = 43; x < 97; x++) assert_true(near(px(&img, x, y), FS_RGB(100, 100, 100), 0));
    assert_true(near(px(&img, 39, 80), FS_RGB(100, 100, 100), 0));
    assert_true(near(px(&img, 100, 80), FS_RGB(100, 100, 100), 0));
    assert_true(near(px(&img, 70, 120), FS_RGB(100, 100, 100), 0));
    /* The label sits on a red tag above the box. */
    size_t tag = 0;
    for (int y = 30; y < 50; y++)
        for (int x = 40; x < 100; x++) tag += near(px(&img, x, y), red, 0);
    assert_true(tag > 100);
    /* The second box takes track 2's colour and is clipped at the image's edge. */
    assert_true(near(px(&img, 151, 120), fs_plot_palette(2), 0));
    assert_true(near(px(&img, 199, 101), fs_plot_palette(2), 0));
    save_image(&img, "boxes.png");

    fs_draw_box bad = {.x = NAN, .y = 0, .w = 1, .h = 1};
    assert_int_equal(fs_draw_boxes(&img, &bad, 1, 2, &msg), FS_ERR_INVALID);
    bad = (fs_draw_box){.x = 0, .y = 0, .w = -5, .h = 1};
    assert_int_equal(fs_draw_boxes(&img, &bad, 1, 2, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_draw_boxes(&img, NULL, 0, 2, &msg), FS_OK);
    fs_image empty = {0};
    assert_int_equal(fs_draw_boxes(&empty, boxes, 1, 2, &msg), FS_ERR_INVALID);
    fs_image_free(&img);
}

static void test_contact_sheet(void **state) {
    (void)state;
    fs_msg msg;
    const uint8_t colours[5][3] = {
        {200, 30, 30}, {30, 200, 30}, {30, 30, 200}, {200, 200, 30}, {30, 200, 200}};
    fs_image imgs[5];
    for (int i = 0; i < 5; i++)
        imgs[i] = solid(i == 1 ? 320 : 100, i == 1 ? 80 : 150, colours[i][0], colours[i][1],
                        colours[i][2]);
    const char *captions[5] = {"t=0.0s", "t=1.2s", NULL, "t=3.6s",
                               "a caption much too long for its tile"};
    fs_image sheet;
    if (fs_contact_sheet(imgs, captions, 5, 0, 120, "frames", &sheet, &msg))
        fail_msg("%s", msg.text);
    /* 3 columns x 2 rows of 120-pixel tiles. */
    assert_true(sheet.w > 3 * 120 && sheet.w < 3 * 120 + 80);
    assert_true(sheet.h > 2 * 120 && sheet.h < 2 * 120 + 140);
    /* Each image lands in its own cell, row-major, centred. */
    double cx[5], cy[5];
    for (int i = 0; i < 5; i++) {
        double sx = 0, sy = 0, n = 0;
        uint32_t want = FS_RGB(colours[i][0], colours[i][1], colours[i][2]);
        for (int y = 0; y < sheet.h; y++)
            for (int x = 0; x < sheet.w; x++)
                if (near(px(&sheet, x, y), want, 3)) {
                    sx += x;
                    sy += y;
                    n++;
                }
        assert_true(n > 2000); /* scaled, not lost */
        cx[i] = sx / n;
        cy[i] = sy / n;
    }
    assert_true(cx[0] < cx[1] && cx[1] < cx[2]);
    assert_true(fabs(cy[0] - cy[1]) < 2 && fabs(cy[1] - cy[2]) < 2);
    assert_true(cy[3] > cy[0] + 100 && fabs(cx[3] - cx[0]) < 2 && fabs(cx[4] - cx[1]) < 2);
    fs_image_free(&sheet);

    assert_int_equal(fs_contact_sheet(imgs, NULL, 0, 0, 0, NULL, &sheet, &msg), FS_ERR_INVALID);
    fs_image hole[2] = {imgs[0], {0}};
    assert_int_equal(fs_contact_sheet(hole, NULL, 2, 0, 0, NULL, &sheet, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "image 1"));
    assert_int_equal(fs_contact_sheet(imgs, NULL, 5, 5, 4000, NULL, &sheet, &msg), FS_ERR_LIMIT);
    assert_null(sheet.rgb);

    /* Example for people: frames with face boxes, and one overlay. */
    fs_image frames[6];
    const char *caps[6];
    char capbuf[6][32];
    for (int i = 0; i < 6; i++) {
        frames[i] = gradient_image(320, 240);
        fs_draw_box b[2] = {
            {.x = 60 + 10 * i, .y = 50, .w = 90, .h = 110, .track_id = 0, .label = "#0"},
            {.x = 190, .y = 70 - 5 * i, .w = 80, .h = 100, .track_id = 1, .label = "#1"}};
        assert_int_equal(fs_draw_boxes(&frames[i], b, 2, 3, &msg), FS_OK);
        snprintf(capbuf[i], sizeof capbuf[i], "t=%.1fs", i * 1.2);
        caps[i] = capbuf[i];
    }
    if (fs_contact_sheet(frames, caps, 6, 3, 200, "sampled frames", &sheet, &msg))
        fail_msg("%s", msg.text);
    save_image(&sheet, "contact_sheet.png");
    fs_image_free(&sheet);
    for (int i = 0; i < 6; i++) fs_image_free(&frames[i]);
    for (int i = 0; i < 5; i++) fs_image_free(&imgs[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chart_loss_curves),  cmocka_unit_test(test_chart_roc),
        cmocka_unit_test(test_chart_timeline),     cmocka_unit_test(test_chart_bad_input),
        cmocka_unit_test(test_chart_random),       cmocka_unit_test(test_feature_maps),
        cmocka_unit_test(test_colormap),           cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_surface_conversion), cmocka_unit_test(test_boxes),
        cmocka_unit_test(test_contact_sheet),      cmocka_unit_test(test_chart_point_labels),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fs_plot_cleanup();
    return failed;
}
