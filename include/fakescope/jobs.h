/* jobs (jobs/): the background task queue. Tasks live in the store (fs_task rows: queued,
 * running, done, failed, with progress and an error text), so they survive a crash; a pool of
 * worker threads claims them one at a time (fs_store_task_claim, the one claiming query) and runs
 * the handler registered for the task's kind.
 *
 * Rules:
 *  - Identical work is done once: a submit whose (kind, input_ref) matches a task that is queued,
 *    running or done joins that task instead of creating another. Inputs are named by content
 *    (the SHA-256 of the media and a settings key), so "the same input" is exact.
 *  - Retries only where safe: a handler error of kind FS_ERR_IO, FS_ERR_NOMEM or FS_ERR_INTERNAL
 *    may be transient and the task is queued again; any other error (bad input, limits, timeout)
 *    fails the task at once. A task left running by a crash is queued again at the next start.
 *    Either way a task is claimed at most FS_JOBS_MAX_ATTEMPTS times, so a poison task cannot
 *    loop forever.
 *  - A full queue (FS_JOBS_DEFAULT_MAX_QUEUED queued tasks, configurable) refuses new tasks with
 *    FS_ERR_LIMIT; the server answers 503 with Retry-After.
 *  - Several nodes may share the queue (a PostgreSQL store): a claim is a lease this node's
 *    heartbeat renews; tasks of a node that stops renewing are queued again by the others, and a
 *    node that lost a lease cannot finish the task (it ends once). Waiters and idle workers are
 *    woken by the store's notifications (fs_store_listen), not by polling.
 *  - A failed task's error text starts with the fs_err name of its cause ("format: ...") so a
 *    dialect can map it back with fs_jobs_error_kind.
 *
 * Threads: every function is thread-safe. Handlers run on the worker threads.
 * Ownership: fs_jobs_create makes, fs_jobs_free releases (stopping the workers first); the store
 * and metrics are borrowed and must outlive the jobs. */
#ifndef FAKESCOPE_JOBS_H
#define FAKESCOPE_JOBS_H

#include "fakescope/core.h"
#include "fakescope/engine.h"
#include "fakescope/metrics.h"
#include "fakescope/store.h"

#define FS_JOBS_MAX_ATTEMPTS 3
#define FS_JOBS_DEFAULT_MAX_QUEUED 64
#define FS_JOBS_DEFAULT_TIMEOUT_S 300
#define FS_JOBS_MAX_WORKERS 64
#define FS_JOBS_MAX_KINDS 8
#define FS_JOBS_POLL_MS 500      /* idle workers look at the store this often (other processes) */
#define FS_JOBS_SHARED_POLL_MS 2000 /* the same with a PostgreSQL store, where LISTEN/NOTIFY wakes them */
#define FS_JOBS_FINISH_RETRY_MS 20000 /* how long a finished task's write is retried while the store is down */
#define FS_JOBS_RETRY_AFTER_S 5  /* what a full queue tells clients */

typedef struct fs_jobs fs_jobs;
typedef struct fs_job_run fs_job_run;

/* Runs one task. On success writes where its result is (fs_task.result_ref, at most
 * sizeof result_ref - 1 bytes) and returns FS_OK; on failure returns the error with msg filled. */
typedef fs_err (*fs_job_fn)(void *ctx, fs_job_run *run, const fs_task *task, char result_ref[256],
                            fs_msg *msg);
/* What a running handler may call: record progress (0..1), and milliseconds left before the
 * task's time limit (handlers pass it to decoders' budgets). */
void fs_job_progress(fs_job_run *run, double progress);
double fs_job_remaining_ms(const fs_job_run *run);
int fs_job_attempt(const fs_job_run *run);
fs_store *fs_job_store(fs_job_run *run);
fs_metrics *fs_job_metrics(fs_job_run *run); /* may be NULL */

typedef struct fs_jobs_config {
    int workers;       /* worker threads; <= 0: one per CPU */
    int max_queued;    /* queued tasks accepted; <= 0: FS_JOBS_DEFAULT_MAX_QUEUED */
    int timeout_s;     /* per-task time limit; <= 0: FS_JOBS_DEFAULT_TIMEOUT_S */
    fs_metrics *metrics; /* queue depth goes here (may be NULL) */
} fs_jobs_config;

fs_err fs_jobs_create(fs_store *store, const fs_jobs_config *cfg, fs_jobs **out, fs_msg *msg);
/* Registers the handler of a kind (before fs_jobs_start). */
fs_err fs_jobs_handle(fs_jobs *j, const char *kind, fs_job_fn fn, void *ctx, fs_msg *msg);
/* The same, the jobs owning ctx once registered: fs_jobs_free calls free_ctx(ctx). On failure
 * the caller keeps it. */
fs_err fs_jobs_handle_owned(fs_jobs *j, const char *kind, fs_job_fn fn, void *ctx,
                            void (*free_ctx)(void *ctx), fs_msg *msg);
