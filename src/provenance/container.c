/* container.c: finds the C2PA manifest store and the unsigned metadata in the three image
 * containers fakescope reads. JPEG carries the store in APP11 segments (JPEG XT boxes, ISO
 * 19566-5: CI "JP", box instance En, sequence Z, then the box, whose LBox/TBox header is
 * repeated in every continuation segment), XMP and Exif in APP1; PNG in a 'caBX' chunk beside
 * tEXt/iTXt/zTXt; WebP in a RIFF 'C2PA' chunk beside 'XMP ' and 'EXIF'.
 *
 * Only structure is read here, never pixels, and every length is checked against what is left
 * of the file. A damaged file yields what could be found; the verdict on a damaged store is
 * left to the validation (store_error). */
#include "provenance/prov_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static const uint8_t xmp_id[] = "http://ns.adobe.com/xap/1.0/"; /* followed by its NUL */
static const uint8_t exif_id[6] = {'E', 'x', 'i', 'f', 0, 0};

/* ---- JPEG ---- */
typedef struct app11_group {
    unsigned en;
    uint32_t next_z;
    uint8_t *buf;
    size_t len, cap;
    int is_c2pa, broken;
} app11_group;

static int append(app11_group *g, const uint8_t *p, size_t n) {
    if (g->len + n > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n) cap *= 2;
        uint8_t *b = realloc(g->buf, cap);
        if (!b) return -1;
        g->buf = b, g->cap = cap;
    }
    memcpy(g->buf + g->len, p, n);
    g->len += n;
    return 0;
}

/* One APP11 payload (after the length field). Returns -1 on allocation failure. */
static int jpeg_app11(app11_group *groups, size_t *n_groups, const uint8_t *p, size_t n,
                      char *err, size_t errcap) {
    if (n < 16 || p[0] != 'J' || p[1] != 'P') return 0; /* not a JPEG XT box segment */
    unsigned en = (unsigned)p[2] << 8 | p[3];
    uint32_t z = be32(p + 4);
    const uint8_t *box = p + 8;
    size_t blen = n - 8;
    app11_group *g = NULL;
    for (size_t i = 0; i < *n_groups; i++)
        if (groups[i].en == en) g = &groups[i];
    if (!g) {
        if (*n_groups == PROV_MAX_JUMBF_GROUPS) return 0;
        g = &groups[(*n_groups)++];
        memset(g, 0, sizeof *g);
        g->en = en, g->next_z = 1;
        /* a manifest store: 'jumb' whose description has the c2pa UUID prefix */
        if (blen >= 8 + 8 + 16 && be32(box + 4) == 0x6a756d62 && memcmp(box + 16, "c2pa", 4) == 0)
            g->is_c2pa = 1;
    }
    if (g->broken) return 0;
    if (z != g->next_z) {
        g->broken = 1;
        snprintf(err, errcap, "C2PA APP11 segments out of order (box %u: segment %u where %u was expected)",
                 en, (unsigned)z, (unsigned)g->next_z);
        return 0;
    }
    g->next_z++;
    if (z > 1) { /* continuation: skip the repeated LBox/TBox (and XLBox) */
        size_t hdr = be32(box) == 1 ? 16 : 8;
        if (blen < hdr) {
            g->broken = 1;
            snprintf(err, errcap, "truncated C2PA APP11 continuation segment");
            return 0;
        }
        box += hdr, blen -= hdr;
    }
    return append(g, box, blen);
}

static fs_err read_jpeg(const uint8_t *d, size_t len, prov_container *c, fs_msg *msg) {
    app11_group groups[PROV_MAX_JUMBF_GROUPS];
    size_t n_groups = 0;
    fs_err e = FS_OK;
    size_t pos = 2;
    while (pos + 4 <= len) {
        if (d[pos] != 0xff) break; /* lost sync: stop, keep what was found */
        uint8_t m = d[pos + 1];
        if (m == 0xff) { /* fill byte */
            pos++;
            continue;
        }
        if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
            pos += 2;
            continue;
        }
        if (m == 0xd9 || m == 0xda) break; /* metadata precedes the scan */
        size_t seg = (size_t)d[pos + 2] << 8 | d[pos + 3];
        if (seg < 2 || pos + 2 + seg > len) break;
        const uint8_t *p = d + pos + 4;
        size_t n = seg - 2;
        if (m == 0xeb) {
            if (jpeg_app11(groups, &n_groups, p, n, c->store_error, sizeof c->store_error)) {
                e = fs_fail(msg, FS_ERR_NOMEM, "out of memory reading C2PA segments");
                break;
            }
        } else if (m == 0xe1) {
            if (!c->xmp && n > sizeof xmp_id && memcmp(p, xmp_id, sizeof xmp_id) == 0)
                c->xmp = p + sizeof xmp_id, c->xmp_len = n - sizeof xmp_id;
            else if (!c->exif && n > sizeof exif_id && memcmp(p, exif_id, sizeof exif_id) == 0)
                c->exif = p + sizeof exif_id, c->exif_len = n - sizeof exif_id;
        }
        pos += 2 + seg;
    }
    for (size_t i = 0; i < n_groups; i++) {
        if (!e && groups[i].is_c2pa && !groups[i].broken && !c->store) {
            c->store = groups[i].buf, c->store_len = groups[i].len;
            groups[i].buf = NULL;
        }
        free(groups[i].buf);
    }
    if (!e && !c->store && c->store_error[0] == 0) {
        for (size_t i = 0; i < n_groups; i++)
            if (groups[i].is_c2pa) snprintf(c->store_error, sizeof c->store_error, "damaged C2PA APP11 segments");
    }
    return e;
}

