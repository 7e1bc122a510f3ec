/* card.c: model cards, read and written as JSON with jansson.
 *
 * One rule set serves both directions: a card in memory is turned into a JSON document and
 * checked by the same function that checks a parsed file (check_card), so what we write is
 * always what we would accept. Unknown fields are ignored, so newer cards still load. */
#include "fakescope/card.h"

#include "fakescope/align.h"
#include "fakescope/json.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARD_MAX_INPUT 4096 /* largest input side a card may declare */
#define SHA_CHUNK 65536

static const char *const report_columns[] = {"", "precision", "recall", "f1-score", "support"};
#define REPORT_COLUMNS 5

void fs_card_free(fs_card *c) {
    if (!c) return;
    free(c->name);
    free(c->description);
    free(c->architecture);
    free(c->labels[0]);
    free(c->labels[1]);
    free(c->fake_label);
    free(c->output);
    free(c->preprocessing);
    free(c->training_json);
    free(c->metrics.data);
    for (size_t i = 0; i < c->metrics.nrows; i++) free(c->metrics.rows[i].label);
    free(c->metrics.rows);
    free(c->metrics_note);
    free(c->loss_curve);
    free(c->weights);
    free(c->source);
    free(c->created);
    free(c->decision.data);
    free(c->decision.rule);
    free(c->decision.command);
    memset(c, 0, sizeof *c);
}

int fs_card_name_valid(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > FS_CARD_NAME_MAX || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i])) return 0;
    return 1;
}

double fs_card_p_fake(const fs_card *c, double sigmoid) {
    return c->output && !strcmp(c->output, "p_real") ? 1.0 - sigmoid : sigmoid;
}

double fs_card_threshold(const fs_card *c) {
    return c->decision.present ? c->decision.threshold : 0.5;
}

const char *fs_card_call(const fs_card *c, double p) {
    const fs_card_decision *d = &c->decision;
    if (d->present && d->lo < d->hi && (d->lo < p || d->lo <= 0) && (p < d->hi || d->hi >= 1))
        return "uncertain";
    return p >= fs_card_threshold(c) ? "fake" : "real";
}

/* ---- checking a JSON document -------------------------------------------------------- */


/* Copies an optional string field; *out stays NULL when absent or null. */
static fs_err opt_string(json_t *root, const char *key, char **out, fs_msg *msg) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return FS_OK;
    if (!json_is_string(v))
        return fs_fail(msg, FS_ERR_FORMAT, "field \"%s\" must be a string or null", key);
    if (out && !(*out = strdup(json_string_value(v))))
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    return FS_OK;
}

static fs_err req_string(json_t *root, const char *key, int allow_empty, char **out, fs_msg *msg) {
    json_t *v = json_object_get(root, key);
    if (!v) return fs_fail(msg, FS_ERR_FORMAT, "field \"%s\" is missing", key);
    if (!json_is_string(v)) return fs_fail(msg, FS_ERR_FORMAT, "field \"%s\" must be a string", key);
    if (!allow_empty && !json_string_value(v)[0])
        return fs_fail(msg, FS_ERR_FORMAT, "field \"%s\" must not be empty", key);
    if (out && !(*out = strdup(json_string_value(v))))
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    return FS_OK;
}

/* A report cell: a number, or "" for an empty cell (NaN). */
static int report_cell(json_t *v, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    if (json_is_string(v) && !json_string_value(v)[0]) {
        *out = NAN;
        return 1;
    }
    return 0;
}

