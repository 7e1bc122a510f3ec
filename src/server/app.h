/* app: the state the API dialects share, built by `fakescope serve` and reached from a handler
 * with fs_req_app(req). Each dialect registers its routes with its own fs_routes_* function,
 * called from fs_app_register_routes (src/server/app.c), and keeps any state of its own behind
 * a pointer here. Everything in it outlives the server's request threads. */
#ifndef FS_SERVER_APP_H
#define FS_SERVER_APP_H

#include "fakescope/engine.h"
#include "fakescope/server.h"
#include "fakescope/store.h"

typedef struct fs_app {
    fs_server *server;
    fs_store *store;
    fs_engine *engine;             /* models and scanners */
    const fs_server_config *cfg;
    struct fs_jobs *jobs;          /* background tasks (jobs/); NULL when not started */
    struct fs_explorer *explorer;  /* model explorer dialect (seed 000) state */
    struct fs_recognition *recognition; /* model management dialect (seed 003) state */
    const char *video_models;      /* --video-models A,B: the video checks' default models (NULL: all) */
    size_t video_max_bytes;        /* --video-max-bytes: largest upload of the face-video check */
    struct fs_media_pool *media;   /* sandboxed decoders of uploads; NULL: decode in-process */
    double media_timeout_ms;       /* --worker-timeout: wall-clock limit of one decode */
    struct fs_prov_trust *c2pa_trust; /* --c2pa-trust: Content Credentials trust list (NULL: none) */
    /* 1 when the process was asked to stop (NULL: never): lets work done before the server
     * listens (the explorer's figures) end early. */
    int (*stop_requested)(void);
} fs_app;

/* The decoder a handler puts in fs_scan_opts.decoder for an upload: through app->media, with
 * call (the caller's, outliving the scan) labelled and bounded by deadline_ms (fs_now_ms
 * clock; also by --worker-timeout). NULL when the server decodes in-process. */
struct fs_media_call;
const fs_media_decoder *fs_app_decoder(fs_app *app, const char *label, double deadline_ms,
                                       struct fs_media_call *call, fs_media_decoder *dec);

static inline fs_app *fs_req_app(fs_req *r) { return fs_server_app(fs_req_server(r)); }

/* dialects (one line each) */
fs_err fs_routes_explorer(fs_app *app, fs_msg *msg);   /* dialect_explorer.c, seed 000 */
void fs_routes_explorer_release(fs_app *app);
fs_err fs_routes_imagecheck(fs_app *app, fs_msg *msg); /* dialect_imagecheck.c, seed 001 */

/* Registers every dialect's routes on app->server (before fs_server_start). */
fs_err fs_app_register_routes(fs_app *app, fs_msg *msg);
/* Frees what dialects attached to the app (after the server has stopped). */
void fs_app_release(fs_app *app);

#endif
