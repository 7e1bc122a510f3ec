/* Helpers shared by the cmocka unit tests. */
#ifndef FS_TEST_H
#define FS_TEST_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* Path of a file under the shared data folder, or NULL (after printing "skipped: ...") when the
 * folder is absent, so a test can `if (!p) { skip(); }`. */
static inline const char *fs_test_shared(const char *rel, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", FS_SHARED_DATA, rel);
    struct stat st;
    if (stat(buf, &st) != 0) {
        printf("skipped: %s is absent\n", buf);
        return NULL;
    }
    return buf;
}

/* A fresh directory /tmp/fs_<tag>_XXXXXX written into buf; 0 on success, -1 on failure (the
 * shape a cmocka setup function returns). */
static inline int fs_test_mkdtemp(char *buf, size_t cap, const char *tag) {
    if ((size_t)snprintf(buf, cap, "/tmp/fs_%s_XXXXXX", tag) >= cap) return -1;
    return mkdtemp(buf) ? 0 : -1;
}

static inline int fs_test_rm_entry(const char *path, const struct stat *st, int type,
                                   struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* Removes a directory tree (depth first, symbolic links themselves, not their targets); 0 on
 * success, -1 when something could not be removed. */
static inline int fs_test_rmtree(const char *dir) {
    return nftw(dir, fs_test_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
#endif
