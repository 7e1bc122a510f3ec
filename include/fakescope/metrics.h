/* metrics: counters and gauges the server exposes at GET /metrics in Prometheus text format.
 * A leaf API with no HTTP in it, so the job queue and the detection pipeline can count
 * inferences and report queue depth through the fs_metrics pointer the server hands them.
 * Every function is thread-safe and cheap (one short mutex hold); labels are bounded by the
 * caller (route names and model names, never user input). */
#ifndef FAKESCOPE_METRICS_H
#define FAKESCOPE_METRICS_H

#include <stdint.h>

typedef struct fs_metrics fs_metrics;

fs_metrics *fs_metrics_create(void);
void fs_metrics_free(fs_metrics *m);

/* One finished HTTP request: route label, status code and duration. */
void fs_metrics_request(fs_metrics *m, const char *route, unsigned status, double ms);
/* n more inferences by the model named model. */
void fs_metrics_inference(fs_metrics *m, const char *model, uint64_t n);
/* Current number of queued tasks. */
void fs_metrics_queue_depth(fs_metrics *m, int64_t depth);
/* Requests in flight (the server keeps it). */
void fs_metrics_in_flight(fs_metrics *m, int64_t n);

/* Media worker processes (jobs/media_worker.h): one more started, or one more died of cause
 * (one of FS_METRICS_DEATH_CAUSES; anything else counts as "crash"). */
#define FS_METRICS_DEATH_CAUSES {"crash", "seccomp", "timeout", "cpu", "memory", "protocol"}
void fs_metrics_worker_started(fs_metrics *m);
void fs_metrics_worker_death(fs_metrics *m, const char *cause);

/* Prometheus text exposition (version 0.0.4). Returns a malloc'd string, NULL on no memory. */
char *fs_metrics_render(fs_metrics *m);

#endif
