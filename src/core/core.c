/* core.c: the error, logging, clock, file and CPU helpers every other module leans on.
 * Nothing here allocates except fs_read_file, and nothing keeps state but the log level. */
#include "fakescope/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *fs_err_name(fs_err err) {
    switch (err) {
    case FS_OK: return "ok";
    case FS_ERR_NOMEM: return "nomem";
    case FS_ERR_IO: return "io";
    case FS_ERR_NOTFOUND: return "notfound";
    case FS_ERR_FORMAT: return "format";
    case FS_ERR_UNSUPPORTED: return "unsupported";
    case FS_ERR_LIMIT: return "limit";
    case FS_ERR_INVALID: return "invalid";
    case FS_ERR_CONFLICT: return "conflict";
    case FS_ERR_AUTH: return "auth";
    case FS_ERR_TIMEOUT: return "timeout";
    case FS_ERR_NOFACE: return "noface";
    case FS_ERR_INTERNAL: return "internal";
    case FS_ERR_DECODER: return "decoder";
    }
    return "unknown";
}

fs_err fs_fail(fs_msg *msg, fs_err err, const char *fmt, ...) {
    if (msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg->text, sizeof msg->text, fmt, ap);
        va_end(ap);
    }
    return err;
}

void fs_msg_prefix(fs_msg *msg, const char *fmt, ...) {
    if (!msg) return;
    char prefix[FS_MSG_MAX], old[FS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, msg->text, sizeof old);
    old[sizeof old - 1] = '\0';
    /* Truncation is acceptable: a long message keeps its start, which names the input. */
    size_t pl = strnlen(prefix, sizeof msg->text - 1);
    memcpy(msg->text, prefix, pl);
    size_t ol = strnlen(old, sizeof msg->text - 1 - pl);
    memcpy(msg->text + pl, old, ol);
    msg->text[pl + ol] = '\0';
}

static atomic_int log_level = FS_LOG_INFO;

void fs_log_set_level(fs_log_level level) { atomic_store(&log_level, (int)level); }

void fs_log(fs_log_level level, const char *fmt, ...) {
    if ((int)level < atomic_load(&log_level)) return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so lines from different threads never interleave. */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

double fs_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int64_t fs_unix_time(void) { return (int64_t)time(NULL); }

fs_err fs_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, fs_msg *msg) {
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fs_fail(msg, errno == ENOENT ? FS_ERR_NOTFOUND : FS_ERR_IO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fs_fail(msg, FS_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fs_fail(msg, FS_ERR_INVALID, "%s: is a directory", path);
    }
    if ((size_t)st.st_size > max_bytes) {
        close(fd);
        return fs_fail(msg, FS_ERR_LIMIT, "%s: %lld bytes is over the limit of %zu", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t cap = (size_t)st.st_size;
    uint8_t *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return fs_fail(msg, FS_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return fs_fail(msg, FS_ERR_IO, "%s: %s", path, strerror(e));
        }
        if (r == 0) break; /* file shrank while reading: take what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *len = got;
    return FS_OK;
}

fs_err fs_write_file(const char *path, const void *data, size_t len, fs_msg *msg) {
    /* The temporary name is unique per process, thread and call, so concurrent writers of the
     * same path never share (and truncate) one temporary file: the last rename wins whole. */
    static atomic_ulong counter;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d.%ld.%lu", path, (int)getpid(), (long)gettid(),
                 atomic_fetch_add(&counter, 1)) >= (int)sizeof tmp)
        return fs_fail(msg, FS_ERR_INVALID, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fs_fail(msg, FS_ERR_IO, "%s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return fs_fail(msg, FS_ERR_IO, "%s: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return fs_fail(msg, FS_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fs_fail(msg, FS_ERR_IO, "%s: %s", path, strerror(e));
    }
    return FS_OK;
}

fs_err fs_mkdirs(const char *path, fs_msg *msg) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return fs_fail(msg, FS_ERR_INVALID, "bad directory path");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return fs_fail(msg, FS_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return FS_OK;
}

int fs_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

int fs_cpu_has_avx2_fma(void) {
    /* FAKESCOPE_PORTABLE=1 forces the portable kernels, for tests and comparisons. */
    const char *force = getenv("FAKESCOPE_PORTABLE");
    if (force && force[0] == '1') return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
