/* records.c: results, models and tasks: the rows the detection pipeline and the job queue keep.
 * Results are keyed by (media sha256, settings) and overwritten by an upsert, so recomputing a
 * result is idempotent. Task claiming lives in one function, fs_store_task_claim, so a
 * multi-node database (FOR UPDATE SKIP LOCKED) would change one query. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs a statement that returns no rows. Caller must hold the lock. */
static fs_err step_done(fs_store *s, sqlite3_stmt *st, const char *what, fs_msg *msg) {
    int rc = sqlite3_step(st);
    fs_err e = rc == SQLITE_DONE ? FS_OK : store_sqlite_fail(s, msg, rc, what);
    sqlite3_finalize(st);
    return e;
}

fs_err fs_store_result_put(fs_store *s, const char *sha256, const char *settings,
                           const char *json, fs_msg *msg) {
    if (!fs_sha256_hex_valid(sha256)) return fs_fail(msg, FS_ERR_INVALID, "not a SHA-256 hex digest");
    if (!settings || !json) return fs_fail(msg, FS_ERR_INVALID, "result needs settings and json");
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "INSERT INTO results (sha256, settings, json, created) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT (sha256, settings) DO UPDATE SET json = excluded.json, "
                                "created = excluded.created", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_text(st, 1, sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, settings, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, json, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, fs_unix_time());
        e = step_done(s, st, "put result", msg);
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_result_get(fs_store *s, const char *sha256, const char *settings, char **json,
                           fs_msg *msg) {
    *json = NULL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "SELECT json FROM results WHERE sha256 = ? AND settings = ?", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_text(st, 1, sha256 ? sha256 : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, settings ? settings : "", -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            *json = strdup(t ? t : "");
            if (!*json) e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        } else if (rc == SQLITE_DONE) {
            e = fs_fail(msg, FS_ERR_NOTFOUND, "no result for this media and settings");
        } else {
            e = store_sqlite_fail(s, msg, rc, "get result");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_model_put(fs_store *s, const fs_model_row *row, fs_msg *msg) {
    if (!row->id[0] || !row->name[0] || !row->arch[0])
        return fs_fail(msg, FS_ERR_INVALID, "a model needs an id, a name and an architecture");
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "INSERT INTO models (id, name, arch, card_json, weights_path, weights_sha256, created) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                                "name = excluded.name, arch = excluded.arch, card_json = excluded.card_json, "
                                "weights_path = excluded.weights_path, weights_sha256 = excluded.weights_sha256",
                             &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_text(st, 1, row->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, row->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, row->arch, -1, SQLITE_TRANSIENT);
        if (row->card_json) sqlite3_bind_text(st, 4, row->card_json, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 4);
        sqlite3_bind_text(st, 5, row->weights_path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, row->weights_sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 7, row->created ? row->created : fs_unix_time());
        e = step_done(s, st, "put model", msg);
    }
    pthread_mutex_unlock(&s->lock);
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
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "SELECT id, name, arch, card_json, weights_path, weights_sha256, created "
                                "FROM models ORDER BY created, id", &st, msg);
    fs_model_row *out = NULL;
    size_t len = 0, cap = 0;
    if (e == FS_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
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
            const char *card = (const char *)sqlite3_column_text(st, 3);
            if (card && !(r->card_json = strdup(card))) {
                e = fs_fail(msg, FS_ERR_NOMEM, "out of memory listing models");
                break;
            }
            store_col_text(st, 4, r->weights_path, sizeof r->weights_path);
            store_col_text(st, 5, r->weights_sha256, sizeof r->weights_sha256);
            r->created = sqlite3_column_int64(st, 6);
        }
        if (e == FS_OK && rc != SQLITE_DONE) e = store_sqlite_fail(s, msg, rc, "list models");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    if (e != FS_OK) {
        fs_model_rows_free(out, len);
        return e;
    }
    *rows = out;
    *n = len;
    return FS_OK;
}

/* ---- tasks ---- */

static const char *const status_names[] = {"queued", "running", "done", "failed"};

const char *fs_task_status_name(fs_task_status st) {
    return (unsigned)st < 4 ? status_names[st] : "unknown";
}

static fs_task_status status_from(const char *t) {
    for (int i = 0; i < 4; i++)
        if (t && !strcmp(t, status_names[i])) return (fs_task_status)i;
    return FS_TASK_FAILED;
}

#define TASK_COLUMNS "id, kind, status, progress, error, input_ref, result_ref, created, updated, attempts"

static void row_to_task(sqlite3_stmt *st, fs_task *t) {
    memset(t, 0, sizeof *t);
    store_col_text(st, 0, t->id, sizeof t->id);
    store_col_text(st, 1, t->kind, sizeof t->kind);
    t->status = status_from((const char *)sqlite3_column_text(st, 2));
    t->progress = sqlite3_column_double(st, 3);
    store_col_text(st, 4, t->error, sizeof t->error);
    store_col_text(st, 5, t->input_ref, sizeof t->input_ref);
    store_col_text(st, 6, t->result_ref, sizeof t->result_ref);
    t->created = sqlite3_column_int64(st, 7);
    t->updated = sqlite3_column_int64(st, 8);
    t->attempts = sqlite3_column_int(st, 9);
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
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    if ((e = store_prepare(s, "INSERT INTO tasks (id, kind, status, progress, input_ref, created, updated, attempts) "
                              "VALUES (?, ?, 'queued', 0, ?, ?, ?, 0)", &st, msg)) == FS_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, input_ref ? input_ref : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        sqlite3_bind_int64(st, 5, now);
        e = step_done(s, st, "create task", msg);
    }
    pthread_mutex_unlock(&s->lock);
    if (e == FS_OK) memcpy(task_id, id, sizeof id);
    return e;
}

fs_err fs_store_task_get(fs_store *s, const char *id, fs_task *task, fs_msg *msg) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_text(st, 1, id ? id : "", -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) row_to_task(st, task);
        else if (rc == SQLITE_DONE) e = fs_fail(msg, FS_ERR_NOTFOUND, "no task %s", id ? id : "");
        else e = store_sqlite_fail(s, msg, rc, "get task");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_task_claim(fs_store *s, fs_task *task, fs_msg *msg) {
    pthread_mutex_lock(&s->lock);
    char id[FS_TASK_ID_LEN + 1] = "";
    sqlite3_stmt *st;
    /* The write lock is taken first (BEGIN IMMEDIATE) so another process sharing the file
     * cannot claim the same row between the SELECT and the UPDATE. */
    fs_err e = FS_OK;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        e = store_sqlite_fail(s, msg, rc, "claim task");
        goto out;
    }
    if ((e = store_prepare(s, "SELECT id FROM tasks WHERE status = 'queued' ORDER BY created, id LIMIT 1",
                           &st, msg)) == FS_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) store_col_text(st, 0, id, sizeof id);
        else if (rc == SQLITE_DONE) e = fs_fail(msg, FS_ERR_NOTFOUND, "no queued task");
        else e = store_sqlite_fail(s, msg, rc, "claim task");
        sqlite3_finalize(st);
    }
    if (e == FS_OK && (e = store_prepare(s, "UPDATE tasks SET status = 'running', attempts = attempts + 1, "
                                            "updated = ? WHERE id = ? AND status = 'queued'", &st, msg)) == FS_OK) {
        sqlite3_bind_int64(st, 1, fs_unix_time());
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        e = step_done(s, st, "claim task", msg);
    }
    rc = sqlite3_exec(s->db, e == FS_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (e == FS_OK && rc != SQLITE_OK) e = store_sqlite_fail(s, msg, rc, "claim task commit");
out:
    pthread_mutex_unlock(&s->lock);
    return e == FS_OK ? fs_store_task_get(s, id, task, msg) : e;
}

