/* Unit tests of detect/'s classification metrics: hand-computed small cases, the model cards'
 * report shape (seed 000 reproduced from a confusion matrix), degenerate input, video-level
 * grouping, and a cross-check against scikit-learn's numbers stored in
 * tests/unit/data/metrics_sklearn.json (written by tests/tools/metrics_check.py). */
#include "fs_test.h"

#include "fakescope/binary_metrics.h"
#include "fakescope/json.h"

#include <math.h>

#define EPS 1e-12

/* sklearn's documentation example: y = [0, 0, 1, 1], scores = [0.1, 0.4, 0.35, 0.8]. */
static const int doc_y[] = {0, 0, 1, 1};
static const double doc_s[] = {0.1, 0.4, 0.35, 0.8};

static void test_hand_example(void **state) {
    (void)state;
    fs_msg msg;
    fs_binary_metrics m;
    assert_int_equal(fs_binary_metrics_compute(doc_y, doc_s, 4, 0.5, &m, &msg), FS_OK);
    assert_int_equal(m.confusion.tn, 2);
    assert_int_equal(m.confusion.fp, 0);
    assert_int_equal(m.confusion.fn, 1);
    assert_int_equal(m.confusion.tp, 1);
    assert_float_equal(m.accuracy, 0.75, EPS);
    assert_float_equal(m.roc_auc, 0.75, EPS);
    /* Thresholds 0.8, 0.4, 0.35, 0.1: precision 1, 1/2, 2/3, 1/2; recall steps 1/2, 0, 1/2, 0. */
    assert_float_equal(m.average_precision, 0.5 * 1 + 0.5 * (2.0 / 3), EPS);
    /* ROC (0,0) (0,.5) (.5,.5): FPR = FNR = 0.5 exactly at the point of threshold 0.4. */
    assert_float_equal(m.eer, 0.5, EPS);
    assert_float_equal(m.eer_threshold, 0.4, EPS);
    assert_int_equal(m.flags, 0);
    const fs_report *r = &m.report;
    assert_float_equal(r->cls[0].precision, 2.0 / 3, EPS);
    assert_float_equal(r->cls[0].recall, 1.0, EPS);
    assert_float_equal(r->cls[0].f1, 0.8, EPS);
    assert_float_equal(r->cls[1].precision, 1.0, EPS);
    assert_float_equal(r->cls[1].recall, 0.5, EPS);
    assert_float_equal(r->cls[1].f1, 2.0 / 3, EPS);
    assert_float_equal(r->macro.f1, (0.8 + 2.0 / 3) / 2, EPS);
    assert_int_equal(r->cls[0].support, 2);
    assert_int_equal(r->weighted.support, 4);

    /* The threshold is inclusive: at 0.4 the sample scored 0.4 is predicted positive. */
    fs_confusion c;
    assert_int_equal(fs_confusion_at(doc_y, doc_s, 4, 0.4, &c, &msg), FS_OK);
    assert_int_equal(c.fp, 1);
    assert_int_equal(c.tp, 1);
    double acc;
    assert_int_equal(fs_accuracy_at(doc_y, doc_s, 4, 0.3, &acc, &msg), FS_OK);
    assert_float_equal(acc, 0.75, EPS);

    fs_roc roc;
    assert_int_equal(fs_roc_curve(doc_y, doc_s, 4, 0, &roc, &msg), FS_OK);
    const double fpr[] = {0, 0, 0.5, 0.5, 1}, tpr[] = {0, 0.5, 0.5, 1, 1};
    const double thr[] = {INFINITY, 0.8, 0.4, 0.35, 0.1};
    assert_int_equal(roc.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_float_equal(roc.fpr[i], fpr[i], EPS);
        assert_float_equal(roc.tpr[i], tpr[i], EPS);
        assert_true(roc.thresholds[i] == thr[i]);
    }
    fs_roc_free(&roc);
}

