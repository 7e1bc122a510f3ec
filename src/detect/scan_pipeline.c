/* scan_pipeline.c: the video scan with its stages overlapped. Serially a scan decodes a
 * frame, finds its faces, judges them, and only then decodes the next frame, so one core
 * waits for the other. Here one thread decodes the sampled frames into a ring of slots,
 * `threads` workers find the faces of whichever decoded frames are waiting, and the calling
 * thread takes the frames back in order to track, crop and run the models. Face finding is a
 * pure function of the frame and tracking sees the frames in the same order, so the result is
 * the serial one, score for score.
 *
 * The ring bounds memory: at most RING_PER_THREAD * threads + 1 frames (6 MB each at 1080p)
 * are alive at once; the decoder waits for a free slot. One mutex guards the ring's counters
 * and slot states; the frames themselves are touched outside it by the one thread whose turn
 * the state says it is (decoded -> finding -> found -> judged). */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "detect/scan_internal.h"

/* Slots per face-finding thread: one being searched and one decoded, waiting. */
#define RING_PER_THREAD 2

typedef enum { SLOT_FREE = 0, SLOT_DECODED, SLOT_FINDING, SLOT_FOUND } slot_state;

typedef struct slot {
    slot_state state;
    fs_video_frame frame; /* owned from SLOT_DECODED until judged */
    fs_face *found;
    size_t n_found;
    double faces_ms;
    fs_err err;
    fs_msg msg;
} slot;

typedef struct pipeline {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* any change of a counter or a slot state */
    scan_run *run;
    slot *ring;
    int cap;
    int64_t decoded;    /* frames put in the ring; frame k lives in ring[k % cap] */
    int64_t claimed;    /* frames handed to a face-finding thread */
    int64_t judged;     /* frames the calling thread is done with */
    int decode_done;
    fs_err decode_err;
    fs_msg decode_msg;
    double decode_wait_ms; /* the decoder's time blocked on a full ring */
    int stop;              /* a stage failed: everyone winds down */
} pipeline;

/* The decoder's callback: moves the frame into the next slot, waiting for one to be free. */
static fs_err put_frame(void *ctx, fs_video_frame *frame, fs_msg *msg) {
    pipeline *p = ctx;
    fs_err err = fs_scan_degrade(p->run, &frame->image, msg); /* on the decoding thread */
    if (err) return err;
    pthread_mutex_lock(&p->mu);
    double t0 = fs_now_ms();
    while (!p->stop && p->decoded - p->judged >= p->cap) pthread_cond_wait(&p->cv, &p->mu);
    p->decode_wait_ms += fs_now_ms() - t0;
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        return fs_fail(msg, FS_ERR_INTERNAL, "scan stopped"); /* not reported: see scan() */
    }
    slot *s = &p->ring[p->decoded % p->cap];
    assert(s->state == SLOT_FREE);
    s->frame = *frame;
    memset(&frame->image, 0, sizeof frame->image); /* taken */
    s->state = SLOT_DECODED;
    p->decoded++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return FS_OK;
}

typedef struct decode_args {
    pipeline *p;
    scan_sample_fn sample;
    void *v;
    const fs_video_sampling *sp;
    double busy_ms;
} decode_args;

static void *decode_main(void *arg) {
    decode_args *a = arg;
    pipeline *p = a->p;
    double t0 = fs_now_ms();
    fs_err err = a->sample(a->v, a->sp, put_frame, p, &p->decode_msg);
    double spent = fs_now_ms() - t0;
    pthread_mutex_lock(&p->mu);
    a->busy_ms = spent - p->decode_wait_ms;
    p->decode_err = err;
    p->decode_done = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *find_main(void *arg) {
    pipeline *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->claimed == p->decoded && !p->decode_done)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->claimed == p->decoded) break; /* failed, or all frames claimed */
        slot *s = &p->ring[p->claimed % p->cap];
        assert(s->state == SLOT_DECODED);
        s->state = SLOT_FINDING;
        p->claimed++;
        pthread_mutex_unlock(&p->mu);
        s->err = fs_scan_find_faces(p->run, &s->frame.image, &s->found, &s->n_found,
                                    &s->faces_ms, &s->msg);
        pthread_mutex_lock(&p->mu);
        s->state = SLOT_FOUND;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The calling thread's part: judges frame after frame as its faces come in. */
