/* routes_tasks.c: GET /v0.7/tasks/{id}, the state of one background task (any kind): status
 * (queued, running, done, failed), progress, attempts, error, and the result once done: the scan
 * record for a scan, the outputs document for a model-management inference. Shared by every dialect that answers "accepted,
 * ask later" (the classification dialect, model management). A key is required. */
#include "server/scan_submit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TASK_RESULT_MAX_BYTES ((size_t)16 << 20) /* a result document, read back whole */

static void task_get(fs_req *r) {
    if (fs_req_authenticate(r, NULL, 0, NULL) != FS_OK) return;
    fs_app *app = fs_req_app(r);
    const char *id = fs_req_param(r, "id");
    fs_task t;
    fs_msg msg;
    fs_err e = fs_store_task_get(app->store, id, &t, &msg);
    if (e != FS_OK) {
        fs_reply_error(r, fs_http_status_for(e), e == FS_ERR_NOTFOUND ? "not_found" : fs_err_name(e), "%s",
                       msg.text);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:i,s:I,s:I}", "id", t.id, "kind", t.kind, "status",
                          fs_task_status_name(t.status), "progress", round(t.progress * 1000) / 1000, "attempts", t.attempts,
                          "created", (json_int_t)t.created, "updated", (json_int_t)t.updated);
    if (!o) {
        fs_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    json_object_set_new(o, "error", t.status == FS_TASK_FAILED && t.error[0] ? json_string(t.error) : json_null());
    /* A scan's result is the scan record; other kinds (model-management inference) store their
     * result document as a blob named by result_ref. */
    json_t *res = NULL;
    if (t.status == FS_TASK_DONE && !strcmp(t.kind, FS_JOB_KIND_SCAN)) {
        res = fs_scan_result_by_ref(app, t.result_ref);
    } else if (t.status == FS_TASK_DONE && t.result_ref[0]) {
        uint8_t *bytes;
        size_t len;
        if (fs_store_blob_get(app->store, t.result_ref, TASK_RESULT_MAX_BYTES, &bytes, &len, &msg) == FS_OK) {
            res = json_loadb((const char *)bytes, len, 0, NULL);
            free(bytes);
        }
    }
    json_object_set_new(o, "result", res ? res : json_null());
    fs_reply_json(r, 200, o);
}

fs_err fs_routes_tasks(fs_app *app, fs_msg *msg) {
    return fs_server_route(app->server, "GET", "/v0.7/tasks/:id", "tasks_get", task_get, msg);
}
