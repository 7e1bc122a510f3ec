/* media_worker.c: the worker's side of media_proto.h, run as `fakescope media-worker` by the
 * pool. It confines itself (sandbox.c) before reading a byte, then serves requests one at a
 * time: media arrive in the arena, pixels leave through it. Every failure a decoder reports
 * goes back as an ERROR or DONE message; a failure it cannot report (a crash, a forbidden
 * call, a limit) ends the process, and the pool reads the cause from its exit status. */
#include "fakescope/media_worker.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/media_proto.h"
#include "jobs/sandbox.h"

typedef struct worker {
    int sock;
    int arena_fd;
    /* Two mappings of the arena: the media at [0, media_end), which a video borrows until
     * closed and so never moves during one, and the frame slots at [media_end, +frames_len),
     * remapped when a frame needs more room. */
    uint8_t *media;
    uint64_t media_end;  /* the media region's size, a power of two: where the frames start.
                          * Both mappings are kept from call to call and only grow, so a
                          * call costs no mmap and no page faults once the sizes are reached */
    uint8_t *frames;
    uint64_t frames_len;
    int cpu_s;
    int worn_out; /* the last CPU budget found half the lifetime limit used */
    /* sampling state */
    uint64_t slot_bytes; /* the two frame slots' size (0: not laid out yet) */
    int64_t sent;        /* FRAME messages sent in this SAMPLE */
    int64_t replied;     /* their replies read */
    int stopped;         /* the pool said STOP */
} worker;

static int read_all(int fd, void *buf, size_t n) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Sends a reply or dies: a pool that stopped listening has no use for this process. */
static void reply(worker *w, mw_reply *r) {
    if (r->op != MW_FRAME && r->op != MW_INFO) r->retire = w->worn_out;
    if (write_all(w->sock, r, sizeof *r)) _exit(0);
}

static void reply_err(worker *w, uint32_t op, fs_err e, const fs_msg *msg) {
    mw_reply r;
    memset(&r, 0, sizeof r);
    r.op = op;
    r.err = (int32_t)e;
    snprintf(r.text, sizeof r.text, "%s", msg ? msg->text : "");
    reply(w, &r);
}

/* Makes the arena at least `need` bytes long. */
static fs_err arena_grow(worker *w, uint64_t need, fs_msg *msg) {
    struct stat st;
    if (fstat(w->arena_fd, &st)) return fs_fail(msg, FS_ERR_IO, "arena: %s", strerror(errno));
    if (need > MW_ARENA_MAX)
        return fs_fail(msg, FS_ERR_LIMIT, "the arena would need more than %llu bytes",
                       (unsigned long long)MW_ARENA_MAX);
    if ((uint64_t)st.st_size < need && ftruncate(w->arena_fd, (off_t)need))
        return fs_fail(msg, FS_ERR_NOMEM, "arena of %llu bytes: %s", (unsigned long long)need,
                       strerror(errno));
    return FS_OK;
}

/* Maps the media the pool put at the start of the arena (len bytes). */
static fs_err map_media(worker *w, uint64_t len, fs_msg *msg) {
    uint64_t need = mw_align(len ? len : 1);
    if (w->media && w->media_end >= need) return FS_OK;
    if (w->media) munmap(w->media, w->media_end);
    if (w->frames) munmap(w->frames, w->frames_len); /* they start after the media: moved */
    w->media = w->frames = NULL;
    w->frames_len = 0;
    uint64_t cap = (uint64_t)1 << 20;
    while (cap < need) cap *= 2;
    w->media_end = cap;
    fs_err e = arena_grow(w, w->media_end, msg);
    if (e) return e;
    w->media = mmap(NULL, w->media_end, PROT_READ, MAP_SHARED, w->arena_fd, 0);
    if (w->media == MAP_FAILED) {
        w->media = NULL;
        return fs_fail(msg, FS_ERR_NOMEM, "cannot map %llu bytes of media",
                       (unsigned long long)len);
    }
    return FS_OK;
}

