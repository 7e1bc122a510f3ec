/* records.c: results, models and tasks: the rows the detection pipeline and the job queue keep.
 * Results are keyed by (media sha256, settings) and overwritten by an upsert, so recomputing a
 * result is idempotent. Task claiming lives in one function, fs_store_task_claim, so a
 * multi-node database (FOR UPDATE SKIP LOCKED) would change one query. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Runs a statement that returns no rows. c is a connection lent by store_acquire. */
static fs_err step_done(db_conn *c, db_stmt *st, const char *what, fs_msg *msg) {
    int rc = db_step(st);
    fs_err e = rc == DB_DONE ? FS_OK : db_fail(c, msg, what);
    db_finalize(st);
    return e;
}

fs_err fs_store_result_put(fs_store *s, const char *sha256, const char *settings,
                           const char *json, fs_msg *msg) {
    if (!fs_sha256_hex_valid(sha256)) return fs_fail(msg, FS_ERR_INVALID, "not a SHA-256 hex digest");
    if (!settings || !json) return fs_fail(msg, FS_ERR_INVALID, "result needs settings and json");
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "INSERT INTO results (sha256, settings, json, created) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT (sha256, settings) DO UPDATE SET json = excluded.json, "
                                "created = excluded.created", &st, msg);
    if (e == FS_OK) {
        db_bind_text(st, 1, sha256);
        db_bind_text(st, 2, settings);
        db_bind_text(st, 3, json);
        db_bind_int64(st, 4, fs_unix_time());
        e = step_done(c, st, "put result", msg);
    }
    store_release(s, c);
    return e;
}

fs_err fs_store_result_put_once(fs_store *s, const char *sha256, const char *settings,
                                const char *json, int *written, fs_msg *msg) {
    if (written) *written = 0;
    if (!fs_sha256_hex_valid(sha256)) return fs_fail(msg, FS_ERR_INVALID, "not a SHA-256 hex digest");
    if (!settings || !json) return fs_fail(msg, FS_ERR_INVALID, "result needs settings and json");
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    db_stmt *st;
    /* The unique key (sha256, settings) decides: of two nodes that computed the same result
     * (a lease that expired under a slow node), the first commit stays. */
    if ((e = db_prepare(c, "INSERT INTO results (sha256, settings, json, created) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (sha256, settings) DO NOTHING", &st, msg)) == FS_OK) {
        db_bind_text(st, 1, sha256);
        db_bind_text(st, 2, settings);
        db_bind_text(st, 3, json);
        db_bind_int64(st, 4, fs_unix_time());
        e = step_done(c, st, "put result", msg);
        if (e == FS_OK && written) *written = db_changes(c) == 1;
    }
    store_release(s, c);
    return e;
}

fs_err fs_store_result_get(fs_store *s, const char *sha256, const char *settings, char **json,
                           fs_msg *msg) {
    *json = NULL;
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "SELECT json FROM results WHERE sha256 = ? AND settings = ?", &st, msg);
    if (e == FS_OK) {
        db_bind_text(st, 1, sha256 ? sha256 : "");
        db_bind_text(st, 2, settings ? settings : "");
        int rc = db_step(st);
        if (rc == DB_ROW) {
            const char *t = db_col_text(st, 0);
            *json = strdup(t ? t : "");
            if (!*json) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        } else if (rc == DB_DONE) {
            e = fs_fail(msg, FS_ERR_NOTFOUND, "no result for this media and settings");
        } else {
            e = db_fail(c, msg, "get result");
        }
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_store_model_put(fs_store *s, const fs_model_row *row, fs_msg *msg) {
    if (!row->id[0] || !row->name[0] || !row->arch[0])
        return fs_fail(msg, FS_ERR_INVALID, "a model needs an id, a name and an architecture");
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "INSERT INTO models (id, name, arch, card_json, weights_path, weights_sha256, created) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                                "name = excluded.name, arch = excluded.arch, card_json = excluded.card_json, "
                                "weights_path = excluded.weights_path, weights_sha256 = excluded.weights_sha256",
                             &st, msg);
    if (e == FS_OK) {
        db_bind_text(st, 1, row->id);
        db_bind_text(st, 2, row->name);
        db_bind_text(st, 3, row->arch);
        if (row->card_json) db_bind_text(st, 4, row->card_json);
        else db_bind_null(st, 4);
        db_bind_text(st, 5, row->weights_path);
        db_bind_text(st, 6, row->weights_sha256);
        db_bind_int64(st, 7, row->created ? row->created : fs_unix_time());
        e = step_done(c, st, "put model", msg);
    }
    store_release(s, c);
    return e;
}

