/* Verdict heuristics on cases worked out by hand (docs/verdicts.md has the formulas). Scores are
 * multiples of 1/8 so that sums, medians and ties are exact in binary floating point. */
#include "fs_test.h"
#include "fakescope/verdict.h"
#include <math.h>

#define EPS 1e-12
#define near(a, b) assert_float_equal((a), (b), EPS)

static void check_verdict(const fs_verdict_report *r, fs_heuristic h, fs_class c, double p) {
    const fs_verdict *v = &r->verdicts[h];
    assert_int_equal(v->status, FS_VERDICT_OK);
    assert_int_equal(v->heuristic, h);
    assert_int_equal(v->cls, c);
    near(v->p_fake, p);
    near(v->confidence, c == FS_CLASS_FAKE ? p : 1.0 - p);
}

static void single_frame_single_model(void **state) {
    (void)state;
    const char *names[] = {"meso4"};
    double s[] = {0.8};
    fs_verdict_input in = {.n_frames = 1, .n_models = 1, .models = names, .scores = s};
    fs_verdict_report r;
    fs_msg m;
    assert_int_equal(fs_verdict_compute(&in, &r, &m), FS_OK);
    assert_int_equal(r.status, FS_VERDICT_OK);
    assert_string_equal(r.models[0].model, "meso4");
    assert_int_equal(r.models[0].frames, 1);
    near(r.models[0].mean, 0.8);
    near(r.models[0].std, 0.0);
    assert_int_equal(r.models[0].cls, FS_CLASS_FAKE);
    near(r.models[0].confidence, 0.8);
    /* one score: nothing can be trimmed, the top quarter is that score */
    for (int h = FS_H_AVERAGE; h <= FS_H_TOP_RELEVANT; h++) check_verdict(&r, h, FS_CLASS_FAKE, 0.8);
    /* the single frame voted fake: the vote is unanimous */
    check_verdict(&r, FS_H_MAJORITY, FS_CLASS_FAKE, 1.0);
    assert_int_equal(r.verdicts[FS_H_MAJORITY].n_used, 1);
    assert_int_equal(r.verdicts[FS_H_MAJORITY].used[0], 0);
    assert_string_equal(fs_heuristic_name(FS_H_EXCLUDE20), "AverageExclude20");
    assert_string_equal(fs_heuristic_name(FS_H_TOP_RELEVANT), "TopRelevant");
    assert_string_equal(fs_class_name(FS_CLASS_REAL), "real");
}

/* Two models, four frames. A = .875 .75 .25 .625 (mean .625, 3 of 4 frames vote fake);
 * B = .125 .375 .5 .5 (mean .375, 2 of 4 vote fake: a tie, which goes to fake). */
