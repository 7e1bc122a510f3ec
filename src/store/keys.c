/* keys.c: API keys. A secret is "fsk_" + 64 hex digits of 32 random bytes; it is shown once and
 * only its SHA-256 is kept. A presented secret is found by its 12-character display prefix
 * (indexed) and then checked by comparing digests with CRYPTO_memcmp, so the time taken does not
 * depend on how many leading bytes of a guess were right. */
#include "store_internal.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int fs_key_hash_matches(const char *hash_hex, const char *secret) {
    if (!hash_hex || !secret || !fs_sha256_hex_valid(hash_hex)) return 0;
    uint8_t want[FS_SHA256_BYTES], got[FS_SHA256_BYTES];
    for (int i = 0; i < FS_SHA256_BYTES; i++)
        want[i] = (uint8_t)(hexval(hash_hex[2 * i]) << 4 | hexval(hash_hex[2 * i + 1]));
    if (fs_sha256(secret, strlen(secret), got) != FS_OK) return 0;
    return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

static int secret_well_formed(const char *secret) {
    if (strncmp(secret, FS_KEY_PREFIX, 4) != 0) return 0;
    for (int i = 4; i < FS_KEY_SECRET_LEN; i++)
        if (hexval(secret[i]) < 0 || (secret[i] >= 'A' && secret[i] <= 'F')) return 0;
    return secret[FS_KEY_SECRET_LEN] == '\0';
}

static int name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > FS_KEY_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
    return 1;
}

static void row_to_info(db_stmt *st, fs_key_info *k) {
    /* columns: id, name, prefix, created, revoked_at, is_admin */
    memset(k, 0, sizeof *k);
    k->id = db_col_int64(st, 0);
    store_col_text(st, 1, k->name, sizeof k->name);
    store_col_text(st, 2, k->prefix, sizeof k->prefix);
    k->created = db_col_int64(st, 3);
    k->revoked_at = db_col_null(st, 4) ? 0 : db_col_int64(st, 4);
    k->is_admin = (int)db_col_int64(st, 5) != 0;
}

fs_err fs_store_key_create(fs_store *s, const char *name, int is_admin, fs_key_info *info,
                           char secret[FS_KEY_SECRET_LEN + 1], fs_msg *msg) {
    if (!name || !name_ok(name))
        return fs_fail(msg, FS_ERR_INVALID, "key name must be 1 to %d printable characters", FS_KEY_NAME_MAX);
    uint8_t raw[FS_KEY_SECRET_BYTES];
    char sec[FS_KEY_SECRET_LEN + 1], hash[FS_SHA256_HEX], prefix[FS_KEY_DISPLAY_LEN + 1];
    fs_err e = store_random(raw, sizeof raw, msg);
    if (e != FS_OK) return e;
    memcpy(sec, FS_KEY_PREFIX, 4);
    store_hex(raw, sizeof raw, sec + 4);
    assert(strlen(sec) == FS_KEY_SECRET_LEN);
    memcpy(prefix, sec, FS_KEY_DISPLAY_LEN);
    prefix[FS_KEY_DISPLAY_LEN] = '\0';
    if ((e = fs_sha256_hex(sec, FS_KEY_SECRET_LEN, hash)) != FS_OK)
        return fs_fail(msg, e, "sha256 failed");
    int64_t now = fs_unix_time();
    db_conn *c = NULL;
    db_stmt *st;
    if ((e = store_acquire(s, &c, msg)) == FS_OK &&
        (e = db_prepare(c, "INSERT INTO api_keys (name, prefix, secret_sha256, is_admin, created) "
                           "VALUES (?, ?, ?, ?, ?) RETURNING id", &st, msg)) == FS_OK) {
        db_bind_text(st, 1, name);
        db_bind_text(st, 2, prefix);
        db_bind_text(st, 3, hash);
        db_bind_int64(st, 4, is_admin ? 1 : 0);
        db_bind_int64(st, 5, now);
        int rc = db_step(st);
        if (rc != DB_ROW) e = db_fail(c, msg, "insert key");
        else if (info) {
            memset(info, 0, sizeof *info);
            info->id = db_col_int64(st, 0);
            snprintf(info->name, sizeof info->name, "%s", name);
            memcpy(info->prefix, prefix, sizeof info->prefix);
            info->created = now;
            info->is_admin = is_admin ? 1 : 0;
        }
        db_finalize(st);
    }
    store_release(s, c);
    if (e == FS_OK && secret) memcpy(secret, sec, sizeof sec);
    OPENSSL_cleanse(sec, sizeof sec);
    OPENSSL_cleanse(raw, sizeof raw);
    return e;
}

