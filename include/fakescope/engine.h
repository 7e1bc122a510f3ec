/* engine (detect/): the models a long-running process (the server) judges with, loaded once and
 * shared, and a pool of ready scanners so a request does not plan memory or load weights.
 *
 * The engine knows two kinds of model: those of the registry (cards in model folders, loaded
 * on first use) and those added at run time (fs_engine_add: networks uploaded through the
 * model-management API). Both are addressed by name. A model is removed with fs_engine_remove;
 * scans already running on it finish, and it is freed when the last one releases it.
 *
 * Threads: every function is thread-safe. A scanner from fs_engine_acquire belongs to the
 * caller until fs_engine_release; it runs with `threads_per_scan` threads (default 1: a server
 * gets its parallelism from concurrent requests, not from splitting one small network). */
#ifndef FAKESCOPE_ENGINE_H
#define FAKESCOPE_ENGINE_H

#include "fakescope/card.h"
#include "fakescope/core.h"
#include "fakescope/detect.h"

#define FS_ENGINE_MAX_IDLE 32 /* idle scanners kept for reuse; more are freed on release */

typedef struct fs_engine fs_engine;

typedef struct fs_engine_config {
    const char *const *model_dirs; /* NULL: the registry's defaults */
    size_t n_model_dirs;
    const char *cascade;           /* NULL: the default frontal-face cascade */
    const char *face_detector;     /* "blazeface" (NULL: the default) or "haar" */
    const char *face_model;        /* the learned detector: name or path (blazeface.h
                                    * fs_blazeface_find); NULL: its default */
    int threads_per_scan;          /* <= 0: 1 */
} fs_engine_config;

/* Opens the registry and loads the face finder: the learned detector (each pooled scanner gets
 * its own copy, built from weights read once) unless face_detector is "haar", and the cascade
 * (also what fs_engine_cascade lends). A missing face finder is an error naming its set-up (faces
 * are the core of the video checks); an empty registry is not (models may be added at run time). */
fs_err fs_engine_create(const fs_engine_config *cfg, fs_engine **out, fs_msg *msg);
void fs_engine_free(fs_engine *e); /* all scanners must have been released */

/* The registry (read-only, owned by the engine). */
const fs_registry *fs_engine_registry(const fs_engine *e);
const fs_cascade *fs_engine_cascade(const fs_engine *e);
/* "blazeface" or "haar": what the scanners find faces with. */
const char *fs_engine_face_detector(const fs_engine *e);

/* A model by name: the registry's card entry (NULL for a run-time model) and architecture. */
typedef struct fs_engine_model {
    char name[FS_DETECT_NAME_MAX];
    char arch[32];
    int output_is_fake;
    const fs_model_entry *entry; /* registry models only */
    char digest[17];             /* run-time models: 16 hex digits of the weights' SHA-256 */
} fs_engine_model;
/* FS_ERR_NOTFOUND when no model has that name (or registry id). */
fs_err fs_engine_lookup(fs_engine *e, const char *name, fs_engine_model *out, fs_msg *msg);
/* Names of every model (registry and run-time), sorted; caller frees the array (not the
 * strings, which are copied into it as one allocation). */
fs_err fs_engine_names(fs_engine *e, char ***names, size_t *n, fs_msg *msg);

/* Adds a run-time model (weights validated against arch; copied). FS_ERR_CONFLICT when the name
 * is taken. */
fs_err fs_engine_add(fs_engine *e, const char *name, const fs_weights *w, const char *arch,
                     int output_is_fake, fs_msg *msg);
/* Removes a run-time model; FS_ERR_NOTFOUND if absent, FS_ERR_INVALID for a registry model. */
fs_err fs_engine_remove(fs_engine *e, const char *name, fs_msg *msg);

/* Called (without the engine's lock) when a lookup or acquire names a model the engine does not
 * have (check 0): it may fs_engine_add it and return FS_OK. And by fs_engine_lookup for a
 * run-time model it has (check 1): FS_ERR_NOTFOUND means the model was deleted, and the engine
 * removes it; any other answer keeps it. How a node learns of models added or deleted through
 * another node sharing its store (versions). Set once, before use. */
typedef fs_err (*fs_engine_resolver)(void *ctx, fs_engine *e, const char *name, int check,
                                     fs_msg *msg);
void fs_engine_set_resolver(fs_engine *e, fs_engine_resolver fn, void *ctx);

/* Borrows the loaded network of a model (loading it if needed) until fs_engine_net_release:
 * for feature maps and other direct uses of the network. */
struct fs_net;
fs_err fs_engine_net(fs_engine *e, const char *name, const struct fs_net **net, fs_msg *msg);
void fs_engine_net_release(fs_engine *e, const struct fs_net *net);

/* A scanner running the named models, in that order (1..FS_DETECT_MAX_MODELS names). */
fs_err fs_engine_acquire(fs_engine *e, const char *const *names, int n, fs_scanner **out,
                         fs_msg *msg);
void fs_engine_release(fs_engine *e, fs_scanner *s);

#endif
