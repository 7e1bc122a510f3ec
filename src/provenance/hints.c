/* hints.c: unsigned generator metadata, read beside the Content Credentials and reported as
 * unsigned: anyone can write or strip these, so they are hints, never evidence.
 *
 * XMP is scanned, not parsed: a property is found as an attribute (Name="value") or a simple
 * element (<Name>value</Name>) by its qualified name, which is how every generator we know
 * writes DigitalSourceType and CreatorTool. No entity expansion, no allocation, one pass
 * bounded by the packet length. EXIF is read as far as the ASCII tags of IFD0. */
#include "provenance/prov_internal.h"

#include <string.h>

/* Copies value bytes into out, decoding the five predefined XML entities. */
static void xml_unescape(const uint8_t *v, size_t n, char *out, size_t cap) {
    static const struct { const char *ent; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap;) {
        if (v[i] == '&') {
            size_t k;
            for (k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                size_t el = strlen(ents[k].ent);
                if (n - i >= el && !memcmp(v + i, ents[k].ent, el)) {
                    out[o++] = ents[k].c;
                    i += el;
                    break;
                }
            }
            if (k < sizeof ents / sizeof ents[0]) continue;
        }
        out[o++] = (char)v[i++];
    }
    out[o] = 0;
}

static const uint8_t *find(const uint8_t *h, size_t hn, const char *needle, size_t nn) {
    if (nn == 0 || hn < nn) return NULL;
    return memmem(h, hn, needle, nn);
}

int prov_xmp_get(const uint8_t *xmp, size_t len, const char *name, char *out, size_t cap) {
    if (!xmp || !name || !cap) return 0;
    out[0] = 0;
    size_t nl = strlen(name);
    if (nl == 0 || nl > 128) return 0;
    const uint8_t *p = xmp, *end = xmp + len;
    while (p < end) {
        const uint8_t *hit = find(p, (size_t)(end - p), name, nl);
        if (!hit) return 0;
        const uint8_t *after = hit + nl;
        const uint8_t before = hit > xmp ? hit[-1] : ' ';
        p = after;
        /* the name must stand alone: preceded by space or '<', followed by '=' or '>' */
        if (before == '<') {
            if (after >= end || (*after != '>' && *after != ' ')) continue;
            const uint8_t *gt = memchr(after, '>', (size_t)(end - after));
            if (!gt || gt[-1] == '/') continue;
            const uint8_t *v = gt + 1;
            const uint8_t *lt = memchr(v, '<', (size_t)(end - v));
            if (!lt) return 0;
            if ((size_t)(end - lt) > 1 && lt[1] == '/') { /* simple value */
                xml_unescape(v, (size_t)(lt - v), out, cap);
                return 1;
            }
            /* a structured value (rdf:Alt/Seq/Bag): take the first rdf:li */
            const uint8_t *li = find(lt, (size_t)(end - lt), "<rdf:li", 7);
            if (!li) return 0;
            const uint8_t *lgt = memchr(li, '>', (size_t)(end - li));
            if (!lgt) return 0;
            const uint8_t *lend = memchr(lgt + 1, '<', (size_t)(end - lgt - 1));
            if (!lend) return 0;
            xml_unescape(lgt + 1, (size_t)(lend - lgt - 1), out, cap);
            return 1;
        }
        if (before == ' ' || before == '\t' || before == '\n' || before == '\r') {
            const uint8_t *q = after;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
            if (q >= end || *q != '=') continue;
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
            if (q >= end || (*q != '"' && *q != '\'')) continue;
            uint8_t quote = *q++;
            const uint8_t *close = memchr(q, quote, (size_t)(end - q));
            if (!close) return 0;
            xml_unescape(q, (size_t)(close - q), out, cap);
            return 1;
        }
    }
    return 0;
}

static unsigned rd16(const uint8_t *p, int big) { return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0]; }
static uint32_t rd32(const uint8_t *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int prov_exif_ascii(const uint8_t *t, size_t len, unsigned tag, char *out, size_t cap) {
    if (!t || !cap) return 0;
    out[0] = 0;
    if (len < 8) return 0;
    int big;
    if (t[0] == 'M' && t[1] == 'M') big = 1;
    else if (t[0] == 'I' && t[1] == 'I') big = 0;
    else return 0;
    if (rd16(t + 2, big) != 42) return 0;
    uint32_t ifd = rd32(t + 4, big);
    if (ifd > len - 2) return 0;
    unsigned n = rd16(t + ifd, big);
    if ((size_t)n * 12 > len - ifd - 2) return 0;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = t + ifd + 2 + (size_t)i * 12;
        if (rd16(e, big) != tag || rd16(e + 2, big) != 2 /* ASCII */) continue;
        uint32_t count = rd32(e + 4, big);
        const uint8_t *v;
        if (count <= 4) v = e + 8;
        else {
            uint32_t off = rd32(e + 8, big);
            if (off > len || count > len - off) return 0;
            v = t + off;
        }
        size_t k = 0;
        while (k < count && k + 1 < cap && v[k]) out[k] = (char)v[k], k++;
        out[k] = 0;
        return k > 0;
    }
    return 0;
}