static void two_models_four_frames(void **state) {
    (void)state;
    const char *names[] = {"A", "B"};
    double s[] = {0.875, 0.125, 0.75, 0.375, 0.25, 0.5, 0.625, 0.5};
    fs_verdict_input in = {.n_frames = 4, .n_models = 2, .models = names, .scores = s};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    /* classification matrix and std deviations */
    near(r.models[0].mean, 0.625);
    near(r.models[0].std, sqrt(0.21875 / 4));
    assert_int_equal(r.models[0].votes_fake, 3);
    assert_int_equal(r.models[0].cls, FS_CLASS_FAKE);
    near(r.models[0].confidence, 0.625);
    near(r.models[1].mean, 0.375);
    near(r.models[1].std, sqrt(0.09375 / 4));
    assert_int_equal(r.models[1].votes_fake, 2);
    assert_int_equal(r.models[1].cls, FS_CLASS_REAL);
    near(r.models[1].confidence, 0.625);
    /* Majority: both models vote fake (B by a tied frame vote); confidence = mean of the
     * winners' fake shares (3/4 + 2/4) / 2 */
    check_verdict(&r, FS_H_MAJORITY, FS_CLASS_FAKE, 0.625);
    /* Average of all eight scores = 4 / 8 = .5, exactly the threshold: fake at .5 */
    check_verdict(&r, FS_H_AVERAGE, FS_CLASS_FAKE, 0.5);
    /* sorted .125 .25 .375 .5 .5 .625 .75 .875, median .5.
     * 10%: drop round(.8) = 1; .875 and .125 are both .375 away: the higher goes. 3.125 / 7 */
    check_verdict(&r, FS_H_EXCLUDE10, FS_CLASS_REAL, 3.125 / 7);
    assert_int_equal(r.verdicts[FS_H_EXCLUDE10].n_scores, 7);
    /* 20%: drop round(1.6) = 2: then .125 (.375 away) before .75 (.25): 3 / 6 */
    check_verdict(&r, FS_H_EXCLUDE20, FS_CLASS_FAKE, 0.5);
    /* 30%: drop round(2.4) = 2 as well */
    check_verdict(&r, FS_H_EXCLUDE30, FS_CLASS_FAKE, 0.5);
    /* TopRelevant: k = ceil(8 / 4) = 2; .875 and .125 are the farthest from .5 */
    check_verdict(&r, FS_H_TOP_RELEVANT, FS_CLASS_FAKE, 0.5);
    assert_int_equal(r.verdicts[FS_H_TOP_RELEVANT].n_scores, 2);
    assert_int_equal(r.verdicts[FS_H_AVERAGE].n_used, 2);
}

/* One model, ten frames, chosen so that every heuristic gives a different answer. */
static void ten_frames_every_heuristic(void **state) {
    (void)state;
    double s[] = {0.5, 1.0, 0.25, 0.5, 0.0, 0.625, 0.5, 0.75, 0.375, 0.5};
    fs_verdict_input in = {.n_frames = 10, .n_models = 1, .scores = s};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    assert_null(r.models[0].model);
    near(r.models[0].mean, 0.5);
    near(r.models[0].std, sqrt(0.65625 / 10));
    /* 7 of 10 frames are >= .5 */
    check_verdict(&r, FS_H_MAJORITY, FS_CLASS_FAKE, 0.7);
    check_verdict(&r, FS_H_AVERAGE, FS_CLASS_FAKE, 0.5);
    /* sorted 0 .25 .375 .5 .5 .5 .5 .625 .75 1, median .5
     * 10%: 1 and 0 tie at .5 away, 1 goes: 4 / 9 */
    check_verdict(&r, FS_H_EXCLUDE10, FS_CLASS_REAL, 4.0 / 9);
    /* 20%: then 0: 4 / 8 */
    check_verdict(&r, FS_H_EXCLUDE20, FS_CLASS_FAKE, 0.5);
    /* 30%: then .75 and .25 tie at .25 away, .75 goes: 3.25 / 7 */
    check_verdict(&r, FS_H_EXCLUDE30, FS_CLASS_REAL, 3.25 / 7);
    /* TopRelevant: k = 3: 1.0 (frame 1), 0.0 (frame 4), then .25 (frame 2) before .75
     * (frame 7) at the same distance, earlier frame first */
    check_verdict(&r, FS_H_TOP_RELEVANT, FS_CLASS_REAL, 1.25 / 3);
}

static void trimmed_mean_direct(void **state) {
    (void)state;
    double v[] = {0.0, 0.125, 0.5, 0.5, 0.5};
    /* median .5; 20% of 5 = 1 dropped: 0 is farthest */
    near(fs_verdict_trimmed_mean(v, 5, 20), 1.625 / 4);
    near(fs_verdict_trimmed_mean(v, 5, 0), 1.625 / 5);
    /* 90% of 5 rounds to 5: never drop them all, keep the one nearest the median */
    near(fs_verdict_trimmed_mean(v, 5, 90), 0.5);
    assert_true(isnan(fs_verdict_trimmed_mean(v, 0, 10)));
}

