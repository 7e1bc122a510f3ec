/* Unit tests of media/'s still images: decoders (JPEG, PNG, WebP), EXIF orientation, limits
 * and hostile input, crop, float conversion, encoders and resize. Every input is generated
 * here with the real libraries; the MesoNet images in the shared data are decoded when present. */
#include "fs_test.h"

#include "fakescope/image.h"
#include "media/image_internal.h"

#include <math.h>
#include <spng.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <webp/decode.h>
#include <webp/encode.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static fs_image make_image(int w, int h, uint8_t (*f)(int x, int y, int c)) {
    fs_image img;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&img, w, h, &msg), FS_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) img.rgb[((size_t)y * w + x) * 3 + c] = f(x, y, c);
    return img;
}

/* Smooth, so lossy codecs keep it close; different per channel, so a channel swap shows. */
static uint8_t gradient(int x, int y, int c) {
    return (uint8_t)(c == 0 ? x * 4 + 10 : c == 1 ? y * 5 + 20 : (x + y) * 2 + 30);
}

static uint8_t noise(int x, int y, int c) {
    uint32_t v = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)c * 83492791u;
    v ^= v >> 13;
    v *= 0x5bd1e995u;
    return (uint8_t)(v >> 24);
}

static int max_diff(const fs_image *a, const fs_image *b) {
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->h, b->h);
    int m = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h * 3; i++) {
        int d = abs((int)a->rgb[i] - (int)b->rgb[i]);
        if (d > m) m = d;
    }
    return m;
}

static const uint8_t *px(const fs_image *img, int x, int y) {
    return img->rgb + ((size_t)y * img->w + x) * 3;
}

static uint8_t *encode_jpeg_raw(const uint8_t *pixels, int w, int h, int pf, int subsamp,
                                size_t *len) {
    tjhandle tj = tjInitCompress();
    assert_non_null(tj);
    unsigned char *buf = NULL;
    unsigned long size = 0;
    assert_int_equal(tjCompress2(tj, pixels, w, 0, h, pf, &buf, &size, subsamp, 95, 0), 0);
    tjDestroy(tj);
    uint8_t *copy = malloc(size);
    memcpy(copy, buf, size);
    tjFree(buf);
    *len = size;
    return copy;
}

static uint32_t crc32_bytes(const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static fs_image resized(const fs_image *src, int w, int h);

/* ---- sniffing and names ----------------------------------------------------------------- */

static void test_sniff(void **state) {
    (void)state;
    const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0};
    const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    const uint8_t webp[] = "RIFF\x10\0\0\0WEBPVP8 ";
    const uint8_t riff_wav[] = "RIFF\x10\0\0\0WAVEfmt ";
    assert_int_equal(fs_image_sniff(jpeg, sizeof jpeg), FS_IMAGE_JPEG);
    assert_int_equal(fs_image_sniff(png, sizeof png), FS_IMAGE_PNG);
    assert_int_equal(fs_image_sniff(webp, 16), FS_IMAGE_WEBP);
    assert_int_equal(fs_image_sniff(riff_wav, 16), FS_IMAGE_UNKNOWN);
    assert_int_equal(fs_image_sniff(png, 7), FS_IMAGE_UNKNOWN); /* too short to be sure */
    assert_int_equal(fs_image_sniff((const uint8_t *)"GIF89a", 6), FS_IMAGE_UNKNOWN);
    assert_int_equal(fs_image_sniff((const uint8_t *)"BM\x36\0\0\0", 6), FS_IMAGE_UNKNOWN);
    assert_int_equal(fs_image_sniff(NULL, 0), FS_IMAGE_UNKNOWN);
    assert_string_equal(fs_image_format_name(FS_IMAGE_WEBP), "WebP");
    assert_string_equal(fs_image_format_name(FS_IMAGE_UNKNOWN), "unknown");
}

/* ---- round trips ------------------------------------------------------------------------- */

static void test_png_roundtrip(void **state) {
    (void)state;
    fs_image img = make_image(37, 23, noise), back;
    uint8_t *buf;
    size_t len;
    fs_msg msg;
    assert_int_equal(fs_image_encode_png(&img, &buf, &len, &msg), FS_OK);
    assert_int_equal(fs_image_sniff(buf, len), FS_IMAGE_PNG);
    assert_int_equal(fs_image_decode(buf, len, NULL, &back, &msg), FS_OK);
    assert_int_equal(max_diff(&img, &back), 0); /* lossless, even on noise */
    free(buf);
    fs_image_free(&img);
    fs_image_free(&back);
}

