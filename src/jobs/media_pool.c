/* media_pool.c: the server's side of media_proto.h. It keeps up to `workers` sandboxed worker
 * processes, started on demand and replaced when they die or have served MW_CALLS_PER_WORKER
 * calls, and lends one to each decode. Everything a worker sends is checked: sizes against the
 * caller's limits, offsets against the arena as fstat sees it, codes against the fs_err range.
 * Every wait on a worker is bounded by the call's deadline; past it the worker is killed.
 *
 * Lock order: the pool mutex guards the process table (which slot is busy, which runs); a
 * slot lent to a caller is touched by that caller alone until it gives it back. */
#include "fakescope/media_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakescope/sha256.h"
#include "jobs/media_proto.h"

extern char **environ;

/* A worker is replaced after this many calls (a backstop against a heap grown fragmented), or
 * sooner when it says it has used half its lifetime CPU limit (mw_reply.retire). Starting one
 * costs tens of milliseconds of dynamic linking, so not often. */
#define MW_CALLS_PER_WORKER 100000
/* How late past its deadline a wait on a worker may notice it. */
#define MW_WAIT_SLICE_MS 50

typedef struct mw_proc {
    pid_t pid;          /* 0: no process */
    int sock;
    int arena_fd;
    uint8_t *arena;     /* the pool's mapping */
    uint64_t arena_len;
    int busy;
    int calls;
    int retire; /* the worker asked to be replaced after this call */
} mw_proc;

struct fs_media_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot became free */
    mw_proc procs[FS_MEDIA_WORKERS_MAX];
    int n;
    char exe[4096];
    int memory_mb, cpu_s;
    fs_metrics *metrics;
};

/* A video opened through the pool: the worker stays lent to it until close. */
typedef struct mw_video {
    fs_media_call *call;
    mw_proc *w;
    const uint8_t *data; /* for the log line of a death */
    size_t len;
    fs_video_limits limits;
} mw_video;

