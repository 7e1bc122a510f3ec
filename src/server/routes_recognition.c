/* routes_recognition.c: the /v0.7 model-management dialect (seed 003, docs/model-management.md).
 *
 *   /v0.7/recognition/specs[/{id}[/versions]]   what a model answers: labels (+ boxes)
 *   /v0.7/networks[/{id}]                       uploaded weights (safetensors) or cascades
 *   /v0.7/recognition/versions[/{id}]           a spec implemented by a network + thresholds
 *   /v0.7/recognition/versions/{id}/inference   queue a task; GET /v0.7/tasks/{id} answers
 *
 * Every route needs an API key (X-API-KEY); creating and deleting records needs an admin key.
 * Uploads are validated before anything is written, so a refused file leaves no blob and no
 * row. A classification version is registered with the engine as "version:<id>" (when created
 * and at start), so the rest of the server can scan with it by that name.
 *
 * Inference runs on the server's job workers (jobs/) as tasks of kind REC_TASK_KIND; the task's
 * input and result documents are blobs, and GET /v0.7/tasks/{id} (routes_tasks.c) shows them. */
#include "server/recognition_api.h"
#include "server/scan_submit.h"

#include "fakescope/face.h"
#include "fakescope/fetch.h"
#include "fakescope/image.h"
#include "fakescope/json.h"
#include "fakescope/jobs.h"
#include "fakescope/media_worker.h"
#include "fakescope/model.h"
#include "fakescope/recognition.h"
#include "fakescope/weights.h"

#include <assert.h>
#include <openssl/evp.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REC_PAGE_DEFAULT 10
#define REC_PAGE_MAX 100
#define REC_LABELS_MAX 64
#define REC_INPUTS_MAX 16
#define REC_TASK_KIND "recognition.inference"
#define REC_ARCH_CASCADE "face-cascade"
#define REC_ENGINE_PREFIX "version:"
#define REC_WORKER_IDLE_MS 200
#define REC_RESULT_MAX_BYTES ((size_t)64 << 20)
/* Detection score of a box merged from n cascade windows: n / (n + REC_NEIGHBOR_HALF), so a box
 * made of as many windows as OpenCV's default minNeighbors scores 0.5. */
#define REC_NEIGHBOR_HALF 5.0
/* Frames sampled from a video input, spread over the clip: as the classification dialect. */
#define REC_VIDEO_FRAMES 5

struct fs_recognition {
    fs_app *app;
};

/* ---- replies ---------------------------------------------------------------------------- */

/* An error naming the field at fault: {"error": {"code", "field", "message", "request_id"}}. */
static void field_error_v(fs_req *r, unsigned status, const char *code, const char *field,
                          const char *fmt, va_list ap) {
    char text[FS_MSG_MAX];
    vsnprintf(text, sizeof text, fmt, ap);
    fs_utf8_sanitize(text); /* it may quote the client's bytes */
    json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "code", code, "field", field, "message", text,
                          "request_id", fs_req_id(r));
    fs_reply_json(r, status, json_pack("{s:o}", "error", e));
}

/* 400 naming the field at fault. */
__attribute__((format(printf, 3, 4))) static void field_error(fs_req *r, const char *field,
                                                               const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    field_error_v(r, 400, "invalid_field", field, fmt, ap);
    va_end(ap);
}

/* Another status (413, 503) naming the field, with the error's own code. */
__attribute__((format(printf, 5, 6))) static void field_error_status(fs_req *r, unsigned status,
                                                                      const char *code,
                                                                      const char *field,
                                                                      const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    field_error_v(r, status, code, field, fmt, ap);
    va_end(ap);
}

static void reply_err(fs_req *r, fs_err e, const fs_msg *msg) {
    fs_reply_error(r, fs_http_status_for(e), fs_err_name(e), "%s", msg->text);
}

static int auth(fs_req *r, int admin) { return fs_req_authenticate(r, NULL, admin, NULL) == FS_OK; }

/* The {id} path parameter as a positive integer; answers 404 otherwise. */
static int path_id(fs_req *r, const char *what, int64_t *id) {
    const char *s = fs_req_param(r, "id");
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v <= 0 || !isdigit((unsigned char)*s)) {
        fs_reply_error(r, 404, "not_found", "no %s with id '%s'", what, s ? s : "");
        return 0;
    }
    *id = v;
    return 1;
}

static json_t *iso_date(int64_t us) {
    char buf[48];
    fs_rec_iso8601(us, buf, sizeof buf);
    return json_string(buf);
}

/* ---- pagination ------------------------------------------------------------------------- */

typedef struct page {
    int64_t limit, offset;
} page;

static int parse_count(fs_req *r, const char *name, int64_t def, int64_t min, int64_t max,
                       int64_t *out) {
    const char *s = fs_req_query(r, name);
    if (!s) {
        *out = def;
        return 1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        field_error(r, name, "%s must be an integer from %lld to %lld", name, (long long)min,
                    (long long)max);
        return 0;
    }
    *out = v;
    return 1;
}

/* limit/offset, or page (1-based) with page_size, from the query string. */
static int parse_page(fs_req *r, page *p) {
    if (!parse_count(r, "limit", REC_PAGE_DEFAULT, 1, REC_PAGE_MAX, &p->limit)) return 0;
    if (!parse_count(r, "offset", 0, 0, INT32_MAX, &p->offset)) return 0;
    if (fs_req_query(r, "page")) {
        int64_t size = p->limit, pg = 1;
        if (fs_req_query(r, "page_size") &&
            !parse_count(r, "page_size", REC_PAGE_DEFAULT, 1, REC_PAGE_MAX, &size))
            return 0;
        if (!parse_count(r, "page", 1, 1, INT32_MAX / REC_PAGE_MAX, &pg)) return 0;
        p->limit = size;
        p->offset = (pg - 1) * size;
    }
    return 1;
}

/* The Host header when it is a plausible host[:port] (it goes into URLs we hand out). */
static int host_ok(const char *h) {
    if (!h || !*h || strlen(h) > 255) return 0;
    for (const char *c = h; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-:[]_", *c)) return 0;
    return 1;
}

static json_t *page_url(fs_req *r, int64_t limit, int64_t offset) {
    const char *host = fs_req_header(r, "Host");
    char fallback[300];
    if (!host_ok(host)) {
        const fs_server_config *cfg = fs_server_config_of(fs_req_server(r));
        snprintf(fallback, sizeof fallback, "%s:%d", cfg->host, fs_server_port(fs_req_server(r)));
        host = fallback;
    }
    char url[1024];
    snprintf(url, sizeof url, "http://%s%s?limit=%" PRId64 "&offset=%" PRId64, host,
             fs_req_path(r), limit, offset);
    return json_string(url);
}

static void reply_page(fs_req *r, const page *p, int64_t total, json_t *results) {
    json_t *next = p->offset + p->limit < total ? page_url(r, p->limit, p->offset + p->limit)
                                                 : json_null();
    json_t *prev = json_null();
    if (p->offset > 0) {
        int64_t o = p->offset - p->limit;
        prev = page_url(r, p->limit, o < 0 ? 0 : o);
    }
    fs_reply_json(r, 200, json_pack("{s:I, s:o, s:o, s:o}", "count", (json_int_t)total, "next",
                                    next, "previous", prev, "results", results));
}

/* ---- JSON body helpers ------------------------------------------------------------------ */

static json_t *body_object(fs_req *r) {
    fs_msg msg;
    json_t *body = fs_req_json(r, &msg);
    if (!body) {
        fs_reply_error(r, 400, "bad_request", "%s", msg.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        fs_reply_error(r, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return body;
}

/* A name: 1..FS_REC_NAME_MAX bytes without control characters. */
static int valid_text(fs_req *r, json_t *v, const char *field, size_t max, int allow_empty) {
    if (!json_is_string(v)) {
        field_error(r, field, "%s must be a string", field);
        return 0;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if ((!allow_empty && n == 0) || n > max) {
        field_error(r, field, "%s must have %d to %zu bytes", field, allow_empty ? 0 : 1, max);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') {
            field_error(r, field, "%s holds a control character", field);
            return 0;
        }
    return 1;
}

/* Refuses any key of obj outside allowed (NULL-terminated). */
static int known_fields(fs_req *r, json_t *obj, const char *const *allowed, const char *where) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) ok |= !strcmp(key, allowed[i]);
        if (!ok) {
            field_error(r, key, "%s: unknown or read-only field '%s'", where, key);
            return 0;
        }
    }
    return 1;
}

/* ---- specs ------------------------------------------------------------------------------ */

static json_t *spec_json(const fs_rec_spec *s) {
    json_t *labels = json_loads(s->labels_json, 0, NULL);
    return json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:o}", "id", (json_int_t)s->id, "name",
                     s->name, "description", s->description, "labels",
                     labels ? labels : json_array(), "roi", s->detection ? "BBOX" : "NONE",
                     "create_date", iso_date(s->created_us), "update_date",
                     iso_date(s->updated_us));
}

