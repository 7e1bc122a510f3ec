/* app.c: the list of API dialects. One line per dialect in each function below. */
#include "server/app.h"

#include <stdio.h>
#include <string.h>

#include "fakescope/media_worker.h"
#include "server/recognition_api.h"
#include "server/scan_submit.h"

fs_err fs_app_register_routes(fs_app *app, fs_msg *msg) {
    fs_err err;
    /* dialects: if ((err = fs_routes_NAME(app, msg))) return err; */
    if ((err = fs_routes_explorer(app, msg))) return err;
    if ((err = fs_routes_imagecheck(app, msg))) return err;
    if ((err = fs_routes_video_checks(app, msg))) return err; /* seeds 002, 004, tasks */
    if ((err = fs_routes_recognition(app, msg))) return err;
    return FS_OK;
}

void fs_app_release(fs_app *app) {
    /* dialects: fs_routes_NAME_release(app); */
    fs_routes_explorer_release(app);
    fs_routes_recognition_release(app);
}

const fs_media_decoder *fs_app_decoder(fs_app *app, const char *label, double deadline_ms,
                                       fs_media_call *call, fs_media_decoder *dec) {
    if (!app->media) return NULL;
    memset(call, 0, sizeof *call);
    call->pool = app->media;
    snprintf(call->label, sizeof call->label, "%s", label ? label : "");
    double limit = fs_now_ms() + app->media_timeout_ms;
    call->deadline_ms = deadline_ms > 0 && deadline_ms < limit ? deadline_ms : limit;
    *dec = fs_media_pool_decoder(call);
    return dec;
}
