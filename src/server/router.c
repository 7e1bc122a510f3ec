/* router.c: method + path pattern matching for the server. Routes are few (tens), so a linear
 * scan over pre-split patterns is simpler than a trie and fast enough; each request is split
 * into segments once. Trailing slashes are tolerated because the API dialects we speak use
 * both forms ("/api/predictions/:modelID/:numImgs/:convIdx/"). */
#include "fakescope/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ROUTE_METHOD_MAX 16
#define ROUTE_NAME_MAX 64
#define ROUTE_SEGMENT_MAX 128

typedef struct route {
    char method[ROUTE_METHOD_MAX];
    char name[ROUTE_NAME_MAX];
    int nseg;
    char seg[FS_ROUTE_MAX_SEGMENTS][ROUTE_SEGMENT_MAX]; /* literal, ":param" or "*tail" */
    int fallback; /* pattern is a lone tail: matches last, never causes a 405 */
    void *data;
} route;

struct fs_router {
    route *routes;
    size_t n, cap;
};

fs_router *fs_router_create(void) { return calloc(1, sizeof(fs_router)); }

void fs_router_free(fs_router *r) {
    if (!r) return;
    free(r->routes);
    free(r);
}

/* Splits path on '/' into at most max segments of at most seg_cap-1 bytes, skipping empty ones
 * (so "//a//b/" is "a", "b"). Returns the count, or -1 if a limit is exceeded. */
static int split(const char *path, char (*seg)[ROUTE_SEGMENT_MAX], int max, const char **starts) {
    int n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n >= max) return -1;
        if (seg) {
            if (len >= ROUTE_SEGMENT_MAX) return -1;
            memcpy(seg[n], p, len);
            seg[n][len] = '\0';
        }
        if (starts) starts[n] = p;
        n++;
        p += len;
    }
    return n;
}

fs_err fs_router_add(fs_router *r, const char *method, const char *pattern, const char *name,
                     void *data, fs_msg *msg) {
    if (!method || !pattern || pattern[0] != '/' || strlen(method) >= ROUTE_METHOD_MAX)
        return fs_fail(msg, FS_ERR_INVALID, "route: bad method or pattern");
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        route *p = realloc(r->routes, nc * sizeof *p);
        if (!p) return fs_fail(msg, FS_ERR_NOMEM, "route: out of memory");
        r->routes = p;
        r->cap = nc;
    }
    route *rt = &r->routes[r->n];
    memset(rt, 0, sizeof *rt);
    snprintf(rt->method, sizeof rt->method, "%s", method);
    snprintf(rt->name, sizeof rt->name, "%s", name ? name : pattern);
    rt->nseg = split(pattern, rt->seg, FS_ROUTE_MAX_SEGMENTS, NULL);
    if (rt->nseg < 0) return fs_fail(msg, FS_ERR_INVALID, "route %s: too many or too long segments", pattern);
    int params = 0;
    for (int i = 0; i < rt->nseg; i++) {
        char c = rt->seg[i][0];
        if (c == ':' || c == '*') {
            if (!rt->seg[i][1] || strlen(rt->seg[i] + 1) >= FS_ROUTE_PARAM_NAME)
                return fs_fail(msg, FS_ERR_INVALID, "route %s: bad parameter name", pattern);
            if (++params > FS_ROUTE_MAX_PARAMS)
                return fs_fail(msg, FS_ERR_INVALID, "route %s: too many parameters", pattern);
        }
        if (c == '*' && i != rt->nseg - 1)
            return fs_fail(msg, FS_ERR_INVALID, "route %s: a tail parameter must be last", pattern);
    }
    rt->fallback = rt->nseg == 1 && rt->seg[0][0] == '*';
    rt->data = data;
    r->n++;
    return FS_OK;
}

/* Matches one route's segments against the request's; fills params on success. */
static int match_path(const route *rt, int n, char (*seg)[ROUTE_SEGMENT_MAX], const char **starts,
                      fs_route_params *params) {
    params->n = 0;
    for (int i = 0; i < rt->nseg; i++) {
        const char *p = rt->seg[i];
        if (p[0] == '*') {
            /* The tail is everything from this segment on, trailing slashes trimmed. */
            const char *from = i < n ? starts[i] : "";
            size_t len = strlen(from);
            while (len > 0 && from[len - 1] == '/') len--;
            if (len >= FS_ROUTE_PARAM_VALUE) return 0;
            snprintf(params->name[params->n], FS_ROUTE_PARAM_NAME, "%s", p + 1);
            memcpy(params->value[params->n], from, len);
            params->value[params->n][len] = '\0';
            params->n++;
            return 1;
        }
        if (i >= n) return 0;
        if (p[0] == ':') {
            snprintf(params->name[params->n], FS_ROUTE_PARAM_NAME, "%s", p + 1);
            snprintf(params->value[params->n], FS_ROUTE_PARAM_VALUE, "%s", seg[i]);
            params->n++;
        } else if (strcmp(p, seg[i]) != 0) {
            return 0;
        }
    }
    return rt->nseg == n;
}

static int method_matches(const char *route_method, const char *method) {
    if (!strcasecmp(route_method, method)) return 1;
    return !strcasecmp(method, "HEAD") && !strcasecmp(route_method, "GET");
}

fs_route_result fs_router_match(const fs_router *r, const char *method, const char *path,
                                void **data, const char **name, fs_route_params *params,
                                char *allow, size_t allow_cap) {
    static _Thread_local char seg[FS_ROUTE_MAX_SEGMENTS][ROUTE_SEGMENT_MAX];
    const char *starts[FS_ROUTE_MAX_SEGMENTS];
    fs_route_params scratch;
    if (allow && allow_cap) allow[0] = '\0';
    int n = split(path ? path : "", seg, FS_ROUTE_MAX_SEGMENTS, starts);
    if (n < 0) return FS_ROUTE_NOT_FOUND;
    int path_matched = 0;
    const route *fallback = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const route *rt = &r->routes[i];
        if (!match_path(rt, n, seg, starts, &scratch)) continue;
        if (!method_matches(rt->method, method)) {
            if (rt->fallback) continue;
            /* Collect allowed methods once each for the Allow header. */
            if (allow && !strstr(allow, rt->method)) {
                size_t used = strlen(allow);
                snprintf(allow + used, allow_cap - used, "%s%s", used ? ", " : "", rt->method);
            }
            path_matched = 1;
            continue;
        }
        if (rt->fallback) {
            if (!fallback) fallback = rt;
            continue;
        }
        *data = rt->data;
        *name = rt->name;
        *params = scratch;
        return FS_ROUTE_FOUND;
    }
    if (path_matched) return FS_ROUTE_BAD_METHOD;
    if (fallback && match_path(fallback, n, seg, starts, params)) {
        *data = fallback->data;
        *name = fallback->name;
        return FS_ROUTE_FOUND;
    }
    return FS_ROUTE_NOT_FOUND;
}

const char *fs_route_param(const fs_route_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->name[i], name)) return p->value[i];
    return NULL;
}
