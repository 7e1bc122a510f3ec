/* store_internal.h: the fs_store struct and helpers shared by the store's source files. */
#ifndef FS_STORE_INTERNAL_H
#define FS_STORE_INTERNAL_H

#include "fakescope/store.h"

#include <pthread.h>
#include <sqlite3.h>

#define STORE_PATH_MAX 1024

struct fs_store {
    sqlite3 *db;
    pthread_mutex_t lock;      /* guards db: every statement runs with it held */
    pthread_mutex_t blob_lock; /* serialises blob writes (fs_write_file's temporary name is per process) */
    char dir[STORE_PATH_MAX];
    char blob_dir[STORE_PATH_MAX + 16];
};

/* Maps a SQLite result to an fs_err and message. */
fs_err store_sqlite_fail(fs_store *s, fs_msg *msg, int rc, const char *what);
/* Prepares sql; on failure fills msg. Caller must hold the lock. */
fs_err store_prepare(fs_store *s, const char *sql, sqlite3_stmt **st, fs_msg *msg);
/* Copies a text column into dst (cap bytes, truncating), "" when NULL. */
void store_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap);
/* Fills buf with n random bytes from getrandom. */
fs_err store_random(void *buf, size_t n, fs_msg *msg);
void store_hex(const uint8_t *raw, size_t n, char *out);

#endif
