/* The 68-point landmark network: the TF.js reader refuses malformed manifests and short or long
 * weight files and dequantizes as TF.js does; `fakescope models import --arch landmark68` writes
 * weights and a landmarks card the registry passes over; fs_landmarks_load names the set-up
 * commands when weights are missing or corrupt; and on every face the cascade finds in a set of
 * shared pictures (plus fixed boxes, one reaching past the image's corner) the 68 points agree
 * with an independent numpy implementation that reads the TF.js files itself
 * (tests/tools/landmarks68_ref.py) within 1% of the box side. */
#include "fs_test.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>

#include "fakescope/face.h"
#include "fakescope/landmarks.h"
#include "fakescope/tfjs.h"

#define PKG "vladmandic-face-api-1.7.15"
#define MANIFEST "model/face_landmark_68_model-weights_manifest.json"
/* The brief's bound is 1% of the box side. With OpenCV there to decode the JPEGs as fakescope
 * does (the same libjpeg-turbo), both sides see the same pixels and agree to ~1e-6: then 0.05%
 * is asked, tight enough to catch a half-pixel shift of the crop (0.45%). */
#define TOL_SHARE 0.01
#define TOL_SHARE_SAME_PIXELS 0.0005

static int run(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The installed face-api manifest, or NULL after "skipped" (scripts/deps.sh installs it). */
static const char *manifest_path(char *buf, size_t cap) {
    const char *root = getenv("FAKESCOPE_THIRD_PARTY");
    if (root) snprintf(buf, cap, "%s/%s/%s", root, PKG, MANIFEST);
    else snprintf(buf, cap, "%s/.cache/fakescope/third_party/%s/%s",
                  getenv("HOME") ? getenv("HOME") : "/tmp", PKG, MANIFEST);
    if (access(buf, R_OK)) {
        printf("skipped: %s is absent (scripts/deps.sh installs it)\n", buf);
        return NULL;
    }
    return buf;
}

/* ---- the TF.js reader ------------------------------------------------------------------ */

static fs_err decode(const char *json, const uint8_t *data, size_t dlen, fs_weights *w,
                     fs_msg *m) {
    memset(w, 0, sizeof *w);
    return fs_tfjs_decode(json, strlen(json), data, dlen, w, m);
}

static void test_tfjs_decode(void **state) {
    (void)state;
    /* a uint8-quantized [2, 2], a float32 [2] and an int32 scalar-like [1], in that order */
    const char *json =
        "[{\"paths\": [\"a.bin\"], \"weights\": ["
        "{\"name\": \"q\", \"shape\": [2, 2], \"dtype\": \"float32\", \"quantization\": "
        "{\"dtype\": \"uint8\", \"scale\": 0.5, \"min\": -1}},"
        "{\"name\": \"f\", \"shape\": [2], \"dtype\": \"float32\"},"
        "{\"name\": \"i\", \"shape\": [1], \"dtype\": \"int32\"}]}]";
    uint8_t data[4 + 8 + 4] = {0, 1, 2, 255};
    float f[2] = {1.5f, -2.25f};
    memcpy(data + 4, f, sizeof f); /* little-endian machine */
    int32_t i = -7;
    memcpy(data + 12, &i, 4);
    fs_weights w;
    fs_msg m;
    assert_int_equal(decode(json, data, sizeof data, &w, &m), FS_OK);
    const fs_weight *q = fs_weights_get(&w, "q");
    assert_non_null(q);
    assert_int_equal(q->ndim, 2);
    assert_true(q->data[0] == -1.0f && q->data[1] == -0.5f && q->data[2] == 0.0f &&
                q->data[3] == 126.5f);
    assert_true(fs_weights_get(&w, "f")->data[1] == -2.25f);
    assert_true(fs_weights_get(&w, "i")->data[0] == -7.0f);
    fs_weights_free(&w);

    /* short and long data, with the sizes in the message */
    assert_int_equal(decode(json, data, sizeof data - 1, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "15 bytes"));
    assert_non_null(strstr(m.text, "need 16"));
    assert_int_equal(decode(json, data, 0, &w, &m), FS_ERR_FORMAT);
    uint8_t more[17] = {0};
    assert_int_equal(decode(json, more, sizeof more, &w, &m), FS_ERR_FORMAT);

    /* malformed manifests, each refused with a reason */
    static const struct {
        const char *json, *says;
    } bad[] = {
        {"", "not JSON"},
        {"{}", "non-empty array"},
        {"[]", "non-empty array"},
        {"[{\"paths\": [\"a\"]}]", "no \"weights\""},
        {"[{\"paths\": [\"a\"], \"weights\": [3]}]", "not an object"},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"shape\": [1], \"dtype\": \"float32\"}]}]",
         "\"name\""},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"x\", \"shape\": [-1], \"dtype\": "
         "\"float32\"}]}]",
         "shape[0]"},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"x\", \"shape\": [1,1,1,1,1], "
         "\"dtype\": \"float32\"}]}]",
         "at most 4"},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"x\", \"shape\": [1], \"dtype\": "
         "\"string\"}]}]",
         "dtype"},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"x\", \"shape\": [1], \"dtype\": "
         "\"float32\", \"quantization\": {\"dtype\": \"float16\"}}]}]",
         "float16"},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"x\", \"shape\": [1], \"dtype\": "
         "\"float32\", \"quantization\": {\"dtype\": \"uint8\", \"scale\": \"1\", \"min\": 0}}]}]",
         "scale"},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"x\", \"shape\": [4000000000, "
         "4000000000], \"dtype\": \"float32\"}]}]",
         "elements"},
        {"[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"x\", \"shape\": [1], \"dtype\": "
         "\"float32\"}, {\"name\": \"x\", \"shape\": [1], \"dtype\": \"float32\"}]}]",
         "twice"},
        {"[{\"paths\": [\"a\"], \"weights\": []}]", "no tensors"},
    };
    uint8_t zeros[8] = {0};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        fs_err e = decode(bad[k].json, zeros, sizeof zeros, &w, &m);
        if (e == FS_OK || !strstr(m.text, bad[k].says))
            fail_msg("manifest %zu: %s (%s), expected a message with '%s'", k, fs_err_name(e),
                     e ? m.text : "", bad[k].says);
        assert_int_equal(w.count, 0);
    }

    /* shard paths: plain file names only */
    char **paths;
    size_t n;
    assert_int_equal(fs_tfjs_manifest_paths(json, strlen(json), &paths, &n, &m), FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(paths[0], "a.bin");
    fs_tfjs_paths_free(paths, n);
    static const char *const bad_paths[] = {
        "[{\"paths\": [\"../x.bin\"], \"weights\": []}]",
        "[{\"paths\": [\"/etc/passwd\"], \"weights\": []}]",
        "[{\"paths\": [\"..\"], \"weights\": []}]",
        "[{\"paths\": [], \"weights\": []}]",
        "[{\"paths\": [7], \"weights\": []}]",
        "[{\"weights\": []}]",
    };
    for (size_t k = 0; k < sizeof bad_paths / sizeof *bad_paths; k++) {
        assert_int_equal(fs_tfjs_manifest_paths(bad_paths[k], strlen(bad_paths[k]), &paths, &n, &m),
                         FS_ERR_FORMAT);
        assert_null(paths);
    }
}