fs_err fs_store_task_progress(fs_store *s, const char *id, double progress, fs_msg *msg) {
    if (!(progress >= 0 && progress <= 1)) return fs_fail(msg, FS_ERR_INVALID, "progress must be in [0, 1]");
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "UPDATE tasks SET progress = ?, updated = ? WHERE id = ?", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_double(st, 1, progress);
        sqlite3_bind_int64(st, 2, fs_unix_time());
        sqlite3_bind_text(st, 3, id ? id : "", -1, SQLITE_TRANSIENT);
        e = step_done(s, st, "task progress", msg);
        if (e == FS_OK && sqlite3_changes(s->db) == 0) e = fs_fail(msg, FS_ERR_NOTFOUND, "no task %s", id ? id : "");
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_task_finish(fs_store *s, const char *id, int ok, const char *result_ref,
                            const char *error, fs_msg *msg) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "UPDATE tasks SET status = ?, progress = CASE WHEN ? = 1 THEN 1 ELSE progress END, "
                                "result_ref = ?, error = ?, updated = ? WHERE id = ?", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_text(st, 1, ok ? "done" : "failed", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, ok ? 1 : 0);
        if (result_ref) sqlite3_bind_text(st, 3, result_ref, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 3);
        if (error) sqlite3_bind_text(st, 4, error, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, fs_unix_time());
        sqlite3_bind_text(st, 6, id ? id : "", -1, SQLITE_TRANSIENT);
        e = step_done(s, st, "finish task", msg);
        if (e == FS_OK && sqlite3_changes(s->db) == 0) e = fs_fail(msg, FS_ERR_NOTFOUND, "no task %s", id ? id : "");
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_task_count(fs_store *s, fs_task_status status, int64_t *n, fs_msg *msg) {
    *n = 0;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "SELECT COUNT(*) FROM tasks WHERE status = ?", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_text(st, 1, fs_task_status_name(status), -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) *n = sqlite3_column_int64(st, 0);
        else e = store_sqlite_fail(s, msg, rc, "count tasks");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_task_find(fs_store *s, const char *kind, const char *input_ref, fs_task *task,
                          fs_msg *msg) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "SELECT " TASK_COLUMNS " FROM tasks WHERE kind = ? AND input_ref = ? "
                                "ORDER BY created DESC, updated DESC LIMIT 1", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_text(st, 1, kind ? kind : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, input_ref ? input_ref : "", -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) row_to_task(st, task);
        else if (rc == SQLITE_DONE) e = fs_fail(msg, FS_ERR_NOTFOUND, "no such task");
        else e = store_sqlite_fail(s, msg, rc, "find task");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_task_requeue(fs_store *s, const char *id, fs_msg *msg) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    fs_err e = store_prepare(s, "UPDATE tasks SET status = 'queued', updated = ? "
                                "WHERE id = ? AND status = 'running'", &st, msg);
    if (e == FS_OK) {
        sqlite3_bind_int64(st, 1, fs_unix_time());
        sqlite3_bind_text(st, 2, id ? id : "", -1, SQLITE_TRANSIENT);
        e = step_done(s, st, "requeue task", msg);
        if (e == FS_OK && sqlite3_changes(s->db) == 0)
            e = fs_fail(msg, FS_ERR_NOTFOUND, "no running task %s", id ? id : "");
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

fs_err fs_store_task_recover(fs_store *s, int max_attempts, int *requeued, int *failed,
                             fs_msg *msg) {
    if (requeued) *requeued = 0;
    if (failed) *failed = 0;
    if (max_attempts < 1) return fs_fail(msg, FS_ERR_INVALID, "max_attempts must be at least 1");
    pthread_mutex_lock(&s->lock);
    char err[FS_MSG_MAX];
    snprintf(err, sizeof err, "internal: interrupted %d times (the server stopped while it ran); "
                              "not tried again", max_attempts);
    fs_err e = FS_OK;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        e = store_sqlite_fail(s, msg, rc, "recover tasks");
        goto out;
    }
    sqlite3_stmt *st;
    int changed[2] = {0, 0};
    static const char *const sql[2] = {
        "UPDATE tasks SET status = 'failed', error = ?, updated = ? WHERE status = 'running' AND attempts >= ?",
        "UPDATE tasks SET status = 'queued', error = ?, updated = ? WHERE status = 'running' AND attempts < ?",
    };
    for (int i = 0; i < 2 && e == FS_OK; i++) {
        if ((e = store_prepare(s, sql[i], &st, msg)) != FS_OK) break;
        if (i == 0) sqlite3_bind_text(st, 1, err, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 1);
        sqlite3_bind_int64(st, 2, fs_unix_time());
        sqlite3_bind_int(st, 3, max_attempts);
        e = step_done(s, st, "recover tasks", msg);
        if (e == FS_OK) changed[i] = sqlite3_changes(s->db);
    }
    rc = sqlite3_exec(s->db, e == FS_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (e == FS_OK && rc != SQLITE_OK) e = store_sqlite_fail(s, msg, rc, "recover tasks commit");
    if (e == FS_OK) {
        if (failed) *failed = changed[0];
        if (requeued) *requeued = changed[1];
    }
out:
    pthread_mutex_unlock(&s->lock);
    return e;
}