static fs_err check_metrics(json_t *m, fs_card_metrics *out, fs_msg *msg) {
    if (!json_is_object(m))
        return fs_fail(msg, FS_ERR_FORMAT, "field \"metrics\" must be an object or null");
    json_t *acc = json_object_get(m, "accuracy"), *auc = json_object_get(m, "roc_auc");
    if (!acc) return fs_fail(msg, FS_ERR_FORMAT, "field \"metrics.accuracy\" is missing");
    if (!json_is_number(acc) || json_number_value(acc) < 0 || json_number_value(acc) > 1)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "field \"metrics.accuracy\" must be a number in [0, 1] (a fraction)");
    double roc = NAN;
    if (auc && !json_is_null(auc)) {
        if (!json_is_number(auc) || json_number_value(auc) < 0 || json_number_value(auc) > 1)
            return fs_fail(msg, FS_ERR_FORMAT, "field \"metrics.roc_auc\" must be a number in [0, 1]");
        roc = json_number_value(auc);
    }
    json_t *d = json_object_get(m, "data");
    if (d && !json_is_null(d) && !json_is_string(d))
        return fs_fail(msg, FS_ERR_FORMAT, "field \"metrics.data\" must be a string");
    json_t *rep = json_object_get(m, "report");
    if (!rep) return fs_fail(msg, FS_ERR_FORMAT, "field \"metrics.report\" is missing");
    json_t *cols = json_object_get(rep, "columns"), *rows = json_object_get(rep, "rows");
    if (!json_is_array(cols) || json_array_size(cols) != REPORT_COLUMNS)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "field \"metrics.report.columns\" must be [\"\", \"precision\", "
                       "\"recall\", \"f1-score\", \"support\"]");
    for (size_t i = 0; i < REPORT_COLUMNS; i++) {
        json_t *c = json_array_get(cols, i);
        if (!json_is_string(c) || strcmp(json_string_value(c), report_columns[i]))
            return fs_fail(msg, FS_ERR_FORMAT,
                           "field \"metrics.report.columns\" entry %zu must be \"%s\"", i,
                           report_columns[i]);
    }
    if (!json_is_array(rows) || json_array_size(rows) == 0 ||
        json_array_size(rows) > FS_CARD_MAX_REPORT_ROWS)
        return fs_fail(msg, FS_ERR_FORMAT,
                       "field \"metrics.report.rows\" must be an array of 1 to %d rows",
                       FS_CARD_MAX_REPORT_ROWS);
    size_t n = json_array_size(rows);
    fs_card_report_row *rs = out ? calloc(n, sizeof *rs) : NULL;
    if (out && !rs) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    fs_err err = FS_OK;
    for (size_t i = 0; i < n && !err; i++) {
        json_t *r = json_array_get(rows, i);
        fs_card_report_row row = {0};
        json_t *sup = json_array_get(r, 4);
        if (!json_is_array(r) || json_array_size(r) != REPORT_COLUMNS ||
            !json_is_string(json_array_get(r, 0)) ||
            !report_cell(json_array_get(r, 1), &row.precision) ||
            !report_cell(json_array_get(r, 2), &row.recall) ||
            !report_cell(json_array_get(r, 3), &row.f1) ||
            !(json_is_integer(sup) && json_integer_value(sup) >= 0)) {
            err = fs_fail(msg, FS_ERR_FORMAT,
                          "field \"metrics.report.rows\" row %zu must be [label, precision, "
                          "recall, f1-score, support] (numbers or \"\", support an integer)",
                          i);
            break;
        }
        if (rs) {
            rs[i].precision = row.precision;
            rs[i].recall = row.recall;
            rs[i].f1 = row.f1;
            rs[i].support = json_integer_value(sup);
            if (!(rs[i].label = strdup(json_string_value(json_array_get(r, 0)))))
                err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        }
    }
    if (!out) return err;
    out->rows = rs;
    out->nrows = n; /* freed by fs_card_free even on error */
    if (err) return err;
    out->present = 1;
    out->accuracy = json_number_value(acc);
    out->roc_auc = roc;
    if (d && json_is_string(d) && !(out->data = strdup(json_string_value(d))))
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    return FS_OK;
}

