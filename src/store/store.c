/* store.c: opens a store (a SQLite file in the data directory, or a PostgreSQL database named
 * by a URL), keeps its pool of connections, and brings the schema up to date through an
 * ordered list of migrations. The other store files (keys.c, blobs.c, records.c,
 * recognition.c) borrow a connection from the pool for each call (store_acquire).
 *
 * Migrations are SQL strings applied in order, each inside one transaction together with the
 * bump of schema_version, so a crash leaves the schema at a whole version. Only append to the
 * list: a released migration is never edited. One list serves both engines: the SQL is portable
 * (no AUTOINCREMENT, no PRAGMAs in migrations, ON CONFLICT upserts, RETURNING), and
 * pg_dialect() rewrites the two spellings that differ (SQLite's rowid primary key becomes an
 * identity column, REAL becomes DOUBLE PRECISION).
 *
 * Reconnection: a PostgreSQL connection that is found lost is reset before it is lent again.
 * While the database does not answer, attempts are spaced by a backoff that doubles from
 * STORE_BACKOFF_MIN_MS to STORE_BACKOFF_MAX_MS, and calls in between fail at once with
 * "store unavailable", so /healthz answers 503 quickly and a load balancer drops the node. */
#include "store_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define STORE_BACKOFF_MIN_MS 100.0
#define STORE_BACKOFF_MAX_MS 5000.0
/* The advisory lock key under which nodes take turns migrating one PostgreSQL database. */
#define STORE_MIGRATION_LOCK 0x66736d6967LL

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
    /* 3: leases, so several nodes can share the queue: the node running a task and until when
     * (unix ms) its claim holds; renewed by the node's heartbeat, taken back when it runs out. */
    "ALTER TABLE tasks ADD COLUMN lease_owner TEXT;"
    "ALTER TABLE tasks ADD COLUMN lease_until BIGINT;"
    "CREATE INDEX tasks_lease ON tasks (status, lease_until);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int fs_store_schema_latest(void) { return N_MIGRATIONS; }

