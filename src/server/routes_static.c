/* routes_static.c: files from the web folder at any GET path no other route claims. */
#include "server_internal.h"

static void static_file(fs_req *r) {
    fs_reply_static(r, fs_server_config_of(fs_req_server(r))->web_dir, fs_req_param(r, "path"));
}

fs_err fs_routes_static_register(fs_server *s, fs_msg *msg) {
    return fs_server_route(s, "GET", "/*path", "static", static_file, msg);
}
