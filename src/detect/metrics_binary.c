/* metrics_binary.c: the figures by which detect/ and the eval command judge a classifier.
 * Everything ranks samples once: scores sorted from high to low, then one sweep over the
 * distinct scores accumulates true and false positives, which is all the ROC curve, its area,
 * average precision and the equal error rate need. Counts stay integers as long as possible so
 * the figures are exact ratios of counts, computed the way scikit-learn computes them (that is
 * the reference the tests compare with). */
#include "fakescope/binary_metrics.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Beyond this a report value printed with more decimals says nothing more. */
#define REPORT_MAX_DECIMALS 10

typedef struct ranked {
    double score;
    int label;
} ranked;

/* Checks labels and scores; counts the classes. */
static fs_err check_input(const int *labels, const double *scores, size_t n, int64_t *pos,
                          int64_t *neg, fs_msg *msg) {
    if (n == 0 || !labels || !scores) return fs_fail(msg, FS_ERR_INVALID, "no samples to measure");
    int64_t p = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1)
            return fs_fail(msg, FS_ERR_INVALID, "label %d at index %zu is not 0 or 1", labels[i],
                           i);
        if (!isfinite(scores[i]))
            return fs_fail(msg, FS_ERR_INVALID, "score at index %zu is not a finite number", i);
        p += labels[i];
    }
    if (pos) *pos = p;
    if (neg) *neg = (int64_t)n - p;
    return FS_OK;
}

static int by_score_desc(const void *a, const void *b) {
    double x = ((const ranked *)a)->score, y = ((const ranked *)b)->score;
    return (x < y) - (x > y);
}

/* Cumulative counts at each distinct score, from the highest down: predicting positive every
 * sample with score >= thr[k] gives tp[k] true and fp[k] false positives. */
typedef struct sweep {
    size_t k;
    double *thr;
    int64_t *tp, *fp;
} sweep;

static void sweep_free(sweep *s) {
    free(s->thr);
    free(s->tp);
    free(s->fp);
    memset(s, 0, sizeof *s);
}

/* Precondition: input already checked. */
static fs_err sweep_build(const int *labels, const double *scores, size_t n, sweep *s,
                          fs_msg *msg) {
    memset(s, 0, sizeof *s);
    ranked *r = malloc(n * sizeof *r);
    s->thr = malloc(n * sizeof *s->thr);
    s->tp = malloc(n * sizeof *s->tp);
    s->fp = malloc(n * sizeof *s->fp);
    if (!r || !s->thr || !s->tp || !s->fp) {
        free(r);
        sweep_free(s);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory ranking %zu scores", n);
    }
    for (size_t i = 0; i < n; i++) r[i] = (ranked){scores[i], labels[i]};
    qsort(r, n, sizeof *r, by_score_desc);
    int64_t tp = 0, fp = 0;
    for (size_t i = 0; i < n; i++) {
        tp += r[i].label;
        fp += 1 - r[i].label;
        if (i + 1 < n && r[i + 1].score == r[i].score) continue; /* a tie is one step */
        s->thr[s->k] = r[i].score;
        s->tp[s->k] = tp;
        s->fp[s->k] = fp;
        s->k++;
    }
    free(r);
    assert(s->k >= 1 && s->tp[s->k - 1] + s->fp[s->k - 1] == (int64_t)n);
    return FS_OK;
}

/* ---- confusion matrix and report ------------------------------------------------------ */

fs_err fs_confusion_at(const int *labels, const double *scores, size_t n, double threshold,
                       fs_confusion *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    if (isnan(threshold)) return fs_fail(msg, FS_ERR_INVALID, "threshold is not a number");
    fs_err err = check_input(labels, scores, n, NULL, NULL, msg);
    if (err) return err;
    for (size_t i = 0; i < n; i++) {
        int pred = scores[i] >= threshold;
        if (labels[i]) {
            if (pred)
                out->tp++;
            else
                out->fn++;
        } else {
            if (pred)
                out->fp++;
            else
                out->tn++;
        }
    }
    return FS_OK;
}

