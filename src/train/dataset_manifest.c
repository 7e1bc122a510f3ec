/* dataset_manifest.c: the file that pins down exactly which media an experiment used and on
 * which side of the split each one was, so an evaluation can be rerun on the same files years
 * later and a model card can name its data by one SHA-256 digest.
 *
 * A manifest is CSV (RFC 4180 quoting, \n line ends) under a one-line comment carrying the
 * SHA-256 of every byte that follows it. Paths are stored relative to a root given at write and
 * read time, so a manifest survives moving the data. Writing is canonical (sorted items, fixed
 * number formats), so reading a manifest and writing it again gives the same bytes, the same
 * digest. */
#include "fakescope/dataset.h"
#include "fakescope/sha256.h"
#include "train/dataset_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAGIC "# fakescope-manifest v1 sha256="
#define MANIFEST_HEADER "path,label,kind,source,group,split"
#define MANIFEST_MAX_BYTES ((size_t)512 << 20)
#define MANIFEST_FIELDS 6

/* ---- growable text buffer ---- */
typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void buf_put(buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* One CSV field, quoted only when it holds a separator, a quote or a line break. */
static void buf_field(buf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        buf_puts(b, s);
        return;
    }
    buf_put(b, "\"", 1);
    for (const char *q = s; *q; q++) {
        if (*q == '"') buf_put(b, "\"", 1);
        buf_put(b, q, 1);
    }
    buf_put(b, "\"", 1);
}

static fs_err sha256_hex(const void *data, size_t len, char hex[65], fs_msg *msg) {
    return fs_sha256_hex(data, len, hex) ? fs_fail(msg, FS_ERR_INTERNAL, "SHA-256 failed") : FS_OK;
}

/* Root without trailing slashes; "" when none. */
static size_t root_len(const char *root) {
    if (!root) return 0;
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    return n;
}

fs_err fs_manifest_format(const fs_dataset *ds, const char *root, char **text, size_t *len,
                          char digest_hex[65], fs_msg *msg) {
    assert(ds && text && len);
    *text = NULL;
    *len = 0;
    const size_t rl = root_len(root);
    buf body = {0};
    buf_puts(&body, MANIFEST_HEADER "\n");
    for (size_t i = 0; i < ds->count; i++) {
        const fs_item *it = &ds->items[i];
        const char *rel = it->path;
        if (rl) {
            if (strncmp(it->path, root, rl) != 0 || it->path[rl] != '/') {
                free(body.p);
                return fs_fail(msg, FS_ERR_INVALID, "%s is not under the manifest root %.*s",
                               it->path, (int)rl, root);
            }
            rel = it->path + rl + 1;
        }
        buf_field(&body, rel);
        buf_puts(&body, it->label ? ",1," : ",0,");
        buf_puts(&body, fs_item_kind_name(it->kind));
        buf_put(&body, ",", 1);
        buf_field(&body, it->source);
        buf_put(&body, ",", 1);
        buf_field(&body, it->group);
        buf_put(&body, ",", 1);
        buf_puts(&body, fs_split_name(it->split));
        buf_put(&body, "\n", 1);
    }
    if (body.oom) {
        free(body.p);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory formatting a manifest");
    }
    char hex[65];
    fs_err err = sha256_hex(body.p, body.len, hex, msg);
    buf out = {0};
    if (!err) {
        buf_puts(&out, MANIFEST_MAGIC);
        buf_puts(&out, hex);
        buf_put(&out, "\n", 1);
        buf_put(&out, body.p, body.len);
        if (out.oom) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory formatting a manifest");
    }
    free(body.p);
    if (err) {
        free(out.p);
        return err;
    }
    if (digest_hex) memcpy(digest_hex, hex, 65);
    *text = out.p;
    *len = out.len;
    return FS_OK;
}

fs_err fs_manifest_write(const fs_dataset *ds, const char *path, const char *root,
                         char digest_hex[65], fs_msg *msg) {
    char *text;
    size_t len;
    fs_err err = fs_manifest_format(ds, root, &text, &len, digest_hex, msg);
    if (err) return err;
    err = fs_write_file(path, text, len, msg);
    free(text);
    return err;
}

/* ---- reading ---- */

/* Parses one CSV record at *pp (unquoting in place into the same memory, which only shrinks),
 * storing up to MANIFEST_FIELDS field pointers. Returns the field count, -1 on a malformed
 * quote. Advances *pp past the record's line end. */
