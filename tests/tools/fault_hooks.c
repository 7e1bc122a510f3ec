/* fault_hooks.c: the media workers' fault hook, linked only into the test binary
 * fakescope-faults (never into fakescope). A media buffer that contains one of these markers
 * makes the worker that decodes it misbehave on purpose, so tests can prove that the server
 * survives each way a decoder can fail:
 *   FAKESCOPE-FAULT:abort   abort()                        -> a crash (SIGABRT)
 *   FAKESCOPE-FAULT:segv    write through a null pointer   -> a crash (SIGSEGV)
 *   FAKESCOPE-FAULT:hang    sleep for ever                 -> the wall-clock limit
 *   FAKESCOPE-FAULT:spin    burn CPU for ever              -> RLIMIT_CPU (or the wall clock)
 *   FAKESCOPE-FAULT:alloc   allocate and touch without end -> RLIMIT_AS
 *   FAKESCOPE-FAULT:socket  open a TCP socket              -> seccomp (SIGSYS)
 *   FAKESCOPE-FAULT:write   create a file in /tmp          -> seccomp (SIGSYS)
 *   FAKESCOPE-FAULT:exec    execute /bin/sh                -> seccomp (SIGSYS)
 *   FAKESCOPE-FAULT:shrink  truncate the shared arena       -> refused by its seal; the
 *                           decode goes on (had it worked, the worker exits with status 7)
 * Anything after the marker's name is ignored. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakescope/media_worker.h"

#define MARK "FAKESCOPE-FAULT:"

static int has(const uint8_t *data, size_t len, const char *what) {
    char m[64];
    size_t n = (size_t)snprintf(m, sizeof m, MARK "%s", what);
    return memmem(data, len, m, n) != NULL;
}

void fs_media_worker_fault_hook(const uint8_t *data, size_t len) {
    if (!memmem(data, len, MARK, strlen(MARK))) return;
    if (has(data, len, "abort")) abort();
    if (has(data, len, "segv")) {
        volatile int *p = NULL;
        *p = 1;
    }
    if (has(data, len, "hang"))
        for (;;) sleep(1);
    if (has(data, len, "spin")) {
        volatile uint64_t x = 0;
        for (;;) x++;
    }
    if (has(data, len, "alloc")) {
        for (;;) {
            char *p = malloc((size_t)64 << 20);
            if (!p) _exit(FS_MEDIA_WORKER_EXIT_MEMORY);
            memset(p, 1, (size_t)64 << 20);
        }
    }
    if (has(data, len, "socket")) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s >= 0) close(s);
    }
    if (has(data, len, "write")) {
        int fd = open("/tmp/fakescope-escaped", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
    }
    if (has(data, len, "shrink") && ftruncate(4, 0) == 0) _exit(7);
    if (has(data, len, "exec")) {
        char *argv[] = {"/bin/sh", "-c", "true", NULL};
        execv("/bin/sh", argv);
    }
}