/* A landmark68 conversion refuses TF.js weights of another network, naming the tensor. */
static void test_from_tfjs_refuses_other_networks(void **state) {
    (void)state;
    const char *json = "[{\"paths\": [\"a\"], \"weights\": [{\"name\": \"dense0/conv0/filters\", "
                       "\"shape\": [3, 3, 3, 16], \"dtype\": \"float32\"}]}]";
    float data[3 * 3 * 3 * 16] = {0};
    fs_weights tf, w = {0};
    fs_msg m;
    assert_int_equal(decode(json, (const uint8_t *)data, sizeof data, &tf, &m), FS_OK);
    assert_int_equal(fs_landmark68_from_tfjs(&tf, &w, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "dense0/conv0/filters"));
    assert_int_equal(w.count, 0);
    fs_weights_free(&tf);
    assert_int_equal(fs_landmark68_check(&tf, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "missing"));
}

/* ---- import, card, load ------------------------------------------------------------------ */

static char tmp_dir[256];

static void import_cli(const char *manifest) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' models import --arch landmark68 '%s' -o '%s' --licence MIT --force >/dev/null",
             FS_BINARY, manifest, tmp_dir);
    assert_int_equal(run(cmd), 0);
}

static void test_import_and_load(void **state) {
    (void)state;
    char mbuf[1024], path[1200], cmd[4096];
    const char *manifest = manifest_path(mbuf, sizeof mbuf);
    if (!manifest) skip();
    assert_int_equal(fs_test_mkdtemp(tmp_dir, sizeof tmp_dir, "lmimport"), 0);
    import_cli(manifest);

    /* the card: kind, architecture, licence, the sources by hash */
    snprintf(path, sizeof path, "%s/landmark68.json", tmp_dir);
    json_t *card = json_load_file(path, 0, NULL);
    assert_non_null(card);
    assert_string_equal(json_string_value(json_object_get(card, "kind")), "landmarks");
    assert_string_equal(json_string_value(json_object_get(card, "architecture")), "landmark68");
    assert_string_equal(json_string_value(json_object_get(card, "licence")), "MIT");
    assert_string_equal(json_string_value(json_object_get(card, "source_sha256")),
                        "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9");
    json_t *files = json_object_get(card, "source_files");
    assert_int_equal(json_array_size(files), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "sha256")),
                        "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b");
    json_decref(card);
    /* the registry passes over it without a warning */
    snprintf(cmd, sizeof cmd,
             "'%s' models list --dir '%s' --json >'%s/list.out' 2>'%s/list.err' && grep -q "
             "'^\\[\\]$' '%s/list.out' && ! [ -s '%s/list.err' ]",
             FS_BINARY, tmp_dir, tmp_dir, tmp_dir, tmp_dir, tmp_dir);
    assert_int_equal(run(cmd), 0);

    fs_landmarks *lm;
    fs_msg m;
    if (fs_landmarks_load(path, &lm, &m)) fail_msg("%s", m.text);
    fs_landmarks_free(lm);

    /* missing card, missing weights, corrupt weights, a card of another kind: clear errors that
     * name the set-up commands */
    char missing[1200];
    snprintf(missing, sizeof missing, "%s/nothing.json", tmp_dir);
    assert_int_equal(fs_landmarks_load(missing, &lm, &m), FS_ERR_NOTFOUND);
    assert_null(lm);
    assert_non_null(strstr(m.text, "scripts/deps.sh"));
    assert_non_null(strstr(m.text, "models import --arch landmark68"));

    char wpath[1200];
    snprintf(wpath, sizeof wpath, "%s/landmark68.safetensors", tmp_dir);
    snprintf(cmd, sizeof cmd, "printf 'x' | dd of='%s' bs=1 seek=5000 conv=notrunc 2>/dev/null",
             wpath);
    assert_int_equal(run(cmd), 0);
    assert_int_equal(fs_landmarks_load(path, &lm, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "sha256"));
    assert_non_null(strstr(m.text, "scripts/deps.sh"));
    assert_int_equal(unlink(wpath), 0);
    assert_int_equal(fs_landmarks_load(path, &lm, &m), FS_ERR_NOTFOUND);
    assert_non_null(strstr(m.text, "scripts/deps.sh"));

    snprintf(cmd, sizeof cmd, "echo '{\"kind\": \"backbone\", \"architecture\": \"mobilenetv2\"}' >'%s/other.json'",
             tmp_dir);
    assert_int_equal(run(cmd), 0);
    snprintf(path, sizeof path, "%s/other.json", tmp_dir);
    assert_int_equal(fs_landmarks_load(path, &lm, &m), FS_ERR_FORMAT);

    /* a manifest whose .bin is short: the import says so and writes nothing */
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s/m.json' && head -c 1000 \"$(dirname '%s')/face_landmark_68_model.bin\" "
             ">'%s/face_landmark_68_model.bin' && ! '%s' models import --arch landmark68 "
             "'%s/m.json' -o '%s/out' --licence MIT 2>'%s/err' && grep -q 'truncated' '%s/err' "
             "&& ! [ -e '%s/out/landmark68.json' ]",
             manifest, tmp_dir, manifest, tmp_dir, FS_BINARY, tmp_dir, tmp_dir, tmp_dir, tmp_dir,
             tmp_dir);
    assert_int_equal(run(cmd), 0);
    /* --licence is required */
    snprintf(cmd, sizeof cmd, "'%s' models import --arch landmark68 '%s' -o '%s/x' 2>/dev/null",
             FS_BINARY, manifest, tmp_dir);
    assert_int_equal(run(cmd), 2);
    fs_test_rmtree(tmp_dir);
}