static fs_err judge_in_order(pipeline *p, fs_msg *msg) {
    scan_run *run = p->run;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        slot *s = &p->ring[p->judged % p->cap];
        while (!(p->judged < p->decoded && s->state == SLOT_FOUND) &&
               !(p->decode_done && p->judged == p->decoded))
            pthread_cond_wait(&p->cv, &p->mu);
        int done = p->judged == p->decoded;
        pthread_mutex_unlock(&p->mu);
        if (done) return FS_OK;
        fs_err err = s->err;
        if (err) {
            if (msg) *msg = s->msg;
            free(s->found);
            run->r->timing.faces_ms += s->faces_ms;
        } else {
            err = fs_scan_frame_found(run, &s->frame.image, s->frame.index, s->frame.time_s,
                                      s->found, s->n_found, s->faces_ms, msg);
        }
        s->found = NULL;
        fs_image_free(&s->frame.image);
        if (err) return err;
        fs_scan_progress(run, "frames", run->r->n_frames, run->total_frames);
        pthread_mutex_lock(&p->mu);
        s->state = SLOT_FREE;
        p->judged++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

fs_err fs_scan_video_pipelined(scan_run *run, scan_sample_fn sample, void *v,
                               const fs_video_sampling *sp, int threads, fs_msg *msg) {
    assert(threads >= 1 && threads <= FS_SCAN_MAX_THREADS);
    pipeline p;
    memset(&p, 0, sizeof p);
    p.run = run;
    p.cap = RING_PER_THREAD * threads + 1;
    p.ring = calloc((size_t)p.cap, sizeof *p.ring);
    if (!p.ring) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    /* The sampler's own progress callback would run on the decoding thread: scans report
     * progress through fs_scan_opts.progress, from this thread. */
    fs_video_sampling samp = *sp;
    samp.progress = NULL;
    /* One decoder thread: the face-finding threads keep the other cores busy, and libavcodec's
     * frame threads competing with them for the same cores made the decoding thread, the
     * pipeline's critical path, slower (1080p DFDC clips, 2 cores: 0.68 s with one decoder
     * thread, 0.89 s with two; bench/scan_bench.sh). */
    samp.threads = 1;
    if (pthread_mutex_init(&p.mu, NULL)) {
        free(p.ring);
        return fs_fail(msg, FS_ERR_INTERNAL, "cannot create a mutex");
    }
    if (pthread_cond_init(&p.cv, NULL)) {
        pthread_mutex_destroy(&p.mu);
        free(p.ring);
        return fs_fail(msg, FS_ERR_INTERNAL, "cannot create a condition variable");
    }
    decode_args da = {&p, sample, v, &samp, 0};
    pthread_t dec, finders[FS_SCAN_MAX_THREADS];
    int started = 0, dec_started = pthread_create(&dec, NULL, decode_main, &da) == 0;
    fs_err err = FS_OK;
    if (!dec_started) err = fs_fail(msg, FS_ERR_INTERNAL, "cannot start the decoding thread");
    for (; !err && started < threads; started++)
        if (pthread_create(&finders[started], NULL, find_main, &p)) {
            if (started == 0) err = fs_fail(msg, FS_ERR_INTERNAL, "cannot start a face thread");
            break; /* fewer threads is only slower */
        }
    if (!err) err = judge_in_order(&p, msg);

    pthread_mutex_lock(&p.mu);
    if (err) {
        p.stop = 1;
        pthread_cond_broadcast(&p.cv);
    }
    pthread_mutex_unlock(&p.mu);
    if (dec_started) pthread_join(dec, NULL);
    for (int i = 0; i < started; i++) pthread_join(finders[i], NULL);
    /* A decoding error ends the frames early; it is the scan's error unless the scan had
     * already failed (then the decoder only saw the stop). */
    if (!err && p.decode_err) {
        err = p.decode_err;
        if (msg) *msg = p.decode_msg;
    }
    for (int i = 0; i < p.cap; i++) {
        fs_image_free(&p.ring[i].frame.image);
        free(p.ring[i].found);
    }
    run->pipelined = 1;
    run->decode_ms = da.busy_ms;
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    free(p.ring);
    return err;
}
