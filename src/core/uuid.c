/* uuid.c: version 4 UUIDs from the kernel's random source, and the check of their text form.
 * getrandom() blocks only before the kernel's pool is first initialised, which is long past by
 * the time a server or CLI runs; a short read is retried. */
#include "fakescope/uuid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

fs_err fs_uuid_v4(char out[FS_UUID_BUF], fs_msg *msg) {
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fs_fail(msg, FS_ERR_INTERNAL, "getrandom: %s", strerror(errno));
        got += (size_t)r;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    size_t at = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[at++] = '-';
        out[at++] = hex[b[i] >> 4];
        out[at++] = hex[b[i] & 15];
    }
    out[at] = '\0';
    return FS_OK;
}

int fs_uuid_valid(const char *s) {
    if (!s || strlen(s) != FS_UUID_LEN) return 0;
    for (int i = 0; i < FS_UUID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}
