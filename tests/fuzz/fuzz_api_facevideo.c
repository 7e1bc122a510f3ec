/* fuzz_api_facevideo: libFuzzer target for the face-video check's frame-list parsing (seed 002,
 * POST /face/v1/deepfake/images): the JSON body, the "frames" array (count limit, each a base64
 * string, with or without a data: prefix, the total decoded size limit), the frame bundle made
 * from them and the query options (?frames, ?models, ?detail). The task queue is not reachable
 * here, so a well-formed request ends with 503 after all of its parsing; nothing is scanned.
 * Input: an optional first line starting with '?' (the query string), then the JSON body. */
#include "fuzz_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_start(1, 0, NULL);
    if (size > FUZZ_MAX_BODY) return 0;
    char path[600] = "/face/v1/deepfake/images";
    if (size && data[0] == '?') {
        const uint8_t *nl = memchr(data, '\n', size < 400 ? size : 400);
        size_t ql = nl ? (size_t)(nl - data) : 0, o = strlen(path);
        for (size_t i = 0; i < ql; i++) /* the request line cannot hold spaces or controls */
            if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '#') path[o++] = (char)data[i];
        path[o] = 0;
        if (nl) {
            size -= ql + 1;
            data += ql + 1;
        }
    }
    static char reply[FUZZ_REPLY_MAX + 1];
    int st = fz_request("POST", path, "Content-Type: application/json\r\n", data, size, reply, sizeof reply);
    fz_expect_status(st, "face video frames");
    json_t *j = json_loads(reply, 0, NULL);
    if (st && !fz_truncated && st != 401 && (!j || !json_is_string(json_object_get(j, "status")))) {
        fprintf(stderr, "fuzz: face video answered %d with %s\n", st, reply);
        abort();
    }
    json_decref(j);
    return 0;
}