fs_err fs_accuracy_at(const int *labels, const double *scores, size_t n, double threshold,
                      double *out, fs_msg *msg) {
    assert(out);
    *out = NAN;
    fs_confusion c;
    fs_err err = fs_confusion_at(labels, scores, n, threshold, &c, msg);
    if (err) return err;
    *out = (double)(c.tp + c.tn) / (double)n;
    return FS_OK;
}

/* a / b, or 0 when b is 0 (scikit-learn's zero_division=0). */
static double ratio(double a, double b) {
    return b == 0 ? 0.0 : a / b;
}

static fs_report_row class_row(int64_t tp, int64_t fp, int64_t fn) {
    fs_report_row r;
    r.precision = ratio((double)tp, (double)(tp + fp));
    r.recall = ratio((double)tp, (double)(tp + fn));
    r.f1 = ratio(2.0 * r.precision * r.recall, r.precision + r.recall);
    r.support = tp + fn;
    return r;
}

fs_report fs_report_from_confusion(const fs_confusion *c) {
    assert(c);
    fs_report r;
    memset(&r, 0, sizeof r);
    /* For class 0 the roles swap: a true negative is its true positive. */
    r.cls[0] = class_row(c->tn, c->fn, c->fp);
    r.cls[1] = class_row(c->tp, c->fp, c->fn);
    r.total = c->tn + c->fp + c->fn + c->tp;
    r.accuracy = ratio((double)(c->tp + c->tn), (double)r.total);
    r.macro.precision = (r.cls[0].precision + r.cls[1].precision) / 2;
    r.macro.recall = (r.cls[0].recall + r.cls[1].recall) / 2;
    r.macro.f1 = (r.cls[0].f1 + r.cls[1].f1) / 2;
    r.macro.support = r.total;
    double s0 = (double)r.cls[0].support, s1 = (double)r.cls[1].support;
    r.weighted.precision = ratio(r.cls[0].precision * s0 + r.cls[1].precision * s1, s0 + s1);
    r.weighted.recall = ratio(r.cls[0].recall * s0 + r.cls[1].recall * s1, s0 + s1);
    r.weighted.f1 = ratio(r.cls[0].f1 * s0 + r.cls[1].f1 * s1, s0 + s1);
    r.weighted.support = r.total;
    return r;
}

/* ---- ranking figures ------------------------------------------------------------------ */

/* Area under the ROC points (0,0), (fp[k]/N, tp[k]/P)...: trapezoids in counts, scaled once. */
static double sweep_auc(const sweep *s, int64_t pos, int64_t neg) {
    assert(pos > 0 && neg > 0);
    double area = 0;
    int64_t ptp = 0, pfp = 0;
    for (size_t k = 0; k < s->k; k++) {
        area += (double)(s->fp[k] - pfp) * (double)(s->tp[k] + ptp);
        ptp = s->tp[k];
        pfp = s->fp[k];
    }
    return area / (2.0 * (double)pos * (double)neg);
}

static double sweep_ap(const sweep *s, int64_t pos) {
    assert(pos > 0);
    double ap = 0;
    int64_t ptp = 0;
    for (size_t k = 0; k < s->k; k++) {
        double precision = (double)s->tp[k] / (double)(s->tp[k] + s->fp[k]);
        ap += (double)(s->tp[k] - ptp) / (double)pos * precision;
        ptp = s->tp[k];
    }
    return ap;
}

/* Walks the ROC curve (with its (0,0) start) to where FNR - FPR changes sign. It starts at
 * +1 and ends at -1, so the crossing exists; inside a segment both rates are linear. */
