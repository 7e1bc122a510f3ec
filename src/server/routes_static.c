/* routes_static.c: files from the web folder at any GET path no other route claims. Path
 * safety is fs_static_resolve's job; this file maps its verdict to 403 or 404. */
#include "server_internal.h"

#include <limits.h>

static void static_file(fs_req *r) {
    const char *root = fs_server_config_of(fs_req_server(r))->web_dir;
    const char *rel = fs_req_param(r, "path");
    char path[PATH_MAX];
    fs_msg msg;
    fs_err e = fs_static_resolve(root, rel ? rel : "", path, sizeof path, &msg);
    if (e == FS_ERR_INVALID) {
        fs_reply_error(r, 403, "forbidden", "%s", msg.text);
        return;
    }
    if (e != FS_OK) {
        fs_reply_error(r, 404, "not_found", "no route or file for %s", fs_req_path(r));
        return;
    }
    fs_reply_file(r, path, NULL);
}

fs_err fs_routes_static_register(fs_server *s, fs_msg *msg) {
    return fs_server_route(s, "GET", "/*path", "static", static_file, msg);
}
