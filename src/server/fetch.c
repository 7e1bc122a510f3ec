/* fetch.c: URL downloads for the dialects that take an imageUrl (fakescope/fetch.h).
 *
 * The address policy lives in the open-socket callback: libcurl calls it with the resolved
 * address of every connection it makes, redirects included, and we refuse to create the socket
 * for an address the policy forbids. Checking there rather than resolving first means the
 * address checked is the address connected. The size limit is enforced twice: from an
 * announced Content-Length (CURLOPT_MAXFILESIZE_LARGE) and while bytes arrive (the write
 * callback stops the transfer), since a chunked answer announces nothing. */
#include "fakescope/fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>


#define FETCH_CONNECT_TIMEOUT_MS 5000 /* capped by the whole-transfer limit */
#define FETCH_USER_AGENT "fakescope-fetch/1"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

fs_fetch_opts fs_fetch_opts_default(void) {
    return (fs_fetch_opts){.max_bytes = FS_FETCH_MAX_BYTES_DEFAULT,
                           .timeout_ms = FS_FETCH_TIMEOUT_MS_DEFAULT,
                           .allow_private = 0};
}

/* ---------------------------------------------------------------- address policy */

static int v4_refused(uint32_t a) { /* a in host order */
    uint8_t b0 = a >> 24, b1 = (a >> 16) & 0xff, b2 = (a >> 8) & 0xff;
    if (b0 == 0 || b0 == 10 || b0 == 127) return 1;          /* this network, private, loopback */
    if (b0 == 100 && (b1 & 0xc0) == 64) return 1;            /* 100.64/10 carrier-grade NAT */
    if (b0 == 169 && b1 == 254) return 1;                    /* link-local, cloud metadata */
    if (b0 == 172 && (b1 & 0xf0) == 16) return 1;            /* 172.16/12 */
    if (b0 == 192 && b1 == 168) return 1;                    /* 192.168/16 */
    if (b0 == 192 && b1 == 0 && b2 == 0) return 1;           /* 192.0.0/24 IETF protocol */
    if (b0 == 198 && (b1 & 0xfe) == 18) return 1;            /* 198.18/15 benchmark */
    if (b0 >= 224) return 1;                                 /* multicast, reserved, broadcast */
    return 0;
}

int fs_fetch_address_refused(const struct sockaddr *sa) {
    if (!sa) return 1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_refused(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6) return 1;
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t zero[16];
    if (!memcmp(b, zero, 15) && (b[15] == 0 || b[15] == 1)) return 1; /* :: and ::1 */
    if ((b[0] & 0xfe) == 0xfc) return 1;                              /* fc00::/7 unique local */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return 1;              /* fe80::/10 link-local */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return 1;              /* fec0::/10 site-local */
    if (b[0] == 0xff) return 1;                                       /* multicast */
    /* IPv4 inside IPv6: mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96 */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (!memcmp(b, mapped, 12) || !memcmp(b, zero, 12) || !memcmp(b, nat64, 12)) {
        uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return v4_refused(v4);
    }
    return 0;
}

/* ---------------------------------------------------------------- data: URLs */

