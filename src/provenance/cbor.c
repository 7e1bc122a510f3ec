/* cbor.c: the CBOR reader behind C2PA claims, assertions and COSE signatures
 * (include/fakescope/cbor.h). It is written here rather than taken from libcbor because the
 * input is hostile and the contract we need is small: libcbor builds a heap object per item
 * and its streaming decoder leaves depth limits to the caller, while this reader decodes into
 * one array, stops at a fixed depth, and checks every count and length against the bytes left
 * before looping or pointing at them. Each item consumes at least one input byte, so a
 * document has at most len items and the work is linear in the input.
 *
 * Recursion depth is bounded by limits.max_depth (64 by default), so "a million nested
 * arrays" ends with FS_ERR_LIMIT after 64 frames. */
#include "fakescope/cbor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const uint8_t *p;
    size_t len, pos;
    fs_cbor_item *items;
    size_t n, cap;
    fs_cbor_limits lim;
    fs_msg *msg;
} parser;

static fs_err new_item(parser *ps, uint32_t *out) {
    if (ps->n >= ps->lim.max_items)
        return fs_fail(ps->msg, FS_ERR_LIMIT, "CBOR has more than %zu items", ps->lim.max_items);
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        fs_cbor_item *it = realloc(ps->items, cap * sizeof *it);
        if (!it) return fs_fail(ps->msg, FS_ERR_NOMEM, "out of memory decoding CBOR");
        ps->items = it, ps->cap = cap;
    }
    memset(&ps->items[ps->n], 0, sizeof ps->items[ps->n]);
    ps->items[ps->n].first = ps->items[ps->n].next = FS_CBOR_NONE;
    *out = (uint32_t)ps->n++;
    return FS_OK;
}