/* A perfect ranking, its reverse, and one score for everybody. */
static void test_hand_extremes(void **state) {
    (void)state;
    fs_msg msg;
    const int y[] = {0, 1, 0, 1, 1, 0};
    const double good[] = {0.2, 0.9, 0.1, 0.7, 0.6, 0.3};
    const double bad[] = {0.8, 0.1, 0.9, 0.3, 0.4, 0.7};
    const double same[] = {0.6, 0.6, 0.6, 0.6, 0.6, 0.6};
    fs_binary_metrics m;
    assert_int_equal(fs_binary_metrics_compute(y, good, 6, 0.5, &m, &msg), FS_OK);
    assert_float_equal(m.roc_auc, 1.0, EPS);
    assert_float_equal(m.average_precision, 1.0, EPS);
    assert_float_equal(m.eer, 0.0, EPS);
    assert_float_equal(m.accuracy, 1.0, EPS);
    assert_int_equal(fs_binary_metrics_compute(y, bad, 6, 0.5, &m, &msg), FS_OK);
    assert_float_equal(m.roc_auc, 0.0, EPS);
    assert_float_equal(m.eer, 1.0, EPS);
    assert_float_equal(m.accuracy, 0.0, EPS);
    /* Precision along the ranking: 0/1, 0/2, 0/3, 1/4, 2/5, 3/6 at recall steps of 1/3. */
    assert_float_equal(m.average_precision, (0.25 + 0.4 + 0.5) / 3, EPS);
    assert_int_equal(fs_binary_metrics_compute(y, same, 6, 0.5, &m, &msg), FS_OK);
    /* One tie: the ROC is the diagonal, precision is the prevalence. */
    assert_float_equal(m.roc_auc, 0.5, EPS);
    assert_float_equal(m.average_precision, 0.5, EPS);
    assert_float_equal(m.eer, 0.5, EPS);
    assert_int_equal(m.confusion.tp, 3);
    assert_int_equal(m.confusion.fp, 3);
    /* Class 0 is never predicted: its precision divides by zero and is 0. */
    assert_float_equal(m.report.cls[0].precision, 0.0, EPS);
    assert_float_equal(m.report.cls[0].f1, 0.0, EPS);
    assert_float_equal(m.report.cls[1].f1, 2 * 0.5 / 1.5, EPS);

    /* A crossing inside a segment: ROC (0,0) -> (0,1/2) -> (1,1) via a tie of one positive
     * and two negatives. FNR - FPR goes 1/2 -> -1 linearly; zero at 1/3 of the way. */
    const int y2[] = {1, 1, 0, 0};
    const double s2[] = {0.9, 0.5, 0.5, 0.5};
    double eer, thr;
    assert_int_equal(fs_eer(y2, s2, 4, &eer, &thr, &msg), FS_OK);
    assert_float_equal(eer, 1.0 / 3, EPS);
    assert_float_equal(thr, 0.9, EPS); /* nearer to the point at threshold 0.9 */
}

static void test_degenerate(void **state) {
    (void)state;
    fs_msg msg;
    fs_binary_metrics m;
    const int neg[] = {0, 0, 0};
    const int pos[] = {1, 1, 1};
    const double s[] = {0.2, 0.7, 0.4};
    assert_int_equal(fs_binary_metrics_compute(neg, s, 3, 0.5, &m, &msg), FS_OK);
    assert_true(isnan(m.roc_auc));
    assert_true(isnan(m.average_precision));
    assert_true(isnan(m.eer));
    assert_int_equal(m.flags, FS_BINARY_NO_POSITIVE);
    assert_float_equal(m.accuracy, 2.0 / 3, EPS);
    /* Class 1 has no support and one false positive: all zero, not NaN. */
    assert_float_equal(m.report.cls[1].precision, 0.0, EPS);
    assert_float_equal(m.report.cls[1].recall, 0.0, EPS);
    assert_int_equal(m.report.cls[1].support, 0);

    assert_int_equal(fs_binary_metrics_compute(pos, s, 3, 0.5, &m, &msg), FS_OK);
    assert_int_equal(m.flags, FS_BINARY_NO_NEGATIVE);
    assert_true(isnan(m.roc_auc));
    assert_float_equal(m.average_precision, 1.0, EPS);

    double auc = 0;
    assert_int_equal(fs_roc_auc(pos, s, 3, &auc, &msg), FS_OK);
    assert_true(isnan(auc));
    fs_roc roc;
    msg.text[0] = 0;
    assert_int_equal(fs_roc_curve(pos, s, 3, 1, &roc, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "both classes"));
    assert_null(roc.fpr);

    /* JSON keeps undefined figures as null rather than failing on NaN. */
    json_t *j = fs_binary_metrics_json(&m, NULL, FS_REPORT_DECIMALS);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "roc_auc")));
    assert_true(json_is_real(json_object_get(j, "average_precision")));
    json_decref(j);

    /* Bad input is refused with a message that says where. */
    assert_int_equal(fs_binary_metrics_compute(neg, s, 0, 0.5, &m, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "no samples"));
    const int bad_label[] = {0, 2, 1};
    assert_int_equal(fs_binary_metrics_compute(bad_label, s, 3, 0.5, &m, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "index 1"));
    const double nan_score[] = {0.1, 0.2, NAN};
    assert_int_equal(fs_roc_auc(neg, nan_score, 3, &auc, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "index 2"));
    assert_int_equal(fs_confusion_at(neg, s, 3, NAN, &m.confusion, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_average_precision(NULL, s, 3, &auc, &msg), FS_ERR_INVALID);
}

