/* dataset_loader.c: decodes, resizes, self-blends and augments training images into float
 * NHWC batches on a small pool of worker threads, so a trainer's forward/backward passes are
 * not kept waiting on JPEG decoding.
 *
 * Determinism comes from the seeding, not from the scheduling: each item gets its own rng
 * seeded from (seed, epoch, item index) and writes only its own row of the batch, so which
 * thread takes which item, and in what order, cannot change a byte of the result.
 *
 * The pool follows the libuv pattern: a mutex and two condition variables; fs_loader_fill
 * publishes one batch job, workers claim item positions one at a time under the lock (items
 * take milliseconds, so the lock is not contended) and the caller waits until the last item is
 * done. A corrupt file fails only its row: it is zeroed, flagged in ok[], and counted. */
#include "fakescope/dataset.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADER_MAX_THREADS 64
#define LOADER_MAX_SIDE 4096
/* Domain separators so the blend and augmentation draws of an item are independent streams. */
#define STREAM_BLEND 0x626c656e64ull
#define STREAM_AUGMENT 0x6175676d6eull

typedef struct job {
    const fs_item *items;
    const size_t *index;
    size_t n;
    uint64_t epoch;
    float *x, *y;
    uint8_t *ok;
    const signed char *blend; /* per position: -1 by probability, 0 never, 1 always */
} job;

struct fs_loader {
    fs_loader_config cfg;
    fs_aug_policy augment;
    fs_blend_params blend;
    fs_sbi_params sbi;
    int has_augment;

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a job was posted, or shutdown */
    pthread_cond_t done_cv; /* the last item of the job finished */
    pthread_t *threads;
    int nthreads;
    int shutdown;

    job cur;
    size_t next, remaining; /* next position to claim; positions not yet finished */

    fs_loader_stats stats; /* guarded by mu */
};

fs_loader_config fs_loader_config_default(void) {
    return (fs_loader_config){
        .width = 256, .height = 256,
        .threads = fs_cpu_count() < LOADER_MAX_THREADS ? fs_cpu_count() : LOADER_MAX_THREADS,
        .seed = 0,
        .scale = 1.0f / 255.0f, .augment = NULL, .blend_prob = 0.0, .blend = NULL,
        .limits = fs_image_limits_default(),
    };
}

/* Produces one item's row. Runs on a worker without the lock. */
static fs_err load_one(const fs_loader *ld, const fs_item *it, size_t index, uint64_t epoch,
                       int force, float *row, int *label, int *blended, fs_aug_work *work,
                       fs_msg *msg) {
    const fs_loader_config *c = &ld->cfg;
    *blended = 0;
    *label = it->label;
    if (it->kind != FS_ITEM_IMAGE)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "videos are not loaded as training images");
    const uint64_t item_seed = fs_seed_mix(fs_seed_mix(c->seed, epoch), (uint64_t)index);
    fs_image img = {0}, sized = {0};
    fs_err err = fs_image_load(it->path, &c->limits, &img, msg);
    if (err) return err;
    err = fs_image_resize(&img, c->width, c->height, &sized, msg);
    fs_image_free(&img);
    if (err) return err;

    fs_rng rng;
    fs_rng_seed(&rng, fs_seed_mix(item_seed, STREAM_BLEND));
    /* the coin is drawn even when forced, so the blend's own draws do not depend on it */
    const int coin = fs_rng_uniform(&rng) < c->blend_prob;
    if (it->label == 0 && (force < 0 ? c->blend_prob > 0 && coin : force)) {
        fs_image fake;
        const float *lm = c->landmarks ? c->landmarks + index * FS_ITEM_LANDMARKS : NULL;
        err = fs_blend_face(&sized, lm, &ld->sbi, &ld->blend, &rng, work, &fake, NULL, msg);
        if (err) {
            fs_image_free(&sized);
            return err;
        }
        fs_image_free(&sized);
        sized = fake;
        *label = 1;
        *blended = 1;
    }
    if (ld->has_augment) {
        fs_rng_seed(&rng, fs_seed_mix(item_seed, STREAM_AUGMENT));
        err = fs_aug_apply(&sized, &ld->augment, &rng, work, msg);
        if (err) {
            fs_image_free(&sized);
            return err;
        }
    }
    assert(sized.w == c->width && sized.h == c->height);
    fs_image_to_float(&sized, c->scale, row);
    fs_image_free(&sized);
    return FS_OK;
}

static void *worker(void *arg) {
    fs_loader *ld = arg;
    fs_aug_work work = {0};
    const size_t row_len = (size_t)ld->cfg.width * ld->cfg.height * 3;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        /* Between jobs next == cur.n: nothing to claim until fill posts the next batch. */
        while (!ld->shutdown && ld->next >= ld->cur.n) pthread_cond_wait(&ld->work_cv, &ld->mu);
        if (ld->shutdown) break;
        const size_t i = ld->next++;
        const job j = ld->cur;
        pthread_mutex_unlock(&ld->mu);

        const size_t index = j.index[i];
        const fs_item *it = &j.items[index];
        float *row = j.x + i * row_len;
        int label = it->label, blended = 0;
        fs_msg msg = {{0}};
        fs_err err = load_one(ld, it, index, j.epoch, j.blend ? j.blend[i] : -1, row, &label,
                              &blended, &work, &msg);
        if (err) memset(row, 0, row_len * sizeof *row);
        j.y[i] = (float)label;
        if (j.ok) j.ok[i] = err ? 0 : 1;

        pthread_mutex_lock(&ld->mu);
        if (err) {
            ld->stats.failed++;
            snprintf(ld->stats.last_error, sizeof ld->stats.last_error, "%.200s: %.300s", it->path,
                     msg.text);
        } else {
            ld->stats.loaded++;
            ld->stats.blended += (uint64_t)blended;
        }
        if (--ld->remaining == 0) pthread_cond_signal(&ld->done_cv);
    }
    pthread_mutex_unlock(&ld->mu);
    fs_aug_work_free(&work);
    return NULL;
}

