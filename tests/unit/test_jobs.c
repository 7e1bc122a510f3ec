/* Job queue: exclusive claims under concurrency (two store connections, as two nodes would
 * have), bounded retries, recovery of tasks a crash left running, joining identical work, the
 * queue limit, and the scan task's input encoding and frame bundles. */
#include "fs_test.h"
#include "fs_test_store.h"
#include "fakescope/jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state) {
    (void)state;
    return fs_test_mkdtemp(dir, sizeof dir, "jobs");
}

static int teardown(void **state) {
    (void)state;
    return fs_test_rmtree(dir);
}

/* ---- exclusive claims ---- */
#define N_TASKS 120
#define N_CLAIMERS 6

typedef struct {
    fs_store *store;
    char (*claimed)[FS_TASK_ID_LEN + 1];
    atomic_int *next;
} claimer;

static void *claim_all(void *arg) {
    claimer *c = arg;
    fs_task t;
    fs_msg msg;
    for (;;) {
        fs_err e = fs_store_task_claim(c->store, &t, &msg);
        if (e == FS_ERR_NOTFOUND) break;
        assert_int_equal(e, FS_OK);
        assert_int_equal(t.status, FS_TASK_RUNNING);
        assert_int_equal(t.attempts, 1);
        int i = atomic_fetch_add(c->next, 1);
        assert_true(i < N_TASKS);
        memcpy(c->claimed[i], t.id, sizeof t.id);
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b) { return strcmp(a, b); }

static void claim_is_exclusive(void **state) {
    (void)state;
    fs_store *a, *b;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &a, &msg), FS_OK);
    assert_int_equal(fs_test_store_open(dir, &b, &msg), FS_OK); /* a second connection: another node */
    for (int i = 0; i < N_TASKS; i++) {
        char id[FS_TASK_ID_LEN + 1], ref[32];
        snprintf(ref, sizeof ref, "input %d", i);
        assert_int_equal(fs_store_task_create(a, "test", ref, id, &msg), FS_OK);
    }
    static char claimed[N_TASKS][FS_TASK_ID_LEN + 1];
    atomic_int next = 0;
    claimer c[N_CLAIMERS];
    pthread_t th[N_CLAIMERS];
    for (int i = 0; i < N_CLAIMERS; i++) {
        c[i] = (claimer){.store = i % 2 ? b : a, .claimed = claimed, .next = &next};
        assert_int_equal(pthread_create(&th[i], NULL, claim_all, &c[i]), 0);
    }
    for (int i = 0; i < N_CLAIMERS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&next), N_TASKS); /* every task claimed... */
    qsort(claimed, N_TASKS, sizeof claimed[0], cmp_id);
    for (int i = 1; i < N_TASKS; i++) assert_true(strcmp(claimed[i - 1], claimed[i]) != 0); /* ...once */
    int64_t n;
    assert_int_equal(fs_store_task_count(a, FS_TASK_RUNNING, &n, &msg), FS_OK);
    assert_int_equal(n, N_TASKS);
    fs_store_close(b);
    fs_store_close(a);
}

/* Leases: a node that stops renewing loses its task to another node, cannot finish it
 * afterwards, and the result of the two computations is written once; a renewed lease holds. */
