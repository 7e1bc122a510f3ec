/* jobs.c: the task queue's workers. State lives in the store's tasks table, never only in
 * memory: a worker claims the oldest queued row (fs_store_task_claim), runs the handler of its
 * kind and finishes the row; a crash between claim and finish leaves the row running, and the
 * next start puts it back in the queue (fs_store_task_recover) unless it has used its attempts.
 *
 * In memory there is only what makes waiting cheap: a condition variable the workers broadcast
 * when a task is queued or finished, so request threads waiting on a task (fs_jobs_wait) and idle
 * workers wake at once instead of polling. Both still re-read the store every FS_JOBS_POLL_MS, so
 * tasks queued by another process sharing a SQLite file are seen too.
 *
 * Several nodes (a PostgreSQL store): a claim is a lease held by this node. A heartbeat thread
 * renews this node's leases every lease/4 and takes back tasks whose lease ran out (a node that
 * died), so they run elsewhere. A listener (fs_store_listen, LISTEN/NOTIFY) broadcasts the
 * condition variable when any node queues or finishes a task: a synchronous request waits for
 * its task wherever it runs, woken by the notification; the periodic re-read stays only as a
 * safety net, at FS_JOBS_SHARED_POLL_MS. */
#include "fakescope/jobs.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct job_kind {
    char name[64];
    fs_job_fn fn;
    void *ctx;
    void (*free_ctx)(void *ctx); /* NULL: the caller owns ctx */
} job_kind;

struct fs_jobs {
    fs_store *store;
    fs_metrics *metrics;
    int workers, max_queued, timeout_s;
    job_kind kinds[FS_JOBS_MAX_KINDS];
    int n_kinds;
    pthread_t threads[FS_JOBS_MAX_WORKERS];
    int n_threads;
    int next_slot;          /* workers take slots 0, 1, ... at start (under lock) */
    /* The task each worker runs ("" when idle), under lock: what the heartbeat renews. */
    char running[FS_JOBS_MAX_WORKERS][FS_TASK_ID_LEN + 1];
    pthread_mutex_t lock;   /* guards stopping, and makes find-then-create in submit atomic */
    pthread_cond_t changed; /* a task was queued or finished */
    int stopping;
    uint64_t generation;    /* bumped with each broadcast, so a waiter misses none */
    atomic_int_fast64_t queued;
    atomic_uint_fast64_t completed;
    /* leases and notifications (all stores; the listener only on PostgreSQL) */
    pthread_t heartbeat;
    int heartbeat_running;
    fs_store_listener *listener;
    int poll_ms;            /* FS_JOBS_POLL_MS, or FS_JOBS_SHARED_POLL_MS with a listener */
};

struct fs_job_run {
    fs_jobs *jobs;
    const char *task_id;
    double deadline_ms;
    int attempt;
    double last_progress;
};

/* Absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static struct timespec after_ms(double ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ms < 0) ms = 0;
    long long ns = ts.tv_nsec + (long long)(ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

static void count_queue(fs_jobs *j) {
    int64_t n = 0;
    fs_msg msg;
    if (fs_store_task_count(j->store, FS_TASK_QUEUED, &n, &msg) != FS_OK) return;
    atomic_store(&j->queued, n);
    if (j->metrics) fs_metrics_queue_depth(j->metrics, n);
}

static void wake_all(fs_jobs *j) {
    pthread_mutex_lock(&j->lock);
    j->generation++;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
}

void fs_job_progress(fs_job_run *run, double progress) {
    if (!(progress >= 0)) progress = 0;
    if (progress > 1) progress = 1;
    /* Each update is a committed write; small steps are not worth an fsync. */
    if (progress < 1 && progress - run->last_progress < 0.05) return;
    run->last_progress = progress;
    fs_msg msg;
    if (fs_store_task_progress(run->jobs->store, run->task_id, progress, &msg) != FS_OK)
        fs_log(FS_LOG_WARN, "jobs: progress of %s: %s", run->task_id, msg.text);
}