/* Seed 000's report (773 real, 1172 fake, accuracy 96.25%) comes from this confusion matrix;
 * rendered with 2 decimals it must read exactly as the seed does. */
static void test_report_json_seed(void **state) {
    (void)state;
    fs_confusion c = {.tn = 730, .fp = 43, .fn = 30, .tp = 1142};
    fs_report r = fs_report_from_confusion(&c);
    json_t *j = fs_report_json(&r, NULL, FS_REPORT_DECIMALS);
    assert_non_null(j);
    char *text = fs_json_dumps(j, JSON_COMPACT);
    assert_string_equal(text,
                        "{\"rows\":[[\"0\",0.96,0.94,0.95,773],[\"1\",0.96,0.97,0.97,1172],"
                        "[\"accuracy\",\"\",\"\",0.96,1945],[\"macro avg\",0.96,0.96,0.96,1945],"
                        "[\"weighted avg\",0.96,0.96,0.96,1945]],"
                        "\"columns\":[\"\",\"precision\",\"recall\",\"f1-score\",\"support\"]}");
    free(text);
    json_decref(j);

    /* Full precision and class names. */
    const char *names[2] = {"real", "fake"};
    j = fs_report_json(&r, names, FS_REPORT_FULL);
    json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), 5);
    assert_string_equal(json_string_value(json_array_get(json_array_get(rows, 1), 0)), "fake");
    assert_float_equal(json_real_value(json_array_get(json_array_get(rows, 1), 1)), 1142.0 / 1185,
                       EPS);
    assert_float_equal(json_real_value(json_array_get(json_array_get(rows, 2), 3)), 1872.0 / 1945,
                       EPS);
    json_decref(j);

    /* Rounding is that of the decimal printout of the binary value: 0.125 -> 0.12 (half to
     * even, exact), 0.955 (stored as 0.95499...) -> 0.95. */
    fs_report z;
    memset(&z, 0, sizeof z);
    z.cls[0].precision = 0.125;
    z.cls[0].recall = 0.955;
    j = fs_report_json(&z, NULL, 2);
    json_t *row = json_array_get(json_object_get(j, "rows"), 0);
    assert_true(json_real_value(json_array_get(row, 1)) == 0.12);
    assert_true(json_real_value(json_array_get(row, 2)) == 0.95);
    json_decref(j);
}

static void test_groups(void **state) {
    (void)state;
    fs_msg msg;
    const char *ids[] = {"b.mp4", "a.mp4", "b.mp4", "c.mp4", "a.mp4", "b.mp4"};
    const int y[] = {1, 0, 1, 0, 0, 1};
    const double s[] = {0.9, 0.2, 0.6, 0.7, 0.4, 0.3};
    fs_groups g;
    assert_int_equal(fs_groups_mean(ids, y, s, 6, &g, &msg), FS_OK);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.ids[0], "b.mp4"); /* order of first appearance */
    assert_string_equal(g.ids[1], "a.mp4");
    assert_string_equal(g.ids[2], "c.mp4");
    assert_float_equal(g.scores[0], 0.6, EPS);
    assert_float_equal(g.scores[1], 0.3, EPS);
    assert_float_equal(g.scores[2], 0.7, EPS);
    assert_int_equal(g.counts[0], 3);
    assert_int_equal(g.labels[0], 1);
    assert_int_equal(g.labels[2], 0);
    fs_groups_free(&g);

    /* Video level: b (fake, 0.6) above a (real, 0.3) and below c (real, 0.7): AUC 1/2. */
    fs_binary_metrics m;
    assert_int_equal(fs_binary_metrics_by_group(ids, y, s, 6, 0.5, &m, &msg), FS_OK);
    assert_int_equal(m.n, 3);
    assert_float_equal(m.roc_auc, 0.5, EPS);
    assert_int_equal(m.confusion.tp, 1);
    assert_int_equal(m.confusion.fp, 1);

    const int mixed[] = {1, 0, 0, 0, 0, 1};
    assert_int_equal(fs_groups_mean(ids, mixed, s, 6, &g, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "b.mp4"));
    assert_null(g.ids);
    const char *holes[] = {"a", NULL, "b", "c", "d", "e"};
    assert_int_equal(fs_groups_mean(holes, y, s, 6, &g, &msg), FS_ERR_INVALID);
}