static void leases_expire_and_finish_once(void **state) {
    (void)state;
    fs_store *a, *b;
    fs_msg msg;
    assert_int_equal(fs_test_store_open_lease(dir, 150, &a, &msg), FS_OK);
    assert_int_equal(fs_test_store_open_lease(dir, 150, &b, &msg), FS_OK);
    assert_string_not_equal(fs_store_node_id(a), fs_store_node_id(b));
    char kept[FS_TASK_ID_LEN + 1], lost[FS_TASK_ID_LEN + 1];
    assert_int_equal(fs_store_task_create(a, "probe", "kept", kept, &msg), FS_OK);
    assert_int_equal(fs_store_task_create(a, "probe", "lost", lost, &msg), FS_OK);
    fs_task t1, t2, t;
    assert_int_equal(fs_store_task_claim(a, &t1, &msg), FS_OK);
    assert_int_equal(fs_store_task_claim(a, &t2, &msg), FS_OK);
    if (strcmp(t1.id, kept)) t1 = t2; /* same second: the order is by id */
    assert_string_equal(t1.id, kept);
    assert_string_equal(t1.lease_owner, fs_store_node_id(a));
    assert_true(t1.lease_until_ms > fs_store_now_ms());
    /* a renews only "kept" (the task its worker still runs) past the lease time. */
    for (int i = 0; i < 4; i++) {
        usleep(60 * 1000);
        const char *ids[1] = {kept};
        int64_t renewed = 0;
        assert_int_equal(fs_store_task_heartbeat(a, ids, 1, &renewed, &msg), FS_OK);
        assert_int_equal(renewed, 1);
    }
    int requeued = -1, failed = -1;
    assert_int_equal(fs_store_task_expire(b, FS_JOBS_MAX_ATTEMPTS, &requeued, &failed, &msg), FS_OK);
    assert_int_equal(requeued, 1);
    assert_int_equal(failed, 0);
    assert_int_equal(fs_store_task_get(b, kept, &t, &msg), FS_OK);
    assert_int_equal(t.status, FS_TASK_RUNNING); /* still a's */
    /* b runs "lost" now; a's late outcome is refused, b's counts. */
    assert_int_equal(fs_store_task_claim(b, &t, &msg), FS_OK);
    assert_string_equal(t.id, lost);
    assert_int_equal(t.attempts, 2);
    assert_int_equal(fs_store_task_progress(a, lost, 0.5, &msg), FS_ERR_CONFLICT);
    assert_int_equal(fs_store_task_finish(a, lost, 1, "from a", NULL, &msg), FS_ERR_CONFLICT);
    static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    int written = -1;
    assert_int_equal(fs_store_result_put_once(a, sha, "s", "{\"by\":\"a\"}", &written, &msg), FS_OK);
    assert_int_equal(written, 1);
    assert_int_equal(fs_store_result_put_once(b, sha, "s", "{\"by\":\"b\"}", &written, &msg), FS_OK);
    assert_int_equal(written, 0);
    char *json = NULL;
    assert_int_equal(fs_store_result_get(b, sha, "s", &json, &msg), FS_OK);
    assert_string_equal(json, "{\"by\":\"a\"}");
    free(json);
    assert_int_equal(fs_store_task_finish(b, lost, 1, "from b", NULL, &msg), FS_OK);
    assert_int_equal(fs_store_task_finish(b, lost, 1, "again", NULL, &msg), FS_ERR_CONFLICT); /* once */
    assert_int_equal(fs_store_task_get(a, lost, &t, &msg), FS_OK);
    assert_int_equal(t.status, FS_TASK_DONE);
    assert_string_equal(t.result_ref, "from b");
    assert_string_equal(t.lease_owner, "");
    assert_int_equal(fs_store_task_finish(a, kept, 1, "kept by a", NULL, &msg), FS_OK);
    fs_store_close(b);
    fs_store_close(a);
}

/* ---- handlers for the worker tests ---- */
typedef struct {
    atomic_int calls;
    fs_err fail_with; /* FS_OK: succeed */
    int sleep_ms;
} probe;

static fs_err probe_fn(void *ctx, fs_job_run *run, const fs_task *t, char result_ref[256], fs_msg *msg) {
    probe *p = ctx;
    atomic_fetch_add(&p->calls, 1);
    fs_job_progress(run, 0.5);
    if (p->sleep_ms) usleep((useconds_t)p->sleep_ms * 1000);
    if (p->fail_with != FS_OK) return fs_fail(msg, p->fail_with, "probe failure on %s", t->input_ref);
    snprintf(result_ref, 256, "result of %.200s", t->input_ref);
    return FS_OK;
}