static void test_jpeg_roundtrip(void **state) {
    (void)state;
    fs_image img = make_image(50, 40, gradient), back;
    uint8_t *buf;
    size_t len;
    fs_msg msg;
    assert_int_equal(fs_image_encode_jpeg(&img, 95, &buf, &len, &msg), FS_OK);
    assert_int_equal(fs_image_sniff(buf, len), FS_IMAGE_JPEG);
    assert_int_equal(fs_image_decode(buf, len, NULL, &back, &msg), FS_OK);
    assert_true(max_diff(&img, &back) <= 6);
    free(buf);
    fs_image_free(&back);
    /* Low quality uses 4:2:0 and still decodes to the same size and roughly the same colours. */
    assert_int_equal(fs_image_encode_jpeg(&img, 40, &buf, &len, &msg), FS_OK);
    assert_int_equal(fs_image_decode(buf, len, NULL, &back, &msg), FS_OK);
    assert_true(max_diff(&img, &back) <= 24);
    free(buf);
    fs_image_free(&back);
    assert_int_equal(fs_image_encode_jpeg(&img, 0, &buf, &len, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_image_encode_jpeg(&img, 101, &buf, &len, &msg), FS_ERR_INVALID);
    assert_null(buf);
    fs_image_free(&img);
}

static void test_webp_roundtrip(void **state) {
    (void)state;
    fs_image img = make_image(45, 31, noise), smooth = make_image(45, 31, gradient), back;
    fs_msg msg;
    uint8_t *buf = NULL;
    size_t len = WebPEncodeLosslessRGB(img.rgb, img.w, img.h, img.w * 3, &buf);
    assert_true(len > 0);
    assert_int_equal(fs_image_sniff(buf, len), FS_IMAGE_WEBP);
    assert_int_equal(fs_image_decode(buf, len, NULL, &back, &msg), FS_OK);
    assert_int_equal(max_diff(&img, &back), 0);
    fs_image_free(&back);
    /* Truncated lossless data: an error naming the cause, no partial image. */
    assert_int_equal(fs_image_decode(buf, len / 2, NULL, &back, &msg), FS_ERR_FORMAT);
    assert_null(back.rgb);
    assert_non_null(strstr(msg.text, "WebP"));
    WebPFree(buf);

    len = WebPEncodeRGB(smooth.rgb, smooth.w, smooth.h, smooth.w * 3, 95, &buf);
    assert_true(len > 0);
    assert_int_equal(fs_image_decode(buf, len, NULL, &back, &msg), FS_OK);
    assert_true(max_diff(&smooth, &back) <= 16);
    fs_image_free(&back);
    /* Pixel limit from the header. */
    fs_image_limits lim = {len, 45 * 31 - 1};
    assert_int_equal(fs_image_decode(buf, len, &lim, &back, &msg), FS_ERR_LIMIT);
    assert_null(back.rgb);
    WebPFree(buf);
    fs_image_free(&img);
    fs_image_free(&smooth);
}

/* ---- PNG flavours, written with libspng ---------------------------------------------------- */

static uint8_t *spng_write(int w, int h, int depth, int color, const void *pixels, size_t n,
                           const struct spng_plte *plte, size_t *len) {
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    assert_non_null(ctx);
    struct spng_ihdr ihdr = {.width = (uint32_t)w, .height = (uint32_t)h,
                             .bit_depth = (uint8_t)depth, .color_type = (uint8_t)color};
    assert_int_equal(spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1), 0);
    assert_int_equal(spng_set_ihdr(ctx, &ihdr), 0);
    if (plte) assert_int_equal(spng_set_plte(ctx, (struct spng_plte *)plte), 0);
    assert_int_equal(spng_encode_image(ctx, pixels, n, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
    int err = 0;
    uint8_t *buf = spng_get_png_buffer(ctx, len, &err);
    assert_non_null(buf);
    spng_ctx_free(ctx);
    return buf;
}

static void test_png_flavours(void **state) {
    (void)state;
    enum { W = 19, H = 11 };
    fs_msg msg;
    fs_image out;
    size_t len;
    uint8_t *buf;

    /* 8-bit grayscale: R = G = B = the gray value. */
    uint8_t gray[W * H];
    for (int i = 0; i < W * H; i++) gray[i] = (uint8_t)(i * 7);
    buf = spng_write(W, H, 8, SPNG_COLOR_TYPE_GRAYSCALE, gray, sizeof gray, NULL, &len);
    assert_int_equal(fs_image_decode(buf, len, NULL, &out, &msg), FS_OK);
    assert_int_equal(out.w, W);
    assert_int_equal(out.h, H);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) assert_int_equal(out.rgb[i * 3 + c], gray[i]);
    fs_image_free(&out);
    free(buf);

    /* Palette: indices map through PLTE. */
    struct spng_plte plte = {.n_entries = 4};
    const uint8_t cols[4][3] = {{255, 0, 0}, {0, 200, 0}, {0, 0, 150}, {10, 20, 30}};
    for (int k = 0; k < 4; k++) {
        plte.entries[k].red = cols[k][0];
        plte.entries[k].green = cols[k][1];
        plte.entries[k].blue = cols[k][2];
    }
    uint8_t idx[W * H];
    for (int i = 0; i < W * H; i++) idx[i] = (uint8_t)(i % 4);
    buf = spng_write(W, H, 8, SPNG_COLOR_TYPE_INDEXED, idx, sizeof idx, &plte, &len);
    assert_int_equal(fs_image_decode(buf, len, NULL, &out, &msg), FS_OK);
    for (int i = 0; i < W * H; i++) assert_memory_equal(out.rgb + i * 3, cols[i % 4], 3);
    fs_image_free(&out);
    free(buf);

    /* 16-bit RGB: samples v * 257 (same high and low byte, so byte order cannot matter)
     * become v. */
    uint16_t rgb16[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb16[i] = (uint16_t)((i * 13 % 256) * 257);
    buf = spng_write(W, H, 16, SPNG_COLOR_TYPE_TRUECOLOR, rgb16, sizeof rgb16, NULL, &len);
    assert_int_equal(fs_image_decode(buf, len, NULL, &out, &msg), FS_OK);
    for (int i = 0; i < W * H * 3; i++) assert_int_equal(out.rgb[i], i * 13 % 256);
    fs_image_free(&out);
    free(buf);

    /* RGBA: colour kept, alpha dropped (even where alpha is 0). */
    uint8_t rgba[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        rgba[i * 4 + 0] = (uint8_t)i;
        rgba[i * 4 + 1] = (uint8_t)(255 - i);
        rgba[i * 4 + 2] = (uint8_t)(i * 3);
        rgba[i * 4 + 3] = (uint8_t)(i % 2 ? 0 : 128);
    }
    buf = spng_write(W, H, 8, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, rgba, sizeof rgba, NULL, &len);
    assert_int_equal(fs_image_decode(buf, len, NULL, &out, &msg), FS_OK);
    for (int i = 0; i < W * H; i++) assert_memory_equal(out.rgb + i * 3, rgba + i * 4, 3);
    fs_image_free(&out);
    free(buf);

    /* Gray + alpha, 8-bit. */
    uint8_t ga[W * H * 2];
    for (int i = 0; i < W * H; i++) ga[i * 2] = (uint8_t)(i + 40), ga[i * 2 + 1] = 7;
    buf = spng_write(W, H, 8, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, ga, sizeof ga, NULL, &len);
    assert_int_equal(fs_image_decode(buf, len, NULL, &out, &msg), FS_OK);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) assert_int_equal(out.rgb[i * 3 + c], (uint8_t)(i + 40));
    fs_image_free(&out);
    free(buf);
}

/* ---- JPEG colour models ------------------------------------------------------------------ */

static void test_jpeg_gray_and_cmyk(void **state) {
    (void)state;
    enum { W = 24, H = 16 };
    fs_msg msg;
    fs_image out;
    size_t len;

    uint8_t gray[W * H];
    for (int i = 0; i < W * H; i++) gray[i] = (uint8_t)(60 + (i % W) * 4);
    uint8_t *jpg = encode_jpeg_raw(gray, W, H, TJPF_GRAY, TJSAMP_GRAY, &len);
    assert_int_equal(fs_image_decode(jpg, len, NULL, &out, &msg), FS_OK);
    assert_int_equal(out.w, W);
    for (int i = 0; i < W * H; i++) {
        assert_int_equal(out.rgb[i * 3], out.rgb[i * 3 + 1]);
        assert_int_equal(out.rgb[i * 3], out.rgb[i * 3 + 2]);
        assert_true(abs(out.rgb[i * 3] - gray[i]) <= 4);
    }
    fs_image_free(&out);
    free(jpg);

    /* CMYK in libjpeg-turbo's (Adobe, inverted) convention: stored 255 = no ink. A flat
     * orange: R = C*K/255 etc. with C=255, M=165, Y=0, K=255 -> (255, 165, 0). */
    uint8_t cmyk[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        cmyk[i * 4 + 0] = 255;
        cmyk[i * 4 + 1] = 165;
        cmyk[i * 4 + 2] = 0;
        cmyk[i * 4 + 3] = i < W * H / 2 ? 255 : 128; /* bottom half darker */
    }
    jpg = encode_jpeg_raw(cmyk, W, H, TJPF_CMYK, TJSAMP_444, &len);
    assert_int_equal(fs_image_decode(jpg, len, NULL, &out, &msg), FS_OK);
    const uint8_t *top = px(&out, W / 2, 2), *bottom = px(&out, W / 2, H - 3);
    assert_true(abs(top[0] - 255) <= 4 && abs(top[1] - 165) <= 4 && top[2] <= 4);
    assert_true(abs(bottom[0] - 128) <= 4 && abs(bottom[1] - 83) <= 4 && bottom[2] <= 4);
    fs_image_free(&out);
    free(jpg);
}

static void test_jpeg_progressive_and_junk(void **state) {
    (void)state;
    fs_image img = make_image(40, 30, gradient), a, b;
    fs_msg msg;
    tjhandle tj = tjInitCompress();
    unsigned char *buf = NULL;
    unsigned long size = 0;
    assert_int_equal(tjCompress2(tj, img.rgb, img.w, 0, img.h, TJPF_RGB, &buf, &size,
                                 TJSAMP_444, 95, TJFLAG_PROGRESSIVE),
                     0);
    tjDestroy(tj);
    assert_int_equal(fs_image_decode(buf, size, NULL, &a, &msg), FS_OK);
    assert_true(max_diff(&img, &a) <= 6);
    /* Junk bytes between two segments: libjpeg warns and skips them; the pixels are intact,
     * so this is not an error. */
    size_t seg = 4 + ((size_t)buf[4] << 8 | buf[5]); /* end of the JFIF APP0 after SOI */
    assert_int_equal(buf[2], 0xFF);
    assert_int_equal(buf[3], 0xE0);
    uint8_t *junk = malloc(size + 3);
    memcpy(junk, buf, seg);
    memcpy(junk + seg, "abc", 3);
    memcpy(junk + seg + 3, buf + seg, size - seg);
    assert_int_equal(fs_image_decode(junk, size + 3, NULL, &b, &msg), FS_OK);
    assert_int_equal(max_diff(&a, &b), 0);
    /* Truncated progressive data is refused like baseline. */
    fs_image c;
    assert_int_equal(fs_image_decode(buf, size * 2 / 3, NULL, &c, &msg), FS_ERR_FORMAT);
    assert_null(c.rgb);
    free(junk);
    tjFree(buf);
    fs_image_free(&a);
    fs_image_free(&b);
    fs_image_free(&img);
}

/* ---- EXIF orientation -------------------------------------------------------------------- */

/* An APP1 Exif segment (marker included) whose IFD0 holds a Make tag and then Orientation. */
static size_t make_exif_app1(uint8_t *seg, int big, unsigned orientation) {
    uint8_t t[64];
    size_t n = 0;
#define P16(v) (big ? (t[n++] = (uint8_t)((v) >> 8), t[n++] = (uint8_t)(v)) \
                    : (t[n++] = (uint8_t)(v), t[n++] = (uint8_t)((v) >> 8)))
#define P32(v) (big ? (P16((v) >> 16), P16((v) & 0xFFFF)) : (P16((v) & 0xFFFF), P16((v) >> 16)))
    t[n++] = big ? 'M' : 'I';
    t[n++] = big ? 'M' : 'I';
    P16(42);
    P32(8);
    P16(2);                          /* two entries */
    P16(0x010F), P16(2), P32(4);     /* Make, ASCII, 4 bytes inline */
    t[n++] = 'C', t[n++] = 'a', t[n++] = 'm', t[n++] = 0;
    P16(0x0112), P16(3), P32(1);     /* Orientation, SHORT, 1 value */
    P16(orientation), P16(0);
    P32(0);                          /* no next IFD */
#undef P16
#undef P32
    size_t seglen = 2 + 6 + n;
    seg[0] = 0xFF, seg[1] = 0xE1, seg[2] = (uint8_t)(seglen >> 8), seg[3] = (uint8_t)seglen;
    memcpy(seg + 4, "Exif\0\0", 6);
    memcpy(seg + 10, t, n);
    return 2 + seglen;
}

