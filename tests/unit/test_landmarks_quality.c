/* Landmark quality on the WebMorph set (webmorph-real-faces: 102 people, neutral expression,
 * with hand-placed 189-point Face Research Lab templates in landmarks.csv): for each neutral
 * picture the Haar cascade's face box (the one holding the template's eyes), the 68 points of
 * fs_landmarks_run, then the five alignment points (fs_landmarks_five) against the template's:
 * pupils (points 0 and 1) for the eye centres, the middle of the two sides of the nose tip (54,
 * 60) for the tip, the mouth corners (87, 93). Errors are shares of the inter-ocular distance
 * (between the pupils). Prints mean and worst per point and asserts the eye centres' mean error
 * is at most 5% (docs/faces.md, "Landmarks", records the figures). Pictures where the cascade
 * misses the face are counted and reported, not scored.
 *
 * To score another detector's boxes, FS_LM_BOXES=FILE gives them instead of the cascade: lines
 * "london_001_03.jpg X Y W H" (image pixels); a picture without a line counts as missed.
 * FS_LM_BOX_SCALE=F scales every box about its centre (a study of the box convention). */
#include "fs_test.h"

#include <math.h>

#include "fakescope/face.h"
#include "fakescope/landmarks.h"

#define PKG "vladmandic-face-api-1.7.15"
#define MANIFEST "model/face_landmark_68_model-weights_manifest.json"
#define TEMPLATE_POINTS 189
#define EYE_TARGET 0.05
#define LINE_CAP 16384

