/* serve.c: `fakescope serve`: reads the configuration (flags > FAKESCOPE_* environment >
 * defaults), opens the store, makes the first admin key on a fresh store, starts the server,
 * prints "listening on http://HOST:PORT" and waits for SIGTERM or SIGINT, then lets requests in
 * flight finish before exiting. Signals are blocked in every thread and taken with sigwait here,
 * so no handler runs in async-signal context. */
#include "cli/cli.h"
#include "fakescope/fetch.h"
#include "fakescope/jobs.h"
#include "fakescope/media_worker.h"
#include "fakescope/server.h"
#include "server/app.h"
#include "fakescope/provenance.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SERVE_PORT_MAX 65535

const char *fs_cli_default_data_dir(char *buf, size_t cap) {
    const char *home = getenv("HOME");
    snprintf(buf, cap, "%s/.local/share/fakescope", home && *home ? home : ".");
    return buf;
}

static void usage(FILE *out, const fs_server_config *d) {
    char data[PATH_MAX];
    fprintf(out,
            "usage: fakescope serve [OPTIONS]\n\n"
            "Runs the HTTP API. Prints \"listening on http://HOST:PORT\" once ready; SIGTERM or\n"
            "SIGINT stop it after requests in flight finish. Each option can also be set by the\n"
            "environment variable shown; a flag wins over the environment.\n\n"
            "  --port P                     TCP port, 0 picks a free one  [FAKESCOPE_PORT, %d]\n"
            "  --host H                     address to bind               [FAKESCOPE_HOST, %s]\n"
            "  --data DIR                   database and blobs            [FAKESCOPE_DATA, %s]\n"
            "  --store URL                  postgresql://... : share one PostgreSQL database with\n"
            "                               other nodes instead of SQLite in --data [FAKESCOPE_STORE]\n"
            "  --blobs DIR                  media and network files; in a cluster a folder every\n"
            "                               node mounts                   [FAKESCOPE_BLOBS, DATA/blobs]\n"
            "  --store-pool N               PostgreSQL connections of this node [FAKESCOPE_STORE_POOL, %d]\n"
            "  --node-id NAME               this node in the tasks' leases [FAKESCOPE_NODE_ID, host:pid:random]\n"
            "  --dataset DIR                images for the explorer       [FAKESCOPE_DATASET, none]\n"
            "  --models DIR                 trained models                [FAKESCOPE_MODELS, none]\n"
            "  --web DIR                    static files served at /      [FAKESCOPE_WEB, %s]\n"
            "  --openapi FILE               served at /openapi.yaml       [FAKESCOPE_OPENAPI, %s]\n"
            "  --workers N                  request threads, 0 = one per CPU [FAKESCOPE_WORKERS, 0]\n"
            "  --max-body BYTES             largest request body          [FAKESCOPE_MAX_BODY, %zu]\n"
            "  --timeout S                  per-request deadline, seconds [FAKESCOPE_TIMEOUT, %d]\n"
            "  --max-concurrent N           requests in progress before 503 + Retry-After [FAKESCOPE_MAX_CONCURRENT, %d]\n"
            "  --allow-private-urls         let imageUrl reach private addresses [FAKESCOPE_ALLOW_PRIVATE_URLS, off]\n"
            "  --fetch-timeout S            imageUrl download time limit  [FAKESCOPE_FETCH_TIMEOUT, %d]\n"
            "  --fetch-max-bytes BYTES      imageUrl download size limit  [FAKESCOPE_FETCH_MAX_BYTES, %zu]\n"
            "  --require-key-for-explorer   explorer routes need an API key [FAKESCOPE_REQUIRE_KEY_FOR_EXPLORER, off]\n"
            "  --job-workers N              background task threads, 0 = as --workers [FAKESCOPE_JOB_WORKERS, 0]\n"
            "  --queue-max N                queued tasks before 503 + Retry-After [FAKESCOPE_QUEUE_MAX, %d]\n"
            "  --job-timeout S              time limit of one task, seconds [FAKESCOPE_JOB_TIMEOUT, %d]\n"
            "  --video-models A,B           default models of the video checks (none: the cards\n"
            "                               marked \"default\", or all) [FAKESCOPE_VIDEO_MODELS]\n"
            "  --video-max-bytes BYTES      largest face-video upload     [FAKESCOPE_VIDEO_MAX_BYTES, %zu]\n"
            "  --media-workers N            sandboxed processes that decode uploads, 0 = decode in\n"
            "                               the server itself (no isolation) [FAKESCOPE_MEDIA_WORKERS, 2 per CPU]\n"
            "  --worker-memory-mb N         address-space limit of a media worker [FAKESCOPE_WORKER_MEMORY_MB, %d]\n"
            "  --worker-cpu-s S             CPU seconds one decode may use [FAKESCOPE_WORKER_CPU_S, %d]\n"
            "  --worker-timeout S           wall-clock limit of one decode [FAKESCOPE_WORKER_TIMEOUT, %d]\n"
            "  --c2pa-trust FILE.pem        trust anchors of Content Credentials signers; the image\n"
            "                               check's \"provenance\" is at most \"valid\" without them\n"
            "                               [FAKESCOPE_C2PA_TRUST, none]\n"
            "  --face-detector D            blazeface (the learned detector) or haar (the\n"
            "                               cascade)  [FAKESCOPE_FACE_DETECTOR, blazeface]\n"
            "  --face-model M               the imported BlazeFace network, name or .safetensors\n"
            "                               path (docs/faces.md) [FAKESCOPE_FACE_MODEL, blazeface-full]\n"
            "  -h, --help                   this text\n\n"
            "On the first start with no API keys, an admin key is created and printed once.\n",
            d->port, d->host, fs_cli_default_data_dir(data, sizeof data), FS_STORE_POOL_DEFAULT, d->web_dir ? d->web_dir : "none",
            d->openapi_path ? d->openapi_path : "none", d->max_body, d->request_timeout_s, FS_SERVER_DEFAULT_MAX_CONCURRENT,
            FS_FETCH_TIMEOUT_MS_DEFAULT / 1000, FS_FETCH_MAX_BYTES_DEFAULT,
            FS_JOBS_DEFAULT_MAX_QUEUED, FS_JOBS_DEFAULT_TIMEOUT_S, (size_t)(6 << 20),
            FS_MEDIA_WORKER_MEMORY_MB_DEFAULT, FS_MEDIA_WORKER_CPU_S_DEFAULT,
            (int)(FS_MEDIA_WORKER_TIMEOUT_MS_DEFAULT / 1000));
}

