/* fuzz_jumbf: libFuzzer target for the JUMBF box-tree reader (include/fakescope/jumbf.h) and
 * then the whole C2PA validation on the same bytes: once as the store of a PNG ('caBX'), so
 * that claims, assertions, hashes and signatures found in mutated stores are all exercised.
 * Every box must lie inside the input, and inside its parent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/jumbf.h"
#include "fakescope/provenance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fs_jumbf_tree t;
    fs_msg msg;
    if (fs_jumbf_parse(data, size, &t, &msg) == FS_OK) {
        for (size_t i = 0; i < t.n; i++) {
            const fs_jumbf_box *b = &t.boxes[i];
            if (b->box < data || b->box + b->box_len > data + size) abort();
            if (b->payload + b->payload_len != b->box + b->box_len) abort();
            if (b->parent != FS_JUMBF_NONE) {
                const fs_jumbf_box *p = &t.boxes[b->parent];
                if (b->box < p->payload || b->box + b->box_len > p->payload + p->payload_len) abort();
            }
        }
        (void)fs_jumbf_resolve(&t, 0, "/c2pa/x/c2pa.assertions/c2pa.hash.data");
        fs_jumbf_tree_free(&t);
    }
    if (size > (1u << 20)) return 0;
    /* the same bytes as the manifest store of a minimal PNG */
    size_t n = 8 + 12 + size + 12;
    uint8_t *png = malloc(n);
    if (!png) return 0;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    put32(png + 8, (uint32_t)size);
    memcpy(png + 12, "caBX", 4);
    if (size) memcpy(png + 16, data, size);
    memset(png + 16 + size, 0, 4);
    put32(png + 20 + size, 0);
    memcpy(png + 24 + size, "IEND", 4);
    memset(png + 28 + size, 0, 4);
    fs_prov_report r;
    if (fs_prov_read(png, n, NULL, &r, &msg) == FS_OK) {
        if (r.active >= (int)r.n_manifests) abort();
        json_t *j = fs_prov_report_json(&r);
        json_decref(j);
        fs_prov_report_free(&r);
    }
    free(png);
    return 0;
}
