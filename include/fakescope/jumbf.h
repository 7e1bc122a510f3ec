/* jumbf: a bounded reader of JUMBF (ISO/IEC 19566-5) box trees, the container of a C2PA
 * manifest store. Superboxes ('jumb') begin with a description box ('jumd': a 16-byte type
 * UUID, toggles, an optional label, id, signature and private box) followed by content boxes
 * ('cbor', 'json', 'bfdb', 'bidb', 'uuid', ... or nested superboxes).
 *
 * Every box length is checked against its parent before it is used; nesting is limited to
 * FS_JUMBF_MAX_DEPTH and the number of boxes to FS_JUMBF_MAX_BOXES.
 *
 * Ownership: fs_jumbf_parse fills a fs_jumbf_tree whose boxes array is malloc'd (release with
 * fs_jumbf_tree_free); boxes point into the caller's bytes, which must outlive the tree. */
#ifndef FAKESCOPE_JUMBF_H
#define FAKESCOPE_JUMBF_H

#include <stddef.h>
#include <stdint.h>

#include "fakescope/core.h"

#define FS_JUMBF_MAX_DEPTH 32
#define FS_JUMBF_MAX_BOXES 65536
#define FS_JUMBF_LABEL_MAX 256
#define FS_JUMBF_NONE UINT32_MAX

#define FS_JUMBF_TYPE(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define FS_JUMBF_JUMB FS_JUMBF_TYPE('j', 'u', 'm', 'b')
#define FS_JUMBF_JUMD FS_JUMBF_TYPE('j', 'u', 'm', 'd')

typedef struct fs_jumbf_box {
    uint32_t type;            /* TBox, big-endian four characters */
    const uint8_t *box;       /* the whole box, header included */
    size_t box_len;
    const uint8_t *payload;   /* after the header (LBox, TBox, XLBox) */
    size_t payload_len;
    uint32_t first, next;     /* children (superboxes only, after the description) and siblings */
    uint32_t parent;
    /* superboxes: their description */
    int is_super;
    uint8_t uuid[16];         /* content type (first 4 bytes name it, e.g. "c2pa", "c2ma", "cbor") */
    uint8_t toggles;
    char label[FS_JUMBF_LABEL_MAX]; /* "" when none (cut at FS_JUMBF_LABEL_MAX - 1 bytes) */
    const uint8_t *content;   /* the bytes after the description box: the content boxes */
    size_t content_len;
} fs_jumbf_box;

typedef struct fs_jumbf_tree {
    fs_jumbf_box *boxes; /* boxes[0] is the root box */
    size_t n;
} fs_jumbf_tree;

/* Parses one box spanning data[0, len) (normally the 'jumb' manifest store) and everything
 * inside it. Errors: FS_ERR_FORMAT (truncated or inconsistent lengths, superbox without a
 * description), FS_ERR_LIMIT (too deep, too many boxes), FS_ERR_NOMEM. *tree is zeroed on
 * failure. */
fs_err fs_jumbf_parse(const uint8_t *data, size_t len, fs_jumbf_tree *tree, fs_msg *msg);
void fs_jumbf_tree_free(fs_jumbf_tree *tree);

/* The child superbox of `parent` labelled `label`, or FS_JUMBF_NONE. */
uint32_t fs_jumbf_child(const fs_jumbf_tree *tree, uint32_t parent, const char *label);
/* The first content box of type `type` inside superbox `parent`, or FS_JUMBF_NONE. */
uint32_t fs_jumbf_content(const fs_jumbf_tree *tree, uint32_t parent, uint32_t type);
/* Resolves a JUMBF URI path ("c2pa.assertions/c2pa.hash.data" relative to manifest `base`,
 * or "/c2pa/<manifest>/..." from the root). FS_JUMBF_NONE when a part is missing. */
uint32_t fs_jumbf_resolve(const fs_jumbf_tree *tree, uint32_t base, const char *path);

#endif
