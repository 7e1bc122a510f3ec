/* Tests of model cards (JSON round trip, validation messages), SHA-256 and UUIDs. */
#include "fs_test.h"
#include "fakescope/card.h"
#include "fakescope/uuid.h"

#include <math.h>
#include <unistd.h>

/* A complete card with metrics shaped like the seed's classification report. */
static const char *full_card =
    "{\"id\": \"5aad0bb4-2d4c-4846-8636-85e0eaa0cbe3\", \"name\": \"meso4-ffpp\","
    " \"description\": \"Meso-4 trained on FF++ c40\", \"architecture\": \"meso4\","
    " \"labels\": [\"real\", \"fake\"], \"fake_label\": \"fake\", \"output\": \"p_fake\","
    " \"input_size\": {\"width\": 256, \"height\": 256}, \"preprocessing\": \"rgb/255\","
    " \"training\": {\"epochs\": 17, \"seed\": 7, \"data\": \"ffpp split v1\", \"command\": \"fakescope train\"},"
    " \"metrics\": {\"accuracy\": 0.9625, \"roc_auc\": 0.991, \"data\": \"held-out pairs\","
    "   \"report\": {\"rows\": [[\"0\", 0.96, 0.94, 0.95, 773], [\"1\", 0.96, 0.97, 0.97, 1172],"
    "     [\"accuracy\", \"\", \"\", 0.96, 1945], [\"macro avg\", 0.96, 0.96, 0.96, 1945],"
    "     [\"weighted avg\", 0.96, 0.96, 0.96, 1945]],"
    "     \"columns\": [\"\", \"precision\", \"recall\", \"f1-score\", \"support\"]}},"
    " \"loss_curve\": \"meso4-ffpp.png\", \"weights\": \"meso4-ffpp.safetensors\","
    " \"sha256\": \"1B3FDF1D5AA2A6E0064028DBFDD371CBD403D8CCC3CD4E0AB45380E3EB4789C7\"}";

static void parse_full_card(void **state) {
    (void)state;
    fs_card c;
    fs_msg m = {""};
    fs_err err = fs_card_parse(full_card, strlen(full_card), &c, &m);
    if (err) fail_msg("%s", m.text);
    assert_string_equal(c.id, "5aad0bb4-2d4c-4846-8636-85e0eaa0cbe3");
    assert_string_equal(c.name, "meso4-ffpp");
    assert_string_equal(c.labels[1], "fake");
    assert_int_equal(c.input_width, 256);
    assert_true(c.metrics.present);
    assert_true(c.metrics.accuracy == 0.9625);
    assert_true(c.metrics.roc_auc == 0.991);
    assert_int_equal(c.metrics.nrows, 5);
    assert_string_equal(c.metrics.rows[2].label, "accuracy");
    assert_true(isnan(c.metrics.rows[2].precision) && isnan(c.metrics.rows[2].recall));
    assert_true(c.metrics.rows[2].f1 == 0.96);
    assert_int_equal(c.metrics.rows[1].support, 1172);
    /* sha256 is normalised to lower case */
    assert_string_equal(c.sha256, "1b3fdf1d5aa2a6e0064028dbfdd371cbd403d8ccc3cd4e0ab45380e3eb4789c7");
    assert_non_null(strstr(c.training_json, "\"epochs\":17"));
    assert_true(fs_card_p_fake(&c, 0.8) == 0.8);
    fs_card_free(&c);
}