static double half_to_double(unsigned h) {
    unsigned e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v;
    if (e == 0) v = ldexp(m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexp(m + 1024, (int)e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Reads the head at ps->pos: major type, additional info and argument. *indef is set for
 * additional info 31. */
static fs_err read_head(parser *ps, unsigned *major, unsigned *ai, uint64_t *arg, int *indef) {
    *major = *ai = 0, *arg = 0, *indef = 0;
    if (ps->pos >= ps->len) return fs_fail(ps->msg, FS_ERR_FORMAT, "truncated CBOR at byte %zu", ps->pos);
    uint8_t b = ps->p[ps->pos++];
    *major = b >> 5, *ai = b & 0x1f, *indef = 0, *arg = 0;
    if (*ai < 24) {
        *arg = *ai;
        return FS_OK;
    }
    if (*ai == 31) {
        *indef = 1;
        return FS_OK;
    }
    if (*ai > 27) return fs_fail(ps->msg, FS_ERR_FORMAT, "reserved CBOR head 0x%02x at byte %zu", b, ps->pos - 1);
    size_t nb = (size_t)1 << (*ai - 24);
    if (ps->len - ps->pos < nb)
        return fs_fail(ps->msg, FS_ERR_FORMAT, "truncated CBOR head at byte %zu", ps->pos - 1);
    for (size_t i = 0; i < nb; i++) *arg = *arg << 8 | ps->p[ps->pos++];
    return FS_OK;
}

static fs_err parse_item(parser *ps, unsigned depth, uint32_t *out);

/* Parses children of a container item until count items are read (keys and values count one
 * each) or, indefinite, until a break. */
static fs_err parse_children(parser *ps, uint32_t self, unsigned depth, uint64_t count, int indef,
                             int is_map) {
    uint32_t prev = FS_CBOR_NONE;
    uint64_t n = 0;
    for (;;) {
        if (indef) {
            if (ps->pos >= ps->len) return fs_fail(ps->msg, FS_ERR_FORMAT, "truncated CBOR container");
            if (ps->p[ps->pos] == 0xff) {
                ps->pos++;
                break;
            }
        } else if (n == count) {
            break;
        }
        uint32_t c = 0;
        fs_err e = parse_item(ps, depth + 1, &c);
        if (e) return e;
        if (prev == FS_CBOR_NONE) ps->items[self].first = c;
        else ps->items[prev].next = c;
        prev = c;
        n++;
    }
    if (is_map && (n & 1)) return fs_fail(ps->msg, FS_ERR_FORMAT, "CBOR map with a key and no value");
    uint64_t pairs = is_map ? n / 2 : n;
    if (pairs > UINT32_MAX) return fs_fail(ps->msg, FS_ERR_LIMIT, "CBOR container too large");
    ps->items[self].count = (uint32_t)pairs;
    return FS_OK;
}

static fs_err parse_item(parser *ps, unsigned depth, uint32_t *out) {
    if (depth > ps->lim.max_depth)
        return fs_fail(ps->msg, FS_ERR_LIMIT, "CBOR nested deeper than %u levels", ps->lim.max_depth);
    size_t start = ps->pos;
    unsigned major = 0, ai = 0;
    uint64_t arg = 0;
    int indef = 0;
    fs_err e = read_head(ps, &major, &ai, &arg, &indef);
    if (e) return e;
    uint32_t self = 0;
    if ((e = new_item(ps, &self))) return e;
    fs_cbor_item *it = &ps->items[self];
    it->off = start;
    switch (major) {
    case 0:
    case 1:
        if (indef) return fs_fail(ps->msg, FS_ERR_FORMAT, "indefinite CBOR integer at byte %zu", start);
        it->type = major == 0 ? FS_CBOR_UINT : FS_CBOR_NEGINT;
        it->u = arg;
        break;
    case 2:
    case 3:
        if (indef)
            return fs_fail(ps->msg, FS_ERR_UNSUPPORTED, "indefinite-length CBOR string at byte %zu", start);
        if (arg > ps->len - ps->pos)
            return fs_fail(ps->msg, FS_ERR_FORMAT,
                           "CBOR string of %llu bytes at byte %zu runs past the end (%zu left)",
                           (unsigned long long)arg, start, ps->len - ps->pos);
        it->type = major == 2 ? FS_CBOR_BYTES : FS_CBOR_TEXT;
        it->str = ps->p + ps->pos, it->len = (size_t)arg;
        ps->pos += (size_t)arg;
        break;
    case 4:
    case 5: {
        /* every element takes at least one byte: a count beyond what is left is a lie */
        uint64_t need = major == 5 ? arg * 2 : arg;
        if (!indef && (arg > ps->len || need > ps->len - ps->pos))
            return fs_fail(ps->msg, FS_ERR_FORMAT,
                           "CBOR %s of %llu entries at byte %zu runs past the end",
                           major == 4 ? "array" : "map", (unsigned long long)arg, start);
        it->type = major == 4 ? FS_CBOR_ARRAY : FS_CBOR_MAP;
        if ((e = parse_children(ps, self, depth, need, indef, major == 5))) return e;
        break;
    }
    case 6: {
        if (indef) return fs_fail(ps->msg, FS_ERR_FORMAT, "indefinite CBOR tag at byte %zu", start);
        it->type = FS_CBOR_TAG;
        it->u = arg;
        uint32_t c = 0;
        if ((e = parse_item(ps, depth + 1, &c))) return e;
        ps->items[self].first = c;
        ps->items[self].count = 1;
        break;
    }
    default: /* 7 */
        if (indef) return fs_fail(ps->msg, FS_ERR_FORMAT, "unexpected CBOR break at byte %zu", start);
        if (ai == 25) it->type = FS_CBOR_FLOAT, it->f = half_to_double((unsigned)arg);
        else if (ai == 26) {
            float f;
            uint32_t b32 = (uint32_t)arg;
            memcpy(&f, &b32, sizeof f);
            it->type = FS_CBOR_FLOAT, it->f = f;
        } else if (ai == 27) {
            double d;
            memcpy(&d, &arg, sizeof d);
            it->type = FS_CBOR_FLOAT, it->f = d;
        } else {
            it->type = FS_CBOR_SIMPLE, it->u = arg;
        }
        break;
    }
    ps->items[self].end = ps->pos;
    *out = self;
    return FS_OK;
}

fs_err fs_cbor_parse(const uint8_t *data, size_t len, const fs_cbor_limits *limits,
                     fs_cbor_doc *doc, fs_msg *msg) {
    memset(doc, 0, sizeof *doc);
    if (!data && len) return fs_fail(msg, FS_ERR_INVALID, "CBOR: no data");
    parser ps = {.p = data, .len = len, .msg = msg};
    ps.lim.max_depth = limits && limits->max_depth ? limits->max_depth : FS_CBOR_MAX_DEPTH_DEFAULT;
    ps.lim.max_items = limits && limits->max_items ? limits->max_items : FS_CBOR_MAX_ITEMS_DEFAULT;
    uint32_t root = 0;
    fs_err e = parse_item(&ps, 0, &root);
    if (!e && ps.pos != len)
        e = fs_fail(msg, FS_ERR_FORMAT, "%zu trailing bytes after the CBOR item", len - ps.pos);
    if (e) {
        free(ps.items);
        return e;
    }
    doc->items = ps.items, doc->n = ps.n, doc->data = data, doc->len = len;
    return FS_OK;
}

void fs_cbor_doc_free(fs_cbor_doc *doc) {
    if (!doc) return;
    free(doc->items);
    memset(doc, 0, sizeof *doc);
}

static int valid(const fs_cbor_doc *doc, uint32_t i) { return doc && i != FS_CBOR_NONE && i < doc->n; }

uint32_t fs_cbor_untag(const fs_cbor_doc *doc, uint32_t i) {
    while (valid(doc, i) && doc->items[i].type == FS_CBOR_TAG) i = doc->items[i].first;
    return valid(doc, i) ? i : FS_CBOR_NONE;
}

int fs_cbor_text_is(const fs_cbor_doc *doc, uint32_t i, const char *s) {
    if (!valid(doc, i) || doc->items[i].type != FS_CBOR_TEXT) return 0;
    size_t n = strlen(s);
    return doc->items[i].len == n && memcmp(doc->items[i].str, s, n) == 0;
}

const char *fs_cbor_text(const fs_cbor_doc *doc, uint32_t i, char *buf, size_t cap) {
    if (!cap) return buf;
    buf[0] = 0;
    if (!valid(doc, i) || doc->items[i].type != FS_CBOR_TEXT) return buf;
    size_t n = doc->items[i].len < cap - 1 ? doc->items[i].len : cap - 1;
    memcpy(buf, doc->items[i].str, n);
    buf[n] = 0;
    return buf;
}

int fs_cbor_int(const fs_cbor_doc *doc, uint32_t i, int64_t *out) {
    if (!valid(doc, i)) return -1;
    const fs_cbor_item *it = &doc->items[i];
    if (it->type == FS_CBOR_UINT && it->u <= INT64_MAX) return *out = (int64_t)it->u, 0;
    if (it->type == FS_CBOR_NEGINT && it->u <= INT64_MAX) return *out = -1 - (int64_t)it->u, 0;
    return -1;
}

uint32_t fs_cbor_map_get(const fs_cbor_doc *doc, uint32_t map, const char *key) {
    map = fs_cbor_untag(doc, map);
    if (!valid(doc, map) || doc->items[map].type != FS_CBOR_MAP) return FS_CBOR_NONE;
    for (uint32_t k = doc->items[map].first; k != FS_CBOR_NONE;) {
        uint32_t v = doc->items[k].next;
        if (v == FS_CBOR_NONE) break;
        if (fs_cbor_text_is(doc, k, key)) return v;
        k = doc->items[v].next;
    }
    return FS_CBOR_NONE;
}

uint32_t fs_cbor_map_get_int(const fs_cbor_doc *doc, uint32_t map, int64_t key) {
    map = fs_cbor_untag(doc, map);
    if (!valid(doc, map) || doc->items[map].type != FS_CBOR_MAP) return FS_CBOR_NONE;
    for (uint32_t k = doc->items[map].first; k != FS_CBOR_NONE;) {
        uint32_t v = doc->items[k].next;
        if (v == FS_CBOR_NONE) break;
        int64_t x;
        if (fs_cbor_int(doc, k, &x) == 0 && x == key) return v;
        k = doc->items[v].next;
    }
    return FS_CBOR_NONE;
}

uint32_t fs_cbor_array_at(const fs_cbor_doc *doc, uint32_t arr, uint32_t i) {
    arr = fs_cbor_untag(doc, arr);
    if (!valid(doc, arr) || doc->items[arr].type != FS_CBOR_ARRAY || i >= doc->items[arr].count)
        return FS_CBOR_NONE;
    uint32_t c = doc->items[arr].first;
    while (i-- && c != FS_CBOR_NONE) c = doc->items[c].next;
    return c;
}

size_t fs_cbor_put_head(uint8_t *out, unsigned major, uint64_t arg) {
    uint8_t m = (uint8_t)(major << 5);
    if (arg < 24) return out[0] = m | (uint8_t)arg, 1;
    int nb = arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffffu ? 4 : 8;
    out[0] = m | (uint8_t)(nb == 1 ? 24 : nb == 2 ? 25 : nb == 4 ? 26 : 27);
    for (int i = 0; i < nb; i++) out[1 + i] = (uint8_t)(arg >> (8 * (nb - 1 - i)));
    return 1 + (size_t)nb;
}