static void spec_create(fs_req *r) {
    if (!auth(r, 1)) return;
    json_t *b = body_object(r);
    if (!b) return;
    static const char *const allowed[] = {"name", "description", "labels", "roi", NULL};
    if (!known_fields(r, b, allowed, "spec")) return;
    json_t *name = json_object_get(b, "name"), *desc = json_object_get(b, "description");
    json_t *labels = json_object_get(b, "labels"), *roi = json_object_get(b, "roi");
    if (!name) return field_error(r, "name", "name is required");
    if (!valid_text(r, name, "name", FS_REC_NAME_MAX, 0)) return;
    if (desc && !valid_text(r, desc, "description", FS_REC_DESCRIPTION_MAX, 1)) return;
    if (!labels) return field_error(r, "labels", "labels is required");
    if (!json_is_array(labels) || json_array_size(labels) == 0 ||
        json_array_size(labels) > REC_LABELS_MAX)
        return field_error(r, "labels", "labels must be an array of 1 to %d names", REC_LABELS_MAX);
    size_t i;
    json_t *l;
    json_array_foreach(labels, i, l) {
        if (!valid_text(r, l, "labels", FS_REC_NAME_MAX, 0)) return;
        for (size_t j = 0; j < i; j++)
            if (json_equal(l, json_array_get(labels, j)))
                return field_error(r, "labels", "label '%s' is given twice", json_string_value(l));
    }
    int detection = 0;
    if (roi) {
        const char *v = json_is_string(roi) ? json_string_value(roi) : "";
        if (strcmp(v, "NONE") && strcmp(v, "BBOX"))
            return field_error(r, "roi", "roi must be \"NONE\" (classification) or \"BBOX\" "
                                         "(detection: labels with boxes)");
        detection = !strcmp(v, "BBOX");
    }
    fs_rec_spec row = {.name = (char *)json_string_value(name),
                       .description = desc ? (char *)json_string_value(desc) : "",
                       .detection = detection};
    row.labels_json = fs_json_dumps(labels, JSON_COMPACT);
    fs_msg msg;
    fs_err e = row.labels_json ? fs_rec_spec_create(fs_req_app(r)->store, &row, &msg)
                               : fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
    free(row.labels_json);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_rec_spec got;
    if ((e = fs_rec_spec_get(fs_req_app(r)->store, row.id, &got, &msg)) != FS_OK)
        return reply_err(r, e, &msg);
    fs_reply_json(r, 201, spec_json(&got));
    fs_rec_spec_clear(&got);
}

static void spec_list(fs_req *r) {
    if (!auth(r, 0)) return;
    page p;
    if (!parse_page(r, &p)) return;
    fs_rec_spec *rows;
    size_t n;
    int64_t total;
    fs_msg msg;
    fs_err e = fs_rec_spec_list(fs_req_app(r)->store, p.limit, p.offset, &rows, &n, &total, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, spec_json(&rows[i]));
    fs_rec_spec_list_free(rows, n);
    reply_page(r, &p, total, arr);
}