/* Majority over models with an even split: the tie goes to fake. */
static void model_vote_tie_goes_to_fake(void **state) {
    (void)state;
    double s[] = {0.875, 0.25, 0.75, 0.125, 0.625, 0.375}; /* A fakes 3/3, B real 3/3 */
    fs_verdict_input in = {.n_frames = 3, .n_models = 2, .scores = s};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    /* winners: A alone, fake share 1.0 */
    check_verdict(&r, FS_H_MAJORITY, FS_CLASS_FAKE, 1.0);
    /* three models, two real: real wins with the real shares of the two */
    double s3[] = {0.875, 0.25, 0.5, 0.75, 0.125, 0.25, 0.625, 0.375, 0.25};
    /* C: .5 .25 .25: one fake vote of three, real share 2/3 */
    fs_verdict_input in3 = {.n_frames = 3, .n_models = 3, .scores = s3};
    assert_int_equal(fs_verdict_compute(&in3, &r, NULL), FS_OK);
    check_verdict(&r, FS_H_MAJORITY, FS_CLASS_REAL, 1.0 - (1.0 + 2.0 / 3) / 2);
}

static void no_face_anywhere_is_explicit(void **state) {
    (void)state;
    double s[] = {0.9, 0.1, 0.9};
    unsigned char face[] = {0, 0, 0};
    fs_verdict_input in = {.n_frames = 3, .n_models = 1, .scores = s, .has_face = face};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    assert_int_equal(r.status, FS_VERDICT_NO_FACE);
    assert_int_equal(r.frames_with_face, 0);
    for (int h = 0; h < FS_H_COUNT; h++) {
        assert_int_equal(r.verdicts[h].status, FS_VERDICT_NO_FACE);
        assert_int_equal(r.verdicts[h].cls, FS_CLASS_NONE);
        assert_true(r.verdicts[h].confidence != 0.5);
        assert_true(r.verdicts[h].p_fake != 0.5);
    }
    assert_int_equal(r.models[0].status, FS_VERDICT_NO_SCORE);
    assert_int_equal(r.models[0].cls, FS_CLASS_NONE);
    assert_string_equal(fs_verdict_status_name(r.status), "no_face");
    /* no frames at all is the same */
    fs_verdict_input empty = {.n_frames = 0, .n_models = 2};
    assert_int_equal(fs_verdict_compute(&empty, &r, NULL), FS_OK);
    assert_int_equal(r.status, FS_VERDICT_NO_FACE);
}

/* Frames without a face do not count, whatever their score slots hold. */
static void faceless_frames_are_skipped(void **state) {
    (void)state;
    double s[] = {0.25, 0.99, 0.75, 0.0};
    unsigned char face[] = {1, 0, 1, 0};
    fs_verdict_input in = {.n_frames = 4, .n_models = 1, .scores = s, .has_face = face};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    assert_int_equal(r.frames_with_face, 2);
    assert_int_equal(r.models[0].frames, 2);
    near(r.models[0].mean, 0.5);
    near(r.models[0].std, 0.25);
}

static void nan_and_out_of_range_are_ignored(void **state) {
    (void)state;
    double s[] = {0.75, NAN, 0.25, INFINITY, 1.5, -0.125, -INFINITY, 0.5};
    fs_verdict_input in = {.n_frames = 8, .n_models = 1, .scores = s};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    assert_int_equal(r.status, FS_VERDICT_OK);
    assert_int_equal(r.models[0].frames, 3);
    assert_int_equal(r.models[0].invalid, 5);
    near(r.models[0].mean, 0.5);
    for (int h = 0; h < FS_H_COUNT; h++) {
        assert_false(isnan(r.verdicts[h].p_fake));
        assert_false(isnan(r.verdicts[h].confidence));
    }
    check_verdict(&r, FS_H_AVERAGE, FS_CLASS_FAKE, 0.5);
    /* a model that only produced NaN is left out of every verdict, not scored 0.5 */
    double s2[] = {0.75, NAN, 0.875, NAN};
    const char *names[] = {"good", "broken"};
    fs_verdict_input in2 = {.n_frames = 2, .n_models = 2, .models = names, .scores = s2};
    assert_int_equal(fs_verdict_compute(&in2, &r, NULL), FS_OK);
    assert_int_equal(r.models[1].status, FS_VERDICT_NO_SCORE);
    assert_int_equal(r.models[1].invalid, 2);
    assert_int_equal(r.verdicts[FS_H_AVERAGE].n_used, 1);
    assert_int_equal(r.verdicts[FS_H_AVERAGE].used[0], 0);
    check_verdict(&r, FS_H_AVERAGE, FS_CLASS_FAKE, 0.8125);
    /* faces but no valid score at all */
    double s3[] = {NAN, NAN};
    fs_verdict_input in3 = {.n_frames = 2, .n_models = 1, .scores = s3};
    assert_int_equal(fs_verdict_compute(&in3, &r, NULL), FS_OK);
    assert_int_equal(r.status, FS_VERDICT_NO_SCORE);
    assert_int_equal(r.verdicts[FS_H_MAJORITY].cls, FS_CLASS_NONE);
}

