/* verdict.c: the last step of the detection pipeline. Given the P(fake) scores every model gave
 * every sampled frame (of a whole video or of one tracked person), it summarises each model
 * (mean, standard deviation, class, confidence: the classification matrix) and computes the
 * verdict of each heuristic. docs/verdicts.md states every formula; this file follows it
 * line for line, and the unit tests check it on cases worked out by hand.
 *
 * Ties go to FAKE everywhere (a score equal to the threshold, an even frame vote, an even model
 * vote): a tie means the evidence is split, and a detector that answers "real" on split evidence
 * lets a fake through unflagged, while "fake" at confidence 0.5 asks for a human look. */
#include "fakescope/verdict.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *fs_class_name(fs_class c) {
    switch (c) {
    case FS_CLASS_NONE: return "none";
    case FS_CLASS_REAL: return "real";
    case FS_CLASS_FAKE: return "fake";
    }
    return "none";
}

const char *fs_verdict_status_name(fs_verdict_status s) {
    switch (s) {
    case FS_VERDICT_OK: return "ok";
    case FS_VERDICT_NO_FACE: return "no_face";
    case FS_VERDICT_NO_SCORE: return "no_score";
    }
    return "unknown";
}

static const char *const heuristic_names[FS_H_COUNT] = {
    [FS_H_MAJORITY] = "Majority",
    [FS_H_AVERAGE] = "Average",
    [FS_H_EXCLUDE10] = "AverageExclude10",
    [FS_H_EXCLUDE20] = "AverageExclude20",
    [FS_H_EXCLUDE30] = "AverageExclude30",
    [FS_H_TOP_RELEVANT] = "TopRelevant",
};

const char *fs_heuristic_name(fs_heuristic h) {
    return (unsigned)h < FS_H_COUNT ? heuristic_names[h] : "unknown";
}

static int valid_score(double p) {
    return isfinite(p) && p >= 0.0 && p <= 1.0;
}

int fs_decision_uncertain(const fs_decision *d, double p) {
    return d && d->lo < d->hi && (d->lo < p || d->lo <= 0.0) && (p < d->hi || d->hi >= 1.0);
}

/* The common scale of the pooled heuristics: t (a model's threshold) goes to T (the input's),
 * linearly on each side, so a score's side of its own threshold never changes. */
static double to_common(double p, double t, double T) {
    if (t == T) return p;
    return p < t ? p * T / t : T + (p - t) * (1.0 - T) / (1.0 - t);
}

static fs_class classify(double p, double threshold) {
    return p >= threshold ? FS_CLASS_FAKE : FS_CLASS_REAL;
}

