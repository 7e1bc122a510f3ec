/* recognition.c: the rows behind the /v0.7 model-management API (fakescope/recognition.h):
 * specs, networks and versions, with limit/offset lists that also count the whole table, and
 * the blob clean-up when the last network using a file goes away. Referential integrity is
 * the database's (foreign keys are on for every connection): a version pins its spec and
 * network, so a delete that would orphan one fails with a constraint violation -> FS_ERR_CONFLICT. */
#include "store_internal.h"

#include "fakescope/recognition.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t fs_rec_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void fs_rec_iso8601(int64_t us, char *buf, size_t cap) {
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%06dZ", day, (int)(us % 1000000));
}

static char *col_dup(db_stmt *st, int col) {
    const char *t = db_col_text(st, col);
    return strdup(t ? (const char *)t : "");
}

void fs_rec_spec_clear(fs_rec_spec *r) {
    free(r->name);
    free(r->description);
    free(r->labels_json);
    memset(r, 0, sizeof *r);
}

void fs_rec_network_clear(fs_rec_network *r) {
    free(r->name);
    free(r->architecture);
    free(r->preprocessing_json);
    free(r->output);
    memset(r, 0, sizeof *r);
}

void fs_rec_version_clear(fs_rec_version *r) {
    free(r->post_json);
    free(r->spec_name);
    free(r->network_name);
    memset(r, 0, sizeof *r);
}

void fs_rec_spec_list_free(fs_rec_spec *r, size_t n) {
    for (size_t i = 0; r && i < n; i++) fs_rec_spec_clear(&r[i]);
    free(r);
}

void fs_rec_network_list_free(fs_rec_network *r, size_t n) {
    for (size_t i = 0; r && i < n; i++) fs_rec_network_clear(&r[i]);
    free(r);
}

void fs_rec_version_list_free(fs_rec_version *r, size_t n) {
    for (size_t i = 0; r && i < n; i++) fs_rec_version_clear(&r[i]);
    free(r);
}

/* ---- row readers: the column order of each SELECT below ---- */

#define SPEC_COLS "id, name, description, detection, labels_json, created_us, updated_us"
#define NET_COLS                                                                                   \
    "id, name, architecture, preprocessing_json, output, input_h, input_w, input_c, sha256, "     \
    "size, created_us"
#define VERSION_COLS                                                                               \
    "v.id, v.spec_id, v.network_id, v.post_json, s.name, n.name, v.created_us"
#define VERSION_FROM                                                                               \
    " FROM rec_versions v JOIN rec_specs s ON s.id = v.spec_id"                                    \
    " JOIN rec_networks n ON n.id = v.network_id"

static int read_spec(db_stmt *st, void *dst) {
    fs_rec_spec *r = dst;
    r->id = db_col_int64(st, 0);
    r->name = col_dup(st, 1);
    r->description = col_dup(st, 2);
    r->detection = (int)db_col_int64(st, 3);
    r->labels_json = col_dup(st, 4);
    r->created_us = db_col_int64(st, 5);
    r->updated_us = db_col_int64(st, 6);
    return r->name && r->description && r->labels_json;
}

static int read_network(db_stmt *st, void *dst) {
    fs_rec_network *r = dst;
    r->id = db_col_int64(st, 0);
    r->name = col_dup(st, 1);
    r->architecture = col_dup(st, 2);
    r->preprocessing_json = col_dup(st, 3);
    r->output = col_dup(st, 4);
    r->input_h = (int)db_col_int64(st, 5);
    r->input_w = (int)db_col_int64(st, 6);
    r->input_c = (int)db_col_int64(st, 7);
    store_col_text(st, 8, r->sha256, sizeof r->sha256);
    r->size = db_col_int64(st, 9);
    r->created_us = db_col_int64(st, 10);
    return r->name && r->architecture && r->preprocessing_json && r->output;
}