static void threshold_moves_the_line(void **state) {
    (void)state;
    double s[] = {0.625, 0.625, 0.75, 0.5};
    fs_verdict_input in = {.n_frames = 4, .n_models = 1, .scores = s, .threshold = 0.75};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    near(r.threshold, 0.75);
    assert_int_equal(r.models[0].cls, FS_CLASS_REAL); /* mean .625 < .75 */
    assert_int_equal(r.models[0].votes_fake, 1);
    check_verdict(&r, FS_H_MAJORITY, FS_CLASS_REAL, 0.25);
    /* TopRelevant by distance from .75: .5 (.25 away) is the one score kept */
    check_verdict(&r, FS_H_TOP_RELEVANT, FS_CLASS_REAL, 0.5);
}

static void bad_input_is_refused(void **state) {
    (void)state;
    double s[] = {0.5};
    fs_verdict_report r;
    fs_msg m;
    fs_verdict_input in = {.n_frames = 1, .n_models = 0, .scores = s};
    assert_int_equal(fs_verdict_compute(&in, &r, &m), FS_ERR_INVALID);
    in.n_models = FS_VERDICT_MAX_MODELS + 1;
    assert_int_equal(fs_verdict_compute(&in, &r, &m), FS_ERR_INVALID);
    in.n_models = 1;
    in.threshold = 1.0;
    assert_int_equal(fs_verdict_compute(&in, &r, &m), FS_ERR_INVALID);
    assert_non_null(strstr(m.text, "threshold"));
    in.threshold = NAN;
    assert_int_equal(fs_verdict_compute(&in, &r, &m), FS_ERR_INVALID);
    in.threshold = 0;
    in.scores = NULL;
    assert_int_equal(fs_verdict_compute(&in, &r, &m), FS_ERR_INVALID);
    in.n_frames = -1;
    in.scores = s;
    assert_int_equal(fs_verdict_compute(&in, &r, &m), FS_ERR_INVALID);
    assert_int_equal(fs_verdict_compute(NULL, &r, &m), FS_ERR_INVALID);
}

/* Each model's card decides its calls. A: threshold .25, uncertain between .125 and .375;
 * B: threshold .5, no band. A = .375 .125 (mean .25: fake, inside its band), B = .75 .25 (mean
 * .5: fake). The pooled verdicts map A's scores so that .25 sits at .5: .375 -> .5 + .125 *
 * .5 / .75 and .125 -> .25, and its band (.125, .375) becomes (.25, .5 + .125 * .5 / .75). */