double fs_job_remaining_ms(const fs_job_run *run) { return run->deadline_ms - fs_now_ms(); }
int fs_job_attempt(const fs_job_run *run) { return run->attempt; }
fs_store *fs_job_store(fs_job_run *run) { return run->jobs->store; }
fs_metrics *fs_job_metrics(fs_job_run *run) { return run->jobs->metrics; }

static int transient(fs_err e) { return e == FS_ERR_IO || e == FS_ERR_NOMEM || e == FS_ERR_INTERNAL; }

static const job_kind *kind_of(const fs_jobs *j, const char *name) {
    for (int i = 0; i < j->n_kinds; i++)
        if (!strcmp(j->kinds[i].name, name)) return &j->kinds[i];
    return NULL;
}

/* Finishes a task (ok 1: done, 0: failed, -1: queued again), retrying while the store is unavailable (a database restart): giving up at
 * once would leave the task to run again elsewhere once its lease runs out. FS_ERR_CONFLICT (the
 * lease went to another node) is final: that node finishes the task. */
static void finish_task(fs_jobs *j, const fs_task *t, int ok, const char *result_ref, const char *error) {
    fs_msg fin;
    double give_up = fs_now_ms() + FS_JOBS_FINISH_RETRY_MS;
    for (;;) {
        fs_err e = ok < 0 ? fs_store_task_requeue(j->store, t->id, &fin)
                          : fs_store_task_finish(j->store, t->id, ok, result_ref, error, &fin);
        if (e == FS_OK) return;
        if ((e == FS_ERR_IO || e == FS_ERR_TIMEOUT) && fs_now_ms() < give_up) {
            usleep(250 * 1000);
            continue;
        }
        fs_log(e == FS_ERR_CONFLICT ? FS_LOG_WARN : FS_LOG_ERROR, "jobs: cannot %s task %s: %s",
               ok < 0 ? "requeue" : ok ? "finish" : "fail", t->id, fin.text);
        return;
    }
}

/* Runs one claimed task to its end (done, failed or queued again). */
static void run_task(fs_jobs *j, const fs_task *t) {
    fs_msg msg = {0};
    fs_job_run run = {.jobs = j, .task_id = t->id, .deadline_ms = fs_now_ms() + j->timeout_s * 1000.0,
                      .attempt = t->attempts};
    char result_ref[256] = "";
    const job_kind *k = kind_of(j, t->kind);
    double t0 = fs_now_ms();
    fs_err e = k ? k->fn(k->ctx, &run, t, result_ref, &msg)
                 : fs_fail(&msg, FS_ERR_UNSUPPORTED, "no handler for tasks of kind '%s'", t->kind);
    if (e == FS_OK && fs_job_remaining_ms(&run) < 0)
        fs_log(FS_LOG_WARN, "jobs: task %s took %.0f ms, past its %d s limit", t->id, fs_now_ms() - t0,
               j->timeout_s);
    if (e == FS_OK) {
        finish_task(j, t, 1, result_ref, NULL);
        fs_log(FS_LOG_INFO, "jobs: task %s (%s) done in %.0f ms", t->id, t->kind, fs_now_ms() - t0);
    } else if (transient(e) && t->attempts < FS_JOBS_MAX_ATTEMPTS) {
        fs_log(FS_LOG_WARN, "jobs: task %s attempt %d failed (%s), queued again", t->id, t->attempts,
               msg.text);
        finish_task(j, t, -1, NULL, NULL);
    } else {
        char err[FS_MSG_MAX + 32];
        snprintf(err, sizeof err, "%s: %s", fs_err_name(e), msg.text);
        finish_task(j, t, 0, NULL, err);
        fs_log(FS_LOG_INFO, "jobs: task %s (%s) failed: %s", t->id, t->kind, err);
    }
    atomic_fetch_add(&j->completed, 1);
}

static void set_running(fs_jobs *j, int slot, const char *id) {
    pthread_mutex_lock(&j->lock);
    snprintf(j->running[slot], sizeof j->running[slot], "%s", id);
    pthread_mutex_unlock(&j->lock);
}

