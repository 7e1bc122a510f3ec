/* Unit tests of train/'s video crops: a small video dataset (shared FF++ c40 videos, linked in
 * place into a temporary class tree) is cut into face crops that must be the very crops the
 * scan pipeline gives a model at inference (same count per video, same pixels), all on their
 * video's side of the ffpp-suggested split, reused from the cache, redone when the cache is
 * incomplete, and listed in a manifest that is byte-identical from one run to the next.
 * Skipped when the shared data is absent. */
#define _XOPEN_SOURCE 700
#include "fs_test.h"

#include "fakescope/dataset.h"
#include "fakescope/detect.h"
#include "fakescope/weights.h"

#include <ftw.h>
#include <unistd.h>

#define FRAMES 3 /* sampled per video: enough to see several crops, cheap under ASan */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}
static void rm_tree(const char *root) { nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The videos: one pair in training (183/253), one held out (585/599) under ffpp-suggested. */
static const struct { const char *cls, *rel, *link; } VIDEOS[] = {
    {"real", "ffpp-c40/real/youtube/183.mp4", "183.mp4"},
    {"fake", "ffpp-c40/fake/Deepfakes/183_253.mp4", "183_253.mp4"},
    {"real", "ffpp-c40/real/youtube/585.mp4", "585.mp4"},
};
#define NVIDEOS (sizeof VIDEOS / sizeof VIDEOS[0])

typedef struct {
    char tmp[64], set[128];
    fs_dataset ds;
} fixture;

/* Builds tmp/ffpp-c40/{real,fake}/ of links to the shared videos; 0 when the data is absent. */
static int setup(fixture *f) {
    char buf[2048];
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < NVIDEOS; i++)
        if (!fs_test_shared(VIDEOS[i].rel, buf, sizeof buf)) return 0;
    snprintf(f->tmp, sizeof f->tmp, "/tmp/fs_vcrops_XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    snprintf(f->set, sizeof f->set, "%s/ffpp-c40", f->tmp);
    fs_msg msg;
    for (size_t i = 0; i < NVIDEOS; i++) {
        char dir[256], link[512];
        snprintf(dir, sizeof dir, "%s/%s", f->set, VIDEOS[i].cls);
        assert_int_equal(fs_mkdirs(dir, &msg), FS_OK);
        snprintf(link, sizeof link, "%s/%s", dir, VIDEOS[i].link);
        fs_test_shared(VIDEOS[i].rel, buf, sizeof buf);
        assert_int_equal(symlink(buf, link), 0);
    }
    assert_int_equal(fs_dataset_scan(&f->ds, f->set, NULL, &msg), FS_OK);
    fs_split_config sc = {0.85, 0.15, 0.0, 1, "ffpp-suggested"};
    assert_int_equal(fs_dataset_split(&f->ds, &sc, &msg), FS_OK);
    assert_int_equal(f->ds.count, NVIDEOS);
    return 1;
}

static void teardown(fixture *f) {
    fs_dataset_free(&f->ds);
    if (f->tmp[0]) rm_tree(f->tmp);
}

static const fs_item *video_of(const fixture *f, const char *link) {
    for (size_t i = 0; i < f->ds.count; i++) {
        const char *p = f->ds.items[i].path, *b = strrchr(p, '/');
        if (b && !strcmp(b + 1, link)) return &f->ds.items[i];
    }
    fail_msg("no video %s", link);
    return NULL;
}

/* Crops of the folder of one video: the items whose path lies in cache/<stem>-... */
static size_t crops_of(const fs_dataset *crops, const char *cache, const char *link, size_t *idx,
                       size_t cap) {
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/%.*s-", cache, (int)(strrchr(link, '.') - link), link);
    size_t n = 0;
    for (size_t i = 0; i < crops->count; i++)
        if (!strncmp(crops->items[i].path, prefix, strlen(prefix)) && n < cap) idx[n++] = i;
    return n;
}

/* aligned: the crops are cut aligned on the landmarks (margin 0.3), and the model's card says
 * so; box crops of the same videos were cut first into the same cache folder, which must keep
 * the two apart. */
static void crops_match_inference_and_split(int aligned) {
    fixture f;
    if (!setup(&f)) skip();
    fs_msg msg;
    char cache[256], wpath[2048];
    snprintf(cache, sizeof cache, "%s/cache", f.tmp);
    fs_video_crops_config cfg = {.frames = FRAMES, .threads = 2, .cache_dir = cache};
    fs_dataset crops = {0}, box = {0};
    fs_video_crops_stats st;
    if (aligned) {
        assert_int_equal(fs_dataset_video_crops(&f.ds, &cfg, &box, &st, &msg), FS_OK);
        cfg.aligned = 1, cfg.align_margin = 0.3f;
    }
    assert_int_equal(fs_dataset_video_crops(&f.ds, &cfg, &crops, &st, &msg), FS_OK);
    assert_int_equal(st.videos, NVIDEOS);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.cached, 0);
    assert_int_equal(st.crops, crops.count);
    if (aligned) { /* other folders, other pixels */
        assert_int_equal(box.count, crops.count);
        size_t differ = 0;
        for (size_t i = 0; i < crops.count; i++) {
            assert_string_not_equal(box.items[i].path, crops.items[i].path);
            fs_image a = {0}, b = {0};
            fs_image_limits lim = fs_image_limits_default();
            assert_int_equal(fs_image_load(box.items[i].path, &lim, &a, &msg), FS_OK);
            assert_int_equal(fs_image_load(crops.items[i].path, &lim, &b, &msg), FS_OK);
            differ += memcmp(a.rgb, b.rgb, (size_t)a.w * a.h * 3) != 0;
            fs_image_free(&a), fs_image_free(&b);
        }
        assert_int_equal(differ, crops.count);
    }

    /* the scan pipeline with a real model, as `fakescope eval` runs it */
    fs_detector *det = NULL;
    fs_scanner *sc = NULL;
    assert_int_equal(fs_detector_create(&det, &msg), FS_OK);
    int have_model = fs_test_shared("mesonet/weights/Meso4_DF.h5", wpath, sizeof wpath) != NULL;
    if (have_model) {
        fs_weights w = {0};
        assert_int_equal(fs_weights_load(wpath, "meso4", &w, &msg), FS_OK);
        assert_int_equal(fs_detector_add_weights(det, "m", &w, "meso4", &msg), FS_OK);
        fs_weights_free(&w);
        fs_card card = {.face_crop = {aligned, 0.3f}};
        fs_detector_set_card(det, 0, &card);
    }
    assert_int_equal(fs_scanner_create(det, 1, &sc, &msg), FS_OK);
    fs_scan_opts o = fs_scan_opts_default();
    o.sampling.mode = FS_VIDEO_SAMPLE_COUNT;
    o.sampling.count = FRAMES;
    o.keep_crops = 1;
    if (aligned && !have_model) o.align_margin = 0.3f; /* crops only: the scan's own setting */
    for (size_t v = 0; v < NVIDEOS; v++) {
        const fs_item *it = video_of(&f, VIDEOS[v].link);
        size_t idx[FRAMES + 1];
        const size_t n = crops_of(&crops, cache, VIDEOS[v].link, idx, FRAMES + 1);
        fs_scan_result r;
        assert_int_equal(fs_scan_file(sc, it->path, &o, &r, &msg), FS_OK);
        size_t expect = 0;
        for (int fr = 0; fr < r.n_frames; fr++)
            for (int k = 0; k < r.frames[fr].n_faces; k++) {
                const fs_scan_face *face = &r.frames[fr].faces[k];
                if (face->track != r.main_person) continue;
                if (aligned) { /* the landmarks were found, and the region is not the box crop */
                    assert_int_equal(face->nlm, 68);
                    fs_box sq = fs_face_crop_box(face->box, o.margin, r.width, r.height);
                    assert_true(memcmp(&sq, &face->crop, sizeof sq) != 0);
                }
                /* the crop of this frame, byte for byte what the model was given */
                char want[64];
                snprintf(want, sizeof want, "/f%04d.png", fr);
                const fs_item *c = NULL;
                for (size_t i = 0; i < n; i++) {
                    const char *p = crops.items[idx[i]].path;
                    if (!strcmp(p + strlen(p) - strlen(want), want)) c = &crops.items[idx[i]];
                }
                assert_non_null(c);
                fs_image img = {0};
                fs_image_limits lim = fs_image_limits_default();
                assert_int_equal(fs_image_load(c->path, &lim, &img, &msg), FS_OK);
                assert_int_equal(img.w, face->crop_img.w);
                assert_int_equal(img.h, face->crop_img.h);
                assert_int_equal(img.w, FS_DETECT_CROP_SIDE);
                assert_memory_equal(img.rgb, face->crop_img.rgb, (size_t)img.w * img.h * 3);
                fs_image_free(&img);
                expect++;
            }
        printf("%s: %zu crops of %d frames (%s)\n", VIDEOS[v].link, n, FRAMES, fs_split_name(it->split));
        assert_int_equal(n, expect);
        assert_true(n >= 1 && n <= FRAMES);
        for (size_t i = 0; i < n; i++) {
            const fs_item *c = &crops.items[idx[i]];
            assert_int_equal(c->split, it->split);
            assert_int_equal(c->label, it->label);
            assert_int_equal(c->kind, FS_ITEM_IMAGE);
            assert_string_equal(c->group, it->group);
        }
        fs_scan_result_free(&r);
    }
    /* the pair 183/253 trains, 585 is held out: its crops are all test */
    assert_int_equal(video_of(&f, "183.mp4")->split, FS_SPLIT_TRAIN);
    assert_int_equal(video_of(&f, "585.mp4")->split, FS_SPLIT_TEST);
    fs_scanner_free(sc);
    fs_detector_free(det);
    fs_dataset_free(&crops);
    fs_dataset_free(&box);
    teardown(&f);
}