/* ---- agreement with the numpy reference -------------------------------------------------- */

static const char *const pictures[] = {
    "webmorph-real-faces/real/london_001_03.jpg", "webmorph-real-faces/real/london_002_08.jpg",
    "webmorph-real-faces/real/london_010_03.jpg", "webmorph-real-faces/real/london_027_08.jpg",
    "webmorph-real-faces/real/london_036_03.jpg", "mesonet/test_images/real/real00240.jpg",
    "mesonet/test_images/df/df00204.jpg",         "hardfake-vs-real/real/real_1.jpg",
    "mesonet-real-faces/real/100_0.jpg",
};
#define NPICS (sizeof pictures / sizeof *pictures)
#define MAX_FACES 64

typedef struct face_case {
    char path[1024];
    fs_rectf box;
    fs_point2f pts[FS_LANDMARKS_POINTS];
} face_case;

static void test_against_reference(void **state) {
    (void)state;
    char mbuf[1024], buf[1200], cmd[8192];
    const char *manifest = manifest_path(mbuf, sizeof mbuf);
    if (!manifest) skip();
    for (size_t i = 0; i < NPICS; i++)
        if (!fs_test_shared(pictures[i], buf, sizeof buf)) skip();
    if (run("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        printf("skipped: python3-numpy is not installed (scripts/deps.sh installs it)\n");
        skip();
    }
    double tol = run("/usr/bin/python3 -c 'import cv2' 2>/dev/null") == 0 ? TOL_SHARE_SAME_PIXELS
                                                                          : TOL_SHARE;
    assert_int_equal(fs_test_mkdtemp(tmp_dir, sizeof tmp_dir, "lmref"), 0);
    import_cli(manifest);
    fs_landmarks *lm;
    fs_msg m;
    snprintf(buf, sizeof buf, "%s/landmark68.json", tmp_dir);
    if (fs_landmarks_load(buf, &lm, &m)) fail_msg("%s", m.text);
    char cpath[1024];
    assert_int_equal(fs_cascade_find(NULL, cpath, sizeof cpath, &m), FS_OK);
    fs_cascade *casc;
    assert_int_equal(fs_cascade_load(cpath, &casc, &m), FS_OK);

    face_case *cases = calloc(MAX_FACES, sizeof *cases);
    assert_non_null(cases);
    size_t n = 0;
    fs_face_params fp = fs_face_params_default();
    fp.min_share = 0.1;
    for (size_t i = 0; i < NPICS; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FS_SHARED_DATA, pictures[i]);
        fs_image img;
        fs_image_limits lim = fs_image_limits_default();
        if (fs_image_load(path, &lim, &img, &m)) fail_msg("%s", m.text);
        fs_face *faces = NULL;
        size_t nf = 0;
        assert_int_equal(fs_face_detect(casc, &img, &fp, &faces, &nf, &m), FS_OK);
        /* the cascade's boxes, then fixed ones: the whole picture, a non-square box, one
         * reaching past the top-left corner (black padding) and one 1.5 times the picture
         * (black all round; on the larger pictures more than 896 px, so the supersampling is
         * capped at 8) */
        fs_rectf fixed[4] = {{0, 0, (float)img.w, (float)img.h},
                             {img.w * 0.2f, img.h * 0.15f, img.w * 0.6f, img.h * 0.75f},
                             {-img.w * 0.1f, -img.h * 0.15f, img.w * 0.7f, img.h * 0.7f},
                             {-img.w * 0.25f, -img.h * 0.25f, img.w * 1.5f, img.h * 1.5f}};
        for (size_t k = 0; k < nf + 4 && n < MAX_FACES; k++, n++) {
            face_case *c = &cases[n];
            snprintf(c->path, sizeof c->path, "%s", path);
            c->box = k < nf ? (fs_rectf){(float)faces[k].box.x, (float)faces[k].box.y,
                                         (float)faces[k].box.w, (float)faces[k].box.h}
                            : fixed[k - nf];
            if (fs_landmarks_run(lm, &img, c->box, c->pts, &m)) fail_msg("%s", m.text);
        }
        printf("  %s: %zu cascade faces\n", pictures[i], nf);
        free(faces);
        fs_image_free(&img);
    }
    /* the reference on the same boxes */
    char bpath[1200], opath[1200];
    snprintf(bpath, sizeof bpath, "%s/boxes.txt", tmp_dir);
    snprintf(opath, sizeof opath, "%s/ref.txt", tmp_dir);
    FILE *f = fopen(bpath, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %.9g %.9g %.9g %.9g\n", cases[i].path, cases[i].box.x, cases[i].box.y,
                cases[i].box.w, cases[i].box.h);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/tools/landmarks68_ref.py' '%s' '%s' >'%s'",
             FS_SOURCE_DIR, manifest, bpath, opath);
    assert_int_equal(run(cmd), 0);
    f = fopen(opath, "r");
    assert_non_null(f);
    double worst = 0, sum = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        double side = fmax(cases[i].box.w, cases[i].box.h), face_worst = 0;
        for (int p = 0; p < FS_LANDMARKS_POINTS; p++) {
            double rx, ry;
            assert_int_equal(fscanf(f, "%lf %lf", &rx, &ry), 2);
            double d = hypot(cases[i].pts[p].x - rx, cases[i].pts[p].y - ry) / side;
            face_worst = fmax(face_worst, d);
            sum += d, count++;
        }
        if (face_worst > tol)
            fail_msg("%s box (%g %g %g %g): a point %.3g%% of the box side from the reference",
                     cases[i].path, cases[i].box.x, cases[i].box.y, cases[i].box.w,
                     cases[i].box.h, 100 * face_worst);
        worst = fmax(worst, face_worst);
        if (getenv("FS_TEST_VERBOSE"))
            printf("    %s (%g %g %g %g): %.3f%%\n", cases[i].path, cases[i].box.x,
                   cases[i].box.y, cases[i].box.w, cases[i].box.h, 100 * face_worst);
    }
    fclose(f);
    printf("  %zu faces (%zu points): mean distance to the reference %.2g%%, largest %.2g%% of "
           "the box side (allowed %.2g%%)\n",
           n, count, 100 * sum / (double)count, 100 * worst, 100 * tol);
    assert_true(n >= NPICS * 4 + 5); /* the cascade found faces, not only the fixed boxes */
    free(cases);
    fs_cascade_free(casc);
    fs_landmarks_free(lm);
    fs_test_rmtree(tmp_dir);
}

