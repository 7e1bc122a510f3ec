/* queue_bench: the job queue's claim-and-complete rate on no-op tasks, for bench/cluster_bench.sh.
 *
 *   queue_bench fill STORE N           queues N no-op tasks
 *   queue_bench work STORE W           runs W workers (fs_jobs, a handler that does nothing)
 *                                      until no task is queued or running; prints
 *                                      "FIRST_MS LAST_MS COMPLETED": the wall-clock times of its
 *                                      first claim and last finish, and how many it finished
 *
 * STORE is a postgresql:// URL or a data folder (SQLite). Several `work` processes on one
 * PostgreSQL store are several nodes; the script adds their counts and takes the span from the
 * earliest first claim to the latest finish, so process start-up is not counted. */
#include "fakescope/jobs.h"
#include "fakescope/store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_llong first_ms = 0, last_ms = 0;

static fs_err noop(void *ctx, fs_job_run *run, const fs_task *t, char result_ref[256], fs_msg *msg) {
    (void)ctx, (void)run, (void)msg;
    long long now = fs_store_now_ms(), zero = 0;
    atomic_compare_exchange_strong(&first_ms, &zero, now);
    snprintf(result_ref, 256, "%.64s", t->input_ref);
    return FS_OK;
}

static int open_store(const char *where, fs_store **s) {
    fs_store_options o = {0};
    char dir[64] = "/tmp";
    if (fs_store_url_is_postgres(where)) o.url = where;
    else snprintf(dir, sizeof dir, "%.63s", where);
    fs_msg msg;
    if (fs_store_open_with(dir, &o, s, &msg) != FS_OK) {
        fprintf(stderr, "queue_bench: %s\n", msg.text);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: queue_bench fill|work STORE N\n");
        return 2;
    }
    fs_store *s;
    if (!open_store(argv[2], &s)) return 1;
    int n = atoi(argv[3]);
    fs_msg msg;
    if (!strcmp(argv[1], "fill")) {
        for (int i = 0; i < n; i++) {
            char id[FS_TASK_ID_LEN + 1], ref[32];
            snprintf(ref, sizeof ref, "noop %d", i);
            if (fs_store_task_create(s, "noop", ref, id, &msg) != FS_OK) {
                fprintf(stderr, "queue_bench: %s\n", msg.text);
                return 1;
            }
        }
        fs_store_close(s);
        return 0;
    }
    fs_jobs_config cfg = {.workers = n, .max_queued = 1 << 30, .timeout_s = 60};
    fs_jobs *j;
    if (fs_jobs_create(s, &cfg, &j, &msg) != FS_OK || fs_jobs_handle(j, "noop", noop, NULL, &msg) != FS_OK ||
        fs_jobs_start(j, &msg) != FS_OK) {
        fprintf(stderr, "queue_bench: %s\n", msg.text);
        return 1;
    }
    uint64_t seen = 0;
    for (;;) {
        int64_t q = 0, r = 0;
        if (fs_store_task_count(s, FS_TASK_QUEUED, &q, &msg) != FS_OK ||
            fs_store_task_count(s, FS_TASK_RUNNING, &r, &msg) != FS_OK)
            break;
        uint64_t done = fs_jobs_completed(j);
        if (done != seen) {
            seen = done;
            atomic_store(&last_ms, fs_store_now_ms());
        }
        if (q == 0 && r == 0) break;
        usleep(10000);
    }
    fs_jobs_stop(j);
    seen = fs_jobs_completed(j);
    fs_jobs_free(j);
    printf("%lld %lld %llu\n", (long long)atomic_load(&first_ms), (long long)atomic_load(&last_ms),
           (unsigned long long)seen);
    fs_store_close(s);
    return 0;
}
