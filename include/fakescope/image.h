/* image (media/): decoding JPEG, PNG and WebP into RGB8, resizing, and conversion to the
 * float input of a network.
 *
 * Ownership: an fs_image owns its pixel buffer; fs_image_free releases it (and is safe on a
 * zeroed image). Decoders never return a partially filled image: on failure *out is zeroed. */
#ifndef FAKESCOPE_IMAGE_H
#define FAKESCOPE_IMAGE_H

#include "fakescope/core.h"

typedef struct fs_image {
    int w, h;     /* pixels */
    uint8_t *rgb; /* w*h*3 bytes, rows top to bottom, R G B per pixel, no padding */
} fs_image;

/* Explicit limits on what a decoder will accept. */
typedef struct fs_image_limits {
    size_t max_bytes;  /* encoded size */
    int64_t max_pixels; /* width*height after decoding */
} fs_image_limits;
#define FS_IMAGE_MAX_BYTES_DEFAULT ((size_t)32 << 20)   /* 32 MiB */
#define FS_IMAGE_MAX_PIXELS_DEFAULT ((int64_t)50000000) /* 50 Mpx */
fs_image_limits fs_image_limits_default(void);

typedef enum { FS_IMAGE_UNKNOWN = 0, FS_IMAGE_JPEG, FS_IMAGE_PNG, FS_IMAGE_WEBP } fs_image_format;
/* Format from the first bytes (magic numbers), not from a file name. */
fs_image_format fs_image_sniff(const uint8_t *data, size_t len);
const char *fs_image_format_name(fs_image_format f);

/* Decodes an encoded image (JPEG with EXIF orientation applied, PNG, WebP) into RGB8.
 * Grayscale, palette and alpha images become RGB (alpha dropped). Errors: FS_ERR_FORMAT for
 * unknown, corrupt or truncated data; FS_ERR_LIMIT past the limits (checked from the header,
 * before any pixel buffer is allocated); FS_ERR_UNSUPPORTED for an animated WebP; FS_ERR_NOMEM. */
fs_err fs_image_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                       fs_image *out, fs_msg *msg);
/* Reads and decodes a file; messages name the file. */
fs_err fs_image_load(const char *path, const fs_image_limits *limits, fs_image *out,
                     fs_msg *msg);

/* Allocates a w x h image (pixels uninitialised). */
fs_err fs_image_alloc(fs_image *img, int w, int h, fs_msg *msg);
void fs_image_free(fs_image *img);

/* Resizes src into a new dst (not src itself) of w x h: bilinear when enlarging or shrinking by less than 2x,
 * area averaging when shrinking more (so small faces from large frames do not alias). */
fs_err fs_image_resize(const fs_image *src, int w, int h, fs_image *dst, fs_msg *msg);
/* Copies the rectangle (x, y, w, h), clipped to the image, into a new image (not src itself).
 * FS_ERR_INVALID when the rectangle does not overlap the image. */
fs_err fs_image_crop(const fs_image *src, int x, int y, int w, int h, fs_image *dst,
                     fs_msg *msg);

/* Writes the image as float32 NHWC (h*w*3 values) into dst, each byte times scale
 * (1/255 for MesoNet). */
void fs_image_to_float(const fs_image *img, float scale, float *dst);

/* Encoders for plots, contact sheets and tests. Caller frees *out with free(). */
fs_err fs_image_encode_png(const fs_image *img, uint8_t **out, size_t *len, fs_msg *msg);
fs_err fs_image_encode_jpeg(const fs_image *img, int quality, uint8_t **out, size_t *len,
                            fs_msg *msg);
fs_err fs_image_save(const fs_image *img, const char *path, fs_msg *msg); /* by extension */

#endif
