/* image_webp.c: WebP decoding through libwebp. The header is read first (WebPGetFeatures) so
 * the pixel limit holds before any buffer exists; the pixels are then decoded straight into
 * our own RGB buffer, so the image is released with free() like every other fs_image. Only
 * still images: an animated WebP is a video in disguise and is refused as unsupported. */
#include "media/image_internal.h"

#include <assert.h>
#include <webp/decode.h>

static const char *vp8_status_text(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OK: return "ok";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "data ends early (truncated file)";
    }
    return "unknown error";
}

fs_err fs_webp_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                      fs_image *out, fs_msg *msg) {
    assert(data && limits && out && !out->rgb);
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config))
        return fs_fail(msg, FS_ERR_INTERNAL, "libwebp version mismatch");
    VP8StatusCode st = WebPGetFeatures(data, len, &config.input);
    if (st != VP8_STATUS_OK)
        return fs_fail(msg, FS_ERR_FORMAT, "corrupt WebP header: %s", vp8_status_text(st));
    if (config.input.has_animation)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "animated WebP is not supported");
    fs_err err =
        fs_image_check_pixels("WebP", config.input.width, config.input.height, limits, msg);
    if (err) return err;
    err = fs_image_alloc(out, config.input.width, config.input.height, msg);
    if (err) return err;

    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out->rgb;
    config.output.u.RGBA.stride = out->w * 3;
    config.output.u.RGBA.size = (size_t)out->w * (size_t)out->h * 3;
    st = WebPDecode(data, len, &config);
    WebPFreeDecBuffer(&config.output); /* releases nothing of ours: memory is external */
    if (st != VP8_STATUS_OK) {
        fs_image_free(out);
        return fs_fail(msg, st == VP8_STATUS_OUT_OF_MEMORY ? FS_ERR_NOMEM : FS_ERR_FORMAT,
                       "corrupt or truncated WebP: %s", vp8_status_text(st));
    }
    return FS_OK;
}
