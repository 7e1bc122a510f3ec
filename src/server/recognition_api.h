/* recognition_api.h: the /v0.7 model-management dialect (seed 003): recognition specs, networks,
 * versions, version inference and its tasks. State (the inference worker) hangs off fs_app. */
#ifndef FS_SERVER_RECOGNITION_API_H
#define FS_SERVER_RECOGNITION_API_H

#include "server/app.h"

/* Registers the routes, registers every stored classification version with the engine
 * (as "version:<id>") and starts the inference worker. */
fs_err fs_routes_recognition(fs_app *app, fs_msg *msg);
/* Stops the worker and frees the dialect's state (after the server stopped). */
void fs_routes_recognition_release(fs_app *app);

#endif