static int read_version(db_stmt *st, void *dst) {
    fs_rec_version *r = dst;
    r->id = db_col_int64(st, 0);
    r->spec_id = db_col_int64(st, 1);
    r->network_id = db_col_int64(st, 2);
    r->post_json = col_dup(st, 3);
    r->spec_name = col_dup(st, 4);
    r->network_name = col_dup(st, 5);
    r->created_us = db_col_int64(st, 6);
    return r->post_json && r->spec_name && r->network_name;
}

typedef int (*row_reader)(db_stmt *st, void *dst);

/* Runs a one-row SELECT whose single parameter is id. c is a connection lent by store_acquire. */
static fs_err get_one(db_conn *c, const char *sql, int64_t id, const char *what, row_reader rd,
                      void *dst, void (*clear)(void *), fs_msg *msg) {
    db_stmt *st;
    fs_err e = db_prepare(c, sql, &st, msg);
    if (e != FS_OK) return e;
    db_bind_int64(st, 1, id);
    int rc = db_step(st);
    if (rc == DB_ROW) {
        if (!rd(st, dst)) {
            clear(dst);
            e = fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
        }
    } else if (rc == DB_DONE) {
        e = fs_fail(msg, FS_ERR_NOTFOUND, "no %s with id %lld", what, (long long)id);
    } else {
        e = db_fail(c, msg, what);
    }
    db_finalize(st);
    return e;
}

static void clear_spec(void *p) { fs_rec_spec_clear(p); }
static void clear_network(void *p) { fs_rec_network_clear(p); }
static void clear_version(void *p) { fs_rec_version_clear(p); }

/* Counts with count_sql (param 1 = filter when has_filter), then reads a page with page_sql
 * (params: [filter], limit, offset) into a malloc'd array of elem-sized rows. */
static fs_err list_page(fs_store *s, const char *count_sql, const char *page_sql, int has_filter,
                        int64_t filter, int64_t limit, int64_t offset, row_reader rd,
                        void (*clear)(void *), size_t elem, void **rows, size_t *n,
                        int64_t *total, fs_msg *msg) {
    *rows = NULL;
    *n = 0;
    *total = 0;
    if (limit < 0 || offset < 0) return fs_fail(msg, FS_ERR_INVALID, "negative limit or offset");
    if (limit > FS_REC_LIST_MAX) limit = FS_REC_LIST_MAX;
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st = NULL;
    fs_err e = db_prepare(c, count_sql, &st, msg);
    if (e == FS_OK) {
        if (has_filter) db_bind_int64(st, 1, filter);
        int rc = db_step(st);
        if (rc == DB_ROW) *total = db_col_int64(st, 0);
        else e = db_fail(c, msg, "count");
        db_finalize(st);
    }
    if (e == FS_OK) e = db_prepare(c, page_sql, &st, msg);
    if (e != FS_OK) {
        store_release(s, c);
        return e;
    }
    int p = 1;
    if (has_filter) db_bind_int64(st, p++, filter);
    db_bind_int64(st, p++, limit);
    db_bind_int64(st, p, offset);
    char *arr = limit > 0 ? calloc((size_t)limit, elem) : NULL;
    if (limit > 0 && !arr) e = fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    size_t got = 0;
    while (e == FS_OK && got < (size_t)limit) {
        int rc = db_step(st);
        if (rc == DB_DONE) break;
        if (rc != DB_ROW) {
            e = db_fail(c, msg, "list");
            break;
        }
        if (!rd(st, arr + got * elem)) {
            clear(arr + got * elem);
            e = fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
            break;
        }
        got++;
    }
    db_finalize(st);
    store_release(s, c);
    if (e != FS_OK) {
        for (size_t i = 0; i < got; i++) clear(arr + i * elem);
        free(arr);
        return e;
    }
    *rows = arr;
    *n = got;
    return FS_OK;
}

