/* Media workers (jobs/media_worker.h) against the in-process decoders: a picture and a video's
 * sampled frames come back from a sandboxed worker byte for byte as media/ decodes them in
 * this process, with the same indices and times; decoder errors come back with their kind and
 * text; the caller's limits hold; a worker serves call after call; concurrent calls share the
 * pool. The worker is the real fakescope binary (FS_BINARY). */
#include "fs_test.h"
#include "fakescope/media_worker.h"

#include <pthread.h>

static fs_media_pool *pool;

static int setup(void **state) {
    (void)state;
    fs_media_pool_config c = {.exe = FS_BINARY, .workers = 2};
    fs_msg msg;
    return fs_media_pool_create(&c, &pool, &msg) == FS_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fs_media_pool_free(pool);
    return 0;
}

static uint8_t *read_all(const char *path, size_t *len) {
    uint8_t *d = NULL;
    fs_msg msg;
    if (fs_read_file(path, (size_t)64 << 20, &d, len, &msg)) fail_msg("%s: %s", path, msg.text);
    return d;
}

/* A 97x61 picture with a gradient, as PNG bytes (odd sizes on purpose). */
static uint8_t *make_png(size_t *len) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, 97, 61, &msg), FS_OK);
    for (int i = 0; i < 97 * 61 * 3; i++) img.rgb[i] = (uint8_t)(i * 7 + i / 291);
    uint8_t *png = NULL;
    assert_int_equal(fs_image_encode_png(&img, &png, len, &msg), FS_OK);
    fs_image_free(&img);
    return png;
}

static void test_image_same_pixels(void **state) {
    (void)state;
    size_t len;
    uint8_t *png = make_png(&len);
    fs_media_call call = {.pool = pool};
    fs_media_decoder d = fs_media_pool_decoder(&call);
    fs_image_limits lim = fs_image_limits_default();
    for (int round = 0; round < 3; round++) { /* the same worker serves call after call */
        fs_image a = {0}, b = {0};
        fs_msg msg;
        assert_int_equal(fs_image_decode(png, len, &lim, &a, &msg), FS_OK);
        assert_int_equal(d.decode_image(d.ctx, png, len, &lim, &b, &msg), FS_OK);
        assert_int_equal(a.w, b.w), assert_int_equal(a.h, b.h);
        assert_memory_equal(a.rgb, b.rgb, (size_t)a.w * a.h * 3);
        fs_image_free(&a), fs_image_free(&b);
    }
    assert_string_equal(call.death, "");
    free(png);
}

static void test_image_errors_and_limits(void **state) {
    (void)state;
    fs_media_call call = {.pool = pool};
    fs_media_decoder d = fs_media_pool_decoder(&call);
    fs_image_limits lim = fs_image_limits_default();
    fs_image out;
    fs_msg msg, ref;
    /* a truncated PNG: the worker's error is media/'s error */
    size_t len;
    uint8_t *png = make_png(&len);
    fs_err want = fs_image_decode(png, len / 2, &lim, &out, &ref);
    assert_int_not_equal(want, FS_OK);
    assert_int_equal(d.decode_image(d.ctx, png, len / 2, &lim, &out, &msg), want);
    assert_string_equal(msg.text, ref.text);
    assert_null(out.rgb);
    /* the caller's pixel limit holds in the worker */
    lim.max_pixels = 97 * 61 - 1;
    assert_int_equal(d.decode_image(d.ctx, png, len, &lim, &out, &msg), FS_ERR_LIMIT);
    /* and the byte limit before any worker is asked */
    lim = fs_image_limits_default();
    lim.max_bytes = len - 1;
    assert_int_equal(d.decode_image(d.ctx, png, len, &lim, &out, &msg), FS_ERR_LIMIT);
    assert_string_equal(call.death, "");
    free(png);
}

typedef struct {
    fs_video_frames frames;
} collected;

static fs_err collect(void *ctx, fs_video_frame *f, fs_msg *msg) {
    collected *c = ctx;
    fs_video_frame *n = realloc(c->frames.frames, sizeof *n * (size_t)(c->frames.n + 1));
    if (!n) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    c->frames.frames = n;
    n[c->frames.n++] = *f;
    memset(&f->image, 0, sizeof f->image); /* taken */
    return FS_OK;
}