/* The JPEG with the segment spliced in right after SOI. Caller frees. */
static uint8_t *with_segment(const uint8_t *jpg, size_t len, const uint8_t *seg, size_t slen,
                             size_t *out_len) {
    uint8_t *o = malloc(len + slen);
    memcpy(o, jpg, 2);
    memcpy(o + 2, seg, slen);
    memcpy(o + 2 + slen, jpg + 2, len - 2);
    *out_len = len + slen;
    return o;
}

enum { Q_RED, Q_GREEN, Q_BLUE, Q_WHITE };
static const uint8_t quad_rgb[4][3] = {{230, 20, 20}, {20, 230, 20}, {20, 20, 230},
                                       {235, 235, 235}};
/* Stored picture: top-left red, top-right green, bottom-left blue, bottom-right white. */
static uint8_t quadrants(int x, int y, int c) {
    int q = (y >= 16 ? 2 : 0) + (x >= 24 ? 1 : 0);
    return quad_rgb[q][c];
}

static void assert_colour(const uint8_t *p, int q) {
    for (int c = 0; c < 3; c++) {
        if (abs(p[c] - quad_rgb[q][c]) > 40)
            fail_msg("pixel (%d,%d,%d) is not quadrant colour %d", p[0], p[1], p[2], q);
    }
}