static int is_b64(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Base64 of any length (core's decoder is sized for credentials), padded or not. */
static fs_err decode_b64(const char *in, size_t n, size_t max_bytes, uint8_t **data, size_t *len,
                         fs_msg *msg) {
    size_t body = n;
    while (body > 0 && in[body - 1] == '=') body--;
    if (n - body > 2 || body % 4 == 1) return fs_fail(msg, FS_ERR_INVALID, "the data: URL is not valid base64");
    for (size_t i = 0; i < body; i++)
        if (!is_b64(in[i])) return fs_fail(msg, FS_ERR_INVALID, "the data: URL is not valid base64 (byte %zu)", i);
    size_t padded = (body + 3) / 4 * 4;
    size_t decoded = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    if (decoded > max_bytes)
        return fs_fail(msg, FS_ERR_LIMIT, "the data: URL holds %zu bytes; the limit is %zu", decoded, max_bytes);
    if (padded > INT_MAX) return fs_fail(msg, FS_ERR_LIMIT, "the data: URL is too long");
    char *tmp = malloc(padded + 1);
    uint8_t *out = malloc(padded / 4 * 3 + 1);
    if (!tmp || !out) {
        free(tmp);
        free(out);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    memcpy(tmp, in, body);
    memset(tmp + body, '=', padded - body);
    int got = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)padded);
    free(tmp);
    if (got < 0 || (size_t)got < decoded) {
        free(out);
        return fs_fail(msg, FS_ERR_INVALID, "the data: URL is not valid base64");
    }
    *data = out;
    *len = decoded;
    return FS_OK;
}

static fs_err fetch_data_url(const char *url, size_t max_bytes, uint8_t **data, size_t *len,
                             fs_msg *msg) {
    const char *comma = strchr(url, ',');
    if (!comma) return fs_fail(msg, FS_ERR_INVALID, "a data: URL needs a ',' before its data");
    /* The media type is the client's claim; the decoder sniffs the bytes anyway. */
    size_t meta = (size_t)(comma - url);
    if (meta < 12 || strncasecmp(comma - 7, ";base64", 7))
        return fs_fail(msg, FS_ERR_INVALID, "only base64 data: URLs are accepted (data:image/png;base64,...)");
    const char *b64 = comma + 1;
    size_t n = strlen(b64);
    if (n == 0) return fs_fail(msg, FS_ERR_INVALID, "the data: URL holds no data");
    return decode_b64(b64, n, max_bytes, data, len, msg);
}

/* ---------------------------------------------------------------- http(s) */

typedef struct transfer {
    uint8_t *buf;
    size_t len, cap, max;
    int too_big;
    int refused;
    char refused_addr[INET6_ADDRSTRLEN];
    int allow_private;
    const char *first_hop; /* fs_fetch_opts.first_hop */
    int sockets;           /* connections opened so far */
} transfer;

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
    transfer *t = userdata;
    size_t n = size * nmemb;
    if (t->len + n > t->max) {
        t->too_big = 1;
        return 0; /* anything but n aborts the transfer */
    }
    if (t->len + n + 1 > t->cap) {
        size_t nc = t->cap ? t->cap : 65536;
        while (nc < t->len + n + 1) nc *= 2;
        if (nc > t->max + 1) nc = t->max + 1;
        uint8_t *p = realloc(t->buf, nc);
        if (!p) return 0;
        t->buf = p;
        t->cap = nc;
    }
    memcpy(t->buf + t->len, ptr, n);
    t->len += n;
    return n;
}

