/* fuzz_multipart: libFuzzer target for the request body reader of server.c and the multipart /
 * urlencoded form parser under it (libmicrohttpd's post processor as the server drives it: field
 * count limit, fields arriving in pieces, the body limit), through a real request to the server
 * running in this process (fuzz_server.h). The route's handler checks what a handler may rely
 * on: at most FS_SERVER_MAX_FORM_FIELDS fields, each with a name and NUL-terminated data, all of
 * them within the body limit, and fs_req_form finding the first field of a name.
 *
 * Input: byte 0 picks the Content-Type (0: multipart, boundary "fzb"; 1: multipart, boundary =
 * the input's first line; 2: urlencoded; 3: multipart without a boundary), the rest is the body. */
#include "fuzz_server.h"

static void form_handler(fs_req *r) {
    size_t n = fs_req_form_count(r), total = 0;
    if (n > FS_SERVER_MAX_FORM_FIELDS) abort();
    for (size_t i = 0; i < n; i++) {
        const fs_form_field *f = fs_req_form_at(r, i);
        if (!f || !f->name) abort();
        if (f->len && (!f->data || f->data[f->len] != '\0')) abort();
        total += f->len;
        const fs_form_field *first = fs_req_form(r, f->name);
        if (!first || first > f || strcmp(first->name, f->name)) abort();
    }
    if (fs_req_form_at(r, n)) abort();
    if (total > FUZZ_MAX_BODY) abort();
    fs_reply_json(r, 200, json_pack("{s:I}", "fields", (json_int_t)n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_start(0, 0, form_handler);
    if (size < 1) return 0;
    char headers[512];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    switch (data[0] & 3) {
    case 0: snprintf(headers, sizeof headers, "Content-Type: multipart/form-data; boundary=fzb\r\n"); break;
    case 1: {
        const uint8_t *nl = memchr(body, '\n', len < 80 ? len : 80);
        size_t bl = nl ? (size_t)(nl - body) : 0;
        char b[81];
        size_t o = 0;
        for (size_t i = 0; i < bl; i++) /* a header value cannot hold CR, LF or NUL */
            if (body[i] >= 0x20 && body[i] < 0x7f) b[o++] = (char)body[i];
        b[o] = 0;
        snprintf(headers, sizeof headers, "Content-Type: multipart/form-data; boundary=%s\r\n", b);
        if (nl) {
            len -= bl + 1;
            body += bl + 1;
        }
        break;
    }
    case 2: snprintf(headers, sizeof headers, "Content-Type: application/x-www-form-urlencoded\r\n"); break;
    default: snprintf(headers, sizeof headers, "Content-Type: multipart/form-data\r\n"); break;
    }
    int st = fz_request("POST", "/fuzz/form", headers, body, len, NULL, 0);
    fz_expect_status(st, "multipart");
    return 0;
}