static int is_hex64(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* Checks a card document; with out non-NULL also fills it (caller frees on error). */
/* "decision": {"threshold": t, "uncertain": [lo, hi], "data", "rule", "command"} */
static fs_err check_decision(json_t *v, fs_card_decision *d, fs_msg *msg) {
    const char *shape = "field \"decision\" must be {\"threshold\": T, \"uncertain\": [LO, HI], ...} "
                        "with 0 <= LO <= T <= HI <= 1 and 0 < T < 1";
    json_t *t = json_object_get(v, "threshold"), *u = json_object_get(v, "uncertain");
    if (!json_is_object(v) || !json_is_number(t) || !json_is_array(u) || json_array_size(u) != 2 ||
        !json_is_number(json_array_get(u, 0)) || !json_is_number(json_array_get(u, 1)))
        return fs_fail(msg, FS_ERR_FORMAT, "%s", shape);
    d->threshold = json_number_value(t);
    d->lo = json_number_value(json_array_get(u, 0));
    d->hi = json_number_value(json_array_get(u, 1));
    if (!(d->threshold > 0 && d->threshold < 1 && d->lo >= 0 && d->lo <= d->threshold &&
          d->threshold <= d->hi && d->hi <= 1))
        return fs_fail(msg, FS_ERR_FORMAT, "%s", shape);
    fs_err err;
    if ((err = opt_string(v, "data", &d->data, msg)) || (err = opt_string(v, "rule", &d->rule, msg)) ||
        (err = opt_string(v, "command", &d->command, msg))) {
        fs_msg_prefix(msg, "decision: ");
        return err;
    }
    d->present = 1;
    return FS_OK;
}

/* "face_crop": {"mode": "box"} or {"mode": "aligned", "margin": M} */
static fs_err check_face_crop(json_t *v, fs_card_face_crop *fc, fs_msg *msg) {
    const char *shape = "field \"face_crop\" must be {\"mode\": \"box\"} or {\"mode\": \"aligned\", "
                        "\"margin\": M} with 0 <= M <= 2";
    json_t *mode = json_object_get(v, "mode"), *margin = json_object_get(v, "margin");
    if (!json_is_object(v) || !json_is_string(mode)) return fs_fail(msg, FS_ERR_FORMAT, "%s", shape);
    if (!strcmp(json_string_value(mode), "box") && !margin) {
        fc->aligned = 0;
        return FS_OK;
    }
    if (strcmp(json_string_value(mode), "aligned") || !json_is_number(margin) ||
        !(json_number_value(margin) >= 0 && json_number_value(margin) <= FS_CARD_MAX_CROP_MARGIN))
        return fs_fail(msg, FS_ERR_FORMAT, "%s", shape);
    fc->aligned = 1;
    fc->margin = json_number_value(margin);
    return FS_OK;
}

static fs_err check_card(json_t *root, fs_card *out, fs_msg *msg) {
    fs_card scratch = {0};
    fs_card *c = out ? out : &scratch;
    fs_err err;
    if (!json_is_object(root)) return fs_fail(msg, FS_ERR_FORMAT, "a card must be a JSON object");
#define TRY(x)                                                                                 \
    do {                                                                                       \
        if ((err = (x))) goto done;                                                            \
    } while (0)
    json_t *id = json_object_get(root, "id");
    if (!id) TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"id\" is missing"));
    if (!json_is_string(id) || !fs_uuid_valid(json_string_value(id)))
        TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"id\" must be a UUID string"));
    snprintf(c->id, sizeof c->id, "%s", json_string_value(id));
    for (char *p = c->id; *p; p++) *p = (char)tolower((unsigned char)*p);

    TRY(req_string(root, "name", 0, &c->name, msg));
    if (!fs_card_name_valid(c->name))
        TRY(fs_fail(msg, FS_ERR_FORMAT,
                    "field \"name\" must be 1-%d characters of A-Z a-z 0-9 . _ - (got \"%.80s\")",
                    FS_CARD_NAME_MAX, c->name));
    TRY(req_string(root, "description", 1, &c->description, msg));
    TRY(req_string(root, "architecture", 0, &c->architecture, msg));

    json_t *labels = json_object_get(root, "labels");
    if (!labels) TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"labels\" is missing"));
    if (!json_is_array(labels) || json_array_size(labels) != 2 ||
        !json_is_string(json_array_get(labels, 0)) || !json_is_string(json_array_get(labels, 1)) ||
        !json_string_value(json_array_get(labels, 0))[0] ||
        !strcmp(json_string_value(json_array_get(labels, 0)),
                json_string_value(json_array_get(labels, 1))))
        TRY(fs_fail(msg, FS_ERR_FORMAT,
                    "field \"labels\" must be two different class names, by output index"));
    for (int i = 0; i < 2; i++)
        if (!(c->labels[i] = strdup(json_string_value(json_array_get(labels, (size_t)i)))))
            TRY(fs_fail(msg, FS_ERR_NOMEM, "out of memory"));
    TRY(req_string(root, "fake_label", 0, &c->fake_label, msg));
    if (strcmp(c->fake_label, c->labels[0]) && strcmp(c->fake_label, c->labels[1]))
        TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"fake_label\" (\"%.64s\") is not one of the labels",
                    c->fake_label));
    TRY(req_string(root, "output", 0, &c->output, msg));
    if (strcmp(c->output, "p_fake") && strcmp(c->output, "p_real"))
        TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"output\" must be \"p_fake\" or \"p_real\""));
    /* The sigmoid is P(labels[1]), so the output name and the label order must agree. */
    int fake_is_1 = !strcmp(c->fake_label, c->labels[1]);
    if (fake_is_1 != !strcmp(c->output, "p_fake"))
        TRY(fs_fail(msg, FS_ERR_FORMAT,
                    "fields \"output\" (%s) and \"labels\"/\"fake_label\" disagree: the output is "
                    "P(labels[1]) = P(%s)",
                    c->output, c->labels[1]));

    json_t *in = json_object_get(root, "input_size");
    if (!in) TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"input_size\" is missing"));
    json_t *iw = json_object_get(in, "width"), *ih = json_object_get(in, "height");
    if (!json_is_object(in) || !json_is_integer(iw) || !json_is_integer(ih) ||
        json_integer_value(iw) < 1 || json_integer_value(iw) > CARD_MAX_INPUT ||
        json_integer_value(ih) < 1 || json_integer_value(ih) > CARD_MAX_INPUT)
        TRY(fs_fail(msg, FS_ERR_FORMAT,
                    "field \"input_size\" must be {\"width\": W, \"height\": H} with 1..%d pixels",
                    CARD_MAX_INPUT));
    c->input_width = (int)json_integer_value(iw);
    c->input_height = (int)json_integer_value(ih);
    TRY(req_string(root, "preprocessing", 0, &c->preprocessing, msg));

    json_t *tr = json_object_get(root, "training");
    if (tr && !json_is_null(tr)) {
        if (!json_is_object(tr))
            TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"training\" must be an object or null"));
        if (!(c->training_json = fs_json_dumps(tr, JSON_COMPACT)))
            TRY(fs_fail(msg, FS_ERR_NOMEM, "out of memory"));
    }
    json_t *met = json_object_get(root, "metrics");
    if (!met) TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"metrics\" is missing (null when not measured)"));
    if (!json_is_null(met)) TRY(check_metrics(met, &c->metrics, msg));
    TRY(opt_string(root, "metrics_note", &c->metrics_note, msg));
    TRY(opt_string(root, "loss_curve", &c->loss_curve, msg));
    TRY(req_string(root, "weights", 0, &c->weights, msg));
    if (strchr(c->weights, '/') || !strcmp(c->weights, "..") || !strcmp(c->weights, "."))
        TRY(fs_fail(msg, FS_ERR_FORMAT,
                    "field \"weights\" must be a file name beside the card, not a path"));
    json_t *sha = json_object_get(root, "sha256");
    if (!sha) TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"sha256\" is missing"));
    if (!json_is_string(sha) || !is_hex64(json_string_value(sha)))
        TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"sha256\" must be 64 hex digits"));
    snprintf(c->sha256, sizeof c->sha256, "%s", json_string_value(sha));
    for (char *p = c->sha256; *p; p++) *p = (char)tolower((unsigned char)*p);
    TRY(opt_string(root, "source", &c->source, msg));
    TRY(opt_string(root, "created", &c->created, msg));
    json_t *dec = json_object_get(root, "decision");
    if (dec && !json_is_null(dec)) TRY(check_decision(dec, &c->decision, msg));
    json_t *def = json_object_get(root, "default");
    if (def && !json_is_boolean(def)) TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"default\" must be true or false"));
    c->is_default = def && json_is_true(def);
    json_t *fc = json_object_get(root, "face_crop");
    if (fc && !json_is_null(fc)) TRY(check_face_crop(fc, &c->face_crop, msg));
    json_t *pin = json_object_get(root, "picture_input");
    if (pin && !json_is_null(pin)) {
        const char *v = json_string_value(pin);
        if (!v || (strcmp(v, "faces") && strcmp(v, "whole")))
            TRY(fs_fail(msg, FS_ERR_FORMAT, "field \"picture_input\" must be \"faces\" or \"whole\""));
        c->picture_faces = !strcmp(v, "faces");
    }
    err = FS_OK;
