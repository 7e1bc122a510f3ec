/* exif.c: the one piece of EXIF fakescope needs, the orientation tag, and the pixel shuffle
 * that applies it. Phones store pixels as the sensor saw them and record in EXIF how to turn
 * them; a face detector and a classifier must see the picture upright, as a viewer shows it.
 *
 * The parser reads attacker-supplied bytes, so every offset is checked against the segment
 * length before it is used, in size_t arithmetic that cannot wrap. Anything unexpected means
 * "no orientation" (1): a broken Exif block must not make an otherwise readable image fail. */
#include "media/image_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define EXIF_TAG_ORIENTATION 0x0112
#define TIFF_TYPE_SHORT 3
#define TIFF_TYPE_LONG 4
#define TIFF_HEADER_LEN 8
#define TIFF_ENTRY_LEN 12
#define JPEG_MARKER_APP1 0xE1
#define JPEG_MARKER_SOS 0xDA
#define JPEG_MARKER_EOI 0xD9

static const uint8_t exif_id[6] = {'E', 'x', 'i', 'f', 0, 0};

static unsigned rd16(const uint8_t *p, int big) {
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int fs_exif_orientation(const uint8_t *app1, size_t len) {
    if (!app1 || len < sizeof exif_id + TIFF_HEADER_LEN) return 1;
    if (memcmp(app1, exif_id, sizeof exif_id) != 0) return 1;
    const uint8_t *tiff = app1 + sizeof exif_id;
    size_t tlen = len - sizeof exif_id;

    int big;
    if (tiff[0] == 'I' && tiff[1] == 'I') big = 0;
    else if (tiff[0] == 'M' && tiff[1] == 'M') big = 1;
    else return 1;
    if (rd16(tiff + 2, big) != 42) return 1;

    /* IFD0 holds the orientation; its offset is relative to the TIFF header. */
    size_t ifd = rd32(tiff + 4, big);
    if (ifd < TIFF_HEADER_LEN || ifd > tlen || tlen - ifd < 2) return 1;
    size_t count = rd16(tiff + ifd, big);
    size_t entries = ifd + 2;
    for (size_t i = 0; i < count; i++) {
        size_t e = entries + i * TIFF_ENTRY_LEN; /* count < 65536: no overflow */
        if (e > tlen || tlen - e < TIFF_ENTRY_LEN) return 1;
        if (rd16(tiff + e, big) != EXIF_TAG_ORIENTATION) continue;
        unsigned type = rd16(tiff + e + 2, big);
        uint32_t n = rd32(tiff + e + 4, big);
        if (n < 1) return 1;
        /* A value this small sits in the entry itself, left-aligned in the 4-byte field. */
        uint32_t v;
        if (type == TIFF_TYPE_SHORT) v = rd16(tiff + e + 8, big);
        else if (type == TIFF_TYPE_LONG) v = rd32(tiff + e + 8, big);
        else return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

int fs_exif_jpeg_orientation(const uint8_t *jpeg, size_t len) {
    if (!jpeg || len < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) return 1;
    /* Walk the marker segments that precede the first scan; Exif must be among them. */
    size_t pos = 2;
    while (pos + 4 <= len) {
        if (jpeg[pos] != 0xFF) return 1;
        uint8_t marker = jpeg[pos + 1];
        if (marker == 0xFF) { /* fill byte before a marker */
            pos++;
            continue;
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) { /* no length field */
            pos += 2;
            continue;
        }
        if (marker == JPEG_MARKER_SOS || marker == JPEG_MARKER_EOI) return 1;
        size_t seglen = (size_t)jpeg[pos + 2] << 8 | jpeg[pos + 3];
        if (seglen < 2 || seglen > len - pos - 2) return 1;
        const uint8_t *payload = jpeg + pos + 4;
        size_t plen = seglen - 2;
        if (marker == JPEG_MARKER_APP1 && plen >= sizeof exif_id &&
            memcmp(payload, exif_id, sizeof exif_id) == 0)
            return fs_exif_orientation(payload, plen); /* the first Exif block rules */
        pos += 2 + seglen;
    }
    return 1;
}

fs_err fs_image_apply_orientation(fs_image *img, int orientation, fs_msg *msg) {
    assert(img && img->rgb && img->w > 0 && img->h > 0);
    if (orientation <= 1 || orientation > 8) return FS_OK;
    const int64_t w = img->w, h = img->h;
    int ow = orientation >= 5 ? img->h : img->w;
    int oh = orientation >= 5 ? img->w : img->h;
    fs_image out = {0};
    fs_err err = fs_image_alloc(&out, ow, oh, msg);
    if (err) return err;

    /* Output pixel (x, y) reads input pixel start(y) + x * step, both in pixels; the table
     * follows the EXIF definitions (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90
     * clockwise, 7 transverse, 8 rotate 90 counter-clockwise). */
    for (int64_t y = 0; y < oh; y++) {
        int64_t sx, sy, step;
        switch (orientation) {
        case 2: sx = w - 1, sy = y, step = -1; break;
        case 3: sx = w - 1, sy = h - 1 - y, step = -1; break;
        case 4: sx = 0, sy = h - 1 - y, step = 1; break;
        case 5: sx = y, sy = 0, step = w; break;
        case 6: sx = y, sy = h - 1, step = -w; break;
        case 7: sx = w - 1 - y, sy = h - 1, step = -w; break;
        default: sx = w - 1 - y, sy = 0, step = w; break; /* 8 */
        }
        /* An index, not a pointer: stepping past either end after the last pixel is fine. */
        int64_t i = sy * w + sx;
        uint8_t *d = out.rgb + y * ow * 3;
        for (int x = 0; x < ow; x++, d += 3, i += step) {
            const uint8_t *s = img->rgb + i * 3;
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    fs_image_free(img);
    *img = out;
    return FS_OK;
}
