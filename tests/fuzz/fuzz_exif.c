/* fuzz_exif: libFuzzer target for the EXIF orientation parser of media/ (a TIFF structure
 * inside a JPEG APP1 segment: byte order, IFD offsets and counts all come from the file).
 * The input is fed both as a whole JPEG (segment walk + Exif) and as a bare APP1 payload, and
 * the orientation found is applied to a small image to check the 1..8 contract end to end. */
#include <stdint.h>
#include <stdlib.h>

#include "media/image_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int a = fs_exif_jpeg_orientation(data, size);
    int b = fs_exif_orientation(data, size);
    if (a < 1 || a > 8 || b < 1 || b > 8) abort(); /* the contract: always 1..8 */
    fs_image img = {0};
    fs_msg msg;
    if (fs_image_alloc(&img, 3, 2, &msg) != FS_OK) return 0;
    for (int i = 0; i < 3 * 2 * 3; i++) img.rgb[i] = (uint8_t)i;
    if (fs_image_apply_orientation(&img, a, &msg) == FS_OK) {
        int swapped = a >= 5;
        if (img.w != (swapped ? 2 : 3) || img.h != (swapped ? 3 : 2)) abort();
    }
    fs_image_free(&img);
    return 0;
}
