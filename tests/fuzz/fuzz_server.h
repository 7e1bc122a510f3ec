/* fuzz_server.h: what the fuzz targets of the HTTP request parsers share: the real server
 * (libmicrohttpd, the body reader, the multipart parser, the dialects' handlers) started once in
 * the fuzzing process on 127.0.0.1, and a client that sends one request per input over a fresh
 * connection and returns the status. Included by fuzz_multipart.c and fuzz_api_*.c only.
 *
 * Hermetic: at start the process moves into a network namespace of its own (when allowed: root)
 * with only the loopback interface up, so an imageUrl the fuzzer writes can reach nothing and
 * fails at once instead of waiting on DNS or a connect. The store lives in a temporary folder
 * under /dev/shm (fsync costs nothing there), removed at exit. An admin key is made at start;
 * every request carries it (Authorization and X-API-KEY), and "@K" in an input is replaced by
 * it, so a body token can be valid. The task queue is made but never started, so tasks are
 * queued (up to FUZZ_QUEUE) and never run: no inference runs behind a request. */
#ifndef FS_FUZZ_SERVER_H
#define FS_FUZZ_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakescope/jobs.h"
#include "fakescope/server.h"
#include "server/app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_BODY ((size_t)1 << 20) /* a small body limit so the 413 path is reachable */
#define FUZZ_QUEUE 1
#define FUZZ_REPLY_MAX 65536
#define FUZZ_IO_TIMEOUT_MS 20000 /* a request that takes this long is a hang: abort */

static struct {
    char dir[PATH_MAX];
    fs_store *store;
    fs_server *srv;
    fs_app app;
    struct fs_jobs *jobs; /* kept here too: app.jobs is cleared when handlers must not reach it */
    int port;
    char key[FS_KEY_SECRET_LEN + 1];
} fz;

static inline void fz_cleanup(void) {
    char cmd[PATH_MAX + 16];
    if (!fz.dir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz.dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: cannot remove %s\n", fz.dir);
}

/* A network namespace with only "lo" up; silently keeps the current one when not permitted. */
static inline void fz_isolate_network(void) {
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "fuzz: no private network namespace (%s); imageUrl fetches may reach out\n", strerror(errno));
        return;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) abort();
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) abort();
    close(s);
    /* Thousands of connections a second: let this namespace reuse ports in TIME_WAIT. */
    static const char *const knobs[][2] = {{"/proc/sys/net/ipv4/tcp_tw_reuse", "1"},
                                           {"/proc/sys/net/ipv4/ip_local_port_range", "1024 65535"}};
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
        FILE *f = fopen(knobs[i][0], "w");
        if (f) {
            fputs(knobs[i][1], f);
            fclose(f);
        }
    }
}

/* Starts the server once. models: load the shipped models (the image check gets past its model
 * lookup); jobs: keep the task queue reachable from the handlers (0: they answer 503 at once);
 * extra: a handler of the target's own at POST /fuzz/form (may be NULL). */
static inline void fz_start(int models, int jobs, fs_handler extra) {
    if (fz.srv) return;
    signal(SIGPIPE, SIG_IGN);
    fz_isolate_network();
    fs_log_set_level(FS_LOG_ERROR);
    snprintf(fz.dir, sizeof fz.dir, "/dev/shm/fs-fuzz-srv-XXXXXX");
    if (!mkdtemp(fz.dir)) {
        snprintf(fz.dir, sizeof fz.dir, "/tmp/fs-fuzz-srv-XXXXXX");
        if (!mkdtemp(fz.dir)) abort();
    }
    atexit(fz_cleanup);
    fs_msg msg;
    if (fs_store_open(fz.dir, &fz.store, &msg) != FS_OK) abort();
    fs_key_info k;
    if (fs_store_key_create(fz.store, "fuzz", 1, &k, fz.key, &msg) != FS_OK) abort();
    /* The shipped models, found from this file's own path (CMake compiles with absolute paths). */
    char models_dir[PATH_MAX];
    snprintf(models_dir, sizeof models_dir, "%s", __FILE__);
    char *cut = strstr(models_dir, "tests/fuzz/fuzz_server.h");
    if (cut) snprintf(cut, sizeof models_dir - (size_t)(cut - models_dir), "models");
    const char *dirs[1] = {models_dir};
    /* The cascade finds the faces: the fuzz binaries live in build-fuzz/, beside no imported
     * face detector, and what is fuzzed here is the HTTP layer and the dialects, not it. */
    fs_engine_config ecfg = {.model_dirs = models ? dirs : NULL, .n_model_dirs = models ? 1 : 0,
                             .face_detector = "haar"};
    if (fs_engine_create(&ecfg, &fz.app.engine, &msg) != FS_OK) abort();
    fs_server_config cfg;
    fs_server_config_defaults(&cfg);
    cfg.port = 0;
    cfg.workers = 1;
    cfg.max_body = FUZZ_MAX_BODY;
    cfg.request_timeout_s = 5;
    cfg.fetch_timeout_s = 1;
    cfg.data_dir = fz.dir;
    cfg.web_dir = NULL;
    if (fs_server_create(&cfg, fz.store, &fz.srv, &msg) != FS_OK) abort();
    fz.app.server = fz.srv;
    fz.app.store = fz.store;
    fz.app.cfg = fs_server_config_of(fz.srv);
    fs_server_set_app(fz.srv, &fz.app);
    fs_jobs_config jc = {.workers = 1, .max_queued = FUZZ_QUEUE};
    if (fs_jobs_create(fz.store, &jc, &fz.app.jobs, &msg) != FS_OK ||
        fs_jobs_add_scan(fz.app.jobs, fz.app.engine, NULL, 0, &msg) != FS_OK ||
        fs_app_register_routes(&fz.app, &msg) != FS_OK ||
        (extra && fs_server_route(fz.srv, "POST", "/fuzz/form", "fuzz_form", extra, &msg) != FS_OK) ||
        fs_server_start(fz.srv, &msg) != FS_OK) {
        fprintf(stderr, "fuzz: %s\n", msg.text);
        abort();
    }
    fz.jobs = fz.app.jobs;
    if (!jobs) fz.app.jobs = NULL; /* the handlers then refuse to queue: 503 */
    fz.port = fs_server_port(fz.srv);
}