fs_err fs_store_key_list(fs_store *s, fs_key_info **keys, size_t *n, fs_msg *msg) {
    *keys = NULL;
    *n = 0;
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "SELECT id, name, prefix, created, revoked_at, is_admin "
                                "FROM api_keys ORDER BY id", &st, msg);
    size_t cap = 0, len = 0;
    fs_key_info *out = NULL;
    if (e == FS_OK) {
        int rc;
        while ((rc = db_step(st)) == DB_ROW) {
            if (len == cap) {
                size_t nc = cap ? cap * 2 : 8;
                fs_key_info *p = realloc(out, nc * sizeof *p);
                if (!p) {
                    e = fs_fail(msg, FS_ERR_NOMEM, "out of memory listing keys");
                    break;
                }
                out = p;
                cap = nc;
            }
            row_to_info(st, &out[len++]);
        }
        if (e == FS_OK && rc != DB_DONE) e = db_fail(c, msg, "list keys");
        db_finalize(st);
    }
    store_release(s, c);
    if (e != FS_OK) {
        free(out);
        return e;
    }
    *keys = out;
    *n = len;
    return FS_OK;
}

fs_err fs_store_key_revoke(fs_store *s, int64_t id, fs_msg *msg) {
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", &st, msg);
    if (e == FS_OK) {
        db_bind_int64(st, 1, fs_unix_time());
        db_bind_int64(st, 2, id);
        int rc = db_step(st);
        if (rc != DB_DONE) e = db_fail(c, msg, "revoke key");
        else if (db_changes(c) == 0) e = fs_fail(msg, FS_ERR_NOTFOUND, "no key with id %lld", (long long)id);
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}

fs_err fs_store_key_verify(fs_store *s, const char *secret, fs_key_info *info, fs_msg *msg) {
    if (!secret || !secret_well_formed(secret))
        return fs_fail(msg, FS_ERR_AUTH, "malformed API key");
    char prefix[FS_KEY_DISPLAY_LEN + 1];
    memcpy(prefix, secret, FS_KEY_DISPLAY_LEN);
    prefix[FS_KEY_DISPLAY_LEN] = '\0';
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "SELECT id, name, prefix, created, revoked_at, is_admin, secret_sha256 "
                                "FROM api_keys WHERE prefix = ?", &st, msg);
    int found = 0;
    fs_key_info k;
    if (e == FS_OK) {
        db_bind_text(st, 1, prefix);
        int rc;
        /* Prefixes may collide (32 bits); every candidate is checked in constant time. */
        while ((rc = db_step(st)) == DB_ROW) {
            const char *hash = db_col_text(st, 6);
            if (!found && fs_key_hash_matches(hash, secret)) {
                row_to_info(st, &k);
                found = 1;
            }
        }
        if (rc != DB_DONE) e = db_fail(c, msg, "verify key");
        db_finalize(st);
    }
    store_release(s, c);
    if (e != FS_OK) return e;
    if (!found) return fs_fail(msg, FS_ERR_AUTH, "unknown API key");
    if (k.revoked_at) return fs_fail(msg, FS_ERR_AUTH, "API key %lld was revoked", (long long)k.id);
    if (info) *info = k;
    return FS_OK;
}

fs_err fs_store_key_count(fs_store *s, int64_t *n, fs_msg *msg) {
    *n = 0;
    db_conn *c;
    fs_err ae = store_acquire(s, &c, msg);
    if (ae != FS_OK) return ae;
    db_stmt *st;
    fs_err e = db_prepare(c, "SELECT COUNT(*) FROM api_keys", &st, msg);
    if (e == FS_OK) {
        int rc = db_step(st);
        if (rc == DB_ROW) *n = db_col_int64(st, 0);
        else e = db_fail(c, msg, "count keys");
        db_finalize(st);
    }
    store_release(s, c);
    return e;
}