static void test_exif_orientation(void **state) {
    (void)state;
    fs_image img = make_image(48, 32, quadrants);
    uint8_t *jpg;
    size_t len;
    fs_msg msg;
    assert_int_equal(fs_image_encode_jpeg(&img, 95, &jpg, &len, &msg), FS_OK);
    /* Displayed corners (TL, TR, BL, BR) for each orientation, from the EXIF definitions. */
    static const int corners[9][4] = {
        {0},
        {Q_RED, Q_GREEN, Q_BLUE, Q_WHITE}, /* 1 as stored */
        {Q_GREEN, Q_RED, Q_WHITE, Q_BLUE}, /* 2 mirrored left-right */
        {Q_WHITE, Q_BLUE, Q_GREEN, Q_RED}, /* 3 rotated 180 */
        {Q_BLUE, Q_WHITE, Q_RED, Q_GREEN}, /* 4 flipped top-bottom */
        {Q_RED, Q_BLUE, Q_GREEN, Q_WHITE}, /* 5 transposed */
        {Q_BLUE, Q_RED, Q_WHITE, Q_GREEN}, /* 6 rotated 90 clockwise */
        {Q_WHITE, Q_GREEN, Q_BLUE, Q_RED}, /* 7 transversed */
        {Q_GREEN, Q_WHITE, Q_RED, Q_BLUE}, /* 8 rotated 90 counter-clockwise */
    };
    for (int big = 0; big <= 1; big++) {
        for (int o = 1; o <= 8; o++) {
            uint8_t seg[128];
            size_t slen = make_exif_app1(seg, big, (unsigned)o), elen;
            assert_int_equal(fs_exif_orientation(seg + 4, slen - 4), o);
            uint8_t *e = with_segment(jpg, len, seg, slen, &elen);
            assert_int_equal(fs_exif_jpeg_orientation(e, elen), o);
            fs_image out;
            assert_int_equal(fs_image_decode(e, elen, NULL, &out, &msg), FS_OK);
            assert_int_equal(out.w, o >= 5 ? 32 : 48);
            assert_int_equal(out.h, o >= 5 ? 48 : 32);
            int m = 3; /* away from edges, where JPEG blocks could smear */
            assert_colour(px(&out, m, m), corners[o][0]);
            assert_colour(px(&out, out.w - 1 - m, m), corners[o][1]);
            assert_colour(px(&out, m, out.h - 1 - m), corners[o][2]);
            assert_colour(px(&out, out.w - 1 - m, out.h - 1 - m), corners[o][3]);
            fs_image_free(&out);
            free(e);
        }
    }
    free(jpg);
    fs_image_free(&img);
}

static void test_exif_malformed(void **state) {
    (void)state;
    uint8_t seg[128];
    size_t slen = make_exif_app1(seg, 0, 6);
    const uint8_t *p = seg + 4;
    size_t n = slen - 4;
    assert_int_equal(fs_exif_orientation(p, n), 6);
    /* Every truncation of a valid block is handled and never reads past the end (ASan). */
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, p, k);
        int o = fs_exif_orientation(cut, k);
        assert_true(o == 1 || (o == 6 && k >= n - 6));
        free(cut);
    }
    uint8_t bad[128];
    memcpy(bad, p, n);
    bad[6] = 'X'; /* byte order */
    assert_int_equal(fs_exif_orientation(bad, n), 1);
    memcpy(bad, p, n);
    bad[10] = 0xF0, bad[11] = 0xFF, bad[12] = 0xFF, bad[13] = 0xFF; /* IFD offset far away */
    assert_int_equal(fs_exif_orientation(bad, n), 1);
    memcpy(bad, p, n);
    bad[14] = 0xFF, bad[15] = 0xFF; /* 65535 entries claimed */
    assert_int_equal(fs_exif_orientation(bad, n), 6); /* found before running out */
    slen = make_exif_app1(seg, 1, 9);                 /* out of range value */
    assert_int_equal(fs_exif_orientation(seg + 4, slen - 4), 1);
    slen = make_exif_app1(seg, 1, 0);
    assert_int_equal(fs_exif_orientation(seg + 4, slen - 4), 1);
    assert_int_equal(fs_exif_orientation(NULL, 0), 1);
    /* A JPEG whose APP1 length runs past the end: orientation 1, no read overrun. */
    const uint8_t j[] = {0xFF, 0xD8, 0xFF, 0xE1, 0x40, 0x00, 'E', 'x', 'i', 'f', 0, 0};
    assert_int_equal(fs_exif_jpeg_orientation(j, sizeof j), 1);
}

/* ---- shared MesoNet images ------------------------------------------------------------- */

static void test_shared_images(void **state) {
    (void)state;
    static const struct {
        const char *rel;
        int size;
    } files[] = {
        {"mesonet/test_images/df/df00204.jpg", 342},
        {"mesonet/test_images/df/df01254.jpg", 264},
        {"mesonet/test_images/real/real00240.jpg", 256},
        {"mesonet/test_images/real/real00772.jpg", 208},
        {"mesonet/reference/df_df00204.png", 256},
        {"mesonet/reference/df_df01254.png", 256},
        {"mesonet/reference/real_real00240.png", 256},
        {"mesonet/reference/real_real00772.png", 256},
        {"mesonet/reference/synthetic.png", 256},
    };
    int found = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char buf[1024];
        const char *path = fs_test_shared(files[i].rel, buf, sizeof buf);
        if (!path) continue;
        found++;
        fs_image img;
        fs_msg msg;
        fs_err err = fs_image_load(path, NULL, &img, &msg);
        if (err) fail_msg("%s", msg.text);
        assert_int_equal(img.w, files[i].size);
        assert_int_equal(img.h, files[i].size);
        /* A real photo is not flat: decoding produced content. */
        int lo = 255, hi = 0;
        for (size_t k = 0; k < (size_t)img.w * img.h * 3; k++) {
            if (img.rgb[k] < lo) lo = img.rgb[k];
            if (img.rgb[k] > hi) hi = img.rgb[k];
        }
        assert_true(hi - lo > 64);
        fs_image_free(&img);
    }
    if (!found) skip();
}