static fs_jobs *start_jobs(fs_store *s, probe *p, int workers, int max_queued) {
    fs_jobs_config cfg = {.workers = workers, .max_queued = max_queued, .timeout_s = 30};
    fs_jobs *j;
    fs_msg msg;
    assert_int_equal(fs_jobs_create(s, &cfg, &j, &msg), FS_OK);
    assert_int_equal(fs_jobs_handle(j, "probe", probe_fn, p, &msg), FS_OK);
    assert_int_equal(fs_jobs_start(j, &msg), FS_OK);
    return j;
}

static void done_and_joined(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    probe p = {.sleep_ms = 200};
    fs_jobs *j = start_jobs(s, &p, 2, 0);
    char id1[FS_TASK_ID_LEN + 1], id2[FS_TASK_ID_LEN + 1], id3[FS_TASK_ID_LEN + 1];
    int joined = -1;
    assert_int_equal(fs_jobs_submit(j, "probe", "same", id1, &joined, &msg), FS_OK);
    assert_int_equal(joined, 0);
    usleep(50 * 1000); /* running now */
    assert_int_equal(fs_jobs_submit(j, "probe", "same", id2, &joined, &msg), FS_OK);
    assert_int_equal(joined, 1);
    assert_string_equal(id1, id2);
    fs_task t;
    assert_int_equal(fs_jobs_wait(j, id1, 10000, &t, &msg), FS_OK);
    assert_int_equal(t.status, FS_TASK_DONE);
    assert_string_equal(t.result_ref, "result of same");
    assert_true(t.progress == 1.0);
    /* Done work is joined too: nothing runs again. */
    assert_int_equal(fs_jobs_submit(j, "probe", "same", id3, &joined, &msg), FS_OK);
    assert_int_equal(joined, 1);
    assert_string_equal(id1, id3);
    assert_int_equal(atomic_load(&p.calls), 1);
    /* A wait that cannot be met times out with the current row. */
    assert_int_equal(fs_jobs_submit(j, "probe", "other", id3, &joined, &msg), FS_OK);
    assert_int_equal(fs_jobs_wait(j, id3, 20, &t, &msg), FS_ERR_TIMEOUT);
    assert_true(t.status == FS_TASK_QUEUED || t.status == FS_TASK_RUNNING);
    assert_int_equal(fs_jobs_wait(j, "nosuchtask", 20, &t, &msg), FS_ERR_NOTFOUND);
    fs_jobs_free(j);
    fs_store_close(s);
}

static void bad_input_fails_once(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    probe p = {.fail_with = FS_ERR_FORMAT};
    fs_jobs *j = start_jobs(s, &p, 1, 0);
    char id[FS_TASK_ID_LEN + 1];
    assert_int_equal(fs_jobs_submit(j, "probe", "bad", id, NULL, &msg), FS_OK);
    fs_task t;
    assert_int_equal(fs_jobs_wait(j, id, 10000, &t, &msg), FS_OK);
    assert_int_equal(t.status, FS_TASK_FAILED);
    assert_int_equal(t.attempts, 1);
    assert_int_equal(atomic_load(&p.calls), 1);
    assert_int_equal(fs_jobs_error_kind(t.error), FS_ERR_FORMAT);
    assert_non_null(strstr(t.error, "probe failure on bad"));
    /* A failed task is not joined: submitting again makes a new attempt. */
    char id2[FS_TASK_ID_LEN + 1];
    int joined = -1;
    assert_int_equal(fs_jobs_submit(j, "probe", "bad", id2, &joined, &msg), FS_OK);
    assert_int_equal(joined, 0);
    assert_string_not_equal(id, id2);
    fs_jobs_free(j);
    fs_store_close(s);
}

