/* server_internal.h: what the server's own files share: the route registration functions of
 * each dialect file. A new dialect adds its register function here and one call in server.c. */
#ifndef FS_SERVER_INTERNAL_H
#define FS_SERVER_INTERNAL_H

#include "fakescope/server.h"

/* routes_health.c: GET /healthz, GET /metrics, GET /openapi.yaml */
fs_err fs_routes_health_register(fs_server *s, fs_msg *msg);
/* routes_admin.c: POST/GET /admin/keys, DELETE /admin/keys/:id */
fs_err fs_routes_admin_register(fs_server *s, fs_msg *msg);
/* routes_static.c: GET at any path not otherwise routed, from cfg.web_dir */
fs_err fs_routes_static_register(fs_server *s, fs_msg *msg);

#endif