/* The MesoNet reference PNGs are the test JPEGs decoded and brought to 256 x 256 by another
 * implementation (PIL/OpenCV-style). Our decode must agree exactly where no resize was needed,
 * and our resize closely elsewhere, or the models would see different inputs. */
static void test_shared_reference_pixels(void **state) {
    (void)state;
    static const char *names[][2] = {
        {"mesonet/test_images/real/real00240.jpg", "mesonet/reference/real_real00240.png"},
        {"mesonet/test_images/df/df00204.jpg", "mesonet/reference/df_df00204.png"},
        {"mesonet/test_images/df/df01254.jpg", "mesonet/reference/df_df01254.png"},
        {"mesonet/test_images/real/real00772.jpg", "mesonet/reference/real_real00772.png"},
    };
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char b1[1024], b2[1024];
        const char *jp = fs_test_shared(names[i][0], b1, sizeof b1);
        const char *pp = fs_test_shared(names[i][1], b2, sizeof b2);
        if (!jp || !pp) continue;
        found++;
        fs_image j, p, r;
        fs_msg msg;
        assert_int_equal(fs_image_load(jp, NULL, &j, &msg), FS_OK);
        assert_int_equal(fs_image_load(pp, NULL, &p, &msg), FS_OK);
        r = resized(&j, p.w, p.h);
        double sum = 0;
        for (size_t k = 0; k < (size_t)p.w * p.h * 3; k++) sum += abs(r.rgb[k] - p.rgb[k]);
        double mean = sum / ((double)p.w * p.h * 3);
        if (j.w == p.w && j.h == p.h) assert_int_equal(max_diff(&r, &p), 0);
        else if (mean > 0.3) fail_msg("%s: mean difference %.3f", jp, mean);
        fs_image_free(&j);
        fs_image_free(&p);
        fs_image_free(&r);
    }
    if (!found) skip();
}

/* ---- hostile and wrong input ------------------------------------------------------------ */

static void expect_fail(const uint8_t *data, size_t len, const fs_image_limits *lim, fs_err want,
                        const char *needle) {
    fs_image out = {.w = 99, .h = 99, .rgb = (uint8_t *)1};
    fs_msg msg = {{0}};
    fs_err err = fs_image_decode(data, len, lim, &out, &msg);
    if (err != want)
        fail_msg("want %s, got %s: %s", fs_err_name(want), fs_err_name(err), msg.text);
    assert_null(out.rgb);
    assert_int_equal(out.w, 0);
    if (!strstr(msg.text, needle)) fail_msg("message \"%s\" lacks \"%s\"", msg.text, needle);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *text = "hello, this is not an image at all\n";
    const uint8_t gif[] = "GIF89a\x01\0\x01\0\x80\0\0";
    expect_fail((const uint8_t *)"", 0, NULL, FS_ERR_FORMAT, "empty");
    expect_fail(NULL, 0, NULL, FS_ERR_FORMAT, "empty");
    expect_fail((const uint8_t *)text, strlen(text), NULL, FS_ERR_FORMAT,
                "not a JPEG, PNG or WebP image");
    expect_fail(gif, sizeof gif - 1, NULL, FS_ERR_FORMAT, "not a JPEG, PNG or WebP image");
    expect_fail((const uint8_t *)"BM", 2, NULL, FS_ERR_FORMAT, "not a JPEG, PNG or WebP image");

    fs_image img = make_image(64, 48, noise);
    fs_msg msg;
    uint8_t *jpg, *png;
    size_t jlen, plen;
    assert_int_equal(fs_image_encode_jpeg(&img, 90, &jpg, &jlen, &msg), FS_OK);
    assert_int_equal(fs_image_encode_png(&img, &png, &plen, &msg), FS_OK);
    /* Cut in half: the header is intact, the pixels are not. */
    expect_fail(jpg, jlen / 2, NULL, FS_ERR_FORMAT, "JPEG");
    expect_fail(jpg, 3, NULL, FS_ERR_FORMAT, "JPEG");
    expect_fail(png, plen / 2, NULL, FS_ERR_FORMAT, "PNG");
    expect_fail(png, 20, NULL, FS_ERR_FORMAT, "PNG");
    /* A flipped byte in the PNG's compressed data breaks its CRC. */
    uint8_t *bent = malloc(plen);
    memcpy(bent, png, plen);
    bent[plen / 2] ^= 0x55;
    expect_fail(bent, plen, NULL, FS_ERR_FORMAT, "PNG");
    free(bent);

    /* Limits: bytes, then pixels (both numbers named). */
    fs_image_limits lim = {jlen - 1, FS_IMAGE_MAX_PIXELS_DEFAULT};
    expect_fail(jpg, jlen, &lim, FS_ERR_LIMIT, "bytes");
    lim = (fs_image_limits){FS_IMAGE_MAX_BYTES_DEFAULT, 64 * 48 - 1};
    expect_fail(jpg, jlen, &lim, FS_ERR_LIMIT, "3071");
    expect_fail(png, plen, &lim, FS_ERR_LIMIT, "3072");
    free(jpg);
    free(png);
    fs_image_free(&img);

    /* A PNG whose IHDR (with a valid CRC) claims 100000 x 100000 pixels, and nothing else. */
    uint8_t big[8 + 25] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13,
                           'I', 'H', 'D', 'R'};
    put_be32(big + 16, 100000);
    put_be32(big + 20, 100000);
    big[24] = 8, big[25] = 2, big[26] = 0, big[27] = 0, big[28] = 0;
    put_be32(big + 29, crc32_bytes(big + 12, 17));
    expect_fail(big, sizeof big, NULL, FS_ERR_LIMIT, "100000 x 100000");
    expect_fail(big, sizeof big, NULL, FS_ERR_LIMIT, "50000000");
    /* Past spng's side limit: still a limit message with the numbers. */
    put_be32(big + 16, 3000000);
    put_be32(big + 20, 2);
    put_be32(big + 29, crc32_bytes(big + 12, 17));
    expect_fail(big, sizeof big, NULL, FS_ERR_LIMIT, "3000000 x 2");
    expect_fail(big, sizeof big, NULL, FS_ERR_LIMIT, "side");
}

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Damaged copies of valid files (bytes overwritten, then often truncated) must decode to a
 * whole image or fail cleanly: a zeroed image and a message. Under ASan this is a small fuzz
 * run with a fixed seed. */