/* Maps at least `bytes` of frame room after the media, growing the arena if need be. */
static fs_err map_frames(worker *w, uint64_t bytes, fs_msg *msg) {
    if (w->frames && w->frames_len >= bytes) return FS_OK;
    fs_err e = arena_grow(w, w->media_end + bytes, msg);
    if (e) return e;
    if (w->frames) munmap(w->frames, w->frames_len);
    w->frames = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, w->arena_fd,
                     (off_t)w->media_end);
    if (w->frames == MAP_FAILED) {
        w->frames = NULL;
        w->frames_len = 0;
        return fs_fail(msg, FS_ERR_NOMEM, "cannot map %llu bytes for frames",
                       (unsigned long long)bytes);
    }
    w->frames_len = bytes;
    return FS_OK;
}

/* Reads one reply to a FRAME (ACK or STOP). */
static int read_frame_reply(worker *w) {
    mw_request q;
    if (read_all(w->sock, &q, sizeof q)) _exit(0);
    w->replied++;
    if (q.op == MW_STOP) w->stopped = 1;
    return q.op == MW_ACK || q.op == MW_STOP ? 0 : -1;
}

static fs_err on_frame(void *ctx, fs_video_frame *fr, fs_msg *msg) {
    worker *w = ctx;
    uint64_t bytes = (uint64_t)fr->image.w * (uint64_t)fr->image.h * 3;
    uint64_t slot = mw_align(bytes);
    if (slot != w->slot_bytes) {
        /* a new layout: every frame sent so far must be copied out first */
        while (w->replied < w->sent)
            if (read_frame_reply(w)) return fs_fail(msg, FS_ERR_INTERNAL, "protocol: bad reply");
        w->slot_bytes = slot;
    }
    /* slot sent % 2 was last used by frame sent - 2 */
    while (w->sent - w->replied >= 2)
        if (read_frame_reply(w)) return fs_fail(msg, FS_ERR_INTERNAL, "protocol: bad reply");
    if (w->stopped) return fs_fail(msg, FS_ERR_INTERNAL, "stopped by the pool");
    uint64_t off = (uint64_t)(w->sent % 2) * slot;
    fs_err e = map_frames(w, 2 * slot, msg);
    if (e) return e;
    memcpy(w->frames + off, fr->image.rgb, bytes);
    mw_reply r;
    memset(&r, 0, sizeof r);
    r.op = MW_FRAME;
    r.index = fr->index;
    r.time_s = fr->time_s;
    r.w = fr->image.w;
    r.h = fr->image.h;
    r.offset = w->media_end + off;
    reply(w, &r);
    w->sent++;
    return FS_OK;
}

/* Checks a request's media against the arena and runs the test build's fault hook on it. */
static fs_err media_of(worker *w, const mw_request *q, fs_msg *msg) {
    fs_err e = map_media(w, q->media_len, msg);
    if (e) return e;
    if (fs_media_worker_fault_hook) fs_media_worker_fault_hook(w->media, (size_t)q->media_len);
    return FS_OK;
}

static void serve_video(worker *w, const mw_request *open_req) {
    fs_msg msg = {{0}};
    fs_video *v = NULL;
    /* opening probes the streams: decoding too */
    w->worn_out = fs_sandbox_cpu_budget((int)open_req->cpu_s);
    fs_err e = media_of(w, open_req, &msg);
    if (!e) e = fs_video_open_memory(w->media, (size_t)open_req->media_len,
                                     &open_req->video_limits, &v, &msg);
    if (e) {
        reply_err(w, MW_ERROR, e, &msg);
        return;
    }
    mw_reply r;
    memset(&r, 0, sizeof r);
    r.op = MW_INFO;
    r.info = *fs_video_get_info(v);
    reply(w, &r);
    for (;;) {
        mw_request q;
        if (read_all(w->sock, &q, sizeof q)) _exit(0);
        if (q.op == MW_CLOSE) break;
        if (q.op != MW_SAMPLE) {
            fs_fail(&msg, FS_ERR_INTERNAL, "protocol: unexpected request %u", q.op);
            reply_err(w, MW_DONE, FS_ERR_INTERNAL, &msg);
            continue;
        }
        w->worn_out = fs_sandbox_cpu_budget((int)q.cpu_s);
        q.sampling.progress = NULL;
        q.sampling.progress_ctx = NULL;
        w->slot_bytes = 0;
        w->sent = w->replied = 0;
        w->stopped = 0;
        e = fs_video_sample(v, &q.sampling, on_frame, w, &msg);
        while (w->replied < w->sent)
            if (read_frame_reply(w)) break;
        reply_err(w, MW_DONE, e, &msg);
    }
    fs_video_close(v);
}