static void sweep_eer(const sweep *s, int64_t pos, int64_t neg, double *eer, double *thr) {
    assert(pos > 0 && neg > 0);
    double pf = 0, pn = 1, pthr = INFINITY; /* FPR, FNR and threshold of the previous point */
    for (size_t k = 0; k < s->k; k++) {
        double f = (double)s->fp[k] / (double)neg, fn = 1.0 - (double)s->tp[k] / (double)pos;
        double d0 = pn - pf, d1 = fn - f;
        if (d1 <= 0) {
            assert(d0 > 0); /* else the previous point would have stopped the walk */
            double t = d0 / (d0 - d1);
            *eer = pf + t * (f - pf);
            *thr = t < 0.5 ? pthr : s->thr[k];
            return;
        }
        pf = f;
        pn = fn;
        pthr = s->thr[k];
    }
    /* Unreachable: the last point is (1, 1), where FNR - FPR = -1. */
    assert(0);
    *eer = NAN;
    *thr = NAN;
}

fs_err fs_roc_auc(const int *labels, const double *scores, size_t n, double *out, fs_msg *msg) {
    assert(out);
    *out = NAN;
    int64_t pos, neg;
    fs_err err = check_input(labels, scores, n, &pos, &neg, msg);
    if (err || pos == 0 || neg == 0) return err;
    sweep s;
    if ((err = sweep_build(labels, scores, n, &s, msg))) return err;
    *out = sweep_auc(&s, pos, neg);
    sweep_free(&s);
    return FS_OK;
}

fs_err fs_average_precision(const int *labels, const double *scores, size_t n, double *out,
                            fs_msg *msg) {
    assert(out);
    *out = NAN;
    int64_t pos;
    fs_err err = check_input(labels, scores, n, &pos, NULL, msg);
    if (err || pos == 0) return err;
    sweep s;
    if ((err = sweep_build(labels, scores, n, &s, msg))) return err;
    *out = sweep_ap(&s, pos);
    sweep_free(&s);
    return FS_OK;
}

fs_err fs_eer(const int *labels, const double *scores, size_t n, double *out, double *threshold,
              fs_msg *msg) {
    assert(out);
    double thr = NAN;
    *out = NAN;
    if (threshold) *threshold = NAN;
    int64_t pos, neg;
    fs_err err = check_input(labels, scores, n, &pos, &neg, msg);
    if (err || pos == 0 || neg == 0) return err;
    sweep s;
    if ((err = sweep_build(labels, scores, n, &s, msg))) return err;
    sweep_eer(&s, pos, neg, out, &thr);
    sweep_free(&s);
    if (threshold) *threshold = thr;
    return FS_OK;
}

/* ---- ROC curve ------------------------------------------------------------------------ */

void fs_roc_free(fs_roc *roc) {
    if (!roc) return;
    free(roc->fpr);
    free(roc->tpr);
    free(roc->thresholds);
    memset(roc, 0, sizeof *roc);
}

fs_err fs_roc_curve(const int *labels, const double *scores, size_t n, int drop_intermediate,
                    fs_roc *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    int64_t pos, neg;
    fs_err err = check_input(labels, scores, n, &pos, &neg, msg);
    if (err) return err;
    if (pos == 0 || neg == 0)
        return fs_fail(msg, FS_ERR_INVALID,
                       "a ROC curve needs both classes; all %zu samples "
                       "are of class %d",
                       n, pos ? 1 : 0);
    sweep s;
    if ((err = sweep_build(labels, scores, n, &s, msg))) return err;
    out->fpr = malloc((s.k + 1) * sizeof(double));
    out->tpr = malloc((s.k + 1) * sizeof(double));
    out->thresholds = malloc((s.k + 1) * sizeof(double));
    if (!out->fpr || !out->tpr || !out->thresholds) {
        fs_roc_free(out);
        sweep_free(&s);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a ROC curve of %zu points", s.k);
    }
    out->fpr[0] = 0;
    out->tpr[0] = 0;
    out->thresholds[0] = INFINITY;
    size_t m = 1;
    for (size_t k = 0; k < s.k; k++) {
        /* scikit-learn keeps the ends and every point where the step in either count differs
         * from the next one (non-zero second difference). */
        if (drop_intermediate && k > 0 && k + 1 < s.k &&
            s.fp[k + 1] - 2 * s.fp[k] + s.fp[k - 1] == 0 &&
            s.tp[k + 1] - 2 * s.tp[k] + s.tp[k - 1] == 0)
            continue;
        out->fpr[m] = (double)s.fp[k] / (double)neg;
        out->tpr[m] = (double)s.tp[k] / (double)pos;
        out->thresholds[m] = s.thr[k];
        m++;
    }
    out->n = m;
    sweep_free(&s);
    return FS_OK;
}