/* AUC is the probability that a random positive outranks a random negative, ties counting
 * half: count it pair by pair, on scores with many ties. */
static void test_auc_pairwise(void **state) {
    (void)state;
    enum { N = 300 };
    int y[N];
    double s[N];
    uint32_t r = 7;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        y[i] = (r >> 16) % 3 == 0;
        r = r * 1664525u + 1013904223u;
        s[i] = ((r >> 16) % 20) / 20.0 + 0.1 * y[i];
    }
    double wins = 0, pairs = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (y[i] == 1 && y[j] == 0) {
                wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
                pairs++;
            }
    fs_msg msg;
    double auc;
    assert_int_equal(fs_roc_auc(y, s, N, &auc, &msg), FS_OK);
    assert_float_equal(auc, wins / pairs, 1e-12);
    /* The AUC does not depend on how the ROC points are thinned. */
    fs_roc full, thin;
    assert_int_equal(fs_roc_curve(y, s, N, 0, &full, &msg), FS_OK);
    assert_int_equal(fs_roc_curve(y, s, N, 1, &thin, &msg), FS_OK);
    assert_true(thin.n <= full.n);
    double area = 0;
    for (size_t i = 1; i < thin.n; i++)
        area += (thin.fpr[i] - thin.fpr[i - 1]) * (thin.tpr[i] + thin.tpr[i - 1]) / 2;
    assert_float_equal(area, auc, 1e-12);
    assert_float_equal(thin.fpr[thin.n - 1], 1.0, 0);
    assert_float_equal(thin.tpr[thin.n - 1], 1.0, 0);
    fs_roc_free(&full);
    fs_roc_free(&thin);
}

/* ---- scikit-learn cross-check ---------------------------------------------------------- */

static void load_case(json_t *c, int **y, double **s, size_t *n) {
    json_t *jl = json_object_get(c, "labels"), *js = json_object_get(c, "scores");
    *n = json_array_size(jl);
    assert_int_equal(json_array_size(js), *n);
    *y = malloc(*n * sizeof **y);
    *s = malloc(*n * sizeof **s);
    for (size_t i = 0; i < *n; i++) {
        (*y)[i] = (int)json_integer_value(json_array_get(jl, i));
        (*s)[i] = json_number_value(json_array_get(js, i));
    }
}

static void check_curve(const fs_roc *roc, json_t *want, const char *name) {
    json_t *fpr = json_object_get(want, "fpr"), *tpr = json_object_get(want, "tpr");
    json_t *thr = json_object_get(want, "thresholds");
    if (roc->n != json_array_size(fpr))
        fail_msg("%s: %zu ROC points, sklearn has %zu", name, roc->n, json_array_size(fpr));
    assert_true(isinf(roc->thresholds[0]));
    for (size_t i = 0; i < roc->n; i++) {
        assert_float_equal(roc->fpr[i], json_number_value(json_array_get(fpr, i)), EPS);
        assert_float_equal(roc->tpr[i], json_number_value(json_array_get(tpr, i)), EPS);
        if (i > 0)
            assert_float_equal(roc->thresholds[i], json_number_value(json_array_get(thr, i - 1)),
                               EPS);
    }
}