static void test_decode_mutations(void **state) {
    (void)state;
    fs_image img = make_image(48, 40, gradient);
    fs_msg msg;
    uint8_t *files[4];
    size_t lens[4];
    assert_int_equal(fs_image_encode_jpeg(&img, 80, &files[0], &lens[0], &msg), FS_OK);
    /* The same JPEG with an Exif block; its damage is aimed at the first bytes. */
    uint8_t seg[128];
    size_t slen = make_exif_app1(seg, 1, 6);
    files[3] = with_segment(files[0], lens[0], seg, slen, &lens[3]);
    assert_int_equal(fs_image_encode_png(&img, &files[1], &lens[1], &msg), FS_OK);
    uint8_t *webp = NULL;
    lens[2] = WebPEncodeRGB(img.rgb, img.w, img.h, img.w * 3, 80, &webp);
    assert_true(lens[2] > 0);
    files[2] = malloc(lens[2]);
    memcpy(files[2], webp, lens[2]);
    WebPFree(webp);

    uint32_t rng = 12345;
#define NEXT() lcg(&rng)
    int ok = 0, failed = 0;
    for (int f = 0; f < 4; f++) {
        for (int iter = 0; iter < 300; iter++) {
            size_t n = lens[f];
            uint8_t *d = malloc(n);
            memcpy(d, files[f], n);
            int flips = 1 + (int)(NEXT() % 8);
            for (int k = 0; k < flips; k++) {
                size_t at = NEXT() % (f == 3 ? 2 + slen : n);
                d[at] = (uint8_t)NEXT();
            }
            if (NEXT() % 3 == 0) n = 1 + NEXT() % n;
            fs_image out;
            msg.text[0] = 0;
            fs_err err = fs_image_decode(d, n, NULL, &out, &msg);
            if (err == FS_OK) {
                assert_non_null(out.rgb);
                assert_true(out.w > 0 && out.h > 0);
                ok++;
            } else {
                assert_null(out.rgb);
                assert_int_equal(out.w, 0);
                assert_true(strlen(msg.text) > 0);
                failed++;
            }
            fs_image_free(&out);
            free(d);
        }
        free(files[f]);
    }
#undef NEXT
    assert_true(failed > 0); /* the damage was seen at least sometimes */
    printf("mutations: %d decoded, %d refused\n", ok, failed);
    fs_image_free(&img);
}

static void test_load_errors(void **state) {
    (void)state;
    fs_image out;
    fs_msg msg;
    assert_int_equal(fs_image_load("/nonexistent/dir/face.jpg", NULL, &out, &msg),
                     FS_ERR_NOTFOUND);
    assert_null(out.rgb);
    assert_non_null(strstr(msg.text, "/nonexistent/dir/face.jpg"));
    char dir[] = "/tmp/fs_test_image_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(fs_image_load(dir, NULL, &out, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "directory"));
    assert_null(out.rgb);

    /* A text file: the message names the file and says what is wrong. */
    char path[256];
    snprintf(path, sizeof path, "%s/notes.jpg", dir);
    assert_int_equal(fs_write_file(path, "just text\n", 10, &msg), FS_OK);
    assert_int_equal(fs_image_load(path, NULL, &out, &msg), FS_ERR_FORMAT);
    assert_non_null(strstr(msg.text, path));
    assert_non_null(strstr(msg.text, "not a JPEG, PNG or WebP image"));
    unlink(path);

    /* Save by extension, load back. */
    fs_image img = make_image(30, 20, gradient);
    snprintf(path, sizeof path, "%s/a.PNG", dir);
    assert_int_equal(fs_image_save(&img, path, &msg), FS_OK);
    assert_int_equal(fs_image_load(path, NULL, &out, &msg), FS_OK);
    assert_int_equal(max_diff(&img, &out), 0);
    fs_image_free(&out);
    unlink(path);
    snprintf(path, sizeof path, "%s/a.jpeg", dir);
    assert_int_equal(fs_image_save(&img, path, &msg), FS_OK);
    assert_int_equal(fs_image_load(path, NULL, &out, &msg), FS_OK);
    assert_true(max_diff(&img, &out) <= 8);
    fs_image_free(&out);
    unlink(path);
    snprintf(path, sizeof path, "%s/a.gif", dir);
    assert_int_equal(fs_image_save(&img, path, &msg), FS_ERR_INVALID);
    assert_int_equal(access(path, F_OK), -1);
    fs_image_free(&img);
    rmdir(dir);
}

/* ---- alloc, crop, float ------------------------------------------------------------------ */

static void test_alloc_crop_float(void **state) {
    (void)state;
    fs_msg msg;
    fs_image img, c;
    assert_int_equal(fs_image_alloc(&img, 0, 5, &msg), FS_ERR_INVALID);
    assert_null(img.rgb);
    fs_image_free(&img); /* safe on a zeroed image */
    img = make_image(10, 8, noise);

    assert_int_equal(fs_image_crop(&img, 2, 3, 4, 2, &c, &msg), FS_OK);
    assert_int_equal(c.w, 4);
    assert_int_equal(c.h, 2);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++) assert_memory_equal(px(&c, x, y), px(&img, x + 2, y + 3), 3);
    fs_image_free(&c);
    /* Clipped at the top-left and bottom-right corners. */
    assert_int_equal(fs_image_crop(&img, -3, -2, 5, 4, &c, &msg), FS_OK);
    assert_int_equal(c.w, 2);
    assert_int_equal(c.h, 2);
    assert_memory_equal(px(&c, 1, 1), px(&img, 1, 1), 3);
    fs_image_free(&c);
    assert_int_equal(fs_image_crop(&img, 7, 6, 100, 100, &c, &msg), FS_OK);
    assert_int_equal(c.w, 3);
    assert_int_equal(c.h, 2);
    assert_memory_equal(px(&c, 2, 1), px(&img, 9, 7), 3);
    fs_image_free(&c);
    assert_int_equal(fs_image_crop(&img, 2147483000, 0, 2000, 5, &c, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_image_crop(&img, 0, 0, 2, 2, &img, &msg), FS_ERR_INVALID);
    assert_int_equal(img.w, 10);
    /* Empty intersections. */
    assert_int_equal(fs_image_crop(&img, 10, 0, 5, 5, &c, &msg), FS_ERR_INVALID);
    assert_null(c.rgb);
    assert_int_equal(fs_image_crop(&img, -5, 0, 5, 5, &c, &msg), FS_ERR_INVALID);
    assert_int_equal(fs_image_crop(&img, 0, 0, 0, 5, &c, &msg), FS_ERR_INVALID);
    assert_non_null(strstr(msg.text, "10 x 8"));

    float f[10 * 8 * 3];
    fs_image_to_float(&img, 1.0f / 255.0f, f);
    for (int i = 0; i < 10 * 8 * 3; i++) assert_float_equal(f[i], img.rgb[i] / 255.0f, 1e-7);
    assert_float_equal(f[3 * (8 * 10 - 1) + 2], px(&img, 9, 7)[2] / 255.0f, 1e-7); /* NHWC */
    fs_image_free(&img);
}

