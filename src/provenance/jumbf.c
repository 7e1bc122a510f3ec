/* jumbf.c: the JUMBF box-tree reader (include/fakescope/jumbf.h). A manifest store is a
 * 'jumb' superbox whose children are manifests, whose children are the assertion store, the
 * claim and the signature; the reader only knows boxes, the C2PA meaning lives in c2pa.c.
 * Boxes are read iteratively within a parent and recursively across levels, bounded by
 * FS_JUMBF_MAX_DEPTH. */
#include "fakescope/jumbf.h"

#include <stdlib.h>
#include <string.h>

typedef struct reader {
    fs_jumbf_box *boxes;
    size_t n, cap;
    fs_msg *msg;
} reader;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the header of the box at data[0, len): its total length and header size. */
static fs_err box_header(const uint8_t *data, size_t len, size_t *box_len, size_t *hdr,
                         uint32_t *type, fs_msg *msg) {
    if (len < 8) return fs_fail(msg, FS_ERR_FORMAT, "truncated JUMBF box header (%zu bytes)", len);
    uint32_t lbox = be32(data);
    *type = be32(data + 4);
    *hdr = 8;
    uint64_t total = lbox;
    if (lbox == 1) {
        if (len < 16) return fs_fail(msg, FS_ERR_FORMAT, "truncated JUMBF XLBox");
        total = (uint64_t)be32(data + 8) << 32 | be32(data + 12);
        *hdr = 16;
    } else if (lbox == 0) {
        total = len; /* to the end of the enclosing space */
    }
    if (total < *hdr) return fs_fail(msg, FS_ERR_FORMAT, "JUMBF box length %llu below its header", (unsigned long long)total);
    if (total > len)
        return fs_fail(msg, FS_ERR_FORMAT, "JUMBF box of %llu bytes runs past its container (%zu left)",
                       (unsigned long long)total, len);
    *box_len = (size_t)total;
    return FS_OK;
}

static fs_err add_box(reader *r, uint32_t *out) {
    if (r->n >= FS_JUMBF_MAX_BOXES)
        return fs_fail(r->msg, FS_ERR_LIMIT, "more than %d JUMBF boxes", FS_JUMBF_MAX_BOXES);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        fs_jumbf_box *b = realloc(r->boxes, cap * sizeof *b);
        if (!b) return fs_fail(r->msg, FS_ERR_NOMEM, "out of memory reading JUMBF");
        r->boxes = b, r->cap = cap;
    }
    memset(&r->boxes[r->n], 0, sizeof r->boxes[r->n]);
    r->boxes[r->n].first = r->boxes[r->n].next = r->boxes[r->n].parent = FS_JUMBF_NONE;
    *out = (uint32_t)r->n++;
    return FS_OK;
}

/* Parses the description box at the start of a superbox payload into b. */
static fs_err description(reader *r, uint32_t self, const uint8_t *p, size_t len, size_t *used) {
    size_t blen = 0, hdr = 0;
    uint32_t type = 0;
    fs_err e = box_header(p, len, &blen, &hdr, &type, r->msg);
    if (e) return e;
    if (type != FS_JUMBF_JUMD) return fs_fail(r->msg, FS_ERR_FORMAT, "JUMBF superbox without a description box");
    const uint8_t *d = p + hdr;
    size_t dlen = blen - hdr;
    if (dlen < 17) return fs_fail(r->msg, FS_ERR_FORMAT, "truncated JUMBF description box");
    fs_jumbf_box *b = &r->boxes[self];
    memcpy(b->uuid, d, 16);
    b->toggles = d[16];
    size_t pos = 17;
    if (b->toggles & 0x02) { /* label: NUL-terminated UTF-8 */
        const uint8_t *nul = memchr(d + pos, 0, dlen - pos);
        if (!nul) return fs_fail(r->msg, FS_ERR_FORMAT, "JUMBF label without its terminating NUL");
        size_t l = (size_t)(nul - (d + pos));
        size_t keep = l < FS_JUMBF_LABEL_MAX - 1 ? l : FS_JUMBF_LABEL_MAX - 1;
        memcpy(b->label, d + pos, keep);
        b->label[keep] = 0;
        pos += l + 1;
    }
    if (b->toggles & 0x04) {
        if (dlen - pos < 4) return fs_fail(r->msg, FS_ERR_FORMAT, "truncated JUMBF id");
        pos += 4;
    }
    if (b->toggles & 0x08) {
        if (dlen - pos < 32) return fs_fail(r->msg, FS_ERR_FORMAT, "truncated JUMBF signature");
        pos += 32;
    }
    *used = blen;
    return FS_OK;
}

