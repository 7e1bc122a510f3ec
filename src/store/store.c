/* store.c: opens a data directory, configures SQLite for durability and concurrency, and brings
 * the schema up to date through an ordered list of migrations. The other store files (keys.c,
 * blobs.c, records.c) run their queries on the connection opened here, under its mutex.
 *
 * Migrations are SQL strings applied in order, each inside one transaction together with the
 * bump of schema_version, so a crash leaves the schema at a whole version. Only append to the
 * list: a released migration is never edited. The SQL avoids SQLite-only syntax where a portable
 * form exists (no AUTOINCREMENT, no PRAGMAs in migrations, ON CONFLICT upserts). */
#include "store_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE models ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  arch TEXT NOT NULL,"
    "  card_json TEXT,"
    "  weights_path TEXT,"
    "  weights_sha256 TEXT,"
    "  created BIGINT NOT NULL);"
    "CREATE TABLE api_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  prefix TEXT NOT NULL,"
    "  secret_sha256 TEXT NOT NULL UNIQUE,"
    "  is_admin INTEGER NOT NULL DEFAULT 0,"
    "  created BIGINT NOT NULL,"
    "  revoked_at BIGINT);"
    "CREATE INDEX api_keys_prefix ON api_keys (prefix);"
    "CREATE TABLE media ("
    "  sha256 TEXT PRIMARY KEY,"
    "  size BIGINT NOT NULL,"
    "  mime TEXT,"
    "  blob_path TEXT NOT NULL,"
    "  created BIGINT NOT NULL);"
    "CREATE TABLE results ("
    "  sha256 TEXT NOT NULL,"
    "  settings TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  created BIGINT NOT NULL,"
    "  UNIQUE (sha256, settings));"
    "CREATE TABLE tasks ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),"
    "  progress REAL NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  input_ref TEXT,"
    "  result_ref TEXT,"
    "  created BIGINT NOT NULL,"
    "  updated BIGINT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tasks_status_created ON tasks (status, created);",
    /* 2: model management (/v0.7 recognition specs, networks, versions) */
    "CREATE TABLE rec_specs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  detection INTEGER NOT NULL DEFAULT 0,"
    "  labels_json TEXT NOT NULL,"
    "  created_us BIGINT NOT NULL,"
    "  updated_us BIGINT NOT NULL);"
    "CREATE TABLE rec_networks ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  architecture TEXT NOT NULL,"
    "  preprocessing_json TEXT NOT NULL,"
    "  output TEXT NOT NULL,"
    "  input_h INTEGER NOT NULL,"
    "  input_w INTEGER NOT NULL,"
    "  input_c INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size BIGINT NOT NULL,"
    "  created_us BIGINT NOT NULL);"
    "CREATE INDEX rec_networks_sha256 ON rec_networks (sha256);"
    "CREATE TABLE rec_versions ("
    "  id INTEGER PRIMARY KEY,"
    "  spec_id INTEGER NOT NULL REFERENCES rec_specs (id),"
    "  network_id INTEGER NOT NULL REFERENCES rec_networks (id),"
    "  post_json TEXT NOT NULL,"
    "  created_us BIGINT NOT NULL);"
    "CREATE INDEX rec_versions_spec ON rec_versions (spec_id);"
    "CREATE INDEX rec_versions_network ON rec_versions (network_id);"
    /* ids are never reused (a deleted version's id must stay 404): one counter per table */
    "CREATE TABLE rec_sequences (name TEXT PRIMARY KEY, last BIGINT NOT NULL);"
    "INSERT INTO rec_sequences (name, last) VALUES ('spec', 0), ('network', 0), ('version', 0);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int fs_store_schema_latest(void) { return N_MIGRATIONS; }

fs_err store_sqlite_fail(fs_store *s, fs_msg *msg, int rc, const char *what) {
    int primary = rc & 0xff;
    fs_err e = FS_ERR_IO;
    if (primary == SQLITE_NOMEM) e = FS_ERR_NOMEM;
    else if (primary == SQLITE_CONSTRAINT) e = FS_ERR_CONFLICT;
    else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) e = FS_ERR_TIMEOUT;
    else if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) e = FS_ERR_FORMAT;
    return fs_fail(msg, e, "store: %s: %s", what,
                   s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

fs_err store_prepare(fs_store *s, const char *sql, sqlite3_stmt **st, fs_msg *msg) {
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return store_sqlite_fail(s, msg, rc, "prepare");
    }
    return FS_OK;
}

