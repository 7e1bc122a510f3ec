/* metrics.c: the server's counters, kept in small tables under one mutex and rendered in the
 * Prometheus text format on demand. Label sets are bounded: route names come from the route
 * table (unmatched requests share one label) and model names from the model registry, so the
 * tables stay small and a linear search is fine. */
#include "fakescope/metrics.h"

#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_SERIES 512 /* beyond this, new label sets are folded into "other" */
#define METRICS_LABEL_MAX 64

/* Upper bounds (ms) of the latency histogram's buckets; +Inf is implicit. */
static const double latency_bounds_ms[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};
#define N_BOUNDS (sizeof latency_bounds_ms / sizeof latency_bounds_ms[0])

static const char *const death_causes[] = FS_METRICS_DEATH_CAUSES;
#define N_CAUSES (sizeof death_causes / sizeof death_causes[0])

typedef struct req_series {
    char route[METRICS_LABEL_MAX];
    unsigned status;
    uint64_t count;
} req_series;

typedef struct model_series {
    char model[METRICS_LABEL_MAX];
    uint64_t count;
} model_series;

struct fs_metrics {
    pthread_mutex_t lock;
    req_series req[METRICS_MAX_SERIES];
    size_t nreq;
    model_series inf[METRICS_MAX_SERIES];
    size_t ninf;
    uint64_t bucket[N_BOUNDS + 1]; /* non-cumulative; rendered cumulative */
    double latency_sum_s;
    uint64_t latency_count;
    int64_t queue_depth, in_flight;
    uint64_t workers_started;
    uint64_t deaths[N_CAUSES];
};

fs_metrics *fs_metrics_create(void) {
    fs_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->lock, NULL);
    return m;
}

void fs_metrics_free(fs_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Copies a label value, keeping only characters that need no escaping in the exposition. */
static void clean_label(char *dst, const char *src) {
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < METRICS_LABEL_MAX; i++) {
        char c = src[i];
        dst[j++] = (c == '"' || c == '\\' || c == '\n' || (unsigned char)c < 0x20) ? '_' : c;
    }
    dst[j] = '\0';
}

void fs_metrics_request(fs_metrics *m, const char *route, unsigned status, double ms) {
    if (!m) return;
    char label[METRICS_LABEL_MAX];
    clean_label(label, route ? route : "unmatched");
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    for (; i < m->nreq; i++)
        if (m->req[i].status == status && !strcmp(m->req[i].route, label)) break;
    if (i == m->nreq) {
        if (m->nreq < METRICS_MAX_SERIES) m->nreq++;
        else {
            i = METRICS_MAX_SERIES - 1;
            snprintf(label, sizeof label, "other");
        }
        snprintf(m->req[i].route, METRICS_LABEL_MAX, "%s", label);
        m->req[i].status = status;
    }
    m->req[i].count++;
    size_t b = 0;
    while (b < N_BOUNDS && ms > latency_bounds_ms[b]) b++;
    m->bucket[b]++;
    m->latency_sum_s += ms / 1000.0;
    m->latency_count++;
    pthread_mutex_unlock(&m->lock);
}

void fs_metrics_inference(fs_metrics *m, const char *model, uint64_t n) {
    if (!m) return;
    char label[METRICS_LABEL_MAX];
    clean_label(label, model ? model : "unknown");
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    for (; i < m->ninf; i++)
        if (!strcmp(m->inf[i].model, label)) break;
    if (i == m->ninf) {
        if (m->ninf < METRICS_MAX_SERIES) m->ninf++;
        else i = METRICS_MAX_SERIES - 1;
        snprintf(m->inf[i].model, METRICS_LABEL_MAX, "%s", label);
    }
    m->inf[i].count += n;
    pthread_mutex_unlock(&m->lock);
}

void fs_metrics_queue_depth(fs_metrics *m, int64_t depth) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->queue_depth = depth;
    pthread_mutex_unlock(&m->lock);
}