static void test_sklearn_cross_check(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *cases = json_load_file(FS_SOURCE_DIR "/tests/unit/data/metrics_sklearn.json", 0, &jerr);
    if (!cases) fail_msg("metrics_sklearn.json: %s", jerr.text);
    assert_true(json_array_size(cases) >= 8);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        int *y;
        double *s;
        size_t n;
        load_case(c, &y, &s, &n);
        fs_msg msg;
        fs_binary_metrics m;
        double thr = json_number_value(json_object_get(c, "threshold"));
        if (fs_binary_metrics_compute(y, s, n, thr, &m, &msg)) fail_msg("%s: %s", name, msg.text);
        printf("%-24s n=%-4zu auc=%.6f ap=%.6f eer=%.6f\n", name, n, m.roc_auc, m.average_precision,
               m.eer);
        assert_float_equal(m.roc_auc, json_number_value(json_object_get(c, "roc_auc")), EPS);
        assert_float_equal(m.average_precision,
                           json_number_value(json_object_get(c, "average_precision")), EPS);
        /* Root finding stops at ~1e-12; interpolation orders differ in the last bits. */
        assert_float_equal(m.eer, json_number_value(json_object_get(c, "eer")), 1e-9);
        assert_float_equal(m.accuracy, json_number_value(json_object_get(c, "accuracy")), EPS);
        json_t *cm = json_object_get(c, "confusion");
        assert_int_equal(m.confusion.tn,
                         json_integer_value(json_array_get(json_array_get(cm, 0), 0)));
        assert_int_equal(m.confusion.fp,
                         json_integer_value(json_array_get(json_array_get(cm, 0), 1)));
        assert_int_equal(m.confusion.fn,
                         json_integer_value(json_array_get(json_array_get(cm, 1), 0)));
        assert_int_equal(m.confusion.tp,
                         json_integer_value(json_array_get(json_array_get(cm, 1), 1)));
        json_t *rows = json_object_get(c, "report");
        const fs_report_row *mine[4] = {&m.report.cls[0], &m.report.cls[1], &m.report.macro,
                                        &m.report.weighted};
        for (size_t r = 0; r < 4; r++) {
            json_t *row = json_array_get(rows, r);
            assert_float_equal(mine[r]->precision, json_number_value(json_array_get(row, 1)), EPS);
            assert_float_equal(mine[r]->recall, json_number_value(json_array_get(row, 2)), EPS);
            assert_float_equal(mine[r]->f1, json_number_value(json_array_get(row, 3)), EPS);
            assert_int_equal(mine[r]->support, (int64_t)json_number_value(json_array_get(row, 4)));
        }
        for (int drop = 0; drop <= 1; drop++) {
            fs_roc roc;
            if (fs_roc_curve(y, s, n, drop, &roc, &msg)) fail_msg("%s: %s", name, msg.text);
            check_curve(&roc, json_object_get(c, drop ? "roc_drop" : "roc_full"), name);
            fs_roc_free(&roc);
        }
        free(y);
        free(s);
    }
    json_decref(cases);
}

/* Sorted: .1 R, .2 R, .3 F, .35 R, .55 F, .6 R, .7 F, .9 F. Balanced accuracy .75 at three cuts
 * (before .3, before .55, before .7); the middle one gives (.35 + .55) / 2 = .45. There 6 of 8
 * calls are right; a band of half-width .1 drops .35 and .55 (both right: 4 of 6), one of .15
 * also drops .3 and .6 (both wrong: 4 of 4, on half the samples). */
static void test_choose_threshold(void **state) {
    (void)state;
    int y[] = {0, 0, 0, 0, 1, 1, 1, 1};
    double s[] = {0.1, 0.2, 0.35, 0.6, 0.3, 0.55, 0.7, 0.9};
    fs_threshold_choice c;
    fs_msg msg;
    assert_int_equal(fs_choose_threshold(y, s, 8, 0.9, 0.5, &c, &msg), FS_OK);
    assert_float_equal(c.threshold, 0.45, 1e-12);
    assert_float_equal(c.balanced_accuracy, 0.75, 1e-12);
    assert_int_equal(c.target_met, 1);
    assert_float_equal(c.outside_accuracy, 1.0, 1e-12);
    assert_float_equal(c.coverage, 0.5, 1e-12);
    assert_true(c.hi - c.lo > 0.299 && c.hi - c.lo < 0.311);
    assert_float_equal(c.lo + c.hi, 0.9, 1e-9);
    /* needing 80% of the samples outside, 90% right is out of reach: the widest allowed band */
    assert_int_equal(fs_choose_threshold(y, s, 8, 0.95, 0.8, &c, &msg), FS_OK);
    assert_int_equal(c.target_met, 0);
    assert_true(c.coverage >= 0.8);
    assert_float_equal(c.outside_accuracy, 0.75, 1e-12);
    /* one class, or a score that is not a probability, is refused */
    int ones[] = {1, 1};
    assert_int_equal(fs_choose_threshold(ones, s, 2, 0.9, 0.5, &c, &msg), FS_ERR_INVALID);
    double nan_s[] = {0.1, NAN};
    int mix[] = {0, 1};
    assert_int_equal(fs_choose_threshold(mix, nan_s, 2, 0.9, 0.5, &c, &msg), FS_ERR_INVALID);
    /* perfectly separated: the threshold falls between the classes, no band is needed */
    double sep[] = {0.1, 0.2, 0.8, 0.9};
    int ysep[] = {0, 0, 1, 1};
    assert_int_equal(fs_choose_threshold(ysep, sep, 4, 0.9, 0.5, &c, &msg), FS_OK);
    assert_float_equal(c.threshold, 0.5, 1e-12);
    assert_float_equal(c.lo, 0.5, 0);
    assert_float_equal(c.hi, 0.5, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_example),
        cmocka_unit_test(test_hand_extremes),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_report_json_seed),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_auc_pairwise),
        cmocka_unit_test(test_sklearn_cross_check),
        cmocka_unit_test(test_choose_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
