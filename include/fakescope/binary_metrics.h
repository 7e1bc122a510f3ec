/* binary_metrics (detect/): figures of a binary classifier from (true label, score) pairs:
 * accuracy, confusion matrix, the classification report of the model cards, ROC curve and AUC,
 * average precision, equal error rate, and video-level aggregation of frame scores. Pure
 * arithmetic: no I/O, no global state, safe from any thread.
 *
 * Conventions: a label is 0 (negative, "real") or 1 (positive, "fake"); a score is P(positive)
 * and only its order matters to the ranking figures. A sample is predicted positive when
 * score >= threshold (the same rule as one point of the ROC curve). Figures follow
 * scikit-learn's definitions (classification_report with labels=[0, 1] and zero_division=0,
 * roc_curve, roc_auc_score, average_precision_score), so numbers can be compared with it.
 *
 * Errors: FS_ERR_INVALID for empty input, a label other than 0/1 or a non-finite score (the
 * message names the index). A figure that is undefined for the data (AUC when one class is
 * absent) is NaN and a flag says why; that is not an error. */
#ifndef FAKESCOPE_BINARY_METRICS_H
#define FAKESCOPE_BINARY_METRICS_H

#include "fakescope/core.h"

#include <jansson.h>

#define FS_BINARY_THRESHOLD_DEFAULT 0.5

/* Rows are the true class, columns the predicted class, as scikit-learn's confusion_matrix:
 * [[tn, fp], [fn, tp]]. */
typedef struct fs_confusion {
    int64_t tn, fp, fn, tp;
} fs_confusion;

/* One row of the classification report. */
typedef struct fs_report_row {
    double precision, recall, f1;
    int64_t support;
} fs_report_row;

/* scikit-learn's classification_report for the two classes: class rows (index 0 = negative,
 * 1 = positive), accuracy (with the total support), the unweighted mean of the class rows
 * ("macro avg") and the support-weighted mean ("weighted avg"). A ratio with a zero
 * denominator is 0. */
typedef struct fs_report {
    fs_report_row cls[2];
    double accuracy;
    int64_t total;
    fs_report_row macro, weighted;
} fs_report;

/* Why a figure is NaN. */
enum {
    FS_BINARY_NO_POSITIVE = 1 << 0, /* no sample of class 1: AUC, AP and EER undefined */
    FS_BINARY_NO_NEGATIVE = 1 << 1, /* no sample of class 0: AUC and EER undefined */
};

/* Every figure at once. */
typedef struct fs_binary_metrics {
    size_t n;
    int64_t positives, negatives;
    double threshold;
    fs_confusion confusion;
    double accuracy; /* (tp + tn) / n */
    fs_report report;
    double roc_auc;           /* NaN unless both classes are present */
    double average_precision; /* NaN without positives */
    double eer;               /* equal error rate, NaN unless both classes are present */
    double eer_threshold;     /* score threshold of the ROC point nearest to the EER */
    unsigned flags;           /* FS_BINARY_NO_* */
} fs_binary_metrics;

/* ---- single figures ---- */
fs_err fs_confusion_at(const int *labels, const double *scores, size_t n, double threshold,
                       fs_confusion *out, fs_msg *msg);
/* Accuracy at a threshold. */
fs_err fs_accuracy_at(const int *labels, const double *scores, size_t n, double threshold,
                      double *out, fs_msg *msg);
/* The report of a confusion matrix (which holds all it needs). */
fs_report fs_report_from_confusion(const fs_confusion *c);
/* ROC AUC: trapezoids between the ROC points at each distinct score, so tied scores count
 * half. *out is NaN when one class is absent (still FS_OK). */
fs_err fs_roc_auc(const int *labels, const double *scores, size_t n, double *out, fs_msg *msg);
/* Average precision: sum over distinct thresholds, from the highest score down, of
 * (R_k - R_{k-1}) * P_k with R_0 = 0. *out is NaN without positives (still FS_OK). */
fs_err fs_average_precision(const int *labels, const double *scores, size_t n, double *out,
                            fs_msg *msg);
/* Equal error rate: the point where FPR = FNR = 1 - TPR, linearly interpolated along the ROC
 * curve; *threshold is the score threshold of the ROC point nearest to it (may be NULL).
 * NaN when one class is absent (still FS_OK). */
fs_err fs_eer(const int *labels, const double *scores, size_t n, double *out, double *threshold,
              fs_msg *msg);

