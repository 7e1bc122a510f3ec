/* store: fakescope's persistent state: tables for models, API keys, media, results and tasks,
 * plus a content-addressed blob folder. Two engines behind one interface: SQLite (WAL), embedded,
 * the default on one machine; PostgreSQL (libpq) when several fakescope nodes share one state
 * (docs/cluster.md). The SQL is written once for both (src/store/db.h).
 *
 * Layout of a data directory:  DIR/fakescope.db (+ -wal, -shm)   DIR/blobs/ab/cdef...
 * With PostgreSQL the tables live in the database and DIR holds only node-local files; the
 * blob folder is DIR/blobs unless fs_store_options.blob_dir names another (in a cluster, a
 * folder every node mounts).
 *
 * Durability: journal_mode=WAL with synchronous=FULL. NORMAL would already survive kill -9 (a
 * commit in WAL mode has reached the OS before it returns), but could lose the last commits on
 * power loss; FULL fsyncs the WAL on each commit, so "a committed result is there after
 * restart" holds for machine crashes too. Our writes are few (keys, results, task state), so the
 * extra fsync is cheap.
 *
 * PostgreSQL: synchronous_commit stays on (the server's default), so a committed row survives a
 * crash of the database server too. A lost connection is reset with backoff; while the database
 * does not answer, calls fail at once with FS_ERR_IO and a message starting "store unavailable".
 *
 * Threads: a pool of connections (one for SQLite, which serialises writers anyway;
 * FS_STORE_POOL_DEFAULT for PostgreSQL), each lent to one call at a time; every function may be
 * called from any thread.
 *
 * Ownership: fs_store_open creates, fs_store_close releases. Lists and strings returned through
 * out-parameters are malloc'd and freed by the caller with free() (lists: one free). */
#ifndef FAKESCOPE_STORE_H
#define FAKESCOPE_STORE_H

#include "fakescope/core.h"
#include "fakescope/sha256.h"

typedef struct fs_store fs_store;

#define FS_STORE_BUSY_TIMEOUT_MS 5000       /* SQLite busy wait; also the wait for a free pooled connection */
#define FS_STORE_STATEMENT_TIMEOUT_MS 30000 /* PostgreSQL statement_timeout */
#define FS_STORE_DB_NAME "fakescope.db"
#define FS_STORE_POOL_DEFAULT 8
#define FS_STORE_POOL_MAX 64
#define FS_STORE_NODE_ID_MAX 64
#define FS_STORE_LEASE_MS_DEFAULT 10000
/* The PostgreSQL channel on which a task's id is announced when it is finished or queued again. */
#define FS_STORE_CHANNEL "fakescope_tasks"

typedef struct fs_store_options {
    const char *url;      /* NULL or "": SQLite in DIR; "postgresql://..." (or "postgres://") */
    const char *blob_dir; /* NULL or "": DIR/blobs */
    int pool;             /* PostgreSQL connections of this process; <= 0: FS_STORE_POOL_DEFAULT */
    const char *node_id;  /* this process in the tasks' lease_owner; NULL: "host:pid:random" */
    int lease_ms;         /* how long a claim holds without a heartbeat; <= 0: FS_STORE_LEASE_MS_DEFAULT */
} fs_store_options;

/* Opens (creating if needed) DIR, its database and blob folder, and applies pending migrations,
 * each in its own transaction. Reopening an up-to-date store changes nothing. */
fs_err fs_store_open(const char *data_dir, fs_store **out, fs_msg *msg);
/* The same with a choice of engine and blob folder (opt may be NULL). With PostgreSQL, every
 * connection of the pool is made here (FS_ERR_IO when the database does not answer), and nodes
 * opening the same fresh database take turns applying the migrations. */
fs_err fs_store_open_with(const char *data_dir, const fs_store_options *opt, fs_store **out,
                          fs_msg *msg);
/* 1 for "postgresql://..." and "postgres://..." URLs. */
int fs_store_url_is_postgres(const char *url);
void fs_store_close(fs_store *s);
const char *fs_store_dir(const fs_store *s);
const char *fs_store_blob_dir(const fs_store *s);
/* 1 when other processes may share the store's rows (PostgreSQL). */
int fs_store_is_shared(const fs_store *s);
/* Number of migrations applied (the schema version); -1 when the database does not answer. */
int fs_store_schema_version(fs_store *s);
/* Number of migrations compiled into this binary. */
int fs_store_schema_latest(void);

/* ---- API keys: the secret is shown once; only its SHA-256 is stored ---- */
#define FS_KEY_PREFIX "fsk_"
#define FS_KEY_SECRET_BYTES 32                       /* from getrandom */
#define FS_KEY_SECRET_LEN (4 + 2 * FS_KEY_SECRET_BYTES) /* "fsk_" + 64 hex */
#define FS_KEY_DISPLAY_LEN 12                        /* "fsk_" + 8 hex, shown in lists */
#define FS_KEY_NAME_MAX 128