static void roundtrip(void **state) {
    (void)state;
    fs_card c, r;
    fs_msg m;
    assert_int_equal(fs_card_parse(full_card, strlen(full_card), &c, &m), FS_OK);
    char dir[] = "/tmp/fs_card_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/meso4-ffpp.json", dir);
    assert_int_equal(fs_card_save(&c, path, &m), FS_OK);
    assert_int_equal(fs_card_load(path, &r, &m), FS_OK);
    assert_string_equal(r.id, c.id);
    assert_string_equal(r.name, c.name);
    assert_string_equal(r.description, c.description);
    assert_string_equal(r.architecture, c.architecture);
    assert_string_equal(r.labels[0], c.labels[0]);
    assert_string_equal(r.fake_label, c.fake_label);
    assert_string_equal(r.output, c.output);
    assert_string_equal(r.preprocessing, c.preprocessing);
    assert_string_equal(r.training_json, c.training_json);
    assert_string_equal(r.loss_curve, c.loss_curve);
    assert_string_equal(r.weights, c.weights);
    assert_string_equal(r.sha256, c.sha256);
    assert_int_equal(r.metrics.nrows, c.metrics.nrows);
    for (size_t i = 0; i < r.metrics.nrows; i++) {
        assert_string_equal(r.metrics.rows[i].label, c.metrics.rows[i].label);
        assert_int_equal(r.metrics.rows[i].support, c.metrics.rows[i].support);
        assert_int_equal(isnan(r.metrics.rows[i].recall), isnan(c.metrics.rows[i].recall));
    }
    assert_true(r.metrics.accuracy == c.metrics.accuracy);
    /* The written text keeps the seed's report shape: "" cells and short decimals. */
    char *text;
    assert_int_equal(fs_card_to_json(&r, &text, &m), FS_OK);
    assert_non_null(strstr(text, "\"accuracy\",\n"));
    assert_non_null(strstr(text, "0.96,"));
    assert_null(strstr(text, "0.9599999"));
    assert_non_null(strstr(text, "\"f1-score\""));
    free(text);
    fs_card_free(&r);
    fs_card_free(&c);
    unlink(path);
    rmdir(dir);
}

/* Replaces the first occurrence of from with to in full_card and expects a format error whose
 * message contains want. */
static void expect_invalid(const char *from, const char *to, const char *want) {
    const char *at = strstr(full_card, from);
    assert_non_null(at);
    size_t pre = (size_t)(at - full_card);
    char *doc = malloc(strlen(full_card) + strlen(to) + 1);
    memcpy(doc, full_card, pre);
    strcpy(doc + pre, to);
    strcat(doc, at + strlen(from));
    fs_card c;
    fs_msg m = {""};
    fs_err err = fs_card_parse(doc, strlen(doc), &c, &m);
    if (err != FS_ERR_FORMAT || !strstr(m.text, want))
        fail_msg("replacing %s: want format error with \"%s\", got %s: %s", from, want,
                 fs_err_name(err), m.text);
    assert_null(c.name);
    free(doc);
}

static void validation_errors(void **state) {
    (void)state;
    expect_invalid("\"id\": \"5aad0bb4-2d4c-4846-8636-85e0eaa0cbe3\",", "", "field \"id\" is missing");
    expect_invalid("\"5aad0bb4-2d4c-4846-8636-85e0eaa0cbe3\"", "42", "field \"id\" must be a UUID");
    expect_invalid("\"5aad0bb4-2d4c-4846-8636-85e0eaa0cbe3\"", "\"5aad0bb4\"", "UUID");
    expect_invalid("\"name\": \"meso4-ffpp\",", "", "field \"name\" is missing");
    expect_invalid("\"meso4-ffpp\",", "\"../etc\",", "field \"name\" must be");
    expect_invalid("\"name\": \"meso4-ffpp\"", "\"name\": 7", "field \"name\" must be a string");
    expect_invalid("\"labels\": [\"real\", \"fake\"],", "", "field \"labels\" is missing");
    expect_invalid("[\"real\", \"fake\"]", "[\"real\"]", "field \"labels\" must be two");
    expect_invalid("[\"real\", \"fake\"]", "[\"fake\", \"fake\"]", "field \"labels\" must be two");
    expect_invalid("\"fake_label\": \"fake\"", "\"fake_label\": \"ai\"", "not one of the labels");
    expect_invalid("\"output\": \"p_fake\"", "\"output\": \"p_real\"", "disagree");
    expect_invalid("\"output\": \"p_fake\"", "\"output\": \"logit\"", "\"p_fake\" or \"p_real\"");
    expect_invalid("{\"width\": 256,", "{\"width\": 0,", "field \"input_size\"");
    expect_invalid("\"preprocessing\": \"rgb/255\",", "", "field \"preprocessing\" is missing");
    expect_invalid("\"training\": {", "\"training\": \"17 epochs\", \"extra\": {", "field \"training\"");
    expect_invalid("\"accuracy\": 0.9625", "\"accuracy\": 96.25", "fraction");
    expect_invalid("\"accuracy\": 0.9625,", "", "metrics.accuracy\" is missing");
    expect_invalid("\"roc_auc\": 0.991", "\"roc_auc\": \"high\"", "metrics.roc_auc");
    expect_invalid("[\"\", \"precision\"", "[\"label\", \"precision\"", "metrics.report.columns");
    expect_invalid("[\"1\", 0.96, 0.97, 0.97, 1172]", "[\"1\", 0.96, 0.97, 1172]", "row 1");
    expect_invalid("[\"1\", 0.96, 0.97, 0.97, 1172]", "[\"1\", 0.96, \"x\", 0.97, 1172]", "row 1");
    expect_invalid("[\"1\", 0.96, 0.97, 0.97, 1172]", "[\"1\", 0.96, 0.97, 0.97, 11.5]", "row 1");
    expect_invalid("\"weights\": \"meso4-ffpp.safetensors\"", "\"weights\": \"../x.safetensors\"",
                   "not a path");
    expect_invalid("\"weights\": \"meso4-ffpp.safetensors\",", "", "field \"weights\" is missing");
    expect_invalid("\"1B3FDF", "\"XB3FDF", "64 hex digits");
    expect_invalid("\"sha256\":", "\"sha512\":", "field \"sha256\" is missing");
    expect_invalid("\"loss_curve\": \"meso4-ffpp.png\"", "\"loss_curve\": 3", "field \"loss_curve\"");
    expect_invalid("\"metrics\": {", "\"metrix\": {", "field \"metrics\" is missing");
    expect_invalid("{\"id\"", "[{\"id\"", "not valid JSON");

    fs_card c;
    fs_msg m;
    assert_int_equal(fs_card_parse("[]", 2, &c, &m), FS_ERR_FORMAT);
    assert_int_equal(fs_card_load("/nonexistent/card.json", &c, &m), FS_ERR_NOTFOUND);
}