/* One model shared by four threads gives each the answers a single thread gets. */
#define THREADS 4
#define THREAD_BOXES 3
typedef struct thread_job {
    fs_landmarks *lm;
    const fs_image *img;
    const fs_rectf *boxes;
    fs_point2f pts[THREAD_BOXES][FS_LANDMARKS_POINTS];
    fs_err err;
} thread_job;

static void *thread_main(void *arg) {
    thread_job *j = arg;
    fs_msg m;
    for (int r = 0; r < 4 && !j->err; r++)
        for (int b = 0; b < THREAD_BOXES && !j->err; b++)
            j->err = fs_landmarks_run(j->lm, j->img, j->boxes[(b + r) % THREAD_BOXES],
                                      j->pts[(b + r) % THREAD_BOXES], &m);
    return NULL;
}

static void test_threads_share_a_model(void **state) {
    (void)state;
    char mbuf[1024], buf[1200];
    const char *manifest = manifest_path(mbuf, sizeof mbuf);
    if (!manifest) skip();
    if (!fs_test_shared(pictures[0], buf, sizeof buf)) skip();
    assert_int_equal(fs_test_mkdtemp(tmp_dir, sizeof tmp_dir, "lmthreads"), 0);
    import_cli(manifest);
    fs_landmarks *lm;
    fs_msg m;
    snprintf(buf, sizeof buf, "%s/landmark68.json", tmp_dir);
    if (fs_landmarks_load(buf, &lm, &m)) fail_msg("%s", m.text);
    fs_image img;
    fs_image_limits lim = fs_image_limits_default();
    snprintf(buf, sizeof buf, "%s/%s", FS_SHARED_DATA, pictures[0]);
    if (fs_image_load(buf, &lim, &img, &m)) fail_msg("%s", m.text);
    const fs_rectf boxes[THREAD_BOXES] = {{190, 201, 292, 292}, {150, 150, 380, 400}, {220, 240, 240, 240}};
    fs_point2f want[THREAD_BOXES][FS_LANDMARKS_POINTS];
    for (int b = 0; b < THREAD_BOXES; b++)
        assert_int_equal(fs_landmarks_run(lm, &img, boxes[b], want[b], &m), FS_OK);
    thread_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (thread_job){.lm = lm, .img = &img, .boxes = boxes};
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(jobs[t].err, FS_OK);
        assert_memory_equal(jobs[t].pts, want, sizeof want);
    }
    fs_image_free(&img);
    fs_landmarks_free(lm);
    fs_test_rmtree(tmp_dir);
}