static void test_crops_match_inference_and_split(void **state) {
    (void)state;
    crops_match_inference_and_split(0);
}

static void test_aligned_crops_match_inference(void **state) {
    (void)state;
    crops_match_inference_and_split(1);
}

static void manifest_digest(const fs_dataset *crops, const char *root, char hex[65]) {
    fs_msg msg;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fs_manifest_format(crops, root, &text, &len, hex, &msg), FS_OK);
    free(text);
}

static void test_cache_and_same_manifest(void **state) {
    (void)state;
    fixture f;
    if (!setup(&f)) skip();
    fs_msg msg;
    char cache_a[256], cache_b[256], d1[65], d2[65], d3[65], d4[65];
    snprintf(cache_a, sizeof cache_a, "%s/a", f.tmp);
    snprintf(cache_b, sizeof cache_b, "%s/b", f.tmp);
    fs_video_crops_config cfg = {.frames = FRAMES, .threads = 1, .cache_dir = cache_a};
    fs_dataset c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0};
    fs_video_crops_stats st;
    assert_int_equal(fs_dataset_video_crops(&f.ds, &cfg, &c1, &st, &msg), FS_OK);
    manifest_digest(&c1, cache_a, d1);
    /* the same again: every video from the cache, the same manifest */
    assert_int_equal(fs_dataset_video_crops(&f.ds, &cfg, &c2, &st, &msg), FS_OK);
    assert_int_equal(st.cached, NVIDEOS);
    manifest_digest(&c2, cache_a, d2);
    assert_string_equal(d1, d2);
    /* an incomplete cache folder (no index) is extracted again */
    char idx[512];
    snprintf(idx, sizeof idx, "%.400s", c1.items[0].path);
    snprintf(strrchr(idx, '/'), sizeof idx - (size_t)(strrchr(idx, '/') - idx), "/crops.txt");
    assert_int_equal(unlink(idx), 0);
    assert_int_equal(fs_dataset_video_crops(&f.ds, &cfg, &c3, &st, &msg), FS_OK);
    assert_int_equal(st.cached, NVIDEOS - 1);
    manifest_digest(&c3, cache_a, d3);
    assert_string_equal(d1, d3);
    /* an index that names other scan parameters (here: none, as before they were recorded)
     * is cut again rather than trusted */
    snprintf(idx, sizeof idx, "%.400s", c1.items[c1.count - 1].path);
    snprintf(strrchr(idx, '/'), sizeof idx - (size_t)(strrchr(idx, '/') - idx), "/crops.txt");
    uint8_t *text = NULL;
    size_t len = 0;
    assert_int_equal(fs_read_file(idx, 1 << 20, &text, &len, &msg), FS_OK);
    char *second = memchr(text, '\n', len), *third = second ? memchr(second + 1, '\n', len - (size_t)(second + 1 - (char *)text)) : NULL;
    assert_non_null(third);
    assert_memory_equal(second + 1, "scan ", 5);
    memmove(second + 1, third + 1, len - (size_t)(third + 1 - (char *)text));
    len -= (size_t)(third - second);
    assert_int_equal(fs_write_file(idx, text, len, &msg), FS_OK);
    free(text);
    fs_dataset c5 = {0};
    assert_int_equal(fs_dataset_video_crops(&f.ds, &cfg, &c5, &st, &msg), FS_OK);
    assert_int_equal(st.cached, NVIDEOS - 1);
    manifest_digest(&c5, cache_a, d3);
    assert_string_equal(d1, d3);
    fs_dataset_free(&c5);
    /* a fresh cache with two threads: the same manifest (relative to its cache) */
    cfg.cache_dir = cache_b, cfg.threads = 2;
    assert_int_equal(fs_dataset_video_crops(&f.ds, &cfg, &c4, &st, &msg), FS_OK);
    assert_int_equal(st.cached, 0);
    manifest_digest(&c4, cache_b, d4);
    assert_string_equal(d1, d4);
    /* the crops join a dataset as images: the original items stay */
    const size_t before = f.ds.count;
    assert_int_equal(fs_dataset_append(&f.ds, &c1, &msg), FS_OK);
    assert_int_equal(f.ds.count, before + c1.count);
    fs_dataset_free(&c1), fs_dataset_free(&c2), fs_dataset_free(&c3), fs_dataset_free(&c4);
    teardown(&f);
}