void fs_metrics_in_flight(fs_metrics *m, int64_t n) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->in_flight = n;
    pthread_mutex_unlock(&m->lock);
}

void fs_metrics_worker_started(fs_metrics *m) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->workers_started++;
    pthread_mutex_unlock(&m->lock);
}

void fs_metrics_worker_death(fs_metrics *m, const char *cause) {
    if (!m) return;
    size_t i = 0; /* unknown causes count as crashes */
    for (size_t k = 0; cause && k < N_CAUSES; k++)
        if (!strcmp(cause, death_causes[k])) i = k;
    pthread_mutex_lock(&m->lock);
    m->deaths[i]++;
    pthread_mutex_unlock(&m->lock);
}

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = (b->cap + (size_t)n + 1) * 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
}

char *fs_metrics_render(fs_metrics *m) {
    buf b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&m->lock);
    put(&b, "# HELP fakescope_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE fakescope_http_requests_total counter\n");
    for (size_t i = 0; i < m->nreq; i++)
        put(&b, "fakescope_http_requests_total{route=\"%s\",status=\"%u\"} %" PRIu64 "\n",
            m->req[i].route, m->req[i].status, m->req[i].count);
    put(&b, "# HELP fakescope_http_request_duration_seconds Time from request start to response end.\n"
            "# TYPE fakescope_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < N_BOUNDS; i++) {
        cum += m->bucket[i];
        put(&b, "fakescope_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
            latency_bounds_ms[i] / 1000.0, cum);
    }
    cum += m->bucket[N_BOUNDS];
    put(&b, "fakescope_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    put(&b, "fakescope_http_request_duration_seconds_sum %.6f\n", m->latency_sum_s);
    put(&b, "fakescope_http_request_duration_seconds_count %" PRIu64 "\n", m->latency_count);
    put(&b, "# HELP fakescope_inferences_total Model forward passes, by model.\n"
            "# TYPE fakescope_inferences_total counter\n");
    for (size_t i = 0; i < m->ninf; i++)
        put(&b, "fakescope_inferences_total{model=\"%s\"} %" PRIu64 "\n", m->inf[i].model, m->inf[i].count);
    put(&b, "# HELP fakescope_queue_depth Tasks waiting in the job queue.\n"
            "# TYPE fakescope_queue_depth gauge\nfakescope_queue_depth %" PRId64 "\n", m->queue_depth);
    put(&b, "# HELP fakescope_http_requests_in_flight Requests being handled now.\n"
            "# TYPE fakescope_http_requests_in_flight gauge\nfakescope_http_requests_in_flight %" PRId64 "\n",
        m->in_flight);
    put(&b, "# HELP fakescope_media_workers_started_total Sandboxed media worker processes started.\n"
            "# TYPE fakescope_media_workers_started_total counter\n"
            "fakescope_media_workers_started_total %" PRIu64 "\n", m->workers_started);
    put(&b, "# HELP fakescope_media_worker_deaths_total Media workers that died during a decode, by cause.\n"
            "# TYPE fakescope_media_worker_deaths_total counter\n");
    for (size_t i = 0; i < N_CAUSES; i++)
        put(&b, "fakescope_media_worker_deaths_total{cause=\"%s\"} %" PRIu64 "\n", death_causes[i],
            m->deaths[i]);
    pthread_mutex_unlock(&m->lock);
    /* Live heap, all arenas: unlike RSS it does not count freed memory the allocator keeps
     * mapped, so a leak shows here as growth under steady load while fragmentation does not. */
    struct mallinfo2 mi = mallinfo2();
    put(&b, "# HELP fakescope_heap_bytes Bytes allocated on the heap and not yet freed (all arenas).\n"
            "# TYPE fakescope_heap_bytes gauge\nfakescope_heap_bytes %zu\n", mi.uordblks + mi.hblkhd);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