/* Runs a DELETE by id; FS_ERR_NOTFOUND when no row went. c is a connection lent by store_acquire. */
static fs_err delete_one(db_conn *c, const char *sql, int64_t id, const char *what, fs_msg *msg) {
    db_stmt *st;
    fs_err e = db_prepare(c, sql, &st, msg);
    if (e != FS_OK) return e;
    db_bind_int64(st, 1, id);
    int rc = db_step(st);
    if (rc != DB_DONE) {
        if ((e = db_fail(c, msg, what)) == FS_ERR_CONFLICT)
            fs_fail(msg, FS_ERR_CONFLICT, "%s %lld is used by a recognition version; delete the "
                    "version first", what, (long long)id);
    } else if (db_changes(c) == 0) {
        e = fs_fail(msg, FS_ERR_NOTFOUND, "no %s with id %lld", what, (long long)id);
    }
    db_finalize(st);
    return e;
}

/* Takes the next id of a table from its counter (UPDATE ... RETURNING: one statement, so two
 * processes sharing the file cannot take the same id). c is a connection lent by store_acquire. */
static fs_err next_id(db_conn *c, const char *seq, int64_t *id, fs_msg *msg) {
    db_stmt *st;
    fs_err e = db_prepare(c, "UPDATE rec_sequences SET last = last + 1 WHERE name = ? RETURNING last",
                             &st, msg);
    if (e != FS_OK) return e;
    db_bind_text(st, 1, seq);
    int rc = db_step(st);
    if (rc == DB_ROW) *id = db_col_int64(st, 0);
    else e = rc == DB_DONE ? fs_fail(msg, FS_ERR_INTERNAL, "store: no sequence '%s'", seq)
                               : db_fail(c, msg, "next id");
    db_finalize(st);
    return e;
}

/* ---- specs ---- */

