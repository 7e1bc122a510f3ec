/* listen.c: the PostgreSQL notification listener behind fs_store_listen. A node waiting for a
 * task that another node runs (a synchronous request) must learn at once that it finished,
 * without re-reading the tasks table in a loop: finish and requeue send NOTIFY on
 * FS_STORE_CHANNEL, and this thread, on a connection of its own, sleeps in poll() on the
 * socket until a notification or its stop pipe wakes it. A lost connection is re-made with
 * backoff; after each reconnection the callback is told that notifications may have been
 * missed (payload NULL), so waiters re-read the store. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fs_store_listener {
    fs_store *store;
    void (*fn)(void *ctx, const char *payload);
    void *ctx;
    pthread_t thread;
    int stop_pipe[2];
    PGconn *conn;
};

/* A connect never blocks the thread (or a stop) for more than 5 s. */
static PGconn *connect_url(const char *url) {
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, "5", "fakescope-listen", NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static int listen_on(PGconn *conn) {
    PGresult *r = PQexec(conn, "LISTEN " FS_STORE_CHANNEL);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Waits up to ms for the socket (or the stop pipe). Returns 1 when stop was asked. */
static int wait_socket(fs_store_listener *l, int ms) {
    struct pollfd p[2] = {{.fd = l->stop_pipe[0], .events = POLLIN},
                          {.fd = l->conn ? PQsocket(l->conn) : -1, .events = POLLIN}};
    int n = poll(p, p[1].fd >= 0 ? 2 : 1, ms);
    return n > 0 && (p[0].revents & POLLIN);
}

static void *listen_main(void *arg) {
    fs_store_listener *l = arg;
    int backoff = 100;
    for (;;) {
        if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
            if (l->conn) PQreset(l->conn);
            else l->conn = connect_url(l->store->url);
            if (!l->conn || PQstatus(l->conn) != CONNECTION_OK || !listen_on(l->conn)) {
                if (wait_socket(l, backoff)) break;
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
                continue;
            }
            backoff = 100;
            l->fn(l->ctx, NULL);
        }
        if (wait_socket(l, 5000)) break;
        if (!PQconsumeInput(l->conn)) continue; /* lost: the top of the loop reconnects */
        PGnotify *n;
        while ((n = PQnotifies(l->conn)) != NULL) {
            l->fn(l->ctx, n->extra ? n->extra : "");
            PQfreemem(n);
        }
    }
    return NULL;
}

fs_err fs_store_listen(fs_store *s, void (*fn)(void *ctx, const char *payload), void *ctx,
                       fs_store_listener **out, fs_msg *msg) {
    *out = NULL;
    if (s->engine != DB_POSTGRES) return fs_fail(msg, FS_ERR_UNSUPPORTED, "store: notifications need PostgreSQL");
    fs_store_listener *l = calloc(1, sizeof *l);
    if (!l) return fs_fail(msg, FS_ERR_NOMEM, "store: out of memory");
    l->store = s;
    l->fn = fn;
    l->ctx = ctx;
    if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
        free(l);
        return fs_fail(msg, FS_ERR_IO, "store: pipe: %s", strerror(errno));
    }
    /* The first connection is made here, so a listener that starts is listening when this
     * returns (a finish right after cannot be missed). */
    l->conn = connect_url(s->url);
    if (!l->conn || PQstatus(l->conn) != CONNECTION_OK || !listen_on(l->conn)) {
        fs_err e = fs_fail(msg, FS_ERR_IO, "store unavailable: listen: %s",
                           l->conn ? PQerrorMessage(l->conn) : "out of memory");
        PQfinish(l->conn);
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
        free(l);
        return e;
    }
    int rc = pthread_create(&l->thread, NULL, listen_main, l);
    if (rc) {
        PQfinish(l->conn);
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
        free(l);
        return fs_fail(msg, FS_ERR_INTERNAL, "store: cannot start the listener: %s", strerror(rc));
    }
    *out = l;
    return FS_OK;
}

void fs_store_listener_stop(fs_store_listener *l) {
    if (!l) return;
    ssize_t w = write(l->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(l->thread, NULL);
    PQfinish(l->conn);
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l);
}
