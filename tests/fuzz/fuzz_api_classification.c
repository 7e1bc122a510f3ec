/* fuzz_api_classification: libFuzzer target for the classification dialect's request parsing
 * (seed 004): POST /api/classification_image and /api/classification_video take a multipart
 * form (file, frames, models, as form fields or query arguments), GET .../{hash} a hash. The
 * task queue holds one task and never runs, so the first well-formed upload is queued (202) and
 * later ones meet a full queue (503); nothing is scanned.
 * Input: byte 0 (bit 0: video; bit 1: GET with the rest as the hash, else POST), then for a POST
 * an optional first line starting with '?' (the query string) and the multipart body, boundary
 * "fzb". */
#include "fuzz_server.h"

/* Copies up to n bytes of s into out as a path segment: unreserved bytes as they are, others
 * percent-encoded. */
static void encode(const uint8_t *s, size_t n, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        uint8_t c = s[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_start(1, 1, NULL);
    if (size < 1 || size > FUZZ_MAX_BODY) return 0;
    const char *base = data[0] & 1 ? "/api/classification_video" : "/api/classification_image";
    data++;
    size--;
    char path[1200];
    static char reply[FUZZ_REPLY_MAX + 1];
    int st;
    if (data[-1] & 2) {
        char seg[1024];
        encode(data, size < 200 ? size : 200, seg, sizeof seg);
        snprintf(path, sizeof path, "%s/%s", base, seg);
        st = fz_request("GET", path, NULL, NULL, 0, reply, sizeof reply);
    } else {
        size_t o = (size_t)snprintf(path, sizeof path, "%s", base);
        if (size && data[0] == '?') {
            const uint8_t *nl = memchr(data, '\n', size < 400 ? size : 400);
            size_t ql = nl ? (size_t)(nl - data) : 0;
            for (size_t i = 0; i < ql; i++)
                if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '#') path[o++] = (char)data[i];
            path[o] = 0;
            if (nl) {
                size -= ql + 1;
                data += ql + 1;
            }
        }
        st = fz_request("POST", path, "Content-Type: multipart/form-data; boundary=fzb\r\n", data, size, reply,
                        sizeof reply);
    }
    fz_expect_status(st, "classification");
    json_t *j = json_loads(reply, 0, NULL);
    if (st && !fz_truncated && !json_is_object(j)) {
        fprintf(stderr, "fuzz: classification answered %d with %s\n", st, reply);
        abort();
    }
    json_decref(j);
    return 0;
}
