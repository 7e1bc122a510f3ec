/* fuzz_http_static: libFuzzer target for static path resolution (fs_static_resolve), which
 * turns a URL-decoded request path into a file under the web root and must never resolve
 * outside it. The root is a temporary folder made once, holding a file, a sub-folder with an
 * index.html, and symlinks pointing inside and outside; every resolved path must lie in the
 * real root. The temporary folder is removed at exit. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fakescope/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[PATH_MAX], real_root[PATH_MAX];

static void touch(const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (!f) abort();
    fputs("x\n", f);
    fclose(f);
}

static void cleanup(void) {
    static const char *const files[] = {"index.html", "app.js", "docs/index.html", "docs/a b.css",
                                        "in_link", "out_link", "docs/up_link"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/docs", root);
    rmdir(p);
    rmdir(root);
}

static void make_root(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fs-fuzz-static-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) abort();
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/docs", root);
    if (mkdir(p, 0700) != 0) abort();
    touch("index.html");
    touch("app.js");
    touch("docs/index.html");
    touch("docs/a b.css");
    snprintf(p, sizeof p, "%s/in_link", root);
    if (symlink("app.js", p) != 0) abort();
    snprintf(p, sizeof p, "%s/out_link", root);
    if (symlink("/etc/hostname", p) != 0) abort();
    snprintf(p, sizeof p, "%s/docs/up_link", root);
    if (symlink("..", p) != 0) abort();
    if (!realpath(root, real_root)) abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!root[0]) make_root();
    char *rel = malloc(size + 1);
    if (!rel) abort();
    memcpy(rel, data, size);
    rel[size] = '\0'; /* an embedded NUL just ends the string, as it would in the server */
    char out[PATH_MAX];
    fs_msg msg;
    if (fs_static_resolve(root, rel, out, sizeof out, &msg) == FS_OK) {
        size_t n = strlen(real_root);
        if (strncmp(out, real_root, n) != 0 || (out[n] != '/' && out[n] != '\0')) abort();
        struct stat st;
        if (stat(out, &st) != 0 || !S_ISREG(st.st_mode)) abort();
        char again[PATH_MAX];
        if (!realpath(out, again) || strncmp(again, real_root, n) != 0) abort();
        (void)fs_content_type(out);
    }
    free(rel);
    return 0;
}
