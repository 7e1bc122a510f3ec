/* keys.c: `fakescope keys create|list|revoke`: API key management on a data directory, for the
 * operator at the console (the admin API does the same over HTTP). A new secret is printed
 * once, alone on the last line of stdout, so scripts can take it with `tail -n1`. */
#include "cli/cli.h"
#include "fakescope/json.h"
#include "fakescope/store.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: fakescope keys create NAME [--admin] [--data DIR] [--store URL]\n"
            "       fakescope keys list [--json] [--data DIR] [--store URL]\n"
            "       fakescope keys revoke ID [--data DIR] [--store URL]\n\n"
            "Manages API keys in the data directory (default: FAKESCOPE_DATA, else\n"
            "$HOME/.local/share/fakescope), or in the PostgreSQL database of a cluster\n"
            "(--store postgresql://..., default FAKESCOPE_STORE). A secret is shown only when it\n"
            "is created, on the last line of stdout; the store keeps its SHA-256 alone.\n");
}

static void iso_time(int64_t t, char *buf, size_t cap) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int do_list(fs_store *store, int as_json) {
    fs_key_info *keys;
    size_t n;
    fs_msg msg;
    if (fs_store_key_list(store, &keys, &n, &msg) != FS_OK) {
        fprintf(stderr, "fakescope keys: %s\n", msg.text);
        return FS_EXIT_INPUT;
    }
    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_pack("{s:I, s:s, s:s, s:b, s:I}", "id", (json_int_t)keys[i].id, "name",
                                  keys[i].name, "prefix", keys[i].prefix, "admin", keys[i].is_admin,
                                  "created", (json_int_t)keys[i].created);
            json_object_set_new(o, "revoked_at", keys[i].revoked_at ? json_integer(keys[i].revoked_at) : json_null());
            json_array_append_new(arr, o);
        }
        char *text = fs_json_dumps(arr, JSON_COMPACT);
        printf("%s\n", text ? text : "[]");
        free(text);
        json_decref(arr);
    } else {
        printf("%-6s %-24s %-14s %-6s %-21s %s\n", "ID", "NAME", "PREFIX", "ADMIN", "CREATED", "REVOKED");
        for (size_t i = 0; i < n; i++) {
            char created[32], revoked[32] = "-";
            iso_time(keys[i].created, created, sizeof created);
            if (keys[i].revoked_at) iso_time(keys[i].revoked_at, revoked, sizeof revoked);
            printf("%-6lld %-24s %-14s %-6s %-21s %s\n", (long long)keys[i].id, keys[i].name,
                   keys[i].prefix, keys[i].is_admin ? "yes" : "no", created, revoked);
        }
    }
    free(keys);
    return FS_EXIT_OK;
}

int fs_cli_keys(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? FS_EXIT_USAGE : FS_EXIT_OK;
    }
    const char *action = argv[1];
    char data[PATH_MAX];
    const char *dir = getenv("FAKESCOPE_DATA");
    if (!dir || !*dir) dir = fs_cli_default_data_dir(data, sizeof data);
    const char *url = getenv("FAKESCOPE_STORE");
    int admin = 0, as_json = 0;
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'}, {"admin", no_argument, NULL, 'a'},
        {"store", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    /* argv + 1: the action is getopt's program name, its arguments follow. */
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 's': url = optarg; break;
        case 'a': admin = 1; break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return FS_EXIT_OK;
        default: usage(stderr); return FS_EXIT_USAGE;
        }
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    int want = !strcmp(action, "list") ? 0 : 1;
    if ((strcmp(action, "create") && strcmp(action, "list") && strcmp(action, "revoke")) || nargs != want) {
        fprintf(stderr, "fakescope keys: expected `create NAME`, `list` or `revoke ID`\n");
        usage(stderr);
        return FS_EXIT_USAGE;
    }
    long long id = 0;
    if (!strcmp(action, "revoke")) {
        char *end;
        errno = 0;
        id = strtoll(args[0], &end, 10);
        if (!*args[0] || *end || errno || id <= 0) {
            fprintf(stderr, "fakescope keys: the key id must be a positive integer, got '%s'\n", args[0]);
            return FS_EXIT_USAGE;
        }
    }
    fs_msg msg;
    fs_store *store;
    fs_store_options so = {.url = url, .pool = 1};
    if (fs_store_open_with(dir, &so, &store, &msg) != FS_OK) {
        fprintf(stderr, "fakescope keys: %s\n", msg.text);
        return FS_EXIT_INPUT;
    }
    int rc = FS_EXIT_OK;
    if (!strcmp(action, "list")) {
        rc = do_list(store, as_json);
    } else if (!strcmp(action, "revoke")) {
        fs_err e = fs_store_key_revoke(store, id, &msg);
        if (e != FS_OK) {
            fprintf(stderr, "fakescope keys: %s\n", msg.text);
            rc = e == FS_ERR_INVALID ? FS_EXIT_USAGE : FS_EXIT_INPUT;
        } else {
            printf("revoked key %lld\n", id);
        }
    } else {
        fs_key_info k;
        char secret[FS_KEY_SECRET_LEN + 1];
        fs_err e = fs_store_key_create(store, args[0], admin, &k, secret, &msg);
        if (e != FS_OK) {
            fprintf(stderr, "fakescope keys: %s\n", msg.text);
            rc = e == FS_ERR_INVALID ? FS_EXIT_USAGE : FS_EXIT_INPUT;
        } else {
            printf("created %skey %lld \"%s\" (prefix %s); the secret is shown only now:\n%s\n",
                   k.is_admin ? "admin " : "", (long long)k.id, k.name, k.prefix, secret);
            memset(secret, 0, sizeof secret);
        }
    }
    fs_store_close(store);
    return rc;
}