static void serve_image(worker *w, const mw_request *q) {
    fs_msg msg = {{0}};
    fs_image img = {0};
    w->worn_out = fs_sandbox_cpu_budget((int)q->cpu_s);
    fs_err e = media_of(w, q, &msg);
    if (!e) e = fs_image_decode(w->media, (size_t)q->media_len, &q->image_limits, &img, &msg);
    uint64_t bytes = (uint64_t)img.w * (uint64_t)img.h * 3;
    if (!e) e = map_frames(w, mw_align(bytes), &msg);
    if (e) {
        fs_image_free(&img);
        reply_err(w, MW_ERROR, e, &msg);
        return;
    }
    memcpy(w->frames, img.rgb, bytes);
    mw_reply r;
    memset(&r, 0, sizeof r);
    r.op = MW_IMAGE_OK;
    r.w = img.w;
    r.h = img.h;
    r.offset = w->media_end;
    fs_image_free(&img);
    reply(w, &r);
}

int fs_media_worker_main(int argc, char **argv) {
    static const struct option opts[] = {{"memory-mb", required_argument, NULL, 'm'},
                                         {"cpu-s", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int memory_mb = FS_MEDIA_WORKER_MEMORY_MB_DEFAULT, cpu_s = FS_MEDIA_WORKER_CPU_S_DEFAULT;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'm') memory_mb = atoi(optarg);
        else if (c == 'c') cpu_s = atoi(optarg);
        else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: fakescope media-worker [--memory-mb N] [--cpu-s N]\n\n"
                    "The sandboxed decoder a server starts for untrusted media (descriptor 3: its\n"
                    "socket, 4: its shared-memory arena). Not meant to be run by hand.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (memory_mb <= 0 || cpu_s <= 0) return 2;
    struct stat st;
    if (fstat(MW_FD_SOCKET, &st) || !S_ISSOCK(st.st_mode) || fstat(MW_FD_ARENA, &st)) {
        fprintf(stderr, "fakescope media-worker: started without its socket and arena\n");
        return 2;
    }
    fs_sandbox_limits lim = {
        .address_space = (uint64_t)memory_mb << 20,
        .file_size = MW_ARENA_MAX,
        /* a worker serves many calls; the pool retires it long before this */
        .cpu_hard_s = cpu_s * 1000,
    };
    fs_msg msg;
    if (fs_sandbox_enter(&lim, MW_FD_ARENA, &msg) != FS_OK) {
        fprintf(stderr, "fakescope media-worker: %s\n", msg.text);
        return 1;
    }
    worker w = {.sock = MW_FD_SOCKET, .arena_fd = MW_FD_ARENA, .cpu_s = cpu_s};
    for (;;) {
        mw_request q;
        if (read_all(w.sock, &q, sizeof q)) break; /* the pool closed: done */
        if (q.op == MW_OPEN_VIDEO) serve_video(&w, &q);
        else if (q.op == MW_IMAGE) serve_image(&w, &q);
        else {
            fs_fail(&msg, FS_ERR_INTERNAL, "protocol: unexpected request %u", q.op);
            reply_err(&w, MW_ERROR, FS_ERR_INTERNAL, &msg);
        }
    }
    if (w.media) munmap(w.media, w.media_end);
    if (w.frames) munmap(w.frames, w.frames_len);
    return 0;
}
