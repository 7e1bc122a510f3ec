/* routes_admin.c: the admin keys API. Every route needs an admin key. Creating a key answers its
 * secret once (201); listing never shows secrets, only the display prefix. */
#include "server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static json_t *key_json(const fs_key_info *k) {
    json_t *o = json_pack("{s:I, s:s, s:s, s:b, s:I}", "id", (json_int_t)k->id, "name", k->name,
                          "prefix", k->prefix, "admin", k->is_admin, "created", (json_int_t)k->created);
    if (o) json_object_set_new(o, "revoked_at", k->revoked_at ? json_integer(k->revoked_at) : json_null());
    return o;
}

static void keys_create(fs_req *r) {
    if (fs_req_authenticate(r, NULL, 1, NULL) != FS_OK) return;
    fs_msg msg;
    json_t *body = fs_req_json(r, &msg);
    if (!body || !json_is_object(body)) {
        fs_reply_error(r, 400, "bad_request", "%s", body ? "the body must be a JSON object" : msg.text);
        return;
    }
    json_t *name = json_object_get(body, "name"), *admin = json_object_get(body, "admin");
    if (!json_is_string(name)) {
        fs_reply_error(r, 400, "bad_request", "\"name\" (a string) is required");
        return;
    }
    if (admin && !json_is_boolean(admin)) {
        fs_reply_error(r, 400, "bad_request", "\"admin\" must be true or false");
        return;
    }
    fs_key_info k;
    char secret[FS_KEY_SECRET_LEN + 1];
    fs_err e = fs_store_key_create(fs_server_store(fs_req_server(r)), json_string_value(name),
                                   admin && json_is_true(admin), &k, secret, &msg);
    if (e != FS_OK) {
        fs_reply_error(r, fs_http_status_for(e), fs_err_name(e), "%s", msg.text);
        return;
    }
    json_t *o = key_json(&k);
    if (o) json_object_set_new(o, "secret", json_string(secret));
    memset(secret, 0, sizeof secret);
    fs_reply_json(r, 201, o);
}

static void keys_list(fs_req *r) {
    if (fs_req_authenticate(r, NULL, 1, NULL) != FS_OK) return;
    fs_key_info *keys;
    size_t n;
    fs_msg msg;
    fs_err e = fs_store_key_list(fs_server_store(fs_req_server(r)), &keys, &n, &msg);
    if (e != FS_OK) {
        fs_reply_error(r, fs_http_status_for(e), fs_err_name(e), "%s", msg.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) json_array_append_new(arr, key_json(&keys[i]));
    free(keys);
    fs_reply_json(r, 200, json_pack("{s:o}", "keys", arr));
}

static void keys_revoke(fs_req *r) {
    if (fs_req_authenticate(r, NULL, 1, NULL) != FS_OK) return;
    const char *idtext = fs_req_param(r, "id");
    char *end;
    errno = 0;
    long long id = idtext ? strtoll(idtext, &end, 10) : 0;
    if (!idtext || !*idtext || *end || errno || id <= 0) {
        fs_reply_error(r, 400, "bad_request", "the key id must be a positive integer");
        return;
    }
    fs_msg msg;
    fs_err e = fs_store_key_revoke(fs_server_store(fs_req_server(r)), id, &msg);
    if (e != FS_OK) {
        fs_reply_error(r, fs_http_status_for(e), fs_err_name(e), "%s", msg.text);
        return;
    }
    fs_reply_json(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", 1));
}

fs_err fs_routes_admin_register(fs_server *s, fs_msg *msg) {
    fs_err e;
    if ((e = fs_server_route(s, "POST", "/admin/keys", "admin_keys_create", keys_create, msg)) != FS_OK) return e;
    if ((e = fs_server_route(s, "GET", "/admin/keys", "admin_keys_list", keys_list, msg)) != FS_OK) return e;
    return fs_server_route(s, "DELETE", "/admin/keys/:id", "admin_keys_revoke", keys_revoke, msg);
}
