/* media_worker (jobs/): untrusted media decoded in sandboxed worker processes. A server never
 * runs a parser of uploaded bytes (demuxers, codecs, JPEG/PNG/WebP, EXIF) in its own address
 * space: a pool of worker processes (the same binary re-executed as `fakescope media-worker`)
 * does it and hands back RGB8 pixels through shared memory. Each worker is confined before it
 * sees a byte: seccomp-bpf (no sockets, no exec, no new processes, no file opened for writing,
 * nothing created, renamed or removed: its only scratch space is its shared-memory arena) and
 * rlimits (address space, CPU seconds, file size, open files, no core dumps). A worker that
 * crashes, hangs, or passes a limit costs the one decode it was doing: the caller gets an
 * error saying which, the worker is replaced, the death is logged with the caller's label and
 * the media's SHA-256, and counted in the metrics by cause.
 *
 * The pool's decoder (fs_media_pool_decoder) is an fs_media_decoder for fs_scan_opts, so the
 * detection pipeline itself is unchanged: face finding and the networks run in the server on
 * pixels whose sizes the server checks against its own limits.
 *
 * Death causes and the errors they give:
 *   crash    (a signal: SIGSEGV, SIGABRT, ...) FS_ERR_INTERNAL, or FS_ERR_DECODER once the
 *            media crashed a worker before (fs_media_call.crashes_before): retried at most once
 *   seccomp  (SIGSYS: a forbidden system call)   FS_ERR_DECODER, never retried
 *   timeout  (the call's wall-clock budget)      FS_ERR_TIMEOUT
 *   cpu      (RLIMIT_CPU: SIGXCPU)               FS_ERR_LIMIT
 *   memory   (RLIMIT_AS reached)                 FS_ERR_LIMIT
 *   protocol (the worker broke the protocol)     FS_ERR_INTERNAL
 *
 * Threads: every function is thread-safe; a call holds one worker from open to close.
 * Ownership: fs_media_pool_create makes, fs_media_pool_free stops the workers and frees. */
#ifndef FAKESCOPE_MEDIA_WORKER_H
#define FAKESCOPE_MEDIA_WORKER_H

#include "fakescope/core.h"
#include "fakescope/detect.h"
#include "fakescope/metrics.h"

#define FS_MEDIA_WORKERS_MAX 64
#define FS_MEDIA_WORKER_MEMORY_MB_DEFAULT 2048 /* RLIMIT_AS of a worker */
#define FS_MEDIA_WORKER_CPU_S_DEFAULT 60       /* CPU seconds of one decode */
#define FS_MEDIA_WORKER_TIMEOUT_MS_DEFAULT 120000.0
/* Exit status of a worker whose allocation failed at its address-space limit. */
#define FS_MEDIA_WORKER_EXIT_MEMORY 3

typedef struct fs_media_pool fs_media_pool;

typedef struct fs_media_pool_config {
    const char *exe;    /* the binary run as `EXE media-worker`; NULL: this process's own */
    int workers;        /* worker processes at most (started on demand); <= 0: 2 per CPU */
    int memory_mb;      /* address-space limit per worker; <= 0: the default */
    int cpu_s;          /* CPU seconds one call may use; <= 0: the default */
    fs_metrics *metrics; /* deaths are counted here (may be NULL) */
} fs_media_pool_config;

fs_err fs_media_pool_create(const fs_media_pool_config *cfg, fs_media_pool **out, fs_msg *msg);
void fs_media_pool_free(fs_media_pool *p);

/* One caller's use of the pool: what the logs name it by, its deadline, and what happened. */
typedef struct fs_media_call {
    fs_media_pool *pool;
    char label[96];      /* "task 0f3a..." or "request 4d2c...": names the work in logs */
    double deadline_ms;  /* fs_now_ms() clock; 0: now + FS_MEDIA_WORKER_TIMEOUT_MS_DEFAULT */
    int crashes_before;  /* crashes this media caused already (jobs: earlier attempts) */
    /* out: the cause of the last worker death during this call ("crash", ...), "" if none */
    char death[16];
} fs_media_call;

/* A decoder for fs_scan_opts.decoder that decodes through the pool on behalf of call (which
 * must outlive the scan). */
fs_media_decoder fs_media_pool_decoder(fs_media_call *call);

/* The worker's side: `fakescope media-worker --fd-socket 3 --fd-arena 4 ...` (started by the
 * pool, never by hand). Returns the process's exit status. */
int fs_media_worker_main(int argc, char **argv);

/* A test build's fault hook (tests/tools/fault_hooks.c), called by a worker on every media
 * buffer before decoding it. Release binaries do not define it, so it is never called there. */
void fs_media_worker_fault_hook(const uint8_t *data, size_t len) __attribute__((weak));

#endif