/* ---- ROC curve ---- */
/* Points in order of decreasing threshold: the first is (0, 0) at threshold +inf, then one
 * point per distinct score s (predict positive when score >= s), ending at (1, 1).
 * With drop_intermediate, points that lie inside a straight run of equal steps are left out
 * as scikit-learn's roc_curve does by default (the curve and its area are unchanged).
 * FS_ERR_INVALID when one class is absent (the curve has no scale). Free with fs_roc_free. */
typedef struct fs_roc {
    size_t n;
    double *fpr, *tpr, *thresholds;
} fs_roc;
fs_err fs_roc_curve(const int *labels, const double *scores, size_t n, int drop_intermediate,
                    fs_roc *out, fs_msg *msg);
void fs_roc_free(fs_roc *roc);

/* ---- everything ---- */
fs_err fs_binary_metrics_compute(const int *labels, const double *scores, size_t n,
                                 double threshold, fs_binary_metrics *out, fs_msg *msg);

/* ---- per-group aggregation (video level) ---- */
/* One entry per distinct id, in order of first appearance: the mean score of its samples
 * (frames) and their common label. FS_ERR_INVALID when a group mixes labels or an id is NULL.
 * Ids are copied; free with fs_groups_free. */
typedef struct fs_groups {
    size_t n;
    char **ids;
    int *labels;
    double *scores;
    size_t *counts; /* samples per group */
} fs_groups;
fs_err fs_groups_mean(const char *const *ids, const int *labels, const double *scores, size_t n,
                      fs_groups *out, fs_msg *msg);
void fs_groups_free(fs_groups *g);
/* fs_groups_mean, then fs_binary_metrics_compute on the group means. */
fs_err fs_binary_metrics_by_group(const char *const *ids, const int *labels, const double *scores,
                                  size_t n, double threshold, fs_binary_metrics *out, fs_msg *msg);

/* ---- choosing a decision threshold (validation data) ---- */
/* The threshold with the highest balanced accuracy ((TPR + TNR) / 2), placed halfway between
 * the two neighbouring distinct scores it separates (ties: the best run's middle), and an
 * uncertain band [lo, hi] around it: the narrowest band, symmetric around the threshold in
 * steps of 0.005 and clipped to [0, 1], outside which the calls are right at least
 * target_accuracy of the time while at least min_coverage of the samples stay outside; when no
 * band reaches the target with that coverage, the widest that keeps it. */
typedef struct fs_threshold_choice {
    double threshold;
    double balanced_accuracy; /* at the threshold, on the data */
    double lo, hi;            /* the band (lo == hi == threshold: none needed) */
    double outside_accuracy;  /* accuracy of the calls outside the band */
    double coverage;          /* share of samples outside the band */
    int target_met;           /* outside_accuracy >= target_accuracy */
} fs_threshold_choice;
/* FS_ERR_INVALID unless both classes are present and every score is a number in [0, 1]. */
fs_err fs_choose_threshold(const int *labels, const double *scores, size_t n,
                           double target_accuracy, double min_coverage, fs_threshold_choice *out,
                           fs_msg *msg);

/* ---- JSON ---- */
/* Decimals of the model cards' report (seed 000); FS_REPORT_FULL keeps full precision. A value
 * rounded to 2 decimals is the double nearest to that decimal, which fs_json_dumps
 * (fakescope/json.h) prints as such (jansson's own 17 digits show 0.96 as 0.95999999999999996). */
#define FS_REPORT_DECIMALS 2
#define FS_REPORT_FULL (-1)

/* The report as {"rows": [...], "columns": ["", "precision", "recall", "f1-score", "support"]}
 * with rows [name, p, r, f1, support] for each class, ["accuracy", "", "", acc, total],
 * ["macro avg", ...] and ["weighted avg", ...]. names[0], names[1] name the classes; NULL
 * gives "0" and "1". decimals: 0..10, or FS_REPORT_FULL. New reference, NULL on NOMEM. */
json_t *fs_report_json(const fs_report *r, const char *const names[2], int decimals);
/* {"n", "positives", "negatives", "threshold", "accuracy", "roc_auc", "average_precision",
 *  "eer", "eer_threshold", "confusion": [[tn, fp], [fn, tp]], "report": {...}}; undefined
 * figures are null. New reference, NULL on NOMEM. */
json_t *fs_binary_metrics_json(const fs_binary_metrics *m, const char *const names[2],
                               int decimals);

#endif