/* 1 when sa is the "IP:PORT" (or "[IPv6]:PORT") named by spec. */
static int address_is(const struct sockaddr *sa, const char *spec) {
    char want[INET6_ADDRSTRLEN + 16], got[INET6_ADDRSTRLEN];
    unsigned port;
    const void *raw;
    if (sa->sa_family == AF_INET) {
        raw = &((const struct sockaddr_in *)sa)->sin_addr;
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        raw = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    } else {
        return 0;
    }
    if (!inet_ntop(sa->sa_family, raw, got, sizeof got)) return 0;
    snprintf(want, sizeof want, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", got, port);
    return !strcmp(want, spec);
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
    transfer *t = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    int first = t->sockets++ == 0;
    if (first && t->first_hop && address_is(&a->addr, t->first_hop))
        return socket(a->family, a->socktype, a->protocol);
    if (!t->allow_private && fs_fetch_address_refused(&a->addr)) {
        t->refused = 1;
        const void *raw = a->family == AF_INET ? (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr
                                               : (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr;
        if (!inet_ntop(a->family, raw, t->refused_addr, sizeof t->refused_addr))
            snprintf(t->refused_addr, sizeof t->refused_addr, "?");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

fs_err fs_fetch_url_check(const char *url, char *host, size_t host_cap, fs_msg *msg) {
    if (strlen(url) > FS_FETCH_URL_MAX) return fs_fail(msg, FS_ERR_INVALID, "the URL is longer than %d bytes", FS_FETCH_URL_MAX);
    CURLU *u = curl_url();
    if (!u) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    char *scheme = NULL, *host_part = NULL;
    fs_err e = FS_OK;
    if (host_cap) host[0] = '\0';
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host_part, 0) != CURLUE_OK || !host_part || !*host_part)
        e = fs_fail(msg, FS_ERR_INVALID, "not a valid http(s) URL");
    else if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))
        e = fs_fail(msg, FS_ERR_INVALID, "URL scheme '%s' is not accepted (http, https or data)", scheme);
    else if (host_cap && snprintf(host, host_cap, "%s", host_part) >= (int)host_cap)
        e = fs_fail(msg, FS_ERR_INVALID, "the URL's host name is too long");
    curl_free(scheme);
    curl_free(host_part);
    curl_url_cleanup(u);
    return e;
}

static fs_err fetch_http(const char *url, const fs_fetch_opts *o, uint8_t **data, size_t *len,
                         fs_msg *msg) {
    fs_err e = fs_fetch_url_check(url, NULL, 0, msg);
    if (e) return e;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return fs_fail(msg, FS_ERR_INTERNAL, "libcurl failed to initialise");
    CURL *c = curl_easy_init();
    if (!c) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    transfer t = {.max = o->max_bytes, .allow_private = o->allow_private, .first_hop = o->first_hop};
    char errbuf[CURL_ERROR_SIZE] = "";
    long connect_ms = o->timeout_ms < FETCH_CONNECT_TIMEOUT_MS ? o->timeout_ms : FETCH_CONNECT_TIMEOUT_MS;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)FS_FETCH_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never an environment proxy: it would bypass the policy */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
    /* With a first-hop exception, a redirect must open (and so have checked) a connection of
     * its own rather than reuse the excepted one. */
    if (o->first_hop) curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, FETCH_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* the size limit applies after decoding */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);

    if (t.refused)
        e = fs_fail(msg, FS_ERR_INVALID, "the URL leads to %s, a private, loopback or link-local address this server does not fetch from",
                    t.refused_addr);
    else if (t.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        e = fs_fail(msg, FS_ERR_LIMIT, "the file at the URL is larger than %zu bytes", o->max_bytes);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        e = fs_fail(msg, FS_ERR_TIMEOUT, "the URL did not deliver within %d ms", o->timeout_ms);
    else if (rc == CURLE_TOO_MANY_REDIRECTS)
        e = fs_fail(msg, FS_ERR_INVALID, "the URL redirects more than %d times", FS_FETCH_MAX_REDIRECTS);
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL)
        e = fs_fail(msg, FS_ERR_INVALID, "the URL redirects to a scheme other than http or https");
    else if (rc != CURLE_OK)
        e = fs_fail(msg, FS_ERR_IO, "cannot fetch the URL: %s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (status == 404 || status == 410)
        e = fs_fail(msg, FS_ERR_NOTFOUND, "the URL answered HTTP %ld (not found)", status);
    else if (status >= 400 || status < 200)
        e = fs_fail(msg, FS_ERR_IO, "the URL answered HTTP %ld", status);
    if (e) {
        free(t.buf);
        return e;
    }
    if (!t.buf) { /* an empty body */
        t.buf = malloc(1);
        if (!t.buf) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    *data = t.buf;
    *len = t.len;
    return FS_OK;
}

fs_err fs_fetch(const char *url, const fs_fetch_opts *o, uint8_t **data, size_t *len, fs_msg *msg) {
    *data = NULL;
    *len = 0;
    fs_fetch_opts d = fs_fetch_opts_default();
    if (o) {
        if (o->max_bytes) d.max_bytes = o->max_bytes;
        if (o->timeout_ms > 0) d.timeout_ms = o->timeout_ms;
        d.allow_private = o->allow_private;
        d.first_hop = o->first_hop && *o->first_hop ? o->first_hop : NULL;
    }
    if (!url || !*url) return fs_fail(msg, FS_ERR_INVALID, "the URL is empty");
    if (!strncasecmp(url, "data:", 5)) return fetch_data_url(url, d.max_bytes, data, len, msg);
    return fetch_http(url, &d, data, len, msg);
}