/* Parses a whole decimal number in [lo, hi]. */
static int parse_num(const char *what, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "fakescope serve: %s must be a whole number in [%lld, %lld], got '%s'\n", what, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_bool(const char *s) {
    return s && (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"));
}

enum { OPT_PORT = 256, OPT_HOST, OPT_DATA, OPT_DATASET, OPT_MODELS, OPT_WEB, OPT_OPENAPI,
       OPT_WORKERS, OPT_MAX_BODY, OPT_TIMEOUT, OPT_PRIVATE, OPT_EXPLORER_KEY,
       OPT_FETCH_TIMEOUT, OPT_FETCH_MAX_BYTES,
       OPT_JOB_WORKERS, OPT_QUEUE_MAX, OPT_JOB_TIMEOUT, OPT_VIDEO_MODELS, OPT_VIDEO_MAX,
       OPT_MAX_CONCURRENT, OPT_TEST_FIRST_HOP, OPT_MEDIA_WORKERS, OPT_WORKER_MEMORY,
       OPT_WORKER_CPU, OPT_WORKER_TIMEOUT, OPT_C2PA_TRUST, OPT_FACE_DETECTOR, OPT_FACE_MODEL,
       OPT_STORE, OPT_BLOBS, OPT_STORE_POOL, OPT_NODE_ID };

/* The job queue's and video checks' settings (read at start, like fs_server_config). */
static struct {
    fs_jobs_config jobs;
    const char *video_models;
    size_t video_max_bytes;
    fs_media_pool_config media; /* workers -1: the default (2 per CPU); 0: no isolation */
    int media_timeout_s;
    const char *c2pa_trust;
    const char *face_detector, *face_model;
    fs_store_options store;
} serve_jobs = {.media = {.workers = -1}};

/* Applies one setting (from the environment or a flag). Returns 0 on a bad value. */
static int apply(fs_server_config *c, int opt, const char *v) {
    long long n;
    switch (opt) {
    case OPT_PORT: if (!parse_num("--port", v, 0, SERVE_PORT_MAX, &n)) return 0; c->port = (int)n; break;
    case OPT_HOST: c->host = v; break;
    case OPT_DATA: c->data_dir = v; break;
    case OPT_DATASET: c->dataset_dir = v; break;
    case OPT_MODELS: c->models_dir = v; break;
    case OPT_WEB: c->web_dir = *v ? v : NULL; break;
    case OPT_OPENAPI: c->openapi_path = *v ? v : NULL; break;
    case OPT_WORKERS: if (!parse_num("--workers", v, 0, FS_SERVER_MAX_WORKERS, &n)) return 0; c->workers = (int)n; break;
    case OPT_MAX_BODY: if (!parse_num("--max-body", v, 1, (long long)1 << 40, &n)) return 0; c->max_body = (size_t)n; break;
    case OPT_TIMEOUT: if (!parse_num("--timeout", v, 1, 86400, &n)) return 0; c->request_timeout_s = (int)n; break;
    case OPT_PRIVATE: c->allow_private_urls = parse_bool(v); break;
    case OPT_EXPLORER_KEY: c->require_key_for_explorer = parse_bool(v); break;
    case OPT_FETCH_TIMEOUT: if (!parse_num("--fetch-timeout", v, 1, 3600, &n)) return 0; c->fetch_timeout_s = (int)n; break;
    case OPT_FETCH_MAX_BYTES: if (!parse_num("--fetch-max-bytes", v, 1, (long long)1 << 34, &n)) return 0; c->fetch_max_bytes = (size_t)n; break;
    case OPT_JOB_WORKERS: if (!parse_num("--job-workers", v, 0, FS_JOBS_MAX_WORKERS, &n)) return 0; serve_jobs.jobs.workers = (int)n; break;
    case OPT_QUEUE_MAX: if (!parse_num("--queue-max", v, 1, 1000000, &n)) return 0; serve_jobs.jobs.max_queued = (int)n; break;
    case OPT_JOB_TIMEOUT: if (!parse_num("--job-timeout", v, 1, 86400, &n)) return 0; serve_jobs.jobs.timeout_s = (int)n; break;
    case OPT_VIDEO_MODELS: serve_jobs.video_models = *v ? v : NULL; break;
    case OPT_MAX_CONCURRENT: if (!parse_num("--max-concurrent", v, 1, FS_SERVER_MAX_CONCURRENT_LIMIT, &n)) return 0; c->max_concurrent = (int)n; break;
    case OPT_TEST_FIRST_HOP: c->fetch_first_hop = v; break;
    case OPT_MEDIA_WORKERS: if (!parse_num("--media-workers", v, 0, FS_MEDIA_WORKERS_MAX, &n)) return 0; serve_jobs.media.workers = (int)n; break;
    case OPT_WORKER_MEMORY: if (!parse_num("--worker-memory-mb", v, 64, 1 << 20, &n)) return 0; serve_jobs.media.memory_mb = (int)n; break;
    case OPT_WORKER_CPU: if (!parse_num("--worker-cpu-s", v, 1, 86400, &n)) return 0; serve_jobs.media.cpu_s = (int)n; break;
    case OPT_WORKER_TIMEOUT: if (!parse_num("--worker-timeout", v, 1, 86400, &n)) return 0; serve_jobs.media_timeout_s = (int)n; break;
    case OPT_C2PA_TRUST: serve_jobs.c2pa_trust = *v ? v : NULL; break;
    case OPT_FACE_DETECTOR:
        if (strcmp(v, "blazeface") && strcmp(v, "haar")) {
            fprintf(stderr, "fakescope serve: --face-detector must be blazeface or haar, got '%s'\n", v);
            return 0;
        }
        serve_jobs.face_detector = v;
        break;
    case OPT_FACE_MODEL: serve_jobs.face_model = *v ? v : NULL; break;
    case OPT_STORE:
        if (*v && !fs_store_url_is_postgres(v)) {
            fprintf(stderr, "fakescope serve: --store must be a postgresql:// URL, got '%s'\n", v);
            return 0;
        }
        serve_jobs.store.url = *v ? v : NULL;
        break;
    case OPT_BLOBS: serve_jobs.store.blob_dir = *v ? v : NULL; break;
    case OPT_STORE_POOL: if (!parse_num("--store-pool", v, 1, FS_STORE_POOL_MAX, &n)) return 0; serve_jobs.store.pool = (int)n; break;
    case OPT_NODE_ID:
        if (strlen(v) >= FS_STORE_NODE_ID_MAX) {
            fprintf(stderr, "fakescope serve: --node-id must be under %d bytes\n", FS_STORE_NODE_ID_MAX);
            return 0;
        }
        serve_jobs.store.node_id = *v ? v : NULL;
        break;
    case OPT_VIDEO_MAX: if (!parse_num("--video-max-bytes", v, 1, (long long)1 << 32, &n)) return 0; serve_jobs.video_max_bytes = (size_t)n; break;
    }
    return 1;
}

static const struct { const char *env; int opt; } env_table[] = {
    {"FAKESCOPE_PORT", OPT_PORT},         {"FAKESCOPE_HOST", OPT_HOST},
    {"FAKESCOPE_DATA", OPT_DATA},         {"FAKESCOPE_DATASET", OPT_DATASET},
    {"FAKESCOPE_MODELS", OPT_MODELS},     {"FAKESCOPE_WEB", OPT_WEB},
    {"FAKESCOPE_OPENAPI", OPT_OPENAPI},   {"FAKESCOPE_WORKERS", OPT_WORKERS},
    {"FAKESCOPE_MAX_BODY", OPT_MAX_BODY}, {"FAKESCOPE_TIMEOUT", OPT_TIMEOUT},
    {"FAKESCOPE_ALLOW_PRIVATE_URLS", OPT_PRIVATE},
    {"FAKESCOPE_REQUIRE_KEY_FOR_EXPLORER", OPT_EXPLORER_KEY},
    {"FAKESCOPE_FETCH_TIMEOUT", OPT_FETCH_TIMEOUT}, {"FAKESCOPE_FETCH_MAX_BYTES", OPT_FETCH_MAX_BYTES},
    {"FAKESCOPE_JOB_WORKERS", OPT_JOB_WORKERS}, {"FAKESCOPE_QUEUE_MAX", OPT_QUEUE_MAX},
    {"FAKESCOPE_JOB_TIMEOUT", OPT_JOB_TIMEOUT}, {"FAKESCOPE_VIDEO_MODELS", OPT_VIDEO_MODELS},
    {"FAKESCOPE_VIDEO_MAX_BYTES", OPT_VIDEO_MAX},
    {"FAKESCOPE_MAX_CONCURRENT", OPT_MAX_CONCURRENT},
    {"FAKESCOPE_MEDIA_WORKERS", OPT_MEDIA_WORKERS}, {"FAKESCOPE_WORKER_MEMORY_MB", OPT_WORKER_MEMORY},
    {"FAKESCOPE_WORKER_CPU_S", OPT_WORKER_CPU}, {"FAKESCOPE_WORKER_TIMEOUT", OPT_WORKER_TIMEOUT},
    {"FAKESCOPE_C2PA_TRUST", OPT_C2PA_TRUST},
    {"FAKESCOPE_FACE_DETECTOR", OPT_FACE_DETECTOR}, {"FAKESCOPE_FACE_MODEL", OPT_FACE_MODEL},
    {"FAKESCOPE_STORE", OPT_STORE},       {"FAKESCOPE_BLOBS", OPT_BLOBS},
    {"FAKESCOPE_STORE_POOL", OPT_STORE_POOL}, {"FAKESCOPE_NODE_ID", OPT_NODE_ID},
    /* tests only: no flag, not in --help (see fs_server_config.fetch_first_hop) */
    {"FAKESCOPE_TEST_FETCH_FIRST_HOP", OPT_TEST_FIRST_HOP},
};

/* On a store with no keys at all, makes an admin key so the operator can get in. */
static int first_admin_key(fs_store *store) {
    int64_t n;
    fs_msg msg;
    if (fs_store_key_count(store, &n, &msg) != FS_OK) {
        fprintf(stderr, "fakescope serve: %s\n", msg.text);
        return 0;
    }
    if (n > 0) return 1;
    fs_key_info k;
    char secret[FS_KEY_SECRET_LEN + 1];
    if (fs_store_key_create(store, "admin", 1, &k, secret, &msg) != FS_OK) {
        fprintf(stderr, "fakescope serve: cannot create the first admin key: %s\n", msg.text);
        return 0;
    }
    printf("first start: created admin API key %lld \"admin\"; it is shown only this once:\n"
           "admin key: %s\n", (long long)k.id, secret);
    fflush(stdout);
    memset(secret, 0, sizeof secret);
    return 1;
}

/* 1 when SIGTERM or SIGINT has arrived: both are blocked until sigwait, so one sent during the
 * start (while the explorer measures its figures) waits as a pending signal. */
static int stop_pending(void) {
    sigset_t pending;
    if (sigpending(&pending) != 0) return 0;
    return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

int fs_cli_serve(int argc, char **argv) {
    fs_server_config cfg;
    fs_server_config_defaults(&cfg);
    char data[PATH_MAX];
    cfg.data_dir = fs_cli_default_data_dir(data, sizeof data);
    for (size_t i = 0; i < sizeof env_table / sizeof env_table[0]; i++) {
        const char *v = getenv(env_table[i].env);
        if (v && *v && !apply(&cfg, env_table[i].opt, v)) {
            fprintf(stderr, "fakescope serve: bad value in %s\n", env_table[i].env);
            return FS_EXIT_USAGE;
        }
    }
    static const struct option opts[] = {
        {"port", required_argument, NULL, OPT_PORT},       {"host", required_argument, NULL, OPT_HOST},
        {"data", required_argument, NULL, OPT_DATA},       {"dataset", required_argument, NULL, OPT_DATASET},
        {"models", required_argument, NULL, OPT_MODELS},   {"web", required_argument, NULL, OPT_WEB},
        {"openapi", required_argument, NULL, OPT_OPENAPI}, {"workers", required_argument, NULL, OPT_WORKERS},
        {"max-body", required_argument, NULL, OPT_MAX_BODY}, {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"allow-private-urls", no_argument, NULL, OPT_PRIVATE},
        {"require-key-for-explorer", no_argument, NULL, OPT_EXPLORER_KEY},
        {"fetch-timeout", required_argument, NULL, OPT_FETCH_TIMEOUT},
        {"fetch-max-bytes", required_argument, NULL, OPT_FETCH_MAX_BYTES},
        {"job-workers", required_argument, NULL, OPT_JOB_WORKERS}, {"queue-max", required_argument, NULL, OPT_QUEUE_MAX},
        {"job-timeout", required_argument, NULL, OPT_JOB_TIMEOUT},
        {"video-models", required_argument, NULL, OPT_VIDEO_MODELS},
        {"video-max-bytes", required_argument, NULL, OPT_VIDEO_MAX},
        {"max-concurrent", required_argument, NULL, OPT_MAX_CONCURRENT},
        {"media-workers", required_argument, NULL, OPT_MEDIA_WORKERS},
        {"worker-memory-mb", required_argument, NULL, OPT_WORKER_MEMORY},
        {"c2pa-trust", required_argument, NULL, OPT_C2PA_TRUST},
        {"face-detector", required_argument, NULL, OPT_FACE_DETECTOR},
        {"face-model", required_argument, NULL, OPT_FACE_MODEL},
        {"worker-cpu-s", required_argument, NULL, OPT_WORKER_CPU},
        {"worker-timeout", required_argument, NULL, OPT_WORKER_TIMEOUT},
        {"store", required_argument, NULL, OPT_STORE},     {"blobs", required_argument, NULL, OPT_BLOBS},
        {"store-pool", required_argument, NULL, OPT_STORE_POOL},
        {"node-id", required_argument, NULL, OPT_NODE_ID},
        {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fs_server_config d;
            fs_server_config_defaults(&d);
            usage(stdout, &d);
            return FS_EXIT_OK;
        }
        if (c == '?') {
            fprintf(stderr, "see `fakescope serve --help`\n");
            return FS_EXIT_USAGE;
        }
        if (!apply(&cfg, c, (c == OPT_PRIVATE || c == OPT_EXPLORER_KEY) ? "1" : optarg)) return FS_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "fakescope serve: unexpected argument '%s'\n", argv[optind]);
        return FS_EXIT_USAGE;
    }

    /* Block the stop signals before any thread exists so every thread inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    fs_msg msg;
    fs_store *store = NULL;
    if (fs_store_open_with(cfg.data_dir, &serve_jobs.store, &store, &msg) != FS_OK) {
        fprintf(stderr, "fakescope serve: %s\n", msg.text);
        return FS_EXIT_INPUT;
    }
    fs_server *srv = NULL;
    fs_app app = {0};
    int rc = FS_EXIT_INPUT;
    if (!first_admin_key(store)) goto out;
    const char *model_dirs[1] = {cfg.models_dir};
    fs_engine_config ecfg = {.model_dirs = cfg.models_dir ? model_dirs : NULL,
                             .n_model_dirs = cfg.models_dir ? 1 : 0,
                             .face_detector = serve_jobs.face_detector,
                             .face_model = serve_jobs.face_model};
    if (serve_jobs.c2pa_trust && fs_prov_trust_load(serve_jobs.c2pa_trust, &app.c2pa_trust, &msg) != FS_OK) {
        fprintf(stderr, "fakescope serve: --c2pa-trust: %s\n", msg.text);
        goto out;
    }
    if (fs_engine_create(&ecfg, &app.engine, &msg) != FS_OK) {
        fprintf(stderr, "fakescope serve: %s\n", msg.text);
        goto out;
    }
    if (fs_server_create(&cfg, store, &srv, &msg) != FS_OK) {
        fprintf(stderr, "fakescope serve: %s\n", msg.text);
        goto out;
    }
    app.server = srv;
    app.store = store;
    app.cfg = fs_server_config_of(srv);
    fs_server_set_app(srv, &app);
    app.stop_requested = stop_pending;
    app.video_models = serve_jobs.video_models;
    app.video_max_bytes = serve_jobs.video_max_bytes;
    serve_jobs.jobs.metrics = fs_server_metrics(srv);
    if (serve_jobs.jobs.workers <= 0) serve_jobs.jobs.workers = fs_server_config_of(srv)->workers;
    app.media_timeout_ms = serve_jobs.media_timeout_s > 0 ? serve_jobs.media_timeout_s * 1000.0
                                                          : FS_MEDIA_WORKER_TIMEOUT_MS_DEFAULT;
    if (serve_jobs.media.workers != 0) {
        serve_jobs.media.metrics = fs_server_metrics(srv);
        if (serve_jobs.media.workers < 0) serve_jobs.media.workers = 0; /* the default */
        if (fs_media_pool_create(&serve_jobs.media, &app.media, &msg) != FS_OK) {
            fprintf(stderr, "fakescope serve: %s\n", msg.text);
            goto out;
        }
    }
    if (fs_jobs_create(store, &serve_jobs.jobs, &app.jobs, &msg) != FS_OK ||
        fs_jobs_add_scan(app.jobs, app.engine, app.media, app.media_timeout_ms, &msg) != FS_OK) {
        fprintf(stderr, "fakescope serve: %s\n", msg.text);
        goto out;
    }
    /* Dialects register their task kinds with the jobs while registering routes; the workers
     * start after that, and before the first request can queue anything. */
    if (fs_app_register_routes(&app, &msg) != FS_OK || fs_jobs_start(app.jobs, &msg) != FS_OK ||
        fs_server_start(srv, &msg) != FS_OK) {
        if (stop_pending()) {
            fs_log(FS_LOG_INFO, "stopped before listening (%s)", msg.text);
            rc = FS_EXIT_OK;
        } else {
            fprintf(stderr, "fakescope serve: %s\n", msg.text);
        }
        goto out;
    }
    const char *host = fs_server_config_of(srv)->host;
    int v6 = strchr(host, ':') != NULL;
    printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "", fs_server_port(srv));
    fflush(stdout);
    fs_log(FS_LOG_INFO, "serving %s with %d worker(s), body limit %zu bytes, data in %s, store %s, node %s",
           host, fs_server_config_of(srv)->workers, fs_server_config_of(srv)->max_body, cfg.data_dir,
           fs_store_is_shared(store) ? "PostgreSQL" : "SQLite", fs_store_node_id(store));
    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {}
    fs_log(FS_LOG_INFO, "received %s: finishing requests in flight", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    int left = fs_server_shutdown(srv, FS_SERVER_SHUTDOWN_GRACE_MS);
    fs_jobs_stop(app.jobs); /* lets the running tasks finish; queued ones wait for the next start */
    fs_log(FS_LOG_INFO, "stopped");
    rc = left == 0 ? FS_EXIT_OK : FS_EXIT_INPUT;
out:
    fs_jobs_free(app.jobs); /* before the server: the workers report to its metrics */
    fs_media_pool_free(app.media);
    fs_server_free(srv);
    fs_app_release(&app);
    fs_engine_free(app.engine);
    fs_prov_trust_free(app.c2pa_trust);
    fs_store_close(store);
    return rc;
}
