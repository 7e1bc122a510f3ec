/* fuzz_url_policy: libFuzzer target for the imageUrl address policy (fetch.h): the URL checks made
 * before any network (fs_fetch_url_check: length, scheme, host, with libcurl's URL parser) and
 * the address decision made on every connection (fs_fetch_address_refused). No connection is
 * made. Checked beside the sanitizers:
 *  - a URL whose host is a numeric address (as libcurl normalises it: 2130706433, 0x7f.1 and
 *    [::ffff:7f00:1] are all spellings of loopback) in loopback, private, link-local or
 *    unspecified space is refused by the policy;
 *  - an IPv4 address and its IPv6-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms get
 *    the same decision.
 * Input: byte 0 < 0x20 makes the next 16 bytes a raw IPv6 address (and bytes 13..16 an IPv4
 * one); otherwise the whole input is a URL. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int refused_v4(uint32_t host_order) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(host_order);
    return fs_fetch_address_refused((struct sockaddr *)&a);
}

static int refused_v6(const uint8_t b[16]) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    memcpy(a.sin6_addr.s6_addr, b, 16);
    return fs_fetch_address_refused((struct sockaddr *)&a);
}

/* The ranges that must be refused whatever else the policy does. */
static int must_refuse_v4(uint32_t a) {
    uint8_t b0 = a >> 24, b1 = (a >> 16) & 0xff;
    return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 169 && b1 == 254) || (b0 == 172 && (b1 & 0xf0) == 16) ||
           (b0 == 192 && b1 == 168) || b0 >= 224;
}

static void check_v4(uint32_t a) {
    int r = refused_v4(a);
    if (must_refuse_v4(a) && !r) abort();
    uint8_t m[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a >> 24, a >> 16, a >> 8, a};
    if (refused_v6(m) != r) abort();
    uint8_t n[16] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, a >> 24, a >> 16, a >> 8, a};
    if (refused_v6(n) != r) abort();
}

static void check_v6(const uint8_t b[16]) {
    int r = refused_v6(b);
    static const uint8_t loop[16] = {[15] = 1};
    if (!memcmp(b, loop, 16) && !r) abort();
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80 && !r) abort(); /* fe80::/10 */
    if ((b[0] & 0xfe) == 0xfc && !r) abort();                 /* fc00::/7 */
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (!memcmp(b, mapped, 12)) {
        uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        if (refused_v4(v4) != r) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] < 0x20) {
        if (size < 17) return 0;
        check_v6(data + 1);
        check_v4((uint32_t)data[13] << 24 | (uint32_t)data[14] << 16 | (uint32_t)data[15] << 8 | data[16]);
        return 0;
    }
    char *url = malloc(size + 1);
    if (!url) return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    char host[1024];
    fs_msg msg;
    fs_err e = fs_fetch_url_check(url, host, sizeof host, &msg);
    if (e == FS_OK) {
        if (!host[0] || strlen(url) > FS_FETCH_URL_MAX) abort();
        struct in_addr v4;
        struct in6_addr v6;
        size_t hl = strlen(host);
        if (inet_pton(AF_INET, host, &v4) == 1) {
            check_v4(ntohl(v4.s_addr));
        } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
            host[hl - 1] = '\0';
            char *pct = strchr(host, '%'); /* a zone id: [fe80::1%25eth0] */
            if (pct) *pct = '\0';
            if (inet_pton(AF_INET6, host + 1, &v6) == 1) check_v6(v6.s6_addr);
        }
    } else if (e != FS_ERR_INVALID && e != FS_ERR_NOMEM) {
        abort();
    } else if (!msg.text[0]) {
        abort();
    }
    free(url);
    return 0;
}
