/* request_id.c: the Request-Id every answer carries. An incoming X-Request-ID is echoed only
 * when it is short and printable, so a client cannot inject header lines or bloat our logs;
 * otherwise we make one from 16 random bytes. */
#include "fakescope/http.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int fs_request_id_valid(const char *id) {
    if (!id || !*id) return 0;
    size_t n = 0;
    for (; id[n]; n++) {
        if (n >= FS_REQUEST_ID_MAX) return 0;
        unsigned char c = (unsigned char)id[n];
        if (c < 0x21 || c > 0x7e) return 0;
    }
    return 1;
}

void fs_request_id_generate(char out[33]) {
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, GRND_NONBLOCK);
        if (n > 0) got += (size_t)n;
        else if (n < 0 && errno != EINTR) break;
    }
    if (got < sizeof raw) {
        /* Ids need to be unique, not secret: a clock fallback beats failing the request. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        for (size_t i = got; i < sizeof raw; i++) raw[i] = (unsigned char)(ts.tv_nsec >> (i % 8 * 4) ^ (long)i * 131);
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[32] = '\0';
}
