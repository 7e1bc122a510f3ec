/* image.c: the format-independent half of media/'s still-image support. It recognises a
 * format by its magic bytes, enforces the byte and pixel limits shared by all decoders, and
 * owns the small operations on decoded RGB8 images (allocation, crop, conversion to the float
 * input of a network, saving by file extension). The decoders themselves live in
 * image_jpeg.c, image_png.c and image_webp.c; resizing in resize.c. */
#include "media/image_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An image side is an int; this keeps w*h*3 and every row offset far from overflow. */
#define IMAGE_MAX_SIDE (1 << 20)
#define SAVE_JPEG_QUALITY 92

fs_image_limits fs_image_limits_default(void) {
    return (fs_image_limits){FS_IMAGE_MAX_BYTES_DEFAULT, FS_IMAGE_MAX_PIXELS_DEFAULT};
}

fs_image_format fs_image_sniff(const uint8_t *data, size_t len) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (!data) return FS_IMAGE_UNKNOWN;
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return FS_IMAGE_JPEG;
    if (len >= 8 && memcmp(data, png_magic, 8) == 0) return FS_IMAGE_PNG;
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return FS_IMAGE_WEBP;
    return FS_IMAGE_UNKNOWN;
}

const char *fs_image_format_name(fs_image_format f) {
    switch (f) {
    case FS_IMAGE_JPEG: return "JPEG";
    case FS_IMAGE_PNG: return "PNG";
    case FS_IMAGE_WEBP: return "WebP";
    case FS_IMAGE_UNKNOWN: break;
    }
    return "unknown";
}

fs_err fs_image_check_pixels(const char *format, int64_t w, int64_t h,
                             const fs_image_limits *limits, fs_msg *msg) {
    if (w <= 0 || h <= 0)
        return fs_fail(msg, FS_ERR_FORMAT, "%s header gives an empty image (%lld x %lld)",
                       format, (long long)w, (long long)h);
    /* Both factors are below 2^32 (they come from 16- or 32-bit header fields). */
    int64_t px = w * h;
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return fs_fail(msg, FS_ERR_LIMIT, "%s image is %lld x %lld, a side over %d pixels",
                       format, (long long)w, (long long)h, IMAGE_MAX_SIDE);
    if (px > limits->max_pixels)
        return fs_fail(msg, FS_ERR_LIMIT,
                       "%s image is %lld x %lld = %lld pixels, over the limit of %lld pixels",
                       format, (long long)w, (long long)h, (long long)px,
                       (long long)limits->max_pixels);
    return FS_OK;
}

fs_err fs_image_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                       fs_image *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    fs_image_limits def = fs_image_limits_default();
    if (!limits) limits = &def;
    if (!data || len == 0) return fs_fail(msg, FS_ERR_FORMAT, "empty input: not an image");
    if (len > limits->max_bytes)
        return fs_fail(msg, FS_ERR_LIMIT, "image is %zu bytes, over the limit of %zu bytes", len,
                       limits->max_bytes);
    fs_err err;
    switch (fs_image_sniff(data, len)) {
    case FS_IMAGE_JPEG: err = fs_jpeg_decode(data, len, limits, out, msg); break;
    case FS_IMAGE_PNG: err = fs_png_decode(data, len, limits, out, msg); break;
    case FS_IMAGE_WEBP: err = fs_webp_decode(data, len, limits, out, msg); break;
    default: return fs_fail(msg, FS_ERR_FORMAT, "not a JPEG, PNG or WebP image");
    }
    if (err) {
        assert(out->rgb == NULL);
        return err;
    }
    assert(out->rgb && out->w > 0 && out->h > 0);
    return FS_OK;
}

fs_err fs_image_load(const char *path, const fs_image_limits *limits, fs_image *out,
                     fs_msg *msg) {
    assert(path && out);
    memset(out, 0, sizeof *out);
    fs_image_limits def = fs_image_limits_default();
    if (!limits) limits = &def;
    uint8_t *data;
    size_t len;
    fs_err err = fs_read_file(path, limits->max_bytes, &data, &len, msg);
    if (err) return err; /* fs_read_file's messages already name the file */
    err = fs_image_decode(data, len, limits, out, msg);
    free(data);
    if (err) fs_msg_prefix(msg, "%s: ", path);
    return err;
}

fs_err fs_image_alloc(fs_image *img, int w, int h, fs_msg *msg) {
    assert(img);
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return fs_fail(msg, FS_ERR_INVALID, "bad image size %d x %d", w, h);
    size_t n = (size_t)w * (size_t)h * 3;
    img->rgb = malloc(n);
    if (!img->rgb) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %d x %d image", w, h);
    img->w = w;
    img->h = h;
    return FS_OK;
}

void fs_image_free(fs_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

fs_err fs_image_crop(const fs_image *src, int x, int y, int w, int h, fs_image *dst,
                     fs_msg *msg) {
    assert(src && dst);
    if (src == dst)
        return fs_fail(msg, FS_ERR_INVALID, "crop needs a destination other than its source");
    memset(dst, 0, sizeof *dst);
    if (!src->rgb) return fs_fail(msg, FS_ERR_INVALID, "cannot crop an empty image");
    /* 64-bit edges: x + w may not fit in an int. */
    int64_t x0 = x > 0 ? x : 0, y0 = y > 0 ? y : 0;
    int64_t x1 = (int64_t)x + w, y1 = (int64_t)y + h;
    if (x1 > src->w) x1 = src->w;
    if (y1 > src->h) y1 = src->h;
    if (w <= 0 || h <= 0 || x1 <= x0 || y1 <= y0)
        return fs_fail(msg, FS_ERR_INVALID,
                       "crop (%d, %d, %d x %d) does not overlap the %d x %d image", x, y, w, h,
                       src->w, src->h);
    int cw = (int)(x1 - x0), ch = (int)(y1 - y0);
    fs_err err = fs_image_alloc(dst, cw, ch, msg);
    if (err) return err;
    size_t row = (size_t)cw * 3;
    for (int r = 0; r < ch; r++)
        memcpy(dst->rgb + (size_t)r * row,
               src->rgb + (((size_t)(y0 + r) * (size_t)src->w) + (size_t)x0) * 3, row);
    return FS_OK;
}

void fs_image_to_float(const fs_image *img, float scale, float *dst) {
    assert(img && dst);
    size_t n = (size_t)img->w * (size_t)img->h * 3;
    const uint8_t *s = img->rgb;
    for (size_t i = 0; i < n; i++) dst[i] = (float)s[i] * scale;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

fs_err fs_image_save(const fs_image *img, const char *path, fs_msg *msg) {
    assert(img && path);
    uint8_t *buf = NULL;
    size_t len = 0;
    fs_err err;
    if (ends_with(path, ".png"))
        err = fs_image_encode_png(img, &buf, &len, msg);
    else if (ends_with(path, ".jpg") || ends_with(path, ".jpeg"))
        err = fs_image_encode_jpeg(img, SAVE_JPEG_QUALITY, &buf, &len, msg);
    else
        return fs_fail(msg, FS_ERR_INVALID, "%s: unknown image extension (use .png, .jpg or .jpeg)",
                       path);
    if (err) {
        fs_msg_prefix(msg, "%s: ", path);
        return err;
    }
    err = fs_write_file(path, buf, len, msg);
    free(buf);
    return err;
}
