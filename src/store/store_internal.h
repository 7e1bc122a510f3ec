/* store_internal.h: the fs_store struct, its connection pool and helpers shared by the store's
 * source files. */
#ifndef FS_STORE_INTERNAL_H
#define FS_STORE_INTERNAL_H

#include "fakescope/store.h"
#include "db.h"

#include <pthread.h>

#define STORE_PATH_MAX 1024
#define STORE_URL_MAX 1024

struct fs_store {
    db_engine engine;
    char url[STORE_URL_MAX];   /* PostgreSQL conninfo; "" for SQLite */
    /* The pool: SQLite has one connection (SQLite serialises writers anyway), PostgreSQL
     * pool_size. A connection is lent to one thread at a time (store_acquire). */
    db_conn *conns[FS_STORE_POOL_MAX];
    int busy[FS_STORE_POOL_MAX];
    unsigned epoch[FS_STORE_POOL_MAX]; /* pool epoch when the connection was last (re)made */
    int n_conns;
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_free;
    unsigned pool_epoch;       /* bumped when a connection is found dead: the others are suspect */
    double retry_at_ms;        /* no reconnection attempt before this (backoff) */
    double backoff_ms;
    int unavailable;           /* the last reconnection failed */
    char node_id[FS_STORE_NODE_ID_MAX]; /* lease_owner of the tasks this process claims */
    int64_t lease_ms;
    pthread_mutex_t blob_lock; /* serialises blob writes (fs_write_file's temporary name is per process) */
    char dir[STORE_PATH_MAX];
    char blob_dir[STORE_PATH_MAX + 16];
};

/* Lends a connection of the pool to the calling thread, reconnecting it first if it was lost
 * (with backoff: while the database does not answer, callers fail fast with FS_ERR_IO "store
 * unavailable" instead of each waiting for a connect timeout). Every store function runs its
 * statements between store_acquire and store_release. */
fs_err store_acquire(fs_store *s, db_conn **c, fs_msg *msg);
void store_release(fs_store *s, db_conn *c);
/* Fills buf with n random bytes from getrandom. */
fs_err store_random(void *buf, size_t n, fs_msg *msg);
void store_hex(const uint8_t *raw, size_t n, char *out);
/* Copies a text column into dst (cap bytes, truncating), "" when NULL. */
void store_col_text(db_stmt *st, int col, char *dst, size_t cap);

#endif