void store_col_text(db_stmt *st, int col, char *dst, size_t cap) {
    const char *t = db_col_text(st, col);
    snprintf(dst, cap, "%s", t ? t : "");
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

/* ---------------------------------------------------------------- the pool */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

fs_err store_acquire(fs_store *s, db_conn **out, fs_msg *msg) {
    *out = NULL;
    pthread_mutex_lock(&s->pool_lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FS_STORE_BUSY_TIMEOUT_MS / 1000;
    int i;
    for (;;) {
        for (i = 0; i < s->n_conns && s->busy[i]; i++) {}
        if (i < s->n_conns) break;
        if (pthread_cond_timedwait(&s->pool_free, &s->pool_lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->pool_lock);
            return fs_fail(msg, FS_ERR_TIMEOUT, "store: all %d connections stayed busy for %d ms",
                           s->n_conns, FS_STORE_BUSY_TIMEOUT_MS);
        }
    }
    s->busy[i] = 1;
    db_conn *c = s->conns[i];
    int suspect = s->engine == DB_POSTGRES && (!db_alive(c) || s->epoch[i] != s->pool_epoch);
    if (!suspect) {
        pthread_mutex_unlock(&s->pool_lock);
        *out = c;
        return FS_OK;
    }
    double now = now_ms();
    if (s->unavailable && now < s->retry_at_ms) {
        s->busy[i] = 0;
        pthread_cond_signal(&s->pool_free);
        double wait = s->retry_at_ms - now;
        pthread_mutex_unlock(&s->pool_lock);
        return fs_fail(msg, FS_ERR_IO, "store unavailable: the database did not answer; next "
                       "attempt in %.0f ms", wait);
    }
    unsigned epoch = s->pool_epoch;
    pthread_mutex_unlock(&s->pool_lock);
    /* Reset outside the lock: a connect can take up to its timeout. */
    fs_err e = db_reconnect(c, msg);
    pthread_mutex_lock(&s->pool_lock);
    if (e == FS_OK) {
        s->epoch[i] = epoch;
        if (s->unavailable) fs_log(FS_LOG_INFO, "store: the database answers again");
        s->unavailable = 0;
        s->backoff_ms = STORE_BACKOFF_MIN_MS;
        *out = c;
    } else {
        if (!s->unavailable) fs_log(FS_LOG_WARN, "store: %s", msg ? msg->text : "reconnect failed");
        s->unavailable = 1;
        s->retry_at_ms = now_ms() + s->backoff_ms;
        s->backoff_ms = s->backoff_ms * 2 > STORE_BACKOFF_MAX_MS ? STORE_BACKOFF_MAX_MS : s->backoff_ms * 2;
        s->busy[i] = 0;
        pthread_cond_signal(&s->pool_free);
    }
    pthread_mutex_unlock(&s->pool_lock);
    return e;
}

void store_release(fs_store *s, db_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&s->pool_lock);
    for (int i = 0; i < s->n_conns; i++) {
        if (s->conns[i] != c) continue;
        /* A lost connection means the server restarted or the network broke: the other idle
         * connections are most likely lost too, so each is reset before its next use rather
         * than failing one request each. */
        if (!db_alive(c) && s->epoch[i] == s->pool_epoch) s->pool_epoch++;
        s->busy[i] = 0;
        break;
    }
    pthread_cond_signal(&s->pool_free);
    pthread_mutex_unlock(&s->pool_lock);
}

/* ---------------------------------------------------------------- migrations */

/* Returns the PostgreSQL spelling of a migration (malloc'd), or NULL when out of memory. */
static char *pg_dialect(const char *sql) {
    static const char *const from[] = {"INTEGER PRIMARY KEY", " REAL "};
    static const char *const to[] = {"BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", " DOUBLE PRECISION "};
    size_t cap = strlen(sql) * 3 + 1;
    char *out = malloc(cap);
    if (!out) return NULL;
    char *o = out;
    for (const char *p = sql; *p;) {
        size_t k;
        for (k = 0; k < 2; k++)
            if (!strncmp(p, from[k], strlen(from[k]))) break;
        if (k < 2) {
            o += sprintf(o, "%s", to[k]);
            p += strlen(from[k]);
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Returns the applied version, or -1 on error. */
static int read_version(db_conn *c) {
    db_stmt *st;
    if (db_prepare(c, "SELECT MAX(version) FROM schema_version", &st, NULL) != FS_OK) return -1;
    int v = -1;
    if (db_step(st) == DB_ROW) v = (int)db_col_int64(st, 0);
    db_finalize(st);
    return v;
}

static fs_err migrate(fs_store *s, db_conn *c, fs_msg *msg) {
    fs_err e;
    if ((e = db_begin_exclusive(c, STORE_MIGRATION_LOCK, msg)) != FS_OK) return e;
    if ((e = db_exec(c, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", msg)) != FS_OK ||
        (e = db_exec(c, "COMMIT", msg)) != FS_OK) {
        db_exec(c, "ROLLBACK", NULL);
        return e;
    }
    for (;;) {
        /* The write lock (SQLite) or the advisory lock (PostgreSQL) is taken before reading the
         * version, so two processes opening the same fresh store cannot both apply migration 1. */
        if ((e = db_begin_exclusive(c, STORE_MIGRATION_LOCK, msg)) != FS_OK) return e;
        int v = read_version(c);
        if (v < 0) {
            db_exec(c, "ROLLBACK", NULL);
            return fs_fail(msg, FS_ERR_IO, "store: cannot read schema_version");
        }
        if (v > N_MIGRATIONS) {
            db_exec(c, "ROLLBACK", NULL);
            return fs_fail(msg, FS_ERR_UNSUPPORTED,
                           "store: %s has schema version %d, newer than this fakescope (%d)",
                           s->engine == DB_SQLITE ? s->dir : "the database", v, N_MIGRATIONS);
        }
        if (v == N_MIGRATIONS) return db_exec(c, "COMMIT", msg);
        char bump[96];
        snprintf(bump, sizeof bump, "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
        char *sql = s->engine == DB_POSTGRES ? pg_dialect(migrations[v]) : NULL;
        if (s->engine == DB_POSTGRES && !sql) e = fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
        if (e != FS_OK || (e = db_exec(c, sql ? sql : migrations[v], msg)) != FS_OK ||
            (e = db_exec(c, bump, msg)) != FS_OK || (e = db_exec(c, "COMMIT", msg)) != FS_OK) {
            free(sql);
            db_exec(c, "ROLLBACK", NULL);
            fs_msg_prefix(msg, "migration %d: ", v + 1);
            return e;
        }
        free(sql);
        fs_log(FS_LOG_INFO, "store: applied migration %d in %s", v + 1,
               s->engine == DB_SQLITE ? s->dir : "PostgreSQL");
    }
}

/* "host:pid:random" unless the caller names the node: readable in the tasks table, unique
 * across restarts of the same process id. */
static fs_err make_node_id(fs_store *s, const char *given, fs_msg *msg) {
    if (given && *given) {
        if (strlen(given) >= sizeof s->node_id)
            return fs_fail(msg, FS_ERR_INVALID, "store: node id longer than %d bytes", FS_STORE_NODE_ID_MAX - 1);
        snprintf(s->node_id, sizeof s->node_id, "%s", given);
        return FS_OK;
    }
    char host[40] = "";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "node");
    host[sizeof host - 1] = '\0';
    uint8_t raw[4];
    char hex[9];
    fs_err e = store_random(raw, sizeof raw, msg);
    if (e != FS_OK) return e;
    store_hex(raw, sizeof raw, hex);
    snprintf(s->node_id, sizeof s->node_id, "%s:%ld:%s", host, (long)getpid(), hex);
    return FS_OK;
}

int fs_store_url_is_postgres(const char *url) {
    return url && (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11));
}

fs_err fs_store_open(const char *data_dir, fs_store **out, fs_msg *msg) {
    return fs_store_open_with(data_dir, NULL, out, msg);
}

fs_err fs_store_open_with(const char *data_dir, const fs_store_options *opt, fs_store **out,
                          fs_msg *msg) {
    *out = NULL;
    const char *url = opt && opt->url && *opt->url ? opt->url : NULL;
    if (url && !fs_store_url_is_postgres(url))
        return fs_fail(msg, FS_ERR_INVALID, "store: '%s' is not a postgresql:// URL (leave it out "
                       "for SQLite in the data directory)", url);
    if (!data_dir || !*data_dir) return fs_fail(msg, FS_ERR_INVALID, "store: empty data directory");
    fs_store *s = calloc(1, sizeof *s);
    if (!s) return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_free, NULL);
    pthread_mutex_init(&s->blob_lock, NULL);
    s->backoff_ms = STORE_BACKOFF_MIN_MS;
    s->lease_ms = opt && opt->lease_ms > 0 ? opt->lease_ms : FS_STORE_LEASE_MS_DEFAULT;
    fs_err e;
    if ((e = make_node_id(s, opt ? opt->node_id : NULL, msg)) != FS_OK) goto fail;
    const char *blobs = opt && opt->blob_dir && *opt->blob_dir ? opt->blob_dir : NULL;
    if (strlen(data_dir) + 64 >= sizeof s->dir || (blobs && strlen(blobs) + 64 >= sizeof s->dir) ||
        (url && strlen(url) >= sizeof s->url)) {
        e = fs_fail(msg, FS_ERR_INVALID, "store: data directory, blob directory or URL too long");
        goto fail;
    }
    /* Store the directories as given, minus trailing slashes, so blob paths read cleanly. */
    snprintf(s->dir, sizeof s->dir, "%s", data_dir);
    for (size_t n = strlen(s->dir); n > 1 && s->dir[n - 1] == '/'; n--) s->dir[n - 1] = '\0';
    if (blobs) snprintf(s->blob_dir, sizeof s->blob_dir, "%s", blobs);
    else snprintf(s->blob_dir, sizeof s->blob_dir, "%s/blobs", s->dir);
    for (size_t n = strlen(s->blob_dir); n > 1 && s->blob_dir[n - 1] == '/'; n--) s->blob_dir[n - 1] = '\0';
    if ((e = fs_mkdirs(s->dir, msg)) != FS_OK || (e = fs_mkdirs(s->blob_dir, msg)) != FS_OK) goto fail;
    if (url) {
        s->engine = DB_POSTGRES;
        snprintf(s->url, sizeof s->url, "%s", url);
        int n = opt->pool > 0 ? opt->pool : FS_STORE_POOL_DEFAULT;
        s->n_conns = n > FS_STORE_POOL_MAX ? FS_STORE_POOL_MAX : n;
        for (int i = 0; i < s->n_conns; i++)
            if ((e = db_open_pg(s->url, FS_STORE_STATEMENT_TIMEOUT_MS, &s->conns[i], msg)) != FS_OK) goto fail;
    } else {
        s->engine = DB_SQLITE;
        char db_path[STORE_PATH_MAX + 32];
        snprintf(db_path, sizeof db_path, "%s/%s", s->dir, FS_STORE_DB_NAME);
        s->n_conns = 1;
        if ((e = db_open_sqlite(db_path, FS_STORE_BUSY_TIMEOUT_MS, &s->conns[0], msg)) != FS_OK) goto fail;
    }
    db_conn *c;
    if ((e = store_acquire(s, &c, msg)) != FS_OK) goto fail;
    e = migrate(s, c, msg);
    store_release(s, c);
    if (e != FS_OK) goto fail;
    *out = s;
    return FS_OK;
fail:
    fs_store_close(s);
    return e;
}

void fs_store_close(fs_store *s) {
    if (!s) return;
    for (int i = 0; i < s->n_conns; i++) db_close(s->conns[i]);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_free);
    pthread_mutex_destroy(&s->blob_lock);
    free(s);
}

const char *fs_store_dir(const fs_store *s) { return s->dir; }
const char *fs_store_blob_dir(const fs_store *s) { return s->blob_dir; }
int fs_store_is_shared(const fs_store *s) { return s->engine == DB_POSTGRES; }

int fs_store_schema_version(fs_store *s) {
    db_conn *c;
    if (store_acquire(s, &c, NULL) != FS_OK) return -1;
    int v = read_version(c);
    store_release(s, c);
    return v;
}
