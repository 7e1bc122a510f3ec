/* pool.c: a small persistent thread pool for forward passes. A forward at batch 1 lasts a
 * millisecond or two, so starting threads per call or handing out per-layer tasks through a
 * locked queue would cost more than the work; instead every thread runs the same function
 * (the caller is thread 0) and the function splits its own work, meeting at barriers.
 *
 * Dispatch uses a mutex and condition variables (idle threads sleep); barriers spin briefly on
 * an atomic counter and then yield, since the machine may be shared and a barrier between
 * layers is usually crossed within microseconds. */
#include "fakescope/nn.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define POOL_SPINS 20000 /* busy iterations at a barrier before yielding the CPU */

struct fs_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    /* guarded by lock */
    unsigned long generation;
    int pending, quit;
    fs_pool_fn fn;
    void *arg;
    /* barrier */
    atomic_int arrived;
    atomic_uint sense;
};

typedef struct worker_arg {
    fs_pool *pool;
    int tid;
} worker_arg;

static void *worker(void *p) {
    worker_arg wa = *(worker_arg *)p;
    free(p);
    fs_pool *pool = wa.pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->quit) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        seen = pool->generation;
        fs_pool_fn fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->lock);

        fn(arg, wa.tid, pool->n);

        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->lock);
    }
}

fs_err fs_pool_create(int threads, fs_pool **out, fs_msg *msg) {
    *out = NULL;
    if (threads <= 0) threads = fs_cpu_count();
    if (threads > FS_NN_MAX_THREADS) threads = FS_NN_MAX_THREADS;
    fs_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a thread pool");
    pool->n = threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->arrived, 0);
    atomic_init(&pool->sense, 0);
    pool->threads = calloc((size_t)threads, sizeof *pool->threads);
    if (!pool->threads) {
        fs_pool_free(pool);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a thread pool");
    }
    for (int t = 1; t < threads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) wa->pool = pool, wa->tid = t;
        int rc = wa ? pthread_create(&pool->threads[t], NULL, worker, wa) : -1;
        if (rc != 0) {
            free(wa);
            pool->n = t; /* only threads 1..t-1 exist: free joins those */
            fs_pool_free(pool);
            return fs_fail(msg, FS_ERR_INTERNAL, "could not start thread %d of %d", t, threads);
        }
    }
    *out = pool;
    return FS_OK;
}

void fs_pool_free(fs_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int t = 1; t < pool->n && pool->threads; t++) pthread_join(pool->threads[t], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int fs_pool_threads(const fs_pool *pool) { return pool ? pool->n : 1; }

void fs_pool_run(fs_pool *pool, fs_pool_fn fn, void *arg) {
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    assert(pool->pending == 0);
    pool->fn = fn, pool->arg = arg;
    pool->pending = pool->n - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);

    fn(arg, 0, pool->n);

    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

void fs_pool_barrier(fs_pool *pool) {
    if (!pool || pool->n == 1) return;
    unsigned s = atomic_load_explicit(&pool->sense, memory_order_acquire);
    if (atomic_fetch_add_explicit(&pool->arrived, 1, memory_order_acq_rel) == pool->n - 1) {
        atomic_store_explicit(&pool->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&pool->sense, s + 1, memory_order_release);
        return;
    }
    for (long i = 0; atomic_load_explicit(&pool->sense, memory_order_acquire) == s; i++)
        if (i > POOL_SPINS) sched_yield();
}
