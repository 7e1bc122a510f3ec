/* Worker pool for the training graph: threads-1 pthreads parked on a condition variable and
 * woken by a generation counter, so a layer hands each worker its batch slice without creating
 * threads. The caller's thread takes slice 0. The pool does no scheduling of its own: which
 * slice a worker gets is fixed by its index, which keeps results independent of timing. */
#include <pthread.h>
#include <stdlib.h>

#include "train_internal.h"

struct fs_tpool {
    int threads;
    pthread_t *ids;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;
    int pending; /* workers still running the current generation */
    int quit;
    fs_tpool_fn fn;
    void *arg;
};

typedef struct {
    fs_tpool *p;
    int t;
} worker_arg;

static void *worker(void *vp) {
    worker_arg *wa = vp;
    fs_tpool *p = wa->p;
    const int t = wa->t;
    free(wa);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        fs_tpool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, t);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

fs_err fs_tpool_create(int threads, fs_tpool **out, fs_msg *msg) {
    *out = NULL;
    if (threads < 1 || threads > FS_TNET_MAX_THREADS)
        return fs_fail(msg, FS_ERR_INVALID, "threads must be 1..%d, not %d", FS_TNET_MAX_THREADS,
                       threads);
    fs_tpool *p = calloc(1, sizeof *p);
    if (!p) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a thread pool");
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->ids = calloc((size_t)threads, sizeof *p->ids);
    if (!p->ids) {
        fs_tpool_free(p);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a thread pool");
    }
    for (int t = 1; t < threads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || pthread_create(&p->ids[t], NULL, worker, (wa->p = p, wa->t = t, wa))) {
            free(wa);
            p->threads = t; /* join only those started */
            fs_tpool_free(p);
            return fs_fail(msg, FS_ERR_INTERNAL, "could not start training worker %d", t);
        }
    }
    *out = p;
    return FS_OK;
}

void fs_tpool_free(fs_tpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->threads; t++) pthread_join(p->ids[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->ids);
    free(p);
}

void fs_tpool_run(fs_tpool *p, fs_tpool_fn fn, void *arg) {
    if (p->threads == 1) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