static fs_err parse_box(reader *r, const uint8_t *p, size_t len, uint32_t parent, unsigned depth,
                        uint32_t *out, size_t *used);

static fs_err parse_box(reader *r, const uint8_t *p, size_t len, uint32_t parent, unsigned depth,
                        uint32_t *out, size_t *used) {
    if (depth > FS_JUMBF_MAX_DEPTH)
        return fs_fail(r->msg, FS_ERR_LIMIT, "JUMBF nested deeper than %d levels", FS_JUMBF_MAX_DEPTH);
    size_t blen = 0, hdr = 0;
    uint32_t type = 0;
    fs_err e = box_header(p, len, &blen, &hdr, &type, r->msg);
    if (e) return e;
    uint32_t self = 0;
    if ((e = add_box(r, &self))) return e;
    fs_jumbf_box *b = &r->boxes[self];
    b->type = type, b->box = p, b->box_len = blen, b->payload = p + hdr, b->payload_len = blen - hdr;
    b->parent = parent;
    *out = self, *used = blen;
    if (type != FS_JUMBF_JUMB) return FS_OK;
    r->boxes[self].is_super = 1;
    size_t dused = 0;
    if ((e = description(r, self, p + hdr, blen - hdr, &dused))) return e;
    const uint8_t *c = p + hdr + dused;
    size_t clen = blen - hdr - dused;
    r->boxes[self].content = c, r->boxes[self].content_len = clen;
    uint32_t prev = FS_JUMBF_NONE;
    size_t pos = 0;
    while (pos < clen) {
        uint32_t child = 0;
        size_t cused = 0;
        if ((e = parse_box(r, c + pos, clen - pos, self, depth + 1, &child, &cused))) return e;
        if (prev == FS_JUMBF_NONE) r->boxes[self].first = child;
        else r->boxes[prev].next = child;
        prev = child;
        pos += cused;
    }
    return FS_OK;
}

fs_err fs_jumbf_parse(const uint8_t *data, size_t len, fs_jumbf_tree *tree, fs_msg *msg) {
    memset(tree, 0, sizeof *tree);
    if (!data) return fs_fail(msg, FS_ERR_INVALID, "JUMBF: no data");
    reader r = {.msg = msg};
    uint32_t root = 0;
    size_t used = 0;
    fs_err e = parse_box(&r, data, len, FS_JUMBF_NONE, 0, &root, &used);
    if (e) {
        free(r.boxes);
        return e;
    }
    tree->boxes = r.boxes, tree->n = r.n;
    return FS_OK;
}

void fs_jumbf_tree_free(fs_jumbf_tree *tree) {
    if (!tree) return;
    free(tree->boxes);
    memset(tree, 0, sizeof *tree);
}

uint32_t fs_jumbf_child(const fs_jumbf_tree *tree, uint32_t parent, const char *label) {
    if (!tree || parent >= tree->n) return FS_JUMBF_NONE;
    for (uint32_t c = tree->boxes[parent].first; c != FS_JUMBF_NONE; c = tree->boxes[c].next)
        if (tree->boxes[c].is_super && !strcmp(tree->boxes[c].label, label)) return c;
    return FS_JUMBF_NONE;
}

uint32_t fs_jumbf_content(const fs_jumbf_tree *tree, uint32_t parent, uint32_t type) {
    if (!tree || parent >= tree->n) return FS_JUMBF_NONE;
    for (uint32_t c = tree->boxes[parent].first; c != FS_JUMBF_NONE; c = tree->boxes[c].next)
        if (tree->boxes[c].type == type) return c;
    return FS_JUMBF_NONE;
}

uint32_t fs_jumbf_resolve(const fs_jumbf_tree *tree, uint32_t base, const char *path) {
    if (!tree || !tree->n || !path) return FS_JUMBF_NONE;
    uint32_t cur = base;
    if (path[0] == '/') {
        cur = 0;
        path++;
        /* the first part names the root itself ("c2pa") */
        const char *slash = strchr(path, '/');
        size_t l = slash ? (size_t)(slash - path) : strlen(path);
        if (strlen(tree->boxes[0].label) != l || strncmp(tree->boxes[0].label, path, l) != 0) return FS_JUMBF_NONE;
        if (!slash) return 0;
        path = slash + 1;
    }
    char part[FS_JUMBF_LABEL_MAX];
    while (*path && cur != FS_JUMBF_NONE) {
        const char *slash = strchr(path, '/');
        size_t l = slash ? (size_t)(slash - path) : strlen(path);
        if (l >= sizeof part) return FS_JUMBF_NONE;
        memcpy(part, path, l);
        part[l] = 0;
        cur = fs_jumbf_child(tree, cur, part);
        path = slash ? slash + 1 : path + l;
    }
    return cur;
}