static void per_model_decisions(void **state) {
    (void)state;
    const char *names[] = {"A", "B"};
    double s[] = {0.375, 0.75, 0.125, 0.25};
    fs_decision rules[] = {{0.25, 0.125, 0.375}, {0.5, 0.5, 0.5}};
    fs_verdict_input in = {.n_frames = 2, .n_models = 2, .models = names, .scores = s, .decisions = rules};
    fs_verdict_report r;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    near(r.threshold, 0.5);
    near(r.models[0].mean, 0.25);
    near(r.models[0].threshold, 0.25);
    assert_int_equal(r.models[0].votes_fake, 1);
    assert_int_equal(r.models[0].cls, FS_CLASS_FAKE);
    assert_int_equal(r.models[0].uncertain, 1);
    near(r.models[1].mean, 0.5);
    assert_int_equal(r.models[1].cls, FS_CLASS_FAKE);
    assert_int_equal(r.models[1].uncertain, 0);
    double a_hi = 0.5 + 0.125 * 0.5 / 0.75;
    const fs_verdict *avg = &r.verdicts[FS_H_AVERAGE];
    assert_float_equal(avg->p_fake, (a_hi + 0.25 + 0.75 + 0.25) / 4, 1e-12);
    assert_int_equal(avg->cls, FS_CLASS_REAL);
    assert_int_equal(avg->uncertain, 1); /* .458 lies in (.25, .583) */
    /* TopRelevant: the quarter farthest from .5 on the common scale is B's .75 */
    near(r.verdicts[FS_H_TOP_RELEVANT].p_fake, 0.75);
    assert_int_equal(r.verdicts[FS_H_TOP_RELEVANT].uncertain, 0);
    /* Majority: both models vote fake by their own thresholds (1 of 2 frames each: a tie) */
    assert_int_equal(r.verdicts[FS_H_MAJORITY].cls, FS_CLASS_FAKE);
    assert_int_equal(r.verdicts[FS_H_MAJORITY].uncertain, 0);

    /* one shared threshold: no mapping, the report uses it */
    fs_decision same[] = {{0.25, 0.125, 0.375}, {0.25, 0.25, 0.25}};
    in.decisions = same;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    near(r.threshold, 0.25);
    near(r.verdicts[FS_H_AVERAGE].p_fake, (0.375 + 0.75 + 0.125 + 0.25) / 4);
    assert_int_equal(r.verdicts[FS_H_AVERAGE].cls, FS_CLASS_FAKE);
    assert_int_equal(r.verdicts[FS_H_AVERAGE].uncertain, 0); /* .375 is the band's open end */
    assert_int_equal(r.models[1].votes_fake, 2);

    /* a threshold outside (0, 1) is refused; a band not around its threshold is ignored */
    fs_decision bad[] = {{1.0, 0, 1}, {0.5, 0.5, 0.5}};
    in.decisions = bad;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_ERR_INVALID);
    fs_decision skew[] = {{0.5, 0.6, 0.7}, {0.5, 0.5, 0.5}};
    in.decisions = skew;
    assert_int_equal(fs_verdict_compute(&in, &r, NULL), FS_OK);
    assert_int_equal(r.models[0].uncertain, 0);
    assert_int_equal(fs_decision_uncertain(&(fs_decision){0.5, 0.4, 0.6}, 0.45), 1);
    assert_int_equal(fs_decision_uncertain(&(fs_decision){0.5, 0.4, 0.6}, 0.6), 0);
    assert_int_equal(fs_decision_uncertain(&(fs_decision){0.5, 0.5, 0.5}, 0.5), 0);
    /* an end at 0 or 1 is closed: a band up to 1 holds a saturated score */
    assert_int_equal(fs_decision_uncertain(&(fs_decision){0.8, 0.4, 1.0}, 1.0), 1);
    assert_int_equal(fs_decision_uncertain(&(fs_decision){0.2, 0.0, 0.4}, 0.0), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_frame_single_model),
        cmocka_unit_test(two_models_four_frames),
        cmocka_unit_test(ten_frames_every_heuristic),
        cmocka_unit_test(trimmed_mean_direct),
        cmocka_unit_test(model_vote_tie_goes_to_fake),
        cmocka_unit_test(no_face_anywhere_is_explicit),
        cmocka_unit_test(faceless_frames_are_skipped),
        cmocka_unit_test(nan_and_out_of_range_are_ignored),
        cmocka_unit_test(threshold_moves_the_line),
        cmocka_unit_test(per_model_decisions),
        cmocka_unit_test(bad_input_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
