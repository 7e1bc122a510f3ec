/* fuzz_boxmap: libFuzzer target for the box lists of the C2PA box-hash binding
 * (provenance/boxes.c): a JPEG cut at its markers, the scan's entropy data and restart markers,
 * the C2PA APP11 segments and their continuations; a PNG cut into chunks. Every listed box must
 * lie inside the input and start at or after the one before it (restart markers lie inside
 * their scan's box, so they start after it, never before). The whole validation then runs on
 * the same bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "fakescope/provenance.h"
#include "provenance/prov_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    prov_box *b = NULL;
    size_t n = 0;
    fs_msg msg;
    if (prov_box_map(data, size, &b, &n, &msg) == FS_OK) {
        if (n == 0) abort();
        for (size_t i = 0; i < n; i++) {
            if (b[i].start > size || b[i].len > size - b[i].start) abort();
            if (i && b[i].start < b[i - 1].start) abort();
        }
    } else if (b || n) {
        abort();
    }
    free(b);
    fs_prov_report r;
    if (fs_prov_read(data, size, NULL, &r, &msg) == FS_OK) fs_prov_report_free(&r);
    return 0;
}