void fs_model_rows_free(fs_model_row *rows, size_t n) {
    if (!rows) return;
    for (size_t i = 0; i < n; i++) free(rows[i].card_json);
    free(rows);
}

fs_err fs_store_model_list(fs_store *s, fs_model_row **rows, size_t *n, fs_msg *msg) {
    *rows = NULL;
    *n = 0;
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "SELECT id, name, arch, card_json, weights_path, weights_sha256, created "
                                "FROM models ORDER BY created, id", &st, msg);
    fs_model_row *out = NULL;
    size_t len = 0, cap = 0;
    if (e == FS_OK) {
        int rc;
        while ((rc = db_step(st)) == DB_ROW) {
            if (len == cap) {
                size_t nc = cap ? cap * 2 : 8;
                fs_model_row *p = realloc(out, nc * sizeof *p);
                if (!p) {
                    e = fs_fail(msg, FS_ERR_NOMEM, "out of memory listing models");
                    break;
                }
                out = p;
                cap = nc;
            }
            fs_model_row *r = &out[len++];
            memset(r, 0, sizeof *r);
            store_col_text(st, 0, r->id, sizeof r->id);
            store_col_text(st, 1, r->name, sizeof r->name);
            store_col_text(st, 2, r->arch, sizeof r->arch);
            const char *card = db_col_text(st, 3);
            if (card && !(r->card_json = strdup(card))) {
                e = fs_fail(msg, FS_ERR_NOMEM, "out of memory listing models");
                break;
            }
            store_col_text(st, 4, r->weights_path, sizeof r->weights_path);
            store_col_text(st, 5, r->weights_sha256, sizeof r->weights_sha256);
            r->created = db_col_int64(st, 6);
        }
        if (e == FS_OK && rc != DB_DONE) e = db_fail(c, msg, "list models");
        db_finalize(st);
    }
    store_release(s, c);
    if (e != FS_OK) {
        fs_model_rows_free(out, len);
        return e;
    }
    *rows = out;
    *n = len;
    return FS_OK;
}

/* ---- tasks ---- */

static void notify(fs_store *s, db_conn *c, const char *id);

static const char *const status_names[] = {"queued", "running", "done", "failed"};

const char *fs_task_status_name(fs_task_status st) {
    return (unsigned)st < 4 ? status_names[st] : "unknown";
}

static fs_task_status status_from(const char *t) {
    for (int i = 0; i < 4; i++)
        if (t && !strcmp(t, status_names[i])) return (fs_task_status)i;
    return FS_TASK_FAILED;
}

#define TASK_COLUMNS \
    "id, kind, status, progress, error, input_ref, result_ref, created, updated, attempts, lease_owner, lease_until"

static void row_to_task(db_stmt *st, fs_task *t) {
    memset(t, 0, sizeof *t);
    store_col_text(st, 0, t->id, sizeof t->id);
    store_col_text(st, 1, t->kind, sizeof t->kind);
    t->status = status_from(db_col_text(st, 2));
    t->progress = db_col_double(st, 3);
    store_col_text(st, 4, t->error, sizeof t->error);
    store_col_text(st, 5, t->input_ref, sizeof t->input_ref);
    store_col_text(st, 6, t->result_ref, sizeof t->result_ref);
    t->created = db_col_int64(st, 7);
    t->updated = db_col_int64(st, 8);
    t->attempts = (int)db_col_int64(st, 9);
    store_col_text(st, 10, t->lease_owner, sizeof t->lease_owner);
    t->lease_until_ms = db_col_int64(st, 11);
}

fs_err fs_store_task_create(fs_store *s, const char *kind, const char *input_ref,
                            char task_id[FS_TASK_ID_LEN + 1], fs_msg *msg) {
    if (!kind || !*kind) return fs_fail(msg, FS_ERR_INVALID, "a task needs a kind");
    uint8_t raw[FS_TASK_ID_LEN / 2];
    char id[FS_TASK_ID_LEN + 1];
    fs_err e = store_random(raw, sizeof raw, msg);
    if (e != FS_OK) return e;
    store_hex(raw, sizeof raw, id);
    int64_t now = fs_unix_time();
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    if ((e = db_prepare(c, "INSERT INTO tasks (id, kind, status, progress, input_ref, created, updated, attempts) "
                              "VALUES (?, ?, 'queued', 0, ?, ?, ?, 0)", &st, msg)) == FS_OK) {
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, kind);
        db_bind_text(st, 3, input_ref ? input_ref : "");
        db_bind_int64(st, 4, now);
        db_bind_int64(st, 5, now);
        e = step_done(c, st, "create task", msg);
    }
    if (e == FS_OK) notify(s, c, id);
    store_release(s, c);
    if (e == FS_OK) memcpy(task_id, id, sizeof id);
    return e;
}

