/* The imported ImageNet MobileNetV2 against an independent implementation: `fakescope models
 * import --arch mobilenetv2` writes a backbone and its card; the network built from it
 * (fs_mobilenetv2_graph) must put both cat pictures in the cat classes and give the same logits
 * as torchvision's own MobileNetV2 loaded with the same weights (tests/tools/
 * torch_mobilenetv2.py, Debian's python3-torchvision) on 20 pictures (4 under ASan), within 1e-4. */
#include "fs_test.h"

#include <jansson.h>
#include <math.h>

#include "fakescope/mobilenet.h"
#include "fakescope/sha256.h"
#include "fakescope/weights.h"

#define SIDE 224
#define CLASSES 1001
#define NPICS 20
#define TOL 1e-4
/* Under AddressSanitizer the portable kernels run ~10x slower: 4 pictures there check memory,
 * the release pass checks all 20. */
#if defined(__SANITIZE_ADDRESS__)
#define NRUN 4
#else
#define NRUN NPICS
#endif

static const char *const tflite_files[] = {"imagenet-mobilenet/mobilenet_v2_1.0_224_quant.tflite",
                                           "imagenet-mobilenet/tf2_mobilenet_v2_1.0_224_ptq.tflite"};

/* 20 pictures of different kinds: the two cats, then faces real and generated, frames. */
static const char *const pictures[NPICS] = {
    "imagenet-mobilenet/cat.bmp",          "imagenet-mobilenet/cat_720p.jpg",
    "mesonet/test_images/df/df00204.jpg",  "mesonet/test_images/df/df01254.jpg",
    "webmorph-real-faces/real/london_001_03.jpg", "webmorph-real-faces/real/london_001_08.jpg",
    "webmorph-real-faces/real/london_002_03.jpg", "sdfd-sd21-faces/ai/sdfd_0000.jpg",
    "sdfd-sd21-faces/ai/sdfd_0001.jpg",    "sdfd-sd21-faces/ai/sdfd_0002.jpg",
    "basemax-fakefaces/fake/1.jpg",        "basemax-fakefaces/fake/10.jpg",
    "basemax-fakefaces/fake/100.jpg",      "sdfd-sd21-faces/ai/sdfd_0003.jpg",
    "sdfd-sd21-faces/ai/sdfd_0004.jpg",    "sdfd-sd21-faces/ai/sdfd_0005.jpg",
    "basemax-fakefaces/fake/101.jpg",      "basemax-fakefaces/fake/102.jpg",
    "basemax-fakefaces/fake/103.jpg",      "basemax-fakefaces/fake/104.jpg",
};

static int run(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char tmp_dir[256];

/* The picture at SIDE x SIDE as network input, x = scale * (pixel - zero), into x. fakescope
 * reads no BMP: ffmpeg turns one into a PNG first (test-only). */
static void load_input(const char *rel, float scale, float zero, float *x) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FS_SHARED_DATA, rel);
    if (strstr(rel, ".bmp")) {
        char png[512], cmd[2048];
        snprintf(png, sizeof png, "%s/bmp.png", tmp_dir);
        snprintf(cmd, sizeof cmd, "ffmpeg -loglevel error -y -i '%s' '%s'", path, png);
        assert_int_equal(run(cmd), 0);
        snprintf(path, sizeof path, "%s", png);
    }
    fs_image img, small;
    fs_msg msg;
    fs_image_limits lim = fs_image_limits_default();
    if (fs_image_load(path, &lim, &img, &msg)) fail_msg("%s", msg.text);
    assert_int_equal(fs_image_resize(&img, SIDE, SIDE, &small, &msg), FS_OK);
    for (int i = 0; i < SIDE * SIDE * 3; i++) x[i] = scale * ((float)small.rgb[i] - zero);
    fs_image_free(&img), fs_image_free(&small);
}

static int top5_has_cat(const float *logits) {
    int top[5];
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int c = 0; c < CLASSES; c++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= top[j] == c;
            if (!taken && (best < 0 || logits[c] > logits[best])) best = c;
        }
        top[k] = best;
    }
    int cat = 0;
    for (int k = 0; k < 5; k++) cat |= top[k] >= 282 && top[k] <= 286; /* 0 is background */
    printf("  top 5: %d %d %d %d %d\n", top[0], top[1], top[2], top[3], top[4]);
    return cat;
}