/* Pictures with cfg.pictures: each is a one-frame video, its main face the one crop, byte for
 * byte the crop a scan of the picture gives the model (a close-up included); a picture without
 * a face is counted and left out; without cfg.pictures no picture is touched. */
static void test_picture_crops(void **state) {
    (void)state;
    static const struct { const char *cls, *rel, *link; int face; } PICS[] = {
        {"real", "webmorph-real-faces/real/london_001_03.jpg", "london_001_03.jpg", 1},
        {"fake", "hardfake-vs-real/fake/fake_1.jpg", "fake_1.jpg", 1},
        /* a close-up whose face is larger than the detector's input: found on the second look */
        {"fake", "sdfd-sd21-faces/ai/sdfd_0004.jpg", "sdfd_0004.jpg", 1},
    };
    const size_t npics = sizeof PICS / sizeof PICS[0];
    char buf[2048], tmp[64] = "/tmp/fs_pcrops_XXXXXX", set[128], cache[128];
    for (size_t i = 0; i < npics; i++)
        if (!fs_test_shared(PICS[i].rel, buf, sizeof buf)) skip();
    assert_non_null(mkdtemp(tmp));
    snprintf(set, sizeof set, "%s/pics", tmp);
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    fs_msg msg;
    for (size_t i = 0; i < npics; i++) {
        char dir[256], link[512];
        snprintf(dir, sizeof dir, "%s/%s", set, PICS[i].cls);
        assert_int_equal(fs_mkdirs(dir, &msg), FS_OK);
        snprintf(link, sizeof link, "%s/%s", dir, PICS[i].link);
        fs_test_shared(PICS[i].rel, buf, sizeof buf);
        assert_int_equal(symlink(buf, link), 0);
    }
    /* and a picture of nothing: a grey ramp */
    fs_image ramp = {0};
    assert_int_equal(fs_image_alloc(&ramp, 96, 64, &msg), FS_OK);
    for (int i = 0; i < 96 * 64 * 3; i++) ramp.rgb[i] = (uint8_t)((i / 3) % 96 * 2);
    char ramp_path[256];
    snprintf(ramp_path, sizeof ramp_path, "%s/real/ramp.png", set);
    assert_int_equal(fs_image_save(&ramp, ramp_path, &msg), FS_OK);
    fs_image_free(&ramp);
    fs_dataset ds = {0}, none = {0}, crops = {0}, again = {0};
    assert_int_equal(fs_dataset_scan(&ds, set, NULL, &msg), FS_OK);
    fs_split_config spc = {0.5, 0.5, 0.0, 1, NULL};
    assert_int_equal(fs_dataset_split(&ds, &spc, &msg), FS_OK);
    fs_video_crops_config cfg = {.frames = FRAMES, .threads = 2, .cache_dir = cache};
    fs_video_crops_stats st;
    assert_int_equal(fs_dataset_video_crops(&ds, &cfg, &none, &st, &msg), FS_OK);
    assert_int_equal(st.pictures, 0);
    assert_int_equal(none.count, 0);
    cfg.pictures = 1, cfg.aligned = 1, cfg.align_margin = 0.0f;
    assert_int_equal(fs_dataset_video_crops(&ds, &cfg, &crops, &st, &msg), FS_OK);
    assert_int_equal(st.videos, 0);
    assert_int_equal(st.pictures, npics + 1);
    assert_int_equal(st.no_face, 1);
    assert_int_equal(st.failed, 0);
    assert_int_equal(crops.count, npics);
    /* the scan of each picture, crops only, aligned with margin 0 */
    fs_detector *det = NULL;
    fs_scanner *sc = NULL;
    assert_int_equal(fs_detector_create(&det, &msg), FS_OK);
    assert_int_equal(fs_scanner_create(det, 1, &sc, &msg), FS_OK);
    fs_scan_opts o = fs_scan_opts_default();
    o.keep_crops = 1;
    o.align_margin = 0.0f;
    for (size_t i = 0; i < ds.count; i++) {
        const fs_item *it = &ds.items[i];
        const char *base = strrchr(it->path, '/') + 1;
        size_t idx[2];
        const size_t n = crops_of(&crops, cache, base, idx, 2);
        int face = 0; /* the ramp has none */
        for (size_t k = 0; k < npics; k++)
            if (!strcmp(PICS[k].link, base)) face = PICS[k].face;
        assert_int_equal(n, (size_t)face);
        if (!face) continue;
        fs_scan_result r;
        assert_int_equal(fs_scan_file(sc, it->path, &o, &r, &msg), FS_OK);
        const fs_scan_face *main_face = NULL;
        for (int k = 0; k < r.frames[0].n_faces; k++)
            if (r.frames[0].faces[k].track == r.main_person) main_face = &r.frames[0].faces[k];
        assert_non_null(main_face);
        assert_int_equal(main_face->nlm, 68);
        fs_image img = {0};
        fs_image_limits lim = fs_image_limits_default();
        const fs_item *c = &crops.items[idx[0]];
        assert_int_equal(fs_image_load(c->path, &lim, &img, &msg), FS_OK);
        assert_int_equal(img.w, main_face->crop_img.w);
        assert_memory_equal(img.rgb, main_face->crop_img.rgb, (size_t)img.w * img.h * 3);
        fs_image_free(&img);
        assert_int_equal(c->label, it->label);
        assert_int_equal(c->split, it->split);
        assert_string_equal(c->group, it->group);
        assert_string_equal(c->source, it->source);
        fs_scan_result_free(&r);
    }
    /* again: every picture from the cache (the faceless one too), the same crops */
    assert_int_equal(fs_dataset_video_crops(&ds, &cfg, &again, &st, &msg), FS_OK);
    assert_int_equal(st.cached, npics + 1);
    assert_int_equal(again.count, crops.count);
    for (size_t i = 0; i < crops.count; i++) assert_string_equal(again.items[i].path, crops.items[i].path);
    fs_scanner_free(sc);
    fs_detector_free(det);
    fs_dataset_free(&ds), fs_dataset_free(&none), fs_dataset_free(&crops), fs_dataset_free(&again);
    rm_tree(tmp);
}