static double confidence_of(double p, fs_class c) {
    return c == FS_CLASS_FAKE ? p : 1.0 - p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double fs_verdict_trimmed_mean(const double *sorted, int n, int percent) {
    if (n <= 0) return NAN;
    assert(percent >= 0 && percent < 100);
    long drop = lround((double)n * percent / 100.0);
    if (drop > n - 1) drop = n - 1;
    double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    int lo = 0, hi = n - 1;
    /* The score farthest from the median is always at one end of what is left. */
    for (long i = 0; i < drop; i++) {
        if (sorted[hi] - median >= median - sorted[lo]) hi--;
        else lo++;
    }
    double sum = 0.0;
    for (int i = lo; i <= hi; i++) sum += sorted[i];
    return sum / (hi - lo + 1);
}

typedef struct {
    double dist; /* |p - threshold| */
    double p;
    int order;   /* frame-major position: earlier frames win ties */
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? 1 : -1; /* farthest first */
    return (x->order > y->order) - (x->order < y->order);
}

static void set_verdict(fs_verdict *v, double p, int n_scores, double threshold,
                        const fs_decision *band) {
    v->status = FS_VERDICT_OK;
    v->n_scores = n_scores;
    v->p_fake = p;
    v->cls = classify(p, threshold);
    v->confidence = confidence_of(p, v->cls);
    v->uncertain = fs_decision_uncertain(band, p);
}

fs_err fs_verdict_compute(const fs_verdict_input *in, fs_verdict_report *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    if (!in) return fs_fail(msg, FS_ERR_INVALID, "no verdict input");
    if (in->n_models < 1 || in->n_models > FS_VERDICT_MAX_MODELS)
        return fs_fail(msg, FS_ERR_INVALID, "%d models: between 1 and %d are supported",
                       in->n_models, FS_VERDICT_MAX_MODELS);
    if (in->n_frames < 0 || (in->n_frames > 0 && !in->scores))
        return fs_fail(msg, FS_ERR_INVALID, "verdict input has %d frames and %s scores",
                       in->n_frames, in->scores ? "some" : "no");
    if ((size_t)in->n_frames > (size_t)INT32_MAX / (size_t)in->n_models)
        return fs_fail(msg, FS_ERR_INVALID, "too many frames (%d)", in->n_frames);
    double t = in->threshold == 0.0 ? FS_VERDICT_THRESHOLD_DEFAULT : in->threshold;
    if (!(t > 0.0 && t < 1.0))
        return fs_fail(msg, FS_ERR_INVALID, "threshold must lie strictly between 0 and 1");

    const int F = in->n_frames, M = in->n_models;
    fs_decision rule[FS_VERDICT_MAX_MODELS];
    for (int m = 0; m < M; m++) {
        rule[m] = in->decisions ? in->decisions[m] : (fs_decision){t, t, t};
        if (rule[m].threshold == 0.0) rule[m].threshold = t;
        if (!(rule[m].threshold > 0.0 && rule[m].threshold < 1.0))
            return fs_fail(msg, FS_ERR_INVALID, "model %d: threshold must lie strictly between 0 and 1", m);
        if (!(rule[m].lo <= rule[m].threshold && rule[m].threshold <= rule[m].hi) ||
            rule[m].lo < 0.0 || rule[m].hi > 1.0)
            rule[m].lo = rule[m].hi = rule[m].threshold; /* no usable band: none */
    }
    /* Models that share one threshold are pooled on their own scale (no mapping at all). */
    int shared = 1;
    for (int m = 1; m < M; m++) shared &= rule[m].threshold == rule[0].threshold;
    if (shared) t = rule[0].threshold;
    out->n_frames = F;
    out->n_models = M;
    out->threshold = t;
    for (int f = 0; f < F; f++) out->frames_with_face += !in->has_face || in->has_face[f];

    /* Pass 1: per-model sums, and the pool of valid scores. */
    double *pool = malloc(sizeof *pool * ((size_t)F * (size_t)M + 1));
    ranked *rank = malloc(sizeof *rank * ((size_t)F * (size_t)M + 1));
    if (!pool || !rank) {
        free(pool);
        free(rank);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory computing verdicts");
    }
    int n = 0;
    double sum[FS_VERDICT_MAX_MODELS] = {0};
    for (int m = 0; m < M; m++) out->models[m].model = in->models ? in->models[m] : NULL;
    for (int f = 0; f < F; f++) {
        if (in->has_face && !in->has_face[f]) continue;
        for (int m = 0; m < M; m++) {
            double p = in->scores[(size_t)f * M + m];
            fs_model_summary *s = &out->models[m];
            if (!valid_score(p)) {
                s->invalid++;
                continue;
            }
            s->frames++;
            s->votes_fake += p >= rule[m].threshold;
            sum[m] += p;
            double c = to_common(p, rule[m].threshold, t);
            rank[n] = (ranked){fabs(c - t), c, n};
            pool[n++] = c;
        }
    }

    /* Pass 2: means, then deviations from them (two passes keep the variance exact). */
    int used[FS_VERDICT_MAX_MODELS], n_used = 0;
    for (int m = 0; m < M; m++) {
        fs_model_summary *s = &out->models[m];
        if (s->frames == 0) {
            s->status = FS_VERDICT_NO_SCORE;
            continue;
        }
        s->mean = sum[m] / s->frames;
        used[n_used++] = m;
    }
    double ss[FS_VERDICT_MAX_MODELS] = {0};
    for (int f = 0; f < F; f++) {
        if (in->has_face && !in->has_face[f]) continue;
        for (int m = 0; m < M; m++) {
            double p = in->scores[(size_t)f * M + m];
            if (valid_score(p)) ss[m] += (p - out->models[m].mean) * (p - out->models[m].mean);
        }
    }
    for (int m = 0; m < M; m++) {
        fs_model_summary *s = &out->models[m];
        if (s->frames == 0) continue;
        s->std = sqrt(ss[m] / s->frames);
        s->cls = classify(s->mean, rule[m].threshold);
        s->confidence = confidence_of(s->mean, s->cls);
        s->uncertain = fs_decision_uncertain(&rule[m], s->mean);
    }
    for (int m = 0; m < M; m++) out->models[m].threshold = rule[m].threshold;
    /* The band of the pooled verdicts: the widest of the used models', on the common scale. */
    fs_decision band = {t, t, t};
    for (int i = 0; i < n_used; i++) {
        const fs_decision *r = &rule[used[i]];
        if (!(r->lo < r->hi)) continue;
        double lo = to_common(r->lo, r->threshold, t), hi = to_common(r->hi, r->threshold, t);
        if (lo < band.lo) band.lo = lo;
        if (hi > band.hi) band.hi = hi;
    }

    fs_verdict_status status = out->frames_with_face == 0 ? FS_VERDICT_NO_FACE
                               : n == 0                   ? FS_VERDICT_NO_SCORE
                                                          : FS_VERDICT_OK;
    out->status = status;
    for (int h = 0; h < FS_H_COUNT; h++) {
        fs_verdict *v = &out->verdicts[h];
        v->heuristic = (fs_heuristic)h;
        v->status = status;
        v->n_used = n_used;
        memcpy(v->used, used, sizeof used[0] * (size_t)n_used);
    }
    if (status != FS_VERDICT_OK) {
        free(pool);
        free(rank);
        return FS_OK;
    }
    assert(n_used > 0 && n > 0);

    /* Majority: each model votes by the majority of its frames, then the models vote. */
    {
        int fake_models = 0;
        for (int i = 0; i < n_used; i++) {
            const fs_model_summary *s = &out->models[used[i]];
            fake_models += 2 * s->votes_fake >= s->frames;
        }
        fs_class c = 2 * fake_models >= n_used ? FS_CLASS_FAKE : FS_CLASS_REAL;
        /* Confidence: how one-sided the frame votes were among the models on the winning side. */
        double share = 0.0;
        int winners = 0;
        for (int i = 0; i < n_used; i++) {
            const fs_model_summary *s = &out->models[used[i]];
            double fake_share = (double)s->votes_fake / s->frames;
            fs_class mc = 2 * s->votes_fake >= s->frames ? FS_CLASS_FAKE : FS_CLASS_REAL;
            if (mc != c) continue;
            share += c == FS_CLASS_FAKE ? fake_share : 1.0 - fake_share;
            winners++;
        }
        assert(winners > 0);
        fs_verdict *v = &out->verdicts[FS_H_MAJORITY];
        v->status = FS_VERDICT_OK;
        v->n_scores = n;
        v->cls = c;
        v->confidence = share / winners;
        v->p_fake = c == FS_CLASS_FAKE ? v->confidence : 1.0 - v->confidence;
    }

    /* Average and the trimmed averages, over the pooled scores. */
    qsort(pool, (size_t)n, sizeof *pool, cmp_double);
    double total = 0.0;
    for (int i = 0; i < n; i++) total += pool[i];
    set_verdict(&out->verdicts[FS_H_AVERAGE], total / n, n, t, &band);
    static const int percents[3] = {10, 20, 30};
    for (int i = 0; i < 3; i++) {
        long drop = lround((double)n * percents[i] / 100.0);
        if (drop > n - 1) drop = n - 1;
        set_verdict(&out->verdicts[FS_H_EXCLUDE10 + i],
                    fs_verdict_trimmed_mean(pool, n, percents[i]), n - (int)drop, t, &band);
    }

    /* TopRelevant: the scores that commit most, whichever way. */
    qsort(rank, (size_t)n, sizeof *rank, cmp_ranked);
    int k = (n + FS_VERDICT_TOP_DIVISOR - 1) / FS_VERDICT_TOP_DIVISOR;
    double top = 0.0;
    for (int i = 0; i < k; i++) top += rank[i].p;
    set_verdict(&out->verdicts[FS_H_TOP_RELEVANT], top / k, k, t, &band);

    free(pool);
    free(rank);
    return FS_OK;
}
