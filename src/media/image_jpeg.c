/* image_jpeg.c: JPEG in and out through libjpeg-turbo's TurboJPEG API (2.1, the pre-tj3
 * functions). Decoding yields upright RGB8: grayscale is expanded by the library, CMYK/YCCK is
 * converted here, and the EXIF orientation (exif.c) is applied to the pixels.
 *
 * libjpeg treats missing data as a warning and fills the rest of the picture with grey; for a
 * detector that is a different image, so a warning is an error here unless it is one of the
 * few known to leave the pixels intact. A TurboJPEG handle is made per call: the handles are
 * not thread-safe and their cost is small next to decoding. */
#include "media/image_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define JPEG_MIN_QUALITY 1
#define JPEG_MAX_QUALITY 100
#define JPEG_FULL_CHROMA_QUALITY 90 /* from here on chroma is kept at full resolution */

/* Warnings (libjpeg's jerror.h texts) after which the decoded pixels are still the image. */
static int benign_warning(const char *text) {
    static const char *const ok[] = {
        "extraneous bytes before marker", /* junk between segments, skipped by the reader */
        "unknown JFIF revision",
        "thumbnail image size does not match",
        "Unknown Adobe color transform",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strstr(text, ok[i])) return 1;
    return 0;
}

/* libjpeg-turbo's CMYK is Adobe's inverted convention (as written by Photoshop): 255 means
 * no ink, so the colour is simply the product of the stored values. */
static void cmyk_to_rgb(const uint8_t *cmyk, size_t n, uint8_t *rgb) {
    for (size_t i = 0; i < n; i++, cmyk += 4, rgb += 3) {
        unsigned k = cmyk[3];
        rgb[0] = (uint8_t)((cmyk[0] * k + 127) / 255);
        rgb[1] = (uint8_t)((cmyk[1] * k + 127) / 255);
        rgb[2] = (uint8_t)((cmyk[2] * k + 127) / 255);
    }
}

fs_err fs_jpeg_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                      fs_image *out, fs_msg *msg) {
    assert(data && limits && out && !out->rgb);
    tjhandle tj = tjInitDecompress();
    if (!tj) return fs_fail(msg, FS_ERR_NOMEM, "cannot start the JPEG decoder");
    fs_err err = FS_OK;
    uint8_t *cmyk = NULL;
    int w = 0, h = 0, subsamp = -1, cs = -1;
    /* A benign warning while reading the header fails the call but leaves its results. */
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &cs) != 0 &&
        (tjGetErrorCode(tj) != TJERR_WARNING || !benign_warning(tjGetErrorStr2(tj)) || w <= 0 ||
         h <= 0 || cs < 0)) {
        err = fs_fail(msg, FS_ERR_FORMAT, "corrupt JPEG header: %s", tjGetErrorStr2(tj));
        goto done;
    }
    err = fs_image_check_pixels("JPEG", w, h, limits, msg);
    if (err) goto done;
    err = fs_image_alloc(out, w, h, msg);
    if (err) goto done;

    int is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    if (is_cmyk) {
        cmyk = malloc((size_t)w * (size_t)h * 4);
        if (!cmyk) {
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %d x %d CMYK JPEG", w, h);
            goto done;
        }
    }
    /* Accurate IDCT and fancy upsampling: the same pixels as PIL and OpenCV produce. */
    int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
    int rc = tjDecompress2(tj, data, (unsigned long)len, is_cmyk ? cmyk : out->rgb, w, 0, h,
                           is_cmyk ? TJPF_CMYK : TJPF_RGB, flags);
    if (rc != 0) {
        const char *why = tjGetErrorStr2(tj);
        if (tjGetErrorCode(tj) != TJERR_WARNING || !benign_warning(why)) {
            err = fs_fail(msg, FS_ERR_FORMAT, "corrupt or truncated JPEG: %s", why);
            goto done;
        }
    }
    if (is_cmyk) cmyk_to_rgb(cmyk, (size_t)w * (size_t)h, out->rgb);
    err = fs_image_apply_orientation(out, fs_exif_jpeg_orientation(data, len), msg);

done:
    free(cmyk);
    tjDestroy(tj);
    if (err) fs_image_free(out);
    return err;
}

fs_err fs_image_encode_jpeg(const fs_image *img, int quality, uint8_t **out, size_t *len,
                            fs_msg *msg) {
    assert(img && out && len);
    *out = NULL;
    *len = 0;
    if (!img->rgb || img->w <= 0 || img->h <= 0)
        return fs_fail(msg, FS_ERR_INVALID, "cannot encode an empty image as JPEG");
    if (quality < JPEG_MIN_QUALITY || quality > JPEG_MAX_QUALITY)
        return fs_fail(msg, FS_ERR_INVALID, "JPEG quality %d is outside %d..%d", quality,
                       JPEG_MIN_QUALITY, JPEG_MAX_QUALITY);
    int subsamp = quality >= JPEG_FULL_CHROMA_QUALITY ? TJSAMP_444 : TJSAMP_420;
    unsigned long cap = tjBufSize(img->w, img->h, subsamp);
    if (cap == (unsigned long)-1)
        return fs_fail(msg, FS_ERR_INVALID, "a %d x %d image is too large for JPEG", img->w,
                       img->h);
    tjhandle tj = tjInitCompress();
    if (!tj) return fs_fail(msg, FS_ERR_NOMEM, "cannot start the JPEG encoder");
    /* Our own worst-case buffer, so the caller can release it with free() as promised. */
    uint8_t *buf = malloc(cap);
    if (!buf) {
        tjDestroy(tj);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %lu-byte JPEG", cap);
    }
    unsigned long size = cap;
    int rc = tjCompress2(tj, img->rgb, img->w, 0, img->h, TJPF_RGB, &buf, &size, subsamp,
                         quality, TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT);
    if (rc != 0) {
        fs_err err = fs_fail(msg, FS_ERR_INTERNAL, "JPEG encoder failed: %s", tjGetErrorStr2(tj));
        free(buf);
        tjDestroy(tj);
        return err;
    }
    tjDestroy(tj);
    uint8_t *shrunk = realloc(buf, size);
    *out = shrunk ? shrunk : buf;
    *len = size;
    return FS_OK;
}
