/* verdict (detect/): turning per-frame, per-model P(fake) scores into per-model summaries and
 * whole-video (or per-person) verdicts by named heuristics. Pure arithmetic: no I/O, no state.
 *
 * The formulas are in docs/verdicts.md; each is also stated at its heuristic below.
 * Vocabulary: a "score" is one model's P(fake) on one sampled frame. Scores are pooled over
 * frames and models unless a heuristic says otherwise. A score counts only when its frame has a
 * face and the value is a number in [0, 1]; anything else (NaN, infinities, out of range) is
 * ignored and counted in `invalid`, so one broken output can neither poison a mean nor pass for
 * a neutral 0.5.
 *
 * Ownership: fs_verdict_compute reads the input and writes a self-contained report (fixed-size
 * arrays, model names borrowed from the input: keep them alive while the report is used).
 * Nothing is left to free. */
#ifndef FAKESCOPE_VERDICT_H
#define FAKESCOPE_VERDICT_H

#include "fakescope/core.h"

#define FS_VERDICT_MAX_MODELS 16
#define FS_VERDICT_THRESHOLD_DEFAULT 0.5
/* TopRelevant keeps ceil(n / FS_VERDICT_TOP_DIVISOR) of the n scores (at least one). */
#define FS_VERDICT_TOP_DIVISOR 4

typedef enum {
    FS_CLASS_NONE = 0, /* nothing to judge (no face, no valid score) */
    FS_CLASS_REAL,
    FS_CLASS_FAKE
} fs_class;
const char *fs_class_name(fs_class c); /* "none", "real", "fake" */

typedef enum {
    FS_VERDICT_OK = 0,
    FS_VERDICT_NO_FACE, /* no frame had a face: there is nothing to judge */
    FS_VERDICT_NO_SCORE /* faces were found but no model gave a valid score */
} fs_verdict_status;
const char *fs_verdict_status_name(fs_verdict_status s); /* "ok", "no_face", "no_score" */

typedef enum {
    FS_H_MAJORITY = 0,    /* per model, majority of frame votes; then majority of models */
    FS_H_AVERAGE,         /* mean of all scores */
    FS_H_EXCLUDE10,       /* mean after dropping the 10% of scores farthest from the median */
    FS_H_EXCLUDE20,       /* ... 20% */
    FS_H_EXCLUDE30,       /* ... 30% */
    FS_H_TOP_RELEVANT,    /* mean of the quarter of scores farthest from the threshold */
    FS_H_COUNT
} fs_heuristic;
/* "Majority", "Average", "AverageExclude10", "AverageExclude20", "AverageExclude30",
 * "TopRelevant" (the names the API dialects print). */
const char *fs_heuristic_name(fs_heuristic h);

/* How one model's P(fake) becomes a call, as its card says (card.h "decision"): fake at or above
 * threshold, real below it, and "uncertain" (beside that binary call, never instead of it) when
 * lo < p < hi (an end at 0 or 1 is closed: a band up to 1 holds 1). lo == hi means no band.
 * threshold 0 stands for the input's threshold. */
typedef struct fs_decision {
    double threshold;
    double lo, hi;
} fs_decision;

/* 1 when p lies strictly inside the band of d. */
int fs_decision_uncertain(const fs_decision *d, double p);

typedef struct fs_verdict_input {
    int n_frames;
    int n_models;               /* 1..FS_VERDICT_MAX_MODELS */
    const char *const *models;  /* n_models names (may be NULL: then reported as NULL) */
    const double *scores;       /* n_frames * n_models, row per frame: scores[f*n_models + m] */
    const unsigned char *has_face; /* n_frames flags; 0 = no face, scores ignored; NULL = all 1 */
    double threshold;           /* P(fake) at or above which a score says "fake"; 0 = 0.5 */
    /* n_models rules, or NULL: every model uses threshold, without a band. With rules, each
     * model's votes and class follow its own threshold, and the pooled heuristics first put
     * every score on one scale on which each model's threshold sits at `threshold` (a
     * piecewise-linear map, the identity for a model whose threshold is `threshold`). When
     * every model has the same threshold, that threshold is the report's and no score is
     * mapped. */
    const fs_decision *decisions;
} fs_verdict_input;

/* One model across the frames: a row of the classification matrix. */
typedef struct fs_model_summary {
    const char *model;
    fs_verdict_status status; /* NO_SCORE when this model has no valid score */
    int frames;       /* valid scores */
    int invalid;      /* scores ignored as NaN or out of [0, 1] (frames with a face only) */
    int votes_fake;   /* frames with score >= threshold */
    double mean;      /* mean score */
    double std;       /* population standard deviation (divide by n) */
    fs_class cls;     /* FAKE when mean >= the model's threshold */
    double confidence; /* mean if FAKE, 1 - mean if REAL, 0 if NONE */
    double threshold; /* the model's threshold */
    int uncertain;    /* the mean lies inside the model's uncertain band */
} fs_model_summary;

typedef struct fs_verdict {
    fs_heuristic heuristic;
    fs_verdict_status status;
    int n_used;                       /* models that contributed (had valid scores) */
    int used[FS_VERDICT_MAX_MODELS];  /* their indices in the input, ascending */
    int n_scores;                     /* scores the aggregate was taken over */
    double p_fake;                    /* the aggregate; 0 when status is not OK */
    fs_class cls;                     /* FAKE when p_fake >= threshold (Majority: see docs) */
    double confidence;                /* p_fake if FAKE, 1 - p_fake if REAL, 0 if NONE */
    int uncertain; /* p_fake lies inside the widest band of the models used, mapped onto the
                    * common scale (Majority, a vote, never sets it) */
} fs_verdict;

typedef struct fs_verdict_report {
    fs_verdict_status status; /* NO_FACE / NO_SCORE: every verdict carries the same status */
    int n_frames, frames_with_face;
    double threshold;
    int n_models;
    fs_model_summary models[FS_VERDICT_MAX_MODELS]; /* classification matrix + std deviations */
    fs_verdict verdicts[FS_H_COUNT];                /* indexed by fs_heuristic */
} fs_verdict_report;

/* Fills *out. Errors: FS_ERR_INVALID for a malformed input (counts, missing arrays, threshold
 * outside (0, 1)); FS_ERR_NOMEM. A video with no face is not an error: status NO_FACE. */
fs_err fs_verdict_compute(const fs_verdict_input *in, fs_verdict_report *out, fs_msg *msg);

/* Mean of n scores sorted ascending after dropping the round(n * percent / 100) farthest from
 * their median (never all of them; equal distances: the higher score goes first). Returns NaN
 * for n == 0. Exposed for tests and for callers that trim other quantities the same way. */
double fs_verdict_trimmed_mean(const double *sorted, int n, int percent);

#endif
