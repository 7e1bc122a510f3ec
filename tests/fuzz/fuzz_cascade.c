/* fuzz_cascade: libFuzzer target for the OpenCV cascade XML loader (fs_cascade_parse) and the
 * detector that runs what it loaded: every index, rectangle and tree in the file is checked at
 * load time, so a cascade that loads must be safe to evaluate. A loaded cascade is run over a
 * small fixed grey image with raw windows (min_neighbors 0) and a coarse pyramid, so the
 * features and trees are evaluated at many positions but one input stays fast. */
#include <stdint.h>
#include <stdlib.h>

#include "fakescope/face.h"

#define FUZZ_IMAGE_SIDE 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t gray[FUZZ_IMAGE_SIDE * FUZZ_IMAGE_SIDE];
    static int ready;
    if (!ready) { /* a dark disc on a gradient: structure for both Haar and LBP features */
        for (int y = 0; y < FUZZ_IMAGE_SIDE; y++)
            for (int x = 0; x < FUZZ_IMAGE_SIDE; x++) {
                int dx = x - 24, dy = y - 20;
                gray[y * FUZZ_IMAGE_SIDE + x] =
                    (uint8_t)(dx * dx + dy * dy < 120 ? 30 + x : 120 + 2 * y + (x & 7));
            }
        ready = 1;
    }
    fs_cascade *c = NULL;
    fs_msg msg;
    if (fs_cascade_parse((const char *)data, size, "fuzz.xml", &c, &msg) != FS_OK) {
        if (c) abort(); /* nothing is handed out on failure */
        return 0;
    }
    if (fs_cascade_window_w(c) <= 0 || fs_cascade_window_h(c) <= 0 || fs_cascade_stage_count(c) <= 0)
        abort();
    fs_face_params p = fs_face_params_default();
    p.min_neighbors = 0;
    p.scale_factor = 1.5;
    fs_face *faces = NULL;
    size_t n = 0;
    if (fs_face_detect_gray(c, gray, FUZZ_IMAGE_SIDE, FUZZ_IMAGE_SIDE, FUZZ_IMAGE_SIDE, &p, &faces,
                            &n, &msg) == FS_OK) {
        for (size_t i = 0; i < n; i++) {
            const fs_box *b = &faces[i].box;
            if (b->w <= 0 || b->h <= 0 || b->x < 0 || b->y < 0) abort();
        }
    }
    free(faces);
    fs_cascade_free(c);
    return 0;
}
