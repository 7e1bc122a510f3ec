/* db.c: the two engines behind db.h. SQLite statements map one to one onto sqlite3_stmt.
 * PostgreSQL statements are sent with PQexecParams when first stepped: the `?` placeholders
 * become $1..$n (outside quoted literals), every parameter travels as text and the server infers
 * its type from where it stands, so the portable SQL of the store needs no casts. The rows come
 * back whole (PGresult) and db_step walks them.
 *
 * A PostgreSQL connection that breaks (server restarted, network cut) is marked dead here;
 * the pool in store.c reconnects it with backoff before lending it again. */
#include "db.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_MAX_PARAMS 80 /* the lease heartbeat names up to FS_STORE_HEARTBEAT_MAX tasks */

struct db_conn {
    db_engine engine;
    sqlite3 *lite;
    PGconn *pg;
    int dead;           /* PostgreSQL: the connection was lost */
    int64_t changes;
    fs_err last_kind;   /* of the last failure */
    char last[FS_MSG_MAX];
};

struct db_stmt {
    db_conn *c;
    sqlite3_stmt *lite;
    /* PostgreSQL */
    char *sql;          /* with $n placeholders */
    int n_params;
    char *params[DB_MAX_PARAMS];
    PGresult *res;
    int executed, row, n_rows;
};

db_engine db_engine_of(const db_conn *c) { return c->engine; }
void *db_pg_handle(db_conn *c) { return c->pg; }

static void set_last(db_conn *c, fs_err kind, const char *text) {
    c->last_kind = kind;
    snprintf(c->last, sizeof c->last, "%s", text ? text : "unknown error");
    /* libpq messages end with a newline */
    size_t n = strlen(c->last);
    while (n > 0 && (c->last[n - 1] == '\n' || c->last[n - 1] == ' ')) c->last[--n] = '\0';
}

fs_err db_fail(db_conn *c, fs_msg *msg, const char *what) {
    if (c->last_kind == FS_ERR_IO && c->engine == DB_POSTGRES && c->dead)
        return fs_fail(msg, FS_ERR_IO, "store unavailable: %s: %s", what, c->last);
    return fs_fail(msg, c->last_kind ? c->last_kind : FS_ERR_IO, "store: %s: %s", what, c->last);
}

/* ---------------------------------------------------------------- SQLite */

static fs_err lite_kind(int rc) {
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return FS_ERR_NOMEM;
    case SQLITE_CONSTRAINT: return FS_ERR_CONFLICT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return FS_ERR_TIMEOUT;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return FS_ERR_FORMAT;
    default: return FS_ERR_IO;
    }
}

static void lite_error(db_conn *c, int rc) {
    set_last(c, lite_kind(rc), c->lite ? sqlite3_errmsg(c->lite) : sqlite3_errstr(rc));
}

fs_err db_open_sqlite(const char *path, int busy_timeout_ms, db_conn **out, fs_msg *msg) {
    *out = NULL;
    db_conn *c = calloc(1, sizeof *c);
    if (!c) return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    c->engine = DB_SQLITE;
    int rc = sqlite3_open_v2(path, &c->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        lite_error(c, rc);
        fs_err e = db_fail(c, msg, path);
        db_close(c);
        return e;
    }
    sqlite3_busy_timeout(c->lite, busy_timeout_ms);
    fs_err e = db_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", msg);
    if (e != FS_OK) {
        db_close(c);
        return e;
    }
    *out = c;
    return FS_OK;
}

/* ---------------------------------------------------------------- PostgreSQL */

/* SQLSTATE classes: 23 integrity, 40 rollback (serialization, deadlock), 57014 cancelled
 * (statement_timeout), 08 connection, 53 resources, 57P0x shutdown. */
static fs_err pg_kind(const char *state) {
    if (!state) return FS_ERR_IO;
    if (!strncmp(state, "23", 2)) return FS_ERR_CONFLICT;
    if (!strncmp(state, "40", 2) || !strcmp(state, "57014") || !strcmp(state, "55P03")) return FS_ERR_TIMEOUT;
    if (!strcmp(state, "53200")) return FS_ERR_NOMEM;
    return FS_ERR_IO;
}

