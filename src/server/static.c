/* static.c: maps a URL path below a folder to a file in it, refusing every way out. The path
 * arrives URL-decoded (libmicrohttpd decodes %xx), so "%2e%2e" is seen as "..". We check the
 * text first (cheap, and it catches attacks on files that do not exist), then resolve the real
 * path and require it to lie inside the real root, which also catches symlinks pointing out. */
#include "fakescope/http.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define STATIC_INDEX "index.html"

/* Rejects any segment that is ".", "..", or any byte that has no business in a served name. */
static int rel_is_safe(const char *rel) {
    for (const char *p = rel; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '%') return 0;
    }
    const char *p = rel;
    while (*p == '/') p++; /* leading slashes: the path is relative to the root anyway */
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) return 0; /* "a//b" */
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) return 0;
        p += len;
        if (*p == '/') p++;
    }
    return 1;
}

fs_err fs_static_resolve(const char *root, const char *rel, char *out, size_t cap, fs_msg *msg) {
    if (!rel || !rel_is_safe(rel)) return fs_fail(msg, FS_ERR_INVALID, "path refused");
    char real_root[PATH_MAX], joined[PATH_MAX + 16], real[PATH_MAX];
    if (!realpath(root, real_root)) return fs_fail(msg, FS_ERR_NOTFOUND, "static root missing");
    while (*rel == '/') rel++;
    int n = snprintf(joined, sizeof joined, "%s/%s", real_root, rel);
    if (n < 0 || (size_t)n >= sizeof joined) return fs_fail(msg, FS_ERR_INVALID, "path too long");
    if (!realpath(joined, real)) {
        return fs_fail(msg, errno == ENOENT || errno == ENOTDIR ? FS_ERR_NOTFOUND : FS_ERR_INVALID,
                       "not found");
    }
    size_t rl = strlen(real_root);
    int inside = strncmp(real, real_root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0');
    if (!inside) return fs_fail(msg, FS_ERR_INVALID, "path refused");
    struct stat st;
    if (stat(real, &st) != 0) return fs_fail(msg, FS_ERR_NOTFOUND, "not found");
    if (S_ISDIR(st.st_mode)) {
        size_t len = strlen(real);
        if (len + sizeof STATIC_INDEX + 1 > sizeof real) return fs_fail(msg, FS_ERR_INVALID, "path too long");
        snprintf(real + len, sizeof real - len, "/" STATIC_INDEX);
        /* index.html itself could be a symlink out of the root. */
        char idx[PATH_MAX];
        if (!realpath(real, idx)) return fs_fail(msg, FS_ERR_NOTFOUND, "not found");
        if (!(strncmp(idx, real_root, rl) == 0 && idx[rl] == '/')) return fs_fail(msg, FS_ERR_INVALID, "path refused");
        snprintf(real, sizeof real, "%s", idx);
        if (stat(real, &st) != 0) return fs_fail(msg, FS_ERR_NOTFOUND, "not found");
    }
    if (!S_ISREG(st.st_mode)) return fs_fail(msg, FS_ERR_NOTFOUND, "not a regular file");
    if (strlen(real) >= cap) return fs_fail(msg, FS_ERR_INVALID, "path too long");
    snprintf(out, cap, "%s", real);
    return FS_OK;
}

const char *fs_content_type(const char *path) {
    static const struct { const char *ext, *type; } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},         {"yaml", "application/yaml"},
        {"yml", "application/yaml"},          {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"}, {"svg", "image/svg+xml"},
        {"png", "image/png"},                 {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},               {"gif", "image/gif"},
        {"webp", "image/webp"},               {"ico", "image/x-icon"},
        {"bmp", "image/bmp"},                 {"mp4", "video/mp4"},
        {"webm", "video/webm"},               {"mov", "video/quicktime"},
        {"avi", "video/x-msvideo"},           {"mkv", "video/x-matroska"},
        {"wasm", "application/wasm"},         {"woff2", "font/woff2"},
        {"woff", "font/woff"},                {"csv", "text/csv; charset=utf-8"},
        {"pdf", "application/pdf"},           {"safetensors", "application/octet-stream"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot && dot[1]) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot + 1, types[i].ext)) return types[i].type;
    }
    return "application/octet-stream";
}