void store_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

fs_err store_random(void *buf, size_t n, fs_msg *msg) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return fs_fail(msg, FS_ERR_INTERNAL, "getrandom failed: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return FS_OK;
}

void store_hex(const uint8_t *raw, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Caller must hold the lock. */
static fs_err exec(fs_store *s, const char *sql, fs_msg *msg) {
    char *err = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fs_fail(msg, rc == SQLITE_BUSY ? FS_ERR_TIMEOUT : FS_ERR_IO, "store: %s", err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return rc == SQLITE_BUSY ? FS_ERR_TIMEOUT : FS_ERR_IO;
    }
    return FS_OK;
}

/* Caller must hold the lock. Returns the applied version, or -1 on error. */
static int read_version(fs_store *s) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static fs_err migrate(fs_store *s, fs_msg *msg) {
    fs_err e = exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", msg);
    if (e != FS_OK) return e;
    for (;;) {
        /* BEGIN IMMEDIATE takes the write lock before reading the version, so two processes
         * opening the same fresh store cannot both apply migration 1. */
        if ((e = exec(s, "BEGIN IMMEDIATE", msg)) != FS_OK) return e;
        int v = read_version(s);
        if (v < 0) {
            exec(s, "ROLLBACK", NULL);
            return fs_fail(msg, FS_ERR_IO, "store: cannot read schema_version");
        }
        if (v > N_MIGRATIONS) {
            exec(s, "ROLLBACK", NULL);
            return fs_fail(msg, FS_ERR_UNSUPPORTED,
                           "store: %s has schema version %d, newer than this fakescope (%d)",
                           s->dir, v, N_MIGRATIONS);
        }
        if (v == N_MIGRATIONS) return exec(s, "COMMIT", msg);
        char bump[96];
        snprintf(bump, sizeof bump, "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
        if ((e = exec(s, migrations[v], msg)) != FS_OK || (e = exec(s, bump, msg)) != FS_OK ||
            (e = exec(s, "COMMIT", msg)) != FS_OK) {
            exec(s, "ROLLBACK", NULL);
            fs_msg_prefix(msg, "migration %d: ", v + 1);
            return e;
        }
        fs_log(FS_LOG_INFO, "store: applied migration %d in %s", v + 1, s->dir);
    }
}

fs_err fs_store_open(const char *data_dir, fs_store **out, fs_msg *msg) {
    *out = NULL;
    if (!data_dir || !*data_dir) return fs_fail(msg, FS_ERR_INVALID, "store: empty data directory");
    fs_store *s = calloc(1, sizeof *s);
    if (!s) return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->blob_lock, NULL);
    fs_err e;
    if (strlen(data_dir) + 64 >= sizeof s->dir) {
        e = fs_fail(msg, FS_ERR_INVALID, "store: data directory path too long");
        goto fail;
    }
    /* Store the directory as given, minus trailing slashes, so blob paths read cleanly. */
    snprintf(s->dir, sizeof s->dir, "%s", data_dir);
    for (size_t n = strlen(s->dir); n > 1 && s->dir[n - 1] == '/'; n--) s->dir[n - 1] = '\0';
    snprintf(s->blob_dir, sizeof s->blob_dir, "%s/blobs", s->dir);
    if ((e = fs_mkdirs(s->blob_dir, msg)) != FS_OK) goto fail;
    char db_path[STORE_PATH_MAX + 32];
    snprintf(db_path, sizeof db_path, "%s/%s", s->dir, FS_STORE_DB_NAME);
    int rc = sqlite3_open_v2(db_path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        e = store_sqlite_fail(s, msg, rc, db_path);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, FS_STORE_BUSY_TIMEOUT_MS);
    pthread_mutex_lock(&s->lock);
    e = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", msg);
    if (e == FS_OK) e = migrate(s, msg);
    pthread_mutex_unlock(&s->lock);
    if (e != FS_OK) goto fail;
    *out = s;
    return FS_OK;
fail:
    fs_store_close(s);
    return e;
}

void fs_store_close(fs_store *s) {
    if (!s) return;
    if (s->db) sqlite3_close_v2(s->db);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->blob_lock);
    free(s);
}

const char *fs_store_dir(const fs_store *s) { return s->dir; }

int fs_store_schema_version(fs_store *s) {
    pthread_mutex_lock(&s->lock);
    int v = read_version(s);
    pthread_mutex_unlock(&s->lock);
    return v;
}