/* ---- resize --------------------------------------------------------------------------- */

static fs_image resized(const fs_image *src, int w, int h) {
    fs_image out;
    fs_msg msg;
    fs_err err = fs_image_resize(src, w, h, &out, &msg);
    if (err) fail_msg("%s", msg.text);
    assert_int_equal(out.w, w);
    assert_int_equal(out.h, h);
    return out;
}

static void test_resize_identity_and_flat(void **state) {
    (void)state;
    fs_image img = make_image(33, 21, noise);
    fs_image same = resized(&img, 33, 21);
    assert_int_equal(max_diff(&img, &same), 0);
    fs_image_free(&same);
    fs_image_free(&img);

    fs_image flat;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&flat, 57, 43, &msg), FS_OK);
    for (size_t i = 0; i < 57 * 43 * 3; i++) flat.rgb[i] = (uint8_t)(i % 3 == 0 ? 201 : i % 3 == 1 ? 7 : 255);
    static const int sizes[][2] = {{57, 43}, {200, 150}, {40, 30}, {28, 21}, {19, 14},
                                   {5, 3},   {1, 1},     {57, 10}, {3, 43},  {114, 7}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        fs_image r = resized(&flat, sizes[s][0], sizes[s][1]);
        for (size_t i = 0; i < (size_t)r.w * r.h; i++) {
            assert_int_equal(r.rgb[i * 3], 201);
            assert_int_equal(r.rgb[i * 3 + 1], 7);
            assert_int_equal(r.rgb[i * 3 + 2], 255);
        }
        fs_image_free(&r);
    }
    fs_image_free(&flat);
    fs_image out;
    fs_image one = make_image(1, 1, noise);
    assert_int_equal(fs_image_resize(&one, 0, 4, &out, &msg), FS_ERR_INVALID);
    assert_null(out.rgb);
    assert_int_equal(fs_image_resize(&one, 2, 2, &one, &msg), FS_ERR_INVALID);
    assert_non_null(one.rgb); /* untouched */
    fs_image big = resized(&one, 5, 4); /* 1 pixel enlarged: every pixel that colour */
    for (int i = 0; i < 20; i++) assert_memory_equal(big.rgb + 3 * i, one.rgb, 3);
    fs_image_free(&big);
    fs_image_free(&one);
}

static void test_resize_bilinear_by_hand(void **state) {
    (void)state;
    /* 2x2 -> 4x4, pixel centres aligned: along each axis the source positions are -0.25 (edge,
     * clamped), 0.25, 0.75, 1.25 (clamped), so a row a b becomes a, (3a+b)/4, (a+3b)/4, b. */
    fs_image src;
    fs_msg msg;
    assert_int_equal(fs_image_alloc(&src, 2, 2, &msg), FS_OK);
    const uint8_t v[2][2] = {{0, 80}, {160, 240}};
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++) memset(src.rgb + (y * 2 + x) * 3, v[y][x], 3);
    const uint8_t want[4][4] = {
        {0, 20, 60, 80},
        {40, 60, 100, 120},
        {120, 140, 180, 200},
        {160, 180, 220, 240},
    };
    fs_image r = resized(&src, 4, 4);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 3; c++) assert_int_equal(px(&r, x, y)[c], want[y][x]);
    fs_image_free(&r);
    fs_image_free(&src);
}

static void test_resize_area_block_means(void **state) {
    (void)state;
    fs_image src = make_image(4, 4, noise);
    fs_image r = resized(&src, 2, 2);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            for (int c = 0; c < 3; c++) {
                int sum = px(&src, 2 * x, 2 * y)[c] + px(&src, 2 * x + 1, 2 * y)[c] +
                          px(&src, 2 * x, 2 * y + 1)[c] + px(&src, 2 * x + 1, 2 * y + 1)[c];
                assert_int_equal(px(&r, x, y)[c], (sum + 2) / 4); /* rounded mean */
            }
    fs_image_free(&r);
    /* 9x6 -> 3x2 (3x): means of 3x3 blocks. */
    fs_image_free(&src);
    src = make_image(9, 6, noise);
    r = resized(&src, 3, 2);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++) sum += px(&src, 3 * x + dx, 3 * y + dy)[c];
                assert_true(abs(px(&r, x, y)[c] * 9 - sum) <= 5); /* within half a level */
            }
    fs_image_free(&r);
    fs_image_free(&src);
}

static uint8_t checker(int x, int y, int c) {
    (void)c;
    return ((x + y) & 1) ? 255 : 0;
}

static void test_resize_no_aliasing(void **state) {
    (void)state;
    /* A 1-pixel checkerboard shrunk 16x (and by an awkward 7.3x) is flat mid-grey; point
     * sampling or plain bilinear would give black and white. */
    fs_image src = make_image(256, 192, checker);
    fs_image r = resized(&src, 16, 12);
    for (size_t i = 0; i < 16 * 12 * 3; i++) assert_true(abs(r.rgb[i] - 128) <= 1);
    fs_image_free(&r);
    r = resized(&src, 35, 26);
    for (int y = 1; y < 25; y++)
        for (int x = 1; x < 34; x++) assert_true(abs(px(&r, x, y)[0] - 128) <= 20);
    fs_image_free(&r);
    fs_image_free(&src);
}