static void spec_get(fs_req *r) {
    int64_t id;
    if (!auth(r, 0) || !path_id(r, "recognition spec", &id)) return;
    fs_rec_spec s;
    fs_msg msg;
    fs_err e = fs_rec_spec_get(fs_req_app(r)->store, id, &s, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_reply_json(r, 200, spec_json(&s));
    fs_rec_spec_clear(&s);
}

/* PATCH changes the fields given; PUT needs both name and description. */
static void spec_update(fs_req *r) {
    int64_t id;
    if (!auth(r, 1) || !path_id(r, "recognition spec", &id)) return;
    json_t *b = body_object(r);
    if (!b) return;
    static const char *const allowed[] = {"name", "description", NULL};
    if (!known_fields(r, b, allowed, "spec update (labels and roi are immutable)")) return;
    json_t *name = json_object_get(b, "name"), *desc = json_object_get(b, "description");
    int put = !strcmp(fs_req_method(r), "PUT");
    if (put && !name) return field_error(r, "name", "name is required with PUT");
    if (put && !desc) return field_error(r, "description", "description is required with PUT");
    if (name && !valid_text(r, name, "name", FS_REC_NAME_MAX, 0)) return;
    if (desc && !valid_text(r, desc, "description", FS_REC_DESCRIPTION_MAX, 1)) return;
    fs_msg msg;
    fs_store *st = fs_req_app(r)->store;
    fs_err e = fs_rec_spec_update(st, id, name ? json_string_value(name) : NULL,
                                  desc ? json_string_value(desc) : NULL, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_rec_spec s;
    if ((e = fs_rec_spec_get(st, id, &s, &msg)) != FS_OK) return reply_err(r, e, &msg);
    fs_reply_json(r, 200, spec_json(&s));
    fs_rec_spec_clear(&s);
}

static void spec_delete(fs_req *r) {
    int64_t id;
    if (!auth(r, 1) || !path_id(r, "recognition spec", &id)) return;
    fs_msg msg;
    fs_err e = fs_rec_spec_delete(fs_req_app(r)->store, id, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_reply_bytes(r, 204, "application/json", "", 0);
}

/* ---- networks --------------------------------------------------------------------------- */

static json_t *network_json(const fs_rec_network *n) {
    json_t *pre = json_loads(n->preprocessing_json, 0, NULL);
    return json_pack("{s:I, s:s, s:s, s:{s:i, s:i, s:i}, s:o, s:o, s:s, s:I, s:o, s:o}", "id",
                     (json_int_t)n->id, "name", n->name, "architecture", n->architecture,
                     "input_size", "height", n->input_h, "width", n->input_w, "channels",
                     n->input_c, "preprocessing", pre ? pre : json_object(), "output",
                     *n->output ? json_string(n->output) : json_null(), "sha256", n->sha256,
                     "size", (json_int_t)n->size, "create_date", iso_date(n->created_us),
                     "update_date", iso_date(n->created_us));
}

static int is_number(json_t *v) { return json_is_integer(v) || json_is_real(v); }

/* Checks (and completes with defaults) the preprocessing object of a classifier. */
static int classifier_preprocessing(fs_req *r, json_t *pre) {
    static const char *const allowed[] = {"crop", "margin", NULL};
    if (!known_fields(r, pre, allowed, "preprocessing")) return 0;
    json_t *crop = json_object_get(pre, "crop"), *margin = json_object_get(pre, "margin");
    if (crop) {
        const char *c = json_is_string(crop) ? json_string_value(crop) : "";
        if (strcmp(c, "faces") && strcmp(c, "whole") && strcmp(c, "faces_or_whole")) {
            field_error(r, "preprocessing", "preprocessing.crop must be \"faces\", \"whole\" or "
                                            "\"faces_or_whole\"");
            return 0;
        }
    } else {
        json_object_set_new(pre, "crop", json_string("faces_or_whole"));
    }
    if (margin && (!is_number(margin) || json_number_value(margin) < 0 ||
                   json_number_value(margin) > 4)) {
        field_error(r, "preprocessing", "preprocessing.margin must be a number in [0, 4]");
        return 0;
    }
    if (!margin) json_object_set_new(pre, "margin", json_real(round(FS_FACE_MARGIN_DEFAULT * 1e6) / 1e6));
    return 1;
}

static int cascade_preprocessing(fs_req *r, json_t *pre) {
    static const char *const allowed[] = {"scale_factor", "min_neighbors", "min_size",
                                          "max_size", "max_side", NULL};
    if (!known_fields(r, pre, allowed, "preprocessing")) return 0;
    fs_face_params d = fs_face_params_default();
    json_t *v = json_object_get(pre, "scale_factor");
    if (v && (!is_number(v) || json_number_value(v) < FS_FACE_SCALE_MIN ||
              json_number_value(v) > FS_FACE_SCALE_MAX)) {
        field_error(r, "preprocessing", "preprocessing.scale_factor must be in [%g, %g]",
                    FS_FACE_SCALE_MIN, FS_FACE_SCALE_MAX);
        return 0;
    }
    if (!v) json_object_set_new(pre, "scale_factor", json_real(d.scale_factor));
    const char *ints[] = {"min_neighbors", "min_size", "max_size", "max_side"};
    int defs[] = {d.min_neighbors, d.min_size, d.max_size, d.max_side};
    for (size_t i = 0; i < 4; i++) {
        v = json_object_get(pre, ints[i]);
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
                  json_integer_value(v) > 100000)) {
            field_error(r, "preprocessing", "preprocessing.%s must be an integer in [0, 100000]",
                        ints[i]);
            return 0;
        }
        if (!v) json_object_set_new(pre, ints[i], json_integer(defs[i]));
    }
    return 1;
}

static const char HDF5_MAGIC[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

static int looks_like_hdf5(const fs_form_field *f) {
    if (f->len >= 8 && !memcmp(f->data, HDF5_MAGIC, 8)) return 1;
    size_t n = f->filename ? strlen(f->filename) : 0;
    return (n > 3 && !strcasecmp(f->filename + n - 3, ".h5")) ||
           (n > 5 && !strcasecmp(f->filename + n - 5, ".hdf5")) ||
           (n > 6 && !strcasecmp(f->filename + n - 6, ".keras"));
}

static void network_create(fs_req *r) {
    if (!auth(r, 1)) return;
    const fs_form_field *name = fs_req_form(r, "name"), *arch = fs_req_form(r, "architecture");
    const fs_form_field *pref = fs_req_form(r, "preprocessing"), *file = fs_req_form(r, "file");
    if (!name || name->filename) return field_error(r, "name", "name is required (a form field)");
    json_t *tmp = json_stringn((const char *)name->data, name->len);
    if (!tmp || strlen((const char *)name->data) != name->len) {
        json_decref(tmp);
        return field_error(r, "name", "name must be UTF-8 text without NUL bytes");
    }
    int ok = valid_text(r, tmp, "name", FS_REC_NAME_MAX, 0);
    json_decref(tmp);
    if (!ok) return;
    if (!arch || arch->filename)
        return field_error(r, "architecture", "architecture is required: meso4, mesoinception4 "
                                              "or " REC_ARCH_CASCADE);
    const char *arch_name = (const char *)arch->data;
    const fs_arch *a = NULL;
    int cascade = !strcmp(arch_name, REC_ARCH_CASCADE);
    if (!cascade && !(a = fs_arch_find(arch_name)))
        return field_error(r, "architecture", "unknown architecture '%.64s': use meso4, "
                                              "mesoinception4 or " REC_ARCH_CASCADE, arch_name);
    json_t *pre = json_object();
    if (pref) {
        json_decref(pre);
        pre = json_loadb((const char *)pref->data, pref->len, 0, NULL);
        if (!json_is_object(pre)) {
            json_decref(pre);
            return field_error(r, "preprocessing", "preprocessing must be a JSON object");
        }
    }
    if (!(cascade ? cascade_preprocessing(r, pre) : classifier_preprocessing(r, pre))) {
        json_decref(pre);
        return;
    }
    if (!file || !file->filename) {
        json_decref(pre);
        return field_error(r, "file", "file is required (a file part of the multipart form)");
    }
    if (file->len == 0) {
        json_decref(pre);
        return field_error(r, "file", "file is empty");
    }
    fs_msg msg;
    fs_rec_network row = {.name = (char *)name->data, .architecture = (char *)arch_name,
                          .size = (int64_t)file->len};
    const char *output = "";
    fs_weights w = {0};
    if (cascade) {
        fs_cascade *c = NULL;
        if (fs_cascade_parse((const char *)file->data, file->len, file->filename, &c, &msg) != FS_OK) {
            json_decref(pre);
            return field_error(r, "file", "not a usable OpenCV cascade XML: %s", msg.text);
        }
        row.input_w = fs_cascade_window_w(c);
        row.input_h = fs_cascade_window_h(c);
        row.input_c = 1;
        fs_cascade_free(c);
    } else {
        if (looks_like_hdf5(file)) {
            json_decref(pre);
            return field_error(r, "file",
                               "Keras .h5 files are not accepted over the API (the HDF5 library is "
                               "not hardened against hostile files); convert it first with "
                               "`fakescope models import --arch %s FILE.h5 -o DIR` and upload "
                               "DIR/NAME.safetensors", a->name);
        }
        if (fs_weights_read_safetensors(file->data, file->len, &w, &msg) != FS_OK) {
            json_decref(pre);
            return field_error(r, "file", "not a valid safetensors file: %s", msg.text);
        }
        if (fs_arch_validate(a, &w, &msg) != FS_OK) {
            fs_weights_free(&w);
            json_decref(pre);
            return field_error(r, "file", "the weights do not fit architecture %s: %s", a->name,
                               msg.text);
        }
        /* Whether the sigmoid is P(fake) or P(real) is a fact of the weights (model.h). */
        fs_net *net = NULL;
        if (fs_net_create(&w, a->name, &net, &msg) != FS_OK) {
            fs_weights_free(&w);
            json_decref(pre);
            return field_error(r, "file", "the weights cannot be loaded: %s", msg.text);
        }
        output = fs_net_output_is_fake(net) ? "p_fake" : "p_real";
        fs_net_free(net);
        fs_weights_free(&w);
        row.input_h = a->input_h;
        row.input_w = a->input_w;
        row.input_c = a->input_c;
        row.architecture = (char *)a->name;
    }
    row.output = (char *)output;
    row.preprocessing_json = fs_json_dumps(pre, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(pre);
    fs_store *st = fs_req_app(r)->store;
    fs_err e = row.preprocessing_json ? FS_OK : fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
    if (e == FS_OK) e = fs_store_blob_put(st, file->data, file->len, row.sha256, &msg);
    if (e == FS_OK) e = fs_rec_network_create(st, &row, &msg);
    free(row.preprocessing_json);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_rec_network got;
    if ((e = fs_rec_network_get(st, row.id, &got, &msg)) != FS_OK) return reply_err(r, e, &msg);
    fs_reply_json(r, 201, network_json(&got));
    fs_rec_network_clear(&got);
}

static void network_list(fs_req *r) {
    if (!auth(r, 0)) return;
    page p;
    if (!parse_page(r, &p)) return;
    fs_rec_network *rows;
    size_t n;
    int64_t total;
    fs_msg msg;
    fs_err e = fs_rec_network_list(fs_req_app(r)->store, p.limit, p.offset, &rows, &n, &total, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, network_json(&rows[i]));
    fs_rec_network_list_free(rows, n);
    reply_page(r, &p, total, arr);
}

static void network_get(fs_req *r) {
    int64_t id;
    if (!auth(r, 0) || !path_id(r, "network", &id)) return;
    fs_rec_network n;
    fs_msg msg;
    fs_err e = fs_rec_network_get(fs_req_app(r)->store, id, &n, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_reply_json(r, 200, network_json(&n));
    fs_rec_network_clear(&n);
}

static void network_delete(fs_req *r) {
    int64_t id;
    if (!auth(r, 1) || !path_id(r, "network", &id)) return;
    fs_msg msg;
    fs_err e = fs_rec_network_delete(fs_req_app(r)->store, id, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_reply_bytes(r, 204, "application/json", "", 0);
}

/* ---- versions --------------------------------------------------------------------------- */

static json_t *version_json(const fs_rec_version *v, int with_post) {
    json_t *o = json_pack("{s:I, s:I, s:s, s:I, s:s, s:o}", "id", (json_int_t)v->id, "spec_id",
                          (json_int_t)v->spec_id, "spec_name", v->spec_name, "network_id",
                          (json_int_t)v->network_id, "network_name", v->network_name,
                          "update_date", iso_date(v->created_us));
    if (o && with_post) {
        json_t *post = json_loads(v->post_json, 0, NULL);
        json_object_set_new(o, "post_processings", post ? post : json_array());
    }
    return o;
}

static void engine_name(int64_t version_id, char *buf, size_t cap) {
    snprintf(buf, cap, REC_ENGINE_PREFIX "%" PRId64, version_id);
}

/* Registers a classification version's network with the engine. */
static fs_err engine_register(fs_app *app, int64_t version_id, const fs_rec_network *n,
                              fs_msg *msg) {
    uint8_t *data = NULL;
    size_t len = 0;
    fs_err e = fs_store_blob_get(app->store, n->sha256, (size_t)n->size + 1, &data, &len, msg);
    if (e != FS_OK) return e;
    fs_weights w = {0};
    e = fs_weights_read_safetensors(data, len, &w, msg);
    free(data);
    if (e != FS_OK) return e;
    char name[FS_DETECT_NAME_MAX];
    engine_name(version_id, name, sizeof name);
    e = fs_engine_add(app->engine, name, &w, n->architecture, !strcmp(n->output, "p_fake"), msg);
    fs_weights_free(&w);
    return e;
}

/* Checks one thresholds array against the spec's labels. */
static int valid_thresholds(fs_req *r, json_t *t, size_t n_labels, const char *field) {
    if (!json_is_array(t) || json_array_size(t) != n_labels) {
        field_error(r, field, "%s must be an array of %zu numbers, one per label of the spec",
                    field, n_labels);
        return 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v) {
        if (!is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0 ||
            json_number_value(v) > 1) {
            field_error(r, field, "%s[%zu] must be a number in [0, 1]", field, i);
            return 0;
        }
    }
    return 1;
}

static int json_positive_id(json_t *v, int64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) <= 0) return 0;
    *out = json_integer_value(v);
    return 1;
}

/* Validates post_processings against the spec and the network. */
static int valid_post(fs_req *r, json_t *post, const fs_rec_spec *spec, const fs_rec_network *net) {
    if (!json_is_array(post) || json_array_size(post) != 1 ||
        !json_is_object(json_array_get(post, 0)))
        return field_error(r, "post_processings", "post_processings must be an array of one "
                                                  "object"), 0;
    json_t *pp = json_array_get(post, 0);
    json_t *cls = json_object_get(pp, "classification"), *det = json_object_get(pp, "detection");
    if (json_object_size(pp) != 1 || (!cls && !det))
        return field_error(r, "post_processings", "post_processings[0] must have exactly one of "
                                                  "\"classification\" or \"detection\""), 0;
    json_t *labels = json_loads(spec->labels_json, 0, NULL);
    size_t n_labels = json_array_size(labels);
    int cascade = !strcmp(net->architecture, REC_ARCH_CASCADE);
    int ok = 0;
    if (cls) {
        static const char *const allowed[] = {"thresholds", "output_tensor", NULL};
        if (!json_is_object(cls)) {
            field_error(r, "post_processings", "classification must be an object");
        } else if (!known_fields(r, cls, allowed, "classification")) {
        } else if (spec->detection) {
            field_error(r, "post_processings", "spec %" PRId64 " is a detection spec (roi BBOX): "
                        "use \"detection\"", spec->id);
        } else if (cascade) {
            field_error(r, "network_id", "network %" PRId64 " is a face cascade: it can only "
                        "implement a detection spec", net->id);
        } else if (valid_thresholds(r, json_object_get(cls, "thresholds"), n_labels,
                                    "post_processings.classification.thresholds")) {
            ok = 1;
            size_t i;
            json_t *l;
            /* A MesoNet answers one probability: its labels can only be "fake" and "real". */
            json_array_foreach(labels, i, l) {
                const char *s = json_string_value(l);
                if (ok && strcasecmp(s, "fake") && strcasecmp(s, "real")) {
                    field_error(r, "spec_id", "label '%s' of spec %" PRId64 " is not one a %s "
                                "network answers: its labels must be \"fake\" and/or \"real\"",
                                s, spec->id, net->architecture);
                    ok = 0;
                }
            }
        }
    } else {
        static const char *const allowed[] = {"thresholds", "nms_threshold", NULL};
        json_t *nms = json_is_object(det) ? json_object_get(det, "nms_threshold") : NULL;
        if (!json_is_object(det)) {
            field_error(r, "post_processings", "detection must be an object");
        } else if (!known_fields(r, det, allowed, "detection")) {
        } else if (!spec->detection) {
            field_error(r, "post_processings", "spec %" PRId64 " is a classification spec (roi "
                        "NONE): use \"classification\"", spec->id);
        } else if (!cascade) {
            field_error(r, "network_id", "network %" PRId64 " (%s) is a classifier: detection "
                        "needs a " REC_ARCH_CASCADE " network", net->id, net->architecture);
        } else if (n_labels != 1) {
            field_error(r, "spec_id", "a face cascade finds one kind of object: spec %" PRId64
                        " must have exactly one label", spec->id);
        } else if (!valid_thresholds(r, json_object_get(det, "thresholds"), n_labels,
                                     "post_processings.detection.thresholds")) {
        } else if (!nms || !is_number(nms) || json_number_value(nms) < 0 ||
                   json_number_value(nms) > 1) {
            field_error(r, "post_processings.detection.nms_threshold",
                        "nms_threshold (a number in [0, 1]) is required");
        } else {
            ok = 1;
        }
    }
    json_decref(labels);
    return ok;
}

static void version_create(fs_req *r) {
    if (!auth(r, 1)) return;
    json_t *b = body_object(r);
    if (!b) return;
    static const char *const allowed[] = {"spec_id", "network_id", "post_processings", NULL};
    if (!known_fields(r, b, allowed, "version")) return;
    int64_t spec_id, net_id;
    if (!json_object_get(b, "spec_id")) return field_error(r, "spec_id", "spec_id is required");
    if (!json_positive_id(json_object_get(b, "spec_id"), &spec_id))
        return field_error(r, "spec_id", "spec_id must be a positive integer");
    if (!json_object_get(b, "network_id"))
        return field_error(r, "network_id", "network_id is required");
    if (!json_positive_id(json_object_get(b, "network_id"), &net_id))
        return field_error(r, "network_id", "network_id must be a positive integer");
    json_t *post = json_object_get(b, "post_processings");
    if (!post) return field_error(r, "post_processings", "post_processings is required");
    fs_app *app = fs_req_app(r);
    fs_msg msg;
    fs_rec_spec spec;
    fs_rec_network net;
    fs_err e = fs_rec_spec_get(app->store, spec_id, &spec, &msg);
    if (e == FS_ERR_NOTFOUND) return field_error(r, "spec_id", "no recognition spec with id %"
                                                 PRId64, spec_id);
    if (e != FS_OK) return reply_err(r, e, &msg);
    e = fs_rec_network_get(app->store, net_id, &net, &msg);
    if (e != FS_OK) {
        fs_rec_spec_clear(&spec);
        if (e == FS_ERR_NOTFOUND)
            return field_error(r, "network_id", "no network with id %" PRId64, net_id);
        return reply_err(r, e, &msg);
    }
    if (!valid_post(r, post, &spec, &net)) goto out;
    fs_rec_version v = {.spec_id = spec_id, .network_id = net_id};
    v.post_json = fs_json_dumps(post, JSON_COMPACT);
    e = v.post_json ? fs_rec_version_create(app->store, &v, &msg)
                    : fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
    free(v.post_json);
    if (e == FS_ERR_NOTFOUND) { /* deleted meanwhile */
        field_error(r, strncmp(msg.text, "spec_id", 7) ? "network_id" : "spec_id", "%s", msg.text);
        goto out;
    }
    if (e != FS_OK) {
        reply_err(r, e, &msg);
        goto out;
    }
    if (strcmp(net.architecture, REC_ARCH_CASCADE) &&
        (e = engine_register(app, v.id, &net, &msg)) != FS_OK) {
        fs_msg ignored;
        fs_rec_version_delete(app->store, v.id, &ignored);
        fs_msg_prefix(&msg, "network %" PRId64 " cannot be loaded: ", net_id);
        reply_err(r, e == FS_ERR_NOTFOUND ? FS_ERR_INTERNAL : e, &msg);
        goto out;
    }
    fs_rec_version got;
    if ((e = fs_rec_version_get(app->store, v.id, &got, &msg)) != FS_OK) {
        reply_err(r, e, &msg);
        goto out;
    }
    fs_reply_json(r, 201, version_json(&got, 1));
    fs_rec_version_clear(&got);
out:
    fs_rec_spec_clear(&spec);
    fs_rec_network_clear(&net);
}

static void version_list_common(fs_req *r, int64_t spec_id) {
    page p;
    if (!parse_page(r, &p)) return;
    fs_rec_version *rows;
    size_t n;
    int64_t total;
    fs_msg msg;
    fs_err e = fs_rec_version_list(fs_req_app(r)->store, spec_id, p.limit, p.offset, &rows, &n,
                                   &total, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, version_json(&rows[i], 0));
    fs_rec_version_list_free(rows, n);
    reply_page(r, &p, total, arr);
}

static void version_list(fs_req *r) {
    if (!auth(r, 0)) return;
    version_list_common(r, 0);
}

static void spec_versions(fs_req *r) {
    int64_t id;
    if (!auth(r, 0) || !path_id(r, "recognition spec", &id)) return;
    fs_rec_spec s;
    fs_msg msg;
    fs_err e = fs_rec_spec_get(fs_req_app(r)->store, id, &s, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_rec_spec_clear(&s);
    version_list_common(r, id);
}

static void version_get(fs_req *r) {
    int64_t id;
    if (!auth(r, 0) || !path_id(r, "recognition version", &id)) return;
    fs_rec_version v;
    fs_msg msg;
    fs_err e = fs_rec_version_get(fs_req_app(r)->store, id, &v, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_reply_json(r, 200, version_json(&v, 1));
    fs_rec_version_clear(&v);
}

static void version_delete(fs_req *r) {
    int64_t id;
    if (!auth(r, 1) || !path_id(r, "recognition version", &id)) return;
    fs_msg msg;
    fs_app *app = fs_req_app(r);
    fs_err e = fs_rec_version_delete(app->store, id, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    char name[FS_DETECT_NAME_MAX];
    engine_name(id, name, sizeof name);
    fs_engine_remove(app->engine, name, &msg); /* NOTFOUND for detection versions: fine */
    fs_reply_bytes(r, 204, "application/json", "", 0);
}

/* ---- inference -------------------------------------------------------------------------- */

/* Standard or URL-safe base64, whitespace ignored, padding optional, into a malloc'd buffer.
 * OpenSSL decodes; this adds the alphabet check and the re-padding it lacks. */
static int base64_decode_any(const char *in, size_t n, uint8_t **out, size_t *out_len) {
    char *clean = malloc(n + 4);
    if (!clean) return 0;
    size_t m = 0, pad = 0;
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        char c = in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (c == '-') c = '+';
        else if (c == '_') c = '/';
        bad = pad > 0 || (!isalnum((unsigned char)c) && c != '+' && c != '/');
        clean[m++] = c;
    }
    if (bad || pad > 2 || m == 0 || m % 4 == 1) {
        free(clean);
        return 0;
    }
    size_t padded = (m + 3) / 4 * 4;
    memset(clean + m, '=', padded - m);
    size_t decoded = m / 4 * 3 + (m % 4 ? m % 4 - 1 : 0);
    uint8_t *buf = malloc(padded / 4 * 3 + 1);
    int got = buf ? EVP_DecodeBlock(buf, (const unsigned char *)clean, (int)padded) : -1;
    free(clean);
    if (got < 0 || (size_t)got < decoded) {
        free(buf);
        return 0;
    }
    *out = buf;
    *out_len = decoded;
    return 1;
}

/* The bytes of one input's source, into a malloc'd buffer: an http(s) URL is fetched here, in
 * the request, with the image check's limits and address policy (so a refused URL is an
 * answer at once, and the task input names the fetched bytes by their SHA-256); a data URL
 * ("data:image/jpeg;base64,...") or bare base64 is decoded. field names the source. */
static int decode_source(fs_req *r, const char *field, const char *src, size_t n, uint8_t **out,
                         size_t *len) {
    if (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8)) {
        fs_app *app = fs_req_app(r);
        fs_fetch_opts fo = fs_fetch_opts_default();
        if (app->cfg->fetch_max_bytes) fo.max_bytes = app->cfg->fetch_max_bytes;
        if (app->cfg->fetch_timeout_s > 0) fo.timeout_ms = app->cfg->fetch_timeout_s * 1000;
        double left = fs_req_remaining_ms(r);
        if (left < fo.timeout_ms) fo.timeout_ms = left > 1 ? (int)left : 1;
        fo.allow_private = app->cfg->allow_private_urls;
        fo.first_hop = app->cfg->fetch_first_hop;
        fs_msg msg;
        fs_err e = fs_fetch(src, &fo, out, len, &msg);
        if (e == FS_ERR_LIMIT || e == FS_ERR_NOMEM) {
            field_error_status(r, e == FS_ERR_LIMIT ? 413 : 503, fs_err_name(e), field, "%s: %s",
                               field, msg.text);
            return 0;
        }
        if (e != FS_OK) {
            field_error(r, field, "%s: %s", field, msg.text);
            return 0;
        }
        if (*len == 0) {
            free(*out);
            *out = NULL;
            field_error(r, field, "%s: the URL answered an empty body", field);
            return 0;
        }
        return 1;
    }
    if (!strncmp(src, "data:", 5)) {
        const char *comma = memchr(src, ',', n);
        if (!comma || !memmem(src, (size_t)(comma - src), ";base64", 7)) {
            field_error(r, field, "a data URL source must be base64 (data:MIME;base64,...)");
            return 0;
        }
        n -= (size_t)(comma + 1 - src);
        src = comma + 1;
    }
    if (!base64_decode_any(src, n, out, len) || *len == 0) {
        field_error(r, field, "the source is not valid base64, a data URL nor an http(s) URL");
        return 0;
    }
    return 1;
}

/* 1 when the version's post-processing is a detection (cascade boxes, images only). */
static int version_is_detection(const fs_rec_version *v) {
    json_t *post = json_loads(v->post_json, 0, NULL);
    int det = json_object_get(json_array_get(post, 0), "detection") != NULL;
    json_decref(post);
    return det;
}

static void version_inference(fs_req *r) {
    int64_t id;
    if (!auth(r, 0) || !path_id(r, "recognition version", &id)) return;
    fs_app *app = fs_req_app(r);
    fs_msg msg;
    fs_rec_version v;
    fs_err e = fs_rec_version_get(app->store, id, &v, &msg);
    if (e != FS_OK) return reply_err(r, e, &msg);
    int detection = version_is_detection(&v);
    fs_rec_version_clear(&v);
    json_t *b = body_object(r);
    if (!b) return;
    json_t *inputs = json_object_get(b, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) == 0 ||
        json_array_size(inputs) > REC_INPUTS_MAX)
        return field_error(r, "inputs", "inputs must be an array of 1 to %d objects",
                           REC_INPUTS_MAX);
    /* Every input is decoded (or fetched) before any is stored, so a refused request stores
     * nothing. An input is {"image": {"source"}} or, for a classification version,
     * {"video": {"source"}}; the scan pipeline tells them apart by content in the worker. */
    uint8_t *data[REC_INPUTS_MAX] = {0};
    size_t lens[REC_INPUTS_MAX] = {0}, n_in = json_array_size(inputs), i;
    json_t *media = json_array();
    int ok = media != NULL;
    for (i = 0; ok && i < n_in; i++) {
        json_t *in = json_array_get(inputs, i);
        const char *kind = json_object_get(in, "video") ? "video" : "image";
        json_t *src = json_object_get(json_object_get(in, kind), "source");
        char field[64];
        snprintf(field, sizeof field, "inputs[%zu].%s.source", i, kind);
        if (!json_is_string(src)) {
            field_error(r, field, "%s (a string) is required: inputs are {\"image\": {\"source\": "
                                  "...}} or {\"video\": {\"source\": ...}}", field);
            ok = 0;
        } else if (detection && !strcmp(kind, "video")) {
            snprintf(field, sizeof field, "inputs[%zu].video", i);
            field_error(r, field, "a detection version takes image inputs only; video inputs "
                                  "need a classification version");
            ok = 0;
        } else {
            ok = decode_source(r, field, json_string_value(src), json_string_length(src),
                               &data[i], &lens[i]);
        }
    }
    for (i = 0; ok && i < n_in; i++) {
        fs_media_info info;
        if ((e = fs_store_media_put(app->store, data[i], lens[i], NULL, &info, &msg)) != FS_OK) {
            reply_err(r, e, &msg);
            ok = 0;
        } else {
            json_array_append_new(media, json_string(info.sha256));
        }
    }
    for (i = 0; i < n_in; i++) free(data[i]);
    if (!ok) {
        if (!media) fs_reply_error(r, 503, "no_memory", "out of memory");
        json_decref(media);
        return;
    }
    json_t *doc = json_pack("{s:I, s:o}", "version_id", (json_int_t)id, "media", media);
    char *text = doc ? fs_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    char hex[FS_SHA256_HEX], task_id[FS_TASK_ID_LEN + 1];
    e = text ? fs_store_blob_put(app->store, text, strlen(text), hex, &msg)
             : fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
    free(text);
    int joined = 0;
    if (e == FS_OK) e = fs_jobs_submit(app->jobs, REC_TASK_KIND, hex, task_id, &joined, &msg);
    if (e == FS_ERR_LIMIT) {
        /* The shared queue is full: ask the client to come back, as every dialect does. */
        fs_utf8_sanitize(msg.text);
        fs_reply_queue_full(r, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "queue_full", "message",
                                         msg.text, "request_id", fs_req_id(r)));
        return;
    }
    if (e != FS_OK) return reply_err(r, e, &msg);
    fs_reply_json(r, 200, json_pack("{s:s}", "task_id", task_id));
}

/* ---- the worker ------------------------------------------------------------------------- */

static json_t *label_entry(size_t id, const char *name, double score, double threshold) {
    return json_pack("{s:I, s:s, s:f, s:f}", "label_id", (json_int_t)id, "label_name", name,
                     "score", score, "threshold", threshold);
}

static fs_scan_opts scan_opts_for(json_t *pre) {
    fs_scan_opts o = fs_scan_opts_default();
    const char *crop = json_string_value(json_object_get(pre, "crop"));
    o.crop = crop && !strcmp(crop, "faces")   ? FS_CROP_FACES
             : crop && !strcmp(crop, "whole") ? FS_CROP_WHOLE
                                              : FS_CROP_FACES_OR_WHOLE;
    json_t *m = json_object_get(pre, "margin");
    if (m) o.margin = (float)json_number_value(m);
    o.sampling.count = REC_VIDEO_FRAMES; /* images ignore it */
    return o;
}

/* One image or video through a classification version: the labels ("fake": P(fake), "real": 1 - it). */
static fs_err run_classification(fs_app *app, int64_t version_id, json_t *labels, json_t *pre,
                                 json_t *thresholds, const fs_media_decoder *dec,
                                 const uint8_t *data, size_t len, json_t **out, fs_msg *msg) {
    char name[FS_DETECT_NAME_MAX];
    engine_name(version_id, name, sizeof name);
    const char *names[1] = {name};
    fs_scanner *sc;
    fs_err e = fs_engine_acquire(app->engine, names, 1, &sc, msg);
    if (e != FS_OK) return e;
    fs_scan_opts o = scan_opts_for(pre);
    o.decoder = dec;
    fs_scan_result res = {0};
    e = fs_scan_memory(sc, data, len, &o, &res, msg);
    fs_engine_release(app->engine, sc);
    if (e != FS_OK) return e;
    json_t *pred = json_array(), *disc = json_array();
    int scored = res.overall.status == FS_VERDICT_OK;
    double p_fake = scored ? res.overall.models[0].mean : 0;
    size_t i;
    json_t *l;
    json_array_foreach(labels, i, l) {
        if (!scored) break;
        const char *ln = json_string_value(l);
        double score = strcasecmp(ln, "fake") ? 1.0 - p_fake : p_fake;
        double thr = json_number_value(json_array_get(thresholds, i));
        json_array_append_new(score > thr ? pred : disc, label_entry(i, ln, score, thr));
    }
    *out = json_pack("{s:{s:o, s:o}, s:s, s:b, s:s}", "labels", "predicted", pred, "discarded",
                     disc, "status", fs_verdict_status_name(res.overall.status), "whole_image",
                     res.whole_image, "media", res.is_video ? "video" : "image");
    if (*out && res.is_video) {
        /* A clip is judged as the video dialects judge it: sampled frames, main person. */
        json_object_set_new(*out, "frames_sampled", json_integer(res.n_frames));
        json_object_set_new(*out, "people", json_integer(res.n_people));
        json_object_set_new(*out, "main_person", json_integer(res.main_person));
    }
    if (*out && !scored)
        json_object_set_new(
            *out, "message",
            json_string(res.overall.status == FS_VERDICT_NO_FACE
                            ? (res.is_video ? "no face was found in any sampled frame: the video "
                                              "is not judged"
                                            : "no face was found in the image: it is not judged "
                                              "(a network with crop \"faces_or_whole\" judges "
                                              "the whole picture)")
                            : "no face could be scored: the media is not judged"));
    fs_scan_result_free(&res);
    return *out ? FS_OK : fs_fail(msg, FS_ERR_NOMEM, "out of memory");
}

static fs_face_params face_params_for(json_t *pre) {
    fs_face_params p = fs_face_params_default();
    json_t *v;
    if ((v = json_object_get(pre, "scale_factor"))) p.scale_factor = json_number_value(v);
    if ((v = json_object_get(pre, "min_neighbors"))) p.min_neighbors = (int)json_integer_value(v);
    if ((v = json_object_get(pre, "min_size"))) p.min_size = (int)json_integer_value(v);
    if ((v = json_object_get(pre, "max_size"))) p.max_size = (int)json_integer_value(v);
    if ((v = json_object_get(pre, "max_side"))) p.max_side = (int)json_integer_value(v);
    return p;
}

/* One image through a detection version: cascade boxes scored by their neighbours, kept when
 * the score passes the label's threshold, then NMS at nms_threshold. */
static fs_err run_detection(const fs_cascade *c, json_t *labels, json_t *pre, json_t *det,
                            const fs_media_decoder *dec, const uint8_t *data, size_t len,
                            json_t **out, fs_msg *msg) {
    fs_image img = {0};
    fs_image_limits lim = fs_image_limits_default();
    fs_err e = dec ? dec->decode_image(dec->ctx, data, len, &lim, &img, msg)
                   : fs_image_decode(data, len, &lim, &img, msg);
    if (e != FS_OK) return e;
    fs_face_params p = face_params_for(pre);
    fs_face *faces = NULL;
    size_t n = 0;
    e = fs_face_detect(c, &img, &p, &faces, &n, msg);
    int w = img.w, h = img.h;
    fs_image_free(&img);
    if (e != FS_OK) return e;
    double thr = json_number_value(json_array_get(json_object_get(det, "thresholds"), 0));
    float nms = (float)json_number_value(json_object_get(det, "nms_threshold"));
    const char *label = json_string_value(json_array_get(labels, 0));
    fs_rectf *boxes = malloc((n ? n : 1) * sizeof *boxes);
    float *scores = malloc((n ? n : 1) * sizeof *scores);
    size_t *keep = malloc((n ? n : 1) * sizeof *keep), *src = malloc((n ? n : 1) * sizeof *src);
    json_t *pred = json_array(), *disc = json_array();
    if (!boxes || !scores || !keep || !src || !pred || !disc) {
        e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float s = (float)(faces[i].neighbors / (faces[i].neighbors + REC_NEIGHBOR_HALF));
        fs_box b = faces[i].box;
        if ((double)s > thr) {
            boxes[m] = (fs_rectf){(float)b.x, (float)b.y, (float)b.w, (float)b.h};
            scores[m] = s;
            src[m++] = i;
        } else {
            json_t *d = label_entry(0, label, s, thr);
            json_object_set_new(d, "roi", json_pack("{s:{s:i, s:i, s:i, s:i}}", "box", "x", b.x,
                                                    "y", b.y, "w", b.w, "h", b.h));
            json_array_append_new(disc, d);
        }
    }
    size_t k = fs_nms(boxes, scores, m, nms, keep);
    for (size_t j = 0; j < k; j++) {
        const fs_face *f = &faces[src[keep[j]]];
        json_t *d = label_entry(0, label, scores[keep[j]], thr);
        json_object_set_new(
            d, "roi",
            json_pack("{s:{s:f, s:f, s:f, s:f}, s:{s:i, s:i, s:i, s:i}, s:i}", "bbox", "xmin",
                      (double)f->box.x / w, "ymin", (double)f->box.y / h, "xmax",
                      (double)(f->box.x + f->box.w) / w, "ymax", (double)(f->box.y + f->box.h) / h,
                      "box", "x", f->box.x, "y", f->box.y, "w", f->box.w, "h", f->box.h,
                      "neighbors", f->neighbors));
        json_array_append_new(pred, d);
    }
    *out = json_pack("{s:{s:O, s:O}, s:i, s:i}", "labels", "predicted", pred, "discarded", disc,
                     "width", w, "height", h);
    if (!*out) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
done:
    json_decref(pred);
    json_decref(disc);
    free(boxes);
    free(scores);
    free(keep);
    free(src);
    free(faces);
    return e;
}

/* Runs one claimed task: writes its result blob into result_hex. */
static fs_err run_task(fs_app *app, const fs_task *t, double deadline_ms,
                       char result_hex[FS_SHA256_HEX], fs_msg *msg) {
    uint8_t *bytes;
    size_t len;
    fs_err e = fs_store_blob_get(app->store, t->input_ref, REC_RESULT_MAX_BYTES, &bytes, &len, msg);
    if (e != FS_OK) return e;
    json_t *doc = json_loadb((const char *)bytes, len, 0, NULL);
    free(bytes);
    if (!doc) return fs_fail(msg, FS_ERR_FORMAT, "unreadable task input");
    int64_t vid = json_integer_value(json_object_get(doc, "version_id"));
    json_t *media = json_object_get(doc, "media");
    fs_rec_version v = {0};
    fs_rec_spec spec = {0};
    fs_rec_network net = {0};
    fs_cascade *cascade = NULL;
    json_t *labels = NULL, *pre = NULL, *post = NULL, *outputs = json_array();
    if ((e = fs_rec_version_get(app->store, vid, &v, msg)) != FS_OK ||
        (e = fs_rec_spec_get(app->store, v.spec_id, &spec, msg)) != FS_OK ||
        (e = fs_rec_network_get(app->store, v.network_id, &net, msg)) != FS_OK) {
        if (e == FS_ERR_NOTFOUND) fs_msg_prefix(msg, "the version is gone: ");
        goto done;
    }
    labels = json_loads(spec.labels_json, 0, NULL);
    pre = json_loads(net.preprocessing_json, 0, NULL);
    post = json_loads(v.post_json, 0, NULL);
    json_t *pp = json_array_get(post, 0);
    json_t *det = json_object_get(pp, "detection");
    if (!labels || !pre || !pp || !outputs) {
        e = fs_fail(msg, FS_ERR_FORMAT, "version %" PRId64 ": unreadable record", vid);
        goto done;
    }
    if (det) {
        uint8_t *xml;
        size_t xml_len;
        if ((e = fs_store_blob_get(app->store, net.sha256, (size_t)net.size + 1, &xml, &xml_len,
                                   msg)) != FS_OK)
            goto done;
        e = fs_cascade_parse((const char *)xml, xml_len, net.name, &cascade, msg);
        free(xml);
        if (e != FS_OK) goto done;
    }
    size_t i, failed = 0;
    json_t *sha;
    fs_err first = FS_OK;
    json_array_foreach(media, i, sha) {
        fs_media_info info;
        uint8_t *data = NULL;
        size_t n = 0;
        json_t *one = NULL;
        fs_msg m2;
        e = fs_store_media_get(app->store, json_string_value(sha), &info, &m2);
        if (e == FS_OK)
            e = fs_store_blob_get(app->store, json_string_value(sha), (size_t)info.size + 1, &data,
                                  &n, &m2);
        char label[64];
        snprintf(label, sizeof label, "task %s", t->id);
        fs_media_call call;
        fs_media_decoder dec_fns;
        const fs_media_decoder *dec = fs_app_decoder(app, label, deadline_ms, &call, &dec_fns);
        if (e == FS_OK)
            e = det ? run_detection(cascade, labels, pre, det, dec, data, n, &one, &m2)
                    : run_classification(app, vid, labels, pre,
                                         json_object_get(json_object_get(pp, "classification"),
                                                         "thresholds"),
                                         dec, data, n, &one, &m2);
        free(data);
        if (e != FS_OK) {
            one = json_pack("{s:s, s:s}", "error", m2.text, "code", fs_err_name(e));
            if (failed++ == 0) {
                first = e;
                *msg = m2;
            }
        }
        json_array_append_new(outputs, one);
        e = FS_OK;
        fs_store_task_progress(app->store, t->id, (double)(i + 1) / json_array_size(media), NULL);
    }
    /* A task whose every input failed failed; otherwise each output says how it went. */
    if (failed == json_array_size(media)) {
        e = first;
        goto done;
    }
    json_t *result = json_pack("{s:O}", "outputs", outputs);
    char *text = result ? fs_json_dumps(result, JSON_COMPACT) : NULL;
    json_decref(result);
    e = text ? fs_store_blob_put(app->store, text, strlen(text), result_hex, msg)
             : fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    free(text);
done:
    fs_cascade_free(cascade);
    json_decref(doc);
    json_decref(labels);
    json_decref(pre);
    json_decref(post);
    json_decref(outputs);
    fs_rec_version_clear(&v);
    fs_rec_spec_clear(&spec);
    fs_rec_network_clear(&net);
    return e;
}

/* The jobs queue's handler for REC_TASK_KIND: the result document is a blob. */
static fs_err rec_job(void *ctx, fs_job_run *run, const fs_task *task, char result_ref[256],
                      fs_msg *msg) {
    char hex[FS_SHA256_HEX] = "";
    fs_err e = run_task(ctx, task, fs_now_ms() + fs_job_remaining_ms(run), hex, msg);
    if (e == FS_OK) snprintf(result_ref, 256, "%s", hex);
    return e;
}

/* ---- registration ----------------------------------------------------------------------- */

/* The engine's resolver: a "version:<id>" this node does not know was created through another
 * node sharing the store; it is loaded from the store's rows and blob on first use. Asked
 * whether a version it has is still there (check), it answers FS_ERR_NOTFOUND only when the
 * row is gone (deleted through another node); a store that does not answer keeps it. */
static fs_err resolve_version(void *ctx, fs_engine *engine, const char *name, int check,
                              fs_msg *msg) {
    fs_app *app = ctx;
    (void)engine;
    size_t plen = strlen(REC_ENGINE_PREFIX);
    int is_version = !strncmp(name, REC_ENGINE_PREFIX, plen);
    if (!is_version) return check ? FS_OK : fs_fail(msg, FS_ERR_NOTFOUND, "not a version");
    char *end;
    errno = 0;
    long long id = strtoll(name + plen, &end, 10);
    if (errno || *end || id <= 0) return check ? FS_OK : fs_fail(msg, FS_ERR_NOTFOUND, "not a version");
    fs_rec_version v;
    fs_err e = fs_rec_version_get(app->store, id, &v, msg);
    if (check) {
        if (e == FS_OK) fs_rec_version_clear(&v);
        if (e == FS_ERR_NOTFOUND) fs_log(FS_LOG_INFO, "recognition: version %lld was deleted (on another node): unloaded", id);
        return e == FS_ERR_NOTFOUND ? e : FS_OK;
    }
    if (e != FS_OK) return e;
    fs_rec_network net;
    e = fs_rec_network_get(app->store, v.network_id, &net, msg);
    fs_rec_version_clear(&v);
    if (e != FS_OK) return e;
    if (!strcmp(net.architecture, REC_ARCH_CASCADE)) e = fs_fail(msg, FS_ERR_NOTFOUND, "a detection version");
    else e = engine_register(app, id, &net, msg);
    fs_rec_network_clear(&net);
    if (e == FS_OK) fs_log(FS_LOG_INFO, "recognition: version %lld loaded on first use (created on another node)", id);
    return e;
}

/* Registers every stored classification version with the engine. */
static void load_versions(fs_app *app) {
    int64_t offset = 0, total = 0, loaded = 0;
    do {
        fs_rec_version *rows;
        size_t n;
        fs_msg msg;
        if (fs_rec_version_list(app->store, 0, FS_REC_LIST_MAX, offset, &rows, &n, &total, &msg) != FS_OK) {
            fs_log(FS_LOG_ERROR, "recognition: cannot list versions: %s", msg.text);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            fs_rec_network net;
            if (fs_rec_network_get(app->store, rows[i].network_id, &net, &msg) != FS_OK) continue;
            if (strcmp(net.architecture, REC_ARCH_CASCADE)) {
                if (engine_register(app, rows[i].id, &net, &msg) == FS_OK) loaded++;
                else fs_log(FS_LOG_WARN, "recognition: version %" PRId64 " not loaded: %s",
                            rows[i].id, msg.text);
            }
            fs_rec_network_clear(&net);
        }
        fs_rec_version_list_free(rows, n);
        offset += (int64_t)n;
        if (n == 0) break;
    } while (offset < total);
    if (loaded) fs_log(FS_LOG_INFO, "recognition: %" PRId64 " versions loaded", loaded);
}

fs_err fs_routes_recognition(fs_app *app, fs_msg *msg) {
    struct fs_recognition *rec = calloc(1, sizeof *rec);
    if (!rec) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    rec->app = app;
    app->recognition = rec;
    static const struct {
        const char *method, *pattern, *name;
        fs_handler h;
    } routes[] = {
        {"POST", "/v0.7/recognition/specs", "rec_spec_create", spec_create},
        {"GET", "/v0.7/recognition/specs", "rec_spec_list", spec_list},
        {"GET", "/v0.7/recognition/specs/:id", "rec_spec_get", spec_get},
        {"PATCH", "/v0.7/recognition/specs/:id", "rec_spec_patch", spec_update},
        {"PUT", "/v0.7/recognition/specs/:id", "rec_spec_put", spec_update},
        {"DELETE", "/v0.7/recognition/specs/:id", "rec_spec_delete", spec_delete},
        {"GET", "/v0.7/recognition/specs/:id/versions", "rec_spec_versions", spec_versions},
        {"POST", "/v0.7/networks", "rec_network_create", network_create},
        {"GET", "/v0.7/networks", "rec_network_list", network_list},
        {"GET", "/v0.7/networks/:id", "rec_network_get", network_get},
        {"DELETE", "/v0.7/networks/:id", "rec_network_delete", network_delete},
        {"POST", "/v0.7/recognition/versions", "rec_version_create", version_create},
        {"GET", "/v0.7/recognition/versions", "rec_version_list", version_list},
        {"GET", "/v0.7/recognition/versions/:id", "rec_version_get", version_get},
        {"DELETE", "/v0.7/recognition/versions/:id", "rec_version_delete", version_delete},
        {"POST", "/v0.7/recognition/versions/:id/inference", "rec_inference", version_inference},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        fs_err e = fs_server_route(app->server, routes[i].method, routes[i].pattern,
                                   routes[i].name, routes[i].h, msg);
        if (e != FS_OK) return e;
    }
    load_versions(app);
    fs_engine_set_resolver(app->engine, resolve_version, app);
    /* Inference runs on the shared job workers (registered before they start). */
    return fs_jobs_handle(app->jobs, REC_TASK_KIND, rec_job, app, msg);
}

void fs_routes_recognition_release(fs_app *app) {
    struct fs_recognition *rec = app->recognition;
    if (!rec) return;
    free(rec);
    app->recognition = NULL;
}