/* ---- everything ----------------------------------------------------------------------- */

fs_err fs_binary_metrics_compute(const int *labels, const double *scores, size_t n,
                                 double threshold, fs_binary_metrics *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    out->roc_auc = out->average_precision = out->eer = out->eer_threshold = NAN;
    out->accuracy = NAN;
    int64_t pos, neg;
    fs_err err = check_input(labels, scores, n, &pos, &neg, msg);
    if (err) return err;
    if ((err = fs_confusion_at(labels, scores, n, threshold, &out->confusion, msg))) return err;
    out->n = n;
    out->positives = pos;
    out->negatives = neg;
    out->threshold = threshold;
    out->report = fs_report_from_confusion(&out->confusion);
    out->accuracy = out->report.accuracy;
    if (pos == 0) out->flags |= FS_BINARY_NO_POSITIVE;
    if (neg == 0) out->flags |= FS_BINARY_NO_NEGATIVE;
    sweep s;
    if ((err = sweep_build(labels, scores, n, &s, msg))) {
        memset(out, 0, sizeof *out);
        return err;
    }
    if (pos > 0) out->average_precision = sweep_ap(&s, pos);
    if (pos > 0 && neg > 0) {
        out->roc_auc = sweep_auc(&s, pos, neg);
        sweep_eer(&s, pos, neg, &out->eer, &out->eer_threshold);
    }
    sweep_free(&s);
    return FS_OK;
}

/* ---- groups --------------------------------------------------------------------------- */

typedef struct member {
    const char *id;
    size_t index;
} member;

static int by_id_then_index(const void *a, const void *b) {
    const member *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return (x->index > y->index) - (x->index < y->index);
}

typedef struct group_span {
    size_t first;        /* index of the first sample, for the output order */
    size_t start, count; /* run in the sorted member array */
} group_span;

static int by_first(const void *a, const void *b) {
    size_t x = ((const group_span *)a)->first, y = ((const group_span *)b)->first;
    return (x > y) - (x < y);
}

void fs_groups_free(fs_groups *g) {
    if (!g) return;
    if (g->ids)
        for (size_t i = 0; i < g->n; i++) free(g->ids[i]);
    free(g->ids);
    free(g->labels);
    free(g->scores);
    free(g->counts);
    memset(g, 0, sizeof *g);
}

fs_err fs_groups_mean(const char *const *ids, const int *labels, const double *scores, size_t n,
                      fs_groups *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    fs_err err = check_input(labels, scores, n, NULL, NULL, msg);
    if (err) return err;
    if (!ids) return fs_fail(msg, FS_ERR_INVALID, "no group ids given");
    for (size_t i = 0; i < n; i++)
        if (!ids[i]) return fs_fail(msg, FS_ERR_INVALID, "group id at index %zu is missing", i);
    member *m = malloc(n * sizeof *m);
    group_span *spans = malloc(n * sizeof *spans);
    if (!m || !spans) {
        free(m);
        free(spans);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory grouping %zu samples", n);
    }
    for (size_t i = 0; i < n; i++) m[i] = (member){ids[i], i};
    qsort(m, n, sizeof *m, by_id_then_index);
    size_t g = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(m[j].id, m[i].id) == 0) {
            if (labels[m[j].index] != labels[m[i].index]) {
                err = fs_fail(msg, FS_ERR_INVALID,
                              "group \"%s\" mixes labels 0 and 1 "
                              "(indices %zu and %zu)",
                              m[i].id, m[i].index, m[j].index);
                goto done;
            }
            j++;
        }
        spans[g++] = (group_span){m[i].index, i, j - i}; /* sorted by index within the run */
        i = j;
    }
    qsort(spans, g, sizeof *spans, by_first);
    out->ids = calloc(g, sizeof *out->ids);
    out->labels = malloc(g * sizeof *out->labels);
    out->scores = malloc(g * sizeof *out->scores);
    out->counts = malloc(g * sizeof *out->counts);
    out->n = g;
    if (!out->ids || !out->labels || !out->scores || !out->counts) goto nomem;
    for (size_t k = 0; k < g; k++) {
        const member *run = m + spans[k].start;
        double sum = 0;
        for (size_t j = 0; j < spans[k].count; j++) sum += scores[run[j].index];
        out->ids[k] = strdup(run[0].id);
        if (!out->ids[k]) goto nomem;
        out->labels[k] = labels[run[0].index];
        out->scores[k] = sum / (double)spans[k].count;
        out->counts[k] = spans[k].count;
    }
    goto done;