/* Records the error of res (or of the connection when res is NULL). */
static void pg_error(db_conn *c, const PGresult *res) {
    if (PQstatus(c->pg) != CONNECTION_OK) c->dead = 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *text = res ? PQresultErrorMessage(res) : NULL;
    if (!text || !*text) text = PQerrorMessage(c->pg);
    if (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P0", 4))) c->dead = 1;
    set_last(c, c->dead ? FS_ERR_IO : pg_kind(state), text);
}

fs_err db_open_pg(const char *conninfo, int statement_timeout_ms, db_conn **out, fs_msg *msg) {
    *out = NULL;
    db_conn *c = calloc(1, sizeof *c);
    if (!c) return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    c->engine = DB_POSTGRES;
    /* Options travel in the startup packet, so they hold after a PQreset too. */
    char opts[128];
    snprintf(opts, sizeof opts, "-c TimeZone=UTC -c statement_timeout=%d -c client_min_messages=warning",
             statement_timeout_ms);
    const char *keys[] = {"dbname", "options", "connect_timeout", "application_name", NULL};
    const char *vals[] = {conninfo, opts, "5", "fakescope", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        free(c);
        return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        c->dead = 1;
        set_last(c, FS_ERR_IO, PQerrorMessage(c->pg));
        fs_err e = db_fail(c, msg, "connect");
        db_close(c);
        return e;
    }
    *out = c;
    return FS_OK;
}

int db_alive(db_conn *c) {
    if (c->engine == DB_SQLITE) return 1;
    return !c->dead && PQstatus(c->pg) == CONNECTION_OK;
}

fs_err db_reconnect(db_conn *c, fs_msg *msg) {
    if (c->engine == DB_SQLITE) return FS_OK;
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        c->dead = 1;
        set_last(c, FS_ERR_IO, PQerrorMessage(c->pg));
        return db_fail(c, msg, "reconnect");
    }
    c->dead = 0;
    return FS_OK;
}

void db_close(db_conn *c) {
    if (!c) return;
    if (c->lite) sqlite3_close_v2(c->lite);
    if (c->pg) PQfinish(c->pg);
    free(c);
}

/* `?` -> `$n` outside single-quoted literals and double-quoted names. */
static char *pg_placeholders(const char *sql, int *n) {
    size_t len = strlen(sql);
    char *out = malloc(len * 4 + 1); /* "?" -> "$32" at most */
    if (!out) return NULL;
    char *o = out;
    char quote = 0;
    *n = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote) quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            o += sprintf(o, "$%d", ++*n);
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

/* ---------------------------------------------------------------- statements */

fs_err db_prepare(db_conn *c, const char *sql, db_stmt **out, fs_msg *msg) {
    *out = NULL;
    db_stmt *st = calloc(1, sizeof *st);
    if (!st) return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    st->c = c;
    if (c->engine == DB_SQLITE) {
        int rc = sqlite3_prepare_v2(c->lite, sql, -1, &st->lite, NULL);
        if (rc != SQLITE_OK) {
            lite_error(c, rc);
            free(st);
            return db_fail(c, msg, "prepare");
        }
    } else {
        st->sql = pg_placeholders(sql, &st->n_params);
        if (!st->sql) {
            free(st);
            return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
        }
        if (st->n_params > DB_MAX_PARAMS) {
            free(st->sql);
            free(st);
            return fs_fail(msg, FS_ERR_INTERNAL, "store: too many parameters in a statement");
        }
    }
    *out = st;
    return FS_OK;
}

static void pg_set(db_stmt *st, int i, char *v) {
    if (i < 1 || i > st->n_params) {
        free(v);
        return;
    }
    free(st->params[i - 1]);
    st->params[i - 1] = v;
}

void db_bind_text(db_stmt *st, int i, const char *v) {
    if (st->lite) {
        if (v) sqlite3_bind_text(st->lite, i, v, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st->lite, i);
    } else {
        pg_set(st, i, v ? strdup(v) : NULL);
    }
}

void db_bind_int64(db_stmt *st, int i, int64_t v) {
    if (st->lite) {
        sqlite3_bind_int64(st->lite, i, v);
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)v);
        pg_set(st, i, strdup(buf));
    }
}

