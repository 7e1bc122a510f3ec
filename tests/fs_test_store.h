/* Opening the store in unit tests on either engine. Without FS_TEST_PG_URL a test's temporary
 * folder holds a SQLite store, as always; with it (the PostgreSQL pass of the suite, whose
 * throwaway server tests/tools/pg_fixture.sh starts) every folder maps to a database of its own,
 * created on first use, so reopening the "same store" reopens the same database and tests stay
 * independent. fs_test_store_sql runs one statement beside the store on the same engine. */
#ifndef FS_TEST_STORE_H
#define FS_TEST_STORE_H

#include "fakescope/sha256.h"
#include "fakescope/store.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline const char *fs_test_pg_admin(void) {
    const char *u = getenv("FS_TEST_PG_URL");
    return u && *u ? u : NULL;
}

/* The URL of dir's database (created if needed) into url, or "" for SQLite. 0 on success. */
static inline int fs_test_store_url(const char *dir, char *url, size_t cap) {
    const char *admin = fs_test_pg_admin();
    url[0] = '\0';
    if (!admin) return 0;
    char hex[FS_SHA256_HEX], name[32];
    if (fs_sha256_hex(dir, strlen(dir), hex) != FS_OK) return -1;
    snprintf(name, sizeof name, "t_%.20s", hex);
    /* admin is ".../postgres": swap the database name */
    const char *slash = strrchr(admin, '/');
    if (!slash) return -1;
    snprintf(url, cap, "%.*s/%s", (int)(slash - admin), admin, name);
    PGconn *c = PQconnectdb(admin);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "fs_test: %s: %s", admin, PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    char sql[96];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || (state && !strcmp(state, "42P04")); /* exists */
    if (!ok) fprintf(stderr, "fs_test: %s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* lease_ms <= 0: the default lease. */
static inline fs_err fs_test_store_open_lease(const char *dir, int lease_ms, fs_store **s, fs_msg *msg) {
    char url[512];
    if (fs_test_store_url(dir, url, sizeof url) != 0) return fs_fail(msg, FS_ERR_IO, "test database");
    fs_store_options o = {.url = url, .lease_ms = lease_ms};
    return fs_store_open_with(dir, &o, s, msg);
}

static inline fs_err fs_test_store_open(const char *dir, fs_store **s, fs_msg *msg) {
    return fs_test_store_open_lease(dir, 0, s, msg);
}

/* Runs sql on dir's store; returns the first column of the first row as a number (0 when the
 * statement returns none), or -1 on error. */
static inline long long fs_test_store_sql(const char *dir, const char *sql) {
    char url[512];
    if (fs_test_store_url(dir, url, sizeof url) != 0) return -1;
    long long v = -1;
    if (url[0]) {
        PGconn *c = PQconnectdb(url);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) v = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
        else if (PQresultStatus(r) == PGRES_COMMAND_OK) v = 0;
        else fprintf(stderr, "fs_test: %s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        return v;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, FS_STORE_DB_NAME);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

#endif
