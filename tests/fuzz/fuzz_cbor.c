/* fuzz_cbor: libFuzzer target for the bounded CBOR reader of provenance/ (include/fakescope/
 * cbor.h). Every item the reader returns must lie inside the input, the links between items
 * must stay inside the item array, and the lookups must terminate on whatever was decoded. */
#include <stdint.h>
#include <stdlib.h>

#include "fakescope/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fs_cbor_doc d;
    fs_msg msg;
    fs_cbor_limits lim = {.max_depth = 64, .max_items = 1 << 16};
    if (fs_cbor_parse(data, size, &lim, &d, &msg) != FS_OK) return 0;
    if (d.n == 0 || d.items[0].off != 0 || d.items[0].end != size) abort();
    for (size_t i = 0; i < d.n; i++) {
        const fs_cbor_item *it = &d.items[i];
        if (it->end > size || it->off >= it->end) abort();
        if ((it->type == FS_CBOR_BYTES || it->type == FS_CBOR_TEXT) &&
            (it->str < data || it->str + it->len > data + size))
            abort();
        if (it->first != FS_CBOR_NONE && it->first >= d.n) abort();
        if (it->next != FS_CBOR_NONE && it->next >= d.n) abort();
    }
    char buf[32];
    int64_t v;
    (void)fs_cbor_map_get(&d, 0, "alg");
    (void)fs_cbor_map_get_int(&d, 0, 1);
    (void)fs_cbor_array_at(&d, 0, 3);
    (void)fs_cbor_text(&d, fs_cbor_untag(&d, 0), buf, sizeof buf);
    (void)fs_cbor_int(&d, 0, &v);
    fs_cbor_doc_free(&d);
    return 0;
}