nomem:
    fs_groups_free(out);
    err = fs_fail(msg, FS_ERR_NOMEM, "out of memory grouping %zu samples", n);
done:
    free(m);
    free(spans);
    return err;
}

fs_err fs_binary_metrics_by_group(const char *const *ids, const int *labels, const double *scores,
                                  size_t n, double threshold, fs_binary_metrics *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    fs_groups g;
    fs_err err = fs_groups_mean(ids, labels, scores, n, &g, msg);
    if (err) return err;
    err = fs_binary_metrics_compute(g.labels, g.scores, g.n, threshold, out, msg);
    fs_groups_free(&g);
    return err;
}

/* ---- JSON ----------------------------------------------------------------------------- */

/* Rounds as Python's format(x, ".2f") does (correctly rounded decimal), then back to the
 * nearest double, so 0.955 stays what its binary value says rather than what it looks like. */
static double round_decimals(double x, int decimals) {
    if (decimals < 0 || !isfinite(x)) return x;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", decimals, x);
    return strtod(buf, NULL);
}

static json_t *real_or_null(double x, int decimals) {
    return isfinite(x) ? json_real(round_decimals(x, decimals)) : json_null();
}

static json_t *report_row(const char *name, const fs_report_row *r, int decimals) {
    return json_pack("[s,o,o,o,I]", name, real_or_null(r->precision, decimals),
                     real_or_null(r->recall, decimals), real_or_null(r->f1, decimals),
                     (json_int_t)r->support);
}

json_t *fs_report_json(const fs_report *r, const char *const names[2], int decimals) {
    assert(r);
    if (decimals > REPORT_MAX_DECIMALS) decimals = REPORT_MAX_DECIMALS;
    if (decimals < 0) decimals = FS_REPORT_FULL;
    const char *n0 = names && names[0] ? names[0] : "0";
    const char *n1 = names && names[1] ? names[1] : "1";
    json_t *rows = json_pack("[o,o,[s,s,s,o,I],o,o]", report_row(n0, &r->cls[0], decimals),
                             report_row(n1, &r->cls[1], decimals), "accuracy", "", "",
                             real_or_null(r->accuracy, decimals), (json_int_t)r->total,
                             report_row("macro avg", &r->macro, decimals),
                             report_row("weighted avg", &r->weighted, decimals));
    if (!rows) return NULL;
    return json_pack("{s:o,s:[s,s,s,s,s]}", "rows", rows, "columns", "", "precision", "recall",
                     "f1-score", "support");
}

json_t *fs_binary_metrics_json(const fs_binary_metrics *m, const char *const names[2],
                               int decimals) {
    assert(m);
    json_t *report = fs_report_json(&m->report, names, decimals);
    if (!report) return NULL;
    const fs_confusion *c = &m->confusion;
    return json_pack(
        "{s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:[[I,I],[I,I]],s:o}", "n", (json_int_t)m->n,
        "positives", (json_int_t)m->positives, "negatives", (json_int_t)m->negatives, "threshold",
        real_or_null(m->threshold, -1), "accuracy", real_or_null(m->accuracy, decimals), "roc_auc",
        real_or_null(m->roc_auc, decimals), "average_precision",
        real_or_null(m->average_precision, decimals), "eer", real_or_null(m->eer, decimals),
        "eer_threshold", real_or_null(m->eer_threshold, -1), "confusion", (json_int_t)c->tn,
        (json_int_t)c->fp, (json_int_t)c->fn, (json_int_t)c->tp, "report", report);
}

