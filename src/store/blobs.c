/* blobs.c: the content-addressed blob folder and the media table over it. A blob lives at
 * DIR/blobs/ab/cdef... where abcdef... is the SHA-256 of its bytes; the name is computed here,
 * never taken from a caller unchecked, so nothing can be written outside the data directory.
 * Writes go through fs_write_file (temporary file, fsync, rename), so a reader sees a whole blob
 * or none; reads re-hash the bytes so a damaged file is reported, not served. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fs_err fs_store_blob_path(const fs_store *s, const char *hex, char *path, size_t cap, fs_msg *msg) {
    if (!fs_sha256_hex_valid(hex)) return fs_fail(msg, FS_ERR_INVALID, "not a SHA-256 hex digest");
    int n = snprintf(path, cap, "%s/%.2s/%s", s->blob_dir, hex, hex + 2);
    if (n < 0 || (size_t)n >= cap) return fs_fail(msg, FS_ERR_INVALID, "blob path too long");
    return FS_OK;
}

fs_err fs_store_blob_put(fs_store *s, const void *data, size_t len, char hex[FS_SHA256_HEX],
                         fs_msg *msg) {
    char h[FS_SHA256_HEX], path[STORE_PATH_MAX + 128], dir[STORE_PATH_MAX + 64];
    fs_err e = fs_sha256_hex(data, len, h);
    if (e != FS_OK) return fs_fail(msg, e, "sha256 failed");
    if ((e = fs_store_blob_path(s, h, path, sizeof path, msg)) != FS_OK) return e;
    snprintf(dir, sizeof dir, "%s/%.2s", s->blob_dir, h);
    if ((e = fs_mkdirs(dir, msg)) != FS_OK) return e;
    struct stat st;
    /* Two requests may store the same bytes at once; fs_write_file's temporary name is per
     * process, so writes are serialised here. Same name means same bytes: an existing blob of
     * the right size is kept as it is. */
    pthread_mutex_lock(&s->blob_lock);
    if (!(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len)) {
        e = fs_write_file(path, data, len, msg);
        /* The rename is durable only once the directory entry is on disk. */
        int dfd = e == FS_OK ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dfd >= 0) {
            if (fsync(dfd) != 0) e = fs_fail(msg, FS_ERR_IO, "fsync %s: %s", dir, strerror(errno));
            close(dfd);
        }
    }
    pthread_mutex_unlock(&s->blob_lock);
    if (e != FS_OK) return e;
    memcpy(hex, h, FS_SHA256_HEX);
    return FS_OK;
}

fs_err fs_store_blob_get(fs_store *s, const char *hex, size_t max_bytes, uint8_t **data,
                         size_t *len, fs_msg *msg) {
    *data = NULL;
    *len = 0;
    char path[STORE_PATH_MAX + 128], got[FS_SHA256_HEX];
    fs_err e = fs_store_blob_path(s, hex, path, sizeof path, msg);
    if (e != FS_OK) return e;
    uint8_t *buf;
    size_t n;
    if ((e = fs_read_file(path, max_bytes, &buf, &n, msg)) != FS_OK) return e;
    if ((e = fs_sha256_hex(buf, n, got)) != FS_OK) {
        free(buf);
        return fs_fail(msg, e, "sha256 failed");
    }
    if (strcmp(got, hex) != 0) {
        free(buf);
        return fs_fail(msg, FS_ERR_FORMAT, "blob %s is damaged: its bytes hash to %s", hex, got);
    }
    *data = buf;
    *len = n;
    return FS_OK;
}

fs_err fs_store_media_put(fs_store *s, const void *data, size_t len, const char *mime,
                          fs_media_info *info, fs_msg *msg) {
    char hex[FS_SHA256_HEX], path[STORE_PATH_MAX + 128];
    fs_err e = fs_store_blob_put(s, data, len, hex, msg);
    if (e != FS_OK) return e;
    fs_store_blob_path(s, hex, path, sizeof path, NULL);
    int64_t now = fs_unix_time();
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    if ((e = db_prepare(c, "INSERT INTO media (sha256, size, mime, blob_path, created) "
                              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING", &st, msg)) == FS_OK) {
        db_bind_text(st, 1, hex);
        db_bind_int64(st, 2, (int64_t)len);
        db_bind_text(st, 3, mime ? mime : "application/octet-stream");
        db_bind_text(st, 4, path);
        db_bind_int64(st, 5, now);
        int rc = db_step(st);
        if (rc != DB_DONE) e = db_fail(c, msg, "insert media");
        db_finalize(st);
    }
    store_release(s, c);
    if (e != FS_OK) return e;
    return info ? fs_store_media_get(s, hex, info, msg) : FS_OK;
}

fs_err fs_store_media_get(fs_store *s, const char *sha256, fs_media_info *info, fs_msg *msg) {
    if (!fs_sha256_hex_valid(sha256)) return fs_fail(msg, FS_ERR_INVALID, "not a SHA-256 hex digest");
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "SELECT sha256, size, mime, blob_path, created FROM media WHERE sha256 = ?", &st, msg);
    if (e == FS_OK) {
        db_bind_text(st, 1, sha256);
        int rc = db_step(st);
        if (rc == DB_ROW) {
            memset(info, 0, sizeof *info);
            store_col_text(st, 0, info->sha256, sizeof info->sha256);
            info->size = db_col_int64(st, 1);
            store_col_text(st, 2, info->mime, sizeof info->mime);
            store_col_text(st, 3, info->blob_path, sizeof info->blob_path);
            info->created = db_col_int64(st, 4);
        } else if (rc == DB_DONE) {
            e = fs_fail(msg, FS_ERR_NOTFOUND, "no media %s", sha256);
        } else {
            e = db_fail(c, msg, "get media");
        }
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}
