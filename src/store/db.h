/* db.h: the store's one seam between SQL and an engine. A statement is prepared with `?`
 * placeholders, bound by position (1-based), stepped row by row and finalized, the way SQLite
 * works; the PostgreSQL side (db_pg.c) sends the statement with its parameters as text when it
 * is first stepped (`?` becomes $1, $2, ...) and walks the returned rows. Everything above this
 * file (keys.c, blobs.c, records.c, recognition.c, store.c) is written once for both engines.
 *
 * A db_conn is one connection; it is not thread-safe: the store's pool (store.c) lends it to one
 * thread at a time. The last error of a connection (what db_fail reports) is that of the last
 * statement that failed on it. Strings returned by db_col_text live until the next step or the
 * finalize of their statement. */
#ifndef FS_STORE_DB_H
#define FS_STORE_DB_H

#include "fakescope/core.h"

#include <stdint.h>

typedef struct db_conn db_conn;
typedef struct db_stmt db_stmt;

typedef enum { DB_SQLITE, DB_POSTGRES } db_engine;

enum { DB_ERROR = 1, DB_ROW = 100, DB_DONE = 101 };

/* Opens a SQLite file (WAL, synchronous=FULL, foreign keys, busy timeout). */
fs_err db_open_sqlite(const char *path, int busy_timeout_ms, db_conn **out, fs_msg *msg);
/* Connects to PostgreSQL (a libpq URL or key=value string). The session is set to UTC and its
 * statements to a statement_timeout so a stuck query cannot hold a request forever. */
fs_err db_open_pg(const char *conninfo, int statement_timeout_ms, db_conn **out, fs_msg *msg);
void db_close(db_conn *c);
db_engine db_engine_of(const db_conn *c);
/* 0 once the connection is known to be lost (PostgreSQL); SQLite connections never are. */
int db_alive(db_conn *c);
/* Re-establishes a lost connection (PostgreSQL: PQreset). */
fs_err db_reconnect(db_conn *c, fs_msg *msg);
/* The libpq connection (NULL for SQLite): for LISTEN/NOTIFY, which is PostgreSQL's alone. */
void *db_pg_handle(db_conn *c);

fs_err db_prepare(db_conn *c, const char *sql, db_stmt **st, fs_msg *msg);
void db_bind_text(db_stmt *st, int i, const char *v); /* NULL binds SQL NULL */
void db_bind_int64(db_stmt *st, int i, int64_t v);
void db_bind_double(db_stmt *st, int i, double v);
void db_bind_null(db_stmt *st, int i);
/* DB_ROW, DB_DONE or DB_ERROR (db_fail then tells why). */
int db_step(db_stmt *st);
const char *db_col_text(db_stmt *st, int i); /* NULL for SQL NULL */
int64_t db_col_int64(db_stmt *st, int i);    /* 0 for SQL NULL */
double db_col_double(db_stmt *st, int i);
int db_col_null(db_stmt *st, int i);
void db_finalize(db_stmt *st);
/* Rows changed by the last INSERT/UPDATE/DELETE stepped on c. */
int64_t db_changes(db_conn *c);

/* Runs SQL without results (several statements separated by ';' are allowed). */
fs_err db_exec(db_conn *c, const char *sql, fs_msg *msg);
/* Starts a write transaction: SQLite takes the write lock at once (BEGIN IMMEDIATE), so the
 * reads inside it see what the writes will change; PostgreSQL starts a plain transaction. */
fs_err db_begin(db_conn *c, fs_msg *msg);
/* db_begin, and on PostgreSQL a transaction-scoped advisory lock on key, so that processes
 * doing the same one-time work (migrations) take turns. */
fs_err db_begin_exclusive(db_conn *c, int64_t key, fs_msg *msg);
/* Fills msg from the connection's last error and returns its fs_err: a constraint violation is
 * FS_ERR_CONFLICT, a busy/locked database or a cancelled statement FS_ERR_TIMEOUT, a lost
 * connection FS_ERR_IO ("store unavailable"), out of memory FS_ERR_NOMEM. */
fs_err db_fail(db_conn *c, fs_msg *msg, const char *what);

#endif
