/* fetch (server/): downloads what a client names by URL (an imageUrl) with libcurl, within
 * limits a server can afford: a size limit, a time limit, a few redirects, http and https only,
 * and an address policy so a client cannot make the server reach its own network.
 *
 * Address policy: unless allow_private is set, every connection (the first and each redirect's)
 * is checked on the address curl is about to connect to, after resolution, so a name that
 * resolves to a private address, or a redirect to one, is refused (no DNS-rebinding window:
 * the checked address is the one connected). Refused: unspecified, loopback, private
 * (10/8, 172.16/12, 192.168/16, fc00::/7), carrier-grade NAT (100.64/10), link-local
 * (169.254/16 with the cloud metadata address, fe80::/10), benchmark (198.18/15), IETF
 * protocol (192.0.0/24), multicast and reserved ranges, and IPv6 forms that embed such an
 * IPv4 address (::ffff:a.b.c.d, 64:ff9b::/96). Proxies from the environment are ignored.
 *
 * data: URLs (RFC 2397, base64 only) are decoded here too, without any network.
 *
 * Threads: every function may be called from any thread (libcurl is initialised once). */
#ifndef FAKESCOPE_FETCH_H
#define FAKESCOPE_FETCH_H

#include "fakescope/core.h"

#include <sys/socket.h>

#define FS_FETCH_MAX_BYTES_DEFAULT ((size_t)16 << 20) /* 16 MiB */
#define FS_FETCH_TIMEOUT_MS_DEFAULT 15000
#define FS_FETCH_MAX_REDIRECTS 3
#define FS_FETCH_URL_MAX 8192 /* longer http(s) URLs are refused */

typedef struct fs_fetch_opts {
    size_t max_bytes;  /* body larger than this: FS_ERR_LIMIT (0 = default) */
    int timeout_ms;    /* whole transfer, redirects included (<= 0 = default) */
    int allow_private; /* 1: skip the address policy (local use, tests) */
    /* Tests only: "IP:PORT" (numeric, IPv4 or [IPv6]) the first connection of a transfer may
     * reach despite the policy; every later connection (a redirect's) is checked as usual.
     * NULL: none. */
    const char *first_hop;
} fs_fetch_opts;

fs_fetch_opts fs_fetch_opts_default(void);

/* Fetches url (http, https or data:) into a new malloc'd buffer (caller frees *data).
 * Errors, each with a message naming the cause:
 *  FS_ERR_INVALID     not a URL of an accepted scheme, malformed data: URL, an address the
 *                     policy refuses, or more than FS_FETCH_MAX_REDIRECTS redirects
 *  FS_ERR_LIMIT       the body (or its announced Content-Length) is over max_bytes
 *  FS_ERR_TIMEOUT     the time limit passed
 *  FS_ERR_NOTFOUND    the server answered 404 or 410
 *  FS_ERR_IO          cannot resolve or connect, TLS failure, any other HTTP status >= 400 */
fs_err fs_fetch(const char *url, const fs_fetch_opts *o, uint8_t **data, size_t *len, fs_msg *msg);

/* The checks an http(s) URL passes before any network: length, scheme, a host. On FS_OK the
 * host as libcurl parsed it (a literal IPv6 address in brackets) is copied to host when
 * host_cap > 0. FS_ERR_INVALID otherwise. The address policy applies later, to the address
 * connected (fs_fetch_address_refused). */
fs_err fs_fetch_url_check(const char *url, char *host, size_t host_cap, fs_msg *msg);

/* 1 when the policy refuses to connect to sa (AF_INET or AF_INET6; other families refused). */
int fs_fetch_address_refused(const struct sockaddr *sa);

#endif