typedef struct fs_key_info {
    int64_t id;
    char name[FS_KEY_NAME_MAX + 1];
    char prefix[FS_KEY_DISPLAY_LEN + 1];
    int64_t created;    /* unix seconds */
    int64_t revoked_at; /* unix seconds, 0 while valid */
    int is_admin;
} fs_key_info;

/* Creates a key named name (1..FS_KEY_NAME_MAX printable bytes). Writes the secret into
 * secret (FS_KEY_SECRET_LEN + 1 bytes) and the row into info (either may be NULL). */
fs_err fs_store_key_create(fs_store *s, const char *name, int is_admin, fs_key_info *info,
                           char secret[FS_KEY_SECRET_LEN + 1], fs_msg *msg);
/* All keys, oldest first, revoked ones included. Caller frees *keys. */
fs_err fs_store_key_list(fs_store *s, fs_key_info **keys, size_t *n, fs_msg *msg);
/* Marks a key revoked. FS_ERR_NOTFOUND if no such id; revoking twice keeps the first time. */
fs_err fs_store_key_revoke(fs_store *s, int64_t id, fs_msg *msg);
/* Checks a presented secret: FS_OK and the key's row when it names a valid, unrevoked key;
 * FS_ERR_AUTH otherwise (unknown, malformed or revoked: the message says which). Hashes are
 * compared in constant time. */
fs_err fs_store_key_verify(fs_store *s, const char *secret, fs_key_info *info, fs_msg *msg);
/* Number of keys ever created (revoked included). */
fs_err fs_store_key_count(fs_store *s, int64_t *n, fs_msg *msg);
/* 1 when the SHA-256 of secret equals the 64-hex digest hash_hex; constant time in the secret. */
int fs_key_hash_matches(const char *hash_hex, const char *secret);

/* ---- blobs: DIR/blobs/ab/cdef... named by the SHA-256 of their bytes ---- */
/* Stores bytes (atomically; an existing blob is kept) and writes its hex digest into hex. */
fs_err fs_store_blob_put(fs_store *s, const void *data, size_t len, char hex[FS_SHA256_HEX],
                         fs_msg *msg);
/* Reads a blob and checks its digest: FS_ERR_NOTFOUND if absent, FS_ERR_FORMAT if the file no
 * longer hashes to its name, FS_ERR_INVALID for a malformed hex name. Caller frees *data. */
fs_err fs_store_blob_get(fs_store *s, const char *hex, size_t max_bytes, uint8_t **data,
                         size_t *len, fs_msg *msg);
/* Path of a blob (whether or not it exists); FS_ERR_INVALID for a malformed hex name. */
fs_err fs_store_blob_path(const fs_store *s, const char *hex, char *path, size_t cap, fs_msg *msg);

/* ---- media: one row per distinct content ---- */
typedef struct fs_media_info {
    char sha256[FS_SHA256_HEX];
    int64_t size;
    char mime[96];
    char blob_path[1024];
    int64_t created;
} fs_media_info;
/* Stores bytes as a blob and records them (idempotent: the same bytes give the same row). */
fs_err fs_store_media_put(fs_store *s, const void *data, size_t len, const char *mime,
                          fs_media_info *info, fs_msg *msg);
fs_err fs_store_media_get(fs_store *s, const char *sha256, fs_media_info *info, fs_msg *msg);

/* ---- results: JSON keyed by (media sha256, settings key), unique ---- */
/* Writes or replaces the result (for records that change, like a classification's metadata). */
fs_err fs_store_result_put(fs_store *s, const char *sha256, const char *settings,
                           const char *json, fs_msg *msg);
/* Writes the result unless one exists for the key, which is then kept (*written = 0): a computed
 * result is written once, even when two nodes computed it. written may be NULL. */
fs_err fs_store_result_put_once(fs_store *s, const char *sha256, const char *settings,
                                const char *json, int *written, fs_msg *msg);
/* FS_ERR_NOTFOUND when absent. Caller frees *json. */
fs_err fs_store_result_get(fs_store *s, const char *sha256, const char *settings, char **json,
                           fs_msg *msg);

/* ---- models ---- */
typedef struct fs_model_row {
    char id[64];
    char name[128];
    char arch[64];
    char *card_json;     /* owned by the row; fs_model_rows_free releases it */
    char weights_path[1024];
    char weights_sha256[FS_SHA256_HEX];
    int64_t created;
} fs_model_row;
/* Inserts or replaces the model with row->id (created is set when 0). */
fs_err fs_store_model_put(fs_store *s, const fs_model_row *row, fs_msg *msg);
fs_err fs_store_model_list(fs_store *s, fs_model_row **rows, size_t *n, fs_msg *msg);
void fs_model_rows_free(fs_model_row *rows, size_t n);