#undef TRY
done:
    fs_card_free(&scratch);
    return err;
}

fs_err fs_card_parse(const char *json, size_t len, fs_card *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fs_fail(msg, FS_ERR_FORMAT, "card is not valid JSON: %s (line %d, column %d)",
                       jerr.text, jerr.line, jerr.column);
    fs_err err = check_card(root, out, msg);
    json_decref(root);
    if (err) fs_card_free(out);
    return err;
}

fs_err fs_card_load(const char *path, fs_card *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t len;
    fs_err err = fs_read_file(path, FS_CARD_MAX_BYTES, &data, &len, msg);
    if (err) return err;
    err = fs_card_parse((const char *)data, len, out, msg);
    free(data);
    if (err) fs_msg_prefix(msg, "%s: ", path);
    return err;
}

/* ---- building a JSON document -------------------------------------------------------- */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *cell(double v) { return isnan(v) ? json_string("") : json_real(v); }

/* The card as a JSON document, unchecked (NULL on allocation failure or bad UTF-8). */
static json_t *card_document(const fs_card *c) {
    json_t *root = json_object();
    if (!root) return NULL;
    int bad = 0;
#define SET(k, v) bad |= json_object_set_new(root, k, v)
    SET("id", json_string(c->id));
    SET("name", str_or_null(c->name));
    SET("description", str_or_null(c->description));
    SET("architecture", str_or_null(c->architecture));
    SET("labels", json_pack("[s?, s?]", c->labels[0], c->labels[1]));
    SET("fake_label", str_or_null(c->fake_label));
    SET("output", str_or_null(c->output));
    SET("input_size", json_pack("{s:i, s:i}", "width", c->input_width, "height", c->input_height));
    SET("preprocessing", str_or_null(c->preprocessing));
    json_t *tr = json_null();
    if (c->training_json) {
        json_decref(tr);
        tr = json_loads(c->training_json, 0, NULL);
        if (!tr) tr = json_string(c->training_json); /* refused by the check below */
    }
    SET("training", tr);
    if (c->metrics.present) {
        json_t *m = json_object(), *rows = json_array();
        for (size_t i = 0; m && rows && i < c->metrics.nrows; i++) {
            const fs_card_report_row *r = &c->metrics.rows[i];
            json_t *row = json_pack("[s?, o, o, o, I]", r->label, cell(r->precision),
                                    cell(r->recall), cell(r->f1), (json_int_t)r->support);
            bad |= !row || json_array_append_new(rows, row);
        }
        json_t *rep = json_pack("{s:[s, s, s, s, s], s:o}", "columns", "", "precision", "recall",
                                "f1-score", "support", "rows", rows);
        if (m) {
            bad |= json_object_set_new(m, "accuracy", json_real(c->metrics.accuracy));
            bad |= json_object_set_new(m, "roc_auc", isnan(c->metrics.roc_auc)
                                                         ? json_null()
                                                         : json_real(c->metrics.roc_auc));
            if (c->metrics.data) bad |= json_object_set_new(m, "data", json_string(c->metrics.data));
            bad |= json_object_set_new(m, "report", rep);
        } else {
            json_decref(rep);
        }
        SET("metrics", m);
    } else {
        SET("metrics", json_null());
    }
    SET("metrics_note", str_or_null(c->metrics_note));
    SET("loss_curve", str_or_null(c->loss_curve));
    SET("weights", str_or_null(c->weights));
    SET("sha256", json_string(c->sha256));
    if (c->source) SET("source", json_string(c->source));
    if (c->created) SET("created", json_string(c->created));
    if (c->decision.present) {
        const fs_card_decision *d = &c->decision;
        json_t *dj = json_pack("{s:f, s:[f, f]}", "threshold", d->threshold, "uncertain", d->lo, d->hi);
        if (dj && d->data) bad |= json_object_set_new(dj, "data", json_string(d->data));
        if (dj && d->rule) bad |= json_object_set_new(dj, "rule", json_string(d->rule));
        if (dj && d->command) bad |= json_object_set_new(dj, "command", json_string(d->command));
        SET("decision", dj);
    }
    if (c->is_default) SET("default", json_true());
    if (c->face_crop.aligned)
        SET("face_crop", json_pack("{s:s, s:f}", "mode", "aligned", "margin", c->face_crop.margin));
    if (c->picture_faces) SET("picture_input", json_string("faces"));
#undef SET
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

fs_err fs_card_validate(const fs_card *c, fs_msg *msg) {
    json_t *root = card_document(c);
    if (!root) return fs_fail(msg, FS_ERR_INVALID, "card has a field that is not valid UTF-8 text");
    fs_err err = check_card(root, NULL, msg);
    json_decref(root);
    return err;
}

fs_err fs_card_to_json(const fs_card *c, char **out, fs_msg *msg) {
    *out = NULL;
    json_t *root = card_document(c);
    if (!root) return fs_fail(msg, FS_ERR_INVALID, "card has a field that is not valid UTF-8 text");
    fs_err err = check_card(root, NULL, msg);
    if (!err) {
        /* Shortest reals: 0.96 prints as 0.96, and a figure that needs 17 digits keeps them. */
        char *text = fs_json_dumps(root, JSON_INDENT(2));
        if (!text) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        *out = text;
    }
    json_decref(root);
    return err;
}

fs_err fs_card_save(const fs_card *c, const char *path, fs_msg *msg) {
    char *text;
    fs_err err = fs_card_to_json(c, &text, msg);
    if (err) return err;
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (!withnl) {
        free(text);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    withnl[n] = '\n';
    withnl[n + 1] = '\0';
    err = fs_write_file(path, withnl, n + 1, msg);
    free(withnl);
    return err;
}

/* ---- hashing ------------------------------------------------------------------------- */

fs_err fs_sha256_file(const char *path, char hex[FS_SHA256_HEX], fs_msg *msg) {
    hex[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return fs_fail(msg, errno == ENOENT ? FS_ERR_NOTFOUND : FS_ERR_IO, "%s: %s", path,
                       strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(SHA_CHUNK);
    fs_err err = FS_OK;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        err = fs_fail(msg, FS_ERR_INTERNAL, "cannot start SHA-256");
        goto done;
    }
    size_t n;
    while ((n = fread(buf, 1, SHA_CHUNK, f)) > 0)
        if (EVP_DigestUpdate(ctx, buf, n) != 1) {
            err = fs_fail(msg, FS_ERR_INTERNAL, "SHA-256 failed");
            goto done;
        }
    if (ferror(f)) {
        err = fs_fail(msg, FS_ERR_IO, "%s: read error", path);
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        err = fs_fail(msg, FS_ERR_INTERNAL, "SHA-256 failed");
        goto done;
    }
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
done:
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(f);
    return err;
}