fs_err fs_store_task_get(fs_store *s, const char *id, fs_task *task, fs_msg *msg) {
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?", &st, msg);
    if (e == FS_OK) {
        db_bind_text(st, 1, id ? id : "");
        int rc = db_step(st);
        if (rc == DB_ROW) row_to_task(st, task);
        else if (rc == DB_DONE) e = fs_fail(msg, FS_ERR_NOTFOUND, "no task %s", id ? id : "");
        else e = db_fail(c, msg, "get task");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

int64_t fs_store_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *fs_store_node_id(const fs_store *s) { return s->node_id; }
int fs_store_lease_ms(const fs_store *s) { return (int)s->lease_ms; }

fs_err fs_store_task_claim(fs_store *s, fs_task *task, fs_msg *msg) {
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    /* One statement: the oldest queued row is picked and leased to this node. On PostgreSQL,
     * FOR UPDATE SKIP LOCKED lets concurrent claimers on other nodes pass over a row being
     * claimed instead of waiting for it (and then finding it gone); SQLite runs the statement
     * under its single write lock, which gives the same exclusivity. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE tasks SET status = 'running', attempts = attempts + 1, updated = ?, "
             "lease_owner = ?, lease_until = ? WHERE id = (SELECT id FROM tasks WHERE status = 'queued' "
             "ORDER BY created, id LIMIT 1%s) AND status = 'queued' RETURNING " TASK_COLUMNS,
             s->engine == DB_POSTGRES ? " FOR UPDATE SKIP LOCKED" : "");
    db_stmt *st;
    if ((e = db_prepare(c, sql, &st, msg)) == FS_OK) {
        int64_t now = fs_store_now_ms();
        db_bind_int64(st, 1, now / 1000);
        db_bind_text(st, 2, s->node_id);
        db_bind_int64(st, 3, now + s->lease_ms);
        int rc = db_step(st);
        if (rc == DB_ROW) row_to_task(st, task);
        else if (rc == DB_DONE) e = fs_fail(msg, FS_ERR_NOTFOUND, "no queued task");
        else e = db_fail(c, msg, "claim task");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

/* Runs an UPDATE of one task of this node's (id bound last) and tells a lost lease from an
 * unknown task. c is a connection lent by store_acquire. */
static fs_err update_leased(fs_store *s, db_conn *c, db_stmt *st, const char *id, const char *what,
                            fs_msg *msg) {
    fs_err e = step_done(c, st, what, msg);
    if (e != FS_OK || db_changes(c) > 0) return e;
    db_stmt *q;
    if ((e = db_prepare(c, "SELECT status, lease_owner FROM tasks WHERE id = ?", &q, msg)) != FS_OK) return e;
    db_bind_text(q, 1, id);
    int rc = db_step(q);
    if (rc == DB_ROW) {
        const char *owner = db_col_text(q, 1);
        e = fs_fail(msg, FS_ERR_CONFLICT, "task %s is %s%s%s, no longer leased by node %s", id,
                    db_col_text(q, 0), owner ? " and leased by node " : "", owner ? owner : "",
                    s->node_id);
    } else if (rc == DB_DONE) {
        e = fs_fail(msg, FS_ERR_NOTFOUND, "no task %s", id);
    } else {
        e = db_fail(c, msg, what);
    }
    db_finalize(q);
    return e;
}

/* The condition under which this node may change a task: it holds the lease, or nobody does
 * and the task is not finished (rows written before leases existed, and direct store use). */
#define LEASED_BY_ME " AND status NOT IN ('done', 'failed') AND (lease_owner = ? OR lease_owner IS NULL)"

fs_err fs_store_task_progress(fs_store *s, const char *id, double progress, fs_msg *msg) {
    if (!(progress >= 0 && progress <= 1)) return fs_fail(msg, FS_ERR_INVALID, "progress must be in [0, 1]");
    if (!id) return fs_fail(msg, FS_ERR_NOTFOUND, "no task");
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    db_stmt *st;
    if ((e = db_prepare(c, "UPDATE tasks SET progress = ?, updated = ? WHERE id = ?" LEASED_BY_ME, &st, msg)) == FS_OK) {
        db_bind_double(st, 1, progress);
        db_bind_int64(st, 2, fs_unix_time());
        db_bind_text(st, 3, id);
        db_bind_text(st, 4, s->node_id);
        e = update_leased(s, c, st, id, "task progress", msg);
    }
    store_release(s, c);
    return e;
}

/* Tells nodes listening on FS_STORE_CHANNEL that a task changed (PostgreSQL only; the
 * notification is delivered when the surrounding transaction commits). */
static void notify(fs_store *s, db_conn *c, const char *id) {
    if (s->engine != DB_POSTGRES) return;
    db_stmt *st;
    fs_msg m;
    if (db_prepare(c, "SELECT pg_notify('" FS_STORE_CHANNEL "', ?)", &st, &m) != FS_OK) return;
    db_bind_text(st, 1, id);
    if (db_step(st) == DB_ERROR) fs_log(FS_LOG_WARN, "store: notify: %s", (db_fail(c, &m, "notify"), m.text));
    db_finalize(st);
}

fs_err fs_store_task_finish(fs_store *s, const char *id, int ok, const char *result_ref,
                            const char *error, fs_msg *msg) {
    if (!id) return fs_fail(msg, FS_ERR_NOTFOUND, "no task");
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    db_stmt *st;
    if ((e = db_prepare(c, "UPDATE tasks SET status = ?, progress = CASE WHEN ? = 1 THEN 1 ELSE progress END, "
                           "result_ref = ?, error = ?, updated = ?, lease_owner = NULL, lease_until = NULL "
                           "WHERE id = ?" LEASED_BY_ME, &st, msg)) == FS_OK) {
        db_bind_text(st, 1, ok ? "done" : "failed");
        db_bind_int64(st, 2, ok ? 1 : 0);
        db_bind_text(st, 3, result_ref);
        db_bind_text(st, 4, error);
        db_bind_int64(st, 5, fs_unix_time());
        db_bind_text(st, 6, id);
        db_bind_text(st, 7, s->node_id);
        e = update_leased(s, c, st, id, "finish task", msg);
    }
    if (e == FS_OK) notify(s, c, id);
    store_release(s, c);
    return e;
}

fs_err fs_store_task_count(fs_store *s, fs_task_status status, int64_t *n, fs_msg *msg) {
    *n = 0;
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    db_stmt *st;
    if ((e = db_prepare(c, "SELECT COUNT(*) FROM tasks WHERE status = ?", &st, msg)) == FS_OK) {
        db_bind_text(st, 1, fs_task_status_name(status));
        int rc = db_step(st);
        if (rc == DB_ROW) *n = db_col_int64(st, 0);
        else e = db_fail(c, msg, "count tasks");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_store_task_find(fs_store *s, const char *kind, const char *input_ref, fs_task *task,
                          fs_msg *msg) {
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    db_stmt *st;
    if ((e = db_prepare(c, "SELECT " TASK_COLUMNS " FROM tasks WHERE kind = ? AND input_ref = ? "
                           "ORDER BY created DESC, updated DESC LIMIT 1", &st, msg)) == FS_OK) {
        db_bind_text(st, 1, kind ? kind : "");
        db_bind_text(st, 2, input_ref ? input_ref : "");
        int rc = db_step(st);
        if (rc == DB_ROW) row_to_task(st, task);
        else if (rc == DB_DONE) e = fs_fail(msg, FS_ERR_NOTFOUND, "no such task");
        else e = db_fail(c, msg, "find task");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_store_task_requeue(fs_store *s, const char *id, fs_msg *msg) {
    if (!id) return fs_fail(msg, FS_ERR_NOTFOUND, "no task");
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    db_stmt *st;
    if ((e = db_prepare(c, "UPDATE tasks SET status = 'queued', updated = ?, lease_owner = NULL, lease_until = NULL "
                           "WHERE id = ? AND status = 'running' AND (lease_owner = ? OR lease_owner IS NULL)",
                        &st, msg)) == FS_OK) {
        db_bind_int64(st, 1, fs_unix_time());
        db_bind_text(st, 2, id);
        db_bind_text(st, 3, s->node_id);
        e = update_leased(s, c, st, id, "requeue task", msg);
    }
    if (e == FS_OK) notify(s, c, id);
    store_release(s, c);
    return e;
}

fs_err fs_store_task_heartbeat(fs_store *s, const char *const *ids, int n, int64_t *renewed,
                               fs_msg *msg) {
    if (renewed) *renewed = 0;
    if (n <= 0) return FS_OK;
    if (n > FS_STORE_HEARTBEAT_MAX) return fs_fail(msg, FS_ERR_INVALID, "at most %d tasks per heartbeat", FS_STORE_HEARTBEAT_MAX);
    /* Only the tasks named: a task this node stopped running (its finish could not be written)
     * must see its lease run out, so another node takes it. */
    char sql[160 + 3 * FS_STORE_HEARTBEAT_MAX];
    int len = snprintf(sql, sizeof sql, "UPDATE tasks SET lease_until = ? WHERE lease_owner = ? AND status = 'running' AND id IN (");
    for (int i = 0; i < n; i++) len += snprintf(sql + len, sizeof sql - (size_t)len, i ? ", ?" : "?");
    snprintf(sql + len, sizeof sql - (size_t)len, ")");
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    db_stmt *st;
    if ((e = db_prepare(c, sql, &st, msg)) == FS_OK) {
        db_bind_int64(st, 1, fs_store_now_ms() + s->lease_ms);
        db_bind_text(st, 2, s->node_id);
        for (int i = 0; i < n; i++) db_bind_text(st, 3 + i, ids[i]);
        e = step_done(c, st, "renew leases", msg);
        if (e == FS_OK && renewed) *renewed = db_changes(c);
    }
    store_release(s, c);
    return e;
}

/* Requeues or fails the running tasks that match where_running (SQL after "status = 'running'
 * AND"; its parameter, if it has one, is the time now in ms). */
static fs_err reclaim(fs_store *s, int max_attempts, const char *where_running, int *requeued,
                      int *failed, fs_msg *msg) {
    if (requeued) *requeued = 0;
    if (failed) *failed = 0;
    if (max_attempts < 1) return fs_fail(msg, FS_ERR_INVALID, "max_attempts must be at least 1");
    char err[FS_MSG_MAX];
    snprintf(err, sizeof err, "internal: interrupted %d times (the server stopped while it ran); "
                              "not tried again", max_attempts);
    db_conn *c;
    fs_err e = store_acquire(s, &c, msg);
    if (e != FS_OK) return e;
    if ((e = db_begin(c, msg)) != FS_OK) {
        store_release(s, c);
        return e;
    }
    int64_t changed[2] = {0, 0};
    for (int i = 0; i < 2 && e == FS_OK; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "UPDATE tasks SET status = '%s', error = ?, updated = ?, lease_owner = NULL, lease_until = NULL "
                 "WHERE status = 'running' AND attempts %s ? AND %s",
                 i == 0 ? "failed" : "queued", i == 0 ? ">=" : "<", where_running);
        db_stmt *st;
        if ((e = db_prepare(c, sql, &st, msg)) != FS_OK) break;
        if (i == 0) db_bind_text(st, 1, err);
        else db_bind_null(st, 1);
        db_bind_int64(st, 2, fs_unix_time());
        db_bind_int64(st, 3, max_attempts);
        db_bind_int64(st, 4, fs_store_now_ms());
        e = step_done(c, st, "recover tasks", msg);
        if (e == FS_OK) changed[i] = db_changes(c);
    }
    if (e == FS_OK && changed[0] + changed[1] > 0) notify(s, c, "");
    if (e == FS_OK) e = db_exec(c, "COMMIT", msg);
    else db_exec(c, "ROLLBACK", NULL);
    store_release(s, c);
    if (e == FS_OK) {
        if (failed) *failed = (int)changed[0];
        if (requeued) *requeued = (int)changed[1];
    }
    return e;
}

fs_err fs_store_task_expire(fs_store *s, int max_attempts, int *requeued, int *failed, fs_msg *msg) {
    /* A NULL lease is a row left running before leases existed: expired too. */
    return reclaim(s, max_attempts, "(lease_until IS NULL OR lease_until < ?)", requeued, failed, msg);
}

fs_err fs_store_task_recover(fs_store *s, int max_attempts, int *requeued, int *failed,
                             fs_msg *msg) {
    /* A shared store's running tasks may be other nodes' live work: only expired leases are
     * taken back. A SQLite store belongs to one server, so whatever it left running was cut
     * short by its own crash. */
    if (s->engine == DB_POSTGRES) return fs_store_task_expire(s, max_attempts, requeued, failed, msg);
    return reclaim(s, max_attempts, "1 = 1", requeued, failed, msg);
}