/* ---- tasks: the job queue's rows ---- */
typedef enum { FS_TASK_QUEUED, FS_TASK_RUNNING, FS_TASK_DONE, FS_TASK_FAILED } fs_task_status;
#define FS_TASK_ID_LEN 32 /* hex */
typedef struct fs_task {
    char id[FS_TASK_ID_LEN + 1];
    char kind[64];
    fs_task_status status;
    double progress; /* 0..1 */
    char error[FS_MSG_MAX];
    char input_ref[256];
    char result_ref[256];
    int64_t created, updated;
    int attempts;
    char lease_owner[FS_STORE_NODE_ID_MAX]; /* node running it ("" when none) */
    int64_t lease_until_ms;                 /* unix ms; the claim holds until then */
} fs_task;
const char *fs_task_status_name(fs_task_status st);
/* Queues a task; writes the new id into task_id (FS_TASK_ID_LEN + 1 bytes). */
fs_err fs_store_task_create(fs_store *s, const char *kind, const char *input_ref,
                            char task_id[FS_TASK_ID_LEN + 1], fs_msg *msg);
fs_err fs_store_task_get(fs_store *s, const char *id, fs_task *task, fs_msg *msg);
/* Leases: a claimed task carries this store's node id (fs_store_node_id) and a lease that
 * holds for lease_ms unless renewed by fs_store_task_heartbeat. When a node dies its leases run
 * out and fs_store_task_expire, run by any node, queues the tasks again. Progress, finish and
 * requeue change a task only while this node holds its lease (or nobody does and the task is
 * not finished): a node whose lease was taken over gets FS_ERR_CONFLICT, so a task ends once.
 * Lease times are wall-clock milliseconds: nodes need synchronised clocks (NTP). */
const char *fs_store_node_id(const fs_store *s);
int fs_store_lease_ms(const fs_store *s);
int64_t fs_store_now_ms(void);
/* Claims the oldest queued task (status -> running, attempts + 1, leased to this node).
 * FS_ERR_NOTFOUND when the queue is empty. The only place a task is claimed: one statement,
 * with FOR UPDATE SKIP LOCKED on PostgreSQL so claimers on several nodes never wait on a row. */
fs_err fs_store_task_claim(fs_store *s, fs_task *task, fs_msg *msg);
fs_err fs_store_task_progress(fs_store *s, const char *id, double progress, fs_msg *msg);
/* Finishes a task: done (result_ref set) or failed (error set). On PostgreSQL, nodes listening
 * on FS_STORE_CHANNEL are told (fs_store_listen). */
fs_err fs_store_task_finish(fs_store *s, const char *id, int ok, const char *result_ref,
                            const char *error, fs_msg *msg);
/* Extends the leases of the n tasks named (1..FS_STORE_HEARTBEAT_MAX, those this node is
 * running); *renewed (may be NULL) counts those still leased to this node. */
#define FS_STORE_HEARTBEAT_MAX 64
fs_err fs_store_task_heartbeat(fs_store *s, const char *const *ids, int n, int64_t *renewed,
                               fs_msg *msg);
/* Queues again the running tasks whose lease ran out (or fails those claimed max_attempts
 * times), whichever node held them. */
fs_err fs_store_task_expire(fs_store *s, int max_attempts, int *requeued, int *failed, fs_msg *msg);

/* Tasks in a status (the queue depth is the count of FS_TASK_QUEUED). */
fs_err fs_store_task_count(fs_store *s, fs_task_status status, int64_t *n, fs_msg *msg);
/* The newest task of kind with this exact input_ref, whatever its status: how a request joins
 * work already queued or running instead of starting a duplicate. FS_ERR_NOTFOUND if none. */
fs_err fs_store_task_find(fs_store *s, const char *kind, const char *input_ref, fs_task *task,
                          fs_msg *msg);
/* Puts a running task back in the queue (a transient failure, to be tried again). */
fs_err fs_store_task_requeue(fs_store *s, const char *id, fs_msg *msg);
/* At start: every task left running by a crash goes back to the queue, unless it has already
 * been claimed max_attempts times (then it fails: a task that keeps killing its worker must not
 * loop forever). Counts what it did in *requeued and *failed (either may be NULL). On a shared
 * store (PostgreSQL) only expired leases are taken back: the others are live on other nodes. */
fs_err fs_store_task_recover(fs_store *s, int max_attempts, int *requeued, int *failed,
                             fs_msg *msg);

/* ---- notifications (PostgreSQL LISTEN/NOTIFY) ---- */
typedef struct fs_store_listener fs_store_listener;
/* Starts a thread with its own connection that LISTENs on FS_STORE_CHANNEL and calls
 * fn(ctx, payload) for each notification (the task id, or "" for "several tasks changed"), and
 * fn(ctx, NULL) after a reconnection, when notifications may have been missed. fn runs on the
 * listener's thread and must be quick. FS_ERR_UNSUPPORTED on SQLite (one process: nothing to
 * hear). fs_store_listener_stop joins the thread; call it before fs_store_close. */
fs_err fs_store_listen(fs_store *s, void (*fn)(void *ctx, const char *payload), void *ctx,
                       fs_store_listener **out, fs_msg *msg);
void fs_store_listener_stop(fs_store_listener *l);

#endif