/* Straight from the definitions, in double precision, one pixel at a time. */
static double ref_axis_weight(int src, int dst, int i, int j) {
    double s = (double)src / dst;
    if (src == dst) return i == j;
    if (s >= 2.0) {
        double lo = fmax(i * s, j), hi = fmin((i + 1) * s, j + 1.0);
        return hi > lo ? (hi - lo) / s : 0.0;
    }
    double x = (i + 0.5) * s - 0.5;
    if (x < 0) x = 0;
    if (x > src - 1) x = src - 1;
    double d = fabs(x - j);
    return d < 1.0 ? 1.0 - d : 0.0;
}

static void test_resize_matches_reference(void **state) {
    (void)state;
    fs_image src = make_image(61, 47, noise);
    static const int sizes[][2] = {{100, 80}, {40, 30}, {33, 24}, {20, 15}, {13, 7}, {61, 20},
                                   {7, 47},   {150, 9}, {31, 46}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int W = sizes[s][0], H = sizes[s][1];
        fs_image r = resized(&src, W, H);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) {
                    double v = 0;
                    for (int sy = 0; sy < src.h; sy++) {
                        double wy = ref_axis_weight(src.h, H, y, sy);
                        if (wy == 0) continue;
                        for (int sx = 0; sx < src.w; sx++)
                            v += wy * ref_axis_weight(src.w, W, x, sx) * px(&src, sx, sy)[c];
                    }
                    if (fabs(px(&r, x, y)[c] - v) > 0.51 + 1e-3)
                        fail_msg("%dx%d at (%d,%d,%d): %d vs %.3f", W, H, x, y, c,
                                 px(&r, x, y)[c], v);
                }
        fs_image_free(&r);
    }
    fs_image_free(&src);
}

static uint8_t ramp_x(int x, int y, int c) {
    (void)y;
    return (uint8_t)(x * 250 / 59999 + c);
}

static uint8_t ramp_y(int x, int y, int c) {
    (void)x;
    return (uint8_t)(y * 250 / 59999 + c);
}

/* Shrinking by more than ~181x once gave weights whose independent rounding errors summed past
 * the largest weight, failing an assertion (found by tests/fuzz/fuzz_image). A 60000-pixel
 * ramp shrunk to 256 must give the area means, along either axis. */
static void test_resize_extreme_shrink(void **state) {
    (void)state;
    fs_image src = make_image(60000, 2, ramp_x);
    fs_image r = resized(&src, 256, 2);
    double s = 60000.0 / 256;
    for (int x = 0; x < 256; x++)
        for (int c = 0; c < 3; c++) {
            double v = 0;
            for (int j = (int)floor(x * s); j < (int)ceil((x + 1) * s) && j < 60000; j++)
                v += ref_axis_weight(60000, 256, x, j) * ramp_x(j, 0, c);
            if (fabs(px(&r, x, 1)[c] - v) > 1.0) fail_msg("x %d c %d: %d vs %.2f", x, c, px(&r, x, 1)[c], v);
        }
    fs_image_free(&r);
    fs_image_free(&src);
    src = make_image(2, 60000, ramp_y);
    r = resized(&src, 1, 200);
    s = 60000.0 / 200;
    for (int y = 0; y < 200; y++) {
        double v = 0;
        for (int j = (int)floor(y * s); j < (int)ceil((y + 1) * s) && j < 60000; j++)
            v += ref_axis_weight(60000, 200, y, j) * ramp_y(0, j, 2);
        if (fabs(px(&r, 0, y)[2] - v) > 1.0) fail_msg("y %d: %d vs %.2f", y, px(&r, 0, y)[2], v);
    }
    fs_image_free(&r);
    fs_image_free(&src);
}

static uint8_t ramp_y_small(int x, int y, int c) {
    return (uint8_t)(y * 200 / 399999 + x * 20 + c);
}

/* A 2 x 400000 image made 256 x 100 once needed a 600 MB intermediate (source rows x target
 * width; found by tests/fuzz/fuzz_image as a timeout); it is now resized through its
 * transpose, and must still give bilinear columns and area-averaged rows. */
static void test_resize_tall_to_wide(void **state) {
    (void)state;
    fs_image src = make_image(2, 400000, ramp_y_small);
    fs_image r = resized(&src, 256, 100);
    for (int y = 0; y < 100; y++)
        for (int x = 0; x < 256; x += 15)
            for (int c = 0; c < 3; c++) {
                double v = 0;
                for (int sx = 0; sx < 2; sx++) {
                    double wx = ref_axis_weight(2, 256, x, sx);
                    for (int j = y * 4000; j < (y + 1) * 4000; j++)
                        v += wx * ref_axis_weight(400000, 100, y, j) * ramp_y_small(sx, j, c);
                }
                if (fabs(px(&r, x, y)[c] - v) > 1.0)
                    fail_msg("(%d,%d,%d): %d vs %.2f", x, y, c, px(&r, x, y)[c], v);
            }
    fs_image_free(&r);
    fs_image_free(&src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_png_roundtrip),
        cmocka_unit_test(test_jpeg_roundtrip),
        cmocka_unit_test(test_webp_roundtrip),
        cmocka_unit_test(test_png_flavours),
        cmocka_unit_test(test_jpeg_gray_and_cmyk),
        cmocka_unit_test(test_jpeg_progressive_and_junk),
        cmocka_unit_test(test_exif_orientation),
        cmocka_unit_test(test_exif_malformed),
        cmocka_unit_test(test_shared_images),
        cmocka_unit_test(test_shared_reference_pixels),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_decode_mutations),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_alloc_crop_float),
        cmocka_unit_test(test_resize_identity_and_flat),
        cmocka_unit_test(test_resize_bilinear_by_hand),
        cmocka_unit_test(test_resize_area_block_means),
        cmocka_unit_test(test_resize_no_aliasing),
        cmocka_unit_test(test_resize_matches_reference),
        cmocka_unit_test(test_resize_extreme_shrink),
        cmocka_unit_test(test_resize_tall_to_wide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
