/* image_png.c: PNG in and out through libspng. Every PNG flavour (palette, grayscale with or
 * without alpha, 16-bit, interlaced) comes out as RGB8; alpha is dropped, not composited, as
 * PIL's convert("RGB") and OpenCV's imread do, so pixels match what the models were trained on.
 * spng's own limits bound the header and the ancillary chunks; our pixel limit is checked from
 * the IHDR before the image buffer is allocated. */
#include "media/image_internal.h"

#include <assert.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>

#define PNG_MAX_SIDE (1u << 20)          /* spng refuses a larger IHDR outright */
#define PNG_MAX_CHUNK ((size_t)4 << 20)  /* one ancillary chunk (text, ICC, ...) */
#define PNG_MAX_CACHE ((size_t)16 << 20) /* all ancillary chunks kept while decoding */
#define PNG_IHDR_WIDTH_OFFSET 16         /* signature (8) + length (4) + "IHDR" (4) */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

fs_err fs_png_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                     fs_image *out, fs_msg *msg) {
    assert(data && limits && out && !out->rgb);
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return fs_fail(msg, FS_ERR_NOMEM, "cannot start the PNG decoder");
    fs_err err = FS_OK;
    uint8_t *rgba = NULL;
    int rc;
    if ((rc = spng_set_image_limits(ctx, PNG_MAX_SIDE, PNG_MAX_SIDE)) != 0 ||
        (rc = spng_set_chunk_limits(ctx, PNG_MAX_CHUNK, PNG_MAX_CACHE)) != 0 ||
        (rc = spng_set_png_buffer(ctx, data, len)) != 0) {
        err = fs_fail(msg, FS_ERR_INTERNAL, "PNG decoder setup failed: %s", spng_strerror(rc));
        goto done;
    }
    struct spng_ihdr ihdr;
    rc = spng_get_ihdr(ctx, &ihdr);
    if ((rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT) &&
        len >= PNG_IHDR_WIDTH_OFFSET + 8) {
        /* Over spng's side limit: report the size from the raw header in our own words. */
        err = fs_image_check_pixels("PNG", be32(data + PNG_IHDR_WIDTH_OFFSET),
                                    be32(data + PNG_IHDR_WIDTH_OFFSET + 4), limits, msg);
        if (!err) err = fs_fail(msg, FS_ERR_LIMIT, "PNG side is over %u pixels", PNG_MAX_SIDE);
        goto done;
    }
    if (rc != 0) {
        err = fs_fail(msg, FS_ERR_FORMAT, "corrupt PNG header: %s", spng_strerror(rc));
        goto done;
    }
    err = fs_image_check_pixels("PNG", ihdr.width, ihdr.height, limits, msg);
    if (err) goto done;
    err = fs_image_alloc(out, (int)ihdr.width, (int)ihdr.height, msg);
    if (err) goto done;

    size_t npx = (size_t)ihdr.width * ihdr.height, need;
    /* RGB8 straight into the image when spng can produce it for this flavour, else RGBA8. */
    if (spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &need) == 0) {
        assert(need == npx * 3);
        rc = spng_decode_image(ctx, out->rgb, need, SPNG_FMT_RGB8, 0);
    } else {
        rc = spng_decoded_image_size(ctx, SPNG_FMT_RGBA8, &need);
        if (rc == 0) {
            assert(need == npx * 4);
            rgba = malloc(need);
            if (!rgba) {
                err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %u x %u PNG",
                              ihdr.width, ihdr.height);
                goto done;
            }
            rc = spng_decode_image(ctx, rgba, need, SPNG_FMT_RGBA8, 0);
        }
    }
    if (rc != 0) {
        err = fs_fail(msg, FS_ERR_FORMAT, "corrupt or truncated PNG: %s", spng_strerror(rc));
        goto done;
    }
    if (rgba)
        for (size_t i = 0; i < npx; i++) memcpy(out->rgb + i * 3, rgba + i * 4, 3);

done:
    free(rgba);
    spng_ctx_free(ctx);
    if (err) fs_image_free(out);
    return err;
}

fs_err fs_image_encode_png(const fs_image *img, uint8_t **out, size_t *len, fs_msg *msg) {
    assert(img && out && len);
    *out = NULL;
    *len = 0;
    if (!img->rgb || img->w <= 0 || img->h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "cannot encode an empty image as PNG");
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return fs_fail(msg, FS_ERR_NOMEM, "cannot start the PNG encoder");
    struct spng_ihdr ihdr = {
        .width = (uint32_t)img->w,
        .height = (uint32_t)img->h,
        .bit_depth = 8,
        .color_type = SPNG_COLOR_TYPE_TRUECOLOR,
    };
    size_t size = (size_t)img->w * (size_t)img->h * 3;
    int rc;
    if ((rc = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1)) != 0 ||
        (rc = spng_set_ihdr(ctx, &ihdr)) != 0 ||
        (rc = spng_encode_image(ctx, img->rgb, size, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE)) != 0) {
        spng_ctx_free(ctx);
        return fs_fail(msg, rc == SPNG_EMEM ? FS_ERR_NOMEM : FS_ERR_INTERNAL,
                       "PNG encoder failed: %s", spng_strerror(rc));
    }
    /* The buffer comes from spng's default allocator (malloc): free() releases it. */
    size_t n = 0;
    uint8_t *buf = spng_get_png_buffer(ctx, &n, &rc);
    spng_ctx_free(ctx);
    if (!buf)
        return fs_fail(msg, FS_ERR_INTERNAL, "PNG encoder gave no output: %s", spng_strerror(rc));
    *out = buf;
    *len = n;
    return FS_OK;
}