static void transient_failure_retried_three_times(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    probe p = {.fail_with = FS_ERR_IO};
    fs_jobs *j = start_jobs(s, &p, 2, 0);
    char id[FS_TASK_ID_LEN + 1];
    assert_int_equal(fs_jobs_submit(j, "probe", "flaky", id, NULL, &msg), FS_OK);
    fs_task t;
    assert_int_equal(fs_jobs_wait(j, id, 10000, &t, &msg), FS_OK);
    assert_int_equal(t.status, FS_TASK_FAILED);
    assert_int_equal(t.attempts, FS_JOBS_MAX_ATTEMPTS);
    assert_int_equal(atomic_load(&p.calls), FS_JOBS_MAX_ATTEMPTS);
    assert_int_equal(fs_jobs_error_kind(t.error), FS_ERR_IO);
    fs_jobs_free(j);
    fs_store_close(s);
}

static void queue_limit(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    /* No worker started: tasks stay queued. */
    fs_jobs_config cfg = {.workers = 1, .max_queued = 3};
    fs_jobs *j;
    assert_int_equal(fs_jobs_create(s, &cfg, &j, &msg), FS_OK);
    char id[FS_TASK_ID_LEN + 1];
    for (int i = 0; i < 3; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "q%d", i);
        assert_int_equal(fs_jobs_submit(j, "probe", ref, id, NULL, &msg), FS_OK);
    }
    assert_int_equal(fs_jobs_queued(j), 3);
    assert_int_equal(fs_jobs_submit(j, "probe", "q3", id, NULL, &msg), FS_ERR_LIMIT);
    int joined = 0;
    assert_int_equal(fs_jobs_submit(j, "probe", "q1", id, &joined, &msg), FS_OK); /* joining is free */
    assert_int_equal(joined, 1);
    fs_jobs_free(j);
    fs_store_close(s);
}

static void recovery_after_crash(void **state) {
    (void)state;
    fs_store *s;
    fs_msg msg;
    /* On a shared store a restart takes back only expired leases (the others may be live on
     * other nodes): this "node" claims with a short lease that has run out by the restart. */
    assert_int_equal(fs_test_store_open_lease(dir, 200, &s, &msg), FS_OK);
    char a[FS_TASK_ID_LEN + 1], b[FS_TASK_ID_LEN + 1];
    assert_int_equal(fs_store_task_create(s, "probe", "poison", b, &msg), FS_OK);
    fs_task t;
    /* "poison" killed its worker twice already: claimed, requeued by a restart, claimed... */
    for (int i = 0; i < FS_JOBS_MAX_ATTEMPTS; i++) {
        assert_int_equal(fs_store_task_claim(s, &t, &msg), FS_OK);
        assert_string_equal(t.id, b);
        if (i + 1 < FS_JOBS_MAX_ATTEMPTS) assert_int_equal(fs_store_task_requeue(s, b, &msg), FS_OK);
    }
    assert_int_equal(fs_store_task_create(s, "probe", "interrupted", a, &msg), FS_OK);
    /* Now both are running, as a kill -9 leaves them; "interrupted" with attempts <= 2. */
    assert_int_equal(fs_store_task_claim(s, &t, &msg), FS_OK);
    assert_string_equal(t.id, a);
    fs_store_close(s);
    usleep(300 * 1000);

    assert_int_equal(fs_test_store_open(dir, &s, &msg), FS_OK);
    probe p = {0};
    fs_jobs *j = start_jobs(s, &p, 1, 0);
    assert_int_equal(fs_jobs_wait(j, a, 10000, &t, &msg), FS_OK);
    assert_int_equal(t.status, FS_TASK_DONE);
    assert_string_equal(t.result_ref, "result of interrupted");
    assert_int_equal(fs_store_task_get(s, b, &t, &msg), FS_OK);
    assert_int_equal(t.status, FS_TASK_FAILED);
    assert_int_equal(t.attempts, FS_JOBS_MAX_ATTEMPTS);
    assert_non_null(strstr(t.error, "interrupted"));
    assert_int_equal(atomic_load(&p.calls), 1); /* the poison task never ran again */
    fs_jobs_free(j);
    fs_store_close(s);
}