fs_err fs_rec_spec_create(fs_store *s, fs_rec_spec *r, fs_msg *msg) {
    r->created_us = r->updated_us = fs_rec_now_us();
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    int64_t id = 0;
    fs_err e = next_id(c, "spec", &id, msg);
    if (e == FS_OK)
        e = db_prepare(c,
                          "INSERT INTO rec_specs (name, description, detection, labels_json, "
                          "created_us, updated_us, id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          &st, msg);
    if (e == FS_OK) {
        db_bind_int64(st, 7, id);
        db_bind_text(st, 1, r->name);
        db_bind_text(st, 2, r->description ? r->description : "");
        db_bind_int64(st, 3, r->detection ? 1 : 0);
        db_bind_text(st, 4, r->labels_json);
        db_bind_int64(st, 5, r->created_us);
        db_bind_int64(st, 6, r->updated_us);
        int rc = db_step(st);
        if (rc == DB_DONE) r->id = id;
        else e = db_fail(c, msg, "spec insert");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_rec_spec_get(fs_store *s, int64_t id, fs_rec_spec *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    fs_err e = get_one(c, "SELECT " SPEC_COLS " FROM rec_specs WHERE id = ?", id,
                       "recognition spec", read_spec, out, clear_spec, msg);
    store_release(s, c);
    return e;
}

fs_err fs_rec_spec_update(fs_store *s, int64_t id, const char *name, const char *description,
                          fs_msg *msg) {
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c,
                             "UPDATE rec_specs SET name = COALESCE(?, name), description = "
                             "COALESCE(?, description), updated_us = ? WHERE id = ?",
                             &st, msg);
    if (e == FS_OK) {
        if (name) db_bind_text(st, 1, name);
        else db_bind_null(st, 1);
        if (description) db_bind_text(st, 2, description);
        else db_bind_null(st, 2);
        db_bind_int64(st, 3, fs_rec_now_us());
        db_bind_int64(st, 4, id);
        int rc = db_step(st);
        if (rc != DB_DONE) e = db_fail(c, msg, "spec update");
        else if (db_changes(c) == 0)
            e = fs_fail(msg, FS_ERR_NOTFOUND, "no recognition spec with id %lld", (long long)id);
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_rec_spec_delete(fs_store *s, int64_t id, fs_msg *msg) {
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    fs_err e = delete_one(c, "DELETE FROM rec_specs WHERE id = ?", id, "recognition spec", msg);
    store_release(s, c);
    return e;
}

fs_err fs_rec_spec_list(fs_store *s, int64_t limit, int64_t offset, fs_rec_spec **rows,
                        size_t *n, int64_t *total, fs_msg *msg) {
    return list_page(s, "SELECT COUNT(*) FROM rec_specs",
                     "SELECT " SPEC_COLS " FROM rec_specs ORDER BY id LIMIT ? OFFSET ?", 0, 0,
                     limit, offset, read_spec, clear_spec, sizeof **rows, (void **)rows, n, total,
                     msg);
}

/* ---- networks ---- */

fs_err fs_rec_network_create(fs_store *s, fs_rec_network *r, fs_msg *msg) {
    r->created_us = fs_rec_now_us();
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    int64_t id = 0;
    fs_err e = next_id(c, "network", &id, msg);
    if (e == FS_OK)
        e = db_prepare(c,
                          "INSERT INTO rec_networks (name, architecture, preprocessing_json, "
                          "output, input_h, input_w, input_c, sha256, size, created_us, id) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &st, msg);
    if (e == FS_OK) {
        db_bind_int64(st, 11, id);
        db_bind_text(st, 1, r->name);
        db_bind_text(st, 2, r->architecture);
        db_bind_text(st, 3, r->preprocessing_json);
        db_bind_text(st, 4, r->output ? r->output : "");
        db_bind_int64(st, 5, r->input_h);
        db_bind_int64(st, 6, r->input_w);
        db_bind_int64(st, 7, r->input_c);
        db_bind_text(st, 8, r->sha256);
        db_bind_int64(st, 9, r->size);
        db_bind_int64(st, 10, r->created_us);
        int rc = db_step(st);
        if (rc == DB_DONE) r->id = id;
        else e = db_fail(c, msg, "network insert");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_rec_network_get(fs_store *s, int64_t id, fs_rec_network *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    fs_err e = get_one(c, "SELECT " NET_COLS " FROM rec_networks WHERE id = ?", id, "network",
                       read_network, out, clear_network, msg);
    store_release(s, c);
    return e;
}

/* Counts rows of sql (one text parameter). c is a connection lent by store_acquire. Returns -1 on error. */
static int64_t count_by_text(db_conn *c, const char *sql, const char *text) {
    db_stmt *st;
    if (db_prepare(c, sql, &st, NULL) != FS_OK) return -1;
    db_bind_text(st, 1, text);
    int64_t n = db_step(st) == DB_ROW ? db_col_int64(st, 0) : -1;
    db_finalize(st);
    return n;
}

fs_err fs_rec_network_delete(fs_store *s, int64_t id, fs_msg *msg) {
    fs_rec_network row;
    fs_err e = fs_rec_network_get(s, id, &row, msg);
    if (e != FS_OK) return e;
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    e = delete_one(c, "DELETE FROM rec_networks WHERE id = ?", id, "network", msg);
    if (e == FS_OK) {
        /* The blob goes with its last user; media rows may name the same bytes too. */
        int64_t nets = count_by_text(c, "SELECT COUNT(*) FROM rec_networks WHERE sha256 = ?", row.sha256);
        int64_t media = count_by_text(c, "SELECT COUNT(*) FROM media WHERE sha256 = ?", row.sha256);
        char path[STORE_PATH_MAX + 96];
        if (nets == 0 && media == 0 &&
            fs_store_blob_path(s, row.sha256, path, sizeof path, NULL) == FS_OK) {
            pthread_mutex_lock(&s->blob_lock);
            if (unlink(path) != 0 && errno != ENOENT)
                fs_log(FS_LOG_WARN, "store: cannot remove blob %s: %s", path, strerror(errno));
            pthread_mutex_unlock(&s->blob_lock);
        }
    }
    store_release(s, c);
    fs_rec_network_clear(&row);
    return e;
}

fs_err fs_rec_network_list(fs_store *s, int64_t limit, int64_t offset, fs_rec_network **rows,
                           size_t *n, int64_t *total, fs_msg *msg) {
    return list_page(s, "SELECT COUNT(*) FROM rec_networks",
                     "SELECT " NET_COLS " FROM rec_networks ORDER BY id LIMIT ? OFFSET ?", 0, 0,
                     limit, offset, read_network, clear_network, sizeof **rows, (void **)rows, n,
                     total, msg);
}

/* ---- versions ---- */

static int exists(db_conn *c, const char *sql, int64_t id) {
    db_stmt *st;
    if (db_prepare(c, sql, &st, NULL) != FS_OK) return 0;
    db_bind_int64(st, 1, id);
    int found = db_step(st) == DB_ROW;
    db_finalize(st);
    return found;
}

fs_err fs_rec_version_create(fs_store *s, fs_rec_version *r, fs_msg *msg) {
    r->created_us = fs_rec_now_us();
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    fs_err e = FS_OK;
    if (!exists(c, "SELECT 1 FROM rec_specs WHERE id = ?", r->spec_id))
        e = fs_fail(msg, FS_ERR_NOTFOUND, "spec_id: no recognition spec with id %lld",
                    (long long)r->spec_id);
    else if (!exists(c, "SELECT 1 FROM rec_networks WHERE id = ?", r->network_id))
        e = fs_fail(msg, FS_ERR_NOTFOUND, "network_id: no network with id %lld",
                    (long long)r->network_id);
    db_stmt *st;
    int64_t id = 0;
    if (e == FS_OK) e = next_id(c, "version", &id, msg);
    if (e == FS_OK)
        e = db_prepare(c,
                          "INSERT INTO rec_versions (spec_id, network_id, post_json, created_us, id) "
                          "VALUES (?, ?, ?, ?, ?)",
                          &st, msg);
    if (e == FS_OK) {
        db_bind_int64(st, 5, id);
        db_bind_int64(st, 1, r->spec_id);
        db_bind_int64(st, 2, r->network_id);
        db_bind_text(st, 3, r->post_json);
        db_bind_int64(st, 4, r->created_us);
        int rc = db_step(st);
        if (rc == DB_DONE) r->id = id;
        else e = db_fail(c, msg, "version insert");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_rec_version_get(fs_store *s, int64_t id, fs_rec_version *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    fs_err e = get_one(c, "SELECT " VERSION_COLS VERSION_FROM " WHERE v.id = ?", id,
                       "recognition version", read_version, out, clear_version, msg);
    store_release(s, c);
    return e;
}

fs_err fs_rec_version_delete(fs_store *s, int64_t id, fs_msg *msg) {
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    fs_err e = delete_one(c, "DELETE FROM rec_versions WHERE id = ?", id, "recognition version", msg);
    store_release(s, c);
    return e;
}

fs_err fs_rec_version_list(fs_store *s, int64_t spec_id, int64_t limit, int64_t offset,
                           fs_rec_version **rows, size_t *n, int64_t *total, fs_msg *msg) {
    if (spec_id > 0)
        return list_page(s, "SELECT COUNT(*) FROM rec_versions WHERE spec_id = ?",
                         "SELECT " VERSION_COLS VERSION_FROM
                         " WHERE v.spec_id = ? ORDER BY v.id LIMIT ? OFFSET ?",
                         1, spec_id, limit, offset, read_version, clear_version, sizeof **rows,
                         (void **)rows, n, total, msg);
    return list_page(s, "SELECT COUNT(*) FROM rec_versions",
                     "SELECT " VERSION_COLS VERSION_FROM " ORDER BY v.id LIMIT ? OFFSET ?", 0, 0,
                     limit, offset, read_version, clear_version, sizeof **rows, (void **)rows, n,
                     total, msg);
}