static void *worker_main(void *arg) {
    fs_jobs *j = arg;
    pthread_mutex_lock(&j->lock);
    int slot = j->next_slot++;
    pthread_mutex_unlock(&j->lock);
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int stop = j->stopping;
        uint64_t seen = j->generation;
        pthread_mutex_unlock(&j->lock);
        if (stop) break;
        fs_task t;
        fs_msg msg;
        fs_err e = fs_store_task_claim(j->store, &t, &msg);
        if (e == FS_OK) {
            set_running(j, slot, t.id);
            count_queue(j);
            run_task(j, &t);
            set_running(j, slot, "");
            count_queue(j);
            wake_all(j);
            continue;
        }
        if (e != FS_ERR_NOTFOUND) fs_log(FS_LOG_WARN, "jobs: claim: %s", msg.text);
        pthread_mutex_lock(&j->lock);
        struct timespec ts = after_ms(j->poll_ms);
        while (!j->stopping && j->generation == seen) {
            if (pthread_cond_timedwait(&j->changed, &j->lock, &ts) == ETIMEDOUT) break;
        }
        pthread_mutex_unlock(&j->lock);
    }
    return NULL;
}

/* A notification from another node (or NULL: the listener reconnected and may have missed
 * some): wake every waiter and idle worker to re-read the store. */
static void on_notify(void *ctx, const char *payload) {
    (void)payload;
    wake_all(ctx);
}

/* Renews the leases of the tasks this node's workers are running and takes back expired ones
 * (nodes that died, or tasks a worker here could not finish), every lease/4. */