static void scan_spec_and_bundles(void **state) {
    (void)state;
    fs_scan_job_spec in = {.frames_src = 0, .frames = 8, .n_models = 2}, out;
    memset(in.sha256, 'a', 64);
    snprintf(in.models[0], FS_DETECT_NAME_MAX, "meso4-df");
    snprintf(in.models[1], FS_DETECT_NAME_MAX, "mesoinception4-df");
    char ref[256];
    fs_msg msg;
    assert_int_equal(fs_scan_job_input_ref(&in, ref, sizeof ref, &msg), FS_OK);
    assert_int_equal(fs_scan_job_parse(ref, &out, &msg), FS_OK);
    assert_string_equal(out.sha256, in.sha256);
    assert_int_equal(out.frames, 8);
    assert_int_equal(out.frames_src, 0);
    assert_int_equal(out.n_models, 2);
    assert_string_equal(out.models[1], "mesoinception4-df");
    in.whole_fallback = 1;
    char ref2[256];
    assert_int_equal(fs_scan_job_input_ref(&in, ref2, sizeof ref2, &msg), FS_OK);
    assert_string_not_equal(ref, ref2); /* settings are part of the key */
    /* the models' tag (weights and thresholds) is part of the key and reads back */
    assert_string_equal(out.tag, "");
    snprintf(in.tag, sizeof in.tag, "0123456789abcdef");
    char ref3[256];
    assert_int_equal(fs_scan_job_input_ref(&in, ref3, sizeof ref3, &msg), FS_OK);
    assert_string_not_equal(ref2, ref3);
    assert_non_null(strstr(ref3, ";t=0123456789abcdef;m=meso4-df,"));
    assert_int_equal(fs_scan_job_parse(ref3, &out, &msg), FS_OK);
    assert_string_equal(out.tag, "0123456789abcdef");
    assert_int_equal(out.n_models, 2);
    assert_int_equal(out.whole_fallback, 1);
    snprintf(in.tag, sizeof in.tag, "0123456789ABCDEF");
    assert_int_equal(fs_scan_job_input_ref(&in, ref3, sizeof ref3, &msg), FS_ERR_INVALID);
    in.tag[0] = 0;
    in.frames = 0;
    assert_int_equal(fs_scan_job_input_ref(&in, ref2, sizeof ref2, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_scan_job_parse("abc scan1;src=video;f=1;c=faces;m=x", &out, &msg), FS_ERR_FORMAT);

    const uint8_t p0[] = {1, 2, 3}, p1[] = {9};
    const uint8_t *parts[2] = {p0, p1};
    size_t lens[2] = {3, 1};
    uint8_t *b;
    size_t blen;
    assert_int_equal(fs_frame_bundle_make(parts, lens, 2, &b, &blen, &msg), FS_OK);
    const uint8_t *got[4];
    size_t glen[4];
    int n;
    assert_int_equal(fs_frame_bundle_parse(b, blen, got, glen, 4, &n, &msg), FS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(glen[0], 3);
    assert_memory_equal(got[0], p0, 3);
    assert_int_equal(got[1][0], 9);
    assert_int_equal(fs_frame_bundle_parse(b, blen - 1, got, glen, 4, &n, &msg), FS_ERR_FORMAT);
    assert_int_equal(fs_frame_bundle_parse(b, blen, got, glen, 1, &n, &msg), FS_ERR_LIMIT);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(claim_is_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(leases_expire_and_finish_once, setup, teardown),
        cmocka_unit_test_setup_teardown(done_and_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_input_fails_once, setup, teardown),
        cmocka_unit_test_setup_teardown(transient_failure_retried_three_times, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(recovery_after_crash, setup, teardown),
        cmocka_unit_test(scan_spec_and_bundles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