/* Boxes that cannot be cropped are refused, never crash. */
static void test_bad_boxes(void **state) {
    (void)state;
    fs_image img;
    fs_msg m;
    assert_int_equal(fs_image_alloc(&img, 64, 48, &m), FS_OK);
    memset(img.rgb, 128, 64 * 48 * 3);
    float *in = malloc(sizeof(float) * FS_LANDMARKS_SIDE * FS_LANDMARKS_SIDE * 3), x0, y0, s;
    assert_non_null(in);
    const fs_rectf bad[] = {{0, 0, 0, 10}, {0, 0, 10, -1}, {NAN, 0, 10, 10}, {0, 0, INFINITY, 10},
                            {1e9f, 0, 10, 10}, {0, 0, 1e9f, 1e9f}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        assert_int_equal(fs_landmarks_input(&img, bad[k], in, &x0, &y0, &s, &m), FS_ERR_INVALID);
    fs_image empty = {0};
    assert_int_equal(fs_landmarks_input(&empty, (fs_rectf){0, 0, 8, 8}, in, &x0, &y0, &s, &m),
                     FS_ERR_INVALID);
    /* a box far outside the image is all padding: black after normalisation */
    assert_int_equal(fs_landmarks_input(&img, (fs_rectf){1000, 1000, 20, 10}, in, &x0, &y0, &s, &m),
                     FS_OK);
    assert_true(fabsf(in[0] + 122.782f / 255) < 1e-6f);
    assert_true(s == 20 && x0 == 1000 && y0 == 995);
    /* a grey image fully inside: every input value is (128 - mean) / 255 */
    assert_int_equal(fs_landmarks_input(&img, (fs_rectf){10, 10, 20, 20}, in, &x0, &y0, &s, &m),
                     FS_OK);
    assert_true(fabsf(in[3 * 50 + 2] - (128 - 104.298f) / 255) < 1e-5f);
    free(in);
    fs_image_free(&img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tfjs_decode),
        cmocka_unit_test(test_from_tfjs_refuses_other_networks),
        cmocka_unit_test(test_bad_boxes),
        cmocka_unit_test(test_import_and_load),
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_threads_share_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