/* ---- choosing a decision threshold ---- */

typedef struct {
    double s;
    int label;
} scored;

static int cmp_scored(const void *a, const void *b) {
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

fs_err fs_choose_threshold(const int *labels, const double *scores, size_t n,
                           double target_accuracy, double min_coverage, fs_threshold_choice *out,
                           fs_msg *msg) {
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(scores[i] >= 0.0 && scores[i] <= 1.0))
            return fs_fail(msg, FS_ERR_INVALID, "score %zu is not a number in [0, 1]", i);
        pos += labels[i] != 0;
    }
    size_t neg = n - pos;
    if (pos == 0 || neg == 0)
        return fs_fail(msg, FS_ERR_INVALID, "choosing a threshold needs both classes (%zu fake, %zu real)",
                       pos, neg);
    scored *v = malloc(n * sizeof *v);
    if (!v) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) v[i] = (scored){scores[i], labels[i] != 0};
    qsort(v, n, sizeof *v, cmp_scored);
    /* A cut before sorted position k calls v[k..n-1] fake. Only cuts between distinct scores
     * count; the best balanced accuracy wins, and among equal ones the middle of the run. */
    double best = -1.0;
    size_t first = 0, last = 0, below_pos = 0, below_neg = 0;
    for (size_t k = 0; k <= n; k++) {
        if (k > 0) {
            below_pos += v[k - 1].label;
            below_neg += !v[k - 1].label;
        }
        if (k > 0 && k < n && v[k].s == v[k - 1].s) continue;
        double tpr = (double)(pos - below_pos) / pos, tnr = (double)below_neg / neg;
        double ba = 0.5 * (tpr + tnr);
        if (ba > best + 1e-12) best = ba, first = last = k;
        else if (ba > best - 1e-12) last = k;
    }
    size_t k = first + (last - first) / 2;
    /* snap k to a cut between distinct scores (the run's middle may fall inside ties) */
    while (k > first && k < n && k > 0 && v[k].s == v[k - 1].s) k--;
    double t = k == 0 ? v[0].s * 0.5 : k == n ? 0.5 * (v[n - 1].s + 1.0) : 0.5 * (v[k - 1].s + v[k].s);
    if (!(t > 0.0)) t = 1e-6;
    if (!(t < 1.0)) t = 1.0 - 1e-6;
    out->threshold = t;
    out->balanced_accuracy = best;
    /* The band: widen in steps until the calls outside it are right often enough. */
    double keep_lo = t, keep_hi = t, keep_acc = 0, keep_cov = 1;
    int met = 0;
    for (int step = 0; step <= 200; step++) {
        double w = 0.005 * step, lo = t - w < 0 ? 0 : t - w, hi = t + w > 1 ? 1 : t + w;
        size_t outside = 0, right = 0;
        for (size_t i = 0; i < n; i++) {
            if (step > 0 && (v[i].s > lo || lo <= 0) && (v[i].s < hi || hi >= 1)) continue;
            outside++;
            right += (v[i].s >= t) == v[i].label;
        }
        double cov = (double)outside / n, acc = outside ? (double)right / outside : 0;
        if (cov < min_coverage) break;
        keep_lo = step ? lo : t, keep_hi = step ? hi : t, keep_acc = acc, keep_cov = cov;
        if (acc >= target_accuracy) {
            met = 1;
            break;
        }
    }
    free(v);
    out->lo = keep_lo;
    out->hi = keep_hi;
    out->outside_accuracy = keep_acc;
    out->coverage = keep_cov;
    out->target_met = met;
    return FS_OK;
}
