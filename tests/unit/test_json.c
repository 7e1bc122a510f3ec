/* fs_json_dumps: every real in its shortest exact form, everything else as jansson writes it. */
#include "fs_test.h"
#include "fakescope/json.h"

#include <float.h>
#include <math.h>

/* The text of one real alone, through the whole document path. */
static char *dump_real(double v) {
    json_t *j = json_real(v);
    assert_non_null(j);
    char *text = fs_json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    assert_non_null(text);
    return text;
}

static void expect_real(double v, const char *want) {
    char *text = dump_real(v);
    if (strcmp(text, want)) fail_msg("%.17g printed as %s, expected %s", v, text, want);
    free(text);
}

static void reals_are_shortest(void **state) {
    (void)state;
    expect_real(0.614086, "0.614086");
    expect_real(0.1 + 0.2, "0.30000000000000004");
    expect_real(0.99768, "0.99768");
    expect_real(0.875041127204895, "0.875041127204895");
    expect_real(1e-7, "1e-7");
    expect_real(1e300, "1e300");
    expect_real(-1.5e-300, "-1.5e-300");
    expect_real(5e-324, "5e-324");
    expect_real(DBL_MAX, "1.7976931348623157e308");
    expect_real(0.0001, "0.0001");
    expect_real(0.00001, "1e-5");
    expect_real(123456.789, "123456.789");
    expect_real(-2.5, "-2.5");
    expect_real(96.25, "96.25");
    expect_real(1.0 / 3.0, "0.3333333333333333");
    expect_real((double)0.1f, "0.10000000149011612");
}

/* A real still reads as a real: a ".0" (or an exponent) is always there, as jansson does. */
static void reals_keep_a_point(void **state) {
    (void)state;
    expect_real(5.0, "5.0");
    expect_real(0.0, "0.0");
    expect_real(-0.0, "-0.0");
    expect_real(100.0, "100.0");
    expect_real(-42.0, "-42.0");
    expect_real(1e16, "10000000000000000.0");
    expect_real(1e17, "1e17");
    json_t *back = json_loads("[5.0, -0.0, 1e17]", 0, NULL);
    assert_non_null(back);
    char *text = fs_json_dumps(back, JSON_COMPACT);
    assert_string_equal(text, "[5.0,-0.0,1e17]");
    free(text);
    json_decref(back);
    char buf[FS_JSON_REAL_MAX];
    assert_int_equal(fs_json_format_real(NAN, buf, sizeof buf), -1);
    assert_int_equal(fs_json_format_real(INFINITY, buf, sizeof buf), -1);
}

/* Integers, strings (keys and values, escapes included) and literals are left alone. */
static void only_real_tokens_change(void **state) {
    (void)state;
    json_t *o = json_pack("{s:I, s:i, s:s, s:s, s:b, s:n, s:f}", "big", (json_int_t)12345678901234567LL,
                          "neg", -7, "0.61408600000000002", "0.61408600000000002",
                          "esc", "say \"0.1\" \\ 3.00000000000000004e5 \\\"", "t", 1, "z", "r", 0.614086);
    assert_non_null(o);
    char *text = fs_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"0.61408600000000002\":\"0.61408600000000002\",\"big\":12345678901234567,"
                              "\"esc\":\"say \\\"0.1\\\" \\\\ 3.00000000000000004e5 \\\\\\\"\","
                              "\"neg\":-7,\"r\":0.614086,\"t\":true,\"z\":null}");
    free(text);
    json_decref(o);
}

/* Nested arrays and objects, indented: each real is rewritten where it stands. */
static void nested_documents(void **state) {
    (void)state;
    json_t *doc = json_pack("{s:[f, [f, {s:f, s:[i, f]}]], s:{s:{s:f}}}", "a", 0.1 + 0.2, 0.614086,
                            "x", 1e-7, "y", 3, 2.0, "b", "c", "d", 96.25);
    assert_non_null(doc);
    char *text = fs_json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    assert_string_equal(text, "{\n \"a\": [\n  0.30000000000000004,\n  [\n   0.614086,\n   {\n"
                              "    \"x\": 1e-7,\n    \"y\": [\n     3,\n     2.0\n    ]\n   }\n"
                              "  ]\n ],\n \"b\": {\n  \"c\": {\n   \"d\": 96.25\n  }\n }\n}");
    /* A lower precision asked for is ignored: the text is exact. */
    free(text);
    text = fs_json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
    assert_string_equal(text, "{\"a\":[0.30000000000000004,[0.614086,{\"x\":1e-7,\"y\":[3,2.0]}]],"
                              "\"b\":{\"c\":{\"d\":96.25}}}");
    free(text);
    json_decref(doc);
    /* The empty containers and a bare string. */
    json_t *e = json_pack("[[], {}, s]", "");
    text = fs_json_dumps(e, JSON_COMPACT);
    assert_string_equal(text, "[[],{},\"\"]");
    free(text);
    json_decref(e);
}

/* Many doubles across the whole range: the text reads back as the identical double and one
 * significant digit fewer would not. */
static void round_trip_and_minimal(void **state) {
    (void)state;
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double v;
        if (i % 2) {
            memcpy(&v, &s, sizeof v); /* any bit pattern */
        } else {
            v = (double)(s >> 11) / 9007199254740992.0 * pow(10, (int)(s % 40) - 20); /* decimals */
        }
        if (!isfinite(v)) continue;
        char buf[FS_JSON_REAL_MAX];
        int n = fs_json_format_real(v, buf, sizeof buf);
        assert_true(n > 0 && n < FS_JSON_REAL_MAX);
        char *end;
        double back = strtod(buf, &end);
        if (*end || memcmp(&back, &v, sizeof v)) fail_msg("%.17g printed as %s reads back as %.17g", v, buf, back);
        assert_true(strpbrk(buf, ".e") != NULL);
        /* significant digits in buf */
        int digits = 0, lead = 1, zeros = 0;
        for (const char *p = buf; *p && *p != 'e'; p++) {
            if (*p < '0' || *p > '9') continue;
            if (*p == '0' && lead) continue;
            lead = 0;
            if (*p == '0') {
                zeros++;
            } else {
                digits += zeros + 1;
                zeros = 0;
            }
        }
        if (digits > 1) {
            char shorter[64];
            snprintf(shorter, sizeof shorter, "%.*e", digits - 2, v);
            if (strtod(shorter, NULL) == v) fail_msg("%s is not shortest: %s reads back too", buf, shorter);
        }
    }
}

static void dump_file_writes_the_same_text(void **state) {
    (void)state;
    char dir[64];
    assert_int_equal(fs_test_mkdtemp(dir, sizeof dir, "json"), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/out.json", dir);
    json_t *j = json_pack("{s:f}", "accuracy", 0.96);
    fs_msg m;
    assert_int_equal(fs_json_dump_file(j, path, JSON_COMPACT, &m), FS_OK);
    uint8_t *data;
    size_t len;
    assert_int_equal(fs_read_file(path, 1024, &data, &len, &m), FS_OK);
    assert_string_equal((char *)data, "{\"accuracy\":0.96}");
    free(data);
    json_decref(j);
    assert_int_equal(fs_test_rmtree(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reals_are_shortest),
        cmocka_unit_test(reals_keep_a_point),
        cmocka_unit_test(only_real_tokens_change),
        cmocka_unit_test(nested_documents),
        cmocka_unit_test(round_trip_and_minimal),
        cmocka_unit_test(dump_file_writes_the_same_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
