/* sandbox.h: how a media worker confines itself before it reads untrusted bytes (sandbox.c).
 * Not public API: only media_worker.c calls it. */
#ifndef FS_JOBS_SANDBOX_H
#define FS_JOBS_SANDBOX_H

#include <stdint.h>

#include "fakescope/core.h"

typedef struct fs_sandbox_limits {
    uint64_t address_space; /* RLIMIT_AS bytes (not set under ASan, whose shadow needs terabytes
                             * of address space: there ASan's hard_rss_limit_mb bounds memory) */
    uint64_t file_size;     /* RLIMIT_FSIZE: the arena may grow this far, nothing else exists */
    int cpu_hard_s;         /* RLIMIT_CPU hard limit over the worker's life; each call lowers
                             * the soft limit to what it may use (fs_sandbox_cpu_budget) */
} fs_sandbox_limits;

/* Sets the rlimits, closes every descriptor above keep_fd_max, and installs the seccomp
 * filter. After it the process cannot open a socket, execute, fork, open a file for writing,
 * or create, rename or remove anything; a forbidden call kills it with SIGSYS. */
fs_err fs_sandbox_enter(const fs_sandbox_limits *l, int keep_fd_max, fs_msg *msg);

/* Lets the process use at most cpu_s more CPU seconds (SIGXCPU after that), within the hard
 * limit. Returns 1 when the process has used half its hard limit (time to be replaced), else 0.
 * One getrusage per call; the soft limit is reset only when it has to move. */
int fs_sandbox_cpu_budget(int cpu_s);

#endif