void db_bind_double(db_stmt *st, int i, double v) {
    if (st->lite) {
        sqlite3_bind_double(st->lite, i, v);
    } else {
        char buf[40];
        snprintf(buf, sizeof buf, "%.17g", v);
        pg_set(st, i, strdup(buf));
    }
}

void db_bind_null(db_stmt *st, int i) {
    if (st->lite) sqlite3_bind_null(st->lite, i);
    else pg_set(st, i, NULL);
}

int db_step(db_stmt *st) {
    db_conn *c = st->c;
    if (st->lite) {
        int rc = sqlite3_step(st->lite);
        if (rc == SQLITE_ROW) return DB_ROW;
        if (rc == SQLITE_DONE) {
            c->changes = sqlite3_changes(c->lite);
            return DB_DONE;
        }
        lite_error(c, rc);
        return DB_ERROR;
    }
    if (!st->executed) {
        st->executed = 1;
        st->res = PQexecParams(c->pg, st->sql, st->n_params, NULL, (const char *const *)st->params,
                               NULL, NULL, 0);
        ExecStatusType s = st->res ? PQresultStatus(st->res) : PGRES_FATAL_ERROR;
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
            pg_error(c, st->res);
            return DB_ERROR;
        }
        const char *ct = PQcmdTuples(st->res);
        c->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
        st->n_rows = s == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
        st->row = -1;
    }
    if (!st->res || PQresultStatus(st->res) == PGRES_FATAL_ERROR) return DB_ERROR;
    if (st->row + 1 < st->n_rows) {
        st->row++;
        return DB_ROW;
    }
    st->row = st->n_rows;
    return DB_DONE;
}

const char *db_col_text(db_stmt *st, int i) {
    if (st->lite) return (const char *)sqlite3_column_text(st->lite, i);
    if (!st->res || st->row < 0 || st->row >= st->n_rows || i >= PQnfields(st->res)) return NULL;
    if (PQgetisnull(st->res, st->row, i)) return NULL;
    return PQgetvalue(st->res, st->row, i);
}

int64_t db_col_int64(db_stmt *st, int i) {
    if (st->lite) return sqlite3_column_int64(st->lite, i);
    const char *t = db_col_text(st, i);
    return t ? strtoll(t, NULL, 10) : 0;
}

double db_col_double(db_stmt *st, int i) {
    if (st->lite) return sqlite3_column_double(st->lite, i);
    const char *t = db_col_text(st, i);
    return t ? strtod(t, NULL) : 0;
}

int db_col_null(db_stmt *st, int i) {
    if (st->lite) return sqlite3_column_type(st->lite, i) == SQLITE_NULL;
    return db_col_text(st, i) == NULL;
}

void db_finalize(db_stmt *st) {
    if (!st) return;
    if (st->lite) sqlite3_finalize(st->lite);
    if (st->res) PQclear(st->res);
    for (int i = 0; i < st->n_params; i++) free(st->params[i]);
    free(st->sql);
    free(st);
}

int64_t db_changes(db_conn *c) { return c->changes; }

fs_err db_exec(db_conn *c, const char *sql, fs_msg *msg) {
    if (c->engine == DB_SQLITE) {
        char *err = NULL;
        int rc = sqlite3_exec(c->lite, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            set_last(c, lite_kind(rc), err ? err : sqlite3_errstr(rc));
            sqlite3_free(err);
            return db_fail(c, msg, "exec");
        }
        return FS_OK;
    }
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        pg_error(c, res);
        PQclear(res);
        return db_fail(c, msg, "exec");
    }
    PQclear(res);
    return FS_OK;
}

fs_err db_begin(db_conn *c, fs_msg *msg) {
    return db_exec(c, c->engine == DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN", msg);
}

fs_err db_begin_exclusive(db_conn *c, int64_t key, fs_msg *msg) {
    fs_err e = db_begin(c, msg);
    if (e != FS_OK || c->engine == DB_SQLITE) return e;
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)key);
    if ((e = db_exec(c, sql, msg)) != FS_OK) db_exec(c, "ROLLBACK", NULL);
    return e;
}