static void sample_both(const char *path, int count) {
    size_t len;
    uint8_t *data = read_all(path, &len);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = count;
    s.threads = 1;
    fs_msg msg;
    fs_video *v;
    assert_int_equal(fs_video_open_memory(data, len, NULL, &v, &msg), FS_OK);
    fs_video_info want = *fs_video_get_info(v);
    fs_video_frames a = {0};
    assert_int_equal(fs_video_sample_all(v, &s, &a, &msg), FS_OK);
    fs_video_close(v);

    fs_media_call call = {.pool = pool};
    fs_media_decoder d = fs_media_pool_decoder(&call);
    fs_video_limits lim = fs_video_limits_default();
    void *h = NULL;
    fs_video_info got;
    assert_int_equal(d.video_open(d.ctx, data, len, &lim, &h, &got, &msg), FS_OK);
    assert_int_equal(got.w, want.w), assert_int_equal(got.h, want.h);
    assert_string_equal(got.codec, want.codec);
    collected b = {{0}};
    /* twice on one open video, as fs_video_sample allows */
    for (int pass = 0; pass < 2; pass++) {
        fs_video_frames_free(&b.frames);
        memset(&b, 0, sizeof b);
        assert_int_equal(d.video_sample(h, &s, collect, &b, &msg), FS_OK);
        assert_int_equal(b.frames.n, a.n);
        for (int i = 0; i < a.n; i++) {
            fs_video_frame *x = &a.frames[i], *y = &b.frames.frames[i];
            assert_int_equal(x->index, y->index);
            assert_true(x->time_s == y->time_s);
            assert_int_equal(x->image.w, y->image.w), assert_int_equal(x->image.h, y->image.h);
            assert_memory_equal(x->image.rgb, y->image.rgb, (size_t)x->image.w * x->image.h * 3);
        }
    }
    d.video_close(h);
    assert_string_equal(call.death, "");
    fs_video_frames_free(&a);
    fs_video_frames_free(&b.frames);
    free(data);
}

static void test_video_same_frames(void **state) {
    (void)state;
    sample_both(FS_SOURCE_DIR "/tests/fuzz/seeds/video/h264.mp4", 5);
    sample_both(FS_SOURCE_DIR "/tests/fuzz/seeds/video/mjpeg.mov", 3);
    char p[512];
    if (fs_test_shared("dfdc/videos/real/lynaeydofd.mp4", p, sizeof p)) sample_both(p, 4);
}

static fs_err stop_after_one(void *ctx, fs_video_frame *f, fs_msg *msg) {
    (void)f;
    int *n = ctx;
    return ++*n == 2 ? fs_fail(msg, FS_ERR_NOFACE, "enough") : FS_OK;
}

static void test_video_stop_and_errors(void **state) {
    (void)state;
    size_t len;
    uint8_t *data = read_all(FS_SOURCE_DIR "/tests/fuzz/seeds/video/h264.mp4", &len);
    fs_media_call call = {.pool = pool};
    fs_media_decoder d = fs_media_pool_decoder(&call);
    fs_video_limits lim = fs_video_limits_default();
    fs_msg msg;
    void *h = NULL;
    fs_video_info info;
    assert_int_equal(d.video_open(d.ctx, data, len, &lim, &h, &info, &msg), FS_OK);
    /* the scan's own error stops sampling and comes back as it was */
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 5;
    int n = 0;
    assert_int_equal(d.video_sample(h, &s, stop_after_one, &n, &msg), FS_ERR_NOFACE);
    assert_string_equal(msg.text, "enough");
    assert_int_equal(n, 2);
    /* and the worker is still in step for the next sampling */
    collected b = {{0}};
    assert_int_equal(d.video_sample(h, &s, collect, &b, &msg), FS_OK);
    assert_int_equal(b.frames.n, 5);
    fs_video_frames_free(&b.frames);
    d.video_close(h);
    /* a picture larger than the caller's limit is refused as media/ refuses it */
    lim.max_width = info.w - 1;
    assert_int_equal(d.video_open(d.ctx, data, len, &lim, &h, &info, &msg), FS_ERR_LIMIT);
    /* bytes that are no video */
    lim = fs_video_limits_default();
    assert_int_not_equal(d.video_open(d.ctx, (const uint8_t *)"not a video at all", 18, &lim, &h,
                                      &info, &msg), FS_OK);
    assert_string_equal(call.death, "");
    free(data);
}

static void *decode_many(void *arg) {
    size_t len;
    uint8_t *png = make_png(&len);
    fs_media_call call = {.pool = arg};
    fs_media_decoder d = fs_media_pool_decoder(&call);
    fs_image_limits lim = fs_image_limits_default();
    for (int i = 0; i < 20; i++) {
        fs_image b = {0};
        fs_msg msg;
        if (d.decode_image(d.ctx, png, len, &lim, &b, &msg) != FS_OK || b.w != 97) abort();
        fs_image_free(&b);
    }
    free(png);
    return NULL;
}

static void test_concurrent_calls(void **state) {
    (void)state;
    pthread_t t[6]; /* more callers than workers: they wait their turn */
    for (int i = 0; i < 6; i++) assert_int_equal(pthread_create(&t[i], NULL, decode_many, pool), 0);
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_same_pixels),
        cmocka_unit_test(test_image_errors_and_limits),
        cmocka_unit_test(test_video_same_frames),
        cmocka_unit_test(test_video_stop_and_errors),
        cmocka_unit_test(test_concurrent_calls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
