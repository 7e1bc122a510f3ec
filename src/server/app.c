/* app.c: the list of API dialects. One line per dialect in each function below. */
#include "server/app.h"
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
