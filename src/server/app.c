/* app.c: the list of API dialects. One line per dialect in each function below. */
#include "server/app.h"
#include "server/scan_submit.h"

fs_err fs_app_register_routes(fs_app *app, fs_msg *msg) {
    (void)app;
    (void)msg;
    /* dialects: fs_err err = fs_routes_NAME(app, msg); if (err) return err; */
    { fs_err err = fs_routes_video_checks(app, msg); if (err) return err; } /* seeds 002, 004, tasks */
    return FS_OK;
}

void fs_app_release(fs_app *app) {
    (void)app;
    /* dialects: fs_routes_NAME_release(app); */
}
