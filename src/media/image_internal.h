/* image_internal.h: what the image*.c, exif*.c and resize*.c files of media/ share and the
 * public header does not promise. Unit tests include it to reach the EXIF parser directly. */
#ifndef FS_MEDIA_IMAGE_INTERNAL_H
#define FS_MEDIA_IMAGE_INTERNAL_H

#include "fakescope/image.h"

/* Per-format decoders. Preconditions: data was sniffed as that format, len <= limits->max_bytes
 * and out is zeroed. On failure *out stays zeroed. */
fs_err fs_jpeg_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                      fs_image *out, fs_msg *msg);
fs_err fs_png_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                     fs_image *out, fs_msg *msg);
fs_err fs_webp_decode(const uint8_t *data, size_t len, const fs_image_limits *limits,
                      fs_image *out, fs_msg *msg);

/* Shared pixel-limit check, from the header's dimensions, before any pixel buffer exists. */
fs_err fs_image_check_pixels(const char *format, int64_t w, int64_t h,
                             const fs_image_limits *limits, fs_msg *msg);

/* EXIF orientation (TIFF tag 0x0112) of a JPEG: 1..8, or 1 when the file carries none or the
 * segment is malformed (a broken Exif block never makes a readable image unreadable). */
int fs_exif_jpeg_orientation(const uint8_t *jpeg, size_t len);
/* Same, from the payload of one APP1 segment (starting at "Exif\0\0"). */
int fs_exif_orientation(const uint8_t *app1, size_t len);

/* Turns stored pixels into displayed pixels for an EXIF orientation 1..8 (5..8 swap w and h).
 * Replaces img->rgb on success; on failure img is unchanged. */
fs_err fs_image_apply_orientation(fs_image *img, int orientation, fs_msg *msg);

#endif