static void test_bad_config(void **state) {
    (void)state;
    fs_dataset ds = {0}, out = {0};
    fs_msg msg;
    fs_video_crops_config cfg = {.frames = 0, .threads = 1, .cache_dir = "/tmp"};
    assert_int_equal(fs_dataset_video_crops(&ds, &cfg, &out, NULL, &msg), FS_ERR_INVALID);
    cfg.frames = 4, cfg.threads = 0;
    assert_int_equal(fs_dataset_video_crops(&ds, &cfg, &out, NULL, &msg), FS_ERR_INVALID);
    cfg.threads = 1, cfg.cache_dir = NULL;
    assert_int_equal(fs_dataset_video_crops(&ds, &cfg, &out, NULL, &msg), FS_ERR_INVALID);
    /* no video: nothing to do, nothing added */
    cfg.cache_dir = "/tmp";
    fs_video_crops_stats st;
    assert_int_equal(fs_dataset_video_crops(&ds, &cfg, &out, &st, &msg), FS_OK);
    assert_int_equal(st.videos, 0);
    assert_int_equal(out.count, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crops_match_inference_and_split),
        cmocka_unit_test(test_aligned_crops_match_inference),
        cmocka_unit_test(test_cache_and_same_manifest),
        cmocka_unit_test(test_picture_crops),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
