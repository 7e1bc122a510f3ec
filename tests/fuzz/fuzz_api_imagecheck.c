/* fuzz_api_imagecheck: libFuzzer target for the image check dialect's request parsing (seed 001,
 * POST /api/1.1/wf/api-deepfake-detection): the JSON body (imageUrl, modelName, token, crop;
 * depth and size limits), the body token check, the data: URL or http(s) imageUrl (no network:
 * fuzz_server.h), the image sniffing and, for a valid picture, a real scan with the shipped
 * model. Through the real server in this process; any status outside the dialect's set aborts.
 * Input: the JSON body; "@K" stands for a valid API key. */
#include "fuzz_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_start(1, 0, NULL);
    if (size > FUZZ_MAX_BODY) return 0;
    uint8_t *body = malloc(size * 2 + 80);
    if (!body) return 0;
    size_t n = fz_subst_key(data, size, body, size * 2 + 80);
    static char reply[FUZZ_REPLY_MAX + 1];
    int st = fz_request("POST", "/api/1.1/wf/api-deepfake-detection", "Content-Type: application/json\r\n", body, n,
                        reply, sizeof reply);
    free(body);
    fz_expect_status(st, "image check");
    /* every answer is JSON in one of the seed's shapes */
    json_t *j = json_loads(reply, 0, NULL);
    if (st && !fz_truncated && (!j || (!json_object_get(j, "statusCode") && !json_object_get(j, "status") &&
                      !json_object_get(j, "error_class")))) {
        fprintf(stderr, "fuzz: image check answered %d with %s\n", st, reply);
        abort();
    }
    json_decref(j);
    return 0;
}