static int parse_record(char **pp, char *end, char **fields) {
    char *p = *pp;
    int n = 0;
    for (;;) {
        char *out = p, *start = p;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) return -1;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            if (p < end && *p != ',' && *p != '\n') return -1;
        } else {
            while (p < end && *p != ',' && *p != '\n') {
                if (*p == '"') return -1;
                out = ++p;
            }
        }
        char sep = p < end ? *p : '\n';
        *out = '\0'; /* safe: out <= p, and p points at a separator or the buffer's NUL */
        if (n < MANIFEST_FIELDS) fields[n] = start;
        n++;
        if (p < end) p++;
        if (sep == '\n') break;
    }
    *pp = p;
    return n;
}

fs_err fs_manifest_read(fs_dataset *ds, const char *path, const char *root, char digest_hex[65],
                        fs_msg *msg) {
    assert(ds && path);
    memset(ds, 0, sizeof *ds);
    uint8_t *data;
    size_t len;
    fs_err err = fs_read_file(path, MANIFEST_MAX_BYTES, &data, &len, msg);
    if (err) return err;
    char *text = (char *)data, *end = text + len;
    const size_t ml = strlen(MANIFEST_MAGIC);
    char *nl = memchr(text, '\n', len);
    if (!nl || (size_t)(nl - text) != ml + 64 || strncmp(text, MANIFEST_MAGIC, ml) != 0) {
        free(data);
        return fs_fail(msg, FS_ERR_FORMAT, "%s: not a fakescope manifest (first line must be \"%s<sha256>\")",
                       path, MANIFEST_MAGIC);
    }
    char want[65], got[65];
    memcpy(want, text + ml, 64);
    want[64] = '\0';
    char *body = nl + 1;
    if ((err = sha256_hex(body, (size_t)(end - body), got, msg))) {
        free(data);
        return err;
    }
    if (strcmp(want, got) != 0) {
        free(data);
        return fs_fail(msg, FS_ERR_FORMAT,
                       "%s: contents do not match the digest on its first line (edited or truncated?)",
                       path);
    }
    const size_t hl = strlen(MANIFEST_HEADER);
    if ((size_t)(end - body) < hl + 1 || strncmp(body, MANIFEST_HEADER "\n", hl + 1) != 0) {
        free(data);
        return fs_fail(msg, FS_ERR_FORMAT, "%s: line 2 must be \"%s\"", path, MANIFEST_HEADER);
    }
    const size_t rl = root_len(root);
    char *p = body + hl + 1;
    size_t line = 3;
    char *f[MANIFEST_FIELDS];
    char *joined = NULL;
    size_t joined_cap = 0;
    while (!err && p < end) {
        char *rec = p;
        int n = parse_record(&p, end, f);
        int label = -1, kind = -1, split = -1;
        if (n == MANIFEST_FIELDS) {
            label = strcmp(f[1], "0") == 0 ? 0 : strcmp(f[1], "1") == 0 ? 1 : -1;
            kind = strcmp(f[2], "image") == 0 ? FS_ITEM_IMAGE : strcmp(f[2], "video") == 0 ? FS_ITEM_VIDEO : -1;
            for (int s = 0; s < FS_SPLIT_COUNT; s++)
                if (strcmp(f[5], fs_split_name((fs_split)s)) == 0) split = s;
        }
        if (n != MANIFEST_FIELDS || label < 0 || kind < 0 || split < 0 || !*f[0] || !*f[3] ||
            !*f[4]) {
            err = fs_fail(msg, FS_ERR_FORMAT,
                          "%s line %zu: expected path,label(0|1),kind(image|video),source,group,"
                          "split(train|val|test), got \"%.60s\"",
                          path, line, rec);
            break;
        }
        size_t need = rl + 1 + strlen(f[0]) + 1;
        if (need > joined_cap) {
            char *q = realloc(joined, need);
            if (!q) {
                err = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            joined = q;
            joined_cap = need;
        }
        if (rl) snprintf(joined, need, "%.*s/%s", (int)rl, root, f[0]);
        else snprintf(joined, need, "%s", f[0]);
        fs_item it = {.label = label, .kind = (fs_item_kind)kind, .split = (fs_split)split};
        it.path = fs_pool_strdup(ds, joined);
        it.source = fs_pool_strdup(ds, f[3]);
        it.group = fs_pool_strdup(ds, f[4]);
        if (!it.path || !it.source || !it.group)
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading %s", path);
        else
            err = fs_dataset_push(ds, &it, msg);
        for (char *q = rec; q < p; q++) line += *q == '\n' && q != p - 1 ? 1 : 0;
        line++;
    }
    free(joined);
    free(data);
    if (err) {
        fs_dataset_free(ds);
        return err;
    }
    fs_dataset_sort(ds);
    if (digest_hex) memcpy(digest_hex, want, 65);
    return FS_OK;
}
