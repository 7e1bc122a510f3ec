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
#include <sys/stat.h>
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
#endif