/* Recovers tasks a crash left running, then starts the workers. */
fs_err fs_jobs_start(fs_jobs *j, fs_msg *msg);
/* Stops taking tasks and waits for the running ones to finish. Safe to call twice. */
void fs_jobs_stop(fs_jobs *j);
void fs_jobs_free(fs_jobs *j);
fs_store *fs_jobs_store(fs_jobs *j);
fs_metrics *fs_jobs_metrics(fs_jobs *j);

/* Queues a task, or joins the existing task for the same (kind, input_ref) if one is queued,
 * running or done (*joined = 1; a failed one is not joined: submitting again retries it).
 * FS_ERR_LIMIT when the queue is full. task_id receives the task's id. */
fs_err fs_jobs_submit(fs_jobs *j, const char *kind, const char *input_ref,
                      char task_id[FS_TASK_ID_LEN + 1], int *joined, fs_msg *msg);
/* Waits until the task is done or failed, or timeout_ms pass (FS_ERR_TIMEOUT, with the task's
 * current row in *task). FS_ERR_NOTFOUND for an unknown id. */
fs_err fs_jobs_wait(fs_jobs *j, const char *task_id, double timeout_ms, fs_task *task,
                    fs_msg *msg);
/* Number of queued tasks (as last counted). */
int64_t fs_jobs_queued(fs_jobs *j);
/* Tasks this process finished (done or failed) since it started: for tests and metrics. */
uint64_t fs_jobs_completed(fs_jobs *j);
/* The fs_err named at the start of a failed task's error text (FS_ERR_INTERNAL if none). */
fs_err fs_jobs_error_kind(const char *error);

/* ---- the scan task (jobs/scan_job.c): the detect pipeline on stored media ---- */
#define FS_JOB_KIND_SCAN "scan"
#define FS_SCAN_MAX_FRAMES 64
/* What a scan task is given, encoded in its input_ref as "SHA256 SETTINGS", where SETTINGS is
 * the results key: "scan1;src=video|frames;f=N;c=faces|whole;m=A,B". */
typedef struct fs_scan_job_spec {
    char sha256[FS_SHA256_HEX];
    int frames_src;  /* 1: the blob is a frame bundle (fs_frame_bundle_*), 0: one image or video */
    int frames;      /* sampled frames of a video, 1..FS_SCAN_MAX_FRAMES */
    int whole_fallback; /* 1: a still image without a face is judged whole (FS_CROP_FACES_OR_WHOLE) */
    int n_models;
    char models[FS_DETECT_MAX_MODELS][FS_DETECT_NAME_MAX];
    /* What the models are, not only their names: 16 hex digits of a digest of each model's
     * weights and decision threshold (fs_scan_pick_models), so a result stored under a model's
     * old weights or old threshold is not served for the new ones. "" leaves it out. */
    char tag[17];
} fs_scan_job_spec;
/* Writes the settings key (the results table's second key) into buf. FS_ERR_LIMIT if it does
 * not fit (names too long), FS_ERR_INVALID for a malformed spec. */
fs_err fs_scan_job_settings(const fs_scan_job_spec *spec, char *buf, size_t cap, fs_msg *msg);
/* "SHA256 SETTINGS". */
fs_err fs_scan_job_input_ref(const fs_scan_job_spec *spec, char *buf, size_t cap, fs_msg *msg);
fs_err fs_scan_job_parse(const char *input_ref, fs_scan_job_spec *spec, fs_msg *msg);
/* Registers the scan handler: results are stored as fs_scan_result_json objects under
 * (sha256, settings); inferences are counted in the jobs' metrics. The engine is borrowed.
 * With a media pool (borrowed; NULL decodes in this process), every task's media are decoded
 * in its sandboxed workers, each decode bounded by media_timeout_ms and the task's time
 * limit; a task whose media crashed a worker is tried once more, then fails. */
struct fs_media_pool;
fs_err fs_jobs_add_scan(fs_jobs *j, fs_engine *engine, struct fs_media_pool *media,
                        double media_timeout_ms, fs_msg *msg);

/* A frame bundle: several encoded pictures in one blob, so a list of frames is stored and keyed
 * like one media file. Layout: "FSFRAMES1\n", then per frame a 4-byte little-endian length and
 * the bytes. */
#define FS_FRAME_BUNDLE_MAGIC "FSFRAMES1\n"
#define FS_FRAME_BUNDLE_MAX 256
fs_err fs_frame_bundle_make(const uint8_t *const *data, const size_t *len, int n, uint8_t **out,
                            size_t *out_len, fs_msg *msg);
/* Points parts into bundle (no copy). *n receives the count (at most cap). */
fs_err fs_frame_bundle_parse(const uint8_t *bundle, size_t len, const uint8_t **parts,
                             size_t *part_len, int cap, int *n, fs_msg *msg);

#endif