/* Imports one TFLite file with the CLI, checks the card, and compares with torchvision. */
static void check_file(const char *tflite_rel, const char *tmp) {
    char src[1024], cmd[4096], wpath[1200], cpath[1200];
    snprintf(src, sizeof src, "%s/%s", FS_SHARED_DATA, tflite_rel);
    snprintf(cmd, sizeof cmd,
             "'%s' models import --arch mobilenetv2 '%s' -o '%s' --name backbone --licence "
             "Apache-2.0 --force >/dev/null",
             FS_BINARY, src, tmp);
    assert_int_equal(run(cmd), 0);
    snprintf(wpath, sizeof wpath, "%s/backbone.safetensors", tmp);
    snprintf(cpath, sizeof cpath, "%s/backbone.json", tmp);

    /* the card names the kind, source (by name and hash) and licence, and the weights' hash */
    json_error_t jerr;
    json_t *card = json_load_file(cpath, 0, &jerr);
    assert_non_null(card);
    assert_string_equal(json_string_value(json_object_get(card, "kind")), "backbone");
    assert_string_equal(json_string_value(json_object_get(card, "architecture")), "mobilenetv2");
    assert_string_equal(json_string_value(json_object_get(card, "licence")), "Apache-2.0");
    assert_string_equal(json_string_value(json_object_get(card, "source")),
                        strrchr(tflite_rel, '/') + 1);
    assert_int_equal(json_integer_value(json_object_get(card, "classes")), CLASSES);
    char hex[FS_SHA256_HEX];
    fs_msg msg;
    assert_int_equal(fs_sha256_file_hex(src, hex, &msg), FS_OK);
    assert_string_equal(json_string_value(json_object_get(card, "source_sha256")), hex);
    assert_int_equal(fs_sha256_file_hex(wpath, hex, &msg), FS_OK);
    assert_string_equal(json_string_value(json_object_get(card, "sha256")), hex);
    json_decref(card);
    /* not a detector: the registry passes over it without a warning */
    snprintf(cmd, sizeof cmd, "'%s' models list --dir '%s' --json >'%s/list.out' 2>'%s/list.err'",
             FS_BINARY, tmp, tmp, tmp);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q '^\\[\\]$' '%s/list.out' && ! [ -s '%s/list.err' ]", tmp,
             tmp);
    assert_int_equal(run(cmd), 0);

    fs_weights w = {0};
    if (fs_weights_load_safetensors(wpath, &w, &msg)) fail_msg("%s", msg.text);
    fs_graph *g;
    if (fs_mobilenetv2_graph(&w, SIDE, &g, &msg)) fail_msg("%s", msg.text);
    float scale = strtof(fs_weights_meta(&w, "input_scale"), NULL);
    float zero = strtof(fs_weights_meta(&w, "input_zero_point"), NULL);
    size_t px = (size_t)SIDE * SIDE * 3;
    float *x = malloc(sizeof(float) * px * NRUN);
    float *ours = malloc(sizeof(float) * CLASSES * NPICS);
    float *theirs = malloc(sizeof(float) * CLASSES * NPICS);
    assert_non_null(x), assert_non_null(ours), assert_non_null(theirs);
    for (int i = 0; i < NRUN; i++) {
        load_input(pictures[i], scale, zero, x + px * (size_t)i);
        assert_int_equal(fs_graph_forward(g, x + px * (size_t)i, 1, ours + CLASSES * i, &msg),
                         FS_OK);
    }
    printf("%s\n", tflite_rel);
    for (int i = 0; i < 2; i++) assert_true(top5_has_cat(ours + CLASSES * i));

    char ipath[1200], opath[1200];
    snprintf(ipath, sizeof ipath, "%s/inputs.f32", tmp);
    snprintf(opath, sizeof opath, "%s/torch.f32", tmp);
    FILE *f = fopen(ipath, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x, sizeof(float), px * NRUN, f), px * NRUN);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/tools/torch_mobilenetv2.py' '%s' '%s' %d %d '%s'",
             FS_SOURCE_DIR, wpath, ipath, NRUN, SIDE, opath);
    assert_int_equal(run(cmd), 0);
    f = fopen(opath, "rb");
    assert_non_null(f);
    assert_int_equal(fread(theirs, sizeof(float), (size_t)CLASSES * NRUN, f),
                     (size_t)CLASSES * NRUN);
    fclose(f);
    double worst = 0, biggest = 0;
    int argmax_same = 0;
    for (int i = 0; i < NRUN; i++) {
        int a = 0, b = 0;
        for (int c = 0; c < CLASSES; c++) {
            double d = fabs((double)ours[CLASSES * i + c] - theirs[CLASSES * i + c]);
            worst = d > worst ? d : worst;
            double m = fabs((double)theirs[CLASSES * i + c]);
            biggest = m > biggest ? m : biggest;
            if (ours[CLASSES * i + c] > ours[CLASSES * i + a]) a = c;
            if (theirs[CLASSES * i + c] > theirs[CLASSES * i + b]) b = c;
        }
        argmax_same += a == b;
    }
    printf("  %d pictures: largest logit difference %.3g (largest logit %.3g), same top class %d\n",
           NRUN, worst, biggest, argmax_same);
    assert_true(worst <= TOL);
    assert_int_equal(argmax_same, NRUN);
    free(x), free(ours), free(theirs);
    fs_graph_free(g);
    fs_weights_free(&w);
}

static void test_against_torchvision(void **state) {
    (void)state;
    char buf[1024];
    for (int i = 0; i < NPICS; i++)
        if (!fs_test_shared(pictures[i], buf, sizeof buf)) skip();
    for (size_t i = 0; i < sizeof tflite_files / sizeof *tflite_files; i++)
        if (!fs_test_shared(tflite_files[i], buf, sizeof buf)) skip();
    if (run("/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null") != 0) {
        printf("skipped: python3-torchvision is not installed (scripts/deps.sh installs it)\n");
        skip();
    }
    assert_int_equal(fs_test_mkdtemp(tmp_dir, sizeof tmp_dir, "mbtorch"), 0);
    for (size_t i = 0; i < sizeof tflite_files / sizeof *tflite_files; i++)
        check_file(tflite_files[i], tmp_dir);
    fs_test_rmtree(tmp_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torchvision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