fs_err fs_media_pool_create(const fs_media_pool_config *cfg, fs_media_pool **out, fs_msg *msg) {
    *out = NULL;
    fs_media_pool *p = calloc(1, sizeof *p);
    if (!p) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    p->n = cfg && cfg->workers > 0 ? cfg->workers : 2 * fs_cpu_count();
    if (p->n > FS_MEDIA_WORKERS_MAX) p->n = FS_MEDIA_WORKERS_MAX;
    p->memory_mb = cfg && cfg->memory_mb > 0 ? cfg->memory_mb : FS_MEDIA_WORKER_MEMORY_MB_DEFAULT;
    p->cpu_s = cfg && cfg->cpu_s > 0 ? cfg->cpu_s : FS_MEDIA_WORKER_CPU_S_DEFAULT;
    p->metrics = cfg ? cfg->metrics : NULL;
    /* /proc/self/exe is this very binary even if the file was replaced since it started */
    snprintf(p->exe, sizeof p->exe, "%s", cfg && cfg->exe ? cfg->exe : "/proc/self/exe");
    if (access(p->exe, X_OK)) {
        fs_err e = fs_fail(msg, FS_ERR_NOTFOUND, "media worker binary %s: %s", p->exe,
                           strerror(errno));
        free(p);
        return e;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    *out = p;
    return FS_OK;
}

static void proc_close(mw_proc *w) {
    if (w->arena) munmap(w->arena, w->arena_len);
    if (w->sock >= 0) close(w->sock);
    if (w->arena_fd >= 0) close(w->arena_fd);
    w->arena = NULL;
    w->arena_len = 0;
    w->sock = w->arena_fd = -1;
    w->pid = 0;
    w->calls = 0;
    w->retire = 0;
}

/* Ends a healthy worker: closing its socket is its signal to exit. */
static void proc_retire(mw_proc *w) {
    pid_t pid = w->pid;
    proc_close(w);
    if (pid > 0) {
        int st;
        /* it exits at once on EOF; a stuck one is killed after a short wait */
        for (int i = 0; i < 100; i++) {
            if (waitpid(pid, &st, WNOHANG) == pid) return;
            usleep(1000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
}

void fs_media_pool_free(fs_media_pool *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++)
        if (p->procs[i].pid > 0) proc_retire(&p->procs[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ASan cannot run under RLIMIT_AS (its shadow memory is terabytes of address space), so a
 * sanitized worker is bounded by ASan's own RSS limit instead. */
static char **worker_env(const fs_media_pool *p, char *asan_buf, size_t cap) {
#if defined(__SANITIZE_ADDRESS__)
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env) return NULL;
    const char *prev = getenv("ASAN_OPTIONS");
    snprintf(asan_buf, cap, "ASAN_OPTIONS=%s%shard_rss_limit_mb=%d", prev ? prev : "",
             prev && *prev ? ":" : "", p->memory_mb);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13)) env[k++] = environ[i];
    env[k++] = asan_buf;
    env[k] = NULL;
    return env;
#else
    (void)p, (void)asan_buf, (void)cap;
    return environ;
#endif
}

/* Starts the worker of slot w. Pre: the caller owns the slot. */
static fs_err proc_spawn(fs_media_pool *p, mw_proc *w, fs_msg *msg) {
    int sv[2];
    w->sock = w->arena_fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return fs_fail(msg, FS_ERR_INTERNAL, "socketpair: %s", strerror(errno));
    /* Sealed against shrinking (and further seals) before the worker exists: a worker that
     * truncated the arena under a mapping of ours would make our next read of it a SIGBUS,
     * a crash of the server. It may only grow it. */
    int arena = memfd_create("fakescope-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (arena >= 0 && fcntl(arena, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL)) {
        close(arena);
        arena = -1;
    }
    if (arena < 0) {
        close(sv[0]), close(sv[1]);
        return fs_fail(msg, FS_ERR_INTERNAL, "sealed memfd: %s", strerror(errno));
    }
    char mem[24], cpu[24], asan[4096];
    snprintf(mem, sizeof mem, "%d", p->memory_mb);
    snprintf(cpu, sizeof cpu, "%d", p->cpu_s);
    char *argv[] = {p->exe, "media-worker", "--memory-mb", mem, "--cpu-s", cpu, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], MW_FD_SOCKET);
    posix_spawn_file_actions_adddup2(&fa, arena, MW_FD_ARENA);
    /* the server blocks SIGTERM/SIGINT in every thread: the worker must not inherit that */
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char **env = worker_env(p, asan, sizeof asan);
    pid_t pid = 0;
    int rc = env ? posix_spawn(&pid, p->exe, &fa, &at, argv, env) : ENOMEM;
    if (env && env != environ) free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(sv[1]);
    if (rc) {
        close(sv[0]), close(arena);
        return fs_fail(msg, FS_ERR_INTERNAL, "cannot start a media worker: %s", strerror(rc));
    }
    struct timeval slice = {0, MW_WAIT_SLICE_MS * 1000};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice);
    w->pid = pid;
    w->sock = sv[0];
    w->arena_fd = arena;
    w->calls = 0;
    fs_metrics_worker_started(p->metrics);
    return FS_OK;
}

static double call_deadline(const fs_media_call *c) {
    return c->deadline_ms > 0 ? c->deadline_ms : fs_now_ms() + FS_MEDIA_WORKER_TIMEOUT_MS_DEFAULT;
}

/* Lends a slot with a running worker to the caller, waiting for one until the deadline. */
static fs_err acquire(fs_media_call *c, mw_proc **out, fs_msg *msg) {
    fs_media_pool *p = c->pool;
    double deadline = call_deadline(c);
    pthread_mutex_lock(&p->mu);
    mw_proc *w = NULL;
    for (;;) {
        for (int i = 0; i < p->n && !w; i++)
            if (!p->procs[i].busy && p->procs[i].pid > 0) w = &p->procs[i];
        for (int i = 0; i < p->n && !w; i++)
            if (!p->procs[i].busy) w = &p->procs[i];
        if (w) break;
        double left = deadline - fs_now_ms();
        if (left <= 0) {
            pthread_mutex_unlock(&p->mu);
            return fs_fail(msg, FS_ERR_TIMEOUT, "no media worker became free in time");
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double ms = left < 1000 ? left : 1000;
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)((ms - (double)(long)(ms / 1000) * 1000) * 1e6);
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    w->busy = 1;
    pthread_mutex_unlock(&p->mu);
    if (w->pid == 0) {
        fs_err e = proc_spawn(p, w, msg);
        if (e) {
            pthread_mutex_lock(&p->mu);
            w->busy = 0;
            pthread_cond_signal(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return e;
        }
    }
    *out = w;
    return FS_OK;
}

static void release(fs_media_pool *p, mw_proc *w) {
    if (w->pid > 0 && (++w->calls >= MW_CALLS_PER_WORKER || w->retire)) proc_retire(w);
    pthread_mutex_lock(&p->mu);
    w->busy = 0;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* The worker of w died, or must die for `reason` ("timeout", "memory", "protocol"; NULL when
 * it died on its own): kills it if need be, reaps it, logs and counts the cause, and returns
 * the error the call reports. */
static fs_err worker_died(fs_media_call *c, mw_proc *w, const char *reason, const uint8_t *data,
                          size_t len, fs_msg *msg) {
    fs_media_pool *p = c->pool;
    pid_t pid = w->pid;
    int st = 0;
    if (reason) kill(pid, SIGKILL);
    /* EOF on the socket comes just before the exit status: wait a little, then make sure */
    pid_t r = 0;
    for (int i = 0; i < 200 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++) usleep(1000);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    proc_close(w);
    const char *cause = "crash";
    char how[64] = "";
    fs_err e;
    if (reason && !strcmp(reason, "timeout")) {
        cause = reason;
        e = fs_fail(msg, FS_ERR_TIMEOUT, "decoding did not finish in time; the worker was killed");
    } else if (reason && !strcmp(reason, "memory")) {
        cause = reason;
        e = fs_fail(msg, FS_ERR_LIMIT, "decoding this file needed more than %d MB of memory",
                    p->memory_mb);
    } else if (reason) {
        cause = "protocol";
        e = fs_fail(msg, FS_ERR_INTERNAL, "the media worker broke the protocol; it was killed");
    } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
        cause = "seccomp";
        e = fs_fail(msg, FS_ERR_DECODER,
                    "decoding this file attempted a forbidden system call; it was refused");
    } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU) {
        cause = "cpu";
        e = fs_fail(msg, FS_ERR_LIMIT, "decoding this file used more than %d CPU seconds",
                    p->cpu_s);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == FS_MEDIA_WORKER_EXIT_MEMORY) {
        cause = "memory";
        e = fs_fail(msg, FS_ERR_LIMIT, "decoding this file needed more than %d MB of memory",
                    p->memory_mb);
    } else {
        if (WIFSIGNALED(st))
            snprintf(how, sizeof how, "signal %d, %s", WTERMSIG(st), strsignal(WTERMSIG(st)));
        else snprintf(how, sizeof how, "exit status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        /* one retry at most: a second crash on the same media is the media's fault */
        e = c->crashes_before > 0
                ? fs_fail(msg, FS_ERR_DECODER, "this file crashed its decoder again (%s); it "
                          "was not judged", how)
                : fs_fail(msg, FS_ERR_INTERNAL, "the decoder crashed on this file (%s)", how);
    }
    snprintf(c->death, sizeof c->death, "%s", cause);
    char hex[FS_SHA256_HEX] = "?";
    if (data) fs_sha256_hex(data, len, hex);
    fs_log(FS_LOG_WARN, "media worker %d died (%s%s%s) during %s; media sha256 %s", (int)pid,
           cause, *how ? ": " : "", how, c->label[0] ? c->label : "a decode", hex);
    fs_metrics_worker_death(p->metrics, cause);
    return e;
}

/* Sends a request; 0 or -1 when the worker is gone. */
static int send_req(mw_proc *w, const mw_request *q) {
    const uint8_t *b = (const uint8_t *)q;
    size_t n = sizeof *q;
    while (n) {
        ssize_t r = send(w->sock, b, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads one reply before the deadline: 0, -1 (the worker is gone), or -2 (timed out). The
 * socket's receive timeout (MW_WAIT_SLICE_MS, set at spawn) wakes a blocked read to look at the
 * deadline, so a reply costs one read and no poll. */
static int recv_reply(mw_proc *w, double deadline, mw_reply *r) {
    uint8_t *b = (uint8_t *)r;
    size_t n = sizeof *r;
    while (n) {
        if (deadline - fs_now_ms() <= 0) return -2;
        ssize_t k = read(w->sock, b, n);
        if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    r->text[sizeof r->text - 1] = '\0';
    if (r->retire) w->retire = 1;
    return 0;
}

/* Maps the arena as far as fstat says it reaches (at least need bytes), or fails. */
static int map_arena(mw_proc *w, uint64_t need) {
    /* the arena cannot shrink (sealed), so what we mapped stays backed */
    if (w->arena && w->arena_len >= need) return 0;
    struct stat st;
    if (fstat(w->arena_fd, &st)) return -1;
    uint64_t size = (uint64_t)st.st_size;
    if (size < need) return -1;
    if (w->arena && w->arena_len >= need) return 0;
    if (w->arena) munmap(w->arena, w->arena_len);
    w->arena = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, w->arena_fd, 0);
    if (w->arena == MAP_FAILED) {
        w->arena = NULL;
        w->arena_len = 0;
        return -1;
    }
    w->arena_len = size;
    return 0;
}

/* Puts the media at the start of the arena. */
static fs_err put_media(mw_proc *w, const uint8_t *data, size_t len, fs_msg *msg) {
    uint64_t need = mw_align(len ? len : 1);
    if (w->arena && w->arena_len >= need) { /* sealed: what is mapped stays backed */
        memcpy(w->arena, data, len);
        return FS_OK;
    }
    struct stat st;
    if (fstat(w->arena_fd, &st)) return fs_fail(msg, FS_ERR_INTERNAL, "arena: %s", strerror(errno));
    if ((uint64_t)st.st_size < need && ftruncate(w->arena_fd, (off_t)need))
        return fs_fail(msg, FS_ERR_NOMEM, "arena of %zu bytes: %s", len, strerror(errno));
    if (map_arena(w, need)) return fs_fail(msg, FS_ERR_NOMEM, "cannot map the arena");
    memcpy(w->arena, data, len);
    return FS_OK;
}

/* An error a worker reported: its code if it is one, with its text. A worker that ran out of
 * memory is replaced (its heap is suspect) and the call fails as over a limit. */
static fs_err reported(fs_media_call *c, mw_proc *w, const mw_reply *r, const uint8_t *data,
                       size_t len, fs_msg *msg) {
    fs_err e = r->err > FS_OK && r->err <= FS_ERR_LAST ? (fs_err)r->err : FS_ERR_INTERNAL;
    if (e == FS_ERR_NOMEM) return worker_died(c, w, "memory", data, len, msg);
    fs_fail(msg, e, "%s", r->text[0] ? r->text : "the decoder failed");
    return e;
}

/* Checks a FRAME or IMAGE_OK message and copies its pixels into a new image. */
static fs_err take_pixels(mw_proc *w, const mw_reply *r, int max_w, int max_h, int64_t max_px,
                          fs_image *out, fs_msg *msg) {
    if (r->w <= 0 || r->h <= 0 || r->w > max_w || r->h > max_h ||
        (int64_t)r->w * r->h > max_px)
        return fs_fail(msg, FS_ERR_INTERNAL, "protocol: the worker sent a %dx%d picture", r->w,
                       r->h);
    uint64_t bytes = (uint64_t)r->w * (uint64_t)r->h * 3;
    if (r->offset > MW_ARENA_MAX || map_arena(w, r->offset + bytes))
        return fs_fail(msg, FS_ERR_INTERNAL, "protocol: pixels outside the arena");
    fs_err e = fs_image_alloc(out, r->w, r->h, msg);
    if (e) return e;
    memcpy(out->rgb, w->arena + r->offset, bytes);
    return FS_OK;
}

/* One request about media (IMAGE or OPEN_VIDEO) and its reply: puts the media in the arena,
 * sends q (its cpu_s and media_len filled here) and reads the reply before the call's deadline.
 * FS_OK when the reply is `want`; otherwise the error of the worker's report, death or breach
 * of protocol (the worker then replaced). */
static fs_err exchange(fs_media_call *c, mw_proc *w, mw_request *q, const uint8_t *data,
                       size_t len, uint32_t want, mw_reply *r, fs_msg *msg) {
    fs_err e = put_media(w, data, len, msg);
    if (e) return e;
    q->cpu_s = (uint32_t)c->pool->cpu_s;
    q->media_len = len;
    int rc = send_req(w, q);
    if (!rc) rc = recv_reply(w, call_deadline(c), r);
    if (rc) return worker_died(c, w, rc == -2 ? "timeout" : NULL, data, len, msg);
    if (r->op == MW_ERROR) return reported(c, w, r, data, len, msg);
    if (r->op != want) return worker_died(c, w, "protocol", data, len, msg);
    return FS_OK;
}

static fs_err pool_decode_image(void *ctx, const uint8_t *data, size_t len,
                                const fs_image_limits *limits, fs_image *out, fs_msg *msg) {
    fs_media_call *c = ctx;
    memset(out, 0, sizeof *out);
    fs_image_limits lim = limits ? *limits : fs_image_limits_default();
    if (len > lim.max_bytes)
        return fs_fail(msg, FS_ERR_LIMIT, "image is %zu bytes, more than the limit of %zu", len,
                       lim.max_bytes);
    mw_proc *w;
    fs_err e = acquire(c, &w, msg);
    if (e) return e;
    mw_request q;
    memset(&q, 0, sizeof q);
    q.op = MW_IMAGE;
    q.image_limits = lim;
    mw_reply r;
    e = exchange(c, w, &q, data, len, MW_IMAGE_OK, &r, msg);
    if (!e) {
        int side = lim.max_pixels > 0x7fffffff ? 0x7fffffff : (int)lim.max_pixels;
        e = take_pixels(w, &r, side, side, lim.max_pixels, out, msg);
        if (e == FS_ERR_INTERNAL) e = worker_died(c, w, "protocol", data, len, msg);
    }
    release(c->pool, w);
    return e;
}

static fs_err pool_video_open(void *ctx, const uint8_t *data, size_t len,
                              const fs_video_limits *limits, void **video, fs_video_info *info,
                              fs_msg *msg) {
    fs_media_call *c = ctx;
    *video = NULL;
    mw_video *v = calloc(1, sizeof *v);
    if (!v) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    v->call = c;
    v->data = data;
    v->len = len;
    v->limits = limits ? *limits : fs_video_limits_default();
    if (len > v->limits.max_bytes) {
        size_t max = v->limits.max_bytes;
        free(v);
        return fs_fail(msg, FS_ERR_LIMIT, "video is %zu bytes, more than the limit of %zu",
                       len, max);
    }
    fs_err e = acquire(c, &v->w, msg);
    if (e) {
        free(v);
        return e;
    }
    mw_proc *w = v->w;
    mw_request q;
    memset(&q, 0, sizeof q);
    q.op = MW_OPEN_VIDEO;
    q.video_limits = v->limits;
    mw_reply r;
    e = exchange(c, w, &q, data, len, MW_INFO, &r, msg);
    if (!e && (r.info.w <= 0 || r.info.h <= 0 || r.info.w > v->limits.max_width ||
               r.info.h > v->limits.max_height))
        e = worker_died(c, w, "protocol", data, len, msg);
    if (e) {
        release(c->pool, w);
        free(v);
        return e;
    }
    *info = r.info;
    info->codec[sizeof info->codec - 1] = '\0';
    info->container[sizeof info->container - 1] = '\0';
    *video = v;
    return FS_OK;
}

static fs_err pool_video_sample(void *video, const fs_video_sampling *s,
                                fs_video_frame_fn on_frame, void *frame_ctx, fs_msg *msg) {
    mw_video *v = video;
    fs_media_call *c = v->call;
    mw_proc *w = v->w;
    if (w->pid == 0) return fs_fail(msg, FS_ERR_INTERNAL, "the media worker is gone");
    mw_request q;
    memset(&q, 0, sizeof q);
    q.op = MW_SAMPLE;
    q.cpu_s = (uint32_t)c->pool->cpu_s;
    q.sampling = s ? *s : fs_video_sampling_default();
    q.sampling.progress = NULL;
    q.sampling.progress_ctx = NULL;
    double deadline = call_deadline(c);
    if (send_req(w, &q)) return worker_died(c, w, NULL, v->data, v->len, msg);
    fs_err cb_err = FS_OK;
    fs_msg cb_msg = {{0}};
    int frames = 0;
    for (;;) {
        mw_reply r;
        int rc = recv_reply(w, deadline, &r);
        if (rc) return worker_died(c, w, rc == -2 ? "timeout" : NULL, v->data, v->len, msg);
        if (r.op == MW_DONE) {
            if (cb_err) {
                if (msg) *msg = cb_msg;
                return cb_err;
            }
            if (r.err == FS_OK) return FS_OK;
            return reported(c, w, &r, v->data, v->len, msg);
        }
        fs_err e = FS_OK;
        if (r.op != MW_FRAME || ++frames > v->limits.max_frames)
            e = fs_fail(msg, FS_ERR_INTERNAL, "protocol: unexpected message %u", r.op);
        fs_video_frame fr;
        memset(&fr, 0, sizeof fr);
        if (!e)
            e = take_pixels(w, &r, v->limits.max_width, v->limits.max_height, INT64_MAX,
                            &fr.image, msg);
        if (e == FS_ERR_INTERNAL) return worker_died(c, w, "protocol", v->data, v->len, msg);
        mw_request a;
        memset(&a, 0, sizeof a);
        a.op = MW_ACK;
        if (!e && !cb_err) {
            fr.index = r.index;
            fr.time_s = r.time_s;
            /* the pixels are copied out: the worker may reuse the slot while we judge */
            if (send_req(w, &a)) {
                fs_image_free(&fr.image);
                return worker_died(c, w, NULL, v->data, v->len, msg);
            }
            cb_err = on_frame(frame_ctx, &fr, &cb_msg);
            fs_image_free(&fr.image);
            continue;
        }
        fs_image_free(&fr.image);
        if (!cb_err) {
            cb_err = e;
            cb_msg = msg ? *msg : cb_msg;
        }
        a.op = MW_STOP;
        if (send_req(w, &a)) return worker_died(c, w, NULL, v->data, v->len, msg);
    }
}

static void pool_video_close(void *video) {
    mw_video *v = video;
    if (!v) return;
    if (v->w->pid > 0) {
        mw_request q;
        memset(&q, 0, sizeof q);
        q.op = MW_CLOSE;
        if (send_req(v->w, &q)) {
            fs_msg tmp;
            worker_died(v->call, v->w, NULL, v->data, v->len, &tmp);
        }
    }
    release(v->call->pool, v->w);
    free(v);
}

fs_media_decoder fs_media_pool_decoder(fs_media_call *call) {
    fs_media_decoder d = {call, pool_decode_image, pool_video_open, pool_video_sample,
                          pool_video_close};
    return d;
}
