/* scan_submit: what the video dialects (face-video check, classification by hash) and the task
 * endpoint share: choosing the models, storing an upload as media, queueing (or joining, or
 * answering from the stored result) its scan task, and waiting for it within a request's
 * deadline. Translation to each dialect's shape stays in the dialect's file. */
#ifndef FS_SERVER_SCAN_SUBMIT_H
#define FS_SERVER_SCAN_SUBMIT_H

#include <jansson.h>

#include "fakescope/jobs.h"
#include "server/app.h"

#define FS_VIDEO_MAX_BYTES_DEFAULT_UPLOAD ((size_t)6 << 20) /* the face-video check's upload limit */

/* Fills spec->models from a comma-separated list (the request's ?models=), else the server's
 * --video-models, else every model the engine knows. FS_ERR_NOTFOUND names an unknown model;
 * FS_ERR_UNSUPPORTED when the server has no model at all. */
fs_err fs_scan_pick_models(fs_app *app, const char *list, fs_scan_job_spec *spec, fs_msg *msg);

/* Stores data as media (spec->sha256 is set from it), then: when a result for (sha256, settings)
 * exists, *result receives it parsed (a new reference) and no task is made; otherwise the scan
 * task is queued or joined and its id written to task_id (*result NULL). FS_ERR_LIMIT from a full
 * queue. */
fs_err fs_scan_submit(fs_app *app, const uint8_t *data, size_t len, const char *mime,
                      fs_scan_job_spec *spec, char task_id[FS_TASK_ID_LEN + 1], json_t **result,
                      fs_msg *msg);

/* Waits for task_id up to timeout_ms. FS_OK with *result (new reference) when done; the task's
 * error kind with its text when it failed; FS_ERR_TIMEOUT when it is still queued or running. */
fs_err fs_scan_wait(fs_app *app, const char *task_id, double timeout_ms, fs_task *task,
                    json_t **result, fs_msg *msg);

/* The stored result named by a task's result_ref ("SHA256 SETTINGS"); NULL if none. */
json_t *fs_scan_result_by_ref(fs_app *app, const char *ref);

/* Answers 503 with Retry-After for a full queue: the dialect passes its own body. */
void fs_reply_queue_full(fs_req *r, json_t *body);

/* Registers the three below (the one line in app.c). */
fs_err fs_routes_video_checks(fs_app *app, fs_msg *msg);
/* Routes: GET /v0.7/tasks/{id} (routes_tasks.c). */
fs_err fs_routes_tasks(fs_app *app, fs_msg *msg);
/* POST /face/v1/deepfake, POST /face/v1/deepfake/images (dialect_facevideo.c). */
fs_err fs_routes_facevideo(fs_app *app, fs_msg *msg);
/* POST/GET /api/classification_video, /api/classification_image (dialect_classification.c). */
fs_err fs_routes_classification(fs_app *app, fs_msg *msg);

#endif