static int run(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The box for file from FS_LM_BOXES' lines; 0 when found. */
static int box_from_file(const char *list, const char *file, fs_rectf *box) {
    FILE *f = fopen(list, "r");
    if (!f) fail_msg("FS_LM_BOXES: cannot read %s", list);
    char name[256];
    float x, y, w, h;
    int found = -1;
    while (found && fscanf(f, "%255s %f %f %f %f", name, &x, &y, &w, &h) == 5)
        if (!strcmp(name, file)) *box = (fs_rectf){x, y, w, h}, found = 0;
    fclose(f);
    return found;
}

static const char *const point_names[5] = {"eye (image left)", "eye (image right)", "nose tip",
                                           "mouth corner (left)", "mouth corner (right)"};

/* Parses "file,x0,y0,...,x188,y188"; 0 on success. */
static int parse_row(char *line, char *file, size_t cap, double *xy) {
    char *save = NULL, *tok = strtok_r(line, ",\r\n", &save);
    if (!tok || strlen(tok) >= cap) return -1;
    snprintf(file, cap, "%s", tok);
    for (int i = 0; i < 2 * TEMPLATE_POINTS; i++) {
        tok = strtok_r(NULL, ",\r\n", &save);
        if (!tok) return -1;
        xy[i] = strtod(tok, NULL);
    }
    return 0;
}

static void test_webmorph_quality(void **state) {
    (void)state;
    char buf[1024], csv[1024], mpath[1024], cmd[4096], dir[256];
    if (!fs_test_shared("webmorph-real-faces/landmarks.csv", csv, sizeof csv)) skip();
    const char *root = getenv("FAKESCOPE_THIRD_PARTY");
    if (root) snprintf(mpath, sizeof mpath, "%s/%s/%s", root, PKG, MANIFEST);
    else snprintf(mpath, sizeof mpath, "%s/.cache/fakescope/third_party/%s/%s",
                  getenv("HOME") ? getenv("HOME") : "/tmp", PKG, MANIFEST);
    if (access(mpath, R_OK)) {
        printf("skipped: %s is absent (scripts/deps.sh installs it)\n", mpath);
        skip();
    }
    assert_int_equal(fs_test_mkdtemp(dir, sizeof dir, "lmquality"), 0);
    snprintf(cmd, sizeof cmd,
             "'%s' models import --arch landmark68 '%s' -o '%s' --licence MIT >/dev/null",
             FS_BINARY, mpath, dir);
    assert_int_equal(run(cmd), 0);
    fs_landmarks *lm;
    fs_msg m;
    snprintf(buf, sizeof buf, "%s/landmark68.json", dir);
    if (fs_landmarks_load(buf, &lm, &m)) fail_msg("%s", m.text);
    char cpath[1024];
    assert_int_equal(fs_cascade_find(NULL, cpath, sizeof cpath, &m), FS_OK);
    fs_cascade *casc;
    assert_int_equal(fs_cascade_load(cpath, &casc, &m), FS_OK);
    fs_face_params fp = fs_face_params_default();
    fp.min_share = 0.1;
    const char *scale_env = getenv("FS_LM_BOX_SCALE");
    double box_scale = scale_env ? strtod(scale_env, NULL) : 1.0;
    const char *box_list = getenv("FS_LM_BOXES");

    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    char *line = malloc(LINE_CAP);
    double *xy = malloc(sizeof(double) * 2 * TEMPLATE_POINTS);
    assert_non_null(line), assert_non_null(xy);
    double sum[5] = {0}, worst[5] = {0};
    char worst_file[5][256] = {{0}};
    int scored = 0, missed = 0, rows = 0;
    while (fgets(line, LINE_CAP, f)) {
        char file[256], path[1024];
        if (parse_row(line, file, sizeof file, xy)) continue;
        rows++;
        snprintf(path, sizeof path, "%s/webmorph-real-faces/real/%s", FS_SHARED_DATA, file);
        fs_image img;
        fs_image_limits lim = fs_image_limits_default();
        if (fs_image_load(path, &lim, &img, &m)) fail_msg("%s", m.text);
        fs_face *faces = NULL;
        size_t nf = 0;
        assert_int_equal(fs_face_detect(casc, &img, &fp, &faces, &nf, &m), FS_OK);
        /* truth: pupils, nose tip (middle of its two sides), mouth corners */
        double truth[5][2] = {{xy[0], xy[1]},
                              {xy[2], xy[3]},
                              {(xy[2 * 54] + xy[2 * 60]) / 2, (xy[2 * 54 + 1] + xy[2 * 60 + 1]) / 2},
                              {xy[2 * 87], xy[2 * 87 + 1]},
                              {xy[2 * 93], xy[2 * 93 + 1]}};
        double iod = hypot(truth[1][0] - truth[0][0], truth[1][1] - truth[0][1]);
        double mx = (truth[0][0] + truth[1][0]) / 2, my = (truth[0][1] + truth[1][1]) / 2;
        fs_rectf box = {0, 0, 0, 0};
        int have = 0;
        if (box_list) {
            have = iod > 0 && !box_from_file(box_list, file, &box);
        } else {
            int pick = -1;
            for (size_t k = 0; k < nf; k++) {
                fs_box b = faces[k].box;
                if (mx >= b.x && mx < b.x + b.w && my >= b.y && my < b.y + b.h &&
                    (pick < 0 || b.w > faces[pick].box.w))
                    pick = (int)k;
            }
            if (pick >= 0 && iod > 0) {
                fs_box b = faces[pick].box;
                box = (fs_rectf){(float)b.x, (float)b.y, (float)b.w, (float)b.h};
                have = 1;
            }
        }
        if (!have) {
            missed++;
            printf("  %s: no face box around the eyes (%zu cascade boxes)\n", file, nf);
        } else {
            double cx = box.x + box.w / 2.0, cy = box.y + box.h / 2.0;
            box.w = (float)(box.w * box_scale), box.h = (float)(box.h * box_scale);
            box.x = (float)(cx - box.w / 2.0), box.y = (float)(cy - box.h / 2.0);
            fs_point2f pts[FS_LANDMARKS_POINTS], five[5];
            if (fs_landmarks_run(lm, &img, box, pts, &m)) fail_msg("%s", m.text);
            fs_landmarks_five(pts, five);
            for (int p = 0; p < 5; p++) {
                double e = hypot(five[p].x - truth[p][0], five[p].y - truth[p][1]) / iod;
                sum[p] += e;
                if (e > worst[p]) {
                    worst[p] = e;
                    snprintf(worst_file[p], sizeof worst_file[p], "%s", file);
                }
            }
            scored++;
        }
        free(faces);
        fs_image_free(&img);
    }
    fclose(f);
    printf("  %d templates, %d faces scored, %d missed (boxes from %s, scaled %.2f)\n", rows,
           scored, missed, box_list ? box_list : "the cascade", box_scale);
    printf("  %-22s %8s %8s  %s\n", "point", "mean", "worst", "worst on");
    for (int p = 0; p < 5; p++)
        printf("  %-22s %7.2f%% %7.2f%%  %s\n", point_names[p], 100 * sum[p] / scored,
               100 * worst[p], worst_file[p]);
    double eyes = (sum[0] + sum[1]) / (2.0 * scored);
    printf("  eye centres: mean %.2f%% of the inter-ocular distance (target <= %.0f%%)\n",
           100 * eyes, 100 * EYE_TARGET);
    assert_true(rows == 102);
    assert_true(scored >= 95);
    assert_true(eyes <= EYE_TARGET);
    free(line), free(xy);
    fs_cascade_free(casc);
    fs_landmarks_free(lm);
    fs_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webmorph_quality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
