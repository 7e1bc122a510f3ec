/* cbor: a bounded reader of CBOR (RFC 8949) as C2PA claims, assertions and COSE signatures
 * use it. The whole input is decoded into one array of items that point into the caller's
 * bytes (no copies), with explicit limits on nesting depth and item count, and every length
 * checked against the bytes that remain before it is trusted, so hostile input costs at most
 * O(len) time and memory.
 *
 * Supported: unsigned and negative integers, byte and text strings of definite length,
 * arrays and maps of definite or indefinite length, tags, simple values and floats.
 * Indefinite-length strings (never written by C2PA encoders) are refused as unsupported.
 *
 * Ownership: fs_cbor_parse fills a fs_cbor_doc whose items array is malloc'd; the caller
 * releases it with fs_cbor_doc_free. Items point into the input buffer, which must outlive
 * the document. */
#ifndef FAKESCOPE_CBOR_H
#define FAKESCOPE_CBOR_H

#include <stddef.h>
#include <stdint.h>

#include "fakescope/core.h"

typedef enum fs_cbor_type {
    FS_CBOR_UINT,   /* u = value */
    FS_CBOR_NEGINT, /* value = -1 - u */
    FS_CBOR_BYTES,  /* str, len */
    FS_CBOR_TEXT,   /* str, len (UTF-8, not NUL-terminated, not validated) */
    FS_CBOR_ARRAY,  /* count elements, first/next chain */
    FS_CBOR_MAP,    /* count pairs, children alternate key, value */
    FS_CBOR_TAG,    /* u = tag number, one child */
    FS_CBOR_SIMPLE, /* u = 20 false, 21 true, 22 null, 23 undefined, others */
    FS_CBOR_FLOAT   /* f */
} fs_cbor_type;

#define FS_CBOR_NONE UINT32_MAX /* "no item" index */

typedef struct fs_cbor_item {
    fs_cbor_type type;
    uint32_t first; /* first child (arrays, maps, tags) or FS_CBOR_NONE */
    uint32_t next;  /* next sibling or FS_CBOR_NONE */
    uint32_t count; /* array elements or map pairs */
    uint64_t u;
    double f;
    const uint8_t *str;
    size_t len;
    size_t off, end; /* the item's encoded bytes: data[off, end) */
} fs_cbor_item;

typedef struct fs_cbor_limits {
    unsigned max_depth;  /* nesting of arrays, maps and tags (default 64) */
    size_t max_items;    /* items in one document (default 1 << 20) */
} fs_cbor_limits;
#define FS_CBOR_MAX_DEPTH_DEFAULT 64
#define FS_CBOR_MAX_ITEMS_DEFAULT ((size_t)1 << 20)

typedef struct fs_cbor_doc {
    fs_cbor_item *items; /* items[0] is the root */
    size_t n;
    const uint8_t *data;
    size_t len;
} fs_cbor_doc;

/* Decodes exactly one item spanning all of data[0, len). limits may be NULL (defaults).
 * Errors: FS_ERR_FORMAT (malformed, truncated, trailing bytes), FS_ERR_LIMIT (too deep or too
 * many items), FS_ERR_UNSUPPORTED (indefinite-length strings), FS_ERR_NOMEM. On failure *doc
 * is zeroed. */
fs_err fs_cbor_parse(const uint8_t *data, size_t len, const fs_cbor_limits *limits,
                     fs_cbor_doc *doc, fs_msg *msg);
void fs_cbor_doc_free(fs_cbor_doc *doc);

/* ---- lookups (all return FS_CBOR_NONE / 0 when absent or of another type) ---- */
#define FS_CBOR_AT(doc, i) (&(doc)->items[(i)])
/* The value of a map entry whose key is the text `key`. */
uint32_t fs_cbor_map_get(const fs_cbor_doc *doc, uint32_t map, const char *key);
/* The value of a map entry whose key is the integer `key`. */
uint32_t fs_cbor_map_get_int(const fs_cbor_doc *doc, uint32_t map, int64_t key);
/* The i-th element of an array (O(i)). */
uint32_t fs_cbor_array_at(const fs_cbor_doc *doc, uint32_t arr, uint32_t i);
/* Follows tags down to the tagged item. */
uint32_t fs_cbor_untag(const fs_cbor_doc *doc, uint32_t item);
/* 1 when the item is a text string equal to s. */
int fs_cbor_text_is(const fs_cbor_doc *doc, uint32_t item, const char *s);
/* A text item copied into buf (NUL-terminated, cut at cap-1 bytes); "" when not text. */
const char *fs_cbor_text(const fs_cbor_doc *doc, uint32_t item, char *buf, size_t cap);
/* An integer item (unsigned or negative, within int64); 0 on success, -1 otherwise. */
int fs_cbor_int(const fs_cbor_doc *doc, uint32_t item, int64_t *out);

/* ---- writing: the heads a caller needs to build small structures (COSE Sig_structure) ---- */
/* Writes the head of major type `major` with argument `arg` into out (at least 9 bytes) and
 * returns its length. */
size_t fs_cbor_put_head(uint8_t *out, unsigned major, uint64_t arg);

#endif
