/* core: error codes, human-readable error messages, logging and clocks shared by every module.
 *
 * Error contract: a function that can fail returns fs_err (FS_OK == 0) and, when given a
 * non-NULL fs_msg, writes one line of text a person can act on ("truncated JPEG: ...").
 * The code says what kind of failure it is, so the dialect layer can map it to a status;
 * the text says what happened. Out-parameters are left untouched or zeroed on failure,
 * never half-filled with memory the caller would have to free. */
#ifndef FAKESCOPE_CORE_H
#define FAKESCOPE_CORE_H

#include <stddef.h>
#include <stdint.h>

typedef enum fs_err {
    FS_OK = 0,
    FS_ERR_NOMEM,       /* allocation failed */
    FS_ERR_IO,          /* file or socket could not be read/written */
    FS_ERR_NOTFOUND,    /* a named thing (file, model, id) does not exist */
    FS_ERR_FORMAT,      /* input is not in the expected format, or is corrupt/truncated */
    FS_ERR_UNSUPPORTED, /* valid input of a kind fakescope does not handle */
    FS_ERR_LIMIT,       /* input exceeds a configured limit (size, pixels, frames, time) */
    FS_ERR_INVALID,     /* a caller-supplied argument is wrong (usage error) */
    FS_ERR_CONFLICT,    /* the request conflicts with stored state */
    FS_ERR_AUTH,        /* missing or wrong credentials */
    FS_ERR_TIMEOUT,     /* a time limit was reached */
    FS_ERR_NOFACE,      /* media decoded fine but no face was found */
    FS_ERR_INTERNAL,    /* a bug or an unexpected library failure */
    FS_ERR_DECODER      /* the input made its sandboxed decoder crash or try a forbidden call:
                         * final, never retried (jobs/media_worker.h) */
} fs_err;
#define FS_ERR_LAST FS_ERR_DECODER

#define FS_MSG_MAX 512
typedef struct fs_msg {
    char text[FS_MSG_MAX];
} fs_msg;

/* Short stable name of an error code ("format", "limit", ...). */
const char *fs_err_name(fs_err err);

/* Formats the message into msg (if non-NULL) and returns err, so callers can write
 * `return fs_fail(msg, FS_ERR_FORMAT, "bad header in %s", path);`. */
fs_err fs_fail(fs_msg *msg, fs_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with context ("file.jpg: " + old text). */
void fs_msg_prefix(fs_msg *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- logging (stderr, one line per event) ---- */
typedef enum { FS_LOG_DEBUG, FS_LOG_INFO, FS_LOG_WARN, FS_LOG_ERROR } fs_log_level;
void fs_log_set_level(fs_log_level level);
void fs_log(fs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- clocks ---- */
double fs_now_ms(void);     /* monotonic milliseconds, for durations */
int64_t fs_unix_time(void); /* wall-clock seconds since the epoch, for records */

/* ---- files ---- */
/* Reads a whole file into a new malloc'd buffer (NUL-terminated for convenience; *len excludes
 * the NUL). Refuses files larger than max_bytes with FS_ERR_LIMIT. Caller frees *data. */
fs_err fs_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, fs_msg *msg);
/* Writes data to path atomically (temporary file, fsync, rename). */
fs_err fs_write_file(const char *path, const void *data, size_t len, fs_msg *msg);
/* mkdir -p */
fs_err fs_mkdirs(const char *path, fs_msg *msg);

/* ---- machine ---- */
int fs_cpu_count(void);   /* online CPUs, at least 1 */
int fs_cpu_has_avx2_fma(void);

#endif