fs_err fs_loader_create(const fs_loader_config *cfg, fs_loader **out, fs_msg *msg) {
    assert(cfg && out);
    *out = NULL;
    if (cfg->width < 1 || cfg->height < 1 || cfg->width > LOADER_MAX_SIDE ||
        cfg->height > LOADER_MAX_SIDE)
        return fs_fail(msg, FS_ERR_INVALID, "loader input size %dx%d is not in 1..%d", cfg->width,
                       cfg->height, LOADER_MAX_SIDE);
    if (cfg->threads < 1 || cfg->threads > LOADER_MAX_THREADS)
        return fs_fail(msg, FS_ERR_INVALID, "loader threads %d is not in 1..%d", cfg->threads,
                       LOADER_MAX_THREADS);
    if (!(cfg->blend_prob >= 0 && cfg->blend_prob <= 1))
        return fs_fail(msg, FS_ERR_INVALID, "blend probability %g is not in [0, 1]", cfg->blend_prob);
    if (cfg->augment) {
        fs_err err = fs_aug_policy_check(cfg->augment, msg);
        if (err) return err;
    }
    fs_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a loader");
    ld->cfg = *cfg;
    ld->has_augment = cfg->augment != NULL;
    if (cfg->augment) ld->augment = *cfg->augment;
    ld->blend = cfg->blend ? *cfg->blend : fs_blend_params_default();
    ld->sbi = cfg->sbi ? *cfg->sbi : fs_sbi_params_default();
    ld->cfg.augment = NULL; /* the copies above are what workers read */
    ld->cfg.blend = NULL;
    if (ld->cfg.limits.max_bytes == 0) ld->cfg.limits = fs_image_limits_default();
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->work_cv, NULL);
    pthread_cond_init(&ld->done_cv, NULL);
    ld->threads = calloc((size_t)cfg->threads, sizeof *ld->threads);
    if (!ld->threads) {
        fs_loader_free(ld);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for loader threads");
    }
    for (int i = 0; i < cfg->threads; i++) {
        if (pthread_create(&ld->threads[i], NULL, worker, ld) != 0) {
            fs_loader_free(ld);
            return fs_fail(msg, FS_ERR_INTERNAL, "cannot start loader thread %d", i);
        }
        ld->nthreads++;
    }
    *out = ld;
    return FS_OK;
}

void fs_loader_free(fs_loader *ld) {
    if (!ld) return;
    pthread_mutex_lock(&ld->mu);
    ld->shutdown = 1;
    pthread_cond_broadcast(&ld->work_cv);
    pthread_mutex_unlock(&ld->mu);
    for (int i = 0; i < ld->nthreads; i++) pthread_join(ld->threads[i], NULL);
    free(ld->threads);
    pthread_cond_destroy(&ld->work_cv);
    pthread_cond_destroy(&ld->done_cv);
    pthread_mutex_destroy(&ld->mu);
    free(ld);
}

fs_err fs_loader_fill(fs_loader *ld, const fs_item *items, size_t nitems, const size_t *index,
                      size_t n, uint64_t epoch, float *x, float *y, uint8_t *ok, fs_msg *msg) {
    return fs_loader_fill_blend(ld, items, nitems, index, NULL, n, epoch, x, y, ok, msg);
}

fs_err fs_loader_fill_blend(fs_loader *ld, const fs_item *items, size_t nitems,
                            const size_t *index, const signed char *blend, size_t n,
                            uint64_t epoch, float *x, float *y, uint8_t *ok, fs_msg *msg) {
    assert(ld);
    if (n == 0) return FS_OK;
    if (!items || !index || !x || !y)
        return fs_fail(msg, FS_ERR_INVALID, "loader needs items, indices and output buffers");
    for (size_t i = 0; i < n; i++)
        if (index[i] >= nitems)
            return fs_fail(msg, FS_ERR_INVALID, "batch position %zu asks for item %zu of %zu", i,
                           index[i], nitems);
    pthread_mutex_lock(&ld->mu);
    const uint64_t failed_before = ld->stats.failed;
    ld->cur = (job){items, index, n, epoch, x, y, ok, blend};
    ld->next = 0;
    ld->remaining = n;
    pthread_cond_broadcast(&ld->work_cv);
    while (ld->remaining > 0) pthread_cond_wait(&ld->done_cv, &ld->mu);
    const uint64_t failed = ld->stats.failed - failed_before;
    fs_err err = FS_OK;
    if (failed == n)
        err = fs_fail(msg, FS_ERR_FORMAT, "no item of the batch could be loaded; last: %s",
                      ld->stats.last_error);
    pthread_mutex_unlock(&ld->mu);
    return err;
}

void fs_loader_stats_get(fs_loader *ld, fs_loader_stats *st) {
    pthread_mutex_lock(&ld->mu);
    *st = ld->stats;
    pthread_mutex_unlock(&ld->mu);
}

void fs_epoch_order(size_t n, uint64_t seed, uint64_t epoch, size_t *order) {
    fs_rng rng;
    fs_rng_seed(&rng, fs_seed_mix(seed, epoch));
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(fs_rng_uniform(&rng) * (double)i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}