/* Copies in to out replacing "@K" with the key; returns the length (out holds cap bytes). */
static inline size_t fz_subst_key(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t o = 0, kl = strlen(fz.key);
    for (size_t i = 0; i < n && o < cap; i++) {
        if (in[i] == '@' && i + 1 < n && in[i + 1] == 'K' && o + kl <= cap) {
            memcpy(out + o, fz.key, kl);
            o += kl;
            i++;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

static char fz_last_reply[FUZZ_REPLY_MAX + 1]; /* the last answer, headers included */
static int fz_truncated;                       /* it was longer than FUZZ_REPLY_MAX: cut */

static inline int fz_send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0; /* the server may close early (413): not an error */
        c += w;
        n -= (size_t)w;
    }
    return 1;
}

/* Sends one request (head: method, path and extra header lines, each ending "\r\n"; body with
 * a Content-Length) and returns the status of the answer, 0 when the server closed without one.
 * The answer's body goes to reply (NUL-terminated) when not NULL; fz_truncated says it was cut
 * (its shape cannot be judged then). Aborts on a hang. */
static inline int fz_request(const char *method, const char *path, const char *headers, const uint8_t *body,
                      size_t len, char *reply, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) abort();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fz.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* close() resets the connection instead of leaving it in TIME_WAIT, or a long run would
     * use up the ephemeral ports. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    int tries = 0;
    while (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (errno == EINTR) { /* libFuzzer's SIGALRM: the connection goes on; wait for it */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof err;
            while (poll(&p, 1, FUZZ_IO_TIMEOUT_MS) < 0 && errno == EINTR) {}
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0) break;
            errno = err;
        }
        if (errno != EADDRNOTAVAIL || ++tries > 100) {
            fprintf(stderr, "fuzz: cannot connect to the server: %s\n", strerror(errno));
            abort();
        }
        usleep(10000);
    }
    char head[4096];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Authorization: Bearer %s\r\nX-API-KEY: %s\r\n%sContent-Length: %zu\r\n\r\n",
                      method, path, fz.key, fz.key, headers ? headers : "", len);
    if (hn <= 0 || (size_t)hn >= sizeof head) abort();
    if (fz_send_all(fd, head, (size_t)hn)) fz_send_all(fd, body, len);
    shutdown(fd, SHUT_WR);
    char *buf = fz_last_reply;
    fz_truncated = 0;
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, FUZZ_IO_TIMEOUT_MS);
        if (pr == 0) {
            fprintf(stderr, "fuzz: no answer to %s %s within %d ms\n", method, path, FUZZ_IO_TIMEOUT_MS);
            abort();
        }
        if (pr < 0 && errno == EINTR) continue;
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t take = (size_t)r < FUZZ_REPLY_MAX - got ? (size_t)r : FUZZ_REPLY_MAX - got;
        if (take < (size_t)r) fz_truncated = 1;
        memcpy(buf + got, tmp, take);
        got += take;
    }
    close(fd);
    buf[got] = 0;
    int status = 0;
    if (got > 12 && !strncmp(buf, "HTTP/1.", 7)) status = atoi(buf + 9);
    if (reply && cap) {
        const char *b = strstr(buf, "\r\n\r\n");
        snprintf(reply, cap, "%s", b ? b + 4 : "");
    }
    return status;
}

/* The statuses a request parser may answer with; anything else (a 500) is a finding. */
static inline void fz_expect_status(int status, const char *what) {
    switch (status) {
    case 200: case 201: case 202: case 204: case 400: case 401: case 403: case 404: case 405:
    case 409: case 413: case 414: case 415: case 422: case 431: case 503: case 504:
        return;
    case 0: /* the server closed without answering: only allowed after a refused body */
        return;
    default:
        fprintf(stderr, "fuzz: %s answered %d:\n%.2000s\n", what, status, fz_last_reply);
        abort();
    }
}

#endif
