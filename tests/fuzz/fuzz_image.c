/* fuzz_image: libFuzzer target for the image decoders (JPEG with its EXIF orientation, PNG,
 * WebP) behind fs_image_decode, and the resize path that every decoded upload goes through.
 * The resize target size comes from the last two input bytes, so the fuzzer explores both
 * bilinear and area-averaging paths, enlarging and shrinking. Limits are kept small so one
 * input cannot spend the whole time budget on a legitimately huge picture. */
#include <stdint.h>
#include <stdlib.h>

#include "fakescope/image.h"

#define FUZZ_MAX_PIXELS ((int64_t)4 << 20) /* 4 Mpx: past every seed, far under the RSS limit */
#define FUZZ_MAX_SIDE 300                  /* resize target, each side */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fs_image_limits lim = fs_image_limits_default();
    lim.max_pixels = FUZZ_MAX_PIXELS;
    fs_image img = {0};
    fs_msg msg;
    (void)fs_image_sniff(data, size);
    if (fs_image_decode(data, size, &lim, &img, &msg) != FS_OK) {
        if (img.rgb || img.w || img.h) abort(); /* the header promises a zeroed image on failure */
        return 0;
    }
    if (img.w <= 0 || img.h <= 0 || !img.rgb) abort();
    int w = 1 + (size >= 2 ? data[size - 2] : 0) % FUZZ_MAX_SIDE;
    int h = 1 + (size >= 1 ? data[size - 1] : 0) % FUZZ_MAX_SIDE;
    fs_image small = {0};
    if (fs_image_resize(&img, w, h, &small, &msg) == FS_OK) {
        if (small.w != w || small.h != h) abort();
        /* Touch every output byte so ASan sees reads of anything the resizer left unwritten. */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) sink ^= small.rgb[i];
        (void)sink;
    }
    fs_image_free(&small);
    fs_image_free(&img);
    return 0;
}