static void metrics_null_and_p_real(void **state) {
    (void)state;
    const char *doc =
        "{\"id\": \"6856daa6-4066-4c8f-840e-af2a098fbdcc\", \"name\": \"Meso4_DF\", "
        "\"description\": \"\", \"architecture\": \"meso4\", \"labels\": [\"df\", \"real\"], "
        "\"fake_label\": \"df\", \"output\": \"p_real\", \"input_size\": {\"width\": 256, "
        "\"height\": 256}, \"preprocessing\": \"rgb/255\", \"metrics\": null, \"metrics_note\": "
        "\"not measured yet\", \"weights\": \"Meso4_DF.safetensors\", \"sha256\": "
        "\"1b3fdf1d5aa2a6e0064028dbfdd371cbd403d8ccc3cd4e0ab45380e3eb4789c7\", \"future\": 1}";
    fs_card c;
    fs_msg m = {""};
    if (fs_card_parse(doc, strlen(doc), &c, &m)) fail_msg("%s", m.text);
    assert_false(c.metrics.present);
    assert_null(c.training_json);
    assert_null(c.loss_curve);
    assert_string_equal(c.metrics_note, "not measured yet");
    assert_true(fabs(fs_card_p_fake(&c, 0.8) - 0.2) < 1e-12); /* sigmoid = P(real) */
    assert_int_equal(fs_card_validate(&c, &m), FS_OK);
    /* A card built in memory is checked with the same rules. */
    free(c.output);
    c.output = strdup("p_fake");
    assert_int_equal(fs_card_validate(&c, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "disagree"));
    char *text = NULL;
    assert_int_equal(fs_card_to_json(&c, &text, &m), FS_ERR_FORMAT);
    assert_null(text);
    fs_card_free(&c);
}

static void sha256_of_file(void **state) {
    (void)state;
    char path[] = "/tmp/fs_sha_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    char hex[FS_SHA256_HEX];
    fs_msg m;
    assert_int_equal(fs_sha256_file(path, hex, &m), FS_OK);
    /* FIPS 180-2 test vector */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    assert_int_equal(fs_sha256_file(path, hex, &m), FS_ERR_NOTFOUND);
}

