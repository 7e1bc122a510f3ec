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

#include "fakescope/image.h"

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

/* A 256x256 reference PNG as network input (NHWC floats scaled by 1/255; the caller frees it).
 * Fails the test when the file is unreadable or not 256x256. */
static inline float *fs_test_load_input256(const char *path) {
    fs_image img;
    fs_msg m;
    fs_image_limits lim = fs_image_limits_default();
    if (fs_image_load(path, &lim, &img, &m)) fail_msg("%s: %s", path, m.text);
    assert_int_equal(img.w, 256), assert_int_equal(img.h, 256);
    float *x = malloc(256 * 256 * 3 * sizeof(float));
    assert_non_null(x);
    fs_image_to_float(&img, 1.0f / 255.0f, x);
    fs_image_free(&img);
    return x;
}
#endif