/* ---- PNG ---- */
static void png_text(prov_container *c, const uint8_t type[4], const uint8_t *p, size_t n) {
    if (c->n_text == PROV_MAX_TEXT) return;
    const uint8_t *nul = memchr(p, 0, n < 80 ? n : 80);
    if (!nul) return;
    size_t klen = (size_t)(nul - p);
    prov_text *t = &c->text[c->n_text];
    memset(t, 0, sizeof *t);
    memcpy(t->key, p, klen);
    t->key[klen] = 0;
    size_t off = klen + 1;
    if (!memcmp(type, "tEXt", 4)) {
        t->value = p + off, t->len = n - off;
    } else if (!memcmp(type, "zTXt", 4)) {
        t->compressed = 1;
        t->value = p + off, t->len = n - off;
    } else { /* iTXt: flag, method, language\0, translated keyword\0, text */
        if (n - off < 2) return;
        t->compressed = p[off] != 0;
        off += 2;
        for (int k = 0; k < 2; k++) {
            const uint8_t *z = memchr(p + off, 0, n - off);
            if (!z) return;
            off = (size_t)(z - p) + 1;
        }
        t->value = p + off, t->len = n - off;
        if (!t->compressed && !strcmp(t->key, "XML:com.adobe.xmp") && !c->xmp)
            c->xmp = t->value, c->xmp_len = t->len;
    }
    c->n_text++;
}

static fs_err read_png(const uint8_t *d, size_t len, prov_container *c, fs_msg *msg) {
    size_t pos = 8;
    while (len - pos >= 12) {
        size_t n = be32(d + pos);
        const uint8_t *type = d + pos + 4;
        if (n > len - pos - 12) {
            break; /* truncated chunk: keep what was found */
        }
        const uint8_t *p = d + pos + 8;
        if (!memcmp(type, "caBX", 4) && !c->store) {
            c->store = malloc(n ? n : 1);
            if (!c->store) return fs_fail(msg, FS_ERR_NOMEM, "out of memory reading the C2PA chunk");
            memcpy(c->store, p, n);
            c->store_len = n;
        } else if (!memcmp(type, "tEXt", 4) || !memcmp(type, "zTXt", 4) || !memcmp(type, "iTXt", 4)) {
            png_text(c, type, p, n);
        } else if (!memcmp(type, "eXIf", 4) && !c->exif) {
            c->exif = p, c->exif_len = n;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        pos += 12 + n;
    }
    return FS_OK;
}

/* ---- WebP (RIFF) ---- */
static fs_err read_webp(const uint8_t *d, size_t len, prov_container *c, fs_msg *msg) {
    size_t riff_end = (size_t)le32(d + 4) + 8;
    if (riff_end > len) riff_end = len;
    size_t pos = 12;
    while (pos < riff_end && riff_end - pos >= 8) {
        size_t n = le32(d + pos + 4);
        const uint8_t *p = d + pos + 8;
        if (n > riff_end - pos - 8) break;
        if (!memcmp(d + pos, "C2PA", 4) && !c->store) {
            c->store = malloc(n ? n : 1);
            if (!c->store) return fs_fail(msg, FS_ERR_NOMEM, "out of memory reading the C2PA chunk");
            memcpy(c->store, p, n);
            c->store_len = n;
        } else if (!memcmp(d + pos, "XMP ", 4) && !c->xmp) {
            c->xmp = p, c->xmp_len = n;
        } else if (!memcmp(d + pos, "EXIF", 4) && !c->exif) {
            if (n > sizeof exif_id && !memcmp(p, exif_id, sizeof exif_id))
                c->exif = p + sizeof exif_id, c->exif_len = n - sizeof exif_id;
            else
                c->exif = p, c->exif_len = n;
        }
        pos += 8 + n + (n & 1);
    }
    return FS_OK;
}

fs_err prov_container_read(const uint8_t *data, size_t len, prov_container *c, fs_msg *msg) {
    memset(c, 0, sizeof *c);
    fs_err e;
    if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        c->mime = "image/jpeg";
        e = read_jpeg(data, len, c, msg);
    } else if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) {
        c->mime = "image/png";
        e = read_png(data, len, c, msg);
    } else if (len >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4)) {
        c->mime = "image/webp";
        e = read_webp(data, len, c, msg);
    } else {
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "not a JPEG, PNG or WebP file");
    }
    if (e) prov_container_free(c);
    return e;
}

void prov_container_free(prov_container *c) {
    if (!c) return;
    free(c->store);
    memset(c, 0, sizeof *c);
}