static void uuids(void **state) {
    (void)state;
    char a[FS_UUID_BUF], b[FS_UUID_BUF];
    fs_msg m;
    assert_int_equal(fs_uuid_v4(a, &m), FS_OK);
    assert_int_equal(fs_uuid_v4(b, &m), FS_OK);
    assert_int_equal(strlen(a), FS_UUID_LEN);
    assert_true(fs_uuid_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');              /* version */
    assert_non_null(strchr("89ab", a[19]));    /* variant */
    assert_true(fs_uuid_valid("5AAD0BB4-2D4C-4846-8636-85E0EAA0CBE3"));
    assert_false(fs_uuid_valid("5aad0bb4-2d4c-4846-8636-85e0eaa0cbe"));
    assert_false(fs_uuid_valid("5aad0bb4x2d4c-4846-8636-85e0eaa0cbe3"));
    assert_false(fs_uuid_valid("5aad0bb4-2d4c-4846-8636-85e0eaa0cbeg"));
    assert_false(fs_uuid_valid(NULL));
    assert_true(fs_card_name_valid("Meso4_DF.v2-x"));
    assert_false(fs_card_name_valid(".hidden"));
    assert_false(fs_card_name_valid("a/b"));
    assert_false(fs_card_name_valid(""));
}

/* The decision (threshold and uncertain band) and the "default" flag: read, called, written back,
 * and refused when the band does not hold the threshold. */
/* A valid card without its closing brace, for the optional fields to be appended to. */
#define MINIMAL_HEAD                                                                              \
    "{\"id\": \"6856daa6-4066-4c8f-840e-af2a098fbdcc\", \"name\": \"fs\", \"description\": \"\", "   \
    "\"architecture\": \"mobilenetv2\", \"labels\": [\"real\", \"fake\"], \"fake_label\": "            \
    "\"fake\", \"output\": \"p_fake\", \"input_size\": {\"width\": 256, \"height\": 256}, "           \
    "\"preprocessing\": \"x\", \"metrics\": null, \"weights\": \"fs.safetensors\", \"sha256\": "        \
    "\"1b3fdf1d5aa2a6e0064028dbfdd371cbd403d8ccc3cd4e0ab45380e3eb4789c7\""

static void decision_and_default(void **state) {
    (void)state;
    const char *head = MINIMAL_HEAD;
    char doc[2048];
    snprintf(doc, sizeof doc, "%s, \"decision\": {\"threshold\": 0.3, \"uncertain\": [0.2, 0.45], "
             "\"data\": \"val\", \"rule\": \"r\"}, \"default\": true}", head);
    fs_card c;
    fs_msg m = {""};
    if (fs_card_parse(doc, strlen(doc), &c, &m)) fail_msg("%s", m.text);
    assert_true(c.decision.present);
    assert_true(c.is_default);
    assert_true(fs_card_threshold(&c) == 0.3);
    assert_string_equal(fs_card_call(&c, 0.35), "uncertain");
    assert_string_equal(fs_card_call(&c, 0.45), "fake");
    assert_string_equal(fs_card_call(&c, 0.2), "real");
    assert_string_equal(c.decision.data, "val");
    assert_null(c.decision.command);
    char *text = NULL;
    assert_int_equal(fs_card_to_json(&c, &text, &m), FS_OK);
    fs_card back;
    if (fs_card_parse(text, strlen(text), &back, &m)) fail_msg("%s", m.text);
    assert_true(back.decision.present && back.is_default);
    assert_true(back.decision.lo == 0.2 && back.decision.hi == 0.45);
    assert_non_null(strstr(text, "\"uncertain\": [\n      0.2,"));
    free(text);
    fs_card_free(&back);
    fs_card_free(&c);

    /* without a decision: 0.5, no band, not a default */
    snprintf(doc, sizeof doc, "%s}", head);
    if (fs_card_parse(doc, strlen(doc), &c, &m)) fail_msg("%s", m.text);
    assert_false(c.decision.present || c.is_default);
    assert_true(fs_card_threshold(&c) == 0.5);
    assert_string_equal(fs_card_call(&c, 0.5), "fake");
    assert_string_equal(fs_card_call(&c, 0.49), "real");
    fs_card_free(&c);

    static const char *const bad[] = {
        "\"decision\": {\"threshold\": 0.3, \"uncertain\": [0.35, 0.45]}",
        "\"decision\": {\"threshold\": 1, \"uncertain\": [0.5, 1]}",
        "\"decision\": {\"threshold\": 0.3}",
        "\"decision\": 0.3",
        "\"default\": \"yes\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(doc, sizeof doc, "%s, %s}", head, bad[i]);
        assert_int_equal(fs_card_parse(doc, strlen(doc), &c, &m), FS_ERR_FORMAT);
        assert_true(strstr(m.text, "decision") || strstr(m.text, "default"));
    }
}