static void *heartbeat_main(void *arg) {
    fs_jobs *j = arg;
    int period = fs_store_lease_ms(j->store) / 4;
    if (period < 20) period = 20;
    pthread_mutex_lock(&j->lock);
    while (!j->stopping) {
        struct timespec ts = after_ms(period);
        while (!j->stopping) {
            if (pthread_cond_timedwait(&j->changed, &j->lock, &ts) == ETIMEDOUT) break;
        }
        if (j->stopping) break;
        char ids[FS_JOBS_MAX_WORKERS][FS_TASK_ID_LEN + 1];
        const char *ptr[FS_JOBS_MAX_WORKERS];
        int n = 0;
        for (int i = 0; i < FS_JOBS_MAX_WORKERS; i++)
            if (j->running[i][0]) {
                memcpy(ids[n], j->running[i], sizeof ids[n]);
                ptr[n] = ids[n];
                n++;
            }
        pthread_mutex_unlock(&j->lock);
        fs_msg msg;
        if (n && fs_store_task_heartbeat(j->store, ptr, n, NULL, &msg) != FS_OK)
            fs_log(FS_LOG_WARN, "jobs: lease renewal: %s", msg.text);
        int requeued = 0, failed = 0;
        if (fs_store_task_expire(j->store, FS_JOBS_MAX_ATTEMPTS, &requeued, &failed, &msg) != FS_OK) {
            fs_log(FS_LOG_WARN, "jobs: lease expiry: %s", msg.text);
        } else if (requeued || failed) {
            fs_log(FS_LOG_INFO, "jobs: %d task(s) whose node stopped renewing its lease queued again, "
                   "%d failed after %d attempts", requeued, failed, FS_JOBS_MAX_ATTEMPTS);
            count_queue(j);
            wake_all(j);
        }
        pthread_mutex_lock(&j->lock);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

fs_err fs_jobs_create(fs_store *store, const fs_jobs_config *cfg, fs_jobs **out, fs_msg *msg) {
    *out = NULL;
    if (!store) return fs_fail(msg, FS_ERR_INVALID, "jobs need a store");
    fs_jobs *j = calloc(1, sizeof *j);
    if (!j) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    j->store = store;
    j->metrics = cfg ? cfg->metrics : NULL;
    int workers = cfg ? cfg->workers : 0;
    if (workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (int)n : 1;
    }
    j->workers = workers > FS_JOBS_MAX_WORKERS ? FS_JOBS_MAX_WORKERS : workers;
    j->max_queued = cfg && cfg->max_queued > 0 ? cfg->max_queued : FS_JOBS_DEFAULT_MAX_QUEUED;
    j->timeout_s = cfg && cfg->timeout_s > 0 ? cfg->timeout_s : FS_JOBS_DEFAULT_TIMEOUT_S;
    j->poll_ms = FS_JOBS_POLL_MS;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->changed, NULL);
    *out = j;
    return FS_OK;
}

fs_err fs_jobs_handle(fs_jobs *j, const char *kind, fs_job_fn fn, void *ctx, fs_msg *msg) {
    return fs_jobs_handle_owned(j, kind, fn, ctx, NULL, msg);
}

fs_err fs_jobs_handle_owned(fs_jobs *j, const char *kind, fs_job_fn fn, void *ctx,
                            void (*free_ctx)(void *ctx), fs_msg *msg) {
    if (!kind || !*kind || strlen(kind) >= sizeof j->kinds[0].name || !fn)
        return fs_fail(msg, FS_ERR_INVALID, "a task kind needs a name (1..63 bytes) and a handler");
    if (j->n_threads) return fs_fail(msg, FS_ERR_INVALID, "handlers are registered before start");
    if (kind_of(j, kind)) return fs_fail(msg, FS_ERR_CONFLICT, "kind '%s' already has a handler", kind);
    if (j->n_kinds == FS_JOBS_MAX_KINDS) return fs_fail(msg, FS_ERR_LIMIT, "too many task kinds");
    job_kind *k = &j->kinds[j->n_kinds++];
    snprintf(k->name, sizeof k->name, "%s", kind);
    k->fn = fn;
    k->ctx = ctx;
    k->free_ctx = free_ctx;
    return FS_OK;
}

fs_err fs_jobs_start(fs_jobs *j, fs_msg *msg) {
    if (j->n_threads) return fs_fail(msg, FS_ERR_INVALID, "jobs already started");
    int requeued = 0, failed = 0;
    fs_err e = fs_store_task_recover(j->store, FS_JOBS_MAX_ATTEMPTS, &requeued, &failed, msg);
    if (e != FS_OK) return e;
    if (requeued || failed)
        fs_log(FS_LOG_INFO, "jobs: %d interrupted task(s) queued again, %d failed after %d attempts",
               requeued, failed, FS_JOBS_MAX_ATTEMPTS);
    count_queue(j);
    j->stopping = 0;
    j->next_slot = 0;
    memset(j->running, 0, sizeof j->running);
    if (fs_store_is_shared(j->store)) {
        fs_err le = fs_store_listen(j->store, on_notify, j, &j->listener, msg);
        if (le != FS_OK) return le;
        j->poll_ms = FS_JOBS_SHARED_POLL_MS;
    }
    int hrc = pthread_create(&j->heartbeat, NULL, heartbeat_main, j);
    if (hrc) {
        fs_store_listener_stop(j->listener);
        j->listener = NULL;
        return fs_fail(msg, FS_ERR_INTERNAL, "cannot start the lease heartbeat: %s", strerror(hrc));
    }
    j->heartbeat_running = 1;
    for (int i = 0; i < j->workers; i++) {
        int rc = pthread_create(&j->threads[i], NULL, worker_main, j);
        if (rc) {
            fs_jobs_stop(j);
            return fs_fail(msg, FS_ERR_INTERNAL, "cannot start a job worker: %s", strerror(rc));
        }
        j->n_threads++;
    }
    return FS_OK;
}

void fs_jobs_stop(fs_jobs *j) {
    if (!j) return;
    pthread_mutex_lock(&j->lock);
    j->stopping = 1;
    j->generation++;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
    for (int i = 0; i < j->n_threads; i++) pthread_join(j->threads[i], NULL);
    j->n_threads = 0;
    if (j->heartbeat_running) pthread_join(j->heartbeat, NULL);
    j->heartbeat_running = 0;
    fs_store_listener_stop(j->listener);
    j->listener = NULL;
}

void fs_jobs_free(fs_jobs *j) {
    if (!j) return;
    fs_jobs_stop(j);
    for (int i = 0; i < j->n_kinds; i++)
        if (j->kinds[i].free_ctx) j->kinds[i].free_ctx(j->kinds[i].ctx);
    pthread_cond_destroy(&j->changed);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

fs_store *fs_jobs_store(fs_jobs *j) { return j->store; }
fs_metrics *fs_jobs_metrics(fs_jobs *j) { return j->metrics; }
int64_t fs_jobs_queued(fs_jobs *j) { return atomic_load(&j->queued); }
uint64_t fs_jobs_completed(fs_jobs *j) { return atomic_load(&j->completed); }

fs_err fs_jobs_submit(fs_jobs *j, const char *kind, const char *input_ref,
                      char task_id[FS_TASK_ID_LEN + 1], int *joined, fs_msg *msg) {
    if (joined) *joined = 0;
    if (!input_ref || strlen(input_ref) >= sizeof ((fs_task *)0)->input_ref)
        return fs_fail(msg, FS_ERR_INVALID, "a task's input reference must be under 256 bytes");
    fs_task t;
    fs_err e;
    /* The lock makes "find, else create" atomic among this process's request threads. */
    pthread_mutex_lock(&j->lock);
    e = fs_store_task_find(j->store, kind, input_ref, &t, msg);
    if (e == FS_OK && t.status != FS_TASK_FAILED) {
        memcpy(task_id, t.id, sizeof t.id);
        if (joined) *joined = 1;
        pthread_mutex_unlock(&j->lock);
        return FS_OK;
    }
    if (e != FS_OK && e != FS_ERR_NOTFOUND) goto out;
    int64_t n = 0;
    if ((e = fs_store_task_count(j->store, FS_TASK_QUEUED, &n, msg)) != FS_OK) goto out;
    if (n >= j->max_queued) {
        e = fs_fail(msg, FS_ERR_LIMIT, "the task queue is full (%lld queued); try again later",
                    (long long)n);
        goto out;
    }
    e = fs_store_task_create(j->store, kind, input_ref, task_id, msg);
    if (e == FS_OK) {
        atomic_store(&j->queued, n + 1);
        if (j->metrics) fs_metrics_queue_depth(j->metrics, n + 1);
        j->generation++;
        pthread_cond_broadcast(&j->changed);
    }
out:
    pthread_mutex_unlock(&j->lock);
    return e;
}

fs_err fs_jobs_wait(fs_jobs *j, const char *task_id, double timeout_ms, fs_task *task,
                    fs_msg *msg) {
    double end = fs_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        uint64_t seen = j->generation;
        pthread_mutex_unlock(&j->lock);
        fs_err e = fs_store_task_get(j->store, task_id, task, msg);
        if (e != FS_OK) return e;
        if (task->status == FS_TASK_DONE || task->status == FS_TASK_FAILED) return FS_OK;
        double left = end - fs_now_ms();
        if (left <= 0) return fs_fail(msg, FS_ERR_TIMEOUT, "task %s is still %s", task_id,
                                      fs_task_status_name(task->status));
        pthread_mutex_lock(&j->lock);
        struct timespec ts = after_ms(left < j->poll_ms ? left : j->poll_ms);
        while (j->generation == seen) {
            if (pthread_cond_timedwait(&j->changed, &j->lock, &ts) == ETIMEDOUT) break;
        }
        pthread_mutex_unlock(&j->lock);
    }
}

fs_err fs_jobs_error_kind(const char *error) {
    if (!error) return FS_ERR_INTERNAL;
    for (int e = FS_ERR_NOMEM; e <= FS_ERR_LAST; e++) {
        const char *name = fs_err_name((fs_err)e);
        size_t n = strlen(name);
        if (!strncmp(error, name, n) && error[n] == ':') return (fs_err)e;
    }
    return FS_ERR_INTERNAL;
}
