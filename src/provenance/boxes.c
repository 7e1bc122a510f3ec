/* boxes.c: a file's boxes as the C2PA box-hash binding (c2pa.hash.boxes) names them.
 *
 * The binding lists the file's boxes in order, by name, each with a hash over its bytes, and
 * one box "C2PA" for the manifest store that is never hashed. A reader must cut the file into
 * the same boxes as the signer did, so the names and ranges here are those of the reference
 * SDK (c2pa-rs, asset_handlers/jpeg_io.rs and png_io.rs):
 *
 *   JPEG: one box per marker segment, from its 0xFF to the end of its length; "SOI", "APPn",
 *         "DQT", "DHT", "SOFn", "DRI", "COM", "EOI", ...; "SOS" runs on over the entropy-coded
 *         data up to the first marker that is not a restart (RSTn) or a stuffed zero; each
 *         restart marker in it is listed too, as "RSTn" over its two bytes (inside the SOS
 *         range, as the SDK's segment reader reports them). The APP11 segments of the C2PA
 *         store (JPEG XT box instance whose first box is a 'c2pa' superbox, and the
 *         continuation segments with the same instance number) are the one box "C2PA".
 *         The list ends at EOI; bytes after it are in no box.
 *   PNG:  "PNGh" for the 8-byte signature, then one box per chunk by its type ("IHDR",
 *         "IDAT", ...; length, type, data and CRC), the 'caBX' chunk as "C2PA"; the list ends
 *         at IEND.
 *
 * Stricter than the SDK in one place: bytes between JPEG segments that are neither a marker
 * nor fill (0xFF) make the file unreadable here (FS_ERR_FORMAT), where the SDK's reader skips
 * them, because they would lie in no box and so be covered by no hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_internal.h"

typedef struct list {
    prov_box *b;
    size_t n, cap;
} list;

static fs_err add(list *l, const char *name, uint64_t start, uint64_t len, fs_msg *msg) {
    if (l->n == PROV_MAX_BOXES)
        return fs_fail(msg, FS_ERR_LIMIT, "more than %d boxes in the file", PROV_MAX_BOXES);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        prov_box *b = realloc(l->b, cap * sizeof *b);
        if (!b) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        l->b = b, l->cap = cap;
    }
    prov_box *b = &l->b[l->n++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->start = start, b->len = len;
    return FS_OK;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The name the SDK gives a JPEG marker; "" for markers it has no name for (named "M<hex>"). */
static void marker_name(uint8_t m, char out[PROV_BOX_NAME]) {
    if (m >= 0xe0 && m <= 0xef) snprintf(out, PROV_BOX_NAME, "APP%d", m - 0xe0);
    else if (m >= 0xd0 && m <= 0xd7) snprintf(out, PROV_BOX_NAME, "RST%d", m - 0xd0);
    else if (m >= 0xf0 && m <= 0xfd) snprintf(out, PROV_BOX_NAME, "JPG%d", m - 0xf0);
    else if (m == 0xc4) snprintf(out, PROV_BOX_NAME, "DHT");
    else if (m == 0xcc) snprintf(out, PROV_BOX_NAME, "DAC");
    else if (m == 0xc8) snprintf(out, PROV_BOX_NAME, "JPG");
    else if (m >= 0xc0 && m <= 0xcf) snprintf(out, PROV_BOX_NAME, "SOF%d", m - 0xc0);
    else if (m == 0xd8) snprintf(out, PROV_BOX_NAME, "SOI");
    else if (m == 0xd9) snprintf(out, PROV_BOX_NAME, "EOI");
    else if (m == 0xda) snprintf(out, PROV_BOX_NAME, "SOS");
    else if (m == 0xdb) snprintf(out, PROV_BOX_NAME, "DQT");
    else if (m == 0xdd) snprintf(out, PROV_BOX_NAME, "DRI");
    else if (m == 0xfe) snprintf(out, PROV_BOX_NAME, "COM");
    else snprintf(out, PROV_BOX_NAME, "M%02X", m);
}