/* "face_crop": aligned with its margin, box (the default, also when absent), and refusals */
static void face_crop(void **state) {
    (void)state;
    const char *head = MINIMAL_HEAD;
    char doc[2048];
    fs_card c, back;
    fs_msg m = {""};
    snprintf(doc, sizeof doc, "%s, \"face_crop\": {\"mode\": \"aligned\", \"margin\": 0.25}}", head);
    if (fs_card_parse(doc, strlen(doc), &c, &m)) fail_msg("%s", m.text);
    assert_true(c.face_crop.aligned);
    assert_true(c.face_crop.margin == 0.25);
    char *text = NULL;
    assert_int_equal(fs_card_to_json(&c, &text, &m), FS_OK);
    if (fs_card_parse(text, strlen(text), &back, &m)) fail_msg("%s", m.text);
    assert_true(back.face_crop.aligned && back.face_crop.margin == 0.25);
    free(text);
    fs_card_free(&back);
    fs_card_free(&c);
    /* box, and absent: box crops, and none written back */
    for (int absent = 0; absent < 2; absent++) {
        snprintf(doc, sizeof doc, "%s%s}", head, absent ? "" : ", \"face_crop\": {\"mode\": \"box\"}");
        if (fs_card_parse(doc, strlen(doc), &c, &m)) fail_msg("%s", m.text);
        assert_false(c.face_crop.aligned);
        assert_int_equal(fs_card_to_json(&c, &text, &m), FS_OK);
        assert_null(strstr(text, "face_crop"));
        free(text);
        fs_card_free(&c);
    }
    static const char *const bad[] = {
        "\"face_crop\": {\"mode\": \"aligned\"}",
        "\"face_crop\": {\"mode\": \"aligned\", \"margin\": 2.5}",
        "\"face_crop\": {\"mode\": \"aligned\", \"margin\": -0.1}",
        "\"face_crop\": {\"mode\": \"box\", \"margin\": 0.3}",
        "\"face_crop\": {\"mode\": \"tight\"}",
        "\"face_crop\": \"aligned\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(doc, sizeof doc, "%s, %s}", head, bad[i]);
        assert_int_equal(fs_card_parse(doc, strlen(doc), &c, &m), FS_ERR_FORMAT);
        assert_non_null(strstr(m.text, "face_crop"));
    }
}

/* "picture_input": faces is kept and written back; whole and absent mean whole pictures and
 * are not written; anything else is refused by name */
static void picture_input(void **state) {
    (void)state;
    const char *head = MINIMAL_HEAD;
    char doc[2048], *text = NULL;
    fs_card c, back;
    fs_msg m = {""};
    snprintf(doc, sizeof doc, "%s, \"picture_input\": \"faces\"}", head);
    if (fs_card_parse(doc, strlen(doc), &c, &m)) fail_msg("%s", m.text);
    assert_true(c.picture_faces);
    assert_int_equal(fs_card_to_json(&c, &text, &m), FS_OK);
    assert_non_null(strstr(text, "\"picture_input\": \"faces\""));
    if (fs_card_parse(text, strlen(text), &back, &m)) fail_msg("%s", m.text);
    assert_true(back.picture_faces);
    free(text);
    fs_card_free(&back);
    fs_card_free(&c);
    for (int absent = 0; absent < 2; absent++) {
        snprintf(doc, sizeof doc, "%s%s}", head, absent ? "" : ", \"picture_input\": \"whole\"");
        if (fs_card_parse(doc, strlen(doc), &c, &m)) fail_msg("%s", m.text);
        assert_false(c.picture_faces);
        assert_int_equal(fs_card_to_json(&c, &text, &m), FS_OK);
        assert_null(strstr(text, "picture_input"));
        free(text);
        fs_card_free(&c);
    }
    static const char *const bad[] = {"\"picture_input\": \"face\"", "\"picture_input\": true",
                                      "\"picture_input\": [\"faces\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(doc, sizeof doc, "%s, %s}", head, bad[i]);
        assert_int_equal(fs_card_parse(doc, strlen(doc), &c, &m), FS_ERR_FORMAT);
        assert_non_null(strstr(m.text, "picture_input"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_full_card),  cmocka_unit_test(roundtrip),
        cmocka_unit_test(validation_errors), cmocka_unit_test(metrics_null_and_p_real),
        cmocka_unit_test(sha256_of_file),   cmocka_unit_test(uuids),
        cmocka_unit_test(decision_and_default), cmocka_unit_test(face_crop),
        cmocka_unit_test(picture_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