static fs_err jpeg_boxes(const uint8_t *d, size_t len, list *l, fs_msg *msg) {
    fs_err e = add(l, "SOI", 0, 2, msg);
    size_t pos = 2;
    long c2pa = -1;            /* index of the C2PA box */
    uint8_t c2pa_en[2] = {0};  /* its JPEG XT box instance number */
    while (!e) {
        if (pos >= len) return fs_fail(msg, FS_ERR_FORMAT, "the JPEG ends at offset %zu before its EOI marker", pos);
        if (d[pos] != 0xff)
            return fs_fail(msg, FS_ERR_FORMAT, "byte 0x%02x at offset %zu is not a JPEG marker", d[pos], pos);
        size_t start = pos;
        while (pos < len && d[pos] == 0xff) pos++; /* fill bytes belong to the marker */
        if (pos >= len) return fs_fail(msg, FS_ERR_FORMAT, "the JPEG ends inside a marker at offset %zu", start);
        uint8_t m = d[pos++];
        char name[PROV_BOX_NAME];
        marker_name(m, name);
        if (m == 0x00 || m == 0xd8)
            return fs_fail(msg, FS_ERR_FORMAT, "marker 0x%02x at offset %zu is out of place", m, start);
        if (m == 0xd9) return add(l, name, start, pos - start, msg);
        if ((m >= 0xd0 && m <= 0xd7) || m == 0x01) { /* no length */
            e = add(l, name, start, pos - start, msg);
            continue;
        }
        if (len - pos < 2) return fs_fail(msg, FS_ERR_FORMAT, "the JPEG ends inside segment %s at offset %zu", name, start);
        size_t seg = (size_t)d[pos] << 8 | d[pos + 1];
        if (seg < 2 || seg > len - pos)
            return fs_fail(msg, FS_ERR_FORMAT, "segment %s at offset %zu has length %zu past the end of the file", name, start, seg);
        const uint8_t *data = d + pos + 2;
        size_t dl = seg - 2;
        pos += seg;
        if (m == 0xeb && dl > 16) {
            if (c2pa >= 0 && !memcmp(data + 2, c2pa_en, 2)) { /* a continuation of the store */
                l->b[c2pa].len = pos - l->b[c2pa].start;
                continue;
            }
            if (c2pa < 0 && dl >= 28 && !memcmp(data + 24, "c2pa", 4)) {
                c2pa = (long)l->n, memcpy(c2pa_en, data + 2, 2);
                e = add(l, "C2PA", start, pos - start, msg);
                continue;
            }
        }
        if (m != 0xda) {
            e = add(l, name, start, pos - start, msg);
            continue;
        }
        /* SOS: the entropy-coded data follows; restart markers are listed inside its range */
        size_t sos = l->n;
        e = add(l, name, start, 0, msg);
        while (!e) {
            if (pos >= len) return fs_fail(msg, FS_ERR_FORMAT, "the JPEG ends inside the scan that starts at offset %zu", start);
            if (d[pos] != 0xff) {
                pos++;
                continue;
            }
            if (pos + 1 >= len) return fs_fail(msg, FS_ERR_FORMAT, "the JPEG ends inside the scan that starts at offset %zu", start);
            uint8_t n = d[pos + 1];
            if (n == 0x00) {
                pos += 2;
            } else if (n >= 0xd0 && n <= 0xd7) {
                char rst[PROV_BOX_NAME];
                marker_name(n, rst);
                e = add(l, rst, pos, 2, msg);
                pos += 2;
            } else {
                break;
            }
        }
        if (!e) l->b[sos].len = pos - start;
    }
    return e;
}

static fs_err png_boxes(const uint8_t *d, size_t len, list *l, fs_msg *msg) {
    fs_err e = add(l, "PNGh", 0, 8, msg);
    size_t pos = 8;
    while (!e) {
        if (len - pos < 12) return fs_fail(msg, FS_ERR_FORMAT, "the PNG ends at offset %zu before its IEND chunk", pos);
        uint32_t n = be32(d + pos);
        const uint8_t *type = d + pos + 4;
        for (int i = 0; i < 4; i++)
            if (!((type[i] >= 'A' && type[i] <= 'Z') || (type[i] >= 'a' && type[i] <= 'z')))
                return fs_fail(msg, FS_ERR_FORMAT, "the PNG chunk at offset %zu has no type", pos);
        if (n > len - pos - 12)
            return fs_fail(msg, FS_ERR_FORMAT, "the PNG chunk at offset %zu runs past the end of the file", pos);
        char name[PROV_BOX_NAME];
        if (!memcmp(type, "caBX", 4)) snprintf(name, sizeof name, "C2PA");
        else memcpy(name, type, 4), name[4] = '\0';
        e = add(l, name, pos, (uint64_t)n + 12, msg);
        pos += (size_t)n + 12;
        if (!memcmp(type, "IEND", 4)) break;
    }
    return e;
}

fs_err prov_box_map(const uint8_t *data, size_t len, prov_box **out, size_t *n, fs_msg *msg) {
    *out = NULL;
    *n = 0;
    list l = {0};
    fs_err e;
    if (len >= 2 && data[0] == 0xff && data[1] == 0xd8) e = jpeg_boxes(data, len, &l, msg);
    else if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) e = png_boxes(data, len, &l, msg);
    else e = fs_fail(msg, FS_ERR_UNSUPPORTED, "box hashes are defined here for JPEG and PNG files only");
    if (e) {
        free(l.b);
        return e;
    }
    *out = l.b;
    *n = l.n;
    return FS_OK;
}
